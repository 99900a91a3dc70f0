//! `message`: one message. Its sender may edit its body or delete it; members react.

use sea_orm::entity::prelude::*;

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "message")]
pub struct Model {
    /// Global and increasing in commit order: the message's position, in one sequence
    /// with the changes of `change_log`. `resume {since}` replays by it.
    #[sea_orm(primary_key)]
    pub id: i64,
    pub conversation_id: i64,
    /// Increasing inside the conversation, from 1 and without gaps.
    pub seq: i64,
    pub sender_id: i64,
    #[sea_orm(column_type = "Text")]
    pub body: String,
    pub created_at: i64,
    /// The sender's idempotency key; unique per sender, so a retried send is stored once.
    pub txn_id: Option<String>,
    /// 0: a person's message; 1: a notice the Matrix bridge wrote into the
    /// conversation (`MessageKind` in the server).
    pub kind: i16,
    /// The `seq` of the message this one replies to, in the same conversation.
    pub reply_to: Option<i64>,
    /// Unix ms of the last edit.
    pub edited_at: Option<i64>,
    /// Unix ms of the delete; the body is empty from then on.
    pub deleted_at: Option<i64>,
    /// The reactions as the API shows them (`[{"key", "user_ids"}]`); `NULL`: none.
    #[sea_orm(column_type = "Text", nullable)]
    pub reactions: Option<String>,
    /// The upload this message carries (`media.id`); `NULL`: none.
    pub media_id: Option<String>,
    /// What the message shows of its upload, as the API shows it (JSON); `NULL`: none.
    #[sea_orm(column_type = "Text", nullable)]
    pub attachment: Option<String>,
}

impl ActiveModelBehavior for ActiveModel {}
