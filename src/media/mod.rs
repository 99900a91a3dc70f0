//! Attachments' bytes: taken in as they stream (`intake.rs`), typed by their content,
//! measured and thumbnailed if they are images (`images.rs`), and kept in a store of
//! files named by their SHA-256 (`files.rs`). Who may upload, attach and fetch what is
//! `chat/`'s to decide; this module only handles bytes.

mod files;
pub mod images;
mod intake;
mod scratch;

use std::{io, path::PathBuf, sync::Arc};

use base64::Engine as _;
use bytes::Bytes;
use futures_util::Stream;
use sha2::{Digest, Sha256};

pub use files::{ByteStream, Files, LocalFiles};
pub use images::{Picture, PictureError};
pub use intake::{IntakeError, Received, Scratch};
use scratch::ScratchDir;

/// The media store of this node: the files, and the scratch space where uploads
/// arrive.
#[derive(Clone)]
pub struct Media {
    files: Arc<dyn Files>,
    scratch: ScratchDir,
}

impl Media {
    /// Files under `root`, uploads arriving in a directory of this node's under
    /// `root/tmp`. What uploads a stop or crash cut off is removed there, but not
    /// what another node sharing `root` is receiving.
    pub fn local(root: PathBuf) -> io::Result<Self> {
        crate::durable::create_dir_all(&root)?;
        let scratch = ScratchDir::take(&root.join("tmp"))?;
        Ok(Self {
            files: Arc::new(LocalFiles::new(root)),
            scratch,
        })
    }

    pub fn files(&self) -> &dyn Files {
        &*self.files
    }

    /// Takes `body` in, at most `limit` bytes, into a synced scratch file.
    pub async fn receive<S, E>(&self, body: S, limit: u64) -> Result<Received, IntakeError>
    where
        S: Stream<Item = Result<Bytes, E>>,
        E: std::fmt::Display,
    {
        intake::receive(self.scratch.path(), body, limit).await
    }

    /// Measures the image `received` holds and makes its thumbnail, on a blocking
    /// thread.
    pub async fn picture(&self, received: &Received) -> Result<Picture, PictureError> {
        let path = received.scratch.path().to_owned();
        tokio::task::spawn_blocking(move || images::probe(&path))
            .await
            .map_err(|e| PictureError::Unreadable(e.to_string()))?
    }

    /// Keeps `bytes` (a thumbnail) in the store; its SHA-256.
    pub async fn keep_bytes(&self, bytes: Vec<u8>) -> io::Result<String> {
        let scratch = Scratch::new(self.scratch.path());
        let sha256 = intake::hex(&Sha256::digest(&bytes));
        let path = scratch.path().to_owned();
        tokio::task::spawn_blocking(move || {
            use std::io::Write;
            let mut file = std::fs::File::create_new(&path)?;
            file.write_all(&bytes)?;
            file.sync_all()
        })
        .await
        .map_err(io::Error::other)??;
        self.files.keep(scratch.path(), &sha256).await?;
        Ok(sha256)
    }

    /// Keeps an upload that arrived whole in the store.
    pub async fn keep(&self, received: &Received) -> io::Result<()> {
        self.files
            .keep(received.scratch.path(), &received.sha256)
            .await
    }
}

/// An upload's type, from its first bytes: never the client's word for anything a
/// browser would render or run. Text the client calls `text/plain` stays text if it is
/// UTF-8; anything unrecognised is `application/octet-stream`.
pub fn content_type(head: &[u8], declared: Option<&str>) -> String {
    if let Some(kind) = infer::get(head) {
        return kind.mime_type().to_owned();
    }
    let says_text = declared
        .and_then(|d| d.split(';').next())
        .is_some_and(|d| d.trim().eq_ignore_ascii_case("text/plain"));
    // A chunk boundary may split the last character of the head.
    let text = match std::str::from_utf8(head) {
        Ok(_) => true,
        Err(e) => e.error_len().is_none(),
    };
    if says_text && text {
        "text/plain".to_owned()
    } else {
        "application/octet-stream".to_owned()
    }
}

/// A new upload id: 128 random bits, 22 characters of base64url.
pub fn new_id() -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(rand::random::<[u8; 16]>())
}

/// Whether `id` has the shape of an upload id (anything else is no upload).
pub fn is_id(id: &str) -> bool {
    id.len() == 22
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}
