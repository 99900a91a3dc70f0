//! Accounts and sessions: `/api/register`, `/api/login`, `/api/logout`, `/api/me`.

use std::net::SocketAddr;

use axum::{
    extract::{ConnectInfo, State},
    http::StatusCode,
};
use axum_extra::extract::{
    CookieJar,
    cookie::{Cookie, SameSite},
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::chat::{IssuedSession, views::User};
use crate::http::{
    ApiError, AppState, CurrentSession, SESSION_COOKIE, error::ErrorBody, extract::AppJson,
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(register))
        .routes(routes!(login))
        .routes(routes!(logout))
        .routes(routes!(me))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct RegisterRequest {
    /// 3 to 32 of a-z, 0-9, '.', '_', '-'; case-insensitive.
    username: String,
    /// At least 8 characters.
    password: String,
    /// Defaults to the username.
    display_name: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct LoginRequest {
    username: String,
    password: String,
}

/// `{user}`
#[derive(Debug, Serialize, ToSchema)]
pub struct UserBody {
    user: User,
}

/// Creates an account and logs it in.
#[utoipa::path(post, path = "/api/register", tag = "auth", request_body = RegisterRequest,
    responses((status = 201, body = UserBody, description = "Created; the session cookie is set"),
              (status = 400, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn register(
    State(state): State<AppState>,
    jar: CookieJar,
    AppJson(req): AppJson<RegisterRequest>,
) -> Result<(StatusCode, CookieJar, AppJson<UserBody>), ApiError> {
    let (user, session) = state
        .chat
        .register(&req.username, &req.password, req.display_name.as_deref())
        .await?;
    let jar = jar.add(session_cookie(&state, &session));
    Ok((StatusCode::CREATED, jar, AppJson(UserBody { user })))
}

/// Logs in: sets `gadka_session` (HttpOnly, SameSite=Lax, Path=/).
#[utoipa::path(post, path = "/api/login", tag = "auth", request_body = LoginRequest,
    responses((status = 200, body = UserBody), (status = 401, body = ErrorBody),
              (status = 429, body = ErrorBody, description = "Too many attempts for this username or address")))]
async fn login(
    State(state): State<AppState>,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
    jar: CookieJar,
    AppJson(req): AppJson<LoginRequest>,
) -> Result<(CookieJar, AppJson<UserBody>), ApiError> {
    let (user, session) = state
        .chat
        .login(&req.username, &req.password, client.ip())
        .await?;
    Ok((
        jar.add(session_cookie(&state, &session)),
        AppJson(UserBody { user }),
    ))
}

/// Logs out: the session is revoked on the server and the cookie cleared.
/// Without a live session there is nothing to revoke, and the answer is the same.
#[utoipa::path(post, path = "/api/logout", tag = "auth", responses((status = 204)))]
async fn logout(
    State(state): State<AppState>,
    jar: CookieJar,
) -> Result<(StatusCode, CookieJar), ApiError> {
    if let Some(cookie) = jar.get(SESSION_COOKIE)
        && let Ok(session) = state.chat.authenticate(cookie.value()).await
    {
        state.chat.logout(&session).await?;
    }
    let removal = Cookie::build((SESSION_COOKIE, "")).path("/").build();
    Ok((StatusCode::NO_CONTENT, jar.remove(removal)))
}

/// The logged-in user.
#[utoipa::path(get, path = "/api/me", tag = "auth",
    responses((status = 200, body = UserBody), (status = 401, body = ErrorBody)))]
async fn me(
    State(state): State<AppState>,
    CurrentSession(session): CurrentSession,
) -> Result<AppJson<UserBody>, ApiError> {
    let user = state.chat.me(&session).await?;
    Ok(AppJson(UserBody { user }))
}

fn session_cookie(state: &AppState, session: &IssuedSession) -> Cookie<'static> {
    Cookie::build((SESSION_COOKIE, session.token.clone()))
        .http_only(true)
        .same_site(SameSite::Lax)
        .path("/")
        .secure(state.cookie_secure)
        .max_age(time_duration(session.ttl))
        .build()
}

fn time_duration(d: std::time::Duration) -> time::Duration {
    time::Duration::seconds(d.as_secs() as i64)
}
