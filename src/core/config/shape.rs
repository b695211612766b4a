//! The shape of a schedule file: which keys each mapping has, and what each value must look like.
//!
//! Owns: one struct per mapping of the file (`RawSchedule`, `RawQuery`, `RawWorker`, …) — its
//! fields are the mapping's keys, in the order messages list them, and a field that is not an
//! `Option` is required (`de.rs` reports unknown and missing keys from them) — and the value
//! types with the checks that need nothing but the value: a non-empty text, a path without
//! control characters, a duration (with the unit a bare number most likely meant), a time of
//! day, a weekday, true or false, a command's argument list. What needs more than one value or
//! knowledge of the world (a cron expression, a zone, worker names, which keys go together, the
//! system: `stop.signal` is read as the name written, `SignalName`, and `validate.rs` maps it
//! with `stop_signal_named` for the `Os` it is given) is `validate.rs`'s.
//!
//! `queries` and `workers` are `Later`: each query and worker is read on its own, so that a large
//! file is not held twice.

use super::de::{kind_of_text, reported, Checked, Spanned};
use super::{IdleWhen, Os, Overlap, Rotation, StopSignal};
use chrono::{NaiveTime, Weekday};
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use std::fmt;
use std::marker::PhantomData;
use std::path::PathBuf;
use std::time::Duration;

/// A required value that may be wrong.
pub type Req<T> = Checked<T>;
/// An optional value that may be wrong.
pub type Opt<T> = Option<Checked<T>>;
/// An optional value whose key's position is wanted even when the value is wrong.
pub type At<T> = Option<Spanned<Checked<T>>>;

#[derive(Deserialize)]
pub struct RawSchedule {
    pub timezone: Opt<Spanned<Text<ZoneName>>>,
    pub lead: Opt<Window>,
    pub merge_within: Opt<Window>,
    #[allow(dead_code)] // read item by item: `validate.rs`
    pub queries: Req<Later>,
    #[allow(dead_code)]
    pub workers: Option<Later>,
    pub state_dir: At<PathText>,
    pub restart_at_boot: Opt<Bool>,
    pub log: Opt<RawLog>,
    pub alert: Opt<RawAlert>,
    pub metrics: Opt<RawMetrics>,
}

/// `metrics:`: where the daemon writes its Prometheus metrics.
#[derive(Deserialize)]
pub struct RawMetrics {
    pub textfile: Req<Spanned<PathText>>,
}

#[derive(Deserialize)]
pub struct RawAlert {
    pub command: Req<Command>,
}

#[derive(Deserialize)]
pub struct RawLog {
    pub file: Req<Spanned<PathText>>,
    pub rotation: Opt<Rotation>,
    pub keep: Opt<Keep>,
    pub level: Opt<LogLevel>,
    pub max_size: Opt<Size>,
}

/// A query's `log:`, a path or `{file, max_size, keep}` (`file` optional: the default path).
#[derive(Deserialize)]
pub struct RawQueryLog {
    pub file: Opt<Spanned<PathText>>,
    pub max_size: Opt<Size>,
    pub keep: Opt<Keep>,
}

/// A worker's `start.log:`, a path or `{file, max_size, keep}`.
#[derive(Deserialize)]
pub struct RawStartLog {
    pub file: Req<Spanned<PathText>>,
    pub max_size: Opt<Size>,
    pub keep: Opt<Keep>,
}

/// A log key that is a path (`log: worker.log`, as before there were limits) or a mapping `M`
/// with the path and the limits.
pub enum LogKey<M> {
    Path(PathText),
    Spec(M),
}

impl<'de, M: Deserialize<'de>> Deserialize<'de> for LogKey<M> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<M>(PhantomData<M>);
        impl<'de, M: Deserialize<'de>> Visitor<'de> for V<M> {
            type Value = LogKey<M>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a path or a mapping {file, max_size, keep}")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<LogKey<M>, E> {
                PathText::deserialize(de::value::StrDeserializer::<E>::new(s)).map(LogKey::Path)
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<LogKey<M>, A::Error> {
                M::deserialize(de::value::MapAccessDeserializer::new(map)).map(LogKey::Spec)
            }
        }
        let fields = super::de::fields_of::<M>();
        d.deserialize_struct("LogKey", fields, V(PhantomData))
    }
}

#[derive(Deserialize)]
pub struct RawQuery {
    pub name: Req<Spanned<Name>>,
    pub cron: At<Text<CronText>>,
    pub at: At<Times>,
    pub days: At<Days>,
    pub workers: Opt<List<Checked<Spanned<Text<WorkerName>>>, WorkerNames>>,
    pub command: Opt<Command>,
    pub workdir: At<PathText>,
    pub env: At<Env>,
    pub timeout: At<Dur<'h'>>,
    pub log: At<LogKey<RawQueryLog>>,
    pub overlap: At<Overlap>,
    pub ready_wait: At<Dur<'m'>>,
    pub catch_up: At<Dur<'h'>>,
}

#[derive(Deserialize)]
pub struct RawWorker {
    pub name: Req<Spanned<Name>>,
    pub workdir: Opt<Spanned<PathText>>,
    pub env: Opt<Env>,
    /// A Windows service run by the Service Control Manager, in place of `start` (and then
    /// `match` may be left out). `validate.rs` refuses it on other systems.
    pub service: Opt<Spanned<Name>>,
    #[serde(rename = "match")]
    pub matcher: At<RawMatch>,
    pub pidfile: Opt<Spanned<PathText>>,
    pub stop: At<RawStop>,
    pub start: At<RawStart>,
    pub ready: Opt<RawReady>,
    pub supervise: Opt<Supervise>,
    pub restart_before_queries: Opt<Bool>,
    pub busy: Opt<RawBusy>,
    pub max_memory: Opt<Size>,
    pub max_memory_every: Opt<Spanned<Dur<'m'>>>,
}

#[derive(Deserialize)]
pub struct RawMatch {
    pub image: Req<Text<Image>>,
    pub args_contain: Opt<Strings>,
}

#[derive(Deserialize)]
pub struct RawStop {
    pub command: At<Command>,
    pub signal: Option<Spanned<SignalName>>,
    pub grace: Opt<Spanned<Dur<'s'>>>,
    pub repeat: Opt<Spanned<Dur<'s'>>>,
}

#[derive(Deserialize)]
pub struct RawStart {
    pub command: Req<Command>,
    pub log: Opt<Spanned<LogKey<RawStartLog>>>,
}

#[derive(Deserialize)]
pub struct RawReady {
    pub command: Req<Command>,
    pub timeout: Opt<Dur<'s'>>,
    pub every: Opt<Spanned<Dur<'m'>>>,
    pub failures: Opt<Spanned<ReadyFailures>>,
}

#[derive(Deserialize)]
pub struct RawBusy {
    pub command: Req<Command>,
    pub idle_when: Opt<IdleWhen>,
    pub every: Opt<Spanned<Dur<'s'>>>,
}

#[derive(Deserialize)]
pub struct RawSupervise {
    pub backoff: Opt<Spanned<Dur<'s'>>>,
    pub max_backoff: Opt<Spanned<Dur<'s'>>>,
    pub give_up_after: Opt<GiveUp>,
    pub stable_after: Opt<Spanned<Dur<'m'>>>,
}

/// `supervise: true | false | {backoff, …}`.
pub enum Supervise {
    Bool(bool),
    Spec(RawSupervise),
}

impl<'de> Deserialize<'de> for Supervise {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Supervise;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("true, false or a mapping")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Supervise, E> {
                Bool::parse(s).map(Supervise::Bool).map_err(E::custom)
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Supervise, A::Error> {
                RawSupervise::deserialize(de::value::MapAccessDeserializer::new(map))
                    .map(Supervise::Spec)
            }
        }
        let fields = super::de::fields_of::<RawSupervise>();
        d.deserialize_struct("Supervise", fields, V)
    }
}

/// A key whose value is read on its own (each query and worker), not with its mapping.
pub struct Later;

impl<'de> Deserialize<'de> for Later {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        de::IgnoredAny::deserialize(d).map(|_| Later)
    }
}

/// What a text value is, for "expected …" messages.
pub trait What {
    const WHAT: &'static str;
}

macro_rules! what {
    ($($name:ident = $text:expr;)*) => {$(
        pub struct $name;
        impl What for $name {
            const WHAT: &'static str = $text;
        }
    )*};
}

what! {
    ZoneName = "an IANA time zone name such as Europe/London";
    CronText = "a crontab expression such as \"30 6 * * 1-5\"";
    WorkerName = "a worker name";
    WorkerNames = "a list of worker names";
    Image = "a process image name such as celery";
    AnyText = "a string";
}

/// A string visitor for the value types: `parse` gets the text as written.
struct Parse<T, F>(F, PhantomData<T>, &'static str);

impl<'de, T, F: FnOnce(&str) -> Result<T, String>> Visitor<'de> for Parse<T, F> {
    type Value = T;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.2)
    }
    fn visit_str<E: de::Error>(self, s: &str) -> Result<T, E> {
        (self.0)(s).map_err(E::custom)
    }
}

/// Reads a scalar as `T` through `parse`; anything else is "expected `what`, found …".
fn parse_str<'de, D: Deserializer<'de>, T>(
    d: D,
    what: &'static str,
    parse: impl FnOnce(&str) -> Result<T, String>,
) -> Result<T, D::Error> {
    d.deserialize_str(Parse(parse, PhantomData, what))
}

/// `s` if it is not blank, else "expected `what`, found …".
fn non_blank<'s>(s: &'s str, what: &str) -> Result<&'s str, String> {
    if s.trim().is_empty() {
        Err(format!("expected {what}, found {}", kind_of_text(s)))
    } else {
        Ok(s)
    }
}

/// A scalar for messages: quoted, or `empty`.
fn describe(s: &str) -> String {
    if s.is_empty() {
        "empty".into()
    } else {
        format!("`{s}`")
    }
}

/// A text that is not blank.
pub struct Text<W>(pub String, PhantomData<W>);

impl<'de, W: What> Deserialize<'de> for Text<W> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        parse_str(d, W::WHAT, |s| {
            non_blank(s, W::WHAT).map(|s| Text(s.to_string(), PhantomData))
        })
    }
}

/// A query's or worker's name: text without control or invisible formatting characters (a name
/// is printed in logs, alerts, `status` and file names).
pub struct Name(pub String);

impl<'de> Deserialize<'de> for Name {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        const WHAT: &str = "a non-empty name";
        parse_str(d, WHAT, |s| {
            let s = non_blank(s, WHAT)?;
            match crate::core::text::escape(s) {
                std::borrow::Cow::Owned(shown) => Err(format!(
                    "`{shown}` holds control or invisible characters; use letters, digits, `-` \
                     and `_`"
                )),
                std::borrow::Cow::Borrowed(_) => Ok(Name(s.to_string())),
            }
        })
    }
}

/// A path as written: not blank, no control characters.
pub struct PathText(pub PathBuf);

impl<'de> Deserialize<'de> for PathText {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        const WHAT: &str = "a path";
        parse_str(d, WHAT, |s| {
            let s = non_blank(s, WHAT)?;
            if has_control(s) {
                return Err(control_message(s));
            }
            Ok(PathText(PathBuf::from(s)))
        })
    }
}

/// A duration such as `15m`, `1h 30m`, `90s` or `0`. `UNIT` is what a bare number most likely
/// meant here (`s`, `m` or `h`), for the hint.
pub struct Dur<const UNIT: char>(pub Duration);

/// Parses a duration; a bare number gets a hint with `unit`.
fn duration(text: &str, unit: char) -> Result<Duration, String> {
    let text = non_blank(text, DURATION)?;
    match parse_duration(text) {
        Ok(d) => Ok(d),
        Err(_) if text.trim().bytes().all(|b| b.is_ascii_digit()) => {
            let n = text.trim();
            let word = match unit {
                's' => "seconds",
                'h' => "hours",
                _ => "minutes",
            };
            Err(format!(
                "`{n}` has no time unit; write `{n}{unit}` for {n} {word} (units: s, m, h, e.g. \
                 90s, 15m, 1h 30m)"
            ))
        }
        Err(why) => Err(format!(
            "`{text}` is not a duration ({why}); write e.g. 15m, 1h 30m, 90s or 0"
        )),
    }
}

const DURATION: &str = "a duration such as 15m, 1h 30m or 90s";

impl<'de, const UNIT: char> Deserialize<'de> for Dur<UNIT> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        parse_str(d, DURATION, |s| duration(s, UNIT).map(Dur))
    }
}

/// `lead` or `merge_within`: a duration of at most 24 hours, so that a restart stays within a
/// day of its query.
pub struct Window(pub Duration);

impl<'de> Deserialize<'de> for Window {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        parse_str(d, DURATION, |s| {
            let d = duration(s, 'm')?;
            if d > Duration::from_secs(24 * 3600) {
                return Err(format!("`{s}` is too long; at most 24h is allowed"));
            }
            Ok(Window(d))
        })
    }
}

/// `true`/`false` (also `yes`/`no`, `on`/`off`, any case).
pub struct Bool(pub bool);

impl Bool {
    fn parse(s: &str) -> Result<bool, String> {
        match s.to_ascii_lowercase().as_str() {
            "true" | "yes" | "on" => Ok(true),
            "false" | "no" | "off" => Ok(false),
            _ => Err(format!("expected true or false, found {}", describe(s))),
        }
    }
}

impl<'de> Deserialize<'de> for Bool {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        parse_str(d, "true or false", |s| Bool::parse(s).map(Bool))
    }
}

/// One of a few words.
fn one_of<T: Copy>(s: &str, words: &[(&str, T)], expected: &str) -> Result<T, String> {
    words
        .iter()
        .find(|(w, _)| *w == s)
        .map(|(_, v)| *v)
        .ok_or_else(|| format!("expected {expected}, found {}", describe(s)))
}

impl<'de> Deserialize<'de> for Rotation {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        const WHAT: &str = "daily, hourly or never";
        let words = [
            ("daily", Rotation::Daily),
            ("hourly", Rotation::Hourly),
            ("never", Rotation::Never),
        ];
        parse_str(d, WHAT, |s| {
            one_of(&s.to_ascii_lowercase(), &words, WHAT)
                .map_err(|_| format!("expected {WHAT}, found {}", describe(s)))
        })
    }
}

impl<'de> Deserialize<'de> for Overlap {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        const WHAT: &str = "skip or wait";
        let words = [("skip", Overlap::Skip), ("wait", Overlap::Wait)];
        parse_str(d, WHAT, |s| one_of(s, &words, WHAT))
    }
}

impl<'de> Deserialize<'de> for IdleWhen {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        const WHAT: &str = "exit-zero or celery-active-empty";
        let words = [
            ("exit-zero", IdleWhen::ExitZero),
            ("celery-active-empty", IdleWhen::CeleryActiveEmpty),
        ];
        parse_str(d, WHAT, |s| one_of(s, &words, WHAT))
    }
}

/// `stop.signal` as written. Which names are signals depends on the system the schedule is
/// checked for, which a value read alone does not know: `validate.rs` maps it with
/// `stop_signal_named` (or `not_a_signal`), at this value's position.
pub enum SignalName {
    /// A scalar, as written.
    Text(String),
    /// Not a scalar: what it is ("a list", "a mapping").
    Not(&'static str),
}

impl<'de> Deserialize<'de> for SignalName {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = SignalName;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a stop signal")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<SignalName, E> {
                Ok(SignalName::Text(s.to_string()))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, _: A) -> Result<SignalName, A::Error> {
                Ok(SignalName::Not("a list"))
            }
            fn visit_map<A: MapAccess<'de>>(self, _: A) -> Result<SignalName, A::Error> {
                Ok(SignalName::Not("a mapping"))
            }
        }
        d.deserialize_any(V)
    }
}

/// The stop signals allowed on Windows (console events) or elsewhere (Unix signals).
fn signal_names(os: Os) -> &'static str {
    match os {
        Os::Windows => "CTRL_C or CTRL_BREAK",
        Os::Unix => "TERM, INT, QUIT or HUP",
    }
}

/// Why a `stop.signal` that is not a scalar (`kind`) is refused on `os`.
pub(super) fn not_a_signal(kind: &str, os: Os) -> String {
    format!("expected {}, found {kind}", signal_names(os))
}

/// `stop.signal` as written (any case, `SIG` before a Unix name allowed), for Windows or for
/// Unix: a name of the other system is refused, naming the ones `os` has.
pub(super) fn stop_signal_named(s: &str, os: Os) -> Result<StopSignal, String> {
    let unix = [
        ("TERM", StopSignal::Term),
        ("INT", StopSignal::Int),
        ("QUIT", StopSignal::Quit),
        ("HUP", StopSignal::Hup),
    ];
    let console = [
        ("CTRL_C", StopSignal::CtrlC),
        ("CTRL_BREAK", StopSignal::CtrlBreak),
    ];
    let upper = s.to_ascii_uppercase();
    let unix_name = upper.trim_start_matches("SIG");
    let (own, other) = match os {
        Os::Windows => (one_of(&upper, &console, ""), one_of(unix_name, &unix, "")),
        Os::Unix => (one_of(unix_name, &unix, ""), one_of(&upper, &console, "")),
    };
    match (own, other) {
        (Ok(signal), _) => Ok(signal),
        (Err(_), Ok(_)) if os == Os::Windows => Err(format!(
            "`{s}` is a Unix signal; on Windows use CTRL_C (a graceful stop for Python, Huey \
             and Celery) or CTRL_BREAK (ends a Python worker at once)"
        )),
        (Err(_), Ok(_)) => Err(format!(
            "`{s}` is a Windows console event; on this system use TERM, INT, QUIT or HUP"
        )),
        (Err(_), Err(_)) => Err(format!(
            "expected {}, found {}",
            signal_names(os),
            describe(s)
        )),
    }
}

/// A count of at least 1; `W` names what is counted.
pub struct Count<T, W>(pub T, PhantomData<W>);

what! {
    Files = "a number of files, at least 1";
    Failures = "a number of failures, at least 1";
}

pub type Keep = Count<usize, Files>;
pub type GiveUp = Count<u32, Failures>;
pub type ReadyFailures = Count<u32, Failures>;

/// A size in bytes — a log's `max_size`, a worker's `max_memory` — such as `50MB`, `2GB` or
/// `1.5G`. One rule for both: the units are binary, as Windows Explorer shows a file's size
/// and Task Manager, `ps` and `top` a process's memory: `KB`/`K`/`KiB` is 1024 bytes, `MB`
/// 1024², `GB` 1024³, `TB` 1024⁴; `B` is bytes. A bare number has no unit and is refused
/// (bytes are almost never meant).
pub struct Size(pub u64);

const SIZE: &str = "a size such as 50MB or 2GB";

/// Parses a size (see `Size`).
pub fn parse_size(text: &str) -> Result<u64, String> {
    let t = non_blank(text, SIZE)?.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = (&t[..split], t[split..].trim());
    let shift = match unit.to_ascii_uppercase().as_str() {
        "" if !number.is_empty() => {
            return Err(format!(
                "`{t}` has no unit; write e.g. `{t}MB` or `{t}GB` (units: B, KB, MB, GB, TB; \
                 1KB = 1024 bytes)"
            ))
        }
        "B" => 0,
        "K" | "KB" | "KIB" => 10,
        "M" | "MB" | "MIB" => 20,
        "G" | "GB" | "GIB" => 30,
        "T" | "TB" | "TIB" => 40,
        _ => {
            return Err(format!(
                "`{t}` is not a size; write e.g. 50MB or 2GB (units: B, KB, MB, GB, TB; \
                 1KB = 1024 bytes)"
            ))
        }
    };
    let n: f64 = number
        .parse()
        .map_err(|_| format!("`{t}` is not a size; write e.g. 50MB or 2GB"))?;
    let bytes = n * (1u64 << shift) as f64;
    if !(bytes >= 1.0 && bytes < u64::MAX as f64) {
        return Err(format!(
            "`{t}` must be more than 0 bytes and less than 16EB"
        ));
    }
    Ok(bytes as u64)
}

impl<'de> Deserialize<'de> for Size {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        parse_str(d, SIZE, |s| parse_size(s).map(Size))
    }
}

impl<'de, T: std::str::FromStr + PartialOrd + From<u8>, W: What> Deserialize<'de> for Count<T, W> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        parse_str(d, W::WHAT, |s| match s.parse::<T>() {
            Ok(n) if n >= T::from(1) => Ok(Count(n, PhantomData)),
            _ => Err(format!("expected {}, found {}", W::WHAT, describe(s))),
        })
    }
}

/// `log.level`: a tracing filter such as `info` or `pacs_warden=debug`.
pub struct LogLevel(pub String);

impl<'de> Deserialize<'de> for LogLevel {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        const WHAT: &str = "a level such as info or debug";
        parse_str(d, WHAT, |s| {
            let l = non_blank(s, WHAT)?;
            super::parse_log_filter(l).map_err(|e| {
                format!(
                    "`{l}` is not a log level or filter ({e}); use error, warn, info, debug or \
                     trace"
                )
            })?;
            Ok(LogLevel(l.to_string()))
        })
    }
}

/// A list whose "expected …" message is `W`'s.
pub struct List<T, W>(pub Vec<T>, PhantomData<W>);

impl<'de, T: Deserialize<'de>, W: What> Deserialize<'de> for List<T, W> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T, W>(PhantomData<(T, W)>);
        impl<'de, T: Deserialize<'de>, W: What> Visitor<'de> for V<T, W> {
            type Value = List<T, W>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(W::WHAT)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::new();
                while let Some(item) = seq.next_element()? {
                    out.push(item);
                }
                Ok(List(out, PhantomData))
            }
        }
        d.deserialize_seq(V(PhantomData))
    }
}

/// Reads every item of a list as `Checked<T>`; the list is wrong when any item is.
fn all_items<'de, A: SeqAccess<'de>, T: Deserialize<'de>>(
    mut seq: A,
) -> Result<(Vec<T>, usize), A::Error> {
    let (mut out, mut count, mut ok) = (Vec::new(), 0, true);
    while let Some(Checked(item)) = seq.next_element::<Checked<T>>()? {
        count += 1;
        match item {
            Some(v) => out.push(v),
            None => ok = false,
        }
    }
    if ok {
        Ok((out, count))
    } else {
        Err(reported())
    }
}

/// An argument list: a non-empty list of strings, run directly (never through a shell). An item
/// that is not a string is `None` (reported); what depends on an item's place (the program) is
/// checked by `validate.rs`.
pub struct Command(pub Vec<Option<Spanned<String>>>);

impl<'de> Deserialize<'de> for Command {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Command;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a list of arguments")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Command, E> {
                Err(E::custom(format!(
                    "expected a list of arguments such as [celery, -A, openremproject, …], found \
                     the string `{s}`; commands are run directly, never through a shell, so \
                     write each argument as its own list item"
                )))
            }
            fn visit_map<A: MapAccess<'de>>(self, _: A) -> Result<Command, A::Error> {
                Err(de::Error::custom(
                    "expected a list of arguments, found a mapping",
                ))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Command, A::Error> {
                let mut args = Vec::new();
                while let Some(Checked(arg)) = seq.next_element::<Checked<Spanned<Arg>>>()? {
                    args.push(arg.map(|a| Spanned {
                        pos: a.pos,
                        value: a.value.0,
                    }));
                }
                if args.is_empty() {
                    return Err(de::Error::custom(
                        "the command is empty; give the program and its arguments",
                    ));
                }
                Ok(Command(args))
            }
        }
        d.deserialize_any(V)
    }
}

/// One argument of a command.
struct Arg(String);

impl<'de> Deserialize<'de> for Arg {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Arg;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an argument string")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Arg, E> {
                Ok(Arg(s.to_string()))
            }
            // YAML reads an unquoted `{date-1d}` as a mapping.
            fn visit_map<A: MapAccess<'de>>(self, _: A) -> Result<Arg, A::Error> {
                Err(de::Error::custom(
                    "expected an argument string, found a mapping; quote an argument that \
                     starts with `{`, such as a placeholder: \"{date-1d}\"",
                ))
            }
        }
        d.deserialize_any(V)
    }
}

/// `env:`, a mapping of NAME: value. Values are checked for what looks like a mistyped Windows
/// path by `validate.rs`.
pub struct Env(pub Vec<(String, Spanned<String>)>);

impl<'de> Deserialize<'de> for Env {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Env;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a mapping of NAME: value")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Env, A::Error> {
                let (mut out, mut ok) = (Vec::new(), true);
                while let Some(Checked(name)) = map.next_key::<Checked<EnvName>>()? {
                    let Checked(value) = map.next_value::<Checked<Spanned<EnvValue>>>()?;
                    match (name, value) {
                        (Some(n), Some(v)) => out.push((
                            n.0,
                            Spanned {
                                pos: v.pos,
                                value: v.value.0,
                            },
                        )),
                        _ => ok = false,
                    }
                }
                if ok {
                    Ok(Env(out))
                } else {
                    Err(reported())
                }
            }
        }
        d.deserialize_map(V)
    }
}

struct EnvName(String);

impl<'de> Deserialize<'de> for EnvName {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        parse_str(d, "a name", |s| {
            if s.is_empty() || s.contains('=') {
                Err("an environment variable name must be non-empty and without `=`".into())
            } else {
                Ok(EnvName(s.to_string()))
            }
        })
    }
}

struct EnvValue(String);

impl<'de> Deserialize<'de> for EnvValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        parse_str(d, "a string value", |s| Ok(EnvValue(s.to_string())))
    }
}

/// One string or a list of strings (`args_contain`); the first wrong item is reported.
pub struct Strings(pub Vec<String>);

impl<'de> Deserialize<'de> for Strings {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Strings;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string or a list of strings")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Strings, E> {
                if s.is_empty() {
                    return Err(E::custom(
                        "expected a string or a list of strings, found empty",
                    ));
                }
                Ok(Strings(vec![s.to_string()]))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Strings, A::Error> {
                let mut out = Vec::new();
                while let Some(Text(s, _)) = seq.next_element::<Text<AnyText>>()? {
                    out.push(s);
                }
                Ok(Strings(out))
            }
            fn visit_map<A: MapAccess<'de>>(self, _: A) -> Result<Strings, A::Error> {
                Err(de::Error::custom(
                    "expected a string or a list of strings, found a mapping",
                ))
            }
        }
        d.deserialize_any(V)
    }
}

/// `at:`, one time of day or a list of them; sorted, without repeats.
pub struct Times(pub Vec<NaiveTime>);

impl<'de> Deserialize<'de> for Times {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        const WHAT: &str = "a list of times such as [\"06:30\", \"18:00:30\"]";
        impl<'de> Visitor<'de> for V {
            type Value = Times;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(WHAT)
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Times, E> {
                time_of_day(s).map(|t| Times(vec![t])).map_err(E::custom)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Times, A::Error> {
                let (mut times, count) = all_items::<_, TimeOfDay>(seq)?;
                if count == 0 {
                    return Err(de::Error::custom(format!("expected {WHAT}, found a list")));
                }
                let mut times: Vec<NaiveTime> = times.drain(..).map(|t| t.0).collect();
                times.sort();
                times.dedup();
                Ok(Times(times))
            }
            fn visit_map<A: MapAccess<'de>>(self, _: A) -> Result<Times, A::Error> {
                Err(de::Error::custom(format!(
                    "expected {WHAT}, found a mapping"
                )))
            }
        }
        d.deserialize_any(V)
    }
}

struct TimeOfDay(NaiveTime);

fn time_of_day(s: &str) -> Result<NaiveTime, String> {
    parse_time_of_day(s).ok_or_else(|| {
        format!(
            "`{s}` is not a time of day; write HH:MM or HH:MM:SS in 24-hour time, 00:00 to \
             23:59:59"
        )
    })
}

impl<'de> Deserialize<'de> for TimeOfDay {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        scalar_or(
            d,
            "a time of day",
            |s| time_of_day(s).map(TimeOfDay),
            |_| time_of_day("").map(TimeOfDay),
        )
    }
}

/// Reads a scalar through `parse`, and a list or mapping through `other` (given its kind), for
/// the items whose message names what was found in their own words.
fn scalar_or<'de, D: Deserializer<'de>, T>(
    d: D,
    what: &'static str,
    parse: fn(&str) -> Result<T, String>,
    other: fn(&str) -> Result<T, String>,
) -> Result<T, D::Error> {
    struct V<T>(
        &'static str,
        fn(&str) -> Result<T, String>,
        fn(&str) -> Result<T, String>,
    );
    impl<'de, T> Visitor<'de> for V<T> {
        type Value = T;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(self.0)
        }
        fn visit_str<E: de::Error>(self, s: &str) -> Result<T, E> {
            (self.1)(s).map_err(E::custom)
        }
        fn visit_seq<A: SeqAccess<'de>>(self, _: A) -> Result<T, A::Error> {
            (self.2)("a list").map_err(de::Error::custom)
        }
        fn visit_map<A: MapAccess<'de>>(self, _: A) -> Result<T, A::Error> {
            (self.2)("a mapping").map_err(de::Error::custom)
        }
    }
    d.deserialize_any(V(what, parse, other))
}

/// `days:`, a non-empty list of weekdays.
pub struct Days(pub super::Days);

impl<'de> Deserialize<'de> for Days {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Days;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a list of weekdays such as [mon, wed, fri]")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Days, A::Error> {
                let (days, count) = all_items::<_, Day>(seq)?;
                if count == 0 {
                    return Err(de::Error::custom(
                        "the list of days is empty; leave `days` out to mean every day",
                    ));
                }
                let mut set = super::Days::empty();
                for d in days {
                    set.insert(d.0);
                }
                Ok(Days(set))
            }
        }
        d.deserialize_seq(V)
    }
}

struct Day(Weekday);

fn weekday(s: &str) -> Result<Day, String> {
    parse_weekday(s).map(Day).ok_or_else(|| {
        format!("`{s}` is not a weekday; allowed: mon, tue, wed, thu, fri, sat, sun")
    })
}

impl<'de> Deserialize<'de> for Day {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        scalar_or(d, "a weekday", weekday, weekday)
    }
}

/// A control character (C0, DEL, C1) or a Unicode line or paragraph separator: what YAML's
/// double-quoted escapes (`\n`, `\t`, `\a`, `\N`, `\L`, `\P`, …) produce.
pub fn has_control(s: &str) -> bool {
    s.chars()
        .any(|c| c.is_control() || c == '\u{2028}' || c == '\u{2029}')
}

/// `E:…` or with a backslash: a Windows path.
pub fn looks_like_windows_path(s: &str) -> bool {
    let b = s.as_bytes();
    s.contains('\\') || (b.len() >= 2 && b[0].is_ascii_alphabetic() && b[1] == b':')
}

/// Why a path with control characters is wrong, with the text as it was most likely typed.
pub fn control_message(s: &str) -> String {
    let mut typed = String::new();
    let mut names: Vec<&str> = Vec::new();
    for c in s.chars() {
        let (escape, name) = match c {
            '\n' => ("\\n".to_string(), "a newline"),
            '\t' => ("\\t".to_string(), "a tab"),
            '\r' => ("\\r".to_string(), "a carriage return"),
            '\u{7}' => ("\\a".to_string(), "a bell character"),
            '\u{8}' => ("\\b".to_string(), "a backspace"),
            '\u{b}' => ("\\v".to_string(), "a vertical tab"),
            '\u{c}' => ("\\f".to_string(), "a form feed"),
            '\0' => ("\\0".to_string(), "a NUL character"),
            '\u{1b}' => ("\\e".to_string(), "an escape character"),
            '\u{85}' => ("\\N".to_string(), "a next-line character"),
            '\u{2028}' => ("\\L".to_string(), "a line separator"),
            '\u{2029}' => ("\\P".to_string(), "a paragraph separator"),
            c if c.is_control() => (format!("\\x{:02x}", c as u32), "a control character"),
            c => {
                typed.push(c);
                continue;
            }
        };
        typed.push_str(&escape);
        if !names.contains(&name) {
            names.push(name);
        }
    }
    let list = match names.as_slice() {
        [one] => one.to_string(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
        [] => String::new(),
    };
    format!(
        "\"{typed}\" became a path with {list}: in double quotes, YAML reads backslashes as \
         escapes; write Windows paths in single quotes: '{}'",
        typed.replace('\'', "''")
    )
}

/// Parses a humantime duration; a bare `0` is zero.
fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    if text == "0" {
        return Ok(Duration::ZERO);
    }
    humantime::parse_duration(text).map_err(|e| e.to_string())
}

fn parse_time_of_day(text: &str) -> Option<NaiveTime> {
    let parts: Vec<&str> = text.trim().split(':').collect();
    let num = |s: &str, max: u32| -> Option<u32> {
        ((1..=2).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse().ok())
            .flatten()
            .filter(|v| *v <= max)
    };
    let (h, m, s) = match parts.as_slice() {
        [h, m] if m.len() == 2 => (num(h, 23)?, num(m, 59)?, 0),
        [h, m, s] if m.len() == 2 && s.len() == 2 => (num(h, 23)?, num(m, 59)?, num(s, 59)?),
        _ => return None,
    };
    NaiveTime::from_hms_opt(h, m, s)
}

fn parse_weekday(text: &str) -> Option<Weekday> {
    let lower = text.trim().to_ascii_lowercase();
    let all = [
        ("mon", "monday", Weekday::Mon),
        ("tue", "tuesday", Weekday::Tue),
        ("wed", "wednesday", Weekday::Wed),
        ("thu", "thursday", Weekday::Thu),
        ("fri", "friday", Weekday::Fri),
        ("sat", "saturday", Weekday::Sat),
        ("sun", "sunday", Weekday::Sun),
    ];
    all.iter()
        .find(|(short, long, _)| lower == *short || lower == *long)
        .map(|(_, _, d)| *d)
}

#[cfg(test)]
mod tests {
    use super::{parse_size, stop_signal_named, Os, StopSignal};

    #[test]
    fn sizes_are_binary_with_a_hint_for_a_bare_number() {
        // One rule for log sizes and memory, as Windows Explorer and Task Manager count.
        assert_eq!(parse_size("50MB"), Ok(50 << 20));
        assert_eq!(parse_size(" 50 mb "), Ok(50 << 20));
        assert_eq!(parse_size("2GiB"), Ok(2 << 30));
        assert_eq!(parse_size("2G"), Ok(2 << 30));
        assert_eq!(parse_size("1KB"), Ok(1024));
        assert_eq!(parse_size("1.5GB"), Ok(3 << 29));
        assert_eq!(parse_size("300B"), Ok(300));
        assert_eq!(
            parse_size("50").unwrap_err(),
            "`50` has no unit; write e.g. `50MB` or `50GB` (units: B, KB, MB, GB, TB; 1KB = \
             1024 bytes)"
        );
        assert!(parse_size("5 MBs").unwrap_err().contains("not a size"));
        assert!(parse_size("0KB").unwrap_err().contains("more than 0 bytes"));
        assert!(parse_size("MB").unwrap_err().contains("not a size"));
    }

    #[test]
    fn each_system_takes_its_own_stop_signals_and_names_them_for_the_other() {
        assert_eq!(stop_signal_named("SIGINT", Os::Unix), Ok(StopSignal::Int));
        assert_eq!(stop_signal_named("term", Os::Unix), Ok(StopSignal::Term));
        assert_eq!(
            stop_signal_named("CTRL_C", Os::Windows),
            Ok(StopSignal::CtrlC)
        );
        assert_eq!(
            stop_signal_named("ctrl_break", Os::Windows),
            Ok(StopSignal::CtrlBreak)
        );
        assert_eq!(
            stop_signal_named("CTRL_C", Os::Unix).unwrap_err(),
            "`CTRL_C` is a Windows console event; on this system use TERM, INT, QUIT or HUP"
        );
        assert_eq!(
            stop_signal_named("INT", Os::Windows).unwrap_err(),
            "`INT` is a Unix signal; on Windows use CTRL_C (a graceful stop for Python, Huey \
             and Celery) or CTRL_BREAK (ends a Python worker at once)"
        );
        assert_eq!(
            stop_signal_named("KILL", Os::Windows).unwrap_err(),
            "expected CTRL_C or CTRL_BREAK, found `KILL`"
        );
        assert_eq!(
            stop_signal_named("CTRL-C", Os::Unix).unwrap_err(),
            "expected TERM, INT, QUIT or HUP, found `CTRL-C`"
        );
    }
}
