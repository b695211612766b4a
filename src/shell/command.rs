//! Helper commands: the one way pacs-warden runs a command of the schedule that is not the
//! worker itself — `stop`, `ready`, `busy`, `alert` and a query's `command`.
//!
//! Owns: the policy every helper shares. The command is an argument list run directly, never
//! through a shell; its program is resolved against its working folder the way the OS would
//! (`resolve`); it gets the schedule's environment additions and, if given, bytes on stdin
//! (else an empty stdin). Its output is discarded, captured (the last `OUTPUT_CAP` bytes of
//! each stream; callers escape what they show) or appended to a file. It runs for at most
//! its timeout; a helper that is still running then, or that its caller abandons (`kill`), is
//! killed with every process it started (`sys::os::kill_tree`: each one verified by PID and
//! start time, children first). What a helper's answer means, and the messages, are the
//! callers' (`sequence`, `query_run`, `daemon::alert`). Starting and killing processes is
//! `sys::os`'s.

use std::io;
use std::path::Path;
use std::process::{ExitStatus, Output as StdOutput};
use std::sync::Mutex;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};

/// At most this many bytes of each output stream are kept: the end of it (what callers show
/// is the last lines; a `busy` answer longer than this reads as busy).
pub const OUTPUT_CAP: usize = 1 << 20;

/// How long a helper's output is still read after it exited (see `Running::finish`).
pub const OUTPUT_GRACE: Duration = Duration::from_secs(2);

/// Where a helper's stdout and stderr go.
#[derive(Debug)]
pub enum Output {
    Discard,
    /// Kept (up to `OUTPUT_CAP` each) and returned in `Ended::Exited`.
    Capture,
    /// Both appended to this file (e.g. a query's log).
    File(std::fs::File),
}

/// A helper command to run.
#[derive(Debug)]
pub struct Helper<'a> {
    /// As written in the schedule: the program first (resolved here, see `resolve`).
    pub argv: &'a [String],
    pub workdir: &'a Path,
    /// Added to pacs-warden's environment.
    pub env: &'a [(String, String)],
    /// Written to its stdin, which is then closed; `None`: an empty stdin.
    pub stdin: Option<Vec<u8>>,
    pub output: Output,
}

/// How a helper's run ended.
#[derive(Debug)]
pub enum Ended {
    /// It exited by itself; stdout and stderr are empty unless captured.
    Exited(StdOutput),
    /// It ran out of time and was killed with its children.
    TimedOut,
    /// Waiting for it failed.
    Failed(io::Error),
}

/// `argv` with its program resolved the way the OS will: a bare name through PATH, a relative
/// path with a separator against `workdir`. What a helper runs, and what logs show.
pub fn resolve(argv: &[String], workdir: &Path) -> Vec<String> {
    let mut out = argv.to_vec();
    if let Some(program) = argv.first() {
        out[0] = crate::sys::os::resolve_program(program, workdir)
            .to_string_lossy()
            .into_owned();
    }
    out
}

/// A running helper (see `start`). Dropping it kills the helper itself, not its children:
/// call `kill` to abandon one.
#[derive(Debug)]
pub struct Running {
    child: tokio::process::Child,
    stdin: Option<Vec<u8>>,
}

/// Starts `helper`. Fails when the OS cannot start it (a missing program, or a missing working
/// folder, which the OS reports as a missing program).
pub fn start(helper: Helper<'_>) -> io::Result<Running> {
    use crate::sys::os::{Out, Stdio3};
    let (stdout, stderr) = match helper.output {
        Output::Discard => (Out::Null, Out::Null),
        Output::Capture => (Out::Piped, Out::Piped),
        Output::File(file) => (Out::File(file.try_clone()?), Out::File(file)),
    };
    let child = crate::sys::os::spawn(
        &resolve(helper.argv, helper.workdir),
        helper.workdir,
        helper.env,
        Stdio3 {
            stdin: helper.stdin.is_some(),
            stdout,
            stderr,
        },
    )?;
    Ok(Running {
        child,
        stdin: helper.stdin,
    })
}

/// Starts `helper` and waits for it for at most `timeout` (see `Running::finish`).
pub async fn run(helper: Helper<'_>, timeout: Duration) -> io::Result<Ended> {
    Ok(start(helper)?.finish(timeout).await)
}

impl Running {
    /// The helper's PID while it has not been waited for.
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// Its exit status if it has exited.
    pub fn try_wait(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// Feeds its stdin, then waits for it to exit and for its output to end, for at most
    /// `timeout`; past that it is killed with its children (`Ended::TimedOut`). Output still
    /// open `OUTPUT_GRACE` after the helper exited (a process it left behind holds the pipe)
    /// is not waited for: the helper's answer is what it printed until then.
    pub async fn finish(mut self, timeout: Duration) -> Ended {
        let stdin = self.child.stdin.take().zip(self.stdin.take());
        let stdout = self.child.stdout.take();
        let stderr = self.child.stderr.take();
        let (out, err) = (Mutex::new(Vec::new()), Mutex::new(Vec::new()));
        let child = &mut self.child;
        let all = async {
            let feed = async {
                if let Some((mut pipe, bytes)) = stdin {
                    // A helper that exits without reading its stdin is not an error.
                    let _ = pipe.write_all(&bytes).await;
                }
            };
            let exit = async { tokio::join!(child.wait(), feed).0 };
            let readers = async {
                tokio::join!(read_capped(stdout, &out), read_capped(stderr, &err));
            };
            tokio::pin!(exit, readers);
            let mut read_all = false;
            let status = loop {
                tokio::select! {
                    () = &mut readers, if !read_all => read_all = true,
                    status = &mut exit => break status,
                }
            };
            if !read_all {
                let _ = tokio::time::timeout(OUTPUT_GRACE, &mut readers).await;
            }
            status
        };
        let ended = tokio::time::timeout(timeout, all).await;
        let taken = |m: Mutex<Vec<u8>>| {
            let mut kept = m.into_inner().unwrap_or_else(|e| e.into_inner());
            let excess = kept.len().saturating_sub(OUTPUT_CAP);
            kept.drain(..excess);
            kept
        };
        match ended {
            Ok(Ok(status)) => Ended::Exited(StdOutput {
                status,
                stdout: taken(out),
                stderr: taken(err),
            }),
            Ok(Err(e)) => Ended::Failed(e),
            Err(_) => {
                self.kill().await;
                Ended::TimedOut
            }
        }
    }

    /// Kills the helper and every process it started (each verified), and waits for it.
    pub async fn kill(mut self) {
        if let Some(id) = self.child.id().and_then(crate::sys::process::identify) {
            // The PID cannot be reused: the child is not waited for yet.
            let _ = tokio::task::spawn_blocking(move || crate::sys::os::kill_tree(&[id])).await;
        }
        // Also by its handle, in case it could not be identified (it was exiting).
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
    }
}

/// Everything `stream` gives until it ends, into `kept`, keeping the last `OUTPUT_CAP` bytes
/// (what was read so far stays there if the reading is cut short).
async fn read_capped(stream: Option<impl AsyncRead + Unpin>, kept: &Mutex<Vec<u8>>) {
    let Some(mut stream) = stream else {
        return;
    };
    let mut chunk = vec![0u8; 16 * 1024];
    loop {
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                let mut kept = kept.lock().unwrap_or_else(|e| e.into_inner());
                kept.extend_from_slice(&chunk[..n]);
                // Trimmed in bulk (not on every read): `taken` cuts the rest.
                if kept.len() > 2 * OUTPUT_CAP {
                    let excess = kept.len() - OUTPUT_CAP;
                    kept.drain(..excess);
                }
            }
        }
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use crate::sys::process::{identify, is_running, ProcId};

    fn sh(script: &str) -> Vec<String> {
        vec!["sh".into(), "-c".into(), script.into()]
    }

    /// `argv` in `dir`, nothing added to its environment, an empty stdin.
    fn plain<'a>(argv: &'a [String], dir: &'a Path, output: Output) -> Helper<'a> {
        Helper {
            argv,
            workdir: dir,
            env: &[],
            stdin: None,
            output,
        }
    }

    /// Runs `helper` to its end; what it printed.
    async fn exited(helper: Helper<'_>) -> StdOutput {
        match run(helper, Duration::from_secs(60)).await.unwrap() {
            Ended::Exited(out) => out,
            ended => panic!("{ended:?}"),
        }
    }

    /// The process whose PID the helper wrote to `file`, once it has.
    async fn written_pid(file: &Path) -> ProcId {
        for _ in 0..100 {
            if let Some(id) = std::fs::read_to_string(file)
                .ok()
                .and_then(|t| t.trim().parse().ok())
                .and_then(identify)
            {
                return id;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("no pid in {}", file.display());
    }

    /// Whether `id` is gone within a few seconds.
    async fn gone(id: ProcId) -> bool {
        for _ in 0..100 {
            if !is_running(id) {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        false
    }

    #[tokio::test]
    async fn a_helper_that_exits_while_a_process_it_left_holds_its_output_has_exited() {
        // `celery … &`-style: the helper answers and exits 0, a process it started keeps its
        // stdout open. Its answer is what it printed; it is not reported as timed out.
        let dir = tempfile::tempdir().unwrap();
        let argv = sh("echo answered; sleep 30 & echo $! > left.pid; exit 0");
        let ended = run(
            plain(&argv, dir.path(), Output::Capture),
            Duration::from_secs(20),
        )
        .await
        .unwrap();
        let left = written_pid(&dir.path().join("left.pid")).await;
        let _ = crate::sys::os::kill_verified(left);
        match ended {
            Ended::Exited(out) => {
                assert!(out.status.success());
                assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "answered");
            }
            ended => panic!("{ended:?}"),
        }
    }

    #[tokio::test]
    async fn a_helper_that_runs_out_of_time_is_killed_with_what_it_started() {
        let dir = tempfile::tempdir().unwrap();
        let argv = sh("sleep 60 & echo $! > grandchild.pid; wait");
        let running = start(plain(&argv, dir.path(), Output::Capture)).unwrap();
        let grandchild = written_pid(&dir.path().join("grandchild.pid")).await;
        let ended = running.finish(Duration::from_secs(1)).await;
        assert!(matches!(ended, Ended::TimedOut), "{ended:?}");
        assert!(gone(grandchild).await, "the helper's child survived");
    }

    #[tokio::test]
    async fn an_abandoned_helper_is_killed_with_what_it_started() {
        let dir = tempfile::tempdir().unwrap();
        let argv = sh("sleep 60 & echo $! > grandchild.pid; wait");
        let mut running = start(plain(&argv, dir.path(), Output::Discard)).unwrap();
        let grandchild = written_pid(&dir.path().join("grandchild.pid")).await;
        assert_eq!(running.try_wait(), None);
        running.kill().await;
        assert!(gone(grandchild).await, "the helper's child survived");
    }

    #[tokio::test]
    async fn argv_workdir_env_and_stdin_reach_the_helper_without_a_shell() {
        let dir = tempfile::tempdir().unwrap();
        let folder = dir.path().join("a folder");
        std::fs::create_dir_all(folder.join("bin")).unwrap();
        let script = folder.join("bin").join("echo it");
        std::fs::write(
            &script,
            "#!/bin/sh\ncat\nprintf ' [%s] [%s]' \"$1\" \"$GREETING\"\npwd >&2\nexit 3\n",
        )
        .unwrap();
        let mut perms = std::fs::metadata(&script).unwrap().permissions();
        std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
        std::fs::set_permissions(&script, perms).unwrap();
        // A relative program with a separator runs from the helper's folder.
        let argv = vec!["bin/echo it".to_string(), "$HOME; rm -rf x".to_string()];
        let env = [("GREETING".to_string(), "hé llo".to_string())];
        let out = exited(Helper {
            argv: &argv,
            workdir: &folder,
            env: &env,
            stdin: Some(b"from stdin".to_vec()),
            output: Output::Capture,
        })
        .await;
        assert_eq!(out.status.code(), Some(3));
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "from stdin [$HOME; rm -rf x] [hé llo]"
        );
        assert_eq!(
            String::from_utf8_lossy(&out.stderr).trim_end(),
            folder.to_string_lossy()
        );
    }

    #[tokio::test]
    async fn captured_output_keeps_its_end_up_to_the_cap() {
        let dir = tempfile::tempdir().unwrap();
        let total = 3 * OUTPUT_CAP + 5;
        let argv = sh(&format!(
            "head -c {total} /dev/zero | tr '\\0' a; printf END"
        ));
        let out = exited(plain(&argv, dir.path(), Output::Capture)).await;
        assert!(out.status.success());
        assert_eq!(out.stdout.len(), OUTPUT_CAP);
        assert!(out.stdout.ends_with(b"aaaEND"));
    }

    #[tokio::test]
    async fn output_can_go_to_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("q.log");
        let file = crate::sys::os::open_log(&log).unwrap();
        let argv = sh("echo out; echo err >&2");
        let out = exited(plain(&argv, dir.path(), Output::File(file))).await;
        assert!(out.status.success() && out.stdout.is_empty());
        let text = std::fs::read_to_string(&log).unwrap();
        assert!(text.contains("out\n") && text.contains("err\n"), "{text}");
    }
}
