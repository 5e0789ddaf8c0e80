//! Pure domain logic: no I/O, no database, no HTTP. Everything here is
//! deterministic and unit/property tested, so the rules of the market can be
//! read (and trusted) without the plumbing around them.
//!
//! - values: [`isrc`], [`territory`], [`usage`], [`money`], [`period`], [`account`], [`role`]
//! - catalogs: [`track`] (an imported row), [`trackset`] (Roaring bitmaps of track ids),
//!   [`recording`] (sets of recordings by ISRC, comparable across catalogs),
//!   [`selector`] (how a slice is cut)
//! - deals: [`terms`] (term sheets, canonical hash, diff), [`deal`] (the negotiation
//!   state machine), [`grant`] (rights overlap and the exclusivity rule)
//! - marketplace: [`listing`] (offer and request lifecycles, visibility, matching),
//!   [`market_rules`] (what regulators forbid per territory, checked on every term sheet)
//! - [`notification`] kinds, and [`stored`]: the one way names are typed from column to JSON

pub mod account;
pub mod audit_chain;
pub mod deal;
pub mod grant;
pub mod grant_export;
pub mod installment;
pub mod isrc;
pub mod listing;
pub mod market_rules;
pub mod money;
pub mod notification;
pub mod period;
pub mod recording;
pub mod role;
pub mod royalty;
pub mod selector;
pub mod stored;
pub mod terms;
pub mod territory;
pub mod track;
pub mod trackset;
pub mod usage;
pub mod validation;
pub mod webhook;

pub use validation::{is_storable_text, FieldError, ValidationErrors, NUL_REFUSED};
