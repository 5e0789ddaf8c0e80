//! Royalties: what a period's usage earns under a deal's economics, line by line, to
//! the cent, and how advances and minimum guarantees are recouped and topped up.
//!
//! Pure arithmetic over exact decimals (`rust_decimal`), no I/O. The rules, with worked
//! examples that are this module's golden tests, are in `docs/royalties.md`:
//!
//! 1. **Per line** (one territory and usage of a usage report):
//!    - revenue share = gross revenue × (1 − carve-out %) × share % × licensed streams ÷
//!      the licensee's total streams in that territory and usage (0 when it reported none);
//!    - per-stream floor = licensed streams × rate; per-subscriber floor = subscribers × rate;
//!    - the line's amount under the combination rule: the **greater of** the revenue share and
//!      each floor, or their **sum**;
//!    - rounded **once**, to the currency's minor unit, half away from zero
//!      ([`Currency::round`](crate::domain::money::Currency::round)).
//! 2. **Earned** = the sum of the rounded lines, so the lines always add up to it exactly.
//! 3. **Minimum guarantee per period**: a shortfall `guarantee − earned` is topped up in the
//!    same statement. **For the whole term**: in the statement of the term's last period,
//!    `guarantee − max(earned over the term, recoupable advance)` when positive.
//! 4. **Advance** (recoupable): what the period owes (earned + per-period top-up) first
//!    recoups the advance still unrecouped; only the rest is payable. Recoupment never goes
//!    below zero nor above the advance. A non-recoupable advance is a fee and takes no part.
//!
//! So over a whole term the licensor receives `max(recoupable advance, earned, guarantee)`
//! in royalties (advance included): a property test holds the engine to it.

mod economics;
mod lifecycle;
mod statement;

#[cfg(test)]
mod golden;

pub use economics::{
    AccountingPeriod, Advance, Combination, Economics, GuaranteeScope, MinimumGuarantee,
    RevenueShare,
};
pub use lifecycle::{
    transition, StatementAction, StatementRefusal, StatementState, StatementStatus,
    UnknownStatementStatus,
};
pub use statement::{compute, Basis, Carried, RoyaltyError, Statement, StatementLine, UsageLine};
