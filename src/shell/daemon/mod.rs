//! The daemon (`pacs-warden run`): restart at boot, restart on time, follow schedule edits.
//!
//! Owns: the runtime that drives the core's decisions (`crate::core::warden`) — it feeds them
//! what happened (the wall-clock timer, schedule edits, OS requests, finished sequences, worker
//! exits, probe answers, finished queries) and carries out what they ask (`runtime`) — and the
//! single-instance lock's use (the lock is the state directory's:
//! `crate::shell::state::lock_instance`). The runtime's duties are one file each: `dispatch` (the sequences of a
//! planned restart prepared ahead, so their stop requests go out on time), `alert`, `watch`
//! (edits), `record` (the schedule it runs, for `status`), `note` (the core's log lines),
//! `service_exit` (what Windows is doing with a service worker whose process exited).

mod alert;
mod dispatch;
mod note;
mod record;
mod runtime;
mod service_exit;

mod watch;

pub use crate::core::timeline::{Due, Timeline, ON_TIME};
pub use alert::Alert;

use crate::core::config::{ConfigError, Schedule};
use crate::shell::state::{lock_instance, DaemonInfo, InstanceError};
use crate::sys::clock::Clock;
use crate::sys::os::OsEvent;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

/// Where the wall-clock timer cannot follow clock steps itself (neither Linux's timerfd nor
/// Windows' absolute waitable timer), the longest the daemon sleeps without looking at the
/// clock again: after the machine slept or the clock was stepped, a restart is at most this
/// late in being noticed.
pub const MAX_SLEEP: Duration = Duration::from_secs(60);

#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// Another daemon runs for the schedule, or its lock cannot be taken.
    #[error(transparent)]
    Instance(#[from] InstanceError),
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
