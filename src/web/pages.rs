//! The member's own pages: notifications (with the unread count every page's frame
//! shows), e-mail settings per kind, and, for owners, members and invitations.

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use serde_json::json;

use super::error::WebError;
use super::forms::{field_errors, Form};
use super::session::{redirect, SignedIn};
use crate::api::accounts::{InvitationView, UserView};
use crate::api::notifications::NotificationView;
use crate::api::pagination::{encode_cursor, PageQuery};
use crate::api::state::AppState;
use crate::auth::service::{self, AuthError};
use crate::db::{accounts, notifications};
use crate::domain::account::EmailAddress;
use crate::domain::role::Role;
use crate::domain::ValidationErrors;
use crate::mail::NotificationKind;

/// Where a notification leads: its deal, or the offers for a request's matches.
fn link_of(n: &NotificationView) -> Option<String> {
    match n.subject_type.as_str() {
        "deal" => Some(format!("/deals/{}", n.subject_id)),
        "offer" => Some(format!("/offers/{}", n.subject_id)),
        _ => n
            .data
            .pointer("/offer/id")
            .and_then(|v| v.as_str())
            .map(|id| format!("/offers/{id}")),
    }
}

async fn notification_list(
    state: web::Data<AppState>,
    me: SignedIn,
    page: web::Query<PageQuery>,
) -> Result<HttpResponse, WebError> {
    let before = page.after()?;
    let user_id = me.caller.user_id().to_string();
    let limit = 30usize;
    let mut rows = state
        .db
        .run(move |conn| {
            notifications::feed(conn, &user_id, false, before.as_deref(), limit as i64 + 1)
        })
        .await?;
    let more = rows.len() > limit;
    rows.truncate(limit);
    let next = more
        .then(|| rows.last().map(|n| encode_cursor(&n.id)))
        .flatten();
    let items = rows
        .into_iter()
        .map(|row| {
            let view = NotificationView::try_from(row)?;
            let link = link_of(&view);
            Ok(json!({"n": view, "link": link}))
        })
        .collect::<Result<Vec<_>, crate::db::DbError>>()?;
    Ok(me.page(
        StatusCode::OK,
        "notifications.html",
        json!({"items": items, "next_cursor": next}),
    ))
}

async fn read_all(
    state: web::Data<AppState>,
    me: SignedIn,
    form: Form,
) -> Result<HttpResponse, WebError> {
    me.check_csrf(&form)?;
    let user_id = me.caller.user_id().to_string();
    state
        .db
        .run(move |conn| notifications::mark_all_read(conn, &user_id, crate::db::now()))
        .await?;
    Ok(redirect("/notifications"))
}

async fn read_one(
    state: web::Data<AppState>,
    me: SignedIn,
    path: web::Path<String>,
    form: Form,
) -> Result<HttpResponse, WebError> {
    me.check_csrf(&form)?;
    let user_id = me.caller.user_id().to_string();
    let id = path.into_inner();
    let item = state
        .db
        .run(move |conn| notifications::mark_read(conn, &user_id, &id, crate::db::now()))
        .await?
        .ok_or(WebError::NotFound("notification"))?;
    let view = NotificationView::try_from(item)?;
    Ok(redirect(
        &link_of(&view).unwrap_or_else(|| "/notifications".into()),
    ))
}

async fn settings_response(
    state: &AppState,
    me: &SignedIn,
    status: StatusCode,
    saved: bool,
) -> Result<HttpResponse, WebError> {
    let user_id = me.caller.user_id().to_string();
    let settings = state
        .db
        .run(move |conn| notifications::email_settings(conn, &user_id))
        .await?;
    let kinds: Vec<_> = settings
        .into_iter()
        .map(|(kind, on)| json!({"kind": kind.as_str(), "label": kind.as_str().replace('_', " "), "on": on}))
        .collect();
    Ok(me.page(
        status,
        "notification_settings.html",
        json!({"kinds": kinds, "saved": saved}),
    ))
}

async fn settings_page(state: web::Data<AppState>, me: SignedIn) -> Result<HttpResponse, WebError> {
    settings_response(&state, &me, StatusCode::OK, false).await
}

/// Every kind is on the form; an unchecked box switches its e-mail off.
async fn save_settings(
    state: web::Data<AppState>,
    me: SignedIn,
    form: Form,
) -> Result<HttpResponse, WebError> {
    me.check_csrf(&form)?;
    let on = form.all("email");
    let changes: Vec<(NotificationKind, bool)> = NotificationKind::ALL
        .into_iter()
        .map(|kind| (kind, on.iter().any(|k| k == kind.as_str())))
        .collect();
    let user_id = me.caller.user_id().to_string();
    let organization_id = me.caller.organization_id().to_string();
    state
        .db
        .run(move |conn| {
            crate::notifications::change_email_settings(conn, &user_id, &organization_id, &changes)
        })
        .await?;
    settings_response(&state, &me, StatusCode::OK, true).await
}

async fn members_response(
    state: &AppState,
    me: &SignedIn,
    status: StatusCode,
    extra: serde_json::Value,
) -> Result<HttpResponse, WebError> {
    me.caller.require(Role::Owner)?;
    let org = me.caller.organization_id().to_string();
    let (members, invitations) = state
        .db
        .run(move |conn| {
            let members = accounts::list_members(conn, &org, None, 500)?;
            let invitations = accounts::list_pending_invitations(conn, &org, crate::db::now())?;
            Ok::<_, crate::db::DbError>((members, invitations))
        })
        .await?;
    let members = members
        .into_iter()
        .map(UserView::try_from)
        .collect::<Result<Vec<_>, _>>()?;
    let invitations = invitations
        .into_iter()
        .map(InvitationView::try_from)
        .collect::<Result<Vec<_>, _>>()?;
    let mut context = json!({"members": members, "invitations": invitations,
                             "roles": ["viewer", "negotiator", "signer", "owner"]});
    if let (Some(map), serde_json::Value::Object(extra)) = (context.as_object_mut(), extra) {
        map.extend(extra);
    }
    Ok(me.page(status, "members.html", context))
}

async fn members_page(state: web::Data<AppState>, me: SignedIn) -> Result<HttpResponse, WebError> {
    members_response(&state, &me, StatusCode::OK, json!({})).await
}

async fn invite(
    state: web::Data<AppState>,
    me: SignedIn,
    form: Form,
) -> Result<HttpResponse, WebError> {
    me.check_csrf(&form)?;
    me.caller.require(Role::Owner)?;
    let mut errors = ValidationErrors::new();
    let email = EmailAddress::parse(&form.value("email"))
        .map_err(|m| errors.push("email", m))
        .ok();
    let role = form
        .value("role")
        .parse::<Role>()
        .map_err(|_| errors.push("role", "must be viewer, negotiator, signer or owner"))
        .ok();
    let (Some(email), Some(role)) = (email, role) else {
        return members_response(
            &state,
            &me,
            StatusCode::UNPROCESSABLE_ENTITY,
            json!({"errors": field_errors(&errors, ""), "form": form.values()}),
        )
        .await;
    };
    let public_url = state.settings.public_url.clone();
    let inviter = me.caller.user.clone();
    let invited = email.as_str().to_string();
    state
        .db
        .run(move |conn| service::invite(conn, &inviter, &email, role, &public_url))
        .await?;
    members_response(&state, &me, StatusCode::OK, json!({"sent": invited})).await
}

async fn change_member(
    state: web::Data<AppState>,
    me: SignedIn,
    path: web::Path<String>,
    form: Form,
) -> Result<HttpResponse, WebError> {
    me.check_csrf(&form)?;
    me.caller.require(Role::Owner)?;
    let member_id = path.into_inner();
    let actor = me.caller.user.clone();
    let outcome = if form.get("remove").is_some() {
        state
            .db
            .run(move |conn| service::remove_member(conn, &actor, &member_id))
            .await
    } else {
        let role = form.value("role").parse::<Role>().map_err(|_| {
            WebError::BadRequest("role must be viewer, negotiator, signer or owner".into())
        })?;
        state
            .db
            .run(move |conn| service::change_role(conn, &actor, &member_id, role).map(|_| ()))
            .await
    };
    match outcome {
        Ok(()) => Ok(redirect("/members")),
        Err(AuthError::LastOwner) => {
            members_response(
                &state,
                &me,
                StatusCode::CONFLICT,
                json!({"errors": {"form": "An organization must keep at least one owner."}}),
            )
            .await
        }
        Err(AuthError::MemberNotFound) => Err(WebError::NotFound("member")),
        Err(other) => Err(other.into()),
    }
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/notifications", web::get().to(notification_list))
        .route("/notifications/read-all", web::post().to(read_all))
        .route("/notifications/{id}/read", web::post().to(read_one))
        .route("/settings/notifications", web::get().to(settings_page))
        .route("/settings/notifications", web::post().to(save_settings))
        .route("/members", web::get().to(members_page))
        .route("/members/invitations", web::post().to(invite))
        .route("/members/{id}", web::post().to(change_member));
}
