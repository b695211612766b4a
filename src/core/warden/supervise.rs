//! Crash supervision: a started worker that exits is started again after a crash or a failed
//! start with exponential backoff; after too many failures in a row supervision gives up
//! (loudly) until the next planned restart succeeds.
//!
//! Also readiness after a start: a worker that was started and runs but whose `ready` command
//! keeps failing is *not ready*, not crashed. It is left running (a solo worker busy with a
//! long task cannot answer a ping either) until the next planned restart; only its `ready`
//! command is run again, with growing pauses, until it succeeds.
//!
//! Also service workers (`service:`, Windows): after the service process exits,
//! `service_verdict` says whether Windows is already bringing it back (leave it alone, adopt
//! the new process), someone stopped it on purpose (left down until the next planned
//! restart: pacs-warden does not fight an admin; saved, so that a daemon restarted before the
//! machine is does not start it at its boot either), or it is a crash; the shell reads the
//! Service Control Manager for it. From the exit until that verdict the dead process is not
//! checked or probed (`handle_service_exited`).

use super::after;
use super::{
    Action, NotReadySnapshot, Note, Proc, Save, SavedNotReady, SupervisionSnapshot, Warden, Why,
};
use crate::core::report::file_duration;
use chrono::{DateTime, TimeDelta, Utc};
use std::time::Duration;

/// The first pause before a not-ready worker's `ready` command is run again; it doubles after
/// each failed probe, up to `READY_PROBE_MAX`.
pub const READY_PROBE_FIRST: Duration = Duration::from_secs(60);
pub const READY_PROBE_MAX: Duration = Duration::from_secs(30 * 60);

/// The pause after `wait` when a probe fails again.
pub fn next_probe_wait(wait: Duration) -> Duration {
    wait.saturating_mul(2).min(READY_PROBE_MAX)
}

/// A started worker that runs but is not ready.
#[derive(Debug)]
pub(super) struct NotReady {
    /// The worker process (a probe's answer about another one is stale).
    id: Proc,
    since: DateTime<Utc>,
    /// Probes since the restart's own tries ran out.
    probes: u32,
    /// The ready command's last answer.
    pub(super) answer: String,
    /// The pause before the next probe.
    wait: Duration,
    next_at: DateTime<Utc>,
    /// A probe is running.
    probing: bool,
}

/// Crash supervision of one worker.
#[derive(Debug, Default)]
pub(super) struct Supervision {
    /// Crashes (or failed starts) since the worker last ran stably.
    failures: u32,
    /// Restarts done by supervision, in all.
    restarts: u32,
    pub(super) started_at: Option<DateTime<Utc>>,
    pub(super) retry_at: Option<DateTime<Utc>>,
    backoff: Duration,
    last_crash: Option<DateTime<Utc>>,
    pub(super) gave_up: bool,
    /// Started and running, but its `ready` command fails.
    pub(super) not_ready: Option<NotReady>,
    /// A service worker's service was stopped on purpose at this instant (`worker_stopped`),
    /// and no restart of it finished since: saved, so that a later daemon does not start it
    /// again at its start.
    pub(super) stopped_on_purpose: Option<DateTime<Utc>>,
}

impl Supervision {
    /// The clock was stepped back by `by`: the pending waits move back with it.
    pub(super) fn shift_back(&mut self, by: TimeDelta) {
        for t in [
            &mut self.started_at,
            &mut self.retry_at,
            &mut self.last_crash,
        ] {
            if let Some(t) = t.as_mut() {
                *t -= by;
            }
        }
        if let Some(n) = self.not_ready.as_mut() {
            n.next_at -= by;
        }
    }
}

/// What the Service Control Manager says of a service worker once its process has exited
/// (the shell reads it; `service_verdict` decides).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServiceSeen {
    /// START_PENDING or STOP_PENDING: someone (its recovery, an admin) is acting.
    Pending,
    /// RUNNING with a live process: Windows started it again already (a RUNNING service whose
    /// process is the one that exited is `Stale`).
    Running(Proc),
    /// RUNNING, but its process is the one that exited, or is gone, or it names none: the SCM
    /// has not noticed the exit yet (natively for a moment, until it records STOPPED with 1067
    /// and its recovery acts), or never will (Wine keeps a killed service process RUNNING).
    Stale,
    /// STOPPED with a failure, and its recovery restarts it after at most `delay`.
    RecoveryRestarts { delay: Duration },
    /// STOPPED with exit code 0: stopped on purpose (an admin's `sc stop`, the Services
    /// console, a tool), or it ended cleanly by itself.
    Stopped,
    /// STOPPED with a failure and no recovery restart to come, or it cannot be read: down.
    Down,
}

/// What to do about a service worker whose process exited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServiceVerdict {
    /// Leave it alone: look again after this long.
    LeaveAlone(Duration),
    /// Windows started it again: watch this process from now on.
    Adopt(Proc),
    /// Stopped on purpose: left down until the next planned restart (not fought).
    Stopped,
    /// Down: a crash, for supervision to handle (its restart is an SCM start).
    Crashed,
}

/// How long past the longest recovery delay Windows is given to bring a service back.
pub const SERVICE_RECOVERY_MARGIN: Duration = Duration::from_secs(30);
/// The longest pause between two looks at a service left alone, so that a service Windows
/// started again is adopted promptly.
pub const SERVICE_LOOK_MAX: Duration = Duration::from_secs(5);
/// How long a service still starting or stopping is left alone in all.
pub const SERVICE_PENDING_LIMIT: Duration = Duration::from_secs(10 * 60);
/// How often a `Stale` service is looked at, and for how long in all (counted from the exit)
/// before it is a crash.
pub const SERVICE_STALE_LOOK: Duration = Duration::from_secs(1);
pub const SERVICE_STALE_LIMIT: Duration = Duration::from_secs(10);
/// How often a service STOPPED with exit code 0 is looked at, and for how long in all
/// (counted from the exit) before it is stopped on purpose (a restart by hand starts it again
/// within).
pub const SERVICE_STOPPED_LOOK: Duration = Duration::from_secs(1);
pub const SERVICE_STOPPED_LIMIT: Duration = Duration::from_secs(10);

/// The decision after a service worker's process `exited`, `waited` after the exit (the
/// sum of the `LeaveAlone` pauses so far): a service Windows is already starting, stopping or
/// about to restart (its recovery) is left alone, for the recovery delay plus
/// `SERVICE_RECOVERY_MARGIN`, or while pending up to `SERVICE_PENDING_LIMIT`, looked at every
/// `SERVICE_LOOK_MAX` at most; one the SCM still calls RUNNING with the exited (or a gone)
/// process is left alone up to `SERVICE_STALE_LIMIT`; one running again is adopted; one
/// stopped with exit code 0 is looked at again every `SERVICE_STOPPED_LOOK` and is `Stopped`
/// if still so after `SERVICE_STOPPED_LIMIT`; anything else is a crash.
pub fn service_verdict(seen: ServiceSeen, exited: Proc, waited: Duration) -> ServiceVerdict {
    let within = |limit: Duration, look: Duration| {
        if waited < limit {
            ServiceVerdict::LeaveAlone(look.min(limit - waited))
        } else {
            ServiceVerdict::Crashed
        }
    };
    match seen {
        ServiceSeen::Running(id) if id != exited => ServiceVerdict::Adopt(id),
        ServiceSeen::Running(_) | ServiceSeen::Stale => {
            within(SERVICE_STALE_LIMIT, SERVICE_STALE_LOOK)
        }
        // An admin's Restart-Service, or `pacs-warden restart` by hand, shows it STOPPED for a
        // moment between its stop and its start: only a STOPPED that stays so is on purpose.
        ServiceSeen::Stopped if waited < SERVICE_STOPPED_LIMIT => {
            ServiceVerdict::LeaveAlone(SERVICE_STOPPED_LOOK.min(SERVICE_STOPPED_LIMIT - waited))
        }
        ServiceSeen::Stopped => ServiceVerdict::Stopped,
        ServiceSeen::Down => ServiceVerdict::Crashed,
        ServiceSeen::Pending => within(SERVICE_PENDING_LIMIT, SERVICE_LOOK_MAX),
        ServiceSeen::RecoveryRestarts { delay } => {
            within(delay + SERVICE_RECOVERY_MARGIN, SERVICE_LOOK_MAX)
        }
    }
}

impl Warden {
    /// A watched service worker's process `old` exited and Windows started the service again
    /// (its recovery, an admin) as `new`: watched from now on, and recorded as the worker's
    /// process (a later daemon adopts it), not a crash.
    pub fn handle_service_restarted(
        &mut self,
        name: &str,
        old: Proc,
        new: Proc,
        now: DateTime<Utc>,
    ) {
        self.saw(now);
        // (A restart in flight removed the worker from `watching`: stale too.)
        if self.watching.get(name) != Some(&old) {
            return; // stale
        }
        self.fitness_stop(name);
        self.log(
            Note::warn(format!(
                "the worker's service process {} exited and Windows started the service again (its recovery, or an admin); watching the new process",
                old.pid
            ))
            .worker(name)
            .pid(new.pid),
        );
        self.watch(name, new, now);
        self.actions.push_back(Action::Save(Save::Adopted {
            worker: name.to_string(),
            id: new,
        }));
        // Not ready before: the new process is probed as the old one was.
        if let Some(n) = self
            .supervision
            .get_mut(name)
            .and_then(|s| s.not_ready.as_mut())
        {
            n.id = new;
            n.probing = false;
            n.wait = READY_PROBE_FIRST;
            n.next_at = after(now, READY_PROBE_FIRST);
        }
        self.save_supervision(name);
    }

    /// A watched service worker's process `id` exited and the service is STOPPED with exit
    /// code 0: someone stopped it on purpose (an admin, a tool). Warned and alerted, and left
    /// down until the next planned restart, as if `supervise` were off for it until then.
    pub fn handle_service_stopped(&mut self, name: &str, id: Proc, now: DateTime<Utc>) {
        self.saw(now);
        // (A restart in flight removed the worker from `watching`: stale too.)
        if self.watching.get(name) != Some(&id) {
            return; // stale watcher
        }
        self.watching.remove(name);
        self.awaiting_service.remove(name);
        self.fitness_stop(name);
        let message = format!(
            "worker {name}'s service was stopped (STOPPED with exit code 0: an admin's `sc stop` or the Services console, a tool, or it ended by itself without a failure); pacs-warden does not start it again before the next planned restart (or `pacs-warden restart`)"
        );
        self.log(Note::warn(message.clone()).worker(name).pid(id.pid));
        self.alert("worker_stopped", Some(name), &message);
        let sup = self.supervision.entry(name.to_string()).or_default();
        sup.not_ready = None;
        sup.retry_at = None;
        // Saved: a later daemon's boot restart does not start it again either.
        sup.stopped_on_purpose = Some(now);
        self.save_supervision(name);
    }

    /// A watched service worker's process `id` exited; the shell now reads the SCM for the
    /// verdict (`service_verdict`), which may take minutes. Meanwhile the dead process is not
    /// checked (`ready.every`, `max_memory`) or probed: a failed ping of it must not restart
    /// the service Windows is bringing back.
    pub fn handle_service_exited(&mut self, name: &str, id: Proc, now: DateTime<Utc>) {
        self.saw(now);
        if self.watching.get(name) != Some(&id) {
            return; // stale watcher
        }
        self.fitness_stop(name);
        self.awaiting_service.insert(name.to_string());
        self.actions.push_back(Action::AwaitService {
            name: name.to_string(),
            id,
        });
    }

    /// At the daemon's start, before `handle_boot`: `name`'s service was stopped on purpose
    /// at `at` (saved by an earlier daemon) and the machine has not rebooted since: its boot
    /// restart is skipped (an admin's stop is not undone by a daemon restart).
    pub fn handle_stopped_on_purpose(&mut self, name: &str, at: DateTime<Utc>) {
        self.supervision
            .entry(name.to_string())
            .or_default()
            .stopped_on_purpose = Some(at);
    }

    /// When `name`'s service was stopped on purpose, if it still is.
    pub(super) fn kept_stopped(&self, name: &str) -> Option<DateTime<Utc>> {
        self.supervision.get(name)?.stopped_on_purpose
    }

    /// A watched worker process exited.
    pub fn handle_exit(&mut self, name: &str, id: Proc, now: DateTime<Utc>) {
        self.saw(now);
        if self.watching.get(name) != Some(&id) || self.in_flight.contains(name) {
            return; // stale watcher, or a restart is stopping it on purpose
        }
        self.watching.remove(name);
        self.awaiting_service.remove(name);
        self.fitness_stop(name);
        let Some(worker) = self.schedule.workers.iter().find(|w| w.name == name) else {
            return;
        };
        if worker.supervise.is_none() {
            self.log(Note::warn("the worker exited; `supervise: false`, so it stays down until the next planned restart").worker(name).pid(id.pid));
            if let Some(sup) = self.supervision.get_mut(name) {
                sup.not_ready = None;
            }
            self.save_supervision(name);
            return;
        }
        self.log(
            Note::warn("the worker exited unexpectedly (crash)")
                .worker(name)
                .pid(id.pid),
        );
        let sup = self.supervision.entry(name.to_string()).or_default();
        sup.last_crash = Some(now);
        sup.not_ready = None;
        self.schedule_retry(name, "it crashed", now);
        self.save_supervision(name);
    }

    /// After a crash or a failed start: start `name` again after its backoff, or give up.
    pub(super) fn schedule_retry(&mut self, name: &str, why: &str, now: DateTime<Utc>) {
        let Some(spec) = self
            .schedule
            .workers
            .iter()
            .find(|w| w.name == name)
            .and_then(|w| w.supervise)
        else {
            return;
        };
        let sup = self.supervision.entry(name.to_string()).or_default();
        if sup.gave_up {
            return;
        }
        if sup
            .started_at
            .is_some_and(|t| (now - t).to_std().unwrap_or_default() >= spec.stable_after)
        {
            sup.failures = 0;
        }
        sup.failures += 1;
        if sup.failures >= spec.give_up_after {
            sup.gave_up = true;
            sup.retry_at = None;
            let message = format!(
                "worker {name} failed {} times in a row; supervision GAVE UP. It stays down until the next planned restart or `pacs-warden restart`",
                sup.failures
            );
            self.log(Note::error(message.clone()).worker(name));
            self.alert("supervision_gave_up", Some(name), &message);
            return;
        }
        let backoff = spec
            .backoff
            .saturating_mul(1 << (sup.failures - 1).min(16))
            .min(spec.max_backoff);
        sup.backoff = backoff;
        sup.retry_at = Some(after(now, backoff));
        let attempt = sup.failures;
        self.log(
            Note::warn(format!(
                "{why}; starting it again in {}",
                file_duration(backoff)
            ))
            .worker(name)
            .attempt(attempt),
        );
    }

    /// The next crash retry or probe of a not-ready worker (of the workers in the schedule:
    /// one edited away is never due, and must not wake the daemon).
    pub(super) fn next_retry(&self) -> Option<DateTime<Utc>> {
        let current = self
            .supervision
            .iter()
            .filter(|(name, _)| self.schedule.workers.iter().any(|w| &&w.name == name));
        let probes = current
            .clone()
            .filter(|(name, _)| {
                !self.in_flight.contains(*name) && !self.awaiting_service.contains(*name)
            })
            .filter_map(|(_, s)| s.not_ready.as_ref())
            .filter(|n| !n.probing)
            .map(|n| n.next_at);
        current.filter_map(|(_, s)| s.retry_at).chain(probes).min()
    }

    /// Starts the crash retries whose backoff is over, and probes the not-ready workers whose
    /// pause is over.
    pub(super) fn retry_due(&mut self, now: DateTime<Utc>) {
        let due: Vec<usize> = self
            .schedule
            .workers
            .iter()
            .enumerate()
            .filter(|(_, w)| {
                self.supervision
                    .get(&w.name)
                    .and_then(|s| s.retry_at)
                    .is_some_and(|at| at <= now)
            })
            .map(|(i, _)| i)
            .collect();
        for &i in &due {
            let sup = self
                .supervision
                .entry(self.schedule.workers[i].name.clone())
                .or_default();
            sup.retry_at = None;
            sup.restarts += 1;
        }
        if !due.is_empty() {
            self.launch(&due, Why::Supervision);
        }
        self.probe_not_ready(now);
    }

    /// A restart started `name`'s worker `id`, which runs, but its `ready` command never
    /// succeeded (`answer` is its last answer). Not a crash: the worker is left running and
    /// only its `ready` command is run again, with growing pauses.
    pub(super) fn started_not_ready(
        &mut self,
        name: &str,
        id: Proc,
        answer: &str,
        now: DateTime<Utc>,
    ) {
        self.watch(name, id, now);
        let sup = self.supervision.entry(name.to_string()).or_default();
        sup.started_at = Some(now);
        sup.gave_up = false;
        sup.retry_at = None;
        sup.not_ready = Some(NotReady {
            id,
            since: now,
            probes: 0,
            answer: answer.to_string(),
            wait: READY_PROBE_FIRST,
            next_at: after(now, READY_PROBE_FIRST),
            probing: false,
        });
        let message = format!(
            "worker {name} (pid {}) runs but is NOT READY: {answer}. It is left running (not restarted again before the next planned restart); its ready command is tried again in {}",
            id.pid,
            file_duration(READY_PROBE_FIRST)
        );
        self.log(Note::warn(message.clone()).worker(name).pid(id.pid));
        self.alert("worker_not_ready", Some(name), &message);
    }

    /// At the daemon's start, adopting `id`: the previous daemon left it not ready, so go on
    /// probing it.
    pub(super) fn resume_not_ready(
        &mut self,
        name: &str,
        id: Proc,
        saved: SavedNotReady,
        now: DateTime<Utc>,
    ) {
        self.log(Note::info(format!("the adopted worker was not ready when the previous daemon stopped; trying its ready command again in {}", file_duration(READY_PROBE_FIRST))).worker(name).pid(id.pid));
        self.supervision
            .entry(name.to_string())
            .or_default()
            .not_ready = Some(NotReady {
            id,
            since: saved.since,
            probes: saved.probes,
            answer: saved.answer,
            wait: READY_PROBE_FIRST,
            next_at: after(now, READY_PROBE_FIRST),
            probing: false,
        });
    }

    /// Runs the `ready` command of each not-ready worker whose pause is over.
    fn probe_not_ready(&mut self, now: DateTime<Utc>) {
        for (i, w) in self.schedule.workers.iter().enumerate() {
            if self.in_flight.contains(&w.name) || self.awaiting_service.contains(&w.name) {
                continue;
            }
            let Some(n) = self
                .supervision
                .get_mut(&w.name)
                .and_then(|s| s.not_ready.as_mut())
            else {
                continue;
            };
            if n.probing || n.next_at > now {
                continue;
            }
            n.probing = true;
            self.actions.push_back(Action::ProbeReady {
                worker: i,
                name: w.name.clone(),
                id: n.id,
            });
        }
    }

    /// A probe of a not-ready worker answered.
    pub(super) fn ready_answer(
        &mut self,
        name: &str,
        id: Proc,
        answer: Result<(), String>,
        now: DateTime<Utc>,
    ) {
        let restarting = self.in_flight.contains(name) || self.awaiting_service.contains(name);
        let Some(sup) = self.supervision.get_mut(name) else {
            return;
        };
        let Some(n) = sup.not_ready.as_mut().filter(|n| n.id == id) else {
            return; // stale: restarted or gone meanwhile
        };
        n.probing = false;
        if restarting {
            return; // the restart's outcome (or the service's verdict) replaces this state
        }
        match answer {
            Ok(()) => {
                let note = Note::info(format!(
                    "the worker is ready now (its ready command succeeded; not ready since {})",
                    n.since.to_rfc3339()
                ))
                .worker(name)
                .pid(id.pid)
                .probes(n.probes + 1);
                sup.not_ready = None;
                self.log(note);
                // The restart did start a ready worker after all: its record says so now, for
                // the readiness checks at query time.
                self.actions.push_back(Action::Save(Save::ReadyLater {
                    worker: name.to_string(),
                    id,
                    at: now,
                }));
                self.query_worker_changed(name, now);
            }
            Err(answer) => {
                n.probes += 1;
                n.answer = answer;
                n.wait = next_probe_wait(n.wait);
                n.next_at = after(now, n.wait);
                let note = Note::warn(format!(
                    "the worker is still NOT READY: {}; left running, its ready command is tried again in {}",
                    n.answer,
                    file_duration(n.wait)
                ))
                .worker(name)
                .pid(id.pid)
                .probe(n.probes);
                self.log(note);
            }
        }
        self.save_supervision(name);
    }

    /// The ready command's last answer, if `name`'s worker runs but is not ready.
    pub(super) fn not_ready_answer(&self, name: &str) -> Option<&str> {
        self.supervision
            .get(name)
            .and_then(|s| s.not_ready.as_ref())
            .map(|n| n.answer.as_str())
    }

    /// Records a worker's supervision state for `status`.
    pub(super) fn save_supervision(&mut self, name: &str) {
        let Some(sup) = self.supervision.get(name) else {
            return;
        };
        let record = SupervisionSnapshot {
            restarts: sup.restarts,
            failures_in_a_row: sup.failures,
            backoff: sup.backoff,
            last_crash: sup.last_crash,
            gave_up: sup.gave_up,
            stopped_on_purpose: sup.stopped_on_purpose,
            not_ready: sup.not_ready.as_ref().map(|n| NotReadySnapshot {
                pid: n.id.pid,
                since: n.since,
                probes: n.probes,
                answer: n.answer.clone(),
                next_probe: (!n.probing).then_some(n.next_at),
            }),
        };
        self.actions.push_back(Action::Save(Save::Supervision {
            worker: name.to_string(),
            record,
        }));
    }
}
