//! The daemon's metrics (`metrics: {textfile: PATH}`): counters and gauges updated from what
//! happened, rendered in the Prometheus text exposition format (version 0.0.4) for the
//! textfile collectors of node_exporter and windows_exporter.
//!
//! Owns: the values and their text (`Metrics::render`: `# HELP` and `# TYPE` lines, series
//! sorted by label, label values escaped). Writing the file, and when, is the runtime's
//! (`crate::shell::daemon`): it records what it carries out and writes the text when it changed.

use chrono::{DateTime, Utc};
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// The outcomes a query run is counted under (a series each, from 0).
pub const QUERY_OUTCOMES: [&str; 5] = ["ok", "failed", "timed_out", "not_run", "skipped"];

/// The memory gauge shows a new reading when it moved by this share of `max_memory` (1/20:
/// 5%), the step of the state file's record.
const MEMORY_STEP: u64 = 20;

#[derive(Debug, Clone, Default, PartialEq)]
struct WorkerMetrics {
    restarts_ok: u64,
    restarts_failed: u64,
    crash_restarts: u64,
    deferrals: u64,
    ready_failures: u64,
    last_restart: Option<DateTime<Utc>>,
    up: bool,
    memory: Option<u64>,
}

/// The values, by worker and query name.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Metrics {
    workers: BTreeMap<String, WorkerMetrics>,
    queries: BTreeMap<String, BTreeMap<String, u64>>,
    next_restart: Option<DateTime<Utc>>,
}

impl Metrics {
    /// The series of exactly these workers and queries (those of the schedule the daemon
    /// runs): new ones start at zero, the values of the others are dropped.
    pub fn keep_only<'a>(
        &mut self,
        workers: impl IntoIterator<Item = &'a str>,
        queries: impl IntoIterator<Item = &'a str>,
    ) {
        let workers: Vec<&str> = workers.into_iter().collect();
        let queries: Vec<&str> = queries.into_iter().collect();
        self.workers.retain(|w, _| workers.contains(&w.as_str()));
        self.queries.retain(|q, _| queries.contains(&q.as_str()));
        for w in workers {
            self.worker(w);
        }
        for q in queries {
            self.query(q);
        }
    }

    fn worker(&mut self, name: &str) -> &mut WorkerMetrics {
        self.workers.entry(name.to_string()).or_default()
    }

    fn query(&mut self, name: &str) -> &mut BTreeMap<String, u64> {
        self.queries
            .entry(name.to_string())
            .or_insert_with(|| QUERY_OUTCOMES.iter().map(|o| (o.to_string(), 0)).collect())
    }

    /// A restart sequence of `worker` ended at `at`, good or not.
    pub fn record_restart(&mut self, worker: &str, ok: bool, at: DateTime<Utc>) {
        let w = self.worker(worker);
        if ok {
            w.restarts_ok += 1;
        } else {
            w.restarts_failed += 1;
        }
        w.last_restart = Some(at);
    }

    /// Crash supervision started a restart of `worker`.
    pub fn record_crash_restart(&mut self, worker: &str) {
        self.worker(worker).crash_restarts += 1;
    }

    /// A restart of `worker` was deferred (its busy probe said busy).
    pub fn record_deferral(&mut self, worker: &str) {
        self.worker(worker).deferrals += 1;
    }

    /// `worker`'s ready command failed.
    pub fn record_ready_failure(&mut self, worker: &str) {
        self.worker(worker).ready_failures += 1;
    }

    /// A reading of the resident memory of `worker`'s process tree, in bytes (`None`: not
    /// known), whose limit (`max_memory`) is `limit` bytes. The value shown changes only when
    /// the reading moved by 5% of the limit or more (as the state file's record of it), so
    /// that the file of an idle daemon is not rewritten at every reading.
    pub fn set_tree_memory(&mut self, worker: &str, bytes: Option<u64>, limit: u64) {
        let w = self.worker(worker);
        let moved = match (w.memory, bytes) {
            (Some(shown), Some(read)) => shown.abs_diff(read) >= (limit / MEMORY_STEP).max(1),
            (shown, read) => shown != read,
        };
        if moved {
            w.memory = bytes;
        }
    }

    /// Whether `worker`'s process runs, as far as the daemon knows.
    pub fn set_up(&mut self, worker: &str, up: bool) {
        self.worker(worker).up = up;
    }

    /// A run of `query` ended with `outcome` (`ok`, `failed`, `timed out`, `not run`,
    /// `skipped`; spaces become underscores).
    pub fn record_query_run(&mut self, query: &str, outcome: &str) {
        *self
            .query(query)
            .entry(outcome.replace(' ', "_"))
            .or_insert(0) += 1;
    }

    /// The instant of the next planned restart, if any.
    pub fn set_next_restart(&mut self, at: Option<DateTime<Utc>>) {
        self.next_restart = at;
    }

    /// The text exposition format: every metric with its `# HELP` and `# TYPE` lines, ending
    /// in a newline.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let workers = || self.workers.iter();
        let per_worker =
            |out: &mut String,
             name: &str,
             kind: &str,
             help: &str,
             value: &dyn Fn(&WorkerMetrics) -> Option<String>| {
                header(out, name, kind, help);
                for (w, m) in workers() {
                    if let Some(v) = value(m) {
                        let _ = writeln!(out, "{name}{{worker=\"{}\"}} {v}", escape(w));
                    }
                }
            };

        header(
            &mut out,
            "pacs_warden_restarts_total",
            "counter",
            "Restart sequences of the worker that ended, by outcome (ok, failed).",
        );
        for (w, m) in workers() {
            for (outcome, n) in [("ok", m.restarts_ok), ("failed", m.restarts_failed)] {
                let _ = writeln!(
                    out,
                    "pacs_warden_restarts_total{{worker=\"{}\",outcome=\"{outcome}\"}} {n}",
                    escape(w)
                );
            }
        }
        per_worker(
            &mut out,
            "pacs_warden_crash_restarts_total",
            "counter",
            "Restarts crash supervision started after the worker crashed or failed to start.",
            &|m| Some(m.crash_restarts.to_string()),
        );
        per_worker(
            &mut out,
            "pacs_warden_deferrals_total",
            "counter",
            "Restarts of the worker put off because its busy probe said busy (once per restart, however often it was asked again).",
            &|m| Some(m.deferrals.to_string()),
        );
        per_worker(
            &mut out,
            "pacs_warden_ready_failures_total",
            "counter",
            "Times the worker's ready command failed.",
            &|m| Some(m.ready_failures.to_string()),
        );
        per_worker(
            &mut out,
            "pacs_warden_worker_up",
            "gauge",
            "1 while the worker process pacs-warden started or adopted runs, else 0.",
            &|m| Some(u8::from(m.up).to_string()),
        );
        per_worker(
            &mut out,
            "pacs_warden_last_restart_timestamp_seconds",
            "gauge",
            "When the worker's last restart sequence ended (Unix time); absent before the first.",
            &|m| m.last_restart.map(seconds),
        );
        per_worker(
            &mut out,
            "pacs_warden_worker_memory_bytes",
            "gauge",
            "Resident memory of the worker's process tree; absent when not measured.",
            &|m| m.memory.map(|b| b.to_string()),
        );

        header(
            &mut out,
            "pacs_warden_query_runs_total",
            "counter",
            "Runs of the query pacs-warden runs, by outcome (ok, failed, timed_out, not_run, skipped, interrupted).",
        );
        for (q, outcomes) in &self.queries {
            for (outcome, n) in outcomes {
                let _ = writeln!(
                    out,
                    "pacs_warden_query_runs_total{{query=\"{}\",outcome=\"{}\"}} {n}",
                    escape(q),
                    escape(outcome)
                );
            }
        }

        header(
            &mut out,
            "pacs_warden_next_restart_timestamp_seconds",
            "gauge",
            "When the next planned restart is due (Unix time); absent when none is planned.",
        );
        if let Some(at) = self.next_restart {
            let _ = writeln!(
                out,
                "pacs_warden_next_restart_timestamp_seconds {}",
                seconds(at)
            );
        }
        out
    }
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// Unix time in seconds, with milliseconds.
fn seconds(at: DateTime<Utc>) -> String {
    let ms = at.timestamp_millis();
    format!("{}.{:03}", ms.div_euclid(1000), ms.rem_euclid(1000))
}

/// A label value as the text format wants it: backslash, double quote and line feed escaped.
pub fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(s: i64, ms: u32) -> DateTime<Utc> {
        Utc.timestamp_opt(s, ms * 1_000_000).unwrap()
    }

    #[test]
    fn renders_every_metric_with_help_type_and_sorted_series() {
        let mut m = Metrics::default();
        m.keep_only(["w2", "w1"], ["q"]);
        m.record_restart("w1", true, at(1_700_000_000, 5));
        m.record_restart("w1", false, at(1_700_000_100, 250));
        m.record_crash_restart("w1");
        m.record_deferral("w2");
        m.record_ready_failure("w2");
        m.record_ready_failure("w2");
        m.set_up("w1", true);
        m.set_tree_memory("w2", Some(123_456_789), 1 << 30);
        m.record_query_run("q", "timed out");
        m.record_query_run("q", "ok");
        m.set_next_restart(Some(at(1_700_003_600, 0)));
        let expected = "\
# HELP pacs_warden_restarts_total Restart sequences of the worker that ended, by outcome (ok, failed).
# TYPE pacs_warden_restarts_total counter
pacs_warden_restarts_total{worker=\"w1\",outcome=\"ok\"} 1
pacs_warden_restarts_total{worker=\"w1\",outcome=\"failed\"} 1
pacs_warden_restarts_total{worker=\"w2\",outcome=\"ok\"} 0
pacs_warden_restarts_total{worker=\"w2\",outcome=\"failed\"} 0
# HELP pacs_warden_crash_restarts_total Restarts crash supervision started after the worker crashed or failed to start.
# TYPE pacs_warden_crash_restarts_total counter
pacs_warden_crash_restarts_total{worker=\"w1\"} 1
pacs_warden_crash_restarts_total{worker=\"w2\"} 0
# HELP pacs_warden_deferrals_total Restarts of the worker put off because its busy probe said busy (once per restart, however often it was asked again).
# TYPE pacs_warden_deferrals_total counter
pacs_warden_deferrals_total{worker=\"w1\"} 0
pacs_warden_deferrals_total{worker=\"w2\"} 1
# HELP pacs_warden_ready_failures_total Times the worker's ready command failed.
# TYPE pacs_warden_ready_failures_total counter
pacs_warden_ready_failures_total{worker=\"w1\"} 0
pacs_warden_ready_failures_total{worker=\"w2\"} 2
# HELP pacs_warden_worker_up 1 while the worker process pacs-warden started or adopted runs, else 0.
# TYPE pacs_warden_worker_up gauge
pacs_warden_worker_up{worker=\"w1\"} 1
pacs_warden_worker_up{worker=\"w2\"} 0
# HELP pacs_warden_last_restart_timestamp_seconds When the worker's last restart sequence ended (Unix time); absent before the first.
# TYPE pacs_warden_last_restart_timestamp_seconds gauge
pacs_warden_last_restart_timestamp_seconds{worker=\"w1\"} 1700000100.250
# HELP pacs_warden_worker_memory_bytes Resident memory of the worker's process tree; absent when not measured.
# TYPE pacs_warden_worker_memory_bytes gauge
pacs_warden_worker_memory_bytes{worker=\"w2\"} 123456789
# HELP pacs_warden_query_runs_total Runs of the query pacs-warden runs, by outcome (ok, failed, timed_out, not_run, skipped, interrupted).
# TYPE pacs_warden_query_runs_total counter
pacs_warden_query_runs_total{query=\"q\",outcome=\"failed\"} 0
pacs_warden_query_runs_total{query=\"q\",outcome=\"not_run\"} 0
pacs_warden_query_runs_total{query=\"q\",outcome=\"ok\"} 1
pacs_warden_query_runs_total{query=\"q\",outcome=\"skipped\"} 0
pacs_warden_query_runs_total{query=\"q\",outcome=\"timed_out\"} 1
# HELP pacs_warden_next_restart_timestamp_seconds When the next planned restart is due (Unix time); absent when none is planned.
# TYPE pacs_warden_next_restart_timestamp_seconds gauge
pacs_warden_next_restart_timestamp_seconds 1700003600.000
";
        assert_eq!(m.render(), expected);
    }

    #[test]
    fn the_memory_gauge_moves_by_steps_of_5_percent_of_the_limit() {
        let mut m = Metrics::default();
        m.keep_only(["w"], []);
        let limit = 1000 << 20;
        let shown = |m: &Metrics| {
            m.render()
                .lines()
                .find_map(|l| l.strip_prefix("pacs_warden_worker_memory_bytes{worker=\"w\"} "))
                .map(|v| v.parse::<u64>().unwrap())
        };
        assert_eq!(shown(&m), None);
        m.set_tree_memory("w", Some(100 << 20), limit);
        assert_eq!(shown(&m), Some(100 << 20));
        // Less than 50 MiB (5% of the limit) away: the text, and so the file, stays.
        let text = m.render();
        m.set_tree_memory("w", Some((100 << 20) + (49 << 20)), limit);
        m.set_tree_memory("w", Some((100 << 20) - (49 << 20)), limit);
        assert_eq!(m.render(), text);
        m.set_tree_memory("w", Some(150 << 20), limit);
        assert_eq!(shown(&m), Some(150 << 20));
        m.set_tree_memory("w", Some(100 << 20), limit);
        assert_eq!(shown(&m), Some(100 << 20));
        // Not known any more (its process is gone): absent.
        m.set_tree_memory("w", None, limit);
        assert_eq!(shown(&m), None);
    }

    #[test]
    fn label_values_escape_backslash_quote_and_newline() {
        let mut m = Metrics::default();
        m.keep_only(["a\\b\"c\nd"], []);
        let text = m.render();
        assert!(
            text.contains("pacs_warden_worker_up{worker=\"a\\\\b\\\"c\\nd\"} 0\n"),
            "{text}"
        );
        // One line per series: the newline in the name did not split one.
        assert!(text
            .lines()
            .all(|l| l.starts_with('#') || l.starts_with("pacs_warden_")));
    }

    #[test]
    fn keep_only_drops_removed_names_and_keeps_the_others_values() {
        let mut m = Metrics::default();
        m.keep_only(["a", "b"], ["q"]);
        m.record_deferral("a");
        m.keep_only(["a", "c"], []);
        let text = m.render();
        assert!(text.contains("pacs_warden_deferrals_total{worker=\"a\"} 1\n"));
        assert!(text.contains("{worker=\"c\"}"));
        assert!(!text.contains("{worker=\"b\"}"));
        assert!(!text.contains("query=\"q\""));
    }
}
