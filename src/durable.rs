//! Files and directories that survive a power cut whole or not at all.
//!
//! A `write` that returned is in the page cache, not on the disk: only `fsync` puts it
//! there. A new name (a created file or directory, a rename) is part of its directory,
//! so it is on the disk only once that directory is synced; syncing the file itself
//! does not do it. What `gadka serve` makes and relies on goes through here: the data
//! dir and `session.key` (SQLite syncs its own files). `tests/power_cut.rs` cuts the
//! power under gadka on a filesystem that forgets whatever was not synced, from the
//! first start on.

use std::{
    fs,
    io::{self, Write},
    path::Path,
};

/// Writes `bytes` as the file `path`, readable by its owner only, so that whenever the
/// power is cut the file is either absent or complete: into a temporary file beside it,
/// synced, renamed to `path` (a rename within a directory is atomic), and the
/// directory synced, which is what makes the rename itself durable. A temporary file
/// left by a cut before the rename is removed first.
pub fn write_private(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut temp_name = path.as_os_str().to_owned();
    temp_name.push(".tmp");
    let temp = Path::new(&temp_name);
    match fs::remove_file(temp) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(temp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    drop(file);
    fs::rename(temp, path)?;
    sync_dir(parent(path))
}

/// Creates `dir` and whatever of its parents is missing, like
/// [`fs::create_dir_all`], and syncs the directory that holds each, so that a power
/// cut cannot take the directory away with everything later written into it. The
/// directory holding `dir` is synced even when `dir` was there: an earlier start may
/// have made it and been cut off before anything synced its name.
pub fn create_dir_all(dir: &Path) -> io::Result<()> {
    if !dir.is_dir() {
        let holder = parent(dir);
        if holder != dir {
            create_dir_all(holder)?;
        }
        match fs::create_dir(dir) {
            Err(e) if !(e.kind() == io::ErrorKind::AlreadyExists && dir.is_dir()) => {
                return Err(e);
            }
            _ => {}
        }
    }
    sync_dir(parent(dir))
}

/// Makes the entries of `dir` (files created, renamed or removed in it) durable.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    // The parent of a bare file name is the empty path: the current directory.
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    #[cfg(unix)]
    fs::File::open(dir)?.sync_all()?;
    // Elsewhere a directory cannot be opened like a file, and its entries are the
    // filesystem's to keep.
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

/// The directory that holds `path` (`.` for a bare name, `/` for `/`).
fn parent(path: &Path) -> &Path {
    match path.parent() {
        Some(dir) if dir.as_os_str().is_empty() => Path::new("."),
        Some(dir) => dir,
        None => path,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directories_are_made_with_their_parents_and_again_without_harm() {
        let scratch = tempfile::tempdir().expect("a temp dir");
        let dir = scratch.path().join("a/b/c");
        create_dir_all(&dir).expect("made");
        assert!(dir.is_dir());
        create_dir_all(&dir).expect("made again");
        let file = scratch.path().join("a/file");
        fs::write(&file, b"x").expect("a file");
        assert!(create_dir_all(&file).is_err(), "a file is no directory");
    }

    #[test]
    fn a_relative_name_is_written_in_the_current_directory_s_terms() {
        assert_eq!(parent(Path::new("session.key")), Path::new("."));
        assert_eq!(parent(Path::new("/")), Path::new("/"));
        assert_eq!(parent(Path::new("/data/session.key")), Path::new("/data"));
    }
}
