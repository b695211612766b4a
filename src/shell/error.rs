//! The binary's one error type: every way a command of `pacs-warden` can fail, its text and its
//! exit status (`code`). `cli::run` prints it, once, and exits with its code; nothing else
//! prints an error and nothing else chooses an exit status. Two errors have no text of their
//! own, because what they report is printed where it must appear, once: `status` of a wrong
//! file (the problems go *above* the status of the version the daemon runs, so `status_cmd`
//! prints them and returns `StatusOfWrongSchedule`) and `restart`'s failure (each worker's
//! outcome is already on stdout).
//!
//! Exit statuses (README): 0 success, 1 the command failed, 2 the schedule file or the command
//! line is wrong. The text is what a person reads on stderr: one line per problem, with
//! whatever came from a file or a process already escaped by whoever wrote the message.

use crate::core::config::ConfigError;
use crate::core::import::ImportError;
use crate::shell::daemon::DaemonError;
use crate::sys::trust::Finding;
use std::fmt;
use std::path::PathBuf;

/// Exit statuses, named.
pub mod exit {
    pub const OK: u8 = 0;
    /// The command failed.
    pub const FAILED: u8 = 1;
    /// The schedule file or the command line is wrong.
    pub const CONFIG: u8 = 2;
}

#[derive(Debug)]
pub enum Error {
    /// The schedule file cannot be read or is invalid: `check`'s lines, then a count.
    Config(ConfigError),
    /// Paths others may change while pacs-warden runs privileged (the trust check): one line
    /// each, then why the file is refused.
    Untrusted {
        path: PathBuf,
        findings: Vec<Finding>,
    },
    /// A crontab or Task Scheduler export that cannot be imported: one line per problem.
    Import { path: PathBuf, source: ImportError },
    /// The command line, or a file it names, is wrong (e.g. no worker of that name). The text
    /// follows `error: `.
    Usage(String),
    /// Something the command had to do failed: `error: CONTEXT: SOURCE`.
    Io {
        context: String,
        source: std::io::Error,
    },
    /// The command failed (the text follows `error: `).
    Failed(String),
    /// The daemon could not start, or stopped on an error.
    Daemon(DaemonError),
    /// The daemon cannot start (`run`, maybe unattended: a service, a scheduled task) because
    /// of this error: it also goes to the Event Log.
    NotStarted(Box<Error>),
    /// `restart`: a worker did not end up started (and ready); each worker's outcome is on
    /// stdout already.
    RestartFailed,
    /// `status` of a wrong schedule file: its problems were printed above the status of the
    /// last good version.
    StatusOfWrongSchedule,
    /// `run --service`: the daemon the service manager ran ended with this exit status; its
    /// error was printed (and logged) on the service's thread, through the same `cli` code.
    ServiceExit(u8),
}

impl Error {
    /// The exit status.
    pub fn code(&self) -> u8 {
        match self {
            Error::Config(_)
            | Error::Untrusted { .. }
            | Error::Import { .. }
            | Error::Usage(_)
            | Error::StatusOfWrongSchedule => exit::CONFIG,
            Error::Daemon(DaemonError::Config(_) | DaemonError::Untrusted(_)) => exit::CONFIG,
            Error::Io { .. } | Error::Failed(_) | Error::Daemon(_) | Error::RestartFailed => {
                exit::FAILED
            }
            Error::NotStarted(e) => e.code(),
            Error::ServiceExit(code) => *code,
        }
    }

    /// `Io` with `context` (what was being done, or the path it was done to).
    pub fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
        let context = context.into();
        move |source| Error::Io { context, source }
    }
}

impl From<ConfigError> for Error {
    fn from(e: ConfigError) -> Error {
        Error::Config(e)
    }
}

impl From<DaemonError> for Error {
    fn from(e: DaemonError) -> Error {
        Error::Daemon(e)
    }
}

/// Why the schedule could not be loaded, as `check` prints it (lines).
pub fn config_error_text(e: &ConfigError) -> String {
    match e {
        ConfigError::Read { .. } => format!("error: {e}"),
        ConfigError::Invalid { path, problems } => format!(
            "{e}\nerror: {}: {} {} found",
            path.display(),
            problems.len(),
            if problems.len() == 1 {
                "problem"
            } else {
                "problems"
            }
        ),
    }
}

impl fmt::Display for Error {
    /// The lines printed on stderr (nothing for the errors the command has shown itself).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Config(e) => f.write_str(&config_error_text(e)),
            Error::Untrusted { path, findings } => {
                for finding in findings {
                    writeln!(f, "{}: {finding}", path.display())?;
                }
                write!(
                    f,
                    "error: {}: refusing to run its commands with administrator rights: {} {} can be changed by others (README, Security; --allow-writable-by NAME trusts a user or group)",
                    path.display(),
                    findings.len(),
                    if findings.len() == 1 { "path" } else { "paths" }
                )
            }
            Error::Import { path, source } => write!(
                f,
                "{}\nerror: {}: nothing was imported",
                source.display_with(path),
                path.display()
            ),
            Error::Usage(text) | Error::Failed(text) => write!(f, "error: {text}"),
            Error::Io { context, source } => write!(f, "error: {context}: {source}"),
            // What `check` prints, as the daemon found it.
            Error::Daemon(DaemonError::Config(e)) => write!(f, "{e}"),
            Error::Daemon(DaemonError::Untrusted(lines)) => f.write_str(lines),
            Error::Daemon(e) => write!(f, "error: {e}"),
            Error::NotStarted(e) => write!(f, "{e}"),
            Error::RestartFailed | Error::StatusOfWrongSchedule | Error::ServiceExit(_) => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_statuses_follow_the_readme() {
        let io = || std::io::Error::other("disk on fire");
        let invalid = || {
            Error::Config(ConfigError::Invalid {
                path: "s.yaml".into(),
                problems: Vec::new(),
            })
        };
        // 2: the schedule file or the command line is wrong.
        for e in [
            invalid(),
            Error::Config(ConfigError::Read {
                path: "s.yaml".into(),
                source: io(),
            }),
            Error::Untrusted {
                path: "s.yaml".into(),
                findings: Vec::new(),
            },
            Error::Usage("no worker named `x`".into()),
            Error::StatusOfWrongSchedule,
            Error::Daemon(DaemonError::Untrusted("s.yaml: …".into())),
            Error::NotStarted(Box::new(invalid())),
        ] {
            assert_eq!(e.code(), exit::CONFIG, "{e:?}");
        }
        // 1: the command failed.
        for e in [
            Error::io("cannot write the plan")(io()),
            Error::Failed("out.yaml exists".into()),
            Error::RestartFailed,
            Error::Daemon(DaemonError::State {
                dir: "s.state".into(),
                source: io(),
            }),
            Error::NotStarted(Box::new(Error::io("x")(io()))),
        ] {
            assert_eq!(e.code(), exit::FAILED, "{e:?}");
        }
    }

    #[test]
    fn one_line_per_problem_and_nothing_for_what_was_shown() {
        assert_eq!(
            Error::io("cannot write the plan")(std::io::Error::other("broken")).to_string(),
            "error: cannot write the plan: broken"
        );
        assert_eq!(
            Error::Usage("s.yaml: no worker named `x`".into()).to_string(),
            "error: s.yaml: no worker named `x`"
        );
        assert_eq!(Error::RestartFailed.to_string(), "");
        let untrusted = Error::Untrusted {
            path: "s.yaml".into(),
            findings: vec![
                Finding {
                    path: "/etc/s.yaml".into(),
                    problem: "writable by group `staff`".into(),
                    fix: "chmod g-w /etc/s.yaml".into(),
                },
                Finding {
                    path: "/etc".into(),
                    problem: "writable by all".into(),
                    fix: "chmod o-w /etc".into(),
                },
            ],
        }
        .to_string();
        let lines: Vec<&str> = untrusted.lines().collect();
        assert_eq!(lines.len(), 3, "{untrusted}");
        assert!(lines[0].starts_with("s.yaml: /etc/s.yaml: writable by group"));
        assert!(lines[2].starts_with("error: s.yaml: refusing to run its commands"));
        assert!(lines[2].contains(": 2 paths can be changed by others"));
    }
}
