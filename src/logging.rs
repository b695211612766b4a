//! Logging set-up: tracing to stderr, level from `RUST_LOG` (default `info`).
//!
//! Owns: the subscriber. The daemon adds a rotating file later; commands log to stderr only.

use tracing_subscriber::EnvFilter;

/// Installs the stderr logger once; later calls do nothing.
pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .try_init();
}
