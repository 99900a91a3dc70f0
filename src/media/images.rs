//! Images: their size in pixels and a thumbnail, decoded under limits.
//!
//! Decoding is CPU work of up to a second for a large photo, so it runs on a blocking
//! thread, never on the async runtime. A decompression bomb (a small file that
//! claims 100,000 × 100,000 pixels) is refused from its header, before anything is
//! allocated for its pixels; the decoder's own limits catch what a header hides.

use std::{io::Cursor, path::Path};

use image::{
    DynamicImage, ImageDecoder, ImageError, ImageReader, Limits, codecs::jpeg::JpegEncoder,
};

/// The largest image gadka decodes: 64 megapixels (8,000 × 8,000), above any phone's
/// photo but the 108-megapixel sensors', which save 12-megapixel pictures by default.
pub const MAX_PIXELS: u64 = 64_000_000;
/// The longest side decoded at all.
const MAX_SIDE: u32 = 32_000;
/// The decoder's allocations: the pixels of [`MAX_PIXELS`] in RGBA, and some room.
const MAX_ALLOC: u64 = MAX_PIXELS * 4 + 64 * 1024 * 1024;
/// A thumbnail's longest side.
pub const THUMBNAIL_SIDE: u32 = 320;
const JPEG_QUALITY: u8 = 82;

/// The types browsers show inline, and the only ones decoded.
pub const IMAGE_TYPES: [&str; 4] = ["image/jpeg", "image/png", "image/gif", "image/webp"];

/// An image's size as it is shown (after its EXIF orientation) and its thumbnail.
#[derive(Debug)]
pub struct Picture {
    pub width: u32,
    pub height: u32,
    pub thumbnail: Thumbnail,
}

#[derive(Debug)]
pub struct Thumbnail {
    pub bytes: Vec<u8>,
    pub content_type: &'static str,
    pub width: u32,
    pub height: u32,
}

#[derive(Debug, thiserror::Error)]
pub enum PictureError {
    #[error("the image is {width} × {height} pixels; at most {MAX_PIXELS} pixels are accepted")]
    TooLarge { width: u32, height: u32 },
    #[error("the image cannot be read: {0}")]
    Unreadable(String),
}

/// Measures the image in `path` and makes its thumbnail. Blocking: call it on a
/// blocking thread.
pub fn probe(path: &Path) -> Result<Picture, PictureError> {
    let unreadable = |e: ImageError| match e {
        ImageError::Limits(_) => {
            PictureError::Unreadable("it needs more memory to decode than gadka allows".into())
        }
        other => PictureError::Unreadable(other.to_string()),
    };
    let open = || {
        ImageReader::open(path)
            .and_then(ImageReader::with_guessed_format)
            .map_err(|e| PictureError::Unreadable(e.to_string()))
    };
    // The header alone first, so that a bomb is refused with the size it claims.
    let mut header = open()?;
    header.no_limits();
    let (width, height) = header.into_dimensions().map_err(unreadable)?;
    if u64::from(width) * u64::from(height) > MAX_PIXELS {
        return Err(PictureError::TooLarge { width, height });
    }
    let mut reader = open()?;
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(MAX_ALLOC);
    reader.limits(limits);
    let mut decoder = reader.into_decoder().map_err(unreadable)?;
    let orientation = decoder.orientation().map_err(unreadable)?;
    let mut image = DynamicImage::from_decoder(decoder).map_err(unreadable)?;
    image.apply_orientation(orientation);
    let thumbnail = thumbnail(&image).map_err(unreadable)?;
    Ok(Picture {
        width: image.width(),
        height: image.height(),
        thumbnail,
    })
}

/// At most [`THUMBNAIL_SIDE`] on the long side: JPEG, or PNG for an image with
/// transparency.
fn thumbnail(image: &DynamicImage) -> Result<Thumbnail, ImageError> {
    let small = if image.width() > THUMBNAIL_SIDE || image.height() > THUMBNAIL_SIDE {
        image.thumbnail(THUMBNAIL_SIDE, THUMBNAIL_SIDE)
    } else {
        image.clone()
    };
    let mut bytes = Vec::new();
    let content_type = if small.color().has_alpha() {
        small.write_to(&mut Cursor::new(&mut bytes), image::ImageFormat::Png)?;
        "image/png"
    } else {
        JpegEncoder::new_with_quality(&mut bytes, JPEG_QUALITY).encode_image(&small.to_rgb8())?;
        "image/jpeg"
    };
    Ok(Thumbnail {
        bytes,
        content_type,
        width: small.width(),
        height: small.height(),
    })
}
