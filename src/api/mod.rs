//! The HTTP JSON API: one module per resource, each with its router. Handlers
//! translate HTTP into calls of [`Chat`] and back; the rules are in `chat/`.

mod auth;
mod conversations;
pub mod error;
pub mod extract;
pub mod origin;
mod unread;
mod users;

use std::sync::Arc;

use axum::{
    Router,
    extract::{DefaultBodyLimit, Request, State},
    http::{HeaderValue, StatusCode, header},
    middleware,
    response::{IntoResponse, Response},
    routing::get,
};
use tower::ServiceBuilder;
use tower_http::{
    request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer},
    trace::TraceLayer,
};
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;

pub use error::ApiError;

use crate::chat::Chat;

/// The name of the session cookie.
pub const SESSION_COOKIE: &str = "gadka_session";

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub chat: Chat,
    /// Origins trusted besides the server's own (normalised).
    pub origins: Arc<[String]>,
    pub cookie_secure: bool,
}

#[derive(OpenApi)]
#[openapi(
    info(title = "gadka", description = "A 1:1 chat server. Errors are `{\"error\": {\"code\", \"message\"}}`; \
        the session is the `gadka_session` cookie set by /api/login and /api/register."),
    tags((name = "auth"), (name = "users"), (name = "conversations"))
)]
struct ApiDoc;

/// The whole HTTP surface: the API, its OpenAPI document, `/healthz` and the socket.
pub fn router(state: AppState) -> Router {
    let (api, openapi) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(auth::router())
        .merge(users::router())
        .merge(conversations::router())
        .merge(unread::router())
        .split_for_parts();
    let openapi: Arc<str> = openapi.to_json().unwrap_or_default().into();
    let request_span = |request: &Request| {
        let id = request
            .headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        tracing::info_span!("request", method = %request.method(), path = %request.uri().path(), request_id = %id)
    };
    api.route(
        "/api/openapi.json",
        get(move || async move {
            (
                [(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                )],
                openapi.to_string(),
            )
        }),
    )
    .route("/healthz", get(health))
    .merge(crate::ws::routes())
    .fallback(|| async { ApiError::NoRoute })
    .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
    .layer(middleware::from_fn_with_state(state.clone(), origin::check))
    .layer(DefaultBodyLimit::max(
        state.chat.limits().max_request_bytes(),
    ))
    .layer(
        ServiceBuilder::new()
            .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
            .layer(TraceLayer::new_for_http().make_span_with(request_span))
            .layer(PropagateRequestIdLayer::x_request_id()),
    )
    .with_state(state)
}

/// 200 when the database answers, 503 when it does not.
async fn health(State(state): State<AppState>) -> Response {
    if state.chat.healthy().await {
        (
            StatusCode::OK,
            axum::Json(serde_json::json!({"status": "ok"})),
        )
            .into_response()
    } else {
        let body = serde_json::json!({"error": {"code": "unavailable", "message": "the database does not answer"}});
        (StatusCode::SERVICE_UNAVAILABLE, axum::Json(body)).into_response()
    }
}
