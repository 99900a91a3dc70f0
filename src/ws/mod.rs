//! The realtime socket, `GET /ws`: authenticated from the session cookie at the
//! upgrade, refused (403) to browser origins that are not trusted. `frames.rs` is the
//! wire format, `connection.rs` a socket's writes (batched, flushed, timed out),
//! `commands.rs` what each command does and answers, `socket.rs` the per-socket loop
//! that drives both; the rules are in `chat/`.

mod commands;
mod connection;
pub mod frames;
mod socket;

use axum::{
    extract::{State, WebSocketUpgrade, ws::rejection::WebSocketUpgradeRejection},
    http::request::Parts,
    response::{IntoResponse, Response},
};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::http::{ApiError, AppState, error::ErrorBody, origin, session::session_from_parts};

/// An idle socket keeps this much read buffer (axum's default is 128 KiB). Client
/// frames are a few hundred bytes; a larger one just takes several reads. Measured at
/// 10,000 idle sockets: 4 KiB → 10.8 KiB per socket, 2 KiB → 8.8, 1 KiB → 7.8, with
/// no change in send throughput.
const READ_BUFFER_BYTES: usize = 1024;

/// The socket's route and its description in the OpenAPI document. It needs no body
/// limit of its own (an upgrade has no body); its frames are capped at the upgrade.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(upgrade))
}

/// The realtime socket: JSON text frames, each an object with a `type`.
///
/// A command may carry a `req`, echoed in its answer. Client → server: `send
/// {conversation_id | to_user, body, txn_id?, reply_to?}` (→ `sent {txn_id, message}`),
/// `edit {conversation_id, seq, body}` (→ `edited {message}`), `delete
/// {conversation_id, seq}` (→ `deleted {conversation_id, seq}`), `react
/// {conversation_id, seq, key, on}` (→ `reacted {conversation_id, seq, key, on}`),
/// `read {conversation_id, up_to_seq?}` (→ `unread`), `open {user_id}` (→
/// `conversation {conversation, created}`), `history {conversation_id, before_seq?,
/// limit?}` (→ `history {conversation_id, messages}`), `typing {conversation_id,
/// typing}`, `resume {since}` (every change after that position, in commit order, then
/// `unread`), `ping` (→ `pong`). The fields follow the same rules as the HTTP calls.
///
/// Server → client: first `hello {me, conversations, unread, online, last_message_id,
/// position}` (`position` is the cursor to keep for `resume`, raised by each message
/// `id` and event `pos`); then `message {message}` (one whose `kind` is `notice` is the
/// Matrix bridge's word about the conversation), `message_edited {message, pos}`,
/// `message_deleted {conversation_id, seq, pos}`, `reaction {conversation_id, seq,
/// user_id, key, on, pos}` (to every socket of both members, the acting one too),
/// `receipt {conversation_id, user_id, up_to_seq, pos}` (only after the marker is
/// committed), `unread {total, senders}`, `typing {conversation_id, user_id,
/// typing}`, `presence {user_id, online}`, `profile {user}`, and `error {req, code,
/// message}` for a bad frame or a refused command (the socket
/// stays open). Close codes: 1001 shutdown, 1008 too slow (reconnect and `resume`),
/// 1009 frame too large, 4001 session ended (logout, password reset), expired, or
/// account deactivated (the reason says which), 1011 the socket could not start.
#[utoipa::path(get, path = "/ws", tag = "socket", security(("cookie" = [])),
    responses(
        (status = 101, description = "Switching to the WebSocket protocol"),
        (status = 400, body = ErrorBody, description = "Not a WebSocket upgrade request (`bad_request`)"),
        (status = 401, body = ErrorBody, description = "No live session (`unauthenticated`)"),
        (status = 403, body = ErrorBody, description = "A browser `Origin` that is neither this server nor a configured one (`forbidden_origin`)"),
        (status = "5XX", body = ErrorBody, description = "A fault of the server, logged there (`internal`)"),
    ))]
#[tracing::instrument(name = "ws_upgrade", skip_all)]
async fn upgrade(
    State(state): State<AppState>,
    parts: Parts,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    // A cookie-authenticated socket opened from a foreign page would act as the user.
    if !origin::request_origin_allowed(&parts.headers, &state) {
        return ApiError::ForbiddenOrigin.into_response();
    }
    let session = match session_from_parts(&parts, &state).await {
        Ok(session) => session,
        Err(e) => return e.into_response(),
    };
    let upgrade = match upgrade {
        Ok(upgrade) => upgrade,
        Err(rejection) => return ApiError::BadRequest(rejection.body_text()).into_response(),
    };
    let max_frame = state.chat.limits().max_request_bytes();
    let chat = state.chat.clone();
    upgrade
        .read_buffer_size(READ_BUFFER_BYTES)
        .max_message_size(max_frame)
        .max_frame_size(max_frame)
        .on_upgrade(move |socket| socket::serve(socket, chat, session))
}
