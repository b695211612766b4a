//! Windows: detached start with a windowless console of its own (Ctrl-C enabled), out of the
//! caller's job where allowed; kill through a process handle whose creation time was checked
//! (never `taskkill /PID`); console events (Ctrl-C, Ctrl-Break) delivered to one worker's
//! console by a helper process that checks who else is on it.

use super::KillError;
use crate::sys::process::windows::{has_exited, open_verified as verified, Handle, OpenError};
use crate::sys::process::ProcId;
use windows_sys::Win32::Foundation::{
    SetHandleInformation, ERROR_ACCESS_DENIED, HANDLE_FLAG_INHERIT, INVALID_HANDLE_VALUE,
};
use windows_sys::Win32::System::Console::{
    GetStdHandle, SetConsoleCtrlHandler, STD_ERROR_HANDLE, STD_INPUT_HANDLE, STD_OUTPUT_HANDLE,
};
use windows_sys::Win32::System::Threading::{
    TerminateProcess, CREATE_BREAKAWAY_FROM_JOB, CREATE_NO_WINDOW, PROCESS_ACCESS_RIGHTS,
    PROCESS_TERMINATE,
};

pub(super) fn spawn(mut cmd: tokio::process::Command) -> std::io::Result<tokio::process::Child> {
    keep_own_stdio_out_of_children();
    let_children_take_ctrl_c();
    // A console of its own without a window (so a console event sent to it reaches the
    // worker and its children only, and a Ctrl-C in pacs-warden's own console never reaches
    // it), and out of Task Scheduler's job so that the task ending does not end the worker.
    // Breakaway is refused in jobs that do not allow it; then start without it. No
    // CREATE_NEW_PROCESS_GROUP: it starts the process with Ctrl-C ignored, inherited by
    // everything it starts (Python then never sees SIGINT), and the own console already keeps
    // the worker apart.
    let base = CREATE_NO_WINDOW;
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

/// Opens `id` with `access` if it is still that process (`sys::process::windows`'s verified
/// open). A process that is not ours to open is an error, not "no longer running": it exists.
fn open_verified(id: ProcId, access: PROCESS_ACCESS_RIGHTS) -> Result<Handle, KillError> {
    verified(id, access).map_err(|e| match e {
        OpenError::Gone => KillError::NotRunning(id.pid),
        OpenError::Denied => KillError::Os {
            pid: id.pid,
            source: std::io::Error::from_raw_os_error(ERROR_ACCESS_DENIED as i32),
        },
        OpenError::Os(source) => KillError::Os {
            pid: id.pid,
            source,
        },
    })
}

/// Terminates `id` if it is still that process. The open handle keeps the PID from being
/// reused between the check and the kill.
pub fn kill_verified(id: ProcId) -> Result<(), KillError> {
    let h = open_verified(id, PROCESS_TERMINATE)?;
    // SAFETY: valid handle with PROCESS_TERMINATE.
    if unsafe { TerminateProcess(h.0, 1) } == 0 {
        return Err(KillError::Os {
            pid: id.pid,
            source: std::io::Error::last_os_error(),
        });
    }
    Ok(())
}

/// Clears pacs-warden's own "ignore Ctrl-C" attribute, once, before its first detached child:
/// children inherit it, and pacs-warden may have been started with it set (by a parent started
/// with CREATE_NEW_PROCESS_GROUP, say). Handlers (tokio's) stay as they are.
fn let_children_take_ctrl_c() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // SAFETY: plain call; NULL + FALSE only clears the attribute.
        unsafe { SetConsoleCtrlHandler(None, 0) };
    });
}

/// A console event on its way: the helper process, and handles to the verified processes
/// that pacs-warden holds until the helper is done (so no PID of the tree can be reused
/// meanwhile).
#[derive(Debug)]
pub struct Delivery {
    child: std::process::Child,
    _pins: Vec<Handle>,
}

impl Delivery {
    /// The helper's verdict once it has exited; `None` while it runs.
    pub fn poll(&mut self) -> Option<super::Verdict> {
        use std::io::Read as _;
        let status = match self.child.try_wait() {
            Ok(None) => return None,
            Ok(Some(status)) => status,
            Err(e) => {
                return Some(super::Verdict {
                    sent: false,
                    text: format!("cannot wait for the console helper: {e}"),
                })
            }
        };
        let mut out = String::new();
        if let Some(mut pipe) = self.child.stdout.take() {
            let _ = pipe.read_to_string(&mut out);
        }
        let text: String = out
            .trim()
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .take(500)
            .collect();
        let sent = status.code() == Some(i32::from(super::console_exit::SENT));
        Some(super::Verdict {
            sent,
            text: if text.is_empty() {
                format!("the console helper ended with {status}")
            } else {
                text
            },
        })
    }

    /// Stops waiting for the helper (kills it if it still runs).
    pub fn abandon(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts the helper (`pacs-warden __console-event`) that sends `signal` to `id`'s console,
/// after pinning `id` and `tree`. The helper has no console of its own (DETACHED_PROCESS) and
/// stays in pacs-warden's process group, as the workers pacs-warden started do (Wine delivers
/// an event only within the sender's group).
pub(super) fn console_event(
    id: ProcId,
    signal: super::Signal,
    tree: &[ProcId],
) -> Result<Delivery, KillError> {
    use std::os::windows::process::CommandExt as _;
    use windows_sys::Win32::System::Threading::DETACHED_PROCESS;
    let event = signal
        .console_name()
        .ok_or_else(|| super::unsupported(id, "not a console event"))?;
    let pin = open_verified(id, 0)?;
    let mut pins = vec![pin];
    pins.extend(
        tree.iter()
            .filter(|t| **t != id)
            .filter_map(|t| open_verified(*t, 0).ok()),
    );
    let os = |source| KillError::Os {
        pid: id.pid,
        source,
    };
    let exe = std::env::current_exe().map_err(os)?;
    keep_own_stdio_out_of_children();
    let mut cmd = std::process::Command::new(exe);
    cmd.args(["__console-event", "--event", event])
        .args(["--pid", &id.pid.to_string()])
        .args(["--start", &id.start_time.to_string()]);
    for t in tree {
        cmd.args(["--tree", &format!("{}:{}", t.pid, t.start_time)]);
    }
    cmd.stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .creation_flags(DETACHED_PROCESS);
    let child = cmd.spawn().map_err(os)?;
    Ok(Delivery { child, _pins: pins })
}

/// The helper's own handler: it attached to the worker's console and receives its own event;
/// NULL/TRUE does not cover Ctrl-Break, whose default handler would end the helper.
unsafe extern "system" fn swallow(_event: u32) -> windows_sys::core::BOOL {
    1
}

/// The helper's work (see `super::deliver_console_event`). Runs in the short-lived
/// `__console-event` process only: it changes this process's console.
pub(super) fn deliver_console_event(
    signal: super::Signal,
    target: ProcId,
    tree: &[ProcId],
) -> (u8, String) {
    use super::console_exit as exit;
    use windows_sys::Win32::Foundation::{GetLastError, ERROR_INVALID_HANDLE};
    use windows_sys::Win32::System::Console::{
        AttachConsole, FreeConsole, GenerateConsoleCtrlEvent, GetConsoleProcessList,
        CTRL_BREAK_EVENT, CTRL_C_EVENT,
    };
    use windows_sys::Win32::System::Threading::{GetCurrentProcessId, Sleep};
    let (event, name) = match signal {
        super::Signal::CtrlC => (CTRL_C_EVENT, "Ctrl-C"),
        super::Signal::CtrlBreak => (CTRL_BREAK_EVENT, "Ctrl-Break"),
        _ => return (exit::ATTACH_FAILED, "not a console event".into()),
    };
    // Pin every process this may touch: a PID checked here cannot be reused while its
    // handle is open.
    let mut members: Vec<(ProcId, Handle)> = Vec::new();
    for id in std::iter::once(&target).chain(tree.iter().filter(|t| **t != target)) {
        if let Ok(h) = open_verified(*id, 0) {
            members.push((*id, h));
        }
    }
    if members.is_empty() {
        return (
            exit::GONE,
            format!(
                "process {} is no longer running; {name} not sent",
                target.pid
            ),
        );
    }
    // SAFETY (this block): plain console calls on this process's own state.
    unsafe {
        SetConsoleCtrlHandler(None, 1);
        FreeConsole();
        // The target's console, or (the target has exited, its children live on) the first
        // other member's.
        let mut attached = None;
        let mut last_error = (exit::GONE, String::new());
        for (id, h) in &members {
            if AttachConsole(id.pid) != 0 {
                attached = Some(*id);
                break;
            }
            let code = GetLastError();
            // Wine says "invalid handle" for a missing process too: decide "gone" from the
            // pinned handle, not the code.
            last_error = if has_exited(h) {
                (
                    exit::GONE,
                    format!("process {} is no longer running; {name} not sent", id.pid),
                )
            } else if code == ERROR_INVALID_HANDLE {
                (
                    exit::NO_CONSOLE,
                    format!("process {} has no console; {name} not sent", id.pid),
                )
            } else {
                (
                    exit::ATTACH_FAILED,
                    format!(
                        "cannot attach to the console of process {} (error {code}); {name} not sent",
                        id.pid
                    ),
                )
            };
        }
        let Some(on) = attached else {
            return last_error;
        };
        // Attaching resets the handler state: ignore our own event again, Ctrl-Break too.
        SetConsoleCtrlHandler(None, 1);
        SetConsoleCtrlHandler(Some(swallow), 1);
        // WinSW and Servy wait a little between the handler change and the event (a delay
        // observed on Windows 10 2004 and Server 2019). The wait comes before the console's
        // processes are listed, so that nothing attached during it escapes the check.
        Sleep(50);
        let mut pids = [0u32; 256];
        let n = GetConsoleProcessList(pids.as_mut_ptr(), pids.len() as u32) as usize;
        let me = GetCurrentProcessId();
        if n == 0 || n > pids.len() {
            FreeConsole();
            return (
                exit::FOREIGN,
                format!(
                    "cannot list the processes on the console of process {}; {name} not sent",
                    on.pid
                ),
            );
        }
        let listed = &pids[..n];
        let foreign: Vec<u32> = listed
            .iter()
            .copied()
            .filter(|&p| p != me)
            .filter(|&p| !members.iter().any(|(id, h)| id.pid == p && !has_exited(h)))
            .collect();
        if !foreign.is_empty() {
            FreeConsole();
            return (
                exit::FOREIGN,
                format!(
                    "the console of process {} is shared with processes outside the worker \
                     ({foreign:?}); {name} not sent",
                    on.pid
                ),
            );
        }
        let ok = GenerateConsoleCtrlEvent(event, 0);
        let code = GetLastError();
        FreeConsole();
        if ok == 0 {
            return (
                exit::NOT_DELIVERED,
                format!(
                    "{name} could not be generated on the console of process {} (error {code})",
                    on.pid
                ),
            );
        }
        (
            exit::SENT,
            format!(
                "sent {name} to the console of process {} ({} worker processes on it)",
                on.pid,
                n - 1
            ),
        )
    }
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

/// Turns on VT processing for the console behind stdout (so ANSI colour escapes are shown, not
/// printed); false when stdout is no console or the console cannot do it (before Windows 10).
pub(super) fn enable_ansi_stdout() -> bool {
    use windows_sys::Win32::System::Console::{
        GetConsoleMode, SetConsoleMode, ENABLE_VIRTUAL_TERMINAL_PROCESSING,
    };
    // SAFETY: plain calls on our own stdout handle; `mode` outlives the call.
    unsafe {
        let h = GetStdHandle(STD_OUTPUT_HANDLE);
        if h.is_null() || h == INVALID_HANDLE_VALUE {
            return false;
        }
        let mut mode = 0;
        if GetConsoleMode(h, &mut mode) == 0 {
            return false;
        }
        mode & ENABLE_VIRTUAL_TERMINAL_PROCESSING != 0
            || SetConsoleMode(h, mode | ENABLE_VIRTUAL_TERMINAL_PROCESSING) != 0
    }
}
