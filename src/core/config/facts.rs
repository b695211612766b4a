//! What the validator noted that only the machine can confirm: the zone as written, the paths
//! and programs the file names, the Windows services its workers name (with their grace), each
//! with its position and field. `shell::machine` checks them.

use super::yaml::Pos;
use chrono_tz::Tz;
use std::path::PathBuf;
use std::time::Duration;

/// What the validator saw that only the machine can confirm.
#[derive(Debug, Clone, Default)]
pub struct Facts {
    /// `timezone:` as written, when valid.
    pub zone: Option<(Pos, Tz)>,
    /// Where to point a state directory problem: `state_dir:`, else the file's first key.
    pub state_dir: Pos,
    pub paths: Vec<PathRef>,
    /// The service workers' services.
    pub services: Vec<ServiceRef>,
}

/// A service worker's `service:` and its `stop.grace`, to look the service up and compare the
/// grace with its wrapper's own stop timeout.
#[derive(Debug, Clone)]
pub struct ServiceRef {
    /// Where `service:`'s value is, and its field.
    pub pos: Pos,
    pub field: String,
    pub name: String,
    pub grace: Duration,
    /// Where `stop.grace`'s value is, and its field, when it is written.
    pub grace_at: Option<(Pos, String)>,
}

/// A path or program of the file, with its position and field.
#[derive(Debug, Clone)]
pub struct PathRef {
    pub pos: Pos,
    pub field: String,
    pub kind: PathKind,
}

#[derive(Debug, Clone)]
pub enum PathKind {
    /// A folder that must exist (`workdir`).
    Dir { path: PathBuf },
    /// A file whose folder must exist (`pidfile`, a log); `what` names it in messages.
    Parent { path: PathBuf, what: &'static str },
    /// A command; its program must exist. `workdir` as written (relative programs are found
    /// there) and `path_var`, the `PATH` its `env` sets, if any.
    Program {
        command: Vec<String>,
        workdir: Option<PathBuf>,
        path_var: Option<String>,
    },
}
