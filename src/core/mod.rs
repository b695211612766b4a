//! The pure ring: text and instants in, values out. No tokio, no processes, no files, no
//! environment, no threads and no clock (see `scripts/check-layers`).
//!
//! - `config`: the schedule file — its model, the YAML reader (`config::yaml`, the one module
//!   that parses YAML) and the validator that reports every problem with its line and column.
//! - `diagnostic`: a problem or warning at a line and column of a file, and the one-line form
//!   `check`, reload and `import` print it in.
//! - `cron`: crontab expressions with crontab(5) meaning (0/7 = Sunday, day fields ORed).
//! - `zone`: DST rules for turning wall-clock times into instants; Windows zone names.
//! - `plan`: the planner, schedule + instant → restarts.
//! - `timeline`: what the daemon has to do between two looks at the clock, and across edits.
//! - `warden`: the daemon's decisions as a state machine without I/O (events in, actions out).
//! - `import`: query times from a crontab or a Task Scheduler export → `queries:`.
//! - `metrics`: the daemon's Prometheus metrics, their values and their text format.
//! - `health`: the monitoring check's rules: facts → OK/WARNING/CRITICAL/UNKNOWN, problems,
//!   perfdata, the line.
//! - `rotation`: which log files to rename and delete so that logs stay small (names, sizes
//!   and days in; the renames are the shell's).
//! - `template`: dates and times in a query's command (`{date-1d}`), parsed and expanded.
//! - `report`: how plans and summaries are shown to people and to scripts.
//! - `week`: `plan --week`, the next seven days as a grid of half hours.
//! - `text`: text from files and processes shown safely in messages (escapes).

pub mod config;
pub mod cron;
pub mod diagnostic;
pub mod health;
pub mod import;
pub mod metrics;
pub mod plan;
pub mod report;
pub mod rotation;
pub mod template;
pub mod text;
pub mod timeline;
pub mod warden;
pub mod week;
pub mod zone;
