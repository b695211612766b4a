//! The date wrappers of query commands, recognised and turned into placeholders (`{date-1d}`,
//! `crate::core::template`), so that the imported query asks for the right day without its
//! wrapper script.
//!
//! Owns: reading GNU `date [-d WHEN] +FORMAT` (the text inside `$(…)` or backticks of a crontab
//! command) and PowerShell's `(Get-Date).AddDays(-1)` formatted with a .NET format
//! (`"{0:yyyy-MM-dd}" -f …`, `.ToString('yyyy-MM-dd')`, `Get-Date -Format …`), including a
//! `-Command` text that stores one in a variable first (`$d = …; python openrem_qr.py … -f $d`).
//! What is not recognised is left as it was and named, by the callers' notes; so is a script
//! the command runs (`powershell -File wrapper.ps1`, a `.bat`, a `.sh`: `script_note`), whose
//! dates cannot be read from here. Pure.

use crate::core::template::Template;

/// Marks where a placeholder starts and ends in text still to be escaped (`to_template`):
/// characters of the Unicode private-use area, never typed in a command (an input that holds
/// them is not rewritten).
pub(super) const OPEN: char = '\u{E000}';
pub(super) const CLOSE: char = '\u{E001}';

/// `text`, with literal braces escaped (`{{`, `}}`) and marked placeholders made real: the text
/// of a query's argument or environment value.
pub(super) fn to_template(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '{' => out.push_str("{{"),
            '}' => out.push_str("}}"),
            OPEN => out.push('{'),
            CLOSE => out.push('}'),
            c => out.push(c),
        }
    }
    out
}

/// Whether `word` names a script whose dates the importer cannot see: a file ending in one of
/// `extensions` (case-insensitive), quotes around it ignored.
pub(super) fn is_script(word: &str, extensions: &[&str]) -> bool {
    let w = word.trim_matches(['"', '\'']).to_ascii_lowercase();
    extensions
        .iter()
        .any(|e| w.len() > e.len() && w.ends_with(e))
}

/// The note for a query whose command runs the script `script`: any date it computes for
/// OpenREM's query (OpenREM's documented wrappers compute yesterday's) is out of sight, so the
/// admin copies the query's line into `command:` with placeholders. `at` starts the note
/// (`line 4`, `task …: action 1`).
pub(super) fn script_note(at: &str, script: &str) -> String {
    format!(
        "{at} runs the script `{script}`: the dates it computes (such as yesterday's) cannot be \
         seen from here; copy its openrem_qr.py line into the query's `command:`, with \
         placeholders such as {{date-1d}} for its dates (README, \"Dates in query commands\"), \
         so that pacs-warden fills them in from each run's planned time"
    )
}

/// `text` with literal braces escaped (`{{`, `}}`), for text that holds no placeholder marks of
/// ours (a private-use character in it stays what it is).
pub(super) fn escape_braces(text: &str) -> String {
    text.replace('{', "{{").replace('}', "}}")
}

/// Whether `text` holds a placeholder mark (so `rewrite` must not run on it).
pub(super) fn has_marks(text: &str) -> bool {
    text.contains([OPEN, CLOSE])
}

/// A placeholder, marked: `name`, the offset (`amount` of `unit`, `d`/`h`/`m`) and the chrono
/// format, `{date}` and `{time}` written without a format when they have their own.
fn placeholder(amount: i64, unit: char, format: &str) -> Option<String> {
    let offset = if amount == 0 {
        String::new()
    } else {
        format!("{amount:+}{unit}")
    };
    let inner = match format {
        "%Y-%m-%d" | "%F" => format!("date{offset}"),
        "%H:%M" | "%R" => format!("time{offset}"),
        f => format!("date{offset}:{f}"),
    };
    // The template language has the last word on what it accepts.
    Template::parse(&format!("{{{inner}}}")).ok()?;
    Some(format!("{OPEN}{inner}{CLOSE}"))
}

/// GNU `date` conversions whose meaning chrono shares.
const GNU_CONVERSIONS: &str = "YmdHMSFTRyjbBaAeIpZzsuwDCGgVhkl%";

/// A GNU date `+FORMAT` that chrono formats the same way; `spaces`: whether its output may
/// hold spaces (it is quoted).
fn gnu_format(format: &str, spaces: bool) -> Option<&str> {
    let mut chars = format.chars();
    while let Some(c) = chars.next() {
        match c {
            '%' => {
                let mut d = chars.next()?;
                if d == '-' {
                    d = chars.next()?;
                }
                if !GNU_CONVERSIONS.contains(d) {
                    return None;
                }
            }
            ' ' if spaces => {}
            c if c.is_ascii_alphanumeric() || "-:/._,T".contains(c) => {}
            _ => return None,
        }
    }
    (!format.is_empty()).then_some(format)
}

/// GNU date's `-d` text as (amount, unit): `yesterday`, `tomorrow`, `today`, `now`,
/// `N days ago`, `-N hours`, `+30 minutes`, `1 week ago`.
fn gnu_when(text: &str) -> Option<(i64, char)> {
    let lower = text.trim().to_ascii_lowercase();
    let words: Vec<&str> = lower.split_whitespace().collect();
    match words.as_slice() {
        ["now"] | ["today"] => return Some((0, 'd')),
        ["yesterday"] => return Some((-1, 'd')),
        ["tomorrow"] => return Some((1, 'd')),
        _ => {}
    }
    let (number, unit, ago) = match words.as_slice() {
        [n, unit, "ago"] => (*n, *unit, true),
        [n, unit] => (*n, *unit, false),
        _ => return None,
    };
    let signed = number.strip_prefix('+').unwrap_or(number);
    if ago && signed.starts_with('-') {
        return None;
    }
    let n: i64 = signed.parse().ok()?;
    let (factor, unit) = match unit.trim_end_matches('s') {
        "day" => (1, 'd'),
        "week" => (7, 'd'),
        "hour" => (1, 'h'),
        "minute" | "min" => (1, 'm'),
        _ => return None,
    };
    let n = n.checked_mul(factor)?;
    Some((if ago { -n } else { n }, unit))
}

/// The placeholder for the GNU `date` command `inner` (the text of a `$(…)` or backticks),
/// marked; `quoted`: the substitution is in double quotes (its output is not split into words).
pub(super) fn gnu_date(inner: &str, quoted: bool) -> Option<String> {
    let words = shell_words(inner)?;
    let (program, rest) = words.split_first()?;
    if program != "date" && program != "/bin/date" && program != "/usr/bin/date" {
        return None;
    }
    let mut when = (0, 'd');
    let mut format = None;
    let mut rest = rest.iter();
    while let Some(w) = rest.next() {
        if let Some(f) = w.strip_prefix('+') {
            format = Some(gnu_format(f, quoted)?);
        } else if w == "-d" || w == "--date" {
            when = gnu_when(rest.next()?)?;
        } else if let Some(t) = w.strip_prefix("--date=").or_else(|| w.strip_prefix("-d")) {
            when = gnu_when(t)?;
        } else {
            // `-u`, `-I`, `-R`, a reference file: not what a placeholder means.
            return None;
        }
    }
    placeholder(when.0, when.1, format?)
}

/// The words of a simple shell command (quotes removed); `None` when it needs more of the
/// shell than quotes.
fn shell_words(text: &str) -> Option<Vec<String>> {
    let mut words = Vec::new();
    let mut cur: Option<String> = None;
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' => {
                if let Some(w) = cur.take() {
                    words.push(w);
                }
            }
            '\'' => {
                let w = cur.get_or_insert_with(String::new);
                loop {
                    match chars.next()? {
                        '\'' => break,
                        c => w.push(c),
                    }
                }
            }
            '"' => {
                let w = cur.get_or_insert_with(String::new);
                loop {
                    match chars.next()? {
                        '"' => break,
                        '$' | '`' | '\\' => return None,
                        c => w.push(c),
                    }
                }
            }
            '\\' => cur.get_or_insert_with(String::new).push(chars.next()?),
            c if "$`;&|<>()*?[]~{}#".contains(c) => return None,
            c => cur.get_or_insert_with(String::new).push(c),
        }
    }
    words.extend(cur);
    Some(words)
}

/// A substitution found in a shell command: its text (`$(…)` or backticks) and its
/// placeholder, if recognised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Found {
    pub text: String,
    pub placeholder: Option<String>,
}

/// The shell command `text` with the recognised date substitutions replaced by marked
/// placeholders, and every date substitution met (recognised or not). Single quotes hide what
/// they quote; a substitution that is not a `date` command is left alone and not listed.
pub(super) fn rewrite_shell(text: &str) -> (String, Vec<Found>) {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut found = Vec::new();
    let mut i = 0;
    let mut double = false;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '\'' if !double => {
                let end = (i + 1..chars.len()).find(|&j| chars[j] == '\'');
                let end = end.unwrap_or(chars.len() - 1);
                out.extend(&chars[i..=end]);
                i = end + 1;
            }
            '\\' => {
                out.extend(chars.get(i..(i + 2).min(chars.len())).unwrap_or_default());
                i += 2;
            }
            '"' => {
                double = !double;
                out.push(c);
                i += 1;
            }
            '$' | '`' if c == '`' || chars.get(i + 1) == Some(&'(') => {
                let start = if c == '`' { i + 1 } else { i + 2 };
                let Some(end) = substitution_end(&chars, i, |&c| c) else {
                    out.extend(&chars[i..]);
                    break;
                };
                let whole: String = chars[i..=end].iter().collect();
                let inner: String = chars[start..end].iter().collect();
                let is_date = inner.trim_start().starts_with("date ")
                    || inner.trim_start().starts_with("/bin/date ")
                    || inner.trim_start().starts_with("/usr/bin/date ");
                let placeholder = if is_date {
                    gnu_date(&inner, double)
                } else {
                    None
                };
                match &placeholder {
                    Some(p) => out.push_str(p),
                    None => out.push_str(&whole),
                }
                if is_date {
                    found.push(Found {
                        text: whole,
                        placeholder: placeholder.map(|p| to_template(&p)),
                    });
                }
                i = end + 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    (out, found)
}

/// The index of the character that ends the `$(…)` or `` `…` `` starting at `chars[i]`:
/// parentheses nest, quotes and backslashes hide what they quote. `char_of` reads a character
/// of `chars` (the crontab reader keeps byte offsets beside them).
pub(super) fn substitution_end<T>(
    chars: &[T],
    i: usize,
    char_of: impl Fn(&T) -> char,
) -> Option<usize> {
    let backtick = char_of(&chars[i]) == '`';
    let mut depth = 0usize;
    let mut j = if backtick { i + 1 } else { i + 2 };
    let mut quote: Option<char> = None;
    while let Some(c) = chars.get(j).map(&char_of) {
        match (quote, c) {
            (_, '\\') if quote != Some('\'') => j += 1,
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '`') if backtick => return Some(j),
            (None, '\'' | '"') if !backtick => quote = Some(c),
            (None, '(') if !backtick => depth += 1,
            (None, ')') if !backtick => {
                if depth == 0 {
                    return Some(j);
                }
                depth -= 1;
            }
            _ => {}
        }
        j += 1;
    }
    None
}

/// `s` without the ASCII-case-insensitive prefix `p`.
fn strip_ci<'a>(s: &'a str, p: &str) -> Option<&'a str> {
    (s.len() >= p.len() && s.is_char_boundary(p.len()) && s[..p.len()].eq_ignore_ascii_case(p))
        .then(|| &s[p.len()..])
}

/// `s` without one pair of enclosing `( )` or `$( )`, trimmed.
fn unwrap_parens(s: &str) -> &str {
    let s = s.trim();
    let inner = s
        .strip_prefix("$(")
        .or_else(|| s.strip_prefix('('))
        .and_then(|r| r.strip_suffix(')'));
    match inner {
        // `(a) + (b)` is not one pair.
        Some(i) if balanced(i) => unwrap_parens(i),
        _ => s,
    }
}

fn balanced(s: &str) -> bool {
    let mut depth = 0i32;
    for c in s.chars() {
        match c {
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth < 0 {
                    return false;
                }
            }
            _ => {}
        }
    }
    depth == 0
}

/// `(Get-Date)`, `Get-Date`, `[datetime]::Now`, `[datetime]::Today` (the day at midnight is
/// only recognised with a date-only format), each with one `.AddDays(N)`, `.AddHours(N)` or
/// `.AddMinutes(N)` or none: (amount, unit, rest of the text).
fn ps_base(s: &str) -> Option<(i64, char, &str)> {
    let s = s.trim_start();
    let rest = [
        "(get-date)",
        "[datetime]::now",
        "[datetime]::today",
        "get-date",
    ]
    .iter()
    .find_map(|p| strip_ci(s, p))?;
    for (method, unit) in [
        (".adddays(", 'd'),
        (".addhours(", 'h'),
        (".addminutes(", 'm'),
    ] {
        if let Some(r) = strip_ci(rest, method) {
            let (n, r) = r.split_once(')')?;
            let n: i64 = n.trim().parse().ok()?;
            return Some((n, unit, r));
        }
    }
    Some((0, 'd', rest))
}

/// A .NET custom date format as a chrono one, when it has a counterpart.
fn dotnet_format(f: &str) -> Option<String> {
    let mut out = String::new();
    let chars: Vec<char> = f.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let run = chars[i..].iter().take_while(|&&d| d == c).count();
        let piece = match (c, run) {
            ('y', 4) => "%Y",
            ('y', 2) => "%y",
            ('M', 2) => "%m",
            ('d', 2) => "%d",
            ('H', 2) => "%H",
            ('m', 2) => "%M",
            ('s', 2) => "%S",
            (c, _) if "-:_. T".contains(c) => {
                out.push(c);
                i += 1;
                continue;
            }
            _ => return None,
        };
        out.push_str(piece);
        i += run;
    }
    (!out.is_empty()).then_some(out)
}

/// A quoted PowerShell string literal at the start of `s`: (its text, the rest).
fn ps_string(s: &str) -> Option<(&str, &str)> {
    let s = s.trim_start();
    let q = s.chars().next().filter(|c| *c == '\'' || *c == '"')?;
    let end = s[1..].find(q)? + 1;
    Some((&s[1..end], &s[end + 1..]))
}

/// The placeholder for a PowerShell date expression, marked: `"{0:yyyy-MM-dd}" -f BASE`,
/// `BASE.ToString('yyyy-MM-dd')`, `Get-Date [BASE] -Format yyyy-MM-dd`, each possibly in
/// `( )` or `$( )`.
pub(super) fn powershell_date(expr: &str) -> Option<String> {
    let e = unwrap_parens(expr);
    let (amount, unit, format) = if let Some((lit, rest)) = ps_string(e) {
        // "{0:yyyy-MM-dd}" -f (Get-Date).AddDays(-1)
        let f = lit.strip_prefix("{0:")?.strip_suffix('}')?;
        let rest = strip_ci(rest.trim_start(), "-f ")?;
        let (n, u, tail) = ps_base(unwrap_parens(rest))?;
        if !tail.trim().is_empty() {
            return None;
        }
        (n, u, f)
    } else if let Some(rest) = strip_ci(e, "get-date ") {
        // Get-Date -Format yyyy-MM-dd, Get-Date (Get-Date).AddDays(-1) -Format yyyy-MM-dd
        let rest = rest.trim_start();
        let (n, u, rest) = match rest.find(|c: char| c.is_whitespace()) {
            Some(_) if strip_ci(rest, "-format").is_none() => ps_base(rest)?,
            _ => (0, 'd', rest),
        };
        let rest = strip_ci(rest.trim_start(), "-format")?;
        let f = match ps_string(rest) {
            Some((f, tail)) if tail.trim().is_empty() => f,
            Some(_) => return None,
            None => rest.trim(),
        };
        (n, u, f)
    } else {
        // (Get-Date).AddDays(-1).ToString('yyyy-MM-dd')
        let (n, u, rest) = ps_base(e)?;
        let rest = strip_ci(rest, ".tostring(")?;
        let (f, tail) = ps_string(rest)?;
        if tail.trim() != ")" {
            return None;
        }
        (n, u, f)
    };
    if format.contains(['{', '}', '%']) || format.is_empty() {
        return None;
    }
    placeholder(amount, unit, &dotnet_format(format)?)
}

/// What became of a PowerShell `-Command` text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct PsCommand {
    /// The text with the recognised dates as marked placeholders.
    pub text: String,
    /// The text as an argument list, when it is one plain command (`& 'C:\…\python.exe' x.py
    /// 2 1 -f $d`) once its dates are placeholders: then PowerShell is not needed.
    pub argv: Option<Vec<String>>,
    /// The date expressions recognised, with their placeholders.
    pub recognised: Vec<(String, String)>,
    /// Expressions that look like dates (`Get-Date`, `[datetime]`) but were not recognised.
    pub unrecognised: Vec<String>,
}

/// Splits `s` at the `sep`s that are outside quotes and parentheses.
fn split_top(s: &str, sep: char) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut depth, mut quote, mut start) = (0i32, None::<char>, 0);
    for (i, c) in s.char_indices() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '\'' | '"') => quote = Some(c),
            (None, '(') => depth += 1,
            (None, ')') => depth -= 1,
            (None, c) if c == sep && depth == 0 => {
                out.push(&s[start..i]);
                start = i + c.len_utf8();
            }
            _ => {}
        }
    }
    out.push(&s[start..]);
    out
}

/// The ends of the first `$( … )` or `( … )` group in `s` from byte `from` that contains
/// `get-date` or `[datetime]`: (start, end exclusive).
fn date_group(s: &str, from: usize) -> Option<(usize, usize)> {
    let lower = s.to_ascii_lowercase();
    let at = [
        lower[from..].find("get-date"),
        lower[from..].find("[datetime]"),
    ]
    .into_iter()
    .flatten()
    .min()?
        + from;
    // The outermost group around it: walk back to the `(` that opens at depth 0.
    let bytes = s.as_bytes();
    let mut depth = 0i32;
    let mut open = None;
    for i in (from..at).rev() {
        match bytes[i] {
            b')' => depth += 1,
            b'(' if depth == 0 => open = Some(i),
            b'(' => depth -= 1,
            _ => {}
        }
    }
    let open = open?;
    let mut depth = 0i32;
    let mut close = None;
    for (i, &b) in bytes.iter().enumerate().skip(open) {
        match b {
            b'(' => depth += 1,
            b')' => {
                depth -= 1;
                if depth == 0 {
                    close = Some(i);
                    break;
                }
            }
            _ => {}
        }
    }
    let mut start = open;
    if start > 0 && bytes[start - 1] == b'$' {
        start -= 1;
    }
    // A method call on the group: `(Get-Date).AddDays(-1).ToString('…')`.
    let mut end = close? + 1;
    while s[end..].starts_with('.') {
        let Some(p) = s[end..].find('(') else { break };
        let mut d = 0;
        let mut stop = None;
        for (i, c) in s[end + p..].char_indices() {
            match c {
                '(' => d += 1,
                ')' => {
                    d -= 1;
                    if d == 0 {
                        stop = Some(end + p + i + 1);
                        break;
                    }
                }
                _ => {}
            }
        }
        end = stop?;
    }
    Some((start, end))
}

/// Reads a PowerShell `-Command` text: `$name = DATE` statements are remembered and dropped,
/// `$name` and inline date expressions become placeholders. `None` when the text has no
/// date expression at all.
pub(super) fn powershell_command(text: &str) -> Option<PsCommand> {
    let lower = text.to_ascii_lowercase();
    if (!lower.contains("get-date") && !lower.contains("[datetime]")) || has_marks(text) {
        return None;
    }
    let mut vars: Vec<(String, String)> = Vec::new();
    let mut recognised = Vec::new();
    let mut unrecognised = Vec::new();
    let mut kept: Vec<String> = Vec::new();
    for statement in split_top(text, ';') {
        let st = statement.trim();
        if let Some((lhs, rhs)) = st.split_once('=') {
            let name = lhs.trim();
            if name.starts_with('$')
                && name.len() > 1
                && name[1..]
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_')
            {
                if let Some(p) = powershell_date(rhs) {
                    recognised.push((rhs.trim().to_string(), to_template(&p)));
                    vars.push((name.to_ascii_lowercase(), p));
                    continue;
                }
            }
        }
        // Inline expressions.
        let mut s = st.to_string();
        let mut from = 0;
        while let Some((a, b)) = date_group(&s, from) {
            let expr = s[a..b].to_string();
            match powershell_date(&expr) {
                Some(p) => {
                    recognised.push((expr, to_template(&p)));
                    s.replace_range(a..b, &p);
                    from = a + p.len();
                }
                None => {
                    unrecognised.push(expr);
                    from = b;
                }
            }
        }
        kept.push(s);
    }
    // Statements left and the variables in them.
    let mut joined = kept
        .iter()
        .filter(|s| !s.is_empty())
        .cloned()
        .collect::<Vec<_>>()
        .join("; ");
    for (name, p) in &vars {
        joined = replace_var(&joined, name, p);
    }
    // A bare `Get-Date` word not in a group.
    let lower = joined.to_ascii_lowercase();
    if unrecognised.is_empty() && (lower.contains("get-date") || lower.contains("[datetime]")) {
        unrecognised.push(joined.clone());
    }
    let argv = plain_command(&joined);
    Some(PsCommand {
        text: joined,
        argv,
        recognised,
        unrecognised,
    })
}

/// `text` with the variable `name` (`$d`, any case, not part of a longer name) replaced.
fn replace_var(text: &str, name: &str, with: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(i) = rest.to_ascii_lowercase().find(name) {
        let after = &rest[i + name.len()..];
        out.push_str(&rest[..i]);
        if after.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_') {
            out.push_str(&rest[i..i + name.len()]);
        } else {
            out.push_str(with);
        }
        rest = after;
    }
    out.push_str(rest);
    out
}

/// A PowerShell statement that is one plain command — an optional `&`, then words, quoted
/// words without `$` or backtick — as an argument list.
fn plain_command(s: &str) -> Option<Vec<String>> {
    let s = s.trim();
    let s = s.strip_prefix('&').unwrap_or(s);
    let mut words = Vec::new();
    let mut chars = s.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let Some(&c) = chars.peek() else { break };
        let mut w = String::new();
        if c == '\'' || c == '"' {
            chars.next();
            loop {
                match chars.next()? {
                    q if q == c => break,
                    '$' | '`' if c == '"' => return None,
                    d => w.push(d),
                }
            }
            if chars.peek().is_some_and(|d| !d.is_whitespace()) {
                return None;
            }
        } else {
            while let Some(&d) = chars.peek() {
                if d.is_whitespace() {
                    break;
                }
                if "$`;|&<>(){}@#,'\"".contains(d) {
                    return None;
                }
                w.push(d);
                chars.next();
            }
        }
        words.push(w);
    }
    (!words.is_empty()).then_some(words)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shown(marked: Option<String>) -> Option<String> {
        marked.map(|m| to_template(&m))
    }

    #[test]
    fn gnu_date_commands() {
        let table: &[(&str, bool, Option<&str>)] = &[
            ("date -d yesterday +%F", false, Some("{date-1d}")),
            ("date -d yesterday +%Y-%m-%d", false, Some("{date-1d}")),
            (
                "date -d \"1 hour ago\" \"+%Y-%m-%d\"",
                true,
                Some("{date-1h}"),
            ),
            (
                "date --date='2 days ago' +%Y%m%d",
                false,
                Some("{date-2d:%Y%m%d}"),
            ),
            ("date --date=tomorrow +%F", false, Some("{date+1d}")),
            (
                "date -d '-30 minutes' +%H%M",
                false,
                Some("{date-30m:%H%M}"),
            ),
            ("date -d '30 min ago' +%H:%M", false, Some("{time-30m}")),
            ("date -d '1 week ago' +%F", false, Some("{date-7d}")),
            ("date +%F", false, Some("{date}")),
            ("/bin/date -dyesterday +%F", false, Some("{date-1d}")),
            ("date '+%d %b %Y'", true, Some("{date:%d %b %Y}")),
            // Not the same thing, or not knowable.
            ("date '+%d %b %Y'", false, None),
            ("date -u +%F", false, None),
            ("date -d yesterday", false, None),
            ("date -d 'last monday' +%F", false, None),
            ("date -d yesterday +%N", false, None),
            ("date -d yesterday +{%F}", false, None),
            ("date -d $X +%F", false, None),
            ("TZ=UTC date +%F", false, None),
            ("cat x", false, None),
        ];
        for (inner, quoted, want) in table {
            assert_eq!(
                shown(gnu_date(inner, *quoted)).as_deref(),
                *want,
                "{inner} (quoted: {quoted})"
            );
        }
    }

    #[test]
    fn shell_text_keeps_what_it_does_not_know() {
        let (text, found) = rewrite_shell(
            r#"q.py -f "$(date -d "1 hour ago" "+%Y-%m-%d")" -t `date +%F` '$(date +%F)' $(date -u +%F) $(hostname) >> l"#,
        );
        assert_eq!(
            to_template(&text),
            r#"q.py -f "{date-1h}" -t {date} '$(date +%F)' $(date -u +%F) $(hostname) >> l"#
        );
        assert_eq!(
            found,
            [
                Found {
                    text: r#"$(date -d "1 hour ago" "+%Y-%m-%d")"#.into(),
                    placeholder: Some("{date-1h}".into())
                },
                Found {
                    text: "`date +%F`".into(),
                    placeholder: Some("{date}".into())
                },
                Found {
                    text: "$(date -u +%F)".into(),
                    placeholder: None
                },
            ]
        );
        assert_eq!(to_template("a{b}"), "a{{b}}");
    }

    #[test]
    fn powershell_date_expressions() {
        let table: &[(&str, Option<&str>)] = &[
            (
                "\"{0:yyyy-MM-dd}\" -f (get-date).AddDays(-1)",
                Some("{date-1d}"),
            ),
            (
                "'{0:yyyy-MM-dd}' -f (Get-Date).adddays(-1)",
                Some("{date-1d}"),
            ),
            (
                "(Get-Date).AddDays(-1).ToString('yyyy-MM-dd')",
                Some("{date-1d}"),
            ),
            (
                "$((Get-Date).AddDays(-1).ToString(\"yyyyMMdd\"))",
                Some("{date-1d:%Y%m%d}"),
            ),
            (
                "(Get-Date).AddHours(-1).ToString('HH:mm')",
                Some("{time-1h}"),
            ),
            (
                "(Get-Date).AddMinutes(-30).ToString('HHmm')",
                Some("{date-30m:%H%M}"),
            ),
            ("Get-Date -Format yyyy-MM-dd", Some("{date}")),
            ("Get-Date -Format 'yyyy-MM-dd'", Some("{date}")),
            (
                "(Get-Date (Get-Date).AddDays(-1) -Format yyyy-MM-dd)",
                Some("{date-1d}"),
            ),
            (
                "[datetime]::Today.AddDays(-1).ToString('yyyy-MM-dd')",
                Some("{date-1d}"),
            ),
            ("(get-date).AddDays(-1).ToString('dd MMM yyyy')", None),
            ("(get-date).AddDays(-1).ToString('d')", None),
            ("(get-date).AddMonths(-1).ToString('yyyy-MM-dd')", None),
            ("\"{0:yyyy-MM-dd}\" -f $x", None),
        ];
        for (expr, want) in table {
            assert_eq!(shown(powershell_date(expr)).as_deref(), *want, "{expr}");
        }
    }

    #[test]
    fn powershell_commands() {
        let c = powershell_command(
            "$yesterday = \"{0:yyyy-MM-dd}\" -f (get-date).AddDays(-1); & 'D:\\Server Apps\\python\\python.exe' 'D:\\Server Apps\\openrem\\openrem_qr.py' 2 1 -ct -f $yesterday -t $Yesterday",
        )
        .unwrap();
        let argv: Vec<String> = c.argv.unwrap().iter().map(|a| to_template(a)).collect();
        assert_eq!(
            argv,
            [
                "D:\\Server Apps\\python\\python.exe",
                "D:\\Server Apps\\openrem\\openrem_qr.py",
                "2",
                "1",
                "-ct",
                "-f",
                "{date-1d}",
                "-t",
                "{date-1d}"
            ]
        );
        assert!(c.unrecognised.is_empty());
        let c = powershell_command(
            "python openrem_qr.py 2 1 -ct -f $((Get-Date).AddDays(-1).ToString('yyyy-MM-dd')) | Out-File -Append q.log",
        )
        .unwrap();
        assert_eq!(
            to_template(&c.text),
            "python openrem_qr.py 2 1 -ct -f {date-1d} | Out-File -Append q.log"
        );
        assert_eq!(c.argv, None);
        let c =
            powershell_command("python q.py -f $((Get-Date).AddMonths(-1).ToString('yyyy-MM'))")
                .unwrap();
        assert_eq!(
            c.unrecognised,
            ["$((Get-Date).AddMonths(-1).ToString('yyyy-MM'))"]
        );
        assert_eq!(powershell_command("python q.py 2 1 -ct"), None);
    }
}
