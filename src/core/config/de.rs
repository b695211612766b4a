//! Reading the YAML tree (`yaml::Node`) into the types of `shape.rs` through serde, with every
//! problem reported at its line and column and none stopping the rest.
//!
//! Owns: the `serde::Deserializer` over a `&Node` (`NodeDe`), where a problem found while
//! deserializing is written down (`Report`), the field path it names (`Path`, rendered only
//! for a message), and the wrappers the shapes are written with: `Checked<T>` (a value that may
//! be wrong without failing the mapping it is in, so that every key of a mapping is looked at),
//! `Spanned<T>` (a value with its position, for the checks that come after). A mapping's keys
//! are the fields of its struct: `deserialize_struct` reports every other key as unknown, with
//! the struct's field names as the allowed ones, and a field the struct requires (any field not
//! an `Option`) as missing. Knows no key and no message of its own beyond those.

use super::yaml::{Key, Node, Pos, Value};
use crate::core::diagnostic::{Diagnostic, Severity};
use serde::de::{self, DeserializeSeed, Deserializer, Expected, MapAccess, SeqAccess, Visitor};
use std::cell::RefCell;
use std::fmt;

/// Where a node is in the file's structure: `queries[1].cron`.
#[derive(Clone, Copy)]
pub enum Path<'p> {
    Root,
    Key(&'p Path<'p>, &'p str),
    Index(&'p Path<'p>, usize),
}

impl Path<'_> {
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(32);
        self.write(&mut out);
        // Kept in a problem, of which a large file can have many: an allocation of its size.
        String::from(out.as_str())
    }

    fn write(&self, out: &mut String) {
        match self {
            Path::Root => {}
            Path::Key(parent, key) => {
                parent.write(out);
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(key);
            }
            Path::Index(parent, i) => {
                parent.write(out);
                out.push('[');
                out.push_str(&i.to_string());
                out.push(']');
            }
        }
    }
}

/// The problems and warnings found so far, in the order found.
#[derive(Default)]
pub struct Report {
    pub found: RefCell<Vec<Diagnostic>>,
}

impl Report {
    pub fn error(&self, pos: Pos, field: impl Into<String>, message: String) {
        self.push(pos, field.into(), message, Severity::Error);
    }

    pub fn warning(&self, pos: Pos, field: impl Into<String>, message: String) {
        self.push(pos, field.into(), message, Severity::Warning);
    }

    fn push(&self, pos: Pos, field: String, message: String, severity: Severity) {
        self.found.borrow_mut().push(Diagnostic {
            line: pos.line,
            col: pos.col,
            field: Some(field),
            message,
            severity,
        });
    }

    /// Deserializes `node` (at `path`) as a `T`; `None` when it is wrong, with why reported.
    pub fn read<'de, T: de::Deserialize<'de>>(
        &self,
        node: &'de Node,
        path: &Path<'_>,
    ) -> Option<T> {
        let de = NodeDe {
            node,
            path,
            report: self,
        };
        T::deserialize(de).ok()
    }
}

/// Why deserializing failed. Every error that leaves `NodeDe` has been reported already.
#[derive(Debug)]
pub enum Error {
    /// Written down in the `Report`.
    Reported,
    /// A message from a shape, to be reported at the node being read.
    Message(String),
    /// A visitor that does not take this kind of node: what it expected.
    Mismatch(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Reported => f.write_str("reported"),
            Error::Message(m) => f.write_str(m),
            Error::Mismatch(e) => write!(f, "expected {e}"),
        }
    }
}

impl std::error::Error for Error {}

/// What a shape returns when what is wrong has been reported at a node inside it.
const REPORTED: &str = "\u{0}reported";

/// The error a shape returns after a part of it was reported (`Checked` items inside a list).
pub fn reported<E: de::Error>() -> E {
    E::custom(REPORTED)
}

impl de::Error for Error {
    fn custom<T: fmt::Display>(msg: T) -> Error {
        let msg = msg.to_string();
        if msg == REPORTED {
            Error::Reported
        } else {
            Error::Message(msg)
        }
    }

    fn invalid_type(_: de::Unexpected<'_>, exp: &dyn Expected) -> Error {
        Error::Mismatch(exp.to_string())
    }
}

/// A value that may be wrong (`None`, reported) without failing the mapping or list it is in.
#[derive(Debug)]
pub struct Checked<T>(pub Option<T>);

impl<'de, T: de::Deserialize<'de>> de::Deserialize<'de> for Checked<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Checked(T::deserialize(d).ok()))
    }
}

/// A value and the position of its node.
#[derive(Debug)]
pub struct Spanned<T> {
    pub pos: Pos,
    pub value: T,
}

const SPANNED: &str = "$pacs_warden::Spanned";

impl<'de, T: de::Deserialize<'de>> de::Deserialize<'de> for Spanned<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(std::marker::PhantomData<T>);
        impl<'de, T: de::Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = Spanned<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a value")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Spanned<T>, A::Error> {
                let line = seq.next_element()?.ok_or_else(reported)?;
                let col = seq.next_element()?.ok_or_else(reported)?;
                let value = seq.next_element()?.ok_or_else(reported)?;
                Ok(Spanned {
                    pos: Pos { line, col },
                    value,
                })
            }
        }
        d.deserialize_newtype_struct(SPANNED, V(std::marker::PhantomData))
    }
}

/// The field names of the struct `T` deserializes as: the keys its mapping allows.
pub fn fields_of<'de, T: de::Deserialize<'de>>() -> &'static [&'static str] {
    struct Probe;
    #[derive(Debug)]
    struct Found(&'static [&'static str]);
    impl fmt::Display for Found {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("fields")
        }
    }
    impl std::error::Error for Found {}
    impl de::Error for Found {
        fn custom<M: fmt::Display>(_: M) -> Found {
            Found(&[])
        }
    }
    impl<'de> Deserializer<'de> for Probe {
        type Error = Found;
        fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Found> {
            Err(Found(&[]))
        }
        fn deserialize_struct<V: Visitor<'de>>(
            self,
            _: &'static str,
            fields: &'static [&'static str],
            _: V,
        ) -> Result<V::Value, Found> {
            Err(Found(fields))
        }
        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
            bytes byte_buf option unit unit_struct newtype_struct seq tuple
            tuple_struct map enum identifier ignored_any
        }
    }
    match T::deserialize(Probe) {
        Err(Found(fields)) => fields,
        Ok(_) => &[],
    }
}

/// Where a person looks for a mapping: its first key (a block mapping's own position is where
/// its first value starts), else the mapping.
pub fn map_pos(node: &Node) -> Pos {
    match &node.value {
        Value::Map(entries) => entries.first().map_or(node.pos, |(k, _)| k.pos),
        _ => node.pos,
    }
}

/// What kind of node this is, for messages ("a list", "a mapping", "a string", "empty").
pub fn kind_of_text(s: &str) -> &'static str {
    if s.is_empty() {
        "empty"
    } else {
        "a string"
    }
}

/// The deserializer of one node.
pub struct NodeDe<'de, 'p> {
    pub node: &'de Node,
    pub path: &'p Path<'p>,
    pub report: &'p Report,
}

impl<'de> NodeDe<'de, '_> {
    fn fail<T>(&self, message: String) -> Result<T, Error> {
        self.report
            .error(self.node.pos, self.path.render(), message);
        Err(Error::Reported)
    }

    /// Reports a visitor's error at this node.
    fn done<T>(&self, r: Result<T, Error>) -> Result<T, Error> {
        match r {
            Err(Error::Message(m)) => self.fail(m),
            Err(Error::Mismatch(e)) => {
                self.fail(format!("expected {e}, found {}", self.node.kind()))
            }
            r => r,
        }
    }

    fn mismatch<T>(&self, exp: &dyn Expected) -> Result<T, Error> {
        self.fail(format!("expected {exp}, found {}", self.node.kind()))
    }

    fn items(&self, items: &'de [Node]) -> Items<'de, '_> {
        Items {
            items: items.iter(),
            i: 0,
            path: self.path,
            report: self.report,
        }
    }
}

impl<'de> Deserializer<'de> for NodeDe<'de, '_> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        let r = match &self.node.value {
            Value::Scalar(s) => v.visit_borrowed_str(s),
            Value::Seq(items) => v.visit_seq(self.items(items)),
            Value::Map(entries) => v.visit_map(Entries {
                entries: entries.iter(),
                value: None,
                path: self.path,
                report: self.report,
            }),
        };
        self.done(r)
    }

    fn deserialize_str<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        match &self.node.value {
            Value::Scalar(s) => self.done(v.visit_borrowed_str(s)),
            _ => self.mismatch(&v),
        }
    }

    fn deserialize_string<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        self.deserialize_str(v)
    }

    fn deserialize_option<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        v.visit_some(self)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        match &self.node.value {
            Value::Seq(items) => {
                let r = v.visit_seq(self.items(items));
                self.done(r)
            }
            _ => self.mismatch(&v),
        }
    }

    fn deserialize_map<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        match &self.node.value {
            Value::Map(entries) => {
                let r = v.visit_map(Entries {
                    entries: entries.iter(),
                    value: None,
                    path: self.path,
                    report: self.report,
                });
                self.done(r)
            }
            _ => self.mismatch(&v),
        }
    }

    /// A mapping with the keys `fields`: every other key is reported as unknown, and a field
    /// that is missing is given to the struct as missing (an `Option` field takes it as `None`,
    /// any other reports it as required). A scalar is offered to the visitor (`supervise: true`)
    /// before it is refused.
    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        v: V,
    ) -> Result<V::Value, Error> {
        let wrong = || {
            format!(
                "expected a mapping with keys {}, found {}",
                fields.join(", "),
                self.node.kind()
            )
        };
        let entries = match &self.node.value {
            Value::Map(entries) => entries,
            Value::Scalar(s) => {
                return match v.visit_borrowed_str(s) {
                    Err(Error::Mismatch(_)) => self.fail(wrong()),
                    r => self.done(r),
                }
            }
            Value::Seq(_) => return self.fail(wrong()),
        };
        // Which fields the mapping has (a struct has fewer than 64).
        let mut present = 0u64;
        for (key, _) in entries {
            if let Some(i) = fields.iter().position(|f| *f == key.text) {
                present |= 1 << i;
            } else {
                self.report.error(
                    key.pos,
                    Path::Key(self.path, &key.text).render(),
                    format!(
                        "unknown key `{}`; allowed keys here: {}",
                        key.text,
                        fields.join(", ")
                    ),
                );
            }
        }
        let r = v.visit_map(StructEntries {
            entries: entries.iter(),
            fields,
            missing: fields.iter().enumerate(),
            present,
            value: None,
            map_pos: map_pos(self.node),
            path: self.path,
            report: self.report,
        });
        self.done(r)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        v: V,
    ) -> Result<V::Value, Error> {
        if name == SPANNED {
            let pos = self.node.pos;
            return v.visit_seq(SpanParts {
                line: Some(pos.line),
                col: Some(pos.col),
                de: Some(self),
            });
        }
        v.visit_newtype_struct(self)
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        v.visit_unit()
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char
        bytes byte_buf unit unit_struct tuple tuple_struct enum identifier
    }
}

/// A list's items, each at `path[i]`.
struct Items<'de, 'p> {
    items: std::slice::Iter<'de, Node>,
    i: usize,
    path: &'p Path<'p>,
    report: &'p Report,
}

impl<'de> SeqAccess<'de> for Items<'de, '_> {
    type Error = Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Error> {
        let Some(node) = self.items.next() else {
            return Ok(None);
        };
        let path = Path::Index(self.path, self.i);
        self.i += 1;
        seed.deserialize(NodeDe {
            node,
            path: &path,
            report: self.report,
        })
        .map(Some)
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.items.len())
    }
}

/// A mapping's entries as key (with its position) and value.
struct Entries<'de, 'p> {
    entries: std::slice::Iter<'de, (Key, Node)>,
    value: Option<&'de (Key, Node)>,
    path: &'p Path<'p>,
    report: &'p Report,
}

impl<'de> MapAccess<'de> for Entries<'de, '_> {
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Error> {
        let Some(entry) = self.entries.next() else {
            return Ok(None);
        };
        self.value = Some(entry);
        let path = Path::Key(self.path, &entry.0.text);
        seed.deserialize(KeyDe {
            key: &entry.0,
            path: &path,
            report: self.report,
        })
        .map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Error> {
        let (key, node) = self.value.take().expect("a key before its value");
        seed.deserialize(NodeDe {
            node,
            path: &Path::Key(self.path, &key.text),
            report: self.report,
        })
    }
}

/// A struct's entries: the known keys as written, then each missing field.
struct StructEntries<'de, 'p> {
    entries: std::slice::Iter<'de, (Key, Node)>,
    fields: &'static [&'static str],
    missing: std::iter::Enumerate<std::slice::Iter<'static, &'static str>>,
    present: u64,
    value: Option<Result<&'de (Key, Node), &'static str>>,
    map_pos: Pos,
    path: &'p Path<'p>,
    report: &'p Report,
}

impl<'de> MapAccess<'de> for StructEntries<'de, '_> {
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Error> {
        for entry in self.entries.by_ref() {
            if self.fields.contains(&entry.0.text.as_str()) {
                self.value = Some(Ok(entry));
                let key = de::value::BorrowedStrDeserializer::<Error>::new(&entry.0.text);
                return seed.deserialize(key).map(Some);
            }
        }
        for (i, &field) in self.missing.by_ref() {
            if self.present & (1 << i) == 0 {
                self.value = Some(Err(field));
                let key = de::value::BorrowedStrDeserializer::<Error>::new(field);
                return seed.deserialize(key).map(Some);
            }
        }
        Ok(None)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Error> {
        match self.value.take().expect("a key before its value") {
            Ok((key, node)) => seed.deserialize(NodeDe {
                node,
                path: &Path::Key(self.path, &key.text),
                report: self.report,
            }),
            Err(field) => seed.deserialize(Missing {
                field,
                pos: self.map_pos,
                path: &Path::Key(self.path, field),
                report: self.report,
            }),
        }
    }
}

/// A mapping's key: a string whose problems are reported at the key.
struct KeyDe<'de, 'p> {
    key: &'de Key,
    path: &'p Path<'p>,
    report: &'p Report,
}

impl<'de> Deserializer<'de> for KeyDe<'de, '_> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        match v.visit_borrowed_str(&self.key.text) {
            Err(Error::Message(m)) => {
                self.report.error(self.key.pos, self.path.render(), m);
                Err(Error::Reported)
            }
            Err(Error::Mismatch(e)) => {
                self.report.error(
                    self.key.pos,
                    self.path.render(),
                    format!("expected {e}, found a string"),
                );
                Err(Error::Reported)
            }
            r => r,
        }
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf option unit unit_struct newtype_struct seq tuple
        tuple_struct map struct enum identifier ignored_any
    }
}

/// A field its mapping does not have: `None` for an `Option`, else reported as required.
struct Missing<'p> {
    field: &'static str,
    pos: Pos,
    path: &'p Path<'p>,
    report: &'p Report,
}

impl<'de> Deserializer<'de> for Missing<'_> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Error> {
        self.report.error(
            self.pos,
            self.path.render(),
            format!("`{}` is required", self.field),
        );
        Err(Error::Reported)
    }

    fn deserialize_option<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        v.visit_none()
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf unit unit_struct newtype_struct seq tuple
        tuple_struct map struct enum identifier ignored_any
    }
}

/// A `Spanned`'s parts: line, column, then the value.
struct SpanParts<'de, 'p> {
    line: Option<usize>,
    col: Option<usize>,
    de: Option<NodeDe<'de, 'p>>,
}

impl<'de> SeqAccess<'de> for SpanParts<'de, '_> {
    type Error = Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Error> {
        if let Some(n) = self.line.take().or_else(|| self.col.take()) {
            let n = de::value::UsizeDeserializer::<Error>::new(n);
            return seed.deserialize(n).map(Some);
        }
        match self.de.take() {
            Some(de) => seed.deserialize(de).map(Some),
            None => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::config::yaml;
    use serde::Deserialize;

    #[derive(Deserialize)]
    #[allow(dead_code)]
    struct Pair {
        first: Checked<Spanned<String>>,
        second: Option<Checked<String>>,
    }

    fn read(text: &str) -> (Option<Pair>, Vec<String>) {
        let root = yaml::parse(text).unwrap();
        let report = Report::default();
        let pair = report.read::<Pair>(&root, &Path::Key(&Path::Root, "top"));
        let found = report.found.into_inner();
        (
            pair,
            found.iter().map(|d| d.display(None).to_string()).collect(),
        )
    }

    #[test]
    fn every_unknown_and_missing_key_is_reported_and_the_rest_still_read() {
        let (pair, found) = read("second: x\nthird: y\nfourth: [z]\n");
        assert_eq!(
            found,
            [
                "2:1: top.third: unknown key `third`; allowed keys here: first, second",
                "3:1: top.fourth: unknown key `fourth`; allowed keys here: first, second",
                "1:1: top.first: `first` is required",
            ]
        );
        let pair = pair.expect("a mapping is read even when some keys are wrong");
        assert!(pair.first.0.is_none());
        assert_eq!(pair.second.unwrap().0.as_deref(), Some("x"));
    }

    #[test]
    fn values_are_read_with_positions_and_wrong_ones_named_by_path() {
        let (pair, found) = read("first: a\nsecond: [b]\n");
        assert_eq!(found, ["2:9: top.second: expected a string, found a list"]);
        let first = pair.unwrap().first.0.unwrap();
        assert_eq!(
            (first.pos.line, first.pos.col, first.value.as_str()),
            (1, 8, "a")
        );
    }

    #[test]
    fn the_allowed_keys_are_the_fields() {
        assert_eq!(fields_of::<Pair>(), ["first", "second"]);
    }
}
