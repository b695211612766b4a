//! pacs-warden keeps a task-queue worker (OpenREM's Celery worker) fit for scheduled PACS
//! queries: it restarts the worker a lead time before each query.
//!
//! Layout:
//! - `config`: the schedule file — its model, the YAML reader (`config::yaml`, the one module
//!   that parses YAML) and the validator that reports every problem with its line and column;
//!   `config::machine` checks what the file names on this machine (folders, programs, the
//!   state directory, the zone's DST) for `check`'s warnings.
//! - `cron`: crontab expressions with crontab(5) meaning (0/7 = Sunday, day fields ORed).
//! - `zone`: the default time zone and the DST rules for turning wall-clock times into instants.
//! - `plan`: the pure planner, schedule + instant → restarts.
//! - `import`: query times from a crontab or a Task Scheduler export → `queries:` (pure).
//! - `process`: process identity (PID + start time), the `match` rule, process trees.
//! - `os`: the platform seam, the only place with `cfg(unix)`/`cfg(windows)`: detached start,
//!   verified kill, signals, the Windows service and Event Log.
//! - `query_run`: one run of a query pacs-warden runs itself (`command:`), after its workers
//!   are ready.
//! - `sequence`: one worker's restart sequence (stop, wait, kill, pid file, start, confirm).
//! - `daemon`: `run` — the event loop (timers that follow the wall clock, schedule edits,
//!   signals) and the single-instance lock; `daemon::timeline` decides what is due (pure).
//! - `state`: the state directory: what was started, the last outcomes, per-worker locks.
//! - `status`: what `pacs-warden status` gathers and shows.
//! - `trust`: whether a privileged pacs-warden may take commands from a file: who besides the
//!   administrators can change it or the folders above it.
//! - `logging`: tracing set-up: stderr, the daemon's rotating log file, and its warnings and
//!   errors to the Windows Event Log.
//! - `clock`: the one seam through which "now" enters.
//! - `report`: how plans and summaries are shown to people and to scripts.
//! - `text`: text from files and processes shown safely in messages (escapes; pure).
//! - `cli`: the command line; maps errors to exit codes in one place.

pub mod cli;
pub mod clock;
pub mod config;
pub mod cron;
pub mod daemon;
pub mod import;
pub mod logging;
pub mod os;
pub mod plan;
pub mod process;
pub mod query_run;
pub mod report;
pub mod sequence;
pub mod state;
pub mod status;
pub mod text;
pub mod trust;
pub mod zone;
