//! Finding people and opening their profiles (F1 `search_user`, `get_user`).

use gadka_test_support::{assert_error, spawn_app};
use reqwest::StatusCode;
use serde_json::{Value, json};

fn usernames(body: &Value) -> Vec<&str> {
    body["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["username"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn search_is_case_insensitive_with_prefix_matches_first() {
    let app = spawn_app().await;
    let me = app.register("zed").await;
    for (username, display_name) in [
        ("joanna", "Joanna J"),
        ("anna", "Anna A"),
        ("bob", "ANNabel Bob"),
        ("carl", "Carl"),
    ] {
        let (status, _) = app
            .client()
            .post(
                "/api/register",
                json!({"username": username, "password": "long enough", "display_name": display_name}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED);
    }
    let (status, body) = me.get("/api/users?q=ANN").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // anna (username prefix) and bob (display-name prefix) first, by username; then joanna.
    assert_eq!(usernames(&body), ["anna", "bob", "joanna"]);
    let anna = &body["users"][0];
    assert_eq!(anna["display_name"], "Anna A");
    assert!(anna["id"].is_i64());
    assert!(
        anna.get("password_hash").is_none(),
        "no secrets in a user: {anna}"
    );
    assert!(
        anna["matrix_id"].is_null(),
        "a local user has no Matrix ID: {anna}"
    );

    let (_, body) = me.get("/api/users?q=ann&limit=1").await;
    assert_eq!(usernames(&body), ["anna"]);
    // LIKE wildcards are plain characters to a search.
    let (_, body) = me.get("/api/users?q=%25").await;
    assert_eq!(usernames(&body), Vec::<&str>::new());
    let (_, body) = me.get("/api/users?q=_").await;
    assert_eq!(usernames(&body), Vec::<&str>::new());
}

#[tokio::test]
async fn search_needs_a_login_and_a_sane_limit() {
    let app = spawn_app().await;
    let (status, body) = app.client().get("/api/users?q=a").await;
    assert_error(status, &body, StatusCode::UNAUTHORIZED, "unauthenticated");
    let me = app.register("alice").await;
    for query in ["limit=0", "limit=-3", "limit=many"] {
        let (status, body) = me.get(&format!("/api/users?q=a&{query}")).await;
        assert_error(
            status,
            &body,
            StatusCode::BAD_REQUEST,
            status_code_for(query),
        );
    }
}

fn status_code_for(query: &str) -> &'static str {
    // A number out of range is refused by the rules, a non-number by the parser.
    if query.ends_with("many") {
        "bad_request"
    } else {
        "invalid_input"
    }
}

#[tokio::test]
async fn a_profile_tells_whether_we_already_talk() {
    let app = spawn_app().await;
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;

    let (status, profile) = alice.get(&format!("/api/users/{}", bob.id())).await;
    assert_eq!(status, StatusCode::OK, "{profile}");
    assert_eq!(profile["user"]["username"], "bob");
    assert_eq!(profile["username"], "bob");
    assert_eq!(profile["id"], bob.id());
    assert!(profile["conversation_id"].is_null());
    assert!(profile["matrix_id"].is_null() && profile["user"]["matrix_id"].is_null());

    let conversation = alice.open(&bob).await;
    let (_, profile) = alice.get(&format!("/api/users/{}", bob.id())).await;
    assert_eq!(profile["conversation_id"], conversation);
    let (_, profile) = bob.get(&format!("/api/users/{}", alice.id())).await;
    assert_eq!(
        profile["conversation_id"], conversation,
        "the same conversation from both sides"
    );

    let (status, body) = alice.get("/api/users/999999").await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "not_found");
    let (status, body) = alice.get("/api/users/bob").await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "bad_request");
}

#[tokio::test]
async fn without_a_bridge_a_matrix_id_finds_nobody() {
    let app = spawn_app().await;
    let me = app.register("alice").await;
    app.register("bob").await;
    for q in ["@bob:localhost", "@bob:example.org"] {
        let (status, body) = me
            .get(&format!("/api/users?q={}", q.replace('@', "%40")))
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(usernames(&body), Vec::<&str>::new(), "{q}");
    }
}
