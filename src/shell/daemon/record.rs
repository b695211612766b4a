//! The schedule the daemon runs, recorded in the state directory: the text of the last good
//! version of the file (at start and after each accepted edit), so that `status` can show the
//! daemon's schedule even while the file on disk is invalid.

use super::Daemon;
use crate::shell::state::{text_hash, RunningSchedule};
use chrono::{DateTime, Utc};
use tracing::warn;

impl Daemon {
    /// Records the file the daemon has just loaded (not in a dry run: that one runs nothing).
    pub(super) fn record_schedule(&self) {
        if self.dry_run {
            return;
        }
        let Some(text) = crate::shell::schedule::read_text(&self.path) else {
            warn!(schedule = %self.path.display(), "cannot read the schedule again to record it for `status`");
            return;
        };
        // The file may have been edited since it was loaded: record it only if it is still
        // valid (an edit in between is reloaded, and recorded, right after).
        if crate::core::config::validate(&text, crate::sys::os::machine_zone).is_err() {
            return;
        }
        let modified = std::fs::metadata(&self.path)
            .and_then(|m| m.modified())
            .ok()
            .map(DateTime::<Utc>::from);
        let record = RunningSchedule {
            path: self.path.display().to_string(),
            loaded_at: self.clock.now(),
            modified,
            hash: text_hash(&text),
            text,
        };
        if let Err(e) = self.store().update(|s| s.schedule = Some(record)) {
            warn!(error = %e, "cannot record the schedule in the state directory");
        }
    }
}
