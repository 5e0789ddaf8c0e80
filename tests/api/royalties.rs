//! Usage reports and royalty statements, on both backends: the licensee reports a
//! period's usage, Cadenza computes the statement to the cent, a correction is a
//! new version that recomputes everything after it, and a bad report is refused
//! whole with every bad line.

use serde_json::{json, Value};

use crate::deals::{market, terms, Market};
use crate::helpers::{Backend, Reply, TestApp};
use crate::on_both_backends;

on_both_backends!(usage_reports_make_statements_and_corrections_recompute_them);

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

async fn executed_grant(m: &Market) -> String {
    let deal = m.agreed(&terms(&m.slice_id)).await;
    let deal = m.executed(deal).await;
    deal["grant_id"].as_str().unwrap().to_string()
}

fn current(statements: &Value) -> Vec<&Value> {
    statements
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["superseded_at"].is_null())
        .collect()
}

/// The spec's terms: CNY, a 5,000,000.00 minimum guarantee (a recoupable advance,
/// guaranteed over the term), 0.0045 per stream, quarterly.
async fn usage_reports_make_statements_and_corrections_recompute_them(backend: Backend) {
    let m = market(backend, true).await;
    let app = &m.app;
    let grant = executed_grant(&m).await;
    let tracks = app
        .get(
            &format!("/api/v1/grants/{grant}/tracks?limit=1"),
            Some(&m.licensee.access_token),
        )
        .await;
    let isrc = tracks.assert_status(200)["items"][0]["isrc"]
        .as_str()
        .unwrap()
        .to_string();

    let q1 = format!(
        "{HEADER}\nCN,interactive_streaming,1000000,50000000,2000000.00,100000,\nCN,interactive_streaming,1000000,,,,{isrc}\n"
    );
    // Only the licensee reports; outsiders do not even see the grant.
    upload(&m, &m.licensor.access_token, &grant, "2027-01-01", &q1)
        .await
        .assert_problem(403);
    let outsider = app.register("Kugou", "owner@kugou.test").await;
    upload(&m, &outsider.access_token, &grant, "2027-01-01", &q1)
        .await
        .assert_problem(404);
    // Periods are the grant's quarters.
    let wrong = upload(&m, &m.licensee.access_token, &grant, "2027-02-01", &q1).await;
    wrong.assert_problem(422);
    assert_eq!(wrong.error_fields(), vec!["period_start".to_string()]);

    // A bad report is refused whole, every bad line named; nothing is stored.
    let bad = format!(
        "{HEADER}\nJP,interactive_streaming,10,100,5.00,1,\nCN,interactive_streaming,-5,100,5.00,1,\nCN,interactive_streaming,10,,,,USRC17607839\n"
    );
    let refused = upload(&m, &m.licensee.access_token, &grant, "2027-01-01", &bad).await;
    refused.assert_problem(422);
    let fields = refused.error_fields();
    assert!(
        fields.contains(&"lines[2].territory".to_string()),
        "{fields:?}"
    );
    assert!(
        fields.contains(&"lines[3].licensed_streams".to_string()),
        "{fields:?}"
    );
    assert!(fields.contains(&"lines[4].isrc".to_string()), "{fields:?}");
    let reports = app
        .get(
            &format!("/api/v1/grants/{grant}/usage-reports"),
            Some(&m.licensee.access_token),
        )
        .await;
    assert_eq!(reports.assert_status(200).as_array().unwrap().len(), 0);

    // Q1: 1,000,000 streams × 0.0045 = 4,500.00 earned, all recouped from the advance.
    let first = upload(&m, &m.licensee.access_token, &grant, "2027-01-01", &q1).await;
    let first = first.assert_status(201).clone();
    assert_eq!(first["report"]["version"], 1);
    assert_eq!(first["report"]["isrc_rows"], 1);
    let s = &first["statements"][0];
    assert_eq!(s["period_end"], "2027-03-31");
    assert_eq!(s["earned"], "4500.00");
    assert_eq!(s["lines"][0]["basis"], "per_stream_floor");
    assert_eq!(s["lines"][0]["amount"], "4500.00");
    assert_eq!(s["recouped"], "4500.00");
    assert_eq!(s["payable"], "0.00");
    assert_eq!(s["unrecouped"], "4995500.00");
    assert_eq!(s["due_date"], "2027-05-15");

    // Q2 carries Q1's recoupment.
    let q2 = format!("{HEADER}\nCN,non_interactive_streaming,3000000,9000000,100.00,10,\n");
    let second = upload(&m, &m.licensee.access_token, &grant, "2027-04-01", &q2).await;
    let second = second.assert_status(201).clone();
    assert_eq!(second["statements"][0]["earned"], "13500.00");
    assert_eq!(second["statements"][0]["recouped_to_date"], "18000.00");

    // A corrected Q1 (twice the streams) is version 2 and recomputes Q1 and Q2.
    let q1_fixed = q1
        .replace("1000000,50000000", "2000000,50000000")
        .replace(",1000000,,,,", ",2000000,,,,");
    let fixed = upload(
        &m,
        &m.licensee.access_token,
        &grant,
        "2027-01-01",
        &q1_fixed,
    )
    .await;
    let fixed = fixed.assert_status(201).clone();
    assert_eq!(fixed["report"]["version"], 2);
    let recomputed: Vec<&Value> = fixed["statements"].as_array().unwrap().iter().collect();
    assert_eq!(recomputed.len(), 2);
    assert_eq!(recomputed[0]["earned"], "9000.00");
    assert_eq!(recomputed[1]["recouped_to_date"], "22500.00");

    // Both versions stay readable, for both parties; old statements are superseded.
    for token in [&m.licensee.access_token, &m.licensor.access_token] {
        let reports = app
            .get(
                &format!("/api/v1/grants/{grant}/usage-reports"),
                Some(token),
            )
            .await;
        let reports = reports.assert_status(200).clone();
        let versions: Vec<(String, i64, bool)> = reports
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r["period_start"].as_str().unwrap().to_string(),
                    r["version"].as_i64().unwrap(),
                    r["superseded_at"].is_null(),
                )
            })
            .collect();
        assert_eq!(
            versions,
            vec![
                ("2027-01-01".to_string(), 1, false),
                ("2027-01-01".to_string(), 2, true),
                ("2027-04-01".to_string(), 1, true),
            ]
        );
        let statements = app
            .get(&format!("/api/v1/grants/{grant}/statements"), Some(token))
            .await;
        let statements = statements.assert_status(200).clone();
        assert_eq!(statements.as_array().unwrap().len(), 4);
        let now: Vec<&str> = current(&statements)
            .iter()
            .map(|s| s["earned"].as_str().unwrap())
            .collect();
        assert_eq!(now, vec!["9000.00", "13500.00"]);
    }
    app.get(
        &format!("/api/v1/grants/{grant}/statements"),
        Some(&outsider.access_token),
    )
    .await
    .assert_problem(404);
    // A report that is not CSV is refused before it is read.
    let response = app
        .client
        .post(app.url(&format!(
            "/api/v1/grants/{grant}/usage-reports?period_start=2027-07-01"
        )))
        .bearer_auth(&m.licensee.access_token)
        .json(&json!({"lines": []}))
        .send()
        .await
        .unwrap();
    TestApp::reply(response).await.assert_problem(415);
}
