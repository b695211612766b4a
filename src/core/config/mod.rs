//! The schedule file: what a valid one holds, and loading it.
//!
//! Owns: the validated model (`Schedule`, `Query`, `Worker`) and why a file could not be
//! loaded (`ConfigError`, whose problems are `crate::core::diagnostic::Diagnostic`s, shown by
//! `Problems`). Decoding and parsing are in `yaml.rs`; the keys of each mapping and the shape
//! of each value are the types of `shape.rs`, read from the tree by `de.rs`; the rules between
//! values are `validate.rs`'s; what only the machine can confirm is noted in `facts.rs`. Pure: reading the file and asking the machine are `shell::schedule`'s.
//! The system whose rules apply (`Os`: which stop signals, whether `service:` exists, whether
//! `PATH` is matched in any case) is a value the validator is given (`validate_on`); `validate`
//! gives it `Os::HOST`.

mod de;
pub mod facts;
mod shape;
mod validate;
pub mod yaml;

use crate::core::cron::CronSpec;
use crate::core::template::Template;
use chrono::{DateTime, NaiveTime, Utc, Weekday};
use chrono_tz::Tz;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use crate::core::diagnostic::{Diagnostic, Problems, Severity, SHOWN_PROBLEMS};
pub use crate::core::zone::ZoneSource;
pub use validate::{
    validate, validate_noting, validate_noting_on, validate_on, DEFAULT_GRACE, DEFAULT_LEAD,
    DEFAULT_READY_TIMEOUT,
};

/// The system a schedule is checked for: its rules differ (stop signals or console events,
/// Windows services, the case of `PATH`). A value, so that both rule sets are tested on any
/// machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Os {
    Windows,
    /// Linux and the other Unix systems.
    Unix,
}

impl Os {
    /// The system this build runs on. The core's one `cfg!`: `validate`, the host's shorthand
    /// that every caller (core tests included) uses, lives in the core, and the core may not
    /// import `sys`; a constant of the build, not a question to the machine.
    pub const HOST: Os = if cfg!(windows) { Os::Windows } else { Os::Unix };
}

/// A valid schedule file.
#[derive(Debug, Clone)]
pub struct Schedule {
    /// The zone wall-clock times are read in.
    pub timezone: Tz,
    pub timezone_source: ZoneSource,
    /// How long before a query its workers are restarted.
    pub lead: Duration,
    /// A restart less than this after the previous kept one is merged into it.
    pub merge_within: Duration,
    pub queries: Vec<Query>,
    pub workers: Vec<Worker>,
    /// Restart every worker when the daemon starts (unless it is still the one pacs-warden
    /// started and it still runs).
    pub restart_at_boot: bool,
    /// The daemon's log file, if any.
    pub log: Option<LogSpec>,
    /// Run on events a person must hear about (failed restart, supervision gave up, rejected
    /// edit).
    pub alert: Option<AlertSpec>,
    /// Where to write the daemon's metrics (`metrics:`), if anywhere.
    pub metrics: Option<MetricsSpec>,
    /// `state_dir:` as written, if given.
    pub state_dir: Option<PathBuf>,
    /// The schedule file (empty when validated from text).
    pub path: PathBuf,
    /// Relative paths in the file are relative to this: the schedule file's directory.
    pub base_dir: PathBuf,
    /// Doubtful but valid values (`Severity::Warning`), in file order; `Problems` prints them
    /// as `FILE:LINE:COL: field: warning: message`.
    pub warnings: Vec<Diagnostic>,
}

/// One PACS query of the schedule.
#[derive(Debug, Clone)]
pub struct Query {
    pub name: String,
    pub when: When,
    /// Indexes into `Schedule::workers` of the workers this query needs.
    pub workers: Vec<usize>,
    /// The query itself, when pacs-warden runs it (`command:`).
    pub run: Option<QueryRun>,
}

/// How pacs-warden runs a query itself.
#[derive(Debug, Clone)]
pub struct QueryRun {
    /// The command as written, placeholders (`{date-1d}`) and all.
    pub command: Vec<String>,
    /// `command` parsed: what a run passes is `argv_at` its planned instant.
    pub args: Vec<Template>,
    pub workdir: Option<PathBuf>,
    /// The environment as written.
    pub env: Vec<(String, String)>,
    /// The values of `env` parsed, in the same order.
    pub env_values: Vec<Template>,
    /// Killed after this long.
    pub timeout: Duration,
    /// Output appended here; default `<state dir>/queries/<name>.log`.
    pub log: Option<PathBuf>,
    /// How large the log may grow before it is rotated (before a run), and how many rotated
    /// files are kept.
    pub log_limits: LogLimits,
    /// What to do when the previous run is still going.
    pub overlap: Overlap,
    /// How long to wait for the query's workers to be ready before running anyway.
    pub ready_wait: Duration,
    /// A missed run (the machine was off or asleep, the daemon stopped) less than this long
    /// ago is run once, late (`catch_up:`, at least `validate::MIN_CATCH_UP`); `None`: missed
    /// runs are not caught up.
    pub catch_up: Option<Duration>,
}

impl QueryRun {
    /// The command of a run planned at `at`, placeholders expanded in the schedule's `zone`.
    pub fn argv_at(&self, at: DateTime<Utc>, zone: Tz) -> Vec<String> {
        let local = at.with_timezone(&zone);
        self.args
            .iter()
            .map(|t| {
                let mut s = String::new();
                t.expand_into(&local, &mut s);
                s
            })
            .collect()
    }

    /// The environment of a run planned at `at`, placeholders expanded in the schedule's `zone`.
    pub fn env_at(&self, at: DateTime<Utc>, zone: Tz) -> Vec<(String, String)> {
        let local = at.with_timezone(&zone);
        self.env
            .iter()
            .zip(&self.env_values)
            .map(|((k, _), t)| {
                let mut s = String::new();
                t.expand_into(&local, &mut s);
                (k.clone(), s)
            })
            .collect()
    }

    /// Whether a run's command or environment depends on its planned instant.
    pub fn has_placeholders(&self) -> bool {
        self.args
            .iter()
            .chain(&self.env_values)
            .any(Template::has_placeholder)
    }
}

/// When a query's previous run has not finished at its next time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overlap {
    /// Skip this run (logged).
    Skip,
    /// Run it as soon as the previous one ends.
    Wait,
}

/// When a query runs, in wall-clock time.
#[derive(Debug, Clone)]
pub enum When {
    Cron(CronSpec),
    /// Fixed times of day on the given weekdays.
    At {
        times: Vec<NaiveTime>,
        days: Days,
    },
}

/// A set of weekdays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Days(u8);

impl Days {
    pub const ALL: Days = Days(0x7f);

    pub fn empty() -> Days {
        Days(0)
    }

    pub fn insert(&mut self, day: Weekday) {
        self.0 |= 1 << day.num_days_from_monday();
    }

    pub fn contains(self, day: Weekday) -> bool {
        self.0 & (1 << day.num_days_from_monday()) != 0
    }
}

impl When {
    /// Appends the wall-clock times of `date` at which the query runs, ascending.
    pub fn times_on(&self, date: chrono::NaiveDate, out: &mut Vec<NaiveTime>) {
        use chrono::Datelike;
        match self {
            When::Cron(spec) => spec.times_on(date, out),
            When::At { times, days } => {
                if days.contains(date.weekday()) {
                    out.extend_from_slice(times);
                }
            }
        }
    }
}

/// A process pacs-warden keeps fit (the Celery worker, for example).
#[derive(Debug, Clone)]
pub struct Worker {
    pub name: String,
    pub workdir: Option<PathBuf>,
    pub env: Vec<(String, String)>,
    /// How the worker is started and recognised: a command of pacs-warden's, or a Windows
    /// service.
    pub launch: Launch,
    pub pidfile: Option<PathBuf>,
    pub stop: StopSpec,
    pub ready: Option<ReadySpec>,
    /// Before a planned restart, ask whether the worker is busy; if so, wait.
    pub busy: Option<BusySpec>,
    /// Start the worker again when it dies between planned restarts (`None`: don't).
    pub supervise: Option<SuperviseSpec>,
    /// Restart it before queries; `false` makes it a keep-alive service (Flower, say): started
    /// at boot and supervised, never restarted on the schedule.
    pub restart_before_queries: bool,
    /// Restart it when its process tree uses more memory than this.
    pub max_memory: Option<MemoryLimit>,
}

/// How a worker is started and recognised (`start` + `match`, or `service`): one or the other,
/// never both, never neither.
#[derive(Debug, Clone)]
pub enum Launch {
    /// pacs-warden starts it (`start.command`) and recognises its processes by `match`.
    Command {
        start: StartSpec,
        matcher: ProcessMatch,
    },
    /// `service:`: the Windows service (its name for the Service Control Manager) that runs
    /// this worker; the SCM starts it and names its process, which `matcher`, when given, must
    /// fit. Windows only.
    Service {
        name: String,
        matcher: Option<ProcessMatch>,
    },
}

impl Worker {
    /// `match`, if the worker has one (a service worker may not).
    pub fn matcher(&self) -> Option<&ProcessMatch> {
        match &self.launch {
            Launch::Command { matcher, .. } => Some(matcher),
            Launch::Service { matcher, .. } => matcher.as_ref(),
        }
    }

    /// How pacs-warden starts it; `None` for a service worker.
    pub fn start(&self) -> Option<&StartSpec> {
        match &self.launch {
            Launch::Command { start, .. } => Some(start),
            Launch::Service { .. } => None,
        }
    }

    /// The Windows service that runs it, if it is a service worker.
    pub fn service(&self) -> Option<&str> {
        match &self.launch {
            Launch::Command { .. } => None,
            Launch::Service { name, .. } => Some(name),
        }
    }
}

/// `max_memory`: the resident memory of the worker's whole verified process tree, read every
/// `every`; above `bytes`, a busy-aware graceful restart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryLimit {
    pub bytes: u64,
    pub every: Duration,
}

/// Which processes are this worker's.
#[derive(Debug, Clone)]
pub struct ProcessMatch {
    /// Process image name (Linux comm, Windows image name), compared without `.exe` and case.
    pub image: String,
    /// Every one of these must occur in the process's command line.
    pub args_contain: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct StopSpec {
    /// Asks the worker to stop (its exit code is only logged).
    pub command: Option<Vec<String>>,
    /// How long to wait for the worker's processes to exit before killing them.
    pub grace: Duration,
    /// Also send this signal (Unix) or console event (Windows) to the worker's own processes
    /// to ask it to stop.
    pub signal: Option<StopSignal>,
    /// Send the stop command again this often while waiting (a busy solo Celery worker reads
    /// control messages only between tasks, and they expire).
    pub repeat: Option<Duration>,
}

/// Crash supervision: how fast to retry and when to give up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SuperviseSpec {
    /// The first wait after a crash; it doubles with each failure in a row.
    pub backoff: Duration,
    /// The longest wait.
    pub max_backoff: Duration,
    /// After this many failures in a row, supervision gives up (and raises an alert).
    pub give_up_after: u32,
    /// A worker that runs this long starts again from `backoff`.
    pub stable_after: Duration,
}

impl Default for SuperviseSpec {
    fn default() -> SuperviseSpec {
        SuperviseSpec {
            backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(300),
            give_up_after: 10,
            stable_after: Duration::from_secs(600),
        }
    }
}

/// How to ask a worker whether it is in the middle of work.
#[derive(Debug, Clone)]
pub struct BusySpec {
    pub command: Vec<String>,
    pub idle_when: IdleWhen,
    /// How often to ask again while it is busy.
    pub every: Duration,
}

/// How to read the busy probe's answer. Any failure to answer (non-zero exit, no reply in
/// time) means busy: a solo Celery worker does not answer while it runs a task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdleWhen {
    /// Idle when the command exits 0.
    ExitZero,
    /// Idle when it exits 0 and prints a JSON object whose values are all empty lists, as
    /// `celery inspect active --json` does for an idle worker: `{"default@host": []}`.
    CeleryActiveEmpty,
}

/// A signal (Unix) or console event (Windows) that asks a worker to stop. Validation allows
/// only the kind of the system it checks for (`Os`; `validate` checks for this one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopSignal {
    /// Celery: warm shutdown (finish the running task).
    Term,
    /// Huey: graceful stop.
    Int,
    /// Celery: cold shutdown (the running task is lost).
    Quit,
    Hup,
    /// Windows: Ctrl-C in the worker's own console; SIGINT in Python (Huey: graceful stop;
    /// Celery: warm shutdown).
    CtrlC,
    /// Windows: Ctrl-Break in the worker's own console; ends a Python worker at once.
    CtrlBreak,
}

#[derive(Debug, Clone)]
pub struct StartSpec {
    pub command: Vec<String>,
    /// stdout and stderr of the worker are appended here.
    pub log: Option<PathBuf>,
    /// How large the log may grow before it is rotated (while the worker is stopped, between
    /// stop and start), and how many rotated files are kept.
    pub log_limits: LogLimits,
}

/// The limits of a log file pacs-warden rotates by size (a worker's or a query's): renamed
/// (`crate::core::rotation`) when larger than `max_size` before it is written again, the `keep`
/// newest renamed files kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogLimits {
    /// In bytes.
    pub max_size: u64,
    pub keep: usize,
}

/// `max_size` when not given: 50MB (52,428,800 bytes: `MB` is 1024²), for every log.
pub const DEFAULT_LOG_MAX_SIZE: u64 = 50 << 20;

impl Default for LogLimits {
    fn default() -> LogLimits {
        LogLimits {
            max_size: DEFAULT_LOG_MAX_SIZE,
            keep: 5,
        }
    }
}

#[derive(Debug, Clone)]
pub struct ReadySpec {
    /// Succeeds (exit 0) once the worker serves.
    pub command: Vec<String>,
    pub timeout: Duration,
    /// Run it this often while the worker runs idle between restarts (a worker can hang while
    /// alive); `None`: only after a start.
    pub every: Option<Duration>,
    /// Restart after this many failed `every` probes in a row.
    pub failures: u32,
}

/// How to raise an alert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertSpec {
    /// Gets the event as `PACS_WARDEN_*` environment variables and as JSON on stdin.
    pub command: Vec<String>,
}

/// `metrics:`: the file the daemon writes its metrics to, in the Prometheus text format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricsSpec {
    /// As written; `Schedule::resolve` it.
    pub textfile: PathBuf,
}

/// The daemon's log file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogSpec {
    pub file: PathBuf,
    pub rotation: Rotation,
    /// How many rotated files to keep.
    pub keep: usize,
    /// A tracing filter such as `info` or `pacs_warden=debug`; `RUST_LOG` overrides it.
    pub level: Option<String>,
    /// Also rotated when larger than this (bytes), within its period.
    pub max_size: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rotation {
    Daily,
    Hourly,
    Never,
}

/// Why a schedule file could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{}: cannot read the schedule file: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}", Problems { path: Some(path), problems })]
    Invalid {
        path: PathBuf,
        problems: Vec<Diagnostic>,
    },
}

/// A `RUST_LOG`-style filter (`info`, `warn,pacs_warden=debug`). `Targets` rather than
/// `EnvFilter`: the same syntax for levels and targets without a regex engine, which keeps the
/// idle daemon's memory down.
pub fn parse_log_filter(text: &str) -> Result<tracing_subscriber::filter::Targets, String> {
    text.parse::<tracing_subscriber::filter::Targets>()
        .map_err(|e| e.to_string())
}

impl Schedule {
    /// `p` as the OS should open it: relative paths are relative to the schedule file.
    pub fn resolve(&self, p: &Path) -> PathBuf {
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.base_dir.join(p)
        }
    }

    /// Where pacs-warden keeps its state and locks for this schedule: `state_dir:`, or
    /// `<schedule file>.state` beside the file.
    pub fn state_dir(&self) -> PathBuf {
        match &self.state_dir {
            Some(dir) => self.resolve(dir),
            None => {
                let mut name = self
                    .path
                    .file_name()
                    .map(|n| n.to_os_string())
                    .unwrap_or_else(|| "schedule".into());
                name.push(".state");
                self.base_dir.join(name)
            }
        }
    }

    /// The directory a worker's commands run in: its `workdir`, else the schedule's directory.
    pub fn workdir(&self, worker: &Worker) -> PathBuf {
        worker
            .workdir
            .as_deref()
            .map(|w| self.resolve(w))
            .unwrap_or_else(|| self.base_dir.clone())
    }

    /// The directory a query pacs-warden runs itself runs in: its `workdir`, else the schedule's
    /// directory.
    pub fn query_workdir(&self, run: &QueryRun) -> PathBuf {
        run.workdir
            .as_deref()
            .map(|w| self.resolve(w))
            .unwrap_or_else(|| self.base_dir.clone())
    }

    /// The names of the workers behind `indexes`.
    pub fn worker_names(&self, indexes: &[usize]) -> Vec<&str> {
        indexes
            .iter()
            .map(|&i| self.workers[i].name.as_str())
            .collect()
    }
}
