//! The realtime socket, `GET /ws`: authenticated from the session cookie at the
//! upgrade, refused (403) to browser origins that are not trusted. `frames.rs` is the
//! wire format, `connection.rs` the per-socket loop; the rules are in `chat/`.

mod connection;
pub mod frames;

use axum::{
    Router,
    extract::{State, WebSocketUpgrade, ws::rejection::WebSocketUpgradeRejection},
    http::request::Parts,
    response::{IntoResponse, Response},
    routing::get,
};

use crate::http::{ApiError, AppState, origin, session::session_from_parts};

/// An idle socket keeps this much read buffer (axum's default is 128 KiB).
const READ_BUFFER_BYTES: usize = 4 * 1024;

/// The socket's route. It needs no body limit of its own (an upgrade has no body);
/// its frames are capped at the upgrade.
pub fn routes() -> Router<AppState> {
    Router::new().route("/ws", get(upgrade))
}

#[tracing::instrument(name = "ws_upgrade", skip_all)]
async fn upgrade(
    State(state): State<AppState>,
    parts: Parts,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    // A cookie-authenticated socket opened from a foreign page would act as the user.
    if !origin::request_origin_allowed(&parts.headers, &state.origins) {
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
        .on_upgrade(move |socket| connection::serve(socket, chat, session))
}
