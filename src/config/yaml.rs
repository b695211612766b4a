//! The one place that parses YAML.
//!
//! Owns: turning the schedule file's text into a small tree whose every node and key carries its
//! line and column, so that semantic errors ("unknown key", "bad cron") can name the position.
//! Knows nothing about what the keys mean: that is `validate.rs`.
//!
//! Backed by `marked-yaml` (on the maintained `yaml-rust2`), not `serde_yaml`: `serde_yaml` is
//! archived and reports positions only for syntax errors, while every message of `check` needs
//! one. Every scalar stays a string here (no YAML 1.1 surprises such as `no` → false or
//! `12:30` → 750); the validator decides what each string must look like.

use marked_yaml::{LoaderOptions, Node as Marked};

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

/// Parses `text`, which must hold one mapping at the top level.
pub fn parse(text: &str) -> Result<Node, SyntaxError> {
    if text.trim().is_empty() {
        return Err(SyntaxError {
            pos: Pos { line: 1, col: 1 },
            message: "the file is empty; it needs at least a `queries:` list".into(),
        });
    }
    let options = LoaderOptions::default()
        .error_on_duplicate_keys(true)
        .prevent_coercion(true);
    // marked-yaml cannot meet an alias (anchors are refused first), but a panic in a parser must
    // never take the daemon down with it: treat one as a syntax error.
    let parsed =
        std::panic::catch_unwind(|| marked_yaml::parse_yaml_with_options(0, text, options));
    match parsed {
        Ok(Ok(node)) => Ok(convert(&node)),
        Ok(Err(e)) => Err(syntax_error(e)),
        Err(_) => Err(SyntaxError {
            pos: Pos { line: 1, col: 1 },
            message: "the YAML parser failed on this file".into(),
        }),
    }
}

fn pos_of(marker: Option<&marked_yaml::Marker>) -> Pos {
    marker
        .map(|m| Pos {
            line: m.line(),
            col: m.column(),
        })
        .unwrap_or_default()
}

fn convert(node: &Marked) -> Node {
    let pos = pos_of(node.span().start());
    let value = match node {
        Marked::Scalar(s) => {
            let text = s.as_str();
            // Unquoted null-likes read as empty values, as YAML means them. (With coercion
            // prevented, `may_coerce` is true exactly for plain, unquoted scalars.)
            let text = if s.may_coerce() && matches!(text, "~" | "null" | "Null" | "NULL") {
                ""
            } else {
                text
            };
            Value::Scalar(text.to_string())
        }
        Marked::Sequence(items) => Value::Seq(items.iter().map(convert).collect()),
        Marked::Mapping(map) => Value::Map(
            map.iter()
                .map(|(k, v)| {
                    let key = Key {
                        pos: pos_of(k.span().start()),
                        text: k.as_str().to_string(),
                    };
                    let mut value = convert(v);
                    // The parser places an empty value where the next token starts, often on
                    // the next line; the key is where a person looks for it.
                    if matches!(&value.value, Value::Scalar(s) if s.is_empty())
                        && value.pos.line != key.pos.line
                    {
                        value.pos = key.pos;
                    }
                    (key, value)
                })
                .collect(),
        ),
    };
    Node { pos, value }
}

fn syntax_error(e: marked_yaml::LoadError) -> SyntaxError {
    use marked_yaml::LoadError as E;
    let (marker, message) = match &e {
        E::TopLevelMustBeMapping(m) => (
            Some(*m),
            "the file must be a mapping of keys (timezone, lead, queries, …)".to_string(),
        ),
        E::TopLevelMustBeSequence(m) => (Some(*m), "expected a list".to_string()),
        E::UnexpectedAnchor(m) => (
            Some(*m),
            "anchors and aliases (&name, *name) are not supported; write the value out".into(),
        ),
        E::MappingKeyMustBeScalar(m) => (Some(*m), "a key must be a plain string".into()),
        E::UnexpectedTag(m) => (Some(*m), "tags (!name) are not supported".into()),
        E::ScanError(m, scan) => (Some(*m), scan.info().to_string()),
        E::DuplicateKey(inner) => {
            let prev = pos_of(inner.prev_key.span().start());
            (
                inner.key.span().start().copied(),
                format!(
                    "duplicate key `{}` (first at line {})",
                    inner.key.as_str(),
                    prev.line
                ),
            )
        }
    };
    SyntaxError {
        pos: pos_of(marker.as_ref()),
        message,
    }
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
}
