//! Windows: pacs-warden as a Windows service, through Mullvad's `windows-service` crate.
//!
//! `install` registers `pacs-warden.exe run --config FILE --service NAME` (see
//! `super::service_arguments`) to start automatically as LocalSystem, restarted by the service
//! manager when it fails (three times, a minute apart, the count reset after a day; a non-zero
//! exit counts as a failure, not only a crash). `run` is what `run --service NAME` calls: it
//! connects to the service manager, reports the service running, hands the daemon the manager's
//! stop and shutdown requests as `OsEvent::Stop`, and reports it stopped with the daemon's exit
//! status. `install` also registers the Event Log source `pacs-warden` with this executable
//! as its message file, and `uninstall` removes it (`super::eventlog`; one source for every
//! pacs-warden service: removing one service removes it, and events are still written, shown
//! by Event Viewer without their message file until the next `install`).

use super::{OsEvent, Recovery};
use std::ffi::OsString;
use std::io;
use std::path::Path;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver};
use windows_service::service::{
    ServiceAccess, ServiceAction, ServiceActionType, ServiceControl, ServiceControlAccept,
    ServiceErrorControl, ServiceExitCode, ServiceFailureActions, ServiceFailureResetPeriod,
    ServiceInfo, ServiceStartType, ServiceState, ServiceStatus, ServiceType,
};
use windows_service::service_control_handler::{
    self, ServiceControlHandlerResult, ServiceStatusHandle,
};
use windows_service::service_dispatcher;
use windows_service::service_manager::{ServiceManager, ServiceManagerAccess};

/// How long the service manager is told a stop may take: a running restart sequence is let
/// finish (grace + ready timeout).
const STOP_HINT: Duration = Duration::from_secs(180);
/// How long `uninstall` waits for a running service to stop.
const STOP_WAIT: Duration = Duration::from_secs(300);

fn err(what: &str, e: windows_service::Error) -> io::Error {
    match e {
        windows_service::Error::Winapi(source) => {
            io::Error::new(source.kind(), format!("{what}: {source}"))
        }
        other => io::Error::other(format!("{what}: {other}")),
    }
}

/// Registers the service `name` running `exe` on `config` (both absolute).
pub fn install(
    name: &str,
    exe: &Path,
    config: &Path,
    allow_writable_by: &[String],
) -> io::Result<Recovery> {
    let manager = ServiceManager::local_computer(
        None::<&str>,
        ServiceManagerAccess::CONNECT | ServiceManagerAccess::CREATE_SERVICE,
    )
    .map_err(|e| err("cannot open the service manager (run as Administrator)", e))?;
    let info = ServiceInfo {
        name: name.into(),
        display_name: if name == "pacs-warden" {
            "pacs-warden".into()
        } else {
            format!("pacs-warden ({name})").into()
        },
        service_type: ServiceType::OWN_PROCESS,
        start_type: ServiceStartType::AutoStart,
        error_control: ServiceErrorControl::Normal,
        executable_path: exe.to_path_buf(),
        launch_arguments: super::service_arguments(name, config, allow_writable_by),
        dependencies: vec![],
        // LocalSystem, as the Task Scheduler task of the OpenREM docs.
        account_name: None,
        account_password: None,
    };
    let service = manager
        .create_service(
            &info,
            ServiceAccess::CHANGE_CONFIG | ServiceAccess::QUERY_CONFIG | ServiceAccess::DELETE,
        )
        .map_err(|e| err(&format!("cannot create the service {name}"), e))?;
    let described = service.set_description(format!(
        "Restarts the task-queue worker before scheduled PACS queries; schedule {}",
        config.display()
    ));
    let restart = ServiceAction {
        action_type: ServiceActionType::Restart,
        delay: Duration::from_secs(60),
    };
    let recovery = described
        .and_then(|()| {
            service.update_failure_actions(ServiceFailureActions {
                reset_period: ServiceFailureResetPeriod::After(Duration::from_secs(24 * 3600)),
                reboot_msg: None,
                command: None,
                actions: Some(vec![restart.clone(), restart.clone(), restart]),
            })
        })
        .and_then(|()| service.set_failure_actions_on_non_crash_failures(true));
    if let Err(e) = super::eventlog::register(exe) {
        let _ = service.delete();
        return Err(e);
    }
    match recovery {
        Ok(()) => Ok(Recovery::Set),
        // ERROR_INVALID_LEVEL: this service manager has no recovery settings (Wine's; every
        // Windows has them). The service works; say what is missing.
        Err(windows_service::Error::Winapi(e)) if e.raw_os_error() == Some(124) => {
            Ok(Recovery::Unsupported)
        }
        Err(e) => {
            // Half a service is worse than none: take it away again.
            let _ = service.delete();
            let _ = super::eventlog::unregister();
            Err(err(&format!("cannot configure the service {name}"), e))
        }
    }
}

/// Stops the service `name` if it runs (waiting for it), then removes it.
pub fn uninstall(name: &str) -> io::Result<()> {
    let manager = ServiceManager::local_computer(None::<&str>, ServiceManagerAccess::CONNECT)
        .map_err(|e| err("cannot open the service manager (run as Administrator)", e))?;
    let service = manager
        .open_service(
            name,
            ServiceAccess::QUERY_STATUS | ServiceAccess::STOP | ServiceAccess::DELETE,
        )
        .map_err(|e| err(&format!("cannot open the service {name}"), e))?;
    let status = service
        .query_status()
        .map_err(|e| err(&format!("cannot query the service {name}"), e))?;
    if status.current_state != ServiceState::Stopped {
        if status.current_state != ServiceState::StopPending {
            service
                .stop()
                .map_err(|e| err(&format!("cannot stop the service {name}"), e))?;
        }
        let t0 = Instant::now();
        loop {
            let state = service
                .query_status()
                .map_err(|e| err(&format!("cannot query the service {name}"), e))?
                .current_state;
            if state == ServiceState::Stopped {
                break;
            }
            if t0.elapsed() > STOP_WAIT {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("the service {name} did not stop within {STOP_WAIT:?}"),
                ));
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }
    service
        .delete()
        .map_err(|e| err(&format!("cannot remove the service {name}"), e))?;
    super::eventlog::unregister()
}

type Body = Box<dyn FnOnce(UnboundedReceiver<OsEvent>) -> u8 + Send>;

/// What `run` hands to the service's main function, which the dispatcher calls on its own
/// thread with no way to pass data but statics.
static PENDING: Mutex<Option<(String, Body)>> = Mutex::new(None);
static EXIT: Mutex<Option<u8>> = Mutex::new(None);
static STATUS: OnceLock<ServiceStatusHandle> = OnceLock::new();

windows_service::define_windows_service!(ffi_service_main, service_main);

/// Runs `body` as the service `name` (see the module doc); returns its exit status once the
/// service has stopped. Fails when this process was not started by the service manager.
pub fn run(
    name: &str,
    body: impl FnOnce(UnboundedReceiver<OsEvent>) -> u8 + Send + 'static,
) -> io::Result<u8> {
    *PENDING.lock().expect("not poisoned") = Some((name.to_string(), Box::new(body)));
    service_dispatcher::start(name, ffi_service_main).map_err(|e| {
        err(
            "cannot connect to the service manager (`run --service` is for the service manager; \
             run `pacs-warden run --config FILE` by hand)",
            e,
        )
    })?;
    Ok(EXIT.lock().expect("not poisoned").take().unwrap_or(1))
}

fn set_status(state: ServiceState, exit: ServiceExitCode, wait_hint: Duration) {
    let Some(handle) = STATUS.get() else { return };
    let controls_accepted = if state == ServiceState::Running {
        ServiceControlAccept::STOP | ServiceControlAccept::SHUTDOWN
    } else {
        ServiceControlAccept::empty()
    };
    let _ = handle.set_service_status(ServiceStatus {
        service_type: ServiceType::OWN_PROCESS,
        current_state: state,
        controls_accepted,
        exit_code: exit,
        checkpoint: 0,
        wait_hint,
        process_id: None,
    });
}

fn service_main(_arguments: Vec<OsString>) {
    let Some((name, body)) = PENDING.lock().expect("not poisoned").take() else {
        return;
    };
    let (tx, rx) = unbounded_channel();
    let handler = move |control| match control {
        ServiceControl::Stop | ServiceControl::Shutdown => {
            let why = if control == ServiceControl::Stop {
                "service stop"
            } else {
                "system shutdown"
            };
            set_status(
                ServiceState::StopPending,
                ServiceExitCode::NO_ERROR,
                STOP_HINT,
            );
            let _ = tx.send(OsEvent::Stop(why));
            ServiceControlHandlerResult::NoError
        }
        ServiceControl::Interrogate => ServiceControlHandlerResult::NoError,
        _ => ServiceControlHandlerResult::NotImplemented,
    };
    let handle = match service_control_handler::register(&name, handler) {
        Ok(h) => h,
        Err(_) => {
            *EXIT.lock().expect("not poisoned") = Some(1);
            return;
        }
    };
    let _ = STATUS.set(handle);
    set_status(
        ServiceState::Running,
        ServiceExitCode::NO_ERROR,
        Duration::ZERO,
    );
    let code = body(rx);
    *EXIT.lock().expect("not poisoned") = Some(code);
    // A non-zero exit is a failure to the service manager: its recovery actions restart us.
    let exit = if code == 0 {
        ServiceExitCode::NO_ERROR
    } else {
        ServiceExitCode::ServiceSpecific(u32::from(code))
    };
    set_status(ServiceState::Stopped, exit, Duration::ZERO);
}
