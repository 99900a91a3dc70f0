//! A file of the client in every coding it is served in, and where the compressed
//! copies come from.
//!
//! A release build embeds the files and, beside them, the copies `build.rs` compressed
//! (at the best levels, which are too slow to spend on a request). A debug build reads
//! the files from disk on every request, so that they can be edited live: copies made
//! at build time would be stale there, so it compresses a file when it is first asked
//! for, with the same functions, and keeps the copies until the file changes. What a
//! browser gets is the same in both. The page is rendered with the assets' version in
//! it, so both builds compress it at run time, once per version.

use std::{
    collections::HashMap,
    sync::{LazyLock, Mutex},
};

use axum::body::Bytes;

use super::{coding::Coding, compress};

/// A file and its compressed copies; a coding that would not save bytes has none.
#[derive(Debug, Clone)]
pub struct Variants {
    /// The SHA-256 of the file itself.
    hash: [u8; 32],
    identity: Bytes,
    brotli: Option<Bytes>,
    gzip: Option<Bytes>,
}

impl Variants {
    /// The copies of the file `name` whose bytes are `identity`, with that hash.
    pub async fn of(name: &str, hash: [u8; 32], identity: Bytes) -> Self {
        if let Some(built) = precompressed(name, hash, &identity) {
            return built;
        }
        made_at_run_time(name, hash, identity).await
    }

    /// The hash of the file itself.
    pub fn hash(&self) -> &[u8; 32] {
        &self.hash
    }

    /// The copy in the coding asked for, or the file itself when that coding saves
    /// nothing; and the coding it is in.
    pub fn select(&self, wanted: Coding) -> (Coding, Bytes) {
        let copy = match wanted {
            Coding::Brotli => self.brotli.as_ref(),
            Coding::Gzip => self.gzip.as_ref(),
            Coding::Identity => None,
        };
        match copy {
            Some(bytes) => (wanted, bytes.clone()),
            None => (Coding::Identity, self.identity.clone()),
        }
    }
}

/// The copies in the binary, which `build.rs` made of the same files rust-embed
/// embedded in the same build.
#[cfg(not(debug_assertions))]
fn precompressed(name: &str, hash: [u8; 32], identity: &Bytes) -> Option<Variants> {
    /// `(name, brotli, gzip)` of every file of `web/` but the page.
    static BUILT: &[(&str, Option<&[u8]>, Option<&[u8]>)] =
        include!(concat!(env!("OUT_DIR"), "/precompressed.rs"));
    let (_, brotli, gzip) = BUILT.iter().find(|(built, ..)| *built == name)?;
    Some(Variants {
        hash,
        identity: identity.clone(),
        brotli: brotli.map(Bytes::from_static),
        gzip: gzip.map(Bytes::from_static),
    })
}

/// A debug build has none: its files are read from disk as they are now.
#[cfg(debug_assertions)]
fn precompressed(_name: &str, _hash: [u8; 32], _identity: &Bytes) -> Option<Variants> {
    None
}

/// The copies made at run time, one entry per file name: a file edited in a debug
/// build replaces its copies, so this holds no more than `web/` has files.
static MADE: LazyLock<Mutex<HashMap<String, Variants>>> = LazyLock::new(Default::default);

async fn made_at_run_time(name: &str, hash: [u8; 32], identity: Bytes) -> Variants {
    let kept = MADE
        .lock()
        .ok()
        .and_then(|made| made.get(name).filter(|v| v.hash == hash).cloned());
    if let Some(kept) = kept {
        return kept;
    }
    // Compressing at the best levels takes milliseconds: off the async workers. Two
    // first requests at once may both compress; they make the same copies.
    let file = identity.clone();
    let made = tokio::task::spawn_blocking(move || Variants {
        hash,
        brotli: compress::brotli(&file).map(Bytes::from),
        gzip: compress::gzip(&file).map(Bytes::from),
        identity: file,
    })
    .await;
    match made {
        Ok(variants) => {
            if let Ok(mut made) = MADE.lock() {
                made.insert(name.to_owned(), variants.clone());
            }
            variants
        }
        Err(e) => {
            tracing::error!(error = %e, file = name, "cannot compress a file of the client");
            Variants {
                hash,
                identity,
                brotli: None,
                gzip: None,
            }
        }
    }
}
