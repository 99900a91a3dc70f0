//! The accept loop: every TCP connection the server takes, with a clock and a cap.
//!
//! `axum::serve` runs hyper without a timer, so hyper's header-read timeout never
//! fires: a client sending one header byte every few seconds held its connection, and
//! its file descriptor, forever (1,010 of them left the server answering nobody under
//! the usual open-file limit of 1,024). This loop is `axum::serve`'s, with three
//! things added:
//!
//! - hyper's HTTP/1 connection gets a Tokio timer and `header_read_timeout`. In hyper
//!   1.12 that clock starts whenever the connection waits for a request's head, after
//!   a response on a kept-alive connection too, so it bounds the idle keep-alive wait
//!   as well as a slow head. (HTTP/1 only: the auto builder runs no timer while it
//!   guesses the protocol, and nothing here needs HTTP/2 in clear text.)
//! - a cap on open connections in all and per client address, held for the whole life
//!   of the connection, a WebSocket after its upgrade included (the ticket travels
//!   inside the I/O object that the upgraded socket keeps). Over a cap the connection
//!   gets a canned 503 and is closed before any of it is parsed.
//! - graceful shutdown: on the signal no connection is accepted any more and every
//!   open one finishes the request it is serving.
//!
//! Request bodies get their clock from `tower-http`'s body timeout, in the router.

use std::{
    collections::HashMap,
    future::Future,
    io,
    net::IpAddr,
    pin::Pin,
    sync::{Arc, Mutex},
    task::{Context, Poll},
    time::Duration,
};

use axum::{Router, extract::ConnectInfo, http::Request};
use hyper::body::Incoming;
use hyper_util::{
    rt::{TokioIo, TokioTimer},
    service::TowerToHyperService,
};
use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    net::{TcpListener, TcpStream},
    sync::watch,
};
use tower::ServiceExt;

use crate::http::client::TrustedProxies;

/// What an over-the-cap connection is told before it is closed.
const REFUSED: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\nretry-after: 5\r\n\
    content-type: application/json\r\ncontent-length: 81\r\nconnection: close\r\n\r\n\
    {\"error\":{\"code\":\"overloaded\",\"message\":\"too many connections; try again soon\"}}";

/// Open-file descriptors kept back from the connection cap: the database, its WAL and
/// journal, the listeners, the log, a bridge's client connections.
const RESERVED_FDS: u64 = 128;

/// The connection limits the loop enforces.
#[derive(Debug, Clone)]
pub struct ConnectionLimits {
    /// Proxies carry many clients' connections: the cap per address spares them.
    pub trusted_proxies: TrustedProxies,
    /// How long a request's head may take to arrive, and how long a kept-alive
    /// connection may sit idle.
    pub header_timeout: Duration,
    /// Open connections in all.
    pub max_connections: usize,
    /// Open connections from one client address.
    pub max_connections_per_ip: usize,
}

/// Serves `router` on `listener` until `shutdown` resolves, then waits for the open
/// connections to finish what they are serving.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let gate = Gate::new(
        limits.max_connections,
        limits.max_connections_per_ip,
        limits.trusted_proxies,
    );
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout);
    // Every connection task holds a receiver: the sender's `closed()` is the moment
    // the last of them has finished.
    let (stop_tx, stop_rx) = watch::channel(());
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    accept_failed(&e).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Some(ticket) = gate.admit(peer.ip()) else {
            refuse(&stream);
            continue;
        };
        // Without TCP_NODELAY a small frame written while the previous one is still
        // unacknowledged waits for the peer's delayed ACK: 40 ms stalls on a socket.
        if let Err(e) = stream.set_nodelay(true) {
            tracing::warn!(error = %e, "cannot set TCP_NODELAY");
        }
        let io = TokioIo::new(Admitted {
            stream,
            _ticket: ticket,
        });
        let service = router
            .clone()
            .map_request(move |mut request: Request<Incoming>| {
                request.extensions_mut().insert(ConnectInfo(peer));
                request
            });
        let connection = http
            .serve_connection(io, TowerToHyperService::new(service))
            .with_upgrades();
        let mut stop = stop_rx.clone();
        tokio::spawn(async move {
            tokio::pin!(connection);
            let served = tokio::select! {
                served = connection.as_mut() => served,
                _ = stop.changed() => {
                    connection.as_mut().graceful_shutdown();
                    connection.await
                }
            };
            if let Err(e) = served {
                // Timeouts, resets and bad requests from clients: their business.
                tracing::debug!(error = %e, %peer, "connection ended");
            }
            drop(stop);
        });
    }
    drop(listener);
    drop(stop_rx);
    let _ = stop_tx.send(());
    stop_tx.closed().await;
    Ok(())
}

/// Accepting fails for the server's own reasons (out of file descriptors), or for a
/// connection that died in the queue. Spinning on the first would burn a core.
async fn accept_failed(error: &io::Error) {
    use io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if matches!(
        error.kind(),
        ConnectionRefused | ConnectionAborted | ConnectionReset
    ) {
        return;
    }
    tracing::error!(error = %error, "accept failed");
    metrics::counter!("gadka_connections_refused_total", "reason" => "accept_failed").increment(1);
    tokio::time::sleep(Duration::from_millis(100)).await;
}

/// Writes the canned 503 if the socket takes it at once, and closes.
fn refuse(stream: &TcpStream) {
    let _ = stream.try_write(REFUSED);
}

/// Raises the soft limit on open files to the hard one (1,024 is a common soft limit,
/// and each connection is a file), and returns the connection cap that leaves room
/// for everything else the process opens.
pub fn fit_to_file_limit(wanted: usize) -> usize {
    let soft = match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(soft) => {
            tracing::info!(open_files = soft, "open-file limit");
            soft
        }
        Err(e) => {
            tracing::warn!(error = %e, "cannot read or raise the open-file limit");
            return wanted;
        }
    };
    let room = usize::try_from(soft.saturating_sub(RESERVED_FDS).max(1)).unwrap_or(usize::MAX);
    if room < wanted {
        tracing::warn!(
            max_connections = room,
            configured = wanted,
            "the open-file limit lowers the connection cap"
        );
    }
    wanted.min(room)
}

/// Counts open connections, in all and per address.
#[derive(Clone)]
struct Gate(Arc<GateInner>);

struct GateInner {
    max_total: usize,
    max_per_ip: usize,
    exempt: TrustedProxies,
    open: Mutex<Open>,
}

#[derive(Default)]
struct Open {
    total: usize,
    per_ip: HashMap<IpAddr, usize>,
}

impl Gate {
    fn new(max_total: usize, max_per_ip: usize, exempt: TrustedProxies) -> Self {
        Self(Arc::new(GateInner {
            max_total,
            max_per_ip,
            exempt,
            open: Mutex::new(Open::default()),
        }))
    }

    /// A ticket for one more connection from `ip`, or `None` over a cap.
    fn admit(&self, ip: IpAddr) -> Option<Ticket> {
        let mut open = self.0.open.lock().unwrap_or_else(|e| e.into_inner());
        let reason = if open.total >= self.0.max_total {
            "total"
        } else if open.per_ip.get(&ip).copied().unwrap_or(0) >= self.0.max_per_ip
            && !self.0.exempt.contains(ip)
        {
            "per_ip"
        } else {
            open.total += 1;
            *open.per_ip.entry(ip).or_default() += 1;
            metrics::gauge!("gadka_connections_open").set(open.total as f64);
            return Some(Ticket {
                gate: self.clone(),
                ip,
            });
        };
        drop(open);
        metrics::counter!("gadka_connections_refused_total", "reason" => reason).increment(1);
        None
    }
}

/// One admitted connection; gives its place back when dropped.
struct Ticket {
    gate: Gate,
    ip: IpAddr,
}

impl Drop for Ticket {
    fn drop(&mut self) {
        let mut open = self.gate.0.open.lock().unwrap_or_else(|e| e.into_inner());
        open.total -= 1;
        if let Some(n) = open.per_ip.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                open.per_ip.remove(&self.ip);
            }
        }
        metrics::gauge!("gadka_connections_open").set(open.total as f64);
    }
}

/// A TCP stream that holds its connection's ticket: hyper hands the stream itself to
/// an upgraded WebSocket, so the ticket lives exactly as long as the connection.
struct Admitted {
    stream: TcpStream,
    _ticket: Ticket,
}

impl AsyncRead for Admitted {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for Admitted {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_gate_caps_per_address_and_in_all_and_gives_places_back() {
        let proxy: IpAddr = [192, 168, 1, 1].into();
        let gate = Gate::new(3, 2, TrustedProxies::new(vec![proxy.into()]));
        let a: IpAddr = [10, 0, 0, 1].into();
        let b: IpAddr = [10, 0, 0, 2].into();
        let a1 = gate.admit(a).expect("first from a");
        let _a2 = gate.admit(a).expect("second from a");
        assert!(gate.admit(a).is_none(), "a third from one address");
        let _b1 = gate.admit(b).expect("another address");
        assert!(gate.admit(b).is_none(), "over the total");
        drop(a1);
        assert!(gate.admit(b).is_some(), "a place given back is free again");
        drop(_b1);
        let _p1 = gate.admit(proxy).expect("a proxy");
        let _p2 = gate.admit(proxy).expect("a proxy");
        assert!(
            gate.admit(proxy).is_none(),
            "the total holds for proxies too"
        );
    }
}
