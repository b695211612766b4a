//! After a watched service worker's process exits (`service:`, Windows): what the Service
//! Control Manager says of the service (`ServiceSeen`), and the wait the core's
//! `service_verdict` asks for before it is a crash — a service Windows is already starting,
//! stopping or about to restart (its recovery), or whose exit the SCM has not noticed yet, is
//! left alone; one running again is adopted; one stopped with exit code 0 is stopped on
//! purpose (once it stays so for a few seconds: a restart by hand stops, then starts it).
//! While another process holds the worker's lock (`pacs-warden restart`), it is pending.
//!
//! Also, at the daemon's start, the process of a service worker's service when the one recorded
//! is gone (`running_process`).
//!
//! Costs nothing while the worker runs: this begins only once `wait_exit` has returned, and
//! then looks again only after each pause the verdict names (at most 5 s).

use crate::core::config::Worker;
use crate::core::warden::{service_verdict, Proc, ServiceSeen, ServiceVerdict};
use crate::shell::sequence::observe;
use crate::shell::state::Store;
use crate::sys::os::scm::{self, State};
use crate::sys::process::ProcId;
use std::time::Duration;
use tracing::info;

/// Waits as the verdict says after `exited`, the service process of `worker` (a service
/// worker), ended; the verdict once decided (never `LeaveAlone`), for the runtime to hand to
/// the core. While another process holds the
/// worker's lock in `store` (a `pacs-warden restart` by hand is stopping and starting it), the
/// service is `Pending`. (`store` is `None` in a dry run, which takes no lock and writes
/// nothing.)
pub async fn after_exit(worker: Worker, exited: Proc, store: Option<Store>) -> ServiceVerdict {
    let name = worker.name.clone();
    let service = worker.service().unwrap_or_default().to_string();
    let worker = std::sync::Arc::new(worker);
    let mut waited = Duration::ZERO;
    let mut told: Option<ServiceSeen> = None;
    loop {
        let (w, store_now) = (std::sync::Arc::clone(&worker), store.clone());
        let seen = tokio::task::spawn_blocking(move || {
            if store_now.is_some_and(|s| s.is_restarting(&w.name)) {
                return ServiceSeen::Pending;
            }
            seen(&w, exited)
        })
        .await
        .unwrap_or(ServiceSeen::Down);
        match service_verdict(seen, exited, waited) {
            ServiceVerdict::LeaveAlone(pause) => {
                // Told once for each state seen, not at every look.
                if told != Some(seen) {
                    told = Some(seen);
                    info!(worker = %name, service = %service, pid = exited.pid, ?seen, "the worker's service process exited, and Windows is starting, stopping or about to restart the service, or has not noticed the exit yet, or it is stopped and may be started again in a moment (a restart by hand); leaving it alone");
                }
                tokio::time::sleep(pause).await;
                waited += pause;
            }
            decided => return decided,
        }
    }
}

/// What the SCM says of `service` now, after its process `exited` ended. A RUNNING service
/// whose process is the exited one, or gone, is `Stale` (natively the SCM notices a moment
/// later; Wine reports a killed service process so for good); one that cannot be read is
/// `Down`.
fn seen(worker: &Worker, exited: Proc) -> ServiceSeen {
    let Some(Ok(svc)) = worker.service().map(scm::open) else {
        return ServiceSeen::Down;
    };
    let Ok(now) = observe(worker, &svc) else {
        return ServiceSeen::Down;
    };
    let status = now.status;
    match status.state {
        State::StartPending | State::StopPending => ServiceSeen::Pending,
        State::Running => match now.process {
            // A process started after the exited one: Windows started the service again.
            Ok(Some(p)) if Proc::from(p.id) != exited && p.id.start_time >= exited.start_time => {
                ServiceSeen::Running(p.id.into())
            }
            Ok(_) => ServiceSeen::Stale,
            // Not the worker's: a crash to supervision, whose restart then says why.
            Err(_) => ServiceSeen::Down,
        },
        State::Stopped if status.failed() => {
            let crashed = status.crashed();
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
        State::Stopped => ServiceSeen::Stopped,
        State::Paused => ServiceSeen::Down,
    }
}

/// At the daemon's start, for a service worker whose recorded process is gone: the process of
/// its service, if the SCM reports it RUNNING with a live process that fits the worker's
/// `match` (when it has one). Blocking (the SCM and a process snapshot).
pub fn running_process(worker: &Worker) -> Option<ProcId> {
    let now = observe(worker, &scm::open(worker.service()?).ok()?).ok()?;
    if now.status.state != State::Running {
        return None;
    }
    now.process.ok().flatten().map(|p| p.id)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A service worker `huey` of a service that does not exist (built from a command worker:
    /// `service:` is refused off Windows).
    fn worker() -> Worker {
        let s = crate::core::config::validate(
            "timezone: UTC\nqueries:\n  - name: q\n    at: [\"06:00\"]\nworkers:\n  - name: huey\n    match: {image: x, args_contain: [y]}\n    start: {command: [x]}\n",
            || None,
        )
        .unwrap();
        let mut w = s.workers[0].clone();
        w.launch = crate::core::config::Launch::Service {
            name: "pw-no-such-service-for-this-test".into(),
            matcher: None,
        };
        w
    }

    const EXITED: Proc = Proc {
        pid: 4_000_000,
        start_time: 1,
    };

    /// A service that cannot be read is a crash at once; while another restart of the worker
    /// holds its lock (`pacs-warden restart` by hand), it is left alone instead (pending).
    #[tokio::test]
    async fn a_worker_lock_held_elsewhere_leaves_the_service_alone() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path().to_path_buf());
        let look = || after_exit(worker(), EXITED, Some(store.clone()));
        let free = tokio::time::timeout(Duration::from_secs(30), look())
            .await
            .expect("decided at once");
        assert!(matches!(free, ServiceVerdict::Crashed));
        let held = store
            .try_lock_worker("huey")
            .unwrap()
            .expect("the lock is free");
        let waited = tokio::time::timeout(Duration::from_secs(2), look()).await;
        assert!(waited.is_err(), "decided while the lock was held");
        drop(held);
    }
}
