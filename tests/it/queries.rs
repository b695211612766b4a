//! Queries pacs-warden runs itself (`command:`): after the planned restart and once the worker
//! is ready; output in the query's log; outcome in `status`; overlapping runs skipped or queued.

use crate::harness::{eventually, file_with, q, worker_exe, Site};

/// One demo worker (ready 1 s after start) and one query `cron` running `command`.
fn write_schedule(s: &Site, cron: &str, lead: &str, command: &str, extra: &str) {
    let w = q(&worker_exe());
    s.write(&format!(
        "timezone: UTC\nlead: {lead}\nrestart_at_boot: false\nqueries:\n  - name: q\n    cron: \"{cron}\"\n    command: {command}\n{extra}workers:\n  - name: w\n    match: {{image: pacs-demo-worker, args_contain: \"--name {tag} \"}}\n    pidfile: w.pid\n    stop:\n      command: [{w}, stop, --pidfile, w.pid]\n    start:\n      command: [{w}, run, --name, {tag}, --pidfile, w.pid, --ready-after, 1s]\n    ready:\n      command: [{w}, ping, --pidfile, w.pid]\n      timeout: 10s\n",
        tag = s.tag
    ));
}

/// The demo worker's `sleep` for `d`, as a YAML list.
fn sleep_command(d: &str, extra: &str) -> String {
    format!("[{}, sleep, {d}{extra}]", q(&worker_exe()))
}

#[test]
fn a_query_runs_after_its_restart_once_the_worker_is_ready_and_its_output_is_recorded() {
    let s = Site::new("qrun");
    // Lead 1 s, but the worker needs ~1.5 s to be ready: the query must wait for it.
    write_schedule(
        &s,
        "*/6 * * * * *",
        "1s",
        &sleep_command("100ms", ", --say, 'hello from the query'"),
        "",
    );
    let mut d = s.start();
    let (due, _) = d.expect_at("restart due");
    let (ready, _) = d.expect_at("worker is ready");
    let (started, _) = d.expect_at("query started");
    let finished = d.expect("query finished");
    assert!(
        due < ready && ready < started,
        "order: due {due}, ready {ready}, query {started}"
    );
    assert!(finished.contains("ok (exit status: 0)"), "{finished}");
    let log = std::fs::read_to_string(s.path("schedule.yaml.state/queries/q.log")).unwrap();
    assert!(
        log.contains("=== ") && log.contains("query q (scheduled "),
        "{log}"
    );
    assert!(log.contains("hello from the query"), "{log}");
    let status = s.status();
    assert!(
        status.contains("Query q (run by pacs-warden): last run"),
        "{status}"
    );
    assert!(status.contains("ok (exit status: 0)"), "{status}");
    // `plan` marks the query pacs-warden runs.
    s.warden().expect(&["plan", "--count", "1"], 0).out("q* ");
}

#[test]
fn a_failing_query_s_exit_status_is_recorded() {
    let s = Site::new("qfail");
    write_schedule(
        &s,
        "*/6 * * * * *",
        "3s",
        &sleep_command("10ms", ", --exit-code, '3'"),
        "",
    );
    let mut d = s.start();
    let finished = d.expect("query finished");
    assert!(finished.contains("failed (exit status: 3)"), "{finished}");
    eventually("`status` to show the failed run", || {
        s.status().contains("failed (exit status: 3)")
    });
}

/// A schedule with one query and no workers: runs are not held up by restarts.
fn write_without_workers(s: &Site, cron: &str, command: &str, extra: &str) {
    std::fs::write(
        s.path("schedule.yaml"),
        format!("timezone: UTC\nlead: 1s\nqueries:\n  - name: q\n    cron: \"{cron}\"\n    command: {command}\n{extra}"),
    )
    .unwrap();
}

#[test]
fn a_query_whose_workdir_is_missing_says_so() {
    let s = Site::new("qworkdir");
    write_without_workers(
        &s,
        "*/3 * * * * *",
        &sleep_command("10ms", ""),
        "    workdir: no-such-dir\n",
    );
    let mut d = s.start();
    let line = d.expect("failed: cannot start the query");
    let want = format!(
        "its workdir {} does not exist",
        s.path("no-such-dir").display()
    );
    assert!(line.contains(&want), "{line}");
}

#[test]
fn an_overlapping_run_is_skipped_by_default() {
    let s = Site::new("qskip");
    // Every 2 s, each run takes 3 s.
    write_without_workers(&s, "*/2 * * * * *", &sleep_command("3s", ""), "");
    let mut d = s.start();
    d.expect("query started");
    d.expect("the previous run is still going (or still waiting for its workers); this run is skipped (overlap: skip)");
}

#[test]
fn an_overlapping_run_waits_when_asked_to() {
    let s = Site::new("qwait");
    write_schedule(
        &s,
        "*/2 * * * * *",
        "1s",
        &sleep_command("3s", ""),
        "    overlap: wait\n",
    );
    let mut d = s.start();
    d.expect("query started");
    d.expect("the previous run is still going (or still waiting for its workers); this one waits for it (overlap: wait)");
    d.expect("query finished");
    // The queued run starts right after the previous one ends.
    d.expect("query started");
}

#[test]
fn a_query_log_over_max_size_is_rotated_before_the_run() {
    let s = Site::new("qlogcap");
    std::fs::write(s.path("q.log"), "previous run\n".repeat(100)).unwrap();
    std::fs::write(s.path("q.log.2020-01-01"), "oldest\n").unwrap();
    write_without_workers(
        &s,
        "*/3 * * * * *",
        &sleep_command("10ms", ", --say, 'hello from the query'"),
        "    log: {file: q.log, max_size: 1KB, keep: 1}\n",
    );
    let mut d = s.start();
    d.expect("rotated its log");
    d.expect("query finished");
    let log = std::fs::read_to_string(s.path("q.log")).unwrap();
    assert!(log.contains("hello from the query"), "{log}");
    assert!(!log.contains("previous run"), "{log}");
    let rotated: Vec<String> = std::fs::read_dir(s.path("."))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("q.log."))
        .collect();
    assert_eq!(rotated.len(), 1, "keep: 1 — {rotated:?}");
    assert_ne!(rotated[0], "q.log.2020-01-01");
    let old = std::fs::read_to_string(s.path(&rotated[0])).unwrap();
    assert_eq!(old, "previous run\n".repeat(100));
}

#[test]
fn a_query_s_command_and_env_get_the_dates_of_its_planned_run() {
    let s = Site::new("qdates");
    let w = q(&worker_exe());
    // A zone far from UTC, so that the local date is often not the UTC one; the command is
    // OpenREM's, recorded by the demo worker (`record ... -- ARGS`).
    s.write(&format!(
        "timezone: Pacific/Kiritimati\nlead: 1s\nqueries:\n  - name: q\n    cron: \"*/3 * * * * *\"\n    \
         command: [{w}, record, --out, argv.txt, --env, DAY, --, openrem_qr.py, \"2\", \"1\", -ct, \
         -f, \"{{date-1d}}\", -t, \"{{date-1d}}\", \"--at={{datetime}}\", \"{{time-30m:%H%M}}\", \
         \"{{{{literal}}}}\"]\n    env: {{DAY: \"{{date}}\"}}\n"
    ));
    let mut d = s.start();
    d.expect("query finished");
    let log = std::fs::read_to_string(s.path("schedule.yaml.state/queries/q.log")).unwrap();
    let planned = log
        .split("(scheduled ")
        .nth(1)
        .and_then(|rest| rest.split(')').next())
        .unwrap_or_else(|| panic!("no planned instant in the query's log: {log}"));
    let planned = chrono::DateTime::parse_from_rfc3339(planned).unwrap();
    let local = planned.with_timezone(&chrono_tz::Pacific::Kiritimati);
    let yesterday = (local.date_naive() - chrono::Days::new(1)).to_string();
    let half_hour_before = (local - chrono::Duration::minutes(30)).format("%H%M");
    let recorded = std::fs::read_to_string(s.path("argv.txt")).unwrap();
    let first: Vec<&str> = recorded
        .lines()
        .take_while(|l| !l.starts_with("stdin="))
        .collect();
    let want = [
        "arg=openrem_qr.py".to_string(),
        "arg=2".into(),
        "arg=1".into(),
        "arg=-ct".into(),
        "arg=-f".into(),
        format!("arg={yesterday}"),
        "arg=-t".into(),
        format!("arg={yesterday}"),
        format!("arg=--at={}", local.to_rfc3339()),
        format!("arg={half_hour_before}"),
        "arg={literal}".into(),
        format!("DAY={}", local.date_naive()),
    ];
    assert_eq!(first, want, "{recorded}");
}

#[test]
fn a_run_that_waited_for_the_previous_one_gets_the_dates_of_its_planned_time() {
    let s = Site::new("qlate");
    // Every 2 s, each run takes 3 s: the second run waits (`overlap: wait`) and starts late.
    write_without_workers(
        &s,
        "*/2 * * * * *",
        &sleep_command("3s", ", --say, 'planned {datetime}'"),
        "    overlap: wait\n",
    );
    let mut d = s.start();
    d.expect("this one waits for it (overlap: wait)");
    d.expect("query finished");
    d.expect("query finished");
    let log = std::fs::read_to_string(s.path("schedule.yaml.state/queries/q.log")).unwrap();
    // Each run: `=== STARTED query q (scheduled PLANNED) ===`, then what it said.
    let late = log
        .split("=== ")
        .skip(1)
        .find_map(|run| {
            let (started, rest) = run.split_once(" query q (scheduled ")?;
            let (planned, said) = rest.split_once(") ===\n")?;
            let at = |t: &str| chrono::DateTime::parse_from_rfc3339(t).unwrap();
            let late_by = at(started) - at(planned);
            (late_by >= chrono::Duration::seconds(1)).then(|| {
                (
                    planned.to_string(),
                    said.lines().next().unwrap_or("").to_string(),
                )
            })
        })
        .unwrap_or_else(|| panic!("no run started late: {log}"));
    assert_eq!(late.1, format!("planned {}", late.0), "{log}");
}

/// The runs in query `q`'s log, in order: each run's planned instant
/// (`=== STARTED query q (scheduled PLANNED) ===`) and the first line it said.
fn logged_runs(s: &Site) -> Vec<(chrono::DateTime<chrono::Utc>, String)> {
    let log = std::fs::read_to_string(s.path("schedule.yaml.state/queries/q.log")).unwrap();
    log.split("(scheduled ")
        .skip(1)
        .map(|rest| {
            let (planned, said) = rest.split_once(") ===\n").unwrap_or((rest, ""));
            let planned = chrono::DateTime::parse_from_rfc3339(planned)
                .unwrap_or_else(|e| panic!("{planned:?}: {e}\n{log}"));
            let said = said.lines().next().unwrap_or("").to_string();
            (planned.to_utc(), said)
        })
        .collect()
}

#[test]
fn a_run_missed_while_the_daemon_was_stopped_is_caught_up_once_and_only_once() {
    use chrono::{DurationRound, TimeDelta, Utc};
    let s = Site::new("qcatch");
    // Daily times chosen from now, so that exactly one run is missed while the daemon is
    // stopped: `ran` (the first daemon runs it), `missed` (no daemon is running), then one every
    // 6 s for the later daemons, none of them a catch-up of `missed`.
    let now = Utc::now().duration_trunc(TimeDelta::seconds(1)).unwrap();
    let ran = now + TimeDelta::seconds(6);
    let missed = ran + TimeDelta::seconds(8);
    let later = (0..8).map(|k| missed + TimeDelta::seconds(16 + 6 * k));
    let times = [ran, missed]
        .into_iter()
        .chain(later)
        .map(|t| format!("\"{}\"", t.format("%H:%M:%S")))
        .collect::<Vec<_>>()
        .join(", ");
    std::fs::write(
        s.path("schedule.yaml"),
        format!(
            "timezone: UTC\nlead: 1s\nqueries:\n  - name: q\n    at: [{times}]\n    command: {}\n    catch_up: 1m\n",
            sleep_command("10ms", ", --say, 'planned {datetime}'")
        ),
    )
    .unwrap();
    // `{datetime}` of a run planned at `t` (the schedule's zone is UTC).
    let said = |t: chrono::DateTime<Utc>| format!("planned {}", t.format("%Y-%m-%dT%H:%M:%S%:z"));
    // How the daemon's log names a planned run.
    let named = |t: chrono::DateTime<Utc>| t.format("%Y-%m-%d %H:%M:%S").to_string();

    let mut first = s.start();
    first.expect("query finished");
    drop(first);
    let runs = logged_runs(&s);
    assert_eq!(runs, [(ran, said(ran))], "the first daemon ran {runs:?}");
    // Stopped across `missed`.
    let wake = missed + TimeDelta::seconds(2) - Utc::now();
    std::thread::sleep(wake.to_std().unwrap_or_default());
    let mut second = s.start();
    let line = second.expect("catch-up: running the missed run planned for");
    assert!(line.contains(&named(missed)), "{line}");
    second.expect("query finished");
    // The catch-up asked for the dates of the missed run, not of the time it ran.
    let runs = logged_runs(&s);
    assert_eq!(runs[1], (missed, said(missed)), "{runs:?}");
    eventually("`status` to show the catch-up", || {
        s.status()
            .contains("(a catch-up of the missed run planned for")
    });
    let health = s.warden().run(&["health"]);
    let health = crate::harness::stdout(&health);
    assert!(
        health.contains("(a catch-up of the missed run planned for"),
        "{health}"
    );
    // Restarted again right after: `missed` is not caught up again. Any run from now on is one
    // of the later times (run on time, or caught up if one passed while no daemon ran).
    drop(second);
    let mut third = s.start();
    third.expect("query finished");
    let log = third.log();
    assert!(
        !log.lines()
            .any(|l| l.contains(&named(missed)) || l.contains(&named(ran))),
        "{log}"
    );
    // Across the three daemons, each planned run ran once: `missed` once, as the catch-up.
    let runs = logged_runs(&s);
    let planned: Vec<_> = runs.iter().map(|(t, _)| *t).collect();
    let mut unique = planned.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), planned.len(), "{runs:?}");
    assert_eq!(
        planned.iter().filter(|t| **t == missed).count(),
        1,
        "{runs:?}"
    );
    assert!(planned[2..].iter().all(|t| *t > missed), "{runs:?}");
}

/// One demo worker ready `ready_after` after its start and one query `q` running `command`
/// (restart 1 s before each run; no boot restart); `extra` goes at the top level.
fn write_slow_worker(s: &Site, cron: &str, ready_after: &str, command: &str, extra: &str) {
    let w = q(&worker_exe());
    s.write(&format!(
        "timezone: UTC\nlead: 1s\nrestart_at_boot: false\n{extra}queries:\n  - name: q\n    cron: \"{cron}\"\n    command: {command}\n    ready_wait: 4s\nworkers:\n  - name: w\n    match: {{image: pacs-demo-worker, args_contain: \"--name {tag} \"}}\n    pidfile: w.pid\n    stop:\n      command: [{w}, stop, --pidfile, w.pid]\n    start:\n      command: [{w}, run, --name, {tag}, --pidfile, w.pid, --ready-after, {ready_after}]\n    ready:\n      command: [{w}, ping, --pidfile, w.pid]\n      timeout: 10s\n",
        tag = s.tag
    ));
}

#[test]
fn a_run_that_waited_for_its_worker_to_be_ready_gets_the_dates_of_its_planned_time() {
    let s = Site::new("qready");
    // The restart starts the worker 1 s before the run; it is ready 3 s after its start: the
    // run waits for it (within `ready_wait`, 4 s), then starts late.
    write_slow_worker(
        &s,
        "*/10 * * * * *",
        "3s",
        &sleep_command("10ms", ", --say, 'planned {datetime}'"),
        "",
    );
    let mut d = s.start();
    // A daemon started in the second before a restart skips it: the run after it finds no
    // worker and is not run. The run looked at is the first after a restart that was done.
    let (ready, _) = d.expect_at("worker is ready");
    let (done, _) = d.expect_at("restart done");
    let (started, _) = d.expect_at("query started");
    assert!(ready < started, "ready {ready}, query {started}");
    d.expect("query finished");
    // Not run runs write nothing to the query's log: its first run is the one looked at.
    let log = std::fs::read_to_string(s.path("schedule.yaml.state/queries/q.log")).unwrap();
    // `=== STARTED query q (scheduled PLANNED) ===`, then what the run said.
    let run = log.split("=== ").nth(1).unwrap_or_else(|| panic!("{log}"));
    let (started, rest) = run.split_once(" query q (scheduled ").unwrap();
    let (planned, said) = rest.split_once(") ===\n").unwrap();
    let at = |t: &str| chrono::DateTime::parse_from_rfc3339(t).unwrap();
    assert!(
        at(started) - at(planned) >= chrono::Duration::seconds(1),
        "not late: {log}"
    );
    assert_eq!(
        said.lines().next(),
        Some(format!("planned {planned}").as_str()),
        "{log}"
    );
    let after_done = d.log().lines().skip(done).any(|l| l.contains("not run:"));
    assert!(!after_done, "{}", d.log());
}

#[test]
fn a_run_whose_worker_is_not_ready_within_ready_wait_is_not_run_and_alerted() {
    let s = Site::new("qnotrun");
    // Never ready (its restart waits 10 s for it, longer than `ready_wait`, 4 s).
    write_slow_worker(
        &s,
        "*/30 * * * * *",
        "1h",
        &sleep_command("10ms", ", --say, ran"),
        &format!(
            "alert:\n  command: [{}, record, --out, alerts.txt]\n",
            q(&worker_exe())
        ),
    );
    let mut d = s.start();
    let line = d.expect("not run:");
    assert!(
        line.contains("not run: worker(s) w not ready within 4s"),
        "{line}"
    );
    let alerts = file_with(&s.path("alerts.txt"), "PACS_WARDEN_EVENT=query_not_run");
    assert!(
        alerts.contains("PACS_WARDEN_MESSAGE=query q: not run: worker(s) w not ready within 4s"),
        "{alerts}"
    );
    eventually("`status` to show the run not run", || {
        s.status()
            .contains("not run: worker(s) w not ready within 4s")
    });
    let log =
        std::fs::read_to_string(s.path("schedule.yaml.state/queries/q.log")).unwrap_or_default();
    assert!(!log.contains("ran"), "{log}");
}

#[test]
fn a_run_waiting_for_its_worker_when_the_daemon_stops_is_said_not_run_at_the_next_start() {
    let s = Site::new("qstopwait");
    let w = q(&worker_exe());
    // Never ready (its restart gives up after 5 s): the run waits for it, up to `ready_wait`.
    s.write(&format!(
        "timezone: UTC\nlead: 1s\nrestart_at_boot: false\nalert:\n  command: [{w}, record, --out, alerts.txt]\nqueries:\n  - name: q\n    cron: \"*/10 * * * * *\"\n    command: [{w}, sleep, 10ms, --say, ran]\n    ready_wait: 10m\nworkers:\n  - name: w\n    match: {{image: pacs-demo-worker, args_contain: \"--name {tag} \"}}\n    pidfile: w.pid\n    stop:\n      command: [{w}, stop, --pidfile, w.pid]\n    start:\n      command: [{w}, run, --name, {tag}, --pidfile, w.pid, --ready-after, 1h]\n    ready:\n      command: [{w}, ping, --pidfile, w.pid]\n      timeout: 5s\n",
        tag = s.tag
    ));
    let mut first = s.start();
    first.expect("restart due");
    eventually("`status` to show the run waiting for its worker", || {
        s.status().contains("waiting for its workers since")
    });
    // The next run, due while it waits, is skipped (its record does not hide the waiting
    // run); then the daemon is stopped (killed) while the run still waits.
    first.expect("this run is skipped (overlap: skip)");
    drop(first);
    let mut second = s.start();
    let line = second.expect("not run: pacs-warden stopped while the run planned for");
    assert!(line.contains("waited for its workers"), "{line}");
    let alerts = file_with(&s.path("alerts.txt"), "PACS_WARDEN_EVENT=query_not_run");
    assert!(
        alerts.contains("PACS_WARDEN_MESSAGE=query q: not run: pacs-warden stopped while the run"),
        "{alerts}"
    );
    let log =
        std::fs::read_to_string(s.path("schedule.yaml.state/queries/q.log")).unwrap_or_default();
    assert!(!log.contains("ran"), "{log}");
}

#[test]
fn a_run_whose_command_ran_when_the_daemon_stopped_is_never_run_again() {
    use chrono::{DurationRound, TimeDelta, Utc};
    let s = Site::new("qstoprun");
    // One run a day, a few seconds from now, with `catch_up`: a daemon stopped while its
    // command runs must not run it again at its next start, but say its outcome is unknown.
    let now = Utc::now().duration_trunc(TimeDelta::seconds(1)).unwrap();
    let at = now + TimeDelta::seconds(4);
    std::fs::write(
        s.path("schedule.yaml"),
        format!(
            "timezone: UTC\nlead: 1s\nmetrics:\n  textfile: m.prom\nqueries:\n  - name: q\n    at: \"{}\"\n    command: {}\n    catch_up: 1m\n",
            at.format("%H:%M:%S"),
            sleep_command("6s", ", --say, ran")
        ),
    )
    .unwrap();
    let mut first = s.start();
    first.expect("query started");
    drop(first);
    let mut second = s.start();
    let line = second.expect("outcome unknown: pacs-warden stopped while the command of the run");
    assert!(line.contains("it is not run again"), "{line}");
    eventually("`status` to show the run's outcome unknown", || {
        s.status().contains("outcome unknown")
    });
    eventually("the metrics to count the interrupted run", || {
        std::fs::read_to_string(s.path("m.prom")).is_ok_and(|m| {
            m.contains("pacs_warden_query_runs_total{query=\"q\",outcome=\"interrupted\"} 1")
        })
    });
    // Long enough for a wrong catch-up to have started.
    std::thread::sleep(std::time::Duration::from_secs(3));
    assert!(!second.log().contains("catch-up"), "{}", second.log());
    let log = std::fs::read_to_string(s.path("schedule.yaml.state/queries/q.log")).unwrap();
    assert_eq!(log.matches("(scheduled ").count(), 1, "{log}");
}

#[test]
fn a_skipped_run_s_record_does_not_hide_the_run_still_going() {
    let s = Site::new("qskiprun");
    // Runs every 2 s that last 20 s: the next one is skipped while the first runs; then the
    // daemon is stopped (killed): its next start must still find the first run's command
    // running, not the skip.
    std::fs::write(
        s.path("schedule.yaml"),
        format!(
            "timezone: UTC\nlead: 1s\nqueries:\n  - name: q\n    cron: \"*/2 * * * * *\"\n    command: {}\n",
            sleep_command("20s", "")
        ),
    )
    .unwrap();
    let mut first = s.start();
    first.expect("query started");
    first.expect("this run is skipped (overlap: skip)");
    // `status` shows both: the run going, and the skip.
    eventually("`status` to show the run going and the skip", || {
        let status = s.status();
        status.contains("running since") && status.contains("was skipped: the previous run")
    });
    drop(first);
    let mut second = s.start();
    let line = second.expect("outcome unknown: pacs-warden stopped while the command of the run");
    assert!(line.contains("it is not run again"), "{line}");
}

#[cfg(unix)]
#[test]
fn a_run_that_ends_while_the_daemon_finishes_its_restarts_at_stop_is_recorded() {
    use chrono::{DurationRound, TimeDelta, Utc};
    let s = Site::new("qstopend");
    let w = q(&worker_exe());
    // At `at`: `q` (no workers) runs 2 s; `r` (no command) is served by a restart of `v` that
    // lasts ~10 s (never ready). Stopped when `q` starts, the daemon lets `v`'s restart finish:
    // `q` ends meanwhile and must be recorded as it ended, not left running.
    let now = Utc::now().duration_trunc(TimeDelta::seconds(1)).unwrap();
    let at = (now + TimeDelta::seconds(4)).format("%H:%M:%S");
    s.write(&format!(
        "timezone: UTC\nlead: 1s\nrestart_at_boot: false\nqueries:\n  - name: q\n    at: \"{at}\"\n    command: {}\n    workers: []\n  - name: r\n    at: \"{at}\"\n    workers: [v]\nworkers:\n  - name: v\n    match: {{image: pacs-demo-worker, args_contain: \"--name {tag} \"}}\n    pidfile: v.pid\n    stop:\n      command: [{w}, stop, --pidfile, v.pid]\n    start:\n      command: [{w}, run, --name, {tag}, --pidfile, v.pid, --ready-after, 1h]\n    ready:\n      command: [{w}, ping, --pidfile, v.pid]\n      timeout: 10s\n",
        sleep_command("2s", ", --say, ran"),
        tag = s.tag
    ));
    let mut d = s.start();
    d.expect("query started");
    d.terminate();
    assert!(
        d.log().contains("letting running restart sequences finish"),
        "{}",
        d.log()
    );
    let status = s.status();
    assert!(
        status.contains("Query q (run by pacs-warden): last run") && status.contains("— ok"),
        "{status}"
    );
}
