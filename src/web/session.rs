//! Sign-in for the web app, over the same accounts and session store as the API.
//!
//! * The session cookie (`cadenza_session`) holds the refresh token that
//!   `auth::service::login` issues: the same row, the same expiry, the same revocation
//!   (sign-out, a password reset or a role change end it, as they end API sessions).
//!   The web never rotates it, so it never reaches the API's reuse detection. The cookie
//!   is HttpOnly, SameSite=Lax, and Secure when the public URL is https.
//! * CSRF: every form carries a synchronizer token. Signed in, it is derived from the
//!   session secret (SHA-256 of a fixed label and the session token), so it is tied to
//!   the session and needs no storage; a page script on another site can neither read
//!   the cookie nor compute it. Signed out (sign-in, password reset, invitation), it is
//!   a double-submitted random cookie (`cadenza_csrf`). A post without the right token
//!   is refused with 403 and changes nothing.
//! * Throttling is the login service's own (per account and per client address), so
//!   the web and the API share one allowance.

use std::future::Future;
use std::pin::Pin;

use actix_web::cookie::{time::Duration as CookieDuration, Cookie, SameSite};
use actix_web::dev::Payload;
use actix_web::http::{header, StatusCode};
use actix_web::{web, FromRequest, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::error::WebError;
use super::forms::{field_errors, Form};
use super::render;
use crate::api::accounts::{client_address, refresh_ttl};
use crate::api::caller::Caller;
use crate::api::state::AppState;
use crate::auth::service::{self, AuthError};
use crate::auth::tokens::{random_token, token_hash};
use crate::db::accounts;
use crate::domain::role::Role;

pub const SESSION_COOKIE: &str = "cadenza_session";
pub const CSRF_COOKIE: &str = "cadenza_csrf";

/// The signed-in member, with what every page's frame shows.
pub struct SignedIn {
    pub caller: Caller,
    session: String,
    organization_name: String,
    unread: i64,
}

impl SignedIn {
    /// The CSRF token of this session.
    pub fn csrf(&self) -> String {
        session_csrf(&self.session)
    }

    /// Refuses a form whose token is not this session's.
    pub fn check_csrf(&self, form: &Form) -> Result<(), WebError> {
        check_token(&self.csrf(), form.get("csrf"))
    }

    /// The page context: `extra` plus the member, the CSRF token and the unread count.
    pub fn context(&self, extra: Value) -> Value {
        let mut context = json!({
            "me": {
                "id": self.caller.user.id,
                "name": self.caller.user.name,
                "email": self.caller.user.email,
                "role": self.caller.role.as_str(),
                "is_owner": self.caller.role.includes(Role::Owner),
                "organization_id": self.caller.user.organization_id,
                "organization": self.organization_name,
            },
            "csrf": self.csrf(),
            // Fresh per render: the key of the page's creating forms (`web::once`).
            "form_key": random_token(),
            "unread": self.unread,
        });
        if let (Some(target), Value::Object(extra)) = (context.as_object_mut(), extra) {
            target.extend(extra);
        }
        context
    }

    pub fn page(&self, status: StatusCode, template: &str, extra: Value) -> HttpResponse {
        render::page(status, template, self.context(extra))
    }
}

fn session_csrf(session: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(b"cadenza web csrf\0");
    hasher.update(session.as_bytes());
    hex::encode(hasher.finalize())
}

/// Compares in time independent of where the strings differ.
fn check_token(expected: &str, given: Option<&str>) -> Result<(), WebError> {
    let given = given.unwrap_or_default();
    if expected.is_empty() || given.len() != expected.len() {
        return Err(WebError::Csrf);
    }
    let diff = expected
        .bytes()
        .zip(given.bytes())
        .fold(0u8, |acc, (a, b)| acc | (a ^ b));
    if diff == 0 {
        Ok(())
    } else {
        Err(WebError::Csrf)
    }
}

/// Where to come back to after signing in: the page asked for, with its query.
fn here(req: &HttpRequest) -> String {
    match req.uri().path_and_query() {
        Some(pq) if req.method() == actix_web::http::Method::GET => pq.as_str().to_string(),
        _ => "/".to_string(),
    }
}

impl FromRequest for SignedIn {
    type Error = WebError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, WebError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let token = req.cookie(SESSION_COOKIE).map(|c| c.value().to_string());
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let next = here(req);
        Box::pin(async move {
            let sign_in = || WebError::SignIn { next: next.clone() };
            let token = token.filter(|t| !t.is_empty()).ok_or_else(sign_in)?;
            let state =
                state.ok_or_else(|| WebError::Internal("application state missing".into()))?;
            let hash = token_hash(&token);
            let found = state
                .db
                .run(move |conn| {
                    let at = crate::db::now();
                    let Some(row) = accounts::find_refresh_token(conn, &hash)? else {
                        return Ok(None);
                    };
                    if row.revoked_at.is_some() || row.rotated_at.is_some() || row.expires_at <= at
                    {
                        return Ok(None);
                    }
                    let Some(user) = accounts::find_user(conn, &row.user_id)? else {
                        return Ok(None);
                    };
                    let organization = accounts::find_organization(conn, &user.organization_id)?
                        .map(|o| o.name)
                        .unwrap_or_default();
                    let unread = crate::db::notifications::unread_count(conn, &user.id)?;
                    Ok::<_, crate::db::DbError>(Some((user, organization, unread)))
                })
                .await?;
            let (user, organization_name, unread) = found.ok_or_else(sign_in)?;
            let role: Role = crate::db::stored("users.role", &user.role)?;
            Ok(SignedIn {
                caller: Caller { user, role },
                session: token,
                organization_name,
                unread,
            })
        })
    }
}

fn secure(state: &AppState) -> bool {
    state.settings.public_url.starts_with("https://")
}

fn cookie(
    state: &AppState,
    name: &'static str,
    value: String,
    max_age: CookieDuration,
) -> Cookie<'static> {
    Cookie::build(name, value)
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(secure(state))
        .max_age(max_age)
        .finish()
}

/// The signed-out CSRF token: the `cadenza_csrf` cookie's value, minted when absent.
/// Returns the token and, when minted, the cookie to set.
pub fn anonymous_csrf(req: &HttpRequest, state: &AppState) -> (String, Option<Cookie<'static>>) {
    match req.cookie(CSRF_COOKIE).map(|c| c.value().to_string()) {
        Some(token) if token.len() >= 32 => (token, None),
        _ => {
            let token = random_token();
            let c = cookie(state, CSRF_COOKIE, token.clone(), CookieDuration::days(1));
            (token, Some(c))
        }
    }
}

fn check_anonymous_csrf(req: &HttpRequest, form: &Form) -> Result<(), WebError> {
    let expected = req
        .cookie(CSRF_COOKIE)
        .map(|c| c.value().to_string())
        .unwrap_or_default();
    check_token(&expected, form.get("csrf"))
}

/// A signed-out page (sign-in, reset, invitation) with its CSRF token and cookie.
fn anonymous_page(
    req: &HttpRequest,
    state: &AppState,
    status: StatusCode,
    template: &str,
    mut context: Value,
) -> HttpResponse {
    let (token, set) = anonymous_csrf(req, state);
    if let Some(map) = context.as_object_mut() {
        map.insert("csrf".into(), Value::String(token));
    }
    let mut response = render::page(status, template, context);
    if let Some(c) = set {
        // A cookie that cannot be added only costs the visitor a reload.
        let _ = response.add_cookie(&c);
    }
    response
}

/// Only paths on this site: `next` must not send a signed-in person elsewhere.
fn local_path(next: Option<&str>) -> String {
    match next {
        Some(p) if p.starts_with('/') && !p.starts_with("//") && !p.starts_with("/\\") => {
            p.to_string()
        }
        _ => "/".to_string(),
    }
}

pub fn redirect(to: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, to.to_string()))
        .insert_header(("Cache-Control", "no-store"))
        .finish()
}

#[derive(Deserialize)]
struct NextQuery {
    next: Option<String>,
}

async fn login_page(
    req: HttpRequest,
    state: web::Data<AppState>,
    query: web::Query<NextQuery>,
) -> HttpResponse {
    anonymous_page(
        &req,
        &state,
        StatusCode::OK,
        "login.html",
        json!({"next": local_path(query.next.as_deref())}),
    )
}

async fn login(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: Form,
) -> Result<HttpResponse, WebError> {
    check_anonymous_csrf(&req, &form)?;
    let email = form.value("email");
    let password = form.value("password");
    let next = local_path(form.get("next"));
    let address = client_address(&req, state.settings.trust_forwarded_for);
    let keys = state.clone();
    let ttl = refresh_ttl(&state);
    let (email_in, password_in) = (email.clone(), password);
    let outcome = state
        .db
        .run(move |conn| service::login(conn, &keys.tokens, ttl, &email_in, &password_in, &address))
        .await;
    match outcome {
        Ok(session) => {
            let max_age = CookieDuration::seconds(
                i64::try_from(state.settings.refresh_token_ttl_secs).unwrap_or(i64::MAX / 4),
            );
            let mut response = redirect(&next);
            response
                .add_cookie(&cookie(
                    &state,
                    SESSION_COOKIE,
                    session.refresh_token,
                    max_age,
                ))
                .map_err(|e| WebError::Internal(e.to_string()))?;
            Ok(response)
        }
        Err(AuthError::InvalidCredentials) => Ok(anonymous_page(
            &req,
            &state,
            StatusCode::UNAUTHORIZED,
            "login.html",
            json!({"next": next, "email": email, "error": "The e-mail address or password is wrong."}),
        )),
        Err(AuthError::Throttled { retry_after_secs }) => {
            let mut response = anonymous_page(
                &req,
                &state,
                StatusCode::TOO_MANY_REQUESTS,
                "login.html",
                json!({"next": next, "email": email,
                       "error": format!("Too many failed sign-ins. Try again in {retry_after_secs} seconds.")}),
            );
            if let Ok(v) = header::HeaderValue::from_str(&retry_after_secs.to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, v);
            }
            Ok(response)
        }
        Err(other) => Err(other.into()),
    }
}

async fn logout(
    state: web::Data<AppState>,
    signed_in: SignedIn,
    form: Form,
) -> Result<HttpResponse, WebError> {
    signed_in.check_csrf(&form)?;
    let token = signed_in.session.clone();
    state
        .db
        .run(move |conn| service::logout(conn, &token))
        .await?;
    let mut response = redirect("/login");
    let mut gone = cookie(&state, SESSION_COOKIE, String::new(), CookieDuration::ZERO);
    gone.make_removal();
    response
        .add_cookie(&gone)
        .map_err(|e| WebError::Internal(e.to_string()))?;
    Ok(response)
}

async fn forgot_page(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    anonymous_page(
        &req,
        &state,
        StatusCode::OK,
        "forgot_password.html",
        json!({}),
    )
}

async fn forgot(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: Form,
) -> Result<HttpResponse, WebError> {
    check_anonymous_csrf(&req, &form)?;
    let email = form.value("email");
    let public_url = state.settings.public_url.clone();
    state
        .db
        .run(move |conn| service::request_password_reset(conn, &email, &public_url))
        .await?;
    // The same answer whatever the address, as the API's.
    Ok(anonymous_page(
        &req,
        &state,
        StatusCode::OK,
        "forgot_password.html",
        json!({"sent": true}),
    ))
}

#[derive(Deserialize)]
struct TokenQuery {
    token: Option<String>,
}

async fn reset_page(
    req: HttpRequest,
    state: web::Data<AppState>,
    query: web::Query<TokenQuery>,
) -> HttpResponse {
    anonymous_page(
        &req,
        &state,
        StatusCode::OK,
        "reset_password.html",
        json!({"token": query.token.clone().unwrap_or_default()}),
    )
}

async fn reset(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: Form,
) -> Result<HttpResponse, WebError> {
    check_anonymous_csrf(&req, &form)?;
    let token = form.value("token");
    let password = form.value("password");
    let token_in = token.clone();
    let outcome = state
        .db
        .run(move |conn| service::confirm_password_reset(conn, &token_in, &password))
        .await;
    match outcome {
        Ok(()) => Ok(redirect("/login?reset=done")),
        Err(AuthError::Validation(errors)) => Ok(anonymous_page(
            &req,
            &state,
            StatusCode::UNPROCESSABLE_ENTITY,
            "reset_password.html",
            json!({"token": token, "errors": field_errors(&errors, "")}),
        )),
        Err(other) => Err(other.into()),
    }
}

async fn invitation_page(
    req: HttpRequest,
    state: web::Data<AppState>,
    query: web::Query<TokenQuery>,
) -> HttpResponse {
    anonymous_page(
        &req,
        &state,
        StatusCode::OK,
        "accept_invitation.html",
        json!({"token": query.token.clone().unwrap_or_default()}),
    )
}

async fn accept_invitation(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: Form,
) -> Result<HttpResponse, WebError> {
    check_anonymous_csrf(&req, &form)?;
    let token = form.value("token");
    let name = form.value("name");
    let password = form.value("password");
    let keys = state.clone();
    let ttl = refresh_ttl(&state);
    let (token_in, name_in) = (token.clone(), name.clone());
    let outcome = state
        .db
        .run(move |conn| {
            service::accept_invitation(conn, &keys.tokens, ttl, &token_in, &name_in, &password)
        })
        .await;
    let failed = |status: StatusCode, errors: Value| {
        anonymous_page(
            &req,
            &state,
            status,
            "accept_invitation.html",
            json!({"token": token, "name": name, "errors": errors}),
        )
    };
    match outcome {
        Ok(onboarded) => {
            let max_age = CookieDuration::seconds(
                i64::try_from(state.settings.refresh_token_ttl_secs).unwrap_or(i64::MAX / 4),
            );
            let mut response = redirect("/");
            response
                .add_cookie(&cookie(
                    &state,
                    SESSION_COOKIE,
                    onboarded.session.refresh_token,
                    max_age,
                ))
                .map_err(|e| WebError::Internal(e.to_string()))?;
            Ok(response)
        }
        Err(AuthError::Validation(errors)) => Ok(failed(
            StatusCode::UNPROCESSABLE_ENTITY,
            field_errors(&errors, ""),
        )),
        Err(AuthError::EmailUnavailable) => Ok(failed(
            StatusCode::CONFLICT,
            json!({"token": "This address already has a Cadenza account: sign in instead."}),
        )),
        Err(other) => Err(other.into()),
    }
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/login", web::get().to(login_page))
        .route("/login", web::post().to(login))
        .route("/logout", web::post().to(logout))
        .route("/forgot-password", web::get().to(forgot_page))
        .route("/forgot-password", web::post().to(forgot))
        .route("/reset-password", web::get().to(reset_page))
        .route("/reset-password", web::post().to(reset))
        .route("/accept-invitation", web::get().to(invitation_page))
        .route("/accept-invitation", web::post().to(accept_invitation));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_compare_whole() {
        let t = session_csrf("abc");
        assert!(check_token(&t, Some(&t)).is_ok());
        assert!(check_token(&t, None).is_err());
        assert!(check_token(&t, Some(&t[1..])).is_err());
        assert!(check_token("", Some("")).is_err());
        assert_ne!(session_csrf("abc"), session_csrf("abd"));
    }

    #[test]
    fn next_stays_on_the_site() {
        assert_eq!(local_path(Some("/deals/1")), "/deals/1");
        assert_eq!(local_path(Some("//evil.test/x")), "/");
        assert_eq!(local_path(Some("https://evil.test")), "/");
        assert_eq!(local_path(None), "/");
    }
}
