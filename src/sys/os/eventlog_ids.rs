// The Event Log's event IDs: one per kind, with its type (1 error, 2 warning, 4 information,
// as `ReportEventW` takes it). Shared by src/os/eventlog.rs and build.rs (which builds the
// message table of pacs-warden.exe from it: one message `%1` per ID). The README's table
// (Windows, "The Event Log") lists the same rows; a test compares them.

/// (ID, type, kind): the kind is an alert's `event`, or one of `started`, `stopped`,
/// `warning`, `error`, `start_failed`.
#[allow(dead_code)]
const EVENT_IDS: &[(u32, u16, &str)] = &[
    (1000, 4, "started"),
    (1001, 4, "stopped"),
    (2000, 2, "warning"),
    (2001, 2, "schedule_rejected"),
    (2002, 2, "worker_not_ready"),
    (2003, 2, "worker_unresponsive"),
    (2004, 2, "memory_limit"),
    (2005, 2, "worker_stopped"),
    (3000, 1, "error"),
    (3001, 1, "start_failed"),
    (3002, 1, "restart_failed"),
    (3003, 1, "not_ready_at_query"),
    (3004, 1, "supervision_gave_up"),
    (3005, 1, "query_not_run"),
    (3006, 1, "query_failed"),
];
