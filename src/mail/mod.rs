//! E-mail: templates, transports and the delivery worker that drains the
//! outbox (`crate::db::outbox`). Mails are written to the outbox in the same
//! transaction as the change that causes them (see `crate::notifications`
//! for deal events); the worker delivers them at least once, each with a
//! stable Message-ID. See `docs/mail.md`.

pub mod event;
pub mod metrics;
pub mod templates;
pub mod transport;
pub mod worker;

#[cfg(test)]
mod template_snapshots;

use std::path::PathBuf;

use crate::db::DbError;

pub use event::{Event, NotificationKind};
pub use templates::RenderedMail;
pub use transport::Transport;
pub use worker::{Worker, WorkerConfig};

/// Everything that can go wrong between an outbox row and a delivered mail.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("no mail template is named `{0}`")]
    UnknownTemplate(String),
    #[error("template {template} cannot be rendered: {message}")]
    Render { template: String, message: String },
    #[error("invalid mail context: {0}")]
    Context(String),
    #[error("invalid e-mail address `{address}`: {reason}")]
    Address { address: String, reason: String },
    #[error("the message cannot be built: {0}")]
    Build(#[from] lettre::error::Error),
    #[error("SMTP delivery failed: {0}")]
    Smtp(#[from] lettre::transport::smtp::Error),
    #[error("cannot write the mail file {path}: {source}")]
    File {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("invalid mail settings: {0}")]
    Settings(String),
    #[error(transparent)]
    Database(#[from] DbError),
}

impl MailError {
    /// Whether retrying cannot help: the message itself is bad, or the server refused
    /// it for good (a 5xx reply). Such a message goes to `dead` at once.
    pub fn is_permanent(&self) -> bool {
        match self {
            MailError::UnknownTemplate(_)
            | MailError::Render { .. }
            | MailError::Context(_)
            | MailError::Address { .. }
            | MailError::Build(_) => true,
            MailError::Smtp(e) => e.is_permanent(),
            MailError::File { .. } | MailError::Settings(_) | MailError::Database(_) => false,
        }
    }
}
