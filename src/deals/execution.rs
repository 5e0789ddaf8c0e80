//! Execution: what happens when the second signature lands. In the signing
//! transaction, after the licensor's lock: the licensor must hold every right
//! the deal grants (and may sublicense), and no grant the licensor made from
//! *any* of its catalogs may conflict (see `domain::grant`): rights are per
//! recording (ISRC), so the same recording imported into two catalogs is one
//! recording. On success the grant and the payment schedule are written; on
//! failure nothing is.
//!
//! The same checks run as advice on submit, counter and accept.

use chrono::NaiveDateTime;
use serde::Serialize;

use super::{chain, DealError};
use crate::db::catalogs::{self, Catalog, Slice, SliceHead};
use crate::db::deals::{self, DealRow, GrantRow, InstallmentRow};
use crate::db::{grant_recordings_cache, new_id, DbConnection, DbError};
use crate::domain::grant::{
    blocking, blocks, conflict_report_on, shared_recordings, GrantScope, GrantStatus, HoldingGap,
    RightsQuery, CONFLICT_SAMPLE_SIZE,
};
use crate::domain::installment::InstallmentStatus;
use crate::domain::isrc::Isrc;
use crate::domain::period::Period;
use crate::domain::recording::RecordingSet;
use crate::domain::terms::{TermSheet, TermsContext};
use crate::domain::territory::Territories;
use crate::domain::trackset::TrackSet;
use crate::domain::usage::Usages;
use crate::domain::ValidationErrors;
use std::sync::Arc;

/// Threads that unite the recordings of the grants a deal is checked against
/// when this node has not united them yet.
const UNION_THREADS: usize = 2;

/// Everything execution needs, loaded once.
pub struct Plan {
    pub slice: SliceHead,
    pub catalog: Catalog,
    pub scope: GrantScope,
}

/// One existing grant in a conflict report.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ConflictingGrant {
    pub grant_id: String,
    /// Tracks of the new deal this grant also covers.
    pub track_count: u64,
    /// Where they overlap: shared territories, usages and days.
    #[schema(value_type = Vec<String>)]
    pub territories: Territories,
    #[schema(value_type = Vec<String>)]
    pub usages: Usages,
    pub period: Period,
    pub exclusive: bool,
}

/// Why a deal cannot execute (or, as advice, would not).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ExecutionReport {
    /// Rights the licensor does not hold (or may not sublicense), each
    /// dimension once: for a catalog received through a grant, what that
    /// upstream grant does not pass on.
    pub holding_gaps: Vec<HoldingGap>,
    /// The grant the slice's catalog was received through, when it was: the
    /// rights every gap above is measured against.
    pub upstream_grant_id: Option<String>,
    /// Distinct tracks of the deal whose holding falls short.
    pub unheld_track_count: u64,
    /// A sample of those tracks' ISRCs.
    pub unheld_sample_isrcs: Vec<String>,
    /// Distinct tracks of the deal already granted in a conflicting way.
    pub conflicting_track_count: u64,
    /// A sample of those tracks' ISRCs.
    pub sample_isrcs: Vec<String>,
    pub conflicting_grants: Vec<ConflictingGrant>,
}

impl ExecutionReport {
    pub fn is_clear(&self) -> bool {
        self.holding_gaps.is_empty() && self.conflicting_grants.is_empty()
    }

    /// One sentence naming what stops execution: the first conflicting grant,
    /// the upstream grant and each dimension that falls short.
    pub fn summary(&self) -> String {
        let mut parts = Vec::new();
        if let Some(first) = self.conflicting_grants.first() {
            let others = match self.conflicting_grants.len() - 1 {
                0 => String::new(),
                1 => " and 1 other grant".to_string(),
                n => format!(" and {n} other grants"),
            };
            parts.push(format!(
                "{} track(s) are already granted by grant {}{others} for overlapping territories, usages and days",
                self.conflicting_track_count, first.grant_id
            ));
        }
        if !self.holding_gaps.is_empty() {
            let held = match &self.upstream_grant_id {
                Some(id) => format!("upstream grant {id}"),
                None => "the catalog's holding".to_string(),
            };
            parts.push(format!(
                "{} track(s) are not covered by {held}: {}",
                self.unheld_track_count,
                chain::describe_gaps(&self.holding_gaps)
            ));
        }
        format!("the deal cannot execute: {}", parts.join("; "))
    }
}

fn corrupt(what: &str, e: impl std::fmt::Display) -> DealError {
    DealError::Database(DbError::Corrupt(format!("{what}: {e}")))
}

/// The catalog's holding as terms must fit in it (`crate::catalogs::terms_context`).
pub fn terms_context(
    conn: &mut DbConnection,
    catalog: &Catalog,
    slice: &Slice,
) -> Result<TermsContext, DealError> {
    Ok(crate::catalogs::terms_context(conn, catalog, slice)?)
}

/// The licensor's slice named by the terms, with its catalog; a slice of anyone
/// else is reported on the field, exactly like a missing one.
pub fn licensor_slice(
    conn: &mut DbConnection,
    licensor_org_id: &str,
    slice_id: &str,
) -> Result<(Slice, Catalog), DealError> {
    let slice = catalogs::find_owned_slice(conn, licensor_org_id, slice_id)?
        .ok_or_else(not_a_licensor_slice)?;
    let catalog =
        catalogs::find_catalog(conn, &slice.catalog_id)?.ok_or_else(not_a_licensor_slice)?;
    Ok((slice, catalog))
}

/// A slice of anyone else is reported on the field, exactly like a missing one.
fn not_a_licensor_slice() -> DealError {
    DealError::Validation(ValidationErrors::single(
        "terms.slice_id",
        "is not a slice of the licensor's catalogs",
    ))
}

pub fn plan(
    conn: &mut DbConnection,
    licensor_org_id: &str,
    terms: &TermSheet,
) -> Result<Plan, DealError> {
    let slice = catalogs::find_owned_slice_head(conn, licensor_org_id, terms.slice_id())?
        .ok_or_else(not_a_licensor_slice)?;
    let catalog =
        catalogs::find_catalog(conn, &slice.catalog_id)?.ok_or_else(not_a_licensor_slice)?;
    // A slice's recordings never change: decoded once per node, by content hash.
    let tracks = grant_recordings_cache::recordings_named(&slice.content_hash, || {
        catalogs::slice_recordings(conn, &slice.id)
    })?;
    let scope = GrantScope {
        tracks,
        territories: terms.territories().clone(),
        usages: terms.usages().clone(),
        period: terms.period(),
        exclusive: terms.exclusive(),
    };
    Ok(Plan {
        slice,
        catalog,
        scope,
    })
}

/// One grant the licensor made that could collide with a wanted one.
pub struct CollidingGrant {
    pub id: String,
    /// The catalog it was cut from (availability reads its track ids there).
    pub catalog_id: String,
    pub scope: GrantScope,
}

/// The grants a licensor made, from any of its catalogs, whose rights window
/// overlaps `wanted` where exclusivity matters, with their recordings, in id
/// order. Dates and exclusivity are filtered in SQL, territories and usages here,
/// and only the survivors' recording sets are loaded, in bulk. Used by the
/// execution check and the availability endpoint.
pub fn grants_that_could_collide(
    conn: &mut DbConnection,
    licensor_org_id: &str,
    wanted: &RightsQuery,
) -> Result<Vec<CollidingGrant>, DealError> {
    let candidates = deals::grants_overlapping(
        conn,
        licensor_org_id,
        wanted.period.start,
        wanted.period.end,
        wanted.exclusive,
    )?;
    let mut windows = std::collections::HashMap::new();
    for grant in candidates {
        let territories: Territories = serde_json::from_str(&grant.territories)
            .map_err(|e| corrupt("grant territories", e))?;
        let usages: Usages =
            serde_json::from_str(&grant.usages).map_err(|e| corrupt("grant usages", e))?;
        if !territories.intersects(&wanted.territories) || !usages.intersects(&wanted.usages) {
            continue;
        }
        let period = Period::new(grant.start_date, grant.end_date)
            .map_err(|e| corrupt("grant period", e))?;
        windows.insert(
            grant.id,
            (
                grant.catalog_id,
                territories,
                usages,
                period,
                grant.exclusive,
            ),
        );
    }
    // Recording sets never change once written: decoded ones come from this
    // node's cache, and only the others are loaded, in bulk.
    let mut sets = std::collections::HashMap::new();
    let missing: Vec<String> = windows
        .keys()
        .filter(|id| match grant_recordings_cache::get(id) {
            Some(set) => {
                sets.insert((*id).clone(), set);
                false
            }
            None => true,
        })
        .cloned()
        .collect();
    for (id, bytes) in deals::grant_recordings_many(conn, &missing)? {
        let set = Arc::new(catalogs::decode_recordings(bytes.as_deref(), "grant", &id)?);
        if let Some(bytes) = &bytes {
            grant_recordings_cache::put(&id, set.clone(), bytes.len());
        }
        sets.insert(id, set);
    }
    let mut found = Vec::with_capacity(windows.len());
    for (id, (catalog_id, territories, usages, period, exclusive)) in windows {
        let tracks = sets
            .remove(&id)
            .ok_or_else(|| corrupt("grant recordings", format!("grant {id} has none")))?;
        found.push(CollidingGrant {
            id,
            catalog_id,
            scope: GrantScope {
                tracks,
                territories,
                usages,
                period,
                exclusive,
            },
        });
    }
    found.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(found)
}

/// The tracks of `catalog` that could still be granted with `wanted`: its
/// tracks minus those whose recording any grant of its owner (from any catalog)
/// blocks. A grant cut from this catalog subtracts its own track ids; one from
/// another catalog subtracts the tracks of this catalog with the same ISRCs.
pub fn available_tracks(
    conn: &mut DbConnection,
    catalog: &Catalog,
    wanted: &RightsQuery,
) -> Result<TrackSet, DealError> {
    let mut free = catalogs::catalog_tracks(conn, catalog.no)?;
    let blocking: Vec<CollidingGrant> =
        grants_that_could_collide(conn, &catalog.organization_id, wanted)?
            .into_iter()
            .filter(|grant| blocks(wanted, &grant.scope))
            .collect();
    let (here, others): (Vec<&CollidingGrant>, Vec<&CollidingGrant>) = blocking
        .iter()
        .partition(|grant| grant.catalog_id == catalog.id);
    let here: Vec<String> = here.into_iter().map(|grant| grant.id.clone()).collect();
    let elsewhere = RecordingSet::union_of(others.iter().map(|grant| &*grant.scope.tracks));
    for (_, bytes) in deals::grant_tracks_many(conn, &here)? {
        free.subtract(&catalogs::decode_set(&bytes)?);
    }
    if !elsewhere.is_empty() {
        let shared = elsewhere.intersection(&catalogs::catalog_recordings(conn, catalog.no)?);
        let keys: Vec<i64> = shared.keys().collect();
        let ids = catalogs::track_ids_for_isrc_keys(conn, catalog.no, &keys)?;
        free.subtract(
            &ids.into_iter()
                .filter_map(|(_, id)| u32::try_from(id).ok())
                .collect(),
        );
    }
    Ok(free)
}

/// Holding and exclusivity checks. The holding is what backs the slice's
/// catalog (see `chain`): the self-declared holding with its overrides, or the
/// upstream grant of a received catalog. Grants are pre-filtered by dates and
/// exclusivity in SQL and by territories and usages here, so only the
/// recording sets of grants that could conflict are loaded.
pub fn check(conn: &mut DbConnection, plan: &Plan) -> Result<ExecutionReport, DealError> {
    let backing = chain::backing(conn, &plan.catalog, &plan.slice.id)?;
    let (holding_gaps, unheld) = match chain::shortfall(&backing, &plan.scope) {
        Some((tracks, gaps)) => (gaps, tracks),
        None => (Vec::new(), RecordingSet::new()),
    };
    let scope = &plan.scope;
    let existing = grants_that_could_collide(conn, &plan.catalog.organization_id, &scope.rights())?;
    let blocking = blocking(scope, existing.iter().map(|g| (g.id.as_str(), &g.scope)));
    // What the deal's recordings share with the blocking grants' is a function of
    // sets that never change: kept per node, so the executing signature finds what
    // the accept (or submit) already worked out against the same grants.
    let shared = grant_recordings_cache::shared_with_union(
        &plan.slice.content_hash,
        blocking.iter().map(|(id, _)| *id),
        || {
            let sets: Vec<&RecordingSet> = blocking.iter().map(|(_, g)| &*g.tracks).collect();
            RecordingSet::union_of_parallel(&sets, UNION_THREADS)
        },
        |union| shared_recordings(&scope.tracks, union),
    );
    let report = conflict_report_on(scope, blocking, &shared);
    let (conflicting_track_count, sample_isrcs, conflicting_grants) = match report {
        None => (0, Vec::new(), Vec::new()),
        Some(report) => {
            let sample = report
                .sample
                .iter()
                .filter_map(|&key| Isrc::from_key(key))
                .map(Isrc::into_string)
                .collect();
            let grants = report
                .conflicts
                .into_iter()
                .map(|(grant_id, c)| {
                    let exclusive = existing
                        .iter()
                        .find(|g| g.id == grant_id)
                        .is_some_and(|g| g.scope.exclusive);
                    ConflictingGrant {
                        grant_id: grant_id.to_string(),
                        track_count: c.track_count,
                        territories: c.territories,
                        usages: c.usages,
                        period: c.period,
                        exclusive,
                    }
                })
                .collect();
            (report.track_count, sample, grants)
        }
    };
    Ok(ExecutionReport {
        holding_gaps,
        upstream_grant_id: backing.upstream.map(|u| u.grant_id),
        unheld_track_count: unheld.len(),
        unheld_sample_isrcs: unheld
            .isrcs()
            .take(CONFLICT_SAMPLE_SIZE)
            .map(Isrc::into_string)
            .collect(),
        conflicting_track_count,
        sample_isrcs,
        conflicting_grants,
    })
}

/// Writes the grant (with the slice frozen) and the installment schedule.
pub fn execute(
    conn: &mut DbConnection,
    deal: &DealRow,
    plan: &Plan,
    terms: &TermSheet,
    terms_hash: &str,
    at: NaiveDateTime,
) -> Result<GrantRow, DealError> {
    catalogs::freeze_slice(conn, &plan.slice.id, at)?;
    let grant = GrantRow {
        id: new_id(),
        deal_id: deal.id.clone(),
        licensor_org_id: deal.licensor_org_id.clone(),
        licensee_org_id: deal.licensee_org_id.clone(),
        catalog_id: plan.catalog.id.clone(),
        slice_id: plan.slice.id.clone(),
        track_count: plan.scope.tracks.len() as i64,
        tracks_hash: plan.slice.content_hash.clone(),
        territories: serde_json::to_string(terms.territories())
            .map_err(|e| corrupt("territories", e))?,
        usages: serde_json::to_string(terms.usages()).map_err(|e| corrupt("usages", e))?,
        start_date: terms.period().start,
        end_date: terms.period().end,
        exclusive: terms.exclusive(),
        sublicensable: terms.sublicensable(),
        terms_hash: terms_hash.to_string(),
        status: GrantStatus::Active.to_string(),
        terminated_at: None,
        termination_reason: None,
        created_at: at,
    };
    deals::insert_grant(conn, &grant)?;
    let currency = terms.currency();
    let today = at.date();
    let rows = terms
        .installments()
        .iter()
        .enumerate()
        .map(|(i, inst)| {
            Ok(InstallmentRow {
                id: new_id(),
                deal_id: deal.id.clone(),
                grant_id: grant.id.clone(),
                seq: i as i32 + 1,
                due_date: inst.due_date,
                currency: currency.code().to_string(),
                amount_minor: currency
                    .to_minor_units(inst.amount)
                    .map_err(|e| corrupt("installment amount", e))?,
                paid_minor: 0,
                status: InstallmentStatus::on(inst.due_date, 0, 1, today).to_string(),
                overdue_notified: false,
                created_at: at,
                updated_at: at,
            })
        })
        .collect::<Result<Vec<_>, DealError>>()?;
    deals::insert_installments(conn, &rows)?;
    if let Some(request_id) = &deal.request_id {
        // The request is answered: it leaves the marketplace with the deal's execution.
        crate::db::marketplace::close_request(conn, request_id, at)?;
    }
    Ok(grant)
}
