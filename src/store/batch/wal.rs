//! `durability: full` on SQLite without an fsync on the writer's thread.
//!
//! With `synchronous=FULL`, SQLite syncs its write-ahead log inside every `COMMIT`,
//! and the writer can start nothing else until the disk answers: that wait was a third
//! of the writer's time per batch. Instead the writer's connection commits with
//! `synchronous=NORMAL` (the WAL is written, not yet synced) and hands the batch on;
//! [`WalSync`] then syncs the WAL on another thread, once for every batch committed
//! since the last sync, and only after that are the batch's commands answered and its
//! events published. The disk holds every acknowledged batch, as with `FULL`, while the
//! writer already runs the next one: group commit for the fsync as well.
//!
//! Why this is sound on Linux: `fsync` syncs the file (the inode), whichever
//! descriptor asks, and covers every `write` that returned before it was called. The
//! WAL's frames are checksummed in a chain, so recovery after a power cut replays the
//! synced prefix of commits and stops at the first frame that did not reach the disk.
//! SQLite itself syncs around each checkpoint and when the WAL starts over (its
//! `NORMAL` does that much), and it never replaces the WAL file while a connection (the
//! writer's) has it open.
//!
//! What readers see: another connection may read a batch between its `COMMIT` and its
//! sync. Only a power cut in that window (under a millisecond) could take back what such
//! a read showed, and the batch's senders were never told it was stored.

use std::{
    fs::{File, OpenOptions},
    io,
    path::PathBuf,
};

/// Syncs the write-ahead log of one SQLite database file.
pub struct WalSync {
    wal: PathBuf,
    /// Opened at the first sync: the WAL exists from the writer's first commit on.
    file: Option<File>,
}

impl WalSync {
    /// The syncer of the database at `database` (its WAL is `<database>-wal`).
    pub(super) fn new(database: &std::path::Path) -> Self {
        let mut wal = database.as_os_str().to_owned();
        wal.push("-wal");
        Self {
            wal: wal.into(),
            file: None,
        }
    }

    /// Makes every batch committed before this call durable.
    ///
    /// The first sync also syncs the WAL's directory. A WAL made in this run is on
    /// the disk only once its name is, and on the writer's own connection SQLite syncs
    /// the directory at its first sync of the WAL, which with `synchronous=NORMAL`
    /// comes only at the first checkpoint, after batches were acknowledged. A commit
    /// of the pool's (`synchronous=FULL`) syncs it earlier; the power-cut test, which
    /// also restarts after clean stops, never lost the WAL without this line, but
    /// nothing promises that such a commit comes first, and one directory sync per run
    /// costs nothing. One is enough: the writer keeps the WAL open, so SQLite never
    /// replaces it.
    pub fn sync(&mut self) -> io::Result<()> {
        let file = match &mut self.file {
            Some(file) => file,
            None => {
                let file = OpenOptions::new().write(true).open(&self.wal)?;
                file.sync_data()?;
                if let Some(dir) = self.wal.parent() {
                    crate::durable::sync_dir(dir)?;
                }
                self.file.insert(file)
            }
        };
        file.sync_data()
    }
}
