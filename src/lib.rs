//! pacs-warden keeps a task-queue worker (OpenREM's Celery worker) fit for scheduled PACS
//! queries: it restarts the worker a lead time before each query.
//!
//! The crate is three rings; a module may import its own ring and the rings inside it, never
//! one outside (checked by `scripts/check-layers`, run by `.ci/run`, which also refuses import
//! cycles between modules and any use of the OS inside `core`):
//!
//! ```text
//!   ┌──────────────────────────────────────────────────────────────┐
//!   │ shell: what acts — the daemon's runtime, the restart         │
//!   │        sequence, queries, state directory, logging, status,  │
//!   │        loading the schedule file, the CLI                    │
//!   │   ┌──────────────────────────────────────────────────────┐   │
//!   │   │ sys: the OS seam — processes, spawn, verified kill,  │   │
//!   │   │      signals, timer, clock, machine zone, service,   │   │
//!   │   │      Event Log, file trust; knows no schedule        │   │
//!   │   │   ┌──────────────────────────────────────────────┐   │   │
//!   │   │   │ core: pure — schedule model and validation,  │   │   │
//!   │   │   │       cron, zones, planner, timeline,        │   │   │
//!   │   │   │       the daemon's decisions (warden),       │   │   │
//!   │   │   │       import, reports; text and instants in, │   │   │
//!   │   │   │       values out; no I/O, no clock           │   │   │
//!   │   │   └──────────────────────────────────────────────┘   │   │
//!   │   └──────────────────────────────────────────────────────┘   │
//!   └──────────────────────────────────────────────────────────────┘
//! ```
//!
//! - `core` may import only `core`.
//! - `sys` may import `sys`, and from `core` only plain helpers (`core::text`, `core::zone`);
//!   it takes paths, argument lists, durations and its own small enums, never a schedule.
//! - `shell` may import everything.

pub mod core;
pub mod shell;
pub mod sys;
