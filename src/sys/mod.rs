//! The OS seam: the same functions on every OS, the only ring with `cfg(unix)` /
//! `cfg(windows)`. It knows nothing of schedules: it takes paths, argument lists, durations
//! and its own small enums.
//!
//! - `os`: detached start, verified kill, signals, the wall-clock timer, the machine's time
//!   zone, the Windows service, the Event Log, and whether stdout shows colour.
//! - `process`: process identity (PID + start time), snapshots and process trees.
//! - `trust`: whether a privileged pacs-warden may take commands from a file: who besides the
//!   administrators can change it or the folders above it.
//! - `clock`: the one seam through which "now" enters.
//! - `lock`: file locks (open a lock file safely, try-lock it, a guard that releases it).

pub mod clock;
pub mod lock;
pub mod os;
pub mod process;
pub mod trust;
