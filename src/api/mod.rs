//! The HTTP JSON API under `/api`: one module per resource, each with its router,
//! and `doc.rs`, the OpenAPI document they are described by. Handlers translate HTTP
//! into calls of [`Chat`](crate::chat::Chat) and back; the rules are in `chat/`, what
//! the surfaces share in `http/`.

mod auth;
mod conversations;
mod doc;
mod media;
mod unread;
mod users;

use axum::extract::DefaultBodyLimit;
use tower_http::compression::{
    CompressionLayer,
    predicate::{DefaultPredicate, Predicate, SizeAbove},
};
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;

use crate::{config::Limits, http::AppState};

/// The API's routes with their OpenAPI description, the API's body limit (room for
/// the largest message the limits allow), and its compression.
pub fn router(limits: &Limits) -> OpenApiRouter<AppState> {
    let json = OpenApiRouter::with_openapi(doc::ApiDoc::openapi())
        .merge(auth::router())
        .merge(users::router())
        .merge(conversations::router())
        .merge(unread::router())
        .layer(DefaultBodyLimit::max(limits.max_request_bytes()))
        .layer(compression());
    // Uploads stream under their own limit, and files are served as stored: a
    // compressed body would not match the byte ranges asked for.
    let mut api = json.merge(media::router());
    doc::complete(api.get_openapi_mut(), limits);
    api
}

/// Responses compressed as `Accept-Encoding` allows, with `Vary: Accept-Encoding`:
/// brotli at quality 4 or gzip at 6, tower-http's defaults and what nginx uses on the
/// fly (the best levels cost many times more for a few percent). Bodies under 1 KiB
/// fit one packet whatever is done to them, so they go out as they are.
pub fn compression() -> CompressionLayer<impl Predicate> {
    CompressionLayer::new().compress_when(DefaultPredicate::new().and(SizeAbove::new(1024)))
}
