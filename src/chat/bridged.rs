//! What the Matrix bridge asks of the chat: the same commands the transports send,
//! on behalf of a user who has no session here (a Matrix user, acting through the
//! homeserver's authenticated transaction), and the users it needs to find: a
//! puppet's local user, the gadka user standing for a Matrix user. The bridge keeps
//! its own rows (portals, Matrix events, its outbox) in the store itself; users are
//! the chat's, so it asks the chat.

use std::{future::Future, pin::Pin, sync::Arc, time::Duration};

use tokio::sync::oneshot;

use super::{
    Chat, ChatError, SendTo,
    engine::{Command, DeleteOutcome, ReadOutcome, SendOutcome, answered},
    events::Event,
    input::{DisplayName, MessageBody, ReactionKey, TxnId},
    now_ms,
    views::{Posted, User},
};
use crate::{
    ids::{ConversationId, Seq, UserId},
    store::{Attachment, MessageKind, UserRow},
};

/// `text` cut at a character boundary to at most `max` bytes.
fn cut_to(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// Hears every typing notice a local user gives, besides the peer's sockets: the
/// Matrix bridge, for peers who live on Matrix. Called inline; must never wait.
pub trait TypingListener: Send + Sync + 'static {
    fn typing(
        &self,
        conversation_id: ConversationId,
        user_id: UserId,
        peer_id: UserId,
        typing: bool,
    );
}

/// Finds people who live on Matrix by their Matrix ID: the bridge, when it is on.
pub trait MatrixDirectory: Send + Sync + 'static {
    /// The id of the gadka user standing for the Matrix user `matrix_id`, made the
    /// first time; `None` when it is no Matrix ID the bridge reaches, or the
    /// homeserver knows no such user.
    fn find<'a>(&'a self, matrix_id: &'a str) -> DirectoryAnswer<'a>;
}

/// What [`MatrixDirectory::find`] comes to.
pub type DirectoryAnswer<'a> =
    Pin<Box<dyn Future<Output = Result<Option<i64>, ChatError>> + Send + 'a>>;

impl Chat {
    /// Sets who finds Matrix IDs in a search; only the first one set counts.
    pub fn find_matrix_users_with(&self, directory: Arc<dyn MatrixDirectory>) {
        if self.inner.matrix_directory.set(directory).is_err() {
            tracing::warn!("a second Matrix directory is ignored");
        }
    }

    /// The gadka user for the Matrix ID `text` names, when a directory is set and
    /// finds one; a failing directory only leaves it out of the search.
    pub(super) async fn matrix_user_for(&self, text: &str) -> Option<UserId> {
        let directory = self.inner.matrix_directory.get()?;
        if !(text.starts_with('@') && text.contains(':')) {
            return None;
        }
        match directory.find(text).await {
            Ok(found) => found.map(UserId::new),
            Err(e) => {
                tracing::warn!(matrix_id = text, error = %e, "cannot look a Matrix ID up");
                None
            }
        }
    }

    /// The direct conversation between two users, opened the first time.
    pub async fn open_between(&self, user_id: i64, peer_id: i64) -> Result<i64, ChatError> {
        let (id, _created) = self
            .engine()
            .request(|reply| Command::Open {
                user_id: UserId::new(user_id),
                peer_id: UserId::new(peer_id),
                reply,
            })
            .await?;
        Ok(id.get())
    }

    /// Tells the other member of a conversation that `user_id` is typing or stopped,
    /// as [`Chat::typing`] does for a local user.
    pub async fn typing_as(
        &self,
        user_id: i64,
        conversation_id: i64,
        typing: bool,
    ) -> Result<(), ChatError> {
        let (user_id, conversation_id) =
            (UserId::new(user_id), ConversationId::new(conversation_id));
        let m = self.membership(user_id, conversation_id).await?;
        self.publish(
            &[m.peer_id],
            &Event::Typing {
                conversation_id,
                user_id,
                typing,
            },
            None,
        );
        Ok(())
    }

    /// The user `user_id`, local or from Matrix; `None` when there is none.
    pub async fn find_user(&self, user_id: i64) -> Result<Option<User>, ChatError> {
        Ok(self
            .store()
            .user(UserId::new(user_id))
            .await?
            .map(User::from))
    }

    /// Who sent message `seq` of a conversation.
    pub async fn sender_of(
        &self,
        conversation_id: i64,
        seq: i64,
    ) -> Result<Option<User>, ChatError> {
        let found = self
            .store()
            .messages_before(
                ConversationId::new(conversation_id),
                Some(Seq::new(seq.saturating_add(1))),
                1,
            )
            .await?;
        match found.first() {
            Some(message) if message.seq.get() == seq => {
                self.find_user(message.sender_id.get()).await
            }
            _ => Ok(None),
        }
    }

    /// The user whose stored username is `username`.
    pub async fn user_named(&self, username: &str) -> Result<Option<User>, ChatError> {
        Ok(self
            .store()
            .user_by_username(username)
            .await?
            .map(User::from))
    }

    /// Whether an admin has deactivated `user_id` (one who does not exist is not).
    pub async fn is_deactivated(&self, user_id: UserId) -> Result<bool, ChatError> {
        Ok(self
            .store()
            .user(user_id)
            .await?
            .is_some_and(|user| user.deactivated_at.is_some()))
    }

    /// The gadka user standing for the Matrix user `matrix_id`, if there is one yet.
    pub async fn user_on_matrix(&self, matrix_id: &str) -> Result<Option<User>, ChatError> {
        Ok(self
            .store()
            .user_by_matrix_id(matrix_id)
            .await?
            .map(User::from))
    }

    /// The gadka user standing for the Matrix user `matrix_id`, made the first time
    /// with `display_name`; it has no password, so it cannot log in here.
    pub async fn matrix_user(
        &self,
        matrix_id: &str,
        display_name: &str,
    ) -> Result<User, ChatError> {
        let user = self
            .store()
            .matrix_user(matrix_id, display_name, now_ms())
            .await?;
        Ok(user.into())
    }

    /// The other member of a conversation `user_id` is in; `None` when they are in no
    /// such conversation.
    pub async fn peer_in(
        &self,
        user_id: i64,
        conversation_id: i64,
    ) -> Result<Option<i64>, ChatError> {
        match self
            .membership(UserId::new(user_id), ConversationId::new(conversation_id))
            .await
        {
            Ok(membership) => Ok(Some(membership.peer_id.get())),
            Err(ChatError::NotFound(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Writes the bridge's notice into a conversation, in the name of its Matrix member
    /// `speaker_id` ([`MessageKind::Notice`]): stored and delivered like a message, so
    /// the local member finds it in its place, on every device and after a reload,
    /// unread until read. The same `key` from the same member stores it once, so a
    /// notice carried out twice (a restart in between) shows once. The body is cut to
    /// what a message may hold.
    pub async fn notice_as(
        &self,
        speaker_id: i64,
        conversation_id: i64,
        body: &str,
        key: &str,
    ) -> Result<(), ChatError> {
        let limit = self.inner.limits.max_message_bytes;
        let body = MessageBody::parse(cut_to(body, limit), limit)?;
        let txn_id = TxnId::parse(key)?;
        self.engine()
            .request(|reply| Command::Send {
                sender_id: UserId::new(speaker_id),
                to: SendTo::Conversation(ConversationId::new(conversation_id)),
                body: body.into_string(),
                txn_id: Some(txn_id.into_string()),
                kind: MessageKind::Notice,
                reply_to: None,
                attachment: None,
                origin: None,
                reply,
            })
            .await
            .map(drop)
    }

    /// Whether a notice follows `seq` in a conversation: a message the bridge could
    /// not deliver, with a notice after it, needs no second one.
    pub async fn notice_after(&self, conversation_id: i64, seq: i64) -> Result<bool, ChatError> {
        Ok(self
            .store()
            .notice_after(ConversationId::new(conversation_id), Seq::new(seq))
            .await?)
    }

    /// Sets who else hears typing; only the first listener set counts.
    pub fn listen_to_typing(&self, listener: Arc<dyn TypingListener>) {
        if self.inner.typing_listener.set(listener).is_err() {
            tracing::warn!("a second typing listener is ignored");
        }
    }
}

/// Commands on behalf of Matrix users that commit together, in one batch, with a key
/// stored beside them: a Matrix transaction's messages, markers and names, keyed by
/// its id. Each command is checked as it is added (as the single commands are);
/// [`Grouped::commit`] submits them all at once and then waits.
pub struct Grouped {
    chat: Chat,
    commands: Vec<Command>,
    answers: Vec<Pending>,
}

/// A grouped command's answer, still to come.
enum Pending {
    Send(oneshot::Receiver<Result<SendOutcome, ChatError>>),
    Read(oneshot::Receiver<Result<ReadOutcome, ChatError>>),
    Rename(oneshot::Receiver<Result<UserRow, ChatError>>),
    Edit(oneshot::Receiver<Result<Arc<Posted>, ChatError>>),
    Delete(oneshot::Receiver<Result<DeleteOutcome, ChatError>>),
    React(oneshot::Receiver<Result<bool, ChatError>>),
}

impl Chat {
    /// An empty group of commands (see [`Grouped`]).
    pub fn group(&self) -> Grouped {
        Grouped {
            chat: self.clone(),
            commands: Vec::new(),
            answers: Vec::new(),
        }
    }

    /// Whether a group with this key was committed: its effects are stored, all of
    /// them, and sending it again would apply it twice.
    pub async fn group_applied(&self, key: &str) -> Result<bool, ChatError> {
        Ok(self.store().group_key_recorded(key).await?)
    }

    /// Forgets the keys of groups committed more than `age` ago, which nobody will
    /// send again; how many.
    pub async fn forget_groups_older_than(&self, age: Duration) -> Result<u64, ChatError> {
        let before = now_ms() - i64::try_from(age.as_millis()).unwrap_or(i64::MAX);
        Ok(self.store().forget_group_keys_before(before).await?)
    }
}

impl Grouped {
    /// Sends `body` from `sender_id` into a conversation, as a reply to message
    /// `reply_to` of it (a stored one: the bridge found it by its Matrix event). The
    /// same `txn_id` from the same sender stores it once.
    pub fn send_as(
        &mut self,
        sender_id: i64,
        conversation_id: i64,
        body: &str,
        txn_id: &str,
        reply_to: Option<i64>,
        attachment: Option<Attachment>,
    ) -> Result<(), ChatError> {
        // A file may come without a caption.
        let body = match attachment {
            Some(_) if body.trim().is_empty() => String::new(),
            _ => MessageBody::parse(body, self.chat.inner.limits.max_message_bytes)?.into_string(),
        };
        let txn_id = TxnId::parse(txn_id)?;
        let (reply, answer) = oneshot::channel();
        self.commands.push(Command::Send {
            sender_id: UserId::new(sender_id),
            to: SendTo::Conversation(ConversationId::new(conversation_id)),
            body,
            txn_id: Some(txn_id.into_string()),
            kind: MessageKind::Message,
            reply_to: reply_to.map(Seq::new),
            attachment,
            origin: None,
            reply,
        });
        self.answers.push(Pending::Send(answer));
        Ok(())
    }

    /// Moves `user_id`'s read marker in a conversation up to `seq` (never back); the
    /// other member hears of it after the commit.
    pub fn read_as(&mut self, user_id: i64, conversation_id: i64, seq: i64) {
        let (reply, answer) = oneshot::channel();
        self.commands.push(Command::Read {
            user_id: UserId::new(user_id),
            conversation_id: ConversationId::new(conversation_id),
            up_to_seq: Some(Seq::new(seq)),
            origin: None,
            reply,
        });
        self.answers.push(Pending::Read(answer));
    }

    /// Replaces the body of `user_id`'s message `seq` (the engine refuses it if the
    /// message is someone else's or deleted).
    pub fn edit_as(
        &mut self,
        user_id: i64,
        conversation_id: i64,
        seq: i64,
        body: &str,
    ) -> Result<(), ChatError> {
        let body = MessageBody::parse(body, self.chat.inner.limits.max_message_bytes)?;
        let (reply, answer) = oneshot::channel();
        self.commands.push(Command::Edit {
            user_id: UserId::new(user_id),
            conversation_id: ConversationId::new(conversation_id),
            seq: Seq::new(seq),
            body: body.into_string(),
            reply,
        });
        self.answers.push(Pending::Edit(answer));
        Ok(())
    }

    /// Deletes `user_id`'s message `seq`.
    pub fn delete_as(&mut self, user_id: i64, conversation_id: i64, seq: i64) {
        let (reply, answer) = oneshot::channel();
        self.commands.push(Command::Delete {
            user_id: UserId::new(user_id),
            conversation_id: ConversationId::new(conversation_id),
            seq: Seq::new(seq),
            reply,
        });
        self.answers.push(Pending::Delete(answer));
    }

    /// Adds (`on`) or takes back `user_id`'s reaction `key` on message `seq`.
    pub fn react_as(
        &mut self,
        user_id: i64,
        conversation_id: i64,
        seq: i64,
        key: &str,
        on: bool,
    ) -> Result<(), ChatError> {
        let key = ReactionKey::parse(key)?;
        let (reply, answer) = oneshot::channel();
        self.commands.push(Command::React {
            user_id: UserId::new(user_id),
            conversation_id: ConversationId::new(conversation_id),
            seq: Seq::new(seq),
            key: key.into_string(),
            on,
            reply,
        });
        self.answers.push(Pending::React(answer));
        Ok(())
    }

    /// Renames a user who lives on Matrix, after their name changed there, by the
    /// rule every display name follows.
    pub fn rename_as(&mut self, user_id: i64, display_name: &str) -> Result<(), ChatError> {
        let display_name = DisplayName::parse(display_name)?;
        let (reply, answer) = oneshot::channel();
        self.commands.push(Command::Profile {
            user_id: UserId::new(user_id),
            display_name: display_name.as_str().to_owned(),
            reply,
        });
        self.answers.push(Pending::Rename(answer));
        Ok(())
    }

    /// Whether the group holds no command (then there is nothing to commit).
    pub fn is_empty(&self) -> bool {
        self.commands.is_empty()
    }

    /// Commits the group with `key` in one batch, and waits for it. `Err` when the
    /// batch failed (nothing of it is stored); else each command's own outcome, in
    /// order: one the rules refuse is refused alone, as on its own.
    pub async fn commit(self, key: &str) -> Result<Vec<Result<(), ChatError>>, ChatError> {
        let Self {
            chat,
            commands,
            answers,
        } = self;
        chat.engine()
            .request(|reply| Command::Group {
                key: key.to_owned(),
                commands,
                reply,
            })
            .await?;
        let mut outcomes = Vec::with_capacity(answers.len());
        for answer in answers {
            outcomes.push(match answer {
                Pending::Send(answer) => answered(answer.await).map(drop),
                Pending::Read(answer) => answered(answer.await).map(drop),
                Pending::Rename(answer) => answered(answer.await).map(drop),
                Pending::Edit(answer) => answered(answer.await).map(drop),
                Pending::React(answer) => answered(answer.await).map(drop),
                Pending::Delete(answer) => match answered(answer.await) {
                    Ok(deleted) => {
                        if deleted.was_unread {
                            chat.announce_unread(deleted.peer_id).await;
                        }
                        chat.released(deleted.released_media).await;
                        Ok(())
                    }
                    Err(e) => Err(e),
                },
            });
        }
        Ok(outcomes)
    }
}
