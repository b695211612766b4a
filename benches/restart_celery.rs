//! Benchmark: restarting a real idle Celery worker (`-P solo`, redis broker), pacs-warden's
//! sequence against the seed's batch file translated to Linux. Prints figures; asserts nothing.
//!
//! Run with `cargo bench --bench restart_celery` (needs what `scripts/test` installs; takes
//! about 2.5 minutes, most of it the batch file's fixed waits). Target (issue 3): the worker's
//! own exit time + at most 0.1 s, against the batch file's ~21 s.
//!
//! - pacs-warden: `sequence::restart` called as a library; `Outcome::stop_to_start` is from
//!   the stop command's start to the new worker's start, `Stopped::Exited::after` is when the
//!   old worker's processes were all gone.
//! - batch file: `control shutdown --timeout=10`, `sleep 10`, `pkill -9 -f` (blind, by
//!   pattern, like `TASKKILL /IM /F`), `rm -f default.pid`, start the worker detached; timed
//!   from the script's start to the new worker's start (the script's end). While it runs, the
//!   bench polls the old worker's PIDs: that gives the worker's own exit time after
//!   `control shutdown`, measured independently of pacs-warden.

#[path = "../tests/celery/support.rs"]
mod support;

use pacs_warden::shell::sequence::{restart, Stopped};
use pacs_warden::shell::state::Store;
use pacs_warden::sys::clock::SystemClock;
use pacs_warden::sys::process::{is_running, ProcId};
use std::fs::File;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use support::{stats, World};

const ROUNDS: usize = 5;

/// The seed's batch file, line by line, on Linux. Everything is written into the script (the
/// blind `pkill -f` would kill the script itself if the worker's arguments were on its command
/// line, as it did in this benchmark's first version).
fn batch_script(world: &World) -> String {
    let q = |s: &str| format!("'{}'", s.replace('\'', r"'\''"));
    let start: Vec<String> = world.start_command().iter().map(|a| q(a)).collect();
    format!(
        r#"#!/usr/bin/env bash
# The seed's Windows batch file translated to Linux (no error handling, like the original).
cd {app_dir}
t0=$EPOCHREALTIME
{celery} -A e2e_app control shutdown --timeout=10 >/dev/null 2>&1   # control shutdown --timeout=10
echo "stop $? $t0 $EPOCHREALTIME"
sleep 10                                                             # TIMEOUT /T 10
pkill -9 -f -- {pattern}                                             # TASKKILL /IM /F celery.exe
rm -f {pidfile}                                                      # del default.pid
setsid {start} >>{log} 2>&1 </dev/null &                             # start the worker
echo "started $!"
"#,
        app_dir = q(&world.tools.app_dir.to_string_lossy()),
        celery = q(&world.tools.celery.to_string_lossy()),
        pattern = q(&format!("-n {}", world.node)),
        pidfile = q(&world.pidfile().to_string_lossy()),
        start = start.join(" "),
        log = q(&world.path("default.stdout.log").to_string_lossy()),
    )
}

fn line(label: &str, v: &[Duration]) {
    if v.is_empty() {
        println!("  {label:<58} (no samples)");
        return;
    }
    let (median, min, max) = stats(v);
    println!("  {label:<58} {median:>7.3} s   {min:>7.3} s   {max:>7.3} s");
}

fn version(cmd: &mut Command) -> String {
    cmd.output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|e| format!("? ({e})"))
}

fn main() {
    let began = Instant::now();
    let world = World::new("30s");
    let schedule = pacs_warden::shell::schedule::load(&world.schedule_path)
        .expect("the generated schedule is valid");
    let worker = &schedule.workers[0];
    let store = Store::new(schedule.state_dir());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let sequence = || rt.block_on(restart(&schedule, worker, &store, &SystemClock));

    let celery = version(Command::new(&world.tools.celery).arg("--version"));
    let redis = version(Command::new(&world.tools.redis_server).arg("--version"));
    println!(
        "restart_celery: idle Celery worker (celery {celery}, -P solo) on a private {}",
        redis.split(" sha=").next().unwrap_or(&redis)
    );
    println!("{ROUNDS} rounds each; the machine has 2 cores and is shared\n");

    // Start the worker (not measured).
    let first = sequence();
    assert!(first.ok(), "first start: {}", first.summary());

    // (a) pacs-warden's sequence.
    let (mut exit, mut stop_to_start, mut overhead, mut whole) = (vec![], vec![], vec![], vec![]);
    for round in 1..=ROUNDS {
        let out = sequence();
        assert!(out.ok(), "round {round}: {}", out.summary());
        let Some(Stopped::Exited { after, .. }) = out.stopped else {
            panic!(
                "round {round}: the worker did not exit by itself: {}",
                out.summary()
            );
        };
        let s2s = out.stop_to_start.expect("started");
        exit.push(after);
        stop_to_start.push(s2s);
        overhead.push(s2s.saturating_sub(after));
        whole.push(out.elapsed);
        eprintln!(
            "pacs-warden round {round}: {} ({:.2} s)",
            out.summary(),
            out.elapsed.as_secs_f64()
        );
    }

    // (b) the batch file.
    let script = world.path("restart-like-the-batch-file.sh");
    std::fs::write(&script, batch_script(&world)).unwrap();
    let (mut batch, mut own_exit, mut stop_cmd) = (vec![], vec![], vec![]);
    let mut stop_codes = Vec::new();
    for round in 1..=ROUNDS {
        let old: Vec<ProcId> = world.worker_tree().iter().map(|p| p.id).collect();
        assert!(!old.is_empty(), "round {round}: no worker running");
        let out_path = world.path("batch.out");
        let t0 = Instant::now();
        let mut child = Command::new("bash")
            .arg(&script)
            .envs(world.env())
            .stdin(Stdio::null())
            .stdout(File::create(&out_path).unwrap())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("bash");
        let mut gone_at = None;
        let took = loop {
            if gone_at.is_none() && !old.iter().any(|id| is_running(*id)) {
                gone_at = Some(t0.elapsed());
            }
            if child.try_wait().unwrap().is_some() {
                break t0.elapsed();
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        let printed = std::fs::read_to_string(&out_path).unwrap();
        let stop: Vec<&str> = printed
            .lines()
            .find_map(|l| l.strip_prefix("stop "))
            .map(|l| l.split(' ').collect())
            .unwrap_or_default();
        if let [code, from, to] = stop[..] {
            stop_codes.push(code.to_string());
            let secs = |t: &str| t.replace(',', ".").parse::<f64>().unwrap_or(f64::NAN);
            stop_cmd.push(Duration::from_secs_f64((secs(to) - secs(from)).max(0.0)));
        }
        batch.push(took);
        match gone_at {
            Some(g) => own_exit.push(g),
            None => eprintln!("batch round {round}: the old worker was still running at the kill"),
        }
        eprintln!(
            "batch round {round}: {:.2} s; old worker gone after {}; script printed {:?}",
            took.as_secs_f64(),
            gone_at.map_or("-".into(), |g| format!("{:.2} s", g.as_secs_f64())),
            printed.trim()
        );
        world.wait_ready(Duration::from_secs(60));
    }

    println!("  {:<58} {:>9}   {:>9}   {:>9}", "", "median", "min", "max");
    println!("pacs-warden (sequence::restart, stop command = control shutdown --timeout=10):");
    line(
        "stop command → new worker started (stop_to_start)",
        &stop_to_start,
    );
    line(
        "  of which: old worker exited (Stopped::Exited.after)",
        &exit,
    );
    line(
        "  after pacs-warden saw the exit: stop_to_start − exited",
        &overhead,
    );
    line("whole sequence incl. settle 0.5 s and ready ping", &whole);
    println!("batch file translated to Linux:");
    line("script start → new worker started", &batch);
    line("  control shutdown --timeout=10 itself", &stop_cmd);
    println!("  control shutdown exit codes: {}", stop_codes.join(", "));
    println!("the worker's own exit time (polled by the bench during the batch rounds):");
    line(
        "control shutdown sent → every worker process gone",
        &own_exit,
    );

    if own_exit.is_empty() {
        println!("\nno exit time measured: the worker never exited by itself");
        return;
    }
    let (pw, _, _) = stats(&stop_to_start);
    let (ex, _, _) = stats(&own_exit);
    let (bf, _, _) = stats(&batch);
    // `Exited.after` is when pacs-warden saw the exit (it polls every 25 ms), so the bench's own
    // measurement of the exit is the fairer base for "exit time + at most 0.1 s".
    let extra = pw - ex;
    println!(
        "\ntarget: worker exit time + at most 0.1 s (about 1.3 s for an idle Celery worker), \
         against the batch file's ~21 s:\n  pacs-warden stop → start {pw:.2} s = the worker's \
         own exit time {ex:.2} s {extra:+.3} s ({}; medians of different rounds); batch file \
         {bf:.2} s, {:.0}x as long",
        if extra <= 0.1 { "met" } else { "NOT met" },
        bf / pw
    );
    println!("(benchmark took {:.0} s)", began.elapsed().as_secs_f64());
}
