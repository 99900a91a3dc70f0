//! Where the bytes of uploads live: one small interface, [`Files`], and the local
//! directory behind it. A store several nodes share (an S3-compatible bucket, a path
//! they all mount) is another implementation of the same three calls; nothing else
//! knows where files are.
//!
//! Files are named by their SHA-256, so the same bytes uploaded twice are one file.
//! A file enters the store whole: it arrives in a scratch file (`intake.rs`), is
//! synced, and only then is given its name; a crash leaves at most a scratch file,
//! which the next start removes, never a half file under a final name.

use std::{
    io,
    path::{Path, PathBuf},
};

use bytes::Bytes;
use futures_util::{
    StreamExt,
    future::BoxFuture,
    stream::{self, BoxStream},
};
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use tokio_util::io::ReaderStream;

use crate::durable;

/// A file's bytes as they are read.
pub type ByteStream = BoxStream<'static, io::Result<Bytes>>;

/// A store of files named by their SHA-256 (lower-case hex).
pub trait Files: Send + Sync + 'static {
    /// Takes `scratch`, a complete and synced local file whose SHA-256 is `sha256`,
    /// into the store; durable when this returns. The scratch file is gone after.
    fn keep<'a>(&'a self, scratch: &'a Path, sha256: &'a str) -> BoxFuture<'a, io::Result<()>>;

    /// `len` bytes of file `sha256` from byte `start`.
    fn read<'a>(
        &'a self,
        sha256: &'a str,
        start: u64,
        len: u64,
    ) -> BoxFuture<'a, io::Result<ByteStream>>;

    /// Removes file `sha256`; a file that is not there is no error.
    fn remove<'a>(&'a self, sha256: &'a str) -> BoxFuture<'a, io::Result<()>>;
}

/// Files in a local directory: `<root>/<first two hex digits>/<sha256>`, so that no
/// directory holds more than a 256th of them.
pub struct LocalFiles {
    root: PathBuf,
}

impl LocalFiles {
    pub fn new(root: PathBuf) -> Self {
        Self { root }
    }

    fn path_of(&self, sha256: &str) -> io::Result<PathBuf> {
        // Names come from our own hashing, but a wrong one must never reach the
        // filesystem as a path.
        if sha256.len() != 64 || !sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "not a SHA-256"));
        }
        Ok(self.root.join(&sha256[..2]).join(sha256))
    }
}

impl Files for LocalFiles {
    fn keep<'a>(&'a self, scratch: &'a Path, sha256: &'a str) -> BoxFuture<'a, io::Result<()>> {
        Box::pin(async move {
            let target = self.path_of(sha256)?;
            let scratch = scratch.to_owned();
            tokio::task::spawn_blocking(move || {
                let dir = target.parent().unwrap_or(Path::new("."));
                durable::create_dir_all(dir)?;
                if target.exists() {
                    // The same bytes are stored already, and were synced then.
                    return std::fs::remove_file(&scratch);
                }
                std::fs::rename(&scratch, &target)?;
                durable::sync_dir(dir)
            })
            .await
            .map_err(io::Error::other)?
        })
    }

    fn read<'a>(
        &'a self,
        sha256: &'a str,
        start: u64,
        len: u64,
    ) -> BoxFuture<'a, io::Result<ByteStream>> {
        Box::pin(async move {
            let mut file = tokio::fs::File::open(self.path_of(sha256)?).await?;
            if len == 0 {
                return Ok(stream::empty().boxed());
            }
            file.seek(io::SeekFrom::Start(start)).await?;
            Ok(ReaderStream::with_capacity(file.take(len), 64 * 1024).boxed())
        })
    }

    fn remove<'a>(&'a self, sha256: &'a str) -> BoxFuture<'a, io::Result<()>> {
        Box::pin(async move {
            let path = self.path_of(sha256)?;
            match tokio::fs::remove_file(&path).await {
                Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
                other => other,
            }
        })
    }
}
