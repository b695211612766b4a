//! The restart sequence of one worker: stop, wait, kill what is left, clear a stale pid file,
//! rotate its log if it is larger than its `max_size`, start, confirm.
//!
//! Owns: the order of the steps and their safety rules (only verified processes are killed, a
//! live worker's pid file is never removed, one worker's sequences never overlap — also across
//! processes, through the state directory's lock). Reads the OS through `process`; knows
//! nothing of schedules' times.
//!
//! A planned restart can be split so that its stop request goes out at its instant: `prepare`
//! (shortly before: take the lock, read the state, scan every process) and
//! `Prepared::dispatch` (at the instant: re-check the processes found, same PID and start
//! time, and send the stop request; no lock, file or full scan on that path). The sequence
//! then scans again for processes started in between.
//!
//! A service worker (`service:`, Windows) is restarted through the Service Control Manager
//! instead: `service` (not prepared ahead; no stop command, signal or pid file).

use crate::core::config::{Launch, Schedule, StartSpec, Worker};
use crate::shell::command::{self, Ended, Helper, Running};
use crate::shell::state::{SequenceRecord, Store, WorkerLock};
use crate::sys::clock::Clock;
use crate::sys::os::scm;
use crate::sys::os::SpawnSpec;
use crate::sys::os::{Delivery, Sent};
use crate::sys::process::{self, ProcId, ProcessInfo, Snapshot};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};
use tracing::{debug, info, warn};

/// How often the sequence looks at the worker's processes while it waits for them.
const POLL: Duration = Duration::from_millis(25);
/// How a ready command that did not finish in time is reported.
const NO_ANSWER: &str = "ready command gave no answer";
/// How long killed processes get to disappear before the sequence gives up.
const KILL_WAIT: Duration = Duration::from_secs(5);
/// How long a new worker must stay up before it counts as started.
const SETTLE: Duration = Duration::from_millis(500);
/// Pause between two tries of the `ready` command.
const READY_RETRY: Duration = Duration::from_millis(500);

mod service;

pub(crate) use service::observe;

/// How the old worker went away.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stopped {
    /// No process of the worker was running.
    NotRunning,
    /// Every process exited by itself after the stop request.
    Exited { pids: Vec<u32>, after: Duration },
    /// Some were still running after `grace` and were killed.
    Killed { exited: Vec<u32>, killed: Vec<u32> },
}

/// Why a sequence failed.
#[derive(Debug, thiserror::Error)]
pub enum SequenceError {
    #[error(
        "processes {pids:?} of the worker survived being killed; not starting a second worker"
    )]
    Survivors { pids: Vec<u32> },
    #[error("the pid file {} names process {pid}, which is still the running worker; not starting a second one", path.display())]
    LivePidfile { path: PathBuf, pid: u32 },
    #[error("cannot remove the stale pid file {}: {source}", path.display())]
    Pidfile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot start {program}: {source}")]
    Start {
        program: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot start the worker: its workdir {} does not exist", path.display())]
    Workdir { path: PathBuf },
    #[error("the new worker (pid {pid}) exited within {settle:?} of starting; see its log")]
    ExitedAtStart { pid: u32, settle: Duration },
    #[error("the worker (pid {pid}) did not become ready within {timeout:?}: {last}")]
    NotReady {
        pid: u32,
        timeout: Duration,
        last: String,
    },
    #[error("state directory: {0}")]
    State(#[source] std::io::Error),
    #[error("there is no Windows service named `{service}` (give the service's name, not its display name: `sc query state= all`)")]
    NoSuchService { service: String },
    #[error("the service {service} shares its process with other services (svchost); pacs-warden restarts only a service that has a process of its own")]
    SharedService { service: String },
    #[error("the service {service}: {what}: {source}")]
    Service {
        service: String,
        what: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("the service {service} did not reach RUNNING within {timeout:?}: it is {state}")]
    ServiceNotStarted {
        service: String,
        timeout: Duration,
        state: String,
    },
    #[error("the service {service} is a driver, not a program with a process; pacs-warden restarts only a service that has a process of its own")]
    NotAProcessService { service: String },
    #[error("the service {service}'s process (pid {pid}) is not the worker's: it is pacs-warden itself or one of its parents, or it fits neither `match` nor the service's program; not touching it")]
    ServiceForeign { service: String, pid: u32 },
    #[error("the service {service}'s process (pid {pid}) still runs after grace and after its descendants were killed; not killing it, because {why}")]
    ServiceKillRefused {
        service: String,
        pid: u32,
        why: String,
    },
}

/// The result of one worker's sequence.
#[derive(Debug)]
pub struct Outcome {
    pub worker: String,
    pub stopped: Option<Stopped>,
    pub started: Option<ProcId>,
    /// From the stop request to the new worker's start.
    pub stop_to_start: Option<Duration>,
    pub elapsed: Duration,
    /// Another pacs-warden ran this worker's sequence while this one waited for it.
    pub satisfied_by: Option<SequenceRecord>,
    pub result: Result<(), SequenceError>,
}

impl Outcome {
    pub fn ok(&self) -> bool {
        match &self.satisfied_by {
            Some(record) => record.ok,
            None => self.result.is_ok(),
        }
    }

    /// The ready command's last answer, when the new worker was started and still runs but
    /// never became ready (also when a concurrent restart ended so).
    pub fn not_ready(&self) -> Option<&str> {
        match (&self.satisfied_by, &self.result) {
            (Some(record), _) => record.not_ready.as_deref(),
            (None, Err(SequenceError::NotReady { last, .. })) => Some(last),
            _ => None,
        }
    }

    /// One line for logs and the state file.
    pub fn summary(&self) -> String {
        if let Some(record) = &self.satisfied_by {
            return format!("satisfied by a concurrent restart: {}", record.summary);
        }
        let stopped = match &self.stopped {
            None => String::new(),
            Some(Stopped::NotRunning) => "was not running; ".into(),
            Some(Stopped::Exited { pids, after }) => {
                format!("{pids:?} exited after {}; ", ms(*after))
            }
            Some(Stopped::Killed { exited, killed }) => {
                format!("{exited:?} exited, {killed:?} killed after grace; ")
            }
        };
        match (&self.result, self.started) {
            (Ok(()), Some(id)) => format!("{stopped}started pid {}", id.pid),
            (Ok(()), None) => format!("{stopped}done"),
            (Err(e), _) => format!("{stopped}FAILED: {e}"),
        }
    }
}

fn ms(d: Duration) -> String {
    format!("{:.0} ms", d.as_secs_f64() * 1e3)
}

/// Why a process counts as the worker's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Because {
    /// pacs-warden started it (same PID and start time as recorded).
    StartedByUs,
    /// The pid file names it, it matches `match`, and it started before the file was written.
    Pidfile,
    /// It matches `match`.
    Matches,
    /// The Service Control Manager names it as the worker's service process.
    Service,
}

/// The worker's running processes: verified roots and, through them, their whole tree.
#[derive(Debug, Clone)]
pub struct Found {
    pub roots: Vec<(ProcessInfo, Because)>,
    /// Roots and descendants, deepest first.
    pub tree: Vec<ProcessInfo>,
}

/// Finds `worker`'s processes in `snap`. Never counts pacs-warden itself or its ancestors.
pub fn find_worker(
    worker: &Worker,
    snap: &Snapshot,
    started: Option<ProcId>,
    pidfile: Option<&Path>,
) -> Found {
    let me = std::process::id();
    let mut excluded = vec![me];
    let mut cursor = snap.get(me).and_then(|p| p.parent);
    while let Some(pid) = cursor {
        if excluded.contains(&pid) {
            break;
        }
        excluded.push(pid);
        cursor = snap.get(pid).and_then(|p| p.parent);
    }

    let mut roots: Vec<(ProcessInfo, Because)> = Vec::new();
    let mut add = |p: &ProcessInfo, why: Because| {
        if !excluded.contains(&p.id.pid) && !roots.iter().any(|(r, _)| r.id == p.id) {
            roots.push((p.clone(), why));
        }
    };
    if let Some(id) = started {
        if let Some(p) = snap.get(id.pid).filter(|p| p.id == id) {
            add(p, Because::StartedByUs);
        }
    }
    match &worker.launch {
        Launch::Service { name, .. } => {
            // The SCM's word only (a process found by `match` alone is not the service's).
            if let Some(p) = service_process(name, snap).filter(|p| fits(worker, p)) {
                add(p, Because::Service);
            }
        }
        Launch::Command { matcher, .. } => {
            let matches =
                |p: &ProcessInfo| process::matches(&matcher.image, &matcher.args_contain, p);
            if let Some(path) = pidfile {
                if let Some((pid, written)) = read_pidfile(path) {
                    if let Some(p) = snap.get(pid) {
                        // start_time has whole seconds: allow the second it was written in.
                        let started_before = written.is_none_or(|w| p.id.start_time <= w + 1);
                        if matches(p) && started_before {
                            add(p, Because::Pidfile);
                        }
                    }
                }
            }
            for p in &snap.processes {
                if matches(p) {
                    add(p, Because::Matches);
                }
            }
        }
    }
    let ids: Vec<ProcId> = roots.iter().map(|(p, _)| p.id).collect();
    let tree = snap
        .tree(&ids)
        .into_iter()
        .filter(|p| !excluded.contains(&p.id.pid))
        .collect();
    Found { roots, tree }
}

/// The process the SCM names as the service `name`'s, as `snap` saw it; `None` when the
/// service has none, cannot be read, or shares its process with other services.
fn service_process<'a>(name: &str, snap: &'a Snapshot) -> Option<&'a ProcessInfo> {
    let status = scm::open(name).and_then(|s| s.status()).ok()?;
    if status.kind != scm::Kind::OwnProcess {
        return None;
    }
    snap.get(status.pid?)
}

/// The PID in a pid file and when the file was last written (Unix seconds).
fn read_pidfile(path: &Path) -> Option<(u32, Option<u64>)> {
    let text = read_pidfile_text(path).ok()?;
    let pid = text.trim().parse().ok()?;
    let written = std::fs::metadata(path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
        .map(|d| d.as_secs());
    Some((pid, written))
}

/// The first step of a sequence, done ahead of its instant (see the module doc): the worker's
/// lock is held from here on.
pub struct Prepared {
    lock: WorkerLock,
    started: Option<ProcId>,
    found: Found,
}

/// A sequence whose stop request has gone out; `restart_dispatched` goes on from there.
pub struct Dispatched {
    lock: WorkerLock,
    started: Option<ProcId>,
    found: Found,
    asked: Asked,
    /// The processes were found ahead of time: look again for ones started since.
    rescan: bool,
}

/// The stop request as sent by `Steps::ask`, not yet logged.
struct Asked {
    t0: Instant,
    command: Option<Vec<String>>,
    child: Option<Running>,
    spawn_error: Option<std::io::Error>,
    signalled: Vec<(ProcId, Result<Sent, crate::sys::os::KillError>)>,
    /// Console events on their way (Windows): each helper's verdict is logged when it ends.
    deliveries: Vec<Delivery>,
}

/// Takes `worker`'s lock and finds its processes, ahead of a planned restart. `None` when
/// another sequence holds the lock or the state directory cannot be used: the sequence then
/// runs unprepared (and waits for the other one, as usual).
pub async fn prepare(schedule: &Schedule, worker: &Worker, store: &Store) -> Option<Prepared> {
    if worker.service().is_some() {
        // Asked through the Service Control Manager, when the sequence runs.
        return None;
    }
    let lock = match store.try_lock_worker(&worker.name) {
        Ok(Some(lock)) => lock,
        Ok(None) => {
            debug!(worker = %worker.name, "another restart of this worker holds its lock; not preparing");
            return None;
        }
        Err(e) => {
            debug!(worker = %worker.name, error = %e, "cannot take the worker's lock; not preparing");
            return None;
        }
    };
    let steps = Steps {
        schedule,
        worker,
        store,
    };
    let started = steps.started();
    let found = steps.find_in(&snapshot().await, started);
    Some(Prepared {
        lock,
        started,
        found,
    })
}

impl Prepared {
    /// At the instant: keeps the processes found that are still the same (PID and start
    /// time) and sends them the stop request at once. Logs nothing; `restart_dispatched` does.
    pub fn dispatch(self, schedule: &Schedule, worker: &Worker, store: &Store) -> Dispatched {
        let steps = Steps {
            schedule,
            worker,
            store,
        };
        let mut found = self.found;
        // The roots first (usually one process): the request goes out once one still runs,
        // and the rest of the tree is checked after it.
        found.roots.retain(|(p, _)| process::is_running(p.id));
        let roots: Vec<ProcId> = found.roots.iter().map(|(p, _)| p.id).collect();
        if roots.is_empty() {
            found.tree.retain(|p| process::is_running(p.id));
        }
        let asked = steps.ask(&found);
        found
            .tree
            .retain(|p| roots.contains(&p.id) || process::is_running(p.id));
        Dispatched {
            lock: self.lock,
            started: self.started,
            found,
            asked,
            rescan: true,
        }
    }
}

/// Runs the sequence for `worker` now.
pub async fn restart(
    schedule: &Schedule,
    worker: &Worker,
    store: &Store,
    clock: &dyn Clock,
) -> Outcome {
    restart_dispatched(schedule, worker, store, clock, None).await
}

/// `restart`, going on from a stop request already sent (`early`, see `prepare`) if given.
pub async fn restart_dispatched(
    schedule: &Schedule,
    worker: &Worker,
    store: &Store,
    clock: &dyn Clock,
    early: Option<Dispatched>,
) -> Outcome {
    let requested_at = clock.now();
    let began = early.as_ref().map_or_else(Instant::now, |d| d.asked.t0);
    let name = worker.name.clone();
    let mut outcome = Outcome {
        worker: name.clone(),
        stopped: None,
        started: None,
        stop_to_start: None,
        elapsed: Duration::ZERO,
        satisfied_by: None,
        result: Ok(()),
    };

    let steps = Steps {
        schedule,
        worker,
        store,
    };
    let early = match early {
        Some(early) => early,
        None => {
            let (lock, waited) = match store.lock_worker(&name).await {
                Ok(l) => l,
                Err(e) => {
                    outcome.result = Err(SequenceError::State(e));
                    return outcome;
                }
            };
            if waited {
                let last = store.read().workers.get(&name).and_then(|w| w.last.clone());
                if let Some(record) = last.filter(|r| r.finished_at >= requested_at) {
                    info!(worker = %name, summary = %record.summary, "a concurrent restart finished while waiting; not restarting again");
                    outcome.satisfied_by = Some(record);
                    outcome.elapsed = began.elapsed();
                    return outcome;
                }
            }
            let started = steps.started();
            let found = if worker.service().is_some() {
                // The Service Control Manager names the process (`run_service`).
                Found {
                    roots: Vec::new(),
                    tree: Vec::new(),
                }
            } else {
                steps.find_in(&snapshot().await, started)
            };
            let asked = steps.ask(&found);
            Dispatched {
                lock,
                started,
                found,
                asked,
                rescan: false,
            }
        }
    };
    let Dispatched {
        lock: _lock,
        started,
        found,
        asked,
        rescan,
    } = early;

    let began_at = clock.now();
    outcome.result = match &worker.launch {
        Launch::Service { name, .. } => steps.run_service(&mut outcome, name).await,
        Launch::Command { start, .. } => {
            steps
                .run(&mut outcome, start, found, asked, started, rescan)
                .await
        }
    };
    outcome.elapsed = began.elapsed();
    let record = SequenceRecord {
        began_at,
        finished_at: clock.now(),
        ok: outcome.result.is_ok(),
        summary: outcome.summary(),
        not_ready: outcome.not_ready().map(str::to_string),
    };
    let started = outcome.started;
    if let Err(e) = store.update(|s| {
        let w = s.workers.entry(name.clone()).or_default();
        if started.is_some() {
            w.started = started;
        }
        w.last = Some(record);
    }) {
        warn!(worker = %name, error = %e, "cannot record the sequence in the state directory");
    }
    match &outcome.result {
        Ok(()) => {
            info!(worker = %name, elapsed = %ms(outcome.elapsed), "restart done: {}", outcome.summary())
        }
        Err(_) => {
            warn!(worker = %name, elapsed = %ms(outcome.elapsed), "restart failed: {}", outcome.summary())
        }
    }
    outcome
}

struct Steps<'a> {
    schedule: &'a Schedule,
    worker: &'a Worker,
    store: &'a Store,
}

impl Steps<'_> {
    fn pidfile(&self) -> Option<PathBuf> {
        self.worker
            .pidfile
            .as_deref()
            .map(|p| self.schedule.resolve(p))
    }

    fn workdir(&self) -> PathBuf {
        self.schedule.workdir(self.worker)
    }

    /// A command of the worker as it runs (its program resolved), for logs.
    fn command(&self, args: &[String]) -> Vec<String> {
        command::resolve(args, &self.workdir())
    }

    /// The worker process pacs-warden started last, as recorded.
    fn started(&self) -> Option<ProcId> {
        self.store
            .read()
            .workers
            .get(&self.worker.name)
            .and_then(|w| w.started)
    }

    fn find_in(&self, snap: &Snapshot, started: Option<ProcId>) -> Found {
        find_worker(self.worker, snap, started, self.pidfile().as_deref())
    }

    fn find(&self) -> Found {
        self.find_in(&Snapshot::take(), self.started())
    }

    async fn run(
        &self,
        outcome: &mut Outcome,
        start: &StartSpec,
        mut found: Found,
        mut asked: Asked,
        started: Option<ProcId>,
        rescan: bool,
    ) -> Result<(), SequenceError> {
        let w = &self.worker.name;
        let stop_began = asked.t0;
        if !found.tree.is_empty() {
            self.report(&found, &mut asked);
        }
        if rescan {
            self.rescan(&mut found, &mut asked, started).await;
        }
        if found.tree.is_empty() {
            info!(worker = %w, "worker is not running");
            outcome.stopped = Some(Stopped::NotRunning);
        } else {
            outcome.stopped = Some(self.stop(&found, asked).await?);
        }
        self.clear_pidfile().await?;
        self.rotate_log(start);
        let id = self.start(start).await?;
        outcome.stop_to_start = Some(stop_began.elapsed());
        outcome.started = Some(id);
        self.confirm(id).await
    }

    /// Step 1, without waiting and without logging (`report` does, once the request is out):
    /// runs the stop command and sends the stop signal, if `found` has processes.
    fn ask(&self, found: &Found) -> Asked {
        let t0 = Instant::now();
        let command = self.worker.stop.command.as_ref().map(|c| self.command(c));
        let mut asked = Asked {
            t0,
            command,
            child: None,
            spawn_error: None,
            signalled: Vec::new(),
            deliveries: Vec::new(),
        };
        if found.tree.is_empty() {
            return asked;
        }
        if let Some(cmd) = &self.worker.stop.command {
            match self.spawn_helper(cmd) {
                Ok(child) => asked.child = Some(child),
                Err(e) => asked.spawn_error = Some(e),
            }
        }
        asked.signalled = self.signal_tops(found, &[]);
        asked
    }

    /// Sends the stop signal, if any, to the top of each tree of `found` (a pool's children
    /// are the parent's to stop), except to `skip`.
    fn signal_tops(
        &self,
        found: &Found,
        skip: &[ProcId],
    ) -> Vec<(ProcId, Result<Sent, crate::sys::os::KillError>)> {
        let Some(signal) = self.worker.stop.signal else {
            return Vec::new();
        };
        // A console event reaches every process on the worker's console; the helper checks
        // that they all belong to this tree.
        let tree: Vec<ProcId> = found.tree.iter().map(|p| p.id).collect();
        found
            .roots
            .iter()
            .filter(|(p, _)| !found.tree.iter().any(|t| Some(t.id.pid) == p.parent))
            .filter(|(p, _)| !skip.contains(&p.id))
            .map(|(p, _)| {
                let sent = crate::sys::os::stop_signal(p.id, os_signal(signal), &tree);
                (p.id, sent)
            })
            .collect()
    }

    /// Logs what was found and what `ask` did, in the order of the steps.
    fn report(&self, found: &Found, asked: &mut Asked) {
        let w = &self.worker.name;
        let pids: Vec<u32> = found.tree.iter().map(|p| p.id.pid).collect();
        for (p, why) in &found.roots {
            info!(worker = %w, pid = p.id.pid, because = ?why, cmdline = %p.cmdline_text(), "found worker process");
        }
        info!(worker = %w, ?pids, "stopping the worker (its process tree)");
        match &asked.command {
            Some(cmd) => {
                info!(worker = %w, command = ?cmd, "running the stop command");
                if let Some(e) = asked.spawn_error.take() {
                    warn!(worker = %w, error = %e, "the stop command could not be run; the worker will be killed after grace");
                }
            }
            None if self.worker.stop.signal.is_some() => {}
            None => {
                info!(worker = %w, grace = ?self.worker.stop.grace, "no stop command; waiting out grace before killing");
            }
        }
        self.report_signals(asked);
    }

    fn report_signals(&self, asked: &mut Asked) {
        let w = &self.worker.name;
        let signal = self.worker.stop.signal;
        for (id, sent) in asked.signalled.drain(..) {
            match sent {
                Ok(Sent::Signalled) => {
                    info!(worker = %w, pid = id.pid, ?signal, "sent the stop signal")
                }
                Ok(Sent::Console(delivery)) => {
                    debug!(worker = %w, pid = id.pid, ?signal, "sending the console event through a helper");
                    asked.deliveries.push(delivery);
                }
                Err(e) => warn!(worker = %w, error = %e, "cannot send the stop signal"),
            }
        }
    }

    /// Logs the verdict of each console-event helper that has ended; `wait` gives the others
    /// up to `KILL_WAIT` and then abandons them.
    async fn report_deliveries(&self, deliveries: &mut Vec<Delivery>, wait: bool) {
        let w = &self.worker.name;
        let signal = self.worker.stop.signal;
        let until = Instant::now() + KILL_WAIT;
        loop {
            deliveries.retain_mut(|d| match d.poll() {
                None => true,
                Some(v) if v.sent => {
                    info!(worker = %w, ?signal, detail = %v.text, "sent the stop signal");
                    false
                }
                Some(v) => {
                    warn!(worker = %w, ?signal, detail = %v.text, "the stop signal was not sent; what still runs after grace is killed");
                    false
                }
            });
            if !wait || deliveries.is_empty() || Instant::now() >= until {
                break;
            }
            tokio::time::sleep(POLL).await;
        }
        if wait {
            for d in deliveries.drain(..) {
                warn!(worker = %w, "the console-event helper did not finish; abandoned");
                d.abandon();
            }
        }
    }

    /// After an early scan (`prepare`): scans again, so that a worker process started since
    /// is stopped too. The stop command's own processes are not the worker's.
    async fn rescan(&self, found: &mut Found, asked: &mut Asked, started: Option<ProcId>) {
        let w = &self.worker.name;
        let snap = snapshot().await;
        let asker: Vec<u32> = asked
            .child
            .as_ref()
            .and_then(Running::pid)
            .and_then(|pid| snap.get(pid))
            .map(|p| snap.tree(&[p.id]).iter().map(|p| p.id.pid).collect())
            .unwrap_or_default();
        let fresh = self.find_in(&snap, started);
        let known = |id: ProcId| found.tree.iter().any(|p| p.id == id);
        let new_roots: Vec<(ProcessInfo, Because)> = fresh
            .roots
            .into_iter()
            .filter(|(p, _)| !known(p.id) && !asker.contains(&p.id.pid))
            .collect();
        let new_tree: Vec<ProcessInfo> = fresh
            .tree
            .into_iter()
            .filter(|p| !known(p.id) && !asker.contains(&p.id.pid))
            .collect();
        if new_tree.is_empty() {
            return;
        }
        if found.tree.is_empty() {
            // Nothing was running at the instant, but it is now: ask it to stop.
            *found = Found {
                roots: new_roots,
                tree: new_tree,
            };
            *asked = self.ask(found);
            self.report(found, asked);
            return;
        }
        let asked_before: Vec<ProcId> = found.roots.iter().map(|(p, _)| p.id).collect();
        for (p, why) in &new_roots {
            info!(worker = %w, pid = p.id.pid, because = ?why, cmdline = %p.cmdline_text(), "found worker process");
        }
        let pids: Vec<u32> = new_tree.iter().map(|p| p.id.pid).collect();
        info!(worker = %w, ?pids, "stopping these too (started after the worker's processes were first looked up)");
        found.roots.extend(new_roots);
        found.tree.extend(new_tree);
        asked.signalled = self.signal_tops(found, &asked_before);
        self.report_signals(asked);
    }

    /// Steps 2–3 after `ask`: wait up to `grace`, kill what is left.
    async fn stop(&self, found: &Found, asked: Asked) -> Result<Stopped, SequenceError> {
        let w = &self.worker.name;
        let ids: Vec<ProcId> = found.tree.iter().map(|p| p.id).collect();
        let t0 = asked.t0;
        let mut asker = asked.child;
        let mut deliveries = asked.deliveries;
        let grace = self.worker.stop.grace;
        let mut running = ids.clone();
        let mut last_sent = t0;
        let mut sent = 1;
        loop {
            running = still_running(&running);
            self.report_deliveries(&mut deliveries, false).await;
            if let Some(child) = &mut asker {
                if let Some(status) = child.try_wait() {
                    info!(worker = %w, status = %status, after = %ms(t0.elapsed()), "stop command finished (its exit status is not trusted)");
                    asker = None;
                }
            }
            if running.is_empty() || t0.elapsed() >= grace {
                break;
            }
            // Ask again every `repeat`: a busy worker may have missed (or let expire) the
            // earlier request.
            if let (Some(repeat), Some(cmd)) = (self.worker.stop.repeat, &self.worker.stop.command)
            {
                if last_sent.elapsed() >= repeat {
                    if let Some(old) = asker.take() {
                        old.kill().await;
                    }
                    sent += 1;
                    info!(worker = %w, pids = ?running.iter().map(|i| i.pid).collect::<Vec<_>>(), time = sent, "still running; sending the stop command again");
                    asker = self.spawn_helper(cmd).ok();
                    last_sent = Instant::now();
                }
            }
            tokio::time::sleep(POLL).await;
        }
        self.report_deliveries(&mut deliveries, true).await;
        if let Some(child) = asker {
            // The worker is gone (or grace is over): the command's answer no longer matters.
            child.kill().await;
            debug!(worker = %w, "stop command abandoned");
        }

        if running.is_empty() {
            let after = t0.elapsed();
            info!(worker = %w, after = %ms(after), "every worker process exited");
            return Ok(Stopped::Exited {
                pids: ids.iter().map(|i| i.pid).collect(),
                after,
            });
        }

        // Kill what is left of the tree, including children started meanwhile.
        let tree: Vec<ProcId> = snapshot()
            .await
            .tree(&running)
            .iter()
            .map(|p| p.id)
            .collect();
        warn!(worker = %w, pids = ?tree.iter().map(|i| i.pid).collect::<Vec<_>>(), grace = ?grace, "still running after grace; killing");
        let killed = self.kill_and_wait(&tree).await?;
        let exited = ids
            .iter()
            .map(|i| i.pid)
            .filter(|p| !killed.contains(p))
            .collect();
        Ok(Stopped::Killed { exited, killed })
    }

    /// Kills each of `ids` that is still that process (PID and start time; in the order given:
    /// a tree comes deepest first) and waits up to `KILL_WAIT` for them to be gone; survivors
    /// are an error. The PIDs it killed (not those that exited on their own meanwhile).
    async fn kill_and_wait(&self, ids: &[ProcId]) -> Result<Vec<u32>, SequenceError> {
        let w = &self.worker.name;
        let mut killed = Vec::new();
        for id in ids {
            match crate::sys::os::kill_verified(*id) {
                Ok(()) => {
                    debug!(worker = %w, pid = id.pid, "killed");
                    killed.push(id.pid);
                }
                Err(crate::sys::os::KillError::NotRunning(_)) => {}
                Err(e) => warn!(worker = %w, error = %e, "kill failed"),
            }
        }
        let left = wait_gone(ids, KILL_WAIT).await;
        if !left.is_empty() {
            return Err(SequenceError::Survivors {
                pids: left.iter().map(|i| i.pid).collect(),
            });
        }
        Ok(killed)
    }

    /// Step 4: remove the pid file if stale; refuse if it names the live worker.
    async fn clear_pidfile(&self) -> Result<(), SequenceError> {
        let Some(path) = self.pidfile() else {
            return Ok(());
        };
        let w = &self.worker.name;
        let text = match read_pidfile_text(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                debug!(worker = %w, pidfile = %path.display(), "no pid file");
                return Ok(());
            }
            Err(e) => {
                return Err(SequenceError::Pidfile { path, source: e });
            }
        };
        let why = match text.trim().parse::<u32>() {
            Err(_) => "it does not hold a PID".to_string(),
            Ok(pid) => {
                let snap = snapshot().await;
                match snap.get(pid) {
                    None => format!("process {pid} is gone"),
                    Some(p) if fits(self.worker, p) => {
                        return Err(SequenceError::LivePidfile { path, pid });
                    }
                    Some(p) => format!(
                        "PID {pid} now belongs to an unrelated process ({}), which is left alone",
                        p.name
                    ),
                }
            }
        };
        std::fs::remove_file(&path).map_err(|source| SequenceError::Pidfile {
            path: path.clone(),
            source,
        })?;
        info!(worker = %w, pidfile = %path.display(), "removed the stale pid file: {why}");
        Ok(())
    }

    /// Between stop and start, while no process of the worker holds its log open (on Windows a
    /// file held open cannot be renamed): rotate the log if it is larger than its `max_size`.
    /// A failure is a warning; the worker's output then goes on into the same file.
    fn rotate_log(&self, start: &StartSpec) {
        if let Some(log) = &start.log {
            let who = format!("worker {}", self.worker.name);
            crate::shell::logging::rotate_by_size(
                &self.schedule.resolve(log),
                start.log_limits,
                &who,
            );
        }
    }

    /// Step 5: start the worker detached.
    async fn start(&self, start: &StartSpec) -> Result<ProcId, SequenceError> {
        let w = &self.worker.name;
        let command = self.command(&start.command);
        let log = start.log.as_deref().map(|l| self.schedule.resolve(l));
        let workdir = self.workdir();
        let spec = SpawnSpec {
            command: &command,
            workdir: &workdir,
            env: &self.worker.env,
            log: log.as_deref(),
        };
        let spawned = crate::sys::os::spawn_detached(&spec).map_err(|source| {
            // The OS reports a missing working folder as a missing program.
            if workdir.is_dir() {
                SequenceError::Start {
                    program: command[0].clone(),
                    source,
                }
            } else {
                SequenceError::Workdir { path: workdir }
            }
        })?;
        info!(
            worker = %w,
            pid = spawned.id.pid,
            command = ?command,
            log = %log.as_deref().map(|l| l.display().to_string()).unwrap_or_else(|| "-".into()),
            "started the worker"
        );
        // Dropping the handle leaves the worker running; tokio reaps it when it exits.
        drop(spawned.child);
        Ok(spawned.id)
    }

    /// Step 6: still alive after a short settle time, and ready if `ready` is set.
    async fn confirm(&self, id: ProcId) -> Result<(), SequenceError> {
        let w = &self.worker.name;
        tokio::time::sleep(SETTLE).await;
        if !process::is_running(id) {
            return Err(SequenceError::ExitedAtStart {
                pid: id.pid,
                settle: SETTLE,
            });
        }
        let Some(ready) = &self.worker.ready else {
            return Ok(());
        };
        let t0 = Instant::now();
        let deadline = t0 + ready.timeout;
        let mut last = String::from("never ran");
        let mut tries = 0;
        while Instant::now() < deadline {
            tries += 1;
            let left = deadline.saturating_duration_since(Instant::now());
            match self.ready_once(&ready.command, left).await {
                Ok(()) => {
                    info!(worker = %w, after = %ms(t0.elapsed()), tries, "worker is ready");
                    return Ok(());
                }
                // A last try cut short by the deadline says less than an earlier real answer
                // (e.g. Celery's "No nodes replied"): keep that one for the message.
                Err(answer) if tries > 1 && answer.starts_with(NO_ANSWER) => {}
                Err(answer) => last = answer,
            }
            if !process::is_running(id) {
                return Err(SequenceError::ExitedAtStart {
                    pid: id.pid,
                    settle: t0.elapsed(),
                });
            }
            tokio::time::sleep(READY_RETRY.min(deadline.saturating_duration_since(Instant::now())))
                .await;
        }
        Err(SequenceError::NotReady {
            pid: id.pid,
            timeout: ready.timeout,
            last,
        })
    }

    /// Runs the `ready` command once, for at most `limit`. `Err` says why it did not succeed,
    /// with the end of what it printed (one line, control characters escaped).
    async fn ready_once(&self, command: &[String], limit: Duration) -> Result<(), String> {
        match self.run_helper(command, limit).await {
            Err(e) => Err(format!("cannot run the ready command: {e}")),
            Ok(Ended::Exited(out)) if out.status.success() => Ok(()),
            Ok(Ended::Exited(out)) => Err(format!(
                "ready command exited with {}: {}",
                out.status,
                helper_output(&out)
            )),
            Ok(Ended::Failed(e)) => Err(format!("ready command failed: {e}")),
            Ok(Ended::TimedOut) => Err(format!(
                "{NO_ANSWER} within {}",
                crate::core::report::file_duration(limit)
            )),
        }
    }

    /// Starts a stop command (output discarded): it runs until it exits or is abandoned.
    fn spawn_helper(&self, command: &[String]) -> std::io::Result<Running> {
        command::start(Helper {
            argv: command,
            workdir: &self.workdir(),
            env: &self.worker.env,
            stdin: None,
            output: command::Output::Discard,
        })
    }

    /// Runs a ready or busy command for at most `limit`, its output captured.
    async fn run_helper(&self, command: &[String], limit: Duration) -> std::io::Result<Ended> {
        let helper = Helper {
            argv: command,
            workdir: &self.workdir(),
            env: &self.worker.env,
            stdin: None,
            output: command::Output::Capture,
        };
        command::run(helper, limit).await
    }
}

/// A process snapshot taken off the async thread: reading every process can take a while on a
/// busy machine, and the daemon's timers share that thread.
async fn snapshot() -> Snapshot {
    tokio::task::spawn_blocking(Snapshot::take)
        .await
        .unwrap_or_default()
}

/// Whether `p` fits the worker's `match` (a service worker without one: any process the SCM
/// names).
fn fits(worker: &Worker, p: &ProcessInfo) -> bool {
    worker
        .matcher()
        .is_none_or(|m| process::matches(&m.image, &m.args_contain, p))
}

/// Waits up to `limit` for `ids` to be gone; those still running then.
async fn wait_gone(ids: &[ProcId], limit: Duration) -> Vec<ProcId> {
    let until = Instant::now() + limit;
    let mut left = still_running(ids);
    while !left.is_empty() && Instant::now() < until {
        tokio::time::sleep(POLL).await;
        left = still_running(&left);
    }
    left
}

/// The processes of `ids` that still run (same PID and start time, not a zombie).
fn still_running(ids: &[ProcId]) -> Vec<ProcId> {
    ids.iter()
        .copied()
        .filter(|id| process::is_running(*id))
        .collect()
}

/// How many of its last lines a helper command's output keeps in messages.
const OUTPUT_LINES: usize = 3;
/// At most this many characters of them.
const OUTPUT_CHARS: usize = 400;

/// What a helper command (the `ready` command) printed, for a message and a log line: the last
/// few non-empty lines of stdout then stderr, trimmed, joined with ` | `, with control
/// characters escaped so it can neither split a log line nor drive a terminal.
pub fn helper_output(out: &std::process::Output) -> String {
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    if lines.is_empty() {
        return "(no output)".into();
    }
    let tail = lines[lines.len().saturating_sub(OUTPUT_LINES)..].join(" | ");
    // Cut first, then escape (`core::text::escape`: controls, bidi and invisible characters),
    // so that the cut never splits an escape.
    let count = tail.chars().count();
    if count > OUTPUT_CHARS {
        let cut: String = tail.chars().skip(count - OUTPUT_CHARS).collect();
        format!("…{}", crate::core::text::escape(&cut))
    } else {
        crate::core::text::escape(&tail).into_owned()
    }
}

/// The text of a pid file as Windows tools write it too: a UTF-8 byte-order mark dropped,
/// UTF-16 (PowerShell 5.1's `Out-File` and `>`) decoded, as the schedule file is read.
fn read_pidfile_text(path: &Path) -> std::io::Result<String> {
    let bytes = std::fs::read(path)?;
    Ok(crate::core::config::yaml::decode(&bytes)
        .map(std::borrow::Cow::into_owned)
        .unwrap_or_else(|_| String::from_utf8_lossy(&bytes).into_owned()))
}

/// Runs `worker`'s `ready` command once (what the daemon does again, with growing pauses,
/// while a started worker is not ready). `None` when the worker has no `ready` command.
pub async fn probe_ready(schedule: &Schedule, worker: &Worker) -> Option<Result<(), String>> {
    let ready = worker.ready.as_ref()?;
    let steps = Steps {
        schedule,
        worker,
        store: &Store::new(schedule.state_dir()),
    };
    Some(steps.ready_once(&ready.command, ready.timeout).await)
}

/// Describes, without doing anything, what the sequence would do now.
pub fn describe(schedule: &Schedule, worker: &Worker, store: &Store) -> String {
    use std::fmt::Write as _;
    let steps = Steps {
        schedule,
        worker,
        store,
    };
    let mut out = String::new();
    let w = &worker.name;
    let found = steps.find();
    let _ = writeln!(out, "worker {w}:");
    if found.tree.is_empty() {
        let _ = writeln!(out, "  1-3. not running: nothing to stop");
    } else {
        for (p, why) in &found.roots {
            let _ = writeln!(
                out,
                "  found pid {} ({why:?}): {}",
                p.id.pid,
                p.cmdline_text()
            );
        }
        let pids: Vec<u32> = found.tree.iter().map(|p| p.id.pid).collect();
        match (worker.service(), &worker.stop.command) {
            (Some(service), _) => {
                let _ = writeln!(
                    out,
                    "  1. would ask the Service Control Manager to stop the service {service}"
                );
            }
            (None, Some(c)) => {
                let _ = writeln!(
                    out,
                    "  1. would run the stop command {:?}",
                    steps.command(c)
                );
            }
            (None, None) => {
                let _ = writeln!(out, "  1. no stop command");
            }
        }
        let _ = writeln!(
            out,
            "  2. would wait up to {} for pids {pids:?} to exit",
            crate::core::report::file_duration(worker.stop.grace)
        );
        let _ = writeln!(
            out,
            "  3. would kill those still running then (children first)"
        );
    }
    match steps.pidfile() {
        Some(path) => match read_pidfile(&path) {
            Some((pid, _)) => {
                let _ = writeln!(
                    out,
                    "  4. pid file {} holds {pid}: would remove it once that process is not the worker",
                    path.display()
                );
            }
            None => {
                let _ = writeln!(
                    out,
                    "  4. pid file {}: absent or empty, nothing to remove",
                    path.display()
                );
            }
        },
        None => {
            let _ = writeln!(out, "  4. no pid file configured");
        }
    }
    match &worker.launch {
        Launch::Command { start, .. } => {
            let _ = writeln!(
                out,
                "  5. would start {:?} in {}{}",
                steps.command(&start.command),
                steps.workdir().display(),
                start
                    .log
                    .as_deref()
                    .map(|l| format!(", output appended to {}", schedule.resolve(l).display()))
                    .unwrap_or_default()
            );
        }
        Launch::Service { name, .. } => {
            let _ = writeln!(
                out,
                "  5. would start the service {name} through the Service Control Manager and \
                 wait for RUNNING"
            );
        }
    }
    match &worker.ready {
        Some(r) => {
            let _ = writeln!(
                out,
                "  6. would check it stays up, then run {:?} until it succeeds (up to {})",
                steps.command(&r.command),
                crate::core::report::file_duration(r.timeout)
            );
        }
        None => {
            let _ = writeln!(out, "  6. would check it stays up for {}", ms(SETTLE));
        }
    }
    out
}

/// How long one busy probe may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(30);

/// Asks whether `worker` is in the middle of work, with its `busy` command. Anything but a
/// clear "idle" answer counts as busy: a solo Celery worker does not answer while it works.
/// Returns `None` when the worker has no `busy` probe.
pub async fn is_busy(schedule: &Schedule, worker: &Worker) -> Option<(bool, String)> {
    let busy = worker.busy.as_ref()?;
    let steps = Steps {
        schedule,
        worker,
        store: &Store::new(schedule.state_dir()),
    };
    let answer = match steps.run_helper(&busy.command, PROBE_TIMEOUT).await {
        Err(e) => (true, format!("cannot run the busy probe: {e}")),
        Ok(ended) => match ended {
            Ended::TimedOut => (true, "no answer within 30 s".to_string()),
            Ended::Failed(e) => (true, format!("the busy probe failed: {e}")),
            Ended::Exited(out) if !out.status.success() => {
                (true, format!("no answer (exit status {})", out.status))
            }
            Ended::Exited(out) => {
                let text = String::from_utf8_lossy(&out.stdout);
                match busy.idle_when {
                    crate::core::config::IdleWhen::ExitZero => (false, "idle".to_string()),
                    crate::core::config::IdleWhen::CeleryActiveEmpty => {
                        if celery_active_is_empty(&text) {
                            (false, "idle (no active tasks)".to_string())
                        } else {
                            (true, format!("active tasks: {}", text.trim()))
                        }
                    }
                }
            }
        },
    };
    Some(answer)
}

/// Whether `celery inspect active --json` output says no task is running: a JSON object whose
/// every value is an empty list. Anything else (tasks, or output it cannot read) is "busy".
fn celery_active_is_empty(text: &str) -> bool {
    let Some(start) = text.find('{') else {
        return false;
    };
    match serde_json::from_str::<serde_json::Value>(text[start..].trim()) {
        Ok(serde_json::Value::Object(nodes)) => {
            !nodes.is_empty()
                && nodes
                    .values()
                    .all(|v| v.as_array().is_some_and(|a| a.is_empty()))
        }
        _ => false,
    }
}

/// The OS seam's name for a schedule's `stop.signal`.
fn os_signal(signal: crate::core::config::StopSignal) -> crate::sys::os::Signal {
    use crate::core::config::StopSignal;
    use crate::sys::os::Signal;
    match signal {
        StopSignal::Term => Signal::Term,
        StopSignal::Int => Signal::Int,
        StopSignal::Quit => Signal::Quit,
        StopSignal::Hup => Signal::Hup,
        StopSignal::CtrlC => Signal::CtrlC,
        StopSignal::CtrlBreak => Signal::CtrlBreak,
    }
}

#[cfg(test)]
mod tests {
    use super::{celery_active_is_empty, helper_output, read_pidfile};

    #[test]
    fn pid_files_from_windows_tools_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.pid");
        // UTF-8 with a byte-order mark and CRLF (Notepad), and UTF-16 LE with its mark
        // (PowerShell 5.1's `Out-File` and `>`).
        let mut utf16 = vec![0xff, 0xfe];
        utf16.extend("4321\r\n".encode_utf16().flat_map(u16::to_le_bytes));
        for bytes in [b"\xef\xbb\xbf1234\r\n".to_vec(), utf16] {
            std::fs::write(&path, &bytes).unwrap();
            let pid = read_pidfile(&path).map(|(pid, _)| pid);
            assert!(
                matches!(pid, Some(1234 | 4321)),
                "{bytes:?} read as {pid:?}"
            );
        }
    }

    #[test]
    fn a_helper_s_output_cannot_reorder_or_hide_text() {
        // Bidi overrides and invisible characters are shown as escapes, like control ones.
        let shown = helper_output(&output("ok \u{202e}olleh\u{200b} \u{1b}[2J", ""));
        assert!(
            !shown.contains('\u{202e}') && !shown.contains('\u{200b}'),
            "{shown}"
        );
        assert!(!shown.contains('\u{1b}'), "{shown}");
        assert!(shown.contains("\\u{202e}"), "{shown}");
    }

    fn output(stdout: &str, stderr: &str) -> std::process::Output {
        #[cfg(unix)]
        let status = std::os::unix::process::ExitStatusExt::from_raw(69 << 8);
        #[cfg(windows)]
        let status = std::os::windows::process::ExitStatusExt::from_raw(69);
        std::process::Output {
            status,
            stdout: stdout.as_bytes().to_vec(),
            stderr: stderr.as_bytes().to_vec(),
        }
    }

    #[test]
    fn a_helper_s_output_is_its_last_lines_on_one_line_with_controls_escaped() {
        assert_eq!(
            helper_output(&output(
                "",
                "\nError: No nodes replied within time constraint\n"
            )),
            "Error: No nodes replied within time constraint"
        );
        assert_eq!(
            helper_output(&output("a\nb\n", "c\r\n\n  d  \n")),
            "b | c | d"
        );
        assert_eq!(
            helper_output(&output("\x1b[2Jwiped\x07 \u{85}x\ry\u{2028}z", "")),
            r"\u{1b}[2Jwiped\u{7} \u{85}x\ry\u{2028}z"
        );
        assert_eq!(helper_output(&output(" \n", "")), "(no output)");
        let long = helper_output(&output(&"é".repeat(1000), ""));
        assert_eq!(long.chars().count(), 401);
        assert!(long.starts_with('…'));
    }

    #[test]
    fn celery_inspect_active_output() {
        assert!(celery_active_is_empty(r#"{"default@host": []}"#));
        assert!(celery_active_is_empty(
            "->  x\n{\"a@h\": [], \"b@h\": []}\n"
        ));
        assert!(!celery_active_is_empty(
            r#"{"default@host": [{"id": "1", "name": "openrem.qr", "args": []}]}"#
        ));
        assert!(!celery_active_is_empty("{}"));
        assert!(!celery_active_is_empty(
            "Error: No nodes replied within time constraint"
        ));
    }
}
