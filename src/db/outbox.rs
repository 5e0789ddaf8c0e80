//! The mail outbox: rows written in the same transaction as the change that
//! causes a mail. The delivery worker (see `crate::mail`) drains it.

use diesel::prelude::*;
use serde::Serialize;

use super::schema::mail_outbox;
use super::{new_id, now, DbConnection, DbError};

/// A mail to send: which template, to whom, and the template's variables.
#[derive(Debug, Clone)]
pub struct OutgoingMail<'a, C: Serialize> {
    pub template: &'a str,
    pub recipient_email: &'a str,
    pub recipient_user_id: Option<&'a str>,
    pub context: C,
}

/// Queues a mail; returns its stable Message-ID (kept across retries, so a
/// duplicate delivery after an unknown outcome is recognisable).
pub fn enqueue<C: Serialize>(
    conn: &mut DbConnection,
    mail: OutgoingMail<'_, C>,
) -> Result<String, DbError> {
    let id = new_id();
    let message_id = format!("<{id}@cadenza.mail>");
    let context = serde_json::to_string(&mail.context)
        .map_err(|e| DbError::Query(diesel::result::Error::SerializationError(Box::new(e))))?;
    let at = now();
    diesel::insert_into(mail_outbox::table)
        .values((
            mail_outbox::id.eq(&id),
            mail_outbox::message_id.eq(&message_id),
            mail_outbox::template.eq(mail.template),
            mail_outbox::recipient_email.eq(mail.recipient_email),
            mail_outbox::recipient_user_id.eq(mail.recipient_user_id),
            mail_outbox::context_json.eq(context),
            mail_outbox::status.eq("pending"),
            mail_outbox::attempts.eq(0),
            mail_outbox::next_attempt_at.eq(at),
            mail_outbox::created_at.eq(at),
        ))
        .execute(conn)?;
    Ok(message_id)
}
