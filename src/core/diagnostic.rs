//! What is wrong, or doubtful, in a file a person wrote, and the one way it is shown.
//!
//! Owns: `Diagnostic` (line, column, field, message, severity), the one-line form every
//! command prints — `FILE:LINE:COL: field: message`, `FILE:LINE:COL: field: warning: message`
//! for a warning, without `field: ` where there is none (an import's input) — and `Problems`,
//! a list of them capped at `SHOWN_PROBLEMS`. `check`, the daemon's reload and `import` all
//! print through here; scripts read these lines, so their form does not change. Text from the
//! file (a key, a value) is escaped, so that no line is split and none drives the terminal
//! (`crate::core::text::escape`). Does not own what the problems are: `config`, `import`.

use crate::core::text::escape;
use std::fmt;
use std::path::Path;

/// How bad a diagnostic is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    /// The file is refused.
    Error,
    /// Doubtful but valid: shown, and the file is used.
    Warning,
}

/// One thing wrong or doubtful in a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// 1-based.
    pub line: usize,
    /// 1-based, in characters.
    pub col: usize,
    /// Where in the file's structure (`queries[1].cron`, `lead`); `None` where the input has
    /// no structure worth naming (a crontab line).
    pub field: Option<String>,
    /// What is wrong, without the `warning: ` a warning is shown with.
    pub message: String,
    pub severity: Severity,
}

impl Diagnostic {
    pub fn error(line: usize, col: usize, field: Option<&str>, message: String) -> Diagnostic {
        Diagnostic {
            line,
            col,
            field: field.map(str::to_string),
            message,
            severity: Severity::Error,
        }
    }

    pub fn warning(line: usize, col: usize, field: Option<&str>, message: String) -> Diagnostic {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::error(line, col, field, message)
        }
    }

    /// This diagnostic as one line: `FILE:LINE:COL: field: [warning: ]message`, without
    /// `FILE:` when `path` is `None` and without `field: ` when it has none.
    pub fn display<'a>(&'a self, path: Option<&'a Path>) -> impl fmt::Display + 'a {
        Line { path, d: self }
    }
}

struct Line<'a> {
    path: Option<&'a Path>,
    d: &'a Diagnostic,
}

impl fmt::Display for Line<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = self.d;
        if let Some(path) = self.path {
            write!(f, "{}:", escape(&path.display().to_string()))?;
        }
        write!(f, "{}:{}: ", d.line, d.col)?;
        if let Some(field) = &d.field {
            write!(f, "{}: ", escape(field))?;
        }
        if d.severity == Severity::Warning {
            f.write_str("warning: ")?;
        }
        write!(f, "{}", escape(&d.message))
    }
}

/// At most this many problems are shown; a count stands for the rest.
pub const SHOWN_PROBLEMS: usize = 100;

/// Formats diagnostics one per line (`Diagnostic::display`), the first `SHOWN_PROBLEMS` of
/// them, then `FILE: and N more problems`. Without a path (`import`'s problems shown before
/// the caller names the file), `LINE:COL: message` and `and N more problems`.
pub struct Problems<'a> {
    pub path: Option<&'a Path>,
    pub problems: &'a [Diagnostic],
}

impl fmt::Display for Problems<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.problems.iter().take(SHOWN_PROBLEMS).enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{}", p.display(self.path))?;
        }
        let rest = self.problems.len().saturating_sub(SHOWN_PROBLEMS);
        if rest > 0 {
            f.write_str("\n")?;
            if let Some(path) = self.path {
                write!(f, "{}: ", escape(&path.display().to_string()))?;
            }
            let noun = if rest == 1 { "problem" } else { "problems" };
            write!(f, "and {rest} more {noun}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_each_with_or_without_path_field_and_warning() {
        let path = Path::new("dir/s.yaml");
        let e = Diagnostic::error(3, 7, Some("queries[0].cron"), "`x`: bad".into());
        let w = Diagnostic::warning(4, 1, Some("lead"), "doubtful".into());
        let bare = Diagnostic::error(9, 2, None, "not a cron line".into());
        assert_eq!(
            e.display(Some(path)).to_string(),
            "dir/s.yaml:3:7: queries[0].cron: `x`: bad"
        );
        assert_eq!(
            w.display(Some(path)).to_string(),
            "dir/s.yaml:4:1: lead: warning: doubtful"
        );
        assert_eq!(bare.display(None).to_string(), "9:2: not a cron line");
        // An empty key is still a field.
        let empty = Diagnostic::error(1, 1, Some(""), "unknown key ``".into());
        assert_eq!(empty.display(None).to_string(), "1:1: : unknown key ``");
    }

    #[test]
    fn file_text_is_escaped_and_long_lists_are_cut() {
        let odd = Diagnostic::error(1, 1, Some("a\nb"), "x\u{1b}[31m".into());
        let shown = odd.display(Some(Path::new("f"))).to_string();
        assert_eq!(shown.lines().count(), 1, "{shown}");
        assert!(!shown.contains('\u{1b}'), "{shown}");
        let many: Vec<Diagnostic> = (1..=SHOWN_PROBLEMS + 2)
            .map(|i| Diagnostic::error(i, 1, Some("f"), "m".into()))
            .collect();
        let text = Problems {
            path: Some(Path::new("s")),
            problems: &many,
        }
        .to_string();
        assert_eq!(text.lines().count(), SHOWN_PROBLEMS + 1);
        assert!(text.ends_with("\ns: and 2 more problems"), "{text}");
    }
}
