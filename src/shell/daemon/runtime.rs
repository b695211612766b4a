//! The daemon's runtime: feeds OS events to the core's decisions (`crate::core::warden`) and
//! carries out its actions.
//!
//! Owns: the event loop — one `select!` over the wall-clock timer (`poll_timeout`), OS
//! requests, schedule edits, finished restart sequences, and the other background tasks
//! (worker exits, probe answers, finished queries: one `Event` each) — and the I/O of each
//! action: the restart sequences (`crate::shell::sequence`), probes, queries
//! (`crate::shell::query_run`), alerts, log lines, the state directory and the metrics file
//! (`metrics:`, values in `crate::core::metrics`, written when they change). It decides nothing:
//! after every event the core is told the time (`handle_tick`), then every action it asks for
//! is carried out in order. At stop it lets running restart sequences finish, recording the
//! query runs that end meanwhile.

use super::dispatch::{Early, Preparation};
use super::{alert, note, record, watch, DaemonError, Options, Request, Vet, MAX_SLEEP};
use crate::core::config::{ConfigError, Problems, Schedule};
use crate::core::metrics::Metrics;
use crate::core::warden::{
    Action, Adoptable, LastRun, Probe, Proc, QueryDone, Rejection, Save, SavedNotReady,
    SequenceDone, Waiting, Warden, Why, WorkerFacts,
};
use crate::shell::query_run;
use crate::shell::sequence;
use crate::shell::state::{
    ChecksRecord, MemoryCheckRecord, QueryRecord, ReadyCheckRecord, SkippedRun, Store,
};
use crate::sys::clock::Clock;
use crate::sys::process::{self, ProcId};
use chrono::{DateTime, TimeDelta, Utc};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::task::{AbortHandle, JoinSet};
use tracing::{error, info, warn};

/// Edits arrive as bursts of events (truncate, write, rename): wait this long for the burst to
/// end before reading the file.
const DEBOUNCE: Duration = Duration::from_millis(150);

impl From<ProcId> for Proc {
    fn from(id: ProcId) -> Proc {
        Proc {
            pid: id.pid,
            start_time: id.start_time,
        }
    }
}

impl From<Proc> for ProcId {
    fn from(id: Proc) -> ProcId {
        ProcId {
            pid: id.pid,
            start_time: id.start_time,
        }
    }
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

/// What a background task other than a sequence reports back.
pub(super) enum Event {
    /// A watched worker process exited.
    Exited(String, Proc),
    /// A watched service worker's process exited; the SCM is read next
    /// (`Action::AwaitService`).
    ServiceExited(String, Proc),
    /// A service worker's process exited and Windows started the service again: (old, new).
    ServiceRestarted(String, Proc, Proc),
    /// A service worker's process exited and the service was stopped on purpose (STOPPED,
    /// exit code 0).
    ServiceStopped(String, Proc),
    /// A probe answered about a worker.
    Probe(String, Probe),
    /// A query run ended.
    Query(String, QueryRecord),
}

struct Runtime {
    warden: Warden,
    path: PathBuf,
    vet: Option<Vet>,
    dry_run: bool,
    store: Store,
    clock: Arc<dyn Clock>,
    /// Restart sequences (the core starts at most one per worker).
    running: JoinSet<Finished>,
    /// Exit waiters, probes and query runs.
    tasks: JoinSet<Event>,
    /// The exit waiter of each watched worker.
    watching: HashMap<String, AbortHandle>,
    /// The next planned restart's sequences, prepared ahead of its instant.
    preparation: Option<Preparation>,
    /// `metrics:`: the values, and the text last written (or tried), to write only changes.
    metrics: Metrics,
    metrics_written: Option<(PathBuf, String)>,
    /// The known process tree of each worker whose memory is checked (`max_memory`).
    memory: HashMap<String, process::TreeMemory>,
    /// Query runs whose running record (`Save::QueryRunning`) could not be written, with the
    /// error: their command is not started (`Action::RunQuery`).
    unrecorded: HashMap<String, String>,
}

pub(super) async fn run(
    opts: Options,
    schedule: Arc<Schedule>,
    clock: Arc<dyn Clock>,
    mut requests: mpsc::Receiver<Request>,
) -> Result<(), DaemonError> {
    let store = Store::new(schedule.state_dir());
    if !opts.dry_run {
        record::record_schedule(&opts.config, &store, clock.now());
    }
    info!(
        schedule = %opts.config.display(),
        pid = std::process::id(),
        dry_run = opts.dry_run,
        "pacs-warden daemon started"
    );
    let mut rt = Runtime {
        warden: Warden::new(Arc::clone(&schedule), opts.dry_run, clock.now()),
        path: opts.config.clone(),
        vet: opts.vet.clone(),
        dry_run: opts.dry_run,
        store,
        clock,
        running: JoinSet::new(),
        tasks: JoinSet::new(),
        watching: HashMap::new(),
        preparation: None,
        metrics: Metrics::default(),
        metrics_written: None,
        memory: HashMap::new(),
        unrecorded: HashMap::new(),
    };
    rt.metrics_names();
    rt.carry_out(); // the schedule's warnings

    let (_watch, mut edits) = match watch::watch(&rt.path) {
        Ok((w, rx)) => (Some(w), rx),
        Err(e) => {
            warn!(error = %e, "cannot watch the schedule file for edits; send SIGHUP or restart the daemon after editing it");
            (None, mpsc::unbounded_channel().1)
        }
    };

    let mut timer = crate::sys::os::WallTimer::new().map_err(|source| DaemonError::State {
        dir: schedule.state_dir(),
        source,
    })?;
    rt.boot();

    loop {
        // The stop requests of a prepared restart go out before anything else.
        let now = rt.dispatch_due();
        rt.warden.handle_tick(now);
        rt.carry_out();

        // Sleep until the core's next instant by the wall clock. The timer wakes when the clock
        // is stepped (Linux) or follows the clock (Windows); elsewhere it wakes at least every
        // MAX_SLEEP.
        let wake_at = rt.wake_at();
        tokio::select! {
            _ = timer.sleep_until(wake_at, MAX_SLEEP) => {}
            request = requests.recv() => match request {
                Some(Request::Reload) => rt.reload(),
                Some(Request::Stop) | None => break,
            },
            Some(()) = edits.recv() => {
                tokio::time::sleep(DEBOUNCE).await;
                while edits.try_recv().is_ok() {}
                rt.reload();
            }
            Some(done) = rt.running.join_next(), if !rt.running.is_empty() => rt.finished(done),
            // Every answer is taken here, a cancelled one too (an exit waiter aborted by a
            // restart): a pattern that did not match would switch this arm off until another
            // arm fired, and other workers' exits, probes and queries would wait for it.
            Some(joined) = rt.tasks.join_next(), if !rt.tasks.is_empty() => match joined {
                Ok(event) => rt.event(event),
                Err(e) if e.is_panic() => error!(error = %e, "a background task of the daemon (an exit waiter, a probe or a query) ended abnormally"),
                Err(_) => {} // aborted on purpose
            },
        }
        rt.carry_out();
    }

    // Runs queued behind another run (`overlap: wait`) are not started any more.
    let now = rt.clock.now();
    rt.warden.handle_stop(now);
    rt.carry_out();
    if !rt.running.is_empty() {
        info!(count = rt.running.len(), "stopping: letting running restart sequences finish (send the stop request again to abandon them)");
        loop {
            tokio::select! {
                done = rt.running.join_next() => match done {
                    Some(done) => {
                        rt.finished(done);
                        rt.carry_out();
                    }
                    None => break,
                },
                request = requests.recv() => if matches!(request, Some(Request::Stop) | None) {
                    warn!("abandoning running restart sequences; the workers may need `pacs-warden restart`");
                    rt.running.abort_all();
                    while rt.running.join_next().await.is_some() {}
                    break;
                },
                // A query run that ends meanwhile is recorded (and alerted), not left
                // `running` for the next start to call interrupted.
                Some(joined) = rt.tasks.join_next(), if !rt.tasks.is_empty() => rt.stopping_task(joined),
            }
        }
    }
    // Runs that ended before the daemon exits (also while the stop request was being taken);
    // a run still going stays recorded running: the next start says it was interrupted.
    while let Some(joined) = rt.tasks.try_join_next() {
        rt.stopping_task(joined);
    }
    info!("pacs-warden daemon stopped; the workers keep running");
    Ok(())
}

impl Runtime {
    fn schedule(&self) -> Arc<Schedule> {
        Arc::clone(self.warden.schedule())
    }

    /// At start: the workers an earlier pacs-warden started that still run are adoptable.
    /// So is a service worker's service process that Windows (its recovery) or an admin
    /// started in place of the recorded one while no daemon watched, when the machine has not
    /// rebooted since pacs-warden started the recorded one (a daemon restart: restarting the
    /// service would stop a running retrieve); after a reboot `restart_at_boot` decides, as
    /// for any worker. A service worker whose service was stopped on purpose (saved by an
    /// earlier daemon) is not restarted when the machine has not rebooted since.
    fn boot(&mut self) {
        let state = self.store.read();
        let schedule = self.schedule();
        let booted = process::boot_time();
        let mut replaced = Vec::new();
        let adoptable = schedule
            .workers
            .iter()
            .filter_map(|w| {
                let saved = state.workers.get(&w.name)?;
                let id = match saved.started.filter(|id| process::is_running(*id)) {
                    Some(id) => id,
                    None => {
                        let gone = saved.started.filter(|id| id.start_time >= booted)?;
                        let id = super::service_exit::running_process(w)?;
                        info!(worker = %w.name, service = w.service().unwrap_or_default(), pid = id.pid, was = gone.pid, "the worker's service runs under another process than the one recorded (Windows or an admin started it again while no daemon watched it); adopting that process");
                        replaced.push((w.name.clone(), id));
                        id
                    }
                };
                let not_ready = saved
                    .not_ready
                    .as_ref()
                    .filter(|r| r.pid == id.pid)
                    .map(|r| SavedNotReady {
                        since: r.since,
                        probes: r.probes,
                        answer: r.answer.clone(),
                    });
                Some(Adoptable {
                    worker: w.name.clone(),
                    id: id.into(),
                    not_ready,
                })
            })
            .collect();
        for (worker, id) in replaced {
            if let Err(e) = self.store.update(|s| {
                s.workers.entry(worker.clone()).or_default().started = Some(id);
            }) {
                warn!(worker = %worker, error = %e, "cannot record the worker's new process");
            }
        }
        // A service an admin stopped stays stopped across a daemon restart, not a reboot.
        for w in &schedule.workers {
            let at = state
                .workers
                .get(&w.name)
                .and_then(|s| s.supervision.as_ref())
                .and_then(|s| s.stopped_on_purpose)
                .filter(|at| u64::try_from(at.timestamp()).is_ok_and(|t| t >= booted));
            if let Some(at) = at {
                self.warden.handle_stopped_on_purpose(&w.name, at);
            }
        }
        self.warden.handle_boot(adoptable, self.clock.now());
        // Missed query runs are found from the last recorded ones (`catch_up:`).
        let last: Vec<LastRun> = state
            .queries
            .iter()
            .map(|(name, r)| LastRun {
                query: name.clone(),
                scheduled_at: r.scheduled_at,
                // This daemon has not started any run yet: a waiting one was the previous
                // daemon's, which stopped before its command started.
                waiting: (r.outcome == "waiting").then_some(r.finished_at),
                running: (r.outcome == "running").then(|| r.started_at.unwrap_or(r.finished_at)),
            })
            .collect();
        self.warden.handle_last_runs(&last, self.clock.now());
        self.carry_out();
    }

    /// Sends the stop requests of the prepared restart if it is due; returns the time now.
    fn dispatch_due(&mut self) -> DateTime<Utc> {
        let now = self.clock.now();
        match &mut self.preparation {
            Some(p) => p.dispatch_due(now, self.clock.as_ref(), &self.store),
            None => now,
        }
    }

    /// When the loop must wake: the core's next instant, a little earlier for a prepared
    /// restart with stop requests to send, and at least daily.
    fn wake_at(&self) -> DateTime<Utc> {
        let core = self
            .warden
            .poll_timeout()
            .unwrap_or_else(|| self.clock.now() + TimeDelta::days(1));
        match self.preparation.as_ref().and_then(Preparation::wake) {
            Some(p) => p.min(core),
            None => core,
        }
    }

    /// Reads the schedule again; the core takes it only if valid (and trusted).
    fn reload(&mut self) {
        let read_at = self.clock.now();
        match crate::shell::schedule::load(&self.path) {
            Ok(new) => {
                let findings = self.vet.as_ref().map(|vet| vet(&new)).unwrap_or_default();
                if !findings.is_empty() {
                    self.warden
                        .handle_edit_rejected(Rejection::Untrusted(findings.join("\n")));
                    return;
                }
                // What was prepared for the old schedule is void.
                self.preparation = None;
                self.warden.handle_edit(Arc::new(new), read_at);
                self.metrics_names();
                if !self.dry_run {
                    record::record_schedule(&self.path, &self.store, self.clock.now());
                }
            }
            Err(ConfigError::Read { source, .. })
                if source.kind() == std::io::ErrorKind::NotFound =>
            {
                self.warden.handle_edit_rejected(Rejection::Missing {
                    path: self.path.display().to_string(),
                });
            }
            Err(ConfigError::Invalid { path, problems }) => {
                let text = Problems {
                    path: Some(&path),
                    problems: &problems,
                }
                .to_string();
                self.warden.handle_edit_rejected(Rejection::Invalid(text));
            }
            Err(e) => self
                .warden
                .handle_edit_rejected(Rejection::Unreadable(e.to_string())),
        }
    }

    fn finished(&mut self, done: Result<Finished, tokio::task::JoinError>) {
        match done {
            Ok(done) => {
                let outcome = SequenceDone {
                    running: done
                        .started
                        .filter(|id| process::is_running(*id))
                        .map(Proc::from),
                    ok: done.ok,
                    summary: done.summary,
                    not_ready: done.not_ready,
                };
                let now = self.clock.now();
                self.metrics.record_restart(&done.worker, outcome.ok, now);
                self.metrics.set_up(&done.worker, outcome.running.is_some());
                if outcome.not_ready.is_some() {
                    self.metrics.record_ready_failure(&done.worker);
                }
                self.warden
                    .handle_sequence_done(&done.worker, outcome, self.clock.now());
            }
            Err(e) => {
                error!(error = %e, "a restart sequence ended abnormally");
                // We no longer know which worker: let every one be restarted again.
                self.warden.handle_sequence_lost(self.clock.now());
            }
        }
    }

    /// A background task that ended while the daemon stops: only a query run's end is taken
    /// (recorded, alerted); an exit or a probe answer no longer matters.
    fn stopping_task(&mut self, joined: Result<Event, tokio::task::JoinError>) {
        match joined {
            Ok(event @ Event::Query(..)) => {
                self.event(event);
                self.carry_out();
            }
            Ok(_) => {}
            Err(e) if e.is_panic() => {
                error!(error = %e, "a background task of the daemon (an exit waiter, a probe or a query) ended abnormally")
            }
            Err(_) => {}
        }
    }

    fn event(&mut self, event: Event) {
        let now = self.clock.now();
        match event {
            Event::Exited(name, id) => {
                self.metrics.set_up(&name, false);
                self.warden.handle_exit(&name, id, now)
            }
            Event::ServiceExited(name, id) => {
                self.metrics.set_up(&name, false);
                self.warden.handle_service_exited(&name, id, now)
            }
            Event::ServiceRestarted(name, old, new) => {
                self.warden.handle_service_restarted(&name, old, new, now)
            }
            Event::ServiceStopped(name, id) => {
                self.metrics.set_up(&name, false);
                self.warden.handle_service_stopped(&name, id, now)
            }
            Event::Probe(name, probe) => {
                // A failed ready probe (of a not-ready worker, or `ready.every`'s of a running
                // one that is not busy) is a ready failure.
                if matches!(
                    probe,
                    Probe::Ready { answer: Err(_), .. }
                        | Probe::Alive {
                            answer: Err(_),
                            busy: None,
                            ..
                        }
                ) {
                    self.metrics.record_ready_failure(&name);
                }
                self.warden.handle_probe(&name, probe, now)
            }
            Event::Query(name, record) => {
                self.metrics.record_query_run(&name, &record.outcome);
                let _ = self.save_query(&name, &record); // logged
                let done = QueryDone {
                    not_run: record.outcome == "not run",
                    ok: record.ok(),
                    summary: record.summary,
                };
                self.warden.handle_query_done(&name, done, now);
            }
        }
    }

    /// Carries out every action the core asks for, in order.
    fn carry_out(&mut self) {
        while let Some(action) = self.warden.poll_action() {
            self.act(action);
        }
        if self.preparation.as_ref().is_some_and(Preparation::ended) {
            // Sequences the core did not start (merged into a running one) are dropped.
            self.preparation = None;
        }
        self.write_metrics();
    }

    /// The metrics' series are the schedule's workers and queries.
    fn metrics_names(&mut self) {
        let schedule = self.schedule();
        self.metrics.keep_only(
            schedule.workers.iter().map(|w| w.name.as_str()),
            schedule
                .queries
                .iter()
                .filter(|q| q.run.is_some())
                .map(|q| q.name.as_str()),
        );
    }

    /// Writes the metrics file (`metrics.textfile`) if its text changed: to a temporary file
    /// in the same folder, then renamed over it, so that a collector never reads half of it.
    /// Never on a timer: an idle daemon does not wake for it. Not in a dry run.
    fn write_metrics(&mut self) {
        let schedule = self.schedule();
        let Some(spec) = schedule.metrics.as_ref().filter(|_| !self.dry_run) else {
            return;
        };
        self.metrics.set_next_restart(self.warden.next_restart());
        let path = schedule.resolve(&spec.textfile);
        let text = self.metrics.render();
        if self
            .metrics_written
            .as_ref()
            .is_some_and(|(p, t)| *p == path && *t == text)
        {
            return;
        }
        if let Err(e) = crate::sys::trust::write_replace(&path, text.as_bytes()) {
            warn!(file = %path.display(), error = %e, "cannot write the metrics file");
        }
        self.metrics_written = Some((path, text));
    }

    fn act(&mut self, action: Action) {
        match action {
            Action::Restart { worker, name, why } => {
                if why == Why::Supervision {
                    self.metrics.record_crash_restart(&name);
                }
                self.restart(worker, name)
            }
            Action::WouldRestart { worker, name, why } => {
                let schedule = self.schedule();
                info!(worker = %name, why = why.as_str(), "dry run: would restart now:\n{}", sequence::describe(&schedule, &schedule.workers[worker], &self.store).trim_end());
            }
            Action::Prepare { at, workers } => {
                self.preparation = Some(Preparation::start(
                    at,
                    self.warden.schedule(),
                    &workers,
                    &self.store,
                ));
            }
            Action::EndPreparation => {
                if let Some(p) = self.preparation.as_mut() {
                    let asked = p.end();
                    self.warden.handle_dispatched(&asked);
                }
            }
            Action::ProbeBusy { worker, name } => {
                let schedule = self.schedule();
                self.tasks.spawn(async move {
                    let answer = sequence::is_busy(&schedule, &schedule.workers[worker]).await;
                    let (busy, answer) = answer.unwrap_or((false, "no busy probe".into()));
                    Event::Probe(name, Probe::Busy { busy, answer })
                });
            }
            Action::ProbeReady { worker, name, id } => {
                let schedule = self.schedule();
                self.tasks.spawn(async move {
                    // A worker whose `ready` was edited away counts as ready.
                    let answer = sequence::probe_ready(&schedule, &schedule.workers[worker])
                        .await
                        .unwrap_or(Ok(()));
                    Event::Probe(name, Probe::Ready { id, answer })
                });
            }
            Action::ProbeAlive { worker, name, id } => {
                let schedule = self.schedule();
                self.tasks.spawn(async move {
                    let spec = &schedule.workers[worker];
                    // A worker whose `ready` was edited away counts as answering.
                    let answer = sequence::probe_ready(&schedule, spec)
                        .await
                        .unwrap_or(Ok(()));
                    // A failure counts only if the worker is not busy with a task.
                    let busy = match (&answer, spec.busy.is_some()) {
                        (Err(_), true) => match sequence::is_busy(&schedule, spec).await {
                            Some((true, answer)) => Some(answer),
                            _ => None,
                        },
                        _ => None,
                    };
                    Event::Probe(name, Probe::Alive { id, answer, busy })
                });
            }
            Action::ProbeMemory { worker, name, id } => {
                // Cheap (a few known processes): read here, so that a check wakes the daemon
                // once.
                let reading = self.memory.entry(name.clone()).or_default().read(id.into());
                if let Some(r) = reading.as_ref().filter(|r| r.unread_is_news) {
                    warn!(worker = %name, pids = ?r.unread, "cannot read the memory of some of the worker's processes (another account's, which pacs-warden may not open; run it as SYSTEM or an administrator): max_memory is checked against the memory of the others only; said once per worker process");
                }
                let bytes = reading.and_then(|r| r.bytes);
                let limit = self.schedule().workers[worker]
                    .max_memory
                    .as_ref()
                    .map_or(0, |m| m.bytes);
                self.metrics.set_tree_memory(&name, bytes, limit);
                let now = self.clock.now();
                self.warden
                    .handle_probe(&name, Probe::Memory { id, bytes }, now);
            }
            Action::Watch { name, id } => {
                if let Some(old) = self.watching.remove(&name) {
                    old.abort();
                }
                let owned = name.clone();
                let service = self
                    .schedule()
                    .workers
                    .iter()
                    .any(|w| w.name == name && w.service().is_some());
                let handle = self.tasks.spawn(async move {
                    crate::sys::os::wait_exit(id.into()).await;
                    if service {
                        // Told at once; Windows may be restarting it already (`AwaitService`).
                        Event::ServiceExited(owned, id)
                    } else {
                        Event::Exited(owned, id)
                    }
                });
                self.metrics.set_up(&name, true);
                self.watching.insert(name, handle);
            }
            Action::AwaitService { name, id } => {
                let Some(worker) = self
                    .schedule()
                    .workers
                    .iter()
                    .find(|w| w.name == name && w.service().is_some())
                    .cloned()
                else {
                    return;
                };
                if let Some(old) = self.watching.remove(&name) {
                    old.abort();
                }
                let store = (!self.dry_run).then(|| self.store.clone());
                let handle = self.tasks.spawn(async move {
                    use crate::core::warden::ServiceVerdict;
                    let name = worker.name.clone();
                    match super::service_exit::after_exit(worker, id, store).await {
                        ServiceVerdict::Adopt(new) => Event::ServiceRestarted(name, id, new),
                        ServiceVerdict::Stopped => Event::ServiceStopped(name, id),
                        ServiceVerdict::Crashed | ServiceVerdict::LeaveAlone(_) => {
                            Event::Exited(name, id)
                        }
                    }
                });
                self.watching.insert(name, handle);
            }
            Action::Unwatch { name } => {
                if let Some(handle) = self.watching.remove(&name) {
                    handle.abort();
                }
            }
            Action::RunQuery {
                query,
                name,
                at,
                catch_up,
            } => {
                // Recorded as running just before (`Save::QueryRunning`). Not recorded: not
                // started (a daemon stopped while it ran would find it waiting and run it
                // again).
                if let Some(why) = self.unrecorded.remove(&name) {
                    let now = self.clock.now();
                    self.warden
                        .handle_query_unrecorded(&name, at, catch_up, &why, now);
                    return;
                }
                let schedule = self.schedule();
                let clock = Arc::clone(&self.clock);
                self.tasks.spawn(async move {
                    let mut record = query_run::run(schedule, query, at, clock).await;
                    record.catch_up = catch_up;
                    Event::Query(name, record)
                });
            }
            Action::CheckReady { query, workers } => {
                let facts = self.worker_facts(workers, false);
                self.warden.handle_readiness(&query, facts);
            }
            Action::CheckQueryReady { query, workers } => {
                let facts = self.worker_facts(workers, true);
                let now = self.clock.now();
                self.warden.handle_query_ready(&query, facts, now);
            }
            Action::Alert {
                event,
                worker,
                message,
            } => alert::raise(
                self.warden.schedule(),
                &self.path,
                self.clock.now(),
                event,
                worker.as_deref(),
                &message,
            ),
            Action::Log(n) => note::write(&n),
            Action::Save(save) => {
                match &save {
                    // Once per deferred restart, not at every busy answer.
                    Save::Deferral {
                        worker,
                        deferral: Some(Waiting { first: true, .. }),
                        ..
                    } => self.metrics.record_deferral(worker),
                    Save::QuerySkipped { query, .. } | Save::QueryMissed { query, .. } => {
                        self.metrics.record_query_run(query, "skipped")
                    }
                    Save::QueryInterrupted { query, .. } => {
                        self.metrics.record_query_run(query, "interrupted")
                    }
                    // Not for a query an edit removed while its run waited: its series went
                    // with the edit (`metrics_names`) and must not come back.
                    Save::QueryNotRun { query, .. }
                        if self
                            .warden
                            .schedule()
                            .queries
                            .iter()
                            .any(|q| &q.name == query && q.run.is_some()) =>
                    {
                        self.metrics.record_query_run(query, "not run")
                    }
                    _ => {}
                }
                self.save(save)
            }
        }
    }

    /// What the state directory says of `workers` (`Action::CheckReady`,
    /// `Action::CheckQueryReady`); whether a restart holds a worker's lock only if `locks`.
    fn worker_facts(&self, workers: Vec<String>, locks: bool) -> Vec<WorkerFacts> {
        let state = self.store.read();
        workers
            .into_iter()
            .map(|name| {
                let saved = state.workers.get(&name);
                WorkerFacts {
                    last_ok: saved.and_then(|w| w.last.as_ref()).is_some_and(|l| l.ok),
                    alive: saved
                        .and_then(|w| w.started)
                        .is_some_and(process::is_running),
                    restarting: locks && self.store.is_restarting(&name),
                    worker: name,
                }
            })
            .collect()
    }

    /// Starts `worker`'s sequence, going on from its prepared first step if there is one.
    fn restart(&mut self, index: usize, name: String) {
        let early = self.preparation.as_mut().and_then(|p| p.take(&name));
        let schedule = self.schedule();
        let store = self.store.clone();
        let clock = Arc::clone(&self.clock);
        self.running.spawn(async move {
            let worker = &schedule.workers[index];
            let early = match early {
                Some(early) => Early::dispatch(early, &schedule, index, &store).await,
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

    fn save(&mut self, save: Save) {
        match save {
            Save::Supervision { worker, record } => {
                let supervision = crate::shell::state::SupervisionRecord {
                    restarts: record.restarts,
                    failures_in_a_row: record.failures_in_a_row,
                    backoff_seconds: record.backoff.as_secs(),
                    last_crash: record.last_crash,
                    gave_up: record.gave_up,
                    stopped_on_purpose: record.stopped_on_purpose,
                };
                let not_ready = record
                    .not_ready
                    .map(|n| crate::shell::state::NotReadyRecord {
                        pid: n.pid,
                        since: n.since,
                        probes: n.probes,
                        answer: n.answer,
                        next_probe: n.next_probe,
                    });
                if let Err(e) = self.store.update(|s| {
                    let w = s.workers.entry(worker).or_default();
                    w.supervision = Some(supervision);
                    w.not_ready = not_ready;
                }) {
                    warn!(error = %e, "cannot record supervision state");
                }
            }
            Save::Deferral {
                worker,
                deferral,
                at,
            } => {
                if let Err(e) = self.store.update(|s| {
                    let w = s.workers.entry(worker).or_default();
                    // A new deferral starts now (a record left by an earlier daemon ended
                    // with it).
                    let earlier = w
                        .deferred
                        .as_ref()
                        .filter(|_| !deferral.as_ref().is_some_and(|d| d.first));
                    w.deferred = deferral.map(|d| crate::shell::state::DeferralRecord {
                        since: earlier.map_or(at, |e| e.since),
                        deferrals: earlier.map_or(1, |e| e.deferrals + 1),
                        until: d.until,
                        answer: d.answer,
                        memory: d.memory,
                    });
                }) {
                    warn!(error = %e, "cannot record the deferral");
                }
            }
            Save::QuerySkipped {
                query,
                scheduled_at,
                at,
            } => {
                let record = QueryRecord::without_outcome(
                    scheduled_at,
                    at,
                    "skipped",
                    "skipped: the previous run was still going (or waiting for its workers)".into(),
                );
                self.save_skip(&query, &record);
            }
            Save::QueryWaiting {
                query,
                scheduled_at,
                at,
                catch_up,
            } => {
                let summary = format!("waiting for its workers since {}", at.to_rfc3339());
                let record = QueryRecord {
                    catch_up,
                    ..QueryRecord::without_outcome(scheduled_at, at, "waiting", summary)
                };
                let _ = self.save_query(&query, &record); // logged
            }
            Save::QueryRunning {
                query,
                scheduled_at,
                at,
                catch_up,
            } => {
                let summary = format!("running since {}", at.to_rfc3339());
                let record = QueryRecord {
                    started_at: Some(at),
                    catch_up,
                    ..QueryRecord::without_outcome(scheduled_at, at, "running", summary)
                };
                if let Err(e) = self.save_query(&query, &record) {
                    self.unrecorded.insert(query, e);
                }
            }
            Save::QueryNotRun {
                query,
                scheduled_at,
                at,
                summary,
                catch_up,
                ..
            } => {
                // No command ran: no duration (a run's duration is its command's).
                let record = QueryRecord {
                    catch_up,
                    ..QueryRecord::without_outcome(scheduled_at, at, "not run", summary)
                };
                let _ = self.save_query(&query, &record); // logged
            }
            Save::QueryInterrupted {
                query,
                scheduled_at,
                started,
                at,
                summary,
            } => {
                let record = QueryRecord {
                    started_at: Some(started),
                    ..QueryRecord::without_outcome(scheduled_at, at, "interrupted", summary)
                };
                let _ = self.save_query(&query, &record); // logged
            }
            Save::QueryMissed {
                query,
                scheduled_at,
                at,
                summary,
            } => {
                let record = QueryRecord::without_outcome(scheduled_at, at, "skipped", summary);
                self.save_skip(&query, &record);
            }
            Save::Fitness {
                worker,
                pid,
                ready,
                memory,
            } => {
                if let Err(e) = self.store.update(|s| {
                    let w = s.workers.entry(worker.clone()).or_default();
                    let record = w.checks.get_or_insert_with(|| ChecksRecord::about(pid));
                    if record.pid != pid {
                        *record = ChecksRecord::about(pid);
                    }
                    if let Some(r) = ready {
                        record.ready = Some(ReadyCheckRecord {
                            at: r.at,
                            ok: r.ok,
                            answer: r.answer,
                            failures_in_a_row: r.failures_in_a_row,
                            failures_allowed: r.failures_allowed,
                        });
                    }
                    if let Some(m) = memory {
                        record.memory = Some(MemoryCheckRecord {
                            at: m.at,
                            bytes: m.bytes,
                            limit: m.limit,
                        });
                    }
                }) {
                    warn!(worker = %worker, error = %e, "cannot record the worker's checks");
                }
            }
            Save::Adopted { worker, id } => {
                if let Err(e) = self.store.update(|s| {
                    s.workers.entry(worker.clone()).or_default().started = Some(id.into());
                }) {
                    warn!(worker = %worker, error = %e, "cannot record the worker's new process");
                }
            }
            Save::ReadyLater { worker, id, at } => {
                let id = ProcId::from(id);
                if let Err(e) = self.store.update(|s| {
                    let w = s.workers.entry(worker.clone()).or_default();
                    if w.started == Some(id) {
                        if let Some(last) = w.last.as_mut().filter(|l| !l.ok) {
                            last.ok = true;
                            last.not_ready = None;
                            last.summary
                                .push_str(&format!("; ready later, at {}", at.to_rfc3339()));
                        }
                    }
                }) {
                    warn!(worker = %worker, error = %e, "cannot record that the worker is ready");
                }
            }
        }
    }

    /// A skipped run's record (`overlap: skip`, or missed after a clock jump), unless the
    /// record holds a run still waiting for its workers or running: a daemon stopped before
    /// that run ends must find it at its next start (`LastRun`); the skip is noted in that
    /// record (`QueryRecord::skipped`, shown by `status` and `health`).
    fn save_skip(&self, name: &str, record: &QueryRecord) {
        if let Err(e) = self.store.update(|s| match s.queries.get_mut(name) {
            Some(pending) if pending.pending() => {
                pending.skipped = Some(SkippedRun {
                    scheduled_at: record.scheduled_at,
                    at: record.finished_at,
                    summary: record.summary.clone(),
                });
            }
            _ => {
                s.queries.insert(name.to_string(), record.clone());
            }
        }) {
            warn!(error = %e, "cannot record the query run");
        }
    }

    /// Records a query run (logged if it cannot, and the error returned).
    fn save_query(&self, name: &str, record: &QueryRecord) -> Result<(), String> {
        self.store
            .update(|s| {
                s.queries.insert(name.to_string(), record.clone());
            })
            .map_err(|e| {
                warn!(error = %e, "cannot record the query run");
                e.to_string()
            })
    }
}
