//! The deal room and what follows it: my deals; one deal with its state and whose turn,
//! the current term sheet, a side-by-side diff of any two revisions, the timeline, and
//! the forms of the actions the member may take now (submit, counter prefilled with the
//! current terms, accept, reject, withdraw, sign showing the hash being signed) with the
//! execution advice before signing; then grants with their tracks and CSV, the payment
//! schedule and the royalty statements. Every action goes through
//! `crate::deals::transition` with the version the page was rendered at, so a form
//! someone else overtook answers "someone acted first" with the new state.

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use serde_json::{json, Map, Value};

use super::error::WebError;
use super::forms::{field_errors, Form};
use super::session::{redirect, SignedIn};
use crate::api::csv_export::{tracks_csv, GRANT_COLUMNS};
use crate::api::deals::{deal_slice, member, revision_view, view, DealView};
use crate::api::grants::{granted_set, party_grant, schedule_view, GrantView};
use crate::api::pagination::{decode_cursor, encode_cursor, PageQuery};
use crate::api::problem::ApiError;
use crate::api::royalties::deal_statement_views;
use crate::api::state::AppState;
use crate::api::track_lists::{slice_csv, track_page, TrackPageQuery, TrackPaging};
use crate::db::deals as deal_rows;
use crate::deals::payments::{self, NewPayment};
use crate::deals::{self, DealError, Payload};
use crate::domain::deal::{Action, DealState};
use crate::domain::role::Role;
use crate::domain::terms::{TermSheetInput, TERM_FIELDS};
use crate::domain::usage::Usage;
use crate::domain::ValidationErrors;

// ---- showing terms ----------------------------------------------------------------

fn label(field: &str) -> String {
    let spaced = field.replace('_', " ");
    let mut chars = spaced.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => spaced,
    }
}

/// A term's value as a person reads it.
pub fn display(value: &Value) -> String {
    match value {
        Value::Null => "—".into(),
        Value::Bool(true) => "yes".into(),
        Value::Bool(false) => "no".into(),
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Array(items) if items.is_empty() => "none".into(),
        Value::Array(items) => items
            .iter()
            .map(|item| match (item.get("due_date"), item.get("amount")) {
                (Some(due), Some(amount)) => format!("{} due {}", display(amount), display(due)),
                _ => display(item),
            })
            .collect::<Vec<_>>()
            .join(", "),
        Value::Object(_) => serde_json::to_string_pretty(value).unwrap_or_default(),
    }
}

/// The term sheet as rows in the spec's order (absent optional terms shown as —).
pub fn terms_rows(terms: &Value) -> Vec<Value> {
    TERM_FIELDS
        .iter()
        .map(|field| {
            let value = terms.get(*field).unwrap_or(&Value::Null);
            json!({"field": field, "label": label(field), "value": display(value)})
        })
        .collect()
}

/// Two revisions side by side, every term, the changed ones marked.
fn diff_rows(old: &Value, new: &Value) -> Vec<Value> {
    TERM_FIELDS
        .iter()
        .map(|field| {
            let (a, b) = (
                old.get(*field).unwrap_or(&Value::Null),
                new.get(*field).unwrap_or(&Value::Null),
            );
            json!({"field": field, "label": label(field), "old": display(a), "new": display(b),
                   "changed": a != b})
        })
        .collect()
}

// ---- the counter form -------------------------------------------------------------

/// The counter form's fields, prefilled from terms.
pub(super) fn terms_form(terms: &Value) -> Value {
    let text = |field: &str| match terms.get(field) {
        Some(Value::String(s)) => s.clone(),
        _ => String::new(),
    };
    let list = |field: &str| -> Vec<String> {
        terms
            .get(field)
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    };
    let installments = terms
        .get("installments")
        .and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .map(|i| {
                    format!(
                        "{} {}",
                        i.get("due_date")
                            .and_then(Value::as_str)
                            .unwrap_or_default(),
                        i.get("amount").and_then(Value::as_str).unwrap_or_default()
                    )
                })
                .collect::<Vec<_>>()
                .join("\n")
        })
        .unwrap_or_default();
    let royalties = match terms.get("royalties") {
        Some(v @ Value::Object(_)) => serde_json::to_string_pretty(v).unwrap_or_default(),
        _ => String::new(),
    };
    json!({
        "slice_id": text("slice_id"),
        "tracks_hash": text("tracks_hash"),
        "territories": list("territories").join(", "),
        "usages": list("usages"),
        "start_date": text("start_date"),
        "end_date": text("end_date"),
        "exclusive": terms.get("exclusive").and_then(Value::as_bool).unwrap_or(false),
        "sublicensable": terms.get("sublicensable").and_then(Value::as_bool).unwrap_or(false),
        "currency": text("currency"),
        "upfront_fee": text("upfront_fee"),
        "minimum_guarantee": text("minimum_guarantee"),
        "per_stream_rate": text("per_stream_rate"),
        "revenue_share_percent": text("revenue_share_percent"),
        "installments": installments,
        "clauses": text("clauses"),
        "respond_by": text("respond_by"),
        "royalties": royalties,
    })
}

/// The counter form as posted, to show it again with its errors.
pub(super) fn posted_terms_form(form: &Form) -> Value {
    json!({
        "slice_id": form.value("slice_id"),
        "tracks_hash": form.value("tracks_hash"),
        "territories": form.value("territories"),
        "usages": form.all("usages"),
        "start_date": form.value("start_date"),
        "end_date": form.value("end_date"),
        "exclusive": form.checked("exclusive"),
        "sublicensable": form.checked("sublicensable"),
        "currency": form.value("currency"),
        "upfront_fee": form.value("upfront_fee"),
        "minimum_guarantee": form.value("minimum_guarantee"),
        "per_stream_rate": form.value("per_stream_rate"),
        "revenue_share_percent": form.value("revenue_share_percent"),
        "installments": form.value("installments"),
        "clauses": form.value("clauses"),
        "respond_by": form.value("respond_by"),
        "royalties": form.value("royalties"),
    })
}

/// Reads the counter form into terms; what cannot even be read is reported on its field
/// (the deal service then checks every rule, as for the API).
pub(super) fn terms_from_form(form: &Form) -> Result<TermSheetInput, ValidationErrors> {
    let mut errors = ValidationErrors::new();
    let mut installments = Vec::new();
    for (n, line) in form
        .value("installments")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .enumerate()
    {
        match line.split_whitespace().collect::<Vec<_>>().as_slice() {
            [due, amount] => installments.push(json!({"due_date": due, "amount": amount})),
            _ => errors.push(
                format!("terms.installments[{n}]"),
                format!("line {} must be a due date and an amount, e.g. `2027-01-15 3000000.00` (got `{line}`)", n + 1),
            ),
        }
    }
    let royalties = match form.optional("royalties") {
        None => Value::Null,
        Some(text) => match serde_json::from_str::<Value>(&text) {
            Ok(v) => v,
            Err(e) => {
                errors.push(
                    "terms.royalties",
                    format!("must be JSON as in docs/royalties.md: {e}"),
                );
                Value::Null
            }
        },
    };
    let territories: Vec<String> = form
        .value("territories")
        .split([',', ' ', '\n'])
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_string)
        .collect();
    let mut terms = Map::new();
    terms.insert("slice_id".into(), json!(form.value("slice_id")));
    if let Some(hash) = form.optional("tracks_hash") {
        terms.insert("tracks_hash".into(), json!(hash));
    }
    terms.insert("territories".into(), json!(territories));
    terms.insert("usages".into(), json!(form.all("usages")));
    terms.insert("start_date".into(), json!(form.value("start_date").trim()));
    terms.insert("end_date".into(), json!(form.value("end_date").trim()));
    terms.insert("exclusive".into(), json!(form.checked("exclusive")));
    terms.insert("sublicensable".into(), json!(form.checked("sublicensable")));
    terms.insert("currency".into(), json!(form.value("currency").trim()));
    for field in [
        "upfront_fee",
        "minimum_guarantee",
        "per_stream_rate",
        "revenue_share_percent",
        "clauses",
        "respond_by",
    ] {
        terms.insert(field.into(), json!(form.optional(field)));
    }
    terms.insert("installments".into(), json!(installments));
    if !royalties.is_null() {
        terms.insert("royalties".into(), royalties);
    }
    errors.into_result()?;
    serde_json::from_value(Value::Object(terms))
        .map_err(|e| ValidationErrors::single("terms", format!("cannot be read: {e}")))
}

// ---- the deal room ----------------------------------------------------------------

#[derive(serde::Deserialize, Default)]
pub struct RoomQuery {
    from: Option<i32>,
    to: Option<i32>,
    cursor: Option<String>,
}

/// What the deal room shows besides the deal itself: a notice, field errors, the counter
/// form as posted.
#[derive(Default)]
struct Notice {
    status: Option<StatusCode>,
    kind: &'static str,
    message: Option<String>,
    errors: Value,
    counter: Option<Value>,
    /// Which form the errors belong to.
    form: Option<&'static str>,
}

const TIMELINE_PAGE: i64 = 50;

async fn room(
    state: &AppState,
    me: &SignedIn,
    id: String,
    query: RoomQuery,
    notice: Notice,
) -> Result<HttpResponse, WebError> {
    let member = member(&me.caller);
    let after = query.cursor.as_deref().map(decode_cursor).transpose()?;
    let data = state
        .db
        .run(move |conn| {
            let detail = deals::detail(conn, &member, &id)?;
            let revision = deals::stored_terms(&detail.revision)?;
            let licensor = detail.deal.licensor_org_id.clone();
            let deal: DealView = view(conn, detail)?;
            let revisions = deal_rows::list_revisions(conn, &id)?
                .into_iter()
                .map(revision_view)
                .collect::<Result<Vec<_>, _>>()?;
            let mut events =
                deal_rows::list_events(conn, &id, after.as_deref(), TIMELINE_PAGE + 1)?;
            let more = events.len() as i64 > TIMELINE_PAGE;
            events.truncate(TIMELINE_PAGE as usize);
            let next = more
                .then(|| events.last().map(|e| encode_cursor(&e.id)))
                .flatten();
            // Before signing (and accepting), what would stop execution today.
            let advice = if deal
                .allowed_actions
                .iter()
                .any(|a| a == "sign" || a == "accept")
            {
                Some(deals::advise(conn, &licensor, &revision)?)
            } else {
                None
            };
            Ok::<_, DealError>((deal, revisions, events, next, advice))
        })
        .await?;
    let (deal, revisions, events, next_events, advice) = data;
    let current =
        serde_json::to_value(&deal.terms).map_err(|e| WebError::Internal(e.to_string()))?;
    let to = query.to.unwrap_or(deal.revision).clamp(1, deal.revision);
    let from = query
        .from
        .unwrap_or((to - 1).max(1))
        .clamp(1, deal.revision);
    let terms_of = |n: i32| {
        revisions
            .iter()
            .find(|r| r.number == n)
            .and_then(|r| serde_json::to_value(&r.terms).ok())
            .unwrap_or(Value::Null)
    };
    let diff = (deal.revision > 1).then(|| {
        json!({"from": from, "to": to, "rows": diff_rows(&terms_of(from), &terms_of(to)),
               "changed": diff_rows(&terms_of(from), &terms_of(to)).iter().filter(|r| r["changed"] == true).count()})
    });
    let timeline: Vec<Value> = events
        .into_iter()
        .map(|e| {
            json!({"kind": e.kind, "party": e.party, "revision": e.revision,
                   "summary": e.summary, "at": e.created_at.and_utc().format("%Y-%m-%d %H:%M UTC").to_string()})
        })
        .collect();
    let turn_is_mine = deal.turn == Some(deal.your_party);
    let counter = notice.counter.unwrap_or_else(|| terms_form(&current));
    let status = notice.status.unwrap_or(StatusCode::OK);
    let advice = advice.map(|a| {
        json!({"clear": a.is_clear(), "summary": a.summary(),
               "conflicting_track_count": a.conflicting_track_count,
               "unheld_track_count": a.unheld_track_count})
    });
    Ok(me.page(
        status,
        "deal.html",
        json!({
            "deal": deal,
            "state_label": deal.state.to_string().replace('_', " "),
            "turn_is_mine": turn_is_mine,
            "terms": terms_rows(&current),
            "revisions": revisions.iter().map(|r| json!({"number": r.number, "proposed_by": r.proposed_by,
                "terms_hash": r.terms_hash, "at": r.created_at.format("%Y-%m-%d %H:%M UTC").to_string()})).collect::<Vec<_>>(),
            "diff": diff,
            "timeline": timeline,
            "timeline_next": next_events,
            "counter": counter,
            "usages": Usage::ALL.iter().map(|u| u.as_str()).collect::<Vec<_>>(),
            "advice": advice,
            "notice": notice.message.map(|m| json!({"kind": notice.kind, "message": m})),
            "errors": notice.errors,
            "error_form": notice.form,
            "can": {
                "submit": deal.allowed_actions.iter().any(|a| a == "submit"),
                "counter": deal.allowed_actions.iter().any(|a| a == "counter"),
                "accept": deal.allowed_actions.iter().any(|a| a == "accept"),
                "reject": deal.allowed_actions.iter().any(|a| a == "reject"),
                "withdraw": deal.allowed_actions.iter().any(|a| a == "withdraw"),
                "sign": deal.allowed_actions.iter().any(|a| a == "sign"),
            },
        }),
    ))
}

async fn deal_page(
    state: web::Data<AppState>,
    me: SignedIn,
    path: web::Path<String>,
    query: web::Query<RoomQuery>,
) -> Result<HttpResponse, WebError> {
    room(
        &state,
        &me,
        path.into_inner(),
        query.into_inner(),
        Notice::default(),
    )
    .await
}

/// One action from the deal room's forms, at the version the page showed.
async fn act(
    state: web::Data<AppState>,
    me: SignedIn,
    path: web::Path<(String, String)>,
    form: Form,
) -> Result<HttpResponse, WebError> {
    me.check_csrf(&form)?;
    let (id, action_name) = path.into_inner();
    let action = match action_name.as_str() {
        "submit" => Action::Submit,
        "counter" => Action::Counter,
        "accept" => Action::Accept,
        "reject" => Action::Reject,
        "withdraw" => Action::Withdraw,
        "sign" => Action::Sign,
        _ => return Err(WebError::NotFound("action")),
    };
    let form_name: &'static str = match action {
        Action::Counter => "counter",
        Action::Reject => "reject",
        Action::Withdraw => "withdraw",
        _ => "actions",
    };
    let posted_counter = (action == Action::Counter).then(|| posted_terms_form(&form));
    let Some(expected) = form
        .get("version")
        .and_then(|v| v.trim().parse::<i32>().ok())
    else {
        return Err(WebError::BadRequest(
            "the form has no deal version; reload the deal and try again".into(),
        ));
    };
    let terms = if action == Action::Counter {
        match terms_from_form(&form) {
            Ok(terms) => Some(terms),
            Err(errors) => {
                let notice = Notice {
                    status: Some(StatusCode::UNPROCESSABLE_ENTITY),
                    kind: "error",
                    message: Some(
                        "The counter-offer was not sent: correct the fields marked below.".into(),
                    ),
                    errors: field_errors(&errors, "terms."),
                    counter: posted_counter,
                    form: Some(form_name),
                };
                return room(&state, &me, id, RoomQuery::default(), notice).await;
            }
        }
    } else {
        None
    };
    let payload = Payload {
        terms,
        terms_hash: form.optional("terms_hash"),
        reason: form.optional("reason"),
        effective_date: None,
    };
    let member = member(&me.caller);
    let rules = state.market_rules.clone();
    let deal_id = id.clone();
    let done = state
        .db
        .run(move |conn| {
            deals::transition(conn, &member, &rules, &deal_id, expected, action, payload)
        })
        .await;
    let failed = |status, message: String, errors: Value| Notice {
        status: Some(status),
        kind: "error",
        message: Some(message),
        errors,
        counter: posted_counter.clone(),
        form: Some(form_name),
    };
    let notice = match done {
        Ok(_) => return Ok(redirect(&format!("/deals/{id}"))),
        Err(DealError::Stale { .. }) => Notice {
            status: Some(StatusCode::CONFLICT),
            kind: "stale",
            message: Some(format!(
                "Someone else acted on this deal first, so your {} was not applied. This is the deal as it is now; check it and act again if you still want to.",
                action.as_str()
            )),
            errors: Value::Null,
            counter: posted_counter.clone(),
            form: Some(form_name),
        },
        Err(DealError::Validation(errors)) => failed(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("Your {} was not applied: correct the fields marked below.", action.as_str()),
            field_errors(&errors, "terms."),
        ),
        Err(DealError::MarketRules(breaches)) => failed(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("The terms break a market rule: {breaches}"),
            field_errors(&breaches.field_errors("terms"), "terms."),
        ),
        Err(DealError::Refused(refused)) => failed(StatusCode::CONFLICT, refused.to_string(), Value::Null),
        Err(DealError::Conflict { detail, .. }) => failed(StatusCode::CONFLICT, detail, Value::Null),
        Err(DealError::Forbidden(detail)) => failed(StatusCode::FORBIDDEN, detail, Value::Null),
        Err(DealError::NotFound(what)) => return Err(WebError::NotFound(what)),
        Err(DealError::Database(db)) => return Err(db.into()),
    };
    room(&state, &me, id, RoomQuery::default(), notice).await
}

#[derive(serde::Deserialize)]
struct ListQuery {
    state: Option<String>,
    cursor: Option<String>,
}

async fn deal_list(
    state: web::Data<AppState>,
    me: SignedIn,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, WebError> {
    let query = query.into_inner();
    let filter = query.state.filter(|s| !s.is_empty());
    if let Some(s) = &filter {
        s.parse::<DealState>()
            .map_err(|e| WebError::BadRequest(e.to_string()))?;
    }
    let after = query.cursor.as_deref().map(decode_cursor).transpose()?;
    let member = member(&me.caller);
    let limit = 25usize;
    let f = filter.clone();
    let (views, next) = state
        .db
        .run(move |conn| {
            let mut rows = deal_rows::list_deals_for_org(
                conn,
                &member.organization_id,
                f.as_deref(),
                after.as_deref(),
                limit as i64 + 1,
            )?;
            let more = rows.len() > limit;
            rows.truncate(limit);
            let next = more
                .then(|| rows.last().map(|d| encode_cursor(&d.id)))
                .flatten();
            let mut views = Vec::with_capacity(rows.len());
            for row in rows {
                let detail = deals::detail_of(conn, &member, row)?;
                views.push(view(conn, detail)?);
            }
            Ok::<_, DealError>((views, next))
        })
        .await?;
    Ok(me.page(
        StatusCode::OK,
        "deals.html",
        json!({"deals": views, "next_cursor": next, "state": filter,
               "states": ["draft", "negotiating", "agreed", "executed", "rejected", "withdrawn", "expired", "terminated", "completed"]}),
    ))
}

async fn deal_tracks_csv(
    state: web::Data<AppState>,
    me: SignedIn,
    path: web::Path<String>,
) -> Result<HttpResponse, WebError> {
    let org = me.caller.organization_id().to_string();
    let id = path.into_inner();
    let filename = format!("deal-{id}.csv");
    Ok(slice_csv(&state, filename, move |conn| deal_slice(conn, &org, &id)).await?)
}

async fn installments(
    state: web::Data<AppState>,
    me: SignedIn,
    path: web::Path<String>,
) -> Result<HttpResponse, WebError> {
    schedule_response(&state, &me, path.into_inner(), StatusCode::OK, json!({})).await
}

/// The schedule page; the licensor's negotiators and above get a payment form per
/// open installment.
async fn schedule_response(
    state: &AppState,
    me: &SignedIn,
    id: String,
    status: StatusCode,
    extra: Value,
) -> Result<HttpResponse, WebError> {
    let org = me.caller.organization_id().to_string();
    let deal_id = id.clone();
    let (schedule, licensor) = state
        .db
        .run(move |conn| {
            let schedule = schedule_view(conn, &org, deal_id.clone())?;
            let licensor = deal_rows::find_deal_for_org(conn, &org, &deal_id)?
                .is_some_and(|d| d.licensor_org_id == org);
            Ok::<_, DealError>((schedule, licensor))
        })
        .await?;
    let mut context = json!({"deal_id": id, "schedule": schedule,
        "can_record": licensor && me.caller.role.includes(Role::Negotiator),
        "today": chrono::Utc::now().date_naive().to_string()});
    if let (Some(map), Value::Object(extra)) = (context.as_object_mut(), extra) {
        map.extend(extra);
    }
    Ok(me.page(status, "installments.html", context))
}

/// The licensor records money received against an installment (the same service as
/// `POST /api/v1/installments/{id}/payments`).
async fn record_payment(
    state: web::Data<AppState>,
    me: SignedIn,
    path: web::Path<String>,
    form: Form,
) -> Result<HttpResponse, WebError> {
    me.check_csrf(&form)?;
    me.caller.require(Role::Negotiator)?;
    let installment_id = path.into_inner();
    let path = format!("/installments/{installment_id}/payments");
    super::once::once_per_form(
        &state,
        me.caller.user_id(),
        &path,
        &form,
        record_payment_once(&state, &me, installment_id.clone(), &form),
    )
    .await
}

async fn record_payment_once(
    state: &AppState,
    me: &SignedIn,
    installment_id: String,
    form: &Form,
) -> Result<HttpResponse, WebError> {
    let deal_id = form.value("deal_id");
    let mut errors = ValidationErrors::new();
    let paid_on = chrono::NaiveDate::parse_from_str(form.value("paid_on").trim(), "%Y-%m-%d")
        .map_err(|_| errors.push("paid_on", "must be a date such as 2027-01-15"))
        .ok();
    let failed = |errors: &ValidationErrors| json!({"errors": field_errors(errors, ""), "failed_installment": installment_id, "form": form.values()});
    let Some(paid_on) = paid_on else {
        return schedule_response(
            state,
            me,
            deal_id,
            StatusCode::UNPROCESSABLE_ENTITY,
            failed(&errors),
        )
        .await;
    };
    let payment = NewPayment {
        amount: form.value("amount").trim().to_string(),
        paid_on,
        reference: form.value("reference").trim().to_string(),
    };
    let (org, user, id) = (
        me.caller.organization_id().to_string(),
        me.caller.user_id().to_string(),
        installment_id.clone(),
    );
    let recorded = state
        .db
        .run(move |conn| payments::record_payment(conn, &org, &user, &id, payment))
        .await;
    match recorded {
        Ok(row) => Ok(redirect(&format!("/deals/{}/installments", row.deal_id))),
        Err(DealError::Validation(errors)) => {
            schedule_response(
                state,
                me,
                deal_id,
                StatusCode::UNPROCESSABLE_ENTITY,
                failed(&errors),
            )
            .await
        }
        Err(DealError::Refused(refused)) => {
            let errors = ValidationErrors::single("form", refused.to_string());
            schedule_response(state, me, deal_id, StatusCode::CONFLICT, failed(&errors)).await
        }
        Err(DealError::Conflict { detail, .. }) => {
            let errors = ValidationErrors::single("form", detail);
            schedule_response(state, me, deal_id, StatusCode::CONFLICT, failed(&errors)).await
        }
        Err(other) => Err(other.into()),
    }
}

async fn statements(
    state: web::Data<AppState>,
    me: SignedIn,
    path: web::Path<String>,
) -> Result<HttpResponse, WebError> {
    statements_response(&state, &me, path.into_inner(), StatusCode::OK, json!({})).await
}

async fn statements_response(
    state: &AppState,
    me: &SignedIn,
    id: String,
    status: StatusCode,
    extra: Value,
) -> Result<HttpResponse, WebError> {
    let org = me.caller.organization_id().to_string();
    let deal_id = id.clone();
    let (statements, licensor) = state
        .db
        .run(move |conn| {
            let views = deal_statement_views(conn, &org, &deal_id, None)?;
            let licensor = deal_rows::find_deal_for_org(conn, &org, &deal_id)?
                .is_some_and(|d| d.licensor_org_id == org);
            Ok::<_, ApiError>((views, licensor))
        })
        .await?;
    let mut context = json!({"deal_id": id, "statements": statements,
        "can_review": licensor && me.caller.role.includes(Role::Negotiator)});
    if let (Some(map), Value::Object(extra)) = (context.as_object_mut(), extra) {
        map.extend(extra);
    }
    Ok(me.page(status, "statements.html", context))
}

/// The licensor confirms or disputes an issued statement (the same service as
/// `POST /api/v1/statements/{id}/confirm|dispute`).
async fn review_statement(
    state: web::Data<AppState>,
    me: SignedIn,
    path: web::Path<(String, String)>,
    form: Form,
) -> Result<HttpResponse, WebError> {
    me.check_csrf(&form)?;
    let (statement_id, verb) = path.into_inner();
    let deal_id = form.value("deal_id");
    let (org, user, role) = (
        me.caller.organization_id().to_string(),
        me.caller.user_id().to_string(),
        me.caller.role,
    );
    let reason = form.value("reason");
    let id = statement_id.clone();
    let done = match verb.as_str() {
        "confirm" => {
            state
                .db
                .run(move |conn| {
                    crate::royalties::statements::confirm(conn, &org, &user, role, &id)
                })
                .await
        }
        "dispute" => {
            state
                .db
                .run(move |conn| {
                    crate::royalties::statements::dispute(conn, &org, &user, role, &id, &reason)
                })
                .await
        }
        _ => return Err(WebError::NotFound("action")),
    };
    match done.map_err(ApiError::from) {
        Ok(_) => Ok(redirect(&format!("/deals/{deal_id}/statements"))),
        Err(ApiError::Validation(errors)) => {
            statements_response(
                &state,
                &me,
                deal_id,
                StatusCode::UNPROCESSABLE_ENTITY,
                json!({"errors": field_errors(&errors, ""), "failed_statement": statement_id}),
            )
            .await
        }
        Err(ApiError::Conflict { detail, .. } | ApiError::Forbidden(detail)) => {
            statements_response(
                &state,
                &me,
                deal_id,
                StatusCode::CONFLICT,
                json!({"errors": {"form": detail}, "failed_statement": statement_id}),
            )
            .await
        }
        Err(other) => Err(other.into()),
    }
}

// ---- grants -----------------------------------------------------------------------

async fn grant_list(
    state: web::Data<AppState>,
    me: SignedIn,
    page: web::Query<PageQuery>,
) -> Result<HttpResponse, WebError> {
    let after = page.after()?;
    let org = me.caller.organization_id().to_string();
    let limit = 25usize;
    let mut rows = state
        .db
        .run(move |conn| {
            deal_rows::list_grants_for_org(conn, &org, after.as_deref(), limit as i64 + 1)
        })
        .await?;
    let more = rows.len() > limit;
    rows.truncate(limit);
    let next = more
        .then(|| rows.last().map(|g| encode_cursor(&g.id)))
        .flatten();
    let views = rows
        .into_iter()
        .map(GrantView::try_from)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(me.page(
        StatusCode::OK,
        "grants.html",
        json!({"grants": views, "next_cursor": next}),
    ))
}

async fn grant_page(
    state: web::Data<AppState>,
    me: SignedIn,
    path: web::Path<String>,
    page: web::Query<PageQuery>,
) -> Result<HttpResponse, WebError> {
    let page = page.into_inner();
    let paging = TrackPaging::parse(&TrackPageQuery {
        limit: Some(page.limit.unwrap_or(25)),
        cursor: page.cursor,
    })?;
    let grant = party_grant(&state, &me.caller, path.into_inner()).await?;
    let summary = grant.clone();
    let tracks = state
        .db
        .run(move |conn| {
            let (catalog_no, set) = granted_set(conn, &summary)?;
            track_page(conn, catalog_no, &set, paging)
        })
        .await?;
    let view = GrantView::try_from(grant)?;
    let side = if view.licensor_org_id == me.caller.organization_id() {
        "licensor"
    } else {
        "licensee"
    };
    Ok(me.page(
        StatusCode::OK,
        "grant.html",
        json!({"grant": view, "tracks": tracks, "side": side}),
    ))
}

async fn grant_tracks_csv(
    state: web::Data<AppState>,
    me: SignedIn,
    path: web::Path<String>,
) -> Result<HttpResponse, WebError> {
    let grant = party_grant(&state, &me.caller, path.into_inner()).await?;
    let filename = format!("grant-{}.csv", grant.id);
    let (catalog_no, set) = state.db.run(move |conn| granted_set(conn, &grant)).await?;
    Ok(tracks_csv(
        state.db.clone(),
        catalog_no,
        set,
        GRANT_COLUMNS,
        &filename,
    ))
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/deals", web::get().to(deal_list))
        .route("/deals/{id}", web::get().to(deal_page))
        .route("/deals/{id}/tracks.csv", web::get().to(deal_tracks_csv))
        .route("/deals/{id}/installments", web::get().to(installments))
        .route("/deals/{id}/statements", web::get().to(statements))
        .route("/deals/{id}/{action}", web::post().to(act))
        .route(
            "/installments/{id}/payments",
            web::post().to(record_payment),
        )
        .route("/statements/{id}/{verb}", web::post().to(review_statement))
        .route("/grants", web::get().to(grant_list))
        .route("/grants/{id}", web::get().to(grant_page))
        .route("/grants/{id}/tracks.csv", web::get().to(grant_tracks_csv));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_counter_form_reads_back_the_terms_it_was_filled_with() {
        let terms = json!({
            "slice_id": "s1", "territories": ["CN", "HK"], "usages": ["download"],
            "start_date": "2027-01-01", "end_date": "2029-12-31", "exclusive": true,
            "sublicensable": false, "currency": "CNY", "upfront_fee": "10.00",
            "minimum_guarantee": null, "per_stream_rate": "0.0045", "revenue_share_percent": null,
            "installments": [{"due_date": "2027-01-15", "amount": "10.00"}],
            "clauses": "c", "respond_by": "2030-06-30T00:00:00Z"
        });
        let filled = terms_form(&terms);
        let mut pairs = Vec::new();
        for (k, v) in filled.as_object().unwrap() {
            match v {
                Value::String(s) => pairs.push((k.clone(), s.clone())),
                Value::Bool(true) => pairs.push((k.clone(), "on".into())),
                Value::Array(items) => {
                    for i in items {
                        pairs.push((k.clone(), i.as_str().unwrap().to_string()));
                    }
                }
                _ => {}
            }
        }
        let read = terms_from_form(&Form(pairs)).expect("readable");
        let mut expected = terms.clone();
        expected
            .as_object_mut()
            .unwrap()
            .remove("minimum_guarantee");
        let back = serde_json::to_value(read).unwrap();
        for field in [
            "slice_id",
            "territories",
            "usages",
            "exclusive",
            "upfront_fee",
            "installments",
            "respond_by",
        ] {
            assert_eq!(back[field], terms[field], "{field}");
        }
        assert_eq!(back["minimum_guarantee"], Value::Null);
    }

    #[test]
    fn a_malformed_installment_line_is_reported_on_its_field() {
        let form = Form(vec![("installments".into(), "2027-01-15".into())]);
        let errors = terms_from_form(&form).unwrap_err();
        assert_eq!(
            field_errors(&errors, "terms.")["installments"]
                .as_str()
                .map(|s| s.contains("line 1")),
            Some(true)
        );
    }

    #[test]
    fn a_diff_marks_only_changed_terms() {
        let rows = diff_rows(
            &json!({"upfront_fee": "1.00", "currency": "CNY"}),
            &json!({"upfront_fee": "2.00", "currency": "CNY"}),
        );
        let changed: Vec<_> = rows
            .iter()
            .filter(|r| r["changed"] == true)
            .map(|r| r["field"].clone())
            .collect();
        assert_eq!(changed, vec![json!("upfront_fee")]);
    }
}
