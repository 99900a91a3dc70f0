//! The client's files compressed at the best levels of the two codings browsers
//! take: brotli (quality 11) and gzip (level 9). Slow to make, so a release build makes
//! them once, at build time: `build.rs` includes this very file, so the copies in the
//! binary and those a debug build makes at run time come out the same.
//!
//! The crates are the ones the field relies on: `flate2` (rust-lang, on `miniz_oxide`,
//! pure Rust) and `brotli` (Dropbox's port of Google's reference encoder), the same
//! two `tower-http`'s compression of the API runs on, so the binary carries them once.
//!
//! Only what `std`, `flate2` and `brotli` provide may be used here: `build.rs` has
//! nothing else.

use std::io::Write;

/// Brotli at quality 11 with a 4 MiB window (the encoder's defaults are its best),
/// or `None` when that is no smaller than the file.
pub fn brotli(file: &[u8]) -> Option<Vec<u8>> {
    let params = brotli::enc::BrotliEncoderParams {
        quality: 11,
        lgwin: 22,
        size_hint: file.len(),
        ..Default::default()
    };
    let mut out = Vec::new();
    brotli::BrotliCompress(&mut &file[..], &mut out, &params)
        .expect("compressing from memory into memory cannot fail");
    smaller(out, file)
}

/// gzip at level 9, or `None` when that is no smaller than the file. The header has
/// no name and no time, so the same file always gives the same bytes.
pub fn gzip(file: &[u8]) -> Option<Vec<u8>> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    encoder
        .write_all(file)
        .expect("compressing from memory into memory cannot fail");
    let out = encoder
        .finish()
        .expect("compressing from memory into memory cannot fail");
    smaller(out, file)
}

/// A coding is worth its `Content-Encoding` only when it saves bytes (a tiny file
/// grows by the coding's header).
fn smaller(compressed: Vec<u8>, file: &[u8]) -> Option<Vec<u8>> {
    (compressed.len() < file.len()).then_some(compressed)
}
