//! Attachments: uploads streamed into the media store, served with ranges and safe
//! headers to those who may see them and to nobody else, carried by messages, and
//! removed once nothing refers to them.

use std::{
    io::{Cursor, Write},
    path::{Path, PathBuf},
};

use gadka_test_support::{
    Client, PATIENCE, TestApp, assert_error, eventually, spawn_app, spawn_with,
};
use reqwest::{StatusCode, header};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A photo-like PNG of `width` × `height`.
pub(crate) fn png(width: u32, height: u32) -> Vec<u8> {
    let image = image::RgbImage::from_fn(width, height, |x, y| {
        image::Rgb([(x % 256) as u8, (y % 256) as u8, ((x + y) % 256) as u8])
    });
    let mut bytes = Vec::new();
    image
        .write_to(&mut Cursor::new(&mut bytes), image::ImageFormat::Png)
        .expect("a PNG");
    bytes
}

/// A valid, tiny PNG whose header claims `width` × `height` pixels: a decompression
/// bomb's shape.
fn png_claiming(width: u32, height: u32) -> Vec<u8> {
    fn chunk(out: &mut Vec<u8>, kind: &[u8], data: &[u8]) {
        out.extend_from_slice(&u32::try_from(data.len()).unwrap().to_be_bytes());
        let mut crc = flate2::Crc::new();
        crc.update(kind);
        crc.update(data);
        out.extend_from_slice(kind);
        out.extend_from_slice(data);
        out.extend_from_slice(&crc.sum().to_be_bytes());
    }
    let mut header = Vec::new();
    header.extend_from_slice(&width.to_be_bytes());
    header.extend_from_slice(&height.to_be_bytes());
    header.extend_from_slice(&[8, 2, 0, 0, 0]);
    let mut zlib = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
    zlib.write_all(&vec![0; 64 * 1024]).unwrap();
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    chunk(&mut png, b"IHDR", &header);
    chunk(&mut png, b"IDAT", &zlib.finish().unwrap());
    chunk(&mut png, b"IEND", b"");
    png
}

/// Every file in the media store (the scratch space left out).
fn stored_files(app: &TestApp) -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                if path.file_name() != Some("tmp".as_ref()) {
                    walk(&path, out);
                }
            } else {
                out.push(path);
            }
        }
    }
    let mut files = Vec::new();
    walk(&app.data_dir.path().join("media"), &mut files);
    files
}

async fn uploaded(client: &Client, name: &str, content_type: &str, bytes: Vec<u8>) -> Value {
    let reply = client.upload(name, content_type, bytes).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    reply.body["media"].clone()
}

fn header_of(response: &reqwest::Response, name: header::HeaderName) -> &str {
    response
        .headers()
        .get(&name)
        .unwrap_or_else(|| panic!("a {name} header"))
        .to_str()
        .expect("ASCII")
}

#[tokio::test]
async fn an_upload_is_typed_by_its_bytes_measured_and_served_with_ranges_and_safe_headers() {
    let app = spawn_app().await;
    let alice = app.register("alice").await;
    let photo = png(800, 600);
    // The client's word is only a hint: these bytes are a PNG.
    let media = uploaded(&alice, "kot łaciaty.png", "text/html", photo.clone()).await;
    assert_eq!(media["name"], "kot łaciaty.png");
    assert_eq!(media["content_type"], "image/png");
    assert_eq!(media["size"], photo.len());
    assert_eq!(
        (media["width"].as_u64(), media["height"].as_u64()),
        (Some(800), Some(600))
    );
    let id = media["id"].as_str().expect("an id");
    let path = format!("/api/media/{id}");

    // An upload with no bytes is nothing to send.
    let empty = alice.upload("empty.txt", "text/plain", Vec::new()).await;
    assert_error(
        empty.status,
        &empty.body,
        StatusCode::BAD_REQUEST,
        "invalid_input",
    );
    assert_eq!(empty.body["error"]["field"], "file");

    let whole = alice.fetch(&path, &[]).await;
    assert_eq!(whole.status(), StatusCode::OK);
    assert_eq!(header_of(&whole, header::CONTENT_TYPE), "image/png");
    assert_eq!(header_of(&whole, header::X_CONTENT_TYPE_OPTIONS), "nosniff");
    assert_eq!(
        header_of(&whole, header::CONTENT_SECURITY_POLICY),
        "sandbox"
    );
    let cache = header_of(&whole, header::CACHE_CONTROL).to_owned();
    assert!(
        cache.contains("private") && cache.contains("immutable"),
        "{cache}"
    );
    let disposition = header_of(&whole, header::CONTENT_DISPOSITION).to_owned();
    assert!(disposition.starts_with("inline"), "{disposition}");
    assert!(
        disposition.contains("UTF-8''kot%20%C5%82aciaty.png"),
        "{disposition}"
    );
    let etag = header_of(&whole, header::ETAG).to_owned();
    assert!(
        etag.starts_with('"') && !etag.starts_with("W/"),
        "a strong ETag: {etag}"
    );
    assert_eq!(
        whole.bytes().await.unwrap(),
        photo,
        "the same bytes come back"
    );

    let unchanged = alice.fetch(&path, &[("if-none-match", &etag)]).await;
    assert_eq!(unchanged.status(), StatusCode::NOT_MODIFIED);

    let part = alice.fetch(&path, &[("range", "bytes=100-199")]).await;
    assert_eq!(part.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(
        header_of(&part, header::CONTENT_RANGE),
        format!("bytes 100-199/{}", photo.len())
    );
    assert_eq!(part.bytes().await.unwrap(), photo[100..200]);
    let tail = alice.fetch(&path, &[("range", "bytes=-10")]).await;
    assert_eq!(tail.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(tail.bytes().await.unwrap(), photo[photo.len() - 10..]);
    // An If-Range for other bytes gets the whole file.
    let stale = alice
        .fetch(&path, &[("range", "bytes=0-9"), ("if-range", "\"other\"")])
        .await;
    assert_eq!(stale.status(), StatusCode::OK);
    let past = alice
        .fetch(&path, &[("range", &format!("bytes={}-", photo.len() + 5))])
        .await;
    assert_eq!(past.status(), StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(
        header_of(&past, header::CONTENT_RANGE),
        format!("bytes */{}", photo.len())
    );

    let thumb = alice.fetch(&format!("{path}/thumbnail"), &[]).await;
    assert_eq!(thumb.status(), StatusCode::OK);
    let thumb_type = header_of(&thumb, header::CONTENT_TYPE).to_owned();
    let small = image::load_from_memory(&thumb.bytes().await.unwrap()).expect("a thumbnail");
    assert_eq!(thumb_type, "image/jpeg");
    assert_eq!(
        (small.width(), small.height()),
        (320, 240),
        "320 on the long side, same shape"
    );

    // Anything else is served to be saved, never shown or run by the browser: a page
    // that claims to be a photo is typed as the page it is.
    let page = uploaded(
        &alice,
        "page.png",
        "image/png",
        b"<html><script>alert(1)</script></html>".to_vec(),
    )
    .await;
    assert_eq!(page["content_type"], "text/html");
    assert_eq!(
        (&page["width"], &page["height"]),
        (&Value::Null, &Value::Null)
    );
    let served = alice
        .fetch(&format!("/api/media/{}", page["id"].as_str().unwrap()), &[])
        .await;
    assert!(header_of(&served, header::CONTENT_DISPOSITION).starts_with("attachment"));
    assert_eq!(
        header_of(&served, header::CONTENT_SECURITY_POLICY),
        "sandbox"
    );
    let unknown = uploaded(&alice, "x.html", "text/html", vec![0xfe; 300]).await;
    assert_eq!(unknown["content_type"], "application/octet-stream");
    let no_thumb = alice
        .fetch(
            &format!("/api/media/{}/thumbnail", page["id"].as_str().unwrap()),
            &[],
        )
        .await;
    assert_eq!(no_thumb.status(), StatusCode::NOT_FOUND);
    let text = uploaded(
        &alice,
        "notes.txt",
        "text/plain",
        "zażółć gęślą jaźń".into(),
    )
    .await;
    assert_eq!(text["content_type"], "text/plain");

    // The same bytes twice are two uploads and one file.
    let before = stored_files(&app).len();
    let again = uploaded(&alice, "again.png", "image/png", photo).await;
    assert_ne!(again["id"], media["id"]);
    assert_eq!(stored_files(&app).len(), before);
}

/// Upload, attach, fetch, delete: what a photo in a chat goes through, on whichever
/// database `app` runs.
pub(crate) async fn attachments_end_to_end(app: &TestApp) {
    let alice = app.register("photo-alice").await;
    let bob = app.register("photo-bob").await;
    let carol = app.register("photo-carol").await;
    let id = alice.open(&bob).await;
    let media = uploaded(&alice, "plaża.png", "image/png", png(64, 48)).await;
    let media_id = media["id"].as_str().unwrap().to_owned();
    let file = format!("/api/media/{media_id}");

    // Not sent yet: only its uploader sees it; to others it does not exist.
    assert_eq!(alice.fetch(&file, &[]).await.status(), StatusCode::OK);
    assert_eq!(bob.fetch(&file, &[]).await.status(), StatusCode::NOT_FOUND);
    let (mut bob_socket, _) = app.socket(&bob).await;

    let path = format!("/api/conversations/{id}/messages");
    let (status, sent) = alice
        .post(
            &path,
            json!({"body": "", "media_id": media_id, "txn_id": "p-1"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{sent}");
    let message = &sent["message"];
    assert_eq!(message["body"], "");
    assert_eq!(message["attachment"], media, "the message shows the upload");
    let live = bob_socket.expect("message").await;
    assert_eq!(live["message"]["attachment"], media, "{live}");
    let history = bob.history(id, "").await;
    assert_eq!(history[0]["attachment"], media);

    // Now bob may fetch it, and pass it on; carol, in no conversation with it, may not.
    assert_eq!(bob.fetch(&file, &[]).await.status(), StatusCode::OK);
    assert_eq!(
        bob.fetch(&format!("{file}/thumbnail"), &[]).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        carol.fetch(&file, &[]).await.status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        carol
            .fetch(&format!("{file}/thumbnail"), &[])
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
    let (status, forwarded) = bob
        .post(&path, json!({"body": "ładne!", "media_id": media_id}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{forwarded}");
    let carol_with_alice = carol.open(&alice).await;
    let (status, refused) = carol
        .post(
            &format!("/api/conversations/{carol_with_alice}/messages"),
            json!({"body": "mine now", "media_id": media_id}),
        )
        .await;
    assert_error(status, &refused, StatusCode::BAD_REQUEST, "invalid_input");
    assert_eq!(refused["error"]["field"], "media_id");
    // An id that was never made reads the same as one that is not yours.
    let (status, never) = alice
        .post(
            &path,
            json!({"body": "", "media_id": "AAAAAAAAAAAAAAAAAAAAAA"}),
        )
        .await;
    assert_error(status, &never, StatusCode::BAD_REQUEST, "invalid_input");
    assert_eq!(never["error"]["field"], "media_id");
    // Without a file a message still needs words.
    let (status, empty) = alice.post(&path, json!({"body": " "})).await;
    assert_error(status, &empty, StatusCode::BAD_REQUEST, "invalid_input");

    // Over the socket a file goes without a body at all.
    let note = uploaded(&alice, "notatka.txt", "text/plain", b"kup mleko".to_vec()).await;
    let (mut alice_socket, _) = app.socket(&alice).await;
    alice_socket
        .send(
            json!({"type": "send", "conversation_id": id, "media_id": note["id"],
                     "txn_id": "p-2", "req": 5}),
        )
        .await;
    let sent = alice_socket.expect("sent").await;
    assert_eq!(sent["message"]["attachment"], note, "{sent}");
    assert_eq!(sent["message"]["body"], "");
    // Bob's socket hears his own message first (a copy for his other devices).
    let live = loop {
        let frame = bob_socket.next_of("message").await;
        if frame["message"]["sender_id"] == alice.id() {
            break frame;
        }
    };
    assert_eq!(
        live["message"]["attachment"]["name"], "notatka.txt",
        "{live}"
    );
    alice_socket
        .send(json!({"type": "send", "conversation_id": id, "txn_id": "p-3", "req": 6}))
        .await;
    let refused = alice_socket.expect("error").await;
    assert_eq!(refused["req"], 6, "neither words nor a file: {refused}");

    // Deleted: the message no longer carries it; the file stays while bob's does.
    let seq = message["seq"].as_i64().unwrap();
    let (status, _) = alice.delete(&format!("{path}/{seq}")).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let history = bob.history(id, "").await;
    assert_eq!(history[0]["attachment"], Value::Null);
    assert_eq!(bob.fetch(&file, &[]).await.status(), StatusCode::OK);
    let (status, _) = bob
        .delete(&format!("{path}/{}", forwarded["message"]["seq"]))
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    // Deleting the last message that carried it removes it before the answer.
    assert_eq!(
        alice.fetch(&file, &[]).await.status(),
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn a_photo_in_a_chat_is_seen_by_its_members_only_and_goes_with_its_last_message() {
    let app = spawn_app().await;
    attachments_end_to_end(&app).await;
    // The photo and its thumbnail are off the disk; the note, still sent, stays.
    let left = stored_files(&app);
    assert_eq!(left.len(), 1, "{left:?}");
}

#[tokio::test]
async fn uploads_past_their_limits_are_refused_and_leave_nothing() {
    let app = spawn_with(|s| {
        s.limits.max_upload_bytes = 4096;
        s.limits.uploads_per_minute = 3;
    })
    .await;
    let alice = app.register("alice").await;

    // Declared too large: refused from the headers, the body never read.
    let mut stream = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    let cookie = alice.cookie().expect("a session");
    let head = format!(
        "POST /api/media?filename=big.bin HTTP/1.1\r\nHost: {}\r\nCookie: {cookie}\r\n\
         Content-Type: application/octet-stream\r\nContent-Length: 10000000\r\n\r\n",
        app.addr
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut answer = vec![0; 4096];
    let n = stream.read(&mut answer).await.unwrap();
    let answer = String::from_utf8_lossy(&answer[..n]);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("payload_too_large"), "{answer}");

    // Undeclared (chunked) and too large: cut off once past the limit.
    let chunks = futures_util::stream::iter(
        (0..8).map(|_| Ok::<_, std::io::Error>(bytes::Bytes::from(vec![7; 1024]))),
    );
    let response = alice
        .http
        .post(app.url("/api/media?filename=chunked.bin"))
        .body(reqwest::Body::wrap_stream(chunks))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);

    // A decompression bomb: a few hundred bytes claiming 100,000 × 100,000 pixels.
    let bomb = alice
        .upload("bomb.png", "image/png", png_claiming(100_000, 100_000))
        .await;
    assert_error(
        bomb.status,
        &bomb.body,
        StatusCode::BAD_REQUEST,
        "invalid_input",
    );
    assert_eq!(bomb.body["error"]["field"], "file");
    let said = bomb.body["error"]["message"].as_str().unwrap();
    assert!(said.contains("100000 × 100000"), "{said}");
    assert!(stored_files(&app).is_empty(), "nothing refused is kept");
    assert_eq!(app.db_integer("SELECT count(*) FROM media").await, 0);

    // Three uploads a minute, each attempt counted (the two refused ones too).
    uploaded(&alice, "one.txt", "text/plain", b"one".to_vec()).await;
    let limited = alice.upload("two.txt", "text/plain", b"two".to_vec()).await;
    assert_error(
        limited.status,
        &limited.body,
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
    );
    assert!(limited.headers.contains_key(header::RETRY_AFTER));
    assert_eq!(app.db_integer("SELECT count(*) FROM media").await, 1);
    // The node's own scratch directory under media/tmp holds only its lock.
    let scratch: Vec<_> = std::fs::read_dir(app.data_dir.path().join("media/tmp"))
        .unwrap()
        .flat_map(|node| std::fs::read_dir(node.unwrap().path()).unwrap())
        .map(|entry| entry.unwrap().file_name())
        .filter(|name| name != ".held")
        .collect();
    assert!(
        scratch.is_empty(),
        "no scratch file outlives its upload: {scratch:?}"
    );
}

#[tokio::test]
async fn uploads_count_against_the_storage_quota() {
    let app = spawn_with(|s| s.limits.storage_quota_bytes = 10_000).await;
    let alice = app.register("alice").await;
    uploaded(&alice, "a.bin", "application/octet-stream", vec![1; 6000]).await;
    let over = alice
        .upload("b.bin", "application/octet-stream", vec![2; 6000])
        .await;
    assert_error(
        over.status,
        &over.body,
        StatusCode::FORBIDDEN,
        "quota_exceeded",
    );
    assert_eq!(app.db_integer("SELECT count(*) FROM media").await, 1);
}

#[tokio::test]
async fn an_upload_no_message_carries_is_removed_after_its_time() {
    let app = spawn_with(|s| s.media_unattached_ttl = std::time::Duration::from_secs(1)).await;
    let (alice, _bob, id) = app.alice_and_bob().await;
    let kept = uploaded(&alice, "kept.png", "image/png", png(40, 30)).await;
    let (status, _) = alice
        .post(
            &format!("/api/conversations/{id}/messages"),
            json!({"body": "zdjęcie", "media_id": kept["id"]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let dropped = uploaded(
        &alice,
        "dropped.bin",
        "application/octet-stream",
        vec![9; 100],
    )
    .await;
    let dropped_path = format!("/api/media/{}", dropped["id"].as_str().unwrap());
    eventually(
        "the unsent upload to be removed",
        PATIENCE,
        async || match alice.fetch(&dropped_path, &[]).await.status() {
            StatusCode::NOT_FOUND => Ok(()),
            status => Err(format!("still served: {status}")),
        },
    )
    .await;
    let kept_path = format!("/api/media/{}", kept["id"].as_str().unwrap());
    assert_eq!(alice.fetch(&kept_path, &[]).await.status(), StatusCode::OK);
    // The sent photo and its thumbnail; the unsent file is off the disk.
    assert_eq!(stored_files(&app).len(), 2);
}
