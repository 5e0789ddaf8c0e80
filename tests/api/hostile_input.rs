//! Input PostgreSQL cannot store never reaches it: a table-driven walk over the OpenAPI
//! document posts the NUL character and over-long strings into every path parameter,
//! query parameter (filters and cursors) and JSON string field of every operation, on
//! both backends, and expects a 4xx naming the input — never a 5xx. Imports reject such
//! rows by line, and their reports stay bounded.

use base64::Engine;
use reqwest::Method;
use serde_json::{json, Map, Value};

use crate::helpers::{spawn_app, Backend, Reply, TestApp};
use crate::on_both_backends;

/// Longer than every documented ceiling (the largest, `clauses`, is 20,000).
const TOO_LONG: usize = 20_001;

/// One string input of an operation's body: where it sits, and the field the answer
/// must name for it.
#[derive(Debug)]
struct BodyField {
    /// Object keys from the root; `None` for "an element of this array".
    steps: Vec<Option<String>>,
}

impl BodyField {
    /// A document holding `value` at this field and nothing else.
    fn document(&self, value: &str) -> Value {
        let mut out = Value::String(value.to_string());
        for step in self.steps.iter().rev() {
            out = match step {
                Some(key) => {
                    let mut object = Map::new();
                    object.insert(key.clone(), out);
                    Value::Object(object)
                }
                None => Value::Array(vec![out]),
            };
        }
        out
    }

    /// The field as the API names it: `terms.installments[0].amount`.
    fn name(&self) -> String {
        let mut name = String::new();
        for step in &self.steps {
            match step {
                Some(key) => {
                    if !name.is_empty() {
                        name.push('.');
                    }
                    name.push_str(key);
                }
                None => name.push_str("[0]"),
            }
        }
        name
    }
}

fn resolve<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
    match schema["$ref"].as_str() {
        Some(reference) => {
            let name = reference.trim_start_matches("#/components/schemas/");
            &doc["components"]["schemas"][name]
        }
        None => schema,
    }
}

fn has_type(schema: &Value, wanted: &str) -> bool {
    match &schema["type"] {
        Value::String(t) => t == wanted,
        Value::Array(types) => types.iter().any(|t| t == wanted),
        _ => false,
    }
}

/// Every string field reachable in `schema` (through `$ref`, `allOf`/`oneOf`/`anyOf`,
/// objects, arrays and maps), at most a few levels deep.
fn string_fields(
    doc: &Value,
    schema: &Value,
    steps: Vec<Option<String>>,
    out: &mut Vec<BodyField>,
) {
    if steps.len() > 6 {
        return;
    }
    let schema = resolve(doc, schema);
    for combinator in ["allOf", "oneOf", "anyOf"] {
        for part in schema[combinator].as_array().into_iter().flatten() {
            string_fields(doc, part, steps.clone(), out);
        }
    }
    if has_type(schema, "string") && !steps.is_empty() {
        out.push(BodyField {
            steps: steps.clone(),
        });
    }
    if has_type(schema, "array") {
        let mut deeper = steps.clone();
        deeper.push(None);
        string_fields(doc, &schema["items"], deeper, out);
    }
    if let Some(properties) = schema["properties"].as_object() {
        for (key, property) in properties {
            let mut deeper = steps.clone();
            deeper.push(Some(key.clone()));
            string_fields(doc, property, deeper, out);
        }
    }
}

/// The concrete path of `pattern` with `value` as parameter `target` and a harmless id
/// for the others.
fn concrete(pattern: &str, target: Option<&str>, value: &str) -> String {
    pattern
        .split('/')
        .map(
            // A parameter fills its segment (`{id}`) or starts it before a suffix (`{id}.csv`).
            |segment| match segment.strip_prefix('{').and_then(|s| s.split_once('}')) {
                Some((name, suffix)) if Some(name) == target => format!("{value}{suffix}"),
                Some((_, suffix)) => format!("0194e0b2-0000-7000-8000-000000000000{suffix}"),
                None => segment.to_string(),
            },
        )
        .collect::<Vec<_>>()
        .join("/")
}

async fn send(
    app: &TestApp,
    token: &str,
    method: &str,
    path_and_query: &str,
    body: Option<&Value>,
) -> Reply {
    let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
    let mut request = app
        .client
        .request(method, app.url(path_and_query))
        .bearer_auth(token)
        .header("if-match", "\"1\"");
    if let Some(body) = body {
        request = request.json(body);
    }
    TestApp::reply(request.send().await.expect("answered")).await
}

/// What every refusal must look like: a 4xx naming `field`.
fn assert_refused(reply: &Reply, status: u16, field: &str, what: &str) {
    assert_eq!(
        reply.status.as_u16(),
        status,
        "{what}: expected {status} naming `{field}`, got {} {}",
        reply.status,
        reply.text
    );
    let fields = reply.error_fields();
    assert!(
        fields.iter().any(|f| f == field),
        "{what}: the answer names {fields:?}, not `{field}`"
    );
}

async fn every_documented_input_refuses_nul_and_overlong_strings(backend: Backend) {
    let app = spawn_app(backend).await;
    let owner = app
        .register("Hostile Input Ltd", "owner@hostile.test")
        .await;
    let token = owner.access_token.as_str();
    let doc = app
        .get("/api/openapi.json", None)
        .await
        .assert_status(200)
        .clone();
    let long = "x".repeat(TOO_LONG);
    let nul_cursor = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode("a\0b");
    let (mut path_cases, mut query_cases, mut body_cases) = (0, 0, 0);

    for (pattern, item) in doc["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let parameters = operation["parameters"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            for parameter in &parameters {
                let name = parameter["name"].as_str().unwrap();
                match parameter["in"].as_str().unwrap() {
                    "path" => {
                        for (value, kind) in [("a%00b", "NUL"), (long.as_str(), "over-long")] {
                            let url = concrete(pattern, Some(name), value);
                            let reply = send(&app, token, method, &url, None).await;
                            assert_refused(
                                &reply,
                                400,
                                name,
                                &format!("{kind} path {method} {url:.80}"),
                            );
                            path_cases += 1;
                        }
                    }
                    "query" => {
                        let base = concrete(pattern, None, "");
                        for (value, kind) in [("a%00b", "NUL"), (long.as_str(), "over-long")] {
                            let url = format!("{base}?{name}={value}");
                            let reply = send(&app, token, method, &url, None).await;
                            assert_refused(
                                &reply,
                                400,
                                name,
                                &format!("{kind} query {method} {pattern}?{name}"),
                            );
                            query_cases += 1;
                        }
                        if name == "cursor" {
                            // A cursor that decodes to a NUL byte: refused, whatever the route.
                            let url = format!("{base}?cursor={nul_cursor}");
                            let reply = send(&app, token, method, &url, None).await;
                            assert!(
                                reply.status.is_client_error(),
                                "decoded-NUL cursor on {method} {pattern}: {} {}",
                                reply.status,
                                reply.text
                            );
                            if !pattern.contains('{') {
                                assert_refused(
                                    &reply,
                                    400,
                                    "cursor",
                                    &format!("cursor {method} {pattern}"),
                                );
                            }
                            query_cases += 1;
                        }
                    }
                    _ => {}
                }
            }
            let Some(schema) =
                operation["requestBody"]["content"]["application/json"]["schema"].as_object()
            else {
                continue;
            };
            let mut fields = Vec::new();
            string_fields(
                &doc,
                &Value::Object(schema.clone()),
                Vec::new(),
                &mut fields,
            );
            let url = concrete(pattern, None, "");
            for field in &fields {
                for (value, kind) in [("a\u{0}b", "NUL"), (long.as_str(), "over-long")] {
                    let body = field.document(value);
                    let reply = send(&app, token, method, &url, Some(&body)).await;
                    assert_refused(
                        &reply,
                        422,
                        &field.name(),
                        &format!("{kind} body {method} {pattern}"),
                    );
                    body_cases += 1;
                }
            }
        }
    }
    // The walk really covered the API (a document that lost its parameters or bodies
    // would otherwise pass by checking nothing).
    assert!(path_cases >= 60, "path cases: {path_cases}");
    assert!(query_cases >= 60, "query cases: {query_cases}");
    assert!(body_cases >= 100, "body cases: {body_cases}");
    eprintln!("hostile input: {path_cases} path, {query_cases} query, {body_cases} body cases");
}

/// A CSV row with a NUL in a text cell is rejected by line; the rest is imported.
/// A file of nothing but bad lines answers a bounded report.
async fn imports_reject_unstorable_rows_and_bound_their_report(backend: Backend) {
    let app = spawn_app(backend).await;
    let owner = app.register("Import Co", "owner@import.test").await;
    let catalog = app
        .post(
            "/api/v1/catalogs",
            Some(&owner.access_token),
            &json!({"name": "Main", "territories": ["JP"], "usages": ["download"],
                    "holding_start": "2020-01-01", "holding_end": "2040-12-31", "sublicensable": true}),
        )
        .await;
    let catalog_id = catalog.assert_status(201)["id"]
        .as_str()
        .unwrap()
        .to_string();
    let import = |body: String| {
        let request = app
            .client
            .post(app.url(&format!("/api/v1/catalogs/{catalog_id}/imports")))
            .bearer_auth(&owner.access_token)
            .header("content-type", "text/csv")
            .body(body);
        async move { TestApp::reply(request.send().await.unwrap()).await }
    };
    let csv = "isrc,title,artists,label,genre,release_date,duration_ms\n\
        QZNUL2600001,Fine,Alice,L,Pop,2024-01-01,200000\n\
        QZNUL2600002,Bad\0Title,Alice,L,Pop,2024-01-01,200000\n\
        QZNUL2600003,Fine too,Bob;Ca\0rol,L,Pop,2024-01-01,200000\n\
        QZNUL2600004,Also fine,Dan,L,Pop,2024-01-01,200000\n"
        .to_string();
    let report = import(csv).await;
    let report = report.assert_status(200);
    assert_eq!(report["imported"], 2);
    assert_eq!(report["rejected_rows"], 2);
    let rejected: Vec<(i64, String)> = report["rejected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["line"].as_i64().unwrap(),
                r["field"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        rejected,
        vec![(3, "title".into()), (4, "artists[1]".into())]
    );

    // 5,000 lines, each wrong in several fields and long: the report lists the first
    // 1,000 problems, counts every row, and stays far smaller than the file.
    let mut bad = String::from("isrc,title,artists,label,genre,release_date,duration_ms\n");
    let filler = "y".repeat(300);
    for _ in 0..5_000 {
        bad.push_str(&format!("nope,{filler},,{filler},,yesterday,-1\n"));
    }
    let reply = import(bad.clone()).await;
    let report = reply.assert_status(200);
    assert_eq!(report["imported"], 0);
    assert_eq!(report["rejected_rows"], 5_000);
    assert_eq!(report["rejected_truncated"], true);
    assert_eq!(report["rejected"].as_array().unwrap().len(), 1_000);
    let size = report.to_string().len();
    assert!(
        size < 300_000 && size < bad.len(),
        "a {} byte file answered a {size} byte report",
        bad.len()
    );
}

on_both_backends!(
    every_documented_input_refuses_nul_and_overlong_strings,
    imports_reject_unstorable_rows_and_bound_their_report,
);
