//! Sessions: the server-side record that makes logout real.

use entity::session;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, sea_query::Expr,
};

use super::{Store, StoreError};
use crate::ids::UserId;

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

    /// Whether the session belongs to `user_id`, is not revoked and has not expired at `now`.
    pub async fn live_session(
        &self,
        id: &str,
        user_id: UserId,
        now: i64,
    ) -> Result<bool, StoreError> {
        Ok(session::Entity::find_by_id(id.to_owned())
            .filter(session::Column::UserId.eq(user_id))
            .filter(session::Column::RevokedAt.is_null())
            .filter(session::Column::ExpiresAt.gt(now))
            .one(&self.db)
            .await?
            .is_some())
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
