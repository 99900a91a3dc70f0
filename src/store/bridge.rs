//! The Matrix bridge's rows: users who live on Matrix, and portal rooms.

use entity::{matrix_event, matrix_reaction, message, portal, user};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    sea_query::OnConflict,
};

use super::{Store, StoreError, UserRow, is_unique_violation};
use crate::ids::UserId;

impl Store {
    /// The gadka user standing for the Matrix user `matrix_id`, created the first
    /// time: its username is the Matrix ID (which no local username can be, as those
    /// never hold `@` or `:`), and it has no password, so it cannot log in here.
    pub async fn matrix_user(
        &self,
        matrix_id: &str,
        display_name: &str,
        now: i64,
    ) -> Result<UserRow, StoreError> {
        if let Some(user) = self.user_by_matrix_id(matrix_id).await? {
            return Ok(user);
        }
        let row = user::ActiveModel {
            username: Set(matrix_id.to_owned()),
            display_name: Set(display_name.to_owned()),
            password_hash: Set(None),
            created_at: Set(now),
            matrix_id: Set(Some(matrix_id.to_owned())),
            ..Default::default()
        };
        match super::users::insert_user(&self.db, row).await {
            Ok(user) => Ok(user.into()),
            // Made at the same moment by a replayed transaction: the first one stands.
            Err(e) if is_unique_violation(&e) => {
                self.user_by_matrix_id(matrix_id).await?.ok_or_else(|| {
                    DbErr::RecordNotFound(format!("the Matrix user {matrix_id}")).into()
                })
            }
            Err(e) => Err(e.into()),
        }
    }

    /// The gadka user standing for the Matrix user `matrix_id`, if any.
    pub async fn user_by_matrix_id(&self, matrix_id: &str) -> Result<Option<UserRow>, StoreError> {
        Ok(user::Entity::find()
            .filter(user::Column::MatrixId.eq(matrix_id))
            .one(&self.db)
            .await?
            .map(Into::into))
    }

    /// The ids of every user who lives on Matrix.
    pub async fn matrix_user_ids(&self) -> Result<Vec<i64>, StoreError> {
        user::Entity::find()
            .select_only()
            .column(user::Column::Id)
            .filter(user::Column::MatrixId.is_not_null())
            .into_tuple()
            .all(&self.db)
            .await
            .map_err(StoreError::from)
    }

    /// Those of `ids` that live on Matrix.
    pub async fn matrix_users_among(&self, ids: &[UserId]) -> Result<Vec<UserId>, StoreError> {
        user::Entity::find()
            .select_only()
            .column(user::Column::Id)
            .filter(user::Column::Id.is_in(ids.iter().copied()))
            .filter(user::Column::MatrixId.is_not_null())
            .into_tuple()
            .all(&self.db)
            .await
            .map_err(StoreError::from)
    }

    /// Makes `room_id` the portal of `conversation_id`; a later room replaces an
    /// earlier one (the Matrix user started the chat anew).
    pub async fn set_portal(
        &self,
        conversation_id: i64,
        room_id: &str,
        now: i64,
    ) -> Result<(), StoreError> {
        let row = portal::ActiveModel {
            conversation_id: Set(conversation_id),
            room_id: Set(room_id.to_owned()),
            created_at: Set(now),
        };
        match portal::Entity::insert(row)
            .on_conflict(
                OnConflict::column(portal::Column::ConversationId)
                    .update_columns([portal::Column::RoomId, portal::Column::CreatedAt])
                    .to_owned(),
            )
            .exec(&self.db)
            .await
        {
            Ok(_) => Ok(()),
            // The room is the portal of this conversation already (a replay), or of
            // another one, which it stays.
            Err(e) if is_unique_violation(&e) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// The conversation a Matrix room is the portal of.
    pub async fn portal_conversation(&self, room_id: &str) -> Result<Option<i64>, StoreError> {
        Ok(portal::Entity::find()
            .filter(portal::Column::RoomId.eq(room_id))
            .one(&self.db)
            .await?
            .map(|portal| portal.conversation_id))
    }

    /// The portal room of a conversation.
    pub async fn portal_room(&self, conversation_id: i64) -> Result<Option<String>, StoreError> {
        Ok(portal::Entity::find_by_id(conversation_id)
            .one(&self.db)
            .await?
            .map(|portal| portal.room_id))
    }

    /// Remembers the Matrix event that carried message `seq` of a conversation.
    pub async fn record_matrix_event(
        &self,
        event_id: &str,
        conversation_id: i64,
        seq: i64,
    ) -> Result<(), StoreError> {
        let row = matrix_event::ActiveModel {
            event_id: Set(event_id.to_owned()),
            conversation_id: Set(conversation_id),
            seq: Set(seq),
        };
        // Sent again after a lost answer, the homeserver gives the same event id.
        matrix_event::Entity::insert(row)
            .on_conflict_do_nothing()
            .exec(&self.db)
            .await?;
        Ok(())
    }

    /// The conversation and `seq` of the gadka message a Matrix event carried.
    pub async fn matrix_event(&self, event_id: &str) -> Result<Option<(i64, i64)>, StoreError> {
        Ok(matrix_event::Entity::find_by_id(event_id)
            .one(&self.db)
            .await?
            .map(|row| (row.conversation_id, row.seq)))
    }

    /// The Matrix event id of the newest message `sender_id` sent from Matrix into a
    /// conversation at or before `seq`: its `txn_id` is the event id.
    pub async fn matrix_event_up_to(
        &self,
        conversation_id: i64,
        sender_id: i64,
        seq: i64,
    ) -> Result<Option<String>, StoreError> {
        Ok(message::Entity::find()
            .filter(message::Column::ConversationId.eq(conversation_id))
            .filter(message::Column::SenderId.eq(sender_id))
            .filter(message::Column::Seq.lte(seq))
            .order_by_desc(message::Column::Seq)
            .one(&self.db)
            .await?
            .and_then(|row| row.txn_id))
    }

    /// The Matrix event that stands for message `seq` of a conversation: the event the
    /// bridge sent for a gadka message, or the event a Matrix message came in as (its
    /// `txn_id`, under its Matrix sender).
    pub async fn matrix_event_of(
        &self,
        conversation_id: i64,
        seq: i64,
    ) -> Result<Option<String>, StoreError> {
        if let Some(sent) = matrix_event::Entity::find()
            .filter(matrix_event::Column::ConversationId.eq(conversation_id))
            .filter(matrix_event::Column::Seq.eq(seq))
            .one(&self.db)
            .await?
        {
            return Ok(Some(sent.event_id));
        }
        let Some(found) = message::Entity::find()
            .filter(message::Column::ConversationId.eq(conversation_id))
            .filter(message::Column::Seq.eq(seq))
            .one(&self.db)
            .await?
        else {
            return Ok(None);
        };
        let from_matrix = user::Entity::find_by_id(found.sender_id)
            .one(&self.db)
            .await?
            .is_some_and(|sender| sender.matrix_id.is_some());
        Ok(from_matrix.then_some(found.txn_id).flatten())
    }

    /// The `seq` of the message a Matrix event stands for in a conversation whose
    /// Matrix member is `matrix_user`: a gadka message the bridge sent as that event,
    /// or one of `matrix_user`'s messages that came in as it. With who sent it.
    pub async fn message_of_matrix_event(
        &self,
        conversation_id: i64,
        matrix_user: i64,
        event_id: &str,
    ) -> Result<Option<(i64, i64)>, StoreError> {
        let seq = match self.matrix_event(event_id).await? {
            Some((conversation, seq)) if conversation == conversation_id => Some(seq),
            Some(_) => return Ok(None),
            None => message::Entity::find()
                .filter(message::Column::SenderId.eq(matrix_user))
                .filter(message::Column::TxnId.eq(event_id))
                .filter(message::Column::ConversationId.eq(conversation_id))
                .one(&self.db)
                .await?
                .map(|m| m.seq),
        };
        let Some(seq) = seq else {
            return Ok(None);
        };
        Ok(message::Entity::find()
            .filter(message::Column::ConversationId.eq(conversation_id))
            .filter(message::Column::Seq.eq(seq))
            .one(&self.db)
            .await?
            .map(|m| (m.seq, m.sender_id)))
    }

    /// Remembers the Matrix event of a reaction; a second call for the same event
    /// changes nothing.
    pub async fn record_matrix_reaction(
        &self,
        event_id: &str,
        conversation_id: i64,
        seq: i64,
        user_id: i64,
        key: &str,
    ) -> Result<(), StoreError> {
        let row = matrix_reaction::ActiveModel {
            event_id: Set(event_id.to_owned()),
            conversation_id: Set(conversation_id),
            seq: Set(seq),
            user_id: Set(user_id),
            key: Set(key.to_owned()),
        };
        matrix_reaction::Entity::insert(row)
            .on_conflict_do_nothing()
            .exec(&self.db)
            .await?;
        Ok(())
    }

    /// The reaction a Matrix event carried: `(conversation, seq, user, key)`.
    pub async fn matrix_reaction(
        &self,
        event_id: &str,
    ) -> Result<Option<(i64, i64, i64, String)>, StoreError> {
        Ok(matrix_reaction::Entity::find_by_id(event_id)
            .one(&self.db)
            .await?
            .map(|r| (r.conversation_id, r.seq, r.user_id, r.key)))
    }

    /// The Matrix events that carried `user_id`'s reaction `key` on message `seq`.
    pub async fn matrix_reaction_events(
        &self,
        conversation_id: i64,
        seq: i64,
        user_id: i64,
        key: &str,
    ) -> Result<Vec<String>, StoreError> {
        Ok(matrix_reaction::Entity::find()
            .filter(matrix_reaction::Column::ConversationId.eq(conversation_id))
            .filter(matrix_reaction::Column::Seq.eq(seq))
            .filter(matrix_reaction::Column::UserId.eq(user_id))
            .filter(matrix_reaction::Column::Key.eq(key))
            .all(&self.db)
            .await?
            .into_iter()
            .map(|r| r.event_id)
            .collect())
    }

    /// Forgets the Matrix event of a reaction taken back.
    pub async fn forget_matrix_reaction(&self, event_id: &str) -> Result<(), StoreError> {
        matrix_reaction::Entity::delete_by_id(event_id)
            .exec(&self.db)
            .await?;
        Ok(())
    }
}
