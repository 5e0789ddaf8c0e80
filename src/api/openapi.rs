//! Completes the generated OpenAPI document with the error answers that follow from
//! an operation's shape rather than from its handler: every authenticated operation
//! can answer 401, every operation with a body 400/413/415/422, every path with an
//! `{id}` 400 and 404, every operation touching the database 500 and 503. Declaring them by
//! hand on some seventy handlers is how they went missing in the first place (the
//! schemathesis run in `.ci/run` found them); deriving them from the shape keeps the
//! document complete when a handler is added. Answers a handler declares itself
//! (with its own description) are kept as they are.

use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::{ContentBuilder, ObjectBuilder, OpenApi, Ref, RefOr, Response, Type};

use super::problem::PROBLEM_CONTENT_TYPE;

/// Adds the shared error answers to every operation of `doc`.
pub fn complete(doc: &mut OpenApi) {
    for (path, item) in doc.paths.paths.iter_mut() {
        let operations = [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
            &mut item.options,
            &mut item.head,
            &mut item.trace,
        ];
        for operation in operations.into_iter().flatten() {
            complete_operation(path, operation);
        }
    }
}

fn complete_operation(path: &str, op: &mut Operation) {
    let authenticated = op.security.as_ref().is_some_and(|s| !s.is_empty());
    let parameters = op.parameters.as_deref().unwrap_or_default();
    let reads_query_or_headers = parameters
        .iter()
        .any(|p| matches!(p.parameter_in, ParameterIn::Query | ParameterIn::Header));
    let body_types: Vec<String> = op
        .request_body
        .as_ref()
        .map(|b| b.content.keys().cloned().collect())
        .unwrap_or_default();
    let json_body = body_types.iter().any(|t| t == "application/json");
    // Operations without a database behind them, and `/ready`, whose 503 is its purpose and
    // declared with it, never answer 500 or 503 otherwise.
    let probe = matches!(
        path,
        "/health" | "/ready" | "/metrics" | "/api/openapi.json"
    );

    let mut add = |status: &str, response: Response| {
        op.responses
            .responses
            .entry(status.to_string())
            .or_insert(RefOr::T(response));
    };
    if reads_query_or_headers || !body_types.is_empty() || path.contains('{') {
        add(
            "400",
            problem(
                "Malformed request: a body that is not JSON, a query string, header, `limit` or \
                 `cursor` that cannot be read, or a path or query value holding a NUL character \
                 or longer than allowed (docs/api.md, \"Input limits\")",
            ),
        );
    }
    if authenticated {
        let mut response = problem(
            "No, an unreadable, expired or invalid access token, or the account no longer exists",
        );
        response.headers.insert(
            "WWW-Authenticate".into(),
            HeaderBuilder::new()
                .schema(ObjectBuilder::new().schema_type(Type::String))
                .description(Some("`Bearer`"))
                .build(),
        );
        add("401", response);
    }
    if path.contains('{') {
        add(
            "404",
            problem("Not found, or belonging to another organization (never told apart)"),
        );
    }
    if json_body {
        add(
            "413",
            problem("The body is larger than `CADENZA_MAX_JSON_BYTES`"),
        );
    }
    if !body_types.is_empty() {
        add(
            "415",
            problem(&format!(
                "The body's `Content-Type` is not {}",
                body_types
                    .iter()
                    .map(|t| format!("`{t}`"))
                    .collect::<Vec<_>>()
                    .join(" or ")
            )),
        );
        add(
            "422",
            problem("The body is JSON but a field is missing, of the wrong type or invalid"),
        );
    }
    if !probe {
        add(
            "500",
            problem("A fault on the server's side; logged under the `x-request-id`"),
        );
        add(
            "503",
            problem("No database connection could be had in time; retry later"),
        );
    }
    // Set by the request-id middleware on every answer, errors included.
    for response in op.responses.responses.values_mut() {
        if let RefOr::T(response) = response {
            response
                .headers
                .entry("x-request-id".into())
                .or_insert_with(|| {
                    HeaderBuilder::new()
                        .schema(ObjectBuilder::new().schema_type(Type::String))
                        .description(Some(
                            "This request's id, in the server's logs; quote it when reporting a problem",
                        ))
                        .build()
                });
        }
    }
}

/// A problem+json answer with the shared `Problem` schema.
fn problem(description: &str) -> Response {
    ResponseBuilder::new()
        .description(description)
        .content(
            PROBLEM_CONTENT_TYPE,
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("Problem")))
                .build(),
        )
        .build()
}

/// The methods each documented path answers, for the `Allow` header RFC 9110 requires
/// on a 405. Taken from the completed document, which lists every route (a test holds
/// it to that), so the header cannot drift from the routes.
#[derive(Debug, Default)]
pub struct AllowedMethods(std::collections::HashMap<String, String>);

impl AllowedMethods {
    pub fn from_document(doc: &OpenApi) -> Self {
        let map = doc
            .paths
            .paths
            .iter()
            .map(|(path, item)| {
                let methods = [
                    ("GET", item.get.is_some()),
                    ("HEAD", item.head.is_some()),
                    ("POST", item.post.is_some()),
                    ("PUT", item.put.is_some()),
                    ("PATCH", item.patch.is_some()),
                    ("DELETE", item.delete.is_some()),
                    ("OPTIONS", item.options.is_some()),
                    ("TRACE", item.trace.is_some()),
                ]
                .into_iter()
                .filter_map(|(name, present)| present.then_some(name))
                .collect::<Vec<_>>()
                .join(", ");
                (path.clone(), methods)
            })
            .collect();
        AllowedMethods(map)
    }

    /// The `Allow` value for a route pattern (`/api/v1/deals/{id}`) or a literal path.
    pub fn for_path(&self, pattern: &str) -> Option<&str> {
        self.0.get(pattern).map(String::as_str)
    }
}
