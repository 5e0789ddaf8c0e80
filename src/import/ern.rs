//! DDEX ERN messages (NewReleaseMessage, PurgeReleaseMessage; ERN 3.8.x and
//! 4.1 to 4.3) read into tracks and the holdings their deals give.
//!
//! Parsing is deliberately defensive (see `docs/ddex.md`, "Limits"): quick-xml
//! never resolves a DTD or an entity, and a message that declares a DOCTYPE is
//! refused outright, so neither a billion-laughs nor an external entity can do
//! anything; a message is bounded in bytes and in nesting depth. One message is
//! held as a small element tree (at most [`MAX_MESSAGE_BYTES`]) while it is
//! read (its names and text borrowing the message's bytes); a batch streams
//! message by message, parsed on a thread of its own at most 64 messages ahead
//! of the import.
//!
//! The version is the ERN namespace of the root element. The field mapping looks
//! elements up by their local names, which the versions share (`ISRC`,
//! `DisplayArtist`, `GenreText`, `DealTerms`, ...), so one reader serves them all.

use std::borrow::Cow;
use std::collections::{BTreeSet, HashMap};
use std::io::Read;
use std::sync::Arc;

use chrono::NaiveDate;
use quick_xml::events::Event;

use crate::domain::period::Period;
use crate::domain::territory::{Territories, Territory};
use crate::domain::track::TrackInput;
use crate::domain::usage::{Usage, Usages};

/// A message larger than this is refused (the largest of DDEX's samples, a
/// single with 747 deals, is 0.6 MB).
pub const MAX_MESSAGE_BYTES: u64 = 64 << 20;
/// Elements nested deeper than this are refused (ERN needs about 12).
pub const MAX_DEPTH: usize = 64;

/// ERN namespaces understood, and how the version is written for people.
const VERSIONS: [(&str, &str); 7] = [
    ("381", "3.8.1"),
    ("382", "3.8.2"),
    ("383", "3.8.3"),
    ("41", "4.1"),
    ("411", "4.1.1"),
    ("42", "4.2"),
    ("43", "4.3"),
];
const NAMESPACE_PREFIX: &str = "http://ddex.net/xml/ern/";

/// A message-level problem: the message as a whole is unusable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageError {
    /// 1-based line in the message where it was found (0 when not tied to one).
    pub line: u64,
    /// The element path (`/NewReleaseMessage/ResourceList`), or `` for the document.
    pub element: String,
    pub message: String,
}

/// A problem with one part of a message (a recording, a deal).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartProblem {
    pub line: u64,
    pub element: String,
    pub field: String,
    pub message: String,
}

/// One audio recording of the message, as a track's fields.
#[derive(Debug, Clone)]
pub struct Recording {
    pub line: u64,
    pub element: String,
    /// The fields found; validation is the import pipeline's (`TrackInput::validate`).
    pub input: Result<TrackInput, Vec<PartProblem>>,
    /// The rights the message's deals give on it (their union), if any deal covers it;
    /// recordings in the same releases share one.
    pub holding: Option<Arc<DealHolding>>,
}

/// The holding one or more ERN deals give on a recording.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DealHolding {
    pub territories: Territories,
    pub usages: Usages,
    pub period: Period,
    /// The deals' commercial model types, kept for the record (Cadenza's usages do
    /// not distinguish subscription from ad-supported).
    pub commercial_models: BTreeSet<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageKind {
    NewRelease,
    Purge,
}

/// One ERN message, read.
#[derive(Debug, Clone)]
pub struct ErnMessage {
    /// `4.3`, `3.8.2`, ...
    pub version: &'static str,
    pub kind: MessageKind,
    pub message_id: String,
    /// The day the message was created (`MessageCreatedDateTime`): a takedown's date.
    pub created: Option<NaiveDate>,
    /// The main release's identity (`ICPN:...`, `GRid:...`, `CatalogNumber:...`), which
    /// a later message for the same release (or a purge) names again.
    pub release_key: Option<String>,
    pub recordings: Vec<Recording>,
    /// Whether the message has at least one usable deal (or an explicit `TakeDown`);
    /// deals that could not be read do not count (see `deal_problems`).
    pub has_deals: bool,
    /// Deals that could not be used (unknown use types or territories...).
    pub deal_problems: Vec<PartProblem>,
}

// ---- the element tree -----------------------------------------------------------

/// An element of the message. Names and text borrow the message's bytes where they
/// can (no escapes to resolve): a batch reads millions of elements.
#[derive(Debug, Default)]
struct Element<'a> {
    name: Cow<'a, str>,
    attributes: Vec<(String, String)>,
    text: Cow<'a, str>,
    children: Vec<Element<'a>>,
    /// Byte offset of the start tag, for line numbers.
    offset: u64,
}

impl<'a> Element<'a> {
    fn attr(&self, name: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
    fn child(&self, name: &str) -> Option<&Element<'a>> {
        self.children.iter().find(|c| c.name == name)
    }
    fn children<'s>(&'s self, name: &'s str) -> impl Iterator<Item = &'s Element<'a>> + 's {
        self.children.iter().filter(move |c| c.name == name)
    }
    fn child_text(&self, name: &str) -> Option<&str> {
        self.child(name).map(|c| c.text.trim())
    }
    /// Every descendant with this name, depth first, document order.
    fn descendants<'s>(&'s self, name: &str, out: &mut Vec<&'s Element<'a>>) {
        for c in &self.children {
            if c.name == name {
                out.push(c);
            }
            c.descendants(name, out);
        }
    }
    fn all(&self, name: &str) -> Vec<&Element<'a>> {
        let mut out = Vec::new();
        self.descendants(name, &mut out);
        out
    }
    fn first(&self, name: &str) -> Option<&Element<'a>> {
        for c in &self.children {
            if c.name == name {
                return Some(c);
            }
            if let Some(found) = c.first(name) {
                return Some(found);
            }
        }
        None
    }
    /// The path of a descendant, with 1-based positions among same-named siblings.
    fn path_to(&self, target: *const Element<'a>, prefix: &str) -> Option<String> {
        let here = format!("{prefix}/{}", self.name);
        if std::ptr::eq(self, target) {
            return Some(here);
        }
        self.path_to_inner(target, &here)
    }
    fn path_to_inner(&self, target: *const Element<'a>, here: &str) -> Option<String> {
        let mut seen: HashMap<&str, usize> = HashMap::new();
        for c in &self.children {
            let n = seen.entry(c.name.as_ref()).or_insert(0);
            *n += 1;
            let count = self.children.iter().filter(|o| o.name == c.name).count();
            let step = if count > 1 {
                format!("{here}/{}[{n}]", c.name)
            } else {
                format!("{here}/{}", c.name)
            };
            if std::ptr::eq(c, target) {
                return Some(step);
            }
            if let Some(found) = c.path_to_inner(target, &step) {
                return Some(found);
            }
        }
        None
    }
}

/// The local part of a qualified name, borrowed from the message when it is UTF-8.
fn local<'a>(input: &'a [u8], name: &[u8]) -> Cow<'a, str> {
    fn local(name: &str) -> &str {
        // A colon is one byte in UTF-8, so the split lands on a character boundary.
        memchr::memrchr(b':', name.as_bytes()).map_or(name, |colon| &name[colon + 1..])
    }
    match within(input, name).map(std::str::from_utf8) {
        Some(Ok(name)) => Cow::Borrowed(local(name)),
        _ => Cow::Owned(local(&String::from_utf8_lossy(name)).to_string()),
    }
}

/// `part` as a slice of `input` (with `input`'s lifetime), if it lies within it: the
/// reader's events over a slice point into the slice.
fn within<'a>(input: &'a [u8], part: &[u8]) -> Option<&'a [u8]> {
    let start = (part.as_ptr() as usize).checked_sub(input.as_ptr() as usize)?;
    input
        .get(start..start.checked_add(part.len())?)
        .filter(|found| std::ptr::eq(found.as_ptr(), part.as_ptr()))
}

/// Appends text to an element's, borrowing when it is the first piece.
fn push_text<'a>(text: &mut Cow<'a, str>, more: Cow<'a, str>) {
    if text.is_empty() {
        *text = more;
    } else {
        text.to_mut().push_str(&more);
    }
}

/// Line (1-based) of a byte offset.
fn line_at(bytes: &[u8], offset: u64) -> u64 {
    let end = usize::try_from(offset)
        .unwrap_or(usize::MAX)
        .min(bytes.len());
    memchr::memchr_iter(b'\n', &bytes[..end]).count() as u64 + 1
}

/// The message's bytes, at most [`MAX_MESSAGE_BYTES`]; `expected` is the size the
/// container announces (a tar header's), room made for it up front.
pub fn read_bounded(input: impl Read, expected: u64) -> Result<Vec<u8>, MessageError> {
    let mut bytes = Vec::with_capacity(expected.min(MAX_MESSAGE_BYTES) as usize + 1);
    input
        .take(MAX_MESSAGE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| MessageError {
            line: 0,
            element: String::new(),
            message: format!("the message could not be read: {e}"),
        })?;
    if bytes.len() as u64 > MAX_MESSAGE_BYTES {
        return Err(MessageError {
            line: 0,
            element: String::new(),
            message: format!(
                "the message is larger than {} MB, the limit for one ERN message",
                MAX_MESSAGE_BYTES >> 20
            ),
        });
    }
    Ok(bytes)
}

/// The root element and the namespace bound to its prefix.
struct Document<'a> {
    root: Element<'a>,
    namespace: Option<String>,
    /// The root's qualified name, as written.
    root_qname: String,
}

fn parse_tree(bytes: &[u8]) -> Result<Document<'_>, MessageError> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let mut reader = quick_xml::Reader::from_reader(bytes);
    reader.config_mut().trim_text(true);
    reader.config_mut().check_end_names = true;
    let mut stack: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    let mut namespace = None;
    let mut root_qname = String::new();
    let fail = |reader: &quick_xml::Reader<&[u8]>, stack: &[Element], message: String| {
        let path: Vec<&str> = stack.iter().map(|e| e.name.as_ref()).collect();
        MessageError {
            line: line_at(bytes, reader.buffer_position()),
            element: if path.is_empty() {
                String::new()
            } else {
                format!("/{}", path.join("/"))
            },
            message,
        }
    };
    loop {
        let event = match reader.read_event() {
            Ok(event) => event,
            Err(e) => {
                return Err(fail(&reader, &stack, format!("malformed XML: {e}")));
            }
        };
        match event {
            Event::DocType(_) => return Err(fail(
                &reader,
                &stack,
                "a DOCTYPE is not allowed in an ERN message (DTDs and entities are never expanded)"
                    .into(),
            )),
            Event::Start(_) | Event::Empty(_) if root.is_some() => {
                return Err(fail(
                    &reader,
                    &stack,
                    "malformed XML: content after the root element".into(),
                ));
            }
            Event::Start(ref start) | Event::Empty(ref start) => {
                if stack.len() >= MAX_DEPTH {
                    return Err(fail(
                        &reader,
                        &stack,
                        format!("elements are nested deeper than {MAX_DEPTH} levels"),
                    ));
                }
                let mut element = Element {
                    name: local(bytes, start.name().as_ref()),
                    offset: reader.buffer_position(),
                    ..Element::default()
                };
                for attribute in start.attributes() {
                    let attribute = attribute
                        .map_err(|e| fail(&reader, &stack, format!("malformed XML: {e}")))?;
                    let key = String::from_utf8_lossy(attribute.key.as_ref()).into_owned();
                    let value = attribute
                        .unescape_value()
                        .map_err(|e| fail(&reader, &stack, format!("malformed XML: {e}")))?
                        .into_owned();
                    element.attributes.push((key, value));
                }
                if stack.is_empty() {
                    root_qname = String::from_utf8_lossy(start.name().as_ref()).into_owned();
                    let binding = match root_qname.split_once(':') {
                        Some((prefix, _)) => format!("xmlns:{prefix}"),
                        None => "xmlns".to_string(),
                    };
                    namespace = element.attr(&binding).map(str::to_string);
                }
                let empty = matches!(event, Event::Empty(_));
                stack.push(element);
                if empty {
                    close(&mut stack, &mut root);
                }
            }
            Event::End(_) => close(&mut stack, &mut root),
            Event::Text(text) => {
                let text = text
                    .unescape()
                    .map_err(|e| fail(&reader, &stack, format!("malformed XML: {e}")))?;
                if let Some(top) = stack.last_mut() {
                    push_text(&mut top.text, text);
                } else if !text.trim().is_empty() {
                    return Err(fail(
                        &reader,
                        &stack,
                        "malformed XML: text outside the root element".into(),
                    ));
                }
            }
            Event::CData(data) => {
                if let Some(top) = stack.last_mut() {
                    let data = String::from_utf8_lossy(&data).into_owned();
                    push_text(&mut top.text, Cow::Owned(data));
                }
            }
            Event::Eof => break,
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) => {}
        }
    }
    if !stack.is_empty() {
        return Err(fail(
            &reader,
            &stack,
            format!(
                "malformed XML: the document ends inside <{}>",
                stack.last().map_or("", |e| e.name.as_ref())
            ),
        ));
    }
    let root = root.ok_or_else(|| MessageError {
        line: 0,
        element: String::new(),
        message: "the document is empty: no root element".into(),
    })?;
    Ok(Document {
        root,
        namespace,
        root_qname,
    })
}

fn close<'a>(stack: &mut Vec<Element<'a>>, root: &mut Option<Element<'a>>) {
    if let Some(done) = stack.pop() {
        match stack.last_mut() {
            Some(parent) => parent.children.push(done),
            None => *root = Some(done),
        }
    }
}

/// The ERN version of a namespace, or why it is refused.
pub fn version_of(namespace: Option<&str>, root_qname: &str) -> Result<&'static str, String> {
    let Some(namespace) = namespace else {
        return Err(format!(
            "the root element <{root_qname}> has no ERN namespace (e.g. xmlns{}=\"http://ddex.net/xml/ern/43\"): the version cannot be told",
            root_qname.split_once(':').map_or(String::new(), |(p, _)| format!(":{p}"))
        ));
    };
    let supported = VERSIONS
        .iter()
        .map(|(_, v)| *v)
        .collect::<Vec<_>>()
        .join(", ");
    let Some(code) = namespace.trim().strip_prefix(NAMESPACE_PREFIX) else {
        return Err(format!(
            "the namespace {namespace} is not a DDEX ERN namespace ({NAMESPACE_PREFIX}…); supported ERN versions: {supported}"
        ));
    };
    VERSIONS
        .iter()
        .find(|(c, _)| *c == code.trim_end_matches('/'))
        .map(|(_, v)| *v)
        .ok_or_else(|| {
            format!(
                "ERN version {code} (namespace {namespace}) is not supported; supported ERN versions: {supported}"
            )
        })
}

// ---- mapping --------------------------------------------------------------------

/// DDEX use types and the Cadenza usage each gives (`docs/ddex.md` has the table).
pub const USE_TYPES: [(&str, Usage); 22] = [
    ("Stream", Usage::InteractiveStreaming),
    ("OnDemandStream", Usage::InteractiveStreaming),
    ("InteractiveStream", Usage::InteractiveStreaming),
    ("ConditionalDownload", Usage::InteractiveStreaming),
    ("TetheredDownload", Usage::InteractiveStreaming),
    ("NonInteractiveStream", Usage::NonInteractiveStreaming),
    ("Webcast", Usage::NonInteractiveStreaming),
    ("Simulcast", Usage::NonInteractiveStreaming),
    ("PermanentDownload", Usage::Download),
    ("Download", Usage::Download),
    ("UserMakeAvailableUserProvided", Usage::Video),
    ("UserMakeAvailableLabelProvided", Usage::Video),
    ("StreamVideo", Usage::Video),
    ("MusicVideo", Usage::Video),
    ("RingtoneDownload", Usage::Ringtone),
    ("Ringtone", Usage::Ringtone),
    ("RingbackTone", Usage::Ringtone),
    ("RingbackTune", Usage::Ringtone),
    ("Ringback", Usage::Ringtone),
    ("AlertTone", Usage::Ringtone),
    ("PerformInPublic", Usage::PublicPerformance),
    ("UseAsBackgroundMusic", Usage::PublicPerformance),
];

pub fn usage_of(use_type: &str) -> Option<Usage> {
    USE_TYPES
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(use_type.trim()))
        .map(|(_, u)| *u)
}

/// `PT2M28S`, `PT1H2M3.5S`, `P0DT3M`: an ISO 8601 duration, in milliseconds.
pub fn iso_duration_ms(raw: &str) -> Option<u64> {
    let rest = raw.trim().strip_prefix('P')?;
    let (days, time) = match rest.split_once('T') {
        Some((d, t)) => (d, t),
        None => (rest, ""),
    };
    let mut ms: f64 = 0.0;
    let mut any = false;
    let mut take = |part: &str, units: &[(char, f64)]| -> Option<()> {
        let mut number = String::new();
        for c in part.chars() {
            if c.is_ascii_digit() || c == '.' || c == ',' {
                number.push(if c == ',' { '.' } else { c });
            } else {
                let factor = units.iter().find(|(u, _)| *u == c)?.1;
                let value: f64 = number.parse().ok()?;
                ms += value * factor;
                number.clear();
                any = true;
            }
        }
        number.is_empty().then_some(())
    };
    // Years and months as 365 and 30 days: only absurd recordings have them, and the
    // track's own 24-hour limit then refuses them with a clear message.
    take(
        days,
        &[
            ('Y', 365.0 * 86_400_000.0),
            ('M', 30.0 * 86_400_000.0),
            ('W', 7.0 * 86_400_000.0),
            ('D', 86_400_000.0),
        ],
    )?;
    take(time, &[('H', 3_600_000.0), ('M', 60_000.0), ('S', 1000.0)])?;
    (any && ms.is_finite()).then(|| ms.round() as u64)
}

/// `2004-04-01`, `2004-04-01T00:00:00Z`, `2004-04`, `2004`: the first day meant.
fn loose_date(raw: &str) -> Option<NaiveDate> {
    let raw = raw.trim();
    let day = raw.get(..10).unwrap_or(raw);
    if let Ok(d) = NaiveDate::parse_from_str(day, "%Y-%m-%d") {
        return Some(d);
    }
    if raw.len() == 7 {
        if let Ok(d) = NaiveDate::parse_from_str(&format!("{raw}-01"), "%Y-%m-%d") {
            return Some(d);
        }
    }
    if raw.len() == 4 {
        let year: i32 = raw.parse().ok()?;
        return NaiveDate::from_ymd_opt(year, 1, 1);
    }
    None
}

/// The open end of a deal without an `EndDate`.
pub fn open_end() -> NaiveDate {
    NaiveDate::from_ymd_opt(9999, 12, 31).unwrap_or(NaiveDate::MAX)
}

/// One release of the message: what it contains and the metadata tracks take.
struct ReleaseInfo<'a> {
    element: &'a Element<'a>,
    resources: Vec<String>,
    label: Option<String>,
    genre: Option<String>,
    date: Option<NaiveDate>,
}

fn party_names(root: &Element) -> HashMap<String, String> {
    let mut names = HashMap::new();
    for party in root.all("Party") {
        if let (Some(reference), Some(name)) = (
            party.child_text("PartyReference"),
            party
                .first("PartyName")
                .and_then(|n| n.child_text("FullName")),
        ) {
            names.insert(reference.to_string(), name.to_string());
        }
    }
    names
}

fn genre_in(element: &Element) -> Option<String> {
    element
        .all("GenreText")
        .into_iter()
        .map(|g| g.text.trim())
        .find(|t| !t.is_empty())
        .map(str::to_string)
}

fn release_info<'a>(
    release: &'a Element<'a>,
    parties: &HashMap<String, String>,
) -> ReleaseInfo<'a> {
    let mut resources: Vec<String> = release
        .all("ReleaseResourceReference")
        .into_iter()
        .map(|r| r.text.trim().to_string())
        .collect();
    resources.dedup();
    let label = release
        .all("ReleaseLabelReference")
        .into_iter()
        .find_map(|r| parties.get(r.text.trim()).cloned())
        .or_else(|| {
            release
                .all("LabelName")
                .into_iter()
                .map(|l| l.text.trim())
                .find(|t| !t.is_empty())
                .map(str::to_string)
        });
    let date = [
        "OriginalReleaseDate",
        "ReleaseDate",
        "GlobalOriginalReleaseDate",
    ]
    .iter()
    .flat_map(|name| release.all(name))
    .find_map(|d| loose_date(&d.text));
    ReleaseInfo {
        element: release,
        resources,
        label,
        genre: genre_in(release),
        date,
    }
}

/// The display artists of a recording (or release): `DisplayArtist` entries in
/// sequence order (their `PartyName/FullName`, or the party they reference), else
/// the default `DisplayArtistName`.
fn display_artists(element: &Element, parties: &HashMap<String, String>) -> Vec<String> {
    let mut entries: Vec<(u32, String)> = element
        .all("DisplayArtist")
        .into_iter()
        .filter_map(|a| {
            let sequence = a
                .attr("SequenceNumber")
                .and_then(|s| s.trim().parse().ok())
                .unwrap_or(u32::MAX);
            let name = a
                .first("FullName")
                .map(|n| n.text.trim().to_string())
                .or_else(|| {
                    a.child_text("ArtistPartyReference")
                        .and_then(|r| parties.get(r).cloned())
                })?;
            Some((sequence, name))
        })
        .collect();
    entries.sort_by_key(|(sequence, _)| *sequence);
    let mut names: Vec<String> = Vec::new();
    for (_, name) in entries {
        if !name.is_empty() && !names.contains(&name) {
            names.push(name);
        }
    }
    if names.is_empty() {
        let candidates = element.all("DisplayArtistName");
        if let Some(name) = candidates
            .iter()
            .find(|n| n.attr("IsDefault") == Some("true"))
            .or(candidates.first())
        {
            let name = name.text.trim();
            if !name.is_empty() {
                names.push(name.to_string());
            }
        }
    }
    names
}

fn title_of(recording: &Element) -> Option<String> {
    if let Some(t) = recording
        .child_text("DisplayTitleText")
        .filter(|t| !t.is_empty())
    {
        return Some(t.to_string());
    }
    let titles: Vec<&Element> = recording.children("DisplayTitle").collect();
    if let Some(t) = titles
        .iter()
        .find(|t| t.attr("IsDefault") == Some("true"))
        .or(titles.first())
        .and_then(|t| t.child_text("TitleText"))
    {
        return Some(t.to_string());
    }
    if let Some(t) = recording
        .child("ReferenceTitle")
        .and_then(|t| t.child_text("TitleText"))
    {
        return Some(t.to_string());
    }
    recording
        .all("Title")
        .into_iter()
        .find(|t| t.attr("TitleType") == Some("DisplayTitle"))
        .and_then(|t| t.child_text("TitleText"))
        .map(str::to_string)
}

/// The union of the deals that cover a recording.
#[derive(Default)]
struct DealUnion {
    worldwide: bool,
    territories: BTreeSet<Territory>,
    usages: BTreeSet<Usage>,
    start: Option<NaiveDate>,
    end: Option<NaiveDate>,
    models: BTreeSet<String>,
}

impl DealUnion {
    fn add(&mut self, deal: &DealTermsRead) {
        match &deal.territories {
            Territories::Worldwide => self.worldwide = true,
            Territories::Only(set) => self.territories.extend(set.iter().copied()),
        }
        self.usages.extend(deal.usages.iter());
        self.start = Some(self.start.map_or(deal.start, |s| s.min(deal.start)));
        self.end = Some(self.end.map_or(deal.end, |e| e.max(deal.end)));
        self.models.extend(deal.models.iter().cloned());
    }
    fn holding(self) -> Option<DealHolding> {
        let territories = if self.worldwide {
            Territories::Worldwide
        } else {
            Territories::only(self.territories)?
        };
        Some(DealHolding {
            territories,
            usages: Usages::new(self.usages)?,
            period: Period::new(self.start?, self.end?).ok()?,
            commercial_models: self.models,
        })
    }
}

struct DealTermsRead {
    territories: Territories,
    usages: Usages,
    start: NaiveDate,
    end: NaiveDate,
    models: BTreeSet<String>,
}

/// One `DealTerms`: its holding, or why it gives none.
fn read_deal_terms(
    terms: &Element,
    fallback_start: Option<NaiveDate>,
) -> Result<Option<DealTermsRead>, (String, String)> {
    if terms
        .all("TakeDown")
        .iter()
        .any(|t| t.text.trim().eq_ignore_ascii_case("true"))
    {
        return Ok(None);
    }
    let included: Vec<&str> = terms
        .all("TerritoryCode")
        .into_iter()
        .map(|t| t.text.trim())
        .collect();
    let excluded: Vec<&str> = terms
        .all("ExcludedTerritoryCode")
        .into_iter()
        .map(|t| t.text.trim())
        .collect();
    let parse = |code: &str| {
        Territory::parse(code).map_err(|_| {
            (
                "territories".to_string(),
                format!("{code} is not an ISO 3166-1 alpha-2 territory code or Worldwide"),
            )
        })
    };
    let worldwide =
        included.is_empty() || included.iter().any(|c| c.eq_ignore_ascii_case("Worldwide"));
    let territories = if worldwide && excluded.is_empty() {
        Territories::Worldwide
    } else {
        let mut set: BTreeSet<Territory> = if worldwide {
            Territory::all().collect()
        } else {
            included
                .iter()
                .map(|c| parse(c))
                .collect::<Result<_, _>>()?
        };
        for code in &excluded {
            set.remove(&parse(code)?);
        }
        Territories::only(set).ok_or((
            "territories".to_string(),
            "the deal excludes every territory it includes".to_string(),
        ))?
    };
    let use_types: Vec<&str> = terms
        .all("UseType")
        .into_iter()
        .map(|u| u.text.trim())
        .collect();
    let usages: BTreeSet<Usage> = use_types.iter().filter_map(|u| usage_of(u)).collect();
    let usages = Usages::new(usages).ok_or((
        "usages".to_string(),
        format!(
            "none of the deal's use types ({}) maps to a Cadenza usage",
            if use_types.is_empty() {
                "none given".to_string()
            } else {
                use_types.join(", ")
            }
        ),
    ))?;
    let validity = terms.first("ValidityPeriod");
    let date = |names: &[&str]| {
        validity.and_then(|v| {
            names
                .iter()
                .find_map(|n| v.first(n).and_then(|d| loose_date(&d.text)))
        })
    };
    let start = date(&["StartDate", "StartDateTime"])
        .or(fallback_start)
        .ok_or((
            "start_date".to_string(),
            "the deal has no ValidityPeriod/StartDate".to_string(),
        ))?;
    let end = date(&["EndDate", "EndDateTime"]).unwrap_or_else(open_end);
    if end < start {
        return Err((
            "end_date".to_string(),
            format!("the deal ends ({end}) before it starts ({start})"),
        ));
    }
    let models = terms
        .all("CommercialModelType")
        .into_iter()
        .map(|m| m.text.trim().to_string())
        .collect();
    Ok(Some(DealTermsRead {
        territories,
        usages,
        start,
        end,
        models,
    }))
}

/// The deals' union on the recordings of one set of releases: its earliest start (a
/// fallback release date) and the holding it gives.
type DealsUnion = (Option<NaiveDate>, Option<Arc<DealHolding>>);

/// Reads one message.
pub fn read_message(bytes: &[u8]) -> Result<ErnMessage, MessageError> {
    let document = parse_tree(bytes)?;
    let root = &document.root;
    let version =
        version_of(document.namespace.as_deref(), &document.root_qname).map_err(|message| {
            MessageError {
                line: line_at(bytes, root.offset),
                element: format!("/{}", root.name),
                message,
            }
        })?;
    // Newline offsets once, so a line number is a binary search, not a scan.
    let newlines: Vec<u64> = memchr::memchr_iter(b'\n', bytes)
        .map(|i| i as u64)
        .collect();
    let line_of = |offset: u64| newlines.partition_point(|&n| n < offset) as u64 + 1;
    let at = |element: &Element| -> (u64, String) {
        (
            line_of(element.offset),
            root.path_to(element, "").unwrap_or_default(),
        )
    };
    let header = root.child("MessageHeader");
    let message_id = header
        .and_then(|h| h.child_text("MessageId"))
        .unwrap_or("")
        .to_string();
    let created = header
        .and_then(|h| h.child_text("MessageCreatedDateTime"))
        .and_then(loose_date);
    let kind = match root.name.as_ref() {
        "NewReleaseMessage" => MessageKind::NewRelease,
        "PurgeReleaseMessage" => MessageKind::Purge,
        other => {
            return Err(MessageError {
                line: line_at(bytes, root.offset),
                element: format!("/{other}"),
                message: format!(
                    "<{other}> is not an ERN message Cadenza reads (NewReleaseMessage or PurgeReleaseMessage)"
                ),
            })
        }
    };
    let release_key = |release: &Element| -> Option<String> {
        let id = release.child("ReleaseId")?;
        ["ICPN", "GRid", "EAN", "UPC", "CatalogNumber"]
            .iter()
            .find_map(|kind| {
                id.child_text(kind)
                    .filter(|v| !v.is_empty())
                    .map(|v| format!("{kind}:{v}"))
            })
    };
    if kind == MessageKind::Purge {
        let purged = root.first("PurgedRelease").ok_or_else(|| MessageError {
            line: line_at(bytes, root.offset),
            element: format!("/{}", root.name),
            message: "the purge names no PurgedRelease".into(),
        })?;
        let key = release_key(purged).ok_or_else(|| {
            let (line, element) = at(purged);
            MessageError {
                line,
                element,
                message: "the purged release has no ReleaseId (ICPN, GRid or CatalogNumber)".into(),
            }
        })?;
        return Ok(ErnMessage {
            version,
            kind,
            message_id,
            created,
            release_key: Some(key),
            recordings: Vec::new(),
            has_deals: false,
            deal_problems: Vec::new(),
        });
    }

    let parties = party_names(root);
    let release_list = root.child("ReleaseList");
    let releases: Vec<ReleaseInfo> = release_list
        .map(|list| {
            list.children
                .iter()
                .filter(|r| r.name == "Release" || r.name == "TrackRelease")
                .map(|r| release_info(r, &parties))
                .collect()
        })
        .unwrap_or_default();
    // The main release: flagged (3.8), else the first `Release` (4.x puts it first).
    let main = releases
        .iter()
        .find(|r| r.element.attr("IsMainRelease") == Some("true"))
        .or_else(|| releases.iter().find(|r| r.element.name == "Release"));
    let main_key = main.and_then(|r| release_key(r.element));

    // Deals: for each release reference, the deals that name it.
    let mut deal_problems = Vec::new();
    let mut deals_by_release: HashMap<String, Vec<DealTermsRead>> = HashMap::new();
    let mut has_deals = false;
    let by_reference: HashMap<&str, &ReleaseInfo> = releases
        .iter()
        .filter_map(|r| r.element.child_text("ReleaseReference").map(|k| (k, r)))
        .collect();
    if let Some(deal_list) = root.child("DealList") {
        for release_deal in deal_list.children("ReleaseDeal") {
            let references: Vec<String> = release_deal
                .children("DealReleaseReference")
                .map(|r| r.text.trim().to_string())
                .collect();
            let fallback_start = references
                .iter()
                .find_map(|r| by_reference.get(r.as_str()).and_then(|r| r.date));
            for deal in release_deal.children("Deal") {
                let Some(terms) = deal.child("DealTerms") else {
                    continue;
                };
                match read_deal_terms(terms, fallback_start) {
                    Ok(Some(read)) => {
                        has_deals = true;
                        for reference in &references {
                            deals_by_release.entry(reference.clone()).or_default().push(
                                DealTermsRead {
                                    territories: read.territories.clone(),
                                    usages: read.usages.clone(),
                                    start: read.start,
                                    end: read.end,
                                    models: read.models.clone(),
                                },
                            );
                        }
                    }
                    // A deal that is a takedown still says "no rights here".
                    Ok(None) => has_deals = true,
                    Err((field, message)) => {
                        let (line, element) = at(terms);
                        deal_problems.push(PartProblem {
                            line,
                            element,
                            field,
                            message,
                        });
                    }
                }
            }
        }
    }

    let mut recordings = Vec::new();
    let resource_list = root.child("ResourceList");
    let sound_recordings: Vec<&Element> = resource_list
        .map(|l| l.children("SoundRecording").collect())
        .unwrap_or_default();
    let many = sound_recordings.len() > 1;
    // The deals' union for each set of containing releases, computed once: an album's
    // recordings share one holding.
    let mut unions: HashMap<Vec<usize>, DealsUnion> = HashMap::new();
    for (position, recording) in sound_recordings.iter().copied().enumerate() {
        // The path directly (searching the tree for each recording would be quadratic).
        let line = line_of(recording.offset);
        let element = if many {
            format!(
                "/{}/ResourceList/SoundRecording[{}]",
                root.name,
                position + 1
            )
        } else {
            format!("/{}/ResourceList/SoundRecording", root.name)
        };
        let reference = recording
            .child_text("ResourceReference")
            .unwrap_or("")
            .to_string();
        let containing_at: Vec<usize> = releases
            .iter()
            .enumerate()
            .filter(|(_, r)| r.resources.contains(&reference))
            .map(|(i, _)| i)
            .collect();
        let containing: Vec<&ReleaseInfo> = containing_at.iter().map(|&i| &releases[i]).collect();
        // Metadata from the main release first, then any release holding the track.
        let from_releases = |pick: &dyn Fn(&ReleaseInfo) -> Option<String>| {
            main.into_iter()
                .chain(containing.iter().copied())
                .find_map(pick)
        };
        let (deal_start, holding) = unions
            .entry(containing_at)
            .or_insert_with(|| {
                let mut union = DealUnion::default();
                for release in &containing {
                    if let Some(reference) = release.element.child_text("ReleaseReference") {
                        for deal in deals_by_release.get(reference).into_iter().flatten() {
                            union.add(deal);
                        }
                    }
                }
                (union.start, union.holding().map(Arc::new))
            })
            .clone();

        let mut problems = Vec::new();
        let mut problem = |target: Option<&Element>, field: &str, message: String| {
            let (line, element) = at(target.unwrap_or(recording));
            problems.push(PartProblem {
                line,
                element,
                field: field.to_string(),
                message,
            });
        };
        let isrc_element = recording.first("ISRC");
        let isrc = match isrc_element {
            None => {
                problem(None, "isrc", "the SoundRecording has no ISRC".into());
                String::new()
            }
            Some(e) if e.text.trim().is_empty() => {
                problem(Some(e), "isrc", "the ISRC is empty".into());
                String::new()
            }
            Some(e) => e.text.trim().to_string(),
        };
        let title = title_of(recording).unwrap_or_default();
        let mut artists = display_artists(recording, &parties);
        if artists.is_empty() {
            if let Some(main) = main {
                artists = display_artists(main.element, &parties);
            }
        }
        let label = recording
            .all("LabelName")
            .into_iter()
            .map(|l| l.text.trim().to_string())
            .find(|t| !t.is_empty())
            .or_else(|| from_releases(&|r| r.label.clone()))
            .unwrap_or_default();
        let genre = genre_in(recording)
            .or_else(|| from_releases(&|r| r.genre.clone()))
            .unwrap_or_default();
        let pline_year = recording
            .first("PLine")
            .and_then(|p| p.child_text("Year"))
            .and_then(loose_date);
        let release_date = main
            .into_iter()
            .chain(containing.iter().copied())
            .find_map(|r| r.date)
            .or(deal_start)
            .or(pline_year);
        let duration = match recording.child("Duration") {
            None => {
                problem(
                    None,
                    "duration_ms",
                    "the SoundRecording has no Duration".into(),
                );
                String::new()
            }
            Some(d) => match iso_duration_ms(&d.text) {
                Some(ms) => ms.to_string(),
                None => {
                    problem(
                        Some(d),
                        "duration_ms",
                        format!("{} is not an ISO 8601 duration", d.text.trim()),
                    );
                    String::new()
                }
            },
        };
        let input = if problems.is_empty() {
            Ok(TrackInput {
                isrc,
                title,
                artists,
                label,
                genre,
                release_date: release_date.map(|d| d.to_string()).unwrap_or_default(),
                duration_ms: duration,
                iswc: None,
            })
        } else {
            Err(problems)
        };
        recordings.push(Recording {
            line,
            element,
            input,
            holding,
        });
    }
    if recordings.is_empty() {
        let target = resource_list.unwrap_or(root);
        let (line, element) = at(target);
        return Err(MessageError {
            line,
            element,
            message: "the message has no audio recording (SoundRecording): nothing to import"
                .into(),
        });
    }
    Ok(ErnMessage {
        version,
        kind,
        message_id,
        created,
        release_key: main_key,
        recordings,
        has_deals,
        deal_problems,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_durations() {
        assert_eq!(iso_duration_ms("PT2M28S"), Some(148_000));
        assert_eq!(iso_duration_ms("PT1H2M3.5S"), Some(3_723_500));
        assert_eq!(iso_duration_ms("P0DT3M"), Some(180_000));
        assert_eq!(iso_duration_ms("PT"), None);
        assert_eq!(iso_duration_ms("2:28"), None);
        assert_eq!(iso_duration_ms("PT2X"), None);
    }

    #[test]
    fn versions_from_namespaces() {
        assert_eq!(
            version_of(Some("http://ddex.net/xml/ern/43"), "ern:N"),
            Ok("4.3")
        );
        assert_eq!(
            version_of(Some("http://ddex.net/xml/ern/382"), "ern:N"),
            Ok("3.8.2")
        );
        assert!(version_of(Some("http://ddex.net/xml/ern/113"), "ern:N")
            .unwrap_err()
            .contains("ERN version 113"));
        assert!(version_of(None, "ern:N").unwrap_err().contains("xmlns:ern"));
    }

    #[test]
    fn dtds_and_entities_are_refused() {
        let laughs = br#"<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;">]><ern:NewReleaseMessage xmlns:ern="http://ddex.net/xml/ern/43">&lol2;</ern:NewReleaseMessage>"#;
        assert!(read_message(laughs)
            .unwrap_err()
            .message
            .contains("DOCTYPE"));
        // Without a DOCTYPE, an undeclared entity is simply an error, never looked up.
        let undeclared = br#"<ern:NewReleaseMessage xmlns:ern="http://ddex.net/xml/ern/43">&xxe;</ern:NewReleaseMessage>"#;
        assert!(read_message(undeclared)
            .unwrap_err()
            .message
            .contains("malformed XML"));
    }

    /// What each sample of `../shared/ddex` reads as: (file, version, recordings,
    /// recordings with every field, recordings valid as tracks, recordings with a
    /// holding, first ISRC, deal problems).
    type Expected = (
        &'static str,
        &'static str,
        usize,
        usize,
        usize,
        usize,
        &'static str,
        usize,
    );
    const GOOD: [Expected; 19] = [
        (
            "dedex/001_audioalbum_complete.xml",
            "3.8.2",
            6,
            6,
            6,
            0,
            "CASE00000001",
            0,
        ),
        (
            "dedex/012_missing_isrc.xml",
            "3.8.2",
            6,
            5,
            5,
            0,
            "CASE00000001",
            0,
        ),
        (
            "dedex/013_isrc_empty_string.xml",
            "3.8.2",
            6,
            5,
            5,
            0,
            "CASE00000001",
            0,
        ),
        (
            "dedex/014_missing_deal.xml",
            "3.8.2",
            9,
            9,
            9,
            9,
            "BE0000000001",
            0,
        ),
        (
            "dedex/015_ern411.xml",
            "4.1.1",
            21,
            21,
            21,
            21,
            "JPTO09404900",
            0,
        ),
        (
            "dedex/016_utf8_artists.xml",
            "3.8.2",
            12,
            12,
            12,
            12,
            "BAA052029415",
            0,
        ),
        ("dedex/017_purged_release.xml", "3.8.2", 0, 0, 0, 0, "", 0),
        ("ern381/instance1.xml", "3.8.1", 1, 1, 0, 0, "", 1),
        ("ern383/instance1.xml", "3.8.1", 1, 1, 0, 0, "", 1),
        ("ern41/instance1.xml", "4.1", 1, 1, 0, 0, "", 1),
        (
            "ern411/1 Audio.xml",
            "4.1.1",
            21,
            21,
            21,
            21,
            "JPTO09404900",
            0,
        ),
        (
            "ern411/4 SimpleAudioSingle.xml",
            "4.1.1",
            1,
            1,
            1,
            1,
            "GBAYC1700598",
            0,
        ),
        (
            "ern42/1 Audio.xml",
            "4.2",
            21,
            21,
            21,
            21,
            "JPTO09404900",
            0,
        ),
        (
            "ern42/4 SimpleAudioSingle.xml",
            "4.2",
            1,
            1,
            1,
            1,
            "GBAYC1700598",
            0,
        ),
        (
            "ern43/1 Audio.xml",
            "4.3",
            21,
            21,
            21,
            21,
            "JPTO09404900",
            0,
        ),
        (
            "ern43/3 MixedMedia.xml",
            "4.3",
            14,
            14,
            14,
            14,
            "DEC610900439",
            0,
        ),
        (
            "ern43/4 SimpleAudioSingle.xml",
            "4.3",
            1,
            1,
            1,
            1,
            "GBAYC1700598",
            0,
        ),
        ("ern43/6 Ringtone.xml", "4.3", 1, 1, 1, 1, "USWB11700001", 0),
        ("ern43/8 DjMix.xml", "4.3", 9, 1, 1, 1, "USWE34255410", 0),
    ];

    fn sample(name: &str) -> Vec<u8> {
        std::fs::read(format!("../shared/ddex/{name}"))
            .expect("the DDEX samples beside the checkout")
    }

    #[test]
    fn every_good_sample_reads_as_expected() {
        let today = NaiveDate::from_ymd_opt(2026, 12, 1).unwrap();
        for (file, version, count, complete, valid, held, first, deal_problems) in GOOD {
            let message = read_message(&sample(file)).unwrap_or_else(|e| panic!("{file}: {e:?}"));
            assert_eq!(message.version, version, "{file}");
            assert_eq!(message.recordings.len(), count, "{file}");
            let inputs: Vec<&TrackInput> = message
                .recordings
                .iter()
                .filter_map(|r| r.input.as_ref().ok())
                .collect();
            assert_eq!(inputs.len(), complete, "{file}");
            assert_eq!(
                inputs
                    .iter()
                    .filter(|i| (**i).clone().validate(today).is_ok())
                    .count(),
                valid,
                "{file}"
            );
            assert_eq!(
                message
                    .recordings
                    .iter()
                    .filter(|r| r.holding.is_some())
                    .count(),
                held,
                "{file}"
            );
            if !first.is_empty() {
                assert_eq!(inputs[0].isrc, first, "{file}");
            }
            assert_eq!(message.deal_problems.len(), deal_problems, "{file}");
        }
    }

    #[test]
    fn the_43_audio_album_maps_every_field_and_its_japanese_deals() {
        let message = read_message(&sample("ern43/1 Audio.xml")).unwrap();
        assert_eq!(message.release_key.as_deref(), Some("ICPN:00094631432057"));
        assert!(message.recordings.iter().all(|r| r
            .input
            .as_ref()
            .unwrap()
            .isrc
            .starts_with("JPTO")));
        let first = &message.recordings[0];
        let input = first.input.as_ref().unwrap();
        assert_eq!(input.title, "Yume no Lullaby");
        assert_eq!(input.artists, vec!["Saeko Shu"]);
        assert_eq!(input.label, "EMI MUSIC JAPAN INC.");
        assert_eq!(input.genre, "J-Pop");
        // No release date in the message: the deals' first day stands in.
        assert_eq!(input.release_date, "2004-04-01");
        assert_eq!(input.duration_ms, "148000");
        let holding = first.holding.as_ref().unwrap();
        assert_eq!(holding.territories.to_list(), vec!["JP"]);
        assert_eq!(
            holding.usages.iter().collect::<Vec<_>>(),
            vec![Usage::InteractiveStreaming, Usage::Download]
        );
        assert_eq!(
            holding.period.start,
            NaiveDate::from_ymd_opt(2004, 4, 1).unwrap()
        );
        assert_eq!(holding.period.end, open_end());
        assert!(holding.commercial_models.contains("SubscriptionModel"));
    }

    #[test]
    fn utf8_artists_survive() {
        let message = read_message(&sample("dedex/016_utf8_artists.xml")).unwrap();
        let input = message.recordings[0].input.as_ref().unwrap();
        assert_eq!(input.artists, vec!["Mirko Kordić"]);
    }

    #[test]
    fn broken_samples_fail_with_their_exact_error() {
        let cases = [
            ("dedex/002_erroneous_xml.xml", 157, "/NewReleaseMessage/ResourceList/SoundRecording",
             "malformed XML: syntax error: tag not closed: `>` not found before end of input"),
            ("dedex/003_version_not_supported.xml", 11, "/NewReleaseMessage",
             "ERN version 113 (namespace http://ddex.net/xml/ern/113) is not supported; supported ERN versions: 3.8.1, 3.8.2, 3.8.3, 4.1, 4.1.1, 4.2, 4.3"),
            ("dedex/004_xmlns_ern_missing.xml", 10, "/NewReleaseMessage",
             "the root element <ern:NewReleaseMessage> has no ERN namespace (e.g. xmlns:ern=\"http://ddex.net/xml/ern/43\"): the version cannot be told"),
            ("dedex/006_zero_sound_recordings.xml", 29, "/NewReleaseMessage/ResourceList",
             "the message has no audio recording (SoundRecording): nothing to import"),
        ];
        for (file, line, element, text) in cases {
            let error = read_message(&sample(file)).unwrap_err();
            assert_eq!(
                error,
                MessageError {
                    line,
                    element: element.into(),
                    message: text.into()
                },
                "{file}"
            );
        }
        let missing = read_message(&sample("dedex/012_missing_isrc.xml")).unwrap();
        let problems = missing.recordings[3].input.as_ref().unwrap_err();
        assert_eq!(
            problems[0].element,
            "/NewReleaseMessage/ResourceList/SoundRecording[4]"
        );
        assert_eq!(
            (problems[0].field.as_str(), problems[0].message.as_str()),
            ("isrc", "the SoundRecording has no ISRC")
        );
        let empty = read_message(&sample("dedex/013_isrc_empty_string.xml")).unwrap();
        let problems = empty.recordings[1].input.as_ref().unwrap_err();
        assert_eq!(
            problems[0].element,
            "/NewReleaseMessage/ResourceList/SoundRecording[2]/SoundRecordingId/ISRC"
        );
        assert_eq!(problems[0].message, "the ISRC is empty");
        let random = read_message(&sample("ern41/instance1.xml")).unwrap();
        assert_eq!(
            random.deal_problems[0].message,
            "2129 is not an ISO 3166-1 alpha-2 territory code or Worldwide"
        );
        let purge = read_message(&sample("dedex/017_purged_release.xml")).unwrap();
        assert_eq!(purge.kind, MessageKind::Purge);
        assert_eq!(purge.release_key.as_deref(), Some("ICPN:7665431654967"));
        assert_eq!(purge.created, NaiveDate::from_ymd_opt(2023, 1, 12));
    }

    #[test]
    fn depth_is_bounded() {
        let mut deep =
            String::from(r#"<ern:NewReleaseMessage xmlns:ern="http://ddex.net/xml/ern/43">"#);
        deep.push_str(&"<a>".repeat(MAX_DEPTH + 1));
        let error = read_message(deep.as_bytes()).unwrap_err();
        assert!(error.message.contains("nested deeper"), "{error:?}");
    }
}
