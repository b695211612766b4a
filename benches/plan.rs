//! Benchmark: `plan` for 1,000 queries over one year. Prints figures; asserts nothing.
//!
//! Run with `cargo bench --bench plan`: first the library steps (parse, plan, render) in this
//! process, then the whole command, `pacs-warden plan --until … [--json]` on the same file,
//! from process start to exit with its output read through a pipe. Targets: the library path
//! under 100 ms (issue 2), the whole `plan --json` command under 60 ms (issue 11), on a 2-core
//! machine. `cargo bench --bench plan -- --write FILE` only writes the schedule file, to run
//! the command by hand; `PACS_WARDEN_BENCH_BIN=path` times another build's binary.

use chrono::{DateTime, TimeDelta, Utc};
use pacs_warden::core::config::validate;
use pacs_warden::core::plan::restarts;
use pacs_warden::core::report::{plan_table, write_plan_json};
use std::fmt::Write as _;
use std::io::Read as _;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// 1,000 queries: a mix of weekday crons, daily `at` lists and weekly ones, spread over the day.
fn schedule_yaml() -> String {
    let mut y = String::from("timezone: Europe/London\nlead: 15m\nqueries:\n");
    for i in 0..1000u32 {
        let (h, m) = ((i * 7) % 24, (i * 13) % 60);
        match i % 3 {
            0 => writeln!(y, "  - name: q{i}\n    cron: \"{m} {h} * * 1-5\"").unwrap(),
            1 => writeln!(
                y,
                "  - name: q{i}\n    at: [\"{h:02}:{m:02}\", \"{:02}:{m:02}:30\"]",
                (h + 12) % 24
            )
            .unwrap(),
            _ => writeln!(
                y,
                "  - name: q{i}\n    at: [\"{h:02}:{m:02}\"]\n    days: [mon, thu]"
            )
            .unwrap(),
        }
    }
    y
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// The binary the whole-command figures run: this build's, or `PACS_WARDEN_BENCH_BIN` (to
/// measure another build, say main's, the same way).
fn binary() -> std::ffi::OsString {
    std::env::var_os("PACS_WARDEN_BENCH_BIN")
        .unwrap_or_else(|| env!("CARGO_BIN_EXE_pacs-warden").into())
}

/// CPU time (user + system) used so far by this process's waited-for children.
#[cfg(unix)]
fn children_cpu() -> Duration {
    // SAFETY: getrusage only writes the struct it is given.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage);
        usage
    };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

#[cfg(not(unix))]
fn children_cpu() -> Duration {
    Duration::ZERO
}

/// Runs the release binary `runs` times with `args`: the median time from spawn to exit (its
/// whole output read), the median CPU time it used, and the output's size.
fn whole_command(args: &[&str], runs: usize) -> (Duration, Duration, usize) {
    let mut times = Vec::new();
    let mut cpu = Vec::new();
    let mut size = 0;
    let mut output = Vec::new();
    for _ in 0..runs {
        output.clear();
        let cpu_before = children_cpu();
        let t = Instant::now();
        let mut child = Command::new(binary())
            .args(args)
            .stdout(Stdio::piped())
            .spawn()
            .expect("start pacs-warden");
        child
            .stdout
            .take()
            .expect("piped")
            .read_to_end(&mut output)
            .expect("read the plan");
        let status = child.wait().expect("wait for pacs-warden");
        times.push(t.elapsed());
        cpu.push(children_cpu() - cpu_before);
        assert!(status.success(), "pacs-warden {args:?}: {status}");
        size = output.len();
    }
    (median(times), median(cpu), size)
}

fn main() {
    let yaml = schedule_yaml();
    let from: DateTime<Utc> = "2026-01-01T00:00:00Z".parse().unwrap();
    let until = from + TimeDelta::days(365);
    let runs = 11;
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Some(i) = args.iter().position(|a| a == "--write") {
        let path = args.get(i + 1).expect("--write FILE");
        std::fs::write(path, &yaml).expect("write the schedule");
        println!(
            "wrote {path}: pacs-warden plan -c {path} --from {} --until {} --json",
            from.to_rfc3339(),
            until.to_rfc3339()
        );
        return;
    }

    let mut parse_times = Vec::new();
    let mut plan_times = Vec::new();
    let mut table_times = Vec::new();
    let mut json_times = Vec::new();
    let mut restarts_count = 0;
    let mut fires_count = 0;
    for _ in 0..runs {
        let t = Instant::now();
        let schedule = validate(&yaml, || None).expect("valid");
        parse_times.push(t.elapsed());

        let t = Instant::now();
        let planned: Vec<_> = restarts(&schedule, from)
            .take_while(|r| r.at < until)
            .collect();
        plan_times.push(t.elapsed());
        let t = Instant::now();
        std::hint::black_box(plan_table(&schedule, &planned, from));
        table_times.push(t.elapsed());

        let t = Instant::now();
        let mut json = std::io::BufWriter::with_capacity(1 << 16, std::io::sink());
        write_plan_json(&mut json, &schedule, &planned).unwrap();
        drop(json);
        json_times.push(t.elapsed());

        restarts_count = planned.len();
        fires_count = planned.iter().map(|r| r.fires.len()).sum();
    }
    let (parse, plan) = (median(parse_times), median(plan_times));
    println!("plan: 1000 queries over 365 days from {from}");
    println!("  restarts: {restarts_count}, query runs served: {fires_count}");
    println!(
        "  parse + validate: {:>8.2} ms (median of {runs})",
        parse.as_secs_f64() * 1e3
    );
    println!(
        "  plan one year:    {:>8.2} ms (median of {runs})",
        plan.as_secs_f64() * 1e3
    );
    println!(
        "  total:            {:>8.2} ms (target < 100 ms)",
        (parse + plan).as_secs_f64() * 1e3
    );
    let ms = |v: Vec<Duration>| median(v).as_secs_f64() * 1e3;
    println!(
        "  render table:     {:>8.2} ms (median of {runs})",
        ms(table_times)
    );
    println!(
        "  render JSON:      {:>8.2} ms (median of {runs})",
        ms(json_times)
    );

    // The whole command, as a user runs it.
    let dir = std::env::temp_dir().join(format!("pacs-warden-bench-plan-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let file = dir.join("bench.yaml");
    std::fs::write(&file, &yaml).expect("write the schedule");
    let (from_arg, until_arg) = (from.to_rfc3339(), until.to_rfc3339());
    let base = [
        "plan",
        "-c",
        file.to_str().expect("UTF-8 temp path"),
        "--from",
        &from_arg,
        "--until",
        &until_arg,
    ];
    let runs = 21;
    let json_args: Vec<&str> = base.iter().copied().chain(["--json"]).collect();
    let (json, json_cpu, json_size) = whole_command(&json_args, runs);
    let (table, table_cpu, table_size) = whole_command(&base, runs);
    println!(
        "whole command ({}), process start to exit, output read through a pipe (median of {runs}):",
        binary().to_string_lossy()
    );
    println!(
        "  plan --json:      {:>8.2} ms, CPU {:>6.2} ms ({:.1} MB; target < 60 ms)",
        json.as_secs_f64() * 1e3,
        json_cpu.as_secs_f64() * 1e3,
        json_size as f64 / 1e6
    );
    println!(
        "  plan (table):     {:>8.2} ms, CPU {:>6.2} ms ({:.1} MB)",
        table.as_secs_f64() * 1e3,
        table_cpu.as_secs_f64() * 1e3,
        table_size as f64 / 1e6
    );
    let _ = std::fs::remove_dir_all(&dir);
}
