//! Organizations, accounts and access control, on both backends.

use cadenza::auth::tokens::{Claims, TokenKeys};
use cadenza::domain::role::Role;
use reqwest::Method;
use serde_json::json;

use crate::helpers::{spawn_app, Backend, TestApp, PASSWORD, TEST_SECRET};
use crate::on_both_backends;

fn audit_actions(app: &TestApp) -> Vec<String> {
    use cadenza::db::schema::audit_events::dsl;
    use diesel::prelude::*;
    let target = cadenza::db::DatabaseTarget::parse(&app.database_url).unwrap();
    let mut conn = cadenza::db::ConnectionManager::new(target)
        .establish()
        .unwrap();
    dsl::audit_events
        .order(dsl::created_at.asc())
        .select(dsl::action)
        .load(&mut conn)
        .unwrap()
}

async fn the_whole_account_flow(backend: Backend) {
    let app = spawn_app(backend).await;
    let owner = app.register("QQ Music", "lead@qq.test").await;

    let me = app.get("/api/v1/me", Some(&owner.access_token)).await;
    let me = me.assert_status(200);
    assert_eq!(me["role"], "owner");
    assert_eq!(me["organization"]["name"], "QQ Music");
    assert_eq!(me["user"]["email"], "lead@qq.test");
    assert!(
        me["user"].get("password_hash").is_none(),
        "never expose hashes"
    );

    // Invite a negotiator, who accepts with the mailed token.
    let negotiator = app.add_member(&owner, "deals@qq.test", "negotiator").await;
    assert_eq!(negotiator.organization_id, owner.organization_id);
    let me = app.get("/api/v1/me", Some(&negotiator.access_token)).await;
    assert_eq!(me.assert_status(200)["role"], "negotiator");

    // The invitation token is single-use.
    let reuse = app
        .post(
            "/api/v1/invitations/accept",
            None,
            &json!({"token": app.latest_mail_token("deals@qq.test", "invitation"), "name": "x", "password": PASSWORD}),
        )
        .await;
    reuse.assert_problem(422);
    assert_eq!(reuse.error_fields(), vec!["token"]);

    // Log in, refresh, log out.
    let login = app
        .post(
            "/api/v1/auth/login",
            None,
            &json!({"email": "DEALS@qq.test", "password": PASSWORD}),
        )
        .await;
    let login = login.assert_status(200);
    assert_eq!(login["expires_in"], 900);
    let refresh_token = login["refresh_token"].as_str().unwrap().to_string();
    let refreshed = app
        .post(
            "/api/v1/auth/refresh",
            None,
            &json!({"refresh_token": refresh_token}),
        )
        .await;
    let refreshed = refreshed.assert_status(200).clone();
    let next = refreshed["refresh_token"].as_str().unwrap();
    assert_ne!(next, refresh_token, "refresh tokens rotate");
    app.post("/api/v1/auth/logout", None, &json!({"refresh_token": next}))
        .await
        .assert_status(204);
    app.post(
        "/api/v1/auth/refresh",
        None,
        &json!({"refresh_token": next}),
    )
    .await
    .assert_problem(401);

    // Members list shows both, in order.
    let members = app
        .get("/api/v1/members", Some(&negotiator.access_token))
        .await;
    let emails: Vec<_> = members.assert_status(200)["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["email"].clone())
        .collect();
    assert_eq!(emails, vec![json!("lead@qq.test"), json!("deals@qq.test")]);

    let actions = audit_actions(&app);
    for expected in [
        "organization.registered",
        "member.invited",
        "member.joined",
        "auth.login",
        "auth.logout",
    ] {
        assert!(
            actions.iter().any(|a| a == expected),
            "audit lacks {expected}: {actions:?}"
        );
    }
}

async fn registration_is_validated_and_atomic(backend: Backend) {
    let app = spawn_app(backend).await;
    let bad = app
        .post(
            "/api/v1/auth/register",
            None,
            &json!({"organization": {"name": " ", "kind": "studio"}, "user": {"email": "nope", "password": "password123", "name": ""}}),
        )
        .await;
    bad.assert_problem(422);
    let mut fields = bad.error_fields();
    fields.sort();
    assert_eq!(
        fields,
        vec![
            "organization.kind",
            "organization.name",
            "user.email",
            "user.name",
            "user.password"
        ]
    );

    app.register("First", "taken@x.test").await;
    let dup = app
        .post(
            "/api/v1/auth/register",
            None,
            &json!({"organization": {"name": "Second", "kind": "label"}, "user": {"email": "Taken@X.test", "password": PASSWORD, "name": "B"}}),
        )
        .await;
    dup.assert_problem(409);
    // The refused sign-up created no organization: its owner cannot log in with the new name.
    let login = app
        .post(
            "/api/v1/auth/login",
            None,
            &json!({"email": "taken@x.test", "password": PASSWORD}),
        )
        .await;
    let token = login.assert_status(200)["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let me = app.get("/api/v1/me", Some(&token)).await;
    assert_eq!(me.assert_status(200)["organization"]["name"], "First");
}

async fn bad_tokens_are_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    let owner = app.register("Acme", "owner@acme.test").await;
    let keys = TokenKeys::new(TEST_SECRET.as_bytes(), "cadenza", 900);
    let valid = keys.verify(&owner.access_token).unwrap();
    let now = chrono::Utc::now().timestamp();

    let expired = keys
        .encode(&Claims {
            exp: now - 60,
            iat: now - 1000,
            ..valid.clone()
        })
        .unwrap();
    let other_key = TokenKeys::new(b"some-other-secret-some-other-secret!!", "cadenza", 900)
        .issue(&owner.user_id, &owner.organization_id, Role::Owner)
        .unwrap();
    let other_audience = TokenKeys::new(TEST_SECRET.as_bytes(), "not-cadenza", 900)
        .issue(&owner.user_id, &owner.organization_id, Role::Owner)
        .unwrap();
    let wrong_org = keys
        .encode(&Claims {
            org: "another-org".into(),
            ..valid.clone()
        })
        .unwrap();
    let (header, rest) = owner.access_token.split_once('.').unwrap();
    let _ = header;
    let alg_none = format!(
        "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.{}",
        rest.split_once('.').unwrap().0
    ) + ".";
    let tampered = {
        let mut t = owner.access_token.clone();
        let last = t.pop().unwrap();
        t.push(if last == 'A' { 'B' } else { 'A' });
        t
    };

    for (name, token) in [
        ("expired", expired.as_str()),
        ("other key", other_key.as_str()),
        ("other audience", other_audience.as_str()),
        ("other organization claim", wrong_org.as_str()),
        ("alg none", alg_none.as_str()),
        ("tampered signature", tampered.as_str()),
        ("garbage", "not-a-jwt"),
    ] {
        let reply = app.get("/api/v1/me", Some(token)).await;
        assert_eq!(reply.status.as_u16(), 401, "{name}: {}", reply.text);
        reply.assert_problem(401);
        assert_eq!(
            reply.headers.get("www-authenticate").unwrap(),
            "Bearer",
            "{name}"
        );
    }
    app.get("/api/v1/me", None).await.assert_problem(401);
    let basic = app
        .client
        .get(app.url("/api/v1/me"))
        .header("authorization", "Basic b3duZXI6cGFzcw==")
        .send()
        .await
        .unwrap();
    TestApp::reply(basic).await.assert_problem(401);
}

async fn refresh_token_reuse_revokes_the_family(backend: Backend) {
    let app = spawn_app(backend).await;
    let owner = app.register("Acme", "owner@acme.test").await;
    let first = owner.refresh_token.clone();
    let second = app
        .post(
            "/api/v1/auth/refresh",
            None,
            &json!({"refresh_token": first}),
        )
        .await;
    let second = second.assert_status(200)["refresh_token"]
        .as_str()
        .unwrap()
        .to_string();

    // An attacker replays the first token: refused, and the legitimate chain dies too.
    app.post(
        "/api/v1/auth/refresh",
        None,
        &json!({"refresh_token": first}),
    )
    .await
    .assert_problem(401);
    app.post(
        "/api/v1/auth/refresh",
        None,
        &json!({"refresh_token": second}),
    )
    .await
    .assert_problem(401);
    assert!(audit_actions(&app).contains(&"auth.refresh_reuse_detected".to_string()));

    // Another login (another family) is unaffected.
    let login = app
        .post(
            "/api/v1/auth/login",
            None,
            &json!({"email": "owner@acme.test", "password": PASSWORD}),
        )
        .await;
    let fresh = login.assert_status(200)["refresh_token"]
        .as_str()
        .unwrap()
        .to_string();
    app.post(
        "/api/v1/auth/refresh",
        None,
        &json!({"refresh_token": fresh}),
    )
    .await
    .assert_status(200);
    app.post(
        "/api/v1/auth/refresh",
        None,
        &json!({"refresh_token": "made-up"}),
    )
    .await
    .assert_problem(401);
}

async fn login_failures_are_uniform_and_throttled(backend: Backend) {
    let app = spawn_app(backend).await;
    app.register("Acme", "owner@acme.test").await;
    let wrong_password = app
        .post(
            "/api/v1/auth/login",
            None,
            &json!({"email": "owner@acme.test", "password": "wrong-password-1"}),
        )
        .await;
    let unknown_email = app
        .post(
            "/api/v1/auth/login",
            None,
            &json!({"email": "ghost@acme.test", "password": "wrong-password-1"}),
        )
        .await;
    wrong_password.assert_problem(401);
    unknown_email.assert_problem(401);
    assert_eq!(
        wrong_password.body, unknown_email.body,
        "no account enumeration through login"
    );

    // 4 more failures use up the allowance of 5; a success in between resets it.
    for _ in 0..3 {
        app.post(
            "/api/v1/auth/login",
            None,
            &json!({"email": "owner@acme.test", "password": "wrong-password-1"}),
        )
        .await
        .assert_problem(401);
    }
    app.post(
        "/api/v1/auth/login",
        None,
        &json!({"email": "owner@acme.test", "password": PASSWORD}),
    )
    .await
    .assert_status(200);
    for _ in 0..5 {
        app.post(
            "/api/v1/auth/login",
            None,
            &json!({"email": "owner@acme.test", "password": "wrong-password-1"}),
        )
        .await
        .assert_problem(401);
    }
    let blocked = app
        .post(
            "/api/v1/auth/login",
            None,
            &json!({"email": "owner@acme.test", "password": "wrong-password-1"}),
        )
        .await;
    blocked.assert_problem(429);
    let retry_after: u64 = blocked
        .headers
        .get("retry-after")
        .unwrap()
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=30).contains(&retry_after), "{retry_after}");
    // While blocked even the right password is refused, so guessing gains nothing.
    app.post(
        "/api/v1/auth/login",
        None,
        &json!({"email": "owner@acme.test", "password": PASSWORD}),
    )
    .await
    .assert_problem(429);
    assert!(audit_actions(&app).contains(&"auth.login_failed".to_string()));
}

async fn password_reset_is_single_use(backend: Backend) {
    let app = spawn_app(backend).await;
    let owner = app.register("Acme", "owner@acme.test").await;
    let unknown = app
        .post(
            "/api/v1/auth/password-reset",
            None,
            &json!({"email": "ghost@acme.test"}),
        )
        .await;
    let known = app
        .post(
            "/api/v1/auth/password-reset",
            None,
            &json!({"email": "owner@acme.test"}),
        )
        .await;
    assert_eq!(
        unknown.assert_status(202),
        known.assert_status(202),
        "same answer either way"
    );
    assert!(app
        .outbox_contexts("ghost@acme.test", "password_reset")
        .is_empty());
    let token = app.latest_mail_token("owner@acme.test", "password_reset");

    let weak = app
        .post(
            "/api/v1/auth/password-reset/confirm",
            None,
            &json!({"token": token, "password": "short"}),
        )
        .await;
    weak.assert_problem(422);
    assert_eq!(weak.error_fields(), vec!["password"]);

    let new_password = "lighthouse-keeper-77";
    app.post(
        "/api/v1/auth/password-reset/confirm",
        None,
        &json!({"token": token, "password": new_password}),
    )
    .await
    .assert_status(204);
    app.post(
        "/api/v1/auth/password-reset/confirm",
        None,
        &json!({"token": token, "password": "another-one-entirely"}),
    )
    .await
    .assert_problem(422);
    app.post(
        "/api/v1/auth/login",
        None,
        &json!({"email": "owner@acme.test", "password": PASSWORD}),
    )
    .await
    .assert_problem(401);
    app.post(
        "/api/v1/auth/login",
        None,
        &json!({"email": "owner@acme.test", "password": new_password}),
    )
    .await
    .assert_status(200);
    // Sessions from before the reset are over.
    app.post(
        "/api/v1/auth/refresh",
        None,
        &json!({"refresh_token": owner.refresh_token}),
    )
    .await
    .assert_problem(401);
    assert!(audit_actions(&app).contains(&"auth.password_reset".to_string()));
}

async fn roles_allow_and_refuse(backend: Backend) {
    let app = spawn_app(backend).await;
    let owner = app.register("Acme", "owner@acme.test").await;
    let signer = app.add_member(&owner, "signer@acme.test", "signer").await;
    let negotiator = app.add_member(&owner, "neg@acme.test", "negotiator").await;
    let viewer = app.add_member(&owner, "view@acme.test", "viewer").await;

    for member in [&signer, &negotiator, &viewer] {
        app.get("/api/v1/me", Some(&member.access_token))
            .await
            .assert_status(200);
        app.get("/api/v1/members", Some(&member.access_token))
            .await
            .assert_status(200);
        app.post(
            "/api/v1/invitations",
            Some(&member.access_token),
            &json!({"email": "x@acme.test", "role": "viewer"}),
        )
        .await
        .assert_problem(403);
        app.get("/api/v1/invitations", Some(&member.access_token))
            .await
            .assert_problem(403);
        app.request(
            Method::PATCH,
            &format!("/api/v1/members/{}", owner.user_id),
            Some(&member.access_token),
            Some(&json!({"role": "viewer"})),
        )
        .await
        .assert_problem(403);
        app.request(
            Method::DELETE,
            &format!("/api/v1/members/{}", viewer.user_id),
            Some(&member.access_token),
            None,
        )
        .await
        .assert_problem(403);
    }

    // The owner promotes the viewer; the change applies to the viewer's current token at once.
    let promoted = app
        .request(
            Method::PATCH,
            &format!("/api/v1/members/{}", viewer.user_id),
            Some(&owner.access_token),
            Some(&json!({"role": "owner"})),
        )
        .await;
    assert_eq!(promoted.assert_status(200)["role"], "owner");
    assert_eq!(
        app.get("/api/v1/me", Some(&viewer.access_token))
            .await
            .assert_status(200)["role"],
        "owner"
    );

    // With two owners one may step down; the last one may not, nor be removed.
    app.request(
        Method::PATCH,
        &format!("/api/v1/members/{}", viewer.user_id),
        Some(&owner.access_token),
        Some(&json!({"role": "viewer"})),
    )
    .await
    .assert_status(200);
    app.request(
        Method::PATCH,
        &format!("/api/v1/members/{}", owner.user_id),
        Some(&owner.access_token),
        Some(&json!({"role": "signer"})),
    )
    .await
    .assert_problem(409);
    app.request(
        Method::DELETE,
        &format!("/api/v1/members/{}", owner.user_id),
        Some(&owner.access_token),
        None,
    )
    .await
    .assert_problem(409);
    let bad_role = app
        .request(
            Method::PATCH,
            &format!("/api/v1/members/{}", viewer.user_id),
            Some(&owner.access_token),
            Some(&json!({"role": "admin"})),
        )
        .await;
    bad_role.assert_problem(422);
    assert_eq!(bad_role.error_fields(), vec!["role"]);

    // Removing a member ends their access immediately.
    app.request(
        Method::DELETE,
        &format!("/api/v1/members/{}", negotiator.user_id),
        Some(&owner.access_token),
        None,
    )
    .await
    .assert_status(204);
    app.get("/api/v1/me", Some(&negotiator.access_token))
        .await
        .assert_problem(401);
    let actions = audit_actions(&app);
    assert!(
        actions.contains(&"member.role_changed".to_string())
            && actions.contains(&"member.removed".to_string())
    );
}

/// Walks every account endpoint with a second organization's credentials:
/// nothing of the first leaks, and nothing changes.
async fn organizations_are_isolated(backend: Backend) {
    let app = spawn_app(backend).await;
    let a_owner = app.register("Tencent Music", "owner@tme.test").await;
    let a_member = app.add_member(&a_owner, "neg@tme.test", "negotiator").await;
    let b_owner = app.register("NetEase", "owner@netease.test").await;

    let b_members = app
        .get("/api/v1/members", Some(&b_owner.access_token))
        .await;
    let b_members = b_members.assert_status(200)["items"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(b_members.len(), 1);
    assert_eq!(b_members[0]["email"], "owner@netease.test");
    let b_invitations = app
        .get("/api/v1/invitations", Some(&b_owner.access_token))
        .await;
    assert_eq!(
        b_invitations.assert_status(200).as_array().unwrap().len(),
        0
    );

    // Another organization's member is "not found", for change and for removal.
    let patch = app
        .request(
            Method::PATCH,
            &format!("/api/v1/members/{}", a_member.user_id),
            Some(&b_owner.access_token),
            Some(&json!({"role": "owner"})),
        )
        .await;
    patch.assert_problem(404);
    let missing = app
        .request(
            Method::PATCH,
            "/api/v1/members/00000000-0000-7000-8000-000000000000",
            Some(&b_owner.access_token),
            Some(&json!({"role": "owner"})),
        )
        .await;
    assert_eq!(
        patch.body,
        {
            let mut m = missing.body.clone();
            m["detail"] = patch.body["detail"].clone();
            m
        },
        "indistinguishable from a missing id"
    );
    app.request(
        Method::DELETE,
        &format!("/api/v1/members/{}", a_member.user_id),
        Some(&b_owner.access_token),
        None,
    )
    .await
    .assert_problem(404);

    // Nothing changed in the first organization.
    let a_members = app
        .get("/api/v1/members", Some(&a_owner.access_token))
        .await;
    let a_members = a_members.assert_status(200)["items"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(a_members.len(), 2);
    assert_eq!(a_members[1]["role"], "negotiator");
    let me = app.get("/api/v1/me", Some(&a_member.access_token)).await;
    assert_eq!(
        me.assert_status(200)["organization"]["id"],
        a_owner.organization_id
    );

    // B's invitation is to B, whatever e-mail it names.
    let invite = app
        .post(
            "/api/v1/invitations",
            Some(&b_owner.access_token),
            &json!({"email": "neg@tme.test", "role": "owner"}),
        )
        .await;
    invite.assert_status(201);
    let token = app.latest_mail_token("neg@tme.test", "invitation");
    let accept = app
        .post(
            "/api/v1/invitations/accept",
            None,
            &json!({"token": token, "name": "Hijack", "password": PASSWORD}),
        )
        .await;
    accept.assert_problem(409);
    let me = app.get("/api/v1/me", Some(&a_member.access_token)).await;
    assert_eq!(
        me.assert_status(200)["role"],
        "negotiator",
        "the existing account is untouched"
    );
}

on_both_backends!(
    the_whole_account_flow,
    registration_is_validated_and_atomic,
    bad_tokens_are_refused,
    refresh_token_reuse_revokes_the_family,
    login_failures_are_uniform_and_throttled,
    password_reset_is_single_use,
    roles_allow_and_refuse,
    organizations_are_isolated,
);
