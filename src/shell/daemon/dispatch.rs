//! Planned restarts on time: the next restart's sequences are prepared shortly before its
//! instant, so that at the instant the stop requests go out first.
//!
//! Owns: the prepared sequences until they are used, and sending their stop requests at the
//! instant. When to prepare is the core's decision (`Action::Prepare`, `core::warden::PREPARE`
//! ahead); so is what happens once the restart is decided (`Action::EndPreparation`). Finding
//! a worker means reading every process on the machine, which takes tens of milliseconds on a
//! busy one; `sequence::prepare` does it (and takes the worker's lock, and reads the state)
//! before the instant, and `Prepared::dispatch` only re-checks the processes found and starts
//! the stop command. The sequence itself (`crate::shell::sequence`) then scans again for
//! processes started in between.

use crate::core::config::Schedule;
use crate::core::timeline::ON_TIME;
use crate::shell::sequence::{self, Dispatched, Prepared};
use crate::shell::state::Store;
use crate::sys::clock::Clock;
use chrono::{DateTime, TimeDelta, Utc};
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::oneshot;

/// How long before a prepared restart the loop wakes, to wait out the rest on the CPU: a
/// sleeping thread takes up to a few milliseconds to run again once its timer fires (more on
/// a virtual or busy machine). Costs at most this much CPU time per planned restart.
const SPIN: TimeDelta = TimeDelta::milliseconds(3);

/// The prepared sequences of one planned restart.
pub(super) struct Preparation {
    /// The restart's instant.
    at: DateTime<Utc>,
    /// The schedule it was prepared from (an accepted edit drops the preparation).
    schedule: Arc<Schedule>,
    /// By worker name: its index in `schedule` and the sequence's first step.
    workers: HashMap<String, (usize, Early)>,
    /// The restart has been decided: only the dispatched sequences are left, for the
    /// sequences the core starts next.
    ended: bool,
}

/// A sequence's first step, done ahead of time.
pub(super) enum Early {
    /// Being prepared (or ready): `None` if it could not be (the sequence then runs unprepared).
    Prepared(oneshot::Receiver<Option<Prepared>>),
    /// Its stop request has gone out.
    Dispatched(Box<Dispatched>),
}

impl Early {
    /// The sequence's start: dispatched now if it was only prepared; `None` to run unprepared.
    pub(super) async fn dispatch(
        self,
        schedule: &Schedule,
        index: usize,
        store: &Store,
    ) -> Option<Dispatched> {
        match self {
            Early::Dispatched(d) => Some(*d),
            Early::Prepared(rx) => {
                let prepared = rx.await.ok().flatten()?;
                Some(prepared.dispatch(schedule, &schedule.workers[index], store))
            }
        }
    }
}

impl Preparation {
    /// Starts preparing the sequences of `workers` (indexes into `schedule`) for the restart
    /// at `at`.
    pub(super) fn start(
        at: DateTime<Utc>,
        schedule: &Arc<Schedule>,
        workers: &[usize],
        store: &Store,
    ) -> Preparation {
        let mut prepared = HashMap::new();
        for &w in workers {
            let (tx, rx) = oneshot::channel();
            let name = schedule.workers[w].name.clone();
            let schedule = Arc::clone(schedule);
            let store = store.clone();
            tokio::spawn(async move {
                let prepared = sequence::prepare(&schedule, &schedule.workers[w], &store).await;
                // If nobody waits any more, dropping it releases the lock.
                let _ = tx.send(prepared);
            });
            prepared.insert(name, (w, Early::Prepared(rx)));
        }
        Preparation {
            at,
            schedule: Arc::clone(schedule),
            workers: prepared,
            ended: false,
        }
    }

    /// When to wake for it: `SPIN` ahead if it has stop requests to send.
    pub(super) fn wake(&self) -> Option<DateTime<Utc>> {
        if self.ended {
            None
        } else if self.workers.is_empty() {
            Some(self.at)
        } else {
            Some(self.at - SPIN)
        }
    }

    /// First thing when the loop wakes: if the prepared restart is due (or `SPIN` away: then
    /// after waiting for it), sends the stop requests of the sequences that are ready, before
    /// anything else is computed or logged. Only an on-time restart (at most `ON_TIME` late)
    /// qualifies: a later one may have to be skipped. Returns the time now.
    pub(super) fn dispatch_due(
        &mut self,
        mut now: DateTime<Utc>,
        clock: &dyn Clock,
        store: &Store,
    ) -> DateTime<Utc> {
        if self.ended {
            return now;
        }
        if now < self.at && self.at - now <= SPIN && !self.workers.is_empty() {
            // Bounded by the monotonic clock too, should the wall clock stand still.
            let give_up = std::time::Instant::now() + SPIN.to_std().unwrap_or_default() * 2;
            while now < self.at && std::time::Instant::now() < give_up {
                std::hint::spin_loop();
                now = clock.now();
            }
        }
        if now < self.at || now - self.at > ON_TIME {
            return now;
        }
        let mut sent = false;
        for (index, early) in self.workers.values_mut() {
            let Early::Prepared(rx) = early else {
                continue;
            };
            match rx.try_recv() {
                Ok(Some(prepared)) => {
                    *early = Early::Dispatched(Box::new(prepared.dispatch(
                        &self.schedule,
                        &self.schedule.workers[*index],
                        store,
                    )));
                    sent = true;
                }
                // Not prepared (another sequence holds the lock): it runs unprepared.
                Ok(None) | Err(oneshot::error::TryRecvError::Closed) => {}
                // Still scanning: the sequence waits for it.
                Err(oneshot::error::TryRecvError::Empty) => {}
            }
        }
        if sent {
            // Let the stop commands run before the loop's own work (planning, logging): a
            // new process often waits for the CPU its parent is on.
            std::thread::yield_now();
        }
        now
    }

    /// The first step prepared for `worker`, if any; the sequence goes on from it.
    pub(super) fn take(&mut self, worker: &str) -> Option<Early> {
        self.workers.remove(worker).map(|(_, early)| early)
    }

    /// The restart has been decided: drops the preparations whose stop request has not gone
    /// out (releasing their locks) and returns the workers whose request has (their
    /// sequences must run in any case).
    pub(super) fn end(&mut self) -> Vec<String> {
        self.ended = true;
        self.workers
            .retain(|_, (_, early)| matches!(early, Early::Dispatched(_)));
        let mut names: Vec<String> = self.workers.keys().cloned().collect();
        names.sort();
        names
    }

    pub(super) fn ended(&self) -> bool {
        self.ended
    }
}
