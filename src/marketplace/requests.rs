//! Requests: a licensee lists the music it wants (a selector or an ISRC list),
//! where, how, for how long and for what budget, publicly or for named
//! organizations. Creating and withdrawing one (one transaction each, with its
//! audit event), and finding the offers that answer it.

use std::collections::HashMap;

use chrono::NaiveDateTime;

use super::offers::to_json;
use super::{check_targets, offer_covers, within_budget, Author, MarketError, Match};
use crate::db::audit::AuditEvent;
use crate::db::marketplace::{self as storage, MarketRequest, Offer};
use crate::db::postings_cache::PostingsCache;
use crate::db::{new_id, now, stored, write_transaction, DbConnection, DbError};
use crate::domain::listing::{Audience, RequestAction, RequestState};
use crate::domain::money::Currency;
use crate::domain::period::Period;
use crate::domain::selector::Selector;
use crate::domain::territory::Territories;
use crate::domain::trackset::TrackSet;
use crate::domain::usage::Usages;
use crate::domain::ValidationErrors;

/// What the request wants: a normalized selector, or a normalized ISRC list.
pub type Wanted = (Option<Selector>, Option<Vec<String>>);

/// A request as parsed at the edge; `None` fields did not parse, and `errors`
/// says why (the audience's targets are checked here, against the database).
pub struct NewRequest {
    pub title: Option<String>,
    pub wanted: Option<Wanted>,
    pub territories: Option<Territories>,
    pub usages: Option<Usages>,
    pub period: Option<Period>,
    pub currency: Option<Currency>,
    /// `Some(None)`: a budget was given but did not parse.
    pub budget: Option<Option<i64>>,
    pub audience: Option<Audience>,
    /// The target ids as given, for the field names of unknown ones.
    pub requested_targets: Vec<String>,
    pub expires_at: Option<NaiveDateTime>,
    pub errors: ValidationErrors,
}

/// Publishes the request (open at once).
pub fn create(
    conn: &mut DbConnection,
    author: &Author,
    input: NewRequest,
) -> Result<MarketRequest, MarketError> {
    let mut errors = input.errors;
    let org = &author.organization_id;
    if let Some(audience) = &input.audience {
        if let Err(MarketError::Validation(e)) =
            check_targets(conn, &input.requested_targets, audience)
        {
            errors.0.extend(e.0);
        }
    }
    let (
        Some(title),
        Some((selector, isrcs)),
        Some(territories),
        Some(usages),
        Some(period),
        Some(currency),
        Some(audience),
        Some(expires_at),
    ) = (
        input.title,
        input.wanted,
        input.territories,
        input.usages,
        input.period,
        input.currency,
        input.audience,
        input.expires_at,
    )
    else {
        return Err(errors.into());
    };
    errors.into_result()?;
    let at = now();
    let request = MarketRequest {
        id: new_id(),
        organization_id: org.clone(),
        title,
        selector: selector.as_ref().map(to_json).transpose()?,
        isrc_count: isrcs.as_ref().map_or(0, |l: &Vec<String>| l.len() as i64),
        isrcs: isrcs.as_ref().map(to_json).transpose()?,
        territories: to_json(&territories)?,
        usages: to_json(&usages)?,
        start_date: period.start,
        end_date: period.end,
        budget_minor: input.budget.flatten(),
        currency: currency.code().to_string(),
        visibility: audience.visibility.as_str().to_string(),
        status: RequestState::Open.as_str().to_string(),
        expires_at,
        created_at: at,
        updated_at: at,
    };
    write_transaction(conn, |conn| {
        storage::insert_request(conn, &request, &audience.targets)?;
        AuditEvent::new("request.created", "request", Some(&request.id))
            .by(Some(org), Some(&author.user_id))
            .after(serde_json::json!({"title": request.title,
                "visibility": request.visibility, "targets": audience.targets,
                "territories": territories, "usages": usages,
                "start_date": request.start_date, "end_date": request.end_date,
                "isrc_count": request.isrc_count, "selector": selector,
                "budget_minor": request.budget_minor, "currency": request.currency}))
            .write(conn)?;
        Ok::<_, DbError>(())
    })?;
    Ok(request)
}

/// Withdraws an open request of the author's organization.
pub fn withdraw(
    conn: &mut DbConnection,
    author: &Author,
    id: &str,
) -> Result<MarketRequest, MarketError> {
    let org = &author.organization_id;
    let request = own_request(conn, org, id)?;
    write_transaction(conn, |conn| {
        if !storage::transition_request(
            conn,
            id,
            RequestState::sources(RequestAction::Withdraw),
            RequestState::Withdrawn,
            now(),
        )? {
            // A concurrent change won: report the state it left.
            let current = own_request(conn, org, id)?;
            let state: RequestState = stored("requests.status", &current.status)?;
            return Err(MarketError::NotAllowed {
                detail: format!(
                    "a request in state `{}` cannot be {}",
                    current.status,
                    RequestAction::Withdraw.done()
                ),
                state: state.as_str(),
                allowed_actions: state
                    .allowed_actions()
                    .into_iter()
                    .map(RequestAction::as_str)
                    .collect(),
            });
        }
        AuditEvent::new("request.withdrawn", "request", Some(id))
            .by(Some(org), Some(&author.user_id))
            .before(serde_json::json!({"status": request.status}))
            .after(serde_json::json!({"status": RequestState::Withdrawn.as_str()}))
            .write(conn)?;
        Ok::<_, MarketError>(())
    })?;
    own_request(conn, org, id)
}

/// The author's own request (not found for anyone else's).
fn own_request(conn: &mut DbConnection, org: &str, id: &str) -> Result<MarketRequest, MarketError> {
    storage::find_request(conn, id)?
        .filter(|r| r.organization_id == org)
        .ok_or(MarketError::NotFound("request"))
}

/// What one open offer holds of a request: covered tracks, requested tracks in
/// the offer's catalog, whether the price fits the budget, and the offer.
pub type OfferMatch = (u64, u64, Option<bool>, Offer);

/// The open offers visible to `viewer_org` that cover `request` — every
/// territory, usage and day — and hold at least one requested track (requested
/// ISRCs resolved in the offer's catalog, or the selector evaluated there,
/// intersected with the slice). Unsorted.
pub fn matching_offers(
    conn: &mut DbConnection,
    postings: &PostingsCache,
    viewer_org: &str,
    request: &MarketRequest,
) -> Result<Vec<Match<OfferMatch>>, MarketError> {
    let mut candidates = Vec::new();
    for offer in storage::open_visible_offers(conn, viewer_org)? {
        if offer.organization_id != request.organization_id && offer_covers(&offer, request)? {
            candidates.push(offer);
        }
    }
    let refs: Vec<_> = candidates.iter().collect();
    let sets = storage::offer_slice_sets(conn, &refs)?;
    // The requested set depends only on the catalog: resolve it once per catalog.
    let mut requested: HashMap<i64, TrackSet> = HashMap::new();
    let mut found = Vec::new();
    for offer in candidates {
        if let std::collections::hash_map::Entry::Vacant(slot) = requested.entry(offer.catalog_no) {
            slot.insert(storage::requested_tracks(
                conn,
                postings,
                request,
                offer.catalog_no,
            )?);
        }
        let (Some(wanted), Some(slice)) = (requested.get(&offer.catalog_no), sets.get(&offer.id))
        else {
            continue;
        };
        let covered = wanted.intersection_len(slice);
        if covered > 0 {
            let budget = within_budget(&offer, request);
            found.push((
                covered,
                offer.id.clone(),
                (covered, wanted.len(), budget, offer),
            ));
        }
    }
    Ok(found)
}
