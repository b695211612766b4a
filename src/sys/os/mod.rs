//! The platform seam: the same functions on every OS, chosen here once.
//!
//! - `spawn_detached`: start a program so it outlives pacs-warden, without a console window and
//!   out of pacs-warden's signal group / job, stdout and stderr appended to a log file. On
//!   Windows it gets a windowless console of its own, with Ctrl-C enabled.
//! - `spawn`: start a program as pacs-warden's child (a helper command: killed if abandoned),
//!   its stdin, stdout and stderr as asked (`Stdio3`). Both take an argument list, never a
//!   shell string.
//! - `kill_verified`: end one process, but only if it is still the process identified (PID and
//!   start time), through a handle that pins it, so a reused PID is never hit.
//! - `kill_tree`: `kill_verified` for some processes and everything they started, children
//!   first.
//! - `stop_signal`: ask a verified process to stop: a Unix signal, or a Windows console event
//!   (Ctrl-C, Ctrl-Break) through a helper that attaches to the worker's own console only
//!   (`deliver_console_event` is the helper's side).
//! - `Signals`: the OS's requests to the daemon (stop, reload) as `OsEvent`s.
//! - `WallTimer`: sleep until a wall-clock instant, waking when the clock is stepped (Linux) or
//!   following the clock (Windows: an absolute waitable timer).
//! - `wait_exit`: wait for a process to exit (Linux: a pidfd; Windows: its handle; elsewhere a
//!   look every 2 s).
//! - `watch_file`: changes of one file, watched through its directory (Windows:
//!   `ReadDirectoryChangesW`; elsewhere the notify crate), other files of the directory ignored.
//! - `service`: pacs-warden as a Windows service (install, uninstall, run under the service
//!   manager); elsewhere each call fails with `ErrorKind::Unsupported`.
//! - `scm`: Windows services as workers (state, process id, stop, start, recovery settings,
//!   through the Service Control Manager); elsewhere `scm::open` fails with
//!   `ErrorKind::Unsupported`.
//! - `can_write`, `can_execute`: what this user may do with a path, for `check` (on Windows,
//!   writing a folder is tested with an empty file created and removed at once).
//! - `system_zone`: the machine's time zone as the OS keeps it (an IANA name), for when
//!   `iana_time_zone` cannot tell (Wine, minimal containers).
//! - `eventlog`: warnings, errors and alert events in the Windows Event Log (a no-op
//!   elsewhere).
//! - `stdout_takes_colour`: whether stdout is a terminal that shows ANSI colours (on Windows,
//!   the console's VT processing is turned on for it).
//! - `open_log`: a log file opened for appending, never through a symbolic link.
//! - `machine_zone`: the machine's time zone (`TZ`, then `iana_time_zone`, then `system_zone`).
//! - `resolve_program`, `program_search_dirs`, `program_files`: where a command's program is
//!   found, as this OS's process start looks for it (a relative path with a separator against
//!   the working folder; a bare name in `PATH`, on Windows also in pacs-warden's own folder and
//!   the system folders, and with `.exe` added when it has no extension).
//! - `program_data_dir`: `%ProgramData%\pacs-warden` on Windows, `None` elsewhere.
//!
//! These last path rules differ between the OSes by a line or two: they are written here with
//! `cfg!(windows)`, so that both forms compile on every OS, rather than in `unix.rs` /
//! `windows.rs`, which hold the code that calls each OS's own API.

#[cfg(unix)]
#[path = "unix.rs"]
mod imp;
#[cfg(windows)]
#[path = "windows.rs"]
mod imp;
#[cfg(windows)]
#[path = "windows_service.rs"]
mod windows_service;
#[cfg(windows)]
#[path = "windows_wait.rs"]
mod windows_wait;

pub mod eventlog;
pub mod scm;

use crate::sys::process::ProcId;
use std::path::{Path, PathBuf};

pub use imp::{can_execute, can_write, kill_verified, system_zone, Signals};
#[cfg(unix)]
pub use imp::{watch_file, FileWatch, WallTimer};
#[cfg(windows)]
pub use windows_wait::{watch_file, FileWatch, WallTimer};

/// Whether stdout is a terminal that shows ANSI colour escapes: a terminal at all, and on
/// Windows a console whose VT processing is on or could be turned on (Windows 10 and later;
/// the legacy console would print the escapes as text). Whether the user wants colour
/// (`NO_COLOR`) is the caller's question.
pub fn stdout_takes_colour() -> bool {
    std::io::IsTerminal::is_terminal(&std::io::stdout()) && imp::enable_ansi_stdout()
}

/// A stop signal: a Unix signal, or (Windows) a console event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    Term,
    Int,
    Quit,
    Hup,
    CtrlC,
    CtrlBreak,
}

impl Signal {
    /// The name `__console-event --event` takes, for a console event.
    pub fn console_name(self) -> Option<&'static str> {
        match self {
            Signal::CtrlC => Some("ctrl-c"),
            Signal::CtrlBreak => Some("ctrl-break"),
            _ => None,
        }
    }
}

/// What `stop_signal` set going.
#[derive(Debug)]
pub enum Sent {
    /// The signal was sent (Unix).
    Signalled,
    /// A helper (pacs-warden `__console-event`) is delivering the console event (Windows);
    /// `Delivery::poll` gives its verdict.
    Console(Delivery),
}

pub use imp::Delivery;

/// What the console-event helper reported: whether the event went out, and what it did, in
/// its words (digits and plain text only; control characters are removed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub sent: bool,
    pub text: String,
}

/// The console-event helper's exit statuses.
pub mod console_exit {
    /// The event was generated on the worker's console.
    pub const SENT: u8 = 0;
    /// The process is no longer the one identified: nothing was sent.
    pub const GONE: u8 = 10;
    /// The process has no console (`pythonw.exe`, a detached process).
    pub const NO_CONSOLE: u8 = 11;
    /// Another process, outside the verified tree, shares the console: nothing was sent.
    pub const FOREIGN: u8 = 12;
    /// `AttachConsole` failed for another reason.
    pub const ATTACH_FAILED: u8 = 13;
    /// `GenerateConsoleCtrlEvent` failed (Wine 8.0 for Ctrl-Break).
    pub const NOT_DELIVERED: u8 = 14;
}

/// Asks `id` to stop, if it is still that process: a Unix signal, sent at once; or a Windows
/// console event, delivered by a short-lived helper (pacs-warden itself, `__console-event`)
/// that attaches to `id`'s own console and sends the event only if every process on that
/// console is in `tree` (the worker's verified processes). pacs-warden itself never attaches
/// to a worker's console. A signal of the other system fails with `ErrorKind::Unsupported`
/// (validation refuses it before).
pub fn stop_signal(id: ProcId, signal: Signal, tree: &[ProcId]) -> Result<Sent, KillError> {
    #[cfg(unix)]
    {
        let _ = tree;
        if signal.console_name().is_some() {
            return Err(unsupported(id, "console events exist only on Windows"));
        }
        imp::stop_signal(id, signal).map(|()| Sent::Signalled)
    }
    #[cfg(windows)]
    {
        if signal.console_name().is_none() {
            return Err(unsupported(id, "Unix signals are not available on Windows"));
        }
        imp::console_event(id, signal, tree).map(Sent::Console)
    }
}

fn unsupported(id: ProcId, what: &str) -> KillError {
    KillError::Os {
        pid: id.pid,
        source: std::io::Error::new(std::io::ErrorKind::Unsupported, what.to_string()),
    }
}

/// The helper's side (`pacs-warden __console-event`): delivers `signal` (a console event) to
/// the console of `target`, or of the first other member of `tree` still running when
/// `target` has exited, if every process attached to that console is `target` or in `tree`.
/// Returns a `console_exit` status and what happened, for the daemon's log.
pub fn deliver_console_event(signal: Signal, target: ProcId, tree: &[ProcId]) -> (u8, String) {
    #[cfg(windows)]
    return imp::deliver_console_event(signal, target, tree);
    #[cfg(not(windows))]
    {
        let _ = (signal, target, tree);
        (
            console_exit::ATTACH_FAILED,
            "console events exist only on Windows".to_string(),
        )
    }
}

/// How often `wait_exit` looks where it cannot wait on the process itself.
const EXIT_POLL: std::time::Duration = std::time::Duration::from_secs(2);

/// Returns when the process `id` has exited (a zombie counts as exited; on Windows a PID now
/// held by a process created at another time too). On Linux this waits on a pidfd, on Windows
/// on the process handle in a thread of its own (see `windows_wait`), and costs nothing while
/// the process runs; elsewhere, or when the process cannot be opened for waiting, it checks
/// every 2 seconds. Dropping the future ends the wait (on Windows its thread and handle).
pub async fn wait_exit(id: ProcId) {
    #[cfg(target_os = "linux")]
    if imp::wait_exit(id).await.is_ok() {
        return;
    }
    #[cfg(windows)]
    if windows_wait::wait_exit(id).await.is_ok() {
        return;
    }
    while crate::sys::process::is_running(id) {
        tokio::time::sleep(EXIT_POLL).await;
    }
}

/// pacs-warden as a Windows service: `install(name, exe, config)`, `uninstall(name)`, and
/// `run(name, body)` for `run --service NAME` (the daemon as `body`, fed the service manager's
/// stop requests). On other systems every call fails with `ErrorKind::Unsupported`.
pub mod service {
    #[cfg(not(windows))]
    pub use super::no_service::{install, run, uninstall};
    #[cfg(windows)]
    pub use super::windows_service::{install, run, uninstall};
}

/// Whether `service::install` could set the service's recovery (restart on failure).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recovery {
    Set,
    /// The service manager has no such settings (Wine's).
    Unsupported,
}

#[cfg(not(windows))]
mod no_service {
    use super::OsEvent;
    use std::io;
    use std::path::Path;

    fn unsupported() -> io::Error {
        io::Error::new(
            io::ErrorKind::Unsupported,
            "Windows services exist only on Windows; on Linux use the systemd unit \
             schedules/pacs-warden.service",
        )
    }

    pub fn install(
        _name: &str,
        _exe: &Path,
        _config: &Path,
        _allow_writable_by: &[String],
    ) -> io::Result<super::Recovery> {
        Err(unsupported())
    }

    pub fn uninstall(_name: &str) -> io::Result<()> {
        Err(unsupported())
    }

    pub fn run(
        _name: &str,
        _body: impl FnOnce(tokio::sync::mpsc::UnboundedReceiver<OsEvent>) -> u8 + Send + 'static,
    ) -> io::Result<u8> {
        Err(unsupported())
    }
}

/// The arguments a service `name` is registered with: `run --config CONFIG --service NAME`,
/// and `--allow-writable-by NAME` for each name `service install` was given (README, Security).
pub fn service_arguments(
    name: &str,
    config: &Path,
    allow_writable_by: &[String],
) -> Vec<std::ffi::OsString> {
    let mut args: Vec<std::ffi::OsString> = vec![
        "run".into(),
        "--config".into(),
        config.as_os_str().to_owned(),
        "--service".into(),
        name.into(),
    ];
    for allowed in allow_writable_by {
        args.push("--allow-writable-by".into());
        args.push(allowed.into());
    }
    args
}

/// A request from the OS to the daemon.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OsEvent {
    /// Stop (the name of the signal or event, for the log).
    Stop(&'static str),
    /// Reload the schedule file.
    Reload(&'static str),
}

/// A process started by `spawn_detached`. Keep `child` to learn when it exits; dropping it
/// leaves the process running (it is reaped in the background).
#[derive(Debug)]
pub struct Spawned {
    pub id: ProcId,
    pub child: tokio::process::Child,
}

#[derive(Debug, thiserror::Error)]
pub enum KillError {
    /// The PID is gone or now belongs to another process: nothing was done.
    #[error("process {0} is no longer running")]
    NotRunning(u32),
    #[error("cannot kill process {pid}: {source}")]
    Os {
        pid: u32,
        #[source]
        source: std::io::Error,
    },
}

/// What to start.
#[derive(Debug, Clone)]
pub struct SpawnSpec<'a> {
    pub command: &'a [String],
    pub workdir: &'a Path,
    pub env: &'a [(String, String)],
    /// stdout and stderr are appended here; `None` discards them.
    pub log: Option<&'a Path>,
}

/// Where one of a child's output streams goes.
#[derive(Debug)]
pub enum Out {
    Null,
    /// A pipe the caller reads (`Child::stdout` / `stderr`).
    Piped,
    /// This file (e.g. a log opened for appending).
    File(std::fs::File),
}

impl From<Out> for std::process::Stdio {
    fn from(out: Out) -> std::process::Stdio {
        match out {
            Out::Null => std::process::Stdio::null(),
            Out::Piped => std::process::Stdio::piped(),
            Out::File(f) => f.into(),
        }
    }
}

/// How a child started by `spawn` is connected: stdin is a pipe when `stdin` (else empty).
#[derive(Debug)]
pub struct Stdio3 {
    pub stdin: bool,
    pub stdout: Out,
    pub stderr: Out,
}

/// The command `argv` (the program first, taken as it is: resolve it first) in `workdir`
/// with `env` added to pacs-warden's environment; no shell.
fn command(
    argv: &[String],
    workdir: &Path,
    env: &[(String, String)],
) -> std::io::Result<tokio::process::Command> {
    let (program, args) = argv
        .split_first()
        .ok_or_else(|| std::io::Error::other("empty command"))?;
    let mut cmd = tokio::process::Command::new(program);
    cmd.args(args)
        .current_dir(workdir)
        .envs(env.iter().map(|(k, v)| (k, v)));
    Ok(cmd)
}

/// Starts `spec` detached (see the module doc) and returns its identity.
pub fn spawn_detached(spec: &SpawnSpec<'_>) -> std::io::Result<Spawned> {
    let mut cmd = command(spec.command, spec.workdir, spec.env)?;
    cmd.stdin(std::process::Stdio::null()).kill_on_drop(false);
    match spec.log {
        Some(log) => {
            let file = open_log(log)?;
            cmd.stdout(file.try_clone()?).stderr(file);
        }
        None => {
            cmd.stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null());
        }
    }
    let child = imp::spawn(cmd)?;
    let pid = child
        .id()
        .ok_or_else(|| std::io::Error::other("the started process exited at once"))?;
    // The start time comes from the OS, as every later check reads it.
    let id = crate::sys::process::identify(pid).ok_or_else(|| {
        std::io::Error::other(format!("process {pid} exited right after it was started"))
    })?;
    Ok(Spawned { id, child })
}

/// Starts `argv` (see `command`) as a child of pacs-warden, connected as `stdio`. The child
/// is killed if its handle is dropped before it exits; its own children are not (see
/// `kill_tree`).
pub fn spawn(
    argv: &[String],
    workdir: &Path,
    env: &[(String, String)],
    stdio: Stdio3,
) -> std::io::Result<tokio::process::Child> {
    let mut cmd = command(argv, workdir, env)?;
    cmd.stdin(if stdio.stdin {
        std::process::Stdio::piped()
    } else {
        std::process::Stdio::null()
    })
    .stdout(stdio.stdout)
    .stderr(stdio.stderr)
    .kill_on_drop(true);
    cmd.spawn()
}

/// Kills `roots` and every process they started, deepest first, each only if it is still the
/// process identified (`kill_verified`). Returns each process found and what its kill did.
/// Reads every process: call it off the async thread.
pub fn kill_tree(roots: &[ProcId]) -> Vec<(ProcId, Result<(), KillError>)> {
    crate::sys::process::Snapshot::take()
        .tree(roots)
        .into_iter()
        .map(|p| (p.id, kill_verified(p.id)))
        .collect()
}

/// Opens a log file for appending, creating it (not its directory).
pub fn open_log(path: &Path) -> std::io::Result<std::fs::File> {
    // Never through a symbolic link: one planted in place of a log would make a privileged
    // pacs-warden append to whatever file it points at.
    crate::sys::trust::open_no_follow(path, std::fs::OpenOptions::new().create(true).append(true))
        .map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", path.display())))
}

/// `program` resolved the way the OS will: a bare name through PATH, a relative path with a
/// separator against `base`.
pub fn resolve_program(program: &str, base: &Path) -> PathBuf {
    let path = Path::new(program);
    if path.is_absolute() || path.components().count() == 1 {
        path.to_path_buf()
    } else {
        base.join(path)
    }
}

/// The folders a bare program name is looked for in, in order, as this OS's process start
/// does: `path_var` (a worker's own `PATH`), else this process's `PATH`; on Windows also the
/// folder of pacs-warden's own executable and the system folders (`%SystemRoot%\System32`,
/// `%SystemRoot%`).
pub fn program_search_dirs(path_var: Option<&str>) -> Vec<PathBuf> {
    let var = match path_var {
        Some(v) => Some(std::ffi::OsString::from(v)),
        None => std::env::var_os("PATH"),
    };
    let mut dirs: Vec<PathBuf> = var
        .map(|v| std::env::split_paths(&v).collect())
        .unwrap_or_default();
    if cfg!(windows) {
        dirs.extend(
            std::env::current_exe()
                .ok()
                .and_then(|e| e.parent().map(Path::to_path_buf)),
        );
        if let Some(root) = std::env::var_os("SystemRoot") {
            let root = PathBuf::from(root);
            dirs.push(root.join("System32"));
            dirs.push(root);
        }
    }
    dirs
}

/// The files a program path may name: itself, and on Windows, when it has no extension, the
/// same with `.exe` (as `CreateProcessW` tries).
pub fn program_files(candidate: &Path) -> Vec<PathBuf> {
    let mut tries = vec![candidate.to_path_buf()];
    if cfg!(windows) && candidate.extension().is_none() {
        tries.push(candidate.with_extension("exe"));
    }
    tries
}

/// Windows: `%ProgramData%\pacs-warden`, the folder the shipped examples and the installer
/// use. `None` elsewhere (or when `ProgramData` is not set).
pub fn program_data_dir() -> Option<PathBuf> {
    if !cfg!(windows) {
        return None;
    }
    std::env::var_os("ProgramData").map(|d| PathBuf::from(d).join("pacs-warden"))
}

/// This machine's time zone as an IANA name, or `None` when it cannot be found.
///
/// Order: the `TZ` environment variable (when it holds an IANA name), the OS answer through
/// `iana_time_zone`, then the OS's own setting read by `system_zone` (Unix:
/// `/etc/timezone` and the `/etc/localtime` link; Windows: the time zone's key name, mapped to
/// IANA by `iana_of_windows_zone`). The later steps exist because `iana_time_zone` fails in
/// some environments (Wine, minimal containers).
pub fn machine_zone() -> Option<(chrono_tz::Tz, &'static str)> {
    if let Ok(tz) = std::env::var("TZ") {
        if let Ok(zone) = tz.trim_start_matches(':').parse::<chrono_tz::Tz>() {
            return Some((zone, "the TZ environment variable"));
        }
    }
    if let Ok(name) = iana_time_zone::get_timezone() {
        if let Ok(zone) = name.parse::<chrono_tz::Tz>() {
            return Some((zone, "the operating system"));
        }
    }
    let (name, how) = system_zone()?;
    name.parse::<chrono_tz::Tz>().ok().map(|zone| (zone, how))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_service_runs_the_daemon_on_its_schedule() {
        let args = service_arguments(
            "pacs-warden",
            Path::new(r"C:\ProgramData\pacs warden\o.yaml"),
            &[r"HOSP\dose admins".to_string()],
        );
        let args: Vec<String> = args
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            args,
            [
                "run",
                "--config",
                r"C:\ProgramData\pacs warden\o.yaml",
                "--service",
                "pacs-warden",
                "--allow-writable-by",
                r"HOSP\dose admins"
            ]
        );
    }
}
