//! Extractors: gadka's versions of `Json`, `Query` and `Path` whose rejections are
//! `ApiError`s, so even a malformed request gets the usual error body.

use axum::{
    extract::{FromRequest, FromRequestParts, Request},
    http::header,
    response::{IntoResponse, Response},
};
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::ApiError;

/// A JSON object body; malformed input is a 400 in gadka's error shape.
///
/// Every request body of the API is an object. serde would also read a struct from
/// an array (`[5]` as `{"user_id": 5}`), which the document does not allow, so the
/// body is read as a JSON value first and anything but an object is refused.
#[derive(Debug)]
pub struct AppJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for AppJson<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        match json_value(request, state).await? {
            value @ Value::Object(_) => from_value(value).map(Self),
            _ => Err(not_an_object()),
        }
    }
}

/// The body as a JSON value: its media type, size and syntax checked.
async fn json_value<S: Send + Sync>(request: Request, state: &S) -> Result<Value, ApiError> {
    let axum::Json(value) = axum::Json::<Value>::from_request(request, state).await?;
    Ok(value)
}

fn from_value<T: DeserializeOwned>(value: Value) -> Result<T, ApiError> {
    serde_json::from_value(value).map_err(|e| {
        ApiError::BadRequest(format!(
            "Failed to deserialize the JSON body into the target type: {e}"
        ))
    })
}

fn not_an_object() -> ApiError {
    ApiError::BadRequest("the JSON body must be an object".to_owned())
}

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
    T: DeserializeOwned + Default,
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
        match json_value(request, state).await? {
            Value::Null => Ok(Self(T::default())),
            value @ Value::Object(_) => from_value(value).map(Self),
            _ => Err(not_an_object()),
        }
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
