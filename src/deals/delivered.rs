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

use chrono::{NaiveDate, NaiveDateTime, TimeDelta};
use serde::Serialize;

use super::{chain, DealError};
use crate::db::audit::AuditEvent;
use crate::db::catalogs::{Catalog, HoldingColumns};
use crate::db::ern::{self as ern_db, ErnReleaseRow};
use crate::db::holdings::HoldingVersionRow;
use crate::db::{new_id, DbConnection, DbError};
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
        /// holding its deals give each.
        tracks: Vec<(Isrc, Option<DealHolding>)>,
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

/// One recording's holding as the deliveries leave it.
#[derive(Clone, PartialEq)]
struct State {
    columns: HoldingColumns,
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

fn same(a: &HoldingColumns, b: &HoldingColumns) -> bool {
    a.territories == b.territories
        && a.usages == b.usages
        && a.start_date == b.start_date
        && a.end_date == b.end_date
        && a.sublicensable == b.sublicensable
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
    let mut releases: HashMap<String, Option<ErnReleaseRow>> =
        keys.iter().map(|k| (k.clone(), None)).collect();
    for row in ern_db::find_releases(conn, &catalog.id, &keys)? {
        releases.insert(row.release_key.clone(), Some(row));
    }
    // What to store at the end: each release named as the last message leaves it.
    let mut touched: BTreeSet<String> = BTreeSet::new();
    // Every recording concerned, with its current override.
    let mut involved: BTreeSet<String> = BTreeSet::new();
    for delivery in &deliveries {
        if let Delivery::Release { tracks, .. } = delivery {
            involved.extend(tracks.iter().map(|(isrc, _)| isrc.as_str().to_string()));
        }
    }
    for row in releases.values().flatten() {
        involved.extend(row.isrc_list()?);
    }
    let involved: Vec<String> = involved.into_iter().collect();
    let current = ern_db::current_recording_overrides(conn, &catalog.id, &involved)?;
    let mut state: HashMap<String, Option<State>> = current
        .iter()
        .map(|(isrc, row)| {
            (
                isrc.clone(),
                (!row.removed).then(|| State {
                    columns: row.columns(),
                }),
            )
        })
        .collect();
    let mut ended: BTreeSet<String> = BTreeSet::new();
    let mut set: BTreeSet<String> = BTreeSet::new();
    let mut message_ids = Vec::new();

    let end = |state: &mut HashMap<String, Option<State>>,
               ended: &mut BTreeSet<String>,
               isrc: &str,
               from: NaiveDate| {
        let last_day = from - TimeDelta::days(1);
        if let Some(Some(s)) = state.get_mut(isrc) {
            if s.columns.end_date > last_day {
                s.columns.end_date = last_day;
                s.columns.start_date = s.columns.start_date.min(last_day);
                ended.insert(isrc.to_string());
            }
        }
    };

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
                let isrcs: Vec<String> = tracks
                    .iter()
                    .map(|(isrc, _)| isrc.as_str().to_string())
                    .collect();
                let previous = match &release_key {
                    Some(key) => releases.get(key).cloned().flatten(),
                    None => None,
                };
                if has_deals {
                    for (isrc, holding) in &tracks {
                        let isrc = isrc.as_str().to_string();
                        match holding {
                            Some(holding) => {
                                state.insert(
                                    isrc.clone(),
                                    Some(State {
                                        columns: columns_of(holding)?,
                                    }),
                                );
                                ended.remove(&isrc);
                                set.insert(isrc);
                            }
                            // The new deals no longer cover it: its holding ends.
                            None => end(&mut state, &mut ended, &isrc, created),
                        }
                    }
                    // Recordings the release no longer contains.
                    if let Some(previous) = &previous {
                        for isrc in previous.isrc_list()? {
                            if !isrcs.contains(&isrc) {
                                end(&mut state, &mut ended, &isrc, created);
                            }
                        }
                    }
                } else if let Some(previous) = &previous {
                    // A deal-less update of a known release: a takedown.
                    outcome.releases_taken_down += 1;
                    for isrc in previous.isrc_list()?.iter().chain(isrcs.iter()) {
                        end(&mut state, &mut ended, isrc, created);
                    }
                }
                if let Some(key) = release_key {
                    let taken_down = (!has_deals && previous.is_some()).then_some(created);
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
                    releases.insert(key, Some(row));
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
                let Some(Some(mut previous)) = releases.get(&release_key).cloned() else {
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
                for isrc in previous.isrc_list()? {
                    end(&mut state, &mut ended, &isrc, created);
                }
                previous.taken_down_on = Some(created);
                previous.delivered_at = at;
                touched.insert(release_key.clone());
                releases.insert(release_key, Some(previous));
            }
        }
    }

    let stored: Vec<ErnReleaseRow> = touched
        .iter()
        .filter_map(|key| releases.get(key).cloned().flatten())
        .collect();
    ern_db::save_releases(conn, &catalog.id, &stored)?;

    // The versions to write: what changed against the stored current version.
    let mut rows = Vec::new();
    for isrc in set.union(&ended) {
        let Some(Some(final_state)) = state.get(isrc) else {
            continue;
        };
        let stored = current.get(isrc);
        if let Some(stored) = stored {
            if !stored.removed && same(&stored.columns(), &final_state.columns) {
                continue;
            }
        }
        if ended.contains(isrc) {
            outcome.holdings_ended += 1;
        } else {
            outcome.holdings_set += 1;
        }
        let columns = final_state.columns.clone();
        rows.push(HoldingVersionRow {
            id: new_id(),
            catalog_id: catalog.id.clone(),
            scope: "recording".into(),
            scope_key: isrc.clone(),
            display: isrc.clone(),
            version: stored.map_or(1, |s| s.version + 1),
            territories: columns.territories,
            usages: columns.usages,
            start_date: columns.start_date,
            end_date: columns.end_date,
            sublicensable: columns.sublicensable,
            removed: false,
            changed_by: actor_user_id.map(str::to_string),
            changed_at: at,
            superseded_at: None,
        });
    }
    if rows.is_empty() {
        return Ok((outcome, problems));
    }
    ern_db::append_recording_versions(conn, &catalog.id, &rows, at)?;
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
