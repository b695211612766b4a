//! The restart sequence of a service worker (`service:`, Windows): ask the Service Control
//! Manager to stop the service, wait up to `grace` for STOPPED, kill what is left only after
//! that — the service process's verified descendants (the worker itself) first, the service
//! process only as a last resort — start it through the SCM, wait for RUNNING, then the usual
//! settle and `ready` (`Steps::confirm`).
//!
//! Owns: the order of those steps and their refusals (a missing service, one sharing its
//! process with other services, a service process that does not match `match`, a service whose
//! recovery reboots or runs a command). The SCM calls are `crate::sys::os::scm`'s. WinSW
//! already turns an SCM stop into Ctrl-C, a wait of `<stoptimeout>` and a kill, so there is no
//! stop command or signal here.

use super::{ms, snapshot, still_running, Outcome, SequenceError, Steps, Stopped, KILL_WAIT};
use crate::core::config::DEFAULT_READY_TIMEOUT;
use crate::sys::os::scm::{self, Asked, State, Status};
use crate::sys::process::{ProcId, ProcessInfo};
use std::time::{Duration, Instant};
use tracing::{debug, info, warn};

/// How often the SCM is asked while a stop or a start is awaited.
const LOOK: Duration = Duration::from_millis(250);

impl Steps<'_> {
    pub(super) async fn run_service(
        &self,
        outcome: &mut Outcome,
        name: &str,
    ) -> Result<(), SequenceError> {
        let w = &self.worker.name;
        let service = open(name)?;
        let t0 = Instant::now();
        let grace = self.worker.stop.grace;
        let mut status = read(&service)?;
        if status.shared {
            return Err(SequenceError::SharedService {
                service: name.to_string(),
            });
        }
        if status.state.is_pending() {
            info!(worker = %w, service = %name, state = ?status.state, "the service is already starting or stopping (its recovery, an admin); waiting up to grace for it to settle");
            status = wait_for(&service, grace, |s| !s.state.is_pending()).await?;
        }
        outcome.stopped = Some(match status.state {
            State::Stopped => {
                info!(worker = %w, service = %name, "the service is stopped");
                Stopped::NotRunning
            }
            _ => self.stop_service(&service, status, t0).await?,
        });

        info!(worker = %w, service = %name, "starting the service through the Service Control Manager");
        match service.start() {
            Ok(Asked::AlreadyThere) => {
                info!(worker = %w, service = %name, "the service was already started (its recovery, or an admin)")
            }
            Ok(_) => {}
            Err(source) => {
                return Err(SequenceError::Service {
                    service: name.to_string(),
                    what: "cannot start it",
                    source,
                })
            }
        }
        let timeout = self
            .worker
            .ready
            .as_ref()
            .map_or(DEFAULT_READY_TIMEOUT, |r| r.timeout);
        let status = wait_for(&service, timeout, |s| s.state == State::Running).await?;
        let id = match (status.state, status.pid) {
            (State::Running, Some(pid)) => self.verified(name, pid).await?.id,
            _ => {
                return Err(SequenceError::ServiceNotStarted {
                    service: name.to_string(),
                    timeout,
                    state: describe(&status),
                })
            }
        };
        outcome.stop_to_start = Some(t0.elapsed());
        outcome.started = Some(id);
        info!(worker = %w, service = %name, pid = id.pid, "the service runs");
        self.confirm(id).await
    }

    /// The service process `pid`, as a snapshot sees it (PID and start time), checked against
    /// `match` when the worker has one.
    async fn verified(&self, name: &str, pid: u32) -> Result<ProcessInfo, SequenceError> {
        let snap = snapshot().await;
        let Some(p) = snap.get(pid) else {
            return Err(SequenceError::ServiceNotStarted {
                service: name.to_string(),
                timeout: Duration::ZERO,
                state: format!("RUNNING, but its process {pid} is gone"),
            });
        };
        if let Some(m) = self.worker.matcher() {
            if !crate::sys::process::matches(&m.image, &m.args_contain, p) {
                return Err(SequenceError::ServiceForeign {
                    service: name.to_string(),
                    pid,
                });
            }
        }
        Ok(p.clone())
    }

    /// Stops a running (or paused) service: the SCM's stop, up to `grace`; then its
    /// descendants killed; then, unless its recovery is drastic, its own process.
    async fn stop_service(
        &self,
        service: &scm::Service,
        status: Status,
        t0: Instant,
    ) -> Result<Stopped, SequenceError> {
        let w = &self.worker.name;
        let name = service.name();
        let grace = self.worker.stop.grace;
        let root = match status.pid {
            Some(pid) if crate::sys::process::identify(pid).is_none() => {
                // Wine keeps reporting a killed service process as RUNNING.
                warn!(worker = %w, service = %name, pid, "the Service Control Manager reports the service running, but its process is gone; starting it again");
                return Ok(Stopped::NotRunning);
            }
            Some(pid) => Some(self.verified(name, pid).await?),
            None => None,
        };
        let root_id = root.as_ref().map(|p| p.id);
        let tree: Vec<ProcId> = match root_id {
            Some(id) => snapshot().await.tree(&[id]).iter().map(|p| p.id).collect(),
            None => Vec::new(),
        };
        if let Some(p) = &root {
            info!(worker = %w, service = %name, pid = p.id.pid, because = ?super::Because::Service, cmdline = %p.cmdline_text(), "found worker process");
        }
        let pids: Vec<u32> = tree.iter().map(|i| i.pid).collect();
        info!(worker = %w, service = %name, ?pids, "asking the Service Control Manager to stop the service");
        match service.stop() {
            Ok(Asked::Sent | Asked::AlreadyThere) => {}
            Ok(Asked::Pending) => {
                info!(worker = %w, service = %name, "the service takes no stop request now; waiting")
            }
            Err(source) => {
                let what = if source.raw_os_error() == Some(scm::code::DEPENDENT_SERVICES_RUNNING) {
                    "cannot stop it: other running services depend on it"
                } else {
                    "cannot stop it"
                };
                return Err(SequenceError::Service {
                    service: name.to_string(),
                    what,
                    source,
                });
            }
        }
        let left = grace.saturating_sub(t0.elapsed());
        let status = wait_for(service, left, |s| s.state == State::Stopped).await?;
        if status.state == State::Stopped {
            let after = t0.elapsed();
            let behind = still_running(&tree);
            if behind.is_empty() {
                info!(worker = %w, service = %name, after = %ms(after), "the service stopped");
                return Ok(Stopped::Exited { pids, after });
            }
            // Its process reported STOPPED and left children running: they are the old
            // worker's, verified when the stop began.
            warn!(worker = %w, service = %name, pids = ?behind.iter().map(|i| i.pid).collect::<Vec<_>>(), "the service stopped but left processes running; killing them");
            let killed = self.kill_all(&behind).await?;
            return Ok(Stopped::Killed {
                exited: pids
                    .iter()
                    .copied()
                    .filter(|p| !killed.contains(p))
                    .collect(),
                killed,
            });
        }

        // Still running after grace: the descendants (the worker) first. The service process
        // (WinSW) is waiting on them and then reports STOPPED, which triggers no recovery.
        let Some(root_id) = root_id else {
            return Err(SequenceError::ServiceNotStarted {
                service: name.to_string(),
                timeout: grace,
                state: format!("{} after the stop request", describe(&status)),
            });
        };
        let descendants: Vec<ProcId> = snapshot()
            .await
            .tree(&[root_id])
            .iter()
            .map(|p| p.id)
            .filter(|id| *id != root_id)
            .collect();
        warn!(worker = %w, service = %name, pids = ?descendants.iter().map(|i| i.pid).collect::<Vec<_>>(), grace = ?grace, "the service did not stop within grace; killing its worker processes (the service process's descendants)");
        let mut killed = self.kill_all(&descendants).await?;
        let status = wait_for(service, KILL_WAIT, |s| s.state == State::Stopped).await?;
        if status.state != State::Stopped && crate::sys::process::is_running(root_id) {
            // The last resort: the service process itself.
            match service.recovery() {
                Ok(Some(r)) if r.drastic => {
                    return Err(SequenceError::ServiceDrastic {
                        service: name.to_string(),
                        pid: root_id.pid,
                    })
                }
                Ok(_) => {}
                Err(e) => {
                    debug!(worker = %w, service = %name, error = %e, "cannot read the service's recovery settings")
                }
            }
            warn!(worker = %w, service = %name, pid = root_id.pid, "the service process still runs; killing it (the Service Control Manager counts this as a failure; its recovery may start the service, which the start below accepts)");
            killed.extend(self.kill_all(&[root_id]).await?);
        }
        Ok(Stopped::Killed {
            exited: pids
                .iter()
                .copied()
                .filter(|p| !killed.contains(p))
                .collect(),
            killed,
        })
    }

    /// Kills each of `ids` that is still that process (deepest first as given) and waits up to
    /// `KILL_WAIT` for them to be gone. Returns the PIDs it killed.
    async fn kill_all(&self, ids: &[ProcId]) -> Result<Vec<u32>, SequenceError> {
        let w = &self.worker.name;
        let mut killed = Vec::new();
        for id in ids {
            match crate::sys::os::kill_verified(*id) {
                Ok(()) => {
                    debug!(worker = %w, pid = id.pid, "killed");
                    killed.push(id.pid);
                }
                Err(crate::sys::os::KillError::NotRunning(_)) => {}
                Err(e) => warn!(worker = %w, error = %e, "kill failed"),
            }
        }
        let gone_by = Instant::now() + KILL_WAIT;
        let mut left = still_running(ids);
        while !left.is_empty() && Instant::now() < gone_by {
            tokio::time::sleep(super::POLL).await;
            left = still_running(&left);
        }
        if !left.is_empty() {
            return Err(SequenceError::Survivors {
                pids: left.iter().map(|i| i.pid).collect(),
            });
        }
        Ok(killed)
    }
}

/// Opens `name`, a missing service named as such.
fn open(name: &str) -> Result<scm::Service, SequenceError> {
    scm::open(name).map_err(|source| {
        if source.kind() == std::io::ErrorKind::NotFound {
            SequenceError::NoSuchService {
                service: name.to_string(),
            }
        } else {
            SequenceError::Service {
                service: name.to_string(),
                what: "cannot open it",
                source,
            }
        }
    })
}

fn read(service: &scm::Service) -> Result<Status, SequenceError> {
    service.status().map_err(|source| SequenceError::Service {
        service: service.name().to_string(),
        what: "cannot read its state",
        source,
    })
}

/// Asks the SCM every `LOOK` until `done` holds or `limit` has passed; the last status read.
async fn wait_for(
    service: &scm::Service,
    limit: Duration,
    done: impl Fn(&Status) -> bool,
) -> Result<Status, SequenceError> {
    let until = Instant::now() + limit;
    loop {
        let status = read(service)?;
        if done(&status) || Instant::now() >= until {
            return Ok(status);
        }
        tokio::time::sleep(LOOK.min(until.saturating_duration_since(Instant::now()))).await;
    }
}

/// A status in words, for messages: the state and, when stopped with a failure, its codes.
pub fn describe(status: &Status) -> String {
    let state = match status.state {
        State::Stopped => "STOPPED",
        State::StartPending => "START_PENDING",
        State::StopPending => "STOP_PENDING",
        State::Running => "RUNNING",
        State::Paused => "PAUSED",
    };
    match (status.state, status.win32_exit) {
        (State::Stopped, 0) => state.to_string(),
        (State::Stopped, 1066) => format!(
            "{state} (service-specific exit code {})",
            status.service_exit
        ),
        (State::Stopped, code) => format!("{state} (exit code {code})"),
        _ => state.to_string(),
    }
}
