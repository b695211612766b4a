//! Windows: waiting without polling. The wall-clock timer (a waitable timer with an absolute
//! UTC due time), the wait for a process's exit (its handle), and the schedule file's watch
//! (`ReadDirectoryChangesW` with an event) each have a small thread of their own, blocked in
//! `WaitForMultipleObjects(INFINITE)` on what it waits for and a quit event (`Waiter`): an idle
//! daemon has no thread that wakes up to look. (Thread-pool waits, `RegisterWaitForSingleObject`
//! and tokio's `Child::wait`, wake a pool thread every few seconds under Wine; a blocked thread
//! costs nothing.) Dropping the owner sets the quit event and joins the thread, which closes
//! its handles.

use crate::sys::process::windows::{open_verified, Handle, OpenError};
use crate::sys::process::ProcId;
use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::sync::{mpsc, oneshot};
use windows_sys::Win32::Foundation::{
    ERROR_ACCESS_DENIED, HANDLE, INVALID_HANDLE_VALUE, WAIT_OBJECT_0,
};
use windows_sys::Win32::System::Threading::{
    CreateEventW, CreateWaitableTimerW, ResetEvent, SetEvent, SetWaitableTimer,
    WaitForMultipleObjects, INFINITE,
};

/// Waiter threads alive now (for the tests: a dropped wait ends its thread).
static LIVE: AtomicUsize = AtomicUsize::new(0);

/// How many waiter threads run now.
#[cfg(test)]
pub(super) fn live_waiters() -> usize {
    LIVE.load(Ordering::SeqCst)
}

/// A handle the waiter thread uses while its owner keeps it open (the owner joins the thread
/// before closing it).
#[derive(Clone, Copy)]
struct Raw(HANDLE);

// SAFETY: a kernel handle is usable from any thread; the owner outlives the thread's use.
unsafe impl Send for Raw {}

impl Raw {
    fn get(self) -> HANDLE {
        self.0
    }
}

/// A new event, manual-reset or not, not signalled.
fn event(manual_reset: bool) -> io::Result<Handle> {
    // SAFETY: plain call; a null result is handled.
    let h = unsafe {
        CreateEventW(
            std::ptr::null(),
            i32::from(manual_reset),
            0,
            std::ptr::null(),
        )
    };
    if h.is_null() {
        return Err(io::Error::last_os_error());
    }
    Ok(Handle(h))
}

/// Blocks until `quit` or one of `others` is signalled, with no timeout. The index of the
/// signalled one of `others`; `None` for `quit` (it wins when both are) or a failed wait.
fn wait_any(quit: HANDLE, others: &[HANDLE]) -> Option<usize> {
    let mut all = Vec::with_capacity(1 + others.len());
    all.push(quit);
    all.extend_from_slice(others);
    // SAFETY: valid handles, held open by their owners for the whole wait.
    let r = unsafe { WaitForMultipleObjects(all.len() as u32, all.as_ptr(), 0, INFINITE) };
    let i = r.wrapping_sub(WAIT_OBJECT_0) as usize;
    (i >= 1 && i < all.len()).then(|| i - 1)
}

/// A thread blocked in `wait_any`, and the quit event that ends it. Dropping it sets the event
/// and joins the thread.
struct Waiter {
    thread: Option<std::thread::JoinHandle<()>>,
    quit: Handle,
}

/// Counts a waiter thread while it runs.
struct Alive;

impl Drop for Alive {
    fn drop(&mut self) {
        LIVE.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Waiter {
    /// Runs `body(quit)` in a thread of its own; `body` returns once `quit` is signalled (or
    /// it has nothing more to wait for).
    fn spawn(body: impl FnOnce(HANDLE) + Send + 'static) -> io::Result<Waiter> {
        let quit = event(true)?;
        let raw = Raw(quit.0);
        LIVE.fetch_add(1, Ordering::SeqCst);
        let alive = Alive;
        let thread = std::thread::Builder::new()
            .name("pacs-warden-wait".into())
            .stack_size(64 * 1024)
            .spawn(move || {
                let _alive = alive;
                body(raw.get());
            })?;
        Ok(Waiter {
            thread: Some(thread),
            quit,
        })
    }
}

impl Drop for Waiter {
    fn drop(&mut self) {
        // SAFETY: our own event, still open.
        unsafe { SetEvent(self.quit.0) };
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// A new synchronization waitable timer (a wait it ends resets it), not armed. No
/// CREATE_WAITABLE_TIMER_HIGH_RESOLUTION: high-resolution timers take relative due times only,
/// and minute-level restarts need no more than the default resolution.
fn waitable_timer() -> io::Result<Handle> {
    // SAFETY: plain call; a null result is handled.
    let raw = unsafe { CreateWaitableTimerW(std::ptr::null(), 0, std::ptr::null()) };
    if raw.is_null() {
        return Err(io::Error::last_os_error());
    }
    Ok(Handle(raw))
}

/// `deadline` as a `SetWaitableTimer` due time: positive, so absolute, in UTC `FILETIME` ticks
/// (100 ns since 1601-01-01).
pub(super) fn absolute_due_time(deadline: chrono::DateTime<chrono::Utc>) -> i64 {
    const EPOCH_1601: i64 = 11_644_473_600;
    deadline
        .timestamp()
        .saturating_add(EPOCH_1601)
        .saturating_mul(10_000_000)
        .saturating_add(i64::from(deadline.timestamp_subsec_nanos() / 100))
        .max(1)
}

/// `wait` as a `SetWaitableTimer` due time: negative, so relative, in 100 ns ticks (at least
/// one tick: zero is not a relative time).
pub(super) fn relative_due_time(wait: std::time::Duration) -> i64 {
    let ticks = i64::try_from(wait.as_nanos() / 100).unwrap_or(i64::MAX);
    -ticks.max(1)
}

/// Sleeps until a wall-clock instant: a waitable timer armed with an absolute UTC due time.
/// Windows keeps absolute timers on the system clock ("absolute expiration times track any
/// changes in the system time"), so a clock set forward past the deadline fires it at once and
/// a resume from sleep past the deadline fires it at once. A clock set *back* would delay it
/// to the same UTC instant, so that the caller would only learn of the step then (its other
/// waits, e.g. `ready.every`, late by the step): a second timer, armed with the same wait as a
/// relative due time, which the system clock does not move, wakes the caller at the wait's end
/// in real time, and it re-reads the clock (as on Linux, where a clock step wakes the timerfd).
/// No periodic wake-up: the waiter thread sleeps until one of the two fires.
pub struct WallTimer {
    fired: mpsc::UnboundedReceiver<()>,
    _waiter: Waiter,
    timer: Handle,
    /// The companion armed with the relative wait.
    relative: Handle,
}

impl WallTimer {
    pub fn new() -> io::Result<WallTimer> {
        let timer = waitable_timer()?;
        let relative = waitable_timer()?;
        let (tx, fired) = mpsc::unbounded_channel();
        let on = [Raw(timer.0), Raw(relative.0)];
        let waiter = Waiter::spawn(move |quit| {
            while wait_any(quit, &[on[0].get(), on[1].get()]).is_some() {
                if tx.send(()).is_err() {
                    break;
                }
            }
        })?;
        Ok(WallTimer {
            fired,
            _waiter: waiter,
            timer,
            relative,
        })
    }

    /// Returns when the wall clock reaches `deadline` (or soon after a re-arm, for a firing
    /// of an earlier deadline: the caller re-reads the clock). `max` is not needed here; it
    /// bounds the sleep only if the timer cannot be armed.
    pub async fn sleep_until(
        &mut self,
        deadline: chrono::DateTime<chrono::Utc>,
        max: std::time::Duration,
    ) {
        let wait = (deadline - chrono::Utc::now())
            .to_std()
            .unwrap_or(std::time::Duration::ZERO);
        self.arm(absolute_due_time(deadline), wait, max).await
    }

    /// Arms the absolute timer with `due` (as `SetWaitableTimer` takes it) and its companion
    /// with `wait`, and returns when either fires. Apart for the tests, which play a clock set
    /// back by arming the two with different waits.
    async fn arm(&mut self, due: i64, wait: std::time::Duration, max: std::time::Duration) {
        while self.fired.try_recv().is_ok() {}
        let relative = relative_due_time(wait);
        // SAFETY: our own timer handles; the due times outlive the calls; no completion
        // routine.
        let armed = unsafe {
            SetWaitableTimer(self.timer.0, &due, 0, None, std::ptr::null(), 0) != 0
                && SetWaitableTimer(self.relative.0, &relative, 0, None, std::ptr::null(), 0) != 0
        };
        if !armed || self.fired.recv().await.is_none() {
            // Should not happen; a bounded monotonic sleep, the caller re-reads the clock.
            tokio::time::sleep(wait.min(max)).await
        }
    }

    /// Whether the waiter thread runs (for the tests).
    #[cfg(test)]
    pub(super) fn waiting(&self) -> bool {
        self._waiter
            .thread
            .as_ref()
            .is_some_and(|t| !t.is_finished())
    }
}

/// Returns when `id` has exited, waiting on its process handle (no polling). At once when the
/// PID is gone or now belongs to a process created at another time (the worker has exited).
/// `Err` when the process cannot be opened for waiting (another user's, without the right):
/// the caller then polls. Dropping the future ends the waiter thread and closes the handle.
pub(super) async fn wait_exit(id: ProcId) -> io::Result<()> {
    let process = match open_verified(id, 0) {
        Ok(h) => h,
        Err(OpenError::Gone) => return Ok(()),
        Err(OpenError::Denied) => {
            return Err(io::Error::from_raw_os_error(ERROR_ACCESS_DENIED as i32))
        }
        Err(OpenError::Os(e)) => return Err(e),
    };
    let (tx, exited) = oneshot::channel();
    let _waiter = Waiter::spawn(move |quit| {
        let process = process;
        if wait_any(quit, &[process.0]).is_some() {
            let _ = tx.send(());
        }
    })?;
    exited
        .await
        .map_err(|_| io::Error::other("the wait for the process ended early"))
}

/// Keeps a schedule file's watch alive (its waiter thread); changes arrive on the receiver
/// `watch_file` gives.
pub struct FileWatch {
    _waiter: Waiter,
}

/// Watches `file`'s directory with `ReadDirectoryChangesW` (overlapped, its event waited on
/// with no timeout) and sends `()` for every change to a file of that name (compared as
/// Windows does, ignoring case; the short 8.3 name too), and when the change buffer overflowed
/// (Windows then tells no names). Other files of the directory (the daemon's own logs, state,
/// metrics) do not wake it. An error of the watch is sent as a change, once, and ends it.
pub fn watch_file(file: &Path) -> io::Result<(FileWatch, mpsc::UnboundedReceiver<()>)> {
    use std::os::windows::ffi::OsStrExt as _;
    use windows_sys::Win32::Storage::FileSystem::{
        CreateFileW, FILE_FLAG_BACKUP_SEMANTICS, FILE_FLAG_OVERLAPPED, FILE_LIST_DIRECTORY,
        FILE_SHARE_DELETE, FILE_SHARE_READ, FILE_SHARE_WRITE, OPEN_EXISTING,
    };
    let dir = match file.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    let name = file
        .file_name()
        .ok_or_else(|| io::Error::other(format!("{}: not a file name", file.display())))?;
    let mut names = vec![name.to_string_lossy().to_lowercase()];
    if let Some(short) = short_name(file) {
        names.push(short.to_lowercase());
    }
    let wide: Vec<u16> = dir.as_os_str().encode_wide().chain(Some(0)).collect();
    // SAFETY: a NUL-terminated path; the result is checked.
    let raw = unsafe {
        CreateFileW(
            wide.as_ptr(),
            FILE_LIST_DIRECTORY,
            FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE,
            std::ptr::null(),
            OPEN_EXISTING,
            FILE_FLAG_BACKUP_SEMANTICS | FILE_FLAG_OVERLAPPED,
            std::ptr::null_mut(),
        )
    };
    if raw == INVALID_HANDLE_VALUE || raw.is_null() {
        let e = io::Error::last_os_error();
        return Err(io::Error::new(e.kind(), format!("{}: {e}", dir.display())));
    }
    let dir = Handle(raw);
    let changed = event(true)?;
    let (tx, rx) = mpsc::unbounded_channel();
    // Returned only once the thread has issued its first read: a change made after this
    // returns is then never missed (the directory handle keeps changes between reads).
    let (issued, first) = std::sync::mpsc::channel();
    let waiter = Waiter::spawn(move |quit| watch_dir(quit, dir, changed, &names, &tx, issued))?;
    let _ = first.recv();
    Ok((FileWatch { _waiter: waiter }, rx))
}

/// The watch's thread: issues `ReadDirectoryChangesW`, tells `issued` once the first read is
/// out (or failed), waits for its event or `quit`, reports, issues it again. The read is issued
/// here, as overlapped I/O ends with the thread that issued it.
fn watch_dir(
    quit: HANDLE,
    dir: Handle,
    changed: Handle,
    names: &[String],
    tx: &mpsc::UnboundedSender<()>,
    issued_first: std::sync::mpsc::Sender<()>,
) {
    let mut issued_first = Some(issued_first);
    use windows_sys::Win32::Foundation::ERROR_NOTIFY_ENUM_DIR;
    use windows_sys::Win32::Storage::FileSystem::{
        ReadDirectoryChangesW, FILE_NOTIFY_CHANGE_FILE_NAME, FILE_NOTIFY_CHANGE_LAST_WRITE,
        FILE_NOTIFY_CHANGE_SIZE,
    };
    use windows_sys::Win32::System::IO::{CancelIoEx, GetOverlappedResult, OVERLAPPED};
    // DWORD-aligned, as the records in it are.
    let mut buf = vec![0u32; 16 * 1024];
    // SAFETY: OVERLAPPED is plain data; all zeroes is its documented initial state.
    let mut ov: OVERLAPPED = unsafe { std::mem::zeroed() };
    ov.hEvent = changed.0;
    loop {
        // SAFETY: our own handles; `buf` and `ov` stay put until the read has completed or
        // been cancelled and waited for (below).
        let issued = unsafe {
            ResetEvent(changed.0);
            ReadDirectoryChangesW(
                dir.0,
                buf.as_mut_ptr().cast(),
                (buf.len() * 4) as u32,
                0,
                FILE_NOTIFY_CHANGE_FILE_NAME
                    | FILE_NOTIFY_CHANGE_LAST_WRITE
                    | FILE_NOTIFY_CHANGE_SIZE,
                std::ptr::null_mut(),
                &mut ov,
                None,
            )
        };
        if let Some(first) = issued_first.take() {
            let _ = first.send(());
        }
        if issued == 0 {
            let _ = tx.send(()); // cannot watch: one last look at the file
            return;
        }
        if wait_any(quit, &[changed.0]).is_none() {
            let mut n = 0;
            // SAFETY: cancel our own pending read and wait until it has let go of `buf`.
            unsafe {
                CancelIoEx(dir.0, &ov);
                GetOverlappedResult(dir.0, &ov, &mut n, 1);
            }
            return;
        }
        let mut n = 0u32;
        // SAFETY: the read has completed (its event is set).
        let ok = unsafe { GetOverlappedResult(dir.0, &ov, &mut n, 0) };
        let relevant = if ok == 0 {
            let code = io::Error::last_os_error().raw_os_error();
            if code != Some(ERROR_NOTIFY_ENUM_DIR as i32) {
                let _ = tx.send(()); // the watch failed: one last look
                return;
            }
            true // too many changes to tell
        } else if n == 0 {
            true // the buffer overflowed: Windows tells no names
        } else {
            // SAFETY: `n` bytes of `buf` were written by the completed read.
            let bytes =
                unsafe { std::slice::from_raw_parts(buf.as_ptr().cast::<u8>(), n as usize) };
            changed_names(bytes)
                .iter()
                .any(|changed| names.iter().any(|n| *n == changed.to_lowercase()))
        };
        if relevant && tx.send(()).is_err() {
            return;
        }
    }
}

/// The file names in a `ReadDirectoryChangesW` result (`FILE_NOTIFY_INFORMATION` records:
/// next-entry offset, action, name length in bytes, UTF-16 name).
pub(super) fn changed_names(bytes: &[u8]) -> Vec<String> {
    let word = |at: usize| -> Option<u32> {
        let b = bytes.get(at..at + 4)?;
        Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    };
    let mut names = Vec::new();
    let mut at = 0usize;
    while let (Some(next), Some(len)) = (word(at), word(at + 8)) {
        let start = at + 12;
        let Some(raw) = bytes.get(start..start + len as usize) else {
            break;
        };
        let units: Vec<u16> = raw
            .chunks_exact(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .collect();
        names.push(String::from_utf16_lossy(&units));
        if next == 0 {
            break;
        }
        at += next as usize;
    }
    names
}

/// The short (8.3) name of `file`, when it exists and has one different from its name.
fn short_name(file: &Path) -> Option<String> {
    use std::os::windows::ffi::OsStrExt as _;
    use windows_sys::Win32::Storage::FileSystem::GetShortPathNameW;
    let wide: Vec<u16> = file.as_os_str().encode_wide().chain(Some(0)).collect();
    let mut buf = [0u16; 1024];
    // SAFETY: a NUL-terminated path and a buffer of the length given.
    let n = unsafe { GetShortPathNameW(wide.as_ptr(), buf.as_mut_ptr(), buf.len() as u32) };
    if n == 0 || n as usize >= buf.len() {
        return None;
    }
    let short = String::from_utf16_lossy(&buf[..n as usize]);
    let name = Path::new(&short)
        .file_name()?
        .to_string_lossy()
        .into_owned();
    (Some(name.as_str()) != file.file_name().and_then(|n| n.to_str())).then_some(name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// The waiter-thread count is global: the tests that start waiters run one at a time.
    static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

    /// A process that runs for minutes unless killed (Wine has `ping.exe` too).
    fn long_runner() -> (std::process::Child, ProcId) {
        let child = std::process::Command::new("ping.exe")
            .args(["-n", "300", "127.0.0.1"])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let id = crate::sys::process::identify(child.id()).unwrap();
        (child, id)
    }

    #[test]
    fn the_due_time_is_the_absolute_utc_filetime() {
        use windows_sys::Win32::Foundation::{FILETIME, SYSTEMTIME};
        use windows_sys::Win32::System::Time::SystemTimeToFileTime;
        let deadline = chrono::DateTime::parse_from_rfc3339("2026-03-29T01:00:00.250Z")
            .unwrap()
            .with_timezone(&chrono::Utc);
        let st = SYSTEMTIME {
            wYear: 2026,
            wMonth: 3,
            wDayOfWeek: 0,
            wDay: 29,
            wHour: 1,
            wMinute: 0,
            wSecond: 0,
            wMilliseconds: 250,
        };
        let mut ft = FILETIME {
            dwLowDateTime: 0,
            dwHighDateTime: 0,
        };
        // SAFETY: valid in and out pointers.
        assert_ne!(unsafe { SystemTimeToFileTime(&st, &mut ft) }, 0);
        let expected = (i64::from(ft.dwHighDateTime) << 32) | i64::from(ft.dwLowDateTime);
        let due = absolute_due_time(deadline);
        assert!(due > 0, "a positive due time is absolute");
        assert_eq!(due, expected);
    }

    #[tokio::test]
    async fn the_timer_fires_at_its_absolute_instant_and_can_be_rearmed_earlier() {
        let _serial = SERIAL.lock().await;
        let mut timer = WallTimer::new().unwrap();
        assert!(timer.waiting());
        let far = chrono::Utc::now() + chrono::Duration::seconds(3600);
        // `max` no longer bounds the sleep: the timer waits for its instant (the old timer
        // returned after `max` and had the caller look at the clock again).
        let max = Duration::from_millis(200);
        let early = tokio::time::timeout(Duration::from_secs(2), timer.sleep_until(far, max)).await;
        assert!(early.is_err(), "a timer an hour ahead fired");
        // Re-armed to an earlier instant: fires then, not before (a second's slack for two
        // noisy shared cores; a timer that fired at once or after `max` is still 2 s early).
        let soon = chrono::Utc::now() + chrono::Duration::seconds(3);
        tokio::time::timeout(Duration::from_secs(20), timer.sleep_until(soon, max))
            .await
            .expect("the re-armed timer did not fire");
        let now = chrono::Utc::now();
        assert!(
            now >= soon - chrono::Duration::seconds(1),
            "fired {} ms before its instant",
            (soon - now).num_milliseconds()
        );
        // A past instant fires at once.
        let past = chrono::Utc::now() - chrono::Duration::seconds(5);
        tokio::time::timeout(Duration::from_secs(10), timer.sleep_until(past, max))
            .await
            .expect("a past instant did not fire");
        let before = live_waiters();
        drop(timer);
        assert_eq!(live_waiters(), before - 1, "the timer's thread outlived it");
    }

    #[test]
    fn the_companion_due_time_is_relative_in_100_ns_ticks() {
        assert_eq!(relative_due_time(Duration::from_secs(90)), -900_000_000);
        assert_eq!(relative_due_time(Duration::from_millis(1)), -10_000);
        // Zero would not be a relative time.
        assert_eq!(relative_due_time(Duration::ZERO), -1);
    }

    /// A clock set back by an hour just after the timer was armed is played by arming the
    /// absolute timer an hour beyond the wait: the companion still ends the wait after the wait
    /// (the old single absolute timer slept the extra hour).
    #[tokio::test]
    async fn a_clock_set_back_still_wakes_the_caller_after_the_wait() {
        let _serial = SERIAL.lock().await;
        let mut timer = WallTimer::new().unwrap();
        let wait = Duration::from_secs(3);
        let an_hour_late = chrono::Utc::now() + chrono::Duration::seconds(3602);
        let began = std::time::Instant::now();
        tokio::time::timeout(
            Duration::from_secs(30),
            timer.arm(
                absolute_due_time(an_hour_late),
                wait,
                Duration::from_secs(3600),
            ),
        )
        .await
        .expect("only the absolute timer was waited for");
        // A second's slack; a wait that ended at once is still 2 s short.
        assert!(
            began.elapsed() >= wait - Duration::from_secs(1),
            "woke {:?} before the wait's end",
            wait - began.elapsed()
        );
    }

    #[tokio::test]
    async fn an_exit_is_awaited_on_the_handle_and_a_dropped_wait_ends_its_thread() {
        let _serial = SERIAL.lock().await;
        let (mut child, id) = long_runner();
        let base = live_waiters();
        let mut waits: Vec<_> = (0..3).map(|_| Box::pin(wait_exit(id))).collect();
        // None of them ends while the process runs (watched together for 2 s: long enough for
        // a waiter thread that saw the wrong thing to say so on two noisy shared cores).
        let [a, b, c] = &mut waits[..] else {
            unreachable!()
        };
        tokio::select! {
            r = a => panic!("a wait ended while the process runs: {r:?}"),
            r = b => panic!("a wait ended while the process runs: {r:?}"),
            r = c => panic!("a wait ended while the process runs: {r:?}"),
            () = tokio::time::sleep(Duration::from_secs(2)) => {}
        }
        // Each wait is a thread blocked on the handle...
        assert_eq!(live_waiters(), base + 3);
        // ...and a dropped wait (the daemon aborts the task on Unwatch) ends it.
        waits.truncate(1);
        assert_eq!(live_waiters(), base + 1, "a dropped wait left its thread");
        child.kill().unwrap();
        let done = tokio::time::timeout(Duration::from_secs(20), &mut waits[0])
            .await
            .expect("the wait did not see the process end");
        assert!(done.is_ok(), "{done:?}");
        let _ = child.wait();
        drop(waits);
        assert_eq!(live_waiters(), base);
    }

    #[tokio::test]
    async fn a_pid_of_another_process_or_none_is_not_waited_for() {
        let _serial = SERIAL.lock().await;
        let (mut child, id) = long_runner();
        let reused = ProcId {
            pid: id.pid,
            start_time: id.start_time - 3600,
        };
        let r = tokio::time::timeout(Duration::from_secs(10), wait_exit(reused)).await;
        assert!(matches!(r, Ok(Ok(()))), "{r:?}");
        assert!(
            child.try_wait().unwrap().is_none(),
            "the process was touched"
        );
        child.kill().unwrap();
        let _ = child.wait();
        // The PID is gone now.
        let r = tokio::time::timeout(Duration::from_secs(10), wait_exit(id)).await;
        assert!(matches!(r, Ok(Ok(()))), "{r:?}");
    }

    #[test]
    fn change_records_are_read_by_their_offsets() {
        let mut bytes = Vec::new();
        let rec = |next: u32, action: u32, name: &str| {
            let units: Vec<u16> = name.encode_utf16().collect();
            let mut b = Vec::new();
            b.extend(next.to_le_bytes());
            b.extend(action.to_le_bytes());
            b.extend(((units.len() * 2) as u32).to_le_bytes());
            for u in units {
                b.extend(u.to_le_bytes());
            }
            b
        };
        let first = rec(0, 4, "zeitplän.yaml");
        let padded = first.len().div_ceil(4) * 4;
        bytes.extend(rec(padded as u32, 4, "zeitplän.yaml"));
        bytes.resize(padded, 0);
        bytes.extend(rec(0, 5, "o.yaml"));
        assert_eq!(changed_names(&bytes), ["zeitplän.yaml", "o.yaml"]);
        assert!(changed_names(&[1, 2]).is_empty());
    }

    #[tokio::test]
    async fn the_watch_reports_its_file_only() {
        let _serial = SERIAL.lock().await;
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("schedule.yaml");
        std::fs::write(&file, "a").unwrap();
        // Named in other case: Windows names ignore case.
        let (watch, mut rx) = watch_file(&dir.path().join("Schedule.YAML")).unwrap();
        let quiet = |rx: &mut mpsc::UnboundedReceiver<()>| {
            let mut got = false;
            while rx.try_recv().is_ok() {
                got = true;
            }
            got
        };
        // Another file of the folder (the daemon's own log, say) wakes nothing.
        let log = dir.path().join("pacs-warden.log");
        for i in 0..5 {
            std::fs::write(&log, format!("line {i}")).unwrap();
            std::fs::rename(&log, dir.path().join("pacs-warden.log.1")).unwrap();
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert!(!quiet(&mut rx), "another file's change was reported");
        // An in-place write.
        std::fs::write(&file, "b").unwrap();
        tokio::time::timeout(Duration::from_secs(20), rx.recv())
            .await
            .expect("an in-place write was not reported");
        tokio::time::sleep(Duration::from_millis(500)).await;
        quiet(&mut rx);
        // A rename over it (how editors save).
        let tmp = dir.path().join("schedule.yaml.tmp");
        std::fs::write(&tmp, "c").unwrap();
        std::fs::rename(&tmp, &file).unwrap();
        tokio::time::timeout(Duration::from_secs(20), rx.recv())
            .await
            .expect("a rename over the file was not reported");
        let before = live_waiters();
        drop(watch);
        assert_eq!(live_waiters(), before - 1, "the watch's thread outlived it");
    }
}
