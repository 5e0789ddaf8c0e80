//! E-mail delivery against a real SMTP server (the in-process sink), and the
//! notification feed and settings, on both backends.

use std::collections::HashSet;
use std::time::Duration;

use cadenza::config::MailSettings;
use cadenza::db::outbox::{self, OutboxMail, OutgoingMail};
use cadenza::db::schema::mail_outbox;
use cadenza::db::{write_transaction, DbError};
use cadenza::mail::event::{Actor, DealRef, Event, TermChange};
use cadenza::mail::transport::SmtpSettings;
use cadenza::mail::{Transport, Worker, WorkerConfig};
use cadenza::notifications::{notify, Audience, Notification};
use diesel::prelude::*;
use reqwest::Method;
use serde_json::json;

use crate::helpers::{spawn_app, spawn_app_with, test_mail_settings, Backend, TestApp};
use crate::on_both_backends;
use crate::smtp_sink::{Received, SmtpSink};

const WAIT: Duration = Duration::from_secs(20);

/// The app with its in-process worker delivering to `sink`.
async fn spawn_with_smtp(
    backend: Backend,
    sink: &SmtpSink,
    adjust: impl FnOnce(&mut MailSettings),
) -> TestApp {
    let url = sink.url();
    spawn_app_with(backend, move |settings| {
        settings.mail_worker = true;
        settings.mail.smtp_url = Some(url);
        adjust(&mut settings.mail);
    })
    .await
}

fn outbox_rows(app: &TestApp) -> Vec<OutboxMail> {
    mail_outbox::table
        .order(mail_outbox::id.asc())
        .select(OutboxMail::as_select())
        .load(&mut app.connection())
        .expect("outbox rows")
}

/// Polls the outbox until `done` holds for its rows (panics after `WAIT`).
async fn wait_for_outbox(app: &TestApp, what: &str, done: impl Fn(&[OutboxMail]) -> bool) {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let rows = outbox_rows(app);
        if done(&rows) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}: {rows:#?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Ends every running claim, as if its lease had run out.
fn expire_leases(app: &TestApp) {
    let past = cadenza::db::now() - chrono::TimeDelta::seconds(1);
    diesel::update(mail_outbox::table.filter(mail_outbox::claimed_until.is_not_null()))
        .set(mail_outbox::claimed_until.eq(past))
        .execute(&mut app.connection())
        .expect("expire leases");
}

/// A worker run by the test itself, with its own timing.
fn test_worker(app: &TestApp, sink: &SmtpSink, adjust: impl FnOnce(&mut MailSettings)) -> Worker {
    let mut settings = test_mail_settings();
    adjust(&mut settings);
    let smtp = SmtpSettings::from_url(&sink.url(), Duration::from_secs(5)).expect("sink url");
    Worker::new(
        app.db(4),
        Transport::smtp(&smtp).expect("transport"),
        WorkerConfig::from_settings(&settings, "http://cadenza.test").expect("config"),
    )
}

/// Undoes quoted-printable soft breaks and escapes, so body checks do not depend
/// on the transfer encoding lettre picks.
fn decoded(raw: &str) -> String {
    let joined = raw.replace("=\r\n", "");
    let mut out = Vec::new();
    let bytes = joined.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let hex = joined
            .get(i + 1..i + 3)
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'=', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[track_caller]
fn assert_multipart_alternative(mail: &Received) {
    let content_type = mail.header("Content-Type").expect("a Content-Type");
    assert!(
        content_type.starts_with("multipart/alternative"),
        "{content_type}"
    );
    let plain = mail
        .data
        .find("Content-Type: text/plain")
        .expect("a text part");
    let html = mail
        .data
        .find("Content-Type: text/html")
        .expect("an HTML part");
    assert!(plain < html, "plain text first, HTML preferred last");
}

fn received_by<'a>(messages: &'a [Received], to: &str) -> &'a Received {
    messages
        .iter()
        .find(|m| m.rcpt_to == vec![to.to_string()])
        .unwrap_or_else(|| panic!("no mail to {to} in {messages:#?}"))
}

async fn invitation_and_reset_mails_arrive(backend: Backend) {
    let sink = SmtpSink::start().await;
    let app = spawn_with_smtp(backend, &sink, |_| {}).await;
    let owner = app.register("QQ Music", "lead@qq.test").await;
    app.post(
        "/api/v1/invitations",
        Some(&owner.access_token),
        &json!({"email": "deals@qq.test", "role": "negotiator"}),
    )
    .await
    .assert_status(201);
    app.post(
        "/api/v1/auth/password-reset",
        None,
        &json!({"email": "lead@qq.test"}),
    )
    .await
    .assert_status(202);

    let messages = sink.wait_for(2, WAIT).await;
    wait_for_outbox(&app, "both mails marked sent", |rows| {
        rows.iter().all(|r| r.status == "sent")
    })
    .await;
    let rows = outbox_rows(&app);

    let invitation = received_by(&messages, "deals@qq.test");
    assert_eq!(invitation.mail_from, "no-reply@cadenza.test");
    assert_eq!(invitation.header("To").as_deref(), Some("deals@qq.test"));
    assert_eq!(
        invitation.header("Subject").as_deref(),
        Some("QQ Music owner invited you to QQ Music on Cadenza")
    );
    assert!(invitation
        .header("From")
        .is_some_and(|f| f.contains("no-reply@cadenza.test")));
    assert_multipart_alternative(invitation);
    assert_eq!(
        invitation.header("Auto-Submitted").as_deref(),
        Some("auto-generated"),
        "no vacation replies to notifications"
    );
    // The token travels in the mail only: once delivered, the outbox no longer holds it.
    assert_eq!(
        app.latest_mail_token("deals@qq.test", "invitation"),
        "[redacted after delivery]"
    );
    let body = decoded(&invitation.data);
    let marker = "http://cadenza.test/accept-invitation?token=";
    let start = body
        .find(marker)
        .unwrap_or_else(|| panic!("no invitation link: {body}"))
        + marker.len();
    let token: String = body[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect();
    let accepted = app
        .post(
            "/api/v1/invitations/accept",
            None,
            &json!({"token": token, "name": "Deals", "password": crate::helpers::PASSWORD}),
        )
        .await;
    accepted.assert_status(201);
    let row = rows.iter().find(|r| r.template == "invitation").unwrap();
    assert_eq!(invitation.message_id(), row.message_id);

    let reset = received_by(&messages, "lead@qq.test");
    assert_eq!(
        reset.header("Subject").as_deref(),
        Some("Reset your Cadenza password")
    );
    assert_multipart_alternative(reset);
    assert_eq!(
        reset.header("To").as_deref(),
        Some("\"QQ Music owner\" <lead@qq.test>")
    );
    let row = rows
        .iter()
        .find(|r| r.template == "password_reset")
        .unwrap();
    assert_eq!(reset.message_id(), row.message_id);
    assert!(decoded(&reset.data).contains("Hello QQ Music owner,"));
    assert!(rows.iter().all(|r| r.attempts == 1 && r.sent_at.is_some()));
    assert_eq!(sink.messages().len(), 2, "nothing sent twice");
    let metrics = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("metrics text");
    assert!(
        metrics.contains(r#"cadenza_mail_deliveries_total{outcome="sent"} 2"#),
        "{metrics}"
    );
}

async fn an_smtp_outage_delays_but_loses_and_doubles_nothing(backend: Backend) {
    let sink = SmtpSink::start().await;
    sink.stop().await;
    let app = spawn_with_smtp(backend, &sink, |_| {}).await;
    let owner = app.register("NetEase", "owner@netease.test").await;
    for invitee in ["a@netease.test", "b@netease.test", "c@netease.test"] {
        app.post(
            "/api/v1/invitations",
            Some(&owner.access_token),
            &json!({"email": invitee, "role": "viewer"}),
        )
        .await
        .assert_status(201);
    }
    app.post(
        "/api/v1/auth/password-reset",
        None,
        &json!({"email": "owner@netease.test"}),
    )
    .await
    .assert_status(202);

    // While the server is down every mail is tried, fails, and waits for a retry.
    wait_for_outbox(&app, "three failed attempts each", |rows| {
        rows.len() == 4 && rows.iter().all(|r| r.attempts >= 3)
    })
    .await;
    for row in outbox_rows(&app) {
        assert_eq!(row.status, "pending");
        let error = row.last_error.unwrap_or_default();
        assert!(error.starts_with("SMTP delivery failed"), "{error}");
    }
    assert!(sink.messages().is_empty());

    sink.restart().await;
    let messages = sink.wait_for(4, WAIT).await;
    wait_for_outbox(&app, "all sent", |rows| {
        rows.iter().all(|r| r.status == "sent")
    })
    .await;
    // Give a duplicate every chance to show up.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let messages_after = sink.messages();
    assert_eq!(messages_after.len(), 4, "none twice: {messages:#?}");
    let received: HashSet<String> = messages_after.iter().map(Received::message_id).collect();
    let queued: HashSet<String> = outbox_rows(&app)
        .into_iter()
        .map(|r| r.message_id)
        .collect();
    assert_eq!(received, queued);
}

async fn a_crash_between_send_and_mark_redelivers_once_with_the_same_message_id(backend: Backend) {
    let sink = SmtpSink::start().await;
    let app = spawn_app(backend).await;
    app.register("Acme", "owner@acme.test").await;
    app.post(
        "/api/v1/auth/password-reset",
        None,
        &json!({"email": "owner@acme.test"}),
    )
    .await
    .assert_status(202);
    let worker = test_worker(&app, &sink, |_| {});

    // Claim and send, then "crash": the outcome is never recorded.
    let claimed = worker.claim().await.expect("claim");
    assert_eq!(claimed.len(), 1);
    worker.deliver(&claimed[0]).await.expect("sent");
    assert_eq!(sink.messages().len(), 1);
    // While the lease runs, nobody else takes the mail (it may still be in flight).
    assert!(worker.claim().await.expect("claim").is_empty());
    assert_eq!(worker.run_once().await.expect("round").claimed, 0);

    // The lease ends (made to end now rather than waiting for it).
    expire_leases(&app);
    let round = worker.run_once().await.expect("round");
    assert_eq!((round.claimed, round.sent), (1, 1));
    let messages = sink.messages();
    assert_eq!(messages.len(), 2, "one redelivery");
    assert_eq!(messages[0].message_id(), messages[1].message_id());
    assert_eq!(messages[0].message_id(), claimed[0].message_id);

    expire_leases(&app);
    assert_eq!(worker.run_once().await.expect("round").claimed, 0);
    assert_eq!(sink.messages().len(), 2, "no third delivery");
    let row = &outbox_rows(&app)[0];
    assert_eq!((row.status.as_str(), row.attempts), ("sent", 2));
}

async fn two_workers_never_send_a_message_twice(backend: Backend) {
    const MAILS: usize = 60;
    let sink = SmtpSink::start().await;
    let app = spawn_app(backend).await;
    let mut conn = app.connection();
    for i in 0..MAILS {
        outbox::enqueue(
            &mut conn,
            OutgoingMail {
                template: "password_reset",
                recipient_email: &format!("user{i}@x.test"),
                recipient_user_id: None,
                context: json!({"name": format!("User {i}"), "token": "t", "link": "http://cadenza.test/r", "expires_in_minutes": 60}),
            },
        )
        .expect("enqueue");
    }

    // Each worker runs on its own thread and runtime, draining the same outbox in
    // small batches so that their claims interleave.
    let mut done = Vec::new();
    for _ in 0..2 {
        let worker = test_worker(&app, &sink, |m| m.mail_batch_size = 3);
        let (tx, rx) = tokio::sync::oneshot::channel();
        std::thread::spawn(move || {
            let rounds = actix_web::rt::System::new().block_on(async move {
                let mut sent = 0;
                loop {
                    let round = worker.run_once().await.expect("round");
                    sent += round.sent;
                    if round.claimed == 0 {
                        return sent;
                    }
                }
            });
            let _ = tx.send(rounds);
        });
        done.push(rx);
    }
    let mut sent_by_workers = Vec::new();
    for rx in done {
        sent_by_workers.push(rx.await.expect("worker finished"));
    }
    assert_eq!(
        sent_by_workers.iter().sum::<usize>(),
        MAILS,
        "{sent_by_workers:?}"
    );
    assert!(
        sent_by_workers.iter().all(|&n| n > 0),
        "both workers took part: {sent_by_workers:?}"
    );

    let messages = sink.messages();
    assert_eq!(messages.len(), MAILS);
    let ids: HashSet<String> = messages.iter().map(Received::message_id).collect();
    assert_eq!(ids.len(), MAILS, "every Message-ID exactly once");
    let rows = outbox_rows(&app);
    assert!(rows.iter().all(|r| r.status == "sent" && r.attempts == 1));
}

fn mail_cli(app: &TestApp, args: &[&str]) -> String {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_cadenza"))
        .arg("mail")
        .args(args)
        .env("DATABASE_URL", &app.database_url)
        .env("CADENZA_DATA_DIR", &app.data_dir)
        .output()
        .expect("cadenza runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "cadenza mail {args:?} failed: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

async fn dead_letters_keep_their_error_and_can_be_retried(backend: Backend) {
    let sink = SmtpSink::start().await;
    sink.stop().await;
    let app = spawn_with_smtp(backend, &sink, |m| {
        m.mail_max_attempts = 3;
        m.mail_backoff_base_ms = 10;
        m.mail_backoff_max_ms = 40;
    })
    .await;
    app.register("Acme", "owner@acme.test").await;
    app.post(
        "/api/v1/auth/password-reset",
        None,
        &json!({"email": "owner@acme.test"}),
    )
    .await
    .assert_status(202);
    // A mail that can never render is dead at once: retrying cannot help.
    outbox::enqueue(
        &mut app.connection(),
        OutgoingMail {
            template: "password_reset",
            recipient_email: "broken@acme.test",
            recipient_user_id: None,
            context: json!({"name": "No link"}),
        },
    )
    .expect("enqueue");

    wait_for_outbox(&app, "two dead letters", |rows| {
        rows.len() == 2 && rows.iter().all(|r| r.status == "dead")
    })
    .await;
    let rows = outbox_rows(&app);
    let unreachable = rows
        .iter()
        .find(|r| r.recipient_email == "owner@acme.test")
        .unwrap();
    assert_eq!(unreachable.attempts, 3, "dead after the last of 3 attempts");
    let error = unreachable.last_error.clone().unwrap_or_default();
    assert!(error.starts_with("SMTP delivery failed"), "{error}");
    let broken = rows
        .iter()
        .find(|r| r.recipient_email == "broken@acme.test")
        .unwrap();
    assert_eq!(broken.attempts, 1, "a permanent failure is not retried");
    assert!(
        broken
            .last_error
            .as_deref()
            .is_some_and(|e| e.contains("password_reset.txt") && e.contains("undefined")),
        "{broken:?}"
    );

    let status = mail_cli(&app, &["status"]);
    assert!(status.contains("dead: 2"), "{status}");
    assert!(status.contains(&unreachable.id), "{status}");
    assert!(status.contains("SMTP delivery failed"), "{status}");

    sink.restart().await;
    let revived = mail_cli(&app, &["retry-dead", "--id", &unreachable.id]);
    assert!(
        revived.contains("1 dead letter(s) queued again"),
        "{revived}"
    );
    let messages = sink.wait_for(1, WAIT).await;
    assert_eq!(messages[0].rcpt_to, vec!["owner@acme.test".to_string()]);
    assert_eq!(messages[0].message_id(), unreachable.message_id);
    wait_for_outbox(&app, "the revived mail sent", |rows| {
        rows.iter()
            .any(|r| r.id == unreachable.id && r.status == "sent")
    })
    .await;
    let status = mail_cli(&app, &["status"]);
    assert!(
        status.contains("sent: 1") && status.contains("dead: 1"),
        "{status}"
    );
}

async fn without_smtp_mails_become_eml_files(backend: Backend) {
    let app = spawn_app_with(backend, |s| s.mail_worker = true).await;
    app.register("Acme", "owner@acme.test").await;
    app.post(
        "/api/v1/auth/password-reset",
        None,
        &json!({"email": "owner@acme.test"}),
    )
    .await
    .assert_status(202);
    wait_for_outbox(&app, "the mail written", |rows| {
        rows.len() == 1 && rows[0].status == "sent"
    })
    .await;
    let row = &outbox_rows(&app)[0];
    let eml = std::fs::read_to_string(app.data_dir.join("mail").join(format!("{}.eml", row.id)))
        .expect("an .eml file named by the outbox id");
    assert!(
        eml.contains(&format!("Message-ID: {}", row.message_id)),
        "{eml}"
    );
    assert!(
        eml.contains("Subject: Reset your Cadenza password"),
        "{eml}"
    );
}

/// Kills the child process if the test ends before it did.
struct ChildGuard(std::process::Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

async fn the_worker_command_delivers_and_stops_on_sigterm(backend: Backend) {
    let sink = SmtpSink::start().await;
    let app = spawn_app(backend).await;
    app.register("Acme", "owner@acme.test").await;
    app.post(
        "/api/v1/auth/password-reset",
        None,
        &json!({"email": "owner@acme.test"}),
    )
    .await
    .assert_status(202);
    let mut worker = ChildGuard(
        std::process::Command::new(env!("CARGO_BIN_EXE_cadenza"))
            .arg("worker")
            .env("DATABASE_URL", &app.database_url)
            .env("CADENZA_DATA_DIR", &app.data_dir)
            .env("CADENZA_SMTP_URL", sink.url())
            .env("CADENZA_PUBLIC_URL", "https://cadenza.example")
            .env("CADENZA_MAIL_POLL_INTERVAL_MS", "50")
            .env_remove("CADENZA_SMTP_HOST")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("cadenza worker starts"),
    );
    let messages = sink.wait_for(1, WAIT).await;
    assert!(decoded(&messages[0].data).contains("Hello Acme owner,"));
    wait_for_outbox(&app, "the mail recorded as sent", |rows| {
        rows.iter().all(|r| r.status == "sent")
    })
    .await;

    let terminated = std::process::Command::new("kill")
        .args(["-TERM", &worker.0.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(terminated.success());
    let deadline = tokio::time::Instant::now() + WAIT;
    let status = loop {
        if let Some(status) = worker.0.try_wait().expect("worker status") {
            break status;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the worker did not stop"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(status.success(), "a clean exit on SIGTERM: {status:?}");
}

// ---- the feed and settings --------------------------------------------------------------

fn countered(revision: u32) -> Event {
    Event::DealCountered {
        deal: DealRef {
            id: "deal-1".into(),
            name: "Mandopop 2027".into(),
        },
        actor: Actor {
            name: "Tencent owner".into(),
            organization: "Tencent".into(),
        },
        revision,
        changes: vec![TermChange {
            field: "territories".into(),
            old: "CN".into(),
            new: "CN, HK".into(),
        }],
        respond_by: None,
    }
}

/// What the deal code will do on a counter by Tencent: tell both organizations.
fn notify_counter(
    app: &TestApp,
    licensee_org: &str,
    licensor_org: &str,
    actor: &str,
    revision: u32,
) {
    let event = countered(revision);
    write_transaction(&mut app.connection(), |conn| {
        notify(
            conn,
            Notification {
                event: &event,
                audiences: vec![
                    Audience {
                        organization_id: licensee_org,
                        counterparty: "Tencent",
                        action_required: true,
                    },
                    Audience {
                        organization_id: licensor_org,
                        counterparty: "QQ Music",
                        action_required: false,
                    },
                ],
                actor_user_id: Some(actor),
            },
        )
    })
    .map(|_| ())
    .map_err(|e: DbError| e)
    .expect("notify");
}

async fn the_feed_settings_and_isolation(backend: Backend) {
    let app = spawn_app(backend).await;
    let qq = app.register("QQ Music", "lead@qq.test").await;
    let negotiator = app.add_member(&qq, "deals@qq.test", "negotiator").await;
    let tencent = app.register("Tencent", "owner@tencent.test").await;

    // Settings: everything on by default; unknown kinds are refused by name.
    let settings = app
        .get(
            "/api/v1/me/notification-settings",
            Some(&negotiator.access_token),
        )
        .await;
    let settings = settings.assert_status(200);
    assert_eq!(settings["email"]["deal_countered"], true);
    assert_eq!(settings["email"].as_object().unwrap().len(), 19);
    let bad = app
        .request(
            Method::PUT,
            "/api/v1/me/notification-settings",
            Some(&negotiator.access_token),
            Some(&json!({"email": {"deal_countered": false, "deal_gossip": false}})),
        )
        .await;
    bad.assert_problem(422);
    assert_eq!(bad.error_fields(), vec!["email.deal_gossip"]);
    let off = app
        .request(
            Method::PUT,
            "/api/v1/me/notification-settings",
            Some(&negotiator.access_token),
            Some(&json!({"email": {"deal_countered": false}})),
        )
        .await;
    let off = off.assert_status(200);
    assert_eq!(off["email"]["deal_countered"], false);
    assert_eq!(off["email"]["deal_submitted"], true, "others unchanged");
    let audited: Vec<(String, Option<String>)> = {
        use cadenza::db::schema::audit_events::dsl;
        dsl::audit_events
            .filter(dsl::action.eq("notification_settings.changed"))
            .select((dsl::actor_user_id, dsl::after_json))
            .load::<(Option<String>, Option<String>)>(&mut app.connection())
            .expect("audit")
            .into_iter()
            .map(|(actor, after)| (actor.unwrap_or_default(), after))
            .collect()
    };
    assert_eq!(
        audited.len(),
        1,
        "the refused change was not applied nor audited"
    );
    assert_eq!(audited[0].0, negotiator.user_id);
    assert!(audited[0]
        .1
        .as_deref()
        .is_some_and(|a| a.contains(r#""deal_countered":false"#)));

    notify_counter(
        &app,
        &qq.organization_id,
        &tencent.organization_id,
        &tencent.user_id,
        2,
    );

    // Both QQ members see it in their feed; only the owner gets an e-mail; the actor
    // is not told about their own counter.
    assert_eq!(
        app.outbox_contexts("lead@qq.test", "deal_countered").len(),
        1
    );
    assert!(app
        .outbox_contexts("deals@qq.test", "deal_countered")
        .is_empty());
    assert!(app
        .outbox_contexts("owner@tencent.test", "deal_countered")
        .is_empty());
    let mail = &app.outbox_contexts("lead@qq.test", "deal_countered")[0];
    assert_eq!(mail["counterparty"], "Tencent");
    assert_eq!(mail["action_required"], true);
    assert_eq!(mail["changes"][0]["new"], "CN, HK");

    let feed = app
        .get("/api/v1/notifications", Some(&negotiator.access_token))
        .await;
    let items = feed.assert_status(200)["items"].as_array().unwrap().clone();
    assert_eq!(items.len(), 1);
    let item = &items[0];
    assert_eq!(item["kind"], "deal_countered");
    assert_eq!(item["subject_type"], "deal");
    assert_eq!(item["subject_id"], "deal-1");
    assert_eq!(item["organization_id"], json!(qq.organization_id));
    assert_eq!(
        item["title"],
        "Tencent countered “Mandopop 2027” (revision 2)"
    );
    assert_eq!(
        item["summary"],
        "Tencent owner countered with revision 2: 1 term changed."
    );
    assert_eq!(item["read"], false);
    assert_eq!(item["data"]["deal"]["name"], "Mandopop 2027");
    let tencent_feed = app
        .get("/api/v1/notifications", Some(&tencent.access_token))
        .await;
    assert!(tencent_feed.assert_status(200)["items"]
        .as_array()
        .unwrap()
        .is_empty());

    // Another user's notification is not found, and stays unread.
    let id = item["id"].as_str().unwrap().to_string();
    app.post(
        &format!("/api/v1/notifications/{id}/read"),
        Some(&tencent.access_token),
        &json!({}),
    )
    .await
    .assert_problem(404);
    app.post(
        &format!("/api/v1/notifications/{id}/read"),
        Some(&qq.access_token),
        &json!({}),
    )
    .await
    .assert_problem(404);

    // Read one; read twice keeps the first time.
    let read = app
        .post(
            &format!("/api/v1/notifications/{id}/read"),
            Some(&negotiator.access_token),
            &json!({}),
        )
        .await;
    let first_read_at = read.assert_status(200)["read_at"].clone();
    assert!(first_read_at.is_string());
    let again = app
        .post(
            &format!("/api/v1/notifications/{id}/read"),
            Some(&negotiator.access_token),
            &json!({}),
        )
        .await;
    assert_eq!(again.assert_status(200)["read_at"], first_read_at);

    // Two more events: the unread filter, pagination newest first, read-all.
    notify_counter(
        &app,
        &qq.organization_id,
        &tencent.organization_id,
        &tencent.user_id,
        3,
    );
    notify_counter(
        &app,
        &qq.organization_id,
        &tencent.organization_id,
        &tencent.user_id,
        4,
    );
    let unread = app
        .get(
            "/api/v1/notifications?unread=true",
            Some(&negotiator.access_token),
        )
        .await;
    let unread = unread.assert_status(200)["items"]
        .as_array()
        .unwrap()
        .clone();
    let revisions: Vec<_> = unread
        .iter()
        .map(|n| n["data"]["revision"].clone())
        .collect();
    assert_eq!(revisions, vec![json!(4), json!(3)]);
    let page = app
        .get(
            "/api/v1/notifications?limit=2",
            Some(&negotiator.access_token),
        )
        .await;
    let page = page.assert_status(200).clone();
    assert_eq!(page["items"].as_array().unwrap().len(), 2);
    let cursor = page["next_cursor"]
        .as_str()
        .expect("a next page")
        .to_string();
    let rest = app
        .get(
            &format!("/api/v1/notifications?limit=2&cursor={cursor}"),
            Some(&negotiator.access_token),
        )
        .await;
    let rest = rest.assert_status(200);
    assert_eq!(rest["items"][0]["id"], json!(id));
    assert!(rest["next_cursor"].is_null());
    let count = app
        .get(
            "/api/v1/notifications/unread-count",
            Some(&negotiator.access_token),
        )
        .await;
    assert_eq!(count.assert_status(200)["unread"], 2);
    let all = app
        .post(
            "/api/v1/notifications/read-all",
            Some(&negotiator.access_token),
            &json!({}),
        )
        .await;
    assert_eq!(all.assert_status(200)["marked"], 2);
    let unread = app
        .get(
            "/api/v1/notifications?unread=true",
            Some(&negotiator.access_token),
        )
        .await;
    assert!(unread.assert_status(200)["items"]
        .as_array()
        .unwrap()
        .is_empty());
    // The owner's feed is untouched by the negotiator's reading.
    let owner_unread = app
        .get("/api/v1/notifications?unread=true", Some(&qq.access_token))
        .await;
    assert_eq!(
        owner_unread.assert_status(200)["items"]
            .as_array()
            .unwrap()
            .len(),
        3
    );

    app.get("/api/v1/notifications", None)
        .await
        .assert_problem(401);

    let openapi = app.get("/api/openapi.json", None).await;
    let paths = &openapi.assert_status(200)["paths"];
    for path in [
        "/api/v1/notifications",
        "/api/v1/notifications/{id}/read",
        "/api/v1/notifications/read-all",
        "/api/v1/notifications/unread-count",
        "/api/v1/me/notification-settings",
    ] {
        assert!(
            paths.get(path).is_some(),
            "{path} missing from the OpenAPI document"
        );
    }
}

fn announce(app: &TestApp, event: Event, audiences: Vec<Audience<'_>>, actor: Option<&str>) {
    write_transaction(&mut app.connection(), |conn| {
        notify(
            conn,
            Notification {
                event: &event,
                audiences,
                actor_user_id: actor,
            },
        )
    })
    .map(|_| ())
    .map_err(|e: DbError| e)
    .expect("notify");
}

async fn a_negotiation_mails_the_right_people(backend: Backend) {
    let sink = SmtpSink::start().await;
    let app = spawn_with_smtp(backend, &sink, |_| {}).await;
    let qq = app.register("QQ Music", "lead@qq.test").await;
    let qq_negotiator = app.add_member(&qq, "deals@qq.test", "negotiator").await;
    let tencent = app.register("Tencent Music", "owner@tencent.test").await;
    let tencent_signer = app
        .add_member(&tencent, "sign@tencent.test", "signer")
        .await;
    sink.wait_for(2, WAIT).await;
    app.request(
        Method::PUT,
        "/api/v1/me/notification-settings",
        Some(&qq.access_token),
        Some(&json!({"email": {"deal_countered": false}})),
    )
    .await
    .assert_status(200);

    let deal = DealRef {
        id: "deal-7".into(),
        name: "Mandopop 2027".into(),
    };
    let person = |name: &str, organization: &str| Actor {
        name: name.into(),
        organization: organization.into(),
    };
    let licensee = |action_required| Audience {
        organization_id: &qq.organization_id,
        counterparty: "Tencent Music",
        action_required,
    };
    let licensor = |action_required| Audience {
        organization_id: &tencent.organization_id,
        counterparty: "QQ Music",
        action_required,
    };
    announce(
        &app,
        Event::DealSubmitted {
            deal: deal.clone(),
            actor: person("Tencent Music owner", "Tencent Music"),
            revision: 1,
            respond_by: Some("2026-12-31T00:00:00Z".parse().unwrap()),
        },
        vec![licensee(true), licensor(false)],
        Some(&tencent.user_id),
    );
    announce(
        &app,
        Event::DealCountered {
            deal: deal.clone(),
            actor: person("negotiator member", "QQ Music"),
            revision: 2,
            changes: vec![TermChange {
                field: "upfront_fee".into(),
                old: "1000000.00 CNY".into(),
                new: "800000.00 CNY".into(),
            }],
            respond_by: None,
        },
        vec![licensee(false), licensor(true)],
        Some(&qq_negotiator.user_id),
    );
    announce(
        &app,
        Event::DealAccepted {
            deal: deal.clone(),
            actor: person("Tencent Music owner", "Tencent Music"),
            revision: 2,
        },
        vec![licensee(true), licensor(true)],
        Some(&tencent.user_id),
    );
    announce(
        &app,
        Event::DealSigned {
            deal: deal.clone(),
            actor: person("signer member", "Tencent Music"),
            revision: 2,
        },
        vec![licensee(true), licensor(false)],
        Some(&tencent_signer.user_id),
    );
    announce(
        &app,
        Event::DealExecuted {
            deal: deal.clone(),
            grant_id: "grant-1".into(),
            track_count: 1_500_000,
            territories: vec!["CN".into(), "HK".into()],
            start_date: "2027-01-01".parse().unwrap(),
            end_date: "2029-12-31".parse().unwrap(),
        },
        vec![licensee(false), licensor(false)],
        None,
    );

    let proposed = "Tencent Music proposed “Mandopop 2027”";
    let countered = "QQ Music countered “Mandopop 2027” (revision 2)";
    let accepted = "“Mandopop 2027” was accepted: ready to sign";
    let signed = "Tencent Music signed “Mandopop 2027”";
    let executed = "“Mandopop 2027” is executed";
    let mut expected = vec![
        ("lead@qq.test", proposed),
        ("deals@qq.test", proposed),
        ("sign@tencent.test", proposed),
        // The QQ owner switched countered mails off; the negotiator made the counter.
        ("owner@tencent.test", countered),
        ("sign@tencent.test", countered),
        ("lead@qq.test", accepted),
        ("deals@qq.test", accepted),
        ("sign@tencent.test", accepted),
        ("lead@qq.test", signed),
        ("deals@qq.test", signed),
        ("owner@tencent.test", signed),
        ("lead@qq.test", executed),
        ("deals@qq.test", executed),
        ("owner@tencent.test", executed),
        ("sign@tencent.test", executed),
    ];
    expected.sort();
    sink.wait_for(2 + expected.len(), WAIT).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let messages: Vec<Received> = sink
        .messages()
        .into_iter()
        .filter(|m| !m.subject().contains("invited you"))
        .collect();
    let mut got: Vec<(String, String)> = messages
        .iter()
        .map(|m| (m.rcpt_to.join(","), m.subject()))
        .collect();
    got.sort();
    let expected: Vec<(String, String)> = expected
        .into_iter()
        .map(|(to, subject)| (to.to_string(), subject.to_string()))
        .collect();
    assert_eq!(got, expected);
    let ids: HashSet<String> = messages.iter().map(Received::message_id).collect();
    assert_eq!(ids.len(), messages.len());
    for message in &messages {
        assert_multipart_alternative(message);
    }
    let counter_to_tencent = messages
        .iter()
        .find(|m| m.subject() == countered && m.rcpt_to == vec!["owner@tencent.test".to_string()])
        .expect("the counter reached Tencent's owner");
    let body = decoded(&counter_to_tencent.data);
    assert!(
        body.contains("Your turn: accept, counter or reject."),
        "{body}"
    );
    assert!(
        body.contains("- upfront_fee: 1000000.00 CNY -> 800000.00 CNY"),
        "{body}"
    );
    assert!(body.contains("http://cadenza.test/deals/deal-7"), "{body}");
    // Every event is in the feed, e-mailed or not.
    let feed = app
        .get("/api/v1/notifications", Some(&qq.access_token))
        .await;
    let titles: Vec<_> = feed.assert_status(200)["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["title"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        titles,
        vec![executed, signed, accepted, countered, proposed]
    );
}

/// The real thing: a negotiation over HTTP, from proposal to execution, delivers the
/// right mails to the right people through a real SMTP server.
async fn an_http_negotiation_mails_both_teams(backend: Backend) {
    let sink = SmtpSink::start().await;
    let app = spawn_with_smtp(backend, &sink, |_| {}).await;
    let tme = app.register("Tencent Music", "lead@tme.test").await;
    let tme_signer = app.add_member(&tme, "signer@tme.test", "signer").await;
    let netease = app.register("NetEase", "lead@netease.test").await;
    let catalog = app
        .post("/api/v1/catalogs", Some(&tme.access_token), &json!({"name": "TME", "territories": ["CN"], "usages": ["interactive_streaming"], "holding_start": "2020-01-01", "holding_end": "2040-12-31", "sublicensable": true}))
        .await;
    let catalog = catalog.assert_status(201)["id"]
        .as_str()
        .unwrap()
        .to_string();
    let mut csv = Vec::new();
    cadenza::import::generate::generate_catalog(
        &mut csv,
        500,
        3,
        cadenza::import::ImportFormat::Csv,
    )
    .unwrap();
    let imported = app
        .client
        .post(app.url(&format!("/api/v1/catalogs/{catalog}/imports")))
        .bearer_auth(&tme.access_token)
        .header("content-type", "text/csv")
        .body(csv)
        .send()
        .await
        .unwrap();
    assert_eq!(imported.status().as_u16(), 200);
    let slice = app
        .post(
            &format!("/api/v1/catalogs/{catalog}/slices"),
            Some(&tme.access_token),
            &json!({"name": "All", "selector": {}}),
        )
        .await;
    let slice = slice.assert_status(201)["id"].as_str().unwrap().to_string();
    let terms = |fee: &str| {
        json!({"slice_id": slice, "territories": ["CN"], "usages": ["interactive_streaming"], "start_date": "2027-01-01", "end_date": "2027-12-31",
        "exclusive": false, "sublicensable": false, "currency": "CNY", "upfront_fee": fee, "minimum_guarantee": null, "per_stream_rate": null,
        "revenue_share_percent": null, "installments": [{"due_date": "2027-01-15", "amount": fee}], "clauses": null, "respond_by": null})
    };
    let act =
        |token: String, deal: serde_json::Value, action: &'static str, body: serde_json::Value| {
            let app = &app;
            async move {
                let r = app
                    .client
                    .post(app.url(&format!(
                        "/api/v1/deals/{}/{action}",
                        deal["id"].as_str().unwrap()
                    )))
                    .bearer_auth(token)
                    .header("if-match", format!("\"{}\"", deal["version"]))
                    .json(&body)
                    .send()
                    .await
                    .unwrap();
                TestApp::reply(r).await.assert_status(200).clone()
            }
        };
    // From offer to execution: TME publishes, NetEase opens the deal from the offer.
    let offer = app
        .post(
            "/api/v1/offers",
            Some(&tme.access_token),
            &json!({"title": "CN streaming", "slice_id": slice, "terms": terms("100000.00"), "visibility": "public",
                    "expires_at": (chrono::Utc::now() + chrono::Duration::days(5)).to_rfc3339(), "publish": true}),
        )
        .await;
    let offer_id = offer.assert_status(201)["id"].as_str().unwrap().to_string();
    let deal = app
        .post(
            "/api/v1/deals",
            Some(&netease.access_token),
            &json!({"offer_id": offer_id, "name": "CN streaming 2027"}),
        )
        .await;
    let deal = deal.assert_status(201).clone();
    let deal = act(netease.access_token.clone(), deal, "submit", json!({})).await;
    let deal = act(
        tme.access_token.clone(),
        deal,
        "counter",
        json!({"terms": terms("150000.00")}),
    )
    .await;
    let deal = act(netease.access_token.clone(), deal, "accept", json!({})).await;
    let hash = deal["terms_hash"].as_str().unwrap().to_string();
    let deal = act(
        netease.access_token.clone(),
        deal,
        "sign",
        json!({"terms_hash": hash}),
    )
    .await;
    let deal = act(
        tme_signer.access_token.clone(),
        deal,
        "sign",
        json!({"terms_hash": hash}),
    )
    .await;
    assert_eq!(deal["state"], "executed");

    // Every member of both organizations is told of each step, except the person who
    // took it: TME's lead of submitted, accepted, signed and executed (not of its own
    // counter); NetEase's lead of countered, signed and executed.
    // 12 deal mails and the signer's invitation.
    sink.wait_for(13, WAIT).await;
    wait_for_outbox(&app, "every mail sent", |rows| {
        rows.iter().all(|r| r.status == "sent")
    })
    .await;
    let messages = sink.messages();
    assert_eq!(messages.len(), 13);
    let subjects_to = |who: &str| -> Vec<String> {
        let mut s: Vec<String> = messages
            .iter()
            .filter(|m| m.rcpt_to.iter().any(|r| r == who))
            .map(|m| m.subject())
            .collect();
        s.sort();
        s
    };
    let lead = subjects_to("lead@tme.test");
    assert!(
        lead.iter()
            .any(|s| s == "NetEase proposed “CN streaming 2027”"),
        "{lead:?}"
    );
    assert!(lead.iter().any(|s| s.contains("accepted")), "{lead:?}");
    assert!(
        lead.iter().any(|s| s == "“CN streaming 2027” is executed"),
        "{lead:?}"
    );
    assert!(
        !lead.iter().any(|s| s.contains("countered")),
        "the lead countered; not told of it: {lead:?}"
    );
    let netease_lead = subjects_to("lead@netease.test");
    assert!(
        netease_lead
            .iter()
            .any(|s| s == "Tencent Music countered “CN streaming 2027” (revision 2)"),
        "{netease_lead:?}"
    );
    assert!(
        netease_lead
            .iter()
            .any(|s| s == "“CN streaming 2027” is executed"),
        "{netease_lead:?}"
    );
    assert!(
        !netease_lead.iter().any(|s| s.contains("proposed")),
        "{netease_lead:?}"
    );
    let counter = messages
        .iter()
        .find(|m| m.subject().contains("countered"))
        .unwrap();
    assert_multipart_alternative(counter);
    let text = decoded(&counter.data);
    assert!(
        text.contains("upfront_fee: 100000.00 -> 150000.00"),
        "the counter mail shows the diff: {text}"
    );
    let signer = subjects_to("signer@tme.test");
    assert!(
        signer.iter().any(|s| s.contains("countered")),
        "colleagues hear of the counter: {signer:?}"
    );
    // Every message was delivered once.
    let mut ids: Vec<String> = messages.iter().map(|m| m.message_id()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), messages.len());
}

on_both_backends!(
    an_http_negotiation_mails_both_teams,
    a_negotiation_mails_the_right_people,
    invitation_and_reset_mails_arrive,
    an_smtp_outage_delays_but_loses_and_doubles_nothing,
    a_crash_between_send_and_mark_redelivers_once_with_the_same_message_id,
    two_workers_never_send_a_message_twice,
    dead_letters_keep_their_error_and_can_be_retried,
    without_smtp_mails_become_eml_files,
    the_worker_command_delivers_and_stops_on_sigterm,
    the_feed_settings_and_isolation,
);
