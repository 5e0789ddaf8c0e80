//! The royalty statement lifecycle, on both backends: issued from a usage report,
//! disputed, answered by a corrected report, confirmed (frozen), paid in parts, swept
//! to due and overdue, with the mails of each step, the balances of the deal after
//! each one (computed by hand), the CSV, and who may see and do what.

use chrono::NaiveDate;
use serde_json::{json, Value};

use crate::deals::{market, terms, Market};
use crate::helpers::{Backend, Reply, TestApp};
use crate::on_both_backends;

on_both_backends!(
    statements_are_disputed_corrected_confirmed_paid_and_swept,
    a_per_period_guarantee_top_up_is_owed_once_confirmed,
);

const HEADER: &str =
    "territory,usage,licensed_streams,total_streams,gross_revenue,subscribers,isrc";

async fn upload(m: &Market, token: &str, grant: &str, period: &str, csv: &str) -> Reply {
    let response = m
        .app
        .client
        .post(m.app.url(&format!(
            "/api/v1/grants/{grant}/usage-reports?period_start={period}"
        )))
        .bearer_auth(token)
        .header("content-type", "text/csv")
        .body(csv.to_string())
        .send()
        .await
        .unwrap();
    TestApp::reply(response).await
}

fn q1(streams: u64) -> String {
    format!("{HEADER}\nCN,interactive_streaming,{streams},50000000,2000000.00,100000,\n")
}

async fn balances(app: &TestApp, token: &str, deal: &str) -> Value {
    app.get(&format!("/api/v1/deals/{deal}/balances"), Some(token))
        .await
        .assert_status(200)
        .clone()
}

/// Checks the named balances (the others are checked where they change).
#[track_caller]
fn assert_balances(b: &Value, expected: &[(&str, &str)]) {
    for (field, value) in expected {
        assert_eq!(b[*field], json!(value), "{field} in {b}");
    }
}

fn sweep_at(app: &TestApp, day: &str) -> usize {
    let at = day
        .parse::<NaiveDate>()
        .unwrap()
        .and_hms_opt(6, 0, 0)
        .unwrap();
    let mut conn = app.connection();
    cadenza::royalties::statements::sweep(&mut conn, at).unwrap()
}

fn today() -> String {
    chrono::Utc::now().date_naive().to_string()
}

/// CNY; a 1,000.00 fee and a 2,000.00 minimum guarantee (a recoupable advance,
/// guaranteed over the term) in one 3,000.00 installment; 0.0045 per stream, quarterly,
/// statements due 45 days after the quarter.
async fn statements_are_disputed_corrected_confirmed_paid_and_swept(backend: Backend) {
    let m = market(backend, true).await;
    let app = &m.app;
    let mut t = terms(&m.slice_id);
    t["upfront_fee"] = json!("1000.00");
    t["minimum_guarantee"] = json!("2000.00");
    t["installments"] = json!([{"due_date": "2027-01-15", "amount": "3000.00"}]);
    let deal = m.executed(m.agreed(&t).await).await;
    let deal_id = deal["id"].as_str().unwrap().to_string();
    let grant = deal["grant_id"].as_str().unwrap().to_string();
    let negotiator = app
        .add_member(&m.licensor, "negotiator@tme.test", "negotiator")
        .await;
    let viewer = app
        .add_member(&m.licensor, "viewer@tme.test", "viewer")
        .await;
    let outsider = app.register("Kugou", "owner@kugou.test").await;

    let before = balances(app, &m.licensee.access_token, &deal_id).await;
    assert_balances(
        &before,
        &[
            ("currency", "CNY"),
            ("advance", "2000.00"),
            ("advance_paid", "0.00"),
            ("recouped", "0.00"),
            ("unrecouped", "2000.00"),
            ("guarantee_top_up", "0.00"),
            ("royalties_payable", "0.00"),
            ("royalties_paid", "0.00"),
            ("royalties_outstanding", "0.00"),
            ("royalties_overdue", "0.00"),
            ("royalties_under_review", "0.00"),
            ("installments_total", "3000.00"),
            ("installments_paid", "0.00"),
            ("installments_outstanding", "3000.00"),
            ("total_owed", "3000.00"),
            ("total_paid", "0.00"),
            ("total_outstanding", "3000.00"),
        ],
    );

    // Q1: 1,000,000 streams × 0.0045 = 4,500.00 earned; 2,000.00 recoups the advance,
    // 2,500.00 payable. Issued: the licensor is told to review it.
    let first = upload(
        &m,
        &m.licensee.access_token,
        &grant,
        "2027-01-01",
        &q1(1_000_000),
    )
    .await;
    let s1 = first.assert_status(201)["statements"][0].clone();
    let s1_id = s1["id"].as_str().unwrap().to_string();
    assert_eq!(s1["status"], "issued");
    assert_eq!(s1["payable"], "2500.00");
    assert_eq!(s1["recouped"], "2000.00");
    assert_eq!(s1["balance"], "0.00");
    let issued = app.outbox_contexts("owner@tme.test", "statement_issued");
    assert_eq!(issued.len(), 1);
    assert_eq!(issued[0]["action_required"], true);
    assert_eq!(issued[0]["corrected"], false);
    assert_eq!(issued[0]["statement"]["amount"], "2500.00");
    assert_eq!(issued[0]["statement"]["due_date"], "2027-05-15");
    let seen = app.outbox_contexts("signer@netease.test", "statement_issued");
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0]["action_required"], false);
    // The uploader is not told about their own report.
    assert!(app
        .outbox_contexts("owner@netease.test", "statement_issued")
        .is_empty());
    let b = balances(app, &m.licensor.access_token, &deal_id).await;
    assert_balances(
        &b,
        &[
            ("royalties_under_review", "2500.00"),
            ("royalties_payable", "0.00"),
            ("recouped", "0.00"),
        ],
    );

    // Another organization sees nothing and can do nothing.
    let statement_path = format!("/api/v1/statements/{s1_id}");
    for path in [
        statement_path.clone(),
        format!("{statement_path}.csv"),
        format!("/api/v1/deals/{deal_id}/statements"),
        format!("/api/v1/deals/{deal_id}/balances"),
    ] {
        app.get(&path, Some(&outsider.access_token))
            .await
            .assert_problem(404);
    }
    let reason = json!({"reason": "CN streams look understated against our logs"});
    let pay = |amount: &str| json!({"amount": amount, "paid_on": today(), "reference": "WIRE-7"});
    for (action, body) in [
        ("dispute", reason.clone()),
        ("confirm", json!({})),
        ("payments", pay("1.00")),
    ] {
        app.post(
            &format!("{statement_path}/{action}"),
            Some(&outsider.access_token),
            &body,
        )
        .await
        .assert_problem(404);
        // The licensee reads but does not review or record; a viewer does nothing.
        app.post(
            &format!("{statement_path}/{action}"),
            Some(&m.licensee.access_token),
            &body,
        )
        .await
        .assert_problem(403);
        app.post(
            &format!("{statement_path}/{action}"),
            Some(&viewer.access_token),
            &body,
        )
        .await
        .assert_problem(403);
    }
    app.get(&statement_path, Some(&viewer.access_token))
        .await
        .assert_status(200);
    // Money only against a confirmed statement.
    app.post(
        &format!("{statement_path}/payments"),
        Some(&m.licensor.access_token),
        &pay("1.00"),
    )
    .await
    .assert_problem(409);

    // The licensor's negotiator disputes, with a reason; the licensee is told to answer.
    let empty = app
        .post(
            &format!("{statement_path}/dispute"),
            Some(&negotiator.access_token),
            &json!({"reason": "  "}),
        )
        .await;
    empty.assert_problem(422);
    assert_eq!(empty.error_fields(), vec!["reason".to_string()]);
    let disputed = app
        .post(
            &format!("{statement_path}/dispute"),
            Some(&negotiator.access_token),
            &reason,
        )
        .await;
    let disputed = disputed.assert_status(200).clone();
    assert_eq!(disputed["status"], "disputed");
    assert_eq!(disputed["disputed_reason"], reason["reason"]);
    assert_eq!(disputed["disputed_by"], json!(negotiator.user_id));
    app.post(
        &format!("{statement_path}/dispute"),
        Some(&negotiator.access_token),
        &reason,
    )
    .await
    .assert_problem(409);
    let told = app.outbox_contexts("owner@netease.test", "statement_disputed");
    assert_eq!(told.len(), 1);
    assert_eq!(told[0]["action_required"], true);
    assert_eq!(told[0]["reason"], reason["reason"]);
    assert_eq!(told[0]["counterparty"], "Tencent Music");
    // Confirming needs a signer.
    app.post(
        &format!("{statement_path}/confirm"),
        Some(&negotiator.access_token),
        &json!({}),
    )
    .await
    .assert_problem(403);

    // The licensee answers with a corrected report: 1,200,000 streams = 5,400.00
    // earned, 2,000.00 recouped, 3,400.00 payable, in a new issued statement.
    let corrected = upload(
        &m,
        &m.licensee.access_token,
        &grant,
        "2027-01-01",
        &q1(1_200_000),
    )
    .await;
    let s1b = corrected.assert_status(201)["statements"][0].clone();
    let s1b_id = s1b["id"].as_str().unwrap().to_string();
    assert_eq!(s1b["status"], "issued");
    assert_eq!(s1b["payable"], "3400.00");
    let old = app
        .get(&statement_path, Some(&m.licensee.access_token))
        .await;
    let old = old.assert_status(200);
    assert_eq!(old["status"], "superseded");
    assert!(old["superseded_at"].is_string());
    assert_eq!(old["disputed_reason"], reason["reason"]);
    app.post(
        &format!("{statement_path}/confirm"),
        Some(&m.licensor_signer.access_token),
        &json!({}),
    )
    .await
    .assert_problem(409);
    let reissued = app.outbox_contexts("owner@tme.test", "statement_issued");
    assert_eq!(reissued.len(), 2);
    assert_eq!(reissued[1]["corrected"], true);
    assert_eq!(reissued[1]["statement"]["amount"], "3400.00");

    // Q2: 1,000,000 streams = 4,500.00, nothing left to recoup, all payable. It cannot
    // be confirmed before Q1.
    let q2 = format!("{HEADER}\nCN,non_interactive_streaming,1000000,9000000,100.00,10,\n");
    let second = upload(&m, &m.licensee.access_token, &grant, "2027-04-01", &q2).await;
    let s2 = second.assert_status(201)["statements"][0].clone();
    assert_eq!(s2["payable"], "4500.00");
    assert_eq!(s2["due_date"], "2027-08-14");
    let early = app
        .post(
            &format!("/api/v1/statements/{}/confirm", s2["id"].as_str().unwrap()),
            Some(&m.licensor_signer.access_token),
            &json!({}),
        )
        .await;
    assert!(early.assert_problem(409)["detail"]
        .as_str()
        .unwrap()
        .contains("period order"));
    let b = balances(app, &m.licensee.access_token, &deal_id).await;
    assert_balances(&b, &[("royalties_under_review", "7900.00")]);

    // The signer confirms Q1: frozen, owed by 2027-05-15; the licensee is told to pay.
    let s1b_path = format!("/api/v1/statements/{s1b_id}");
    let confirmed = app
        .post(
            &format!("{s1b_path}/confirm"),
            Some(&m.licensor_signer.access_token),
            &json!({}),
        )
        .await;
    let confirmed = confirmed.assert_status(200).clone();
    assert_eq!(confirmed["status"], "confirmed");
    assert_eq!(confirmed["confirmed_by"], json!(m.licensor_signer.user_id));
    assert_eq!(confirmed["balance"], "3400.00");
    app.post(
        &format!("{s1b_path}/confirm"),
        Some(&m.licensor_signer.access_token),
        &json!({}),
    )
    .await
    .assert_problem(409);
    let told = app.outbox_contexts("owner@netease.test", "statement_confirmed");
    assert_eq!(told.len(), 1);
    assert_eq!(told[0]["action_required"], true);
    assert_eq!(told[0]["statement"]["amount"], "3400.00");
    let told = app.outbox_contexts("owner@tme.test", "statement_confirmed");
    assert_eq!(told[0]["action_required"], false);
    // A confirmed statement is final: a report that would recompute it is refused.
    let refused = upload(
        &m,
        &m.licensee.access_token,
        &grant,
        "2027-01-01",
        &q1(1_300_000),
    )
    .await;
    assert!(refused.assert_problem(409)["detail"]
        .as_str()
        .unwrap()
        .contains("confirmed"));
    let b = balances(app, &m.licensor.access_token, &deal_id).await;
    assert_balances(
        &b,
        &[
            ("recouped", "2000.00"),
            ("unrecouped", "0.00"),
            ("royalties_payable", "3400.00"),
            ("royalties_paid", "0.00"),
            ("royalties_outstanding", "3400.00"),
            ("royalties_under_review", "4500.00"),
            ("total_owed", "6400.00"),
            ("total_paid", "0.00"),
            ("total_outstanding", "6400.00"),
        ],
    );

    // A week before the due date the sweeper marks it due and reminds both parties.
    assert_eq!(sweep_at(app, "2027-05-08"), 1);
    assert_eq!(sweep_at(app, "2027-05-08"), 0);
    let now = app.get(&s1b_path, Some(&m.licensee.access_token)).await;
    assert_eq!(now.assert_status(200)["status"], "due");
    let due = app.outbox_contexts("owner@netease.test", "statement_due");
    assert_eq!(due.len(), 1);
    assert_eq!(due[0]["action_required"], true);
    assert_eq!(due[0]["statement"]["amount"], "3400.00");
    assert_eq!(
        app.outbox_contexts("owner@tme.test", "statement_due")[0]["action_required"],
        false
    );

    // The licensor records 1,000.00 received; more than the balance is refused.
    let part = app
        .post(
            &format!("{s1b_path}/payments"),
            Some(&m.licensor.access_token),
            &pay("1000.00"),
        )
        .await;
    let part = part.assert_status(201).clone();
    assert_eq!(part["status"], "partially_paid");
    assert_eq!(part["paid"], "1000.00");
    assert_eq!(part["balance"], "2400.00");
    assert_eq!(part["payments"][0]["reference"], "WIRE-7");
    let over = app
        .post(
            &format!("{s1b_path}/payments"),
            Some(&m.licensor.access_token),
            &pay("2400.01"),
        )
        .await;
    over.assert_problem(422);
    assert_eq!(over.error_fields(), vec!["amount".to_string()]);

    // After the due date: overdue, announced once.
    assert_eq!(sweep_at(app, "2027-05-16"), 1);
    assert_eq!(sweep_at(app, "2027-05-17"), 0);
    let overdue = app.outbox_contexts("owner@netease.test", "statement_overdue");
    assert_eq!(overdue.len(), 1);
    assert_eq!(overdue[0]["days_overdue"], 1);
    assert_eq!(overdue[0]["statement"]["amount"], "2400.00");
    let feed = app
        .get("/api/v1/notifications", Some(&m.licensee.access_token))
        .await;
    assert!(feed.assert_status(200)["items"]
        .as_array()
        .unwrap()
        .iter()
        .any(|n| n["kind"] == "statement_overdue"));
    let b = balances(app, &m.licensee.access_token, &deal_id).await;
    assert_balances(
        &b,
        &[
            ("royalties_paid", "1000.00"),
            ("royalties_outstanding", "2400.00"),
            ("royalties_overdue", "2400.00"),
        ],
    );

    // The rest, with an Idempotency-Key: a retry records nothing twice.
    let keyed = || {
        app.client
            .post(app.url(&format!("{s1b_path}/payments")))
            .bearer_auth(&m.licensor.access_token)
            .header("idempotency-key", "royalty-wire-2")
    };
    let paid = TestApp::reply(keyed().json(&pay("2400.00")).send().await.unwrap()).await;
    let paid = paid.assert_status(201).clone();
    assert_eq!(paid["status"], "paid");
    assert_eq!(paid["balance"], "0.00");
    assert_eq!(paid["payments"].as_array().unwrap().len(), 2);
    let retry = TestApp::reply(keyed().json(&pay("2400.00")).send().await.unwrap()).await;
    assert_eq!(retry.assert_status(201), &paid);
    assert_eq!(retry.headers.get("idempotent-replayed").unwrap(), "true");
    app.post(
        &format!("{s1b_path}/payments"),
        Some(&m.licensor.access_token),
        &pay("1.00"),
    )
    .await
    .assert_problem(409);

    // Installment money pays the fee first: 1,500.00 paid is 1,000.00 fee, 500.00 advance.
    let schedule = app
        .get(
            &format!("/api/v1/deals/{deal_id}/installments"),
            Some(&m.licensee.access_token),
        )
        .await;
    let installment = schedule.assert_status(200)["installments"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    app.post(
        &format!("/api/v1/installments/{installment}/payments"),
        Some(&m.licensor.access_token),
        &pay("1500.00"),
    )
    .await
    .assert_status(201);
    for token in [&m.licensee.access_token, &m.licensor.access_token] {
        let b = balances(app, token, &deal_id).await;
        assert_balances(
            &b,
            &[
                ("advance", "2000.00"),
                ("advance_paid", "500.00"),
                ("recouped", "2000.00"),
                ("unrecouped", "0.00"),
                ("guarantee_top_up", "0.00"),
                ("royalties_payable", "3400.00"),
                ("royalties_paid", "3400.00"),
                ("royalties_outstanding", "0.00"),
                ("royalties_overdue", "0.00"),
                ("royalties_under_review", "4500.00"),
                ("installments_total", "3000.00"),
                ("installments_paid", "1500.00"),
                ("installments_outstanding", "1500.00"),
                ("total_owed", "6400.00"),
                ("total_paid", "4900.00"),
                ("total_outstanding", "1500.00"),
            ],
        );
    }

    // Both parties list the deal's statements, all or one period's, and download one.
    for token in [&m.licensee.access_token, &m.licensor.access_token] {
        let all = app
            .get(&format!("/api/v1/deals/{deal_id}/statements"), Some(token))
            .await;
        let statuses: Vec<(String, String)> = all
            .assert_status(200)
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                (
                    s["period_start"].as_str().unwrap().to_string(),
                    s["status"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        assert_eq!(
            statuses,
            vec![
                ("2027-01-01".to_string(), "paid".to_string()),
                ("2027-01-01".to_string(), "superseded".to_string()),
                ("2027-04-01".to_string(), "issued".to_string()),
            ]
        );
        let q2_only = app
            .get(
                &format!("/api/v1/deals/{deal_id}/statements?period_start=2027-04-01"),
                Some(token),
            )
            .await;
        assert_eq!(q2_only.assert_status(200).as_array().unwrap().len(), 1);
        let csv = app.get(&format!("{s1b_path}.csv"), Some(token)).await;
        csv.assert_status(200);
        assert!(csv.content_type().starts_with("text/csv"));
        assert_eq!(
            csv.text,
            "row,period_start,period_end,currency,territory,usage,revenue_share,per_stream_floor,per_subscriber_floor,basis,amount\n\
             line,2027-01-01,2027-03-31,CNY,CN,interactive_streaming,0,5400,0,per_stream_floor,5400.00\n\
             earned,2027-01-01,2027-03-31,CNY,,,,,,,5400.00\n\
             guarantee_top_up,2027-01-01,2027-03-31,CNY,,,,,,,0.00\n\
             recouped,2027-01-01,2027-03-31,CNY,,,,,,,2000.00\n\
             unrecouped,2027-01-01,2027-03-31,CNY,,,,,,,0.00\n\
             payable,2027-01-01,2027-03-31,CNY,,,,,,,3400.00\n\
             paid,2027-01-01,2027-03-31,CNY,,,,,,,3400.00\n\
             balance,2027-01-01,2027-03-31,CNY,,,,,,,0.00\n"
        );
    }

    // The sweeper of `cadenza serve` runs the statements' sweep too (nothing is due today).
    let swept = cadenza::sweeper::sweep_once(&app.db(1)).await.unwrap();
    assert_eq!(swept.statements_updated, 0);
}

/// Royalty terms with a per-period guarantee of 5,000.00 USD and 0.0045 per stream, no
/// advance: a quarter earning 4,500.00 is topped up by 500.00, owed once confirmed.
async fn a_per_period_guarantee_top_up_is_owed_once_confirmed(backend: Backend) {
    let m = market(backend, true).await;
    let app = &m.app;
    let mut t = terms(&m.slice_id);
    let o = t.as_object_mut().unwrap();
    o.insert("currency".into(), json!("USD"));
    o.insert("upfront_fee".into(), json!("1000.00"));
    o.remove("minimum_guarantee");
    o.remove("per_stream_rate");
    o.remove("revenue_share_percent");
    o.insert(
        "installments".into(),
        json!([{"due_date": "2027-01-15", "amount": "1000.00"}]),
    );
    o.insert(
        "royalties".into(),
        json!({
            "minimum_guarantee": {"amount": "5000.00", "per": "period"},
            "per_stream_floor": "0.0045",
            "combination": "greater_of",
            "accounting_period": "quarterly",
            "statement_due_days": 30
        }),
    );
    let deal = m.executed(m.agreed(&t).await).await;
    let deal_id = deal["id"].as_str().unwrap().to_string();
    let grant = deal["grant_id"].as_str().unwrap().to_string();
    let issued = upload(
        &m,
        &m.licensee.access_token,
        &grant,
        "2027-01-01",
        &q1(1_000_000),
    )
    .await;
    let s = issued.assert_status(201)["statements"][0].clone();
    assert_eq!(s["earned"], "4500.00");
    assert_eq!(s["guarantee_top_up"], "500.00");
    assert_eq!(s["payable"], "5000.00");
    assert_eq!(s["due_date"], "2027-04-30");
    let b = balances(app, &m.licensee.access_token, &deal_id).await;
    assert_balances(
        &b,
        &[
            ("currency", "USD"),
            ("advance", "0.00"),
            ("guarantee_top_up", "0.00"),
            ("royalties_under_review", "5000.00"),
        ],
    );
    let confirmed = app
        .post(
            &format!("/api/v1/statements/{}/confirm", s["id"].as_str().unwrap()),
            Some(&m.licensor_signer.access_token),
            &json!({}),
        )
        .await;
    assert_eq!(confirmed.assert_status(200)["status"], "confirmed");
    let b = balances(app, &m.licensor.access_token, &deal_id).await;
    assert_balances(
        &b,
        &[
            ("advance", "0.00"),
            ("advance_paid", "0.00"),
            ("recouped", "0.00"),
            ("unrecouped", "0.00"),
            ("guarantee_top_up", "500.00"),
            ("royalties_payable", "5000.00"),
            ("royalties_outstanding", "5000.00"),
            ("royalties_under_review", "0.00"),
            ("installments_total", "1000.00"),
            ("total_owed", "6000.00"),
            ("total_outstanding", "6000.00"),
        ],
    );
}
