//! `/api/unread`: who has written to me that I have not read (F3a).

use axum::extract::State;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::doc;
use crate::{
    chat::views::UnreadSummary,
    http::{ApiError, AppState, CurrentSession, error::ErrorBody, extract::AppJson},
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(summary))
}

/// `{total, senders: [{user, count}]}`
#[utoipa::path(get, path = "/api/unread", tag = "conversations", security(("cookie" = [])),
    responses(
        (status = 200, body = UnreadSummary),
        (status = 401, body = ErrorBody, description = doc::UNAUTHENTICATED),
    ))]
async fn summary(
    State(state): State<AppState>,
    CurrentSession(session): CurrentSession,
) -> Result<AppJson<UnreadSummary>, ApiError> {
    Ok(AppJson(state.chat.unread(&session).await?))
}
