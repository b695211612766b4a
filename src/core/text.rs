//! Showing text that came from a file or a process (a key of the schedule file, a crontab line,
//! a command's output) inside a message, safely.
//!
//! Owns: `escape`, used by `check`'s and `import`'s messages and by the daemon's log lines that
//! carry such text. A line break, an escape sequence (ESC `[31m`) or a bidi override (U+202E)
//! inside that text must not split a message over two lines, drive the terminal or reorder what
//! a person reads. Pure.

use std::borrow::Cow;
use std::fmt::Write;

/// `text` with control characters, bidi controls and other invisible format characters written
/// as escapes: `\n`, `\r`, `\t`, else `\u{1b}`, `\u{202e}`, …; everything else as is (a
/// backslash too, so that Windows paths stay readable).
pub fn escape(text: &str) -> Cow<'_, str> {
    if !text.chars().any(needs_escape) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if needs_escape(c) => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// Whether `c` must not reach a terminal or a log line as is.
pub fn needs_escape(c: char) -> bool {
    c.is_control() // C0 (tab, line feed, ESC, …), DEL and C1
        || matches!(c,
            '\u{00ad}'                  // soft hyphen
            | '\u{0600}'..='\u{0605}'   // Arabic number signs
            | '\u{061c}'                // Arabic letter mark
            | '\u{06dd}' | '\u{070f}' | '\u{0890}' | '\u{0891}' | '\u{08e2}'
            | '\u{115f}' | '\u{1160}' | '\u{3164}' | '\u{ffa0}' // Hangul fillers (blank)
            | '\u{180e}'                // Mongolian vowel separator
            | '\u{200b}'..='\u{200f}'   // zero-width space/joiners, LRM, RLM
            | '\u{2028}' | '\u{2029}'   // line and paragraph separators
            | '\u{202a}'..='\u{202e}'   // bidi embeddings and overrides
            | '\u{2060}'..='\u{206f}'   // word joiner, invisible operators, bidi isolates, …
            | '\u{feff}'                // byte-order mark, zero-width no-break space
            | '\u{fff9}'..='\u{fffb}'   // interlinear annotation
            | '\u{110bd}' | '\u{110cd}'
            | '\u{13430}'..='\u{1343f}'
            | '\u{1bca0}'..='\u{1bca3}'
            | '\u{1d173}'..='\u{1d17a}'
            | '\u{e0000}'..='\u{e007f}' // tag characters
        )
}

#[cfg(test)]
mod tests {
    use super::escape;

    #[test]
    fn plain_text_is_unchanged_and_not_copied() {
        for s in [
            "timezone",
            r"C:\Program Files\x.exe",
            "Zürich – 07:00 …",
            "",
        ] {
            assert!(matches!(escape(s), std::borrow::Cow::Borrowed(t) if t == s));
        }
    }

    #[test]
    fn controls_bidi_and_invisible_characters_become_escapes() {
        let cases = [
            ("time\nzone", r"time\nzone"),
            ("a\r\n\tb", r"a\r\n\tb"),
            ("\u{1b}[31mred", r"\u{1b}[31mred"),
            ("\u{7f}\u{85}\u{9b}", r"\u{7f}\u{85}\u{9b}"),
            ("\u{202e}evil", r"\u{202e}evil"),
            (
                "\u{202a}\u{202b}\u{202c}\u{202d}",
                r"\u{202a}\u{202b}\u{202c}\u{202d}",
            ),
            ("\u{2066}x\u{2069}", r"\u{2066}x\u{2069}"),
            (
                "\u{200b}\u{200f}\u{feff}\u{2028}",
                r"\u{200b}\u{200f}\u{feff}\u{2028}",
            ),
            ("tag\u{e0041}", r"tag\u{e0041}"),
        ];
        for (raw, shown) in cases {
            assert_eq!(escape(raw), shown, "{raw:?}");
            assert!(!escape(raw).chars().any(|c| c.is_control()));
        }
    }
}
