//! `cadenza bench seed-marketplace`: a marketplace at realistic scale for the
//! browse load test.

use super::*;

/// What `cadenza bench seed-marketplace` builds.
#[derive(Debug, Clone)]
pub struct MarketSeed {
    pub organizations: usize,
    pub tracks_per_catalog: u64,
    pub offers_per_organization: usize,
    /// Password of every seeded owner (`bench+NN@cadenza.test`).
    pub password: String,
}

/// Seeds a marketplace at realistic scale for the browse load test
/// (docs/performance.md): `organizations` platforms, each with one catalog of
/// generated tracks and `offers_per_organization` published offers of slices cut by
/// genre, by label group, by release dates, or the whole catalog; one offer in ten
/// is targeted at the next organization. Prints what a load generator needs.
pub fn seed_marketplace(
    database_url: &str,
    seed: &MarketSeed,
    out: &mut dyn Write,
) -> Result<(), BenchError> {
    use crate::db::marketplace::{self as market, Offer};
    use crate::domain::listing::{OfferState, Visibility};
    use crate::domain::period::Period;
    use crate::domain::terms::{InstallmentInput, TermSheet, TermSheetInput, TermsContext};
    use crate::domain::territory::Territories;
    use crate::domain::usage::Usages;

    let target = DatabaseTarget::parse(database_url)?;
    let db = Db::connect(&target, 2)?;
    let mut conn = db.conn()?;
    let password_hash = crate::auth::password::hash(&seed.password)
        .map_err(|e| BenchError::Setup(e.to_string()))?;
    let territory_sets: [&[&str]; 5] = [
        &["worldwide"],
        &["CN", "HK", "TW"],
        &["US", "CA", "MX"],
        &["DE", "FR", "GB", "SE"],
        &["JP", "KR"],
    ];
    let usages = [
        "interactive_streaming",
        "non_interactive_streaming",
        "download",
    ];
    let currencies = ["USD", "EUR", "CNY"];
    let genres = [
        "Pop",
        "Hip-Hop",
        "Rock",
        "Electronic",
        "R&B",
        "Mandopop",
        "Jazz",
    ];
    let holding_start = chrono::NaiveDate::from_ymd_opt(2020, 1, 1).unwrap_or_default();
    let holding_end = chrono::NaiveDate::from_ymd_opt(2040, 12, 31).unwrap_or_default();
    let expires_at = chrono::NaiveDate::from_ymd_opt(2030, 1, 1)
        .unwrap_or_default()
        .and_hms_opt(0, 0, 0)
        .unwrap_or_default();
    let started = Instant::now();
    let mut org_ids = Vec::new();
    for i in 0..seed.organizations {
        let at = now();
        let org = Organization {
            id: new_id(),
            name: format!("Platform {:02}", i + 1),
            kind: "platform".into(),
            created_at: at,
        };
        accounts::insert_organization(&mut conn, &org)?;
        accounts::insert_user(
            &mut conn,
            &accounts::User {
                id: new_id(),
                organization_id: org.id.clone(),
                email: format!("bench+{:02}@cadenza.test", i + 1),
                name: format!("Owner {:02}", i + 1),
                password_hash: password_hash.clone(),
                role: "owner".into(),
                created_at: at,
                updated_at: at,
            },
        )?;
        org_ids.push(org.id);
    }
    let mut offers_written = 0usize;
    let mut tracks_written = 0u64;
    for (i, org_id) in org_ids.iter().enumerate() {
        let territories = territory_sets[i % territory_sets.len()];
        let at = now();
        let catalog = catalogs::insert_catalog(
            &mut conn,
            &NewCatalog {
                id: new_id(),
                organization_id: org_id.clone(),
                name: format!("Catalog of Platform {:02}", i + 1),
                territories: serde_json::to_string(territories)
                    .map_err(|e| BenchError::Setup(e.to_string()))?,
                usages: serde_json::to_string(&usages)
                    .map_err(|e| BenchError::Setup(e.to_string()))?,
                holding_start,
                holding_end,
                sublicensable: true,
                track_count: 0,
                created_at: at,
                updated_at: at,
                recordings: Some(crate::domain::recording::RecordingSet::new().to_bytes()),
                backing_grant_id: None,
            },
        )?;
        let mut csv = Vec::with_capacity(seed.tracks_per_catalog as usize * 96);
        generate_catalog(
            &mut csv,
            seed.tracks_per_catalog,
            i as u64 + 1,
            ImportFormat::Csv,
        )?;
        let report = import::import_tracks(
            &mut conn,
            &catalog,
            None,
            std::io::Cursor::new(csv),
            ImportFormat::Csv,
            chrono::Utc::now().date_naive(),
            &mut (),
        )?;
        tracks_written += report.imported;
        let catalog = catalogs::find_catalog(&mut conn, &catalog.id)?
            .ok_or_else(|| BenchError::Setup("catalog vanished".into()))?;
        let labels: Vec<String> = catalogs::top_postings(&mut conn, catalog.no, "label", 400)?
            .into_iter()
            .map(|(label, _)| label)
            .collect();
        let ctx = TermsContext {
            territories: Territories::parse_list(
                &territories
                    .iter()
                    .map(|t| t.to_string())
                    .collect::<Vec<_>>(),
            )
            .map_err(|e| BenchError::Setup(format!("{e:?}")))?,
            usages: Usages::parse_list(&usages.map(String::from))
                .map_err(|e| BenchError::Setup(format!("{e:?}")))?,
            period: Period::new(holding_start, holding_end)
                .map_err(|e| BenchError::Setup(e.to_string()))?,
            sublicensable: true,
            exclusive: true,
            upstream: None,
            tracks_hash: String::new(),
        };
        for j in 0..seed.offers_per_organization {
            let selector = match j % 4 {
                0 => Selector {
                    genres: Some(vec![genres[j % genres.len()].to_string()]),
                    ..Selector::default()
                },
                1 => Selector {
                    labels: Some(labels.iter().skip(j * 7 % 300).take(40).cloned().collect()),
                    ..Selector::default()
                },
                2 => Selector {
                    released_from: chrono::NaiveDate::from_ymd_opt(2010 + (j % 10) as i32, 1, 1),
                    released_to: chrono::NaiveDate::from_ymd_opt(2024, 12, 31),
                    ..Selector::default()
                },
                _ => Selector::default(),
            }
            .validate()
            .map_err(|e| BenchError::Setup(format!("{e:?}")))?;
            let set = evaluate_on(&mut conn, &catalog, &selector)?;
            let slice = crate::catalogs::slices::new_slice(
                &mut conn,
                &catalog,
                format!("Slice {j}"),
                serde_json::to_string(&selector.to_selector())
                    .map_err(|e| BenchError::Setup(e.to_string()))?,
                &set,
            )?;
            catalogs::insert_slice(&mut conn, &slice)?;
            let fee = format!("{}.00", 50_000 + (i * 7919 + j * 104_729) % 5_000_000);
            let input = TermSheetInput {
                slice_id: slice.id.clone(),
                territories: territories.iter().map(|t| t.to_string()).collect(),
                usages: usages[..1 + j % 3].iter().map(|u| u.to_string()).collect(),
                start_date: "2027-01-01".into(),
                end_date: "2029-12-31".into(),
                exclusive: j % 5 == 0,
                sublicensable: false,
                currency: currencies[(i + j) % currencies.len()].into(),
                upfront_fee: Some(fee.clone()),
                minimum_guarantee: None,
                per_stream_rate: Some("0.0040".into()),
                revenue_share_percent: None,
                installments: vec![InstallmentInput {
                    due_date: "2027-01-15".into(),
                    amount: fee,
                }],
                clauses: None,
                respond_by: None,
                tracks_hash: None,
                royalties: None,
            };
            let ctx = TermsContext {
                tracks_hash: slice.content_hash.clone(),
                ..ctx.clone()
            };
            let sheet = TermSheet::parse(&input, &ctx, chrono::Utc::now())
                .map_err(|e| BenchError::Setup(format!("{e:?}")))?;
            let currency = sheet.currency();
            let at = now();
            let offer = Offer {
                id: new_id(),
                organization_id: org_id.clone(),
                slice_id: slice.id.clone(),
                catalog_id: catalog.id.clone(),
                catalog_no: catalog.no,
                title: format!("Platform {:02} offer {j}", i + 1),
                terms: sheet.canonical_json(),
                territories: serde_json::to_string(sheet.territories())
                    .map_err(|e| BenchError::Setup(e.to_string()))?,
                usages: serde_json::to_string(sheet.usages())
                    .map_err(|e| BenchError::Setup(e.to_string()))?,
                exclusive: sheet.exclusive(),
                currency: currency.code().into(),
                asking_minor: currency
                    .to_minor_units(sheet.scheduled_total())
                    .map_err(|e| BenchError::Setup(e.to_string()))?,
                track_count: slice.track_count,
                sample_track_ids: serde_json::to_string(&set.sample(market::SAMPLE_TRACKS))
                    .map_err(|e| BenchError::Setup(e.to_string()))?,
                start_date: sheet.period().start,
                end_date: sheet.period().end,
                visibility: if j % 10 == 9 {
                    Visibility::Targeted
                } else {
                    Visibility::Public
                }
                .as_str()
                .into(),
                status: OfferState::Published.as_str().into(),
                expires_at,
                created_at: at,
                published_at: Some(at),
                updated_at: at,
            };
            let facets = market::slice_facets(&mut conn, &offer.id, catalog.no, &set)?;
            let targets = if j % 10 == 9 {
                vec![org_ids[(i + 1) % org_ids.len()].clone()]
            } else {
                Vec::new()
            };
            crate::db::write_transaction(&mut conn, |conn| {
                market::insert_offer(conn, &offer, &targets, &facets)
            })?;
            offers_written += 1;
        }
        writeln!(
            out,
            "catalog {}/{}: {} tracks, {} offers so far ({:.0} s)",
            i + 1,
            org_ids.len(),
            catalog.track_count,
            offers_written,
            started.elapsed().as_secs_f64()
        )?;
    }
    // An ISRC every catalog generated with seed 1 has: the first row of catalog 1.
    let first = catalogs::find_catalog_of(&mut conn, &org_ids[0])?;
    let probe = match first {
        Some(no) => catalogs::tracks_by_ids(&mut conn, no, &[0])?
            .first()
            .and_then(|r| Isrc::from_key(r.isrc_key))
            .map(Isrc::into_string),
        None => None,
    };
    writeln!(
        out,
        "seeded {} organizations, {} tracks, {} offers in {:.0} s\nlogin: bench+01@cadenza.test / {}\nprobe ISRC: {}",
        org_ids.len(),
        tracks_written,
        offers_written,
        started.elapsed().as_secs_f64(),
        seed.password,
        probe.unwrap_or_default()
    )?;
    Ok(())
}
