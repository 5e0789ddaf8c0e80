//! The caller's organization's audit trail, for its owners: paged JSON, a CSV export
//! with every chain field, and the chain's head (see `docs/audit.md`). Only the
//! caller's own organization's chain is ever read; there is no id to probe.

use actix_web::{get, web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::caller::Caller;
use super::csv_export::SafeCsv;
use super::pagination::{Page, PageQuery};
use super::problem::{ApiError, Problem};
use super::state::AppState;
use crate::db::audit::{self, AuditRow, TrailFilter};
use crate::db::{stored_json, DbError};
use crate::domain::role::Role;

/// One audit event, with its place in the organization's chain.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditEventView {
    pub id: String,
    /// Its number in the organization's chain: 1, 2, 3… with no gaps.
    pub seq: i64,
    /// What happened, dotted: `deal.countered`, `member.role_changed`.
    pub action: String,
    /// The member who did it; null for the system (sweeps) or an unauthenticated attempt.
    pub actor_user_id: Option<String>,
    pub subject_type: String,
    pub subject_id: Option<String>,
    /// The state before the change, where relevant.
    #[schema(value_type = Option<Object>)]
    pub before: Option<serde_json::Value>,
    /// The state after the change, where relevant.
    #[schema(value_type = Option<Object>)]
    pub after: Option<serde_json::Value>,
    pub created_at: DateTime<Utc>,
    /// The hash of the previous event of the chain (64 zeros for the first).
    pub prev_hash: String,
    /// SHA-256 (hex) of this event's canonical encoding and `prev_hash`.
    pub hash: String,
}

impl TryFrom<AuditRow> for AuditEventView {
    type Error = DbError;
    fn try_from(row: AuditRow) -> Result<Self, DbError> {
        let unchained = || DbError::Corrupt(format!("audit event {} is not chained", row.id));
        Ok(Self {
            seq: row.seq.ok_or_else(unchained)?,
            prev_hash: row.prev_hash.clone().ok_or_else(unchained)?,
            hash: row.hash.clone().ok_or_else(unchained)?,
            before: row
                .before_json
                .as_deref()
                .map(|raw| stored_json("audit_events.before_json", raw))
                .transpose()?,
            after: row
                .after_json
                .as_deref()
                .map(|raw| stored_json("audit_events.after_json", raw))
                .transpose()?,
            created_at: row.created_at.and_utc(),
            id: row.id,
            action: row.action,
            actor_user_id: row.actor_user_id,
            subject_type: row.subject_type,
            subject_id: row.subject_id,
        })
    }
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditFilter {
    /// Only events about this kind of subject (`deal`, `user`, `offer`…).
    pub subject_type: Option<String>,
    /// Only events about this subject.
    pub subject_id: Option<String>,
    /// Only events by this member (a user id).
    pub actor: Option<String>,
    /// Only events at or after this instant (RFC 3339).
    pub from: Option<DateTime<Utc>>,
    /// Only events before this instant (RFC 3339, exclusive).
    pub to: Option<DateTime<Utc>>,
}

impl AuditFilter {
    fn into_filter(self) -> TrailFilter {
        TrailFilter {
            subject_type: self.subject_type,
            subject_id: self.subject_id,
            actor_user_id: self.actor,
            from: self.from.map(|t| t.naive_utc()),
            to: self.to.map(|t| t.naive_utc()),
        }
    }
}

fn seq_cursor(page: &PageQuery) -> Result<Option<i64>, ApiError> {
    page.after()?
        .map(|key| {
            key.parse::<i64>().map_err(|_| ApiError::BadRequest {
                detail: "is not a cursor returned by this API".into(),
                field: Some("cursor".into()),
            })
        })
        .transpose()
}

/// The organization's audit trail, newest first (owners only).
#[utoipa::path(tag = "audit", security(("bearer" = [])), params(PageQuery, AuditFilter), responses(
    (status = 200, body = Page<AuditEventView>),
    (status = 400, body = Problem, content_type = "application/problem+json"),
    (status = 401, body = Problem, content_type = "application/problem+json"),
    (status = 403, body = Problem, content_type = "application/problem+json"),
))]
#[get("/audit")]
pub async fn list_audit(
    state: web::Data<AppState>,
    caller: Caller,
    page: web::Query<PageQuery>,
    filter: web::Query<AuditFilter>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Role::Owner)?;
    let limit = page.limit()?;
    let before = seq_cursor(&page)?;
    let filter = filter.into_inner().into_filter();
    let organization_id = caller.organization_id().to_string();
    let rows = state
        .db
        .run(move |conn| {
            audit::trail(
                conn,
                &organization_id,
                &filter,
                before,
                Some(i64::from(limit) + 1),
            )
        })
        .await?;
    let page = Page::try_from_rows(
        rows,
        limit,
        |row| row.seq.unwrap_or(0).to_string(),
        AuditEventView::try_from,
    )?;
    Ok(HttpResponse::Ok().json(page))
}

/// The columns of the CSV export: the stored values, byte for byte, so the chain can be
/// re-verified from the file alone (`docs/audit.md`).
pub const CSV_COLUMNS: [&str; 11] = [
    "seq",
    "id",
    "created_at",
    "actor_user_id",
    "action",
    "subject_type",
    "subject_id",
    "before_json",
    "after_json",
    "prev_hash",
    "hash",
];

/// The organization's audit trail (with the same filters) as CSV, newest first, every
/// matching event (owners only). JSON columns hold the stored text, so each hash can be
/// recomputed; cells a spreadsheet would evaluate carry a leading `'` (see `docs/api.md`,
/// "CSV exports").
#[utoipa::path(tag = "audit", security(("bearer" = [])), params(AuditFilter), responses(
    (status = 200, content_type = "text/csv", body = String,
        headers(("Content-Disposition" = String, description = "`attachment; filename=\"audit-<organization id>.csv\"`"))),
    (status = 400, body = Problem, content_type = "application/problem+json"),
    (status = 401, body = Problem, content_type = "application/problem+json"),
    (status = 403, body = Problem, content_type = "application/problem+json"),
))]
#[get("/audit.csv")]
pub async fn audit_csv(
    state: web::Data<AppState>,
    caller: Caller,
    filter: web::Query<AuditFilter>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Role::Owner)?;
    let filter = filter.into_inner().into_filter();
    let organization_id = caller.organization_id().to_string();
    let query_org = organization_id.clone();
    let rows = state
        .db
        .run(move |conn| audit::trail(conn, &query_org, &filter, None, None))
        .await?;
    let internal = |e: csv::Error| ApiError::Internal(format!("writing the audit CSV: {e}"));
    let mut csv = SafeCsv::new();
    csv.row(CSV_COLUMNS).map_err(internal)?;
    for row in &rows {
        let seq = row.seq.map(|s| s.to_string()).unwrap_or_default();
        let created_at = row
            .created_at
            .and_utc()
            .to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
        csv.row([
            seq.as_str(),
            row.id.as_str(),
            created_at.as_str(),
            row.actor_user_id.as_deref().unwrap_or(""),
            row.action.as_str(),
            row.subject_type.as_str(),
            row.subject_id.as_deref().unwrap_or(""),
            row.before_json.as_deref().unwrap_or(""),
            row.after_json.as_deref().unwrap_or(""),
            row.prev_hash.as_deref().unwrap_or(""),
            row.hash.as_deref().unwrap_or(""),
        ])
        .map_err(internal)?;
    }
    let body = csv.into_bytes().map_err(internal)?;
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            "Content-Disposition",
            format!("attachment; filename=\"audit-{organization_id}.csv\""),
        ))
        .body(body))
}

/// The head of the organization's chain: what a party pins (in a statement, a mail, its
/// own records) so that a later rewrite of the chain is visible to it.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditHeadView {
    pub organization_id: String,
    /// The number of the last event (0 before the first).
    pub seq: i64,
    /// The hash of the last event (64 zeros before the first).
    pub hash: String,
}

/// The head of the organization's audit chain (owners only).
#[utoipa::path(tag = "audit", security(("bearer" = [])), responses(
    (status = 200, body = AuditHeadView),
    (status = 401, body = Problem, content_type = "application/problem+json"),
    (status = 403, body = Problem, content_type = "application/problem+json"),
))]
#[get("/audit/head")]
pub async fn audit_head(
    state: web::Data<AppState>,
    caller: Caller,
) -> Result<HttpResponse, ApiError> {
    caller.require(Role::Owner)?;
    let organization_id = caller.organization_id().to_string();
    let query_org = organization_id.clone();
    let head = state
        .db
        .run(move |conn| audit::head(conn, &query_org))
        .await?;
    let (seq, hash) = head.map_or_else(
        || (0, crate::domain::audit_chain::GENESIS.to_string()),
        |h| (h.seq, h.hash),
    );
    Ok(HttpResponse::Ok().json(AuditHeadView {
        organization_id,
        seq,
        hash,
    }))
}

pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(audit_csv)
        .service(audit_head)
        .service(list_audit);
}
