//! `user_search_term`: the keys a user is found by in the people search (see
//! `gadka_text::search`): the username's and the display name's, and their words.
//!
//! The primary key is the search's index: a query is one range of `term` within one
//! `rank`, read in order, so a page of results is the first rows of that range. `term`
//! is compared code point by code point (`COLLATE "C"` on PostgreSQL), as the keys are
//! made to be.

use sea_orm::entity::prelude::*;

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "user_search_term")]
pub struct Model {
    /// 0 for the key of a whole username or display name, 1 for one of their words;
    /// lower ranks are listed first.
    #[sea_orm(primary_key, auto_increment = false)]
    pub rank: i16,
    #[sea_orm(primary_key, auto_increment = false)]
    pub term: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub user_id: i64,
}

impl ActiveModelBehavior for ActiveModel {}
