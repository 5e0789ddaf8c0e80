//! Accounts: sign-up, login, tokens, password reset, `/me`, invitations and
//! members. The flows themselves live in `crate::auth::service`.

use actix_web::{delete, get, patch, post, web, HttpRequest, HttpResponse};
use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::caller::Caller;
use super::extract::ApiJson;
use super::pagination::{Page, PageQuery};
use super::problem::{ApiError, Problem};
use super::state::AppState;
use crate::auth::service::{self, AuthError, Registration, Session};
use crate::db::accounts::{self, Invitation, Organization, User};
use crate::db::{stored, DbError};
use crate::domain::account::{EmailAddress, OrganizationKind};
use crate::domain::role::Role;
use crate::domain::ValidationErrors;

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::Validation(v) => ApiError::Validation(v),
            AuthError::InvalidCredentials | AuthError::InvalidRefreshToken => {
                ApiError::Unauthenticated(e.to_string())
            }
            AuthError::Throttled { retry_after_secs } => {
                ApiError::TooManyRequests { retry_after_secs }
            }
            AuthError::EmailUnavailable | AuthError::LastOwner => ApiError::conflict(e.to_string()),
            AuthError::MemberNotFound => ApiError::NotFound("member"),
            AuthError::Token(_) | AuthError::Hash(_) => ApiError::Internal(e.to_string()),
            AuthError::Database(db) => ApiError::Database(db),
        }
    }
}

// ---- views -------------------------------------------------------------------

#[derive(Debug, Serialize, ToSchema)]
pub struct OrganizationView {
    pub id: String,
    pub name: String,
    pub kind: OrganizationKind,
    pub created_at: DateTime<Utc>,
}

impl TryFrom<Organization> for OrganizationView {
    type Error = DbError;
    fn try_from(o: Organization) -> Result<Self, DbError> {
        Ok(Self {
            kind: stored("organizations.kind", &o.kind)?,
            id: o.id,
            name: o.name,
            created_at: o.created_at.and_utc(),
        })
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UserView {
    pub id: String,
    pub organization_id: String,
    pub email: String,
    pub name: String,
    pub role: Role,
    pub created_at: DateTime<Utc>,
}

impl TryFrom<User> for UserView {
    type Error = DbError;
    fn try_from(u: User) -> Result<Self, DbError> {
        Ok(Self {
            role: stored("users.role", &u.role)?,
            id: u.id,
            organization_id: u.organization_id,
            email: u.email,
            name: u.name,
            created_at: u.created_at.and_utc(),
        })
    }
}

/// The answer to sign-up and to an accepted invitation.
#[derive(Debug, Serialize, ToSchema)]
pub struct OnboardedView {
    pub organization: OrganizationView,
    pub user: UserView,
    pub access_token: String,
    pub refresh_token: String,
    pub expires_in: u64,
    pub token_type: &'static str,
}

impl TryFrom<service::Onboarded> for OnboardedView {
    type Error = DbError;
    fn try_from(o: service::Onboarded) -> Result<Self, DbError> {
        Ok(Self {
            organization: o.organization.try_into()?,
            user: o.user.try_into()?,
            access_token: o.session.access_token,
            refresh_token: o.session.refresh_token,
            expires_in: o.session.expires_in,
            token_type: o.session.token_type,
        })
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct InvitationView {
    pub id: String,
    pub email: String,
    pub role: Role,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

impl TryFrom<Invitation> for InvitationView {
    type Error = DbError;
    fn try_from(i: Invitation) -> Result<Self, DbError> {
        Ok(Self {
            role: stored("invitations.role", &i.role)?,
            id: i.id,
            email: i.email,
            created_at: i.created_at.and_utc(),
            expires_at: i.expires_at.and_utc(),
        })
    }
}

pub(crate) fn refresh_ttl(state: &AppState) -> TimeDelta {
    TimeDelta::seconds(i64::try_from(state.settings.refresh_token_ttl_secs).unwrap_or(i64::MAX / 4))
}

/// The client's IP address, the key of its login throttle. A forwarded value is taken
/// only when it parses as an address (`203.0.113.7`, `[2001:db8::1]:443`): a header is
/// client-controlled text and must not become an unbounded throttle key.
pub(crate) fn client_address(req: &HttpRequest, trust_forwarded: bool) -> String {
    if trust_forwarded {
        let forwarded = req.connection_info().realip_remote_addr().and_then(|raw| {
            raw.parse::<std::net::IpAddr>()
                .or_else(|_| raw.parse::<std::net::SocketAddr>().map(|a| a.ip()))
                .ok()
        });
        if let Some(ip) = forwarded {
            return ip.to_string();
        }
    }
    req.peer_addr()
        .map_or_else(|| "unknown".to_string(), |a| a.ip().to_string())
}

// ---- sign-up and sessions ------------------------------------------------------

#[derive(Debug, Deserialize, ToSchema)]
pub struct NewOrganization {
    pub name: String,
    /// `platform`, `label` or `publisher`. Read as a string so that another value is a
    /// 422 on `organization.kind` from the domain check, not a serde message.
    #[schema(value_type = OrganizationKind)]
    pub kind: String,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct NewOwner {
    pub email: String,
    /// At least 10 characters, not a common password.
    pub password: String,
    pub name: String,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct RegisterRequest {
    pub organization: NewOrganization,
    pub user: NewOwner,
}

/// Register an organization with its first user, who becomes its owner and is logged in.
#[utoipa::path(tag = "auth", request_body = RegisterRequest, responses(
    (status = 201, body = OnboardedView),
    (status = 409, description = "The e-mail address cannot be used", body = Problem, content_type = "application/problem+json"),
    (status = 422, body = Problem, content_type = "application/problem+json"),
))]
#[post("/auth/register")]
pub async fn register(
    state: web::Data<AppState>,
    body: ApiJson<RegisterRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let input = Registration::parse(
        &body.organization.name,
        &body.organization.kind,
        &body.user.email,
        &body.user.name,
        &body.user.password,
    )?;
    let keys = state.clone();
    let ttl = refresh_ttl(&state);
    let onboarded = state
        .db
        .run(move |conn| service::register(conn, &keys.tokens, ttl, input))
        .await?;
    Ok(HttpResponse::Created().json(OnboardedView::try_from(onboarded)?))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct LoginRequest {
    pub email: String,
    pub password: String,
}

/// Log in. Wrong e-mail and wrong password get the same 401; repeated failures get 429.
#[utoipa::path(tag = "auth", request_body = LoginRequest, responses(
    (status = 200, body = Session),
    (status = 401, body = Problem, content_type = "application/problem+json"),
    (status = 429, description = "Throttled after repeated failures, even for the right password", body = Problem, content_type = "application/problem+json",
        headers(("Retry-After" = u64, description = "Seconds until a login may be tried again"))),
))]
#[post("/auth/login")]
pub async fn login(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: ApiJson<LoginRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let address = client_address(&req, state.settings.trust_forwarded_for);
    let keys = state.clone();
    let ttl = refresh_ttl(&state);
    let session = state
        .db
        .run(move |conn| {
            service::login(
                conn,
                &keys.tokens,
                ttl,
                &body.email,
                &body.password,
                &address,
            )
        })
        .await?;
    Ok(HttpResponse::Ok().json(session))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct RefreshRequest {
    pub refresh_token: String,
}

/// Exchange a refresh token for a new pair. Each refresh token works once; presenting a
/// used one revokes every token of that login.
#[utoipa::path(tag = "auth", request_body = RefreshRequest, responses(
    (status = 200, body = Session),
    (status = 401, body = Problem, content_type = "application/problem+json"),
))]
#[post("/auth/refresh")]
pub async fn refresh(
    state: web::Data<AppState>,
    body: ApiJson<RefreshRequest>,
) -> Result<HttpResponse, ApiError> {
    let token = body.into_inner().refresh_token;
    let keys = state.clone();
    let ttl = refresh_ttl(&state);
    let session = state
        .db
        .run(move |conn| service::refresh(conn, &keys.tokens, ttl, &token))
        .await?;
    Ok(HttpResponse::Ok().json(session))
}

/// Revoke the refresh token (and its whole login). Idempotent.
#[utoipa::path(tag = "auth", request_body = RefreshRequest, responses((status = 204)))]
#[post("/auth/logout")]
pub async fn logout(
    state: web::Data<AppState>,
    body: ApiJson<RefreshRequest>,
) -> Result<HttpResponse, ApiError> {
    let token = body.into_inner().refresh_token;
    state
        .db
        .run(move |conn| service::logout(conn, &token))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct PasswordResetRequest {
    pub email: String,
}

/// The answer to a password-reset request: the same whatever the address.
#[derive(Debug, Serialize, ToSchema)]
pub struct ResetAccepted {
    /// Always `accepted`.
    pub status: &'static str,
    pub detail: &'static str,
}

/// E-mail a single-use reset token (valid one hour) if the address has an account.
/// Always 202, so the answer reveals nothing about which addresses exist.
#[utoipa::path(tag = "auth", request_body = PasswordResetRequest, responses((status = 202, body = ResetAccepted)))]
#[post("/auth/password-reset")]
pub async fn password_reset(
    state: web::Data<AppState>,
    body: ApiJson<PasswordResetRequest>,
) -> Result<HttpResponse, ApiError> {
    let email = body.into_inner().email;
    let public_url = state.settings.public_url.clone();
    state
        .db
        .run(move |conn| service::request_password_reset(conn, &email, &public_url))
        .await?;
    Ok(HttpResponse::Accepted().json(ResetAccepted {
        status: "accepted",
        detail: "if the address has an account, a reset link is on its way",
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct PasswordResetConfirm {
    pub token: String,
    pub password: String,
}

/// Set a new password with the e-mailed token; every session of the account ends.
#[utoipa::path(tag = "auth", request_body = PasswordResetConfirm, responses(
    (status = 204),
    (status = 422, body = Problem, content_type = "application/problem+json"),
))]
#[post("/auth/password-reset/confirm")]
pub async fn password_reset_confirm(
    state: web::Data<AppState>,
    body: ApiJson<PasswordResetConfirm>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    state
        .db
        .run(move |conn| service::confirm_password_reset(conn, &body.token, &body.password))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

// ---- me --------------------------------------------------------------------------

#[derive(Debug, Serialize, ToSchema)]
pub struct MeView {
    pub user: UserView,
    pub organization: OrganizationView,
    pub role: Role,
}

/// The caller, their organization and role.
#[utoipa::path(tag = "auth", security(("bearer" = [])), responses(
    (status = 200, body = MeView),
    (status = 401, body = Problem, content_type = "application/problem+json"),
))]
#[get("/me")]
pub async fn me(state: web::Data<AppState>, caller: Caller) -> Result<HttpResponse, ApiError> {
    let org_id = caller.organization_id().to_string();
    let organization = state
        .db
        .run(move |conn| accounts::find_organization(conn, &org_id))
        .await?
        .ok_or(ApiError::NotFound("organization"))?;
    Ok(HttpResponse::Ok().json(MeView {
        role: caller.role,
        user: caller.user.try_into()?,
        organization: organization.try_into()?,
    }))
}

// ---- invitations -------------------------------------------------------------------

#[derive(Debug, Deserialize, ToSchema)]
pub struct InviteRequest {
    pub email: String,
    pub role: Role,
}

/// Invite someone to the caller's organization (owners only). The invitee gets an e-mail
/// with a single-use token valid for seven days.
#[utoipa::path(tag = "members", security(("bearer" = [])), request_body = InviteRequest, responses(
    (status = 201, body = InvitationView),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 422, body = Problem, content_type = "application/problem+json"),
))]
#[post("/invitations")]
pub async fn invite(
    state: web::Data<AppState>,
    caller: Caller,
    body: ApiJson<InviteRequest>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Role::Owner)?;
    let body = body.into_inner();
    let email =
        EmailAddress::parse(&body.email).map_err(|m| ValidationErrors::single("email", m))?;
    let public_url = state.settings.public_url.clone();
    let invitation = state
        .db
        .run(move |conn| service::invite(conn, &caller.user, &email, body.role, &public_url))
        .await?;
    Ok(HttpResponse::Created().json(InvitationView::try_from(invitation)?))
}

/// Pending invitations of the caller's organization (owners only).
#[utoipa::path(tag = "members", security(("bearer" = [])), responses(
    (status = 200, body = Vec<InvitationView>),
    (status = 403, body = Problem, content_type = "application/problem+json"),
))]
#[get("/invitations")]
pub async fn list_invitations(
    state: web::Data<AppState>,
    caller: Caller,
) -> Result<HttpResponse, ApiError> {
    caller.require(Role::Owner)?;
    let org_id = caller.organization_id().to_string();
    let pending = state
        .db
        .run(move |conn| accounts::list_pending_invitations(conn, &org_id, crate::db::now()))
        .await?;
    Ok(HttpResponse::Ok().json(
        pending
            .into_iter()
            .map(InvitationView::try_from)
            .collect::<Result<Vec<_>, _>>()?,
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct AcceptInvitationRequest {
    pub token: String,
    pub name: String,
    pub password: String,
}

/// Accept an invitation: creates the account in the inviting organization and logs it in.
#[utoipa::path(tag = "members", request_body = AcceptInvitationRequest, responses(
    (status = 201, body = OnboardedView),
    (status = 409, body = Problem, content_type = "application/problem+json"),
    (status = 422, body = Problem, content_type = "application/problem+json"),
))]
#[post("/invitations/accept")]
pub async fn accept_invitation(
    state: web::Data<AppState>,
    body: ApiJson<AcceptInvitationRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let keys = state.clone();
    let ttl = refresh_ttl(&state);
    let onboarded = state
        .db
        .run(move |conn| {
            service::accept_invitation(
                conn,
                &keys.tokens,
                ttl,
                &body.token,
                &body.name,
                &body.password,
            )
        })
        .await?;
    Ok(HttpResponse::Created().json(OnboardedView::try_from(onboarded)?))
}

// ---- members -------------------------------------------------------------------------

/// Members of the caller's organization.
#[utoipa::path(tag = "members", security(("bearer" = [])), params(PageQuery), responses(
    (status = 200, body = Page<UserView>),
))]
#[get("/members")]
pub async fn list_members(
    state: web::Data<AppState>,
    caller: Caller,
    page: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let limit = page.limit()?;
    let after = page.after()?;
    let org_id = caller.organization_id().to_string();
    let rows = state
        .db
        .run(move |conn| {
            accounts::list_members(conn, &org_id, after.as_deref(), i64::from(limit) + 1)
        })
        .await?;
    let views = rows
        .into_iter()
        .map(UserView::try_from)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(HttpResponse::Ok().json(Page::from_rows(views, limit, |u| u.id.clone(), |u| u)))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct ChangeRoleRequest {
    pub role: Role,
}

/// Change a member's role (owners only). The last owner cannot step down.
#[utoipa::path(tag = "members", security(("bearer" = [])), request_body = ChangeRoleRequest, responses(
    (status = 200, body = UserView),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 404, body = Problem, content_type = "application/problem+json"),
    (status = 409, body = Problem, content_type = "application/problem+json"),
))]
#[patch("/members/{id}")]
pub async fn change_role(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
    body: ApiJson<ChangeRoleRequest>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Role::Owner)?;
    let member_id = path.into_inner();
    let role = body.into_inner().role;
    let updated = state
        .db
        .run(move |conn| service::change_role(conn, &caller.user, &member_id, role))
        .await?;
    Ok(HttpResponse::Ok().json(UserView::try_from(updated)?))
}

/// Remove a member (owners only). The last owner cannot be removed.
#[utoipa::path(tag = "members", security(("bearer" = [])), responses(
    (status = 204),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 404, body = Problem, content_type = "application/problem+json"),
    (status = 409, body = Problem, content_type = "application/problem+json"),
))]
#[delete("/members/{id}")]
pub async fn remove_member(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Role::Owner)?;
    let member_id = path.into_inner();
    state
        .db
        .run(move |conn| service::remove_member(conn, &caller.user, &member_id))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(register)
        .service(login)
        .service(refresh)
        .service(logout)
        .service(password_reset)
        .service(password_reset_confirm)
        .service(me)
        .service(invite)
        .service(list_invitations)
        .service(accept_invitation)
        .service(list_members)
        .service(change_role)
        .service(remove_member);
}
