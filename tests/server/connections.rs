//! What a slow or greedy client can hold: connections are timed and capped, and a
//! socket that stops answering is pinged and then closed. Driven over raw TCP, as an
//! attacker would, since a well-behaved client library would hide what is tested.

use std::time::Duration;

use gadka_test_support::{TestApp, eventually, spawn_with};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

/// Long enough for the server's own clock, short enough for a test; the waits below
/// are generous multiples of it, since the machine may be busy.
const SHORT: Duration = Duration::from_secs(1);
const GENEROUS: Duration = Duration::from_secs(30);

/// Reads until the server closes the connection (or resets it); everything it sent.
async fn read_until_closed(stream: &mut TcpStream) -> Vec<u8> {
    let mut received = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout(GENEROUS, stream.read(&mut buf)).await {
            Err(_) => panic!(
                "the server kept the connection open for {GENEROUS:?}; it sent {:?}",
                String::from_utf8_lossy(&received)
            ),
            Ok(Ok(0) | Err(_)) => return received,
            Ok(Ok(n)) => received.extend_from_slice(&buf[..n]),
        }
    }
}

async fn connect(app: &TestApp) -> TcpStream {
    TcpStream::connect(app.addr).await.expect("connects")
}

async fn health_is_ok(app: &TestApp) {
    let status = reqwest::get(app.url("/healthz"))
        .await
        .expect("the server answers")
        .status();
    assert_eq!(status, 200);
}

#[tokio::test]
async fn a_request_head_that_trickles_in_is_cut_off_while_others_are_served() {
    let app = spawn_with(|s| s.limits.header_timeout = SHORT).await;
    let mut slow = Vec::new();
    for _ in 0..20 {
        slow.push(connect(&app).await);
    }
    // A byte now and then, never the end of the head: each would wait forever
    // without a header timeout.
    let trickle = tokio::spawn(async move {
        let mut line = b"GET /healthz HTTP/1.1\r\nX-Slow: ".iter().cycle();
        let mut open = slow.len();
        while open > 0 {
            open = 0;
            let byte = [*line.next().unwrap_or(&b'a')];
            for stream in &mut slow {
                if stream.write_all(&byte).await.is_ok() {
                    open += 1;
                }
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    });
    health_is_ok(&app).await;
    tokio::time::timeout(GENEROUS * 2, trickle)
        .await
        .expect("every trickling connection is closed by the server")
        .expect("the trickle task ran");
    health_is_ok(&app).await;
}

#[tokio::test]
async fn a_kept_alive_connection_is_closed_once_idle() {
    let app = spawn_with(|s| s.limits.header_timeout = SHORT).await;
    let mut stream = connect(&app).await;
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: gadka\r\n\r\n")
        .await
        .expect("writes");
    let received = read_until_closed(&mut stream).await;
    let text = String::from_utf8_lossy(&received);
    assert!(text.starts_with("HTTP/1.1 200"), "answered first: {text}");
}

#[tokio::test]
async fn a_declared_body_that_never_comes_ends_the_request() {
    let app = spawn_with(|s| s.limits.body_timeout = SHORT).await;
    let mut stream = connect(&app).await;
    stream
        .write_all(
            b"POST /api/login HTTP/1.1\r\nHost: gadka\r\nContent-Type: application/json\r\n\
              Content-Length: 60000\r\n\r\n{\"username\":",
        )
        .await
        .expect("writes");
    let received = read_until_closed(&mut stream).await;
    let text = String::from_utf8_lossy(&received);
    assert!(
        text.starts_with("HTTP/1.1 4"),
        "the request is answered with an error, not waited on: {text}"
    );
}

#[tokio::test]
async fn connections_over_the_cap_per_address_are_refused_cheaply_and_come_back() {
    let app = spawn_with(|s| s.limits.max_connections_per_ip = 3).await;
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(connect(&app).await);
    }
    let mut extra = connect(&app).await;
    let refused = read_until_closed(&mut extra).await;
    let text = String::from_utf8_lossy(&refused);
    assert!(
        text.starts_with("HTTP/1.1 503") && text.contains("\"overloaded\""),
        "{text}"
    );
    drop(held.pop());
    // The place is given back when the server sees the close: look until it has.
    eventually(
        "a connection to be served again",
        GENEROUS,
        async || match reqwest::get(app.url("/healthz")).await {
            Ok(response) if response.status() == 200 => Ok(()),
            Ok(response) => Err(format!("status {}", response.status())),
            Err(e) => Err(e.to_string()),
        },
    )
    .await;
}

/// The handshake of a WebSocket by hand, so that nothing answers pings for us.
async fn raw_socket(app: &TestApp) -> TcpStream {
    let user = app.register("quiet").await;
    let cookie = user.cookie().expect("a session cookie");
    let mut stream = connect(app).await;
    let request = format!(
        "GET /ws HTTP/1.1\r\nHost: {addr}\r\nOrigin: http://{addr}\r\nCookie: {cookie}\r\n\
         Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
        addr = app.addr
    );
    stream.write_all(request.as_bytes()).await.expect("writes");
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8; 1];
        stream
            .read_exact(&mut byte)
            .await
            .expect("the upgrade answer");
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head);
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    stream
}

/// The server's frames in `bytes` (unmasked, as a server sends them): (opcode, payload).
fn frames(mut bytes: &[u8]) -> Vec<(u8, Vec<u8>)> {
    let mut out = Vec::new();
    while bytes.len() >= 2 {
        let opcode = bytes[0] & 0x0f;
        let (len, at) = match bytes[1] & 0x7f {
            126 => (usize::from(u16::from_be_bytes([bytes[2], bytes[3]])), 4),
            127 => {
                let mut n = [0u8; 8];
                n.copy_from_slice(&bytes[2..10]);
                (usize::try_from(u64::from_be_bytes(n)).expect("fits"), 10)
            }
            n => (usize::from(n), 2),
        };
        if bytes.len() < at + len {
            break;
        }
        out.push((opcode, bytes[at..at + len].to_vec()));
        bytes = &bytes[at + len..];
    }
    out
}

fn close_code(frames: &[(u8, Vec<u8>)]) -> Option<u16> {
    frames
        .iter()
        .find(|(opcode, _)| *opcode == 0x8)
        .map(|(_, payload)| u16::from_be_bytes([payload[0], payload[1]]))
}

#[tokio::test]
async fn a_socket_that_answers_no_ping_is_pinged_then_closed() {
    let app = spawn_with(|s| s.limits.ws_ping = SHORT).await;
    let mut stream = raw_socket(&app).await;
    let received = frames(&read_until_closed(&mut stream).await);
    let opcodes: Vec<u8> = received.iter().map(|(opcode, _)| *opcode).collect();
    assert!(opcodes.contains(&0x9), "pinged first: {opcodes:?}");
    assert_eq!(close_code(&received), Some(1001), "{opcodes:?}");
}

#[tokio::test]
async fn a_text_frame_that_is_not_utf8_closes_with_1007() {
    let app = spawn_with(|_| {}).await;
    let mut stream = raw_socket(&app).await;
    // Final text frame, masked with a zero key (so the payload is as written).
    stream
        .write_all(&[0x81, 0x82, 0, 0, 0, 0, 0xff, 0xfe])
        .await
        .expect("writes");
    let received = frames(&read_until_closed(&mut stream).await);
    assert_eq!(close_code(&received), Some(1007));
}
