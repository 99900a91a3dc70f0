//! The web client's files as HTTP serves them: security headers on every page,
//! strong ETags answered with 304, immutable versioned assets, `index.html` for the
//! client's own routes, the API's JSON 404 untouched, and all of it compressed as the
//! request allows (decompressed here, to the very bytes served uncompressed).

use std::io::Read;

use gadka_test_support::{TestApp, assert_error, read, spawn_app};
use reqwest::{
    StatusCode,
    header::{self, HeaderMap},
};

const CSP: &str = "default-src 'self'; connect-src 'self'; frame-ancestors 'none'";

#[tokio::test]
async fn the_page_is_served_with_security_headers_and_revalidated() {
    let app = spawn_app().await;
    let http = reqwest::Client::new();
    let page = http.get(app.url("/")).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let headers = page.headers().clone();
    let csp = headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
    assert!(csp.starts_with(CSP), "{csp}");
    assert!(
        !csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"),
        "{csp}"
    );
    assert_eq!(headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
    assert_eq!(headers[header::REFERRER_POLICY], "same-origin");
    assert_eq!(headers[header::CACHE_CONTROL], "no-cache");
    assert!(
        headers[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let etag = headers[header::ETAG].to_str().unwrap().to_owned();
    assert!(
        etag.starts_with('"') && etag.len() > 10,
        "a strong ETag: {etag}"
    );
    let html = page.text().await.unwrap();
    assert!(!html.contains("<script>"), "no inline script");

    let again = http
        .get(app.url("/"))
        .header(header::IF_NONE_MATCH, &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(again.headers()[header::ETAG].to_str().unwrap(), etag);
    assert!(
        again
            .headers()
            .contains_key(header::CONTENT_SECURITY_POLICY)
    );
    assert!(again.bytes().await.unwrap().is_empty());
}

#[tokio::test]
async fn assets_are_versioned_immutable_and_typed() {
    let app = spawn_app().await;
    let http = reqwest::Client::new();
    let html = http
        .get(app.url("/"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let start = html
        .find("<script")
        .and_then(|tag| html[tag..].find("/assets/").map(|at| tag + at))
        .expect("the page names its script under /assets/");
    let script = &html[start..start + html[start..].find('"').unwrap()];
    assert!(script.ends_with("/app.js"), "{script}");

    let asset = http.get(app.url(script)).send().await.unwrap();
    assert_eq!(asset.status(), StatusCode::OK);
    let headers = asset.headers().clone();
    assert_eq!(
        headers[header::CACHE_CONTROL],
        "public, max-age=31536000, immutable"
    );
    assert!(
        headers[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .contains("javascript")
    );
    assert_eq!(headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
    let etag = headers[header::ETAG].to_str().unwrap();
    let again = http
        .get(app.url(script))
        .header(header::IF_NONE_MATCH, etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);

    // A page of another version still gets the file, but must revalidate it.
    let other = format!("/assets/0000{}", &script[script.rfind('/').unwrap()..]);
    let stale = http.get(app.url(&other)).send().await.unwrap();
    assert_eq!(stale.status(), StatusCode::OK, "{other}");
    assert_eq!(stale.headers()[header::CACHE_CONTROL], "no-cache");

    let missing = http
        .get(app.url("/assets/x/no-such-file.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn client_routes_serve_the_page_and_the_api_keeps_its_404() {
    let app = spawn_app().await;
    let http = reqwest::Client::new();
    for path in ["/c/12", "/u/3", "/anything/else"] {
        let page = http.get(app.url(path)).send().await.unwrap();
        assert_eq!(page.status(), StatusCode::OK, "{path}");
        assert!(page.text().await.unwrap().contains("/app.js"), "{path}");
    }
    let reply = read(http.get(app.url("/api/unknown")).send().await.unwrap()).await;
    assert_error(
        reply.status,
        &reply.body,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    let reply = read(http.post(app.url("/c/12")).send().await.unwrap()).await;
    assert_error(
        reply.status,
        &reply.body,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    let ws = http.get(app.url("/ws")).send().await.unwrap();
    assert_eq!(
        ws.status(),
        StatusCode::UNAUTHORIZED,
        "the socket is no page"
    );
}

/// A `GET` with `Accept-Encoding` (none without it) and `If-None-Match`: its status,
/// headers and body as they came over the wire.
async fn fetch(
    url: &str,
    accept: Option<&str>,
    if_none_match: Option<&str>,
) -> (StatusCode, HeaderMap, Vec<u8>) {
    // reqwest, built without its decompression features, neither asks for a coding
    // nor undoes one.
    let mut request = reqwest::Client::new().get(url);
    if let Some(accept) = accept {
        request = request.header(header::ACCEPT_ENCODING, accept);
    }
    if let Some(tag) = if_none_match {
        request = request.header(header::IF_NONE_MATCH, tag);
    }
    let response = request.send().await.unwrap();
    let (status, headers) = (response.status(), response.headers().clone());
    (status, headers, response.bytes().await.unwrap().to_vec())
}

/// The body decoded as its `Content-Encoding` says.
fn decoded(headers: &HeaderMap, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    match coding(headers) {
        None => out.extend_from_slice(body),
        Some("br") => {
            brotli::Decompressor::new(body, 4096)
                .read_to_end(&mut out)
                .expect("valid brotli");
        }
        Some("gzip") => {
            flate2::read::GzDecoder::new(body)
                .read_to_end(&mut out)
                .expect("valid gzip");
        }
        Some(other) => panic!("an unexpected coding: {other}"),
    }
    out
}

fn coding(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::CONTENT_ENCODING)
        .map(|v| v.to_str().unwrap())
}

fn varies_by_coding(headers: &HeaderMap) -> bool {
    headers.get_all(header::VARY).iter().any(|v| {
        v.to_str()
            .unwrap()
            .to_ascii_lowercase()
            .contains("accept-encoding")
    })
}

/// The URL of the page's stylesheet, under the current version.
async fn stylesheet(app: &TestApp) -> String {
    let (_, _, page) = fetch(&app.url("/"), None, None).await;
    let html = String::from_utf8(page).unwrap();
    let end = html.find("/style.css").unwrap() + "/style.css".len();
    let start = html[..end].rfind("\"/assets/").unwrap() + 1;
    app.url(&html[start..end])
}

#[tokio::test]
async fn assets_come_compressed_as_asked_each_coding_with_its_own_etag() {
    let app = spawn_app().await;
    let url = stylesheet(&app).await;
    let (status, plain_headers, plain) = fetch(&url, None, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        coding(&plain_headers),
        None,
        "identity without Accept-Encoding"
    );
    assert!(varies_by_coding(&plain_headers));
    assert!(plain.len() > 4096, "the stylesheet is worth compressing");

    let mut etags = vec![plain_headers[header::ETAG].to_str().unwrap().to_owned()];
    for (accept, expected) in [
        ("gzip, deflate, br, zstd", "br"),
        ("br", "br"),
        ("gzip", "gzip"),
        ("br;q=0.5, gzip", "gzip"),
    ] {
        let (status, headers, body) = fetch(&url, Some(accept), None).await;
        assert_eq!(status, StatusCode::OK, "{accept}");
        assert_eq!(coding(&headers), Some(expected), "{accept}");
        assert!(varies_by_coding(&headers), "{accept}");
        assert!(
            body.len() < plain.len() / 2,
            "{accept}: {} bytes",
            body.len()
        );
        assert_eq!(decoded(&headers, &body), plain, "{accept}: the very file");
        assert_eq!(
            headers[header::CACHE_CONTROL],
            "public, max-age=31536000, immutable"
        );
        assert!(
            headers[header::CONTENT_TYPE]
                .to_str()
                .unwrap()
                .starts_with("text/css")
        );
        assert_eq!(headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
        let etag = headers[header::ETAG].to_str().unwrap().to_owned();
        assert!(
            etag.starts_with('"') && etag.ends_with('"'),
            "strong: {etag}"
        );
        // The same coding again is not modified; another coding of it is not the
        // bytes this tag names.
        let (status, again, body) = fetch(&url, Some(accept), Some(&etag)).await;
        assert_eq!(status, StatusCode::NOT_MODIFIED, "{accept}");
        assert_eq!(again[header::ETAG].to_str().unwrap(), etag);
        assert!(varies_by_coding(&again));
        assert!(body.is_empty());
        let (status, _, _) = fetch(&url, None, Some(&etag)).await;
        assert_eq!(status, StatusCode::OK, "{accept}: identity is other bytes");
        if !etags.contains(&etag) {
            etags.push(etag);
        }
    }
    assert_eq!(etags.len(), 3, "identity, brotli and gzip apart: {etags:?}");
}

#[tokio::test]
async fn the_page_and_the_api_come_compressed_when_asked() {
    let app = spawn_app().await;
    let (_, plain_headers, page) = fetch(&app.url("/"), None, None).await;
    assert_eq!(coding(&plain_headers), None);
    for (accept, expected) in [("br", "br"), ("gzip", "gzip")] {
        let (status, headers, body) = fetch(&app.url("/"), Some(accept), None).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(coding(&headers), Some(expected));
        assert!(varies_by_coding(&headers));
        assert_eq!(decoded(&headers, &body), page);
        assert_eq!(headers[header::CACHE_CONTROL], "no-cache");
        assert!(headers.contains_key(header::CONTENT_SECURITY_POLICY));
        assert_ne!(headers[header::ETAG], plain_headers[header::ETAG]);
        let etag = headers[header::ETAG].to_str().unwrap();
        let (status, _, _) = fetch(&app.url("/c/1"), Some(accept), Some(etag)).await;
        assert_eq!(
            status,
            StatusCode::NOT_MODIFIED,
            "the page at a client route"
        );
    }

    // The API's JSON, when it is large enough to gain.
    let alice = app.register("alice").await;
    for name in ["bob", "carol", "dave"] {
        let peer = app.register(name).await;
        let id = alice.open(&peer).await;
        for i in 0..5 {
            peer.send(id, &format!("{name} says hello, number {i}"))
                .await;
        }
    }
    let cookie = alice.cookie().unwrap();
    let list = app.url("/api/conversations?limit=100&messages=10");
    let get = |accept: Option<&'static str>| {
        let mut request = alice.http.get(&list).header(header::COOKIE, &cookie);
        if let Some(accept) = accept {
            request = request.header(header::ACCEPT_ENCODING, accept);
        }
        async move {
            let response = request.send().await.unwrap();
            let headers = response.headers().clone();
            (headers, response.bytes().await.unwrap().to_vec())
        }
    };
    let (headers, plain) = get(None).await;
    assert_eq!(coding(&headers), None);
    assert!(plain.len() > 2048, "{} bytes", plain.len());
    for (accept, expected) in [("gzip, br", "br"), ("gzip", "gzip")] {
        let (headers, body) = get(Some(accept)).await;
        assert_eq!(coding(&headers), Some(expected), "{accept}");
        assert!(varies_by_coding(&headers));
        assert!(
            body.len() < plain.len() / 2,
            "{accept}: {} bytes",
            body.len()
        );
        assert_eq!(decoded(&headers, &body), plain, "{accept}");
    }
    // The document too.
    let (_, headers, body) = fetch(&app.url("/api/openapi.json"), Some("br"), None).await;
    assert_eq!(coding(&headers), Some("br"));
    let doc: serde_json::Value = serde_json::from_slice(&decoded(&headers, &body)).unwrap();
    assert!(doc["paths"].is_object());
}
