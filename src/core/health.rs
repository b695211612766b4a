//! `pacs-warden health`: plain facts about a schedule (what the daemon recorded, which
//! processes run, whether the file is valid) classified by the Nagios plugin conventions —
//! OK / WARNING / CRITICAL / UNKNOWN (exit 0 / 1 / 2 / 3), the problems, the figures — and
//! shown as the one monitoring line (`PACS-WARDEN STATE - text | perfdata`).
//!
//! Owns: the rules (which fact is how bad) and the line's text. Does not gather the facts
//! (`shell::health` does, from `shell::status`'s gathering). Pure: facts and the instant in,
//! values out.

use chrono::{DateTime, TimeDelta, Utc};
use serde::Serialize;
use std::fmt::Write as _;

/// A check's result, by the Nagios plugin conventions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum State {
    Ok,
    Warning,
    Critical,
    Unknown,
}

impl State {
    /// The exit status: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.
    pub fn code(self) -> u8 {
        match self {
            State::Ok => 0,
            State::Warning => 1,
            State::Critical => 2,
            State::Unknown => 3,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            State::Ok => "OK",
            State::Warning => "WARNING",
            State::Critical => "CRITICAL",
            State::Unknown => "UNKNOWN",
        }
    }

    /// How bad, for the overall state: CRITICAL > WARNING > UNKNOWN > OK (the order of the
    /// monitoring plugins' `max_state_alt`): a check that knows something is broken says so,
    /// even when it could not read everything.
    fn rank(self) -> u8 {
        match self {
            State::Ok => 0,
            State::Unknown => 1,
            State::Warning => 2,
            State::Critical => 3,
        }
    }
}

/// The schedule file on disk.
#[derive(Debug, Clone, PartialEq)]
pub enum File {
    Valid,
    /// Cannot be read or is invalid (`FILE:LINE:COL: field: message` lines, or why it cannot
    /// be read); the other facts are about the last good version a daemon recorded.
    Invalid {
        problems: Vec<String>,
    },
    /// Cannot be read or is invalid, and no daemon recorded a good version: nothing else is
    /// known.
    Unusable {
        problems: Vec<String>,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Daemon {
    pub pid: u32,
    pub since: DateTime<Utc>,
}

/// What `health` is given: one schedule's state, gathered at `now`.
#[derive(Debug, Clone, PartialEq)]
pub struct Facts {
    pub now: DateTime<Utc>,
    pub file: File,
    /// Why the state directory's record cannot be read (absent is not an error: nothing was
    /// recorded yet).
    pub state_error: Option<String>,
    /// The daemon holding the schedule's lock, if one runs.
    pub daemon: Option<Daemon>,
    /// Why it cannot be told whether a daemon runs (its lock cannot be opened: the check runs
    /// as a user who may not read the state directory); then `daemon` is `None`.
    pub daemon_unknown: Option<String>,
    /// The version of the file the daemon recorded when it loaded it, when the file on disk is
    /// valid but has other text (`None`: the same, or not known).
    pub daemon_runs_other_version: Option<DateTime<Utc>>,
    pub workers: Vec<Worker>,
    /// The queries pacs-warden runs itself.
    pub queries: Vec<Query>,
    pub next_restart: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Worker {
    pub name: String,
    pub running: bool,
    /// A restart sequence holds the worker's lock now (the worker may be down for a moment).
    pub restarting: bool,
    pub last_restart: Option<Restart>,
    pub supervision: Option<Supervision>,
    pub deferred: Option<Deferral>,
    /// The worker runs, but its `ready` command's last answer was a failure (the restart's own
    /// tries, the daemon's probes since, or a counted failure of the periodic `ready.every`
    /// probe).
    pub not_ready: Option<NotReady>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Restart {
    pub began_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    pub ok: bool,
    pub summary: String,
    /// The ready command's last answer, when the restart failed only because the new worker
    /// (which runs) never became ready.
    pub not_ready: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Supervision {
    /// Crash restarts since the daemon started.
    pub restarts: u32,
    pub failures_in_a_row: u32,
    pub last_crash: Option<DateTime<Utc>>,
    pub gave_up: bool,
}

/// A restart deferred while the worker is busy.
#[derive(Debug, Clone, PartialEq)]
pub struct Deferral {
    pub since: DateTime<Utc>,
    /// The restart runs by then at the latest: a planned restart's query's start, or a memory
    /// restart's longest wait.
    pub until: DateTime<Utc>,
    pub answer: String,
    /// A memory restart (`max_memory`), not a planned one.
    pub memory: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct NotReady {
    pub since: DateTime<Utc>,
    pub answer: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    pub name: String,
    pub last_run: Option<QueryRun>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct QueryRun {
    pub finished_at: DateTime<Utc>,
    /// `ok`, `failed`, `timed out`, `not run`, `skipped`, `waiting`, `running` or
    /// `interrupted`.
    pub outcome: String,
    pub summary: String,
    /// A caught-up missed run (`catch_up:`): its planned instant.
    pub catch_up: Option<DateTime<Utc>>,
    /// A run skipped while this one waited or ran: when, and why.
    pub skipped: Option<(DateTime<Utc>, String)>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Problem {
    pub state: State,
    /// One line, with text from files and processes escaped.
    pub text: String,
}

/// The numbers behind the perfdata.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct Figures {
    pub workers: usize,
    pub workers_up: usize,
    pub daemon_pid: Option<u32>,
    /// Seconds until the next planned restart.
    pub next_restart_s: Option<i64>,
    /// How long the most recent restart sequence took, in seconds.
    pub last_restart_s: Option<f64>,
    /// Crash restarts by supervision since the daemon started, all workers.
    pub crash_restarts: u32,
}

/// `health`'s answer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Health {
    pub state: State,
    pub code: u8,
    /// Worst first.
    pub problems: Vec<Problem>,
    /// What is fine but worth a word (a restart running, a deferred restart), for the line.
    #[serde(skip)]
    pub notes: Vec<String>,
    pub figures: Figures,
}

/// Text from a file or a process, safe inside the monitoring line: escaped (no line break, no
/// terminal control), and no `|` (the line's perfdata separator; the conventions have no
/// escape for it).
fn clean(text: &str) -> String {
    crate::core::text::escape(text).replace('|', "/")
}

/// At most `max` characters of `text`, cleaned, with `…` when cut.
fn short(text: &str, max: usize) -> String {
    let text = clean(text);
    if text.chars().count() <= max {
        return text;
    }
    let mut out: String = text.chars().take(max).collect();
    out.push('…');
    out
}

fn hhmm(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

fn problem(state: State, text: String) -> Problem {
    Problem { state, text }
}

/// `N problems: the first` for the schedule file's problems.
fn file_problems(problems: &[String]) -> String {
    match problems {
        [] => "no details".into(),
        [one] => short(one, 200),
        [first, ..] => format!(
            "{} problems, the first: {}",
            problems.len(),
            short(first, 200)
        ),
    }
}

/// Classifies `facts`: every problem with its state, the overall state (the worst), and the
/// figures.
pub fn classify(facts: &Facts) -> Health {
    let mut problems = Vec::new();
    let mut notes = Vec::new();
    match &facts.file {
        File::Valid => {}
        File::Unusable { problems: lines } => {
            problems.push(problem(
                State::Unknown,
                format!("the schedule file cannot be used: {}", file_problems(lines)),
            ));
            return finish(problems, notes, Figures::default());
        }
        File::Invalid { problems: lines } => problems.push(match &facts.daemon {
            Some(_) => problem(
                State::Warning,
                format!(
                    "the daemon rejected the schedule file and runs its last good version ({})",
                    file_problems(lines)
                ),
            ),
            None => problem(
                State::Unknown,
                format!("the schedule file is invalid ({})", file_problems(lines)),
            ),
        }),
    }
    if let Some(why) = &facts.state_error {
        problems.push(problem(
            State::Unknown,
            format!("cannot read the state directory: {}", clean(why)),
        ));
    }
    match (&facts.daemon, &facts.daemon_unknown) {
        (None, Some(why)) => problems.push(problem(
            State::Unknown,
            format!(
                "cannot tell whether the daemon runs ({}); run the check as the daemon's user or an administrator",
                clean(why)
            ),
        )),
        (None, None) => problems.push(problem(State::Critical, "the daemon is not running".into())),
        (Some(_), _) => {
            if let Some(loaded) = facts.daemon_runs_other_version {
                problems.push(problem(
                    State::Warning,
                    format!(
                        "the daemon runs another version of the schedule file (loaded {}), not the file on disk",
                        hhmm(loaded)
                    ),
                ));
            }
        }
    }
    // A record written before the running daemon started is about an earlier daemon: its
    // supervision and deferrals ended with it.
    let current = |at: DateTime<Utc>| facts.daemon.as_ref().is_some_and(|d| at >= d.since);
    for w in &facts.workers {
        let name = clean(&w.name);
        if !w.running {
            // Supervision's record says whether the running daemon gave up on it (a worker
            // started since clears it).
            let gave_up = w
                .supervision
                .as_ref()
                .filter(|s| s.gave_up && facts.daemon.is_some());
            match (w.restarting, gave_up) {
                (true, _) => notes.push(format!("worker {name} is being restarted")),
                (false, Some(s)) => problems.push(problem(
                    State::Critical,
                    format!(
                        "worker {name} is not running: supervision gave up after {} failures in a row",
                        s.failures_in_a_row
                    ),
                )),
                (false, None) => problems.push(problem(
                    State::Critical,
                    format!("worker {name} is not running"),
                )),
            }
        }
        let not_ready = w
            .not_ready
            .as_ref()
            .map(|n| (Some(n.since), n.answer.as_str()));
        match &w.last_restart {
            // Started, runs, but never became ready: the not-ready warning below.
            Some(r) if !r.ok && r.not_ready.is_some() && w.running => {}
            Some(r) if !r.ok && !w.restarting => problems.push(problem(
                State::Critical,
                format!(
                    "the last restart of worker {name} failed ({}): {}",
                    hhmm(r.finished_at),
                    short(&r.summary, 200)
                ),
            )),
            _ => {}
        }
        let not_ready = not_ready.or_else(|| {
            w.last_restart
                .as_ref()
                .filter(|r| !r.ok)
                .and_then(|r| r.not_ready.as_deref())
                .map(|answer| (None, answer))
        });
        if let (true, Some((since, answer))) = (w.running && !w.restarting, not_ready) {
            problems.push(problem(
                State::Warning,
                format!(
                    "worker {name} runs but is not ready{}: {}",
                    since
                        .map(|t| format!(" since {}", hhmm(t)))
                        .unwrap_or_default(),
                    short(answer, 200)
                ),
            ));
        }
        if let Some(d) = w.deferred.as_ref().filter(|d| current(d.since)) {
            let (restart, cap) = if d.memory {
                ("memory restart", "its longest wait")
            } else {
                ("planned restart", "its query's start")
            };
            if facts.now >= d.until {
                problems.push(problem(
                    State::Warning,
                    format!(
                        "the {restart} of worker {name} is deferred past {cap} ({}; busy: {})",
                        hhmm(d.until),
                        short(&d.answer, 120)
                    ),
                ));
            } else {
                notes.push(format!(
                    "the {restart} of worker {name} is deferred while it is busy, until {} at the latest",
                    hhmm(d.until)
                ));
            }
        }
    }
    for q in &facts.queries {
        let Some(run) = &q.last_run else { continue };
        let name = clean(&q.name);
        let caught_up = run
            .catch_up
            .map(|p| format!(" (a catch-up of the missed run planned for {})", hhmm(p)))
            .unwrap_or_default();
        match run.outcome.as_str() {
            "ok" if run.catch_up.is_some() => {
                notes.push(format!("the last run of query {name} was ok{caught_up}"))
            }
            "ok" => {}
            "running" => notes.push(format!("query {name} is running{caught_up}")),
            "waiting" => notes.push(format!(
                "query {name} is waiting for its workers to be ready{caught_up}"
            )),
            "skipped" => problems.push(problem(
                State::Warning,
                format!(
                    "the last run of query {name} was skipped ({}): {}",
                    hhmm(run.finished_at),
                    short(&run.summary, 200)
                ),
            )),
            outcome => problems.push(problem(
                State::Critical,
                format!(
                    "the last run of query {name}{caught_up} {} ({}): {}",
                    match outcome {
                        "failed" => "failed".to_string(),
                        other => format!("failed ({})", clean(other)),
                    },
                    hhmm(run.finished_at),
                    short(&run.summary, 200)
                ),
            )),
        }
        // A run skipped while this one waits or runs (the record keeps the one not over).
        if let Some((at, summary)) = &run.skipped {
            problems.push(problem(
                State::Warning,
                format!(
                    "the last run of query {name} was skipped ({}): {}",
                    hhmm(*at),
                    short(summary, 200)
                ),
            ));
        }
    }
    let last = facts
        .workers
        .iter()
        .filter_map(|w| w.last_restart.as_ref())
        .max_by_key(|r| r.finished_at);
    let figures = Figures {
        workers: facts.workers.len(),
        workers_up: facts.workers.iter().filter(|w| w.running).count(),
        daemon_pid: facts.daemon.as_ref().map(|d| d.pid),
        next_restart_s: facts
            .next_restart
            .map(|t| (t - facts.now).num_seconds().max(0)),
        last_restart_s: last.map(|r| {
            let ms = (r.finished_at - r.began_at)
                .max(TimeDelta::zero())
                .num_milliseconds();
            (ms as f64 / 10.0).round() / 100.0
        }),
        crash_restarts: facts
            .workers
            .iter()
            .filter_map(|w| w.supervision.as_ref())
            .map(|s| s.restarts)
            .sum(),
    };
    finish(problems, notes, figures)
}

fn finish(mut problems: Vec<Problem>, notes: Vec<String>, figures: Figures) -> Health {
    // Worst first; otherwise in the order found.
    problems.sort_by_key(|p| std::cmp::Reverse(p.state.rank()));
    let state = problems.first().map_or(State::Ok, |p| p.state);
    Health {
        state,
        code: state.code(),
        problems,
        notes,
        figures,
    }
}

/// A perfdata label: quoted (`'…'`, a quote inside doubled) when it holds anything but
/// letters, digits, `_`, `-` and `.`; `=` and `'` never appear unquoted.
pub fn perf_label(label: &str) -> String {
    if !label.is_empty()
        && label
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
    {
        label.to_string()
    } else {
        format!("'{}'", clean(label).replace('\'', "''"))
    }
}

/// The perfdata: `label=value[UOM];warn;crit;min;max`, space separated.
pub fn perfdata(f: &Figures) -> String {
    let mut out = String::new();
    let mut item = |label: &str, value: String| {
        if !out.is_empty() {
            out.push(' ');
        }
        let _ = write!(out, "{}={value}", perf_label(label));
    };
    if f.workers > 0 {
        // Critical below all of them (a range `N:` alerts outside N..∞).
        item(
            "workers_up",
            format!("{};;{}:;0;{}", f.workers_up, f.workers, f.workers),
        );
    }
    if let Some(s) = f.next_restart_s {
        item("next_restart_s", s.to_string());
    }
    if let Some(s) = f.last_restart_s {
        item("last_restart_s", format!("{s:.2}"));
    }
    if f.workers > 0 {
        item("crash_restarts", f.crash_restarts.to_string());
    }
    out
}

/// The monitoring line: `PACS-WARDEN STATE - text | perfdata` (no `| …` without figures).
pub fn line(h: &Health) -> String {
    let text = if h.problems.is_empty() {
        let f = &h.figures;
        let mut parts = Vec::new();
        if let Some(pid) = f.daemon_pid {
            parts.push(format!("daemon running (pid {pid})"));
        }
        parts.push(format!("{}/{} workers up", f.workers_up, f.workers));
        if let Some(s) = f.next_restart_s {
            parts.push(format!(
                "next restart in {}",
                crate::core::report::human_span(TimeDelta::seconds(s))
            ));
        }
        parts.extend(h.notes.iter().cloned());
        parts.join(", ")
    } else {
        let mut parts: Vec<&str> = h.problems.iter().map(|p| p.text.as_str()).collect();
        parts.extend(h.notes.iter().map(String::as_str));
        parts.join("; ")
    };
    let perf = perfdata(&h.figures);
    if perf.is_empty() {
        format!("PACS-WARDEN {} - {text}", h.state.name())
    } else {
        format!("PACS-WARDEN {} - {text} | {perf}", h.state.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        format!("2026-03-02T{s}Z").parse().unwrap()
    }

    fn worker(name: &str) -> Worker {
        Worker {
            name: name.into(),
            running: true,
            last_restart: Some(Restart {
                began_at: at("06:00:00"),
                finished_at: at("06:00:01.77"),
                ok: true,
                summary: "was not running; started pid 42".into(),
                not_ready: None,
            }),
            ..Worker::default()
        }
    }

    /// A daemon since 05:00, one worker up and restarted at 06:00, now 06:10, next restart
    /// at 06:23:32.
    fn fine() -> Facts {
        Facts {
            now: at("06:10:00"),
            file: File::Valid,
            state_error: None,
            daemon: Some(Daemon {
                pid: 7,
                since: at("05:00:00"),
            }),
            daemon_unknown: None,
            daemon_runs_other_version: None,
            workers: vec![worker("celery")],
            queries: vec![Query {
                name: "ct".into(),
                last_run: None,
            }],
            next_restart: Some(at("06:23:32")),
        }
    }

    fn check(facts: &Facts) -> (State, String) {
        let h = classify(facts);
        assert_eq!(h.code, h.state.code());
        (h.state, line(&h))
    }

    #[test]
    fn all_fine_is_ok_with_a_summary_and_the_figures() {
        let (state, text) = check(&fine());
        assert_eq!(state, State::Ok);
        assert_eq!(
            text,
            "PACS-WARDEN OK - daemon running (pid 7), 1/1 workers up, next restart in 13m 32s | workers_up=1;;1:;0;1 next_restart_s=812 last_restart_s=1.77 crash_restarts=0"
        );
    }

    #[test]
    fn each_condition_has_its_state() {
        fn ran(outcome: &str) -> Option<QueryRun> {
            Some(QueryRun {
                finished_at: at("06:05:00"),
                outcome: outcome.into(),
                summary: "exit status 1".into(),
                catch_up: None,
                skipped: None,
            })
        }
        type Change = fn(&mut Facts);
        let cases: Vec<(&str, Change, State, &str)> = vec![
            ("no daemon", |f| f.daemon = None, State::Critical, "the daemon is not running"),
            (
                "worker down",
                |f| f.workers[0].running = false,
                State::Critical,
                "worker celery is not running",
            ),
            (
                "gave up",
                |f| {
                    f.workers[0].running = false;
                    f.workers[0].supervision = Some(Supervision {
                        restarts: 2,
                        failures_in_a_row: 3,
                        last_crash: None,
                        gave_up: true,
                    });
                },
                State::Critical,
                "worker celery is not running: supervision gave up after 3 failures in a row",
            ),
            (
                "restart failed",
                |f| {
                    let r = f.workers[0].last_restart.as_mut().unwrap();
                    r.ok = false;
                    r.summary = "[5] survived the kill".into();
                },
                State::Critical,
                "the last restart of worker celery failed (2026-03-02 06:00:01 UTC): [5] survived the kill",
            ),
            (
                "query failed",
                |f| f.queries[0].last_run = ran("failed"),
                State::Critical,
                "the last run of query ct failed (2026-03-02 06:05:00 UTC): exit status 1",
            ),
            (
                "query timed out",
                |f| f.queries[0].last_run = ran("timed out"),
                State::Critical,
                "the last run of query ct failed (timed out) (2026-03-02 06:05:00 UTC): exit status 1",
            ),
            (
                "query skipped",
                |f| f.queries[0].last_run = ran("skipped"),
                State::Warning,
                "the last run of query ct was skipped (2026-03-02 06:05:00 UTC): exit status 1",
            ),
            (
                "not ready (daemon's probes)",
                |f| {
                    f.workers[0].not_ready = Some(NotReady {
                        since: at("06:00:02"),
                        answer: "exit status 69".into(),
                    })
                },
                State::Warning,
                "worker celery runs but is not ready since 2026-03-02 06:00:02 UTC: exit status 69",
            ),
            (
                "not ready (a manual restart's tries)",
                |f| {
                    let r = f.workers[0].last_restart.as_mut().unwrap();
                    r.ok = false;
                    r.not_ready = Some("exit status 69".into());
                },
                State::Warning,
                "worker celery runs but is not ready: exit status 69",
            ),
            (
                "deferred past its query",
                |f| {
                    f.workers[0].deferred = Some(Deferral {
                        since: at("05:45:00"),
                        until: at("06:00:00"),
                        answer: "busy".into(),
                        memory: false,
                    })
                },
                State::Warning,
                "the planned restart of worker celery is deferred past its query's start (2026-03-02 06:00:00 UTC; busy: busy)",
            ),
            (
                "memory restart deferred past its longest wait",
                |f| {
                    f.workers[0].deferred = Some(Deferral {
                        since: at("05:30:00"),
                        until: at("06:00:00"),
                        answer: "busy".into(),
                        memory: true,
                    })
                },
                State::Warning,
                "the memory restart of worker celery is deferred past its longest wait (2026-03-02 06:00:00 UTC; busy: busy)",
            ),
            (
                "rejected edit",
                |f| {
                    f.file = File::Invalid {
                        problems: vec!["s.yaml:3:1: leed: unknown key `leed`".into()],
                    }
                },
                State::Warning,
                "the daemon rejected the schedule file and runs its last good version (s.yaml:3:1: leed: unknown key `leed`)",
            ),
            (
                "another version",
                |f| f.daemon_runs_other_version = Some(at("05:00:00")),
                State::Warning,
                "the daemon runs another version of the schedule file (loaded 2026-03-02 05:00:00 UTC), not the file on disk",
            ),
            (
                "unusable file",
                |f| {
                    f.file = File::Unusable {
                        problems: vec!["s.yaml: cannot read: denied".into(), "x".into()],
                    }
                },
                State::Unknown,
                "the schedule file cannot be used: 2 problems, the first: s.yaml: cannot read: denied",
            ),
            (
                "invalid file, no daemon",
                |f| {
                    f.daemon = None;
                    f.file = File::Invalid {
                        problems: vec!["s.yaml:1:1: x: bad".into()],
                    }
                },
                State::Critical,
                "the daemon is not running; the schedule file is invalid (s.yaml:1:1: x: bad)",
            ),
            (
                "daemon unknown",
                |f| {
                    f.daemon = None;
                    f.daemon_unknown = Some("s.state/daemon.lock: permission denied".into());
                },
                State::Unknown,
                "cannot tell whether the daemon runs (s.state/daemon.lock: permission denied); run the check as the daemon's user or an administrator",
            ),
            (
                "state unreadable",
                |f| f.state_error = Some("expected value at line 1 column 1".into()),
                State::Unknown,
                "cannot read the state directory: expected value at line 1 column 1",
            ),
        ];
        for (what, change, want, text) in cases {
            let mut facts = fine();
            change(&mut facts);
            let (state, line) = check(&facts);
            assert_eq!(state, want, "{what}: {line}");
            let prefix = format!("PACS-WARDEN {} - {text}", want.name());
            assert!(line.starts_with(&prefix), "{what}:\n{line}\n{prefix}");
        }
    }

    #[test]
    fn a_run_skipped_while_the_recorded_one_runs_is_a_warning() {
        let mut facts = fine();
        facts.queries[0].last_run = Some(QueryRun {
            finished_at: at("06:05:00"),
            outcome: "running".into(),
            summary: "running since 06:05".into(),
            catch_up: None,
            skipped: Some((
                at("06:06:00"),
                "skipped: the previous run was still going".into(),
            )),
        });
        let (state, text) = check(&facts);
        assert_eq!(state, State::Warning);
        assert!(
            text.contains("the last run of query ct was skipped (2026-03-02 06:06:00 UTC): skipped: the previous run was still going"),
            "{text}"
        );
        assert!(text.contains("query ct is running"), "{text}");
    }

    #[test]
    fn a_caught_up_run_and_a_running_one_are_noted_not_failures() {
        let mut facts = fine();
        let run = |outcome: &str| QueryRun {
            finished_at: at("06:05:00"),
            outcome: outcome.into(),
            summary: "s".into(),
            catch_up: Some(at("01:00:00")),
            skipped: None,
        };
        facts.queries[0].last_run = Some(run("ok"));
        let (state, text) = check(&facts);
        assert_eq!(state, State::Ok);
        assert!(
            text.contains(
                "the last run of query ct was ok (a catch-up of the missed run planned for 2026-03-02 01:00:00 UTC)"
            ),
            "{text}"
        );
        facts.queries[0].last_run = Some(run("running"));
        let (state, text) = check(&facts);
        assert_eq!(state, State::Ok);
        assert!(text.contains("query ct is running (a catch-up"), "{text}");
        facts.queries[0].last_run = Some(run("waiting"));
        let (state, text) = check(&facts);
        assert_eq!(state, State::Ok);
        assert!(
            text.contains("query ct is waiting for its workers to be ready (a catch-up"),
            "{text}"
        );
        facts.queries[0].last_run = Some(run("interrupted"));
        let (state, text) = check(&facts);
        assert_eq!(state, State::Critical);
        assert!(text.contains("failed (interrupted)"), "{text}");
        facts.queries[0].last_run = Some(run("failed"));
        let (state, text) = check(&facts);
        assert_eq!(state, State::Critical);
        assert!(
            text.contains("the last run of query ct (a catch-up of the missed run planned for 2026-03-02 01:00:00 UTC) failed"),
            "{text}"
        );
    }

    #[test]
    fn the_worst_comes_first_and_sets_the_state() {
        let mut facts = fine();
        facts.queries[0].last_run = Some(QueryRun {
            finished_at: at("06:05:00"),
            outcome: "skipped".into(),
            summary: "s".into(),
            catch_up: None,
            skipped: None,
        });
        facts.state_error = Some("bad json".into());
        facts.workers.push(Worker {
            running: false,
            ..worker("flower")
        });
        let h = classify(&facts);
        assert_eq!(h.state, State::Critical);
        let states: Vec<State> = h.problems.iter().map(|p| p.state).collect();
        assert_eq!(states, [State::Critical, State::Warning, State::Unknown]);
        assert!(line(&h).contains("| workers_up=1;;2:;0;2 "), "{}", line(&h));
    }

    #[test]
    fn records_of_an_earlier_daemon_and_a_running_restart_are_not_problems() {
        let mut facts = fine();
        // A deferral recorded before this daemon started, and one still before its query.
        facts.workers[0].deferred = Some(Deferral {
            since: at("04:00:00"),
            until: at("04:15:00"),
            answer: "busy".into(),
            memory: false,
        });
        assert_eq!(classify(&facts).state, State::Ok);
        facts.workers[0].deferred = Some(Deferral {
            since: at("06:05:00"),
            until: at("06:15:00"),
            answer: "busy".into(),
            memory: false,
        });
        let (state, text) = check(&facts);
        assert_eq!(state, State::Ok);
        assert!(
            text.contains("the planned restart of worker celery is deferred while it is busy, until 2026-03-02 06:15:00 UTC at the latest"),
            "{text}"
        );
        facts.workers[0].deferred.as_mut().unwrap().memory = true;
        let (state, text) = check(&facts);
        assert_eq!(state, State::Ok);
        assert!(
            text.contains("the memory restart of worker celery is deferred while it is busy, until 2026-03-02 06:15:00 UTC at the latest"),
            "{text}"
        );
        // Down for a moment inside a restart sequence.
        facts.workers[0].running = false;
        facts.workers[0].restarting = true;
        let (state, text) = check(&facts);
        assert_eq!(state, State::Ok, "{text}");
        assert!(text.contains("0/1 workers up"), "{text}");
        assert!(text.contains("worker celery is being restarted"), "{text}");
    }

    #[test]
    fn text_from_files_and_processes_cannot_split_the_line_or_its_perfdata() {
        let mut facts = fine();
        facts.workers[0].name = "a|b\n\u{1b}[2J".into();
        facts.workers[0].running = false;
        facts.workers[0].last_restart.as_mut().unwrap().ok = false;
        facts.workers[0].last_restart.as_mut().unwrap().summary = "x | y\r\nz\u{202e}".into();
        let (state, text) = check(&facts);
        assert_eq!(state, State::Critical);
        assert_eq!(text.lines().count(), 1, "{text}");
        assert_eq!(text.matches('|').count(), 1, "{text}");
        assert!(
            !text.chars().any(crate::core::text::needs_escape),
            "{text:?}"
        );
        assert!(
            text.contains(r"worker a/b\n\u{1b}[2J is not running"),
            "{text}"
        );
        assert!(text.contains(r"x / y\r\nz\u{202e}"), "{text}");
    }

    #[test]
    fn perfdata_labels_follow_the_plugin_guidelines() {
        assert_eq!(perf_label("workers_up"), "workers_up");
        assert_eq!(perf_label("up w 1"), "'up w 1'");
        assert_eq!(perf_label("it's=1"), "'it''s=1'");
        assert_eq!(perf_label(""), "''");
        // No figures, no `|`.
        let h = classify(&Facts {
            file: File::Unusable {
                problems: vec!["s.yaml: cannot read".into()],
            },
            ..fine()
        });
        assert_eq!(
            line(&h),
            "PACS-WARDEN UNKNOWN - the schedule file cannot be used: s.yaml: cannot read"
        );
        assert_eq!(h.code, 3);
    }
}
