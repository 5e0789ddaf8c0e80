//! The tamper-evident audit chain (see `docs/audit.md`): the audit events of one
//! organization, numbered `1, 2, 3…` (`seq`), each carrying the hash of the one before
//! it (`prev_hash`) and its own `hash`, which covers a canonical encoding of the event's
//! content **and** `prev_hash`. Events without an organization (a failed login for an
//! unknown address) form the *platform chain*.
//!
//! Pure logic only: the canonical encoding, the hash, and the walk that checks a chain
//! read back from storage and names its first broken link.

use chrono::NaiveDateTime;
use sha2::{Digest, Sha256};

/// `prev_hash` of the first event of every chain.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Bumped if the encoding ever changes (it is hashed first, so two versions cannot collide).
const DOMAIN_TAG: &[u8] = b"cadenza.audit.v1\n";

/// What an audit event's hash covers, beside the previous hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventContent {
    pub id: String,
    /// The chain: the organization, or `None` for the platform chain.
    pub organization_id: Option<String>,
    pub seq: i64,
    pub actor_user_id: Option<String>,
    pub action: String,
    pub subject_type: String,
    pub subject_id: Option<String>,
    /// The stored JSON text, byte for byte (not re-serialized).
    pub before_json: Option<String>,
    pub after_json: Option<String>,
    pub created_at: NaiveDateTime,
}

fn put_field(out: &mut Vec<u8>, value: Option<&[u8]>) {
    match value {
        None => out.push(0),
        Some(bytes) => {
            out.push(1);
            out.extend_from_slice(&(bytes.len() as u64).to_be_bytes());
            out.extend_from_slice(bytes);
        }
    }
}

/// The canonical bytes of an event and its predecessor's hash: a fixed tag, then each
/// field in a fixed order as `0` (absent) or `1`, its length (8 bytes, big-endian) and
/// its bytes. Length prefixes make the encoding injective: no two different events
/// (or field splits such as `ab|c` and `a|bc`) encode alike.
pub fn canonical_bytes(event: &EventContent, prev_hash: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(DOMAIN_TAG);
    let seq = event.seq.to_string();
    let created_at = event
        .created_at
        .format("%Y-%m-%dT%H:%M:%S%.6fZ")
        .to_string();
    let fields: [Option<&str>; 11] = [
        Some(&event.id),
        event.organization_id.as_deref(),
        Some(&seq),
        event.actor_user_id.as_deref(),
        Some(&event.action),
        Some(&event.subject_type),
        event.subject_id.as_deref(),
        event.before_json.as_deref(),
        event.after_json.as_deref(),
        Some(&created_at),
        Some(prev_hash),
    ];
    for field in fields {
        put_field(&mut out, field.map(str::as_bytes));
    }
    out
}

/// The hash of an event linked after `prev_hash`: lowercase hex SHA-256 of
/// [`canonical_bytes`].
pub fn link_hash(event: &EventContent, prev_hash: &str) -> String {
    hex::encode(Sha256::digest(canonical_bytes(event, prev_hash)))
}

/// One event as read back from storage, in the chain's `seq` order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredLink {
    pub content: EventContent,
    pub prev_hash: String,
    pub hash: String,
}

/// The last link of a chain, as recorded beside the chain (`audit_chain_heads`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    pub seq: i64,
    pub hash: String,
}

/// Why a link is broken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Breach {
    /// Its content (or `seq`) no longer matches its hash: the row was edited.
    Edited,
    /// Its `seq` is not the next one: events before it are missing (deleted) or the
    /// chain was reordered.
    OutOfSequence { expected: i64, found: i64 },
    /// Its `prev_hash` is not the hash of the event before it.
    Unlinked,
    /// The chain's recorded head names a later or different last event: events at the
    /// end were deleted, or the head was rewritten.
    HeadMismatch { head_seq: i64, last_seq: i64 },
    /// The row has no place in a chain (`seq` or hashes missing).
    Unchained,
}

impl std::fmt::Display for Breach {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Breach::Edited => write!(f, "its content does not match its hash (edited)"),
            Breach::OutOfSequence { expected, found } => write!(
                f,
                "it is number {found} where {expected} was expected (events deleted or reordered)"
            ),
            Breach::Unlinked => write!(
                f,
                "its previous hash is not the hash of the event before it (deleted or reordered)"
            ),
            Breach::HeadMismatch { head_seq, last_seq } => write!(
                f,
                "the chain's recorded head is number {head_seq} but the last event is number {last_seq} \
                 (events deleted at the end, or the head rewritten)"
            ),
            Breach::Unchained => write!(f, "it is not chained (no sequence number or hash)"),
        }
    }
}

/// The first broken link of a chain: the event's id (none when the chain has no events
/// left but its head says it had), its `seq`, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokenLink {
    pub id: Option<String>,
    pub seq: Option<i64>,
    pub breach: Breach,
}

/// An intact chain: how many events, and the hash of the last (the head).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Intact {
    pub events: u64,
    pub head: Option<Head>,
}

/// Walks a chain in `seq` order and returns the first broken link. `head` is the
/// chain's recorded head (checked last, so a deletion at the end is seen).
pub fn verify<I>(links: I, head: Option<&Head>) -> Result<Intact, BrokenLink>
where
    I: IntoIterator<Item = StoredLink>,
{
    let mut prev_hash = GENESIS.to_string();
    let mut last: Option<(String, i64)> = None;
    let mut count = 0u64;
    for link in links {
        let expected = count as i64 + 1;
        let broken = |breach| BrokenLink {
            id: Some(link.content.id.clone()),
            seq: Some(link.content.seq),
            breach,
        };
        if link.content.seq != expected {
            return Err(broken(Breach::OutOfSequence {
                expected,
                found: link.content.seq,
            }));
        }
        if link_hash(&link.content, &link.prev_hash) != link.hash {
            return Err(broken(Breach::Edited));
        }
        if link.prev_hash != prev_hash {
            return Err(broken(Breach::Unlinked));
        }
        prev_hash = link.hash;
        count += 1;
        last = Some((link.content.id, link.content.seq));
    }
    let tail = last.as_ref().map(|(_, seq)| Head {
        seq: *seq,
        hash: prev_hash.clone(),
    });
    if let Some(head) = head {
        if tail.as_ref() != Some(head) {
            return Err(BrokenLink {
                id: last.as_ref().map(|(id, _)| id.clone()),
                seq: last.as_ref().map(|(_, seq)| *seq),
                breach: Breach::HeadMismatch {
                    head_seq: head.seq,
                    last_seq: last.as_ref().map_or(0, |(_, seq)| *seq),
                },
            });
        }
    }
    Ok(Intact {
        events: count,
        head: tail,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::DateTime;
    use proptest::prelude::*;

    fn content(n: i64, action: &str) -> EventContent {
        EventContent {
            id: format!("id-{n:04}"),
            organization_id: Some("org".into()),
            seq: n,
            actor_user_id: Some("user".into()),
            action: action.into(),
            subject_type: "deal".into(),
            subject_id: Some(format!("deal-{n}")),
            before_json: None,
            after_json: Some(format!("{{\"n\":{n}}}")),
            created_at: DateTime::from_timestamp(1_800_000_000 + n, 123_456_000)
                .map(|t| t.naive_utc())
                .unwrap_or_default(),
        }
    }

    /// Links events in order, as the writer does.
    fn chain(events: Vec<EventContent>) -> (Vec<StoredLink>, Option<Head>) {
        let mut prev = GENESIS.to_string();
        let mut links = Vec::new();
        for (i, mut event) in events.into_iter().enumerate() {
            event.seq = i as i64 + 1;
            let hash = link_hash(&event, &prev);
            links.push(StoredLink {
                content: event,
                prev_hash: prev.clone(),
                hash: hash.clone(),
            });
            prev = hash;
        }
        let head = links.last().map(|l| Head {
            seq: l.content.seq,
            hash: l.hash.clone(),
        });
        (links, head)
    }

    #[test]
    fn an_intact_chain_verifies_and_reports_its_head() {
        let (links, head) = chain((1..=3).map(|n| content(n, "deal.submitted")).collect());
        let intact = verify(links.clone(), head.as_ref()).expect("intact");
        assert_eq!(intact.events, 3);
        assert_eq!(intact.head, head);
        assert_eq!(verify(Vec::new(), None).expect("empty").events, 0);
    }

    #[test]
    fn the_hash_is_stable_and_covers_every_field() {
        let base = content(1, "deal.submitted");
        // Pinned: changing the encoding breaks every stored chain.
        assert_eq!(
            link_hash(&base, GENESIS),
            "ab8ca8fddf16f4dfd860a04ade85c896b9636787c8fdcc9d382c09b4720b76e0"
        );
        let variants = [
            EventContent {
                id: "x".into(),
                ..base.clone()
            },
            EventContent {
                organization_id: None,
                ..base.clone()
            },
            EventContent {
                seq: 2,
                ..base.clone()
            },
            EventContent {
                actor_user_id: None,
                ..base.clone()
            },
            EventContent {
                action: "deal.signed".into(),
                ..base.clone()
            },
            EventContent {
                subject_type: "grant".into(),
                ..base.clone()
            },
            EventContent {
                subject_id: None,
                ..base.clone()
            },
            EventContent {
                before_json: Some("{}".into()),
                ..base.clone()
            },
            EventContent {
                after_json: None,
                ..base.clone()
            },
            EventContent {
                created_at: base.created_at + chrono::TimeDelta::microseconds(1),
                ..base.clone()
            },
        ];
        for variant in &variants {
            assert_ne!(
                link_hash(variant, GENESIS),
                link_hash(&base, GENESIS),
                "{variant:?}"
            );
        }
        assert_ne!(link_hash(&base, GENESIS), link_hash(&base, &"1".repeat(64)));
    }

    #[test]
    fn field_boundaries_cannot_be_shifted() {
        let a = EventContent {
            subject_type: "ab".into(),
            subject_id: Some("c".into()),
            ..content(1, "x")
        };
        let b = EventContent {
            subject_type: "a".into(),
            subject_id: Some("bc".into()),
            ..content(1, "x")
        };
        assert_ne!(canonical_bytes(&a, GENESIS), canonical_bytes(&b, GENESIS));
        let none = EventContent {
            subject_id: None,
            ..content(1, "x")
        };
        let empty = EventContent {
            subject_id: Some(String::new()),
            ..content(1, "x")
        };
        assert_ne!(
            canonical_bytes(&none, GENESIS),
            canonical_bytes(&empty, GENESIS)
        );
    }

    #[test]
    fn a_deleted_last_event_is_seen_through_the_head() {
        let (mut links, head) = chain((1..=3).map(|n| content(n, "a")).collect());
        links.pop();
        let broken = verify(links, head.as_ref()).expect_err("tail deleted");
        assert_eq!(broken.id.as_deref(), Some("id-0002"));
        assert!(matches!(
            broken.breach,
            Breach::HeadMismatch {
                head_seq: 3,
                last_seq: 2
            }
        ));
        let broken = verify(Vec::new(), head.as_ref()).expect_err("all deleted");
        assert_eq!(broken.id, None);
    }

    fn events() -> impl Strategy<Value = Vec<EventContent>> {
        prop::collection::vec(("[a-z.]{1,12}", prop::option::of("[ -~]{0,20}")), 2..20).prop_map(
            |raw| {
                raw.into_iter()
                    .enumerate()
                    .map(|(i, (action, after))| EventContent {
                        after_json: after,
                        ..content(i as i64 + 1, &action)
                    })
                    .collect()
            },
        )
    }

    proptest! {
        #[test]
        fn an_edited_event_is_named(events in events(), pick in any::<prop::sample::Index>(), text in "[a-z]{1,8}") {
            let (mut links, head) = chain(events);
            let i = pick.index(links.len());
            links[i].content.action.push_str(&text);
            let broken = verify(links.clone(), head.as_ref()).expect_err("edit detected");
            prop_assert_eq!(broken.id, Some(links[i].content.id.clone()));
            prop_assert_eq!(broken.breach, Breach::Edited);
        }

        #[test]
        fn an_edit_with_a_recomputed_hash_breaks_the_next_link(events in events(), pick in any::<prop::sample::Index>()) {
            let (mut links, head) = chain(events);
            let i = pick.index(links.len());
            links[i].content.action.push('!');
            links[i].hash = link_hash(&links[i].content, &links[i].prev_hash);
            let broken = verify(links.clone(), head.as_ref()).expect_err("rehashed edit detected");
            if i + 1 < links.len() {
                prop_assert_eq!(broken.id, Some(links[i + 1].content.id.clone()));
                prop_assert_eq!(broken.breach, Breach::Unlinked);
            } else {
                let at_head = matches!(broken.breach, Breach::HeadMismatch { .. });
                prop_assert!(at_head);
            }
        }

        #[test]
        fn a_deleted_event_is_named_by_its_successor(events in events(), pick in any::<prop::sample::Index>()) {
            let (mut links, head) = chain(events);
            let i = pick.index(links.len() - 1);
            links.remove(i);
            let broken = verify(links.clone(), head.as_ref()).expect_err("deletion detected");
            prop_assert_eq!(broken.id, Some(links[i].content.id.clone()));
            let is_out_of_sequence = matches!(broken.breach, Breach::OutOfSequence { .. });
            prop_assert!(is_out_of_sequence);
        }

        #[test]
        fn a_reordering_is_detected(events in events(), a in any::<prop::sample::Index>(), b in any::<prop::sample::Index>()) {
            let (mut links, head) = chain(events);
            let (a, b) = (a.index(links.len()), b.index(links.len()));
            prop_assume!(a != b);
            let (lo, hi) = (a.min(b), a.max(b));
            // Swap the rows' places and renumber them, as an operator editing `seq` would.
            links.swap(lo, hi);
            links[lo].content.seq = lo as i64 + 1;
            links[hi].content.seq = hi as i64 + 1;
            let broken = verify(links.clone(), head.as_ref()).expect_err("reordering detected");
            prop_assert_eq!(broken.id, Some(links[lo].content.id.clone()));
        }

        #[test]
        fn an_intact_chain_always_verifies(events in events()) {
            let (links, head) = chain(events);
            let n = links.len() as u64;
            prop_assert_eq!(verify(links, head.as_ref()).map(|i| i.events), Ok(n));
        }
    }
}
