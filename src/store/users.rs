//! Users: create, find, search.
//!
//! The look-ups by id take any connection, so that `hello` and the conversation list
//! read their users inside their own read snapshot.

use entity::user;
use sea_orm::{
    ActiveModelTrait,
    ActiveValue::Set,
    ColumnTrait, Condition, ConnectionTrait, EntityTrait, ExprTrait, Order, QueryFilter,
    QueryOrder, QuerySelect,
    sea_query::{Expr, Func, LikeExpr},
};

use super::{Store, StoreError, UserRow, is_unique_violation};
use crate::ids::UserId;

/// A new account's row.
pub struct NewUser<'a> {
    pub username: &'a str,
    pub display_name: &'a str,
    pub password_hash: &'a str,
    pub created_at: i64,
}

impl Store {
    /// Inserts a user; `Ok(None)` when the username is taken.
    pub async fn create_user(&self, new: NewUser<'_>) -> Result<Option<UserRow>, StoreError> {
        let row = user::ActiveModel {
            username: Set(new.username.to_owned()),
            display_name: Set(new.display_name.to_owned()),
            password_hash: Set(Some(new.password_hash.to_owned())),
            created_at: Set(new.created_at),
            ..Default::default()
        };
        match row.insert(&self.db).await {
            Ok(user) => Ok(Some(user.into())),
            Err(e) if is_unique_violation(&e) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    pub async fn user(&self, id: UserId) -> Result<Option<UserRow>, StoreError> {
        by_id(&self.db, id).await
    }

    /// By folded (lower-case) username.
    pub async fn user_by_username(&self, username: &str) -> Result<Option<UserRow>, StoreError> {
        Ok(user::Entity::find()
            .filter(user::Column::Username.eq(username))
            .one(&self.db)
            .await?
            .map(Into::into))
    }

    pub async fn users(
        &self,
        ids: impl IntoIterator<Item = UserId>,
    ) -> Result<Vec<UserRow>, StoreError> {
        by_ids(&self.db, ids).await
    }

    /// Which of these users exist.
    pub async fn existing_users(&self, ids: &[UserId]) -> Result<Vec<UserId>, StoreError> {
        user::Entity::find()
            .select_only()
            .column(user::Column::Id)
            .filter(user::Column::Id.is_in(ids.iter().copied()))
            .into_tuple()
            .all(&self.db)
            .await
            .map_err(StoreError::from)
    }

    /// Users whose username or display name contains `needle` (already lower-case),
    /// those where either starts with it first, then by username.
    pub async fn search_users(&self, needle: &str, limit: u64) -> Result<Vec<UserRow>, StoreError> {
        let escaped: String = needle
            .chars()
            .flat_map(|c| match c {
                '%' | '_' | '\\' => vec!['\\', c],
                c => vec![c],
            })
            .collect();
        let like = |pattern: String| LikeExpr::new(pattern).escape('\\');
        let username = || Expr::col(user::Column::Username);
        let display = || Expr::expr(Func::lower(Expr::col(user::Column::DisplayName)));
        let prefix = Condition::any()
            .add(username().like(like(format!("{escaped}%"))))
            .add(display().like(like(format!("{escaped}%"))));
        let anywhere = Condition::any()
            .add(username().like(like(format!("%{escaped}%"))))
            .add(display().like(like(format!("%{escaped}%"))));
        Ok(user::Entity::find()
            .filter(anywhere)
            .order_by(
                Into::<Expr>::into(Expr::case(prefix, 0).finally(1)),
                Order::Asc,
            )
            .order_by_asc(user::Column::Username)
            .limit(limit)
            .all(&self.db)
            .await?
            .into_iter()
            .map(Into::into)
            .collect())
    }
}

pub(super) async fn by_id(
    db: &impl ConnectionTrait,
    id: UserId,
) -> Result<Option<UserRow>, StoreError> {
    Ok(user::Entity::find_by_id(id.get())
        .one(db)
        .await?
        .map(Into::into))
}

/// The users of these ids that exist, in one query (none for no ids).
pub(super) async fn by_ids(
    db: &impl ConnectionTrait,
    ids: impl IntoIterator<Item = UserId>,
) -> Result<Vec<UserRow>, StoreError> {
    let ids: Vec<UserId> = ids.into_iter().collect();
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    Ok(user::Entity::find()
        .filter(user::Column::Id.is_in(ids.iter().copied()))
        .all(db)
        .await?
        .into_iter()
        .map(Into::into)
        .collect())
}
