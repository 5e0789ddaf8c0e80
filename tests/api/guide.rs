//! `docs/guide.md` is executable: every `sh` block runs, in order, in one bash
//! session against a server seeded by `cadenza demo`'s story, and its output must
//! have the shape of the `json` block that follows it (same keys, same types, same
//! emptiness of lists; ids, tokens and timestamps naturally differ). A block with
//! no `json` after it must succeed and print nothing.
//!
//! `CADENZA_GUIDE_RECORD=1` rewrites the guide's `json` blocks with the responses
//! of this run (use it with `CADENZA_GUIDE_TRACKS=150000`, the demo's default size,
//! so the guide shows what a reader will see).

use cadenza::demo::client::ApiClient;
use cadenza::demo::{DemoError, DemoOptions, Outcome};
use serde_json::{json, Value};

use crate::helpers::{spawn_app, Backend};
use crate::on_both_backends;

const GUIDE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/guide.md");

/// One `sh` block of the guide and the `json` block after it, if any.
#[derive(Debug, Clone)]
struct Step {
    command: String,
    /// Line range (0-based, exclusive end) of the expected block's body in the guide.
    expected: Option<(usize, usize)>,
    line: usize,
}

fn parse_guide(text: &str) -> Vec<Step> {
    let lines: Vec<&str> = text.lines().collect();
    let mut steps: Vec<Step> = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let fence = lines[i].trim_start();
        if let Some(info) = fence.strip_prefix("```") {
            let info = info.trim().to_string();
            let start = i + 1;
            let mut end = start;
            while end < lines.len() && !lines[end].trim_start().starts_with("```") {
                end += 1;
            }
            match info.as_str() {
                "sh" => steps.push(Step {
                    command: lines[start..end].join("\n"),
                    expected: None,
                    line: i + 1,
                }),
                "json" => {
                    if let Some(step) = steps.last_mut().filter(|s| s.expected.is_none()) {
                        step.expected = Some((start, end));
                    }
                }
                _ => {}
            }
            i = end + 1;
        } else {
            i += 1;
        }
    }
    steps
}

/// Runs every step in one bash session (variables carry over, as in a reader's
/// terminal) and returns each step's output and exit status.
fn run_steps(steps: &[Step], base: &str) -> Vec<(String, i32)> {
    const MARK: &str = "@@cadenza-guide-step";
    let mut script = String::from("set -o pipefail\n");
    for step in steps {
        script.push_str(&step.command);
        script.push_str(&format!("\nprintf '\\n{MARK} %d\\n' $?\n"));
    }
    let output = std::process::Command::new("bash")
        .arg("-c")
        .arg(&script)
        .env("CADENZA", base)
        .output()
        .expect("bash runs");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let mut results = Vec::new();
    let mut current = String::new();
    for line in stdout.split_inclusive('\n') {
        if let Some(code) = line.trim_end().strip_prefix(MARK) {
            results.push((
                current.trim().to_string(),
                code.trim().parse().unwrap_or(-1),
            ));
            current.clear();
        } else {
            current.push_str(line);
        }
    }
    assert_eq!(
        results.len(),
        steps.len(),
        "the guide's script stopped early; stderr: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    results
}

/// Compares the shape of two JSON documents: the same keys, the same value types,
/// lists empty in both or in neither (compared element by element).
fn same_shape(expected: &Value, actual: &Value, path: &str) -> Result<(), String> {
    match (expected, actual) {
        (Value::Object(e), Value::Object(a)) => {
            let mut ek: Vec<&String> = e.keys().collect();
            let mut ak: Vec<&String> = a.keys().collect();
            ek.sort();
            ak.sort();
            if ek != ak {
                return Err(format!("{path}: keys {ek:?} expected, got {ak:?}"));
            }
            for (k, v) in e {
                same_shape(v, &a[k], &format!("{path}.{k}"))?;
            }
            Ok(())
        }
        (Value::Array(e), Value::Array(a)) => {
            if e.is_empty() != a.is_empty() {
                return Err(format!(
                    "{path}: {} items expected, got {}",
                    e.len(),
                    a.len()
                ));
            }
            for (i, (ev, av)) in e.iter().zip(a).enumerate() {
                same_shape(ev, av, &format!("{path}[{i}]"))?;
            }
            Ok(())
        }
        (Value::String(_), Value::String(_))
        | (Value::Number(_), Value::Number(_))
        | (Value::Bool(_), Value::Bool(_))
        | (Value::Null, Value::Null) => Ok(()),
        (e, a) => Err(format!("{path}: expected {e}, got {a}")),
    }
}

/// Pretty-prints with jq, which keeps the API's key order (serde_json's `Value`
/// would sort the keys).
fn pretty_in_api_order(output: &str) -> String {
    use std::io::Write;
    let mut jq = std::process::Command::new("jq")
        .arg(".")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("jq runs");
    if let Some(mut stdin) = jq.stdin.take() {
        stdin.write_all(output.as_bytes()).expect("jq reads");
    }
    let out = jq.wait_with_output().expect("jq answers");
    String::from_utf8_lossy(&out.stdout).trim_end().to_string()
}

async fn seed_demo(app: &crate::helpers::TestApp) -> Result<Outcome, DemoError> {
    let tracks = std::env::var("CADENZA_GUIDE_TRACKS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    cadenza::demo::seed(
        &ApiClient::new(&app.base),
        &app.db(2),
        &DemoOptions { tracks, seed: 1 },
        &app.data_dir.join("demo"),
        &|_| {},
    )
    .await
}

async fn every_command_of_the_guide_works_as_written(backend: Backend) {
    let app = spawn_app(backend).await;
    let market = match seed_demo(&app).await.expect("the demo seeds") {
        Outcome::Seeded(market) => market,
        Outcome::AlreadySeeded => panic!("a fresh database was taken for seeded"),
    };
    // Deals in every state (the conflict-refused one stays agreed, with one signature).
    let mut states: Vec<&str> = market.deals.iter().map(|d| d.state.as_str()).collect();
    states.sort_unstable();
    states.dedup();
    assert_eq!(
        states,
        [
            "agreed",
            "completed",
            "draft",
            "executed",
            "expired",
            "negotiating",
            "rejected",
            "terminated",
            "withdrawn"
        ]
    );
    assert!(
        market
            .deals
            .iter()
            .any(|d| d.note.contains("signature refused")),
        "{:?}",
        market.deals
    );

    let text = std::fs::read_to_string(GUIDE).expect("docs/guide.md");
    let steps = parse_guide(&text);
    assert!(steps.len() >= 15, "the guide has its commands");
    let base = app.base.clone();
    let steps_for_run = steps.clone();
    let results = actix_web::rt::task::spawn_blocking(move || run_steps(&steps_for_run, &base))
        .await
        .expect("the guide ran");

    let lines: Vec<&str> = text.lines().collect();
    let record = std::env::var("CADENZA_GUIDE_RECORD").is_ok_and(|v| v == "1");
    let mut recorded: Vec<((usize, usize), String)> = Vec::new();
    let mut failures = Vec::new();
    for (step, (output, status)) in steps.iter().zip(&results) {
        match step.expected {
            None => {
                if *status != 0 || !output.is_empty() {
                    failures.push(format!(
                        "docs/guide.md:{}: exit {status}, printed {output:?}",
                        step.line
                    ));
                }
            }
            Some((start, end)) => {
                let expected: Value = match serde_json::from_str(&lines[start..end].join("\n")) {
                    Ok(v) => v,
                    Err(e) => {
                        failures.push(format!("docs/guide.md:{}: bad json block: {e}", start));
                        continue;
                    }
                };
                let actual: Value = serde_json::from_str(output).unwrap_or_else(|_| json!(output));
                if record {
                    recorded.push(((start, end), pretty_in_api_order(output)));
                } else if let Err(e) = same_shape(&expected, &actual, "$") {
                    failures.push(format!(
                        "docs/guide.md:{}: {e}\n  output: {output}",
                        step.line
                    ));
                }
            }
        }
    }
    if record && backend == Backend::Sqlite {
        let mut out: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
        for ((start, end), pretty) in recorded.into_iter().rev() {
            out.splice(start..end, pretty.lines().map(str::to_string));
        }
        std::fs::write(GUIDE, out.join("\n") + "\n").expect("guide written");
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));

    // Seeding again changes nothing.
    assert!(matches!(
        seed_demo(&app).await.expect("a second run answers"),
        Outcome::AlreadySeeded
    ));
}

async fn the_demo_refuses_a_database_with_other_data(backend: Backend) {
    let app = spawn_app(backend).await;
    app.register("Someone Else", "else@example.test").await;
    match seed_demo(&app).await {
        Err(DemoError::Refused(message)) => {
            assert!(message.contains("1 organization"), "{message}")
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    let orgs = app
        .get(
            "/api/v1/organizations",
            Some(
                &app.register("Third", "third@example.test")
                    .await
                    .access_token,
            ),
        )
        .await;
    assert_eq!(
        orgs.assert_status(200)["items"].as_array().map(Vec::len),
        Some(2),
        "nothing was seeded: {}",
        orgs.text
    );
}

/// The command itself, as a reader runs it: the first run seeds and prints the
/// logins, the second changes nothing and says so.
async fn the_demo_command_seeds_once(backend: Backend) {
    let (settings, dir, _postgres) = crate::helpers::test_settings(backend);
    let url = settings.database.database_url.clone().unwrap_or_default();
    let run = || {
        std::process::Command::new(env!("CARGO_BIN_EXE_cadenza"))
            .args(["demo", "--tracks", "1000"])
            .env("DATABASE_URL", &url)
            .env("CADENZA_DATA_DIR", dir.path())
            .env_remove("CADENZA_ENV")
            .output()
            .expect("cadenza demo runs")
    };
    let first = run();
    let stdout = String::from_utf8_lossy(&first.stdout);
    assert!(
        first.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&first.stderr)
    );
    assert!(stdout.contains("Seeded the demo market"), "{stdout}");
    assert!(stdout.contains("marco@aurora.example"), "{stdout}");
    for state in [
        "executed",
        "negotiating",
        "expired",
        "completed",
        "terminated",
    ] {
        assert!(stdout.contains(state), "{state} missing: {stdout}");
    }
    let second = run();
    let stdout = String::from_utf8_lossy(&second.stdout);
    assert!(second.status.success(), "{stdout}");
    assert!(
        stdout.contains("already seeded") && stdout.contains("nothing changed"),
        "{stdout}"
    );

    let production = std::process::Command::new(env!("CARGO_BIN_EXE_cadenza"))
        .args(["demo", "--tracks", "1000"])
        .env("DATABASE_URL", &url)
        .env("CADENZA_DATA_DIR", dir.path())
        .env("CADENZA_ENV", "production")
        .env("CADENZA_JWT_SECRET", crate::helpers::TEST_SECRET)
        .output()
        .expect("cadenza demo runs");
    assert!(!production.status.success());
    assert!(String::from_utf8_lossy(&production.stderr).contains("refuses"));
}

on_both_backends!(
    every_command_of_the_guide_works_as_written,
    the_demo_refuses_a_database_with_other_data,
    the_demo_command_seeds_once,
);
