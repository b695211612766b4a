//! Reading the schedule file: the bytes from disk, decoded and validated by `core::config`, then
//! what the file names checked on this machine (`shell::machine`).
//!
//! Owns: `load` (what every command and the daemon's reload use) and `read_text`. Does not own
//! the rules (core::config) or the machine checks (shell::machine).

use crate::core::config::{self, yaml, ConfigError, Diagnostic, Schedule};
use crate::shell::machine;
use std::borrow::Cow;
use std::path::{Path, PathBuf};

pub use crate::shell::machine::locate_program;

/// Reads and validates the schedule file at `path`.
pub fn load(path: &Path) -> Result<Schedule, ConfigError> {
    let bytes = std::fs::read(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let text = yaml::decode(&bytes).map_err(|e| ConfigError::Invalid {
        path: path.to_path_buf(),
        problems: vec![Diagnostic::error(
            e.pos.line,
            e.pos.col,
            Some("encoding"),
            e.message,
        )],
    })?;
    let zone = crate::sys::os::machine_zone();
    let (validated, facts) = config::validate_noting(&text, || zone);
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    // Absolute, so that relative paths mean the same in a worker started in its `workdir`.
    let base_dir = std::path::absolute(&dir).unwrap_or(dir);
    let validated = validated.map(|mut s| {
        s.path = path.to_path_buf();
        s.base_dir = base_dir.clone();
        s
    });
    let machine = machine::Machine {
        zone: zone.map(|(tz, _)| tz),
        now: crate::sys::clock::Clock::now(&crate::sys::clock::SystemClock),
    };
    let state_dir = validated.as_ref().ok().map(Schedule::state_dir);
    let found = machine::check(&facts, &base_dir, state_dir.as_deref(), &machine);
    let invalid = |mut problems: Vec<Diagnostic>| {
        problems.sort_by_key(|p| (p.line, p.col));
        ConfigError::Invalid {
            path: path.to_path_buf(),
            problems,
        }
    };
    match validated {
        Ok(_) if !found.errors.is_empty() => Err(invalid(found.errors)),
        Ok(mut schedule) => {
            schedule.warnings.extend(found.warnings);
            schedule.warnings.sort_by_key(|p| (p.line, p.col));
            Ok(schedule)
        }
        Err(mut problems) => {
            problems.extend(found.errors);
            Err(invalid(problems))
        }
    }
}

/// The text of the file at `path` as `load` reads it (BOM and UTF-16 decoded); `None` when it
/// cannot be read or decoded.
pub fn read_text(path: &std::path::Path) -> Option<String> {
    let bytes = std::fs::read(path).ok()?;
    yaml::decode(&bytes).ok().map(Cow::into_owned)
}
