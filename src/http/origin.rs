//! Which browser origins may act with a user's cookie.
//!
//! The cookie is `SameSite=Lax`, which keeps it off cross-site POSTs; checking
//! `Origin` as well covers same-site neighbours (other subdomains) and browsers
//! without SameSite. The server's own origin, the one the request's `Host` names, is
//! always trusted; configured origins are trusted besides it.

use axum::{
    extract::{Request, State},
    http::{HeaderMap, Method, header},
    middleware::Next,
    response::{IntoResponse, Response},
};

use super::{ApiError, AppState};

/// Whether `origin` (as the browser sent it) is the server's own or a configured one.
pub fn is_allowed(origin: &str, host: Option<&str>, configured: &[String]) -> bool {
    let origin = origin.trim_end_matches('/').to_ascii_lowercase();
    let own = host.is_some_and(|host| {
        let host = host.to_ascii_lowercase();
        origin == format!("http://{host}") || origin == format!("https://{host}")
    });
    own || configured.contains(&origin)
}

/// Whether a request's `Origin` header, if it has one, is allowed. Requests without
/// one (curl, native clients, same-origin GETs) carry no cross-site risk of their own.
pub fn request_origin_allowed(headers: &HeaderMap, configured: &[String]) -> bool {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return true;
    };
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    origin
        .to_str()
        .is_ok_and(|origin| is_allowed(origin, host, configured))
}

/// Refuses state-changing API calls from a foreign origin with 403.
pub async fn check(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let safe = matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    );
    if safe || request_origin_allowed(request.headers(), &state.origins) {
        next.run(request).await
    } else {
        ApiError::ForbiddenOrigin.into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::is_allowed;

    #[test]
    fn own_origin_and_configured_ones_only() {
        let configured = vec!["https://app.example.org".to_owned()];
        assert!(is_allowed(
            "http://127.0.0.1:8080",
            Some("127.0.0.1:8080"),
            &[]
        ));
        assert!(is_allowed(
            "https://app.example.org",
            Some("chat:8080"),
            &configured
        ));
        assert!(!is_allowed(
            "https://evil.example",
            Some("127.0.0.1:8080"),
            &configured
        ));
        assert!(!is_allowed(
            "http://127.0.0.1:8081",
            Some("127.0.0.1:8080"),
            &[]
        ));
        assert!(!is_allowed("null", Some("127.0.0.1:8080"), &[]));
    }
}
