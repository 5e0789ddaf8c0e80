//! Offering a slice: the form of `POST /api/v1/offers` (title, asking terms, audience,
//! expiry, publish now or keep as a draft), prefilled from what the slice's catalog
//! holds, and posted to the same code as the API (`api::offers::create_offer_view`), so
//! the terms are checked against the holding and the market rules exactly as there.

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use chrono::{Duration, SecondsFormat, Utc};
use serde_json::{json, Value};

use super::deals::{posted_terms_form, terms_form, terms_from_form};
use super::error::WebError;
use super::forms::{field_errors, Form};
use super::session::{redirect, SignedIn};
use crate::api::marketplace::AudienceInput;
use crate::api::offers::{create_offer_view, CreateOffer};
use crate::api::problem::ApiError;
use crate::api::state::AppState;
use crate::db::catalogs::{self, Slice};
use crate::domain::role::Role;
use crate::domain::terms::TermsContext;
use crate::domain::usage::Usage;
use crate::domain::ValidationErrors;

/// The caller's slice (404 for anyone else's, as in the API) and what its catalog
/// holds — its own holding, or the grant it was received through — as the API's offer
/// validation reads it (`catalogs::terms_context`).
async fn owned_slice(
    state: &AppState,
    me: &SignedIn,
    slice_id: String,
) -> Result<(Slice, TermsContext), WebError> {
    let org = me.caller.organization_id().to_string();
    state
        .db
        .run(move |conn| {
            let slice = catalogs::find_owned_slice(conn, &org, &slice_id)?
                .ok_or(ApiError::NotFound("slice"))?;
            let catalog = catalogs::find_catalog(conn, &slice.catalog_id)?
                .ok_or(ApiError::NotFound("catalog"))?;
            let held = crate::catalogs::terms_context(conn, &catalog, &slice)?;
            Ok::<_, ApiError>((slice, held))
        })
        .await
        .map_err(WebError::from)
}

/// The form's first values: the slice, and the widest terms its catalog holds.
fn first_values(slice: &Slice, held: &TermsContext) -> Value {
    let mut terms = terms_form(&json!({
        "slice_id": slice.id,
        "tracks_hash": held.tracks_hash,
        "territories": held.territories,
        "usages": held.usages,
        "start_date": held.period.start.to_string(),
        "end_date": held.period.end.to_string(),
        "currency": "USD",
    }));
    terms["title"] = json!(slice.name);
    terms["visibility"] = json!("public");
    terms["expires_at"] =
        json!((Utc::now() + Duration::days(30)).to_rfc3339_opts(SecondsFormat::Secs, true));
    terms["publish"] = json!(true);
    terms
}

fn form_page(
    me: &SignedIn,
    status: StatusCode,
    slice: &Slice,
    values: Value,
    errors: Value,
    message: Option<String>,
) -> HttpResponse {
    me.page(
        status,
        "offer_new.html",
        json!({
            "slice": {"id": slice.id, "name": slice.name, "track_count": slice.track_count,
                      "catalog_id": slice.catalog_id},
            "c": values,
            "errs": errors,
            "message": message,
            "usages": Usage::ALL.iter().map(|u| u.as_str()).collect::<Vec<_>>(),
        }),
    )
}

async fn offer_form(
    state: web::Data<AppState>,
    me: SignedIn,
    path: web::Path<String>,
) -> Result<HttpResponse, WebError> {
    me.caller.require(Role::Negotiator)?;
    let (slice, held) = owned_slice(&state, &me, path.into_inner()).await?;
    let values = first_values(&slice, &held);
    Ok(form_page(
        &me,
        StatusCode::OK,
        &slice,
        values,
        json!({}),
        None,
    ))
}

/// The audience as typed: `public`, or organization ids one per line or comma-separated.
fn audience_of(form: &Form) -> AudienceInput {
    if form.value("visibility") != "targeted" {
        return AudienceInput::Keyword("public".into());
    }
    AudienceInput::Organizations(
        form.value("targets")
            .split([',', '\n', ' '])
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(str::to_string)
            .collect(),
    )
}

async fn create_offer(
    state: web::Data<AppState>,
    me: SignedIn,
    path: web::Path<String>,
    form: Form,
) -> Result<HttpResponse, WebError> {
    me.check_csrf(&form)?;
    me.caller.require(Role::Negotiator)?;
    let (slice, _) = owned_slice(&state, &me, path.into_inner()).await?;
    let mut values = posted_terms_form(&form);
    for field in ["title", "visibility", "targets", "expires_at"] {
        values[field] = json!(form.value(field));
    }
    values["publish"] = json!(form.checked("publish"));
    let refused = |errors: &ValidationErrors, message: String| {
        let mut shown = field_errors(errors, "terms.");
        // The offer's own fields keep their names.
        for field in ["title", "visibility", "expires_at"] {
            if let Some(e) = errors.0.iter().find(|e| e.field == field) {
                shown[field] = json!(e.message);
            }
        }
        form_page(
            &me,
            StatusCode::UNPROCESSABLE_ENTITY,
            &slice,
            values.clone(),
            shown,
            Some(message),
        )
    };
    let terms = match terms_from_form(&form) {
        Ok(terms) => terms,
        Err(errors) => {
            return Ok(refused(
                &errors,
                "The offer was not created: correct the fields marked below.".into(),
            ))
        }
    };
    let body = CreateOffer {
        title: form.value("title"),
        slice_id: slice.id.clone(),
        terms,
        visibility: audience_of(&form),
        expires_at: form.value("expires_at").trim().to_string(),
        publish: form.checked("publish"),
    };
    match create_offer_view(&state, me.caller.clone(), body).await {
        Ok(offer) => Ok(redirect(&format!("/offers/{}", offer.id))),
        Err(ApiError::Validation(errors)) => Ok(refused(
            &errors,
            "The offer was not created: correct the fields marked below.".into(),
        )),
        Err(ApiError::MarketRules { errors, breaches }) => Ok(refused(
            &errors,
            format!("The terms break a market rule: {breaches}"),
        )),
        Err(other) => Err(other.into()),
    }
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/slices/{id}/offer", web::get().to(offer_form))
        .route("/slices/{id}/offer", web::post().to(create_offer));
}
