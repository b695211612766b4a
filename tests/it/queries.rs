//! Queries pacs-warden runs itself (`command:`): after the planned restart and once the worker
//! is ready; output in the query's log; outcome in `status`; overlapping runs skipped or queued.

use crate::harness as common;

use common::{kill_tagged, q, status, worker_exe, Daemon, PATIENCE, WARDEN};
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

struct Setup {
    dir: tempfile::TempDir,
    tag: String,
}

impl Setup {
    fn new(tag: &str) -> Setup {
        Setup {
            dir: tempfile::Builder::new()
                .prefix("queries ")
                .tempdir()
                .unwrap(),
            tag: format!("{tag}-{}", std::process::id()),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// One demo worker (ready 1 s after start) and one query `cron` running `command`.
    fn write(&self, cron: &str, lead: &str, command: &str, extra: &str) {
        let w = q(&worker_exe());
        std::fs::write(
            self.path("schedule.yaml"),
            format!(
                "timezone: UTC\nlead: {lead}\nrestart_at_boot: false\nqueries:\n  - name: q\n    cron: \"{cron}\"\n    command: {command}\n{extra}workers:\n  - name: w\n    match: {{image: pacs-demo-worker, args_contain: \"--name {tag} \"}}\n    pidfile: w.pid\n    stop:\n      command: [{w}, stop, --pidfile, w.pid]\n    start:\n      command: [{w}, run, --name, {tag}, --pidfile, w.pid, --ready-after, 1s]\n    ready:\n      command: [{w}, ping, --pidfile, w.pid]\n      timeout: 10s\n",
                tag = self.tag
            ),
        )
        .unwrap();
    }

    fn sleep_command(&self, d: &str, extra: &str) -> String {
        format!("[{}, sleep, {d}{extra}]", q(&worker_exe()))
    }

    fn start(&self) -> Daemon {
        Daemon::start(&self.path("schedule.yaml"))
    }

    fn status(&self) -> String {
        status(&self.path("schedule.yaml"))
    }
}

impl Drop for Setup {
    fn drop(&mut self) {
        kill_tagged(&self.tag);
    }
}

#[test]
fn a_query_runs_after_its_restart_once_the_worker_is_ready_and_its_output_is_recorded() {
    let s = Setup::new("qrun");
    // Lead 1 s, but the worker needs ~1.5 s to be ready: the query must wait for it.
    s.write(
        "*/6 * * * * *",
        "1s",
        &s.sleep_command("100ms", ", --say, 'hello from the query'"),
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
    let out = Command::new(WARDEN)
        .args(["plan", "--count", "1", "--config"])
        .arg(s.path("schedule.yaml"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("q* "), "{text}");
}

#[test]
fn a_failing_query_s_exit_status_is_recorded() {
    let s = Setup::new("qfail");
    s.write(
        "*/6 * * * * *",
        "3s",
        &s.sleep_command("10ms", ", --exit-code, '3'"),
        "",
    );
    let mut d = s.start();
    let finished = d.expect("query finished");
    assert!(finished.contains("failed (exit status: 3)"), "{finished}");
    let t0 = Instant::now();
    while !s.status().contains("failed (exit status: 3)") {
        assert!(t0.elapsed() < PATIENCE, "{}", s.status());
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A schedule with one query and no workers: runs are not held up by restarts.
fn write_without_workers(s: &Setup, cron: &str, command: &str, extra: &str) {
    std::fs::write(
        s.path("schedule.yaml"),
        format!("timezone: UTC\nlead: 1s\nqueries:\n  - name: q\n    cron: \"{cron}\"\n    command: {command}\n{extra}"),
    )
    .unwrap();
}

#[test]
fn a_query_whose_workdir_is_missing_says_so() {
    let s = Setup::new("qworkdir");
    write_without_workers(
        &s,
        "*/3 * * * * *",
        &s.sleep_command("10ms", ""),
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
    let s = Setup::new("qskip");
    // Every 2 s, each run takes 3 s.
    write_without_workers(&s, "*/2 * * * * *", &s.sleep_command("3s", ""), "");
    let mut d = s.start();
    d.expect("query started");
    d.expect("the previous run is still going; this run is skipped (overlap: skip)");
}

#[test]
fn an_overlapping_run_waits_when_asked_to() {
    let s = Setup::new("qwait");
    s.write(
        "*/2 * * * * *",
        "1s",
        &s.sleep_command("3s", ""),
        "    overlap: wait\n",
    );
    let mut d = s.start();
    d.expect("query started");
    d.expect("the previous run is still going; this one waits for it (overlap: wait)");
    d.expect("query finished");
    // The queued run starts right after the previous one ends.
    d.expect("query started");
}
