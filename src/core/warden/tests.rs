//! The daemon's decisions, tested in-process with virtual time: invented instants in, actions
//! out. No sleeping, no processes.

use super::*;
use crate::core::config::validate;

/// A worker section: `w` and `v` by default; `extra` is added to `w`.
fn workers(extra: &str) -> String {
    format!(
        "workers:\n  - name: w\n    match: {{image: x, args_contain: [w]}}\n    start: {{command: [x]}}\n{extra}  - name: v\n    match: {{image: x, args_contain: [v]}}\n    start: {{command: [x]}}\n"
    )
}

fn schedule(text: &str) -> Arc<Schedule> {
    Arc::new(validate(text, || None).unwrap())
}

/// Queries every 10 minutes (:00, :10, …), lead 2 min: restarts at :08, :18, … of `w` and `v`.
fn every_ten(extra: &str) -> Arc<Schedule> {
    schedule(&format!(
        "timezone: UTC\nlead: 2m\nqueries:\n  - name: q\n    cron: \"*/10 * * * *\"\n{}",
        workers(extra)
    ))
}

fn t(hms: &str) -> DateTime<Utc> {
    format!("2026-05-01T{hms}Z").parse().unwrap()
}

const P1: Proc = Proc {
    pid: 101,
    start_time: 1,
};
const P2: Proc = Proc {
    pid: 102,
    start_time: 2,
};

/// A warden booted at `start` (no adoption; `restart_at_boot` as the schedule says) whose
/// boot restarts succeeded (`w` runs as `P1`, `v` as `P2`), with the actions drained.
fn booted(s: Arc<Schedule>, start: DateTime<Utc>) -> Warden {
    let mut w = Warden::new(s, false, start);
    w.handle_boot(Vec::new(), start);
    for (name, _) in restarts(&drain(&mut w)) {
        let id = if name == "w" { P1 } else { P2 };
        w.handle_sequence_done(name, ok(id), start);
    }
    drain(&mut w);
    w
}

fn drain(w: &mut Warden) -> Vec<Action> {
    std::iter::from_fn(|| w.poll_action()).collect()
}

fn tick(w: &mut Warden, now: DateTime<Utc>) -> Vec<Action> {
    w.handle_tick(now);
    drain(w)
}

/// The restarts started, as (worker, why).
fn restarts(actions: &[Action]) -> Vec<(&str, Why)> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Restart { name, why, .. } => Some((name.as_str(), *why)),
            _ => None,
        })
        .collect()
}

/// The log messages (all levels).
fn notes(actions: &[Action]) -> Vec<&str> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Log(n) => Some(n.message.as_str()),
            _ => None,
        })
        .collect()
}

fn alerts(actions: &[Action]) -> Vec<(&str, Option<&str>)> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Alert { event, worker, .. } => Some((*event, worker.as_deref())),
            _ => None,
        })
        .collect()
}

fn has_note(actions: &[Action], start: &str) -> bool {
    notes(actions).iter().any(|m| m.starts_with(start))
}

fn ok(id: Proc) -> SequenceDone {
    SequenceDone {
        running: Some(id),
        ok: true,
        summary: format!("started pid {}", id.pid),
        not_ready: None,
    }
}

fn failed() -> SequenceDone {
    SequenceDone {
        running: None,
        ok: false,
        summary: "FAILED: start command failed".into(),
        not_ready: None,
    }
}

// ---- boot ----

#[test]
fn boot_without_adoption_restarts_every_worker_and_plans_the_next_restart() {
    let mut w = Warden::new(every_ten(""), false, t("10:00:00"));
    w.handle_boot(Vec::new(), t("10:00:00"));
    let a = drain(&mut w);
    assert_eq!(restarts(&a), [("w", Why::Boot), ("v", Why::Boot)]);
    assert!(has_note(&a, "boot restart"));
    let next = a.iter().find_map(|a| match a {
        Action::Log(n) if n.message == "next restarts" => Some(n.fields.restart_at.clone()),
        _ => None,
    });
    assert_eq!(next, Some(Some("2026-05-01 10:08:00 UTC".to_string())));
    // Woken to prepare the 10:08 restart a second ahead.
    assert_eq!(w.poll_timeout(), Some(t("10:07:59")));
}

#[test]
fn boot_with_restart_at_boot_false_restarts_nothing() {
    let s = schedule(&format!(
        "timezone: UTC\nrestart_at_boot: false\nqueries:\n  - name: q\n    at: [\"12:00\"]\n{}",
        workers("")
    ));
    let mut w = Warden::new(s, false, t("10:00:00"));
    w.handle_boot(Vec::new(), t("10:00:00"));
    let a = drain(&mut w);
    assert!(restarts(&a).is_empty());
    assert_eq!(
        notes(&a)
            .iter()
            .filter(|m| m.starts_with("restart_at_boot is false"))
            .count(),
        2
    );
}

#[test]
fn boot_adopts_a_running_worker_and_restarts_only_the_others() {
    let mut w = Warden::new(every_ten(""), false, t("10:00:00"));
    let adopt = Adoptable {
        worker: "w".into(),
        id: P1,
        not_ready: None,
    };
    w.handle_boot(vec![adopt], t("10:00:00"));
    let a = drain(&mut w);
    assert_eq!(restarts(&a), [("v", Why::Boot)]);
    assert!(a.contains(&Action::Watch {
        name: "w".into(),
        id: P1
    }));
    assert!(has_note(
        &a,
        "worker started earlier by pacs-warden is running; adopting it"
    ));
    // The adopted worker is supervised: its exit is a crash.
    w.handle_exit("w", P1, t("10:01:00"));
    let a = drain(&mut w);
    assert!(has_note(&a, "the worker exited unexpectedly (crash)"));
}

#[test]
fn boot_resumes_probing_an_adopted_worker_left_not_ready() {
    let s = schedule(&format!(
        "timezone: UTC\nqueries:\n  - name: q\n    at: [\"12:00\"]\n{}",
        workers("    ready: {command: [x]}\n")
    ));
    let mut w = Warden::new(s, false, t("10:00:00"));
    let saved = SavedNotReady {
        since: t("09:00:00"),
        probes: 3,
        answer: "no reply".into(),
    };
    w.handle_boot(
        vec![Adoptable {
            worker: "w".into(),
            id: P1,
            not_ready: Some(saved),
        }],
        t("10:00:00"),
    );
    drain(&mut w);
    assert_eq!(w.poll_timeout(), Some(t("10:01:00")));
    let a = tick(&mut w, t("10:01:00"));
    assert!(a.contains(&Action::ProbeReady {
        worker: 0,
        name: "w".into(),
        id: P1
    }));
}

#[test]
fn a_dry_run_runs_no_worker_command_and_writes_no_state() {
    // The same adopted, not-ready worker, and a crash of another: a dry run neither probes
    // nor saves (the daemon it shadows keeps that state).
    let s = schedule(&format!(
        "timezone: UTC\nqueries:\n  - name: q\n    at: [\"12:00\"]\n{}",
        workers("    ready: {command: [x]}\n    supervise: {backoff: 1s}\n")
    ));
    let mut w = Warden::new(s, true, t("10:00:00"));
    let saved = SavedNotReady {
        since: t("09:00:00"),
        probes: 3,
        answer: "no reply".into(),
    };
    w.handle_boot(
        vec![Adoptable {
            worker: "w".into(),
            id: P1,
            not_ready: Some(saved),
        }],
        t("10:00:00"),
    );
    let mut all = drain(&mut w);
    all.extend(tick(&mut w, t("10:01:00")));
    w.handle_exit("w", P1, t("10:01:05"));
    all.extend(drain(&mut w));
    all.extend(tick(&mut w, t("10:05:00")));
    assert!(
        !all.iter()
            .any(|a| matches!(a, Action::Save(_) | Action::ProbeReady { .. })),
        "{all:?}"
    );
}

// ---- planned restarts and the clock ----

#[test]
fn on_time_the_restart_is_prepared_then_run_and_its_preparation_ended() {
    let mut w = booted(every_ten(""), t("10:00:00"));
    assert!(tick(&mut w, t("10:07:58")).is_empty());
    let a = tick(&mut w, t("10:07:59"));
    assert_eq!(
        a,
        [Action::Prepare {
            at: t("10:08:00"),
            workers: vec![0, 1]
        }]
    );
    assert_eq!(w.poll_timeout(), Some(t("10:08:00")));
    let a = tick(&mut w, t("10:08:00.002"));
    assert_eq!(restarts(&a), [("w", Why::Planned), ("v", Why::Planned)]);
    let due = a.iter().find_map(|a| match a {
        Action::Log(n) if n.message == "restart due" => Some(n.fields.late_ms),
        _ => None,
    });
    assert_eq!(due, Some(Some(2.0)));
    assert!(a.contains(&Action::EndPreparation));
    // Decided once.
    assert!(restarts(&tick(&mut w, t("10:09:00"))).is_empty());
}

#[test]
fn catch_up_after_a_clock_step_forward_runs_the_restart_whose_query_is_ahead() {
    let mut w = booted(every_ten(""), t("10:00:00"));
    // Stepped from 10:00 to 10:09: the 10:08 restart's query (10:10) is still ahead.
    let a = tick(&mut w, t("10:09:00"));
    assert_eq!(restarts(&a), [("w", Why::Planned), ("v", Why::Planned)]);
    // Run a minute late, and said so; nothing skipped.
    let due: Vec<_> = a
        .iter()
        .filter_map(|a| match a {
            Action::Log(n) if n.message == "restart due" => {
                Some((n.fields.restart_at.clone(), n.fields.late_ms))
            }
            _ => None,
        })
        .collect();
    assert_eq!(
        due,
        [(Some("2026-05-01 10:08:00 UTC".to_string()), Some(60_000.0))]
    );
    assert!(
        !notes(&a).iter().any(|m| m.starts_with("skipped")),
        "{:?}",
        notes(&a)
    );
    // Decided once.
    assert!(restarts(&tick(&mut w, t("10:09:01"))).is_empty());
}

#[test]
fn after_a_sleep_begun_queries_are_skipped_and_the_pending_one_caught_up() {
    let mut w = booted(every_ten(""), t("10:00:00"));
    assert_eq!(w.poll_timeout(), Some(t("10:07:59")));
    // The machine slept through the wake-up and woke at 10:39.
    let a = tick(&mut w, t("10:39:00"));
    let skipped = notes(&a)
        .iter()
        .filter(|m| m.starts_with("skipped a restart: its query had already begun"))
        .count();
    assert_eq!(skipped, 3);
    assert_eq!(restarts(&a), [("w", Why::Planned), ("v", Why::Planned)]);
}

#[test]
fn a_clock_stepped_back_repeats_nothing() {
    let mut w = booted(every_ten(""), t("10:00:00"));
    assert_eq!(restarts(&tick(&mut w, t("10:08:01"))).len(), 2);
    for (name, _) in [("w", 0), ("v", 1)] {
        w.handle_sequence_done(name, ok(P1), t("10:08:05"));
    }
    drain(&mut w);
    // Five minutes back, then forward again past 10:08: nothing is repeated.
    assert!(restarts(&tick(&mut w, t("10:03:01"))).is_empty());
    assert!(restarts(&tick(&mut w, t("10:08:30"))).is_empty());
    assert!(restarts(&tick(&mut w, t("10:17:59"))).is_empty());
    assert_eq!(restarts(&tick(&mut w, t("10:18:00"))).len(), 2);
}

#[test]
fn a_restart_due_while_one_runs_is_merged_into_it() {
    let mut w = Warden::new(every_ten(""), false, t("10:07:00"));
    w.handle_boot(Vec::new(), t("10:07:00"));
    assert_eq!(restarts(&drain(&mut w)).len(), 2);
    // The boot sequence of `w` ends; `v`'s still runs at 10:08.
    w.handle_sequence_done("w", ok(P1), t("10:07:30"));
    drain(&mut w);
    let a = tick(&mut w, t("10:07:59"));
    // Only `w` is prepared: `v`'s running sequence takes the restart in.
    assert!(a.contains(&Action::Prepare {
        at: t("10:08:00"),
        workers: vec![0]
    }));
    let a = tick(&mut w, t("10:08:00"));
    assert_eq!(restarts(&a), [("w", Why::Planned)]);
    assert!(a.contains(&Action::Log(
        Note::info("a restart of this worker is already running; this one is merged into it")
            .worker("v")
    )));
    // Its watched process is stopped on purpose by the sequence: no crash.
    assert!(a.contains(&Action::Unwatch { name: "w".into() }));
    w.handle_exit("w", P1, t("10:08:01"));
    assert!(drain(&mut w).is_empty());
}

// ---- reload ----

#[test]
fn a_good_edit_replaces_the_plan() {
    let mut w = booted(every_ten(""), t("10:00:00"));
    tick(&mut w, t("10:07:59"));
    let new = schedule(&format!(
        "timezone: UTC\nlead: 5m\nqueries:\n  - name: q\n    cron: \"*/10 * * * *\"\n{}",
        workers("")
    ));
    w.handle_edit(new, t("10:07:59.5"));
    let a = drain(&mut w);
    assert!(has_note(
        &a,
        "schedule reloaded; upcoming restarts were:\n  2026-05-01 10:08:00 UTC for q"
    ));
    // The preparation of 10:08 is void; the new next restart is 10:15.
    assert_eq!(w.poll_timeout(), Some(t("10:14:59")));
    let a = tick(&mut w, t("10:08:01"));
    assert!(restarts(&a).is_empty());
    assert!(!a.contains(&Action::EndPreparation));
    assert_eq!(restarts(&tick(&mut w, t("10:15:00"))).len(), 2);
}

#[test]
fn a_bad_edit_is_rejected_with_an_alert_and_the_old_plan_stays() {
    let mut w = booted(every_ten(""), t("10:00:00"));
    w.handle_edit_rejected(Rejection::Invalid("s.yaml:3:5: lead: bad".into()));
    let a = drain(&mut w);
    assert_eq!(alerts(&a), [("schedule_rejected", None)]);
    assert!(has_note(
        &a,
        "the edited schedule is invalid; keeping the last good schedule"
    ));
    w.handle_edit_rejected(Rejection::Missing {
        path: "s.yaml".into(),
    });
    let a = drain(&mut w);
    assert!(alerts(&a).is_empty());
    assert_eq!(a[0], Action::Log(Note::warn("the schedule file is missing (deleted, or being replaced); keeping the last good schedule").schedule("s.yaml")));
    assert_eq!(restarts(&tick(&mut w, t("10:08:00"))).len(), 2);
}

#[test]
fn an_edit_never_runs_a_restart_from_before_it_was_read() {
    let old = schedule(&format!(
        "timezone: UTC\nlead: 0s\nqueries:\n  - name: q\n    cron: \"0 0 * * *\"\n{}",
        workers("")
    ));
    let new = schedule(&format!(
        "timezone: UTC\nlead: 0s\nqueries:\n  - name: q\n    cron: \"*/4 * * * * *\"\n{}",
        workers("")
    ));
    let mut w = booted(old, t("15:54:00"));
    assert!(restarts(&tick(&mut w, t("15:54:40"))).is_empty());
    // Read at 15:54:45.66: the 15:54:44 restart is within ON_TIME, but was not planned.
    w.handle_edit(new, t("15:54:45.660"));
    drain(&mut w);
    let a = tick(&mut w, t("15:54:45.700"));
    assert!(restarts(&a).is_empty());
    assert!(has_note(
        &a,
        "skipped a restart: the edit that added it was read after its time"
    ));
    assert_eq!(restarts(&tick(&mut w, t("15:54:48.001"))).len(), 2);
}

// ---- supervision ----

const SUPERVISE: &str =
    "    supervise: {backoff: 1s, max_backoff: 4s, give_up_after: 4, stable_after: 10m}\n";

fn supervised() -> Arc<Schedule> {
    every_ten(SUPERVISE)
}

/// Crash after crash: backoff 1 s, 2 s, 4 s, then supervision gives up.
#[test]
fn crashes_are_retried_with_growing_backoff_until_supervision_gives_up() {
    let mut w = booted(supervised(), t("10:00:00"));
    w.handle_sequence_done("w", ok(P1), t("10:00:01"));
    let a = drain(&mut w);
    assert!(a.contains(&Action::Watch {
        name: "w".into(),
        id: P1
    }));
    let mut now = t("10:00:30");
    let mut waits = Vec::new();
    for attempt in 1..=3 {
        w.handle_exit("w", P1, now);
        let a = drain(&mut w);
        assert!(has_note(&a, "the worker exited unexpectedly (crash)"));
        let retry = w.poll_timeout().unwrap();
        waits.push((retry - now).num_seconds());
        assert!(restarts(&tick(&mut w, retry - TimeDelta::milliseconds(1))).is_empty());
        let a = tick(&mut w, retry);
        assert_eq!(restarts(&a), [("w", Why::Supervision)], "attempt {attempt}");
        now = retry + TimeDelta::seconds(1);
        w.handle_sequence_done("w", ok(P1), now);
        drain(&mut w);
        now += TimeDelta::seconds(5);
    }
    assert_eq!(waits, [1, 2, 4]);
    w.handle_exit("w", P1, now);
    let a = drain(&mut w);
    assert_eq!(alerts(&a), [("supervision_gave_up", Some("w"))]);
    assert!(a.iter().any(|a| matches!(a, Action::Save(Save::Supervision { worker, record }) if worker == "w" && record.gave_up && record.restarts == 3)));
    // Nothing more until the next planned restart.
    assert_eq!(w.poll_timeout(), Some(t("10:07:59")));
}

#[test]
fn a_crash_retry_is_not_delayed_by_a_clock_stepped_back() {
    let mut w = booted(supervised(), t("10:00:00"));
    w.handle_sequence_done("w", ok(P1), t("10:00:01"));
    drain(&mut w);
    w.handle_exit("w", P1, t("10:00:30"));
    drain(&mut w);
    assert_eq!(w.poll_timeout(), Some(t("10:00:31")));
    // Before the retry, the clock is stepped back an hour: the wait left (the core cannot
    // tell a step from time passing, so at most the whole backoff) is kept by the new clock,
    // not an hour and a second.
    let stepped = t("09:00:30.5");
    assert!(restarts(&tick(&mut w, stepped)).is_empty());
    let retry = w.poll_timeout().unwrap();
    assert!(
        retry > stepped && retry <= stepped + TimeDelta::seconds(1),
        "{retry}"
    );
    assert_eq!(restarts(&tick(&mut w, retry)), [("w", Why::Supervision)]);
}

#[test]
fn a_failed_start_is_retried_and_a_stable_run_resets_the_backoff() {
    let s = schedule(&format!(
        "timezone: UTC\nqueries:\n  - name: q\n    at: [\"12:00\"]\n{}",
        workers(SUPERVISE)
    ));
    let mut w = booted(s, t("10:00:00"));
    w.handle_sequence_done("w", failed(), t("10:00:01"));
    let a = drain(&mut w);
    assert_eq!(alerts(&a), [("restart_failed", Some("w"))]);
    assert_eq!(w.poll_timeout(), Some(t("10:00:02")));
    assert_eq!(
        restarts(&tick(&mut w, t("10:00:02"))),
        [("w", Why::Supervision)]
    );
    w.handle_sequence_done("w", ok(P2), t("10:00:03"));
    drain(&mut w);
    // Ran for more than stable_after (10 min): the next crash starts from `backoff` again.
    w.handle_exit("w", P2, t("10:20:00"));
    drain(&mut w);
    assert_eq!(w.poll_timeout(), Some(t("10:20:01")));
}

#[test]
fn a_started_worker_that_is_not_ready_is_left_running_and_probed_with_backoff() {
    let mut w = booted(supervised(), t("10:00:00"));
    let done = SequenceDone {
        running: Some(P1),
        ok: false,
        summary: "FAILED: not ready".into(),
        not_ready: Some("no reply".into()),
    };
    w.handle_sequence_done("w", done, t("10:00:01"));
    let a = drain(&mut w);
    assert_eq!(alerts(&a), [("worker_not_ready", Some("w"))]);
    assert_eq!(w.poll_timeout(), Some(t("10:01:01")));
    let a = tick(&mut w, t("10:01:01"));
    assert!(restarts(&a).is_empty());
    assert!(a.contains(&Action::ProbeReady {
        worker: 0,
        name: "w".into(),
        id: P1
    }));
    w.handle_probe(
        "w",
        Probe::Ready {
            id: P1,
            answer: Err("still no reply".into()),
        },
        t("10:01:02"),
    );
    drain(&mut w);
    assert_eq!(w.poll_timeout(), Some(t("10:03:02")));
    tick(&mut w, t("10:03:02"));
    w.handle_probe(
        "w",
        Probe::Ready {
            id: P1,
            answer: Ok(()),
        },
        t("10:03:03"),
    );
    let a = drain(&mut w);
    assert!(a.contains(&Action::Save(Save::ReadyLater {
        worker: "w".into(),
        id: P1,
        at: t("10:03:03")
    })));
    assert_eq!(w.poll_timeout(), Some(t("10:07:59")));
}

#[test]
fn not_ready_probes_back_off_from_a_minute_to_half_an_hour() {
    let mut wait = READY_PROBE_FIRST;
    let mut waits = vec![wait.as_secs() / 60];
    for _ in 0..7 {
        wait = next_probe_wait(wait);
        waits.push(wait.as_secs() / 60);
    }
    assert_eq!(waits, [1, 2, 4, 8, 16, 30, 30, 30]);
}

// ---- busy deferral ----

fn busy_aware() -> Arc<Schedule> {
    every_ten("    busy: {command: [x], every: 30s}\n")
}

#[test]
fn an_edit_that_removes_the_busy_check_ends_the_deferral_and_one_that_removes_the_worker_drops_it()
{
    for (edited, restarted) in [(every_ten(""), true), (every_ten_without_w(), false)] {
        let mut w = booted(busy_aware(), t("10:00:00"));
        tick(&mut w, t("10:08:00"));
        busy(&mut w, true, t("10:08:01"));
        w.handle_edit(edited, t("10:08:10"));
        let a = drain(&mut w);
        assert!(
            a.contains(&Action::Save(Save::Deferral {
                worker: "w".into(),
                deferral: None,
                at: t("10:08:10")
            })),
            "{a:?}"
        );
        let expected: &[(&str, Why)] = if restarted {
            &[("w", Why::Planned)]
        } else {
            &[]
        };
        assert_eq!(restarts(&a), expected);
        // No question is asked again about a deferral that is over.
        let a = tick(&mut w, t("10:08:31"));
        assert!(
            !a.iter().any(|a| matches!(a, Action::ProbeBusy { .. })),
            "{a:?}"
        );
    }
}

fn every_ten_without_w() -> Arc<Schedule> {
    schedule(
        "timezone: UTC\nlead: 2m\nqueries:\n  - name: q\n    cron: \"*/10 * * * *\"\nworkers:\n  - name: v\n    match: {image: x, args_contain: [v]}\n    start: {command: [x]}\n",
    )
}

fn busy(w: &mut Warden, answer: bool, now: DateTime<Utc>) -> Vec<Action> {
    let probe = Probe::Busy {
        busy: answer,
        answer: if answer { "1 task" } else { "none" }.into(),
    };
    w.handle_probe("w", probe, now);
    drain(w)
}

#[test]
fn a_busy_worker_is_restarted_once_idle() {
    let mut w = booted(busy_aware(), t("10:00:00"));
    let a = tick(&mut w, t("10:07:59"));
    // Only `v` is prepared: `w` is asked first.
    assert!(a.contains(&Action::Prepare {
        at: t("10:08:00"),
        workers: vec![1]
    }));
    let a = tick(&mut w, t("10:08:00"));
    assert_eq!(restarts(&a), [("v", Why::Planned)]);
    assert!(a.contains(&Action::ProbeBusy {
        worker: 0,
        name: "w".into()
    }));
    let a = busy(&mut w, true, t("10:08:01"));
    assert!(restarts(&a).is_empty());
    assert!(a.contains(&Action::Save(Save::Deferral {
        worker: "w".into(),
        deferral: Some(Waiting {
            until: t("10:10:00"),
            answer: "1 task".into(),
            memory: false,
            first: true,
        }),
        at: t("10:08:01"),
    })));
    assert_eq!(w.poll_timeout(), Some(t("10:08:31")));
    let a = tick(&mut w, t("10:08:31"));
    assert!(a.contains(&Action::ProbeBusy {
        worker: 0,
        name: "w".into()
    }));
    // Asked again and still busy: the same deferral (not a new one, for the metrics).
    let a = busy(&mut w, true, t("10:08:31"));
    assert!(a.contains(&Action::Save(Save::Deferral {
        worker: "w".into(),
        deferral: Some(Waiting {
            until: t("10:10:00"),
            answer: "1 task".into(),
            memory: false,
            first: false,
        }),
        at: t("10:08:31"),
    })));
    let a = tick(&mut w, t("10:09:01"));
    assert!(a.contains(&Action::ProbeBusy {
        worker: 0,
        name: "w".into()
    }));
    let a = busy(&mut w, false, t("10:09:02"));
    assert!(has_note(&a, "worker is idle; restarting it now"));
    assert_eq!(restarts(&a), [("w", Why::Planned)]);
    assert!(a.contains(&Action::Save(Save::Deferral {
        worker: "w".into(),
        deferral: None,
        at: t("10:09:02")
    })));
}

#[test]
fn a_busy_worker_is_restarted_anyway_when_its_query_begins() {
    let mut w = booted(busy_aware(), t("10:00:00"));
    tick(&mut w, t("10:08:00"));
    busy(&mut w, true, t("10:09:45"));
    // Asked again no later than the query's start, not 30 s later.
    assert_eq!(w.poll_timeout(), Some(t("10:10:00")));
    let a = tick(&mut w, t("10:10:00"));
    assert!(a.contains(&Action::ProbeBusy {
        worker: 0,
        name: "w".into()
    }));
    let a = busy(&mut w, true, t("10:10:00"));
    assert!(has_note(
        &a,
        "still busy, and its query begins now: restarting anyway"
    ));
    assert_eq!(restarts(&a), [("w", Why::Planned)]);
}

// ---- queries ----

#[test]
fn at_a_served_query_start_a_worker_not_ready_raises_an_alert() {
    let mut w = booted(every_ten(""), t("10:00:00"));
    tick(&mut w, t("10:08:00"));
    w.handle_sequence_done("w", ok(P1), t("10:08:05"));
    drain(&mut w);
    // `v`'s restart is still running at 10:10.
    let a = tick(&mut w, t("10:10:00"));
    assert_eq!(
        a,
        [Action::CheckReady {
            query: "q".into(),
            workers: vec!["w".into(), "v".into()]
        }]
    );
    let facts = vec![
        WorkerFacts {
            worker: "w".into(),
            last_ok: true,
            alive: true,
            restarting: false,
        },
        WorkerFacts {
            worker: "v".into(),
            last_ok: true,
            alive: true,
            restarting: false,
        },
    ];
    w.handle_readiness("q", facts);
    let a = drain(&mut w);
    assert_eq!(alerts(&a), [("not_ready_at_query", Some("v"))]);
    assert!(has_note(
        &a,
        "query q is starting but worker v is not ready (its restart is still running)"
    ));
    // A check is done once.
    assert!(tick(&mut w, t("10:10:01")).is_empty());
}

#[test]
fn a_worker_whose_last_restart_failed_is_not_ready_at_its_query() {
    let mut w = booted(every_ten(""), t("10:00:00"));
    tick(&mut w, t("10:08:00"));
    w.handle_sequence_done("w", ok(P1), t("10:08:05"));
    // Its supervision retry is not due yet when the query begins.
    w.handle_sequence_done("v", failed(), t("10:09:59.500"));
    drain(&mut w);
    tick(&mut w, t("10:10:00"));
    w.handle_readiness(
        "q",
        vec![WorkerFacts {
            worker: "v".into(),
            last_ok: false,
            alive: true,
            restarting: false,
        }],
    );
    assert!(has_note(
        &drain(&mut w),
        "query q is starting but worker v is not ready (its last restart failed)"
    ));
}

fn runs(overlap: &str) -> Arc<Schedule> {
    schedule(&format!(
        "timezone: UTC\nlead: 0s\nrestart_at_boot: false\nqueries:\n  - name: q\n    cron: \"* * * * *\"\n    command: [x]\n    overlap: {overlap}\n    workers: []\n{}",
        workers("")
    ))
}

fn query_runs(actions: &[Action]) -> Vec<DateTime<Utc>> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::RunQuery { at, .. } => Some(*at),
            _ => None,
        })
        .collect()
}

fn query_done(ok: bool) -> QueryDone {
    QueryDone {
        not_run: false,
        ok,
        summary: if ok { "exit 0" } else { "exit 1" }.into(),
    }
}

#[test]
fn a_query_run_while_the_previous_one_runs_is_skipped_with_overlap_skip() {
    let mut w = booted(runs("skip"), t("10:00:30"));
    // The restart the run belongs to (it restarts no worker) is prepared a second ahead.
    assert_eq!(w.poll_timeout(), Some(t("10:00:59")));
    assert_eq!(query_runs(&tick(&mut w, t("10:01:00"))), [t("10:01:00")]);
    let a = tick(&mut w, t("10:02:00"));
    assert!(query_runs(&a).is_empty());
    assert!(a.contains(&Action::Save(Save::QuerySkipped {
        query: "q".into(),
        scheduled_at: t("10:02:00"),
        at: t("10:02:00")
    })));
    w.handle_query_done("q", query_done(false), t("10:02:30"));
    assert_eq!(alerts(&drain(&mut w)), [("query_failed", None)]);
    assert_eq!(query_runs(&tick(&mut w, t("10:03:00"))), [t("10:03:00")]);
}

#[test]
fn a_query_run_while_the_previous_one_runs_waits_with_overlap_wait() {
    let mut w = booted(runs("wait"), t("10:00:30"));
    tick(&mut w, t("10:01:00"));
    let a = tick(&mut w, t("10:02:00"));
    assert!(query_runs(&a).is_empty());
    assert!(has_note(
        &a,
        "the previous run is still going (or still waiting for its workers); this one waits for it"
    ));
    w.handle_query_done("q", query_done(true), t("10:02:30"));
    let a = drain(&mut w);
    assert!(alerts(&a).is_empty());
    assert_eq!(query_runs(&a), [t("10:02:00")]);
}

#[test]
fn a_dry_run_restarts_and_runs_nothing() {
    let mut w = Warden::new(runs("skip"), true, t("10:00:30"));
    w.handle_boot(Vec::new(), t("10:00:30"));
    drain(&mut w);
    let a = tick(&mut w, t("10:01:00"));
    assert!(query_runs(&a).is_empty());
    assert!(has_note(&a, "dry run: would run the query now"));
}

#[test]
fn a_dry_run_names_the_command_its_planned_run_would_pass() {
    // Placeholders expand for the run's planned instant (10:01), not for when it is noticed.
    let s = schedule(&format!(
        "timezone: UTC\nlead: 0s\nrestart_at_boot: false\nqueries:\n  - name: q\n    cron: \"* * * * *\"\n    command: [x, \"{{date-1d}}\", \"{{time}}\"]\n    workers: []\n{}",
        workers("")
    ));
    let mut w = Warden::new(s, true, t("10:00:30"));
    w.handle_boot(Vec::new(), t("10:00:30"));
    drain(&mut w);
    let a = tick(&mut w, t("10:01:20"));
    let command = a.iter().find_map(|a| match a {
        Action::Log(n) if n.message.starts_with("dry run: would run the query now") => {
            n.fields.command.clone()
        }
        _ => None,
    });
    let day_before = (t("10:01:00") - TimeDelta::days(1)).format("%Y-%m-%d");
    assert_eq!(
        command,
        Some(format!("Some([\"x\", \"{day_before}\", \"10:01\"])"))
    );
}

#[test]
fn an_edit_read_after_an_added_restart_skips_it_and_plans_the_next_day() {
    // Read at 06:15:01, the edit replaces the 12:00 query by one at 06:30 (lead 15m): no
    // restart for 06:15:00; the next one is tomorrow's, prepared a second ahead.
    let old = schedule(&format!(
        "timezone: UTC\nlead: 15m\nqueries:\n  - name: q\n    at: [\"12:00\"]\n{}",
        workers("")
    ));
    let new = schedule(&format!(
        "timezone: UTC\nlead: 15m\nqueries:\n  - name: early\n    at: [\"06:30\"]\n{}",
        workers("")
    ));
    let mut w = booted(old, t("06:00:00"));
    w.handle_edit(new, t("06:15:01"));
    drain(&mut w);
    let a = tick(&mut w, t("06:15:01"));
    assert!(restarts(&a).is_empty());
    assert!(has_note(&a, "skipped a restart: the edit that added it"));
    assert_eq!(
        w.poll_timeout(),
        Some("2026-05-02T06:14:59Z".parse().unwrap())
    );
}

#[test]
fn a_sequence_whose_stop_request_went_out_runs_even_if_the_restart_was_merged() {
    // `w`'s stop request went out at 10:08 (prepared); a restart of `w` was already running
    // (a supervision retry): the dispatched sequence is merged into it, not run twice.
    let mut w = booted(every_ten(""), t("10:00:00"));
    tick(&mut w, t("10:07:59"));
    let a = tick(&mut w, t("10:08:00"));
    assert_eq!(restarts(&a).len(), 2);
    assert!(a.contains(&Action::EndPreparation));
    w.handle_dispatched(&["w".to_string()]);
    let a = drain(&mut w);
    assert!(restarts(&a).is_empty());
    assert!(has_note(&a, "a restart of this worker is already running"));
    // Once it ended, a dispatched leftover starts the sequence.
    w.handle_sequence_done("w", ok(P1), t("10:08:01"));
    drain(&mut w);
    w.handle_dispatched(&["w".to_string()]);
    assert_eq!(restarts(&drain(&mut w)), [("w", Why::Planned)]);
    // A sequence lost to a panic frees every worker for a new restart.
    w.handle_sequence_lost(t("10:08:02"));
    w.handle_dispatched(&["v".to_string()]);
    assert_eq!(restarts(&drain(&mut w)), [("v", Why::Planned)]);
}

// ---- missed runs (`catch_up`) ----

/// Query `q` every 10 minutes, run by pacs-warden, needing `w`, with `catch_up` (if any).
fn catching_up(catch_up: &str) -> Arc<Schedule> {
    schedule(&format!(
        "timezone: UTC\nlead: 2m\nqueries:\n  - name: q\n    cron: \"*/10 * * * *\"\n    command: [x, \"{{time}}\"]\n    workers: [w]\n{catch_up}{}",
        workers("")
    ))
}

fn last_run(hms: &str) -> Vec<LastRun> {
    vec![LastRun {
        query: "q".into(),
        scheduled_at: t(hms),
        waiting: None,
        running: None,
    }]
}

/// What the state directory says of a worker in good health (`ready`), or of one whose last
/// restart did not succeed.
fn facts(worker: &str, ready: bool) -> WorkerFacts {
    WorkerFacts {
        worker: worker.into(),
        last_ok: ready,
        alive: true,
        restarting: false,
    }
}

/// Answers every `CheckQueryReady` in `actions` at `now`, the workers being `ready`; returns
/// `actions` and what followed.
fn answer_ready(
    w: &mut Warden,
    mut actions: Vec<Action>,
    ready: bool,
    now: DateTime<Utc>,
) -> Vec<Action> {
    let asked: Vec<(String, Vec<String>)> = actions
        .iter()
        .filter_map(|a| match a {
            Action::CheckQueryReady { query, workers } => Some((query.clone(), workers.clone())),
            _ => None,
        })
        .collect();
    for (query, workers) in asked {
        let f = workers.iter().map(|n| facts(n, ready)).collect();
        w.handle_query_ready(&query, f, now);
        actions.extend(drain(w));
    }
    actions
}

/// A tick at `now` whose query runs find their workers ready.
fn tick_ready(w: &mut Warden, now: DateTime<Utc>) -> Vec<Action> {
    let a = tick(w, now);
    answer_ready(w, a, true, now)
}

/// The query runs started, as (planned instant, catch-up).
fn catch_up_runs(actions: &[Action]) -> Vec<(DateTime<Utc>, bool)> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::RunQuery { at, catch_up, .. } => Some((*at, *catch_up)),
            _ => None,
        })
        .collect()
}

#[test]
fn a_run_missed_while_stopped_is_caught_up_once_after_the_boot_restart() {
    // Stopped after the 10:00 run, started again at 10:25: 10:10 and 10:20 were missed.
    let s = catching_up("    catch_up: 1h\n");
    let mut w = Warden::new(Arc::clone(&s), false, t("10:25:00"));
    w.handle_boot(Vec::new(), t("10:25:00"));
    w.handle_last_runs(&last_run("10:00:00"), t("10:25:00"));
    let a = drain(&mut w);
    assert_eq!(restarts(&a), [("w", Why::Boot), ("v", Why::Boot)]);
    assert!(has_note(&a, "skipped missed run(s)"), "{:?}", notes(&a));
    assert!(has_note(&a, "a run was missed"), "{:?}", notes(&a));
    // Not while `w`'s boot restart runs; `v` is not the query's.
    assert!(catch_up_runs(&tick(&mut w, t("10:25:01"))).is_empty());
    w.handle_sequence_done("w", ok(P1), t("10:25:03"));
    let a = tick_ready(&mut w, t("10:25:03"));
    assert_eq!(catch_up_runs(&a), [(t("10:20:00"), true)]);
    assert!(has_note(
        &a,
        "catch-up: running the missed run planned for 2026-05-01 10:20:00"
    ));
    // Once only: later ticks run the next planned run, on time, and nothing else.
    w.handle_query_done("q", query_done(true), t("10:26:00"));
    assert!(catch_up_runs(&drain(&mut w)).is_empty());
    assert!(catch_up_runs(&tick(&mut w, t("10:29:00"))).is_empty());
    // The 10:28 restart (late: the tick came at 10:29) ends before the 10:30 run.
    w.handle_sequence_done("w", ok(P1), t("10:29:05"));
    assert_eq!(
        catch_up_runs(&tick_ready(&mut w, t("10:30:00"))),
        [(t("10:30:00"), false)]
    );

    // Started again right after, with the catch-up recorded: nothing is missed.
    let mut again = Warden::new(s, false, t("10:26:30"));
    again.handle_boot(Vec::new(), t("10:26:30"));
    again.handle_last_runs(&last_run("10:20:00"), t("10:26:30"));
    let a = drain(&mut again);
    assert!(!has_note(&a, "a run was missed"), "{:?}", notes(&a));
    assert!(!has_note(&a, "skipped missed"), "{:?}", notes(&a));
    for (name, id) in [("w", P1), ("v", P2)] {
        again.handle_sequence_done(name, ok(id), t("10:26:32"));
    }
    assert!(catch_up_runs(&tick(&mut again, t("10:26:33"))).is_empty());
}

#[test]
fn a_missed_run_older_than_catch_up_is_skipped_and_recorded() {
    let s = catching_up("    catch_up: 4m\n");
    let mut w = Warden::new(s, false, t("10:25:00"));
    w.handle_boot(Vec::new(), t("10:25:00"));
    w.handle_last_runs(&last_run("10:00:00"), t("10:25:00"));
    let a = drain(&mut w);
    assert!(!has_note(&a, "a run was missed"), "{:?}", notes(&a));
    let skipped = a.iter().find_map(|a| match a {
        Action::Save(Save::QueryMissed { scheduled_at, .. }) => Some(*scheduled_at),
        _ => None,
    });
    assert_eq!(skipped, Some(t("10:20:00")));
    for (name, id) in [("w", P1), ("v", P2)] {
        w.handle_sequence_done(name, ok(id), t("10:25:02"));
    }
    assert!(catch_up_runs(&tick(&mut w, t("10:25:03"))).is_empty());
}

#[test]
fn without_catch_up_or_without_a_record_nothing_is_caught_up() {
    for (s, last) in [
        (catching_up(""), last_run("10:00:00")),
        (catching_up("    catch_up: 1h\n"), Vec::new()),
    ] {
        let mut w = Warden::new(s, false, t("10:25:00"));
        w.handle_boot(Vec::new(), t("10:25:00"));
        w.handle_last_runs(&last, t("10:25:00"));
        let a = drain(&mut w);
        assert!(!has_note(&a, "a run was missed"), "{:?}", notes(&a));
        assert!(!has_note(&a, "skipped missed"), "{:?}", notes(&a));
        for (name, id) in [("w", P1), ("v", P2)] {
            w.handle_sequence_done(name, ok(id), t("10:25:02"));
        }
        assert!(catch_up_runs(&tick(&mut w, t("10:25:03"))).is_empty());
    }
}

#[test]
fn after_a_jump_of_the_clock_only_the_most_recent_missed_run_is_caught_up() {
    let mut w = booted(catching_up("    catch_up: 1h\n"), t("10:00:30"));
    // The machine slept from 10:00:30 to 10:35: 10:10, 10:20 and 10:30 were missed.
    let a = tick_ready(&mut w, t("10:35:00"));
    assert_eq!(catch_up_runs(&a), [(t("10:30:00"), true)]);
    assert!(has_note(&a, "skipped missed run(s)"), "{:?}", notes(&a));
    // A run noticed on time is not a catch-up.
    w.handle_query_done("q", query_done(true), t("10:36:00"));
    tick(&mut w, t("10:38:00"));
    w.handle_sequence_done("w", ok(P1), t("10:38:05"));
    assert_eq!(
        catch_up_runs(&tick_ready(&mut w, t("10:40:00.5"))),
        [(t("10:40:00"), false)]
    );
}

#[test]
fn a_sequence_that_ends_after_an_edit_removed_its_worker_is_still_reported() {
    let mut w = booted(supervised(), t("10:00:00"));
    w.handle_edit(every_ten_without_w(), t("10:00:01"));
    drain(&mut w);
    w.handle_sequence_done("w", failed(), t("10:00:02"));
    let a = drain(&mut w);
    assert!(has_note(
        &a,
        "a restart of a worker the edited schedule no longer has failed"
    ));
    // Nothing is retried for it.
    assert!(restarts(&tick(&mut w, t("10:00:30"))).is_empty());
}

// ---- workers that hang or bloat while alive (`ready.every`, `max_memory`) ----

/// One query a day at 06:00: no planned restart near 10:00.
fn checked(extra: &str) -> Arc<Schedule> {
    schedule(&format!(
        "timezone: UTC\nqueries:\n  - name: q\n    at: \"06:00\"\n{}",
        workers(extra)
    ))
}

const HANGS: &str = "    ready: {command: [r], every: 5m, failures: 3}\n";
const BLOATS: &str = "    max_memory: 1GB\n    max_memory_every: 1m\n";
const GB: u64 = 1 << 30;

fn alive(
    w: &mut Warden,
    id: Proc,
    answer: Result<(), &str>,
    busy: Option<&str>,
    now: DateTime<Utc>,
) -> Vec<Action> {
    let probe = Probe::Alive {
        id,
        answer: answer.map_err(str::to_string),
        busy: busy.map(str::to_string),
    };
    w.handle_probe("w", probe, now);
    drain(w)
}

fn memory(w: &mut Warden, id: Proc, bytes: u64, now: DateTime<Utc>) -> Vec<Action> {
    w.handle_probe(
        "w",
        Probe::Memory {
            id,
            bytes: Some(bytes),
        },
        now,
    );
    drain(w)
}

fn probes_alive(actions: &[Action]) -> Vec<(&str, Proc)> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::ProbeAlive { name, id, .. } => Some((name.as_str(), *id)),
            _ => None,
        })
        .collect()
}

fn probes_memory(actions: &[Action]) -> Vec<(&str, Proc)> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::ProbeMemory { name, id, .. } => Some((name.as_str(), *id)),
            _ => None,
        })
        .collect()
}

#[test]
fn ready_every_probes_once_per_interval_and_restarts_after_failures_in_a_row() {
    let mut w = booted(checked(HANGS), t("10:00:00"));
    assert_eq!(w.poll_timeout(), Some(t("10:05:00")));
    assert!(probes_alive(&tick(&mut w, t("10:04:59"))).is_empty());
    for (k, at) in [(1, "10:05:00"), (2, "10:10:00")] {
        let a = tick(&mut w, t(at));
        assert_eq!(probes_alive(&a), [("w", P1)]);
        // While it runs, the probe is not due again (no busy loop).
        assert!(w.poll_timeout().unwrap() > t("11:00:00"));
        let a = alive(
            &mut w,
            P1,
            Err("exit status 69"),
            None,
            t(at) + TimeDelta::seconds(2),
        );
        assert!(
            has_note(
                &a,
                &format!("the worker did not answer its ready command ({k} of 3")
            ),
            "{a:?}"
        );
        assert!(restarts(&a).is_empty() && alerts(&a).is_empty());
        assert!(a.iter().any(|a| matches!(a, Action::Save(Save::Fitness { ready: Some(r), .. }) if !r.ok && r.failures_in_a_row == k)));
    }
    assert_eq!(w.poll_timeout(), Some(t("10:15:00")));
    tick(&mut w, t("10:15:00"));
    let a = alive(&mut w, P1, Err("exit status 69"), None, t("10:15:02"));
    assert_eq!(alerts(&a), [("worker_unresponsive", Some("w"))]);
    assert_eq!(restarts(&a), [("w", Why::Unresponsive)]);
    assert!(a.contains(&Action::Unwatch { name: "w".into() }));
    // No probe while its restart sequence runs, and none is due (no busy loop).
    assert!(w.poll_timeout().unwrap() > t("11:00:00"));
    assert!(probes_alive(&tick(&mut w, t("10:25:00"))).is_empty());
    // The new worker is probed an interval after its start, counting from 0.
    w.handle_sequence_done("w", ok(P3), t("10:15:10"));
    drain(&mut w);
    assert_eq!(w.poll_timeout(), Some(t("10:20:10")));
    let a = tick(&mut w, t("10:20:10"));
    assert_eq!(probes_alive(&a), [("w", P3)]);
    let a = alive(&mut w, P3, Err("timeout"), None, t("10:20:12"));
    assert!(has_note(
        &a,
        "the worker did not answer its ready command (1 of 3"
    ));
}

const P3: Proc = Proc {
    pid: 103,
    start_time: 3,
};

#[test]
fn a_ready_answer_resets_the_failures_and_a_stale_answer_is_ignored() {
    let mut w = booted(checked(HANGS), t("10:00:00"));
    let mut at = t("10:05:00");
    for answer in [Err("x"), Err("x"), Ok(()), Err("x"), Err("x")] {
        tick(&mut w, at);
        let a = alive(&mut w, P1, answer, None, at);
        assert!(restarts(&a).is_empty(), "{a:?}");
        if answer.is_ok() {
            assert!(has_note(
                &a,
                "the worker answers its ready command again (after 2 failed probes)"
            ));
        }
        at += TimeDelta::minutes(5);
    }
    // An answer about another process changes nothing.
    tick(&mut w, at);
    let a = alive(&mut w, P2, Err("x"), None, at);
    assert!(a.is_empty(), "{a:?}");
}

#[test]
fn a_failed_ready_probe_while_busy_is_not_counted() {
    let mut w = booted(
        checked(&format!("{HANGS}    busy: {{command: [b]}}\n")),
        t("10:00:00"),
    );
    let mut at = t("10:05:00");
    for _ in 0..5 {
        tick(&mut w, at);
        let a = alive(&mut w, P1, Err("timeout"), Some("1 task"), at);
        assert!(has_note(
            &a,
            "the ready command failed but the worker is busy; not counted"
        ));
        assert!(restarts(&a).is_empty() && alerts(&a).is_empty());
        at += TimeDelta::minutes(5);
    }
}

#[test]
fn no_check_while_a_planned_restart_waits_for_a_busy_worker() {
    let s = every_ten(&format!(
        "    ready: {{command: [r], every: 1m}}\n{BLOATS}    busy: {{command: [b], every: 30s}}\n"
    ));
    let mut w = booted(s, t("10:07:30"));
    let a = tick(&mut w, t("10:08:00"));
    assert!(a.contains(&Action::ProbeBusy {
        worker: 0,
        name: "w".into()
    }));
    busy(&mut w, true, t("10:08:01"));
    // Its checks were due at 10:08:30, as the busy probe: only the busy probe runs.
    assert_eq!(w.poll_timeout(), Some(t("10:08:31")));
    let a = tick(&mut w, t("10:08:31"));
    assert!(
        probes_alive(&a).is_empty() && probes_memory(&a).is_empty(),
        "{a:?}"
    );
    // The worker `v` has no checks; `w` is still deferred: nothing else is due.
    busy(&mut w, true, t("10:08:32"));
    assert_eq!(w.poll_timeout(), Some(t("10:09:02")));
}

#[test]
fn memory_above_the_limit_restarts_the_worker_gracefully() {
    let mut w = booted(checked(BLOATS), t("10:00:00"));
    assert_eq!(w.poll_timeout(), Some(t("10:01:00")));
    let a = tick(&mut w, t("10:01:00"));
    assert_eq!(probes_memory(&a), [("w", P1)]);
    let a = memory(&mut w, P1, GB / 2, t("10:01:00"));
    assert!(restarts(&a).is_empty() && alerts(&a).is_empty());
    assert!(a.iter().any(|a| matches!(a, Action::Save(Save::Fitness { memory: Some(m), .. }) if m.bytes == GB / 2 && m.limit == GB)));
    assert_eq!(w.poll_timeout(), Some(t("10:02:00")));
    tick(&mut w, t("10:02:00"));
    // Exactly the limit is not above it.
    let a = memory(&mut w, P1, GB, t("10:02:00"));
    assert!(restarts(&a).is_empty());
    tick(&mut w, t("10:03:00"));
    let a = memory(&mut w, P1, GB + GB / 2, t("10:03:00"));
    assert_eq!(alerts(&a), [("memory_limit", Some("w"))]);
    assert!(
        notes(&a)
            .iter()
            .any(|n| n.contains("uses 1.5 GB of memory, above its max_memory of 1.0 GB")),
        "{a:?}"
    );
    assert_eq!(restarts(&a), [("w", Why::Memory)]);
    // No check during the sequence.
    assert!(probes_memory(&tick(&mut w, t("10:04:00"))).is_empty());
}

#[test]
fn a_memory_restart_of_a_busy_worker_waits_while_busy_up_to_its_cap() {
    let mut w = booted(
        checked(&format!("{BLOATS}    busy: {{command: [b], every: 5m}}\n")),
        t("10:00:00"),
    );
    tick(&mut w, t("10:01:00"));
    let a = memory(&mut w, P1, 2 * GB, t("10:01:00"));
    assert_eq!(alerts(&a), [("memory_limit", Some("w"))]);
    assert!(restarts(&a).is_empty());
    assert!(a.contains(&Action::ProbeBusy {
        worker: 0,
        name: "w".into()
    }));
    let mut now = t("10:01:01");
    let cap = t("10:01:00") + TimeDelta::from_std(MEMORY_DEFER_MAX).unwrap();
    loop {
        let a = busy(&mut w, true, now);
        if now >= cap {
            assert!(
                has_note(
                    &a,
                    "still busy, and its memory restart has waited its longest: restarting anyway"
                ),
                "{a:?}"
            );
            assert_eq!(restarts(&a), [("w", Why::Memory)]);
            break;
        }
        assert!(restarts(&a).is_empty(), "{now} {a:?}");
        // Recorded as a memory restart's wait, up to its cap; first only at the first answer.
        assert!(
            a.iter().any(|a| matches!(a, Action::Save(Save::Deferral {
                deferral: Some(Waiting { until, memory: true, first, .. }),
                ..
            }) if *until == cap && *first == (now == t("10:01:01")))),
            "{now} {a:?}"
        );
        now = w.poll_timeout().unwrap();
        assert!(now <= cap);
        let a = tick(&mut w, now);
        assert!(
            probes_memory(&a).is_empty(),
            "no memory check while it waits"
        );
    }
}

#[test]
fn a_memory_restart_of_a_worker_found_idle_runs_at_once() {
    let mut w = booted(
        checked(&format!("{BLOATS}    busy: {{command: [b]}}\n")),
        t("10:00:00"),
    );
    tick(&mut w, t("10:01:00"));
    memory(&mut w, P1, 2 * GB, t("10:01:00"));
    let a = busy(&mut w, false, t("10:01:01"));
    assert_eq!(restarts(&a), [("w", Why::Memory)]);
}

#[test]
fn an_idle_worker_with_both_checks_wakes_the_daemon_once_per_interval() {
    let mut w = booted(
        checked(&format!("    ready: {{command: [r], every: 5m}}\n{BLOATS}")),
        t("10:00:00"),
    );
    let end = t("11:00:00");
    let mut wakes = Vec::new();
    while let Some(at) = w.poll_timeout().filter(|&at| at <= end) {
        wakes.push(at);
        let a = tick(&mut w, at);
        for (_, id) in probes_memory(&a) {
            memory(&mut w, id, GB / 4, at);
        }
        for (_, id) in probes_alive(&a) {
            alive(&mut w, id, Ok(()), None, at + TimeDelta::seconds(1));
        }
    }
    // One timer wake-up a minute (the ready probe's every 5 minutes coincides with one).
    let minutes: Vec<DateTime<Utc>> = (1..=60)
        .map(|m| t("10:00:00") + TimeDelta::minutes(m))
        .collect();
    assert_eq!(wakes, minutes);
}

#[test]
fn checks_added_by_an_edit_begin_for_the_running_worker() {
    let mut w = booted(checked(""), t("10:00:00"));
    assert!(w.poll_timeout().unwrap() > t("11:00:00"));
    w.handle_edit(checked(BLOATS), t("10:30:00"));
    drain(&mut w);
    assert_eq!(w.poll_timeout(), Some(t("10:31:00")));
    w.handle_edit(checked(""), t("10:30:30"));
    drain(&mut w);
    assert!(w.poll_timeout().unwrap() > t("11:00:00"));
}

#[test]
fn the_same_answer_again_is_not_recorded_again() {
    let mut w = booted(checked(&format!("{HANGS}{BLOATS}")), t("10:00:00"));
    let saves = |a: &[Action]| {
        a.iter()
            .filter(|a| matches!(a, Action::Save(Save::Fitness { .. })))
            .count()
    };
    tick(&mut w, t("10:01:00"));
    assert_eq!(saves(&memory(&mut w, P1, GB / 2, t("10:01:00"))), 1);
    tick(&mut w, t("10:02:00"));
    // Within 5% of the limit of the recorded reading: not written again.
    assert_eq!(
        saves(&memory(&mut w, P1, GB / 2 + GB / 40, t("10:02:00"))),
        0
    );
    tick(&mut w, t("10:03:00"));
    assert_eq!(
        saves(&memory(&mut w, P1, GB / 2 + GB / 10, t("10:03:00"))),
        1
    );
    tick(&mut w, t("10:05:00"));
    assert_eq!(saves(&alive(&mut w, P1, Ok(()), None, t("10:05:00"))), 1);
    tick(&mut w, t("10:10:00"));
    assert_eq!(saves(&alive(&mut w, P1, Ok(()), None, t("10:10:00"))), 0);
    tick(&mut w, t("10:15:00"));
    assert_eq!(saves(&alive(&mut w, P1, Err("x"), None, t("10:15:00"))), 1);
}

#[test]
fn a_clock_stepped_back_does_not_delay_the_checks_of_a_running_worker() {
    let mut w = booted(checked(HANGS), t("10:00:00"));
    assert_eq!(w.poll_timeout(), Some(t("10:05:00")));
    // An hour back, a minute after start: the probe is still at most its interval away.
    let stepped = t("09:01:00");
    assert!(probes_alive(&tick(&mut w, stepped)).is_empty());
    let next = w.poll_timeout().unwrap();
    assert!(
        next > stepped && next <= stepped + TimeDelta::minutes(5),
        "{next}"
    );
    assert_eq!(probes_alive(&tick(&mut w, next)), [("w", P1)]);
}

/// A service worker whose process exited: a service Windows is starting, stopping or about
/// to restart (its recovery) is left alone, looked at again every few seconds; one running
/// again is adopted; one stopped with exit code 0 is stopped on purpose; one down is a crash.
#[test]
fn a_service_windows_is_already_restarting_is_left_alone() {
    use std::time::Duration;
    let secs = Duration::from_secs;
    let seen_pending = ServiceSeen::Pending;
    // Pending: looked at again, until the limit; then a crash.
    assert_eq!(
        service_verdict(seen_pending, P1, Duration::ZERO),
        ServiceVerdict::LeaveAlone(SERVICE_LOOK_MAX)
    );
    assert_eq!(
        service_verdict(seen_pending, P1, SERVICE_PENDING_LIMIT - secs(1)),
        ServiceVerdict::LeaveAlone(secs(1))
    );
    assert_eq!(
        service_verdict(seen_pending, P1, SERVICE_PENDING_LIMIT),
        ServiceVerdict::Crashed
    );
    // Stopped after a failure, its recovery restarting it after 60 s: left alone for the
    // delay and the margin, counted from the exit, looked at every few seconds (a service
    // Windows started again is adopted promptly); then a crash.
    let recovery = ServiceSeen::RecoveryRestarts { delay: secs(60) };
    let patience = secs(60) + SERVICE_RECOVERY_MARGIN;
    assert!(SERVICE_LOOK_MAX <= secs(5));
    assert_eq!(
        service_verdict(recovery, P1, Duration::ZERO),
        ServiceVerdict::LeaveAlone(SERVICE_LOOK_MAX)
    );
    assert_eq!(
        service_verdict(recovery, P1, patience - secs(2)),
        ServiceVerdict::LeaveAlone(secs(2))
    );
    assert_eq!(
        service_verdict(recovery, P1, patience),
        ServiceVerdict::Crashed
    );
    // Running again under another process: adopted; stopped for good: a crash.
    assert_eq!(
        service_verdict(ServiceSeen::Running(P2), P1, secs(5)),
        ServiceVerdict::Adopt(P2)
    );
    assert_eq!(
        service_verdict(ServiceSeen::Down, P1, Duration::ZERO),
        ServiceVerdict::Crashed
    );
}

/// The SCM may still say RUNNING with the exited process (or a gone one) for a moment after
/// the exit (natively, until it records STOPPED 1067 and its recovery acts), or for good
/// (Wine): left alone, looked at every second, for `SERVICE_STALE_LIMIT`; then a crash.
#[test]
fn a_service_still_running_with_its_exited_process_is_left_alone_briefly() {
    use std::time::Duration;
    let secs = Duration::from_secs;
    assert!(SERVICE_STALE_LIMIT <= secs(10));
    for seen in [ServiceSeen::Running(P1), ServiceSeen::Stale] {
        assert_eq!(
            service_verdict(seen, P1, Duration::ZERO),
            ServiceVerdict::LeaveAlone(SERVICE_STALE_LOOK),
            "{seen:?}"
        );
        assert_eq!(
            service_verdict(seen, P1, SERVICE_STALE_LIMIT - SERVICE_STALE_LOOK),
            ServiceVerdict::LeaveAlone(SERVICE_STALE_LOOK),
            "{seen:?}"
        );
        assert_eq!(
            service_verdict(seen, P1, SERVICE_STALE_LIMIT),
            ServiceVerdict::Crashed,
            "{seen:?}"
        );
    }
    // Once the SCM noticed: its recovery's wait, or a new process, as usual.
    assert_eq!(
        service_verdict(
            ServiceSeen::RecoveryRestarts { delay: secs(5) },
            P1,
            secs(2)
        ),
        ServiceVerdict::LeaveAlone(SERVICE_LOOK_MAX)
    );
    assert_eq!(
        service_verdict(ServiceSeen::Running(P2), P1, secs(2)),
        ServiceVerdict::Adopt(P2)
    );
}

/// STOPPED with exit code 0 (an admin's `sc stop`, the Services console), and still so after
/// `SERVICE_STOPPED_LIMIT`: warned and alerted, not started again by supervision (it would
/// fight the admin), only by the next planned restart.
#[test]
fn a_service_stopped_on_purpose_stays_down_until_the_next_planned_restart() {
    assert_eq!(
        service_verdict(ServiceSeen::Stopped, P1, SERVICE_STOPPED_LIMIT),
        ServiceVerdict::Stopped
    );
    let mut w = booted(supervised(), t("10:00:00"));
    w.handle_service_stopped("w", P1, t("10:01:00"));
    let a = drain(&mut w);
    assert!(restarts(&a).is_empty(), "{a:?}");
    assert_eq!(alerts(&a), [("worker_stopped", Some("w"))]);
    assert!(a
        .iter()
        .any(|a| matches!(a, Action::Log(n) if n.level == Level::Warn
        && n.message.starts_with("worker w's service was stopped"))));
    // No crash retry: the next wake-up is the planned restart's preparation.
    assert_eq!(w.poll_timeout(), Some(t("10:07:59")));
    assert!(restarts(&tick(&mut w, t("10:05:00"))).is_empty());
    assert!(restarts(&tick(&mut w, t("10:07:59"))).is_empty());
    assert_eq!(
        restarts(&tick(&mut w, t("10:08:00"))),
        [("w", Why::Planned), ("v", Why::Planned)]
    );
    // It is no longer watched: a late exit report of it is stale.
    w.handle_exit("w", P1, t("10:08:01"));
    assert!(!has_note(&drain(&mut w), "the worker exited"));
}

/// A planned restart stopping the service (STOPPED with exit code 0 too) is no admin's stop:
/// the restart stopped watching its process, so the report is stale.
#[test]
fn a_service_stopped_by_its_own_restart_raises_no_alert() {
    let mut w = booted(supervised(), t("10:00:00"));
    assert_eq!(restarts(&tick(&mut w, t("10:08:00"))).len(), 2);
    w.handle_service_stopped("w", P1, t("10:08:01"));
    let a = drain(&mut w);
    assert!(alerts(&a).is_empty(), "{a:?}");
    assert!(!has_note(&a, "worker w's service was stopped"));
}

/// Windows started the service again about a process no longer watched (stale: another one
/// is, or a restart in flight stopped watching it, its own start): ignored. (A restart in
/// flight always stops watching first, so that is the stale case too: no separate guard.)
#[test]
fn a_service_restarted_report_during_a_restart_or_stale_is_ignored() {
    const P3: Proc = Proc {
        pid: 103,
        start_time: 3,
    };
    let mut w = booted(supervised(), t("10:00:00"));
    // Stale: P2 is not w's watched process (P1 is).
    w.handle_service_restarted("w", P2, P3, t("10:01:00"));
    let a = drain(&mut w);
    assert!(a.is_empty(), "{a:?}");
    // In flight: the planned restart is stopping P1 on purpose.
    assert_eq!(restarts(&tick(&mut w, t("10:08:00"))).len(), 2);
    w.handle_service_restarted("w", P1, P3, t("10:08:01"));
    let a = drain(&mut w);
    assert!(
        !a.iter()
            .any(|a| matches!(a, Action::Watch { .. } | Action::Save(Save::Adopted { .. }))),
        "{a:?}"
    );
    assert!(!has_note(&a, "the worker's service process"));
}

#[test]
fn a_service_restarted_by_windows_is_watched_not_restarted() {
    let mut w = booted(every_ten(""), t("10:00:00"));
    w.handle_service_restarted("w", P1, P2, t("10:01:00"));
    let a = drain(&mut w);
    assert!(a.contains(&Action::Watch {
        name: "w".into(),
        id: P2
    }));
    assert!(restarts(&a).is_empty(), "{a:?}");
    assert!(a
        .iter()
        .any(|a| matches!(a, Action::Log(n) if n.level == Level::Warn
        && n.message.starts_with("the worker's service process 101 exited and Windows started"))));
    // Recorded as the worker's process: a later daemon adopts it.
    assert!(a.contains(&Action::Save(Save::Adopted {
        worker: "w".into(),
        id: P2
    })));
    // The new process is the one watched: its exit is a crash, the old one's is stale.
    w.handle_exit("w", P1, t("10:02:00"));
    assert!(!has_note(&drain(&mut w), "the worker exited"));
    w.handle_exit("w", P2, t("10:02:00"));
    assert!(has_note(
        &drain(&mut w),
        "the worker exited unexpectedly (crash)"
    ));
}

/// A not-ready service worker whose service Windows started again: the new process is probed,
/// not the old one.
#[test]
fn a_not_ready_service_worker_restarted_by_windows_has_its_new_process_probed() {
    let mut w = booted(supervised(), t("10:00:00"));
    let done = SequenceDone {
        running: Some(P1),
        ok: false,
        summary: "FAILED: not ready".into(),
        not_ready: Some("no reply".into()),
    };
    w.handle_sequence_done("w", done, t("10:00:01"));
    drain(&mut w);
    w.handle_service_restarted("w", P1, P2, t("10:00:30"));
    let a = drain(&mut w);
    assert!(a.iter().any(
        |a| matches!(a, Action::Save(Save::Supervision { worker, record })
        if worker == "w" && record.not_ready.as_ref().is_some_and(|n| n.pid == P2.pid))
    ));
    let next = w.poll_timeout().unwrap();
    let a = tick(&mut w, next);
    assert!(
        a.contains(&Action::ProbeReady {
            worker: 0,
            name: "w".into(),
            id: P2
        }),
        "{a:?}"
    );
}

/// An admin's Restart-Service, or `pacs-warden restart` by hand, shows the service STOPPED with
/// exit code 0 for a few seconds between its stop and its start: looked at again every
/// second, and only a STOPPED that stays so for `SERVICE_STOPPED_LIMIT` is on purpose; a new
/// process or a pending state within that time is adopted or left alone as usual.
#[test]
fn a_service_stopped_only_for_a_moment_is_not_stopped_on_purpose() {
    use std::time::Duration;
    let secs = Duration::from_secs;
    assert!(SERVICE_STOPPED_LIMIT >= secs(5) && SERVICE_STOPPED_LIMIT <= secs(15));
    for waited in [
        Duration::ZERO,
        secs(3),
        SERVICE_STOPPED_LIMIT - SERVICE_STOPPED_LOOK,
    ] {
        assert_eq!(
            service_verdict(ServiceSeen::Stopped, P1, waited),
            ServiceVerdict::LeaveAlone(SERVICE_STOPPED_LOOK),
            "{waited:?}"
        );
    }
    // Started again within: adopted; starting: left alone.
    assert_eq!(
        service_verdict(ServiceSeen::Running(P2), P1, secs(3)),
        ServiceVerdict::Adopt(P2)
    );
    assert_eq!(
        service_verdict(ServiceSeen::Pending, P1, secs(3)),
        ServiceVerdict::LeaveAlone(SERVICE_LOOK_MAX)
    );
    assert_eq!(
        service_verdict(ServiceSeen::Stopped, P1, SERVICE_STOPPED_LIMIT),
        ServiceVerdict::Stopped
    );
}

/// The service process exited: the core hears it at once, and until the verdict about the
/// service arrives nothing checks the dead process — a late failed ping counts for nothing
/// (no `worker_unresponsive`, no restart that would stop the service Windows brings back), and
/// no new probe is started. The adopted process is checked again from its adoption.
#[test]
fn a_service_process_exit_ends_its_checks_until_the_verdict() {
    let mut w = booted(checked(HANGS), t("10:00:00"));
    for at in ["10:05:00", "10:10:00"] {
        assert_eq!(probes_alive(&tick(&mut w, t(at))), [("w", P1)]);
        alive(
            &mut w,
            P1,
            Err("exit status 69"),
            None,
            t(at) + TimeDelta::seconds(2),
        );
    }
    // The third probe is out when the service process exits.
    assert_eq!(probes_alive(&tick(&mut w, t("10:15:00"))), [("w", P1)]);
    w.handle_service_exited("w", P1, t("10:15:01"));
    let a = drain(&mut w);
    assert!(
        a.contains(&Action::AwaitService {
            name: "w".into(),
            id: P1
        }),
        "{a:?}"
    );
    let a = alive(&mut w, P1, Err("connection refused"), None, t("10:15:02"));
    assert!(restarts(&a).is_empty() && alerts(&a).is_empty(), "{a:?}");
    // An edit read meanwhile does not start its checks again either.
    w.handle_edit(checked(HANGS), t("10:16:00"));
    drain(&mut w);
    // No probe while awaiting the verdict, and none due (no busy loop).
    assert!(w.poll_timeout().is_none_or(|at| at > t("11:00:00")));
    for at in ["10:20:00", "10:25:00"] {
        let a = tick(&mut w, t(at));
        assert!(
            probes_alive(&a).is_empty() && restarts(&a).is_empty(),
            "{a:?}"
        );
    }
    // Windows started it again: the new process is checked from now on.
    w.handle_service_restarted("w", P1, P2, t("10:26:00"));
    drain(&mut w);
    assert_eq!(w.poll_timeout(), Some(t("10:31:00")));
    assert_eq!(probes_alive(&tick(&mut w, t("10:31:00"))), [("w", P2)]);
}

/// A not-ready service worker's probes pause too while its service's verdict is awaited.
#[test]
fn a_not_ready_service_worker_is_not_probed_while_its_verdict_is_awaited() {
    let mut w = booted(supervised(), t("10:00:00"));
    let done = SequenceDone {
        running: Some(P1),
        ok: false,
        summary: "FAILED: not ready".into(),
        not_ready: Some("no reply".into()),
    };
    w.handle_sequence_done("w", done, t("10:00:01"));
    drain(&mut w);
    w.handle_service_exited("w", P1, t("10:00:30"));
    drain(&mut w);
    let a = tick(&mut w, t("10:01:01"));
    assert!(
        !a.iter().any(|a| matches!(a, Action::ProbeReady { .. })),
        "{a:?}"
    );
}

/// An admin's stop is saved (`stopped_on_purpose`) and a later daemon, when the machine has
/// not rebooted since (the shell tells it so), skips that worker's boot restart; a finished
/// restart of the worker clears it.
#[test]
fn a_service_stopped_on_purpose_stays_stopped_across_a_daemon_restart() {
    let stopped = |a: &[Action]| {
        a.iter().find_map(|a| match a {
            Action::Save(Save::Supervision { worker, record }) if worker == "w" => {
                Some(record.stopped_on_purpose)
            }
            _ => None,
        })
    };
    let mut w = booted(supervised(), t("10:00:00"));
    w.handle_service_stopped("w", P1, t("10:01:00"));
    assert_eq!(stopped(&drain(&mut w)), Some(Some(t("10:01:00"))));
    // The next daemon: `w` is not restarted at its start, `v` is.
    let mut again = Warden::new(supervised(), false, t("10:02:00"));
    again.handle_stopped_on_purpose("w", t("10:01:00"));
    again.handle_boot(Vec::new(), t("10:02:00"));
    let a = drain(&mut again);
    assert_eq!(restarts(&a), [("v", Why::Boot)]);
    assert!(
        has_note(&a, "the worker's service was stopped on purpose at"),
        "{a:?}"
    );
    // Its next planned restart starts it, and clears the record.
    again.handle_sequence_done("v", ok(P2), t("10:02:01"));
    drain(&mut again);
    let a = tick(&mut again, t("10:08:00"));
    assert_eq!(restarts(&a), [("w", Why::Planned), ("v", Why::Planned)]);
    again.handle_sequence_done("w", ok(P1), t("10:08:05"));
    assert_eq!(stopped(&drain(&mut again)), Some(None));
}

// ---- a run's readiness (`ready_wait`) ----

/// `q` (every 10 minutes, run by pacs-warden, needing `w`, `ready_wait: 2m`), booted at
/// 10:00 with the 10:08 restart of `w` run; its sequence ended at 10:08:05 unless
/// `w_restarting`.
fn waiting_run(w_restarting: bool) -> Warden {
    let mut w = booted(catching_up("    ready_wait: 2m\n"), t("10:00:00"));
    tick(&mut w, t("10:07:59"));
    assert_eq!(
        restarts(&tick(&mut w, t("10:08:00"))),
        [("w", Why::Planned)]
    );
    if !w_restarting {
        w.handle_sequence_done("w", ok(P1), t("10:08:05"));
    }
    drain(&mut w);
    w
}

/// The runs' readiness questions, as (query, workers).
fn ready_checks(actions: &[Action]) -> Vec<(&str, Vec<&str>)> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::CheckQueryReady { query, workers } => {
                Some((query.as_str(), workers.iter().map(String::as_str).collect()))
            }
            _ => None,
        })
        .collect()
}

/// A run recorded not run: (planned, waited since, decided at, summary).
type NotRun<'a> = (DateTime<Utc>, DateTime<Utc>, DateTime<Utc>, &'a str);

fn not_run_saved(actions: &[Action]) -> Vec<NotRun<'_>> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Save(Save::QueryNotRun {
                scheduled_at,
                since,
                at,
                summary,
                ..
            }) => Some((*scheduled_at, *since, *at, summary.as_str())),
            _ => None,
        })
        .collect()
}

#[test]
fn a_run_whose_workers_are_ready_starts_at_once() {
    let mut w = waiting_run(false);
    let a = tick(&mut w, t("10:10:00"));
    // Recorded as waiting, then its workers are asked about; nothing runs before the answer.
    assert!(a.contains(&Action::Save(Save::QueryWaiting {
        query: "q".into(),
        scheduled_at: t("10:10:00"),
        at: t("10:10:00"),
        catch_up: false,
    })));
    assert!(!a
        .iter()
        .any(|a| matches!(a, Action::Save(Save::QueryRunning { .. }))));
    assert_eq!(ready_checks(&a), [("q", vec!["w"])]);
    assert!(query_runs(&a).is_empty());
    let a = answer_ready(&mut w, a, true, t("10:10:01"));
    assert_eq!(query_runs(&a), [t("10:10:00")]);
    // Recorded as running as its command starts.
    assert!(a.contains(&Action::Save(Save::QueryRunning {
        query: "q".into(),
        scheduled_at: t("10:10:00"),
        at: t("10:10:01"),
        catch_up: false,
    })));
    assert!(alerts(&a).is_empty());
    // Decided: no more questions.
    assert!(ready_checks(&tick(&mut w, t("10:10:01"))).is_empty());
}

#[test]
fn a_run_waits_for_its_workers_and_runs_for_its_planned_instant() {
    let mut w = waiting_run(false);
    let mut now = t("10:10:00");
    let mut a = tick(&mut w, now);
    // `w` is not ready (its lock held by a `pacs-warden restart`, then its last restart
    // failed) until 10:10:30: asked again every second, nothing runs meanwhile.
    while now < t("10:10:30") {
        assert_eq!(ready_checks(&a), [("q", vec!["w"])], "at {now}");
        let busy = WorkerFacts {
            restarting: now < t("10:10:10"),
            ..facts("w", now < t("10:10:10"))
        };
        w.handle_query_ready("q", vec![busy], now);
        let after = drain(&mut w);
        assert!(query_runs(&after).is_empty(), "at {now}");
        assert!(alerts(&after).is_empty(), "at {now}");
        assert_eq!(w.poll_timeout(), Some(now + TimeDelta::seconds(1)));
        now += TimeDelta::seconds(1);
        a = tick(&mut w, now);
    }
    let a = answer_ready(&mut w, a, true, now);
    // Late, but for its planned instant (its dates are 10:10's).
    assert_eq!(query_runs(&a), [t("10:10:00")]);
    assert!(not_run_saved(&a).is_empty());
}

#[test]
fn a_run_whose_workers_never_get_ready_is_not_run_after_ready_wait() {
    let mut w = waiting_run(false);
    let mut now = t("10:10:00");
    let mut a = tick(&mut w, now);
    while now < t("10:12:00") {
        let after = answer_ready(&mut w, a, false, now);
        assert!(query_runs(&after).is_empty(), "at {now}");
        assert!(not_run_saved(&after).is_empty(), "at {now}");
        now = w.poll_timeout().unwrap();
        a = tick(&mut w, now);
    }
    assert_eq!(now, t("10:12:00"));
    let a = answer_ready(&mut w, a, false, now);
    assert!(query_runs(&a).is_empty());
    let summary = "not run: worker(s) w not ready within 2m";
    assert_eq!(
        not_run_saved(&a),
        [(t("10:10:00"), t("10:10:00"), t("10:12:00"), summary)]
    );
    assert!(a.contains(&Action::Log(Note::warn(summary).query("q"))));
    assert_eq!(alerts(&a), [("query_not_run", None)]);
    assert!(a.iter().any(|a| matches!(a,
        Action::Alert { message, .. } if message == &format!("query q: {summary}"))));
    // Over: no more questions, and the next run is not taken for an overlap.
    assert!(ready_checks(&tick(&mut w, t("10:12:01"))).is_empty());
    tick(&mut w, t("10:17:59"));
    tick(&mut w, t("10:18:00"));
    w.handle_sequence_done("w", ok(P1), t("10:18:05"));
    drain(&mut w);
    assert_eq!(
        query_runs(&tick_ready(&mut w, t("10:20:00"))),
        [t("10:20:00")]
    );
}

#[test]
fn a_run_due_while_its_worker_restarts_waits_for_the_restarts_outcome() {
    let mut w = waiting_run(true);
    // `w`'s restart still runs at 10:10: no question, no polling; woken at the end of
    // `ready_wait` at the latest.
    let a = tick(&mut w, t("10:10:00"));
    assert!(ready_checks(&a).is_empty());
    assert!(query_runs(&a).is_empty());
    assert_eq!(w.poll_timeout(), Some(t("10:12:00")));
    assert!(ready_checks(&tick(&mut w, t("10:10:20"))).is_empty());
    // Its end is looked at at once.
    w.handle_sequence_done("w", ok(P1), t("10:10:40"));
    drain(&mut w);
    let a = tick(&mut w, t("10:10:40"));
    assert_eq!(ready_checks(&a), [("q", vec!["w"])]);
    let a = answer_ready(&mut w, a, true, t("10:10:40"));
    assert_eq!(query_runs(&a), [t("10:10:00")]);

    // A restart still running at the end of `ready_wait`: not run.
    let mut w = waiting_run(true);
    tick(&mut w, t("10:10:00"));
    let a = tick(&mut w, t("10:12:00"));
    assert!(query_runs(&a).is_empty());
    assert_eq!(
        not_run_saved(&a),
        [(
            t("10:10:00"),
            t("10:10:00"),
            t("10:12:00"),
            "not run: worker(s) w not ready within 2m"
        )]
    );
    assert_eq!(alerts(&a), [("query_not_run", None)]);
}

#[test]
fn a_clock_stepped_back_does_not_lengthen_a_run_s_wait_for_its_workers() {
    let mut w = waiting_run(false);
    let a = tick(&mut w, t("10:10:00"));
    answer_ready(&mut w, a, false, t("10:10:00"));
    // A minute after the run came due, the clock is stepped back by an hour: the wait still
    // ends a minute later (two minutes after it began), not an hour and a minute later.
    let a = tick(&mut w, t("10:11:00"));
    answer_ready(&mut w, a, false, t("10:11:00"));
    let a = tick(&mut w, t("09:11:00"));
    answer_ready(&mut w, a, false, t("09:11:00"));
    let mut now = t("09:11:00");
    let mut a = Vec::new();
    while not_run_saved(&a).is_empty() && now < t("09:20:00") {
        now = w.poll_timeout().unwrap();
        a = tick(&mut w, now);
        a = answer_ready(&mut w, a, false, now);
    }
    assert_eq!(now, t("09:12:00"));
    assert_eq!(
        not_run_saved(&a),
        [(
            t("10:10:00"),
            t("09:10:00"),
            t("09:12:00"),
            "not run: worker(s) w not ready within 2m"
        )]
    );
}

/// `q` as in `waiting_run`, its worker `w` busy-aware.
fn busy_run() -> Arc<Schedule> {
    schedule(&format!(
        "timezone: UTC\nlead: 2m\nqueries:\n  - name: q\n    cron: \"*/10 * * * *\"\n    command: [x]\n    workers: [w]\n    ready_wait: 2m\n{}",
        workers("    busy: {command: [x], every: 30s}\n")
    ))
}

#[test]
fn a_run_due_while_its_worker_s_restart_is_put_off_waits_for_that_restart() {
    let mut w = booted(busy_run(), t("10:00:00"));
    tick(&mut w, t("10:07:59"));
    tick(&mut w, t("10:08:00"));
    busy(&mut w, true, t("10:09:45"));
    // At 10:10 the run is due and `w`'s restart, put off while it is busy, is due too: the run
    // waits for that restart (it would restart `w` under the running query), not starting.
    let a = tick(&mut w, t("10:10:00"));
    let a = answer_ready(&mut w, a, true, t("10:10:00"));
    assert!(query_runs(&a).is_empty());
    assert!(ready_checks(&a).is_empty());
    let a = busy(&mut w, true, t("10:10:05"));
    assert_eq!(restarts(&a), [("w", Why::Planned)]);
    assert!(query_runs(&a).is_empty());
    // Then runs on the new worker, for its planned instant.
    w.handle_sequence_done("w", ok(P1), t("10:10:30"));
    drain(&mut w);
    let a = tick_ready(&mut w, t("10:10:30"));
    assert_eq!(query_runs(&a), [t("10:10:00")]);

    // A memory restart waiting for the busy worker is waited for too.
    let mut w = booted(
        schedule(&format!(
            "timezone: UTC\nlead: 2m\nqueries:\n  - name: q\n    cron: \"*/10 * * * *\"\n    command: [x]\n    workers: [w]\n    ready_wait: 2m\n{}",
            workers("    busy: {command: [x], every: 30s}\n    max_memory: 1MB\n")
        )),
        t("10:00:00"),
    );
    tick(&mut w, t("10:07:59"));
    tick(&mut w, t("10:08:00"));
    w.handle_sequence_done("w", ok(P1), t("10:08:05"));
    drain(&mut w);
    let a = memory(&mut w, P1, 2 << 20, t("10:09:00"));
    assert!(a.contains(&Action::ProbeBusy {
        worker: 0,
        name: "w".into()
    }));
    busy(&mut w, true, t("10:09:01"));
    let a = tick(&mut w, t("10:10:00"));
    let a = answer_ready(&mut w, a, true, t("10:10:00"));
    assert!(query_runs(&a).is_empty());
}

/// A daemon booted at `now` whose last recorded run of `q` (planned for `at`) is `waiting`
/// (its command not started) or else running (its command started at `at`); its boot
/// restarts end at once. Returns the boot's actions and those of the first tick after.
fn boot_after(
    catch_up: &str,
    at: &str,
    waiting: bool,
    now: DateTime<Utc>,
) -> (Vec<Action>, Vec<Action>) {
    let mut w = Warden::new(catching_up(catch_up), false, now);
    w.handle_boot(Vec::new(), now);
    let last = [LastRun {
        query: "q".into(),
        scheduled_at: t(at),
        waiting: waiting.then(|| t(at)),
        running: (!waiting).then(|| t(at)),
    }];
    w.handle_last_runs(&last, now);
    let boot = drain(&mut w);
    for (name, id) in [("w", P1), ("v", P2)] {
        w.handle_sequence_done(name, ok(id), now);
    }
    drain(&mut w);
    let next = tick_ready(&mut w, now + TimeDelta::seconds(1));
    (boot, next)
}

#[test]
fn a_run_left_waiting_for_its_workers_by_a_stopped_daemon_is_caught_up_or_said_not_run() {
    let summary = "not run: pacs-warden stopped while the run planned for 2026-05-01 10:10:00 UTC waited for its workers";
    // Without catch_up: not run, said so (log, record, alert), and not run now.
    let (boot, next) = boot_after("", "10:10:00", true, t("10:11:00"));
    assert_eq!(
        not_run_saved(&boot),
        [(t("10:10:00"), t("10:10:00"), t("10:11:00"), summary)]
    );
    assert!(boot.contains(&Action::Log(Note::warn(summary).query("q"))));
    assert_eq!(alerts(&boot), [("query_not_run", None)]);
    assert!(query_runs(&next).is_empty());

    // With catch_up, the most recent missed run: caught up once the boot restart ended.
    let (boot, next) = boot_after("    catch_up: 1h\n", "10:10:00", true, t("10:11:00"));
    assert!(not_run_saved(&boot).is_empty());
    assert!(alerts(&boot).is_empty());
    assert!(has_note(&boot, "a run was missed"), "{:?}", notes(&boot));
    assert_eq!(catch_up_runs(&next), [(t("10:10:00"), true)]);

    // Not the most recent missed run: not run (said so), the 10:20 run is caught up.
    let (boot, next) = boot_after("    catch_up: 1h\n", "10:10:00", true, t("10:25:00"));
    assert_eq!(
        not_run_saved(&boot),
        [(t("10:10:00"), t("10:10:00"), t("10:25:00"), summary)]
    );
    assert_eq!(alerts(&boot), [("query_not_run", None)]);
    assert_eq!(catch_up_runs(&next), [(t("10:20:00"), true)]);

    // Its command had started (recorded running): never run again; its outcome is unknown,
    // and said so.
    let unknown = "outcome unknown: pacs-warden stopped while the command of the run planned for 2026-05-01 10:10:00 UTC may have run (recorded running since 2026-05-01 10:10:00 UTC); it is not run again";
    for catch_up in ["", "    catch_up: 1h\n"] {
        let (boot, next) = boot_after(catch_up, "10:10:00", false, t("10:11:00"));
        assert!(not_run_saved(&boot).is_empty());
        assert!(boot.contains(&Action::Save(Save::QueryInterrupted {
            query: "q".into(),
            scheduled_at: t("10:10:00"),
            started: t("10:10:00"),
            at: t("10:11:00"),
            summary: unknown.into(),
        })));
        assert!(boot.contains(&Action::Log(Note::warn(unknown).query("q"))));
        assert_eq!(alerts(&boot), [("query_failed", None)]);
        assert!(query_runs(&next).is_empty());
    }
}

#[test]
fn a_run_waiting_for_a_restart_whose_sequence_was_lost_looks_again_at_once() {
    let mut w = waiting_run(true);
    tick(&mut w, t("10:10:00"));
    assert_eq!(w.poll_timeout(), Some(t("10:12:00")));
    // `w`'s sequence ended abnormally (the shell lost whose it was): no restart's end will
    // come; the run looks again now, not at the end of `ready_wait`.
    w.handle_sequence_lost(t("10:10:20"));
    drain(&mut w);
    assert_eq!(w.poll_timeout(), Some(t("10:10:20")));
    let a = tick(&mut w, t("10:10:20"));
    assert_eq!(ready_checks(&a), [("q", vec!["w"])]);
    let a = answer_ready(&mut w, a, true, t("10:10:20"));
    assert_eq!(query_runs(&a), [t("10:10:00")]);
}

#[test]
fn a_run_due_while_the_previous_one_still_waits_for_its_workers_says_so() {
    let s = schedule(&format!(
        "timezone: UTC\nlead: 0s\nrestart_at_boot: false\nqueries:\n  - name: q\n    cron: \"* * * * *\"\n    command: [x]\n    workers: [w]\n    ready_wait: 5m\n{}",
        workers("")
    ));
    let mut w = booted(s, t("10:00:30"));
    // `w`'s 10:01 restart does not end: the 10:01 run waits for it when 10:02 comes.
    tick(&mut w, t("10:01:00"));
    let a = tick(&mut w, t("10:02:00"));
    assert!(query_runs(&a).is_empty());
    assert!(
        has_note(
            &a,
            "the previous run is still going (or still waiting for its workers); this run is skipped"
        ),
        "{:?}",
        notes(&a)
    );
}

#[test]
fn a_run_left_waiting_planned_after_now_is_not_caught_up() {
    // The clock was set back across the restart: the run left waiting is planned for 10:10,
    // the daemon starts at 10:05. Not caught up (it is not less than `catch_up` ago, it is
    // ahead): said not run.
    let (boot, next) = boot_after("    catch_up: 1h\n", "10:10:00", true, t("10:05:00"));
    assert!(catch_up_runs(&next).is_empty(), "{next:?}");
    assert_eq!(alerts(&boot), [("query_not_run", None)]);
}

#[test]
fn an_edit_makes_a_run_waiting_for_its_workers_look_again_at_once() {
    let mut w = waiting_run(false);
    let a = tick(&mut w, t("10:10:00"));
    answer_ready(&mut w, a, false, t("10:10:00"));
    assert_eq!(w.poll_timeout(), Some(t("10:10:01")));
    let a = tick(&mut w, t("10:10:01"));
    answer_ready(&mut w, a, false, t("10:10:01"));
    // An edit at 10:10:01.5 makes the query need `v` (ready) instead of `w`: the run looks
    // again at the next tick and runs, not at the next poll nor at the end of `ready_wait`.
    let edited = schedule(&format!(
        "timezone: UTC\nlead: 2m\nqueries:\n  - name: q\n    cron: \"*/10 * * * *\"\n    command: [x, \"{{time}}\"]\n    workers: [v]\n    ready_wait: 2m\n{}",
        workers("")
    ));
    let at = t("10:10:01") + TimeDelta::milliseconds(500);
    w.handle_edit(edited, at);
    drain(&mut w);
    assert_eq!(w.poll_timeout(), Some(at));
    let a = tick(&mut w, at);
    assert_eq!(ready_checks(&a), [("q", vec!["v"])]);
    assert_eq!(
        query_runs(&answer_ready(&mut w, a, true, at)),
        [t("10:10:00")]
    );
}

#[test]
fn a_catch_up_whose_query_an_edit_removed_is_said_not_run() {
    // Booted at 10:11 while `w` restarts (boot restart): the 10:10 run waits to be caught up.
    let mut w = Warden::new(catching_up("    catch_up: 1h\n"), false, t("10:11:00"));
    w.handle_boot(Vec::new(), t("10:11:00"));
    w.handle_last_runs(&last_run("10:00:00"), t("10:11:00"));
    drain(&mut w);
    // The edit removes the query's command.
    let edited = schedule(&format!(
        "timezone: UTC\nlead: 2m\nqueries:\n  - name: q\n    cron: \"*/10 * * * *\"\n    workers: [w]\n{}",
        workers("")
    ));
    w.handle_edit(edited, t("10:11:10"));
    drain(&mut w);
    let a = tick(&mut w, t("10:11:20"));
    let summary = "not run: removed from the schedule while its missed run planned for 2026-05-01 10:10:00 UTC waited to be caught up";
    assert!(
        a.contains(&Action::Log(Note::info(summary).query("q"))),
        "{:?}",
        notes(&a)
    );
    assert_eq!(
        not_run_saved(&a),
        [(t("10:10:00"), t("10:11:20"), t("10:11:20"), summary)]
    );
    assert!(alerts(&a).is_empty());
}

#[test]
fn a_run_that_could_not_be_recorded_running_is_not_run_and_said_so() {
    let mut w = waiting_run(false);
    let a = tick_ready(&mut w, t("10:10:00"));
    assert_eq!(query_runs(&a), [t("10:10:00")]);
    // The shell could not write the running record: it did not start the command.
    w.handle_query_unrecorded("q", t("10:10:00"), false, "disk full", t("10:10:00"));
    let a = drain(&mut w);
    let summary = "not run: the state directory could not be written (disk full)";
    assert!(a.contains(&Action::Log(Note::error(summary).query("q"))));
    assert_eq!(
        not_run_saved(&a),
        [(t("10:10:00"), t("10:10:00"), t("10:10:00"), summary)]
    );
    assert_eq!(alerts(&a), [("query_not_run", None)]);
    // Over: the next run is not taken for an overlap.
    tick(&mut w, t("10:17:59"));
    tick(&mut w, t("10:18:00"));
    w.handle_sequence_done("w", ok(P1), t("10:18:05"));
    drain(&mut w);
    assert_eq!(
        query_runs(&tick_ready(&mut w, t("10:20:00"))),
        [t("10:20:00")]
    );
}

#[test]
fn a_run_queued_behind_another_when_the_daemon_stops_is_not_run_and_said_so() {
    let mut w = booted(runs("wait"), t("10:00:30"));
    tick(&mut w, t("10:01:00"));
    let a = tick(&mut w, t("10:02:00"));
    assert!(query_runs(&a).is_empty());
    w.handle_stop(t("10:02:10"));
    let a = drain(&mut w);
    assert!(
        a.contains(&Action::Log(
            Note::warn("not run: pacs-warden stopped while the run planned for 2026-05-01 10:02:00 UTC waited for the previous run (overlap: wait)")
                .query("q")
        )),
        "{:?}",
        notes(&a)
    );
    // The run going ends while the daemon finishes stopping: nothing new starts.
    w.handle_query_done("q", query_done(true), t("10:02:30"));
    assert!(query_runs(&drain(&mut w)).is_empty());
}
