//! Extractors: gadka's versions of `Json`, `Query` and `Path` whose rejections are
//! `ApiError`s, so even a malformed request gets the usual error body.

use axum::{
    extract::{FromRequest, FromRequestParts, Request},
    http::header,
    response::{IntoResponse, Response},
};

use super::ApiError;

/// A JSON body; malformed input is a 400 in gadka's error shape.
#[derive(Debug, FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
pub struct AppJson<T>(pub T);

impl<T: serde::Serialize> IntoResponse for AppJson<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

/// A JSON body whose every field is optional, so that no body at all, or `null`,
/// means `{}`: `curl -X POST …/read` marks everything read.
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
        let AppJson(value) = AppJson::<Option<T>>::from_request(request, state).await?;
        Ok(Self(value.unwrap_or_default()))
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
