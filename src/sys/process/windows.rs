//! Windows: a known process's memory, read through a handle to it. sysinfo lists every process
//! of the machine (a Toolhelp snapshot) even when asked for a few PIDs; this asks only them.
//! Also the rule that says a handle's process is the one a `ProcId` names (`created_as`),
//! which `sys::os` uses too.

use super::ProcId;
use windows_sys::Win32::Foundation::{CloseHandle, FILETIME, HANDLE, WAIT_OBJECT_0};
use windows_sys::Win32::System::ProcessStatus::{K32GetProcessMemoryInfo, PROCESS_MEMORY_COUNTERS};
use windows_sys::Win32::System::Threading::{
    GetProcessTimes, OpenProcess, WaitForSingleObject, PROCESS_QUERY_LIMITED_INFORMATION,
    PROCESS_SYNCHRONIZE,
};

/// Seconds since the Unix epoch at which the process behind `h` was created.
pub(crate) fn creation_time(h: HANDLE) -> std::io::Result<u64> {
    let zero = FILETIME {
        dwLowDateTime: 0,
        dwHighDateTime: 0,
    };
    let (mut created, mut exited, mut kernel, mut user) = (zero, zero, zero, zero);
    // SAFETY: a process handle (with at least PROCESS_QUERY_LIMITED_INFORMATION, else the
    // call fails) and valid out-pointers.
    let ok = unsafe { GetProcessTimes(h, &mut created, &mut exited, &mut kernel, &mut user) };
    if ok == 0 {
        return Err(std::io::Error::last_os_error());
    }
    let ticks = (u64::from(created.dwHighDateTime) << 32) | u64::from(created.dwLowDateTime);
    Ok((ticks / 10_000_000).saturating_sub(11_644_473_600))
}

/// Whether a process created at `created` (as `creation_time` reads it) is the process `id`.
/// sysinfo, which gave `id.start_time`, rounds the same FILETIME to seconds its own way: one
/// second either way is allowed.
pub(crate) fn created_as(created: u64, id: ProcId) -> bool {
    created.abs_diff(id.start_time) <= 1
}

/// Closes the handle when dropped.
struct Owned(HANDLE);

impl Drop for Owned {
    fn drop(&mut self) {
        // SAFETY: the handle came from OpenProcess and is closed once.
        unsafe { CloseHandle(self.0) };
    }
}

/// The working set (bytes) of `id`, or `None` if it is gone: it cannot be opened, has exited
/// (an exited process stays openable while anyone holds a handle to it), was created at
/// another time (a reused PID), or its memory cannot be read.
fn working_set(id: ProcId) -> Option<u64> {
    // SAFETY: plain call; a null result is handled.
    let raw = unsafe {
        OpenProcess(
            PROCESS_QUERY_LIMITED_INFORMATION | PROCESS_SYNCHRONIZE,
            0,
            id.pid,
        )
    };
    if raw.is_null() {
        return None;
    }
    let h = Owned(raw);
    // SAFETY: valid handle with SYNCHRONIZE; a zero timeout only polls.
    if unsafe { WaitForSingleObject(h.0, 0) } == WAIT_OBJECT_0 {
        return None;
    }
    if !created_as(creation_time(h.0).ok()?, id) {
        return None;
    }
    // SAFETY: all-zero is a valid PROCESS_MEMORY_COUNTERS (plain integers).
    let mut counters: PROCESS_MEMORY_COUNTERS = unsafe { std::mem::zeroed() };
    let size = std::mem::size_of::<PROCESS_MEMORY_COUNTERS>() as u32;
    counters.cb = size;
    // SAFETY: valid handle with PROCESS_QUERY_LIMITED_INFORMATION (enough since Windows 7;
    // PROCESS_VM_READ was needed on XP only) and a buffer of the size given.
    if unsafe { K32GetProcessMemoryInfo(h.0, &mut counters, size) } == 0 {
        return None;
    }
    Some(counters.WorkingSetSize as u64)
}

/// The summed working sets of `ids`, or `None` if one of them no longer runs. Each process is
/// opened by its PID: nothing else on the machine is looked at.
pub(super) fn resident(ids: &[ProcId]) -> Option<u64> {
    ids.iter()
        .try_fold(0u64, |sum, id| Some(sum + working_set(*id)?))
}
