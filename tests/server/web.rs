//! The web client's files as HTTP serves them: security headers on every page,
//! strong ETags answered with 304, immutable versioned assets, `index.html` for the
//! client's own routes, and the API's JSON 404 untouched.

use gadka_test_support::{assert_error, read, spawn_app};
use reqwest::{StatusCode, header};

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
