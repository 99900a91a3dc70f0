//! What the operator's commands (`gadka admin user …`, see `crate::admin`) read and
//! change. They run in a process of their own, beside a server or without one, so
//! each change is one transaction: a server sees all of it or none of it.
//!
//! Each transaction begins with its write: on SQLite a transaction that read first
//! and then wrote could not wait for the server's writer (upgrading a read to a write
//! fails at once when another connection wrote meanwhile), while one that writes
//! first waits for it under the busy timeout.

use entity::{membership, outbox, portal, session, user};
use sea_orm::{
    ActiveValue::Set,
    ColumnTrait, DatabaseTransaction, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect, TransactionTrait,
    sea_query::{Expr, Query},
};

use super::{OutboxEntry, Store, StoreError, UserRow, users};
use crate::ids::{ConversationId, UserId};

/// What `admin user show` counts for a user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccountCounts {
    /// Conversations they are a member of.
    pub conversations: u64,
    /// Sessions neither revoked nor expired.
    pub live_sessions: u64,
}

/// What deactivating a user changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deactivation {
    /// Unix ms.
    pub deactivated_at: i64,
    /// Live sessions revoked.
    pub sessions_revoked: u64,
    /// Matrix rooms (portals) their puppet is to leave.
    pub rooms_to_leave: u64,
}

impl Store {
    /// Every user, in id order, a page at a time: those after `after`, at most `limit`.
    pub async fn users_after(&self, after: UserId, limit: u64) -> Result<Vec<UserRow>, StoreError> {
        Ok(user::Entity::find()
            .filter(user::Column::Id.gt(after.get()))
            .order_by_asc(user::Column::Id)
            .limit(limit)
            .all(&self.db)
            .await?
            .into_iter()
            .map(Into::into)
            .collect())
    }

    /// How many conversations `user_id` is in and how many live sessions they have.
    pub async fn account_counts(
        &self,
        user_id: UserId,
        now: i64,
    ) -> Result<AccountCounts, StoreError> {
        let conversations = membership::Entity::find()
            .filter(membership::Column::UserId.eq(user_id.get()))
            .count(&self.db)
            .await?;
        let live_sessions = session::Entity::find()
            .filter(session::Column::UserId.eq(user_id.get()))
            .filter(session::Column::RevokedAt.is_null())
            .filter(session::Column::ExpiresAt.gt(now))
            .count(&self.db)
            .await?;
        Ok(AccountCounts {
            conversations,
            live_sessions,
        })
    }

    /// Deactivates `user_id` at `now`, in one transaction: marks the user, revokes
    /// their live sessions (so every node's next session check refuses them, and a
    /// running server closes their sockets), removes them from the people search,
    /// and queues `leave(conversation)` in the outbox for each of their conversations
    /// that has a Matrix room, for the bridge to carry out after whatever of that room
    /// is queued before it. `None` when the user was deactivated already, or does not
    /// exist; nothing is changed then.
    pub async fn deactivate_user(
        &self,
        user_id: UserId,
        now: i64,
        leave: impl Fn(ConversationId) -> OutboxEntry,
    ) -> Result<Option<Deactivation>, StoreError> {
        let txn = self.db.begin().await?;
        let marked = user::Entity::update_many()
            .col_expr(user::Column::DeactivatedAt, Expr::value(now))
            .filter(user::Column::Id.eq(user_id.get()))
            .filter(user::Column::DeactivatedAt.is_null())
            .exec(&txn)
            .await?;
        if marked.rows_affected == 0 {
            txn.rollback().await?;
            return Ok(None);
        }
        let sessions_revoked = revoke_sessions(&txn, user_id, now).await?;
        if let Some(user) = users::by_id(&txn, user_id).await? {
            users::replace_terms(&txn, &user).await?;
        }
        let their_conversations = Query::select()
            .column(membership::Column::ConversationId)
            .from(membership::Entity)
            .and_where(membership::Column::UserId.eq(user_id.get()))
            .to_owned();
        let rooms: Vec<i64> = portal::Entity::find()
            .select_only()
            .column(portal::Column::ConversationId)
            .filter(portal::Column::ConversationId.in_subquery(their_conversations))
            .order_by_asc(portal::Column::ConversationId)
            .into_tuple()
            .all(&txn)
            .await?;
        for chunk in rooms.chunks(500) {
            let rows = chunk.iter().map(|id| {
                let entry = leave(ConversationId::new(*id));
                outbox::ActiveModel {
                    topic: Set(entry.topic.to_owned()),
                    payload: Set(entry.payload),
                    created_at: Set(now),
                    ..Default::default()
                }
            });
            outbox::Entity::insert_many(rows)
                .exec_without_returning(&txn)
                .await?;
        }
        txn.commit().await?;
        Ok(Some(Deactivation {
            deactivated_at: now,
            sessions_revoked,
            rooms_to_leave: rooms.len() as u64,
        }))
    }

    /// Reactivates `user_id`: they may log in again and are found again. `false` when
    /// they were not deactivated, or do not exist.
    pub async fn reactivate_user(&self, user_id: UserId) -> Result<bool, StoreError> {
        let txn = self.db.begin().await?;
        let cleared = user::Entity::update_many()
            .col_expr(user::Column::DeactivatedAt, Expr::value(None::<i64>))
            .filter(user::Column::Id.eq(user_id.get()))
            .filter(user::Column::DeactivatedAt.is_not_null())
            .exec(&txn)
            .await?;
        if cleared.rows_affected == 0 {
            txn.rollback().await?;
            return Ok(false);
        }
        if let Some(user) = users::by_id(&txn, user_id).await? {
            users::replace_terms(&txn, &user).await?;
        }
        txn.commit().await?;
        Ok(true)
    }

    /// Gives `user_id` a new password hash and revokes their live sessions, in one
    /// transaction; how many were revoked. `None` when there is no such user.
    pub async fn set_password(
        &self,
        user_id: UserId,
        password_hash: &str,
        now: i64,
    ) -> Result<Option<u64>, StoreError> {
        let txn = self.db.begin().await?;
        let changed = user::Entity::update_many()
            .col_expr(user::Column::PasswordHash, Expr::value(password_hash))
            .filter(user::Column::Id.eq(user_id.get()))
            .exec(&txn)
            .await?;
        if changed.rows_affected == 0 {
            txn.rollback().await?;
            return Ok(None);
        }
        let revoked = revoke_sessions(&txn, user_id, now).await?;
        txn.commit().await?;
        Ok(Some(revoked))
    }
}

/// Revokes every live session of `user_id` at `now`; how many. Expired ones are left
/// as they are: they let no one in, and no socket is open on them.
async fn revoke_sessions(
    txn: &DatabaseTransaction,
    user_id: UserId,
    now: i64,
) -> Result<u64, StoreError> {
    Ok(session::Entity::update_many()
        .col_expr(session::Column::RevokedAt, Expr::value(now))
        .filter(session::Column::UserId.eq(user_id.get()))
        .filter(session::Column::RevokedAt.is_null())
        .filter(session::Column::ExpiresAt.gt(now))
        .exec(txn)
        .await?
        .rows_affected)
}
