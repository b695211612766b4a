//! Shared by the integration tests that run the real daemon: start `pacs-warden run`, follow
//! its log line by line, and clean up the processes a test started.

#![allow(dead_code)]

use pacs_warden::sys::os::kill_verified;
use pacs_warden::sys::process::Snapshot;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
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

/// How long a test waits for a log line before failing.
pub const PATIENCE: Duration = Duration::from_secs(40);

/// `s` as a single-quoted YAML scalar.
pub fn q(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// A running `pacs-warden run --config FILE`, killed when dropped.
pub struct Daemon {
    pub child: Child,
    lines: Arc<Mutex<Vec<String>>>,
    /// Lines before this index have been matched already.
    seen: usize,
}

impl Daemon {
    pub fn start(config: &Path) -> Daemon {
        let mut child = Command::new(WARDEN)
            .args(["run", "--config"])
            .arg(config)
            .env("RUST_LOG", "info")
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
                t0.elapsed() < PATIENCE,
                "no log line with {needle:?} within {PATIENCE:?}; log:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The whole log so far.
    pub fn log(&self) -> String {
        self.lines.lock().unwrap().join("\n")
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Kills every process whose command line contains `tag` (a test's unique marker).
pub fn kill_tagged(tag: &str) {
    for p in Snapshot::take().processes {
        if p.cmdline_text().contains(tag) {
            let _ = kill_verified(p.id);
        }
    }
}

/// `pacs-warden status --config FILE`'s output.
pub fn status(config: &Path) -> String {
    let out = Command::new(WARDEN)
        .args(["status", "--config"])
        .arg(config)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}
