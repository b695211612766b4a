//! Logging set-up: tracing to stderr and, for the daemon, to an optional rotating file.
//!
//! Owns: the subscriber. The level comes from `RUST_LOG`, else the schedule's `log.level`,
//! else `info`.

use crate::config::{LogSpec, Rotation};
use std::path::Path;
use tracing_appender::rolling::{self, RollingFileAppender};
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{fmt, Layer};

/// A `RUST_LOG`-style filter (`info`, `warn,pacs_warden=debug`). `Targets` rather than
/// `EnvFilter`: the same syntax for levels and targets without a regex engine, which keeps the
/// idle daemon's memory down.
pub fn parse_filter(text: &str) -> Result<Targets, String> {
    text.parse::<Targets>().map_err(|e| e.to_string())
}

fn filter(level: Option<&str>) -> Targets {
    std::env::var("RUST_LOG")
        .ok()
        .and_then(|l| parse_filter(&l).ok())
        .or_else(|| level.and_then(|l| parse_filter(l).ok()))
        .unwrap_or_else(|| Targets::new().with_default(tracing::Level::INFO))
}

fn stderr_layer<S>() -> impl Layer<S>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    fmt::layer()
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
}

/// Installs the stderr logger once; later calls do nothing.
pub fn init() {
    let _ = tracing_subscriber::registry()
        .with(stderr_layer().with_filter(filter(None)))
        .try_init();
}

/// Installs stderr logging plus, when `log` is set, a rotating log file at `file` (the
/// schedule's `log.file`, resolved). Fails if the file's directory cannot be used.
pub fn init_daemon(log: Option<(&Path, &LogSpec)>) -> std::io::Result<()> {
    let level = log.and_then(|(_, spec)| spec.level.as_deref());
    let file_layer = match log {
        None => None,
        Some((file, spec)) => {
            let dir = file
                .parent()
                .filter(|d| !d.as_os_str().is_empty())
                .unwrap_or(Path::new("."));
            let prefix = file
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| "pacs-warden.log".into());
            let rotation = match spec.rotation {
                Rotation::Daily => rolling::Rotation::DAILY,
                Rotation::Hourly => rolling::Rotation::HOURLY,
                Rotation::Never => rolling::Rotation::NEVER,
            };
            let appender = RollingFileAppender::builder()
                .rotation(rotation)
                .filename_prefix(prefix)
                .max_log_files(spec.keep)
                .build(dir)
                .map_err(|e| std::io::Error::other(format!("log file {}: {e}", file.display())))?;
            Some(
                fmt::layer()
                    .with_writer(appender)
                    .with_ansi(false)
                    .with_target(false)
                    .with_filter(filter(level)),
            )
        }
    };
    let _ = tracing_subscriber::registry()
        .with(stderr_layer().with_filter(filter(level)))
        .with(file_layer)
        .try_init();
    Ok(())
}
