//! `pacs-warden health`: the monitoring check. Gathers a schedule's facts with `status`'s
//! gathering (`shell::status::gather`, the same state directory, process table and planner)
//! and hands them, as plain facts, to `core::health`, which classifies them.
//!
//! Owns: turning that gathering into `core::health::Facts` (and choosing what to gather from
//! when the file is wrong: the last good version the daemon recorded). Changes nothing.

use crate::core::health::{self, Facts, File, Health};
use crate::shell::status::{self, Status};
use chrono::{DateTime, Utc};
use std::path::Path;

/// The health of the schedule file at `path` at `now`.
pub fn check(path: &Path, now: DateTime<Utc>) -> Health {
    let (schedule, file) = match crate::shell::schedule::load(path) {
        Ok(s) => (s, File::Valid),
        Err(e) => {
            let problems = status::problem_lines(&e);
            match status::last_good(path) {
                Some(s) => (s, File::Invalid { problems }),
                None => {
                    return health::classify(&Facts {
                        now,
                        file: File::Unusable { problems },
                        state_error: None,
                        daemon: None,
                        daemon_unknown: None,
                        daemon_runs_other_version: None,
                        workers: Vec::new(),
                        queries: Vec::new(),
                        next_restart: None,
                    })
                }
            }
        }
    };
    let gathered = status::gather(&schedule, now);
    let mut facts = facts(&gathered, file, now);
    if facts.daemon.is_none() {
        // No holder seen: because none runs, or because this user cannot open its lock?
        let lock = schedule.state_dir().join("daemon.lock");
        facts.daemon_unknown = match std::fs::File::open(&lock) {
            Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
                Some(format!("{}: {e}", lock.display()))
            }
            _ => None,
        };
    }
    health::classify(&facts)
}

/// `status`'s instants are RFC 3339 text in the schedule's zone.
fn instant(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

fn facts(s: &Status, file: File, now: DateTime<Utc>) -> Facts {
    let daemon = s.daemon.as_ref().map(|d| health::Daemon {
        pid: d.pid,
        since: d.since,
    });
    let daemon_runs_other_version = match (&file, &daemon, &s.daemon_schedule) {
        (File::Valid, Some(_), Some(r)) if !r.same_as_file => instant(&r.loaded_at),
        _ => None,
    };
    let workers = s
        .workers
        .iter()
        .map(|w| health::Worker {
            name: w.name.clone(),
            running: w.running,
            restarting: w.restarting,
            last_restart: w.last_restart.as_ref().map(|r| health::Restart {
                began_at: r.began_at,
                finished_at: r.finished_at,
                ok: r.ok,
                summary: r.summary.clone(),
                not_ready: r.not_ready.clone(),
            }),
            supervision: w.supervision.as_ref().map(|r| health::Supervision {
                restarts: r.restarts,
                failures_in_a_row: r.failures_in_a_row,
                last_crash: r.last_crash,
                gave_up: r.gave_up,
            }),
            deferred: w.deferred.as_ref().map(|d| health::Deferral {
                since: d.since,
                until: d.until,
                answer: d.answer.clone(),
                memory: d.memory,
            }),
            // The last answer of `ready.every`'s periodic probe, when a counted failure, is a
            // failed answer too.
            not_ready: w
                .not_ready
                .as_ref()
                .map(|n| health::NotReady {
                    since: n.since,
                    answer: n.answer.clone(),
                })
                .or_else(|| {
                    let r = w.checks.as_ref()?.ready.as_ref()?;
                    (!r.ok && r.failures_in_a_row > 0).then(|| health::NotReady {
                        since: r.at,
                        answer: format!(
                            "{} ({} of {} failed probes in a row)",
                            r.answer, r.failures_in_a_row, r.failures_allowed
                        ),
                    })
                }),
        })
        .collect();
    let queries = s
        .queries
        .iter()
        .map(|q| health::Query {
            name: q.name.clone(),
            last_run: q.last_run.as_ref().map(|r| health::QueryRun {
                finished_at: r.finished_at,
                outcome: r.outcome.clone(),
                summary: r.summary.clone(),
                catch_up: r.catch_up.then_some(r.scheduled_at),
                skipped: r.skipped.as_ref().map(|k| (k.at, k.summary.clone())),
            }),
        })
        .collect();
    Facts {
        now,
        file,
        state_error: s.state_error.clone(),
        daemon,
        daemon_unknown: None,
        daemon_runs_other_version,
        workers,
        queries,
        next_restart: s.next_restarts.first().and_then(|r| instant(&r.restart_at)),
    }
}
