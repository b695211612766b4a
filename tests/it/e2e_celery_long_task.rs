//! End to end, the case pacs-warden exists for: a long task (a PACS retrieve) is running on a
//! REAL solo Celery worker when the daemon's planned restart comes due. The task must finish
//! (not be lost or killed) and the worker must be restarted right after it.
//!
//! The solo worker cannot read the shutdown request while it works; the daemon sends it again
//! every `stop.repeat` and waits up to `grace`, watching the worker's processes, so the worker
//! reads a request once its task ends, exits warmly, and the new worker starts.
//!
//! Unix only, like `e2e_celery.rs` (see there), and it needs what `scripts/test`
//! installs.

use crate::celery::World;
use crate::harness::{eventually, Daemon};
use pacs_warden::sys::process::identify;
use std::process::Stdio;
use std::time::{Duration, Instant};

#[test]
fn a_long_task_running_at_a_planned_restart_completes_and_the_worker_is_restarted_after_it() {
    let world = World::new("90s");
    let original = std::fs::read_to_string(&world.schedule_path).unwrap();
    // Resend the shutdown request every 2 s while the worker is busy.
    let with_repeat =
        original.replace("      grace: 90s\n", "      grace: 90s\n      repeat: 2s\n");
    assert_ne!(with_repeat, original);
    std::fs::write(&world.schedule_path, &with_repeat).unwrap();

    let mut daemon = Daemon::start(&world.schedule_path);

    // The boot restart starts the worker.
    daemon.expect("restart done: was not running; started pid");
    world.wait_ready(Duration::from_secs(60));
    let old: Vec<u32> = world.worker_tree().iter().map(|p| p.id.pid).collect();
    assert!(!old.is_empty());

    // A 12-second task, sent now; its result is awaited by a separate client. The task
    // creates `started` when it begins: the test goes on once the task is running.
    let started = world.path("task started");
    let python = world.tools.python.to_string_lossy().into_owned();
    let mut client = world
        .command(&[
            python,
            "-c".into(),
            "import sys; from e2e_app import slow; print('result', slow.delay(12, sys.argv[1]).get(timeout=120))".into(),
            started.to_string_lossy().into_owned(),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    eventually("the long task to start", || {
        assert!(
            client.try_wait().unwrap().is_none(),
            "the client exited before the task started"
        );
        started.exists()
    });

    // A query 8 s from now with a 5 s lead: the planned restart comes due in ~3 s, while the
    // task still has ~9 s to go.
    let query_at = chrono::Utc::now() + chrono::TimeDelta::seconds(8);
    let edited = with_repeat.replace(
        "queries:\n  - name: q\n    at: [\"06:00\"]\n",
        &format!(
            "lead: 5s\nqueries:\n  - name: q\n    at: [\"{}\"]\n",
            query_at.format("%H:%M:%S")
        ),
    );
    assert_ne!(edited, with_repeat);
    std::fs::write(&world.schedule_path, &edited).unwrap();
    daemon.expect("schedule reloaded");
    let due_at = Instant::now();
    daemon.expect("restart due");

    // The task finishes and returns its result: it was neither lost nor killed.
    let out = client.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("result 12"),
        "the long task did not complete: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // The worker exited by itself after the task (warm shutdown), and was restarted then.
    let done = daemon.expect("restart done:");
    assert!(
        done.contains("exited after"),
        "the worker was killed: {done}"
    );
    assert!(!done.contains("killed"), "{done}");
    let log = daemon.log();
    assert!(
        log.contains("sending the stop command again"),
        "the stop request was not repeated while the worker was busy:\n{log}"
    );
    // It waited for the task: the restart ended well after it came due.
    assert!(due_at.elapsed() > Duration::from_secs(3), "{done}");
    for pid in old {
        assert!(
            identify(pid).is_none(),
            "old worker process {pid} still runs"
        );
    }
    world.wait_ready(Duration::from_secs(60));
    let ran = world.add(20, 22, Duration::from_secs(30));
    assert!(ran.ok() && ran.stdout.contains("42"), "{ran}");
}
