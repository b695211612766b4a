//! Noticing edits of the schedule file.
//!
//! Owns: the file watcher. Watches the file's directory, not the file: editors save by
//! truncating or by writing a new file and renaming it over the old one, and the file may be
//! briefly missing. Sends `()` on every change of that name; the daemon debounces and reloads.

use notify::{RecursiveMode, Watcher};
use std::path::{Path, PathBuf};
use tokio::sync::mpsc;

/// Keeps the OS watch alive; changes arrive on the receiver given by `watch`.
pub struct FileWatch {
    _watcher: notify::RecommendedWatcher,
}

/// Starts watching `file`. Changes to other files in the same directory are ignored.
pub fn watch(file: &Path) -> notify::Result<(FileWatch, mpsc::UnboundedReceiver<()>)> {
    let dir = match file.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = file.file_name().map(|n| n.to_os_string());
    let (tx, rx) = mpsc::unbounded_channel();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        let relevant = match &event {
            Ok(e) => e.paths.iter().any(|p| p.file_name() == name.as_deref()),
            // A watcher error may mean lost events: look at the file again.
            Err(_) => true,
        };
        if relevant && !matches!(&event, Ok(e) if e.kind.is_access()) {
            let _ = tx.send(());
        }
    })?;
    watcher.watch(&dir, RecursiveMode::NonRecursive)?;
    Ok((FileWatch { _watcher: watcher }, rx))
}
