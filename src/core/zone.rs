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

/// The IANA zone for a Windows time zone key name (`GMT Standard Time` → `Europe/London`), as
/// CLDR's windowsZones table maps it for the world (territory 001); `None` for a name not in
/// the table (then `check` asks for `timezone:`).
pub fn iana_of_windows_zone(key: &str) -> Option<&'static str> {
    WINDOWS_ZONES
        .iter()
        .find(|(windows, _)| windows.eq_ignore_ascii_case(key.trim()))
        .map(|(_, iana)| *iana)
}

/// Windows time zone key names (the names under
/// `HKLM\SOFTWARE\Microsoft\Windows NT\CurrentVersion\Time Zones`) and their IANA zones, from
/// CLDR's `windowsZones.xml`, territory 001. Where CLDR keeps an old IANA name (Asia/Calcutta,
/// America/Buenos_Aires, Europe/Kiev…) the current one is used; chrono-tz knows both. The
/// common zones, OpenREM's sites first; not every Windows zone.
const WINDOWS_ZONES: &[(&str, &str)] = &[
    // Europe
    ("GMT Standard Time", "Europe/London"),
    ("Greenwich Standard Time", "Atlantic/Reykjavik"),
    ("W. Europe Standard Time", "Europe/Berlin"),
    ("Romance Standard Time", "Europe/Paris"),
    ("Central Europe Standard Time", "Europe/Budapest"),
    ("Central European Standard Time", "Europe/Warsaw"),
    ("GTB Standard Time", "Europe/Bucharest"),
    ("FLE Standard Time", "Europe/Kyiv"),
    ("E. Europe Standard Time", "Europe/Chisinau"),
    ("Turkey Standard Time", "Europe/Istanbul"),
    ("Russian Standard Time", "Europe/Moscow"),
    ("Kaliningrad Standard Time", "Europe/Kaliningrad"),
    ("Belarus Standard Time", "Europe/Minsk"),
    ("Azores Standard Time", "Atlantic/Azores"),
    ("Cape Verde Standard Time", "Atlantic/Cape_Verde"),
    // Africa and the Middle East
    ("Morocco Standard Time", "Africa/Casablanca"),
    ("W. Central Africa Standard Time", "Africa/Lagos"),
    ("South Africa Standard Time", "Africa/Johannesburg"),
    ("E. Africa Standard Time", "Africa/Nairobi"),
    ("Egypt Standard Time", "Africa/Cairo"),
    ("Namibia Standard Time", "Africa/Windhoek"),
    ("Israel Standard Time", "Asia/Jerusalem"),
    ("Jordan Standard Time", "Asia/Amman"),
    ("Middle East Standard Time", "Asia/Beirut"),
    ("Arabic Standard Time", "Asia/Baghdad"),
    ("Arab Standard Time", "Asia/Riyadh"),
    ("Arabian Standard Time", "Asia/Dubai"),
    ("Iran Standard Time", "Asia/Tehran"),
    // Asia
    ("Afghanistan Standard Time", "Asia/Kabul"),
    ("Pakistan Standard Time", "Asia/Karachi"),
    ("India Standard Time", "Asia/Kolkata"),
    ("Sri Lanka Standard Time", "Asia/Colombo"),
    ("Nepal Standard Time", "Asia/Kathmandu"),
    ("Bangladesh Standard Time", "Asia/Dhaka"),
    ("Myanmar Standard Time", "Asia/Yangon"),
    ("SE Asia Standard Time", "Asia/Bangkok"),
    ("China Standard Time", "Asia/Shanghai"),
    ("Singapore Standard Time", "Asia/Singapore"),
    ("Taipei Standard Time", "Asia/Taipei"),
    ("W. Australia Standard Time", "Australia/Perth"),
    ("Tokyo Standard Time", "Asia/Tokyo"),
    ("Korea Standard Time", "Asia/Seoul"),
    // Australia and the Pacific
    ("Cen. Australia Standard Time", "Australia/Adelaide"),
    ("AUS Central Standard Time", "Australia/Darwin"),
    ("E. Australia Standard Time", "Australia/Brisbane"),
    ("AUS Eastern Standard Time", "Australia/Sydney"),
    ("Tasmania Standard Time", "Australia/Hobart"),
    ("New Zealand Standard Time", "Pacific/Auckland"),
    ("Fiji Standard Time", "Pacific/Fiji"),
    ("Hawaiian Standard Time", "Pacific/Honolulu"),
    // The Americas
    ("Alaskan Standard Time", "America/Anchorage"),
    ("Pacific Standard Time", "America/Los_Angeles"),
    ("Pacific Standard Time (Mexico)", "America/Tijuana"),
    ("US Mountain Standard Time", "America/Phoenix"),
    ("Mountain Standard Time", "America/Denver"),
    ("Central Standard Time", "America/Chicago"),
    ("Central Standard Time (Mexico)", "America/Mexico_City"),
    ("Canada Central Standard Time", "America/Regina"),
    ("Central America Standard Time", "America/Guatemala"),
    ("Eastern Standard Time", "America/New_York"),
    ("US Eastern Standard Time", "America/Indiana/Indianapolis"),
    ("SA Pacific Standard Time", "America/Bogota"),
    ("Atlantic Standard Time", "America/Halifax"),
    ("Newfoundland Standard Time", "America/St_Johns"),
    ("Venezuela Standard Time", "America/Caracas"),
    ("SA Western Standard Time", "America/La_Paz"),
    ("Pacific SA Standard Time", "America/Santiago"),
    ("E. South America Standard Time", "America/Sao_Paulo"),
    ("Argentina Standard Time", "America/Argentina/Buenos_Aires"),
    ("Montevideo Standard Time", "America/Montevideo"),
    // Fixed offsets ("UTC-11" is 11 hours behind UTC, which IANA spells Etc/GMT+11)
    ("UTC", "UTC"),
    ("UTC-11", "Etc/GMT+11"),
    ("UTC-02", "Etc/GMT+2"),
    ("UTC+12", "Etc/GMT-12"),
    ("Dateline Standard Time", "Etc/GMT+12"),
];

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
    fn windows_zone_names_map_to_iana_zones() {
        // The zones of OpenREM's sites.
        for (windows, iana) in [
            ("GMT Standard Time", "Europe/London"),
            ("W. Europe Standard Time", "Europe/Berlin"),
            ("Romance Standard Time", "Europe/Paris"),
            ("Eastern Standard Time", "America/New_York"),
            ("Central Standard Time", "America/Chicago"),
            ("Mountain Standard Time", "America/Denver"),
            ("Pacific Standard Time", "America/Los_Angeles"),
            ("AUS Eastern Standard Time", "Australia/Sydney"),
            ("India Standard Time", "Asia/Kolkata"),
            ("New Zealand Standard Time", "Pacific/Auckland"),
            ("UTC", "UTC"),
        ] {
            assert_eq!(iana_of_windows_zone(windows), Some(iana), "{windows}");
        }
        // Registry values sometimes differ in case or carry trailing blanks.
        assert_eq!(
            iana_of_windows_zone("gmt standard time "),
            Some("Europe/London")
        );
        assert_eq!(iana_of_windows_zone("Mars Standard Time"), None);
        assert_eq!(iana_of_windows_zone(""), None);
    }

    #[test]
    fn the_windows_zone_table_is_sound() {
        assert!(WINDOWS_ZONES.len() >= 40, "{}", WINDOWS_ZONES.len());
        let mut seen = std::collections::HashSet::new();
        for (windows, iana) in WINDOWS_ZONES {
            assert!(seen.insert(windows.to_ascii_lowercase()), "{windows} twice");
            let tz: Tz = iana
                .parse()
                .unwrap_or_else(|_| panic!("{iana} is not a zone"));
            // Each zone's standard offset (in January or July, whichever is smaller north of
            // the equator; the larger is DST only where the zone has DST) matches the Windows
            // name's fixed offset, where the name states one.
            if let Some(hours) = windows.strip_prefix("UTC").filter(|h| !h.is_empty()) {
                let hours: i32 = hours.parse().unwrap();
                let jan = tz
                    .offset_from_utc_datetime(&local(2026, 1, 15, 12, 0))
                    .fix()
                    .local_minus_utc();
                assert_eq!(jan, hours * 3600, "{windows} → {iana}");
            }
        }
        // Spot checks of offsets in January 2026 (standard time in the north).
        for (windows, hours_x2) in [
            ("GMT Standard Time", 0),
            ("Romance Standard Time", 2),
            ("India Standard Time", 11),
            ("Nepal Standard Time", 11), // +05:45, in whole half hours
            ("AUS Eastern Standard Time", 22),
            ("Eastern Standard Time", -10),
            ("Pacific Standard Time", -16),
            ("Dateline Standard Time", -24),
        ] {
            let tz: Tz = iana_of_windows_zone(windows).unwrap().parse().unwrap();
            let off = tz
                .offset_from_utc_datetime(&local(2026, 1, 15, 12, 0))
                .fix()
                .local_minus_utc();
            assert_eq!(off / 1800, hours_x2, "{windows}");
        }
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
