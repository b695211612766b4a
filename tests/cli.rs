//! The real `pacs-warden` binary: `check` messages for every kind of bad input (with their
//! file, line and column), the summary of a good file, `plan`'s table and JSON, exit codes.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_pacs-warden");

/// A schedule file in a temporary directory whose name has a space in it.
struct Warden {
    _dir: tempfile::TempDir,
    path: PathBuf,
}

impl Warden {
    fn schedule(yaml: &str) -> Warden {
        let dir = tempfile::Builder::new()
            .prefix("pacs warden ")
            .tempdir()
            .unwrap();
        let path = dir.path().join("my schedule.yaml");
        std::fs::write(&path, yaml).unwrap();
        Warden { _dir: dir, path }
    }

    fn run(&self, args: &[&str]) -> Output {
        let mut cmd = Command::new(BIN);
        cmd.args(args).arg("--config").arg(&self.path);
        cmd.env_remove("TZ");
        // Under Wine, starting a process fails now and then with ERROR_INTERNAL_ERROR (1359)
        // while these tests start many at once (seen in about one full Windows run in five,
        // always here). The program never ran, so starting it again is safe.
        let mut tries = 0;
        loop {
            match cmd.output() {
                Err(e) if e.raw_os_error() == Some(1359) && tries < 3 => tries += 1,
                result => return result.unwrap(),
            }
        }
    }
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Runs `check` on `yaml` and returns the problem lines with the file path replaced by `F`.
fn problems(yaml: &str) -> Vec<String> {
    let w = Warden::schedule(yaml);
    let out = w.run(&["check"]);
    assert_eq!(out.status.code(), Some(2), "stdout: {}", stdout(&out));
    let path = w.path.display().to_string();
    let err = stderr(&out);
    let lines: Vec<String> = err
        .lines()
        .filter(|l| !l.starts_with("error: "))
        .map(|l| {
            assert!(
                l.starts_with(&path),
                "line does not start with the path: {l}"
            );
            l.replacen(&path, "F", 1)
        })
        .collect();
    let summary = err.lines().last().unwrap();
    assert_eq!(
        summary,
        format!(
            "error: {path}: {} problem{} found",
            lines.len(),
            if lines.len() == 1 { "" } else { "s" }
        )
    );
    lines
}

fn assert_problems(yaml: &str, want: &[&str]) {
    let got = problems(yaml);
    assert_eq!(got.len(), want.len(), "got: {got:#?}");
    for (g, w) in got.iter().zip(want) {
        assert!(g.starts_with(w), "\n got: {g}\nwant: {w}…");
    }
}

const Q: &str = "queries:\n  - name: q\n    at: [\"06:00\"]\n";

#[test]
fn yaml_syntax_errors_name_line_and_column() {
    assert_problems(
        "timezone: UTC\nqueries:\n  - name: q\n    at: [\"06:00\"\n",
        &["F:5:1: yaml: "],
    );
    assert_problems(
        "timezone: UTC\ntimezone: UTC\n",
        &["F:2:1: yaml: duplicate key `timezone` (first at line 1)"],
    );
    assert_problems("- a\n", &["F:1:1: yaml: the file must be a mapping"]);
    assert_problems("", &["F:1:1: yaml: the file is empty"]);
    assert_problems("a: &x 1\nb: *x\n", &["F:1:7: yaml: anchors and aliases"]);
}

#[test]
fn unknown_keys_are_named_with_the_allowed_ones() {
    assert_problems(
        &format!("timezone: UTC\nleed: 15m\n{Q}"),
        &["F:2:1: leed: unknown key `leed`; allowed keys here: timezone, lead, merge_within, queries, workers, state_dir, restart_at_boot, log, alert"],
    );
    assert_problems(
        "timezone: UTC\nqueries:\n  - name: q\n    at: [\"06:00\"]\n    when: now\n",
        &["F:5:5: queries[0].when: unknown key `when`; allowed keys here: name, cron, at, days, workers, command, workdir, env, timeout, log, overlap, ready_wait"],
    );
}

#[test]
fn bad_cron_expressions() {
    let cron = |expr: &str| format!("timezone: UTC\nqueries:\n  - name: q\n    cron: \"{expr}\"\n");
    assert_problems(
        &cron("61 6 * * *"),
        &["F:4:11: queries[0].cron: `61 6 * * *`: minute field: 61 is out of range; allowed 0–59"],
    );
    assert_problems(&cron("30 6 * * 8"), &["F:4:11: queries[0].cron: `30 6 * * 8`: day-of-week field: 8 is out of range; allowed 0–7 (0 and 7 are Sunday)"]);
    assert_problems(
        &cron("30 6 * *"),
        &["F:4:11: queries[0].cron: `30 6 * *`: expected 5 fields"],
    );
    assert_problems(
        &cron("30 6 * foo *"),
        &["F:4:11: queries[0].cron: `30 6 * foo *`: month field: `foo` is not a valid value"],
    );
    assert_problems(
        &cron("0 0 31 2 *"),
        &["F:4:11: queries[0].cron: `0 0 31 2 *` never runs"],
    );
}

#[test]
fn unknown_time_zones_bad_durations() {
    assert_problems(
        &format!("timezone: Europe/Lundon\n{Q}"),
        &["F:1:11: timezone: unknown time zone `Europe/Lundon`; use an IANA name"],
    );
    assert_problems(
        &format!("timezone: UTC\nlead: 15 mins please\n{Q}"),
        &["F:2:7: lead: `15 mins please` is not a duration"],
    );
    assert_problems(
        &format!("timezone: UTC\nmerge_within: 25h\n{Q}"),
        &["F:2:15: merge_within: `25h` is too long; at most 24h is allowed"],
    );
    assert_problems(
        &format!("timezone: UTC\nlead:\n{Q}"),
        &["F:2:1: lead: expected a duration such as 15m, 1h 30m or 90s, found empty"],
    );
}

#[test]
fn bad_at_times_and_days() {
    assert_problems(
        "timezone: UTC\nqueries:\n  - name: q\n    at: [\"06:00\", \"24:00\", \"6:3\"]\n    days: [mon, Tue, someday]\n",
        &[
            "F:4:19: queries[0].at[1]: `24:00` is not a time of day",
            "F:4:28: queries[0].at[2]: `6:3` is not a time of day",
            "F:5:22: queries[0].days[2]: `someday` is not a weekday; allowed: mon, tue, wed, thu, fri, sat, sun",
        ],
    );
    assert_problems(
        "timezone: UTC\nqueries:\n  - name: q\n    at: [\"06:00\"]\n    days: []\n",
        &["F:5:11: queries[0].days: the list of days is empty"],
    );
    assert_problems(
        "timezone: UTC\nqueries:\n  - name: q\n    cron: \"0 6 * * *\"\n    days: [mon]\n",
        &["F:5:11: queries[0].days: `days` goes with `at`"],
    );
}

#[test]
fn names_and_cron_or_at() {
    assert_problems(
        "timezone: UTC\nqueries:\n  - name: q\n    at: [\"06:00\"]\n  - name: q\n    cron: \"0 7 * * *\"\n",
        &["F:5:11: queries[1].name: duplicate query name `q` (also used at line 3)"],
    );
    assert_problems(
        "timezone: UTC\nqueries:\n  - name: \"\"\n    at: [\"06:00\"]\n",
        &["F:3:11: queries[0].name: expected a non-empty name, found empty"],
    );
    assert_problems(
        "timezone: UTC\nqueries:\n  - at: [\"06:00\"]\n",
        &["F:3:5: queries[0].name: `name` is required"],
    );
    assert_problems(
        "timezone: UTC\nqueries:\n  - name: q\n    cron: \"0 6 * * *\"\n    at: [\"06:00\"]\n",
        &["F:5:9: queries[0]: a query has either `cron` or `at`, not both"],
    );
    assert_problems(
        "timezone: UTC\nqueries:\n  - name: q\n",
        &["F:3:5: queries[0]: a query needs `cron` (a crontab expression) or `at` (daily times); found neither"],
    );
    assert_problems(
        "timezone: UTC\nqueries: []\n",
        &["F:2:10: queries: the schedule has no queries"],
    );
    assert_problems(
        "timezone: UTC\n",
        &["F:1:1: queries: `queries` is required"],
    );
}

#[test]
fn all_problems_are_reported_in_file_order() {
    let got = problems(
        "timezone: Mars/Olympus\nlead: soon\nqueries:\n  - name: a\n    cron: \"99 * * * *\"\n  - name: a\n    at: [\"7\"]\n",
    );
    let lines: Vec<&str> = got.iter().map(|l| l.split(": ").next().unwrap()).collect();
    assert_eq!(
        lines,
        ["F:1:11", "F:2:7", "F:5:11", "F:6:11", "F:7:10"],
        "{got:#?}"
    );
}

#[test]
fn queries_naming_unknown_workers() {
    assert_problems(
        "timezone: UTC\nqueries:\n  - name: q\n    at: [\"06:00\"]\n    workers: [default]\n",
        &["F:5:15: queries[0].workers[0]: unknown worker `default`; the file defines no workers"],
    );
}

#[test]
fn check_prints_a_summary_of_a_good_file() {
    let w = Warden::schedule(
        "timezone: Europe/London\nlead: 20m\nqueries:\n  - name: ct\n    cron: \"30 6 * * 1-5\"\n  - name: dx\n    at: [\"07:00\"]\n",
    );
    let out = w.run(&["check"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.starts_with(&format!("{}: OK\n", w.path.display())),
        "{text}"
    );
    assert!(text.contains("2 queries: ct, dx"), "{text}");
    assert!(
        text.contains("time zone Europe/London, lead 20m, merge within 20m"),
        "{text}"
    );
    assert!(text.contains("next restart: "), "{text}");
}

#[test]
fn missing_file_is_a_clear_error() {
    let out = Command::new(BIN)
        .args(["check", "--config", "no such dir/none.yaml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.starts_with("error: no such dir/none.yaml: cannot read the schedule file: "),
        "{err}"
    );
}

const SEED: &str = "timezone: Europe/London\nqueries:\n  - name: ct-weekday\n    cron: \"30 6 * * 1-5\"\n  - name: dx-daily\n    at: [\"07:00\"]\n";

#[test]
fn plan_table_lists_local_times_and_queries() {
    let w = Warden::schedule(SEED);
    // Friday evening: the weekend has only dx-daily.
    let out = w.run(&["plan", "--from", "2026-11-27T18:00:00Z", "--count", "4"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0],
        "Restarts from Fri 2026-11-27 18:00 GMT (time zone Europe/London, lead 15m, merge within 15m):"
    );
    assert!(lines[1].starts_with("RESTART AT"), "{text}");
    let rows: Vec<Vec<&str>> = lines[2..]
        .iter()
        .map(|l| {
            l.split("  ")
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .collect()
        })
        .collect();
    assert_eq!(
        rows,
        [
            vec!["Sat 2026-11-28 06:45 GMT", "12h 45m", "-", "dx-daily 07:00"],
            vec!["Sun 2026-11-29 06:45 GMT", "1d 12h", "-", "dx-daily 07:00"],
            vec![
                "Mon 2026-11-30 06:15 GMT",
                "2d 12h",
                "-",
                "ct-weekday 06:30"
            ],
            vec!["Mon 2026-11-30 06:45 GMT", "2d 12h", "-", "dx-daily 07:00"],
        ],
        "{text}"
    );
}

#[test]
fn plan_json_carries_the_zone_offset() {
    let w = Warden::schedule(SEED);
    let out = w.run(&[
        "plan",
        "--json",
        "--from",
        "2026-06-01T00:00:00+01:00",
        "--until",
        "2026-06-01T07:00:00+01:00",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        v,
        serde_json::json!([
            {"restart_at": "2026-06-01T06:15:00+01:00",
             "queries": [{"name": "ct-weekday", "at": "2026-06-01T06:30:00+01:00", "runs": false}],
             "workers": []},
            {"restart_at": "2026-06-01T06:45:00+01:00",
             "queries": [{"name": "dx-daily", "at": "2026-06-01T07:00:00+01:00", "runs": false}],
             "workers": []}
        ])
    );
}

#[test]
fn plan_rejects_bad_arguments() {
    let w = Warden::schedule(SEED);
    let out = w.run(&["plan", "--from", "tomorrow"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("`tomorrow` is not an RFC 3339 time"),
        "{}",
        stderr(&out)
    );
    let out = w.run(&["plan", "--count", "3", "--until", "2027-01-01T00:00:00Z"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("cannot be used with"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn help_and_version() {
    for args in [&["--help"][..], &["check", "--help"], &["plan", "--help"]] {
        let out = Command::new(BIN).args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{args:?}");
        assert!(stdout(&out).contains("Usage: pacs-warden"), "{args:?}");
    }
    let out = Command::new(BIN).arg("--version").output().unwrap();
    assert_eq!(
        stdout(&out).trim(),
        format!("pacs-warden {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn shipped_schedules_are_valid() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("schedules");
    let mut checked = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "yaml") {
            let out = Command::new(BIN)
                .arg("check")
                .arg("--config")
                .arg(&path)
                .output()
                .unwrap();
            // Schedules that stop their worker with a Unix signal are Linux-only: on Windows
            // `check` must refuse them, saying why.
            let unix_only = std::fs::read_to_string(&path)
                .unwrap()
                .lines()
                .any(|l| l.trim_start().starts_with("signal:"));
            if cfg!(windows) && unix_only {
                assert_eq!(out.status.code(), Some(2), "{}", path.display());
                assert!(
                    stderr(&out).contains("signals are not available on Windows"),
                    "{}: {}",
                    path.display(),
                    stderr(&out)
                );
            } else {
                assert_eq!(
                    out.status.code(),
                    Some(0),
                    "{}: {}",
                    path.display(),
                    stderr(&out)
                );
            }
            checked += 1;
        }
    }
    assert!(checked >= 2, "expected the shipped example schedules");
}

#[test]
fn import_prints_a_schedule_that_passes_check_and_writes_only_when_asked() {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/import");
    let dir = tempfile::Builder::new()
        .prefix("import cli ")
        .tempdir()
        .unwrap();
    let out_path = dir.path().join("imported schedule.yaml");
    let import = |extra: &[&str]| {
        Command::new(BIN)
            .args(["import", "crontab"])
            .arg(fixtures.join("openrem-user.crontab"))
            .args(extra)
            .output()
            .unwrap()
    };
    let printed = import(&[]);
    assert_eq!(printed.status.code(), Some(0), "{}", stderr(&printed));
    assert!(stdout(&printed).contains("queries:"));
    assert!(!out_path.exists());

    let written = import(&["--output", out_path.to_str().unwrap()]);
    assert_eq!(written.status.code(), Some(0), "{}", stderr(&written));
    assert_eq!(
        std::fs::read_to_string(&out_path).unwrap(),
        stdout(&printed)
    );
    let check = Command::new(BIN)
        .arg("check")
        .arg("--config")
        .arg(&out_path)
        .output()
        .unwrap();
    assert_eq!(check.status.code(), Some(0), "{}", stderr(&check));

    std::fs::write(&out_path, "keep me").unwrap();
    let refused = import(&["--output", out_path.to_str().unwrap()]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(stderr(&refused).contains("exists; not overwriting it (use --force)"));
    assert_eq!(std::fs::read_to_string(&out_path).unwrap(), "keep me");
    let forced = import(&["--output", out_path.to_str().unwrap(), "--force"]);
    assert_eq!(forced.status.code(), Some(0));
    assert_ne!(std::fs::read_to_string(&out_path).unwrap(), "keep me");
}

#[test]
fn import_of_a_malformed_crontab_names_the_line_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let tab = dir.path().join("bad.crontab");
    std::fs::write(
        &tab,
        "# ok\n30 6 * * 1-5 /opt/openrem_qr.py 1 1 -ct\n61 7 * * * /opt/openrem_qr.py 1 1 -dx\n",
    )
    .unwrap();
    let out_path = dir.path().join("out.yaml");
    let out = Command::new(BIN)
        .args(["import", "crontab"])
        .arg(&tab)
        .arg("--output")
        .arg(&out_path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains(&format!("{}:3:", tab.display())), "{err}");
    assert!(err.contains("nothing was imported"), "{err}");
    assert!(!out_path.exists());
}

/// The trust check (README, Security): run as root, as CI does; skipped otherwise, with a note.
#[cfg(unix)]
mod trust {
    use super::*;
    use std::os::unix::fs::{chown, symlink, PermissionsExt};

    const NOBODY: u32 = 65534;

    fn root() -> bool {
        // SAFETY: no preconditions.
        let root = unsafe { libc_geteuid() } == 0;
        if !root {
            eprintln!("skipped: the trust check applies only to a pacs-warden run as root");
        }
        root
    }

    extern "C" {
        #[link_name = "geteuid"]
        fn libc_geteuid() -> u32;
    }

    /// A schedule whose worker's start command leaves a mark: if the mark exists, a command of
    /// the schedule ran.
    struct Site {
        w: Warden,
        mark: PathBuf,
    }

    fn site() -> Site {
        let w = Warden::schedule("");
        let dir = w.path.parent().unwrap().to_path_buf();
        let mark = dir.join("started");
        let yaml = format!(
            "timezone: UTC\nqueries:\n  - name: q\n    at: [\"06:00\"]\nrestart_at_boot: false\nworkers:\n  - name: w\n    match: {{image: no-such-image-xyz, args_contain: [x]}}\n    stop: {{grace: 1s}}\n    start:\n      command: [/usr/bin/touch, '{}']\n",
            mark.display()
        );
        std::fs::write(&w.path, yaml).unwrap();
        Site { w, mark }
    }

    /// `run` and `restart` refuse with exit 2, one line per path with `fix`, and start nothing;
    /// `check` says the same as a warning and exits 0.
    fn assert_refused(s: &Site, offending: &Path, fix: &str) {
        for args in [&["restart"][..], &["run"][..]] {
            let out = s.w.run(args);
            let err = stderr(&out);
            assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
            let line = err
                .lines()
                .find(|l| l.contains(&format!("{}: ", offending.display())) && l.contains("fix:"))
                .unwrap_or_else(|| panic!("{args:?}: no line for {}: {err}", offending.display()));
            assert!(line.ends_with(fix), "{args:?}: {line}");
            assert!(err.contains("refusing to run its commands"), "{err}");
            assert!(!s.mark.exists(), "{args:?}: a command of the schedule ran");
        }
        let out = s.w.run(&["check"]);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(0), "{err}");
        assert!(err.contains("warning: ") && err.contains(fix), "{err}");
        assert!(!s.mark.exists());
    }

    /// The schedule is trusted: `restart` runs its start command (`touch` exits at once, so
    /// the restart itself reports that the worker did not stay up: exit 1, not 2).
    fn restart_runs(s: &Site) {
        let out = s.w.run(&["restart"]);
        assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
        assert!(!stderr(&out).contains("refusing"), "{}", stderr(&out));
        assert!(s.mark.exists(), "the start command did not run");
        std::fs::remove_file(&s.mark).unwrap();
    }

    fn chmod(p: &Path, mode: u32) {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    #[test]
    fn group_or_world_writable_schedules_are_refused_until_tightened() {
        if !root() {
            return;
        }
        let s = site();
        let p = s.w.path.clone();
        restart_runs(&s);
        chown(&p, None, Some(NOBODY)).unwrap();
        chmod(&p, 0o664);
        assert_refused(&s, &p, &format!("chmod go-w '{}'", p.display()));
        chmod(&p, 0o646);
        assert_refused(&s, &p, &format!("chmod go-w '{}'", p.display()));
        chmod(&p, 0o644);
        restart_runs(&s);
    }

    #[test]
    fn a_schedule_owned_by_another_user_is_refused() {
        if !root() {
            return;
        }
        let s = site();
        let p = s.w.path.clone();
        chown(&p, Some(NOBODY), None).unwrap();
        assert_refused(&s, &p, &format!("chown root '{}'", p.display()));
        chown(&p, Some(0), None).unwrap();
        restart_runs(&s);
    }

    #[test]
    fn a_writable_folder_above_the_schedule_is_refused() {
        if !root() {
            return;
        }
        let s = site();
        let dir = s.w.path.parent().unwrap().to_path_buf();
        chmod(&dir, 0o777);
        assert_refused(&s, &dir, &format!("chmod go-w '{}'", dir.display()));
        chmod(&dir, 0o755);
        restart_runs(&s);
    }

    #[test]
    fn a_file_in_tmp_trusted_only_when_root_owns_it() {
        if !root() {
            return;
        }
        // Directly in the sticky /tmp: safe above a root-owned file, not above another user's.
        let s = site();
        let in_tmp =
            std::env::temp_dir().join(format!("pacs-warden-trust-{}.yaml", std::process::id()));
        std::fs::copy(&s.w.path, &in_tmp).unwrap();
        let w = Warden {
            _dir: tempfile::tempdir().unwrap(),
            path: in_tmp.clone(),
        };
        let s2 = Site {
            w,
            mark: s.mark.clone(),
        };
        restart_runs(&s2);
        chown(&in_tmp, Some(NOBODY), Some(NOBODY)).unwrap();
        assert_refused(&s2, &in_tmp, &format!("chown root {}", in_tmp.display()));
        let _ = std::fs::remove_file(&in_tmp);
        let _ = std::fs::remove_dir_all(in_tmp.with_extension("yaml.state"));
    }

    #[test]
    fn a_writable_start_program_is_refused() {
        if !root() {
            return;
        }
        let s = site();
        let dir = s.w.path.parent().unwrap();
        let program = dir.join("start worker");
        std::fs::copy("/usr/bin/touch", &program).unwrap();
        let yaml = std::fs::read_to_string(&s.w.path)
            .unwrap()
            .replace("/usr/bin/touch", &program.display().to_string());
        std::fs::write(&s.w.path, yaml).unwrap();
        chmod(&program, 0o777);
        assert_refused(&s, &program, &format!("chmod go-w '{}'", program.display()));
        chmod(&program, 0o755);
        restart_runs(&s);
    }

    #[test]
    fn a_writable_state_directory_is_refused() {
        if !root() {
            return;
        }
        let s = site();
        restart_runs(&s);
        let state = PathBuf::from(format!("{}.state", s.w.path.display()));
        assert!(state.is_dir());
        // Created private.
        let mode = std::fs::metadata(&state).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700, "state directory mode {mode:o}");
        chmod(&state, 0o777);
        assert_refused(&s, &state, &format!("chmod go-w '{}'", state.display()));
    }

    #[test]
    fn a_symbolic_link_planted_as_a_state_file_is_refused_not_followed() {
        if !root() {
            return;
        }
        let s = site();
        restart_runs(&s);
        let state = PathBuf::from(format!("{}.state", s.w.path.display()));
        let target = s.w.path.parent().unwrap().join("target-of-link");
        std::fs::write(&target, "precious").unwrap();
        // In place of the worker's lock file, and of the state record.
        for name in ["w.lock", "state.json"] {
            let planted = state.join(name);
            let _ = std::fs::remove_file(&planted);
            symlink(&target, &planted).unwrap();
            assert_refused(&s, &planted, &format!("rm '{}'", planted.display()));
            assert_eq!(std::fs::read_to_string(&target).unwrap(), "precious");
            assert!(!s.mark.exists(), "{name}: a command of the schedule ran");
            std::fs::remove_file(&planted).unwrap();
        }
        restart_runs(&s);
    }

    #[test]
    fn unprivileged_runs_trust_their_files() {
        if !root() {
            return;
        }
        // As `nobody`, a world-writable schedule in a folder nobody owns is accepted: the
        // check guards the administrators' rights only.
        let s = site();
        let dir = s.w.path.parent().unwrap().to_path_buf();
        chown(&dir, Some(NOBODY), Some(NOBODY)).unwrap();
        chown(&s.w.path, Some(NOBODY), Some(NOBODY)).unwrap();
        chmod(&s.w.path, 0o666);
        use std::os::unix::process::CommandExt;
        let out = Command::new(BIN)
            .args(["restart", "--config"])
            .arg(&s.w.path)
            .uid(NOBODY)
            .gid(NOBODY)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
        assert!(s.mark.exists());
        let out = Command::new(BIN)
            .args(["check", "--config"])
            .arg(&s.w.path)
            .uid(NOBODY)
            .gid(NOBODY)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0));
        assert!(!stderr(&out).contains("warning"), "{}", stderr(&out));
    }

    #[test]
    fn allow_writable_by_trusts_the_named_group() {
        if !root() {
            return;
        }
        let s = site();
        chown(&s.w.path, None, Some(NOBODY)).unwrap();
        chmod(&s.w.path, 0o664);
        let group = std::fs::read_to_string("/etc/group")
            .unwrap()
            .lines()
            .find_map(|l| {
                let f: Vec<&str> = l.split(':').collect();
                (f.get(2) == Some(&NOBODY.to_string().as_str())).then(|| f[0].to_string())
            })
            .expect("a group with gid 65534");
        let out = s.w.run(&["restart", "--allow-writable-by", &group]);
        assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
        assert!(s.mark.exists());
    }
}
