//! `user`: an account.

use sea_orm::entity::prelude::*;

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "user")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// Lower-case, unique: usernames are case-insensitive, so they are stored folded.
    #[sea_orm(unique)]
    pub username: String,
    pub display_name: String,
    /// argon2id PHC string; `None` for an account that cannot log in here.
    pub password_hash: Option<String>,
    pub created_at: i64,
    /// The Matrix ID of a user who lives on Matrix (the bridge's); `None` for local users.
    #[sea_orm(unique)]
    pub matrix_id: Option<String>,
    /// When an admin deactivated the account (`gadka admin user deactivate`); `None`
    /// while it is active. A deactivated user cannot log in and is not found.
    pub deactivated_at: Option<i64>,
}

impl ActiveModelBehavior for ActiveModel {}
