//! The caller's notification feed and e-mail settings. Everything here is the
//! caller's own: another user's notification answers 404 like a missing one.

use std::collections::BTreeMap;

use actix_web::{get, post, put, web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::caller::Caller;
use super::extract::ApiJson;
use super::pagination::{Page, PageQuery};
use super::problem::{ApiError, Problem};
use super::state::AppState;
use crate::db::notifications::{self, FeedItem};
use crate::db::{now, DbError};
use crate::domain::ValidationErrors;
use crate::mail::NotificationKind;

#[derive(Debug, Serialize, ToSchema)]
pub struct NotificationView {
    pub id: String,
    /// The event kind, e.g. `deal_countered` (see `GET /me/notification-settings`).
    pub kind: String,
    /// The organization the caller was told as a member of.
    pub organization_id: String,
    /// What it is about (`deal`, `request`) and its id, for linking.
    pub subject_type: String,
    pub subject_id: String,
    pub title: String,
    pub summary: String,
    /// The event's details (the mail's template variables).
    #[schema(value_type = Object)]
    pub data: serde_json::Value,
    pub created_at: DateTime<Utc>,
    pub read_at: Option<DateTime<Utc>>,
    pub read: bool,
}

impl TryFrom<FeedItem> for NotificationView {
    type Error = DbError;
    fn try_from(n: FeedItem) -> Result<Self, DbError> {
        Ok(Self {
            data: crate::db::stored_json("notifications.data_json", &n.data_json)?,
            read: n.read_at.is_some(),
            read_at: n.read_at.map(|t| t.and_utc()),
            created_at: n.created_at.and_utc(),
            id: n.id,
            kind: n.kind,
            organization_id: n.organization_id,
            subject_type: n.subject_type,
            subject_id: n.subject_id,
            title: n.title,
            summary: n.summary,
        })
    }
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FeedFilter {
    /// Only notifications not yet read.
    pub unread: Option<bool>,
}

/// The caller's notifications, newest first.
#[utoipa::path(tag = "notifications", security(("bearer" = [])), params(PageQuery, FeedFilter), responses(
    (status = 200, body = Page<NotificationView>),
    (status = 401, body = Problem, content_type = "application/problem+json"),
))]
#[get("/notifications")]
pub async fn list_notifications(
    state: web::Data<AppState>,
    caller: Caller,
    page: web::Query<PageQuery>,
    filter: web::Query<FeedFilter>,
) -> Result<HttpResponse, ApiError> {
    let limit = page.limit()?;
    let before = page.after()?;
    let unread_only = filter.unread.unwrap_or(false);
    let user_id = caller.user_id().to_string();
    let rows = state
        .db
        .run(move |conn| {
            notifications::feed(
                conn,
                &user_id,
                unread_only,
                before.as_deref(),
                i64::from(limit) + 1,
            )
        })
        .await?;
    let views = rows
        .into_iter()
        .map(NotificationView::try_from)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(HttpResponse::Ok().json(Page::from_rows(views, limit, |n| n.id.clone(), |n| n)))
}

/// Mark one notification read (idempotent: the first read time is kept).
#[utoipa::path(tag = "notifications", security(("bearer" = [])), responses(
    (status = 200, body = NotificationView),
    (status = 404, body = Problem, content_type = "application/problem+json"),
))]
#[post("/notifications/{id}/read")]
pub async fn mark_read(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    let user_id = caller.user_id().to_string();
    let item = state
        .db
        .run(move |conn| notifications::mark_read(conn, &user_id, &id, now()))
        .await?
        .ok_or(ApiError::NotFound("notification"))?;
    Ok(HttpResponse::Ok().json(NotificationView::try_from(item)?))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UnreadCount {
    pub unread: i64,
}

/// How many of the caller's notifications are unread (for a badge).
#[utoipa::path(tag = "notifications", security(("bearer" = [])), responses(
    (status = 200, body = UnreadCount),
))]
#[get("/notifications/unread-count")]
pub async fn unread_count(
    state: web::Data<AppState>,
    caller: Caller,
) -> Result<HttpResponse, ApiError> {
    let user_id = caller.user_id().to_string();
    let unread = state
        .db
        .run(move |conn| notifications::unread_count(conn, &user_id))
        .await?;
    Ok(HttpResponse::Ok().json(UnreadCount { unread }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MarkedRead {
    /// How many notifications were unread and are now read.
    pub marked: usize,
}

/// Mark every notification of the caller read.
#[utoipa::path(tag = "notifications", security(("bearer" = [])), responses(
    (status = 200, body = MarkedRead),
))]
#[post("/notifications/read-all")]
pub async fn mark_all_read(
    state: web::Data<AppState>,
    caller: Caller,
) -> Result<HttpResponse, ApiError> {
    let user_id = caller.user_id().to_string();
    let marked = state
        .db
        .run(move |conn| notifications::mark_all_read(conn, &user_id, now()))
        .await?;
    Ok(HttpResponse::Ok().json(MarkedRead { marked }))
}

/// Whether each kind of event is e-mailed to the caller (it is always in the feed).
#[derive(Debug, Serialize, ToSchema)]
pub struct NotificationSettingsView {
    /// Every notification kind, with `true` when it is e-mailed.
    pub email: BTreeMap<String, bool>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NotificationSettingsUpdate {
    /// The kinds to change, e.g. `{"deal_countered": false}`; kinds not named keep their setting.
    pub email: BTreeMap<String, bool>,
}

fn settings_view(settings: Vec<(NotificationKind, bool)>) -> NotificationSettingsView {
    NotificationSettingsView {
        email: settings
            .into_iter()
            .map(|(kind, on)| (kind.as_str().to_string(), on))
            .collect(),
    }
}

/// The caller's e-mail settings per notification kind (all on until switched off).
#[utoipa::path(tag = "notifications", security(("bearer" = [])), responses(
    (status = 200, body = NotificationSettingsView),
))]
#[get("/me/notification-settings")]
pub async fn get_settings(
    state: web::Data<AppState>,
    caller: Caller,
) -> Result<HttpResponse, ApiError> {
    let user_id = caller.user_id().to_string();
    let settings = state
        .db
        .run(move |conn| notifications::email_settings(conn, &user_id))
        .await?;
    Ok(HttpResponse::Ok().json(settings_view(settings)))
}

/// Switch e-mail on or off per notification kind; answers with every kind's setting.
#[utoipa::path(tag = "notifications", security(("bearer" = [])), request_body = NotificationSettingsUpdate, responses(
    (status = 200, body = NotificationSettingsView),
    (status = 422, description = "An unknown kind, named as `email.<kind>`", body = Problem, content_type = "application/problem+json"),
))]
#[put("/me/notification-settings")]
pub async fn put_settings(
    state: web::Data<AppState>,
    caller: Caller,
    body: ApiJson<NotificationSettingsUpdate>,
) -> Result<HttpResponse, ApiError> {
    let mut errors = ValidationErrors::new();
    let mut changes = Vec::new();
    for (name, on) in body.into_inner().email {
        match NotificationKind::parse(&name) {
            Some(kind) => changes.push((kind, on)),
            None => errors.push(
                format!("email.{name}"),
                format!(
                    "is not a notification kind; the kinds are {}",
                    NotificationKind::ALL
                        .map(NotificationKind::as_str)
                        .join(", ")
                ),
            ),
        }
    }
    errors.into_result()?;
    let user_id = caller.user_id().to_string();
    let organization_id = caller.organization_id().to_string();
    let settings = state
        .db
        .run(move |conn| {
            crate::notifications::change_email_settings(conn, &user_id, &organization_id, &changes)
        })
        .await?;
    Ok(HttpResponse::Ok().json(settings_view(settings)))
}

pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(list_notifications)
        .service(unread_count)
        .service(mark_all_read)
        .service(mark_read)
        .service(get_settings)
        .service(put_settings);
}
