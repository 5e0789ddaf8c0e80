//! The tamper-evident audit trail: chained in the change's transaction, read by owners
//! (filtered, paged, CSV), verified by `cadenza audit verify`, which names the first
//! broken link of a chain edited, cut or reordered directly in the database.

use cadenza::config::DatabaseSettings;
use cadenza::db::audit::ChainReport;
use cadenza::domain::audit_chain::{link_hash, Breach, EventContent, GENESIS};
use diesel::prelude::*;
use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{spawn_app, Backend, Session, TestApp, PASSWORD};
use crate::on_both_backends;

async fn login(app: &TestApp, email: &str) {
    app.post(
        "/api/v1/auth/login",
        None,
        &json!({"email": email, "password": PASSWORD}),
    )
    .await
    .assert_status(200);
}

fn database(app: &TestApp) -> DatabaseSettings {
    DatabaseSettings {
        data_dir: app.data_dir.clone(),
        database_url: Some(app.database_url.clone()),
        db_pool_size: 1,
    }
}

/// Runs `cadenza audit verify` against the test's database: its outcome and output.
fn verify(app: &TestApp) -> (Result<(), String>, String) {
    let mut out = Vec::new();
    let result = cadenza::cli::audit_verify(&database(app), &mut out);
    (result, String::from_utf8_lossy(&out).into_owned())
}

fn reports(app: &TestApp) -> Vec<ChainReport> {
    let mut conn = app.connection();
    cadenza::db::audit::verify_all(&mut conn).expect("verify")
}

fn report_of(app: &TestApp, organization_id: &str) -> ChainReport {
    reports(app)
        .into_iter()
        .find(|r| r.organization_id.as_deref() == Some(organization_id))
        .expect("the organization's chain")
}

/// The ids of an organization's events in chain order.
fn chain_ids(app: &TestApp, organization_id: &str) -> Vec<String> {
    use cadenza::db::schema::audit_events::dsl;
    dsl::audit_events
        .filter(dsl::organization_id.eq(organization_id))
        .order(dsl::seq.asc())
        .select(dsl::id)
        .load(&mut app.connection())
        .expect("ids")
}

async fn audit_page(app: &TestApp, session: &Session, query: &str) -> Value {
    app.get(
        &format!("/api/v1/audit{query}"),
        Some(&session.access_token),
    )
    .await
    .assert_status(200)
    .clone()
}

async fn the_trail_is_chained_and_read_by_owners(backend: Backend) {
    let app = spawn_app(backend).await;
    let owner = app.register("Chained Records", "owner@chained.test").await;
    let viewer = app
        .add_member(&owner, "viewer@chained.test", "viewer")
        .await;
    login(&app, "owner@chained.test").await;
    login(&app, "viewer@chained.test").await;

    // registered, invited, joined, two logins: five events, newest first, linked.
    let page = audit_page(&app, &owner, "").await;
    let items = page["items"].as_array().expect("items");
    let actions: Vec<&str> = items.iter().filter_map(|i| i["action"].as_str()).collect();
    assert_eq!(
        actions,
        [
            "auth.login",
            "auth.login",
            "member.joined",
            "member.invited",
            "organization.registered"
        ]
    );
    let seqs: Vec<i64> = items.iter().filter_map(|i| i["seq"].as_i64()).collect();
    assert_eq!(seqs, [5, 4, 3, 2, 1]);
    assert_eq!(items[4]["prev_hash"], json!(GENESIS));
    for pair in items.windows(2) {
        assert_eq!(pair[0]["prev_hash"], pair[1]["hash"], "{pair:?}");
    }
    assert_eq!(items[2]["after"]["role"], json!("viewer"));
    assert_eq!(page["next_cursor"], Value::Null);

    // The head is the newest event's hash.
    let head = app
        .get("/api/v1/audit/head", Some(&owner.access_token))
        .await;
    let head = head.assert_status(200);
    assert_eq!(head["seq"], json!(5));
    assert_eq!(head["hash"], items[0]["hash"]);

    // Filters: by actor, by subject, by time.
    let by_viewer = audit_page(&app, &owner, &format!("?actor={}", viewer.user_id)).await;
    let by_viewer: Vec<&str> = by_viewer["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|i| i["action"].as_str())
        .collect();
    assert_eq!(by_viewer, ["auth.login", "member.joined"]);
    let about_org = audit_page(
        &app,
        &owner,
        &format!(
            "?subject_type=organization&subject_id={}",
            owner.organization_id
        ),
    )
    .await;
    assert_eq!(about_org["items"].as_array().map(Vec::len), Some(1));
    let future = audit_page(&app, &owner, "?from=2999-01-01T00:00:00Z").await;
    assert_eq!(future["items"], json!([]));
    let past = audit_page(&app, &owner, "?to=2000-01-01T00:00:00Z").await;
    assert_eq!(past["items"], json!([]));
    app.get("/api/v1/audit?from=yesterday", Some(&owner.access_token))
        .await
        .assert_problem(400);

    // Paging: two at a time, no event twice, none lost.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let query = match &cursor {
            Some(c) => format!("?limit=2&cursor={c}"),
            None => "?limit=2".to_string(),
        };
        let page = audit_page(&app, &owner, &query).await;
        seen.extend(
            page["items"]
                .as_array()
                .expect("items")
                .iter()
                .filter_map(|i| i["seq"].as_i64()),
        );
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_string()),
            None => break,
        }
    }
    assert_eq!(seen, [5, 4, 3, 2, 1]);
    app.get(
        "/api/v1/audit?cursor=bm90LWEtbnVtYmVy",
        Some(&owner.access_token),
    )
    .await
    .assert_problem(400);

    // The CSV export: every chain field, the stored JSON text, hashes that recompute.
    let csv = app
        .get("/api/v1/audit.csv", Some(&owner.access_token))
        .await;
    csv.assert_status(200);
    assert!(csv.content_type().starts_with("text/csv"), "{csv:?}");
    let mut reader = csv::Reader::from_reader(csv.text.as_bytes());
    let header: Vec<String> = reader
        .headers()
        .expect("header")
        .iter()
        .map(str::to_string)
        .collect();
    assert_eq!(header, cadenza::api::audit::CSV_COLUMNS);
    let records: Vec<csv::StringRecord> = reader.records().map(|r| r.expect("row")).collect();
    assert_eq!(records.len(), 5);
    for record in &records {
        let field = |name: &str| {
            let i = header.iter().position(|h| h == name).expect("column");
            let cell = cadenza::api::csv_export::recover(&record[i]).to_string();
            cell
        };
        let optional = |name: &str| Some(field(name)).filter(|v| !v.is_empty());
        let content = EventContent {
            id: field("id"),
            organization_id: Some(owner.organization_id.clone()),
            seq: field("seq").parse().expect("seq"),
            actor_user_id: optional("actor_user_id"),
            action: field("action"),
            subject_type: field("subject_type"),
            subject_id: optional("subject_id"),
            before_json: optional("before_json"),
            after_json: optional("after_json"),
            created_at: chrono::DateTime::parse_from_rfc3339(&field("created_at"))
                .expect("time")
                .naive_utc(),
        };
        assert_eq!(
            link_hash(&content, &field("prev_hash")),
            field("hash"),
            "{record:?}"
        );
    }

    // Owners only; another organization sees only its own chain.
    let reply = app.get("/api/v1/audit", Some(&viewer.access_token)).await;
    reply.assert_problem(403);
    app.get("/api/v1/audit.csv", Some(&viewer.access_token))
        .await
        .assert_problem(403);
    app.get("/api/v1/audit/head", Some(&viewer.access_token))
        .await
        .assert_problem(403);
    app.get("/api/v1/audit", None).await.assert_problem(401);
    let other = app.register("Other Records", "owner@other.test").await;
    let theirs = audit_page(&app, &other, "").await;
    let theirs = theirs["items"].as_array().expect("items");
    assert_eq!(theirs.len(), 1);
    assert_eq!(theirs[0]["action"], json!("organization.registered"));
    assert_eq!(theirs[0]["seq"], json!(1));
    let filtered = audit_page(&app, &other, &format!("?actor={}", owner.user_id)).await;
    assert_eq!(filtered["items"], json!([]));

    let (result, out) = verify(&app);
    assert_eq!(result, Ok(()), "{out}");
    assert!(out.contains("intact"), "{out}");
}

/// Four organizations, each chain tampered with a different way, straight in the
/// database: `cadenza audit verify` names each first broken link by id.
async fn verify_names_each_tampered_link(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut orgs = Vec::new();
    for name in ["edited", "deleted", "reordered", "truncated", "intact"] {
        let owner = app
            .register(&format!("{name} org"), &format!("owner@{name}.test"))
            .await;
        for _ in 0..3 {
            login(&app, &format!("owner@{name}.test")).await;
        }
        orgs.push(owner.organization_id);
    }
    // A failed login for an unknown address goes to the platform chain.
    app.post(
        "/api/v1/auth/login",
        None,
        &json!({"email": "nobody@nowhere.test", "password": "wrong-password-1"}),
    )
    .await
    .assert_problem(401);
    let (result, out) = verify(&app);
    assert_eq!(result, Ok(()), "{out}");
    assert!(out.contains("platform"), "{out}");
    assert!(out.contains("6 audit chain(s) intact, 21 events"), "{out}");

    use cadenza::db::schema::audit_events::dsl;
    let mut conn = app.connection();

    // Edited: the second event's action rewritten.
    let edited = chain_ids(&app, &orgs[0]);
    diesel::update(dsl::audit_events.find(&edited[1]))
        .set(dsl::action.eq("auth.logout"))
        .execute(&mut conn)
        .expect("edit");

    // Deleted: the second event gone; its successor is the first broken link.
    let deleted = chain_ids(&app, &orgs[1]);
    diesel::delete(dsl::audit_events.find(&deleted[1]))
        .execute(&mut conn)
        .expect("delete");

    // Reordered: the second and third events swap places (through a free number, as
    // the unique index on (chain, seq) requires).
    let reordered = chain_ids(&app, &orgs[2]);
    for (id, seq) in [
        (&reordered[1], 1000),
        (&reordered[2], 2),
        (&reordered[1], 3),
    ] {
        diesel::update(dsl::audit_events.find(id))
            .set(dsl::seq.eq(Some(seq as i64)))
            .execute(&mut conn)
            .expect("reorder");
    }

    // Truncated: the last event gone; the recorded head still names it.
    let truncated = chain_ids(&app, &orgs[3]);
    diesel::delete(dsl::audit_events.find(&truncated[3]))
        .execute(&mut conn)
        .expect("delete the last");

    let (result, out) = verify(&app);
    let error = result.expect_err("tampering detected");
    assert!(error.contains("4 of 6 audit chain(s) broken"), "{error}");
    for (org, id) in [
        (&orgs[0], &edited[1]),
        (&orgs[1], &deleted[2]),
        (&orgs[2], &reordered[2]),
        (&orgs[3], &truncated[2]),
    ] {
        let line = out
            .lines()
            .find(|l| l.contains(org.as_str()))
            .expect("a line per chain");
        assert!(line.starts_with("BROKEN"), "{out}");
        assert!(line.contains(&format!("at event {id}")), "{line}");
    }
    assert!(matches!(
        report_of(&app, &orgs[0]).outcome.map_err(|b| b.breach),
        Err(Breach::Edited)
    ));
    assert!(matches!(
        report_of(&app, &orgs[1]).outcome.map_err(|b| b.breach),
        Err(Breach::OutOfSequence {
            expected: 2,
            found: 3
        })
    ));
    assert!(report_of(&app, &orgs[2]).outcome.is_err());
    assert!(matches!(
        report_of(&app, &orgs[3]).outcome.map_err(|b| b.breach),
        Err(Breach::HeadMismatch {
            head_seq: 4,
            last_seq: 3
        })
    ));
    let intact = report_of(&app, &orgs[4]).outcome.expect("untouched chain");
    assert_eq!(intact.events, 4);
}

/// Audit events appended at once to one organization's chain never fork it.
async fn concurrent_appends_keep_one_chain(backend: Backend) {
    let app = spawn_app(backend).await;
    let owner = app.register("Busy Records", "owner@busy.test").await;
    let invitations = (0..12).map(|i| {
        let body = json!({"email": format!("member{i}@busy.test"), "role": "viewer"});
        let token = owner.access_token.clone();
        let app = &app;
        async move {
            app.post("/api/v1/invitations", Some(&token), &body)
                .await
                .assert_status(201);
        }
    });
    futures_util::future::join_all(invitations).await;
    let report = report_of(&app, &owner.organization_id);
    assert_eq!(report.outcome.expect("intact").events, 13);
    assert_eq!(chain_ids(&app, &owner.organization_id).len(), 13);
}

/// Events written before the chain existed (no `seq`, no hashes) are chained at start,
/// oldest first, after the events already chained.
async fn unchained_events_are_chained_at_start(backend: Backend) {
    let app = spawn_app(backend).await;
    let owner = app.register("Old Records", "owner@old.test").await;
    let mut conn = app.connection();
    use cadenza::db::schema::audit_events::dsl;
    let base = cadenza::db::now();
    for (i, action) in ["legacy.first", "legacy.second"].iter().enumerate() {
        diesel::insert_into(dsl::audit_events)
            .values((
                dsl::id.eq(format!("legacy-{i}")),
                dsl::organization_id.eq(Some(&owner.organization_id)),
                dsl::action.eq(*action),
                dsl::subject_type.eq("organization"),
                dsl::created_at.eq(base + chrono::TimeDelta::seconds(i as i64)),
            ))
            .execute(&mut conn)
            .expect("an unchained row");
    }
    let report = report_of(&app, &owner.organization_id);
    let broken = report.outcome.expect_err("unchained rows are broken links");
    assert_eq!(broken.breach, Breach::Unchained);

    let (result, _) = verify(&app);
    assert!(result.is_err());
    cadenza::db::run_migrations(&mut conn).expect("start: migrations and backfills");
    let (result, out) = verify(&app);
    assert_eq!(result, Ok(()), "{out}");
    let page = app
        .request(
            Method::GET,
            "/api/v1/audit",
            Some(&owner.access_token),
            None,
        )
        .await;
    let actions: Vec<&str> = page.assert_status(200)["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|i| i["action"].as_str())
        .collect();
    assert_eq!(
        actions,
        ["legacy.second", "legacy.first", "organization.registered"]
    );
    // Nothing left to chain: a second start changes nothing.
    cadenza::db::run_migrations(&mut conn).expect("restart");
    assert_eq!(
        report_of(&app, &owner.organization_id)
            .outcome
            .map(|i| i.events),
        Ok(3)
    );
}

/// `AuditEvent::write` called outside any transaction opens its own, so the head lock
/// still covers the append.
async fn an_event_written_outside_a_transaction_is_chained(backend: Backend) {
    let app = spawn_app(backend).await;
    let owner = app.register("Loose Records", "owner@loose.test").await;
    let mut conn = app.connection();
    for i in 0..3 {
        cadenza::db::audit::AuditEvent::new("test.outside", "organization", None)
            .by(Some(&owner.organization_id), None)
            .after(json!({"i": i}))
            .write(&mut conn)
            .expect("written");
    }
    let report = report_of(&app, &owner.organization_id);
    assert_eq!(report.outcome.map(|i| i.events), Ok(4));
}

on_both_backends!(
    an_event_written_outside_a_transaction_is_chained,
    the_trail_is_chained_and_read_by_owners,
    verify_names_each_tampered_link,
    concurrent_appends_keep_one_chain,
    unchained_events_are_chained_at_start,
);
