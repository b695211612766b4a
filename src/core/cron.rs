//! Crontab expressions with classic crontab(5) / Vixie cron meaning.
//!
//! Owns: parsing a 5-field (`min hour dom month dow`) or 6-field (seconds first) expression, or
//! an `@daily`-style nickname, into sets of allowed values, and answering "which wall-clock
//! times does this expression name on this calendar date" and "which date does it name next".
//! No time zones, no instants: the planner turns wall-clock times into instants.
//!
//! Why not the `cron` crate: it numbers weekdays 1–7 from Sunday (so `1-5` would mean
//! Sunday–Thursday), ANDs day-of-month with day-of-week, and its errors carry no field
//! position. Users copy their expressions from crontab lines, so crontab's meaning is the
//! contract here: 0 and 7 are Sunday, and when both day fields are restricted a day matches if
//! EITHER matches. Once the fields are sets, matching is a few bit tests, so the crate would add
//! only a second, conflicting parser.

use chrono::{Datelike, NaiveDate, NaiveTime};
use std::fmt;

/// A parsed crontab expression. Each field is a bit set of the values it allows.
#[derive(Clone, PartialEq, Eq)]
pub struct CronSpec {
    seconds: u64,
    minutes: u64,
    hours: u32,
    /// Bits 1..=31.
    days_of_month: u32,
    /// Bits 1..=12.
    months: u16,
    /// Bits 0..=6, 0 = Sunday (7 folded onto 0).
    days_of_week: u8,
    /// The day-of-month field started with `*` (Vixie's DOM_STAR).
    dom_star: bool,
    /// The day-of-week field started with `*` (Vixie's DOW_STAR).
    dow_star: bool,
    text: String,
}

impl fmt::Debug for CronSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CronSpec({:?})", self.text)
    }
}

/// What is wrong with an expression, and in which field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CronError {
    /// The field's name (`minute`, `day-of-week`, …), or `None` for the expression as a whole.
    pub field: Option<&'static str>,
    pub message: String,
}

impl fmt::Display for CronError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.field {
            Some(field) => write!(f, "{field} field: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

struct FieldKind {
    name: &'static str,
    min: u32,
    max: u32,
    names: &'static [&'static str],
    /// The first name stands for this number.
    names_from: u32,
}

const SECOND: FieldKind = FieldKind {
    name: "second",
    min: 0,
    max: 59,
    names: &[],
    names_from: 0,
};
const MINUTE: FieldKind = FieldKind {
    name: "minute",
    min: 0,
    max: 59,
    names: &[],
    names_from: 0,
};
const HOUR: FieldKind = FieldKind {
    name: "hour",
    min: 0,
    max: 23,
    names: &[],
    names_from: 0,
};
const DAY_OF_MONTH: FieldKind = FieldKind {
    name: "day-of-month",
    min: 1,
    max: 31,
    names: &[],
    names_from: 0,
};
const MONTH: FieldKind = FieldKind {
    name: "month",
    min: 1,
    max: 12,
    names: &[
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ],
    names_from: 1,
};
const DAY_OF_WEEK: FieldKind = FieldKind {
    name: "day-of-week",
    min: 0,
    max: 7,
    names: &["sun", "mon", "tue", "wed", "thu", "fri", "sat"],
    names_from: 0,
};

/// The nicknames crontab(5) gives a time, as 5 fields (`@reboot` has no time: a crontab
/// importer handles it apart).
const NICKNAMES: &[(&str, &str)] = &[
    ("@yearly", "0 0 1 1 *"),
    ("@annually", "0 0 1 1 *"),
    ("@monthly", "0 0 1 * *"),
    ("@weekly", "0 0 * * 0"),
    ("@daily", "0 0 * * *"),
    ("@midnight", "0 0 * * *"),
    ("@hourly", "0 * * * *"),
];

/// The 5 fields a nickname such as `@daily` stands for (any case); `None` if it is not one.
pub fn nickname_fields(nickname: &str) -> Option<&'static str> {
    let lower = nickname.to_ascii_lowercase();
    NICKNAMES
        .iter()
        .find(|(nick, _)| *nick == lower)
        .map(|(_, fields)| *fields)
}

/// Every nickname with a time, comma-separated, for messages.
pub fn nickname_list() -> String {
    NICKNAMES
        .iter()
        .map(|(n, _)| *n)
        .collect::<Vec<_>>()
        .join(", ")
}

impl CronSpec {
    /// Parses a crontab expression: 5 fields, 6 fields with seconds first, or a nickname
    /// (`@yearly`, `@annually`, `@monthly`, `@weekly`, `@daily`, `@midnight`, `@hourly`).
    pub fn parse(text: &str) -> Result<CronSpec, CronError> {
        let whole = |message: String| CronError {
            field: None,
            message,
        };
        let trimmed = text.trim();
        let expanded = if trimmed.starts_with('@') {
            match nickname_fields(trimmed) {
                Some(fields) => fields,
                None => {
                    return Err(whole(format!(
                        "unknown nickname `{trimmed}`; allowed: {}",
                        nickname_list()
                    )))
                }
            }
        } else {
            trimmed
        };
        let fields: Vec<&str> = expanded.split_whitespace().collect();
        let (seconds, rest) = match fields.len() {
            5 => ("0", &fields[..]),
            6 => (fields[0], &fields[1..]),
            0 => return Err(whole("the expression is empty; expected 5 fields (minute hour day-of-month month day-of-week) or 6 with seconds first".into())),
            n => {
                return Err(whole(format!(
                    "expected 5 fields (minute hour day-of-month month day-of-week) or 6 with seconds first, found {n}"
                )))
            }
        };
        let dom_text = rest[2];
        let dow_text = rest[4];
        let dow_bits = parse_field(dow_text, &DAY_OF_WEEK)?;
        // 7 is Sunday too.
        let dow_bits = ((dow_bits | (dow_bits >> 7)) & 0x7f) as u8;
        Ok(CronSpec {
            seconds: parse_field(seconds, &SECOND)?,
            minutes: parse_field(rest[0], &MINUTE)?,
            hours: parse_field(rest[1], &HOUR)? as u32,
            days_of_month: parse_field(dom_text, &DAY_OF_MONTH)? as u32,
            months: parse_field(rest[3], &MONTH)? as u16,
            days_of_week: dow_bits,
            dom_star: dom_text.starts_with('*'),
            dow_star: dow_text.starts_with('*'),
            text: trimmed.to_string(),
        })
    }

    /// The expression as written.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Whether `date` is one of the expression's days (crontab(5): when both day fields are
    /// restricted, either may match; when one starts with `*`, both must).
    pub fn matches_date(&self, date: NaiveDate) -> bool {
        if self.months & (1 << date.month()) == 0 {
            return false;
        }
        let dom = self.days_of_month & (1 << date.day()) != 0;
        let dow = self.days_of_week & (1 << date.weekday().num_days_from_sunday()) != 0;
        if self.dom_star || self.dow_star {
            dom && dow
        } else {
            dom || dow
        }
    }

    /// Appends the wall-clock times of `date` named by the expression, in ascending order.
    pub fn times_on(&self, date: NaiveDate, out: &mut Vec<NaiveTime>) {
        if !self.matches_date(date) {
            return;
        }
        for h in bits(self.hours as u64) {
            for m in bits(self.minutes) {
                for s in bits(self.seconds) {
                    out.push(NaiveTime::from_hms_opt(h, m, s).expect("validated field ranges"));
                }
            }
        }
    }

    /// Whether any date matches at all (`0 0 30 2 *` never does).
    pub fn ever_matches(&self) -> bool {
        let start = NaiveDate::from_ymd_opt(2001, 1, 1).expect("valid date");
        self.next_date(start).is_some()
    }

    /// The first date at or after `from` that the expression matches, or `None` when none does
    /// within `SEARCH_YEARS` (then none ever does). Jumps month by month and picks the day from
    /// the month's bit set, so a sparse expression (`0 0 29 2 *`) costs as little as a dense one.
    pub fn next_date(&self, from: NaiveDate) -> Option<NaiveDate> {
        if self.matches_date(from) {
            return Some(from);
        }
        let (mut year, mut month, mut day) = (from.year(), from.month(), from.day());
        for _ in 0..=SEARCH_YEARS * 12 {
            if self.months & (1 << month) != 0 {
                // Days at or after `day` (day <= 31, so the shift stays inside u32).
                let days = self.days_in(year, month)? & !((1u32 << day) - 1);
                if days != 0 {
                    return NaiveDate::from_ymd_opt(year, month, days.trailing_zeros());
                }
            }
            day = 1;
            month += 1;
            if month > 12 {
                month = 1;
                year += 1;
            }
        }
        None
    }

    /// The days of `month` in `year` the day fields match, as bits 1..=31 (the months field is
    /// not looked at). `None` past chrono's last year.
    fn days_in(&self, year: i32, month: u32) -> Option<u32> {
        let first = NaiveDate::from_ymd_opt(year, month, 1)?;
        let next = if month == 12 {
            NaiveDate::from_ymd_opt(year + 1, 1, 1)
        } else {
            NaiveDate::from_ymd_opt(year, month + 1, 1)
        };
        let len = next.map_or(31, |n| (n - first).num_days() as u32);
        // The weekday set rotated so that bit k is the weekday of day k + 1, then repeated for
        // five weeks (35 days) and shifted so that bit d is day d.
        let w1 = first.weekday().num_days_from_sunday();
        let dow = u32::from(self.days_of_week);
        let rotated = u64::from(((dow >> w1) | (dow << (7 - w1))) & 0x7f);
        let weekly = (0..5).fold(0u64, |acc, week| acc | rotated << (7 * week));
        let dow_days = (weekly << 1) as u32;
        let in_month = ((1u64 << (len + 1)) - 2) as u32;
        let days = if self.dom_star || self.dow_star {
            self.days_of_month & dow_days
        } else {
            self.days_of_month | dow_days
        };
        Some(days & in_month)
    }

    /// Whether the expression names times at a finer resolution than whole minutes.
    pub fn has_seconds(&self) -> bool {
        self.seconds != 1
    }
}

/// How far `next_date` looks: the Gregorian calendar repeats every 400 years (weekdays and leap
/// years alike), so an expression with no date in that span has none at all.
const SEARCH_YEARS: u32 = 400;

/// The set bits of `set`, lowest first.
fn bits(mut set: u64) -> impl Iterator<Item = u32> {
    std::iter::from_fn(move || {
        if set == 0 {
            return None;
        }
        let bit = set.trailing_zeros();
        set &= set - 1;
        Some(bit)
    })
}

fn parse_field(text: &str, kind: &FieldKind) -> Result<u64, CronError> {
    let err = |message: String| CronError {
        field: Some(kind.name),
        message,
    };
    let mut set = 0u64;
    for item in text.split(',') {
        if item.is_empty() {
            return Err(err(format!("`{text}` has an empty list item")));
        }
        let (range, step) = match item.split_once('/') {
            Some((range, step)) => {
                let step: u32 = step.parse().ok().filter(|s| *s > 0).ok_or_else(|| {
                    err(format!(
                        "`{item}`: the step after `/` must be a whole number of at least 1"
                    ))
                })?;
                (range, Some(step))
            }
            None => (item, None),
        };
        let (lo, hi) = if range == "*" {
            (kind.min, kind.max)
        } else if let Some((a, b)) = range.split_once('-') {
            let lo = value(a, kind).map_err(&err)?;
            let hi = value(b, kind).map_err(&err)?;
            if lo > hi {
                return Err(err(format!(
                    "`{item}`: the range runs backwards ({lo} > {hi}); write it as two ranges"
                )));
            }
            (lo, hi)
        } else {
            let v = value(range, kind).map_err(&err)?;
            // `5/15` means 5, 20, 35, 50 (from 5 to the end), as in most crons that accept it.
            (v, if step.is_some() { kind.max } else { v })
        };
        let step = step.unwrap_or(1);
        let mut v = lo;
        while v <= hi {
            set |= 1 << v;
            v += step;
        }
    }
    Ok(set)
}

fn value(text: &str, kind: &FieldKind) -> Result<u32, String> {
    if let Ok(v) = text.parse::<u32>() {
        if v < kind.min || v > kind.max {
            return Err(format!(
                "{v} is out of range; allowed {}–{}{}",
                kind.min,
                kind.max,
                if kind.name == "day-of-week" {
                    " (0 and 7 are Sunday)"
                } else {
                    ""
                }
            ));
        }
        return Ok(v);
    }
    let lower = text.to_ascii_lowercase();
    if let Some(i) = kind.names.iter().position(|n| *n == lower) {
        return Ok(kind.names_from + i as u32);
    }
    let allowed = if kind.names.is_empty() {
        format!(
            "numbers {}–{}, `*`, ranges a-b, steps /n and lists",
            kind.min, kind.max
        )
    } else {
        format!(
            "numbers {}–{}{} or names {}, `*`, ranges, steps /n and lists",
            kind.min,
            kind.max,
            if kind.name == "day-of-week" {
                " (0 and 7 are Sunday)"
            } else {
                ""
            },
            kind.names.join(",")
        )
    };
    Err(format!("`{text}` is not a valid value; allowed: {allowed}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    fn times(expr: &str, date: NaiveDate) -> Vec<String> {
        let mut out = Vec::new();
        CronSpec::parse(expr).unwrap().times_on(date, &mut out);
        out.iter()
            .map(|t| t.format("%H:%M:%S").to_string())
            .collect()
    }

    #[test]
    fn weekday_range_means_monday_to_friday() {
        // 2026-11-23 is a Monday.
        let spec = CronSpec::parse("30 6 * * 1-5").unwrap();
        let matched: Vec<bool> = (23..=29)
            .map(|day| spec.matches_date(d(2026, 11, day)))
            .collect();
        assert_eq!(matched, [true, true, true, true, true, false, false]);
    }

    #[test]
    fn zero_and_seven_are_sunday_and_names_work() {
        let sunday = d(2026, 11, 29);
        for expr in [
            "0 0 * * 0",
            "0 0 * * 7",
            "0 0 * * sun",
            "0 0 * * SUN",
            "0 0 * * 5-7",
        ] {
            assert!(
                CronSpec::parse(expr).unwrap().matches_date(sunday),
                "{expr}"
            );
        }
        assert!(!CronSpec::parse("0 0 * * 1-6").unwrap().matches_date(sunday));
        assert!(CronSpec::parse("0 0 * * mon-fri")
            .unwrap()
            .matches_date(d(2026, 11, 27)));
    }

    #[test]
    fn restricted_day_fields_are_ored_like_vixie_cron() {
        // The 1st and 15th of each month, and every Friday.
        let spec = CronSpec::parse("0 12 1,15 * fri").unwrap();
        assert!(spec.matches_date(d(2026, 11, 1))); // Sunday the 1st
        assert!(spec.matches_date(d(2026, 11, 6))); // Friday the 6th
        assert!(!spec.matches_date(d(2026, 11, 7)));
        // A day field starting with `*` makes it AND again, even `*/2`.
        let spec = CronSpec::parse("0 12 */2 * fri").unwrap();
        assert!(!spec.matches_date(d(2026, 11, 6))); // Friday, but even day
        assert!(spec.matches_date(d(2026, 11, 13))); // Friday the 13th, odd
        assert!(!spec.matches_date(d(2026, 11, 11))); // odd, Wednesday
    }

    #[test]
    fn nicknames_are_read_in_any_case_and_listed_for_messages() {
        assert_eq!(nickname_fields("@Daily"), Some("0 0 * * *"));
        assert_eq!(nickname_fields("@MIDNIGHT"), nickname_fields("@daily"));
        assert_eq!(nickname_fields("@reboot"), None);
        assert_eq!(nickname_fields("daily"), None);
        let day = d(2026, 1, 5);
        assert_eq!(times("@Hourly", day), times("0 * * * *", day));
        let list = nickname_list();
        for nick in ["@yearly", "@monthly", "@weekly", "@daily", "@hourly"] {
            assert!(list.contains(nick), "{list}");
        }
        assert!(!list.contains("@reboot"), "{list}");
    }

    #[test]
    fn months_and_short_months() {
        let spec = CronSpec::parse("0 0 31 * *").unwrap();
        assert!(spec.matches_date(d(2026, 12, 31)));
        assert!(!spec.matches_date(d(2026, 11, 30)));
        let spec = CronSpec::parse("0 0 29 feb *").unwrap();
        assert!(!spec.matches_date(d(2027, 2, 28)));
        assert!(spec.matches_date(d(2028, 2, 29)));
    }

    #[test]
    fn times_steps_lists_and_seconds() {
        let day = d(2026, 1, 5);
        assert_eq!(
            times("*/20 9-10 * * *", day),
            ["09:00:00", "09:20:00", "09:40:00", "10:00:00", "10:20:00", "10:40:00"]
        );
        assert_eq!(
            times("5/20 9 * * *", day),
            ["09:05:00", "09:25:00", "09:45:00"]
        );
        assert_eq!(times("0,30 7 * * *", day), ["07:00:00", "07:30:00"]);
        assert_eq!(
            times("*/15 0 8 * * *", day),
            ["08:00:00", "08:00:15", "08:00:30", "08:00:45"]
        );
        assert_eq!(times("@daily", day), ["00:00:00"]);
        assert_eq!(times("@hourly", day).len(), 24);
        assert!(CronSpec::parse("*/15 0 8 * * *").unwrap().has_seconds());
        assert!(!CronSpec::parse("0 8 * * *").unwrap().has_seconds());
    }

    #[test]
    fn impossible_dates_are_detected() {
        assert!(!CronSpec::parse("0 0 30 2 *").unwrap().ever_matches());
        assert!(!CronSpec::parse("0 0 31 4,6,9,11 *").unwrap().ever_matches());
        assert!(CronSpec::parse("0 0 29 2 *").unwrap().ever_matches());
        // Restricted weekday ORs in: the 30th of February or any Monday.
        assert!(CronSpec::parse("0 0 30 2 1").unwrap().ever_matches());
    }

    #[test]
    fn next_date_jumps_to_the_next_matching_day() {
        let next = |expr: &str, from: NaiveDate| CronSpec::parse(expr).unwrap().next_date(from);
        assert_eq!(next("@yearly", d(2026, 1, 1)), Some(d(2026, 1, 1)));
        assert_eq!(next("@yearly", d(2026, 1, 2)), Some(d(2027, 1, 1)));
        assert_eq!(next("0 0 29 2 *", d(2028, 3, 1)), Some(d(2032, 2, 29)));
        assert_eq!(next("0 0 29 2 *", d(2097, 1, 1)), Some(d(2104, 2, 29)));
        assert_eq!(next("0 0 31 * *", d(2026, 4, 1)), Some(d(2026, 5, 31)));
        // 2026-11-27 is a Friday; the next Monday–Friday day after Saturday is Monday the 30th.
        assert_eq!(next("30 6 * * 1-5", d(2026, 11, 28)), Some(d(2026, 11, 30)));
        // Both day fields restricted: the 1st or 15th, or a Friday, whichever comes first.
        assert_eq!(
            next("0 12 1,15 * fri", d(2026, 11, 7)),
            Some(d(2026, 11, 13))
        );
        assert_eq!(
            next("0 12 1,15 * fri", d(2026, 11, 14)),
            Some(d(2026, 11, 15))
        );
        // `*/2` starts with `*`: odd days that are Fridays.
        assert_eq!(
            next("0 12 */2 * fri", d(2026, 11, 7)),
            Some(d(2026, 11, 13))
        );
    }

    #[test]
    fn next_date_agrees_with_matches_date_day_by_day() {
        let exprs = [
            "0 0 * * *",
            "0 0 29 2 *",
            "0 0 1,15 * 5",
            "0 0 */3 1,7 *",
            "0 0 * 2 sun",
            "0 0 31 * 1-5",
            "0 0 2-9/3 * 0,6",
        ];
        for expr in exprs {
            let spec = CronSpec::parse(expr).unwrap();
            let mut day = d(2027, 12, 1);
            while day < d(2029, 3, 1) {
                let want = day.iter_days().find(|x| spec.matches_date(*x));
                assert_eq!(spec.next_date(day), want, "{expr} from {day}");
                day = day.succ_opt().unwrap();
            }
        }
    }

    #[test]
    fn next_date_of_an_impossible_expression_gives_up() {
        for expr in ["0 0 30 2 *", "0 0 31 4,6,9,11 *"] {
            assert_eq!(
                CronSpec::parse(expr).unwrap().next_date(d(2026, 1, 1)),
                None
            );
        }
    }

    #[test]
    fn errors_name_the_field() {
        let cases = [
            (
                "60 * * * *",
                Some("minute"),
                "60 is out of range; allowed 0–59",
            ),
            (
                "* 24 * * *",
                Some("hour"),
                "24 is out of range; allowed 0–23",
            ),
            (
                "* * 0 * *",
                Some("day-of-month"),
                "0 is out of range; allowed 1–31",
            ),
            ("* * * 13 *", Some("month"), "13 is out of range"),
            (
                "* * * * 8",
                Some("day-of-week"),
                "8 is out of range; allowed 0–7 (0 and 7 are Sunday)",
            ),
            ("* * * * fri-mon", Some("day-of-week"), "runs backwards"),
            (
                "* * * * funday",
                Some("day-of-week"),
                "`funday` is not a valid value",
            ),
            ("*/0 * * * *", Some("minute"), "step after `/`"),
            ("1,,2 * * * *", Some("minute"), "empty list item"),
            ("* * * *", None, "found 4"),
            ("", None, "empty"),
            ("* * * * * * *", None, "found 7"),
            ("@reboot", None, "unknown nickname `@reboot`"),
            (
                "0 6 L * *",
                Some("day-of-month"),
                "`L` is not a valid value",
            ),
        ];
        for (expr, field, needle) in cases {
            let err = CronSpec::parse(expr).unwrap_err();
            assert_eq!(err.field, field, "{expr}");
            assert!(err.to_string().contains(needle), "{expr}: {err}");
        }
    }
}
