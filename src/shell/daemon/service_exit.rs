//! After a watched service worker's process exits (`service:`, Windows): what the Service
//! Control Manager says of the service (`ServiceSeen`), and the wait the core's
//! `service_verdict` asks for before it is a crash — a service Windows is already starting,
//! stopping or about to restart (its recovery) is left alone; one running again is adopted.
//!
//! Costs nothing while the worker runs: this begins only once `wait_exit` has returned, and
//! then looks again only after each pause the verdict names.

use super::runtime::Event;
use crate::core::warden::{service_verdict, Proc, ServiceSeen, ServiceVerdict};
use crate::sys::os::scm::{self, State};
use std::time::Duration;
use tracing::info;

/// The Windows error code of a service process that ended without reporting STOPPED (a crash,
/// to the SCM's recovery).
const ERROR_PROCESS_ABORTED: u32 = 1067;

/// Waits as the verdict says after `exited`, `name`'s service process, ended; the event for
/// the core once decided.
pub async fn after_exit(name: String, service: String, exited: Proc) -> Event {
    let mut waited = Duration::ZERO;
    loop {
        let svc = service.clone();
        let seen = tokio::task::spawn_blocking(move || seen(&svc))
            .await
            .unwrap_or(ServiceSeen::Down);
        match service_verdict(seen, exited, waited) {
            ServiceVerdict::Adopt(new) => return Event::ServiceRestarted(name, exited, new),
            ServiceVerdict::Crashed => return Event::Exited(name, exited),
            ServiceVerdict::LeaveAlone(pause) => {
                info!(worker = %name, service = %service, pid = exited.pid, ?seen, look_again_in = ?pause, "the worker's service process exited, and Windows is starting, stopping or about to restart the service; leaving it alone");
                tokio::time::sleep(pause).await;
                waited += pause;
            }
        }
    }
}

/// What the SCM says of `service` now. A RUNNING service whose process is gone (Wine reports
/// a killed service process so) or that cannot be read is `Down`.
fn seen(service: &str) -> ServiceSeen {
    let Ok(svc) = scm::open(service) else {
        return ServiceSeen::Down;
    };
    let Ok(status) = svc.status() else {
        return ServiceSeen::Down;
    };
    match status.state {
        State::StartPending | State::StopPending => ServiceSeen::Pending,
        State::Running => status
            .pid
            .and_then(crate::sys::process::identify)
            .map_or(ServiceSeen::Down, |id| ServiceSeen::Running(id.into())),
        State::Stopped if status.failed() => {
            let crashed = status.win32_exit == ERROR_PROCESS_ABORTED;
            match svc.recovery() {
                Ok(Some(r)) if crashed || r.on_non_crash => r
                    .restart_delays
                    .iter()
                    .max()
                    .map_or(ServiceSeen::Down, |&delay| ServiceSeen::RecoveryRestarts {
                        delay,
                    }),
                _ => ServiceSeen::Down,
            }
        }
        State::Stopped | State::Paused => ServiceSeen::Down,
    }
}
