//! A Matrix user as the tests see one: a reqwest client on Synapse's client-server
//! API, doing what Element would.

use gadka_test_support::{PATIENCE, eventually};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::synapse::{DOMAIN, Synapse};

/// A user registered on Synapse, with an access token.
pub struct MatrixUser {
    pub user_id: String,
    pub token: String,
    http: reqwest::Client,
    base: String,
}

/// Whatever Synapse answered.
pub struct Answer {
    pub status: StatusCode,
    pub body: Value,
}

impl Answer {
    /// The Matrix error code, when it is an error.
    pub fn errcode(&self) -> Option<&str> {
        self.body["errcode"].as_str()
    }
}

impl MatrixUser {
    /// Registers `localpart` with a password, as anyone may on the test homeserver.
    pub async fn register(synapse: &Synapse, localpart: &str) -> Self {
        let answer = register(synapse, localpart).await;
        assert_eq!(
            answer.status,
            StatusCode::OK,
            "register {localpart}: {}",
            answer.body
        );
        Self {
            user_id: answer.body["user_id"].as_str().unwrap().to_owned(),
            token: answer.body["access_token"].as_str().unwrap().to_owned(),
            http: reqwest::Client::new(),
            base: synapse.url.clone(),
        }
    }

    /// A user acting with an appservice's `as_token` (as the bridge does).
    pub fn with_token(synapse: &Synapse, user_id: &str, token: &str) -> Self {
        Self {
            user_id: user_id.to_owned(),
            token: token.to_owned(),
            http: reqwest::Client::new(),
            base: synapse.url.clone(),
        }
    }

    /// One client-server call with this user's token.
    pub async fn call(&self, method: Method, path: &str, body: Option<Value>) -> Answer {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("Synapse answers");
        Answer {
            status: response.status(),
            body: response.json().await.unwrap_or(Value::Null),
        }
    }

    /// Waits until `user_id`'s profile has the display name `name`. A puppet is
    /// made on demand: registered first, named after.
    pub async fn wait_for_display_name(&self, user_id: &str, name: &str) {
        let path = format!("/_matrix/client/v3/profile/{user_id}");
        let what = format!("{user_id} to be named {name:?}");
        eventually(&what, PATIENCE, async || {
            let answer = self.call(Method::GET, &path, None).await;
            if answer.status == StatusCode::OK && answer.body["displayname"] == name {
                Ok(())
            } else {
                Err(answer.body)
            }
        })
        .await
    }

    /// Starts a direct chat with `user_id`, as Element's "Start chat" does.
    pub async fn start_dm(&self, user_id: &str) -> String {
        let created = self
            .call(
                Method::POST,
                "/_matrix/client/v3/createRoom",
                Some(json!({"preset": "trusted_private_chat", "is_direct": true, "invite": [user_id]})),
            )
            .await;
        assert_eq!(created.status, StatusCode::OK, "{}", created.body);
        created.body["room_id"].as_str().unwrap().to_owned()
    }

    /// Joins `room_id` (accepts its invite).
    pub async fn join(&self, room_id: &str) {
        let joined = self
            .call(
                Method::POST,
                &format!("/_matrix/client/v3/join/{room_id}"),
                Some(json!({})),
            )
            .await;
        assert_eq!(joined.status, StatusCode::OK, "{}", joined.body);
    }

    /// Waits until `user_id` has joined `room_id`.
    pub async fn wait_for_member(&self, room_id: &str, user_id: &str) {
        let path = format!("/_matrix/client/v3/rooms/{room_id}/joined_members");
        let what = format!("{user_id} to join {room_id}");
        eventually(&what, PATIENCE, async || {
            let members = self.call(Method::GET, &path, None).await.body;
            if members["joined"].get(user_id).is_some() {
                Ok(())
            } else {
                Err(members)
            }
        })
        .await
    }

    /// `user_id`'s member event in `room_id` once they have left it (declined an
    /// invite, said why in its `reason`).
    pub async fn wait_for_leave(&self, room_id: &str, user_id: &str) -> Value {
        let path = format!("/_matrix/client/v3/rooms/{room_id}/state/m.room.member/{user_id}");
        let what = format!("{user_id} to leave {room_id}");
        eventually(&what, PATIENCE, async || {
            let answer = self.call(Method::GET, &path, None).await;
            if answer.status == StatusCode::OK && answer.body["membership"] == "leave" {
                Ok(answer.body)
            } else {
                Err(answer.body)
            }
        })
        .await
    }

    /// Sends a message event's content; its event id.
    pub async fn send(&self, room_id: &str, content: Value) -> String {
        let txn = uuid::Uuid::new_v4();
        let path = format!("/_matrix/client/v3/rooms/{room_id}/send/m.room.message/{txn}");
        let sent = self.call(Method::PUT, &path, Some(content)).await;
        assert_eq!(sent.status, StatusCode::OK, "{}", sent.body);
        sent.body["event_id"].as_str().unwrap().to_owned()
    }

    /// Sends an event of any message type (a reaction: `m.reaction`); its event id.
    pub async fn send_event(&self, room_id: &str, kind: &str, content: Value) -> String {
        let txn = uuid::Uuid::new_v4();
        let path = format!("/_matrix/client/v3/rooms/{room_id}/send/{kind}/{txn}");
        let sent = self.call(Method::PUT, &path, Some(content)).await;
        assert_eq!(sent.status, StatusCode::OK, "{}", sent.body);
        sent.body["event_id"].as_str().unwrap().to_owned()
    }

    /// Redacts an event, as Element's "Remove" does.
    pub async fn redact(&self, room_id: &str, event_id: &str) {
        let txn = uuid::Uuid::new_v4();
        let path = format!("/_matrix/client/v3/rooms/{room_id}/redact/{event_id}/{txn}");
        let redacted = self.call(Method::PUT, &path, Some(json!({}))).await;
        assert_eq!(redacted.status, StatusCode::OK, "{}", redacted.body);
    }

    /// One event of a room, as the homeserver serves it now (with the edits and
    /// redactions it knows of in `unsigned`).
    pub async fn event(&self, room_id: &str, event_id: &str) -> Value {
        let path = format!("/_matrix/client/v3/rooms/{room_id}/event/{event_id}");
        let event = self.call(Method::GET, &path, None).await;
        assert_eq!(event.status, StatusCode::OK, "{}", event.body);
        event.body
    }

    /// The events that relate to `event_id` with `rel_type` (`m.annotation`,
    /// `m.replace`), not redacted, oldest first.
    pub async fn relations(&self, room_id: &str, event_id: &str, rel_type: &str) -> Vec<Value> {
        let path =
            format!("/_matrix/client/v1/rooms/{room_id}/relations/{event_id}/{rel_type}?dir=f");
        let page = self.call(Method::GET, &path, None).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        page.body["chunk"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|e| e["unsigned"]["redacted_because"].is_null())
            .cloned()
            .collect()
    }

    /// The `m.room.message` events of a room from `sender`, oldest first.
    pub async fn messages_from(&self, room_id: &str, sender: &str) -> Vec<Value> {
        let path = format!("/_matrix/client/v3/rooms/{room_id}/messages?dir=b&limit=100");
        let page = self.call(Method::GET, &path, None).await.body;
        page["chunk"]
            .as_array()
            .into_iter()
            .flatten()
            .rev()
            .filter(|e| e["type"] == "m.room.message" && e["sender"] == sender)
            .cloned()
            .collect()
    }

    /// [`MatrixUser::messages_from`], once there are `count`.
    pub async fn wait_for_messages_from(
        &self,
        room_id: &str,
        sender: &str,
        count: usize,
    ) -> Vec<Value> {
        let what = format!("{room_id} to have {count} messages from {sender}");
        eventually(&what, PATIENCE, async || {
            let messages = self.messages_from(room_id, sender).await;
            if messages.len() >= count {
                Ok(messages)
            } else {
                Err(Value::from(messages))
            }
        })
        .await
    }

    /// Sends a read receipt up to `event_id`.
    pub async fn read_up_to(&self, room_id: &str, event_id: &str) {
        let path = format!("/_matrix/client/v3/rooms/{room_id}/receipt/m.read/{event_id}");
        let receipt = self.call(Method::POST, &path, Some(json!({}))).await;
        assert_eq!(receipt.status, StatusCode::OK, "{}", receipt.body);
    }

    /// Uploads a file to the media repository, as Element does; its `mxc://` URI.
    pub async fn upload(&self, name: &str, content_type: &str, bytes: Vec<u8>) -> String {
        let response = self
            .http
            .post(format!("{}/_matrix/media/v3/upload", self.base))
            .query(&[("filename", name)])
            .bearer_auth(&self.token)
            .header(reqwest::header::CONTENT_TYPE, content_type)
            .body(bytes)
            .send()
            .await
            .expect("Synapse answers");
        assert_eq!(response.status(), StatusCode::OK, "upload {name}");
        let body: Value = response.json().await.expect("JSON");
        body["content_uri"]
            .as_str()
            .expect("a content URI")
            .to_owned()
    }

    /// Downloads `mxc` through authenticated media, as Element does: its bytes.
    pub async fn download(&self, mxc: &str) -> Vec<u8> {
        let path = mxc.strip_prefix("mxc://").expect("an mxc URI");
        let response = self
            .http
            .get(format!(
                "{}/_matrix/client/v1/media/download/{path}",
                self.base
            ))
            .bearer_auth(&self.token)
            .send()
            .await
            .expect("Synapse answers");
        assert_eq!(response.status(), StatusCode::OK, "download {mxc}");
        response.bytes().await.expect("the file").to_vec()
    }

    /// Says `body` in a room, as plain text; the event id.
    pub async fn say(&self, room_id: &str, body: &str) -> String {
        self.send(room_id, json!({"msgtype": "m.text", "body": body}))
            .await
    }

    /// `GET /account/whoami`.
    pub async fn whoami(&self) -> Answer {
        self.call(Method::GET, "/_matrix/client/v3/account/whoami", None)
            .await
    }

    /// `/sync` as a client does it: an initial sync, then each call going on from the
    /// one before. Synapse keeps its answer to the same request for two minutes
    /// (`caches.sync_response_cache_duration`), so polling an initial sync again may
    /// show the same old state.
    pub fn syncer(&self) -> Syncer<'_> {
        Syncer {
            user: self,
            since: None,
        }
    }
}

/// See [`MatrixUser::syncer`].
pub struct Syncer<'a> {
    user: &'a MatrixUser,
    since: Option<String>,
}

impl Syncer<'_> {
    /// The next page: at once for the first, then after up to a second's long-poll.
    pub async fn next(&mut self) -> Value {
        let path = match &self.since {
            Some(token) => format!("/_matrix/client/v3/sync?timeout=1000&since={token}"),
            None => "/_matrix/client/v3/sync?timeout=0".to_owned(),
        };
        let answer = self.user.call(Method::GET, &path, None).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
        self.since = answer.body["next_batch"].as_str().map(str::to_owned);
        answer.body
    }

    /// Syncs on until a page has what `find` looks for; fails with `what` and the
    /// last page.
    pub async fn until<T>(&mut self, what: &str, mut find: impl FnMut(&Value) -> Option<T>) -> T {
        eventually(what, PATIENCE, async || {
            let page = self.next().await;
            find(&page).ok_or(page)
        })
        .await
    }
}

/// `POST /register` for `localpart`, answered however Synapse answers it.
pub async fn register(synapse: &Synapse, localpart: &str) -> Answer {
    let response = reqwest::Client::new()
        .post(format!("{}/_matrix/client/v3/register", synapse.url))
        .json(&json!({
            "username": localpart,
            "password": format!("password-{localpart}"),
            "auth": {"type": "m.login.dummy"},
            "inhibit_login": false,
        }))
        .send()
        .await
        .expect("Synapse answers");
    Answer {
        status: response.status(),
        body: response.json().await.unwrap_or(Value::Null),
    }
}

/// The bodies of Matrix message events.
pub fn bodies(events: &[Value]) -> Vec<&str> {
    events
        .iter()
        .map(|e| e["content"]["body"].as_str().expect("a body"))
        .collect()
}

/// A Matrix ID on the test homeserver.
pub fn mxid(localpart: &str) -> String {
    format!("@{localpart}:{DOMAIN}")
}
