//! Running a PACS query itself (`command:` on a query), once the core has decided it runs.
//!
//! Owns: one run of one query — running the command (through `crate::shell::command`, like
//! every helper) with its output appended to the query's log (rotated before the run when
//! larger than its `max_size`), with its dates (`{date-1d}`) expanded from the run's planned
//! instant, and the record of the outcome. The core (`crate::core::warden`) decides when runs
//! happen, waits for their workers to be ready (`ready_wait`, `query_not_run`) and what to do
//! about overlaps.

use crate::core::config::{QueryRun, Schedule};
use crate::shell::command::{self, Ended, Helper, Output};
use crate::sys::clock::Clock;
use chrono::{DateTime, Utc};

use std::io::Write as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;
use tracing::{info, warn};

pub use crate::shell::state::QueryRecord;

/// The log file of query `name`: its `log:`, else `<state dir>/queries/<name>.log`.
pub fn log_path(schedule: &Schedule, name: &str, run: &QueryRun) -> PathBuf {
    match &run.log {
        Some(p) => schedule.resolve(p),
        None => schedule
            .state_dir()
            .join("queries")
            .join(format!("{}.log", crate::shell::state::sanitize(name))),
    }
}

/// Runs query `index` (its workers are ready). `scheduled_at` is the run's *planned*
/// instant (not when it starts): the placeholders of its command (`{date-1d}`) are expanded
/// from it, so a run delayed by `ready_wait` or `overlap: wait` still asks for the right day.
pub async fn run(
    schedule: Arc<Schedule>,
    index: usize,
    scheduled_at: DateTime<Utc>,
    clock: Arc<dyn Clock>,
) -> QueryRecord {
    let query = &schedule.queries[index];
    let run = query
        .run
        .as_ref()
        .expect("only queries with a command are run");
    let name = &query.name;
    let t0 = Instant::now();
    let finish = |started_at, outcome: &str, exit_code, summary: String| QueryRecord {
        scheduled_at,
        started_at,
        finished_at: clock.now(),
        outcome: outcome.to_string(),
        exit_code,
        duration_seconds: t0.elapsed().as_secs_f64(),
        summary,
        catch_up: false,
        skipped: None,
    };

    // Run it, output appended to its log (first rotated if larger than its `max_size`).
    let log = log_path(&schedule, name, run);
    if let Some(dir) = log.parent() {
        let _ = crate::sys::trust::safe_create_dir_all(dir);
    }
    crate::shell::logging::rotate_by_size(&log, run.log_limits, &format!("query {name}"));
    let started_at = clock.now();
    let file = match crate::sys::os::open_log(&log) {
        Ok(mut f) => {
            let _ = writeln!(
                f,
                "=== {} query {name} (scheduled {}) ===",
                started_at.to_rfc3339(),
                scheduled_at.to_rfc3339()
            );
            f
        }
        Err(e) => {
            let summary = format!("not run: cannot open its log: {e}");
            warn!(query = %name, "{summary}");
            return finish(None, "not run", None, summary);
        }
    };
    let workdir = schedule.query_workdir(run);
    // Dates in the command are the planned run's, however late it starts (`ready_wait`,
    // `overlap: wait`).
    let argv = run.argv_at(scheduled_at, schedule.timezone);
    let env = run.env_at(scheduled_at, schedule.timezone);
    let helper = Helper {
        argv: &argv,
        workdir: &workdir,
        env: &env,
        stdin: None,
        output: Output::File(file),
    };
    let child = match command::start(helper) {
        Ok(c) => c,
        // The OS reports a missing working folder as a missing program.
        Err(_) if !workdir.is_dir() => {
            let summary = format!(
                "failed: cannot start the query: its workdir {} does not exist",
                workdir.display()
            );
            warn!(query = %name, "{summary}");
            return finish(Some(started_at), "failed", None, summary);
        }
        Err(e) => {
            let program = crate::sys::os::resolve_program(&argv[0], &workdir);
            let summary = format!("failed: cannot start {}: {e}", program.display());
            warn!(query = %name, "{summary}");
            return finish(Some(started_at), "failed", None, summary);
        }
    };
    info!(query = %name, pid = child.pid(), command = ?argv, log = %log.display(), "query started");
    match child.finish(run.timeout).await {
        Ended::Exited(std::process::Output { status, .. }) => {
            let took = t0.elapsed();
            let ok = status.success();
            // Worded the same on every OS (std says "exit code: N" on Windows).
            let status_text = match status.code() {
                Some(code) => format!("exit status: {code}"),
                None => status.to_string(),
            };
            let summary = format!(
                "{} ({status_text}) after {:.1} s",
                if ok { "ok" } else { "failed" },
                took.as_secs_f64()
            );
            if ok {
                info!(query = %name, "query finished: {summary}");
            } else {
                warn!(query = %name, "query finished: {summary}");
            }
            finish(
                Some(started_at),
                if ok { "ok" } else { "failed" },
                status.code(),
                summary,
            )
        }
        Ended::Failed(e) => finish(Some(started_at), "failed", None, format!("failed: {e}")),
        Ended::TimedOut => {
            let summary = format!(
                "timed out after {}; killed",
                crate::core::report::file_duration(run.timeout)
            );
            warn!(query = %name, "{summary}");
            finish(Some(started_at), "timed out", None, summary)
        }
    }
}
