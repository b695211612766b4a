//! The core's log lines (`core::warden::Note`) written with `tracing`: one call site, its
//! fields in the order of `core::warden::Fields`, so each line looks as it always did (a field
//! the note does not carry is left out).

use crate::core::warden::{Level, Note};
use tracing::field::{display, DisplayValue};

pub(super) fn write(note: &Note) {
    let f = &note.fields;
    macro_rules! line {
        ($level:ident) => {
            tracing::$level!(
                restart_at = text(&f.restart_at),
                late_ms = f.late_ms,
                queries = text(&f.queries),
                workers = text(&f.workers),
                worker = text(&f.worker),
                pid = f.pid,
                attempt = f.attempt,
                probe = f.probe,
                probes = f.probes,
                answer = text(&f.answer),
                query = text(&f.query),
                command = text(&f.command),
                schedule = text(&f.schedule),
                error = text(&f.error),
                "{}",
                note.message
            )
        };
    }
    match note.level {
        Level::Info => line!(info),
        Level::Warn => line!(warn),
        Level::Error => line!(error),
    }
}

fn text(v: &Option<String>) -> Option<DisplayValue<&str>> {
    v.as_deref().map(display)
}
