//! Benchmark: `plan` for 1,000 queries over one year. Prints figures; asserts nothing.
//!
//! Run with `cargo bench --bench plan`. Target (issue 2): under 100 ms on a 2-core machine.

use chrono::{DateTime, TimeDelta, Utc};
use pacs_warden::config::validate;
use pacs_warden::plan::restarts;
use pacs_warden::report::{plan_table, write_plan_json};
use std::fmt::Write as _;
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

fn main() {
    let yaml = schedule_yaml();
    let from: DateTime<Utc> = "2026-01-01T00:00:00Z".parse().unwrap();
    let until = from + TimeDelta::days(365);
    let runs = 11;

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
        write_plan_json(std::io::sink(), &schedule, &planned).unwrap();
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
}
