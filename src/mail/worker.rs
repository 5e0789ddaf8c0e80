//! The delivery worker: claims due mails from the outbox, renders and sends
//! them, and records the outcome. Delivery is at least once: a worker that dies
//! after sending but before recording leaves the mail claimed until its lease
//! ends, and the next worker sends it again with the same Message-ID, which is
//! how a recipient's mail system recognises the duplicate.

use std::sync::Arc;
use std::time::Duration;

use chrono::{NaiveDateTime, TimeDelta};
use lettre::message::header::{Header, HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart};
use lettre::Message;
use rand::Rng;
use tokio::sync::watch;

use super::metrics::MailMetrics;
use super::{templates, MailError, Transport};
use crate::config::MailSettings;
use crate::db::outbox::{self, OutboxMail};
use crate::db::{now, Db};

/// `Auto-Submitted: auto-generated` (RFC 3834): tells mail systems not to send
/// vacation auto-replies to notifications.
#[derive(Debug, Clone, Copy)]
struct AutoSubmitted;

impl Header for AutoSubmitted {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("Auto-Submitted")
    }

    fn parse(_: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(AutoSubmitted)
    }

    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), "auto-generated".to_string())
    }
}

/// The worker's timing and identity.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// Base of every link in the mails.
    pub public_url: String,
    pub from: Mailbox,
    pub poll_interval: Duration,
    pub batch_size: u32,
    /// How long a claimed mail is reserved for the claiming worker.
    pub lease: Duration,
    pub max_attempts: u32,
    pub backoff_base: Duration,
    pub backoff_max: Duration,
}

impl WorkerConfig {
    pub fn from_settings(settings: &MailSettings, public_url: &str) -> Result<Self, MailError> {
        let from = settings
            .mail_from
            .parse::<Mailbox>()
            .map_err(|e| MailError::Settings(format!("CADENZA_MAIL_FROM: {e}")))?;
        let lease = Duration::from_millis(settings.mail_lease_ms.max(1));
        if lease < Duration::from_secs(settings.smtp_timeout_secs.saturating_mul(4)) {
            // A live worker whose lease ends mid-delivery lets another send the same mail.
            tracing::warn!(
                lease_ms = settings.mail_lease_ms,
                smtp_timeout_secs = settings.smtp_timeout_secs,
                "CADENZA_MAIL_LEASE_MS is short next to CADENZA_SMTP_TIMEOUT_SECS; a slow \
                 delivery may be repeated by another worker"
            );
        }
        Ok(WorkerConfig {
            public_url: public_url.to_string(),
            from,
            poll_interval: Duration::from_millis(settings.mail_poll_interval_ms.max(1)),
            batch_size: settings.mail_batch_size.max(1),
            lease,
            max_attempts: settings.mail_max_attempts.max(1),
            backoff_base: Duration::from_millis(settings.mail_backoff_base_ms),
            backoff_max: Duration::from_millis(settings.mail_backoff_max_ms),
        })
    }
}

/// The delay before attempt `attempts + 1`: `base * 2^(attempts - 1)`, capped at `max`,
/// then drawn uniformly from its upper half ("equal jitter"), so workers that failed
/// together do not all retry at the same instant yet every retry waits at least half
/// the schedule.
pub fn backoff(attempts: u32, base: Duration, max: Duration, rng: &mut impl Rng) -> Duration {
    let exponent = attempts.saturating_sub(1).min(32);
    let full = base
        .checked_mul(1u32 << exponent.min(31))
        .unwrap_or(max)
        .min(max);
    let half = full / 2;
    let jitter_ms = u64::try_from(half.as_millis()).unwrap_or(u64::MAX);
    half + Duration::from_millis(rng.gen_range(0..=jitter_ms))
}

/// What a round of delivery did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RoundReport {
    pub claimed: usize,
    pub sent: usize,
    pub retried: usize,
    pub dead: usize,
    /// Outcomes that could not be written (the database failed meanwhile).
    pub unrecorded: usize,
}

/// What became of one claimed mail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Sent,
    /// Failed; tried again after the backoff.
    Retry,
    /// Failed for good or for the last time.
    Dead,
}

#[derive(Clone)]
pub struct Worker {
    db: Db,
    transport: Arc<Transport>,
    config: WorkerConfig,
    metrics: Option<MailMetrics>,
}

fn to_delta(d: Duration) -> TimeDelta {
    TimeDelta::from_std(d).unwrap_or(TimeDelta::MAX)
}

fn add(at: NaiveDateTime, d: Duration) -> NaiveDateTime {
    at.checked_add_signed(to_delta(d))
        .unwrap_or(NaiveDateTime::MAX)
}

impl Worker {
    pub fn new(db: Db, transport: Transport, config: WorkerConfig) -> Self {
        Worker {
            db,
            transport: Arc::new(transport),
            config,
            metrics: None,
        }
    }

    /// Counts outcomes in Prometheus (the in-process worker of `cadenza serve`).
    pub fn with_metrics(mut self, metrics: MailMetrics) -> Self {
        self.metrics = Some(metrics);
        self
    }

    pub fn config(&self) -> &WorkerConfig {
        &self.config
    }

    pub fn transport(&self) -> &Transport {
        &self.transport
    }

    /// Claims the due mails of one round (at most `batch_size`) for this worker.
    pub async fn claim(&self) -> Result<Vec<OutboxMail>, MailError> {
        let limit = i64::from(self.config.batch_size);
        let lease = self.config.lease;
        Ok(self
            .db
            .run(move |conn| {
                let at = now();
                outbox::claim_due(conn, at, add(at, lease), limit)
            })
            .await?)
    }

    /// Renders a stored mail into the message that goes on the wire.
    pub fn build(&self, mail: &OutboxMail) -> Result<Message, MailError> {
        let context: serde_json::Value = serde_json::from_str(&mail.context_json)
            .map_err(|e| MailError::Context(e.to_string()))?;
        let rendered = templates::render(&mail.template, &context, &self.config.public_url)?;
        let address =
            mail.recipient_email
                .parse()
                .map_err(|e: lettre::address::AddressError| MailError::Address {
                    address: mail.recipient_email.clone(),
                    reason: e.to_string(),
                })?;
        // Address members by name when the mail knows it (`Zhang Min <zm@…>`).
        let name = ["recipient_name", "name"]
            .iter()
            .find_map(|key| context.get(*key).and_then(|v| v.as_str()))
            .map(str::to_string);
        let to = Mailbox::new(name, address);
        Ok(Message::builder()
            .from(self.config.from.clone())
            .to(to)
            .subject(rendered.subject)
            .message_id(Some(mail.message_id.clone()))
            .header(AutoSubmitted)
            .multipart(MultiPart::alternative_plain_html(
                rendered.text,
                rendered.html,
            ))?)
    }

    /// Renders and sends one claimed mail, without recording anything.
    pub async fn deliver(&self, mail: &OutboxMail) -> Result<(), MailError> {
        let message = self.build(mail)?;
        self.transport.send(&message, &mail.id).await
    }

    /// Records the outcome of a delivery attempt.
    pub async fn settle(
        &self,
        mail: &OutboxMail,
        result: Result<(), MailError>,
    ) -> Result<Outcome, MailError> {
        let id = mail.id.clone();
        let attempts = u32::try_from(mail.attempts).unwrap_or(0);
        let (outcome, error) = match result {
            Ok(()) => (Outcome::Sent, None),
            Err(e) if e.is_permanent() || attempts >= self.config.max_attempts => {
                (Outcome::Dead, Some(e.to_string()))
            }
            Err(e) => (Outcome::Retry, Some(e.to_string())),
        };
        match (outcome, &error) {
            (Outcome::Sent, _) => {
                tracing::info!(outbox_id = %id, message_id = %mail.message_id, template = %mail.template, "mail sent")
            }
            (Outcome::Retry, Some(e)) => {
                tracing::warn!(outbox_id = %id, attempts, error = %e, "mail delivery failed; will retry")
            }
            (_, e) => {
                tracing::error!(outbox_id = %id, attempts, error = ?e, "mail delivery failed for good; now a dead letter")
            }
        }
        let delay = backoff(
            attempts,
            self.config.backoff_base,
            self.config.backoff_max,
            &mut rand::thread_rng(),
        );
        let error = error.unwrap_or_default();
        self.db
            .run(move |conn| -> Result<(), MailError> {
                let at = now();
                match outcome {
                    Outcome::Sent => outbox::mark_sent(conn, &id, at)?,
                    Outcome::Retry => outbox::schedule_retry(conn, &id, add(at, delay), &error)?,
                    Outcome::Dead => outbox::mark_dead(conn, &id, &error)?,
                };
                Ok(())
            })
            .await?;
        if let Some(metrics) = &self.metrics {
            metrics.record(outcome);
        }
        Ok(outcome)
    }

    /// One round: claim what is due, deliver each mail, record each outcome.
    pub async fn run_once(&self) -> Result<RoundReport, MailError> {
        let claimed = self.claim().await?;
        let mut report = RoundReport {
            claimed: claimed.len(),
            ..RoundReport::default()
        };
        for mail in &claimed {
            let result = self.deliver(mail).await;
            match self.settle(mail, result).await {
                Ok(Outcome::Sent) => report.sent += 1,
                Ok(Outcome::Retry) => report.retried += 1,
                Ok(Outcome::Dead) => report.dead += 1,
                // The mail stays claimed; when its lease ends it is tried again (a resend if
                // it went out). The rest of the round still goes ahead.
                Err(e) => {
                    tracing::warn!(outbox_id = %mail.id, error = %e, "cannot record a delivery outcome");
                    report.unrecorded += 1;
                }
            }
        }
        Ok(report)
    }

    /// Delivers until `shutdown` turns true: a full round is followed at once by
    /// another (more may be due), anything less waits for the poll interval.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        tracing::info!(transport = %self.transport.describe(), "mail worker started");
        loop {
            if *shutdown.borrow() {
                break;
            }
            let pause = match self.run_once().await {
                Ok(report) if report.claimed >= self.config.batch_size as usize => Duration::ZERO,
                Ok(_) => self.config.poll_interval,
                Err(e) => {
                    tracing::warn!(error = %e, "mail worker round failed");
                    self.config.poll_interval
                }
            };
            if pause.is_zero() {
                continue;
            }
            tokio::select! {
                _ = tokio::time::sleep(pause) => {}
                _ = shutdown.changed() => {}
            }
        }
        tracing::info!("mail worker stopped");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn backoff_doubles_is_capped_and_jittered_within_the_upper_half() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let base = Duration::from_secs(60);
        let max = Duration::from_secs(3600);
        for (attempts, full) in [
            (1, 60),
            (2, 120),
            (3, 240),
            (6, 1920),
            (7, 3600),
            (40, 3600),
        ] {
            for _ in 0..50 {
                let d = backoff(attempts, base, max, &mut rng);
                assert!(
                    d >= Duration::from_secs(full) / 2 && d <= Duration::from_secs(full),
                    "attempt {attempts}: {d:?} outside [{}/2, {full}] s",
                    full
                );
            }
        }
        assert_eq!(
            backoff(3, Duration::ZERO, max, &mut rng),
            Duration::ZERO,
            "a zero base retries at once"
        );
    }
}
