//! Request extractors that fail with problem+json naming the field at fault.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::web::{Bytes, BytesMut};
use actix_web::{FromRequest, HttpRequest};
use futures_util::StreamExt;
use serde::de::DeserializeOwned;

use super::input;
use super::problem::ApiError;
use crate::domain::ValidationErrors;

/// Largest JSON body accepted, put in app data by the application.
#[derive(Debug, Clone, Copy)]
pub struct JsonLimit(pub usize);

/// A JSON body deserialized with the path of the first bad field reported
/// (`terms.installments[1].amount`), unlike actix's `Json` which only gives a
/// line and column.
#[derive(Debug)]
pub struct ApiJson<T>(pub T);

impl<T> ApiJson<T> {
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T: DeserializeOwned + 'static> FromRequest for ApiJson<T> {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let limit = req.app_data::<JsonLimit>().map_or(4 * 1024 * 1024, |l| l.0);
        let content_type_ok = is_json_content_type(req);
        let mut payload = payload.take();
        Box::pin(async move {
            if !content_type_ok {
                return Err(ApiError::UnsupportedMediaType {
                    expected: "application/json",
                });
            }
            let body = read_limited(&mut payload, limit).await?;
            parse_json(&body).map(ApiJson)
        })
    }
}

fn is_json_content_type(req: &HttpRequest) -> bool {
    req.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|mime| {
            let mime = mime.trim().to_ascii_lowercase();
            mime == "application/json"
                || (mime.starts_with("application/") && mime.ends_with("+json"))
        })
        .unwrap_or(false)
}

/// Reads the whole body, refusing it as soon as it passes `limit` bytes.
pub async fn read_limited(payload: &mut Payload, limit: usize) -> Result<Bytes, ApiError> {
    let mut body = BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk =
            chunk.map_err(|e| ApiError::bad_request(format!("could not read the body: {e}")))?;
        if body.len() + chunk.len() > limit {
            return Err(ApiError::PayloadTooLarge { limit });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

/// Syntax errors are 400 (the document is not JSON); a well-formed document
/// with a wrong or missing field is 422 with that field named.
pub fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    if body.is_empty() {
        return Err(ApiError::bad_request(
            "the request body is empty; a JSON document was expected",
        ));
    }
    // Strings PostgreSQL cannot store, or longer than their field allows, are refused
    // first, for every body alike (see `api::input`).
    input::check_json_body(body).map_err(|refused| match refused {
        input::BodyRefusal::Syntax(e) => json_error(e, String::new()),
        input::BodyRefusal::Fields(errors) => ApiError::Validation(errors),
    })?;
    let mut de = serde_json::Deserializer::from_slice(body);
    let value = serde_path_to_error::deserialize::<_, T>(&mut de).map_err(|err| {
        let path = err.path().to_string();
        json_error(err.into_inner(), path)
    })?;
    // Trailing garbage after the document is a syntax error too.
    de.end().map_err(|e| json_error(e, String::new()))?;
    Ok(value)
}

fn json_error(inner: serde_json::Error, path: String) -> ApiError {
    match inner.classify() {
        serde_json::error::Category::Data => {
            let message = inner.to_string();
            let message = strip_position(&message);
            let field = missing_field_path(&path, message).unwrap_or(path);
            let field = if field == "." { String::new() } else { field };
            ApiError::Validation(ValidationErrors::single(field, message))
        }
        _ => ApiError::BadRequest {
            detail: format!("the body is not valid JSON: {inner}"),
            field: None,
        },
    }
}

/// serde_json appends " at line 1 column 42"; the field path says more.
fn strip_position(message: &str) -> &str {
    message
        .rfind(" at line ")
        .map_or(message, |i| &message[..i])
}

/// For "missing field `name`", point at `path.name` rather than at the parent object.
fn missing_field_path(path: &str, message: &str) -> Option<String> {
    let name = message.strip_prefix("missing field `")?.strip_suffix('`')?;
    Some(if path == "." || path.is_empty() {
        name.to_string()
    } else {
        format!("{path}.{name}")
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Outer {
        name: String,
        inner: Inner,
    }

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Inner {
        items: Vec<u32>,
    }

    fn field_of(err: ApiError) -> String {
        match err {
            ApiError::Validation(v) => v.0[0].field.clone(),
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    #[test]
    fn wrong_type_names_the_nested_field() {
        let err = parse_json::<Outer>(br#"{"name":"a","inner":{"items":[1,"x"]}}"#).unwrap_err();
        assert_eq!(field_of(err), "inner.items[1]");
    }

    #[test]
    fn missing_field_names_the_field() {
        let err = parse_json::<Outer>(br#"{"inner":{"items":[]}}"#).unwrap_err();
        assert_eq!(field_of(err), "name");
        let err = parse_json::<Outer>(br#"{"name":"a","inner":{}}"#).unwrap_err();
        assert_eq!(field_of(err), "inner.items");
    }

    #[test]
    fn unstorable_strings_are_refused_before_typing() {
        let err = parse_json::<Outer>(br#"{"name":"a\u0000b","inner":{"items":[]}}"#).unwrap_err();
        assert_eq!(field_of(err), "name");
    }

    #[test]
    fn syntax_errors_are_bad_requests() {
        assert!(matches!(
            parse_json::<Outer>(br#"{"name": "#),
            Err(ApiError::BadRequest { .. })
        ));
        assert!(matches!(
            parse_json::<Outer>(b""),
            Err(ApiError::BadRequest { .. })
        ));
        assert!(matches!(
            parse_json::<Outer>(br#"{"name":"a","inner":{"items":[]}} trailing"#),
            Err(ApiError::BadRequest { .. })
        ));
    }
}
