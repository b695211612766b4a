//! The planner's pinned rules, one table per rule, in four zones across the DST changes of 2026
//! and 2027 and the leap day of 2028. Expected instants are worked out by hand from the rules.

use chrono::{DateTime, Utc};
use pacs_warden::core::config::{validate, Schedule};
use pacs_warden::core::plan::restarts;

fn schedule(yaml: &str) -> Schedule {
    validate(yaml, || None).unwrap_or_else(|p| panic!("invalid test schedule: {p:?}"))
}

fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .unwrap_or_else(|e| panic!("{s}: {e}"))
        .with_timezone(&Utc)
}

/// The first `n` restarts from `from`, each as "restart_at <- name@query_at, …" in the zone's
/// local RFC 3339 form.
fn plan(yaml: &str, from: &str, n: usize) -> Vec<String> {
    let s = schedule(yaml);
    restarts(&s, utc(from))
        .take(n)
        .map(|r| {
            let local = |t: DateTime<Utc>| t.with_timezone(&s.timezone).to_rfc3339();
            let fires: Vec<String> = r
                .fires
                .iter()
                .map(|f| format!("{}@{}", s.queries[f.query].name, local(f.at)))
                .collect();
            format!("{} <- {}", local(r.at), fires.join(", "))
        })
        .collect()
}

fn daily(zone: &str, lead: &str, time: &str) -> String {
    format!("timezone: {zone}\nlead: {lead}\nqueries:\n  - name: q\n    at: [\"{time}\"]\n")
}

#[test]
fn rule1_weekday_range_is_monday_to_friday() {
    // 2026-11-27 is a Friday.
    let got = plan(
        "timezone: UTC\nqueries:\n  - name: ct\n    cron: \"30 6 * * 1-5\"\n",
        "2026-11-27T00:00:00Z",
        2,
    );
    assert_eq!(
        got,
        [
            "2026-11-27T06:15:00+00:00 <- ct@2026-11-27T06:30:00+00:00",
            "2026-11-30T06:15:00+00:00 <- ct@2026-11-30T06:30:00+00:00",
        ]
    );
}

#[test]
fn rule1_sunday_is_0_or_7_and_day_fields_are_ored() {
    let yaml = "timezone: UTC\nlead: 0\nqueries:\n  - name: a\n    cron: \"0 12 * * 7\"\n  - name: b\n    cron: \"0 13 13 * fri\"\n";
    // From Friday 2026-11-06: b on Fri 6th (weekday), a on Sun 8th, b on Fri 13th (both),
    // a on Sun 15th... and b on Sun 2026-12-13 (the 13th) as well.
    let got = plan(yaml, "2026-11-06T00:00:00Z", 4);
    assert_eq!(
        got,
        [
            "2026-11-06T13:00:00+00:00 <- b@2026-11-06T13:00:00+00:00",
            "2026-11-08T12:00:00+00:00 <- a@2026-11-08T12:00:00+00:00",
            "2026-11-13T13:00:00+00:00 <- b@2026-11-13T13:00:00+00:00",
            "2026-11-15T12:00:00+00:00 <- a@2026-11-15T12:00:00+00:00",
        ]
    );
    let got = plan(yaml, "2026-12-12T00:00:00Z", 2);
    assert_eq!(
        got,
        [
            "2026-12-13T12:00:00+00:00 <- a@2026-12-13T12:00:00+00:00",
            "2026-12-13T13:00:00+00:00 <- b@2026-12-13T13:00:00+00:00",
        ]
    );
}

#[test]
fn rule1_six_fields_have_seconds_first() {
    let got = plan(
        "timezone: UTC\nlead: 2s\nmerge_within: 0\nqueries:\n  - name: s\n    cron: \"*/20 0 9 * * *\"\n",
        "2026-01-01T09:00:00Z",
        3,
    );
    assert_eq!(
        got,
        [
            "2026-01-01T09:00:18+00:00 <- s@2026-01-01T09:00:20+00:00",
            "2026-01-01T09:00:38+00:00 <- s@2026-01-01T09:00:40+00:00",
            "2026-01-02T08:59:58+00:00 <- s@2026-01-02T09:00:00+00:00",
        ]
    );
}

/// (zone, local time of a daily query, from, expected first restart and query instant).
/// Every DST change of 2026 and 2027 in the three zones that have one, plus Kolkata.
#[test]
fn rule2_gaps_read_with_the_offset_before_and_folds_fire_once_at_the_first() {
    let cases = [
        // Europe/London: gap 01:00→02:00 on 2026-03-29, 2027-03-28; fold 02:00→01:00 on
        // 2026-10-25, 2027-10-31.
        (
            "Europe/London",
            "01:30",
            "2026-03-29T00:00:00Z",
            "2026-03-29T01:30:00Z",
        ),
        (
            "Europe/London",
            "01:30",
            "2027-03-28T00:00:00Z",
            "2027-03-28T01:30:00Z",
        ),
        (
            "Europe/London",
            "01:30",
            "2026-10-24T12:00:00Z",
            "2026-10-25T00:30:00Z",
        ),
        (
            "Europe/London",
            "01:30",
            "2027-10-30T12:00:00Z",
            "2027-10-31T00:30:00Z",
        ),
        // America/New_York: gap 02:00→03:00 on 2026-03-08, 2027-03-14; fold 02:00→01:00 on
        // 2026-11-01, 2027-11-07.
        (
            "America/New_York",
            "02:30",
            "2026-03-08T05:00:00Z",
            "2026-03-08T07:30:00Z",
        ),
        (
            "America/New_York",
            "02:30",
            "2027-03-14T05:00:00Z",
            "2027-03-14T07:30:00Z",
        ),
        (
            "America/New_York",
            "01:30",
            "2026-11-01T04:00:00Z",
            "2026-11-01T05:30:00Z",
        ),
        (
            "America/New_York",
            "01:30",
            "2027-11-07T04:00:00Z",
            "2027-11-07T05:30:00Z",
        ),
        // Australia/Sydney (southern hemisphere): fold 03:00→02:00 on 2026-04-05, 2027-04-04;
        // gap 02:00→03:00 on 2026-10-04, 2027-10-03.
        (
            "Australia/Sydney",
            "02:30",
            "2026-04-04T13:00:00Z",
            "2026-04-04T15:30:00Z",
        ),
        (
            "Australia/Sydney",
            "02:30",
            "2027-04-03T13:00:00Z",
            "2027-04-03T15:30:00Z",
        ),
        (
            "Australia/Sydney",
            "02:30",
            "2026-10-03T13:00:00Z",
            "2026-10-03T16:30:00Z",
        ),
        (
            "Australia/Sydney",
            "02:30",
            "2027-10-02T13:00:00Z",
            "2027-10-02T16:30:00Z",
        ),
        // Asia/Kolkata: +05:30 all year.
        (
            "Asia/Kolkata",
            "02:30",
            "2026-03-29T00:00:00Z",
            "2026-03-29T21:00:00Z",
        ),
    ];
    for (zone, time, from, query_at) in cases {
        let s = schedule(&daily(zone, "0", time));
        let first = restarts(&s, utc(from)).next().unwrap();
        assert_eq!(
            first.fires[0].at,
            utc(query_at),
            "{zone} {time} from {from}"
        );
        assert_eq!(first.at, utc(query_at), "{zone}: lead 0");
    }
}

#[test]
fn rule2_a_folded_time_fires_only_once() {
    // London 01:30 on 2026-10-25 happens at 00:30Z and again at 01:30Z: one fire, the first.
    let s = schedule(&daily("Europe/London", "0", "01:30"));
    let fires: Vec<_> = restarts(&s, utc("2026-10-24T12:00:00Z"))
        .take(2)
        .map(|r| r.fires[0].at)
        .collect();
    assert_eq!(
        fires,
        [utc("2026-10-25T00:30:00Z"), utc("2026-10-26T01:30:00Z")]
    );
}

#[test]
fn rule3_lead_is_an_absolute_duration_across_midnight_and_dst() {
    let cases = [
        // Kolkata: 00:10 query, 15 minutes before is 23:55 the day before.
        (
            "Asia/Kolkata",
            "15m",
            "00:10",
            "2026-06-01T00:00:00Z",
            "2026-06-01T23:55:00+05:30",
        ),
        // London, spring: the 03:00 BST query is 2 hours after 00:00 GMT (wall clock says 3).
        (
            "Europe/London",
            "2h",
            "03:00",
            "2026-03-28T12:00:00Z",
            "2026-03-29T00:00:00+00:00",
        ),
        // London, autumn: the 02:00 GMT query is 2 hours after 01:00 BST.
        (
            "Europe/London",
            "2h",
            "02:00",
            "2026-10-24T12:00:00Z",
            "2026-10-25T01:00:00+01:00",
        ),
        // New York, across midnight and the spring change: 03:30 EDT - 4h = 22:30 EST.
        (
            "America/New_York",
            "4h",
            "03:30",
            "2026-03-07T12:00:00Z",
            "2026-03-07T22:30:00-05:00",
        ),
        // Sydney, autumn: 02:30 AEST (after the fold) - 3h = 00:30 AEDT... the first 02:30
        // is AEDT, so 02:30+11:00 - 3h = 23:30+11:00 the day before.
        (
            "Australia/Sydney",
            "3h",
            "02:30",
            "2026-04-04T00:00:00Z",
            "2026-04-04T23:30:00+11:00",
        ),
    ];
    for (zone, lead, time, from, want) in cases {
        let s = schedule(&daily(zone, lead, time));
        let first = restarts(&s, utc(from)).next().unwrap();
        assert_eq!(first.at, utc(want), "{zone} lead {lead} query {time}");
    }
}

#[test]
fn leap_day_2028() {
    let got = plan(
        "timezone: Europe/London\nqueries:\n  - name: leap\n    cron: \"0 9 29 2 *\"\n",
        "2026-11-24T00:00:00Z",
        2,
    );
    assert_eq!(
        got,
        [
            "2028-02-29T08:45:00+00:00 <- leap@2028-02-29T09:00:00+00:00",
            "2032-02-29T08:45:00+00:00 <- leap@2032-02-29T09:00:00+00:00",
        ]
    );
}

#[test]
fn rule4_same_restart_time_is_shared_and_ordered() {
    // b at 07:00 with lead 15m and a at 06:45 with... both restart at 06:45 only if they have
    // the same query time; here two queries at 07:00 share one restart.
    let yaml = "timezone: Europe/London\nmerge_within: 0\nqueries:\n  - name: b\n    at: [\"07:00\"]\n  - name: a\n    cron: \"0 7 * * *\"\n  - name: c\n    at: [\"06:00\"]\n";
    let got = plan(yaml, "2026-07-01T00:00:00Z", 2);
    assert_eq!(
        got,
        [
            "2026-07-01T05:45:00+01:00 <- c@2026-07-01T06:00:00+01:00",
            "2026-07-01T06:45:00+01:00 <- b@2026-07-01T07:00:00+01:00, a@2026-07-01T07:00:00+01:00",
        ]
    );
}

const CHAIN: &str = "timezone: UTC\nlead: 15m\nqueries:\n  - name: q1\n    at: [\"06:00\"]\n  - name: q2\n    at: [\"06:10\"]\n  - name: q3\n    at: [\"06:20\"]\n  - name: q4\n    at: [\"06:30\"]\n  - name: q5\n    at: [\"07:00\"]\n";

#[test]
fn rule5_merging_is_measured_from_the_previous_kept_restart() {
    // Restarts would be 05:45, 05:55, 06:05, 06:15, 06:45. 05:55 joins 05:45; 06:05 is 20 min
    // after the kept 05:45, so it is kept; 06:15 joins it; 06:45 is 40 min after 06:05.
    let got = plan(CHAIN, "2026-05-01T00:00:00Z", 3);
    assert_eq!(
        got,
        [
            "2026-05-01T05:45:00+00:00 <- q1@2026-05-01T06:00:00+00:00, q2@2026-05-01T06:10:00+00:00",
            "2026-05-01T06:05:00+00:00 <- q3@2026-05-01T06:20:00+00:00, q4@2026-05-01T06:30:00+00:00",
            "2026-05-01T06:45:00+00:00 <- q5@2026-05-01T07:00:00+00:00",
        ]
    );
}

#[test]
fn rule5_merge_within_zero_and_longer_windows() {
    let zero = CHAIN.replace("lead: 15m", "lead: 15m\nmerge_within: 0");
    assert_eq!(plan(&zero, "2026-05-01T00:00:00Z", 10).len(), 10);
    let got = plan(&zero, "2026-05-01T00:00:00Z", 5);
    assert!(got[1].starts_with("2026-05-01T05:55:00"), "{got:?}");
    // A one-hour window swallows the whole morning into 05:45.
    let hour = CHAIN.replace("lead: 15m", "lead: 15m\nmerge_within: 1h");
    let got = plan(&hour, "2026-05-01T00:00:00Z", 1);
    assert_eq!(
        got,
        ["2026-05-01T05:45:00+00:00 <- q1@2026-05-01T06:00:00+00:00, q2@2026-05-01T06:10:00+00:00, q3@2026-05-01T06:20:00+00:00, q4@2026-05-01T06:30:00+00:00"]
    );
    // 06:45 is exactly 60 minutes after 05:45: not "less than", so it is kept.
    let got = plan(&hour, "2026-05-01T05:46:00Z", 1);
    assert_eq!(
        got,
        ["2026-05-01T06:45:00+00:00 <- q5@2026-05-01T07:00:00+00:00"]
    );
}

#[test]
fn rule5_and_6_a_restart_merged_into_one_before_from_is_not_listed() {
    // From 05:50, the 05:55 restart belongs to 05:45 (before --from): not listed. The next
    // listed restart is 06:05, as when planning from midnight.
    let got = plan(CHAIN, "2026-05-01T05:50:00Z", 1);
    assert_eq!(
        got,
        ["2026-05-01T06:05:00+00:00 <- q3@2026-05-01T06:20:00+00:00, q4@2026-05-01T06:30:00+00:00"]
    );
    // A restart exactly at --from is listed (restart_at >= from).
    let got = plan(CHAIN, "2026-05-01T06:05:00Z", 1);
    assert!(got[0].starts_with("2026-05-01T06:05:00"), "{got:?}");
}

#[test]
fn rule5_chains_across_days_and_dense_schedules_agree_with_planning_from_earlier() {
    // Every 5 minutes, lead 15m: no quiet gap ever. Planning from two instants a few hours
    // apart must agree where they overlap.
    let yaml = "timezone: Europe/London\nqueries:\n  - name: busy\n    cron: \"*/5 * * * *\"\n";
    let s = schedule(yaml);
    let early: Vec<_> = restarts(&s, utc("2026-05-01T00:00:00Z")).take(60).collect();
    let late: Vec<_> = restarts(&s, early[10].at).take(40).collect();
    assert_eq!(&early[10..50], &late[..]);
    // Kept restarts are 15 minutes apart, each serving three 5-minute queries.
    assert!(early
        .windows(2)
        .all(|w| (w[1].at - w[0].at).num_minutes() == 15));
    assert!(early.iter().all(|r| r.fires.len() == 3));
}

#[test]
fn rule2_two_wall_times_on_one_instant_are_one_run() {
    // 01:30 does not exist in London on 2026-03-29 and is read as 01:30 GMT = 02:30 BST, the
    // query's other time: the query runs once.
    let got = plan(
        "timezone: Europe/London\nmerge_within: 0\nqueries:\n  - name: q\n    at: [\"01:30\", \"02:30\"]\n",
        "2026-03-29T00:00:00Z",
        2,
    );
    assert_eq!(
        got,
        [
            "2026-03-29T02:15:00+01:00 <- q@2026-03-29T02:30:00+01:00",
            "2026-03-30T01:15:00+01:00 <- q@2026-03-30T01:30:00+01:00",
        ]
    );
}

#[test]
fn sparse_schedules_list_every_restart_asked_for() {
    // Issue 10: a fixed 29-year horizon cut `@yearly --count 40` to 29 and leap days to 7.
    let yearly = plan(
        "timezone: UTC\nlead: 0\nqueries:\n  - name: y\n    cron: \"@yearly\"\n",
        "2026-06-01T00:00:00Z",
        40,
    );
    assert_eq!(yearly.len(), 40);
    assert_eq!(
        yearly[0],
        "2027-01-01T00:00:00+00:00 <- y@2027-01-01T00:00:00+00:00"
    );
    assert_eq!(
        yearly[39],
        "2066-01-01T00:00:00+00:00 <- y@2066-01-01T00:00:00+00:00"
    );

    let leap = plan(
        "timezone: UTC\nlead: 0\nqueries:\n  - name: leap\n    cron: \"0 0 29 2 *\"\n",
        "2026-06-01T00:00:00Z",
        8,
    );
    let days: Vec<&str> = leap.iter().map(|r| &r[..10]).collect();
    // 2100 is not a leap year (divisible by 100, not by 400).
    assert_eq!(
        days,
        [
            "2028-02-29",
            "2032-02-29",
            "2036-02-29",
            "2040-02-29",
            "2044-02-29",
            "2048-02-29",
            "2052-02-29",
            "2056-02-29"
        ]
    );
    let century = plan(
        "timezone: UTC\nlead: 0\nqueries:\n  - name: leap\n    cron: \"0 0 29 2 *\"\n",
        "2096-03-01T00:00:00Z",
        1,
    );
    assert_eq!(century[0][..10], *"2104-02-29");
}
