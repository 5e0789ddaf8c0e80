//! Money and logins under concurrency, and what a grant's CSV hands a spreadsheet,
//! on both backends.

use chrono::Utc;
use serde_json::{json, Value};

use crate::deals::{market, terms};
use crate::helpers::{Backend, TestApp};
use crate::on_both_backends;

/// The status of each answer to requests sent all at once.
async fn statuses_of<F>(requests: impl IntoIterator<Item = F>) -> Vec<u16>
where
    F: std::future::Future<Output = reqwest::Result<reqwest::Response>>,
{
    futures_util::future::join_all(requests)
        .await
        .into_iter()
        .map(|r| r.expect("answered").status().as_u16())
        .collect()
}

fn payment(amount: &str) -> Value {
    json!({"amount": amount, "paid_on": Utc::now().date_naive().to_string(), "reference": "WIRE"})
}

/// An installment of 1,000.00 with 10.00 paid; fifty payments of 99.00 posted at once,
/// each with its own Idempotency-Key: exactly ten fit, the rest are refused, and what
/// is stored adds up.
async fn payments_race_for_one_installments_balance(backend: Backend) {
    let m = market(backend, true).await;
    let app = &m.app;
    let mut t = terms(&m.slice_id);
    t["upfront_fee"] = json!("1000.00");
    t["minimum_guarantee"] = json!(null);
    t["installments"] = json!([{"due_date": "2027-01-15", "amount": "1000.00"}]);
    let deal = m.executed(m.agreed(&t).await).await;
    let id = deal["id"].as_str().unwrap();
    let schedule = app
        .get(
            &format!("/api/v1/deals/{id}/installments"),
            Some(&m.licensor.access_token),
        )
        .await;
    let installment = schedule.assert_status(200)["installments"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let path = format!("/api/v1/installments/{installment}/payments");
    app.post(&path, Some(&m.licensor.access_token), &payment("10.00"))
        .await
        .assert_status(201);

    let posts = (0..50).map(|i| {
        app.client
            .post(app.url(&path))
            .bearer_auth(&m.licensor.access_token)
            .header("idempotency-key", format!("race-{i}"))
            .json(&payment("99.00"))
            .send()
    });
    let statuses = statuses_of(posts).await;
    let accepted = statuses.iter().filter(|s| **s == 201).count();
    let refused = statuses.iter().filter(|s| **s == 422).count();
    assert_eq!(
        (accepted, refused),
        (10, 40),
        "990.00 left fits ten payments of 99.00: {statuses:?}"
    );

    let schedule = app
        .get(
            &format!("/api/v1/deals/{id}/installments"),
            Some(&m.licensee.access_token),
        )
        .await;
    let installment = &schedule.assert_status(200)["installments"][0];
    assert_eq!(installment["paid"], "1000.00");
    assert_eq!(installment["status"], "paid");
    let payments = installment["payments"].as_array().unwrap();
    assert_eq!(payments.len(), 11);
    let paid_cents: i64 = payments
        .iter()
        .map(|p| {
            let amount = p["amount"].as_str().unwrap().replace('.', "");
            amount.parse::<i64>().unwrap()
        })
        .sum();
    assert_eq!(paid_cents, 100_000, "the payments add up to `paid`");
}

/// Fifteen wrong passwords for one account at once: at most the allowance (5) is ever
/// checked, the rest wait out the block; never a 5xx (two first failures used to
/// insert the same throttle row on PostgreSQL).
async fn concurrent_wrong_passwords_stop_at_the_allowance(backend: Backend) {
    let app = crate::helpers::spawn_app(backend).await;
    app.register("Target Music", "owner@target.test").await;
    let attempts = (0..15).map(|_| {
        app.client
            .post(app.url("/api/v1/auth/login"))
            .json(&json!({"email": "owner@target.test", "password": "not the password at all"}))
            .send()
    });
    let statuses = statuses_of(attempts).await;
    let checked = statuses.iter().filter(|s| **s == 401).count();
    let throttled = statuses.iter().filter(|s| **s == 429).count();
    assert_eq!(checked + throttled, 15, "only 401 and 429: {statuses:?}");
    assert!(
        (1..=5).contains(&checked),
        "at most the allowance of 5 passwords is checked, got {checked}: {statuses:?}"
    );
    // The account is blocked now, even for the right password.
    app.post(
        "/api/v1/auth/login",
        None,
        &json!({"email": "owner@target.test", "password": crate::helpers::PASSWORD}),
    )
    .await
    .assert_problem(429);
    // Exactly as many failures were audited as passwords were checked.
    use diesel::prelude::*;
    let failures: i64 = cadenza::db::schema::audit_events::table
        .filter(cadenza::db::schema::audit_events::action.eq("auth.login_failed"))
        .count()
        .get_result(&mut app.connection())
        .unwrap();
    assert_eq!(failures as usize, checked);
}

/// Titles a licensor controls reach the licensee's spreadsheet as text, never formulas.
async fn grant_csv_cells_never_start_a_formula(backend: Backend) {
    let m = market(backend, true).await;
    let app = &m.app;
    let csv = "isrc,title,artists,label,genre,release_date,duration_ms\n\
        QZFRM2600001,\"=HYPERLINK(\"\"http://evil.test\"\",\"\"click\"\")\",Mallory,Formula Label,Pop,2024-01-01,200000\n\
        QZFRM2600002,@SUM(A1:A9),+Plus;-M-,Formula Label,Pop,2024-01-01,200000\n\
        QZFRM2600003,'quoted,Alice,Formula Label,Pop,2024-01-01,200000\n\
        QZFRM2600004,Plain Title,Bob,Formula Label,Pop,2024-01-01,200000\n";
    let imported = TestApp::reply(
        app.client
            .post(app.url(&format!("/api/v1/catalogs/{}/imports", m.catalog_id)))
            .bearer_auth(&m.licensor.access_token)
            .header("content-type", "text/csv")
            .body(csv)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(imported.assert_status(200)["imported"], 4);
    let slice = app
        .post(
            &format!("/api/v1/catalogs/{}/slices", m.catalog_id),
            Some(&m.licensor.access_token),
            &json!({"name": "formulas", "selector": {"labels": ["Formula Label"]}}),
        )
        .await;
    let slice_id = slice.assert_status(201)["id"].as_str().unwrap().to_string();
    let deal = m.executed(m.agreed(&terms(&slice_id)).await).await;
    let grant = app
        .get(
            &format!("/api/v1/grants?deal_id={}", deal["id"].as_str().unwrap()),
            Some(&m.licensee.access_token),
        )
        .await;
    let grant_id = grant.assert_status(200)["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["deal_id"] == deal["id"])
        .expect("the deal's grant")["id"]
        .as_str()
        .unwrap()
        .to_string();
    let body = app
        .client
        .get(app.url(&format!("/api/v1/grants/{grant_id}/tracks.csv")))
        .bearer_auth(&m.licensee.access_token)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let mut reader = csv::Reader::from_reader(body.as_bytes());
    let rows: Vec<Vec<String>> = reader
        .records()
        .map(|r| r.unwrap().iter().map(str::to_string).collect())
        .collect();
    assert_eq!(rows.len(), 4);
    for row in &rows {
        for cell in row {
            assert!(
                !cell.starts_with(['=', '+', '-', '@', '\t', '\r']),
                "a spreadsheet would evaluate {cell:?}"
            );
        }
    }
    let by_isrc = |isrc: &str| rows.iter().find(|r| r[0] == isrc).unwrap().clone();
    assert_eq!(
        by_isrc("QZFRM2600001")[1],
        "'=HYPERLINK(\"http://evil.test\",\"click\")"
    );
    assert_eq!(by_isrc("QZFRM2600002")[1], "'@SUM(A1:A9)");
    assert_eq!(by_isrc("QZFRM2600002")[2], "'+Plus;-M-");
    assert_eq!(by_isrc("QZFRM2600003")[1], "''quoted");
    assert_eq!(by_isrc("QZFRM2600004")[1], "Plain Title");
    // Recoverable: one leading `'` removed gives the title as the licensor sent it.
    let recovered = by_isrc("QZFRM2600001")[1]
        .strip_prefix('\'')
        .unwrap()
        .to_string();
    assert_eq!(recovered, "=HYPERLINK(\"http://evil.test\",\"click\")");
}

on_both_backends!(
    payments_race_for_one_installments_balance,
    concurrent_wrong_passwords_stop_at_the_allowance,
    grant_csv_cells_never_start_a_formula,
);
