//! `ApiError`: the one error type of every HTTP surface (the API, the socket's
//! upgrade, the fallbacks), rendered as `{"error": {"code": "...", "message": "..."}}`
//! with the matching status.

use axum::{
    Json,
    extract::rejection::{JsonRejection, PathRejection, QueryRejection},
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde::Serialize;
use utoipa::ToSchema;

use crate::chat::ChatError;

/// Everything an API call can answer besides success.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error(transparent)]
    Chat(#[from] ChatError),
    /// The request could not be read: malformed JSON, a missing or mistyped field,
    /// a bad query or path parameter.
    #[error("{0}")]
    BadRequest(String),
    #[error("the request body is larger than the limit")]
    PayloadTooLarge,
    #[error("expected a JSON body with Content-Type: application/json")]
    UnsupportedMediaType,
    #[error("requests from this origin are not allowed")]
    ForbiddenOrigin,
    #[error("no such endpoint")]
    NoRoute,
    #[error("this endpoint does not accept this method")]
    MethodNotAllowed,
    /// `Range` asks only for bytes past the end of a file of `size` bytes.
    #[error("the range asked for is not in the file ({size} bytes)")]
    RangeNotSatisfiable { size: u64 },
}

/// The JSON body of every error.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable and machine-readable, e.g. `not_found`, `invalid_input`.
    pub code: &'static str,
    /// For people.
    pub message: String,
    /// The request field at fault, where there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<&'static str>,
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Chat(e) => match e {
                ChatError::Invalid { .. } => StatusCode::BAD_REQUEST,
                ChatError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
                ChatError::Unauthenticated | ChatError::BadCredentials => StatusCode::UNAUTHORIZED,
                ChatError::Deactivated | ChatError::NotYours => StatusCode::FORBIDDEN,
                ChatError::MessageDeleted | ChatError::TooManyReactions(_) => StatusCode::CONFLICT,
                ChatError::UsernameTaken => StatusCode::CONFLICT,
                ChatError::NotFound(_) => StatusCode::NOT_FOUND,
                ChatError::QuotaExceeded { .. } => StatusCode::FORBIDDEN,
                ChatError::RateLimited { .. } | ChatError::Busy => StatusCode::TOO_MANY_REQUESTS,
                ChatError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
                ChatError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            },
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::ForbiddenOrigin => StatusCode::FORBIDDEN,
            Self::NoRoute => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::RangeNotSatisfiable { .. } => StatusCode::RANGE_NOT_SATISFIABLE,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            Self::Chat(e) => e.code(),
            Self::BadRequest(_) => "bad_request",
            Self::PayloadTooLarge => "payload_too_large",
            Self::UnsupportedMediaType => "unsupported_media_type",
            Self::ForbiddenOrigin => "forbidden_origin",
            Self::NoRoute => "not_found",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::RangeNotSatisfiable { .. } => "range_not_satisfiable",
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let Self::Chat(ChatError::Internal(cause)) = &self {
            // Logged inside the request's span; the client learns only that it failed.
            tracing::error!(error = ?cause, "request failed");
        }
        let field = match &self {
            Self::Chat(ChatError::Invalid { field, .. } | ChatError::TooLarge { field, .. }) => {
                Some(*field)
            }
            _ => None,
        };
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code(),
                message: self.to_string(),
                field,
            },
        };
        let retry_after = match &self {
            Self::Chat(e) => e.retry_after_secs(),
            _ => None,
        };
        let content_range = match &self {
            Self::RangeNotSatisfiable { size } => {
                HeaderValue::try_from(format!("bytes */{size}")).ok()
            }
            _ => None,
        };
        let mut response = (self.status(), Json(body)).into_response();
        if let Some(range) = content_range {
            response.headers_mut().insert(header::CONTENT_RANGE, range);
        }
        if let Some(secs) = retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        match rejection.status() {
            StatusCode::PAYLOAD_TOO_LARGE => Self::PayloadTooLarge,
            StatusCode::UNSUPPORTED_MEDIA_TYPE => Self::UnsupportedMediaType,
            _ => Self::BadRequest(rejection.body_text()),
        }
    }
}

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> Self {
        Self::BadRequest(rejection.body_text())
    }
}

impl From<PathRejection> for ApiError {
    fn from(rejection: PathRejection) -> Self {
        Self::BadRequest(rejection.body_text())
    }
}
