//! Pure domain logic: no I/O, no database, no HTTP. Everything here is
//! deterministic and unit/property tested, so the rules of the market can be
//! read (and trusted) without the plumbing around them.

pub mod role;
pub mod validation;

pub use validation::{FieldError, ValidationErrors};
