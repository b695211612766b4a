//! A harmless stand-in for a Celery worker, for the demo schedule and the tests.
//!
//! `pacs-demo-worker run --pidfile P [--children N] [--ignore-stop] [--ignore-stops N] [--stop-delay D]
//!                       [--ready-after D] [--exit-after D] [--hang-after D] [--grow MB]
//!                       [--name NAME] [--record-stop-events FILE]`
//!   writes its PID to P (refusing, like Celery, when P names a live process), starts N child
//!   processes, and runs until asked to stop. A stop request is the file `P.stop`: the worker
//!   removes it, waits `--stop-delay` (a task finishing), stops its children, removes P and
//!   exits 0. `--ignore-stop` ignores requests (a busy or hung worker); `--exit-after` exits 1
//!   after a while (a crash); `--ready-after` creates `P.ready` once "serving"; `--hang-after`
//!   removes it after a while and never creates it again (a worker that hangs while alive: it
//!   stops answering `ping` but runs, and still honours stop requests); `--grow MB` allocates
//!   and touches MB megabytes more every second (a worker that bloats). Its children
//!   never outlive it, however it ends (killed included): on Linux each child asks the kernel
//!   for SIGKILL when its parent dies (PR_SET_PDEATHSIG); on Windows they are in a job object
//!   that kills them when the worker's handle to it closes (KILL_ON_JOB_CLOSE). So stopping
//!   or killing the worker process is the whole clean-up. With `--record-stop-events FILE`,
//!   Ctrl-C and Ctrl-Break in its console (Windows) or SIGINT (Unix) are stop requests too, as
//!   for Huey: the worker appends `CTRL_C`, `CTRL_BREAK` or `INT` and a newline to FILE, then
//!   stops as above (exit 0).
//! `pacs-demo-worker stop --pidfile P [--block D] [--exit-code N]`
//!   asks the worker to stop, then (like `celery control shutdown`) may block and fail anyway.
//! `pacs-demo-worker ping --pidfile P`
//!   exits 0 when the worker named in P runs and is ready, 69 otherwise (like `celery inspect
//!   ping`).
//!
//! `pacs-demo-worker active --pidfile P`
//!   like `celery inspect active --json` for a solo worker: prints `{"demo@host": []}` when the
//!   worker runs and is idle; no answer (exit 69) while the file `P.busy` exists (busy) or when
//!   it does not run.
//! `pacs-demo-worker sleep D [--say TEXT] [--exit-code N]`
//!   prints TEXT, sleeps D and exits N (a stand-in PACS query command).
//! `pacs-demo-worker record --out FILE [--env NAME]... [-- ARG...]`
//!   appends `arg=ARG` for each ARG after `--`, `NAME=value` for each `--env NAME`, its
//!   `PACS_WARDEN_*` environment variables and its stdin to FILE (an alert or query command
//!   for tests).
//!
//! `pacs-demo-worker service --name NAME --pidfile P [--start-pending D] [--stop-pending D]
//!                           [--ignore-stop-for D] [--linger D] [--share-process] [--crash-hard]`
//!                           (Windows only)
//!   a stand-in for a WinSW service (the command a test registers with the Service Control
//!   Manager): runs under the service dispatcher as the service NAME and starts
//!   `pacs-demo-worker run --pidfile P` as its child, as WinSW starts python. It stays
//!   START_PENDING for `--start-pending` first. On the SCM's Stop it reports STOP_PENDING, waits
//!   `--stop-pending`, ignores the stop for `--ignore-stop-for` (a worker that does not stop),
//!   then asks the child to stop as `stop` does; it reports STOPPED (exit 0) once the child is
//!   gone, however it went — `--linger` later (a WinSW hung in its own stop). A child that exits by itself is a failure: STOPPED with exit code
//!   1067, as a crashed WinSW reports; with `--crash-hard` the service process then exits at
//!   once (code 1) without reporting STOPPED, as WinSW does (`Environment.Exit`), so that only
//!   the SCM noticing the process's end can tell. `--share-process` reports the service type
//!   SHARE_PROCESS (register it so too).
//!
//! Launcher pair (Celery on Windows): a copy of this program named `celery` (`celery.exe`)
//! behaves like pip's `celery.exe` launcher: it runs the `python` (`python.exe`) beside it as
//! `python <its own path> ARGS...`, waits for it and exits with its exit code. A copy named
//! `python` skips a first argument naming an existing file (the script a launcher passes) and
//! goes on with the rest. So `Scripts\celery.exe run ...` is a tree of two processes, launcher
//! and "interpreter", as the real worker is.
//!
//! Only the standard library and pacs-warden's own process helpers: it runs wherever
//! pacs-warden runs, Windows included.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

const POLL: Duration = Duration::from_millis(20);

struct Args {
    rest: Vec<String>,
}

impl Args {
    fn flag(&mut self, name: &str) -> bool {
        match self.rest.iter().position(|a| a == name) {
            Some(i) => {
                self.rest.remove(i);
                true
            }
            None => false,
        }
    }

    fn value(&mut self, name: &str) -> Option<String> {
        let i = self.rest.iter().position(|a| a == name)?;
        self.rest.remove(i);
        (i < self.rest.len()).then(|| self.rest.remove(i))
    }

    /// Refuses arguments nobody asked for, before anything is done.
    fn finish(&self) {
        if !self.rest.is_empty() {
            die(&format!("unknown arguments {:?}", self.rest));
        }
    }

    fn duration(&mut self, name: &str) -> Option<Duration> {
        self.value(name).map(|v| {
            humantime::parse_duration(&v).unwrap_or_else(|e| die(&format!("{name} {v}: {e}")))
        })
    }
}

fn die(msg: &str) -> ! {
    eprintln!("pacs-demo-worker: {msg}");
    std::process::exit(2)
}

fn sidecar(pidfile: &Path, suffix: &str) -> PathBuf {
    let mut s = pidfile.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// This program's file name without `.exe`, lowercased.
fn own_stem() -> String {
    std::env::current_exe()
        .ok()
        .and_then(|p| p.file_stem().map(|s| s.to_string_lossy().to_lowercase()))
        .unwrap_or_default()
}

/// As `celery.exe`: run the `python` beside this file with this file's path first, like pip's
/// launcher, and exit with its exit code.
fn launch(args: Vec<String>) -> ExitCode {
    let me = std::env::current_exe().unwrap_or_else(|e| die(&e.to_string()));
    let python = me.with_file_name(format!("python{}", std::env::consts::EXE_SUFFIX));
    let status = Command::new(&python)
        .arg(&me)
        .args(args)
        .status()
        .unwrap_or_else(|e| die(&format!("cannot run {}: {e}", python.display())));
    ExitCode::from(status.code().unwrap_or(1).clamp(0, 255) as u8)
}

fn main() -> ExitCode {
    let mut all: Vec<String> = std::env::args().skip(1).collect();
    match own_stem().as_str() {
        "celery" => return launch(all),
        "python" if all.first().is_some_and(|a| Path::new(a).is_file()) => {
            all.remove(0);
        }
        _ => {}
    }
    if all.is_empty() {
        die("usage: pacs-demo-worker run|stop|ping|child --pidfile FILE [options]");
    }
    let command = all.remove(0);
    let mut args = Args { rest: all };
    match command.as_str() {
        "run" => run(&mut args),
        "stop" => stop(&mut args),
        "ping" => ping(&mut args),
        "child" => child(&mut args),
        "record" => record(&mut args),
        "active" => active(&mut args),
        "sleep" => sleep(&mut args),
        #[cfg(windows)]
        "service" => stand_in::service(&mut args),
        other => die(&format!("unknown command {other}")),
    }
}

fn pidfile(args: &mut Args) -> PathBuf {
    args.value("--pidfile")
        .map(PathBuf::from)
        .unwrap_or_else(|| die("--pidfile FILE is required"))
}

fn read_pid(path: &Path) -> Option<u32> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

fn run(args: &mut Args) -> ExitCode {
    let pidfile = pidfile(args);
    let children: usize = args
        .value("--children")
        .map(|n| n.parse().unwrap_or_else(|_| die("--children N")))
        .unwrap_or(0);
    let ignore_stop = args.flag("--ignore-stop");
    let mut ignore_stops: u32 = args
        .value("--ignore-stops")
        .map(|n| n.parse().unwrap_or_else(|_| die("--ignore-stops N")))
        .unwrap_or(0);
    let stop_delay = args.duration("--stop-delay").unwrap_or_default();
    let ready_after = args.duration("--ready-after").unwrap_or_default();
    let exit_after = args.duration("--exit-after");
    let hang_after = args.duration("--hang-after");
    let grow: usize = args
        .value("--grow")
        .map(|n| n.parse().unwrap_or_else(|_| die("--grow MB")))
        .unwrap_or(0);
    let name = args.value("--name").unwrap_or_else(|| "demo".into());
    let record = args.value("--record-stop-events").map(PathBuf::from);
    args.finish();
    if record.is_some() {
        take_stop_events();
    }

    if let Some(pid) = read_pid(&pidfile) {
        if pacs_warden::sys::process::identify(pid).is_some() {
            eprintln!(
                "pacs-demo-worker {name}: Pidfile ({}) already exists. Seems we're already running? (pid: {pid})",
                pidfile.display()
            );
            return ExitCode::from(73);
        }
        eprintln!("pacs-demo-worker {name}: stale pidfile exists - removing it");
    }
    let me = std::process::id();
    // Write then rename, so a reader never sees a half-written pid file.
    let tmp = sidecar(&pidfile, ".tmp");
    if let Err(e) =
        std::fs::write(&tmp, format!("{me}\n")).and_then(|()| std::fs::rename(&tmp, &pidfile))
    {
        die(&format!("cannot write {}: {e}", pidfile.display()));
    }
    let exe = std::env::current_exe().unwrap_or_else(|e| die(&e.to_string()));
    let reaper = ChildReaper::new();
    let mut kids: Vec<Child> = (0..children)
        .map(|i| {
            let mut cmd = Command::new(&exe);
            cmd.args(["child", "--name", &format!("{name}-child-{i}")]);
            reaper.prepare(&mut cmd);
            let kid = cmd
                .spawn()
                .unwrap_or_else(|e| die(&format!("cannot start a child: {e}")));
            reaper.adopt(&kid);
            kid
        })
        .collect();
    println!(
        "pacs-demo-worker {name}: pid {me} serving with {} children",
        kids.len()
    );

    let stop_file = sidecar(&pidfile, ".stop");
    let ready_file = sidecar(&pidfile, ".ready");
    let started = Instant::now();
    let mut ready = false;
    let mut hung = false;
    let mut hoard: Vec<Vec<u8>> = Vec::new();
    loop {
        std::thread::sleep(POLL);
        if !ready && started.elapsed() >= ready_after {
            let _ = std::fs::write(&ready_file, b"ready\n");
            ready = true;
        }
        if !hung && hang_after.is_some_and(|d| started.elapsed() >= d) {
            let _ = std::fs::remove_file(&ready_file);
            println!("pacs-demo-worker {name}: hanging as asked (alive, not answering ping)");
            hung = true;
        }
        if grow > 0 && hoard.len() < started.elapsed().as_secs() as usize {
            // Touched (non-zero) pages count as resident memory.
            hoard.push(vec![1u8; grow << 20]);
        }
        if exit_after.is_some_and(|d| started.elapsed() >= d) {
            println!("pacs-demo-worker {name}: crashing as asked");
            return ExitCode::from(1);
        }
        let event = match STOP_EVENT.swap(0, Ordering::SeqCst) {
            0 => None,
            1 => Some("CTRL_C"),
            2 => Some("CTRL_BREAK"),
            _ => Some("INT"),
        };
        if let (Some(event), Some(record)) = (event, &record) {
            use std::io::Write as _;
            println!("pacs-demo-worker {name}: {event} received");
            let appended = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(record)
                .and_then(|mut f| writeln!(f, "{event}"));
            if let Err(e) = appended {
                eprintln!("pacs-demo-worker {name}: cannot record {event}: {e}");
            }
        }
        if event.is_some() || stop_file.exists() {
            if ignore_stop {
                continue;
            }
            if ignore_stops > 0 {
                // A busy worker that misses this request (it is consumed, as an expired
                // control message would be).
                ignore_stops -= 1;
                let _ = std::fs::remove_file(&stop_file);
                println!("pacs-demo-worker {name}: busy; stop request missed");
                continue;
            }
            let _ = std::fs::remove_file(&stop_file);
            println!("pacs-demo-worker {name}: stop requested; finishing in {stop_delay:?}");
            std::thread::sleep(stop_delay);
            for kid in &mut kids {
                let _ = kid.kill();
                let _ = kid.wait();
            }
            let _ = std::fs::remove_file(&ready_file);
            let _ = std::fs::remove_file(&pidfile);
            println!("pacs-demo-worker {name}: stopped");
            return ExitCode::SUCCESS;
        }
    }
}

/// The stop event received and not yet handled: 0 none, 1 Ctrl-C, 2 Ctrl-Break, 3 SIGINT.
static STOP_EVENT: AtomicU32 = AtomicU32::new(0);

/// Makes Ctrl-C and Ctrl-Break (Windows) or SIGINT (Unix) set `STOP_EVENT` instead of ending
/// the worker. Like Python, it leaves the inherited "ignore Ctrl-C" attribute (Windows) as it
/// is: a worker started with Ctrl-C disabled records no Ctrl-C, as Huey would not stop.
fn take_stop_events() {
    #[cfg(windows)]
    {
        use windows_sys::Win32::System::Console::{
            SetConsoleCtrlHandler, CTRL_BREAK_EVENT, CTRL_C_EVENT,
        };
        unsafe extern "system" fn handler(event: u32) -> windows_sys::core::BOOL {
            let code = match event {
                CTRL_C_EVENT => 1,
                CTRL_BREAK_EVENT => 2,
                _ => return 0,
            };
            STOP_EVENT.store(code, Ordering::SeqCst);
            1
        }
        // SAFETY: registers a handler that only stores into an atomic.
        if unsafe { SetConsoleCtrlHandler(Some(handler), 1) } == 0 {
            die(&format!(
                "cannot handle console events: {}",
                std::io::Error::last_os_error()
            ));
        }
    }
    #[cfg(unix)]
    {
        extern "C" fn handler(_: libc::c_int) {
            STOP_EVENT.store(3, Ordering::SeqCst);
        }
        // SAFETY: the handler only stores into an atomic (async-signal-safe).
        unsafe {
            libc::signal(
                libc::SIGINT,
                handler as extern "C" fn(libc::c_int) as libc::sighandler_t,
            )
        };
    }
}

/// Makes the worker's children die with it, however it ends.
/// Linux: each child gets PR_SET_PDEATHSIG = SIGKILL before it runs (and exits at once if the
/// worker is already gone). Windows: the children are put in a job object whose only handle
/// the worker holds, with KILL_ON_JOB_CLOSE: when the worker ends, the handle closes and the
/// job's processes are killed. Elsewhere: nothing.
struct ChildReaper {
    #[cfg(windows)]
    job: windows_sys::Win32::Foundation::HANDLE,
}

#[cfg(not(windows))]
impl ChildReaper {
    fn new() -> ChildReaper {
        ChildReaper {}
    }

    fn prepare(&self, cmd: &mut Command) {
        #[cfg(target_os = "linux")]
        {
            use std::os::unix::process::CommandExt;
            let parent = std::process::id() as libc::pid_t;
            // SAFETY: between fork and exec only async-signal-safe calls: prctl, getppid.
            unsafe {
                cmd.pre_exec(move || {
                    if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    // The worker died before the request was in place: do not run on.
                    if libc::getppid() != parent {
                        return Err(std::io::Error::other("the worker is gone"));
                    }
                    Ok(())
                });
            }
        }
        #[cfg(not(target_os = "linux"))]
        let _ = cmd;
    }

    fn adopt(&self, _child: &Child) {}
}

#[cfg(windows)]
impl ChildReaper {
    fn new() -> ChildReaper {
        use windows_sys::Win32::System::JobObjects::{
            CreateJobObjectW, JobObjectExtendedLimitInformation, SetInformationJobObject,
            JOBOBJECT_EXTENDED_LIMIT_INFORMATION, JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE,
        };
        // SAFETY: plain Win32 calls with a zeroed, correctly sized structure; the handle is
        // not inheritable and stays open (never closed) until the worker ends.
        let job = unsafe {
            let job = CreateJobObjectW(std::ptr::null(), std::ptr::null());
            if !job.is_null() {
                let mut info: JOBOBJECT_EXTENDED_LIMIT_INFORMATION = std::mem::zeroed();
                info.BasicLimitInformation.LimitFlags = JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE;
                SetInformationJobObject(
                    job,
                    JobObjectExtendedLimitInformation,
                    (&info as *const JOBOBJECT_EXTENDED_LIMIT_INFORMATION).cast(),
                    std::mem::size_of::<JOBOBJECT_EXTENDED_LIMIT_INFORMATION>() as u32,
                );
            }
            job
        };
        if job.is_null() {
            eprintln!(
                "pacs-demo-worker: no job object ({}): children may outlive the worker",
                std::io::Error::last_os_error()
            );
        }
        ChildReaper { job }
    }

    fn prepare(&self, _cmd: &mut Command) {}

    fn adopt(&self, child: &Child) {
        use std::os::windows::io::AsRawHandle;
        use windows_sys::Win32::System::JobObjects::AssignProcessToJobObject;
        if self.job.is_null() {
            return;
        }
        // SAFETY: both handles are valid: the job's (open for the worker's lifetime) and the
        // child's (owned by `child`).
        let ok = unsafe { AssignProcessToJobObject(self.job, child.as_raw_handle() as _) };
        if ok == 0 {
            eprintln!(
                "pacs-demo-worker: child {} not in the job ({}): it may outlive the worker",
                child.id(),
                std::io::Error::last_os_error()
            );
        }
    }
}

fn child(args: &mut Args) -> ExitCode {
    let _ = args.value("--name");
    args.finish();
    // Runs until killed: by the worker when it stops, or with it (`ChildReaper`).
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}

fn stop(args: &mut Args) -> ExitCode {
    let pidfile = pidfile(args);
    let block = args.duration("--block").unwrap_or_default();
    let code: u8 = args
        .value("--exit-code")
        .map(|c| c.parse().unwrap_or_else(|_| die("--exit-code N")))
        .unwrap_or(0);
    args.finish();
    if let Err(e) = std::fs::write(sidecar(&pidfile, ".stop"), b"stop\n") {
        die(&format!("cannot ask the worker to stop: {e}"));
    }
    std::thread::sleep(block);
    if code != 0 {
        eprintln!("Error: No nodes replied within time constraint");
    }
    ExitCode::from(code)
}

fn ping(args: &mut Args) -> ExitCode {
    let pidfile = pidfile(args);
    args.finish();
    let alive =
        read_pid(&pidfile).is_some_and(|pid| pacs_warden::sys::process::identify(pid).is_some());
    if alive && sidecar(&pidfile, ".ready").exists() {
        println!("pong");
        ExitCode::SUCCESS
    } else {
        eprintln!("Error: No nodes replied within time constraint");
        ExitCode::from(69)
    }
}

fn record(args: &mut Args) -> ExitCode {
    use std::io::{Read, Write};
    let out = args
        .value("--out")
        .map(PathBuf::from)
        .unwrap_or_else(|| die("--out FILE is required"));
    let argv = match args.rest.iter().position(|a| a == "--") {
        Some(i) => args.rest.split_off(i).split_off(1),
        None => Vec::new(),
    };
    let mut names = Vec::new();
    while let Some(name) = args.value("--env") {
        names.push(name);
    }
    args.finish();
    let mut text = String::new();
    for a in argv {
        text.push_str(&format!("arg={a}\n"));
    }
    for name in names {
        let value = std::env::var(&name).unwrap_or_default();
        text.push_str(&format!("{name}={value}\n"));
    }
    let mut vars: Vec<(String, String)> = std::env::vars()
        .filter(|(k, _)| k.starts_with("PACS_WARDEN_"))
        .collect();
    vars.sort();
    for (k, v) in vars {
        text.push_str(&format!("{k}={v}\n"));
    }
    let mut stdin = String::new();
    let _ = std::io::stdin().read_to_string(&mut stdin);
    text.push_str(&format!("stdin={stdin}\n"));
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&out)
        .unwrap_or_else(|e| die(&format!("{}: {e}", out.display())));
    f.write_all(text.as_bytes())
        .unwrap_or_else(|e| die(&e.to_string()));
    ExitCode::SUCCESS
}

fn active(args: &mut Args) -> ExitCode {
    let pidfile = pidfile(args);
    args.finish();
    let alive =
        read_pid(&pidfile).is_some_and(|pid| pacs_warden::sys::process::identify(pid).is_some());
    if alive && !sidecar(&pidfile, ".busy").exists() {
        println!("{{\"demo@host\": []}}");
        ExitCode::SUCCESS
    } else {
        eprintln!("Error: No nodes replied within time constraint");
        ExitCode::from(69)
    }
}

fn sleep(args: &mut Args) -> ExitCode {
    if args.rest.is_empty() {
        die("usage: pacs-demo-worker sleep DURATION [--say TEXT] [--exit-code N]");
    }
    let d = args.rest.remove(0);
    let d = humantime::parse_duration(&d).unwrap_or_else(|e| die(&format!("{d}: {e}")));
    let say = args.value("--say");
    let code: u8 = args
        .value("--exit-code")
        .map(|c| c.parse().unwrap_or_else(|_| die("--exit-code N")))
        .unwrap_or(0);
    args.finish();
    if let Some(text) = say {
        println!("{text}");
    }
    std::thread::sleep(d);
    ExitCode::from(code)
}

/// `service`: the stand-in for a WinSW service (see the module doc).
#[cfg(windows)]
mod stand_in {
    use super::{die, pidfile, sidecar, Args};
    use std::ffi::OsString;
    use std::path::PathBuf;
    use std::process::ExitCode;
    use std::sync::mpsc;
    use std::sync::{Mutex, OnceLock};
    use std::time::{Duration, Instant};
    use windows_service::service::{
        ServiceControl, ServiceControlAccept, ServiceExitCode, ServiceState, ServiceStatus,
        ServiceType,
    };
    use windows_service::service_control_handler::{self, ServiceControlHandlerResult};

    struct Config {
        name: String,
        pidfile: PathBuf,
        start_pending: Duration,
        stop_pending: Duration,
        ignore_stop_for: Duration,
        linger: Duration,
        shared: bool,
        crash_hard: bool,
    }

    static CONFIG: OnceLock<Config> = OnceLock::new();
    static EXIT: Mutex<u8> = Mutex::new(0);

    windows_service::define_windows_service!(ffi_service_main, service_main);

    pub fn service(args: &mut Args) -> ExitCode {
        let name = args
            .value("--name")
            .unwrap_or_else(|| die("--name NAME is required"));
        let config = Config {
            name: name.clone(),
            pidfile: pidfile(args),
            start_pending: args.duration("--start-pending").unwrap_or_default(),
            stop_pending: args.duration("--stop-pending").unwrap_or_default(),
            ignore_stop_for: args.duration("--ignore-stop-for").unwrap_or_default(),
            linger: args.duration("--linger").unwrap_or_default(),
            shared: args.flag("--share-process"),
            crash_hard: args.flag("--crash-hard"),
        };
        args.finish();
        let _ = CONFIG.set(config);
        if let Err(e) = windows_service::service_dispatcher::start(&name, ffi_service_main) {
            die(&format!("not started by the service manager: {e}"));
        }
        ExitCode::from(*EXIT.lock().unwrap())
    }

    fn service_main(_arguments: Vec<OsString>) {
        let config = CONFIG.get().expect("set before the dispatcher starts");
        let (tx, rx) = mpsc::channel();
        let handler = move |control| match control {
            ServiceControl::Stop => {
                let _ = tx.send(());
                ServiceControlHandlerResult::NoError
            }
            ServiceControl::Interrogate => ServiceControlHandlerResult::NoError,
            _ => ServiceControlHandlerResult::NotImplemented,
        };
        let Ok(handle) = service_control_handler::register(&config.name, handler) else {
            *EXIT.lock().unwrap() = 1;
            return;
        };
        let kind = if config.shared {
            ServiceType::SHARE_PROCESS
        } else {
            ServiceType::OWN_PROCESS
        };
        let set = |state: ServiceState, exit: ServiceExitCode| {
            let controls_accepted = if state == ServiceState::Running {
                ServiceControlAccept::STOP
            } else {
                ServiceControlAccept::empty()
            };
            let _ = handle.set_service_status(ServiceStatus {
                service_type: kind,
                current_state: state,
                controls_accepted,
                exit_code: exit,
                checkpoint: 0,
                wait_hint: Duration::from_secs(30),
                process_id: None,
            });
        };
        set(ServiceState::StartPending, ServiceExitCode::NO_ERROR);
        std::thread::sleep(config.start_pending);
        let me = std::env::current_exe().unwrap_or_else(|e| die(&e.to_string()));
        let mut child = match std::process::Command::new(me)
            .arg("run")
            .arg("--pidfile")
            .arg(&config.pidfile)
            .spawn()
        {
            Ok(child) => child,
            Err(_) => {
                set(ServiceState::Stopped, ServiceExitCode::Win32(1067));
                return;
            }
        };
        set(ServiceState::Running, ServiceExitCode::NO_ERROR);
        // Wait for a stop request or the child's end.
        let stopping = loop {
            if rx.recv_timeout(Duration::from_millis(100)).is_ok() {
                break true;
            }
            if let Ok(Some(_)) = child.try_wait() {
                break false;
            }
        };
        if !stopping {
            if config.crash_hard {
                // As WinSW: no STOPPED, the process just ends.
                std::process::exit(1);
            }
            // Crashed: as a WinSW whose child died reports it.
            set(ServiceState::Stopped, ServiceExitCode::Win32(1067));
            return;
        }
        set(ServiceState::StopPending, ServiceExitCode::NO_ERROR);
        std::thread::sleep(config.stop_pending);
        let ignore_until = Instant::now() + config.ignore_stop_for;
        loop {
            if let Ok(Some(_)) = child.try_wait() {
                break;
            }
            if Instant::now() >= ignore_until {
                let _ = std::fs::write(sidecar(&config.pidfile, ".stop"), b"stop\n");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        std::thread::sleep(config.linger);
        set(ServiceState::Stopped, ServiceExitCode::NO_ERROR);
    }
}
