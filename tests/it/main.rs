//! The integration tests: one test binary (one link, one process to start), one module per
//! area, and one harness (`harness`) for everything that runs the real `pacs-warden` binary or
//! the demo worker.
//!
//! The tests run as threads of this one process (also under Wine), so none of them may change
//! what the process shares: no test sets an environment variable of its own process, changes
//! its working directory or installs a process-wide handler; what a child needs is set on its
//! `Command`. Processes a test starts carry a tag unique to that test (`harness::Tag`), and
//! only processes with the test's tag, verified by PID and start time, are ever killed.

/// The Celery end-to-end tests' world (redis, a venv, the seed's worker); also used by
/// `benches/restart_celery.rs`.
#[cfg(unix)]
#[path = "../celery/support.rs"]
mod celery;
mod harness;

mod cli;
mod daemon;
#[cfg(unix)]
mod e2e_celery;
#[cfg(unix)]
mod e2e_celery_long_task;
mod health;
mod import;
#[cfg(unix)]
mod metrics;
mod planner_property;
mod planner_rules;
mod queries;
mod sequence;
mod supervise;
mod windows;
