//! The marketplace pages: browse offers (filters, facets, paging), who offers an ISRC,
//! one offer with its terms and full track list (paged, and as CSV), and "open a deal".

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use serde_json::json;

use super::deals::terms_rows;
use super::error::WebError;
use super::forms::{field_errors, Form};
use super::session::{redirect, SignedIn};
use crate::api::deals::member;
use crate::api::listings::offer_views;
use crate::api::offers::{browse_page, offered_slice, viewable_offer, BrowseQuery};
use crate::api::pagination::PageQuery;
use crate::api::problem::ApiError;
use crate::api::state::AppState;
use crate::api::track_lists::{slice_csv, slice_track_page, TrackPageQuery, TrackPaging};
use crate::deals::{self, DealError, Origin};
use crate::domain::isrc::Isrc;

/// The filters of the browse form, blank fields left out (a blank field is "any").
fn browse_query(form: &Form) -> Result<BrowseQuery, WebError> {
    let number = |name: &str| -> Result<Option<i64>, WebError> {
        form.optional(name)
            .map(|v| {
                v.parse()
                    .map_err(|_| WebError::BadRequest(format!("{name} must be a whole number")))
            })
            .transpose()
    };
    Ok(BrowseQuery {
        territory: form.optional("territory"),
        usage: form.optional("usage"),
        genre: form.optional("genre"),
        label: form.optional("label"),
        min_tracks: number("min_tracks")?,
        max_price: form.optional("max_price"),
        currency: form.optional("currency"),
        exclusive: form.optional("exclusive").map(|v| v == "true"),
        licensor: form.optional("licensor"),
        sort: form.optional("sort"),
        facets: Some(true),
        mine: None,
        status: None,
        limit: Some(20),
        cursor: form.optional("cursor"),
    })
}

/// The query string of the current filters without the cursor, for paging and facet links.
fn filters_query(form: &Form) -> String {
    let kept: Vec<(String, String)> = form
        .0
        .iter()
        .filter(|(k, v)| k != "cursor" && !v.trim().is_empty())
        .cloned()
        .collect();
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in kept {
        query.append_pair(&k, &v);
    }
    query.finish()
}

async fn marketplace(
    state: web::Data<AppState>,
    me: SignedIn,
    query: web::Query<Vec<(String, String)>>,
) -> Result<HttpResponse, WebError> {
    let form = Form(query.into_inner());
    let browse = browse_query(&form)?;
    let filters = form.values();
    match browse_page(&state, me.caller.organization_id(), browse).await {
        Ok(page) => Ok(me.page(
            StatusCode::OK,
            "marketplace.html",
            json!({"page": page, "filters": filters, "filters_query": filters_query(&form)}),
        )),
        // A filter the API refuses is shown next to its field, with no results.
        Err(ApiError::Validation(errors)) => Ok(me.page(
            StatusCode::UNPROCESSABLE_ENTITY,
            "marketplace.html",
            json!({"filters": filters, "errors": field_errors(&errors, ""),
                   "filters_query": filters_query(&form)}),
        )),
        Err(ApiError::BadRequest { detail, field }) => Ok(me.page(
            StatusCode::BAD_REQUEST,
            "marketplace.html",
            json!({"filters": filters, "errors": {field.unwrap_or_else(|| "form".into()): detail},
                   "filters_query": filters_query(&form)}),
        )),
        Err(other) => Err(other.into()),
    }
}

#[derive(serde::Deserialize)]
struct IsrcQuery {
    isrc: Option<String>,
}

/// "Who offers this ISRC": every open offer visible to the member whose slice holds it.
async fn offers_of_track(
    state: web::Data<AppState>,
    me: SignedIn,
    query: web::Query<IsrcQuery>,
) -> Result<HttpResponse, WebError> {
    let raw = query.into_inner().isrc.unwrap_or_default();
    if raw.trim().is_empty() {
        return Ok(me.page(
            StatusCode::OK,
            "marketplace.html",
            json!({"isrc_mode": true}),
        ));
    }
    let isrc = match Isrc::parse(raw.trim()) {
        Ok(isrc) => isrc,
        Err(e) => {
            return Ok(me.page(
                StatusCode::UNPROCESSABLE_ENTITY,
                "marketplace.html",
                json!({"isrc_mode": true, "isrc": raw, "errors": {"isrc": e.to_string()}}),
            ))
        }
    };
    let viewer = me.caller.organization_id().to_string();
    let items = state
        .db
        .run(move |conn| {
            let holding = crate::marketplace::offers::holding_track(conn, &viewer, &isrc)?;
            Ok::<_, ApiError>(offer_views(conn, &viewer, holding)?)
        })
        .await?;
    Ok(me.page(
        StatusCode::OK,
        "marketplace.html",
        json!({"isrc_mode": true, "isrc": raw, "page": {"items": items}}),
    ))
}

async fn offer_page(
    state: web::Data<AppState>,
    me: SignedIn,
    path: web::Path<String>,
    page: web::Query<PageQuery>,
) -> Result<HttpResponse, WebError> {
    offer_response(
        &state,
        &me,
        path.into_inner(),
        page.into_inner(),
        StatusCode::OK,
        json!({}),
    )
    .await
}

async fn offer_response(
    state: &AppState,
    me: &SignedIn,
    id: String,
    page: PageQuery,
    status: StatusCode,
    extra: serde_json::Value,
) -> Result<HttpResponse, WebError> {
    let paging = TrackPaging::parse(&TrackPageQuery {
        limit: Some(page.limit.unwrap_or(25)),
        cursor: page.cursor,
    })?;
    let viewer = me.caller.organization_id().to_string();
    let (offer, tracks) = state
        .db
        .run(move |conn| {
            let offer = viewable_offer(conn, &viewer, &id)?;
            let slice = offered_slice(conn, &viewer, &id)?;
            let tracks = slice_track_page(conn, &slice, paging)?;
            Ok::<_, ApiError>((offer, tracks))
        })
        .await?;
    let terms =
        serde_json::to_value(&offer.terms).map_err(|e| WebError::Internal(e.to_string()))?;
    let own = offer.licensor.id == me.caller.organization_id();
    let mut context = json!({
        "offer": offer,
        "terms": terms_rows(&terms),
        "tracks": tracks,
        "own": own,
    });
    if let (Some(map), serde_json::Value::Object(extra)) = (context.as_object_mut(), extra) {
        map.extend(extra);
    }
    Ok(me.page(status, "offer.html", context))
}

async fn offer_tracks_csv(
    state: web::Data<AppState>,
    me: SignedIn,
    path: web::Path<String>,
) -> Result<HttpResponse, WebError> {
    let viewer = me.caller.organization_id().to_string();
    let id = path.into_inner();
    let filename = format!("offer-{id}.csv");
    Ok(slice_csv(&state, filename, move |conn| {
        offered_slice(conn, &viewer, &id)
    })
    .await?)
}

/// Opens a draft deal from the offer (the member's organization is the licensee, the
/// offer's terms the first revision), then shows the deal room.
async fn open_deal(
    state: web::Data<AppState>,
    me: SignedIn,
    path: web::Path<String>,
    form: Form,
) -> Result<HttpResponse, WebError> {
    me.check_csrf(&form)?;
    let offer_id = path.into_inner();
    let path = format!("/offers/{offer_id}/deals");
    super::once::once_per_form(
        &state,
        me.caller.user_id(),
        &path,
        &form,
        open_deal_once(&state, &me, offer_id.clone(), &form),
    )
    .await
}

async fn open_deal_once(
    state: &AppState,
    me: &SignedIn,
    offer_id: String,
    form: &Form,
) -> Result<HttpResponse, WebError> {
    let member = member(&me.caller);
    let rules = state.market_rules.clone();
    let name = form.optional("name");
    let id = offer_id.clone();
    let opened = state
        .db
        .run(move |conn| deals::open(conn, &member, &rules, Origin::Offer(id), None, name))
        .await;
    match opened {
        Ok(opened) => Ok(redirect(&format!("/deals/{}", opened.deal.id))),
        Err(DealError::Validation(errors)) => {
            offer_response(
                state,
                me,
                offer_id,
                PageQuery {
                    limit: None,
                    cursor: None,
                },
                StatusCode::UNPROCESSABLE_ENTITY,
                json!({"errors": field_errors(&errors, ""), "form": form.values()}),
            )
            .await
        }
        Err(DealError::Forbidden(detail)) => Err(WebError::Forbidden(detail)),
        Err(other) => {
            let message = other.to_string();
            match other {
                DealError::NotFound(what) => Err(WebError::NotFound(what)),
                DealError::Database(db) => Err(db.into()),
                _ => {
                    offer_response(
                        state,
                        me,
                        offer_id,
                        PageQuery {
                            limit: None,
                            cursor: None,
                        },
                        StatusCode::CONFLICT,
                        json!({"errors": {"form": message}, "form": form.values()}),
                    )
                    .await
                }
            }
        }
    }
}

async fn home(_me: SignedIn) -> HttpResponse {
    redirect("/deals")
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/", web::get().to(home))
        .route("/marketplace", web::get().to(marketplace))
        .route("/marketplace/tracks", web::get().to(offers_of_track))
        .route("/offers/{id}", web::get().to(offer_page))
        .route("/offers/{id}/tracks.csv", web::get().to(offer_tracks_csv))
        .route("/offers/{id}/deals", web::post().to(open_deal));
}
