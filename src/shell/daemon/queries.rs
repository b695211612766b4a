//! Queries the daemon runs itself (`command:`) and the readiness check at each served query's
//! start.

use super::Daemon;
use crate::sys::process;
use chrono::{DateTime, TimeDelta, Utc};
use std::sync::Arc;
use tracing::{error, info, warn};

/// A query whose workers must be ready when it begins.
pub(super) struct QueryCheck {
    pub(super) at: DateTime<Utc>,
    pub(super) query: String,
    pub(super) workers: Vec<String>,
}

impl Daemon {
    /// The query runs (queries with `command:`) after `queries_checked`, in time order.
    pub(super) fn query_runs_after(
        &self,
        after: DateTime<Utc>,
    ) -> impl Iterator<Item = crate::core::plan::Fire> + '_ {
        // A run belongs to a restart up to lead + merge window earlier.
        let back = TimeDelta::from_std(self.schedule.lead + self.schedule.merge_within)
            .unwrap_or_default();
        crate::core::plan::restarts(&self.schedule, after - back)
            .flat_map(|r| r.fires)
            .filter(move |f| f.at > after)
            .filter(|f| self.schedule.queries[f.query].run.is_some())
    }

    pub(super) fn next_query_run(&self) -> Option<DateTime<Utc>> {
        if !self.schedule.queries.iter().any(|q| q.run.is_some()) {
            return None;
        }
        self.query_runs_after(self.queries_checked)
            .next()
            .map(|f| f.at)
    }

    /// Starts the query runs that came due.
    pub(super) fn run_due_queries(&mut self, now: DateTime<Utc>) {
        if now <= self.queries_checked || !self.schedule.queries.iter().any(|q| q.run.is_some()) {
            self.queries_checked = self.queries_checked.max(now);
            return;
        }
        let due: Vec<crate::core::plan::Fire> = self
            .query_runs_after(self.queries_checked)
            .take_while(|f| f.at <= now)
            .collect();
        self.queries_checked = now;
        for fire in due {
            self.start_query(fire.query, fire.at);
        }
    }

    pub(super) fn start_query(&mut self, index: usize, at: DateTime<Utc>) {
        let query = &self.schedule.queries[index];
        let name = query.name.clone();
        if self.dry_run {
            info!(query = %name, command = ?query.run.as_ref().map(|r| &r.command), "dry run: would run the query now");
            return;
        }
        if self.queries_running.contains(&name) {
            match query.run.as_ref().map(|r| r.overlap) {
                Some(crate::core::config::Overlap::Wait) => {
                    info!(query = %name, "the previous run is still going; this one waits for it (overlap: wait)");
                    self.queries_waiting
                        .entry(name)
                        .or_default()
                        .push((index, at));
                }
                _ => {
                    warn!(query = %name, "the previous run is still going; this run is skipped (overlap: skip)");
                    let record = crate::shell::query_run::QueryRecord {
                        scheduled_at: at,
                        started_at: None,
                        finished_at: self.clock.now(),
                        outcome: "skipped".into(),
                        exit_code: None,
                        duration_seconds: 0.0,
                        summary: "skipped: the previous run was still going".into(),
                    };
                    self.save_query(&name, &record);
                }
            }
            return;
        }
        self.queries_running.insert(name.clone());
        let schedule = Arc::clone(&self.schedule);
        let clock = Arc::clone(&self.clock);
        self.query_runs.spawn(async move {
            let record = crate::shell::query_run::run(schedule, index, at, clock).await;
            (name, record)
        });
    }

    pub(super) fn query_finished(
        &mut self,
        name: String,
        record: crate::shell::query_run::QueryRecord,
    ) {
        self.queries_running.remove(&name);
        if record.outcome == "not run" {
            self.alert(
                "query_not_run",
                None,
                &format!("query {name}: {}", record.summary),
            );
        } else if !record.ok() {
            self.alert(
                "query_failed",
                None,
                &format!("query {name}: {}", record.summary),
            );
        }
        self.save_query(&name, &record);
        let next = self.queries_waiting.get_mut(&name).and_then(|w| {
            if w.is_empty() {
                None
            } else {
                Some(w.remove(0))
            }
        });
        if let Some((index, at)) = next {
            self.start_query(index, at);
        }
    }

    pub(super) fn save_query(&self, name: &str, record: &crate::shell::query_run::QueryRecord) {
        if let Err(e) = self.store().update(|s| {
            s.queries.insert(name.to_string(), record.clone());
        }) {
            warn!(error = %e, "cannot record the query run");
        }
    }

    /// At a served query's start: alert for each of its workers that is not ready (its last
    /// restart failed or is still running, or its process is gone).
    pub(super) fn check_queries(&mut self, now: DateTime<Utc>) {
        let (due, later): (Vec<QueryCheck>, Vec<QueryCheck>) =
            self.query_checks.drain(..).partition(|c| c.at <= now);
        self.query_checks = later;
        if due.is_empty() {
            return;
        }
        let state = self.store().read();
        for check in due {
            for name in &check.workers {
                let saved = state.workers.get(name);
                let not_ready = self.not_ready_answer(name);
                let ok = saved.and_then(|w| w.last.as_ref()).is_some_and(|l| l.ok);
                let alive = saved
                    .and_then(|w| w.started)
                    .is_some_and(process::is_running);
                let restarting = self.in_flight.contains(name);
                if ok && alive && !restarting && not_ready.is_none() {
                    continue;
                }
                let message = format!(
                    "query {} is starting but worker {name} is not ready ({})",
                    check.query,
                    match not_ready {
                        _ if restarting => "its restart is still running".to_string(),
                        _ if !alive => "it is not running".to_string(),
                        Some(answer) => format!("it runs, but its ready command fails: {answer}"),
                        None => "its last restart failed".to_string(),
                    }
                );
                error!(worker = %name, query = %check.query, "{message}");
                self.alert("not_ready_at_query", Some(name), &message);
            }
        }
    }
}
