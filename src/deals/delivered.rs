//! Holdings delivered as DDEX ERN deals (`docs/ddex.md`, "Deals become
//! holdings"). Each recording an ERN deal covers gets a recording override of
//! the catalog's holding: a version like any other (`holding_versions`), with the
//! importing user as its author and the message in the audit. A later message for
//! the same release replaces those overrides; a takedown (a deal-less update of a
//! release delivered with deals, or a PurgeReleaseMessage) ends them from its date.
//! Everything runs in the import's transaction and ends with
//! `chain::holding_changed`, so a takedown reaches every grant built on the
//! recordings, at any depth, like any upstream end.

use std::collections::{BTreeSet, HashMap};
use std::rc::Rc;
use std::sync::Arc;

use chrono::{NaiveDate, NaiveDateTime, TimeDelta};
use serde::Serialize;

use super::{chain, DealError};
use crate::db::audit::AuditEvent;
use crate::db::catalogs::{Catalog, HoldingColumns};
use crate::db::ern::{self as ern_db, ErnReleaseRow, NewRecordingVersion};
use crate::db::holdings::HoldingVersionRow;
use crate::db::{DbConnection, DbError};
use crate::domain::isrc::Isrc;
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

/// Whether a stored version already says what `columns` say.
fn same(stored: &HoldingVersionRow, columns: &HoldingColumns) -> bool {
    stored.territories == columns.territories
        && stored.usages == columns.usages
        && stored.start_date == columns.start_date
        && stored.end_date == columns.end_date
        && stored.sublicensable == columns.sublicensable
}

/// Ends a recording's holding the day before `from`, if it runs past it.
fn end(state: &mut HashMap<i64, State>, ended: &mut BTreeSet<i64>, key: i64, from: NaiveDate) {
    let last_day = from - TimeDelta::days(1);
    if let Some(Some(columns)) = state.get_mut(&key) {
        if columns.end_date > last_day {
            let columns = Rc::make_mut(columns);
            columns.end_date = last_day;
            columns.start_date = columns.start_date.min(last_day);
            ended.insert(key);
        }
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
    for row in ern_db::find_releases(conn, &catalog.id, &keys)? {
        releases.insert(row.release_key.clone(), Some(Known::stored(row)?));
    }
    // What to store at the end: each release named as the last message leaves it.
    let mut touched: BTreeSet<String> = BTreeSet::new();
    // The current override of every recording concerned. A catalog without any (the
    // first delivery of a catalog) needs no look-up.
    let current: HashMap<i64, HoldingVersionRow> =
        if ern_db::has_current_recording_overrides(conn, &catalog.id)? {
            let mut involved: BTreeSet<i64> = BTreeSet::new();
            for delivery in &deliveries {
                if let Delivery::Release { tracks, .. } = delivery {
                    involved.extend(tracks.iter().map(|(isrc, _)| isrc.key()));
                }
            }
            for known in releases.values().flatten() {
                involved.extend(known.recordings.iter().copied());
            }
            let involved: Vec<String> = involved
                .into_iter()
                .filter_map(Isrc::from_key)
                .map(Isrc::into_string)
                .collect();
            let mut current = HashMap::with_capacity(involved.len());
            for (isrc, row) in ern_db::current_recording_overrides(conn, &catalog.id, &involved)? {
                let key = Isrc::parse(&isrc)
                    .map_err(|e| DbError::Corrupt(format!("holding override {}: {e:?}", row.id)))?
                    .key();
                current.insert(key, row);
            }
            current
        } else {
            HashMap::new()
        };
    let mut state: HashMap<i64, State> = current
        .iter()
        .map(|(key, row)| (*key, (!row.removed).then(|| Rc::new(row.columns()))))
        .collect();
    let mut ended: BTreeSet<i64> = BTreeSet::new();
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
                            None => end(&mut state, &mut ended, key, created),
                        }
                    }
                    // Recordings the release no longer contains.
                    if let Some(previous) = &previous {
                        for &key in &previous.recordings {
                            if !recordings.contains(&key) {
                                end(&mut state, &mut ended, key, created);
                            }
                        }
                    }
                } else if let Some(previous) = &previous {
                    // A deal-less update of a known release: a takedown.
                    outcome.releases_taken_down += 1;
                    for &key in previous.recordings.iter().chain(recordings.iter()) {
                        end(&mut state, &mut ended, key, created);
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
                    end(&mut state, &mut ended, key, created);
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
    ern_db::save_releases(conn, &catalog.id, &stored)?;

    // The versions to write: what changed against the stored current version (ISRC
    // keys sort as the ISRCs do, so rows are written in ISRC order).
    let mut changed: Vec<(Isrc, i32, Rc<HoldingColumns>)> = Vec::new();
    let mut superseding: Vec<String> = Vec::new();
    for key in set.union(&ended) {
        let Some(Some(final_state)) = state.get(key) else {
            continue;
        };
        let stored = current.get(key);
        if let Some(stored) = stored {
            if !stored.removed && same(stored, final_state) {
                continue;
            }
        }
        if ended.contains(key) {
            outcome.holdings_ended += 1;
        } else {
            outcome.holdings_set += 1;
        }
        let isrc = Isrc::from_key(*key)
            .ok_or_else(|| DbError::Corrupt(format!("ISRC key {key} maps to no ISRC")))?;
        if let Some(stored) = stored {
            superseding.push(stored.scope_key.clone());
        }
        changed.push((
            isrc,
            stored.map_or(1, |s| s.version + 1),
            final_state.clone(),
        ));
    }
    if changed.is_empty() {
        return Ok((outcome, problems));
    }
    let versions: Vec<NewRecordingVersion> = changed
        .iter()
        .map(|(isrc, version, columns)| NewRecordingVersion {
            isrc: isrc.as_str(),
            version: *version,
            columns,
        })
        .collect();
    let superseding: Vec<&str> = superseding.iter().map(String::as_str).collect();
    ern_db::append_recording_versions(
        conn,
        &catalog.id,
        actor_user_id,
        &versions,
        &superseding,
        at,
    )?;
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
