//! Busy-aware planned restarts: ask a worker whether it is working before restarting it, and
//! defer the restart (up to its query's start) while it is.

use super::Daemon;
use crate::shell::sequence;
use chrono::{DateTime, Utc};
use std::sync::Arc;
use std::time::Duration;
use tracing::{info, warn};

/// A planned restart deferred because its worker was busy.
pub(super) struct Deferred {
    /// Its first query's start: restart then even if still busy.
    pub(super) until: DateTime<Utc>,
    /// When to ask again (`None` while a probe is running).
    pub(super) next_probe: Option<tokio::time::Instant>,
}

impl Daemon {
    /// Asks (in the background) whether worker `w` is busy.
    pub(super) fn probe(&mut self, w: usize) {
        let schedule = Arc::clone(&self.schedule);
        self.probes.spawn(async move {
            let answer = sequence::is_busy(&schedule, &schedule.workers[w]).await;
            let name = schedule.workers[w].name.clone();
            let (busy, why) = answer.unwrap_or((false, "no busy probe".into()));
            (name, busy, why)
        });
    }

    /// A busy probe answered.
    pub(super) fn probed(&mut self, name: String, busy: bool, why: String) {
        let Some(w) = self.schedule.workers.iter().position(|x| x.name == name) else {
            self.deferred.remove(&name);
            return;
        };
        let Some(deferred) = self.deferred.get_mut(&name) else {
            return;
        };
        let now = self.clock.now();
        if !busy {
            info!(worker = %name, answer = %crate::core::text::escape(&why), "worker is idle; restarting it now");
        } else if now >= deferred.until {
            warn!(worker = %name, answer = %crate::core::text::escape(&why), "still busy, and its query begins now: restarting anyway; the stop is graceful (the worker gets `grace` to finish)");
        } else {
            let every = self.schedule.workers[w]
                .busy
                .as_ref()
                .map_or(Duration::from_secs(30), |b| b.every);
            let until = (deferred.until - now).to_std().unwrap_or_default();
            let wait = every.min(until);
            deferred.next_probe = Some(tokio::time::Instant::now() + wait);
            info!(worker = %name, answer = %crate::core::text::escape(&why), "worker is busy; restart deferred, asking again in {}", crate::core::report::file_duration(Duration::from_secs(wait.as_secs().max(1))));
            let until = deferred.until;
            self.save_deferral(&name, Some((until, why)));
            return;
        }
        self.deferred.remove(&name);
        self.save_deferral(&name, None);
        self.launch(&[w], "planned");
    }

    pub(super) fn next_probe(&self) -> Option<tokio::time::Instant> {
        self.deferred.values().filter_map(|d| d.next_probe).min()
    }

    pub(super) fn probe_due(&mut self) {
        let now = tokio::time::Instant::now();
        let due: Vec<String> = self
            .deferred
            .iter()
            .filter(|(_, d)| d.next_probe.is_some_and(|t| t <= now))
            .map(|(n, _)| n.clone())
            .collect();
        for name in due {
            if let Some(d) = self.deferred.get_mut(&name) {
                d.next_probe = None;
            }
            if let Some(w) = self.schedule.workers.iter().position(|x| x.name == name) {
                self.probe(w);
            }
        }
    }

    /// Records (or clears) a worker's deferred restart for `status`.
    pub(super) fn save_deferral(&self, name: &str, deferral: Option<(DateTime<Utc>, String)>) {
        let now = self.clock.now();
        if let Err(e) = self.store().update(|s| {
            let w = s.workers.entry(name.to_string()).or_default();
            w.deferred = deferral.map(|(until, answer)| crate::shell::state::DeferralRecord {
                since: w.deferred.as_ref().map_or(now, |d| d.since),
                deferrals: w.deferred.as_ref().map_or(1, |d| d.deferrals + 1),
                until,
                answer,
            });
        }) {
            warn!(error = %e, "cannot record the deferral");
        }
    }
}
