//! The one place authorization starts: [`Caller`] turns a bearer token into the
//! current member of an organization. Every handler that takes a `Caller` is
//! authenticated; [`Caller::require`] checks the role; queries are then scoped
//! by `caller.organization_id()`, and another organization's private resource
//! answers 404 exactly like a missing one.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{web, FromRequest, HttpRequest};

use super::problem::ApiError;
use super::state::AppState;
use crate::auth::tokens::{Claims, TokenError};
use crate::db::accounts::{self, User};
use crate::db::DbConnection;
use crate::domain::account::Author;
use crate::domain::role::Role;

/// The authenticated member making the request, as stored now (a removed
/// member or a changed role takes effect at once, not when the token expires).
#[derive(Debug, Clone)]
pub struct Caller {
    pub user: User,
    pub role: Role,
}

impl Caller {
    pub fn organization_id(&self) -> &str {
        &self.user.organization_id
    }

    pub fn user_id(&self) -> &str {
        &self.user.id
    }

    /// The caller as services record who acted.
    pub fn author(&self) -> Author {
        Author {
            organization_id: self.organization_id().to_string(),
            user_id: self.user_id().to_string(),
        }
    }

    /// Refuses with 403 unless the caller's role includes `required`.
    pub fn require(&self, required: Role) -> Result<(), ApiError> {
        if self.role.includes(required) {
            Ok(())
        } else {
            Err(ApiError::Forbidden(format!(
                "this needs the {required} role or higher; you are {}",
                self.role
            )))
        }
    }
}

fn bearer_token(req: &HttpRequest) -> Result<String, ApiError> {
    let value = req.headers().get(header::AUTHORIZATION).ok_or_else(|| {
        ApiError::Unauthenticated("an `Authorization: Bearer <token>` header is required".into())
    })?;
    let value = value.to_str().map_err(|_| {
        ApiError::Unauthenticated("the Authorization header is not readable".into())
    })?;
    match value.split_once(' ') {
        Some((scheme, token))
            if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() =>
        {
            Ok(token.trim().to_string())
        }
        _ => Err(ApiError::Unauthenticated(
            "the Authorization header must use the Bearer scheme".into(),
        )),
    }
}

/// A verified access token whose account has not been looked up yet. The hot read
/// paths (`api::read_cache`) take this instead of a [`Caller`] and [`resolve`] it in
/// the same unit of database work as the read itself: one trip to the database's
/// thread pool instead of two. It proves nothing by itself; only a `Caller` does.
///
/// [`resolve`]: Claimed::resolve
pub struct Claimed(Claims);

impl Claimed {
    fn verify(req: &HttpRequest) -> Result<Self, ApiError> {
        let token = bearer_token(req)?;
        let state = req
            .app_data::<web::Data<AppState>>()
            .ok_or_else(|| ApiError::Internal("application state missing".into()))?;
        let claims = state.tokens.verify(&token).map_err(|e| match e {
            TokenError::Expired => {
                ApiError::Unauthenticated("the access token has expired; refresh it".into())
            }
            _ => ApiError::Unauthenticated("the access token is not valid".into()),
        })?;
        Ok(Claimed(claims))
    }

    /// The member as stored now: a removed member or a changed role takes effect at
    /// once, not when the token expires.
    pub fn resolve(self, conn: &mut DbConnection) -> Result<Caller, ApiError> {
        let claims = self.0;
        let user = accounts::find_user(conn, &claims.sub)?
            .filter(|u| u.organization_id == claims.org)
            .ok_or_else(|| ApiError::Unauthenticated("the account no longer exists".into()))?;
        let role = crate::db::stored("users.role", &user.role)?;
        tracing::Span::current().record("user_id", user.id.as_str());
        Ok(Caller { user, role })
    }
}

impl FromRequest for Claimed {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        std::future::ready(Claimed::verify(req))
    }
}

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let claimed = Claimed::verify(req);
        let state = req.app_data::<web::Data<AppState>>().cloned();
        Box::pin(async move {
            let claimed = claimed?;
            let state =
                state.ok_or_else(|| ApiError::Internal("application state missing".into()))?;
            state.db.run(move |conn| claimed.resolve(conn)).await
        })
    }
}
