//! Attachments in two real browsers: Alice picks a photo and a file with the attach
//! button's file input; each goes up and becomes a message of its own. Bob sees the
//! photo inline from its thumbnail, in a box of the photo's shape, that opens the full
//! file, and the file as a chip that downloads it; the list's preview names the file;
//! axe-core finds nothing; deleted, a message shows no file. An upload under way shows
//! a named progress bar and can be cancelled; a file over the server's limit is
//! refused in words above the message box; neither sends anything. A photo uploaded
//! while the socket is down waits in the outbox like any message, through a reload,
//! and arrives once.

use std::path::Path;

use fantoccini::Locator;
use gadka_test_support::{Client as ApiClient, TestApp, spawn_app, spawn_with};
use serde_json::{Value, json};

use crate::support::{Browser, open_with};

/// A 640×480 PNG of a colour gradient, written to `path`.
fn write_photo(path: &Path) {
    let photo = image::RgbImage::from_fn(640, 480, |x, y| {
        image::Rgb([(x * 255 / 639) as u8, (y * 255 / 479) as u8, 160])
    });
    photo.save(path).expect("the PNG is written");
}

/// Chooses `path` in the message box's file input, as the attach button's picker does.
/// Found afresh until it takes the file: the chat's view is built again when the
/// socket's first snapshot comes, and an input found just before is gone.
async fn attach(b: &Browser, path: &Path) {
    let path = path.display().to_string();
    b.wait_until("the message box's file input to take the file", || async {
        let input = b
            .client
            .find(Locator::Css(".composer input[type=file]"))
            .await
            .ok()?;
        input.send_keys(&path).await.ok()
    })
    .await;
}

/// Bob's photo with a caption, uploaded and sent over the API; the media's id.
async fn send_captioned_photo(app: &TestApp, from: &ApiClient, chat: i64, path: &Path) -> String {
    let response = from
        .http
        .post(app.url("/api/media?filename=hill.png"))
        .header("content-type", "image/png")
        .body(std::fs::read(path).expect("the photo is read"))
        .send()
        .await
        .expect("the upload is answered");
    assert_eq!(response.status().as_u16(), 201, "uploaded");
    let media: Value = response.json().await.expect("the media");
    let id = media["media"]["id"].as_str().expect("an id").to_owned();
    let (status, sent) = from
        .post(
            &format!("/api/conversations/{chat}/messages"),
            json!({"body": "The view from the hill", "txn_id": "t-hill", "media_id": id}),
        )
        .await;
    assert!(status.is_success(), "sent: {status} {sent}");
    id
}

/// `GET url` from the page, with its cookies: `[status, content type]`.
async fn fetch(b: &Browser, url: &str) -> Value {
    b.client
        .execute_async(
            "const done = arguments[arguments.length - 1]; \
             fetch(arguments[0]).then((r) => done([r.status, r.headers.get('content-type')]), (e) => done([0, String(e)]));",
            vec![json!(url)],
        )
        .await
        .expect("the page fetches")
}

#[tokio::test]
async fn a_photo_and_a_file_sent_from_one_browser_show_in_the_other() {
    let app = spawn_app().await;
    let base = app.url("");
    let (alice, bob) = tokio::join!(Browser::open(&base), Browser::open(&base));
    tokio::join!(alice.register("alice", "Alice"), bob.register("bob", "Bob"));
    let bob_api = app.login("bob").await;
    let chat = open_with(&bob_api, "alice").await;
    let path = format!("/c/{chat}");
    tokio::join!(alice.goto(&path), bob.goto(&path));
    alice.wait_for(".chat").await;
    bob.wait_for(".chat").await;

    let files = tempfile::tempdir().expect("a directory for the files");
    let photo = files.path().join("sunset.png");
    write_photo(&photo);
    let hill = files.path().join("hill.png");
    write_photo(&hill);
    send_captioned_photo(&app, &bob_api, chat, &hill).await;
    alice
        .wait_for_text(".msg.theirs .text", "The view from the hill")
        .await;
    let notes = files.path().join("notes <img src=x onerror=alert(1)>.txt");
    std::fs::write(&notes, "Bring the cake.\n").expect("the file is written");

    // The attach button is named, and the picker behind it takes the files.
    let label = alice
        .js(
            "return document.querySelector('.attach-button').getAttribute('aria-label');",
            vec![],
        )
        .await;
    assert_eq!(label, json!("Attach files"));
    attach(&alice, &photo).await;
    alice
        .wait_js(
            "the photo stored, in Alice's own log",
            "return [...document.querySelectorAll('.msg.mine:is([data-status=\"sent\"], [data-status=\"seen\"]) .attachment-image img')].some((i) => i.alt === 'sunset.png');",
        )
        .await;
    attach(&alice, &notes).await;
    alice
        .wait_for_text(
            ".msg.mine .attachment-file",
            "notes <img src=x onerror=alert(1)>.txt",
        )
        .await;

    // Bob sees the photo from its thumbnail, loaded, in a box of its shape at most
    // 320 px wide, named by the file's name; who sent it is said before it.
    let thumb = ".msg.theirs .attachment-image img";
    bob.wait_js(
        "the thumbnail loaded",
        &format!("const i = document.querySelector('{thumb}'); return Boolean(i && i.complete && i.naturalWidth > 0);"),
    )
    .await;
    let shown = bob
        .js(
            &format!(
                "const i = document.querySelector('{thumb}'); const m = i.closest('.msg'); \
                 return {{ alt: i.alt, size: [i.getAttribute('width'), i.getAttribute('height')], box: [i.clientWidth, i.clientHeight], natural: [i.naturalWidth, i.naturalHeight], \
                   src: new URL(i.src).pathname, href: new URL(i.closest('a').href).pathname, \
                   who: m.querySelector('.visually-hidden').textContent }};"
            ),
            vec![],
        )
        .await;
    assert_eq!(shown["alt"], json!("sunset.png"), "{shown}");
    // Its size is set before it loads, from the attachment's: nothing moves when it does.
    assert_eq!(shown["size"], json!(["320", "240"]), "{shown}");
    assert_eq!(shown["box"], json!([320, 240]), "{shown}");
    let natural = shown["natural"].as_array().expect("a natural size");
    assert_eq!(
        natural[0].as_u64().unwrap() * 3,
        natural[1].as_u64().unwrap() * 4,
        "the thumbnail keeps the photo's shape: {shown}"
    );
    assert!(
        shown["who"]
            .as_str()
            .is_some_and(|w| w.starts_with("Alice, ")),
        "{shown}"
    );
    let full = shown["href"].as_str().expect("a link to the file");
    assert_eq!(shown["src"], json!(format!("{full}/thumbnail")));
    // The link opens the full file: the photo itself, as an image.
    assert_eq!(fetch(&bob, full).await, json!([200, "image/png"]));

    // The other file is a chip: its name as text (never markup), its size, a download.
    let chip = bob
        .wait_for_text(
            ".msg.theirs .attachment-file",
            "notes <img src=x onerror=alert(1)>.txt",
        )
        .await;
    assert!(
        chip.text().await.unwrap().contains("16 B"),
        "the chip says the size"
    );
    let chip = bob
        .js(
            "const a = document.querySelector('.msg.theirs .attachment-file'); \
             return { download: a.getAttribute('download'), href: new URL(a.href).pathname, markup: a.querySelector('img') !== null };",
            vec![],
        )
        .await;
    assert_eq!(
        chip["download"],
        json!("notes <img src=x onerror=alert(1)>.txt"),
        "{chip}"
    );
    assert_eq!(chip["markup"], json!(false), "{chip}");
    let file = fetch(&bob, chip["href"].as_str().unwrap()).await;
    assert_eq!(file[0], json!(200), "{file}");

    // The list's preview of a message with only a file names the file.
    bob.wait_for_text(
        ".conversation .preview",
        "📎 notes <img src=x onerror=alert(1)>.txt",
    )
    .await;

    bob.assert_accessible("a chat with a photo and a file")
        .await;
    alice.assert_accessible("my own photo and file, sent").await;
    bob.screenshots("attachments").await;
    alice.screenshots("attachments-mine").await;

    // Deleted, a message shows no file, in the log or the list.
    let seq = bob
        .js(
            "return Number(document.querySelector('.msg.theirs .attachment-file').closest('.msg').dataset.seq);",
            vec![],
        )
        .await;
    let alice_api = app.login("alice").await;
    let (status, _) = alice_api
        .delete(&format!("/api/conversations/{chat}/messages/{seq}"))
        .await;
    assert!(status.is_success(), "deleted: {status}");
    bob.wait_js(
        "the file gone with its message",
        &format!(
            "const m = document.querySelector('.msg[data-seq=\"{seq}\"]'); \
             return Boolean(m && m.textContent.includes('Message deleted') && !m.querySelector('.attachment-file, .attachment-image'));"
        ),
    )
    .await;
    bob.wait_for_text(".conversation .preview", "Message deleted")
        .await;
    alice.close().await;
    bob.close().await;
}

#[tokio::test]
async fn a_file_over_the_limit_is_refused_in_words_and_nothing_is_sent() {
    let app = spawn_with(|s| s.limits.max_upload_bytes = 64 * 1024).await;
    let alice = Browser::open(&app.url("")).await;
    alice.register("alice", "Alice").await;
    let bob = app.register("bob").await;
    let chat = open_with(&bob, "alice").await;
    alice.goto(&format!("/c/{chat}")).await;
    alice.wait_for(".chat").await;

    let files = tempfile::tempdir().expect("a directory for the file");
    let big = files.path().join("big.bin");
    std::fs::write(&big, vec![7u8; 256 * 1024]).expect("the file is written");
    attach(&alice, &big).await;
    alice
        .wait_for_text(".upload.failed", "too large to send")
        .await;
    alice
        .assert_accessible("an upload refused, above the message box")
        .await;
    alice.screenshot("attachments-refused-desktop-light").await;
    alice.press("Dismiss").await;
    alice
        .wait_js(
            "the tray empty, the focus back in the message box",
            "return document.querySelector('.upload-tray').hidden && document.activeElement.id === 'message';",
        )
        .await;
    let (_, page) = bob
        .get(&format!("/api/conversations/{chat}/messages"))
        .await;
    assert_eq!(page["messages"], json!([]), "nothing was sent: {page}");
    alice.close().await;
}

#[tokio::test]
async fn an_upload_under_way_shows_its_progress_and_a_cancel_sends_nothing() {
    let app = spawn_app().await;
    let alice = Browser::open(&app.url("")).await;
    alice.register("alice", "Alice").await;
    let bob = app.register("bob").await;
    let chat = open_with(&bob, "alice").await;
    alice.goto(&format!("/c/{chat}")).await;
    alice.wait_for(".chat").await;

    let files = tempfile::tempdir().expect("a directory for the file");
    let video = files.path().join("holiday.mp4");
    std::fs::write(&video, vec![7u8; 4 << 20]).expect("the file is written");
    // Slow enough that the upload is still going whenever the test looks.
    alice.throttle_uploads(16 * 1024).await;
    attach(&alice, &video).await;
    alice
        .wait_for(".upload progress[aria-label=\"Uploading holiday.mp4\"]")
        .await;
    alice
        .wait_js(
            "some of it sent",
            "const p = document.querySelector('.upload progress'); return p.max > 0 && p.value > 0;",
        )
        .await;
    alice.assert_accessible("an upload under way").await;
    alice
        .screenshot("attachments-uploading-desktop-light")
        .await;
    alice.resize(crate::support::PHONE).await;
    alice.screenshot("attachments-uploading-phone-light").await;
    alice.resize(crate::support::DESKTOP).await;
    alice
        .click_on("button[aria-label=\"Cancel upload of holiday.mp4\"]")
        .await;
    alice
        .wait_js(
            "the tray empty, the focus back in the message box",
            "return document.querySelector('.upload-tray').hidden && document.activeElement.id === 'message';",
        )
        .await;
    let (_, page) = bob
        .get(&format!("/api/conversations/{chat}/messages"))
        .await;
    assert_eq!(page["messages"], json!([]), "nothing was sent: {page}");
    alice.close().await;
}

#[tokio::test]
async fn a_photo_uploaded_while_the_socket_is_down_outlives_a_reload_and_arrives_once() {
    let app = spawn_app().await;
    let alice = Browser::open(&app.url("")).await;
    alice.register("alice", "Alice").await;
    let bob = app.register("bob").await;
    let chat = open_with(&bob, "alice").await;
    // The socket cannot connect; the page and the API work.
    alice.block_socket(true).await;
    let path = format!("/c/{chat}");
    alice.goto(&path).await;
    alice.wait_for(".chat").await;

    let files = tempfile::tempdir().expect("a directory for the photo");
    let photo = files.path().join("sunset.png");
    write_photo(&photo);
    attach(&alice, &photo).await;
    let waiting = ".msg.mine[data-status=\"sending\"] .attachment-image img[alt=\"sunset.png\"]";
    alice.wait_for(waiting).await;
    alice.goto(&path).await;
    alice.wait_for(waiting).await;

    alice.block_socket(false).await;
    alice
        .wait_js(
            "the photo stored once the socket is back",
            "const again = [...document.querySelectorAll('.banner-button')].find((b) => b.offsetParent); \
             if (again) again.click(); \
             return Boolean(document.querySelector('.msg.mine:is([data-status=\"sent\"], [data-status=\"seen\"]) .attachment-image img'));",
        )
        .await;
    let (_, page) = bob
        .get(&format!("/api/conversations/{chat}/messages"))
        .await;
    let messages = page["messages"].as_array().expect("messages");
    assert_eq!(messages.len(), 1, "sent once: {page}");
    assert_eq!(messages[0]["body"], json!(""), "{page}");
    assert_eq!(
        messages[0]["attachment"]["name"],
        json!("sunset.png"),
        "{page}"
    );
    alice.close().await;
}
