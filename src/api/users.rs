//! People: `/api/users?q=` (F1 `search_user`) and `/api/users/{id}` (F1 `get_user`).

use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::doc;
use crate::{
    chat::views::{Profile, User},
    http::{
        ApiError, AppState, CurrentSession,
        error::ErrorBody,
        extract::{AppJson, AppPath, AppQuery},
        integer::{Id, optional_text_integer},
    },
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(search))
        .routes(routes!(profile))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SearchParams {
    #[serde(default)]
    #[param(schema_with = doc::search_text)]
    q: String,
    /// At most this many (default 20); more than 100 is served as 100.
    #[param(minimum = 1, nullable = false)]
    #[serde(default, deserialize_with = "optional_text_integer")]
    limit: Option<i64>,
}

/// `{users}`
#[derive(Debug, Serialize, ToSchema)]
pub struct UsersBody {
    users: Vec<User>,
}

/// Finds people; names that start with `q` come first.
///
/// With the Matrix bridge on, a Matrix ID (`@name:server`) also finds that user on
/// Matrix, first, with `matrix_id` set.
#[utoipa::path(get, path = "/api/users", tag = "users", params(SearchParams), security(("cookie" = [])),
    responses(
        (status = 200, body = UsersBody),
        (status = 400, body = ErrorBody, description = doc::BAD_REQUEST),
        (status = 401, body = ErrorBody, description = doc::UNAUTHENTICATED),
    ))]
async fn search(
    State(state): State<AppState>,
    CurrentSession(_viewer): CurrentSession,
    AppQuery(params): AppQuery<SearchParams>,
) -> Result<AppJson<UsersBody>, ApiError> {
    let users = state.chat.search_users(&params.q, params.limit).await?;
    Ok(AppJson(UsersBody { users }))
}

/// A profile, with `conversation_id` when we already talk.
#[utoipa::path(get, path = "/api/users/{id}", tag = "users", security(("cookie" = [])),
    params(("id" = i64, Path, minimum = 1, description = "User id")),
    responses(
        (status = 200, body = Profile),
        (status = 400, body = ErrorBody, description = doc::BAD_REQUEST),
        (status = 401, body = ErrorBody, description = doc::UNAUTHENTICATED),
        (status = 404, body = ErrorBody, description = "No such user (`not_found`)"),
    ))]
async fn profile(
    State(state): State<AppState>,
    CurrentSession(session): CurrentSession,
    AppPath(Id(id)): AppPath<Id>,
) -> Result<AppJson<Profile>, ApiError> {
    Ok(AppJson(state.chat.profile(&session, id).await?))
}
