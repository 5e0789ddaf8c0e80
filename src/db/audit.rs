//! The append-only audit trail. Every change writes one event in the same
//! transaction as the change itself.

use diesel::prelude::*;
use serde::Serialize;

use super::schema::audit_events;
use super::{new_id, now, DbConnection, DbError};

/// One audit record about to be written.
#[derive(Debug, Clone, Default)]
pub struct AuditEvent<'a> {
    pub organization_id: Option<&'a str>,
    pub actor_user_id: Option<&'a str>,
    /// What happened, dotted: `auth.login_failed`, `member.role_changed`, `deal.countered`.
    pub action: &'a str,
    pub subject_type: &'a str,
    pub subject_id: Option<&'a str>,
    pub before: Option<serde_json::Value>,
    pub after: Option<serde_json::Value>,
}

impl<'a> AuditEvent<'a> {
    pub fn new(action: &'a str, subject_type: &'a str, subject_id: Option<&'a str>) -> Self {
        Self {
            action,
            subject_type,
            subject_id,
            ..Self::default()
        }
    }

    pub fn by(mut self, organization_id: Option<&'a str>, actor_user_id: Option<&'a str>) -> Self {
        self.organization_id = organization_id;
        self.actor_user_id = actor_user_id;
        self
    }

    pub fn before(mut self, value: impl Serialize) -> Self {
        self.before = serde_json::to_value(value).ok();
        self
    }

    pub fn after(mut self, value: impl Serialize) -> Self {
        self.after = serde_json::to_value(value).ok();
        self
    }

    pub fn write(self, conn: &mut DbConnection) -> Result<(), DbError> {
        diesel::insert_into(audit_events::table)
            .values((
                audit_events::id.eq(new_id()),
                audit_events::organization_id.eq(self.organization_id),
                audit_events::actor_user_id.eq(self.actor_user_id),
                audit_events::action.eq(self.action),
                audit_events::subject_type.eq(self.subject_type),
                audit_events::subject_id.eq(self.subject_id),
                audit_events::before_json.eq(self.before.map(|v| v.to_string())),
                audit_events::after_json.eq(self.after.map(|v| v.to_string())),
                audit_events::created_at.eq(now()),
            ))
            .execute(conn)?;
        Ok(())
    }
}
