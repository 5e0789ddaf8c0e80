//! Holdings delivered as DDEX ERN deals (`docs/ddex.md`, "Deals become
//! holdings"). The holding each recording's deals give is kept per distinct
//! holding: one `delivery` version row (`holding_versions`) per holding, keyed by
//! its content and carrying the set of recordings it covers, so a delivery of
//! 150,000 recordings writes a handful of rows, not 150,000. Each recording is in
//! at most one current delivered holding; a delivery moves recordings between
//! them, and every changed one gets a new version (history like any override),
//! with the importing user as its author and the messages in the audit. A later
//! message for the same release replaces its recordings' holding; a takedown (a
//! deal-less update of a release delivered with deals, or a PurgeReleaseMessage)
//! ends it from its date. A recording override typed by hand wins over the
//! delivered holding until a later delivery for that recording replaces it.
//! Everything runs in the import's transaction and ends with
//! `chain::holding_changed`, so a takedown reaches every grant built on the
//! recordings, at any depth, like any upstream end.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::rc::Rc;
use std::sync::Arc;

use chrono::{NaiveDate, NaiveDateTime, TimeDelta};
use serde::Serialize;

use super::{chain, DealError};
use crate::db::audit::AuditEvent;
use crate::db::catalogs::{Catalog, HoldingColumns};
use crate::db::ern::{self as ern_db, ErnReleaseRow};
use crate::db::holdings::{self, HoldingVersionRow};
use crate::db::{new_id, DbConnection, DbError};
use crate::domain::isrc::Isrc;
use crate::domain::recording::RecordingSet;
use crate::import::ern::DealHolding;

/// What one message asks of the holdings, in delivery order.
#[derive(Debug, Clone)]
pub enum Delivery {
    Release {
        document: String,
        message_id: String,
        release_key: Option<String>,
        /// The message's date: a takedown ends holdings the day before.
        created: NaiveDate,
        has_deals: bool,
        /// Its valid recordings (imported now or already in the catalog) and the
        /// holding its deals give each (shared by the recordings it is the same for).
        tracks: Vec<(Isrc, Option<Arc<DealHolding>>)>,
    },
    Purge {
        document: String,
        message_id: String,
        release_key: String,
        created: NaiveDate,
        line: u64,
        element: String,
    },
}

/// A delivery that could not be applied (e.g. a purge of an unknown release).
#[derive(Debug, Clone)]
pub struct DeliveryProblem {
    pub document: String,
    pub line: u64,
    pub element: String,
    pub field: String,
    pub message: String,
}

/// What the deals of an ERN import did to the catalog's holdings.
#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
pub struct DeliveredHoldings {
    /// Recordings whose holding was set or replaced from a deal.
    pub holdings_set: u64,
    /// Recordings whose holding a takedown ended.
    pub holdings_ended: u64,
    /// Releases taken down (deal-less updates and purges).
    pub releases_taken_down: u64,
    /// Grants (at any depth) marked as having lost backing.
    pub grants_marked: u64,
}

/// A recording's holding as the deliveries leave it (`None`: no current override, or a
/// removed one). Recordings given the same holding share one.
type State = Option<Rc<HoldingColumns>>;

/// A release as stored, with its recordings as ISRC keys.
#[derive(Clone)]
struct Known {
    row: ErnReleaseRow,
    recordings: Vec<i64>,
}

impl Known {
    fn stored(row: ErnReleaseRow) -> Result<Self, DbError> {
        let recordings = row
            .isrc_list()?
            .iter()
            .map(|isrc| {
                Isrc::parse(isrc).map(|i| i.key()).map_err(|e| {
                    DbError::Corrupt(format!(
                        "ern_releases.isrcs of {}: {isrc}: {e:?}",
                        row.release_key
                    ))
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(Self { row, recordings })
    }
}

fn columns_of(holding: &DealHolding) -> Result<HoldingColumns, DbError> {
    let json = |v: serde_json::Result<String>| {
        v.map_err(|e| DbError::Corrupt(format!("cannot serialize: {e}")))
    };
    Ok(HoldingColumns {
        territories: json(serde_json::to_string(&holding.territories))?,
        usages: json(serde_json::to_string(&holding.usages))?,
        start_date: holding.period.start,
        end_date: holding.period.end,
        // The DealList is what the label lets the platform pass on.
        sublicensable: true,
    })
}

/// Ended holdings already made, by the holding they end and their last day: the
/// recordings that held one holding share its ended one (a takedown of a 150,000-recording
/// holding makes one copy, not 150,000). Each entry keeps its source alive, so a pointer
/// is never reused for another holding while it is a key.
type EndedHoldings =
    HashMap<(*const HoldingColumns, NaiveDate), (Rc<HoldingColumns>, Rc<HoldingColumns>)>;

/// Ends a recording's holding the day before `from`, if it runs past it.
fn end(
    state: &mut HashMap<i64, State>,
    ended: &mut BTreeSet<i64>,
    made: &mut EndedHoldings,
    key: i64,
    from: NaiveDate,
) {
    let last_day = from - TimeDelta::days(1);
    if let Some(Some(columns)) = state.get_mut(&key) {
        if columns.end_date > last_day {
            let (_, shortened) = made
                .entry((Rc::as_ptr(columns), last_day))
                .or_insert_with(|| {
                    let mut shortened = (**columns).clone();
                    shortened.end_date = last_day;
                    shortened.start_date = shortened.start_date.min(last_day);
                    (columns.clone(), Rc::new(shortened))
                });
            *columns = shortened.clone();
            ended.insert(key);
        }
    }
}

/// A delivered holding's key: a digest of its content, so that recordings given the
/// same holding (by any message) share one row and the same terms keep one history.
fn content_key(columns: &HoldingColumns) -> String {
    use sha2::{Digest, Sha256};
    let mut digest = Sha256::new();
    digest.update(columns.territories.as_bytes());
    digest.update([0]);
    digest.update(columns.usages.as_bytes());
    digest.update(
        format!(
            "\0{}\0{}\0{}",
            columns.start_date, columns.end_date, columns.sublicensable
        )
        .as_bytes(),
    );
    hex::encode(&digest.finalize()[..16])
}

/// One stored delivered holding: its current version and its recordings.
struct DeliveredSet {
    row: HoldingVersionRow,
    recordings: RecordingSet,
    columns: Rc<HoldingColumns>,
}

/// A delivered holding as the import leaves it, keyed by its content.
struct NextVersion {
    /// Its current stored version, if it has one.
    stored: Option<HoldingVersionRow>,
    columns: Rc<HoldingColumns>,
    recordings: RecordingSet,
    /// Whether any recording joined or left it.
    changed: bool,
}

/// The catalog's delivered holdings, and what backs each recording concerned by the
/// import, as stored before it.
struct Stored {
    sets: Vec<DeliveredSet>,
    /// The current recording override (removed or not) of recordings concerned.
    overrides: HashMap<i64, HoldingVersionRow>,
    /// The holding backing each recording concerned, as far as deliveries are
    /// concerned: its own override if it has a live one, else its delivered holding.
    held: HashMap<i64, Rc<HoldingColumns>>,
}

impl Stored {
    fn load(
        conn: &mut DbConnection,
        catalog_id: &str,
        deliveries: &[Delivery],
        releases: &HashMap<String, Option<Known>>,
    ) -> Result<Self, DbError> {
        // The recordings the deliveries name, now or in the releases' last messages:
        // only theirs are looked at (not every recording of the catalog).
        let mut concerned = RecordingSet::new();
        for delivery in deliveries {
            if let Delivery::Release { tracks, .. } = delivery {
                for (isrc, _) in tracks {
                    concerned.insert(isrc.key());
                }
            }
        }
        for known in releases.values().flatten() {
            for &key in &known.recordings {
                concerned.insert(key);
            }
        }
        let mut sets = Vec::new();
        let mut held = HashMap::new();
        for row in holdings::current_delivered(conn, catalog_id)? {
            let recordings = row.delivered_recordings()?.ok_or_else(|| {
                DbError::Corrupt(format!("delivered holding {} has no recordings", row.id))
            })?;
            let columns = Rc::new(row.columns());
            if !row.removed {
                for key in recordings.intersection(&concerned).keys() {
                    held.insert(key, columns.clone());
                }
            }
            sets.push(DeliveredSet {
                row,
                recordings,
                columns,
            });
        }
        // Recording overrides are rare (typed by hand, or left by deliveries before
        // holdings were kept as sets): a catalog without any needs no look-up.
        let mut overrides = HashMap::new();
        if ern_db::has_current_recording_overrides(conn, catalog_id)? {
            let isrcs: Vec<String> = concerned.isrcs().map(Isrc::into_string).collect();
            for (isrc, row) in ern_db::current_recording_overrides(conn, catalog_id, &isrcs)? {
                let key = Isrc::parse(&isrc)
                    .map_err(|e| DbError::Corrupt(format!("holding override {}: {e:?}", row.id)))?
                    .key();
                if !row.removed {
                    held.insert(key, Rc::new(row.columns()));
                }
                overrides.insert(key, row);
            }
        }
        Ok(Self {
            sets,
            overrides,
            held,
        })
    }

    /// Moves each recording to the delivered holding of its new terms: a new version
    /// of every delivered holding whose recordings changed (removed when it has none
    /// left), and a removed version of the recording overrides they replace.
    fn write(
        self,
        conn: &mut DbConnection,
        catalog: &Catalog,
        actor_user_id: Option<&str>,
        moved: &[(i64, Rc<HoldingColumns>)],
        at: NaiveDateTime,
    ) -> Result<(), DbError> {
        let leaving = RecordingSet::from_keys(moved.iter().map(|(key, _)| *key));
        let mut next: BTreeMap<String, NextVersion> = BTreeMap::new();
        for set in self.sets {
            let mut recordings = set.recordings;
            let changed = !set.row.removed && !recordings.is_disjoint(&leaving);
            if set.row.removed {
                recordings = RecordingSet::new();
            } else if changed {
                recordings.subtract(&leaving);
            }
            next.insert(
                set.row.scope_key.clone(),
                NextVersion {
                    stored: Some(set.row),
                    columns: set.columns,
                    recordings,
                    changed,
                },
            );
        }
        // Recordings given the same holding share its columns: one digest per holding.
        // (`moved` keeps every `Rc` alive, so a pointer names one holding throughout.)
        let mut digests: HashMap<*const HoldingColumns, String> = HashMap::new();
        for (key, columns) in moved {
            let content = digests
                .entry(Rc::as_ptr(columns))
                .or_insert_with(|| content_key(columns))
                .clone();
            let entry = next.entry(content).or_insert_with(|| NextVersion {
                stored: None,
                columns: columns.clone(),
                recordings: RecordingSet::new(),
                changed: false,
            });
            entry.recordings.insert(*key);
            entry.changed = true;
        }
        // Holdings seen for the first time have no version to supersede: inserted
        // together (a delivery with a deal per album makes thousands).
        let mut first_versions = Vec::new();
        for (content, next) in next {
            let NextVersion {
                stored,
                columns,
                recordings,
                changed: true,
            } = next
            else {
                continue;
            };
            let row = HoldingVersionRow {
                id: new_id(),
                catalog_id: catalog.id.clone(),
                scope: "delivery".into(),
                scope_key: content.clone(),
                display: content,
                version: stored.as_ref().map_or(1, |s| s.version + 1),
                territories: columns.territories.clone(),
                usages: columns.usages.clone(),
                start_date: columns.start_date,
                end_date: columns.end_date,
                sublicensable: columns.sublicensable,
                removed: recordings.is_empty(),
                changed_by: actor_user_id.map(str::to_string),
                changed_at: at,
                superseded_at: None,
                recordings: Some(recordings.to_bytes()),
            };
            if stored.is_some() {
                holdings::append(conn, &row, at)?;
            } else {
                first_versions.push(row);
            }
        }
        holdings::insert_first_versions(conn, &first_versions)?;
        // A delivery replaces what was typed for its recordings before.
        for (key, _) in moved {
            let Some(stored) = self.overrides.get(key).filter(|r| !r.removed) else {
                continue;
            };
            let row = HoldingVersionRow {
                id: new_id(),
                version: stored.version + 1,
                removed: true,
                changed_by: actor_user_id.map(str::to_string),
                changed_at: at,
                superseded_at: None,
                ..stored.clone()
            };
            holdings::append(conn, &row, at)?;
        }
        Ok(())
    }
}

/// Applies the deliveries of one import, in the caller's transaction.
pub fn apply(
    conn: &mut DbConnection,
    catalog: &Catalog,
    actor_user_id: Option<&str>,
    deliveries: Vec<Delivery>,
    today: NaiveDate,
    at: NaiveDateTime,
) -> Result<(DeliveredHoldings, Vec<DeliveryProblem>), DealError> {
    let mut outcome = DeliveredHoldings::default();
    let mut problems = Vec::new();
    if deliveries.is_empty() {
        return Ok((outcome, problems));
    }
    // The releases named, as stored (one query per 2,000, not one per message).
    let mut keys: Vec<String> = deliveries
        .iter()
        .filter_map(|d| match d {
            Delivery::Release { release_key, .. } => release_key.clone(),
            Delivery::Purge { release_key, .. } => Some(release_key.clone()),
        })
        .collect();
    keys.sort();
    keys.dedup();
    let mut releases: HashMap<String, Option<Known>> =
        keys.iter().map(|k| (k.clone(), None)).collect();
    // Only these have a stored row to replace (a first delivery has none).
    let mut stored_keys: Vec<String> = Vec::new();
    for row in ern_db::find_releases(conn, &catalog.id, &keys)? {
        stored_keys.push(row.release_key.clone());
        releases.insert(row.release_key.clone(), Some(Known::stored(row)?));
    }
    // What to store at the end: each release named as the last message leaves it.
    let mut touched: BTreeSet<String> = BTreeSet::new();
    let before = Stored::load(conn, &catalog.id, &deliveries, &releases)?;
    let mut state: HashMap<i64, State> = before
        .held
        .iter()
        .map(|(&key, columns)| (key, Some(columns.clone())))
        .collect();
    let mut ended: BTreeSet<i64> = BTreeSet::new();
    let mut made = EndedHoldings::new();
    let mut set: BTreeSet<i64> = BTreeSet::new();
    let mut message_ids = Vec::new();
    // The columns of the last holding seen: consecutive recordings (an album's) share it.
    let mut last: Option<(Arc<DealHolding>, Rc<HoldingColumns>)> = None;

    for delivery in deliveries {
        match delivery {
            Delivery::Release {
                message_id,
                release_key,
                created,
                has_deals,
                tracks,
                ..
            } => {
                message_ids.push(message_id.clone());
                let recordings: Vec<i64> = tracks.iter().map(|(isrc, _)| isrc.key()).collect();
                // Replaced below by what this message leaves.
                let previous = release_key
                    .as_ref()
                    .and_then(|key| releases.get_mut(key))
                    .and_then(Option::take);
                if has_deals {
                    for ((_, holding), &key) in tracks.iter().zip(&recordings) {
                        match holding {
                            Some(holding) => {
                                let columns = match &last {
                                    Some((seen, columns))
                                        if Arc::ptr_eq(seen, holding) || **seen == **holding =>
                                    {
                                        columns.clone()
                                    }
                                    _ => {
                                        let columns = Rc::new(columns_of(holding)?);
                                        last = Some((holding.clone(), columns.clone()));
                                        columns
                                    }
                                };
                                state.insert(key, Some(columns));
                                ended.remove(&key);
                                set.insert(key);
                            }
                            // The new deals no longer cover it: its holding ends.
                            None => end(&mut state, &mut ended, &mut made, key, created),
                        }
                    }
                    // Recordings the release no longer contains.
                    if let Some(previous) = &previous {
                        for &key in &previous.recordings {
                            if !recordings.contains(&key) {
                                end(&mut state, &mut ended, &mut made, key, created);
                            }
                        }
                    }
                } else if let Some(previous) = &previous {
                    // A deal-less update of a known release: a takedown.
                    outcome.releases_taken_down += 1;
                    for &key in previous.recordings.iter().chain(recordings.iter()) {
                        end(&mut state, &mut ended, &mut made, key, created);
                    }
                }
                if let Some(key) = release_key {
                    let taken_down = (!has_deals && previous.is_some()).then_some(created);
                    let isrcs: Vec<&str> = tracks.iter().map(|(isrc, _)| isrc.as_str()).collect();
                    let row = ErnReleaseRow {
                        catalog_id: catalog.id.clone(),
                        release_key: key.clone(),
                        isrcs: serde_json::to_string(&isrcs)
                            .map_err(|e| DbError::Corrupt(format!("cannot serialize: {e}")))?,
                        message_id,
                        delivered_at: at,
                        taken_down_on: taken_down,
                    };
                    touched.insert(key.clone());
                    releases.insert(key, Some(Known { row, recordings }));
                }
            }
            Delivery::Purge {
                document,
                message_id,
                release_key,
                created,
                line,
                element,
            } => {
                message_ids.push(message_id);
                let Some(mut previous) = releases.get_mut(&release_key).and_then(Option::take)
                else {
                    problems.push(DeliveryProblem {
                        document,
                        line,
                        element,
                        field: "release".into(),
                        message: format!(
                            "release {release_key} was never delivered to this catalog: nothing to purge"
                        ),
                    });
                    continue;
                };
                outcome.releases_taken_down += 1;
                for &key in &previous.recordings {
                    end(&mut state, &mut ended, &mut made, key, created);
                }
                previous.row.taken_down_on = Some(created);
                previous.row.delivered_at = at;
                touched.insert(release_key.clone());
                releases.insert(release_key, Some(previous));
            }
        }
    }

    let stored: Vec<ErnReleaseRow> = touched
        .iter()
        .filter_map(|key| releases.remove(key).flatten().map(|known| known.row))
        .collect();
    ern_db::save_releases(conn, &catalog.id, &stored_keys, &stored)?;

    // What changed against what was stored, recording by recording.
    let mut moved: Vec<(i64, Rc<HoldingColumns>)> = Vec::new();
    for key in set.union(&ended) {
        let Some(Some(final_state)) = state.get(key) else {
            continue;
        };
        if before.held.get(key).is_some_and(|held| held == final_state) {
            continue;
        }
        if ended.contains(key) {
            outcome.holdings_ended += 1;
        } else {
            outcome.holdings_set += 1;
        }
        moved.push((*key, final_state.clone()));
    }
    if moved.is_empty() {
        return Ok((outcome, problems));
    }
    before.write(conn, catalog, actor_user_id, &moved, at)?;
    message_ids.truncate(100);
    AuditEvent::new("catalog.holding_delivered", "catalog", Some(&catalog.id))
        .by(Some(&catalog.organization_id), actor_user_id)
        .after(serde_json::json!({
            "holdings_set": outcome.holdings_set,
            "holdings_ended": outcome.holdings_ended,
            "releases_taken_down": outcome.releases_taken_down,
            "message_ids": message_ids,
        }))
        .write(conn)?;
    outcome.grants_marked = chain::holding_changed(conn, catalog, today, at)? as u64;
    Ok((outcome, problems))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn columns() -> HoldingColumns {
        HoldingColumns {
            territories: r#"["JP"]"#.into(),
            usages: r#"["interactive_streaming"]"#.into(),
            start_date: NaiveDate::from_ymd_opt(2021, 5, 1).unwrap(),
            end_date: NaiveDate::from_ymd_opt(2030, 12, 31).unwrap(),
            sublicensable: true,
        }
    }

    #[test]
    fn the_same_terms_share_a_key_and_any_difference_gives_another() {
        let key = content_key(&columns());
        assert_eq!(key, content_key(&columns()));
        assert_eq!(key.len(), 32);
        assert!(key.chars().all(|c| c.is_ascii_hexdigit()));
        let changes: [fn(&mut HoldingColumns); 5] = [
            |c| c.territories = r#"["JP","KR"]"#.into(),
            |c| c.usages = r#"["download"]"#.into(),
            |c| c.start_date = c.start_date.succ_opt().unwrap(),
            |c| c.end_date = c.end_date.pred_opt().unwrap(),
            |c| c.sublicensable = false,
        ];
        let mut seen = BTreeSet::from([key]);
        for change in changes {
            let mut other = columns();
            change(&mut other);
            assert!(seen.insert(content_key(&other)), "{other:?}");
        }
    }

    #[test]
    fn fields_cannot_run_into_each_other() {
        // Without a separator, territories `a` + usages `bc` would hash as `ab` + `c`.
        let mut one = columns();
        one.territories = "a".into();
        one.usages = "bc".into();
        let mut other = columns();
        other.territories = "ab".into();
        other.usages = "c".into();
        assert_ne!(content_key(&one), content_key(&other));
    }
}
