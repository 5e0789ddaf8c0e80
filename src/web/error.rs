//! What a page answers when it cannot show what was asked, as a page a person reads:
//! 404 for anything missing or another organization's (exactly where the API answers
//! 404), 403 for a role or a refused form, a redirect to sign-in when signed out.

use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use serde_json::json;

use super::render;
use crate::api::problem::ApiError;
use crate::db::DbError;
use crate::deals::DealError;

#[derive(Debug, thiserror::Error)]
pub enum WebError {
    /// Not signed in (or the session ended): sign in, then come back to `next`.
    #[error("sign in to continue")]
    SignIn { next: String },
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{0}")]
    Forbidden(String),
    /// A form without the CSRF token of this session (403).
    #[error("this form has expired or did not come from Cadenza; reload the page and try again")]
    Csrf,
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Internal(String),
}

impl From<ApiError> for WebError {
    fn from(e: ApiError) -> Self {
        match e {
            ApiError::NotFound(what) => WebError::NotFound(what),
            ApiError::Forbidden(detail) => WebError::Forbidden(detail),
            ApiError::Unauthenticated(_) => WebError::SignIn { next: "/".into() },
            ApiError::Validation(v) => WebError::BadRequest(
                v.0.iter()
                    .map(|f| format!("{}: {}", f.field, f.message))
                    .collect::<Vec<_>>()
                    .join("; "),
            ),
            ApiError::BadRequest { detail, field } => WebError::BadRequest(match field {
                Some(field) => format!("{field}: {detail}"),
                None => detail,
            }),
            ApiError::Database(db) => WebError::from(db),
            ApiError::Internal(detail) => WebError::Internal(detail),
            other => WebError::BadRequest(other.to_string()),
        }
    }
}

impl From<DealError> for WebError {
    fn from(e: DealError) -> Self {
        WebError::from(ApiError::from(e))
    }
}

impl From<DbError> for WebError {
    fn from(e: DbError) -> Self {
        WebError::Internal(e.to_string())
    }
}

impl From<crate::auth::service::AuthError> for WebError {
    fn from(e: crate::auth::service::AuthError) -> Self {
        WebError::from(ApiError::from(e))
    }
}

impl ResponseError for WebError {
    fn status_code(&self) -> StatusCode {
        match self {
            WebError::SignIn { .. } => StatusCode::SEE_OTHER,
            WebError::NotFound(_) => StatusCode::NOT_FOUND,
            WebError::Forbidden(_) | WebError::Csrf => StatusCode::FORBIDDEN,
            WebError::BadRequest(_) => StatusCode::BAD_REQUEST,
            WebError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        let (title, detail) = match self {
            WebError::SignIn { next } => {
                let target = format!(
                    "/login?next={}",
                    percent_encoding::utf8_percent_encode(next, percent_encoding::NON_ALPHANUMERIC)
                );
                return HttpResponse::SeeOther()
                    .insert_header((header::LOCATION, target))
                    .insert_header(("Cache-Control", "no-store"))
                    .finish();
            }
            WebError::NotFound(what) => (
                "Not found",
                format!("There is no {what} here, or it belongs to another organization."),
            ),
            WebError::Internal(detail) => {
                tracing::error!(error = %detail, "page failed");
                (
                    "Something went wrong",
                    "Cadenza could not show this page. Try again in a moment.".to_string(),
                )
            }
            WebError::Forbidden(_) | WebError::Csrf => ("Not allowed", self.to_string()),
            WebError::BadRequest(_) => ("This request cannot be answered", self.to_string()),
        };
        render::page(
            status,
            "error.html",
            json!({"title": title, "detail": detail, "status": status.as_u16()}),
        )
    }
}
