//! `plan --week`: the next seven days as a grid for a terminal — a row per local day, a column
//! per half hour of wall-clock time in the schedule's zone — with the zone and its clock
//! changes (DST) in those days named under it, and a legend.
//!
//! Owns: which restarts and query runs fall in the week (`restarts`) and how they are drawn
//! (`render`). Pure: the caller passes `from` and whether to colour the marks; the text reads
//! the same without colour (colour only adds escapes around the marks).
//!
//! Half hours, not hours: with the usual 15-minute lead a restart and its query (06:15 and
//! 06:30) fall in different cells, so most cells say one thing; 48 one-character cells plus the
//! day's label and counts fit in 80 columns.
//!
//! Clock changes: cells are wall-clock times. A time that does not exist that day (spring
//! forward) is drawn `-`; a time that happens twice (fall back) is one cell drawn `=`, and a
//! mark there covers both occurrences. So every row has 48 cells and the columns line up.

use crate::core::config::Schedule;
use crate::core::plan::{self, Restart};
use crate::core::report::human_span;
use crate::core::zone::instant_of;
use chrono::{
    DateTime, LocalResult, NaiveDate, NaiveDateTime, NaiveTime, Offset, TimeDelta, TimeZone,
    Timelike, Utc,
};
use chrono_tz::Tz;
use std::fmt::Write as _;

/// Rows: the day of `from` and the six after it.
pub const DAYS: usize = 7;
/// Columns: half hours of the day.
const CELLS: usize = 48;
/// Every this many cells (3 hours) an empty cell is drawn `:` and the header names the hour.
const GUIDE: usize = 6;

/// The first local day of the week that starts at `from`, and the end of its seventh day.
fn window(tz: &Tz, from: DateTime<Utc>) -> (NaiveDate, DateTime<Utc>) {
    let first = from.with_timezone(tz).date_naive();
    let after = first
        .checked_add_days(chrono::Days::new(DAYS as u64))
        .unwrap_or(NaiveDate::MAX);
    (first, instant_of(tz, after.and_time(NaiveTime::MIN)))
}

/// The restarts that `render` needs for the week starting at `from`: every restart before the
/// week's end that serves a query run at or after `from` or itself is at or after `from` (a
/// query at 06:30 whose restart at 06:15 is already past still runs at 06:30).
pub fn restarts(schedule: &Schedule, from: DateTime<Utc>) -> Vec<Restart> {
    let (_, end) = window(&schedule.timezone, from);
    // A restart's queries run at most lead + merge_within after it.
    let reach = TimeDelta::from_std(schedule.lead + schedule.merge_within)
        .expect("lead and merge_within are at most a day each");
    let start = from.checked_sub_signed(reach).unwrap_or(from);
    plan::restarts(schedule, start)
        .take_while(|r| r.at < end)
        .filter(|r| r.at >= from || r.fires.iter().any(|f| f.at >= from))
        .collect()
}

/// What a cell's wall-clock time is on its day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Time {
    /// Before `from`.
    Past,
    /// Skipped by the clocks going forward.
    Missing,
    /// Passed twice, the clocks going back.
    Twice,
    Usual,
}

#[derive(Debug, Clone, Copy)]
struct Cell {
    time: Time,
    restart: bool,
    query: bool,
}

/// One day's row.
struct Row {
    date: NaiveDate,
    cells: [Cell; CELLS],
    restarts: usize,
    queries: usize,
    /// The day's length, when it is not 24 hours.
    odd_length: Option<TimeDelta>,
}

/// A change of the zone's offset inside the week.
struct Change {
    at: DateTime<Utc>,
    before: chrono::FixedOffset,
    after: chrono::FixedOffset,
}

fn offset_at(tz: &Tz, at: DateTime<Utc>) -> chrono::FixedOffset {
    tz.offset_from_utc_datetime(&at.naive_utc()).fix()
}

/// The offset changes in `[start, end)`: hourly steps, then bisection to the second (zones
/// change at most a few times a year, never twice within an hour).
fn changes(tz: &Tz, start: DateTime<Utc>, end: DateTime<Utc>) -> Vec<Change> {
    let mut found = Vec::new();
    let mut t = start;
    while t < end {
        let next = (t + TimeDelta::hours(1)).min(end);
        let before = offset_at(tz, t);
        if offset_at(tz, next) != before {
            // The change is in (t, next]: find its first second.
            let (mut lo, mut hi) = (t, next);
            while hi - lo > TimeDelta::seconds(1) {
                let mid = lo + (hi - lo) / 2;
                if offset_at(tz, mid) == before {
                    lo = mid;
                } else {
                    hi = mid;
                }
            }
            if hi < end {
                found.push(Change {
                    at: hi,
                    before,
                    after: offset_at(tz, hi),
                });
            }
        }
        t = next;
    }
    found
}

/// The cell of a local wall-clock time.
fn cell_of(local: NaiveDateTime) -> usize {
    ((local.hour() * 60 + local.minute()) / 30) as usize
}

fn build_rows(
    tz: &Tz,
    restarts: &[Restart],
    from: DateTime<Utc>,
    first: NaiveDate,
    end: DateTime<Utc>,
) -> Vec<Row> {
    let from_local = from.with_timezone(tz).naive_local();
    let mut rows: Vec<Row> = first
        .iter_days()
        .take(DAYS)
        .map(|date| {
            let mut cells = [Cell {
                time: Time::Usual,
                restart: false,
                query: false,
            }; CELLS];
            for (i, cell) in cells.iter_mut().enumerate() {
                let wall = date.and_time(NaiveTime::MIN) + TimeDelta::minutes(30 * i as i64);
                cell.time = match tz.from_local_datetime(&wall) {
                    _ if date == first && i < cell_of(from_local) => Time::Past,
                    LocalResult::None => Time::Missing,
                    LocalResult::Ambiguous(..) => Time::Twice,
                    LocalResult::Single(_) => Time::Usual,
                };
            }
            let length = date
                .succ_opt()
                .map(|next| {
                    instant_of(tz, next.and_time(NaiveTime::MIN))
                        - instant_of(tz, date.and_time(NaiveTime::MIN))
                })
                .unwrap_or(TimeDelta::days(1));
            Row {
                date,
                cells,
                restarts: 0,
                queries: 0,
                odd_length: (length != TimeDelta::days(1)).then_some(length),
            }
        })
        .collect();
    let mut mark = |at: DateTime<Utc>, restart: bool| {
        if at < from || at >= end {
            return;
        }
        let local = at.with_timezone(tz).naive_local();
        let Ok(day) = usize::try_from((local.date() - first).num_days()) else {
            return;
        };
        let Some(row) = rows.get_mut(day) else {
            return;
        };
        let cell = &mut row.cells[cell_of(local)];
        if restart {
            cell.restart = true;
            row.restarts += 1;
        } else {
            cell.query = true;
            row.queries += 1;
        }
    };
    for r in restarts {
        mark(r.at, true);
        for f in &r.fires {
            mark(f.at, false);
        }
    }
    rows
}

/// ANSI colours of the marks (SGR): restarts yellow, query runs cyan, both bold magenta, the
/// clock-change cells dim.
fn paint(out: &mut String, c: char, colour: bool) {
    let sgr = match c {
        'R' => "33",
        'Q' => "36",
        'B' => "1;35",
        '-' | '=' => "2",
        _ => "",
    };
    if colour && !sgr.is_empty() {
        let _ = write!(out, "\x1b[{sgr}m{c}\x1b[0m");
    } else {
        out.push(c);
    }
}

fn cell_char(i: usize, cell: &Cell) -> char {
    match (cell.restart, cell.query, cell.time) {
        (true, true, _) => 'B',
        (true, false, _) => 'R',
        (false, true, _) => 'Q',
        (false, false, Time::Past) => ' ',
        (false, false, Time::Missing) => '-',
        (false, false, Time::Twice) => '=',
        (false, false, Time::Usual) if i.is_multiple_of(GUIDE) => ':',
        (false, false, Time::Usual) => '.',
    }
}

/// "23h", "23h 30m": a day's length.
fn hours(length: TimeDelta) -> String {
    let minutes = length.num_minutes();
    match minutes % 60 {
        0 => format!("{}h", minutes / 60),
        m => format!("{}h {m}m", minutes / 60),
    }
}

/// A wall-clock time as seen from `day`: "01:00", "24:00" for the midnight that ends it (Chile
/// changes at 24:00 on a Saturday), else with its date.
fn wall_on(day: NaiveDate, wall: NaiveDateTime) -> String {
    if wall.date() == day {
        wall.format("%H:%M").to_string()
    } else if Some(wall.date()) == day.succ_opt() && wall.time() == NaiveTime::MIN {
        "24:00".into()
    } else {
        wall.format("%a %Y-%m-%d %H:%M").to_string()
    }
}

fn utc_offset(offset: chrono::FixedOffset) -> String {
    format!("UTC{offset}")
}

/// The grid of the week starting at `from` (the local day of `from` and the six after it), the
/// zone and its clock changes, and the legend. `restarts` as `restarts` gives them (others are
/// drawn too, when they fall in the week).
pub fn render(
    schedule: &Schedule,
    restarts: &[Restart],
    from: DateTime<Utc>,
    colour: bool,
) -> String {
    let tz = &schedule.timezone;
    let (first, end) = window(tz, from);
    let rows = build_rows(tz, restarts, from, first, end);
    let most = rows
        .iter()
        .map(|r| r.restarts.max(r.queries))
        .max()
        .unwrap_or(0);
    let w = most.to_string().len().max(2);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "The week from {} (a column per half hour):",
        from.with_timezone(tz).format("%a %Y-%m-%d %H:%M %Z")
    );
    let mut header = " ".repeat(16);
    for cell in (0..CELLS).step_by(GUIDE) {
        let _ = write!(header, "{:02}{}", cell / 2, " ".repeat(GUIDE - 2));
    }
    let _ = writeln!(out, "{header}  {:>w$} {:>w$}", "R", "Q");
    for row in &rows {
        let _ = write!(out, "{}  ", row.date.format("%a %Y-%m-%d"));
        for (i, cell) in row.cells.iter().enumerate() {
            paint(&mut out, cell_char(i, cell), colour);
        }
        let _ = write!(out, "  {:>w$} {:>w$}", row.restarts, row.queries);
        if let Some(length) = row.odd_length {
            let _ = write!(out, "  {}", hours(length));
        }
        out.push('\n');
    }
    out.push('\n');
    let start = instant_of(tz, first.and_time(NaiveTime::MIN));
    let at_start = start.with_timezone(tz);
    let changes = changes(tz, start, end);
    let _ = write!(
        out,
        "Time zone {} ({}, {})",
        tz.name(),
        at_start.format("%Z"),
        utc_offset(offset_at(tz, start)),
    );
    if changes.is_empty() {
        out.push_str(", no clock change this week.\n");
    } else {
        out.push_str(" at the start; clock changes:\n");
    }
    for change in &changes {
        let old_wall = change.at.naive_utc() + change.before;
        let new_wall = change.at.naive_utc() + change.after;
        let step = change.after.local_minus_utc() - change.before.local_minus_utc();
        let span = human_span(TimeDelta::seconds(i64::from(step.abs())));
        let forward = step > 0;
        // The day whose row shows the skipped or repeated times; the change is named on it.
        let (day, low, high) = if forward {
            (old_wall.date(), old_wall, new_wall)
        } else {
            (new_wall.date(), new_wall, old_wall)
        };
        let _ = writeln!(
            out,
            "  {} {} {} -> {} {} ({}): clocks go {} {span};",
            day.format("%a %Y-%m-%d"),
            wall_on(day, old_wall),
            (change.at - TimeDelta::seconds(1))
                .with_timezone(tz)
                .format("%Z"),
            wall_on(day, new_wall),
            change.at.with_timezone(tz).format("%Z"),
            utc_offset(change.after),
            if forward { "forward" } else { "back" },
        );
        let length = rows
            .iter()
            .find(|r| r.date == day)
            .and_then(|r| r.odd_length)
            .map(|l| format!("a {} day, ", hours(l)))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "    {length}{}-{} {}",
            wall_on(day, low),
            wall_on(day, high),
            if forward {
                "does not exist (drawn -)"
            } else {
                "happens twice (drawn =; a mark covers both)"
            },
        );
    }
    out.push('\n');
    out.push_str("R restart   Q query run   B both in one half hour   . nothing (: every 3h)\n");
    out.push_str("- a time the clocks skip   = a time that happens twice   blank: already past\n");
    out.push_str("R, Q on the right: how many restarts and query runs that day\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schedule(yaml: &str) -> Schedule {
        crate::core::config::validate(yaml, || None).unwrap_or_else(|p| panic!("{p:?}\n{yaml}"))
    }

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().into()
    }

    fn week(yaml: &str, from: &str) -> String {
        let s = schedule(yaml);
        let from = at(from);
        render(&s, &restarts(&s, from), from, false)
    }

    /// The grid's rows, without the header line and the notes under it.
    fn rows(text: &str) -> Vec<&str> {
        text.lines().skip(2).take(DAYS).collect()
    }

    const LEGEND: &str = "\n\
        R restart   Q query run   B both in one half hour   . nothing (: every 3h)\n\
        - a time the clocks skip   = a time that happens twice   blank: already past\n\
        R, Q on the right: how many restarts and query runs that day\n";

    #[test]
    fn an_ordinary_week_whole_text() {
        // 06:30 weekdays, lead 15m: restart 06:15 (cell 12) and query 06:30 (cell 13).
        // 07:00 daily: restart 06:45 (cell 13, with the 06:30 query: B), query 07:00 (cell 14).
        let yaml = "timezone: Europe/London\nqueries:\n  - name: ct\n    cron: \"30 6 * * 1-5\"\n  - name: dx\n    at: [\"07:00\"]\n";
        let got = week(yaml, "2026-11-27T18:00:00Z");
        let weekday = ":.....:.....RBQ...:.....:.....:.....:.....:.....";
        let weekend = ":.....:.....:RQ...:.....:.....:.....:.....:.....";
        let want = format!(
            "The week from Fri 2026-11-27 18:00 GMT (a column per half hour):\n\
             {}00    03    06    09    12    15    18    21       R  Q\n\
             Fri 2026-11-27  {}:.....:.....   0  0\n\
             Sat 2026-11-28  {weekend}   1  1\n\
             Sun 2026-11-29  {weekend}   1  1\n\
             Mon 2026-11-30  {weekday}   2  2\n\
             Tue 2026-12-01  {weekday}   2  2\n\
             Wed 2026-12-02  {weekday}   2  2\n\
             Thu 2026-12-03  {weekday}   2  2\n\
             \n\
             Time zone Europe/London (GMT, UTC+00:00), no clock change this week.\n{LEGEND}",
            " ".repeat(16),
            " ".repeat(36),
        );
        assert_eq!(got, want);
        assert!(got.lines().all(|l| l.len() <= 80), "{got}");
    }

    #[test]
    fn spring_forward_draws_the_skipped_hour_and_names_the_change() {
        // London, Sun 2026-03-29: 01:00 GMT -> 02:00 BST. dx at 07:00 BST, restart 06:45.
        // 01:30 does not exist: the gap query runs at 02:30 BST (the planner's rule), its
        // restart at 02:15; 01:00 and 01:30 are drawn `-`.
        let yaml = "timezone: Europe/London\nqueries:\n  - name: dx\n    at: [\"07:00\"]\n  - name: gap\n    at: [\"01:30\"]\n    days: [sun]\n";
        let got = week(yaml, "2026-03-23T00:00:00Z");
        let rows = rows(&got);
        let usual = ":.....:.....:RQ...:.....:.....:.....:.....:.....";
        assert_eq!(rows[0], format!("Mon 2026-03-23  {usual}   1  1"));
        assert_eq!(
            rows[6],
            "Sun 2026-03-29  :.--RQ:.....:RQ...:.....:.....:.....:.....:.....   2  2  23h"
        );
        assert!(
            got.contains(
                "Time zone Europe/London (GMT, UTC+00:00) at the start; clock changes:\n\
                 \x20 Sun 2026-03-29 01:00 GMT -> 02:00 BST (UTC+01:00): clocks go forward 1h;\n\
                 \x20   a 23h day, 01:00-02:00 does not exist (drawn -)\n\nR restart"
            ),
            "{got}"
        );
    }

    #[test]
    fn fall_back_draws_the_doubled_hour_once_and_names_the_change() {
        // London, Sun 2026-10-25: 02:00 BST -> 01:00 GMT. A query at 02:00 GMT has its restart
        // at 01:45 GMT, in the second 01:30: the one `=` cell that is not empty shows it.
        let yaml = "timezone: Europe/London\nqueries:\n  - name: late\n    at: [\"02:00\"]\n    days: [sun]\n";
        let got = week(yaml, "2026-10-20T12:00:00+01:00");
        let rows = rows(&got);
        assert_eq!(
            rows[0],
            format!(
                "Tue 2026-10-20  {}:.....:.....:.....:.....   0  0",
                " ".repeat(24)
            )
        );
        assert_eq!(
            rows[5],
            "Sun 2026-10-25  :.=RQ.:.....:.....:.....:.....:.....:.....:.....   1  1  25h"
        );
        assert!(
            got.contains(
                "Time zone Europe/London (BST, UTC+01:00) at the start; clock changes:\n\
                 \x20 Sun 2026-10-25 02:00 BST -> 01:00 GMT (UTC+00:00): clocks go back 1h;\n\
                 \x20   a 25h day, 01:00-02:00 happens twice (drawn =; a mark covers both)\n"
            ),
            "{got}"
        );
    }

    #[test]
    fn a_week_with_nothing_planned() {
        // A yearly query outside the week: seven empty rows, zero counts.
        let yaml = "timezone: UTC\nqueries:\n  - name: yearly\n    cron: \"0 12 1 1 *\"\n";
        let got = week(yaml, "2026-06-01T00:00:00Z");
        let empty = ":.....".repeat(8);
        let dates = [
            "Mon 2026-06-01",
            "Tue 2026-06-02",
            "Wed 2026-06-03",
            "Thu 2026-06-04",
            "Fri 2026-06-05",
            "Sat 2026-06-06",
            "Sun 2026-06-07",
        ];
        let want: Vec<String> = dates
            .iter()
            .map(|d| format!("{d}  {empty}   0  0"))
            .collect();
        assert_eq!(rows(&got), want);
        assert!(
            got.contains("Time zone UTC (UTC, UTC+00:00), no clock change this week.\n"),
            "{got}"
        );
    }

    #[test]
    fn many_queries_in_one_hour_keep_the_columns_and_are_counted() {
        // Every minute from 06:00 to 06:59: 60 runs a day in cells 12 and 13; merge_within 0s
        // and lead 15m: 60 restarts, 05:45 to 06:44, in cells 11, 12 and 13.
        let yaml = "timezone: UTC\nlead: 15m\nmerge_within: 0s\nqueries:\n  - name: busy\n    cron: \"* 6 * * *\"\n";
        let got = week(yaml, "2026-06-01T00:00:00Z");
        for row in rows(&got) {
            assert_eq!(
                &row[14..],
                "  :.....:....RBB....:.....:.....:.....:.....:.....  60 60",
                "{got}"
            );
        }
        assert!(
            got.lines().nth(1).unwrap().ends_with("21       R  Q"),
            "{got}"
        );
    }

    #[test]
    fn runs_whose_restart_is_past_are_still_drawn() {
        // From 06:20: the 06:30 query's restart (06:15) is past, the query is not. The cell of
        // `from` (06:00) is drawn, the ones before it are blank.
        let yaml = "timezone: UTC\nqueries:\n  - name: ct\n    at: [\"06:30\"]\n";
        let got = week(yaml, "2026-06-01T06:20:00Z");
        assert_eq!(
            rows(&got)[0],
            format!(
                "Mon 2026-06-01  {}:Q....:.....:.....:.....:.....:.....   0  1",
                " ".repeat(12)
            )
        );
        // The last day ends at midnight: a run on the eighth day is not counted.
        assert!(
            rows(&got)[6].starts_with("Sun 2026-06-07  :.....:.....RQ"),
            "{got}"
        );
    }

    #[test]
    fn changes_at_midnight_are_named_on_the_day_they_change() {
        // Chile: forward at 24:00 Sat 2026-09-05 (-04 -> -03), so Sunday starts at 01:00; back
        // at 24:00 Sat 2026-04-04 (-03 -> -04), so Saturday has 23:00-24:00 twice.
        let yaml = "timezone: America/Santiago\nqueries:\n  - name: q\n    at: [\"07:00\"]\n";
        let got = week(yaml, "2026-09-03T12:00:00-04:00");
        assert!(
            rows(&got)[3].starts_with("Sun 2026-09-06  --....:"),
            "{got}"
        );
        assert!(
            got.contains(
                "  Sun 2026-09-06 00:00 -04 -> 01:00 -03 (UTC-03:00): clocks go forward 1h;\n\
             \x20   a 23h day, 00:00-01:00 does not exist (drawn -)\n"
            ),
            "{got}"
        );
        let got = week(yaml, "2026-04-01T12:00:00-03:00");
        assert!(rows(&got)[3].starts_with("Sat 2026-04-04  :....."), "{got}");
        assert!(rows(&got)[3].ends_with(":...==   1  1  25h"), "{got}");
        assert!(
            got.contains(
                "  Sat 2026-04-04 24:00 -03 -> 23:00 -04 (UTC-04:00): clocks go back 1h;\n\
             \x20   a 25h day, 23:00-24:00 happens twice (drawn =; a mark covers both)\n"
            ),
            "{got}"
        );
    }

    #[test]
    fn half_hour_changes_and_colour() {
        // Lord Howe, Sun 2026-10-04: 02:00 -> 02:30 (+10:30 -> +11:00), a 23h 30m day.
        let yaml = "timezone: Australia/Lord_Howe\nqueries:\n  - name: q\n    at: [\"07:00\"]\n";
        let got = week(yaml, "2026-10-01T00:00:00+10:30");
        assert!(
            rows(&got)[3].starts_with("Sun 2026-10-04  :...-.:"),
            "{got}"
        );
        assert!(rows(&got)[3].ends_with("  23h 30m"), "{got}");
        assert!(
            got.contains("clocks go forward 30m;\n    a 23h 30m day, 02:00-02:30 does not exist"),
            "{got}"
        );
        assert!(!got.contains('\x1b'));
        let s = schedule(yaml);
        let from = at("2026-10-01T00:00:00+10:30");
        let coloured = render(&s, &restarts(&s, from), from, true);
        assert!(
            coloured.contains("\x1b[33mR\x1b[0m\x1b[36mQ\x1b[0m"),
            "{coloured}"
        );
        assert!(coloured.contains("\x1b[2m-\x1b[0m"), "{coloured}");
        // Without the escapes it is the same text.
        let plain = coloured
            .replace("\x1b[33m", "")
            .replace("\x1b[36m", "")
            .replace("\x1b[2m", "")
            .replace("\x1b[0m", "");
        assert_eq!(plain, got);
    }
}
