//! Logging set-up: tracing to stderr and, with the schedule's `log:`, to a rotating file.
//!
//! Owns: the subscriber, and the log file's rotation. The level comes from `RUST_LOG`, else
//! the schedule's `log.level`, else `info`. The daemon's (and a manual `restart`'s) warnings
//! and errors also go to the Windows Event Log (`crate::sys::os::eventlog`; nothing elsewhere),
//! whatever the level.
//!
//! The log file is always at the configured name, so `tail -f` on it works. When the period
//! (UTC day, or hour) of the lines in it is over, it is renamed `NAME.YYYY-MM-DD` (hourly:
//! `NAME.YYYY-MM-DD-HH`) after the period its lines belong to, a new one is started, and the
//! `keep` newest renamed files are kept. Which period a file belongs to is read from its
//! modification time, so a daemon started on a later day, and two processes writing the same
//! file (the daemon and a manual `restart`), rotate it once and correctly. If the file cannot
//! be renamed (on Windows, a program holding it open without sharing delete access), lines go
//! on into it and the rename is tried again a minute later. It is also rotated, within its
//! period, before a line that would make it larger than `log.max_size`; a rotated file's name is
//! then its period's, with `.1`, `.2`, … when taken (`crate::core::rotation`, which also picks
//! the rotated files beyond `keep` to delete). Each line is written with one append, so lines
//! are never split or lost by a rotation. The decisions are pure functions of the time (`due`,
//! `on_disk`), tested with invented times.
//!
//! Also owns the rotation by size of the logs of workers and queries (`rotate_by_size`), which
//! pacs-warden does not write itself: the restart sequence calls it while the worker is
//! stopped, a query run before it opens its log.

use crate::core::config::{LogLimits, LogSpec, Rotation};
use crate::core::rotation;
use chrono::{DateTime, Datelike, TimeDelta, TimeZone, Timelike, Utc};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{fmt, Layer};

fn filter(level: Option<&str>) -> Targets {
    std::env::var("RUST_LOG")
        .ok()
        .and_then(|l| crate::core::config::parse_log_filter(&l).ok())
        .or_else(|| level.and_then(|l| crate::core::config::parse_log_filter(l).ok()))
        .unwrap_or_else(|| Targets::new().with_default(tracing::Level::INFO))
}

fn stderr_layer<S>() -> impl Layer<S>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    fmt::layer()
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
}

/// Installs the stderr logger once; later calls do nothing.
pub fn init() {
    let _ = tracing_subscriber::registry()
        .with(stderr_layer().with_filter(filter(None)))
        .try_init();
}

/// Installs stderr logging plus, when `log` is set, the rotating log file at `file` (the
/// schedule's `log.file`, resolved). Used by the daemon and by a manual `restart`. Fails if
/// the file cannot be opened for appending (its directory is created if missing).
pub fn init_daemon(log: Option<(&Path, &LogSpec)>) -> std::io::Result<()> {
    let level = log.and_then(|(_, spec)| spec.level.as_deref());
    let file_layer = match log {
        None => None,
        Some((file, spec)) => {
            let log_file = LogFile::open(file, spec.rotation, spec.keep, spec.max_size, Utc::now())
                .map_err(|e| std::io::Error::other(format!("log file {}: {e}", file.display())))?;
            Some(
                fmt::layer()
                    .with_writer(log_file)
                    .with_ansi(false)
                    .with_target(false)
                    .with_filter(filter(level)),
            )
        }
    };
    let _ = tracing_subscriber::registry()
        .with(stderr_layer().with_filter(filter(level)))
        .with(file_layer)
        .with(
            crate::sys::os::eventlog::layer()
                .with_filter(tracing::level_filters::LevelFilter::WARN),
        )
        .try_init();
    Ok(())
}

/// How long a failed rename waits before it is tried again.
const RETRY: TimeDelta = TimeDelta::minutes(1);

/// The period `t` falls in: its start and end (UTC), or `None` with `rotation: never`.
pub fn period(rotation: Rotation, t: DateTime<Utc>) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
    let day = Utc
        .with_ymd_and_hms(t.year(), t.month(), t.day(), 0, 0, 0)
        .single()?;
    match rotation {
        Rotation::Never => None,
        Rotation::Daily => Some((day, day + TimeDelta::days(1))),
        Rotation::Hourly => {
            let start = day + TimeDelta::hours(i64::from(t.hour()));
            Some((start, start + TimeDelta::hours(1)))
        }
    }
}

/// The suffix of a rotated file whose period starts at `start`: `2026-11-30` or
/// `2026-11-30-14`.
pub fn suffix(rotation: Rotation, start: DateTime<Utc>) -> String {
    match rotation {
        Rotation::Hourly => start.format("%Y-%m-%d-%H").to_string(),
        _ => start.format("%Y-%m-%d").to_string(),
    }
}

/// Before a line is written at `now`: must the file on disk be looked at (`true`), or does
/// the line go to the open file? The open file is good until `until` (`None`: for ever).
pub fn due(now: DateTime<Utc>, open: bool, until: Option<DateTime<Utc>>) -> bool {
    !open || until.is_some_and(|u| now >= u)
}

/// What to do with the file at the configured name, last modified at `modified` (`None`: it
/// does not exist), at `now`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OnDisk {
    /// Open it (create it if missing) and append: its lines are of the current period.
    Append,
    /// Rename it to `NAME.<suffix>` (its lines' period), then start a new one.
    Rotate(String),
}

pub fn on_disk(rotation: Rotation, now: DateTime<Utc>, modified: Option<DateTime<Utc>>) -> OnDisk {
    let (Some(modified), Some((start, end))) = (modified, period(rotation, now)) else {
        return OnDisk::Append;
    };
    if (start..end).contains(&modified) {
        return OnDisk::Append;
    }
    match period(rotation, modified) {
        Some((old, _)) => OnDisk::Rotate(suffix(rotation, old)),
        None => OnDisk::Append,
    }
}

/// Rotates the log at `path` of a worker or a query (`who`, for messages) when it is larger
/// than `limits.max_size`: renamed after the UTC day it was last written, the oldest rotated
/// files beyond `limits.keep` deleted (`crate::core::rotation`). Call it while nothing writes
/// to the file (on Windows, a file a running program holds open cannot be renamed). When the
/// rename fails, a warning is logged and the output goes on being appended to the file: a
/// rotation never stops a restart or a run. A symbolic link is left alone (the log is never
/// opened through one, `crate::sys::os::open_log`).
pub fn rotate_by_size(path: &Path, limits: LogLimits, who: &str) {
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return; // No log yet.
    };
    if !meta.is_file() || meta.len() <= limits.max_size {
        return;
    }
    let day = meta
        .modified()
        .map(DateTime::<Utc>::from)
        .unwrap_or_else(|_| Utc::now())
        .date_naive();
    let dir = folder_of(path);
    let base = file_name_of(path);
    let names = names_in(&dir);
    let Some(plan) =
        rotation::by_size(&base, meta.len(), limits.max_size, limits.keep, day, &names)
    else {
        return;
    };
    let to = dir.join(&plan.to);
    match std::fs::rename(path, &to) {
        Ok(()) => {
            tracing::info!(
                log = %path.display(),
                rotated_to = %to.display(),
                size = meta.len(),
                "{who}: rotated its log (larger than its max_size of {} bytes)",
                limits.max_size
            );
            for old in plan.delete {
                if let Err(e) = std::fs::remove_file(dir.join(&old)) {
                    tracing::warn!(log = %path.display(), "{who}: cannot delete the old log {old}: {e}");
                }
            }
        }
        Err(e) => tracing::warn!(
            log = %path.display(),
            size = meta.len(),
            "{who}: cannot rotate its log ({e}); its output goes on being appended to it"
        ),
    }
}

/// The folder of `path` (`.` for a bare name).
fn folder_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

fn file_name_of(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// The names of the files in `dir` (none when it cannot be read).
fn names_in(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// The daemon's log file: a `MakeWriter` whose every line is one append to the file at the
/// configured name, rotated as the module header says.
pub struct LogFile {
    inner: Mutex<Inner>,
}

struct Inner {
    path: PathBuf,
    rotation: Rotation,
    keep: usize,
    /// Rotated (within its period) before a line that would make it larger.
    max_size: u64,
    file: Option<File>,
    /// The open file takes lines until then (`None`: for ever).
    until: Option<DateTime<Utc>>,
    /// The size of the file at the name, as far as this process knows (its size when opened,
    /// plus what this process appended since).
    size: u64,
    /// After a failed rotation by size, not tried again before then.
    size_retry: Option<DateTime<Utc>>,
}

impl LogFile {
    /// Opens (and, if its period is over, first rotates) the file at `path`, creating its
    /// directory if needed.
    pub fn open(
        path: &Path,
        rotation: Rotation,
        keep: usize,
        max_size: u64,
        now: DateTime<Utc>,
    ) -> std::io::Result<LogFile> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let mut inner = Inner {
            path: path.to_path_buf(),
            rotation,
            keep,
            max_size,
            file: None,
            until: None,
            size: 0,
            size_retry: None,
        };
        inner.prepare(now)?;
        Ok(LogFile {
            inner: Mutex::new(inner),
        })
    }

    /// Writes one line (or any text) at `now` with one append, after rotating if due.
    pub fn write_at(&self, now: DateTime<Utc>, line: &[u8]) -> std::io::Result<()> {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if due(now, inner.file.is_some(), inner.until) {
            inner.prepare(now)?;
        }
        let len = line.len() as u64;
        if over_size(inner.size, len, inner.max_size)
            && inner.size_retry.is_none_or(|retry| now >= retry)
        {
            inner.rotate_by_size(now, len)?;
        }
        match inner.file.as_mut() {
            Some(f) => {
                f.write_all(line)?;
                inner.size += len;
                Ok(())
            }
            None => Ok(()),
        }
    }
}

impl Inner {
    fn open_append(&mut self, now: DateTime<Utc>) -> std::io::Result<()> {
        // std opens files on Windows with FILE_SHARE_DELETE: this handle never blocks a rename.
        // Never through a symbolic link: one planted in place of the log would make a
        // privileged pacs-warden append to whatever file it points at (README, Security).
        let file = crate::sys::trust::open_no_follow(
            &self.path,
            OpenOptions::new().create(true).append(true),
        )?;
        self.size = file.metadata().map(|m| m.len()).unwrap_or(0);
        self.file = Some(file);
        self.until = period(self.rotation, now).map(|(_, end)| end);
        Ok(())
    }

    /// Before a line of `len` bytes that would make the file larger than `max_size`: renames
    /// it after the current period (`.N` when taken) and starts a new one. Decided again on the
    /// size at the name holding the rename lock: another writer may have rotated it already.
    fn rotate_by_size(&mut self, now: DateTime<Utc>, len: u64) -> std::io::Result<()> {
        let _lock = crate::sys::lock::lock_while_renaming(&self.path);
        let on_disk = std::fs::symlink_metadata(&self.path).map(|m| m.len()).ok();
        if !on_disk.is_some_and(|size| over_size(size, len, self.max_size)) {
            // Rotated by the other writer (or gone): append to the file now at the name.
            self.file = None;
            return self.open_append(now);
        }
        let suffix = match period(self.rotation, now) {
            Some((start, _)) => suffix(self.rotation, start),
            None => suffix(Rotation::Daily, now),
        };
        match self.rename(&suffix) {
            Ok(()) => {
                self.file = None;
                self.size_retry = None;
                self.delete_old();
                self.open_append(now)
            }
            Err(_) => {
                // Held open elsewhere (Windows): go on appending; try again later.
                self.size_retry = Some(now + RETRY);
                Ok(())
            }
        }
    }

    /// Looks at the file on disk: rotates it if its period is over, and (re)opens it.
    fn prepare(&mut self, now: DateTime<Utc>) -> std::io::Result<()> {
        let modified = || {
            std::fs::metadata(&self.path)
                .and_then(|m| m.modified())
                .ok()
                .map(DateTime::<Utc>::from)
        };
        if on_disk(self.rotation, now, modified()) == OnDisk::Append {
            return self.open_append(now);
        }
        // Unix: two processes (the daemon and a manual `restart`) must not both rename the
        // file: the second would rename the first one's new file. Decide again holding an
        // advisory lock on the file at the name; whoever comes second then finds a current
        // file. (Windows: not locked — a lock there would block the other's writes; the window
        // is a few microseconds at the period's end, and a rotated file is never replaced.)
        let _lock = crate::sys::lock::lock_while_renaming(&self.path);
        match on_disk(self.rotation, now, modified()) {
            OnDisk::Append => self.open_append(now),
            OnDisk::Rotate(suffix) => {
                match self.rename(&suffix) {
                    Ok(()) => {
                        self.file = None;
                        self.delete_old();
                        self.open_append(now)
                    }
                    Err(_) if self.file.is_some() => {
                        // Held open elsewhere (Windows): go on appending; try again later.
                        self.until = Some(now + RETRY);
                        Ok(())
                    }
                    Err(_) => {
                        self.open_append(now)?;
                        self.until = Some(now + RETRY);
                        Ok(())
                    }
                }
            }
        }
    }

    /// Renames the file to `NAME.<suffix>`, or `NAME.<suffix>.N` after the highest taken N
    /// (never replacing a rotated file; `crate::core::rotation::rotated_name`).
    fn rename(&self, suffix: &str) -> std::io::Result<()> {
        let dir = folder_of(&self.path);
        let name = file_name_of(&self.path);
        match rotation::rotated_name(&name, suffix, &names_in(&dir)) {
            Some(target) => std::fs::rename(&self.path, dir.join(target)),
            None => Err(std::io::Error::other("no free name for the rotated file")),
        }
    }

    /// Deletes the oldest rotated files beyond `keep`.
    fn delete_old(&self) {
        let dir = folder_of(&self.path);
        let names = names_in(&dir);
        for old in rotation::to_delete(&names, &file_name_of(&self.path), self.keep) {
            let _ = std::fs::remove_file(dir.join(old));
        }
    }
}

/// Whether a line of `len` bytes makes a file of `size` bytes larger than `max_size` (a file
/// that is empty takes any line: a line is never split).
pub fn over_size(size: u64, len: u64, max_size: u64) -> bool {
    size > 0 && size.saturating_add(len) > max_size
}

/// One event's line, handed to the file in one piece.
pub struct LogLine<'a> {
    file: &'a LogFile,
}

impl Write for LogLine<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.file.write_at(Utc::now(), buf)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for LogFile {
    type Writer = LogLine<'a>;

    fn make_writer(&'a self) -> LogLine<'a> {
        LogLine { file: self }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().to_utc()
    }

    #[test]
    fn periods_and_their_suffixes() {
        let (start, end) = period(Rotation::Daily, t("2026-11-30T23:59:59Z")).unwrap();
        assert_eq!(
            (start, end),
            (t("2026-11-30T00:00:00Z"), t("2026-12-01T00:00:00Z"))
        );
        assert_eq!(suffix(Rotation::Daily, start), "2026-11-30");
        let (start, end) = period(Rotation::Hourly, t("2026-11-30T14:00:00Z")).unwrap();
        assert_eq!(
            (start, end),
            (t("2026-11-30T14:00:00Z"), t("2026-11-30T15:00:00Z"))
        );
        assert_eq!(suffix(Rotation::Hourly, start), "2026-11-30-14");
        assert_eq!(period(Rotation::Never, t("2026-11-30T14:00:00Z")), None);
    }

    #[test]
    fn the_open_file_takes_lines_until_its_period_ends() {
        let end = Some(t("2026-12-01T00:00:00Z"));
        assert!(!due(t("2026-11-30T23:59:59Z"), true, end));
        assert!(due(t("2026-12-01T00:00:00Z"), true, end));
        assert!(due(t("2026-11-30T12:00:00Z"), false, end), "nothing open");
        assert!(
            !due(t("2030-01-01T00:00:00Z"), true, None),
            "rotation: never"
        );
    }

    #[test]
    fn a_file_of_an_earlier_period_is_rotated_under_that_period() {
        use OnDisk::*;
        let now = t("2026-11-30T00:00:01Z");
        // Written to today (another process rotated it already, or it is fresh): append.
        assert_eq!(
            on_disk(Rotation::Daily, now, Some(t("2026-11-30T00:00:00Z"))),
            Append
        );
        assert_eq!(on_disk(Rotation::Daily, now, None), Append);
        // Last written yesterday, or a week ago (the daemon was not running): named after that day.
        assert_eq!(
            on_disk(Rotation::Daily, now, Some(t("2026-11-29T23:59:59Z"))),
            Rotate("2026-11-29".into())
        );
        assert_eq!(
            on_disk(Rotation::Daily, now, Some(t("2026-11-22T08:00:00Z"))),
            Rotate("2026-11-22".into())
        );
        assert_eq!(
            on_disk(
                Rotation::Hourly,
                t("2026-11-30T15:00:00Z"),
                Some(t("2026-11-30T14:59:59Z"))
            ),
            Rotate("2026-11-30-14".into())
        );
        assert_eq!(
            on_disk(Rotation::Never, now, Some(t("2020-01-01T00:00:00Z"))),
            Append
        );
    }

    #[test]
    fn a_line_that_would_make_the_file_larger_than_max_size_goes_to_a_new_one() {
        assert!(!over_size(20, 10, 30));
        assert!(over_size(21, 10, 30));
        assert!(!over_size(0, 100, 30), "a line is never split");
    }

    /// Real files: within one day, the file is rotated by size to the day's name, then `.1`,
    /// `.2`; `keep` bounds them, the newest kept; every line is in one file, none is split.
    #[test]
    fn rotation_by_size_within_a_day() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pacs-warden.log");
        let log = LogFile::open(&path, Rotation::Daily, 2, 30, t("2026-11-30T10:00:00Z")).unwrap();
        for i in 0..10 {
            let line = format!("line {i:03}\n"); // 9 bytes: three to a file
            log.write_at(t("2026-11-30T10:00:01Z"), line.as_bytes())
                .unwrap();
        }
        let read = |name: &str| std::fs::read_to_string(path.with_file_name(name)).unwrap();
        assert_eq!(read("pacs-warden.log"), "line 009\n");
        assert_eq!(
            read("pacs-warden.log.2026-11-30.2"),
            "line 006\nline 007\nline 008\n"
        );
        assert_eq!(
            read("pacs-warden.log.2026-11-30.1"),
            "line 003\nline 004\nline 005\n"
        );
        assert!(!path.with_file_name("pacs-warden.log.2026-11-30").exists());
    }

    /// Real files, invented times: the current file keeps its name; at the period's end it is
    /// renamed after that period and a new one starts; `keep` bounds the rotated ones; every
    /// line is in exactly one file.
    #[test]
    fn rotation_on_disk_with_invented_times() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log dir").join("pacs-warden.log");
        // A write at an invented time, and the modification time it would have given.
        let write = |log: &LogFile, at: &str, line: &str| {
            log.write_at(t(at), line.as_bytes()).unwrap();
            let f = OpenOptions::new().append(true).open(&path).unwrap();
            f.set_modified(t(at).into()).unwrap();
        };
        let log = LogFile::open(
            &path,
            Rotation::Daily,
            2,
            u64::MAX,
            t("2026-11-27T10:00:00Z"),
        )
        .unwrap();
        for day in ["2026-11-27", "2026-11-28", "2026-11-29", "2026-11-30"] {
            write(&log, &format!("{day}T10:00:00Z"), &format!("{day} a\n"));
            write(&log, &format!("{day}T23:59:59Z"), &format!("{day} b\n"));
        }
        let read = |name: &str| std::fs::read_to_string(path.with_file_name(name)).unwrap();
        assert_eq!(read("pacs-warden.log"), "2026-11-30 a\n2026-11-30 b\n");
        assert_eq!(
            read("pacs-warden.log.2026-11-29"),
            "2026-11-29 a\n2026-11-29 b\n"
        );
        assert_eq!(
            read("pacs-warden.log.2026-11-28"),
            "2026-11-28 a\n2026-11-28 b\n"
        );
        assert!(!path.with_file_name("pacs-warden.log.2026-11-27").exists());

        // A second writer (a manual `restart`) opened the same file; the first one rotates
        // at midnight; the second finds the new file current and appends to it: one rotation,
        // every line once.
        let other = LogFile::open(
            &path,
            Rotation::Daily,
            2,
            u64::MAX,
            t("2026-11-30T23:59:59Z"),
        )
        .unwrap();
        write(&log, "2026-12-01T00:00:01Z", "first\n");
        write(&other, "2026-12-01T00:00:02Z", "second\n");
        assert_eq!(read("pacs-warden.log"), "first\nsecond\n");
        assert_eq!(
            read("pacs-warden.log.2026-11-30"),
            "2026-11-30 a\n2026-11-30 b\n"
        );
        assert!(!path.with_file_name("pacs-warden.log.2026-11-30.1").exists());

        // A daemon started days later rotates the file under the day it was last written.
        drop((log, other));
        let later = LogFile::open(
            &path,
            Rotation::Daily,
            2,
            u64::MAX,
            t("2026-12-05T09:00:00Z"),
        )
        .unwrap();
        write(&later, "2026-12-05T09:00:00Z", "later\n");
        assert_eq!(read("pacs-warden.log.2026-12-01"), "first\nsecond\n");
        assert_eq!(read("pacs-warden.log"), "later\n");
        let mut names: Vec<String> = std::fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(
            names.len(),
            3,
            "the current file and keep = 2 rotated: {names:?}"
        );
    }
}
