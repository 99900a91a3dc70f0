//! The only place that talks SeaORM: connecting, migrating, and the queries and
//! mutations the chat rules need, grouped by table. Functions here answer questions
//! and make changes; they do not decide who may do what (that is `chat/`).

mod admin;
mod backup;
mod batch;
mod bridge;
mod changes;
mod conversations;
mod lease;
mod media;
mod memberships;
mod messages;
mod outbox;
mod rows;
mod sessions;
mod stream;
mod unread;
mod users;

use std::{
    path::{Path, PathBuf},
    str::FromStr,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use migration::{Migrator, MigratorTrait};
use sea_orm::{
    ConnectOptions, Database, DatabaseConnection, DbErr, SqlErr,
    sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous},
};

use crate::config::Durability;
pub use admin::{AccountCounts, Deactivation};
pub use backup::copy_sqlite;
#[cfg(test)]
pub(crate) use batch::WAL_RESTART_BYTES;
pub use batch::{BatchWriter, NewChange, NewMessage, OutboxEntry, WalSync};
pub use changes::ReplayPage;
pub use conversations::{ConversationList, HelloRows, ListKey};
pub use media::{MediaRow, Released, ThumbnailRow};
pub use outbox::OutboxRow;
pub use rows::{
    Attachment, ChangeKind, ChangeRow, ConversationOfUser, ConversationRow, MessageKind,
    MessageRow, Reaction, UserRow, decode_attachment, decode_reactions, encode_attachment,
    encode_reactions,
};
pub use sessions::{NewSession, RevokedSession};
pub use users::NewUser;

/// The page size of a new SQLite database (SQLite's default is 4096). A batch of
/// messages into many conversations adds a few small entries to one leaf page per
/// conversation in each message index, and the WAL takes every changed page whole: with
/// 2 KiB pages it takes a third less per message. Measured at 16 × 16, `full`, in
/// alternating runs: 135,000-149,000 messages/s against 124,000-126,000 with 4 KiB, and
/// the server's CPU per message about 15% lower. 2 KiB rather than 1 KiB (which did
/// about as well) keeps the longest `txn_id` (128 characters) inside its index page.
/// A database file made before keeps its page size; it can only change by `VACUUM`.
pub(crate) const SQLITE_PAGE_SIZE: u32 = 2048;

/// A handle on the database; cheap to clone.
#[derive(Debug, Clone)]
pub struct Store {
    db: DatabaseConnection,
    queries: Arc<AtomicU64>,
    /// The SQLite database file, which the message writer opens for itself.
    sqlite_file: Option<Arc<str>>,
    durability: Durability,
}

/// What can go wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(transparent)]
    Db(#[from] DbErr),
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The database does not hold what it must (a bug, or a hand-edited database).
    #[error("{0}")]
    Inconsistent(&'static str),
    /// `database.migrate_on_start` is off and the schema is older than this gadka.
    #[error(
        "the database's schema is older than this gadka ({} migrations pending: {}); run `gadka migrate` first",
        .pending.len(),
        .pending.join(", ")
    )]
    SchemaBehind { pending: Vec<String> },
}

impl StoreError {
    /// Whether the database could not be reached at all (down, restarting, a broken
    /// connection), as opposed to refusing a statement: nothing was changed.
    pub fn is_unreachable(&self) -> bool {
        use sea_orm::{RuntimeErr, sqlx};
        let sqlx_unreachable = |e: &RuntimeErr| {
            let RuntimeErr::SqlxError(inner) = e else {
                return false;
            };
            match &**inner {
                sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed => true,
                // The server ended the session: a stalled batch cut off
                // (idle_in_transaction_session_timeout, 25P03), a shutdown or restart
                // (57P01–57P03), a connection lost (class 08).
                sqlx::Error::Database(e) => e.code().is_some_and(|code| {
                    code == "25P03" || code.starts_with("57P0") || code.starts_with("08")
                }),
                _ => false,
            }
        };
        match self {
            Self::Db(DbErr::Conn(_) | DbErr::ConnectionAcquire(_)) => true,
            Self::Db(DbErr::Exec(e) | DbErr::Query(e)) => sqlx_unreachable(e),
            _ => false,
        }
    }
}

/// What connecting does with a schema older than this gadka.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Schema {
    /// Applies the pending migrations.
    Migrate,
    /// Refuses to go on.
    Check,
}

impl Store {
    /// Connects and brings the schema up to date.
    ///
    /// SQLite runs in WAL mode so readers never wait for the writer, and with a busy
    /// timeout so other writers queue instead of failing. `durability` picks
    /// `synchronous=FULL` (an acknowledged commit survives a power cut) or `NORMAL`
    /// (it survives a crash of the process); on PostgreSQL `normal` turns
    /// `synchronous_commit` off, which the server's crash does not touch.
    pub async fn connect(url: &str, durability: Durability) -> Result<Self, StoreError> {
        Self::open(url, durability, Schema::Migrate).await
    }

    /// A store on a new SQLite file in a temporary directory, for unit tests; the
    /// directory goes when the returned guard is dropped.
    #[cfg(test)]
    pub(crate) async fn temporary(durability: Durability) -> (tempfile::TempDir, Self) {
        let dir = tempfile::tempdir().expect("a temp dir");
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display());
        let store = Self::connect(&url, durability).await.expect("a database");
        (dir, store)
    }

    /// Connects; with [`Schema::Check`], refuses a schema that has migrations pending
    /// instead of applying them (`database.migrate_on_start: false`).
    pub async fn open(
        url: &str,
        durability: Durability,
        schema: Schema,
    ) -> Result<Self, StoreError> {
        let sqlite_file = sqlite_file(url)?;
        let mut options = ConnectOptions::new(url);
        options
            .sqlx_logging(false)
            .connect_timeout(Duration::from_secs(10))
            .map_sqlx_sqlite_opts(move |o| {
                o.journal_mode(SqliteJournalMode::Wal)
                    .synchronous(match durability {
                        Durability::Full => SqliteSynchronous::Full,
                        Durability::Normal => SqliteSynchronous::Normal,
                    })
                    .busy_timeout(Duration::from_secs(10))
                    .foreign_keys(true)
                    .page_size(SQLITE_PAGE_SIZE)
            })
            .map_sqlx_postgres_opts(move |o| {
                // gadka's reads are short index probes whose cost the planner can
                // overestimate past `jit_above_cost`: compiling them then took 200 ms
                // of a `hello` that runs in 4 ms.
                let o = o.options([("jit", "off")]);
                match durability {
                    Durability::Full => o,
                    Durability::Normal => o.options([("synchronous_commit", "off")]),
                }
            });
        let mut db = Database::connect(options).await?;
        match schema {
            Schema::Migrate => Migrator::up(&db, None).await?,
            Schema::Check => {
                let pending = Migrator::get_pending_migrations(&db).await?;
                if !pending.is_empty() {
                    return Err(StoreError::SchemaBehind {
                        pending: pending.iter().map(|m| m.name().to_owned()).collect(),
                    });
                }
            }
        }
        let queries = Arc::new(AtomicU64::new(0));
        let counter = queries.clone();
        db.set_metric_callback(move |_| {
            counter.fetch_add(1, Ordering::Relaxed);
            metrics::counter!("gadka_db_queries_total").increment(1);
        });
        Ok(Self {
            db,
            queries,
            sqlite_file,
            durability,
        })
    }

    /// How many statements this store has run: the figure behind "a constant number
    /// of queries per request".
    pub fn query_count(&self) -> u64 {
        self.queries.load(Ordering::Relaxed)
    }

    /// Whether the database answers.
    pub async fn ping(&self) -> Result<(), StoreError> {
        Ok(self.db.ping().await?)
    }

    /// Closes the pool, waiting for connections in use to be returned.
    pub async fn close(self) -> Result<(), StoreError> {
        Ok(self.db.close().await?)
    }
}

/// The database file of an SQLite URL; `None` for another database or an in-memory one.
pub fn sqlite_path(url: &str) -> Result<Option<PathBuf>, StoreError> {
    if !url.starts_with("sqlite:") {
        return Ok(None);
    }
    let options = SqliteConnectOptions::from_str(url)
        .map_err(|e| DbErr::Custom(format!("database.url: {e}")))?;
    let file = options.get_filename();
    if file.as_os_str().is_empty() || file == Path::new(":memory:") {
        return Ok(None);
    }
    Ok(Some(file.to_path_buf()))
}

/// [`sqlite_path`], as the message writer opens it.
fn sqlite_file(url: &str) -> Result<Option<Arc<str>>, StoreError> {
    Ok(sqlite_path(url)?.map(|file| file.to_string_lossy().into()))
}

/// Whether an error is a unique-constraint violation (a race the caller resolves).
fn is_unique_violation(err: &DbErr) -> bool {
    matches!(err.sql_err(), Some(SqlErr::UniqueConstraintViolation(_)))
}
