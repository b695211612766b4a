//! Windows services run by the Service Control Manager (SCM) as workers: open one by name, read
//! its state, its process id, its exit codes and whether it shares its process, ask the SCM to
//! stop or start it, and read its recovery settings. Elsewhere `open` fails with
//! `ErrorKind::Unsupported` (a schedule with `service:` is refused before that).
//!
//! Knows no schedule and kills nothing: the restart sequence decides (`shell::sequence`).
//! The process id is read with `QueryServiceStatusEx` on the crate's handle, because
//! `windows-service` 0.8 drops it unless the state is RUNNING and it is wanted during
//! STOP_PENDING too.

use std::io;
use std::time::Duration;

/// A service's current state (`dwCurrentState`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Stopped,
    StartPending,
    StopPending,
    Running,
    /// Paused, or going into or out of a pause.
    Paused,
}

impl State {
    /// Someone (the SCM's recovery, an admin, the service itself) is starting or stopping it.
    pub fn is_pending(self) -> bool {
        matches!(self, State::StartPending | State::StopPending)
    }
}

/// What `QueryServiceStatusEx` says of a service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Status {
    pub state: State,
    /// The service process, while it has one (0 is `None`).
    pub pid: Option<u32>,
    /// What runs it: a process of its own, a process shared with other services (svchost),
    /// or no process at all (a driver).
    pub kind: Kind,
    /// `dwWin32ExitCode`: 0, or why it stopped (`code::SERVICE_SPECIFIC_ERROR`: see
    /// `service_exit`).
    pub win32_exit: u32,
    /// `dwServiceSpecificExitCode`, meaningful when `win32_exit` is
    /// `code::SERVICE_SPECIFIC_ERROR`.
    pub service_exit: u32,
}

/// What kind of service it is, as far as its process goes (`dwServiceType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A process of its own (`SERVICE_WIN32_OWN_PROCESS`, `SERVICE_USER_OWN_PROCESS`): the only
    /// kind whose process a worker restart may touch.
    OwnProcess,
    /// A process shared with other services (svchost): never killed for one of them.
    SharedProcess,
    /// A kernel or file-system driver: no process.
    Driver,
}

impl Status {
    /// Stopped with a failure code (the SCM's recovery may act on it).
    pub fn failed(&self) -> bool {
        self.state == State::Stopped && self.win32_exit != 0
    }

    /// Stopped because its process ended without reporting STOPPED (a crash, to the SCM).
    pub fn crashed(&self) -> bool {
        self.state == State::Stopped && self.win32_exit == code::PROCESS_ABORTED as u32
    }
}

/// What the SCM said to a stop or start request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Asked {
    /// The request was accepted.
    Sent,
    /// Nothing to do: it is already stopped (1062, on stop) or already running (1056, on
    /// start: the SCM's recovery or an admin got there first).
    AlreadyThere,
    /// It is starting or stopping and takes no request now (1061): wait.
    Pending,
}

/// A service's recovery settings (its failure actions), as far as they matter to a restart.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Recovery {
    /// The delay of each "restart the service" action.
    pub restart_delays: Vec<Duration>,
    /// An action reboots the machine or runs a command: killing the service process (a
    /// failure to the SCM) could set it off.
    pub drastic: bool,
    /// The actions also follow a stop with a non-zero exit code, not only a crash.
    pub on_non_crash: bool,
}

/// An open service.
pub struct Service {
    name: String,
    inner: imp::Inner,
    /// Opened by `open_to_read`: opened again the same way.
    read_only: bool,
}

/// Opens the service `name` for reading its state, stopping and starting it. A missing
/// service is `ErrorKind::NotFound`; elsewhere than Windows every call is
/// `ErrorKind::Unsupported`.
pub fn open(name: &str) -> io::Result<Service> {
    Ok(Service {
        name: name.to_string(),
        inner: retried(|| imp::open(name, false))?,
        read_only: false,
    })
}

/// Opens the service `name` only to read it (its state and configuration): what `check` may
/// do as a user who cannot stop or start it. Errors as `open`'s.
pub fn open_to_read(name: &str) -> io::Result<Service> {
    Ok(Service {
        name: name.to_string(),
        inner: retried(|| imp::open(name, true))?,
        read_only: true,
    })
}

/// How many times an SCM call is tried when it fails with `ERROR_INVALID_HANDLE`.
const TRIES: u32 = 4;

/// `call`, tried again (after a short pause, up to `TRIES` in all) when it fails with
/// `ERROR_INVALID_HANDLE`: seen under Wine 8.0 while other threads and processes opened and
/// closed service handles at the same time. Blocking.
fn retried<T>(mut call: impl FnMut() -> io::Result<T>) -> io::Result<T> {
    let mut tries = 1;
    loop {
        match call() {
            Err(e) if e.raw_os_error() == Some(code::INVALID_HANDLE) && tries < TRIES => {
                tries += 1;
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            other => return other,
        }
    }
}

impl Service {
    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn status(&self) -> io::Result<Status> {
        self.again(|i| i.status())
    }

    /// Asks the SCM to stop it (`SERVICE_CONTROL_STOP`). Other services depending on it and
    /// running are an error (1051), as is any other refusal.
    pub fn stop(&self) -> io::Result<Asked> {
        self.again(|i| i.stop())
    }

    /// Asks the SCM to start it.
    pub fn start(&self) -> io::Result<Asked> {
        self.again(|i| i.start())
    }

    /// `call`, and again through fresh handles when the SCM calls the handle invalid
    /// (`retried`).
    fn again<T>(&self, call: impl Fn(&imp::Inner) -> io::Result<T>) -> io::Result<T> {
        match call(&self.inner) {
            Err(e) if e.raw_os_error() == Some(code::INVALID_HANDLE) => {
                retried(|| call(&imp::open(&self.name, self.read_only)?))
            }
            other => other,
        }
    }

    /// Its failure actions; `None` when the SCM cannot tell (Wine: `ERROR_INVALID_LEVEL`).
    pub fn recovery(&self) -> io::Result<Option<Recovery>> {
        self.again(|i| i.recovery())
    }

    /// The file name of the program the service runs (from its configured command line, e.g.
    /// `openrem-huey.exe` for a WinSW service), to check the process the SCM names against.
    pub fn program(&self) -> io::Result<Option<String>> {
        self.again(|i| i.binary_path()).map(|p| program_name(&p))
    }

    /// The full path of the program the service runs, as its configured command line names
    /// it (`program_path`): where a WinSW wrapper keeps its XML beside it.
    pub fn program_path(&self) -> io::Result<Option<String>> {
        self.again(|i| i.binary_path()).map(|p| program_path(&p))
    }
}

/// The program's file name in a service's command line (`lpBinaryPathName`): quoted, or up to
/// the first `.exe`, or up to the first space; `None` when there is nothing.
pub fn program_name(command_line: &str) -> Option<String> {
    let path = program_path(command_line)?;
    let name = path.rsplit(['\\', '/']).next().unwrap_or(&path).trim();
    (!name.is_empty()).then(|| name.to_string())
}

/// The program's path in a service's command line, as `program_name` finds it.
pub fn program_path(command_line: &str) -> Option<String> {
    let line = command_line.trim();
    let path = if let Some(rest) = line.strip_prefix('"') {
        rest.split('"').next().unwrap_or(rest)
    } else if let Some(at) = line.to_ascii_lowercase().find(".exe") {
        &line[..at + 4]
    } else {
        line.split(' ').next().unwrap_or(line)
    };
    let path = path.trim();
    (!path.is_empty()).then(|| path.to_string())
}

/// Windows error codes the callers may want to name.
pub mod code {
    pub const INVALID_HANDLE: i32 = 6;
    pub const SERVICE_DOES_NOT_EXIST: i32 = 1060;
    pub const DEPENDENT_SERVICES_RUNNING: i32 = 1051;
    /// The service did not answer a control within 30 s (`ERROR_SERVICE_REQUEST_TIMEOUT`).
    pub const SERVICE_REQUEST_TIMEOUT: i32 = 1053;
    /// `dwWin32ExitCode` of a service that stopped with its own code in
    /// `dwServiceSpecificExitCode` (`ERROR_SERVICE_SPECIFIC_ERROR`).
    pub const SERVICE_SPECIFIC_ERROR: i32 = 1066;
    /// `dwWin32ExitCode` of a service whose process ended without reporting STOPPED
    /// (`ERROR_PROCESS_ABORTED`): a crash, to the SCM's recovery.
    pub const PROCESS_ABORTED: i32 = 1067;
}

#[cfg(test)]
mod tests {
    use super::{program_name, program_path};

    #[test]
    fn the_program_is_read_from_the_service_command_line() {
        for (line, want) in [
            (
                r#""C:\Program Files\OpenREM\openrem-huey.exe" run"#,
                Some("openrem-huey.exe"),
            ),
            (r"C:\WinSW\huey.EXE --flag x", Some("huey.EXE")),
            (
                r"C:\Windows\System32\svchost.exe -k netsvcs",
                Some("svchost.exe"),
            ),
            (r"Z:\tmp\stand-in service NAME", Some("stand-in")),
            ("  ", None),
        ] {
            assert_eq!(program_name(line).as_deref(), want, "{line}");
        }
        assert_eq!(
            program_path(r#""C:\Program Files\WinSW\huey.exe" run"#).as_deref(),
            Some(r"C:\Program Files\WinSW\huey.exe")
        );
        assert_eq!(
            program_path(r"C:\WinSW\huey.EXE --flag x").as_deref(),
            Some(r"C:\WinSW\huey.EXE")
        );
    }
}

#[cfg(not(windows))]
mod imp {
    use super::{Asked, Recovery, Status};
    use std::io;

    pub enum Inner {}

    pub fn open(_name: &str, _read_only: bool) -> io::Result<Inner> {
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "Windows services exist only on Windows",
        ))
    }

    impl Inner {
        pub fn status(&self) -> io::Result<Status> {
            match *self {}
        }
        pub fn stop(&self) -> io::Result<Asked> {
            match *self {}
        }
        pub fn start(&self) -> io::Result<Asked> {
            match *self {}
        }
        pub fn recovery(&self) -> io::Result<Option<Recovery>> {
            match *self {}
        }
        pub fn binary_path(&self) -> io::Result<String> {
            match *self {}
        }
    }
}

#[cfg(windows)]
mod imp {
    use super::{Asked, Kind, Recovery, State, Status};
    use std::ffi::OsStr;
    use std::io;
    use windows_service::service::{ServiceAccess, ServiceActionType};
    use windows_service::service_manager::{ServiceManager, ServiceManagerAccess};
    use windows_sys::Win32::System::Services::{
        QueryServiceStatusEx, SC_STATUS_PROCESS_INFO, SERVICE_RUNNING, SERVICE_START_PENDING,
        SERVICE_STATUS_PROCESS, SERVICE_STOPPED, SERVICE_STOP_PENDING, SERVICE_WIN32_OWN_PROCESS,
        SERVICE_WIN32_SHARE_PROCESS,
    };

    const ERROR_INVALID_LEVEL: i32 = 124;
    const ERROR_SERVICE_ALREADY_RUNNING: i32 = 1056;
    const ERROR_SERVICE_CANNOT_ACCEPT_CTRL: i32 = 1061;
    const ERROR_SERVICE_NOT_ACTIVE: i32 = 1062;

    pub struct Inner {
        service: windows_service::service::Service,
        // The manager's handle outlives the service's.
        _manager: ServiceManager,
    }

    // SAFETY: the two handles are SCM handles, which any thread may use (the SCM functions
    // take no thread affinity); they are closed once, when `Inner` drops.
    unsafe impl Send for Inner {}
    // SAFETY: as above; every call through `&Inner` is one SCM call on the handle.
    unsafe impl Sync for Inner {}

    /// The OS error inside the crate's, its code kept (callers match on it).
    fn os(e: windows_service::Error) -> io::Error {
        match e {
            windows_service::Error::Winapi(source) => source,
            other => io::Error::other(other.to_string()),
        }
    }

    /// `read_only`: the rights to query it only, not to stop or start it.
    pub fn open(name: &str, read_only: bool) -> io::Result<Inner> {
        let manager = ServiceManager::local_computer(None::<&str>, ServiceManagerAccess::CONNECT)
            .map_err(os)?;
        let read = ServiceAccess::QUERY_STATUS | ServiceAccess::QUERY_CONFIG;
        let access = if read_only {
            read
        } else {
            read | ServiceAccess::STOP | ServiceAccess::START
        };
        let service = manager.open_service(name, access).map_err(|e| {
            let e = os(e);
            if e.raw_os_error() == Some(super::code::SERVICE_DOES_NOT_EXIST) {
                io::Error::new(io::ErrorKind::NotFound, e)
            } else {
                e
            }
        })?;
        Ok(Inner {
            service,
            _manager: manager,
        })
    }

    impl Inner {
        pub fn status(&self) -> io::Result<Status> {
            // SAFETY: all-zero is a valid SERVICE_STATUS_PROCESS.
            let mut raw: SERVICE_STATUS_PROCESS = unsafe { std::mem::zeroed() };
            let mut needed = 0u32;
            // SAFETY: the handle is open with QUERY_STATUS; the buffer is one
            // SERVICE_STATUS_PROCESS, its size passed.
            let ok = unsafe {
                QueryServiceStatusEx(
                    self.service.raw_handle(),
                    SC_STATUS_PROCESS_INFO,
                    (&mut raw as *mut SERVICE_STATUS_PROCESS).cast(),
                    std::mem::size_of::<SERVICE_STATUS_PROCESS>() as u32,
                    &mut needed,
                )
            };
            if ok == 0 {
                return Err(io::Error::last_os_error());
            }
            let state = match raw.dwCurrentState {
                SERVICE_STOPPED => State::Stopped,
                SERVICE_START_PENDING => State::StartPending,
                SERVICE_STOP_PENDING => State::StopPending,
                SERVICE_RUNNING => State::Running,
                _ => State::Paused,
            };
            Ok(Status {
                state,
                pid: (raw.dwProcessId != 0).then_some(raw.dwProcessId),
                kind: if raw.dwServiceType & SERVICE_WIN32_SHARE_PROCESS != 0 {
                    Kind::SharedProcess
                } else if raw.dwServiceType & SERVICE_WIN32_OWN_PROCESS != 0 {
                    Kind::OwnProcess
                } else {
                    Kind::Driver
                },
                win32_exit: raw.dwWin32ExitCode,
                service_exit: raw.dwServiceSpecificExitCode,
            })
        }

        pub fn stop(&self) -> io::Result<Asked> {
            match self.service.stop().map_err(os) {
                Ok(_) => Ok(Asked::Sent),
                Err(e) => match e.raw_os_error() {
                    Some(ERROR_SERVICE_NOT_ACTIVE) => Ok(Asked::AlreadyThere),
                    // 1053: its handler did not answer within 30 s; it may still be stopping.
                    Some(ERROR_SERVICE_CANNOT_ACCEPT_CTRL)
                    | Some(super::code::SERVICE_REQUEST_TIMEOUT) => Ok(Asked::Pending),
                    _ => Err(e),
                },
            }
        }

        pub fn start(&self) -> io::Result<Asked> {
            match self.service.start(&[] as &[&OsStr]).map_err(os) {
                Ok(()) => Ok(Asked::Sent),
                Err(e) => match e.raw_os_error() {
                    Some(ERROR_SERVICE_ALREADY_RUNNING) => Ok(Asked::AlreadyThere),
                    _ => Err(e),
                },
            }
        }

        pub fn recovery(&self) -> io::Result<Option<Recovery>> {
            let actions = match self.service.get_failure_actions().map_err(os) {
                Ok(a) => a,
                Err(e) if e.raw_os_error() == Some(ERROR_INVALID_LEVEL) => return Ok(None),
                Err(e) => return Err(e),
            };
            let on_non_crash = self
                .service
                .get_failure_actions_on_non_crash_failures()
                .unwrap_or(false);
            let mut recovery = Recovery {
                on_non_crash,
                ..Recovery::default()
            };
            for action in actions.actions.unwrap_or_default() {
                match action.action_type {
                    ServiceActionType::Restart => recovery.restart_delays.push(action.delay),
                    ServiceActionType::Reboot | ServiceActionType::RunCommand => {
                        recovery.drastic = true
                    }
                    ServiceActionType::None => {}
                }
            }
            Ok(Some(recovery))
        }

        pub fn binary_path(&self) -> io::Result<String> {
            let config = self.service.query_config().map_err(os)?;
            Ok(config.executable_path.to_string_lossy().into_owned())
        }
    }
}
