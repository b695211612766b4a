//! `pacs-warden status`: the daemon, the workers' processes, the last sequences, the next
//! restarts. `health` presents the same gathering (`shell::health`).
//!
//! Owns: gathering those facts (from the state directory, the process table and the planner)
//! and showing them; and, while the schedule file is invalid, finding the last good version
//! the daemon recorded (`last_good`), so the daemon's view can still be shown. Changes
//! nothing.

use crate::core::config::Schedule;
use crate::core::report::{human_span, rfc3339};
use crate::shell::sequence::find_worker;
use crate::shell::state::{
    running_daemon, text_hash, ChecksRecord, DaemonInfo, DeferralRecord, NotReadyRecord,
    SequenceRecord, Store, SupervisionRecord,
};
use crate::sys::process::Snapshot;
use chrono::{DateTime, TimeDelta, Utc};
use serde::Serialize;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

#[derive(Debug, Serialize)]
pub struct Status {
    pub schedule: String,
    pub now: String,
    /// The daemon holding this schedule's lock, if one runs.
    pub daemon: Option<DaemonInfo>,
    pub workers: Vec<WorkerStatus>,
    /// The last run of each query pacs-warden runs itself.
    pub queries: Vec<QueryStatus>,
    pub next_restarts: Vec<NextRestart>,
    /// The schedule file's problems (`FILE:LINE:COL: field: message`, or why it cannot be
    /// read). When there are any, everything else is about the last good version of the file
    /// the daemon recorded (the schedule it keeps running).
    pub problems: Vec<String>,
    /// The version of the file the daemon recorded when it loaded it.
    pub daemon_schedule: Option<DaemonSchedule>,
    /// Why the state directory's record cannot be read (then it is taken as empty); for
    /// `health`.
    #[serde(skip)]
    pub state_error: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct DaemonSchedule {
    pub loaded_at: String,
    /// FNV-1a 64 of the text, hex.
    pub hash: String,
    /// The file on disk has the same text.
    pub same_as_file: bool,
}

#[derive(Debug, Serialize)]
pub struct QueryStatus {
    pub name: String,
    pub last_run: Option<crate::shell::query_run::QueryRecord>,
}

#[derive(Debug, Serialize)]
pub struct WorkerStatus {
    pub name: String,
    /// The Windows service that runs it (`service:`), if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    pub running: bool,
    /// The worker's processes (roots and children).
    pub pids: Vec<u32>,
    /// When its oldest process started.
    pub since: Option<String>,
    pub uptime_seconds: Option<i64>,
    /// The process pacs-warden started last is among them.
    pub started_by_pacs_warden: bool,
    pub last_restart: Option<SequenceRecord>,
    /// What crash supervision has done (while a daemon runs or ran).
    pub supervision: Option<SupervisionRecord>,
    /// A planned restart waiting for the worker to become idle.
    pub deferred: Option<DeferralRecord>,
    /// The worker runs but its `ready` command fails (the daemon probes it again).
    pub not_ready: Option<NotReadyRecord>,
    /// The last answers of its periodic checks (`ready.every`, `max_memory`).
    pub checks: Option<ChecksRecord>,
    /// A restart sequence of it runs now (its lock is held); for `health`.
    #[serde(skip)]
    pub restarting: bool,
}

#[derive(Debug, Serialize)]
pub struct NextRestart {
    pub restart_at: String,
    pub queries: Vec<String>,
    pub workers: Vec<String>,
}

pub fn gather(schedule: &Schedule, now: DateTime<Utc>) -> Status {
    let store = Store::new(schedule.state_dir());
    let (state, state_error) = match store.read_checked() {
        Ok(state) => (state, None),
        Err(e) => (Default::default(), Some(e)),
    };
    let snap = Snapshot::take();
    let workers = schedule
        .workers
        .iter()
        .map(|w| {
            let saved = state.workers.get(&w.name);
            let started = saved.and_then(|s| s.started);
            let pidfile = w.pidfile.as_deref().map(|p| schedule.resolve(p));
            let found = find_worker(w, &snap, started, pidfile.as_deref());
            let oldest = found.tree.iter().map(|p| p.id.start_time).min();
            let since = oldest.and_then(|s| DateTime::<Utc>::from_timestamp(s as i64, 0));
            WorkerStatus {
                name: w.name.clone(),
                service: w.service().map(str::to_string),
                running: !found.tree.is_empty(),
                pids: found.tree.iter().rev().map(|p| p.id.pid).collect(),
                since: since.map(|t| rfc3339(schedule, t)),
                uptime_seconds: since.map(|t| (now - t).num_seconds()),
                started_by_pacs_warden: started.is_some_and(|id| snap.contains(id)),
                last_restart: saved.and_then(|s| s.last.clone()),
                supervision: saved.and_then(|s| s.supervision.clone()),
                deferred: saved.and_then(|s| s.deferred.clone()),
                // Only about a process that still runs.
                not_ready: saved
                    .and_then(|s| s.not_ready.clone())
                    .filter(|n| found.tree.iter().any(|p| p.id.pid == n.pid)),
                checks: saved
                    .and_then(|s| s.checks.clone())
                    .filter(|c| found.tree.iter().any(|p| p.id.pid == c.pid)),
                restarting: store.is_restarting(&w.name),
            }
        })
        .collect();
    let next_restarts = crate::core::plan::restarts(schedule, now)
        .take(5)
        .map(|r| NextRestart {
            restart_at: rfc3339(schedule, r.at),
            queries: r
                .fires
                .iter()
                .map(|f| schedule.queries[f.query].name.clone())
                .collect(),
            workers: schedule
                .worker_names(&r.workers(schedule))
                .into_iter()
                .map(String::from)
                .collect(),
        })
        .collect();
    Status {
        schedule: schedule.path.display().to_string(),
        now: rfc3339(schedule, now),
        daemon: running_daemon(store.dir()),
        workers,
        queries: schedule
            .queries
            .iter()
            .filter(|q| q.run.is_some())
            .map(|q| QueryStatus {
                name: q.name.clone(),
                last_run: state.queries.get(&q.name).cloned(),
            })
            .collect(),
        next_restarts,
        problems: Vec::new(),
        daemon_schedule: state.schedule.as_ref().map(|r| DaemonSchedule {
            loaded_at: rfc3339(schedule, r.loaded_at),
            hash: r.hash.clone(),
            same_as_file: crate::shell::schedule::read_text(&schedule.path)
                .is_some_and(|text| text_hash(&text) == r.hash),
        }),
        state_error,
    }
}

/// Why the schedule file cannot be used, one line each (`FILE:LINE:COL: field: message`, or
/// why it cannot be read), as `status` and `health` show them.
pub fn problem_lines(e: &crate::core::config::ConfigError) -> Vec<String> {
    use crate::core::config::{ConfigError, Problems};
    match e {
        ConfigError::Invalid { path, problems } => problems
            .iter()
            .map(|p| {
                Problems {
                    path: Some(path),
                    problems: std::slice::from_ref(p),
                }
                .to_string()
            })
            .collect(),
        ConfigError::Read { .. } => vec![e.to_string()],
    }
}

/// The last good version of the schedule file at `path` that a daemon recorded, for `status`
/// while the file is invalid (or missing). Looks in the state directory the file names, if it
/// can still be read, then in the default one beside the file.
pub fn last_good(path: &Path) -> Option<Schedule> {
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let base = std::path::absolute(&parent).unwrap_or(parent);
    let mut dirs = Vec::new();
    let text = crate::shell::schedule::read_text(path).unwrap_or_default();
    let named = match crate::core::config::yaml::parse(&text) {
        Ok(root) => match root.value {
            crate::core::config::yaml::Value::Map(entries) => entries
                .into_iter()
                .find(|(k, _)| k.text == "state_dir")
                .and_then(|(_, v)| v.as_scalar().map(str::to_string)),
            _ => None,
        },
        // A file that does not even parse (a tab, a stray quote): a top-level
        // `state_dir:` line still says where the daemon keeps its state.
        Err(_) => state_dir_line(&text),
    }
    .filter(|d| !d.is_empty());
    if let Some(dir) = named {
        dirs.push(base.join(dir));
    }
    let mut name = path
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_else(|| "schedule".into());
    name.push(".state");
    dirs.push(base.join(name));
    dirs.into_iter().find_map(|dir| {
        let record = Store::new(dir).read().schedule?;
        let mut schedule =
            crate::core::config::validate(&record.text, crate::sys::os::machine_zone).ok()?;
        schedule.path = path.to_path_buf();
        schedule.base_dir = base.clone();
        Some(schedule)
    })
}

/// The value of a top-level `state_dir:` line, read without a YAML parser: plain, or in
/// single or double quotes, a trailing ` # comment` dropped.
fn state_dir_line(text: &str) -> Option<String> {
    let value = text
        .lines()
        .find_map(|l| l.strip_prefix("state_dir:"))?
        .trim();
    let value = match value.chars().next()? {
        q @ ('\'' | '"') => value[1..].split(q).next()?,
        _ => value.split(" #").next()?.trim_end(),
    };
    Some(value.to_string())
}

pub fn render(schedule: &Schedule, s: &Status) -> String {
    let mut out = String::new();
    let at = |t: DateTime<Utc>| {
        t.with_timezone(&schedule.timezone)
            .format("%Y-%m-%d %H:%M:%S %Z")
            .to_string()
    };
    let local = |t: &str| {
        DateTime::parse_from_rfc3339(t)
            .map(|t| at(t.with_timezone(&Utc)))
            .unwrap_or_else(|_| t.to_string())
    };
    match (&s.daemon_schedule, s.problems.is_empty()) {
        (Some(r), false) => {
            let _ = writeln!(
                out,
                "The schedule file is wrong ({} problem{}, shown above). {} the last good version, loaded {} (hash {}):",
                s.problems.len(),
                if s.problems.len() == 1 { "" } else { "s" },
                if s.daemon.is_some() {
                    "The daemon keeps running"
                } else {
                    "Shown instead: the version the daemon ran last,"
                },
                local(&r.loaded_at),
                r.hash
            );
        }
        (Some(r), true) if s.daemon.is_some() && !r.same_as_file => {
            let _ = writeln!(
                out,
                "Note: the daemon runs the version of the file loaded {} (hash {}), not the file as it is now.",
                local(&r.loaded_at),
                r.hash
            );
        }
        _ => {}
    }
    let _ = writeln!(
        out,
        "Schedule {} (time zone {})",
        s.schedule,
        schedule.timezone.name()
    );
    match &s.daemon {
        Some(d) => {
            let _ = writeln!(out, "Daemon: running, pid {}, since {}", d.pid, at(d.since));
        }
        None => out.push_str("Daemon: not running\n"),
    }
    for w in &s.workers {
        let name = match &w.service {
            Some(service) => format!("{} (service {service})", w.name),
            None => w.name.clone(),
        };
        if w.running {
            let _ = writeln!(
                out,
                "Worker {}: running, pids {:?}, up {}{}",
                name,
                w.pids,
                human_span(TimeDelta::seconds(w.uptime_seconds.unwrap_or(0))),
                if w.started_by_pacs_warden {
                    " (started by pacs-warden)"
                } else {
                    ""
                }
            );
        } else {
            let _ = writeln!(out, "Worker {name}: not running");
        }
        match &w.last_restart {
            Some(r) => {
                let _ = writeln!(
                    out,
                    "  last restart {}: {} — {}",
                    at(r.finished_at),
                    if r.ok { "ok" } else { "FAILED" },
                    r.summary
                );
            }
            None => out.push_str("  no restart recorded\n"),
        }
        if let Some(d) = &w.deferred {
            let _ = writeln!(
                out,
                "  {} restart DEFERRED since {} ({} time{}; busy: {}); restarts by {} at the latest",
                if d.memory { "memory" } else { "planned" },
                at(d.since),
                d.deferrals,
                if d.deferrals == 1 { "" } else { "s" },
                d.answer,
                at(d.until)
            );
        }
        if let Some(n) = &w.not_ready {
            let _ = writeln!(
                out,
                "  NOT READY since {} (pid {}): {}; left running until the next planned restart; {}{}",
                at(n.since),
                n.pid,
                n.answer,
                match n.probes {
                    0 => "ready command not tried again yet".to_string(),
                    1 => "ready command tried again once".to_string(),
                    k => format!("ready command tried again {k} times"),
                },
                n.next_probe
                    .map(|t| format!(
                        ", next at {}",
                        at(t)
                    ))
                    .unwrap_or_default()
            );
        }
        if let Some(r) = w.checks.as_ref().and_then(|c| c.ready.as_ref()) {
            let _ = writeln!(
                out,
                "  ready probe since {}: {}",
                at(r.at),
                if r.ok {
                    "ok".to_string()
                } else if r.failures_in_a_row > 0 {
                    format!(
                        "FAILED ({} of {} in a row before a restart): {}",
                        r.failures_in_a_row, r.failures_allowed, r.answer
                    )
                } else {
                    format!("failed: {}", r.answer)
                }
            );
        }
        if let Some(m) = w.checks.as_ref().and_then(|c| c.memory.as_ref()) {
            let _ = writeln!(
                out,
                "  memory at {}: {} (max_memory {}; recorded when it moves by 5% of that)",
                at(m.at),
                crate::core::warden::show_bytes(m.bytes),
                crate::core::warden::show_bytes(m.limit)
            );
        }
        if let Some(sup) = w
            .supervision
            .as_ref()
            .filter(|s| s.restarts > 0 || s.failures_in_a_row > 0 || s.gave_up)
        {
            let _ = writeln!(
                out,
                "  supervision: {} crash restart{}, {} failure{} in a row, backoff {}s{}{}",
                sup.restarts,
                if sup.restarts == 1 { "" } else { "s" },
                sup.failures_in_a_row,
                if sup.failures_in_a_row == 1 { "" } else { "s" },
                sup.backoff_seconds,
                sup.last_crash
                    .map(|t| format!(", last crash {}", at(t)))
                    .unwrap_or_default(),
                if sup.gave_up { ", GAVE UP" } else { "" }
            );
        }
    }
    for q in &s.queries {
        match &q.last_run {
            Some(r) => {
                let caught_up = if r.catch_up {
                    format!(
                        " (a catch-up of the missed run planned for {})",
                        at(r.scheduled_at)
                    )
                } else {
                    String::new()
                };
                // A run skipped while this one waits or runs.
                let skipped = r
                    .skipped
                    .as_ref()
                    .map(|k| {
                        format!(
                            "; the run planned for {} was {}",
                            at(k.scheduled_at),
                            k.summary
                        )
                    })
                    .unwrap_or_default();
                let _ = writeln!(
                    out,
                    "Query {} (run by pacs-warden): last run {}{caught_up} — {}{skipped}",
                    q.name,
                    at(r.finished_at),
                    r.summary
                );
            }
            None => {
                let _ = writeln!(out, "Query {} (run by pacs-warden): not run yet", q.name);
            }
        }
    }
    out.push_str("Next restarts:\n");
    if s.next_restarts.is_empty() {
        out.push_str("  none planned\n");
    }
    for r in &s.next_restarts {
        let _ = writeln!(
            out,
            "  {}  {}  (workers: {})",
            r.restart_at,
            r.queries.join(", "),
            if r.workers.is_empty() {
                "-".to_string()
            } else {
                r.workers.join(", ")
            }
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_deferral_is_named_by_what_waits_planned_or_memory_restart() {
        let schedule = crate::core::config::validate(
            "timezone: UTC\nqueries:\n  - {name: q, at: [\"07:00\"]}\nworkers:\n  - name: w\n    match: {image: x}\n    start: {command: [x]}\n",
            || None,
        )
        .unwrap();
        let t = |h| chrono::TimeZone::with_ymd_and_hms(&Utc, 2026, 12, 1, h, 0, 0).unwrap();
        let shown = |memory| {
            let status = Status {
                schedule: "s.yaml".into(),
                now: t(6).to_rfc3339(),
                daemon: None,
                workers: vec![WorkerStatus {
                    name: "w".into(),
                    service: None,
                    running: true,
                    pids: vec![7],
                    since: None,
                    uptime_seconds: None,
                    started_by_pacs_warden: true,
                    last_restart: None,
                    supervision: None,
                    deferred: Some(DeferralRecord {
                        since: t(6),
                        until: t(7),
                        answer: "1 task".into(),
                        deferrals: 2,
                        memory,
                    }),
                    not_ready: None,
                    checks: None,
                    restarting: false,
                }],
                queries: vec![],
                next_restarts: vec![],
                problems: vec![],
                daemon_schedule: None,
                state_error: None,
            };
            render(&schedule, &status)
        };
        let planned = shown(false);
        assert!(planned.contains("  planned restart DEFERRED since 2026-12-01 06:00:00 UTC (2 times; busy: 1 task); restarts by 2026-12-01 07:00:00 UTC at the latest"), "{planned}");
        let memory = shown(true);
        assert!(
            memory.contains("  memory restart DEFERRED since"),
            "{memory}"
        );
        assert!(!memory.contains("planned restart"), "{memory}");
    }

    #[test]
    fn a_state_dir_line_is_read_without_a_parser() {
        let read = |t: &str| super::state_dir_line(t);
        assert_eq!(
            read("a:\tb\nstate_dir: my state # here\n").as_deref(),
            Some("my state")
        );
        assert_eq!(
            read("state_dir: 'D:\\pw # x'\n").as_deref(),
            Some("D:\\pw # x")
        );
        assert_eq!(read("state_dir: \"s\"\n").as_deref(), Some("s"));
        assert_eq!(read("  state_dir: nested\n"), None);
        assert_eq!(read("state_dir:\n"), None);
    }
}
