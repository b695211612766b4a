//! How plans and summaries are shown: a table for people, JSON for scripts.
//!
//! Owns: formatting only. Takes computed restarts and a schedule; decides nothing.

use crate::config::Schedule;
use crate::plan::Restart;
use chrono::{DateTime, NaiveDate, SecondsFormat, TimeDelta, Timelike, Utc};
use serde::Serialize;
use std::fmt::Write as _;

/// "2d 3h", "8h 45m", "4m 10s", "now": the two largest units of a span.
pub fn human_span(span: TimeDelta) -> String {
    let secs = span.num_seconds();
    if secs <= 0 {
        return "now".into();
    }
    let units = [(86_400, "d"), (3_600, "h"), (60, "m"), (1, "s")];
    let i = units
        .iter()
        .position(|(size, _)| secs >= *size)
        .expect("secs >= 1");
    let (size, name) = units[i];
    let mut out = format!("{}{name}", secs / size);
    if let Some((smaller, small_name)) = units.get(i + 1) {
        let rest = secs % size / smaller;
        if rest > 0 {
            let _ = write!(out, " {rest}{small_name}");
        }
    }
    out
}

/// A duration as the schedule file writes it ("15m", "1h 30m", "0s").
pub fn file_duration(d: std::time::Duration) -> String {
    if d.is_zero() {
        "0s".into()
    } else {
        humantime::format_duration(d).to_string()
    }
}

fn local_time(schedule: &Schedule, at: DateTime<Utc>) -> String {
    let local = at.with_timezone(&schedule.timezone);
    if local.second() == 0 {
        local.format("%a %Y-%m-%d %H:%M %Z").to_string()
    } else {
        local.format("%a %Y-%m-%d %H:%M:%S %Z").to_string()
    }
}

/// One query run as "name HH:MM", with the date when it is not on `restart_day` (the local
/// date of its restart). Hot in `plan --until` over a year, so no strftime here.
fn fire_label(schedule: &Schedule, restart_day: NaiveDate, fire: &crate::plan::Fire) -> String {
    let at = fire.at.with_timezone(&schedule.timezone);
    let query = &schedule.queries[fire.query];
    let name = crate::text::escape(&query.name);
    let mut out = String::with_capacity(name.len() + 20);
    out.push_str(&name);
    // `*`: pacs-warden runs this query itself (`command:`).
    if query.run.is_some() {
        out.push('*');
    }
    out.push(' ');
    if at.date_naive() != restart_day {
        let _ = write!(out, "{} ", at.format("%a %Y-%m-%d"));
    }
    let _ = write!(out, "{:02}:{:02}", at.hour(), at.minute());
    if at.second() != 0 {
        let _ = write!(out, ":{:02}", at.second());
    }
    out
}

/// The queries a restart serves, as one cell.
fn fires_cell(schedule: &Schedule, restart: &Restart) -> String {
    let day = restart.at.with_timezone(&schedule.timezone).date_naive();
    restart
        .fires
        .iter()
        .map(|f| fire_label(schedule, day, f))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The `plan` table.
pub fn plan_table(schedule: &Schedule, restarts: &[Restart], from: DateTime<Utc>) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Restarts from {} (time zone {}, lead {}, merge within {}):",
        local_time(schedule, from),
        schedule.timezone.name(),
        file_duration(schedule.lead),
        file_duration(schedule.merge_within),
    );
    if restarts.is_empty() {
        out.push_str("  none in this range\n");
        return out;
    }
    if schedule.queries.iter().any(|q| q.run.is_some()) {
        out.push_str("(queries marked * are run by pacs-warden itself)\n");
    }
    let rows: Vec<[String; 4]> = restarts
        .iter()
        .map(|r| {
            let workers = schedule.worker_names(&r.workers(schedule));
            [
                local_time(schedule, r.at),
                human_span(r.at - from),
                if workers.is_empty() {
                    "-".into()
                } else {
                    crate::text::escape(&workers.join(",")).into_owned()
                },
                fires_cell(schedule, r),
            ]
        })
        .collect();
    let header = ["RESTART AT", "IN", "WORKERS", "QUERIES"];
    let mut widths = header.map(str::len);
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut line = |cells: [&str; 4]| {
        let _ = writeln!(
            out,
            "{:<w0$}  {:<w1$}  {:<w2$}  {}",
            cells[0],
            cells[1],
            cells[2],
            cells[3],
            w0 = widths[0],
            w1 = widths[1],
            w2 = widths[2]
        );
    };
    line(header);
    for row in &rows {
        line([&row[0], &row[1], &row[2], &row[3]]);
    }
    out
}

#[derive(Serialize)]
struct JsonRestart<'a> {
    restart_at: String,
    queries: Vec<JsonQuery<'a>>,
    workers: Vec<&'a str>,
}

#[derive(Serialize)]
struct JsonQuery<'a> {
    name: &'a str,
    at: String,
    /// pacs-warden runs this query itself (`command:`).
    runs: bool,
}

fn rfc3339(schedule: &Schedule, at: DateTime<Utc>) -> String {
    at.with_timezone(&schedule.timezone)
        .to_rfc3339_opts(SecondsFormat::Secs, false)
}

/// Writes the `plan --json` array to `out`.
pub fn write_plan_json(
    out: impl std::io::Write,
    schedule: &Schedule,
    restarts: &[Restart],
) -> std::io::Result<()> {
    let items: Vec<JsonRestart<'_>> = restarts
        .iter()
        .map(|r| JsonRestart {
            restart_at: rfc3339(schedule, r.at),
            queries: r
                .fires
                .iter()
                .map(|f| JsonQuery {
                    name: &schedule.queries[f.query].name,
                    at: rfc3339(schedule, f.at),
                    runs: schedule.queries[f.query].run.is_some(),
                })
                .collect(),
            workers: schedule.worker_names(&r.workers(schedule)),
        })
        .collect();
    serde_json::to_writer_pretty(out, &items).map_err(std::io::Error::from)
}

/// The `check` summary for a valid file.
pub fn check_summary(
    path: &std::path::Path,
    schedule: &Schedule,
    next: Option<&Restart>,
    now: DateTime<Utc>,
) -> String {
    let mut out = String::new();
    let zone = match &schedule.timezone_source {
        crate::config::ZoneSource::File => schedule.timezone.name().to_string(),
        crate::config::ZoneSource::Machine(how) => {
            format!("{} (this machine's, from {how})", schedule.timezone.name())
        }
    };
    let names: Vec<&str> = schedule.queries.iter().map(|q| q.name.as_str()).collect();
    match schedule.warnings.len() {
        0 => writeln!(out, "{}: OK", path.display()),
        1 => writeln!(out, "{}: OK, with 1 warning", path.display()),
        n => writeln!(out, "{}: OK, with {n} warnings", path.display()),
    }
    .ok();
    let _ = writeln!(
        out,
        "  {} {}: {}",
        names.len(),
        if names.len() == 1 { "query" } else { "queries" },
        crate::text::escape(&names.join(", "))
    );
    let workers: Vec<&str> = schedule.workers.iter().map(|w| w.name.as_str()).collect();
    let _ = writeln!(
        out,
        "  {} {}{}",
        workers.len(),
        if workers.len() == 1 {
            "worker"
        } else {
            "workers"
        },
        if workers.is_empty() {
            String::new()
        } else {
            format!(": {}", crate::text::escape(&workers.join(", ")))
        }
    );
    let _ = writeln!(
        out,
        "  time zone {zone}, lead {}, merge within {}",
        file_duration(schedule.lead),
        file_duration(schedule.merge_within)
    );
    match next {
        Some(r) => {
            let _ = writeln!(
                out,
                "  next restart: {} (in {}) for {}",
                local_time(schedule, r.at),
                human_span(r.at - now),
                fires_cell(schedule, r)
            );
        }
        None => out.push_str("  no restart is planned\n"),
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_read_naturally() {
        let cases = [
            (0, "now"),
            (45, "45s"),
            (60, "1m"),
            (250, "4m 10s"),
            (3600, "1h"),
            (3630, "1h"),
            (31_500, "8h 45m"),
            (86_400 + 3 * 3600 + 59, "1d 3h"),
            (2 * 86_400 + 30, "2d"),
        ];
        for (secs, want) in cases {
            assert_eq!(human_span(TimeDelta::seconds(secs)), want, "{secs}");
        }
    }
}
