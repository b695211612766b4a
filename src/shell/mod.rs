//! The ring that acts: it reads the schedule file, runs the daemon, restarts workers, runs
//! queries, keeps the state directory, logs, and answers the command line.
//!
//! - `schedule`: reading the schedule file (`load`), and `machine`, what it means on this
//!   machine (folders, programs, the state directory, the zone's DST) for `check`'s warnings.
//! - `daemon`: `run` — the event loop (timers that follow the wall clock, schedule edits,
//!   signals) and the single-instance lock.
//! - `sequence`: one worker's restart sequence (stop, wait, kill, pid file, start, confirm).
//! - `query_run`: one run of a query pacs-warden runs itself (`command:`).
//! - `command`: the one runner of helper commands (stop, ready, busy, alert, query): argument
//!   lists, one timeout and kill policy, capped output.
//! - `state`: the state directory: what was started, the last outcomes, per-worker locks.
//! - `status`: what `pacs-warden status` gathers and shows.
//! - `health`: the monitoring check (`pacs-warden health`) over `status`'s gathering.
//! - `logging`: stderr, the daemon's rotating log file, the Windows Event Log.
//! - `error`: the binary's one error type, its text and exit status (`code`).
//! - `cli`: the command line; prints the error and exits with its code, in one place.

pub mod cli;
pub mod command;
pub mod daemon;
pub mod error;
pub mod health;
pub mod logging;
pub mod machine;
pub mod query_run;
pub mod schedule;
pub mod sequence;
pub mod state;
pub mod status;
