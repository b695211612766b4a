//! Queries the daemon runs itself (`command:`): when each run starts, and `overlap` (a run
//! never overlaps the previous run of the same query: `skip` skips it, `wait` runs it when the
//! previous one ends). And readiness at the start of each query a restart served: every worker
//! it needs must be ready, or an alert says which is not and why.

use super::{Action, Note, QueryDone, Save, Warden, WorkerFacts};
use crate::core::config::{Overlap, Schedule};
use crate::core::plan::{restarts, Fire};
use chrono::{DateTime, TimeDelta, Utc};
use std::collections::{HashMap, HashSet};

/// A query whose workers must be ready when it begins.
struct QueryCheck {
    at: DateTime<Utc>,
    query: String,
    workers: Vec<String>,
}

pub(super) struct QueryRuns {
    /// Every query run at or before this instant has been started (or skipped).
    checked: DateTime<Utc>,
    /// Query runs in progress, by query name.
    running: HashSet<String>,
    /// Runs waiting for the previous run of the same query (`overlap: wait`).
    waiting: HashMap<String, Vec<(usize, DateTime<Utc>)>>,
    /// Queries served by restarts already run, to check at their start.
    checks: Vec<QueryCheck>,
}

/// The query runs (queries with `command:`) after `after`, in time order.
fn runs_after(schedule: &Schedule, after: DateTime<Utc>) -> impl Iterator<Item = Fire> + '_ {
    // A run belongs to a restart up to lead + merge window earlier.
    let back = TimeDelta::from_std(schedule.lead + schedule.merge_within).unwrap_or_default();
    restarts(schedule, after - back)
        .flat_map(|r| r.fires)
        .filter(move |f| f.at > after)
        .filter(|f| schedule.queries[f.query].run.is_some())
}

impl QueryRuns {
    pub(super) fn new(checked: DateTime<Utc>) -> QueryRuns {
        QueryRuns {
            checked,
            running: HashSet::new(),
            waiting: HashMap::new(),
            checks: Vec::new(),
        }
    }

    /// Check at `at` that `workers` are ready for `query`.
    pub(super) fn check_at(&mut self, at: DateTime<Utc>, query: &str, workers: &[String]) {
        self.checks.push(QueryCheck {
            at,
            query: query.to_string(),
            workers: workers.to_vec(),
        });
    }

    /// The next query start to check, or query run to start.
    pub(super) fn next_wake(&self, schedule: &Schedule) -> Option<DateTime<Utc>> {
        let run = if schedule.queries.iter().any(|q| q.run.is_some()) {
            runs_after(schedule, self.checked).next().map(|f| f.at)
        } else {
            None
        };
        self.checks.iter().map(|c| c.at).chain(run).min()
    }
}

impl Warden {
    /// Starts the query runs that came due.
    pub(super) fn run_due_queries(&mut self, now: DateTime<Utc>) {
        let q = &mut self.queries;
        if now <= q.checked || !self.schedule.queries.iter().any(|q| q.run.is_some()) {
            q.checked = q.checked.max(now);
            return;
        }
        let due: Vec<Fire> = runs_after(&self.schedule, q.checked)
            .take_while(|f| f.at <= now)
            .collect();
        q.checked = now;
        for fire in due {
            self.start_query(fire.query, fire.at, now);
        }
    }

    fn start_query(&mut self, index: usize, at: DateTime<Utc>, now: DateTime<Utc>) {
        let query = &self.schedule.queries[index];
        let name = query.name.clone();
        if self.dry_run {
            // What the run would pass: placeholders expanded for its planned instant.
            let command = format!(
                "{:?}",
                query
                    .run
                    .as_ref()
                    .map(|r| r.argv_at(at, self.schedule.timezone))
            );
            self.log(
                Note::info("dry run: would run the query now")
                    .query(&name)
                    .command(command),
            );
            return;
        }
        if self.queries.running.contains(&name) {
            match query.run.as_ref().map(|r| r.overlap) {
                Some(Overlap::Wait) => {
                    self.log(
                        Note::info("the previous run is still going; this one waits for it (overlap: wait)")
                            .query(&name),
                    );
                    self.queries
                        .waiting
                        .entry(name)
                        .or_default()
                        .push((index, at));
                }
                _ => {
                    self.log(
                        Note::warn(
                            "the previous run is still going; this run is skipped (overlap: skip)",
                        )
                        .query(&name),
                    );
                    self.actions.push_back(Action::Save(Save::QuerySkipped {
                        query: name,
                        scheduled_at: at,
                        at: now,
                    }));
                }
            }
            return;
        }
        self.queries.running.insert(name.clone());
        self.actions.push_back(Action::RunQuery {
            query: index,
            name,
            at,
        });
    }

    pub(super) fn query_finished(&mut self, name: &str, done: QueryDone, now: DateTime<Utc>) {
        self.queries.running.remove(name);
        if done.not_run {
            self.alert(
                "query_not_run",
                None,
                &format!("query {name}: {}", done.summary),
            );
        } else if !done.ok {
            self.alert(
                "query_failed",
                None,
                &format!("query {name}: {}", done.summary),
            );
        }
        let next = self.queries.waiting.get_mut(name).and_then(|w| {
            if w.is_empty() {
                None
            } else {
                Some(w.remove(0))
            }
        });
        if let Some((index, at)) = next {
            // The schedule may have been edited meanwhile: run it only if it is still there.
            if self
                .schedule
                .queries
                .get(index)
                .is_some_and(|q| q.name == name)
            {
                self.start_query(index, at, now);
            }
        }
    }

    /// Asks the shell about the workers of each served query that begins.
    pub(super) fn check_queries(&mut self, now: DateTime<Utc>) {
        let (due, later): (Vec<QueryCheck>, Vec<QueryCheck>) =
            self.queries.checks.drain(..).partition(|c| c.at <= now);
        self.queries.checks = later;
        for check in due {
            self.actions.push_back(Action::CheckReady {
                query: check.query,
                workers: check.workers,
            });
        }
    }

    /// At a served query's start: alert for each of its workers that is not ready (its last
    /// restart failed or is still running, or its process is gone, or it runs but is not
    /// ready).
    pub(super) fn readiness(&mut self, query: &str, facts: Vec<WorkerFacts>) {
        for f in facts {
            let name = f.worker.as_str();
            let not_ready = self.not_ready_answer(name).map(str::to_string);
            let restarting = self.in_flight.contains(name);
            if f.last_ok && f.alive && !restarting && not_ready.is_none() {
                continue;
            }
            let message = format!(
                "query {query} is starting but worker {name} is not ready ({})",
                match not_ready {
                    _ if restarting => "its restart is still running".to_string(),
                    _ if !f.alive => "it is not running".to_string(),
                    Some(answer) => format!("it runs, but its ready command fails: {answer}"),
                    None => "its last restart failed".to_string(),
                }
            );
            self.log(Note::error(message.clone()).worker(name).query(query));
            self.alert("not_ready_at_query", Some(name), &message);
        }
    }
}
