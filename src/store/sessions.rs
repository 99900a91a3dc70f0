//! Sessions: the server-side record that makes logout real.

use entity::{session, user};
use sea_orm::{
    ActiveModelTrait,
    ActiveValue::Set,
    ColumnTrait, Condition, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    sea_query::{Expr, Query},
};

use super::{Store, StoreError};
use crate::ids::UserId;

/// A revoked session, as the server's watcher reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevokedSession {
    pub id: String,
    pub user_id: UserId,
    /// Unix ms.
    pub revoked_at: i64,
}

/// A new session's row.
pub struct NewSession<'a> {
    pub id: &'a str,
    pub user_id: UserId,
    pub created_at: i64,
    pub expires_at: i64,
}

impl Store {
    pub async fn create_session(&self, new: NewSession<'_>) -> Result<(), StoreError> {
        session::ActiveModel {
            id: Set(new.id.to_owned()),
            user_id: Set(new.user_id.get()),
            created_at: Set(new.created_at),
            expires_at: Set(new.expires_at),
            revoked_at: Set(None),
        }
        .insert(&self.db)
        .await?;
        Ok(())
    }

    /// Whether the session belongs to `user_id`, is not revoked, has not expired at
    /// `now`, and its user is not deactivated.
    ///
    /// Deactivating revokes the user's sessions, but a login whose password check was
    /// under way then makes its session just after: the user's row, read here in the
    /// same statement (one primary-key probe), keeps that one from working too.
    pub async fn live_session(
        &self,
        id: &str,
        user_id: UserId,
        now: i64,
    ) -> Result<bool, StoreError> {
        let active_user = Query::select()
            .column(user::Column::Id)
            .from(user::Entity)
            .and_where(user::Column::Id.eq(user_id.get()))
            .and_where(user::Column::DeactivatedAt.is_null())
            .to_owned();
        Ok(session::Entity::find_by_id(id.to_owned())
            .filter(session::Column::UserId.eq(user_id))
            .filter(session::Column::RevokedAt.is_null())
            .filter(session::Column::ExpiresAt.gt(now))
            .filter(session::Column::UserId.in_subquery(active_user))
            .one(&self.db)
            .await?
            .is_some())
    }

    /// Sessions revoked at or after `since` (Unix ms), oldest first, a page at a
    /// time: past `after` (the last of the previous page), at most `limit`. What a
    /// server polls to close the sockets of sessions revoked by another process.
    pub async fn sessions_revoked_since(
        &self,
        since: i64,
        after: Option<&RevokedSession>,
        limit: u64,
    ) -> Result<Vec<RevokedSession>, StoreError> {
        use session::Column;
        let mut query = session::Entity::find()
            .select_only()
            .columns([Column::Id, Column::UserId, Column::RevokedAt])
            .filter(Column::RevokedAt.gte(since));
        if let Some(after) = after {
            query = query
                .filter(Column::RevokedAt.gte(after.revoked_at))
                .filter(
                    Condition::any()
                        .add(Column::RevokedAt.gt(after.revoked_at))
                        .add(Column::Id.gt(after.id.as_str())),
                );
        }
        let rows: Vec<(String, i64, Option<i64>)> = query
            .order_by_asc(Column::RevokedAt)
            .order_by_asc(Column::Id)
            .limit(limit)
            .into_tuple()
            .all(&self.db)
            .await?;
        Ok(rows
            .into_iter()
            .map(|(id, user_id, revoked_at)| RevokedSession {
                id,
                user_id: UserId::new(user_id),
                revoked_at: revoked_at.unwrap_or(since),
            })
            .collect())
    }

    /// When the newest revocation happened, if any: where a server starts watching.
    pub async fn last_session_revoked_at(&self) -> Result<Option<i64>, StoreError> {
        let newest: Option<Option<i64>> = session::Entity::find()
            .select_only()
            .column(session::Column::RevokedAt)
            .filter(session::Column::RevokedAt.is_not_null())
            .order_by_desc(session::Column::RevokedAt)
            .limit(1)
            .into_tuple()
            .one(&self.db)
            .await?;
        Ok(newest.flatten())
    }

    /// Revokes a session; revoking it again changes nothing.
    pub async fn revoke_session(&self, id: &str, now: i64) -> Result<(), StoreError> {
        session::Entity::update_many()
            .col_expr(session::Column::RevokedAt, Expr::value(now))
            .filter(session::Column::Id.eq(id))
            .filter(session::Column::RevokedAt.is_null())
            .exec(&self.db)
            .await?;
        Ok(())
    }
}
