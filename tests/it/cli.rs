//! The real `pacs-warden` binary: `check` messages for every kind of bad input (with their
//! file, line and column), the summary of a good file, `plan`'s table and JSON, `plan --week`'s
//! grid (DST weeks, colour only on a terminal without `NO_COLOR`), exit codes.

use crate::harness::{self as common, stderr, stdout, Warden};
use std::path::Path;
use std::process::Output;

/// Runs `check` on `yaml` and returns the problem lines with the file path replaced by `F`.
fn problems(yaml: &str) -> Vec<String> {
    problems_of(yaml.as_bytes())
}

/// `problems` for a file holding exactly `bytes`.
fn problems_of(bytes: &[u8]) -> Vec<String> {
    let w = Warden::schedule_bytes(bytes);
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
    assert_problems_of(yaml.as_bytes(), want)
}

fn assert_problems_of(bytes: &[u8], want: &[&str]) {
    let got = problems_of(bytes);
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
        &["F:2:1: leed: unknown key `leed`; allowed keys here: timezone, lead, merge_within, queries, workers, state_dir, restart_at_boot, log, alert, metrics"],
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

/// `stop.signal` takes this system's names only: Unix signals on Unix, console events on
/// Windows; a name of the other system is refused, naming the allowed ones.
#[test]
fn a_stop_signal_of_the_other_system_is_refused_naming_the_allowed_ones() {
    let (other, want) = if cfg!(windows) {
        (
            "INT",
            "F:8:20: workers[0].stop.signal: `INT` is a Unix signal; on Windows use CTRL_C (a \
             graceful stop for Python, Huey and Celery) or CTRL_BREAK (ends a Python worker at \
             once)",
        )
    } else {
        (
            "CTRL_C",
            "F:8:20: workers[0].stop.signal: `CTRL_C` is a Windows console event; on this \
             system use TERM, INT, QUIT or HUP",
        )
    };
    let yaml = format!(
        "timezone: UTC\n{Q}workers:\n  - name: w\n    match: {{image: w}}\n    stop: {{signal: {other}}}\n    start: {{command: [w]}}\n"
    );
    let got = problems(&yaml);
    let signal: Vec<&String> = got.iter().filter(|l| l.contains("stop.signal")).collect();
    assert_eq!(signal, [want], "{got:#?}");
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

/// The warning lines of a successful `check` (exit 0), the file path replaced by `F`.
fn warnings(w: &Warden, out: &Output) -> Vec<String> {
    assert_eq!(out.status.code(), Some(0), "{}", stderr(out));
    let path = w.path.display().to_string();
    stderr(out)
        .lines()
        .map(|l| {
            assert!(
                l.starts_with(&path),
                "line does not start with the path: {l}"
            );
            l.replacen(&path, "F", 1)
        })
        .collect()
}

fn assert_lines(got: &[String], want: &[&str]) {
    assert_eq!(got.len(), want.len(), "got: {got:#?}");
    for (g, w) in got.iter().zip(want) {
        assert!(g.starts_with(w), "\n got: {g}\nwant: {w}…");
    }
}

#[test]
fn hints_for_bare_numbers_and_windows_zone_names() {
    assert_problems(
        &format!("timezone: GMT Standard Time\nlead: 15\n{Q}"),
        &[
            "F:1:11: timezone: `GMT Standard Time` is a Windows time zone name; write its IANA name: `timezone: Europe/London`",
            "F:2:7: lead: `15` has no time unit; write `15m` for 15 minutes",
        ],
    );
    assert_problems(
        &format!("timezone: europe/london\n{Q}workers:\n  - name: w\n    match: {{image: w, args_contain: x}}\n    start: {{command: [w]}}\n    stop: {{grace: 10}}\n"),
        &[
            "F:1:11: timezone: unknown time zone `europe/london`; did you mean `Europe/London`?",
            "F:9:19: workers[0].stop.grace: `10` has no time unit; write `10s` for 10 seconds",
        ],
    );
}

#[test]
fn control_characters_and_one_string_commands_are_errors() {
    // `\n` and `\t` in double quotes: a newline and a tab in the path.
    assert_problems(
        &format!(
            "timezone: UTC\nstate_dir: \"E:\\new\\temp\"\n{Q}    command: [\"celery -A proj worker\"]\n"
        ),
        &[
            "F:2:12: state_dir: \"E:\\new\\temp\" became a path with a newline and a tab: in double quotes, YAML reads backslashes as escapes; write Windows paths in single quotes: 'E:\\new\\temp'",
            "F:6:15: queries[0].command: `celery -A proj worker` is one string and no program of that name exists; commands are run directly, never through a shell, so write each argument as its own list item: [celery, -A, proj, worker]",
        ],
    );
}

#[test]
fn check_warns_about_a_fixed_zone_when_the_machine_has_dst() {
    let w = Warden::schedule(&format!("timezone: UTC\n{Q}"));
    let out = w.run_with(&["check"], |c| {
        c.env("TZ", "Europe/London");
    });
    assert_lines(
        &warnings(&w, &out),
        &["F:1:11: timezone: warning: `UTC` has no daylight saving time but this machine's zone, Europe/London, has: part of the year every time in this file is 1h off the machine's clock (06:30 UTC is 07:30 BST then), so restarts miss queries set in local time; write `timezone: Europe/London` unless the times are meant in UTC"],
    );
    assert!(
        stdout(&out).starts_with(&format!("{}: OK, with 1 warning\n", w.path.display())),
        "{}",
        stdout(&out)
    );
    // The same file on a machine in UTC, or in a zone without DST: no warning.
    for zone in ["UTC", "Asia/Kolkata"] {
        let out = w.run_with(&["check"], |c| {
            c.env("TZ", zone);
        });
        assert_lines(&warnings(&w, &out), &[]);
    }
}

/// A worker whose folders and programs are missing on this machine, matched by image only.
fn missing_paths_schedule() -> String {
    format!(
        "timezone: UTC\n{Q}workers:\n  - name: w\n    workdir: no-such-dir\n    pidfile: no-run/w.pid\n    match: {{image: celery}}\n    start:\n      command: [./venv/bin/celery, worker]\n      log: no-logs/w.log\n    stop:\n      command: [pacs-warden-no-such-program, stop]\n"
    )
}

#[test]
fn check_warns_about_missing_folders_programs_and_a_loose_match() {
    let w = Warden::schedule(&missing_paths_schedule());
    let dir = w.path.parent().unwrap();
    let out = w.run(&["check"]);
    let want = [
        format!(
            "F:7:14: workers[0].workdir: warning: the folder {} does not exist on this machine",
            dir.join("no-such-dir").display()
        ),
        format!(
            "F:8:14: workers[0].pidfile: warning: the folder {} of this pid file does not exist on this machine",
            dir.join("no-run").display()
        ),
        "F:9:13: workers[0].match: warning: no `args_contain`: every `celery` process on this machine counts as this worker".to_string(),
        format!(
            "F:11:17: workers[0].start.command[0]: warning: the program {} does not exist on this machine",
            dir.join("no-such-dir").join("./venv/bin/celery").display()
        ),
        format!(
            "F:12:12: workers[0].start.log: warning: the folder {} of this log file does not exist on this machine",
            dir.join("no-logs").display()
        ),
        "F:14:17: workers[0].stop.command[0]: warning: the program `pacs-warden-no-such-program` is not found on this user's PATH".to_string(),
    ];
    let want: Vec<&str> = want.iter().map(String::as_str).collect();
    assert_lines(&warnings(&w, &out), &want);
    assert!(
        stdout(&out).contains(": OK, with 6 warnings\n"),
        "{}",
        stdout(&out)
    );

    // `restart --dry-run` shows them too, before what it would do.
    let out = w.run(&["restart", "--dry-run"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_lines(&warnings(&w, &out), &want);
    assert!(stdout(&out).contains("would start"), "{}", stdout(&out));
}

#[test]
fn a_missing_workdir_is_named_when_the_worker_cannot_start() {
    let worker = common::WORKER;
    let w = Warden::schedule(&format!(
        "timezone: UTC\n{Q}workers:\n  - name: w\n    workdir: no-such-dir\n    match: {{image: pacs-demo-worker, args_contain: \"--name missing-workdir\"}}\n    start:\n      command: ['{worker}', run, --name, missing-workdir]\n"
    ));
    let out = w.run(&["restart"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let workdir = w.path.parent().unwrap().join("no-such-dir");
    assert!(
        stdout(&out).contains(&format!(
            "w: was not running; FAILED: cannot start the worker: its workdir {} does not exist",
            workdir.display()
        )),
        "{}",
        stdout(&out)
    );
}

#[cfg(unix)]
#[test]
fn check_reports_a_state_directory_this_user_cannot_create() {
    use std::os::unix::fs::PermissionsExt;
    use std::os::unix::process::CommandExt;
    // The systemd case: the schedule in a folder its user cannot write, the state directory
    // beside it by default. Root may write anywhere, so as root the check runs as nobody.
    let w = Warden::schedule(&format!("timezone: UTC\n{Q}"));
    let dir = w.path.parent().unwrap();
    let root = unsafe { libc::geteuid() } == 0;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o555)).unwrap();
    std::fs::set_permissions(&w.path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = w.run_with(&["check"], |c| {
        if root {
            c.uid(65534).gid(65534);
        }
    });
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let state = format!("{}.state", w.path.display());
    assert_lines(
        &warnings(&w, &out),
        &[&format!("F:1:1: state_dir: warning: the state directory {state} cannot be created: {} is not writable by this user; `run` and `restart` as this user would fail", dir.display())],
    );
    // Where it can write, no warning.
    let out = w.run(&["check"]);
    assert_lines(&warnings(&w, &out), &[]);
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
    let out = Warden::at(Path::new("no such dir/none.yaml")).run(&["check"]);
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

/// OpenREM's query for yesterday, run by pacs-warden at 00:30 London time.
const DATED: &str = "timezone: Europe/London\nqueries:\n  - name: ct\n    at: \"00:30\"\n    command: [openrem_qr.py, \"2\", \"1\", -ct, -f, \"{date-1d}\", -t, \"{date-1d}\", \"--planned={datetime}\"]\n";

#[test]
fn plan_json_shows_each_run_s_command_with_its_dates_across_a_dst_change() {
    let w = Warden::schedule(DATED);
    // The clocks go forward at 01:00 GMT on Sunday 29 March 2026.
    let out = w.run(&[
        "plan",
        "--json",
        "--from",
        "2026-03-28T12:00:00Z",
        "--count",
        "3",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let argv: Vec<&serde_json::Value> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|r| &r["queries"][0]["argv"])
        .collect();
    let run = |day: &str, planned: &str| {
        serde_json::json!([
            "openrem_qr.py",
            "2",
            "1",
            "-ct",
            "-f",
            day,
            "-t",
            day,
            format!("--planned={planned}")
        ])
    };
    assert_eq!(
        argv,
        [
            &run("2026-03-28", "2026-03-29T00:30:00+00:00"),
            &run("2026-03-29", "2026-03-30T00:30:00+01:00"),
            &run("2026-03-30", "2026-03-31T00:30:00+01:00"),
        ]
    );
    // The table marks the query pacs-warden runs, as for any other command.
    w.expect(
        &["plan", "--from", "2026-03-28T12:00:00Z", "--count", "1"],
        0,
    )
    .out("(queries marked * are run by pacs-warden itself)")
    .out("ct* 00:30");
}

#[test]
fn check_names_a_wrong_placeholder_at_its_line_and_column() {
    let yaml = DATED
        .replace("{date-1d}\", -t", "{date-1w}\", -t")
        .replace("--planned={datetime}", "{dat}");
    assert_eq!(
        problems(&yaml),
        [
            "F:5:55: queries[0].command[5]: `{date-1w}`: bad offset `-1w`; write a sign, a whole number and a unit d, h or m, such as -1d, +2h or -30m (at most 10000)",
            "F:5:80: queries[0].command[8]: unknown placeholder `{dat}`; known: {date}, {time}, {datetime}, with an offset such as {date-1d} and a format such as {date:%Y%m%d}; write `{{` and `}}` for literal braces",
        ]
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

/// A query every weekday at 06:30 and every day at 07:00, London (lead 15m).
const WEEK: &str = "timezone: Europe/London\nqueries:\n  - name: ct-weekday\n    cron: \"30 6 * * 1-5\"\n  - name: dx-daily\n    at: [\"07:00\"]\n";

/// `plan --week`'s grid rows (the seven lines after the title and the hour header).
fn week_rows(text: &str) -> Vec<&str> {
    text.lines().skip(2).take(7).collect()
}

#[test]
fn plan_week_draws_a_spring_forward_week_without_colour_when_piped() {
    let w = Warden::schedule(WEEK);
    let args = ["plan", "--week", "--from", "2026-03-23T09:00:00Z"];
    let ran = w.expect(&args, 0);
    let text = &ran.stdout;
    assert!(!text.contains('\x1b'), "{text:?}");
    assert!(text.lines().all(|l| l.chars().count() <= 80), "{text}");
    ran.out("The week from Mon 2026-03-23 09:00 GMT (a column per half hour):\n")
        .out("\n                00    03    06    09    12    15    18    21       R  Q\n")
        .out("\nTime zone Europe/London (GMT, UTC+00:00) at the start; clock changes:\n  Sun 2026-03-29 01:00 GMT -> 02:00 BST (UTC+01:00): clocks go forward 1h;\n    a 23h day, 01:00-02:00 does not exist (drawn -)\n")
        .out("\nR restart   Q query run   B both in one half hour   . nothing (: every 3h)\n");
    // 06:15 restart (cell 12) for 06:30, 06:45 restart for 07:00 in the cell of the 06:30
    // run (B), 07:00 run in cell 14; weekends have only dx-daily. Monday is past until 09:00.
    let weekday = ":.....:.....RBQ...:.....:.....:.....:.....:.....";
    let weekend = ":.....:.....:RQ...:.....:.....:.....:.....:.....";
    let spring = ":.--..:.....:RQ...:.....:.....:.....:.....:.....";
    let blank = " ".repeat(18);
    assert_eq!(
        week_rows(text),
        [
            format!("Mon 2026-03-23  {blank}{}   0  0", &weekday[18..]),
            format!("Tue 2026-03-24  {weekday}   2  2"),
            format!("Wed 2026-03-25  {weekday}   2  2"),
            format!("Thu 2026-03-26  {weekday}   2  2"),
            format!("Fri 2026-03-27  {weekday}   2  2"),
            format!("Sat 2026-03-28  {weekend}   1  1"),
            format!("Sun 2026-03-29  {spring}   1  1  23h"),
        ],
        "{text}"
    );
    // NO_COLOR changes nothing when piped.
    let no_color = Warden::schedule(WEEK).env("NO_COLOR", "1").expect(&args, 0);
    assert_eq!(no_color.stdout, ran.stdout);
}

#[test]
fn plan_week_draws_a_fall_back_week_and_an_empty_one() {
    let w = Warden::schedule(WEEK);
    let ran = w.expect(
        &["plan", "--week", "--from", "2026-10-25T00:00:00+01:00"],
        0,
    );
    let rows = week_rows(&ran.stdout);
    assert_eq!(
        rows[0], "Sun 2026-10-25  :.==..:.....:RQ...:.....:.....:.....:.....:.....   1  1  25h",
        "{ran}"
    );
    ran.out("  Sun 2026-10-25 02:00 BST -> 01:00 GMT (UTC+00:00): clocks go back 1h;\n    a 25h day, 01:00-02:00 happens twice (drawn =; a mark covers both)\n");
    // A yearly query: nothing in this week.
    let w =
        Warden::schedule("timezone: UTC\nqueries:\n  - name: yearly\n    cron: \"0 12 1 1 *\"\n");
    let ran = w.expect(&["plan", "--week", "--from", "2026-06-01T00:00:00Z"], 0);
    let rows = week_rows(&ran.stdout);
    assert_eq!(rows.len(), 7);
    for row in rows {
        assert!(
            row.ends_with(&format!("  {}   0  0", ":.....".repeat(8))),
            "{ran}"
        );
    }
    ran.out("Time zone UTC (UTC, UTC+00:00), no clock change this week.\n");
}

#[test]
fn plan_week_counts_many_queries_in_one_hour() {
    // Every minute 06:00-06:59 (60 runs a day), no merging: 60 restarts, 05:45-06:44.
    let w = Warden::schedule(
        "timezone: UTC\nmerge_within: 0s\nqueries:\n  - name: busy\n    cron: \"* 6 * * *\"\n",
    );
    let ran = w.expect(&["plan", "--week", "--from", "2026-06-01T00:00:00Z"], 0);
    for row in week_rows(&ran.stdout) {
        assert!(
            row.ends_with("  :.....:....RBB....:.....:.....:.....:.....:.....  60 60"),
            "{ran}"
        );
    }
}

#[test]
fn plan_week_refuses_count_until_and_json() {
    let w = Warden::schedule(WEEK);
    for extra in [
        &["--count", "3"][..],
        &["--until", "2027-01-01T00:00:00Z"],
        &["--json"],
    ] {
        let args: Vec<&str> = ["plan", "--week"].iter().chain(extra).copied().collect();
        w.expect(&args, 2).err("cannot be used with");
    }
}

/// On a terminal (a pseudo-terminal from util-linux's `script`) the marks are coloured, unless
/// `NO_COLOR` is set to something (no-color.org) or `TERM` is `dumb`.
#[cfg(target_os = "linux")]
#[test]
fn plan_week_colours_a_terminal_unless_no_color() {
    let w = Warden::schedule(WEEK);
    let on_terminal = |env: &[(&str, &str)]| {
        let inner = w.command(&["plan", "--week", "--from", "2026-03-23T09:00:00Z"]);
        let quote =
            |s: &std::ffi::OsStr| format!("'{}'", s.to_str().unwrap().replace('\'', r"'\''"));
        let line: Vec<String> = std::iter::once(inner.get_program())
            .chain(inner.get_args())
            .map(quote)
            .collect();
        let mut cmd = std::process::Command::new("script");
        cmd.args(["-q", "-e", "-c", &line.join(" "), "/dev/null"])
            .env_remove("TZ")
            .env_remove("NO_COLOR")
            .env("TERM", "xterm")
            .envs(env.iter().copied())
            .stdin(std::process::Stdio::null());
        let out = common::output(&mut cmd);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        stdout(&out).replace("\r\n", "\n")
    };
    let coloured = on_terminal(&[]);
    assert!(
        coloured.contains("\x1b[33mR\x1b[0m\x1b[1;35mB\x1b[0m\x1b[36mQ\x1b[0m"),
        "{coloured:?}"
    );
    assert!(coloured.contains("\x1b[2m-\x1b[0m"), "{coloured:?}");
    // An empty NO_COLOR does not count (no-color.org).
    assert_eq!(on_terminal(&[("NO_COLOR", "")]), coloured);
    for env in [[("NO_COLOR", "1")], [("TERM", "dumb")]] {
        let plain = on_terminal(&env);
        assert!(!plain.contains('\x1b'), "{env:?}: {plain:?}");
        assert_eq!(
            plain,
            w.expect(&["plan", "--week", "--from", "2026-03-23T09:00:00Z"], 0)
                .stdout
        );
    }
}

#[test]
fn help_and_version() {
    for args in [&["--help"][..], &["check", "--help"], &["plan", "--help"]] {
        let out = Warden::bare().run(args);
        assert_eq!(out.status.code(), Some(0), "{args:?}");
        assert!(stdout(&out).contains("Usage: pacs-warden"), "{args:?}");
    }
    let out = Warden::bare().run(&["--version"]);
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
            let out = Warden::at(&path).run(&["check"]);
            // Schedules that stop their worker with a Unix signal are Linux-only: on Windows
            // `check` must refuse them, saying why.
            let unix_only = std::fs::read_to_string(&path)
                .unwrap()
                .lines()
                .any(|l| l.trim_start().starts_with("signal:"));
            if cfg!(windows) && unix_only {
                assert_eq!(out.status.code(), Some(2), "{}", path.display());
                assert!(
                    stderr(&out).contains("is a Unix signal; on Windows use CTRL_C"),
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
        let tab = fixtures.join("openrem-user.crontab");
        Warden::bare().run(&[&["import", "crontab", tab.to_str().unwrap()], extra].concat())
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
    let check = Warden::at(&out_path).run(&["check"]);
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
    let out = Warden::bare().run(&[
        "import",
        "crontab",
        tab.to_str().unwrap(),
        "--output",
        out_path.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains(&format!("{}:3:", tab.display())), "{err}");
    assert!(err.contains("nothing was imported"), "{err}");
    assert!(!out_path.exists());
}

/// A manual `restart` logs to the schedule's `log:` file too, and the file is at the name the
/// schedule gives (`log/pacs-warden.log`, so `tail -f` on it works), not at a dated name.
#[test]
fn a_manual_restart_writes_to_the_log_file_at_its_configured_name() {
    let tag = common::unique_tag("cli-log");
    let w = common::q(&common::worker_exe());
    let w = Warden::schedule(&format!(
        "timezone: UTC\nqueries:\n  - name: q\n    at: [\"06:00\"]\nlog: {{file: log/pacs-warden.log}}\n\
         workers:\n  - name: w\n    match: {{image: pacs-demo-worker, args_contain: \"--name {tag}\"}}\n\
         \x20   pidfile: w.pid\n    stop:\n      command: [{w}, stop, --pidfile, w.pid]\n\
         \x20   start:\n      command: [{w}, run, --name, {tag}, --pidfile, w.pid]\n"
    ));
    let out = w.run(&["restart"]);
    common::kill_tagged(&tag);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let dir = w.path.parent().unwrap().join("log");
    let names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["pacs-warden.log"], "files in {}", dir.display());
    let log = std::fs::read_to_string(dir.join("pacs-warden.log")).unwrap();
    assert!(log.contains("started the worker"), "{log}");
    // The same lines as on stderr, without colours.
    assert!(stderr(&out).contains("started the worker"));
    assert!(!log.contains('\x1b'), "{log:?}");
}

/// The README's `plan` examples (they give `--from`, so their output is fixed) are what the
/// tool prints, run from the repository's root.
#[test]
fn the_readme_plan_examples_are_the_real_output() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let mut checked = 0;
    for block in readme.split("```console\n").skip(1) {
        let block = &block[..block.find("```").unwrap()];
        let (first, expected) = block.split_once('\n').unwrap();
        let Some(args) = first.strip_prefix("$ pacs-warden plan ") else {
            continue;
        };
        let args: Vec<&str> = std::iter::once("plan").chain(args.split(' ')).collect();
        let out = Warden::bare().run_with(&args, |c| {
            c.current_dir(root);
        });
        assert_eq!(out.status.code(), Some(0), "{first}: {}", stderr(&out));
        assert_eq!(stdout(&out), expected, "README example `{first}`");
        checked += 1;
    }
    assert!(checked >= 2, "the README's plan examples: {checked} found");
}

/// `text` as Notepad on Windows Server 2016/2019 and PowerShell 5's `Out-File -Encoding utf8`
/// save it: UTF-8 with a byte-order mark.
fn utf8_bom(text: &str) -> Vec<u8> {
    [b"\xef\xbb\xbf", text.as_bytes()].concat()
}

/// `text` as Notepad's "Unicode" (LE) or "Unicode big endian" saves it: UTF-16 with a BOM.
fn utf16(text: &str, big_endian: bool) -> Vec<u8> {
    std::iter::once(0xfeff)
        .chain(text.encode_utf16())
        .flat_map(|u| {
            if big_endian {
                u.to_be_bytes()
            } else {
                u.to_le_bytes()
            }
        })
        .collect()
}

fn crlf(text: &str) -> String {
    text.replace('\n', "\r\n")
}

#[test]
fn files_saved_by_windows_editors_are_read_with_right_lines_and_columns() {
    let bad = format!("# OpenREM on Windows Server\ntimezone: Europe/Lundon\nlead: soon\n{Q}");
    let want = [
        "F:2:11: timezone: unknown time zone `Europe/Lundon`",
        "F:3:7: lead: `soon` is not a duration",
    ];
    let encodings = [
        ("UTF-8", bad.clone().into_bytes()),
        ("UTF-8, CRLF", crlf(&bad).into_bytes()),
        ("UTF-8 with BOM", utf8_bom(&bad)),
        ("UTF-8 with BOM, CRLF", utf8_bom(&crlf(&bad))),
        ("UTF-16 LE, CRLF", utf16(&crlf(&bad), false)),
        ("UTF-16 BE", utf16(&bad, true)),
    ];
    for (how, bytes) in &encodings {
        let got = problems_of(bytes);
        assert_eq!(got.len(), want.len(), "{how}: {got:#?}");
        for (g, w) in got.iter().zip(want) {
            assert!(g.starts_with(w), "{how}:\n got: {g}\nwant: {w}…");
        }
    }
    // A byte-order mark right before the first key, and good files in every encoding.
    let good = format!("timezone: UTC\n{Q}");
    for bytes in [
        utf8_bom(&good),
        utf8_bom(&crlf(&good)),
        utf16(&crlf(&good), false),
        utf16(&good, true),
    ] {
        let w = Warden::schedule_bytes(&bytes);
        for command in [&["check"][..], &["plan", "--count", "1"]] {
            let out = w.run(command);
            assert_eq!(out.status.code(), Some(0), "{command:?}: {}", stderr(&out));
        }
    }
}

#[test]
fn text_that_is_not_utf8_is_named_by_its_line() {
    let mut bytes = format!("timezone: UTC\n{Q}").into_bytes();
    bytes.extend_from_slice(b"# Caf\xe9 (saved as Windows-1252)\n");
    assert_problems_of(
        &bytes,
        &["F:5:6: encoding: the file is not UTF-8 text from here (byte 0xE9); save it as UTF-8"],
    );
}

#[test]
fn a_second_document_or_text_after_the_end_is_an_error() {
    assert_problems(
        &format!("timezone: UTC\n{Q}---\nworkers:\n  - name: w\n"),
        &["F:5:1: yaml: a second YAML document starts here and would be ignored"],
    );
    assert_problems(
        &format!("timezone: UTC\n{Q}...\nworkers: []\n"),
        &["F:6:1: yaml: text after the end of the document (`...` at line 5) would be ignored"],
    );
    // `---` before the document and comments after `...` are fine.
    let w = Warden::schedule(&format!("---\ntimezone: UTC\n{Q}...\n# the end\n"));
    let out = w.run(&["check"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

#[test]
fn text_from_the_file_is_escaped_in_messages() {
    let yaml =
        format!("timezone: UTC\n\"time\\nzone\": UTC\n\"\\e[31mred\": 1\n\"\\u202Eevil\": 2\n{Q}");
    let w = Warden::schedule(&yaml);
    let err = stderr(&w.run(&["check"]));
    assert!(
        !err.chars()
            .any(|c| (c.is_control() && c != '\n') || c == '\u{202e}'),
        "{err:?}"
    );
    // A name (printed in logs, alerts, `status`) may not hold such characters at all; the
    // message shows it escaped.
    assert_problems(
        "timezone: UTC\nqueries:\n  - name: \"\\e[2Jq\\u202E1\"\n    at: [\"06:00\"]\n",
        &[r"F:3:11: queries[0].name: `\u{1b}[2Jq\u{202e}1` holds control or invisible characters"],
    );
    // `problems` also checks that every line starts with the file's name: nothing was split.
    assert_problems(
        &yaml,
        &[
            r"F:2:1: time\nzone: unknown key `time\nzone`; allowed keys here: timezone,",
            r"F:3:1: \u{1b}[31mred: unknown key `\u{1b}[31mred`;",
            r"F:4:1: \u{202e}evil: unknown key `\u{202e}evil`;",
        ],
    );
}

#[test]
fn common_yaml_mistakes_get_a_hint_at_the_right_place() {
    assert_problems(
        "timezone: UTC\nqueries:\n  - name: q\n    cron: */15 * * * *\n",
        &["F:4:11: yaml: a value that starts with `*` must be in quotes (YAML reads `*` as syntax): write \"*/15 * * * *\""],
    );
    // The parser stops at the end of line 4; the tab is on line 5.
    assert_problems(
        &format!("timezone: UTC\n{Q}log:\n  file: x.log\n  keep: 3\n\tlevel: info\n"),
        &["F:8:1: yaml: a tab in the indentation; YAML indents with spaces only"],
    );
    assert_problems(
        &format!("timezone:\tUTC\n{Q}"),
        &["F:1:10: yaml: a tab after `:`; YAML needs a space there"],
    );
    assert_problems(
        &format!("timezone: UTC\n{Q}    command: [\"C:\\data\\openrem_qr.py\"]\n"),
        &[
            r"F:5:18: yaml: `\d` is not an escape: in double quotes a backslash starts an escape (\n, \t, \x41); write a Windows path in single quotes instead: 'C:\data\openrem_qr.py'",
        ],
    );
}

#[test]
fn a_huge_file_shows_100_problems_and_counts_the_rest() {
    use std::fmt::Write;
    const QUERIES: usize = 200_000;
    let mut yaml = String::from("timezone: UTC\nqueries:\n");
    for i in 0..QUERIES {
        writeln!(yaml, "- {{name: q{i}, at: 25:{:02}}}", i % 60).unwrap();
    }
    let w = Warden::schedule(&yaml);
    let out = w.run(&["check"]);
    assert_eq!(out.status.code(), Some(2));
    let path = w.path.display().to_string();
    let err = stderr(&out);
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 102, "{}", &err[..err.len().min(2000)]);
    for (i, line) in lines[..100].iter().enumerate() {
        let col = format!("- {{name: q{i}, at: ").len() + 1;
        let want = format!(
            "{path}:{}:{col}: queries[{i}].at: `25:{:02}` is not a time",
            i + 3,
            i % 60
        );
        assert!(line.starts_with(&want), "{line}");
    }
    assert_eq!(
        lines[100],
        format!("{path}: and {} more problems", QUERIES - 100)
    );
    assert_eq!(
        lines[101],
        format!("error: {path}: {QUERIES} problems found")
    );
}

#[test]
fn import_messages_escape_text_from_the_crontab() {
    let dir = tempfile::tempdir().unwrap();
    let run = |crontab: &str| {
        let tab = dir.path().join("in.crontab");
        std::fs::write(&tab, crontab).unwrap();
        let out = Warden::bare().run(&["import", "crontab", tab.to_str().unwrap()]);
        let err = stderr(&out);
        assert!(
            !err.chars()
                .any(|c| (c.is_control() && c != '\n') || c == '\u{202e}'),
            "{err:?}"
        );
        err
    };
    let err = run("30 6\u{1b}[2J * * * /opt/openrem_qr.py 1 1 -ct\n");
    assert!(err.contains(r"6\u{1b}[2J"), "{err}");
    assert_eq!(err.lines().count(), 2, "{err}");
    let err = run("0 1 * * * echo \u{202e}evil\r\n");
    assert!(err.contains(r"echo \u{202e}evil"), "{err}");
}

/// The trust check (README, Security): run as root, as CI does; skipped otherwise, with a note.
#[cfg(unix)]
mod trust {
    use super::*;
    use std::os::unix::fs::{chown, symlink, PermissionsExt};
    use std::path::PathBuf;

    const NOBODY: u32 = 65534;

    fn root() -> bool {
        // SAFETY: no preconditions.
        let root = unsafe { libc_geteuid() } == 0;
        if !root {
            // CI runs as root: there, a skip would hide that the check was never tested.
            assert!(
                std::env::var_os("CI").is_none(),
                "CI must run the trust tests as root"
            );
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
        let w = Warden::at(&in_tmp);
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

    /// Rewrites the site's schedule with `edit` applied to its text.
    fn edit(s: &Site, edit: impl FnOnce(String) -> String) {
        let text = std::fs::read_to_string(&s.w.path).unwrap();
        std::fs::write(&s.w.path, edit(text)).unwrap();
    }

    #[test]
    fn programs_are_checked_where_their_runner_finds_them() {
        if !root() {
            return;
        }
        // Relative to the worker's workdir, not to the schedule's folder.
        let s = site();
        let dir = s.w.path.parent().unwrap().to_path_buf();
        let work = dir.join("work");
        std::fs::create_dir_all(work.join("bin")).unwrap();
        let program = work.join("bin").join("start");
        std::fs::copy("/usr/bin/touch", &program).unwrap();
        chmod(&program, 0o777);
        edit(&s, |t| {
            t.replace("/usr/bin/touch", "bin/start")
                .replace("    stop:", "    workdir: work\n    stop:")
        });
        assert_refused(&s, &program, &format!("chmod go-w '{}'", program.display()));
        // A bare name found through the PATH the worker's env sets.
        edit(&s, |t| {
            t.replace("bin/start", "start").replace(
                "    workdir: work\n",
                &format!(
                    "    env: {{PATH: '{}:/usr/bin:/bin'}}\n",
                    work.join("bin").display()
                ),
            )
        });
        assert_refused(&s, &program, &format!("chmod go-w '{}'", program.display()));
        chmod(&program, 0o755);
        restart_runs(&s);
    }

    #[test]
    fn log_files_and_a_state_dir_behind_a_link_are_checked_where_they_really_are() {
        if !root() {
            return;
        }
        // The daemon's log in a folder everyone may write.
        let s = site();
        let dir = s.w.path.parent().unwrap().to_path_buf();
        let logs = dir.join("logs");
        std::fs::create_dir(&logs).unwrap();
        chmod(&logs, 0o777);
        edit(&s, |t| t + "log: {file: logs/warden.log}\n");
        assert_refused(&s, &logs, &format!("chmod go-w '{}'", logs.display()));
        chmod(&logs, 0o755);
        // A log file planted as a link is not followed (the check reports the folder; the
        // writer itself refuses the link too).
        let precious = dir.join("precious");
        std::fs::write(&precious, "keep").unwrap();
        symlink(&precious, logs.join("warden.log")).unwrap();
        // (`restart` then logs to stderr only, and goes on.)
        let out = s.w.run(&["restart"]);
        assert!(
            stderr(&out).contains("is a symbolic link; refusing"),
            "{}",
            stderr(&out)
        );
        assert_eq!(std::fs::read_to_string(&precious).unwrap(), "keep");
        std::fs::remove_file(logs.join("warden.log")).unwrap();
        let _ = std::fs::remove_file(&s.mark);

        // A state directory that does not exist yet, under a link to a folder everyone may
        // write: judged where it will really be created.
        let open = dir.join("open");
        std::fs::create_dir(&open).unwrap();
        chmod(&open, 0o777);
        symlink(&open, dir.join("via")).unwrap();
        edit(&s, |t| t + "state_dir: via/state\n");
        assert_refused(&s, &open, &format!("chmod go-w '{}'", open.display()));
    }

    #[test]
    fn a_planted_link_with_a_terminal_escape_in_its_name_is_reported_escaped() {
        if !root() {
            return;
        }
        let s = site();
        restart_runs(&s);
        let state = PathBuf::from(format!("{}.state", s.w.path.display()));
        symlink("/etc/passwd", state.join("x\n\u{1b}[2Jerror: fake")).unwrap();
        let out = s.w.run(&["check"]);
        let err = stderr(&out);
        assert!(!err.contains('\u{1b}'), "{err:?}");
        assert!(err.contains(r"x\n\u{1b}[2Jerror: fake"), "{err}");
        assert!(err.contains("-type l -delete"), "{err}");
        assert_eq!(
            err.lines().filter(|l| l.contains("fake")).count(),
            1,
            "{err}"
        );
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
        let out = s.w.run_with(&["restart"], |c| {
            c.uid(NOBODY).gid(NOBODY);
        });
        assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
        assert!(s.mark.exists());
        let out = s.w.run_with(&["check"], |c| {
            c.uid(NOBODY).gid(NOBODY);
        });
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

/// `service:` (a Windows service as the worker) is refused off Windows, in the documented
/// one-line form: pacs-warden does not map it to a systemd unit.
#[cfg(not(windows))]
#[test]
fn check_refuses_a_service_worker_off_windows() {
    assert_problems(
        &format!("timezone: UTC\n{Q}workers:\n  - name: huey\n    service: openrem-huey\n"),
        &[
            "F:7:14: workers[0].service: names a Windows service, and this system has none; run the worker with `start.command` instead (pacs-warden does not map it to a systemd unit)",
        ],
    );
}
