//! Bad input gets a clear error in gadka's shape and changes nothing.

use gadka_test_support::{assert_error, read, spawn_app, spawn_with};
use reqwest::{StatusCode, header};
use serde_json::json;

#[tokio::test]
async fn message_bodies_are_checked_against_the_configured_limit() {
    let app = spawn_with(|s| s.limits.max_message_bytes = 100).await;
    let (alice, bob, id) = app.alice_and_bob().await;
    let path = format!("/api/conversations/{id}/messages");

    for blank in ["", "   ", "\n\t"] {
        let (s, body) = alice
            .post(&path, json!({"body": blank, "txn_id": "b"}))
            .await;
        assert_error(s, &body, StatusCode::BAD_REQUEST, "invalid_input");
        assert_eq!(body["error"]["field"], "body");
    }
    let (s, body) = alice
        .post(&path, json!({"body": "x".repeat(101), "txn_id": "l"}))
        .await;
    assert_error(s, &body, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large");
    // 100 bytes, not 100 characters: 34 three-byte characters are 102 bytes.
    let (s, body) = alice
        .post(&path, json!({"body": "€".repeat(34), "txn_id": "e"}))
        .await;
    assert_error(s, &body, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large");
    let (s, _) = alice
        .post(&path, json!({"body": "x".repeat(100), "txn_id": "ok"}))
        .await;
    assert_eq!(s, StatusCode::CREATED, "exactly the limit is fine");
    assert_eq!(
        bob.history(id, "").await.len(),
        1,
        "only the valid message was stored"
    );
}

#[tokio::test]
async fn the_default_message_limit_is_16_kib() {
    let app = spawn_app().await;
    let (alice, _, id) = app.alice_and_bob().await;
    let path = format!("/api/conversations/{id}/messages");
    let (s, _) = alice
        .post(&path, json!({"body": "x".repeat(16 * 1024)}))
        .await;
    assert_eq!(s, StatusCode::CREATED);
    let (s, body) = alice
        .post(&path, json!({"body": "x".repeat(16 * 1024 + 1)}))
        .await;
    assert_error(s, &body, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large");
}

#[tokio::test]
async fn malformed_requests_are_400_in_the_error_shape() {
    let app = spawn_app().await;
    let (alice, bob, id) = app.alice_and_bob().await;
    let url = app.url(&format!("/api/conversations/{id}/messages"));

    let cases = [
        ("{\"body\": ", "application/json"),
        ("[1, 2, 3]", "application/json"),
        ("{\"body\": 42}", "application/json"),
    ];
    for (raw, content_type) in cases {
        let reply = read(
            alice
                .http
                .post(&url)
                .header(header::CONTENT_TYPE, content_type)
                .body(raw)
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_error(
            reply.status,
            &reply.body,
            StatusCode::BAD_REQUEST,
            "bad_request",
        );
    }
    // Neither words nor a file: the rules refuse it, naming the field.
    let (status, body) = alice
        .post(
            &format!("/api/conversations/{id}/messages"),
            serde_json::json!({"txn_id": "no body"}),
        )
        .await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "invalid_input");
    assert_eq!(body["error"]["field"], "body", "{body}");
    let reply = read(
        alice
            .http
            .post(&url)
            .body("{\"body\": \"hi\"}")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_error(
        reply.status,
        &reply.body,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    );
    let (s, body) = alice.get("/api/conversations/not-a-number/messages").await;
    assert_error(s, &body, StatusCode::BAD_REQUEST, "bad_request");
    let (s, body) = alice
        .get(&format!("/api/conversations/{id}/messages?before=x"))
        .await;
    assert_error(s, &body, StatusCode::BAD_REQUEST, "bad_request");
    let (s, body) = alice
        .post(
            &format!("/api/conversations/{id}/read"),
            json!({"up_to_seq": -1}),
        )
        .await;
    assert_error(s, &body, StatusCode::BAD_REQUEST, "invalid_input");
    let (s, body) = alice
        .post(
            &format!("/api/conversations/{id}/messages"),
            json!({"body": "hi", "txn_id": ""}),
        )
        .await;
    assert_error(s, &body, StatusCode::BAD_REQUEST, "invalid_input");
    assert!(
        bob.history(id, "").await.is_empty(),
        "none of it was stored"
    );
}

#[tokio::test]
async fn a_request_body_over_the_limit_is_413() {
    let app = spawn_app().await;
    let reply = read(
        app.client()
            .http
            .post(app.url("/api/register"))
            .header(header::CONTENT_TYPE, "application/json")
            .body(format!(
                "{{\"username\": \"{}\", \"password\": \"x\"}}",
                "a".repeat(1 << 20)
            ))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_error(
        reply.status,
        &reply.body,
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
    );
}

#[tokio::test]
async fn unknown_paths_and_methods_answer_in_the_error_shape() {
    let app = spawn_app().await;
    let client = app.client();
    let (s, body) = client.get("/api/nothing-here").await;
    assert_error(s, &body, StatusCode::NOT_FOUND, "not_found");
    let reply = read(client.http.delete(app.url("/api/me")).send().await.unwrap()).await;
    assert_error(
        reply.status,
        &reply.body,
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
    );
}

#[tokio::test]
async fn a_foreign_origin_cannot_act_with_a_users_cookie() {
    let app = spawn_with(|s| s.origins = vec!["https://app.example.org".into()]).await;
    let (alice, bob, id) = app.alice_and_bob().await;
    let send = |origin: &str| {
        alice
            .http
            .post(app.url(&format!("/api/conversations/{id}/messages")))
            .header(header::ORIGIN, origin)
            .json(&json!({"body": "hi"}))
            .send()
    };
    let reply = read(send("https://evil.example").await.unwrap()).await;
    assert_error(
        reply.status,
        &reply.body,
        StatusCode::FORBIDDEN,
        "forbidden_origin",
    );
    assert!(bob.history(id, "").await.is_empty());
    assert_eq!(
        send(&format!("http://{}", app.addr))
            .await
            .unwrap()
            .status(),
        StatusCode::CREATED
    );
    assert_eq!(
        send("https://app.example.org").await.unwrap().status(),
        StatusCode::CREATED
    );
}

#[tokio::test]
async fn health_and_the_openapi_document_are_served() {
    let app = spawn_app().await;
    let (s, body) = app.client().get("/healthz").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(body["status"], "ok");
    let (s, doc) = app.client().get("/api/openapi.json").await;
    assert_eq!(s, StatusCode::OK);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let paths = doc["paths"].as_object().unwrap();
    for path in [
        "/api/register",
        "/api/login",
        "/api/logout",
        "/api/me",
        "/api/users",
        "/api/users/{id}",
        "/api/conversations",
        "/api/unread",
        "/api/conversations/{id}/messages",
        "/api/conversations/{id}/read",
    ] {
        assert!(paths.contains_key(path), "{path} in the OpenAPI document");
    }
    assert!(
        paths["/api/conversations/{id}/messages"]
            .get("post")
            .is_some()
    );
}
