//! An image upload's CPU cost: measuring and thumbnailing a 12-megapixel JPEG
//! (4000 × 3000, a phone's photo), which gadka does on a blocking thread for every
//! image uploaded (`media::images::probe`).
//!
//! ```sh
//! cargo bench --bench media
//! ```
//!
//! The photo is made once, before the clock starts: smooth gradients with noise, so
//! that it compresses like a photo (a few MB) rather than like a flat colour.

use std::{hint::black_box, io::Cursor, time::Duration};

use criterion::{Criterion, criterion_group, criterion_main};
use gadka::media::images;
use image::{ImageFormat, RgbImage};

fn photo() -> Vec<u8> {
    let mut noise: u32 = 0x1234_5678;
    let image = RgbImage::from_fn(4000, 3000, |x, y| {
        noise ^= noise << 13;
        noise ^= noise >> 17;
        noise ^= noise << 5;
        let grain = (noise % 24) as u8;
        image::Rgb([
            ((x / 16) % 200) as u8 + grain,
            ((y / 12) % 200) as u8 + grain,
            (((x + y) / 28) % 200) as u8 + grain,
        ])
    });
    let mut bytes = Vec::new();
    image
        .write_to(&mut Cursor::new(&mut bytes), ImageFormat::Jpeg)
        .expect("a JPEG");
    bytes
}

fn thumbnail(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("a temp dir");
    let path = dir.path().join("photo.jpg");
    let bytes = photo();
    println!("a 4000 × 3000 JPEG of {} bytes", bytes.len());
    std::fs::write(&path, bytes).expect("the photo written");
    let mut group = c.benchmark_group("media");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(20));
    group.bench_function("probe and thumbnail a 12 MP JPEG", |b| {
        b.iter(|| {
            let picture = images::probe(black_box(&path)).expect("a picture");
            assert_eq!((picture.width, picture.height), (4000, 3000));
            picture.thumbnail.bytes.len()
        })
    });
    group.finish();
}

criterion_group!(benches, thumbnail);
criterion_main!(benches);
