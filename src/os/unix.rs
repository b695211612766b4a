//! Unix: a new session (setsid) for detached processes; kill through a pidfd on Linux.

use super::KillError;
use crate::process::{identify, ProcId};

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

/// Sends SIGKILL to `id` if it is still that process.
pub fn kill_verified(id: ProcId) -> Result<(), KillError> {
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
                    libc::SIGKILL,
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
    check(
        unsafe { libc::kill(id.pid as libc::pid_t, libc::SIGKILL) },
        id.pid,
    )
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
