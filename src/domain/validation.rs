//! Field-level validation errors shared by every domain parser.

use serde::Serialize;

/// One invalid input field, named the way the client sent it
/// (`terms.installments[1].amount`), with a human-readable reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// Every problem found in one input, collected rather than stopping at the
/// first, so a client can fix them all in one round trip.
#[derive(Debug, Clone, Default, PartialEq, Eq, thiserror::Error)]
#[error("{} invalid field(s)", .0.len())]
pub struct ValidationErrors(pub Vec<FieldError>);

impl ValidationErrors {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn single(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self(vec![FieldError::new(field, message)])
    }

    pub fn push(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.0.push(FieldError::new(field, message));
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Ok(()) when nothing was collected, so validators can end with `errors.into_result()`.
    pub fn into_result(self) -> Result<(), ValidationErrors> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(self)
        }
    }

    /// Prefixes every field with `prefix.` (used when a nested value is validated on its own).
    pub fn nested(mut self, prefix: &str) -> Self {
        for e in &mut self.0 {
            e.field = format!("{prefix}.{}", e.field);
        }
        self
    }
}

/// Why a NUL character is refused, wherever text arrives: PostgreSQL cannot store it
/// in `TEXT` (SQLite could), so accepting it would make the two backends disagree.
pub const NUL_REFUSED: &str = "must not contain the NUL character (U+0000)";

/// Whether `text` can be stored on both backends.
pub fn is_storable_text(text: &str) -> bool {
    !text.contains('\0')
}
