//! Royalty terms in the term sheet and DDEX DSR flat-file usage reports, on both
//! backends: a deal states "the greater of 60 % of revenue times usage share and
//! 0.00225 per stream", both parties sign it, the licensee reports a quarter as a
//! DSR file, and the statement applies exactly those terms (worked example (c) of
//! docs/royalties.md, in two territories).

use serde_json::{json, Value};

use crate::deals::{market, terms, Market};
use crate::helpers::{Backend, Reply, TestApp};
use crate::on_both_backends;

on_both_backends!(royalty_terms_are_signed_and_a_dsr_report_is_accounted_by_them);

fn royalty_terms(slice_id: &str) -> Value {
    let mut t = terms(slice_id);
    let o = t.as_object_mut().unwrap();
    o.insert("territories".into(), json!(["CN", "HK"]));
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
            "revenue_share": {"percent": "60"},
            "per_stream_floor": "0.00225",
            "combination": "greater_of",
            "accounting_period": "quarterly",
            "statement_due_days": 30
        }),
    );
    t
}

async fn upload_dsr(m: &Market, grant: &str, period: &str, tsv: &str) -> Reply {
    let response = m
        .app
        .client
        .post(m.app.url(&format!(
            "/api/v1/grants/{grant}/usage-reports?period_start={period}"
        )))
        .bearer_auth(&m.licensee.access_token)
        .header("content-type", "text/tab-separated-values")
        .body(tsv.to_string())
        .send()
        .await
        .unwrap();
    TestApp::reply(response).await
}

async fn royalty_terms_are_signed_and_a_dsr_report_is_accounted_by_them(backend: Backend) {
    let m = market(backend, true).await;
    let app = &m.app;

    // One way to say each term: royalty terms and the earlier flat fields do not mix,
    // and every bad royalty term is named on its field.
    let mut mixed = royalty_terms(&m.slice_id);
    mixed["per_stream_rate"] = json!("0.001");
    mixed["royalties"]["combination"] = json!("max");
    mixed["royalties"]["revenue_share"]["carve_out_percent"] = json!("100");
    let refused = app
        .post(
            "/api/v1/deals",
            Some(&m.licensee.access_token),
            &json!({"counterparty_id": m.licensor.organization_id, "role": "licensee", "terms": mixed}),
        )
        .await;
    refused.assert_problem(422);
    let mut fields = refused.error_fields();
    fields.sort();
    assert_eq!(
        fields,
        vec![
            "terms.per_stream_rate".to_string(),
            "terms.royalties.combination".to_string(),
            "terms.royalties.revenue_share.carve_out_percent".to_string(),
        ]
    );

    // Agreed and signed: the terms read back canonically, royalty terms included.
    let agreed = m.agreed(&royalty_terms(&m.slice_id)).await;
    let revisions = app
        .get(
            &format!("/api/v1/deals/{}/revisions", agreed["id"].as_str().unwrap()),
            Some(&m.licensor.access_token),
        )
        .await;
    let revisions = revisions.assert_status(200).clone();
    assert_eq!(
        revisions[0]["terms"]["royalties"],
        json!({
            "advance": null,
            "minimum_guarantee": null,
            "revenue_share": {"percent": "60", "carve_out_percent": "0"},
            "per_stream_floor": "0.00225",
            "per_subscriber_floor": null,
            "combination": "greater_of",
            "accounting_period": "quarterly",
            "statement_due_days": 30
        })
    );
    let executed = m.executed(agreed).await;
    let grant = executed["grant_id"].as_str().unwrap().to_string();
    let tracks = app
        .get(
            &format!("/api/v1/grants/{grant}/tracks?limit=2"),
            Some(&m.licensee.access_token),
        )
        .await;
    let tracks = tracks.assert_status(200).clone();
    let isrc = |i: usize| tracks["items"][i]["isrc"].as_str().unwrap().to_string();
    let (a, b) = (isrc(0), isrc(1));

    let head = "HEAD\tdsrf/1.1.2/6/1.0\tBasicAudioProfile\t1.3\tQQ-2027Q1\t2027-04-02T10:00:00Z\t1\t1\t2027-01-01\t2027-03-31\tPADPIDA0000000001\tLicensee";
    // A bad file is refused whole, every bad record named by line; nothing is stored.
    let bad = format!(
        "{head}\nSY03.01\tS1\t\t\tSubscriptionModel\tStream\tJP\tPremium\t10\t1\t100\tUSD\t5.00\n\
         SR01.02\tS9\tR1\t{a}\tSong\t10\nRE01.03\t1\t1\n"
    );
    let refused = upload_dsr(&m, &grant, "2027-01-01", &bad).await;
    refused.assert_problem(422);
    assert_eq!(
        refused.error_fields(),
        vec![
            "lines[2].territory".to_string(),
            "lines[3].summary_record_id".to_string(),
            "lines[4].record_type".to_string(),
        ]
    );
    let reports = app
        .get(
            &format!("/api/v1/grants/{grant}/usage-reports"),
            Some(&m.licensee.access_token),
        )
        .await;
    assert_eq!(reports.assert_status(200).as_array().unwrap().len(), 0);

    // CN: 60 % × 500,000.00 × 10 % = 30,000.00 beats 10,000,000 × 0.00225 = 22,500.00.
    // HK: 60 % × 60,000.00 × 20 % = 7,200.00 loses to 8,000,000 × 0.00225 = 18,000.00.
    let good = format!(
        "{head}\nSY03.01\tS1\t\t\tSubscriptionModel\tStream\tCN\tPremium\t10000000\t250000\t100000000\tUSD\t500000.00\n\
         SR01.02\tS1\tR1\t{a}\tSong\t6000000\nSR01.02\tS1\tR2\t{b}\tOther\t4000000\n\
         SY03.01\tS2\t\t\tSubscriptionModel\tStream\tHK\tPremium\t8000000\t40000\t40000000\tUSD\t60000.00\nFOOT\t6\n"
    );
    let taken = upload_dsr(&m, &grant, "2027-01-01", &good).await;
    let taken = taken.assert_status(201).clone();
    assert_eq!(taken["report"]["isrc_rows"], 2);
    let statement = &taken["statements"][0];
    let amounts: Vec<(&str, &str, &str)> = statement["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["territory"].as_str().unwrap(),
                l["basis"].as_str().unwrap(),
                l["amount"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        amounts,
        vec![
            ("CN", "revenue_share", "30000.00"),
            ("HK", "per_stream_floor", "18000.00"),
        ]
    );
    assert_eq!(statement["currency"], "USD");
    assert_eq!(statement["earned"], "48000.00");
    assert_eq!(statement["recouped"], "0.00");
    assert_eq!(statement["payable"], "48000.00");
    // Due 30 days after the quarter, as the terms say (the earlier default is 45).
    assert_eq!(statement["due_date"], "2027-04-30");
}
