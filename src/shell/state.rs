//! What pacs-warden remembers between runs, and the locks that keep two pacs-warden processes
//! from restarting the same worker at once.
//!
//! Owns: the state directory of a schedule (`Schedule::state_dir`): `state.json` (per worker:
//! the process pacs-warden started, the last sequence and its outcome, supervision and
//! readiness; the schedule the daemon runs), one lock file per worker, and the daemon's
//! single-instance lock (`daemon.lock`, with who holds it in `daemon.json`). Locks are OS file
//! locks (`sys::lock`), released by the OS when a process dies, so a crash never leaves one
//! stuck.

use crate::core::config::Schedule;
use crate::sys::lock::{self, Held};
use crate::sys::process::ProcId;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
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
    /// The last answers of the periodic checks of a running worker (`ready.every`,
    /// `max_memory`; written by the daemon).
    #[serde(default)]
    pub checks: Option<ChecksRecord>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ChecksRecord {
    /// The worker process checked.
    pub pid: u32,
    pub ready: Option<ReadyCheckRecord>,
    pub memory: Option<MemoryCheckRecord>,
}

impl ChecksRecord {
    pub fn about(pid: u32) -> ChecksRecord {
        ChecksRecord {
            pid,
            ready: None,
            memory: None,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ReadyCheckRecord {
    pub at: DateTime<Utc>,
    pub ok: bool,
    /// `ok`, or the failure (with the busy answer when it was not counted).
    pub answer: String,
    pub failures_in_a_row: u32,
    pub failures_allowed: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct MemoryCheckRecord {
    pub at: DateTime<Utc>,
    /// The resident memory of the worker's whole tree.
    pub bytes: u64,
    /// Its `max_memory`.
    pub limit: u64,
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
    /// The restart happens by then at the latest (its query's start, or a memory restart's
    /// longest wait).
    pub until: DateTime<Utc>,
    /// The busy probe's last answer.
    pub answer: String,
    pub deferrals: u32,
    /// A memory restart (`max_memory`) waits, up to its longest wait; not a planned restart
    /// up to its query's start.
    #[serde(default)]
    pub memory: bool,
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
    /// A service worker's service was stopped on purpose then (an admin's stop, not fought),
    /// and no restart of the worker finished since: the next daemon's start leaves it stopped
    /// unless the machine rebooted since.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopped_on_purpose: Option<DateTime<Utc>>,
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
        self.read_checked().unwrap_or_default()
    }

    /// The saved state, or why it cannot be read (for `health`); an absent file is an empty
    /// state (nothing recorded yet).
    pub fn read_checked(&self) -> Result<State, String> {
        let path = self.dir.join("state.json");
        match crate::sys::trust::read_no_follow(&path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(State::default()),
            Err(e) => Err(format!("{}: {e}", path.display())),
            Ok(bytes) => {
                serde_json::from_slice(&bytes).map_err(|e| format!("{}: {e}", path.display()))
            }
        }
    }

    /// Whether a restart sequence of `worker` runs now (its lock is held). Creates nothing.
    pub fn is_restarting(&self, worker: &str) -> bool {
        lock::is_held(&self.dir.join(format!("{}.lock", sanitize(worker))))
    }

    /// Changes the state under a lock and writes it atomically (temp file + rename).
    pub fn update(&self, change: impl FnOnce(&mut State)) -> std::io::Result<()> {
        self.ensure_dir()?;
        let lock = lock::lock(&self.dir.join("state.lock"))?;
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
        let path = self.worker_lock_path(worker)?;
        if let Some(held) = lock::try_lock(&path)? {
            return Ok((WorkerLock { _held: held }, false));
        }
        tracing::info!(
            worker,
            lock = %path.display(),
            "another restart of this worker is running; waiting for it to finish"
        );
        let held = tokio::task::spawn_blocking(move || lock::lock(&path))
            .await
            .map_err(std::io::Error::other)??;
        Ok((WorkerLock { _held: held }, true))
    }

    /// Takes the restart lock of `worker` if no sequence holds it; `None` if one does.
    pub fn try_lock_worker(&self, worker: &str) -> std::io::Result<Option<WorkerLock>> {
        let path = self.worker_lock_path(worker)?;
        Ok(lock::try_lock(&path)?.map(|held| WorkerLock { _held: held }))
    }

    fn worker_lock_path(&self, worker: &str) -> std::io::Result<PathBuf> {
        self.ensure_dir()?;
        Ok(self.dir.join(format!("{}.lock", sanitize(worker))))
    }
}

/// Held while a worker's restart sequence runs; dropping it releases the lock.
#[derive(Debug)]
pub struct WorkerLock {
    _held: Held,
}

/// Why the daemon's single-instance lock cannot be taken.
#[derive(Debug, thiserror::Error)]
pub enum InstanceError {
    #[error("another pacs-warden is already running for {}{}", schedule.display(), holder.as_ref().map(|h| format!(" (pid {}, since {})", h.pid, h.since.to_rfc3339())).unwrap_or_default())]
    AlreadyRunning {
        schedule: PathBuf,
        holder: Option<DaemonInfo>,
    },
    #[error("state directory {}: {source}", dir.display())]
    State {
        dir: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Who holds a schedule's daemon lock; kept in `daemon.json` beside it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct DaemonInfo {
    pub pid: u32,
    pub since: DateTime<Utc>,
    pub dry_run: bool,
}

/// The single-instance lock of one schedule file. Released by the OS if the daemon dies;
/// dropping it also removes `daemon.json`.
#[derive(Debug)]
pub struct InstanceLock {
    _held: Held,
    info_path: PathBuf,
}

impl Drop for InstanceLock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.info_path);
    }
}

/// Takes the daemon lock of `schedule`'s state directory and records `info` as its holder.
pub fn lock_instance(
    schedule: &Schedule,
    info: &DaemonInfo,
) -> Result<InstanceLock, InstanceError> {
    let dir = schedule.state_dir();
    let state_err = |source| InstanceError::State {
        dir: dir.clone(),
        source,
    };
    crate::sys::trust::safe_create_dir_all(&dir).map_err(state_err)?;
    // `status` and `health` look at the lock by taking it for a moment: a monitoring check
    // polling just as the daemon starts must not make the start fail. A held lock is asked
    // again for half a second before the daemon gives up.
    let path = dir.join("daemon.lock");
    let mut tries = 0;
    let held = loop {
        match lock::try_lock(&path).map_err(state_err)? {
            Some(held) => break held,
            None if tries < 10 => {
                tries += 1;
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            None => {
                return Err(InstanceError::AlreadyRunning {
                    schedule: schedule.path.clone(),
                    holder: running_daemon(&dir),
                })
            }
        }
    };
    let info_path = dir.join("daemon.json");
    let json = serde_json::to_vec_pretty(info).map_err(|e| state_err(e.into()))?;
    crate::sys::trust::write_replace(&info_path, &json).map_err(state_err)?;
    Ok(InstanceLock {
        _held: held,
        info_path,
    })
}

/// The daemon running for the state directory `dir`, if any (the lock is held).
pub fn running_daemon(dir: &Path) -> Option<DaemonInfo> {
    if !lock::is_held(&dir.join("daemon.lock")) {
        return None;
    }
    std::fs::read(dir.join("daemon.json"))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
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
    /// `ok`, `failed`, `timed out`, `not run`, `skipped`, `waiting` (a due run waits for its
    /// workers: a daemon stopped meanwhile did not run it, and its next start says so or
    /// catches it up), or `running` (written when the command starts, so that a daemon
    /// stopped meanwhile does not run it again), or `interrupted` (the daemon stopped while its
    /// command ran, so its outcome is unknown; written by the next daemon at its start).
    pub outcome: String,
    pub exit_code: Option<i32>,
    pub duration_seconds: f64,
    pub summary: String,
    /// A missed run run late (`catch_up:`); its planned instant is `scheduled_at`.
    #[serde(default)]
    pub catch_up: bool,
    /// The last run skipped while this one was `waiting` or `running` (`overlap: skip`, or
    /// missed after a clock jump): the record keeps the run not over yet, which a daemon
    /// stopped meanwhile must find at its next start; the skip is noted here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skipped: Option<SkippedRun>,
}

/// A run skipped while the recorded one waited or ran.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SkippedRun {
    pub scheduled_at: DateTime<Utc>,
    /// When it was skipped.
    pub at: DateTime<Utc>,
    pub summary: String,
}

impl QueryRecord {
    /// The record of a run planned for `scheduled_at` with no command outcome (skipped, not
    /// run, waiting, running, interrupted), written at `at`.
    pub fn without_outcome(
        scheduled_at: DateTime<Utc>,
        at: DateTime<Utc>,
        outcome: &str,
        summary: String,
    ) -> QueryRecord {
        QueryRecord {
            scheduled_at,
            started_at: None,
            finished_at: at,
            outcome: outcome.into(),
            exit_code: None,
            duration_seconds: 0.0,
            summary,
            catch_up: false,
            skipped: None,
        }
    }

    pub fn ok(&self) -> bool {
        self.outcome == "ok"
    }

    /// A run not over yet: still waiting for its workers, or its command running.
    pub fn pending(&self) -> bool {
        self.outcome == "waiting" || self.outcome == "running"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_daemon_per_schedule_and_status_sees_who() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("o k.yaml");
        std::fs::write(
            &path,
            "timezone: UTC\nqueries:\n  - name: q\n    at: [\"02:00\"]\n",
        )
        .unwrap();
        let schedule = crate::shell::schedule::load(&path).unwrap();
        let state = schedule.state_dir();
        let me = DaemonInfo {
            pid: 4242,
            since: "2026-03-01T06:00:00Z".parse().unwrap(),
            dry_run: false,
        };
        assert_eq!(running_daemon(&state), None);
        let held = lock_instance(&schedule, &me).unwrap();
        assert_eq!(running_daemon(&state), Some(me.clone()));
        let other = DaemonInfo {
            pid: 1,
            ..me.clone()
        };
        match lock_instance(&schedule, &other) {
            Err(e @ InstanceError::AlreadyRunning { .. }) => assert_eq!(
                e.to_string(),
                format!(
                    "another pacs-warden is already running for {} (pid 4242, since 2026-03-01T06:00:00+00:00)",
                    path.display()
                )
            ),
            other => panic!("{other:?}"),
        }
        drop(held);
        assert!(!state.join("daemon.json").exists());
        assert_eq!(running_daemon(&state), None);
        drop(lock_instance(&schedule, &other).unwrap());
    }

    #[test]
    fn text_hash_is_fnv1a_64() {
        // Published FNV-1a 64 test vectors.
        assert_eq!(text_hash(""), "cbf29ce484222325");
        assert_eq!(text_hash("a"), "af63dc4c8601ec8c");
        assert_eq!(text_hash("foobar"), "85944171f73967e8");
    }
}
