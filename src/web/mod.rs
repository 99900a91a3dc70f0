//! The built-in web client: the static files of `web/`, served as the router's
//! fallback.
//!
//! The files are embedded in the binary (`rust-embed`), so a release build is
//! self-contained; a debug build reads them from disk on every request, so they can
//! be edited live.
//!
//! There is no build step, so the files keep their plain names and ES modules import
//! each other by relative path. To cache them hard anyway, `index.html` is served with
//! its asset URLs under `/assets/<version>/`, where the version is a hash of every
//! file: a new binary (or, in a debug build, an edited file) gives new URLs, and the
//! whole module graph of one page load comes from one version. So the assets are
//! `immutable` for a year, while `index.html` is revalidated on every load (`no-cache`
//! with its `ETag`). Every response has a strong `ETag` (a content hash) and answers
//! `If-None-Match` with 304.
//!
//! Page and assets go out compressed, brotli or gzip as `Accept-Encoding` allows
//! (`coding.rs`), from copies compressed once at the best levels (`variants.rs`),
//! not on every request as the API's JSON is. Each coding of a file has its own
//! `ETag`, and every response says `Vary: Accept-Encoding`.
//!
//! Any other `GET` path that is not an asset serves `index.html`: the client routes
//! on its own (`/c/12` is a chat, `/u/5` a profile), so a reload or a shared link of
//! such a path opens the client there. `/api/*` and `/ws` never reach this fallback.

mod coding;
mod compress;
mod variants;

use std::{borrow::Cow, sync::OnceLock};

use axum::{
    body::{Body, Bytes},
    http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header},
    response::{IntoResponse, Response},
};
use rust_embed::{EmbeddedFile, RustEmbed};

use self::{coding::Coding, variants::Variants};
use crate::{http::ApiError, metrics::RouteLabel};

/// The client's files.
#[derive(RustEmbed)]
#[folder = "web/"]
struct Assets;

/// Where `index.html` names the versioned asset directory.
const ASSETS_PLACEHOLDER: &str = "/__ASSETS__";

/// The page's security policy: scripts, styles, images and the socket from this
/// origin only (no inline script), and no framing (clickjacking).
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; connect-src 'self'; \
     frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

/// Cache for a versioned asset: its URL changes whenever its content does.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";
/// Cache for `index.html`, and for an asset asked for under another version: keep,
/// but revalidate on every use.
const REVALIDATE: &str = "no-cache";

/// The fallback handler: an asset, the client's page, or the JSON 404 for methods
/// other than `GET` and `HEAD`.
pub async fn fallback(method: Method, uri: Uri, headers: HeaderMap) -> Response {
    if method != Method::GET && method != Method::HEAD {
        return ApiError::NoRoute.into_response();
    }
    let path = uri.path();
    let (route, response) = match path.strip_prefix("/assets/") {
        Some(rest) => ("/assets/{version}/{file}", asset(rest, &headers).await),
        None => ("/{client route}", index(&headers).await),
    };
    let mut response = with_security_headers(response);
    response.extensions_mut().insert(RouteLabel(route));
    response
}

/// `/assets/<version>/<file>`.
async fn asset(rest: &str, headers: &HeaderMap) -> Response {
    let Some((version, file)) = rest.split_once('/') else {
        return ApiError::NoRoute.into_response();
    };
    // `index.html` is only ever served rendered, as the page.
    if file == "index.html" {
        return ApiError::NoRoute.into_response();
    }
    let Some(embedded) = Assets::get(file) else {
        return ApiError::NoRoute.into_response();
    };
    // A page of an older version may still ask: it gets today's file, revalidated.
    let cache = if version == assets_version() {
        IMMUTABLE
    } else {
        REVALIDATE
    };
    let mime = embedded.metadata.mimetype().to_owned();
    let bytes = match embedded.data {
        Cow::Borrowed(embedded) => Bytes::from_static(embedded),
        Cow::Owned(read) => Bytes::from(read),
    };
    let file = Variants::of(file, embedded.metadata.sha256_hash(), bytes).await;
    respond(headers, &file, cache, &mime)
}

/// The client's page, with its asset URLs under the current version.
async fn index(headers: &HeaderMap) -> Response {
    let Some(page) = Assets::get("index.html") else {
        tracing::error!("web/index.html is not embedded");
        return ApiError::NoRoute.into_response();
    };
    let html = String::from_utf8_lossy(&page.data)
        .replace(ASSETS_PLACEHOLDER, &format!("/assets/{}", assets_version()));
    let hash = sha256(html.as_bytes());
    let page = Variants::of("index.html", hash, Bytes::from(html)).await;
    respond(headers, &page, REVALIDATE, "text/html; charset=utf-8")
}

/// A 200 with the file in the coding the request takes best, or a 304 when the
/// client already holds that coding of it.
fn respond(
    request: &HeaderMap,
    file: &Variants,
    cache: &'static str,
    content_type: &str,
) -> Response {
    let (coding, body) = file.select(Coding::negotiate(request));
    let etag = strong_etag(file.hash(), coding);
    let mut response = not_modified_or(request, etag, cache, content_type, body);
    let out = response.headers_mut();
    if let Some(encoding) = coding.header_value() {
        out.insert(header::CONTENT_ENCODING, encoding);
    }
    // Whatever coding this one is in, another request may get another.
    out.insert(header::VARY, HeaderValue::from(header::ACCEPT_ENCODING));
    response
}

/// A 200 with the body, or a 304 when the client already holds this `etag`.
fn not_modified_or(
    request: &HeaderMap,
    etag: String,
    cache: &'static str,
    content_type: &str,
    body: Bytes,
) -> Response {
    let fresh = request
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|tags| {
            tags.split(',')
                .map(str::trim)
                .any(|tag| tag == "*" || tag == etag)
        });
    let (status, body) = if fresh {
        (StatusCode::NOT_MODIFIED, Body::empty())
    } else {
        (StatusCode::OK, Body::from(body))
    };
    let mut response = (status, body).into_response();
    let out = response.headers_mut();
    if let Ok(etag) = HeaderValue::from_str(&etag) {
        out.insert(header::ETAG, etag);
    }
    out.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    if !fresh && let Ok(content_type) = HeaderValue::from_str(content_type) {
        out.insert(header::CONTENT_TYPE, content_type);
    }
    response
}

/// What every response of the client carries.
fn with_security_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    response
}

/// The version in asset URLs: a hash over every file's name and content hash.
/// Computed once in a release build (the files are in the binary); on every call in
/// a debug build, whose files may change on disk under it.
fn assets_version() -> String {
    if cfg!(debug_assertions) {
        compute_version()
    } else {
        static VERSION: OnceLock<String> = OnceLock::new();
        VERSION.get_or_init(compute_version).clone()
    }
}

fn compute_version() -> String {
    let mut names: Vec<_> = Assets::iter().collect();
    names.sort();
    let mut all = Vec::new();
    for name in names {
        if let Some(EmbeddedFile { metadata, .. }) = Assets::get(&name) {
            all.extend_from_slice(name.as_bytes());
            all.extend_from_slice(&metadata.sha256_hash());
        }
    }
    hex(&sha256(&all)[..8])
}

fn sha256(bytes: &[u8]) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(bytes).into()
}

/// A strong entity tag: the quoted content hash, marked with the coding.
fn strong_etag(hash: &[u8], coding: Coding) -> String {
    format!("\"{}{}\"", hex(&hash[..16]), coding.etag_suffix())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_names_its_assets_through_the_placeholder() {
        let page = Assets::get("index.html").expect("web/index.html is embedded");
        let html = String::from_utf8_lossy(&page.data);
        assert!(html.contains(&format!("{ASSETS_PLACEHOLDER}/app.js")));
        assert!(html.contains(&format!("{ASSETS_PLACEHOLDER}/style.css")));
    }

    #[test]
    fn an_etag_matches_only_itself_or_a_star() {
        let headers = |value: &'static str| {
            let mut h = HeaderMap::new();
            h.insert(header::IF_NONE_MATCH, HeaderValue::from_static(value));
            h
        };
        let tag = || "\"ab\"".to_owned();
        let status = |h: &HeaderMap| {
            not_modified_or(h, tag(), REVALIDATE, "text/plain", Bytes::new()).status()
        };
        assert_eq!(status(&headers("\"ab\"")), StatusCode::NOT_MODIFIED);
        assert_eq!(status(&headers("\"x\", \"ab\"")), StatusCode::NOT_MODIFIED);
        assert_eq!(status(&headers("*")), StatusCode::NOT_MODIFIED);
        assert_eq!(status(&headers("\"abc\"")), StatusCode::OK);
        assert_eq!(status(&HeaderMap::new()), StatusCode::OK);
    }
}
