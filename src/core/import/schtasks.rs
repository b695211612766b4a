//! Windows Task Scheduler export → queries.
//!
//! Owns: reading tasks exported with `schtasks /Query /XML [/TN NAME]` or the console's
//! *Export…* (Task Scheduler 2.0 schema; one `<Task>`, or `<Tasks>` holding several), turning
//! their time triggers into cron lines and their `Exec` action into the query's command, and
//! decoding the bytes of such a file (UTF-16 with a byte-order mark, or UTF-8).
//!
//! Triggers, and what becomes of them:
//! - `CalendarTrigger` by day (every day), by week (every week, on some weekdays) and by month
//!   (on days 1–31 of some months): cron lines, exact. Every N days or weeks (N > 1), the last
//!   day of a month and "first Monday"-style schedules depend on a start date or have no cron
//!   form: skipped, with the reason.
//! - `Repetition` (every Interval for Duration after each start): expanded into the times it
//!   runs, with Task Scheduler's documented rule that a run also happens at the end of the
//!   duration (interval 1 minute, duration 4 minutes: 5 runs). A repetition without a duration
//!   never stops, so after its first run it runs every day; that is exact only when the interval
//!   divides a day. Several triggers of one task are merged: times on the same days share a
//!   cron line, so a task gives as few queries as cron allows.
//! - `TimeTrigger` (once): skipped, unless it repeats for ever by an interval dividing a day.
//! - Boot, logon, idle, event, registration and session triggers have no time: skipped.
//! - Disabled triggers and tasks: skipped.
//!
//! Times without an offset are the machine's local time, so no `timezone:` is written. A
//! `StartBoundary` with an offset (`Z`, `+01:00`: "Synchronize across time zones") is fixed in
//! that offset: the zone becomes `UTC` or `Etc/GMT∓N`, which have no DST, as Task Scheduler.

use super::{
    dates, majority_zone, mentions, name_from_words, zone_label, ImportError, ImportProblem,
    Imported, ImportedQuery, Names, Options, Skipped,
};
use chrono::{NaiveDate, NaiveDateTime, Timelike};
use roxmltree::{Document, Node};
use std::collections::BTreeMap;

/// Decodes the bytes of an exported task: UTF-16 LE or BE with a byte-order mark (what Task
/// Scheduler writes), UTF-16 without one (recognised by the leading `<`), or UTF-8 (with or
/// without a BOM).
pub fn decode_xml_bytes(bytes: &[u8]) -> Result<String, ImportError> {
    enum Enc {
        Utf8,
        Le,
        Be,
    }
    let (enc, body) = match bytes {
        [0xFF, 0xFE, rest @ ..] => (Enc::Le, rest),
        [0xFE, 0xFF, rest @ ..] => (Enc::Be, rest),
        [0xEF, 0xBB, 0xBF, rest @ ..] => (Enc::Utf8, rest),
        [b'<', 0, ..] => (Enc::Le, bytes),
        [0, b'<', ..] => (Enc::Be, bytes),
        _ => (Enc::Utf8, bytes),
    };
    let decode_error = |text: &str, message: String| {
        let (line, col) = end_pos(text);
        ImportError::Decode(ImportProblem::error(line, col, None, message))
    };
    let unit = match enc {
        Enc::Utf8 => {
            return std::str::from_utf8(body).map(str::to_owned).map_err(|e| {
                let good = std::str::from_utf8(&body[..e.valid_up_to()]).expect("valid prefix");
                decode_error(
                    good,
                    format!(
                        "not UTF-8 text (byte 0x{:02X} at offset {}); Task Scheduler exports \
                         are UTF-16 with a byte-order mark or UTF-8",
                        body[e.valid_up_to()],
                        e.valid_up_to() + (bytes.len() - body.len())
                    ),
                )
            });
        }
        Enc::Le => u16::from_le_bytes,
        Enc::Be => u16::from_be_bytes,
    };
    let mut text = String::with_capacity(body.len() / 2);
    let units = body.chunks_exact(2).map(|p| unit([p[0], p[1]]));
    for c in char::decode_utf16(units) {
        match c {
            Ok(c) => text.push(c),
            Err(e) => {
                return Err(decode_error(
                    &text,
                    format!(
                        "not UTF-16 text: unpaired surrogate 0x{:04X}",
                        e.unpaired_surrogate()
                    ),
                ))
            }
        }
    }
    if body.len() % 2 == 1 {
        return Err(decode_error(
            &text,
            "not UTF-16 text: the file ends in the middle of a character (odd number of bytes)"
                .into(),
        ));
    }
    Ok(text)
}

/// The line and column just after `text`.
fn end_pos(text: &str) -> (usize, usize) {
    let line = text.matches('\n').count() + 1;
    let col = text.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

/// Imports the query times of exported Task Scheduler tasks. A task is a query when one of its
/// `Exec` actions mentions `opts.match_text`. Malformed XML, and values that break the schema
/// (a date that is not a date, an interval that is not a duration), fail the import with every
/// problem, each with its line and column.
pub fn import_schtasks(xml: &str, opts: &Options) -> Result<Imported, ImportError> {
    let xml = xml.strip_prefix('\u{feff}').unwrap_or(xml);
    let doc = Document::parse(xml).map_err(|e| xml_error(xml, e))?;
    let mut cx = Cx {
        doc: &doc,
        opts,
        problems: Vec::new(),
    };
    let root = doc.root_element();
    let tasks: Vec<(Node<'_, '_>, Option<String>)> = match root.tag_name().name() {
        "Task" => vec![(root, None)],
        "Tasks" => root
            .children()
            .filter(|n| n.is_element() && n.tag_name().name() == "Task")
            .map(|t| {
                // `schtasks /Query /XML` without /TN writes each task's name in a comment
                // before it.
                let name = t
                    .prev_siblings()
                    .skip(1)
                    .find(|n| !n.is_text())
                    .filter(|n| n.is_comment())
                    .and_then(|n| n.text())
                    .map(|s| s.trim().to_string());
                (t, name)
            })
            .collect(),
        other => {
            cx.problem(
                root,
                format!(
                    "not a Task Scheduler export: the root element is <{other}>; expected <Task> \
                     (schtasks /Query /XML /TN NAME) or <Tasks>"
                ),
            );
            Vec::new()
        }
    };
    let tasks: Vec<Task> = tasks
        .into_iter()
        .enumerate()
        .map(|(i, (node, name))| cx.task(node, name, i + 1))
        .collect();
    if !cx.problems.is_empty() {
        cx.problems.sort_by_key(|p| (p.line, p.col));
        return Err(ImportError::Malformed(cx.problems));
    }
    Ok(assemble(tasks, opts))
}

fn xml_error(text: &str, e: roxmltree::Error) -> ImportError {
    let pos = e.pos();
    let (line, col) = match e {
        roxmltree::Error::UnclosedRootNode | roxmltree::Error::UnexpectedEndOfStream => {
            end_pos(text)
        }
        _ => (pos.row as usize, pos.col as usize),
    };
    let message = e.to_string().replace(&format!(" at {pos}"), "");
    ImportError::Malformed(vec![ImportProblem::error(
        line,
        col,
        None,
        format!("not well-formed XML: {message}"),
    )])
}

/// One task of the export, read.
struct Task {
    /// For messages: `task \OpenREM\PACS query`.
    label: String,
    /// The task's own name, for a query name.
    name: Option<String>,
    line: usize,
    disabled: bool,
    /// The action that runs the query, if one does.
    query: Option<Action>,
    /// Every action, described, with whether it mentions the match text.
    actions: Vec<(String, bool)>,
    /// Notes about the actions (kept only if the task is imported).
    action_notes: Vec<String>,
    triggers: Vec<Trigger>,
}

#[derive(Clone)]
struct Action {
    command: Vec<String>,
    workdir: Option<String>,
    words: Vec<String>,
}

struct Trigger {
    line: usize,
    /// `CalendarTrigger daily at 06:30` …
    desc: String,
    outcome: Outcome,
}

enum Outcome {
    Times(Times),
    /// Why the trigger cannot be a query's time.
    Skip(String),
}

/// A trigger's `Repetition`.
struct Repeat {
    /// Seconds.
    interval: u64,
    /// Seconds; `None`: without end.
    duration: Option<u64>,
    /// `every PT2H for PT8H`, for messages.
    text: String,
}

const WEEK: u64 = 7 * 86400;

/// A trigger's times: on which days, at which times of day.
struct Times {
    zone: Option<String>,
    days: Days,
    /// (day offset from the trigger's day, minute of the day).
    fires: Vec<(u32, u32)>,
    second: u32,
    notes: Vec<String>,
    repeats: bool,
}

/// Times of day, (second, hour, minute), each with the first trigger line that gives it.
type TimesOfDay = BTreeMap<(u32, u32, u32), usize>;

/// A calendar trigger's days, or why they have no cron form; and a description.
type Calendar = (Result<Days, String>, String);

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Days {
    /// Bit i: weekday i days from Sunday.
    Weekly(u8),
    /// Bits 1..=31 and 1..=12.
    Monthly { days: u32, months: u16 },
}

const EVERY_DAY: u8 = 0x7f;
const WEEKDAYS: [&str; 7] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];
const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

struct Cx<'d, 'i> {
    doc: &'d Document<'i>,
    opts: &'d Options,
    problems: Vec<ImportProblem>,
}

fn child<'a, 'i>(node: Node<'a, 'i>, name: &str) -> Option<Node<'a, 'i>> {
    node.children()
        .find(|c| c.is_element() && c.tag_name().name() == name)
}

fn text_of<'a>(node: Node<'a, '_>) -> &'a str {
    node.text().unwrap_or("").trim()
}

/// `"C:\x y\z.exe"` → `C:\x y\z.exe`.
fn unquote(s: &str) -> &str {
    let s = s.trim();
    s.strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .unwrap_or(s)
}

impl Cx<'_, '_> {
    fn line(&self, node: Node<'_, '_>) -> usize {
        self.doc.text_pos_at(node.range().start).row as usize
    }

    fn problem(&mut self, node: Node<'_, '_>, message: String) {
        let pos = self.doc.text_pos_at(node.range().start);
        self.problems.push(ImportProblem::error(
            pos.row as usize,
            pos.col as usize,
            None,
            message,
        ));
    }

    /// The boolean child `name`, `default` when absent; `None` (and a problem) when malformed.
    fn boolean(&mut self, node: Node<'_, '_>, name: &str, default: bool) -> Option<bool> {
        let Some(c) = child(node, name) else {
            return Some(default);
        };
        match text_of(c) {
            "true" | "1" => Some(true),
            "false" | "0" => Some(false),
            other => {
                self.problem(c, format!("<{name}>: `{other}` is not true or false"));
                None
            }
        }
    }

    /// The whole-number child `name` (at least 1), `1` when absent.
    fn count(&mut self, node: Node<'_, '_>, name: &str) -> Option<u32> {
        let Some(c) = child(node, name) else {
            return Some(1);
        };
        match text_of(c).parse::<u32>() {
            Ok(n) if n >= 1 => Some(n),
            _ => {
                self.problem(
                    c,
                    format!(
                        "<{name}>: `{}` is not a whole number of at least 1",
                        text_of(c)
                    ),
                );
                None
            }
        }
    }

    fn duration(&mut self, node: Node<'_, '_>) -> Option<u64> {
        match iso_duration(text_of(node)) {
            Ok(s) => Some(s),
            Err(why) => {
                self.problem(
                    node,
                    format!(
                        "<{}>: `{}` is not a duration ({why}); Task Scheduler writes e.g. PT15M, \
                         PT1H, P1D",
                        node.tag_name().name(),
                        text_of(node)
                    ),
                );
                None
            }
        }
    }

    fn task(&mut self, node: Node<'_, '_>, comment_name: Option<String>, index: usize) -> Task {
        let uri = child(node, "RegistrationInfo")
            .and_then(|r| child(r, "URI"))
            .map(|u| text_of(u).to_string())
            .filter(|u| !u.is_empty());
        let name = uri.or(comment_name);
        let label = match &name {
            Some(n) => format!("task `{n}`"),
            None => format!("task {index}"),
        };
        let disabled = child(node, "Settings")
            .and_then(|s| self.boolean(s, "Enabled", true))
            .is_some_and(|e| !e);

        let mut query = None;
        let mut actions = Vec::new();
        let mut action_notes = Vec::new();
        if let Some(list) = child(node, "Actions") {
            for (i, a) in list.children().filter(|c| c.is_element()).enumerate() {
                let kind = a.tag_name().name();
                if kind != "Exec" {
                    actions.push((format!("action {} (<{kind}>)", i + 1), false));
                    action_notes.push(format!(
                        "{label}: action {} (<{kind}>) is not a program to run; left out",
                        i + 1
                    ));
                    continue;
                }
                let Some(command) = child(a, "Command").map(text_of).filter(|c| !c.is_empty())
                else {
                    self.problem(a, "<Exec> without a <Command>".into());
                    continue;
                };
                let args = child(a, "Arguments").map_or("", text_of);
                let workdir = child(a, "WorkingDirectory")
                    .map(|w| unquote(text_of(w)).to_string())
                    .filter(|w| !w.is_empty());
                let shown = format!(
                    "`{}{}{}`",
                    command,
                    if args.is_empty() { "" } else { " " },
                    args
                );
                let hit = mentions(command, &self.opts.match_text)
                    || mentions(args, &self.opts.match_text);
                actions.push((format!("action {} ({shown})", i + 1), hit));
                if !hit {
                    action_notes.push(format!(
                        "{label}: action {} ({shown}) does not run the query; left out",
                        i + 1
                    ));
                } else if query.is_some() {
                    action_notes.push(format!(
                        "{label}: action {} ({shown}) also runs {}, but a query has one command: \
                         the first such action is the query's; add this one as another query \
                         with the same times if it is needed",
                        i + 1,
                        self.opts.match_text
                    ));
                } else {
                    let (action, notes) = exec_action(command, args, workdir, &label, i + 1);
                    action_notes.extend(notes);
                    query = Some(action);
                }
            }
        }

        let mut triggers = Vec::new();
        if let Some(list) = child(node, "Triggers") {
            for t in list.children().filter(|c| c.is_element()) {
                if let Some(t) = self.trigger(t) {
                    triggers.push(t);
                }
            }
        }
        Task {
            label,
            name,
            line: self.line(node),
            disabled,
            query,
            actions,
            action_notes,
            triggers,
        }
    }

    /// Reads one trigger; `None` when it is malformed (the problems are recorded).
    fn trigger(&mut self, t: Node<'_, '_>) -> Option<Trigger> {
        let kind = t.tag_name().name();
        let line = self.line(t);
        let enabled = self.boolean(t, "Enabled", true);
        const NOT_A_TIME: &str = "not at a time of day";
        let no_time = match kind {
            "BootTrigger" => Some(("at boot", "runs at boot")),
            "LogonTrigger" => Some(("at log on", "runs when a user logs on")),
            "IdleTrigger" => Some(("when idle", "runs when the computer is idle")),
            "EventTrigger" => Some(("on an event", "runs on an event-log event")),
            "RegistrationTrigger" => Some(("at registration", "runs when the task is changed")),
            "SessionStateChangeTrigger" => Some(("on a session change", "runs on a log-on change")),
            "TimeTrigger" | "CalendarTrigger" => None,
            _ => Some(("(unknown type)", "")),
        };
        if let Some((what, why)) = no_time {
            let enabled = enabled?;
            return Some(Trigger {
                line,
                desc: format!("<{kind}> {what}"),
                outcome: Outcome::Skip(match (enabled, kind) {
                    (false, _) => "the trigger is disabled".into(),
                    (true, _) if why.is_empty() => "pacs-warden does not know this trigger".into(),
                    (true, "BootTrigger") => format!(
                        "{why}, {NOT_A_TIME}; pacs-warden restarts the worker at boot by itself"
                    ),
                    (true, _) => format!("{why}, {NOT_A_TIME}"),
                }),
            });
        }

        // Every part is read before giving up, so that every problem is reported.
        let start = match child(t, "StartBoundary") {
            None => {
                self.problem(t, format!("<{kind}> without a <StartBoundary>"));
                None
            }
            Some(node) => {
                let parsed = start_boundary(text_of(node));
                if parsed.is_none() {
                    self.problem(
                        node,
                        format!(
                            "<StartBoundary>: `{}` is not a date and time such as \
                             2021-05-04T06:30:00",
                            text_of(node)
                        ),
                    );
                }
                parsed
            }
        };
        let repetition = match child(t, "Repetition") {
            None => Some(None),
            Some(r) => match child(r, "Interval") {
                None => {
                    self.problem(r, "<Repetition> without an <Interval>".into());
                    None
                }
                Some(iv) => {
                    let interval = self.duration(iv);
                    let duration = match child(r, "Duration") {
                        None => Some(None),
                        Some(d) => self.duration(d).map(|secs| Some((secs, text_of(d)))),
                    };
                    interval.zip(duration).map(|(interval, duration)| {
                        Some(Repeat {
                            interval,
                            duration: duration.map(|(secs, _)| secs),
                            text: match duration {
                                Some((_, d)) => format!("every {} for {d}", text_of(iv)),
                                None => format!("every {} without end", text_of(iv)),
                            },
                        })
                    })
                }
            },
        };
        let calendar = match kind {
            "TimeTrigger" => Some(None),
            _ => self.calendar(t).map(Some),
        };
        let (enabled, (start, offset), repetition, calendar) =
            (enabled?, start?, repetition?, calendar?);
        let at = if start.second() == 0 {
            start.format("%H:%M").to_string()
        } else {
            start.format("%H:%M:%S").to_string()
        };
        let (days, mut desc) = match calendar {
            None => (
                None,
                format!("<TimeTrigger> once on {} at {at}", start.date()),
            ),
            Some(calendar) => match calendar {
                (Ok(days), what) => (Some(days), format!("<CalendarTrigger> {what} at {at}")),
                (Err(why), what) => {
                    return Some(Trigger {
                        line,
                        desc: format!("<CalendarTrigger> {what} at {at}"),
                        outcome: Outcome::Skip(if enabled {
                            why
                        } else {
                            "the trigger is disabled".into()
                        }),
                    })
                }
            },
        };
        if let Some(r) = &repetition {
            desc.push_str(&format!(", repeated {}", r.text));
        }
        let skip = |why: String| Trigger {
            line,
            desc: desc.clone(),
            outcome: Outcome::Skip(why),
        };
        if !enabled {
            return Some(skip("the trigger is disabled".into()));
        }

        let zone = match offset {
            None => None,
            Some(0) => Some("UTC".to_string()),
            Some(s) if s % 3600 == 0 && (-12..=14).contains(&(s / 3600)) => {
                // Etc/GMT zones count the other way: UTC+1 is Etc/GMT-1.
                Some(format!("Etc/GMT{:+}", -s / 3600))
            }
            Some(_) => {
                return Some(skip(
                    "its time is fixed at an offset of hours and minutes from UTC, which no \
                     IANA zone without DST has; set the trigger to local time or a whole-hour \
                     offset"
                        .into(),
                ))
            }
        };

        let m0 = start.hour() * 60 + start.minute();
        let mut notes = Vec::new();
        let (days, fires) = match (days, &repetition) {
            (None, None) => return Some(skip("it runs once, not on a schedule".into())),
            (Some(days), None) => (days, vec![(0, m0)]),
            (_, Some(r)) if r.interval % 60 != 0 || r.interval == 0 => {
                return Some(skip(format!(
                    "its repetition interval ({}) is not a whole number of minutes",
                    r.text
                )))
            }
            // Up to a week: the runs of each start, exactly.
            (days, Some(r)) => match (days, r.duration.filter(|d| *d <= WEEK)) {
                (None, Some(_)) => {
                    return Some(skip(
                        "it runs once (with its repetitions), not on a schedule".into(),
                    ))
                }
                (Some(days), Some(d)) => {
                    let mut fires = Vec::new();
                    let mut k = 0u64;
                    while k * r.interval <= d {
                        let m = m0 + (k * r.interval / 60) as u32;
                        fires.push((m / 1440, m % 1440));
                        k += 1;
                    }
                    if d % r.interval == 0 {
                        notes.push(format!(
                            "trigger at line {line}: Task Scheduler also runs the task at the \
                             end of the repetition's duration (interval 1 minute for 4 minutes \
                             runs 5 times), so that run is imported too"
                        ));
                    }
                    (days, fires)
                }
                // Without end, or for more than a week so that the runs of one start reach the
                // next start: every day, at the start time and every interval.
                (days, None) => {
                    let step = (r.interval / 60) as u32;
                    if 1440 % step != 0 {
                        return Some(skip(format!(
                            "it repeats {}, so its times of day drift from one day to the \
                             next; no cron line matches that",
                            r.text
                        )));
                    }
                    if days.is_none() && r.duration.is_some() {
                        return Some(skip(
                            "it runs once (with its repetitions), not on a schedule".into(),
                        ));
                    }
                    if days != Some(Days::Weekly(EVERY_DAY)) {
                        notes.push(format!(
                            "trigger at line {line} repeats {}, so after its first run it runs \
                             every day at those times: imported so",
                            r.text
                        ));
                    }
                    let fires = (0..1440 / step).map(|k| (0, (m0 + k * step) % 1440));
                    (Days::Weekly(EVERY_DAY), fires.collect())
                }
            },
        };
        if matches!(days, Days::Monthly { .. }) && fires.iter().any(|(d, _)| *d > 0) {
            return Some(skip(
                "on a monthly schedule its repetition runs past midnight into the next day, \
                 which a cron line cannot say for the last day of a month"
                    .into(),
            ));
        }
        if let Some(end) = child(t, "EndBoundary") {
            notes.push(format!(
                "trigger at line {line} ends at {} (EndBoundary); pacs-warden has no end date: \
                 remove the query then",
                text_of(end)
            ));
        }
        if let Some(delay) = child(t, "RandomDelay") {
            notes.push(format!(
                "trigger at line {line} delays each run by up to {} at random (RandomDelay); \
                 pacs-warden restarts the worker before the earliest time",
                text_of(delay)
            ));
        }
        if let Some(today) = self.opts.today.filter(|today| start.date() > *today) {
            notes.push(format!(
                "trigger at line {line} starts on {} (StartBoundary), after today ({today}); \
                 pacs-warden plans the query from now on",
                start.date()
            ));
        }
        Some(Trigger {
            line,
            desc,
            outcome: Outcome::Times(Times {
                zone,
                days,
                fires,
                second: start.second(),
                notes,
                repeats: repetition.is_some(),
            }),
        })
    }

    /// A calendar trigger's days, or why they have no cron form; with a description. `None` when
    /// malformed.
    fn calendar(&mut self, t: Node<'_, '_>) -> Option<Calendar> {
        if let Some(s) = child(t, "ScheduleByDay") {
            let n = self.count(s, "DaysInterval")?;
            return Some(if n == 1 {
                (Ok(Days::Weekly(EVERY_DAY)), "daily".into())
            } else {
                (
                    Err(format!(
                        "it runs every {n} days, counted from its start date; a cron line \
                         cannot count days across months (write the days out, e.g. a weekly \
                         trigger, if that is what is meant)"
                    )),
                    format!("every {n} days"),
                )
            });
        }
        if let Some(s) = child(t, "ScheduleByWeek") {
            let n = self.count(s, "WeeksInterval");
            let mut bits = 0u8;
            let mut named = false;
            if let Some(d) = child(s, "DaysOfWeek") {
                for day in d.children().filter(|c| c.is_element()) {
                    named = true;
                    match WEEKDAYS.iter().position(|w| *w == day.tag_name().name()) {
                        Some(i) => bits |= 1 << i,
                        None => self.problem(
                            day,
                            format!(
                                "<DaysOfWeek>: <{}> is not a weekday (Monday … Sunday)",
                                day.tag_name().name()
                            ),
                        ),
                    }
                }
            }
            if !named {
                self.problem(s, "<ScheduleByWeek> without any day in <DaysOfWeek>".into());
            }
            let n = n?;
            if bits == 0 {
                return None;
            }
            let names: Vec<&str> = (1..8)
                .map(|i| i % 7)
                .filter(|i| bits & (1 << i) != 0)
                .map(|i| &WEEKDAYS[i][..3])
                .collect();
            let what = if n == 1 {
                format!("weekly on {}", names.join(" "))
            } else {
                format!("every {n} weeks on {}", names.join(" "))
            };
            return Some(if n == 1 {
                (Ok(Days::Weekly(bits)), what)
            } else {
                (
                    Err(format!(
                        "it runs every {n} weeks, counted from its start date; a cron line \
                         cannot count weeks"
                    )),
                    what,
                )
            });
        }
        if let Some(s) = child(t, "ScheduleByMonth") {
            let mut days = 0u32;
            let mut last = false;
            let mut shown = Vec::new();
            let problems_before = self.problems.len();
            if let Some(d) = child(s, "DaysOfMonth") {
                for day in d
                    .children()
                    .filter(|c| c.is_element() && c.tag_name().name() == "Day")
                {
                    match text_of(day) {
                        "Last" => last = true,
                        v => match v.parse::<u32>() {
                            Ok(n) if (1..=31).contains(&n) => days |= 1 << n,
                            _ => self.problem(
                                day,
                                format!("<Day>: `{v}` is not a day of the month (1–31 or Last)"),
                            ),
                        },
                    }
                    shown.push(text_of(day).to_string());
                }
            }
            let mut months = 0u16;
            if let Some(m) = child(s, "Months") {
                for month in m.children().filter(|c| c.is_element()) {
                    match MONTHS.iter().position(|w| *w == month.tag_name().name()) {
                        Some(i) => months |= 1 << (i + 1),
                        None => self.problem(
                            month,
                            format!(
                                "<Months>: <{}> is not a month (January … December)",
                                month.tag_name().name()
                            ),
                        ),
                    }
                }
            }
            if shown.is_empty() {
                self.problem(
                    s,
                    "<ScheduleByMonth> without any <Day> in <DaysOfMonth>".into(),
                );
            }
            if self.problems.len() > problems_before {
                return None;
            }
            if months == 0 {
                months = 0x1ffe;
            }
            let what = format!("monthly on day {}", shown.join(", "));
            return Some(if last {
                (
                    Err(
                        "it runs on the last day of the month, which a cron line cannot say".into(),
                    ),
                    what,
                )
            } else {
                (Ok(Days::Monthly { days, months }), what)
            });
        }
        if child(t, "ScheduleByMonthDayOfWeek").is_some() {
            return Some((
                Err(
                    "it runs on a weekday of a week of the month (such as the first Monday), \
                     which a cron line cannot say (cron ORs day of month and day of week)"
                        .into(),
                ),
                "monthly by week and weekday".into(),
            ));
        }
        self.problem(
            t,
            "<CalendarTrigger> without a schedule (<ScheduleByDay>, <ScheduleByWeek>, \
             <ScheduleByMonth> or <ScheduleByMonthDayOfWeek>)"
                .into(),
        );
        None
    }
}

/// The query's command from an `Exec` action, and notes on it.
fn exec_action(
    command: &str,
    args: &str,
    workdir: Option<String>,
    label: &str,
    index: usize,
) -> (Action, Vec<String>) {
    let program = unquote(command).to_string();
    let mut notes = Vec::new();
    let split = split_windows_args(args);
    let file = program
        .rsplit(['\\', '/'])
        .next()
        .unwrap_or("")
        .to_ascii_lowercase();
    let mut words = vec![program.clone()];
    words.extend(split.iter().cloned());
    let shell_switch = split
        .first()
        .map(|a| a.to_ascii_lowercase())
        .filter(|a| matches!(a.as_str(), "/c" | "/k" | "/r"));
    let powershell = matches!(
        file.as_str(),
        "powershell" | "powershell.exe" | "pwsh" | "pwsh.exe"
    );
    let ps_switch = powershell
        .then(|| {
            split
                .iter()
                .position(|a| matches!(a.to_ascii_lowercase().as_str(), "-command" | "-c"))
        })
        .flatten();
    let ps = ps_switch.and_then(|i| dates::powershell_command(&split[i + 1..].join(" ")));
    let through_cmd = matches!(file.as_str(), "cmd" | "cmd.exe") && shell_switch.is_some();
    let mut command = match (file.as_str(), shell_switch) {
        ("cmd" | "cmd.exe", Some(switch)) => {
            // cmd.exe parses the rest of its command line itself: keep it as one string.
            let rest = args.trim_start()[2..].trim_start().to_string();
            notes.push(format!(
                "{label}: action {index} runs through cmd.exe, so its command line is kept as \
                 one argument after {switch}: [{program}, {switch}, …]"
            ));
            vec![program.clone(), switch, rest]
        }
        _ => {
            let mut c = vec![program.clone()];
            c.extend(split.iter().cloned());
            c
        }
    };
    // Braces are literal in Task Scheduler; in a query's command they would be placeholders.
    for arg in &mut command {
        *arg = dates::escape_braces(arg);
    }
    if let (Some(i), Some(ps)) = (ps_switch, ps) {
        for (expr, p) in &ps.recognised {
            notes.push(format!(
                "{label}: action {index}: the PowerShell date `{expr}` became {p}: pacs-warden \
                 fills in the date of each run, from its planned time"
            ));
        }
        for expr in &ps.unrecognised {
            notes.push(format!(
                "{label}: action {index}: `{expr}` is not a date pacs-warden can fill in (it \
                 knows (Get-Date).AddDays(N), .AddHours(N), .AddMinutes(N) formatted with \
                 \"{{0:yyyy-MM-dd}}\" -f, .ToString('…') or Get-Date -Format); write it as a \
                 placeholder such as {{date-1d}} (README, \"Dates in query commands\")"
            ));
        }
        if !ps.recognised.is_empty() {
            command = match (&ps.argv, ps.unrecognised.is_empty()) {
                (Some(argv), true) => {
                    notes.push(format!(
                        "{label}: action {index}: with its dates as placeholders, the PowerShell \
                         command is one plain command, so pacs-warden runs it directly, without \
                         PowerShell"
                    ));
                    argv.iter().map(|a| dates::to_template(a)).collect()
                }
                _ => {
                    let mut c = command[..=i + 1].to_vec();
                    c.push(dates::to_template(&ps.text));
                    c
                }
            };
        }
    }
    // A script's dates are out of sight: `powershell -File SCRIPT` (`-f`; the first of `-File`
    // and `-Command` wins), a script run directly, or one run by `cmd /c`.
    const SCRIPTS: &[&str] = &[".ps1", ".bat", ".cmd"];
    let script = if powershell {
        split
            .iter()
            .position(|a| {
                matches!(
                    a.to_ascii_lowercase().as_str(),
                    "-file" | "-f" | "-command" | "-c"
                )
            })
            .filter(|&i| matches!(split[i].to_ascii_lowercase().as_str(), "-file" | "-f"))
            .and_then(|i| split.get(i + 1))
    } else if dates::is_script(&program, SCRIPTS) {
        Some(&program)
    } else if through_cmd {
        split.get(1).filter(|w| dates::is_script(w, SCRIPTS))
    } else {
        None
    };
    if let Some(script) = script {
        notes.push(dates::script_note(
            &format!("{label}: action {index}"),
            script,
        ));
    }
    if words.iter().any(|a| a.contains('%')) || workdir.as_deref().is_some_and(|w| w.contains('%'))
    {
        notes.push(format!(
            "{label}: action {index} uses %VARIABLES%, which Task Scheduler expands; write their \
             values out (pacs-warden expands nothing)"
        ));
    }
    (
        Action {
            command,
            workdir,
            words,
        },
        notes,
    )
}

/// Splits a Windows command line (the arguments after the program) as CommandLineToArgvW and
/// the Microsoft C runtime since 2008 do: whitespace separates arguments outside double quotes;
/// 2n backslashes before a `"` are n backslashes and the quote toggles quoting; 2n+1 are n and a
/// literal `"`; other backslashes are literal; `""` inside quotes is a literal `"`.
pub(crate) fn split_windows_args(s: &str) -> Vec<String> {
    let chars: Vec<char> = s.chars().collect();
    let mut args = Vec::new();
    let mut cur = String::new();
    let mut in_arg = false;
    let mut quoted = false;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            ' ' | '\t' if !quoted => {
                if in_arg {
                    args.push(std::mem::take(&mut cur));
                    in_arg = false;
                }
                i += 1;
            }
            '\\' => {
                let n = chars[i..].iter().take_while(|&&c| c == '\\').count();
                i += n;
                if chars.get(i) == Some(&'"') {
                    cur.extend(std::iter::repeat_n('\\', n / 2));
                    if n % 2 == 1 {
                        cur.push('"');
                        i += 1;
                    }
                } else {
                    cur.extend(std::iter::repeat_n('\\', n));
                }
                in_arg = true;
            }
            '"' => {
                if quoted && chars.get(i + 1) == Some(&'"') {
                    cur.push('"');
                    i += 2;
                } else {
                    quoted = !quoted;
                    i += 1;
                }
                in_arg = true;
            }
            _ => {
                cur.push(c);
                in_arg = true;
                i += 1;
            }
        }
    }
    if in_arg {
        args.push(cur);
    }
    args
}

/// `2021-05-04T06:30:00[.fff][Z|+01:00]` → the local date and time and the offset in seconds,
/// if one is given.
fn start_boundary(text: &str) -> Option<(NaiveDateTime, Option<i32>)> {
    let (date, time) = text.split_once('T')?;
    let (time, offset) = if let Some(t) = time.strip_suffix('Z') {
        (t, Some(0))
    } else if let Some(i) = time.rfind(['+', '-']) {
        let (t, o) = time.split_at(i);
        let sign = if o.starts_with('-') { -1 } else { 1 };
        let (h, m) = o[1..].split_once(':')?;
        let (h, m): (i32, i32) = (h.parse().ok()?, m.parse().ok()?);
        if h > 14 || m > 59 {
            return None;
        }
        (t, Some(sign * (h * 3600 + m * 60)))
    } else {
        (time, None)
    };
    let date = NaiveDate::parse_from_str(date, "%Y-%m-%d").ok()?;
    let time = chrono::NaiveTime::parse_from_str(time, "%H:%M:%S%.f").ok()?;
    Some((date.and_time(time.with_nanosecond(0)?), offset))
}

/// An xs:duration as Task Scheduler writes it (`PT15M`, `P1D`, `P1DT2H`, `P1W`), in seconds.
/// Years and months have no fixed length: refused.
fn iso_duration(text: &str) -> Result<u64, String> {
    let rest = text
        .strip_prefix('P')
        .ok_or_else(|| "it does not start with P".to_string())?;
    let mut total = 0u64;
    let mut in_time = false;
    let mut number = String::new();
    let mut any = false;
    for c in rest.chars() {
        match c {
            'T' if !in_time && number.is_empty() => in_time = true,
            '0'..='9' => number.push(c),
            _ => {
                let n: u64 = number
                    .parse()
                    .map_err(|_| format!("no number before `{c}`"))?;
                number.clear();
                let unit = match (in_time, c) {
                    (false, 'W') => 7 * 86400,
                    (false, 'D') => 86400,
                    (true, 'H') => 3600,
                    (true, 'M') => 60,
                    (true, 'S') => 1,
                    (false, 'Y' | 'M') => {
                        return Err("years and months have no fixed length".into())
                    }
                    _ => return Err(format!("unexpected `{c}`")),
                };
                total = n
                    .checked_mul(unit)
                    .and_then(|v| total.checked_add(v))
                    .ok_or_else(|| "too long".to_string())?;
                any = true;
            }
        }
    }
    if !number.is_empty() || !any {
        return Err("a number without a unit, or no value".into());
    }
    Ok(total)
}

/// Turns the tasks read into queries, skipped entries and notes.
fn assemble(tasks: Vec<Task>, opts: &Options) -> Imported {
    let mut imported = Imported::default();
    let m = &opts.match_text;

    // Which tasks give queries; the others are explained.
    let mut query_tasks = Vec::new();
    let mut restart_tasks = 0;
    for task in tasks {
        if task.query.is_some() {
            query_tasks.push(task);
            continue;
        }
        let actions_text = task
            .actions
            .iter()
            .map(|(a, _)| a.as_str())
            .chain(task.name.as_deref())
            .collect::<Vec<_>>()
            .join(" ")
            .to_ascii_lowercase();
        let restart = actions_text.contains("celery")
            && ["taskkill", "control shutdown", "restart", "kill"]
                .iter()
                .any(|w| actions_text.contains(w));
        if restart {
            restart_tasks += 1;
            let triggers: Vec<String> = task.triggers.iter().map(|t| t.desc.clone()).collect();
            imported.notes.push(format!(
                "{} (line {}) is the Celery restart task: its triggers are restart times, not \
                 queries; pacs-warden replaces it — delete it after switching. Its triggers: {}",
                task.label,
                task.line,
                if triggers.is_empty() {
                    "none".into()
                } else {
                    triggers.join("; ")
                }
            ));
            continue;
        }
        let script = task
            .actions
            .iter()
            .find(|(a, _)| {
                let a = a.to_ascii_lowercase();
                [".bat", ".cmd", ".ps1", "powershell"]
                    .iter()
                    .any(|s| a.contains(s))
            })
            .map(|(a, _)| a.clone());
        imported.skipped.push(Skipped {
            line: task.line,
            what: format!(
                "{}{}",
                task.label,
                task.actions
                    .first()
                    .map_or(String::new(), |(a, _)| format!(", {a}"))
            ),
            reason: match script {
                Some(s) => format!(
                    "does not run a query (no `{m}`); if the script of its {s} runs the query, \
                     import again with that script's name as the text to match"
                ),
                None => format!("does not run a query (no `{m}`)"),
            },
        });
    }

    // One zone for the whole schedule.
    let zones: Vec<Option<String>> = query_tasks
        .iter()
        .filter(|t| !t.disabled)
        .flat_map(|t| &t.triggers)
        .filter_map(|t| match &t.outcome {
            Outcome::Times(times) => Some(times.zone.clone()),
            Outcome::Skip(_) => None,
        })
        .collect();
    let chosen = majority_zone(zones.iter()).unwrap_or(None);

    let mut names = Names::default();
    let mut repeats_local = false;
    for task in query_tasks {
        let action = task.query.clone().expect("a query task");
        if task.disabled {
            imported.skipped.push(Skipped {
                line: task.line,
                what: task.label.clone(),
                reason: "the task is disabled (Settings: Enabled false)".into(),
            });
            continue;
        }
        // Times by day pattern: (second, hour, minute) → first trigger line.
        let mut weekly: BTreeMap<(u32, u32, u32), (u8, usize)> = BTreeMap::new();
        let mut monthly: BTreeMap<(u32, u16), TimesOfDay> = BTreeMap::new();
        let mut task_notes = Vec::new();
        for t in &task.triggers {
            let what = format!("{}: trigger {}", task.label, t.desc);
            let times = match &t.outcome {
                Outcome::Skip(why) => {
                    imported.skipped.push(Skipped {
                        line: t.line,
                        what,
                        reason: why.clone(),
                    });
                    continue;
                }
                Outcome::Times(times) => times,
            };
            if times.zone != chosen {
                imported.skipped.push(Skipped {
                    line: t.line,
                    what,
                    reason: format!(
                        "its time is in {} but the other triggers' in {}; one schedule has one \
                         time zone, so put this query in a second schedule file",
                        zone_desc(&times.zone),
                        zone_desc(&chosen)
                    ),
                });
                continue;
            }
            repeats_local |= times.repeats && times.zone.is_none();
            task_notes.extend(times.notes.iter().cloned());
            for &(offset, minute) in &times.fires {
                let key = (times.second, minute / 60, minute % 60);
                match times.days {
                    Days::Weekly(bits) => {
                        let shifted = rotate(bits, offset);
                        let e = weekly.entry(key).or_insert((0, t.line));
                        e.0 |= shifted;
                    }
                    Days::Monthly { days, months } => {
                        monthly
                            .entry((days, months))
                            .or_default()
                            .entry(key)
                            .or_insert(t.line);
                    }
                }
            }
        }
        // Weekly times grouped by their weekdays.
        let mut by_days: BTreeMap<u8, TimesOfDay> = BTreeMap::new();
        for (key, (bits, line)) in weekly {
            by_days.entry(bits).or_default().insert(key, line);
        }
        let mut lines: Vec<((u32, u32, u32), String, usize)> = Vec::new();
        for (bits, times) in by_days {
            let dow = if bits == EVERY_DAY {
                "*".to_string()
            } else {
                list(
                    (0..7).filter(|i| bits & (1 << i) != 0).collect(),
                    0,
                    6,
                    Some(&["sun", "mon", "tue", "wed", "thu", "fri", "sat"]),
                )
            };
            for (first, fields, line) in time_lines(&times) {
                lines.push((first, format!("{fields} * * {dow}"), line));
            }
        }
        for ((days, months), times) in monthly {
            let dom = list(
                (1..32).filter(|i| days & (1 << i) != 0).collect(),
                1,
                31,
                None,
            );
            let mon = list(
                (1..13).filter(|i| months & (1 << i) != 0).collect(),
                1,
                12,
                Some(&[
                    "", "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct",
                    "nov", "dec",
                ]),
            );
            for (first, fields, line) in time_lines(&times) {
                lines.push((first, format!("{fields} {dom} {mon} *"), line));
            }
        }
        if lines.is_empty() {
            continue;
        }
        lines.sort();
        imported.notes.extend(task.action_notes.iter().cloned());
        imported.notes.extend(task_notes);
        if lines.len() > 1 {
            imported.notes.push(format!(
                "{}: its triggers need {} cron lines, so it is {} queries with the same command",
                task.label,
                lines.len(),
                lines.len()
            ));
        }
        let fallback_of = |line: usize| format!("query-{line}");
        let base = name_from_words(&action.words, m)
            .or_else(|| {
                task.name
                    .as_deref()
                    .and_then(|n| n.rsplit('\\').find(|s| !s.is_empty()))
                    .map(str::to_string)
            })
            .unwrap_or_else(|| fallback_of(task.line));
        for (_, cron, line) in lines {
            imported.queries.push(ImportedQuery {
                name: names.unique(&base, &fallback_of(line)),
                cron,
                command: action.command.clone(),
                workdir: action.workdir.clone(),
                env: Vec::new(),
                timezone: chosen.clone(),
                source_line: line,
            });
        }
    }
    if !imported.queries.is_empty() {
        imported.notes.push(match &chosen {
            None => "the triggers' times have no offset, so they are the local time of the \
                     machine that ran them; no `timezone:` is written, so pacs-warden uses this \
                     machine's zone: run it on the same machine or add `timezone:`"
                .into(),
            Some(z) => format!(
                "the triggers are synchronized across time zones (StartBoundary with an \
                 offset), so their times are fixed in {}: written as `timezone: {z}`",
                zone_desc(&chosen)
            ),
        });
        if imported.queries.iter().any(|q| q.workdir.is_none()) {
            imported.notes.push(
                "Task Scheduler runs an action without a working directory in \
                 C:\\Windows\\System32; a query without `workdir:` runs in the schedule \
                 file's directory: add `workdir:` where a command relies on it"
                    .into(),
            );
        }
        if repeats_local {
            imported.notes.push(
                "Task Scheduler repeats a task by elapsed time, so on the day the clocks change \
                 its repetitions after the change are an hour off; pacs-warden runs the \
                 imported wall-clock times"
                    .into(),
            );
        }
    }
    if imported.queries.is_empty() && restart_tasks == 0 {
        imported.notes.push(format!(
            "nothing to import: no enabled trigger of a task that runs `{m}` has a time a cron \
             line can say; if the queries run from a script, import again with the script's \
             name as the text to match"
        ));
    }
    imported.skipped.sort_by_key(|s| s.line);
    imported
}

fn zone_desc(zone: &Option<String>) -> String {
    match zone.as_deref() {
        None => "local time".into(),
        Some("UTC") => "UTC".into(),
        Some(z) => match z.strip_prefix("Etc/GMT") {
            // Etc/GMT-1 is UTC+1.
            Some(n) => format!(
                "UTC{}{} ({z})",
                if n.starts_with('-') { '+' } else { '-' },
                &n[1..]
            ),
            None => zone_label(zone),
        },
    }
}

/// Weekday bits moved `by` days later.
fn rotate(bits: u8, by: u32) -> u8 {
    (0..7u32)
        .filter(|i| bits & (1 << i) != 0)
        .fold(0, |out, i| out | 1 << ((i + by) % 7))
}

/// The times of one day pattern as cron time fields (`[second ]minute hour`), as few lines as
/// cron allows: hours sharing the same minutes share a line. Each with its first time and the
/// first trigger line.
fn time_lines(times: &TimesOfDay) -> Vec<((u32, u32, u32), String, usize)> {
    // (second, hour) → minutes, line.
    let mut per_hour: BTreeMap<(u32, u32), (Vec<u32>, usize)> = BTreeMap::new();
    for (&(s, h, m), &line) in times {
        let e = per_hour.entry((s, h)).or_insert((Vec::new(), line));
        e.0.push(m);
        e.1 = e.1.min(line);
    }
    // (second, minutes) → hours, line.
    let mut per_minutes: BTreeMap<(u32, Vec<u32>), (Vec<u32>, usize)> = BTreeMap::new();
    for ((s, h), (minutes, line)) in per_hour {
        let e = per_minutes
            .entry((s, minutes))
            .or_insert((Vec::new(), line));
        e.0.push(h);
        e.1 = e.1.min(line);
    }
    per_minutes
        .into_iter()
        .map(|((s, minutes), (hours, line))| {
            let first = (hours[0], minutes[0], s);
            let mut fields = format!(
                "{} {}",
                list(minutes, 0, 59, None),
                list(hours, 0, 23, None)
            );
            if s != 0 {
                fields = format!("{s} {fields}");
            }
            (first, fields, line)
        })
        .collect()
}

/// A cron field for `values` (ascending, within min..=max): `*`, a step `*/15` or `8-16/2`
/// (numbers only), or a list with runs as ranges; `names` spell the values.
fn list(values: Vec<u32>, min: u32, max: u32, names: Option<&[&str]>) -> String {
    let name = |v: u32| match names {
        Some(n) => n[v as usize].to_string(),
        None => v.to_string(),
    };
    if values.len() as u32 == max - min + 1 {
        return "*".into();
    }
    if names.is_none() && values.len() >= 3 {
        let step = values[1] - values[0];
        if step > 1 && values.windows(2).all(|w| w[1] - w[0] == step) {
            let (first, last) = (values[0], values[values.len() - 1]);
            return if first == min && last + step > max {
                format!("*/{step}")
            } else {
                format!("{first}-{last}/{step}")
            };
        }
    }
    let mut parts = Vec::new();
    let mut i = 0;
    while i < values.len() {
        let mut j = i;
        while j + 1 < values.len() && values[j + 1] == values[j] + 1 {
            j += 1;
        }
        if j >= i + 2 {
            parts.push(format!("{}-{}", name(values[i]), name(values[j])));
        } else {
            parts.extend((i..=j).map(|k| name(values[k])));
        }
        i = j + 1;
    }
    parts.join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_command_lines_split_like_commandlinetoargvw() {
        let cases: &[(&str, &[&str])] = &[
            (r#"a b  c"#, &["a", "b", "c"]),
            (
                r#""D:\Server Apps\x.py" 1 1 -ct"#,
                &[r"D:\Server Apps\x.py", "1", "1", "-ct"],
            ),
            (r#"a\\b "c\\" d"#, &[r"a\\b", r"c\", "d"]),
            (r#"\"x\" "a\"b""#, &[r#""x""#, r#"a"b"#]),
            (r#""a""b" """#, &[r#"a"b"#, ""]),
            (r#"-e "imported,research""#, &["-e", "imported,research"]),
            ("", &[]),
        ];
        for (line, want) in cases {
            assert_eq!(split_windows_args(line), *want, "{line}");
        }
    }

    #[test]
    fn durations_and_boundaries() {
        assert_eq!(iso_duration("PT15M"), Ok(900));
        assert_eq!(iso_duration("P1DT2H30S"), Ok(86400 + 7200 + 30));
        assert_eq!(iso_duration("P1W"), Ok(7 * 86400));
        assert!(iso_duration("P1M").is_err());
        assert!(iso_duration("15M").is_err());
        assert!(iso_duration("PT").is_err());
        let (t, o) = start_boundary("2021-05-04T06:30:00.1234567+01:00").unwrap();
        assert_eq!(t.to_string(), "2021-05-04 06:30:00");
        assert_eq!(o, Some(3600));
        assert_eq!(start_boundary("2021-05-04T06:30:00Z").unwrap().1, Some(0));
        assert_eq!(
            start_boundary("2021-05-04T06:30:00-05:30").unwrap().1,
            Some(-19800)
        );
        assert_eq!(start_boundary("2021-05-04T06:30:00").unwrap().1, None);
        assert!(start_boundary("2021-13-04T06:30:00").is_none());
        assert!(start_boundary("06:30").is_none());
    }

    #[test]
    fn cron_fields_are_compact() {
        assert_eq!(list(vec![0, 15, 30, 45], 0, 59, None), "*/15");
        assert_eq!(list(vec![8, 10, 12, 14, 16], 0, 23, None), "8-16/2");
        assert_eq!(
            list(
                vec![1, 2, 3, 4, 5],
                0,
                6,
                Some(&["sun", "mon", "tue", "wed", "thu", "fri", "sat"])
            ),
            "mon-fri"
        );
        assert_eq!(
            list(
                vec![0, 6],
                0,
                6,
                Some(&["sun", "mon", "tue", "wed", "thu", "fri", "sat"])
            ),
            "sun,sat"
        );
        assert_eq!(list(vec![7, 19], 0, 23, None), "7,19");
        assert_eq!(list(vec![1, 2, 3, 7], 0, 23, None), "1-3,7");
        assert_eq!(list((0..24).collect(), 0, 23, None), "*");
        assert_eq!(rotate(0b0100_0000, 1), 0b0000_0001); // Saturday + 1 = Sunday
        assert_eq!(rotate(0b0011_1110, 0), 0b0011_1110);
        assert_eq!(rotate(0b0011_1110, 8), 0b0111_1100);
    }

    #[test]
    fn decoding() {
        let utf16le: Vec<u8> = [0xFF, 0xFE]
            .into_iter()
            .chain("<a>é</a>".encode_utf16().flat_map(u16::to_le_bytes))
            .collect();
        assert_eq!(decode_xml_bytes(&utf16le).unwrap(), "<a>é</a>");
        let utf16be: Vec<u8> = "<a/>".encode_utf16().flat_map(u16::to_be_bytes).collect();
        assert_eq!(decode_xml_bytes(&utf16be).unwrap(), "<a/>");
        assert_eq!(decode_xml_bytes(b"\xEF\xBB\xBF<a/>").unwrap(), "<a/>");
        let err = decode_xml_bytes(b"<a>\n\xE9</a>").unwrap_err();
        assert_eq!((err.problems()[0].line, err.problems()[0].col), (2, 1));
        let err = decode_xml_bytes(&utf16le[..utf16le.len() - 1]).unwrap_err();
        assert!(err.to_string().contains("odd number of bytes"), "{err}");
    }
}
