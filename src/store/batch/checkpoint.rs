//! WAL checkpoints off the writer's thread.
//!
//! SQLite's own checkpoint runs inside the `COMMIT` that takes the write-ahead log past
//! 1,000 pages: that commit's batch, and every batch queued behind it, waits while
//! pages are copied into the database file and both files are synced. Those waits were
//! the open-loop tail (p99). Here the writer's connection does not checkpoint as it
//! commits. A [`Checkpointer`] thread, on its own connection, runs a `PASSIVE`
//! checkpoint when the WAL passes [`CHECKPOINT_BYTES`]; a passive checkpoint takes no
//! write lock, so the writer goes on committing meanwhile.
//!
//! The WAL starts over from its beginning only when a write transaction begins while
//! every frame in it is checkpointed. Under a steady load the background checkpoint
//! never quite catches up with the writer, so once the WAL passes [`RESTART_BYTES`]
//! the writer checkpoints what is left itself, between two batches: at most the
//! frames written since the last background checkpoint began. That is one short stall
//! per [`RESTART_BYTES`] instead of a long one per 1,000 pages, and the WAL file stays
//! about [`RESTART_BYTES`] long.
//!
//! SQLite runs one checkpoint at a time and a second one gives up at once ("busy"),
//! busy handler or not. Under a steady load the background thread is nudged again as
//! soon as it finishes, so on a busy machine the writer's checkpoint kept losing to it
//! and the WAL grew on past the bound (105 MB against 68 MB, seen in CI). So the two
//! take turns ([`Turn`]): the writer says it is waiting, the background skips its
//! nudges while it does, and the writer waits at most for the one background
//! checkpoint already running. Then the writer's checkpoint always runs, and only a
//! reader still reading old pages can hold the WAL back (reads are short: the next
//! batch tries again).
//!
//! A deleted message's words must leave the files too, and the WAL still holds the
//! pages that carried them. After a batch that erased a text the background thread
//! runs a `TRUNCATE` checkpoint: every frame copied into the database file (where
//! `secure_delete` has zeroed the text) and the WAL cut to nothing. Deletes within
//! [`ERASE_EVERY`] share one, and one a reader held back is tried again then.

use std::{
    cell::Cell,
    path::Path,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
        mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError, sync_channel},
    },
    thread::JoinHandle,
    time::{Duration, Instant},
};

use rusqlite::{Connection, hooks::Wal};

use crate::store::StoreError;

/// WAL growth after which a background checkpoint is started: SQLite's default
/// `wal_autocheckpoint`, 1,000 pages of 4 KiB. The limits are in bytes, and counted
/// in pages of the database's own size, so that a file made before the page size
/// changed (see `store::SQLITE_PAGE_SIZE`) is checkpointed as often as a new one.
const CHECKPOINT_BYTES: i64 = 4_096_000;

/// WAL length after which the writer checkpoints the rest itself, so that the WAL can
/// start over: 64 MiB. Measured at 10,000 messages/s with 4 KiB pages, writer batches
/// slower than 5 ms were about half as many as with 16 MiB, and a sixth to a tenth as
/// many as with SQLite checkpointing every 1,000 pages on the writer.
pub(crate) const RESTART_BYTES: i64 = 64 * 1024 * 1024;

thread_local! {
    /// Pages in the WAL after the last commit on this thread's connection, as SQLite's
    /// WAL hook reported them. The hook is a plain function called on the committing
    /// thread, so a thread-local is where it can leave its count for that thread.
    static WAL_FRAMES: Cell<i32> = const { Cell::new(0) };
}

fn note_frames(_: &Wal, frames: std::os::raw::c_int) -> rusqlite::Result<()> {
    WAL_FRAMES.set(frames);
    Ok(())
}

/// How often, at most, the WAL is truncated after deletes, and how soon one that a
/// reader held back is tried again.
const ERASE_EVERY: Duration = Duration::from_secs(1);

/// Whose checkpoint runs: one at a time, and the writer's before any further
/// background one.
#[derive(Default)]
struct Turn {
    running: Mutex<()>,
    writer_waiting: AtomicBool,
    /// A batch erased a text whose old copies may still be in the WAL.
    erase_wanted: AtomicBool,
}

impl Turn {
    fn take(&self) -> std::sync::MutexGuard<'_, ()> {
        // The lock guards no data, so a panic while it was held left nothing to repair.
        self.running
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The background checkpoint of one database file, and what the writer's connection
/// does after each commit.
pub(super) struct Checkpointer {
    turn: Arc<Turn>,
    nudge: Option<SyncSender<()>>,
    thread: Option<JoinHandle<()>>,
    /// The WAL length at which the next background checkpoint starts.
    next_nudge: i32,
    /// [`CHECKPOINT_BYTES`] and [`RESTART_BYTES`] in the database's pages.
    checkpoint_frames: i32,
    restart_frames: i32,
}

impl Checkpointer {
    /// Takes checkpoints away from `writer`'s commits (its WAL hook replaces SQLite's
    /// automatic checkpoint) and starts the thread that runs them on a connection
    /// `connect` opens.
    pub(super) fn start(
        writer: &Connection,
        path: &Path,
        connect: impl FnOnce(&Path) -> Result<Connection, StoreError>,
    ) -> Result<Self, StoreError> {
        let conn = connect(path)?;
        let page_size: i64 = writer.query_row("PRAGMA page_size", [], |row| row.get(0))?;
        let frames = |bytes: i64| i32::try_from(bytes / page_size.max(512)).unwrap_or(i32::MAX);
        let checkpoint_frames = frames(CHECKPOINT_BYTES);
        writer.wal_hook(Some(note_frames));
        let (nudge, nudged) = sync_channel(1);
        let turn = Arc::new(Turn::default());
        let background = turn.clone();
        let thread = std::thread::Builder::new()
            .name("gadka-checkpoint".into())
            .spawn(move || run(conn, nudged, &background))
            .map_err(|_| StoreError::Inconsistent("cannot start the checkpoint thread"))?;
        Ok(Self {
            turn,
            nudge: Some(nudge),
            thread: Some(thread),
            next_nudge: checkpoint_frames,
            checkpoint_frames,
            restart_frames: frames(RESTART_BYTES),
        })
    }

    /// After a commit on the writer's connection (on the thread that committed):
    /// starts a background checkpoint each time the WAL has grown by
    /// [`CHECKPOINT_BYTES`]. It cannot fail the batch, which is committed already;
    /// should the thread be gone, [`Checkpointer::beginning`] still bounds the WAL.
    pub(super) fn committed(&mut self) {
        let frames = WAL_FRAMES.get();
        if frames < self.next_nudge.saturating_sub(self.checkpoint_frames) {
            // The WAL started over.
            self.next_nudge = self.checkpoint_frames;
        }
        if frames < self.next_nudge {
            return;
        }
        self.next_nudge = frames.saturating_add(self.checkpoint_frames);
        if let Some(nudge) = &self.nudge
            && let Err(TrySendError::Disconnected(())) = nudge.try_send(())
        {
            tracing::error!("the WAL checkpoint thread has stopped");
        }
    }

    /// After a commit that erased a message's text: the WAL's old copies of it go
    /// within [`ERASE_EVERY`] or so (see the module's doc).
    pub(super) fn erase_soon(&self) {
        self.turn.erase_wanted.store(true, Ordering::SeqCst);
    }

    /// Before a batch begins on `writer`: when the WAL is too long, checkpoints what
    /// the background has not, so that this batch starts the WAL over.
    pub(super) fn beginning(&self, writer: &Connection) -> Result<(), StoreError> {
        if WAL_FRAMES.get() < self.restart_frames {
            return Ok(());
        }
        let started = Instant::now();
        self.turn.writer_waiting.store(true, Ordering::SeqCst);
        let checkpointed = {
            let _turn = self.turn.take();
            checkpoint(writer)
        };
        self.turn.writer_waiting.store(false, Ordering::SeqCst);
        checkpointed?;
        // The next commit reports the WAL's length again; a batch run again after a
        // conflict does not checkpoint twice.
        WAL_FRAMES.set(0);
        metrics::histogram!("gadka_writer_checkpoint_seconds", "thread" => "writer")
            .record(started.elapsed().as_secs_f64());
        Ok(())
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        drop(self.nudge.take());
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            tracing::error!("the checkpoint thread panicked");
        }
    }
}

fn run(conn: Connection, nudged: Receiver<()>, turn: &Turn) {
    let mut last_erase = Instant::now();
    loop {
        let nudge = match nudged.recv_timeout(ERASE_EVERY) {
            Ok(()) => true,
            Err(RecvTimeoutError::Timeout) => false,
            Err(RecvTimeoutError::Disconnected) => return,
        };
        if last_erase.elapsed() >= ERASE_EVERY && turn.erase_wanted.swap(false, Ordering::SeqCst) {
            last_erase = Instant::now();
            let _turn = turn.take();
            if !erase(&conn) {
                turn.erase_wanted.store(true, Ordering::SeqCst);
            }
            // A truncated WAL needs no passive checkpoint.
            continue;
        }
        // The writer checkpoints everything itself; this nudge's pages are among them.
        if !nudge || turn.writer_waiting.load(Ordering::SeqCst) {
            continue;
        }
        let started = Instant::now();
        let _turn = turn.take();
        match checkpoint(&conn) {
            Ok(()) => {
                metrics::histogram!("gadka_writer_checkpoint_seconds", "thread" => "background")
                    .record(started.elapsed().as_secs_f64())
            }
            // The next nudge tries again; the writer checkpoints itself if none succeeds.
            Err(e) => tracing::warn!(error = %e, "a background WAL checkpoint failed"),
        }
    }
}

/// Copies the whole WAL into the database file and truncates it; `false` when a reader
/// or a writer held it back (SQLite waits for them up to the busy timeout).
fn erase(conn: &Connection) -> bool {
    let started = Instant::now();
    match conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |row| {
        row.get::<_, i64>(0)
    }) {
        Ok(0) => {
            metrics::histogram!("gadka_writer_checkpoint_seconds", "thread" => "erase")
                .record(started.elapsed().as_secs_f64());
            true
        }
        Ok(_) => false,
        Err(e) => {
            tracing::warn!(error = %e, "truncating the WAL after a delete failed");
            false
        }
    }
}

/// Copies what it can of the WAL into the database file without waiting for a lock.
/// "Busy" (another checkpoint is running, or a reader still needs old pages) is not an
/// error: what is left waits for the next one.
fn checkpoint(conn: &Connection) -> Result<(), StoreError> {
    conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))?;
    Ok(())
}
