//! `Idempotency-Key` for POSTs that create or transition: the first response to a
//! key is stored (scoped to the caller, kept 24 hours) and replayed for retries,
//! which change nothing. The same key with a different request is refused (422);
//! a retry while the first is still running gets 409.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse};
use sha2::{Digest, Sha256};

use super::problem::ApiError;
use super::state::AppState;
use crate::db::idempotency::{claim, record, release, Claim};

pub const HEADER: &str = "idempotency-key";

/// A response as handlers produce it, so it can be stored and replayed.
pub struct Stored {
    pub status: StatusCode,
    pub body: serde_json::Value,
    pub etag: Option<String>,
}

impl Stored {
    /// A 201 with `view` as its body.
    pub fn created(view: impl serde::Serialize) -> Result<Self, ApiError> {
        Ok(Stored {
            status: StatusCode::CREATED,
            body: serde_json::to_value(view).map_err(|e| ApiError::Internal(e.to_string()))?,
            etag: None,
        })
    }

    pub fn into_response(self, replayed: bool) -> HttpResponse {
        let mut builder = HttpResponse::build(self.status);
        if let Some(etag) = &self.etag {
            builder.insert_header((actix_web::http::header::ETAG, etag.as_str()));
        }
        if replayed {
            builder.insert_header(("idempotent-replayed", "true"));
        }
        builder.json(self.body)
    }
}

/// [`once`] for handlers whose body an extractor already parsed: the parsed request,
/// serialized again, is what a retry must repeat.
pub async fn once_for<T, F, Fut>(
    state: &AppState,
    req: &HttpRequest,
    user_id: &str,
    request: &T,
    work: F,
) -> Result<HttpResponse, ApiError>
where
    T: serde::Serialize,
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = Result<Stored, ApiError>>,
{
    let body = serde_json::to_vec(request).map_err(|e| ApiError::Internal(e.to_string()))?;
    once(state, req, user_id, &body, work).await
}

/// Runs `work` once per (caller, key). Without a key it simply runs.
pub async fn once<F, Fut>(
    state: &AppState,
    req: &HttpRequest,
    user_id: &str,
    body: &[u8],
    work: F,
) -> Result<HttpResponse, ApiError>
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = Result<Stored, ApiError>>,
{
    let Some(key) = req.headers().get(HEADER) else {
        return work().await.map(|s| s.into_response(false));
    };
    // Exactly what the OpenAPI document declares (`^[!-~]{1,255}$`): visible ASCII, no
    // spaces, so the fuzzer's schema-violating keys are refused, not silently trimmed.
    let key = key
        .to_str()
        .ok()
        .filter(|k| (1..=255).contains(&k.len()) && k.bytes().all(|b| b.is_ascii_graphic()))
        .ok_or_else(|| ApiError::BadRequest {
            detail: "must be 1 to 255 visible characters".into(),
            field: Some("Idempotency-Key".into()),
        })?
        .to_string();
    let mut hasher = Sha256::new();
    hasher.update(req.method().as_str().as_bytes());
    hasher.update(b" ");
    hasher.update(req.path().as_bytes());
    hasher.update(b"\n");
    // Parsed and re-serialized, so formatting differences are not "different requests".
    match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(value) => hasher.update(value.to_string().as_bytes()),
        Err(_) => hasher.update(body),
    }
    let fingerprint = hex::encode(hasher.finalize());
    let user = user_id.to_string();
    let (k, fp) = (key.clone(), fingerprint.clone());
    match state
        .db
        .run(move |conn| claim(conn, &user, &k, &fp))
        .await?
    {
        Claim::Replay { status, body, etag } => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
            let mut response = HttpResponse::build(status);
            response.insert_header(("idempotent-replayed", "true"));
            if let Some(etag) = etag {
                response.insert_header((actix_web::http::header::ETAG, etag));
            }
            let content_type = if status.is_success() {
                "application/json"
            } else {
                super::problem::PROBLEM_CONTENT_TYPE
            };
            return Ok(response.content_type(content_type).body(body));
        }
        Claim::Mismatch => {
            return Err(ApiError::Validation(
                crate::domain::ValidationErrors::single(
                    "Idempotency-Key",
                    "was already used for a different request",
                ),
            ))
        }
        Claim::InFlight => {
            return Err(ApiError::conflict(
                "a request with this Idempotency-Key is still being processed",
            ))
        }
        Claim::Fresh => {}
    }
    let result = work().await;
    let user = user_id.to_string();
    let (status, body, etag) = match &result {
        Ok(stored) => (
            Some(stored.status.as_u16()),
            Some(stored.body.to_string()),
            stored.etag.clone(),
        ),
        // A refusal is an answer too (a retry gets the same one); a server failure is not.
        Err(e) if !actix_web::ResponseError::status_code(e).is_server_error() => (
            Some(actix_web::ResponseError::status_code(e).as_u16()),
            serde_json::to_string(&e.to_problem()).ok(),
            None,
        ),
        Err(_) => (None, None, None),
    };
    state
        .db
        .run(move |conn| match (status, body) {
            (Some(status), Some(body)) => record(conn, &user, &key, status, &body, etag.as_deref()),
            _ => release(conn, &user, &key),
        })
        .await?;
    result.map(|s| s.into_response(false))
}
