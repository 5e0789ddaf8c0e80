//! Deals: opening, every negotiation transition, signing and execution,
//! termination. Each operation is one write transaction that also writes the
//! timeline, the audit event and the notifications (feed and mail outbox).
//! The rules themselves are `domain::deal` and `domain::terms`; this module
//! loads, applies and stores.

pub mod chain;
pub mod delivered;
pub mod execution;
pub mod holdings;
pub mod payments;
pub mod received;
pub mod schedule;

use chrono::{DateTime, NaiveDate, Utc};

use crate::db::accounts;
use crate::db::audit::AuditEvent;
use crate::db::deals::{self, DealEventRow, DealRow, DealStatusUpdate, RevisionRow, SignatureRow};
use crate::db::{lock_organization, new_id, now, write_transaction, DbConnection, DbError};
use crate::domain::deal::{
    self, Action, Actor, DealEvent, DealState, DealStatus, Party, Refusal, TransitionRefused,
};
use crate::domain::grant::GrantStatus;
use crate::domain::installment::InstallmentStatus;
use crate::domain::market_rules::{MarketRules, RuleBreaches};
use crate::domain::role::Role;
use crate::domain::terms::{TermChange, TermSheet, TermSheetInput};
use crate::domain::ValidationErrors;
use crate::mail::event::{self as mail_event, DealRef, Event};
use crate::notifications::{self, Audience, Notification};
use execution::ExecutionReport;

#[derive(Debug, thiserror::Error)]
pub enum DealError {
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error(transparent)]
    Validation(#[from] ValidationErrors),
    #[error(transparent)]
    Refused(TransitionRefused),
    /// The terms break the operator's market rules (422, each rule named).
    #[error(transparent)]
    MarketRules(#[from] RuleBreaches),
    #[error("{0}")]
    Forbidden(String),
    #[error("the deal changed since version {expected}; it is at version {current}")]
    Stale { expected: i32, current: i32 },
    #[error("{detail}")]
    Conflict {
        detail: String,
        report: Option<Box<ExecutionReport>>,
    },
    #[error(transparent)]
    Database(#[from] DbError),
}

impl DealError {
    pub fn conflict(detail: impl Into<String>) -> Self {
        DealError::Conflict {
            detail: detail.into(),
            report: None,
        }
    }
}

impl From<diesel::result::Error> for DealError {
    fn from(e: diesel::result::Error) -> Self {
        DealError::Database(DbError::Query(e))
    }
}

impl From<TransitionRefused> for DealError {
    fn from(refused: TransitionRefused) -> Self {
        match refused.reason {
            Refusal::RoleTooLow { required } => DealError::Forbidden(format!(
                "`{}` needs the {required} role or higher",
                refused.action.as_str()
            )),
            _ => DealError::Refused(refused),
        }
    }
}

/// The member acting.
#[derive(Debug, Clone)]
pub struct Member {
    pub user_id: String,
    pub name: String,
    pub organization_id: String,
    pub role: Role,
}

fn party_of(deal: &DealRow, organization_id: &str) -> Option<Party> {
    if deal.licensor_org_id == organization_id {
        Some(Party::Licensor)
    } else if deal.licensee_org_id == organization_id {
        Some(Party::Licensee)
    } else {
        None
    }
}

fn parse_party(value: &str) -> Result<Party, DealError> {
    Ok(crate::db::stored("party", value)?)
}

/// The domain status of a stored deal (signatures from the signature table).
pub fn status_of(conn: &mut DbConnection, deal: &DealRow) -> Result<DealStatus, DealError> {
    let signed_by = match deal.agreed_revision {
        Some(rev) => deals::signatures_for(conn, &deal.id, rev)?
            .iter()
            .map(|s| parse_party(&s.party))
            .collect::<Result<_, _>>()?,
        None => Default::default(),
    };
    Ok(DealStatus {
        state: crate::db::stored("deals.state", &deal.state)?,
        opened_by: parse_party(&deal.opened_by)?,
        turn: deal.turn.as_deref().map(parse_party).transpose()?,
        revision: deal.revision as u32,
        agreed_revision: deal.agreed_revision.map(|r| r as u32),
        signed_by,
    })
}

fn current_terms(
    conn: &mut DbConnection,
    deal: &DealRow,
) -> Result<(RevisionRow, TermSheet), DealError> {
    let revision = deals::find_revision(conn, &deal.id, deal.revision)?
        .ok_or(DealError::NotFound("revision"))?;
    let terms = stored_terms(&revision)?;
    Ok((revision, terms))
}

pub fn stored_terms(revision: &RevisionRow) -> Result<TermSheet, DealError> {
    let input: TermSheetInput = serde_json::from_str(&revision.terms)
        .map_err(|e| DbError::Corrupt(format!("stored terms: {e}")))?;
    TermSheet::from_stored(&input)
        .map_err(|e| DealError::Database(DbError::Corrupt(format!("stored terms: {e:?}"))))
}

/// Validates proposed terms against the licensor's slice and catalog, now, and
/// against the market rules.
fn parse_terms(
    conn: &mut DbConnection,
    rules: &MarketRules,
    licensor_org_id: &str,
    input: &TermSheetInput,
) -> Result<TermSheet, DealError> {
    let (slice, catalog) = execution::licensor_slice(conn, licensor_org_id, &input.slice_id)?;
    let ctx = execution::terms_context(conn, &catalog, &slice)?;
    let sheet = TermSheet::parse(input, &ctx, Utc::now())
        .map_err(|e| DealError::Validation(e.nested("terms")))?;
    rules.check(&sheet)?;
    Ok(sheet)
}

/// The execution checks run as advice: what would stop this deal from executing today.
pub fn advise(
    conn: &mut DbConnection,
    licensor_org_id: &str,
    terms: &TermSheet,
) -> Result<ExecutionReport, DealError> {
    let plan = execution::plan(conn, licensor_org_id, terms)?;
    execution::check(conn, &plan)
}

/// How a deal is opened.
pub enum Origin {
    /// From an open offer the caller can see: the caller is the licensee.
    Offer(String),
    /// From an open request the caller can see: the caller is the licensor.
    Request(String),
    Direct {
        counterparty_id: String,
        role: Party,
    },
}

pub struct Opened {
    pub deal: DealRow,
    pub advice: ExecutionReport,
}

/// Opens a draft at revision 1. From an offer the caller is the licensee and the
/// offer's terms are the default; from a request the caller is the licensor.
pub fn open(
    conn: &mut DbConnection,
    member: &Member,
    rules: &MarketRules,
    origin: Origin,
    terms: Option<TermSheetInput>,
    name: Option<String>,
) -> Result<Opened, DealError> {
    if !member.role.includes(Role::Negotiator) {
        return Err(DealError::Forbidden(
            "opening a deal needs the negotiator role or higher".into(),
        ));
    }
    let at = now();
    write_transaction(conn, |conn| {
        let (party, counterparty_id, offer_id, request_id, default_terms) = match &origin {
            Origin::Offer(offer_id) => {
                let offer = crate::db::marketplace::find_visible_offer(
                    conn,
                    &member.organization_id,
                    offer_id,
                )?
                .filter(|o| o.organization_id != member.organization_id)
                .ok_or_else(|| {
                    ValidationErrors::single(
                        "offer_id",
                        "is not an open offer of another organization that you can see",
                    )
                })?;
                let input: TermSheetInput = serde_json::from_str(&offer.terms)
                    .map_err(|e| DbError::Corrupt(format!("offer terms: {e}")))?;
                (
                    Party::Licensee,
                    offer.organization_id,
                    Some(offer.id),
                    None,
                    Some(input),
                )
            }
            Origin::Request(request_id) => {
                let request = crate::db::marketplace::find_visible_request(
                    conn,
                    &member.organization_id,
                    request_id,
                )?
                .filter(|r| r.organization_id != member.organization_id)
                .ok_or_else(|| {
                    ValidationErrors::single(
                        "request_id",
                        "is not an open request of another organization that you can see",
                    )
                })?;
                (
                    Party::Licensor,
                    request.organization_id,
                    None,
                    Some(request.id),
                    None,
                )
            }
            Origin::Direct {
                counterparty_id,
                role,
            } => (*role, counterparty_id.clone(), None, None, None),
        };
        if counterparty_id == member.organization_id {
            return Err(ValidationErrors::single(
                "counterparty_id",
                "must be another organization",
            )
            .into());
        }
        let counterparty =
            accounts::find_organization(conn, &counterparty_id)?.ok_or_else(|| {
                ValidationErrors::single("counterparty_id", "is not a registered organization")
            })?;
        let me = accounts::find_organization(conn, &member.organization_id)?
            .ok_or(DealError::NotFound("organization"))?;
        let (licensor, licensee) = match party {
            Party::Licensor => (&me, &counterparty),
            Party::Licensee => (&counterparty, &me),
        };
        let input = terms
            .or(default_terms)
            .ok_or_else(|| ValidationErrors::single("terms", "is required"))?;
        let sheet = parse_terms(conn, rules, &licensor.id, &input)?;
        let (slice, catalog) = execution::licensor_slice(conn, &licensor.id, sheet.slice_id())?;
        let name = match name.as_deref().map(str::trim).filter(|n| !n.is_empty()) {
            Some(n) if n.chars().count() <= 200 => n.to_string(),
            Some(_) => {
                return Err(
                    ValidationErrors::single("name", "must be at most 200 characters").into(),
                )
            }
            None => format!("{} → {}: {}", licensor.name, licensee.name, slice.name),
        };
        let deal = DealRow {
            id: new_id(),
            name,
            licensor_org_id: licensor.id.clone(),
            licensee_org_id: licensee.id.clone(),
            opened_by: party.as_str().to_string(),
            offer_id,
            request_id,
            catalog_id: catalog.id.clone(),
            state: DealState::Draft.as_str().to_string(),
            turn: None,
            revision: 1,
            agreed_revision: None,
            version: 1,
            respond_by: sheet.respond_by().map(|t| t.naive_utc()),
            expiring_notified: false,
            created_at: at,
            updated_at: at,
        };
        deals::insert_deal(conn, &deal)?;
        insert_revision(conn, &deal.id, 1, party, &member.user_id, &sheet, at)?;
        record_event(
            conn,
            &deal,
            "opened",
            Some(party),
            Some(&member.user_id),
            Some(1),
            format!(
                "{} opened the deal as {} (draft, revision 1)",
                member.name,
                party.as_str()
            ),
            serde_json::json!({}),
        )?;
        AuditEvent::new("deal.opened", "deal", Some(&deal.id))
            .by(Some(&member.organization_id), Some(&member.user_id))
            .after(serde_json::json!({"terms_hash": sheet.hash(), "party": party.as_str(), "counterparty": counterparty.id}))
            .write(conn)?;
        let advice = advise(conn, &licensor.id, &sheet)?;
        Ok(Opened { deal, advice })
    })
}

fn insert_revision(
    conn: &mut DbConnection,
    deal_id: &str,
    number: i32,
    party: Party,
    user_id: &str,
    sheet: &TermSheet,
    at: chrono::NaiveDateTime,
) -> Result<String, DealError> {
    let hash = sheet.hash();
    deals::insert_revision(
        conn,
        &RevisionRow {
            deal_id: deal_id.to_string(),
            number,
            proposed_by: party.as_str().to_string(),
            proposer_user_id: user_id.to_string(),
            terms: sheet.canonical_json(),
            terms_hash: hash.clone(),
            created_at: at,
        },
    )?;
    Ok(hash)
}

#[allow(clippy::too_many_arguments)]
fn record_event(
    conn: &mut DbConnection,
    deal: &DealRow,
    kind: &str,
    party: Option<Party>,
    actor_user_id: Option<&str>,
    revision: Option<i32>,
    summary: String,
    data: serde_json::Value,
) -> Result<(), DealError> {
    deals::insert_event(
        conn,
        &DealEventRow {
            id: new_id(),
            deal_id: deal.id.clone(),
            kind: kind.to_string(),
            party: party.map(|p| p.as_str().to_string()),
            actor_user_id: actor_user_id.map(str::to_string),
            revision,
            summary,
            data: data.to_string(),
            created_at: now(),
        },
    )?;
    Ok(())
}

/// What a transition may carry.
#[derive(Debug, Default)]
pub struct Payload {
    pub terms: Option<TermSheetInput>,
    pub terms_hash: Option<String>,
    pub reason: Option<String>,
    pub effective_date: Option<NaiveDate>,
}

pub struct Transitioned {
    pub deal: DealRow,
    /// Execution advice after submit, counter and accept.
    pub advice: Option<ExecutionReport>,
    /// What changed, after a counter.
    pub changes: Vec<TermChange>,
    pub grant_id: Option<String>,
    pub grant_track_count: u64,
}

fn required_reason(reason: Option<&str>, field: &str) -> Result<String, DealError> {
    match reason.map(str::trim).filter(|r| !r.is_empty()) {
        Some(r) if r.chars().count() <= 2_000 => Ok(r.to_string()),
        Some(_) => Err(ValidationErrors::single(field, "must be at most 2,000 characters").into()),
        None => Err(ValidationErrors::single(field, "is required").into()),
    }
}

/// Applies one member action to a deal at `expected_version`.
pub fn transition(
    conn: &mut DbConnection,
    member: &Member,
    rules: &MarketRules,
    deal_id: &str,
    expected_version: i32,
    action: Action,
    payload: Payload,
) -> Result<Transitioned, DealError> {
    // Payload checks that need no database come first: a bad request changes nothing.
    let reason = match action {
        Action::Reject => Some(required_reason(payload.reason.as_deref(), "reason")?),
        Action::Terminate => Some(required_reason(payload.reason.as_deref(), "reason")?),
        Action::Withdraw => payload
            .reason
            .as_deref()
            .map(str::trim)
            .filter(|r| !r.is_empty())
            .map(str::to_string),
        _ => None,
    };
    if action == Action::Counter && payload.terms.is_none() {
        return Err(ValidationErrors::single("terms", "is required to counter").into());
    }
    if action == Action::Sign
        && payload
            .terms_hash
            .as_deref()
            .is_none_or(|h| h.trim().is_empty())
    {
        return Err(ValidationErrors::single(
            "terms_hash",
            "is required to sign: the hash of the agreed revision",
        )
        .into());
    }
    if action == Action::Terminate && payload.effective_date.is_none() {
        return Err(ValidationErrors::single("effective_date", "is required to terminate").into());
    }
    let at = now();
    // A respond-by that passed since the sweeper's last round counts now: the deal
    // expires (committed, with its notices) and the action is refused as from `expired`.
    if let Some(deal) = deals::find_deal_for_org(conn, &member.organization_id, deal_id)? {
        if deal.respond_by.is_some_and(|r| r <= at) && schedule::expire(conn, &deal.id, at)? {
            return Err(DealError::Refused(TransitionRefused {
                state: DealState::Expired,
                action,
                reason: Refusal::NotFromState,
                allowed: Vec::new(),
            }));
        }
    }
    write_transaction(conn, |conn| {
        let deal = deals::find_deal_for_org(conn, &member.organization_id, deal_id)?
            .ok_or(DealError::NotFound("deal"))?;
        if action == Action::Sign {
            // Every signature of this licensor queues here, so two executions can never
            // both pass the exclusivity check against a state without the other.
            lock_organization(conn, &deal.licensor_org_id)?;
        }
        // Re-read after the lock: what we check is what we change.
        let deal = deals::find_deal(conn, &deal.id)?.ok_or(DealError::NotFound("deal"))?;
        if deal.version != expected_version
            || !deals::claim_version(conn, &deal.id, expected_version)?
        {
            let current = deals::find_deal(conn, &deal.id)?.map_or(deal.version, |d| d.version);
            return Err(DealError::Stale {
                expected: expected_version,
                current,
            });
        }
        let party = party_of(&deal, &member.organization_id).ok_or(DealError::NotFound("deal"))?;
        let status = status_of(conn, &deal)?;
        let step = deal::apply(&status, &Actor::member(party, member.role), action)?;
        let (current_revision, current_sheet) = current_terms(conn, &deal)?;
        let mut outcome = Transitioned {
            deal: deal.clone(),
            advice: None,
            changes: Vec::new(),
            grant_id: None,
            grant_track_count: 0,
        };
        let mut respond_by = deal.respond_by;
        let mut expiring_notified = deal.expiring_notified;
        let mut revision_sheet = current_sheet.clone();
        match action {
            Action::Submit => {
                // Re-validated now: the holding or the clock may have moved since the draft.
                let input: TermSheetInput = serde_json::from_str(&current_revision.terms)
                    .map_err(|e| DbError::Corrupt(e.to_string()))?;
                parse_terms(conn, rules, &deal.licensor_org_id, &input)?;
                outcome.advice = Some(advise(conn, &deal.licensor_org_id, &current_sheet)?);
            }
            Action::Counter => {
                let input = payload
                    .terms
                    .as_ref()
                    .ok_or_else(|| ValidationErrors::single("terms", "is required"))?;
                let sheet = parse_terms(conn, rules, &deal.licensor_org_id, input)?;
                if sheet.hash() == current_revision.terms_hash {
                    return Err(ValidationErrors::single(
                        "terms",
                        "are identical to the current revision; a counter must change something",
                    )
                    .into());
                }
                outcome.changes = current_sheet.diff(&sheet);
                insert_revision(
                    conn,
                    &deal.id,
                    step.next.revision as i32,
                    party,
                    &member.user_id,
                    &sheet,
                    at,
                )?;
                if status.state == DealState::Agreed {
                    deals::void_signatures(conn, &deal.id, at)?;
                }
                respond_by = sheet.respond_by().map(|t| t.naive_utc());
                expiring_notified = false;
                outcome.advice = Some(advise(conn, &deal.licensor_org_id, &sheet)?);
                revision_sheet = sheet;
            }
            Action::Accept => {
                rules.check(&current_sheet)?;
                outcome.advice = Some(advise(conn, &deal.licensor_org_id, &current_sheet)?);
            }
            Action::Sign => {
                let hash = payload
                    .terms_hash
                    .as_deref()
                    .unwrap_or("")
                    .trim()
                    .to_lowercase();
                if hash != current_revision.terms_hash {
                    return Err(DealError::conflict(format!(
                        "terms_hash does not match the agreed revision {} (its hash is {})",
                        current_revision.number, current_revision.terms_hash
                    )));
                }
                // The rules in force now, not when the terms were agreed: a rule the
                // operator added since still refuses the signature (nothing is written).
                rules.check(&current_sheet)?;
                deals::insert_signature(
                    conn,
                    &SignatureRow {
                        id: new_id(),
                        deal_id: deal.id.clone(),
                        revision: current_revision.number,
                        party: party.as_str().to_string(),
                        user_id: member.user_id.clone(),
                        terms_hash: hash,
                        signed_at: at,
                        voided_at: None,
                    },
                )?;
                if step.executes() {
                    let plan = execution::plan(conn, &deal.licensor_org_id, &current_sheet)?;
                    let report = execution::check(conn, &plan)?;
                    if !report.is_clear() {
                        return Err(DealError::Conflict {
                            detail: format!("{}; nothing was signed", report.summary()),
                            report: Some(Box::new(report)),
                        });
                    }
                    let grant = execution::execute(
                        conn,
                        &deal,
                        &plan,
                        &current_sheet,
                        &current_revision.terms_hash,
                        at,
                    )?;
                    outcome.grant_id = Some(grant.id);
                    outcome.grant_track_count = plan.scope.tracks.len();
                    respond_by = None;
                }
            }
            Action::Terminate => {
                terminate_grant(conn, &deal, payload.effective_date, reason.as_deref(), at)?
            }
            Action::Reject | Action::Withdraw => respond_by = None,
            Action::Expire | Action::Complete => {}
        }
        let next = &step.next;
        let update = DealStatusUpdate {
            state: next.state.as_str().to_string(),
            turn: next.turn.map(|t| t.as_str().to_string()),
            revision: next.revision as i32,
            agreed_revision: next.agreed_revision.map(|r| r as i32),
            version: deal.version + 1,
            respond_by,
            expiring_notified,
            updated_at: at,
        };
        if !deals::update_status(conn, &deal.id, expected_version + 1, &update)? {
            let current = deals::find_deal(conn, &deal.id)?.map_or(expected_version, |d| d.version);
            return Err(DealError::Stale {
                expected: expected_version,
                current,
            });
        }
        let updated = deals::find_deal(conn, &deal.id)?.ok_or(DealError::NotFound("deal"))?;
        announce(
            conn,
            &updated,
            member,
            party,
            &step.events,
            &revision_sheet,
            &outcome,
            reason.as_deref(),
        )?;
        AuditEvent::new(audit_action(action), "deal", Some(&deal.id))
            .by(Some(&member.organization_id), Some(&member.user_id))
            .before(serde_json::json!({"state": deal.state, "revision": deal.revision, "version": deal.version}))
            .after(serde_json::json!({"state": updated.state, "revision": updated.revision, "version": updated.version, "grant_id": outcome.grant_id, "reason": reason}))
            .write(conn)?;
        outcome.deal = updated;
        Ok(outcome)
    })
}

fn audit_action(action: Action) -> &'static str {
    match action {
        Action::Submit => "deal.submitted",
        Action::Counter => "deal.countered",
        Action::Accept => "deal.accepted",
        Action::Reject => "deal.rejected",
        Action::Withdraw => "deal.withdrawn",
        Action::Sign => "deal.signed",
        Action::Terminate => "deal.terminated",
        Action::Expire => "deal.expired",
        Action::Complete => "deal.completed",
    }
}

/// Ends the grant early: its end date moves to the effective date (the tracks are
/// free again after it) and installments due after it that nothing was paid on are
/// cancelled.
fn terminate_grant(
    conn: &mut DbConnection,
    deal: &DealRow,
    effective: Option<NaiveDate>,
    reason: Option<&str>,
    at: chrono::NaiveDateTime,
) -> Result<(), DealError> {
    let effective =
        effective.ok_or_else(|| ValidationErrors::single("effective_date", "is required"))?;
    let grant = deals::find_grant_for_deal(conn, &deal.id)?.ok_or(DealError::NotFound("grant"))?;
    if effective < at.date() {
        return Err(ValidationErrors::single("effective_date", "must be today or later").into());
    }
    if effective > grant.end_date {
        return Err(ValidationErrors::single(
            "effective_date",
            format!(
                "must be on or before the grant's end date {}",
                grant.end_date
            ),
        )
        .into());
    }
    // The last licensed day is the day before the effective date, never before the start.
    let last_day = (effective - chrono::TimeDelta::days(1)).max(grant.start_date);
    deals::end_grant(
        conn,
        &grant.id,
        last_day,
        GrantStatus::Terminated,
        reason,
        at,
    )?;
    // Everything granted on from these rights loses its backing after the last day.
    let ended = deals::find_grant(conn, &grant.id)?.ok_or(DealError::NotFound("grant"))?;
    chain::grant_ended(conn, &ended, at)?;
    for installment in deals::installments_for_deal(conn, &deal.id)? {
        if installment.due_date >= effective
            && installment.paid_minor == 0
            && installment.status != "paid"
        {
            deals::set_installment(conn, &installment.id, 0, InstallmentStatus::Cancelled, at)?;
        }
    }
    Ok(())
}

/// Writes the timeline entries and the notifications for a transition's events.
#[allow(clippy::too_many_arguments)]
fn announce(
    conn: &mut DbConnection,
    deal: &DealRow,
    member: &Member,
    party: Party,
    events: &[DealEvent],
    sheet: &TermSheet,
    outcome: &Transitioned,
    reason: Option<&str>,
) -> Result<(), DealError> {
    let licensor = accounts::find_organization(conn, &deal.licensor_org_id)?
        .map(|o| o.name)
        .unwrap_or_default();
    let licensee = accounts::find_organization(conn, &deal.licensee_org_id)?
        .map(|o| o.name)
        .unwrap_or_default();
    let deal_ref = DealRef {
        id: deal.id.clone(),
        name: deal.name.clone(),
    };
    let actor = mail_event::Actor {
        name: member.name.clone(),
        organization: match party {
            Party::Licensor => licensor.clone(),
            Party::Licensee => licensee.clone(),
        },
    };
    let respond_by = deal.respond_by.map(|t| t.and_utc());
    for event in events {
        let (summary, mail, revision) =
            describe(event, &deal_ref, &actor, sheet, outcome, reason, respond_by);
        record_event(
            conn,
            deal,
            event.kind(),
            Some(party),
            Some(&member.user_id),
            revision.map(|r| r as i32),
            summary,
            serde_json::json!({"event": event, "changes": outcome.changes, "reason": reason, "grant_id": outcome.grant_id}),
        )?;
        if let Some(mail) = mail {
            let status = status_of(conn, deal)?;
            let acts = |p: Party| match status.state {
                DealState::Negotiating => status.turn == Some(p),
                DealState::Agreed => !status.has_signed(p),
                _ => false,
            };
            notifications::notify(
                conn,
                Notification {
                    event: &mail,
                    audiences: vec![
                        Audience {
                            organization_id: &deal.licensor_org_id,
                            counterparty: &licensee,
                            action_required: acts(Party::Licensor),
                        },
                        Audience {
                            organization_id: &deal.licensee_org_id,
                            counterparty: &licensor,
                            action_required: acts(Party::Licensee),
                        },
                    ],
                    actor_user_id: Some(&member.user_id),
                },
            )?;
        }
    }
    Ok(())
}

fn human_changes(changes: &[TermChange]) -> Vec<mail_event::TermChange> {
    let show = |v: &serde_json::Value| match v {
        serde_json::Value::Null => "—".to_string(),
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Array(items) => items
            .iter()
            .map(|i| match i {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .collect::<Vec<_>>()
            .join(", "),
        other => other.to_string(),
    };
    changes
        .iter()
        .map(|c| mail_event::TermChange {
            field: c.field.clone(),
            old: show(&c.old),
            new: show(&c.new),
        })
        .collect()
}

/// The timeline summary, the mail event (if one is sent) and the revision of a domain event.
fn describe(
    event: &DealEvent,
    deal: &DealRef,
    actor: &mail_event::Actor,
    sheet: &TermSheet,
    outcome: &Transitioned,
    reason: Option<&str>,
    respond_by: Option<DateTime<Utc>>,
) -> (String, Option<Event>, Option<u32>) {
    let who = format!("{} ({})", actor.name, actor.organization);
    match event {
        DealEvent::Submitted { revision, .. } => (
            format!("{who} submitted revision {revision}"),
            Some(Event::DealSubmitted {
                deal: deal.clone(),
                actor: actor.clone(),
                revision: *revision,
                respond_by,
            }),
            Some(*revision),
        ),
        DealEvent::Countered {
            revision, reopened, ..
        } => {
            let fields: Vec<&str> = outcome.changes.iter().map(|c| c.field.as_str()).collect();
            (
                format!(
                    "{who} countered with revision {revision}{}: changed {}",
                    if *reopened {
                        " (reopening the agreement; signatures voided)"
                    } else {
                        ""
                    },
                    fields.join(", ")
                ),
                Some(Event::DealCountered {
                    deal: deal.clone(),
                    actor: actor.clone(),
                    revision: *revision,
                    changes: human_changes(&outcome.changes),
                    respond_by,
                }),
                Some(*revision),
            )
        }
        DealEvent::Accepted { revision, .. } => (
            format!("{who} accepted revision {revision} (hash {})", sheet.hash()),
            Some(Event::DealAccepted {
                deal: deal.clone(),
                actor: actor.clone(),
                revision: *revision,
            }),
            Some(*revision),
        ),
        DealEvent::Rejected { .. } => (
            format!("{who} rejected the deal: {}", reason.unwrap_or("")),
            Some(Event::DealRejected {
                deal: deal.clone(),
                actor: actor.clone(),
                reason: reason.map(str::to_string),
            }),
            None,
        ),
        DealEvent::Withdrawn { from, .. } => (
            format!(
                "{who} withdrew the deal from {}{}",
                from.as_str(),
                reason.map(|r| format!(": {r}")).unwrap_or_default()
            ),
            // A draft was never shown to the counterparty: nobody to tell.
            (*from != DealState::Draft).then(|| Event::DealWithdrawn {
                deal: deal.clone(),
                actor: actor.clone(),
                reason: reason.map(str::to_string),
            }),
            None,
        ),
        DealEvent::Signed { revision, .. } => (
            format!("{who} signed revision {revision}"),
            Some(Event::DealSigned {
                deal: deal.clone(),
                actor: actor.clone(),
                revision: *revision,
            }),
            Some(*revision),
        ),
        DealEvent::Executed { revision } => (
            format!(
                "executed: grant {} of {} tracks recorded with its payment schedule",
                outcome.grant_id.as_deref().unwrap_or(""),
                outcome.grant_track_count
            ),
            outcome
                .grant_id
                .as_ref()
                .map(|grant_id| Event::DealExecuted {
                    deal: deal.clone(),
                    grant_id: grant_id.clone(),
                    track_count: outcome.grant_track_count,
                    territories: sheet.territories().to_list(),
                    start_date: sheet.period().start,
                    end_date: sheet.period().end,
                }),
            Some(*revision),
        ),
        DealEvent::Terminated { .. } => (
            format!("{who} terminated the deal: {}", reason.unwrap_or("")),
            Some(Event::DealTerminated {
                deal: deal.clone(),
                actor: actor.clone(),
                reason: reason.map(str::to_string),
            }),
            None,
        ),
        DealEvent::Expired { from } => (
            format!("expired in {} (respond-by passed)", from.as_str()),
            None,
            None,
        ),
        DealEvent::Completed => ("completed: the term ended".to_string(), None, None),
    }
}

/// A deal as its parties see it.
#[derive(Debug)]
pub struct DealDetail {
    pub deal: DealRow,
    pub status: DealStatus,
    pub revision: RevisionRow,
    pub signatures: Vec<SignatureRow>,
    pub grant_id: Option<String>,
    pub your_party: Party,
    pub allowed_actions: Vec<Action>,
}

pub fn detail(
    conn: &mut DbConnection,
    member: &Member,
    deal_id: &str,
) -> Result<DealDetail, DealError> {
    let deal = deals::find_deal_for_org(conn, &member.organization_id, deal_id)?
        .ok_or(DealError::NotFound("deal"))?;
    detail_of(conn, member, deal)
}

pub fn detail_of(
    conn: &mut DbConnection,
    member: &Member,
    deal: DealRow,
) -> Result<DealDetail, DealError> {
    let party = party_of(&deal, &member.organization_id).ok_or(DealError::NotFound("deal"))?;
    let status = status_of(conn, &deal)?;
    let revision = deals::find_revision(conn, &deal.id, deal.revision)?
        .ok_or(DealError::NotFound("revision"))?;
    let signatures = match deal.agreed_revision {
        Some(r) => deals::signatures_for(conn, &deal.id, r)?,
        None => Vec::new(),
    };
    let grant_id = deals::find_grant_for_deal(conn, &deal.id)?.map(|g| g.id);
    let allowed_actions = deal::allowed_actions(&status, &Actor::member(party, member.role));
    Ok(DealDetail {
        deal,
        status,
        revision,
        signatures,
        grant_id,
        your_party: party,
        allowed_actions,
    })
}
