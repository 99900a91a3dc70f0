//! A gadka message's file on Matrix: uploaded to the homeserver's media repository as
//! the sender's puppet, with its thumbnail, and sent as the `msgtype` its type calls
//! for (`m.image`, `m.video`, `m.audio`, else `m.file`) with `info`. A file over the
//! homeserver's upload limit is not tried: the sender is told instead.

use ruma::{
    UInt, UserId,
    events::room::ImageInfo,
    events::room::{
        MediaSource, ThumbnailInfo,
        message::{
            AudioInfo, AudioMessageEventContent, FileInfo, FileMessageEventContent,
            ImageMessageEventContent, MessageType, RoomMessageEventContent, VideoInfo,
            VideoMessageEventContent,
        },
    },
};

use super::carry::CarryError;
use crate::{bridge::Bridge, media::images::IMAGE_TYPES, store::MediaRow};

/// The content of a message with upload `media_id` and `caption`; `None` when the
/// upload is gone (its message was deleted meanwhile).
pub(super) async fn content(
    bridge: &Bridge,
    puppet: &UserId,
    media_id: &str,
    caption: &str,
) -> Result<Option<RoomMessageEventContent>, CarryError> {
    let Some(media) = bridge.store.media(media_id).await? else {
        return Ok(None);
    };
    if let Some(limit) = bridge.homeserver.upload_limit().await?
        && media.size > limit
    {
        return Err(CarryError::FileTooLarge {
            size: media.size,
            limit,
        });
    }
    let source = upload(
        bridge,
        puppet,
        &media.name,
        &media.sha256,
        &media.content_type,
        media.size,
    )
    .await?;
    // Since Matrix v1.10 `body` is a caption when `filename` names the file.
    let (body, filename) = if caption.is_empty() {
        (media.name.clone(), None)
    } else {
        (caption.to_owned(), Some(media.name.clone()))
    };
    let size = UInt::new(media.size);
    let pixels = |v: Option<u32>| v.map(UInt::from);
    let kind = media.content_type.as_str();
    let msgtype = if IMAGE_TYPES.contains(&kind) {
        let mut info = ImageInfo::new();
        info.mimetype = Some(media.content_type.clone());
        info.size = size;
        info.width = pixels(media.width);
        info.height = pixels(media.height);
        if let Some((thumb_source, thumb_info)) = thumbnail(bridge, puppet, &media).await? {
            info.thumbnail_source = Some(thumb_source);
            info.thumbnail_info = Some(Box::new(thumb_info));
        }
        let mut content = ImageMessageEventContent::new(body, source).info(Some(Box::new(info)));
        content.filename = filename;
        MessageType::Image(content)
    } else if kind.starts_with("video/") {
        let mut info = VideoInfo::new();
        info.mimetype = Some(media.content_type.clone());
        info.size = size;
        let mut content = VideoMessageEventContent::new(body, source).info(Some(Box::new(info)));
        content.filename = filename;
        MessageType::Video(content)
    } else if kind.starts_with("audio/") {
        let mut info = AudioInfo::new();
        info.mimetype = Some(media.content_type.clone());
        info.size = size;
        let mut content = AudioMessageEventContent::new(body, source).info(Some(Box::new(info)));
        content.filename = filename;
        MessageType::Audio(content)
    } else {
        let mut info = FileInfo::new();
        info.mimetype = Some(media.content_type.clone());
        info.size = size;
        let mut content = FileMessageEventContent::new(body, source).info(Some(Box::new(info)));
        content.filename = filename;
        MessageType::File(content)
    };
    Ok(Some(RoomMessageEventContent::new(msgtype)))
}

/// An image's thumbnail on the homeserver, and what it is.
async fn thumbnail(
    bridge: &Bridge,
    puppet: &UserId,
    media: &MediaRow,
) -> Result<Option<(MediaSource, ThumbnailInfo)>, CarryError> {
    let Some(thumb) = &media.thumbnail else {
        return Ok(None);
    };
    let source = upload(
        bridge,
        puppet,
        "thumbnail",
        &thumb.sha256,
        &thumb.content_type,
        thumb.size,
    )
    .await?;
    let mut info = ThumbnailInfo::new();
    info.mimetype = Some(thumb.content_type.clone());
    info.size = UInt::new(thumb.size);
    info.width = Some(UInt::from(thumb.width));
    info.height = Some(UInt::from(thumb.height));
    Ok(Some((source, info)))
}

/// Streams file `sha256` from the media store to the homeserver as `puppet`'s.
async fn upload(
    bridge: &Bridge,
    puppet: &UserId,
    name: &str,
    sha256: &str,
    content_type: &str,
    size: u64,
) -> Result<MediaSource, CarryError> {
    let bytes = bridge
        .chat
        .media()
        .files()
        .read(sha256, 0, size)
        .await
        .map_err(|e| CarryError::Chat(crate::chat::ChatError::Internal(e.into())))?;
    let mxc = bridge
        .homeserver
        .upload(puppet, name, content_type, size, bytes)
        .await?;
    Ok(MediaSource::Plain(mxc))
}
