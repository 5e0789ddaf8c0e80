//! Chain of title: what backs a catalog's rights, and what happens downstream
//! when that backing ends.
//!
//! A catalog is *self-declared* (its owner types the rights it holds from labels
//! outside Cadenza, per catalog and per label or recording override, with
//! history) or *received* (backed by a grant its organization received here).
//! Everything granted from a catalog must fit in what backs it, so a chain of
//! sublicences only ever narrows.
//!
//! When a grant ends (terminated, or run to its end) or a self-declared holding
//! is cut, every active grant that depended on it is marked with a backing loss
//! (which recordings, from which day), both parties of its deal are told, and
//! the walk goes on to whatever was granted from *that* grant's rights, to any
//! depth. Each grant is visited once per walk, so a cycle in the chain cannot
//! loop. Open offers and deals built on the ended rights need no marking: their
//! holding is read live, so advice shows the gap and execution refuses.

use std::collections::{HashSet, VecDeque};

use chrono::{NaiveDate, NaiveDateTime, TimeDelta};

use super::DealError;
use crate::db::catalogs::{self, Catalog};
use crate::db::deals::{self, BackingLossRow, GrantSummary};
use crate::db::holdings::{self, HoldingVersionRow};
use crate::db::{new_id, stored, stored_json, DbConnection, DbError};
use crate::domain::grant::{
    uncovered, GrantScope, GrantStatus, Holding, HoldingGap, HoldingOverride, LossCause,
    CONFLICT_SAMPLE_SIZE,
};
use crate::domain::isrc::Isrc;
use crate::domain::period::Period;
use crate::domain::recording::RecordingSet;
use crate::mail::event::{DealRef, Event};

/// What backs a catalog, as execution and advice check a grant against it.
pub struct Backing {
    pub default: Holding,
    /// Label and recording overrides of a self-declared holding.
    pub overrides: Vec<HoldingOverride>,
    /// For a received catalog: the grant it was received through.
    pub upstream: Option<Upstream>,
}

/// The grant a received catalog's rights come from.
pub struct Upstream {
    pub grant_id: String,
    /// Recordings whose backing ended, each set with the day it ended from.
    pub ended: Vec<(NaiveDate, RecordingSet)>,
}

/// The holding a stored row describes.
pub fn holding_from(
    territories: &str,
    usages: &str,
    start: NaiveDate,
    end: NaiveDate,
    sublicensable: bool,
    exclusive: bool,
) -> Result<Holding, DbError> {
    Ok(Holding {
        territories: stored_json("holding territories", territories)?,
        usages: stored_json("holding usages", usages)?,
        period: Period::new(start, end)
            .map_err(|e| DbError::Corrupt(format!("holding period: {e}")))?,
        sublicensable,
        exclusive,
    })
}

/// The rights a grant passes on to its licensee.
pub fn holding_of_grant(grant: &GrantSummary) -> Result<Holding, DbError> {
    holding_from(
        &grant.territories,
        &grant.usages,
        grant.start_date,
        grant.end_date,
        grant.sublicensable,
        grant.exclusive,
    )
}

/// The upstream grant of a received catalog, which must exist.
pub fn backing_grant(conn: &mut DbConnection, grant_id: &str) -> Result<GrantSummary, DbError> {
    deals::find_grant(conn, grant_id)?
        .ok_or_else(|| DbError::Corrupt(format!("backing grant {grant_id} is missing")))
}

/// When and for which recordings a grant stopped backing what was cut from it:
/// all of them from the day after it ended, and whatever it lost itself.
pub fn ended_backing(
    conn: &mut DbConnection,
    grant: &GrantSummary,
) -> Result<Vec<(NaiveDate, RecordingSet)>, DealError> {
    let mut ended = Vec::new();
    if stored::<GrantStatus>("grants.status", &grant.status)? != GrantStatus::Active {
        let all = catalogs::decode_recordings(
            deals::grant_recordings(conn, &grant.id)?.as_deref(),
            "grant",
            &grant.id,
        )?;
        ended.push((grant.end_date + TimeDelta::days(1), all));
    }
    for loss in deals::backing_losses_of(conn, &grant.id)? {
        let lost = RecordingSet::from_bytes(&loss.recordings)
            .map_err(|e| DbError::Corrupt(format!("backing loss {}: {e}", loss.id)))?;
        ended.push((loss.lost_from, lost));
    }
    Ok(ended)
}

/// What backs `catalog` for a grant of the slice `slice_id` (a slice of that catalog).
pub fn backing(
    conn: &mut DbConnection,
    catalog: &Catalog,
    slice_id: &str,
) -> Result<Backing, DealError> {
    if let Some(grant_id) = &catalog.backing_grant_id {
        let grant = backing_grant(conn, grant_id)?;
        return Ok(Backing {
            default: holding_of_grant(&grant)?,
            overrides: Vec::new(),
            upstream: Some(Upstream {
                grant_id: grant.id.clone(),
                ended: ended_backing(conn, &grant)?,
            }),
        });
    }
    // Decoded only if a label override needs it (not on the usual signing path).
    let mut slice_tracks = None;
    let mut default = None;
    let mut overrides = Vec::new();
    // Delivered holdings, without the recordings overridden by hand (added last).
    let mut delivered = Vec::new();
    let mut by_hand = RecordingSet::new();
    for row in holdings::current(conn, &catalog.id)? {
        let holding = holding_of_version(&row)?;
        match row.scope.as_str() {
            "catalog" => default = Some(holding),
            "label" => {
                if slice_tracks.is_none() {
                    slice_tracks = Some(catalogs::decode_set(&catalogs::slice_bitmap(
                        conn, slice_id,
                    )?)?);
                }
                let label_tracks = catalogs::label_tracks(conn, catalog.no, &row.scope_key)?;
                let mine = slice_tracks
                    .as_ref()
                    .map(|all| all.intersection(&label_tracks))
                    .unwrap_or_default();
                overrides.push(HoldingOverride {
                    tracks: catalogs::recordings_of_tracks(conn, catalog.no, &mine)?,
                    holding,
                });
            }
            "recording" => {
                let isrc = Isrc::parse(&row.scope_key)
                    .map_err(|e| DbError::Corrupt(format!("holding override {}: {e:?}", row.id)))?;
                by_hand.insert(isrc.key());
                overrides.push(HoldingOverride {
                    tracks: RecordingSet::from_keys([isrc.key()]),
                    holding,
                });
            }
            "delivery" => {
                let tracks = row.delivered_recordings()?.ok_or_else(|| {
                    DbError::Corrupt(format!("delivered holding {} has no recordings", row.id))
                })?;
                delivered.push(HoldingOverride { tracks, holding });
            }
            other => {
                return Err(DbError::Corrupt(format!("unknown holding scope `{other}`")).into())
            }
        }
    }
    for mut o in delivered {
        o.tracks.subtract(&by_hand);
        overrides.push(o);
    }
    // Catalogs created before holdings had history have no version row: their
    // columns are the holding.
    let default = match default {
        Some(h) => h,
        None => holding_from(
            &catalog.territories,
            &catalog.usages,
            catalog.holding_start,
            catalog.holding_end,
            catalog.sublicensable,
            true,
        )?,
    };
    Ok(Backing {
        default,
        overrides,
        upstream: None,
    })
}

/// A self-declared holding version as the domain reads it.
pub fn holding_of_version(row: &HoldingVersionRow) -> Result<Holding, DbError> {
    holding_from(
        &row.territories,
        &row.usages,
        row.start_date,
        row.end_date,
        row.sublicensable,
        true,
    )
}

/// Every way `backing` falls short of `scope`, with the recordings concerned.
pub fn shortfall(backing: &Backing, scope: &GrantScope) -> Option<(RecordingSet, Vec<HoldingGap>)> {
    let mut found = uncovered(&backing.default, &backing.overrides, scope);
    if let Some(upstream) = &backing.upstream {
        for (since, lost) in &upstream.ended {
            if *since > scope.period.end {
                continue;
            }
            let mine = scope.tracks.intersection(lost);
            if mine.is_empty() {
                continue;
            }
            let gap = HoldingGap::BackingEnded {
                upstream_grant_id: upstream.grant_id.clone(),
                since: *since,
                track_count: mine.len(),
            };
            match &mut found {
                Some((tracks, gaps)) => {
                    tracks.union_with(&mine);
                    gaps.push(gap);
                }
                None => found = Some((mine, vec![gap])),
            }
        }
    }
    found
}

/// One grant whose backing ended, found by a walk.
struct Loss {
    grant: GrantSummary,
    cause: LossCause,
    upstream_grant_id: Option<String>,
    catalog_id: String,
    lost: RecordingSet,
    lost_from: NaiveDate,
    detail: String,
}

/// After `grant` ended (terminated or completed, in the caller's transaction):
/// marks everything granted from its rights, to any depth. How many grants were marked.
pub fn grant_ended(
    conn: &mut DbConnection,
    grant: &GrantSummary,
    at: NaiveDateTime,
) -> Result<usize, DealError> {
    let all = catalogs::decode_recordings(
        deals::grant_recordings(conn, &grant.id)?.as_deref(),
        "grant",
        &grant.id,
    )?;
    let status = stored::<GrantStatus>("grants.status", &grant.status)?;
    let start = vec![(
        grant.clone(),
        all,
        grant.end_date + TimeDelta::days(1),
        format!("grant {} was {}", grant.id, status.as_str()),
        LossCause::UpstreamGrantEnded,
    )];
    walk(conn, start, at)
}

/// After a self-declared holding of `catalog` changed (in the caller's
/// transaction): marks the active grants cut from it that it no longer covers
/// from `today` on, and everything granted from theirs. How many were marked.
pub fn holding_changed(
    conn: &mut DbConnection,
    catalog: &Catalog,
    today: NaiveDate,
    at: NaiveDateTime,
) -> Result<usize, DealError> {
    let mut losses = Vec::new();
    for grant in deals::active_grants_of_catalog(conn, &catalog.id)? {
        if grant.end_date < today {
            continue;
        }
        let Some(slice) = catalogs::find_slice(conn, &grant.slice_id)? else {
            return Err(DbError::Corrupt(format!("grant {} has no slice", grant.id)).into());
        };
        let backing = backing(conn, catalog, &slice.id)?;
        let scope = GrantScope {
            // The grant's recordings are its frozen slice's.
            tracks: std::sync::Arc::new(slice.recording_set()?),
            territories: stored_json("grants.territories", &grant.territories)?,
            usages: stored_json("grants.usages", &grant.usages)?,
            period: Period::new(grant.start_date.max(today), grant.end_date)
                .map_err(|e| DbError::Corrupt(format!("grant period: {e}")))?,
            exclusive: grant.exclusive,
        };
        let Some((lost, gaps)) = uncovered(&backing.default, &backing.overrides, &scope) else {
            continue;
        };
        // A holding that now ends early leaves the grant covered until then.
        let lost_from = gaps
            .iter()
            .map(|g| match g {
                HoldingGap::Period { held, .. } if held.end >= scope.period.start => {
                    held.end + TimeDelta::days(1)
                }
                _ => scope.period.start,
            })
            .min()
            .unwrap_or(scope.period.start);
        let detail = describe_gaps(&gaps);
        losses.push(Loss {
            grant,
            cause: LossCause::HoldingCut,
            upstream_grant_id: None,
            catalog_id: catalog.id.clone(),
            lost,
            lost_from,
            detail: format!("catalog {}'s holding changed: {detail}", catalog.name),
        });
    }
    let mut start = Vec::new();
    for loss in losses {
        let marked = (
            loss.grant.clone(),
            loss.lost.clone(),
            loss.lost_from,
            format!("grant {} lost its backing", loss.grant.id),
            LossCause::UpstreamBackingLost,
        );
        record(conn, &loss, at)?;
        start.push(marked);
    }
    let first = start.len();
    Ok(first + walk(conn, start, at)?)
}

/// Breadth-first from grants whose rights (some recordings, from a day) ended:
/// every active grant cut from a catalog received through one of them loses the
/// same recordings it holds, from the same day or its own start.
fn walk(
    conn: &mut DbConnection,
    start: Vec<(GrantSummary, RecordingSet, NaiveDate, String, LossCause)>,
    at: NaiveDateTime,
) -> Result<usize, DealError> {
    let mut visited: HashSet<String> = start.iter().map(|(g, ..)| g.id.clone()).collect();
    let mut queue: VecDeque<_> = start.into();
    let mut marked = 0;
    while let Some((upstream, lost, from, why, cause)) = queue.pop_front() {
        for catalog in catalogs::catalogs_backed_by(conn, &upstream.id)? {
            for grant in deals::active_grants_of_catalog(conn, &catalog.id)? {
                if grant.end_date < from || !visited.insert(grant.id.clone()) {
                    continue;
                }
                let held = catalogs::decode_recordings(
                    deals::grant_recordings(conn, &grant.id)?.as_deref(),
                    "grant",
                    &grant.id,
                )?;
                let mine = held.intersection(&lost);
                if mine.is_empty() {
                    continue;
                }
                let lost_from = from.max(grant.start_date);
                let loss = Loss {
                    grant: grant.clone(),
                    cause,
                    upstream_grant_id: Some(upstream.id.clone()),
                    catalog_id: catalog.id.clone(),
                    lost: mine.clone(),
                    lost_from,
                    detail: why.clone(),
                };
                record(conn, &loss, at)?;
                marked += 1;
                queue.push_back((
                    grant.clone(),
                    mine,
                    lost_from,
                    format!("{why}, and grant {} lost its backing with it", grant.id),
                    LossCause::UpstreamBackingLost,
                ));
            }
        }
    }
    Ok(marked)
}

/// Stores one loss and tells both parties of the grant's deal.
fn record(conn: &mut DbConnection, loss: &Loss, at: NaiveDateTime) -> Result<(), DealError> {
    let sample: Vec<String> = loss
        .lost
        .isrcs()
        .take(CONFLICT_SAMPLE_SIZE)
        .map(Isrc::into_string)
        .collect();
    deals::insert_backing_loss(
        conn,
        &BackingLossRow {
            id: new_id(),
            grant_id: loss.grant.id.clone(),
            cause: loss.cause.to_string(),
            upstream_grant_id: loss.upstream_grant_id.clone(),
            catalog_id: loss.catalog_id.clone(),
            track_count: loss.lost.len() as i64,
            sample_isrcs: serde_json::to_string(&sample)
                .map_err(|e| DbError::Corrupt(format!("sample: {e}")))?,
            recordings: loss.lost.to_bytes(),
            lost_from: loss.lost_from,
            detail: loss.detail.clone(),
            created_at: at,
        },
    )?;
    let deal = deals::find_deal(conn, &loss.grant.deal_id)?
        .ok_or_else(|| DbError::Corrupt(format!("grant {} has no deal", loss.grant.id)))?;
    crate::db::audit::AuditEvent::new("grant.backing_lost", "grant", Some(&loss.grant.id))
        .by(Some(&deal.licensor_org_id), None)
        .after(serde_json::json!({
            "cause": loss.cause, "upstream_grant_id": loss.upstream_grant_id,
            "track_count": loss.lost.len(), "lost_from": loss.lost_from,
        }))
        .write(conn)?;
    let event = Event::GrantBackingLost {
        deal: DealRef {
            id: deal.id.clone(),
            name: deal.name.clone(),
        },
        grant_id: loss.grant.id.clone(),
        upstream_grant_id: loss.upstream_grant_id.clone(),
        track_count: loss.lost.len(),
        lost_from: loss.lost_from,
        detail: loss.detail.clone(),
    };
    super::schedule::tell_parties(conn, &deal, &event, true, false)
}

/// One line naming what a holding no longer covers.
pub fn describe_gaps(gaps: &[HoldingGap]) -> String {
    gaps.iter()
        .map(|g| match g {
            HoldingGap::NotSublicensable => "not sublicensable".to_string(),
            HoldingGap::Period { held, .. } => format!("held only {held}"),
            HoldingGap::Territories { missing, .. } => {
                format!("{} not held", missing.to_list().join(", "))
            }
            HoldingGap::Usages { missing, .. } => format!(
                "{} not held",
                missing
                    .iter()
                    .map(|u| u.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            HoldingGap::Exclusivity => "not held exclusively".to_string(),
            HoldingGap::BackingEnded {
                upstream_grant_id,
                since,
                ..
            } => format!("upstream grant {upstream_grant_id} ended its backing on {since}"),
        })
        .collect::<Vec<_>>()
        .join("; ")
}
