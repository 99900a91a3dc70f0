//! The people search's index: `user_search_term`, the keys each user is found by
//! (`gadka_text::search::terms`), filled in here for every user there is.
//!
//! Searching `lower(name) LIKE '%text%'` read every user and folded only ASCII; a
//! prefix range of folded terms is a few index pages whatever the number of users, and
//! folds every script the same way on SQLite and PostgreSQL, since the folding is done
//! in Rust, not by the database.
//!
//! - The primary key `(rank, term, user_id)` is the index the search reads. On SQLite
//!   the table is `WITHOUT ROWID`, so that index is the table, stored once.
//! - On PostgreSQL `term` is `COLLATE "C"`: compared byte by byte (code point order in
//!   UTF-8), as on SQLite. Under a language's collation a range of the index would not
//!   be the set of terms that begin with a prefix.
//! - `user_id` has an index of its own, to replace a user's terms when they are renamed.

use gadka_text::search::terms;
use sea_orm_migration::{prelude::*, sea_orm::DbBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Users read at a time, and terms written per statement (three values each, far
/// under SQLite's and PostgreSQL's limits on bound values), while filling in: a large
/// user table is never held in memory whole.
const USERS_PER_READ: u64 = 1_000;
const TERMS_PER_INSERT: usize = 1_000;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    /// In one transaction on SQLite too (SeaORM wraps only PostgreSQL's by default):
    /// a start cut short while filling in leaves no half-made table that the next
    /// start would fail to create, and a thousand batches cost one commit, not a
    /// thousand fsyncs.
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let backend = manager.get_database_backend();
        let mut term = ColumnDef::new(UserSearchTerm::Term);
        term.text().not_null();
        if backend == DbBackend::Postgres {
            term.extra(r#"COLLATE "C""#);
        }
        let mut table = Table::create();
        table
            .table(UserSearchTerm::Table)
            .col(
                ColumnDef::new(UserSearchTerm::Rank)
                    .small_integer()
                    .not_null(),
            )
            .col(term)
            .col(
                ColumnDef::new(UserSearchTerm::UserId)
                    .big_integer()
                    .not_null(),
            )
            .primary_key(
                Index::create()
                    .col(UserSearchTerm::Rank)
                    .col(UserSearchTerm::Term)
                    .col(UserSearchTerm::UserId),
            )
            .foreign_key(
                ForeignKey::create()
                    .from(UserSearchTerm::Table, UserSearchTerm::UserId)
                    .to(User::Table, User::Id)
                    .on_delete(ForeignKeyAction::Cascade),
            );
        if backend == DbBackend::Sqlite {
            table.extra("WITHOUT ROWID");
        }
        manager.create_table(table.to_owned()).await?;
        manager
            .create_index(
                Index::create()
                    .name("user_search_term_user")
                    .table(UserSearchTerm::Table)
                    .col(UserSearchTerm::UserId)
                    .to_owned(),
            )
            .await?;
        fill_in(manager).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(UserSearchTerm::Table).to_owned())
            .await
    }
}

/// Gives every existing user their terms, a thousand users at a time in id order.
async fn fill_in(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    let db = manager.get_connection();
    let mut after = 0_i64;
    loop {
        let users = db
            .query_all(
                Query::select()
                    .columns([User::Id, User::Username, User::DisplayName])
                    .from(User::Table)
                    .and_where(Expr::col(User::Id).gt(after))
                    .order_by(User::Id, Order::Asc)
                    .limit(USERS_PER_READ),
            )
            .await?;
        let Some(last) = users.last() else {
            return Ok(());
        };
        after = last.try_get("", "id")?;
        let mut rows = Vec::new();
        for user in &users {
            let id: i64 = user.try_get("", "id")?;
            let username: String = user.try_get("", "username")?;
            let display_name: String = user.try_get("", "display_name")?;
            rows.extend(
                terms(&username, &display_name)
                    .into_iter()
                    .map(|term| (term.rank.number(), term.text, id)),
            );
        }
        for chunk in rows.chunks(TERMS_PER_INSERT) {
            let mut insert = Query::insert();
            insert.into_table(UserSearchTerm::Table).columns([
                UserSearchTerm::Rank,
                UserSearchTerm::Term,
                UserSearchTerm::UserId,
            ]);
            for (rank, term, user_id) in chunk {
                insert
                    .values([(*rank).into(), term.clone().into(), (*user_id).into()])
                    .map_err(|e| DbErr::Custom(e.to_string()))?;
            }
            db.execute(&insert).await?;
        }
    }
}

#[derive(DeriveIden)]
enum User {
    Table,
    Id,
    Username,
    DisplayName,
}

#[derive(DeriveIden)]
enum UserSearchTerm {
    Table,
    Rank,
    Term,
    UserId,
}
