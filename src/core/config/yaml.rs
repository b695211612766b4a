//! The one place that parses YAML.
//!
//! Owns: turning the schedule file's bytes into text (`decode`: UTF-8 with or without a
//! byte-order mark, UTF-16 as Notepad's "Unicode" saves it) and the text into a small tree
//! whose every node and key carries its line and column, so that semantic errors ("unknown
//! key", "bad cron") can name the position; and the syntax errors a person meets, with a hint
//! for the common ones (an unquoted `*/15 * * * *`, a tab, a Windows path in double quotes).
//! Knows nothing about what the keys mean: that is `shape.rs` and `validate.rs`.
//!
//! Built on the event parser of `yaml-rust2` (maintained), not `serde_yaml`: `serde_yaml` is
//! archived and reports positions only for syntax errors, while every message of `check` needs
//! one. The tree is built here straight from the events, so that a large file is held once and
//! a second document is an error instead of being skipped. Every scalar stays a string here (no
//! YAML 1.1 surprises such as `no` → false or `12:30` → 750); the types of `shape.rs` decide
//! what each string must look like.

use std::borrow::Cow;
use std::collections::HashMap;
use yaml_rust2::parser::{Event, Parser};
use yaml_rust2::scanner::{Marker, ScanError, TScalarStyle};

/// A position in the file, 1-based.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Pos {
    pub line: usize,
    pub col: usize,
}

/// A YAML node with its position.
#[derive(Debug, Clone)]
pub struct Node {
    pub pos: Pos,
    pub value: Value,
}

#[derive(Debug, Clone)]
pub enum Value {
    /// Any scalar, as written (unquoted `null`/`~` and an empty value are `""`).
    Scalar(String),
    Seq(Vec<Node>),
    /// Key/value pairs in file order; keys are unique (duplicates are a syntax error).
    Map(Vec<(Key, Node)>),
}

#[derive(Debug, Clone)]
pub struct Key {
    pub pos: Pos,
    pub text: String,
}

/// A syntax error, with the position the parser gives.
#[derive(Debug, Clone)]
pub struct SyntaxError {
    pub pos: Pos,
    pub message: String,
}

/// The text of a schedule file's bytes: UTF-8 (a byte-order mark is dropped), or UTF-16 LE/BE
/// (with a byte-order mark, as Notepad's "Unicode" saves it, or without one when the first
/// character shows it, as the YAML spec detects it). Anything else is an error at the line and
/// column where the text stops being readable.
pub fn decode(bytes: &[u8]) -> Result<Cow<'_, str>, SyntaxError> {
    match bytes {
        [0xef, 0xbb, 0xbf, rest @ ..] => utf8(rest),
        [0xff, 0xfe, rest @ ..] => utf16(rest, u16::from_le_bytes),
        [0xfe, 0xff, rest @ ..] => utf16(rest, u16::from_be_bytes),
        // YAML files start with an ASCII character; in UTF-16 its other byte is 0.
        [a, 0, ..] if *a != 0 => utf16(bytes, u16::from_le_bytes),
        [0, b, ..] if *b != 0 => utf16(bytes, u16::from_be_bytes),
        _ => utf8(bytes),
    }
}

fn utf8(bytes: &[u8]) -> Result<Cow<'_, str>, SyntaxError> {
    match std::str::from_utf8(bytes) {
        Ok(text) => Ok(Cow::Borrowed(text)),
        Err(e) => {
            let good = std::str::from_utf8(&bytes[..e.valid_up_to()]).unwrap_or_default();
            Err(SyntaxError {
                pos: end_of(good),
                message: format!(
                    "the file is not UTF-8 text from here (byte 0x{:02X}); save it as UTF-8 \
                     (Notepad: File > Save As > Encoding: UTF-8)",
                    bytes[e.valid_up_to()]
                ),
            })
        }
    }
}

fn utf16(bytes: &[u8], unit: fn([u8; 2]) -> u16) -> Result<Cow<'static, str>, SyntaxError> {
    let units = bytes.chunks_exact(2).map(|b| unit([b[0], b[1]]));
    let mut text = String::with_capacity(bytes.len() / 2);
    for c in char::decode_utf16(units) {
        match c {
            Ok(c) => text.push(c),
            Err(e) => {
                return Err(SyntaxError {
                    pos: end_of(&text),
                    message: format!(
                        "the file is UTF-16 but holds a broken character here (0x{:04X}); save \
                         it again, preferably as UTF-8",
                        e.unpaired_surrogate()
                    ),
                })
            }
        }
    }
    if !bytes.len().is_multiple_of(2) {
        return Err(SyntaxError {
            pos: end_of(&text),
            message: "the file is UTF-16 but ends in half a character; save it again, \
                      preferably as UTF-8"
                .into(),
        });
    }
    Ok(Cow::Owned(text))
}

/// The position just after `text`.
fn end_of(text: &str) -> Pos {
    let line_start = text.rfind('\n').map_or(0, |i| i + 1);
    Pos {
        line: text.matches('\n').count() + 1,
        col: text[line_start..].chars().count() + 1,
    }
}

/// Parses `text`, which must hold one document with one mapping at the top level. A leading
/// byte-order mark is ignored.
pub fn parse(text: &str) -> Result<Node, SyntaxError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    if text.trim().is_empty() {
        return Err(SyntaxError {
            pos: Pos { line: 1, col: 1 },
            message: "the file is empty; it needs at least a `queries:` list".into(),
        });
    }
    // A panic in the parser is treated as a syntax error where panics unwind (debug builds,
    // tests). The release profile aborts on panic, so there this is no net: what keeps the
    // daemon up is that the parser has none on any input (the property test
    // `any_text_parses_or_fails_with_a_position` and the review's fuzzing found none).
    std::panic::catch_unwind(|| load(text)).unwrap_or_else(|_| {
        Err(SyntaxError {
            pos: Pos { line: 1, col: 1 },
            message: "the YAML parser failed on this file".into(),
        })
    })
}

fn pos_of(mark: Marker) -> Pos {
    Pos {
        line: mark.line(),
        col: mark.col() + 1,
    }
}

fn load(text: &str) -> Result<Node, SyntaxError> {
    let mut parser = Parser::new_from_str(text);
    let mut tree = Builder::default();
    // The `...` that ended the document, if one did.
    let mut end_marker = None;
    let mut documents = 0;
    loop {
        let (event, mark) = parser
            .next_token()
            .map_err(|e| scan_error(text, &e, end_marker))?;
        let pos = pos_of(mark);
        match event {
            Event::StreamStart | Event::Nothing => {}
            Event::StreamEnd => break,
            Event::DocumentStart => {
                documents += 1;
                if documents > 1 {
                    return Err(second_document(text, pos, end_marker));
                }
            }
            Event::DocumentEnd => {
                end_marker = line_of(text, pos.line)
                    .trim_start()
                    .starts_with("...")
                    .then_some(pos.line);
            }
            event => tree.event(event, pos)?,
        }
    }
    // A file of comments only holds no document: an empty mapping.
    Ok(tree.root.unwrap_or(Node {
        pos: Pos { line: 1, col: 1 },
        value: Value::Map(Vec::new()),
    }))
}

fn second_document(text: &str, mut pos: Pos, end_marker: Option<usize>) -> SyntaxError {
    // The parser marks the first token it read of the document; the line is what counts.
    let line = line_of(text, pos.line);
    pos.col = line.chars().take_while(|c| c.is_whitespace()).count() + 1;
    let message = match end_marker {
        Some(line) => format!(
            "text after the end of the document (`...` at line {line}) would be ignored; a \
             schedule file holds one YAML document: remove the `...` line"
        ),
        None if line.trim_start().starts_with("---") => {
            "a second YAML document starts here and would be ignored; a schedule file holds \
             one document: remove this `---` line to add what follows to the schedule"
                .to_string()
        }
        None => "a second YAML document starts here and would be ignored; a schedule file \
                 holds one document"
            .to_string(),
    };
    SyntaxError { pos, message }
}

/// Line `n` (1-based) of `text`, without its line break; empty past the end.
fn line_of(text: &str, n: usize) -> &str {
    text.lines().nth(n.saturating_sub(1)).unwrap_or("")
}

/// A mapping or sequence whose end has not been read yet.
enum Open {
    Seq {
        pos: Pos,
        items: Vec<Node>,
    },
    Map {
        pos: Pos,
        entries: Vec<(Key, Node)>,
        /// The key read, waiting for its value.
        key: Option<Key>,
        /// Key → its line, for finding duplicates in a long mapping (short ones are scanned).
        index: Option<HashMap<String, usize>>,
    },
}

/// Builds the tree from the parser's events.
#[derive(Default)]
struct Builder {
    open: Vec<Open>,
    root: Option<Node>,
}

/// A mapping longer than this indexes its keys for the duplicate check.
const SCAN_KEYS: usize = 16;

impl Builder {
    fn expects_key(&self) -> bool {
        matches!(self.open.last(), Some(Open::Map { key: None, .. }))
    }

    fn event(&mut self, event: Event, pos: Pos) -> Result<(), SyntaxError> {
        let refuse = |message: &str| {
            Err(SyntaxError {
                pos,
                message: message.to_string(),
            })
        };
        const ANCHORS: &str =
            "anchors and aliases (&name, *name) are not supported; write the value out";
        const TAGS: &str = "tags (!name) are not supported";
        match event {
            Event::Alias(_) => refuse(ANCHORS),
            Event::Scalar(_, _, anchor, _)
            | Event::SequenceStart(anchor, _)
            | Event::MappingStart(anchor, _)
                if anchor != 0 =>
            {
                refuse(ANCHORS)
            }
            Event::Scalar(_, _, _, Some(_))
            | Event::SequenceStart(_, Some(_))
            | Event::MappingStart(_, Some(_)) => refuse(TAGS),
            Event::SequenceStart(..) if self.open.is_empty() => refuse(TOP_LEVEL),
            Event::Scalar(..) if self.open.is_empty() => refuse(TOP_LEVEL),
            Event::SequenceStart(..) | Event::MappingStart(..) if self.expects_key() => {
                refuse("a key must be a plain string")
            }
            Event::SequenceStart(..) => {
                self.open.push(Open::Seq {
                    pos,
                    items: Vec::new(),
                });
                Ok(())
            }
            Event::MappingStart(..) => {
                self.open.push(Open::Map {
                    pos,
                    entries: Vec::new(),
                    key: None,
                    index: None,
                });
                Ok(())
            }
            Event::Scalar(text, style, ..) => {
                // Unquoted null-likes read as empty values, as YAML means them (a key stays as
                // written).
                let null = style == TScalarStyle::Plain
                    && !self.expects_key()
                    && matches!(text.as_str(), "~" | "null" | "Null" | "NULL");
                let text = if null { String::new() } else { text };
                self.add(Node {
                    pos,
                    value: Value::Scalar(text),
                })
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let node = match self.open.pop() {
                    Some(Open::Seq { pos, mut items }) => {
                        items.shrink_to_fit();
                        Node {
                            pos,
                            value: Value::Seq(items),
                        }
                    }
                    Some(Open::Map {
                        pos, mut entries, ..
                    }) => {
                        entries.shrink_to_fit();
                        Node {
                            pos,
                            value: Value::Map(entries),
                        }
                    }
                    None => return refuse("unbalanced YAML"),
                };
                self.add(node)
            }
            Event::Nothing
            | Event::StreamStart
            | Event::StreamEnd
            | Event::DocumentStart
            | Event::DocumentEnd => Ok(()),
        }
    }

    /// Adds a finished node to the collection it is in.
    fn add(&mut self, mut node: Node) -> Result<(), SyntaxError> {
        match self.open.last_mut() {
            None => self.root = Some(node),
            Some(Open::Seq { items, .. }) => items.push(node),
            Some(Open::Map {
                entries,
                key,
                index,
                ..
            }) => match key.take() {
                None => {
                    let Value::Scalar(text) = node.value else {
                        return Err(SyntaxError {
                            pos: node.pos,
                            message: "a key must be a plain string".into(),
                        });
                    };
                    let first = match index {
                        Some(index) => index.get(&text).copied(),
                        None => entries
                            .iter()
                            .find(|(k, _)| k.text == text)
                            .map(|(k, _)| k.pos.line),
                    };
                    if let Some(first) = first {
                        return Err(SyntaxError {
                            pos: node.pos,
                            message: format!("duplicate key `{text}` (first at line {first})"),
                        });
                    }
                    *key = Some(Key {
                        pos: node.pos,
                        text,
                    });
                }
                Some(k) => {
                    // The parser places an empty value where the next token starts, often on
                    // the next line; the key is where a person looks for it.
                    if matches!(&node.value, Value::Scalar(s) if s.is_empty())
                        && node.pos.line != k.pos.line
                    {
                        node.pos = k.pos;
                    }
                    if let Some(index) = index {
                        index.insert(k.text.clone(), k.pos.line);
                    } else if entries.len() + 1 >= SCAN_KEYS {
                        let mut all: HashMap<String, usize> = entries
                            .iter()
                            .map(|(k, _)| (k.text.clone(), k.pos.line))
                            .collect();
                        all.insert(k.text.clone(), k.pos.line);
                        *index = Some(all);
                    }
                    entries.push((k, node));
                }
            },
        }
        Ok(())
    }
}

const TOP_LEVEL: &str = "the file must be a mapping of keys (timezone, lead, queries, …)";

/// The parser's error, with its position corrected and a hint where the raw message would leave
/// a person guessing.
fn scan_error(text: &str, e: &ScanError, end_marker: Option<usize>) -> SyntaxError {
    let mut pos = pos_of(*e.marker());
    let raw = e.info();
    let line = line_of(text, pos.line);
    let at = |col: usize| line.chars().nth(col.saturating_sub(1));
    let message = if raw.contains("tab") {
        // The parser may stop at the end of the line before the tab (`keep: 3` then a tab on
        // the next line): point at the tab itself.
        if let Some(tab) = indentation_tab(text, pos.line) {
            pos = tab;
            "a tab in the indentation; YAML indents with spaces only: replace the tab with \
             spaces"
                .to_string()
        } else {
            format!("{raw} (YAML needs spaces where this tab is)")
        }
    } else if raw.contains("must be followed by a valid YAML whitespace")
        && at(pos.col.saturating_sub(1)) == Some('\t')
    {
        pos.col -= 1;
        "a tab after `:`; YAML needs a space there: replace the tab with a space".to_string()
    } else if raw.contains("unknown anchor")
        || raw.contains("while scanning an anchor or alias")
        || raw.contains("cannot start any token")
        || raw.contains("unexpected character")
    {
        let start = value_start(line, pos.col);
        match at(start) {
            Some(c @ ('*' | '&' | '@' | '`' | '%' | '!' | '|' | '>')) => {
                pos.col = start;
                let prefix: String = line.chars().take(start - 1).collect();
                let example = if prefix.contains(['{', '[']) {
                    "\"*/15 * * * *\"".to_string()
                } else {
                    format!("\"{}\"", value_at(line, start).replace('"', "\\\""))
                };
                format!(
                    "a value that starts with `{c}` must be in quotes (YAML reads `{c}` as \
                     syntax): write {example}"
                )
            }
            _ => raw.to_string(),
        }
    } else if raw.contains("unknown escape character")
        || raw.contains("did not find expected hexadecimal number")
    {
        let quoted = (at(pos.col) == Some('"')).then(|| {
            let inside: String = line
                .chars()
                .skip(pos.col)
                .take_while(|c| *c != '"')
                .collect();
            inside
        });
        let escape = bad_escape(line, pos.col);
        if let Some((col, _)) = &escape {
            pos.col = *col;
        }
        let what = match escape {
            Some((_, e)) => format!("`{e}` is not an escape"),
            None => raw
                .trim_start_matches("while parsing a quoted scalar, ")
                .to_string(),
        };
        let example = match quoted.filter(|q| !q.contains('\'')) {
            Some(q) => format!("'{q}'"),
            None => "'C:\\Program Files\\…'".to_string(),
        };
        format!(
            "{what}: in double quotes a backslash starts an escape (\\n, \\t, \\x41); write \
             a Windows path in single quotes instead: {example}"
        )
    } else if raw.contains("while parsing a flow sequence, expected ',' or ']'")
        && line.chars().take(pos.col).any(|c| c == '{')
    {
        // `[q, --from={date-1d}]`: braces are syntax inside `[...]`.
        format!(
            "{raw}; in a [...] list, an argument with braces (a placeholder such as \
             {{date-1d}}) must be in quotes: \"--from={{date-1d}}\""
        )
    } else if raw.contains("did not find expected <document start>") {
        match end_marker {
            Some(l) => format!(
                "text after the end of the document (`...` at line {l}) would be ignored; a \
                 schedule file holds one YAML document: remove the `...` line"
            ),
            None => raw.to_string(),
        }
    } else {
        raw.to_string()
    };
    SyntaxError { pos, message }
}

/// The first tab in the indentation of line `from` or of a later line.
fn indentation_tab(text: &str, from: usize) -> Option<Pos> {
    text.lines()
        .enumerate()
        .skip(from.saturating_sub(1))
        .find_map(|(i, line)| {
            let indent = line.len() - line.trim_start_matches([' ', '\t']).len();
            line[..indent].find('\t').map(|col| Pos {
                line: i + 1,
                col: col + 1,
            })
        })
}

/// The column where the value around column `col` of `line` starts: after the `: ` or `- `
/// before it, else `col`.
fn value_start(line: &str, col: usize) -> usize {
    let chars: Vec<char> = line.chars().collect();
    let mut i = col.min(chars.len() + 1).saturating_sub(1);
    while i > 0 {
        if chars[i - 1] == ' ' && i >= 2 && matches!(chars[i - 2], ':' | '-' | ',' | '[' | '{') {
            return i + 1;
        }
        i -= 1;
    }
    col
}

/// The first invalid escape of the double-quoted scalar that starts at column `col` of `line`:
/// its column and its text (`\d`, `\x`).
fn bad_escape(line: &str, col: usize) -> Option<(usize, String)> {
    let chars: Vec<char> = line.chars().collect();
    let mut i = col; // just after the opening quote (`col` is 1-based)
    while i < chars.len() {
        match chars[i] {
            '"' => return None,
            '\\' => {
                let next = chars.get(i + 1).copied()?;
                let hex = match next {
                    'x' => 2,
                    'u' => 4,
                    'U' => 8,
                    '0' | 'a' | 'b' | 't' | '\t' | 'n' | 'v' | 'f' | 'r' | 'e' | ' ' | '"'
                    | '/' | '\\' | 'N' | '_' | 'L' | 'P' => 0,
                    other => return Some((i + 1, format!("\\{other}"))),
                };
                let digits = chars.iter().skip(i + 2).take(hex);
                if digits.clone().count() < hex || !digits.clone().all(|c| c.is_ascii_hexdigit()) {
                    return Some((i + 1, format!("\\{next}")));
                }
                i += 2 + hex;
            }
            _ => i += 1,
        }
    }
    None
}

/// The scalar written at column `col` of `line`, without a trailing comment.
fn value_at(line: &str, col: usize) -> String {
    let rest: String = line.chars().skip(col.saturating_sub(1)).collect();
    let rest = match rest.find(" #") {
        Some(i) => &rest[..i],
        None => &rest,
    };
    rest.trim().to_string()
}

impl Node {
    pub fn as_scalar(&self) -> Option<&str> {
        match &self.value {
            Value::Scalar(s) => Some(s),
            _ => None,
        }
    }

    /// What kind of node this is, for messages ("a list", "a mapping", "a string").
    pub fn kind(&self) -> &'static str {
        match &self.value {
            Value::Scalar(s) if s.is_empty() => "empty",
            Value::Scalar(_) => "a string",
            Value::Seq(_) => "a list",
            Value::Map(_) => "a mapping",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_are_one_based_and_point_at_keys_and_values() {
        let node = parse("a: 1\nlist:\n  - x\n  - {k: v}\n").unwrap();
        let Value::Map(entries) = &node.value else {
            panic!()
        };
        assert_eq!(entries[0].0.pos, Pos { line: 1, col: 1 });
        assert_eq!(entries[0].1.pos, Pos { line: 1, col: 4 });
        let Value::Seq(items) = &entries[1].1.value else {
            panic!()
        };
        assert_eq!(items[1].pos.line, 4);
    }

    #[test]
    fn scalars_stay_strings() {
        let node = parse("a: 12:30\nb: no\nc: 007\nd:\ne: ~\nf: '~'\n").unwrap();
        let Value::Map(entries) = &node.value else {
            panic!()
        };
        let values: Vec<&str> = entries
            .iter()
            .map(|(_, v)| v.as_scalar().unwrap())
            .collect();
        assert_eq!(values, ["12:30", "no", "007", "", "", "~"]);
    }

    #[test]
    fn syntax_errors_have_positions() {
        let e = parse("a: 1\nb: [1, 2\n").unwrap_err();
        assert!(e.pos.line >= 2, "{e:?}");
        let e = parse("a: 1\na: 2\n").unwrap_err();
        assert_eq!(e.pos.line, 2);
        assert!(e.message.contains("duplicate key `a`"));
        let e = parse("- a\n- b\n").unwrap_err();
        assert!(e.message.contains("mapping"));
        let e = parse("a: &x 1\nb: *x\n").unwrap_err();
        assert!(e.message.contains("anchors"), "{e:?}");
        assert!(parse("  \n").is_err());
    }

    proptest::proptest! {
        /// Neither the parser nor the hints (which index into the line the parser names) panic,
        /// whatever the text.
        #[test]
        fn any_text_parses_or_fails_with_a_position(
            text in "[a-z:*&@!|>\\\\\"' \t\r\n#{}\\[\\],.-]{0,60}"
        ) {
            if let Err(e) = parse(&text) {
                proptest::prop_assert!(e.message != "the YAML parser failed on this file", "{text:?}");
                proptest::prop_assert!(e.pos.line >= 1 && e.pos.col >= 1, "{text:?}: {e:?}");
            }
        }
    }

    #[test]
    fn duplicate_keys_are_found_in_long_mappings_too() {
        let mut text: String = (0..40).map(|i| format!("k{i}: v\n")).collect();
        text.push_str("k7: again\n");
        let e = parse(&text).unwrap_err();
        assert_eq!(e.pos, Pos { line: 41, col: 1 });
        assert_eq!(e.message, "duplicate key `k7` (first at line 8)");
    }

    #[test]
    fn one_document_only() {
        let e = parse("a: 1\n---\nb: 2\n").unwrap_err();
        assert_eq!(e.pos, Pos { line: 2, col: 1 });
        assert!(e.message.contains("second YAML document"), "{e:?}");
        let e = parse("a: 1\n...\n  b: 2\n").unwrap_err();
        assert_eq!(e.pos, Pos { line: 3, col: 3 });
        assert!(e.message.contains("`...` at line 2"), "{e:?}");
        assert!(parse("---\na: 1\n...\n# end\n").is_ok());
    }

    #[test]
    fn a_byte_order_mark_is_nothing() {
        let node = parse("\u{feff}a: 1\n").unwrap();
        let Value::Map(entries) = &node.value else {
            panic!()
        };
        assert_eq!(entries[0].0.text, "a");
        assert_eq!(entries[0].1.pos, Pos { line: 1, col: 4 });
    }

    fn utf16(text: &str, big_endian: bool, bom: bool) -> Vec<u8> {
        let bom = bom.then_some(0xfeff);
        bom.into_iter()
            .chain(text.encode_utf16())
            .flat_map(|u| {
                if big_endian {
                    u.to_be_bytes()
                } else {
                    u.to_le_bytes()
                }
            })
            .collect()
    }

    #[test]
    fn decoding_utf8_and_utf16() {
        let text = "a: Zürich 😀\r\nb: 2\n";
        assert_eq!(decode(text.as_bytes()).unwrap(), text);
        assert!(matches!(decode(text.as_bytes()).unwrap(), Cow::Borrowed(_)));
        let bom = [b"\xef\xbb\xbf", text.as_bytes()].concat();
        assert_eq!(decode(&bom).unwrap(), text);
        for big_endian in [false, true] {
            for with_bom in [false, true] {
                let bytes = utf16(text, big_endian, with_bom);
                assert_eq!(decode(&bytes).unwrap(), text, "{big_endian} {with_bom}");
            }
        }
    }

    #[test]
    fn undecodable_bytes_are_named_by_line_and_column() {
        let e = decode(b"a: 1\nb: caf\xe9\n").unwrap_err();
        assert_eq!(e.pos, Pos { line: 2, col: 7 });
        assert!(
            e.message.contains("not UTF-8") && e.message.contains("0xE9"),
            "{e:?}"
        );
        // Ä (two bytes) before the bad byte counts as one column.
        let e = decode(b"\xc3\x84\xff").unwrap_err();
        assert_eq!(e.pos, Pos { line: 1, col: 2 });
        let mut bytes = utf16("a: 1\nb: ", false, true);
        bytes.extend_from_slice(&0xd800u16.to_le_bytes()); // a lone surrogate
        bytes.extend_from_slice(&utf16("x\n", false, false));
        let e = decode(&bytes).unwrap_err();
        assert_eq!(e.pos, Pos { line: 2, col: 4 });
        let mut bytes = utf16("a: 1\n", true, true);
        bytes.push(b'x');
        let e = decode(&bytes).unwrap_err();
        assert_eq!(e.pos, Pos { line: 2, col: 1 });
        assert!(e.message.contains("half a character"), "{e:?}");
    }
}
