//! The OpenAPI document is the contract: it declares the session cookie, what each
//! route can answer, and the rules the server enforces, with the configured limits.
//! (`.ci/schemathesis.sh` drives the server from it; these pin its shape.)

use gadka_test_support::{spawn_app, spawn_with};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// The operations of the document, as (method, path, operation).
fn operations(doc: &Value) -> Vec<(String, String, Value)> {
    let mut all = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            all.push((method.clone(), path.clone(), operation.clone()));
        }
    }
    all
}

fn statuses(operation: &Value) -> Vec<&str> {
    operation["responses"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect()
}

#[tokio::test]
async fn the_document_declares_the_cookie_and_every_status_a_route_can_answer() {
    let app = spawn_app().await;
    let (s, doc) = app.client().get("/api/openapi.json").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        doc["components"]["securitySchemes"]["cookie"],
        json!({"type": "apiKey", "in": "cookie", "name": "gadka_session",
               "description": "Set by /api/register and /api/login; HttpOnly, SameSite=Lax."})
    );

    for (method, path, operation) in operations(&doc) {
        let statuses = statuses(&operation);
        let route = format!("{method} {path}");
        let needs_session = operation["security"]
            .as_array()
            .is_some_and(|s| s.contains(&json!({"cookie": []})) && !s.contains(&json!({})));
        if needs_session {
            assert!(statuses.contains(&"401"), "{route}: 401 in {statuses:?}");
        }
        if method == "post" {
            assert!(statuses.contains(&"403"), "{route}: 403 in {statuses:?}");
        }
        if let Some(body) = operation.get("requestBody") {
            // A JSON body can be of the wrong type; an upload is any type of file.
            let json = body["content"].get("application/json").is_some();
            let wanted: &[&str] = if json {
                &["400", "413", "415"]
            } else {
                &["400", "413"]
            };
            for &status in wanted {
                assert!(
                    statuses.contains(&status),
                    "{route}: {status} in {statuses:?}"
                );
            }
        }
        if operation.get("parameters").is_some() {
            assert!(statuses.contains(&"400"), "{route}: 400 in {statuses:?}");
        }
        assert!(statuses.contains(&"5XX"), "{route}: 5XX in {statuses:?}");
    }

    let login = &doc["paths"]["/api/login"]["post"]["responses"];
    assert!(
        login["429"]["headers"]["Retry-After"].is_object(),
        "{login}"
    );
    let register = statuses(&doc["paths"]["/api/register"]["post"]);
    assert!(register.contains(&"409"), "{register:?}");
    let socket = statuses(&doc["paths"]["/ws"]["get"]);
    for status in ["101", "401", "403"] {
        assert!(socket.contains(&status), "/ws: {status} in {socket:?}");
    }
    let search = &doc["paths"]["/api/users"]["get"]["parameters"];
    assert!(
        search
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["in"] == "query"),
        "{search}"
    );
}

#[tokio::test]
async fn the_document_states_the_rules_with_the_configured_limits() {
    let app = spawn_with(|s| s.limits.max_message_bytes = 100).await;
    let (_, doc) = app.client().get("/api/openapi.json").await;
    let schemas = &doc["components"]["schemas"];
    // A message is words, a file or both: the fields, and that one of the two is
    // there as a string (either may be null beside the other).
    let send = &schemas["SendRequest"]["allOf"];
    let present = |field: &str| json!({"type": "object", "required": [field], "properties": {field: {"type": "string"}}});
    assert_eq!(
        send[1]["anyOf"],
        json!([present("body"), present("media_id")]),
        "{send}"
    );
    let body = &send[0]["properties"]["body"];
    assert_eq!(body["maxLength"], 100, "{body}");
    assert_eq!(body["minLength"], 1, "{body}");
    let register = &schemas["RegisterRequest"]["properties"];
    assert_eq!(
        register["username"]["pattern"],
        "^[A-Za-z0-9][A-Za-z0-9._-]{2,31}$"
    );
    assert_eq!(register["password"]["minLength"], 8);
    assert_eq!(register["password"]["maxLength"], 1024);
    assert_eq!(register["display_name"]["maxLength"], 64);
    assert_eq!(
        schemas["OpenRequest"]["properties"]["user_id"]["minimum"],
        1
    );
    // Every user view says whether the user lives on Matrix: a string, or null.
    for schema in ["User", "Profile"] {
        let user = &schemas[schema];
        assert!(
            user["required"]
                .as_array()
                .is_some_and(|r| r.contains(&json!("matrix_id"))),
            "{schema}: {user}"
        );
        assert_eq!(
            user["properties"]["matrix_id"]["type"],
            json!(["string", "null"]),
            "{schema}: {user}"
        );
    }
    let limit = doc["paths"]["/api/users"]["get"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "limit")
        .cloned()
        .unwrap();
    assert_eq!(limit["schema"]["minimum"], 1, "{limit}");
    assert_eq!(limit["required"], false, "{limit}");
}

#[tokio::test]
async fn the_document_states_how_the_conversation_list_pages() {
    let app = spawn_app().await;
    let (_, doc) = app.client().get("/api/openapi.json").await;
    let list = &doc["paths"]["/api/conversations"]["get"];
    let cursor = list["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "cursor")
        .cloned()
        .expect("a cursor parameter");
    assert_eq!(cursor["in"], "query", "{cursor}");
    assert_eq!(cursor["required"], false, "{cursor}");
    assert_eq!(
        cursor["schema"]["pattern"], "^[A-Za-z0-9_-]{21}[AQgw]$",
        "{cursor}"
    );
    assert!(
        cursor["schema"]["description"]
            .as_str()
            .is_some_and(|d| d.contains("Opaque")),
        "{cursor}"
    );
    let description: Vec<&str> = list["description"]
        .as_str()
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    let description = description.join(" ");
    for promise in ["next_cursor", "exactly once", "not served", "opaque"] {
        assert!(description.contains(promise), "{promise}: {description}");
    }
    let body = &doc["components"]["schemas"]["ConversationsBody"];
    for field in ["conversations", "next_cursor"] {
        assert!(
            body["required"].as_array().unwrap().contains(&json!(field)),
            "{body}"
        );
    }
    assert_eq!(
        body["properties"]["next_cursor"]["type"],
        json!(["string", "null"]),
        "{body}"
    );

    let one = &doc["paths"]["/api/conversations/{id}"]["get"];
    assert_eq!(
        one["responses"]["200"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/ConversationBody",
        "{one}"
    );
    for status in ["400", "401", "404"] {
        assert!(statuses(one).contains(&status), "{status}: {one}");
    }
}

#[tokio::test]
async fn integers_are_integers_in_every_notation_the_document_allows() {
    let app = spawn_app().await;
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    // JSON Schema counts 2.0 as the integer 2, so the server does too.
    let (s, body) = alice
        .post("/api/conversations", json!({"user_id": bob.id() as f64}))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{body}");
    let id = body["conversation"]["id"].as_i64().unwrap();
    let (s, body) = alice.get(&format!("/api/users/{}.0", bob.id())).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let (s, body) = alice.get("/api/conversations?limit=1e0").await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(body["conversations"].as_array().unwrap().len(), 1);
    // The read body may be left out, or be null.
    let (s, body) = alice
        .post(&format!("/api/conversations/{id}/read"), Value::Null)
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    // A fraction or a string is not an integer.
    let (s, _) = alice
        .post("/api/conversations", json!({"user_id": 2.5}))
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, _) = alice
        .post(
            "/api/conversations",
            json!({"user_id": bob.id().to_string()}),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn a_body_is_an_object_not_an_array_of_its_fields() {
    let app = spawn_app().await;
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let id = alice.open(&bob).await;
    for (path, body) in [
        ("/api/conversations".to_owned(), json!([bob.id()])),
        (format!("/api/conversations/{id}/messages"), json!(["hi"])),
        (format!("/api/conversations/{id}/read"), json!([])),
        ("/api/login".to_owned(), json!(["alice", "password-alice"])),
    ] {
        let (s, reply) = alice.post(&path, body).await;
        gadka_test_support::assert_error(s, &reply, StatusCode::BAD_REQUEST, "bad_request");
    }
    assert!(alice.history(id, "").await.is_empty());
}
