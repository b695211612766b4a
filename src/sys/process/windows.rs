//! Windows: a known process, asked through a handle to its PID alone. sysinfo lists every
//! process of the machine (a Toolhelp snapshot) even when asked for a few PIDs; this opens
//! only them.
//!
//! Owns the verified open that every per-process action builds on (`open_verified`: opened,
//! not exited, created when the `ProcId` says; `sys::os` kills, signals and waits through it),
//! the handle type that closes itself (`Handle`, `sys::os` uses it for its other kernel
//! objects too), and the two questions asked this way: `is_running` and `resident` (a tree's
//! working sets). A process that exists but is not ours to open (another account's, without
//! the right) is told apart from one that has gone: it is `OpenError::Denied`. The questions
//! then try once more with the query right alone (`open_to_query`); what still cannot be
//! opened is running, its memory unread.

use super::ProcId;
use windows_sys::Win32::Foundation::{
    CloseHandle, ERROR_ACCESS_DENIED, ERROR_INVALID_PARAMETER, FILETIME, HANDLE, STILL_ACTIVE,
    WAIT_OBJECT_0,
};
use windows_sys::Win32::System::ProcessStatus::{K32GetProcessMemoryInfo, PROCESS_MEMORY_COUNTERS};
use windows_sys::Win32::System::Threading::{
    GetExitCodeProcess, GetProcessTimes, OpenProcess, WaitForSingleObject, PROCESS_ACCESS_RIGHTS,
    PROCESS_QUERY_LIMITED_INFORMATION, PROCESS_SYNCHRONIZE,
};

/// A kernel handle (a process, event, timer, directory), closed when dropped.
#[derive(Debug)]
pub(crate) struct Handle(pub(crate) HANDLE);

// SAFETY: a kernel handle is an object reference, usable from any thread.
unsafe impl Send for Handle {}
unsafe impl Sync for Handle {}

impl Drop for Handle {
    fn drop(&mut self) {
        // SAFETY: the handle came from the call that opened it and is closed once.
        unsafe { CloseHandle(self.0) };
    }
}

/// Why `open_verified` gave no handle.
#[derive(Debug)]
pub(crate) enum OpenError {
    /// No process has that PID (any more), it has exited, or the PID is another process now.
    Gone,
    /// A process has that PID but this user may not open it (another account's process,
    /// pacs-warden not running as SYSTEM or an administrator): whether it is the process the
    /// `ProcId` names cannot be checked.
    Denied,
    /// Another failure (the process exists; nothing could be checked).
    Os(std::io::Error),
}

/// What an `OpenProcess` that failed with `code` (GetLastError) says about the PID:
/// ERROR_INVALID_PARAMETER is Windows' "no such process"; ERROR_ACCESS_DENIED means one
/// exists that is not ours to open.
pub(crate) fn open_failure(code: u32) -> OpenError {
    match code {
        ERROR_INVALID_PARAMETER => OpenError::Gone,
        ERROR_ACCESS_DENIED => OpenError::Denied,
        _ => OpenError::Os(std::io::Error::from_raw_os_error(code as i32)),
    }
}

/// Opens `id` with `access` (plus what the check needs: query and wait) if it is still that
/// process: running, and created when `id` says. The open handle keeps the PID from being
/// reused while it is held.
pub(crate) fn open_verified(
    id: ProcId,
    access: PROCESS_ACCESS_RIGHTS,
) -> Result<Handle, OpenError> {
    let h = open(
        id.pid,
        access | PROCESS_QUERY_LIMITED_INFORMATION | PROCESS_SYNCHRONIZE,
    )?;
    // An exited process stays openable while anyone holds a handle to it (its parent, often):
    // it is gone all the same.
    if has_exited(&h) {
        return Err(OpenError::Gone);
    }
    if !created_as(creation_time(&h).map_err(OpenError::Os)?, id) {
        return Err(OpenError::Gone);
    }
    Ok(h)
}

/// `OpenProcess(access)` on `pid`, its failure told apart (`open_failure`). Checks nothing of
/// the process: see `open_verified`.
fn open(pid: u32, access: PROCESS_ACCESS_RIGHTS) -> Result<Handle, OpenError> {
    // SAFETY: plain call; a null result is handled.
    let raw = unsafe { OpenProcess(access, 0, pid) };
    if raw.is_null() {
        let code = std::io::Error::last_os_error()
            .raw_os_error()
            .unwrap_or_default() as u32;
        return Err(open_failure(code));
    }
    Ok(Handle(raw))
}

/// Whether the process behind `h` (opened with SYNCHRONIZE) has exited.
pub(crate) fn has_exited(h: &Handle) -> bool {
    // SAFETY: valid handle with SYNCHRONIZE; a zero timeout only polls.
    unsafe { WaitForSingleObject(h.0, 0) == WAIT_OBJECT_0 }
}

/// Seconds since the Unix epoch at which the process behind `h` was created.
pub(crate) fn creation_time(h: &Handle) -> std::io::Result<u64> {
    let zero = FILETIME {
        dwLowDateTime: 0,
        dwHighDateTime: 0,
    };
    let (mut created, mut exited, mut kernel, mut user) = (zero, zero, zero, zero);
    // SAFETY: a process handle (with at least PROCESS_QUERY_LIMITED_INFORMATION, else the
    // call fails) and valid out-pointers.
    let ok = unsafe { GetProcessTimes(h.0, &mut created, &mut exited, &mut kernel, &mut user) };
    if ok == 0 {
        return Err(std::io::Error::last_os_error());
    }
    let ticks = (u64::from(created.dwHighDateTime) << 32) | u64::from(created.dwLowDateTime);
    Ok((ticks / 10_000_000).saturating_sub(11_644_473_600))
}

/// Whether a process created at `created` (as `creation_time` reads it) is the process `id`.
/// sysinfo, which gave `id.start_time`, rounds the same FILETIME to seconds its own way: one
/// second either way is allowed.
fn created_as(created: u64, id: ProcId) -> bool {
    created.abs_diff(id.start_time) <= 1
}

/// `open_verified` for a question only (is it running, how much memory): when the open with
/// SYNCHRONIZE is denied, the process is opened again with PROCESS_QUERY_LIMITED_INFORMATION
/// alone, which Windows grants more widely (the right sysinfo reads with), and checked the
/// same way with its exit code in place of the wait. The handle may lack SYNCHRONIZE: wait on
/// none from here.
fn open_to_query(id: ProcId) -> Result<Handle, OpenError> {
    match open_verified(id, 0) {
        Err(OpenError::Denied) => open_limited(id),
        other => other,
    }
}

/// `id` opened with PROCESS_QUERY_LIMITED_INFORMATION alone, if it is still that process:
/// its exit code says it still runs (a process that exited with code 259, STILL_ACTIVE, would
/// read as running), and it was created when `id` says.
fn open_limited(id: ProcId) -> Result<Handle, OpenError> {
    let h = open(id.pid, PROCESS_QUERY_LIMITED_INFORMATION)?;
    let mut code = 0u32;
    // SAFETY: valid handle with PROCESS_QUERY_LIMITED_INFORMATION and a valid out-pointer.
    if unsafe { GetExitCodeProcess(h.0, &mut code) } == 0 {
        return Err(OpenError::Os(std::io::Error::last_os_error()));
    }
    if code != STILL_ACTIVE as u32 {
        return Err(OpenError::Gone);
    }
    if !created_as(creation_time(&h).map_err(OpenError::Os)?, id) {
        return Err(OpenError::Gone);
    }
    Ok(h)
}

/// Whether `id` still runs. A process that is not ours to open (not even to query) counts as
/// running: it exists, and the answer "running" only ever makes a caller wait, report it as
/// still there or verify again before acting (every kill opens it itself), while "gone" would
/// let a second copy of a worker start next to it.
pub(super) fn is_running(id: ProcId) -> bool {
    open_to_query(id).map_or_else(|e| still_there(&e), |_| true)
}

/// Whether a process whose verified open failed with `e` is still there: all but `Gone`. Its
/// identity could not be checked, but a process has the PID.
fn still_there(e: &OpenError) -> bool {
    !matches!(e, OpenError::Gone)
}

/// What reading one process's memory found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Memory {
    /// Its working set (bytes).
    Bytes(u64),
    /// It runs, but its memory cannot be read (not ours to open, or the read failed).
    Unread,
    Gone,
}

/// The working set of `id`.
fn working_set(id: ProcId) -> Memory {
    let h = match open_to_query(id) {
        Ok(h) => h,
        Err(e) if still_there(&e) => return Memory::Unread,
        Err(_) => return Memory::Gone,
    };
    // SAFETY: all-zero is a valid PROCESS_MEMORY_COUNTERS (plain integers).
    let mut counters: PROCESS_MEMORY_COUNTERS = unsafe { std::mem::zeroed() };
    let size = std::mem::size_of::<PROCESS_MEMORY_COUNTERS>() as u32;
    counters.cb = size;
    // SAFETY: valid handle with PROCESS_QUERY_LIMITED_INFORMATION (enough since Windows 7;
    // PROCESS_VM_READ was needed on XP only) and a buffer of the size given.
    if unsafe { K32GetProcessMemoryInfo(h.0, &mut counters, size) } == 0 {
        return Memory::Unread;
    }
    Memory::Bytes(counters.WorkingSetSize as u64)
}

/// The summed working sets of `ids` that could be read, and the PIDs of those that run but
/// could not be; `None` if one of them no longer runs. Each process is opened by its PID:
/// nothing else on the machine is looked at.
pub(super) fn resident(ids: &[ProcId]) -> Option<(u64, Vec<u32>)> {
    let mut sum = 0u64;
    let mut unread = Vec::new();
    for id in ids {
        match working_set(*id) {
            Memory::Bytes(b) => sum += b,
            Memory::Unread => unread.push(id.pid),
            Memory::Gone => return None,
        }
    }
    Some((sum, unread))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A process of another account cannot be opened (ERROR_ACCESS_DENIED) where pacs-warden
    /// is not SYSTEM; Wine grants every open, so the decision is tested on the error codes.
    #[test]
    fn a_process_not_ours_to_open_is_still_there() {
        let denied = open_failure(ERROR_ACCESS_DENIED);
        assert!(matches!(denied, OpenError::Denied));
        assert!(still_there(&denied), "a denied open read as a gone process");
        let missing = open_failure(ERROR_INVALID_PARAMETER);
        assert!(matches!(missing, OpenError::Gone));
        assert!(!still_there(&missing), "a missing PID read as running");
        // Any other failure: something is there that could not be checked.
        let other = open_failure(6);
        assert!(matches!(&other, OpenError::Os(e) if e.raw_os_error() == Some(6)));
        assert!(still_there(&other));
    }

    /// The fallback of a denied open, on a real child (Wine never denies, so it is called
    /// directly): it runs, then it has exited though this test still holds its handle, and its
    /// PID with another creation time is another process.
    #[test]
    fn a_process_opened_to_query_only_is_checked_by_exit_code_and_creation_time() {
        let mut child = crate::sys::process::tests::hoarder(1);
        let id = crate::sys::process::identify(child.0.id()).unwrap();
        let running = open_limited(id);
        let reused = open_limited(ProcId {
            pid: id.pid,
            start_time: id.start_time - 3600,
        });
        child.0.kill().unwrap();
        child.0.wait().unwrap();
        let exited = open_limited(id);
        assert!(running.is_ok(), "a running child: {running:?}");
        assert!(matches!(reused, Err(OpenError::Gone)), "{reused:?}");
        assert!(matches!(exited, Err(OpenError::Gone)), "{exited:?}");
        drop(child);
        assert!(matches!(open_limited(id), Err(OpenError::Gone)));
    }
}
