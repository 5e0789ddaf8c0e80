//! `cadenza bench signing`: the executing signature of an exclusive deal against
//! many overlapping grants, the worst case of the exclusivity check.

use super::*;

/// `cadenza bench signing`: the second signature of an exclusive deal over a slice of
/// about a tenth of the catalog, checked against `existing` grants of the same
/// catalog whose rights windows all overlap it (so every one of their track sets is
/// loaded and intersected: the worst case for the exclusivity check).
#[allow(clippy::too_many_arguments)] // the command line's options, one by one
pub fn run_signing_bench(
    database_url: &str,
    tracks: u64,
    existing: usize,
    received: usize,
    runs: usize,
    work_dir: &Path,
    out: &mut dyn Write,
) -> Result<(), BenchError> {
    use crate::db::deals::{insert_grant, GrantRow};
    use crate::deals::{self, Member, Origin, Payload};
    use crate::domain::deal::{Action, Party};
    use crate::domain::role::Role;
    use crate::domain::terms::TermSheetInput;

    let target = DatabaseTarget::parse(database_url)?;
    writeln!(
        out,
        "## Signing benchmark: {tracks}-track catalog, {existing} existing grants, on {}\n",
        target.describe()
    )?;
    let db = Db::connect(&target, 2)?;
    let mut conn = db.conn()?;
    let at = now();
    let mut org = |name: &str| -> Result<Organization, BenchError> {
        let o = Organization {
            id: new_id(),
            name: name.into(),
            kind: "platform".into(),
            created_at: at,
        };
        accounts::insert_organization(&mut conn, &o)?;
        Ok(o)
    };
    let licensor = org("Bench Licensor")?;
    let licensee = org("Bench Licensee")?;
    // The main catalog, and two smaller ones of the same licensor (a label feed
    // and a back catalogue imported separately): grants from all three share
    // one exclusivity ledger, so all are checked.
    let mut imported = Vec::new();
    for (size, seed) in [
        (tracks, 7),
        ((tracks / 10).max(1_000), 11),
        ((tracks / 10).max(1_000), 12),
    ] {
        imported.push(import_generated(
            &mut conn,
            &licensor.id,
            size,
            seed,
            work_dir,
        )?);
    }
    let catalog = imported[0].clone();

    // The deal's slice: the biggest labels up to a tenth of the catalog.
    let labels_by_size = catalogs::top_postings(&mut conn, catalog.no, "label", 10_000)?;
    let (mut head, mut covered) = (Vec::new(), 0);
    for (label, count) in &labels_by_size {
        if covered >= catalog.track_count / 10 {
            break;
        }
        covered += count;
        head.push(label.clone());
    }
    let slice_of = |conn: &mut DbConnection,
                    catalog: &catalogs::Catalog,
                    labels: Vec<String>,
                    name: &str|
     -> Result<catalogs::Slice, BenchError> {
        let selector = Selector {
            labels: Some(labels),
            ..Selector::default()
        }
        .validate()
        .map_err(|e| BenchError::Setup(format!("{e:?}")))?;
        let set = evaluate_on(conn, catalog, &selector)?;
        let slice =
            crate::catalogs::slices::new_slice(conn, catalog, name.into(), "{}".into(), &set)?;
        catalogs::insert_slice(conn, &slice)?;
        Ok(slice)
    };
    let started = Instant::now();
    let big = slice_of(&mut conn, &catalog, head.clone(), "head labels")?;
    let slice_cut = started.elapsed();
    let big_recordings = big.recording_set()?;

    // Existing grants, spread over the three catalogs: tail labels whose
    // recordings are disjoint from the deal's, CN, long terms, non-exclusive.
    let mut tails = Vec::new();
    for (n, c) in imported.iter().enumerate() {
        let tail: Vec<String> = catalogs::top_postings(&mut conn, c.no, "label", 10_000)?
            .into_iter()
            .map(|(l, _)| l)
            .filter(|l| n > 0 || !head.contains(l))
            .collect();
        if tail.is_empty() {
            return Err(BenchError::Setup("a catalog has too few labels".into()));
        }
        tails.push(tail);
    }
    let fixture = |conn: &mut DbConnection,
                   i: usize,
                   from: &Organization,
                   to: &Organization,
                   slice: &catalogs::Slice|
     -> Result<(), BenchError> {
        // An executed deal row for the grant to belong to.
        let deal_id = new_id();
        crate::db::deals::insert_deal(
            conn,
            &crate::db::deals::DealRow {
                id: deal_id.clone(),
                name: format!("fixture {i}"),
                licensor_org_id: from.id.clone(),
                licensee_org_id: to.id.clone(),
                opened_by: "licensee".into(),
                offer_id: None,
                request_id: None,
                catalog_id: slice.catalog_id.clone(),
                state: "executed".into(),
                turn: None,
                revision: 1,
                agreed_revision: Some(1),
                version: 1,
                respond_by: None,
                expiring_notified: false,
                created_at: at,
                updated_at: at,
            },
        )?;
        insert_grant(
            conn,
            &GrantRow {
                id: new_id(),
                deal_id,
                licensor_org_id: from.id.clone(),
                licensee_org_id: to.id.clone(),
                catalog_id: slice.catalog_id.clone(),
                slice_id: slice.id.clone(),
                track_count: slice.track_count,
                tracks_hash: slice.content_hash.clone(),
                territories: r#"["CN"]"#.into(),
                usages: r#"["interactive_streaming"]"#.into(),
                start_date: chrono::NaiveDate::from_ymd_opt(2027, 1, 1).unwrap_or_default(),
                end_date: chrono::NaiveDate::from_ymd_opt(2050, 12, 31).unwrap_or_default(),
                exclusive: false,
                sublicensable: false,
                terms_hash: "bench".into(),
                status: crate::domain::grant::GrantStatus::Active.to_string(),
                terminated_at: None,
                termination_reason: None,
                created_at: now(),
            },
        )
        .map_err(|e| BenchError::Setup(format!("grant fixture: {e}")))?;
        Ok(())
    };
    let mut made = 0;
    let mut i = 0;
    while made < existing {
        let n = i % imported.len();
        let tail = &tails[n];
        let label = tail[(i / imported.len()) % tail.len()].clone();
        i += 1;
        if i > existing * 20 {
            return Err(BenchError::Setup("too few disjoint labels".into()));
        }
        let slice = slice_of(&mut conn, &imported[n], vec![label], "tail label")?;
        // Another catalog's label may share recordings with the deal: skipped,
        // so that the deal can execute and every grant is a full check.
        if !slice.recording_set()?.is_disjoint(&big_recordings) {
            continue;
        }
        fixture(&mut conn, made, &licensor, &licensee, &slice)?;
        made += 1;
    }
    // Rights the licensor received from another platform (which the deal's
    // catalog does not rest on).
    let upstream = org_upstream(&mut conn, at)?;
    for r in 0..received {
        let slice = slice_of(
            &mut conn,
            &imported[1 + r % 2],
            vec![tails[1 + r % 2][r % tails[1 + r % 2].len()].clone()],
            "received",
        )?;
        fixture(&mut conn, existing + r, &upstream, &licensor, &slice)?;
    }
    writeln!(out, "| measurement | result |\n| --- | --- |")?;
    writeln!(
        out,
        "| deal slice | {} tracks of {} |",
        big.track_count, catalog.track_count
    )?;
    writeln!(
        out,
        "| deal slice cut (selector, track ids → ISRCs, hash) | {} |",
        ms(slice_cut)
    )?;
    writeln!(
        out,
        "| existing grants overlapping the deal's window | {existing}, over 3 catalogs ({}, {} and {} tracks) |",
        imported[0].track_count, imported[1].track_count, imported[2].track_count
    )?;
    writeln!(out, "| grants the licensor received | {received} |")?;

    let member = |org: &Organization, role: Role| Member {
        user_id: new_id(),
        name: "Bench".into(),
        organization_id: org.id.clone(),
        role,
    };
    let licensor_member = member(&licensor, Role::Owner);
    let licensee_member = member(&licensee, Role::Owner);
    // The bench measures the exclusivity check, not the operator's market rules.
    let no_rules = crate::domain::market_rules::MarketRules::none();
    let mut samples = Vec::new();
    let mut cold = Vec::new();
    for run in 0..runs {
        // Each run licenses another year, so earlier runs' grants never collide with it.
        let year = 2030 + run as i32;
        let terms = TermSheetInput {
            slice_id: big.id.clone(),
            territories: vec!["CN".into()],
            usages: vec!["interactive_streaming".into()],
            start_date: format!("{year}-01-01"),
            end_date: format!("{year}-12-31"),
            exclusive: true,
            sublicensable: false,
            currency: "CNY".into(),
            upfront_fee: Some("1000000.00".into()),
            minimum_guarantee: None,
            per_stream_rate: None,
            revenue_share_percent: None,
            installments: vec![crate::domain::terms::InstallmentInput {
                due_date: format!("{year}-01-15"),
                amount: "1000000.00".into(),
            }],
            clauses: None,
            respond_by: None,
            tracks_hash: None,
            royalties: None,
        };
        let bench_err = |e: deals::DealError| BenchError::Setup(e.to_string());
        let opened = deals::open(
            &mut conn,
            &licensee_member,
            &no_rules,
            Origin::Direct {
                counterparty_id: licensor.id.clone(),
                role: Party::Licensee,
            },
            Some(terms),
            None,
        )
        .map_err(bench_err)?;
        let id = opened.deal.id.clone();
        let d = deals::transition(
            &mut conn,
            &licensee_member,
            &no_rules,
            &id,
            1,
            Action::Submit,
            Payload::default(),
        )
        .map_err(bench_err)?;
        // Accepting runs the same check as advice. With this node's unions
        // forgotten it is the cold check, timed on its own; the executing
        // signature then finds the union the accept built, as after any accept.
        crate::db::grant_recordings_cache::forget_unions();
        let accepting = Instant::now();
        let d = deals::transition(
            &mut conn,
            &licensor_member,
            &no_rules,
            &id,
            d.deal.version,
            Action::Accept,
            Payload::default(),
        )
        .map_err(bench_err)?;
        cold.push(accepting.elapsed());
        let hash = crate::db::deals::find_revision(&mut conn, &id, d.deal.revision)?
            .map(|r| r.terms_hash)
            .unwrap_or_default();
        let sign = |h: &str| Payload {
            terms_hash: Some(h.to_string()),
            ..Payload::default()
        };
        let d = deals::transition(
            &mut conn,
            &licensee_member,
            &no_rules,
            &id,
            d.deal.version,
            Action::Sign,
            sign(&hash),
        )
        .map_err(bench_err)?;
        let started = Instant::now();
        let done = deals::transition(
            &mut conn,
            &licensor_member,
            &no_rules,
            &id,
            d.deal.version,
            Action::Sign,
            sign(&hash),
        )
        .map_err(bench_err)?;
        samples.push(started.elapsed());
        if done.grant_id.is_none() {
            return Err(BenchError::Setup("the deal did not execute".into()));
        }
    }
    samples.sort();
    cold.sort();
    writeln!(
        out,
        "| licensor's accept with its advice (the same check, union not yet kept), p50 of {runs} | {} |",
        ms(cold[cold.len() / 2])
    )?;
    writeln!(
        out,
        "| executing signature, p50 of {runs} | {} |",
        ms(samples[samples.len() / 2])
    )?;
    writeln!(
        out,
        "| executing signature, max | {} |",
        ms(samples[samples.len() - 1])
    )?;
    Ok(())
}

/// The platform the licensor received rights from.
fn org_upstream(
    conn: &mut DbConnection,
    at: chrono::NaiveDateTime,
) -> Result<Organization, BenchError> {
    let o = Organization {
        id: new_id(),
        name: "Bench Upstream".into(),
        kind: "platform".into(),
        created_at: at,
    };
    accounts::insert_organization(conn, &o)?;
    Ok(o)
}
