//! Users: create, find, search.
//!
//! The look-ups by id take any connection, so that `hello` and the conversation list
//! read their users inside their own read snapshot.
//!
//! The search reads `user_search_term` (see `entity::user_search_term`), which every
//! write of a name keeps current in the same transaction: here for new users (local
//! and from Matrix), in the engine's batch for renames.

use entity::{user, user_search_term};
use gadka_text::search::{self, Rank};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait,
    DatabaseConnection, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Select,
    TransactionTrait,
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
        match insert_user(&self.db, row).await {
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

    /// Users with a search term that begins with `key` (a search key:
    /// `gadka_text::search::key`): those whose username or whole display name begins
    /// with it first, then those with a word that does; each part in the order of the
    /// term found, then of user id. At most `limit`.
    ///
    /// Each part is read as pages of one index range in index order, so a search reads
    /// about `limit` index entries and as many users, however many users there are.
    /// A user can have several terms in the range; a page that brought repeats is
    /// followed by the next one until `limit` users are found or the range ends.
    pub async fn search_users(&self, key: &str, limit: u64) -> Result<Vec<UserRow>, StoreError> {
        let upper = search::after_prefix(key);
        let page = limit.saturating_mul(2);
        let mut found: Vec<UserId> = Vec::new();
        for rank in Rank::ALL {
            let mut after: Option<(String, i64)> = None;
            while (found.len() as u64) < limit {
                let rows: Vec<(String, i64)> =
                    terms_page(rank, key, upper.as_deref(), after.as_ref(), page)
                        .into_tuple()
                        .all(&self.db)
                        .await?;
                for (_, id) in &rows {
                    let id = UserId::new(*id);
                    if (found.len() as u64) < limit && !found.contains(&id) {
                        found.push(id);
                    }
                }
                if (rows.len() as u64) < page {
                    break;
                }
                after = rows.into_iter().next_back();
            }
        }
        let mut users = by_ids(&self.db, found.iter().copied()).await?;
        users.sort_by_key(|user| found.iter().position(|id| *id == user.id));
        Ok(users)
    }
}

/// One page of `(term, user_id)` of a rank whose term begins with `key` (is at least
/// `key` and below `upper`), past `after`, in index order. Past a page the range starts
/// at the last term read, not at `key`, so no page reads the ones before it again.
fn terms_page(
    rank: Rank,
    key: &str,
    upper: Option<&str>,
    after: Option<&(String, i64)>,
    page: u64,
) -> Select<user_search_term::Entity> {
    use user_search_term::Column;
    let mut query = user_search_term::Entity::find()
        .select_only()
        .columns([Column::Term, Column::UserId])
        .filter(Column::Rank.eq(rank.number()));
    query = match after {
        None => query.filter(Column::Term.gte(key)),
        Some((term, user_id)) => query.filter(Column::Term.gte(term.as_str())).filter(
            Condition::any()
                .add(Column::Term.gt(term.as_str()))
                .add(Column::UserId.gt(*user_id)),
        ),
    };
    if let Some(upper) = upper {
        query = query.filter(Column::Term.lt(upper));
    }
    query
        .order_by_asc(Column::Term)
        .order_by_asc(Column::UserId)
        .limit(page)
}

/// Inserts a user and their search terms in one transaction.
pub(super) async fn insert_user(
    db: &DatabaseConnection,
    row: user::ActiveModel,
) -> Result<user::Model, DbErr> {
    let txn = db.begin().await?;
    let user = row.insert(&txn).await?;
    insert_terms(&txn, user.id, &user.username, &user.display_name).await?;
    txn.commit().await?;
    Ok(user)
}

/// Replaces a user's search terms with those of the names they have now; a
/// deactivated user gets none, so that the search does not find them.
pub(super) async fn replace_terms(db: &impl ConnectionTrait, user: &UserRow) -> Result<(), DbErr> {
    user_search_term::Entity::delete_many()
        .filter(user_search_term::Column::UserId.eq(user.id.get()))
        .exec(db)
        .await?;
    if user.deactivated_at.is_some() {
        return Ok(());
    }
    insert_terms(db, user.id.get(), &user.username, &user.display_name).await
}

async fn insert_terms(
    db: &impl ConnectionTrait,
    user_id: i64,
    username: &str,
    display_name: &str,
) -> Result<(), DbErr> {
    let rows: Vec<user_search_term::ActiveModel> = search::terms(username, display_name)
        .into_iter()
        .map(|term| user_search_term::ActiveModel {
            rank: Set(term.rank.number()),
            term: Set(term.text),
            user_id: Set(user_id),
        })
        .collect();
    if rows.is_empty() {
        return Ok(());
    }
    user_search_term::Entity::insert_many(rows)
        .exec_without_returning(db)
        .await?;
    Ok(())
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

#[cfg(test)]
mod tests {
    use migration::{Migrator, MigratorTrait};
    use sea_orm::{Database, DbBackend, PaginatorTrait, QueryTrait, Statement};

    use super::*;
    use crate::config::Durability;

    fn sqlite_url(dir: &tempfile::TempDir) -> String {
        format!(
            "sqlite://{}?mode=rwc",
            dir.path().join("gadka.db").display()
        )
    }

    /// SQLite's plan for a page of the search: one range of the primary key, already
    /// in the order asked for (no sort), for the first page and for a later one.
    #[tokio::test]
    async fn a_search_page_is_one_range_of_the_index_on_sqlite() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let store = Store::connect(&sqlite_url(&dir), Durability::Normal)
            .await
            .expect("a database");
        let key = search::key("Żó");
        let upper = search::after_prefix(&key);
        for after in [None, Some(("zolc".to_owned(), 7))] {
            let sql = terms_page(Rank::Word, &key, upper.as_deref(), after.as_ref(), 40)
                .build(DbBackend::Sqlite)
                .to_string();
            let plan = store
                .db
                .query_all_raw(Statement::from_string(
                    DbBackend::Sqlite,
                    format!("EXPLAIN QUERY PLAN {sql}"),
                ))
                .await
                .expect("a plan");
            let steps: Vec<String> = plan
                .iter()
                .map(|row| row.try_get("", "detail").expect("a step"))
                .collect();
            assert_eq!(
                steps,
                ["SEARCH user_search_term USING PRIMARY KEY (rank=? AND term>? AND term<?)"],
                "{sql}"
            );
        }
    }

    /// Users stored before the search terms existed get theirs from the migration,
    /// across its batches, and are found.
    #[tokio::test]
    async fn the_migration_gives_existing_users_their_terms() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let url = sqlite_url(&dir);
        let before = Database::connect(&url).await.expect("a database");
        let applied_before = Migrator::migrations()
            .iter()
            .position(|m| m.name() == "m20261203_000001_user_search_term")
            .expect("the search's migration") as u32;
        Migrator::up(&before, Some(applied_before))
            .await
            .expect("the schema before");
        let users = 2_500;
        let mut values = Vec::new();
        for i in 1..=users {
            let name = if i == 1_234 {
                "Łukasz Żółć"
            } else {
                "Anna Nowak"
            };
            values.push(format!("({i}, 'user{i}', '{name}', 0)"));
        }
        before
            .execute_unprepared(&format!(
                r#"INSERT INTO "user" (id, username, display_name, created_at) VALUES {}"#,
                values.join(", ")
            ))
            .await
            .expect("users of before");
        before.close().await.expect("closed");

        let store = Store::connect(&url, Durability::Normal)
            .await
            .expect("migrated");
        let terms = user_search_term::Entity::find()
            .count(&store.db)
            .await
            .expect("a count");
        // user1234: "user1234", "lukasz zolc", "zolc"; the others "user…", "anna
        // nowak", "nowak".
        assert_eq!(terms, 3 * users);
        let found = store
            .search_users(&search::key("żółć"), 10)
            .await
            .expect("a search");
        let found: Vec<&str> = found.iter().map(|u| u.username.as_str()).collect();
        assert_eq!(found, ["user1234"]);
        let last = store
            .search_users(&search::key("user2500"), 10)
            .await
            .expect("a search");
        assert_eq!(last.len(), 1, "the last batch too");
    }
}
