//! Crash supervision: watch each started worker process, start it again after a crash or a
//! failed start with exponential backoff, give up (loudly) after too many failures.
//!
//! Also readiness after a start: a worker that was started and runs but whose `ready` command
//! keeps failing is *not ready*, not crashed. It is left running (a solo worker busy with a
//! long task cannot answer a ping either) until the next planned restart; only its `ready`
//! command is run again, with growing pauses, until it succeeds.

use super::Daemon;
use crate::sys::process::ProcId;
use chrono::{DateTime, Utc};
use std::sync::Arc;
use std::time::Duration;
use tracing::{error, info, warn};

/// The first pause before a not-ready worker's `ready` command is run again; it doubles after
/// each failed probe, up to `READY_PROBE_MAX`.
pub(super) const READY_PROBE_FIRST: Duration = Duration::from_secs(60);
pub(super) const READY_PROBE_MAX: Duration = Duration::from_secs(30 * 60);

/// A started worker that runs but is not ready.
#[derive(Debug)]
pub(super) struct NotReady {
    /// The worker process (a probe's answer about another one is stale).
    pub(super) id: ProcId,
    pub(super) since: DateTime<Utc>,
    /// Probes since the restart's own tries ran out.
    pub(super) probes: u32,
    /// The ready command's last answer.
    pub(super) answer: String,
    /// The pause before the next probe.
    pub(super) wait: Duration,
    pub(super) next_at: tokio::time::Instant,
    pub(super) next_at_utc: DateTime<Utc>,
    /// A probe is running.
    pub(super) probing: bool,
}

/// What a probe of a not-ready worker reports back to the loop: the worker, the process
/// probed, and the ready command's answer.
pub(super) type ReadyAnswer = (String, ProcId, Result<(), String>);

/// The pause after `wait` when a probe fails again.
pub(super) fn next_probe_wait(wait: Duration) -> Duration {
    wait.saturating_mul(2).min(READY_PROBE_MAX)
}

/// Crash supervision of one worker: exponential backoff, reset after a stable period, and a
/// limit after which it gives up (until the next planned restart succeeds).
#[derive(Debug, Default)]
pub(super) struct Supervision {
    /// Crashes (or failed starts) since the worker last ran stably.
    pub(super) failures: u32,
    /// Restarts done by supervision, in all.
    pub(super) restarts: u32,
    pub(super) started_at: Option<tokio::time::Instant>,
    pub(super) retry_at: Option<tokio::time::Instant>,
    pub(super) backoff: Duration,
    pub(super) last_crash: Option<DateTime<Utc>>,
    pub(super) gave_up: bool,
    /// Started and running, but its `ready` command fails.
    pub(super) not_ready: Option<NotReady>,
}

pub(super) async fn sleep_until_retry(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

impl Daemon {
    /// Waits (in the background) for `id`, `name`'s worker process, to exit.
    pub(super) fn watch(&mut self, name: &str, id: ProcId) {
        if let Some((_, old)) = self.watching.remove(name) {
            old.abort();
        }
        if !self.supervision.contains_key(name) {
            self.resume_not_ready(name, id);
        }
        let owned = name.to_string();
        let handle = self.watchers.spawn(async move {
            crate::sys::os::wait_exit(id).await;
            (owned, id)
        });
        self.watching.insert(name.to_string(), (id, handle));
    }

    /// A watched worker process exited.
    pub(super) fn exited(&mut self, name: &str, id: ProcId) {
        if self.watching.get(name).map(|(w, _)| *w) != Some(id) || self.in_flight.contains(name) {
            return; // stale watcher, or a restart is stopping it on purpose
        }
        self.watching.remove(name);
        let Some(worker) = self.schedule.workers.iter().find(|w| w.name == name) else {
            return;
        };
        if worker.supervise.is_none() {
            warn!(worker = %name, pid = id.pid, "the worker exited; `supervise: false`, so it stays down until the next planned restart");
            if let Some(sup) = self.supervision.get_mut(name) {
                sup.not_ready = None;
            }
            self.save_supervision(name);
            return;
        }
        warn!(worker = %name, pid = id.pid, "the worker exited unexpectedly (crash)");
        let sup = self.supervision.entry(name.to_string()).or_default();
        sup.last_crash = Some(self.clock.now());
        sup.not_ready = None;
        self.schedule_retry(name, "it crashed");
        self.save_supervision(name);
    }

    pub(super) fn schedule_retry(&mut self, name: &str, why: &str) {
        let Some(spec) = self
            .schedule
            .workers
            .iter()
            .find(|w| w.name == name)
            .and_then(|w| w.supervise)
        else {
            return;
        };
        let now = tokio::time::Instant::now();
        let sup = self.supervision.entry(name.to_string()).or_default();
        if sup.gave_up {
            return;
        }
        if sup
            .started_at
            .is_some_and(|t| now.duration_since(t) >= spec.stable_after)
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
            error!(worker = %name, "{message}");
            self.alert("supervision_gave_up", Some(name), &message);
            return;
        }
        let backoff = spec
            .backoff
            .saturating_mul(1 << (sup.failures - 1).min(16))
            .min(spec.max_backoff);
        sup.backoff = backoff;
        sup.retry_at = Some(now + backoff);
        warn!(
            worker = %name,
            attempt = sup.failures,
            "{why}; starting it again in {}",
            crate::core::report::file_duration(backoff)
        );
    }

    /// The next crash retry or probe of a not-ready worker (of the workers in the schedule:
    /// one edited away is never due, and must not wake the loop).
    pub(super) fn next_retry(&self) -> Option<tokio::time::Instant> {
        let current = self
            .supervision
            .iter()
            .filter(|(name, _)| self.schedule.workers.iter().any(|w| &&w.name == name));
        let probes = current
            .clone()
            .filter(|(name, _)| !self.in_flight.contains(*name))
            .filter_map(|(_, s)| s.not_ready.as_ref())
            .filter(|n| !n.probing)
            .map(|n| n.next_at);
        current.filter_map(|(_, s)| s.retry_at).chain(probes).min()
    }

    pub(super) fn retry_due(&mut self) {
        let now = tokio::time::Instant::now();
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
            self.launch(&due, "supervision");
        }
        self.probe_not_ready(now);
    }

    /// A restart started `name`'s worker `id`, which runs, but its `ready` command never
    /// succeeded (`answer` is its last answer). Not a crash: the worker is left running (it
    /// may be busy with a long task) and only its `ready` command is run again, with growing
    /// pauses, until it succeeds or the next planned restart.
    pub(super) fn started_not_ready(&mut self, name: &str, id: ProcId, answer: &str) {
        self.watch(name, id);
        let now = tokio::time::Instant::now();
        let now_utc = self.clock.now();
        let sup = self.supervision.entry(name.to_string()).or_default();
        sup.started_at = Some(now);
        sup.gave_up = false;
        sup.retry_at = None;
        sup.not_ready = Some(NotReady {
            id,
            since: now_utc,
            probes: 0,
            answer: answer.to_string(),
            wait: READY_PROBE_FIRST,
            next_at: now + READY_PROBE_FIRST,
            next_at_utc: now_utc + READY_PROBE_FIRST,
            probing: false,
        });
        let message = format!(
            "worker {name} (pid {}) runs but is NOT READY: {answer}. It is left running (not restarted again before the next planned restart); its ready command is tried again in {}",
            id.pid,
            crate::core::report::file_duration(READY_PROBE_FIRST)
        );
        warn!(worker = %name, pid = id.pid, "{message}");
        self.alert("worker_not_ready", Some(name), &message);
    }

    /// At the daemon's start, adopting `id`: if the previous daemon left it not ready, go on
    /// probing it.
    fn resume_not_ready(&mut self, name: &str, id: ProcId) {
        let saved = self.store().read().workers.get(name).cloned();
        let Some(record) = saved.and_then(|w| w.not_ready).filter(|r| r.pid == id.pid) else {
            return;
        };
        info!(worker = %name, pid = id.pid, "the adopted worker was not ready when the previous daemon stopped; trying its ready command again in {}", crate::core::report::file_duration(READY_PROBE_FIRST));
        let now = tokio::time::Instant::now();
        self.supervision
            .entry(name.to_string())
            .or_default()
            .not_ready = Some(NotReady {
            id,
            since: record.since,
            probes: record.probes,
            answer: record.answer,
            wait: READY_PROBE_FIRST,
            next_at: now + READY_PROBE_FIRST,
            next_at_utc: self.clock.now() + READY_PROBE_FIRST,
            probing: false,
        });
    }

    /// Runs the `ready` command of each not-ready worker whose pause is over.
    fn probe_not_ready(&mut self, now: tokio::time::Instant) {
        let due: Vec<(usize, ProcId)> = self
            .schedule
            .workers
            .iter()
            .enumerate()
            .filter(|(_, w)| !self.in_flight.contains(&w.name))
            .filter_map(|(i, w)| {
                let n = self.supervision.get(&w.name)?.not_ready.as_ref()?;
                (!n.probing && n.next_at <= now).then_some((i, n.id))
            })
            .collect();
        for (i, id) in due {
            let name = self.schedule.workers[i].name.clone();
            if let Some(n) = self
                .supervision
                .get_mut(&name)
                .and_then(|s| s.not_ready.as_mut())
            {
                n.probing = true;
            }
            let schedule = Arc::clone(&self.schedule);
            self.ready_probes.spawn(async move {
                let worker = &schedule.workers[i];
                // A worker whose `ready` was edited away counts as ready.
                let answer = crate::shell::sequence::probe_ready(&schedule, worker)
                    .await
                    .unwrap_or(Ok(()));
                (name, id, answer)
            });
        }
    }

    /// A probe of a not-ready worker answered.
    pub(super) fn ready_probed(&mut self, (name, id, answer): ReadyAnswer) {
        let restarting = self.in_flight.contains(&name);
        let now = tokio::time::Instant::now();
        let now_utc = self.clock.now();
        let Some(sup) = self.supervision.get_mut(&name) else {
            return;
        };
        let Some(n) = sup.not_ready.as_mut().filter(|n| n.id == id) else {
            return; // stale: restarted or gone meanwhile
        };
        n.probing = false;
        if restarting {
            return; // the restart's outcome replaces this state
        }
        match answer {
            Ok(()) => {
                info!(
                    worker = %name,
                    pid = id.pid,
                    probes = n.probes + 1,
                    "the worker is ready now (its ready command succeeded; not ready since {})",
                    n.since.to_rfc3339()
                );
                sup.not_ready = None;
                // The restart did start a ready worker after all: its record says so now, for
                // the readiness checks at query time.
                let at = now_utc;
                if let Err(e) = self.store().update(|s| {
                    let w = s.workers.entry(name.clone()).or_default();
                    if w.started == Some(id) {
                        if let Some(last) = w.last.as_mut().filter(|l| !l.ok) {
                            last.ok = true;
                            last.not_ready = None;
                            last.summary
                                .push_str(&format!("; ready later, at {}", at.to_rfc3339()));
                        }
                    }
                }) {
                    warn!(worker = %name, error = %e, "cannot record that the worker is ready");
                }
            }
            Err(answer) => {
                n.probes += 1;
                n.answer = answer;
                n.wait = next_probe_wait(n.wait);
                n.next_at = now + n.wait;
                n.next_at_utc = now_utc + n.wait;
                warn!(
                    worker = %name,
                    pid = id.pid,
                    probe = n.probes,
                    "the worker is still NOT READY: {}; left running, its ready command is tried again in {}",
                    n.answer,
                    crate::core::report::file_duration(n.wait)
                );
            }
        }
        self.save_supervision(&name);
    }

    /// The ready command's last answer, if `name`'s worker runs but is not ready.
    pub(super) fn not_ready_answer(&self, name: &str) -> Option<&str> {
        self.supervision
            .get(name)
            .and_then(|s| s.not_ready.as_ref())
            .map(|n| n.answer.as_str())
    }

    /// Records a worker's supervision state for `status`.
    pub(super) fn save_supervision(&self, name: &str) {
        let Some(sup) = self.supervision.get(name) else {
            return;
        };
        let record = crate::shell::state::SupervisionRecord {
            restarts: sup.restarts,
            failures_in_a_row: sup.failures,
            backoff_seconds: sup.backoff.as_secs(),
            last_crash: sup.last_crash,
            gave_up: sup.gave_up,
        };
        let not_ready = sup
            .not_ready
            .as_ref()
            .map(|n| crate::shell::state::NotReadyRecord {
                pid: n.id.pid,
                since: n.since,
                probes: n.probes,
                answer: n.answer.clone(),
                next_probe: (!n.probing).then_some(n.next_at_utc),
            });
        if let Err(e) = self.store().update(|s| {
            let w = s.workers.entry(name.to_string()).or_default();
            w.supervision = Some(record);
            w.not_ready = not_ready;
        }) {
            warn!(error = %e, "cannot record supervision state");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_ready_probes_back_off_from_a_minute_to_half_an_hour() {
        let mut wait = READY_PROBE_FIRST;
        let mut waits = vec![wait.as_secs() / 60];
        for _ in 0..7 {
            wait = next_probe_wait(wait);
            waits.push(wait.as_secs() / 60);
        }
        assert_eq!(waits, [1, 2, 4, 8, 16, 30, 30, 30]);
    }
}
