//! The log of changes (`change_log`) and what `resume {since}` reads from it: one page
//! of a user's messages and changes after a position, in one read snapshot. Changes
//! are written only by the message engine's batch (`batch/`).

use std::collections::HashSet;

use entity::{change_log, membership, message};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    sea_query::{Expr, ExprTrait, Order, Query},
};

use super::{ChangeKind, ChangeRow, MessageRow, Store, StoreError, UserRow, memberships, users};
use crate::ids::{ConversationId, MessageId, Position, Seq, UserId};

/// One page of what a user missed after a position, read in one snapshot: as of that
/// snapshot, `messages` holds every message of theirs after the position up to its
/// last one (all of them when it is shorter than the page), and `changes` likewise.
#[derive(Debug, Default)]
pub struct ReplayPage {
    /// By id.
    pub messages: Vec<MessageRow>,
    /// By position.
    pub changes: Vec<ChangeRow>,
    /// The edited messages as they are now.
    pub edited: Vec<MessageRow>,
    /// The renamed users as they are now.
    pub renamed: Vec<UserRow>,
}

impl Store {
    /// The newest position committed: everything up to it is in any snapshot that
    /// reads it.
    pub(super) async fn last_position(db: &impl ConnectionTrait) -> Result<Position, StoreError> {
        let message: Option<Option<i64>> = message::Entity::find()
            .select_only()
            .expr(Expr::col(message::Column::Id).max())
            .into_tuple()
            .one(db)
            .await?;
        let change: Option<Option<i64>> = change_log::Entity::find()
            .select_only()
            .expr(Expr::col(change_log::Column::Pos).max())
            .into_tuple()
            .one(db)
            .await?;
        Ok(Position::new(std::cmp::max(
            message.flatten().unwrap_or(0),
            change.flatten().unwrap_or(0),
        )))
    }

    /// Up to `limit` messages and up to `limit` changes of `user_id`'s conversations
    /// (and of the names of the people in them) after `after`, in one snapshot.
    pub async fn replay_page(
        &self,
        user_id: UserId,
        after: Position,
        limit: u64,
    ) -> Result<ReplayPage, StoreError> {
        let txn = self.read_snapshot().await?;
        let messages: Vec<MessageRow> = message::Entity::find()
            .filter(
                message::Column::ConversationId
                    .in_subquery(memberships::conversation_ids_of(user_id)),
            )
            .filter(message::Column::Id.gt(after.get()))
            .order_by(message::Column::Id, Order::Asc)
            .limit(limit)
            .all(&txn)
            .await?
            .into_iter()
            .map(Into::into)
            .collect();
        let people = Query::select()
            .column(membership::Column::UserId)
            .from(membership::Entity)
            .and_where(
                Expr::col(membership::Column::ConversationId)
                    .in_subquery(memberships::conversation_ids_of(user_id)),
            )
            .to_owned();
        let changes: Vec<ChangeRow> = change_log::Entity::find()
            .filter(change_log::Column::Pos.gt(after.get()))
            .filter(
                Condition::any()
                    .add(
                        change_log::Column::ConversationId
                            .in_subquery(memberships::conversation_ids_of(user_id)),
                    )
                    .add(
                        Condition::all()
                            .add(change_log::Column::ConversationId.is_null())
                            .add(
                                Condition::any()
                                    .add(change_log::Column::UserId.eq(user_id))
                                    .add(change_log::Column::UserId.in_subquery(people)),
                            ),
                    ),
            )
            .order_by(change_log::Column::Pos, Order::Asc)
            .limit(limit)
            .all(&txn)
            .await?
            .into_iter()
            .filter_map(change_row)
            .collect();
        let mut edited_keys: Vec<(ConversationId, Seq)> = changes
            .iter()
            .filter(|c| c.kind == ChangeKind::Edit)
            .filter_map(|c| Some((c.conversation_id?, c.seq?)))
            .collect();
        edited_keys.sort_unstable();
        edited_keys.dedup();
        let edited = if edited_keys.is_empty() {
            Vec::new()
        } else {
            let any = edited_keys.iter().fold(Condition::any(), |any, (c, s)| {
                any.add(
                    Condition::all()
                        .add(message::Column::ConversationId.eq(*c))
                        .add(message::Column::Seq.eq(*s)),
                )
            });
            message::Entity::find()
                .filter(any)
                .all(&txn)
                .await?
                .into_iter()
                .map(Into::into)
                .collect()
        };
        let renamed_ids: HashSet<UserId> = changes
            .iter()
            .filter(|c| c.kind == ChangeKind::Profile)
            .map(|c| c.user_id)
            .collect();
        let renamed = users::by_ids(&txn, renamed_ids).await?;
        txn.commit().await?;
        Ok(ReplayPage {
            messages,
            changes,
            edited,
            renamed,
        })
    }
}

/// A stored change, unless it is of a kind this version does not know.
fn change_row(c: change_log::Model) -> Option<ChangeRow> {
    Some(ChangeRow {
        pos: Position::new(c.pos),
        conversation_id: c.conversation_id.map(ConversationId::new),
        seq: c.seq.map(Seq::new),
        kind: ChangeKind::from_stored(c.kind)?,
        user_id: UserId::new(c.user_id),
        key: c.key,
    })
}

impl MessageRow {
    /// Its position among all changes: its id.
    pub fn position(&self) -> Position {
        MessageId::position(self.id)
    }
}
