//! A real Celery worker on a real redis, for the Celery tests (`tests/it/e2e_celery*.rs`,
//! included as `crate::celery`) and `benches/restart_celery.rs` (each includes this file with
//! `#[path = …]`).
//!
//! `World::new` starts a private redis-server on a free loopback port and writes a schedule file
//! (in a temp dir whose name has a space) whose one worker, `default`, is the Celery worker of
//! `tests/celery/e2e_app.py`, configured like `schedules/openrem-linux.yaml`. Dropping the
//! `World` kills the worker's processes and then redis, also when a test panics.
//!
//! Needs `target/e2e-venv/bin/celery` and `redis-server` on PATH; `scripts/test` installs both.

#![allow(dead_code)]

use pacs_warden::sys::os::kill_verified;
use pacs_warden::sys::process::{ProcessInfo, Snapshot};
use std::fs::File;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

const MANIFEST: &str = env!("CARGO_MANIFEST_DIR");

/// The programs the Celery tests run.
#[derive(Debug, Clone)]
pub struct Tools {
    /// `target/e2e-venv/bin/celery`.
    pub celery: PathBuf,
    /// The venv's python (sends tasks).
    pub python: PathBuf,
    pub redis_server: PathBuf,
    /// `tests/celery`: the worker's workdir, where `-A e2e_app` imports from.
    pub app_dir: PathBuf,
}

/// Finds the tools, or panics saying how to install them: a missing tool fails the test, it
/// never skips it.
pub fn tools() -> Tools {
    let root = Path::new(MANIFEST);
    let venv = root.join("target/e2e-venv/bin");
    let celery = venv.join("celery");
    let python = venv.join("python");
    let redis_server = on_path("redis-server");
    let mut missing = Vec::new();
    if !celery.is_file() {
        missing.push(format!("{} (a venv with celery[redis])", celery.display()));
    }
    if redis_server.is_none() {
        missing.push("redis-server on PATH (Debian package redis-server)".to_string());
    }
    assert!(
        missing.is_empty(),
        "the Celery end-to-end test needs {}; run `scripts/test` (it installs both, then runs \
         the whole test suite)",
        missing.join(" and ")
    );
    Tools {
        celery,
        python,
        redis_server: redis_server.unwrap(),
        app_dir: root.join("tests/celery"),
    }
}

fn on_path(program: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(program))
        .find(|p| p.metadata().is_ok_and(|m| m.is_file() && executable(&m)))
}

/// Unix: an execute bit is set. (This file is Unix-only in use, but `benches/restart_celery.rs`
/// must still compile for Windows, where every file counts.)
fn executable(m: &std::fs::Metadata) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        m.permissions().mode() & 0o111 != 0
    }
    #[cfg(not(unix))]
    {
        let _ = m;
        true
    }
}

/// A private redis-server on 127.0.0.1, killed when dropped.
pub struct Redis {
    child: Child,
    pub port: u16,
}

impl Redis {
    /// Starts redis-server on a free loopback port in `dir` (it writes nothing there: no RDB,
    /// no AOF) and waits until it answers PING.
    pub fn start(redis_server: &Path, dir: &Path) -> Redis {
        let mut last = String::new();
        // The port is free when asked but could be taken before redis binds it: retry.
        for _ in 0..5 {
            let port = TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .expect("a free loopback port")
                .port();
            let log = dir.join(format!("redis-{port}.log"));
            let out = File::create(&log).unwrap();
            let mut child = Command::new(redis_server)
                .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
                .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
                .current_dir(dir)
                .stdin(Stdio::null())
                .stdout(out.try_clone().unwrap())
                .stderr(out)
                .spawn()
                .unwrap_or_else(|e| panic!("cannot run {}: {e}", redis_server.display()));
            let t0 = Instant::now();
            while t0.elapsed() < Duration::from_secs(10) {
                if let Some(status) = child.try_wait().unwrap() {
                    last = format!(
                        "redis-server exited with {status}: {}",
                        std::fs::read_to_string(&log).unwrap_or_default()
                    );
                    break;
                }
                if redis_ping(port) {
                    return Redis { child, port };
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
            if last.is_empty() {
                last = "redis-server did not answer PING within 10 s".into();
            }
        }
        panic!("cannot start redis-server: {last}");
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }
}

fn redis_ping(port: u16) -> bool {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(1)));
    let mut buf = [0u8; 7];
    s.write_all(b"PING\r\n").is_ok() && s.read_exact(&mut buf).is_ok() && &buf == b"+PONG\r\n"
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What a command printed and how it ended.
#[derive(Debug)]
pub struct Ran {
    /// `None` if it was killed at the time limit.
    pub status: Option<ExitStatus>,
    pub stdout: String,
    pub stderr: String,
    pub took: Duration,
}

impl Ran {
    pub fn ok(&self) -> bool {
        self.status.is_some_and(|s| s.success())
    }
}

impl std::fmt::Display for Ran {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.status {
            Some(s) => write!(f, "{s} after {:.2} s", self.took.as_secs_f64())?,
            None => write!(
                f,
                "killed at the time limit ({:.2} s)",
                self.took.as_secs_f64()
            )?,
        }
        write!(
            f,
            "\nstdout: {}\nstderr: {}",
            self.stdout.trim(),
            self.stderr.trim()
        )
    }
}

/// The Celery world of one test: redis, the schedule file, the worker's node name.
pub struct World {
    pub tools: Tools,
    /// `default@e2e.<pid>.<n>.host`: unique per world (its `-n` is the worker's `match`).
    pub node: String,
    pub schedule_path: PathBuf,
    // Dropped in this order, after `Drop::drop` killed the worker: redis, then the directory.
    pub redis: Redis,
    pub dir: tempfile::TempDir,
}

impl World {
    /// Starts redis and writes the schedule (stop grace `grace`, e.g. "20s").
    pub fn new(grace: &str) -> World {
        let tools = tools();
        let dir = tempfile::Builder::new()
            .prefix("e2e celery ")
            .tempdir()
            .unwrap();
        let redis = Redis::start(&tools.redis_server, dir.path());
        // Unique per world: the tests run as threads of one process, and `tagged` and
        // `kill_worker` go by the node name. (No node name is part of another's: `.N.host`.)
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(1);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let node = format!("default@e2e.{}.{n}.host", std::process::id());
        let schedule_path = dir.path().join("schedule.yaml");
        let world = World {
            tools,
            node,
            schedule_path,
            redis,
            dir,
        };
        std::fs::write(&world.schedule_path, world.schedule_yaml(grace)).unwrap();
        world
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn pidfile(&self) -> PathBuf {
        self.path("default.pid")
    }

    /// The worker's environment (also given to every command the test runs itself).
    pub fn env(&self) -> Vec<(String, String)> {
        vec![
            ("E2E_BROKER_URL".into(), self.redis.url()),
            // Keep tests/celery free of __pycache__.
            ("PYTHONDONTWRITEBYTECODE".into(), "1".into()),
        ]
    }

    /// The worker's start command, as in the seed (`-P solo -Ofair -c 1 -Q default`).
    pub fn start_command(&self) -> Vec<String> {
        let celery = self.tools.celery.to_string_lossy().into_owned();
        let mut cmd: Vec<String> = vec![celery, "-A".into(), "e2e_app".into(), "worker".into()];
        cmd.extend(
            [
                "-n", &self.node, "-P", "solo", "-Ofair", "-c", "1", "-Q", "default",
            ]
            .map(String::from),
        );
        cmd.push(format!("--pidfile={}", self.pidfile().display()));
        cmd.push(format!("--logfile={}", self.path("default.log").display()));
        cmd.extend(["--without-mingle", "--without-gossip"].map(String::from));
        cmd
    }

    /// The seed's stop command, addressed to this worker's node: blocks `--timeout` seconds
    /// and exits 69 even when it worked.
    pub fn stop_command(&self) -> Vec<String> {
        let celery = self.tools.celery.to_string_lossy().into_owned();
        let mut cmd = vec![celery];
        cmd.extend(
            [
                "-A",
                "e2e_app",
                "control",
                "shutdown",
                "--timeout=10",
                "-d",
                &self.node,
            ]
            .map(String::from),
        );
        cmd
    }

    pub fn ready_command(&self) -> Vec<String> {
        let celery = self.tools.celery.to_string_lossy().into_owned();
        let mut cmd = vec![celery];
        cmd.extend(["-A", "e2e_app", "inspect", "ping", "-d", &self.node].map(String::from));
        cmd
    }

    fn schedule_yaml(&self, grace: &str) -> String {
        let q = |s: &str| format!("'{}'", s.replace('\'', "''"));
        let list = |cmd: Vec<String>| {
            let items: Vec<String> = cmd.iter().map(|a| q(a)).collect();
            format!("[{}]", items.join(", "))
        };
        let env: Vec<String> = self
            .env()
            .iter()
            .map(|(k, v)| format!("{k}: {}", q(v)))
            .collect();
        format!(
            "# Written by tests/celery/support.rs: the seed's Celery worker, as in
# schedules/openrem-linux.yaml, on a private redis.
timezone: UTC
queries:
  - name: q
    at: [\"06:00\"]
workers:
  - name: default
    workdir: {workdir}
    env: {{{env}}}
    match: {{image: celery, args_contain: {matcher}}}
    pidfile: default.pid
    stop:
      command: {stop}
      grace: {grace}
    start:
      command: {start}
      log: default.stdout.log
    ready:
      command: {ready}
      timeout: 60s
",
            workdir = q(&self.tools.app_dir.to_string_lossy()),
            env = env.join(", "),
            matcher = q(&format!("-n {}", self.node)),
            stop = list(self.stop_command()),
            start = list(self.start_command()),
            ready = list(self.ready_command()),
        )
    }

    /// `schedules/openrem-linux.yaml` as shipped, made to run here: its paths (the venv's
    /// celery, the workdir, the pid and log files) point into this world, `-A openremproject`
    /// becomes `-A e2e_app`, its `env:` becomes this world's environment (the broker URL), and
    /// its node name `default@openrem` becomes this world's node (unique per world).
    /// Everything else — the worker's arguments, its `stop`, `ready`, `match`, the grace and
    /// timeouts — is the shipped text. Panics if a path or setting to substitute is missing.
    pub fn shipped_linux_schedule(&self) -> String {
        let path = Path::new(MANIFEST).join("schedules/openrem-linux.yaml");
        let mut text = std::fs::read_to_string(&path).unwrap();
        let venv_bin = self
            .tools
            .celery
            .parent()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let dir = self.dir.path().to_string_lossy().into_owned();
        let env: Vec<String> = self
            .env()
            .iter()
            .map(|(k, v)| format!("{k}: '{v}'"))
            .collect();
        let env = format!("env: {{{}}}", env.join(", "));
        let app_dir = self.tools.app_dir.to_string_lossy().into_owned();
        for (from, to) in [
            ("/var/dose/veopenrem/bin", venv_bin.as_str()),
            ("/var/dose/openrem\n", &format!("'{app_dir}'\n")),
            ("/var/dose/celery", &dir),
            ("/var/dose/log", &dir),
            ("-A, openremproject,", "-A, e2e_app,"),
            (
                "env: {DJANGO_SETTINGS_MODULE: openremproject.settings}",
                &env,
            ),
        ] {
            assert!(
                text.contains(from),
                "{} no longer contains `{from}`: update the substitutions here",
                path.display()
            );
            text = text.replace(from, to);
        }
        // Not asserted, so that an example with a wrong node name runs (and fails for the
        // right reason) instead of failing here: the node name, and the state directory
        // systemd makes (this world's instead).
        text.replace("default@openrem", &self.node)
            .replace("state_dir: /var/lib/pacs-warden", "state_dir: state")
    }

    /// Replaces the schedule file's text.
    pub fn write_schedule(&self, text: &str) {
        std::fs::write(&self.schedule_path, text).unwrap();
    }

    /// A command run in the app's directory with the worker's environment.
    pub fn command(&self, args: &[String]) -> Command {
        let mut cmd = Command::new(&args[0]);
        cmd.args(&args[1..])
            .current_dir(&self.tools.app_dir)
            .envs(self.env());
        cmd
    }

    /// `celery -A e2e_app inspect ping -d NODE`, run now.
    pub fn ping(&self) -> Ran {
        run(self.command(&self.ready_command()), Duration::from_secs(20))
    }

    /// Waits until the worker answers ping (or panics after `limit`).
    pub fn wait_ready(&self, limit: Duration) {
        let t0 = Instant::now();
        loop {
            let ran = self.ping();
            if ran.ok() {
                return;
            }
            assert!(
                t0.elapsed() < limit,
                "worker {} did not answer ping within {limit:?}: {ran}",
                self.node
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Sends `add(x, y)` from a fresh client and waits (at most `limit`) for its result.
    pub fn add(&self, x: i64, y: i64, limit: Duration) -> Ran {
        let script = format!(
            "from e2e_app import add; print(add.delay({x}, {y}).get(timeout={}))",
            limit.as_secs()
        );
        let python = self.tools.python.to_string_lossy().into_owned();
        run(
            self.command(&[python, "-c".into(), script]),
            limit + Duration::from_secs(10),
        )
    }

    /// The worker's processes now: the process in its pid file and its descendants.
    pub fn worker_tree(&self) -> Vec<ProcessInfo> {
        let Some(pid) = std::fs::read_to_string(self.pidfile())
            .ok()
            .and_then(|t| t.trim().parse::<u32>().ok())
        else {
            return Vec::new();
        };
        let snap = Snapshot::take();
        match snap.get(pid) {
            Some(p) => snap.tree(&[p.id]),
            None => Vec::new(),
        }
    }

    /// Every live process started with this world's node name (`-n NODE`), whatever its pid
    /// file says.
    pub fn tagged(&self) -> Vec<ProcessInfo> {
        let tag = format!("-n {}", self.node);
        Snapshot::take()
            .processes
            .into_iter()
            .filter(|p| p.cmdline_text().contains(&tag))
            .collect()
    }

    /// Kills every process of this world's worker (with its descendants) and waits for them.
    pub fn kill_worker(&self) {
        let roots: Vec<_> = self.tagged().iter().map(|p| p.id).collect();
        let tree = Snapshot::take().tree(&roots);
        for p in &tree {
            let _ = kill_verified(p.id);
        }
        let t0 = Instant::now();
        while tree
            .iter()
            .any(|p| pacs_warden::sys::process::is_running(p.id))
            && t0.elapsed() < Duration::from_secs(5)
        {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for World {
    fn drop(&mut self) {
        self.kill_worker();
    }
}

/// Runs `cmd` to its end, killed after `limit`; output captured through files (no pipe to fill).
pub fn run(mut cmd: Command, limit: Duration) -> Ran {
    let dir = tempfile::tempdir().unwrap();
    let (out, err) = (dir.path().join("out"), dir.path().join("err"));
    let t0 = Instant::now();
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(File::create(&out).unwrap())
        .stderr(File::create(&err).unwrap())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if t0.elapsed() >= limit {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Ran {
        status,
        stdout: std::fs::read_to_string(out).unwrap_or_default(),
        stderr: std::fs::read_to_string(err).unwrap_or_default(),
        took: t0.elapsed(),
    }
}

/// Medians and extremes of a few timings, in seconds.
pub fn stats(v: &[Duration]) -> (f64, f64, f64) {
    let mut s: Vec<f64> = v.iter().map(Duration::as_secs_f64).collect();
    s.sort_by(f64::total_cmp);
    let median = if s.len() % 2 == 1 {
        s[s.len() / 2]
    } else {
        (s[s.len() / 2 - 1] + s[s.len() / 2]) / 2.0
    };
    (median, s[0], s[s.len() - 1])
}
