//! Processes: which ones are running and which of them are a worker's. Starting and killing
//! them is `sys::os`'s (which builds on the identities defined here).
//!
//! Owns: process identity (PID + start time, because PIDs are reused; and the machine's boot
//! time in the same unit), the `match` rule, and the worker's process tree. The pure parts (`matches`, `tree`) take a snapshot and decide;
//! `Snapshot::take` reads the OS through sysinfo. One `cfg`: `is_running` and `TreeMemory`
//! ask the known processes through sysinfo on Linux (which reads /proc/PID for those PIDs
//! only), and through `windows.rs` on Windows (a handle to each PID; sysinfo would list every
//! process of the machine there to read one). `windows.rs` also holds the verified open of a
//! process (`open_verified`: the process a `ProcId` names, or why not) and the handle type
//! that `sys::os` kills, signals and waits through.

use std::collections::{HashMap, HashSet};
use std::ffi::OsStr;
use std::path::Path;
use sysinfo::{ProcessRefreshKind, ProcessStatus, ProcessesToUpdate, System, UpdateKind};

#[cfg(windows)]
pub(crate) mod windows;
#[cfg(windows)]
use windows::{is_running as running, resident};

#[cfg(test)]
thread_local! {
    /// How many full reads (`Snapshot::take`) this thread made: a test's count of them.
    static FULL_READS: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// A process's identity: its PID and when it started (whole seconds since the Unix epoch, as
/// the OS reports it). A PID alone can belong to another process tomorrow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct ProcId {
    pub pid: u32,
    pub start_time: u64,
}

impl std::fmt::Display for ProcId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.pid)
    }
}

/// What pacs-warden knows of one running process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessInfo {
    pub id: ProcId,
    pub parent: Option<u32>,
    /// Linux comm (at most 15 bytes) or the Windows image name.
    pub name: String,
    /// The executable's file name, when the OS tells.
    pub exe_name: Option<String>,
    pub cmdline: Vec<String>,
}

impl ProcessInfo {
    /// The command line as one string, for `args_contain` and for logs.
    pub fn cmdline_text(&self) -> String {
        self.cmdline.join(" ")
    }
}

/// `name` without a Windows `.exe` suffix, lowercased, for image comparisons.
fn image_key(name: &str) -> String {
    let lower = name.to_ascii_lowercase();
    lower
        .strip_suffix(".exe")
        .map(str::to_string)
        .unwrap_or(lower)
}

/// Linux keeps only the first 15 bytes of a process name.
const COMM_LEN: usize = 15;

/// Whether `p` is one of the processes described by `image` and `args_contain`: its image is
/// `image` (compared with the process name, the executable's name and the first argument's file
/// name, ignoring case and `.exe`), and its command line contains every `args_contain` string.
pub fn matches(image: &str, args_contain: &[String], p: &ProcessInfo) -> bool {
    let want = image_key(image);
    let mut candidates: Vec<String> = vec![image_key(&p.name)];
    if let Some(exe) = &p.exe_name {
        candidates.push(image_key(exe));
    }
    // The first argument, and the second for launchers (`python.exe …\\celery.exe worker`,
    // `python3 /venv/bin/celery worker`). Both separators: a Windows path seen from anywhere.
    for arg in p.cmdline.iter().take(2) {
        let base = arg.rsplit(['/', '\\']).next().unwrap_or(arg);
        candidates.push(image_key(base));
    }
    let image_ok = candidates.iter().any(|c| {
        *c == want
            // A truncated Linux comm.
            || (c.len() == COMM_LEN && want.len() > COMM_LEN && want.starts_with(c.as_str()))
    });
    if !image_ok {
        return false;
    }
    let text = p.cmdline_text();
    args_contain
        .iter()
        .all(|needle| text.contains(needle.as_str()))
}

/// A list of the processes running at one moment.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub processes: Vec<ProcessInfo>,
}

impl Snapshot {
    /// Reads every process from the OS. Zombies (exited, not yet reaped) are left out: they
    /// are gone for every purpose here.
    pub fn take() -> Snapshot {
        #[cfg(test)]
        FULL_READS.with(|n| n.set(n.get() + 1));
        let mut sys = System::new();
        sys.refresh_processes_specifics(
            ProcessesToUpdate::All,
            true,
            ProcessRefreshKind::nothing()
                .with_cmd(UpdateKind::Always)
                .with_exe(UpdateKind::Always),
        );
        let processes = sys
            .processes()
            .values()
            // Linux threads show up as processes in sysinfo; only real processes count.
            .filter(|p| p.thread_kind().is_none())
            .filter(|p| !matches!(p.status(), ProcessStatus::Zombie | ProcessStatus::Dead))
            .map(|p| ProcessInfo {
                id: ProcId {
                    pid: p.pid().as_u32(),
                    start_time: p.start_time(),
                },
                parent: p.parent().map(|pp| pp.as_u32()),
                name: lossy(p.name()),
                exe_name: p.exe().and_then(Path::file_name).map(lossy),
                cmdline: p.cmd().iter().map(|a| lossy(a)).collect(),
            })
            .collect();
        Snapshot { processes }
    }

    pub fn get(&self, pid: u32) -> Option<&ProcessInfo> {
        self.processes.iter().find(|p| p.id.pid == pid)
    }

    /// Whether the process `id` (same PID, same start time) is in the snapshot.
    pub fn contains(&self, id: ProcId) -> bool {
        self.get(id.pid).is_some_and(|p| p.id == id)
    }

    /// `roots` and all their descendants, deepest first (children before parents), so killing
    /// in this order orphans nothing. A child counts only if it started no earlier than its
    /// parent: an older process cannot be a child, whatever its parent PID says.
    ///
    /// The Windows console host (`conhost.exe`) is left out: Windows starts one as a child of a
    /// console program that gets a console of its own (a worker started without a window does),
    /// and it exits by itself once the last process of that console has gone. It is the OS's,
    /// not the worker's, and counting it would make "the worker's 3 processes" read as 4.
    pub fn tree(&self, roots: &[ProcId]) -> Vec<ProcessInfo> {
        let mut children: HashMap<u32, Vec<&ProcessInfo>> = HashMap::new();
        for p in &self.processes {
            if let Some(parent) = p.parent {
                children.entry(parent).or_default().push(p);
            }
        }
        let mut seen = HashSet::new();
        let mut order: Vec<(usize, &ProcessInfo)> = Vec::new();
        let mut stack: Vec<(usize, &ProcessInfo)> = roots
            .iter()
            .filter_map(|r| self.get(r.pid).filter(|p| p.id == *r))
            .map(|p| (0, p))
            .collect();
        while let Some((depth, p)) = stack.pop() {
            if !seen.insert(p.id.pid) {
                continue;
            }
            order.push((depth, p));
            for child in children.get(&p.id.pid).into_iter().flatten() {
                if child.id.start_time >= p.id.start_time
                    && child.id.pid != p.id.pid
                    && !is_console_host(child)
                {
                    stack.push((depth + 1, child));
                }
            }
        }
        order.sort_by_key(|(depth, _)| std::cmp::Reverse(*depth));
        order.into_iter().map(|(_, p)| p.clone()).collect()
    }
}

/// Whether `p` is the Windows console host (see `Snapshot::tree`).
fn is_console_host(p: &ProcessInfo) -> bool {
    image_key(&p.name) == "conhost"
}

fn lossy(s: &OsStr) -> String {
    s.to_string_lossy().into_owned()
}

/// Whether the process `id` is still running (a zombie counts as exited). On Windows a
/// process with that PID that this user may not open counts as running (see
/// `windows::is_running`).
pub fn is_running(id: ProcId) -> bool {
    running(id)
}

/// `is_running` through sysinfo, which reads /proc/PID for that PID only.
#[cfg(not(windows))]
fn running(id: ProcId) -> bool {
    let mut sys = System::new();
    let pid = sysinfo::Pid::from_u32(id.pid);
    sys.refresh_processes_specifics(
        ProcessesToUpdate::Some(&[pid]),
        true,
        ProcessRefreshKind::nothing(),
    );
    sys.process(pid).is_some_and(|p| {
        p.start_time() == id.start_time
            && !matches!(p.status(), ProcessStatus::Zombie | ProcessStatus::Dead)
    })
}

/// The resident memory of a worker's process tree, read cheaply: only the processes already
/// known to be the tree are asked, not the whole process table. The tree is found again
/// (one full read) the first time, and whenever one of its known processes has gone (a pool
/// replaced a child, say). A child added while none went is counted from the next full read.
#[derive(Debug, Default)]
pub struct TreeMemory {
    root: Option<ProcId>,
    known: Vec<ProcId>,
    /// Whether a reading of this root has had unread processes already.
    told_unread: bool,
}

/// One reading of a process tree's memory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reading {
    /// The summed resident memory (bytes; the working set on Windows) of the tree's processes
    /// that could be read: a lower bound when `unread` is not empty; `None` when none could.
    pub bytes: Option<u64>,
    /// The PIDs of the tree's processes that run but whose memory this user may not read
    /// (Windows: another account's process, when pacs-warden is not SYSTEM). Empty on Linux.
    pub unread: Vec<u32>,
    /// Whether this is the first reading of this root with unread processes: the caller's cue
    /// to say so once rather than at every reading.
    pub unread_is_news: bool,
}

impl TreeMemory {
    /// The resident memory of `root` and its descendants; `None` if `root` no longer runs.
    pub fn read(&mut self, root: ProcId) -> Option<Reading> {
        if self.root != Some(root) {
            self.root = Some(root);
            self.known.clear();
            self.told_unread = false;
        }
        let mut found = None;
        if !self.known.is_empty() {
            found = resident(&self.known);
        }
        if found.is_none() {
            // First read, or the tree changed: find it again.
            self.known = Snapshot::take()
                .tree(&[root])
                .iter()
                .map(|p| p.id)
                .collect();
            if !self.known.contains(&root) {
                self.known.clear();
                return None;
            }
            found = resident(&self.known);
        }
        found.map(|(bytes, unread)| self.reading(bytes, unread))
    }

    /// The reading of the known processes, `bytes` summed over those read.
    fn reading(&mut self, bytes: u64, unread: Vec<u32>) -> Reading {
        let unread_is_news = !unread.is_empty() && !self.told_unread;
        self.told_unread |= !unread.is_empty();
        Reading {
            bytes: (unread.len() < self.known.len()).then_some(bytes),
            unread,
            unread_is_news,
        }
    }
}

/// The summed resident memory of `ids` and the PIDs of those whose memory could not be read,
/// or `None` if one of them no longer runs. sysinfo reads /proc/PID for each of them, which
/// any user may read (Windows: `windows::resident`).
#[cfg(not(windows))]
fn resident(ids: &[ProcId]) -> Option<(u64, Vec<u32>)> {
    let pids: Vec<sysinfo::Pid> = ids
        .iter()
        .map(|id| sysinfo::Pid::from_u32(id.pid))
        .collect();
    let mut sys = System::new();
    sys.refresh_processes_specifics(
        ProcessesToUpdate::Some(&pids),
        true,
        ProcessRefreshKind::nothing().with_memory(),
    );
    let sum = ids.iter().zip(&pids).try_fold(0u64, |sum, (id, pid)| {
        let p = sys.process(*pid).filter(|p| {
            p.start_time() == id.start_time
                && !matches!(p.status(), ProcessStatus::Zombie | ProcessStatus::Dead)
        })?;
        Some(sum + p.memory())
    })?;
    Some((sum, Vec::new()))
}

/// When the machine last booted, in the unit of `ProcId::start_time`: a process that started
/// before it ran in an earlier boot.
pub fn boot_time() -> u64 {
    System::boot_time()
}

/// The identity of a running PID, if it runs.
pub fn identify(pid: u32) -> Option<ProcId> {
    let mut sys = System::new();
    let spid = sysinfo::Pid::from_u32(pid);
    sys.refresh_processes_specifics(
        ProcessesToUpdate::Some(&[spid]),
        true,
        ProcessRefreshKind::nothing(),
    );
    sys.process(spid)
        .filter(|p| !matches!(p.status(), ProcessStatus::Zombie | ProcessStatus::Dead))
        .map(|p| ProcId {
            pid,
            start_time: p.start_time(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(pid: u32, parent: Option<u32>, start: u64, name: &str, cmd: &str) -> ProcessInfo {
        ProcessInfo {
            id: ProcId {
                pid,
                start_time: start,
            },
            parent,
            name: name.into(),
            exe_name: None,
            cmdline: cmd.split(' ').map(String::from).collect(),
        }
    }

    struct M {
        image: String,
        args_contain: Vec<String>,
    }

    fn m(image: &str, args: &[&str]) -> M {
        M {
            image: image.into(),
            args_contain: args.iter().map(|s| s.to_string()).collect(),
        }
    }

    fn matches(m: &M, p: &ProcessInfo) -> bool {
        super::matches(&m.image, &m.args_contain, p)
    }

    /// The helper process of `a_tree_s_memory_is_read_from_its_known_processes`: this test
    /// binary started again with `PACS_TEST_HOARD_MB` set. It fills that many megabytes (every
    /// page written), says so, and waits to be killed.
    #[test]
    #[ignore = "a helper process that another test starts"]
    fn hoard() {
        let Some(mb) = std::env::var("PACS_TEST_HOARD_MB")
            .ok()
            .and_then(|v| v.parse::<usize>().ok())
        else {
            return;
        };
        let hoard = vec![1u8; mb << 20];
        println!("hoarding {}", std::hint::black_box(&hoard).len());
        std::thread::sleep(std::time::Duration::from_secs(300));
        drop(std::hint::black_box(hoard));
    }

    /// The resident memory the old path read on every OS: sysinfo asked for the known PIDs (on
    /// Windows it lists every process for that). For the comparison printed below only.
    fn resident_through_sysinfo(ids: &[ProcId]) -> Option<u64> {
        let pids: Vec<sysinfo::Pid> = ids
            .iter()
            .map(|id| sysinfo::Pid::from_u32(id.pid))
            .collect();
        let mut sys = System::new();
        sys.refresh_processes_specifics(
            ProcessesToUpdate::Some(&pids),
            true,
            ProcessRefreshKind::nothing().with_memory(),
        );
        ids.iter().zip(&pids).try_fold(0u64, |sum, (id, pid)| {
            let p = sys
                .process(*pid)
                .filter(|p| p.start_time() == id.start_time)?;
            Some(sum + p.memory())
        })
    }

    /// Kills the helper whatever happens to the test.
    pub(super) struct Reaped(pub(super) std::process::Child);
    impl Drop for Reaped {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }

    /// Starts `hoard` with `mb` megabytes and returns once it has filled them.
    pub(super) fn hoarder(mb: u64) -> Reaped {
        use std::io::BufRead as _;
        let mut child = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "sys::process::tests::hoard",
                "--ignored",
                "--nocapture",
            ])
            .env("PACS_TEST_HOARD_MB", mb.to_string())
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .map(Reaped)
            .unwrap();
        let mut out = std::io::BufReader::new(child.0.stdout.take().unwrap());
        let mut line = String::new();
        while !line.starts_with("hoarding") {
            line.clear();
            if out.read_line(&mut line).unwrap() == 0 {
                panic!("the helper process ended before it filled its memory");
            }
        }
        child
    }

    #[test]
    fn a_process_runs_until_it_exits_and_only_with_its_own_start_time() {
        let mut child = hoarder(1);
        let id = identify(child.0.id()).unwrap();
        assert!(is_running(id), "a running child read as gone");
        let reused = ProcId {
            pid: id.pid,
            start_time: id.start_time - 3600,
        };
        assert!(!is_running(reused), "the same PID with another start time");
        child.0.kill().unwrap();
        child.0.wait().unwrap();
        // Gone, though `child` still holds its handle (on Windows the process stays openable).
        assert!(!is_running(id), "an exited child read as running");
    }

    #[test]
    fn a_tree_s_memory_is_read_from_its_known_processes() {
        const MB: u64 = 64;
        let mut child = hoarder(MB);
        let id = identify(child.0.id()).unwrap();
        let mut memory = TreeMemory::default();
        let full_reads = || FULL_READS.with(std::cell::Cell::get);

        let before = full_reads();
        let first = memory.read(id).expect("a running process read as gone");
        assert_eq!(first.unread, [0u32; 0], "a child of ours could not be read");
        let first = first.bytes.expect("no process of the tree read");
        assert_eq!(full_reads(), before + 1, "the first read finds the tree");
        assert!(
            first >= MB << 20,
            "{first} bytes read for a process that filled {MB} MB"
        );
        // Later reads ask the known processes only: no full read.
        let second = memory
            .read(id)
            .and_then(|r| r.bytes)
            .expect("a running process read as gone");
        assert!(second >= MB << 20, "{second} bytes on the second read");
        assert_eq!(
            full_reads(),
            before + 1,
            "a later read listed every process"
        );

        // The cost of one read, this way and through sysinfo (printed, not asserted).
        let known = memory.known.clone();
        let time = |read: &dyn Fn() -> Option<u64>| {
            let began = std::time::Instant::now();
            for _ in 0..20 {
                assert!(read().is_some());
            }
            began.elapsed() / 20
        };
        let direct = time(&|| resident(&known).map(|(bytes, _)| bytes));
        let sysinfo = time(&|| resident_through_sysinfo(&known));
        let full = time(&|| Some(Snapshot::take().processes.len() as u64));
        eprintln!(
            "one read of {} known process(es): {direct:?}; through sysinfo: {sysinfo:?}; \
             a full read ({} processes): {full:?}",
            known.len(),
            Snapshot::take().processes.len()
        );

        // The same PID with another start time is another process.
        let reused = ProcId {
            pid: id.pid,
            start_time: id.start_time - 3600,
        };
        assert_eq!(resident(&[reused]), None, "a reused PID was read");
        assert_eq!(resident(&[id, reused]), None);

        child.0.kill().unwrap();
        child.0.wait().unwrap();
        // Gone, though `child` still holds its handle (on Windows the process stays openable).
        assert_eq!(resident(&[id]), None, "an exited process was read");
        assert_eq!(memory.read(id), None, "an exited tree was read");
        drop(child);
        assert_eq!(resident(&[id]), None);
    }

    #[test]
    fn unread_processes_make_a_lower_bound_that_is_news_once_per_root() {
        let id = |pid| ProcId {
            pid,
            start_time: 50,
        };
        let mut memory = TreeMemory {
            root: Some(id(10)),
            known: vec![id(11), id(10)],
            told_unread: false,
        };
        let all_read = memory.reading(300, vec![]);
        assert_eq!(
            (all_read.bytes, all_read.unread_is_news),
            (Some(300), false)
        );
        let first = memory.reading(100, vec![11]);
        assert_eq!(first.bytes, Some(100), "the readable part is a lower bound");
        assert_eq!(first.unread, [11]);
        assert!(
            first.unread_is_news,
            "the first partial reading is not news"
        );
        let again = memory.reading(100, vec![11]);
        assert!(!again.unread_is_news, "a partial reading was news twice");
        let none = memory.reading(0, vec![11, 10]);
        assert_eq!(none.bytes, None, "nothing read reads as 0 bytes");
        // Another worker process (here one that does not run): news again for it.
        assert_eq!(memory.read(id(u32::MAX)), None);
        assert!(
            !memory.told_unread,
            "a new root keeps the old root's warning"
        );
    }

    #[test]
    fn image_and_arguments() {
        let worker = p(
            10,
            None,
            5,
            "celery",
            "/venv/bin/celery worker -n default -P solo",
        );
        assert!(matches(&m("celery", &["-n default"]), &worker));
        assert!(matches(&m("Celery.exe", &[]), &worker));
        assert!(!matches(&m("celery", &["-n other"]), &worker));
        assert!(!matches(&m("python", &[]), &worker));
        // Windows: the image name carries .exe, the first argument a drive-letter path.
        let win = p(
            11,
            None,
            5,
            "celery.exe",
            r"D:\Server Apps\venv\Scripts\celery.exe worker -n default",
        );
        assert!(matches(&m("celery", &["-n default"]), &win));
        // Linux truncates comm to 15 bytes; the first argument still has the full name.
        let long = p(
            12,
            None,
            5,
            "pacs-demo-worke",
            "/x/pacs-demo-worker --name a",
        );
        assert!(matches(&m("pacs-demo-worker", &[]), &long));
        let mut only_comm = long.clone();
        only_comm.cmdline = vec!["worker".into()];
        assert!(matches(&m("pacs-demo-worker", &[]), &only_comm));
        assert!(!matches(
            &m("pacs-demo-workers-b", &[]),
            &p(1, None, 1, "pacs-demo-work", "x")
        ));
    }

    #[test]
    fn tree_is_deepest_first_and_ignores_older_children() {
        let snap = Snapshot {
            processes: vec![
                p(1, None, 1, "init", "init"),
                p(100, Some(1), 50, "celery", "celery worker"),
                p(101, Some(100), 51, "celery", "celery worker child"),
                p(102, Some(101), 52, "python", "grandchild"),
                // Claims 100 as parent but is older: a reused PID's leftover, not a child.
                p(103, Some(100), 10, "sshd", "sshd"),
                p(200, Some(1), 60, "flower", "flower"),
            ],
        };
        let root = ProcId {
            pid: 100,
            start_time: 50,
        };
        let pids: Vec<u32> = snap.tree(&[root]).iter().map(|p| p.id.pid).collect();
        assert_eq!(pids, [102, 101, 100]);
        // A root whose start time differs (reused PID) yields nothing.
        let stale = ProcId {
            pid: 100,
            start_time: 49,
        };
        assert!(snap.tree(&[stale]).is_empty());
    }

    #[test]
    fn the_windows_console_host_is_not_part_of_a_worker_tree() {
        // As seen under Wine and on Windows 8 and later: a console program started without a
        // window gets a conhost.exe child; the worker's own children are its siblings.
        let snap = Snapshot {
            processes: vec![
                p(
                    264,
                    Some(32),
                    50,
                    "celery.exe",
                    r"C:\venv\Scripts\celery.exe worker",
                ),
                p(
                    272,
                    Some(264),
                    50,
                    "conhost.exe",
                    r"C:\windows\system32\conhost.exe --headless",
                ),
                p(
                    280,
                    Some(264),
                    51,
                    "python.exe",
                    r"C:\venv\Scripts\python.exe C:\venv\Scripts\celery.exe worker",
                ),
                p(288, Some(280), 52, "python.exe", "pool child"),
            ],
        };
        let root = ProcId {
            pid: 264,
            start_time: 50,
        };
        let pids: Vec<u32> = snap.tree(&[root]).iter().map(|p| p.id.pid).collect();
        assert_eq!(pids, [288, 280, 264]);
    }
}
