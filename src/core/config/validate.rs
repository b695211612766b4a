//! Checking a schedule file and building the `Schedule` from it.
//!
//! Owns: the rules that need more than one value or knowledge of the world — a cron expression,
//! a time zone (with the IANA name for a Windows or miscapitalised one), which worker names
//! exist, which keys go together (`cron` or `at`; `workdir` with `command`; `service` in place
//! of `start`, and Windows only), the rules of the system checked for (an `Os` given, not asked:
//! `service` and the console events `CTRL_C`/`CTRL_BREAK` on Windows, the Unix signals
//! elsewhere, `Path` as `PATH` in any case on Windows only), unique names, a
//! command's program, the placeholders of a query's command and env (`{date-1d}`, parsed by
//! `crate::core::template`, errors at their own column) — and the defaults. Which keys exist and what each value must look like is
//! `shape.rs`'s, read by `de.rs`; every problem is reported, not only the first, and so are the
//! warnings about valid but doubtful values (a `match` without `args_contain`). Pure: the
//! machine's zone comes in as a function and the system as a value (`validate_on`; `validate`
//! is the shorthand for `Os::HOST`) so tests choose them; what can only be checked on the
//! machine (paths, programs, the zone's DST) is noted in `Facts` for `machine.rs`.

use super::de::{map_pos, Checked, Path, Report, Spanned};
use super::facts::{Facts, PathKind, PathRef, ServiceRef};
use super::shape::{
    control_message, has_control, looks_like_windows_path, not_a_signal, stop_signal_named, At,
    Command, Dur, Env, Keep, LogKey, Opt, PathText, RawQuery, RawSchedule, RawWorker, SignalName,
    Size, Supervise, Text, WorkerName,
};
use super::yaml::{self, Node, Pos, Value};
use super::{
    AlertSpec, BusySpec, Days, Diagnostic, IdleWhen, Launch, LogLimits, LogSpec, MemoryLimit,
    MetricsSpec, Os, Overlap, ProcessMatch, Query, QueryRun, ReadySpec, Rotation, Schedule,
    Severity, StartSpec, StopSignal, StopSpec, SuperviseSpec, When, Worker, ZoneSource,
    DEFAULT_LOG_MAX_SIZE,
};
use crate::core::cron::CronSpec;
use crate::core::template::Template;
use chrono_tz::Tz;
use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

pub const DEFAULT_LEAD: Duration = Duration::from_secs(15 * 60);
pub const DEFAULT_GRACE: Duration = Duration::from_secs(10);
pub const DEFAULT_READY_TIMEOUT: Duration = Duration::from_secs(60);
/// The shortest `catch_up`. A run noticed more than `ON_TIME` (2 s) after its time counts as
/// missed; a daemon's start, a loaded machine or the clock-jump check easily add seconds more,
/// and a missed run later than `catch_up` is skipped. A minute, cron's own resolution, covers
/// such delays and is far below any useful window (a daily query wants hours).
pub const MIN_CATCH_UP: Duration = Duration::from_secs(60);
/// How often `max_memory` is checked when `max_memory_every` is left out.
pub const DEFAULT_MEMORY_EVERY: Duration = Duration::from_secs(60);

/// Validates the text of a schedule file for this machine's system (`validate_on` with
/// `Os::HOST`). `machine_zone` is asked only when the file has no `timezone:`. The schedule's
/// `warnings` are those this text alone shows.
pub fn validate(
    text: &str,
    machine_zone: impl FnOnce() -> Option<(Tz, &'static str)>,
) -> Result<Schedule, Vec<Diagnostic>> {
    validate_on(text, machine_zone, Os::HOST)
}

/// `validate` with the rules of `os`.
pub fn validate_on(
    text: &str,
    machine_zone: impl FnOnce() -> Option<(Tz, &'static str)>,
    os: Os,
) -> Result<Schedule, Vec<Diagnostic>> {
    validate_noting_on(text, machine_zone, os).0
}

/// `validate`, and what `machine::check` needs to look at on this machine (even when the file
/// is invalid, so that every problem is reported at once).
pub fn validate_noting(
    text: &str,
    machine_zone: impl FnOnce() -> Option<(Tz, &'static str)>,
) -> (Result<Schedule, Vec<Diagnostic>>, Facts) {
    validate_noting_on(text, machine_zone, Os::HOST)
}

/// `validate_noting` with the rules of `os`.
pub fn validate_noting_on(
    text: &str,
    machine_zone: impl FnOnce() -> Option<(Tz, &'static str)>,
    os: Os,
) -> (Result<Schedule, Vec<Diagnostic>>, Facts) {
    let root = match yaml::parse(text) {
        Ok(root) => root,
        Err(e) => {
            let problem = Diagnostic::error(e.pos.line, e.pos.col, Some("yaml"), e.message);
            return (Err(vec![problem]), Facts::default());
        }
    };
    let mut cx = Checker {
        report: Report::default(),
        facts: Facts::default(),
        text,
        os,
    };
    let schedule = cx.schedule(&root, machine_zone);
    let (mut warnings, mut problems): (Vec<_>, Vec<_>) = cx
        .report
        .found
        .into_inner()
        .into_iter()
        .partition(|d| d.severity == Severity::Warning);
    let result = match schedule {
        Some(mut s) if problems.is_empty() => {
            warnings.sort_by_key(|p| (p.line, p.col));
            s.warnings = warnings;
            Ok(s)
        }
        _ => {
            // Every wrong value is reported where it is found; this is a net, not a message.
            debug_assert!(!problems.is_empty(), "a schedule refused without a problem");
            if problems.is_empty() {
                problems.push(Diagnostic::error(
                    1,
                    1,
                    Some("yaml"),
                    "the file could not be read as a schedule".into(),
                ));
            }
            problems.sort_by_key(|p| (p.line, p.col));
            Err(problems)
        }
    };
    (result, cx.facts)
}

struct Checker<'t> {
    report: Report,
    facts: Facts,
    /// The file's text: where in a value a placeholder's error starts (`col_in`).
    text: &'t str,
    /// The system whose rules apply.
    os: Os,
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// An optional value: `default` when absent, `f` of it when valid, `None` when wrong.
fn or<T, U>(value: Option<Checked<T>>, default: U, f: impl FnOnce(T) -> U) -> Option<U> {
    match value {
        None => Some(default),
        Some(Checked(v)) => v.map(f),
    }
}

/// An optional value: `default` when absent, what `f` makes of it when valid (`None` when a
/// part of it is wrong), `None` when wrong.
fn or_try<T, U>(
    value: Option<Checked<T>>,
    default: U,
    f: impl FnOnce(T) -> Option<U>,
) -> Option<U> {
    match value {
        None => Some(default),
        Some(Checked(v)) => v.and_then(f),
    }
}

/// A valid path of a key whose position was kept.
fn at_path(value: &At<PathText>) -> Option<(Pos, &PathBuf)> {
    value
        .as_ref()
        .and_then(|s| s.value.0.as_ref().map(|p| (s.pos, &p.0)))
}

/// A valid path with its position.
fn opt_path(value: &Option<Checked<Spanned<PathText>>>) -> Option<(Pos, &PathBuf)> {
    value
        .as_ref()
        .and_then(|c| c.0.as_ref())
        .map(|s| (s.pos, &s.value.0))
}

/// The limits of a worker's or query's log: the defaults for what is not given, `None` when
/// a given one is wrong.
fn log_limits(max_size: Opt<Size>, keep: Opt<Keep>) -> Option<LogLimits> {
    let d = LogLimits::default();
    Some(LogLimits {
        max_size: or(max_size, d.max_size, |s| s.0)?,
        keep: or(keep, d.keep, |k| k.0)?,
    })
}

/// An optional value whose key's position was kept, without it.
fn unspan<T>(value: At<T>) -> Option<Checked<T>> {
    value.map(|s| s.value)
}

impl Checker<'_> {
    fn problem(&self, pos: Pos, field: &str, message: impl Into<String>) {
        self.report.error(pos, field, message.into());
    }

    /// A doubtful but valid value: printed as `field: warning: message`, exit status 0.
    fn warn(&self, pos: Pos, field: &str, message: impl Into<String>) {
        self.report.warning(pos, field, message.into());
    }

    /// Notes a path or program for `machine::check`.
    fn note(&mut self, pos: Pos, field: &str, kind: PathKind) {
        self.facts.paths.push(PathRef {
            pos,
            field: field.to_string(),
            kind,
        });
    }

    /// Notes a valid path: `what` `None` a folder that must exist, `Some(what)` a file whose
    /// folder must exist.
    fn note_path(
        &mut self,
        path: Option<(Pos, &PathBuf)>,
        field: &str,
        what: Option<&'static str>,
    ) {
        if let Some((pos, path)) = path {
            let path = path.clone();
            let kind = match what {
                None => PathKind::Dir { path },
                Some(what) => PathKind::Parent { path, what },
            };
            self.note(pos, field, kind);
        }
    }

    /// A command's arguments: the program must be a name or path (no control characters, not
    /// blank); an argument that looks like a Windows path with a control character in it is
    /// warned about (a script for `python -c` may hold one on purpose).
    fn command(&mut self, command: Command, field: &str) -> Option<Vec<String>> {
        let mut args = Vec::new();
        let mut ok = true;
        let mut program_pos = None;
        for (i, arg) in command.0.into_iter().enumerate() {
            let Some(Spanned { pos, value: s }) = arg else {
                ok = false;
                continue;
            };
            let f = format!("{field}[{i}]");
            if i == 0 {
                program_pos = Some(pos);
                if has_control(&s) {
                    self.problem(pos, &f, control_message(&s));
                    ok = false;
                    continue;
                }
                if s.trim().is_empty() {
                    self.problem(pos, &f, "the program name is empty");
                    ok = false;
                    continue;
                }
            } else if has_control(&s) && looks_like_windows_path(&s) {
                self.warn(pos, &f, control_message(&s));
            }
            args.push(s);
        }
        let pos = program_pos.filter(|_| ok)?;
        // The directory and environment it runs with are filled in by the worker or query
        // that owns the command (`fill_programs`).
        self.note(
            pos,
            field,
            PathKind::Program {
                command: args.clone(),
                workdir: None,
                path_var: None,
            },
        );
        Some(args)
    }

    /// An environment, with a warning for a value that looks like a mistyped Windows path.
    fn env(&self, env: Env, field: &str) -> Vec<(String, String)> {
        env.0
            .into_iter()
            .map(|(name, value)| {
                if has_control(&value.value) && looks_like_windows_path(&value.value) {
                    self.warn(
                        value.pos,
                        &join(field, &name),
                        control_message(&value.value),
                    );
                }
                (name, value.value)
            })
            .collect()
    }

    /// The column of character `at` of the scalar `value` at `pos`: exact when the value is
    /// written on its line as it reads (plain or quoted, no escapes before `at`), else the
    /// scalar's own column.
    fn col_in(&self, pos: Pos, value: &str, at: usize) -> usize {
        let Some(line) = self.text.lines().nth(pos.line.saturating_sub(1)) else {
            return pos.col;
        };
        let mut src = line.chars().skip(pos.col.saturating_sub(1)).peekable();
        let quote = usize::from(matches!(src.peek(), Some('"' | '\'')));
        let src = src.skip(quote);
        if src.zip(value.chars()).take_while(|(a, b)| a == b).count() >= at {
            pos.col + quote + at
        } else {
            pos.col
        }
    }

    /// A query's argument or environment value, parsed for placeholders (`{date-1d}`).
    fn template(&self, pos: Pos, value: &str, field: &str) -> Option<Template> {
        match Template::parse(value) {
            Ok(t) => Some(t),
            Err(e) => {
                let col = self.col_in(pos, value, e.at);
                self.problem(
                    Pos {
                        line: pos.line,
                        col,
                    },
                    field,
                    e.message,
                );
                None
            }
        }
    }

    /// The arguments of a query's command, parsed for placeholders; the program may hold none
    /// (it is looked for on the machine before any run).
    fn templates(&self, command: &Command, field: &str) -> Option<Vec<Template>> {
        let mut out = Vec::new();
        let mut ok = true;
        for (i, arg) in command.0.iter().enumerate() {
            let Some(Spanned { pos, value }) = arg else {
                ok = false;
                continue;
            };
            let f = format!("{field}[{i}]");
            match self.template(*pos, value, &f) {
                Some(t) if i == 0 && t.has_placeholder() => {
                    self.problem(
                        *pos,
                        &f,
                        "the program cannot hold a placeholder; put dates in its arguments",
                    );
                    ok = false;
                }
                Some(t) => out.push(t),
                None => ok = false,
            }
        }
        ok.then_some(out)
    }

    /// Gives the commands noted since `first` the workdir and `PATH` they run with.
    fn fill_programs(&mut self, first: usize, dir: Option<&PathBuf>, env: &[(String, String)]) {
        let path = env
            .iter()
            .find(|(k, _)| {
                k == "PATH" || (self.os == Os::Windows && k.eq_ignore_ascii_case("PATH"))
            })
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
        let Value::Map(entries) = &root.value else {
            return None;
        };
        let get = |key: &str| entries.iter().find(|(k, _)| k.text == key).map(|(_, v)| v);
        let top_pos = map_pos(root);
        let machine = match get("timezone") {
            Some(_) => None,
            None => match machine_zone() {
                Some((tz, how)) => Some((tz, ZoneSource::Machine(how))),
                None => {
                    self.problem(
                        top_pos,
                        "timezone",
                        "this machine's time zone could not be determined; add `timezone:` \
                         with an IANA name such as Europe/London",
                    );
                    None
                }
            },
        };
        let raw: RawSchedule = self.report.read(root, &Path::Root)?;

        let zone = match raw.timezone {
            None => machine,
            Some(Checked(name)) => {
                name.and_then(|Spanned { pos, value: name }| match name.0.parse::<Tz>() {
                    Ok(tz) => {
                        self.facts.zone = Some((pos, tz));
                        Some((tz, ZoneSource::File))
                    }
                    Err(_) => {
                        self.problem(pos, "timezone", unknown_zone(&name.0));
                        None
                    }
                })
            }
        };
        let lead = or(raw.lead, DEFAULT_LEAD, |w| w.0);
        let merge_within = match raw.merge_within {
            None => lead,
            some => or(some, DEFAULT_LEAD, |w| w.0),
        };
        let workers = match get("workers") {
            Some(node) => self.workers(node),
            None => Some(Vec::new()),
        };
        let queries =
            get("queries").and_then(|node| self.queries(node, workers.as_deref().unwrap_or(&[])));

        self.facts.state_dir = raw.state_dir.as_ref().map_or(top_pos, |s| s.pos);
        let state_dir = or(unspan(raw.state_dir), None, |p| Some(p.0));
        let restart_at_boot = or(raw.restart_at_boot, true, |b| b.0);
        let log = or_try(raw.log, None, |l| {
            let (file, rotation, keep, level) = (l.file.0, l.rotation, l.keep, l.level);
            let spec = LogSpec {
                file: file.as_ref()?.value.0.clone(),
                rotation: or(rotation, Rotation::Daily, |r| r)?,
                keep: or(keep, 14, |k| k.0)?,
                level: or(level, None, |l| Some(l.0))?,
                max_size: or(l.max_size, DEFAULT_LOG_MAX_SIZE, |s| s.0)?,
            };
            self.note_path(
                file.as_ref().map(|f| (f.pos, &f.value.0)),
                "log.file",
                Some("log file"),
            );
            Some(Some(spec))
        });
        let alert = or_try(raw.alert, None, |a| {
            let command = self.command(a.command.0?, "alert.command")?;
            Some(Some(AlertSpec { command }))
        });

        let metrics = or_try(raw.metrics, None, |m| {
            let file = m.textfile.0?;
            let field = "metrics.textfile";
            let prom = file.value.0.extension().is_some_and(|e| e == "prom");
            if !prom {
                self.warn(
                    file.pos,
                    field,
                    "does not end in `.prom`: the textfile collectors of node_exporter and \
                     windows_exporter read only `*.prom` files",
                );
            }
            self.note_path(Some((file.pos, &file.value.0)), field, Some("metrics file"));
            Some(Some(MetricsSpec {
                textfile: file.value.0,
            }))
        });

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
            metrics: metrics?,
            path: PathBuf::new(),
            base_dir: PathBuf::from("."),
            warnings: Vec::new(),
        })
    }

    /// `queries:` or `workers:`: a list, each item read on its own.
    fn list<'a>(&self, node: &'a Node, field: &str, what: &str) -> Option<&'a [Node]> {
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

    fn queries(&mut self, node: &Node, workers: &[Worker]) -> Option<Vec<Query>> {
        let items = self.list(node, "queries", "queries (each with a name and cron or at)")?;
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
        let list = Path::Key(&Path::Root, "queries");
        for (i, item) in items.iter().enumerate() {
            let path = Path::Index(&list, i);
            let field = path.render();
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
            match self.query(item, &path, &field, workers) {
                Some(q) => out.push(q),
                None => ok = false,
            }
        }
        ok.then_some(out)
    }

    fn query(
        &mut self,
        node: &Node,
        path: &Path<'_>,
        field: &str,
        workers: &[Worker],
    ) -> Option<Query> {
        let raw: RawQuery = self.report.read(node, path)?;
        let first_note = self.facts.paths.len();
        let name = raw.name.0.map(|n| n.value.0);

        let when = match (raw.cron, raw.at) {
            (Some(_), Some(at)) => {
                self.problem(at.pos, field, "a query has either `cron` or `at`, not both");
                None
            }
            (None, None) => {
                self.problem(
                    map_pos(node),
                    field,
                    "a query needs `cron` (a crontab expression) or `at` (daily times); found neither",
                );
                None
            }
            (Some(cron), None) => {
                if let Some(days) = &raw.days {
                    self.problem(
                        days.pos,
                        &join(field, "days"),
                        "`days` goes with `at`; with `cron`, put the days in its day-of-week field",
                    );
                }
                let f = join(field, "cron");
                cron.value
                    .0
                    .and_then(|text| match CronSpec::parse(&text.0) {
                        Ok(spec) if !spec.ever_matches() => {
                            self.problem(
                                cron.pos,
                                &f,
                                format!("`{}` never runs: no date has that day and month", text.0),
                            );
                            None
                        }
                        Ok(spec) => Some(When::Cron(spec)),
                        Err(e) => {
                            self.problem(cron.pos, &f, format!("`{}`: {e}", text.0));
                            None
                        }
                    })
            }
            (None, Some(at)) => {
                let days = or(unspan(raw.days), Days::ALL, |d| d.0);
                match (at.value.0, days) {
                    (Some(times), Some(days)) => Some(When::At {
                        times: times.0,
                        days,
                    }),
                    _ => None,
                }
            }
        };

        let needs = or_try(raw.workers, (0..workers.len()).collect(), |list| {
            self.worker_refs(list.0, &join(field, "workers"), workers)
        });
        let run = match raw.command {
            None => {
                // The keys that only make sense with `command`.
                macro_rules! go_with_command {
                    ($($key:ident),*) => {$(
                        if let Some(value) = &raw.$key {
                            let key = stringify!($key);
                            self.problem(
                                value.pos,
                                &join(field, key),
                                format!("`{key}` goes with `command` (a query pacs-warden runs itself)"),
                            );
                        }
                    )*};
                }
                go_with_command!(workdir, env, timeout, log, overlap, ready_wait, catch_up);
                Some(None)
            }
            Some(Checked(command)) => {
                let f = join(field, "command");
                let args = command.as_ref().and_then(|c| self.templates(c, &f));
                let command = command.and_then(|c| self.command(c, &f));
                let workdir = raw.workdir;
                let (log, log_limits) = match raw.log {
                    None => (Some(None), Some(LogLimits::default())),
                    Some(Spanned { pos, value }) => match value.0 {
                        None => (None, None),
                        Some(LogKey::Path(p)) => {
                            (Some(Some((pos, p.0))), Some(LogLimits::default()))
                        }
                        Some(LogKey::Spec(m)) => (
                            match m.file {
                                None => Some(None),
                                Some(Checked(f)) => f.map(|f| Some((f.pos, f.value.0))),
                            },
                            log_limits(m.max_size, m.keep),
                        ),
                    },
                };
                let env_field = join(field, "env");
                let env = or(unspan(raw.env), (Vec::new(), Some(Vec::new())), |e| {
                    let values = e
                        .0
                        .iter()
                        .map(|(name, v)| self.template(v.pos, &v.value, &join(&env_field, name)))
                        .collect::<Vec<_>>();
                    // Every value is parsed, so that every wrong one is reported.
                    let values = values.into_iter().collect::<Option<Vec<_>>>();
                    (self.env(e, &env_field), values)
                });
                let (env, env_values) = match env {
                    Some((env, values)) => (Some(env), values),
                    None => (None, None),
                };
                let timeout = or(unspan(raw.timeout), Duration::from_secs(12 * 3600), |d| d.0);
                let ready_wait = or(unspan(raw.ready_wait), Duration::from_secs(15 * 60), |d| {
                    d.0
                });
                let overlap = or(unspan(raw.overlap), Overlap::Skip, |o| o);
                let catch_up = match raw.catch_up {
                    None => Some(None),
                    Some(Spanned { pos, value }) => value.0.and_then(|d| {
                        self.catch_up(Spanned { pos, value: d }, &join(field, "catch_up"))
                            .map(Some)
                    }),
                };
                let dir = at_path(&workdir);
                self.fill_programs(
                    first_note,
                    dir.map(|(_, d)| d),
                    env.as_deref().unwrap_or(&[]),
                );
                self.note_path(dir, &join(field, "workdir"), None);
                let log_file = log
                    .as_ref()
                    .and_then(|l| l.as_ref().map(|(pos, p)| (*pos, p)));
                self.note_path(log_file, &join(field, "log"), Some("log file"));
                (|| {
                    Some(Some(QueryRun {
                        command: command?,
                        args: args?,
                        workdir: or(unspan(workdir), None, |w| Some(w.0))?,
                        env: env?,
                        env_values: env_values?,
                        timeout: timeout?,
                        log: log?.map(|(_, p)| p),
                        log_limits: log_limits?,
                        overlap: overlap?,
                        ready_wait: ready_wait?,
                        catch_up: catch_up?,
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

    fn worker_refs(
        &mut self,
        items: Vec<Checked<Spanned<Text<WorkerName>>>>,
        field: &str,
        workers: &[Worker],
    ) -> Option<Vec<usize>> {
        let mut out = Vec::new();
        let mut ok = true;
        for (i, item) in items.into_iter().enumerate() {
            let Some(Spanned { pos, value: name }) = item.0 else {
                ok = false;
                continue;
            };
            let name = name.0;
            match workers.iter().position(|w| w.name == name) {
                Some(w) if !out.contains(&w) => out.push(w),
                Some(_) => {}
                None => {
                    let known: Vec<&str> = workers.iter().map(|w| w.name.as_str()).collect();
                    self.problem(
                        pos,
                        &format!("{field}[{i}]"),
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
        let items = self.list(node, "workers", "workers")?;
        let mut out: Vec<Worker> = Vec::new();
        let mut ok = true;
        let list = Path::Key(&Path::Root, "workers");
        for (i, item) in items.iter().enumerate() {
            let path = Path::Index(&list, i);
            let field = path.render();
            match self.worker(item, &path, &field) {
                Some((w, name_pos)) => {
                    if out.iter().any(|o| o.name == w.name) {
                        self.problem(
                            name_pos,
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

    /// A worker, and where its name is.
    fn worker(&mut self, node: &Node, path: &Path<'_>, field: &str) -> Option<(Worker, Pos)> {
        let raw: RawWorker = self.report.read(node, path)?;
        let service_pos = raw
            .service
            .as_ref()
            .and_then(|s| s.0.as_ref())
            .map(|s| s.pos);
        let grace_pos = raw
            .stop
            .as_ref()
            .and_then(|s| s.value.0.as_ref())
            .and_then(|s| s.grace.as_ref())
            .and_then(|g| g.0.as_ref())
            .map(|g| g.pos);
        // Before `service`, which refuses the same key beside it: the order of two problems at
        // one place stays the one of the file's reading.
        let signal = self.stop_signal(&raw, field);
        let service = self.service(&raw, field);
        let first_note = self.facts.paths.len();
        let name = raw.name.0;
        let workdir = raw.workdir;
        let pidfile = raw.pidfile;
        let env = or(raw.env, Vec::new(), |e| self.env(e, &join(field, "env")));

        let matcher = match raw.matcher {
            None if service_pos.is_some() => Some(None),
            None => {
                self.problem(map_pos(node), &join(field, "match"), "`match` is required");
                None
            }
            Some(m) => m.value.0.and_then(|m| {
                let f = join(field, "match");
                let image = m.image.0.map(|i| i.0);
                let args_contain = or(m.args_contain, Vec::new(), |a| a.0);
                let (image, args_contain) = (image?, args_contain?);
                // A service worker's `match` only checks the one process the SCM names.
                if args_contain.is_empty() && service_pos.is_none() {
                    // Where a person looks for the mapping: its first key.
                    let pos = match &node.value {
                        Value::Map(entries) => entries
                            .iter()
                            .find(|(k, _)| k.text == "match")
                            .map_or(node.pos, |(_, m)| map_pos(m)),
                        _ => node.pos,
                    };
                    self.warn(
                        pos,
                        &f,
                        format!(
                            "no `args_contain`: every `{image}` process on this machine counts as \
                         this worker (Flower, other workers of the same program) and a restart \
                         stops them all; add `args_contain` with text only this worker's \
                         command line has, such as its node name (`-n default`)"
                        ),
                    );
                }
                Some(Some(ProcessMatch {
                    image,
                    args_contain,
                }))
            }),
        };

        let default_stop = StopSpec {
            command: None,
            signal: None,
            grace: DEFAULT_GRACE,
            repeat: None,
        };
        let stop = or_try(unspan(raw.stop), default_stop, |s| {
            let f = join(field, "stop");
            let command = or_try(unspan(s.command), None, |c| {
                self.command(c, &join(&f, "command")).map(Some)
            });
            let repeat = or_try(s.repeat, None, |r| {
                if r.value.0.is_zero() {
                    self.problem(
                        r.pos,
                        &join(&f, "repeat"),
                        "must be more than 0; leave it out to send the stop command once",
                    );
                    return None;
                }
                Some(Some(r.value.0))
            });
            Some(StopSpec {
                command: command?,
                signal: signal?,
                grace: or(s.grace, DEFAULT_GRACE, |g| g.value.0)?,
                repeat: repeat?,
            })
        });

        let start = match raw.start {
            None if service_pos.is_some() => Some(None),
            None => {
                self.problem(map_pos(node), &join(field, "start"), "`start` is required");
                None
            }
            Some(start) => start.value.0.and_then(|s| {
                let f = join(field, "start");
                let command = s
                    .command
                    .0
                    .and_then(|c| self.command(c, &join(&f, "command")));
                let (log, log_limits) = match s.log {
                    None => (Some(None), Some(LogLimits::default())),
                    Some(Checked(None)) => (None, None),
                    Some(Checked(Some(Spanned { pos, value }))) => match value {
                        LogKey::Path(p) => (Some(Some((pos, p.0))), Some(LogLimits::default())),
                        LogKey::Spec(m) => (
                            m.file.0.map(|f| Some((f.pos, f.value.0))),
                            log_limits(m.max_size, m.keep),
                        ),
                    },
                };
                let log_file = log
                    .as_ref()
                    .and_then(|l| l.as_ref().map(|(pos, p)| (*pos, p)));
                self.note_path(log_file, &join(&f, "log"), Some("log file"));
                Some(Some(StartSpec {
                    command: command?,
                    log: log?.map(|(_, p)| p),
                    log_limits: log_limits?,
                }))
            }),
        };

        let ready = or_try(raw.ready, None, |r| {
            let f = join(field, "ready");
            let command = r
                .command
                .0
                .and_then(|c| self.command(c, &join(&f, "command")));
            let every = or_try(r.every, None, |e| {
                self.positive(e, &join(&f, "every")).map(Some)
            });
            let failures = or_try(r.failures, 3, |n| {
                if every == Some(None) {
                    self.problem(
                        n.pos,
                        &join(&f, "failures"),
                        "counts the failed probes of `ready.every`; add `every` (e.g. `every: \
                         5m`) or leave `failures` out",
                    );
                    return None;
                }
                Some(n.value.0)
            });
            Some(Some(ReadySpec {
                command: command?,
                timeout: or(r.timeout, DEFAULT_READY_TIMEOUT, |t| t.0)?,
                every: every?,
                failures: failures?,
            }))
        });

        let busy = or_try(raw.busy, None, |b| {
            let f = join(field, "busy");
            let command = b
                .command
                .0
                .and_then(|c| self.command(c, &join(&f, "command")));
            let every = or_try(b.every, Duration::from_secs(30), |e| {
                self.positive(e, &join(&f, "every"))
            });
            Some(Some(BusySpec {
                command: command?,
                idle_when: or(b.idle_when, IdleWhen::ExitZero, |i| i)?,
                every: every?,
            }))
        });
        let supervise = or_try(raw.supervise, Some(SuperviseSpec::default()), |s| match s {
            Supervise::Bool(on) => Some(on.then(SuperviseSpec::default)),
            Supervise::Spec(raw) => {
                let f = join(field, "supervise");
                let d = SuperviseSpec::default();
                let backoff = or_try(raw.backoff, d.backoff, |v| {
                    self.positive(v, &join(&f, "backoff"))
                });
                let max_backoff = or_try(raw.max_backoff, d.max_backoff, |v| {
                    self.positive(v, &join(&f, "max_backoff"))
                });
                let stable_after = or_try(raw.stable_after, d.stable_after, |v| {
                    self.positive(v, &join(&f, "stable_after"))
                });
                let give_up_after = or(raw.give_up_after, d.give_up_after, |g| g.0);
                Some(Some(SuperviseSpec {
                    backoff: backoff?,
                    max_backoff: max_backoff?,
                    give_up_after: give_up_after?,
                    stable_after: stable_after?,
                }))
            }
        });
        let restart_before_queries = or(raw.restart_before_queries, true, |b| b.0);
        let memory_every = or_try(raw.max_memory_every, DEFAULT_MEMORY_EVERY, |e| {
            let pos = e.pos;
            let every = self.positive(e, &join(field, "max_memory_every"))?;
            if raw.max_memory.is_none() {
                self.problem(
                    pos,
                    &join(field, "max_memory_every"),
                    "says how often `max_memory` is checked; add `max_memory` (e.g. `max_memory: \
                     2GB`) or leave it out",
                );
                return None;
            }
            Some(every)
        });
        let max_memory = or(raw.max_memory, None, |m| Some(m.0))
            .zip(memory_every)
            .map(|(m, every)| m.map(|bytes| MemoryLimit { bytes, every }));

        let dir = opt_path(&workdir);
        self.fill_programs(
            first_note,
            dir.map(|(_, d)| d),
            env.as_deref().unwrap_or(&[]),
        );
        self.note_path(dir, &join(field, "workdir"), None);
        self.note_path(
            opt_path(&pidfile),
            &join(field, "pidfile"),
            Some("pid file"),
        );
        if let (Some(Some(service)), Some(stop), Some(pos)) = (&service, &stop, service_pos) {
            self.facts.services.push(ServiceRef {
                pos,
                field: join(field, "service"),
                name: service.clone(),
                grace: stop.grace,
                grace_at: grace_pos.map(|p| (p, join(&join(field, "stop"), "grace"))),
            });
        }
        let name = name?;
        Some((
            Worker {
                busy: busy?,
                supervise: supervise?,
                restart_before_queries: restart_before_queries?,
                max_memory: max_memory?,
                name: name.value.0,
                launch: match (service?, start?, matcher?) {
                    (Some(name), _, matcher) => Launch::Service { name, matcher },
                    (None, Some(start), Some(matcher)) => Launch::Command { start, matcher },
                    // Each missing one was reported above (`is required`).
                    (None, _, _) => return None,
                },
                workdir: or(workdir, None, |w| Some(w.value.0))?,
                env: env?,
                pidfile: or(pidfile, None, |p| Some(p.value.0))?,
                stop: stop?,
                ready: ready?,
            },
            name.pos,
        ))
    }

    /// `stop.signal`, as a signal of the system checked for: `Some(None)` when there is none (or
    /// no valid `stop`), `None` when it is not one of that system's.
    fn stop_signal(&self, raw: &RawWorker, field: &str) -> Option<Option<StopSignal>> {
        let Some(Spanned { pos, value }) = raw
            .stop
            .as_ref()
            .and_then(|s| s.value.0.as_ref())
            .and_then(|s| s.signal.as_ref())
        else {
            return Some(None);
        };
        let signal = match value {
            SignalName::Text(name) => stop_signal_named(name, self.os),
            SignalName::Not(kind) => Err(not_a_signal(kind, self.os)),
        };
        match signal {
            Ok(signal) => Some(Some(signal)),
            Err(message) => {
                self.problem(*pos, &join(&join(field, "stop"), "signal"), message);
                None
            }
        }
    }

    /// `service:`, with the keys it excludes: `Some(None)` when there is none, `None` when it
    /// (or a key beside it) is wrong. Only Windows has services: for another system it is
    /// refused (pacs-warden does not map it to a systemd unit).
    fn service(&mut self, raw: &RawWorker, field: &str) -> Option<Option<String>> {
        let Some(Checked(service)) = &raw.service else {
            return Some(None);
        };
        let service = service.as_ref()?;
        let f = join(field, "service");
        if self.os != Os::Windows {
            self.problem(
                service.pos,
                &f,
                "names a Windows service, and this system has none; run the worker with \
                 `start.command` instead (pacs-warden does not map it to a systemd unit)",
            );
            return None;
        }
        let name = &service.value.0;
        if name.len() > 256 || name.contains(['/', '\\']) {
            self.problem(
                service.pos,
                &f,
                "is not a Windows service name (at most 256 characters, no `/` or `\\`); \
                 give the service's name, not its display name",
            );
            return None;
        }
        let mut ok = true;
        let excluded = |key: &str, why: &str| format!("`{key}` does not go with `service`: {why}");
        if let Some(start) = &raw.start {
            self.problem(
                start.pos,
                &join(field, "start"),
                excluded(
                    "start",
                    "the Service Control Manager starts a service worker; remove `start` or `service`",
                ),
            );
            ok = false;
        }
        if let Some(stop) = raw.stop.as_ref().and_then(|s| s.value.0.as_ref()) {
            let f = join(field, "stop");
            if let Some(c) = &stop.command {
                self.problem(
                    c.pos,
                    &join(&f, "command"),
                    excluded(
                        "stop.command",
                        "a service worker is stopped through the Service Control Manager",
                    ),
                );
                ok = false;
            }
            if let Some(s) = &stop.signal {
                self.problem(
                    s.pos,
                    &join(&f, "signal"),
                    excluded(
                        "stop.signal",
                        "a service worker is stopped through the Service Control Manager (WinSW \
                         sends its worker the Ctrl-C itself)",
                    ),
                );
                ok = false;
            }
            if let Some(Checked(Some(r))) = &stop.repeat {
                self.problem(
                    r.pos,
                    &join(&f, "repeat"),
                    excluded(
                        "stop.repeat",
                        "it repeats a stop command, and a service worker is stopped through the \
                         Service Control Manager",
                    ),
                );
                ok = false;
            }
        }
        if let Some(p) = &raw.pidfile {
            if let Some(p) = &p.0 {
                self.problem(
                    p.pos,
                    &join(field, "pidfile"),
                    excluded(
                        "pidfile",
                        "the Service Control Manager names a service worker's process",
                    ),
                );
                ok = false;
            }
        }
        ok.then(|| Some(name.clone()))
    }

    /// A query's `catch_up`: at least [`MIN_CATCH_UP`]. (The "2 s" is `timeline::ON_TIME`,
    /// which this module cannot import: the timeline reads the schedule.)
    fn catch_up<const U: char>(&self, d: Spanned<Dur<U>>, field: &str) -> Option<Duration> {
        if d.value.0 < MIN_CATCH_UP {
            self.problem(
                d.pos,
                field,
                format!(
                    "must be at least {}: a run noticed more than 2 s after its time counts as \
                     missed, and a shorter catch_up would skip it instead of running it late",
                    humantime::format_duration(MIN_CATCH_UP)
                ),
            );
            return None;
        }
        Some(d.value.0)
    }

    /// A duration that must be more than 0.
    fn positive<const U: char>(&self, d: Spanned<Dur<U>>, field: &str) -> Option<Duration> {
        if d.value.0.is_zero() {
            self.problem(d.pos, field, "must be more than 0");
            return None;
        }
        Some(d.value.0)
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
    fn log_limits_as_a_mapping_beside_the_plain_path_with_line_and_column() {
        let w = "workers:\n  - name: w\n    match: {image: w, args_contain: x}\n    start:\n      command: [w]\n";
        // The plain path of before: the default limits.
        let s = validate(&format!("{Q}{w}      log: w.log\n"), || None).unwrap();
        let start = s.workers[0].start().unwrap();
        assert_eq!(start.log.as_deref(), Some(std::path::Path::new("w.log")));
        assert_eq!(start.log_limits, LogLimits::default());
        assert_eq!(
            (start.log_limits.max_size, start.log_limits.keep),
            (50 << 20, 5)
        );
        // The mapping.
        let s = validate(
            &format!("{Q}{w}      log: {{file: w.log, max_size: 2KiB, keep: 3}}\n"),
            || None,
        )
        .unwrap();
        let start = s.workers[0].start().unwrap();
        assert_eq!(start.log.as_deref(), Some(std::path::Path::new("w.log")));
        assert_eq!(
            start.log_limits,
            LogLimits {
                max_size: 2048,
                keep: 3
            }
        );
        // A query's mapping may leave out `file` (the default path); the daemon's log too.
        let s = validate(
            &format!("{Q}    command: [q]\n    log: {{max_size: 1MB}}\nlog: {{file: d.log, max_size: 10MB}}\n"),
            || None,
        )
        .unwrap();
        let run = s.queries[0].run.as_ref().unwrap();
        assert_eq!(run.log, None);
        assert_eq!((run.log_limits.max_size, run.log_limits.keep), (1 << 20, 5));
        assert_eq!(s.log.unwrap().max_size, 10 << 20);
        // Each wrong value at its line and column; a worker's mapping needs `file`.
        let text = format!(
            "{Q}    command: [q]\n    log: {{file: q.log, keep: 0}}\n{w}      log: {{max_size: 50}}\nlog: {{file: d.log, max_size: lots}}\n"
        );
        let e = validate(&text, || None).unwrap_err();
        let shown: Vec<String> = e
            .iter()
            .map(|p| {
                format!(
                    "{}:{}: {}: {}",
                    p.line,
                    p.col,
                    p.field.as_deref().unwrap_or(""),
                    p.message
                )
            })
            .collect();
        assert_eq!(
            shown,
            [
                "6:30: queries[0].log.keep: expected a number of files, at least 1, found `0`",
                "12:13: workers[0].start.log.file: `file` is required",
                "12:23: workers[0].start.log.max_size: `50` has no unit; write e.g. `50MB` or \
                 `50GB` (units: B, KB, MB, GB, TB; 1KB = 1024 bytes)",
                "13:30: log.max_size: `lots` is not a size; write e.g. 50MB or 2GB (units: B, KB, \
                 MB, GB, TB; 1KB = 1024 bytes)",
            ],
            "{text}"
        );
    }

    /// Each problem as `LINE:COL: field: message`.
    fn shown(e: &[Diagnostic]) -> Vec<String> {
        e.iter()
            .map(|p| {
                format!(
                    "{}:{}: {}: {}",
                    p.line,
                    p.col,
                    p.field.as_deref().unwrap_or(""),
                    p.message
                )
            })
            .collect()
    }

    /// A worker run as a Windows service: `service:` in place of `start` (and `match`).
    const SERVICE: &str =
        "workers:\n  - name: huey\n    service: openrem-huey\n    stop: {grace: 11m}\n";

    /// A service worker's service and grace are noted for `machine::check`, with where each is.
    #[test]
    fn a_service_worker_is_noted_with_its_grace() {
        let (s, facts) = validate_noting_on(&format!("{Q}{SERVICE}"), || None, Os::Windows);
        s.unwrap();
        let [r] = &facts.services[..] else {
            panic!("{:?}", facts.services)
        };
        assert_eq!((r.pos.line, r.pos.col), (7, 14));
        assert_eq!(
            (r.field.as_str(), r.name.as_str()),
            ("workers[0].service", "openrem-huey")
        );
        assert_eq!(r.grace, Duration::from_secs(660));
        let (at, field) = r.grace_at.as_ref().unwrap();
        assert_eq!(
            (at.line, at.col, field.as_str()),
            (8, 19, "workers[0].stop.grace")
        );
        // No `grace:`: the default, and no position of its own.
        let (_, facts) = validate_noting_on(
            &format!("{Q}workers:\n  - name: huey\n    service: openrem-huey\n"),
            || None,
            Os::Windows,
        );
        assert_eq!(facts.services[0].grace, DEFAULT_GRACE);
        assert!(facts.services[0].grace_at.is_none());
        // Not on Unix, where `service:` is refused.
        let (_, facts) = validate_noting_on(&format!("{Q}{SERVICE}"), || None, Os::Unix);
        assert!(facts.services.is_empty());
    }

    #[test]
    fn a_service_worker_is_refused_where_there_are_no_windows_services() {
        let e = validate_on(&format!("{Q}{SERVICE}"), || None, Os::Unix).unwrap_err();
        assert_eq!(
            shown(&e),
            [
                "7:14: workers[0].service: names a Windows service, and this system has none; run \
              the worker with `start.command` instead (pacs-warden does not map it to a systemd \
              unit)"
            ]
        );
    }

    #[test]
    fn a_service_worker_needs_neither_start_nor_match_and_takes_no_start_stop_command_or_signal() {
        let s = validate_on(&format!("{Q}{SERVICE}"), || None, Os::Windows).unwrap();
        let w = &s.workers[0];
        assert_eq!(w.service(), Some("openrem-huey"));
        assert!(w.start().is_none() && w.matcher().is_none());
        assert_eq!(w.stop.grace, Duration::from_secs(660));

        let text = format!(
            "{Q}{SERVICE}    start: {{command: [huey]}}\n  - name: other\n    service: x\n    stop: {{signal: CTRL_C, command: [stop], repeat: 5s}}\n  - name: plain\n    match: {{image: w, args_contain: x}}\n"
        );
        let e = validate_on(&text, || None, Os::Windows).unwrap_err();
        assert_eq!(
            shown(&e),
            [
                "9:12: workers[0].start: `start` does not go with `service`: the Service Control \
                 Manager starts a service worker; remove `start` or `service`",
                "12:20: workers[1].stop.signal: `stop.signal` does not go with `service`: a \
                 service worker is stopped through the Service Control Manager (WinSW sends its \
                 worker the Ctrl-C itself)",
                "12:37: workers[1].stop.command: `stop.command` does not go with `service`: a \
                 service worker is stopped through the Service Control Manager",
                "12:53: workers[1].stop.repeat: `stop.repeat` does not go with `service`: it \
                 repeats a stop command, and a service worker is stopped through the Service \
                 Control Manager",
                "13:5: workers[2].start: `start` is required",
            ],
            "{text}"
        );
    }

    /// `validate` is `validate_on` for the system it runs on; the two systems differ here.
    #[test]
    fn validate_applies_the_rules_of_the_system_it_runs_on() {
        let text = format!("{Q}{SERVICE}");
        let on = |os| validate_on(&text, || None, os).is_ok();
        assert_ne!(on(Os::Windows), on(Os::Unix));
        assert_eq!(validate(&text, || None).is_ok(), on(Os::HOST));
        assert_eq!(
            validate_noting(&text, || None).0.is_ok(),
            validate_noting_on(&text, || None, Os::HOST).0.is_ok()
        );
    }

    /// A worker stopped with `signal` (as written in a flow mapping, at 9:20).
    fn with_signal(signal: &str) -> String {
        format!(
            "{Q}workers:\n  - name: w\n    match: {{image: w, args_contain: x}}\n    start: {{command: [w]}}\n    stop: {{signal: {signal}}}\n"
        )
    }

    #[test]
    fn each_system_takes_only_its_own_stop_signals_at_the_value_s_line_and_column() {
        let signal = |name: &str, os| {
            validate_on(&with_signal(name), || None, os)
                .map(|s| s.workers[0].stop.signal)
                .map_err(|e| shown(&e))
        };
        let windows_only = "on this system use TERM, INT, QUIT or HUP";
        for (name, expected) in [
            ("CTRL_C", StopSignal::CtrlC),
            ("ctrl_break", StopSignal::CtrlBreak),
        ] {
            assert_eq!(signal(name, Os::Windows), Ok(Some(expected)));
            assert_eq!(
                signal(name, Os::Unix),
                Err(vec![format!(
                    "9:20: workers[0].stop.signal: `{name}` is a Windows console event; \
                     {windows_only}"
                )])
            );
        }
        for (name, expected) in [
            ("TERM", StopSignal::Term),
            ("SIGINT", StopSignal::Int),
            ("quit", StopSignal::Quit),
            ("SIGHUP", StopSignal::Hup),
        ] {
            assert_eq!(signal(name, Os::Unix), Ok(Some(expected)));
            assert_eq!(
                signal(name, Os::Windows),
                Err(vec![format!(
                    "9:20: workers[0].stop.signal: `{name}` is a Unix signal; on Windows use \
                     CTRL_C (a graceful stop for Python, Huey and Celery) or CTRL_BREAK (ends a \
                     Python worker at once)"
                )])
            );
        }
        // Neither system's: the allowed names are the given system's.
        for (written, found) in [
            ("KILL", "`KILL`"),
            ("[TERM]", "a list"),
            ("{a: b}", "a mapping"),
        ] {
            assert_eq!(
                signal(written, Os::Unix),
                Err(vec![format!(
                    "9:20: workers[0].stop.signal: expected TERM, INT, QUIT or HUP, found {found}"
                )])
            );
            assert_eq!(
                signal(written, Os::Windows),
                Err(vec![format!(
                    "9:20: workers[0].stop.signal: expected CTRL_C or CTRL_BREAK, found {found}"
                )])
            );
        }
    }

    /// A wrong signal beside `service` is named before the `service` rule at the same place, as
    /// when the shape refused it while reading.
    #[test]
    fn a_unix_signal_beside_a_windows_service_is_named_first() {
        let text =
            format!("{Q}workers:\n  - name: s\n    service: x\n    stop: {{signal: TERM}}\n");
        assert_eq!(
            shown(&validate_on(&text, || None, Os::Windows).unwrap_err()),
            [
                "8:20: workers[0].stop.signal: `TERM` is a Unix signal; on Windows use CTRL_C (a \
                 graceful stop for Python, Huey and Celery) or CTRL_BREAK (ends a Python worker \
                 at once)",
                "8:20: workers[0].stop.signal: `stop.signal` does not go with `service`: a \
                 service worker is stopped through the Service Control Manager (WinSW sends its \
                 worker the Ctrl-C itself)",
            ]
        );
    }

    /// The `PATH` a command is looked for with: Windows names variables in any case (`Path` is
    /// how it spells its own), Unix only `PATH`.
    #[test]
    fn env_path_is_matched_in_any_case_on_windows_only() {
        let path_var = |key: &str, os| {
            let text = format!(
                "{Q}workers:\n  - name: w\n    match: {{image: w, args_contain: x}}\n    start: {{command: [w]}}\n    env: {{{key}: /opt/w/bin}}\n"
            );
            let (result, facts) = validate_noting_on(&text, || None, os);
            result.unwrap_or_else(|e| panic!("{e:?}"));
            let vars: Vec<Option<String>> = facts
                .paths
                .iter()
                .filter_map(|r| match &r.kind {
                    PathKind::Program { path_var, .. } => Some(path_var.clone()),
                    _ => None,
                })
                .collect();
            assert_eq!(vars.len(), 1, "{text}");
            vars[0].clone()
        };
        let set = Some("/opt/w/bin".to_string());
        for os in [Os::Windows, Os::Unix] {
            assert_eq!(path_var("PATH", os), set, "{os:?}");
            assert_eq!(path_var("PATHS", os), None, "{os:?}");
        }
        assert_eq!(path_var("Path", Os::Windows), set);
        assert_eq!(path_var("path", Os::Windows), set);
        assert_eq!(path_var("Path", Os::Unix), None);
        assert_eq!(path_var("path", Os::Unix), None);
    }

    #[test]
    fn metrics_textfile_with_line_and_column_and_a_warning_without_prom() {
        let s = validate(
            &format!("{Q}metrics: {{textfile: 'C:\\x\\pw.prom'}}\n"),
            || None,
        )
        .unwrap();
        assert_eq!(
            s.metrics.unwrap().textfile,
            std::path::Path::new("C:\\x\\pw.prom")
        );
        assert!(s.warnings.is_empty(), "{:?}", s.warnings);
        assert_eq!(
            warnings(&format!("{Q}metrics:\n  textfile: pw.txt\n")),
            ["6:13: metrics.textfile: warning: does not end in `.prom`: the textfile collectors \
              of node_exporter and windows_exporter read only `*.prom` files"]
        );
        let shown = |text: &str| -> Vec<String> {
            validate(text, || None)
                .unwrap_err()
                .iter()
                .map(|p| {
                    format!(
                        "{}:{}: {}: {}",
                        p.line,
                        p.col,
                        p.field.as_deref().unwrap_or(""),
                        p.message
                    )
                })
                .collect()
        };
        assert_eq!(
            shown(&format!("{Q}metrics: {{}}\n")),
            ["5:10: metrics.textfile: `textfile` is required"]
        );
        assert_eq!(
            shown(&format!("{Q}metrics: {{textfile: m.prom, port: 9}}\n")),
            ["5:29: metrics.port: unknown key `port`; allowed keys here: textfile"]
        );
    }

    #[test]
    fn placeholders_are_checked_with_the_column_of_the_mistake() {
        let yaml = Q.to_string()
            + r#"    command: [openrem_qr.py, "2", -f, "{dat}", "--x={date-1w}", '{time:%Q}']"#
            + "\n    env:\n      DAY: \"x{date\"\n      OK: \"{date-1d}\"\n";
        let got: Vec<String> = validate(&yaml, || None)
            .expect_err("wrong placeholders")
            .iter()
            .map(|p| p.display(None).to_string())
            .collect();
        assert_eq!(got.len(), 4, "{got:#?}");
        assert!(
            got[0].starts_with("5:40: queries[0].command[3]: unknown placeholder `{dat}`"),
            "{got:#?}"
        );
        assert!(
            got[1].starts_with("5:58: queries[0].command[4]: `{date-1w}`: bad offset `-1w`"),
            "{got:#?}"
        );
        assert!(
            got[2].starts_with("5:72: queries[0].command[5]: `{time:%Q}`: bad format `%Q`"),
            "{got:#?}"
        );
        assert!(
            got[3].starts_with("7:14: queries[0].env.DAY: `{` is not closed"),
            "{got:#?}"
        );
    }

    #[test]
    fn catch_up_is_at_least_a_minute_and_goes_with_command() {
        let shown = |yaml: String| -> Vec<String> {
            validate(&yaml, || None)
                .expect_err("a wrong catch_up")
                .iter()
                .map(|p| p.display(None).to_string())
                .collect()
        };
        // A run noticed more than 2 s late is missed: shorter windows would skip it.
        let too_short = "must be at least 1m: a run noticed more than 2 s after its time counts \
                         as missed, and a shorter catch_up would skip it instead of running it late";
        for short in ["0", "1s", "59s"] {
            assert_eq!(
                shown(Q.to_string() + "    command: [q]\n    catch_up: " + short + "\n"),
                [format!("6:15: queries[0].catch_up: {too_short}")]
            );
        }
        let s = validate(
            &(Q.to_string() + "    command: [q]\n    catch_up: 60s\n"),
            || None,
        )
        .unwrap();
        assert_eq!(
            s.queries[0].run.as_ref().unwrap().catch_up,
            Some(Duration::from_secs(60))
        );
        assert_eq!(
            shown(Q.to_string() + "    command: [q]\n    catch_up: soon\n"),
            ["6:15: queries[0].catch_up: `soon` is not a duration (expected number at 0); write e.g. 15m, 1h 30m, 90s or 0"]
        );
        assert_eq!(
            shown(Q.to_string() + "    catch_up: 6h\n"),
            ["5:15: queries[0].catch_up: `catch_up` goes with `command` (a query pacs-warden runs itself)"]
        );
        let s = validate(
            &(Q.to_string() + "    command: [q]\n    catch_up: 6h\n"),
            || None,
        )
        .unwrap();
        let run = s.queries[0].run.as_ref().unwrap();
        assert_eq!(run.catch_up, Some(Duration::from_secs(6 * 3600)));
        let s = validate(&(Q.to_string() + "    command: [q]\n"), || None).unwrap();
        assert_eq!(s.queries[0].run.as_ref().unwrap().catch_up, None);
    }

    #[test]
    fn an_unquoted_placeholder_is_told_to_be_quoted() {
        let block = Q.to_string() + "    command:\n      - q\n      - {date-1d}\n";
        let got = validate(&block, || None).expect_err("a mapping argument");
        let line = got[0].display(None).to_string();
        assert!(
            line.starts_with(
                "7:9: queries[0].command[1]: expected an argument string, found a mapping; quote"
            ),
            "{line}"
        );
        let flow = Q.to_string() + "    command: [q, --from={date-1d}]\n";
        let got = validate(&flow, || None).expect_err("braces in a flow list");
        assert!(
            got[0]
                .message
                .contains("must be in quotes: \"--from={date-1d}\""),
            "{got:?}"
        );
    }

    #[test]
    fn a_placeholder_is_not_a_program_and_literal_braces_are_kept() {
        let bad = Q.to_string() + "    command: [\"{date}.exe\"]\n";
        let got = validate(&bad, || None).expect_err("a dated program");
        assert!(
            got[0]
                .message
                .contains("the program cannot hold a placeholder"),
            "{got:?}"
        );
        let good = Q.to_string() + "    command: [q, \"{{x}}\", \"{date-1d}\"]\n";
        let s = validate(&good, || None).unwrap();
        let run = s.queries[0].run.as_ref().unwrap();
        assert_eq!(run.command, ["q", "{{x}}", "{date-1d}"]);
        let at = chrono::DateTime::parse_from_rfc3339("2026-05-04T06:00:00Z").unwrap();
        assert_eq!(
            run.argv_at(at.into(), s.timezone),
            ["q", "{x}", "2026-05-03"]
        );
        assert!(run.has_placeholders());
    }

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
    fn every_mapping_lists_its_allowed_keys_in_the_documented_order() {
        let w = "  - name: w\n    match: {image: w, args_contain: x}\n    start: {command: [w]}\n";
        let cases = [
            ("bad: 1\n", "", "timezone, lead, merge_within, queries, workers, state_dir, restart_at_boot, log, alert, metrics"),
            ("log: {file: l, bad: 1}\n", "log.", "file, rotation, keep, level, max_size"),
            ("alert: {command: [a], bad: 1}\n", "alert.", "command"),
            ("workers:\n  - {name: w, bad: 1}\n", "workers[0].", "name, workdir, env, service, match, pidfile, stop, start, ready, supervise, restart_before_queries, busy, max_memory, max_memory_every"),
            ("workers:\n  - match: {bad: 1}\n", "workers[0].match.", "image, args_contain"),
            ("workers:\n  - stop: {bad: 1}\n", "workers[0].stop.", "command, signal, grace, repeat"),
            ("workers:\n  - start: {bad: 1}\n", "workers[0].start.", "command, log"),
            ("workers:\n  - start: {log: {bad: 1}}\n", "workers[0].start.log.", "file, max_size, keep"),
            ("workers:\n  - ready: {bad: 1}\n", "workers[0].ready.", "command, timeout, every, failures"),
            ("workers:\n  - busy: {bad: 1}\n", "workers[0].busy.", "command, idle_when, every"),
            ("workers:\n  - supervise: {bad: 1}\n", "workers[0].supervise.", "backoff, max_backoff, give_up_after, stable_after"),
        ];
        for (yaml, field, keys) in cases {
            let yaml =
                format!("{Q}{yaml}").replace("workers:\n  - ", &format!("workers:\n{w}  - "));
            let e = validate(&yaml, || None).unwrap_err();
            let want = format!("unknown key `bad`; allowed keys here: {keys}");
            assert!(
                e.iter().any(|p| p.field.as_deref()
                    == Some(&format!("{field}bad").replace("[0]", "[1]")[..])
                    && p.message == want),
                "{yaml}\n{e:#?}"
            );
        }
        let e = validate(&format!("{Q}    bad: 1\n"), || None).unwrap_err();
        assert_eq!(
            e[0].message,
            "unknown key `bad`; allowed keys here: name, cron, at, days, workers, command, \
             workdir, env, timeout, log, overlap, ready_wait, catch_up"
        );
    }

    #[test]
    fn a_query_with_wrong_times_still_has_its_other_keys_checked() {
        // Each key is read on its own: a wrong `at` used to hide the rest of the query.
        let yaml = "timezone: UTC\nqueries:\n  - name: q\n    at: \"26:00\"\n    \
                    workers: [nope]\n    command: foo\n";
        let e = validate(yaml, || None).unwrap_err();
        let fields: Vec<&str> = e.iter().filter_map(|p| p.field.as_deref()).collect();
        assert_eq!(
            fields,
            [
                "queries[0].at",
                "queries[0].workers[0]",
                "queries[0].command"
            ]
        );
    }

    #[test]
    fn a_zero_busy_interval_is_named() {
        // It was refused without a problem ("0 problems found").
        let yaml = format!(
            "{Q}workers:\n  - name: w\n    match: {{image: w, args_contain: x}}\n    \
             start: {{command: [w]}}\n    busy: {{command: [b], every: 0}}\n"
        );
        let e = validate(&yaml, || None).unwrap_err();
        let shown: Vec<String> = e.iter().map(|p| p.display(None).to_string()).collect();
        assert_eq!(shown, ["9:33: workers[0].busy.every: must be more than 0"]);
    }

    #[test]
    fn hang_and_memory_keys_are_checked_with_line_and_column() {
        let worker = |more: &str| {
            format!(
                "{Q}workers:\n  - name: w\n    match: {{image: w, args_contain: x}}\n    \
                 start: {{command: [w]}}\n    {more}\n"
            )
        };
        let shown = |more: &str| -> Vec<String> {
            match validate(&worker(more), || None) {
                Ok(_) => Vec::new(),
                Err(e) => e.iter().map(|p| p.display(None).to_string()).collect(),
            }
        };
        let cases: [(&str, &str); 8] = [
            ("ready: {command: [r], every: 0}", "9:34: workers[0].ready.every: must be more than 0"),
            ("ready: {command: [r], every: 5m, failures: 0}", "9:48: workers[0].ready.failures: expected a number of failures, at least 1, found `0`"),
            ("ready: {command: [r], failures: 2}", "9:37: workers[0].ready.failures: counts the failed probes of `ready.every`; add `every` (e.g. `every: 5m`) or leave `failures` out"),
            ("max_memory: 2", "9:17: workers[0].max_memory: `2` has no unit; write e.g. `2MB` or `2GB` (units: B, KB, MB, GB, TB; 1KB = 1024 bytes)"),
            ("max_memory: 2 parsecs", "9:17: workers[0].max_memory: `2 parsecs` is not a size; write e.g. 50MB or 2GB (units: B, KB, MB, GB, TB; 1KB = 1024 bytes)"),
            ("max_memory: 0GB", "9:17: workers[0].max_memory: `0GB` must be more than 0 bytes and less than 16EB"),
            ("max_memory_every: 1m", "9:23: workers[0].max_memory_every: says how often `max_memory` is checked; add `max_memory` (e.g. `max_memory: 2GB`) or leave it out"),
            ("max_memory: 1GB\n    max_memory_every: 0", "10:23: workers[0].max_memory_every: must be more than 0"),
        ];
        for (more, want) in cases {
            assert_eq!(shown(more), [want], "{more}");
        }
        let s = validate(
            &worker("ready: {command: [r], every: 5m}\n    max_memory: 1.5GB"),
            || None,
        )
        .unwrap();
        let w = &s.workers[0];
        let ready = w.ready.as_ref().unwrap();
        assert_eq!(
            (ready.every, ready.failures),
            (Some(Duration::from_secs(300)), 3)
        );
        let m = w.max_memory.unwrap();
        assert_eq!((m.bytes, m.every), (3 << 29, DEFAULT_MEMORY_EVERY));
    }

    #[test]
    fn a_bare_number_gets_the_likely_unit() {
        let worker = |more: &str| {
            format!(
                "timezone: UTC\nqueries: [{{name: q, at: \"06:00\"}}]\nworkers:\n  - name: w\n    \
                 match: {{image: w, args_contain: x}}\n    start: {{command: [w]}}\n    {more}\n"
            )
        };
        let query = |more: &str| {
            format!("timezone: UTC\nqueries: [{{name: q, at: \"06:00\", command: [q], {more}}}]\n")
        };
        for (yaml, field, unit) in [
            (format!("lead: 5\n{Q}"), "lead", "m"),
            (format!("merge_within: 5\n{Q}"), "merge_within", "m"),
            (query("ready_wait: 5"), "queries[0].ready_wait", "m"),
            (query("timeout: 5"), "queries[0].timeout", "h"),
            (query("catch_up: 5"), "queries[0].catch_up", "h"),
            (
                worker("ready: {command: [r], timeout: 5}"),
                "workers[0].ready.timeout",
                "s",
            ),
            (worker("stop: {grace: 5}"), "workers[0].stop.grace", "s"),
            (worker("stop: {repeat: 5}"), "workers[0].stop.repeat", "s"),
            (
                worker("busy: {command: [b], every: 5}"),
                "workers[0].busy.every",
                "s",
            ),
            (
                worker("supervise: {backoff: 5}"),
                "workers[0].supervise.backoff",
                "s",
            ),
            (
                worker("supervise: {max_backoff: 5}"),
                "workers[0].supervise.max_backoff",
                "s",
            ),
            (
                worker("supervise: {stable_after: 5}"),
                "workers[0].supervise.stable_after",
                "m",
            ),
        ] {
            let e = validate(&yaml, || None).unwrap_err();
            assert_eq!(e.len(), 1, "{yaml}\n{e:?}");
            assert_eq!(e[0].field.as_deref(), Some(field), "{e:?}");
            assert!(
                e[0].message
                    .starts_with(&format!("`5` has no time unit; write `5{unit}`")),
                "{field}: {e:?}"
            );
        }
    }
}
