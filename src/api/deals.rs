//! Deals: open, read, negotiate, sign, terminate. Transitions need `If-Match`
//! with the deal's current ETag (428 without it, 412 when stale) and accept an
//! `Idempotency-Key`.

use actix_web::http::header;
use actix_web::http::StatusCode;
use actix_web::{delete, get, post, put, web, HttpRequest, HttpResponse};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::caller::{Caller, Claimed};
use super::catalogs::TrackView;
use super::extract::parse_json;
use super::idempotency::{self, Stored};
use super::pagination::{Page, PageQuery};
use super::problem::{ApiError, Problem};
use super::read_cache::{self, View};
use super::state::AppState;
use super::track_lists::{slice_csv, slice_track_page, TrackPageQuery, TrackPaging};
use crate::db::accounts;
use crate::db::catalogs::{self, Slice};
use crate::db::deals::{self as deal_rows, RevisionRow};
use crate::db::{stored_json, DbConnection, DbError};
use crate::deals::execution::ExecutionReport;
use crate::deals::{self, DealDetail, DealError, Member, Origin, Payload};
use crate::domain::deal::{Action, DealState, Party};
use crate::domain::terms::{TermChange, TermSheetInput};
use crate::domain::ValidationErrors;

impl From<DealError> for ApiError {
    fn from(e: DealError) -> Self {
        match e {
            DealError::NotFound(what) => ApiError::NotFound(what),
            DealError::Validation(v) => ApiError::Validation(v),
            DealError::MarketRules(breaches) => ApiError::MarketRules {
                errors: breaches.field_errors("terms"),
                breaches,
            },
            DealError::Forbidden(detail) => ApiError::Forbidden(detail),
            DealError::Stale { .. } => ApiError::PreconditionFailed(e.to_string()),
            DealError::Refused(refused) => {
                let mut ext = serde_json::Map::new();
                ext.insert("state".into(), serde_json::json!(refused.state));
                ext.insert("action".into(), serde_json::json!(refused.action.as_str()));
                ext.insert("reason".into(), serde_json::json!(refused.reason));
                ext.insert(
                    "allowed_actions".into(),
                    serde_json::json!(refused
                        .allowed
                        .iter()
                        .map(|a| a.as_str())
                        .collect::<Vec<_>>()),
                );
                ApiError::Conflict {
                    detail: refused.to_string(),
                    extensions: Some(ext),
                }
            }
            DealError::Conflict { detail, report } => ApiError::Conflict {
                detail,
                extensions: report.and_then(|r| match serde_json::to_value(*r) {
                    Ok(serde_json::Value::Object(mut map)) => {
                        let mut ext = serde_json::Map::new();
                        ext.insert(
                            "conflict_report".into(),
                            serde_json::Value::Object(std::mem::take(&mut map)),
                        );
                        Some(ext)
                    }
                    _ => None,
                }),
            },
            DealError::Database(db) => ApiError::Database(db),
        }
    }
}

pub(crate) fn member(caller: &Caller) -> Member {
    Member {
        user_id: caller.user_id().to_string(),
        name: caller.user.name.clone(),
        organization_id: caller.organization_id().to_string(),
        role: caller.role,
    }
}

// ---- views ------------------------------------------------------------------------

#[derive(Debug, Serialize, ToSchema)]
pub struct PartyView {
    pub organization_id: String,
    pub name: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SignatureView {
    pub party: Party,
    pub user_id: String,
    pub terms_hash: String,
    pub signed_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DealView {
    pub id: String,
    pub name: String,
    pub licensor: PartyView,
    pub licensee: PartyView,
    pub opened_by: Party,
    /// Which side the caller's organization is.
    pub your_party: Party,
    pub offer_id: Option<String>,
    pub request_id: Option<String>,
    pub state: DealState,
    /// The party that must answer (only while negotiating).
    pub turn: Option<Party>,
    pub revision: i32,
    pub agreed_revision: Option<i32>,
    /// The ETag value; send it back in `If-Match` to transition.
    pub version: i32,
    /// The current revision's terms, in canonical form.
    pub terms: TermSheetInput,
    pub terms_hash: String,
    pub respond_by: Option<DateTime<Utc>>,
    pub signatures: Vec<SignatureView>,
    /// What the caller may do now.
    pub allowed_actions: Vec<String>,
    pub grant_id: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// After submit, counter and accept: what would stop the deal from executing today.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub advice: Option<ExecutionReport>,
    /// After a counter: what it changed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub changes: Option<Vec<TermChange>>,
}

fn etag(version: i32) -> String {
    format!("\"{version}\"")
}

pub(crate) fn view(
    conn: &mut crate::db::DbConnection,
    detail: DealDetail,
) -> Result<DealView, DealError> {
    let name_of = |conn: &mut crate::db::DbConnection, id: &str| -> Result<PartyView, DealError> {
        Ok(PartyView {
            organization_id: id.to_string(),
            name: accounts::find_organization(conn, id)?
                .map(|o| o.name)
                .unwrap_or_default(),
        })
    };
    let d = detail.deal;
    let terms: TermSheetInput = serde_json::from_str(&detail.revision.terms)
        .map_err(|e| crate::db::DbError::Corrupt(e.to_string()))?;
    Ok(DealView {
        licensor: name_of(conn, &d.licensor_org_id)?,
        licensee: name_of(conn, &d.licensee_org_id)?,
        opened_by: detail.status.opened_by,
        your_party: detail.your_party,
        state: detail.status.state,
        turn: detail.status.turn,
        terms,
        terms_hash: detail.revision.terms_hash,
        signatures: detail
            .signatures
            .into_iter()
            .map(|s| {
                Ok(SignatureView {
                    party: crate::db::stored("signatures.party", &s.party)?,
                    user_id: s.user_id,
                    terms_hash: s.terms_hash,
                    signed_at: s.signed_at.and_utc(),
                })
            })
            .collect::<Result<_, crate::db::DbError>>()?,
        allowed_actions: detail
            .allowed_actions
            .iter()
            .map(|a| a.as_str().to_string())
            .collect(),
        grant_id: detail.grant_id,
        id: d.id,
        name: d.name,
        offer_id: d.offer_id,
        request_id: d.request_id,
        revision: d.revision,
        agreed_revision: d.agreed_revision,
        version: d.version,
        respond_by: d.respond_by.map(|t| t.and_utc()),
        created_at: d.created_at.and_utc(),
        updated_at: d.updated_at.and_utc(),
        advice: None,
        changes: None,
    })
}

fn stored(status: StatusCode, view: DealView) -> Result<Stored, ApiError> {
    let etag = Some(etag(view.version));
    Ok(Stored {
        status,
        body: serde_json::to_value(view).map_err(|e| ApiError::Internal(e.to_string()))?,
        etag,
    })
}

// ---- open --------------------------------------------------------------------------

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OpenDealRequest {
    /// Open from an offer (the caller becomes the licensee; terms default to the offer's).
    pub offer_id: Option<String>,
    /// Open from a request (the caller becomes the licensor).
    pub request_id: Option<String>,
    /// Open directly with this organization.
    pub counterparty_id: Option<String>,
    /// The caller's side when opening directly.
    pub role: Option<Party>,
    pub name: Option<String>,
    pub terms: Option<TermSheetInput>,
}

/// Open a deal as a draft (revision 1), seen only by the caller's organization until submitted.
#[utoipa::path(tag = "deals", security(("bearer" = [])), request_body = OpenDealRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "Retries with the same key return the first result", pattern = "^[!-~]{1,255}$")),
    responses(
        (status = 201, body = DealView, headers(
            ("ETag" = String, description = "The deal's version, `\"1\"`; absent on a replayed answer (read `version`)"),
            ("idempotent-replayed" = String, description = "`true` when this is the stored answer to an earlier request with the same `Idempotency-Key`"),
        )),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
))]
#[post("/deals")]
pub async fn open_deal(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Caller,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    require_json(&req, &body)?;
    let input: OpenDealRequest = parse_json(&body)?;
    let member = member(&caller);
    let st = state.clone();
    let rules = state.market_rules.clone();
    idempotency::once(&state, &req, caller.user_id(), &body, || async move {
        let origin = match (input.offer_id, input.request_id, input.counterparty_id) {
            (None, None, Some(counterparty_id)) => Origin::Direct {
                counterparty_id,
                role: input.role.ok_or_else(|| {
                    ValidationErrors::single(
                        "role",
                        "is required with counterparty_id: licensor or licensee",
                    )
                })?,
            },
            (Some(offer_id), None, None) => Origin::Offer(offer_id),
            (None, Some(request_id), None) => Origin::Request(request_id),
            _ => {
                return Err(ApiError::Validation(ValidationErrors::single(
                    "counterparty_id",
                    "give exactly one of offer_id, request_id or counterparty_id",
                )))
            }
        };
        let (name, terms) = (input.name, input.terms);
        let view = st
            .db
            .run(move |conn| {
                let opened = deals::open(conn, &member, &rules, origin, terms, name)?;
                let detail = deals::detail_of(conn, &member, opened.deal)?;
                let mut v = view(conn, detail)?;
                v.advice = Some(opened.advice);
                Ok::<_, DealError>(v)
            })
            .await?;
        stored(StatusCode::CREATED, view)
    })
    .await
}

fn require_json(req: &HttpRequest, body: &[u8]) -> Result<(), ApiError> {
    if body.is_empty() {
        return Ok(());
    }
    let ok = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| {
            ct.split(';')
                .next()
                .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"))
        });
    if ok {
        Ok(())
    } else {
        Err(ApiError::UnsupportedMediaType {
            expected: "application/json",
        })
    }
}

// ---- read --------------------------------------------------------------------------

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DealListQuery {
    /// Only deals in this state.
    #[param(value_type = Option<DealState>)]
    pub state: Option<String>,
    /// Items per page, 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

/// The caller's deals (as licensor or licensee), newest first.
#[utoipa::path(tag = "deals", security(("bearer" = [])), params(DealListQuery), responses((status = 200, body = Page<DealView>)))]
#[get("/deals")]
pub async fn list_deals(
    state: web::Data<AppState>,
    caller: Caller,
    query: web::Query<DealListQuery>,
) -> Result<HttpResponse, ApiError> {
    let query = query.into_inner();
    if let Some(s) = &query.state {
        s.parse::<DealState>().map_err(|e| ApiError::BadRequest {
            detail: e.to_string(),
            field: Some("state".into()),
        })?;
    }
    let page = PageQuery {
        limit: query.limit,
        cursor: query.cursor,
    };
    let limit = page.limit()?;
    let after = page.after()?;
    let member = member(&caller);
    let page = state
        .db
        .run(move |conn| {
            let rows = deal_rows::list_deals_for_org(
                conn,
                &member.organization_id,
                query.state.as_deref(),
                after.as_deref(),
                i64::from(limit) + 1,
            )?;
            let mut views = Vec::with_capacity(rows.len());
            for row in rows {
                let detail = deals::detail_of(conn, &member, row)?;
                views.push(view(conn, detail)?);
            }
            Ok::<_, DealError>(Page::from_rows(views, limit, |v| v.id.clone(), |v| v))
        })
        .await?;
    Ok(HttpResponse::Ok().json(page))
}

/// One deal: current terms, state, turn, version (also as ETag), signatures, allowed actions.
#[utoipa::path(tag = "deals", security(("bearer" = [])), responses(
    (status = 200, body = DealView, headers(("ETag" = String, description = "The deal's version, for `If-Match`"))),
    (status = 404, body = Problem, content_type = "application/problem+json"),
))]
#[get("/deals/{id}")]
pub async fn get_deal(
    state: web::Data<AppState>,
    claimed: Claimed,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    let cache = state.read_cache.clone();
    let (version, body) = state
        .db
        .run(move |conn| {
            let member = member(&claimed.resolve(conn)?);
            let deal = deal_rows::find_deal_for_org(conn, &member.organization_id, &id)?
                .ok_or(DealError::NotFound("deal"))?;
            // Everything the view shows changes only with the deal's version (every
            // transition bumps it); allowed actions depend on the caller's role.
            let version = deal.version;
            let stamp = read_cache::Stamp {
                version: i64::from(version),
                valid_until: None,
            };
            let viewer = format!("{}|{}", member.organization_id, member.role.as_str());
            let body = read_cache::answer(&cache, View::Deal, viewer, id, stamp, conn, |conn| {
                let detail = deals::detail_of(conn, &member, deal)?;
                Ok(view(conn, detail)?)
            })?;
            Ok::<_, ApiError>((version, body))
        })
        .await?;
    let mut response = read_cache::json_body(body);
    response.headers_mut().insert(
        header::ETAG,
        header::HeaderValue::from_str(&etag(version))
            .map_err(|e| ApiError::Internal(e.to_string()))?,
    );
    Ok(response)
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RevisionView {
    pub number: i32,
    pub proposed_by: String,
    pub proposer_user_id: String,
    pub terms: TermSheetInput,
    /// SHA-256 of the canonical terms (docs/domain.md); what signers sign.
    pub terms_hash: String,
    pub created_at: DateTime<Utc>,
}

pub(crate) fn revision_view(r: RevisionRow) -> Result<RevisionView, DealError> {
    Ok(RevisionView {
        terms: serde_json::from_str(&r.terms)
            .map_err(|e| crate::db::DbError::Corrupt(e.to_string()))?,
        number: r.number,
        proposed_by: r.proposed_by,
        proposer_user_id: r.proposer_user_id,
        terms_hash: r.terms_hash,
        created_at: r.created_at.and_utc(),
    })
}

/// Every revision of the deal, oldest first.
#[utoipa::path(tag = "deals", security(("bearer" = [])), responses(
    (status = 200, body = Vec<RevisionView>),
    (status = 404, body = Problem, content_type = "application/problem+json"),
))]
#[get("/deals/{id}/revisions")]
pub async fn list_revisions(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let org = caller.organization_id().to_string();
    let id = path.into_inner();
    let revisions = state
        .db
        .run(move |conn| {
            deal_rows::find_deal_for_org(conn, &org, &id)?.ok_or(DealError::NotFound("deal"))?;
            deal_rows::list_revisions(conn, &id)?
                .into_iter()
                .map(revision_view)
                .collect::<Result<Vec<_>, _>>()
        })
        .await?;
    Ok(HttpResponse::Ok().json(revisions))
}

// ---- the tracks of the deal --------------------------------------------------------

/// The slice named by the deal's current terms, for either party (the opener alone
/// while it is a draft): the check of `GET /deals/{id}`, 404 for anyone else. Terms only
/// ever name one of the licensor's slices (`terms.slice_id` is checked on every
/// proposal), and a slice never changes once cut, so these are the tracks the current
/// terms license.
pub(crate) fn deal_slice(conn: &mut DbConnection, org: &str, id: &str) -> Result<Slice, ApiError> {
    let deal = deal_rows::find_deal_for_org(conn, org, id)?.ok_or(DealError::NotFound("deal"))?;
    let revision = deal_rows::find_revision(conn, &deal.id, deal.revision)?
        .ok_or(DealError::NotFound("revision"))?;
    let terms = deals::stored_terms(&revision)?;
    catalogs::find_owned_slice(conn, &deal.licensor_org_id, terms.slice_id())?
        .ok_or(ApiError::NotFound("slice"))
}

/// Every track of the slice in the deal's current terms, in track order, cursor-paginated
/// exactly like `GET /slices/{id}/tracks`; for either party of the deal.
#[utoipa::path(tag = "deals", security(("bearer" = [])), params(TrackPageQuery), responses(
    (status = 200, body = Page<TrackView>),
    (status = 404, body = Problem, content_type = "application/problem+json"),
))]
#[get("/deals/{id}/tracks")]
pub async fn deal_tracks(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
    page: web::Query<TrackPageQuery>,
) -> Result<HttpResponse, ApiError> {
    let paging = TrackPaging::parse(&page)?;
    let org = caller.organization_id().to_string();
    let id = path.into_inner();
    let page = state
        .db
        .run(move |conn| {
            let slice = deal_slice(conn, &org, &id)?;
            slice_track_page(conn, &slice, paging)
        })
        .await?;
    Ok(HttpResponse::Ok().json(page))
}

/// Every track of the slice in the deal's current terms as CSV
/// (`isrc,title,artists,label,genre,release_date,duration_ms`), streamed in chunks; for
/// either party of the deal. Cells a spreadsheet would evaluate carry a leading `'` (see
/// `docs/api.md`, "CSV exports").
#[utoipa::path(tag = "deals", security(("bearer" = [])), responses(
    (status = 200, content_type = "text/csv", body = String,
        headers(("Content-Disposition" = String, description = "`attachment; filename=\"deal-<id>.csv\"`"))),
    (status = 404, body = Problem, content_type = "application/problem+json"),
))]
#[get("/deals/{id}/tracks.csv")]
pub async fn deal_tracks_csv(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let org = caller.organization_id().to_string();
    let id = path.into_inner();
    let filename = format!("deal-{id}.csv");
    slice_csv(&state, filename, move |conn| deal_slice(conn, &org, &id)).await
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DiffQuery {
    /// Older revision (default: the one before `to`).
    pub from: Option<i32>,
    /// Newer revision (default: the current one).
    pub to: Option<i32>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DiffView {
    pub from: i32,
    pub to: i32,
    pub changes: Vec<TermChange>,
}

/// Which terms differ between two revisions, with old and new values.
#[utoipa::path(tag = "deals", security(("bearer" = [])), params(DiffQuery), responses(
    (status = 200, body = DiffView),
    (status = 404, body = Problem, content_type = "application/problem+json"),
))]
#[get("/deals/{id}/diff")]
pub async fn diff(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
    query: web::Query<DiffQuery>,
) -> Result<HttpResponse, ApiError> {
    let org = caller.organization_id().to_string();
    let id = path.into_inner();
    let query = query.into_inner();
    let diff = state
        .db
        .run(move |conn| {
            let deal = deal_rows::find_deal_for_org(conn, &org, &id)?
                .ok_or(DealError::NotFound("deal"))?;
            let to = query.to.unwrap_or(deal.revision);
            let from = query.from.unwrap_or((to - 1).max(1));
            let old = deal_rows::find_revision(conn, &id, from)?
                .ok_or(DealError::NotFound("revision"))?;
            let new =
                deal_rows::find_revision(conn, &id, to)?.ok_or(DealError::NotFound("revision"))?;
            let changes = deals::stored_terms(&old)?.diff(&deals::stored_terms(&new)?);
            Ok::<_, DealError>(DiffView { from, to, changes })
        })
        .await?;
    Ok(HttpResponse::Ok().json(diff))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DealEventView {
    pub id: String,
    pub kind: String,
    pub party: Option<String>,
    pub actor_user_id: Option<String>,
    pub revision: Option<i32>,
    pub summary: String,
    #[schema(value_type = Object)]
    pub data: serde_json::Value,
    pub created_at: DateTime<Utc>,
}

/// The deal's timeline: every event with actor, time and summary.
#[utoipa::path(tag = "deals", security(("bearer" = [])), params(PageQuery), responses(
    (status = 200, body = Page<DealEventView>),
    (status = 404, body = Problem, content_type = "application/problem+json"),
))]
#[get("/deals/{id}/events")]
pub async fn list_events(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
    page: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let org = caller.organization_id().to_string();
    let id = path.into_inner();
    let limit = page.limit()?;
    let after = page.after()?;
    let rows = state
        .db
        .run(move |conn| {
            deal_rows::find_deal_for_org(conn, &org, &id)?.ok_or(DealError::NotFound("deal"))?;
            Ok::<_, DealError>(deal_rows::list_events(
                conn,
                &id,
                after.as_deref(),
                i64::from(limit) + 1,
            )?)
        })
        .await?;
    Ok(HttpResponse::Ok().json(Page::try_from_rows(
        rows,
        limit,
        |e| e.id.clone(),
        |e| -> Result<DealEventView, DbError> {
            Ok(DealEventView {
                data: stored_json("deal_events.data", &e.data)?,
                id: e.id,
                kind: e.kind,
                party: e.party,
                actor_user_id: e.actor_user_id,
                revision: e.revision,
                summary: e.summary,
                created_at: e.created_at.and_utc(),
            })
        },
    )?))
}

// ---- transitions -----------------------------------------------------------------------

/// The body of a transition; which fields apply depends on the action.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TransitionRequest {
    /// `counter`: the new terms.
    pub terms: Option<TermSheetInput>,
    /// `sign`: the hash of the agreed revision.
    pub terms_hash: Option<String>,
    /// `reject` and `terminate` (required), `withdraw` (optional).
    pub reason: Option<String>,
    /// `terminate`: the first day the rights are no longer granted.
    pub effective_date: Option<NaiveDate>,
}

fn if_match(req: &HttpRequest) -> Result<i32, ApiError> {
    let value = req.headers().get(header::IF_MATCH).ok_or_else(|| {
        ApiError::PreconditionRequired(
            "transitions need `If-Match` with the deal's current ETag".into(),
        )
    })?;
    value
        .to_str()
        .ok()
        .and_then(parse_version_tag)
        .ok_or_else(|| ApiError::BadRequest {
            detail: "must be the ETag of the deal, e.g. \"3\"".into(),
            field: Some("If-Match".into()),
        })
}

/// `"3"`, `W/"3"` or a bare `3`, exactly as the OpenAPI document's pattern says
/// on `If-Match`; anything else (`"3`, `W/3`, `-3`) is not a version we issued.
fn parse_version_tag(value: &str) -> Option<i32> {
    let digits = match value.strip_prefix("W/") {
        Some(weak) => weak.strip_prefix('"')?.strip_suffix('"')?,
        None => match value.strip_prefix('"') {
            Some(quoted) => quoted.strip_suffix('"')?,
            None => value,
        },
    };
    // Nine digits always fit an i32; versions never come near.
    if digits.is_empty() || digits.len() > 9 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

async fn run_transition(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Caller,
    id: String,
    body: web::Bytes,
    action: Action,
) -> Result<HttpResponse, ApiError> {
    require_json(&req, &body)?;
    let input: TransitionRequest = if body.is_empty() {
        TransitionRequest::default()
    } else {
        parse_json(&body)?
    };
    let expected = if_match(&req)?;
    let member = member(&caller);
    let st = state.clone();
    let rules = state.market_rules.clone();
    idempotency::once(&state, &req, caller.user_id(), &body, || async move {
        let payload = Payload {
            terms: input.terms,
            terms_hash: input.terms_hash,
            reason: input.reason,
            effective_date: input.effective_date,
        };
        let view = st
            .db
            .run(move |conn| {
                let done =
                    deals::transition(conn, &member, &rules, &id, expected, action, payload)?;
                let changes = (action == Action::Counter).then_some(done.changes);
                let detail = deals::detail_of(conn, &member, done.deal)?;
                let mut v = view(conn, detail)?;
                v.advice = done.advice;
                v.changes = changes;
                Ok::<_, DealError>(v)
            })
            .await?;
        stored(StatusCode::OK, view)
    })
    .await
}

macro_rules! transition_endpoint {
    ($fn:ident, $path:literal, $action:expr, $doc:literal) => {
        #[doc = $doc]
        #[utoipa::path(tag = "deals", security(("bearer" = [])), request_body = TransitionRequest,
            params(
                ("If-Match" = String, Header, description = "The deal's current ETag: `\"3\"`, `W/\"3\"` or `3`", pattern = r#"^(W/)?"[0-9]{1,9}"$|^[0-9]{1,9}$"#),
                ("Idempotency-Key" = Option<String>, Header, description = "Retries with the same key return the first result", pattern = "^[!-~]{1,255}$"),
            ),
            responses(
                (status = 200, body = DealView, headers(
                    ("ETag" = String, description = "The deal's new version; absent on a replayed answer (read `version`)"),
                    ("idempotent-replayed" = String, description = "`true` when this is the stored answer to an earlier request with the same `Idempotency-Key`"),
                )),
                (status = 403, body = Problem, content_type = "application/problem+json"),
                (status = 404, body = Problem, content_type = "application/problem+json"),
                (status = 409, description = "Not allowed in the current state (names the state and the allowed actions), or execution refused with a conflict report", body = Problem, content_type = "application/problem+json"),
                (status = 412, body = Problem, content_type = "application/problem+json"),
                (status = 422, body = Problem, content_type = "application/problem+json"),
                (status = 428, body = Problem, content_type = "application/problem+json"),
        ))]
        #[post($path)]
        pub async fn $fn(req: HttpRequest, state: web::Data<AppState>, caller: Caller, path: web::Path<String>, body: web::Bytes) -> Result<HttpResponse, ApiError> {
            run_transition(req, state, caller, path.into_inner(), body, $action).await
        }
    };
}

transition_endpoint!(
    submit,
    "/deals/{id}/submit",
    Action::Submit,
    "Send the draft to the counterparty (opener only)."
);
transition_endpoint!(
    counter,
    "/deals/{id}/counter",
    Action::Counter,
    "Propose changed terms (party on turn; from `agreed` either party, voiding signatures)."
);
transition_endpoint!(
    accept,
    "/deals/{id}/accept",
    Action::Accept,
    "Accept the current revision (party on turn)."
);
transition_endpoint!(
    reject,
    "/deals/{id}/reject",
    Action::Reject,
    "Reject the deal with a reason (party on turn)."
);
transition_endpoint!(
    withdraw,
    "/deals/{id}/withdraw",
    Action::Withdraw,
    "Withdraw (either party, before execution; discards a draft)."
);
transition_endpoint!(sign, "/deals/{id}/sign", Action::Sign, "Sign the agreed revision by its `terms_hash` (signer or owner). The second signature executes the deal or is refused with a conflict report.");
transition_endpoint!(
    terminate,
    "/deals/{id}/terminate",
    Action::Terminate,
    "End an executed deal early, with a reason and an effective date."
);

/// Watch the deal: its e-mails reach the caller even for kinds switched off in their
/// notification settings. Idempotent.
#[utoipa::path(tag = "deals", security(("bearer" = [])), responses(
    (status = 204),
    (status = 404, body = Problem, content_type = "application/problem+json"),
))]
#[put("/deals/{id}/watch")]
pub async fn watch(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let (org, user, id) = (
        caller.organization_id().to_string(),
        caller.user_id().to_string(),
        path.into_inner(),
    );
    state
        .db
        .run(move |conn| {
            deal_rows::find_deal_for_org(conn, &org, &id)?.ok_or(DealError::NotFound("deal"))?;
            deal_rows::watch(conn, &id, &user, crate::db::now())?;
            Ok::<_, DealError>(())
        })
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Stop watching the deal. Idempotent.
#[utoipa::path(tag = "deals", security(("bearer" = [])), responses(
    (status = 204),
    (status = 404, body = Problem, content_type = "application/problem+json"),
))]
#[delete("/deals/{id}/watch")]
pub async fn unwatch(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let (org, user, id) = (
        caller.organization_id().to_string(),
        caller.user_id().to_string(),
        path.into_inner(),
    );
    state
        .db
        .run(move |conn| {
            deal_rows::find_deal_for_org(conn, &org, &id)?.ok_or(DealError::NotFound("deal"))?;
            deal_rows::unwatch(conn, &id, &user)?;
            Ok::<_, DealError>(())
        })
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(open_deal)
        .service(list_deals)
        .service(get_deal)
        .service(list_revisions)
        .service(deal_tracks)
        .service(deal_tracks_csv)
        .service(diff)
        .service(list_events)
        .service(submit)
        .service(counter)
        .service(accept)
        .service(reject)
        .service(withdraw)
        .service(sign)
        .service(terminate)
        .service(watch)
        .service(unwatch);
}
