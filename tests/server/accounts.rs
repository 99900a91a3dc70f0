//! Registering, logging in and out, sessions and their limits.

use gadka::chat::SECRET_FILE;
use gadka_test_support::{Reply, TestApp, assert_error, password, read, spawn_app, spawn_with};
use reqwest::{StatusCode, header};
use serde_json::json;

#[tokio::test]
async fn register_logs_in_with_an_httponly_samesite_cookie() {
    let app = spawn_app().await;
    let client = app.client();
    let reply = client
        .post_full(
            "/api/register",
            json!({"username": "Alice", "password": "correct horse", "display_name": " Alice A. "}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    assert_eq!(
        reply.body["user"]["username"], "alice",
        "usernames are case-insensitive, kept folded"
    );
    assert_eq!(reply.body["user"]["display_name"], "Alice A.");
    assert!(reply.body["user"]["id"].is_i64());
    let cookie = reply.headers[header::SET_COOKIE].to_str().unwrap();
    assert!(cookie.starts_with("gadka_session="), "{cookie}");
    for attribute in ["HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(cookie.contains(attribute), "{attribute} in {cookie}");
    }
    assert!(
        !cookie.contains("Secure"),
        "plain HTTP by default: {cookie}"
    );

    let (status, me) = client.get("/api/me").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["user"], reply.body["user"]);
}

#[tokio::test]
async fn the_cookie_is_secure_when_configured() {
    let app = spawn_with(|s| s.cookie_secure = true).await;
    let reply = app
        .client()
        .post_full(
            "/api/register",
            json!({"username": "alice", "password": "correct horse"}),
        )
        .await;
    let cookie = reply.headers[header::SET_COOKIE].to_str().unwrap();
    assert!(cookie.contains("Secure"), "{cookie}");
}

#[tokio::test]
async fn a_taken_username_is_409_whatever_its_case() {
    let app = spawn_app().await;
    app.register("alice").await;
    let (status, body) = app
        .client()
        .post(
            "/api/register",
            json!({"username": "ALICE", "password": "another one"}),
        )
        .await;
    assert_error(status, &body, StatusCode::CONFLICT, "username_taken");
    // The first account is untouched: its password still works.
    app.login("alice").await;
}

#[tokio::test]
async fn bad_registrations_are_400_and_create_nothing() {
    let app = spawn_app().await;
    let cases = [
        (
            json!({"username": "al", "password": "long enough"}),
            "username",
        ),
        (
            json!({"username": "al ice", "password": "long enough"}),
            "username",
        ),
        (
            json!({"username": "<script>", "password": "long enough"}),
            "username",
        ),
        (
            json!({"username": "a".repeat(33), "password": "long enough"}),
            "username",
        ),
        (
            json!({"username": "alice", "password": "short"}),
            "password",
        ),
        (
            json!({"username": "alice", "password": "long enough", "display_name": "  "}),
            "display_name",
        ),
        (
            json!({"username": "alice", "password": "long enough", "display_name": "x".repeat(65)}),
            "display_name",
        ),
    ];
    for (request, field) in cases {
        let (status, body) = app.client().post("/api/register", request.clone()).await;
        assert_error(status, &body, StatusCode::BAD_REQUEST, "invalid_input");
        assert_eq!(body["error"]["field"], field, "{request}");
    }
    for (name, says) in misleading_names() {
        let request = json!({"username": "alice", "password": "long enough", "display_name": name});
        let (status, body) = app.client().post("/api/register", request).await;
        assert_error(status, &body, StatusCode::BAD_REQUEST, "invalid_input");
        assert_eq!(body["error"]["field"], "display_name", "{name:?}");
        let message = body["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(says), "{name:?}: {message}");
    }
    // None of them created "alice".
    let (status, _) = app
        .client()
        .post(
            "/api/register",
            json!({"username": "alice", "password": "long enough"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
}

#[tokio::test]
async fn login_sets_the_cookie_and_wrong_passwords_get_401() {
    let app = spawn_app().await;
    app.register("alice").await;

    let client = app.client();
    let reply = client
        .post_full(
            "/api/login",
            json!({"username": "Alice", "password": "password-alice"}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body["user"]["username"], "alice");
    let cookie = reply.headers[header::SET_COOKIE].to_str().unwrap();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax") && cookie.contains("Path=/")
    );
    assert_eq!(client.get("/api/me").await.0, StatusCode::OK);

    for (username, password) in [("alice", "wrong password"), ("nobody", "password-alice")] {
        let client = app.client();
        let reply = client
            .post_full(
                "/api/login",
                json!({"username": username, "password": password}),
            )
            .await;
        assert_error(
            reply.status,
            &reply.body,
            StatusCode::UNAUTHORIZED,
            "invalid_credentials",
        );
        assert!(reply.headers.get(header::SET_COOKIE).is_none());
        assert_eq!(client.get("/api/me").await.0, StatusCode::UNAUTHORIZED);
    }
}

#[tokio::test]
async fn logout_revokes_the_session_on_the_server() {
    let app = spawn_app().await;
    let client = app.client();
    let reply = client
        .post_full(
            "/api/register",
            json!({"username": "alice", "password": "password-alice"}),
        )
        .await;
    let cookie = reply.headers[header::SET_COOKIE].to_str().unwrap();
    let token = cookie.split(';').next().unwrap().to_owned();

    let reply = client.post_full("/api/logout", json!({})).await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT);
    let cleared = reply.headers[header::SET_COOKIE].to_str().unwrap();
    assert!(
        cleared.starts_with("gadka_session=;") && cleared.contains("Max-Age=0"),
        "{cleared}"
    );
    assert_eq!(client.get("/api/me").await.0, StatusCode::UNAUTHORIZED);

    // A copy of the old cookie, kept by someone else, no longer works either.
    let replayed = reqwest::Client::new()
        .get(app.url("/api/me"))
        .header(header::COOKIE, token)
        .send()
        .await
        .unwrap();
    assert_eq!(replayed.status(), StatusCode::UNAUTHORIZED);
    // Other sessions of the same user are not affected.
    let (status, _) = app
        .client()
        .post(
            "/api/login",
            json!({"username": "alice", "password": "password-alice"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn no_forged_or_expired_session_gets_in() {
    let app = spawn_app().await;
    let alice = app.register("alice").await;
    let secret =
        std::fs::read(app.data_dir.path().join(SECRET_FILE)).expect("the generated secret");
    let now = chrono::Utc::now().timestamp();
    let sign = |claims: serde_json::Value, key: &[u8]| {
        jsonwebtoken::encode(
            &jsonwebtoken::Header::default(),
            &claims,
            &jsonwebtoken::EncodingKey::from_secret(key),
        )
        .unwrap()
    };
    let cases = [
        ("no cookie", None),
        ("garbage", Some("not-a-token".to_owned())),
        (
            "expired",
            Some(sign(
                json!({"sub": alice.id().to_string(), "sid": "x", "iat": now - 100, "exp": now - 10}),
                &secret,
            )),
        ),
        (
            "unknown session",
            Some(sign(
                json!({"sub": alice.id().to_string(), "sid": "made-up", "iat": now, "exp": now + 3600}),
                &secret,
            )),
        ),
        (
            "signed with another key",
            Some(sign(
                json!({"sub": alice.id().to_string(), "sid": "x", "iat": now, "exp": now + 3600}),
                b"another key that is long enough!!",
            )),
        ),
    ];
    for (case, token) in cases {
        let mut request = reqwest::Client::new().get(app.url("/api/me"));
        if let Some(token) = token {
            request = request.header(header::COOKIE, format!("gadka_session={token}"));
        }
        let reply = gadka_test_support::read(request.send().await.unwrap()).await;
        assert_error(
            reply.status,
            &reply.body,
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
        );
        let _ = case;
    }
}

#[tokio::test]
async fn login_attempts_are_rate_limited_per_username() {
    let app = spawn_with(|s| s.limits.login_attempts_per_minute = 3).await;
    app.register("alice").await;
    let attempt = |password: &'static str| {
        let client = app.client();
        async move {
            client
                .post_full(
                    "/api/login",
                    json!({"username": "alice", "password": password}),
                )
                .await
        }
    };
    for _ in 0..3 {
        assert_eq!(
            attempt("wrong password").await.status,
            StatusCode::UNAUTHORIZED
        );
    }
    let limited = attempt("password-alice").await;
    assert_error(
        limited.status,
        &limited.body,
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
    );
    let retry_after: u64 = limited.headers[header::RETRY_AFTER]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry_after >= 1);
    // Another username is not held back by alice's limit.
    app.register("bob").await;
    app.login("bob").await;
}

#[tokio::test]
async fn login_attempts_are_rate_limited_per_address() {
    let app = spawn_with(|s| s.limits.login_attempts_per_minute_per_ip = 3).await;
    for name in ["ann", "ben", "cid"] {
        let (status, _) = app
            .client()
            .post(
                "/api/login",
                json!({"username": name, "password": "whatever1"}),
            )
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    let (status, body) = app
        .client()
        .post(
            "/api/login",
            json!({"username": "dan", "password": "whatever1"}),
        )
        .await;
    assert_error(status, &body, StatusCode::TOO_MANY_REQUESTS, "rate_limited");
}

#[tokio::test]
async fn a_display_name_changes_and_others_see_it() {
    let app = spawn_app().await;
    display_name_changes(&app).await;
}

/// Carol renames herself; Dave sees it; bad names and strangers change nothing.
pub async fn display_name_changes(app: &TestApp) {
    let carol = app.register("carol").await;
    let dave = app.register("dave").await;

    let (status, body) = carol
        .patch("/api/me", json!({"display_name": "  Carol Wonder "}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["user"]["display_name"], "Carol Wonder");
    let (_, me) = carol.get("/api/me").await;
    assert_eq!(me["user"]["display_name"], "Carol Wonder");
    let (_, profile) = dave.get(&format!("/api/users/{}", carol.id())).await;
    assert_eq!(profile["user"]["display_name"], "Carol Wonder", "{profile}");

    // A bad name is refused and changes nothing; so is a change without a session.
    for bad in [
        json!({"display_name": "   "}),
        json!({"display_name": "a\u{7}b"}),
    ] {
        let (status, body) = carol.patch("/api/me", bad.clone()).await;
        assert_error(status, &body, StatusCode::BAD_REQUEST, "invalid_input");
    }
    for (name, says) in misleading_names() {
        let (status, body) = carol.patch("/api/me", json!({"display_name": name})).await;
        assert_error(status, &body, StatusCode::BAD_REQUEST, "invalid_input");
        assert_eq!(body["error"]["field"], "display_name", "{name:?}");
        let message = body["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(says), "{name:?}: {message}");
    }
    let (status, body) = carol.patch("/api/me", json!({})).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "bad_request");
    let (status, body) = app
        .client()
        .patch("/api/me", json!({"display_name": "Mallory"}))
        .await;
    assert_error(status, &body, StatusCode::UNAUTHORIZED, "unauthenticated");
    let (_, me) = carol.get("/api/me").await;
    assert_eq!(me["user"]["display_name"], "Carol Wonder");
}

/// A `POST` as if forwarded by a proxy for `client`.
async fn forwarded(app: &TestApp, client: &str, path: &str, body: serde_json::Value) -> Reply {
    read(
        app.client()
            .http
            .post(app.url(path))
            .header("x-forwarded-for", client)
            .json(&body)
            .send()
            .await
            .expect("the server answers"),
    )
    .await
}

#[tokio::test]
async fn behind_a_trusted_proxy_a_stranger_cannot_lock_the_owner_out() {
    let app = spawn_with(|s| {
        s.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
        s.limits.login_attempts_per_minute = 3;
    })
    .await;
    app.register("alice").await;
    let guess = json!({"username": "alice", "password": "not her password"});
    for _ in 0..3 {
        let reply = forwarded(&app, "198.51.100.66", "/api/login", guess.clone()).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    }
    let stopped = forwarded(&app, "198.51.100.66", "/api/login", guess.clone()).await;
    assert_error(
        stopped.status,
        &stopped.body,
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
    );
    // A forged entry to the left of the proxy's own is not believed: still stopped.
    let forged = forwarded(&app, "1.2.3.4, 198.51.100.66", "/api/login", guess).await;
    assert_eq!(forged.status, StatusCode::TOO_MANY_REQUESTS);
    // The owner, from her own address, gets in.
    let owner = json!({"username": "alice", "password": password("alice")});
    let reply = forwarded(&app, "203.0.113.10", "/api/login", owner).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
}

#[tokio::test]
async fn forwarded_for_from_an_untrusted_peer_is_ignored() {
    let app = spawn_with(|s| s.limits.login_attempts_per_minute_per_ip = 2).await;
    for n in 0..2 {
        let body = json!({"username": format!("who{n}"), "password": "whatever1"});
        let reply = forwarded(&app, &format!("198.51.100.{n}"), "/api/login", body).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    }
    let body = json!({"username": "who9", "password": "whatever1"});
    let reply = forwarded(&app, "198.51.100.9", "/api/login", body).await;
    assert_eq!(
        reply.status,
        StatusCode::TOO_MANY_REQUESTS,
        "a made-up address does not buy new attempts"
    );
}

#[tokio::test]
async fn sign_ups_are_limited_per_address() {
    let app = spawn_with(|s| {
        s.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
        s.limits.registrations_per_hour_per_ip = 2;
    })
    .await;
    let sign_up = |name: &str| json!({"username": name, "password": password(name)});
    for name in ["one", "two"] {
        let reply = forwarded(&app, "198.51.100.5", "/api/register", sign_up(name)).await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    }
    let refused = forwarded(&app, "198.51.100.5", "/api/register", sign_up("three")).await;
    assert_error(
        refused.status,
        &refused.body,
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
    );
    assert!(refused.headers.contains_key(header::RETRY_AFTER));
    // Refused from then on before the database is asked: it is not even told that
    // the name is taken.
    let taken = forwarded(&app, "198.51.100.5", "/api/register", sign_up("one")).await;
    assert_error(
        taken.status,
        &taken.body,
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
    );
    let (status, _) = app
        .client()
        .post(
            "/api/login",
            json!({"username": "three", "password": password("three")}),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "no account was made");
    let elsewhere = forwarded(&app, "203.0.113.7", "/api/register", sign_up("three")).await;
    assert_eq!(elsewhere.status, StatusCode::CREATED, "{}", elsewhere.body);
}

/// Names that would mislead whoever reads them, with what the refusal says: a
/// right-to-left override that shows `admin\u{202E}gnp.exe` as "adminexe.png", names
/// that show nothing, and marks stacked over the lines around.
fn misleading_names() -> Vec<(String, &'static str)> {
    vec![
        ("admin\u{202E}gnp.exe".into(), "bidirectional"),
        ("\u{2067}Anna\u{2069}".into(), "bidirectional"),
        ("Anna\u{200F}".into(), "bidirectional"),
        ("\u{200B}".into(), "visible"),
        ("\u{3164}\u{3164}".into(), "visible"),
        ("\u{2800}".into(), "visible"),
        (" \u{200B}\u{2800} ".into(), "visible"),
        ("\u{0301}\u{0301}".into(), "visible"),
        (format!("Z{}", "\u{0336}".repeat(63)), "combining marks"),
        (
            "a\u{0301}\u{0302}\u{0303}\u{0304}\u{0305}".into(),
            "combining marks",
        ),
    ]
}
