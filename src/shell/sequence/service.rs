//! The restart sequence of a service worker (`service:`, Windows): ask the Service Control
//! Manager to stop the service, wait up to `grace` for STOPPED, kill what is left only after
//! that — the service process's verified descendants (the worker itself) first, the service
//! process only as a last resort and only when its recovery settings are known and mild —
//! start it through the SCM, wait for RUNNING, then the usual settle and `ready`
//! (`Steps::confirm`).
//!
//! Owns: the order of those steps and their refusals (a missing service, a driver, one sharing
//! its process with other services, a service process that is pacs-warden itself or that does
//! not fit `match` or the service's own program, a service whose recovery reboots, runs a
//! command or cannot be read). The SCM calls are `crate::sys::os::scm`'s, made on blocking
//! threads (a hung service can hold one for 30 s). WinSW already turns an SCM stop into
//! Ctrl-C, a wait of `<stoptimeout>` and a kill, so there is no stop command or signal here.

use super::{fits, ms, snapshot, wait_gone, Outcome, SequenceError, Steps, Stopped, KILL_WAIT};
use crate::core::config::{Worker, DEFAULT_READY_TIMEOUT};
use crate::sys::os::scm::{self, Asked, Kind, State, Status};
use crate::sys::process::{self, ProcId, ProcessInfo, Snapshot};
use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tracing::{info, warn};

/// How often the SCM is asked while a stop or a start is awaited.
const LOOK: Duration = Duration::from_millis(250);
/// A service still STOPPED this long after its start was accepted has failed to start.
const START_FAILED_AFTER: Duration = Duration::from_secs(2);

/// An open service, shared with the blocking threads that make its SCM calls.
#[derive(Clone)]
struct Scm(Arc<scm::Service>);

impl Scm {
    /// Opens `name`, a missing service named as such.
    async fn open(name: &str) -> Result<Scm, SequenceError> {
        let owned = name.to_string();
        let opened = tokio::task::spawn_blocking(move || scm::open(&owned))
            .await
            .unwrap_or_else(|e| Err(io::Error::other(e.to_string())));
        match opened {
            Ok(service) => Ok(Scm(Arc::new(service))),
            Err(source) if source.kind() == io::ErrorKind::NotFound => {
                Err(SequenceError::NoSuchService {
                    service: name.to_string(),
                })
            }
            Err(source) => Err(SequenceError::Service {
                service: name.to_string(),
                what: "cannot open it",
                source,
            }),
        }
    }

    fn name(&self) -> &str {
        self.0.name()
    }

    /// `call` on a blocking thread.
    async fn raw<T: Send + 'static>(
        &self,
        call: impl FnOnce(&scm::Service) -> io::Result<T> + Send + 'static,
    ) -> io::Result<T> {
        let service = Arc::clone(&self.0);
        tokio::task::spawn_blocking(move || call(&service))
            .await
            .unwrap_or_else(|e| Err(io::Error::other(e.to_string())))
    }

    /// `call` on a blocking thread; its error said as `what`.
    async fn call<T: Send + 'static>(
        &self,
        what: &'static str,
        call: impl FnOnce(&scm::Service) -> io::Result<T> + Send + 'static,
    ) -> Result<T, SequenceError> {
        self.raw(call)
            .await
            .map_err(|source| SequenceError::Service {
                service: self.name().to_string(),
                what,
                source,
            })
    }

    async fn status(&self) -> Result<Status, SequenceError> {
        self.call("cannot read its state", |s| s.status()).await
    }

    /// Asks the SCM every `LOOK` until `done` holds or `limit` has passed; the last status
    /// read.
    async fn wait_for(
        &self,
        limit: Duration,
        done: impl Fn(&Status) -> bool,
    ) -> Result<Status, SequenceError> {
        let until = Instant::now() + limit;
        loop {
            let status = self.status().await?;
            if done(&status) || Instant::now() >= until {
                return Ok(status);
            }
            tokio::time::sleep(LOOK.min(until.saturating_duration_since(Instant::now()))).await;
        }
    }
}

impl Steps<'_> {
    pub(super) async fn run_service(
        &self,
        outcome: &mut Outcome,
        name: &str,
    ) -> Result<(), SequenceError> {
        let w = &self.worker.name;
        let service = Scm::open(name).await?;
        let t0 = Instant::now();
        let grace = self.worker.stop.grace;
        let mut status = service.status().await?;
        match status.kind {
            Kind::OwnProcess => {}
            Kind::SharedProcess => {
                return Err(SequenceError::SharedService {
                    service: name.to_string(),
                })
            }
            Kind::Driver => {
                return Err(SequenceError::NotAProcessService {
                    service: name.to_string(),
                })
            }
        }
        if status.state.is_pending() {
            info!(worker = %w, service = %name, state = ?status.state, "the service is already starting or stopping (its recovery, an admin); waiting up to grace for it to settle");
            status = service.wait_for(grace, |s| !s.state.is_pending()).await?;
        }
        outcome.stopped = Some(match status.state {
            State::Stopped => {
                info!(worker = %w, service = %name, "the service is stopped");
                Stopped::NotRunning
            }
            _ => self.stop_service(&service, t0).await?,
        });

        info!(worker = %w, service = %name, "starting the service through the Service Control Manager");
        if service.call("cannot start it", |s| s.start()).await? == Asked::AlreadyThere {
            info!(worker = %w, service = %name, "the service was already started (its recovery, or an admin)");
        }
        let timeout = self
            .worker
            .ready
            .as_ref()
            .map_or(DEFAULT_READY_TIMEOUT, |r| r.timeout);
        let asked = Instant::now();
        let status = service
            .wait_for(timeout, |s| {
                // RUNNING with a live process (not a stale report of one that is gone).
                (s.state == State::Running && s.pid.and_then(process::identify).is_some())
                    || (s.state == State::Stopped && asked.elapsed() >= START_FAILED_AFTER)
            })
            .await?;
        let root = match status.state {
            State::Running => self.root(&service).await?,
            _ => None,
        };
        let Some((root, _)) = root else {
            return Err(SequenceError::ServiceNotStarted {
                service: name.to_string(),
                timeout,
                state: match status.state {
                    State::Running => "RUNNING, but its process is gone".to_string(),
                    _ => describe(&status),
                },
            });
        };
        let id = root.id;
        outcome.stop_to_start = Some(t0.elapsed());
        outcome.started = Some(id);
        info!(worker = %w, service = %name, pid = id.pid, "the service runs");
        self.confirm(id).await
    }

    /// The service's process now, with the snapshot it was found in (`observe`). `None` when
    /// the service has no live process; refused (an error) when it is not the worker's.
    async fn root(&self, service: &Scm) -> Result<Option<(ProcessInfo, Snapshot)>, SequenceError> {
        let worker = self.worker.clone();
        let seen = service
            .call("cannot read its state", move |s| observe(&worker, s))
            .await?;
        match seen.process {
            Ok(Some(p)) => Ok(Some((p, seen.snapshot))),
            Ok(None) => Ok(None),
            Err(Refused::Shared) => Err(SequenceError::SharedService {
                service: service.name().to_string(),
            }),
            Err(Refused::Foreign(pid)) => Err(SequenceError::ServiceForeign {
                service: service.name().to_string(),
                pid,
            }),
        }
    }

    /// Stops a running (or paused) service: the SCM's stop, up to `grace`; then its
    /// descendants killed; then, only if its recovery is known and mild, its own process.
    async fn stop_service(&self, service: &Scm, t0: Instant) -> Result<Stopped, SequenceError> {
        let w = &self.worker.name;
        let name = service.name();
        let grace = self.worker.stop.grace;
        let root = self.root(service).await?;
        let Some((root, snap)) = root else {
            // Wine keeps reporting a killed service process as RUNNING; Windows notices at
            // once. Nothing of it to stop or kill: asked to stop all the same (the SCM may then
            // notice), and started again below, which such an SCM accepts.
            warn!(worker = %w, service = %name, "the Service Control Manager reports the service running, but its process is gone");
            let _ = service.raw(|s| s.stop()).await;
            let status = service
                .wait_for(KILL_WAIT.min(grace), |s| s.state == State::Stopped)
                .await?;
            info!(worker = %w, service = %name, state = %describe(&status), "starting it again");
            return Ok(Stopped::NotRunning);
        };
        let root_id = root.id;
        info!(worker = %w, service = %name, pid = root_id.pid, because = ?super::Because::Service, cmdline = %root.cmdline_text(), "found worker process");
        let tree: Vec<ProcId> = snap.tree(&[root_id]).iter().map(|c| c.id).collect();
        let pids: Vec<u32> = tree.iter().map(|i| i.pid).collect();
        info!(worker = %w, service = %name, ?pids, "asking the Service Control Manager to stop the service");
        match service.raw(|s| s.stop()).await {
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
        let status = service
            .wait_for(left, |s| s.state == State::Stopped)
            .await?;
        let descendants = |ids: &[ProcId]| -> Vec<ProcId> {
            ids.iter().copied().filter(|id| *id != root_id).collect()
        };
        if status.state == State::Stopped {
            let after = t0.elapsed();
            // The service process may outlive its STOPPED report by a moment, and its
            // children by as long as they take to exit: given `KILL_WAIT`, and only the
            // children (verified when the stop began) are killed if they are still there.
            let behind = wait_gone(&descendants(&tree), KILL_WAIT).await;
            if behind.is_empty() {
                info!(worker = %w, service = %name, after = %ms(after), "the service stopped");
                return Ok(Stopped::Exited { pids, after });
            }
            warn!(worker = %w, service = %name, pids = ?behind.iter().map(|i| i.pid).collect::<Vec<_>>(), "the service stopped but left processes running; killing them");
            let killed = self.kill_and_wait(&behind).await?;
            return Ok(killed_of(&pids, killed));
        }

        // Still running after grace: the descendants (the worker) first. The service process
        // (WinSW) is waiting on them and then reports STOPPED, which triggers no recovery.
        let now: Vec<ProcId> = snapshot()
            .await
            .tree(&[root_id])
            .iter()
            .map(|p| p.id)
            .collect();
        let children = descendants(&now);
        warn!(worker = %w, service = %name, pids = ?children.iter().map(|i| i.pid).collect::<Vec<_>>(), grace = ?grace, "the service did not stop within grace; killing its worker processes (the service process's descendants)");
        let mut killed = self.kill_and_wait(&children).await?;
        let status = service
            .wait_for(KILL_WAIT, |s| s.state == State::Stopped)
            .await?;
        if status.state != State::Stopped && process::is_running(root_id) {
            // The last resort: the service process itself, a failure to the SCM, which then
            // runs its recovery: only when that is known to be no more than a restart.
            let refuse = |why: String| SequenceError::ServiceKillRefused {
                service: name.to_string(),
                pid: root_id.pid,
                why,
            };
            match service
                .call("cannot read its recovery settings", |s| s.recovery())
                .await
            {
                Ok(Some(r)) if !r.drastic => {}
                Ok(Some(_)) => {
                    return Err(refuse(
                        "its recovery settings reboot the machine or run a command on a failure"
                            .into(),
                    ))
                }
                Ok(None) => {
                    return Err(refuse(
                        "its recovery settings cannot be read, and could reboot the machine or run a command on a failure".into(),
                    ))
                }
                Err(e) => return Err(refuse(e.to_string())),
            }
            warn!(worker = %w, service = %name, pid = root_id.pid, "the service process still runs; killing it (the Service Control Manager counts this as a failure and may start the service through its recovery, which the start below accepts)");
            killed.extend(self.kill_and_wait(&[root_id]).await?);
            // Started only once the SCM has seen its process end.
            service
                .wait_for(KILL_WAIT, |s| s.state == State::Stopped)
                .await?;
        }
        Ok(killed_of(&pids, killed))
    }
}

/// `Stopped::Killed` for a stop that began with `pids` and killed `killed`.
fn killed_of(pids: &[u32], killed: Vec<u32>) -> Stopped {
    Stopped::Killed {
        exited: pids
            .iter()
            .copied()
            .filter(|p| !killed.contains(p))
            .collect(),
        killed,
    }
}

/// A service as seen now: its status, the process snapshot taken just before it was read, and
/// what `check_root` makes of the process it names.
pub(crate) struct Observed {
    pub status: Status,
    pub snapshot: Snapshot,
    pub process: Result<Option<ProcessInfo>, Refused>,
}

/// Reads `service` for `worker` in the order `check_root` needs: the service's configured
/// program (only when the worker has no `match`), a process snapshot, then the status.
/// Blocking (the SCM and the process table). Used by the restart sequence, by supervision
/// after the service process exits, and at the daemon's start.
pub(crate) fn observe(worker: &Worker, service: &scm::Service) -> io::Result<Observed> {
    let program = match worker.matcher() {
        Some(_) => None,
        None => service.program()?,
    };
    let snapshot = Snapshot::take();
    let status = service.status()?;
    let process = check_root(worker, &snapshot, &status, program.as_deref());
    Ok(Observed {
        status,
        snapshot,
        process,
    })
}

/// Why the process the SCM names is not taken for the worker's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refused {
    /// An svchost process (services sharing it).
    Shared,
    /// pacs-warden itself or one of its parents, or a process that fits neither `match` nor
    /// the service's program.
    Foreign(u32),
}

/// The service's process, if it is the worker's: `status` must have been read *after* `snap`
/// was taken (so the PID it names belonged, at the snapshot, to the process found there, not
/// to a later one under a reused PID). `None` when the service is stopped or its process is
/// not in the snapshot (gone). Refused: pacs-warden itself or one of its parents, an svchost
/// process, and a process that fits neither `match` nor, without `match`, `program` (the
/// service's configured program; not checked when unknown). Used by the restart sequence and
/// by supervision (adopting a process Windows started).
fn check_root(
    worker: &Worker,
    snap: &Snapshot,
    status: &Status,
    program: Option<&str>,
) -> Result<Option<ProcessInfo>, Refused> {
    let pid = match (status.state, status.pid) {
        (State::Stopped, _) | (_, None) => return Ok(None),
        (_, Some(pid)) => pid,
    };
    let Some(p) = snap.get(pid) else {
        return Ok(None);
    };
    if is_self_or_ancestor(snap, pid) {
        return Err(Refused::Foreign(pid));
    }
    if process::matches("svchost", &[], p) {
        return Err(Refused::Shared);
    }
    // `matches` compares images without `.exe` and case.
    let fits_program = || program.is_none_or(|program| process::matches(program, &[], p));
    let ok = match worker.matcher() {
        Some(_) => fits(worker, p),
        None => fits_program(),
    };
    if !ok {
        return Err(Refused::Foreign(pid));
    }
    Ok(Some(p.clone()))
}

/// Whether `pid` is pacs-warden's own process or one of its ancestors (`service:` naming
/// pacs-warden's own service, say). A parent PID that now belongs to a process started after
/// its child (a reused PID) ends the walk.
fn is_self_or_ancestor(snap: &Snapshot, pid: u32) -> bool {
    let Some(mut here) = snap.get(std::process::id()) else {
        return pid == std::process::id();
    };
    for _ in 0..64 {
        if here.id.pid == pid {
            return true;
        }
        match here.parent.and_then(|parent| snap.get(parent)) {
            Some(parent) if parent.id.start_time <= here.id.start_time => here = parent,
            _ => return false,
        }
    }
    false
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
        (State::Stopped, code) if code == scm::code::SERVICE_SPECIFIC_ERROR as u32 => format!(
            "{state} (service-specific exit code {})",
            status.service_exit
        ),
        (State::Stopped, code) => format!("{state} (exit code {code})"),
        _ => state.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::config::{validate, Launch, ProcessMatch};

    fn proc(pid: u32, parent: Option<u32>, start: u64, name: &str) -> ProcessInfo {
        ProcessInfo {
            id: ProcId {
                pid,
                start_time: start,
            },
            parent,
            name: name.into(),
            exe_name: None,
            cmdline: vec![name.into()],
        }
    }

    /// A service worker (built from a command worker: `service:` is refused off Windows).
    fn service_worker(matcher: Option<ProcessMatch>) -> Worker {
        let s = validate(
            "timezone: UTC\nqueries:\n  - name: q\n    at: [\"06:00\"]\nworkers:\n  - name: huey\n    match: {image: x, args_contain: [y]}\n    start: {command: [x]}\n",
            || None,
        )
        .unwrap();
        let mut w = s.workers[0].clone();
        w.launch = Launch::Service {
            name: "openrem-huey".into(),
            matcher,
        };
        w
    }

    fn running(pid: u32) -> Status {
        Status {
            state: State::Running,
            pid: Some(pid),
            kind: Kind::OwnProcess,
            win32_exit: 0,
            service_exit: 0,
        }
    }

    /// pacs-warden's own process in the snapshot, its parent `parent` started at `started`.
    fn with_me(parent: u32, started: u64, more: Vec<ProcessInfo>) -> Snapshot {
        let me = std::process::id();
        let mut processes = vec![
            proc(me, Some(parent), 100, "pacs-warden"),
            proc(parent, None, started, "services"),
        ];
        processes.extend(more);
        Snapshot { processes }
    }

    #[test]
    fn a_parent_pid_reused_by_a_later_process_is_not_an_ancestor() {
        // The parent ran before pacs-warden: an ancestor, refused.
        let snap = with_me(4242, 50, vec![]);
        assert!(is_self_or_ancestor(&snap, 4242));
        assert!(is_self_or_ancestor(&snap, std::process::id()));
        // The parent's PID now belongs to a process started after pacs-warden (WinSW's next
        // process, say): not an ancestor.
        let snap = with_me(4242, 200, vec![]);
        assert!(!is_self_or_ancestor(&snap, 4242));
    }

    #[test]
    fn the_scm_process_is_checked_against_match_or_the_services_program() {
        let w = service_worker(None);
        let snap = with_me(
            1,
            10,
            vec![
                proc(500, Some(1), 300, "openrem-huey.exe"),
                proc(600, Some(1), 300, "svchost.exe"),
            ],
        );
        let found = check_root(&w, &snap, &running(500), Some("openrem-huey.exe"));
        assert_eq!(found.unwrap().map(|p| p.id.pid), Some(500));
        // Not the configured program.
        assert_eq!(
            check_root(&w, &snap, &running(500), Some("winsw.exe")),
            Err(Refused::Foreign(500))
        );
        // An svchost process, whatever the program says.
        assert_eq!(
            check_root(&w, &snap, &running(600), Some("svchost.exe")),
            Err(Refused::Shared)
        );
        // pacs-warden itself (`service:` naming pacs-warden's own service).
        let me = std::process::id();
        assert_eq!(
            check_root(&w, &snap, &running(me), None),
            Err(Refused::Foreign(me))
        );
        // Gone from the snapshot, or stopped: none.
        assert_eq!(check_root(&w, &snap, &running(700), None), Ok(None));
        let stopped = Status {
            state: State::Stopped,
            ..running(500)
        };
        assert_eq!(check_root(&w, &snap, &stopped, None), Ok(None));
        // With `match`, `match` decides (a match copied from a command worker refuses).
        let celery = service_worker(Some(ProcessMatch {
            image: "celery".into(),
            args_contain: vec![],
        }));
        assert_eq!(
            check_root(&celery, &snap, &running(500), Some("openrem-huey.exe")),
            Err(Refused::Foreign(500))
        );
    }
}
