//! The operator's tools: `gadka admin user …` (`users.rs`), `gadka backup`
//! (`backup.rs`) and `gadka migrate` (`migrate.rs`), for the first bad day of a real
//! server and for rolling several nodes.
//!
//! They run in a process of their own and work on the database directly, whether or
//! not a server is running on it: SQLite in WAL mode lets another process read
//! beside the server and write between its batches (each change here is one short
//! transaction, waiting for the server's writer under the busy timeout), and
//! PostgreSQL takes any number of clients. A running server learns of what they did
//! from the database itself: every HTTP request reads its session's row, and each
//! server polls for revoked sessions to close their sockets (`chat/accounts/
//! revocations.rs`). Nothing is sent to a server, so it works the same with one
//! server, none, or several sharing a database.
//!
//! The rules are `chat/`'s (usernames, passwords and their hashing) and the reads and
//! writes are `store/`'s; this module only finds the user, calls them, and words the
//! outcome. `main.rs` hands it the settings, standard output and standard input.

mod backup;
mod migrate;
mod users;

use std::{io, path::PathBuf};

pub use backup::backup;
pub use migrate::migrate;
pub use users::run_user;

use crate::{chat::ChatError, store::StoreError};

/// Why an operator's command failed: one line for the terminal, exit code 1.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("no user named {0:?}")]
    UnknownUser(String),
    #[error(
        "{0} lives on Matrix and has no account here to change: leave them out of \
         bridge.permissions, or act on the homeserver"
    )]
    MatrixUser(String),
    #[error(
        "there is no database at {0} (set --data-dir, GADKA_DATA_DIR or server.data_dir to \
         the server's, or database.url)"
    )]
    NoDatabase(PathBuf),
    #[error("cannot open the database: {0}")]
    Open(#[source] StoreError),
    #[error("the database: {0}")]
    Store(#[from] StoreError),
    #[error("the new password: {0}")]
    Password(#[source] ChatError),
    #[error("cannot read the new password from standard input: {0}")]
    Stdin(#[source] io::Error),
    #[error("standard input holds no password (--password-stdin reads its first line)")]
    NoPassword,
    #[error("cannot write the output: {0}")]
    Output(#[from] io::Error),
    #[error("{0} exists already: a backup never replaces a file")]
    BackupExists(PathBuf),
    #[error(
        "gadka backup copies an SQLite database, and database.url is PostgreSQL: back it \
         up with pg_dump (pg_dump --format=custom --file FILE 'URL'), restore with pg_restore"
    )]
    NotSqlite,
    #[error("cannot write the backup {path}: {source}")]
    BackupWrite {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("the backup failed: {0}")]
    Backup(#[source] StoreError),
}
