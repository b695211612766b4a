//! Importing PACS query times from where admins keep them today into the schedule file's
//! `queries:`, so that the times are typed once.
//!
//! Owns: reading a crontab (`crontab.rs`: user or /etc/cron.d format) or a Windows Task
//! Scheduler export (`schtasks.rs`: `schtasks /Query /XML`, Task Scheduler 2.0 schema) into
//! `Imported` — the queries, what was left out and why, and notes on what changes meaning —
//! with the date wrappers of their commands (`$(date -d yesterday +%F)`, PowerShell's
//! `(get-date).AddDays(-1)`) turned into placeholders where recognised (`dates.rs`),
//! and rendering that as a schedule file (`to_yaml`). Pure: text in, values out; no files, no
//! clock (today's date, when wanted, comes in `Options`).
//!
//! Decisions:
//! - Malformed input fails the whole import: every problem is collected (with its line and
//!   column) and returned as `ImportError`, and nothing is imported. Cron refuses to install a
//!   crontab with an error too, and a half import would be mistaken for a complete one.
//! - Nothing is dropped silently: every line or trigger that does not become a query is listed
//!   in `skipped` with the reason, and every change of meaning (a shell command kept as
//!   `sh -c`, a zone, a repetition expanded) is in `notes`.
//! - One schedule has one time zone: entries in another zone than the majority are skipped, with
//!   the reason.

mod crontab;
mod dates;
mod schtasks;

pub use crontab::import_crontab;
pub use schtasks::{decode_xml_bytes, import_schtasks};

use crate::core::diagnostic::Problems;
use crate::core::text::escape;
use chrono::NaiveDate;
use std::collections::HashSet;
use std::fmt;
use std::path::Path;

/// What to import and how to read the input.
#[derive(Debug, Clone)]
pub struct Options {
    /// An entry is a query when its command contains this text (ASCII case ignored).
    pub match_text: String,
    /// Crontab format: `Some(true)` for a system crontab (/etc/crontab, /etc/cron.d: a user name
    /// follows the time fields), `Some(false)` for a user crontab (`crontab -e`), `None` to
    /// decide from the file (it is a system crontab when every job has a user-name-like word
    /// after the time fields and something after that); the decision is in the notes.
    pub system: Option<bool>,
    /// Today's date, when known: a Task Scheduler trigger that starts later is mentioned.
    pub today: Option<NaiveDate>,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            match_text: "openrem_qr.py".into(),
            system: None,
            today: None,
        }
    }
}

/// The result of an import.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Imported {
    /// The queries found, in source order; names are unique, non-empty, `[a-z0-9-]`.
    pub queries: Vec<ImportedQuery>,
    /// Entries that are not imported, with the reason.
    pub skipped: Vec<Skipped>,
    /// Everything else a person should know: changed meaning, assumptions, other actions.
    pub notes: Vec<String>,
}

/// One query found in the source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportedQuery {
    pub name: String,
    /// A cron expression with crontab(5) meaning as in `crate::core::cron`: 5 fields, or 6 with
    /// seconds first when a Task Scheduler start time has seconds.
    pub cron: String,
    /// The query's command as an argument list (run directly, never through a shell; a command
    /// that needs a shell is `[SHELL, -c, TEXT]`), in the schedule's template text: literal
    /// braces doubled, recognised dates as placeholders (`{date-1d}`). So are `env`'s values.
    pub command: Vec<String>,
    pub workdir: Option<String>,
    pub env: Vec<(String, String)>,
    /// The IANA zone the times are in; `None`: the machine's zone.
    pub timezone: Option<String>,
    /// The line of the source it came from (a crontab line; a trigger of an XML export).
    pub source_line: usize,
}

/// An entry of the source that is not imported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    pub line: usize,
    /// The entry: a crontab line, or a trigger or task described.
    pub what: String,
    pub reason: String,
}

/// One thing wrong with the input: an error at a line and column, without a field (the
/// diagnostic `check` reports too, shown the same way).
pub type ImportProblem = crate::core::diagnostic::Diagnostic;

/// Why nothing was imported.
///
/// Its `Display` shows each problem as `LINE:COL: message`, one per line; `display_with` puts
/// the file's name in front (both through `diagnostic::Problems`, as `check`'s are: the first
/// 100, then a count).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImportError {
    /// The input is malformed; every problem found, in file order.
    #[error("{}", self.lines())]
    Malformed(Vec<ImportProblem>),
    /// The bytes are not text in an encoding a Task Scheduler export uses.
    #[error("{}", self.lines())]
    Decode(ImportProblem),
}

impl ImportError {
    pub fn problems(&self) -> &[ImportProblem] {
        match self {
            ImportError::Malformed(p) => p,
            ImportError::Decode(p) => std::slice::from_ref(p),
        }
    }

    fn lines(&self) -> Problems<'_> {
        Problems {
            path: None,
            problems: self.problems(),
        }
    }

    /// Shows every problem as `FILE:LINE:COL: message`, one per line (the same shape as
    /// `check`'s messages).
    pub fn display_with<'a>(&'a self, path: &'a Path) -> impl fmt::Display + 'a {
        Problems {
            path: Some(path),
            problems: self.problems(),
        }
    }
}

/// Whether `text` contains `needle`, ignoring ASCII case (Windows paths ignore case; on Linux a
/// differently cased script name is still worth importing and reviewing).
fn mentions(text: &str, needle: &str) -> bool {
    !needle.is_empty()
        && text
            .to_ascii_lowercase()
            .contains(&needle.to_ascii_lowercase())
}

/// openrem_qr.py's modality flags, in the order they are named.
const MODALITY_FLAGS: &[&str] = &["ct", "mg", "fl", "dx", "nm", "sr"];
/// openrem_qr.py's options that take a value (their value is not the remote's id).
const VALUE_OPTIONS: &[&str] = &[
    "-f",
    "--dfrom",
    "-t",
    "--duntil",
    "-sd",
    "--single_date",
    "-tf",
    "--tfrom",
    "-tt",
    "--tuntil",
    "-e",
    "--desc_exclude",
    "-i",
    "--desc_include",
    "-sne",
    "--stationname_exclude",
    "-sni",
    "--stationname_include",
];

/// A query name from the words of its command: the openrem_qr.py modalities (`ct`, `dx-fl`),
/// else `qr<remote id>`, else `None`.
fn name_from_words(words: &[String], match_text: &str) -> Option<String> {
    let at = words.iter().position(|w| mentions(w, match_text))?;
    let mut mods: Vec<&str> = Vec::new();
    let mut remote = None;
    let mut skip_value = false;
    for w in &words[at + 1..] {
        if skip_value {
            skip_value = false;
            continue;
        }
        let lower = w.to_ascii_lowercase();
        if let Some(m) = lower
            .strip_prefix('-')
            .and_then(|f| MODALITY_FLAGS.iter().find(|m| **m == f))
        {
            if !mods.contains(m) {
                mods.push(m);
            }
        } else if VALUE_OPTIONS.contains(&lower.as_str()) {
            skip_value = true;
        } else if remote.is_none() && !w.is_empty() && w.bytes().all(|b| b.is_ascii_digit()) {
            remote = Some(w.clone());
        }
    }
    if !mods.is_empty() {
        Some(mods.join("-"))
    } else {
        remote.map(|r| format!("qr{r}"))
    }
}

/// `text` as a query name: lower case, runs of other characters as one `-`, no `-` at the ends.
fn sanitize_name(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        let c = c.to_ascii_lowercase();
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            out.push(c);
        } else if !out.is_empty() && !out.ends_with('-') {
            out.push('-');
        }
    }
    while out.ends_with('-') {
        out.pop();
    }
    out
}

/// Gives out unique names: a taken name gets `-2`, `-3`, … appended.
#[derive(Default)]
struct Names {
    taken: HashSet<String>,
}

impl Names {
    fn unique(&mut self, wanted: &str, fallback: &str) -> String {
        let mut base = sanitize_name(wanted);
        if base.is_empty() {
            base = sanitize_name(fallback);
        }
        let mut name = base.clone();
        let mut n = 2;
        while self.taken.contains(&name) {
            name = format!("{base}-{n}");
            n += 1;
        }
        self.taken.insert(name.clone());
        name
    }
}

/// A zone for messages: its name, or the machine's.
fn zone_label(zone: &Option<String>) -> String {
    match zone {
        Some(z) => z.clone(),
        None => "this machine's zone".into(),
    }
}

/// One schedule has one zone: the zone most entries use (the first one's on a tie). Returns it.
fn majority_zone<'a>(zones: impl Iterator<Item = &'a Option<String>>) -> Option<Option<String>> {
    let mut counts: Vec<(&Option<String>, usize)> = Vec::new();
    for z in zones {
        match counts.iter_mut().find(|(c, _)| *c == z) {
            Some((_, n)) => *n += 1,
            None => counts.push((z, 1)),
        }
    }
    let best = counts.iter().map(|(_, n)| *n).max()?;
    counts
        .iter()
        .find(|(_, n)| *n == best)
        .map(|(z, _)| (*z).clone())
}

/// A one-line text for a comment: line breaks and tabs become spaces, other control and
/// invisible characters escapes (`crate::core::text::escape`).
fn one_line(text: &str) -> String {
    escape(&text.replace(['\r', '\n', '\t'], " ")).into_owned()
}

/// `text` as a YAML scalar: plain when that is unambiguous, else single-quoted, else
/// double-quoted with JSON escapes (JSON strings are YAML double-quoted scalars).
fn yaml_str(text: &str) -> String {
    let mut chars = text.chars();
    let starts_well = match (chars.next(), chars.next()) {
        // `-ct`, `--timeout=10`: a dash starts a plain scalar when no space follows it.
        (Some('-'), Some(c)) => c.is_ascii_alphanumeric() || c == '-',
        (Some(c), _) => c.is_ascii_alphabetic() || matches!(c, '/' | '_' | '.'),
        (None, _) => false,
    };
    // Words YAML reads as null or booleans are quoted, so that they stay text to any reader.
    let special = matches!(
        text.to_ascii_lowercase().as_str(),
        "null" | "true" | "false" | "yes" | "no" | "on" | "off" | "y" | "n"
    );
    let plain = starts_well
        && !special
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '/' | '_' | '.' | '-' | '+' | '='));
    if plain {
        text.to_string()
    } else if !text.contains('\'') && !text.chars().any(crate::core::text::needs_escape) {
        format!("'{text}'")
    } else {
        // JSON escapes control characters; bidi and other invisible ones are escaped too, so
        // that printing the schedule cannot reorder or hide what a person reads.
        let json = serde_json::to_string(text).expect("a string serializes");
        let mut out = String::with_capacity(json.len());
        for c in json.chars() {
            match c as u32 {
                _ if !crate::core::text::needs_escape(c) => out.push(c),
                n if n <= 0xffff => out.push_str(&format!("\\u{n:04x}")),
                n => out.push_str(&format!("\\U{n:08x}")),
            }
        }
        out
    }
}

/// Appends `text` as `#` comment lines indented by `indent`, wrapped at about 100 columns;
/// continuation lines are indented by `hang` more spaces.
fn comment(out: &mut String, indent: &str, first: &str, hang: usize, text: &str) {
    const WIDTH: usize = 100;
    let text = one_line(text);
    let mut line = format!("{indent}# {first}");
    let mut fresh = true;
    for word in text.split(' ').filter(|w| !w.is_empty()) {
        if !fresh && line.chars().count() + 1 + word.chars().count() > WIDTH {
            out.push_str(line.trim_end());
            out.push('\n');
            line = format!("{indent}# {}", " ".repeat(first.chars().count() + hang));
            fresh = true;
        }
        if !fresh {
            line.push(' ');
        }
        line.push_str(word);
        fresh = false;
    }
    out.push_str(line.trim_end());
    out.push('\n');
}

/// Renders the import as a schedule file: a comment block (the source, what was not imported
/// and why, the notes), `timezone:` when the source named one (else the machine's zone applies),
/// and `queries:`, each with the `command:` (and `workdir:`, `env:`) that ran it, so that
/// pacs-warden runs the query itself; the header says to remove the old entries, or the queries
/// would run twice.
///
/// With no queries the result still has `queries: []`, which `check` rejects: a schedule needs
/// at least one query. Callers should say so (the notes tell why) rather than write the file.
pub fn to_yaml(imported: &Imported, source: &str) -> String {
    let mut out = String::new();
    comment(
        &mut out,
        "",
        "",
        0,
        &format!("Queries imported from {source} by `pacs-warden import`."),
    );
    comment(
        &mut out,
        "",
        "",
        0,
        "Check them with `pacs-warden check`, then add the `workers:` section (README, \"The \
         worker section\").",
    );
    if !imported.queries.is_empty() {
        comment(
            &mut out,
            "",
            "",
            0,
            "Each query carries the command that ran it, so pacs-warden runs the query itself at \
             its time, after restarting the worker: once this schedule is in use, remove the \
             imported entries from where they ran before (the crontab lines, the task's \
             triggers), or every query runs twice. To leave running them to cron or Task \
             Scheduler instead, delete the `command:`, `workdir:` and `env:` lines.",
        );
    }
    if !imported.skipped.is_empty() {
        out.push_str("#\n# Not imported:\n");
        for s in &imported.skipped {
            comment(
                &mut out,
                "",
                &format!("  line {}: ", s.line),
                0,
                &format!("{} — {}", s.what, s.reason),
            );
        }
    }
    if !imported.notes.is_empty() {
        out.push_str("#\n# Notes:\n");
        for n in &imported.notes {
            comment(&mut out, "", "  - ", 0, n);
        }
    }
    if let Some(zone) = imported.queries.iter().find_map(|q| q.timezone.as_ref()) {
        out.push_str(&format!("timezone: {}\n", yaml_str(zone)));
    }
    if imported.queries.is_empty() {
        out.push_str("queries: []   # nothing to import; see the notes above\n");
        return out;
    }
    out.push_str("queries:\n");
    for q in &imported.queries {
        out.push_str(&format!("  - name: {}\n", yaml_str(&q.name)));
        out.push_str(&format!("    cron: \"{}\"\n", q.cron));
        out.push_str(&format!("    # from line {}\n", q.source_line));
        let args: Vec<String> = q.command.iter().map(|a| yaml_str(a)).collect();
        out.push_str(&format!("    command: [{}]\n", args.join(", ")));
        if let Some(w) = &q.workdir {
            out.push_str(&format!("    workdir: {}\n", yaml_str(w)));
        }
        if !q.env.is_empty() {
            let pairs: Vec<String> = q
                .env
                .iter()
                .map(|(k, v)| format!("{}: {}", yaml_str(k), yaml_str(v)))
                .collect();
            out.push_str(&format!("    env: {{{}}}\n", pairs.join(", ")));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_come_from_the_modalities_or_the_remote() {
        let w = |s: &str| s.split(' ').map(String::from).collect::<Vec<_>>();
        assert_eq!(
            name_from_words(&w("python /x/openrem_qr.py 1 1 -ct -dx"), "openrem_qr.py"),
            Some("ct-dx".into())
        );
        assert_eq!(
            name_from_words(&w("/x/OpenREM_QR.py -e 7 2 1"), "openrem_qr.py"),
            Some("qr2".into())
        );
        assert_eq!(
            name_from_words(&w("python other.py -ct"), "openrem_qr.py"),
            None
        );
        let mut names = Names::default();
        assert_eq!(names.unique("ct", "q-1"), "ct");
        assert_eq!(names.unique("CT", "q-1"), "ct-2");
        assert_eq!(names.unique("", "query 7"), "query-7");
        assert_eq!(names.unique("--Night Shift!--", "x"), "night-shift");
    }

    #[test]
    fn yaml_scalars_round_trip() {
        assert_eq!(yaml_str("/usr/bin/python3"), "/usr/bin/python3");
        assert_eq!(yaml_str("-ct"), "-ct");
        assert_eq!(yaml_str("- x"), "'- x'");
        assert_eq!(yaml_str("null"), "'null'");
        assert_eq!(yaml_str("1"), "'1'");
        assert_eq!(yaml_str(r"C:\Python\python.exe"), r"'C:\Python\python.exe'");
        assert_eq!(yaml_str("it's"), r#""it's""#);
        assert_eq!(yaml_str("a\u{1b}[31m\u{202e}b"), r#""a\u001b[31m\u202eb""#);
        assert_eq!(yaml_str("tag\u{e0041}"), r#""tag\U000e0041""#);
    }
}
