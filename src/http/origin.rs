//! Which browser origins may act with a user's cookie.
//!
//! The cookie is `SameSite=Lax`, which keeps it off cross-site POSTs; checking
//! `Origin` as well covers same-site neighbours (other subdomains) and browsers
//! without SameSite. The server's own origin is always trusted, configured origins
//! besides it. Its own origin is `server.public_url` when that is set; otherwise the
//! one the request's `Host` names, which is right behind any proxy that passes `Host`
//! on but is chosen by whoever controls the name (DNS rebinding points a name the
//! attacker owns at the server, and the browser then sends that name as `Host` and
//! its origin alike).

use axum::{
    extract::{Request, State},
    http::{HeaderMap, Method, header},
    middleware::Next,
    response::{IntoResponse, Response},
};

use super::{ApiError, AppState};

/// The server's own origin: the configured one, or any scheme with the `Host` sent.
pub enum Own<'a> {
    Configured(&'a str),
    Host(Option<&'a str>),
}

/// Whether `origin` (as the browser sent it) is the server's own or a configured one.
pub fn is_allowed(origin: &str, own: Own<'_>, configured: &[String]) -> bool {
    let origin = origin.trim_end_matches('/').to_ascii_lowercase();
    let own = match own {
        Own::Configured(public) => origin == public,
        Own::Host(host) => host.is_some_and(|host| {
            let host = host.to_ascii_lowercase();
            origin == format!("http://{host}") || origin == format!("https://{host}")
        }),
    };
    own || configured.contains(&origin)
}

/// Whether a request's `Origin` header, if it has one, is allowed. Requests without
/// one (curl, native clients, same-origin GETs) carry no cross-site risk of their own.
pub fn request_origin_allowed(headers: &HeaderMap, state: &AppState) -> bool {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return true;
    };
    let own = match &state.public_origin {
        Some(public) => Own::Configured(public),
        None => Own::Host(headers.get(header::HOST).and_then(|h| h.to_str().ok())),
    };
    origin
        .to_str()
        .is_ok_and(|origin| is_allowed(origin, own, &state.origins))
}

/// Refuses state-changing API calls from a foreign origin with 403.
pub async fn check(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let safe = matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    );
    if safe || request_origin_allowed(request.headers(), &state) {
        next.run(request).await
    } else {
        ApiError::ForbiddenOrigin.into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::{Own, is_allowed};

    #[test]
    fn own_origin_and_configured_ones_only() {
        let configured = vec!["https://app.example.org".to_owned()];
        let host = |h| Own::Host(Some(h));
        assert!(is_allowed(
            "http://127.0.0.1:8080",
            host("127.0.0.1:8080"),
            &[]
        ));
        assert!(is_allowed(
            "https://app.example.org",
            host("chat:8080"),
            &configured
        ));
        assert!(!is_allowed(
            "https://evil.example",
            host("127.0.0.1:8080"),
            &configured
        ));
        assert!(!is_allowed(
            "http://127.0.0.1:8081",
            host("127.0.0.1:8080"),
            &[]
        ));
        assert!(!is_allowed("null", host("127.0.0.1:8080"), &[]));
    }

    #[test]
    fn a_public_url_is_the_own_origin_whatever_the_host_says() {
        let public = Own::Configured("https://chat.example.org");
        assert!(is_allowed("https://chat.example.org/", public, &[]));
        // DNS rebinding: the attacker's name, sent as Host and as Origin alike.
        let rebound = Own::Configured("https://chat.example.org");
        assert!(!is_allowed("http://rebind.evil.example", rebound, &[]));
        let other_scheme = Own::Configured("https://chat.example.org");
        assert!(!is_allowed("http://chat.example.org", other_scheme, &[]));
    }
}
