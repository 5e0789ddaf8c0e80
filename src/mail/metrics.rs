//! Prometheus counters of the in-process worker, served with the HTTP metrics at
//! `/metrics` (a standalone `cadenza worker` has no HTTP endpoint; `cadenza mail
//! status` covers it).

use prometheus::{IntCounterVec, Opts, Registry};

use super::worker::Outcome;

#[derive(Clone)]
pub struct MailMetrics {
    outcomes: IntCounterVec,
}

impl MailMetrics {
    pub fn register(registry: &Registry) -> Result<Self, prometheus::Error> {
        let outcomes = IntCounterVec::new(
            Opts::new(
                "cadenza_mail_deliveries_total",
                "Mail delivery attempts by outcome: sent, retry (failed, tried again later), \
                 dead (given up; see `cadenza mail status`)",
            ),
            &["outcome"],
        )?;
        registry.register(Box::new(outcomes.clone()))?;
        Ok(MailMetrics { outcomes })
    }

    pub fn record(&self, outcome: Outcome) {
        let label = match outcome {
            Outcome::Sent => "sent",
            Outcome::Retry => "retry",
            Outcome::Dead => "dead",
        };
        self.outcomes.with_label_values(&[label]).inc();
    }
}
