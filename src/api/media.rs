//! Files: `POST /api/media` (an upload, the raw file as the body, as Matrix's media
//! upload takes it), `GET /api/media/{id}` and `GET /api/media/{id}/thumbnail`.
//!
//! Served files are someone's bytes, never the page's: `Content-Security-Policy:
//! sandbox` and `nosniff` keep a file from running as a page of this origin even if
//! opened directly, and only the image types a browser shows are served `inline`.
//! An upload is streamed in, so this router has no body limit of its own: the upload
//! limit is enforced as the bytes arrive.

use axum::{
    body::Body,
    extract::{DefaultBodyLimit, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::doc;
use crate::{
    chat::UploadInfo,
    http::{
        ApiError, AppState, CurrentSession,
        error::ErrorBody,
        extract::{AppJson, AppPath, AppQuery},
    },
    media::images::IMAGE_TYPES,
    store::Attachment,
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(upload))
        .routes(routes!(download))
        .routes(routes!(thumbnail))
        .layer(DefaultBodyLimit::disable())
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UploadParams {
    /// The file's name, shown with it and offered when it is saved (default `file`).
    #[param(
        min_length = 1,
        max_length = 255,
        pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*[^\\u0000-\\u0020\\u007f-\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000][^\\u0000-\\u001f\\u007f-\\u009f]*$"
    )]
    filename: Option<String>,
}

/// `{media}`
#[derive(Debug, Serialize, ToSchema)]
pub struct MediaBody {
    media: Attachment,
}

/// An upload's id in the path.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct MediaPath {
    /// The upload's id.
    #[param(pattern = "^[A-Za-z0-9_-]{22}$")]
    id: String,
}

/// Uploads a file: the raw bytes as the body, its type in `Content-Type` (a hint:
/// the type is taken from the bytes). Images get their size and a thumbnail. The
/// answer comes once the file is durable; attach it to a message with `media_id`.
#[utoipa::path(post, path = "/api/media", tag = "media", params(UploadParams),
    // Any bytes are a file: the schema admits every body.
    request_body(content = inline(serde_json::Value), content_type = "*/*", description = "The file, as raw bytes"),
    security(("cookie" = [])),
    responses(
        (status = 201, body = MediaBody, description = "Stored"),
        (status = 400, body = ErrorBody, description = "A bad `filename`, an empty file, or an image that cannot be read or is over 64 megapixels (`invalid_input`, `field: \"file\"`)"),
        (status = 401, body = ErrorBody, description = doc::UNAUTHENTICATED),
        (status = 403, body = ErrorBody, description = "A foreign `Origin` (`forbidden_origin`), or the storage quota is reached (`quota_exceeded`, `limits.storage_quota_bytes`)"),
        (status = 413, body = ErrorBody, description = "Over `limits.max_upload_bytes` (`payload_too_large`), refused before the body is read when it says its length"),
        (status = 429, body = ErrorBody, description = "Too many uploads from this user (`rate_limited`, `limits.uploads_per_minute`)",
            headers(("Retry-After" = u64, description = "Seconds until an upload may succeed"))),
    ))]
async fn upload(
    State(state): State<AppState>,
    CurrentSession(session): CurrentSession,
    AppQuery(params): AppQuery<UploadParams>,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, AppJson<MediaBody>), ApiError> {
    let text = |name| {
        headers
            .get(name)
            .and_then(|v: &HeaderValue| v.to_str().ok())
    };
    let info = UploadInfo {
        filename: params.filename.as_deref(),
        content_type: text(header::CONTENT_TYPE),
        length: text(header::CONTENT_LENGTH).and_then(|v| v.parse().ok()),
    };
    let row = state
        .chat
        .upload(&session, info, body.into_data_stream())
        .await?;
    Ok((
        StatusCode::CREATED,
        AppJson(MediaBody {
            media: Attachment::from(&row),
        }),
    ))
}

/// The file, to its uploader and to the members of a conversation where a message
/// carries it; to anyone else it does not exist. One byte range may be asked for.
#[utoipa::path(get, path = "/api/media/{id}", tag = "media", params(MediaPath),
    security(("cookie" = [])),
    responses(
        (status = 200, description = "The file", content_type = "*/*", body = Vec<u8>),
        (status = 206, description = "The range asked for", content_type = "*/*", body = Vec<u8>),
        (status = 304, description = "`If-None-Match` matched: the copy the client has is the file"),
        (status = 400, body = ErrorBody, description = "Not an upload id (`invalid_input`)"),
        (status = 401, body = ErrorBody, description = doc::UNAUTHENTICATED),
        (status = 404, body = ErrorBody, description = "No such file, or not one this user may see (`not_found`)"),
        (status = 416, body = ErrorBody, description = "The range is past the end of the file (`range_not_satisfiable`)"),
    ))]
async fn download(
    State(state): State<AppState>,
    CurrentSession(session): CurrentSession,
    AppPath(path): AppPath<MediaPath>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let row = state.chat.media_to_serve(&session, &path.id).await?;
    let file = Served {
        sha256: &row.sha256,
        size: row.size,
        content_type: &row.content_type,
        name: &row.name,
    };
    file.respond(&state, &headers).await
}

/// An image's thumbnail (at most 320 pixels on its long side), to whoever may fetch
/// the image; other files have none.
#[utoipa::path(get, path = "/api/media/{id}/thumbnail", tag = "media", params(MediaPath),
    security(("cookie" = [])),
    responses(
        (status = 200, description = "The thumbnail", content_type = "image/jpeg", body = Vec<u8>),
        (status = 206, description = "The range asked for", content_type = "image/jpeg", body = Vec<u8>),
        (status = 304, description = "`If-None-Match` matched"),
        (status = 400, body = ErrorBody, description = "Not an upload id (`invalid_input`)"),
        (status = 401, body = ErrorBody, description = doc::UNAUTHENTICATED),
        (status = 404, body = ErrorBody, description = "No such file, not one this user may see, or not an image (`not_found`)"),
        (status = 416, body = ErrorBody, description = "The range is past the end of the file (`range_not_satisfiable`)"),
    ))]
async fn thumbnail(
    State(state): State<AppState>,
    CurrentSession(session): CurrentSession,
    AppPath(path): AppPath<MediaPath>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let row = state.chat.media_to_serve(&session, &path.id).await?;
    let thumb = row
        .thumbnail
        .as_ref()
        .ok_or(ApiError::Chat(crate::chat::ChatError::NotFound(
            "thumbnail",
        )))?;
    let file = Served {
        sha256: &thumb.sha256,
        size: thumb.size,
        content_type: &thumb.content_type,
        name: &row.name,
    };
    file.respond(&state, &headers).await
}

/// A file as it is served.
struct Served<'a> {
    sha256: &'a str,
    size: u64,
    content_type: &'a str,
    name: &'a str,
}

impl Served<'_> {
    async fn respond(&self, state: &AppState, headers: &HeaderMap) -> Result<Response, ApiError> {
        // The bytes never change under an id: their hash is a strong validator.
        let etag = format!("\"{}\"", self.sha256);
        let mut response = if matches_etag(headers.get(header::IF_NONE_MATCH), &etag) {
            StatusCode::NOT_MODIFIED.into_response()
        } else {
            let (status, start, len) = match self.range(headers, &etag)? {
                Some((start, end)) => (StatusCode::PARTIAL_CONTENT, start, end - start + 1),
                None => (StatusCode::OK, 0, self.size),
            };
            let stream = state
                .chat
                .media()
                .files()
                .read(self.sha256, start, len)
                .await
                .map_err(|e| ApiError::Chat(crate::chat::ChatError::Internal(e.into())))?;
            let mut response = (status, Body::from_stream(stream)).into_response();
            let h = response.headers_mut();
            h.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
            if status == StatusCode::PARTIAL_CONTENT {
                let range = format!("bytes {start}-{}/{}", start + len - 1, self.size);
                if let Ok(v) = HeaderValue::try_from(range) {
                    h.insert(header::CONTENT_RANGE, v);
                }
            }
            h.insert(
                header::CONTENT_TYPE,
                HeaderValue::try_from(self.content_type)
                    .unwrap_or(HeaderValue::from_static("application/octet-stream")),
            );
            if let Ok(v) = HeaderValue::try_from(content_disposition(self.content_type, self.name))
            {
                h.insert(header::CONTENT_DISPOSITION, v);
            }
            response
        };
        let h = response.headers_mut();
        if let Ok(v) = HeaderValue::try_from(etag) {
            h.insert(header::ETAG, v);
        }
        h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
        h.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static("private, max-age=31536000, immutable"),
        );
        h.insert(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        );
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static("sandbox"),
        );
        Ok(response)
    }

    /// The one range `Range` asks for (inclusive), if it is to be honoured: several
    /// ranges, a malformed header, or an `If-Range` for other bytes get the whole
    /// file, as RFC 9110 allows; a range wholly past the end is 416.
    fn range(&self, headers: &HeaderMap, etag: &str) -> Result<Option<(u64, u64)>, ApiError> {
        let Some(range) = headers.get(header::RANGE).and_then(|v| v.to_str().ok()) else {
            return Ok(None);
        };
        if let Some(if_range) = headers.get(header::IF_RANGE)
            && if_range.as_bytes() != etag.as_bytes()
        {
            return Ok(None);
        }
        let unsatisfiable = || ApiError::RangeNotSatisfiable { size: self.size };
        match http_range_header::parse_range_header(range).map(|r| r.validate(self.size)) {
            Ok(Ok(ranges)) => Ok(match ranges.as_slice() {
                [one] => Some((*one.start(), *one.end())),
                _ => None,
            }),
            Ok(Err(http_range_header::RangeUnsatisfiableError::Unsatisfiable))
            | Err(http_range_header::RangeUnsatisfiableError::Unsatisfiable) => {
                Err(unsatisfiable())
            }
            _ => Ok(None),
        }
    }
}

/// Whether `If-None-Match` names `etag` (or is `*`).
fn matches_etag(if_none_match: Option<&HeaderValue>, etag: &str) -> bool {
    let Some(value) = if_none_match.and_then(|v| v.to_str().ok()) else {
        return false;
    };
    value
        .split(',')
        .map(str::trim)
        .any(|tag| tag == "*" || tag.strip_prefix("W/").unwrap_or(tag) == etag)
}

/// `inline` for the images a browser shows, `attachment` for everything else; the
/// name in both the plain form (ASCII, quotes and backslashes replaced) and RFC 8187's
/// UTF-8 form, which browsers prefer.
fn content_disposition(content_type: &str, name: &str) -> String {
    let kind = if IMAGE_TYPES.contains(&content_type) {
        "inline"
    } else {
        "attachment"
    };
    let plain: String = name
        .chars()
        .map(|c| match c {
            ' '..='~' if c != '"' && c != '\\' => c,
            _ => '_',
        })
        .collect();
    let mut encoded = String::with_capacity(name.len() * 3);
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&b) {
            encoded.push(char::from(b));
        } else {
            encoded.push_str(&format!("%{b:02X}"));
        }
    }
    format!("{kind}; filename=\"{plain}\"; filename*=UTF-8''{encoded}")
}
