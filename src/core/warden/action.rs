//! What the core asks the shell to do: `Action`, and the log lines and state records it
//! carries (`Note`, `Save`). Plain data: the shell carries each one out as it comes.

use super::{MemoryReading, Proc, ReadyAnswer, Why};
use chrono::{DateTime, Utc};
use std::time::Duration;

/// One thing for the shell to do, in the order `Warden::poll_action` returns them.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Start the restart sequence of `worker` (an index into `Warden::schedule`). The core
    /// starts at most one per worker at a time; the shell reports its end with
    /// `handle_sequence_done`. If the worker's sequence was prepared, the shell uses that.
    Restart {
        worker: usize,
        name: String,
        why: Why,
    },
    /// Dry run: show what restarting `worker` would do, do nothing.
    WouldRestart {
        worker: usize,
        name: String,
        why: Why,
    },
    /// Prepare the sequences of the planned restart at `at` for `workers` (indexes), so that
    /// at `at` their stop requests go out first (on time only: at most `ON_TIME` late). An
    /// accepted edit voids it (the shell drops it when it calls `handle_edit`).
    Prepare {
        at: DateTime<Utc>,
        workers: Vec<usize>,
    },
    /// The prepared restart has been decided: report the workers whose stop request went out
    /// with `handle_dispatched`, and drop the rest (releasing their locks).
    EndPreparation,
    /// Ask whether `worker` is busy; answer with `handle_probe(Probe::Busy)`.
    ProbeBusy { worker: usize, name: String },
    /// Run the ready command of `worker`, whose process `id` runs but is not ready; answer
    /// with `handle_probe(Probe::Ready)`.
    ProbeReady {
        worker: usize,
        name: String,
        id: Proc,
    },
    /// Run the ready command of `worker`, whose process `id` runs (`ready.every`); if it fails
    /// and the worker has a busy command, ask that too. Answer with
    /// `handle_probe(Probe::Alive)`.
    ProbeAlive {
        worker: usize,
        name: String,
        id: Proc,
    },
    /// Read the resident memory of worker process `id`'s whole verified tree (only its known
    /// processes, not the whole process table); answer with `handle_probe(Probe::Memory)`.
    ProbeMemory {
        worker: usize,
        name: String,
        id: Proc,
    },
    /// Wait for process `id` of worker `name` to exit (`handle_exit`), instead of the one
    /// watched before for that worker.
    /// For a service worker, its exit is reported with `handle_service_exited` first.
    Watch { name: String, id: Proc },
    /// Service worker `name`'s watched process `id` exited: read the Service Control Manager
    /// until `service_verdict` decides, and report the verdict (`handle_service_restarted`,
    /// `handle_service_stopped`, or `handle_exit` for a crash). `Unwatch` ends this too.
    AwaitService { name: String, id: Proc },
    /// Stop watching worker `name` (its restart stops it on purpose).
    Unwatch { name: String },
    /// Run the command of `query` (an index) now, planned for `at` (its dates are `at`'s),
    /// its workers being ready (the core has waited for them, and recorded the run as
    /// running); report its end with `handle_query_done`. `catch_up`: a missed run, run late
    /// (`catch_up:`); the shell records it as one. If that running record
    /// (`Save::QueryRunning`, just before) could not be written, the shell does not start the
    /// command and says so with `handle_query_unrecorded`.
    RunQuery {
        query: usize,
        name: String,
        at: DateTime<Utc>,
        catch_up: bool,
    },
    /// `query` begins: find out whether its `workers` are ready; answer with
    /// `handle_readiness`.
    CheckReady { query: String, workers: Vec<String> },
    /// A run of `query` is due and waits for its `workers` (names) to be ready: find out what
    /// the state directory says about them; answer with `handle_query_ready`.
    CheckQueryReady { query: String, workers: Vec<String> },
    /// Raise an alert (the Event Log, and `alert.command` if set).
    Alert {
        event: &'static str,
        worker: Option<String>,
        message: String,
    },
    /// Write a log line.
    Log(Note),
    /// Write a record to the state directory (for `status`).
    Save(Save),
}

/// A restart deferred while its worker is busy, after a busy answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Waiting {
    /// It runs by then at the latest: a planned restart's query's start, or a memory
    /// restart's longest wait.
    pub until: DateTime<Utc>,
    /// The busy probe's answer.
    pub answer: String,
    /// A memory restart (`max_memory`), not a planned one.
    pub memory: bool,
    /// The first busy answer of this deferral (the restart is deferred from now on); later
    /// ones only ask again.
    pub first: bool,
}

/// A record for the state directory.
#[derive(Debug, Clone, PartialEq)]
pub enum Save {
    /// A worker's supervision state (and its not-ready state, if any).
    Supervision {
        worker: String,
        record: SupervisionSnapshot,
    },
    /// A worker's deferred restart (`None`: no longer deferred). `at` is now: a new
    /// deferral starts then.
    Deferral {
        worker: String,
        deferral: Option<Waiting>,
        at: DateTime<Utc>,
    },
    /// A query run skipped because the previous run was still going (or waiting for its
    /// workers).
    QuerySkipped {
        query: String,
        scheduled_at: DateTime<Utc>,
        at: DateTime<Utc>,
    },
    /// A due run of `query` planned for `scheduled_at` waits for its workers from `at`
    /// (`ready_wait`): recorded, so that a daemon stopped meanwhile finds, at its next start,
    /// a run that was not run (`LastRun::waiting`).
    QueryWaiting {
        query: String,
        scheduled_at: DateTime<Utc>,
        at: DateTime<Utc>,
        catch_up: bool,
    },
    /// The command of a run of `query` planned for `scheduled_at` starts at `at`: recorded as
    /// running, so that a daemon stopped before it ends does not run it again (not written:
    /// the command is not started, `Action::RunQuery`).
    QueryRunning {
        query: String,
        scheduled_at: DateTime<Utc>,
        at: DateTime<Utc>,
        catch_up: bool,
    },
    /// A run of `query` planned for `scheduled_at`, which waited for its workers from `since`,
    /// is not run (`summary` says why). Its duration is none: a run's is its command's.
    QueryNotRun {
        query: String,
        scheduled_at: DateTime<Utc>,
        since: DateTime<Utc>,
        at: DateTime<Utc>,
        summary: String,
        catch_up: bool,
    },
    /// The command of the run of `query` planned for `scheduled_at`, started at `started`,
    /// had not ended when the previous daemon stopped: its outcome is unknown (`at` is now).
    QueryInterrupted {
        query: String,
        scheduled_at: DateTime<Utc>,
        started: DateTime<Utc>,
        at: DateTime<Utc>,
        summary: String,
    },
    /// Missed runs of `query` were skipped, the last planned for `scheduled_at` (older than
    /// its `catch_up`).
    QueryMissed {
        query: String,
        scheduled_at: DateTime<Utc>,
        at: DateTime<Utc>,
        summary: String,
    },
    /// The last answers of the periodic checks of `worker`'s process `pid` (`None` keeps
    /// the answer recorded before, about the same process).
    Fitness {
        worker: String,
        pid: u32,
        ready: Option<ReadyAnswer>,
        memory: Option<MemoryReading>,
    },
    /// The not-ready worker `id` became ready at `at`: its last restart counts as good.
    ReadyLater {
        worker: String,
        id: Proc,
        at: DateTime<Utc>,
    },
    /// Windows started the service worker again as `id` (its recovery, an admin), and the
    /// daemon watches it now: recorded as the worker's process, as a sequence's start is, so
    /// that a later daemon adopts it.
    Adopted { worker: String, id: Proc },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SupervisionSnapshot {
    pub restarts: u32,
    pub failures_in_a_row: u32,
    pub backoff: Duration,
    pub last_crash: Option<DateTime<Utc>>,
    pub gave_up: bool,
    /// A service worker's service was stopped on purpose then (`worker_stopped`).
    pub stopped_on_purpose: Option<DateTime<Utc>>,
    pub not_ready: Option<NotReadySnapshot>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotReadySnapshot {
    pub pid: u32,
    pub since: DateTime<Utc>,
    pub probes: u32,
    pub answer: String,
    /// `None` while a probe runs.
    pub next_probe: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Info,
    Warn,
    Error,
}

/// A log line: level, message and fields. The shell writes it with one `tracing` call whose
/// fields are in this struct's order, so a line looks as it always did.
#[derive(Debug, Clone, PartialEq)]
pub struct Note {
    pub level: Level,
    pub message: String,
    pub fields: Fields,
}

/// The fields a decision's log line may carry, in the order they are written. Texts are
/// written as they are (`%`); `workers` and `command` are already in `Debug` form.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Fields {
    pub restart_at: Option<String>,
    pub late_ms: Option<f64>,
    pub queries: Option<String>,
    pub workers: Option<String>,
    pub worker: Option<String>,
    pub pid: Option<u32>,
    pub attempt: Option<u32>,
    pub probe: Option<u32>,
    pub probes: Option<u32>,
    pub answer: Option<String>,
    pub query: Option<String>,
    pub command: Option<String>,
    pub schedule: Option<String>,
    pub error: Option<String>,
}

impl Note {
    fn new(level: Level, message: impl Into<String>) -> Note {
        Note {
            level,
            message: message.into(),
            fields: Fields::default(),
        }
    }
    pub fn info(message: impl Into<String>) -> Note {
        Note::new(Level::Info, message)
    }
    pub fn warn(message: impl Into<String>) -> Note {
        Note::new(Level::Warn, message)
    }
    pub fn error(message: impl Into<String>) -> Note {
        Note::new(Level::Error, message)
    }
    pub fn restart_at(mut self, v: impl Into<String>) -> Note {
        self.fields.restart_at = Some(v.into());
        self
    }
    pub fn late_ms(mut self, v: f64) -> Note {
        self.fields.late_ms = Some(v);
        self
    }
    pub fn queries(mut self, v: impl Into<String>) -> Note {
        self.fields.queries = Some(v.into());
        self
    }
    pub fn workers(mut self, v: impl Into<String>) -> Note {
        self.fields.workers = Some(v.into());
        self
    }
    pub fn worker(mut self, v: &str) -> Note {
        self.fields.worker = Some(v.to_string());
        self
    }
    pub fn pid(mut self, v: u32) -> Note {
        self.fields.pid = Some(v);
        self
    }
    pub fn attempt(mut self, v: u32) -> Note {
        self.fields.attempt = Some(v);
        self
    }
    pub fn probe(mut self, v: u32) -> Note {
        self.fields.probe = Some(v);
        self
    }
    pub fn probes(mut self, v: u32) -> Note {
        self.fields.probes = Some(v);
        self
    }
    pub fn answer(mut self, v: impl Into<String>) -> Note {
        self.fields.answer = Some(v.into());
        self
    }
    pub fn query(mut self, v: &str) -> Note {
        self.fields.query = Some(v.to_string());
        self
    }
    pub fn command(mut self, v: impl Into<String>) -> Note {
        self.fields.command = Some(v.into());
        self
    }
    pub fn schedule(mut self, v: impl Into<String>) -> Note {
        self.fields.schedule = Some(v.into());
        self
    }
    pub fn with_error(mut self, v: impl Into<String>) -> Note {
        self.fields.error = Some(v.into());
        self
    }
}
