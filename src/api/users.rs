//! People: `/api/users?q=` (F1 `search_user`) and `/api/users/{id}` (F1 `get_user`).

use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::chat::views::{Profile, User};
use crate::http::{
    ApiError, AppState, CurrentSession,
    error::ErrorBody,
    extract::{AppJson, AppPath, AppQuery},
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(search))
        .routes(routes!(profile))
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct SearchParams {
    /// Text to find in usernames and display names, case-insensitively.
    #[serde(default)]
    q: String,
    /// At most this many (default 20, at most 100).
    limit: Option<i64>,
}

/// `{users}`
#[derive(Debug, Serialize, ToSchema)]
pub struct UsersBody {
    users: Vec<User>,
}

/// Finds people; names that start with `q` come first.
#[utoipa::path(get, path = "/api/users", tag = "users", params(SearchParams),
    responses((status = 200, body = UsersBody), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
async fn search(
    State(state): State<AppState>,
    CurrentSession(_viewer): CurrentSession,
    AppQuery(params): AppQuery<SearchParams>,
) -> Result<AppJson<UsersBody>, ApiError> {
    let users = state.chat.search_users(&params.q, params.limit).await?;
    Ok(AppJson(UsersBody { users }))
}

/// A profile, with `conversation_id` when we already talk.
#[utoipa::path(get, path = "/api/users/{id}", tag = "users", params(("id" = i64, Path, description = "User id")),
    responses((status = 200, body = Profile), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn profile(
    State(state): State<AppState>,
    CurrentSession(session): CurrentSession,
    AppPath(id): AppPath<i64>,
) -> Result<AppJson<Profile>, ApiError> {
    Ok(AppJson(state.chat.profile(&session, id).await?))
}
