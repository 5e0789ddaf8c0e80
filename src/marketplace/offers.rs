//! Offers: a licensor lists one of its slices with asking terms, publicly or
//! for named organizations, until an expiry. Creating, publishing and
//! withdrawing one (each one transaction with its audit event; publishing tells
//! the licensees of the open requests it can satisfy), and finding those requests.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDateTime, Utc};

use super::{check_targets, offer_covers, within_budget, Author, MarketError, Match};
use crate::db::audit::AuditEvent;
use crate::db::marketplace::{self as storage, MarketRequest, Offer};
use crate::db::postings_cache::PostingsCache;
use crate::db::{catalogs, new_id, now, stored, write_transaction, DbConnection, DbError};
use crate::domain::isrc::Isrc;
use crate::domain::listing::{Audience, OfferAction, OfferState, Visibility};
use crate::domain::market_rules::{MarketRules, RuleBreaches};
use crate::domain::terms::{TermSheet, TermSheetInput};
use crate::domain::trackset::TrackSet;
use crate::domain::ValidationErrors;
use crate::mail::event::ListingRef;
use crate::mail::Event;
use crate::notifications::{notify, Audience as NotifyAudience, Notification};

/// An offer as parsed at the edge; `None` fields did not parse, and `errors`
/// says why. The checks that need the database are added here, so the caller
/// hears about every problem at once.
pub struct NewOffer {
    pub title: Option<String>,
    pub slice_id: String,
    pub terms: TermSheetInput,
    pub audience: Option<Audience>,
    /// The target ids as given, for the field names of unknown ones.
    pub requested_targets: Vec<String>,
    pub expires_at: Option<NaiveDateTime>,
    pub publish: bool,
    /// When the request arrived: terms are validated as of then.
    pub started: DateTime<Utc>,
    pub errors: ValidationErrors,
}

/// Creates the offer (published at once unless `publish` is false). Terms the market
/// rules forbid are refused with the other problems.
pub fn create(
    conn: &mut DbConnection,
    postings: &PostingsCache,
    rules: &MarketRules,
    author: &Author,
    input: NewOffer,
) -> Result<Offer, MarketError> {
    let NewOffer {
        title,
        slice_id,
        terms,
        audience,
        requested_targets,
        expires_at,
        publish,
        started,
        mut errors,
    } = input;
    let org = &author.organization_id;
    let slice = catalogs::find_owned_slice(conn, org, &slice_id)?;
    if slice.is_none() {
        errors.push("slice_id", "no slice of your organization has this id");
    }
    let catalog = match &slice {
        Some(s) => catalogs::find_catalog(conn, &s.catalog_id)?,
        None => None,
    };
    let sheet = match (&slice, &catalog) {
        (Some(slice), Some(catalog)) => TermSheet::parse(
            &terms,
            &crate::catalogs::terms_context(conn, catalog, slice)?,
            started,
        )
        .map_err(|e| errors.0.extend(e.nested("terms").0))
        .ok(),
        _ => None,
    };
    let breaches = sheet.as_ref().and_then(|sheet| rules.check(sheet).err());
    if let Some(breaches) = &breaches {
        errors.0.extend(breaches.field_errors("terms").0);
    }
    if let Some(audience) = &audience {
        if let Err(MarketError::Validation(e)) = check_targets(conn, &requested_targets, audience) {
            errors.0.extend(e.0);
        }
    }
    let (Some(title), Some(audience), Some(expires_at), Some(slice), Some(catalog), Some(sheet)) =
        (title, audience, expires_at, slice, catalog, sheet)
    else {
        return Err(refusal(errors, breaches));
    };
    if !errors.is_empty() {
        return Err(refusal(errors, breaches));
    }
    let currency = sheet.currency();
    let asking_minor = currency
        .to_minor_units(sheet.scheduled_total())
        .map_err(|e| ValidationErrors::single("terms", e.to_string()))?;
    let set = catalogs::decode_set(&slice.bitmap)?;
    let at = now();
    let id = new_id();
    let state = if publish {
        OfferState::Published
    } else {
        OfferState::Draft
    };
    let offer = Offer {
        id: id.clone(),
        organization_id: org.clone(),
        slice_id: slice.id.clone(),
        catalog_id: catalog.id.clone(),
        catalog_no: catalog.no,
        title,
        terms: sheet.canonical_json(),
        territories: to_json(sheet.territories())?,
        usages: to_json(sheet.usages())?,
        exclusive: sheet.exclusive(),
        currency: currency.code().to_string(),
        asking_minor,
        track_count: slice.track_count,
        sample_track_ids: to_json(&set.sample(storage::SAMPLE_TRACKS))?,
        start_date: sheet.period().start,
        end_date: sheet.period().end,
        visibility: audience.visibility.as_str().to_string(),
        status: state.as_str().to_string(),
        expires_at,
        created_at: at,
        published_at: publish.then_some(at),
        updated_at: at,
    };
    // Bitmap work (one intersection per genre and label) happens before the
    // write transaction, so the write lock is held only for the inserts.
    let facets = storage::slice_facets(conn, &id, catalog.no, &set)?;
    write_transaction(conn, |conn| {
        storage::insert_offer(conn, &offer, &audience.targets, &facets)?;
        AuditEvent::new("offer.created", "offer", Some(&offer.id))
            .by(Some(org), Some(&author.user_id))
            .after(
                serde_json::json!({"title": offer.title, "slice_id": offer.slice_id,
                "status": offer.status, "visibility": offer.visibility,
                "targets": audience.targets, "terms": sheet}),
            )
            .write(conn)?;
        if state == OfferState::Published {
            notify_matching_requests(conn, postings, &offer, &set, &author.user_id)?;
        }
        Ok::<_, MarketError>(())
    })?;
    Ok(offer)
}

/// The refusal of invalid offer input: a market-rule refusal when a rule was broken.
fn refusal(errors: ValidationErrors, breaches: Option<RuleBreaches>) -> MarketError {
    match breaches {
        Some(breaches) => MarketError::MarketRules { errors, breaches },
        None => errors.into(),
    }
}

/// Publishes a draft offer whose expiry has not passed, and whose terms the market
/// rules in force now allow (a rule may have been added since it was written).
pub fn publish(
    conn: &mut DbConnection,
    postings: &PostingsCache,
    rules: &MarketRules,
    author: &Author,
    id: &str,
) -> Result<Offer, MarketError> {
    let org = &author.organization_id;
    let offer = own_offer(conn, org, id)?;
    let state: OfferState = stored("offers.status", &offer.status)?;
    if state.apply(OfferAction::Publish).is_none() {
        return Err(not_allowed(&offer, OfferAction::Publish)?);
    }
    if offer.expires_at <= now() {
        return Err(MarketError::Conflict(
            "the offer's expiry has passed; create a new offer".into(),
        ));
    }
    let input: TermSheetInput = serde_json::from_str(&offer.terms)
        .map_err(|e| DbError::Corrupt(format!("offer terms: {e}")))?;
    let sheet = TermSheet::from_stored(&input)
        .map_err(|e| DbError::Corrupt(format!("offer terms: {e:?}")))?;
    rules
        .check(&sheet)
        .map_err(|breaches| MarketError::MarketRules {
            errors: breaches.field_errors("terms"),
            breaches,
        })?;
    let slice =
        catalogs::find_slice(conn, &offer.slice_id)?.ok_or(MarketError::NotFound("slice"))?;
    let set = catalogs::decode_set(&slice.bitmap)?;
    let at = now();
    write_transaction(conn, |conn| {
        if !storage::transition_offer(
            conn,
            id,
            OfferState::sources(OfferAction::Publish),
            OfferState::Published,
            at,
        )? {
            return Err(not_allowed(&offer, OfferAction::Publish)?);
        }
        AuditEvent::new("offer.published", "offer", Some(id))
            .by(Some(org), Some(&author.user_id))
            .before(serde_json::json!({"status": offer.status}))
            .after(serde_json::json!({"status": OfferState::Published.as_str()}))
            .write(conn)?;
        let published = own_offer(conn, org, id)?;
        notify_matching_requests(conn, postings, &published, &set, &author.user_id)?;
        Ok::<_, MarketError>(())
    })?;
    own_offer(conn, org, id)
}

/// Withdraws a draft or published offer; it leaves the marketplace at once.
pub fn withdraw(conn: &mut DbConnection, author: &Author, id: &str) -> Result<Offer, MarketError> {
    let org = &author.organization_id;
    let offer = own_offer(conn, org, id)?;
    write_transaction(conn, |conn| {
        if !storage::transition_offer(
            conn,
            id,
            OfferState::sources(OfferAction::Withdraw),
            OfferState::Withdrawn,
            now(),
        )? {
            let current = own_offer(conn, org, id)?;
            return Err(not_allowed(&current, OfferAction::Withdraw)?);
        }
        AuditEvent::new("offer.withdrawn", "offer", Some(id))
            .by(Some(org), Some(&author.user_id))
            .before(serde_json::json!({"status": offer.status}))
            .after(serde_json::json!({"status": OfferState::Withdrawn.as_str()}))
            .write(conn)?;
        Ok::<_, MarketError>(())
    })?;
    own_offer(conn, org, id)
}

/// What one open request asks of an offer: covered tracks, requested tracks in
/// the offer's catalog, whether the price fits the budget, and the request.
pub type RequestMatch = (u64, u64, Option<bool>, MarketRequest);

/// The open requests (visible to the licensor) this offer of the author's could
/// satisfy: the offer covers every territory, usage and day they ask for, and
/// its slice holds at least one of the requested tracks. Unsorted.
pub fn matching_requests(
    conn: &mut DbConnection,
    postings: &PostingsCache,
    org: &str,
    id: &str,
) -> Result<Vec<Match<RequestMatch>>, MarketError> {
    let offer = own_offer(conn, org, id)?;
    let slice =
        catalogs::find_slice(conn, &offer.slice_id)?.ok_or(MarketError::NotFound("slice"))?;
    let set = catalogs::decode_set(&slice.bitmap)?;
    let mut found = Vec::new();
    for request in storage::open_visible_requests(conn, org)? {
        if request.organization_id == org || !offer_covers(&offer, &request)? {
            continue;
        }
        let requested = storage::requested_tracks(conn, postings, &request, offer.catalog_no)?;
        let covered = requested.intersection_len(&set);
        if covered > 0 {
            let budget = within_budget(&offer, &request);
            found.push((
                covered,
                request.id.clone(),
                (covered, requested.len(), budget, request),
            ));
        }
    }
    Ok(found)
}

/// Every open offer visible to `viewer_org` whose slice contains this recording,
/// newest first. The ISRC is resolved in each offering catalog through its
/// (catalog, ISRC) index, then tested against each slice's bitmap: no scan of tracks.
pub fn holding_track(
    conn: &mut DbConnection,
    viewer_org: &str,
    isrc: &Isrc,
) -> Result<Vec<Offer>, MarketError> {
    let open = storage::open_visible_offers(conn, viewer_org)?;
    let mut by_catalog: HashMap<i64, Vec<&Offer>> = HashMap::new();
    for offer in &open {
        by_catalog.entry(offer.catalog_no).or_default().push(offer);
    }
    let mut holding = Vec::new();
    for (catalog_no, offers) in by_catalog {
        let Some(track) = catalogs::track_by_isrc_key(conn, catalog_no, isrc.key())? else {
            continue;
        };
        let Ok(track_id) = u32::try_from(track.track_id) else {
            continue;
        };
        let sets = storage::offer_slice_sets(conn, &offers)?;
        holding.extend(
            offers
                .into_iter()
                .filter(|o| sets.get(&o.id).is_some_and(|s| s.contains(track_id)))
                .cloned(),
        );
    }
    holding.sort_by(|a, b| b.published_at.cmp(&a.published_at).then(b.id.cmp(&a.id)));
    Ok(holding)
}

/// The author's own offer, for a change (not found for anyone else's).
pub fn own_offer(conn: &mut DbConnection, org: &str, id: &str) -> Result<Offer, MarketError> {
    storage::find_offer(conn, id)?
        .filter(|o| o.organization_id == org)
        .ok_or(MarketError::NotFound("offer"))
}

/// The refusal of `action` on `offer` in its current state.
fn not_allowed(offer: &Offer, action: OfferAction) -> Result<MarketError, MarketError> {
    let state: OfferState = stored("offers.status", &offer.status)?;
    Ok(MarketError::NotAllowed {
        detail: format!(
            "an offer in state `{}` cannot be {}",
            offer.status,
            action.done()
        ),
        state: state.as_str(),
        allowed_actions: state
            .allowed_actions()
            .into_iter()
            .map(OfferAction::as_str)
            .collect(),
    })
}

/// Tells the licensees of the open requests a newly published offer can satisfy
/// (and that may see the offer), in the publishing transaction.
fn notify_matching_requests(
    conn: &mut DbConnection,
    postings: &PostingsCache,
    offer: &Offer,
    slice: &TrackSet,
    actor_user_id: &str,
) -> Result<(), MarketError> {
    let targets = storage::offer_targets(conn, &offer.id)?;
    let licensor = storage::organization_names(conn, &[offer.organization_id.as_str()])?
        .remove(&offer.organization_id)
        .unwrap_or_default();
    let public =
        stored::<Visibility>("offers.visibility", &offer.visibility)? == Visibility::Public;
    for request in storage::open_visible_requests(conn, &offer.organization_id)? {
        let may_see = public || targets.contains(&request.organization_id);
        if request.organization_id == offer.organization_id
            || !may_see
            || !offer_covers(offer, &request)?
        {
            continue;
        }
        let covered = storage::requested_tracks(conn, postings, &request, offer.catalog_no)?
            .intersection_len(slice);
        if covered == 0 {
            continue;
        }
        let event = Event::OfferMatchedRequest {
            offer: ListingRef {
                id: offer.id.clone(),
                name: offer.title.clone(),
            },
            request: ListingRef {
                id: request.id.clone(),
                name: request.title.clone(),
            },
            licensor: licensor.clone(),
            track_count: covered,
        };
        notify(
            conn,
            Notification {
                event: &event,
                audiences: vec![NotifyAudience {
                    organization_id: &request.organization_id,
                    counterparty: &licensor,
                    action_required: true,
                }],
                actor_user_id: Some(actor_user_id),
            },
        )?;
    }
    Ok(())
}

/// A value as the JSON text stored in a column.
pub(super) fn to_json<T: serde::Serialize + ?Sized>(value: &T) -> Result<String, MarketError> {
    serde_json::to_string(value).map_err(|e| MarketError::Internal(e.to_string()))
}
