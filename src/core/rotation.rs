//! Which log files to rename and delete, so that logs stay small.
//!
//! Owns: the names of rotated log files and their order, and the decision for a log capped by
//! size. A rotated file is named after the period its last lines belong to, as the daemon's
//! own log always was: `NAME.YYYY-MM-DD` (hourly: `NAME.YYYY-MM-DD-HH`), and `NAME.<that>.N`
//! (N = 1, 2, …) when the name is taken, so a log rotated by size several times a day gets
//! `NAME.2026-11-30`, `NAME.2026-11-30.1`, `NAME.2026-11-30.2`, oldest first. Only names of
//! exactly that form are counted and deleted (never `NAME.old` or `NAME.2026-11-30.gz`).
//!
//! Pure: names, sizes and days in, names out. The renames, deletions and the modification
//! times are the shell's (`shell::logging`, `shell::sequence`, `shell::query_run`).

use chrono::NaiveDate;

/// The most `.N` tried for a free rotated name.
const MAX_N: u32 = 1000;

/// Where a rotated file of `base` sorts: its period (`2026-11-30` or `2026-11-30-14`) and its
/// `.N` (0 without). `None`: not a rotated file of `base`.
fn rotated_key<'n>(name: &'n str, base: &str) -> Option<(&'n str, u32)> {
    let rest = name.strip_prefix(base)?.strip_prefix('.')?;
    let date = rest.get(..10)?;
    NaiveDate::parse_from_str(date, "%Y-%m-%d").ok()?;
    let after = &rest[10..];
    let hour = after
        .strip_prefix('-')
        .and_then(|h| h.get(..2))
        .filter(|h| h.bytes().all(|b| b.is_ascii_digit()));
    let (period, after) = match hour {
        Some(_) => (&rest[..13], &after[3..]),
        None => (date, after),
    };
    let n = match after {
        "" => 0,
        n => {
            let n = n.strip_prefix('.')?;
            if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) || n.starts_with('0') {
                return None;
            }
            n.parse().ok()?
        }
    };
    Some((period, n))
}

/// Whether `name` is a rotated file of `base`.
pub fn is_rotated(name: &str, base: &str) -> bool {
    rotated_key(name, base).is_some()
}

/// Of the files `names` (of one folder), the rotated files of `base` to delete so that `keep`
/// are left: the oldest (by period, then `.N`).
pub fn to_delete(names: &[String], base: &str, keep: usize) -> Vec<String> {
    let mut rotated: Vec<(&str, u32, &String)> = names
        .iter()
        .filter_map(|n| rotated_key(n, base).map(|(p, i)| (p, i, n)))
        .collect();
    rotated.sort();
    let excess = rotated.len().saturating_sub(keep);
    rotated[..excess]
        .iter()
        .map(|(_, _, n)| n.to_string())
        .collect()
}

/// The name `base` is renamed to for period `suffix`, given the files `names` of its folder:
/// `base.<suffix>`, else the first free `base.<suffix>.N` after the highest taken one (so that
/// `.N` keeps growing with age order even if an older one was deleted). `None`: no free name.
pub fn rotated_name(base: &str, suffix: &str, names: &[String]) -> Option<String> {
    let plain = format!("{base}.{suffix}");
    let highest = names
        .iter()
        .filter_map(|n| rotated_key(n, base))
        .filter(|(p, _)| *p == suffix)
        .map(|(_, n)| n)
        .max();
    match highest {
        None if !names.contains(&plain) => Some(plain),
        None => Some(format!("{plain}.1")),
        Some(n) if n < MAX_N => Some(format!("{plain}.{}", n + 1)),
        Some(_) => None,
    }
}

/// What to do with a log capped by size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rotate {
    /// Rename the log to this name (in its folder).
    pub to: String,
    /// Then delete these (in its folder).
    pub delete: Vec<String>,
}

/// A log file `base` of `size` bytes whose last line was written on `day` (UTC), in a folder
/// holding `names`: rotate it when it is larger than `max_size` (to its day's name), keeping
/// `keep` rotated files. `None`: leave it.
pub fn by_size(
    base: &str,
    size: u64,
    max_size: u64,
    keep: usize,
    day: NaiveDate,
    names: &[String],
) -> Option<Rotate> {
    if size <= max_size {
        return None;
    }
    let to = rotated_name(base, &day.format("%Y-%m-%d").to_string(), names)?;
    let mut after: Vec<String> = names.to_vec();
    after.push(to.clone());
    let delete = to_delete(&after, base, keep);
    Some(Rotate { to, delete })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(n: &[&str]) -> Vec<String> {
        n.iter().map(|s| s.to_string()).collect()
    }

    fn day(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn the_oldest_rotated_files_beyond_keep_are_deleted() {
        let n = names(&[
            "p.log",
            "p.log.2026-11-28",
            "p.log.2026-11-30",
            "p.log.2026-11-29",
            "p.log.2026-11-29.1",
            "p.log.old",
            "p.log.2026-11-01.gz",
            "other.log.2026-01-01",
            "p.log.2026-11-27-23",
        ]);
        assert_eq!(
            to_delete(&n, "p.log", 3),
            ["p.log.2026-11-27-23", "p.log.2026-11-28"]
        );
        assert!(to_delete(&n, "p.log", 14).is_empty());
    }

    #[test]
    fn numbered_names_of_one_day_sort_by_number_not_text() {
        let n = names(&[
            "w.log.2026-11-30.10",
            "w.log.2026-11-30.9",
            "w.log.2026-11-30",
            "w.log.2026-11-30.2",
            "w.log.2026-11-29.11",
        ]);
        assert_eq!(
            to_delete(&n, "w.log", 2),
            [
                "w.log.2026-11-29.11",
                "w.log.2026-11-30",
                "w.log.2026-11-30.2"
            ]
        );
    }

    #[test]
    fn a_rotated_name_is_never_one_that_is_taken() {
        assert_eq!(
            rotated_name("w.log", "2026-11-30", &names(&["w.log"])).as_deref(),
            Some("w.log.2026-11-30")
        );
        assert_eq!(
            rotated_name("w.log", "2026-11-30", &names(&["w.log.2026-11-30"])).as_deref(),
            Some("w.log.2026-11-30.1")
        );
        // After the highest, even when a lower one was deleted: `.N` grows with age.
        assert_eq!(
            rotated_name(
                "w.log",
                "2026-11-30",
                &names(&["w.log.2026-11-30.3", "w.log.2026-11-29.7"])
            )
            .as_deref(),
            Some("w.log.2026-11-30.4")
        );
    }

    #[test]
    fn a_log_is_rotated_only_when_larger_than_its_limit_and_keeps_keep() {
        let today = day("2026-11-30");
        let here = names(&["w.log", "w.log.2026-11-28", "w.log.2026-11-29"]);
        assert_eq!(by_size("w.log", 1000, 1000, 2, today, &here), None);
        assert_eq!(
            by_size("w.log", 1001, 1000, 2, today, &here),
            Some(Rotate {
                to: "w.log.2026-11-30".into(),
                delete: names(&["w.log.2026-11-28"]),
            })
        );
        assert_eq!(
            by_size("w.log", 1001, 1000, 5, today, &here),
            Some(Rotate {
                to: "w.log.2026-11-30".into(),
                delete: vec![],
            })
        );
    }
}
