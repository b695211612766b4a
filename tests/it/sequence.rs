//! The restart sequence on real processes: the demo worker (`pacs-demo-worker`) plays the
//! Celery worker — it writes a pid file, starts children, obeys or ignores stop requests — and
//! every check of "gone" or "alive" asks the OS.

use crate::harness::{
    eventually, q, wait_until, watch_stderr, worker_exe, Site, Warden, PATIENCE, WORKER,
};
use pacs_warden::core::config::Schedule;
use pacs_warden::shell::sequence::{prepare, restart, restart_dispatched, Outcome, Stopped};
use pacs_warden::shell::state::Store;
use pacs_warden::sys::clock::SystemClock;
use pacs_warden::sys::process::identify;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

fn pidfile(f: &Site) -> PathBuf {
    f.path("worker.pid")
}

/// Writes the site's schedule, one demo worker: `run_args` and `stop` are extra arguments of
/// the demo worker's `run` and `stop` commands (`stop: None` leaves the stop command out).
fn schedule(f: &Site, run_args: &[&str], stop: Option<&[&str]>, grace: &str) -> Schedule {
    let list = |items: Vec<String>| format!("[{}]", items.join(", "));
    let mut run = vec![
        q(&worker_exe()),
        "run".into(),
        "--name".into(),
        q(&f.tag),
        "--pidfile".into(),
        "worker.pid".into(),
    ];
    run.extend(run_args.iter().map(|a| q(a)));
    let stop_yaml = match stop {
        Some(extra) => {
            let mut cmd = vec![
                q(&worker_exe()),
                "stop".into(),
                "--pidfile".into(),
                "worker.pid".into(),
            ];
            cmd.extend(extra.iter().map(|a| q(a)));
            format!("      command: {}\n", list(cmd))
        }
        None => String::new(),
    };
    let yaml = format!(
        "timezone: UTC\nqueries:\n  - name: q\n    at: [\"06:00\"]\nworkers:\n  - name: w\n    match: {{image: pacs-demo-worker, args_contain: \"--name {tag}\"}}\n    pidfile: worker.pid\n    stop:\n{stop_yaml}      grace: {grace}\n    start:\n      command: {run}\n      log: worker out.log\n    ready:\n      command: [{worker}, ping, --pidfile, worker.pid]\n      timeout: 40s\n",
        tag = f.tag,
        run = list(run),
        worker = q(&worker_exe()),
    );
    let path = f.config();
    std::fs::write(&path, yaml).unwrap();
    pacs_warden::shell::schedule::load(&path).unwrap()
}

async fn run(s: &Schedule) -> Outcome {
    let store = Store::new(s.state_dir());
    restart(s, &s.workers[0], &store, &SystemClock).await
}

/// A first restart that must succeed (the worker is not running yet): its summary says why not.
async fn started(s: &Schedule) {
    let out = run(s).await;
    assert!(out.ok(), "{}", out.summary());
}

fn assert_all_gone(pids: &[u32]) {
    for &pid in pids {
        assert!(identify(pid).is_none(), "process {pid} is still running");
    }
}

#[tokio::test(flavor = "current_thread")]
async fn a_worker_that_obeys_is_restarted_as_soon_as_it_exits_not_after_grace() {
    let f = Site::new("obey");
    // Celery-like stop command: blocks 10 s and exits 69 even though the worker stopped.
    let s = schedule(
        &f,
        &["--children", "2"],
        Some(&["--block", "10s", "--exit-code", "69"]),
        "30s",
    );
    let first = run(&s).await;
    assert!(first.ok(), "{}", first.summary());
    assert_eq!(first.stopped, Some(Stopped::NotRunning));
    let old = f.live_pids();
    assert_eq!(old.len(), 3, "worker and two children: {old:?}");

    let second = run(&s).await;
    assert!(second.ok(), "{}", second.summary());
    match &second.stopped {
        Some(Stopped::Exited { pids, after }) => {
            let mut pids = pids.clone();
            pids.sort();
            let mut want = old.clone();
            want.sort();
            assert_eq!(pids, want);
            // The worker exits within a poll or two of the request; grace is 30 s and the stop
            // command blocks 10 s. The bound is loose for a loaded 2-core machine.
            assert!(*after < Duration::from_secs(5), "took {after:?}");
        }
        other => panic!("expected the worker to exit by itself: {other:?}"),
    }
    let stop_to_start = second.stop_to_start.unwrap();
    assert!(
        stop_to_start < Duration::from_secs(5),
        "stop → start took {stop_to_start:?}"
    );
    assert_all_gone(&old);
    let new = second.started.unwrap();
    assert!(identify(new.pid).is_some());
    assert_eq!(
        std::fs::read_to_string(pidfile(&f)).unwrap().trim(),
        new.pid.to_string()
    );
}

#[tokio::test(flavor = "current_thread")]
async fn a_worker_that_ignores_the_stop_request_is_killed_after_grace_with_its_children() {
    let f = Site::new("ignore");
    let s = schedule(&f, &["--children", "2", "--ignore-stop"], Some(&[]), "1s");
    started(&s).await;
    let old = f.live_pids();
    assert_eq!(old.len(), 3, "{old:?}");

    let t0 = Instant::now();
    let out = run(&s).await;
    assert!(out.ok(), "{}", out.summary());
    assert!(
        t0.elapsed() >= Duration::from_secs(1),
        "grace was not waited out"
    );
    match &out.stopped {
        Some(Stopped::Killed { killed, .. }) => assert_eq!(killed.len(), 3, "{killed:?}"),
        other => panic!("expected a kill: {other:?}"),
    }
    assert_all_gone(&old);
    // The killed worker left its pid file behind (like SIGKILLed Celery); the new worker could
    // only start because the stale file was removed.
    let new = out.started.unwrap();
    assert_eq!(
        std::fs::read_to_string(pidfile(&f)).unwrap().trim(),
        new.pid.to_string()
    );
    assert_eq!(f.live_pids().len(), 3);
}

#[tokio::test(flavor = "current_thread")]
async fn a_stale_pid_file_with_a_dead_pid_is_removed() {
    let f = Site::new("stale");
    let s = schedule(&f, &[], Some(&[]), "5s");
    // A PID that certainly belonged to a process that has exited.
    let mut gone = Command::new(WORKER).arg("--bogus").spawn().unwrap();
    let dead_pid = gone.id();
    gone.wait().unwrap();
    std::fs::write(pidfile(&f), format!("{dead_pid}\n")).unwrap();
    let out = run(&s).await;
    assert!(out.ok(), "{}", out.summary());
    assert_eq!(
        std::fs::read_to_string(pidfile(&f)).unwrap().trim(),
        out.started.unwrap().pid.to_string()
    );
}

#[tokio::test(flavor = "current_thread")]
async fn a_pid_file_naming_an_unrelated_live_process_leaves_that_process_alive() {
    let f = Site::new("reused");
    let s = schedule(&f, &[], Some(&[]), "2s");
    // An unrelated process holds the PID in the pid file (as after PID reuse).
    let mut bystander = Command::new(WORKER)
        .args(["child", "--name", "bystander"])
        .spawn()
        .unwrap();
    std::fs::write(pidfile(&f), format!("{}\n", bystander.id())).unwrap();
    let out = run(&s).await;
    assert!(out.ok(), "{}", out.summary());
    assert_eq!(out.stopped, Some(Stopped::NotRunning));
    assert!(
        bystander.try_wait().unwrap().is_none(),
        "the unrelated process was killed"
    );
    assert!(identify(bystander.id()).is_some());
    // The pid file now names the new worker (the demo worker, like Celery, refuses to start
    // while its pid file names a live process).
    assert_eq!(
        std::fs::read_to_string(pidfile(&f)).unwrap().trim(),
        out.started.unwrap().pid.to_string()
    );
    bystander.kill().unwrap();
    bystander.wait().unwrap();
}

#[tokio::test(flavor = "current_thread")]
async fn a_failing_stop_command_still_leads_to_a_clean_restart() {
    let f = Site::new("badstop");
    let s = schedule(
        &f,
        &["--children", "1"],
        Some(&["--exit-code", "3", "--no-such-flag"]),
        "1s",
    );
    started(&s).await;
    let old = f.live_pids();
    // The stop command fails before asking anything (the demo worker refuses the unknown
    // flag and exits 2): the worker is killed after grace.
    let out = run(&s).await;
    assert!(out.ok(), "{}", out.summary());
    assert!(
        matches!(out.stopped, Some(Stopped::Killed { .. })),
        "{:?}",
        out.stopped
    );
    assert_all_gone(&old);
    assert_eq!(f.live_pids().len(), 2);

    // A stop command that cannot even be started behaves the same.
    let mut yaml = std::fs::read_to_string(f.path("schedule.yaml")).unwrap();
    yaml = yaml.replacen(
        &format!("command: ['{}', stop", worker_exe()),
        "command: ['/nonexistent/celery', stop",
        1,
    );
    std::fs::write(f.path("schedule.yaml"), yaml).unwrap();
    let s = pacs_warden::shell::schedule::load(&f.path("schedule.yaml")).unwrap();
    let old = f.live_pids();
    let out = run(&s).await;
    assert!(out.ok(), "{}", out.summary());
    assert_all_gone(&old);
}

#[tokio::test(flavor = "current_thread")]
async fn a_worker_that_never_becomes_ready_fails_the_sequence() {
    let f = Site::new("notready");
    let s = schedule(&f, &["--ready-after", "1h"], Some(&[]), "2s");
    let mut s = s;
    s.workers[0].ready.as_mut().unwrap().timeout = Duration::from_secs(2);
    let out = run(&s).await;
    assert!(!out.ok());
    let msg = out.summary();
    assert!(msg.contains("did not become ready within 2s"), "{msg}");
}

/// A planned restart finds the worker ahead of its instant (`prepare`) and sends the stop
/// request at the instant (`dispatch`): a process of the worker started in between is found by
/// the scan that follows the stop request, and stopped too (here killed after grace: it has
/// its own pid file, so the stop command does not reach it).
#[tokio::test(flavor = "current_thread")]
async fn a_prepared_restart_also_stops_a_worker_process_started_after_the_early_scan() {
    let f = Site::new("late");
    let s = schedule(&f, &[], Some(&[]), "1s");
    started(&s).await;
    let first = f.live_pids();
    assert_eq!(first.len(), 1, "{first:?}");

    let store = Store::new(s.state_dir());
    let prepared = prepare(&s, &s.workers[0], &store)
        .await
        .expect("no other sequence holds the lock");
    let mut late = Command::new(worker_exe())
        .args(["run", "--name", &f.tag, "--pidfile"])
        .arg(f.path("late.pid"))
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    eventually("the late process to run", || {
        f.live_pids().contains(&late.id())
    });

    let early = prepared.dispatch(&s, &s.workers[0], &store);
    let out = restart_dispatched(&s, &s.workers[0], &store, &SystemClock, Some(early)).await;
    // Killed already if the sequence found it; if not, the assertions below say so.
    let _ = late.kill();
    let _ = late.wait();
    assert!(out.ok(), "{}", out.summary());
    match &out.stopped {
        Some(Stopped::Killed { exited, killed }) => {
            assert_eq!(exited, &first, "{}", out.summary());
            assert_eq!(killed, &[late.id()], "{}", out.summary());
        }
        other => panic!("expected the late process to be killed after grace: {other:?}"),
    }
    assert_all_gone(&first);
    assert_eq!(f.live_pids(), [out.started.unwrap().pid]);
}

/// At the instant, the processes found ahead of time are checked again: one that has exited
/// meanwhile is not asked to stop (nor killed), and the sequence goes on as for a worker that
/// is not running.
#[tokio::test(flavor = "current_thread")]
async fn a_prepared_restart_checks_again_that_the_processes_found_still_run() {
    let f = Site::new("gone");
    let s = schedule(&f, &[], Some(&[]), "5s");
    started(&s).await;
    let first = f.live_pids();
    assert_eq!(first.len(), 1, "{first:?}");

    let store = Store::new(s.state_dir());
    let prepared = prepare(&s, &s.workers[0], &store)
        .await
        .expect("no other sequence holds the lock");
    // The worker stops by itself after the early scan.
    let stop = Command::new(worker_exe())
        .args(["stop", "--pidfile"])
        .arg(pidfile(&f))
        .status()
        .unwrap();
    assert!(stop.success());
    eventually("the worker to exit", || f.live_pids().is_empty());

    let early = prepared.dispatch(&s, &s.workers[0], &store);
    let out = restart_dispatched(&s, &s.workers[0], &store, &SystemClock, Some(early)).await;
    assert!(out.ok(), "{}", out.summary());
    assert_eq!(out.stopped, Some(Stopped::NotRunning), "{}", out.summary());
    assert_eq!(f.live_pids(), [out.started.unwrap().pid]);
}

/// A prepared sequence holds the worker's lock from its preparation on: a second preparation
/// is refused, and a `restart` requested meanwhile waits for it and is satisfied by it.
#[tokio::test(flavor = "current_thread")]
async fn a_prepared_restart_holds_the_workers_lock_and_a_manual_restart_merges_into_it() {
    let f = Site::new("held");
    let s = schedule(&f, &[], Some(&[]), "5s");
    started(&s).await;
    let store = Store::new(s.state_dir());
    let prepared = prepare(&s, &s.workers[0], &store)
        .await
        .expect("no other sequence holds the lock");
    assert!(
        prepare(&s, &s.workers[0], &store).await.is_none(),
        "prepared twice"
    );

    let mut manual = Warden::at(&f.config()).spawn(&["restart"]);
    let (waits, reader) = watch_stderr(&mut manual, "another restart of this worker is running");
    assert!(
        waits.recv_timeout(PATIENCE).is_ok(),
        "the manual restart did not wait for the prepared one"
    );

    let early = prepared.dispatch(&s, &s.workers[0], &store);
    let out = restart_dispatched(&s, &s.workers[0], &store, &SystemClock, Some(early)).await;
    assert!(out.ok(), "{}", out.summary());
    let manual = manual.wait_with_output().unwrap();
    let stderr = reader.join().unwrap();
    assert_eq!(manual.status.code(), Some(0), "{stderr}");
    let stdout = String::from_utf8_lossy(&manual.stdout);
    assert!(
        stdout.contains("satisfied by a concurrent restart"),
        "{stdout}\n{stderr}"
    );
    assert_eq!(f.live_pids(), [out.started.unwrap().pid]);
}

#[test]
fn a_missing_start_command_is_a_clear_error() {
    let f = Site::new("nostart");
    let path = f.path("schedule.yaml");
    std::fs::write(
        &path,
        "timezone: UTC\nqueries:\n  - name: q\n    at: [\"06:00\"]\nworkers:\n  - name: w\n    match: {image: celery}\n    start:\n      log: x.log\n",
    )
    .unwrap();
    let out = Warden::at(&path).run(&["restart"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(":9:7: workers[0].start.command: `command` is required"),
        "{err}"
    );
    // An empty command and a command written as one string are refused too.
    std::fs::write(
        &path,
        "timezone: UTC\nqueries:\n  - name: q\n    at: [\"06:00\"]\nworkers:\n  - name: w\n    match: {image: celery}\n    start:\n      command: []\n  - name: v\n    match: {image: celery}\n    start:\n      command: celery worker -n v\n",
    )
    .unwrap();
    let out = Warden::at(&path).run(&["check"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(":9:16: workers[0].start.command: the command is empty"),
        "{err}"
    );
    assert!(
        err.contains(":13:16: workers[1].start.command: expected a list of arguments"),
        "{err}"
    );
}

#[test]
fn restart_command_exit_status_and_unknown_workers() {
    let f = Site::new("cli");
    let _ = schedule(&f, &[], Some(&[]), "2s");
    let path = f.path("schedule.yaml");
    let out = Warden::at(&path).run(&["restart", "nosuch"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr)
        .contains("no worker named `nosuch`; workers defined: w"));

    let out = Warden::at(&path).run(&["restart", "--dry-run"]);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("not running: nothing to stop"), "{text}");
    assert!(f.live_pids().is_empty(), "a dry run started something");

    let out = Warden::at(&path).run(&["restart", "w"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let pids = f.live_pids();
    assert_eq!(pids.len(), 1);
    let out = Warden::at(&path).run(&["restart", "--dry-run"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains(&format!("found pid {}", pids[0])), "{text}");
    assert_eq!(f.live_pids(), pids, "a dry run touched the worker");
}

#[test]
fn two_concurrent_restarts_do_not_overlap() {
    let f = Site::new("concurrent");
    // A slow stop (the worker takes 1.5 s to finish its "task") makes the overlap window wide.
    let _ = schedule(&f, &["--stop-delay", "1500ms"], Some(&[]), "10s");
    let path = f.path("schedule.yaml");
    assert_eq!(Warden::at(&path).run(&["restart"]).status.code(), Some(0));
    // The second starts once the first holds the worker's lock (it is stopping the worker).
    let mut a = Warden::at(&path).spawn(&["restart"]);
    let (stopping, a_stderr) = watch_stderr(&mut a, "running the stop command");
    assert!(
        stopping.recv_timeout(PATIENCE).is_ok(),
        "the first restart did not run the stop command"
    );
    let b = Warden::at(&path).spawn(&["restart"]);
    let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    let a_stderr = a_stderr.join().unwrap();
    assert_eq!(a.status.code(), Some(0), "{a_stderr}");
    assert_eq!(
        b.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&b.stderr)
    );
    let b_out = String::from_utf8_lossy(&b.stdout);
    assert!(
        b_out.contains("satisfied by a concurrent restart"),
        "the second request should wait for the first and be satisfied by it: {b_out}"
    );
    assert!(
        String::from_utf8_lossy(&b.stderr).contains("another restart of this worker is running"),
        "{}",
        String::from_utf8_lossy(&b.stderr)
    );
    // Exactly one worker runs afterwards.
    eventually("one worker", || f.live_pids().len() == 1);
}

/// The demo worker takes its children with it: killed outright (SIGKILL; TerminateProcess on
/// Windows), with no chance to stop them itself, its children are gone within seconds by the
/// OS's account — so stopping the demo never leaves processes behind.
#[test]
fn the_demo_workers_children_die_when_it_is_killed() {
    let f = Site::new("with-parent");
    let mut worker = Command::new(worker_exe())
        .args(["run", "--name", &f.tag, "--children", "2", "--pidfile"])
        .arg(pidfile(&f))
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    eventually("the worker and its two children", || {
        f.live_pids().len() == 3
    });
    let children: Vec<u32> = f
        .live_pids()
        .into_iter()
        .filter(|&p| p != worker.id())
        .collect();
    assert_eq!(children.len(), 2, "{children:?}");
    worker.kill().unwrap();
    worker.wait().unwrap();
    wait_until(
        "the children to be gone within 5 s of their worker",
        Duration::from_secs(5),
        || children.iter().all(|&p| identify(p).is_none()),
    );
}

/// The names of the rotated files of `base` in the site's folder, sorted.
fn rotated(f: &Site, base: &str) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(f.path("."))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(&format!("{base}.")))
        .collect();
    names.sort();
    names
}

#[tokio::test(flavor = "current_thread")]
async fn a_worker_log_over_max_size_is_rotated_between_stop_and_start_keeping_keep() {
    let f = Site::new("logcap");
    schedule(&f, &[], Some(&[]), "30s");
    let text = std::fs::read_to_string(f.config()).unwrap().replace(
        "      log: worker out.log\n",
        "      log: {file: worker out.log, max_size: 1KB, keep: 2}\n",
    );
    std::fs::write(f.config(), text).unwrap();
    let s = pacs_warden::shell::schedule::load(&f.config()).unwrap();
    let first = run(&s).await;
    assert!(first.ok(), "{}", first.summary());
    let old = first.started.unwrap().pid;
    // Two rotated files of earlier days, and the running worker's log grown past 1KB.
    let log = f.path("worker out.log");
    std::fs::write(f.path("worker out.log.2020-01-01"), "oldest\n").unwrap();
    std::fs::write(f.path("worker out.log.2020-01-02"), "older\n").unwrap();
    let mut out = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
    std::io::Write::write_all(&mut out, "filler line\n".repeat(100).as_bytes()).unwrap();
    drop(out);

    let second = run(&s).await;
    assert!(second.ok(), "{}", second.summary());
    let new = second.started.unwrap().pid;
    // The file at the name holds the new worker's output only.
    let current = std::fs::read_to_string(&log).unwrap();
    assert!(current.contains(&format!("pid {new} serving")), "{current}");
    assert!(
        !current.contains("filler") && !current.contains("stopped"),
        "{current}"
    );
    // The rotated file holds everything the old worker wrote, up to its last line after the
    // stop request: it was renamed after the stop and before the start.
    let names = rotated(&f, "worker out.log");
    assert_eq!(names.len(), 2, "keep: 2 — {names:?}");
    assert_eq!(
        names[0], "worker out.log.2020-01-02",
        "the oldest deleted: {names:?}"
    );
    let old_out = std::fs::read_to_string(f.path(&names[1])).unwrap();
    assert!(old_out.contains(&format!("pid {old} serving")), "{old_out}");
    assert!(old_out.contains("filler line"), "{old_out}");
    assert!(old_out.contains(": stopped\n"), "{old_out}");
    assert!(
        !old_out.contains(&format!("pid {new} serving")),
        "{old_out}"
    );

    // Under its limit: left alone by the next restart.
    let third = run(&s).await;
    assert!(third.ok(), "{}", third.summary());
    assert_eq!(rotated(&f, "worker out.log"), names);
    assert!(std::fs::read_to_string(&log)
        .unwrap()
        .contains(&format!("pid {new} serving")));
}
