//! An upload as it arrives: written to a scratch file chunk by chunk and hashed on the
//! way, never held whole in memory, and cut off at the size limit.

use std::{
    io,
    path::{Path, PathBuf},
};

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

/// The bytes kept from the start of an upload: enough for every signature `infer`
/// knows.
const HEAD_BYTES: usize = 8 * 1024;

/// A scratch file, removed when dropped unless it was taken into the store first.
#[derive(Debug)]
pub struct Scratch {
    path: PathBuf,
}

impl Scratch {
    /// A new, unique name in `dir`.
    pub fn new(dir: &Path) -> Self {
        Self {
            path: dir.join(format!("{}.part", uuid::Uuid::new_v4().simple())),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        // Gone already once the store took it.
        let _ = std::fs::remove_file(&self.path);
    }
}

/// An upload that arrived whole and synced, not yet in the store.
#[derive(Debug)]
pub struct Received {
    pub scratch: Scratch,
    pub sha256: String,
    pub size: u64,
    /// Its first bytes, to tell its type by.
    pub head: Vec<u8>,
}

#[derive(Debug, thiserror::Error)]
pub enum IntakeError {
    #[error("the file is larger than {limit} bytes")]
    TooLarge { limit: u64 },
    /// The client's body failed (it went away, or sent something unreadable).
    #[error("the upload broke off: {0}")]
    Body(String),
    #[error(transparent)]
    Io(#[from] io::Error),
}

/// Reads `body` into a new scratch file in `dir`, at most `limit` bytes, and syncs it.
pub async fn receive<S, E>(dir: &Path, body: S, limit: u64) -> Result<Received, IntakeError>
where
    S: Stream<Item = Result<Bytes, E>>,
    E: std::fmt::Display,
{
    let scratch = Scratch::new(dir);
    let file = tokio::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(scratch.path())
        .await?;
    let mut file = tokio::io::BufWriter::with_capacity(256 * 1024, file);
    let mut hasher = Sha256::new();
    let mut head = Vec::with_capacity(HEAD_BYTES);
    let mut size: u64 = 0;
    let mut body = std::pin::pin!(body);
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| IntakeError::Body(e.to_string()))?;
        size = size.saturating_add(chunk.len() as u64);
        if size > limit {
            return Err(IntakeError::TooLarge { limit });
        }
        if head.len() < HEAD_BYTES {
            let take = (HEAD_BYTES - head.len()).min(chunk.len());
            head.extend_from_slice(&chunk[..take]);
        }
        hasher.update(&chunk);
        file.write_all(&chunk).await?;
    }
    if size == 0 {
        // Nothing to show or send; an upload without a body is a client's mistake.
        return Err(IntakeError::Body(
            "is empty: a file needs at least one byte".into(),
        ));
    }
    file.flush().await?;
    let file = file.into_inner();
    file.sync_all().await?;
    drop(file);
    Ok(Received {
        scratch,
        sha256: hex(&hasher.finalize()),
        size,
        head,
    })
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}
