//! The schedule the daemon runs, recorded in the state directory: the text of the last good
//! version of the file (at start and after each accepted edit), so that `status` can show the
//! daemon's schedule even while the file on disk is invalid.

use crate::shell::state::{text_hash, RunningSchedule, Store};
use chrono::{DateTime, Utc};
use std::path::Path;
use tracing::warn;

/// Records the file the daemon has just loaded (`path`, at `now`).
pub(super) fn record_schedule(path: &Path, store: &Store, now: DateTime<Utc>) {
    let Some(text) = crate::shell::schedule::read_text(path) else {
        warn!(schedule = %path.display(), "cannot read the schedule again to record it for `status`");
        return;
    };
    // The file may have been edited since it was loaded: record it only if it is still
    // valid (an edit in between is reloaded, and recorded, right after).
    if crate::core::config::validate(&text, crate::sys::os::machine_zone).is_err() {
        return;
    }
    let modified = std::fs::metadata(path)
        .and_then(|m| m.modified())
        .ok()
        .map(DateTime::<Utc>::from);
    let record = RunningSchedule {
        path: path.display().to_string(),
        loaded_at: now,
        modified,
        hash: text_hash(&text),
        text,
    };
    if let Err(e) = store.update(|s| s.schedule = Some(record)) {
        warn!(error = %e, "cannot record the schedule in the state directory");
    }
}
