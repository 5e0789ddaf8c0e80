//! The negotiation state machine of a deal, as pure functions. The prose
//! description (one place for all docs) is `docs/negotiation.md` § The state machine.
//!
//! ```text
//! draft               ─submit (opener) ──────────▶ negotiating, turn = counterparty
//! draft               ─withdraw (opener) ────────▶ withdrawn ("discard")
//! negotiating         ─counter (on turn) ────────▶ negotiating, turn flips, revision + 1
//! negotiating         ─accept (on turn) ─────────▶ agreed, agreed_revision = revision
//! negotiating         ─reject (on turn) ─────────▶ rejected
//! agreed              ─sign (once per party) ────▶ agreed; executed on the second signature
//! agreed              ─counter (either party) ───▶ negotiating, signatures voided, revision + 1
//! negotiating, agreed ─withdraw (either party) ──▶ withdrawn
//! negotiating, agreed ─expire (system) ──────────▶ expired
//! executed            ─terminate (either party) ─▶ terminated
//! executed            ─complete (system) ────────▶ completed
//! ```
//!
//! Who may do what; a member's role must include the action's
//! [`Action::required_role`] (negotiator for submit, counter, accept, reject
//! and withdraw; signer for sign and terminate; owner includes both):
//!
//! - **draft**: the opening party submits (revision 1 goes to the
//!   counterparty, whose turn it then is) or withdraws, which discards the
//!   draft. The counterparty can do nothing to a draft: it has not been asked
//!   anything yet. Drafts do not expire, for the same reason.
//! - **negotiating**: the party on turn counters (a new revision; the turn
//!   flips), accepts (the current revision, proposed by the other side,
//!   becomes the agreed one) or rejects. Either party may withdraw. The system
//!   expires it once the current revision's `respond_by` has passed.
//! - **agreed**: each party's signer (or owner) signs once; the second
//!   signature executes the deal. Either party may counter, since there is no
//!   turn once agreed and either side may want to reopen; that voids every
//!   signature. Either party may withdraw; the system may expire it.
//! - **executed**: either party's signer (or owner) terminates; the system
//!   completes it when the term has ended.
//!
//! Terminal states (completed, terminated, rejected, withdrawn, expired) accept nothing.
//! A viewer may do nothing.
//!
//! What the domain does *not* decide, and the caller must:
//! - whether the `terms_hash` sent with `sign` is the hash of revision `agreed_revision`
//!   (the caller maps the hash to a revision; a mismatch is refused before calling [`apply`]);
//! - whether execution may happen: [`Transition::executes`] says "this signature completes
//!   execution"; the database layer then runs the holding and conflict checks, and may refuse the
//!   signature (writing nothing);
//! - whether `respond_by` has passed (for `expire`) or the term has ended (for `complete`).

use crate::domain::role::Role;
use crate::domain::stored::stored_enum;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::fmt;

/// Where a deal is in its life.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum DealState {
    /// Terms written by the opening party, not yet sent to the counterparty.
    Draft,
    /// Terms on the table; the party on `turn` must answer.
    Negotiating,
    /// Both sides agreed on one revision; awaiting the two signatures.
    Agreed,
    /// Signed by both; the grant and payment schedule exist.
    Executed,
    /// The term ended normally (terminal).
    Completed,
    /// Ended early by one party after execution (terminal).
    Terminated,
    /// The party on turn refused the terms (terminal).
    Rejected,
    /// A party walked away before execution, or the opener discarded a draft (terminal).
    Withdrawn,
    /// The respond-by instant passed with no answer (terminal).
    Expired,
}

stored_enum! {
    DealState {
        Draft = "draft",
        Negotiating = "negotiating",
        Agreed = "agreed",
        Executed = "executed",
        Completed = "completed",
        Terminated = "terminated",
        Rejected = "rejected",
        Withdrawn = "withdrawn",
        Expired = "expired",
    }
    unknown struct UnknownDealState = "unknown deal state `{0}`"
}

impl DealState {
    /// No action is accepted any more.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            DealState::Completed
                | DealState::Terminated
                | DealState::Rejected
                | DealState::Withdrawn
                | DealState::Expired
        )
    }

    /// Not yet executed and not ended: the deal can still be withdrawn.
    pub fn is_open(self) -> bool {
        matches!(
            self,
            DealState::Draft | DealState::Negotiating | DealState::Agreed
        )
    }
}

/// One side of a deal.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Party {
    /// Grants the rights and receives the money.
    Licensor,
    /// Receives the rights and pays.
    Licensee,
}

stored_enum! {
    Party { Licensor = "licensor", Licensee = "licensee" }
    unknown struct UnknownParty = "unknown party `{0}`: expected licensor or licensee"
}

impl Party {
    pub fn other(self) -> Party {
        match self {
            Party::Licensor => Party::Licensee,
            Party::Licensee => Party::Licensor,
        }
    }
}

/// What someone (or the system) asks to do to a deal.
///
/// Discarding a draft is `withdraw` from `draft`: one verb for "walk away before execution".
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Submit,
    Accept,
    Sign,
    Counter,
    Reject,
    Withdraw,
    Terminate,
    Complete,
    Expire,
}

stored_enum! {
    // Also the order in which allowed actions are listed: the move that advances the deal first.
    Action {
        Submit = "submit",
        Accept = "accept",
        Sign = "sign",
        Counter = "counter",
        Reject = "reject",
        Withdraw = "withdraw",
        Terminate = "terminate",
        Complete = "complete",
        Expire = "expire",
    }
    unknown struct UnknownAction = "unknown deal action `{0}`"
}

impl Action {
    /// Taken by Cadenza itself (a scheduler), never by a user.
    pub fn is_system(self) -> bool {
        matches!(self, Action::Complete | Action::Expire)
    }

    /// The least role a member needs; `None` for system actions.
    pub fn required_role(self) -> Option<Role> {
        match self {
            Action::Submit
            | Action::Accept
            | Action::Counter
            | Action::Reject
            | Action::Withdraw => Some(Role::Negotiator),
            Action::Sign | Action::Terminate => Some(Role::Signer),
            Action::Complete | Action::Expire => None,
        }
    }
}

/// Who acts: a member of one party's organization with their role, or Cadenza itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Actor {
    Member {
        party: Party,
        role: Role,
    },
    /// Scheduled transitions (expire, complete) that no user triggers.
    System,
}

impl Actor {
    pub fn member(party: Party, role: Role) -> Actor {
        Actor::Member { party, role }
    }

    pub fn party(self) -> Option<Party> {
        match self {
            Actor::Member { party, .. } => Some(party),
            Actor::System => None,
        }
    }
}

/// The negotiation state of one deal: everything the rules need, nothing else.
///
/// Consistency (checked by [`DealStatus::is_consistent`]):
/// - `revision` ≥ 1 is the current term-sheet revision; a draft is always revision 1;
/// - `turn` is `Some` exactly in `negotiating`;
/// - `agreed_revision` is `Some(revision)` from `agreed` on (and kept by what follows it), `None`
///   in draft, negotiating and rejected;
/// - `signed_by` is empty unless a revision is agreed; both parties have signed exactly in
///   executed, completed and terminated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DealStatus {
    pub state: DealState,
    /// The party that created the deal (and alone may submit or discard the draft).
    pub opened_by: Party,
    /// The party that must answer; only while negotiating.
    pub turn: Option<Party>,
    /// The current term-sheet revision: 1 at opening, +1 per counter.
    pub revision: u32,
    /// The revision both parties accepted; the one signatures are for.
    pub agreed_revision: Option<u32>,
    /// Parties whose signer signed `agreed_revision`.
    #[schema(value_type = Vec<Party>)]
    pub signed_by: BTreeSet<Party>,
}

impl DealStatus {
    /// A new draft at revision 1, opened by `opened_by`.
    pub fn draft(opened_by: Party) -> DealStatus {
        DealStatus {
            state: DealState::Draft,
            opened_by,
            turn: None,
            revision: 1,
            agreed_revision: None,
            signed_by: BTreeSet::new(),
        }
    }

    pub fn has_signed(&self, party: Party) -> bool {
        self.signed_by.contains(&party)
    }

    /// Whether this status is one the machine can reach (see the type's doc).
    /// Useful to check a status rebuilt from storage.
    pub fn is_consistent(&self) -> bool {
        let agreed_current = self.agreed_revision == Some(self.revision);
        let both_signed = Party::ALL.iter().all(|p| self.signed_by.contains(p));
        let basics = self.revision >= 1
            && (self.turn.is_some() == (self.state == DealState::Negotiating))
            && (self.agreed_revision.is_none() || agreed_current)
            && (self.signed_by.is_empty() || self.agreed_revision.is_some());
        basics
            && match self.state {
                DealState::Draft => {
                    self.revision == 1
                        && self.agreed_revision.is_none()
                        && self.signed_by.is_empty()
                }
                DealState::Negotiating | DealState::Rejected => {
                    self.agreed_revision.is_none() && self.signed_by.is_empty()
                }
                DealState::Agreed => agreed_current && !both_signed,
                DealState::Executed | DealState::Completed | DealState::Terminated => {
                    agreed_current && both_signed
                }
                // Kept as they were when the deal ended (e.g. "expired awaiting the licensee's
                // signature"); never both signatures, or it would have executed.
                DealState::Withdrawn | DealState::Expired => !both_signed,
            }
    }
}

/// What happened, for the audit trail, notifications and the deal timeline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum DealEvent {
    /// The opener sent revision 1 to the counterparty.
    Submitted {
        by: Party,
        revision: u32,
    },
    /// `by` proposed `revision`; `reopened` when it undid an agreement (and its signatures).
    Countered {
        by: Party,
        revision: u32,
        reopened: bool,
    },
    /// `by` accepted `revision`, which becomes the agreed revision.
    Accepted {
        by: Party,
        revision: u32,
    },
    Rejected {
        by: Party,
    },
    /// `from` is `draft` when the opener discarded a draft (no one else need hear of it).
    Withdrawn {
        by: Party,
        from: DealState,
    },
    /// `by`'s signer signed `revision` (the agreed one).
    Signed {
        by: Party,
        revision: u32,
    },
    /// The second signature landed: rights and money transfer are recorded.
    Executed {
        revision: u32,
    },
    Expired {
        from: DealState,
    },
    Terminated {
        by: Party,
    },
    Completed,
}

impl DealEvent {
    /// The event kind as notifications and settings name it.
    pub fn kind(&self) -> &'static str {
        match self {
            DealEvent::Submitted { .. } => "submitted",
            DealEvent::Countered { .. } => "countered",
            DealEvent::Accepted { .. } => "accepted",
            DealEvent::Rejected { .. } => "rejected",
            DealEvent::Withdrawn { .. } => "withdrawn",
            DealEvent::Signed { .. } => "signed",
            DealEvent::Executed { .. } => "executed",
            DealEvent::Expired { .. } => "expired",
            DealEvent::Terminated { .. } => "terminated",
            DealEvent::Completed => "completed",
        }
    }
}

/// An allowed transition: the status to store and the events to record with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    pub next: DealStatus,
    pub events: Vec<DealEvent>,
}

impl Transition {
    /// This transition is the signature that completes execution: the caller must run the
    /// execution checks in the same transaction and refuse the signature if they fail.
    pub fn executes(&self) -> bool {
        self.events
            .iter()
            .any(|e| matches!(e, DealEvent::Executed { .. }))
    }
}

/// Why one actor may not take one action now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum Refusal {
    /// The action is not a transition out of this state (for anyone).
    NotFromState,
    /// The actor's role does not include the action (the HTTP layer may answer 403 for it).
    RoleTooLow { required: Role },
    /// Only the party on turn may counter, accept or reject while negotiating.
    NotYourTurn { turn: Party },
    /// Only the party that opened the deal may submit or discard its draft.
    NotOpener { opened_by: Party },
    /// Each party signs an agreed revision once.
    AlreadySigned,
    /// Expire and complete are Cadenza's own, scheduled transitions.
    SystemOnly,
    /// The system takes no user action.
    NotASystemAction,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::NotFromState => f.write_str("not possible from this state"),
            Refusal::RoleTooLow { required } => write!(f, "requires the {required} role"),
            Refusal::NotYourTurn { turn } => write!(f, "it is the {turn}'s turn"),
            Refusal::NotOpener { opened_by } => {
                write!(f, "only the {opened_by}, who opened the deal, may do this")
            }
            Refusal::AlreadySigned => f.write_str("your side has already signed"),
            Refusal::SystemOnly => f.write_str("only Cadenza itself does this"),
            Refusal::NotASystemAction => f.write_str("not a system action"),
        }
    }
}

/// A refused transition. Displays as the 409 detail: "deal is `agreed`; allowed: sign, counter,
/// withdraw" (the actions *this actor* may take now; `none` when there are none).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("deal is `{state}`; allowed: {}", list_actions(.allowed))]
pub struct TransitionRefused {
    pub state: DealState,
    pub action: Action,
    pub reason: Refusal,
    pub allowed: Vec<Action>,
}

fn list_actions(actions: &[Action]) -> String {
    if actions.is_empty() {
        return "none".to_string();
    }
    actions
        .iter()
        .map(|a| a.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Whether `actor` may take `action` from `status`; the single source of the rules, so that
/// [`apply`] and [`allowed_actions`] can never disagree.
fn check(status: &DealStatus, actor: &Actor, action: Action) -> Result<(), Refusal> {
    use DealState as S;
    let from_state = matches!(
        (status.state, action),
        (S::Draft, Action::Submit | Action::Withdraw)
            | (
                S::Negotiating,
                Action::Counter
                    | Action::Accept
                    | Action::Reject
                    | Action::Withdraw
                    | Action::Expire
            )
            | (
                S::Agreed,
                Action::Sign | Action::Counter | Action::Withdraw | Action::Expire
            )
            | (S::Executed, Action::Terminate | Action::Complete)
    );
    if !from_state {
        return Err(Refusal::NotFromState);
    }
    let party = match (*actor, action.required_role()) {
        (Actor::System, None) => return Ok(()),
        (Actor::System, Some(_)) => return Err(Refusal::NotASystemAction),
        (Actor::Member { .. }, None) => return Err(Refusal::SystemOnly),
        (Actor::Member { party, role }, Some(required)) => {
            if !role.includes(required) {
                return Err(Refusal::RoleTooLow { required });
            }
            party
        }
    };
    match (status.state, action) {
        (S::Draft, _) if party != status.opened_by => Err(Refusal::NotOpener {
            opened_by: status.opened_by,
        }),
        (S::Negotiating, Action::Counter | Action::Accept | Action::Reject) => match status.turn {
            Some(turn) if turn != party => Err(Refusal::NotYourTurn { turn }),
            _ => Ok(()),
        },
        (S::Agreed, Action::Sign) if status.has_signed(party) => Err(Refusal::AlreadySigned),
        _ => Ok(()),
    }
}

/// The actions `actor` may take now, in [`Action::ALL`] order.
pub fn allowed_actions(status: &DealStatus, actor: &Actor) -> Vec<Action> {
    Action::ALL
        .into_iter()
        .filter(|a| check(status, actor, *a).is_ok())
        .collect()
}

/// Applies `action` by `actor` to `status`: the next status and its events, or why not.
pub fn apply(
    status: &DealStatus,
    actor: &Actor,
    action: Action,
) -> Result<Transition, TransitionRefused> {
    check(status, actor, action).map_err(|reason| TransitionRefused {
        state: status.state,
        action,
        reason,
        allowed: allowed_actions(status, actor),
    })?;
    let mut next = status.clone();
    let mut events = Vec::with_capacity(2);
    // `check` guarantees a member for every user action, so the fallback is never used.
    let by = actor.party().unwrap_or(status.opened_by);
    match action {
        Action::Submit => {
            next.state = DealState::Negotiating;
            next.turn = Some(by.other());
            events.push(DealEvent::Submitted {
                by,
                revision: next.revision,
            });
        }
        Action::Counter => {
            let reopened = status.state == DealState::Agreed;
            next.state = DealState::Negotiating;
            next.turn = Some(by.other());
            // 2^32 counters cannot happen; saturating keeps this total without a panic path.
            next.revision = status.revision.saturating_add(1);
            next.agreed_revision = None;
            next.signed_by.clear();
            events.push(DealEvent::Countered {
                by,
                revision: next.revision,
                reopened,
            });
        }
        Action::Accept => {
            next.state = DealState::Agreed;
            next.turn = None;
            next.agreed_revision = Some(status.revision);
            events.push(DealEvent::Accepted {
                by,
                revision: status.revision,
            });
        }
        Action::Reject => {
            next.state = DealState::Rejected;
            next.turn = None;
            events.push(DealEvent::Rejected { by });
        }
        Action::Withdraw => {
            next.state = DealState::Withdrawn;
            next.turn = None;
            events.push(DealEvent::Withdrawn {
                by,
                from: status.state,
            });
        }
        Action::Sign => {
            let revision = status.revision;
            next.signed_by.insert(by);
            events.push(DealEvent::Signed { by, revision });
            if Party::ALL.iter().all(|p| next.signed_by.contains(p)) {
                next.state = DealState::Executed;
                events.push(DealEvent::Executed { revision });
            }
        }
        Action::Terminate => {
            next.state = DealState::Terminated;
            events.push(DealEvent::Terminated { by });
        }
        Action::Complete => {
            next.state = DealState::Completed;
            events.push(DealEvent::Completed);
        }
        Action::Expire => {
            next.state = DealState::Expired;
            next.turn = None;
            events.push(DealEvent::Expired { from: status.state });
        }
    }
    Ok(Transition { next, events })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const LR: Party = Party::Licensor;
    const LE: Party = Party::Licensee;

    fn neg(p: Party) -> Actor {
        Actor::member(p, Role::Negotiator)
    }
    fn signer(p: Party) -> Actor {
        Actor::member(p, Role::Signer)
    }
    fn owner(p: Party) -> Actor {
        Actor::member(p, Role::Owner)
    }
    fn viewer(p: Party) -> Actor {
        Actor::member(p, Role::Viewer)
    }

    fn ok(status: &DealStatus, actor: Actor, action: Action) -> Transition {
        match apply(status, &actor, action) {
            Ok(t) => {
                assert!(t.next.is_consistent(), "{:?}", t.next);
                t
            }
            Err(e) => panic!(
                "{action} by {actor:?} from {status:?} refused: {e} ({:?})",
                e.reason
            ),
        }
    }

    fn refused(status: &DealStatus, actor: Actor, action: Action) -> TransitionRefused {
        match apply(status, &actor, action) {
            Ok(t) => panic!("{action} by {actor:?} from {status:?} allowed: {t:?}"),
            Err(e) => {
                assert_eq!(e.state, status.state);
                assert_eq!(e.action, action);
                assert_eq!(e.allowed, allowed_actions(status, &actor));
                e
            }
        }
    }

    /// Licensor opened and submitted: licensee on turn, revision 1.
    fn negotiating() -> DealStatus {
        ok(&DealStatus::draft(LR), neg(LR), Action::Submit).next
    }

    /// Licensee accepted revision 1.
    fn agreed() -> DealStatus {
        ok(&negotiating(), neg(LE), Action::Accept).next
    }

    fn executed() -> DealStatus {
        let one = ok(&agreed(), signer(LR), Action::Sign).next;
        ok(&one, signer(LE), Action::Sign).next
    }

    fn in_state(state: DealState) -> DealStatus {
        match state {
            DealState::Draft => DealStatus::draft(LR),
            DealState::Negotiating => negotiating(),
            DealState::Agreed => agreed(),
            DealState::Executed => executed(),
            DealState::Completed => ok(&executed(), Actor::System, Action::Complete).next,
            DealState::Terminated => ok(&executed(), signer(LE), Action::Terminate).next,
            DealState::Rejected => ok(&negotiating(), neg(LE), Action::Reject).next,
            DealState::Withdrawn => ok(&negotiating(), neg(LR), Action::Withdraw).next,
            DealState::Expired => ok(&negotiating(), Actor::System, Action::Expire).next,
        }
    }

    fn all_actors() -> Vec<Actor> {
        let mut actors = vec![Actor::System];
        for p in Party::ALL {
            for r in Role::ALL {
                actors.push(Actor::member(p, r));
            }
        }
        actors
    }

    #[test]
    fn names_round_trip() {
        for s in DealState::ALL {
            assert_eq!(s.as_str().parse::<DealState>(), Ok(s));
            assert_eq!(
                serde_json::to_value(s).unwrap(),
                serde_json::json!(s.as_str())
            );
        }
        for p in Party::ALL {
            assert_eq!(p.as_str().parse::<Party>(), Ok(p));
            assert_eq!(p.other().other(), p);
            assert_ne!(p.other(), p);
        }
        for a in Action::ALL {
            assert_eq!(a.as_str().parse::<Action>(), Ok(a));
            assert_eq!(
                serde_json::to_value(a).unwrap(),
                serde_json::json!(a.as_str())
            );
        }
        assert!("discard".parse::<Action>().is_err());
        assert!("open".parse::<DealState>().is_err());
        assert!("buyer".parse::<Party>().is_err());
    }

    #[test]
    fn a_new_draft_is_consistent_revision_one() {
        for p in Party::ALL {
            let d = DealStatus::draft(p);
            assert!(d.is_consistent());
            assert_eq!(d.revision, 1);
            assert_eq!(d.turn, None);
        }
    }

    #[test]
    fn submit_hands_the_turn_to_the_counterparty() {
        for opener in Party::ALL {
            let t = ok(&DealStatus::draft(opener), neg(opener), Action::Submit);
            assert_eq!(t.next.state, DealState::Negotiating);
            assert_eq!(t.next.turn, Some(opener.other()));
            assert_eq!(t.next.revision, 1);
            assert_eq!(
                t.events,
                vec![DealEvent::Submitted {
                    by: opener,
                    revision: 1
                }]
            );
        }
    }

    #[test]
    fn only_the_opener_submits_or_discards_a_draft() {
        let d = DealStatus::draft(LR);
        for action in [Action::Submit, Action::Withdraw] {
            let e = refused(&d, owner(LE), action);
            assert_eq!(e.reason, Refusal::NotOpener { opened_by: LR });
            assert!(e.allowed.is_empty());
        }
    }

    #[test]
    fn discarding_a_draft_is_withdraw() {
        let t = ok(&DealStatus::draft(LE), neg(LE), Action::Withdraw);
        assert_eq!(t.next.state, DealState::Withdrawn);
        assert_eq!(
            t.events,
            vec![DealEvent::Withdrawn {
                by: LE,
                from: DealState::Draft
            }]
        );
    }

    #[test]
    fn draft_refuses_everything_else() {
        let d = DealStatus::draft(LR);
        for action in [
            Action::Accept,
            Action::Sign,
            Action::Counter,
            Action::Reject,
            Action::Terminate,
        ] {
            let e = refused(&d, owner(LR), action);
            assert_eq!(e.reason, Refusal::NotFromState);
            assert_eq!(e.allowed, vec![Action::Submit, Action::Withdraw]);
        }
        // Drafts do not expire: nobody has been asked to respond yet.
        assert_eq!(
            refused(&d, Actor::System, Action::Expire).reason,
            Refusal::NotFromState
        );
    }

    #[test]
    fn counter_flips_the_turn_and_bumps_the_revision() {
        let n = negotiating();
        let t = ok(&n, neg(LE), Action::Counter);
        assert_eq!(t.next.state, DealState::Negotiating);
        assert_eq!(t.next.turn, Some(LR));
        assert_eq!(t.next.revision, 2);
        assert_eq!(
            t.events,
            vec![DealEvent::Countered {
                by: LE,
                revision: 2,
                reopened: false
            }]
        );
        let t2 = ok(&t.next, neg(LR), Action::Counter);
        assert_eq!(t2.next.turn, Some(LE));
        assert_eq!(t2.next.revision, 3);
    }

    #[test]
    fn only_the_party_on_turn_counters_accepts_or_rejects() {
        let n = negotiating();
        for action in [Action::Counter, Action::Accept, Action::Reject] {
            let e = refused(&n, owner(LR), action);
            assert_eq!(e.reason, Refusal::NotYourTurn { turn: LE });
            assert_eq!(e.allowed, vec![Action::Withdraw]);
        }
        assert_eq!(
            allowed_actions(&n, &neg(LE)),
            vec![
                Action::Accept,
                Action::Counter,
                Action::Reject,
                Action::Withdraw
            ]
        );
    }

    #[test]
    fn accept_freezes_the_current_revision() {
        let n = ok(&negotiating(), neg(LE), Action::Counter).next;
        let t = ok(&n, neg(LR), Action::Accept);
        assert_eq!(t.next.state, DealState::Agreed);
        assert_eq!(t.next.turn, None);
        assert_eq!(t.next.agreed_revision, Some(2));
        assert_eq!(
            t.events,
            vec![DealEvent::Accepted {
                by: LR,
                revision: 2
            }]
        );
    }

    #[test]
    fn reject_ends_the_deal() {
        let t = ok(&negotiating(), neg(LE), Action::Reject);
        assert_eq!(t.next.state, DealState::Rejected);
        assert_eq!(t.next.turn, None);
        assert_eq!(t.events, vec![DealEvent::Rejected { by: LE }]);
    }

    #[test]
    fn either_party_withdraws_an_open_deal() {
        for state in [DealState::Negotiating, DealState::Agreed] {
            for p in Party::ALL {
                let t = ok(&in_state(state), neg(p), Action::Withdraw);
                assert_eq!(t.next.state, DealState::Withdrawn);
                assert_eq!(t.events, vec![DealEvent::Withdrawn { by: p, from: state }]);
            }
        }
        // Withdrawal after one signature keeps the record of who had signed.
        let one = ok(&agreed(), signer(LR), Action::Sign).next;
        let w = ok(&one, neg(LE), Action::Withdraw).next;
        assert!(w.has_signed(LR));
    }

    #[test]
    fn signing_takes_both_parties_and_the_second_executes() {
        let a = agreed();
        let first = ok(&a, signer(LE), Action::Sign);
        assert_eq!(first.next.state, DealState::Agreed);
        assert!(!first.executes());
        assert_eq!(
            first.events,
            vec![DealEvent::Signed {
                by: LE,
                revision: 1
            }]
        );
        let e = refused(&first.next, owner(LE), Action::Sign);
        assert_eq!(e.reason, Refusal::AlreadySigned);
        assert_eq!(e.allowed, vec![Action::Counter, Action::Withdraw]);
        let second = ok(&first.next, owner(LR), Action::Sign);
        assert!(second.executes());
        assert_eq!(second.next.state, DealState::Executed);
        assert_eq!(
            second.events,
            vec![
                DealEvent::Signed {
                    by: LR,
                    revision: 1
                },
                DealEvent::Executed { revision: 1 }
            ]
        );
    }

    #[test]
    fn only_signers_and_owners_sign_or_terminate() {
        let e = refused(&agreed(), neg(LR), Action::Sign);
        assert_eq!(
            e.reason,
            Refusal::RoleTooLow {
                required: Role::Signer
            }
        );
        assert_eq!(
            e.to_string(),
            "deal is `agreed`; allowed: counter, withdraw"
        );
        assert_eq!(
            allowed_actions(&agreed(), &signer(LR)),
            vec![Action::Sign, Action::Counter, Action::Withdraw]
        );
        let e = refused(&executed(), neg(LE), Action::Terminate);
        assert_eq!(
            e.reason,
            Refusal::RoleTooLow {
                required: Role::Signer
            }
        );
        assert_eq!(e.to_string(), "deal is `executed`; allowed: none");
    }

    #[test]
    fn refusal_message_names_state_and_allowed_actions() {
        let e = refused(&agreed(), signer(LE), Action::Accept);
        assert_eq!(e.reason, Refusal::NotFromState);
        assert_eq!(
            e.to_string(),
            "deal is `agreed`; allowed: sign, counter, withdraw"
        );
    }

    #[test]
    fn counter_from_agreed_reopens_and_voids_signatures() {
        for p in Party::ALL {
            let one = ok(&agreed(), signer(LR), Action::Sign).next;
            let t = ok(&one, neg(p), Action::Counter);
            assert_eq!(t.next.state, DealState::Negotiating);
            assert_eq!(t.next.turn, Some(p.other()));
            assert_eq!(t.next.revision, 2);
            assert_eq!(t.next.agreed_revision, None);
            assert!(t.next.signed_by.is_empty());
            assert_eq!(
                t.events,
                vec![DealEvent::Countered {
                    by: p,
                    revision: 2,
                    reopened: true
                }]
            );
        }
    }

    #[test]
    fn executed_ends_by_termination_or_completion() {
        for p in Party::ALL {
            let t = ok(&executed(), signer(p), Action::Terminate);
            assert_eq!(t.next.state, DealState::Terminated);
            assert_eq!(t.events, vec![DealEvent::Terminated { by: p }]);
        }
        let t = ok(&executed(), Actor::System, Action::Complete);
        assert_eq!(t.next.state, DealState::Completed);
        assert_eq!(t.events, vec![DealEvent::Completed]);
        for action in [
            Action::Counter,
            Action::Withdraw,
            Action::Sign,
            Action::Accept,
        ] {
            assert_eq!(
                refused(&executed(), owner(LR), action).reason,
                Refusal::NotFromState
            );
        }
        assert_eq!(
            refused(&executed(), Actor::System, Action::Expire).reason,
            Refusal::NotFromState
        );
    }

    #[test]
    fn expire_is_system_only_from_negotiating_and_agreed() {
        for state in [DealState::Negotiating, DealState::Agreed] {
            let t = ok(&in_state(state), Actor::System, Action::Expire);
            assert_eq!(t.next.state, DealState::Expired);
            assert_eq!(t.next.turn, None);
            assert_eq!(t.events, vec![DealEvent::Expired { from: state }]);
            assert_eq!(
                refused(&in_state(state), owner(LR), Action::Expire).reason,
                Refusal::SystemOnly
            );
        }
        assert_eq!(
            refused(&executed(), owner(LR), Action::Complete).reason,
            Refusal::SystemOnly
        );
        assert_eq!(
            refused(&negotiating(), Actor::System, Action::Withdraw).reason,
            Refusal::NotASystemAction
        );
        assert_eq!(
            allowed_actions(&agreed(), &Actor::System),
            vec![Action::Expire]
        );
        assert_eq!(
            allowed_actions(&executed(), &Actor::System),
            vec![Action::Complete]
        );
    }

    #[test]
    fn viewers_may_do_nothing() {
        for state in DealState::ALL {
            for p in Party::ALL {
                assert!(allowed_actions(&in_state(state), &viewer(p)).is_empty());
            }
        }
        let e = refused(&negotiating(), viewer(LE), Action::Accept);
        assert_eq!(
            e.reason,
            Refusal::RoleTooLow {
                required: Role::Negotiator
            }
        );
    }

    #[test]
    fn negotiators_never_sign_or_terminate() {
        for state in DealState::ALL {
            for p in Party::ALL {
                let allowed = allowed_actions(&in_state(state), &neg(p));
                assert!(!allowed.contains(&Action::Sign));
                assert!(!allowed.contains(&Action::Terminate));
            }
        }
    }

    #[test]
    fn owners_may_do_whatever_signers_may() {
        for state in DealState::ALL {
            for p in Party::ALL {
                let s = in_state(state);
                assert_eq!(
                    allowed_actions(&s, &owner(p)),
                    allowed_actions(&s, &signer(p))
                );
            }
        }
    }

    #[test]
    fn terminal_states_accept_nothing() {
        for state in DealState::ALL.into_iter().filter(|s| s.is_terminal()) {
            let s = in_state(state);
            assert!(s.is_consistent());
            for actor in all_actors() {
                assert!(allowed_actions(&s, &actor).is_empty());
                for action in Action::ALL {
                    let e = refused(&s, actor, action);
                    assert!(e.allowed.is_empty());
                    assert_eq!(e.to_string(), format!("deal is `{state}`; allowed: none"));
                }
            }
        }
    }

    #[test]
    fn open_and_terminal_partition_the_states() {
        for s in DealState::ALL {
            let executed = s == DealState::Executed;
            assert_eq!(
                [s.is_open(), s.is_terminal(), executed]
                    .iter()
                    .filter(|b| **b)
                    .count(),
                1,
                "{s}"
            );
        }
    }

    #[test]
    fn inconsistent_statuses_are_detected() {
        let mut s = negotiating();
        s.turn = None;
        assert!(!s.is_consistent());
        let mut s = negotiating();
        s.signed_by.insert(LR);
        assert!(!s.is_consistent());
        let mut s = agreed();
        s.agreed_revision = Some(7);
        assert!(!s.is_consistent());
        let mut s = executed();
        s.signed_by.remove(&LE);
        assert!(!s.is_consistent());
        let mut s = DealStatus::draft(LR);
        s.revision = 2;
        assert!(!s.is_consistent());
        let mut s = agreed();
        s.signed_by = Party::ALL.into_iter().collect();
        assert!(!s.is_consistent());
    }

    #[test]
    fn status_and_events_serialize_in_snake_case() {
        let v = serde_json::to_value(agreed()).unwrap();
        assert_eq!(
            v,
            serde_json::json!({
                "state": "agreed", "opened_by": "licensor", "turn": null,
                "revision": 1, "agreed_revision": 1, "signed_by": []
            })
        );
        let e = serde_json::to_value(DealEvent::Withdrawn {
            by: LE,
            from: DealState::Draft,
        })
        .unwrap();
        assert_eq!(
            e,
            serde_json::json!({"kind": "withdrawn", "by": "licensee", "from": "draft"})
        );
        assert_eq!(DealEvent::Completed.kind(), "completed");
    }

    fn any_actor() -> impl Strategy<Value = Actor> {
        prop_oneof![
            1 => Just(Actor::System),
            8 => (
                prop::sample::select(Party::ALL.to_vec()),
                prop::sample::select(Role::ALL.to_vec())
            )
                .prop_map(|(p, r)| Actor::member(p, r)),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn random_sequences_keep_every_invariant(
            opener in prop::sample::select(Party::ALL.to_vec()),
            steps in prop::collection::vec(
                (
                    any_actor(),
                    prop::sample::select(Action::ALL.to_vec()),
                    prop::bool::weighted(0.6),
                    any::<prop::sample::Index>(),
                ),
                0..60,
            ),
        ) {
            let mut status = DealStatus::draft(opener);
            // Signatures seen since the last accept: (party, revision signed).
            let mut signatures: Vec<(Party, u32)> = Vec::new();
            let mut executions = 0;
            for (actor, random_action, pick_allowed, pick) in steps {
                let allowed = allowed_actions(&status, &actor);
                // Mostly an allowed action, so that runs reach agreed, executed and beyond;
                // otherwise any action, to exercise refusals.
                let action = if pick_allowed && !allowed.is_empty() {
                    *pick.get(&allowed)
                } else {
                    random_action
                };
                match apply(&status, &actor, action) {
                    Err(e) => {
                        prop_assert!(!allowed.contains(&action));
                        prop_assert_eq!(e.state, status.state);
                        prop_assert_eq!(&e.allowed, &allowed);
                    }
                    Ok(t) => {
                        prop_assert!(allowed.contains(&action));
                        prop_assert!(!status.state.is_terminal());
                        let next = &t.next;
                        prop_assert!(next.is_consistent(), "{:?}", next);
                        prop_assert!(!t.events.is_empty());
                        if next.state == DealState::Negotiating {
                            prop_assert!(next.signed_by.is_empty());
                        }
                        if let Actor::Member { role, .. } = actor {
                            prop_assert!(role != Role::Viewer);
                        }
                        if action == Action::Counter {
                            let by = actor.party().unwrap();
                            if status.state == DealState::Negotiating {
                                prop_assert_eq!(status.turn, Some(by));
                            }
                            prop_assert_eq!(next.turn, Some(by.other()));
                            prop_assert_eq!(next.revision, status.revision + 1);
                        } else {
                            prop_assert_eq!(next.revision, status.revision);
                        }
                        for ev in &t.events {
                            match ev {
                                DealEvent::Accepted { revision, .. } => {
                                    signatures.clear();
                                    prop_assert_eq!(next.agreed_revision, Some(*revision));
                                }
                                DealEvent::Countered { .. } => signatures.clear(),
                                DealEvent::Signed { by, revision } => {
                                    prop_assert_eq!(status.state, DealState::Agreed);
                                    prop_assert_eq!(status.agreed_revision, Some(*revision));
                                    signatures.push((*by, *revision));
                                }
                                DealEvent::Executed { revision } => {
                                    prop_assert_eq!(signatures.len(), 2);
                                    prop_assert_ne!(signatures[0].0, signatures[1].0);
                                    prop_assert!(signatures.iter().all(|(_, r)| r == revision));
                                    prop_assert_eq!(next.agreed_revision, Some(*revision));
                                    executions += 1;
                                }
                                _ => {}
                            }
                        }
                        let became_executed = next.state == DealState::Executed
                            && status.state != DealState::Executed;
                        prop_assert_eq!(became_executed, t.executes());
                        status = t.next;
                    }
                }
            }
            prop_assert!(executions <= 1);
        }
    }
}
