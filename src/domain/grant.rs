//! Rights overlap: the heart of the exclusivity invariant ("no track is ever
//! exclusively granted twice for an overlapping territory, usage and period").
//!
//! # Overlap rule
//!
//! Two grants **conflict** when at least one of them is exclusive AND they
//! share at least one track AND at least one territory AND at least one usage
//! AND at least one day (periods are inclusive at both ends, so a grant ending
//! 2027-12-31 and one starting 2027-12-31 overlap; one starting 2028-01-01 does
//! not). Two non-exclusive grants never conflict. `Worldwide` shares every
//! place with any territory list.
//!
//! The cheap dimensions (exclusivity, dates, territories, usages) are checked
//! before the track bitmaps are intersected, and the intersection is only
//! materialized when there is a conflict to report.
//!
//! Tracks are recordings ([`RecordingSet`], by ISRC): grants made from
//! different catalogs, or by different organizations along a chain of title,
//! compare directly, so re-importing an ISRC into another catalog never opens a
//! way around exclusivity.
//!
//! # Holdings
//!
//! A licensor may only grant what it holds: its [`Holding`] (the catalog's
//! holding terms, or a per-track override) must be sublicensable and cover the
//! grant's period, territories and usages. [`holding_covers`] names every
//! dimension that is not held; [`holding_covers_tracks`] applies per-track
//! overrides.

use std::sync::Arc;

use serde::Serialize;

use crate::domain::period::Period;
use crate::domain::recording::RecordingSet;
use crate::domain::territory::Territories;
use crate::domain::usage::{Usage, Usages};

/// How many track ids a conflict or shortfall report carries as a sample.
pub const CONFLICT_SAMPLE_SIZE: usize = 20;

/// The rights of one grant (recorded at execution) or of a proposed one.
#[derive(Debug, Clone, PartialEq)]
pub struct GrantScope {
    /// Shared: an existing grant's set may come from the per-node cache.
    pub tracks: Arc<RecordingSet>,
    pub territories: Territories,
    pub usages: Usages,
    pub period: Period,
    pub exclusive: bool,
}

/// The rights asked about, without tracks: "which tracks could still be
/// licensed for this?" (the availability endpoint).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RightsQuery {
    pub territories: Territories,
    pub usages: Usages,
    pub period: Period,
    pub exclusive: bool,
}

impl GrantScope {
    /// The same rights without the tracks.
    pub fn rights(&self) -> RightsQuery {
        RightsQuery {
            territories: self.territories.clone(),
            usages: self.usages.clone(),
            period: self.period,
            exclusive: self.exclusive,
        }
    }
}

/// Where two grants collide: how many tracks (and the first few ids), and the
/// territories, usages and days they share.
#[derive(Debug, Clone, PartialEq)]
pub struct Conflict {
    pub track_count: u64,
    /// The smallest conflicting track ids, at most [`CONFLICT_SAMPLE_SIZE`].
    pub sample: Vec<i64>,
    pub territories: Territories,
    pub usages: Usages,
    pub period: Period,
}

/// The shared territories, usages and days of two rights windows when the
/// exclusivity rule makes their overlap matter; `None` otherwise. Tracks are
/// not looked at.
fn window_overlap(
    a_exclusive: bool,
    a: (&Territories, &Usages, &Period),
    b_exclusive: bool,
    b: (&Territories, &Usages, &Period),
) -> Option<(Territories, Usages, Period)> {
    if !a_exclusive && !b_exclusive {
        return None;
    }
    if !a.2.overlaps(b.2) || !a.0.intersects(b.0) || !a.1.intersects(b.1) {
        return None;
    }
    Some((
        a.0.intersection(b.0)?,
        a.1.intersection(b.1)?,
        a.2.intersection(b.2)?,
    ))
}

/// Whether `new` and `existing` conflict (see the module doc), and where.
/// Symmetric: `conflict(a, b)` and `conflict(b, a)` agree.
pub fn conflict(new: &GrantScope, existing: &GrantScope) -> Option<Conflict> {
    conflict_within(new, &new.tracks, existing)
}

/// [`conflict`], with `new`'s recordings narrowed to `tracks`: any subset of
/// them that still holds every recording `existing` could share.
fn conflict_within(
    new: &GrantScope,
    tracks: &RecordingSet,
    existing: &GrantScope,
) -> Option<Conflict> {
    let (territories, usages, period) = window_overlap(
        new.exclusive,
        (&new.territories, &new.usages, &new.period),
        existing.exclusive,
        (&existing.territories, &existing.usages, &existing.period),
    )?;
    let track_count = tracks.intersection_len(&existing.tracks);
    if track_count == 0 {
        return None;
    }
    let sample = tracks
        .intersection(&existing.tracks)
        .sample(CONFLICT_SAMPLE_SIZE);
    Some(Conflict {
        track_count,
        sample,
        territories,
        usages,
        period,
    })
}

/// Every conflict of `new` with existing grants, in the given order, with the
/// caller's key (a grant id) attached, plus how many distinct tracks are
/// affected overall.
#[derive(Debug, Clone, PartialEq)]
pub struct ConflictReport<K> {
    /// Distinct tracks of `new` in at least one conflict.
    pub track_count: u64,
    /// The smallest of those ids, at most [`CONFLICT_SAMPLE_SIZE`].
    pub sample: Vec<i64>,
    pub conflicts: Vec<(K, Conflict)>,
}

/// Checks `new` against every existing grant; `None` when nothing conflicts.
pub fn conflict_report<'a, K>(
    new: &GrantScope,
    existing: impl IntoIterator<Item = (K, &'a GrantScope)>,
) -> Option<ConflictReport<K>> {
    let blocking = blocking(new, existing);
    let union = RecordingSet::union_of(blocking.iter().map(|(_, g)| &*g.tracks));
    conflict_report_within(new, blocking, &union)
}

/// The existing grants whose rights windows `new` would collide with where
/// exclusivity matters (tracks aside), in the given order.
pub fn blocking<'a, K>(
    new: &GrantScope,
    existing: impl IntoIterator<Item = (K, &'a GrantScope)>,
) -> Vec<(K, &'a GrantScope)> {
    let rights = new.rights();
    existing
        .into_iter()
        .filter(|(_, grant)| blocks(&rights, grant))
        .collect()
}

/// [`conflict_report`] given the [`blocking`] grants and the union of their
/// recordings (which a caller may have kept from an earlier check: the usual
/// answer is "no conflict", found by meeting the new grant's recordings with
/// that union once instead of with each grant in turn, each pass over a big
/// scattered set costing its container count). Only grants sharing a recording
/// of that intersection are then looked at one by one, against it alone.
pub fn conflict_report_within<K>(
    new: &GrantScope,
    blocking: Vec<(K, &GrantScope)>,
    union_of_blocking: &RecordingSet,
) -> Option<ConflictReport<K>> {
    conflict_report_on(
        new,
        blocking,
        &shared_recordings(&new.tracks, union_of_blocking),
    )
}

/// The recordings of `tracks` that `union_of_blocking` also has. Disjointness is
/// answered without building anything (the usual case: empty).
pub fn shared_recordings(tracks: &RecordingSet, union_of_blocking: &RecordingSet) -> RecordingSet {
    if tracks.is_disjoint(union_of_blocking) {
        RecordingSet::new()
    } else {
        tracks.intersection(union_of_blocking)
    }
}

/// [`conflict_report_within`] given `shared`, the recordings of `new` that the
/// union of the blocking grants has ([`shared_recordings`]), which a caller may
/// have kept from an earlier check against the same grants.
pub fn conflict_report_on<K>(
    new: &GrantScope,
    blocking: Vec<(K, &GrantScope)>,
    shared: &RecordingSet,
) -> Option<ConflictReport<K>> {
    if shared.is_empty() {
        return None;
    }
    let mut conflicts = Vec::new();
    for (key, grant) in blocking {
        if let Some(c) = conflict_within(new, shared, grant) {
            conflicts.push((key, c));
        }
    }
    Some(ConflictReport {
        track_count: shared.len(),
        sample: shared.sample(CONFLICT_SAMPLE_SIZE),
        conflicts,
    })
}

/// Whether an existing grant keeps its recordings from being granted with
/// `wanted` (the overlap rule, tracks aside).
pub fn blocks(wanted: &RightsQuery, grant: &GrantScope) -> bool {
    window_overlap(
        wanted.exclusive,
        (&wanted.territories, &wanted.usages, &wanted.period),
        grant.exclusive,
        (&grant.territories, &grant.usages, &grant.period),
    )
    .is_some()
}

/// The recordings of `catalog_all` that could still be granted with `wanted`:
/// the catalog minus the recordings of every existing grant that would
/// conflict with such a grant.
pub fn available<'a>(
    catalog_all: &RecordingSet,
    wanted: &RightsQuery,
    existing: impl IntoIterator<Item = &'a GrantScope>,
) -> RecordingSet {
    let mut out = catalog_all.clone();
    for grant in existing {
        if blocks(wanted, grant) {
            out.subtract(&grant.tracks);
            if out.is_empty() {
                break;
            }
        }
    }
    out
}

/// What a licensor holds in (some of) its tracks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holding {
    pub territories: Territories,
    pub usages: Usages,
    pub period: Period,
    pub sublicensable: bool,
    /// Whether it may be granted on exclusively: a self-declared holding may be
    /// (Cadenza cannot see outside itself); rights received through a grant only
    /// when that grant was exclusive.
    pub exclusive: bool,
}

/// Where a grant stands: in force, ended early by termination, or run to its end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum GrantStatus {
    Active,
    Terminated,
    Completed,
}

crate::domain::stored::stored_enum! {
    GrantStatus { Active = "active", Terminated = "terminated", Completed = "completed" }
    unknown struct UnknownGrantStatus = "unknown grant status `{0}`"
}

/// Why a grant lost (some of) its backing.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Deserialize, Serialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum LossCause {
    /// The grant its rights were received through was terminated or ran out.
    UpstreamGrantEnded,
    /// The self-declared holding it was cut from no longer covers it.
    HoldingCut,
    /// A grant further up the chain ended or lost its own backing.
    UpstreamBackingLost,
}

crate::domain::stored::stored_enum! {
    LossCause {
        UpstreamGrantEnded = "upstream_grant_ended",
        HoldingCut = "holding_cut",
        UpstreamBackingLost = "upstream_backing_lost",
    }
    unknown struct UnknownLossCause = "unknown backing loss cause `{0}`"
}

/// One dimension of a grant that the holding does not cover.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(tag = "dimension", rename_all = "snake_case")]
pub enum HoldingGap {
    /// The holding may not be sublicensed at all.
    NotSublicensable,
    /// The grant's period is not inside the holding period.
    Period { held: Period, wanted: Period },
    /// Territories asked for but not held. `missing` is `["worldwide"]` when a
    /// worldwide grant is asked of a holding limited to a list.
    Territories {
        held: Territories,
        missing: Territories,
    },
    /// Usages asked for but not held.
    Usages { held: Usages, missing: Vec<Usage> },
    /// An exclusive grant asked of rights received non-exclusively.
    Exclusivity,
    /// The grant the rights were received through ended, or lost its own
    /// backing further up the chain, from `since`, for `track_count` of the
    /// tracks asked for.
    BackingEnded {
        upstream_grant_id: String,
        since: chrono::NaiveDate,
        track_count: u64,
    },
}

fn missing_territories(held: &Territories, wanted: &Territories) -> Territories {
    match (held, wanted) {
        (Territories::Only(h), Territories::Only(w)) => {
            Territories::only(w.difference(h).copied().collect()).unwrap_or_else(|| wanted.clone())
        }
        _ => wanted.clone(),
    }
}

/// Whether `holding` covers `scope` (tracks aside): sublicensable, and the
/// period, territories and usages all held, and exclusivity where asked. On
/// failure, every gap, in the order sublicensable, period, territories,
/// usages, exclusivity (never empty).
pub fn holding_covers(holding: &Holding, scope: &GrantScope) -> Result<(), Vec<HoldingGap>> {
    let mut gaps = Vec::new();
    if !holding.sublicensable {
        gaps.push(HoldingGap::NotSublicensable);
    }
    if !holding.period.contains(&scope.period) {
        gaps.push(HoldingGap::Period {
            held: holding.period,
            wanted: scope.period,
        });
    }
    if !holding.territories.covers(&scope.territories) {
        gaps.push(HoldingGap::Territories {
            held: holding.territories.clone(),
            missing: missing_territories(&holding.territories, &scope.territories),
        });
    }
    if !holding.usages.covers(&scope.usages) {
        gaps.push(HoldingGap::Usages {
            held: holding.usages.clone(),
            missing: scope
                .usages
                .iter()
                .filter(|u| !holding.usages.contains(*u))
                .collect(),
        });
    }
    if scope.exclusive && !holding.exclusive {
        gaps.push(HoldingGap::Exclusivity);
    }
    if gaps.is_empty() {
        Ok(())
    } else {
        Err(gaps)
    }
}

/// Tracks whose rights differ from the catalog's holding terms.
#[derive(Debug, Clone, PartialEq)]
pub struct HoldingOverride {
    pub tracks: RecordingSet,
    pub holding: Holding,
}

/// A group of the grant's tracks whose holding falls short.
#[derive(Debug, Clone, PartialEq)]
pub struct HoldingShortfall {
    pub track_count: u64,
    /// The smallest affected ids, at most [`CONFLICT_SAMPLE_SIZE`].
    pub sample: Vec<i64>,
    pub gaps: Vec<HoldingGap>,
}

/// [`holding_covers`] with per-track overrides: a track in an override is
/// judged by that override's holding (by every override it is in, if several),
/// every other track by the catalog's `default` holding. On failure, one
/// shortfall per holding that falls short, overrides first.
pub fn holding_covers_tracks(
    default: &Holding,
    overrides: &[HoldingOverride],
    scope: &GrantScope,
) -> Result<(), Vec<HoldingShortfall>> {
    let mut shortfalls = Vec::new();
    let mut rest = RecordingSet::clone(&scope.tracks);
    for o in overrides {
        if scope.tracks.is_disjoint(&o.tracks) {
            continue;
        }
        if let Err(gaps) = holding_covers(&o.holding, scope) {
            let affected = scope.tracks.intersection(&o.tracks);
            shortfalls.push(HoldingShortfall {
                track_count: affected.len(),
                sample: affected.sample(CONFLICT_SAMPLE_SIZE),
                gaps,
            });
        }
        rest.subtract(&o.tracks);
    }
    if !rest.is_empty() {
        if let Err(gaps) = holding_covers(default, scope) {
            shortfalls.push(HoldingShortfall {
                track_count: rest.len(),
                sample: rest.sample(CONFLICT_SAMPLE_SIZE),
                gaps,
            });
        }
    }
    if shortfalls.is_empty() {
        Ok(())
    } else {
        Err(shortfalls)
    }
}

/// The tracks of `scope` whose holding (an override's where they are in one,
/// `default` otherwise) falls short, with every gap found; `None` when all
/// are covered. What a holding cut takes away from an existing grant.
pub fn uncovered(
    default: &Holding,
    overrides: &[HoldingOverride],
    scope: &GrantScope,
) -> Option<(RecordingSet, Vec<HoldingGap>)> {
    // Holdings are judged before any track set is built: on the usual path
    // (everything held, no override) the scope's tracks are never copied.
    let mut lost = RecordingSet::new();
    let mut gaps: Vec<HoldingGap> = Vec::new();
    let keep = |found: Vec<HoldingGap>, gaps: &mut Vec<HoldingGap>| {
        for gap in found {
            if !gaps.contains(&gap) {
                gaps.push(gap);
            }
        }
    };
    let mut overridden = RecordingSet::new();
    for o in overrides {
        let mine = scope.tracks.intersection(&o.tracks);
        if mine.is_empty() {
            continue;
        }
        if let Err(found) = holding_covers(&o.holding, scope) {
            lost.union_with(&mine);
            keep(found, &mut gaps);
        }
        overridden.union_with(&mine);
    }
    if let Err(found) = holding_covers(default, scope) {
        let rest = scope.tracks.difference(&overridden);
        if !rest.is_empty() {
            lost.union_with(&rest);
            keep(found, &mut gaps);
        }
    }
    (!lost.is_empty()).then_some((lost, gaps))
}

/// How much of `offered` a platform already holds, per territory of `asked`:
/// each source (a catalog's holding or a received grant) counts in the
/// territories it covers. Territories come back in code order; a worldwide
/// `asked` is answered as one entry, `worldwide`, counting sources that hold
/// worldwide rights. Also the distinct recordings held from any source.
pub fn held_overlap(
    offered: &RecordingSet,
    asked: &Territories,
    sources: &[(Territories, RecordingSet)],
) -> (u64, Vec<(String, u64)>) {
    let mut any = RecordingSet::new();
    for (_, held) in sources {
        any.union_with(&offered.intersection(held));
    }
    let per = |covers: &dyn Fn(&Territories) -> bool| {
        let mut held_here = RecordingSet::new();
        for (_, held) in sources.iter().filter(|(t, _)| covers(t)) {
            held_here.union_with(&offered.intersection(held));
        }
        held_here.len()
    };
    let by_territory = match asked {
        Territories::Worldwide => vec![(
            "worldwide".to_string(),
            per(&|t: &Territories| t.is_worldwide()),
        )],
        Territories::Only(codes) => codes
            .iter()
            .map(|&code| {
                (
                    code.as_str().to_string(),
                    per(&|t: &Territories| t.contains(code)),
                )
            })
            .collect(),
    };
    (any.len(), by_territory)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::territory::Territory;
    use chrono::NaiveDate;
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("date")
    }

    fn period(a: &str, b: &str) -> Period {
        Period::new(d(a), d(b)).expect("period")
    }

    fn only(codes: &[&str]) -> Territories {
        Territories::only(
            codes
                .iter()
                .map(|c| Territory::parse(c).expect("code"))
                .collect(),
        )
        .expect("non-empty")
    }

    fn usages(list: &[Usage]) -> Usages {
        Usages::new(list.iter().copied().collect()).expect("non-empty")
    }

    fn tracks(ids: &[i64]) -> RecordingSet {
        ids.iter().copied().collect()
    }

    fn base() -> GrantScope {
        GrantScope {
            tracks: Arc::new(tracks(&[1, 2, 3, 4])),
            territories: only(&["CN", "HK"]),
            usages: usages(&[Usage::InteractiveStreaming, Usage::Download]),
            period: period("2027-01-01", "2027-12-31"),
            exclusive: true,
        }
    }

    #[test]
    fn overlapping_in_every_dimension_conflicts() {
        let other = GrantScope {
            tracks: Arc::new(tracks(&[3, 4, 5])),
            territories: only(&["HK", "US"]),
            usages: usages(&[Usage::Download, Usage::Video]),
            period: period("2027-06-01", "2028-05-31"),
            exclusive: false,
        };
        let c = conflict(&base(), &other).expect("conflict");
        assert_eq!(c.track_count, 2);
        assert_eq!(c.sample, vec![3, 4]);
        assert_eq!(c.territories, only(&["HK"]));
        assert_eq!(c.usages, usages(&[Usage::Download]));
        assert_eq!(c.period, period("2027-06-01", "2027-12-31"));
    }

    #[test]
    fn disjoint_tracks_prevent_a_conflict() {
        let other = GrantScope {
            tracks: Arc::new(tracks(&[5, 6])),
            ..base()
        };
        assert_eq!(conflict(&base(), &other), None);
    }

    #[test]
    fn disjoint_territories_prevent_a_conflict() {
        let other = GrantScope {
            territories: only(&["US"]),
            ..base()
        };
        assert_eq!(conflict(&base(), &other), None);
    }

    #[test]
    fn disjoint_usages_prevent_a_conflict() {
        let other = GrantScope {
            usages: usages(&[Usage::Sync]),
            ..base()
        };
        assert_eq!(conflict(&base(), &other), None);
    }

    #[test]
    fn disjoint_periods_prevent_a_conflict() {
        let other = GrantScope {
            period: period("2028-01-01", "2029-12-31"),
            ..base()
        };
        assert_eq!(conflict(&base(), &other), None);
    }

    #[test]
    fn boundary_days_are_inclusive() {
        let other = GrantScope {
            period: period("2027-12-31", "2029-12-31"),
            ..base()
        };
        let c = conflict(&base(), &other).expect("shares 2027-12-31");
        assert_eq!(c.period, period("2027-12-31", "2027-12-31"));
        let before = GrantScope {
            period: period("2025-01-01", "2027-01-01"),
            ..base()
        };
        assert!(conflict(&base(), &before).is_some());
    }

    #[test]
    fn two_non_exclusive_grants_never_conflict() {
        let a = GrantScope {
            exclusive: false,
            ..base()
        };
        assert_eq!(conflict(&a, &a.clone()), None);
        let b = GrantScope {
            exclusive: true,
            ..a.clone()
        };
        assert!(conflict(&a, &b).is_some());
        assert!(conflict(&b, &a).is_some());
    }

    #[test]
    fn worldwide_overlaps_any_list() {
        let other = GrantScope {
            territories: Territories::Worldwide,
            ..base()
        };
        let c = conflict(&base(), &other).expect("conflict");
        assert_eq!(c.territories, only(&["CN", "HK"]));
        let both = conflict(&other, &other.clone()).expect("conflict");
        assert_eq!(both.territories, Territories::Worldwide);
    }

    #[test]
    fn sample_is_bounded() {
        let a = GrantScope {
            tracks: Arc::new(RecordingSet::from_range(0..1_000)),
            ..base()
        };
        let c = conflict(&a, &a.clone()).expect("conflict");
        assert_eq!(c.track_count, 1_000);
        assert_eq!(
            c.sample,
            (0..CONFLICT_SAMPLE_SIZE as i64).collect::<Vec<_>>()
        );
    }

    #[test]
    fn report_counts_distinct_tracks_and_keeps_keys() {
        let g1 = GrantScope {
            tracks: Arc::new(tracks(&[1, 2, 9])),
            ..base()
        };
        let g2 = GrantScope {
            tracks: Arc::new(tracks(&[2, 3])),
            ..base()
        };
        let g3 = GrantScope {
            territories: only(&["US"]),
            ..base()
        };
        let report =
            conflict_report(&base(), [("g1", &g1), ("g2", &g2), ("g3", &g3)]).expect("report");
        assert_eq!(report.track_count, 3);
        assert_eq!(report.sample, vec![1, 2, 3]);
        let keys: Vec<&str> = report.conflicts.iter().map(|(k, _)| *k).collect();
        assert_eq!(keys, vec!["g1", "g2"]);
        assert!(conflict_report(&base(), [("g3", &g3)]).is_none());
    }

    #[test]
    fn availability_removes_only_blocking_grants() {
        let all = RecordingSet::from_range(0..10);
        let exclusive_cn = GrantScope {
            tracks: Arc::new(tracks(&[1, 2])),
            territories: only(&["CN"]),
            ..base()
        };
        let non_exclusive_cn = GrantScope {
            tracks: Arc::new(tracks(&[3])),
            territories: only(&["CN"]),
            exclusive: false,
            ..base()
        };
        let exclusive_us = GrantScope {
            tracks: Arc::new(tracks(&[4])),
            territories: only(&["US"]),
            ..base()
        };
        let grants = [exclusive_cn, non_exclusive_cn, exclusive_us];
        let non_exclusive_ask = RightsQuery {
            exclusive: false,
            ..base().rights()
        };
        // A non-exclusive ask is blocked by exclusive grants only.
        let got = available(&all, &non_exclusive_ask, &grants);
        assert_eq!(got.keys().collect::<Vec<_>>(), vec![0, 3, 4, 5, 6, 7, 8, 9]);
        // An exclusive ask is blocked by any overlapping grant.
        let got = available(&all, &base().rights(), &grants);
        assert_eq!(got.keys().collect::<Vec<_>>(), vec![0, 4, 5, 6, 7, 8, 9]);
        // A later period is free.
        let later = RightsQuery {
            period: period("2030-01-01", "2030-12-31"),
            ..base().rights()
        };
        assert_eq!(available(&all, &later, &grants), all);
    }

    fn holding() -> Holding {
        Holding {
            territories: only(&["CN", "HK", "MO"]),
            usages: usages(&[
                Usage::InteractiveStreaming,
                Usage::NonInteractiveStreaming,
                Usage::Download,
            ]),
            period: period("2026-01-01", "2030-12-31"),
            sublicensable: true,
            exclusive: true,
        }
    }

    #[test]
    fn received_rights_are_granted_exclusively_only_if_received_so() {
        let received = Holding {
            exclusive: false,
            ..holding()
        };
        assert_eq!(
            holding_covers(&received, &base()),
            Err(vec![HoldingGap::Exclusivity])
        );
        let shared = GrantScope {
            exclusive: false,
            ..base()
        };
        assert_eq!(holding_covers(&received, &shared), Ok(()));
    }

    #[test]
    fn overlap_counts_each_territory_from_the_sources_that_cover_it() {
        let offered = tracks(&[1, 2, 3, 4, 5]);
        let sources = vec![
            (only(&["JP"]), tracks(&[1, 2, 9])),
            (only(&["JP", "KR"]), tracks(&[2, 3])),
            (Territories::Worldwide, tracks(&[5])),
        ];
        let (held, by) = held_overlap(&offered, &only(&["JP", "KR", "TW"]), &sources);
        assert_eq!(held, 4);
        assert_eq!(
            by,
            vec![
                ("JP".to_string(), 4),
                ("KR".to_string(), 3), // 2, 3 and the worldwide 5
                ("TW".to_string(), 1)
            ]
        );
        let (_, by) = held_overlap(&offered, &Territories::Worldwide, &sources);
        assert_eq!(by, vec![("worldwide".to_string(), 1)]);
    }

    #[test]
    fn uncovered_names_the_tracks_a_cut_takes_away() {
        assert_eq!(uncovered(&holding(), &[], &base()), None);
        let cut = Holding {
            territories: only(&["HK"]),
            ..holding()
        };
        let (lost, gaps) = uncovered(&cut, &[], &base()).expect("CN is no longer held");
        assert_eq!(lost, *base().tracks);
        assert_eq!(gaps.len(), 1);
        // An override keeping CN for tracks 1 and 2 saves them.
        let keep = HoldingOverride {
            tracks: tracks(&[1, 2]),
            holding: holding(),
        };
        let (lost, _) = uncovered(&cut, std::slice::from_ref(&keep), &base()).expect("3, 4 lost");
        assert_eq!(lost.keys().collect::<Vec<_>>(), vec![3, 4]);
    }

    #[test]
    fn a_covering_holding_passes() {
        assert_eq!(holding_covers(&holding(), &base()), Ok(()));
        let exact = GrantScope {
            period: period("2026-01-01", "2030-12-31"),
            territories: only(&["CN", "HK", "MO"]),
            ..base()
        };
        assert_eq!(holding_covers(&holding(), &exact), Ok(()));
    }

    #[test]
    fn each_missing_dimension_is_named() {
        let h = Holding {
            sublicensable: false,
            ..holding()
        };
        assert_eq!(
            holding_covers(&h, &base()),
            Err(vec![HoldingGap::NotSublicensable])
        );
        let late = GrantScope {
            period: period("2030-06-01", "2031-01-01"),
            ..base()
        };
        assert_eq!(
            holding_covers(&holding(), &late),
            Err(vec![HoldingGap::Period {
                held: holding().period,
                wanted: late.period
            }])
        );
        let wider = GrantScope {
            territories: only(&["CN", "TW", "US"]),
            ..base()
        };
        assert_eq!(
            holding_covers(&holding(), &wider),
            Err(vec![HoldingGap::Territories {
                held: holding().territories,
                missing: only(&["TW", "US"])
            }])
        );
        let worldwide = GrantScope {
            territories: Territories::Worldwide,
            ..base()
        };
        assert_eq!(
            holding_covers(&holding(), &worldwide),
            Err(vec![HoldingGap::Territories {
                held: holding().territories,
                missing: Territories::Worldwide
            }])
        );
        let sync = GrantScope {
            usages: usages(&[Usage::Download, Usage::Sync, Usage::Video]),
            ..base()
        };
        assert_eq!(
            holding_covers(&holding(), &sync),
            Err(vec![HoldingGap::Usages {
                held: holding().usages,
                missing: vec![Usage::Video, Usage::Sync]
            }])
        );
    }

    #[test]
    fn all_gaps_are_reported_together() {
        let h = Holding {
            sublicensable: false,
            ..holding()
        };
        let scope = GrantScope {
            territories: only(&["US"]),
            usages: usages(&[Usage::Sync]),
            period: period("2020-01-01", "2020-12-31"),
            ..base()
        };
        let gaps = holding_covers(&h, &scope).expect_err("gaps");
        assert_eq!(gaps.len(), 4);
        let json = serde_json::to_value(&gaps[3]).expect("json");
        assert_eq!(json["dimension"], "usages");
        assert_eq!(json["missing"], serde_json::json!(["sync"]));
    }

    #[test]
    fn overrides_judge_their_own_tracks() {
        let narrow = HoldingOverride {
            tracks: tracks(&[2, 3, 50]),
            holding: Holding {
                territories: only(&["CN"]),
                ..holding()
            },
        };
        // base() wants CN+HK: tracks 2 and 3 are only held in CN.
        let err = holding_covers_tracks(&holding(), std::slice::from_ref(&narrow), &base())
            .expect_err("shortfall");
        assert_eq!(err.len(), 1);
        assert_eq!(err[0].track_count, 2);
        assert_eq!(err[0].sample, vec![2, 3]);
        // Without those tracks the grant is covered.
        let fine = GrantScope {
            tracks: Arc::new(tracks(&[1, 4])),
            ..base()
        };
        assert_eq!(
            holding_covers_tracks(&holding(), std::slice::from_ref(&narrow), &fine),
            Ok(())
        );
        // An override can also widen what is held for its tracks.
        let wide = HoldingOverride {
            tracks: tracks(&[1, 2, 3, 4]),
            holding: Holding {
                territories: Territories::Worldwide,
                ..holding()
            },
        };
        let everywhere = GrantScope {
            territories: Territories::Worldwide,
            ..base()
        };
        assert_eq!(
            holding_covers_tracks(&holding(), &[wide], &everywhere),
            Ok(())
        );
        assert!(holding_covers(&holding(), &everywhere).is_err());
    }

    // ---- properties ----

    const CODES: [&str; 4] = ["CN", "HK", "US", "FR"];

    fn arb_territories() -> impl Strategy<Value = Territories> {
        prop_oneof![
            1 => Just(Territories::Worldwide),
            4 => proptest::collection::btree_set(0usize..CODES.len(), 1..=3)
                .prop_map(|ix| only(&ix.into_iter().map(|i| CODES[i]).collect::<Vec<_>>())),
        ]
    }

    fn arb_usages() -> impl Strategy<Value = Usages> {
        proptest::collection::btree_set(0usize..Usage::ALL.len(), 1..=3)
            .prop_map(|ix| usages(&ix.into_iter().map(|i| Usage::ALL[i]).collect::<Vec<_>>()))
    }

    fn arb_period() -> impl Strategy<Value = Period> {
        (0i64..40, 0i64..15).prop_map(|(start, len)| {
            let s = d("2027-01-01") + chrono::Duration::days(start);
            Period::new(s, s + chrono::Duration::days(len)).expect("period")
        })
    }

    fn arb_scope() -> impl Strategy<Value = GrantScope> {
        (
            proptest::collection::btree_set(0i64..30, 0..12),
            arb_territories(),
            arb_usages(),
            arb_period(),
            any::<bool>(),
        )
            .prop_map(|(ids, territories, usages, period, exclusive)| GrantScope {
                tracks: Arc::new(ids.into_iter().collect()),
                territories,
                usages,
                period,
                exclusive,
            })
    }

    /// Places a territory list stands for in the naive model: worldwide is
    /// every test code plus somewhere no list names.
    fn places(t: &Territories) -> BTreeSet<&'static str> {
        match t {
            Territories::Worldwide => CODES.iter().copied().chain(["elsewhere"]).collect(),
            Territories::Only(set) => set.iter().map(|t| t.as_str()).collect(),
        }
    }

    fn days(p: &Period) -> BTreeSet<NaiveDate> {
        p.start
            .iter_days()
            .take_while(|day| *day <= p.end)
            .collect()
    }

    /// Naive cell check: a (track, place, usage, day) held by both.
    fn common_cells(a: &GrantScope, b: &GrantScope) -> usize {
        let tracks: BTreeSet<i64> = a.tracks.keys().filter(|t| b.tracks.contains(*t)).collect();
        let places = places(&a.territories)
            .intersection(&places(&b.territories))
            .count();
        let usages = a.usages.iter().filter(|u| b.usages.contains(*u)).count();
        let days = days(&a.period).intersection(&days(&b.period)).count();
        tracks.len() * places * usages * days
    }

    proptest! {
        #[test]
        fn conflict_is_symmetric(a in arb_scope(), b in arb_scope()) {
            prop_assert_eq!(conflict(&a, &b), conflict(&b, &a));
        }

        #[test]
        fn the_report_is_every_pairwise_conflict(new in arb_scope(), grants in proptest::collection::vec(arb_scope(), 0..5)) {
            let pairwise: Vec<(usize, Conflict)> = grants
                .iter()
                .enumerate()
                .filter_map(|(i, g)| conflict(&new, g).map(|c| (i, c)))
                .collect();
            let affected: BTreeSet<i64> = pairwise
                .iter()
                .flat_map(|(i, _)| new.tracks.keys().filter(|t| grants[*i].tracks.contains(*t)))
                .collect();
            match conflict_report(&new, grants.iter().enumerate()) {
                Some(report) => {
                    prop_assert_eq!(&report.conflicts, &pairwise);
                    prop_assert_eq!(report.track_count, affected.len() as u64);
                    prop_assert_eq!(report.sample, affected.iter().copied().take(CONFLICT_SAMPLE_SIZE).collect::<Vec<_>>());
                }
                None => prop_assert!(pairwise.is_empty()),
            }
        }

        #[test]
        fn conflict_matches_the_naive_cell_check(a in arb_scope(), b in arb_scope()) {
            let cells = common_cells(&a, &b);
            let any_exclusive = a.exclusive || b.exclusive;
            match conflict(&a, &b) {
                Some(c) => {
                    prop_assert!(any_exclusive);
                    prop_assert!(cells > 0);
                    let shared: Vec<i64> =
                        a.tracks.keys().filter(|t| b.tracks.contains(*t)).collect();
                    prop_assert_eq!(c.track_count, shared.len() as u64);
                    prop_assert_eq!(&c.sample, &shared[..shared.len().min(CONFLICT_SAMPLE_SIZE)]);
                    prop_assert_eq!(days(&c.period), days(&a.period).intersection(&days(&b.period)).copied().collect::<BTreeSet<_>>());
                }
                None => prop_assert!(!any_exclusive || cells == 0),
            }
        }

        #[test]
        fn available_tracks_never_conflict(
            all_ids in proptest::collection::btree_set(0i64..30, 0..30),
            existing in proptest::collection::vec(arb_scope(), 0..5),
            ask in arb_scope(),
        ) {
            let all: RecordingSet = all_ids.into_iter().collect();
            let free = available(&all, &ask.rights(), &existing);
            prop_assert!(free.is_subset(&all));
            let granted = GrantScope { tracks: Arc::new(free.clone()), ..ask.clone() };
            for g in &existing {
                prop_assert!(conflict(&granted, g).is_none());
            }
            // Maximal: every track left out would conflict with some grant.
            for t in all.difference(&free).keys() {
                let one = GrantScope { tracks: Arc::new(RecordingSet::from_keys([t])), ..ask.clone() };
                prop_assert!(existing.iter().any(|g| conflict(&one, g).is_some()));
            }
        }
    }
}
