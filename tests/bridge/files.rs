//! Photos and files across the bridge, both ways, against the real Synapse: what a
//! Matrix user sends from Element arrives in gadka as an attachment, and what a gadka
//! user attaches reaches Element as the `msgtype` it renders, with its thumbnail.

use std::io::Cursor;

use gadka_test_support::{Client, PATIENCE, eventually};
use serde_json::json;

use crate::{messages::dm, synapse};

fn png(width: u32, height: u32) -> Vec<u8> {
    let image = image::RgbImage::from_fn(width, height, |x, y| {
        image::Rgb([(x * 2 % 256) as u8, (y * 3 % 256) as u8, 90])
    });
    let mut bytes = Vec::new();
    image
        .write_to(&mut Cursor::new(&mut bytes), image::ImageFormat::Png)
        .expect("a PNG");
    bytes
}

/// The bytes of an upload as `client` fetches it from gadka.
async fn fetched(client: &Client, path: &str) -> Vec<u8> {
    let response = client.fetch(path, &[]).await;
    assert_eq!(response.status(), 200, "GET {path}");
    response.bytes().await.expect("the file").to_vec()
}

#[tokio::test]
async fn a_photo_and_a_file_from_element_arrive_in_gadka_as_attachments() {
    let slot = synapse::shared().await.slot().await;
    let d = dm(&slot, "alice-files-in").await;
    let (bob, alice, room) = (&d.bob, &d.alice, d.room.as_str());

    let photo = png(120, 90);
    let url = alice.upload("kot.png", "image/png", photo.clone()).await;
    let image_content = json!({"msgtype": "m.image", "body": "Mój kot", "filename": "kot.png",
        "url": url, "info": {"mimetype": "image/png", "size": photo.len(), "w": 120, "h": 90}});
    let photo_event = alice.send(room, image_content.clone()).await;
    let list = "mleko\nchleb\n".as_bytes().to_vec();
    let url = alice.upload("zakupy.txt", "text/plain", list.clone()).await;
    alice
        .send(
            room,
            json!({"msgtype": "m.file", "body": "zakupy.txt", "url": url,
                   "info": {"mimetype": "text/plain", "size": list.len()}}),
        )
        .await;

    let history = bob.wait_for_messages(d.conversation, 3).await;
    let image = &history[1];
    assert_eq!(image["body"], "Mój kot", "the body is the caption: {image}");
    let attachment = &image["attachment"];
    assert_eq!(attachment["name"], "kot.png");
    assert_eq!(attachment["content_type"], "image/png");
    assert_eq!(
        (attachment["width"].as_u64(), attachment["height"].as_u64()),
        (Some(120), Some(90))
    );
    let id = attachment["id"].as_str().expect("an upload id");
    assert_eq!(fetched(bob, &format!("/api/media/{id}")).await, photo);
    assert_eq!(
        bob.fetch(&format!("/api/media/{id}/thumbnail"), &[])
            .await
            .status(),
        200
    );

    let file = &history[2];
    assert_eq!(file["body"], "", "a name alone is no caption: {file}");
    assert_eq!(file["attachment"]["name"], "zakupy.txt");
    assert_eq!(file["attachment"]["content_type"], "text/plain");
    let id = file["attachment"]["id"].as_str().unwrap();
    assert_eq!(fetched(bob, &format!("/api/media/{id}")).await, list);

    // Element edits a caption by sending the photo's content again with new words.
    let mut new_content = image_content;
    new_content["body"] = json!("Mój kot, śpi");
    let mut edit = new_content.clone();
    edit["body"] = json!("* Mój kot, śpi");
    edit["m.new_content"] = new_content;
    edit["m.relates_to"] = json!({"rel_type": "m.replace", "event_id": photo_event});
    alice.send(room, edit).await;
    let seq = image["seq"].as_i64().unwrap();
    let edited = eventually("the new caption in gadka", PATIENCE, async || {
        let history = bob.history(d.conversation, "?limit=100").await;
        match history.into_iter().find(|m| m["seq"] == seq) {
            Some(m) if m["body"] == "Mój kot, śpi" => Ok(m),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    assert_eq!(edited["attachment"], image["attachment"], "the photo stays");
}

#[tokio::test]
async fn a_photo_and_a_file_from_gadka_reach_element_and_one_too_large_is_told() {
    let slot = synapse::shared().await.slot().await;
    let d = dm(&slot, "alice-files-out").await;
    let (bob, alice, room, id) = (&d.bob, &d.alice, d.room.as_str(), d.conversation);
    let path = format!("/api/conversations/{id}/messages");

    let photo = png(640, 480);
    let media = bob.upload("plaża.png", "image/png", photo.clone()).await;
    assert_eq!(media.status, 201, "{}", media.body);
    let (status, sent) = bob
        .post(
            &path,
            json!({"body": "Zobacz!", "media_id": media.body["media"]["id"]}),
        )
        .await;
    assert_eq!(status, 201);
    let photo_seq = sent["message"]["seq"].as_i64().unwrap();
    let notes = b"%PDF-1.4\n% not much of a document\n".to_vec();
    let pdf = bob
        .upload("notatki.pdf", "application/pdf", notes.clone())
        .await;
    assert_eq!(pdf.status, 201, "{}", pdf.body);
    let (status, _) = bob
        .post(&path, json!({"media_id": pdf.body["media"]["id"]}))
        .await;
    assert_eq!(status, 201);

    let events = alice.wait_for_messages_from(room, &d.puppet, 2).await;
    let image = &events[0]["content"];
    assert_eq!(image["msgtype"], "m.image", "{image}");
    assert_eq!(image["body"], "Zobacz!");
    assert_eq!(image["filename"], "plaża.png");
    let info = &image["info"];
    assert_eq!(info["mimetype"], "image/png");
    assert_eq!(info["size"], photo.len());
    assert_eq!(
        (info["w"].as_u64(), info["h"].as_u64()),
        (Some(640), Some(480))
    );
    let url = image["url"].as_str().expect("the file's mxc URI");
    assert_eq!(
        alice.download(url).await,
        photo,
        "Element downloads the same bytes"
    );
    let thumbnail = alice
        .download(info["thumbnail_url"].as_str().expect("a thumbnail"))
        .await;
    let small = image::load_from_memory(&thumbnail).expect("the thumbnail is an image");
    assert_eq!((small.width(), small.height()), (320, 240));
    assert_eq!(info["thumbnail_info"]["w"], 320);

    // A new caption is an edit of the photo, still a photo in Element.
    let (status, _) = bob
        .patch(
            &format!("{path}/{photo_seq}"),
            json!({"body": "Zobacz, morze!"}),
        )
        .await;
    assert_eq!(status, 200);
    let photo_event = events[0]["event_id"].as_str().unwrap();
    let edit = eventually("the caption's edit on Matrix", PATIENCE, async || {
        let edits = alice.relations(room, photo_event, "m.replace").await;
        edits.first().cloned().ok_or("no edit yet")
    })
    .await;
    let new = &edit["content"]["m.new_content"];
    assert_eq!(new["msgtype"], "m.image", "{edit}");
    assert_eq!(new["body"], "Zobacz, morze!");
    assert_eq!(new["info"]["mimetype"], "image/png");

    let file = &events[1]["content"];
    assert_eq!(file["msgtype"], "m.file", "{file}");
    assert_eq!(file["body"], "notatki.pdf");
    assert_eq!(file["info"]["mimetype"], "application/pdf");
    assert_eq!(alice.download(file["url"].as_str().unwrap()).await, notes);

    // Synapse here takes 2 MiB: a larger file is not sent, and bob hears why.
    let big = bob
        .upload("film.bin", "application/octet-stream", vec![7; 3 << 20])
        .await;
    assert_eq!(big.status, 201, "{}", big.body);
    let (status, sent) = bob
        .post(
            &path,
            json!({"body": "film", "media_id": big.body["media"]["id"]}),
        )
        .await;
    assert_eq!(status, 201, "{sent}");
    let notice = eventually("a notice that the file did not go", PATIENCE, async || {
        let history = bob.history(id, "?limit=100").await;
        history
            .into_iter()
            .find(|m| m["kind"] == "notice")
            .ok_or("no notice yet")
    })
    .await;
    let said = notice["body"].as_str().unwrap();
    assert!(
        said.contains("not delivered") && said.contains("bytes"),
        "{said}"
    );
}
