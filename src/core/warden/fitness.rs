//! Workers that hang or bloat while alive: the periodic `ready` probe (`ready.every`) and the
//! memory check (`max_memory`) of a running worker between restarts.
//!
//! A check runs only while the worker runs idle between restarts: never while its restart
//! sequence runs, never while a planned (or memory) restart waits for it to become idle, and
//! the `ready` probe not while the worker is already *not ready* after a start (`supervise`
//! probes that one). A failed `ready` probe counts only if the worker is not busy (a solo
//! Celery worker busy with a task cannot answer a ping): the shell asks `busy`, when set, after a
//! failure. After `ready.failures` counted failures in a row the worker is restarted through
//! the normal sequence (alert `worker_unresponsive`). Memory above `max_memory` restarts it the
//! busy-aware way, like a planned restart, waiting at most `MEMORY_DEFER_MAX` (alert
//! `memory_limit`). Each check is due once per its interval and wakes the daemon once.

use super::after;
use super::{Action, Note, Proc, Save, Warden, Why};
use crate::core::report::file_duration;
use crate::core::text::escape;
use chrono::{DateTime, TimeDelta, Utc};
use std::time::Duration;

/// The longest a memory restart waits for a busy worker to become idle.
pub const MEMORY_DEFER_MAX: Duration = Duration::from_secs(30 * 60);

/// The checks of one running worker.
#[derive(Debug)]
pub(super) struct Fitness {
    /// The worker process checked (an answer about another one is stale).
    id: Proc,
    /// The next `ready` probe (`None`: no `ready.every`).
    ready_at: Option<DateTime<Utc>>,
    ready_probing: bool,
    /// Counted failed probes in a row.
    failures: u32,
    /// The next memory check (`None`: no `max_memory`).
    memory_at: Option<DateTime<Utc>>,
    memory_probing: bool,
    /// What was last recorded for `status` (ok, answer, failures; bytes): an answer like the
    /// one recorded is not written again, so that an idle daemon writes no file (and wakes
    /// nothing that watches its directory) on every check.
    saved_ready: Option<(bool, String, u32)>,
    saved_memory: Option<u64>,
}

/// A memory reading is recorded again when it moved by this share of `max_memory` (1/20: 5%).
const MEMORY_RECORD_STEP: u64 = 20;

/// The `ready` probe's answer, for `status` and `health`: `at` is when this answer was first
/// given (a streak of the same answer is recorded once).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadyAnswer {
    pub at: DateTime<Utc>,
    pub ok: bool,
    pub answer: String,
    /// Counted failures in a row (0 after a success).
    pub failures_in_a_row: u32,
    pub failures_allowed: u32,
}

/// A memory reading, for `status`: recorded when it moved by 5% of the limit or more.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemoryReading {
    pub at: DateTime<Utc>,
    pub bytes: u64,
    pub limit: u64,
}

impl Fitness {
    /// The clock was stepped back by `by`: the next checks move back with it.
    pub(super) fn shift_back(&mut self, by: TimeDelta) {
        for t in [&mut self.ready_at, &mut self.memory_at]
            .into_iter()
            .flatten()
        {
            *t -= by;
        }
    }
}

/// `bytes` for a person: `1.5 GB` (binary units, as the schedule's).
pub fn show_bytes(bytes: u64) -> String {
    let units = ["B", "KB", "MB", "GB", "TB"];
    let mut v = bytes as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < units.len() {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{v:.1} {}", units[unit])
    }
}

impl Warden {
    /// `name`'s worker `id` runs (started, adopted or restarted): its checks begin, each one
    /// interval from `now`.
    pub(super) fn fitness_start(&mut self, name: &str, id: Proc, now: DateTime<Utc>) {
        if self.dry_run {
            return;
        }
        let Some(spec) = self.schedule.workers.iter().find(|w| w.name == name) else {
            return;
        };
        let ready_at = spec
            .ready
            .as_ref()
            .and_then(|r| r.every)
            .map(|every| after(now, every));
        let memory_at = spec.max_memory.map(|m| after(now, m.every));
        if ready_at.is_none() && memory_at.is_none() {
            self.fitness.remove(name);
            return;
        }
        self.fitness.insert(
            name.to_string(),
            Fitness {
                id,
                ready_at,
                ready_probing: false,
                failures: 0,
                memory_at,
                memory_probing: false,
                saved_ready: None,
                saved_memory: None,
            },
        );
    }

    /// After an edit: checks added or removed take effect from `now`.
    pub(super) fn fitness_edited(&mut self, now: DateTime<Utc>) {
        let names: Vec<String> = self.fitness.keys().cloned().collect();
        for name in names {
            let spec = self.schedule.workers.iter().find(|w| w.name == name);
            let every = spec.and_then(|s| s.ready.as_ref()).and_then(|r| r.every);
            let memory = spec.and_then(|s| s.max_memory).map(|m| m.every);
            if let Some(f) = self.fitness.get_mut(&name) {
                f.ready_at = match (every, f.ready_at) {
                    (None, _) => None,
                    (Some(e), None) => Some(after(now, e)),
                    (Some(e), Some(at)) => Some(at.min(after(now, e))),
                };
                f.memory_at = match (memory, f.memory_at) {
                    (None, _) => None,
                    (Some(e), None) => Some(after(now, e)),
                    (Some(e), Some(at)) => Some(at.min(after(now, e))),
                };
            }
        }
        // A worker that gained checks while running gets them from its next restart or
        // adoption; one watched now gets them at once.
        let watched: Vec<(String, Proc)> = self
            .watching
            .iter()
            .filter(|(n, _)| !self.fitness.contains_key(*n) && !self.awaiting_service.contains(*n))
            .map(|(n, id)| (n.clone(), *id))
            .collect();
        for (name, id) in watched {
            self.fitness_start(&name, id, now);
        }
    }

    /// A restart or an exit ends the checks of `name`'s worker process.
    pub(super) fn fitness_stop(&mut self, name: &str) {
        self.fitness.remove(name);
    }

    /// Whether `name`'s checks may run now: it is in the schedule, no restart of it runs or
    /// waits. (`poll_timeout` and `fitness_due` must agree, or the daemon would spin.)
    fn may_check(&self, name: &str) -> bool {
        !self.in_flight.contains(name)
            && !self.deferrals.contains(name)
            && self.schedule.workers.iter().any(|w| w.name == name)
    }

    /// The `ready` probe may run: and the worker is not already not-ready after a start.
    fn may_probe_ready(&self, name: &str) -> bool {
        self.may_check(name) && self.not_ready_answer(name).is_none()
    }

    /// The next check due.
    pub(super) fn next_check(&self) -> Option<DateTime<Utc>> {
        self.fitness
            .iter()
            .flat_map(|(name, f)| {
                let ready = f
                    .ready_at
                    .filter(|_| !f.ready_probing && self.may_probe_ready(name));
                let memory = f
                    .memory_at
                    .filter(|_| !f.memory_probing && self.may_check(name));
                [ready, memory]
            })
            .flatten()
            .min()
    }

    /// Starts the checks that are due.
    pub(super) fn checks_due(&mut self, now: DateTime<Utc>) {
        let mut names: Vec<String> = self.fitness.keys().cloned().collect();
        names.sort();
        for name in names {
            let Some(w) = self.schedule.workers.iter().position(|x| x.name == name) else {
                continue;
            };
            let spec = &self.schedule.workers[w];
            let every = spec.ready.as_ref().and_then(|r| r.every);
            let memory_every = spec.max_memory.map(|m| m.every);
            let probe_ready = self.may_probe_ready(&name);
            let check = self.may_check(&name);
            let Some(f) = self.fitness.get_mut(&name) else {
                continue;
            };
            let id = f.id;
            let mut actions = Vec::new();
            if let (Some(at), Some(every), true) = (f.ready_at, every, probe_ready) {
                if at <= now && !f.ready_probing {
                    f.ready_probing = true;
                    f.ready_at = Some(after(now, every));
                    actions.push(Action::ProbeAlive {
                        worker: w,
                        name: name.clone(),
                        id,
                    });
                }
            }
            if let (Some(at), Some(every), true) = (f.memory_at, memory_every, check) {
                if at <= now && !f.memory_probing {
                    f.memory_probing = true;
                    f.memory_at = Some(after(now, every));
                    actions.push(Action::ProbeMemory {
                        worker: w,
                        name: name.clone(),
                        id,
                    });
                }
            }
            self.actions.extend(actions);
        }
    }

    /// The periodic `ready` probe of `name`'s worker `id` answered; `busy` is the busy
    /// probe's answer when it says the worker is busy (asked only after a failure).
    pub(super) fn alive_answer(
        &mut self,
        name: &str,
        id: Proc,
        answer: Result<(), String>,
        busy: Option<String>,
        now: DateTime<Utc>,
    ) {
        let allowed = self
            .schedule
            .workers
            .iter()
            .find(|w| w.name == name)
            .and_then(|w| w.ready.as_ref())
            .map_or(u32::MAX, |r| r.failures);
        let in_flight = self.in_flight.contains(name);
        let Some(f) = self.fitness.get_mut(name).filter(|f| f.id == id) else {
            return; // stale: restarted or gone meanwhile
        };
        f.ready_probing = false;
        if in_flight {
            return;
        }
        let (ok, shown) = match (&answer, &busy) {
            (Ok(()), _) => {
                if f.failures > 0 {
                    let n = f.failures;
                    f.failures = 0;
                    self.log(
                        Note::info(format!(
                            "the worker answers its ready command again (after {n} failed probe{})",
                            if n == 1 { "" } else { "s" }
                        ))
                        .worker(name)
                        .pid(id.pid),
                    );
                }
                (true, "ok".to_string())
            }
            (Err(e), Some(b)) => {
                // Busy with a task: not an answer about hanging.
                self.log(
                    Note::info("the ready command failed but the worker is busy; not counted")
                        .worker(name)
                        .pid(id.pid)
                        .answer(escape(e)),
                );
                (false, format!("{e} (busy: {b}; not counted)"))
            }
            (Err(e), None) => {
                f.failures += 1;
                let n = f.failures;
                if n >= allowed {
                    let message = format!(
                        "worker {name} (pid {}) runs but did not answer its ready command {n} times in a row (last: {e}); restarting it",
                        id.pid
                    );
                    self.log(Note::error(message.clone()).worker(name).pid(id.pid));
                    self.alert("worker_unresponsive", Some(name), &message);
                    self.save_fitness(name, Some((now, false, e.clone())), None);
                    if let Some(w) = self.schedule.workers.iter().position(|x| x.name == name) {
                        self.launch(&[w], Why::Unresponsive);
                    }
                    return;
                }
                self.log(
                    Note::warn(format!(
                        "the worker did not answer its ready command ({n} of {allowed} failures in a row before it is restarted)"
                    ))
                    .worker(name)
                    .pid(id.pid)
                    .answer(escape(e)),
                );
                (false, e.clone())
            }
        };
        self.save_fitness(name, Some((now, ok, shown)), None);
    }

    /// The memory of `name`'s worker `id` was read: `bytes` for its whole tree (`None`: it
    /// could not be read, e.g. it exited).
    pub(super) fn memory_answer(
        &mut self,
        name: &str,
        id: Proc,
        bytes: Option<u64>,
        now: DateTime<Utc>,
    ) {
        let Some(w) = self.schedule.workers.iter().position(|x| x.name == name) else {
            return;
        };
        let Some(limit) = self.schedule.workers[w].max_memory.map(|m| m.bytes) else {
            return;
        };
        let in_flight = self.in_flight.contains(name);
        let Some(f) = self.fitness.get_mut(name).filter(|f| f.id == id) else {
            return;
        };
        f.memory_probing = false;
        let Some(bytes) = bytes.filter(|_| !in_flight) else {
            return;
        };
        self.save_fitness(
            name,
            None,
            Some(MemoryReading {
                at: now,
                bytes,
                limit,
            }),
        );
        if bytes <= limit {
            return;
        }
        let message = format!(
            "worker {name} (pid {}) uses {} of memory, above its max_memory of {}; restarting it gracefully",
            id.pid,
            show_bytes(bytes),
            show_bytes(limit)
        );
        self.log(Note::warn(message.clone()).worker(name).pid(id.pid));
        self.alert("memory_limit", Some(name), &message);
        if self.schedule.workers[w].busy.is_some() {
            // Busy-aware, like a planned restart: it waits while busy, at most the cap.
            let until = after(now, MEMORY_DEFER_MAX);
            self.log(
                Note::info(format!(
                    "asking whether it is busy first; the restart waits at most {}",
                    file_duration(MEMORY_DEFER_MAX)
                ))
                .worker(name),
            );
            self.defer_for(w, until, Why::Memory);
        } else {
            self.launch(&[w], Why::Memory);
        }
    }

    /// Records the last answers of `name`'s checks (each `None` keeps the one recorded), if
    /// they differ from what was recorded: another ok, the same failure with the same count,
    /// or memory within 5% of the limit of the last recorded reading is not written again.
    fn save_fitness(
        &mut self,
        name: &str,
        ready: Option<(DateTime<Utc>, bool, String)>,
        memory: Option<MemoryReading>,
    ) {
        let allowed = self
            .schedule
            .workers
            .iter()
            .find(|w| w.name == name)
            .and_then(|w| w.ready.as_ref())
            .map_or(0, |r| r.failures);
        let Some(f) = self.fitness.get_mut(name) else {
            return;
        };
        let ready = ready.filter(|(_, ok, answer)| {
            let now = (*ok, answer.clone(), f.failures);
            let changed = f.saved_ready.as_ref() != Some(&now);
            f.saved_ready = Some(now);
            changed
        });
        let memory = memory.filter(|m| {
            let changed = f
                .saved_memory
                .is_none_or(|b| b.abs_diff(m.bytes) >= m.limit / MEMORY_RECORD_STEP);
            if changed {
                f.saved_memory = Some(m.bytes);
            }
            changed
        });
        if ready.is_none() && memory.is_none() {
            return;
        }
        let (pid, failures) = (f.id.pid, f.failures);
        self.actions.push_back(Action::Save(Save::Fitness {
            worker: name.to_string(),
            pid,
            ready: ready.map(|(at, ok, answer)| ReadyAnswer {
                at,
                ok,
                answer,
                failures_in_a_row: failures,
                failures_allowed: allowed,
            }),
            memory,
        }));
    }
}
