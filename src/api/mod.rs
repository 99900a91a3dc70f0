//! The HTTP JSON API under `/api`: one module per resource, each with its router.
//! Handlers translate HTTP into calls of [`Chat`](crate::chat::Chat) and back; the
//! rules are in `chat/`, what the surfaces share in `http/`.

mod auth;
mod conversations;
mod unread;
mod users;

use std::sync::Arc;

use axum::{
    Router,
    extract::DefaultBodyLimit,
    http::{HeaderValue, header},
    routing::get,
};
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;

use crate::{config::Limits, http::AppState};

#[derive(OpenApi)]
#[openapi(
    info(title = "gadka", description = "A 1:1 chat server. Errors are `{\"error\": {\"code\", \"message\"}}`; \
        the session is the `gadka_session` cookie set by /api/login and /api/register."),
    tags((name = "auth"), (name = "users"), (name = "conversations"))
)]
struct ApiDoc;

/// The API's routes, its OpenAPI document at `/api/openapi.json`, and its body
/// limit: room for the largest message the limits allow.
pub fn router(limits: &Limits) -> Router<AppState> {
    let (api, openapi) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(auth::router())
        .merge(users::router())
        .merge(conversations::router())
        .merge(unread::router())
        .split_for_parts();
    let openapi: Arc<str> = openapi.to_json().unwrap_or_default().into();
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
    .layer(DefaultBodyLimit::max(limits.max_request_bytes()))
}
