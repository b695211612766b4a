//! Windows: detached start without a console window, out of the caller's job where allowed;
//! kill through a process handle whose creation time was checked (never `taskkill /PID`).

use super::KillError;
use crate::sys::process::ProcId;
use windows_sys::Win32::Foundation::WAIT_OBJECT_0;
use windows_sys::Win32::Foundation::{
    CloseHandle, SetHandleInformation, FILETIME, HANDLE, HANDLE_FLAG_INHERIT, INVALID_HANDLE_VALUE,
};
use windows_sys::Win32::System::Console::{
    GetStdHandle, STD_ERROR_HANDLE, STD_INPUT_HANDLE, STD_OUTPUT_HANDLE,
};
use windows_sys::Win32::System::Threading::{
    GetProcessTimes, OpenProcess, TerminateProcess, WaitForSingleObject, CREATE_BREAKAWAY_FROM_JOB,
    CREATE_NEW_PROCESS_GROUP, CREATE_NO_WINDOW, PROCESS_QUERY_LIMITED_INFORMATION,
    PROCESS_SYNCHRONIZE, PROCESS_TERMINATE,
};

pub(super) fn spawn(mut cmd: tokio::process::Command) -> std::io::Result<tokio::process::Child> {
    keep_own_stdio_out_of_children();
    // A hidden console of its own, its own Ctrl-Break group, and out of Task Scheduler's job
    // so that the task ending does not end the worker. Breakaway is refused in jobs that do
    // not allow it; then start without it.
    let base = CREATE_NO_WINDOW | CREATE_NEW_PROCESS_GROUP;
    cmd.creation_flags(base | CREATE_BREAKAWAY_FROM_JOB);
    match cmd.spawn() {
        Ok(child) => Ok(child),
        Err(e) if e.raw_os_error() == Some(5) => {
            cmd.creation_flags(base);
            cmd.spawn()
        }
        Err(e) => Err(e),
    }
}

/// CreateProcess passes every *inheritable* handle of the parent to the child, not only the
/// child's stdio. pacs-warden's own stdin/stdout/stderr are inheritable when its parent made
/// them so (a pipe from a script, a service wrapper, a test); a detached worker would then hold
/// the caller's pipe open for its whole life, and whoever reads pacs-warden's output through a
/// pipe (`Command::output()`, a script) would wait for the worker to exit. Clearing the flag on
/// our own handles changes nothing for us, and std still gives each child the stdio it asks
/// for (it duplicates those handles as inheritable itself).
fn keep_own_stdio_out_of_children() {
    for which in [STD_INPUT_HANDLE, STD_OUTPUT_HANDLE, STD_ERROR_HANDLE] {
        // SAFETY: plain calls; an invalid or null handle makes SetHandleInformation fail,
        // which is harmless here.
        unsafe {
            let h = GetStdHandle(which);
            if !h.is_null() && h != INVALID_HANDLE_VALUE {
                SetHandleInformation(h, HANDLE_FLAG_INHERIT, 0);
            }
        }
    }
}

struct Handle(HANDLE);

impl Drop for Handle {
    fn drop(&mut self) {
        // SAFETY: the handle came from OpenProcess and is closed once.
        unsafe { CloseHandle(self.0) };
    }
}

/// Seconds since the Unix epoch at which the process behind `h` was created.
fn creation_time(h: &Handle) -> std::io::Result<u64> {
    let zero = FILETIME {
        dwLowDateTime: 0,
        dwHighDateTime: 0,
    };
    let (mut created, mut exited, mut kernel, mut user) = (zero, zero, zero, zero);
    // SAFETY: valid handle and out-pointers.
    let ok = unsafe { GetProcessTimes(h.0, &mut created, &mut exited, &mut kernel, &mut user) };
    if ok == 0 {
        return Err(std::io::Error::last_os_error());
    }
    let ticks = (u64::from(created.dwHighDateTime) << 32) | u64::from(created.dwLowDateTime);
    Ok((ticks / 10_000_000).saturating_sub(11_644_473_600))
}

/// Terminates `id` if it is still that process. The open handle keeps the PID from being
/// reused between the check and the kill.
pub fn kill_verified(id: ProcId) -> Result<(), KillError> {
    // SAFETY: plain call; a null result is handled.
    let raw = unsafe {
        OpenProcess(
            PROCESS_TERMINATE | PROCESS_QUERY_LIMITED_INFORMATION | PROCESS_SYNCHRONIZE,
            0,
            id.pid,
        )
    };
    if raw.is_null() {
        return Err(KillError::NotRunning(id.pid));
    }
    let h = Handle(raw);
    // An exited process stays openable while anyone holds a handle to it (its parent, often):
    // it is gone all the same, and TerminateProcess on it would fail with "access denied".
    // SAFETY: valid handle with SYNCHRONIZE; a zero timeout only polls.
    if unsafe { WaitForSingleObject(h.0, 0) } == WAIT_OBJECT_0 {
        return Err(KillError::NotRunning(id.pid));
    }
    let created = creation_time(&h).map_err(|source| KillError::Os {
        pid: id.pid,
        source,
    })?;
    // sysinfo rounds the same FILETIME to seconds; allow one second either way.
    if created.abs_diff(id.start_time) > 1 {
        return Err(KillError::NotRunning(id.pid));
    }
    // SAFETY: valid handle with PROCESS_TERMINATE.
    if unsafe { TerminateProcess(h.0, 1) } == 0 {
        return Err(KillError::Os {
            pid: id.pid,
            source: std::io::Error::last_os_error(),
        });
    }
    Ok(())
}

/// The daemon's OS events: Ctrl-C, Ctrl-Break, console close and system shutdown ask it to
/// stop. (A service stop arrives through the service control handler instead.)
pub struct Signals {
    c: tokio::signal::windows::CtrlC,
    brk: tokio::signal::windows::CtrlBreak,
    close: tokio::signal::windows::CtrlClose,
    shutdown: tokio::signal::windows::CtrlShutdown,
}

impl Signals {
    pub fn new() -> std::io::Result<Signals> {
        use tokio::signal::windows;
        Ok(Signals {
            c: windows::ctrl_c()?,
            brk: windows::ctrl_break()?,
            close: windows::ctrl_close()?,
            shutdown: windows::ctrl_shutdown()?,
        })
    }

    pub async fn recv(&mut self) -> super::OsEvent {
        tokio::select! {
            _ = self.c.recv() => super::OsEvent::Stop("Ctrl-C"),
            _ = self.brk.recv() => super::OsEvent::Stop("Ctrl-Break"),
            _ = self.close.recv() => super::OsEvent::Stop("console close"),
            _ = self.shutdown.recv() => super::OsEvent::Stop("system shutdown"),
        }
    }
}

/// Sleeps toward a wall-clock instant: a monotonic sleep of at most `max`, after which the
/// caller re-reads the clock (so a clock change or a resume is noticed within `max`).
pub struct WallTimer;

impl WallTimer {
    pub fn new() -> std::io::Result<WallTimer> {
        Ok(WallTimer)
    }

    pub async fn sleep_until(
        &mut self,
        deadline: chrono::DateTime<chrono::Utc>,
        max: std::time::Duration,
    ) {
        let left = (deadline - chrono::Utc::now())
            .to_std()
            .unwrap_or(std::time::Duration::ZERO);
        tokio::time::sleep(left.min(max)).await
    }
}

/// This machine's zone as an IANA name, from Windows' time zone key name
/// (`GetDynamicTimeZoneInformation`, else the registry value
/// `HKLM\SYSTEM\CurrentControlSet\Control\TimeZoneInformation\TimeZoneKeyName`) mapped by
/// `zone::iana_of_windows_zone`. `None` when neither gives a name the table knows.
pub fn system_zone() -> Option<(String, &'static str)> {
    let from_api = dynamic_zone_key()
        .and_then(|key| crate::core::zone::iana_of_windows_zone(&key))
        .map(|iana| (iana.to_string(), "the Windows time zone setting"));
    from_api.or_else(|| {
        registry_zone_key()
            .and_then(|key| crate::core::zone::iana_of_windows_zone(&key))
            .map(|iana| (iana.to_string(), "the Windows registry (TimeZoneKeyName)"))
    })
}

fn dynamic_zone_key() -> Option<String> {
    use windows_sys::Win32::System::Time::{
        GetDynamicTimeZoneInformation, DYNAMIC_TIME_ZONE_INFORMATION, TIME_ZONE_ID_INVALID,
    };
    let mut info = DYNAMIC_TIME_ZONE_INFORMATION::default();
    // SAFETY: a valid out-pointer to a zeroed struct of the right type.
    if unsafe { GetDynamicTimeZoneInformation(&mut info) } == TIME_ZONE_ID_INVALID {
        return None;
    }
    wide_to_string(&info.TimeZoneKeyName)
}

fn registry_zone_key() -> Option<String> {
    use windows_sys::Win32::System::Registry::{RegGetValueW, HKEY_LOCAL_MACHINE, RRF_RT_REG_SZ};
    let subkey = wide(r"SYSTEM\CurrentControlSet\Control\TimeZoneInformation");
    let value = wide("TimeZoneKeyName");
    let mut buf = [0u16; 256];
    let mut size = std::mem::size_of_val(&buf) as u32;
    // SAFETY: NUL-terminated names, a buffer of `size` bytes.
    let rc = unsafe {
        RegGetValueW(
            HKEY_LOCAL_MACHINE,
            subkey.as_ptr(),
            value.as_ptr(),
            RRF_RT_REG_SZ,
            std::ptr::null_mut(),
            buf.as_mut_ptr().cast(),
            &mut size,
        )
    };
    if rc != 0 {
        return None;
    }
    wide_to_string(&buf)
}

/// `text` as a NUL-terminated UTF-16 string.
fn wide(text: &str) -> Vec<u16> {
    text.encode_utf16().chain(Some(0)).collect()
}

/// A NUL-terminated UTF-16 buffer as text; `None` when empty.
fn wide_to_string(buf: &[u16]) -> Option<String> {
    let end = buf.iter().position(|&c| c == 0).unwrap_or(buf.len());
    let text = String::from_utf16_lossy(&buf[..end]).trim().to_string();
    (!text.is_empty()).then_some(text)
}

/// Whether this user may write `path`; for a folder, create files in it. Windows permissions
/// are ACLs, so this tries: an empty file created in the folder and removed at once, or the
/// file opened for writing (not truncated).
pub fn can_write(path: &std::path::Path) -> bool {
    if path.is_dir() {
        let probe = path.join(format!(".pacs-warden-write-test.{}", std::process::id()));
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&probe)
        {
            Ok(file) => {
                drop(file);
                let _ = std::fs::remove_file(&probe);
                true
            }
            Err(e) => e.kind() == std::io::ErrorKind::AlreadyExists,
        }
    } else {
        std::fs::OpenOptions::new().write(true).open(path).is_ok()
    }
}

/// Whether this user may run the file `path` (Windows: any file found may be tried).
pub fn can_execute(_path: &std::path::Path) -> bool {
    true
}
