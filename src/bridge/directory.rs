//! Matrix IDs in gadka's people search: the bridge looks a Matrix user up on the
//! homeserver, as its bot, and makes them a Matrix-marked gadka user, so that a
//! gadka user can start a chat with them ("Send message" opens a portal: see
//! `outbox/carry.rs`).

use std::sync::Weak;

use ruma::UserId;

use super::{Bridge, IncomingError};
use crate::chat::{ChatError, DirectoryAnswer, MatrixDirectory};

/// The bridge as the chat's [`MatrixDirectory`]. It holds the bridge weakly: the
/// bridge holds the chat, and the chat must not keep the bridge (and so itself) alive.
pub struct Directory(pub Weak<Bridge>);

impl MatrixDirectory for Directory {
    fn find<'a>(&'a self, matrix_id: &'a str) -> DirectoryAnswer<'a> {
        Box::pin(async move {
            let Some(bridge) = self.0.upgrade() else {
                return Ok(None);
            };
            bridge
                .look_up(matrix_id)
                .await
                .map_err(|e| ChatError::Internal(e.into()))
        })
    }
}

impl Bridge {
    /// The gadka user for the Matrix user `raw` names, made the first time with
    /// their Matrix display name; `None` for what is no Matrix ID, for gadka's own
    /// (the bot, the puppets), for someone `bridge.permissions` leaves out (they
    /// could not answer), and for a user the homeserver does not know.
    async fn look_up(&self, raw: &str) -> Result<Option<i64>, IncomingError> {
        let Ok(user_id) = UserId::parse(raw) else {
            return Ok(None);
        };
        if user_id == self.settings.bot
            || self.settings.puppet_username(&user_id).is_some()
            || self.settings.permission_of(&user_id).is_none()
        {
            return Ok(None);
        }
        if let Some(user) = self.chat.user_on_matrix(user_id.as_str()).await? {
            return Ok(Some(user.id.get()));
        }
        let shown = match self.homeserver.display_name(&user_id).await {
            Ok(name) => name,
            Err(e) if e.errcode() == Some("M_NOT_FOUND") => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        Ok(Some(
            self.matrix_user_named(&user_id, shown.as_deref()).await?,
        ))
    }
}
