//! Notification storage: the in-app feed, members to address and their e-mail
//! settings. Deciding who is told and rendering what they read is the service's
//! (`crate::notifications::notify`); storage renders nothing.

use std::collections::{HashMap, HashSet};

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::{notification_settings, notifications, users};
use super::{new_id, now, DbConnection, DbError};
use crate::domain::notification::NotificationKind;

/// A member of an organization, as notifications address them.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = users)]
pub struct Member {
    pub id: String,
    pub email: String,
    pub name: String,
}

/// The members of an organization, in id order.
pub fn members_of(conn: &mut DbConnection, organization_id: &str) -> Result<Vec<Member>, DbError> {
    Ok(users::table
        .filter(users::organization_id.eq(organization_id))
        .order(users::id.asc())
        .select(Member::as_select())
        .load(conn)?)
}

/// Which of `member_ids` switched e-mail off for `kind`.
pub fn muted(
    conn: &mut DbConnection,
    member_ids: &[&str],
    kind: NotificationKind,
) -> Result<HashSet<String>, DbError> {
    Ok(notification_settings::table
        .filter(notification_settings::user_id.eq_any(member_ids))
        .filter(notification_settings::kind.eq(kind.as_str()))
        .filter(notification_settings::email_enabled.eq(false))
        .select(notification_settings::user_id)
        .load::<String>(conn)?
        .into_iter()
        .collect())
}

/// One feed row to write.
pub struct NewFeedItem<'a> {
    pub user_id: &'a str,
    pub organization_id: &'a str,
    pub kind: NotificationKind,
    pub subject_type: &'a str,
    pub subject_id: &'a str,
    pub title: &'a str,
    pub summary: &'a str,
    pub data_json: &'a str,
    pub created_at: NaiveDateTime,
}

pub fn insert_feed_item(conn: &mut DbConnection, item: NewFeedItem<'_>) -> Result<(), DbError> {
    diesel::insert_into(notifications::table)
        .values((
            notifications::id.eq(new_id()),
            notifications::user_id.eq(item.user_id),
            notifications::organization_id.eq(item.organization_id),
            notifications::kind.eq(item.kind.as_str()),
            notifications::subject_type.eq(item.subject_type),
            notifications::subject_id.eq(item.subject_id),
            notifications::title.eq(item.title),
            notifications::summary.eq(item.summary),
            notifications::data_json.eq(item.data_json),
            notifications::created_at.eq(item.created_at),
        ))
        .execute(conn)?;
    Ok(())
}

// ---- the feed ----------------------------------------------------------------------

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = notifications)]
pub struct FeedItem {
    pub id: String,
    pub user_id: String,
    pub organization_id: String,
    pub kind: String,
    pub subject_type: String,
    pub subject_id: String,
    pub title: String,
    pub summary: String,
    pub data_json: String,
    pub created_at: NaiveDateTime,
    pub read_at: Option<NaiveDateTime>,
}

/// A user's notifications, newest first, after the cursor `before` (an id), at most
/// `limit` rows (callers ask one more to learn whether another page exists).
pub fn feed(
    conn: &mut DbConnection,
    user_id: &str,
    unread_only: bool,
    before: Option<&str>,
    limit: i64,
) -> Result<Vec<FeedItem>, DbError> {
    let mut query = notifications::table
        .filter(notifications::user_id.eq(user_id))
        .into_boxed();
    if unread_only {
        query = query.filter(notifications::read_at.is_null());
    }
    if let Some(before) = before {
        query = query.filter(notifications::id.lt(before));
    }
    Ok(query
        .order(notifications::id.desc())
        .limit(limit)
        .select(FeedItem::as_select())
        .load(conn)?)
}

pub fn unread_count(conn: &mut DbConnection, user_id: &str) -> Result<i64, DbError> {
    Ok(notifications::table
        .filter(notifications::user_id.eq(user_id))
        .filter(notifications::read_at.is_null())
        .count()
        .get_result(conn)?)
}

/// Marks one of the user's notifications read (keeping the first read time) and
/// returns it; `None` when the user has no such notification.
pub fn mark_read(
    conn: &mut DbConnection,
    user_id: &str,
    id: &str,
    at: NaiveDateTime,
) -> Result<Option<FeedItem>, DbError> {
    diesel::update(
        notifications::table
            .filter(notifications::id.eq(id))
            .filter(notifications::user_id.eq(user_id))
            .filter(notifications::read_at.is_null()),
    )
    .set(notifications::read_at.eq(at))
    .execute(conn)?;
    Ok(notifications::table
        .filter(notifications::id.eq(id))
        .filter(notifications::user_id.eq(user_id))
        .select(FeedItem::as_select())
        .first(conn)
        .optional()?)
}

/// Marks every unread notification of the user read; returns how many changed.
pub fn mark_all_read(
    conn: &mut DbConnection,
    user_id: &str,
    at: NaiveDateTime,
) -> Result<usize, DbError> {
    Ok(diesel::update(
        notifications::table
            .filter(notifications::user_id.eq(user_id))
            .filter(notifications::read_at.is_null()),
    )
    .set(notifications::read_at.eq(at))
    .execute(conn)?)
}

// ---- settings ------------------------------------------------------------------------

/// Whether the user wants e-mail for each kind (a kind without a row is on).
pub fn email_settings(
    conn: &mut DbConnection,
    user_id: &str,
) -> Result<Vec<(NotificationKind, bool)>, DbError> {
    let stored: HashMap<String, bool> = notification_settings::table
        .filter(notification_settings::user_id.eq(user_id))
        .select((
            notification_settings::kind,
            notification_settings::email_enabled,
        ))
        .load::<(String, bool)>(conn)?
        .into_iter()
        .collect();
    Ok(NotificationKind::ALL
        .into_iter()
        .map(|kind| (kind, stored.get(kind.as_str()).copied().unwrap_or(true)))
        .collect())
}

/// Sets e-mail on or off for the given kinds; other kinds keep their setting.
pub fn set_email_settings(
    conn: &mut DbConnection,
    user_id: &str,
    changes: &[(NotificationKind, bool)],
) -> Result<(), DbError> {
    let at = now();
    for (kind, enabled) in changes {
        let row = (
            notification_settings::user_id.eq(user_id),
            notification_settings::kind.eq(kind.as_str()),
            notification_settings::email_enabled.eq(enabled),
            notification_settings::updated_at.eq(at),
        );
        let update = (
            notification_settings::email_enabled.eq(enabled),
            notification_settings::updated_at.eq(at),
        );
        // Upserts are backend-specific SQL in diesel, so run on the concrete connection.
        macro_rules! upsert {
            ($conn:expr) => {
                diesel::insert_into(notification_settings::table)
                    .values(row)
                    .on_conflict((notification_settings::user_id, notification_settings::kind))
                    .do_update()
                    .set(update)
                    .execute($conn)?
            };
        }
        match conn {
            DbConnection::Postgres(pg) => upsert!(pg),
            DbConnection::Sqlite(lite) => upsert!(lite),
        };
    }
    Ok(())
}
