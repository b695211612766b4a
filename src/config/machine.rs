//! What a schedule file means on this machine: its folders and programs exist, the state
//! directory can be written by the user checking it, and a fixed-offset `timezone:` is not
//! silently out of step with the machine's daylight saving time.
//!
//! Owns: the checks made against the machine when a schedule is loaded, and their messages.
//! Reads the file system (never creates or changes anything); the machine's zone and the
//! current instant come in as arguments, so tests choose them. What to look at comes from the
//! validator as `Facts`, with the position each value has in the file.

use super::yaml::Pos;
use super::Problem;
use chrono::{DateTime, Offset, TimeDelta, TimeZone, Utc};
use chrono_tz::{OffsetComponents, Tz};
use std::path::{Path, PathBuf};

/// What the validator saw that only the machine can confirm.
#[derive(Debug, Clone, Default)]
pub struct Facts {
    /// `timezone:` as written, when valid.
    pub(super) zone: Option<(Pos, Tz)>,
    /// Where to point a state directory problem: `state_dir:`, else the file's first key.
    pub(super) state_dir: Pos,
    pub(super) paths: Vec<PathRef>,
}

/// A path or program of the file, with its position and field.
#[derive(Debug, Clone)]
pub(super) struct PathRef {
    pub pos: Pos,
    pub field: String,
    pub kind: PathKind,
}

#[derive(Debug, Clone)]
pub(super) enum PathKind {
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

/// The machine as the checks see it.
#[derive(Debug, Clone, Copy)]
pub struct Machine {
    /// Its default time zone, if known.
    pub zone: Option<Tz>,
    pub now: DateTime<Utc>,
}

/// What the checks found: errors make the file invalid, warnings do not.
#[derive(Debug, Default)]
pub(super) struct Found {
    pub errors: Vec<Problem>,
    pub warnings: Vec<Problem>,
}

impl Found {
    fn warn(&mut self, pos: Pos, field: &str, message: String) {
        self.warnings
            .push(problem(pos, field, format!("warning: {message}")));
    }
}

fn problem(pos: Pos, field: &str, message: String) -> Problem {
    Problem {
        line: pos.line,
        col: pos.col,
        field: field.to_string(),
        message,
    }
}

/// Checks `facts` against this machine. Relative paths are relative to `base_dir` (the
/// schedule file's folder); `state_dir` is the schedule's state directory, when the file is
/// valid enough to know it.
pub(super) fn check(
    facts: &Facts,
    base_dir: &Path,
    state_dir: Option<&Path>,
    machine: &Machine,
) -> Found {
    let mut found = Found::default();
    if let (Some((pos, file)), Some(local)) = (facts.zone, machine.zone) {
        if let Some(message) = dst_mismatch(file, local, machine.now) {
            found.warn(pos, "timezone", message);
        }
    }
    let resolve = |p: &Path| {
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            base_dir.join(p)
        }
    };
    for r in &facts.paths {
        match &r.kind {
            PathKind::Dir { path } => {
                let dir = resolve(path);
                if !dir.exists() {
                    found.warn(
                        r.pos,
                        &r.field,
                        format!(
                            "the folder {} does not exist on this machine",
                            dir.display()
                        ),
                    );
                } else if !dir.is_dir() {
                    found.warn(
                        r.pos,
                        &r.field,
                        format!("{} is not a folder", dir.display()),
                    );
                }
            }
            PathKind::Parent { path, what } => {
                let file = resolve(path);
                if let Some(dir) = file.parent().filter(|d| !d.is_dir()) {
                    found.warn(
                        r.pos,
                        &r.field,
                        format!(
                            "the folder {} of this {what} does not exist on this machine",
                            dir.display()
                        ),
                    );
                }
            }
            PathKind::Program {
                command,
                workdir,
                path_var,
            } => {
                let dir = workdir.as_deref().map_or(base_dir.to_path_buf(), resolve);
                program(&mut found, r, command, &dir, path_var.as_deref());
            }
        }
    }
    if let Some(dir) = state_dir {
        if let Some(message) = state_dir_problem(dir) {
            found.warn(facts.state_dir, "state_dir", message);
        }
    }
    found
}

/// Checks that a command's program exists, as the OS will look for it.
fn program(found: &mut Found, r: &PathRef, command: &[String], workdir: &Path, path: Option<&str>) {
    let name = &command[0];
    let field = format!("{}[0]", r.field);
    if let Some(bad) = find_program(name, workdir, path) {
        if let Err(why) = bad {
            found.warn(r.pos, &field, why);
        }
        return;
    }
    if command.len() == 1 && name.split_whitespace().nth(1).is_some() {
        // `["celery -A proj worker"]`: one string, and certainly not a program's name.
        let items: Vec<&str> = name.split_whitespace().collect();
        found.errors.push(problem(
            r.pos,
            &r.field,
            format!(
                "`{name}` is one string and no program of that name exists; commands are run \
                 directly, never through a shell, so write each argument as its own list item: \
                 [{}]",
                items.join(", ")
            ),
        ));
        return;
    }
    let p = Path::new(name);
    let message = if p.is_absolute() || p.components().count() > 1 {
        format!(
            "the program {} does not exist on this machine",
            crate::process::resolve_program(name, workdir).display()
        )
    } else {
        format!(
            "the program `{name}` is not found on {}; give its full path (a virtualenv's \
             bin{}{name}, say)",
            if path.is_some() {
                "the PATH set in `env`"
            } else {
                "this user's PATH"
            },
            std::path::MAIN_SEPARATOR
        )
    };
    found.warn(r.pos, &field, message);
}

/// `None` when `name` is not found; `Some(Err(why))` when it is found but cannot run.
fn find_program(name: &str, workdir: &Path, path: Option<&str>) -> Option<Result<(), String>> {
    let p = Path::new(name);
    let candidates: Vec<PathBuf> = if p.is_absolute() || p.components().count() > 1 {
        vec![crate::process::resolve_program(name, workdir)]
    } else {
        let var = match path {
            Some(v) => Some(std::ffi::OsString::from(v)),
            None => std::env::var_os("PATH"),
        };
        let mut dirs: Vec<PathBuf> = var
            .map(|v| std::env::split_paths(&v).collect())
            .unwrap_or_default();
        if cfg!(windows) {
            // Windows also looks beside the parent program and in the system folders.
            dirs.extend(
                std::env::current_exe()
                    .ok()
                    .and_then(|e| e.parent().map(Path::to_path_buf)),
            );
            if let Some(root) = std::env::var_os("SystemRoot") {
                let root = PathBuf::from(root);
                dirs.push(root.join("System32"));
                dirs.push(root);
            }
        }
        dirs.iter().map(|d| d.join(name)).collect()
    };
    for c in candidates {
        let mut tries = vec![c.clone()];
        if cfg!(windows) && c.extension().is_none() {
            tries.push(c.with_extension("exe"));
        }
        for t in tries {
            if t.is_file() {
                return Some(if crate::os::can_execute(&t) {
                    Ok(())
                } else {
                    Err(format!(
                        "the program {} is not executable by this user",
                        t.display()
                    ))
                });
            }
        }
    }
    None
}

/// Why this user could not keep its state in `dir`, if it could not.
fn state_dir_problem(dir: &Path) -> Option<String> {
    let fix = "`run` and `restart` as this user would fail; check as the user the daemon runs \
               as, and give it that folder or set `state_dir:` to a folder it can write";
    if dir.exists() {
        if !dir.is_dir() {
            return Some(format!(
                "the state directory {} is not a folder",
                dir.display()
            ));
        }
        if !crate::os::can_write(dir) {
            return Some(format!(
                "the state directory {} is not writable by this user: {fix}",
                dir.display()
            ));
        }
        // Lock files left by another user (root ran `restart` once, say).
        let mut locked: Vec<PathBuf> = std::fs::read_dir(dir)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "lock") && p.is_file())
            .filter(|p| !crate::os::can_write(p))
            .collect();
        locked.sort();
        return locked.first().map(|p| {
            format!(
                "the state file {} is not writable by this user: {fix}",
                p.display()
            )
        });
    }
    let ancestor = dir.ancestors().skip(1).find(|a| a.exists())?;
    if !ancestor.is_dir() || !crate::os::can_write(ancestor) {
        return Some(format!(
            "the state directory {} cannot be created: {} is not writable by this user; {fix}",
            dir.display(),
            ancestor.display()
        ));
    }
    None
}

/// The warning for a file zone without DST on a machine whose zone has DST.
fn dst_mismatch(file: Tz, local: Tz, now: DateTime<Utc>) -> Option<String> {
    if file == local {
        return None;
    }
    // One instant a week for a year: enough to meet every DST period.
    let weeks = (0..54).map(|w| now + TimeDelta::weeks(w));
    let offset = |tz: Tz, t: DateTime<Utc>| tz.offset_from_utc_datetime(&t.naive_utc());
    let fixed = {
        let first = offset(file, now).fix();
        weeks.clone().all(|t| offset(file, t).fix() == first)
    };
    if !fixed {
        return None;
    }
    let summer = weeks
        .clone()
        .find(|&t| !offset(local, t).dst_offset().is_zero())?;
    let winter = weeks
        .clone()
        .find(|&t| offset(local, t).dst_offset().is_zero())?;
    let shift = offset(local, summer).fix().local_minus_utc()
        - offset(local, winter).fix().local_minus_utc();
    // An example: 06:30 in the file's zone on a DST day, by the machine's clock.
    let day = summer.with_timezone(&file).date_naive();
    let at = file
        .from_local_datetime(&day.and_hms_opt(6, 30, 0)?)
        .single()?;
    Some(format!(
        "`{}` has no daylight saving time but this machine's zone, {}, has: part of the year \
         every time in this file is {} off the machine's clock (06:30 {} is {} then), so \
         restarts miss queries set in local time; write `timezone: {}` unless the times are \
         meant in {}",
        file.name(),
        local.name(),
        match shift.unsigned_abs() {
            s if s % 3600 == 0 => format!("{}h", s / 3600),
            s => format!("{}m", s / 60),
        },
        at.format("%Z"),
        at.with_timezone(&local).format("%H:%M %Z"),
        local.name(),
        file.name()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn a_fixed_zone_on_a_dst_machine_is_a_warning() {
        let london: Tz = "Europe/London".parse().unwrap();
        let now = utc("2026-11-30T12:00:00Z");
        let m = dst_mismatch(chrono_tz::UTC, london, now).expect("a warning");
        assert!(
            m.starts_with(
                "`UTC` has no daylight saving time but this machine's zone, Europe/London, has"
            ),
            "{m}"
        );
        assert!(m.contains("1h off"), "{m}");
        assert!(m.contains("06:30 UTC is 07:30 BST"), "{m}");
        assert!(m.contains("write `timezone: Europe/London`"), "{m}");

        let gmt1: Tz = "Etc/GMT+1".parse().unwrap();
        assert!(dst_mismatch(gmt1, london, now).is_some());
        let gmt: Tz = "GMT".parse().unwrap();
        assert!(dst_mismatch(gmt, london, now).is_some());
    }

    #[test]
    fn no_warning_without_a_dst_difference() {
        let now = utc("2026-06-01T12:00:00Z");
        let london: Tz = "Europe/London".parse().unwrap();
        let ny: Tz = "America/New_York".parse().unwrap();
        let kolkata: Tz = "Asia/Kolkata".parse().unwrap();
        // A machine in UTC or another zone without DST.
        assert_eq!(dst_mismatch(chrono_tz::UTC, chrono_tz::UTC, now), None);
        assert_eq!(dst_mismatch(chrono_tz::UTC, kolkata, now), None);
        // The file's zone has DST of its own: a deliberate choice.
        assert_eq!(dst_mismatch(ny, london, now), None);
        assert_eq!(dst_mismatch(london, london, now), None);
    }
}
