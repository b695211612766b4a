//! `pacs_warden::core::import`: crontabs and Task Scheduler exports (fixtures in `tests/import/`) into
//! schedule files. For each fixture: the queries, commands and skipped entries; the YAML passes
//! `config::validate` and carries each query's command as the validator reads it; and the planner, run on that YAML, gives the query times that the source
//! schedule means over two weeks, worked out here by hand from the fixture (never from the
//! importer's output). Malformed input: every problem with its exact line and column.

use chrono::{DateTime, Datelike, NaiveDate, NaiveTime, TimeDelta, TimeZone, Utc, Weekday};
use chrono_tz::Tz;
use pacs_warden::core::config::validate;
use pacs_warden::core::import::{
    decode_xml_bytes, import_crontab, import_schtasks, to_yaml, ImportError, Imported, Options,
};
use pacs_warden::core::plan::restarts;
use std::collections::BTreeSet;
use std::path::Path;

fn fixture_bytes(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/import")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn fixture(name: &str) -> String {
    String::from_utf8(fixture_bytes(name)).expect("a UTF-8 fixture")
}

fn opts() -> Options {
    Options::default()
}

/// (name, instant) of every query run.
type Runs = BTreeSet<(String, DateTime<Utc>)>;

/// The query runs pacs-warden plans for the schedule `yaml` from `from` (inclusive) to `to`.
fn planned(yaml: &str, from: DateTime<Utc>, to: DateTime<Utc>) -> Runs {
    let s = validate(yaml, || None)
        .unwrap_or_else(|p| panic!("the imported schedule is invalid: {p:#?}\n{yaml}"));
    // A day earlier: a run just after `from` may belong to a restart before it.
    restarts(&s, from - TimeDelta::days(1))
        .take_while(|r| r.at < to)
        .flat_map(|r| r.fires)
        .filter(|f| f.at >= from && f.at < to)
        .map(|f| (s.queries[f.query].name.clone(), f.at))
        .collect()
}

/// Runs of query `name` at the local `times` of `zone` on the dates in [from, to) for which
/// `on` holds.
fn runs(
    zone: Tz,
    name: &str,
    (from, to): (NaiveDate, NaiveDate),
    on: impl Fn(NaiveDate) -> bool,
    times: &[&str],
) -> Runs {
    let mut out = Runs::new();
    for date in from.iter_days().take_while(|d| *d < to).filter(|d| on(*d)) {
        for t in times {
            let local = date.and_time(NaiveTime::parse_from_str(t, "%H:%M").unwrap());
            let at = zone
                .from_local_datetime(&local)
                .single()
                .unwrap_or_else(|| panic!("{local} is not a single instant in {zone}"));
            out.insert((name.to_string(), at.with_timezone(&Utc)));
        }
    }
    out
}

fn weekdays(days: &'static [Weekday]) -> impl Fn(NaiveDate) -> bool {
    move |d| days.contains(&d.weekday())
}

fn every_day(_: NaiveDate) -> bool {
    true
}

fn date(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

/// Local midnight of `d` in `zone`, as an instant.
fn midnight(zone: Tz, d: NaiveDate) -> DateTime<Utc> {
    zone.from_local_datetime(&d.and_time(NaiveTime::MIN))
        .single()
        .unwrap()
        .with_timezone(&Utc)
}

/// Asserts that planned and expected runs agree, listing the differences.
fn assert_runs(got: &Runs, want: &Runs) {
    let missing: Vec<_> = want.difference(got).collect();
    let extra: Vec<_> = got.difference(want).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "missing runs: {missing:#?}\nunexpected runs: {extra:#?}"
    );
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

/// Asserts that the schedule `yaml` carries each imported query's command, workdir and env,
/// as the validator reads them (so quoting survives the round trip).
fn assert_commands(yaml: &str, imported: &Imported) {
    let s = validate(yaml, || Some((chrono_tz::UTC, "test")))
        .unwrap_or_else(|p| panic!("the imported schedule is invalid: {p:#?}\n{yaml}"));
    assert_eq!(s.queries.len(), imported.queries.len());
    for (got, want) in s.queries.iter().zip(&imported.queries) {
        assert_eq!(got.name, want.name);
        let run = got.run.as_ref().expect("the query runs its command");
        assert_eq!(run.command, want.command, "{yaml}");
        assert_eq!(
            run.workdir.as_deref(),
            want.workdir.as_deref().map(Path::new)
        );
        assert_eq!(run.env, want.env);
    }
}

fn names(imported: &Imported) -> Vec<&str> {
    imported.queries.iter().map(|q| q.name.as_str()).collect()
}

fn skipped_lines(imported: &Imported) -> Vec<usize> {
    imported.skipped.iter().map(|s| s.line).collect()
}

fn has_note(imported: &Imported, needle: &str) -> bool {
    imported.notes.iter().any(|n| n.contains(needle))
}

#[test]
fn user_crontab() {
    let imported = import_crontab(&fixture("openrem-user.crontab"), &opts()).unwrap();
    assert_eq!(names(&imported), ["ct", "dx", "fl", "mg", "nm"]);
    let q = &imported.queries;
    assert_eq!(
        q.iter().map(|q| q.cron.as_str()).collect::<Vec<_>>(),
        [
            "30 6 * * 1-5",
            "0 7,19 * * *",
            "0 18 * * mon,wed,fri",
            "50 23 * * *",
            "0 0 * * *"
        ]
    );
    assert_eq!(
        q.iter().map(|q| q.source_line).collect::<Vec<_>>(),
        [14, 17, 20, 23, 26]
    );
    assert!(q
        .iter()
        .all(|q| q.timezone.as_deref() == Some("Europe/London")));

    // A plain command becomes an argument list, quotes removed.
    assert_eq!(
        q[0].command,
        strings(&[
            "/var/dose/veopenrem3/bin/python",
            "/var/dose/veopenrem3/bin/openrem_qr.py",
            "1",
            "1",
            "-ct",
            "-e",
            "imported,research",
        ])
    );
    // `cd DIR && …` is the workdir.
    assert_eq!(q[1].workdir.as_deref(), Some("/var/dose"));
    assert_eq!(
        q[1].command,
        strings(&[
            "veopenrem3/bin/python",
            "veopenrem3/bin/openrem_qr.py",
            "1",
            "1",
            "-dx"
        ])
    );
    // Redirections and `$(…)` keep the shell the crontab names (SHELL=/bin/bash), with cron's
    // `\%` turned into `%`.
    assert_eq!(
        q[2].command,
        strings(&[
            "/bin/bash",
            "-c",
            "/var/dose/veopenrem3/bin/openrem_qr.py 2 1 -fl >> /var/dose/log/qr-fl.log 2>&1",
        ])
    );
    // `$(date -d yesterday …)` is a placeholder: no shell needed any more.
    assert_eq!(
        q[3].command,
        strings(&[
            "/var/dose/veopenrem3/bin/openrem_qr.py",
            "1",
            "1",
            "-mg",
            "-sd",
            "{date-1d}",
        ])
    );
    assert!(has_note(
        &imported,
        "line 20: the command uses `>>`, `2>&1`"
    ));
    assert!(has_note(
        &imported,
        "line 23: `$(date -d yesterday +%Y-%m-%d)` became {date-1d}"
    ));
    assert!(!has_note(&imported, "line 23: the command uses"));
    // The crontab's environment (not cron's own settings) and the command's assignments.
    let path = (
        "PATH".to_string(),
        "/var/dose/veopenrem3/bin:/usr/local/bin:/usr/bin:/bin".to_string(),
    );
    assert_eq!(q[0].env, std::slice::from_ref(&path));
    assert_eq!(
        q[4].env,
        [
            path,
            (
                "DJANGO_SETTINGS_MODULE".into(),
                "openremproject.settings".into()
            )
        ]
    );
    assert_eq!(
        q[4].command,
        strings(&["/var/dose/veopenrem3/bin/openrem_qr.py", "3", "1", "-nm"])
    );

    // The backup, logrotate and @reboot lines are listed with their reasons.
    assert_eq!(skipped_lines(&imported), [11, 28, 29]);
    assert!(imported.skipped[0]
        .reason
        .contains("does not run a query (no `openrem_qr.py`)"));
    assert!(imported.skipped[2].reason.contains("@reboot"));
    assert!(has_note(&imported, "read as a user crontab"));
    assert!(has_note(&imported, "dose-team@example.org (MAILTO)"));
    assert!(has_note(
        &imported,
        "a query without `workdir:` runs in the schedule file's"
    ));

    let yaml = to_yaml(&imported, "crontab openrem-user.crontab");
    assert!(yaml.contains("\ntimezone: Europe/London\n"), "{yaml}");
    // The queries carry their commands, and the header says to remove the crontab lines.
    assert_commands(&yaml, &imported);
    assert!(yaml.contains("or every query runs twice"), "{yaml}");

    // London, two weeks across the change to summer time on 2026-03-29.
    let london = chrono_tz::Europe::London;
    let days = (date("2026-03-23"), date("2026-04-06"));
    use Weekday::*;
    let mut want = runs(
        london,
        "ct",
        days,
        weekdays(&[Mon, Tue, Wed, Thu, Fri]),
        &["06:30"],
    );
    want.extend(runs(london, "dx", days, every_day, &["07:00", "19:00"]));
    want.extend(runs(
        london,
        "fl",
        days,
        weekdays(&[Mon, Wed, Fri]),
        &["18:00"],
    ));
    want.extend(runs(london, "mg", days, every_day, &["23:50"]));
    want.extend(runs(london, "nm", days, every_day, &["00:00"]));
    assert_eq!(want.len(), 10 + 28 + 6 + 14 + 14);
    let got = planned(&yaml, midnight(london, days.0), midnight(london, days.1));
    assert_runs(&got, &want);
}

#[test]
fn system_crontab_from_cron_d() {
    let imported = import_crontab(&fixture("openrem-cron.d"), &opts()).unwrap();
    assert!(has_note(&imported, "read as a system crontab"));
    assert!(has_note(&imported, "`openrem`"));
    assert_eq!(names(&imported), ["dx", "ct-mg", "fl"]);
    let q = &imported.queries;
    assert_eq!(q[0].cron, "*/30 8-17 * * 1-5");
    assert_eq!(q[1].cron, "0 22 1,15 * *");
    assert_eq!(
        q[2].command,
        strings(&[
            "venv/bin/openrem_qr.py",
            "2",
            "1",
            "-fl",
            "-e",
            "phantom, QA"
        ])
    );
    assert_eq!(q[2].workdir.as_deref(), Some("/opt/openrem"));
    assert_eq!(skipped_lines(&imported), [10]);

    // The same file read as a user crontab has the user as the program.
    let as_user = import_crontab(
        &fixture("openrem-cron.d"),
        &Options {
            system: Some(false),
            ..opts()
        },
    )
    .unwrap();
    assert_eq!(as_user.queries[0].command[0], "openrem");

    let yaml = to_yaml(&imported, "/etc/cron.d/openrem");
    assert!(yaml.contains("\ntimezone: America/New_York\n"), "{yaml}");
    assert_commands(&yaml, &imported);
    // New York, two weeks across the change to summer time on 2026-03-08.
    let ny = chrono_tz::America::New_York;
    let days = (date("2026-03-01"), date("2026-03-16"));
    let half_hours: Vec<String> = (8..18)
        .flat_map(|h| [format!("{h:02}:00"), format!("{h:02}:30")])
        .collect();
    let half_hours: Vec<&str> = half_hours.iter().map(String::as_str).collect();
    use Weekday::*;
    let mut want = runs(
        ny,
        "dx",
        days,
        weekdays(&[Mon, Tue, Wed, Thu, Fri]),
        &half_hours,
    );
    want.extend(runs(
        ny,
        "ct-mg",
        days,
        |d| [1, 15].contains(&d.day()),
        &["22:00"],
    ));
    want.extend(runs(ny, "fl", days, weekdays(&[Sat]), &["05:45"]));
    assert_eq!(want.len(), 10 * 20 + 2 + 2);
    let got = planned(&yaml, midnight(ny, days.0), midnight(ny, days.1));
    assert_runs(&got, &want);
}

#[test]
fn crontab_lines_in_another_zone_are_skipped_with_the_reason() {
    let text = "\
0 6 * * * /opt/openrem_qr.py 1 1 -ct
CRON_TZ=Europe/Berlin
0 7 * * * /opt/openrem_qr.py 1 1 -dx
0 8 * * * /opt/openrem_qr.py 1 1 -mg
TZ=Asia/Tokyo
0 9 * * * /opt/openrem_qr.py 1 1 -fl
";
    let imported = import_crontab(text, &opts()).unwrap();
    // Berlin has three queries, the machine's zone one.
    assert_eq!(names(&imported), ["dx", "mg", "fl"]);
    assert_eq!(skipped_lines(&imported), [1]);
    assert!(imported.skipped[0]
        .reason
        .contains("one schedule has one time zone"));
    // TZ= is the command's environment only; the zone stays Berlin.
    assert_eq!(
        imported.queries[2].timezone.as_deref(),
        Some("Europe/Berlin")
    );
    assert_eq!(
        imported.queries[2].env,
        [("TZ".to_string(), "Asia/Tokyo".to_string())]
    );
    assert!(has_note(
        &imported,
        "TZ= (line 5) only sets the commands' environment"
    ));
    let yaml = to_yaml(&imported, "crontab");
    assert!(
        yaml.contains("line 1: 0 6 * * * /opt/openrem_qr.py 1 1 -ct"),
        "{yaml}"
    );
    validate(&yaml, || None).unwrap();
}

#[test]
fn malformed_crontab_lines_are_all_reported_with_line_and_column() {
    let text = "\
SHELL=/bin/sh
# a comment
30 6 * * 1-8 /opt/openrem/openrem_qr.py 1 1 -ct
0 7 * * *
0 7 * * * /opt/openrem/openrem_qr.py 1 1 -e 'imported
this is not a cron line
@fortnightly /opt/openrem/openrem_qr.py 1 1 -dx
0 12 30 2 * /opt/openrem/openrem_qr.py 1 1 -mg
  CRON_TZ = Europe/Londn
15 1 * * * /usr/local/bin/backup.sh
0 0 61 * * /usr/local/bin/backup.sh
";
    let err = import_crontab(text, &opts()).unwrap_err();
    let ImportError::Malformed(problems) = &err else {
        panic!("{err:?}")
    };
    let at: Vec<(usize, usize)> = problems.iter().map(|p| (p.line, p.col)).collect();
    assert_eq!(
        at,
        [
            (3, 10),
            (4, 1),
            (5, 45),
            (6, 1),
            (7, 1),
            (8, 1),
            (9, 13),
            (11, 5)
        ],
        "{err}"
    );
    let shown = err.display_with(Path::new("openrem.crontab")).to_string();
    let lines: Vec<&str> = shown.lines().collect();
    assert_eq!(lines.len(), 8);
    for (line, want) in lines.iter().zip([
        "openrem.crontab:3:10: `30 6 * * 1-8`: day-of-week field: 8 is out of range",
        "openrem.crontab:4:1: expected 5 time fields (minute hour day-of-month month day-of-week) and a command, found only 5 fields",
        "openrem.crontab:5:45: unterminated single quote",
        "openrem.crontab:6:1: `this is not a cron line` is neither a cron job",
        "openrem.crontab:7:1: unknown nickname `@fortnightly`",
        "openrem.crontab:8:1: `0 12 30 2 *` never runs",
        "openrem.crontab:9:13: CRON_TZ: unknown time zone `Europe/Londn`",
        "openrem.crontab:11:5: `0 0 61 * *`: day-of-month field: 61 is out of range",
    ]) {
        assert!(line.starts_with(want), "\n got: {line}\nwant: {want}…");
    }
}

#[test]
fn task_scheduler_export() {
    let imported = import_schtasks(&fixture("openrem-query-task.xml"), &opts()).unwrap();
    // Weekly and daily triggers merged into as few cron lines as cron allows, ordered by time.
    assert_eq!(names(&imported), ["ct-dx", "ct-dx-2", "ct-dx-3", "ct-dx-4"]);
    let crons: Vec<&str> = imported.queries.iter().map(|q| q.cron.as_str()).collect();
    assert_eq!(
        crons,
        [
            "30 6 * * mon-fri",
            "15 9 * * sat",
            "0 10-18/2 * * *",
            "50 23 * * *"
        ]
    );
    assert_eq!(
        imported
            .queries
            .iter()
            .map(|q| q.source_line)
            .collect::<Vec<_>>(),
        [10, 45, 24, 37]
    );
    for q in &imported.queries {
        // The action that runs openrem_qr.py, split by the Windows rules.
        assert_eq!(
            q.command,
            strings(&[
                r"D:\Server Apps\python27\python.exe",
                r"D:\Server Apps\python27\Scripts\openrem_qr.py",
                "1",
                "1",
                "-ct",
                "-dx",
                "-e",
                "imported,research",
            ])
        );
        assert_eq!(q.workdir.as_deref(), Some(r"D:\Server Apps\openrem"));
        assert_eq!(q.timezone, None);
    }
    // Every 2 days, a disabled trigger and an idle trigger: listed, with reasons.
    assert_eq!(skipped_lines(&imported), [55, 62, 72]);
    assert!(imported.skipped[0].reason.contains("every 2 days"));
    assert!(imported.skipped[1].reason.contains("disabled"));
    assert!(imported.skipped[2]
        .reason
        .contains("when the computer is idle"));
    assert!(has_note(
        &imported,
        "action 1 (`C:\\Windows\\System32\\cmd.exe /c echo"
    ));
    assert!(has_note(
        &imported,
        "at the end of the repetition's duration"
    ));
    assert!(has_note(&imported, "local time"));
    assert!(has_note(
        &imported,
        "trigger at line 37 delays each run by up to PT5M"
    ));
    assert!(!has_note(&imported, "after today"));
    // Told today's date, a trigger that starts later is pointed out.
    let today = Options {
        today: Some(date("2021-05-06")),
        ..opts()
    };
    let imported_early = import_schtasks(&fixture("openrem-query-task.xml"), &today).unwrap();
    assert!(has_note(
        &imported_early,
        "trigger at line 45 starts on 2021-05-08 (StartBoundary), after today (2021-05-06)"
    ));

    let yaml = to_yaml(&imported, "task openrem-query-task.xml");
    assert!(!yaml.contains("\ntimezone:"), "{yaml}");
    assert_commands(&yaml, &imported);
    // Task Scheduler's times are the machine's local time; read them in London here.
    let yaml = format!("timezone: Europe/London\n{yaml}");
    let london = chrono_tz::Europe::London;
    let days = (date("2026-03-23"), date("2026-04-06"));
    use Weekday::*;
    let name = |n: &str| n.to_string();
    let mut want = runs(
        london,
        &name("ct-dx"),
        days,
        weekdays(&[Mon, Tue, Wed, Thu, Fri]),
        &["06:30"],
    );
    want.extend(runs(london, "ct-dx-2", days, weekdays(&[Sat]), &["09:15"]));
    // Every 2 hours for 8 hours from 10:00: 10:00 … 18:00, the end included.
    want.extend(runs(
        london,
        "ct-dx-3",
        days,
        every_day,
        &["10:00", "12:00", "14:00", "16:00", "18:00"],
    ));
    want.extend(runs(london, "ct-dx-4", days, every_day, &["23:50"]));
    assert_eq!(want.len(), 10 + 2 + 70 + 14);
    let got = planned(&yaml, midnight(london, days.0), midnight(london, days.1));
    assert_runs(&got, &want);
}

#[test]
fn utf16_exports_read_like_utf8() {
    let bytes = fixture_bytes("openrem-query-task.utf16.xml");
    assert_eq!(&bytes[..2], [0xFF, 0xFE], "a UTF-16 LE file with a BOM");
    let text = decode_xml_bytes(&bytes).unwrap();
    assert!(text.contains("\r\n"), "Windows line ends");
    let utf8 = import_schtasks(&fixture("openrem-query-task.xml"), &opts()).unwrap();
    assert_eq!(import_schtasks(&text, &opts()).unwrap(), utf8);

    // Big-endian with a BOM, and UTF-8 with a BOM.
    let be: Vec<u8> = [0xFE, 0xFF]
        .into_iter()
        .chain(
            fixture("openrem-query-task.xml")
                .encode_utf16()
                .flat_map(u16::to_be_bytes),
        )
        .collect();
    let text = decode_xml_bytes(&be).unwrap();
    assert_eq!(import_schtasks(&text, &opts()).unwrap(), utf8);
    let mut bom8 = b"\xEF\xBB\xBF".to_vec();
    bom8.extend(fixture_bytes("openrem-query-task.xml"));
    let text = decode_xml_bytes(&bom8).unwrap();
    assert_eq!(import_schtasks(&text, &opts()).unwrap(), utf8);
}

#[test]
fn the_celery_restart_task_gives_no_queries_but_a_note() {
    let imported = import_schtasks(&fixture("celery-restart-task.xml"), &opts()).unwrap();
    assert!(imported.queries.is_empty());
    assert!(imported.skipped.is_empty());
    assert_eq!(imported.notes.len(), 1, "{:#?}", imported.notes);
    let note = &imported.notes[0];
    assert!(note.starts_with("task `\\OpenREM\\Restart Celery` (line 2) is the Celery restart task: its triggers are restart times, not queries; pacs-warden replaces it — delete it after switching"), "{note}");
    assert!(
        note.contains("at boot") && note.contains("daily at 23:35"),
        "{note}"
    );

    // Commands instead of a batch file.
    let xml = r#"<?xml version="1.0" encoding="UTF-16"?>
<Task version="1.2" xmlns="http://schemas.microsoft.com/windows/2004/02/mit/task">
  <Triggers>
    <CalendarTrigger>
      <StartBoundary>2019-11-18T06:15:00</StartBoundary>
      <ScheduleByDay><DaysInterval>1</DaysInterval></ScheduleByDay>
    </CalendarTrigger>
  </Triggers>
  <Actions Context="Author">
    <Exec>
      <Command>cmd.exe</Command>
      <Arguments>/c TASKKILL /IM /F celery.exe</Arguments>
    </Exec>
  </Actions>
</Task>
"#;
    let imported = import_schtasks(xml, &opts()).unwrap();
    assert!(imported.queries.is_empty());
    assert!(has_note(&imported, "is the Celery restart task"));

    // A task that runs something else is skipped, with the reason.
    let other = xml.replace("/c TASKKILL /IM /F celery.exe", "/c D:\\backup.bat");
    let imported = import_schtasks(&other, &opts()).unwrap();
    assert!(!has_note(&imported, "Celery restart task"));
    assert!(has_note(&imported, "nothing to import"));
    assert_eq!(skipped_lines(&imported), [2]);
    assert!(imported.skipped[0].reason.contains("does not run a query"));
}

#[test]
fn synchronized_triggers_are_fixed_in_utc() {
    // "Synchronize across time zones": the time has an offset. One time, repeated every hour
    // without end: every hour of every day.
    let xml = r#"<?xml version="1.0" encoding="UTF-16"?>
<Tasks>
  <!-- \OpenREM\hourly DX -->
  <Task version="1.2" xmlns="http://schemas.microsoft.com/windows/2004/02/mit/task">
    <Triggers>
      <TimeTrigger>
        <Repetition>
          <Interval>PT1H</Interval>
          <StopAtDurationEnd>false</StopAtDurationEnd>
        </Repetition>
        <StartBoundary>2021-01-04T00:05:00Z</StartBoundary>
        <Enabled>true</Enabled>
      </TimeTrigger>
      <TimeTrigger>
        <StartBoundary>2021-01-04T12:00:00Z</StartBoundary>
      </TimeTrigger>
    </Triggers>
    <Actions Context="Author">
      <Exec>
        <Command>C:\Python\python.exe</Command>
        <Arguments>C:\Python\Scripts\openrem_qr.py 2 1 -dx</Arguments>
      </Exec>
    </Actions>
  </Task>
</Tasks>
"#;
    let imported = import_schtasks(xml, &opts()).unwrap();
    assert_eq!(names(&imported), ["dx"]);
    assert_eq!(imported.queries[0].cron, "5 * * * *");
    assert_eq!(imported.queries[0].timezone.as_deref(), Some("UTC"));
    assert_eq!(skipped_lines(&imported), [14]);
    assert!(imported.skipped[0].what.contains("\\OpenREM\\hourly DX"));
    assert!(imported.skipped[0].reason.contains("runs once"));
    assert!(has_note(
        &imported,
        "without a working directory in C:\\Windows\\System32"
    ));
    let yaml = to_yaml(&imported, "hourly.xml");
    assert!(yaml.contains("\ntimezone: UTC\n"), "{yaml}");
    let from = Utc.with_ymd_and_hms(2026, 3, 28, 0, 0, 0).unwrap();
    let to = from + TimeDelta::days(2);
    let want: Runs = (0..48)
        .map(|h| ("dx".to_string(), from + TimeDelta::minutes(h * 60 + 5)))
        .collect();
    assert_runs(&planned(&yaml, from, to), &want);

    // A whole-hour offset is a fixed zone without DST.
    let plus_one = xml.replace(":05:00Z<", ":05:00+01:00<");
    let imported = import_schtasks(&plus_one, &opts()).unwrap();
    assert_eq!(imported.queries[0].timezone.as_deref(), Some("Etc/GMT-1"));
    validate(&to_yaml(&imported, "x"), || None).unwrap();
}

#[test]
fn malformed_xml_is_reported_with_line_and_column() {
    // Not well-formed: the closing tag does not match.
    let xml = "<?xml version=\"1.0\"?>\n<Task xmlns=\"http://schemas.microsoft.com/windows/2004/02/mit/task\">\n  <Triggers>\n    <BootTrigger></BootTriger>\n  </Triggers>\n</Task>\n";
    let err = import_schtasks(xml, &opts()).unwrap_err();
    let p = &err.problems()[0];
    assert_eq!((p.line, p.col), (4, 18), "{err}");
    assert!(
        err.display_with(Path::new("t.xml"))
            .to_string()
            .starts_with(
                "t.xml:4:18: not well-formed XML: expected 'BootTrigger' tag, not 'BootTriger'"
            ),
        "{err}"
    );

    // Cut short.
    let err = import_schtasks("<Task>\n  <Triggers>\n", &opts()).unwrap_err();
    assert_eq!(err.problems()[0].line, 3, "{err}");

    // Well-formed, but values that break the schema: every one is reported.
    let xml = r#"<?xml version="1.0" encoding="UTF-16"?>
<Task version="1.2" xmlns="http://schemas.microsoft.com/windows/2004/02/mit/task">
  <Triggers>
    <CalendarTrigger>
      <StartBoundary>2021-13-04T06:30:00</StartBoundary>
      <ScheduleByDay><DaysInterval>1</DaysInterval></ScheduleByDay>
    </CalendarTrigger>
    <CalendarTrigger>
      <StartBoundary>2021-05-04T06:30:00</StartBoundary>
      <ScheduleByDay>
        <DaysInterval>two</DaysInterval>
      </ScheduleByDay>
    </CalendarTrigger>
    <CalendarTrigger>
      <Repetition><Interval>15 minutes</Interval></Repetition>
      <StartBoundary>2021-05-04T06:30:00</StartBoundary>
      <Enabled>yes</Enabled>
      <ScheduleByWeek><DaysOfWeek><Funday /></DaysOfWeek></ScheduleByWeek>
    </CalendarTrigger>
  </Triggers>
  <Actions Context="Author">
    <Exec><Arguments>openrem_qr.py 1 1</Arguments></Exec>
  </Actions>
</Task>
"#;
    let err = import_schtasks(xml, &opts()).unwrap_err();
    let at: Vec<(usize, usize)> = err.problems().iter().map(|p| (p.line, p.col)).collect();
    assert_eq!(
        at,
        [(5, 7), (11, 9), (15, 19), (17, 7), (18, 35), (22, 5)],
        "{err}"
    );
    let messages: Vec<&str> = err.problems().iter().map(|p| p.message.as_str()).collect();
    assert!(messages[0].contains("`2021-13-04T06:30:00` is not a date and time"));
    assert!(messages[1].contains("<DaysInterval>: `two`"));
    assert!(messages[2].contains("<Interval>: `15 minutes` is not a duration"));
    assert!(messages[3].contains("<Enabled>: `yes` is not true or false"));
    assert!(messages[4].contains("<DaysOfWeek>: <Funday> is not a weekday"));
    assert!(messages[5].contains("<Exec> without a <Command>"));

    // Not a task at all.
    let err = import_schtasks("<?xml version=\"1.0\"?>\n\n<html/>\n", &opts()).unwrap_err();
    assert_eq!(
        err.display_with(Path::new("x.xml")).to_string(),
        "x.xml:3:1: not a Task Scheduler export: the root element is <html>; expected <Task> (schtasks /Query /XML /TN NAME) or <Tasks>"
    );

    // Bytes that are not text.
    let err = decode_xml_bytes(b"<Task>\n  <Triggers>\xFF</Triggers>").unwrap_err();
    assert_eq!(
        (err.problems()[0].line, err.problems()[0].col),
        (2, 13),
        "{err}"
    );
}

/// A task with one trigger and the query action, for the trigger tests.
fn task_with(trigger: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-16"?>
<Task version="1.2" xmlns="http://schemas.microsoft.com/windows/2004/02/mit/task">
  <Triggers>
{trigger}
  </Triggers>
  <Actions Context="Author">
    <Exec>
      <Command>C:\Python\python.exe</Command>
      <Arguments>C:\Python\Scripts\openrem_qr.py 2 1 -mg</Arguments>
    </Exec>
  </Actions>
</Task>
"#
    )
}

#[test]
fn monthly_triggers_and_repetitions_past_midnight() {
    // On days 1 and 15 of four months.
    let monthly = task_with(
        "    <CalendarTrigger>
      <StartBoundary>2021-01-01T05:00:00</StartBoundary>
      <ScheduleByMonth>
        <DaysOfMonth><Day>1</Day><Day>15</Day></DaysOfMonth>
        <Months><January /><April /><July /><October /></Months>
      </ScheduleByMonth>
    </CalendarTrigger>
    <CalendarTrigger>
      <StartBoundary>2021-01-01T05:00:00</StartBoundary>
      <ScheduleByMonth>
        <DaysOfMonth><Day>Last</Day></DaysOfMonth>
      </ScheduleByMonth>
    </CalendarTrigger>
    <CalendarTrigger>
      <StartBoundary>2021-01-01T05:00:00</StartBoundary>
      <ScheduleByMonthDayOfWeek>
        <Weeks><Week>1</Week></Weeks>
        <DaysOfWeek><Monday /></DaysOfWeek>
      </ScheduleByMonthDayOfWeek>
    </CalendarTrigger>",
    );
    let imported = import_schtasks(&monthly, &opts()).unwrap();
    assert_eq!(imported.queries.len(), 1);
    assert_eq!(imported.queries[0].cron, "0 5 1,15 jan,apr,jul,oct *");
    assert_eq!(skipped_lines(&imported), [11, 17]);
    assert!(imported.skipped[0].reason.contains("last day of the month"));
    assert!(imported.skipped[1].reason.contains("first Monday"));
    let yaml = format!("timezone: UTC\n{}", to_yaml(&imported, "x"));
    let days = (date("2026-03-01"), date("2026-08-01"));
    let want = runs(
        chrono_tz::UTC,
        "mg",
        days,
        |d| [1, 15].contains(&d.day()) && [4, 7].contains(&d.month()),
        &["05:00"],
    );
    assert_eq!(want.len(), 4);
    let utc = |d| midnight(chrono_tz::UTC, d);
    assert_runs(&planned(&yaml, utc(days.0), utc(days.1)), &want);

    // Fridays at 23:00, every 30 minutes for 2 hours: into Saturday morning.
    let late = task_with(
        "    <CalendarTrigger>
      <Repetition><Interval>PT30M</Interval><Duration>PT2H</Duration></Repetition>
      <StartBoundary>2021-01-01T23:00:00</StartBoundary>
      <ScheduleByWeek><DaysOfWeek><Friday /></DaysOfWeek></ScheduleByWeek>
    </CalendarTrigger>",
    );
    let imported = import_schtasks(&late, &opts()).unwrap();
    let crons: Vec<&str> = imported.queries.iter().map(|q| q.cron.as_str()).collect();
    assert_eq!(crons, ["0,30 0 * * sat", "0 1 * * sat", "0,30 23 * * fri"]);
    assert_eq!(names(&imported), ["mg", "mg-2", "mg-3"]);
    let yaml = format!("timezone: Europe/London\n{}", to_yaml(&imported, "x"));
    let london = chrono_tz::Europe::London;
    let days = (date("2026-03-02"), date("2026-03-16"));
    use Weekday::*;
    let mut want = runs(london, "mg", days, weekdays(&[Sat]), &["00:00", "00:30"]);
    want.extend(runs(london, "mg-2", days, weekdays(&[Sat]), &["01:00"]));
    want.extend(runs(
        london,
        "mg-3",
        days,
        weekdays(&[Fri]),
        &["23:00", "23:30"],
    ));
    assert_eq!(want.len(), 10);
    assert_runs(
        &planned(&yaml, midnight(london, days.0), midnight(london, days.1)),
        &want,
    );

    // Every 50 minutes without end: the times of day drift, so no cron line can say it.
    let drifting = task_with(
        "    <CalendarTrigger>
      <Repetition><Interval>PT50M</Interval></Repetition>
      <StartBoundary>2021-01-01T00:00:00</StartBoundary>
      <ScheduleByDay><DaysInterval>1</DaysInterval></ScheduleByDay>
    </CalendarTrigger>",
    );
    let imported = import_schtasks(&drifting, &opts()).unwrap();
    assert!(imported.queries.is_empty());
    assert!(
        imported.skipped[0].reason.contains("drift"),
        "{:?}",
        imported.skipped
    );
    assert!(
        has_note(&imported, "nothing to import"),
        "{:?}",
        imported.notes
    );
}

/// The old restart routine in a crontab — the Celery restart lines before the queries and the
/// `@reboot` line that starts the worker — is recognised as the Task Scheduler import
/// recognises the Celery restart task: no query, a note to delete it.
#[test]
fn the_celery_restart_lines_of_a_crontab_give_no_queries_but_notes() {
    let imported = import_crontab(&fixture("celery-restart.crontab"), &opts()).unwrap();
    assert_eq!(names(&imported), ["ct"], "{imported:#?}");
    assert_eq!(imported.queries[0].source_line, 9);
    // Only the line that is neither Celery nor a query is skipped.
    assert_eq!(skipped_lines(&imported), [11], "{:#?}", imported.skipped);
    let restart_notes: Vec<&String> = imported
        .notes
        .iter()
        .filter(|n| n.contains("delete it after switching"))
        .collect();
    assert_eq!(restart_notes.len(), 4, "{:#?}", imported.notes);
    for (note, line) in restart_notes.iter().zip([4, 5, 6]) {
        assert!(note.starts_with(&format!("line {line} (`")), "{note}");
        assert!(
            note.contains("is the Celery restart job: its times are restart times, not queries; pacs-warden replaces it"),
            "{note}"
        );
    }
    assert!(
        restart_notes[3].starts_with("line 7 (`@reboot cd /var/dose/openrem && ")
            && restart_notes[3]
                .contains("starts the Celery worker at boot: pacs-warden starts it at boot itself"),
        "{}",
        restart_notes[3]
    );
    let yaml = to_yaml(&imported, "crontab celery-restart.crontab");
    assert!(yaml.contains("is the Celery restart job"), "{yaml}");

    // Only the restart lines: nothing to import, but not "nothing to import" — the notes say
    // what the lines are.
    let text: String = fixture("celery-restart.crontab")
        .lines()
        .take(7)
        .map(|l| format!("{l}\n"))
        .collect();
    let imported = import_crontab(&text, &opts()).unwrap();
    assert!(imported.queries.is_empty());
    assert!(imported.skipped.is_empty(), "{:#?}", imported.skipped);
    assert!(
        !has_note(&imported, "nothing to import"),
        "{:#?}",
        imported.notes
    );
    assert!(has_note(&imported, "is the Celery restart job"));

    // A line that merely mentions celery without stopping or starting it is an ordinary skip.
    let imported = import_crontab("0 3 * * * du -sh /var/log/celery\n", &opts()).unwrap();
    assert_eq!(skipped_lines(&imported), [1]);
    assert!(imported.skipped[0].reason.contains("does not run a query"));
}

#[test]
fn a_crontab_without_queries_says_so() {
    let imported = import_crontab("15 1 * * * /usr/local/bin/backup.sh\n", &opts()).unwrap();
    assert!(imported.queries.is_empty());
    assert!(
        has_note(&imported, "nothing to import"),
        "{:?}",
        imported.notes
    );
    let yaml = to_yaml(&imported, "x");
    assert!(yaml.ends_with("queries: []   # nothing to import; see the notes above\n"));
}

#[test]
fn awkward_arguments_survive_the_yaml() {
    // Each argument is one a YAML reader would take apart, coerce or stumble on if left plain.
    let text = r#"0 6 * * * /opt/openrem_qr.py 1 1 -e '*weird*' "it's" '#x' '&y' '!z' '{a: b}' null '- x' "a\"b\\c" 'tab	in' '~' : '' - --desc_include='CT, "head"'
"#;
    let imported = import_crontab(text, &opts()).unwrap();
    let want = strings(&[
        "/opt/openrem_qr.py",
        "1",
        "1",
        "-e",
        "*weird*",
        "it's",
        "#x",
        "&y",
        "!z",
        // A literal brace in a query's command is doubled (`{` starts a placeholder).
        "{{a: b}}",
        "null",
        "- x",
        r#"a"b\c"#,
        "tab\tin",
        "~",
        ":",
        "",
        "-",
        r#"--desc_include=CT, "head""#,
    ]);
    assert_eq!(imported.queries[0].command, want);
    let yaml = to_yaml(&imported, "x");
    assert_commands(&yaml, &imported);
    // What runs is what cron ran.
    let s = validate(&yaml, || Some((chrono_tz::UTC, "test"))).unwrap();
    let argv = s.queries[0]
        .run
        .as_ref()
        .unwrap()
        .argv_at(Utc::now(), s.timezone);
    assert_eq!(argv[9], "{a: b}");
}

/// The queries' commands as pacs-warden runs them for a run planned at `at` (UTC schedule).
fn argv_at(yaml: &str, at: &str) -> Vec<Vec<String>> {
    let s = validate(yaml, || Some((chrono_tz::UTC, "test")))
        .unwrap_or_else(|p| panic!("the imported schedule is invalid: {p:#?}\n{yaml}"));
    let at: DateTime<Utc> = at.parse().unwrap();
    s.queries
        .iter()
        .map(|q| q.run.as_ref().unwrap().argv_at(at, s.timezone))
        .collect()
}

#[test]
fn crontab_date_wrappers_become_placeholders() {
    let text = r#"0 * * * * /opt/openrem_qr.py 1 1 -ct -f "$(date -d "1 hour ago" "+\%Y-\%m-\%d")"
30 6 * * * /opt/openrem_qr.py 1 1 -dx -sd $(date -d yesterday +\%F) >> /var/log/qr.log 2>&1
45 6 * * * /opt/openrem_qr.py 1 1 -mg -sd $(date -u +\%F) -e '{x}'
"#;
    let imported = import_crontab(text, &opts()).unwrap();
    let q = &imported.queries;
    assert_eq!(
        q[0].command,
        strings(&["/opt/openrem_qr.py", "1", "1", "-ct", "-f", "{date-1h}"])
    );
    // Still a shell command (the redirection), with the date filled in before the shell runs.
    assert_eq!(
        q[1].command,
        strings(&[
            "/bin/sh",
            "-c",
            "/opt/openrem_qr.py 1 1 -dx -sd {date-1d} >> /var/log/qr.log 2>&1"
        ])
    );
    // `date -u` is not the schedule's zone: left to the shell, and named.
    assert_eq!(
        q[2].command,
        strings(&[
            "/bin/sh",
            "-c",
            "/opt/openrem_qr.py 1 1 -mg -sd $(date -u +%F) -e '{{x}}'"
        ])
    );
    assert!(has_note(
        &imported,
        r#"line 1: `$(date -d "1 hour ago" "+%Y-%m-%d")` became {date-1h}"#
    ));
    assert!(has_note(
        &imported,
        "line 2: `$(date -d yesterday +%F)` became {date-1d}"
    ));
    assert!(has_note(
        &imported,
        "line 3: `$(date -u +%F)` is not a date pacs-warden can fill in"
    ));
    let yaml = to_yaml(&imported, "crontab");
    assert!(yaml.contains("became {date-1h}"), "{yaml}");
    assert_commands(&yaml, &imported);
    // Run at 00:00 UTC on 1 May: an hour ago was 30 April.
    let argv = argv_at(&yaml, "2026-05-01T00:00:00Z");
    assert_eq!(argv[0][5], "2026-04-30");
    assert_eq!(
        argv[1][2],
        "/opt/openrem_qr.py 1 1 -dx -sd 2026-04-30 >> /var/log/qr.log 2>&1"
    );
    assert!(argv[2][2].ends_with("-e '{x}'"), "{:?}", argv[2]);
    // Characters of the private-use area (the importer's own marks) in a command stay as
    // they are, dates or not.
    let odd = "0 6 * * * /opt/openrem_qr.py \u{e000}x\u{e001} $(date +\\%F) '{y}'\n";
    let imported = import_crontab(odd, &opts()).unwrap();
    assert_eq!(
        imported.queries[0].command,
        strings(&[
            "/bin/sh",
            "-c",
            "/opt/openrem_qr.py \u{e000}x\u{e001} $(date +%F) '{{y}}'"
        ])
    );
}

#[test]
fn a_powershell_date_wrapper_in_a_task_becomes_placeholders() {
    let imported = import_schtasks(&fixture("openrem-powershell-task.xml"), &opts()).unwrap();
    assert_eq!(names(&imported), ["pacs-query-ct-yesterday"]);
    assert_eq!(imported.queries[0].cron, "0 1 * * *");
    // PowerShell is no longer needed: the command runs directly.
    assert_eq!(
        imported.queries[0].command,
        strings(&[
            r"D:\Server Apps\python\python.exe",
            r"D:\Server Apps\openrem\openrem_qr.py",
            "2",
            "1",
            "-ct",
            "-f",
            "{date-1d}",
            "-t",
            "{date-1d}",
        ])
    );
    assert!(has_note(
        &imported,
        r#"the PowerShell date `"{0:yyyy-MM-dd}" -f (get-date).AddDays(-1)` became {date-1d}"#
    ));
    assert!(has_note(&imported, "runs it directly, without PowerShell"));
    let yaml = to_yaml(&imported, "task");
    assert_commands(&yaml, &imported);
    let argv = argv_at(&yaml, "2026-03-01T01:00:00Z");
    assert_eq!(argv[0][6], "2026-02-28");
    assert_eq!(argv[0][8], "2026-02-28");

    // Inline, with a pipe: PowerShell stays, with the date filled in; a month offset is not
    // known, so it is named and left alone.
    let inline = fixture("openrem-powershell-task.xml").replace(
        r#"-Command "$yesterday = \"{0:yyyy-MM-dd}\" -f (get-date).AddDays(-1); &amp; 'D:\Server Apps\python\python.exe' 'D:\Server Apps\openrem\openrem_qr.py' 2 1 -ct -f $yesterday -t $yesterday""#,
        r#"-Command "python openrem_qr.py 2 1 -ct -f $((Get-Date).AddHours(-1).ToString('yyyy-MM-dd')) -t $((Get-Date).AddMonths(-1).ToString('yyyy-MM-dd')) | Out-File -Append qr.log""#,
    );
    assert_ne!(inline, fixture("openrem-powershell-task.xml"));
    let imported = import_schtasks(&inline, &opts()).unwrap();
    assert_eq!(
        imported.queries[0].command,
        strings(&[
            r"C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe",
            "-NoProfile",
            "-ExecutionPolicy",
            "Bypass",
            "-Command",
            "python openrem_qr.py 2 1 -ct -f {date-1h} -t $((Get-Date).AddMonths(-1).ToString('yyyy-MM-dd')) | Out-File -Append qr.log",
        ])
    );
    assert!(has_note(
        &imported,
        "`$((Get-Date).AddMonths(-1).ToString('yyyy-MM-dd'))` is not a date pacs-warden can fill in"
    ));
    assert_commands(&to_yaml(&imported, "task"), &imported);
}

#[test]
fn a_task_or_crontab_line_that_runs_a_script_says_its_dates_cannot_be_seen() {
    let matching = |m: &str| Options {
        match_text: m.into(),
        ..Options::default()
    };
    let seen = "the dates it computes (such as yesterday's) cannot be seen from here; copy its \
                openrem_qr.py line into the query's `command:`, with placeholders such as \
                {date-1d}";
    let command = r#"-NoProfile -ExecutionPolicy Bypass -Command "$yesterday = \"{0:yyyy-MM-dd}\" -f (get-date).AddDays(-1); &amp; 'D:\Server Apps\python\python.exe' 'D:\Server Apps\openrem\openrem_qr.py' 2 1 -ct -f $yesterday -t $yesterday""#;
    // The wrapper of OpenREM's docs, in a script file: `powershell -File wrapper.ps1`.
    let task = |program: &str, args: &str| {
        let xml = fixture("openrem-powershell-task.xml")
            .replace(command, args)
            .replace(
                r"C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe",
                program,
            );
        assert!(!xml.contains("openrem_qr.py"), "{xml}");
        xml
    };
    let ps = r"C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe";
    let script = r"D:\Server Apps\openrem\qr-yesterday.ps1";
    for (program, args, named) in [
        (
            ps,
            format!(r#"-NoProfile -ExecutionPolicy Bypass -File "{script}""#),
            script,
        ),
        (r"pwsh.exe", format!(r#"-f "{script}" -Verbose"#), script),
        (
            r"D:\openrem\qr-yesterday.BAT",
            String::new(),
            r"D:\openrem\qr-yesterday.BAT",
        ),
        (
            r"cmd.exe",
            r#"/c "D:\openrem\qr-yesterday.cmd" 2"#.into(),
            r"D:\openrem\qr-yesterday.cmd",
        ),
    ] {
        let imported = import_schtasks(&task(program, &args), &matching("qr-yesterday")).unwrap();
        assert_eq!(names(&imported).len(), 1, "{program} {args}");
        let want = format!("action 1 runs the script `{named}`: {seen}");
        assert!(has_note(&imported, &want), "{want}\n{:#?}", imported.notes);
        assert_commands(&to_yaml(&imported, "task"), &imported);
    }
    // A command that runs no script, or `-Command` that happens to name one after it: no note.
    for (program, args) in [
        (ps, command.to_string()),
        (ps, format!(r#"-Command "Write-Host -File {script}""#)),
        (r"D:\openrem\qr-yesterday.exe", String::new()),
    ] {
        let xml = fixture("openrem-powershell-task.xml")
            .replace(command, &args)
            .replace(
                r"C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe",
                program,
            );
        let m = if args == command {
            "openrem_qr.py"
        } else {
            "qr-yesterday"
        };
        let imported = import_schtasks(&xml, &matching(m)).unwrap();
        assert_eq!(names(&imported).len(), 1, "{program} {args}");
        assert!(
            !has_note(&imported, "runs the script"),
            "{:#?}",
            imported.notes
        );
    }
    // Whatever the file says stays on one line of the schedule, escaped.
    let odd = format!(r#"-File "D:\qr&#10;yesterday{}.ps1""#, '\u{202e}');
    let imported = import_schtasks(&task(ps, &odd), &matching("yesterday")).unwrap();
    assert!(
        has_note(&imported, "runs the script"),
        "{:#?}",
        imported.notes
    );
    let yaml = to_yaml(&imported, "task");
    assert!(!yaml.contains('\u{202e}'), "{yaml}");
    let (head, _) = yaml.split_once("\nqueries:").expect("queries");
    assert!(
        head.lines()
            .all(|l| l.starts_with('#') || l.starts_with("timezone:")),
        "{yaml}"
    );
    let words = head
        .split_once("# Notes:")
        .expect("notes")
        .1
        .lines()
        .flat_map(|l| l.trim_start_matches('#').split_whitespace())
        .collect::<Vec<_>>()
        .join(" ");
    assert!(
        words.contains(r"runs the script `D:\qr yesterday\u{202e}.ps1`"),
        "{yaml}"
    );

    // A crontab line that runs a shell script.
    let cron = "0 1 * * * cd /opt/openrem && ./qr-yesterday.sh ct >> qr.log 2>&1\n";
    let imported = import_crontab(cron, &matching("qr-yesterday")).unwrap();
    assert_eq!(names(&imported).len(), 1);
    let want = format!("line 1: runs the script `./qr-yesterday.sh`: {seen}");
    assert!(has_note(&imported, &want), "{want}\n{:#?}", imported.notes);
    let imported = import_crontab(&fixture("openrem-user.crontab"), &opts()).unwrap();
    assert!(
        !has_note(&imported, "runs the script"),
        "{:#?}",
        imported.notes
    );
}
