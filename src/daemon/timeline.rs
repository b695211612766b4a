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

use crate::config::Schedule;
use crate::plan::{restarts, Restart};
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
}

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
            .map(|restart| {
                let first_query = restart.fires.iter().map(|f| f.at).min();
                let late = now - restart.at;
                if late > ON_TIME && first_query.is_some_and(|q| q <= now) {
                    Due::Skip { restart }
                } else {
                    Due::Run { late, restart }
                }
            })
            .collect();
        self.checked = now;
        due
    }

    /// The next restart not yet decided.
    pub fn next(&self, schedule: &Schedule) -> Option<Restart> {
        restarts(schedule, self.checked + TimeDelta::nanoseconds(1)).next()
    }
}
