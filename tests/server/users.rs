//! Finding people and opening their profiles (F1 `search_user`, `get_user`).

use gadka_test_support::{Client, TestApp, assert_error, spawn_app};
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

/// `GET /api/users?q=` with `q` encoded as a browser would.
async fn search(client: &Client, q: &str) -> Value {
    let q: String = url::form_urlencoded::byte_serialize(q.as_bytes()).collect();
    let (status, body) = client.get(&format!("/api/users?q={q}")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

async fn register_all(app: &TestApp, people: &[(&str, &str)]) {
    for (username, display_name) in people {
        app.register_named(username, display_name).await;
    }
}

#[tokio::test]
async fn search_folds_case_and_lists_whole_names_before_words() {
    let app = spawn_app().await;
    let me = app.register("zed").await;
    register_all(
        &app,
        &[
            ("joanna", "Joanna J"),
            ("anna", "Anna A"),
            ("bob", "ANNabel Bob"),
            ("carl", "Carl Annerson"),
        ],
    )
    .await;
    let body = search(&me, "ANN").await;
    // anna's username and bob's display name begin with it, then a word of carl's name.
    // "Joanna" has it inside, not at the start of a word: not found (for speed at scale).
    assert_eq!(usernames(&body), ["anna", "bob", "carl"]);
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
    let (_, body) = me.get("/api/users?q=ann&limit=2").await;
    assert_eq!(usernames(&body), ["anna", "bob"]);
}

/// Unicode names are found by what people type, case, accents and strokes or not, on
/// whichever database the app runs (issue 21: none of these found anyone).
pub async fn unicode_names_are_found(app: &TestApp) {
    let me = app.register("searcher").await;
    register_all(
        app,
        &[
            ("user1", "Łukasz Żółć"),
            ("user2", "Ærø"),
            ("user3", "Ἀθηνᾶ"),
            ("user4", "Lukas Zola"),
            ("user5", "Aero Plane"),
        ],
    )
    .await;
    for (query, found) in [
        ("Łukasz", &["user1"][..]),
        ("łukasz", &["user1"]),
        ("LUKASZ", &["user1"]),
        ("zolc", &["user1"]),
        ("Żółć", &["user1"]),
        ("Łukasz Żó", &["user1"]),
        // The exact name first, then one that folds the same ("aero plane").
        ("Ærø", &["user2", "user5"]),
        ("ærø", &["user2", "user5"]),
        ("Ἀθηνᾶ", &["user3"]),
        ("αθηνα", &["user3"]),
        ("ΑΘΗ", &["user3"]),
        ("luka", &["user4", "user1"]),
        ("aer", &["user2", "user5"]),
    ] {
        let body = search(&me, query).await;
        assert_eq!(usernames(&body), found, "{query:?}: {body}");
    }
}

#[tokio::test]
async fn unicode_names_are_found_by_what_people_type() {
    let app = spawn_app().await;
    unicode_names_are_found(&app).await;
}

#[tokio::test]
async fn wildcards_in_a_query_are_plain_characters() {
    let app = spawn_app().await;
    let me = app.register("zed").await;
    register_all(
        &app,
        &[
            ("pure", "100% Pure"),
            ("purer", "1000 Purer"),
            ("snake", "snake_case"),
            ("snakes", "snakes alive"),
            ("slash", "back\\slash"),
            ("backs", "backs turned"),
        ],
    )
    .await;
    for (query, found) in [
        ("100%", &["pure"][..]),
        ("%", &[]),
        ("_", &[]),
        ("snake_", &["snake"]),
        ("back\\", &["slash"]),
        ("\\", &[]),
    ] {
        let body = search(&me, query).await;
        assert_eq!(usernames(&body), found, "{query:?}: {body}");
    }
}

/// A renamed user is found by the new name from the moment the rename is answered,
/// and no longer by the old one.
pub async fn a_renamed_user_is_found_by_the_new_name(app: &TestApp) {
    let me = app.register("finder").await;
    let renamed = app.register_named("person7", "Anna Kowalska").await;
    assert_eq!(usernames(&search(&me, "kowal").await), ["person7"]);
    let (status, body) = renamed
        .patch("/api/me", json!({"display_name": "Żaneta Nowak"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    for old in ["anna", "kowal", "Anna Kowalska"] {
        assert_eq!(
            usernames(&search(&me, old).await),
            Vec::<&str>::new(),
            "{old:?}"
        );
    }
    for new in ["zaneta", "Żaneta N", "nowak", "person"] {
        assert_eq!(usernames(&search(&me, new).await), ["person7"], "{new:?}");
    }
}

#[tokio::test]
async fn a_renamed_user_is_found_by_the_new_name_only() {
    let app = spawn_app().await;
    a_renamed_user_is_found_by_the_new_name(&app).await;
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
