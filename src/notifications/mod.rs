//! Telling members what happened: the feed row and the e-mail that goes with
//! it. Services that change something call [`notify`] inside their own
//! transaction, so feed rows and outbox rows commit (or vanish) with the change.
//! Storage is `crate::db::notifications` and `crate::db::outbox`; the feed's
//! title is the mail's subject, rendered here, once. A member's e-mail settings
//! change here too, with their audit event.

use std::collections::HashSet;

use crate::db::audit::AuditEvent;
use crate::db::notifications::{self as storage, NewFeedItem};
use crate::db::outbox::{self, OutgoingMail};
use crate::db::{now, write_transaction, DbConnection, DbError};
use crate::domain::notification::NotificationKind;
use crate::mail::{templates, Event};

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
    /// Webhook deliveries queued (one per subscribed endpoint of each audience).
    pub webhooks: usize,
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
        ("deal", id) => crate::db::deals::watchers_of(conn, id)?
            .into_iter()
            .collect(),
        _ => HashSet::new(),
    };
    for audience in &notification.audiences {
        // The organization's webhook endpoints hear of it in the same transaction.
        let data = webhook_data(event, audience)?;
        notified.webhooks += crate::webhooks::enqueue_event(
            conn,
            audience.organization_id,
            kind.as_str(),
            (subject_type, subject_id),
            &data,
        )?;
        let members = storage::members_of(conn, audience.organization_id)?;
        let member_ids: Vec<&str> = members.iter().map(|m| m.id.as_str()).collect();
        let muted = storage::muted(conn, &member_ids, kind)?;
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
            storage::insert_feed_item(
                conn,
                NewFeedItem {
                    user_id: &member.id,
                    organization_id: audience.organization_id,
                    kind,
                    subject_type,
                    subject_id,
                    title: &title,
                    summary: &summary,
                    data_json: &context.to_string(),
                    created_at: at,
                },
            )?;
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

/// A webhook event's `data`: the event's own fields (tagged by `kind`), plus the organization's point of view
/// (`counterparty`, `action_required`); no recipient, since no person reads it.
pub fn webhook_data(event: &Event, audience: &Audience<'_>) -> Result<serde_json::Value, DbError> {
    let mut value = serde_json::to_value(event).map_err(|e| serialization_error(e.to_string()))?;
    let Some(map) = value.as_object_mut() else {
        return Err(serialization_error("an event is not a JSON object".into()));
    };
    map.insert("counterparty".into(), audience.counterparty.into());
    map.insert("action_required".into(), audience.action_required.into());
    Ok(value)
}

fn serialization_error(message: String) -> DbError {
    DbError::Query(diesel::result::Error::SerializationError(message.into()))
}

/// A member's e-mail settings, as recorded in audit events: `{"email": {kind: on}}`.
fn settings_record(settings: &[(NotificationKind, bool)]) -> serde_json::Value {
    let email: std::collections::BTreeMap<&str, bool> = settings
        .iter()
        .map(|(kind, on)| (kind.as_str(), *on))
        .collect();
    serde_json::json!({ "email": email })
}

/// Switches e-mail on or off for the given kinds (others keep their setting), in
/// one transaction with its audit event; every kind's setting afterwards.
pub fn change_email_settings(
    conn: &mut DbConnection,
    user_id: &str,
    organization_id: &str,
    changes: &[(NotificationKind, bool)],
) -> Result<Vec<(NotificationKind, bool)>, DbError> {
    write_transaction(conn, |conn| {
        let before = storage::email_settings(conn, user_id)?;
        storage::set_email_settings(conn, user_id, changes)?;
        let after = storage::email_settings(conn, user_id)?;
        AuditEvent::new("notification_settings.changed", "user", Some(user_id))
            .by(Some(organization_id), Some(user_id))
            .before(settings_record(&before))
            .after(settings_record(&after))
            .write(conn)?;
        Ok(after)
    })
}
