//! Checking a parsed schedule file and building the `Schedule` from it.
//!
//! Owns: every rule about which keys exist, what their values may be, and the message a person
//! gets when one is wrong. Collects all problems instead of stopping at the first, and the
//! warnings about valid but doubtful values (a `match` without `args_contain`). Pure: the
//! machine's zone comes in as a function so tests choose it; what can only be checked on the
//! machine (paths, programs, the zone's DST) is noted in `Facts` for `machine.rs`.

use super::facts::{Facts, PathKind, PathRef};
use super::yaml::{self, Key, Node, Pos, Value};
use super::{
    AlertSpec, BusySpec, Days, Diagnostic, IdleWhen, LogSpec, Overlap, ProcessMatch, Query,
    QueryRun, ReadySpec, Rotation, Schedule, StartSpec, StopSignal, StopSpec, SuperviseSpec, When,
    Worker, ZoneSource,
};
use crate::core::cron::CronSpec;
use chrono::{NaiveTime, Weekday};
use chrono_tz::Tz;
use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

pub const DEFAULT_LEAD: Duration = Duration::from_secs(15 * 60);
pub const DEFAULT_GRACE: Duration = Duration::from_secs(10);
pub const DEFAULT_READY_TIMEOUT: Duration = Duration::from_secs(60);
/// Lead and merge window are bounded so that a restart stays within a day of its query.
const MAX_WINDOW: Duration = Duration::from_secs(24 * 3600);

const TOP_KEYS: &[&str] = &[
    "timezone",
    "lead",
    "merge_within",
    "queries",
    "workers",
    "state_dir",
    "restart_at_boot",
    "log",
    "alert",
];
const ALERT_KEYS: &[&str] = &["command"];
const LOG_KEYS: &[&str] = &["file", "rotation", "keep", "level"];
const QUERY_KEYS: &[&str] = &[
    "name",
    "cron",
    "at",
    "days",
    "workers",
    "command",
    "workdir",
    "env",
    "timeout",
    "log",
    "overlap",
    "ready_wait",
];
/// The keys that only make sense with a query's `command`.
const QUERY_RUN_KEYS: &[&str] = &["workdir", "env", "timeout", "log", "overlap", "ready_wait"];
const WORKER_KEYS: &[&str] = &[
    "name",
    "workdir",
    "env",
    "match",
    "pidfile",
    "stop",
    "start",
    "ready",
    "supervise",
    "restart_before_queries",
    "busy",
];
const BUSY_KEYS: &[&str] = &["command", "idle_when", "every"];
const SUPERVISE_KEYS: &[&str] = &["backoff", "max_backoff", "give_up_after", "stable_after"];
const MATCH_KEYS: &[&str] = &["image", "args_contain"];
const STOP_KEYS: &[&str] = &["command", "signal", "grace", "repeat"];
const START_KEYS: &[&str] = &["command", "log"];
const READY_KEYS: &[&str] = &["command", "timeout"];

/// Validates the text of a schedule file. `machine_zone` is asked only when the file has no
/// `timezone:`. The schedule's `warnings` are those this text alone shows.
pub fn validate(
    text: &str,
    machine_zone: impl FnOnce() -> Option<(Tz, &'static str)>,
) -> Result<Schedule, Vec<Diagnostic>> {
    validate_noting(text, machine_zone).0
}

/// `validate`, and what `machine::check` needs to look at on this machine (even when the file
/// is invalid, so that every problem is reported at once).
pub fn validate_noting(
    text: &str,
    machine_zone: impl FnOnce() -> Option<(Tz, &'static str)>,
) -> (Result<Schedule, Vec<Diagnostic>>, Facts) {
    let root = match yaml::parse(text) {
        Ok(root) => root,
        Err(e) => {
            let problem = Diagnostic::error(e.pos.line, e.pos.col, Some("yaml"), e.message);
            return (Err(vec![problem]), Facts::default());
        }
    };
    let mut cx = Checker::default();
    let schedule = cx.schedule(&root, machine_zone);
    let result = match schedule {
        Some(mut s) if cx.problems.is_empty() => {
            cx.warnings.sort_by_key(|p| (p.line, p.col));
            s.warnings = cx.warnings;
            Ok(s)
        }
        _ => {
            cx.problems.sort_by_key(|p| (p.line, p.col));
            Err(cx.problems)
        }
    };
    (result, cx.facts)
}

#[derive(Default)]
struct Checker {
    problems: Vec<Diagnostic>,
    warnings: Vec<Diagnostic>,
    facts: Facts,
}

/// A mapping's entries, looked up by key.
struct Map<'a> {
    entries: &'a [(Key, Node)],
    pos: Pos,
}

impl<'a> Map<'a> {
    fn get(&self, key: &str) -> Option<&'a Node> {
        self.entries
            .iter()
            .find(|(k, _)| k.text == key)
            .map(|(_, v)| v)
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

impl Checker {
    fn problem(&mut self, pos: Pos, field: &str, message: impl Into<String>) {
        self.problems.push(Diagnostic::error(
            pos.line,
            pos.col,
            Some(field),
            message.into(),
        ));
    }

    /// A doubtful but valid value: printed as `field: warning: message`, exit status 0.
    fn warn(&mut self, pos: Pos, field: &str, message: impl Into<String>) {
        self.warnings.push(Diagnostic::warning(
            pos.line,
            pos.col,
            Some(field),
            message.into(),
        ));
    }

    /// Notes a path or program for `machine::check`.
    fn note(&mut self, pos: Pos, field: &str, kind: PathKind) {
        self.facts.paths.push(PathRef {
            pos,
            field: field.to_string(),
            kind,
        });
    }

    /// `node` as a mapping whose keys are all in `allowed`; unknown keys are reported.
    fn map<'a>(&mut self, node: &'a Node, field: &str, allowed: &[&str]) -> Option<Map<'a>> {
        let Value::Map(entries) = &node.value else {
            self.problem(
                node.pos,
                field,
                format!(
                    "expected a mapping with keys {}, found {}",
                    allowed.join(", "),
                    node.kind()
                ),
            );
            return None;
        };
        for (key, _) in entries {
            if !allowed.contains(&key.text.as_str()) {
                self.problem(
                    key.pos,
                    &join(field, &key.text),
                    format!(
                        "unknown key `{}`; allowed keys here: {}",
                        key.text,
                        allowed.join(", ")
                    ),
                );
            }
        }
        Some(Map {
            entries,
            // A block mapping's own position is where its first value starts; its first key is
            // where a person looks for it.
            pos: entries.first().map_or(node.pos, |(k, _)| k.pos),
        })
    }

    fn required<'a>(&mut self, map: &Map<'a>, key: &str, field: &str) -> Option<&'a Node> {
        let node = map.get(key);
        if node.is_none() {
            self.problem(map.pos, &join(field, key), format!("`{key}` is required"));
        }
        node
    }

    /// A non-empty string.
    /// A query's or worker's name: text without control or invisible formatting characters
    /// (a name is printed in logs, alerts, `status` and file names).
    fn name<'a>(&mut self, node: &'a Node, field: &str) -> Option<&'a str> {
        let name = self.string(node, field, "a non-empty name")?;
        if matches!(crate::core::text::escape(name), std::borrow::Cow::Owned(_)) {
            self.problem(
                node.pos,
                field,
                format!(
                    "`{}` holds control or invisible characters; use letters, digits, `-` and `_`",
                    crate::core::text::escape(name)
                ),
            );
            return None;
        }
        Some(name)
    }

    fn string<'a>(&mut self, node: &'a Node, field: &str, what: &str) -> Option<&'a str> {
        match node.as_scalar() {
            Some(s) if !s.trim().is_empty() => Some(s),
            _ => {
                self.problem(
                    node.pos,
                    field,
                    format!("expected {what}, found {}", node.kind()),
                );
                None
            }
        }
    }

    fn seq<'a>(&mut self, node: &'a Node, field: &str, what: &str) -> Option<&'a [Node]> {
        match &node.value {
            Value::Seq(items) => Some(items),
            _ => {
                self.problem(
                    node.pos,
                    field,
                    format!("expected a list of {what}, found {}", node.kind()),
                );
                None
            }
        }
    }

    fn duration(&mut self, node: &Node, field: &str) -> Option<Duration> {
        let text = self.string(node, field, "a duration such as 15m, 1h 30m or 90s")?;
        match parse_duration(text) {
            Ok(d) => Some(d),
            Err(_) if !text.is_empty() && text.trim().bytes().all(|b| b.is_ascii_digit()) => {
                let n = text.trim();
                let (unit, word) = likely_unit(field);
                self.problem(
                    node.pos,
                    field,
                    format!(
                        "`{n}` has no time unit; write `{n}{unit}` for {n} {word} (units: s, m, h, \
                         e.g. 90s, 15m, 1h 30m)"
                    ),
                );
                None
            }
            Err(why) => {
                self.problem(
                    node.pos,
                    field,
                    format!("`{text}` is not a duration ({why}); write e.g. 15m, 1h 30m, 90s or 0"),
                );
                None
            }
        }
    }

    fn path(&mut self, node: &Node, field: &str) -> Option<PathBuf> {
        let text = self.string(node, field, "a path")?;
        if has_control(text) {
            self.problem(node.pos, field, control_message(text));
            return None;
        }
        Some(PathBuf::from(text))
    }

    /// An argument list: a non-empty list of strings, run directly (never through a shell).
    fn command(&mut self, node: &Node, field: &str) -> Option<Vec<String>> {
        if let Some(s) = node.as_scalar() {
            self.problem(
                node.pos,
                field,
                format!(
                    "expected a list of arguments such as [celery, -A, openremproject, …], found \
                     the string `{s}`; commands are run directly, never through a shell, so \
                     write each argument as its own list item"
                ),
            );
            return None;
        }
        let items = self.seq(node, field, "arguments")?;
        if items.is_empty() {
            self.problem(
                node.pos,
                field,
                "the command is empty; give the program and its arguments",
            );
            return None;
        }
        let mut args = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let f = format!("{field}[{i}]");
            match item.as_scalar() {
                // A program path with a control character cannot be right; an argument may
                // hold one on purpose (a script for `python -c`), unless it looks like a path.
                Some(s) if i == 0 && has_control(s) => {
                    self.problem(item.pos, &f, control_message(s))
                }
                Some(s) if i > 0 || !s.trim().is_empty() => {
                    if i > 0 && has_control(s) && looks_like_windows_path(s) {
                        self.warn(item.pos, &f, control_message(s));
                    }
                    args.push(s.to_string())
                }
                Some(_) => self.problem(item.pos, &f, "the program name is empty"),
                None => self.problem(
                    item.pos,
                    &f,
                    format!("expected an argument string, found {}", item.kind()),
                ),
            }
        }
        if args.len() != items.len() {
            return None;
        }
        // The directory and environment it runs with are filled in by the worker or query
        // that owns the command (`fill_programs`).
        self.note(
            items[0].pos,
            field,
            PathKind::Program {
                command: args.clone(),
                workdir: None,
                path_var: None,
            },
        );
        Some(args)
    }

    /// Gives the commands noted since `first` the workdir and `PATH` they run with.
    fn fill_programs(&mut self, first: usize, dir: Option<&PathBuf>, env: &[(String, String)]) {
        let path = env
            .iter()
            .find(|(k, _)| k == "PATH" || (cfg!(windows) && k.eq_ignore_ascii_case("PATH")))
            .map(|(_, v)| v.clone());
        for r in &mut self.facts.paths[first..] {
            if let PathKind::Program {
                workdir, path_var, ..
            } = &mut r.kind
            {
                *workdir = dir.cloned();
                *path_var = path.clone();
            }
        }
    }

    fn schedule(
        &mut self,
        root: &Node,
        machine_zone: impl FnOnce() -> Option<(Tz, &'static str)>,
    ) -> Option<Schedule> {
        let top = self.map(root, "", TOP_KEYS)?;

        let zone = match top.get("timezone") {
            Some(node) => self
                .string(
                    node,
                    "timezone",
                    "an IANA time zone name such as Europe/London",
                )
                .and_then(|name| match name.parse::<Tz>() {
                    Ok(tz) => {
                        self.facts.zone = Some((node.pos, tz));
                        Some((tz, ZoneSource::File))
                    }
                    Err(_) => {
                        self.problem(node.pos, "timezone", unknown_zone(name));
                        None
                    }
                }),
            None => match machine_zone() {
                Some((tz, how)) => Some((tz, ZoneSource::Machine(how))),
                None => {
                    self.problem(
                        top.pos,
                        "timezone",
                        "this machine's time zone could not be determined; add `timezone:` \
                         with an IANA name such as Europe/London",
                    );
                    None
                }
            },
        };

        let lead = self.window(&top, "lead", DEFAULT_LEAD);
        let merge_within = match top.get("merge_within") {
            Some(_) => self.window(&top, "merge_within", DEFAULT_LEAD),
            None => lead,
        };

        let workers = match top.get("workers") {
            Some(node) => self.workers(node),
            None => Some(Vec::new()),
        };

        let queries = self
            .required(&top, "queries", "")
            .and_then(|node| self.queries(node, workers.as_deref().unwrap_or(&[])));

        let state_dir = top
            .get("state_dir")
            .map(|n| self.path(n, "state_dir"))
            .transpose_all();
        self.facts.state_dir = top.get("state_dir").map_or(top.pos, |n| n.pos);

        let restart_at_boot = match top.get("restart_at_boot") {
            None => Some(true),
            Some(n) => self.boolean(n, "restart_at_boot"),
        };
        let log = top.get("log").map(|n| self.log(n)).transpose_all();
        if let (Some(Some(l)), Some(n)) = (&log, top.get("log")) {
            let pos = match &n.value {
                Value::Map(entries) => entries
                    .iter()
                    .find(|(k, _)| k.text == "file")
                    .map_or(n.pos, |(_, v)| v.pos),
                _ => n.pos,
            };
            let kind = PathKind::Parent {
                path: l.file.clone(),
                what: "log file",
            };
            self.note(pos, "log.file", kind);
        }
        let alert = top
            .get("alert")
            .map(|n| {
                let m = self.map(n, "alert", ALERT_KEYS)?;
                let command = self
                    .required(&m, "command", "alert")
                    .and_then(|c| self.command(c, "alert.command"))?;
                Some(AlertSpec { command })
            })
            .transpose_all();

        let (timezone, timezone_source) = zone?;
        Some(Schedule {
            timezone,
            timezone_source,
            lead: lead?,
            merge_within: merge_within?,
            queries: queries?,
            workers: workers?,
            state_dir: state_dir?,
            restart_at_boot: restart_at_boot?,
            log: log?,
            alert: alert?,
            path: PathBuf::new(),
            base_dir: PathBuf::from("."),
            warnings: Vec::new(),
        })
    }

    fn boolean(&mut self, node: &Node, field: &str) -> Option<bool> {
        match node.as_scalar().map(str::to_ascii_lowercase).as_deref() {
            Some("true" | "yes" | "on") => Some(true),
            Some("false" | "no" | "off") => Some(false),
            _ => {
                self.problem(
                    node.pos,
                    field,
                    format!("expected true or false, found {}", describe(node)),
                );
                None
            }
        }
    }

    /// `supervise: true | false | {backoff, max_backoff, give_up_after, stable_after}`.
    fn supervise(&mut self, node: &Node, field: &str) -> Option<Option<SuperviseSpec>> {
        if node.as_scalar().is_some() {
            return self
                .boolean(node, field)
                .map(|on| on.then(SuperviseSpec::default));
        }
        let m = self.map(node, field, SUPERVISE_KEYS)?;
        let mut spec = SuperviseSpec::default();
        let mut ok = true;
        for (key, slot) in [
            ("backoff", &mut spec.backoff),
            ("max_backoff", &mut spec.max_backoff),
            ("stable_after", &mut spec.stable_after),
        ] {
            if let Some(n) = m.get(key) {
                match self.duration(n, &join(field, key)) {
                    Some(d) if !d.is_zero() => *slot = d,
                    Some(_) => {
                        self.problem(n.pos, &join(field, key), "must be more than 0");
                        ok = false;
                    }
                    None => ok = false,
                }
            }
        }
        if let Some(n) = m.get("give_up_after") {
            match n.as_scalar().and_then(|v| v.parse::<u32>().ok()) {
                Some(v) if v >= 1 => spec.give_up_after = v,
                _ => {
                    self.problem(
                        n.pos,
                        &join(field, "give_up_after"),
                        format!(
                            "expected a number of failures, at least 1, found {}",
                            describe(n)
                        ),
                    );
                    ok = false;
                }
            }
        }
        ok.then_some(Some(spec))
    }

    fn stop_signal(&mut self, node: &Node, field: &str) -> Option<StopSignal> {
        if cfg!(windows) {
            self.problem(
                node.pos,
                field,
                "signals are not available on Windows; use stop.command (and grace)",
            );
            return None;
        }
        let text = node.as_scalar().unwrap_or_default().to_ascii_uppercase();
        match text.trim_start_matches("SIG") {
            "TERM" => Some(StopSignal::Term),
            "INT" => Some(StopSignal::Int),
            "QUIT" => Some(StopSignal::Quit),
            "HUP" => Some(StopSignal::Hup),
            _ => {
                self.problem(
                    node.pos,
                    field,
                    format!("expected TERM, INT, QUIT or HUP, found {}", describe(node)),
                );
                None
            }
        }
    }

    fn log(&mut self, node: &Node) -> Option<LogSpec> {
        let map = self.map(node, "log", LOG_KEYS)?;
        let file = self
            .required(&map, "file", "log")
            .and_then(|n| self.path(n, "log.file"));
        let rotation = match map.get("rotation") {
            None => Some(Rotation::Daily),
            Some(n) => match n.as_scalar().map(str::to_ascii_lowercase).as_deref() {
                Some("daily") => Some(Rotation::Daily),
                Some("hourly") => Some(Rotation::Hourly),
                Some("never") => Some(Rotation::Never),
                _ => {
                    self.problem(
                        n.pos,
                        "log.rotation",
                        format!("expected daily, hourly or never, found {}", describe(n)),
                    );
                    None
                }
            },
        };
        let keep = match map.get("keep") {
            None => Some(14),
            Some(n) => match n.as_scalar().and_then(|s| s.parse::<usize>().ok()) {
                Some(k) if k >= 1 => Some(k),
                _ => {
                    self.problem(
                        n.pos,
                        "log.keep",
                        format!(
                            "expected a number of files, at least 1, found {}",
                            describe(n)
                        ),
                    );
                    None
                }
            },
        };
        let level = match map.get("level") {
            None => Some(None),
            Some(n) => self.string(n, "log.level", "a level such as info or debug").and_then(|l| {
                match super::parse_log_filter(l) {
                    Ok(_) => Some(Some(l.to_string())),
                    Err(e) => {
                        self.problem(
                            n.pos,
                            "log.level",
                            format!("`{l}` is not a log level or filter ({e}); use error, warn, info, debug or trace"),
                        );
                        None
                    }
                }
            }),
        };
        Some(LogSpec {
            file: file?,
            rotation: rotation?,
            keep: keep?,
            level: level?,
        })
    }

    /// `lead` or `merge_within`: a duration of at most 24 hours.
    fn window(&mut self, top: &Map<'_>, key: &str, default: Duration) -> Option<Duration> {
        let Some(node) = top.get(key) else {
            return Some(default);
        };
        let d = self.duration(node, key)?;
        if d > MAX_WINDOW {
            self.problem(
                node.pos,
                key,
                format!(
                    "`{}` is too long; at most 24h is allowed",
                    node.as_scalar().unwrap_or_default()
                ),
            );
            return None;
        }
        Some(d)
    }

    fn queries(&mut self, node: &Node, workers: &[Worker]) -> Option<Vec<Query>> {
        let items = self.seq(node, "queries", "queries (each with a name and cron or at)")?;
        if items.is_empty() {
            self.problem(
                node.pos,
                "queries",
                "the schedule has no queries; add at least one with a name and cron or at",
            );
            return None;
        }
        let mut seen: HashMap<&str, usize> = HashMap::new();
        let mut out = Vec::new();
        let mut ok = true;
        for (i, item) in items.iter().enumerate() {
            let field = format!("queries[{i}]");
            // Names are compared even when the rest of a query is wrong.
            if let Some((key, name)) = name_of(item) {
                if let Some(line) = seen.get(name) {
                    self.problem(
                        key,
                        &format!("{field}.name"),
                        format!(
                            "duplicate query name `{name}` (also used at line {line}); names must be unique"
                        ),
                    );
                    ok = false;
                } else {
                    seen.insert(name, key.line);
                }
            }
            match self.query(item, &field, workers) {
                Some(q) => out.push(q),
                None => ok = false,
            }
        }
        ok.then_some(out)
    }

    fn query(&mut self, node: &Node, field: &str, workers: &[Worker]) -> Option<Query> {
        let map = self.map(node, field, QUERY_KEYS)?;
        let first_note = self.facts.paths.len();
        let name = self
            .required(&map, "name", field)
            .and_then(|n| self.name(n, &join(field, "name")))
            .map(str::to_string);

        let when = match (map.get("cron"), map.get("at")) {
            (Some(_), Some(at)) => {
                self.problem(at.pos, field, "a query has either `cron` or `at`, not both");
                None
            }
            (None, None) => {
                self.problem(
                    map.pos,
                    field,
                    "a query needs `cron` (a crontab expression) or `at` (daily times); found neither",
                );
                None
            }
            (Some(cron), None) => {
                if let Some(days) = map.get("days") {
                    self.problem(
                        days.pos,
                        &join(field, "days"),
                        "`days` goes with `at`; with `cron`, put the days in its day-of-week field",
                    );
                }
                let f = join(field, "cron");
                self.string(cron, &f, "a crontab expression such as \"30 6 * * 1-5\"")
                    .and_then(|text| match CronSpec::parse(text) {
                        Ok(spec) if !spec.ever_matches() => {
                            self.problem(
                                cron.pos,
                                &f,
                                format!("`{text}` never runs: no date has that day and month"),
                            );
                            None
                        }
                        Ok(spec) => Some(When::Cron(spec)),
                        Err(e) => {
                            self.problem(cron.pos, &f, format!("`{text}`: {e}"));
                            None
                        }
                    })
            }
            (None, Some(at)) => {
                let times = self.at_times(at, &join(field, "at"));
                let days = match map.get("days") {
                    Some(days) => self.days(days, &join(field, "days")),
                    None => Some(Days::ALL),
                };
                Some(When::At {
                    times: times?,
                    days: days?,
                })
            }
        };

        let needs = match map.get("workers") {
            None => Some((0..workers.len()).collect()),
            Some(list) => self.worker_refs(list, &join(field, "workers"), workers),
        };
        let run = match map.get("command") {
            None => {
                for key in QUERY_RUN_KEYS {
                    if let Some(n) = map.get(key) {
                        self.problem(
                            n.pos,
                            &join(field, key),
                            format!(
                                "`{key}` goes with `command` (a query pacs-warden runs itself)"
                            ),
                        );
                    }
                }
                Some(None)
            }
            Some(c) => {
                let command = self.command(c, &join(field, "command"));
                let workdir = map
                    .get("workdir")
                    .map(|n| self.path(n, &join(field, "workdir")))
                    .transpose_all();
                let env = match map.get("env") {
                    None => Some(Vec::new()),
                    Some(n) => self.env(n, &join(field, "env")),
                };
                let timeout = match map.get("timeout") {
                    None => Some(Duration::from_secs(12 * 3600)),
                    Some(n) => self.duration(n, &join(field, "timeout")),
                };
                let ready_wait = match map.get("ready_wait") {
                    None => Some(Duration::from_secs(15 * 60)),
                    Some(n) => self.duration(n, &join(field, "ready_wait")),
                };
                let log = map
                    .get("log")
                    .map(|n| self.path(n, &join(field, "log")))
                    .transpose_all();
                let overlap = match map.get("overlap") {
                    None => Some(Overlap::Skip),
                    Some(n) => match n.as_scalar() {
                        Some("skip") => Some(Overlap::Skip),
                        Some("wait") => Some(Overlap::Wait),
                        _ => {
                            self.problem(
                                n.pos,
                                &join(field, "overlap"),
                                format!("expected skip or wait, found {}", describe(n)),
                            );
                            None
                        }
                    },
                };
                let dir = workdir.clone().flatten();
                self.fill_programs(first_note, dir.as_ref(), env.as_deref().unwrap_or(&[]));
                self.note_paths(&map, field, &[("workdir", None), ("log", Some("log file"))]);
                (|| {
                    Some(Some(QueryRun {
                        command: command?,
                        workdir: workdir?,
                        env: env?,
                        timeout: timeout?,
                        log: log?,
                        overlap: overlap?,
                        ready_wait: ready_wait?,
                    }))
                })()
            }
        };
        Some(Query {
            name: name?,
            when: when?,
            workers: needs?,
            run: run?,
        })
    }

    fn at_times(&mut self, node: &Node, field: &str) -> Option<Vec<NaiveTime>> {
        let items: Vec<&Node> = match &node.value {
            Value::Scalar(_) => vec![node],
            Value::Seq(items) if !items.is_empty() => items.iter().collect(),
            _ => {
                self.problem(
                    node.pos,
                    field,
                    format!(
                        "expected a list of times such as [\"06:30\", \"18:00:30\"], found {}",
                        node.kind()
                    ),
                );
                return None;
            }
        };
        let mut times = Vec::new();
        let mut ok = true;
        for (i, item) in items.iter().enumerate() {
            let f = if matches!(node.value, Value::Seq(_)) {
                format!("{field}[{i}]")
            } else {
                field.to_string()
            };
            let parsed = item.as_scalar().and_then(parse_time_of_day);
            match parsed {
                Some(t) => times.push(t),
                None => {
                    self.problem(
                        item.pos,
                        &f,
                        format!(
                            "`{}` is not a time of day; write HH:MM or HH:MM:SS in 24-hour time, \
                             00:00 to 23:59:59",
                            item.as_scalar().unwrap_or("")
                        ),
                    );
                    ok = false;
                }
            }
        }
        times.sort();
        times.dedup();
        ok.then_some(times)
    }

    fn days(&mut self, node: &Node, field: &str) -> Option<Days> {
        let items = self.seq(node, field, "weekdays such as [mon, wed, fri]")?;
        if items.is_empty() {
            self.problem(
                node.pos,
                field,
                "the list of days is empty; leave `days` out to mean every day",
            );
            return None;
        }
        let mut days = Days::empty();
        let mut ok = true;
        for (i, item) in items.iter().enumerate() {
            match item.as_scalar().and_then(parse_weekday) {
                Some(day) => days.insert(day),
                None => {
                    self.problem(
                        item.pos,
                        &format!("{field}[{i}]"),
                        format!(
                            "`{}` is not a weekday; allowed: mon, tue, wed, thu, fri, sat, sun",
                            item.as_scalar().unwrap_or(item.kind())
                        ),
                    );
                    ok = false;
                }
            }
        }
        ok.then_some(days)
    }

    fn worker_refs(&mut self, node: &Node, field: &str, workers: &[Worker]) -> Option<Vec<usize>> {
        let items = self.seq(node, field, "worker names")?;
        let mut out = Vec::new();
        let mut ok = true;
        for (i, item) in items.iter().enumerate() {
            let f = format!("{field}[{i}]");
            let Some(name) = self.string(item, &f, "a worker name") else {
                ok = false;
                continue;
            };
            match workers.iter().position(|w| w.name == name) {
                Some(w) if !out.contains(&w) => out.push(w),
                Some(_) => {}
                None => {
                    let known: Vec<&str> = workers.iter().map(|w| w.name.as_str()).collect();
                    self.problem(
                        item.pos,
                        &f,
                        if known.is_empty() {
                            format!("unknown worker `{name}`; the file defines no workers")
                        } else {
                            format!(
                                "unknown worker `{name}`; workers defined: {}",
                                known.join(", ")
                            )
                        },
                    );
                    ok = false;
                }
            }
        }
        ok.then_some(out)
    }

    fn workers(&mut self, node: &Node) -> Option<Vec<Worker>> {
        let items = self.seq(node, "workers", "workers")?;
        let mut out: Vec<Worker> = Vec::new();
        let mut ok = true;
        for (i, item) in items.iter().enumerate() {
            let field = format!("workers[{i}]");
            match self.worker(item, &field) {
                Some(w) => {
                    if out.iter().any(|o| o.name == w.name) {
                        self.problem(
                            name_of(item).map_or(item.pos, |(pos, _)| pos),
                            &join(&field, "name"),
                            format!("duplicate worker name `{}`; names must be unique", w.name),
                        );
                        ok = false;
                    }
                    out.push(w);
                }
                None => ok = false,
            }
        }
        ok.then_some(out)
    }

    fn worker(&mut self, node: &Node, field: &str) -> Option<Worker> {
        let map = self.map(node, field, WORKER_KEYS)?;
        let first_note = self.facts.paths.len();
        let name = self
            .required(&map, "name", field)
            .and_then(|n| self.name(n, &join(field, "name")))
            .map(str::to_string);
        let workdir = map
            .get("workdir")
            .map(|n| self.path(n, &join(field, "workdir")));
        let pidfile = map
            .get("pidfile")
            .map(|n| self.path(n, &join(field, "pidfile")));
        let env = match map.get("env") {
            None => Some(Vec::new()),
            Some(n) => self.env(n, &join(field, "env")),
        };

        let matcher = self.required(&map, "match", field).and_then(|n| {
            let f = join(field, "match");
            let m = self.map(n, &f, MATCH_KEYS)?;
            let image = self
                .required(&m, "image", &f)
                .and_then(|i| {
                    self.string(i, &join(&f, "image"), "a process image name such as celery")
                })
                .map(|s| s.to_string());
            let args_contain = match m.get("args_contain") {
                None => Some(Vec::new()),
                Some(a) => self.strings(a, &join(&f, "args_contain")),
            };
            let (image, args_contain) = (image?, args_contain?);
            if args_contain.is_empty() {
                self.warn(
                    m.pos,
                    &f,
                    format!(
                        "no `args_contain`: every `{image}` process on this machine counts as \
                         this worker (Flower, other workers of the same program) and a restart \
                         stops them all; add `args_contain` with text only this worker's \
                         command line has, such as its node name (`-n default`)"
                    ),
                );
            }
            Some(ProcessMatch {
                image,
                args_contain,
            })
        });

        let stop = match map.get("stop") {
            None => Some(StopSpec {
                command: None,
                signal: None,
                grace: super::DEFAULT_GRACE,
                repeat: None,
            }),
            Some(n) => {
                let f = join(field, "stop");
                self.map(n, &f, STOP_KEYS).and_then(|m| {
                    let command = m
                        .get("command")
                        .map(|c| self.command(c, &join(&f, "command")));
                    let grace = match m.get("grace") {
                        None => Some(super::DEFAULT_GRACE),
                        Some(g) => self.duration(g, &join(&f, "grace")),
                    };
                    let repeat = match m.get("repeat") {
                        None => Some(None),
                        Some(r) => match self.duration(r, &join(&f, "repeat")) {
                            Some(d) if d.is_zero() => {
                                self.problem(r.pos, &join(&f, "repeat"), "must be more than 0; leave it out to send the stop command once");
                                None
                            }
                            Some(d) => Some(Some(d)),
                            None => None,
                        },
                    };
                    let signal = match m.get("signal") {
                        None => Some(None),
                        Some(n) => self.stop_signal(n, &join(&f, "signal")).map(Some),
                    };
                    Some(StopSpec {
                        command: command.transpose_all()?,
                        signal: signal?,
                        grace: grace?,
                        repeat: repeat?,
                    })
                })
            }
        };

        let start = self.required(&map, "start", field).and_then(|n| {
            let f = join(field, "start");
            let m = self.map(n, &f, START_KEYS)?;
            let command = self
                .required(&m, "command", &f)
                .and_then(|c| self.command(c, &join(&f, "command")));
            let log = m.get("log").map(|l| self.path(l, &join(&f, "log")));
            self.note_paths(&m, &f, &[("log", Some("log file"))]);
            Some(StartSpec {
                command: command?,
                log: log.transpose_all()?,
            })
        });

        let ready = match map.get("ready") {
            None => Some(None),
            Some(n) => {
                let f = join(field, "ready");
                self.map(n, &f, READY_KEYS).and_then(|m| {
                    let command = self
                        .required(&m, "command", &f)
                        .and_then(|c| self.command(c, &join(&f, "command")));
                    let timeout = match m.get("timeout") {
                        None => Some(super::DEFAULT_READY_TIMEOUT),
                        Some(t) => self.duration(t, &join(&f, "timeout")),
                    };
                    Some(Some(ReadySpec {
                        command: command?,
                        timeout: timeout?,
                    }))
                })
            }
        };

        let busy = match map.get("busy") {
            None => Some(None),
            Some(n) => {
                let f = join(field, "busy");
                self.map(n, &f, BUSY_KEYS).and_then(|m| {
                    let command = self
                        .required(&m, "command", &f)
                        .and_then(|c| self.command(c, &join(&f, "command")));
                    let idle_when = match m.get("idle_when") {
                        None => Some(IdleWhen::ExitZero),
                        Some(v) => match v.as_scalar() {
                            Some("exit-zero") => Some(IdleWhen::ExitZero),
                            Some("celery-active-empty") => Some(IdleWhen::CeleryActiveEmpty),
                            _ => {
                                self.problem(
                                    v.pos,
                                    &join(&f, "idle_when"),
                                    format!(
                                        "expected exit-zero or celery-active-empty, found {}",
                                        describe(v)
                                    ),
                                );
                                None
                            }
                        },
                    };
                    let every = match m.get("every") {
                        None => Some(Duration::from_secs(30)),
                        Some(e) => self
                            .duration(e, &join(&f, "every"))
                            .filter(|d| !d.is_zero()),
                    };
                    Some(Some(BusySpec {
                        command: command?,
                        idle_when: idle_when?,
                        every: every?,
                    }))
                })
            }
        };
        let supervise = match map.get("supervise") {
            None => Some(Some(SuperviseSpec::default())),
            Some(n) => self.supervise(n, &join(field, "supervise")),
        };
        let restart_before_queries = match map.get("restart_before_queries") {
            None => Some(true),
            Some(n) => self.boolean(n, &join(field, "restart_before_queries")),
        };
        let dir = workdir.clone().flatten();
        self.fill_programs(first_note, dir.as_ref(), env.as_deref().unwrap_or(&[]));
        self.note_paths(
            &map,
            field,
            &[("workdir", None), ("pidfile", Some("pid file"))],
        );
        Some(Worker {
            busy: busy?,
            supervise: supervise?,
            restart_before_queries: restart_before_queries?,
            name: name?,
            workdir: workdir.transpose_all()?,
            env: env?,
            matcher: matcher?,
            pidfile: pidfile.transpose_all()?,
            stop: stop?,
            start: start?,
            ready: ready?,
        })
    }

    /// Notes the valid paths among `keys` of `map`: `(key, None)` a folder that must exist,
    /// `(key, Some(what))` a file whose folder must exist.
    fn note_paths(&mut self, map: &Map<'_>, field: &str, keys: &[(&str, Option<&'static str>)]) {
        for &(key, what) in keys {
            let Some(n) = map.get(key) else { continue };
            let Some(text) = n
                .as_scalar()
                .filter(|t| !t.trim().is_empty() && !has_control(t))
            else {
                continue;
            };
            let path = PathBuf::from(text);
            let kind = match what {
                None => PathKind::Dir { path },
                Some(what) => PathKind::Parent { path, what },
            };
            self.note(n.pos, &join(field, key), kind);
        }
    }

    fn env(&mut self, node: &Node, field: &str) -> Option<Vec<(String, String)>> {
        let Value::Map(entries) = &node.value else {
            self.problem(
                node.pos,
                field,
                format!("expected a mapping of NAME: value, found {}", node.kind()),
            );
            return None;
        };
        let mut out = Vec::new();
        let mut ok = true;
        for (key, value) in entries {
            let f = join(field, &key.text);
            if key.text.is_empty() || key.text.contains('=') {
                self.problem(
                    key.pos,
                    &f,
                    "an environment variable name must be non-empty and without `=`",
                );
                ok = false;
            }
            match value.as_scalar() {
                Some(v) => {
                    if has_control(v) && looks_like_windows_path(v) {
                        self.warn(value.pos, &f, control_message(v));
                    }
                    out.push((key.text.clone(), v.to_string()))
                }
                None => {
                    self.problem(
                        value.pos,
                        &f,
                        format!("expected a string value, found {}", value.kind()),
                    );
                    ok = false;
                }
            }
        }
        ok.then_some(out)
    }

    /// One string or a list of strings.
    fn strings(&mut self, node: &Node, field: &str) -> Option<Vec<String>> {
        match &node.value {
            Value::Scalar(s) if !s.is_empty() => Some(vec![s.clone()]),
            Value::Seq(items) => {
                let mut out = Vec::new();
                for (i, item) in items.iter().enumerate() {
                    out.push(
                        self.string(item, &format!("{field}[{i}]"), "a string")?
                            .to_string(),
                    );
                }
                Some(out)
            }
            _ => {
                self.problem(
                    node.pos,
                    field,
                    format!(
                        "expected a string or a list of strings, found {}",
                        node.kind()
                    ),
                );
                None
            }
        }
    }
}

/// A node for messages: a scalar quoted, anything else by kind.
fn describe(node: &Node) -> String {
    match node.as_scalar() {
        Some(s) if !s.is_empty() => format!("`{s}`"),
        _ => node.kind().to_string(),
    }
}

/// The position and text of a mapping's non-empty `name` value.
fn name_of(node: &Node) -> Option<(Pos, &str)> {
    let Value::Map(entries) = &node.value else {
        return None;
    };
    entries
        .iter()
        .find(|(k, _)| k.text == "name")
        .and_then(|(_, v)| v.as_scalar().filter(|s| !s.is_empty()).map(|s| (v.pos, s)))
}

/// `Option<Option<T>>` where the inner `None` means "present but invalid": keeps an absent
/// optional key valid while letting an invalid one fail the whole.
trait TransposeAll<T> {
    fn transpose_all(self) -> Option<Option<T>>;
}

impl<T> TransposeAll<T> for Option<Option<T>> {
    fn transpose_all(self) -> Option<Option<T>> {
        match self {
            None => Some(None),
            Some(Some(v)) => Some(Some(v)),
            Some(None) => None,
        }
    }
}

/// Why `name` is not a time zone, with the IANA name when it is a Windows name or a
/// miscapitalised IANA name.
fn unknown_zone(name: &str) -> String {
    if let Some(iana) = crate::core::zone::iana_of_windows_zone(name) {
        return format!(
            "`{name}` is a Windows time zone name; write its IANA name: `timezone: {iana}`"
        );
    }
    if let Some(tz) = chrono_tz::TZ_VARIANTS
        .iter()
        .find(|tz| tz.name().eq_ignore_ascii_case(name.trim()))
    {
        return format!(
            "unknown time zone `{name}`; did you mean `{}`? (names are case-sensitive)",
            tz.name()
        );
    }
    format!(
        "unknown time zone `{name}`; use an IANA name such as Europe/London, America/New_York \
         or UTC (names are case-sensitive)"
    )
}

/// The unit a bare number most likely meant in `field`, for the hint.
fn likely_unit(field: &str) -> (&'static str, &'static str) {
    let key = field.rsplit('.').next().unwrap_or(field);
    match key {
        "grace" | "repeat" | "backoff" | "max_backoff" | "every" => ("s", "seconds"),
        "timeout" if field.starts_with("queries") => ("h", "hours"),
        "timeout" => ("s", "seconds"),
        _ => ("m", "minutes"),
    }
}

/// A control character (C0, DEL, C1) or a Unicode line or paragraph separator: what YAML's
/// double-quoted escapes (`\n`, `\t`, `\a`, `\N`, `\L`, `\P`, …) produce.
fn has_control(s: &str) -> bool {
    s.chars()
        .any(|c| c.is_control() || c == '\u{2028}' || c == '\u{2029}')
}

/// `E:…` or with a backslash: a Windows path.
fn looks_like_windows_path(s: &str) -> bool {
    let b = s.as_bytes();
    s.contains('\\') || (b.len() >= 2 && b[0].is_ascii_alphabetic() && b[1] == b':')
}

/// Why a path with control characters is wrong, with the text as it was most likely typed.
fn control_message(s: &str) -> String {
    let mut typed = String::new();
    let mut names: Vec<&str> = Vec::new();
    for c in s.chars() {
        let (escape, name) = match c {
            '\n' => ("\\n".to_string(), "a newline"),
            '\t' => ("\\t".to_string(), "a tab"),
            '\r' => ("\\r".to_string(), "a carriage return"),
            '\u{7}' => ("\\a".to_string(), "a bell character"),
            '\u{8}' => ("\\b".to_string(), "a backspace"),
            '\u{b}' => ("\\v".to_string(), "a vertical tab"),
            '\u{c}' => ("\\f".to_string(), "a form feed"),
            '\0' => ("\\0".to_string(), "a NUL character"),
            '\u{1b}' => ("\\e".to_string(), "an escape character"),
            '\u{85}' => ("\\N".to_string(), "a next-line character"),
            '\u{2028}' => ("\\L".to_string(), "a line separator"),
            '\u{2029}' => ("\\P".to_string(), "a paragraph separator"),
            c if c.is_control() => (format!("\\x{:02x}", c as u32), "a control character"),
            c => {
                typed.push(c);
                continue;
            }
        };
        typed.push_str(&escape);
        if !names.contains(&name) {
            names.push(name);
        }
    }
    let list = match names.as_slice() {
        [one] => one.to_string(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
        [] => String::new(),
    };
    format!(
        "\"{typed}\" became a path with {list}: in double quotes, YAML reads backslashes as \
         escapes; write Windows paths in single quotes: '{}'",
        typed.replace('\'', "''")
    )
}

/// Parses a humantime duration; a bare `0` is zero.
pub(crate) fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    if text == "0" {
        return Ok(Duration::ZERO);
    }
    humantime::parse_duration(text).map_err(|e| e.to_string())
}

fn parse_time_of_day(text: &str) -> Option<NaiveTime> {
    let parts: Vec<&str> = text.trim().split(':').collect();
    let num = |s: &str, max: u32| -> Option<u32> {
        ((1..=2).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse().ok())
            .flatten()
            .filter(|v| *v <= max)
    };
    let (h, m, s) = match parts.as_slice() {
        [h, m] if m.len() == 2 => (num(h, 23)?, num(m, 59)?, 0),
        [h, m, s] if m.len() == 2 && s.len() == 2 => (num(h, 23)?, num(m, 59)?, num(s, 59)?),
        _ => return None,
    };
    NaiveTime::from_hms_opt(h, m, s)
}

fn parse_weekday(text: &str) -> Option<Weekday> {
    let lower = text.trim().to_ascii_lowercase();
    let all = [
        ("mon", "monday", Weekday::Mon),
        ("tue", "tuesday", Weekday::Tue),
        ("wed", "wednesday", Weekday::Wed),
        ("thu", "thursday", Weekday::Thu),
        ("fri", "friday", Weekday::Fri),
        ("sat", "saturday", Weekday::Sat),
        ("sun", "sunday", Weekday::Sun),
    ];
    all.iter()
        .find(|(short, long, _)| lower == *short || lower == *long)
        .map(|(_, _, d)| *d)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The warnings of a valid `yaml`, as `LINE:COL: field: message`.
    fn warnings(yaml: &str) -> Vec<String> {
        validate(yaml, || None)
            .unwrap_or_else(|p| panic!("{p:?}"))
            .warnings
            .iter()
            .map(|p| p.display(None).to_string())
            .collect()
    }

    const Q: &str = "timezone: UTC\nqueries:\n  - name: q\n    at: [\"06:00\"]\n";

    #[test]
    fn a_match_without_args_contain_is_a_warning() {
        let worker = |m: &str| {
            format!("{Q}workers:\n  - name: w\n    match: {m}\n    start: {{command: [w]}}\n")
        };
        let w = warnings(&worker("{image: celery}"));
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(
            w[0].starts_with(
                "7:13: workers[0].match: warning: no `args_contain`: every `celery` process"
            ),
            "{w:?}"
        );
        assert_eq!(
            warnings(&worker("{image: celery, args_contain: []}")).len(),
            1
        );
        assert_eq!(
            warnings(&worker("{image: celery, args_contain: \"-n default\"}")),
            Vec::<String>::new()
        );
    }

    #[test]
    fn control_characters_in_arguments_warn_only_where_they_look_like_paths() {
        let cmd = |c: &str| format!("{Q}    command: {c}\n");
        let w = warnings(&cmd(r#"[python, "C:\\scripts\new.py"]"#));
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(
            w[0].contains(r#"warning: "C:\scripts\new.py" became a path with a newline"#),
            "{w:?}"
        );
        let w = warnings(&cmd("[python]\n    env: {PYTHONPATH: \"E:\\new\"}"));
        assert!(
            w.len() == 1 && w[0].contains("PYTHONPATH: warning: \"E:\\new\""),
            "{w:?}"
        );
        // A script for `python -c` may hold newlines.
        assert_eq!(
            warnings(&cmd(r#"[python, -c, "import x\nx.run()"]"#)),
            Vec::<String>::new()
        );
        // In the program itself, or in a path field, it is an error.
        let e = validate(&cmd(r#"["C:\tools\app.exe"]"#), || None).unwrap_err();
        assert!(e[0].message.contains("a tab"), "{e:?}");
        let e = validate(&format!("state_dir: \"a\\bell\"\n{Q}"), || None).unwrap_err();
        assert!(e[0].message.contains("'a\\bell'"), "{e:?}");
    }

    #[test]
    fn a_bare_number_gets_the_likely_unit() {
        for (field, unit) in [
            ("lead", "m"),
            ("merge_within", "m"),
            ("queries[0].ready_wait", "m"),
            ("queries[0].timeout", "h"),
            ("workers[0].ready.timeout", "s"),
            ("workers[0].stop.grace", "s"),
            ("workers[0].supervise.backoff", "s"),
        ] {
            assert_eq!(likely_unit(field).0, unit, "{field}");
        }
    }
}
