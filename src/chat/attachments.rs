//! Attachments: an upload taken in, the file a message carries, who may fetch which,
//! and the clean-up of files nobody's message refers to.
//!
//! Who may fetch an upload: its uploader, and the members of a conversation where a
//! message carries it. Anyone else is told it does not exist (404), exactly as for an
//! id that was never made. A message may carry an upload of the sender's own, or one
//! that a message of a conversation of theirs already carries (passing a photo on).
//!
//! An upload is acknowledged (201) only once its file is durable under its final name
//! and its row is committed. Files no message refers to are removed after
//! `media.unattached_ttl_secs`; a deleted message's upload as soon as no other
//! message carries it.

use bytes::Bytes;
use futures_util::Stream;

use super::{
    Chat, ChatError, Session,
    input::{FileName, MediaId},
    now_ms,
};
use crate::{
    ids::UserId,
    media::{self, IntakeError, PictureError, images::IMAGE_TYPES},
    store::{Attachment, MediaRow, ThumbnailRow},
};

/// What an upload is, as the API shows it.
impl From<&MediaRow> for Attachment {
    fn from(m: &MediaRow) -> Self {
        Self {
            id: m.id.clone(),
            name: m.name.clone(),
            content_type: m.content_type.clone(),
            size: m.size,
            width: m.width,
            height: m.height,
        }
    }
}

/// What a client says of an upload besides its bytes.
#[derive(Debug, Clone, Copy)]
pub struct UploadInfo<'a> {
    pub filename: Option<&'a str>,
    /// `Content-Type`: a hint only; the bytes decide.
    pub content_type: Option<&'a str>,
    /// `Content-Length`, when the client declared it.
    pub length: Option<u64>,
}

impl Chat {
    /// Takes an upload of `me`'s in, streaming: refused at once if it declares more
    /// than `limits.max_upload_bytes`, cut off as soon as it sends more.
    pub async fn upload<S, E>(
        &self,
        me: &Session,
        info: UploadInfo<'_>,
        body: S,
    ) -> Result<MediaRow, ChatError>
    where
        S: Stream<Item = Result<Bytes, E>>,
        E: std::fmt::Display,
    {
        let name = FileName::parse(info.filename.unwrap_or("file"))?;
        let limit = self.inner.limits.max_upload_bytes;
        if info.length.is_some_and(|n| n > limit) {
            return Err(too_large(limit));
        }
        self.inner.allowances.upload(me.user_id)?;
        self.upload_as(me.user_id, name, info.content_type, body)
            .await
    }

    /// Takes in a file that `owner` sent (from here, or from Matrix through the bridge).
    pub(crate) async fn upload_as<S, E>(
        &self,
        owner: UserId,
        name: FileName,
        declared_type: Option<&str>,
        body: S,
    ) -> Result<MediaRow, ChatError>
    where
        S: Stream<Item = Result<Bytes, E>>,
        E: std::fmt::Display,
    {
        let media = &self.inner.media;
        let limit = self.inner.limits.max_upload_bytes;
        let received = media.receive(body, limit).await.map_err(|e| match e {
            IntakeError::TooLarge { limit } => too_large(limit),
            IntakeError::Body(reason) => ChatError::invalid("file", reason),
            IntakeError::Io(e) => ChatError::Internal(e.into()),
        })?;
        self.inner
            .allowances
            .store_upload(self.store(), owner, received.size)
            .await?;
        let content_type = media::content_type(&received.head, declared_type);
        let mut row = MediaRow {
            id: media::new_id(),
            owner_id: owner,
            sha256: received.sha256.clone(),
            name: name.into_string(),
            content_type,
            size: received.size,
            width: None,
            height: None,
            thumbnail: None,
            created_at: now_ms(),
        };
        if IMAGE_TYPES.contains(&row.content_type.as_str()) {
            let picture = media.picture(&received).await.map_err(|e| match e {
                PictureError::TooLarge { .. } | PictureError::Unreadable(_) => {
                    ChatError::invalid("file", e.to_string())
                }
            })?;
            let thumb = picture.thumbnail;
            let size = thumb.bytes.len() as u64;
            let sha256 = media.keep_bytes(thumb.bytes).await.map_err(internal)?;
            row.width = Some(picture.width);
            row.height = Some(picture.height);
            row.thumbnail = Some(ThumbnailRow {
                sha256,
                content_type: thumb.content_type.to_owned(),
                size,
                width: thumb.width,
                height: thumb.height,
            });
        }
        media.keep(&received).await.map_err(internal)?;
        self.store().insert_media(&row).await?;
        metrics::counter!("gadka_uploads_total").increment(1);
        metrics::counter!("gadka_upload_bytes_total").increment(row.size);
        Ok(row)
    }

    /// The upload `me` attaches to a message: one of their own, or one already in a
    /// conversation of theirs. Anything else is 400 on `media_id`.
    pub(crate) async fn attachment_for(
        &self,
        me: UserId,
        media_id: &str,
    ) -> Result<Attachment, ChatError> {
        let id = MediaId::parse("media_id", media_id)?;
        let not_yours = || ChatError::invalid("media_id", "not an upload of yours");
        let row = self
            .store()
            .media(id.as_str())
            .await?
            .ok_or_else(not_yours)?;
        if row.owner_id != me && !self.store().media_shared_with(id.as_str(), me).await? {
            return Err(not_yours());
        }
        Ok(Attachment::from(&row))
    }

    /// The upload `me` asked to fetch, if they may: otherwise "not found".
    pub async fn media_to_serve(&self, me: &Session, id: &str) -> Result<MediaRow, ChatError> {
        let missing = || ChatError::NotFound("file");
        let id = MediaId::parse("id", id).map_err(|_| missing())?;
        let row = self.store().media(id.as_str()).await?.ok_or_else(missing)?;
        if row.owner_id == me.user_id
            || self
                .store()
                .media_shared_with(id.as_str(), me.user_id)
                .await?
        {
            Ok(row)
        } else {
            Err(missing())
        }
    }

    /// How long an upload no message carries is kept.
    pub fn media_ttl(&self) -> std::time::Duration {
        self.inner.media_ttl
    }

    /// The media store, to read a file from.
    pub fn media(&self) -> &media::Media {
        &self.inner.media
    }

    /// Removes upload `id` if no message carries it any more, and whichever of its
    /// files no other upload names.
    pub(crate) async fn release_media(&self, id: &str) -> Result<(), ChatError> {
        let released = self.store().release_media(id).await?;
        for sha256 in released.files {
            self.inner
                .media
                .files()
                .remove(&sha256)
                .await
                .map_err(internal)?;
        }
        Ok(())
    }

    /// After a delete: the upload its message carried goes if nothing else carries it.
    /// The delete stands either way; an upload left behind here is the sweep's.
    pub(crate) async fn released(&self, media_id: Option<String>) {
        if let Some(id) = media_id
            && let Err(e) = self.release_media(&id).await
        {
            tracing::warn!(error = %e, media.id = id, "cannot remove a deleted message's upload");
        }
    }

    /// Removes uploads that no message has carried for `media.unattached_ttl_secs`
    /// since they were made; how many.
    pub async fn sweep_media(&self) -> Result<usize, ChatError> {
        let ttl = i64::try_from(self.inner.media_ttl.as_millis()).unwrap_or(i64::MAX);
        let before = now_ms().saturating_sub(ttl);
        let mut removed = 0;
        loop {
            let ids = self.store().unreferenced_media(before, 256).await?;
            let n = ids.len();
            for id in ids {
                self.release_media(&id).await?;
            }
            removed += n;
            if n < 256 {
                return Ok(removed);
            }
        }
    }
}

fn too_large(limit: u64) -> ChatError {
    ChatError::TooLarge {
        field: "file",
        limit: usize::try_from(limit).unwrap_or(usize::MAX),
    }
}

fn internal(e: std::io::Error) -> ChatError {
    ChatError::Internal(e.into())
}
