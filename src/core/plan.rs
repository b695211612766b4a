//! The planner: schedule + "now" → the restarts to run, in order.
//!
//! Owns: the pinned rules that turn queries into restart instants (wall-clock times in the
//! schedule's zone, DST gaps and folds, `lead`, sharing, merging). Pure: no clock, no files, no
//! processes; `from` is a parameter, so tests use any instant.
//!
//! Pipeline: `Fires` (each query's instants, ascending) → `Merged` (queries with the same
//! restart instant share one restart, and a restart less than `merge_within` after the previous
//! kept one joins it). Merging is defined over the whole timeline, so `restarts` first finds an
//! instant before `from` where the chain of merges provably restarts (`anchor`).

use crate::core::config::{Schedule, When};
use crate::core::zone::instant_of;
use chrono::{DateTime, Datelike, NaiveDate, NaiveTime, TimeDelta, Timelike, Utc};
use std::collections::VecDeque;

/// One planned restart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Restart {
    pub at: DateTime<Utc>,
    /// The query runs it serves, ordered by time then by their order in the file.
    pub fires: Vec<Fire>,
}

/// One run of a query.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Fire {
    pub at: DateTime<Utc>,
    /// Index into `Schedule::queries`.
    pub query: usize,
}

impl Restart {
    /// Indexes of the workers this restart touches: every worker a served query needs, in the
    /// order of the file, except keep-alive services (`restart_before_queries: false`).
    pub fn workers(&self, schedule: &Schedule) -> Vec<usize> {
        let mut needed = vec![false; schedule.workers.len()];
        for fire in &self.fires {
            for &w in &schedule.queries[fire.query].workers {
                needed[w] = true;
            }
        }
        (0..needed.len())
            .filter(|&w| needed[w] && schedule.workers[w].restart_before_queries)
            .collect()
    }
}

/// The restarts at or after `from`, in order, as if the planner had always been running.
pub fn restarts(schedule: &Schedule, from: DateTime<Utc>) -> impl Iterator<Item = Restart> + '_ {
    restarts_anchored(schedule, anchor(schedule, from), from)
}

/// The restarts at or after `from` when the chain of merges is taken to start at `anchor`
/// (the first restart at or after `anchor` is kept). `restarts` finds the right anchor; this is
/// public so tests can compare against a reference that starts at a known instant.
pub fn restarts_anchored(
    schedule: &Schedule,
    anchor: DateTime<Utc>,
    from: DateTime<Utc>,
) -> impl Iterator<Item = Restart> + '_ {
    Merged {
        inner: Fires::new(schedule, anchor).peekable(),
        lead: delta(schedule.lead),
        merge_within: delta(schedule.merge_within),
        fires: Vec::new(),
    }
    .skip_while(move |r| r.at < from)
}

/// Look-back windows for the start of the merge chain, after a first one just over twice the
/// merge window (enough when the last hour held a quiet gap, which is the usual case, and
/// cheap for a query every few seconds). Lead and merge window are at most a day, so the
/// 1-day window is always wide enough to tell.
const ANCHOR_WINDOWS: [i64; 3] = [1, 7, 35];

/// How many restarts the look-back may read. A schedule with a query every few seconds and a
/// long merge window has no quiet gap at all; reading 35 days of it would take seconds.
const ANCHOR_BUDGET: usize = 50_000;

/// An instant at or before `from` at which a restart is certainly kept: a restart preceded by a
/// gap of at least `merge_within` starts a new chain whatever came before it.
///
/// When restarts leave no such gap within the look-back (a query every few minutes with a long
/// merge window), the chain is taken to start at a fixed point: UTC midnight at the start of
/// the longest window read (35 days before `from`, or fewer when the next window would read
/// more than `ANCHOR_BUDGET` restarts). Fixed, so that planning again a moment later gives the
/// same restarts.
fn anchor(schedule: &Schedule, from: DateTime<Utc>) -> DateTime<Utc> {
    let m = delta(schedule.merge_within);
    if m.is_zero() {
        return from;
    }
    let lead = delta(schedule.lead);
    let mut window_start = from;
    let mut read_per_second = 0.0_f64;
    let first = m * 2 + TimeDelta::hours(1);
    let windows = std::iter::once(first).chain(ANCHOR_WINDOWS.map(TimeDelta::days));
    for window in windows {
        if read_per_second * window.num_seconds() as f64 > ANCHOR_BUDGET as f64 {
            break; // too dense to look further back: keep the last window's start
        }
        window_start = from - window;
        // `prev` starts at the window's start: nothing lies between it and the first restart.
        let mut prev = window_start;
        let mut found = None;
        let mut last_at = None;
        let mut read = 0usize;
        for fire in Fires::new(schedule, window_start) {
            let at = fire.at - lead;
            if at >= from {
                break;
            }
            read += 1;
            if last_at == Some(at) {
                continue; // shares the previous restart
            }
            if at - prev >= m {
                found = Some(at);
            }
            prev = at;
            last_at = Some(at);
        }
        if from - prev >= m {
            // The first restart at or after `from` follows a quiet gap.
            return from;
        }
        if let Some(at) = found {
            return at;
        }
        read_per_second = read as f64 / window.num_seconds() as f64;
    }
    window_start.date_naive().and_time(NaiveTime::MIN).and_utc()
}

fn delta(d: std::time::Duration) -> TimeDelta {
    TimeDelta::from_std(d).expect("validated durations are at most a day")
}

/// Query instants whose restart instant (instant − lead) is at or after a start, ascending.
///
/// Works through the local calendar days on which some query runs, jumping over the others
/// (each query knows its next date, `next_date`), so a yearly query costs one step a year.
/// Instants of one day are not always ascending (a time in a DST gap moves later), nor always
/// after the previous day's, so each day's instants are sorted into `pending` and released once
/// no later day can produce an earlier one.
struct Fires<'a> {
    schedule: &'a Schedule,
    /// `start + lead`: the first query instant kept.
    earliest: DateTime<Utc>,
    /// Each query's next local date to look at; `None` when it has no more.
    query_dates: Vec<Option<NaiveDate>>,
    /// The earliest of `query_dates`: the next day to fill.
    next_date: Option<NaiveDate>,
    /// Fires before this instant can be released: no day from `next_date` on has an earlier one.
    released_before: DateTime<Utc>,
    /// Fires found but not yet released, ascending.
    pending: VecDeque<Fire>,
    /// One day's fires, before they join `pending`.
    day: Vec<Fire>,
    /// One day's (second of the day, query) pairs, packed (see `fill_day`).
    keys: Vec<u64>,
    times: Vec<NaiveTime>,
}

/// No zone is ahead of UTC by more than this, so the instants of a local day D are all after
/// D 00:00 (read as UTC) minus this margin.
const MAX_OFFSET: TimeDelta = TimeDelta::hours(26);

/// The first date at or after `from` on which `when` names a time; `None` when there is none
/// (validation rejects such queries; the cron search gives up after 400 years).
fn next_date(when: &When, from: NaiveDate) -> Option<NaiveDate> {
    match when {
        When::Cron(spec) => spec.next_date(from),
        When::At { times, days } => {
            if times.is_empty() {
                return None;
            }
            from.iter_days()
                .take(7)
                .find(|d| days.contains(d.weekday()))
        }
    }
}

impl<'a> Fires<'a> {
    fn new(schedule: &'a Schedule, start: DateTime<Utc>) -> Self {
        let lead = delta(schedule.lead);
        let first = (start + lead).naive_utc().date() - TimeDelta::days(2);
        let query_dates: Vec<_> = schedule
            .queries
            .iter()
            .map(|q| next_date(&q.when, first))
            .collect();
        let mut fires = Fires {
            schedule,
            earliest: start
                .checked_add_signed(lead)
                .unwrap_or(DateTime::<Utc>::MAX_UTC),
            next_date: None,
            released_before: DateTime::<Utc>::MIN_UTC,
            query_dates,
            pending: VecDeque::new(),
            day: Vec::new(),
            keys: Vec::new(),
            times: Vec::new(),
        };
        fires.set_next_date();
        fires
    }

    fn set_next_date(&mut self) {
        self.next_date = self.query_dates.iter().flatten().min().copied();
        if let Some(date) = self.next_date {
            self.released_before = date
                .and_time(NaiveTime::MIN)
                .and_utc()
                .checked_sub_signed(MAX_OFFSET)
                .unwrap_or(DateTime::<Utc>::MIN_UTC);
        }
    }

    fn fill_day(&mut self, date: NaiveDate) {
        let day = LocalDay::new(&self.schedule.timezone, date);
        // On a day with one offset the instants are in the order of the times of day, so
        // (second of the day, query) packed in a u64 sorts them cheaply; other times (a DST
        // day, fractions of a second) are sorted as fires.
        let packed = day.offset.is_some() && u32::try_from(self.schedule.queries.len()).is_ok();
        self.day.clear();
        self.keys.clear();
        for (i, query) in self.schedule.queries.iter().enumerate() {
            if self.query_dates[i] != Some(date) {
                continue;
            }
            self.times.clear();
            query.when.times_on(date, &mut self.times);
            for &time in &self.times {
                if packed && time.nanosecond() == 0 {
                    self.keys
                        .push(u64::from(time.num_seconds_from_midnight()) << 32 | i as u64);
                } else {
                    let at = day.instant(time);
                    if at >= self.earliest {
                        self.day.push(Fire { at, query: i });
                    }
                }
            }
            self.query_dates[i] = date.succ_opt().and_then(|d| next_date(&query.when, d));
        }
        self.set_next_date();
        let unpacked = self.day.len();
        self.keys.sort_unstable();
        for &key in &self.keys {
            let time = NaiveTime::from_num_seconds_from_midnight_opt((key >> 32) as u32, 0)
                .expect("a second of the day");
            let at = day.instant(time);
            if at >= self.earliest {
                let query = (key & u64::from(u32::MAX)) as usize;
                self.day.push(Fire { at, query });
            }
        }
        if unpacked > 0 {
            self.day.sort_unstable();
        }
        let in_order = match (self.pending.back(), self.day.first()) {
            (Some(last), Some(first)) => last <= first,
            _ => true,
        };
        self.pending.extend(self.day.drain(..));
        if !in_order {
            // Around a DST change a day's first instants can precede the previous day's last.
            self.pending.make_contiguous().sort_unstable();
        }
    }
}

/// One local calendar day in a zone: turns its wall-clock times into instants by
/// `zone::instant_of`, with a shortcut for the usual day without an offset change.
struct LocalDay<'a> {
    tz: &'a chrono_tz::Tz,
    /// The day before, the day, the day after.
    dates: [NaiveDate; 3],
    /// The offset from UTC in seconds, when the whole day has one.
    offset: Option<i64>,
}

impl<'a> LocalDay<'a> {
    fn new(tz: &'a chrono_tz::Tz, date: NaiveDate) -> Self {
        let midnight = date.and_time(NaiveTime::MIN);
        let start = instant_of(tz, midnight);
        let (before, after) = (date.pred_opt(), date.succ_opt());
        // Zones change offset at most once a day, so a day of exactly 24 hours has none.
        let whole_day = after.map(|next| instant_of(tz, next.and_time(NaiveTime::MIN)) - start);
        let offset = (whole_day == Some(TimeDelta::days(1)) && before.is_some())
            .then(|| (midnight - start.naive_utc()).num_seconds());
        LocalDay {
            tz,
            dates: [before.unwrap_or(date), date, after.unwrap_or(date)],
            offset,
        }
    }

    fn instant(&self, time: NaiveTime) -> DateTime<Utc> {
        let Some(offset) = self.offset else {
            return instant_of(self.tz, self.dates[1].and_time(time));
        };
        // The UTC date is the day before, the day or the day after (|offset| < 1 day).
        let secs = i64::from(time.num_seconds_from_midnight()) - offset;
        let day = secs.div_euclid(86_400);
        let of_day = secs.rem_euclid(86_400) as u32;
        let utc_time = NaiveTime::from_num_seconds_from_midnight_opt(of_day, time.nanosecond())
            .expect("a second of the day");
        self.dates[(day + 1) as usize].and_time(utc_time).and_utc()
    }
}

impl Iterator for Fires<'_> {
    type Item = Fire;

    fn next(&mut self) -> Option<Fire> {
        loop {
            let Some(date) = self.next_date else {
                return self.pending.pop_front();
            };
            if let Some(first) = self.pending.front() {
                if first.at < self.released_before {
                    return self.pending.pop_front();
                }
            }
            self.fill_day(date);
        }
    }
}

/// Fires → restarts. Fires at the same instant share a restart; a restart less than
/// `merge_within` after the previous kept restart joins it. Both compare query instants with
/// the kept restart's first one (restart instants are query instants minus the same lead), so
/// fires are added straight to the restart they join.
struct Merged<'a> {
    inner: std::iter::Peekable<Fires<'a>>,
    lead: TimeDelta,
    merge_within: TimeDelta,
    /// The restart being gathered (one allocation of the right size per restart).
    fires: Vec<Fire>,
}

impl Iterator for Merged<'_> {
    type Item = Restart;

    fn next(&mut self) -> Option<Restart> {
        let first = self.inner.next()?;
        let joins_before = first
            .at
            .checked_add_signed(self.merge_within)
            .unwrap_or(DateTime::<Utc>::MAX_UTC);
        self.fires.clear();
        self.fires.push(first);
        while let Some(f) = self
            .inner
            .next_if(|f| f.at == first.at || f.at < joins_before)
        {
            // A query runs once per instant, even when two of its wall-clock times land on the
            // same one (01:30 in a London spring gap is 02:30 BST).
            if self.fires.last() != Some(&f) {
                self.fires.push(f);
            }
        }
        Some(Restart {
            at: first.at - self.lead,
            fires: self.fires.as_slice().to_vec(),
        })
    }
}
