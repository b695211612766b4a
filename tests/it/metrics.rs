//! `metrics: {textfile: PATH}`: the real daemon with the demo worker writes the Prometheus text
//! format, read back with the `prometheus-client` Python package's parser (a strict one: a
//! malformed line fails the test). Needs `target/e2e-venv` with `prometheus-client`;
//! `scripts/test` installs it.

use crate::harness::{eventually, q, tagged, wait_until, worker_exe, Site};
use pacs_warden::sys::os::kill_verified;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

fn python() -> PathBuf {
    let python = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/e2e-venv/bin/python");
    assert!(
        python.exists(),
        "{} is missing: run `scripts/test --test it metrics::` once to create it",
        python.display()
    );
    python
}

/// Parses `text` with `prometheus_client.parser`: every sample as `name{labels}` (labels
/// sorted, `k=v` joined by `,`) → value; `Err` with the parser's complaint if it refuses it.
fn parse(text: &str) -> Result<HashMap<String, f64>, String> {
    const SCRIPT: &str = r#"
import sys
from prometheus_client.parser import text_string_to_metric_families
for family in text_string_to_metric_families(sys.stdin.read()):
    for s in family.samples:
        labels = ",".join(f"{k}={v}" for k, v in sorted(s.labels.items()))
        print(f"{s.name}{{{labels}}}\t{s.value!r}")
"#;
    use std::io::Write as _;
    let mut child = Command::new(python())
        .args(["-c", SCRIPT])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            let (k, v) = l.split_once('\t').unwrap();
            (k.to_string(), v.parse().unwrap())
        })
        .collect())
}

#[test]
fn the_parser_refuses_malformed_text() {
    // What the real test relies on: a broken line is an error, not a skipped line.
    assert!(parse("# TYPE x counter\nx{worker=\"a} 1\n").is_err());
    assert!(parse("# TYPE x gauge\nx{worker=\"a\"} one\n").is_err());
    assert_eq!(
        parse("# TYPE x gauge\nx{worker=\"a\"} 1\n").unwrap()["x{worker=a}"],
        1.0
    );
}

#[test]
fn the_daemon_writes_restarts_crashes_and_up_to_the_textfile() {
    let s = Site::new("metrics");
    std::fs::create_dir(s.path("text files")).unwrap();
    let file = s.path("text files").join("pacs warden.prom");
    let w = q(&worker_exe());
    s.write(&format!(
        "timezone: UTC\nqueries:\n  - name: q\n    cron: \"0 0 3 * * *\"\n    command: [{w}, --version]\n\
         metrics:\n  textfile: 'text files/pacs warden.prom'\n\
         workers:\n  - name: w\n    match: {{image: pacs-demo-worker, args_contain: \"--name {tag}-w \"}}\n    pidfile: w.pid\n    stop:\n      command: [{w}, stop, --pidfile, w.pid]\n      grace: 5s\n    start:\n      command: [{w}, run, --name, {tag}-w, --pidfile, w.pid]\n",
        tag = s.tag
    ));
    let read = || -> HashMap<String, f64> {
        let text = std::fs::read_to_string(&file).unwrap_or_default();
        parse(&text).unwrap_or_else(|e| panic!("not the text format: {e}\n{text}"))
    };
    let mut d = s.start();
    d.expect("restart done: was not running; started pid");
    let started = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    eventually("the first restart in the metrics", || {
        file.exists() && read().get("pacs_warden_restarts_total{outcome=ok,worker=w}") == Some(&1.0)
    });
    let m = read();
    assert_eq!(m["pacs_warden_worker_up{worker=w}"], 1.0);
    assert_eq!(m["pacs_warden_crash_restarts_total{worker=w}"], 0.0);
    assert_eq!(
        m["pacs_warden_restarts_total{outcome=failed,worker=w}"],
        0.0
    );
    assert_eq!(m["pacs_warden_query_runs_total{outcome=ok,query=q}"], 0.0);
    let last = m["pacs_warden_last_restart_timestamp_seconds{worker=w}"];
    assert!((last - started).abs() < 60.0, "{last} vs {started}");
    // The next restart: before the next 03:00 UTC, after now.
    let next = m["pacs_warden_next_restart_timestamp_seconds{}"];
    assert!(next > started && next < started + 86_400.0, "{next}");

    // A crash: supervision starts it again, counted as a crash restart.
    let needle = format!("run --name {}-w ", s.tag);
    let root = tagged(&s.tag)
        .into_iter()
        .find(|p| format!("{} ", p.cmdline_text()).contains(&needle))
        .expect("worker running")
        .id;
    kill_verified(root).unwrap();
    d.expect("the worker exited unexpectedly (crash)");
    d.expect("restart done:");
    eventually("the crash restart in the metrics", || {
        read().get("pacs_warden_restarts_total{outcome=ok,worker=w}") == Some(&2.0)
    });
    let m = read();
    assert_eq!(m["pacs_warden_crash_restarts_total{worker=w}"], 1.0);
    assert_eq!(m["pacs_warden_worker_up{worker=w}"], 1.0);
    // Written by rename: no temporary file left beside it.
    let names: Vec<_> = std::fs::read_dir(s.path("text files"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["pacs warden.prom"], "{names:?}");
}

/// The samples the first test does not reach: the memory gauge (`max_memory`), a query run
/// that ended ok, a deferred restart counted once however often the busy worker was asked
/// again, and ready failures (`ready.every`).
#[test]
fn the_daemon_writes_memory_query_runs_deferrals_and_ready_failures() {
    let s = Site::new("metrics-more");
    let file = s.path("pacs-warden.prom");
    let w = q(&worker_exe());
    // `w`: always busy (asked every second for the 5 s of lead before each query, every 30 s),
    // its memory read every second. `v`: not restarted before queries; it stops answering its
    // ready command 3 s after its start, and is asked every second (restarted only after 100
    // failures).
    s.write(&format!(
        "timezone: UTC\nlead: 5s\nqueries:\n  - name: q\n    cron: \"*/30 * * * * *\"\n    command: [{w}, sleep, 10ms]\n\
         metrics:\n  textfile: pacs-warden.prom\n\
         workers:\n\
         \x20 - name: w\n    match: {{image: pacs-demo-worker, args_contain: \"--name {tag}-w \"}}\n    pidfile: w.pid\n    stop:\n      command: [{w}, stop, --pidfile, w.pid]\n      grace: 5s\n    start:\n      command: [{w}, run, --name, {tag}-w, --pidfile, w.pid]\n    busy:\n      command: [{w}, sleep, 0s, --exit-code, \"69\"]\n      every: 1s\n    max_memory: 1GB\n    max_memory_every: 1s\n\
         \x20 - name: v\n    match: {{image: pacs-demo-worker, args_contain: \"--name {tag}-v \"}}\n    pidfile: v.pid\n    restart_before_queries: false\n    stop:\n      command: [{w}, stop, --pidfile, v.pid]\n      grace: 5s\n    start:\n      command: [{w}, run, --name, {tag}-v, --pidfile, v.pid, --hang-after, 3s]\n    ready:\n      command: [{w}, ping, --pidfile, v.pid]\n      timeout: 5s\n      every: 1s\n      failures: 100\n",
        tag = s.tag
    ));
    let read = || -> HashMap<String, f64> {
        let text = std::fs::read_to_string(&file).unwrap_or_default();
        parse(&text).unwrap_or_else(|e| panic!("not the text format: {e}\n{text}"))
    };
    let mut d = s.start();
    eventually(
        "the memory of w and ready failures of v in the metrics",
        || {
            let m = read();
            m.get("pacs_warden_worker_memory_bytes{worker=w}")
                .is_some_and(|b| *b > 0.0)
                && m.get("pacs_warden_ready_failures_total{worker=v}")
                    .is_some_and(|n| *n > 0.0)
        },
    );
    assert_eq!(
        read().get("pacs_warden_worker_memory_bytes{worker=v}"),
        None
    );

    // The planned restart before a query: deferred while busy, asked again every second,
    // restarted anyway at the query's start: one deferred restart, however often it was asked.
    let long = Duration::from_secs(90);
    d.expect_within(
        "still busy, and its query begins now: restarting anyway",
        long,
    );
    let asked = d
        .log()
        .matches("worker is busy; restart deferred, asking again in")
        .count();
    assert!(asked >= 2, "asked {asked} times:\n{}", d.log());
    eventually("one deferral in the metrics", || {
        read().get("pacs_warden_deferrals_total{worker=w}") == Some(&1.0)
    });
    assert_eq!(read()["pacs_warden_deferrals_total{worker=v}"], 0.0);
    // The query runs after it.
    wait_until("a query run in the metrics", long, || {
        read()
            .get("pacs_warden_query_runs_total{outcome=ok,query=q}")
            .is_some_and(|n| *n >= 1.0)
    });
    let m = read();
    assert_eq!(
        m["pacs_warden_query_runs_total{outcome=failed,query=q}"],
        0.0
    );
    assert!(m["pacs_warden_worker_memory_bytes{worker=w}"] > 0.0);
}
