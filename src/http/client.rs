//! Who the client is: the peer's address, or, when the peer is a trusted proxy, the
//! address the proxies say they forwarded for.
//!
//! `X-Forwarded-For` is a list each proxy appends the address it heard from to. It is
//! read from the right: addresses of trusted proxies are skipped, and the first one
//! that is not trusted is the client. Anything left of it was written by the client
//! itself and is not believed; nor is the header at all from a peer that is not a
//! trusted proxy. The rate limits and the request's log line use this address.

use std::{
    net::{IpAddr, SocketAddr},
    sync::Arc,
};

use axum::{
    extract::{ConnectInfo, Request},
    http::HeaderMap,
    middleware::Next,
    response::Response,
};

use crate::config::IpNet;

/// The client's address, as this module derives it; in every request's extensions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub IpAddr);

/// Proxies whose forwarding headers are believed.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(Arc<[IpNet]>);

impl TrustedProxies {
    pub fn new(networks: Vec<IpNet>) -> Self {
        Self(networks.into())
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|net| net.contains(&canonical(ip)))
    }

    /// The client behind `peer`, given the request's headers.
    pub fn client(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        if !self.contains(peer) {
            return peer;
        }
        let mut client = peer;
        for hop in headers
            .get_all("x-forwarded-for")
            .iter()
            .rev()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.rsplit(','))
        {
            let Some(ip) = parse_hop(hop) else {
                // A hop that is not an address ends what can be believed.
                break;
            };
            client = ip;
            if !self.contains(ip) {
                break;
            }
        }
        client
    }
}

/// An `X-Forwarded-For` entry: an address, perhaps with a port (`[::1]:80`, `1.2.3.4:5`).
fn parse_hop(hop: &str) -> Option<IpAddr> {
    let hop = hop.trim();
    hop.parse::<IpAddr>()
        .ok()
        .or_else(|| hop.parse::<SocketAddr>().ok().map(|s| s.ip()))
        .map(canonical)
}

/// An IPv4 address seen through an IPv6 socket (`::ffff:1.2.3.4`) as the IPv4 one.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// Puts the [`ClientAddr`] in the request and names it in the request's span.
pub async fn identify(
    axum::extract::State(proxies): axum::extract::State<TrustedProxies>,
    mut request: Request,
    next: Next,
) -> Response {
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip());
    if let Some(peer) = peer {
        let client = proxies.client(canonical(peer), request.headers());
        tracing::Span::current().record("client", tracing::field::display(client));
        request.extensions_mut().insert(ClientAddr(client));
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn headers(values: &[&str]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for v in values {
            map.append("x-forwarded-for", HeaderValue::from_str(v).unwrap());
        }
        map
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies_and_read_from_the_right() {
        let proxies = TrustedProxies::new(vec!["10.0.0.0/8".parse().unwrap()]);
        // Not a proxy: the header is the client's own word.
        assert_eq!(
            proxies.client(ip("203.0.113.9"), &headers(&["1.1.1.1"])),
            ip("203.0.113.9")
        );
        // One proxy: the address it heard from.
        assert_eq!(
            proxies.client(ip("10.0.0.2"), &headers(&["198.51.100.7"])),
            ip("198.51.100.7")
        );
        // A client that forges an entry: the rightmost untrusted one is the client.
        assert_eq!(
            proxies.client(
                ip("10.0.0.2"),
                &headers(&["6.6.6.6, 198.51.100.7, 10.0.0.5"])
            ),
            ip("198.51.100.7")
        );
        // Several header lines are one list, in order.
        assert_eq!(
            proxies.client(ip("10.0.0.2"), &headers(&["6.6.6.6", "198.51.100.7:4711"])),
            ip("198.51.100.7")
        );
        // Garbage stops the walk at the last good hop; no header: the proxy itself.
        assert_eq!(
            proxies.client(ip("10.0.0.2"), &headers(&["nonsense, 10.0.0.7"])),
            ip("10.0.0.7")
        );
        assert_eq!(
            proxies.client(ip("10.0.0.2"), &HeaderMap::new()),
            ip("10.0.0.2")
        );
        // An IPv4 peer on an IPv6 socket is the IPv4 address.
        assert!(proxies.contains(ip("::ffff:10.1.2.3")));
    }
}
