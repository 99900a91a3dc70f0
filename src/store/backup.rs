//! `gadka backup`'s copy of a live SQLite database: the one statement, `VACUUM INTO`,
//! and a check of what it wrote. Where the copy goes and how it is made durable is
//! the caller's (`crate::admin::backup`).

use std::{path::Path, time::Duration};

use rusqlite::{Connection, OpenFlags};

use super::StoreError;

/// How long the copy waits for a lock it needs, as the server's connections do.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Writes a consistent copy of the SQLite database `source` into the new file
/// `target`, then checks it (`PRAGMA quick_check`). Blocks the calling thread.
///
/// `VACUUM INTO` reads the whole database in one read transaction, so the copy holds
/// exactly what was committed when it began, while the server goes on writing: in WAL
/// mode a reader never blocks the writer (the WAL grows meanwhile, since a checkpoint
/// cannot pass a reader, and shrinks again after). The copy is compacted, free pages
/// left out. SQLite does not sync what `VACUUM INTO` writes; the caller does.
pub fn copy_sqlite(source: &Path, target: &Path) -> Result<(), StoreError> {
    let target_name = target
        .to_str()
        .ok_or(StoreError::Inconsistent("the backup's path is not UTF-8"))?;
    // Read-write without create: a database that is not there is an error here, not a
    // new empty file; and a reader of a WAL database must be able to use its `-shm`.
    let source = Connection::open_with_flags(
        source,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    source.busy_timeout(BUSY_TIMEOUT)?;
    source.execute("VACUUM INTO ?1", [target_name])?;
    source.close().map_err(|(_, e)| e)?;
    check(target)
}

/// Whether the copy at `path` reads as a whole database, without leaving any file
/// beside it: it is opened immutable, so SQLite takes no lock and makes no `-shm`.
fn check(path: &Path) -> Result<(), StoreError> {
    let copy = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    let verdict: String = copy.query_row("PRAGMA quick_check", [], |row| row.get(0))?;
    if verdict != "ok" {
        tracing::error!(%verdict, "the backup does not check out");
        return Err(StoreError::Inconsistent(
            "the copy does not check out (PRAGMA quick_check)",
        ));
    }
    Ok(())
}
