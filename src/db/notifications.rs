//! Notifications: the in-app feed and the e-mail that goes with it. Code that
//! changes a deal calls [`notify`] inside its own transaction, so the feed rows
//! and outbox rows commit (or vanish) with the change itself.

use std::collections::{HashMap, HashSet};

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::outbox::{self, OutgoingMail};
use super::schema::{notification_settings, notifications, users};
use super::{new_id, now, DbConnection, DbError};
use crate::mail::templates;
use crate::mail::{Event, NotificationKind};

/// One organization to tell, with what differs from the other side's point of view.
#[derive(Debug, Clone)]
pub struct Audience<'a> {
    pub organization_id: &'a str,
    /// The name of the other party, as this organization's members see it.
    pub counterparty: &'a str,
    /// Whether this organization is now expected to act (answer, sign, pay).
    pub action_required: bool,
}

/// An event to announce to the members of the organizations concerned.
#[derive(Debug, Clone)]
pub struct Notification<'a> {
    pub event: &'a Event,
    pub audiences: Vec<Audience<'a>>,
    /// The user who caused the event; they are not told about their own action.
    pub actor_user_id: Option<&'a str>,
}

/// What [`notify`] wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Notified {
    pub feed_rows: usize,
    pub mails: usize,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = users)]
struct Member {
    id: String,
    email: String,
    name: String,
}

/// In the caller's transaction: one feed row per member of each audience (except the
/// actor), and one queued mail per such member whose settings want e-mail for this
/// kind. A member of two audiences is told once, as a member of the first.
pub fn notify(
    conn: &mut DbConnection,
    notification: Notification<'_>,
) -> Result<Notified, DbError> {
    let event = notification.event;
    let kind = event.kind();
    let (subject_type, subject_id) = event.subject();
    let summary = event.summary();
    let at = now();
    let mut told = HashSet::new();
    let mut notified = Notified::default();
    // Watching a deal overrides one's per-kind e-mail settings for that deal.
    let watchers: HashSet<String> = match (subject_type, subject_id) {
        ("deal", id) => super::deals::watchers_of(conn, id)?.into_iter().collect(),
        _ => HashSet::new(),
    };
    for audience in &notification.audiences {
        let members: Vec<Member> = users::table
            .filter(users::organization_id.eq(audience.organization_id))
            .order(users::id.asc())
            .select(Member::as_select())
            .load(conn)?;
        let member_ids: Vec<&str> = members.iter().map(|m| m.id.as_str()).collect();
        let muted: HashSet<String> = notification_settings::table
            .filter(notification_settings::user_id.eq_any(&member_ids))
            .filter(notification_settings::kind.eq(kind.as_str()))
            .filter(notification_settings::email_enabled.eq(false))
            .select(notification_settings::user_id)
            .load::<String>(conn)?
            .into_iter()
            .collect();
        for member in &members {
            if Some(member.id.as_str()) == notification.actor_user_id
                || !told.insert(member.id.clone())
            {
                continue;
            }
            let context = recipient_context(event, &member.name, audience)?;
            // The feed's title is the mail's subject, rendered once now.
            let title = templates::render_subject(kind.as_str(), &context)
                .map_err(|e| serialization_error(e.to_string()))?;
            diesel::insert_into(notifications::table)
                .values((
                    notifications::id.eq(new_id()),
                    notifications::user_id.eq(&member.id),
                    notifications::organization_id.eq(audience.organization_id),
                    notifications::kind.eq(kind.as_str()),
                    notifications::subject_type.eq(subject_type),
                    notifications::subject_id.eq(subject_id),
                    notifications::title.eq(&title),
                    notifications::summary.eq(&summary),
                    notifications::data_json.eq(context.to_string()),
                    notifications::created_at.eq(at),
                ))
                .execute(conn)?;
            notified.feed_rows += 1;
            if !muted.contains(&member.id) || watchers.contains(&member.id) {
                outbox::enqueue(
                    conn,
                    OutgoingMail {
                        template: kind.as_str(),
                        recipient_email: &member.email,
                        recipient_user_id: Some(&member.id),
                        context: &context,
                    },
                )?;
                notified.mails += 1;
            }
        }
    }
    Ok(notified)
}

/// The template variables for one recipient: the event's own, plus who reads it.
pub fn recipient_context(
    event: &Event,
    recipient_name: &str,
    audience: &Audience<'_>,
) -> Result<serde_json::Value, DbError> {
    let mut value = serde_json::to_value(event).map_err(|e| serialization_error(e.to_string()))?;
    let Some(map) = value.as_object_mut() else {
        return Err(serialization_error("an event is not a JSON object".into()));
    };
    map.insert("recipient_name".into(), recipient_name.into());
    map.insert("counterparty".into(), audience.counterparty.into());
    map.insert("action_required".into(), audience.action_required.into());
    Ok(value)
}

fn serialization_error(message: String) -> DbError {
    DbError::Query(diesel::result::Error::SerializationError(message.into()))
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
