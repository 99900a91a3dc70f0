//! Files from Matrix (`m.image`, `m.file`, `m.video`, `m.audio`): downloaded from the
//! homeserver into gadka's media store as their sender's upload, and carried in as the
//! message's attachment with the caption as its body.

use futures_util::TryStreamExt;
use ruma::events::room::{MediaSource, message::MessageType};

use super::IncomingError;
use crate::{
    bridge::Bridge,
    chat::{ChatError, input::FileName},
    ids::UserId,
    store::Attachment,
};

/// A file a Matrix message carries.
pub(super) struct MatrixFile<'a> {
    source: &'a MediaSource,
    name: &'a str,
    /// The sender's words with it: since Matrix v1.10, `body` when `filename` says
    /// the name; otherwise `body` is the name and there are none.
    pub(super) caption: &'a str,
    mimetype: Option<&'a str>,
}

/// The file `msgtype` carries, if it is one of the four that do.
pub(super) fn file_of(msgtype: &MessageType) -> Option<MatrixFile<'_>> {
    let (source, body, filename, mimetype) = match msgtype {
        MessageType::Image(c) => (
            &c.source,
            &c.body,
            &c.filename,
            c.info.as_ref().and_then(|i| i.mimetype.as_deref()),
        ),
        MessageType::File(c) => (
            &c.source,
            &c.body,
            &c.filename,
            c.info.as_ref().and_then(|i| i.mimetype.as_deref()),
        ),
        MessageType::Video(c) => (
            &c.source,
            &c.body,
            &c.filename,
            c.info.as_ref().and_then(|i| i.mimetype.as_deref()),
        ),
        MessageType::Audio(c) => (
            &c.source,
            &c.body,
            &c.filename,
            c.info.as_ref().and_then(|i| i.mimetype.as_deref()),
        ),
        _ => return None,
    };
    let (name, caption) = match filename.as_deref() {
        Some(name) if name != body => (name, body.as_str()),
        _ => (body.as_str(), ""),
    };
    Some(MatrixFile {
        source,
        name,
        caption,
        mimetype,
    })
}

impl Bridge {
    /// Brings `file` into the media store as `owner`'s upload. `Ok(Err)`: the chat
    /// refuses it (too large, an image it cannot read) or the homeserver has it no
    /// more; the Matrix sender is to be told. `Err`: try the transaction again.
    pub(super) async fn fetch_file(
        &self,
        owner: UserId,
        file: &MatrixFile<'_>,
    ) -> Result<Result<Attachment, String>, IncomingError> {
        let MediaSource::Plain(mxc) = file.source else {
            return Ok(Err(
                "it is encrypted, which this bridge does not support".into()
            ));
        };
        let response = match self.homeserver.download(mxc).await {
            Ok(response) => response,
            Err(e) if e.is_permanent() => {
                return Ok(Err(format!("the homeserver does not give it out ({e})")));
            }
            Err(e) => return Err(e.into()),
        };
        let name = FileName::parse(file.name).or_else(|_| FileName::parse("file"))?;
        let body = response.bytes_stream().map_err(|e| e.to_string());
        match self.chat.upload_as(owner, name, file.mimetype, body).await {
            Ok(row) => Ok(Ok(Attachment::from(&row))),
            Err(ChatError::TooLarge { limit, .. }) => Ok(Err(format!(
                "it is larger than gadka takes ({limit} bytes)"
            ))),
            Err(e @ (ChatError::Invalid { .. } | ChatError::QuotaExceeded { .. })) => {
                Ok(Err(e.to_string()))
            }
            Err(e) => Err(e.into()),
        }
    }
}
