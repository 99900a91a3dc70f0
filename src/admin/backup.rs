//! `gadka backup FILE`: a consistent copy of the live SQLite database, made while the
//! server runs, that is either whole at FILE or not there at all.
//!
//! The copy is written by `VACUUM INTO` (`store::copy_sqlite`) into a temporary name
//! in FILE's directory, checked, synced, then linked to FILE (a hard link fails
//! rather than replace a file that appeared meanwhile), the temporary name removed,
//! and the directory synced, which makes the new name itself durable. A power cut
//! leaves no FILE or the whole of it; a failure removes the temporary file.

use std::{
    fs, io,
    io::Write,
    path::{Path, PathBuf},
};

use super::AdminError;
use crate::{config::Settings, store};

/// Copies the database `settings` name to `file`, and says so on `out`.
#[tracing::instrument(name = "backup", skip_all, fields(file = %file.display()))]
pub async fn backup(
    settings: &Settings,
    file: &Path,
    out: &mut dyn Write,
) -> Result<(), AdminError> {
    let source = store::sqlite_path(&settings.database_url)
        .map_err(AdminError::Open)?
        .ok_or(AdminError::NotSqlite)?;
    if !source.exists() {
        return Err(AdminError::NoDatabase(source));
    }
    // Said before any work; the link at the end is what guarantees it.
    if fs::symlink_metadata(file).is_ok() {
        return Err(AdminError::BackupExists(file.to_owned()));
    }
    let target = file.to_owned();
    let copied = source.clone();
    let bytes = tokio::task::spawn_blocking(move || write_backup(&copied, &target))
        .await
        .map_err(|e| AdminError::BackupWrite {
            path: file.to_owned(),
            source: io::Error::other(e),
        })??;
    tracing::info!(bytes, "backup written");
    writeln!(
        out,
        "wrote a consistent copy of {} to {} ({bytes} bytes); to restore it, see \
         \"Back it up\" in the README",
        source.display(),
        file.display(),
    )?;
    Ok(())
}

/// The copy, start to end, on a thread that may block; the size of the file written.
fn write_backup(source: &Path, file: &Path) -> Result<u64, AdminError> {
    let dir = match file.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_owned(),
        _ => PathBuf::from("."),
    };
    let name = file
        .file_name()
        .ok_or_else(|| AdminError::BackupWrite {
            path: file.to_owned(),
            source: io::Error::new(io::ErrorKind::InvalidInput, "not a file name"),
        })?
        .to_string_lossy();
    // Hidden, and named after this process, so that two backups at once never share
    // it and one left by a crash is plain to see (and to remove) beside FILE.
    let temp = dir.join(format!(".{name}.partial-{}", std::process::id()));
    let result = copy_and_link(source, &temp, file, &dir);
    match fs::remove_file(&temp) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => {
            tracing::warn!(path = %temp.display(), error = %e, "cannot remove the temporary copy");
        }
        _ => {}
    }
    let bytes = result?;
    // The removal of the temporary name, made durable too.
    sync_dir(&dir).map_err(|source| AdminError::BackupWrite {
        path: dir.clone(),
        source,
    })?;
    Ok(bytes)
}

fn copy_and_link(source: &Path, temp: &Path, file: &Path, dir: &Path) -> Result<u64, AdminError> {
    let write_error = |path: &Path| {
        let path = path.to_owned();
        move |source| AdminError::BackupWrite { path, source }
    };
    // A copy left by an earlier run of a process with this id would fail VACUUM INTO.
    match fs::remove_file(temp) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(write_error(temp)(e)),
        _ => {}
    }
    store::copy_sqlite(source, temp).map_err(AdminError::Backup)?;
    let copy = fs::File::open(temp).map_err(write_error(temp))?;
    // It holds password hashes: readable by its owner only, like the session key.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        copy.set_permissions(fs::Permissions::from_mode(0o600))
            .map_err(write_error(temp))?;
    }
    // SQLite does not sync what VACUUM INTO writes.
    copy.sync_all().map_err(write_error(temp))?;
    let bytes = copy.metadata().map_err(write_error(temp))?.len();
    drop(copy);
    match fs::hard_link(temp, file) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            return Err(AdminError::BackupExists(file.to_owned()));
        }
        Err(e) => return Err(write_error(file)(e)),
    }
    sync_dir(dir).map_err(write_error(dir))?;
    Ok(bytes)
}

/// Syncs a directory, which makes the names made or removed in it durable.
fn sync_dir(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    fs::File::open(dir)?.sync_all()?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}
