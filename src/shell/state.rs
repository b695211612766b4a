//! What pacs-warden remembers between runs, and the locks that keep two pacs-warden processes
//! from restarting the same worker at once.
//!
//! Owns: the state directory of a schedule (`Schedule::state_dir`): `state.json` (per worker:
//! the process pacs-warden started, the last sequence and its outcome, supervision and
//! readiness; the schedule the daemon runs) and one lock file per worker. Locks are OS file locks, released by the OS when a process dies, so a crash never
//! leaves one stuck.

use crate::sys::process::ProcId;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct State {
    #[serde(default)]
    pub workers: BTreeMap<String, WorkerState>,
    /// The last run of each query pacs-warden runs itself.
    #[serde(default)]
    pub queries: BTreeMap<String, QueryRecord>,
    /// The schedule the daemon runs: its last good version of the file (written by the
    /// daemon at start and on each accepted edit), so that `status` can show it while the file
    /// on disk is invalid.
    #[serde(default)]
    pub schedule: Option<RunningSchedule>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct RunningSchedule {
    /// The schedule file as the daemon was given it.
    pub path: String,
    pub loaded_at: DateTime<Utc>,
    /// The file's modification time when it was loaded.
    pub modified: Option<DateTime<Utc>>,
    /// FNV-1a 64 of the text, in hex: tells two versions apart at a glance.
    pub hash: String,
    /// The file's text.
    pub text: String,
}

/// FNV-1a 64 of `text`, in hex (stable across Rust versions, unlike `DefaultHasher`).
pub fn text_hash(text: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("{h:016x}")
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct WorkerState {
    /// The worker process pacs-warden started last.
    pub started: Option<ProcId>,
    /// The last restart sequence.
    pub last: Option<SequenceRecord>,
    /// What crash supervision has done (written by the daemon).
    #[serde(default)]
    pub supervision: Option<SupervisionRecord>,
    /// A planned restart waiting for the busy worker to become idle (written by the daemon).
    #[serde(default)]
    pub deferred: Option<DeferralRecord>,
    /// The worker runs but its `ready` command fails (written by the daemon, which leaves it
    /// running and probes again).
    #[serde(default)]
    pub not_ready: Option<NotReadyRecord>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct NotReadyRecord {
    /// The worker process that is not ready.
    pub pid: u32,
    pub since: DateTime<Utc>,
    /// Probes of the `ready` command since the restart's own tries ran out.
    pub probes: u32,
    /// The ready command's last answer.
    pub answer: String,
    pub next_probe: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct DeferralRecord {
    pub since: DateTime<Utc>,
    /// The restart happens by then at the latest (its query's start).
    pub until: DateTime<Utc>,
    /// The busy probe's last answer.
    pub answer: String,
    pub deferrals: u32,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct SupervisionRecord {
    /// Restarts done by supervision since the daemon started.
    pub restarts: u32,
    /// Crashes or failed starts since the worker last ran stably.
    pub failures_in_a_row: u32,
    /// The current wait before the next retry.
    pub backoff_seconds: u64,
    pub last_crash: Option<DateTime<Utc>>,
    pub gave_up: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct SequenceRecord {
    pub began_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    pub ok: bool,
    /// One line a person reads: what happened.
    pub summary: String,
    /// The ready command's last answer when the worker was started and runs but never became
    /// ready.
    #[serde(default)]
    pub not_ready: Option<String>,
}

/// A schedule's state directory.
#[derive(Debug, Clone)]
pub struct Store {
    dir: PathBuf,
}

impl Store {
    pub fn new(dir: PathBuf) -> Store {
        Store { dir }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn ensure_dir(&self) -> std::io::Result<()> {
        crate::sys::trust::safe_create_dir_all(&self.dir)
            .map(drop)
            .map_err(|e| {
                std::io::Error::new(
                    e.kind(),
                    format!(
                        "cannot create the state directory {}: {e}",
                        self.dir.display()
                    ),
                )
            })
    }

    /// The saved state; an absent or unreadable file is an empty state (it only speeds up
    /// recognising workers; every process is verified anyway).
    pub fn read(&self) -> State {
        crate::sys::trust::read_no_follow(&self.dir.join("state.json"))
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .unwrap_or_default()
    }

    /// Changes the state under a lock and writes it atomically (temp file + rename).
    pub fn update(&self, change: impl FnOnce(&mut State)) -> std::io::Result<()> {
        self.ensure_dir()?;
        let lock = open_lock(&self.dir.join("state.lock"))?;
        lock.lock()?;
        let mut state = self.read();
        change(&mut state);
        // No fsync: the rename makes the update atomic, and the state is a record, not the
        // truth (every process is verified anyway); an fsync per update would stall the
        // daemon on a busy disk.
        crate::sys::trust::write_replace(
            &self.dir.join("state.json"),
            &serde_json::to_vec_pretty(&state).map_err(std::io::Error::other)?,
        )?;
        drop(lock);
        Ok(())
    }

    /// Takes the restart lock of `worker`, waiting while another sequence holds it. Returns the
    /// guard and whether it had to wait.
    pub async fn lock_worker(&self, worker: &str) -> std::io::Result<(WorkerLock, bool)> {
        let (path, file) = self.worker_lock_file(worker)?;
        match file.try_lock() {
            Ok(()) => Ok((WorkerLock { _file: file }, false)),
            Err(std::fs::TryLockError::WouldBlock) => {
                tracing::info!(
                    worker,
                    lock = %path.display(),
                    "another restart of this worker is running; waiting for it to finish"
                );
                let file = tokio::task::spawn_blocking(move || file.lock().map(|()| file))
                    .await
                    .map_err(std::io::Error::other)??;
                Ok((WorkerLock { _file: file }, true))
            }
            Err(std::fs::TryLockError::Error(e)) => Err(e),
        }
    }

    /// Takes the restart lock of `worker` if no sequence holds it; `None` if one does.
    pub fn try_lock_worker(&self, worker: &str) -> std::io::Result<Option<WorkerLock>> {
        let (_, file) = self.worker_lock_file(worker)?;
        match file.try_lock() {
            Ok(()) => Ok(Some(WorkerLock { _file: file })),
            Err(std::fs::TryLockError::WouldBlock) => Ok(None),
            Err(std::fs::TryLockError::Error(e)) => Err(e),
        }
    }

    fn worker_lock_file(&self, worker: &str) -> std::io::Result<(PathBuf, File)> {
        self.ensure_dir()?;
        let path = self.dir.join(format!("{}.lock", sanitize(worker)));
        let file = open_lock(&path)?;
        Ok((path, file))
    }
}

/// Held while a worker's restart sequence runs; dropping it releases the lock.
#[derive(Debug)]
pub struct WorkerLock {
    _file: File,
}

/// Opens (creating it if needed) a lock file in the state directory, refusing a symbolic link
/// planted in its place.
pub(crate) fn open_lock(path: &Path) -> std::io::Result<File> {
    crate::sys::trust::open_no_follow(
        path,
        std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true),
    )
}

/// A worker or query name made safe for a file name.
pub(crate) fn sanitize(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// How a query run ended.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct QueryRecord {
    pub scheduled_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: DateTime<Utc>,
    /// `ok`, `failed`, `timed out`, `not run` or `skipped`.
    pub outcome: String,
    pub exit_code: Option<i32>,
    pub duration_seconds: f64,
    pub summary: String,
}

impl QueryRecord {
    pub fn ok(&self) -> bool {
        self.outcome == "ok"
    }
}

#[cfg(test)]
mod tests {
    use super::text_hash;

    #[test]
    fn text_hash_is_fnv1a_64() {
        // Published FNV-1a 64 test vectors.
        assert_eq!(text_hash(""), "cbf29ce484222325");
        assert_eq!(text_hash("a"), "af63dc4c8601ec8c");
        assert_eq!(text_hash("foobar"), "85944171f73967e8");
    }
}
