//! The web app over plain HTTP, on both backends: sign-in and its cookie, sign-out,
//! CSRF refusal, 404 for another organization's deal, a stale form, validation errors
//! next to their field, and every link of every e-mail template answering its
//! recipient with a page.

use std::collections::BTreeMap;

use reqwest::header::{HeaderMap, LOCATION, SET_COOKIE};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::deals::{market, terms, Market};
use crate::helpers::{spawn_app_with, Backend, Session, TestApp, PASSWORD};
use crate::on_both_backends;

on_both_backends!(
    signing_in_sets_a_safe_session_cookie_and_signing_out_ends_it,
    the_session_cookie_is_secure_behind_https,
    a_form_post_without_the_csrf_token_is_refused_and_changes_nothing,
    another_organizations_deal_and_grant_are_not_found,
    a_stale_form_says_someone_acted_first_and_shows_the_new_state,
    validation_errors_appear_next_to_their_field,
    every_link_in_every_mail_template_resolves,
    password_reset_and_invitation_pages_work_from_their_mails,
    the_stylesheet_is_served_by_the_binary_and_cacheable,
    a_catalog_is_created_imported_and_sliced_from_the_pages,
    the_licensor_records_a_payment_on_the_schedule_page,
    the_licensor_reviews_royalty_statements_on_their_page,
    notifications_show_the_unread_count_and_settings_switch_mail_off,
    a_double_submitted_form_acts_once,
    a_slice_is_offered_from_its_catalog_page,
    a_slice_shows_its_tracks_and_the_catalog_what_is_still_available,
);

/// One visitor: a cookie jar over the test's client, redirects not followed (the tests
/// look at them).
pub(crate) struct Visitor {
    base: String,
    client: reqwest::Client,
    cookies: BTreeMap<String, String>,
}

pub(crate) struct Page {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) text: String,
}

impl Page {
    pub(crate) fn location(&self) -> &str {
        self.headers
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }

    /// The CSRF token of the page's forms.
    pub(crate) fn csrf(&self) -> String {
        let marker = r#"name="csrf" value=""#;
        let start = self.text.find(marker).expect("a form with a CSRF token") + marker.len();
        let end = self.text[start..].find('"').expect("end of the token") + start;
        self.text[start..end].to_string()
    }

    /// The `Set-Cookie` header for `name`.
    pub(crate) fn set_cookie(&self, name: &str) -> Option<String> {
        self.headers
            .get_all(SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|c| c.starts_with(&format!("{name}=")))
            .map(str::to_string)
    }

    pub(crate) fn assert(&self, status: u16) -> &Self {
        assert_eq!(
            self.status.as_u16(),
            status,
            "unexpected status; page: {}",
            &self.text[..self.text.len().min(3000)]
        );
        self
    }
}

impl Visitor {
    pub(crate) fn new(app: &TestApp) -> Self {
        Self {
            base: app.base.clone(),
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("client"),
            cookies: BTreeMap::new(),
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    async fn absorb(&mut self, response: reqwest::Response) -> Page {
        let status = response.status();
        let headers = response.headers().clone();
        for raw in headers
            .get_all(SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
        {
            let pair = raw.split(';').next().unwrap_or_default();
            if let Some((name, value)) = pair.split_once('=') {
                let removed = raw.to_ascii_lowercase().contains("max-age=0");
                if removed || value.is_empty() {
                    self.cookies.remove(name.trim());
                } else {
                    self.cookies
                        .insert(name.trim().to_string(), value.to_string());
                }
            }
        }
        let text = response.text().await.expect("body");
        Page {
            status,
            headers,
            text,
        }
    }

    pub(crate) async fn get(&mut self, path: &str) -> Page {
        let response = self
            .client
            .get(format!("{}{path}", self.base))
            .header("cookie", self.cookie_header())
            .send()
            .await
            .expect("GET");
        self.absorb(response).await
    }

    pub(crate) async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Page {
        let response = self
            .client
            .post(format!("{}{path}", self.base))
            .header("cookie", self.cookie_header())
            .form(form)
            .send()
            .await
            .expect("POST");
        self.absorb(response).await
    }

    /// Posts a multipart form: `csrf` (when given) first, then the file.
    pub(crate) async fn upload(
        &mut self,
        path: &str,
        csrf: Option<&str>,
        filename: &str,
        content: &[u8],
    ) -> Page {
        let boundary = "cadenza-test-boundary-7d1f";
        let mut body = Vec::new();
        if let Some(token) = csrf {
            body.extend_from_slice(
                format!("--{boundary}\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\n{token}\r\n")
                    .as_bytes(),
            );
        }
        body.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{filename}\"\r\nContent-Type: text/csv\r\n\r\n")
                .as_bytes(),
        );
        body.extend_from_slice(content);
        body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        let response = self
            .client
            .post(format!("{}{path}", self.base))
            .header("cookie", self.cookie_header())
            .header(
                "content-type",
                format!("multipart/form-data; boundary={boundary}"),
            )
            .body(body)
            .send()
            .await
            .expect("POST");
        self.absorb(response).await
    }

    pub(crate) async fn sign_in(&mut self, email: &str) {
        let login = self.get("/login").await;
        login.assert(200);
        let done = self
            .post(
                "/login",
                &[
                    ("csrf", &login.csrf()),
                    ("email", email),
                    ("password", PASSWORD),
                    ("next", "/deals"),
                ],
            )
            .await;
        assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.text);
        assert_eq!(done.location(), "/deals");
    }

    pub(crate) fn session(&self) -> Option<&String> {
        self.cookies.get("cadenza_session")
    }
}

/// A published public offer of the market's slice, on the standard terms.
pub(crate) async fn publish_offer(m: &Market, title: &str) -> String {
    let expires = (chrono::Utc::now() + chrono::Duration::days(30)).to_rfc3339();
    m.app
        .post(
            "/api/v1/offers",
            Some(&m.licensor.access_token),
            &json!({"title": title, "slice_id": m.slice_id, "terms": terms(&m.slice_id),
                    "visibility": "public", "expires_at": expires, "publish": true}),
        )
        .await
        .assert_status(201)["id"]
        .as_str()
        .expect("offer id")
        .to_string()
}

async fn signing_in_sets_a_safe_session_cookie_and_signing_out_ends_it(backend: Backend) {
    let app = spawn_app_with(backend, |_| {}).await;
    app.register("Tencent Music", "owner@tme.test").await;
    let mut visitor = Visitor::new(&app);

    let away = visitor.get("/deals?state=draft").await;
    away.assert(303);
    assert_eq!(away.location(), "/login?next=%2Fdeals%3Fstate%3Ddraft");

    let login = visitor.get("/login").await;
    login.assert(200);
    let csrf_cookie = login.set_cookie("cadenza_csrf").expect("a CSRF cookie");
    assert!(csrf_cookie.contains("HttpOnly") && csrf_cookie.contains("SameSite=Lax"));
    let wrong = visitor
        .post(
            "/login",
            &[
                ("csrf", &login.csrf()),
                ("email", "owner@tme.test"),
                ("password", "not-the-password-1"),
            ],
        )
        .await;
    wrong.assert(401);
    assert!(wrong
        .text
        .contains("The e-mail address or password is wrong."));
    assert!(visitor.session().is_none());

    let done = visitor
        .post(
            "/login",
            &[
                ("csrf", &wrong.csrf()),
                ("email", "owner@tme.test"),
                ("password", PASSWORD),
                ("next", "/marketplace"),
            ],
        )
        .await;
    done.assert(303);
    assert_eq!(done.location(), "/marketplace");
    let cookie = done
        .set_cookie("cadenza_session")
        .expect("a session cookie");
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("SameSite=Lax"), "{cookie}");
    assert!(cookie.contains("Path=/"), "{cookie}");
    assert!(
        !cookie.contains("Secure"),
        "plain http gets no Secure flag: {cookie}"
    );
    let session = visitor.session().expect("signed in").clone();

    let page = visitor.get("/marketplace").await;
    page.assert(200);
    assert!(page.text.contains("Tencent Music owner"));
    assert_eq!(
        page.headers
            .get("cache-control")
            .and_then(|v| v.to_str().ok()),
        Some("no-store")
    );

    // A `next` pointing off the site is not followed.
    let mut other = Visitor::new(&app);
    let login = other.get("/login").await;
    let off = other
        .post(
            "/login",
            &[
                ("csrf", &login.csrf()),
                ("email", "owner@tme.test"),
                ("password", PASSWORD),
                ("next", "//evil.test/x"),
            ],
        )
        .await;
    off.assert(303);
    assert_eq!(off.location(), "/");

    let out = visitor.post("/logout", &[("csrf", &page.csrf())]).await;
    out.assert(303);
    assert_eq!(out.location(), "/login");
    assert!(visitor.session().is_none());
    visitor.get("/marketplace").await.assert(303);
    // The old cookie value is revoked on the server, not only forgotten by the browser.
    visitor
        .cookies
        .insert("cadenza_session".into(), session.clone());
    let replayed = visitor.get("/marketplace").await;
    replayed.assert(303);
    assert!(replayed.location().starts_with("/login"));
}

async fn the_session_cookie_is_secure_behind_https(backend: Backend) {
    let app = spawn_app_with(backend, |s| s.public_url = "https://cadenza.test".into()).await;
    app.register("Tencent Music", "owner@tme.test").await;
    let mut visitor = Visitor::new(&app);
    let login = visitor.get("/login").await;
    assert!(login.set_cookie("cadenza_csrf").unwrap().contains("Secure"));
    let done = visitor
        .post(
            "/login",
            &[
                ("csrf", &login.csrf()),
                ("email", "owner@tme.test"),
                ("password", PASSWORD),
            ],
        )
        .await;
    done.assert(303);
    let cookie = done
        .set_cookie("cadenza_session")
        .expect("a session cookie");
    assert!(
        cookie.contains("Secure") && cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
}

async fn a_form_post_without_the_csrf_token_is_refused_and_changes_nothing(backend: Backend) {
    let m = market(backend, false).await;
    let deal = m.open(&terms(&m.slice_id)).await;
    let id = deal["id"].as_str().unwrap();
    let mut visitor = Visitor::new(&m.app);
    visitor.sign_in("owner@netease.test").await;
    let room = visitor.get(&format!("/deals/{id}")).await;
    room.assert(200);
    assert!(room.text.contains("id=\"submit-deal\""));
    let version = deal["version"].to_string();

    let without = visitor
        .post(&format!("/deals/{id}/submit"), &[("version", &version)])
        .await;
    without.assert(403);
    assert!(without.text.contains("reload the page"));
    let forged = visitor
        .post(
            &format!("/deals/{id}/submit"),
            &[("version", &version), ("csrf", &"0".repeat(64))],
        )
        .await;
    forged.assert(403);
    let after = m
        .app
        .get(
            &format!("/api/v1/deals/{id}"),
            Some(&m.licensee.access_token),
        )
        .await;
    assert_eq!(
        after.assert_status(200)["state"],
        "draft",
        "a refused form changes nothing"
    );

    // Another session's token is not this session's.
    let mut colleague = Visitor::new(&m.app);
    colleague.sign_in("signer@netease.test").await;
    let theirs = colleague.get(&format!("/deals/{id}")).await.csrf();
    visitor
        .post(
            &format!("/deals/{id}/submit"),
            &[("version", &version), ("csrf", &theirs)],
        )
        .await
        .assert(403);
    // Sign-in and sign-out need it too.
    let mut anonymous = Visitor::new(&m.app);
    anonymous
        .post(
            "/login",
            &[("email", "owner@netease.test"), ("password", PASSWORD)],
        )
        .await
        .assert(403);
    assert!(anonymous.session().is_none());
    visitor.post("/logout", &[]).await.assert(403);
    visitor.get("/deals").await.assert(200);

    let done = visitor
        .post(
            &format!("/deals/{id}/submit"),
            &[("version", &version), ("csrf", &room.csrf())],
        )
        .await;
    done.assert(303);
    let after = m
        .app
        .get(
            &format!("/api/v1/deals/{id}"),
            Some(&m.licensee.access_token),
        )
        .await;
    assert_eq!(after.assert_status(200)["state"], "negotiating");
}

async fn another_organizations_deal_and_grant_are_not_found(backend: Backend) {
    let m = market(backend, true).await;
    let agreed = m.agreed(&terms(&m.slice_id)).await;
    let executed = m.executed(agreed).await;
    let id = executed["id"].as_str().unwrap();
    let grant = executed["grant_id"].as_str().unwrap();
    m.app.register("Spotify", "owner@spotify.test").await;
    let mut outsider = Visitor::new(&m.app);
    outsider.sign_in("owner@spotify.test").await;
    for path in [
        format!("/deals/{id}"),
        format!("/deals/{id}/installments"),
        format!("/deals/{id}/statements"),
        format!("/deals/{id}/tracks.csv"),
        format!("/grants/{grant}"),
        format!("/grants/{grant}/tracks.csv"),
        "/deals/no-such-deal".to_string(),
    ] {
        let page = outsider.get(&path).await;
        page.assert(404);
        assert!(page.text.contains("Not found"), "{path}: {}", page.text);
        assert!(
            page.headers
                .get("content-type")
                .unwrap()
                .to_str()
                .unwrap()
                .starts_with("text/html"),
            "{path}"
        );
    }
    let csrf = outsider.get("/deals").await.csrf();
    outsider
        .post(
            &format!("/deals/{id}/withdraw"),
            &[
                ("csrf", &csrf),
                ("version", &executed["version"].to_string()),
            ],
        )
        .await
        .assert(404);
    // The parties see it.
    let mut licensee = Visitor::new(&m.app);
    licensee.sign_in("owner@netease.test").await;
    let page = licensee.get(&format!("/grants/{grant}")).await;
    page.assert(200);
    assert!(page.text.contains(&format!("/grants/{grant}/tracks.csv")));
    let csv = licensee.get(&format!("/grants/{grant}/tracks.csv")).await;
    csv.assert(200);
    assert_eq!(
        csv.text.lines().count() as i64 - 1,
        executed_track_count(&m, grant).await
    );
}

async fn executed_track_count(m: &Market, grant: &str) -> i64 {
    m.app
        .get(
            &format!("/api/v1/grants/{grant}"),
            Some(&m.licensee.access_token),
        )
        .await
        .assert_status(200)["track_count"]
        .as_i64()
        .unwrap()
}

async fn a_stale_form_says_someone_acted_first_and_shows_the_new_state(backend: Backend) {
    let m = market(backend, false).await;
    let deal = m.open(&terms(&m.slice_id)).await;
    let deal = m
        .act(&m.licensee.access_token, &deal, "submit", json!({}))
        .await
        .assert_status(200)
        .clone();
    let id = deal["id"].as_str().unwrap();
    let mut owner = Visitor::new(&m.app);
    owner.sign_in("owner@tme.test").await;
    let room = owner.get(&format!("/deals/{id}")).await;
    room.assert(200);
    assert!(room.text.contains("id=\"accept-deal\""));
    // A colleague accepts through the API while the page is open.
    m.act(&m.licensor_signer.access_token, &deal, "accept", json!({}))
        .await
        .assert_status(200);
    let stale = owner
        .post(
            &format!("/deals/{id}/accept"),
            &[
                ("csrf", &room.csrf()),
                ("version", &deal["version"].to_string()),
            ],
        )
        .await;
    stale.assert(409);
    assert!(
        stale.text.contains("Someone else acted on this deal first"),
        "{}",
        stale.text
    );
    assert!(
        stale.text.contains(">agreed</span>"),
        "the page shows the new state"
    );
    assert!(stale.text.contains("id=\"sign-deal\""));
}

async fn validation_errors_appear_next_to_their_field(backend: Backend) {
    let m = market(backend, false).await;
    let deal = m.open(&terms(&m.slice_id)).await;
    let deal = m
        .act(&m.licensee.access_token, &deal, "submit", json!({}))
        .await
        .assert_status(200)
        .clone();
    let id = deal["id"].as_str().unwrap();
    let mut owner = Visitor::new(&m.app);
    owner.sign_in("owner@tme.test").await;
    let room = owner.get(&format!("/deals/{id}")).await;
    // The counter form is prefilled with the current terms.
    assert!(
        room.text
            .contains(r#"name="upfront_fee" type="text" value="1000000.00""#),
        "prefilled"
    );
    let csrf = room.csrf();
    let version = deal["version"].to_string();
    let form = [
        ("csrf", csrf.as_str()),
        ("version", version.as_str()),
        ("slice_id", m.slice_id.as_str()),
        ("territories", "CN"),
        ("usages", "interactive_streaming"),
        ("start_date", "2027-01-01"),
        ("end_date", "2029-12-31"),
        ("currency", "CNY"),
        ("upfront_fee", "a lot"),
        ("minimum_guarantee", "5000000.00"),
        ("per_stream_rate", "0.0045"),
        (
            "installments",
            "2027-01-15 3000000.00\n2027-07-15 3000000.00",
        ),
        ("respond_by", "2030-06-30T00:00:00Z"),
    ];
    let refused = owner.post(&format!("/deals/{id}/counter"), &form).await;
    refused.assert(422);
    let error_at = refused
        .text
        .find(r#"id="e-upfront_fee""#)
        .expect("an error on the fee field");
    let field_at = refused
        .text
        .find(r#"id="f-upfront_fee""#)
        .expect("the fee field");
    assert!(
        error_at > field_at && error_at - field_at < 600,
        "the error sits next to its field"
    );
    assert!(
        refused.text.contains(r#"value="a lot""#),
        "what was typed is kept"
    );
    let api = m
        .app
        .get(
            &format!("/api/v1/deals/{id}"),
            Some(&m.licensor.access_token),
        )
        .await;
    assert_eq!(api.assert_status(200)["revision"], 1);
    // A good counter goes through and the diff highlights what changed.
    let mut good: Vec<(&str, &str)> = form.to_vec();
    for pair in good.iter_mut() {
        if pair.0 == "upfront_fee" {
            pair.1 = "2000000.00";
        }
        if pair.0 == "installments" {
            pair.1 = "2027-01-15 3500000.00\n2027-07-15 3500000.00";
        }
    }
    owner
        .post(&format!("/deals/{id}/counter"), &good)
        .await
        .assert(303);
    let room = owner.get(&format!("/deals/{id}")).await;
    room.assert(200);
    assert!(room
        .text
        .contains(r#"<tr class="changed" data-field="upfront_fee">"#));
    assert!(room
        .text
        .contains(r#"<tr class="changed" data-field="installments">"#));
    assert!(room.text.contains(r#"<tr data-field="currency">"#));
}

/// The links of a mail body: every `href` and bare URL under `public_url`.
fn links_in(text: &str, public_url: &str) -> Vec<String> {
    let mut links = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find(public_url) {
        let tail = &rest[at..];
        let end = tail
            .find(|c: char| c.is_whitespace() || c == '"' || c == '<' || c == '\'')
            .unwrap_or(tail.len());
        links.push(tail[..end].trim_end_matches(['.', ',', ')']).to_string());
        rest = &tail[end..];
    }
    links
}

async fn every_link_in_every_mail_template_resolves(backend: Backend) {
    let m = market(backend, true).await;
    let offer = publish_offer(&m, "CN streaming").await;
    let executed = m.executed(m.agreed(&terms(&m.slice_id)).await).await;
    let deal_id = executed["id"].as_str().unwrap().to_string();
    let grant_id = executed["grant_id"].as_str().unwrap().to_string();
    let public_url = "http://cadenza.test";
    m.app
        .post(
            "/api/v1/auth/password-reset",
            None,
            &json!({"email": "owner@netease.test"}),
        )
        .await
        .assert_status(202);
    m.app
        .post(
            "/api/v1/invitations",
            Some(&m.licensee.access_token),
            &json!({"email": "new@netease.test", "role": "viewer"}),
        )
        .await
        .assert_status(201);

    // 1. Every template's links, from its source, filled with the ids of a real deal,
    // grant and offer: a new link kind without a page fails here.
    let mut pending: Vec<(String, String)> = Vec::new();
    let mut templates = 0;
    for entry in std::fs::read_dir("templates").expect("templates/") {
        let path = entry.expect("entry").path();
        if !path.is_file() {
            continue;
        }
        templates += 1;
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        let source = std::fs::read_to_string(&path).expect("template source");
        let filled = source
            .replace("{{ public_url }}", public_url)
            .replace("{{ deal.id }}", &deal_id)
            .replace("{{ grant_id }}", &grant_id)
            .replace("{{ offer.id }}", &offer);
        for link in links_in(&filled, public_url) {
            assert!(
                !link.contains("{{"),
                "{name}: a link with an unknown variable: {link}"
            );
            pending.push((name.clone(), link));
        }
    }
    assert!(
        templates >= 60,
        "the mail templates were read ({templates})"
    );
    let kinds: std::collections::BTreeSet<String> = pending
        .iter()
        .map(|(_, l)| {
            l.trim_start_matches(public_url)
                .split('/')
                .nth(1)
                .unwrap_or_default()
                .to_string()
        })
        .collect();
    assert!(
        kinds.contains("deals")
            && kinds.contains("grants")
            && kinds.contains("offers")
            && kinds.contains("settings"),
        "{kinds:?}"
    );

    // 2. The mails actually queued by the deal, rendered as they are sent.
    let mut rendered = 0;
    for (email, kinds) in [
        (
            "owner@netease.test",
            vec![
                "deal_accepted",
                "deal_signed",
                "deal_executed",
                "password_reset",
            ],
        ),
        (
            "owner@tme.test",
            vec!["deal_submitted", "deal_signed", "deal_executed"],
        ),
        ("new@netease.test", vec!["invitation"]),
    ] {
        for kind in kinds {
            for context in m.app.outbox_contexts(email, kind) {
                let mail = cadenza::mail::templates::render(kind, &context, public_url)
                    .unwrap_or_else(|e| panic!("{kind} renders: {e}"));
                rendered += 1;
                for link in links_in(&mail.text, public_url)
                    .into_iter()
                    .chain(links_in(&mail.html, public_url))
                {
                    pending.push((format!("{kind} to {email}"), link));
                }
            }
        }
    }
    assert!(rendered >= 6, "real mails were rendered ({rendered})");

    // Each link, opened by a party of the deal (the licensee's owner, who got most of them).
    let mut licensee = Visitor::new(&m.app);
    licensee.sign_in("owner@netease.test").await;
    let mut checked = std::collections::BTreeSet::new();
    for (source, link) in pending {
        let path = link.trim_start_matches(public_url).replace("&amp;", "&");
        if !checked.insert(path.clone()) {
            continue;
        }
        let page = licensee.get(&path).await;
        assert_eq!(
            page.status,
            StatusCode::OK,
            "{source}: {link} answered {}",
            page.status
        );
        assert!(
            page.text.contains("<main id=\"main\">"),
            "{source}: {link} is a page"
        );
    }
    assert!(checked
        .iter()
        .any(|p| p.starts_with("/reset-password?token=")));
    assert!(checked
        .iter()
        .any(|p| p.starts_with("/accept-invitation?token=")));
    assert!(checked.contains(&format!("/grants/{grant_id}")));
    assert!(checked.contains(&format!("/offers/{offer}")));
    assert!(checked.contains(&format!("/deals/{deal_id}/installments")));
    assert!(checked.contains(&format!("/deals/{deal_id}/statements")));
    assert!(checked.contains("/settings/notifications"));
}

async fn password_reset_and_invitation_pages_work_from_their_mails(backend: Backend) {
    let app = spawn_app_with(backend, |_| {}).await;
    let owner: Session = app.register("Tencent Music", "owner@tme.test").await;
    let mut visitor = Visitor::new(&app);
    let forgot = visitor.get("/forgot-password").await;
    forgot.assert(200);
    visitor
        .post(
            "/forgot-password",
            &[("csrf", &forgot.csrf()), ("email", "owner@tme.test")],
        )
        .await
        .assert(200);
    let link = app
        .outbox_contexts("owner@tme.test", "password_reset")
        .pop()
        .unwrap()["link"]
        .as_str()
        .unwrap()
        .to_string();
    let path = link.trim_start_matches("http://cadenza.test").to_string();
    let page = visitor.get(&path).await;
    page.assert(200);
    let token = app.latest_mail_token("owner@tme.test", "password_reset");
    let weak = visitor
        .post(
            "/reset-password",
            &[
                ("csrf", &page.csrf()),
                ("token", &token),
                ("password", "short"),
            ],
        )
        .await;
    weak.assert(422);
    assert!(weak.text.contains(r#"id="e-password""#));
    let new_password = "a-brand-new-password-77";
    visitor
        .post(
            "/reset-password",
            &[
                ("csrf", &weak.csrf()),
                ("token", &token),
                ("password", new_password),
            ],
        )
        .await
        .assert(303);
    let login = visitor.get("/login").await;
    visitor
        .post(
            "/login",
            &[
                ("csrf", &login.csrf()),
                ("email", "owner@tme.test"),
                ("password", new_password),
            ],
        )
        .await
        .assert(303);
    // The used link is refused.
    let again = visitor
        .post(
            "/reset-password",
            &[
                ("csrf", &login.csrf()),
                ("token", &token),
                ("password", new_password),
            ],
        )
        .await;
    again.assert(422);
    assert!(again.text.contains("invalid, expired or already used"));

    // Members page (owners): invite, then accept from the mail.
    let members = visitor.get("/members").await;
    members.assert(200);
    let sent = visitor
        .post(
            "/members/invitations",
            &[
                ("csrf", &members.csrf()),
                ("email", "neg@tme.test"),
                ("role", "negotiator"),
            ],
        )
        .await;
    sent.assert(200);
    assert!(sent.text.contains("Invitation sent to neg@tme.test"));
    let invitation = app
        .outbox_contexts("neg@tme.test", "invitation")
        .pop()
        .unwrap();
    let path = invitation["link"]
        .as_str()
        .unwrap()
        .trim_start_matches("http://cadenza.test")
        .to_string();
    let mut invitee = Visitor::new(&app);
    let page = invitee.get(&path).await;
    page.assert(200);
    let token = invitation["token"].as_str().unwrap();
    let joined = invitee
        .post(
            "/accept-invitation",
            &[
                ("csrf", &page.csrf()),
                ("token", token),
                ("name", "Nina"),
                ("password", PASSWORD),
            ],
        )
        .await;
    joined.assert(303);
    assert!(invitee.session().is_some(), "accepting signs in");
    let home = invitee.get("/deals").await;
    home.assert(200);
    assert!(home.text.contains("Nina · Tencent Music (negotiator)"));
    // A negotiator is not an owner: no members page.
    invitee.get("/members").await.assert(403);
    let _ = owner;
}

async fn the_stylesheet_is_served_by_the_binary_and_cacheable(backend: Backend) {
    let app = spawn_app_with(backend, |_| {}).await;
    let mut visitor = Visitor::new(&app);
    let login = visitor.get("/login").await;
    let at = login
        .text
        .find("/assets/cadenza.css?v=")
        .expect("the page links the stylesheet");
    let href: String = login.text[at..].chars().take_while(|c| *c != '"').collect();
    let css = visitor.get(&href).await;
    css.assert(200);
    assert!(css.headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/css"));
    assert!(css.headers["cache-control"]
        .to_str()
        .unwrap()
        .contains("max-age=31536000"));
    assert!(css.text.contains("@media"), "responsive rules");
    let etag = css.headers["etag"].to_str().unwrap().to_string();
    let again = visitor
        .client
        .get(format!("{}{href}", visitor.base))
        .header("if-none-match", etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
    assert!(!login.text.contains("https://"), "no external assets");
    let _: Value = json!(null);
}

async fn a_catalog_is_created_imported_and_sliced_from_the_pages(backend: Backend) {
    let app = spawn_app_with(backend, |_| {}).await;
    let owner = app.register("Tencent Music", "owner@tme.test").await;
    let mut visitor = Visitor::new(&app);
    visitor.sign_in("owner@tme.test").await;
    let list = visitor.get("/catalogs").await;
    list.assert(200);
    let csrf = list.csrf();

    // No usage ticked: the error is on the usages.
    let refused = visitor
        .post(
            "/catalogs",
            &[
                ("csrf", &csrf),
                ("name", "TME catalog"),
                ("territories", "CN, HK"),
                ("holding_start", "2020-01-01"),
                ("holding_end", "2040-12-31"),
            ],
        )
        .await;
    refused.assert(422);
    assert!(
        refused.text.contains("must list at least one usage"),
        "{}",
        refused.text
    );
    assert!(
        refused.text.contains(r#"value="TME catalog""#),
        "what was typed is kept"
    );
    let created = visitor
        .post(
            "/catalogs",
            &[
                ("csrf", &csrf),
                ("name", "TME catalog"),
                ("territories", "CN, HK"),
                ("usages", "interactive_streaming"),
                ("usages", "download"),
                ("holding_start", "2020-01-01"),
                ("holding_end", "2040-12-31"),
                ("sublicensable", "on"),
            ],
        )
        .await;
    created.assert(303);
    let catalog_path = created.location().to_string();
    let catalog_id = catalog_path.trim_start_matches("/catalogs/").to_string();
    let api = app
        .get(
            &format!("/api/v1/catalogs/{catalog_id}"),
            Some(&owner.access_token),
        )
        .await;
    assert_eq!(
        api.assert_status(200)["usages"],
        json!(["interactive_streaming", "download"])
    );

    let mut csv = Vec::new();
    cadenza::import::generate::generate_catalog(
        &mut csv,
        300,
        9,
        cadenza::import::ImportFormat::Csv,
    )
    .unwrap();
    csv.extend_from_slice(b"NOT-AN-ISRC,Broken,Someone,Label 0001,Pop,2020-01-01,200000\n");
    csv.extend_from_slice(b"USAAA2600001,No date,Someone,Label 0001,Pop,someday,200000\n");

    // Without the token nothing is imported.
    let page = visitor.get(&catalog_path).await;
    visitor
        .upload(&format!("{catalog_path}/imports"), None, "tracks.csv", &csv)
        .await
        .assert(403);
    let api = app
        .get(
            &format!("/api/v1/catalogs/{catalog_id}"),
            Some(&owner.access_token),
        )
        .await;
    assert_eq!(api.assert_status(200)["track_count"], 0);

    let imported = visitor
        .upload(
            &format!("{catalog_path}/imports"),
            Some(&page.csrf()),
            "tracks.csv",
            &csv,
        )
        .await;
    imported.assert(200);
    assert!(
        imported
            .text
            .contains(r#"<strong id="imported">300</strong>"#),
        "{}",
        &imported.text[..imported.text.len().min(4000)]
    );
    assert!(imported
        .text
        .contains(r#"<strong id="rejected">2</strong>"#));
    assert!(
        imported.text.contains("<td>302</td>") && imported.text.contains("<td>303</td>"),
        "the rejected rows by line"
    );
    let api = app
        .get(
            &format!("/api/v1/catalogs/{catalog_id}"),
            Some(&owner.access_token),
        )
        .await;
    assert_eq!(api.assert_status(200)["track_count"], 300);

    // The selector form counts before saving, and saving cuts exactly that.
    let selector = [
        ("csrf", page.csrf()),
        ("name", "Label 1".to_string()),
        ("labels", "Label 0001".to_string()),
    ];
    let form: Vec<(&str, &str)> = selector.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let mut preview = form.clone();
    preview.push(("preview", "1"));
    let counted = visitor
        .post(&format!("{catalog_path}/slices"), &preview)
        .await;
    counted.assert(200);
    let marker = "This selector selects <strong>";
    let at = counted.text.find(marker).expect("a preview count") + marker.len();
    let count: i64 = counted.text[at..]
        .split('<')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(count > 0 && count < 300, "{count}");
    let slices = app
        .get(
            &format!("/api/v1/catalogs/{catalog_id}/slices"),
            Some(&owner.access_token),
        )
        .await;
    assert_eq!(
        slices.assert_status(200)["items"].as_array().unwrap().len(),
        0,
        "a preview saves nothing"
    );
    let mut save = form.clone();
    save.push(("save", "1"));
    let saved = visitor.post(&format!("{catalog_path}/slices"), &save).await;
    saved.assert(201);
    assert!(saved.text.contains("id=\"slice-created\""));
    let slices = app
        .get(
            &format!("/api/v1/catalogs/{catalog_id}/slices"),
            Some(&owner.access_token),
        )
        .await;
    assert_eq!(slices.assert_status(200)["items"][0]["track_count"], count);
    // A bad date is reported on its field.
    let mut bad = form.clone();
    bad.push(("released_from", "soon"));
    bad.push(("preview", "1"));
    let refused = visitor.post(&format!("{catalog_path}/slices"), &bad).await;
    refused.assert(422);
    assert!(refused.text.contains(r#"id="e-released_from""#));

    // Another organization cannot see the catalog.
    app.register("Spotify", "owner@spotify.test").await;
    let mut outsider = Visitor::new(&app);
    outsider.sign_in("owner@spotify.test").await;
    outsider.get(&catalog_path).await.assert(404);
}

async fn the_licensor_records_a_payment_on_the_schedule_page(backend: Backend) {
    let m = market(backend, true).await;
    let executed = m.executed(m.agreed(&terms(&m.slice_id)).await).await;
    let id = executed["id"].as_str().unwrap();
    let schedule = m
        .app
        .get(
            &format!("/api/v1/deals/{id}/installments"),
            Some(&m.licensor.access_token),
        )
        .await;
    let first = schedule.assert_status(200)["installments"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();

    let mut licensee = Visitor::new(&m.app);
    licensee.sign_in("owner@netease.test").await;
    let theirs = licensee.get(&format!("/deals/{id}/installments")).await;
    theirs.assert(200);
    assert!(theirs.text.contains("3000000.00"));
    assert!(
        !theirs.text.contains("/payments\""),
        "the licensee records nothing"
    );

    let mut licensor = Visitor::new(&m.app);
    licensor.sign_in("owner@tme.test").await;
    let page = licensor.get(&format!("/deals/{id}/installments")).await;
    page.assert(200);
    assert!(page
        .text
        .contains(&format!("action=\"/installments/{first}/payments\"")));
    let csrf = page.csrf();
    let too_much = licensor
        .post(
            &format!("/installments/{first}/payments"),
            &[
                ("csrf", &csrf),
                ("deal_id", id),
                ("amount", "9000000.00"),
                ("paid_on", "2026-11-30"),
                ("reference", "WIRE-1"),
            ],
        )
        .await;
    too_much.assert(422);
    assert!(
        too_much.text.contains(r#"id="e-amount1""#),
        "the error sits on the amount of that installment"
    );
    licensor
        .post(
            &format!("/installments/{first}/payments"),
            &[
                ("csrf", &csrf),
                ("deal_id", id),
                ("amount", "1000000.00"),
                ("paid_on", "2026-11-30"),
                ("reference", "WIRE-1"),
            ],
        )
        .await
        .assert(303);
    let schedule = m
        .app
        .get(
            &format!("/api/v1/deals/{id}/installments"),
            Some(&m.licensee.access_token),
        )
        .await;
    let body = schedule.assert_status(200);
    assert_eq!(body["installments"][0]["paid"], "1000000.00");
    assert_eq!(
        body["installments"][0]["payments"][0]["reference"],
        "WIRE-1"
    );
    // Without the token: refused, nothing recorded.
    licensor
        .post(
            &format!("/installments/{first}/payments"),
            &[
                ("deal_id", id),
                ("amount", "1.00"),
                ("paid_on", "2026-11-30"),
                ("reference", "X"),
            ],
        )
        .await
        .assert(403);
    let schedule = m
        .app
        .get(
            &format!("/api/v1/deals/{id}/installments"),
            Some(&m.licensee.access_token),
        )
        .await;
    assert_eq!(
        schedule.assert_status(200)["installments"][0]["payments"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

async fn the_licensor_reviews_royalty_statements_on_their_page(backend: Backend) {
    let m = market(backend, true).await;
    let executed = m.executed(m.agreed(&terms(&m.slice_id)).await).await;
    let id = executed["id"].as_str().unwrap();
    let grant = executed["grant_id"].as_str().unwrap();
    let csv = "territory,usage,licensed_streams,total_streams,gross_revenue,subscribers,isrc\nCN,interactive_streaming,1000000,50000000,2000000.00,100000,\n";
    let response = m
        .app
        .client
        .post(m.app.url(&format!(
            "/api/v1/grants/{grant}/usage-reports?period_start=2027-01-01"
        )))
        .bearer_auth(&m.licensee.access_token)
        .header("content-type", "text/csv")
        .body(csv)
        .send()
        .await
        .unwrap();
    let report = TestApp::reply(response).await;
    let statement = report.assert_status(201)["statements"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();

    let mut licensee = Visitor::new(&m.app);
    licensee.sign_in("owner@netease.test").await;
    let theirs = licensee.get(&format!("/deals/{id}/statements")).await;
    theirs.assert(200);
    assert!(
        theirs.text.contains("2027-01-01 to 2027-03-31"),
        "{}",
        theirs.text
    );
    assert!(
        !theirs.text.contains("/confirm\""),
        "the licensee does not review"
    );

    let mut licensor = Visitor::new(&m.app);
    licensor.sign_in("owner@tme.test").await;
    let page = licensor.get(&format!("/deals/{id}/statements")).await;
    page.assert(200);
    let csrf = page.csrf();
    let empty = licensor
        .post(
            &format!("/statements/{statement}/dispute"),
            &[("csrf", &csrf), ("deal_id", id), ("reason", " ")],
        )
        .await;
    empty.assert(422);
    assert!(
        empty.text.contains(r#"id="e-reason""#),
        "the reason is required, next to its field"
    );
    licensor
        .post(
            &format!("/statements/{statement}/confirm"),
            &[("csrf", &csrf), ("deal_id", id)],
        )
        .await
        .assert(303);
    let api = m
        .app
        .get(
            &format!("/api/v1/statements/{statement}"),
            Some(&m.licensee.access_token),
        )
        .await;
    // Confirmed with nothing payable (the 4,500.00 earned all recoups the 5,000,000.00
    // advance): settled at once.
    assert_eq!(api.assert_status(200)["status"], "paid");
    // Confirming twice: the page says why, nothing changes.
    let again = licensor
        .post(
            &format!("/statements/{statement}/confirm"),
            &[("csrf", &csrf), ("deal_id", id)],
        )
        .await;
    again.assert(409);
}

async fn notifications_show_the_unread_count_and_settings_switch_mail_off(backend: Backend) {
    let m = market(backend, false).await;
    let deal = m.open(&terms(&m.slice_id)).await;
    m.act(&m.licensee.access_token, &deal, "submit", json!({}))
        .await
        .assert_status(200);
    let unread = m
        .app
        .get(
            "/api/v1/notifications/unread-count",
            Some(&m.licensor.access_token),
        )
        .await
        .assert_status(200)["unread"]
        .as_i64()
        .expect("an unread count");
    assert!(unread > 0);

    let mut licensor = Visitor::new(&m.app);
    licensor.sign_in("owner@tme.test").await;
    let feed = licensor.get("/notifications").await;
    feed.assert(200);
    assert!(
        feed.text.contains(&format!(
            "<span class=\"badge\" aria-label=\"{unread} unread\">{unread}</span>"
        )),
        "the header shows the unread count"
    );
    assert!(feed.text.contains(&format!("<p>{unread} unread.</p>")));
    // Opening one marks it read and leads to its deal.
    let action = feed
        .text
        .match_indices("action=\"")
        .map(|(i, m)| {
            feed.text[i + m.len()..]
                .chars()
                .take_while(|c| *c != '"')
                .collect::<String>()
        })
        .find(|a| a.starts_with("/notifications/") && a.ends_with("/read"))
        .expect("a notification to open");
    let opened = licensor.post(&action, &[("csrf", &feed.csrf())]).await;
    opened.assert(303);
    assert_eq!(
        opened.location(),
        format!("/deals/{}", deal["id"].as_str().unwrap())
    );
    let all = licensor
        .post("/notifications/read-all", &[("csrf", &feed.csrf())])
        .await;
    all.assert(303);
    let feed = licensor.get("/notifications").await;
    assert!(feed.text.contains("<p>0 unread.</p>"));
    assert!(!feed.text.contains("class=\"badge\""));

    let settings = licensor.get("/settings/notifications").await;
    settings.assert(200);
    assert!(settings.text.contains(r#"value="deal_countered" checked"#));
    // Submitting with deal_countered unticked switches only it off.
    let kinds: Vec<String> = settings
        .text
        .match_indices(r#"name="email" value=""#)
        .map(|(i, m)| {
            settings.text[i + m.len()..]
                .chars()
                .take_while(|c| *c != '"')
                .collect()
        })
        .collect();
    assert!(kinds.len() > 5, "{kinds:?}");
    let csrf = settings.csrf();
    let mut form: Vec<(&str, &str)> = vec![("csrf", csrf.as_str())];
    for kind in kinds.iter().filter(|k| *k != "deal_countered") {
        form.push(("email", kind.as_str()));
    }
    let saved = licensor.post("/settings/notifications", &form).await;
    saved.assert(200);
    assert!(saved.text.contains("Saved."));
    assert!(saved.text.contains(r#"value="deal_countered">"#));
    let api = m
        .app
        .get(
            "/api/v1/me/notification-settings",
            Some(&m.licensor.access_token),
        )
        .await;
    let body = api.assert_status(200);
    assert_eq!(body["email"]["deal_countered"], false);
    assert_eq!(body["email"]["deal_submitted"], true);
}

async fn a_double_submitted_form_acts_once(backend: Backend) {
    let m = market(backend, false).await;
    let offer = publish_offer(&m, "CN streaming").await;
    let mut licensee = Visitor::new(&m.app);
    licensee.sign_in("owner@netease.test").await;
    let page = licensee.get(&format!("/offers/{offer}")).await;
    page.assert(200);
    let marker = r#"name="form_key" value=""#;
    let at = page.text.find(marker).expect("a form key") + marker.len();
    let key: String = page.text[at..].chars().take_while(|c| *c != '"').collect();
    let csrf = page.csrf();
    let form = [
        ("csrf", csrf.as_str()),
        ("form_key", key.as_str()),
        ("name", "From the offer"),
    ];
    let first = licensee
        .post(&format!("/offers/{offer}/deals"), &form)
        .await;
    first.assert(303);
    let second = licensee
        .post(&format!("/offers/{offer}/deals"), &form)
        .await;
    second.assert(303);
    assert_eq!(
        first.location(),
        second.location(),
        "the same deal, replayed"
    );
    let deals = m
        .app
        .get("/api/v1/deals", Some(&m.licensee.access_token))
        .await;
    assert_eq!(
        deals.assert_status(200)["items"].as_array().unwrap().len(),
        1
    );
    // The same key with other values is refused; a fresh page opens another deal.
    let other = [
        ("csrf", csrf.as_str()),
        ("form_key", key.as_str()),
        ("name", "Another"),
    ];
    licensee
        .post(&format!("/offers/{offer}/deals"), &other)
        .await
        .assert(400);
    let fresh = licensee.get(&format!("/offers/{offer}")).await;
    let at = fresh.text.find(marker).unwrap() + marker.len();
    let new_key: String = fresh.text[at..].chars().take_while(|c| *c != '"').collect();
    assert_ne!(new_key, key);
    licensee
        .post(
            &format!("/offers/{offer}/deals"),
            &[
                ("csrf", csrf.as_str()),
                ("form_key", new_key.as_str()),
                ("name", "Another"),
            ],
        )
        .await
        .assert(303);
    let deals = m
        .app
        .get("/api/v1/deals", Some(&m.licensee.access_token))
        .await;
    assert_eq!(
        deals.assert_status(200)["items"].as_array().unwrap().len(),
        2
    );
}

/// The licensor offers its slice from the catalog page: the form is prefilled from the
/// catalog's holding, terms the holding does not cover are refused next to their field
/// (nothing created), and the offer created reaches the marketplace. Another
/// organization cannot open the form of a slice that is not its own.
async fn a_slice_is_offered_from_its_catalog_page(backend: Backend) {
    let m = market(backend, false).await;
    let mut owner = Visitor::new(&m.app);
    owner.sign_in("owner@tme.test").await;
    let catalog = owner.get(&format!("/catalogs/{}", m.catalog_id)).await;
    let link = format!("/slices/{}/offer", m.slice_id);
    assert!(
        catalog.assert(200).text.contains(&link),
        "the catalog page links to the offer form"
    );
    let form = owner.get(&link).await;
    form.assert(200);
    let at = form
        .text
        .find(r#"name="territories""#)
        .expect("a territories field");
    assert!(
        form.text[at..].starts_with(r#"name="territories" type="text" value="CN, HK, MO, TW""#),
        "prefilled from the holding: {}",
        &form.text[at..at + 120]
    );
    let csrf = form.csrf();
    let expires = (chrono::Utc::now() + chrono::Duration::days(20)).to_rfc3339();
    let fields = |territories: &'static str| {
        vec![
            ("csrf", csrf.clone()),
            ("slice_id", m.slice_id.clone()),
            ("title", "CN streaming, from the pages".to_string()),
            ("visibility", "public".to_string()),
            ("expires_at", expires.clone()),
            ("publish", "on".to_string()),
            ("territories", territories.to_string()),
            ("usages", "interactive_streaming".to_string()),
            ("start_date", "2027-01-01".to_string()),
            ("end_date", "2029-12-31".to_string()),
            ("currency", "CNY".to_string()),
            ("upfront_fee", "1000000.00".to_string()),
            ("minimum_guarantee", "5000000.00".to_string()),
            ("installments", "2027-01-15 6000000.00".to_string()),
        ]
    };
    let as_pairs = |v: &Vec<(&'static str, String)>| -> Vec<(&'static str, String)> { v.clone() };
    let refused_fields = as_pairs(&fields("CN, JP"));
    let refused_form: Vec<(&str, &str)> = refused_fields
        .iter()
        .map(|(k, v)| (*k, v.as_str()))
        .collect();
    let refused = owner.post(&link, &refused_form).await;
    refused.assert(422);
    let error_at = refused
        .text
        .find(r#"id="e-territories""#)
        .expect("an error on the territories");
    let field_at = refused
        .text
        .find(r#"id="f-territories""#)
        .expect("the territories field");
    assert!(
        error_at > field_at && error_at - field_at < 600,
        "the error sits next to its field"
    );
    let mine = m
        .app
        .get("/api/v1/offers?mine=true", Some(&m.licensor.access_token))
        .await;
    assert_eq!(
        mine.assert_status(200)["items"].as_array().map(Vec::len),
        Some(0),
        "nothing created"
    );

    let good_fields = fields("CN");
    let good: Vec<(&str, &str)> = good_fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let created = owner.post(&link, &good).await;
    assert_eq!(created.status, StatusCode::SEE_OTHER, "{}", created.text);
    let offer_id = created
        .location()
        .trim_start_matches("/offers/")
        .to_string();
    let seen = m
        .app
        .get(
            &format!("/api/v1/offers/{offer_id}"),
            Some(&m.licensee.access_token),
        )
        .await;
    let seen = seen.assert_status(200);
    assert_eq!(seen["title"], "CN streaming, from the pages");
    assert_eq!(seen["status"], "published");
    owner.get(&format!("/offers/{offer_id}")).await.assert(200);

    let mut outsider = Visitor::new(&m.app);
    outsider.sign_in("owner@netease.test").await;
    outsider.get(&link).await.assert(404);
}

/// The slice page lists the slice's tracks (what a signature commits to); the catalog
/// page answers what could still be licensed, with a typed mistake shown beside its
/// field; another organization gets 404 for both.
async fn a_slice_shows_its_tracks_and_the_catalog_what_is_still_available(backend: Backend) {
    let m = market(backend, false).await;
    let mut owner = Visitor::new(&m.app);
    owner.sign_in("owner@tme.test").await;
    let slice = owner.get(&format!("/slices/{}?limit=10", m.slice_id)).await;
    slice.assert(200);
    assert!(
        slice
            .text
            .contains(&format!("{} of 5,000 tracks", m.slice_tracks))
            || slice.text.contains(&m.slice_tracks.to_string()),
        "the slice's size"
    );
    assert_eq!(
        slice.text.matches("<tr><td><code>").count(),
        10,
        "a page of ten tracks"
    );
    assert!(slice.text.contains(r#"rel="next""#), "a next page");

    let path = format!("/catalogs/{}/availability", m.catalog_id);
    let asked = owner
        .get(&format!("{path}?territories=CN&usages=interactive_streaming&start_date=2027-01-01&end_date=2029-12-31&exclusive=true"))
        .await;
    asked.assert(200);
    assert!(
        asked.text.contains("<strong>5000</strong> of 5000 tracks"),
        "nothing granted yet: {}",
        &asked.text[asked.text.find("available-count").unwrap_or(0)..][..200]
    );
    let wrong = owner
        .get(&format!("{path}?territories=XX&usages=interactive_streaming&start_date=2027-01-01&end_date=2029-12-31&exclusive=false"))
        .await;
    wrong.assert(422);
    let error_at = wrong
        .text
        .find(r#"id="e-territories""#)
        .expect("an error on the territories");
    let field_at = wrong
        .text
        .find(r#"id="f-territories""#)
        .expect("the territories field");
    assert!(
        error_at > field_at && error_at - field_at < 600,
        "the error sits next to its field"
    );

    let mut outsider = Visitor::new(&m.app);
    outsider.sign_in("owner@netease.test").await;
    outsider
        .get(&format!("/slices/{}", m.slice_id))
        .await
        .assert(404);
    outsider
        .get(&format!(
            "{path}?territories=CN&usages=download&start_date=2027-01-01&end_date=2029-12-31"
        ))
        .await
        .assert(404);
}
