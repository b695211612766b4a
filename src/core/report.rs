//! How plans and summaries are shown: a table for people, JSON for scripts.
//!
//! Owns: formatting only. Takes computed restarts and a schedule; decides nothing.

use crate::core::config::Schedule;
use crate::core::plan::Restart;
use chrono::{
    DateTime, Datelike, NaiveDate, Offset, SecondsFormat, TimeDelta, TimeZone, Timelike, Utc,
};
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
fn fire_label(
    schedule: &Schedule,
    restart_day: NaiveDate,
    fire: &crate::core::plan::Fire,
) -> String {
    let at = fire.at.with_timezone(&schedule.timezone);
    let query = &schedule.queries[fire.query];
    let name = crate::core::text::escape(&query.name);
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
            // A service worker with its service: `huey (service openrem-huey)`.
            let workers: Vec<String> = r
                .workers(schedule)
                .iter()
                .map(|&i| {
                    let w = &schedule.workers[i];
                    match w.service() {
                        Some(service) => format!("{} (service {service})", w.name),
                        None => w.name.clone(),
                    }
                })
                .collect();
            [
                local_time(schedule, r.at),
                human_span(r.at - from),
                if workers.is_empty() {
                    "-".into()
                } else {
                    crate::core::text::escape(&workers.join(",")).into_owned()
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

/// Writes the `plan --json` array to `out`: the bytes `serde_json::to_writer_pretty` writes for
/// `[{restart_at, queries: [{name, at, runs, argv?}], workers}]` (`argv`, the command of that
/// run with its dates expanded, for a query pacs-warden runs) (a test holds the two together), but
/// written straight from the restarts, with names escaped once and instants formatted without
/// strftime: `plan --json` over a year writes some 40 MB.
pub fn write_plan_json<R: std::borrow::Borrow<Restart>>(
    mut out: impl std::io::Write,
    schedule: &Schedule,
    restarts: impl IntoIterator<Item = R>,
) -> std::io::Result<()> {
    let json_string = |s: &str| serde_json::to_string(s).expect("a string serializes");
    // The text of `"argv": [...]` items, one `\n          "arg"` each, comma first.
    let argv_items = |args: &mut dyn Iterator<Item = &str>| -> String {
        args.map(|a| format!(",\n          {}", json_string(a)))
            .collect::<String>()
    };
    const RUNS_NOT: &str = "\",\n        \"runs\": false\n      }";
    const ARGV_HEAD: &str = "\",\n        \"runs\": true,\n        \"argv\": [";
    const ARGV_TAIL: &str = "\n        ]\n      }";
    // Each query's entry around its instant, comma first (dropped for the first entry), and
    // what follows the instant: fixed text, or a command whose dates are the run's.
    let query_parts: Vec<(String, Tail<'_>)> = schedule
        .queries
        .iter()
        .map(|q| {
            let head = format!(
                ",\n      {{\n        \"name\": {},\n        \"at\": \"",
                json_string(&q.name)
            );
            let tail = match &q.run {
                None => Tail::Fixed(RUNS_NOT.to_string()),
                Some(run) if run.has_placeholders() => Tail::Dated(run),
                Some(run) => Tail::Fixed(format!(
                    "{ARGV_HEAD}{}{ARGV_TAIL}",
                    &argv_items(&mut run.args.iter().map(|t| t.literal().unwrap_or_default()))[1..]
                )),
            };
            (head, tail)
        })
        .collect();
    let worker_names: Vec<String> = schedule
        .workers
        .iter()
        .map(|w| format!(",\n      {}", json_string(&w.name)))
        .collect();
    let mut clock = LocalClock::new(schedule);
    // Items are gathered here and written in blocks of about 64 KiB.
    let mut text: Vec<u8> = Vec::with_capacity(1 << 17);
    let mut first = true;
    for restart in restarts {
        let restart = restart.borrow();
        text.extend_from_slice(if first { "[\n  {\n" } else { ",\n  {\n" }.as_bytes());
        first = false;
        text.extend_from_slice(b"    \"restart_at\": \"");
        clock.push_rfc3339(&mut text, restart.at);
        text.extend_from_slice(b"\",\n    \"queries\": [");
        for (i, fire) in restart.fires.iter().enumerate() {
            let (head, tail) = &query_parts[fire.query];
            text.extend_from_slice(&head.as_bytes()[usize::from(i == 0)..]);
            clock.push_rfc3339(&mut text, fire.at);
            match tail {
                Tail::Fixed(t) => text.extend_from_slice(t.as_bytes()),
                Tail::Dated(run) => {
                    text.extend_from_slice(ARGV_HEAD.as_bytes());
                    let argv = run.argv_at(fire.at, schedule.timezone);
                    let items = argv_items(&mut argv.iter().map(String::as_str));
                    text.extend_from_slice(&items.as_bytes()[1..]);
                    text.extend_from_slice(ARGV_TAIL.as_bytes());
                }
            }
        }
        text.extend_from_slice(
            if restart.fires.is_empty() {
                "],\n"
            } else {
                "\n    ],\n"
            }
            .as_bytes(),
        );
        text.extend_from_slice(b"    \"workers\": [");
        let workers = restart.workers(schedule);
        for (i, &w) in workers.iter().enumerate() {
            text.extend_from_slice(&worker_names[w].as_bytes()[usize::from(i == 0)..]);
        }
        text.extend_from_slice(
            if workers.is_empty() {
                "]\n  }"
            } else {
                "\n    ]\n  }"
            }
            .as_bytes(),
        );
        if text.len() >= 1 << 16 {
            out.write_all(&text)?;
            text.clear();
        }
    }
    text.extend_from_slice(if first { "[]" } else { "\n]" }.as_bytes());
    out.write_all(&text)
}

/// What follows a query run's instant in `plan --json`.
enum Tail<'a> {
    /// The same for every run.
    Fixed(String),
    /// `"argv"` with the dates of each run.
    Dated(&'a crate::core::config::QueryRun),
}

/// Instants as RFC 3339 in the schedule's zone (`2026-03-29T02:30:00+01:00`), the text of
/// `to_rfc3339_opts(SecondsFormat::Secs, false)`. Remembers the offset of the last UTC day and
/// the text of the last local date it saw, so the zone's tables and the calendar are read about
/// once a day rather than once an instant.
struct LocalClock<'a> {
    schedule: &'a Schedule,
    /// (UTC day number, offset in seconds) when that whole UTC day has one offset.
    offset_day: Option<(i64, i32)>,
    /// (local day number, `YYYY-MM-DD`).
    date: Option<(i64, [u8; 10])>,
    /// The last instant written, in seconds since the epoch, and its text: a restart's queries
    /// often share an instant.
    last: Option<(i64, [u8; 25])>,
}

impl<'a> LocalClock<'a> {
    fn new(schedule: &'a Schedule) -> Self {
        LocalClock {
            schedule,
            offset_day: None,
            date: None,
            last: None,
        }
    }

    fn offset(&mut self, at: DateTime<Utc>, secs: i64) -> i32 {
        let day = secs.div_euclid(86_400);
        if let Some((cached, offset)) = self.offset_day {
            if cached == day {
                return offset;
            }
        }
        let tz = &self.schedule.timezone;
        let offset_of = |t: DateTime<Utc>| tz.offset_from_utc_datetime(&t.naive_utc()).fix();
        let exact = offset_of(at).local_minus_utc();
        // Zones change offset at most once a day: equal offsets at both ends mean none between.
        let same_at = |secs: i64| {
            DateTime::from_timestamp(secs, 0)
                .is_some_and(|t| offset_of(t).local_minus_utc() == exact)
        };
        self.offset_day =
            (same_at(day * 86_400) && same_at(day * 86_400 + 86_399)).then_some((day, exact));
        exact
    }

    fn push_rfc3339(&mut self, out: &mut Vec<u8>, at: DateTime<Utc>) {
        let secs = at.timestamp();
        if let Some((last, text)) = &self.last {
            if *last == secs {
                out.extend_from_slice(text);
                return;
            }
        }
        let offset = self.offset(at, secs);
        let local = secs + i64::from(offset);
        let (day, of_day) = (local.div_euclid(86_400), local.rem_euclid(86_400) as u32);
        let date = match self.date {
            Some((cached, text)) if cached == day => Some(text),
            _ => {
                let text = DateTime::from_timestamp(day * 86_400, 0)
                    .map(|t| t.date_naive())
                    .filter(|d| (0..=9999).contains(&d.year()))
                    .map(|d| {
                        let mut text = [0u8; 10];
                        let year = d.year() as u32;
                        digits(&mut text[0..2], year / 100);
                        digits(&mut text[2..4], year % 100);
                        text[4] = b'-';
                        digits(&mut text[5..7], d.month());
                        text[7] = b'-';
                        digits(&mut text[8..10], d.day());
                        text
                    });
                self.date = text.map(|text| (day, text));
                text
            }
        };
        let (Some(date), 0) = (date, offset % 60) else {
            // Offsets with seconds (before 1900) and far years: chrono knows the details.
            out.extend_from_slice(rfc3339(self.schedule, at).as_bytes());
            return;
        };
        let mut text = *b"YYYY-MM-DDT00:00:00+00:00";
        text[..10].copy_from_slice(&date);
        digits(&mut text[11..13], of_day / 3600);
        digits(&mut text[14..16], of_day / 60 % 60);
        digits(&mut text[17..19], of_day % 60);
        if offset < 0 {
            text[19] = b'-';
        }
        let minutes = offset.unsigned_abs() / 60;
        digits(&mut text[20..22], minutes / 60);
        digits(&mut text[23..25], minutes % 60);
        out.extend_from_slice(&text);
        self.last = Some((secs, text));
    }
}

/// Writes `n` (below 100) as two digits.
fn digits(out: &mut [u8], n: u32) {
    out[0] = b'0' + (n / 10) as u8;
    out[1] = b'0' + (n % 10) as u8;
}

/// `at` in the schedule's zone as RFC 3339 to the second, with its offset
/// (`2026-03-29T06:15:00+02:00`): the form `--json` output and `status` use for instants.
pub fn rfc3339(schedule: &Schedule, at: DateTime<Utc>) -> String {
    at.with_timezone(&schedule.timezone)
        .to_rfc3339_opts(SecondsFormat::Secs, false)
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
        crate::core::config::ZoneSource::File => schedule.timezone.name().to_string(),
        crate::core::config::ZoneSource::Machine(how) => {
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
        crate::core::text::escape(&names.join(", "))
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
            format!(": {}", crate::core::text::escape(&workers.join(", ")))
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

    /// `plan --json` as it was first written: serde structs through `to_writer_pretty`.
    fn reference_json(schedule: &Schedule, restarts: &[Restart]) -> String {
        #[derive(serde::Serialize)]
        struct JsonRestart<'a> {
            restart_at: String,
            queries: Vec<JsonQuery<'a>>,
            workers: Vec<&'a str>,
        }
        #[derive(serde::Serialize)]
        struct JsonQuery<'a> {
            name: &'a str,
            at: String,
            runs: bool,
            #[serde(skip_serializing_if = "Option::is_none")]
            argv: Option<Vec<String>>,
        }
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
                        argv: schedule.queries[f.query]
                            .run
                            .as_ref()
                            .map(|r| r.argv_at(f.at, schedule.timezone)),
                    })
                    .collect(),
                workers: schedule.worker_names(&r.workers(schedule)),
            })
            .collect();
        serde_json::to_string_pretty(&items).unwrap()
    }

    fn written_json(schedule: &Schedule, restarts: &[Restart]) -> String {
        let mut out = Vec::new();
        write_plan_json(&mut out, schedule, restarts).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn plan_json_is_what_serde_json_writes() {
        let worker = |name: &str| {
            format!(
                "  - name: {name}\n    match: {{image: w}}\n    stop: {{command: [stop]}}\n    start: {{command: [start]}}\n"
            )
        };
        for zone in [
            "America/St_Johns",
            "Europe/London",
            "Australia/Lord_Howe",
            "Asia/Kolkata",
            "UTC",
        ] {
            let yaml = format!(
                "timezone: {zone}\nlead: 20m\nmerge_within: 0s\nqueries:\n  - name: \"a \\\"quoted\\\" q\\u00e9ry\"\n    cron: \"*/20 1-3 * * *\"\n    workers: [\"w\\\\1\", w2]\n  - name: b\n    at: [\"02:10:30\"]\n    command: [echo, hi, \"{{date-1d:%Y%m%d}}\", \"{{{{x}}}}\", \"a\\\"b {{time}}\"]\n    workers: [w2]\n  - name: c\n    at: [\"02:10:30\"]\n  - name: d\n    at: [\"02:10:30\"]\n    command: [echo, \"{{{{lit}}}}\"]\nworkers:\n{}{}",
                worker("\"w\\\\1\""),
                worker("w2"),
            );
            let schedule = crate::core::config::validate(&yaml, || None)
                .unwrap_or_else(|p| panic!("{p:?}\n{yaml}"));
            let from: DateTime<Utc> = "2026-01-01T00:00:00Z".parse().unwrap();
            let until = from + TimeDelta::days(800);
            let mut restarts: Vec<Restart> = crate::core::plan::restarts(&schedule, from)
                .take_while(|r| r.at < until)
                .collect();
            assert!(restarts.iter().any(|r| r.fires.len() > 1), "{zone}");
            // Local mean time (offsets with seconds) and a restart serving nothing.
            let old: DateTime<Utc> = "1850-06-01T12:00:00Z".parse().unwrap();
            restarts.push(Restart {
                at: old,
                fires: vec![crate::core::plan::Fire { at: old, query: 0 }],
            });
            restarts.push(Restart {
                at: until,
                fires: Vec::new(),
            });
            assert_eq!(
                written_json(&schedule, &restarts),
                reference_json(&schedule, &restarts),
                "{zone}"
            );
            assert_eq!(written_json(&schedule, &[]), reference_json(&schedule, &[]));
        }
    }

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
