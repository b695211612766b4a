//! Dates and times in a query's command: `{date}`, `{time-30m}`, `{date-1d:%Y%m%d}`.
//!
//! Owns: the placeholder language of a query's `command` and `env` values — parsing an argument
//! into a `Template` (every error with the character it starts at, so `check` can name the
//! line and column) and expanding it for one run from the run's *planned* instant in the
//! schedule's zone. Pure: the instant comes in as an argument. Does not own where templates
//! appear (`config::validate`) or when a query runs (`plan`, the daemon).
//!
//! The language:
//! - `{date}` `YYYY-MM-DD`, `{time}` `HH:MM`, `{datetime}` `YYYY-MM-DDTHH:MM:SS±HH:MM`: the
//!   planned instant as a local date/time in the schedule's zone;
//! - an offset after the name, `{date-1d}`, `{date-1h}`, `{time-30m}`, `{date+1d}`: units `d`
//!   (a calendar day in the zone: the same wall-clock time on the day before or after, so
//!   `{date-1d}` is yesterday across DST changes), `h` and `m` (elapsed hours and minutes);
//! - a format after a colon, `{date-1d:%Y%m%d}`, `{time:%H%M}`: chrono's strftime;
//! - `{{` and `}}` for literal braces. Anything else in braces is an error, never passed on.

use chrono::format::{Item, StrftimeItems};
use chrono::{DateTime, Duration, LocalResult, Offset as _, TimeZone, Utc};
use chrono_tz::Tz;
use std::fmt::Write as _;

/// The largest offset accepted, in its unit (about 27 years of days): far beyond any use, and
/// small enough that no date arithmetic overflows.
const MAX_AMOUNT: i64 = 10_000;

/// One argument or environment value, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    /// Text as it is passed on (braces already unescaped).
    Text(String),
    Field(Field),
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Field {
    name: Name,
    /// Signed amount of `unit`; 0 for none.
    amount: i64,
    unit: Unit,
    /// A chrono strftime format, checked when parsed.
    format: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Name {
    Date,
    Time,
    DateTime,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Unit {
    Day,
    Hour,
    Minute,
}

/// Why a text is not a valid template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateError {
    /// 0-based index, in characters, of where the problem starts.
    pub at: usize,
    pub message: String,
}

const LITERAL_HINT: &str = "write `{{` and `}}` for literal braces";

impl Template {
    /// Parses `text`: the first problem, with the character it starts at.
    pub fn parse(text: &str) -> Result<Template, TemplateError> {
        let mut parts = Vec::new();
        let mut lit = String::new();
        let mut chars = text.char_indices().enumerate().peekable();
        while let Some((ci, (bi, c))) = chars.next() {
            match c {
                '{' if matches!(chars.peek(), Some((_, (_, '{')))) => {
                    chars.next();
                    lit.push('{');
                }
                '}' if matches!(chars.peek(), Some((_, (_, '}')))) => {
                    chars.next();
                    lit.push('}');
                }
                '}' => {
                    return Err(TemplateError {
                        at: ci,
                        message: format!("a lone `}}`; {LITERAL_HINT}"),
                    })
                }
                '{' => {
                    let rest = &text[bi + 1..];
                    let Some(len) = rest.find('}') else {
                        return Err(TemplateError {
                            at: ci,
                            message: format!(
                                "`{{` is not closed; a placeholder is written like {{date}}; \
                                 {LITERAL_HINT}"
                            ),
                        });
                    };
                    let inner = &rest[..len];
                    let field = Field::parse(inner).map_err(|(off, message)| TemplateError {
                        at: ci + off,
                        message,
                    })?;
                    if !lit.is_empty() {
                        parts.push(Part::Text(std::mem::take(&mut lit)));
                    }
                    parts.push(Part::Field(field));
                    // Skip the placeholder's characters and its `}`.
                    for _ in 0..inner.chars().count() + 1 {
                        chars.next();
                    }
                }
                c => lit.push(c),
            }
        }
        if !lit.is_empty() || parts.is_empty() {
            parts.push(Part::Text(lit));
        }
        Ok(Template { parts })
    }

    /// The text when there is no placeholder in it (braces unescaped).
    pub fn literal(&self) -> Option<&str> {
        match self.parts.as_slice() {
            [Part::Text(t)] => Some(t),
            _ => None,
        }
    }

    /// Whether it holds a placeholder.
    pub fn has_placeholder(&self) -> bool {
        self.literal().is_none()
    }

    /// The text for a run planned at `at`, in the schedule's zone `zone`.
    pub fn expand(&self, at: DateTime<Utc>, zone: Tz) -> String {
        let mut out = String::new();
        self.expand_into(&at.with_timezone(&zone), &mut out);
        out
    }

    /// Appends the text for a run planned at `local` (the planned instant in the schedule's
    /// zone) to `out`.
    pub fn expand_into(&self, local: &DateTime<Tz>, out: &mut String) {
        for part in &self.parts {
            match part {
                Part::Text(t) => out.push_str(t),
                Part::Field(f) => f.write(local, out),
            }
        }
    }
}

impl Field {
    /// `inner` is the text between the braces; errors carry the offset, in characters from
    /// the `{`, of the wrong part.
    fn parse(inner: &str) -> Result<Field, (usize, String)> {
        let (head, format) = match inner.split_once(':') {
            Some((h, f)) => (h, Some(f)),
            None => (inner, None),
        };
        let name_len = head
            .find(|c: char| !c.is_ascii_alphabetic())
            .unwrap_or(head.len());
        let (name_text, offset) = head.split_at(name_len);
        let name = match name_text {
            "date" => Name::Date,
            "time" => Name::Time,
            "datetime" => Name::DateTime,
            _ => {
                return Err((
                    0,
                    format!(
                        "unknown placeholder `{{{inner}}}`; known: {{date}}, {{time}}, \
                         {{datetime}}, with an offset such as {{date-1d}} and a format such as \
                         {{date:%Y%m%d}}; {LITERAL_HINT}"
                    ),
                ))
            }
        };
        let (amount, unit) = if offset.is_empty() {
            (0, Unit::Day)
        } else {
            parse_offset(offset).ok_or_else(|| {
                (
                    1 + name_len,
                    format!(
                        "`{{{inner}}}`: bad offset `{offset}`; write a sign, a whole number and \
                         a unit d, h or m, such as -1d, +2h or -30m (at most {MAX_AMOUNT})"
                    ),
                )
            })?
        };
        let format = match format {
            None => None,
            Some(f) => {
                let at = 1 + head.chars().count() + 1;
                if f.is_empty() {
                    return Err((
                        at,
                        format!(
                            "`{{{inner}}}`: the format after `:` is empty; leave out the `:` \
                             or give a chrono strftime format such as %Y%m%d"
                        ),
                    ));
                }
                if StrftimeItems::new(f).any(|i| matches!(i, Item::Error)) {
                    return Err((
                        at,
                        format!(
                            "`{{{inner}}}`: bad format `{f}`; give a chrono strftime format \
                             such as %Y%m%d or %H%M (`%%` for a literal %)"
                        ),
                    ));
                }
                Some(f.to_string())
            }
        };
        Ok(Field {
            name,
            amount,
            unit,
            format,
        })
    }

    fn write(&self, local: &DateTime<Tz>, out: &mut String) {
        let shifted = if self.amount == 0 {
            *local
        } else {
            shift(local, self.amount, self.unit)
        };
        let format = match (&self.format, self.name) {
            (Some(f), _) => f.as_str(),
            (None, Name::Date) => "%Y-%m-%d",
            (None, Name::Time) => "%H:%M",
            (None, Name::DateTime) => "%Y-%m-%dT%H:%M:%S%:z",
        };
        // Every specifier was checked when parsed, and a zoned date-time has every field.
        let _ = write!(out, "{}", shifted.format(format));
    }
}

/// `-1d`, `+30m`: a sign, digits, a unit.
fn parse_offset(text: &str) -> Option<(i64, Unit)> {
    let sign = match text.as_bytes().first()? {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let unit = match text.as_bytes().last()? {
        b'd' => Unit::Day,
        b'h' => Unit::Hour,
        b'm' => Unit::Minute,
        _ => return None,
    };
    let digits = &text[1..text.len() - 1];
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: i64 = digits.parse().ok().filter(|n| *n <= MAX_AMOUNT)?;
    Some((sign * n, unit))
}

/// `local` moved by `amount` `unit`s: hours and minutes of elapsed time; days of the calendar,
/// keeping the wall-clock time (the earlier of two on a day the clocks go back, and the
/// time one gap later on a day they go forward).
fn shift(local: &DateTime<Tz>, amount: i64, unit: Unit) -> DateTime<Tz> {
    match unit {
        Unit::Hour => *local + Duration::hours(amount),
        Unit::Minute => *local + Duration::minutes(amount),
        Unit::Day => {
            let naive = local.naive_local() + Duration::days(amount);
            let zone = local.timezone();
            match zone.from_local_datetime(&naive) {
                LocalResult::Single(t) => t,
                LocalResult::Ambiguous(earlier, _) => earlier,
                // In a gap: read the wall-clock time with the offset it had before the gap.
                LocalResult::None => {
                    let before = zone
                        .offset_from_utc_datetime(&(naive - Duration::days(1)))
                        .fix();
                    zone.from_utc_datetime(&(naive - before))
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    /// (zone, planned instant, template, expected expansion).
    #[test]
    fn expansion_rules() {
        let table: &[(&str, &str, &str, &str)] = &[
            // Plain names, in the schedule's zone (not UTC).
            (
                "Europe/London",
                "2026-05-04T23:30:00Z",
                "{date}",
                "2026-05-05",
            ),
            ("Europe/London", "2026-05-04T23:30:00Z", "{time}", "00:30"),
            (
                "Europe/London",
                "2026-05-04T23:30:00Z",
                "{datetime}",
                "2026-05-05T00:30:00+01:00",
            ),
            (
                "UTC",
                "2026-05-04T06:00:00Z",
                "{datetime}",
                "2026-05-04T06:00:00+00:00",
            ),
            (
                "America/New_York",
                "2026-01-02T03:00:00Z",
                "{date}",
                "2026-01-01",
            ),
            // Offsets.
            ("UTC", "2026-03-01T06:00:00Z", "{date-1d}", "2026-02-28"),
            ("UTC", "2028-03-01T06:00:00Z", "{date-1d}", "2028-02-29"),
            ("UTC", "2026-12-31T06:00:00Z", "{date+1d}", "2027-01-01"),
            ("UTC", "2026-01-01T00:30:00Z", "{date-1h}", "2025-12-31"),
            ("UTC", "2026-01-01T00:30:00Z", "{time-30m}", "00:00"),
            ("UTC", "2026-01-01T00:20:00Z", "{time-30m}", "23:50"),
            ("UTC", "2026-01-01T06:00:00Z", "{date+0d}", "2026-01-01"),
            (
                "UTC",
                "2026-01-01T06:00:00Z",
                "{datetime+90m}",
                "2026-01-01T07:30:00+00:00",
            ),
            // Formats.
            (
                "UTC",
                "2026-05-04T06:07:00Z",
                "{date-1d:%Y%m%d}",
                "20260503",
            ),
            ("UTC", "2026-05-04T06:07:00Z", "{time:%H%M}", "0607"),
            (
                "UTC",
                "2026-05-04T06:07:00Z",
                "{date:%d/%m/%Y %%}",
                "04/05/2026 %",
            ),
            ("UTC", "2026-05-04T06:07:00Z", "{time-1h:%H%M}", "0507"),
            // Several in one argument, with text and literal braces around them.
            (
                "UTC",
                "2026-05-04T06:07:00Z",
                "--from={date-1d}T{time}",
                "--from=2026-05-03T06:07",
            ),
            (
                "UTC",
                "2026-05-04T06:07:00Z",
                "{{\"day\": \"{date}\"}}",
                "{\"day\": \"2026-05-04\"}",
            ),
            ("UTC", "2026-05-04T06:07:00Z", "{{date}}", "{date}"),
            ("UTC", "2026-05-04T06:07:00Z", "{{{date}}}", "{2026-05-04}"),
            ("UTC", "2026-05-04T06:07:00Z", "", ""),
            ("UTC", "2026-05-04T06:07:00Z", "né ∞ -ct", "né ∞ -ct"),
            // DST, spring forward (London 2026-03-29 01:00 UTC: 01:00 → 02:00 local).
            // A day is a calendar day: yesterday at 00:30 the day after the change.
            (
                "Europe/London",
                "2026-03-29T23:30:00Z",
                "{date-1d}",
                "2026-03-29",
            ),
            (
                "Europe/London",
                "2026-03-29T23:30:00Z",
                "{datetime-1d}",
                "2026-03-29T00:30:00+00:00",
            ),
            // 24 elapsed hours are not a day here: 23:30 UTC the day before is 23:30 GMT.
            (
                "Europe/London",
                "2026-03-29T23:30:00Z",
                "{date-24h}",
                "2026-03-28",
            ),
            // A wall-clock time that does not exist on the target day (01:30 on 29 March)
            // moves on by the gap.
            (
                "Europe/London",
                "2026-03-30T00:30:00Z",
                "{datetime-1d}",
                "2026-03-29T02:30:00+01:00",
            ),
            (
                "Europe/London",
                "2026-03-30T00:30:00Z",
                "{date-1d}",
                "2026-03-29",
            ),
            // DST, fall back (London 2026-10-25 01:00 UTC: 02:00 BST → 01:00 GMT).
            (
                "Europe/London",
                "2026-10-25T23:30:00Z",
                "{date-1d}",
                "2026-10-24",
            ),
            (
                "Europe/London",
                "2026-10-25T23:30:00Z",
                "{datetime-1d}",
                "2026-10-24T23:30:00+01:00",
            ),
            // An ambiguous wall-clock time on the target day: the earlier one.
            (
                "Europe/London",
                "2026-10-26T01:30:00Z",
                "{datetime-1d}",
                "2026-10-25T01:30:00+01:00",
            ),
            // The repeated hour itself: elapsed minutes cross it as they happened.
            ("Europe/London", "2026-10-25T01:10:00Z", "{time}", "01:10"),
            (
                "Europe/London",
                "2026-10-25T01:10:00Z",
                "{time-30m}",
                "01:40",
            ),
            (
                "Europe/London",
                "2026-10-25T01:10:00Z",
                "{datetime-30m}",
                "2026-10-25T01:40:00+01:00",
            ),
            // Yesterday, just after midnight, on both change days in New York.
            (
                "America/New_York",
                "2026-03-09T04:05:00Z",
                "{date-1d}",
                "2026-03-08",
            ),
            (
                "America/New_York",
                "2026-11-02T05:05:00Z",
                "{date-1d}",
                "2026-11-01",
            ),
            (
                "America/New_York",
                "2026-11-02T05:05:00Z",
                "{date-1d:%Y%m%d}T{time:%H%M}",
                "20261101T0005",
            ),
        ];
        for (zone, at, text, want) in table {
            let zone: Tz = zone.parse().unwrap();
            let t = Template::parse(text).unwrap_or_else(|e| panic!("{text}: {e:?}"));
            assert_eq!(t.expand(utc(at), zone), *want, "{text} at {at} in {zone}");
        }
    }

    /// (template, character the error starts at, words in the message).
    #[test]
    fn every_error_names_where_it_starts() {
        let table: &[(&str, usize, &str)] = &[
            ("{dat}", 0, "unknown placeholder `{dat}`"),
            ("-f {Date}", 3, "unknown placeholder `{Date}`"),
            ("{}", 0, "unknown placeholder `{}`"),
            ("{ date}", 0, "unknown placeholder `{ date}`"),
            ("{\"a\": 1}", 0, "unknown placeholder"),
            ("x{today-1d}", 1, "unknown placeholder `{today-1d}`"),
            ("{date-1}", 5, "bad offset `-1`"),
            ("{date-1w}", 5, "bad offset `-1w`"),
            ("{date1d}", 5, "bad offset `1d`"),
            ("{date-d}", 5, "bad offset `-d`"),
            ("{date--1d}", 5, "bad offset `--1d`"),
            ("{date-1.5d}", 5, "bad offset `-1.5d`"),
            ("{date -1d}", 5, "bad offset ` -1d`"),
            ("{date-99999d}", 5, "bad offset `-99999d`"),
            ("{time-1d-2h}", 5, "bad offset `-1d-2h`"),
            ("ab{time:%Q}", 8, "bad format `%Q`"),
            ("{date:%}", 6, "bad format `%`"),
            ("{date-1d:}", 9, "the format after `:` is empty"),
            ("{date", 0, "`{` is not closed"),
            ("{date}{", 6, "`{` is not closed"),
            ("é}", 1, "a lone `}`"),
            ("{date}}", 6, "a lone `}`"),
        ];
        for (text, at, words) in table {
            let e = Template::parse(text).expect_err(text);
            assert_eq!(e.at, *at, "{text}: {e:?}");
            assert!(e.message.contains(words), "{text}: {}", e.message);
            if !words.contains("offset") && !words.contains("format") {
                assert!(e.message.contains("{{"), "{text}: no literal-brace hint");
            }
        }
    }

    #[test]
    fn literal_text_is_known_without_expanding() {
        assert_eq!(Template::parse("-ct").unwrap().literal(), Some("-ct"));
        assert_eq!(Template::parse("a{{b}}").unwrap().literal(), Some("a{b}"));
        assert!(Template::parse("{date}").unwrap().has_placeholder());
    }
}
