//! Extractors: gadka's versions of `Json`, `Query` and `Path` whose rejections are
//! `ApiError`s (so even a malformed request gets the usual error body), and
//! `CurrentSession`, which makes "this handler needs a login" part of its signature.

use axum::{
    extract::{FromRequest, FromRequestParts, Request},
    http::{header, request::Parts},
    response::{IntoResponse, Response},
};
use axum_extra::extract::CookieJar;

use super::{ApiError, AppState, SESSION_COOKIE};
use crate::chat::{ChatError, Session};

/// A JSON body; malformed input is a 400 in gadka's error shape.
#[derive(Debug, FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
pub struct AppJson<T>(pub T);

impl<T: serde::Serialize> IntoResponse for AppJson<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

/// A JSON body whose every field is optional, so that no body at all means `{}`:
/// `curl -X POST …/read` marks everything read.
#[derive(Debug)]
pub struct OptionalJson<T>(pub T);

impl<T, S> FromRequest<S> for OptionalJson<T>
where
    T: serde::de::DeserializeOwned + Default,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        let headers = request.headers();
        let empty = match headers.get(header::CONTENT_LENGTH) {
            Some(length) => length == "0",
            None => !headers.contains_key(header::TRANSFER_ENCODING),
        };
        if empty {
            return Ok(Self(T::default()));
        }
        let AppJson(value) = AppJson::<T>::from_request(request, state).await?;
        Ok(Self(value))
    }
}

/// Query parameters; a malformed one is a 400 in gadka's error shape.
#[derive(Debug, FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct AppQuery<T>(pub T);

/// Path parameters; a malformed one is a 400 in gadka's error shape.
#[derive(Debug, FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub struct AppPath<T>(pub T);

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
        tracing::Span::current().record("user.id", session.user_id);
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
