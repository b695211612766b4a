//! Alerts: run `alert.command` (through `crate::shell::command`, like every helper) with the
//! event in its environment and as JSON on stdin; every alert event also goes to the Windows
//! Event Log (`crate::sys::os::eventlog`), with or without `alert:`.

use crate::core::config::Schedule;
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tracing::{error, info};

/// An alert as `alert.command` receives it (JSON on stdin; also `PACS_WARDEN_*` variables).
#[derive(Debug, Clone, Serialize)]
pub struct Alert {
    /// `restart_failed`, `worker_not_ready`, `not_ready_at_query`, `supervision_gave_up`,
    /// `schedule_rejected`, `query_not_run`, `query_failed`, `worker_unresponsive`,
    /// `memory_limit` or `worker_stopped`.
    pub event: &'static str,
    pub worker: Option<String>,
    pub message: String,
    pub schedule: String,
    pub time: String,
}

/// How long an alert command may run.
const ALERT_TIMEOUT: Duration = Duration::from_secs(60);

pub(super) async fn run_alert(command: Vec<String>, cwd: PathBuf, alert: Alert) {
    use crate::shell::command::{self, Ended, Helper, Output};
    let env: Vec<(String, String)> = [
        ("PACS_WARDEN_EVENT", alert.event),
        ("PACS_WARDEN_WORKER", alert.worker.as_deref().unwrap_or("")),
        ("PACS_WARDEN_MESSAGE", &alert.message),
        ("PACS_WARDEN_SCHEDULE", &alert.schedule),
        ("PACS_WARDEN_TIME", &alert.time),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let helper = Helper {
        argv: &command,
        workdir: &cwd,
        env: &env,
        stdin: Some(serde_json::to_vec(&alert).unwrap_or_default()),
        output: Output::Capture,
    };
    match command::run(helper, ALERT_TIMEOUT).await {
        Err(e) => error!(event = alert.event, error = %e, "cannot run the alert command"),
        Ok(Ended::Exited(out)) if out.status.success() => info!(event = alert.event, "alert sent"),
        Ok(Ended::Exited(out)) => {
            error!(event = alert.event, status = %out.status, stderr = %crate::core::text::escape(String::from_utf8_lossy(&out.stderr).trim()), "the alert command failed")
        }
        Ok(Ended::Failed(e)) => error!(event = alert.event, error = %e, "the alert command failed"),
        Ok(Ended::TimedOut) => error!(
            event = alert.event,
            "the alert command did not finish within 60 s; killed"
        ),
    }
}

/// Writes the event to the Event Log and runs `alert.command`, if set, with the event in the
/// environment and as JSON on stdin (in the background).
pub(super) fn raise(
    schedule: &Schedule,
    path: &Path,
    now: DateTime<Utc>,
    event: &'static str,
    worker: Option<&str>,
    message: &str,
) {
    crate::sys::os::eventlog::alert(event, worker, message);
    let Some(alert) = &schedule.alert else {
        return;
    };
    let payload = Alert {
        event,
        worker: worker.map(str::to_string),
        message: message.to_string(),
        schedule: path.display().to_string(),
        time: now.to_rfc3339(),
    };
    let command = alert.command.clone();
    let cwd = schedule.base_dir.clone();
    tokio::spawn(run_alert(command, cwd, payload));
}
