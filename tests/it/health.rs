//! `pacs-warden health` on real processes, in every state: the real daemon and the demo
//! worker, broken one way at a time; each state with its exit status and the start of its
//! line. The check is polled until it says what is expected (generous deadlines: 2 noisy
//! cores), then the exit status and line are asserted.

use crate::harness::{q, wait_until, worker_exe, Site, Warden, PATIENCE};
use pacs_warden::sys::os::kill_verified;
use pacs_warden::sys::process::{ProcId, Snapshot};
use std::path::Path;

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
    let mut last = (None, String::new());
    wait_until(&format!("health to say {start:?}"), PATIENCE, || {
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
