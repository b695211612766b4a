//! Crash supervision: watch each started worker process, start it again after a crash or a
//! failed start with exponential backoff, give up (loudly) after too many failures.

use super::Daemon;
use crate::process::ProcId;
use chrono::{DateTime, Utc};
use std::time::Duration;
use tracing::{error, warn};

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
        let owned = name.to_string();
        let handle = self.watchers.spawn(async move {
            crate::os::wait_exit(id).await;
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
            return;
        }
        warn!(worker = %name, pid = id.pid, "the worker exited unexpectedly (crash)");
        self.supervision
            .entry(name.to_string())
            .or_default()
            .last_crash = Some(self.clock.now());
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
            crate::report::file_duration(backoff)
        );
    }

    pub(super) fn next_retry(&self) -> Option<tokio::time::Instant> {
        self.supervision.values().filter_map(|s| s.retry_at).min()
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
    }

    /// Records a worker's supervision state for `status`.
    pub(super) fn save_supervision(&self, name: &str) {
        let Some(sup) = self.supervision.get(name) else {
            return;
        };
        let record = crate::state::SupervisionRecord {
            restarts: sup.restarts,
            failures_in_a_row: sup.failures,
            backoff_seconds: sup.backoff.as_secs(),
            last_crash: sup.last_crash,
            gave_up: sup.gave_up,
        };
        if let Err(e) = self.store().update(|s| {
            s.workers.entry(name.to_string()).or_default().supervision = Some(record);
        }) {
            warn!(error = %e, "cannot record supervision state");
        }
    }
}
