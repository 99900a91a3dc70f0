//! The only place that talks SeaORM: connecting, migrating, and the queries and
//! mutations the chat rules need, grouped by table. Functions here answer questions
//! and make changes; they do not decide who may do what (that is `chat/`).

mod conversations;
mod messages;
mod sessions;
mod users;

use std::time::Duration;

use migration::{Migrator, MigratorTrait};
use sea_orm::{
    ConnectOptions, Database, DatabaseConnection, DbErr, SqlErr, sqlx::sqlite::SqliteJournalMode,
};

pub use messages::{Committed, NewMessage};
pub use sessions::NewSession;
pub use users::NewUser;

/// A handle on the database; cheap to clone.
#[derive(Debug, Clone)]
pub struct Store {
    db: DatabaseConnection,
}

impl Store {
    /// Connects and brings the schema up to date.
    ///
    /// SQLite runs in WAL mode so readers never wait for the writer, with
    /// `synchronous=FULL` (sqlx's default) so a commit that was acknowledged survives a
    /// power cut, and a busy timeout so concurrent writers queue instead of failing.
    pub async fn connect(url: &str) -> Result<Self, DbErr> {
        let mut options = ConnectOptions::new(url);
        options
            .sqlx_logging(false)
            .connect_timeout(Duration::from_secs(10))
            .map_sqlx_sqlite_opts(|o| {
                o.journal_mode(SqliteJournalMode::Wal)
                    .busy_timeout(Duration::from_secs(10))
                    .foreign_keys(true)
            });
        let db = Database::connect(options).await?;
        Migrator::up(&db, None).await?;
        Ok(Self { db })
    }

    /// Whether the database answers.
    pub async fn ping(&self) -> Result<(), DbErr> {
        self.db.ping().await
    }

    /// Closes the pool, waiting for connections in use to be returned.
    pub async fn close(self) -> Result<(), DbErr> {
        self.db.close().await
    }
}

/// Whether an error is a unique-constraint violation (a race the caller resolves).
fn is_unique_violation(err: &DbErr) -> bool {
    matches!(err.sql_err(), Some(SqlErr::UniqueConstraintViolation(_)))
}
