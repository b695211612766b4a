//! Which restarts are due, as the wall clock moves — forwards, in jumps, or backwards.
//!
//! Owns: the daemon's memory of how far it has looked (`checked`) and the catch-up rule. Pure:
//! instants come in as arguments, so tests can step the clock anywhere without sleeping.
//!
//! Rules:
//! - A restart is due once the clock reaches it; each restart is decided once.
//! - When the clock jumps past restarts (the machine slept, the clock was stepped forward), a
//!   restart whose first query is still ahead runs at once (catch-up); one whose first query
//!   has already begun is skipped: restarting then would kill the query it was meant to serve.
//! - A restart at most `ON_TIME` late counts as on time and runs even with `lead: 0` (its
//!   query instant is its own instant; timers wake a few milliseconds late).
//! - When the clock goes backwards, nothing already decided is decided again; the daemon waits
//!   until the clock passes the furthest point it had reached.
//! - A reload plans from the moment it reads the file: a restart of the edited schedule whose
//!   instant is before that moment was not planned when its instant came, so it is never run,
//!   not even within `ON_TIME` (its query may have begun). Restarts the old schedule also had
//!   at that instant were planned, and are decided as above.

use crate::core::config::Schedule;
use crate::core::plan::{restarts, Restart};
use chrono::{DateTime, TimeDelta, Utc};

/// How late a restart may be and still count as on time.
pub const ON_TIME: TimeDelta = TimeDelta::seconds(2);

/// What to do with a restart that came due.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Due {
    /// Run it now. `late` is how long after its planned instant.
    Run { restart: Restart, late: TimeDelta },
    /// Its first query had already begun when the clock reached it.
    Skip { restart: Restart },
    /// An edit added it, and the daemon read the edit after its instant. Only restarts the
    /// rules above would have run are reported; older ones are dropped without a word.
    SkipAdded { restart: Restart },
}

/// One query run a planned restart served: the query's name and the run's instant.
type Served<'a> = (&'a str, DateTime<Utc>);

#[derive(Debug, Clone)]
pub struct Timeline {
    /// Every restart at or before this instant has been decided.
    checked: DateTime<Utc>,
}

impl Timeline {
    /// A timeline that starts at `start`: restarts at or before it are not due.
    pub fn new(start: DateTime<Utc>) -> Timeline {
        Timeline { checked: start }
    }

    pub fn checked(&self) -> DateTime<Utc> {
        self.checked
    }

    /// The restarts that came due between the last call and `now`, in order.
    pub fn advance(&mut self, schedule: &Schedule, now: DateTime<Utc>) -> Vec<Due> {
        if now <= self.checked {
            // The clock stood still or went backwards: nothing new is due.
            return Vec::new();
        }
        let due = restarts(schedule, self.checked + TimeDelta::nanoseconds(1))
            .take_while(|r| r.at <= now)
            .map(|restart| decide(restart, now))
            .collect();
        self.checked = now;
        due
    }

    /// The daemon read an edit at `now` and swaps `old` for `new`: decides the restarts of `new`
    /// between the last call and `now`. Those `old` also had at the same instant are decided as
    /// `advance` would; the others were added by the edit after their instant and are never run
    /// (`Due::SkipAdded` for those `advance` would have run).
    pub fn reload(&mut self, old: &Schedule, new: &Schedule, now: DateTime<Utc>) -> Vec<Due> {
        if now <= self.checked {
            return Vec::new();
        }
        let from = self.checked + TimeDelta::nanoseconds(1);
        // What `old` had planned: each restart's instant and the query runs it served, by
        // name (indexes differ between the two schedules).
        let planned: Vec<(DateTime<Utc>, Vec<Served>)> = restarts(old, from)
            .take_while(|r| r.at <= now)
            .map(|r| {
                let fires = r
                    .fires
                    .iter()
                    .map(|f| (old.queries[f.query].name.as_str(), f.at))
                    .collect();
                (r.at, fires)
            })
            .collect();
        // A restart's first query is `lead` after it, so one before `now - max(lead, ON_TIME)`
        // would be skipped anyway: the edited schedule is read from there (or from the first
        // planned restart), however long ago the last call was.
        let lead = TimeDelta::from_std(new.lead).unwrap_or(TimeDelta::MAX);
        let worth = now.checked_sub_signed(lead.max(ON_TIME)).unwrap_or(from);
        let look_from = planned.first().map_or(worth, |p| p.0.min(worth)).max(from);
        let mut due = Vec::new();
        for restart in restarts(new, look_from).take_while(|r| r.at <= now) {
            // The runs `old` served at this instant were planned; runs the edit added to it
            // were not (they would touch workers the old restart did not).
            let served: &[Served] = planned
                .iter()
                .find(|p| p.0 == restart.at)
                .map_or(&[], |p| &p.1);
            let (kept, added): (Vec<_>, Vec<_>) = restart
                .fires
                .iter()
                .partition(|f| served.contains(&(new.queries[f.query].name.as_str(), f.at)));
            let at = restart.at;
            if !kept.is_empty() {
                due.push(decide(Restart { at, fires: kept }, now));
            }
            if !added.is_empty() {
                if let Due::Run { restart, .. } = decide(Restart { at, fires: added }, now) {
                    due.push(Due::SkipAdded { restart });
                }
            }
        }
        self.checked = now;
        due
    }

    /// The next restart not yet decided.
    pub fn next(&self, schedule: &Schedule) -> Option<Restart> {
        restarts(schedule, self.checked + TimeDelta::nanoseconds(1)).next()
    }
}

/// `Run` or `Skip` for a restart that came due at `now`.
fn decide(restart: Restart, now: DateTime<Utc>) -> Due {
    let first_query = restart.fires.iter().map(|f| f.at).min();
    let late = now - restart.at;
    if late > ON_TIME && first_query.is_some_and(|q| q <= now) {
        Due::Skip { restart }
    } else {
        Due::Run { late, restart }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::config::validate;

    /// Queries every 10 minutes (:00, :10, …), lead 2 min: restarts at :08, :18, …
    fn schedule() -> Schedule {
        validate(
            "timezone: UTC\nlead: 2m\nqueries:\n  - name: q\n    cron: \"*/10 * * * *\"\n",
            || None,
        )
        .unwrap()
    }

    fn t(hms: &str) -> DateTime<Utc> {
        format!("2026-05-01T{hms}Z").parse().unwrap()
    }

    /// The decisions as ("run"|"skip", restart instant).
    fn kinds(due: &[Due]) -> Vec<(&'static str, DateTime<Utc>)> {
        due.iter()
            .map(|d| match d {
                Due::Run { restart, .. } => ("run", restart.at),
                Due::Skip { restart } => ("skip", restart.at),
                Due::SkipAdded { restart } => ("skip added", restart.at),
            })
            .collect()
    }

    #[test]
    fn on_time_restarts_run_once() {
        let s = schedule();
        let mut tl = Timeline::new(t("10:00:00"));
        assert_eq!(tl.next(&s).unwrap().at, t("10:08:00"));
        assert!(tl.advance(&s, t("10:07:59.999")).is_empty());
        let due = tl.advance(&s, t("10:08:00.003"));
        assert_eq!(kinds(&due), [("run", t("10:08:00"))]);
        let Due::Run { late, .. } = &due[0] else {
            unreachable!()
        };
        assert_eq!(late.num_milliseconds(), 3);
        // Decided once: a later look does not repeat it.
        assert!(tl.advance(&s, t("10:09:00")).is_empty());
        assert_eq!(tl.next(&s).unwrap().at, t("10:18:00"));
    }

    #[test]
    fn catch_up_runs_a_restart_whose_query_is_still_ahead() {
        // The machine slept from 10:00 to 10:09: the 10:08 restart's query (10:10) is ahead.
        let s = schedule();
        let mut tl = Timeline::new(t("10:00:00"));
        assert_eq!(
            kinds(&tl.advance(&s, t("10:09:00"))),
            [("run", t("10:08:00"))]
        );
    }

    #[test]
    fn a_restart_whose_query_has_begun_is_skipped() {
        // Asleep from 10:00 to 10:15: the 10:10 query is running; restarting would kill it.
        let s = schedule();
        let mut tl = Timeline::new(t("10:00:00"));
        assert_eq!(
            kinds(&tl.advance(&s, t("10:15:00"))),
            [("skip", t("10:08:00"))]
        );
        assert_eq!(tl.next(&s).unwrap().at, t("10:18:00"));
    }

    #[test]
    fn a_forward_step_over_several_restarts_skips_the_begun_and_runs_the_pending() {
        let s = schedule();
        let mut tl = Timeline::new(t("10:00:00"));
        assert_eq!(
            kinds(&tl.advance(&s, t("10:39:00"))),
            [
                ("skip", t("10:08:00")),
                ("skip", t("10:18:00")),
                ("skip", t("10:28:00")),
                ("run", t("10:38:00")),
            ]
        );
    }

    #[test]
    fn a_backward_step_repeats_nothing_and_fires_nothing_early() {
        let s = schedule();
        let mut tl = Timeline::new(t("10:00:00"));
        assert_eq!(
            kinds(&tl.advance(&s, t("10:08:01"))),
            [("run", t("10:08:00"))]
        );
        // The clock is stepped back by 5 minutes: 10:08 must not run again.
        assert!(tl.advance(&s, t("10:03:01")).is_empty());
        assert!(tl.advance(&s, t("10:08:30")).is_empty());
        assert!(tl.advance(&s, t("10:17:59")).is_empty());
        assert_eq!(
            kinds(&tl.advance(&s, t("10:18:00"))),
            [("run", t("10:18:00"))]
        );
    }

    #[test]
    fn with_lead_zero_a_slightly_late_wake_up_still_runs() {
        let s = validate(
            "timezone: UTC\nlead: 0\nqueries:\n  - name: q\n    at: [\"10:10\"]\n",
            || None,
        )
        .unwrap();
        let mut tl = Timeline::new(t("10:00:00"));
        assert_eq!(
            kinds(&tl.advance(&s, t("10:10:00.040"))),
            [("run", t("10:10:00"))]
        );
        let mut tl = Timeline::new(t("10:00:00"));
        assert_eq!(
            kinds(&tl.advance(&s, t("10:10:05"))),
            [("skip", t("10:10:00"))]
        );
    }

    fn yaml(lead: &str, cron: &str) -> Schedule {
        validate(
            &format!("timezone: UTC\nlead: {lead}\nqueries:\n  - name: q\n    cron: \"{cron}\"\n"),
            || None,
        )
        .unwrap()
    }

    #[test]
    fn a_reload_never_runs_a_restart_from_before_it_read_the_file() {
        // Issue 11: a daily schedule, then at 15:54:45.66 the daemon reads an edit to every 4
        // seconds with lead 0. The 15:54:44 restart is 1.66 s "late", within ON_TIME, but it
        // was not planned when its instant came, and its query began then.
        let old = yaml("0s", "0 0 * * *");
        let new = yaml("0s", "*/4 * * * * *");
        let mut tl = Timeline::new(t("15:00:00"));
        assert!(tl.advance(&old, t("15:54:40")).is_empty());
        assert_eq!(
            kinds(&tl.reload(&old, &new, t("15:54:45.660"))),
            [("skip added", t("15:54:44"))]
        );
        assert!(tl.advance(&new, t("15:54:47.9")).is_empty());
        assert_eq!(
            kinds(&tl.advance(&new, t("15:54:48.001"))),
            [("run", t("15:54:48"))]
        );
    }

    #[test]
    fn a_reload_with_lead_skips_an_added_restart_whose_query_is_still_ahead() {
        // An edit read at 06:15:01 adds a 06:30 query (lead 15m): no restart for 06:15:00,
        // the next one is tomorrow's.
        let old = yaml("15m", "0 12 * * *");
        let new = validate(
            "timezone: UTC\nlead: 15m\nqueries:\n  - name: q\n    cron: \"0 12 * * *\"\n  - name: early\n    at: [\"06:30\"]\n",
            || None,
        )
        .unwrap();
        let mut tl = Timeline::new(t("06:00:00"));
        assert_eq!(
            kinds(&tl.reload(&old, &new, t("06:15:01"))),
            [("skip added", t("06:15:00"))]
        );
        assert_eq!(tl.next(&new).unwrap().at, t("11:45:00"));
        assert!(tl.advance(&new, t("11:44:59")).is_empty());
        assert_eq!(
            restarts(&new, tl.checked()).nth(1).map(|r| r.at),
            Some("2026-05-02T06:15:00Z".parse().unwrap())
        );
    }

    #[test]
    fn a_reload_decides_restarts_both_schedules_have_as_planned() {
        // The old schedule had the 10:08 restart; the edit (adding a query) was read half a
        // second after it: it was planned when its instant came and runs, on time.
        let old = schedule();
        let new = validate(
            "timezone: UTC\nlead: 2m\nqueries:\n  - name: q\n    cron: \"*/10 * * * *\"\n  - name: r\n    cron: \"5 * * * *\"\n",
            || None,
        )
        .unwrap();
        let mut tl = Timeline::new(t("10:00:00"));
        let due = tl.reload(&old, &new, t("10:08:00.500"));
        assert_eq!(kinds(&due), [("run", t("10:08:00"))]);
        // A planned restart whose query had begun is skipped, as when the clock jumps.
        let mut tl = Timeline::new(t("10:00:00"));
        assert_eq!(
            kinds(&tl.reload(&old, &new, t("10:11:00"))),
            [("skip", t("10:08:00"))]
        );
        // Nothing is decided twice, and a clock that went back decides nothing.
        assert!(tl.advance(&new, t("10:11:00")).is_empty());
        assert!(tl.reload(&new, &old, t("10:09:00")).is_empty());
    }

    #[test]
    fn a_reload_runs_only_the_planned_part_of_a_restart_the_edit_added_to() {
        // The old schedule restarts w1 for `a` at 10:00 (lead 0). The edit, read at 10:00:01.5,
        // adds `b` at 10:00 for w2: the 10:00 restart was planned, but only for `a`; w2's query
        // began before the edit was read, so w2 is not restarted (skipped, logged).
        let body = |extra: &str| {
            format!(
                "timezone: UTC\nlead: 0s\nqueries:\n  - name: a\n    at: [\"10:00\"]\n    workers: [w1]\n{extra}workers:\n  - name: w1\n    match: {{image: x, args_contain: [a]}}\n    start: {{command: [x]}}\n  - name: w2\n    match: {{image: x, args_contain: [b]}}\n    start: {{command: [x]}}\n"
            )
        };
        let old = validate(&body(""), || None).unwrap();
        let new = validate(
            &body("  - name: b\n    at: [\"10:00\"]\n    workers: [w2]\n"),
            || None,
        )
        .unwrap();
        let mut tl = Timeline::new(t("09:59:59"));
        let due = tl.reload(&old, &new, t("10:00:01.500"));
        assert_eq!(
            kinds(&due),
            [("run", t("10:00:00")), ("skip added", t("10:00:00"))]
        );
        let workers = |d: &Due| match d {
            Due::Run { restart, .. } | Due::SkipAdded { restart } | Due::Skip { restart } => {
                new.worker_names(&restart.workers(&new))
            }
        };
        assert_eq!(workers(&due[0]), ["w1"]);
        assert_eq!(workers(&due[1]), ["w2"]);
    }
}
