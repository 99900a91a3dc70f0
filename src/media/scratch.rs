//! Where this node's uploads arrive: a directory of its own under `<media>/tmp`,
//! held by a lock on a file in it for as long as the process runs.
//!
//! Several nodes may share one media directory. At start a node removes what uploads
//! a stop or crash cut off: the directories under `tmp` that no running node holds
//! (their lock can be taken), never another node's upload in progress. The lock is
//! the operating system's (`flock`), released when the process dies however it dies.

use std::{
    fs::{self, File},
    io,
    os::unix::fs::MetadataExt,
    path::{Path, PathBuf},
    sync::Arc,
};

/// The lock file in each node's scratch directory.
const LOCK: &str = ".held";

/// This node's scratch directory, held while any clone of it lives.
#[derive(Clone)]
pub struct ScratchDir {
    path: PathBuf,
    _held: Arc<File>,
}

impl ScratchDir {
    /// Clears what no running node holds under `tmp`, then makes and holds a
    /// directory of this node's there.
    pub fn take(tmp: &Path) -> io::Result<Self> {
        crate::durable::create_dir_all(tmp)?;
        for entry in fs::read_dir(tmp)? {
            let path = entry?.path();
            if path.is_dir() {
                if held_by_nobody(&path)? {
                    remove(fs::remove_dir_all(&path))?;
                }
            } else {
                // A file of the layout before scratch directories, or a lock of one
                // being made: the former is an upload cut off; the latter is inside
                // its directory, so nothing here is.
                remove(fs::remove_file(&path))?;
            }
        }
        loop {
            let path = tmp.join(uuid::Uuid::new_v4().simple().to_string());
            fs::create_dir(&path)?;
            let lock = path.join(LOCK);
            let held = File::create_new(&lock)?;
            held.lock()?;
            // Another node starting at this moment may have found the lock free before
            // it was taken, and removed the directory: then make another.
            match fs::metadata(&lock) {
                Ok(meta) if meta.ino() == held.metadata()?.ino() => {
                    return Ok(Self {
                        path,
                        _held: Arc::new(held),
                    });
                }
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Whether no process holds the scratch directory `dir`: its lock can be taken, or it
/// has none (its node died before it made one).
fn held_by_nobody(dir: &Path) -> io::Result<bool> {
    let lock = match File::open(dir.join(LOCK)) {
        Ok(lock) => lock,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(true),
        Err(e) => return Err(e),
    };
    match lock.try_lock() {
        Ok(()) => Ok(true),
        Err(fs::TryLockError::WouldBlock) => Ok(false),
        Err(fs::TryLockError::Error(e)) => Err(e),
    }
}

/// Gone already (another node starting cleared it first) is as good as removed.
fn remove(removed: io::Result<()>) -> io::Result<()> {
    match removed {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_node_clears_what_no_running_node_holds_and_keeps_what_one_does() {
        let media = tempfile::tempdir().expect("a temp dir");
        let tmp = media.path().join("tmp");
        let running = ScratchDir::take(&tmp).expect("a scratch directory");
        fs::write(running.path().join("upload.part"), b"in progress").expect("written");
        let stopped = ScratchDir::take(&tmp).expect("a scratch directory");
        fs::write(stopped.path().join("upload.part"), b"cut off").expect("written");
        let stopped_path = stopped.path().to_owned();
        drop(stopped);
        fs::write(tmp.join("old.part"), b"cut off, old layout").expect("written");

        let starting = ScratchDir::take(&tmp).expect("a scratch directory");

        assert!(
            running.path().join("upload.part").exists(),
            "a running node's upload stays"
        );
        assert!(
            !stopped_path.exists(),
            "a stopped node's scratch is cleared"
        );
        assert!(
            !tmp.join("old.part").exists(),
            "the old layout's leftovers are cleared"
        );
        assert!(starting.path().is_dir());
        assert_ne!(starting.path(), running.path());
    }
}
