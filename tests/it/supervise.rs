//! Crash supervision, repeated stop requests, keep-alive services and alerts, with the real
//! daemon and the demo worker. Bounds are generous: 2 noisy cores.

use crate::harness::{eventually, file_with, q, tagged, worker_exe, Site};
use pacs_warden::sys::os::kill_verified;
use pacs_warden::sys::process::{identify, ProcId};
use std::time::{Duration, Instant};

/// A worker entry named `name` running the demo worker with `run_args`.
fn worker(s: &Site, name: &str, run_args: &str, extra: &str) -> String {
    let w = q(&worker_exe());
    format!(
        "  - name: {name}\n    match: {{image: pacs-demo-worker, args_contain: \"--name {tag}-{name} \"}}\n    pidfile: {name}.pid\n    stop:\n      command: [{w}, stop, --pidfile, {name}.pid]\n      grace: 5s\n    start:\n      command: [{w}, run, --name, {tag}-{name}, --pidfile, {name}.pid{run_args}]\n{extra}",
        tag = s.tag
    )
}

fn alert_yaml() -> String {
    format!(
        "alert:\n  command: [{}, record, --out, alerts.txt]\n",
        q(&worker_exe())
    )
}

/// The root process of worker `name`, if it runs.
fn root(s: &Site, name: &str) -> Option<ProcId> {
    let needle = format!("run --name {}-{name} ", s.tag);
    tagged(&s.tag)
        .iter()
        .find(|p| format!("{} ", p.cmdline_text()).contains(&needle))
        .map(|p| p.id)
}

const FAR: &str = "timezone: UTC\nqueries:\n  - name: q\n    cron: \"0 0 3 * * *\"\n";

#[test]
fn a_killed_worker_comes_back_and_the_backoff_grows() {
    let s = Site::new("crash");
    s.write(&format!(
        "{FAR}workers:\n{}",
        worker(&s, "w", ", --children, \"1\"", "")
    ));
    let mut d = s.start();
    d.expect("restart done: was not running; started pid");
    let first = root(&s, "w").expect("worker running");

    let killed_at = Instant::now();
    kill_verified(first).unwrap();
    d.expect("the worker exited unexpectedly (crash)");
    let detected = killed_at.elapsed();
    let retry = d.expect("starting it again in");
    assert!(
        retry.contains("it crashed; starting it again in 1s"),
        "{retry}"
    );
    d.expect("restart done:");
    let second = root(&s, "w").expect("worker running again");
    assert_ne!(first, second);
    // Noticed within 5 s (a pidfd on Linux: at once), back after the 1 s backoff.
    assert!(
        detected < Duration::from_secs(5),
        "noticed after {detected:?}"
    );
    assert!(killed_at.elapsed() < Duration::from_secs(15));
    assert!(identify(first.pid).is_none());

    // A second crash soon after: the wait doubles.
    kill_verified(second).unwrap();
    let retry = d.expect("starting it again in");
    assert!(retry.contains("starting it again in 2s"), "{retry}");
    d.expect("restart done:");
    assert!(root(&s, "w").is_some());

    s.warden()
        .expect(&["status"], 0)
        .out("supervision: 2 crash restarts, 2 failures in a row, backoff 2s, last crash");
}

#[test]
fn a_worker_that_keeps_failing_to_start_is_retried_with_growing_waits_and_alerts() {
    let s = Site::new("flaky");
    // Exits 200 ms after every start: each start fails its settle check.
    s.write(&format!(
        "{FAR}{}workers:\n{}",
        alert_yaml(),
        worker(&s, "w", ", --exit-after, 200ms", "")
    ));
    let mut d = s.start();
    for wait in ["1s", "2s", "4s"] {
        let line = d.expect("starting it again in");
        assert!(
            line.contains(&format!("the restart failed; starting it again in {wait}")),
            "{line}"
        );
    }
    let alerts = std::fs::read_to_string(s.path("alerts.txt")).unwrap();
    assert!(
        alerts.contains("PACS_WARDEN_EVENT=restart_failed"),
        "{alerts}"
    );
    assert!(alerts.contains("PACS_WARDEN_WORKER=w\n"), "{alerts}");
    assert!(alerts.contains("\"event\":\"restart_failed\""), "{alerts}");
    assert!(alerts.contains("exited within"), "{alerts}");
}

#[test]
fn a_keep_alive_service_is_not_restarted_on_schedule_but_after_a_crash() {
    let s = Site::new("flower");
    s.write(&format!(
        "timezone: UTC\nlead: 1s\nqueries:\n  - name: q\n    cron: \"*/3 * * * * *\"\nworkers:\n{}{}",
        worker(&s, "celery", "", ""),
        worker(&s, "flower", "", "    restart_before_queries: false\n")
    ));
    let mut d = s.start();
    d.expect("boot restart");
    let mut both = None;
    eventually("the boot restart to start both", || {
        both = root(&s, "flower").zip(root(&s, "celery"));
        both.is_some()
    });
    let (flower, celery) = both.unwrap();
    for _ in 0..2 {
        d.expect("restart due");
        d.expect("restart done:");
    }
    assert_eq!(
        root(&s, "flower"),
        Some(flower),
        "the keep-alive service was restarted on schedule"
    );
    assert_ne!(
        root(&s, "celery"),
        Some(celery),
        "the worker was not restarted on schedule"
    );
    kill_verified(flower).unwrap();
    let crash = d.expect("the worker exited unexpectedly (crash)");
    assert!(crash.contains("worker=flower"), "{crash}");
    eventually("flower to come back", || {
        root(&s, "flower").is_some_and(|p| p != flower)
    });
}

#[test]
fn an_invalid_edit_raises_an_alert() {
    let s = Site::new("alert");
    let good = format!(
        "{FAR}restart_at_boot: false\n{}workers:\n{}",
        alert_yaml(),
        worker(&s, "w", "", "")
    );
    s.write(&good);
    let mut d = s.start();
    d.expect("next restarts");
    s.write(&good.replace("cron: \"0 0 3 * * *\"", "cron: \"61 * * * *\""));
    d.expect("the edited schedule is invalid");
    let alerts = file_with(&s.path("alerts.txt"), "stdin=");
    assert!(
        alerts.contains("PACS_WARDEN_EVENT=schedule_rejected"),
        "{alerts}"
    );
    assert!(
        alerts.contains("queries[0].cron: `61 * * * *`: minute field: 61 is out of range"),
        "{alerts}"
    );
    assert!(
        alerts.contains("\"event\":\"schedule_rejected\""),
        "{alerts}"
    );
}

#[test]
fn the_stop_command_is_repeated_and_a_worker_that_finishes_later_is_not_killed() {
    let s = Site::new("repeat");
    // The worker misses the first two stop requests (busy), then obeys the third.
    s.write(&format!(
        "{FAR}workers:\n{}",
        worker(&s, "w", ", --ignore-stops, \"2\"", "").replace(
            "      grace: 5s\n",
            "      grace: 20s\n      repeat: 400ms\n"
        )
    ));
    let run = |args: &[&str]| s.warden().run(args);
    assert_eq!(run(&["restart"]).status.code(), Some(0));
    let old = root(&s, "w").unwrap();
    let out = run(&["restart"]);
    assert_eq!(out.status.code(), Some(0));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stdout.contains("] exited after"),
        "not killed: {stdout}\n{stderr}"
    );
    assert_eq!(
        stderr.matches("sending the stop command again").count(),
        2,
        "{stderr}"
    );
    assert!(identify(old.pid).is_none());
}

#[cfg(unix)]
#[test]
fn a_stop_signal_ends_the_worker_without_waiting_out_grace() {
    let s = Site::new("signal");
    // No stop command: only SIGTERM to the verified worker process, then up to 30 s of grace.
    s.write(&format!(
        "{FAR}workers:\n{}",
        worker(&s, "w", "", "")
            .replace(
                "      grace: 5s\n",
                "      signal: TERM\n      grace: 30s\n"
            )
            .replace(
                &format!(
                    "      command: [{}, stop, --pidfile, w.pid]\n",
                    q(&worker_exe())
                ),
                ""
            )
    ));
    let run = || s.warden().run(&["restart"]);
    assert_eq!(run().status.code(), Some(0));
    let old = root(&s, "w").unwrap();
    let t0 = Instant::now();
    let out = run();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("sent the stop signal"));
    assert!(String::from_utf8_lossy(&out.stdout).contains("] exited after"));
    assert!(
        t0.elapsed() < Duration::from_secs(15),
        "grace was waited out"
    );
    assert!(identify(old.pid).is_none());
}

#[test]
fn a_worker_not_ready_when_its_query_begins_raises_an_alert() {
    let s = Site::new("notready");
    let ready = format!(
        "    ready:\n      command: [{}, ping, --pidfile, w.pid]\n      timeout: 1s\n    supervise: false\n",
        q(&worker_exe())
    );
    // Never ready; a query every 4 s with a 2 s lead; no boot restart. The failed restart
    // (settle + 1 s ready timeout) must end within the lead: under Wine it takes ~2 s, so
    // Windows gets a 3 s lead (queries every 6 s).
    let (lead, every) = if cfg!(windows) { ("3s", 6) } else { ("2s", 4) };
    s.write(&format!(
        "timezone: UTC\nlead: {lead}\nrestart_at_boot: false\n{}queries:\n  - name: q\n    cron: \"*/{every} * * * * *\"\nworkers:\n{}",
        alert_yaml(),
        worker(&s, "w", ", --ready-after, 1h", &ready)
    ));
    let mut d = s.start();
    d.expect("restart due");
    d.expect("restart failed:");
    let line = d.expect("is starting but worker w is not ready");
    assert!(
        line.contains("query q is starting but worker w is not ready (it runs, but its ready command fails: ready command exited with"),
        "{line}"
    );
    let text = file_with(
        &s.path("alerts.txt"),
        "PACS_WARDEN_EVENT=not_ready_at_query",
    );
    assert!(
        text.contains("PACS_WARDEN_EVENT=worker_not_ready"),
        "{text}"
    );
}

/// A worker with a busy probe (`pacs-demo-worker active`), queries every 8 s with a 4 s lead.
fn busy_schedule(s: &Site) -> String {
    let busy = format!(
        "    busy:\n      command: [{}, active, --pidfile, w.pid]\n      idle_when: celery-active-empty\n      every: 500ms\n",
        q(&worker_exe())
    );
    format!(
        "timezone: UTC\nlead: 4s\nqueries:\n  - name: q\n    cron: \"*/8 * * * * *\"\nworkers:\n{}",
        worker(s, "w", "", &busy)
    )
}

#[test]
fn a_busy_worker_s_planned_restart_waits_until_it_is_idle() {
    let s = Site::new("busy");
    // No boot restart: the worker is started first with `pacs-warden restart` and the daemon
    // adopts it, so the first restart due after the daemon starts is the one checked here. (A
    // boot restart can overlap a planned restart due right after it; that one's forced restart
    // at its query time then raced the checks below, often where processes start slowly.)
    s.write(&busy_schedule(&s).replacen("lead: 4s\n", "lead: 4s\nrestart_at_boot: false\n", 1));
    s.warden().expect(&["restart"], 0);
    let first = root(&s, "w").unwrap();
    std::fs::write(s.path("w.pid.busy"), "busy").unwrap();
    let mut d = s.start();
    d.expect("adopting it");
    d.expect("restart due");
    d.expect("worker is busy; restart deferred");
    assert_eq!(
        root(&s, "w"),
        Some(first),
        "restarted while busy\n{}",
        d.log()
    );
    d.expect("worker is busy; restart deferred");
    let text = s.status();
    assert!(text.contains("planned restart DEFERRED since"), "{text}");
    assert!(text.contains("busy: no answer (exit status"), "{text}");
    std::fs::remove_file(s.path("w.pid.busy")).unwrap();
    d.expect("worker is idle; restarting it now");
    d.expect("restart done:");
    assert_ne!(root(&s, "w"), Some(first));
}

#[test]
fn a_worker_still_busy_when_its_query_begins_is_restarted_gracefully_then() {
    let s = Site::new("stillbusy");
    s.write(&busy_schedule(&s));
    let mut d = s.start();
    d.expect("restart done: was not running");
    std::fs::write(s.path("w.pid.busy"), "busy").unwrap();
    d.expect("restart due");
    d.expect("worker is busy; restart deferred");
    let line = d.expect("still busy, and its query begins now: restarting anyway");
    assert!(line.contains("worker=w"), "{line}");
    d.expect("restart done:");
}

#[test]
fn supervision_gives_up_after_the_configured_failures_and_alerts() {
    let s = Site::new("giveup");
    s.write(&format!(
        "{FAR}{}workers:\n{}",
        alert_yaml(),
        worker(
            &s,
            "w",
            ", --exit-after, 200ms",
            "    supervise: {backoff: 200ms, give_up_after: 3}\n"
        )
    ));
    let mut d = s.start();
    assert!(d.expect("starting it again in").contains("in 200ms"));
    assert!(d.expect("starting it again in").contains("in 400ms"));
    let gave_up = d.expect("supervision GAVE UP");
    assert!(
        gave_up.contains("worker w failed 3 times in a row"),
        "{gave_up}"
    );
    file_with(
        &s.path("alerts.txt"),
        "PACS_WARDEN_EVENT=supervision_gave_up",
    );
    assert!(s.status().contains("GAVE UP"), "{}", s.status());
}

#[test]
fn a_running_worker_that_is_never_ready_is_left_running_and_only_probed_again() {
    let s = Site::new("neverready");
    // The ready command always fails (until the test creates `w.pid.ready`).
    let ready = format!(
        "    ready:\n      command: [{}, ping, --pidfile, w.pid]\n      timeout: 2s\n",
        q(&worker_exe())
    );
    s.write(&format!(
        "{FAR}{}workers:\n{}",
        alert_yaml(),
        worker(&s, "w", ", --ready-after, 1h", &ready)
    ));
    let mut d = s.start();
    let line = d.expect("runs but is NOT READY");
    assert!(
        line.contains("Error: No nodes replied within time constraint"),
        "the ready command's output is missing: {line}"
    );
    assert!(line.contains("69"), "{line}");
    let first = root(&s, "w").expect("worker running");

    // Not ready: recorded in the state (`status`) and alerted, not as a failed restart.
    eventually("`status` to show NOT READY", || {
        s.status().contains("NOT READY since")
    });
    let text = s.status();
    assert!(
        text.contains("Error: No nodes replied within time constraint"),
        "{text}"
    );
    assert!(!text.contains("crash restart"), "{text}");
    let alerts = file_with(&s.path("alerts.txt"), "PACS_WARDEN_EVENT=worker_not_ready");
    assert!(
        !alerts.contains("PACS_WARDEN_EVENT=restart_failed"),
        "{alerts}"
    );

    // Only the ready command runs again, a minute after; once it succeeds the state clears.
    // The line that says so is logged after the daemon passed the points where the old
    // behaviour restarted the worker (1 s, 2 s, 4 s, … after): it was not stopped again.
    std::fs::write(s.path("w.pid.ready"), "ready\n").unwrap();
    d.expect_within("the worker is ready now", Duration::from_secs(120));
    assert_eq!(root(&s, "w"), Some(first), "restarted\n{}", d.log());
    let log = d.log();
    assert_eq!(log.matches("started the worker").count(), 1, "{log}");
    assert!(!log.contains("starting it again in"), "{log}");
    let text = s.status();
    assert!(!text.contains("NOT READY"), "{text}");
    assert!(text.contains("UTC: ok — "), "{text}");
    assert!(text.contains("; ready later, at "), "{text}");
}

#[test]
fn a_manual_restart_that_is_never_ready_fails_with_the_ready_command_s_output_escaped() {
    let s = Site::new("restartready");
    // The ready command prints two lines, the second with a terminal escape, and exits 69.
    let ready = format!(
        "    ready:\n      command: [{}, sleep, 0s, --say, \"first\\nsecond \\x1b[2J\", --exit-code, \"69\"]\n      timeout: 1s\n",
        q(&worker_exe())
    );
    s.write(&format!("{FAR}workers:\n{}", worker(&s, "w", "", &ready)));
    let t0 = Instant::now();
    let out = s.warden().run(&["restart"]);
    assert!(t0.elapsed() < Duration::from_secs(30), "it looped");
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stdout.contains("did not become ready within 1s: ready command exited with"),
        "{stdout}"
    );
    assert!(stdout.contains(r"first | second \u{1b}[2J"), "{stdout}");
    assert!(!stdout.contains('\u{1b}'), "{stdout:?}");
    assert!(!stderr.contains('\u{1b}'), "{stderr:?}");
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    // Started once, left running.
    assert!(root(&s, "w").is_some());
}

/// `ready:` with `ready.every` for worker `name`.
fn ready_every(name: &str, every: &str, failures: u32) -> String {
    format!(
        "    ready:\n      command: [{}, ping, --pidfile, {name}.pid]\n      timeout: 5s\n      every: {every}\n      failures: {failures}\n",
        q(&worker_exe())
    )
}

#[test]
fn a_worker_that_stops_answering_ready_while_alive_is_restarted_gracefully_with_an_alert() {
    let s = Site::new("hangs");
    s.write(&format!(
        "{FAR}{}workers:\n{}",
        alert_yaml(),
        worker(&s, "w", ", --hang-after, 3s", &ready_every("w", "1s", 2))
    ));
    let mut d = s.start();
    d.expect("restart done: was not running; started pid");
    let first = root(&s, "w").expect("worker running");
    // Answers while it serves, then hangs (alive) after 3 s.
    d.expect("the worker did not answer its ready command (1 of 2 failures in a row");
    assert_eq!(identify(first.pid), Some(first), "still alive");
    d.expect("did not answer its ready command 2 times in a row");
    // The normal sequence: the stop command first, and the worker honours it (exit 0).
    let done = d.expect("restart done:");
    assert!(done.contains("exited after"), "stopped, not killed: {done}");
    let alerts = file_with(&s.path("alerts.txt"), "worker_unresponsive");
    assert!(alerts.contains("PACS_WARDEN_WORKER=w\n"), "{alerts}");
    eventually("the old worker to be gone and a new one to run", || {
        identify(first.pid) != Some(first) && root(&s, "w").is_some_and(|r| r != first)
    });
}

#[test]
fn a_worker_that_grows_its_memory_is_restarted_with_an_alert() {
    let s = Site::new("bloats");
    // Grows 25 MB a second (in its root; its child counts too); the limit is 100 MB.
    s.write(&format!(
        "{FAR}{}workers:\n{}",
        alert_yaml(),
        worker(
            &s,
            "w",
            ", --children, \"1\", --grow, \"25\"",
            "    max_memory: 100MB\n    max_memory_every: 1s\n"
        )
    ));
    let mut d = s.start();
    d.expect("restart done: was not running; started pid");
    let first = root(&s, "w").expect("worker running");
    let line = d.expect("above its max_memory of 100.0 MB; restarting it gracefully");
    assert!(line.contains(&format!("(pid {})", first.pid)), "{line}");
    let done = d.expect("restart done:");
    assert!(done.contains("exited after"), "stopped, not killed: {done}");
    let alerts = file_with(&s.path("alerts.txt"), "memory_limit");
    assert!(alerts.contains("PACS_WARDEN_WORKER=w\n"), "{alerts}");
    eventually("a new worker to run", || {
        root(&s, "w").is_some_and(|r| r != first)
    });
}

#[test]
fn status_and_health_show_the_last_answers_of_the_checks() {
    let s = Site::new("checks");
    s.write(&format!(
        "{FAR}workers:\n{}",
        worker(
            &s,
            "w",
            ", --hang-after, 2s",
            &format!(
                "{}    max_memory: 1GB\n    max_memory_every: 1s\n",
                ready_every("w", "1s", 1000)
            )
        )
    ));
    let mut d = s.start();
    d.expect("restart done: was not running; started pid");
    d.expect("the worker did not answer its ready command (1 of 1000");
    let mut status = String::new();
    eventually("status to show both checks", || {
        status = s.status();
        status.contains("memory at") && status.contains("ready probe since")
    });
    // The exit status as the OS words it: `exit status: 69` (Unix), `exit code: 69` (Windows).
    assert!(
        status.contains("in a row before a restart): ready command exited with exit ")
            && status.contains(": 69"),
        "{status}"
    );
    assert!(status.contains("(max_memory 1.0 GB;"), "{status}");
    let ran = s.warden().run(&["health"]);
    let out = String::from_utf8_lossy(&ran.stdout).to_string();
    assert_eq!(ran.status.code(), Some(1), "{out}");
    assert!(
        out.starts_with("PACS-WARDEN WARNING - worker w runs but is not ready"),
        "{out}"
    );
    assert!(out.contains("failed probes in a row"), "{out}");
}
