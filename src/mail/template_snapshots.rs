//! Snapshots of every template rendered with realistic data (`cargo insta review`
//! after changing a template). Deal events are rendered from typed [`Event`]s the
//! way `notify` does, so a template that needs a variable an event lacks fails here.

use serde_json::json;

use super::event::*;
use super::templates::{self, RenderedMail};
use crate::notifications::{recipient_context, Audience};

const PUBLIC_URL: &str = "https://cadenza.example/";

fn deal() -> DealRef {
    DealRef {
        id: "0193a1b2-deal".into(),
        name: "Mandopop catalogue 2027–2029".into(),
    }
}

fn actor() -> Actor {
    Actor {
        name: "Li Wei".into(),
        organization: "Tencent Music".into(),
    }
}

fn installment() -> InstallmentRef {
    InstallmentRef {
        id: "0193-inst".into(),
        due_date: "2027-01-15".parse().unwrap(),
        amount: "3000000.00".into(),
        currency: "CNY".into(),
    }
}

fn statement(amount: &str) -> StatementRef {
    StatementRef {
        id: "0193-stmt".into(),
        period_start: "2027-01-01".parse().unwrap(),
        period_end: "2027-03-31".parse().unwrap(),
        due_date: "2027-05-15".parse().unwrap(),
        amount: amount.into(),
        currency: "CNY".into(),
    }
}

fn licensor_actor() -> Actor {
    Actor {
        name: "Wang Fang".into(),
        organization: "Tencent Music".into(),
    }
}

fn samples() -> Vec<Event> {
    let respond_by = "2026-12-31T00:00:00Z".parse().unwrap();
    vec![
        Event::DealSubmitted {
            deal: deal(),
            actor: actor(),
            revision: 1,
            respond_by: Some(respond_by),
        },
        Event::DealCountered {
            deal: deal(),
            actor: actor(),
            revision: 2,
            changes: vec![
                TermChange {
                    field: "territories".into(),
                    old: "CN".into(),
                    new: "CN, HK".into(),
                },
                TermChange {
                    field: "upfront_fee".into(),
                    old: "1000000.00 CNY".into(),
                    new: "1200000.00 CNY".into(),
                },
            ],
            respond_by: None,
        },
        Event::DealAccepted {
            deal: deal(),
            actor: actor(),
            revision: 2,
        },
        Event::DealRejected {
            deal: deal(),
            actor: actor(),
            reason: Some("The minimum guarantee is too high for <b>us</b>.".into()),
        },
        Event::DealWithdrawn {
            deal: deal(),
            actor: actor(),
            reason: None,
        },
        Event::DealExpiring {
            deal: deal(),
            respond_by,
        },
        Event::DealExpired {
            deal: deal(),
            respond_by,
        },
        Event::DealSigned {
            deal: deal(),
            actor: actor(),
            revision: 2,
        },
        Event::DealExecuted {
            deal: deal(),
            grant_id: "0193-grant".into(),
            track_count: 1_500_000,
            territories: vec!["CN".into(), "HK".into()],
            start_date: "2027-01-01".parse().unwrap(),
            end_date: "2029-12-31".parse().unwrap(),
        },
        Event::DealTerminated {
            deal: deal(),
            actor: actor(),
            reason: Some("Unpaid installment".into()),
        },
        Event::GrantBackingLost {
            deal: deal(),
            grant_id: "0193-grant".into(),
            upstream_grant_id: Some("0193-upstream".into()),
            track_count: 412_000,
            lost_from: "2027-07-01".parse().unwrap(),
            detail: "grant 0193-upstream was terminated".into(),
        },
        Event::InstallmentDue {
            deal: deal(),
            installment: installment(),
        },
        Event::InstallmentOverdue {
            deal: deal(),
            installment: installment(),
            days_overdue: 12,
        },
        Event::StatementIssued {
            deal: deal(),
            statement: statement("3400.00"),
            actor: Actor {
                name: "Zhang Min".into(),
                organization: "NetEase Cloud Music".into(),
            },
            corrected: true,
        },
        Event::StatementDisputed {
            deal: deal(),
            statement: statement("2500.00"),
            actor: licensor_actor(),
            reason: "Streams in CN look understated against our own logs".into(),
        },
        Event::StatementConfirmed {
            deal: deal(),
            statement: statement("3400.00"),
            actor: licensor_actor(),
        },
        Event::StatementDue {
            deal: deal(),
            statement: statement("2400.00"),
        },
        Event::StatementOverdue {
            deal: deal(),
            statement: statement("2400.00"),
            days_overdue: 1,
        },
        Event::OfferMatchedRequest {
            offer: ListingRef {
                id: "0193-offer".into(),
                name: "Cantopop classics".into(),
            },
            request: ListingRef {
                id: "0193-request".into(),
                name: "Chinese pop for HK".into(),
            },
            licensor: "Tencent Music".into(),
            track_count: 250_000,
        },
    ]
}

fn show(mail: &RenderedMail) -> String {
    format!(
        "Subject: {}\n\n----- text/plain -----\n{}\n----- text/html -----\n{}",
        mail.subject, mail.text, mail.html
    )
}

#[test]
fn every_kind_has_a_sample() {
    let kinds: Vec<_> = samples().iter().map(Event::kind).collect();
    assert_eq!(kinds, NotificationKind::ALL.to_vec());
}

#[test]
fn event_templates() {
    for event in samples() {
        for action_required in [true, false] {
            let audience = Audience {
                organization_id: "org",
                counterparty: "Tencent Music",
                action_required,
            };
            let context = recipient_context(&event, "Zhang Min", &audience).unwrap();
            let mail = templates::render(event.kind().as_str(), &context, PUBLIC_URL)
                .unwrap_or_else(|e| panic!("{}: {e}", event.kind()));
            let name = format!(
                "{}{}",
                event.kind(),
                if action_required { "" } else { "_no_action" }
            );
            insta::assert_snapshot!(name, show(&mail));
        }
    }
}

#[test]
fn transactional_templates() {
    let invitation = json!({
        "organization": "NetEase Cloud Music", "inviter": "Chen Jie", "role": "negotiator",
        "token": "tok123", "link": "https://cadenza.example/accept-invitation?token=tok123",
        "expires_on": "2026-12-02"
    });
    let reset = json!({
        "name": "Chen Jie", "token": "tok456",
        "link": "https://cadenza.example/reset-password?token=tok456", "expires_in_minutes": 60
    });
    let disabled = json!({
        "name": "Chen Jie", "organization": "NetEase Cloud Music",
        "url": "https://hooks.netease.example/cadenza", "endpoint_id": "0193a1b2-0000-7000-8000-000000000001",
        "failing_since": "2026-12-01 08:00 UTC", "last_error": "timed out after 10000 ms"
    });
    for (name, context) in [
        ("invitation", invitation),
        ("password_reset", reset),
        ("webhook_disabled", disabled),
    ] {
        let mail = templates::render(name, &context, PUBLIC_URL).unwrap();
        insta::assert_snapshot!(name, show(&mail));
    }
}
