//! The one harness of the integration tests: the real binaries (`WARDEN`, `WORKER`), a
//! schedule file to run them on (`Warden`, a builder: schedule text, arguments, expected exit
//! status and output), a test's own directory and process tag (`Site`), the daemon with its log
//! (`Daemon`), waiting for a condition with a generous deadline (`wait_until`, `eventually`),
//! and killing a test's processes by verified identity (`kill_tagged`).
//!
//! No test sleeps and then asserts that something did or did not happen by then: it waits for
//! what it can observe (a log line, a file, a process) with a deadline of tens of seconds, and
//! checks that something did *not* happen once a later log line shows that the daemon has
//! passed the point where it would have.

use pacs_warden::sys::os::kill_verified;
use pacs_warden::sys::process::{ProcessInfo, Snapshot};
use std::ffi::OsString;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

pub const WARDEN: &str = env!("CARGO_BIN_EXE_pacs-warden");
pub const WORKER: &str = env!("CARGO_BIN_EXE_pacs-demo-worker");

/// `WORKER` as the OS under test spells it, for schedule files. Cargo bakes in the build
/// host's path: under Wine that is a Unix path (`/work/…`), which pacs-warden (rightly) reads
/// as a path on the drive of the worker's directory (`C:\work\…`); made absolute here it is
/// `Z:\work\…`, Wine's drive for `/`. Elsewhere it is `WORKER` unchanged.
pub fn worker_exe() -> String {
    std::path::absolute(WORKER)
        .unwrap()
        .to_string_lossy()
        .into_owned()
}

/// How long a test waits for what it expects (a log line, a process, a file) before failing:
/// far longer than anything takes on 2 noisy cores, so only a real failure reaches it.
pub const PATIENCE: Duration = Duration::from_secs(40);

/// `s` as a single-quoted YAML scalar.
pub fn q(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// Whether this test process may run the trust tests: pacs-warden judges files only when it
/// runs privileged (root; an administrator or LocalSystem), as `sys::trust::is_privileged`
/// says. Not privileged, the test is skipped with `why` on stderr, except in CI, where the
/// trust tests must run: there it fails.
pub fn privileged_for_trust_tests(why: &str) -> bool {
    if pacs_warden::sys::trust::is_privileged() {
        return true;
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "CI must run the trust tests privileged"
    );
    eprintln!("skipped: {why}");
    false
}

/// Polls `cond` until it holds; fails the test naming `what` after `limit`.
pub fn wait_until(what: &str, limit: Duration, mut cond: impl FnMut() -> bool) {
    let t0 = Instant::now();
    while !cond() {
        assert!(
            t0.elapsed() < limit,
            "timed out after {limit:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `wait_until` with the usual deadline (`PATIENCE`).
pub fn eventually(what: &str, cond: impl FnMut() -> bool) {
    wait_until(what, PATIENCE, cond)
}

/// Waits (`eventually`) for the file at `path` to contain `needle`; returns its text.
pub fn file_with(path: &Path, needle: &str) -> String {
    let mut text = String::new();
    eventually(&format!("{needle:?} in {}", path.display()), || {
        text = std::fs::read_to_string(path).unwrap_or_default();
        text.contains(needle)
    });
    text
}

/// A tag unique to one test in this process: `NAME-PID-Nx`. No tag is a substring of another
/// (the counter ends in `x`), so a test that kills the processes carrying its tag never
/// touches another test's, though all run in one process.
pub fn unique_tag(name: &str) -> String {
    static NEXT: AtomicU32 = AtomicU32::new(1);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("{name}-{}-{n}x", std::process::id())
}

/// Live processes whose command line contains `tag`.
pub fn tagged(tag: &str) -> Vec<ProcessInfo> {
    Snapshot::take()
        .processes
        .into_iter()
        .filter(|p| p.cmdline_text().contains(tag))
        .collect()
}

/// Kills every process whose command line contains `tag` (a test's unique marker), each
/// verified by PID and start time (`kill_verified`).
pub fn kill_tagged(tag: &str) {
    for p in tagged(tag) {
        let _ = kill_verified(p.id);
    }
}

/// A test's own directory (its name has a space in it) and process tag. Every process carrying
/// the tag is killed when the site is dropped, so a failing test leaves nothing behind.
pub struct Site {
    pub dir: tempfile::TempDir,
    pub tag: String,
}

impl Site {
    pub fn new(name: &str) -> Site {
        Site {
            dir: tempfile::Builder::new()
                .prefix(&format!("pacs warden {name} "))
                .tempdir()
                .unwrap(),
            tag: unique_tag(name),
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The schedule file, `schedule.yaml` in the site's directory.
    pub fn config(&self) -> PathBuf {
        self.path("schedule.yaml")
    }

    /// Writes the schedule like an editor: a new file renamed over the old one.
    pub fn write(&self, text: &str) {
        self.write_bytes(text.as_bytes());
    }

    pub fn write_bytes(&self, bytes: &[u8]) {
        let tmp = self.path(".schedule.yaml.swp");
        std::fs::write(&tmp, bytes).unwrap();
        std::fs::rename(&tmp, self.config()).unwrap();
    }

    /// PIDs of the live processes carrying this site's tag.
    pub fn live_pids(&self) -> Vec<u32> {
        tagged(&self.tag).iter().map(|p| p.id.pid).collect()
    }

    /// `pacs-warden` on this site's schedule.
    pub fn warden(&self) -> Warden {
        Warden::at(&self.config())
    }

    /// `pacs-warden run` on this site's schedule.
    pub fn start(&self) -> Daemon {
        Daemon::start(&self.config())
    }

    /// `pacs-warden status`'s output for this site's schedule.
    pub fn status(&self) -> String {
        status(&self.config())
    }
}

impl Drop for Site {
    fn drop(&mut self) {
        kill_tagged(&self.tag);
    }
}

/// The `pacs-warden` binary on a schedule file: `Warden::schedule(text)` writes one into a
/// temporary directory whose name has a space in it, `Warden::at(path)` takes a file the test
/// manages, `Warden::bare()` has none (no `--config`). `run(args)` runs it with `args` then
/// `--config FILE`; `expect(args, code)` also asserts the exit status and returns the output as
/// text, to check with `Ran::out`/`Ran::err`.
pub struct Warden {
    _dir: Option<tempfile::TempDir>,
    pub path: PathBuf,
    config: bool,
    env: Vec<(OsString, OsString)>,
}

impl Warden {
    pub fn schedule(yaml: &str) -> Warden {
        Warden::schedule_bytes(yaml.as_bytes())
    }

    /// A schedule file holding exactly `bytes` (another encoding, a byte-order mark, …).
    pub fn schedule_bytes(bytes: &[u8]) -> Warden {
        let dir = tempfile::Builder::new()
            .prefix("pacs warden ")
            .tempdir()
            .unwrap();
        let path = dir.path().join("my schedule.yaml");
        std::fs::write(&path, bytes).unwrap();
        Warden {
            _dir: Some(dir),
            path,
            config: true,
            env: Vec::new(),
        }
    }

    /// The schedule file at `path` (which the test writes and removes).
    pub fn at(path: &Path) -> Warden {
        Warden {
            _dir: None,
            path: path.to_path_buf(),
            config: true,
            env: Vec::new(),
        }
    }

    /// No schedule file: `--version`, `import`, `service …`.
    pub fn bare() -> Warden {
        Warden {
            _dir: None,
            path: PathBuf::new(),
            config: false,
            env: Vec::new(),
        }
    }

    /// Sets an environment variable of the child (never of this process: the tests share it).
    pub fn env(mut self, key: impl Into<OsString>, value: impl Into<OsString>) -> Warden {
        self.env.push((key.into(), value.into()));
        self
    }

    /// The command `run` runs: `pacs-warden ARGS [--config FILE]`, `TZ` removed.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(WARDEN);
        cmd.args(args);
        if self.config {
            cmd.arg("--config").arg(&self.path);
        }
        cmd.env_remove("TZ");
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        cmd
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.run_with(args, |_| {})
    }

    /// `run`, with `setup` changing the command first (its environment, its user, say).
    pub fn run_with(&self, args: &[&str], setup: impl FnOnce(&mut Command)) -> Output {
        let mut cmd = self.command(args);
        setup(&mut cmd);
        output(&mut cmd)
    }

    /// Runs with `args`, asserts the exit status `code`, and returns what it printed.
    pub fn expect(&self, args: &[&str], code: i32) -> Ran {
        let ran = Ran::from(self.run(args));
        assert_eq!(ran.code, Some(code), "pacs-warden {args:?}:\n{ran}");
        ran
    }

    /// Starts `pacs-warden ARGS --config FILE` with stdout and stderr piped.
    pub fn spawn(&self, args: &[&str]) -> Child {
        self.command(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    }
}

/// `cmd.output()`, started again should Wine fail to start it. Under Wine, starting a process
/// fails now and then with ERROR_INTERNAL_ERROR (1359) while many start at once (seen in about
/// one full Windows run in five). The program never ran, so starting it again is safe.
pub fn output(cmd: &mut Command) -> Output {
    let mut tries = 0;
    loop {
        match cmd.output() {
            Err(e) if e.raw_os_error() == Some(1359) && tries < 3 => tries += 1,
            result => return result.unwrap(),
        }
    }
}

/// What a finished `pacs-warden` printed, as text, and its exit code.
pub struct Ran {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl From<Output> for Ran {
    fn from(o: Output) -> Ran {
        Ran {
            code: o.status.code(),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

impl Ran {
    /// Asserts that stdout contains `needle`.
    pub fn out(&self, needle: &str) -> &Ran {
        assert!(
            self.stdout.contains(needle),
            "no {needle:?} in stdout:\n{self}"
        );
        self
    }

    /// Asserts that stderr contains `needle`.
    pub fn err(&self, needle: &str) -> &Ran {
        assert!(
            self.stderr.contains(needle),
            "no {needle:?} in stderr:\n{self}"
        );
        self
    }
}

impl std::fmt::Display for Ran {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {:?}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A running `pacs-warden run --config FILE` (log level info), killed when dropped.
pub struct Daemon {
    pub child: Child,
    lines: Arc<Mutex<Vec<String>>>,
    /// Lines before this index have been matched already.
    seen: usize,
}

impl Daemon {
    pub fn start(config: &Path) -> Daemon {
        let mut child = Warden::at(config)
            .env("RUST_LOG", "info")
            .command(&["run"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let lines = Arc::new(Mutex::new(Vec::<String>::new()));
        let sink = Arc::clone(&lines);
        let stderr = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                sink.lock().unwrap().push(line);
            }
        });
        Daemon {
            child,
            lines,
            seen: 0,
        }
    }

    /// Waits for the next log line (after those already matched) containing `needle`.
    pub fn expect(&mut self, needle: &str) -> String {
        self.expect_at(needle).1
    }

    /// Like `expect`, with the line's index in the log (to compare the order of events).
    pub fn expect_at(&mut self, needle: &str) -> (usize, String) {
        self.expect_within(needle, PATIENCE)
    }

    /// `expect_at` with a deadline of its own (for waits longer than `PATIENCE`).
    pub fn expect_within(&mut self, needle: &str, limit: Duration) -> (usize, String) {
        let t0 = Instant::now();
        loop {
            {
                let lines = self.lines.lock().unwrap();
                if let Some(i) = lines[self.seen..].iter().position(|l| l.contains(needle)) {
                    self.seen += i + 1;
                    return (self.seen - 1, lines[self.seen - 1].clone());
                }
            }
            assert!(
                t0.elapsed() < limit,
                "no log line with {needle:?} within {limit:?}; log:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The whole log so far.
    pub fn log(&self) -> String {
        self.lines.lock().unwrap().join("\n")
    }

    /// Sends SIGTERM and waits for the daemon to exit.
    #[cfg(unix)]
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let mut exit = None;
        eventually("the daemon to stop on SIGTERM", || {
            exit = self.child.try_wait().unwrap();
            exit.is_some()
        });
        exit.unwrap()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Reads `child`'s stderr (piped) on a thread of its own: the receiver gets a message once a
/// line contains `needle`; the thread returns the whole of stderr when the child closes it.
pub fn watch_stderr(
    child: &mut Child,
    needle: &str,
) -> (mpsc::Receiver<()>, std::thread::JoinHandle<String>) {
    let stderr = child.stderr.take().expect("stderr piped");
    let needle = needle.to_string();
    let (tx, rx) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if line.contains(&needle) {
                let _ = tx.send(());
            }
            text.push_str(&line);
            text.push('\n');
        }
        text
    });
    (rx, reader)
}

/// `pacs-warden status --config FILE`'s output.
pub fn status(config: &Path) -> String {
    stdout(&Warden::at(config).run(&["status"]))
}

/// The isolation the tests' process kills rest on: no test's tag is part of another's, also
/// where one test's name ends another's (`edit`, `bad-edit`) and counters share digits.
#[test]
fn no_tag_is_part_of_another() {
    let tags: Vec<String> = ["edit", "bad-edit", "edit"]
        .iter()
        .cycle()
        .take(120)
        .map(|name| unique_tag(name))
        .collect();
    for (i, a) in tags.iter().enumerate() {
        for (j, b) in tags.iter().enumerate() {
            assert!(i == j || !b.contains(a.as_str()), "{a} is part of {b}");
        }
    }
}
