//! `pacs-warden health` on real processes, in every state: the real daemon and the demo
//! worker, broken one way at a time; each state with its exit status and the start of its
//! line. The check is polled until it says what is expected (generous deadlines: 2 noisy
//! cores), then the exit status and line are asserted.

use crate::harness::{q, wait_until, worker_exe, Site, Warden, PATIENCE};
use pacs_warden::sys::os::kill_verified;
use pacs_warden::sys::process::{ProcId, Snapshot};
use std::path::Path;
use std::time::Duration;

/// A site with a query at 03:00 and the demo worker `w` (`run_args` added to its start
/// command, `extra` lines to its entry).
fn yaml(s: &Site, run_args: &str, extra: &str) -> String {
    let w = q(&worker_exe());
    format!(
        "timezone: UTC\nqueries:\n  - name: q\n    cron: \"0 0 3 * * *\"\nworkers:\n  - name: w\n    match: {{image: pacs-demo-worker, args_contain: \"--name {tag} \"}}\n    pidfile: w.pid\n    stop:\n      command: [{w}, stop, --pidfile, w.pid]\n      grace: 5s\n    start:\n      command: [{w}, run, --name, {tag}, --pidfile, w.pid{run_args}]\n{extra}",
        tag = s.tag
    )
}

/// The worker's root process, if it runs.
fn root(s: &Site) -> Option<ProcId> {
    let needle = format!("run --name {} ", s.tag);
    Snapshot::take()
        .processes
        .iter()
        .find(|p| format!("{} ", p.cmdline_text()).contains(&needle))
        .map(|p| p.id)
}

/// `pacs-warden health --config FILE ARGS…`: exit status and stdout.
fn health(config: &Path, args: &[&str]) -> (Option<i32>, String) {
    let mut all = vec!["health"];
    all.extend_from_slice(args);
    let out = Warden::at(config).run(&all);
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

/// Polls `health` until its line starts with `start`, then checks it is one line and the exit
/// status is `code`; returns the line.
fn expect_health(config: &Path, code: i32, start: &str) -> String {
    expect_health_within(config, code, start, PATIENCE)
}

/// `expect_health` with a deadline of its own.
fn expect_health_within(config: &Path, code: i32, start: &str, limit: Duration) -> String {
    let mut last = (None, String::new());
    wait_until(&format!("health to say {start:?}"), limit, || {
        last = health(config, &[]);
        last.1.starts_with(start)
    });
    let (status, out) = last;
    assert_eq!(out.lines().count(), 1, "{out}");
    assert_eq!(status, Some(code), "{out}");
    out.trim_end().to_string()
}

#[test]
fn ok_while_all_runs_then_critical_when_an_unsupervised_worker_is_killed() {
    let s = Site::new("health-killed");
    s.write(&yaml(&s, "", "    supervise: false\n"));
    let mut d = s.start();
    d.expect("restart done: was not running; started pid");
    let line = expect_health(
        &s.config(),
        0,
        &format!(
            "PACS-WARDEN OK - daemon running (pid {}), 1/1 workers up, next restart in ",
            d.child.id()
        ),
    );
    assert!(
        line.contains(" | workers_up=1;;1:;0;1 next_restart_s="),
        "{line}"
    );
    assert!(line.contains(" last_restart_s="), "{line}");
    let (code, json) = health(&s.config(), &["--json"]);
    assert_eq!(code, Some(0), "{json}");
    let json: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(json["state"], "OK", "{json}");
    assert_eq!(json["code"], 0, "{json}");
    assert_eq!(json["problems"], serde_json::json!([]), "{json}");
    assert_eq!(json["figures"]["workers_up"], 1, "{json}");
    assert_eq!(json["figures"]["daemon_pid"], d.child.id(), "{json}");

    kill_verified(root(&s).expect("the worker runs")).unwrap();
    d.expect("stays down until the next planned restart");
    expect_health(
        &s.config(),
        2,
        "PACS-WARDEN CRITICAL - worker w is not running | workers_up=0;;1:;0;1 ",
    );
    let (code, json) = health(&s.config(), &["--json"]);
    assert_eq!(code, Some(2), "{json}");
    let json: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(json["state"], "CRITICAL", "{json}");
    assert_eq!(
        json["problems"],
        serde_json::json!([{"state": "CRITICAL", "text": "worker w is not running"}]),
        "{json}"
    );
}

#[test]
fn critical_when_the_daemon_is_stopped() {
    let s = Site::new("health-stopped");
    s.write(&yaml(&s, "", ""));
    let mut d = s.start();
    d.expect("restart done:");
    expect_health(&s.config(), 0, "PACS-WARDEN OK - daemon running");
    d.child.kill().unwrap();
    d.child.wait().unwrap();
    // The worker keeps running.
    expect_health(
        &s.config(),
        2,
        "PACS-WARDEN CRITICAL - the daemon is not running | workers_up=1;;1:;0;1 ",
    );
    assert!(root(&s).is_some());
}

#[test]
fn warning_when_the_worker_runs_but_its_ready_command_fails() {
    let s = Site::new("health-notready");
    let ready = format!(
        "    ready:\n      command: [{}, ping, --pidfile, w.pid]\n      timeout: 2s\n",
        q(&worker_exe())
    );
    s.write(&yaml(&s, ", --ready-after, 1h", &ready));
    let mut d = s.start();
    d.expect("runs but is NOT READY");
    let line = expect_health(
        &s.config(),
        1,
        "PACS-WARDEN WARNING - worker w runs but is not ready since ",
    );
    assert!(line.contains(": ready command exited with"), "{line}");
    assert!(line.contains(" | workers_up=1;;1:;0;1 "), "{line}");
}

#[test]
fn critical_when_supervision_gives_up() {
    let s = Site::new("health-giveup");
    // Exits 200 ms after every start: each start fails.
    s.write(&yaml(
        &s,
        ", --exit-after, 200ms",
        "    supervise: {backoff: 200ms, give_up_after: 3}\n",
    ));
    let mut d = s.start();
    d.expect("supervision GAVE UP");
    let line = expect_health(
        &s.config(),
        2,
        "PACS-WARDEN CRITICAL - worker w is not running: supervision gave up after 3 failures in a row; ",
    );
    assert!(
        line.contains("; the last restart of worker w failed ("),
        "{line}"
    );
}

#[test]
fn warning_after_a_bad_edit_and_unknown_for_a_file_that_cannot_be_used() {
    let s = Site::new("health-badedit");
    let good = yaml(&s, "", "");
    s.write(&good);
    let mut d = s.start();
    d.expect("restart done:");
    expect_health(&s.config(), 0, "PACS-WARDEN OK - daemon running");

    s.write(&format!("leed: 1m\n{good}"));
    d.expect("the edited schedule is invalid");
    let line = expect_health(
        &s.config(),
        1,
        "PACS-WARDEN WARNING - the daemon rejected the schedule file and runs its last good version (",
    );
    assert!(line.contains(":1:1: leed: unknown key `leed`"), "{line}");

    // The state directory's record cannot be read.
    s.write(&good);
    d.expect("schedule reloaded");
    expect_health(&s.config(), 0, "PACS-WARDEN OK - daemon running");
    let state = s.dir.path().join("schedule.yaml.state").join("state.json");
    std::fs::write(&state, "{ not json").unwrap();
    expect_health(
        &s.config(),
        3,
        "PACS-WARDEN UNKNOWN - cannot read the state directory: ",
    );

    // A file that never was valid, and one that does not exist: nothing is known.
    let other = s.dir.path().join("other dir");
    std::fs::create_dir(&other).unwrap();
    let invalid = other.join("new.yaml");
    std::fs::write(&invalid, "timezone: Nowhere/Bad\n").unwrap();
    let line = expect_health(
        &invalid,
        3,
        "PACS-WARDEN UNKNOWN - the schedule file cannot be used: ",
    );
    assert!(!line.contains('|'), "{line}");
    expect_health(
        &other.join("missing.yaml"),
        3,
        "PACS-WARDEN UNKNOWN - the schedule file cannot be used: ",
    );
}

#[test]
fn a_wrong_command_line_is_unknown() {
    Warden::bare().expect(&["health"], 3).err("--config <FILE>");
    // Other commands keep clap's 2.
    Warden::bare().expect(&["status"], 2);
}

#[test]
fn critical_when_the_last_run_of_a_query_failed() {
    let s = Site::new("health-query");
    // A query every 5 s that pacs-warden runs itself and that exits 1.
    let yaml = yaml(&s, "", "").replace(
        "    cron: \"0 0 3 * * *\"\n",
        &format!(
            "    cron: \"*/5 * * * * *\"\n    command: [{}, sleep, 0s, --exit-code, \"1\"]\n",
            q(&worker_exe())
        ),
    );
    s.write(&format!("lead: 1s\n{yaml}"));
    let mut d = s.start();
    d.expect("query finished");
    let line = expect_health(
        &s.config(),
        2,
        "PACS-WARDEN CRITICAL - the last run of query q failed (",
    );
    assert!(line.contains(" | workers_up="), "{line}");
}

/// A start command that returns at once and leaves the worker running in the background (a
/// daemonizing start, like `celery multi start`; here `setsid --fork`): the process
/// pacs-warden started exits within the settle time, so the restart failed, while the worker
/// runs. The failed restart is the leading problem, not a worker that is down.
#[cfg(target_os = "linux")]
#[test]
fn critical_when_the_last_restart_failed_though_the_worker_runs() {
    let s = Site::new("health-restartfailed");
    let yaml = yaml(&s, "", "    supervise: false\n").replace(
        "    start:\n      command: [",
        "    start:\n      command: [setsid, --fork, ",
    );
    assert!(yaml.contains("[setsid, --fork, "), "{yaml}");
    s.write(&yaml);
    let _d = s.start();
    let line = expect_health(
        &s.config(),
        2,
        "PACS-WARDEN CRITICAL - the last restart of worker w failed (",
    );
    // The started process may exit before the start is confirmed or within the settle time
    // after it, as the machine schedules `setsid`'s fork: two wordings of one failure.
    assert!(
        line.contains("FAILED: cannot start setsid: process ")
            || line.contains("FAILED: the new worker (pid "),
        "{line}"
    );
    assert!(line.contains(" | workers_up=1;;1:;0;1 "), "{line}");
    assert!(root(&s).is_some());
}

#[test]
fn warning_when_the_last_run_of_a_query_was_skipped() {
    let s = Site::new("health-skipped");
    // No worker; a query every 2 s whose run takes 30 s: the runs after the first are skipped
    // (`overlap: skip`, the default) while it goes on. Its command line carries the tag, so
    // that the site's end kills it.
    std::fs::write(
        s.config(),
        format!(
            "timezone: UTC\nlead: 1s\nqueries:\n  - name: q\n    cron: \"*/2 * * * * *\"\n    command: [{}, sleep, 30s, --say, {}]\n",
            q(&worker_exe()),
            q(&s.tag)
        ),
    )
    .unwrap();
    let mut d = s.start();
    d.expect("query started");
    d.expect("this run is skipped (overlap: skip)");
    let line = expect_health(
        &s.config(),
        1,
        "PACS-WARDEN WARNING - the last run of query q was skipped (",
    );
    assert!(
        line.contains("): skipped: the previous run was still going"),
        "{line}"
    );
}

/// Run as root (as CI does): a valid edit the daemon refuses because others could have made
/// it (a group- and world-writable file; README, Security) leaves the daemon running the
/// version it loaded, which differs from the (valid) file on disk.
#[cfg(unix)]
#[test]
fn warning_when_the_daemon_runs_another_version_of_the_file() {
    use std::os::unix::fs::PermissionsExt;
    if !crate::harness::privileged_for_trust_tests(
        "the trust check applies only to a pacs-warden run as root",
    ) {
        return;
    }
    let s = Site::new("health-otherversion");
    let good = yaml(&s, "", "");
    s.write(&good);
    let mut d = s.start();
    d.expect("restart done:");
    expect_health(&s.config(), 0, "PACS-WARDEN OK - daemon running");
    let tmp = s.dir.path().join(".schedule.yaml.swp");
    std::fs::write(&tmp, good.replace("0 0 3 * * *", "0 0 4 * * *")).unwrap();
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o666)).unwrap();
    std::fs::rename(&tmp, s.config()).unwrap();
    d.expect("the edited schedule can be changed by others; keeping the last good schedule");
    expect_health(
        &s.config(),
        1,
        "PACS-WARDEN WARNING - the daemon runs another version of the schedule file (loaded ",
    );
}

/// A planned restart deferred while the worker is busy goes ahead anyway at its query's start,
/// once the busy probe running then answers: the warning lasts from the query's start until
/// that answer (README, `health`). Here every busy probe takes 10 s and says busy: the restart
/// due 15 s before the query is deferred after the first answer, and the probe asked 1 s later
/// is still running when the query begins.
#[test]
fn warning_while_a_planned_restart_is_deferred_past_its_query() {
    let s = Site::new("health-deferred");
    let w = q(&worker_exe());
    let yaml = yaml(
        &s,
        "",
        &format!(
            "    busy:\n      command: [{w}, sleep, 10s, --exit-code, \"69\"]\n      every: 1s\n"
        ),
    )
    .replace("0 0 3 * * *", "*/30 * * * * *");
    s.write(&format!("lead: 15s\n{yaml}"));
    let mut d = s.start();
    d.expect("restart done:");
    d.expect_within("worker is busy; restart deferred", Duration::from_secs(90));
    let line = expect_health(
        &s.config(),
        1,
        "PACS-WARDEN WARNING - the planned restart of worker w is deferred past its query's start (",
    );
    assert!(line.contains("; busy: no answer (exit status "), "{line}");
    // Then it goes ahead.
    d.expect("still busy, and its query begins now: restarting anyway");
    d.expect("restart done:");
}
