//! Queries for deals, their revisions, signatures and timeline, and for the
//! transfers recorded at execution: grants, installments and payments.

use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;

use super::schema::{
    backing_losses, deal_events, deal_revisions, deal_signatures, deal_watchers, deals, grants,
    installments, payments, slices,
};
use super::{DbConnection, DbError};
use crate::domain::grant::GrantStatus;
use crate::domain::installment::InstallmentStatus;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = deals)]
pub struct DealRow {
    pub id: String,
    pub name: String,
    pub licensor_org_id: String,
    pub licensee_org_id: String,
    pub opened_by: String,
    pub offer_id: Option<String>,
    pub request_id: Option<String>,
    pub catalog_id: String,
    pub state: String,
    pub turn: Option<String>,
    pub revision: i32,
    pub agreed_revision: Option<i32>,
    pub version: i32,
    pub respond_by: Option<NaiveDateTime>,
    pub expiring_notified: bool,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

/// The negotiation columns a transition changes.
#[derive(Debug, Clone, AsChangeset)]
#[diesel(table_name = deals, treat_none_as_null = true)]
pub struct DealStatusUpdate {
    pub state: String,
    pub turn: Option<String>,
    pub revision: i32,
    pub agreed_revision: Option<i32>,
    pub version: i32,
    pub respond_by: Option<NaiveDateTime>,
    pub expiring_notified: bool,
    pub updated_at: NaiveDateTime,
}

pub fn insert_deal(conn: &mut DbConnection, deal: &DealRow) -> Result<(), DbError> {
    diesel::insert_into(deals::table)
        .values(deal)
        .execute(conn)?;
    Ok(())
}

pub fn find_deal(conn: &mut DbConnection, id: &str) -> Result<Option<DealRow>, DbError> {
    Ok(deals::table
        .find(id)
        .select(DealRow::as_select())
        .first(conn)
        .optional()?)
}

/// The deal if `organization_id` is a party to it and may see it: a draft is
/// seen only by the organization that opened it.
pub fn find_deal_for_org(
    conn: &mut DbConnection,
    organization_id: &str,
    id: &str,
) -> Result<Option<DealRow>, DbError> {
    Ok(find_deal(conn, id)?.filter(|d| visible_to(d, organization_id)))
}

pub fn visible_to(deal: &DealRow, organization_id: &str) -> bool {
    let opener_org = if deal.opened_by == "licensor" {
        &deal.licensor_org_id
    } else {
        &deal.licensee_org_id
    };
    if deal.state == "draft" {
        opener_org == organization_id
    } else {
        deal.licensor_org_id == organization_id || deal.licensee_org_id == organization_id
    }
}

/// The organization's deals (as either party), newest first by id, optionally in one state.
pub fn list_deals_for_org(
    conn: &mut DbConnection,
    organization_id: &str,
    state: Option<&str>,
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<DealRow>, DbError> {
    let party = deals::licensor_org_id
        .eq(organization_id)
        .or(deals::licensee_org_id.eq(organization_id));
    // Drafts belong to their opener alone.
    let not_someone_elses_draft = deals::state.ne("draft").or(deals::opened_by
        .eq("licensor")
        .and(deals::licensor_org_id.eq(organization_id))
        .or(deals::opened_by
            .eq("licensee")
            .and(deals::licensee_org_id.eq(organization_id))));
    let mut query = deals::table
        .filter(party)
        .filter(not_someone_elses_draft)
        .order(deals::id.desc())
        .limit(limit)
        .select(DealRow::as_select())
        .into_boxed();
    if let Some(state) = state {
        query = query.filter(deals::state.eq(state.to_string()));
    }
    if let Some(after) = after {
        query = query.filter(deals::id.lt(after.to_string()));
    }
    Ok(query.load(conn)?)
}

/// Applies a transition only if the deal is still at `expected_version`; false when
/// someone else changed it first.
pub fn update_status(
    conn: &mut DbConnection,
    id: &str,
    expected_version: i32,
    update: &DealStatusUpdate,
) -> Result<bool, DbError> {
    let changed = diesel::update(
        deals::table
            .find(id)
            .filter(deals::version.eq(expected_version)),
    )
    .set(update)
    .execute(conn)?;
    Ok(changed == 1)
}

/// Claims the next version before anything else is written: on PostgreSQL the
/// update takes the row lock, so a concurrent transition waits and then finds the
/// version gone. False when the deal is no longer at `expected_version`.
pub fn claim_version(
    conn: &mut DbConnection,
    id: &str,
    expected_version: i32,
) -> Result<bool, DbError> {
    let changed = diesel::update(
        deals::table
            .find(id)
            .filter(deals::version.eq(expected_version)),
    )
    .set(deals::version.eq(expected_version + 1))
    .execute(conn)?;
    Ok(changed == 1)
}

/// Deals whose answer is due before `before` (for the expiry sweeper).
pub fn deals_to_expire(
    conn: &mut DbConnection,
    before: NaiveDateTime,
    limit: i64,
) -> Result<Vec<DealRow>, DbError> {
    Ok(deals::table
        .filter(deals::state.eq_any(["negotiating", "agreed"]))
        .filter(deals::respond_by.lt(before))
        .order(deals::respond_by.asc())
        .limit(limit)
        .select(DealRow::as_select())
        .load(conn)?)
}

/// Open deals whose answer is due before `before` and not yet announced as expiring.
pub fn deals_expiring(
    conn: &mut DbConnection,
    before: NaiveDateTime,
    limit: i64,
) -> Result<Vec<DealRow>, DbError> {
    Ok(deals::table
        .filter(deals::state.eq_any(["negotiating", "agreed"]))
        .filter(deals::respond_by.lt(before))
        .filter(deals::expiring_notified.eq(false))
        .limit(limit)
        .select(DealRow::as_select())
        .load(conn)?)
}

/// Claims the expiry warning: false when another sweeper already sent it.
pub fn mark_expiring_notified(conn: &mut DbConnection, id: &str) -> Result<bool, DbError> {
    let changed = diesel::update(
        deals::table
            .find(id)
            .filter(deals::expiring_notified.eq(false)),
    )
    .set(deals::expiring_notified.eq(true))
    .execute(conn)?;
    Ok(changed == 1)
}

// ---- watchers ---------------------------------------------------------------------

/// Starts watching (idempotent).
pub fn watch(
    conn: &mut DbConnection,
    deal_id: &str,
    user_id: &str,
    at: NaiveDateTime,
) -> Result<(), DbError> {
    let exists = deal_watchers::table
        .find((deal_id, user_id))
        .count()
        .get_result::<i64>(conn)?
        > 0;
    if !exists {
        diesel::insert_into(deal_watchers::table)
            .values((
                deal_watchers::deal_id.eq(deal_id),
                deal_watchers::user_id.eq(user_id),
                deal_watchers::created_at.eq(at),
            ))
            .execute(conn)?;
    }
    Ok(())
}

pub fn unwatch(conn: &mut DbConnection, deal_id: &str, user_id: &str) -> Result<(), DbError> {
    diesel::delete(deal_watchers::table.find((deal_id, user_id))).execute(conn)?;
    Ok(())
}

pub fn watchers_of(conn: &mut DbConnection, deal_id: &str) -> Result<Vec<String>, DbError> {
    Ok(deal_watchers::table
        .filter(deal_watchers::deal_id.eq(deal_id))
        .select(deal_watchers::user_id)
        .load(conn)?)
}

// ---- revisions --------------------------------------------------------------------

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = deal_revisions)]
pub struct RevisionRow {
    pub deal_id: String,
    pub number: i32,
    pub proposed_by: String,
    pub proposer_user_id: String,
    /// Canonical JSON of the term sheet (see docs/domain.md).
    pub terms: String,
    pub terms_hash: String,
    pub created_at: NaiveDateTime,
}

pub fn insert_revision(conn: &mut DbConnection, revision: &RevisionRow) -> Result<(), DbError> {
    diesel::insert_into(deal_revisions::table)
        .values(revision)
        .execute(conn)?;
    Ok(())
}

pub fn find_revision(
    conn: &mut DbConnection,
    deal_id: &str,
    number: i32,
) -> Result<Option<RevisionRow>, DbError> {
    Ok(deal_revisions::table
        .find((deal_id, number))
        .select(RevisionRow::as_select())
        .first(conn)
        .optional()?)
}

pub fn list_revisions(conn: &mut DbConnection, deal_id: &str) -> Result<Vec<RevisionRow>, DbError> {
    Ok(deal_revisions::table
        .filter(deal_revisions::deal_id.eq(deal_id))
        .order(deal_revisions::number.asc())
        .select(RevisionRow::as_select())
        .load(conn)?)
}

// ---- signatures -------------------------------------------------------------------

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = deal_signatures)]
pub struct SignatureRow {
    pub id: String,
    pub deal_id: String,
    pub revision: i32,
    pub party: String,
    pub user_id: String,
    pub terms_hash: String,
    pub signed_at: NaiveDateTime,
    pub voided_at: Option<NaiveDateTime>,
}

pub fn insert_signature(conn: &mut DbConnection, signature: &SignatureRow) -> Result<(), DbError> {
    diesel::insert_into(deal_signatures::table)
        .values(signature)
        .execute(conn)?;
    Ok(())
}

/// Signatures in force for one revision (not voided by a reopening counter).
pub fn signatures_for(
    conn: &mut DbConnection,
    deal_id: &str,
    revision: i32,
) -> Result<Vec<SignatureRow>, DbError> {
    Ok(deal_signatures::table
        .filter(deal_signatures::deal_id.eq(deal_id))
        .filter(deal_signatures::revision.eq(revision))
        .filter(deal_signatures::voided_at.is_null())
        .order(deal_signatures::signed_at.asc())
        .select(SignatureRow::as_select())
        .load(conn)?)
}

pub fn void_signatures(
    conn: &mut DbConnection,
    deal_id: &str,
    at: NaiveDateTime,
) -> Result<usize, DbError> {
    Ok(diesel::update(
        deal_signatures::table
            .filter(deal_signatures::deal_id.eq(deal_id))
            .filter(deal_signatures::voided_at.is_null()),
    )
    .set(deal_signatures::voided_at.eq(at))
    .execute(conn)?)
}

// ---- timeline ---------------------------------------------------------------------

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = deal_events)]
pub struct DealEventRow {
    pub id: String,
    pub deal_id: String,
    pub kind: String,
    pub party: Option<String>,
    pub actor_user_id: Option<String>,
    pub revision: Option<i32>,
    pub summary: String,
    /// JSON details (the domain event, a diff, a reason).
    pub data: String,
    pub created_at: NaiveDateTime,
}

pub fn insert_event(conn: &mut DbConnection, event: &DealEventRow) -> Result<(), DbError> {
    diesel::insert_into(deal_events::table)
        .values(event)
        .execute(conn)?;
    Ok(())
}

pub fn list_events(
    conn: &mut DbConnection,
    deal_id: &str,
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<DealEventRow>, DbError> {
    let mut query = deal_events::table
        .filter(deal_events::deal_id.eq(deal_id))
        .order(deal_events::id.asc())
        .limit(limit)
        .select(DealEventRow::as_select())
        .into_boxed();
    if let Some(after) = after {
        query = query.filter(deal_events::id.gt(after.to_string()));
    }
    Ok(query.load(conn)?)
}

// ---- grants -----------------------------------------------------------------------

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = grants)]
pub struct GrantRow {
    pub id: String,
    pub deal_id: String,
    pub licensor_org_id: String,
    pub licensee_org_id: String,
    pub catalog_id: String,
    /// The slice frozen at execution: its track set and recordings are the
    /// grant's (read through `grant_tracks` and `grant_recordings`).
    pub slice_id: String,
    pub track_count: i64,
    pub tracks_hash: String,
    pub territories: String,
    pub usages: String,
    pub start_date: NaiveDate,
    pub end_date: NaiveDate,
    pub exclusive: bool,
    pub sublicensable: bool,
    pub terms_hash: String,
    pub status: String,
    pub terminated_at: Option<NaiveDateTime>,
    pub termination_reason: Option<String>,
    pub created_at: NaiveDateTime,
}

/// A grant without its track set: what conflict pre-filtering and listings need.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = grants)]
pub struct GrantSummary {
    pub id: String,
    pub deal_id: String,
    pub licensor_org_id: String,
    pub licensee_org_id: String,
    pub catalog_id: String,
    pub slice_id: String,
    pub track_count: i64,
    pub tracks_hash: String,
    pub territories: String,
    pub usages: String,
    pub start_date: NaiveDate,
    pub end_date: NaiveDate,
    pub exclusive: bool,
    pub sublicensable: bool,
    pub terms_hash: String,
    pub status: String,
    pub terminated_at: Option<NaiveDateTime>,
    pub termination_reason: Option<String>,
    pub created_at: NaiveDateTime,
}

pub fn insert_grant(conn: &mut DbConnection, grant: &GrantRow) -> Result<(), DbError> {
    diesel::insert_into(grants::table)
        .values(grant)
        .execute(conn)?;
    Ok(())
}

/// A grant's rights window: all the exclusivity check reads of its row (a
/// signature meets a licensor's every overlapping grant, 1,000 at a time).
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = grants)]
pub struct GrantWindow {
    pub id: String,
    pub catalog_id: String,
    pub territories: String,
    pub usages: String,
    pub start_date: NaiveDate,
    pub end_date: NaiveDate,
    pub exclusive: bool,
}

/// Grants a licensor made, from any of its catalogs, whose dates meet `[start,
/// end]` and where exclusivity matters (either side exclusive): the only ones that
/// can conflict. Territories and usages are checked by the caller, before any
/// recording set is loaded.
pub fn grants_overlapping(
    conn: &mut DbConnection,
    licensor_org_id: &str,
    start: NaiveDate,
    end: NaiveDate,
    new_is_exclusive: bool,
) -> Result<Vec<GrantWindow>, DbError> {
    let mut query = grants::table
        .filter(grants::licensor_org_id.eq(licensor_org_id))
        .filter(grants::start_date.le(end))
        .filter(grants::end_date.ge(start))
        .order(grants::id.asc())
        .select(GrantWindow::as_select())
        .into_boxed();
    if !new_is_exclusive {
        query = query.filter(grants::exclusive.eq(true));
    }
    Ok(query.load(conn)?)
}

/// The recording sets of several grants, a few queries for all of them (one round
/// trip per grant costs ~0.3 ms on PostgreSQL: 300 ms for 1,000 grants).
pub fn grant_recordings_many(
    conn: &mut DbConnection,
    ids: &[String],
) -> Result<Vec<(String, super::StoredRecordings)>, DbError> {
    let mut out = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(200) {
        out.extend(
            grants::table
                .inner_join(slices::table.on(slices::id.eq(grants::slice_id)))
                .filter(grants::id.eq_any(chunk))
                .select((grants::id, slices::recordings))
                .load::<(String, Option<Vec<u8>>)>(conn)?,
        );
    }
    Ok(out)
}

/// The track-id sets of several grants, 200 per query.
pub fn grant_tracks_many(
    conn: &mut DbConnection,
    ids: &[String],
) -> Result<Vec<(String, Vec<u8>)>, DbError> {
    let mut out = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(200) {
        out.extend(
            grants::table
                .inner_join(slices::table.on(slices::id.eq(grants::slice_id)))
                .filter(grants::id.eq_any(chunk))
                .select((grants::id, slices::bitmap))
                .load::<(String, Vec<u8>)>(conn)?,
        );
    }
    Ok(out)
}

pub fn grant_tracks(conn: &mut DbConnection, grant_id: &str) -> Result<Vec<u8>, DbError> {
    Ok(grants::table
        .inner_join(slices::table.on(slices::id.eq(grants::slice_id)))
        .filter(grants::id.eq(grant_id))
        .select(slices::bitmap)
        .first(conn)?)
}

pub fn find_grant(conn: &mut DbConnection, id: &str) -> Result<Option<GrantSummary>, DbError> {
    Ok(grants::table
        .find(id)
        .select(GrantSummary::as_select())
        .first(conn)
        .optional()?)
}

pub fn find_grant_for_deal(
    conn: &mut DbConnection,
    deal_id: &str,
) -> Result<Option<GrantSummary>, DbError> {
    Ok(grants::table
        .filter(grants::deal_id.eq(deal_id))
        .select(GrantSummary::as_select())
        .first(conn)
        .optional()?)
}

/// Grants given by or to the organization.
pub fn list_grants_for_org(
    conn: &mut DbConnection,
    organization_id: &str,
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<GrantSummary>, DbError> {
    let mut query = grants::table
        .filter(
            grants::licensor_org_id
                .eq(organization_id)
                .or(grants::licensee_org_id.eq(organization_id)),
        )
        .order(grants::id.asc())
        .limit(limit)
        .select(GrantSummary::as_select())
        .into_boxed();
    if let Some(after) = after {
        query = query.filter(grants::id.gt(after.to_string()));
    }
    Ok(query.load(conn)?)
}

pub fn end_grant(
    conn: &mut DbConnection,
    id: &str,
    end_date: NaiveDate,
    status: GrantStatus,
    reason: Option<&str>,
    at: NaiveDateTime,
) -> Result<(), DbError> {
    diesel::update(grants::table.find(id))
        .set((
            grants::end_date.eq(end_date),
            grants::status.eq(status.as_str()),
            grants::terminated_at.eq(Some(at)),
            grants::termination_reason.eq(reason),
        ))
        .execute(conn)?;
    Ok(())
}

pub fn complete_grant(conn: &mut DbConnection, id: &str) -> Result<(), DbError> {
    diesel::update(grants::table.find(id))
        .set(grants::status.eq(GrantStatus::Completed.as_str()))
        .execute(conn)?;
    Ok(())
}

/// Executed deals whose grant ended before `today` (for the completion sweeper).
pub fn grants_ended(
    conn: &mut DbConnection,
    today: NaiveDate,
    limit: i64,
) -> Result<Vec<GrantSummary>, DbError> {
    Ok(grants::table
        .filter(grants::status.eq(GrantStatus::Active.as_str()))
        .filter(grants::end_date.lt(today))
        .limit(limit)
        .select(GrantSummary::as_select())
        .load(conn)?)
}

// ---- installments and payments ------------------------------------------------------

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = installments)]
pub struct InstallmentRow {
    pub id: String,
    pub deal_id: String,
    pub grant_id: String,
    pub seq: i32,
    pub due_date: NaiveDate,
    pub currency: String,
    pub amount_minor: i64,
    pub paid_minor: i64,
    pub status: String,
    pub overdue_notified: bool,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

pub fn insert_installments(
    conn: &mut DbConnection,
    rows: &[InstallmentRow],
) -> Result<(), DbError> {
    for row in rows {
        diesel::insert_into(installments::table)
            .values(row)
            .execute(conn)?;
    }
    Ok(())
}

pub fn installments_for_deal(
    conn: &mut DbConnection,
    deal_id: &str,
) -> Result<Vec<InstallmentRow>, DbError> {
    Ok(installments::table
        .filter(installments::deal_id.eq(deal_id))
        .order(installments::seq.asc())
        .select(InstallmentRow::as_select())
        .load(conn)?)
}

/// Takes the installment's row lock (PostgreSQL) until the transaction ends, so
/// concurrent payments are checked against each other's balance.
pub fn lock_installment(conn: &mut DbConnection, id: &str) -> Result<(), DbError> {
    diesel::update(installments::table.find(id))
        .set(installments::paid_minor.eq(installments::paid_minor))
        .execute(conn)?;
    Ok(())
}

pub fn find_installment(
    conn: &mut DbConnection,
    id: &str,
) -> Result<Option<InstallmentRow>, DbError> {
    Ok(installments::table
        .find(id)
        .select(InstallmentRow::as_select())
        .first(conn)
        .optional()?)
}

pub fn set_installment(
    conn: &mut DbConnection,
    id: &str,
    paid_minor: i64,
    status: InstallmentStatus,
    at: NaiveDateTime,
) -> Result<(), DbError> {
    diesel::update(installments::table.find(id))
        .set((
            installments::paid_minor.eq(paid_minor),
            installments::status.eq(status.as_str()),
            installments::updated_at.eq(at),
        ))
        .execute(conn)?;
    Ok(())
}

/// Claims the overdue notice: false when another sweeper already sent it.
pub fn mark_overdue_notified(conn: &mut DbConnection, id: &str) -> Result<bool, DbError> {
    let changed = diesel::update(
        installments::table
            .find(id)
            .filter(installments::overdue_notified.eq(false)),
    )
    .set(installments::overdue_notified.eq(true))
    .execute(conn)?;
    Ok(changed == 1)
}

/// Unpaid installments due on or before `horizon` whose status may need to move
/// (scheduled → due → overdue).
pub fn installments_to_review(
    conn: &mut DbConnection,
    horizon: NaiveDate,
    limit: i64,
) -> Result<Vec<InstallmentRow>, DbError> {
    Ok(installments::table
        .filter(installments::status.eq_any(InstallmentStatus::OPEN.map(InstallmentStatus::as_str)))
        .filter(installments::due_date.le(horizon))
        .order(installments::due_date.asc())
        .limit(limit)
        .select(InstallmentRow::as_select())
        .load(conn)?)
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = payments)]
pub struct PaymentRow {
    pub id: String,
    pub installment_id: String,
    pub amount_minor: i64,
    pub paid_on: NaiveDate,
    pub reference: String,
    pub recorded_by: String,
    pub created_at: NaiveDateTime,
}

pub fn insert_payment(conn: &mut DbConnection, payment: &PaymentRow) -> Result<(), DbError> {
    diesel::insert_into(payments::table)
        .values(payment)
        .execute(conn)?;
    Ok(())
}

pub fn payments_for_installments(
    conn: &mut DbConnection,
    ids: &[String],
) -> Result<Vec<PaymentRow>, DbError> {
    Ok(payments::table
        .filter(payments::installment_id.eq_any(ids))
        .order(payments::id.asc())
        .select(PaymentRow::as_select())
        .load(conn)?)
}

// ---- chain of title ----------------------------------------------------------------

/// The active grants cut from a catalog: what depends on its holding.
pub fn active_grants_of_catalog(
    conn: &mut DbConnection,
    catalog_id: &str,
) -> Result<Vec<GrantSummary>, DbError> {
    Ok(grants::table
        .filter(grants::catalog_id.eq(catalog_id))
        .filter(grants::status.eq(GrantStatus::Active.as_str()))
        .order(grants::id.asc())
        .select(GrantSummary::as_select())
        .load(conn)?)
}

/// A grant's recordings (`RecordingSet` bytes; NULL only before the backfill).
pub fn grant_recordings(
    conn: &mut DbConnection,
    grant_id: &str,
) -> Result<Option<Vec<u8>>, DbError> {
    Ok(grants::table
        .inner_join(slices::table.on(slices::id.eq(grants::slice_id)))
        .filter(grants::id.eq(grant_id))
        .select(slices::recordings)
        .first(conn)?)
}

/// One grant whose backing ended, from which day, and why.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = backing_losses)]
pub struct BackingLossRow {
    pub id: String,
    pub grant_id: String,
    /// `domain::chain::LossCause`.
    pub cause: String,
    pub upstream_grant_id: Option<String>,
    pub catalog_id: String,
    pub track_count: i64,
    /// JSON array of up to 20 ISRCs.
    pub sample_isrcs: String,
    /// The recordings that lost their backing (`RecordingSet` bytes).
    pub recordings: Vec<u8>,
    pub lost_from: NaiveDate,
    pub detail: String,
    pub created_at: NaiveDateTime,
}

pub fn insert_backing_loss(conn: &mut DbConnection, row: &BackingLossRow) -> Result<(), DbError> {
    diesel::insert_into(backing_losses::table)
        .values(row)
        .execute(conn)?;
    Ok(())
}

/// A grant's backing losses, oldest first.
pub fn backing_losses_of(
    conn: &mut DbConnection,
    grant_id: &str,
) -> Result<Vec<BackingLossRow>, DbError> {
    Ok(backing_losses::table
        .filter(backing_losses::grant_id.eq(grant_id))
        .order(backing_losses::id.asc())
        .select(BackingLossRow::as_select())
        .load(conn)?)
}

/// The active grants an organization received, with their recordings.
pub fn received_grants(
    conn: &mut DbConnection,
    licensee_org_id: &str,
) -> Result<Vec<(GrantSummary, super::StoredRecordings)>, DbError> {
    Ok(grants::table
        .inner_join(slices::table.on(slices::id.eq(grants::slice_id)))
        .filter(grants::licensee_org_id.eq(licensee_org_id))
        .filter(grants::status.eq(GrantStatus::Active.as_str()))
        .order(grants::id.asc())
        .select((GrantSummary::as_select(), slices::recordings))
        .load(conn)?)
}
