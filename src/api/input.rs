//! Input that cannot be stored stops at the edge, the same on both backends.
//!
//! PostgreSQL refuses the NUL character in `TEXT` (SQLite stores it), and unbounded
//! strings overflow indexes (a B-tree entry holds about 2.7 KB) or simply cost memory.
//! Rather than trusting every handler and query to remember, three checks run on every
//! request before a handler sees it:
//!
//! - **path segments** and **query parameters** (middleware [`refuse_unstorable_input`]):
//!   no NUL, a path segment at most [`MAX_PATH_SEGMENT_BYTES`] bytes, a query value at most
//!   [`DEFAULT_MAX_CHARS`] characters; refused with 400 naming the route parameter
//!   (`id`, from the route pattern the path matches) or the query parameter;
//! - **JSON bodies** ([`check_json_body`], called by `extract::parse_json`, which every
//!   JSON body goes through): no NUL in any string or key, every string at most its
//!   field's ceiling ([`max_chars`]); refused with 422 listing every field at fault
//!   (`terms.clauses`, `selector.labels[3]`);
//! - **cursors** are checked after decoding (`pagination::decode_cursor`), and imported
//!   rows by the track's own validation (rejected by line).
//!
//! The ceilings are an outer bound; the domain's own limits (a name of 200 characters,
//! an ISRC of 12) are usually tighter and say so in their own words. `docs/api.md`,
//! "Input limits", lists them.

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::ResponseError;
use percent_encoding::percent_decode_str;
use serde_json::Value;
use url::form_urlencoded;

use super::problem::ApiError;
use crate::domain::{is_storable_text, ValidationErrors, NUL_REFUSED};

/// Any string field, query value or cursor without a ceiling of its own.
pub const DEFAULT_MAX_CHARS: usize = 1_000;
/// Ids are 36 characters; nothing routed needs more than this.
pub const MAX_PATH_SEGMENT_BYTES: usize = 256;
/// Field errors listed in one answer; a hostile body must not make a huge one.
const MAX_ERRORS_LISTED: usize = 50;

/// Fields whose ceiling is not [`DEFAULT_MAX_CHARS`], by the field's own name (the last
/// key of its path, so `terms.clauses` is `clauses`).
const FIELD_MAX_CHARS: &[(&str, usize)] = &[
    // Free-text clauses of a term sheet (the domain allows 20,000).
    ("clauses", 20_000),
    // Why a deal was rejected or terminated (the domain allows 2,000).
    ("reason", 2_000),
    // RFC 5321's limit on a forward path; also bounds the login throttle's key.
    ("email", 254),
    // New passwords are 10 to 128 characters; a login attempt may be longer but
    // is not hashed past this.
    ("password", 1_024),
];

/// The ceiling of a string field, by its name.
pub fn max_chars(field: &str) -> usize {
    FIELD_MAX_CHARS
        .iter()
        .find(|(name, _)| *name == field)
        .map_or(DEFAULT_MAX_CHARS, |(_, max)| *max)
}

/// Why a JSON body is refused before its typed parse.
#[derive(Debug)]
pub enum BodyRefusal {
    /// Not JSON at all (a 400).
    Syntax(serde_json::Error),
    /// Strings that cannot be taken, by field (a 422).
    Fields(ValidationErrors),
}

/// Every string (and key) of a JSON body: storable, and within its field's ceiling.
///
/// A first pass scans the body without building it (strings without escapes are
/// borrowed, not copied), which is all a clean body costs; only a body that fails it is
/// parsed into a document and walked again to name every field at fault.
pub fn check_json_body(body: &[u8]) -> Result<(), BodyRefusal> {
    use serde::de::DeserializeSeed;
    let mut de = serde_json::Deserializer::from_slice(body);
    let clean = Scan { field: "" }
        .deserialize(&mut de)
        .map_err(BodyRefusal::Syntax)?;
    if clean {
        return Ok(());
    }
    let document: Value = serde_json::from_slice(body).map_err(BodyRefusal::Syntax)?;
    check_json(&document).map_err(BodyRefusal::Fields)
}

/// The fast pass of [`check_json_body`]: `true` when every string and key is acceptable.
struct Scan<'k> {
    /// The member name the scanned value sits under (its ceiling's key).
    field: &'k str,
}

impl<'de> serde::de::DeserializeSeed<'de> for Scan<'_> {
    type Value = bool;

    fn deserialize<D: serde::Deserializer<'de>>(self, deserializer: D) -> Result<bool, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> serde::de::Visitor<'de> for Scan<'_> {
    type Value = bool;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_str<E>(self, text: &str) -> Result<bool, E> {
        Ok(text_problem(text, max_chars(self.field)).is_none())
    }

    fn visit_bool<E>(self, _: bool) -> Result<bool, E> {
        Ok(true)
    }

    fn visit_i64<E>(self, _: i64) -> Result<bool, E> {
        Ok(true)
    }

    fn visit_u64<E>(self, _: u64) -> Result<bool, E> {
        Ok(true)
    }

    fn visit_f64<E>(self, _: f64) -> Result<bool, E> {
        Ok(true)
    }

    fn visit_unit<E>(self) -> Result<bool, E> {
        Ok(true)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut items: A) -> Result<bool, A::Error> {
        let mut clean = true;
        while let Some(ok) = items.next_element_seed(Scan { field: self.field })? {
            clean &= ok;
        }
        Ok(clean)
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut members: A) -> Result<bool, A::Error> {
        let mut clean = true;
        while let Some(MemberName(name)) = members.next_key::<MemberName<'de>>()? {
            clean &= is_storable_text(&name);
            clean &= members.next_value_seed(Scan { field: &name })?;
        }
        Ok(clean)
    }
}

/// A member name, borrowed from the body when it has no escapes.
struct MemberName<'de>(std::borrow::Cow<'de, str>);

impl<'de> serde::Deserialize<'de> for MemberName<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Name;
        impl<'de> serde::de::Visitor<'de> for Name {
            type Value = MemberName<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a member name")
            }
            fn visit_borrowed_str<E>(self, name: &'de str) -> Result<MemberName<'de>, E> {
                Ok(MemberName(std::borrow::Cow::Borrowed(name)))
            }
            fn visit_str<E>(self, name: &str) -> Result<MemberName<'de>, E> {
                Ok(MemberName(std::borrow::Cow::Owned(name.to_string())))
            }
        }
        deserializer.deserialize_str(Name)
    }
}

/// Every string (and key) of a JSON document: storable, and within its field's ceiling.
pub fn check_json(document: &Value) -> Result<(), ValidationErrors> {
    let mut errors = ValidationErrors::new();
    walk(document, &mut String::new(), "", &mut errors);
    errors.0.truncate(MAX_ERRORS_LISTED);
    errors.into_result()
}

fn walk(value: &Value, path: &mut String, field: &str, errors: &mut ValidationErrors) {
    match value {
        Value::String(text) => {
            if let Some(message) = text_problem(text, max_chars(field)) {
                errors.push(path.clone(), message);
            }
        }
        Value::Array(items) => {
            let len = path.len();
            for (i, item) in items.iter().enumerate() {
                path.push_str(&format!("[{i}]"));
                walk(item, path, field, errors);
                path.truncate(len);
            }
        }
        Value::Object(members) => {
            let len = path.len();
            for (key, member) in members {
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(key);
                if !is_storable_text(key) {
                    errors.push(path.clone(), format!("the member's name {NUL_REFUSED}"));
                } else {
                    walk(member, path, key, errors);
                }
                path.truncate(len);
            }
        }
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

/// Why `text` cannot be taken, if it cannot.
pub fn text_problem(text: &str, max_chars: usize) -> Option<String> {
    if !is_storable_text(text) {
        Some(NUL_REFUSED.to_string())
    } else if text.len() > max_chars && text.chars().count() > max_chars {
        Some(format!("must be at most {max_chars} characters"))
    } else {
        None
    }
}

/// The name of the parameter at `index` of the route `pattern` (`/api/v1/deals/{id}`).
fn parameter_at(pattern: &str, index: usize) -> Option<&str> {
    // A parameter fills its segment (`{id}`) or starts it before a suffix (`{id}.csv`).
    pattern
        .split('/')
        .nth(index)
        .and_then(|segment| segment.strip_prefix('{'))
        .and_then(|segment| segment.split_once('}'))
        .map(|(name, _suffix)| name)
}

/// The first path segment or query parameter that cannot be taken, as a 400 naming it.
/// `pattern` computes the matched route pattern, asked only when something is wrong.
pub fn check_path_and_query(
    path: &str,
    query: &str,
    pattern: impl FnOnce() -> Option<String>,
) -> Result<(), ApiError> {
    // Decoding borrows unless a segment has escapes: no allocation on an ordinary path.
    for (index, raw) in path.split('/').enumerate() {
        let segment = percent_decode_str(raw).decode_utf8_lossy();
        let problem = if !is_storable_text(&segment) {
            Some(NUL_REFUSED.to_string())
        } else if segment.len() > MAX_PATH_SEGMENT_BYTES {
            Some(format!("must be at most {MAX_PATH_SEGMENT_BYTES} bytes"))
        } else {
            None
        };
        if let Some(message) = problem {
            let pattern = pattern();
            let name = pattern
                .as_deref()
                .and_then(|p| parameter_at(p, index))
                .unwrap_or("path");
            return Err(ApiError::BadRequest {
                detail: format!("path parameter `{name}` {message}"),
                field: Some(name.to_string()),
            });
        }
    }
    for (name, value) in form_urlencoded::parse(query.as_bytes()) {
        let problem = if !is_storable_text(&name) {
            Some((
                String::from("query"),
                format!("a parameter's name {NUL_REFUSED}"),
            ))
        } else {
            text_problem(&value, DEFAULT_MAX_CHARS).map(|m| (name.into_owned(), m))
        };
        if let Some((name, message)) = problem {
            return Err(ApiError::BadRequest {
                detail: format!("query parameter `{name}` {message}"),
                field: Some(name),
            });
        }
    }
    Ok(())
}

/// Middleware: refuses a request whose path or query cannot be taken (see the module
/// doc) before routing, so no handler, extractor or query ever sees it.
pub async fn refuse_unstorable_input(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    if let Err(refused) = check_path_and_query(req.uri().path(), req.query_string(), || {
        req.resource_map().match_pattern(req.uri().path())
    }) {
        let response = refused.error_response();
        return Ok(req.into_response(response).map_into_right_body());
    }
    next.call(req)
        .await
        .map(ServiceResponse::map_into_left_body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fields(document: Value) -> Vec<String> {
        check_json(&document)
            .err()
            .map(|e| e.0.into_iter().map(|f| f.field).collect())
            .unwrap_or_default()
    }

    #[test]
    fn nul_anywhere_in_a_body_names_the_field() {
        assert_eq!(
            fields(json!({
                "name": "ok",
                "terms": {"clauses": "a\u{0}b", "installments": [{"amount": "1"}, {"amount": "\u{0}"}]},
                "selector": {"labels": ["fine", "bad\u{0}"]},
            })),
            vec![
                "selector.labels[1]",
                "terms.clauses",
                "terms.installments[1].amount"
            ]
        );
        assert_eq!(fields(json!({"a\u{0}": 1})), vec!["a\u{0}"]);
        assert_eq!(fields(json!(["\u{0}"])), vec!["[0]"]);
    }

    #[test]
    fn ceilings_follow_the_field_name() {
        assert!(fields(json!({"clauses": "x".repeat(20_000)})).is_empty());
        assert_eq!(
            fields(json!({"terms": {"clauses": "x".repeat(20_001)}})),
            vec!["terms.clauses"]
        );
        assert!(fields(json!({"name": "é".repeat(DEFAULT_MAX_CHARS)})).is_empty());
        assert_eq!(
            fields(json!({"name": "é".repeat(DEFAULT_MAX_CHARS + 1)})),
            vec!["name"]
        );
        assert_eq!(
            fields(json!({"email": format!("{}@example.com", "a".repeat(250))})),
            vec!["email"]
        );
        assert!(fields(json!({"count": 5, "ok": true, "none": null})).is_empty());
    }

    #[test]
    fn the_fast_scan_and_the_named_walk_agree() {
        for document in [
            json!({"name": "ok", "terms": {"clauses": "fine", "installments": [{"amount": "1"}]}}),
            json!({"name": "a\u{0}b"}),
            json!({"selector": {"labels": ["x", "y\u{0}"]}}),
            json!({"k\u{0}": 1}),
            json!({"esc\"aped": "va\"lue", "clauses": "x".repeat(20_000)}),
            json!({"clauses": "x".repeat(20_001)}),
            json!({"email": "é".repeat(255)}),
            json!([1, true, null, 2.5, -3, {"a": [[]]}]),
        ] {
            let body = document.to_string().into_bytes();
            let fast = check_json_body(&body);
            let named = check_json(&document);
            assert_eq!(fast.is_ok(), named.is_ok(), "{document}");
            if let (Err(BodyRefusal::Fields(a)), Err(b)) = (fast, named) {
                assert_eq!(a, b);
            }
        }
        assert!(matches!(
            check_json_body(b"{\"a\": "),
            Err(BodyRefusal::Syntax(_))
        ));
    }

    #[test]
    fn hostile_bodies_give_a_bounded_answer() {
        let many: Vec<String> = (0..10_000).map(|_| "\u{0}".to_string()).collect();
        let errors = check_json(&json!({ "include_isrcs": many })).unwrap_err();
        assert_eq!(errors.0.len(), MAX_ERRORS_LISTED);
    }

    fn refused_field(path: &str, query: &str) -> Option<String> {
        let patterns = [
            "/api/v1/deals/{id}",
            "/api/v1/deals/{id}/sign",
            "/api/v1/slices/{id}/tracks/{isrc}",
            "/api/v1/statements/{id}.csv",
        ];
        // What actix's resource map does, for the test's few routes.
        let matched = || {
            patterns
                .iter()
                .find(|p| {
                    let (p, s): (Vec<_>, Vec<_>) =
                        (p.split('/').collect(), path.split('/').collect());
                    p.len() == s.len()
                        && p.iter().zip(&s).all(|(p, s)| p.starts_with('{') || p == s)
                })
                .map(|p| p.to_string())
        };
        match check_path_and_query(path, query, matched) {
            Ok(()) => None,
            Err(ApiError::BadRequest { field, .. }) => field,
            Err(other) => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn path_segments_are_named_by_their_route_parameter() {
        assert_eq!(refused_field("/api/v1/deals/abc", ""), None);
        assert_eq!(
            refused_field("/api/v1/deals/a%00b", "").as_deref(),
            Some("id")
        );
        assert_eq!(
            refused_field("/api/v1/deals/%00/sign", "").as_deref(),
            Some("id")
        );
        assert_eq!(
            refused_field("/api/v1/slices/s1/tracks/%00", "").as_deref(),
            Some("isrc")
        );
        assert_eq!(
            refused_field("/api/v1/statements/a%00b.csv", "").as_deref(),
            Some("id")
        );
        assert_eq!(
            refused_field("/api/v1/nowhere/%00", "").as_deref(),
            Some("path")
        );
        let long = "x".repeat(MAX_PATH_SEGMENT_BYTES + 1);
        assert_eq!(
            refused_field(&format!("/api/v1/deals/{long}"), "").as_deref(),
            Some("id")
        );
    }

    #[test]
    fn query_parameters_are_named() {
        assert_eq!(refused_field("/api/v1/deals", "state=open&limit=5"), None);
        assert_eq!(
            refused_field("/api/v1/deals", "state=a%00").as_deref(),
            Some("state")
        );
        let long = "q=".to_string() + &"x".repeat(DEFAULT_MAX_CHARS + 1);
        assert_eq!(refused_field("/api/v1/offers", &long).as_deref(), Some("q"));
        assert_eq!(
            refused_field("/api/v1/offers", "a%00=1").as_deref(),
            Some("query")
        );
    }
}
