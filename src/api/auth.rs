//! Accounts and sessions: `/api/register`, `/api/login`, `/api/logout`, `/api/me`
//! (read and change).

use axum::{
    extract::{Extension, State},
    http::StatusCode,
};
use axum_extra::extract::{
    CookieJar,
    cookie::{Cookie, SameSite},
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::doc;
use crate::{
    chat::{IssuedSession, views::User},
    http::{
        ApiError, AppState, ClientAddr, CurrentSession, SESSION_COOKIE, error::ErrorBody,
        extract::AppJson,
    },
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(register))
        .routes(routes!(login))
        .routes(routes!(logout))
        .routes(routes!(me, update_me))
}

/// The changes `PATCH /api/me` takes.
#[derive(Debug, Deserialize, ToSchema)]
pub struct UpdateMeRequest {
    #[schema(schema_with = doc::new_display_name)]
    display_name: String,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct RegisterRequest {
    #[schema(schema_with = doc::username)]
    username: String,
    #[schema(schema_with = doc::password)]
    password: String,
    #[schema(schema_with = doc::display_name)]
    display_name: Option<String>,
}

/// Any strings: a wrong or malformed name or password is the same 401.
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
    responses(
        (status = 201, body = UserBody, description = "Created and logged in",
            headers(("Set-Cookie" = String, description = "The session cookie `gadka_session`"))),
        (status = 400, body = ErrorBody, description = doc::BAD_REQUEST),
        (status = 403, body = ErrorBody, description = doc::FOREIGN_ORIGIN),
        (status = 409, body = ErrorBody, description = "The username is taken, in any case (`username_taken`)"),
        (status = 413, body = ErrorBody, description = doc::TOO_LARGE),
        (status = 415, body = ErrorBody, description = doc::NOT_JSON),
        (status = 429, body = ErrorBody, description = "Too many sign-ups from this address (`rate_limited`), or the server is busy hashing passwords (`busy`)",
            headers(("Retry-After" = u64, description = "Seconds until a sign-up may succeed"))),
    ))]
async fn register(
    State(state): State<AppState>,
    Extension(ClientAddr(client)): Extension<ClientAddr>,
    jar: CookieJar,
    AppJson(req): AppJson<RegisterRequest>,
) -> Result<(StatusCode, CookieJar, AppJson<UserBody>), ApiError> {
    let (user, session) = state
        .chat
        .register(
            &req.username,
            &req.password,
            req.display_name.as_deref(),
            client,
        )
        .await?;
    let jar = jar.add(session_cookie(&state, &session));
    Ok((StatusCode::CREATED, jar, AppJson(UserBody { user })))
}

/// Logs in: sets `gadka_session` (HttpOnly, SameSite=Lax, Path=/). Attempts are
/// limited per username from one client address, and per address; every attempt
/// counts.
#[utoipa::path(post, path = "/api/login", tag = "auth", request_body = LoginRequest,
    responses(
        (status = 200, body = UserBody, description = "Logged in",
            headers(("Set-Cookie" = String, description = "The session cookie `gadka_session`"))),
        (status = 400, body = ErrorBody, description = doc::BAD_REQUEST),
        (status = 401, body = ErrorBody, description = "Wrong username or password (`invalid_credentials`)"),
        (status = 403, body = ErrorBody, description = "The right username and password, but the server's admin has deactivated the account (`deactivated`; told only to whoever gave the right password, to anyone else it is `invalid_credentials`); or the `Origin` header names neither this server nor a configured origin (`forbidden_origin`)"),
        (status = 413, body = ErrorBody, description = doc::TOO_LARGE),
        (status = 415, body = ErrorBody, description = doc::NOT_JSON),
        (status = 429, body = ErrorBody, description = "Too many attempts for this username from this address, or from this address (`rate_limited`), or the server is busy checking passwords (`busy`)",
            headers(("Retry-After" = u64, description = "Seconds until the next attempt may succeed"))),
    ))]
async fn login(
    State(state): State<AppState>,
    Extension(ClientAddr(client)): Extension<ClientAddr>,
    jar: CookieJar,
    AppJson(req): AppJson<LoginRequest>,
) -> Result<(CookieJar, AppJson<UserBody>), ApiError> {
    let (user, session) = state
        .chat
        .login(&req.username, &req.password, client)
        .await?;
    Ok((
        jar.add(session_cookie(&state, &session)),
        AppJson(UserBody { user }),
    ))
}

/// Logs out: the session is revoked on the server and the cookie cleared.
/// Without a live session there is nothing to revoke, and the answer is the same.
#[utoipa::path(post, path = "/api/logout", tag = "auth", security((), ("cookie" = [])),
    responses(
        (status = 204, description = "Logged out; the cookie is cleared",
            headers(("Set-Cookie" = String, description = "`gadka_session` expired"))),
        (status = 403, body = ErrorBody, description = doc::FOREIGN_ORIGIN),
    ))]
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
#[utoipa::path(get, path = "/api/me", tag = "auth", security(("cookie" = [])),
    responses(
        (status = 200, body = UserBody),
        (status = 401, body = ErrorBody, description = doc::UNAUTHENTICATED),
    ))]
async fn me(
    State(state): State<AppState>,
    CurrentSession(session): CurrentSession,
) -> Result<AppJson<UserBody>, ApiError> {
    let user = state.chat.me(&session).await?;
    Ok(AppJson(UserBody { user }))
}

/// Changes the logged-in user's display name. Matrix users see their puppet renamed
/// when the bridge runs.
#[utoipa::path(patch, path = "/api/me", tag = "auth", request_body = UpdateMeRequest,
    security(("cookie" = [])),
    responses(
        (status = 200, body = UserBody, description = "The user as stored now"),
        (status = 400, body = ErrorBody, description = doc::BAD_REQUEST),
        (status = 401, body = ErrorBody, description = doc::UNAUTHENTICATED),
        (status = 403, body = ErrorBody, description = doc::FOREIGN_ORIGIN),
        (status = 413, body = ErrorBody, description = doc::TOO_LARGE),
        (status = 415, body = ErrorBody, description = doc::NOT_JSON),
    ))]
async fn update_me(
    State(state): State<AppState>,
    CurrentSession(session): CurrentSession,
    AppJson(req): AppJson<UpdateMeRequest>,
) -> Result<AppJson<UserBody>, ApiError> {
    let user = state
        .chat
        .set_display_name(&session, &req.display_name)
        .await?;
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
