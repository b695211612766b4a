//! Time zones: which zone a schedule's wall-clock times are read in, and how a wall-clock time
//! becomes an instant across DST changes.
//!
//! Owns: the machine's default zone (with fallbacks where `iana_time_zone` fails) and the two
//! DST rules of the planner. No schedules, no clocks.

use chrono::{DateTime, LocalResult, NaiveDateTime, Offset, TimeDelta, TimeZone, Utc};
use chrono_tz::Tz;

/// The instant at which the wall-clock time `local` happens in `tz`, by pacs-warden's rules:
/// - a time that occurs twice (fall-back) is taken at its first occurrence;
/// - a time that does not exist (spring-forward gap) is read with the offset in force before the
///   change, so it fires as far after the change as it was meant to be after the gap's start
///   (Europe/London 01:30 on 2026-03-29 → 01:30 UTC = 02:30 BST).
pub fn instant_of(tz: &Tz, local: NaiveDateTime) -> DateTime<Utc> {
    match tz.from_local_datetime(&local) {
        LocalResult::Single(t) => t.with_timezone(&Utc),
        LocalResult::Ambiguous(first, _) => first.with_timezone(&Utc),
        LocalResult::None => {
            // The offset before the gap is the one in force a day earlier: zones never change
            // offset twice within a day.
            let before = tz
                .offset_from_utc_datetime(&(local - TimeDelta::days(1)))
                .fix();
            (local - TimeDelta::seconds(before.local_minus_utc().into())).and_utc()
        }
    }
}

/// Where the default time zone came from, for messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ZoneSource {
    /// The schedule file's `timezone:` key.
    File,
    /// This machine's zone, found the way the string says.
    Machine(&'static str),
}

/// This machine's time zone as an IANA name, or `None` when it cannot be found.
///
/// Order: the `TZ` environment variable (when it holds an IANA name), the OS answer through
/// `iana_time_zone`, then on Unix `/etc/timezone` and the `/etc/localtime` link. The later steps
/// exist because `iana_time_zone` fails in some environments (Wine, minimal containers).
pub fn machine_zone() -> Option<(Tz, &'static str)> {
    if let Ok(tz) = std::env::var("TZ") {
        if let Ok(zone) = tz.trim_start_matches(':').parse::<Tz>() {
            return Some((zone, "the TZ environment variable"));
        }
    }
    if let Ok(name) = iana_time_zone::get_timezone() {
        if let Ok(zone) = name.parse::<Tz>() {
            return Some((zone, "the operating system"));
        }
    }
    #[cfg(unix)]
    {
        if let Ok(text) = std::fs::read_to_string("/etc/timezone") {
            if let Ok(zone) = text.trim().parse::<Tz>() {
                return Some((zone, "/etc/timezone"));
            }
        }
        if let Ok(target) = std::fs::read_link("/etc/localtime") {
            let target = target.to_string_lossy();
            if let Some((_, name)) = target.split_once("zoneinfo/") {
                if let Ok(zone) = name.parse::<Tz>() {
                    return Some((zone, "/etc/localtime"));
                }
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    fn local(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> NaiveDateTime {
        NaiveDate::from_ymd_opt(y, mo, d)
            .unwrap()
            .and_hms_opt(h, mi, 0)
            .unwrap()
    }

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn gap_uses_offset_before_the_change() {
        let london: Tz = "Europe/London".parse().unwrap();
        assert_eq!(
            instant_of(&london, local(2026, 3, 29, 1, 30)),
            utc("2026-03-29T02:30:00+01:00")
        );
        let ny: Tz = "America/New_York".parse().unwrap();
        assert_eq!(
            instant_of(&ny, local(2026, 3, 8, 2, 15)),
            utc("2026-03-08T03:15:00-04:00")
        );
    }

    #[test]
    fn fold_uses_first_occurrence() {
        let london: Tz = "Europe/London".parse().unwrap();
        assert_eq!(
            instant_of(&london, local(2026, 10, 25, 1, 30)),
            utc("2026-10-25T01:30:00+01:00")
        );
        let sydney: Tz = "Australia/Sydney".parse().unwrap();
        assert_eq!(
            instant_of(&sydney, local(2026, 4, 5, 2, 30)),
            utc("2026-04-05T02:30:00+11:00")
        );
    }

    #[test]
    fn half_hour_dst_of_lord_howe() {
        // Lord Howe Island moves by 30 minutes: 02:00 → 02:30 on 2026-10-04.
        let lh: Tz = "Australia/Lord_Howe".parse().unwrap();
        assert_eq!(
            instant_of(&lh, local(2026, 10, 4, 2, 10)),
            utc("2026-10-04T02:40:00+11:00")
        );
    }
}
