//! Benchmark of the daemon (`pacs-warden run`), printing figures; asserts nothing.
//!
//! 1. Idle cost over 60 s with a real schedule whose next restart is hours away: resident
//!    memory, CPU time, and wake-ups (context switches of all its threads). Then the same over
//!    5 minutes with a running worker checked for hangs and memory (`ready.every: 5m`,
//!    `max_memory: 2GB` read every minute by default).
//! 2. Lateness of restarts: a `--dry-run` daemon with a restart every second for 110 s; each
//!    "restart due" line carries how late the timer fired (`late_ms`).
//!
//! 3. Dispatch latency: a real daemon restarts a demo worker every 3 s; its stop command is a
//!    tiny C program (compiled here with `cc`, static when possible) whose first instruction
//!    reads CLOCK_REALTIME and appends it to a file. Each reading is compared with its planned
//!    instant (a multiple of 3 s), as is the time stamp of the daemon's "running the stop
//!    command" log line.
//!
//! Linux only (reads /proc). Run: `cargo bench --bench daemon` (about 4 minutes), or one part:
//! `cargo bench --bench daemon -- idle` / `-- lateness` / `-- dispatch`.
//! `PACS_WARDEN_BENCH_BIN=path` measures another build's binary.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The daemon measured: this build's, or `PACS_WARDEN_BENCH_BIN` (to measure another build,
/// say main's before a change, the same way on the same machine).
fn warden() -> std::ffi::OsString {
    std::env::var_os("PACS_WARDEN_BENCH_BIN")
        .unwrap_or_else(|| env!("CARGO_BIN_EXE_pacs-warden").into())
}
const WORKER: &str = env!("CARGO_BIN_EXE_pacs-demo-worker");

fn proc_status(pid: u32, key: &str) -> u64 {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    text.lines()
        .find(|l| l.starts_with(key))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// utime + stime in clock ticks.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

/// Voluntary + involuntary context switches of every thread.
fn switches(pid: u32) -> (u64, usize) {
    let mut total = 0;
    let mut threads = 0;
    for entry in std::fs::read_dir(format!("/proc/{pid}/task")).unwrap() {
        let tid: u32 = entry
            .unwrap()
            .file_name()
            .to_string_lossy()
            .parse()
            .unwrap();
        let text =
            std::fs::read_to_string(format!("/proc/{pid}/task/{tid}/status")).unwrap_or_default();
        for key in ["voluntary_ctxt_switches:", "nonvoluntary_ctxt_switches:"] {
            total += text
                .lines()
                .find(|l| l.starts_with(key))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0);
        }
        threads += 1;
    }
    (total, threads)
}

fn schedule(dir: &std::path::Path, cron: &str, extra: &str) -> std::path::PathBuf {
    let path = dir.join("bench.yaml");
    std::fs::write(
        &path,
        format!(
            "timezone: Europe/London\n{extra}queries:\n  - name: ct-weekday\n    cron: \"{cron}\"\n  - name: dx-daily\n    at: [\"07:00\"]\nworkers:\n  - name: w\n    match: {{image: pacs-demo-worker, args_contain: \"--name bench-{run}\"}}\n    pidfile: w.pid\n    stop:\n      command: ['{WORKER}', stop, --pidfile, w.pid]\n    start:\n      command: ['{WORKER}', run, --name, bench-{run}, --pidfile, w.pid]\n",
            run = std::process::id()
        ),
    )
    .unwrap();
    path
}

fn idle() {
    let dir = tempfile::tempdir().unwrap();
    // Restarts hours away; no boot restart, so nothing but the daemon itself runs.
    let path = schedule(dir.path(), "30 6 * * 1-5", "restart_at_boot: false\n");
    idle_over(&path, "idle daemon", Duration::from_secs(60));

    // The same with a worker that runs (started at boot) and is checked while idle.
    let checked = std::fs::read_to_string(&path)
        .unwrap()
        .replace("restart_at_boot: false\n", "")
        + &format!(
            "    ready:\n      command: ['{WORKER}', ping, --pidfile, w.pid]\n      every: 5m\n    max_memory: 2GB\n"
        );
    std::fs::write(&path, checked).unwrap();
    idle_over(
        &path,
        "idle daemon with a worker checked (ready.every: 5m, max_memory: 2GB every 1m)",
        Duration::from_secs(300),
    );
    // The worker outlives the daemon by design: stop it, here and now (one left running would
    // match the next run's worker, whose boot restart would then stop it inside the window
    // measured: that put 60 wake-ups a minute into this figure). Its name is this run's.
    let tag = format!("--name bench-{}", std::process::id());
    for p in pacs_warden::sys::process::Snapshot::take().processes {
        if p.cmdline_text().contains(&tag) {
            let _ = pacs_warden::sys::os::kill_verified(p.id);
        }
    }
}

fn idle_over(path: &std::path::Path, what: &str, window: Duration) {
    let mut child = Command::new(warden())
        .args(["run", "--config"])
        .arg(path)
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id();
    std::thread::sleep(Duration::from_secs(5));
    let (cpu0, (sw0, threads), t0) = (cpu_ticks(pid), switches(pid), Instant::now());
    std::thread::sleep(window);
    let (cpu1, (sw1, _)) = (cpu_ticks(pid), switches(pid));
    let minutes = t0.elapsed().as_secs_f64() / 60.0;
    let rss = proc_status(pid, "VmRSS:");
    let hwm = proc_status(pid, "VmHWM:");
    let tick_ms = 1000.0 / 100.0; // USER_HZ is 100 on Linux
    println!("{what} over {:.0} s ({threads} threads):", minutes * 60.0);
    println!(
        "  RSS:        {:.1} MB (peak {:.1} MB)   target <= 4 MB",
        rss as f64 / 1024.0,
        hwm as f64 / 1024.0
    );
    println!(
        "  CPU time:   {:.0} ms ({:.1} ms per minute)",
        (cpu1 - cpu0) as f64 * tick_ms,
        (cpu1 - cpu0) as f64 * tick_ms / minutes
    );
    println!(
        "  wake-ups:   {:.1} per minute (context switches, all threads)   target <= 2",
        (sw1 - sw0) as f64 / minutes
    );
    let _ = child.kill();
    let _ = child.wait();
}

fn lateness() {
    let dir = tempfile::tempdir().unwrap();
    let path = schedule(
        dir.path(),
        "* * * * * *",
        "lead: 0\nmerge_within: 0\nrestart_at_boot: false\n",
    );
    let mut child = Command::new(warden())
        .args(["run", "--dry-run", "--config"])
        .arg(&path)
        .env("RUST_LOG", "info")
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let mut late: Vec<f64> = Vec::new();
    let t0 = Instant::now();
    for line in BufReader::new(stderr).lines().map_while(Result::ok) {
        if let Some(v) = line.split("late_ms=").nth(1) {
            late.push(v.split_whitespace().next().unwrap().parse().unwrap());
        }
        if late.len() >= 110 || t0.elapsed() > Duration::from_secs(150) {
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    // The first event may be partial (the daemon started mid-second): drop it.
    let mut late = late.split_off(1.min(late.len()));
    late.sort_by(f64::total_cmp);
    let pct = |p: f64| late[((late.len() as f64 - 1.0) * p).round() as usize];
    println!(
        "lateness of {} restarts (every second, --dry-run):",
        late.len()
    );
    println!(
        "  median {:.2} ms, p99 {:.2} ms, max {:.2} ms   target p99 <= 10 ms",
        pct(0.5),
        pct(0.99),
        late[late.len() - 1]
    );
}

/// The stop command of `dispatch`: its first act is to read the wall clock; then it appends
/// the reading to argv[1] and asks the demo worker to stop (writes argv[2], `PIDFILE.stop`).
const STAMP_C: &str = r#"
#include <stdio.h>
#include <time.h>
int main(int argc, char **argv) {
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    if (argc < 3) return 2;
    FILE *f = fopen(argv[1], "a");
    if (!f) return 1;
    fprintf(f, "%lld.%09ld\n", (long long)t.tv_sec, t.tv_nsec);
    fclose(f);
    f = fopen(argv[2], "w");
    if (!f) return 1;
    fputs("stop\n", f);
    fclose(f);
    return 0;
}
"#;

/// Restarts in the dispatch part, and their period (the cron's seconds step).
const DISPATCH_RESTARTS: usize = 30;
const DISPATCH_PERIOD: u64 = 3;

fn compile_stamp(dir: &std::path::Path) -> std::path::PathBuf {
    let src = dir.join("stamp.c");
    let exe = dir.join("stamp");
    std::fs::write(&src, STAMP_C).unwrap();
    for extra in [&["-static"][..], &[][..]] {
        let ok = Command::new("cc")
            .args(["-O2", "-o"])
            .arg(&exe)
            .arg(&src)
            .args(extra)
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if ok {
            return exe;
        }
    }
    panic!("cannot compile the stop command: is `cc` installed?");
}

/// Seconds since the Unix epoch of an RFC 3339 time stamp at the start of a log line.
fn log_time(line: &str) -> Option<f64> {
    let stamp = line.split_whitespace().next()?;
    let t = chrono::DateTime::parse_from_rfc3339(stamp).ok()?;
    Some(t.timestamp() as f64 + f64::from(t.timestamp_subsec_nanos()) / 1e9)
}

/// How late each of `times` is after its planned instant, the multiple of `DISPATCH_PERIOD`
/// at or before it, in ms; sorted.
fn after_instant(times: &[f64]) -> Vec<f64> {
    let period = DISPATCH_PERIOD as f64;
    let mut late: Vec<f64> = times
        .iter()
        .map(|t| (t - (t / period).floor() * period) * 1e3)
        .collect();
    late.sort_by(f64::total_cmp);
    late
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn dispatch() {
    let dir = tempfile::tempdir().unwrap();
    let stamp = compile_stamp(dir.path());
    let stamps = dir.path().join("stamps.txt");
    let tag = format!("dispatch-bench-{}", std::process::id());
    let path = dir.path().join("bench.yaml");
    std::fs::write(
        &path,
        format!(
            "timezone: UTC\nlead: 0\nmerge_within: 0\nqueries:\n  - name: q\n    cron: \"*/{DISPATCH_PERIOD} * * * * *\"\nworkers:\n  - name: w\n    match: {{image: pacs-demo-worker, args_contain: \"--name {tag}\"}}\n    pidfile: w.pid\n    stop:\n      command: ['{}', '{}', '{}']\n      grace: 2s\n    start:\n      command: ['{WORKER}', run, --name, {tag}, --pidfile, w.pid]\n      log: w.log\n",
            stamp.display(),
            stamps.display(),
            dir.path().join("w.pid.stop").display(),
        ),
    )
    .unwrap();
    let mut child = Command::new(warden())
        .args(["run", "--config"])
        .arg(&path)
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let logged = std::thread::spawn(move || {
        let mut times = Vec::new();
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if line.contains("running the stop command") {
                times.extend(log_time(&line));
            }
        }
        times
    });
    let t0 = Instant::now();
    let read_stamps = || -> Vec<f64> {
        std::fs::read_to_string(&stamps)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.parse().ok())
            .collect()
    };
    let limit = Duration::from_secs(DISPATCH_PERIOD * DISPATCH_RESTARTS as u64 + 30);
    while read_stamps().len() < DISPATCH_RESTARTS && t0.elapsed() < limit {
        std::thread::sleep(Duration::from_millis(200));
    }
    let _ = child.kill();
    let _ = child.wait();
    let logged = logged.join().unwrap();
    // The worker outlives the daemon by design: stop it.
    for p in pacs_warden::sys::process::Snapshot::take().processes {
        if p.cmdline_text().contains(&tag) {
            let _ = pacs_warden::sys::os::kill_verified(p.id);
        }
    }
    let late = after_instant(&read_stamps());
    let logged = after_instant(&logged);
    if late.is_empty() {
        println!("dispatch: no stop command ran (see the daemon's log)");
        return;
    }
    println!(
        "dispatch latency over {} planned restarts (compiled stop command, every {DISPATCH_PERIOD} s):",
        late.len()
    );
    println!(
        "  planned instant -> stop command's first instruction: median {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms   target p99 <= 2 ms",
        pct(&late, 0.5),
        pct(&late, 0.9),
        pct(&late, 0.99),
        late[late.len() - 1]
    );
    if !logged.is_empty() {
        println!(
            "  planned instant -> \"running the stop command\" log line: median {:.2} ms, p99 {:.2} ms",
            pct(&logged, 0.5),
            pct(&logged, 0.99)
        );
    }
}

/// `cargo bench --bench daemon [idle|lateness|dispatch]`: every part by default.
fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--list") {
        return;
    }
    let wants = |part: &str| {
        !args
            .iter()
            .any(|a| a == "idle" || a == "lateness" || a == "dispatch")
            || args.iter().any(|a| a == part)
    };
    if wants("idle") {
        idle();
    }
    if wants("lateness") {
        lateness();
    }
    if wants("dispatch") {
        dispatch();
    }
}
