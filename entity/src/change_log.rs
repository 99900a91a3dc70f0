//! `change_log`: every committed change that is not a new message, at its position
//! (positions and message ids are one sequence). `resume {since}` replays it.

use sea_orm::entity::prelude::*;

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "change_log")]
pub struct Model {
    /// The change's position: after every message and change committed before it.
    #[sea_orm(primary_key, auto_increment = false)]
    pub pos: i64,
    /// `NULL` for a display name, which belongs to no conversation.
    pub conversation_id: Option<i64>,
    /// The message changed, or the new read marker.
    pub seq: Option<i64>,
    /// What changed (`store::ChangeKind`).
    pub kind: i16,
    /// Who changed it: the editor, the reactor, the reader, the renamed.
    pub user_id: i64,
    /// A reaction's key.
    pub key: Option<String>,
    pub created_at: i64,
}

impl ActiveModelBehavior for ActiveModel {}
