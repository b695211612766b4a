//! Windows behaviour on real processes. Run natively on Windows and, in CI, under Wine
//! (`scripts/test-windows`); the tests that make sense on every OS run on Linux too.
//!
//! - The `celery.exe` launcher + `python.exe` child pair is one worker tree: found, stopped and
//!   killed together, in a directory whose path has spaces (and, on Windows, a drive letter).
//! - (Windows) `kill_verified` goes through a process handle whose creation time it checks
//!   against sysinfo's start time: the right identity kills, a wrong one touches nothing.
//! - A worker's log over `max_size` is rotated once the sequence has stopped the launcher pair
//!   that held it open; (Windows) one held open elsewhere without delete sharing stays at its
//!   name and the restart goes on.
//! - (Windows) Ctrl-Break ends `pacs-warden run` cleanly, leaving the worker running.
//! - (Windows) Console stop: `stop.signal: CTRL_C` reaches the worker's own console and it exits
//!   cleanly; a console shared with a process outside the worker gets nothing; `CTRL_BREAK` is
//!   delivered natively and, under Wine 8.0 (which cannot generate it), reported as not sent.
//! - (Windows) Service workers (`service:`): a stand-in service (the demo worker's `service`
//!   mode, a service process with a worker child, as WinSW runs python) restarted through the
//!   Service Control Manager — stopped gracefully; or, ignoring the stop beyond grace, its child
//!   killed first and the service still STOPPED and started again; a shared-process or missing
//!   service refused; `check` takes `service:` without `start` or `match`, warns of a missing
//!   service and of a grace shorter than the WinSW `<stoptimeout>` beside the service's program.

use crate::harness::{q, tagged, Site, Warden, WORKER};
use pacs_warden::core::config::Schedule;
use pacs_warden::shell::sequence::{restart, Outcome, Stopped};
use pacs_warden::shell::state::Store;
use pacs_warden::sys::clock::SystemClock;
use pacs_warden::sys::process::identify;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A venv-like layout in a directory with spaces: `…/Server Apps/venv/Scripts/celery(.exe)`
/// and `python(.exe)`, both copies of the demo worker (see its "Launcher pair" doc). Its
/// `Site` kills the processes carrying its tag when it is dropped.
struct Venv {
    site: Site,
}

impl Venv {
    fn new(name: &str) -> Venv {
        let site = Site::new(name);
        let scripts = site.path("Server Apps").join("venv").join("Scripts");
        std::fs::create_dir_all(&scripts).unwrap();
        for name in ["celery", "python"] {
            std::fs::copy(
                WORKER,
                scripts.join(format!("{name}{}", std::env::consts::EXE_SUFFIX)),
            )
            .unwrap();
        }
        Venv { site }
    }

    fn dir(&self) -> &Path {
        self.site.dir.path()
    }

    fn celery(&self) -> PathBuf {
        // Absolute in the OS's own spelling: under Wine the temp dir is already `C:\…`.
        std::path::absolute(
            self.dir()
                .join("Server Apps")
                .join("venv")
                .join("Scripts")
                .join(format!("celery{}", std::env::consts::EXE_SUFFIX)),
        )
        .unwrap()
    }

    fn pidfile(&self) -> PathBuf {
        self.dir().join("media root").join("default.pid")
    }

    /// The seed's worker, with the demo worker's arguments: matched by image `celery` and its
    /// name, stopped through the launcher, pid file written by the "python" process.
    fn schedule(&self, run_args: &[&str], grace: &str) -> Schedule {
        std::fs::create_dir_all(self.pidfile().parent().unwrap()).unwrap();
        let celery = q(&self.celery().to_string_lossy());
        let pidfile = q(&self.pidfile().to_string_lossy());
        let extra: Vec<String> = run_args.iter().map(|a| q(a)).collect();
        let yaml = format!(
            "timezone: UTC\nqueries:\n  - name: q\n    at: [\"06:00\"]\nworkers:\n  - name: default\n    match: {{image: celery, args_contain: \"--name {tag}\"}}\n    pidfile: {pidfile}\n    stop:\n      command: [{celery}, stop, --pidfile, {pidfile}]\n      grace: {grace}\n    start:\n      command: [{celery}, run, --name, {tag}, --pidfile, {pidfile}, --children, \"1\"{comma}{extra}]\n      log: default stdout.log\n",
            tag = self.site.tag,
            comma = if extra.is_empty() { "" } else { ", " },
            extra = extra.join(", "),
        );
        let path = self.dir().join("openrem.yaml");
        std::fs::write(&path, yaml).unwrap();
        pacs_warden::shell::schedule::load(&path).unwrap()
    }

    /// Live processes carrying this test's tag: (pid, image name).
    fn live(&self) -> Vec<(u32, String)> {
        let mut v: Vec<(u32, String)> = tagged(&self.site.tag)
            .iter()
            .map(|p| (p.id.pid, p.name.to_ascii_lowercase()))
            .collect();
        v.sort();
        v
    }
}

impl Venv {
    /// `live()` once the whole tree is up (launcher, "python", its pool child): the pool child
    /// starts right after the sequence returns, and Wine starts processes slowly.
    fn live_tree(&self) -> Vec<(u32, String)> {
        let t0 = std::time::Instant::now();
        while self.live().len() < 3 && t0.elapsed() < Duration::from_secs(10) {
            std::thread::sleep(Duration::from_millis(50));
        }
        self.live()
    }
}

async fn run(s: &Schedule) -> Outcome {
    let store = Store::new(s.state_dir());
    restart(s, &s.workers[0], &store, &SystemClock).await
}

fn images(live: &[(u32, String)]) -> Vec<String> {
    let mut names: Vec<String> = live
        .iter()
        .map(|(_, n)| n.trim_end_matches(".exe").to_string())
        .collect();
    names.sort();
    names
}

fn pid_in(path: &Path) -> u32 {
    std::fs::read_to_string(path)
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

#[tokio::test(flavor = "current_thread")]
async fn a_celery_launcher_and_its_python_child_are_stopped_as_one_worker() {
    let v = Venv::new("launcher");
    let s = v.schedule(&[], "20s");
    let first = run(&s).await;
    assert!(first.ok(), "{}", first.summary());
    let launcher = first.started.unwrap().pid;
    let old = v.live_tree();
    // celery (launcher) → python (the worker, which writes the pid file) → python (its child).
    assert_eq!(images(&old), ["celery", "python", "python"], "{old:?}");
    let worker = pid_in(&v.pidfile());
    assert_ne!(worker, launcher, "the pid file names the python process");
    assert!(old.iter().any(|(p, _)| *p == worker));

    let second = run(&s).await;
    assert!(second.ok(), "{}", second.summary());
    match &second.stopped {
        Some(Stopped::Exited { pids, after }) => {
            let mut pids = pids.clone();
            pids.sort();
            let want: Vec<u32> = old.iter().map(|(p, _)| *p).collect();
            assert_eq!(
                pids, want,
                "the whole tree, and nothing else (no conhost.exe)"
            );
            assert!(*after < Duration::from_secs(10), "took {after:?}");
        }
        other => panic!("expected the launcher and its child to exit: {other:?}"),
    }
    for (pid, _) in &old {
        assert!(identify(*pid).is_none(), "{pid} still runs");
    }
    let now = v.live_tree();
    assert_eq!(images(&now), ["celery", "python", "python"], "{now:?}");
}

#[tokio::test(flavor = "current_thread")]
async fn a_hung_launcher_pair_is_killed_whole_after_grace() {
    let v = Venv::new("hung");
    let s = v.schedule(&["--ignore-stop"], "1s");
    let out = run(&s).await;
    assert!(out.ok(), "{}", out.summary());
    let old = v.live_tree();
    assert_eq!(old.len(), 3, "{old:?}");
    let out = run(&s).await;
    assert!(out.ok(), "{}", out.summary());
    match &out.stopped {
        Some(Stopped::Killed { killed, .. }) => {
            let mut killed = killed.clone();
            killed.sort();
            let want: Vec<u32> = old.iter().map(|(p, _)| *p).collect();
            assert_eq!(killed, want);
        }
        other => panic!("expected a kill: {other:?}"),
    }
    for (pid, _) in &old {
        assert!(identify(*pid).is_none(), "{pid} still runs");
    }
    // The killed "python" left its pid file; it was stale and removed, so the new one started.
    assert_eq!(v.live_tree().len(), 3);
    assert!(old.iter().all(|(p, _)| *p != pid_in(&v.pidfile())));
}

/// The worker tree (launcher, "python", its child) holds its log open while it runs; once the
/// sequence has stopped it, the log over `max_size` is renamed (on Windows a file a running
/// program holds open cannot be). Windows: a log another program holds open without delete
/// sharing stays where it is, the restart goes on, and the output is appended to it.
#[tokio::test(flavor = "current_thread")]
async fn a_worker_log_is_rotated_once_the_tree_is_stopped_or_left_when_held_open() {
    let v = Venv::new("logcap");
    v.schedule(&[], "20s");
    let path = v.dir().join("openrem.yaml");
    let text = std::fs::read_to_string(&path).unwrap().replace(
        "      log: default stdout.log\n",
        "      log: {file: default stdout.log, max_size: 1KB, keep: 2}\n",
    );
    std::fs::write(&path, text).unwrap();
    let s = pacs_warden::shell::schedule::load(&path).unwrap();
    let first = run(&s).await;
    assert!(first.ok(), "{}", first.summary());
    let log = v.dir().join("default stdout.log");
    let fill = || {
        let mut f = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
        std::io::Write::write_all(&mut f, "filler line\n".repeat(100).as_bytes()).unwrap();
    };
    let rotated = || -> Vec<String> {
        std::fs::read_dir(v.dir())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with("default stdout.log."))
            .collect()
    };
    fill();
    let second = run(&s).await;
    assert!(second.ok(), "{}", second.summary());
    assert_eq!(rotated().len(), 1, "{:?}", rotated());
    let current = std::fs::read_to_string(&log).unwrap();
    assert!(!current.contains("filler"), "{current}");
    #[cfg(windows)]
    {
        use std::os::windows::fs::OpenOptionsExt;
        fill();
        let before = std::fs::read_to_string(&log)
            .unwrap()
            .matches("serving")
            .count();
        // FILE_SHARE_READ | FILE_SHARE_WRITE, no FILE_SHARE_DELETE: a rename must fail.
        let held = std::fs::OpenOptions::new()
            .read(true)
            .share_mode(0x1 | 0x2)
            .open(&log)
            .unwrap();
        let third = run(&s).await;
        assert!(third.ok(), "{}", third.summary());
        v.live_tree();
        drop(held);
        if !under_wine() {
            assert_eq!(
                rotated().len(),
                1,
                "renamed while held open: {:?}",
                rotated()
            );
            let text = std::fs::read_to_string(&log).unwrap();
            assert!(text.contains("filler"), "{text}");
            assert!(text.matches("serving").count() > before, "{text}");
        }
    }
}

#[cfg(windows)]
use pacs_warden::sys::trust::under_wine;

#[cfg(windows)]
#[test]
fn kill_verified_checks_the_creation_time_through_the_handle() {
    use pacs_warden::sys::os::{kill_verified, KillError};
    use pacs_warden::sys::process::ProcId;
    use std::time::{SystemTime, UNIX_EPOCH};
    let before = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let mut child = std::process::Command::new(WORKER)
        .args(["child", "--name", "kill-verified"])
        .spawn()
        .unwrap();
    let id = identify(child.id()).expect("sysinfo sees the child");
    // sysinfo's start time is the real creation time (whole seconds since the Unix epoch).
    assert!(
        id.start_time + 1 >= before && id.start_time <= before + 5,
        "sysinfo start time {} vs spawned at {before}",
        id.start_time
    );
    // A different start time is another process that had the PID: nothing happens.
    for wrong in [id.start_time - 2, id.start_time + 2, 0] {
        let other = ProcId {
            pid: id.pid,
            start_time: wrong,
        };
        assert!(
            matches!(kill_verified(other), Err(KillError::NotRunning(_))),
            "start time {wrong} was accepted for {id:?}"
        );
        assert!(child.try_wait().unwrap().is_none(), "killed by a wrong id");
    }
    // The identity sysinfo gave agrees with GetProcessTimes (within its rounding): it kills.
    kill_verified(id).unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(1), "TerminateProcess(h, 1)");
    assert!(matches!(kill_verified(id), Err(KillError::NotRunning(_))));
}

#[cfg(windows)]
#[test]
fn ctrl_break_ends_the_daemon_and_leaves_the_worker_running() {
    if under_wine() {
        eprintln!(
            "skipped under Wine: a CTRL_BREAK_EVENT cannot be delivered to a process started \
             without a console (GenerateConsoleCtrlEvent needs a shared console); run natively \
             on Windows"
        );
        return;
    }
    ctrl_break::run();
}

#[cfg(windows)]
mod ctrl_break {
    use super::*;
    use std::io::Read;
    use std::os::windows::process::CommandExt;
    use std::process::Stdio;
    use windows_sys::Win32::System::Console::{GenerateConsoleCtrlEvent, CTRL_BREAK_EVENT};
    use windows_sys::Win32::System::Threading::CREATE_NEW_PROCESS_GROUP;

    pub fn run() {
        let v = Venv::new("ctrlbreak");
        let _ = v.schedule(&[], "5s");
        let config = v.dir().join("openrem.yaml");
        let mut daemon = Warden::at(&config)
            .command(&["run"])
            .creation_flags(CREATE_NEW_PROCESS_GROUP)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Wait for the boot restart to start the worker.
        crate::harness::eventually("the worker to start", || v.live().len() >= 3);
        let workers = v.live_tree();
        // SAFETY: plain call; the daemon leads its own process group.
        assert_ne!(
            unsafe { GenerateConsoleCtrlEvent(CTRL_BREAK_EVENT, daemon.id()) },
            0
        );
        let status = daemon.wait().unwrap();
        let mut log = String::new();
        daemon
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut log)
            .unwrap();
        assert!(status.success(), "{status:?}\n{log}");
        assert!(log.contains("Ctrl-Break"), "{log}");
        assert!(log.contains("the workers keep running"), "{log}");
        assert_eq!(
            v.live(),
            workers,
            "Ctrl-Break to the daemon touched the worker"
        );
    }
}

/// The default time zone does not depend on `iana_time_zone` alone (it fails under Wine): the
/// Windows time zone key name is read and mapped to IANA. The zone found must agree with
/// Windows' own local time now. Under Wine the Windows zone follows the host's `TZ`;
/// `scripts/test-windows` runs this test again with `TZ=/usr/share/zoneinfo/NAME` for a few
/// zones (a path, which pacs-warden's own `TZ` step does not take as an IANA name), and then
/// NAME itself must come out.
#[cfg(windows)]
#[test]
fn the_default_time_zone_comes_from_the_windows_setting() {
    use chrono::{Local, Offset, Utc};
    let (tz, how) = pacs_warden::sys::os::machine_zone().expect("a default time zone");
    let ours = Utc::now().with_timezone(&tz).offset().fix();
    let windows = Local::now().offset().fix();
    assert_eq!(ours, windows, "{tz} (from {how}) vs Windows' local time");
    if under_wine() {
        // iana_time_zone fails under Wine: the key name is what found it.
        assert_eq!(how, "the Windows time zone setting", "{tz}");
        let host = std::env::var("TZ").unwrap_or_default();
        if let Some(name) = host.strip_prefix("/usr/share/zoneinfo/") {
            assert_eq!(tz.name(), name, "TZ={host}");
        }
    }
}

/// `service install` registers `run --config FILE --service NAME` (automatic start); the
/// service manager starts it, it restarts the worker at boot, a service stop ends it cleanly
/// (the worker keeps running), the next start adopts that worker, and `service uninstall`
/// stops the running service and removes it; the Event Log source is registered with the
/// service (this executable as its message file, `reg query`) and removed with it. Under Wine through Wine's own
/// services.exe, which has no recovery settings: there `install` must say restart-on-failure
/// could not be set; natively the three restarts must be set.
#[cfg(windows)]
#[test]
fn the_daemon_runs_as_a_windows_service() {
    use crate::harness::wait_until;
    use windows_service::service::{ServiceAccess, ServiceStartType, ServiceState};
    use windows_service::service_manager::{ServiceManager, ServiceManagerAccess};

    let v = Venv::new("service");
    let _ = v.schedule(&[], "5s");
    let config = v.dir().join("openrem.yaml");
    let mut yaml = std::fs::read_to_string(&config).unwrap();
    yaml = yaml.replacen(
        "timezone: UTC\n",
        "timezone: UTC\nlog: {file: warden.log}\n",
        1,
    );
    std::fs::write(&config, yaml).unwrap();
    let name = format!("pacs-warden-test-{}", std::process::id());
    let warden = |args: &[&str]| Warden::bare().run(args);

    struct Remove(String);
    impl Drop for Remove {
        fn drop(&mut self) {
            let _ = pacs_warden::sys::os::service::uninstall(&self.0);
        }
    }
    let out = warden(&[
        "service",
        "install",
        "--name",
        &name,
        "--config",
        &config.to_string_lossy(),
    ]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    if !under_wine() && err.contains("Access is denied") {
        eprintln!("skipped: installing a service needs an Administrator prompt natively");
        return;
    }
    assert_eq!(out.status.code(), Some(0), "{text}\n{err}");
    let _remove = Remove(name.clone());
    assert!(
        text.contains(&format!("Installed the service {name}")),
        "{text}"
    );
    // The Event Log source: registered with this executable as its message file.
    let reg_query = || {
        std::process::Command::new("reg")
            .args([
                "query",
                &format!(r"HKLM\{}", pacs_warden::sys::os::eventlog::KEY),
            ])
            .output()
            .unwrap()
    };
    let reg = reg_query();
    let reg_text = String::from_utf8_lossy(&reg.stdout).into_owned();
    assert!(reg.status.success(), "{reg:?}");
    let exe = std::path::absolute(env!("CARGO_BIN_EXE_pacs-warden")).unwrap();
    assert!(
        reg_text.contains("EventMessageFile")
            && reg_text
                .to_lowercase()
                .contains(&exe.to_string_lossy().to_lowercase()),
        "{reg_text}"
    );
    assert!(
        reg_text.contains("TypesSupported") && reg_text.contains("0x7"),
        "{reg_text}"
    );

    let manager =
        ServiceManager::local_computer(None::<&str>, ServiceManagerAccess::CONNECT).unwrap();
    let service = manager
        .open_service(
            &name,
            ServiceAccess::QUERY_CONFIG
                | ServiceAccess::QUERY_STATUS
                | ServiceAccess::START
                | ServiceAccess::STOP,
        )
        .unwrap();
    let cfg = service.query_config().unwrap();
    assert_eq!(cfg.start_type, ServiceStartType::AutoStart);
    assert_eq!(cfg.account_name.as_deref(), Some("LocalSystem".as_ref()));
    let command = cfg.executable_path.to_string_lossy().into_owned();
    let absolute_config = std::path::absolute(&config).unwrap();
    assert!(
        command.contains(&format!(
            "run --config \"{}\" --service {name}",
            absolute_config.display()
        )),
        "{command}"
    );
    if under_wine() {
        assert!(
            text.contains("cannot restart it on failure"),
            "Wine has no recovery settings; install must say so: {text}"
        );
    } else {
        assert!(text.contains("is restarted when it fails"), "{text}");
        let actions = service.get_failure_actions().unwrap();
        assert_eq!(actions.actions.map(|a| a.len()), Some(3));
        assert!(service.get_failure_actions_on_non_crash_failures().unwrap());
    }

    let wait_for = |want: ServiceState| {
        wait_until(
            &format!("the service to be {want:?}"),
            Duration::from_secs(30),
            || service.query_status().unwrap().current_state == want,
        )
    };
    let log = || {
        // The log file (and a rotated one, `warden.log.DATE`, should the day change).
        std::fs::read_dir(v.dir())
            .unwrap()
            .filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().starts_with("warden.log"))
            .map(|e| std::fs::read_to_string(e.path()).unwrap_or_default())
            .collect::<String>()
    };
    let wait_log = |needle: &str| {
        wait_until(
            &format!("{needle:?} in the log"),
            Duration::from_secs(30),
            || log().contains(needle),
        )
    };
    service.start::<&str>(&[]).unwrap();
    wait_for(ServiceState::Running);
    wait_log("restart done: was not running; started pid");
    let workers = v.live_tree();
    assert_eq!(workers.len(), 3, "{workers:?}");

    service.stop().unwrap();
    wait_for(ServiceState::Stopped);
    wait_log("request from the Windows service manager event=Stop(\"service stop\")");
    wait_log("pacs-warden daemon stopped; the workers keep running");
    assert_eq!(v.live(), workers, "stopping the service touched the worker");
    assert_eq!(
        service.query_status().unwrap().exit_code,
        windows_service::service::ServiceExitCode::NO_ERROR
    );
    // The next start adopts the worker the first one started: no second worker, no restart.
    service.start::<&str>(&[]).unwrap();
    wait_for(ServiceState::Running);
    wait_log("adopting it");
    // The boot decision (adopt, or restart) is taken before the next restarts are logged: a
    // restart it launched would have logged `boot restart` by then.
    wait_until(
        "the second start's next restarts",
        Duration::from_secs(30),
        || log().matches("next restarts").count() >= 2,
    );
    let boot_restarts = log()
        .lines()
        .filter(|l| l.contains("boot restart") && !l.contains("(no boot restart)"))
        .count();
    assert_eq!(boot_restarts, 1, "{}", log());
    assert_eq!(v.live(), workers, "the second start touched the worker");
    drop(service);

    let out = warden(&["service", "uninstall", "--name", &name]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(
        manager
            .open_service(&name, ServiceAccess::QUERY_STATUS)
            .is_err(),
        "the service is still registered"
    );
    assert!(
        !reg_query().status.success(),
        "the Event Log source is still registered"
    );
}

/// pacs-warden.exe is its Event Log source's message file: under every event ID its message
/// table renders the event's text as is (`FormatMessageW` with the text as `%1`, as Event
/// Viewer does); an ID outside the table renders nothing.
#[cfg(windows)]
#[test]
fn the_exe_holds_the_event_log_message_table() {
    use windows_sys::Win32::Foundation::FreeLibrary;
    use windows_sys::Win32::System::Diagnostics::Debug::{
        FormatMessageW, FORMAT_MESSAGE_ARGUMENT_ARRAY, FORMAT_MESSAGE_FROM_HMODULE,
    };
    use windows_sys::Win32::System::LibraryLoader::{LoadLibraryExW, LOAD_LIBRARY_AS_DATAFILE};
    let wide = |s: &str| -> Vec<u16> { s.encode_utf16().chain([0]).collect() };
    let exe = std::path::absolute(env!("CARGO_BIN_EXE_pacs-warden")).unwrap();
    let exe_w = wide(&exe.to_string_lossy());
    // SAFETY: a valid path; loaded as data only.
    let module = unsafe {
        LoadLibraryExW(
            exe_w.as_ptr(),
            std::ptr::null_mut(),
            LOAD_LIBRARY_AS_DATAFILE,
        )
    };
    assert!(!module.is_null(), "cannot load {}", exe.display());
    let render = |id: u32, text: &str| -> Option<String> {
        let insert = wide(text);
        let args = [insert.as_ptr() as usize];
        let mut buf = vec![0u16; 4096];
        // SAFETY: the module is loaded; one insert string; the buffer is `buf.len()` units.
        let n = unsafe {
            FormatMessageW(
                FORMAT_MESSAGE_FROM_HMODULE | FORMAT_MESSAGE_ARGUMENT_ARRAY,
                module as *const _,
                id,
                0,
                buf.as_mut_ptr(),
                buf.len() as u32,
                args.as_ptr().cast(),
            )
        };
        (n > 0).then(|| String::from_utf16_lossy(&buf[..n as usize]))
    };
    let ids = pacs_warden::sys::os::eventlog::ids();
    assert!(ids.len() > 5);
    for id in ids {
        let text = format!("event {id}: C:\\Program Files\\x 100% done\r\nsecond line");
        assert_eq!(render(id, &text).as_deref(), Some(text.as_str()), "ID {id}");
    }
    assert_eq!(render(4242, "x"), None, "an ID outside the table");
    // SAFETY: loaded above.
    unsafe { FreeLibrary(module) };
}

/// Elsewhere `service` says it is for Windows, and fails.
#[cfg(not(windows))]
#[test]
fn the_service_command_says_it_is_windows_only() {
    let out = Warden::bare().run(&["service", "uninstall"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("Windows services exist only on Windows; on Linux use the systemd unit"),
        "{err}"
    );
}

/// The shipped Task Scheduler task (`schedules/pacs-warden-task.xml`) says what the README
/// promises: one boot trigger, SYSTEM with highest privileges, no time limit, no second
/// instance, restart on failure, start when available, not stopped on battery, and the run
/// command on the documented schedule path.
#[test]
fn the_shipped_task_scheduler_task_starts_pacs_warden_at_boot_for_good() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("schedules/pacs-warden-task.xml");
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(
        text.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>"),
        "the declaration must say UTF-8 (Task Scheduler reads UTF-16 otherwise)"
    );
    let doc = roxmltree::Document::parse(&text).unwrap();
    let task = doc.root_element();
    assert_eq!(task.tag_name().name(), "Task");
    assert_eq!(
        task.tag_name().namespace(),
        Some("http://schemas.microsoft.com/windows/2004/02/mit/task")
    );
    assert_eq!(task.attribute("version"), Some("1.2"), "Task Scheduler 2.0");
    let at = |path: &str| -> Vec<String> {
        let mut nodes = vec![task];
        for step in path.split('/') {
            nodes = nodes
                .iter()
                .flat_map(|n| n.children().filter(|c| c.tag_name().name() == step))
                .collect();
        }
        nodes
            .iter()
            .map(|n| n.text().unwrap_or("").trim().to_string())
            .collect()
    };
    let one = |path: &str| -> String {
        let v = at(path);
        assert_eq!(v.len(), 1, "{path}: {v:?}");
        v[0].clone()
    };
    let triggers: Vec<String> = task
        .children()
        .filter(|c| c.tag_name().name() == "Triggers")
        .flat_map(|t| t.children().filter(|c| c.is_element()))
        .map(|c| c.tag_name().name().to_string())
        .collect();
    assert_eq!(triggers, ["BootTrigger"], "one trigger: at startup");
    assert_eq!(one("Triggers/BootTrigger/Enabled"), "true");
    assert_eq!(one("Principals/Principal/UserId"), "S-1-5-18");
    assert_eq!(one("Principals/Principal/RunLevel"), "HighestAvailable");
    assert_eq!(one("Settings/ExecutionTimeLimit"), "PT0S");
    assert_eq!(one("Settings/MultipleInstancesPolicy"), "IgnoreNew");
    assert_eq!(one("Settings/RestartOnFailure/Interval"), "PT1M");
    assert_eq!(one("Settings/RestartOnFailure/Count"), "3");
    assert_eq!(one("Settings/StartWhenAvailable"), "true");
    assert_eq!(one("Settings/DisallowStartIfOnBatteries"), "false");
    assert_eq!(one("Settings/StopIfGoingOnBatteries"), "false");
    assert_eq!(one("Settings/Enabled"), "true");
    let priority: u8 = one("Settings/Priority").parse().unwrap();
    assert!(
        (4..=6).contains(&priority),
        "normal priority, not {priority}"
    );
    assert_eq!(at("Actions/Exec").len(), 1, "one action");
    assert!(one("Actions/Exec/Command").ends_with(r"\pacs-warden.exe"));
    assert_eq!(
        one("Actions/Exec/Arguments"),
        r#"run --config "C:\ProgramData\pacs-warden\openrem.yaml""#
    );
}

/// The task imports with `schtasks /Create /XML` (UTF-8 as shipped). Under Wine, whose task
/// service keeps only some settings (no boot trigger, principal or action): those it keeps
/// must have come through.
#[cfg(windows)]
#[test]
fn the_shipped_task_imports_with_schtasks() {
    let xml = std::path::absolute(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("schedules/pacs-warden-task.xml"),
    )
    .unwrap();
    let name = format!("pacs-warden-test-{}", std::process::id());
    // Output to files, not pipes: under Wine, schtasks may start the desktop process
    // (explorer.exe), which would hold a pipe open for as long as Wine runs.
    let out_dir = tempfile::tempdir().unwrap();
    let schtasks = |args: &[&std::ffi::OsStr]| {
        let stdout = out_dir.path().join("stdout");
        let stderr = out_dir.path().join("stderr");
        let status = std::process::Command::new("schtasks")
            .args(args)
            .stdin(std::process::Stdio::null())
            .stdout(std::fs::File::create(&stdout).unwrap())
            .stderr(std::fs::File::create(&stderr).unwrap())
            .status()
            .unwrap();
        std::process::Output {
            status,
            stdout: std::fs::read(&stdout).unwrap(),
            stderr: std::fs::read(&stderr).unwrap(),
        }
    };
    let out = schtasks(&[
        "/Create".as_ref(),
        "/XML".as_ref(),
        xml.as_os_str(),
        "/TN".as_ref(),
        name.as_ref(),
        "/F".as_ref(),
    ]);
    if !under_wine() && String::from_utf8_lossy(&out.stderr).contains("Access is denied") {
        eprintln!("skipped: creating a SYSTEM task needs an Administrator prompt natively");
        return;
    }
    assert!(out.status.success(), "{out:?}");
    let stored = if under_wine() {
        let dir = std::env::var("SystemRoot").unwrap_or_else(|_| r"C:\windows".into());
        let bytes = std::fs::read(Path::new(&dir).join("system32").join("tasks").join(&name));
        String::from_utf8_lossy(&bytes.unwrap()).into_owned()
    } else {
        let out = schtasks(&[
            "/Query".as_ref(),
            "/XML".as_ref(),
            "/TN".as_ref(),
            name.as_ref(),
        ]);
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let deleted = schtasks(&[
        "/Delete".as_ref(),
        "/TN".as_ref(),
        name.as_ref(),
        "/F".as_ref(),
    ]);
    assert!(deleted.status.success(), "{deleted:?}");
    for setting in [
        "<MultipleInstancesPolicy>IgnoreNew</MultipleInstancesPolicy>",
        "<ExecutionTimeLimit>PT0S</ExecutionTimeLimit>",
        "<StartWhenAvailable>true</StartWhenAvailable>",
        "<StopIfGoingOnBatteries>false</StopIfGoingOnBatteries>",
    ] {
        assert!(stored.contains(setting), "{setting} missing:\n{stored}");
    }
    if !under_wine() {
        for setting in [
            "<BootTrigger>",
            "S-1-5-18",
            "<Count>3</Count>",
            "openrem.yaml",
        ] {
            assert!(stored.contains(setting), "{setting} missing:\n{stored}");
        }
    }
}

/// `schedules/openrem-windows.yaml` does what the seed's batch file did, with its exact
/// commands, pid file and log file:
///   celery -A openremproject control shutdown --timeout=10
///   TIMEOUT /T 10
///   TASKKILL /IM /F celery.exe
///   del E:\media_root\celery\default.pid
///   celery worker -n default -P solo -Ofair -A openremproject -c 4 -Q default
///     --pidfile=E:\media_root\celery\default.pid --logfile=E:\media_root\celery\default.log
/// but for the node name: `-n default@openrem` (Celery names `-n default` celery@default), and
/// the stop command addressed to that node with `-d` (without it, every worker on the broker).
#[test]
fn the_windows_schedule_reproduces_the_seed_batch_file() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("schedules/openrem-windows.yaml");
    let s = pacs_warden::shell::schedule::load(&path).unwrap();
    assert_eq!(s.workers.len(), 1);
    let w = &s.workers[0];
    let words = |line: &str| -> Vec<String> { line.split(' ').map(String::from).collect() };
    assert_eq!(
        w.stop.command.as_deref(),
        Some(
            &words("celery -A openremproject control shutdown --timeout=10 -d default@openrem")[..]
        )
    );
    assert_eq!(w.stop.grace, Duration::from_secs(10));
    assert_eq!(w.matcher().unwrap().image, "celery");
    assert_eq!(
        w.pidfile.as_deref(),
        Some(Path::new(r"E:\media_root\celery\default.pid"))
    );
    assert_eq!(
        w.start().unwrap().command,
        words(
            r"celery worker -n default@openrem -P solo -Ofair -A openremproject -c 4 -Q default --pidfile=E:\media_root\celery\default.pid --logfile=E:\media_root\celery\default.log"
        )
    );
    // Each batch line is named in a comment next to its key.
    let text = std::fs::read_to_string(&path).unwrap();
    for line in 1..=5 {
        assert!(
            text.contains(&format!("# batch line {line}")),
            "line {line}"
        );
    }
}

/// The trust check on Windows (README, Security), under Wine as far as Wine keeps security
/// descriptors: Wine stores a DACL that is set and returns it, and `check`, `restart` and
/// `run` judge it; Wine itself enforces Unix permissions, not the DACL. The rule itself is
/// tested on constructed descriptors in `trust::tests`.
#[cfg(windows)]
#[test]
fn a_schedule_others_may_change_is_refused_and_the_state_folder_is_created_restricted() {
    use pacs_warden::sys::trust;
    if !crate::harness::privileged_for_trust_tests(
        "the trust check applies to an administrator or LocalSystem only",
    ) {
        return;
    }
    let dir = tempfile::Builder::new()
        .prefix("trust test ")
        .tempdir()
        .unwrap();
    let folder = dir.path().join("pacs-warden");
    trust::safe_create_dir_all(&folder).unwrap();
    let path = folder.join("openrem.yaml");
    let mark = folder.join("started");
    std::fs::write(
        &path,
        format!(
            "timezone: UTC\nqueries:\n  - name: q\n    at: [\"06:00\"]\nrestart_at_boot: false\nworkers:\n  - name: w\n    match: {{image: no-such-image-xyz, args_contain: [x]}}\n    stop: {{grace: 1s}}\n    start:\n      command: [cmd.exe, /C, 'echo x> \"{}\"']\n",
            mark.display()
        ),
    )
    .unwrap();
    let run = |args: &[&str]| Warden::at(&path).run(args);
    // The folder pacs-warden made, and the file in it (which inherits its DACL): trusted.
    let out = run(&["check"]);
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(!err.contains("warning"), "{err}");

    // Everyone may write the file.
    trust::apply_sddl(&path, "D:P(A;;FA;;;SY)(A;;FA;;;BA)(A;;FA;;;WD)").unwrap();
    for args in [&["restart"][..], &["run"][..]] {
        let out = run(args);
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains("file may be changed by `Everyone`"), "{err}");
        assert!(
            err.contains(&format!("icacls \"{}\" /inheritance:r", path.display())),
            "{err}"
        );
        assert!(!mark.exists(), "{args:?}: a command of the schedule ran");
    }
    let out = run(&["check"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stderr).contains("warning: "));

    // Tightened again: it runs, and the state folder it creates is restricted.
    trust::apply_sddl(&path, "D:P(A;;FA;;;SY)(A;;FA;;;BA)(A;;0x1200a9;;;BU)").unwrap();
    let out = run(&["restart"]);
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!err.contains("refusing"), "{err}");
    let state = folder.join("openrem.yaml.state");
    assert!(state.is_dir(), "{err}");
    let findings = trust::check_path(&state, trust::Role::StateDir, &trust::Allowed::default());
    assert!(findings.is_empty(), "{findings:?}");
}

/// Console stop (`stop.signal: CTRL_C | CTRL_BREAK`): a demo worker that records the console
/// events it gets (`--record-stop-events`) and stops on them, with one child on its console.
#[cfg(windows)]
mod console_stop {
    use super::*;
    use crate::harness::{stderr, stdout, worker_exe};
    use std::time::Instant;

    /// A site whose worker `w` is stopped with `signal` only (no stop command), then killed
    /// after `grace`.
    fn site(name: &str, signal: &str, grace: &str) -> Site {
        let s = Site::new(name);
        let w = q(&worker_exe());
        s.write(&format!(
            "timezone: UTC\nqueries:\n  - name: q\n    cron: \"0 0 3 * * *\"\nworkers:\n  - name: w\n    match: {{image: pacs-demo-worker, args_contain: \"run --name {tag} \"}}\n    pidfile: w.pid\n    stop:\n      signal: {signal}\n      grace: {grace}\n    start:\n      command: [{w}, run, --name, {tag}, --pidfile, w.pid, --children, \"1\", --record-stop-events, events.txt]\n",
            tag = s.tag
        ));
        s
    }

    /// Restarts once to start the worker; returns the PIDs of its tree (worker and child).
    fn started(s: &Site) -> Vec<u32> {
        let out = s.warden().run(&["restart"]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        crate::harness::eventually("the worker and its child", || s.live_pids().len() == 2);
        s.live_pids()
    }

    fn events(s: &Site) -> String {
        std::fs::read_to_string(s.path("events.txt")).unwrap_or_default()
    }

    /// The worker gets Ctrl-C in its own console and exits cleanly, well before grace: it was
    /// started with Ctrl-C enabled (no CREATE_NEW_PROCESS_GROUP) and the helper reached its
    /// console. Runs under Wine too.
    #[test]
    fn ctrl_c_reaches_the_workers_own_console_and_it_exits_cleanly() {
        let s = site("ctrlc", "CTRL_C", "60s");
        let old = started(&s);
        let t0 = Instant::now();
        let out = s.warden().run(&["restart"]);
        let (log, said) = (stderr(&out), stdout(&out));
        assert_eq!(out.status.code(), Some(0), "{log}");
        assert!(log.contains("sent the stop signal"), "{log}");
        assert!(
            log.contains("sent Ctrl-C to the console of process"),
            "{log}"
        );
        assert!(said.contains("] exited after"), "not killed: {said}\n{log}");
        assert!(
            t0.elapsed() < Duration::from_secs(40),
            "grace was waited out"
        );
        assert_eq!(events(&s), "CTRL_C\n", "exactly one Ctrl-C, recorded");
        for pid in old {
            assert!(identify(pid).is_none(), "{pid} still runs");
        }
    }

    /// Ctrl-Break: delivered natively (the worker records it and exits); Wine 8.0 cannot
    /// generate it (GenerateConsoleCtrlEvent fails with error 6), so there the helper says so,
    /// nothing is recorded, and the worker is killed after grace.
    #[test]
    fn ctrl_break_is_delivered_natively_and_reported_unsent_under_wine() {
        let s = site(
            "ctrlbreak",
            "CTRL_BREAK",
            if under_wine() { "2s" } else { "60s" },
        );
        started(&s);
        let out = s.warden().run(&["restart"]);
        let (log, said) = (stderr(&out), stdout(&out));
        assert_eq!(out.status.code(), Some(0), "{log}");
        if under_wine() {
            assert!(log.contains("the stop signal was not sent"), "{log}");
            assert!(log.contains("Ctrl-Break could not be generated"), "{log}");
            assert!(log.contains("(error 6)"), "{log}");
            assert!(said.contains("killed after grace"), "{said}\n{log}");
            assert_eq!(events(&s), "");
        } else {
            assert!(
                log.contains("sent Ctrl-Break to the console of process"),
                "{log}"
            );
            assert!(said.contains("] exited after"), "not killed: {said}\n{log}");
            assert_eq!(events(&s), "CTRL_BREAK\n");
        }
    }

    /// A console shared with a process outside the worker's tree gets no event: here the
    /// scheduled worker is only the child of a demo worker started by the test, on its
    /// parent's console. The parent (not the worker's, and recording every event it gets)
    /// gets nothing and keeps running; the child is killed after grace.
    #[test]
    fn a_console_shared_with_another_process_gets_no_event() {
        use std::os::windows::process::CommandExt;
        use windows_sys::Win32::System::Threading::CREATE_NO_WINDOW;
        let s = Site::new("shared");
        let parent_tag = format!("{}-parent", s.tag);
        let mut parent = std::process::Command::new(WORKER)
            .current_dir(s.dir.path())
            .args(["run", "--name", &parent_tag, "--pidfile", "parent.pid"])
            .args([
                "--children",
                "1",
                "--record-stop-events",
                "parent events.txt",
            ])
            .creation_flags(CREATE_NO_WINDOW)
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap();
        crate::harness::eventually("the parent and its child", || s.live_pids().len() == 2);
        let child = format!("{parent_tag}-child-0");
        let w = q(&worker_exe());
        s.write(&format!(
            "timezone: UTC\nqueries:\n  - name: q\n    cron: \"0 0 3 * * *\"\nworkers:\n  - name: c\n    match: {{image: pacs-demo-worker, args_contain: \"child --name {child}\"}}\n    stop:\n      signal: CTRL_C\n      grace: 2s\n    start:\n      command: [{w}, child, --name, {child}]\n"
        ));
        let out = s.warden().run(&["restart"]);
        let (log, said) = (stderr(&out), stdout(&out));
        assert_eq!(out.status.code(), Some(0), "{log}");
        assert!(
            log.contains("shared with processes outside the worker"),
            "{log}"
        );
        assert!(
            log.contains(&format!("{}", parent.id())),
            "names the parent: {log}"
        );
        assert!(log.contains("the stop signal was not sent"), "{log}");
        assert!(said.contains("killed after grace"), "{said}\n{log}");
        assert!(
            parent.try_wait().unwrap().is_none(),
            "the parent was stopped"
        );
        assert_eq!(
            std::fs::read_to_string(s.path("parent events.txt")).unwrap_or_default(),
            "",
            "the parent got an event"
        );
        let _ = parent.kill();
        let _ = parent.wait();
    }
}

/// Service workers through Wine's (or Windows') Service Control Manager, with the demo
/// worker's `service` mode as the stand-in service. Each test registers its own service, with a
/// unique name, and deletes it when done (`StandIn`'s drop).
#[cfg(windows)]
mod service_worker {
    use super::*;
    use crate::harness::wait_until;
    use pacs_warden::sys::os::scm::{self, State};
    use std::ffi::OsString;
    use windows_service::service::{
        ServiceAccess, ServiceErrorControl, ServiceInfo, ServiceStartType, ServiceType,
    };
    use windows_service::service_manager::{ServiceManager, ServiceManagerAccess};

    /// A stand-in service registered with the SCM; stopped and deleted when dropped, then its
    /// site kills whatever still carries its tag.
    struct StandIn {
        name: String,
        pidfile: PathBuf,
        site: Site,
    }

    impl StandIn {
        /// Registers the stand-in with `flags` (`None` natively without the right to create a
        /// service).
        fn register(test: &str, flags: &[&str], kind: ServiceType) -> Option<StandIn> {
            StandIn::register_as(test, flags, kind, None)
        }

        /// `register`, the service's program a copy of the stand-in named `exe` in the site's
        /// folder when given (where a WinSW wrapper has its XML beside it).
        fn register_as(
            test: &str,
            flags: &[&str],
            kind: ServiceType,
            exe: Option<&str>,
        ) -> Option<StandIn> {
            let site = Site::new(test);
            let program = match exe {
                None => std::path::absolute(WORKER).unwrap(),
                Some(name) => {
                    let copy = std::path::absolute(site.path(name)).unwrap();
                    std::fs::copy(WORKER, &copy).unwrap();
                    copy
                }
            };
            // The tag's PID repeats across runs under Wine: the clock makes the name unique.
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .subsec_nanos();
            let name = format!("pw-{}-{nanos}", site.tag);
            let pidfile = std::path::absolute(site.path(&format!("{}.pid", site.tag))).unwrap();
            let manager = || {
                ServiceManager::local_computer(
                    None::<&str>,
                    ServiceManagerAccess::CONNECT | ServiceManagerAccess::CREATE_SERVICE,
                )
                .unwrap()
            };
            let mut launch_arguments: Vec<OsString> = vec![
                "service".into(),
                "--name".into(),
                name.clone().into(),
                "--pidfile".into(),
                pidfile.clone().into(),
            ];
            launch_arguments.extend(flags.iter().map(OsString::from));
            let info = ServiceInfo {
                name: name.clone().into(),
                display_name: name.clone().into(),
                service_type: kind,
                start_type: ServiceStartType::OnDemand,
                error_control: ServiceErrorControl::Normal,
                executable_path: program,
                launch_arguments,
                dependencies: vec![],
                account_name: None,
                account_password: None,
            };
            // Wine 8.0 sometimes calls a fresh manager handle invalid (error 6) while other
            // tests' threads open and close service handles (as `scm` notes): a few tries.
            let mut created = manager().create_service(&info, ServiceAccess::QUERY_STATUS);
            for _ in 0..5 {
                match &created {
                    Err(windows_service::Error::Winapi(e)) if e.raw_os_error() == Some(6) => {
                        std::thread::sleep(Duration::from_millis(100));
                        created = manager().create_service(&info, ServiceAccess::QUERY_STATUS);
                    }
                    _ => break,
                }
            }
            match created {
                Ok(_) => {}
                Err(e) if !under_wine() && format!("{e:?}").contains("Access") => {
                    eprintln!("skipped: creating a service needs an Administrator prompt natively");
                    return None;
                }
                Err(e) => panic!("cannot create the stand-in service {name}: {e:?}"),
            }
            Some(StandIn {
                name,
                pidfile,
                site,
            })
        }

        fn service(&self) -> scm::Service {
            scm::open(&self.name).unwrap()
        }

        fn status(&self) -> scm::Status {
            self.service().status().unwrap()
        }

        /// Starts it through the SCM; returns once it runs and its child has written its PID.
        /// (The service PID, the child PID.)
        fn start(&self) -> (u32, u32) {
            self.service().start().unwrap();
            wait_until(
                "the stand-in service to run",
                Duration::from_secs(30),
                || self.status().state == State::Running && self.pidfile.exists(),
            );
            let child = loop {
                if let Ok(pid) = std::fs::read_to_string(&self.pidfile)
                    .unwrap_or_default()
                    .trim()
                    .parse()
                {
                    break pid;
                }
                std::thread::sleep(Duration::from_millis(50));
            };
            (self.status().pid.unwrap(), child)
        }

        /// A schedule with one worker, this service, and `extra` lines of its mapping.
        fn schedule(&self, grace: &str, ready: &[String]) -> Schedule {
            let ready: Vec<String> = ready.iter().map(|a| q(a)).collect();
            let yaml = format!(
                "timezone: UTC\nqueries:\n  - name: q\n    at: [\"06:00\"]\n    workers: [huey]\nworkers:\n  - name: huey\n    service: {}\n    stop: {{grace: {grace}}}\n    ready: {{command: [{}], timeout: 30s}}\n",
                self.name,
                ready.join(", ")
            );
            let path = self.site.path("openrem.yaml");
            std::fs::write(&path, yaml).unwrap();
            pacs_warden::shell::schedule::load(&path).unwrap()
        }

        fn ping(&self) -> Vec<String> {
            vec![
                crate::harness::worker_exe(),
                "ping".into(),
                "--pidfile".into(),
                self.pidfile.to_string_lossy().into_owned(),
            ]
        }
    }

    impl Drop for StandIn {
        fn drop(&mut self) {
            let Ok(manager) =
                ServiceManager::local_computer(None::<&str>, ServiceManagerAccess::CONNECT)
            else {
                return;
            };
            let Ok(service) = manager.open_service(
                &self.name,
                ServiceAccess::STOP | ServiceAccess::QUERY_STATUS | ServiceAccess::DELETE,
            ) else {
                return;
            };
            let _ = service.stop();
            // A stand-in that ignores the stop reports STOPPED once its worker child is gone
            // (killing the service process would leave it RUNNING under Wine, never deleted).
            for p in tagged(&self.site.tag) {
                if p.cmdline.iter().any(|a| a == "run") {
                    let _ = pacs_warden::sys::os::kill_verified(p.id);
                }
            }
            let t0 = std::time::Instant::now();
            while t0.elapsed() < Duration::from_secs(15)
                && service.query_status().is_ok_and(|s| {
                    s.current_state != windows_service::service::ServiceState::Stopped
                })
            {
                std::thread::sleep(Duration::from_millis(100));
            }
            let _ = service.delete();
        }
    }

    /// The daemon's log shows a boot restart.
    fn restarted(log: &str) -> bool {
        log.lines()
            .any(|l| l.contains("boot restart") && !l.contains("no boot restart"))
    }

    fn alive(pid: u32, was: Option<pacs_warden::sys::process::ProcId>) -> bool {
        identify(pid).is_some_and(|id| Some(id) == was)
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_service_worker_is_restarted_through_the_service_control_manager() {
        let Some(svc) = StandIn::register("svc-restart", &[], ServiceType::OWN_PROCESS) else {
            return;
        };
        let (old_service, old_child) = svc.start();
        let (old_service_id, old_child_id) = (identify(old_service), identify(old_child));
        let s = svc.schedule("30s", &svc.ping());
        let outcome = run(&s).await;
        assert!(outcome.ok(), "{}", outcome.summary());
        // Stopped by the SCM, gracefully: nothing killed.
        assert!(
            matches!(&outcome.stopped, Some(Stopped::Exited { pids, .. }) if pids.contains(&old_service) && pids.contains(&old_child)),
            "{}",
            outcome.summary()
        );
        assert!(
            !alive(old_service, old_service_id),
            "the old service process still runs"
        );
        assert!(
            !alive(old_child, old_child_id),
            "the old worker child still runs"
        );
        let now = svc.status();
        assert_eq!(now.state, State::Running);
        let started = outcome.started.expect("a new service process");
        assert_eq!(now.pid, Some(started.pid), "{}", outcome.summary());
        assert_ne!(started.pid, old_service);
        // `ready` ran against the new child: its pid file names a new, live process.
        let new_child = pid_in(&svc.pidfile);
        assert_ne!(new_child, old_child);
        assert!(identify(new_child).is_some());
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_service_that_ignores_stop_beyond_grace_loses_its_worker_child_first() {
        let Some(svc) = StandIn::register(
            "svc-ignore",
            &["--ignore-stop-for", "10m"],
            ServiceType::OWN_PROCESS,
        ) else {
            return;
        };
        let (old_service, old_child) = svc.start();
        let old_service_id = identify(old_service);
        let ready_log = svc.site.path("ready ran.txt");
        let record = vec![
            crate::harness::worker_exe(),
            "record".into(),
            "--out".into(),
            ready_log.to_string_lossy().into_owned(),
        ];
        let s = svc.schedule("3s", &record);
        let outcome = run(&s).await;
        assert!(outcome.ok(), "{}", outcome.summary());
        // Only the child was killed: the service process then reported STOPPED by itself.
        match &outcome.stopped {
            Some(Stopped::Killed { killed, exited }) => {
                assert_eq!(killed, &[old_child], "{}", outcome.summary());
                assert!(exited.contains(&old_service), "{}", outcome.summary());
            }
            other => panic!("{other:?}: {}", outcome.summary()),
        }
        assert!(!alive(old_service, old_service_id));
        let now = svc.status();
        assert_eq!(now.state, State::Running);
        assert_eq!(now.pid, outcome.started.map(|id| id.pid));
        assert!(ready_log.exists(), "the ready command did not run");
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_shared_process_or_missing_service_is_refused() {
        let Some(svc) = StandIn::register(
            "svc-shared",
            &["--share-process"],
            ServiceType::SHARE_PROCESS,
        ) else {
            return;
        };
        let s = svc.schedule("3s", &svc.ping());
        let outcome = run(&s).await;
        assert!(!outcome.ok());
        assert!(
            outcome
                .summary()
                .contains("shares its process with other services (svchost)"),
            "{}",
            outcome.summary()
        );
        assert!(outcome.started.is_none());

        let mut s = s;
        s.workers[0].launch = pacs_warden::core::config::Launch::Service {
            name: format!("{}-missing", svc.name),
            matcher: None,
        };
        let outcome = run(&s).await;
        assert!(
            outcome.summary().ends_with(&format!(
                "FAILED: there is no Windows service named `{}-missing` (give the service's name, not its display name: `sc query state= all`)",
                svc.name
            )),
            "{}",
            outcome.summary()
        );
    }

    #[test]
    fn check_takes_a_service_worker_without_start_or_match() {
        let w = Warden::schedule(
            "timezone: UTC\nqueries:\n  - name: q\n    at: [\"06:00\"]\n    workers: [huey]\nworkers:\n  - name: huey\n    service: openrem-huey\n    stop: {grace: 11m}\n",
        );
        let out = w.run(&["check"]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}{stderr}",
            String::from_utf8_lossy(&out.stdout),
        );
        // No such service here: a warning at `service:`'s value (the file may be meant for
        // another machine), the exit status still 0.
        assert!(
            stderr.contains(&format!(
                "{}:8:14: workers[0].service: warning: no service named `openrem-huey` on this \
                 machine (give the service's name, not its display name: `sc query state= all`)",
                w.path.display()
            )),
            "{stderr}"
        );
        // `plan` names the service beside the worker.
        let plan = w.run(&["plan"]);
        let text = String::from_utf8_lossy(&plan.stdout);
        assert!(text.contains("huey (service openrem-huey)"), "{text}");
    }

    /// A service run by WinSW (an XML of the program's name beside it) whose `<stoptimeout>`
    /// outlasts the worker's grace less 30 s: `check` warns at `stop.grace`; a grace long
    /// enough says nothing.
    #[test]
    fn check_warns_when_the_grace_is_shorter_than_the_winsw_stop_timeout() {
        let Some(svc) = StandIn::register_as(
            "svc-winsw",
            &[],
            ServiceType::OWN_PROCESS,
            Some("huey default.exe"),
        ) else {
            return;
        };
        let xml = std::path::absolute(svc.site.path("huey default.xml")).unwrap();
        std::fs::write(
            &xml,
            "<service>\n  <id>huey</id>\n  <executable>python</executable>\n  <stoptimeout>10 min</stoptimeout>\n</service>\n",
        )
        .unwrap();
        let path = svc.site.path("openrem.yaml");
        let check = |grace: &str| {
            std::fs::write(
                &path,
                format!(
                    "timezone: UTC\nqueries:\n  - name: q\n    at: [\"06:00\"]\n    workers: [huey]\nworkers:\n  - name: huey\n    service: {}\n    stop: {{grace: {grace}}}\n",
                    svc.name
                ),
            )
            .unwrap();
            let out = Warden::at(&path).run(&["check"]);
            let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
            assert_eq!(out.status.code(), Some(0), "{stderr}");
            stderr
        };
        let stderr = check("60s");
        assert!(
            stderr.contains(&format!(
                "{}:9:19: workers[0].stop.grace: warning: 1m is shorter than the service's \
                 <stoptimeout> 10 min in {} plus 30 s: a busy worker would be killed while WinSW \
                 still waits for it to finish; set `stop.grace: 10m 30s` or more",
                path.display(),
                xml.display()
            )),
            "{stderr}"
        );
        assert!(!stderr.contains("no service named"), "{stderr}");
        let stderr = check("10m 30s");
        assert!(!stderr.contains("stoptimeout"), "{stderr}");
    }

    /// The daemon supervises a service worker: its worker child dies, the stand-in reports
    /// STOPPED with 1067 (a crashed WinSW) and exits; Wine runs no recovery, so the SCM has
    /// nothing coming and it is a crash, and supervision starts the service again through the
    /// SCM, under a new process.
    #[test]
    fn the_daemon_starts_a_crashed_service_worker_again_through_the_scm() {
        use crate::harness::Daemon;
        let Some(svc) = StandIn::register("svc-daemon", &[], ServiceType::OWN_PROCESS) else {
            return;
        };
        let _ = svc.schedule("30s", &svc.ping());
        let mut daemon = Daemon::start(&svc.site.path("openrem.yaml"));
        daemon.expect("the service runs");
        daemon.expect("restart done");
        let first = svc.status();
        assert_eq!(first.state, State::Running);
        let child = pid_in(&svc.pidfile);
        let child_id = identify(child).expect("the worker child runs");
        pacs_warden::sys::os::kill_verified(child_id).unwrap();
        daemon.expect("the worker exited unexpectedly (crash)");
        daemon.expect("starting the service through the Service Control Manager");
        daemon.expect("restart done");
        let now = svc.status();
        assert_eq!(now.state, State::Running);
        assert_ne!(now.pid, first.pid);
    }

    /// Native Windows only (Wine has no recovery actions: `QueryServiceConfig2` fails with 124
    /// and none ever runs): a service worker whose child dies while its recovery restarts it
    /// after 5 s is left alone, and the daemon adopts the process Windows started, without a
    /// restart of its own.
    #[test]
    fn the_daemon_leaves_a_service_its_recovery_restarts_alone_and_adopts_it() {
        use crate::harness::Daemon;
        use windows_service::service::{
            ServiceAction, ServiceActionType, ServiceFailureActions, ServiceFailureResetPeriod,
        };
        if under_wine() {
            eprintln!("skipped under Wine: its services.exe runs no recovery actions");
            return;
        }
        let Some(svc) = StandIn::register("svc-recovery", &[], ServiceType::OWN_PROCESS) else {
            return;
        };
        let manager =
            ServiceManager::local_computer(None::<&str>, ServiceManagerAccess::CONNECT).unwrap();
        let service = manager
            .open_service(
                &svc.name,
                ServiceAccess::CHANGE_CONFIG | ServiceAccess::START,
            )
            .unwrap();
        let restart = ServiceAction {
            action_type: ServiceActionType::Restart,
            delay: Duration::from_secs(5),
        };
        service
            .update_failure_actions(ServiceFailureActions {
                reset_period: ServiceFailureResetPeriod::After(Duration::from_secs(3600)),
                reboot_msg: None,
                command: None,
                actions: Some(vec![restart.clone(), restart]),
            })
            .unwrap();
        // The stand-in reports STOPPED with 1067 itself: a failure, not a crash, to the SCM.
        service
            .set_failure_actions_on_non_crash_failures(true)
            .unwrap();
        let _ = svc.schedule("30s", &svc.ping());
        let mut daemon = Daemon::start(&svc.site.path("openrem.yaml"));
        daemon.expect("restart done");
        let first = svc.status();
        let child = identify(pid_in(&svc.pidfile)).expect("the worker child runs");
        pacs_warden::sys::os::kill_verified(child).unwrap();
        daemon.expect("leaving it alone");
        // Windows restarts it after the delay; the daemon looks at least every 5 s, and would
        // give up waiting after the delay + its margin: a deadline past both.
        let delay = Duration::from_secs(5);
        daemon.expect_within(
            "Windows started the service again",
            delay + pacs_warden::core::warden::SERVICE_RECOVERY_MARGIN + Duration::from_secs(30),
        );
        let now = svc.status();
        assert_eq!(now.state, State::Running);
        assert_ne!(now.pid, first.pid);
        assert!(
            !daemon
                .log()
                .contains("the worker exited unexpectedly (crash)"),
            "{}",
            daemon.log()
        );
        // Recorded: the next daemon adopts the new process as the one it knows.
        drop(daemon);
        let mut daemon = Daemon::start(&svc.site.path("openrem.yaml"));
        daemon.expect("adopting it (no boot restart)");
        daemon.expect("next restarts");
        let log = daemon.log();
        assert!(
            !log.contains("runs under another process than the one recorded") && !restarted(&log),
            "{log}"
        );
        assert_eq!(svc.status().pid, now.pid, "{log}");
    }

    /// A service still starting (its recovery, an admin) when the sequence begins is let
    /// finish starting, then stopped and started again.
    #[tokio::test(flavor = "current_thread")]
    async fn a_service_still_starting_is_let_settle_before_the_restart() {
        let Some(svc) = StandIn::register(
            "svc-pending",
            &["--start-pending", "15s"],
            ServiceType::OWN_PROCESS,
        ) else {
            return;
        };
        let s = svc.schedule("30s", &svc.ping());
        svc.service().start().unwrap();
        wait_until("START_PENDING", Duration::from_secs(30), || {
            svc.status().state == State::StartPending
        });
        // Still starting as the sequence begins (else this test would not test the wait):
        // the stand-in stays START_PENDING for 15 s.
        assert_eq!(svc.status().state, State::StartPending);
        let outcome = run(&s).await;
        assert!(outcome.ok(), "{}", outcome.summary());
        // It was running (not stopped) when the sequence stopped it: it had been let finish
        // starting, not killed or started a second time.
        assert!(
            matches!(&outcome.stopped, Some(Stopped::Exited { pids, .. }) if !pids.is_empty()),
            "{}",
            outcome.summary()
        );
        assert_eq!(svc.status().state, State::Running);
    }

    /// A service process that still runs after `grace` and after its worker child was killed
    /// (a WinSW hung in its own stop: the stand-in lingers 20 s in STOP_PENDING). Killing it is
    /// a failure to the SCM, which runs the service's recovery: done only when the recovery
    /// settings can be read and do no more than restart it. Under Wine they cannot be read
    /// (`ERROR_INVALID_LEVEL`): the restart is refused and the service process left running.
    /// Natively (no recovery actions registered: nothing drastic) it is killed and the service
    /// started again.
    #[tokio::test(flavor = "current_thread")]
    async fn a_service_process_hung_after_grace_is_killed_only_with_a_known_mild_recovery() {
        let Some(svc) = StandIn::register(
            "svc-hung",
            &["--ignore-stop-for", "10m", "--linger", "20s"],
            ServiceType::OWN_PROCESS,
        ) else {
            return;
        };
        let (old_service, old_child) = svc.start();
        let (old_service_id, old_child_id) = (identify(old_service), identify(old_child));
        let s = svc.schedule("3s", &svc.ping());
        let outcome = run(&s).await;
        assert!(
            !alive(old_child, old_child_id),
            "the worker child was not killed: {}",
            outcome.summary()
        );
        if under_wine() {
            assert!(!outcome.ok(), "{}", outcome.summary());
            assert!(
                outcome.summary().contains(&format!(
                    "process (pid {old_service}) still runs after grace and after its descendants were killed; not killing it, because its recovery settings cannot be read"
                )),
                "{}",
                outcome.summary()
            );
            assert!(
                alive(old_service, old_service_id),
                "the service process was killed with its recovery unknown"
            );
            assert!(outcome.started.is_none());
        } else {
            assert!(outcome.ok(), "{}", outcome.summary());
            match &outcome.stopped {
                Some(Stopped::Killed { killed, .. }) => {
                    assert!(killed.contains(&old_service), "{}", outcome.summary())
                }
                other => panic!("{other:?}: {}", outcome.summary()),
            }
            assert!(!alive(old_service, old_service_id));
        }
    }

    /// A `match` the service's process does not fit: the restart is refused and the service
    /// left running as it was (nothing stopped, nothing killed).
    #[tokio::test(flavor = "current_thread")]
    async fn a_service_process_that_does_not_fit_match_is_left_alone() {
        let Some(svc) = StandIn::register("svc-foreign", &[], ServiceType::OWN_PROCESS) else {
            return;
        };
        let (old_service, old_child) = svc.start();
        let (old_service_id, old_child_id) = (identify(old_service), identify(old_child));
        let mut s = svc.schedule("3s", &svc.ping());
        s.workers[0].launch = pacs_warden::core::config::Launch::Service {
            name: svc.name.clone(),
            matcher: Some(pacs_warden::core::config::ProcessMatch {
                image: "celery".into(),
                args_contain: vec![],
            }),
        };
        let outcome = run(&s).await;
        assert!(!outcome.ok());
        assert!(
            outcome
                .summary()
                .contains(&format!("process (pid {old_service}) is not the worker's")),
            "{}",
            outcome.summary()
        );
        assert!(
            alive(old_service, old_service_id),
            "the service process was touched"
        );
        assert!(
            alive(old_child, old_child_id),
            "the worker child was touched"
        );
        let now = svc.status();
        assert_eq!((now.state, now.pid), (State::Running, Some(old_service)));
    }

    /// A service process that ends without reporting STOPPED (WinSW's `Environment.Exit`
    /// after its child died: `--crash-hard`). Natively the SCM notices a moment later (STOPPED,
    /// 1067, then its recovery); until then it still says RUNNING with the exited process, and
    /// the daemon must not take that for a crash at once. Wine's SCM never notices (it keeps
    /// RUNNING with the dead process, checked below): after `SERVICE_STALE_LIMIT` the daemon
    /// treats the service as down, a crash, and starts it again through the SCM.
    #[test]
    fn a_service_process_gone_without_stopped_is_left_alone_briefly_then_a_crash() {
        use crate::harness::Daemon;
        use crate::harness::PATIENCE;
        use pacs_warden::core::warden::SERVICE_STALE_LIMIT;
        let Some(svc) = StandIn::register("svc-hard", &["--crash-hard"], ServiceType::OWN_PROCESS)
        else {
            return;
        };
        let _ = svc.schedule("30s", &svc.ping());
        let mut daemon = Daemon::start(&svc.site.path("openrem.yaml"));
        daemon.expect("restart done");
        let first = svc.status();
        assert_eq!(first.state, State::Running);
        let service_id = identify(first.pid.unwrap()).expect("the service process runs");
        let child = identify(pid_in(&svc.pidfile)).expect("the worker child runs");
        pacs_warden::sys::os::kill_verified(child).unwrap();
        if under_wine() {
            // Natively the SCM may have recorded STOPPED (1067) by the daemon's first look, and
            // then nothing is left alone; Wine never does.
            let (stale, line) = daemon.expect_at("leaving it alone");
            assert!(line.contains("Stale"), "{line}");
            wait_until("the service process to end", PATIENCE, || {
                identify(service_id.pid) != Some(service_id)
            });
            // Wine: RUNNING with the dead process, for good.
            let seen = svc.status();
            assert_eq!(seen.state, State::Running, "{seen:?}");
            assert_eq!(seen.pid, first.pid, "{seen:?}");
            let (crash, _) = daemon.expect_within(
                "the worker exited unexpectedly (crash)",
                SERVICE_STALE_LIMIT + PATIENCE,
            );
            assert!(crash > stale);
        } else {
            daemon.expect_within(
                "the worker exited unexpectedly (crash)",
                SERVICE_STALE_LIMIT + PATIENCE,
            );
        }
        daemon.expect("restart done");
        let now = svc.status();
        assert_eq!(now.state, State::Running, "{}", daemon.log());
        assert_ne!(now.pid, first.pid, "{}", daemon.log());
        assert!(identify(now.pid.unwrap()).is_some());
    }

    /// An admin stops the service worker (`sc stop`, the Services console): STOPPED with exit
    /// code 0. The daemon warns (and alerts, `worker_stopped`) and does not start it again:
    /// it does not fight the admin. Nor does the next daemon's boot restart (no reboot since).
    #[test]
    fn the_daemon_does_not_start_a_service_an_admin_stopped() {
        use crate::harness::Daemon;
        let Some(svc) = StandIn::register("svc-admin", &[], ServiceType::OWN_PROCESS) else {
            return;
        };
        let _ = svc.schedule("30s", &svc.ping());
        let mut daemon = Daemon::start(&svc.site.path("openrem.yaml"));
        daemon.expect("restart done");
        assert_eq!(svc.status().state, State::Running);
        svc.service().stop().unwrap();
        let line = daemon.expect("service was stopped");
        assert!(line.contains("WARN"), "{line}");
        // Supervision's backoff is 1 s: 10 s is ample for a restart that should not come.
        std::thread::sleep(Duration::from_secs(10));
        assert_eq!(svc.status().state, State::Stopped, "{}", daemon.log());
        let log = daemon.log();
        let after = &log[log.find("service was stopped").unwrap()..];
        assert!(
            !after.contains("starting the service through the Service Control Manager")
                && !after.contains("the worker exited unexpectedly (crash)"),
            "{log}"
        );
        // A daemon restart (an upgrade, its own crash recovery) does not undo the stop.
        drop(daemon);
        let mut daemon = Daemon::start(&svc.site.path("openrem.yaml"));
        daemon.expect("was stopped on purpose at");
        daemon.expect("next restarts");
        let log = daemon.log();
        assert!(!restarted(&log), "{log}");
        assert_eq!(svc.status().state, State::Stopped, "{log}");
    }

    /// An admin's Restart-Service (or `pacs-warden restart` by hand) stops the service and
    /// starts it again a moment later: the daemon sees STOPPED with exit code 0 in between,
    /// but waits a few seconds before calling that a stop on purpose, so it adopts the new
    /// process instead (no `worker_stopped`).
    #[test]
    fn a_service_stopped_and_started_again_at_once_is_adopted_not_taken_for_stopped() {
        use crate::harness::Daemon;
        let Some(svc) = StandIn::register("svc-bounce", &[], ServiceType::OWN_PROCESS) else {
            return;
        };
        let _ = svc.schedule("30s", &svc.ping());
        let mut daemon = Daemon::start(&svc.site.path("openrem.yaml"));
        daemon.expect("restart done");
        let first = svc.status();
        svc.service().stop().unwrap();
        wait_until("STOPPED", Duration::from_secs(30), || {
            svc.status().state == State::Stopped
        });
        let _ = std::fs::remove_file(&svc.pidfile);
        let (again, _) = svc.start();
        assert_ne!(Some(again), first.pid);
        daemon.expect("Windows started the service again");
        let log = daemon.log();
        assert!(
            !log.contains("service was stopped")
                && !log.contains("the worker exited unexpectedly (crash)"),
            "{log}"
        );
        assert_eq!(svc.status().pid, Some(again), "{log}");
    }

    /// Windows started the service worker again while the daemon watched it (here: the
    /// service process ended without STOPPED and the test starts the service again in the
    /// daemon's stale window, as an admin or its recovery would): the new process is watched
    /// and recorded, so the next daemon adopts it as the one pacs-warden knows, without a boot
    /// restart that would stop a running retrieve.
    /// Under Wine only: it needs Wine's stale RUNNING to start the service in place of the
    /// daemon. Natively the recovery test below checks the same adoption by a next daemon.
    #[test]
    fn a_service_process_windows_started_again_is_recorded_for_the_next_daemon() {
        use crate::harness::Daemon;
        if !under_wine() {
            eprintln!("skipped natively: the SCM notices the exit at once (see the recovery test)");
            return;
        }
        let Some(svc) =
            StandIn::register("svc-record", &["--crash-hard"], ServiceType::OWN_PROCESS)
        else {
            return;
        };
        let _ = svc.schedule("30s", &svc.ping());
        let config = svc.site.path("openrem.yaml");
        let mut daemon = Daemon::start(&config);
        daemon.expect("restart done");
        let first = svc.status();
        let child = identify(pid_in(&svc.pidfile)).expect("the worker child runs");
        pacs_warden::sys::os::kill_verified(child).unwrap();
        daemon.expect("leaving it alone");
        svc.service().start().unwrap();
        daemon.expect("Windows started the service again");
        let now = svc.status();
        assert_eq!(now.state, State::Running);
        assert_ne!(now.pid, first.pid);
        drop(daemon);
        let mut daemon = Daemon::start(&config);
        daemon.expect("adopting it (no boot restart)");
        daemon.expect("next restarts");
        let log = daemon.log();
        // Adopted as the recorded process, not found through the SCM.
        assert!(
            !log.contains("runs under another process than the one recorded") && !restarted(&log),
            "{log}"
        );
        assert_eq!(svc.status().pid, now.pid, "{log}");
    }

    /// The service was restarted (an admin, its recovery) while no daemon ran; the machine did
    /// not reboot: the next daemon adopts the service's process instead of restarting it.
    #[test]
    fn a_service_restarted_while_no_daemon_ran_is_adopted_at_the_daemons_start() {
        use crate::harness::Daemon;
        let Some(svc) = StandIn::register("svc-adopt", &[], ServiceType::OWN_PROCESS) else {
            return;
        };
        let _ = svc.schedule("30s", &svc.ping());
        let config = svc.site.path("openrem.yaml");
        let mut daemon = Daemon::start(&config);
        daemon.expect("restart done");
        drop(daemon);
        let first = svc.status();
        svc.service().stop().unwrap();
        wait_until("STOPPED", Duration::from_secs(30), || {
            svc.status().state == State::Stopped
        });
        let (again, _) = svc.start();
        assert_ne!(Some(again), first.pid);
        let mut daemon = Daemon::start(&config);
        daemon.expect("runs under another process than the one recorded");
        daemon.expect("adopting it (no boot restart)");
        daemon.expect("next restarts");
        let log = daemon.log();
        assert!(!restarted(&log), "{log}");
        assert_eq!(svc.status().pid, Some(again), "{log}");
    }
}
