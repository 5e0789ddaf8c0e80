//! Executed grants for the licensee's systems: a DDEX-style deal document and
//! an ODRL 2.2 Agreement (`docs/ddex.md`). Either party of the grant may download
//! them; anyone else gets 404, as for the grant itself.

use actix_web::{get, http::header, web, HttpResponse};

use super::caller::Caller;
use super::problem::{ApiError, Problem};
use super::state::AppState;
use crate::db::deals::{self as deal_rows, GrantSummary};
use crate::db::{accounts, catalogs, stored_json, DbConnection, DbError};
use crate::domain::grant_export::{self, ExportFees, ExportParty, GrantDocument};
use crate::domain::usage::Usages;

fn party(conn: &mut DbConnection, id: &str) -> Result<ExportParty, DbError> {
    let org = accounts::find_organization(conn, id)?
        .ok_or_else(|| DbError::Corrupt(format!("grant party {id} does not exist")))?;
    Ok(ExportParty {
        organization_id: org.id,
        name: org.name,
    })
}

/// The agreed terms' fees, as signed (a decimal string, or absent).
fn fees(conn: &mut DbConnection, grant: &GrantSummary) -> Result<ExportFees, DbError> {
    let Some(deal) = deal_rows::find_deal(conn, &grant.deal_id)? else {
        return Ok(ExportFees::default());
    };
    let Some(number) = deal.agreed_revision else {
        return Ok(ExportFees::default());
    };
    let Some(revision) = deal_rows::find_revision(conn, &deal.id, number)? else {
        return Ok(ExportFees::default());
    };
    let terms: serde_json::Value = stored_json("deal_revisions.terms", &revision.terms)?;
    let text = |key: &str| match &terms[key] {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    };
    Ok(ExportFees {
        currency: text("currency"),
        upfront_fee: text("upfront_fee"),
        minimum_guarantee: text("minimum_guarantee"),
        per_stream_rate: text("per_stream_rate"),
        revenue_share_percent: text("revenue_share_percent"),
    })
}

/// The grant as both documents see it, if the caller's organization is a party.
async fn document(
    state: &AppState,
    caller: &Caller,
    id: String,
) -> Result<GrantDocument, ApiError> {
    let org = caller.organization_id().to_string();
    state
        .db
        .run(move |conn| -> Result<GrantDocument, ApiError> {
            let grant = deal_rows::find_grant(conn, &id)?
                .filter(|g| g.licensor_org_id == org || g.licensee_org_id == org)
                .ok_or(ApiError::NotFound("grant"))?;
            let recordings = catalogs::decode_recordings(
                deal_rows::grant_recordings(conn, &grant.id)?.as_deref(),
                "grant",
                &grant.id,
            )?;
            let territories: Vec<String> = stored_json("grants.territories", &grant.territories)?;
            let usages: Usages = stored_json("grants.usages", &grant.usages)?;
            Ok(GrantDocument {
                licensor: party(conn, &grant.licensor_org_id)?,
                licensee: party(conn, &grant.licensee_org_id)?,
                fees: fees(conn, &grant)?,
                isrcs: recordings.isrcs().map(|i| i.into_string()).collect(),
                grant_id: grant.id,
                deal_id: grant.deal_id,
                terms_hash: grant.terms_hash,
                tracks_hash: grant.tracks_hash,
                status: grant.status,
                territories,
                usages: usages.iter().collect(),
                start: grant.start_date,
                end: grant.end_date,
                exclusive: grant.exclusive,
                sublicensable: grant.sublicensable,
            })
        })
        .await
}

/// The grant as a DDEX-style deal document: its terms (territories, use types,
/// validity, exclusivity, sublicensing, fees) over every granted recording.
#[utoipa::path(tag = "grants", security(("bearer" = [])), responses(
    (status = 200, content_type = "application/xml", body = String,
        headers(("Content-Disposition" = String, description = "`attachment; filename=\"grant-<id>-deal.xml\"`"))),
    (status = 404, body = Problem, content_type = "application/problem+json"),
))]
#[get("/grants/{id}/ddex")]
pub async fn grant_ddex(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let doc = document(&state, &caller, path.into_inner()).await?;
    Ok(HttpResponse::Ok()
        .content_type("application/xml; charset=utf-8")
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"grant-{}-deal.xml\"", doc.grant_id),
        ))
        .body(grant_export::ddex_deal(&doc)))
}

/// The grant as an ODRL 2.2 Agreement (JSON-LD): a permission per usage with
/// spatial and dateTime constraints, compensate obligations with the fees, and,
/// for a sublicensable grant, a `grantUse` permission whose `nextPolicy` duty
/// binds the next licensee.
#[utoipa::path(tag = "grants", security(("bearer" = [])), responses(
    (status = 200, content_type = "application/ld+json", body = Object),
    (status = 404, body = Problem, content_type = "application/problem+json"),
))]
#[get("/grants/{id}/odrl")]
pub async fn grant_odrl(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let doc = document(&state, &caller, path.into_inner()).await?;
    Ok(HttpResponse::Ok()
        .content_type("application/ld+json")
        .body(grant_export::odrl_agreement(&doc).to_string()))
}

pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(grant_ddex).service(grant_odrl);
}
