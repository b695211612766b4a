//! Benchmark of the daemon (`pacs-warden run`), printing figures; asserts nothing.
//!
//! 1. Idle cost over 60 s with a real schedule whose next restart is hours away: resident
//!    memory, CPU time, and wake-ups (context switches of all its threads).
//! 2. Lateness of restarts: a `--dry-run` daemon with a restart every second for 110 s; each
//!    "restart due" line carries how late the timer fired (`late_ms`).
//!
//! Linux only (reads /proc). Run: `cargo bench --bench daemon` (about 3 minutes), or one part:
//! `cargo bench --bench daemon -- idle` / `-- lateness`.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const WARDEN: &str = env!("CARGO_BIN_EXE_pacs-warden");
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
            "timezone: Europe/London\n{extra}queries:\n  - name: ct-weekday\n    cron: \"{cron}\"\n  - name: dx-daily\n    at: [\"07:00\"]\nworkers:\n  - name: w\n    match: {{image: pacs-demo-worker, args_contain: \"--name bench\"}}\n    pidfile: w.pid\n    stop:\n      command: ['{WORKER}', stop, --pidfile, w.pid]\n    start:\n      command: ['{WORKER}', run, --name, bench, --pidfile, w.pid]\n"
        ),
    )
    .unwrap();
    path
}

fn idle() {
    let dir = tempfile::tempdir().unwrap();
    // Restarts hours away; no boot restart, so nothing but the daemon itself runs.
    let path = schedule(dir.path(), "30 6 * * 1-5", "restart_at_boot: false\n");
    let mut child = Command::new(WARDEN)
        .args(["run", "--config"])
        .arg(&path)
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id();
    std::thread::sleep(Duration::from_secs(5));
    let (cpu0, (sw0, threads), t0) = (cpu_ticks(pid), switches(pid), Instant::now());
    std::thread::sleep(Duration::from_secs(60));
    let (cpu1, (sw1, _)) = (cpu_ticks(pid), switches(pid));
    let minutes = t0.elapsed().as_secs_f64() / 60.0;
    let rss = proc_status(pid, "VmRSS:");
    let hwm = proc_status(pid, "VmHWM:");
    let tick_ms = 1000.0 / 100.0; // USER_HZ is 100 on Linux
    println!(
        "idle daemon over {:.0} s ({threads} threads):",
        minutes * 60.0
    );
    println!(
        "  RSS:        {:.1} MB (peak {:.1} MB)   target <= 4 MB",
        rss as f64 / 1024.0,
        hwm as f64 / 1024.0
    );
    println!("  CPU time:   {:.0} ms", (cpu1 - cpu0) as f64 * tick_ms);
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
    let mut child = Command::new(WARDEN)
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

/// `cargo bench --bench daemon [idle|lateness]`: both parts by default.
fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--list") {
        return;
    }
    let wants = |part: &str| {
        !args.iter().any(|a| a == "idle" || a == "lateness") || args.iter().any(|a| a == part)
    };
    if wants("idle") {
        idle();
    }
    if wants("lateness") {
        lateness();
    }
}
