//! The daemon (`pacs-warden run`): restart at boot, restart on time, follow schedule edits.
//!
//! Owns: the runtime that drives the core's decisions (`crate::core::warden`) — it feeds them
//! what happened (the wall-clock timer, schedule edits, OS requests, finished sequences, worker
//! exits, probe answers, finished queries) and carries out what they ask (`runtime`) — and the
//! single-instance lock. The runtime's duties are one file each: `dispatch` (the sequences of a
//! planned restart prepared ahead, so their stop requests go out on time), `alert`, `watch`
//! (edits), `record` (the schedule it runs, for `status`), `note` (the core's log lines).

mod alert;
mod dispatch;
mod note;
mod record;
mod runtime;

mod watch;

pub use crate::core::timeline::{Due, Timeline, ON_TIME};
pub use alert::Alert;

use crate::core::config::{ConfigError, Schedule};
use crate::sys::clock::Clock;
use crate::sys::os::OsEvent;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

/// Where the wall-clock timer cannot notice clock steps itself (not Linux), the longest the
/// daemon sleeps without looking at the clock again: after the machine slept or the clock was
/// stepped, a restart is at most this late in being noticed.
pub const MAX_SLEEP: Duration = Duration::from_secs(60);

#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("another pacs-warden is already running for {}{}", schedule.display(), holder.as_ref().map(|h| format!(" (pid {}, since {})", h.pid, h.since.to_rfc3339())).unwrap_or_default())]
    AlreadyRunning {
        schedule: PathBuf,
        holder: Option<DaemonInfo>,
    },
    /// The trust check found paths others may change (one line each, with the fix).
    #[error("{0}")]
    Untrusted(String),
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

/// The single-instance lock of one schedule file. Released by the OS if the daemon dies.
pub struct InstanceLock {
    _file: File,
    info_path: PathBuf,
}

impl Drop for InstanceLock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.info_path);
    }
}

/// Takes the daemon lock of `schedule`'s state directory.
pub fn lock_instance(schedule: &Schedule, info: &DaemonInfo) -> Result<InstanceLock, DaemonError> {
    let dir = schedule.state_dir();
    let state_err = |source| DaemonError::State {
        dir: dir.clone(),
        source,
    };
    crate::sys::trust::safe_create_dir_all(&dir).map_err(state_err)?;
    let file = crate::shell::state::open_lock(&dir.join("daemon.lock")).map_err(state_err)?;
    let info_path = dir.join("daemon.json");
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            return Err(DaemonError::AlreadyRunning {
                schedule: schedule.path.clone(),
                holder: running_daemon(&dir),
            })
        }
        Err(std::fs::TryLockError::Error(e)) => return Err(state_err(e)),
    }
    let json = serde_json::to_vec_pretty(info).map_err(|e| state_err(e.into()))?;
    crate::sys::trust::write_replace(&info_path, &json).map_err(state_err)?;
    Ok(InstanceLock {
        _file: file,
        info_path,
    })
}

/// The daemon running for the state directory `dir`, if any (the lock is held).
pub fn running_daemon(dir: &Path) -> Option<DaemonInfo> {
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(dir.join("daemon.lock"))
        .ok()?;
    match file.try_lock() {
        Ok(()) => None,
        Err(_) => std::fs::read(dir.join("daemon.json"))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok()),
    }
}

/// Requests to a running daemon (from OS signals or from tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request {
    Stop,
    Reload,
}

impl From<OsEvent> for Request {
    fn from(e: OsEvent) -> Request {
        match e {
            OsEvent::Stop(_) => Request::Stop,
            OsEvent::Reload(_) => Request::Reload,
        }
    }
}

pub struct Options {
    pub config: PathBuf,
    pub dry_run: bool,
    /// Checked on every reload before the edit is taken: one line per problem (the trust
    /// check: who besides the administrators can change what the daemon runs). An edit with
    /// problems is rejected like an invalid one.
    pub vet: Option<Vet>,
}

/// See `Options::vet`.
pub type Vet = Arc<dyn Fn(&Schedule) -> Vec<String> + Send + Sync>;

/// Runs the daemon until a `Stop` request. Returns an error only when it cannot start (bad
/// schedule, another instance); once running, bad edits and failed restarts are logged.
pub async fn run(
    opts: Options,
    clock: Arc<dyn Clock>,
    requests: mpsc::Receiver<Request>,
) -> Result<(), DaemonError> {
    let schedule = Arc::new(crate::shell::schedule::load(&opts.config)?);
    // The schedule the daemon runs is the one it checked (not an earlier read of the file).
    if let Some(findings) = opts.vet.as_ref().map(|vet| vet(&schedule)) {
        if !findings.is_empty() {
            return Err(DaemonError::Untrusted(findings.join("\n")));
        }
    }
    let _lock = if opts.dry_run {
        None
    } else {
        Some(lock_instance(
            &schedule,
            &DaemonInfo {
                pid: std::process::id(),
                since: clock.now(),
                dry_run: false,
            },
        )?)
    };
    runtime::run(opts, schedule, clock, requests).await
}
