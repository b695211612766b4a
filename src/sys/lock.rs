//! File locks: one lock file, held by one process at a time.
//!
//! Owns: opening a lock file safely (created if needed, never through a symbolic link or
//! reparse point planted in its place: `trust::open_no_follow`'s rule) and taking the OS's
//! exclusive advisory lock on it (`flock` on Unix, `LockFileEx` on Windows, through std). The
//! OS releases a lock when its process dies, so a crash never leaves one stuck. Knows nothing
//! of what a lock protects: the state directory (`shell::state`) names the files.

use std::fs::File;
use std::io;
use std::path::Path;

/// A held lock; dropping it releases the lock.
#[derive(Debug)]
pub struct Held {
    _file: File,
}

/// Opens the lock file `path` (created if needed; a symbolic link in its place is refused).
fn open(path: &Path) -> io::Result<File> {
    crate::sys::trust::open_no_follow(
        path,
        std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true),
    )
}

/// Takes the lock `path` if no one holds it; `None` if someone does.
pub fn try_lock(path: &Path) -> io::Result<Option<Held>> {
    let file = open(path)?;
    match file.try_lock() {
        Ok(()) => Ok(Some(Held { _file: file })),
        Err(std::fs::TryLockError::WouldBlock) => Ok(None),
        Err(std::fs::TryLockError::Error(e)) => Err(e),
    }
}

/// Takes the lock `path`, blocking the thread until whoever holds it lets go.
pub fn lock(path: &Path) -> io::Result<Held> {
    let file = open(path)?;
    file.lock()?;
    Ok(Held { _file: file })
}

/// Whether someone holds the lock `path`. Creates nothing: no file (or one that cannot be
/// opened) means no holder. A lock this process holds through another `Held` counts too.
/// Opens the file for reading only (a lock needs no more: Unix `flock`, Windows `LockFileEx`
/// with a read handle), so a user who may only read the state directory — a monitoring agent
/// running `health` — sees the holder too.
pub fn is_held(path: &Path) -> bool {
    let Ok(file) = crate::sys::trust::open_no_follow(path, std::fs::OpenOptions::new().read(true))
    else {
        return false;
    };
    file.try_lock().is_err()
}

/// Locks an open data file (not a lock file) while this process renames it, where the OS lets
/// two processes rename safely that way: Unix's advisory `flock` stops no one's writes. On
/// Windows nothing is taken (`None`): a lock there blocks the other process's writes to the
/// file. The lock ends when the returned file is dropped.
pub fn lock_while_renaming(path: &Path) -> Option<File> {
    #[cfg(unix)]
    return File::open(path).and_then(|f| f.lock().map(|()| f)).ok();
    #[cfg(not(unix))]
    {
        let _ = path;
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_holder_at_a_time_and_dropping_releases() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.lock");
        assert!(!is_held(&path), "no file, no holder");
        assert!(!path.exists(), "asking creates nothing");
        let held = try_lock(&path).unwrap().expect("free");
        assert!(is_held(&path));
        assert!(try_lock(&path).unwrap().is_none(), "held already");
        drop(held);
        assert!(!is_held(&path));
        let _again = lock(&path).unwrap();
        assert!(try_lock(&path).unwrap().is_none());
    }

    #[cfg(unix)]
    #[test]
    fn a_planted_link_is_refused_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("elsewhere");
        std::fs::write(&target, "keep").unwrap();
        let path = dir.path().join("w.lock");
        std::os::unix::fs::symlink(&target, &path).unwrap();
        let err = try_lock(&path).unwrap_err();
        assert!(err.to_string().contains("symbolic link"), "{err}");
        assert!(lock(&path).is_err());
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "keep");
    }
}
