//! Noticing edits of the schedule file.
//!
//! Owns: the file watcher's use. The OS part (`sys::os::watch_file`) watches the file's
//! directory, not the file: editors save by truncating or by writing a new file and renaming
//! it over the old one, and the file may be briefly missing. Sends `()` on every change of
//! that name (other files of the directory, such as the daemon's own logs, are ignored); the
//! daemon debounces and reloads.

use std::path::Path;
use tokio::sync::mpsc;

pub use crate::sys::os::FileWatch;

/// Starts watching `file`. Changes to other files in the same directory are ignored.
pub fn watch(file: &Path) -> std::io::Result<(FileWatch, mpsc::UnboundedReceiver<()>)> {
    crate::sys::os::watch_file(file)
}
