//! Queries for organizations, members and their credentials.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::{
    invitations, login_throttle, organizations, password_resets, refresh_tokens, users,
};
use super::{DbConnection, DbError};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = organizations)]
pub struct Organization {
    pub id: String,
    pub name: String,
    pub kind: String,
    pub created_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = users)]
pub struct User {
    pub id: String,
    pub organization_id: String,
    pub email: String,
    pub name: String,
    pub password_hash: String,
    pub role: String,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

pub fn insert_organization(conn: &mut DbConnection, org: &Organization) -> Result<(), DbError> {
    diesel::insert_into(organizations::table)
        .values(org)
        .execute(conn)?;
    Ok(())
}

/// How many organizations exist (the demo seeds only an empty market).
pub fn count_organizations(conn: &mut DbConnection) -> Result<i64, DbError> {
    Ok(organizations::table.count().get_result(conn)?)
}

pub fn find_organization(
    conn: &mut DbConnection,
    id: &str,
) -> Result<Option<Organization>, DbError> {
    Ok(organizations::table
        .find(id)
        .select(Organization::as_select())
        .first(conn)
        .optional()?)
}

pub fn insert_user(conn: &mut DbConnection, user: &User) -> Result<(), DbError> {
    diesel::insert_into(users::table)
        .values(user)
        .execute(conn)?;
    Ok(())
}

pub fn find_user(conn: &mut DbConnection, id: &str) -> Result<Option<User>, DbError> {
    Ok(users::table
        .find(id)
        .select(User::as_select())
        .first(conn)
        .optional()?)
}

pub fn find_user_by_email(conn: &mut DbConnection, email: &str) -> Result<Option<User>, DbError> {
    Ok(users::table
        .filter(users::email.eq(email))
        .select(User::as_select())
        .first(conn)
        .optional()?)
}

/// A member of `organization_id`, or None (also when the user belongs elsewhere).
pub fn find_member(
    conn: &mut DbConnection,
    organization_id: &str,
    user_id: &str,
) -> Result<Option<User>, DbError> {
    Ok(users::table
        .find(user_id)
        .filter(users::organization_id.eq(organization_id))
        .select(User::as_select())
        .first(conn)
        .optional()?)
}

/// Members in id (creation) order, after the cursor.
pub fn list_members(
    conn: &mut DbConnection,
    organization_id: &str,
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<User>, DbError> {
    let mut query = users::table
        .filter(users::organization_id.eq(organization_id))
        .select(User::as_select())
        .order(users::id.asc())
        .limit(limit)
        .into_boxed();
    if let Some(after) = after {
        query = query.filter(users::id.gt(after.to_string()));
    }
    Ok(query.load(conn)?)
}

pub fn count_owners(conn: &mut DbConnection, organization_id: &str) -> Result<i64, DbError> {
    Ok(users::table
        .filter(users::organization_id.eq(organization_id))
        .filter(users::role.eq("owner"))
        .count()
        .get_result(conn)?)
}

pub fn set_role(
    conn: &mut DbConnection,
    user_id: &str,
    role: &str,
    at: NaiveDateTime,
) -> Result<(), DbError> {
    diesel::update(users::table.find(user_id))
        .set((users::role.eq(role), users::updated_at.eq(at)))
        .execute(conn)?;
    Ok(())
}

pub fn set_password(
    conn: &mut DbConnection,
    user_id: &str,
    hash: &str,
    at: NaiveDateTime,
) -> Result<(), DbError> {
    diesel::update(users::table.find(user_id))
        .set((users::password_hash.eq(hash), users::updated_at.eq(at)))
        .execute(conn)?;
    Ok(())
}

pub fn delete_user(conn: &mut DbConnection, user_id: &str) -> Result<(), DbError> {
    diesel::delete(users::table.find(user_id)).execute(conn)?;
    Ok(())
}

// ---- refresh tokens -------------------------------------------------------

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = refresh_tokens)]
pub struct RefreshToken {
    pub id: String,
    pub family_id: String,
    pub user_id: String,
    pub token_hash: String,
    pub created_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
    pub rotated_at: Option<NaiveDateTime>,
    pub revoked_at: Option<NaiveDateTime>,
}

pub fn insert_refresh_token(conn: &mut DbConnection, token: &RefreshToken) -> Result<(), DbError> {
    diesel::insert_into(refresh_tokens::table)
        .values(token)
        .execute(conn)?;
    Ok(())
}

pub fn find_refresh_token(
    conn: &mut DbConnection,
    token_hash: &str,
) -> Result<Option<RefreshToken>, DbError> {
    Ok(refresh_tokens::table
        .filter(refresh_tokens::token_hash.eq(token_hash))
        .select(RefreshToken::as_select())
        .first(conn)
        .optional()?)
}

/// Marks a token rotated, only if it was still live; false means another
/// request rotated it first (a concurrent reuse).
pub fn mark_rotated(conn: &mut DbConnection, id: &str, at: NaiveDateTime) -> Result<bool, DbError> {
    let changed = diesel::update(
        refresh_tokens::table
            .find(id)
            .filter(refresh_tokens::rotated_at.is_null())
            .filter(refresh_tokens::revoked_at.is_null()),
    )
    .set(refresh_tokens::rotated_at.eq(at))
    .execute(conn)?;
    Ok(changed == 1)
}

pub fn revoke_family(
    conn: &mut DbConnection,
    family_id: &str,
    at: NaiveDateTime,
) -> Result<usize, DbError> {
    Ok(diesel::update(
        refresh_tokens::table
            .filter(refresh_tokens::family_id.eq(family_id))
            .filter(refresh_tokens::revoked_at.is_null()),
    )
    .set(refresh_tokens::revoked_at.eq(at))
    .execute(conn)?)
}

pub fn revoke_all_for_user(
    conn: &mut DbConnection,
    user_id: &str,
    at: NaiveDateTime,
) -> Result<usize, DbError> {
    Ok(diesel::update(
        refresh_tokens::table
            .filter(refresh_tokens::user_id.eq(user_id))
            .filter(refresh_tokens::revoked_at.is_null()),
    )
    .set(refresh_tokens::revoked_at.eq(at))
    .execute(conn)?)
}

// ---- login throttle -------------------------------------------------------

#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = login_throttle, treat_none_as_null = true)]
pub struct ThrottleEntry {
    pub throttle_key: String,
    pub failures: i32,
    pub window_start: NaiveDateTime,
    pub blocked_until: Option<NaiveDateTime>,
}

pub fn find_throttle(conn: &mut DbConnection, key: &str) -> Result<Option<ThrottleEntry>, DbError> {
    Ok(login_throttle::table
        .find(key)
        .select(ThrottleEntry::as_select())
        .first(conn)
        .optional()?)
}

/// The key's entry, locked until the transaction ends, so concurrent attempts on one
/// key are counted one after another. One statement on both backends: an upsert that
/// creates a missing entry empty, or makes a no-op update of an existing one (which
/// takes its row lock on PostgreSQL; SQLite's IMMEDIATE transaction already serializes
/// writers), and returns the row either way. A concurrent creator makes it wait, then
/// update.
pub fn lock_throttle(
    conn: &mut DbConnection,
    key: &str,
    at: NaiveDateTime,
) -> Result<ThrottleEntry, DbError> {
    let empty = ThrottleEntry {
        throttle_key: key.to_string(),
        failures: 0,
        window_start: at,
        blocked_until: None,
    };
    macro_rules! upsert {
        ($conn:expr) => {
            diesel::insert_into(login_throttle::table)
                .values(&empty)
                .on_conflict(login_throttle::throttle_key)
                .do_update()
                .set(login_throttle::failures.eq(login_throttle::failures))
                .returning(ThrottleEntry::as_returning())
                .get_result($conn)?
        };
    }
    Ok(match conn {
        DbConnection::Postgres(c) => upsert!(c),
        DbConnection::Sqlite(c) => upsert!(c),
    })
}

/// Writes an entry that [`lock_throttle`] created and locked.
pub fn save_throttle(conn: &mut DbConnection, entry: &ThrottleEntry) -> Result<(), DbError> {
    diesel::update(login_throttle::table.find(&entry.throttle_key))
        .set(entry)
        .execute(conn)?;
    Ok(())
}

pub fn clear_throttle(conn: &mut DbConnection, key: &str) -> Result<(), DbError> {
    diesel::delete(login_throttle::table.find(key)).execute(conn)?;
    Ok(())
}

// ---- invitations and password resets ------------------------------------

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = invitations)]
pub struct Invitation {
    pub id: String,
    pub organization_id: String,
    pub email: String,
    pub role: String,
    pub token_hash: String,
    pub invited_by: String,
    pub created_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
    pub accepted_at: Option<NaiveDateTime>,
    pub revoked_at: Option<NaiveDateTime>,
}

pub fn insert_invitation(conn: &mut DbConnection, invitation: &Invitation) -> Result<(), DbError> {
    diesel::insert_into(invitations::table)
        .values(invitation)
        .execute(conn)?;
    Ok(())
}

pub fn find_invitation_by_token(
    conn: &mut DbConnection,
    token_hash: &str,
) -> Result<Option<Invitation>, DbError> {
    Ok(invitations::table
        .filter(invitations::token_hash.eq(token_hash))
        .select(Invitation::as_select())
        .first(conn)
        .optional()?)
}

pub fn list_pending_invitations(
    conn: &mut DbConnection,
    organization_id: &str,
    now: NaiveDateTime,
) -> Result<Vec<Invitation>, DbError> {
    Ok(invitations::table
        .filter(invitations::organization_id.eq(organization_id))
        .filter(invitations::accepted_at.is_null())
        .filter(invitations::revoked_at.is_null())
        .filter(invitations::expires_at.gt(now))
        .order(invitations::id.asc())
        .select(Invitation::as_select())
        .load(conn)?)
}

/// Consumes an invitation once: false when it was already used (a concurrent accept).
pub fn mark_invitation_accepted(
    conn: &mut DbConnection,
    id: &str,
    at: NaiveDateTime,
) -> Result<bool, DbError> {
    let changed = diesel::update(
        invitations::table
            .find(id)
            .filter(invitations::accepted_at.is_null())
            .filter(invitations::revoked_at.is_null()),
    )
    .set(invitations::accepted_at.eq(at))
    .execute(conn)?;
    Ok(changed == 1)
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = password_resets)]
pub struct PasswordReset {
    pub id: String,
    pub user_id: String,
    pub token_hash: String,
    pub created_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
    pub used_at: Option<NaiveDateTime>,
}

pub fn insert_password_reset(
    conn: &mut DbConnection,
    reset: &PasswordReset,
) -> Result<(), DbError> {
    diesel::insert_into(password_resets::table)
        .values(reset)
        .execute(conn)?;
    Ok(())
}

pub fn find_password_reset(
    conn: &mut DbConnection,
    token_hash: &str,
) -> Result<Option<PasswordReset>, DbError> {
    Ok(password_resets::table
        .filter(password_resets::token_hash.eq(token_hash))
        .select(PasswordReset::as_select())
        .first(conn)
        .optional()?)
}

/// Uses a reset token once: false when it was already used.
pub fn mark_reset_used(
    conn: &mut DbConnection,
    id: &str,
    at: NaiveDateTime,
) -> Result<bool, DbError> {
    let changed = diesel::update(
        password_resets::table
            .find(id)
            .filter(password_resets::used_at.is_null()),
    )
    .set(password_resets::used_at.eq(at))
    .execute(conn)?;
    Ok(changed == 1)
}
