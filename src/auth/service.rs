//! Account flows: sign-up, login, token rotation, invitations, password resets
//! and membership changes. Each flow is one write transaction that also writes
//! its audit events and queued mails. Password hashing happens before the
//! transaction opens, so no lock is held while argon2 works.

use chrono::{NaiveDateTime, TimeDelta};
use serde::Serialize;

use super::password;
use super::throttle;
use super::tokens::{random_token, token_hash, TokenError, TokenKeys};
use crate::db::accounts::{self, Invitation, Organization, PasswordReset, RefreshToken, User};
use crate::db::audit::AuditEvent;
use crate::db::outbox::{self, OutgoingMail};
use crate::db::{lock_organization, new_id, now, write_transaction, DbConnection, DbError};
use crate::domain::account::{parse_display_name, EmailAddress, OrganizationKind};
use crate::domain::role::Role;
use crate::domain::ValidationErrors;

pub const INVITATION_TTL: TimeDelta = TimeDelta::days(7);
pub const RESET_TTL: TimeDelta = TimeDelta::hours(1);

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error(transparent)]
    Validation(#[from] ValidationErrors),
    #[error("the e-mail address or password is wrong")]
    InvalidCredentials,
    #[error("too many failed logins; retry after {retry_after_secs} seconds")]
    Throttled { retry_after_secs: u64 },
    #[error("the refresh token is invalid, expired or already used")]
    InvalidRefreshToken,
    #[error("an account with this e-mail address cannot be created")]
    EmailUnavailable,
    #[error("an organization must keep at least one owner")]
    LastOwner,
    #[error("member not found")]
    MemberNotFound,
    #[error(transparent)]
    Token(#[from] TokenError),
    #[error(transparent)]
    Hash(#[from] password::HashError),
    #[error(transparent)]
    Database(#[from] DbError),
}

impl From<diesel::result::Error> for AuthError {
    fn from(e: diesel::result::Error) -> Self {
        AuthError::Database(DbError::Query(e))
    }
}

/// Tokens handed to a client after login, sign-up, invitation or refresh.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Session {
    pub access_token: String,
    pub refresh_token: String,
    /// Lifetime of the access token, in seconds.
    pub expires_in: u64,
    pub token_type: &'static str,
}

/// Everything a sign-up or accepted invitation returns.
pub struct Onboarded {
    pub organization: Organization,
    pub user: User,
    pub session: Session,
}

/// Validated sign-up input.
pub struct Registration {
    pub organization_name: String,
    pub organization_kind: OrganizationKind,
    pub email: EmailAddress,
    pub name: String,
    pub password: String,
}

impl Registration {
    pub fn parse(
        org_name: &str,
        org_kind: &str,
        email: &str,
        name: &str,
        password: &str,
    ) -> Result<Self, ValidationErrors> {
        let mut errors = ValidationErrors::new();
        let organization_name = parse_display_name(org_name)
            .map_err(|m| errors.push("organization.name", m))
            .ok();
        let organization_kind = OrganizationKind::parse(org_kind);
        if organization_kind.is_none() {
            errors.push(
                "organization.kind",
                "must be one of platform, label, publisher",
            );
        }
        let email = EmailAddress::parse(email)
            .map_err(|m| errors.push("user.email", m))
            .ok();
        let name = parse_display_name(name)
            .map_err(|m| errors.push("user.name", m))
            .ok();
        if let Err(m) = password::check_policy(password, email.as_ref().map_or("", |e| e.as_str()))
        {
            errors.push("user.password", m);
        }
        match (organization_name, organization_kind, email, name) {
            (Some(organization_name), Some(organization_kind), Some(email), Some(name))
                if errors.is_empty() =>
            {
                Ok(Self {
                    organization_name,
                    organization_kind,
                    email,
                    name,
                    password: password.to_string(),
                })
            }
            _ => Err(errors),
        }
    }
}

/// Creates the organization with its first user as owner, and logs them in.
pub fn register(
    conn: &mut DbConnection,
    keys: &TokenKeys,
    refresh_ttl: TimeDelta,
    input: Registration,
) -> Result<Onboarded, AuthError> {
    let password_hash = password::hash(&input.password)?;
    let at = now();
    let organization = Organization {
        id: new_id(),
        name: input.organization_name,
        kind: input.organization_kind.as_str().to_string(),
        created_at: at,
    };
    let user = User {
        id: new_id(),
        organization_id: organization.id.clone(),
        email: input.email.as_str().to_string(),
        name: input.name,
        password_hash,
        role: Role::Owner.as_str().to_string(),
        created_at: at,
        updated_at: at,
    };
    let session = write_transaction(conn, |conn| {
        if accounts::find_user_by_email(conn, &user.email)?.is_some() {
            return Err(AuthError::EmailUnavailable);
        }
        accounts::insert_organization(conn, &organization)?;
        accounts::insert_user(conn, &user).map_err(unique_as_unavailable)?;
        AuditEvent::new("organization.registered", "organization", Some(&organization.id))
            .by(Some(&organization.id), Some(&user.id))
            .after(serde_json::json!({"name": organization.name, "kind": organization.kind, "owner": user.email}))
            .write(conn)?;
        start_session(conn, keys, refresh_ttl, &user, None, at)
    })?;
    Ok(Onboarded {
        organization,
        user,
        session,
    })
}

fn unique_as_unavailable(e: DbError) -> AuthError {
    if e.is_unique_violation() {
        AuthError::EmailUnavailable
    } else {
        AuthError::Database(e)
    }
}

/// Issues an access token and a refresh token (in `family`, or a new family).
fn start_session(
    conn: &mut DbConnection,
    keys: &TokenKeys,
    refresh_ttl: TimeDelta,
    user: &User,
    family: Option<&str>,
    at: NaiveDateTime,
) -> Result<Session, AuthError> {
    let role: Role = user.role.parse().map_err(|_| {
        AuthError::Database(DbError::Migration(format!("unknown role {}", user.role)))
    })?;
    let refresh_token = random_token();
    accounts::insert_refresh_token(
        conn,
        &RefreshToken {
            id: new_id(),
            family_id: family.map_or_else(new_id, str::to_string),
            user_id: user.id.clone(),
            token_hash: token_hash(&refresh_token),
            created_at: at,
            expires_at: at + refresh_ttl,
            rotated_at: None,
            revoked_at: None,
        },
    )?;
    Ok(Session {
        access_token: keys.issue(&user.id, &user.organization_id, role)?,
        refresh_token,
        expires_in: keys.ttl_secs(),
        token_type: "Bearer",
    })
}

/// Checks credentials with throttling per account and per client address. An
/// unknown e-mail costs the same password verification as a known one, and both
/// answer [`AuthError::InvalidCredentials`].
///
/// Every attempt is counted as a failure *before* its password is checked (one
/// transaction holding both throttle rows' locks), and a success then clears the
/// count. So concurrent attempts queue on the count, and however many arrive at
/// once, at most the allowance of passwords is ever evaluated before the block.
pub fn login(
    conn: &mut DbConnection,
    keys: &TokenKeys,
    refresh_ttl: TimeDelta,
    email: &str,
    password_attempt: &str,
    client_address: &str,
) -> Result<Session, AuthError> {
    let email = email.trim().to_lowercase();
    let account_key = throttle::account_key(&email);
    let address_key = throttle::address_key(client_address);
    let at = now();

    write_transaction(conn, |conn| {
        // Always the account's row first, then the address's: one lock order, no deadlock.
        let account = accounts::lock_throttle(conn, &account_key, at)?;
        let address = accounts::lock_throttle(conn, &address_key, at)?;
        let blocked = [
            throttle::retry_after(Some(&account), at),
            throttle::retry_after(Some(&address), at),
        ]
        .into_iter()
        .flatten()
        .max();
        if let Some(retry_after_secs) = blocked {
            return Ok(Err(AuthError::Throttled { retry_after_secs }));
        }
        accounts::save_throttle(
            conn,
            &throttle::record_failure(&account_key, Some(account), throttle::ACCOUNT_ALLOWANCE, at),
        )?;
        accounts::save_throttle(
            conn,
            &throttle::record_failure(&address_key, Some(address), throttle::ADDRESS_ALLOWANCE, at),
        )?;
        Ok::<_, AuthError>(Ok(()))
    })??;

    let user = accounts::find_user_by_email(conn, &email)?;
    let verified = match &user {
        Some(u) => password::verify(password_attempt, &u.password_hash),
        None => {
            password::verify_against_dummy(password_attempt);
            false
        }
    };

    write_transaction(conn, |conn| match user.as_ref().filter(|_| verified) {
        Some(user) => {
            accounts::clear_throttle(conn, &account_key)?;
            accounts::clear_throttle(conn, &address_key)?;
            AuditEvent::new("auth.login", "user", Some(&user.id))
                .by(Some(&user.organization_id), Some(&user.id))
                .write(conn)?;
            start_session(conn, keys, refresh_ttl, user, None, at).map(Ok)
        }
        None => {
            // The failure was counted before the password was checked.
            AuditEvent::new(
                "auth.login_failed",
                "user",
                user.as_ref().map(|u| u.id.as_str()),
            )
            .by(user.as_ref().map(|u| u.organization_id.as_str()), None)
            .after(serde_json::json!({"email": email, "client_address": client_address}))
            .write(conn)?;
            Ok(Err(AuthError::InvalidCredentials))
        }
    })?
}

/// Rotates a refresh token. Presenting a token that was already rotated means
/// it was stolen or replayed: the whole family is revoked.
pub fn refresh(
    conn: &mut DbConnection,
    keys: &TokenKeys,
    refresh_ttl: TimeDelta,
    presented: &str,
) -> Result<Session, AuthError> {
    let at = now();
    write_transaction(conn, |conn| {
        let Some(token) = accounts::find_refresh_token(conn, &token_hash(presented))? else {
            return Ok(Err(AuthError::InvalidRefreshToken));
        };
        if token.revoked_at.is_some() || token.expires_at <= at {
            return Ok(Err(AuthError::InvalidRefreshToken));
        }
        if token.rotated_at.is_some() || !accounts::mark_rotated(conn, &token.id, at)? {
            accounts::revoke_family(conn, &token.family_id, at)?;
            let user = accounts::find_user(conn, &token.user_id)?;
            AuditEvent::new("auth.refresh_reuse_detected", "user", Some(&token.user_id))
                .by(user.as_ref().map(|u| u.organization_id.as_str()), None)
                .after(serde_json::json!({"family_id": token.family_id}))
                .write(conn)?;
            return Ok(Err(AuthError::InvalidRefreshToken));
        }
        let Some(user) = accounts::find_user(conn, &token.user_id)? else {
            return Ok(Err(AuthError::InvalidRefreshToken));
        };
        start_session(conn, keys, refresh_ttl, &user, Some(&token.family_id), at).map(Ok)
    })?
}

/// Revokes the presented token's family. Unknown tokens are accepted silently:
/// logging out twice is not an error.
pub fn logout(conn: &mut DbConnection, presented: &str) -> Result<(), AuthError> {
    let at = now();
    write_transaction(conn, |conn| {
        if let Some(token) = accounts::find_refresh_token(conn, &token_hash(presented))? {
            accounts::revoke_family(conn, &token.family_id, at)?;
            AuditEvent::new("auth.logout", "user", Some(&token.user_id)).write(conn)?;
        }
        Ok(())
    })
}

#[derive(Serialize)]
struct ResetMail<'a> {
    name: &'a str,
    token: &'a str,
    link: String,
    expires_in_minutes: i64,
}

/// Queues a reset mail if the address has an account; says nothing either way.
pub fn request_password_reset(
    conn: &mut DbConnection,
    email: &str,
    public_url: &str,
) -> Result<(), AuthError> {
    let Ok(email) = EmailAddress::parse(email) else {
        return Ok(());
    };
    let at = now();
    write_transaction(conn, |conn| {
        let Some(user) = accounts::find_user_by_email(conn, email.as_str())? else {
            return Ok(());
        };
        let token = random_token();
        let reset = PasswordReset {
            id: new_id(),
            user_id: user.id.clone(),
            token_hash: token_hash(&token),
            created_at: at,
            expires_at: at + RESET_TTL,
            used_at: None,
        };
        accounts::insert_password_reset(conn, &reset)?;
        outbox::enqueue(
            conn,
            OutgoingMail {
                template: "password_reset",
                recipient_email: &user.email,
                recipient_user_id: Some(&user.id),
                context: ResetMail {
                    name: &user.name,
                    token: &token,
                    link: format!(
                        "{}/reset-password?token={token}",
                        public_url.trim_end_matches('/')
                    ),
                    expires_in_minutes: RESET_TTL.num_minutes(),
                },
            },
        )?;
        AuditEvent::new("auth.password_reset_requested", "user", Some(&user.id))
            .by(Some(&user.organization_id), None)
            .write(conn)?;
        Ok(())
    })
}

fn invalid_token() -> AuthError {
    AuthError::Validation(ValidationErrors::single(
        "token",
        "is invalid, expired or already used",
    ))
}

/// Sets a new password with a single-use reset token, and signs the user out everywhere.
pub fn confirm_password_reset(
    conn: &mut DbConnection,
    token: &str,
    new_password: &str,
) -> Result<(), AuthError> {
    let at = now();
    let reset = accounts::find_password_reset(conn, &token_hash(token))?
        .filter(|r| r.used_at.is_none() && r.expires_at > at)
        .ok_or_else(invalid_token)?;
    let user = accounts::find_user(conn, &reset.user_id)?.ok_or_else(invalid_token)?;
    password::check_policy(new_password, &user.email)
        .map_err(|m| ValidationErrors::single("password", m))?;
    let hash = password::hash(new_password)?;
    write_transaction(conn, |conn| {
        if !accounts::mark_reset_used(conn, &reset.id, at)? {
            return Err(invalid_token());
        }
        accounts::set_password(conn, &user.id, &hash, at)?;
        accounts::revoke_all_for_user(conn, &user.id, at)?;
        AuditEvent::new("auth.password_reset", "user", Some(&user.id))
            .by(Some(&user.organization_id), Some(&user.id))
            .write(conn)?;
        Ok(())
    })
}

#[derive(Serialize)]
struct InvitationMail<'a> {
    organization: &'a str,
    inviter: &'a str,
    role: &'a str,
    token: &'a str,
    link: String,
    expires_on: String,
}

/// An owner invites someone by e-mail. Answers the same whether or not the
/// address already has an account (that surfaces only to the invitee, on accept).
pub fn invite(
    conn: &mut DbConnection,
    inviter: &User,
    email: &EmailAddress,
    role: Role,
    public_url: &str,
) -> Result<Invitation, AuthError> {
    let at = now();
    write_transaction(conn, |conn| {
        let organization = accounts::find_organization(conn, &inviter.organization_id)?
            .ok_or(AuthError::MemberNotFound)?;
        let token = random_token();
        let invitation = Invitation {
            id: new_id(),
            organization_id: organization.id.clone(),
            email: email.as_str().to_string(),
            role: role.as_str().to_string(),
            token_hash: token_hash(&token),
            invited_by: inviter.id.clone(),
            created_at: at,
            expires_at: at + INVITATION_TTL,
            accepted_at: None,
            revoked_at: None,
        };
        accounts::insert_invitation(conn, &invitation)?;
        outbox::enqueue(
            conn,
            OutgoingMail {
                template: "invitation",
                recipient_email: email.as_str(),
                recipient_user_id: None,
                context: InvitationMail {
                    organization: &organization.name,
                    inviter: &inviter.name,
                    role: role.as_str(),
                    token: &token,
                    link: format!(
                        "{}/accept-invitation?token={token}",
                        public_url.trim_end_matches('/')
                    ),
                    expires_on: invitation.expires_at.date().to_string(),
                },
            },
        )?;
        AuditEvent::new("member.invited", "invitation", Some(&invitation.id))
            .by(Some(&organization.id), Some(&inviter.id))
            .after(serde_json::json!({"email": invitation.email, "role": invitation.role}))
            .write(conn)?;
        Ok(invitation)
    })
}

/// The invitee sets a name and password; the account joins the inviting organization.
pub fn accept_invitation(
    conn: &mut DbConnection,
    keys: &TokenKeys,
    refresh_ttl: TimeDelta,
    token: &str,
    name: &str,
    new_password: &str,
) -> Result<Onboarded, AuthError> {
    let at = now();
    let invitation = accounts::find_invitation_by_token(conn, &token_hash(token))?
        .filter(|i| i.accepted_at.is_none() && i.revoked_at.is_none() && i.expires_at > at)
        .ok_or_else(invalid_token)?;
    let mut errors = ValidationErrors::new();
    let name = parse_display_name(name)
        .map_err(|m| errors.push("name", m))
        .ok();
    if let Err(m) = password::check_policy(new_password, &invitation.email) {
        errors.push("password", m);
    }
    let name = match name {
        Some(name) if errors.is_empty() => name,
        _ => return Err(errors.into()),
    };
    let user = User {
        id: new_id(),
        organization_id: invitation.organization_id.clone(),
        email: invitation.email.clone(),
        name,
        password_hash: password::hash(new_password)?,
        role: invitation.role.clone(),
        created_at: at,
        updated_at: at,
    };
    write_transaction(conn, |conn| {
        if !accounts::mark_invitation_accepted(conn, &invitation.id, at)? {
            return Err(invalid_token());
        }
        if accounts::find_user_by_email(conn, &user.email)?.is_some() {
            return Err(AuthError::EmailUnavailable);
        }
        accounts::insert_user(conn, &user).map_err(unique_as_unavailable)?;
        let organization =
            accounts::find_organization(conn, &user.organization_id)?.ok_or_else(invalid_token)?;
        AuditEvent::new("member.joined", "user", Some(&user.id))
            .by(Some(&organization.id), Some(&user.id))
            .after(serde_json::json!({"email": user.email, "role": user.role, "invitation_id": invitation.id}))
            .write(conn)?;
        let session = start_session(conn, keys, refresh_ttl, &user, None, at)?;
        Ok(Onboarded {
            organization,
            user: user.clone(),
            session,
        })
    })
}

/// Changes a member's role; the last owner cannot step down.
pub fn change_role(
    conn: &mut DbConnection,
    actor: &User,
    member_id: &str,
    role: Role,
) -> Result<User, AuthError> {
    let at = now();
    write_transaction(conn, |conn| {
        lock_organization(conn, &actor.organization_id)?;
        let member = accounts::find_member(conn, &actor.organization_id, member_id)?
            .ok_or(AuthError::MemberNotFound)?;
        if member.role == Role::Owner.as_str()
            && role != Role::Owner
            && accounts::count_owners(conn, &actor.organization_id)? <= 1
        {
            return Err(AuthError::LastOwner);
        }
        accounts::set_role(conn, &member.id, role.as_str(), at)?;
        if member.role != role.as_str() {
            // A demoted member's refresh tokens would mint tokens with the old role claim.
            accounts::revoke_all_for_user(conn, &member.id, at)?;
        }
        AuditEvent::new("member.role_changed", "user", Some(&member.id))
            .by(Some(&actor.organization_id), Some(&actor.id))
            .before(serde_json::json!({"role": member.role}))
            .after(serde_json::json!({"role": role.as_str()}))
            .write(conn)?;
        Ok(User {
            role: role.as_str().to_string(),
            updated_at: at,
            ..member
        })
    })
}

/// Removes a member (and their sessions); the last owner cannot be removed.
pub fn remove_member(
    conn: &mut DbConnection,
    actor: &User,
    member_id: &str,
) -> Result<(), AuthError> {
    write_transaction(conn, |conn| {
        lock_organization(conn, &actor.organization_id)?;
        let member = accounts::find_member(conn, &actor.organization_id, member_id)?
            .ok_or(AuthError::MemberNotFound)?;
        if member.role == Role::Owner.as_str()
            && accounts::count_owners(conn, &actor.organization_id)? <= 1
        {
            return Err(AuthError::LastOwner);
        }
        accounts::delete_user(conn, &member.id)?;
        AuditEvent::new("member.removed", "user", Some(&member.id))
            .by(Some(&actor.organization_id), Some(&actor.id))
            .before(serde_json::json!({"email": member.email, "role": member.role}))
            .write(conn)?;
        Ok(())
    })
}
