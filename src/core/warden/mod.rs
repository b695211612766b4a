//! The daemon's decisions, as a state machine without I/O (in the style of quinn-proto's
//! `Connection`).
//!
//! Owns: everything the daemon decides — the boot restart and adoption, planned restarts on
//! time (through `timeline`) and when to prepare them, the merge rule (a worker's sequences
//! never overlap), reloads, crash supervision, not-ready workers, busy deferral, the periodic
//! checks of running workers (hangs: `ready.every`; memory: `max_memory`), the query runs and
//! their readiness and overlap rules, and which alerts and log lines follow.
//!
//! How it is driven: the shell (`crate::shell::daemon`) calls a `handle_*` method for what
//! happened (the clock moved, an edit was read, a sequence finished, a worker exited, a probe
//! answered, the state of a due query's workers was read, a query ended or could not be
//! recorded running, the last query runs were read at start, the daemon stops), then takes
//! `poll_action()` until `None` and carries each action out, and sleeps until
//! `poll_timeout()` (or the next event), then calls `handle_tick(now)`.
//! Time enters only as arguments; nothing here reads a clock, a file or a process, so tests
//! drive it with invented instants (`tests`).
//!
//! One concern per module:
//! - `action`: what the core asks the shell to do (`Action`, `Note` for log lines, `Save`).
//! - `supervise`: crash backoff and give-up, not-ready probing.
//! - `busy`: deferring a busy worker's planned (or memory) restart.
//! - `fitness`: workers that hang or bloat while alive (`ready.every`, `max_memory`).
//! - `queries`: query runs (their readiness wait, `ready_wait`, and overlap), missed runs
//!   (`catch_up`), and readiness checks at a served query's start.
//!
//! A new duty (such as `fitness`'s probes, or the missed-run catch-up) is a handler for its
//! answer and an action for its request, not a new loop arm in the shell.

mod action;
mod busy;
mod fitness;
mod queries;
mod supervise;
#[cfg(test)]
mod tests;

pub use action::{
    Action, Fields, Level, NotReadySnapshot, Note, Save, SupervisionSnapshot, Waiting,
};
pub use fitness::{show_bytes, MemoryReading, ReadyAnswer, MEMORY_DEFER_MAX};
pub use supervise::{
    next_probe_wait, service_verdict, ServiceSeen, ServiceVerdict, READY_PROBE_FIRST,
    READY_PROBE_MAX, SERVICE_LOOK_MAX, SERVICE_PENDING_LIMIT, SERVICE_RECOVERY_MARGIN,
    SERVICE_STALE_LIMIT, SERVICE_STALE_LOOK, SERVICE_STOPPED_LIMIT, SERVICE_STOPPED_LOOK,
};

use crate::core::config::{Problems, Schedule};
use crate::core::plan::Restart;
use crate::core::timeline::{Due, Timeline};
use busy::Deferrals;
use chrono::{DateTime, TimeDelta, Utc};
use queries::QueryRuns;
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use supervise::Supervision;

/// `d` after `now` (a wait kept as a wall-clock instant; see `Warden::saw`).
fn after(now: DateTime<Utc>, d: std::time::Duration) -> DateTime<Utc> {
    now + TimeDelta::from_std(d).unwrap_or(TimeDelta::MAX)
}

/// How long before a planned restart its sequences are prepared (see `Action::Prepare`).
pub const PREPARE: TimeDelta = TimeDelta::seconds(1);

/// A worker process as the core knows it: enough to tell it from a later process with the
/// same pid. The shell converts its own process ids to and from this.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Proc {
    pub pid: u32,
    pub start_time: u64,
}

/// Why a restart sequence is started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Why {
    /// At the daemon's start (`restart_at_boot`).
    Boot,
    /// A planned restart before queries.
    Planned,
    /// Crash supervision: after a crash or a failed start.
    Supervision,
    /// The worker runs but stopped answering its `ready` command (`ready.every`).
    Unresponsive,
    /// The worker's memory went above `max_memory`.
    Memory,
}

impl Why {
    pub fn as_str(self) -> &'static str {
        match self {
            Why::Boot => "boot",
            Why::Planned => "planned",
            Why::Supervision => "supervision",
            Why::Unresponsive => "unresponsive",
            Why::Memory => "memory",
        }
    }
}

/// A worker found running at the daemon's start that an earlier pacs-warden started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Adoptable {
    pub worker: String,
    pub id: Proc,
    /// The previous daemon's not-ready record of this very process, if any.
    pub not_ready: Option<SavedNotReady>,
}

/// The last run of a query the state directory records (`handle_last_runs`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LastRun {
    pub query: String,
    /// Its planned instant.
    pub scheduled_at: DateTime<Utc>,
    /// It was waiting for its workers since this instant, its command not started, when the
    /// daemon that recorded it stopped: it was not run.
    pub waiting: Option<DateTime<Utc>>,
    /// Its command had started at this instant and had not ended when the daemon that
    /// recorded it stopped: its outcome is unknown, and it is never run again.
    pub running: Option<DateTime<Utc>>,
}

/// A not-ready record left by the previous daemon.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SavedNotReady {
    pub since: DateTime<Utc>,
    pub probes: u32,
    pub answer: String,
}

/// How a restart sequence ended, as the shell saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SequenceDone {
    /// The worker process it started (or a concurrent restart started), if that still runs.
    pub running: Option<Proc>,
    pub ok: bool,
    /// One line for logs and alerts.
    pub summary: String,
    /// Started and running but never ready: the ready command's last answer.
    pub not_ready: Option<String>,
}

/// A probe's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Probe {
    /// The busy command of a worker whose planned restart waits (`Action::ProbeBusy`).
    Busy { busy: bool, answer: String },
    /// The ready command of a started, not-ready worker `id` (`Action::ProbeReady`).
    Ready {
        id: Proc,
        answer: Result<(), String>,
    },
    /// The periodic ready command of the running worker `id` (`Action::ProbeAlive`); `busy` is
    /// the busy command's answer if, asked after a failure, it said busy.
    Alive {
        id: Proc,
        answer: Result<(), String>,
        busy: Option<String>,
    },
    /// The resident memory of worker `id`'s whole tree (`Action::ProbeMemory`); `None`: it
    /// could not be read.
    Memory { id: Proc, bytes: Option<u64> },
}

/// How a query run ended (the shell has saved its record).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryDone {
    /// It could not be started at all.
    pub not_run: bool,
    pub ok: bool,
    pub summary: String,
}

/// What the shell found about a worker when a query it serves begins (`Action::CheckReady`),
/// or when a run that needs it is due (`Action::CheckQueryReady`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerFacts {
    pub worker: String,
    /// Its last restart succeeded.
    pub last_ok: bool,
    /// The process that restart started still runs.
    pub alive: bool,
    /// A restart of it holds its lock (the daemon's, or `pacs-warden restart`'s). Only a
    /// query run's readiness reads it; the daemon's own restarts it knows.
    pub restarting: bool,
}

/// Why an edit of the schedule file was not taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejection {
    /// The trust check: others can change what the daemon would run (one line each).
    Untrusted(String),
    /// The file is missing (deleted, or being replaced); `path` as shown.
    Missing { path: String },
    /// The file is invalid: the problems, one line each.
    Invalid(String),
    /// The file cannot be read.
    Unreadable(String),
}

/// The daemon's decisions. See the module header for how the shell drives it.
pub struct Warden {
    schedule: Arc<Schedule>,
    dry_run: bool,
    timeline: Timeline,
    /// Restarts a reload decided, run at the next tick together with the timeline's.
    reloaded: Vec<Due>,
    /// Workers whose restart sequence runs (by name): a second request is merged into it.
    in_flight: HashSet<String>,
    /// The worker process watched for each supervised worker.
    watching: HashMap<String, Proc>,
    /// Service workers whose watched process exited, awaiting the shell's decision about the
    /// service (`handle_service_exited`): no checks or probes of the dead process meanwhile.
    awaiting_service: HashSet<String>,
    supervision: HashMap<String, Supervision>,
    deferrals: Deferrals,
    /// The periodic checks of running workers (`fitness`), by worker name.
    fitness: HashMap<String, fitness::Fitness>,
    queries: QueryRuns,
    /// The instant of the planned restart whose sequences the shell has prepared.
    prepared: Option<DateTime<Utc>>,
    /// The latest `now` seen: a later, earlier one means the clock was stepped back.
    last_now: DateTime<Utc>,
    actions: VecDeque<Action>,
}

impl Warden {
    /// A warden for `schedule`, started at `now`; its warnings are the first actions. Call
    /// `handle_boot` next.
    pub fn new(schedule: Arc<Schedule>, dry_run: bool, now: DateTime<Utc>) -> Warden {
        let mut w = Warden {
            schedule,
            dry_run,
            timeline: Timeline::new(now),
            reloaded: Vec::new(),
            in_flight: HashSet::new(),
            watching: HashMap::new(),
            awaiting_service: HashSet::new(),
            supervision: HashMap::new(),
            deferrals: Deferrals::default(),
            fitness: HashMap::new(),
            queries: QueryRuns::new(now),
            prepared: None,
            last_now: now,
            actions: VecDeque::new(),
        };
        w.log_warnings(&Arc::clone(&w.schedule));
        w
    }

    /// The schedule the daemon runs (indexes in actions refer to it).
    pub fn schedule(&self) -> &Arc<Schedule> {
        &self.schedule
    }

    /// The instant of the next planned restart not yet decided, if any (for the metrics).
    pub fn next_restart(&self) -> Option<DateTime<Utc>> {
        self.timeline.next(&self.schedule).map(|r| r.at)
    }

    /// The next thing to do, in order.
    pub fn poll_action(&mut self) -> Option<Action> {
        loop {
            let action = self.actions.pop_front()?;
            // A dry run changes nothing: it runs no worker's commands and writes no state
            // (the daemon it shadows may be running and keeping that state).
            if self.dry_run && matches!(action, Action::Save(_) | Action::ProbeReady { .. }) {
                continue;
            }
            return Some(action);
        }
    }

    /// When `handle_tick` must be called next (earlier events may call it sooner; calling it
    /// more often changes nothing). `None`: only events can make something due.
    pub fn poll_timeout(&self) -> Option<DateTime<Utc>> {
        let restart = self.timeline.next(&self.schedule).map(|next| {
            if self.dry_run || self.prepared == Some(next.at) {
                next.at
            } else {
                next.at - PREPARE
            }
        });
        [
            restart,
            self.queries.next_wake(&self.schedule),
            self.next_retry(),
            self.deferrals.next_probe(),
            self.next_check(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// The daemon starts: adopt the workers an earlier pacs-warden started that still run
    /// (`adoptable`); restart the others if `restart_at_boot`. Restarts after `now` are
    /// planned.
    pub fn handle_boot(&mut self, adoptable: Vec<Adoptable>, now: DateTime<Utc>) {
        self.saw(now);
        let schedule = Arc::clone(&self.schedule);
        let mut to_restart = Vec::new();
        let mut adopted = Vec::new();
        for (i, w) in schedule.workers.iter().enumerate() {
            match adoptable.iter().find(|a| a.worker == w.name) {
                Some(a) => {
                    self.log(Note::info("worker started earlier by pacs-warden is running; adopting it (no boot restart)").worker(&w.name).pid(a.id.pid));
                    adopted.push(a.clone());
                }
                None if schedule.restart_at_boot => match self.kept_stopped(&w.name) {
                    Some(at) => self.log(
                        Note::warn(format!(
                            "the worker's service was stopped on purpose at {} and the machine has not rebooted since; not restarting it at start (it stays stopped until the next planned restart or `pacs-warden restart`)",
                            at.to_rfc3339()
                        ))
                        .worker(&w.name),
                    ),
                    None => to_restart.push(i),
                },
                None => self.log(
                    Note::info("restart_at_boot is false: not restarting at start").worker(&w.name),
                ),
            }
        }
        for a in adopted {
            if let Some(saved) = a.not_ready {
                self.resume_not_ready(&a.worker, a.id, saved, now);
            }
            self.watch(&a.worker, a.id, now);
        }
        if !to_restart.is_empty() {
            self.log(Note::info("boot restart"));
            self.launch(&to_restart, Why::Boot);
        }
        self.timeline = Timeline::new(now);
        self.queries = QueryRuns::new(now);
        self.log_next("next restarts");
    }

    /// Every handler given the time calls this first. Waits (crash backoff, probe pauses, a
    /// run's stable time) are lengths of time kept as wall-clock instants: when the clock is
    /// stepped back, they move back with it, so a crashed worker is not left down for the size
    /// of the step. (Planned restarts and query instants are wall-clock times and stay;
    /// `timeline` handles those.)
    fn saw(&mut self, now: DateTime<Utc>) {
        if now < self.last_now {
            let back = self.last_now - now;
            for sup in self.supervision.values_mut() {
                sup.shift_back(back);
            }
            self.deferrals.shift_back(back);
            for f in self.fitness.values_mut() {
                f.shift_back(back);
            }
            self.queries.shift_back(back);
        }
        self.last_now = now;
    }

    /// At start, after `handle_boot`: the last recorded run of each query (from the state
    /// directory). Runs of a `catch_up` query planned after it and at or before `now` were
    /// missed: the most recent less than `catch_up` ago is caught up (once no restart of its
    /// workers runs), the older ones are skipped. A last run still waiting for its workers
    /// (the daemon stopped meanwhile) was missed too: caught up likewise, or else recorded as
    /// not run (`query_not_run`).
    pub fn handle_last_runs(&mut self, last: &[LastRun], now: DateTime<Utc>) {
        self.saw(now);
        self.boot_missed(last, now);
    }

    /// The clock says `now` (the timer fired, or any other event was handled): decide what
    /// came due.
    pub fn handle_tick(&mut self, now: DateTime<Utc>) {
        self.saw(now);
        let schedule = Arc::clone(&self.schedule);
        let mut to_run: Vec<(Restart, TimeDelta)> = Vec::new();
        let decided = std::mem::take(&mut self.reloaded).into_iter();
        for due in decided.chain(self.timeline.advance(&schedule, now)) {
            match due {
                Due::Run { restart, late } => to_run.push((restart, late)),
                Due::Skip { restart } => self.log(
                    Note::warn("skipped a restart: its query had already begun when the clock reached it (the machine slept or the clock jumped)")
                        .restart_at(self.local(restart.at))
                        .queries(self.query_names(&restart)),
                ),
                Due::SkipAdded { restart } => self.log(
                    Note::warn("skipped a restart: the edit that added it was read after its time (a reload plans from the moment it reads the file)")
                        .restart_at(self.local(restart.at))
                        .queries(self.query_names(&restart)),
                ),
            }
        }
        if !to_run.is_empty() {
            self.run_due(&to_run);
            self.log_next("next restart");
        }
        self.end_preparation();
        self.check_queries(now);
        self.query_looks_due(now);
        self.run_due_queries(now);
        self.retry_due(now);
        self.busy_probes_due(now);
        self.checks_due(now);
        self.prepare_next(now);
    }

    /// The shell read an edit at `now` and it is valid (and trusted): take it. Restarts
    /// between the last tick and `now` are decided by `Timeline::reload` at the next tick.
    pub fn handle_edit(&mut self, new: Arc<Schedule>, now: DateTime<Utc>) {
        self.saw(now);
        self.log_warnings(&new);
        let before = upcoming(&self.schedule, &self.timeline);
        let after = upcoming(&new, &self.timeline);
        let due = self.timeline.reload(&self.schedule, &new, now);
        self.reloaded.extend(due);
        self.schedule = new;
        // The shell drops what it prepared for the old schedule.
        self.prepared = None;
        self.deferrals_after_edit(now);
        self.fitness_edited(now);
        // The runs waiting for their workers look again at the next tick: the edit may have
        // changed the workers they need.
        self.query_workers_lost(now);
        if before == after {
            self.log(Note::info(
                "schedule reloaded; the upcoming restarts are unchanged",
            ));
        } else {
            self.log(Note::info(format!(
                "schedule reloaded; upcoming restarts were:\n{}\n  and now are:\n{}",
                before.join("\n"),
                after.join("\n")
            )));
        }
    }

    /// An edit was read but not taken: the last good schedule stays.
    pub fn handle_edit_rejected(&mut self, why: Rejection) {
        match why {
            Rejection::Untrusted(text) => {
                self.log(Note::error(format!("the edited schedule can be changed by others; keeping the last good schedule:\n{text}")));
                self.alert("schedule_rejected", None, &text);
            }
            Rejection::Missing { path } => self.log(
                Note::warn("the schedule file is missing (deleted, or being replaced); keeping the last good schedule")
                    .schedule(path),
            ),
            Rejection::Invalid(text) => {
                self.log(Note::error(format!(
                    "the edited schedule is invalid; keeping the last good schedule:\n{text}"
                )));
                self.alert("schedule_rejected", None, &text);
            }
            Rejection::Unreadable(error) => self.log(
                Note::error("cannot read the schedule; keeping the last good schedule")
                    .with_error(error),
            ),
        }
    }

    /// `worker`'s restart sequence ended.
    pub fn handle_sequence_done(&mut self, worker: &str, done: SequenceDone, now: DateTime<Utc>) {
        self.saw(now);
        self.in_flight.remove(worker);
        self.query_worker_changed(worker, now);
        let Some(spec) = self.schedule.workers.iter().find(|w| w.name == worker) else {
            // Removed from the schedule while its sequence ran: nothing is supervised or
            // retried, but how the sequence ended is still said.
            self.supervision.remove(worker);
            let note = if done.ok {
                Note::info(
                    "a restart of a worker the edited schedule no longer has ended; it is not supervised",
                )
            } else {
                Note::warn(
                    "a restart of a worker the edited schedule no longer has failed; it is not retried",
                )
            };
            self.log(note.worker(worker).answer(done.summary));
            return;
        };
        let supervise = spec.supervise.is_some();
        // Whatever was not ready before is gone or restarted now; a service stopped on purpose
        // was started again.
        let sup = self.supervision.entry(worker.to_string()).or_default();
        sup.not_ready = None;
        sup.stopped_on_purpose = None;
        match done.running {
            Some(id) if done.ok => {
                let sup = self.supervision.entry(worker.to_string()).or_default();
                sup.started_at = Some(now);
                sup.gave_up = false;
                self.watch(worker, id, now);
            }
            // Started and running, but not ready: not a failed start (see `supervise`).
            Some(id) if done.not_ready.is_some() => {
                let answer = done.not_ready.unwrap_or_default();
                self.started_not_ready(worker, id, &answer, now);
            }
            running => {
                self.alert("restart_failed", Some(worker), &done.summary);
                if let Some(id) = running {
                    // Started but not ready: keep an eye on it while retrying.
                    self.watch(worker, id, now);
                }
                if supervise {
                    self.schedule_retry(worker, "the restart failed", now);
                }
            }
        }
        self.save_supervision(worker);
    }

    /// A restart sequence ended abnormally and the shell no longer knows whose it was: every
    /// worker may be restarted again, and the runs waiting for a restart's end look again.
    pub fn handle_sequence_lost(&mut self, now: DateTime<Utc>) {
        self.saw(now);
        self.in_flight.clear();
        self.query_workers_lost(now);
    }

    /// The stop requests of the prepared restart went out for `workers` (names): their
    /// sequences run in any case (`Action::EndPreparation`).
    pub fn handle_dispatched(&mut self, workers: &[String]) {
        let mut indexes: Vec<usize> = workers
            .iter()
            .filter_map(|n| self.schedule.workers.iter().position(|w| &w.name == n))
            .collect();
        indexes.sort_unstable();
        if !indexes.is_empty() {
            self.launch(&indexes, Why::Planned);
        }
    }

    /// A query run ended (the shell saved its record).
    pub fn handle_query_done(&mut self, query: &str, done: QueryDone, now: DateTime<Utc>) {
        self.saw(now);
        self.query_finished(query, done, now);
    }

    /// The daemon stops (it may still take the end of restart sequences and query runs):
    /// the runs queued behind a run of the same query (`overlap: wait`) are not run; said so.
    pub fn handle_stop(&mut self, now: DateTime<Utc>) {
        self.saw(now);
        self.queued_runs_dropped();
    }

    /// The shell could not record `query`'s run planned for `at` as running
    /// (`Save::QueryRunning`; `why`: the error), so it did not start its command: a daemon
    /// stopped while it ran would not know it had run, and could run it again.
    pub fn handle_query_unrecorded(
        &mut self,
        query: &str,
        at: DateTime<Utc>,
        catch_up: bool,
        why: &str,
        now: DateTime<Utc>,
    ) {
        self.saw(now);
        self.query_unrecorded(query, at, catch_up, why, now);
    }

    /// A probe answered about `worker`.
    pub fn handle_probe(&mut self, worker: &str, probe: Probe, now: DateTime<Utc>) {
        self.saw(now);
        match probe {
            Probe::Busy { busy, answer } => self.busy_answer(worker, busy, answer, now),
            Probe::Ready { id, answer } => self.ready_answer(worker, id, answer, now),
            Probe::Alive { id, answer, busy } => self.alive_answer(worker, id, answer, busy, now),
            Probe::Memory { id, bytes } => self.memory_answer(worker, id, bytes, now),
        }
    }

    /// What the shell found about the workers of `query`, which begins now.
    pub fn handle_readiness(&mut self, query: &str, facts: Vec<WorkerFacts>) {
        self.readiness(query, facts);
    }

    /// What the shell found about the workers of `query`'s due run, which waits for them to
    /// be ready (`Action::CheckQueryReady`).
    pub fn handle_query_ready(&mut self, query: &str, facts: Vec<WorkerFacts>, now: DateTime<Utc>) {
        self.saw(now);
        self.query_ready_answer(query, facts, now);
    }

    // ---- shared steps ----

    fn log(&mut self, note: Note) {
        self.actions.push_back(Action::Log(note));
    }

    fn alert(&mut self, event: &'static str, worker: Option<&str>, message: &str) {
        self.actions.push_back(Action::Alert {
            event,
            worker: worker.map(str::to_string),
            message: message.to_string(),
        });
    }

    fn log_warnings(&mut self, schedule: &Schedule) {
        for w in &schedule.warnings {
            let line = Problems {
                path: Some(&schedule.path),
                problems: std::slice::from_ref(w),
            };
            self.log(Note::warn(line.to_string()));
        }
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

    fn log_next(&mut self, what: &str) {
        let note = match self.timeline.next(&self.schedule) {
            Some(r) => Note::info(what)
                .restart_at(self.local(r.at))
                .queries(self.query_names(&r))
                .workers(format!(
                    "{:?}",
                    self.schedule.worker_names(&r.workers(&self.schedule))
                )),
            None => Note::info("no restart is planned"),
        };
        self.log(note);
    }

    fn run_due(&mut self, due: &[(Restart, TimeDelta)]) {
        let schedule = Arc::clone(&self.schedule);
        let mut workers: Vec<usize> = Vec::new();
        for (restart, late) in due {
            let needs: Vec<String> = schedule
                .worker_names(&restart.workers(&schedule))
                .into_iter()
                .map(String::from)
                .collect();
            if !self.dry_run && !needs.is_empty() {
                for fire in &restart.fires {
                    self.queries
                        .check_at(fire.at, &schedule.queries[fire.query].name, &needs);
                }
            }
            self.log(
                Note::info("restart due")
                    .restart_at(self.local(restart.at))
                    .late_ms(late.num_microseconds().unwrap_or(i64::MAX) as f64 / 1000.0)
                    .queries(self.query_names(restart)),
            );
            let first_query = restart
                .fires
                .iter()
                .map(|f| f.at)
                .min()
                .unwrap_or(restart.at);
            for w in restart.workers(&schedule) {
                if schedule.workers[w].busy.is_some() && !self.dry_run {
                    // Busy-aware: ask first; the answer arrives in `handle_probe`.
                    self.defer(w, first_query);
                } else if !workers.contains(&w) {
                    workers.push(w);
                }
            }
        }
        self.launch(&workers, Why::Planned);
    }

    /// Starts the sequences of `workers`, each at most once at a time (the merge rule).
    fn launch(&mut self, workers: &[usize], why: Why) {
        for &i in workers {
            let name = self.schedule.workers[i].name.clone();
            if self.dry_run {
                self.actions.push_back(Action::WouldRestart {
                    worker: i,
                    name,
                    why,
                });
                continue;
            }
            if !self.in_flight.insert(name.clone()) {
                self.log(
                    Note::info(
                        "a restart of this worker is already running; this one is merged into it",
                    )
                    .worker(&name),
                );
                continue;
            }
            // The sequence stops the worker on purpose: that exit is not a crash.
            self.awaiting_service.remove(&name);
            if self.watching.remove(&name).is_some() {
                self.actions
                    .push_back(Action::Unwatch { name: name.clone() });
            }
            self.fitness_stop(&name);
            self.supervision.entry(name.clone()).or_default().retry_at = None;
            self.actions.push_back(Action::Restart {
                worker: i,
                name,
                why,
            });
        }
    }

    /// Watches `id`, `name`'s worker process, for its exit; its periodic checks begin.
    fn watch(&mut self, name: &str, id: Proc, now: DateTime<Utc>) {
        self.awaiting_service.remove(name);
        self.fitness_start(name, id, now);
        self.watching.insert(name.to_string(), id);
        self.actions.push_back(Action::Watch {
            name: name.to_string(),
            id,
        });
    }

    /// Once the prepared restart has been decided (run, merged or skipped), the shell runs
    /// the sequences whose stop request went out and drops the other preparations.
    fn end_preparation(&mut self) {
        if self
            .prepared
            .is_some_and(|at| at <= self.timeline.checked())
        {
            self.prepared = None;
            self.actions.push_back(Action::EndPreparation);
        }
    }

    /// Prepares the next planned restart's sequences once it is at most `PREPARE` ahead.
    fn prepare_next(&mut self, now: DateTime<Utc>) {
        if self.dry_run {
            return;
        }
        let Some(next) = self.timeline.next(&self.schedule) else {
            return;
        };
        if self.prepared == Some(next.at) || now < next.at - PREPARE {
            return;
        }
        // A busy-aware worker is asked first; a running sequence takes the restart in.
        let workers = next
            .workers(&self.schedule)
            .into_iter()
            .filter(|&w| {
                let worker = &self.schedule.workers[w];
                worker.busy.is_none() && !self.in_flight.contains(&worker.name)
            })
            .collect();
        self.prepared = Some(next.at);
        self.actions.push_back(Action::Prepare {
            at: next.at,
            workers,
        });
    }
}

/// The next few restarts after the timeline, one line each, for change logs.
fn upcoming(schedule: &Schedule, timeline: &Timeline) -> Vec<String> {
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
