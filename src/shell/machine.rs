//! What a schedule file means on this machine: its folders and programs exist, the state
//! directory can be written by the user checking it, a fixed-offset `timezone:` is not
//! silently out of step with the machine's daylight saving time, and a service worker's
//! service exists, its WinSW `<stoptimeout>` (when WinSW runs it) shorter than its grace.
//!
//! Owns: the checks made against the machine when a schedule is loaded, and their messages.
//! Reads the file system and asks the SCM, read-only (never creates or changes anything); the
//! machine's zone and the current instant come in as arguments, so tests choose them. What to
//! look at comes from the validator as `Facts`, with the position each value has in the file.

use crate::core::config::facts::{Facts, PathKind, PathRef, ServiceRef};
use crate::core::config::yaml::Pos;
use crate::core::config::Diagnostic;
use chrono::{DateTime, Offset, TimeDelta, TimeZone, Utc};
use chrono_tz::{OffsetComponents, Tz};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The machine as the checks see it.
#[derive(Debug, Clone, Copy)]
pub struct Machine {
    /// Its default time zone, if known.
    pub zone: Option<Tz>,
    pub now: DateTime<Utc>,
}

/// What the checks found: errors make the file invalid, warnings do not.
#[derive(Debug, Default)]
pub struct Found {
    pub errors: Vec<Diagnostic>,
    pub warnings: Vec<Diagnostic>,
}

impl Found {
    fn warn(&mut self, pos: Pos, field: &str, message: String) {
        self.warnings
            .push(Diagnostic::warning(pos.line, pos.col, Some(field), message));
    }
}

fn problem(pos: Pos, field: &str, message: String) -> Diagnostic {
    Diagnostic::error(pos.line, pos.col, Some(field), message)
}

/// Checks `facts` against this machine. Relative paths are relative to `base_dir` (the
/// schedule file's folder); `state_dir` is the schedule's state directory, when the file is
/// valid enough to know it.
pub fn check(facts: &Facts, base_dir: &Path, state_dir: Option<&Path>, machine: &Machine) -> Found {
    let mut found = Found::default();
    if let (Some((pos, file)), Some(local)) = (facts.zone, machine.zone) {
        if let Some(message) = dst_mismatch(file, local, machine.now) {
            found.warn(pos, "timezone", message);
        }
    }
    let resolve = |p: &Path| {
        if p.is_absolute() || windows_absolute(p) {
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
    for s in &facts.services {
        service(&mut found, s);
    }
    if let Some(dir) = state_dir {
        if let Some(message) = state_dir_problem(dir) {
            found.warn(facts.state_dir, "state_dir", message);
        }
    }
    found
}

/// Looks a service worker's service up through the SCM: a missing one is a warning (the file
/// may be meant for another machine); one run by WinSW whose `<stoptimeout>` outlasts the
/// worker's grace is another. Any other failure to read it (no SCM here, no right to read it)
/// says nothing.
fn service(found: &mut Found, s: &ServiceRef) {
    let esc = crate::core::text::escape;
    let svc = match crate::sys::os::scm::open_to_read(&s.name) {
        Ok(svc) => svc,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            found.warn(
                s.pos,
                &s.field,
                format!(
                    "no service named `{}` on this machine (give the service's name, not its \
                     display name: `sc query state= all`)",
                    esc(&s.name)
                ),
            );
            return;
        }
        Err(_) => return,
    };
    let Ok(Some(exe)) = svc.program_path() else {
        return;
    };
    let xml = Path::new(&exe).with_extension("xml");
    let Ok(text) = std::fs::read_to_string(&xml) else {
        return;
    };
    let Ok(timeout) = winsw_stop_timeout(&text) else {
        return;
    };
    let written = s.grace_at.is_some();
    if let Some(message) = grace_too_short(s.grace, written, &timeout, &xml.to_string_lossy()) {
        let (pos, field) = s
            .grace_at
            .as_ref()
            .map_or((s.pos, s.field.as_str()), |(p, f)| (*p, f.as_str()));
        found.warn(pos, field, message);
    }
}

/// What a WinSW wrapper waits for its program to stop before killing it: `<stoptimeout>` as
/// written (`None` when absent) and as a duration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StopTimeout {
    pub written: Option<String>,
    pub duration: Duration,
}

/// WinSW's stop timeout when `<stoptimeout>` is absent.
const WINSW_DEFAULT_STOP_TIMEOUT: Duration = Duration::from_secs(15);

/// How long pacs-warden's grace must exceed WinSW's stop timeout: the SCM's own stop, the
/// wrapper's exit and the service reporting STOPPED come after it.
const WINSW_MARGIN: Duration = Duration::from_secs(30);

/// `<stoptimeout>` of a WinSW configuration file (`<service>` at its root), read as WinSW reads
/// it: a whole number with `ms`, `sec`, `secs`, `min`, `mins`, `hr`, `hrs`, `hour`, `hours`,
/// `day` or `days` after it, or a bare number of milliseconds; 15 s when absent. An `Err`
/// (with why) when the file is not XML or the value is not one of those.
pub fn winsw_stop_timeout(xml: &str) -> Result<StopTimeout, String> {
    let doc = roxmltree::Document::parse(xml).map_err(|e| format!("not XML: {e}"))?;
    let Some(element) = doc
        .root_element()
        .children()
        .find(|n| n.has_tag_name("stoptimeout"))
    else {
        return Ok(StopTimeout {
            written: None,
            duration: WINSW_DEFAULT_STOP_TIMEOUT,
        });
    };
    let text = element.text().unwrap_or("").trim();
    let suffixes: [(&str, u64); 11] = [
        ("ms", 1),
        ("secs", 1_000),
        ("sec", 1_000),
        ("mins", 60_000),
        ("min", 60_000),
        ("hrs", 3_600_000),
        ("hr", 3_600_000),
        ("hours", 3_600_000),
        ("hour", 3_600_000),
        ("days", 86_400_000),
        ("day", 86_400_000),
    ];
    let (number, unit) = suffixes
        .iter()
        .find_map(|(suffix, ms)| text.strip_suffix(suffix).map(|n| (n.trim(), *ms)))
        .unwrap_or((text, 1));
    let bad = || {
        format!(
            "`{}` is not a WinSW duration",
            crate::core::text::escape(text)
        )
    };
    let n: u64 = number.parse().map_err(|_| bad())?;
    let ms = n.checked_mul(unit).ok_or_else(bad)?;
    Ok(StopTimeout {
        written: Some(text.to_string()),
        duration: Duration::from_millis(ms),
    })
}

/// The warning when `grace` leaves less than `WINSW_MARGIN` after the wrapper's stop timeout
/// (read from the file `xml`): pacs-warden would kill the service process while WinSW still
/// gives the worker time to finish. `written`: the file writes `stop.grace` (else it is the
/// default).
pub fn grace_too_short(
    grace: Duration,
    written: bool,
    timeout: &StopTimeout,
    xml: &str,
) -> Option<String> {
    let wanted = timeout.duration + WINSW_MARGIN;
    if grace >= wanted {
        return None;
    }
    let esc = crate::core::text::escape;
    let timeout = match &timeout.written {
        Some(w) => format!("<stoptimeout> {} in {}", esc(w), esc(xml)),
        None => format!("default <stoptimeout> of 15 s ({} has none)", esc(xml)),
    };
    let grace = crate::core::report::file_duration(grace);
    let grace = if written {
        grace
    } else {
        format!("`stop.grace` (not written: {grace})")
    };
    Some(format!(
        "{grace} is shorter than the service's {timeout} plus 30 s: a busy worker would be \
         killed while WinSW still waits for it to finish; set `stop.grace: {}` or more",
        crate::core::report::file_duration(wanted)
    ))
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
    let items: Vec<&str> = name.split_whitespace().collect();
    let is_path = name.contains(['/', '\\']);
    if command.len() == 1
        && items.len() > 1
        && (!is_path || items[1..].iter().any(|a| a.starts_with('-')))
    {
        // `["celery -A proj worker"]`: one string, and certainly not a program's name (where
        // `['C:\Program Files\app.exe']` may just be missing here).
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
    let message = if windows_absolute(p) {
        format!("the program {name} does not exist on this machine")
    } else if p.is_absolute() || p.components().count() > 1 {
        format!(
            "the program {} does not exist on this machine",
            crate::sys::os::resolve_program(name, workdir).display()
        )
    } else {
        format!(
            "the program `{name}` is not found on {}; give its full path (a service starts \
             with a PATH of its own)",
            if path.is_some() {
                "the PATH set in `env`"
            } else {
                "this user's PATH"
            }
        )
    };
    found.warn(r.pos, &field, message);
}

/// `None` when `name` is not found; `Some(Err(why))` when it is found but cannot run.
fn find_program(name: &str, workdir: &Path, path: Option<&str>) -> Option<Result<(), String>> {
    let t = locate_program(name, workdir, path)?;
    Some(if crate::sys::os::can_execute(&t) {
        Ok(())
    } else {
        Err(format!(
            "the program {} is not executable by this user",
            t.display()
        ))
    })
}

/// The file the OS will run for the program `name` of a command whose working directory is
/// `workdir`: a path (absolute, or relative to `workdir`) as it is; a bare name looked up in
/// `path` (the `PATH` the command's `env:` sets) or else this process's `PATH` (on Windows also
/// beside pacs-warden and in the system folders, and with `.exe` added). `None` when there is
/// no such file.
pub fn locate_program(name: &str, workdir: &Path, path: Option<&str>) -> Option<PathBuf> {
    let p = Path::new(name);
    let candidates: Vec<PathBuf> = if windows_absolute(p) {
        vec![p.to_path_buf()]
    } else if p.is_absolute() || p.components().count() > 1 {
        vec![crate::sys::os::resolve_program(name, workdir)]
    } else {
        crate::sys::os::program_search_dirs(path)
            .iter()
            .map(|d| d.join(name))
            .collect()
    };
    for c in candidates {
        if let Some(t) = crate::sys::os::program_files(&c)
            .into_iter()
            .find(|t| t.is_file())
        {
            return Some(t);
        }
    }
    None
}

/// `D:\…`, `D:/…` or `\\server\…`: absolute on Windows, whatever this machine is (a Unix
/// machine checking a Windows schedule must not read it as relative to the file's folder).
fn windows_absolute(p: &Path) -> bool {
    let s = p.to_string_lossy();
    let b = s.as_bytes();
    s.starts_with("\\\\")
        || (b.len() >= 3
            && b[0].is_ascii_alphabetic()
            && b[1] == b':'
            && matches!(b[2], b'\\' | b'/'))
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
        if !crate::sys::os::can_write(dir) {
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
            .filter(|p| !crate::sys::os::can_write(p))
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
    if !ancestor.is_dir() || !crate::sys::os::can_write(ancestor) {
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

    /// The errors and warnings of `yaml` as `LINE:COL: field: message`, relative paths from
    /// `base`.
    fn found(yaml: &str, base: &Path) -> (Vec<String>, Vec<String>) {
        let (validated, facts) = crate::core::config::validate_noting(yaml, || None);
        let mut errors = Vec::new();
        let mut warnings = Vec::new();
        let line = |p: &Diagnostic| p.display(None).to_string();
        match validated {
            Ok(s) => warnings.extend(s.warnings.iter().map(line)),
            Err(problems) => errors.extend(problems.iter().map(line)),
        }
        let machine = Machine {
            zone: None,
            now: utc("2026-11-30T12:00:00Z"),
        };
        let f = check(&facts, base, None, &machine);
        errors.extend(f.errors.iter().map(line));
        warnings.extend(f.warnings.iter().map(line));
        (errors, warnings)
    }

    fn query_command(command: &str, extra: &str) -> String {
        format!("timezone: UTC\nqueries:\n  - name: q\n    at: [\"06:00\"]\n    command: {command}\n{extra}")
    }

    #[test]
    fn a_command_written_as_one_string_is_refused_only_when_certainly_wrong() {
        let dir = tempfile::tempdir().unwrap();
        let refused = "5:15: queries[0].command: `celery -A proj worker` is one string";
        let (errors, _) = found(
            &query_command("[\"celery -A proj worker\"]", ""),
            dir.path(),
        );
        assert!(
            errors.len() == 1 && errors[0].starts_with(refused),
            "{errors:?}"
        );
        let (errors, _) = found(
            &query_command("[\"/opt/venv/bin/celery -A proj worker\"]", ""),
            dir.path(),
        );
        assert_eq!(errors.len(), 1, "{errors:?}");
        // A missing program whose path has a space: only a warning (the file may be meant for
        // another machine).
        let (errors, warnings) = found(
            &query_command("['C:\\Program Files\\App\\app.exe']", ""),
            dir.path(),
        );
        assert_eq!(errors, Vec::<String>::new());
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        // The same one string naming a program that exists: fine.
        let program = dir.path().join("my program");
        std::fs::write(&program, "").unwrap();
        make_executable(&program);
        let (errors, warnings) = found(&query_command("['./my program']", ""), dir.path());
        assert_eq!((errors, warnings), (vec![], vec![]));
    }

    #[cfg(unix)]
    fn make_executable(p: &Path) {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    #[cfg(windows)]
    fn make_executable(_: &Path) {}

    #[test]
    fn programs_are_looked_for_where_the_os_looks() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("work/bin")).unwrap();
        let tool = dir.path().join("work/bin/tool");
        std::fs::write(&tool, "").unwrap();
        make_executable(&tool);
        // A relative path with a separator: from the workdir.
        let (e, w) = found(
            &query_command("[bin/tool]", "    workdir: work\n"),
            dir.path(),
        );
        assert_eq!((e, w), (vec![], vec![]));
        let (_, w) = found(&query_command("[bin/tool]", ""), dir.path());
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(w[0].contains("does not exist on this machine"), "{w:?}");
        // A bare name: through the PATH the query's `env` sets.
        let path = dir.path().join("work/bin").display().to_string();
        let env = format!("    env: {{PATH: '{path}'}}\n");
        let (e, w) = found(&query_command("[tool]", &env), dir.path());
        assert_eq!((e, w), (vec![], vec![]));
        let (_, w) = found(
            &query_command("[tool]", "    env: {PATH: /nowhere}\n"),
            dir.path(),
        );
        assert!(
            w.len() == 1 && w[0].contains("is not found on the PATH set in `env`"),
            "{w:?}"
        );
    }

    #[test]
    fn windows_paths_are_named_as_written_on_any_machine() {
        let dir = tempfile::tempdir().unwrap();
        let yaml = query_command(
            r"['D:\Server Apps\python.exe', x]",
            "    workdir: 'D:\\Server Apps\\openrem'\n",
        );
        let (_, w) = found(&yaml, dir.path());
        if cfg!(windows) && Path::new(r"D:\Server Apps").exists() {
            return;
        }
        assert_eq!(
            w,
            [
                r"5:15: queries[0].command[0]: warning: the program D:\Server Apps\python.exe does not exist on this machine",
                r"6:14: queries[0].workdir: warning: the folder D:\Server Apps\openrem does not exist on this machine",
            ]
        );
    }

    #[test]
    fn a_state_directory_under_a_file_cannot_be_created() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("file"), "").unwrap();
        let m = state_dir_problem(&dir.path().join("file/state")).expect("a problem");
        assert!(m.contains("cannot be created"), "{m}");
        assert_eq!(state_dir_problem(&dir.path().join("new/state")), None);
        assert_eq!(state_dir_problem(dir.path()), None);
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

    fn winsw(stop: &str) -> String {
        format!(
            "<service>\n  <id>huey</id>\n  <executable>python</executable>\n  {stop}\n</service>\n"
        )
    }

    #[test]
    fn winsw_stop_timeouts_are_read_as_winsw_reads_them() {
        for (written, secs) in [
            ("15 sec", 15),
            ("10 secs", 10),
            ("10 min", 600),
            ("3mins", 180),
            ("1 hour", 3600),
            ("2 hours", 7200),
            ("1 hr", 3600),
            ("2hrs", 7200),
            ("1 day", 86_400),
            ("2 days", 172_800),
            ("15000", 15),
            ("90000ms", 90),
            ("  7 sec ", 7),
        ] {
            let t = winsw_stop_timeout(&winsw(&format!("<stoptimeout>{written}</stoptimeout>")))
                .unwrap_or_else(|e| panic!("{written}: {e}"));
            assert_eq!(t.duration, Duration::from_secs(secs), "{written}");
            assert_eq!(t.written.as_deref(), Some(written.trim()));
        }
        // Absent: WinSW's default, 15 s.
        let t = winsw_stop_timeout(&winsw(
            "<stopparentprocessfirst>true</stopparentprocessfirst>",
        ))
        .unwrap();
        assert_eq!((t.written, t.duration), (None, Duration::from_secs(15)));
        // Not read: no duration, so no warning (WinSW itself would refuse such a file).
        for bad in [
            "ten min",
            "1.5 min",
            "",
            "-5 sec",
            "10 minutes",
            "99999999999999999 days",
        ] {
            let e = winsw_stop_timeout(&winsw(&format!("<stoptimeout>{bad}</stoptimeout>")))
                .unwrap_err();
            assert!(e.contains("is not a WinSW duration"), "{bad}: {e}");
        }
        assert!(winsw_stop_timeout("<service><stoptimeout>").is_err());
        // A `<stoptimeout>` deeper down is not the service's.
        let t = winsw_stop_timeout(&winsw("<log><stoptimeout>1 hour</stoptimeout></log>")).unwrap();
        assert_eq!(t.duration, Duration::from_secs(15));
    }

    #[test]
    fn a_grace_shorter_than_winsw_stop_timeout_and_30_s_is_a_warning() {
        let xml = r"C:\Program Files\OpenREM\huey-default.xml";
        let ten_min = StopTimeout {
            written: Some("10 min".into()),
            duration: Duration::from_secs(600),
        };
        let m = grace_too_short(Duration::from_secs(60), true, &ten_min, xml).expect("a warning");
        assert_eq!(
            m,
            r"1m is shorter than the service's <stoptimeout> 10 min in C:\Program Files\OpenREM\huey-default.xml plus 30 s: a busy worker would be killed while WinSW still waits for it to finish; set `stop.grace: 10m 30s` or more"
        );
        assert_eq!(
            grace_too_short(Duration::from_secs(630), true, &ten_min, xml),
            None
        );
        assert!(grace_too_short(Duration::from_secs(629), true, &ten_min, xml).is_some());
        // The default 15 s, and a grace the file does not write.
        let default = StopTimeout {
            written: None,
            duration: Duration::from_secs(15),
        };
        let m = grace_too_short(Duration::from_secs(10), false, &default, xml).unwrap();
        assert!(
            m.starts_with("`stop.grace` (not written: 10s) is shorter than the service's default <stoptimeout> of 15 s"),
            "{m}"
        );
        assert_eq!(
            grace_too_short(Duration::from_secs(45), false, &default, xml),
            None
        );
        // A path with a control character cannot split the line.
        let m = grace_too_short(Duration::from_secs(1), true, &ten_min, "C:\\a\nb.xml").unwrap();
        assert!(!m.contains('\n') && m.contains(r"C:\a\nb.xml"), "{m}");
    }
}
