//! `cadenza bench input`: what refusing unstorable input at the edge costs a request
//! body — the typed parse alone against the whole `parse_json` (document walk for NUL
//! and lengths, then the typed parse), on a term sheet and on a 100,000-ISRC selector.

use std::io::Write;
use std::time::{Duration, Instant};

use super::{median, BenchError};
use crate::api::extract::parse_json;
use crate::domain::selector::Selector;
use crate::domain::terms::TermSheetInput;

fn term_sheet_body() -> Vec<u8> {
    serde_json::json!({
        "slice_id": "0194e0b2-0000-7000-8000-000000000000",
        "territories": ["CN", "HK", "TW", "MO"],
        "usages": ["interactive_streaming", "non_interactive_streaming"],
        "start_date": "2027-01-01",
        "end_date": "2029-12-31",
        "exclusive": false,
        "sublicensable": false,
        "currency": "CNY",
        "upfront_fee": "1000000.00",
        "minimum_guarantee": "5000000.00",
        "per_stream_rate": "0.0045",
        "revenue_share_percent": null,
        "installments": [{"due_date": "2027-01-15", "amount": "3000000.00"},
                         {"due_date": "2027-07-15", "amount": "3000000.00"}],
        "clauses": "Standard CN streaming sublicence. ".repeat(20),
        "respond_by": "2026-12-31T00:00:00Z"
    })
    .to_string()
    .into_bytes()
}

fn selector_body(isrcs: usize) -> Vec<u8> {
    let list: Vec<String> = (0..isrcs).map(|i| format!("CNA01{:07}", i)).collect();
    serde_json::json!({ "labels": ["Label 0001"], "include_isrcs": list })
        .to_string()
        .into_bytes()
}

fn per_call<T>(
    runs: usize,
    mut f: impl FnMut() -> Result<T, BenchError>,
) -> Result<Duration, BenchError> {
    let mut samples = Vec::with_capacity(runs);
    for _ in 0..runs {
        let start = Instant::now();
        std::hint::black_box(f()?);
        samples.push(start.elapsed());
    }
    Ok(median(samples))
}

fn us(d: Duration) -> String {
    format!("{:.1} µs", d.as_secs_f64() * 1e6)
}

pub fn run_input_bench(out: &mut dyn Write) -> Result<(), BenchError> {
    let typed = |e: serde_json::Error| BenchError::Setup(e.to_string());
    let checked = |e: crate::api::problem::ApiError| BenchError::Setup(e.to_string());
    writeln!(
        out,
        "| body | bytes | typed parse | with the input check | ratio |"
    )?;
    writeln!(out, "| --- | ---: | ---: | ---: | ---: |")?;
    let sheet = term_sheet_body();
    let plain = per_call(20_000, || {
        serde_json::from_slice::<TermSheetInput>(&sheet).map_err(typed)
    })?;
    let guarded = per_call(20_000, || {
        parse_json::<TermSheetInput>(&sheet).map_err(checked)
    })?;
    writeln!(
        out,
        "| term sheet | {} | {} | {} | {:.2} |",
        sheet.len(),
        us(plain),
        us(guarded),
        guarded.as_secs_f64() / plain.as_secs_f64()
    )?;
    let selector = selector_body(100_000);
    let plain = per_call(30, || {
        serde_json::from_slice::<Selector>(&selector).map_err(typed)
    })?;
    let guarded = per_call(30, || parse_json::<Selector>(&selector).map_err(checked))?;
    writeln!(
        out,
        "| selector, 100,000 ISRCs | {} | {} | {} | {:.2} |",
        selector.len(),
        us(plain),
        us(guarded),
        guarded.as_secs_f64() / plain.as_secs_f64()
    )?;
    Ok(())
}
