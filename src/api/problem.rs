//! The HTTP error policy. Every failure leaves the service as RFC 9457
//! `application/problem+json`: handlers return [`ApiError`]; lower layers'
//! errors convert into it; framework errors (bad JSON, unknown route, wrong
//! method) are rewritten by [`problem_for_framework_errors`].
//!
//! Internal details (SQL, stack, file paths) are logged, never sent: a 500
//! says only that something failed and which request id to quote.

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::ServiceResponse;
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::middleware::ErrorHandlerResponse;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use utoipa::ToSchema;

use crate::db::DbError;
use crate::domain::market_rules::RuleBreaches;
use crate::domain::{FieldError, ValidationErrors};

pub const PROBLEM_CONTENT_TYPE: &str = "application/problem+json";

/// An RFC 9457 problem document.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Problem {
    /// A URI reference naming the kind of problem (`/problems/validation`); see `docs/api.md`.
    #[serde(rename = "type")]
    pub problem_type: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// For validation problems: every field at fault, named as the client sent it.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
    /// Problem-specific members (allowed actions, conflict report, …).
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Object)]
    pub extensions: Option<serde_json::Map<String, serde_json::Value>>,
}

/// Errors a handler can answer with. Each maps to one status and problem type.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The body parsed but its values are not acceptable (422).
    #[error("the request has invalid fields")]
    Validation(#[from] ValidationErrors),
    /// Terms a market rule forbids (422, a validation problem): every field problem, and
    /// the rules broken, listed as `market_rules`.
    #[error("the terms break a market rule: {breaches}")]
    MarketRules {
        errors: ValidationErrors,
        breaches: RuleBreaches,
    },
    /// The request could not be read at all: malformed JSON, bad query string (400).
    #[error("{detail}")]
    BadRequest {
        detail: String,
        field: Option<String>,
    },
    /// Missing, malformed, expired or revoked credentials (401).
    #[error("{0}")]
    Unauthenticated(String),
    /// Authenticated, but the caller's role does not allow this (403). Never used to hide
    /// another organization's data: that is [`ApiError::NotFound`].
    #[error("{0}")]
    Forbidden(String),
    /// Absent, or belonging to another organization (404), so ids cannot be probed.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// Not allowed in the resource's current state, or clashing with existing data (409).
    #[error("{detail}")]
    Conflict {
        detail: String,
        extensions: Option<serde_json::Map<String, serde_json::Value>>,
    },
    #[error("{0}")]
    PreconditionFailed(String),
    #[error("{0}")]
    PreconditionRequired(String),
    #[error("the request body is larger than the limit of {limit} bytes")]
    PayloadTooLarge { limit: usize },
    #[error("expected a body of type {expected}")]
    UnsupportedMediaType { expected: &'static str },
    #[error("too many requests; retry after {retry_after_secs} seconds")]
    TooManyRequests { retry_after_secs: u64 },
    #[error("{0}")]
    Unavailable(String),
    #[error(transparent)]
    Database(#[from] DbError),
    #[error("{0}")]
    Internal(String),
}

impl ApiError {
    pub fn bad_request(detail: impl Into<String>) -> Self {
        ApiError::BadRequest {
            detail: detail.into(),
            field: None,
        }
    }

    pub fn conflict(detail: impl Into<String>) -> Self {
        ApiError::Conflict {
            detail: detail.into(),
            extensions: None,
        }
    }

    fn slug_and_title(&self) -> (&'static str, &'static str) {
        match self {
            ApiError::Validation(_) | ApiError::MarketRules { .. } => {
                ("validation", "Invalid request fields")
            }
            ApiError::BadRequest { .. } => ("bad-request", "Malformed request"),
            ApiError::Unauthenticated(_) => ("unauthenticated", "Authentication required"),
            ApiError::Forbidden(_) => ("forbidden", "Not allowed for your role"),
            ApiError::NotFound(_) => ("not-found", "Not found"),
            ApiError::Conflict { .. } => ("conflict", "Conflict with the current state"),
            ApiError::PreconditionFailed(_) => ("precondition-failed", "Stale version"),
            ApiError::PreconditionRequired(_) => ("precondition-required", "Version required"),
            ApiError::PayloadTooLarge { .. } => ("payload-too-large", "Request body too large"),
            ApiError::UnsupportedMediaType { .. } => {
                ("unsupported-media-type", "Unsupported content type")
            }
            ApiError::TooManyRequests { .. } => ("rate-limited", "Too many requests"),
            ApiError::Unavailable(_) => ("unavailable", "Service unavailable"),
            ApiError::Database(DbError::Pool(_)) => ("unavailable", "Service unavailable"),
            ApiError::Database(_) | ApiError::Internal(_) => ("internal", "Internal error"),
        }
    }

    pub fn to_problem(&self) -> Problem {
        let (slug, title) = self.slug_and_title();
        let status = self.status_code().as_u16();
        let detail = match self {
            ApiError::Validation(errors) | ApiError::MarketRules { errors, .. } => {
                match errors.0.as_slice() {
                    [one] => format!("`{}`: {}", one.field, one.message),
                    many => format!("{} fields are invalid", many.len()),
                }
            }
            // Never leak SQL or internals; the request id in the logs finds the cause.
            ApiError::Database(_) | ApiError::Internal(_) => {
                "the request failed on our side; it has been logged".to_string()
            }
            other => other.to_string(),
        };
        let errors = match self {
            ApiError::Validation(errors) | ApiError::MarketRules { errors, .. } => errors.0.clone(),
            ApiError::BadRequest {
                field: Some(field),
                detail,
            } => vec![FieldError::new(field.clone(), detail.clone())],
            _ => Vec::new(),
        };
        let extensions = match self {
            ApiError::Conflict { extensions, .. } => extensions.clone(),
            ApiError::MarketRules { breaches, .. } => Some(market_rules_member(breaches)),
            _ => None,
        };
        Problem {
            problem_type: format!("/problems/{slug}"),
            title: title.to_string(),
            status,
            detail,
            errors,
            extensions,
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::Validation(_) | ApiError::MarketRules { .. } => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            ApiError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            ApiError::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict { .. } => StatusCode::CONFLICT,
            ApiError::PreconditionFailed(_) => StatusCode::PRECONDITION_FAILED,
            ApiError::PreconditionRequired(_) => StatusCode::PRECONDITION_REQUIRED,
            ApiError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType { .. } => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Database(DbError::Pool(_)) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Database(_) | ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        if status.is_server_error() {
            tracing::error!(error = %self, "request failed");
        }
        let mut response = problem_response(&self.to_problem());
        match self {
            ApiError::TooManyRequests { retry_after_secs } => {
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(*retry_after_secs));
            }
            ApiError::Unauthenticated(_) => {
                response
                    .headers_mut()
                    .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            _ => {}
        }
        response
    }
}

/// `market_rules`: one entry per rule broken, with the field it names (`terms.exclusive`).
fn market_rules_member(breaches: &RuleBreaches) -> serde_json::Map<String, serde_json::Value> {
    let listed = breaches
        .0
        .iter()
        .map(|b| {
            serde_json::json!({
                "rule_id": b.rule_id,
                "version": b.version,
                "territory": b.territory,
                "kind": b.kind,
                "field": format!("terms.{}", b.field.as_str()),
                "message": b.message,
            })
        })
        .collect();
    serde_json::Map::from_iter([("market_rules".to_string(), serde_json::Value::Array(listed))])
}

pub fn problem_response(problem: &Problem) -> HttpResponse {
    let status = StatusCode::from_u16(problem.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = serde_json::to_string(problem).unwrap_or_else(|_| {
        // A Problem is plain data; serialization cannot fail, but never answer an empty 500.
        format!(
            r#"{{"type":"about:blank","title":"Error","status":{}}}"#,
            problem.status
        )
    });
    HttpResponse::build(status)
        .insert_header((header::CONTENT_TYPE, PROBLEM_CONTENT_TYPE))
        .body(body)
}

/// A problem for a bare HTTP status raised by the framework itself.
pub fn status_problem(status: StatusCode, detail: impl Into<String>) -> Problem {
    let slug = match status {
        StatusCode::NOT_FOUND => "not-found",
        StatusCode::METHOD_NOT_ALLOWED => "method-not-allowed",
        StatusCode::PAYLOAD_TOO_LARGE => "payload-too-large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported-media-type",
        s if s.is_server_error() => "internal",
        _ => "bad-request",
    };
    Problem {
        problem_type: format!("/problems/{slug}"),
        title: status.canonical_reason().unwrap_or("Error").to_string(),
        status: status.as_u16(),
        detail: detail.into(),
        errors: Vec::new(),
        extensions: None,
    }
}

/// Error-handler middleware body: any 4xx/5xx response that is not already a
/// problem document (an unknown route, a wrong method, an extractor's plain-text
/// error) is replaced by one, so clients only ever parse one error format.
pub fn problem_for_framework_errors<B: MessageBody + 'static>(
    res: ServiceResponse<B>,
) -> actix_web::Result<ErrorHandlerResponse<B>> {
    let is_problem = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        // Web pages (`crate::web`) answer their errors as pages a person reads.
        .is_some_and(|ct| ct.starts_with(PROBLEM_CONTENT_TYPE) || ct.starts_with("text/html"));
    if is_problem {
        return Ok(ErrorHandlerResponse::Response(res.map_into_left_body()));
    }
    let mut status = res.status();
    // Routing falls through to "not found" when the path exists but no route accepts the
    // method; the resource map tells the two apart. `/metrics` is answered by middleware,
    // not a resource, so the documented paths are asked too.
    let path = res.request().path();
    let pattern = res
        .request()
        .resource_map()
        .match_pattern(path)
        .unwrap_or_else(|| path.to_string());
    let allow = res
        .request()
        .app_data::<actix_web::web::Data<crate::api::openapi::AllowedMethods>>()
        .and_then(|allowed| allowed.for_path(&pattern))
        .and_then(|methods| HeaderValue::from_str(methods).ok());
    if status == StatusCode::NOT_FOUND
        && (res.request().resource_map().has_resource(path) || allow.is_some())
    {
        status = StatusCode::METHOD_NOT_ALLOWED;
    }
    let detail = match status {
        StatusCode::NOT_FOUND => format!("no resource at {}", res.request().path()),
        StatusCode::METHOD_NOT_ALLOWED => format!(
            "{} is not allowed on {}",
            res.request().method(),
            res.request().path()
        ),
        s => s.canonical_reason().unwrap_or("error").to_string(),
    };
    let (req, _) = res.into_parts();
    let mut response: HttpResponse<BoxBody> = problem_response(&status_problem(status, detail));
    // RFC 9110 §15.5.6: a 405 lists the methods the resource does accept.
    if let (StatusCode::METHOD_NOT_ALLOWED, Some(allow)) = (status, allow) {
        response.headers_mut().insert(header::ALLOW, allow);
    }
    Ok(ErrorHandlerResponse::Response(
        ServiceResponse::new(req, response).map_into_right_body(),
    ))
}
