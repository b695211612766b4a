//! End to end on the real thing: the `pacs-warden` binary restarts a REAL Celery worker
//! (`-P solo`, `tests/celery/e2e_app.py`) on a REAL redis-server, with the seed's Celery stop
//! command — `celery control shutdown --timeout=10`, which blocks its full 10 s and exits 69
//! although an idle worker is gone after about a second and a half.
//!
//! The schedule is `schedules/openrem-linux.yaml` as shipped — its worker's start, `stop`,
//! `ready` and `match` — with only paths, the app, the broker and the node name substituted
//! (`World::shipped_linux_schedule`), so the example an admin copies is the one tested.
//!
//! Checked: the first restart starts the worker; the second stops it without waiting for the
//! stop command (its processes exit in far less than 10 s), every old process is gone
//! according to the OS, and the new worker answers `inspect ping` and runs a task sent after
//! the restart.
//!
//! Needs `target/e2e-venv/bin/celery` and `redis-server` on PATH: `scripts/test` installs them.
//! Without them this test fails (it never skips).
//!
//! Unix only. In the Windows run under Wine (`scripts/test-windows`) there is no redis-server
//! nor a Windows Python with Celery, and Celery has not supported Windows since 4.x; the
//! Windows side of what this test covers (the `celery.exe` launcher + `python.exe` child seen
//! as one worker tree, stop and kill through verified handles) is tested with the demo worker
//! in `sequence.rs` and `windows.rs`.

use crate::celery::{run, Ran, World};
use crate::harness::Warden;
use pacs_warden::sys::process::{identify, Snapshot};
use std::time::{Duration, Instant};

/// `pacs-warden restart --config FILE` (killed after 2 minutes).
fn restart(world: &World) -> Ran {
    run(
        Warden::at(&world.schedule_path).command(&["restart"]),
        Duration::from_secs(120),
    )
}

/// The summary line of a restart that stopped a running worker:
/// `default: [PIDS] exited after N ms; started pid M (X s)`.
#[derive(Debug)]
struct Summary {
    exited: Vec<u32>,
    exited_after: Duration,
    started: u32,
}

fn parse_summary(stdout: &str) -> Option<Summary> {
    let line = stdout.lines().find(|l| l.starts_with("default: "))?;
    let rest = line.strip_prefix("default: [")?;
    let (pids, rest) = rest.split_once(']')?;
    let rest = rest.strip_prefix(" exited after ")?;
    let (ms, rest) = rest.split_once(" ms; started pid ")?;
    let (started, _) = rest.split_once(' ')?;
    Some(Summary {
        exited: pids
            .split(',')
            .map(|p| p.trim().parse().ok())
            .collect::<Option<_>>()?,
        exited_after: Duration::from_secs_f64(ms.parse::<f64>().ok()? / 1e3),
        started: started.parse().ok()?,
    })
}

fn pidfile_pid(world: &World) -> u32 {
    let text = std::fs::read_to_string(world.pidfile()).expect("the worker's pid file");
    text.trim().parse().expect("a PID in the pid file")
}

fn sorted(mut v: Vec<u32>) -> Vec<u32> {
    v.sort_unstable();
    v
}

#[test]
fn a_real_celery_worker_is_restarted_as_soon_as_it_exits_and_serves_tasks_again() {
    let t0 = Instant::now();
    let world = World::new("20s");
    // The worker section an admin copies: the shipped Linux example, paths substituted.
    world.write_schedule(&world.shipped_linux_schedule());

    // 1. Nothing runs yet: the first restart starts the worker and waits until it answers ping.
    let first = restart(&world);
    assert!(first.ok(), "first restart: {first}");
    assert!(
        first
            .stdout
            .contains("default: was not running; started pid "),
        "{first}"
    );
    let old_pid = pidfile_pid(&world);
    assert!(
        first.stdout.contains(&format!("started pid {old_pid} ")),
        "the pid file names another process than the one started: {old_pid}; {first}"
    );
    let old_tree = world.worker_tree();
    let old: Vec<u32> = old_tree.iter().map(|p| p.id.pid).collect();
    let root = old_tree
        .iter()
        .find(|p| p.id.pid == old_pid)
        .unwrap_or_else(|| panic!("pid {old_pid} of the pid file is not running"));
    // `match: {image: celery}` rests on this: a venv's celery runs as `python …/bin/celery`,
    // and its Linux comm is `celery`.
    assert_eq!(root.name, "celery", "comm of the worker: {root:?}");
    for p in world.tagged() {
        assert!(
            old.contains(&p.id.pid),
            "worker process {} is outside the pid file's tree {old:?}",
            p.id.pid
        );
    }
    // The setup works before anything is restarted.
    let before = world.add(1, 1, Duration::from_secs(20));
    assert!(
        before.ok() && before.stdout.trim() == "2",
        "task before the restart: {before}"
    );

    // 2. The restart under test.
    let second = restart(&world);
    assert!(second.ok(), "second restart: {second}");
    let summary = parse_summary(&second.stdout)
        .unwrap_or_else(|| panic!("the worker should have exited by itself: {second}"));
    assert_eq!(
        sorted(summary.exited.clone()),
        sorted(old.clone()),
        "{second}"
    );
    // The stop command blocks 10 s; the worker exits in ~1.3 s. Generous for 2 noisy cores.
    assert!(
        summary.exited_after < Duration::from_secs(8),
        "stop → exit took {:?}: pacs-warden waited for the stop command? {second}",
        summary.exited_after
    );

    // 3. The old processes are gone according to the OS.
    for &pid in &old {
        assert!(
            identify(pid).is_none(),
            "old worker process {pid} is still running"
        );
    }

    // 4. The new worker: in the pid file, not an old PID, answers ping, runs a new task.
    let new_pid = pidfile_pid(&world);
    assert_eq!(new_pid, summary.started, "{second}");
    assert!(!old.contains(&new_pid));
    let snap = Snapshot::take();
    let new_root = snap.get(new_pid).expect("the new worker runs");
    assert!(
        new_root
            .cmdline_text()
            .contains(&format!("-n {}", world.node)),
        "{new_root:?}"
    );
    let ping = world.ping();
    assert!(ping.ok(), "ping after the restart: {ping}");
    assert!(ping.stdout.contains(&world.node), "{ping}");
    let task = world.add(2, 3, Duration::from_secs(20));
    assert!(task.ok(), "task sent after the restart: {task}");
    assert_eq!(task.stdout.trim(), "5", "{task}");

    // 5. Exactly one worker runs: the new one.
    let new: Vec<u32> = world.worker_tree().iter().map(|p| p.id.pid).collect();
    let tagged: Vec<u32> = world.tagged().iter().map(|p| p.id.pid).collect();
    assert_eq!(
        sorted(tagged),
        sorted(new),
        "worker processes after the restart"
    );

    eprintln!(
        "e2e celery: first restart {:.2} s, second {:.2} s (old worker exited after {:.2} s), \
         whole test {:.1} s",
        first.took.as_secs_f64(),
        second.took.as_secs_f64(),
        summary.exited_after.as_secs_f64(),
        t0.elapsed().as_secs_f64()
    );
}

#[test]
fn the_summary_line_is_parsed() {
    let s =
        parse_summary("default: [12, 34] exited after 1320 ms; started pid 56 (3.10 s)\n").unwrap();
    assert_eq!(s.exited, [12, 34]);
    assert_eq!(s.exited_after, Duration::from_millis(1320));
    assert_eq!(s.started, 56);
    assert!(parse_summary("default: was not running; started pid 5 (1.0 s)").is_none());
}

/// The value after `flag` in `args`.
fn arg_after<'a>(args: &'a [String], flag: &str) -> Option<&'a str> {
    let i = args.iter().position(|a| a == flag)?;
    args.get(i + 1).map(String::as_str)
}

/// In each shipped Celery example the node the worker is started as (`-n NAME@HOST`: Celery
/// reads a bare `-n default` as a host name and calls the worker `celery@default`) is the
/// node its `stop` and `ready` commands address with `-d`, and the one `match` recognises.
/// (The Windows example cannot run here; this is what can be checked of it.)
#[test]
fn the_celery_examples_stop_and_ping_the_node_they_start() {
    for name in ["openrem-linux.yaml", "openrem-windows.yaml"] {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("schedules")
            .join(name);
        let schedule = pacs_warden::shell::schedule::load(&path).unwrap();
        let w = &schedule.workers[0];
        let node =
            arg_after(&w.start().unwrap().command, "-n").expect("the worker is started with -n");
        assert!(
            node.contains('@'),
            "{name}: `-n {node}`: Celery would name this worker celery@{node}"
        );
        let stop = w.stop.command.as_deref().expect("a stop command");
        assert_eq!(arg_after(stop, "-d"), Some(node), "{name}: stop {stop:?}");
        let ready = &w.ready.as_ref().expect("a ready command").command;
        assert_eq!(
            arg_after(ready, "-d"),
            Some(node),
            "{name}: ready {ready:?}"
        );
        assert_eq!(
            w.matcher().unwrap().args_contain,
            [format!("-n {node}")],
            "{name}: match"
        );
    }
}

/// `schedules/pacs-warden.service` runs pacs-warden as an unprivileged user on a schedule in
/// root-owned /etc/pacs-warden: the state directory systemd creates for that user
/// (`StateDirectory=`, under /var/lib) is the one the shipped Linux schedule names, and a
/// wrong schedule (exit status 2) is not restarted in a loop.
#[test]
fn the_systemd_unit_gives_the_linux_example_a_state_directory_it_can_write() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let unit = std::fs::read_to_string(root.join("schedules/pacs-warden.service")).unwrap();
    let values = |key: &str| -> Vec<String> {
        unit.lines()
            .filter_map(|l| l.trim().strip_prefix(key)?.strip_prefix('='))
            .map(|v| v.trim().to_string())
            .collect()
    };
    let state = values("StateDirectory");
    assert_eq!(state.len(), 1, "one StateDirectory= line: {state:?}");
    let exec = values("ExecStart");
    let config = exec[0]
        .split_once(" --config ")
        .map(|(_, c)| c.trim())
        .expect("ExecStart names --config");
    assert!(
        unit.contains(&format!("schedules/openrem-linux.yaml {config}")),
        "the header installs the Linux example as {config}"
    );
    for example in ["openrem-linux.yaml", "openrem-1.0-huey.yaml"] {
        let schedule =
            pacs_warden::shell::schedule::load(&root.join("schedules").join(example)).unwrap();
        assert_eq!(
            schedule.state_dir(),
            std::path::Path::new("/var/lib").join(&state[0]),
            "state_dir: of {example} against StateDirectory={}",
            state[0]
        );
    }
    assert_eq!(values("RestartPreventExitStatus"), ["2"]);
    assert_eq!(values("KillMode"), ["process"]);
}
