//! Crontab → queries.
//!
//! Owns: reading a user crontab (`crontab -l`) or a system one (/etc/crontab, /etc/cron.d: a
//! user name after the time fields): comments, blank lines, `NAME=value` lines (`SHELL`, `PATH`,
//! `MAILTO`, `CRON_TZ`, `TZ`, any other), `@daily`-style nicknames, 5-field time specs (kept
//! verbatim: pacs-warden's cron has crontab meaning, so nothing is translated, only checked),
//! and the command, which cron gives to the shell: it is split into an argument list by the
//! shell's quoting rules when that is exact, and kept as `[SHELL, -c, TEXT]` otherwise. The
//! lines of the old Celery restart routine (stopping, killing or restarting the worker before
//! the queries, starting it `@reboot`) give no query but a note to delete them.
//!
//! Time zones: `CRON_TZ=` sets the zone the following lines' times are read in (cronie, NetBSD
//! and FreeBSD cron). `TZ=` does not: cron reads the times in its own zone and only hands `TZ`
//! to the commands, so it goes into the query's `env` and a note says so.

use super::{
    dates, majority_zone, mentions, name_from_words, zone_label, ImportError, ImportProblem,
    Imported, ImportedQuery, Names, Options, Skipped,
};
use crate::core::cron::CronSpec;
use chrono_tz::Tz;

const FIELD_NAMES: [&str; 5] = ["minute", "hour", "day-of-month", "month", "day-of-week"];

/// Environment settings that are cron's own, not the command's.
const CRON_ONLY_ENV: &[&str] = &["CRON_TZ", "MAILTO", "MAILFROM", "SHELL", "RANDOM_DELAY"];

/// Words that can follow the time fields of a user crontab and look like a user name: a
/// system crontab is not assumed when one of these is there.
const COMMAND_WORDS: &[&str] = &[
    "cd",
    "sh",
    "bash",
    "dash",
    "zsh",
    "ksh",
    "python",
    "python2",
    "python3",
    "perl",
    "php",
    "ruby",
    "node",
    "env",
    "nice",
    "ionice",
    "nohup",
    "flock",
    "timeout",
    "test",
    "run-parts",
    "sudo",
    "su",
    "exec",
    "echo",
    "true",
    "false",
    "sleep",
    "find",
    "rm",
    "cp",
    "mv",
    "tar",
    "rsync",
    "curl",
    "wget",
    "logrotate",
    "make",
    "chronic",
    "source",
    "docker",
    "systemctl",
    "if",
    "for",
    "while",
    "cat",
    "date",
    "touch",
    "mkdir",
    "ls",
    "gzip",
    "pg_dump",
    "mysqldump",
];

/// A whitespace-separated word of a line.
#[derive(Debug, Clone, Copy)]
struct Tok<'a> {
    /// 1-based column, in characters.
    col: usize,
    /// Byte offset in the line.
    byte: usize,
    text: &'a str,
}

fn tokens(line: &str) -> Vec<Tok<'_>> {
    let mut out = Vec::new();
    let mut start: Option<(usize, usize)> = None;
    for (col, (byte, c)) in line.char_indices().enumerate() {
        if c == ' ' || c == '\t' {
            if let Some((b, c0)) = start.take() {
                out.push(Tok {
                    col: c0,
                    byte: b,
                    text: &line[b..byte],
                });
            }
        } else if start.is_none() {
            start = Some((byte, col + 1));
        }
    }
    if let Some((b, c0)) = start {
        out.push(Tok {
            col: c0,
            byte: b,
            text: &line[b..],
        });
    }
    out
}

enum Kind<'a> {
    Blank,
    Env {
        name: String,
        value: String,
        col: usize,
    },
    Job(Vec<Tok<'a>>),
    Bad(ImportProblem),
}

fn classify(number: usize, line: &str) -> Kind<'_> {
    let trimmed = line.trim_start_matches([' ', '\t']);
    let indent = line.len() - trimmed.len();
    match trimmed.chars().next() {
        None | Some('#') => Kind::Blank,
        Some(c) if c.is_ascii_digit() || c == '*' || c == '@' => Kind::Job(tokens(line)),
        Some(_) => match env_setting(trimmed) {
            Some((name, value, value_at)) => Kind::Env {
                name,
                value,
                col: line[..indent + value_at].chars().count() + 1,
            },
            None => Kind::Bad(ImportProblem::error(
                number,
                line[..indent].chars().count() + 1,
                None,
                format!(
                    "`{}` is neither a cron job (5 time fields or an @nickname, then the \
                     command) nor an environment setting NAME=value",
                    trimmed.trim_end()
                ),
            )),
        },
    }
}

/// `NAME = value` as cron reads it (spaces around `=` allowed, the value may be quoted): the
/// name, the value, and the byte offset of the value in `text`.
fn env_setting(text: &str) -> Option<(String, String, usize)> {
    let name_len = text
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(text.len());
    let name = &text[..name_len];
    if name.is_empty() || name.starts_with(|c: char| c.is_ascii_digit()) {
        return None;
    }
    let rest = text[name_len..].trim_start_matches([' ', '\t']);
    let rest = rest.strip_prefix('=')?;
    let value = rest.trim_matches([' ', '\t']);
    let value_at = text.len() - rest.trim_start_matches([' ', '\t']).len();
    let unquoted = match value.as_bytes() {
        [q @ (b'"' | b'\''), .., last] if last == q && value.len() >= 2 => {
            &value[1..value.len() - 1]
        }
        _ => value,
    };
    Some((name.to_string(), unquoted.to_string(), value_at))
}

fn looks_like_user(word: &str) -> bool {
    let name = word.strip_suffix('$').unwrap_or(word);
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
        && name.len() <= 32
        && !COMMAND_WORDS.contains(&name)
        && !(name.starts_with("python") || name.starts_with("perl") || name.starts_with("php"))
}

/// Where a job's time spec ends: 1 word for `@nickname`, else 5.
fn spec_len(toks: &[Tok<'_>]) -> usize {
    if toks[0].text.starts_with('@') {
        1
    } else {
        5
    }
}

/// A system crontab when every job has a user-name-like word after its time fields and a
/// command after that.
fn detect_system(jobs: &[&[Tok<'_>]]) -> bool {
    !jobs.is_empty()
        && jobs.iter().all(|toks| {
            let k = spec_len(toks);
            toks.len() > k + 1 && looks_like_user(toks[k].text)
        })
}

/// A job that runs a query, before zones and names are settled.
struct Candidate {
    line: usize,
    what: String,
    cron: String,
    built: Built,
    zone: Option<String>,
    zone_line: Option<usize>,
    user: Option<String>,
    mailto: Option<String>,
    tz_env: bool,
}

/// Imports the query times of a crontab. See the module documentation and `super` for the
/// decisions; malformed lines (wrong field count, bad time field, unterminated quote in a query's
/// command, unknown `CRON_TZ` zone, a line that is neither job nor setting) fail the import with
/// every problem.
pub fn import_crontab(text: &str, opts: &Options) -> Result<Imported, ImportError> {
    let lines: Vec<(usize, &str, Kind<'_>)> = text
        .lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l, classify(i + 1, l)))
        .collect();

    let jobs: Vec<&[Tok<'_>]> = lines
        .iter()
        .filter_map(|(_, _, k)| match k {
            Kind::Job(t) => Some(t.as_slice()),
            _ => None,
        })
        .collect();
    let mut imported = Imported::default();
    // Lines of the old Celery restart routine (`Job::Replaced`).
    let mut restart_jobs = 0;
    let system = match opts.system {
        Some(s) => s,
        None => {
            let s = detect_system(&jobs);
            imported.notes.push(if s {
                "read as a system crontab (/etc/crontab, /etc/cron.d): every job has a user \
                 name after its time fields; if this is a user's crontab (crontab -e), import \
                 it as one"
                    .into()
            } else {
                "read as a user crontab (crontab -e): the command follows the time fields; if \
                 this is /etc/crontab or a file of /etc/cron.d (a user name after the time \
                 fields), import it as a system crontab"
                    .into()
            });
            s
        }
    };

    let mut problems = Vec::new();
    let mut env: Vec<(String, String)> = Vec::new();
    let mut cron_tz: Option<(String, usize)> = None;
    let mut tz_line: Option<usize> = None;
    let mut candidates = Vec::new();

    for (number, line, kind) in &lines {
        let number = *number;
        match kind {
            Kind::Blank => {}
            Kind::Bad(p) => problems.push(p.clone()),
            Kind::Env { name, value, col } => {
                if name == "CRON_TZ" {
                    // An empty value goes back to cron's own zone.
                    if !value.is_empty() && value.parse::<Tz>().is_err() {
                        problems.push(ImportProblem::error(
                            number,
                            *col,
                            None,
                            format!(
                                "CRON_TZ: unknown time zone `{value}`; use an IANA name such as \
                                 Europe/London (names are case-sensitive)"
                            ),
                        ));
                    }
                    cron_tz = (!value.is_empty()).then(|| (value.clone(), number));
                } else {
                    if name == "TZ" {
                        tz_line = Some(number);
                    }
                    env.retain(|(n, _)| n != name);
                    env.push((name.clone(), value.clone()));
                }
            }
            Kind::Job(toks) => match job(number, line, toks, system, &env, opts) {
                Err(mut p) => problems.append(&mut p),
                Ok(Job::Skip(s)) => imported.skipped.push(s),
                Ok(Job::Replaced(note)) => {
                    restart_jobs += 1;
                    imported.notes.push(note);
                }
                Ok(Job::Query { cron, built, user }) => {
                    let value = |k: &str| env.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
                    candidates.push(Candidate {
                        line: number,
                        what: line.trim().to_string(),
                        cron,
                        built,
                        zone: cron_tz.as_ref().map(|(z, _)| z.clone()),
                        zone_line: cron_tz.as_ref().map(|(_, l)| *l),
                        user,
                        mailto: value("MAILTO").filter(|m| !m.is_empty()),
                        tz_env: value("TZ").is_some(),
                    });
                }
            },
        }
    }
    if !problems.is_empty() {
        problems.sort_by_key(|p| (p.line, p.col));
        return Err(ImportError::Malformed(problems));
    }

    let chosen = majority_zone(candidates.iter().map(|c| &c.zone)).unwrap_or(None);
    let chosen_line = candidates
        .iter()
        .find(|c| c.zone == chosen)
        .and_then(|c| c.zone_line);
    let mut names = Names::default();
    let mut users: Vec<String> = Vec::new();
    let mut mailto: Vec<String> = Vec::new();
    let mut tz_env = false;
    for c in candidates {
        if c.zone != chosen {
            let why = match c.zone_line {
                Some(l) => format!("CRON_TZ at line {l}"),
                None => "no CRON_TZ before it".into(),
            };
            imported.skipped.push(Skipped {
                line: c.line,
                what: c.what,
                reason: format!(
                    "its times are in {} ({why}) but the other queries' are in {}; one schedule \
                     has one time zone, so put this query in a second schedule file",
                    zone_label(&c.zone),
                    zone_label(&chosen)
                ),
            });
            continue;
        }
        let fallback = format!("query-{}", c.line);
        let name = names.unique(
            &name_from_words(&c.built.words, &opts.match_text).unwrap_or_else(|| fallback.clone()),
            &fallback,
        );
        imported.notes.extend(c.built.notes.iter().cloned());
        if let Some(u) = c.user.filter(|u| !users.contains(u)) {
            users.push(u);
        }
        if let Some(m) = c.mailto.filter(|m| !mailto.contains(m)) {
            mailto.push(m);
        }
        tz_env |= c.tz_env;
        imported.queries.push(ImportedQuery {
            name,
            cron: c.cron,
            command: c.built.command,
            workdir: c.built.workdir,
            env: c.built.env,
            timezone: c.zone,
            source_line: c.line,
        });
    }
    if !imported.queries.is_empty() {
        match (&chosen, chosen_line) {
            (Some(zone), Some(line)) => imported.notes.push(format!(
                "the times are in {zone} (CRON_TZ, line {line}), written as `timezone:`"
            )),
            _ => imported.notes.push(
                "the crontab names no zone (CRON_TZ), so its times are in the zone cron runs \
                 in; no `timezone:` is written, so pacs-warden uses this machine's zone: run it \
                 on the same machine or add `timezone:`"
                    .into(),
            ),
        }
        if let (true, Some(l)) = (tz_env, tz_line) {
            imported.notes.push(format!(
                "TZ= (line {l}) only sets the commands' environment (kept in their env); cron \
                 reads the times in its own zone, which CRON_TZ= would change"
            ));
        }
        if !users.is_empty() {
            imported.notes.push(format!(
                "cron ran these queries as {}; pacs-warden runs commands as the user it runs as",
                users
                    .iter()
                    .map(|u| format!("`{u}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        if imported.queries.iter().any(|q| q.workdir.is_none()) {
            imported.notes.push(
                "cron runs a command in the user's home directory; a query without `workdir:` \
                 runs in the schedule file's directory: add `workdir:` where a command relies \
                 on it"
                    .into(),
            );
        }
        if let Some(q) = imported
            .queries
            .iter()
            .find(|q| q.workdir.as_deref().is_some_and(|w| !w.starts_with('/')))
        {
            imported.notes.push(format!(
                "line {}: `cd {}` was relative to the user's home directory under cron; \
                 `workdir:` is relative to the schedule file's directory",
                q.source_line,
                q.workdir.as_deref().unwrap_or_default()
            ));
        }
        if !mailto.is_empty() {
            imported.notes.push(format!(
                "cron mailed the queries' output to {} (MAILTO); pacs-warden does not",
                mailto.join(", ")
            ));
        }
    }
    if imported.queries.is_empty() && restart_jobs == 0 {
        imported.notes.push(format!(
            "nothing to import: no job runs `{}` at a time of day; if the queries run from a \
             script, import again with the script's name as the text to match",
            opts.match_text
        ));
    }
    imported.skipped.sort_by_key(|s| s.line);
    Ok(imported)
}

enum Job {
    Skip(Skipped),
    /// A line of the old Celery restart routine, which pacs-warden replaces: the note says to
    /// delete it.
    Replaced(String),
    Query {
        cron: String,
        built: Built,
        user: Option<String>,
    },
}

fn job(
    number: usize,
    line: &str,
    toks: &[Tok<'_>],
    system: bool,
    env: &[(String, String)],
    opts: &Options,
) -> Result<Job, Vec<ImportProblem>> {
    let problem =
        |col: usize, message: String| vec![ImportProblem::error(number, col, None, message)];
    let k = spec_len(toks);
    let need = k + usize::from(system) + 1;
    if toks.len() < need {
        let shape = match (k, system) {
            (1, false) => "a nickname such as @daily and a command",
            (1, true) => "a nickname such as @daily, a user name and a command (system crontab)",
            (_, false) => {
                "5 time fields (minute hour day-of-month month day-of-week) and a command"
            }
            (_, true) => {
                "5 time fields (minute hour day-of-month month day-of-week), a user name and a \
                 command (system crontab)"
            }
        };
        return Err(problem(
            toks[0].col,
            format!("expected {shape}, found only {} fields", toks.len()),
        ));
    }

    let mut reboot = false;
    let cron = if k == 1 {
        let nick = toks[0].text.to_ascii_lowercase();
        if nick == "@reboot" {
            reboot = true;
            String::new()
        } else {
            match crate::core::cron::nickname_fields(&nick) {
                Some(fields) => fields.to_string(),
                None => {
                    return Err(problem(
                        toks[0].col,
                        format!(
                            "unknown nickname `{}`; allowed: @reboot, {}",
                            toks[0].text,
                            crate::core::cron::nickname_list()
                        ),
                    ))
                }
            }
        }
    } else {
        let text = toks[..5]
            .iter()
            .map(|t| t.text)
            .collect::<Vec<_>>()
            .join(" ");
        match CronSpec::parse(&text) {
            Ok(spec) if !spec.ever_matches() => {
                return Err(problem(
                    toks[0].col,
                    format!("`{text}` never runs: no date has that day and month"),
                ))
            }
            Ok(_) => text,
            Err(e) => {
                let col = e
                    .field
                    .and_then(|f| FIELD_NAMES.iter().position(|n| *n == f))
                    .map_or(toks[0].col, |i| toks[i].col);
                return Err(problem(col, format!("`{text}`: {e}")));
            }
        }
    };

    let user = system.then(|| toks[k].text.to_string());
    let start = &toks[k + usize::from(system)];
    let command = line[start.byte..].trim_end();
    if !mentions(command, &opts.match_text) {
        if let Some(note) = celery_restart_note(number, line.trim(), command, reboot) {
            return Ok(Job::Replaced(note));
        }
        return Ok(Job::Skip(Skipped {
            line: number,
            what: line.trim().to_string(),
            reason: format!("does not run a query (no `{}`)", opts.match_text),
        }));
    }
    if reboot {
        return Ok(Job::Skip(Skipped {
            line: number,
            what: line.trim().to_string(),
            reason: "@reboot runs once when cron starts, not at a time of day; pacs-warden \
                     restarts the worker at boot by itself"
                .into(),
        }));
    }
    let shell = env
        .iter()
        .find(|(n, _)| n == "SHELL")
        .map_or("/bin/sh", |(_, v)| v.as_str());
    let mut built =
        build(number, command, shell).map_err(|(at, message)| problem(start.col + at, message))?;
    let mut full_env: Vec<(String, String)> = env
        .iter()
        .filter(|(n, _)| !CRON_ONLY_ENV.contains(&n.as_str()))
        .cloned()
        .collect();
    for (n, v) in std::mem::take(&mut built.env) {
        full_env.retain(|(m, _)| *m != n);
        full_env.push((n, v));
    }
    built.env = full_env;
    // What the query's command and env say in the schedule: braces escaped, the dates
    // recognised as placeholders.
    let template = |t: &str| {
        if built.dated {
            dates::to_template(t)
        } else {
            dates::escape_braces(t)
        }
    };
    let command: Vec<String> = built.command.iter().map(|a| template(a)).collect();
    let env: Vec<(String, String)> = built
        .env
        .iter()
        .map(|(n, v)| (n.clone(), template(v)))
        .collect();
    built.command = command;
    built.env = env;
    Ok(Job::Query { cron, built, user })
}

/// The note for a line of the old Celery restart routine — what the Task Scheduler import
/// says of the Celery restart task (`schtasks.rs`) — or `None` for any other line. Such a
/// line runs `celery` (or a script named after it) and stops, kills or restarts it
/// (`celery … control shutdown`, `pkill -f "celery worker"`, `restart_celery.sh`), or, at
/// `@reboot`, starts the worker.
fn celery_restart_note(number: usize, what: &str, command: &str, reboot: bool) -> Option<String> {
    let text = command.to_ascii_lowercase();
    if !text.contains("celery") {
        return None;
    }
    if reboot && (text.contains("worker") || text.contains("start")) {
        return Some(format!(
            "line {number} (`{what}`) starts the Celery worker at boot: pacs-warden starts it at \
             boot itself (the worker's `start:` command) — delete it after switching"
        ));
    }
    let restarts = ["control shutdown", "kill", "restart", "stop", "worker"]
        .iter()
        .any(|w| text.contains(w));
    restarts.then(|| {
        format!(
            "line {number} (`{what}`) is the Celery restart job: its times are restart times, \
             not queries; pacs-warden replaces it — delete it after switching"
        )
    })
}

/// A command made ready for a query.
#[derive(Debug, Default, PartialEq, Eq)]
struct Built {
    command: Vec<String>,
    workdir: Option<String>,
    /// `NAME=value` words before the program.
    env: Vec<(String, String)>,
    /// Every word of the command, for naming the query.
    words: Vec<String>,
    notes: Vec<String>,
    /// Its dates are marked placeholders (`dates::to_template` makes them real).
    dated: bool,
}

/// Shell reserved words and builtins: a command starting with one needs the shell.
const SHELL_WORDS: &[&str] = &[
    "if", "then", "else", "elif", "fi", "do", "done", "case", "esac", "while", "until", "for",
    "in", "!", "{", "}", "[[", "function", "select", "time", "cd", ".", "source", "exec", "export",
    "eval", "set", "unset", "alias", "exit", "return", "read", "trap", "ulimit", "umask", "wait",
    "shift", "local", "readonly", "command", "builtin",
];

/// The command of a crontab line (after the time fields and user) as a query's command.
/// Errors are (character offset in `text`, message).
fn build(line: usize, text: &str, shell: &str) -> Result<Built, (usize, String)> {
    let (text, map, stdin) = cron_percent(text);
    let mut lexed = lex(&text).map_err(|(at, m)| (map[at], m))?;
    // The dates it asks `date` for become placeholders (marked until `dates::to_template`).
    let mut date_notes = Vec::new();
    let mut text = text;
    let mut marked = false;
    if !dates::has_marks(&text) {
        let (dated, found) = dates::rewrite_shell(&text);
        for f in &found {
            date_notes.push(match &f.placeholder {
                Some(p) => format!(
                    "line {line}: `{}` became {p}: pacs-warden fills in the date of each run, \
                     from its planned time",
                    f.text
                ),
                None => format!(
                    "line {line}: `{}` is not a date pacs-warden can fill in (it knows `date \
                     [-d WHEN] +FORMAT`, WHEN such as yesterday, \"1 hour ago\" or \"-2 days\"); \
                     it is left to the shell: write it as a placeholder such as {{date-1d}} \
                     (README, \"Dates in query commands\")",
                    f.text
                ),
            });
        }
        if found.iter().any(|f| f.placeholder.is_some()) {
            if let Ok(l) = lex(&dated) {
                lexed = l;
                text = dated;
                marked = true;
            }
        }
    }
    let mut built = Built {
        words: lexed
            .tokens
            .iter()
            .filter_map(|t| match t {
                Token::Word { text, .. } => Some(text.clone()),
                Token::Op { .. } => None,
            })
            .collect(),
        ..Built::default()
    };
    let mut toks = lexed.tokens.as_slice();
    // `cd DIR && …`: the directory becomes the query's workdir.
    if let [cd, dir, Token::Op { text: and, .. }, rest @ ..] = toks {
        if let (Some("cd"), Some(dir), "&&", false) = (
            cd.plain_word(),
            dir.plain_word(),
            and.as_str(),
            rest.is_empty(),
        ) {
            built.workdir = Some(dir.to_string());
            toks = rest;
        }
    }
    let rest_text = &text[toks.first().map_or(text.len(), Token::start)..];

    // What needs the shell, in the order met.
    let mut features: Vec<String> = Vec::new();
    for t in toks {
        let found = match t {
            Token::Word { features, .. } => features.clone(),
            Token::Op { text, .. } if text.starts_with(['(', ')']) => {
                vec!["a subshell `( )`".to_string()]
            }
            Token::Op { text, .. } => vec![format!("`{text}`")],
        };
        for f in found {
            if !features.contains(&f) {
                features.push(f);
            }
        }
    }
    if lexed.comment {
        features.push("a comment `#…`".into());
    }
    let assignments = toks
        .iter()
        .take_while(|t| t.plain_word().is_some() && matches!(t, Token::Word { assign: true, .. }))
        .count();
    match toks.get(assignments) {
        Some(Token::Word { text: w, .. }) if SHELL_WORDS.contains(&w.as_str()) => {
            features.push(format!("the shell word `{w}`"))
        }
        None => features.push("only variable assignments".into()),
        _ => {}
    }
    if features.is_empty() {
        for t in &toks[..assignments] {
            if let Token::Word { text, .. } = t {
                let (n, v) = text.split_once('=').expect("an assignment has `=`");
                built.env.push((n.to_string(), v.to_string()));
            }
        }
        built.command = toks[assignments..]
            .iter()
            .map(|t| match t {
                Token::Word { text, .. } => text.clone(),
                Token::Op { .. } => unreachable!("no operators without features"),
            })
            .collect();
    } else {
        built.command = vec![shell.to_string(), "-c".into(), rest_text.to_string()];
        built.notes.push(format!(
            "line {line}: the command uses {}, which an argument list cannot express, so it is \
             kept as [{shell}, -c, …] (pacs-warden runs commands directly, never through a \
             shell)",
            features.join(", ")
        ));
    }
    built.notes.extend(date_notes);
    // A shell script's dates (`date -d yesterday` inside it) are out of sight.
    if let Some(script) = built.words.iter().find(|w| dates::is_script(w, &[".sh"])) {
        built
            .notes
            .push(dates::script_note(&format!("line {line}:"), script));
    }
    built.dated = marked;
    if let Some(stdin) = stdin {
        built.notes.push(format!(
            "line {line}: cron gave the text after the first unescaped `%` to the command's \
             standard input (`{stdin}`); pacs-warden cannot, so it is left out"
        ));
    }
    Ok(built)
}

/// Cron's `%`: `\%` is a literal `%`; the first unescaped `%` ends the command and the rest is
/// its standard input. Returns the command text, for each of its characters the character
/// offset in `text`, and the standard input text if any.
fn cron_percent(text: &str) -> (String, Vec<usize>, Option<String>) {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::new();
    let mut map = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '\\' if chars.get(i + 1) == Some(&'%') => {
                out.push('%');
                map.push(i);
                i += 2;
            }
            '%' => {
                let stdin: String = chars[i + 1..].iter().collect();
                map.push(i);
                return (out, map, Some(stdin));
            }
            c => {
                out.push(c);
                map.push(i);
                i += 1;
            }
        }
    }
    map.push(chars.len());
    (out, map, None)
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    /// A word with its quotes removed.
    Word {
        text: String,
        /// Byte offset in the lexed text.
        start: usize,
        /// What the shell would expand in it (`$VAR`, backticks, patterns, `~`), for the note;
        /// empty for a plain word.
        features: Vec<String>,
        /// `NAME=…` with an unquoted name: a variable assignment before a command.
        assign: bool,
    },
    /// An operator or redirection: `;`, `&&`, `|`, `>>`, `2>&1`, `(`, …
    Op { text: String, start: usize },
}

impl Token {
    fn start(&self) -> usize {
        match self {
            Token::Word { start, .. } | Token::Op { start, .. } => *start,
        }
    }

    /// A word the shell passes on as it is.
    fn plain_word(&self) -> Option<&str> {
        match self {
            Token::Word { text, features, .. } if features.is_empty() => Some(text),
            _ => None,
        }
    }
}

#[derive(Debug)]
struct Lexed {
    tokens: Vec<Token>,
    /// The line ends in a shell comment (`# …`).
    comment: bool,
}

/// The word being read.
struct WordBuf {
    text: String,
    start: usize,
    features: Vec<String>,
}

impl WordBuf {
    fn feature(&mut self, f: String) {
        if !self.features.contains(&f) {
            self.features.push(f);
        }
    }
}

/// Splits a POSIX shell command line into words and operators, with the shell's quoting rules
/// (single quotes, double quotes, backslash), noting in each word what the shell would expand.
/// Errors are (character offset, message).
fn lex(s: &str) -> Result<Lexed, (usize, String)> {
    let chars: Vec<(usize, char)> = s.char_indices().collect();
    let n = chars.len();
    let mut tokens = Vec::new();
    let mut comment = false;
    let mut word: Option<WordBuf> = None;
    let finish = |word: &mut Option<WordBuf>, end: usize, tokens: &mut Vec<Token>| {
        if let Some(w) = word.take() {
            let raw = &s[w.start..end];
            let name_len = raw
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(raw.len());
            let assign = name_len > 0
                && !raw.starts_with(|c: char| c.is_ascii_digit())
                && raw[name_len..].starts_with('=');
            tokens.push(Token::Word {
                text: w.text,
                start: w.start,
                features: w.features,
                assign,
            });
        }
    };
    let new_word = |b: usize| WordBuf {
        text: String::new(),
        start: b,
        features: Vec::new(),
    };
    let mut i = 0;
    while i < n {
        let (b, c) = chars[i];
        match c {
            ' ' | '\t' => {
                finish(&mut word, b, &mut tokens);
                i += 1;
            }
            '#' if word.is_none() => {
                comment = true;
                break;
            }
            ';' | '&' | '|' | '<' | '>' | '(' | ')' => {
                let mut start = b;
                let mut op = String::new();
                // `2>&1`: the descriptor number belongs to the redirection.
                if matches!(c, '<' | '>') {
                    if let Some(w) = &word {
                        if s[w.start..b].bytes().all(|d| d.is_ascii_digit()) {
                            op.push_str(&w.text);
                            start = w.start;
                            word = None;
                        }
                    }
                }
                finish(&mut word, b, &mut tokens);
                while i < n && matches!(chars[i].1, ';' | '&' | '|' | '<' | '>' | '(' | ')') {
                    op.push(chars[i].1);
                    i += 1;
                }
                if op.ends_with('&') && (op.contains('>') || op.contains('<')) {
                    while i < n && (chars[i].1.is_ascii_digit() || chars[i].1 == '-') {
                        op.push(chars[i].1);
                        i += 1;
                    }
                }
                tokens.push(Token::Op { text: op, start });
            }
            '\'' => {
                let w = word.get_or_insert_with(|| new_word(b));
                let Some(end) = (i + 1..n).find(|&j| chars[j].1 == '\'') else {
                    return Err((i, "unterminated single quote `'`".into()));
                };
                w.text.extend(chars[i + 1..end].iter().map(|(_, c)| c));
                i = end + 1;
            }
            '"' => {
                let w = word.get_or_insert_with(|| new_word(b));
                let mut j = i + 1;
                loop {
                    let Some(&(_, d)) = chars.get(j) else {
                        return Err((i, "unterminated double quote `\"`".into()));
                    };
                    match d {
                        '"' => break,
                        '\\' if matches!(chars.get(j + 1), Some((_, '$' | '`' | '"' | '\\'))) => {
                            w.text.push(chars[j + 1].1);
                            j += 2;
                        }
                        '$' | '`' => {
                            w.feature(expansion(&chars, j));
                            w.text.push(d);
                            j += 1;
                        }
                        _ => {
                            w.text.push(d);
                            j += 1;
                        }
                    }
                }
                i = j + 1;
            }
            '\\' => {
                let w = word.get_or_insert_with(|| new_word(b));
                match chars.get(i + 1) {
                    Some(&(_, d)) => {
                        w.text.push(d);
                        i += 2;
                    }
                    None => {
                        w.text.push('\\');
                        i += 1;
                    }
                }
            }
            '$' | '`' if c == '`' || chars.get(i + 1).is_some_and(|(_, d)| *d == '(') => {
                // A command substitution is one piece of the word, whatever is inside it.
                let w = word.get_or_insert_with(|| new_word(b));
                w.feature(expansion(&chars, i));
                let end =
                    super::dates::substitution_end(&chars, i, |&(_, c)| c).ok_or_else(|| {
                        let what = if c == '`' { "backtick `` ` ``" } else { "`$(`" };
                        (i, format!("unterminated {what}"))
                    })?;
                w.text.extend(chars[i..=end].iter().map(|(_, c)| c));
                i = end + 1;
            }
            _ => {
                let at_start = word.is_none();
                let w = word.get_or_insert_with(|| new_word(b));
                match c {
                    '$' | '`' => w.feature(expansion(&chars, i)),
                    '*' | '?' | '[' => w.feature(format!("the file-name pattern `{c}`")),
                    '~' if at_start => w.feature("`~`".to_string()),
                    '{' | '}' => w.feature("braces `{ }`".to_string()),
                    _ => {}
                }
                w.text.push(c);
                i += 1;
            }
        }
    }
    finish(
        &mut word,
        chars.get(i).map_or(s.len(), |(b, _)| *b),
        &mut tokens,
    );
    Ok(Lexed { tokens, comment })
}

/// What a `$` or backtick at `chars[i]` expands, for the note.
fn expansion(chars: &[(usize, char)], i: usize) -> String {
    match (chars[i].1, chars.get(i + 1).map(|(_, c)| *c)) {
        ('`', _) => "backticks".into(),
        ('$', Some('(')) => "`$(…)`".into(),
        ('$', Some('{')) => "`${…}`".into(),
        _ => "`$VAR`".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<String> {
        lex(s)
            .unwrap()
            .tokens
            .into_iter()
            .map(|t| match t {
                Token::Word { text, .. } => text,
                Token::Op { text, .. } => format!("<{text}>"),
            })
            .collect()
    }

    #[test]
    fn quoting_follows_the_shell() {
        assert_eq!(
            words(r#"a 'b c' "d \"e\" \x" f\ g h'i'"j""#),
            ["a", "b c", r#"d "e" \x"#, "f g", "hij"]
        );
        assert_eq!(
            words("cmd >> /var/log/x.log 2>&1"),
            ["cmd", "<>>>", "/var/log/x.log", "<2>&1>"]
        );
        assert_eq!(
            words("a && b; c | d"),
            ["a", "<&&>", "b", "<;>", "c", "<|>", "d"]
        );
        assert_eq!(lex("echo 'oops").unwrap_err().0, 5);
        assert_eq!(lex("echo \"oops").unwrap_err().0, 5);
        assert_eq!(lex("echo $(date").unwrap_err().0, 5);
        assert_eq!(
            words(r#"a $(b "c)" 'd)' (e)) f `g h` i"#),
            ["a", r#"$(b "c)" 'd)' (e))"#, "f", "`g h`", "i"]
        );
    }

    #[test]
    fn plain_commands_become_argument_lists() {
        let b = build(
            1,
            "/usr/bin/python3 /opt/openrem_qr.py 1 1 -ct -e 'a b'",
            "/bin/sh",
        )
        .unwrap();
        assert_eq!(
            b.command,
            [
                "/usr/bin/python3",
                "/opt/openrem_qr.py",
                "1",
                "1",
                "-ct",
                "-e",
                "a b"
            ]
        );
        assert!(b.notes.is_empty());
        let b = build(
            2,
            "cd /var/dose && DJANGO=x python openrem_qr.py 1 1",
            "/bin/sh",
        )
        .unwrap();
        assert_eq!(b.workdir.as_deref(), Some("/var/dose"));
        assert_eq!(b.env, [("DJANGO".to_string(), "x".to_string())]);
        assert_eq!(b.command, ["python", "openrem_qr.py", "1", "1"]);
    }

    #[test]
    fn shell_features_keep_the_shell() {
        for (cmd, feature) in [
            ("q.py > log", "`>`"),
            ("q.py $(date)", "`$(…)`"),
            ("q.py `date`", "backticks"),
            (
                "q.py $(date -d \"1 hour ago\" '+(x)')",
                "uses `$(…)`, which",
            ),
            ("q.py \"$HOME\"", "`$VAR`"),
            ("q.py *.log", "pattern `*`"),
            ("q.py; rm x", "`;`"),
            ("if true; then q.py; fi", "shell word `if`"),
            ("q.py # nightly", "comment"),
        ] {
            let b = build(3, cmd, "/bin/bash").unwrap();
            assert_eq!(b.command, ["/bin/bash", "-c", cmd], "{cmd}");
            assert!(b.notes[0].contains(feature), "{cmd}: {:?}", b.notes);
        }
        // The rest after `cd DIR &&` is what the shell runs.
        let b = build(4, "cd /d && q.py >> l 2>&1", "/bin/sh").unwrap();
        assert_eq!(b.workdir.as_deref(), Some("/d"));
        assert_eq!(b.command, ["/bin/sh", "-c", "q.py >> l 2>&1"]);
    }

    #[test]
    fn percent_is_cron_stdin_unless_escaped() {
        let b = build(5, r"q.py -sd $(stamp +\%F)", "/bin/sh").unwrap();
        assert_eq!(b.command[2], "q.py -sd $(stamp +%F)");
        // `date` with `\%`, as a crontab must write it, is a date placeholder.
        let b = build(5, r"q.py -sd $(date +\%F) '{x}'", "/bin/sh").unwrap();
        let args: Vec<String> = b.command.iter().map(|a| dates::to_template(a)).collect();
        assert_eq!(args, ["q.py", "-sd", "{date}", "{{x}}"]);
        let b = build(6, "q.py 1 1%hello%world", "/bin/sh").unwrap();
        assert_eq!(b.command, ["q.py", "1", "1"]);
        assert!(b.notes[0].contains("hello%world"), "{:?}", b.notes);
        // An error column points into the original text.
        assert_eq!(build(7, r"a \% 'b", "/bin/sh").unwrap_err().0, 5);
    }

    #[test]
    fn env_settings() {
        assert_eq!(
            env_setting("MAILTO = \"a@b\""),
            Some(("MAILTO".into(), "a@b".into(), 9))
        );
        assert_eq!(
            env_setting("PATH=/bin"),
            Some(("PATH".into(), "/bin".into(), 5))
        );
        assert_eq!(env_setting("hello world"), None);
    }
}
