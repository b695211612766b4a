//! Queries the daemon runs itself (`command:`): when each run starts, and `overlap` (a run
//! never overlaps the previous run of the same query: `skip` skips it, `wait` runs it when the
//! previous one ends, unless the daemon stops first: then it is not run, logged). Missed runs (`catch_up:`): at start, runs planned after the last
//! recorded one (and that one, if the previous daemon left it waiting for its workers: caught
//! up, or else said not run), and after a jump of the clock, runs more than `ON_TIME` late;
//! the most recent one less than `catch_up` ago runs once, when no restart of its workers is
//! running, and the older ones are skipped (logged). A run's readiness rule (`ready_wait`): a
//! run that is due starts only once every worker it needs is ready (no restart running or put
//! off while it is busy, the last one succeeded, its process runs); it waits for that at most
//! `ready_wait` (looking again at the end of each of their restarts, at a not-ready worker's
//! ready answer, and every `QUERY_READY_POLL`), then it is not run (`query_not_run`). And
//! readiness at the start of each query a restart served: every worker it needs must be
//! ready, or an alert says which is not and why.

use super::{after, Action, LastRun, Note, QueryDone, Save, Warden, WorkerFacts};
use crate::core::config::{Overlap, Schedule};
use crate::core::plan::{restarts, Fire};
use crate::core::timeline::ON_TIME;
use chrono::{DateTime, TimeDelta, Utc};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

/// How often the workers of a run waiting for them are asked about again (the end of one of
/// their restarts and a not-ready worker's ready answer ask at once).
const QUERY_READY_POLL: TimeDelta = TimeDelta::seconds(1);

/// A due run waiting for its workers to be ready (`ready_wait`).
struct ReadyWait {
    /// Its planned instant (the dates of its command are this instant's).
    at: DateTime<Utc>,
    catch_up: bool,
    /// When the wait began, and when it ends: not run then.
    since: DateTime<Utc>,
    until: DateTime<Utc>,
    ready_wait: Duration,
    /// When to look again; `None`: asked (`Action::CheckQueryReady`), the answer is awaited.
    next_look: Option<DateTime<Utc>>,
}

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
    /// Runs waiting for the previous run of the same query (`overlap: wait`): index, planned
    /// instant, whether it is a catch-up.
    waiting: HashMap<String, Vec<(usize, DateTime<Utc>, bool)>>,
    /// Missed runs to catch up (query name, planned instant), once no restart of the query's
    /// workers is running.
    catch_ups: Vec<(String, DateTime<Utc>)>,
    /// Queries served by restarts already run, to check at their start.
    checks: Vec<QueryCheck>,
    /// Due runs waiting for their workers, by query name (one run of a query at a time).
    readying: BTreeMap<String, ReadyWait>,
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

/// The planned runs of query `index` in `(after, until]`, in time order.
fn runs_of(
    schedule: &Schedule,
    index: usize,
    after: DateTime<Utc>,
    until: DateTime<Utc>,
) -> impl Iterator<Item = DateTime<Utc>> + '_ {
    let back = TimeDelta::from_std(schedule.lead + schedule.merge_within).unwrap_or_default();
    // A restart is never after the runs it serves.
    restarts(schedule, after - back)
        .take_while(move |r| r.at <= until)
        .flat_map(|r| r.fires)
        .filter(move |f| f.query == index && f.at > after && f.at <= until)
        .map(|f| f.at)
}

/// Missed runs of one query: the one to catch up, and the older ones skipped.
#[derive(Default)]
struct Missed {
    catch_up: Option<DateTime<Utc>>,
    /// How many are skipped, the first and the last of them.
    skipped: usize,
    first: Option<DateTime<Utc>>,
    last: Option<DateTime<Utc>>,
}

impl Missed {
    /// Sorts `runs` (time order) by the `catch_up` window ending at `now`.
    fn sort(
        runs: impl Iterator<Item = DateTime<Utc>>,
        window: TimeDelta,
        now: DateTime<Utc>,
    ) -> Missed {
        let mut m = Missed::default();
        for at in runs {
            if let Some(older) = m.catch_up.take() {
                m.skip(older);
            }
            if now - at < window {
                m.catch_up = Some(at);
            } else {
                m.skip(at);
            }
        }
        m
    }

    fn skip(&mut self, at: DateTime<Utc>) {
        self.skipped += 1;
        self.first.get_or_insert(at);
        self.last = Some(at);
    }
}

impl QueryRuns {
    pub(super) fn new(checked: DateTime<Utc>) -> QueryRuns {
        QueryRuns {
            checked,
            running: HashSet::new(),
            waiting: HashMap::new(),
            catch_ups: Vec::new(),
            checks: Vec::new(),
            readying: BTreeMap::new(),
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

    /// The clock was stepped back by `back`: the runs waiting for their workers wait as long
    /// as they would have (`ready_wait` is a length of time).
    pub(super) fn shift_back(&mut self, back: TimeDelta) {
        for wait in self.readying.values_mut() {
            wait.since -= back;
            wait.until -= back;
            if let Some(at) = wait.next_look.as_mut() {
                *at -= back;
            }
        }
    }

    /// The next query start to check, or query run to start.
    pub(super) fn next_wake(&self, schedule: &Schedule) -> Option<DateTime<Utc>> {
        let run = if schedule.queries.iter().any(|q| q.run.is_some()) {
            runs_after(schedule, self.checked).next().map(|f| f.at)
        } else {
            None
        };
        let looks = self.readying.values().filter_map(|r| r.next_look);
        self.checks
            .iter()
            .map(|c| c.at)
            .chain(run)
            .chain(looks)
            .min()
    }
}

impl Warden {
    /// At start: the runs of each `catch_up` query planned after its last recorded run
    /// (`last`) and at or before `now` were missed. A last run that was still waiting for its
    /// workers when the previous daemon stopped was missed too: caught up if it is the most
    /// recent missed run and less than `catch_up` ago, otherwise not run (`query_not_run`).
    /// A last run whose command had started is never run again.
    pub(super) fn boot_missed(&mut self, last: &[LastRun], now: DateTime<Utc>) {
        let schedule = Arc::clone(&self.schedule);
        for (index, query) in schedule.queries.iter().enumerate() {
            let Some(run) = query.run.as_ref() else {
                continue;
            };
            // Never recorded: no run is known to be missed (a new query, a first start).
            let Some(l) = last.iter().find(|l| l.query == query.name) else {
                continue;
            };
            let window = run
                .catch_up
                .map(|w| TimeDelta::from_std(w).unwrap_or(TimeDelta::MAX));
            let mut runs = runs_of(&schedule, index, l.scheduled_at, now).peekable();
            if let Some(started) = l.running {
                self.stopped_while_running(&query.name, l.scheduled_at, started, now);
            }
            if let Some(since) = l.waiting {
                // Not a run planned after `now` (the clock was set back across the restart).
                let recent =
                    l.scheduled_at <= now && window.is_some_and(|w| now - l.scheduled_at < w);
                if runs.peek().is_none() && recent {
                    self.missed(
                        index,
                        Missed {
                            catch_up: Some(l.scheduled_at),
                            ..Missed::default()
                        },
                        now,
                    );
                    continue;
                }
                self.stopped_while_waiting(&query.name, l.scheduled_at, since, now);
            }
            if let Some(window) = window {
                let missed = Missed::sort(runs, window, now);
                self.missed(index, missed, now);
            }
        }
    }

    /// At start: the command of `query`'s run planned for `at`, recorded running since
    /// `started`, had not ended when the previous daemon stopped: its outcome is unknown; it is
    /// not run again. (An earlier release recorded a run running while it still waited for
    /// its workers: its command may not have started, hence "may have run".)
    fn stopped_while_running(
        &mut self,
        query: &str,
        at: DateTime<Utc>,
        started: DateTime<Utc>,
        now: DateTime<Utc>,
    ) {
        let summary = format!(
            "outcome unknown: pacs-warden stopped while the command of the run planned for {} may have run (recorded running since {}); it is not run again",
            self.local(at),
            self.local(started)
        );
        self.log(Note::warn(summary.clone()).query(query));
        if self.dry_run {
            return;
        }
        self.actions.push_back(Action::Save(Save::QueryInterrupted {
            query: query.to_string(),
            scheduled_at: at,
            started,
            at: now,
            summary: summary.clone(),
        }));
        self.alert("query_failed", None, &format!("query {query}: {summary}"));
    }

    /// At start: `query`'s run planned for `at` was waiting for its workers (since `since`)
    /// when the previous daemon stopped, and is not caught up: it was not run.
    fn stopped_while_waiting(
        &mut self,
        query: &str,
        at: DateTime<Utc>,
        since: DateTime<Utc>,
        now: DateTime<Utc>,
    ) {
        let summary = format!(
            "not run: pacs-warden stopped while the run planned for {} waited for its workers",
            self.local(at)
        );
        self.log(Note::warn(summary.clone()).query(query));
        if self.dry_run {
            return;
        }
        self.actions.push_back(Action::Save(Save::QueryNotRun {
            query: query.to_string(),
            scheduled_at: at,
            since,
            at: now,
            summary: summary.clone(),
            catch_up: false,
        }));
        self.alert("query_not_run", None, &format!("query {query}: {summary}"));
    }

    /// Logs, records and queues the missed runs of query `index`.
    fn missed(&mut self, index: usize, missed: Missed, now: DateTime<Utc>) {
        let query = &self.schedule.queries[index];
        let name = query.name.clone();
        let window = query
            .run
            .as_ref()
            .and_then(|r| r.catch_up)
            .map(crate::core::report::file_duration)
            .unwrap_or_default();
        if let (Some(first), Some(last)) = (missed.first, missed.last) {
            let when = if missed.skipped == 1 {
                format!("planned for {}", self.local(first))
            } else {
                format!(
                    "{} runs planned from {} to {}",
                    missed.skipped,
                    self.local(first),
                    self.local(last)
                )
            };
            self.log(
                Note::warn(format!(
                    "skipped missed run(s) (pacs-warden was not running, or the machine slept or its clock jumped): {when}; only the most recent run less than catch_up ({window}) ago is caught up"
                ))
                .query(&name),
            );
            if missed.catch_up.is_none() && !self.dry_run {
                self.actions.push_back(Action::Save(Save::QueryMissed {
                    query: name.clone(),
                    scheduled_at: last,
                    at: now,
                    summary: format!("skipped: missed ({when}), more than catch_up ({window}) ago"),
                }));
            }
        }
        if let Some(at) = missed.catch_up {
            self.log(
                Note::info(format!(
                    "a run was missed (pacs-warden was not running, or the machine slept or its clock jumped); catching it up once no restart of its workers is running: planned for {}",
                    self.local(at)
                ))
                .query(&name),
            );
            self.queries.catch_ups.push((name, at));
        }
    }

    /// Starts the catch-ups whose workers no restart sequence is running for (a boot restart,
    /// a restart the clock jump made due); the run itself waits for them to be ready.
    fn start_catch_ups(&mut self, now: DateTime<Utc>) {
        let pending = std::mem::take(&mut self.queries.catch_ups);
        for (name, at) in pending {
            // The schedule may have been edited meanwhile: run it only if it is still there.
            let Some((index, workers)) = self.run_workers(&name) else {
                self.catch_up_removed(&name, at, now);
                continue;
            };
            let restarting = workers.iter().any(|w| self.in_flight.contains(w));
            if restarting {
                self.queries.catch_ups.push((name, at));
            } else {
                self.start_query(index, at, true, now);
            }
        }
    }

    /// An edit removed `query` (or its `command`) while its missed run planned for `at` waited
    /// to be caught up: it is not run (logged and recorded; no alert for a query the schedule
    /// no longer has).
    fn catch_up_removed(&mut self, query: &str, at: DateTime<Utc>, now: DateTime<Utc>) {
        let summary = format!(
            "not run: removed from the schedule while its missed run planned for {} waited to be caught up",
            self.local(at)
        );
        self.log(Note::info(summary.clone()).query(query));
        self.actions.push_back(Action::Save(Save::QueryNotRun {
            query: query.to_string(),
            scheduled_at: at,
            since: now,
            at: now,
            summary,
            catch_up: true,
        }));
    }

    /// Starts the query runs that came due.
    pub(super) fn run_due_queries(&mut self, now: DateTime<Utc>) {
        self.start_catch_ups(now);
        let q = &mut self.queries;
        if now <= q.checked || !self.schedule.queries.iter().any(|q| q.run.is_some()) {
            q.checked = q.checked.max(now);
            return;
        }
        let due: Vec<Fire> = runs_after(&self.schedule, q.checked)
            .take_while(|f| f.at <= now)
            .collect();
        q.checked = now;
        // After a jump of the clock, the runs of a `catch_up` query more than `ON_TIME` late
        // were missed; other runs start as they come.
        let mut missed: HashMap<usize, Vec<DateTime<Utc>>> = HashMap::new();
        for fire in due {
            let catch_up = self.schedule.queries[fire.query]
                .run
                .as_ref()
                .is_some_and(|r| r.catch_up.is_some());
            if catch_up && now - fire.at > ON_TIME {
                missed.entry(fire.query).or_default().push(fire.at);
            } else {
                self.start_query(fire.query, fire.at, false, now);
            }
        }
        let mut missed: Vec<_> = missed.into_iter().collect();
        missed.sort_unstable_by_key(|(index, _)| *index);
        for (index, runs) in missed {
            let window = self.schedule.queries[index]
                .run
                .as_ref()
                .and_then(|r| r.catch_up)
                .and_then(|w| TimeDelta::from_std(w).ok())
                .unwrap_or(TimeDelta::MAX);
            let sorted = Missed::sort(runs.into_iter(), window, now);
            self.missed(index, sorted, now);
        }
        self.start_catch_ups(now);
    }

    fn start_query(&mut self, index: usize, at: DateTime<Utc>, catch_up: bool, now: DateTime<Utc>) {
        let query = &self.schedule.queries[index];
        let name = query.name.clone();
        let ready_wait = query.run.as_ref().map(|r| r.ready_wait).unwrap_or_default();
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
                Note::info(if catch_up {
                    "dry run: would run the query now (catch-up)"
                } else {
                    "dry run: would run the query now"
                })
                .query(&name)
                .command(command),
            );
            return;
        }
        if self.queries.running.contains(&name) {
            match query.run.as_ref().map(|r| r.overlap) {
                Some(Overlap::Wait) => {
                    self.log(
                        Note::info("the previous run is still going (or still waiting for its workers); this one waits for it (overlap: wait)")
                            .query(&name),
                    );
                    self.queries
                        .waiting
                        .entry(name)
                        .or_default()
                        .push((index, at, catch_up));
                }
                _ => {
                    self.log(
                        Note::warn(
                            "the previous run is still going (or still waiting for its workers); this run is skipped (overlap: skip)",
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
        if catch_up {
            self.log(
                Note::info(format!(
                    "catch-up: running the missed run planned for {}",
                    self.local(at)
                ))
                .query(&name),
            );
        }
        // Recorded as waiting: a daemon stopped before its command starts finds it not run at
        // its next start (`boot_missed`).
        self.actions.push_back(Action::Save(Save::QueryWaiting {
            query: name.clone(),
            scheduled_at: at,
            at: now,
            catch_up,
        }));
        self.queries.readying.insert(
            name.clone(),
            ReadyWait {
                at,
                catch_up,
                since: now,
                until: after(now, ready_wait),
                ready_wait,
                next_look: Some(now),
            },
        );
        self.look_at_workers(&name, now);
    }

    /// The workers a run of `query` needs, if the query still is one pacs-warden runs.
    fn run_workers(&self, query: &str) -> Option<(usize, Vec<String>)> {
        let index = self
            .schedule
            .queries
            .iter()
            .position(|q| q.name == query && q.run.is_some())?;
        let workers = self
            .schedule
            .worker_names(&self.schedule.queries[index].workers)
            .into_iter()
            .map(String::from)
            .collect();
        Some((index, workers))
    }

    /// Whether the daemon is restarting `worker`, or will: a restart put off while it is busy
    /// (planned, or for its memory) restarts it when it is idle or at that restart's limit, so
    /// a run started on it meanwhile would have its worker restarted under it.
    fn restarting(&self, worker: &str) -> bool {
        self.in_flight.contains(worker) || self.deferrals.contains(worker)
    }

    /// Looks at the workers of `query`'s waiting run: runs it if it needs none; while one of
    /// them is being restarted by the daemon (or its restart is put off, `restarting`), waits
    /// for that restart's end (or the end of `ready_wait`); otherwise asks the shell
    /// (`Action::CheckQueryReady`).
    fn look_at_workers(&mut self, query: &str, now: DateTime<Utc>) {
        let Some(wait) = self.queries.readying.get(query) else {
            return;
        };
        let until = wait.until;
        let Some((_, workers)) = self.run_workers(query) else {
            self.query_removed_while_waiting(query, now);
            return;
        };
        if workers.is_empty() {
            self.ready_to_run(query, now);
            return;
        }
        let restarting: Vec<String> = workers
            .iter()
            .filter(|w| self.restarting(w))
            .cloned()
            .collect();
        if !restarting.is_empty() {
            // A clock stepped forward cuts the wait short, as it does the other waits.
            if now >= until {
                self.not_run(query, &restarting, now);
            } else if let Some(wait) = self.queries.readying.get_mut(query) {
                // `handle_sequence_done` looks again when the restart ends.
                wait.next_look = Some(until);
            }
            return;
        }
        if let Some(wait) = self.queries.readying.get_mut(query) {
            wait.next_look = None;
        }
        self.actions.push_back(Action::CheckQueryReady {
            query: query.to_string(),
            workers,
        });
    }

    /// The shell's answer about the workers of `query`'s waiting run (`CheckQueryReady`).
    pub(super) fn query_ready_answer(
        &mut self,
        query: &str,
        facts: Vec<WorkerFacts>,
        now: DateTime<Utc>,
    ) {
        // An answer nobody waits for (stale, or the run was decided meanwhile) changes nothing.
        let Some(wait) = self
            .queries
            .readying
            .get(query)
            .filter(|w| w.next_look.is_none())
        else {
            return;
        };
        let until = wait.until;
        let Some((_, workers)) = self.run_workers(query) else {
            self.query_removed_while_waiting(query, now);
            return;
        };
        let not_ready: Vec<String> = workers
            .into_iter()
            .filter(|name| {
                let ready = facts
                    .iter()
                    .any(|f| &f.worker == name && f.last_ok && f.alive && !f.restarting);
                !ready || self.restarting(name)
            })
            .collect();
        if not_ready.is_empty() {
            self.ready_to_run(query, now);
        } else if now >= until {
            // A clock stepped forward cuts the wait short, as it does the other waits.
            self.not_run(query, &not_ready, now);
        } else if let Some(wait) = self.queries.readying.get_mut(query) {
            wait.next_look = Some((now + QUERY_READY_POLL).min(until));
        }
    }

    /// Looks again at the workers of the waiting runs whose time to look came.
    pub(super) fn query_looks_due(&mut self, now: DateTime<Utc>) {
        let due: Vec<String> = self
            .queries
            .readying
            .iter()
            .filter(|(_, w)| w.next_look.is_some_and(|at| at <= now))
            .map(|(name, _)| name.clone())
            .collect();
        for query in due {
            self.look_at_workers(&query, now);
        }
    }

    /// Something changed about `worker` (its restart ended, it became ready): the runs
    /// waiting for it look again at the next tick.
    pub(super) fn query_worker_changed(&mut self, worker: &str, now: DateTime<Utc>) {
        let schedule = Arc::clone(&self.schedule);
        for (query, wait) in self.queries.readying.iter_mut() {
            let needs = schedule
                .queries
                .iter()
                .any(|q| &q.name == query && schedule.worker_names(&q.workers).contains(&worker));
            if needs && wait.next_look.is_some() {
                wait.next_look = Some(now);
            }
        }
    }

    /// A restart sequence was lost (whose, the shell no longer knows): every waiting run looks
    /// again at the next tick, as at the end of one of its workers' restarts (the catch-ups
    /// waiting for a restart's end are looked at every tick).
    /// (An edit, which may change the workers a run needs, looks again the same way.)
    pub(super) fn query_workers_lost(&mut self, now: DateTime<Utc>) {
        for wait in self.queries.readying.values_mut() {
            if wait.next_look.is_some() {
                wait.next_look = Some(now);
            }
        }
    }

    /// Every worker of `query`'s waiting run is ready: it runs now, for its planned instant.
    fn ready_to_run(&mut self, query: &str, now: DateTime<Utc>) {
        let Some(wait) = self.queries.readying.remove(query) else {
            return;
        };
        let Some((index, _)) = self.run_workers(query) else {
            return;
        };
        // Recorded as running before its command starts: a daemon stopped before it ends must
        // not run it again.
        self.actions.push_back(Action::Save(Save::QueryRunning {
            query: query.to_string(),
            scheduled_at: wait.at,
            at: now,
            catch_up: wait.catch_up,
        }));
        self.actions.push_back(Action::RunQuery {
            query: index,
            name: query.to_string(),
            at: wait.at,
            catch_up: wait.catch_up,
        });
    }

    /// `query`'s waiting run is not run: `not_ready` (names) were not ready within its
    /// `ready_wait`.
    fn not_run(&mut self, query: &str, not_ready: &[String], now: DateTime<Utc>) {
        let Some(wait) = self.queries.readying.remove(query) else {
            return;
        };
        let summary = format!(
            "not run: worker(s) {} not ready within {}",
            not_ready.join(", "),
            crate::core::report::file_duration(wait.ready_wait)
        );
        self.log(Note::warn(summary.clone()).query(query));
        self.actions.push_back(Action::Save(Save::QueryNotRun {
            query: query.to_string(),
            scheduled_at: wait.at,
            since: wait.since,
            at: now,
            summary: summary.clone(),
            catch_up: wait.catch_up,
        }));
        self.query_finished(
            query,
            QueryDone {
                not_run: true,
                ok: false,
                summary,
            },
            now,
        );
    }

    /// The daemon stops: the runs queued behind a run of the same query (`overlap: wait`)
    /// are not run. Logged; not recorded (the record holds the run they waited for, which
    /// the next start must find); with `catch_up`, the next start catches up the most recent.
    pub(super) fn queued_runs_dropped(&mut self) {
        let mut queued: Vec<_> = std::mem::take(&mut self.queries.waiting)
            .into_iter()
            .collect();
        queued.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        for (query, runs) in queued {
            for (_, at, _) in runs {
                let summary = format!(
                    "not run: pacs-warden stopped while the run planned for {} waited for the previous run (overlap: wait)",
                    self.local(at)
                );
                self.log(Note::warn(summary).query(&query));
            }
        }
    }

    /// `query`'s run planned for `at` could not be recorded as running (`why`): its command
    /// was not started; it is not run (logged, recorded if the state directory takes it,
    /// alerted).
    pub(super) fn query_unrecorded(
        &mut self,
        query: &str,
        at: DateTime<Utc>,
        catch_up: bool,
        why: &str,
        now: DateTime<Utc>,
    ) {
        let summary = format!("not run: the state directory could not be written ({why})");
        self.log(Note::error(summary.clone()).query(query));
        self.actions.push_back(Action::Save(Save::QueryNotRun {
            query: query.to_string(),
            scheduled_at: at,
            since: now,
            at: now,
            summary: summary.clone(),
            catch_up,
        }));
        self.query_finished(
            query,
            QueryDone {
                not_run: true,
                ok: false,
                summary,
            },
            now,
        );
    }

    /// An edit removed `query` (or its `command`) while its run waited for its workers: it is
    /// not run, and no alert is raised for a query the schedule no longer has.
    fn query_removed_while_waiting(&mut self, query: &str, now: DateTime<Utc>) {
        let Some(wait) = self.queries.readying.remove(query) else {
            return;
        };
        self.queries.running.remove(query);
        let summary =
            "not run: removed from the schedule while it waited for its workers".to_string();
        self.log(Note::info(summary.clone()).query(query));
        self.actions.push_back(Action::Save(Save::QueryNotRun {
            query: query.to_string(),
            scheduled_at: wait.at,
            since: wait.since,
            at: now,
            summary,
            catch_up: wait.catch_up,
        }));
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
        if let Some((index, at, catch_up)) = next {
            // The schedule may have been edited meanwhile: run it only if it is still there.
            if self
                .schedule
                .queries
                .get(index)
                .is_some_and(|q| q.name == name)
            {
                self.start_query(index, at, catch_up, now);
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
