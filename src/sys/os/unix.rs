//! Unix: a new session (setsid) for detached processes; kill through a pidfd on Linux; the
//! wall-clock timer (timerfd on Linux); the schedule-file watcher (the notify crate).

use super::KillError;
use crate::sys::process::{identify, ProcId};

pub(super) fn spawn(mut cmd: tokio::process::Command) -> std::io::Result<tokio::process::Child> {
    // SAFETY: setsid is async-signal-safe and touches no memory of the parent.
    unsafe {
        cmd.pre_exec(|| {
            if libc::setsid() == -1 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    cmd.spawn()
}

/// A console event's helper: none on Unix (no value of this type exists).
#[derive(Debug)]
pub enum Delivery {}

impl Delivery {
    /// The helper's verdict once it has exited.
    pub fn poll(&mut self) -> Option<super::Verdict> {
        match *self {}
    }

    /// Stops waiting for the helper (kills it if it still runs).
    pub fn abandon(self) {
        match self {}
    }
}

/// Sends SIGKILL to `id` if it is still that process.
pub fn kill_verified(id: ProcId) -> Result<(), KillError> {
    signal_verified(id, libc::SIGKILL)
}

/// Sends a stop signal (`TERM`, `INT`, `QUIT` or `HUP`) to `id` if it is still that process.
pub(super) fn stop_signal(id: ProcId, signal: super::Signal) -> Result<(), KillError> {
    use super::Signal;
    let sig = match signal {
        Signal::Term => libc::SIGTERM,
        Signal::Int => libc::SIGINT,
        Signal::Quit => libc::SIGQUIT,
        Signal::Hup => libc::SIGHUP,
        Signal::CtrlC | Signal::CtrlBreak => {
            return Err(super::unsupported(
                id,
                "console events exist only on Windows",
            ))
        }
    };
    signal_verified(id, sig)
}

/// Sends `sig` to `id` if it is still that process (same PID and start time).
fn signal_verified(id: ProcId, sig: libc::c_int) -> Result<(), KillError> {
    #[cfg(target_os = "linux")]
    {
        // A pidfd pins the process: once open, the PID cannot be reused for another process
        // while we check its start time and signal it.
        // SAFETY: plain syscall with integer arguments.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, id.pid as libc::pid_t, 0) };
        if fd >= 0 {
            use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
            // SAFETY: the kernel just gave us this descriptor.
            let fd = unsafe { OwnedFd::from_raw_fd(fd as i32) };
            if identify(id.pid) != Some(id) {
                return Err(KillError::NotRunning(id.pid));
            }
            // SAFETY: plain syscall; the fd is valid for the call.
            let rc = unsafe {
                libc::syscall(
                    libc::SYS_pidfd_send_signal,
                    fd.as_raw_fd(),
                    sig,
                    std::ptr::null::<libc::siginfo_t>(),
                    0,
                )
            };
            return check(rc as i32, id.pid);
        }
        let err = std::io::Error::last_os_error();
        if err.raw_os_error() == Some(libc::ESRCH) {
            return Err(KillError::NotRunning(id.pid));
        }
        // ENOSYS (old kernel) and friends: fall back to a checked kill below.
    }
    if identify(id.pid) != Some(id) {
        return Err(KillError::NotRunning(id.pid));
    }
    // SAFETY: plain syscall.
    check(unsafe { libc::kill(id.pid as libc::pid_t, sig) }, id.pid)
}

fn check(rc: i32, pid: u32) -> Result<(), KillError> {
    if rc == 0 {
        return Ok(());
    }
    let source = std::io::Error::last_os_error();
    if source.raw_os_error() == Some(libc::ESRCH) {
        Err(KillError::NotRunning(pid))
    } else {
        Err(KillError::Os { pid, source })
    }
}

/// The daemon's OS events: SIGINT/SIGTERM ask it to stop, SIGHUP to reload the schedule.
pub struct Signals {
    int: tokio::signal::unix::Signal,
    term: tokio::signal::unix::Signal,
    hup: tokio::signal::unix::Signal,
}

impl Signals {
    pub fn new() -> std::io::Result<Signals> {
        use tokio::signal::unix::{signal, SignalKind};
        Ok(Signals {
            int: signal(SignalKind::interrupt())?,
            term: signal(SignalKind::terminate())?,
            hup: signal(SignalKind::hangup())?,
        })
    }

    pub async fn recv(&mut self) -> super::OsEvent {
        tokio::select! {
            _ = self.int.recv() => super::OsEvent::Stop("SIGINT"),
            _ = self.term.recv() => super::OsEvent::Stop("SIGTERM"),
            _ = self.hup.recv() => super::OsEvent::Reload("SIGHUP"),
        }
    }
}

/// Sleeps until a wall-clock instant. On Linux a `timerfd` on CLOCK_REALTIME with an absolute
/// deadline: it fires at the deadline even across suspend, and wakes early when the clock is
/// set, so the daemon wakes only when something is due. Elsewhere a monotonic sleep, at most
/// `max` long so that the caller re-reads the clock regularly.
pub struct WallTimer {
    #[cfg(target_os = "linux")]
    fd: tokio::io::unix::AsyncFd<std::os::fd::OwnedFd>,
}

impl WallTimer {
    pub fn new() -> std::io::Result<WallTimer> {
        #[cfg(target_os = "linux")]
        {
            use std::os::fd::{FromRawFd, OwnedFd};
            // SAFETY: plain syscall; the result is checked.
            let fd = unsafe {
                libc::timerfd_create(libc::CLOCK_REALTIME, libc::TFD_NONBLOCK | libc::TFD_CLOEXEC)
            };
            if fd < 0 {
                return Err(std::io::Error::last_os_error());
            }
            // SAFETY: the kernel just gave us this descriptor.
            let fd = unsafe { OwnedFd::from_raw_fd(fd) };
            // SAFETY: the OwnedFd is moved into the AsyncFd and stays open, as the same
            // descriptor, for the AsyncFd's whole life.
            let fd =
                unsafe { tokio::io::unix::AsyncFd::register(fd) }.map_err(std::io::Error::from)?;
            Ok(WallTimer { fd })
        }
        #[cfg(not(target_os = "linux"))]
        Ok(WallTimer {})
    }

    /// Returns when the wall clock reaches `deadline` (Unix time), when the clock is stepped,
    /// or — on systems without timerfd — after at most `max`. Callers re-read the clock.
    pub async fn sleep_until(
        &mut self,
        deadline: chrono::DateTime<chrono::Utc>,
        max: std::time::Duration,
    ) {
        #[cfg(target_os = "linux")]
        {
            let _ = max;
            if self.arm(deadline).is_err() {
                // Should not happen; fall back to a bounded monotonic sleep.
                return bounded_sleep(deadline, max).await;
            }
            loop {
                let Ok(mut guard) = self.fd.readable().await else {
                    return bounded_sleep(deadline, max).await;
                };
                let mut buf = [0u8; 8];
                // SAFETY: reading 8 bytes into a local buffer from our own descriptor.
                let n = unsafe {
                    libc::read(
                        std::os::fd::AsRawFd::as_raw_fd(self.fd.get_ref()),
                        buf.as_mut_ptr().cast(),
                        buf.len(),
                    )
                };
                if n >= 0 {
                    return; // expired
                }
                match std::io::Error::last_os_error().raw_os_error() {
                    Some(libc::EAGAIN) => guard.clear_ready(),
                    // ECANCELED: the clock was set; the caller re-plans. Anything else: same.
                    _ => return,
                }
            }
        }
        #[cfg(not(target_os = "linux"))]
        bounded_sleep(deadline, max).await
    }

    #[cfg(target_os = "linux")]
    fn arm(&self, deadline: chrono::DateTime<chrono::Utc>) -> std::io::Result<()> {
        let spec = libc::itimerspec {
            it_interval: libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            },
            it_value: libc::timespec {
                // A deadline at the epoch or before would disarm the timer: keep it positive.
                tv_sec: deadline.timestamp().max(1) as libc::time_t,
                tv_nsec: deadline.timestamp_subsec_nanos() as libc::c_long,
            },
        };
        // SAFETY: valid descriptor and spec; the old value is not wanted.
        let rc = unsafe {
            libc::timerfd_settime(
                std::os::fd::AsRawFd::as_raw_fd(self.fd.get_ref()),
                libc::TFD_TIMER_ABSTIME | libc::TFD_TIMER_CANCEL_ON_SET,
                &spec,
                std::ptr::null_mut(),
            )
        };
        if rc == 0 {
            Ok(())
        } else {
            Err(std::io::Error::last_os_error())
        }
    }
}

/// A monotonic sleep toward `deadline`, at most `max`.
async fn bounded_sleep(deadline: chrono::DateTime<chrono::Utc>, max: std::time::Duration) {
    let left = (deadline - chrono::Utc::now())
        .to_std()
        .unwrap_or(std::time::Duration::ZERO);
    tokio::time::sleep(left.min(max)).await
}

/// Returns when the process `id` exits, waiting on a pidfd (which becomes readable when the
/// process ends): no polling. `Err` when a pidfd cannot be had; the caller then polls.
#[cfg(target_os = "linux")]
pub(super) async fn wait_exit(id: ProcId) -> std::io::Result<()> {
    use std::os::fd::{FromRawFd, OwnedFd};
    // SAFETY: plain syscall with integer arguments.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, id.pid as libc::pid_t, 0) };
    if fd < 0 {
        let err = std::io::Error::last_os_error();
        return if err.raw_os_error() == Some(libc::ESRCH) {
            Ok(()) // already gone
        } else {
            Err(err)
        };
    }
    // SAFETY: the kernel just gave us this descriptor.
    let fd = unsafe { OwnedFd::from_raw_fd(fd as i32) };
    if identify(id.pid) != Some(id) {
        return Ok(()); // the PID is gone or now another process's
    }
    // SAFETY: the OwnedFd moves into the AsyncFd and stays open for its whole life.
    let fd = unsafe {
        tokio::io::unix::AsyncFd::register_with_interest(fd, tokio::io::Interest::READABLE)
    }
    .map_err(std::io::Error::from)?;
    let _ready = fd.readable().await?;
    Ok(())
}

/// This machine's zone as the OS keeps it, with where it was found: `/etc/timezone` (Debian),
/// then the target of the `/etc/localtime` link. The name is not checked here.
pub fn system_zone() -> Option<(String, &'static str)> {
    if let Ok(text) = std::fs::read_to_string("/etc/timezone") {
        let name = text.trim();
        if name.parse::<chrono_tz::Tz>().is_ok() {
            return Some((name.to_string(), "/etc/timezone"));
        }
    }
    let target = std::fs::read_link("/etc/localtime").ok()?;
    let target = target.to_string_lossy();
    let (_, name) = target.split_once("zoneinfo/")?;
    Some((name.to_string(), "/etc/localtime"))
}

/// Whether this user (the real uid, as `access(2)` checks) may write `path`; for a folder,
/// create files in it.
pub fn can_write(path: &std::path::Path) -> bool {
    let mode = if path.is_dir() {
        libc::W_OK | libc::X_OK
    } else {
        libc::W_OK
    };
    access(path, mode)
}

/// Whether this user may run the file `path`.
pub fn can_execute(path: &std::path::Path) -> bool {
    access(path, libc::X_OK)
}

fn access(path: &std::path::Path, mode: libc::c_int) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let Ok(c) = std::ffi::CString::new(path.as_os_str().as_bytes()) else {
        return false;
    };
    // SAFETY: `c` is a valid NUL-terminated string that outlives the call.
    unsafe { libc::access(c.as_ptr(), mode) == 0 }
}

/// Unix terminals show ANSI escapes as they are.
pub(super) fn enable_ansi_stdout() -> bool {
    true
}

/// Keeps a file's watch alive; changes arrive on the receiver `watch_file` gives.
pub struct FileWatch {
    _watcher: notify::RecommendedWatcher,
}

/// Watches `file`'s directory (notify: inotify on Linux, FSEvents/kqueue elsewhere) and sends
/// `()` for every change to a file of that name, and on a watcher error (events may be lost).
/// Other files of the directory are ignored; so are mere accesses.
pub fn watch_file(
    file: &std::path::Path,
) -> std::io::Result<(FileWatch, tokio::sync::mpsc::UnboundedReceiver<()>)> {
    use notify::{RecursiveMode, Watcher};
    let dir = match file.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    let name = file.file_name().map(|n| n.to_os_string());
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        let relevant = match &event {
            Ok(e) => e.paths.iter().any(|p| p.file_name() == name.as_deref()),
            // A watcher error may mean lost events: look at the file again.
            Err(_) => true,
        };
        if relevant && !matches!(&event, Ok(e) if e.kind.is_access()) {
            let _ = tx.send(());
        }
    })
    .map_err(std::io::Error::other)?;
    watcher
        .watch(&dir, RecursiveMode::NonRecursive)
        .map_err(std::io::Error::other)?;
    Ok((FileWatch { _watcher: watcher }, rx))
}
