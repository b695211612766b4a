//! Planned restarts on time: the next restart's sequences are prepared shortly before its
//! instant, so that at the instant the stop requests go out first.
//!
//! Owns: when to prepare (`PREPARE` ahead), the prepared sequences until they are used, and
//! the rule for sending their stop requests early. Finding a worker means reading every process
//! on the machine, which takes tens of milliseconds on a busy one; `sequence::prepare` does it
//! (and takes the worker's lock, and reads the state) before the instant, and
//! `Prepared::dispatch` only re-checks the processes found and starts the stop command. The
//! sequence itself (`crate::shell::sequence`) then scans again for processes started in between.

use super::{Daemon, ON_TIME};
use crate::core::config::Schedule;
use crate::core::plan::Restart;
use crate::shell::sequence::{self, Dispatched, Prepared};
use crate::shell::state::Store;
use chrono::{DateTime, TimeDelta, Utc};
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::oneshot;

/// How long before a planned restart its sequences are prepared.
pub(super) const PREPARE: TimeDelta = TimeDelta::seconds(1);
/// How long before a prepared restart the loop wakes, to wait out the rest on the CPU: a
/// sleeping thread takes up to a few milliseconds to run again once its timer fires (more on
/// a virtual or busy machine). Costs at most this much CPU time per planned restart.
const SPIN: TimeDelta = TimeDelta::milliseconds(3);

/// The prepared sequences of one planned restart.
pub(super) struct Preparation {
    /// The restart's instant.
    at: DateTime<Utc>,
    /// The schedule it was prepared from: a reload makes it void.
    schedule: Arc<Schedule>,
    /// By worker name: its index in `schedule` and the sequence's first step.
    workers: HashMap<String, (usize, Early)>,
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

impl Daemon {
    /// Prepares `next`'s sequences once it is at most `PREPARE` ahead of `now`. Returns when
    /// the loop must wake for it: the instant to prepare, or the restart's own.
    pub(super) fn prepare(&mut self, next: &Restart, now: DateTime<Utc>) -> DateTime<Utc> {
        if self.dry_run {
            return next.at;
        }
        if self.is_prepared(next.at) {
            return self.wake_for_dispatch();
        }
        if now < next.at - PREPARE {
            return next.at - PREPARE;
        }
        let mut workers = HashMap::new();
        for w in next.workers(&self.schedule) {
            let worker = &self.schedule.workers[w];
            // A busy-aware worker is asked first; a running sequence takes the restart in.
            if worker.busy.is_some() || self.in_flight.contains(&worker.name) {
                continue;
            }
            let (tx, rx) = oneshot::channel();
            let schedule = Arc::clone(&self.schedule);
            let store = self.store().clone();
            tokio::spawn(async move {
                let prepared = sequence::prepare(&schedule, &schedule.workers[w], &store).await;
                // If nobody waits any more, dropping it releases the lock.
                let _ = tx.send(prepared);
            });
            workers.insert(worker.name.clone(), (w, Early::Prepared(rx)));
        }
        self.preparation = Some(Preparation {
            at: next.at,
            schedule: Arc::clone(&self.schedule),
            workers,
        });
        self.wake_for_dispatch()
    }

    /// When to wake for the prepared restart: `SPIN` ahead if it has stop requests to send.
    fn wake_for_dispatch(&self) -> DateTime<Utc> {
        let p = self.preparation.as_ref().expect("prepared");
        if p.workers.is_empty() {
            p.at
        } else {
            p.at - SPIN
        }
    }

    fn is_prepared(&self, at: DateTime<Utc>) -> bool {
        self.preparation
            .as_ref()
            .is_some_and(|p| p.at == at && Arc::ptr_eq(&p.schedule, &self.schedule))
    }

    /// First thing when the loop wakes: if the prepared restart is due (or `SPIN` away: then
    /// after waiting for it), sends the stop requests of the sequences that are ready, before
    /// anything else is computed or logged. Only an on-time restart (at most `ON_TIME` late)
    /// qualifies: a later one may have to be skipped. Returns the time now.
    pub(super) fn dispatch_due(&mut self, mut now: DateTime<Utc>) -> DateTime<Utc> {
        let Some(p) = &mut self.preparation else {
            return now;
        };
        if !Arc::ptr_eq(&p.schedule, &self.schedule) {
            self.preparation = None;
            return now;
        }
        if now < p.at && p.at - now <= SPIN && !p.workers.is_empty() {
            // Bounded by the monotonic clock too, should the wall clock stand still.
            let give_up = std::time::Instant::now() + SPIN.to_std().unwrap_or_default() * 2;
            while now < p.at && std::time::Instant::now() < give_up {
                std::hint::spin_loop();
                now = self.clock.now();
            }
        }
        if now < p.at || now - p.at > ON_TIME {
            return now;
        }
        let store = self.store.as_ref().expect("set at start");
        let mut sent = false;
        for (index, early) in p.workers.values_mut() {
            let Early::Prepared(rx) = early else {
                continue;
            };
            match rx.try_recv() {
                Ok(Some(prepared)) => {
                    *early = Early::Dispatched(Box::new(prepared.dispatch(
                        &p.schedule,
                        &p.schedule.workers[*index],
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

    /// The first step prepared for `worker`, if any; `launch` hands it to the sequence.
    pub(super) fn take_early(&mut self, worker: &str) -> Option<(usize, Early)> {
        let p = self.preparation.as_mut()?;
        if !Arc::ptr_eq(&p.schedule, &self.schedule) {
            return None;
        }
        p.workers.remove(worker)
    }

    /// Once the prepared restart has been decided (run, merged or skipped): sequences whose
    /// stop request went out are run in any case; the other preparations are dropped, which
    /// releases their locks.
    pub(super) fn end_preparation(&mut self, checked: DateTime<Utc>) {
        let Some(p) = &self.preparation else {
            return;
        };
        if p.at > checked && Arc::ptr_eq(&p.schedule, &self.schedule) {
            return;
        }
        let asked: Vec<usize> = p
            .workers
            .values()
            .filter(|(_, early)| matches!(early, Early::Dispatched(_)))
            .map(|(index, _)| *index)
            .collect();
        if !asked.is_empty() {
            self.launch(&asked, "planned");
        }
        self.preparation = None;
    }
}
