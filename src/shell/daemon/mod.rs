//! The daemon (`pacs-warden run`): restart at boot, restart on time, follow schedule edits.
//!
//! Owns: the event loop — one `select!` over the next deadline, schedule edits, OS requests
//! and finished sequences; the single-instance lock is the state directory's
//! (`crate::shell::state::lock_instance`). Decisions about what is due are in
//! `timeline` (pure); the sequences themselves in `crate::shell::sequence`. The loop's other duties
//! are one file each: `supervise` (crash restarts, not-ready workers), `busy` (deferring a busy
//! worker's restart), `queries` (running queries, readiness at query time), `alert`, `watch`
//! (edits), `record` (the schedule it runs, for `status`), `dispatch` (preparing planned
//! restarts so their stop requests go out on time).

mod alert;
mod busy;
mod dispatch;
mod queries;
mod record;
mod supervise;

mod watch;

use busy::Deferred;
use dispatch::Preparation;
use queries::QueryCheck;
use supervise::{sleep_until_retry, ReadyAnswer, Supervision};

pub use crate::core::timeline::{Due, Timeline, ON_TIME};
pub use alert::Alert;

use crate::core::config::{ConfigError, Problems, Schedule};
use crate::core::plan::Restart;
use crate::shell::sequence;
use crate::shell::state::{lock_instance, DaemonInfo, InstanceError, Store};
use crate::sys::clock::Clock;
use crate::sys::os::OsEvent;
use crate::sys::process;
use crate::sys::process::ProcId;
use chrono::{DateTime, TimeDelta, Utc};
use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::task::AbortHandle;
use tokio::task::JoinSet;
use tracing::{error, info, warn};

/// Where the wall-clock timer cannot notice clock steps itself (not Linux), the longest the
/// daemon sleeps without looking at the clock again: after the machine slept or the clock was
/// stepped, a restart is at most this late in being noticed.
pub const MAX_SLEEP: Duration = Duration::from_secs(60);
/// Edits arrive as bursts of events (truncate, write, rename): wait this long for the burst to
/// end before reading the file.
const DEBOUNCE: Duration = Duration::from_millis(150);

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

/// Logs a schedule's warnings (what `check` prints), one log line each.
fn log_warnings(schedule: &Schedule) {
    for w in &schedule.warnings {
        let line = Problems {
            path: &schedule.path,
            problems: std::slice::from_ref(w),
        };
        warn!("{line}");
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
    mut requests: mpsc::Receiver<Request>,
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
    let mut d = Daemon {
        vet: opts.vet.clone(),
        path: opts.config.clone(),
        schedule,
        store: None,
        clock,
        dry_run: opts.dry_run,
        running: JoinSet::new(),
        in_flight: HashSet::new(),
        watchers: JoinSet::new(),
        watching: HashMap::new(),
        supervision: HashMap::new(),
        query_checks: Vec::new(),
        deferred: HashMap::new(),
        probes: JoinSet::new(),
        ready_probes: JoinSet::new(),
        queries_checked: DateTime::<Utc>::MIN_UTC,
        query_runs: JoinSet::new(),
        queries_running: HashSet::new(),
        queries_waiting: HashMap::new(),
        preparation: None,
    };
    d.store = Some(Store::new(d.schedule.state_dir()));
    d.record_schedule();
    info!(
        schedule = %d.path.display(),
        pid = std::process::id(),
        dry_run = d.dry_run,
        "pacs-warden daemon started"
    );
    log_warnings(&d.schedule);

    let (_watch, mut edits) = match watch::watch(&d.path) {
        Ok((w, rx)) => (Some(w), rx),
        Err(e) => {
            warn!(error = %e, "cannot watch the schedule file for edits; send SIGHUP or restart the daemon after editing it");
            (None, mpsc::unbounded_channel().1)
        }
    };

    let mut timer = crate::sys::os::WallTimer::new().map_err(|source| DaemonError::State {
        dir: d.schedule.state_dir(),
        source,
    })?;
    d.boot();
    let mut timeline = Timeline::new(d.clock.now());
    d.queries_checked = timeline.checked();
    d.log_next(&timeline, "next restarts");
    // Restarts a reload decided, run at the top of the loop like the timeline's.
    let mut reloaded: Vec<Due> = Vec::new();

    loop {
        // The stop requests of a prepared restart go out before anything else.
        let now = d.dispatch_due(d.clock.now());
        let mut to_run: Vec<(Restart, TimeDelta)> = Vec::new();
        let decided = std::mem::take(&mut reloaded).into_iter();
        for due in decided.chain(timeline.advance(&d.schedule, now)) {
            match due {
                Due::Run { restart, late } => to_run.push((restart, late)),
                Due::Skip { restart } => warn!(
                    restart_at = %d.local(restart.at),
                    queries = %d.query_names(&restart),
                    "skipped a restart: its query had already begun when the clock reached it (the machine slept or the clock jumped)"
                ),
                Due::SkipAdded { restart } => warn!(
                    restart_at = %d.local(restart.at),
                    queries = %d.query_names(&restart),
                    "skipped a restart: the edit that added it was read after its time (a reload plans from the moment it reads the file)"
                ),
            }
        }
        if !to_run.is_empty() {
            d.run_due(&to_run);
            d.log_next(&timeline, "next restart");
        }
        d.end_preparation(timeline.checked());
        d.check_queries(now);
        d.run_due_queries(now);

        // Sleep until the next restart by the wall clock. The timer also wakes when the clock
        // is stepped; where it cannot (not Linux), it wakes at least every MAX_SLEEP.
        // Prepare the next restart's sequences shortly before it.
        let wake_at = match timeline.next(&d.schedule) {
            Some(next) => {
                let now = d.clock.now();
                d.prepare(&next, now)
            }
            None => d.clock.now() + TimeDelta::days(1),
        };
        // Also wake when a query served by a restart begins, to check its workers are ready.
        let wake_at = d
            .query_checks
            .iter()
            .map(|c| c.at)
            .chain(d.next_query_run())
            .min()
            .map_or(wake_at, |q| q.min(wake_at));
        let next_retry = d.next_retry();
        let next_probe = d.next_probe();
        tokio::select! {
            _ = timer.sleep_until(wake_at, MAX_SLEEP) => {}
            request = requests.recv() => match request {
                Some(Request::Reload) => reloaded = d.reload(&mut timeline),
                Some(Request::Stop) | None => break,
            },
            Some(()) = edits.recv() => {
                tokio::time::sleep(DEBOUNCE).await;
                while edits.try_recv().is_ok() {}
                reloaded = d.reload(&mut timeline);
            }
            Some(done) = d.running.join_next(), if !d.running.is_empty() => d.finished(done),
            Some(exited) = d.watchers.join_next(), if !d.watchers.is_empty() => {
                if let Ok((name, id)) = exited {
                    d.exited(&name, id);
                }
            }
            _ = sleep_until_retry(next_retry) => d.retry_due(),
            Some(answer) = d.probes.join_next(), if !d.probes.is_empty() => {
                if let Ok((name, busy, why)) = answer {
                    d.probed(name, busy, why);
                }
            }
            _ = sleep_until_retry(next_probe) => d.probe_due(),
            Some(Ok(answer)) = d.ready_probes.join_next(), if !d.ready_probes.is_empty() => d.ready_probed(answer),
            Some(done) = d.query_runs.join_next(), if !d.query_runs.is_empty() => {
                if let Ok((name, record)) = done {
                    d.query_finished(name, record);
                }
            }
        }
    }

    if !d.running.is_empty() {
        info!(count = d.running.len(), "stopping: letting running restart sequences finish (send the stop request again to abandon them)");
        loop {
            tokio::select! {
                done = d.running.join_next() => match done {
                    Some(done) => d.finished(done),
                    None => break,
                },
                request = requests.recv() => if matches!(request, Some(Request::Stop) | None) {
                    warn!("abandoning running restart sequences; the workers may need `pacs-warden restart`");
                    d.running.abort_all();
                    while d.running.join_next().await.is_some() {}
                    break;
                },
            }
        }
    }
    info!("pacs-warden daemon stopped; the workers keep running");
    Ok(())
}

struct Daemon {
    vet: Option<Vet>,
    path: PathBuf,
    schedule: Arc<Schedule>,
    store: Option<Store>,
    clock: Arc<dyn Clock>,
    dry_run: bool,
    running: JoinSet<Finished>,
    in_flight: HashSet<String>,
    /// One exit waiter per supervised worker process.
    watchers: JoinSet<(String, ProcId)>,
    watching: HashMap<String, (ProcId, AbortHandle)>,
    supervision: HashMap<String, Supervision>,
    /// Queries served by restarts already run, to check at their start.
    query_checks: Vec<QueryCheck>,
    /// Planned restarts waiting for a busy worker to become idle.
    deferred: HashMap<String, Deferred>,
    probes: JoinSet<(String, bool, String)>,
    /// Probes of started workers that are not ready.
    ready_probes: JoinSet<ReadyAnswer>,
    /// Every query run at or before this instant has been started (or skipped).
    queries_checked: DateTime<Utc>,
    /// Query runs in progress, by query name.
    query_runs: JoinSet<(String, crate::shell::query_run::QueryRecord)>,
    queries_running: HashSet<String>,
    /// Runs waiting for the previous run of the same query (`overlap: wait`).
    queries_waiting: HashMap<String, Vec<(usize, DateTime<Utc>)>>,
    /// The next planned restart's sequences, prepared ahead of its instant.
    preparation: Option<Preparation>,
}

/// What a finished sequence reports back to the loop.
struct Finished {
    worker: String,
    started: Option<ProcId>,
    ok: bool,
    summary: String,
    /// Started and running but never ready: the ready command's last answer.
    not_ready: Option<String>,
}

impl Daemon {
    fn store(&self) -> &Store {
        self.store.as_ref().expect("set at start")
    }

    fn local(&self, at: DateTime<Utc>) -> String {
        at.with_timezone(&self.schedule.timezone)
            .format("%Y-%m-%d %H:%M:%S %Z")
            .to_string()
    }

    fn query_names(&self, r: &Restart) -> String {
        r.fires
            .iter()
            .map(|f| self.schedule.queries[f.query].name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// At start: adopt workers this pacs-warden started that still run; restart the others if
    /// `restart_at_boot`.
    fn boot(&mut self) {
        let state = self.store().read();
        let mut to_restart = Vec::new();
        let mut adopted: Vec<(String, ProcId)> = Vec::new();
        for (i, w) in self.schedule.workers.iter().enumerate() {
            let started = state.workers.get(&w.name).and_then(|s| s.started);
            match started.filter(|id| process::is_running(*id)) {
                Some(id) => {
                    info!(worker = %w.name, pid = id.pid, "worker started earlier by pacs-warden is running; adopting it (no boot restart)");
                    adopted.push((w.name.clone(), id));
                }
                None if self.schedule.restart_at_boot => to_restart.push(i),
                None => {
                    info!(worker = %w.name, "restart_at_boot is false: not restarting at start")
                }
            }
        }
        for (name, id) in adopted {
            self.watch(&name, id);
        }
        if !to_restart.is_empty() {
            info!("boot restart");
            self.launch(&to_restart, "boot");
        }
    }

    fn run_due(&mut self, due: &[(Restart, TimeDelta)]) {
        let mut workers: Vec<usize> = Vec::new();
        for (restart, late) in due {
            let needs: Vec<String> = self
                .schedule
                .worker_names(&restart.workers(&self.schedule))
                .into_iter()
                .map(String::from)
                .collect();
            for fire in &restart.fires {
                if !self.dry_run && !needs.is_empty() {
                    self.query_checks.push(QueryCheck {
                        at: fire.at,
                        query: self.schedule.queries[fire.query].name.clone(),
                        workers: needs.clone(),
                    });
                }
            }
            info!(
                restart_at = %self.local(restart.at),
                late_ms = late.num_microseconds().unwrap_or(i64::MAX) as f64 / 1000.0,
                queries = %self.query_names(restart),
                "restart due"
            );
            let first_query = restart
                .fires
                .iter()
                .map(|f| f.at)
                .min()
                .unwrap_or(restart.at);
            for w in restart.workers(&self.schedule) {
                if self.schedule.workers[w].busy.is_some() && !self.dry_run {
                    // Busy-aware: ask first; the answer arrives in `probed`.
                    let name = self.schedule.workers[w].name.clone();
                    let until = self
                        .deferred
                        .get(&name)
                        .map_or(first_query, |d| d.until.min(first_query));
                    self.deferred.insert(
                        name,
                        Deferred {
                            until,
                            next_probe: None,
                        },
                    );
                    self.probe(w);
                } else if !workers.contains(&w) {
                    workers.push(w);
                }
            }
        }
        self.launch(&workers, "planned");
    }

    /// Starts the sequences of `workers`, each at most once at a time.
    fn launch(&mut self, workers: &[usize], why: &'static str) {
        for &i in workers {
            let worker = &self.schedule.workers[i];
            if self.dry_run {
                info!(worker = %worker.name, why, "dry run: would restart now:\n{}", sequence::describe(&self.schedule, worker, self.store()).trim_end());
                continue;
            }
            if !self.in_flight.insert(worker.name.clone()) {
                info!(worker = %worker.name, "a restart of this worker is already running; this one is merged into it");
                continue;
            }
            let name = worker.name.clone();
            // The sequence stops the worker on purpose: that exit is not a crash.
            if let Some((_, handle)) = self.watching.remove(&name) {
                handle.abort();
            }
            self.supervision.entry(name.clone()).or_default().retry_at = None;
            let early = self.take_early(&name);
            let schedule = Arc::clone(&self.schedule);
            let store = self.store().clone();
            let clock = Arc::clone(&self.clock);
            self.running.spawn(async move {
                let worker = &schedule.workers[i];
                let early = match early {
                    Some((_, early)) => early.dispatch(&schedule, i, &store).await,
                    None => None,
                };
                let outcome =
                    sequence::restart_dispatched(&schedule, worker, &store, clock.as_ref(), early)
                        .await;
                let started = match outcome.started {
                    Some(id) => Some(id),
                    // Satisfied by a concurrent restart: watch what it started.
                    None => store.read().workers.get(&name).and_then(|w| w.started),
                };
                Finished {
                    ok: outcome.ok(),
                    not_ready: outcome.not_ready().map(str::to_string),
                    summary: outcome.summary(),
                    started,
                    worker: name,
                }
            });
        }
    }

    fn finished(&mut self, done: Result<Finished, tokio::task::JoinError>) {
        let done = match done {
            Ok(done) => done,
            Err(e) => {
                error!(error = %e, "a restart sequence ended abnormally");
                // We no longer know which worker: let every one be restarted again.
                self.in_flight.clear();
                return;
            }
        };
        self.in_flight.remove(&done.worker);
        let Some(index) = self
            .schedule
            .workers
            .iter()
            .position(|w| w.name == done.worker)
        else {
            return; // removed from the schedule meanwhile
        };
        let supervise = self.schedule.workers[index].supervise.is_some();
        // Whatever was not ready before is gone or restarted now.
        self.supervision
            .entry(done.worker.clone())
            .or_default()
            .not_ready = None;
        match done.started.filter(|id| process::is_running(*id)) {
            Some(id) if done.ok => {
                let sup = self.supervision.entry(done.worker.clone()).or_default();
                sup.started_at = Some(tokio::time::Instant::now());
                sup.gave_up = false;
                self.watch(&done.worker, id);
            }
            // Started and running, but not ready: not a failed start (see `supervise`).
            Some(id) if done.not_ready.is_some() => {
                let answer = done.not_ready.clone().unwrap_or_default();
                self.started_not_ready(&done.worker, id, &answer);
            }
            running => {
                self.alert("restart_failed", Some(&done.worker), &done.summary);
                if let Some(id) = running {
                    // Started but not ready: keep an eye on it while retrying.
                    self.watch(&done.worker, id);
                }
                if supervise {
                    self.schedule_retry(&done.worker, "the restart failed");
                }
            }
        }
        self.save_supervision(&done.worker);
    }

    /// Reads the schedule again; swaps it in only if valid. Returns the restarts due between
    /// the last look and the moment the file was read (`Timeline::reload`).
    fn reload(&mut self, timeline: &mut Timeline) -> Vec<Due> {
        let read_at = self.clock.now();
        let mut due = Vec::new();
        match crate::shell::schedule::load(&self.path) {
            Ok(new) => {
                let findings = self.vet.as_ref().map(|vet| vet(&new)).unwrap_or_default();
                if !findings.is_empty() {
                    let text = findings.join("\n");
                    error!("the edited schedule can be changed by others; keeping the last good schedule:\n{text}");
                    self.alert("schedule_rejected", None, &text);
                    return due;
                }
                log_warnings(&new);
                let before = self.upcoming(&self.schedule, timeline);
                let new = Arc::new(new);
                let after = self.upcoming(&new, timeline);
                due = timeline.reload(&self.schedule, &new, read_at);
                self.schedule = new;
                self.record_schedule();
                if before == after {
                    info!("schedule reloaded; the upcoming restarts are unchanged");
                } else {
                    info!(
                        "schedule reloaded; upcoming restarts were:\n{}\n  and now are:\n{}",
                        before.join("\n"),
                        after.join("\n")
                    );
                }
            }
            Err(ConfigError::Read { source, .. })
                if source.kind() == std::io::ErrorKind::NotFound =>
            {
                warn!(schedule = %self.path.display(), "the schedule file is missing (deleted, or being replaced); keeping the last good schedule");
            }
            Err(ConfigError::Invalid { path, problems }) => {
                let text = Problems {
                    path: &path,
                    problems: &problems,
                }
                .to_string();
                error!("the edited schedule is invalid; keeping the last good schedule:\n{text}");
                self.alert("schedule_rejected", None, &text);
            }
            Err(e) => {
                error!(error = %e, "cannot read the schedule; keeping the last good schedule")
            }
        }
        due
    }

    /// The next few restarts after the timeline, one line each, for change logs.
    fn upcoming(&self, schedule: &Schedule, timeline: &Timeline) -> Vec<String> {
        crate::core::plan::restarts(schedule, timeline.checked() + TimeDelta::nanoseconds(1))
            .take(5)
            .map(|r| {
                let names: Vec<&str> = r
                    .fires
                    .iter()
                    .map(|f| schedule.queries[f.query].name.as_str())
                    .collect();
                format!(
                    "  {} for {}",
                    r.at.with_timezone(&schedule.timezone)
                        .format("%Y-%m-%d %H:%M:%S %Z"),
                    names.join(", ")
                )
            })
            .collect()
    }

    fn log_next(&self, timeline: &Timeline, what: &str) {
        match timeline.next(&self.schedule) {
            Some(r) => info!(
                restart_at = %self.local(r.at),
                queries = %self.query_names(&r),
                workers = ?self.schedule.worker_names(&r.workers(&self.schedule)),
                "{what}"
            ),
            None => info!("no restart is planned"),
        }
    }
}
