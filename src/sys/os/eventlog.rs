//! The Windows Event Log: warnings, errors and alert events in the Application log, under the
//! source `pacs-warden`. Elsewhere every call does nothing, so callers need no `cfg`.
//!
//! - `layer`: a tracing layer that writes each warning and error (not info) as one event
//!   (IDs 2000 and 3000), its text the log line's message and fields.
//! - `alert`: an alert event (one ID per kind); `lines`: any kind with several lines of text
//!   (the `check` messages of a schedule a service cannot start with).
//! - `register`/`unregister`: the source's registry key (`service install`/`uninstall`), whose
//!   `EventMessageFile` is pacs-warden.exe: its message table (built by build.rs from
//!   `eventlog_ids.rs`) has the message `%1` for every ID, so Event Viewer shows the text as is.
//!
//! Text is escaped (`crate::core::text::escape`: no control characters; line breaks only where a
//! multi-line event puts them, as CR LF) and cut to the Event Log's 31,839 characters. What
//! goes to the log passes through a `Sink`: `System` (`ReportEventW`) in the daemon, a
//! recording sink in the tests (Wine keeps no event log to read back).

use std::path::Path;
use tracing::field::{Field, Visit};
use tracing_subscriber::layer::Context;
use tracing_subscriber::Layer;

include!("eventlog_ids.rs");

/// The event source, under HKLM\SYSTEM\CurrentControlSet\Services\EventLog\Application.
pub const SOURCE: &str = "pacs-warden";
/// The registry key of the source, under HKEY_LOCAL_MACHINE.
pub const KEY: &str = r"SYSTEM\CurrentControlSet\Services\EventLog\Application\pacs-warden";
/// The longest string one event may carry (UTF-16 units).
pub const MAX_UNITS: usize = 31_839;

/// An event's type, as `ReportEventW` takes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Error = 1,
    Warning = 2,
    Information = 4,
}

/// One event: its ID, type and text (escaped, capped, lines joined by CR LF).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub id: u32,
    pub level: Level,
    pub text: String,
}

/// Where events go.
pub trait Sink: Send + Sync + 'static {
    fn write(&self, event: &Event);
}

/// The Application log (`ReportEventW`) on Windows; nothing elsewhere.
#[derive(Debug, Clone, Copy, Default)]
pub struct System;

impl Sink for System {
    fn write(&self, event: &Event) {
        #[cfg(test)]
        if RECORDING
            .with(|r| r.borrow_mut().as_mut().map(|v| v.push(event.clone())))
            .is_some()
        {
            return;
        }
        let _ = imp::write(event);
    }
}

#[cfg(test)]
thread_local! {
    static RECORDING: std::cell::RefCell<Option<Vec<Event>>> = const { std::cell::RefCell::new(None) };
}

/// Runs `f` with this thread's events to `System` recorded instead of written; returns them.
#[cfg(test)]
pub(crate) fn recorded(f: impl FnOnce()) -> Vec<Event> {
    RECORDING.with(|r| *r.borrow_mut() = Some(Vec::new()));
    f();
    RECORDING.with(|r| r.borrow_mut().take().unwrap_or_default())
}

/// Every event ID, in the order of `eventlog_ids.rs`.
pub fn ids() -> Vec<u32> {
    EVENT_IDS.iter().map(|r| r.0).collect()
}

/// The ID and type of `kind` (see `eventlog_ids.rs`); an unknown kind is a plain error (3000).
pub fn id_of(kind: &str) -> (u32, Level) {
    let (id, level) = EVENT_IDS
        .iter()
        .find(|(_, _, k)| *k == kind)
        .map(|(id, level, _)| (*id, *level))
        .unwrap_or((3000, 1));
    let level = match level {
        4 => Level::Information,
        2 => Level::Warning,
        _ => Level::Error,
    };
    (id, level)
}

/// The event `kind` with `lines` as its text, each escaped, joined by CR LF.
pub fn event(kind: &str, lines: &[&str]) -> Event {
    let (id, level) = id_of(kind);
    let text: Vec<String> = lines
        .iter()
        .map(|l| crate::core::text::escape(l).into_owned())
        .collect();
    Event {
        id,
        level,
        text: cap(text.join("\r\n")),
    }
}

/// `text` cut to `MAX_UNITS` UTF-16 units, ending in `…` when cut.
fn cap(text: String) -> String {
    if text.encode_utf16().count() <= MAX_UNITS {
        return text;
    }
    let mut units = 0;
    let mut out = String::new();
    for c in text.chars() {
        units += c.len_utf16();
        if units > MAX_UNITS - 1 {
            break;
        }
        out.push(c);
    }
    out.push('…');
    out
}

/// The event for the alert `kind` about `worker`.
pub fn alert_event(kind: &str, worker: Option<&str>, message: &str) -> Event {
    let line = match worker {
        Some(w) => format!("{kind}: worker {w}: {message}"),
        None => format!("{kind}: {message}"),
    };
    event(kind, &[&line])
}

/// Writes the alert `kind` to the Event Log.
pub fn alert(kind: &str, worker: Option<&str>, message: &str) {
    System.write(&alert_event(kind, worker, message));
}

/// Writes the event `kind` with these lines to the Event Log.
pub fn lines(kind: &str, lines: &[&str]) {
    System.write(&event(kind, lines));
}

/// The tracing layer writing warnings and errors to `sink`.
pub struct EventLogLayer<S> {
    sink: S,
}

/// The tracing layer writing warnings and errors to the Event Log.
pub fn layer() -> EventLogLayer<System> {
    EventLogLayer { sink: System }
}

/// The tracing layer writing warnings and errors to `sink` (tests).
pub fn layer_to<S: Sink>(sink: S) -> EventLogLayer<S> {
    EventLogLayer { sink }
}

/// A log event's message, then its other fields as `name=value`, as the log file shows them.
#[derive(Default)]
struct Text {
    message: String,
    fields: String,
}

impl Visit for Text {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        use std::fmt::Write;
        if field.name() == "message" {
            let _ = write!(self.message, "{value:?}");
        } else {
            let _ = write!(self.fields, " {}={value:?}", field.name());
        }
    }
}

impl<S: Sink, Sub: tracing::Subscriber> Layer<Sub> for EventLogLayer<S> {
    fn on_event(&self, event: &tracing::Event<'_>, _ctx: Context<'_, Sub>) {
        let kind = match *event.metadata().level() {
            tracing::Level::ERROR => "error",
            tracing::Level::WARN => "warning",
            _ => return,
        };
        let mut text = Text::default();
        event.record(&mut text);
        let line = format!("{}{}", text.message, text.fields);
        self.sink.write(&self::event(kind, &[line.trim_start()]));
    }
}

/// Registers the source: its key with `EventMessageFile` = `exe` and `TypesSupported` = 7
/// (error, warning, information). Needs administrator rights.
pub fn register(exe: &Path) -> std::io::Result<()> {
    imp::register(exe)
}

/// Removes the source's key (nothing to do when it is missing).
pub fn unregister() -> std::io::Result<()> {
    imp::unregister()
}

#[cfg(windows)]
mod imp {
    use super::{Event, KEY, SOURCE};
    use std::io;
    use std::path::Path;
    use std::sync::OnceLock;
    use windows_sys::Win32::Foundation::{ERROR_FILE_NOT_FOUND, ERROR_SUCCESS};
    use windows_sys::Win32::System::EventLog::{RegisterEventSourceW, ReportEventW};
    use windows_sys::Win32::System::Registry::{
        RegCloseKey, RegCreateKeyExW, RegDeleteKeyW, RegSetValueExW, HKEY, HKEY_LOCAL_MACHINE,
        KEY_SET_VALUE, REG_DWORD, REG_OPTION_NON_VOLATILE, REG_SZ,
    };

    fn wide(s: &str) -> Vec<u16> {
        s.encode_utf16().chain(std::iter::once(0)).collect()
    }

    /// The source handle, opened once for the process (kept open until it exits).
    fn handle() -> Option<usize> {
        static HANDLE: OnceLock<usize> = OnceLock::new();
        let h = *HANDLE.get_or_init(|| {
            let source = wide(SOURCE);
            // SAFETY: a valid NUL-terminated string; a null server is the local computer.
            unsafe { RegisterEventSourceW(std::ptr::null(), source.as_ptr()) as usize }
        });
        (h != 0).then_some(h)
    }

    pub fn write(event: &Event) -> io::Result<()> {
        let h = handle().ok_or_else(io::Error::last_os_error)?;
        let text = wide(&event.text);
        let strings = [text.as_ptr()];
        // SAFETY: the handle is open; one valid NUL-terminated string; no SID, no data.
        let ok = unsafe {
            ReportEventW(
                h as _,
                event.level as u16,
                0,
                event.id,
                std::ptr::null_mut(),
                1,
                0,
                strings.as_ptr(),
                std::ptr::null(),
            )
        };
        if ok == 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    fn check(what: &str, code: u32) -> io::Result<()> {
        if code == ERROR_SUCCESS {
            return Ok(());
        }
        let e = io::Error::from_raw_os_error(code as i32);
        Err(io::Error::new(e.kind(), format!("{what}: {e}")))
    }

    pub fn register(exe: &Path) -> io::Result<()> {
        let what = format!(r"cannot register the event source HKLM\{KEY}");
        let key = wide(KEY);
        let mut hkey: HKEY = std::ptr::null_mut();
        // SAFETY: valid strings and out-pointer.
        check(&what, unsafe {
            RegCreateKeyExW(
                HKEY_LOCAL_MACHINE,
                key.as_ptr(),
                0,
                std::ptr::null(),
                REG_OPTION_NON_VOLATILE,
                KEY_SET_VALUE,
                std::ptr::null(),
                &mut hkey,
                std::ptr::null_mut(),
            )
        })?;
        let file = wide(&exe.to_string_lossy());
        let types: u32 = 7;
        let name_file = wide("EventMessageFile");
        let name_types = wide("TypesSupported");
        // SAFETY: an open key; each buffer is as long as the size given.
        let set = unsafe {
            let code = RegSetValueExW(
                hkey,
                name_file.as_ptr(),
                0,
                REG_SZ,
                file.as_ptr().cast(),
                (file.len() * 2) as u32,
            );
            if code == ERROR_SUCCESS {
                RegSetValueExW(
                    hkey,
                    name_types.as_ptr(),
                    0,
                    REG_DWORD,
                    (&types as *const u32).cast(),
                    4,
                )
            } else {
                code
            }
        };
        // SAFETY: the key opened above.
        unsafe { RegCloseKey(hkey) };
        check(&what, set)
    }

    pub fn unregister() -> io::Result<()> {
        let key = wide(KEY);
        // SAFETY: a valid string.
        let code = unsafe { RegDeleteKeyW(HKEY_LOCAL_MACHINE, key.as_ptr()) };
        if code == ERROR_FILE_NOT_FOUND {
            return Ok(());
        }
        check(&format!(r"cannot remove the event source HKLM\{KEY}"), code)
    }
}

#[cfg(not(windows))]
mod imp {
    use super::Event;
    use std::io;
    use std::path::Path;

    pub fn write(_event: &Event) -> io::Result<()> {
        Ok(())
    }

    pub fn register(_exe: &Path) -> io::Result<()> {
        Ok(())
    }

    pub fn unregister() -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};
    use tracing_subscriber::layer::SubscriberExt;

    #[derive(Clone, Default)]
    struct Recording(Arc<Mutex<Vec<Event>>>);

    impl Sink for Recording {
        fn write(&self, event: &Event) {
            self.0.lock().unwrap().push(event.clone());
        }
    }

    /// Warnings and errors reach the sink with their IDs and types, as the log line's message
    /// and fields, escaped; info and debug do not.
    #[test]
    fn warnings_and_errors_become_events() {
        let sink = Recording::default();
        let subscriber = tracing_subscriber::registry().with(layer_to(sink.clone()));
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!("started");
            tracing::debug!("detail");
            tracing::warn!(worker = %"default", pid = 42, "the worker is not ready");
            tracing::error!(stderr = %"line 1\nline 2\u{1b}[31m", "the alert command failed");
        });
        let events = sink.0.lock().unwrap().clone();
        assert_eq!(
            events,
            [
                Event {
                    id: 2000,
                    level: Level::Warning,
                    text: "the worker is not ready worker=default pid=42".into()
                },
                Event {
                    id: 3000,
                    level: Level::Error,
                    text: r"the alert command failed stderr=line 1\nline 2\u{1b}[31m".into()
                },
            ]
        );
    }

    /// Each alert kind has its own ID and type; the text names the kind and the worker.
    #[test]
    fn alerts_have_one_id_per_kind() {
        let e = alert_event("restart_failed", Some("default"), "exited with 1\r\n");
        assert_eq!(
            e,
            Event {
                id: 3002,
                level: Level::Error,
                text: r"restart_failed: worker default: exited with 1\r\n".into()
            }
        );
        let e = alert_event("schedule_rejected", None, "o.yaml:3:1: x: y");
        assert_eq!((e.id, e.level), (2001, Level::Warning));
        assert_eq!(e.text, "schedule_rejected: o.yaml:3:1: x: y");
        let ids: std::collections::BTreeSet<u32> = EVENT_IDS.iter().map(|r| r.0).collect();
        assert_eq!(ids.len(), EVENT_IDS.len(), "an ID used twice");
        assert_eq!(id_of("no_such_kind"), (3000, Level::Error));
    }

    /// Several lines stay lines (CR LF, as Event Viewer shows them); a long text is cut.
    #[test]
    fn lines_are_joined_and_long_text_is_cut() {
        let e = event(
            "start_failed",
            &["a.yaml:1:1: x: bad", "error: 1 problem\tfound"],
        );
        assert_eq!((e.id, e.level), (3001, Level::Error));
        assert_eq!(e.text, "a.yaml:1:1: x: bad\r\nerror: 1 problem\\tfound");
        let long = "é".repeat(40_000);
        let e = event("error", &[&long]);
        assert_eq!(e.text.encode_utf16().count(), MAX_UNITS);
        assert!(e.text.ends_with("é…"));
        let e = event("error", &[&"😀".repeat(20_000)]);
        assert!(e.text.encode_utf16().count() <= MAX_UNITS);
    }

    /// The README's table lists every ID with its type and kind, and nothing else.
    #[test]
    fn the_readme_table_matches_the_ids() {
        let readme =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
        let section = readme
            .split("\n### The Event Log\n")
            .nth(1)
            .and_then(|s| s.split("\n#").next())
            .expect("a section \"The Event Log\"");
        let rows: Vec<(u32, String, String)> = section
            .lines()
            .filter_map(|l| {
                let cells: Vec<&str> = l.split('|').map(str::trim).collect();
                // | 1000 | Information | `started` | what |
                let id = cells.get(1)?.parse().ok()?;
                Some((
                    id,
                    cells[2].to_string(),
                    cells[3].trim_matches('`').to_string(),
                ))
            })
            .collect();
        let want: Vec<(u32, String, String)> = EVENT_IDS
            .iter()
            .map(|&(id, _, kind)| (id, format!("{:?}", id_of(kind).1), kind.to_string()))
            .collect();
        assert_eq!(rows, want);
    }

    /// On Windows (Wine): the source's key gets its values, an event is accepted, and the key
    /// goes again. Wine keeps no event log to read the event back from.
    #[cfg(windows)]
    #[test]
    fn the_source_is_registered_and_takes_events() {
        use windows_sys::Win32::System::Registry::{
            RegGetValueW, HKEY_LOCAL_MACHINE, RRF_RT_REG_DWORD, RRF_RT_REG_SZ,
        };
        let wide = |s: &str| -> Vec<u16> { s.encode_utf16().chain([0]).collect() };
        let read = |name: &str, flags| -> Option<Vec<u8>> {
            let key = wide(KEY);
            let name = wide(name);
            let mut buf = vec![0u8; 2048];
            let mut len = buf.len() as u32;
            // SAFETY: valid strings; the buffer is `len` bytes.
            let code = unsafe {
                RegGetValueW(
                    HKEY_LOCAL_MACHINE,
                    key.as_ptr(),
                    name.as_ptr(),
                    flags,
                    std::ptr::null_mut(),
                    buf.as_mut_ptr().cast(),
                    &mut len,
                )
            };
            (code == 0).then(|| buf[..len as usize].to_vec())
        };
        let exe = Path::new(r"C:\Program Files\pacs-warden\pacs-warden.exe");
        register(exe).unwrap();
        let file = read("EventMessageFile", RRF_RT_REG_SZ).expect("EventMessageFile");
        let file: Vec<u16> = file
            .chunks(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .take_while(|&u| u != 0)
            .collect();
        assert_eq!(String::from_utf16_lossy(&file), exe.to_string_lossy());
        let types = read("TypesSupported", RRF_RT_REG_DWORD).expect("TypesSupported");
        assert_eq!(types, 7u32.to_le_bytes());
        imp::write(&event("warning", &["a test event from pacs-warden"])).unwrap();
        unregister().unwrap();
        assert!(read("TypesSupported", RRF_RT_REG_DWORD).is_none());
        unregister().unwrap();
    }
}
