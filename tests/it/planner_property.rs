//! Property test of the planner against an independent reference.
//!
//! The ground truth of every query is generated structurally (sets of minutes, hours, days of
//! month, months and weekdays, with the crontab(5) star flags) and only then rendered to a cron
//! string or an `at:` list in varied syntax; the schedule under test comes from that YAML through
//! `pacs_warden::core::config::validate`. The reference never calls the planner, `zone::instant_of` or
//! `CronSpec`: it walks every UTC minute of a window, reads the local wall-clock time with
//! chrono-tz, and applies the pinned rules directly:
//! - a wall minute that occurs twice (fall-back) fires at its first occurrence;
//! - a wall minute that is skipped (spring-forward) fires at the instant of that wall time read
//!   with the offset in force before the jump;
//! - restart = fire − lead; fires with equal restart instants share one restart; a restart less
//!   than `merge_within` after the previous kept one joins it, and the chain starts at the first
//!   restart at or after the anchor.
//!
//! A second property checks that `plan::restarts` gives the same restarts whatever `from` it
//! starts at (its anchor search).

use chrono::{
    DateTime, Datelike, NaiveDate, NaiveDateTime, NaiveTime, Offset, TimeDelta, TimeZone, Timelike,
    Utc,
};
use chrono_tz::Tz;
use pacs_warden::core::config::validate;
use pacs_warden::core::plan;
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, TestRunner};
use std::collections::HashSet;
use std::sync::OnceLock;
use std::time::Duration;

// ---------------------------------------------------------------------------------------------
// Ground truth
// ---------------------------------------------------------------------------------------------

/// One cron field: its text and the values it allows (bit v set = value v allowed).
#[derive(Debug, Clone)]
struct Field {
    text: String,
    set: u64,
    /// The text starts with `*` (Vixie's DOM_STAR / DOW_STAR).
    star: bool,
}

/// When a query runs, as plain sets.
#[derive(Debug, Clone)]
enum Truth {
    Cron {
        minutes: u64,
        hours: u64,
        /// Bits 1..=31.
        dom: u64,
        dom_star: bool,
        /// Bits 1..=12.
        months: u64,
        /// Bits 0..=6, 0 = Sunday.
        dow: u64,
        dow_star: bool,
    },
    At {
        /// Minutes after midnight.
        times: Vec<u32>,
        /// Bits 0..=6, 0 = Monday.
        days: u8,
    },
}

impl Truth {
    fn runs_at(&self, wall: NaiveDateTime) -> bool {
        let date = wall.date();
        let bit = |set: u64, v: u32| set >> v & 1 == 1;
        match self {
            Truth::Cron {
                minutes,
                hours,
                dom,
                dom_star,
                months,
                dow,
                dow_star,
            } => {
                let dom_ok = bit(*dom, date.day());
                let dow_ok = bit(*dow, date.weekday().num_days_from_sunday());
                // crontab(5): both restricted → either; one starting with `*` → both.
                let day_ok = if *dom_star || *dow_star {
                    dom_ok && dow_ok
                } else {
                    dom_ok || dow_ok
                };
                bit(*months, date.month())
                    && day_ok
                    && bit(*hours, wall.hour())
                    && bit(*minutes, wall.minute())
            }
            Truth::At { times, days } => {
                bit(u64::from(*days), date.weekday().num_days_from_monday())
                    && times.contains(&(wall.hour() * 60 + wall.minute()))
            }
        }
    }
}

/// A generated query: its truth and its YAML lines (without the `- name:` line).
#[derive(Debug, Clone)]
struct GenQuery {
    truth: Truth,
    yaml: String,
}

#[derive(Debug, Clone)]
struct Case {
    zone: Tz,
    /// First local day of the window; the window is 3 local days.
    d0: NaiveDate,
    queries: Vec<GenQuery>,
    lead_min: i64,
    lead_text: String,
    /// `None`: `merge_within` left out, so it equals `lead`.
    merge: Option<(i64, String)>,
    /// Minutes added to the earliest sound anchor.
    anchor_jitter: i64,
    /// Minutes from the anchor to `from`.
    from_offset: i64,
}

impl Case {
    fn merge_min(&self) -> i64 {
        self.merge.as_ref().map_or(self.lead_min, |(m, _)| *m)
    }

    fn yaml(&self) -> String {
        let mut y = format!("timezone: {}\nlead: {}\n", self.zone.name(), self.lead_text);
        if let Some((_, text)) = &self.merge {
            y.push_str(&format!("merge_within: {text}\n"));
        }
        y.push_str("queries:\n");
        for (i, q) in self.queries.iter().enumerate() {
            y.push_str(&format!("  - name: q{i}\n{}", q.yaml));
        }
        y
    }
}

// ---------------------------------------------------------------------------------------------
// Rendering (deterministic from a seed, so the strategies stay simple)
// ---------------------------------------------------------------------------------------------

/// splitmix64.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn one_in(&mut self, n: usize) -> bool {
        self.below(n) == 0
    }

    fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            items.swap(i, self.below(i + 1));
        }
    }
}

fn set_of(values: &[u32]) -> u64 {
    values.iter().fold(0, |s, v| s | 1 << v)
}

/// lo, lo+step, … up to hi.
fn step_set(lo: u32, hi: u32, step: u32) -> u64 {
    (lo..=hi).step_by(step as usize).fold(0, |s, v| s | 1 << v)
}

fn plain(v: u32, _: &mut Rng) -> String {
    v.to_string()
}

fn random_case(name: &str, rng: &mut Rng) -> String {
    match rng.below(3) {
        0 => name.to_string(),
        1 => name.to_ascii_uppercase(),
        _ => {
            let mut c = name.chars();
            let first = c.next().unwrap().to_ascii_uppercase();
            std::iter::once(first).chain(c).collect()
        }
    }
}

fn month_name(v: u32, rng: &mut Rng) -> String {
    const NAMES: [&str; 12] = [
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ];
    if rng.one_in(2) {
        random_case(NAMES[v as usize - 1], rng)
    } else {
        v.to_string()
    }
}

/// 0 and 7 are both Sunday; 7 has no name.
fn dow_name(v: u32, rng: &mut Rng) -> String {
    const NAMES: [&str; 7] = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];
    if v < 7 && rng.one_in(2) {
        random_case(NAMES[v as usize], rng)
    } else {
        v.to_string()
    }
}

/// Renders a set as a comma list in random order, writing some runs of consecutive values as
/// ranges `a-b` and sometimes repeating an item.
fn render_set(
    set: u64,
    lo: u32,
    hi: u32,
    rng: &mut Rng,
    name: fn(u32, &mut Rng) -> String,
) -> String {
    let values: Vec<u32> = (lo..=hi).filter(|v| set >> v & 1 == 1).collect();
    assert!(!values.is_empty());
    let mut items = Vec::new();
    let mut i = 0;
    while i < values.len() {
        let mut j = i;
        while j + 1 < values.len() && values[j + 1] == values[j] + 1 {
            j += 1;
        }
        if j > i && rng.one_in(2) {
            let end = i + 1 + rng.below(j - i);
            let a = name(values[i], rng);
            let b = name(values[end], rng);
            items.push(format!("{a}-{b}"));
            i = end + 1;
        } else {
            items.push(name(values[i], rng));
            i += 1;
        }
    }
    if rng.one_in(8) {
        let dup = items[rng.below(items.len())].clone();
        items.push(dup);
    }
    rng.shuffle(&mut items);
    items.join(",")
}

fn list_field(
    values: &[u32],
    lo: u32,
    hi: u32,
    seed: u64,
    name: fn(u32, &mut Rng) -> String,
) -> Field {
    let set = set_of(values);
    Field {
        text: render_set(set, lo, hi, &mut Rng(seed), name),
        set,
        star: false,
    }
}

fn star_step(lo: u32, hi: u32, step: u32) -> Field {
    Field {
        text: if step == 1 {
            "*".to_string()
        } else {
            format!("*/{step}")
        },
        set: step_set(lo, hi, step),
        star: true,
    }
}

/// Folds day-of-week 7 onto 0 (both are Sunday).
fn fold_sunday(raw: u64) -> u64 {
    (raw | raw >> 7) & 0x7f
}

// ---------------------------------------------------------------------------------------------
// Strategies
// ---------------------------------------------------------------------------------------------

const ZONES: [&str; 9] = [
    "Europe/London",
    "America/New_York",
    "Australia/Sydney",
    "Asia/Kolkata",
    "Australia/Lord_Howe",
    "America/Santiago",
    "Europe/Berlin",
    "Pacific/Chatham",
    "UTC",
];

/// DST-change dates of several zones, and a leap day.
const DATES: [(i32, u32, u32); 13] = [
    (2026, 3, 8),
    (2026, 3, 29),
    (2026, 4, 5),
    (2026, 10, 4),
    (2026, 10, 25),
    (2026, 11, 1),
    (2027, 3, 14),
    (2027, 3, 28),
    (2027, 4, 4),
    (2027, 10, 3),
    (2027, 10, 31),
    (2027, 11, 7),
    (2028, 2, 28),
];

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

fn offset_at(tz: Tz, at: DateTime<Utc>) -> i64 {
    i64::from(
        tz.offset_from_utc_datetime(&at.naive_utc())
            .fix()
            .local_minus_utc(),
    )
}

/// The local dates (in each zone) on which its UTC offset changes, 2026–2028.
fn transitions(zone: usize) -> &'static [NaiveDate] {
    static ALL: OnceLock<Vec<Vec<NaiveDate>>> = OnceLock::new();
    &ALL.get_or_init(|| {
        ZONES
            .iter()
            .map(|name| {
                let tz: Tz = name.parse().unwrap();
                let mut out = Vec::new();
                let mut day = date(2026, 1, 1).and_time(NaiveTime::MIN).and_utc();
                while day.year() < 2029 {
                    let next = day + TimeDelta::days(1);
                    if offset_at(tz, day) != offset_at(tz, next) {
                        let mut h = day;
                        while offset_at(tz, h) == offset_at(tz, h + TimeDelta::hours(1)) {
                            h += TimeDelta::hours(1);
                        }
                        out.push((h + TimeDelta::hours(1)).with_timezone(&tz).date_naive());
                    }
                    day = next;
                }
                out
            })
            .collect()
    })[zone]
}

#[derive(Debug, Clone, Copy)]
enum WindowChoice {
    Transition(usize),
    Listed(usize),
    Random(i64),
}

fn window_choice() -> impl Strategy<Value = WindowChoice> {
    prop_oneof![
        4 => (0usize..64).prop_map(WindowChoice::Transition),
        1 => (0..DATES.len()).prop_map(WindowChoice::Listed),
        1 => (0i64..366 * 3).prop_map(WindowChoice::Random),
    ]
}

fn resolve(zone: usize, choice: WindowChoice) -> NaiveDate {
    let listed = |i: usize| {
        let (y, m, d) = DATES[i % DATES.len()];
        date(y, m, d)
    };
    match choice {
        WindowChoice::Transition(i) => {
            let t = transitions(zone);
            if t.is_empty() {
                listed(i)
            } else {
                t[i % t.len()]
            }
        }
        WindowChoice::Listed(i) => listed(i),
        WindowChoice::Random(days) => date(2026, 1, 1) + TimeDelta::days(days),
    }
}

/// The local hours of the wall times that are skipped or repeated by the zone's offset changes
/// near the window (`0..=3` when there is none).
fn hot_hours(tz: Tz, d0: NaiveDate) -> Vec<u32> {
    let mut hot = Vec::new();
    let start = d0.and_time(NaiveTime::MIN).and_utc() - TimeDelta::hours(16);
    let minutes = (WINDOW_DAYS * 24 + 32) * 60;
    for k in 0..minutes {
        let u = start + TimeDelta::minutes(k);
        let next = u + TimeDelta::minutes(1);
        if offset_at(tz, u) == offset_at(tz, next) {
            continue;
        }
        let before = u.with_timezone(&tz).naive_local();
        let after = next.with_timezone(&tz).naive_local();
        // A gap skips (before, after); a fold repeats [after, before].
        let (mut w, last) = if after > before {
            (
                before + TimeDelta::minutes(1),
                after - TimeDelta::minutes(1),
            )
        } else {
            (after, before)
        };
        while w <= last {
            hot.push(w.hour());
            w += TimeDelta::minutes(1);
        }
    }
    if hot.is_empty() {
        hot = vec![0, 1, 2, 3];
    }
    hot.sort_unstable();
    hot.dedup();
    hot
}

/// Mostly hours around DST changes.
fn hour_value(hot: Vec<u32>) -> impl Strategy<Value = u32> {
    prop_oneof![
        4 => prop::sample::select(hot),
        2 => prop::sample::select(vec![0u32, 1, 2, 3, 23]),
        1 => 0u32..24,
    ]
}

fn minute_value() -> impl Strategy<Value = u32> {
    prop_oneof![3 => prop::sample::select(vec![0u32, 15, 30, 45, 59]), 1 => 0u32..60]
}

fn minute_field() -> impl Strategy<Value = Field> {
    prop_oneof![
        6 => (prop::collection::vec(minute_value(), 1..=3), any::<u64>())
            .prop_map(|(v, seed)| list_field(&v, 0, 59, seed, plain)),
        1 => prop::sample::select(vec![15u32, 20, 30]).prop_map(|n| star_step(0, 59, n)),
        // `a/n` means a, a+n, … to the end (the crate's documented reading).
        1 => (0u32..15, prop::sample::select(vec![20u32, 30])).prop_map(|(a, n)| Field {
            text: format!("{a}/{n}"),
            set: step_set(a, 59, n),
            star: false,
        }),
        1 => (0u32..20, 20u32..60, prop::sample::select(vec![10u32, 20, 30])).prop_map(
            |(a, b, n)| Field {
                text: format!("{a}-{b}/{n}"),
                set: step_set(a, b, n),
                star: false,
            }
        ),
    ]
}

fn hour_field(hot: Vec<u32>) -> impl Strategy<Value = Field> {
    prop_oneof![
        8 => (prop::collection::vec(hour_value(hot), 1..=4), any::<u64>())
            .prop_map(|(v, seed)| list_field(&v, 0, 23, seed, plain)),
        1 => prop::sample::select(vec![6u32, 8]).prop_map(|n| star_step(0, 23, n)),
        1 => (0u32..3, 2u32..5, prop::sample::select(vec![1u32, 2])).prop_map(|(a, len, n)| {
            let b = a + len;
            Field {
                text: format!("{a}-{b}/{n}"),
                set: step_set(a, b, n),
                star: false,
            }
        }),
    ]
}

/// `near`: the days of month of the window's dates. Other values stay ≤ 28 so that every
/// generated expression runs on some date (validation rejects one that never does).
fn dom_field(near: Vec<u32>) -> impl Strategy<Value = Field> {
    let value = prop_oneof![prop::sample::select(near), 1u32..=28];
    prop_oneof![
        3 => Just(star_step(1, 31, 1)),
        1 => prop::sample::select(vec![2u32, 3]).prop_map(|n| star_step(1, 31, n)),
        3 => (prop::collection::vec(value, 1..=3), any::<u64>())
            .prop_map(|(v, seed)| list_field(&v, 1, 31, seed, plain)),
        // Restricted although it allows many days: it does not start with `*`.
        1 => (1u32..=28, prop::sample::select(vec![1u32, 2, 3])).prop_map(|(a, n)| Field {
            text: format!("{a}-31/{n}"),
            set: step_set(a, 31, n),
            star: false,
        }),
    ]
}

/// Always allows the window's months, so that the near days of month exist.
fn month_field(window_months: u64) -> impl Strategy<Value = Field> {
    prop_oneof![
        2 => Just(star_step(1, 12, 1)),
        2 => (prop::collection::vec(1u32..=12, 0..=2), any::<u64>()).prop_map(move |(extra, seed)| {
            let set = window_months | set_of(&extra);
            Field {
                text: render_set(set, 1, 12, &mut Rng(seed), month_name),
                set,
                star: false,
            }
        }),
    ]
}

fn dow_field() -> impl Strategy<Value = Field> {
    let raw = prop_oneof![
        1 => Just(0b0011_1110u64), // 1-5
        1 => Just(0b0000_0001u64), // 0
        1 => Just(0b1000_0000u64), // 7
        1 => Just(0b1100_0000u64), // 6-7
        1 => Just(0b0100_0001u64), // 0,6
        3 => 1u64..256,
    ];
    let star = |n: u32| {
        let f = star_step(0, 7, n);
        Field {
            set: fold_sunday(f.set),
            ..f
        }
    };
    prop_oneof![
        3 => Just(star(1)),
        1 => prop::sample::select(vec![2u32, 3]).prop_map(star),
        4 => (raw, any::<u64>()).prop_map(|(raw, seed)| Field {
            text: render_set(raw, 0, 7, &mut Rng(seed), dow_name),
            set: fold_sunday(raw),
            star: false,
        }),
    ]
}

fn cron_query(
    near: Vec<u32>,
    window_months: u64,
    hot: Vec<u32>,
) -> impl Strategy<Value = GenQuery> {
    (
        minute_field(),
        hour_field(hot),
        dom_field(near),
        month_field(window_months),
        dow_field(),
        any::<u64>(),
    )
        .prop_map(|(mi, h, dom, mo, dow, seed)| {
            let mut rng = Rng(seed);
            let mut text = String::new();
            for (i, f) in [&mi, &h, &dom, &mo, &dow].iter().enumerate() {
                if i > 0 {
                    text.push_str(if rng.one_in(4) { "  " } else { " " });
                }
                text.push_str(&f.text);
            }
            GenQuery {
                truth: Truth::Cron {
                    minutes: mi.set,
                    hours: h.set,
                    dom: dom.set,
                    dom_star: dom.star,
                    months: mo.set,
                    dow: dow.set,
                    dow_star: dow.star,
                },
                yaml: format!("    cron: \"{text}\"\n"),
            }
        })
}

fn at_query(hot: Vec<u32>) -> impl Strategy<Value = GenQuery> {
    (
        prop::collection::vec((hour_value(hot), minute_value()), 1..=3),
        prop::option::of(1u8..128),
        any::<u64>(),
    )
        .prop_map(|(times, days, seed)| {
            let mut rng = Rng(seed);
            let mut texts: Vec<String> = times
                .iter()
                .map(|&(h, m)| {
                    if h < 10 && rng.one_in(3) {
                        format!("\"{h}:{m:02}\"")
                    } else {
                        format!("\"{h:02}:{m:02}\"")
                    }
                })
                .collect();
            rng.shuffle(&mut texts);
            let mut yaml = if texts.len() == 1 && rng.one_in(2) {
                format!("    at: {}\n", texts[0])
            } else {
                format!("    at: [{}]\n", texts.join(", "))
            };
            if let Some(days) = days {
                const NAMES: [(&str, &str); 7] = [
                    ("mon", "monday"),
                    ("tue", "tuesday"),
                    ("wed", "wednesday"),
                    ("thu", "thursday"),
                    ("fri", "friday"),
                    ("sat", "saturday"),
                    ("sun", "sunday"),
                ];
                let mut names: Vec<String> = (0..7)
                    .filter(|d| days >> d & 1 == 1)
                    .map(|d| {
                        let (short, long) = NAMES[d];
                        random_case(if rng.one_in(2) { short } else { long }, &mut rng)
                    })
                    .collect();
                rng.shuffle(&mut names);
                yaml.push_str(&format!("    days: [{}]\n", names.join(", ")));
            }
            let mut minutes: Vec<u32> = times.iter().map(|&(h, m)| h * 60 + m).collect();
            minutes.sort_unstable();
            minutes.dedup();
            GenQuery {
                truth: Truth::At {
                    times: minutes,
                    days: days.unwrap_or(0x7f),
                },
                yaml,
            }
        })
}

fn query(near: Vec<u32>, window_months: u64, hot: Vec<u32>) -> impl Strategy<Value = GenQuery> {
    prop_oneof![
        3 => cron_query(near, window_months, hot.clone()),
        2 => at_query(hot),
    ]
}

/// Whole minutes as a duration in one of several spellings.
fn duration_text(minutes: i64, seed: u64) -> String {
    let mut rng = Rng(seed);
    if minutes == 0 {
        return ["0", "0s", "0m"][rng.below(3)].to_string();
    }
    let (h, m) = (minutes / 60, minutes % 60);
    match rng.below(4) {
        0 => format!("{}s", minutes * 60),
        1 if h > 0 && m > 0 => format!("{h}h {m}m"),
        1 if h > 0 => format!("{h}h"),
        2 => format!("{minutes}min"),
        _ => format!("{minutes}m"),
    }
}

fn case() -> impl Strategy<Value = Case> {
    (0..ZONES.len(), window_choice())
        .prop_flat_map(|(zone, choice)| {
            let d0 = resolve(zone, choice) - TimeDelta::days(1);
            let dates: Vec<NaiveDate> = (0..3).map(|i| d0 + TimeDelta::days(i)).collect();
            let near: Vec<u32> = dates.iter().map(|d| d.day()).collect();
            let months = dates.iter().fold(0u64, |s, d| s | 1 << d.month());
            let tz: Tz = ZONES[zone].parse().unwrap();
            let hot = hot_hours(tz, d0);
            (
                Just(tz),
                Just(d0),
                prop::collection::vec(query(near, months, hot), 1..=4),
                0i64..=120,
                prop::option::weighted(0.85, 0i64..=90),
                any::<u64>(),
                0i64..=60,
                0i64..=12 * 60,
            )
        })
        .prop_map(
            |(zone, d0, queries, lead_min, merge, seed, anchor_jitter, from_offset)| Case {
                zone,
                d0,
                queries,
                lead_min,
                lead_text: duration_text(lead_min, seed),
                merge: merge.map(|m| (m, duration_text(m, seed.rotate_left(17)))),
                anchor_jitter,
                from_offset,
            },
        )
}

// ---------------------------------------------------------------------------------------------
// The reference
// ---------------------------------------------------------------------------------------------

/// A restart as plain data: its instant and its fires (instant, query index).
type Plain = (DateTime<Utc>, Vec<(DateTime<Utc>, usize)>);

#[derive(Debug, Default, Clone, Copy)]
struct Stats {
    /// Fires of wall times skipped by a spring-forward.
    gap_fires: usize,
    /// Wall times that occurred twice and matched a query.
    fold_fires: usize,
    /// Restarts compared.
    compared: usize,
}

/// Every fire of a wall time on the local dates `[d0, d0 + days)`, sorted by instant then query.
fn reference_fires(
    tz: Tz,
    truths: &[Truth],
    d0: NaiveDate,
    days: i64,
    stats: &mut Stats,
) -> Vec<(DateTime<Utc>, usize)> {
    let first = d0;
    let end = d0 + TimeDelta::days(days);
    let walk_start = first.and_time(NaiveTime::MIN).and_utc() - TimeDelta::hours(16);
    let walk_end = end.and_time(NaiveTime::MIN).and_utc() + TimeDelta::hours(16);
    let mut seen: HashSet<NaiveDateTime> = HashSet::new();
    let mut fires = Vec::new();
    let mut consider = |wall: NaiveDateTime, at: DateTime<Utc>, skipped: bool| {
        if wall.date() < first || wall.date() >= end {
            return;
        }
        let repeated = !seen.insert(wall);
        for (i, t) in truths.iter().enumerate() {
            if t.runs_at(wall) {
                if repeated {
                    stats.fold_fires += 1;
                } else {
                    if skipped {
                        stats.gap_fires += 1;
                    }
                    fires.push((at, i));
                }
            }
        }
    };
    let mut prev: Option<(DateTime<Utc>, NaiveDateTime)> = None;
    let mut u = walk_start;
    while u < walk_end {
        let local = u.with_timezone(&tz).naive_local();
        if let Some((pu, pl)) = prev {
            let jump = (local - pl).num_minutes();
            // Wall minutes strictly between the two readings never showed on the clock: each
            // happens as far after `pu` as it is after `pl`.
            for k in 1..jump {
                let k = TimeDelta::minutes(k);
                consider(pl + k, pu + k, true);
            }
        }
        consider(local, u, false);
        prev = Some((u, local));
        u += TimeDelta::minutes(1);
    }
    fires.sort();
    // A query runs once per instant, even when two of its wall times land on the same one.
    fires.dedup();
    fires
}

/// Groups, merges from `anchor` and keeps restarts in `[from, until)`.
fn reference_restarts(
    fires: &[(DateTime<Utc>, usize)],
    lead: TimeDelta,
    merge_within: TimeDelta,
    anchor: DateTime<Utc>,
    from: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Vec<Plain> {
    let mut grouped: Vec<Plain> = Vec::new();
    for &(at, q) in fires {
        let restart = at - lead;
        if restart < anchor {
            continue;
        }
        match grouped.last_mut() {
            Some((r, list)) if *r == restart => list.push((at, q)),
            _ => grouped.push((restart, vec![(at, q)])),
        }
    }
    let mut kept: Vec<Plain> = Vec::new();
    for (r, list) in grouped {
        match kept.last_mut() {
            Some((k, klist)) if r - *k < merge_within => klist.extend(list),
            _ => kept.push((r, list)),
        }
    }
    kept.retain(|(r, _)| *r >= from && *r < until);
    kept
}

/// The smallest and largest UTC offset (seconds) in force within two days of the window.
fn offset_range(tz: Tz, d0: NaiveDate, days: i64) -> (i64, i64) {
    let start = d0.and_time(NaiveTime::MIN).and_utc() - TimeDelta::days(2);
    let hours = (days + 4) * 24;
    let offsets = (0..=hours).map(|h| offset_at(tz, start + TimeDelta::hours(h)));
    let (mut lo, mut hi) = (i64::MAX, i64::MIN);
    for o in offsets {
        lo = lo.min(o);
        hi = hi.max(o);
    }
    (lo, hi)
}

const WINDOW_DAYS: i64 = 3;

fn check_case(case: &Case) -> Result<Stats, TestCaseError> {
    let yaml = case.yaml();
    let schedule = validate(&yaml, || None)
        .map_err(|p| TestCaseError::fail(format!("generated schedule rejected: {p:?}\n{yaml}")))?;
    prop_assert_eq!(schedule.queries.len(), case.queries.len(), "{}", yaml);
    prop_assert_eq!(
        schedule.lead,
        Duration::from_secs(case.lead_min as u64 * 60),
        "{}",
        yaml
    );
    prop_assert_eq!(
        schedule.merge_within,
        Duration::from_secs(case.merge_min() as u64 * 60),
        "{}",
        yaml
    );

    let lead = TimeDelta::minutes(case.lead_min);
    let merge_within = TimeDelta::minutes(case.merge_min());
    // Any wall time w fires at w − offset for an offset in [lo, hi]. So instants at or after
    // `complete_from` come from wall dates ≥ d0, and instants before `complete_until` from wall
    // dates < d0 + 3: the reference knows every fire in between.
    let (lo, hi) = offset_range(case.zone, case.d0, WINDOW_DAYS);
    let midnight = |d: NaiveDate| d.and_time(NaiveTime::MIN).and_utc();
    let complete_from = midnight(case.d0) - TimeDelta::seconds(lo);
    let complete_until = midnight(case.d0 + TimeDelta::days(WINDOW_DAYS)) - TimeDelta::seconds(hi);
    // Every restart at or after the anchor is known; a restart before `until` has every restart
    // that may merge into it known too.
    let anchor = complete_from - lead + TimeDelta::minutes(case.anchor_jitter);
    let from = anchor + TimeDelta::minutes(case.from_offset);
    let until = complete_until - lead - merge_within;

    let truths: Vec<Truth> = case.queries.iter().map(|q| q.truth.clone()).collect();
    let mut stats = Stats::default();
    let fires = reference_fires(case.zone, &truths, case.d0, WINDOW_DAYS, &mut stats);
    let expected = reference_restarts(&fires, lead, merge_within, anchor, from, until);

    let actual: Vec<Plain> = plan::restarts_anchored(&schedule, anchor, from)
        .take_while(|r| r.at < until)
        .map(|r| (r.at, r.fires.iter().map(|f| (f.at, f.query)).collect()))
        .collect();
    prop_assert_eq!(
        &actual,
        &expected,
        "\n{}anchor {} from {} until {}",
        yaml,
        anchor,
        from,
        until
    );
    stats.compared = expected.len();
    Ok(stats)
}

fn config(cases: u32) -> Config {
    Config {
        cases,
        max_shrink_iters: 2048,
        ..Config::default()
    }
}

proptest! {
    #![proptest_config(config(128))]

    #[test]
    fn planner_matches_reference(case in case()) {
        check_case(&case)?;
    }

    /// `restarts` from `a`, from `b` on, equals `restarts` from `b`: the anchor search finds
    /// where the chain of merges really starts. A dense query on some weekdays only (with a gap
    /// on the others) makes the search look back more than a day.
    #[test]
    fn restarts_do_not_depend_on_from(
        case in case(),
        dense in prop::option::of((
            prop::sample::select(vec![10u32, 15, 20, 30]),
            prop::sample::select(vec!["1-5", "mon-fri", "0,6", "sat,SUN", "6-7", "2-4"]),
        )),
        a_offset in 0i64..(WINDOW_DAYS * 24 * 60),
        b_offset in 0i64..=6 * 60,
    ) {
        let mut yaml = case.yaml();
        if let Some((n, days)) = dense {
            yaml.push_str(&format!("  - name: dense\n    cron: \"*/{n} * * * {days}\"\n"));
        }
        let schedule = validate(&yaml, || None)
            .map_err(|p| TestCaseError::fail(format!("{p:?}\n{yaml}")))?;
        let a = case.d0.and_time(NaiveTime::MIN).and_utc() + TimeDelta::minutes(a_offset);
        let b = a + TimeDelta::minutes(b_offset);
        let from_a: Vec<_> = plan::restarts(&schedule, a).skip_while(|r| r.at < b).take(20).collect();
        let from_b: Vec<_> = plan::restarts(&schedule, b).take(20).collect();
        prop_assert_eq!(from_a, from_b, "\n{}a {} b {}", yaml, a, b);
    }
}

// ---------------------------------------------------------------------------------------------
// Pins: the reference itself on known values
// ---------------------------------------------------------------------------------------------

fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

/// The reference's fires of one daily `at` time over 3 days from `d0`.
fn daily(zone: &str, d0: NaiveDate, h: u32, m: u32) -> Vec<DateTime<Utc>> {
    let truth = Truth::At {
        times: vec![h * 60 + m],
        days: 0x7f,
    };
    reference_fires(
        zone.parse().unwrap(),
        &[truth],
        d0,
        3,
        &mut Stats::default(),
    )
    .into_iter()
    .map(|(at, q)| {
        assert_eq!(q, 0);
        at
    })
    .collect()
}

#[test]
fn reference_reads_a_gap_with_the_offset_before() {
    // 01:30 does not exist in London on 2026-03-29: read with +00:00 it is 01:30Z = 02:30 BST.
    assert_eq!(
        daily("Europe/London", date(2026, 3, 28), 1, 30),
        [
            utc("2026-03-28T01:30:00Z"),
            utc("2026-03-29T01:30:00Z"),
            utc("2026-03-30T00:30:00Z"),
        ]
    );
    // New York 02:15 on 2026-03-08 → 03:15 EDT.
    assert_eq!(
        daily("America/New_York", date(2026, 3, 8), 2, 15)[0],
        utc("2026-03-08T03:15:00-04:00")
    );
    // Lord Howe moves by 30 minutes, 02:00 → 02:30 on 2026-10-04.
    assert_eq!(
        daily("Australia/Lord_Howe", date(2026, 10, 4), 2, 10)[0],
        utc("2026-10-04T02:40:00+11:00")
    );
    // Chatham 02:45 → 03:45 on 2026-09-27: 03:00 read with +12:45.
    assert_eq!(
        daily("Pacific/Chatham", date(2026, 9, 27), 3, 0)[0],
        utc("2026-09-27T04:00:00+13:45")
    );
    // Santiago skips Sunday 00:00–00:59 on 2026-09-06.
    assert_eq!(
        daily("America/Santiago", date(2026, 9, 6), 0, 30)[0],
        utc("2026-09-06T01:30:00-03:00")
    );
}

#[test]
fn reference_takes_the_first_occurrence_of_a_fold() {
    // 01:30 happens twice in London on 2026-10-25; the first is 01:30 BST = 00:30Z.
    assert_eq!(
        daily("Europe/London", date(2026, 10, 24), 1, 30),
        [
            utc("2026-10-24T00:30:00Z"),
            utc("2026-10-25T00:30:00Z"),
            utc("2026-10-26T01:30:00Z"),
        ]
    );
    assert_eq!(
        daily("America/New_York", date(2026, 11, 1), 1, 30)[0],
        utc("2026-11-01T01:30:00-04:00")
    );
    assert_eq!(
        daily("Australia/Sydney", date(2026, 4, 5), 2, 30)[0],
        utc("2026-04-05T02:30:00+11:00")
    );
}

#[test]
fn reference_day_rules_follow_vixie_cron() {
    let fri_or_1_15 = Truth::Cron {
        minutes: 1,
        hours: 1 << 12,
        dom: set_of(&[1, 15]),
        dom_star: false,
        months: step_set(1, 12, 1),
        dow: 1 << 5,
        dow_star: false,
    };
    let at_noon = |d: NaiveDate| d.and_hms_opt(12, 0, 0).unwrap();
    assert!(fri_or_1_15.runs_at(at_noon(date(2026, 11, 1)))); // Sunday the 1st
    assert!(fri_or_1_15.runs_at(at_noon(date(2026, 11, 6)))); // Friday the 6th
    assert!(!fri_or_1_15.runs_at(at_noon(date(2026, 11, 7))));
    let fri_and_odd = Truth::Cron {
        minutes: 1,
        hours: 1 << 12,
        dom: step_set(1, 31, 2),
        dom_star: true,
        months: step_set(1, 12, 1),
        dow: 1 << 5,
        dow_star: false,
    };
    assert!(!fri_and_odd.runs_at(at_noon(date(2026, 11, 6)))); // Friday, even day
    assert!(fri_and_odd.runs_at(at_noon(date(2026, 11, 13)))); // Friday the 13th
    assert!(!fri_and_odd.runs_at(at_noon(date(2026, 11, 11)))); // odd, Wednesday
    assert_eq!(fold_sunday(0b1000_0000), 1);
    assert_eq!(fold_sunday(step_set(0, 7, 2)), 0b0101_0101);
}

#[test]
fn reference_groups_and_merges() {
    let t = |s: &str| utc(s);
    let fires = [
        (t("2026-01-01T10:00:00Z"), 1),
        (t("2026-01-01T10:00:00Z"), 2),
        (t("2026-01-01T10:20:00Z"), 0),
        (t("2026-01-01T10:45:00Z"), 0),
        (t("2026-01-01T11:00:00Z"), 1),
    ];
    let lead = TimeDelta::minutes(15);
    let merged = reference_restarts(
        &fires,
        lead,
        TimeDelta::minutes(30),
        t("2026-01-01T00:00:00Z"),
        t("2026-01-01T00:00:00Z"),
        t("2026-01-02T00:00:00Z"),
    );
    assert_eq!(
        merged,
        [
            (
                t("2026-01-01T09:45:00Z"),
                vec![fires[0], fires[1], fires[2]]
            ),
            (t("2026-01-01T10:30:00Z"), vec![fires[3], fires[4]]),
        ]
    );
    // The anchor decides which restart starts the chain.
    let from_later = reference_restarts(
        &fires,
        lead,
        TimeDelta::minutes(30),
        t("2026-01-01T10:00:00Z"),
        t("2026-01-01T00:00:00Z"),
        t("2026-01-02T00:00:00Z"),
    );
    assert_eq!(
        from_later,
        [
            (t("2026-01-01T10:05:00Z"), vec![fires[2], fires[3]]),
            (t("2026-01-01T10:45:00Z"), vec![fires[4]]),
        ]
    );
}

/// A fixed case through the whole harness: London, around the spring-forward.
#[test]
fn harness_on_a_known_case() {
    let case = Case {
        zone: "Europe/London".parse().unwrap(),
        d0: date(2026, 3, 28),
        queries: vec![
            GenQuery {
                truth: Truth::Cron {
                    minutes: 1 << 30,
                    hours: set_of(&[1, 2]),
                    dom: step_set(1, 31, 1),
                    dom_star: true,
                    months: step_set(1, 12, 1),
                    dow: 0x7f,
                    dow_star: true,
                },
                yaml: "    cron: \"30 1-2 * * *\"\n".into(),
            },
            GenQuery {
                truth: Truth::At {
                    times: vec![90],
                    days: 1 << 6,
                },
                yaml: "    at: \"01:30\"\n    days: [sun]\n".into(),
            },
        ],
        lead_min: 15,
        lead_text: "15m".into(),
        merge: Some((0, "0".into())),
        anchor_jitter: 0,
        from_offset: 0,
    };
    let stats = check_case(&case).unwrap();
    assert_eq!(stats.gap_fires, 2);
    assert!(stats.compared >= 5, "{stats:?}");
    // On the 29th, 01:30 (skipped) and 02:30 BST are the same instant: one restart, with the
    // cron query once (its two wall times are one run) and the `at` query once.
    let fires = reference_fires(
        case.zone,
        &case
            .queries
            .iter()
            .map(|q| q.truth.clone())
            .collect::<Vec<_>>(),
        case.d0,
        3,
        &mut Stats::default(),
    );
    let t = utc("2026-03-29T01:30:00Z");
    assert_eq!(
        fires.iter().filter(|(at, _)| *at == t).collect::<Vec<_>>(),
        [&(t, 0), &(t, 1)]
    );
}

/// The generator reaches DST gaps and folds often enough for the property to mean something.
#[test]
fn generated_cases_hit_gaps_and_folds() {
    let mut runner = TestRunner::deterministic();
    let strategy = case();
    let (mut gaps, mut folds, mut compared) = (0, 0, 0);
    let n = 200;
    for _ in 0..n {
        let case = strategy.new_tree(&mut runner).unwrap().current();
        let truths: Vec<Truth> = case.queries.iter().map(|q| q.truth.clone()).collect();
        let mut stats = Stats::default();
        let fires = reference_fires(case.zone, &truths, case.d0, WINDOW_DAYS, &mut stats);
        gaps += usize::from(stats.gap_fires > 0);
        folds += usize::from(stats.fold_fires > 0);
        compared += usize::from(!fires.is_empty());
    }
    assert!(gaps * 10 >= n, "only {gaps} of {n} cases fire in a gap");
    assert!(folds * 10 >= n, "only {folds} of {n} cases fire in a fold");
    assert!(
        compared * 2 >= n,
        "only {compared} of {n} cases fire at all"
    );
}
