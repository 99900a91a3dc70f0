//! Messages: the one commit path, and the reads that replay them.
//!
//! Every message of gadka, whatever transport it came from, is stored by
//! [`Store::commit_message`]. When sends are batched for throughput, this is the
//! function that changes.

use entity::{conversation, message};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, DbErr, EntityTrait, ExprTrait, QueryFilter,
    QuerySelect, TransactionTrait, sea_query::Expr,
};

use super::{Store, is_unique_violation};

/// A message to store.
pub struct NewMessage<'a> {
    pub conversation_id: i64,
    pub sender_id: i64,
    pub body: &'a str,
    pub txn_id: Option<&'a str>,
    pub created_at: i64,
}

/// What a commit did.
#[derive(Debug)]
pub enum Committed {
    /// Stored now: deliver it.
    New(message::Model),
    /// The sender already sent this `txn_id`: here is the first message, unchanged.
    Duplicate(message::Model),
}

impl Store {
    /// Stores a message with the next `seq` of its conversation, or finds the message
    /// the sender already stored under the same `txn_id`.
    ///
    /// The transaction starts by bumping `conversation.last_seq`: its first statement
    /// is a write, so on SQLite it takes the write lock at once (a read-then-write
    /// transaction could fail with `SQLITE_BUSY` when another writer commits between),
    /// and on PostgreSQL the row lock serialises senders of one conversation.
    pub async fn commit_message(&self, new: NewMessage<'_>) -> Result<Committed, DbErr> {
        if let Some(txn_id) = new.txn_id
            && let Some(existing) = self.message_by_txn(new.sender_id, txn_id).await?
        {
            return Ok(Committed::Duplicate(existing));
        }
        let txn = self.db.begin().await?;
        conversation::Entity::update_many()
            .col_expr(
                conversation::Column::LastSeq,
                Expr::col(conversation::Column::LastSeq).add(1),
            )
            .col_expr(
                conversation::Column::LastActivityAt,
                Expr::value(new.created_at),
            )
            .filter(conversation::Column::Id.eq(new.conversation_id))
            .exec(&txn)
            .await?;
        let seq: i64 = conversation::Entity::find_by_id(new.conversation_id)
            .select_only()
            .column(conversation::Column::LastSeq)
            .into_tuple()
            .one(&txn)
            .await?
            .ok_or_else(|| {
                DbErr::RecordNotFound(format!("conversation {}", new.conversation_id))
            })?;
        let inserted = message::ActiveModel {
            conversation_id: Set(new.conversation_id),
            seq: Set(seq),
            sender_id: Set(new.sender_id),
            body: Set(new.body.to_owned()),
            created_at: Set(new.created_at),
            txn_id: Set(new.txn_id.map(str::to_owned)),
            ..Default::default()
        }
        .insert(&txn)
        .await;
        match inserted {
            Ok(message) => {
                txn.commit().await?;
                Ok(Committed::New(message))
            }
            // The same txn_id raced in from another connection; it won.
            Err(e) if is_unique_violation(&e) && new.txn_id.is_some() => {
                txn.rollback().await?;
                let txn_id = new.txn_id.unwrap_or_default();
                self.message_by_txn(new.sender_id, txn_id)
                    .await?
                    .map(Committed::Duplicate)
                    .ok_or(e)
            }
            Err(e) => Err(e),
        }
    }

    async fn message_by_txn(
        &self,
        sender_id: i64,
        txn_id: &str,
    ) -> Result<Option<message::Model>, DbErr> {
        message::Entity::find()
            .filter(message::Column::SenderId.eq(sender_id))
            .filter(message::Column::TxnId.eq(txn_id))
            .one(&self.db)
            .await
    }
}
