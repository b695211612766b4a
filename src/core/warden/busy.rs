//! Busy-aware planned restarts: ask a worker whether it is working before restarting it, and
//! defer the restart (up to its query's start) while it is. A memory restart (`fitness`) waits
//! the same way, up to its own cap.

use super::{Action, Note, Save, Waiting, Warden, Why};
use crate::core::report::file_duration;
use crate::core::text::escape;
use chrono::{DateTime, TimeDelta, Utc};
use std::collections::HashMap;
use std::time::Duration;

/// A planned restart deferred because its worker was busy.
struct Deferred {
    /// Its first query's start: restart then even if still busy.
    until: DateTime<Utc>,
    /// When to ask again (`None` while a probe is running).
    next_probe: Option<DateTime<Utc>>,
    /// Planned, or a memory restart.
    why: Why,
    /// A busy answer deferred it already (it is recorded, and counted once).
    saved: bool,
}

/// The deferred restarts, by worker name.
#[derive(Default)]
pub(super) struct Deferrals(HashMap<String, Deferred>);

impl Deferrals {
    pub(super) fn next_probe(&self) -> Option<DateTime<Utc>> {
        self.0.values().filter_map(|d| d.next_probe).min()
    }

    /// The clock was stepped back by `by`: the pauses before the next questions move back with
    /// it (a deferral's limit, its query's start, is a wall-clock time and stays).
    pub(super) fn shift_back(&mut self, by: TimeDelta) {
        for d in self.0.values_mut() {
            if let Some(t) = d.next_probe.as_mut() {
                *t -= by;
            }
        }
    }

    /// A restart of `name` waits for it to become idle.
    pub(super) fn contains(&self, name: &str) -> bool {
        self.0.contains_key(name)
    }
}

impl Warden {
    /// Worker `w` is due for a planned restart whose first query begins at `first_query`:
    /// ask it first whether it is busy.
    pub(super) fn defer(&mut self, w: usize, first_query: DateTime<Utc>) {
        self.defer_for(w, first_query, Why::Planned);
    }

    /// Worker `w` is due for a restart (`why`) that may wait until `until` at the latest: ask
    /// it first whether it is busy. A planned restart takes over a waiting memory restart.
    pub(super) fn defer_for(&mut self, w: usize, until: DateTime<Utc>, why: Why) {
        let name = self.schedule.workers[w].name.clone();
        let (until, why, saved) = match self.deferrals.0.get(&name) {
            Some(d) => (
                d.until.min(until),
                if d.why == Why::Planned { d.why } else { why },
                d.saved,
            ),
            None => (until, why, false),
        };
        self.deferrals.0.insert(
            name.clone(),
            Deferred {
                until,
                next_probe: None,
                why,
                saved,
            },
        );
        self.actions
            .push_back(Action::ProbeBusy { worker: w, name });
    }

    /// Asks again the busy workers whose pause is over.
    pub(super) fn busy_probes_due(&mut self, now: DateTime<Utc>) {
        let mut due: Vec<String> = self
            .deferrals
            .0
            .iter()
            .filter(|(_, d)| d.next_probe.is_some_and(|t| t <= now))
            .map(|(n, _)| n.clone())
            .collect();
        due.sort();
        for name in due {
            if let Some(d) = self.deferrals.0.get_mut(&name) {
                d.next_probe = None;
            }
            if let Some(w) = self.schedule.workers.iter().position(|x| x.name == name) {
                self.actions
                    .push_back(Action::ProbeBusy { worker: w, name });
            }
        }
    }

    /// After an accepted edit: a deferral whose worker is gone is dropped; one whose worker no
    /// longer has a `busy` check is over, and the deferred restart runs now (it was due).
    /// Either way its record goes, so `status` and `health` do not show it for ever.
    pub(super) fn deferrals_after_edit(&mut self, now: DateTime<Utc>) {
        let mut names: Vec<String> = self.deferrals.0.keys().cloned().collect();
        names.sort();
        for name in names {
            let worker = self.schedule.workers.iter().position(|x| x.name == name);
            if worker.is_some_and(|w| self.schedule.workers[w].busy.is_some()) {
                continue;
            }
            self.deferrals.0.remove(&name);
            self.actions.push_back(Action::Save(Save::Deferral {
                worker: name.clone(),
                deferral: None,
                at: now,
            }));
            if let Some(w) = worker {
                self.log(
                    Note::info(
                        "the edit removed the worker's busy check; its deferred restart runs now",
                    )
                    .worker(&name),
                );
                self.launch(&[w], Why::Planned);
            }
        }
    }

    /// A busy probe answered.
    pub(super) fn busy_answer(&mut self, name: &str, busy: bool, why: String, now: DateTime<Utc>) {
        let Some(w) = self.schedule.workers.iter().position(|x| x.name == name) else {
            self.deferrals.0.remove(name);
            return;
        };
        let Some(deferred) = self.deferrals.0.get_mut(name) else {
            return;
        };
        if !busy {
            self.log(
                Note::info("worker is idle; restarting it now")
                    .worker(name)
                    .answer(escape(&why)),
            );
        } else if now >= deferred.until && deferred.why == Why::Memory {
            self.log(Note::warn("still busy, and its memory restart has waited its longest: restarting anyway; the stop is graceful (the worker gets `grace` to finish)").worker(name).answer(escape(&why)));
        } else if now >= deferred.until {
            self.log(Note::warn("still busy, and its query begins now: restarting anyway; the stop is graceful (the worker gets `grace` to finish)").worker(name).answer(escape(&why)));
        } else {
            let every = self.schedule.workers[w]
                .busy
                .as_ref()
                .map_or(Duration::from_secs(30), |b| b.every);
            let until = (deferred.until - now).to_std().unwrap_or_default();
            let wait = every.min(until);
            deferred.next_probe = Some(now + TimeDelta::from_std(wait).unwrap_or(TimeDelta::MAX));
            let waiting = Waiting {
                until: deferred.until,
                answer: why.clone(),
                memory: deferred.why == Why::Memory,
                first: !deferred.saved,
            };
            deferred.saved = true;
            self.log(
                Note::info(format!(
                    "worker is busy; restart deferred, asking again in {}",
                    file_duration(Duration::from_secs(wait.as_secs().max(1)))
                ))
                .worker(name)
                .answer(escape(&why)),
            );
            self.actions.push_back(Action::Save(Save::Deferral {
                worker: name.to_string(),
                deferral: Some(waiting),
                at: now,
            }));
            return;
        }
        let why = self
            .deferrals
            .0
            .remove(name)
            .map_or(Why::Planned, |d| d.why);
        self.actions.push_back(Action::Save(Save::Deferral {
            worker: name.to_string(),
            deferral: None,
            at: now,
        }));
        self.launch(&[w], why);
    }
}
