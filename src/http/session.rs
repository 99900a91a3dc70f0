//! The cookie → session lookup, shared by every surface that authenticates a
//! browser: the API's `CurrentSession` extractor and the socket's upgrade call the
//! same function, so a cookie means the same thing over HTTP and over the socket.

use axum::{extract::FromRequestParts, http::request::Parts};
use axum_extra::extract::CookieJar;

use super::{ApiError, AppState};
use crate::chat::{ChatError, Session};

/// The name of the session cookie.
pub const SESSION_COOKIE: &str = "gadka_session";

/// The live session named by the `gadka_session` cookie; 401 without one.
///
/// There is no `Option<CurrentSession>`: a handler that works with or without a
/// login would turn a bad or revoked cookie into "not logged in" without a word.
#[derive(Debug, Clone)]
pub struct CurrentSession(pub Session);

impl FromRequestParts<AppState> for CurrentSession {
    type Rejection = ApiError;

    #[tracing::instrument(name = "auth", skip_all, fields(user.id))]
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let session = session_from_parts(parts, state).await?;
        tracing::Span::current().record("user.id", session.user_id.get());
        Ok(Self(session))
    }
}

/// Authenticates a request from its session cookie: the one way any transport turns
/// a cookie into a session.
pub async fn session_from_parts(parts: &Parts, state: &AppState) -> Result<Session, ApiError> {
    let jar = CookieJar::from_headers(&parts.headers);
    let token = jar
        .get(SESSION_COOKIE)
        .map(|c| c.value().to_owned())
        .ok_or(ChatError::Unauthenticated)?;
    Ok(state.chat.authenticate(&token).await?)
}
