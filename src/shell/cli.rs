//! The command line: argument parsing, running a command, and exit codes.
//!
//! Owns: running each command to a `Result<(), Error>` and, in one place (`run`), printing
//! the error once and turning it into the exit status (`shell::error`: 0 success, 1 the
//! command failed, 2 the schedule file or the command line is wrong). `health` is apart: its
//! exit status is the check's answer (`core::health::State`, 0 OK … 3 UNKNOWN, also for a
//! wrong `health` command line), never an `Error`.

use crate::core::config::{self, Schedule};
use crate::shell::error::{config_error_text, exit, Error};
use crate::sys::clock::{Clock, SystemClock};
use crate::{core::plan, core::report, sys::trust};
use chrono::{DateTime, Utc};
use clap::{Args, Parser, Subcommand};
use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, Parser)]
#[command(
    name = "pacs-warden",
    version,
    about = "Keeps a task-queue worker fit for scheduled PACS queries",
    long_about = "Keeps a task-queue worker (OpenREM's Celery worker) fit for scheduled PACS \
                  queries: restarts it a lead time before each query, DST-correct, without \
                  blind kills.\n\nExit codes: 0 success, 1 the command failed, 2 the schedule \
                  file or the command line is wrong; `health`'s are its answer: 0 OK, 1 WARNING, \
                  2 CRITICAL, 3 UNKNOWN."
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Validate a schedule file and show a short summary.
    ///
    /// Prints every problem as FILE:LINE:COL: field: message and exits 2 when there is any.
    /// Doubtful values (a missing folder or program, a `match` without `args_contain`, …) are
    /// printed as FILE:LINE:COL: field: warning: message, and the exit status stays 0.
    Check(ConfigArg),
    /// List the upcoming restarts (a dry run: nothing is touched).
    ///
    /// With --week, draw the next seven days as a grid of half hours instead.
    Plan(PlanArgs),
    /// Restart workers now: ask them to stop, wait for them, kill what is left (verified
    /// processes only), clear a stale pid file, start and confirm.
    ///
    /// Exits 0 only if every worker ended up started (and ready, where `ready` is set).
    Restart(RestartArgs),
    /// Run the daemon: restart the workers at start and before every query, follow edits of
    /// the schedule file. What Task Scheduler or systemd starts at boot.
    Run(RunArgs),
    /// Show whether the daemon runs, each worker's processes, the last restart of each and the
    /// next restarts.
    ///
    /// When the schedule file is wrong, prints its problems, then all of this for the last good
    /// version the daemon keeps running, and exits 2.
    Status(StatusArgs),
    /// A check for a monitoring system (Nagios plugin conventions): one line
    /// `PACS-WARDEN STATE - text | perfdata`.
    ///
    /// Exits 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN (also for a wrong command line): CRITICAL
    /// when the daemon or a worker is down, supervision gave up, the last restart or the last
    /// run of a query failed; WARNING when a worker is not ready, a restart is deferred past
    /// its query, a query run was skipped, or the daemon rejected the file on disk or runs
    /// another version of it; UNKNOWN when the file or the state cannot be read.
    Health(HealthArgs),
    /// Print the `queries:` of a schedule file from today's crontab or Task Scheduler tasks,
    /// so the query times are typed once. Writes nothing unless --output is given.
    Import(ImportArgs),
    /// Install or remove pacs-warden as a Windows service (Windows only).
    ///
    /// `install` registers `pacs-warden run --config FILE` to start at boot as LocalSystem,
    /// restarted by Windows when it fails (three times, a minute apart). Run it as
    /// Administrator, from where pacs-warden.exe will stay. Start it with `sc start NAME`.
    Service(ServiceArgs),
    /// Internal (Windows): deliver a console event to one verified worker's console. Started
    /// by pacs-warden itself for `stop.signal: CTRL_C | CTRL_BREAK`; prints what it did and
    /// exits with one of `sys::os::console_exit`.
    #[command(name = "__console-event", hide = true)]
    ConsoleEvent(ConsoleEventArgs),
}

#[derive(Debug, Args)]
struct ConsoleEventArgs {
    #[arg(long, value_parser = ["ctrl-c", "ctrl-break"])]
    event: String,
    /// The process whose console gets the event.
    #[arg(long)]
    pid: u32,
    /// Its start time (seconds since the Unix epoch, as `sys::process` reads it).
    #[arg(long)]
    start: u64,
    /// Every verified process of the worker, PID:START; only these may share the console.
    #[arg(long, value_parser = parse_proc_id)]
    tree: Vec<crate::sys::process::ProcId>,
}

fn parse_proc_id(text: &str) -> Result<crate::sys::process::ProcId, String> {
    let (pid, start) = text.split_once(':').ok_or("expected PID:START")?;
    Ok(crate::sys::process::ProcId {
        pid: pid.parse().map_err(|_| "expected PID:START")?,
        start_time: start.parse().map_err(|_| "expected PID:START")?,
    })
}

/// `__console-event`: the helper's side of a console stop (see `sys::os::stop_signal`).
fn console_event_cmd(args: &ConsoleEventArgs) -> u8 {
    use crate::sys::os::Signal;
    let signal = if args.event == "ctrl-break" {
        Signal::CtrlBreak
    } else {
        Signal::CtrlC
    };
    let target = crate::sys::process::ProcId {
        pid: args.pid,
        start_time: args.start,
    };
    let (code, text) = crate::sys::os::deliver_console_event(signal, target, &args.tree);
    println!("{text}");
    code
}

#[derive(Debug, Args)]
struct ServiceArgs {
    #[command(subcommand)]
    action: ServiceAction,
}

#[derive(Debug, Subcommand)]
enum ServiceAction {
    /// Register the service (it starts at the next boot, or with `sc start NAME`).
    Install {
        /// The service's name.
        #[arg(long, default_value = "pacs-warden")]
        name: String,
        #[command(flatten)]
        config: ConfigArg,
    },
    /// Stop the service if it runs (the workers keep running) and remove it.
    Uninstall {
        /// The service's name.
        #[arg(long, default_value = "pacs-warden")]
        name: String,
    },
}

#[derive(Debug, Args)]
struct ImportArgs {
    /// What the file is: a crontab, or a Task Scheduler task exported with
    /// `schtasks /Query /XML /TN NAME`.
    #[arg(value_enum)]
    kind: ImportKind,
    /// The crontab or the exported task (XML, UTF-16 or UTF-8).
    file: PathBuf,
    /// An entry is a query when its command contains this text.
    #[arg(long = "match", value_name = "TEXT", default_value = "openrem_qr.py")]
    match_text: String,
    /// Read the crontab as a system crontab (/etc/crontab, /etc/cron.d: a user field).
    #[arg(long, conflicts_with = "user")]
    system: bool,
    /// Read the crontab as a user crontab (`crontab -e`).
    #[arg(long)]
    user: bool,
    /// Write the schedule to this file instead of printing it.
    #[arg(long, short = 'o', value_name = "FILE")]
    output: Option<PathBuf>,
    /// Overwrite --output if it exists.
    #[arg(long, requires = "output")]
    force: bool,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum ImportKind {
    Crontab,
    Schtasks,
}

#[derive(Debug, Clone, Args)]
struct RunArgs {
    #[command(flatten)]
    config: ConfigArg,
    /// Log what would be done at each time; touch no process.
    #[arg(long)]
    dry_run: bool,
    /// Run as the Windows service NAME (what `service install` registers; for the service
    /// manager only).
    #[arg(long, value_name = "NAME", hide = true)]
    service: Option<String>,
}

#[derive(Debug, Args)]
struct StatusArgs {
    #[command(flatten)]
    config: ConfigArg,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
struct HealthArgs {
    /// The schedule file (YAML).
    #[arg(long, short = 'c', value_name = "FILE")]
    config: PathBuf,
    /// Print one JSON object (state, code, problems, figures) instead of the line.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
struct RestartArgs {
    #[command(flatten)]
    config: ConfigArg,
    /// The workers to restart (default: all).
    #[arg(value_name = "WORKER")]
    workers: Vec<String>,
    /// Print each step and the processes it would touch; change nothing.
    #[arg(long)]
    dry_run: bool,
}

#[derive(Debug, Clone, Args)]
struct ConfigArg {
    /// The schedule file (YAML).
    #[arg(long, short = 'c', value_name = "FILE")]
    config: PathBuf,
    /// Trust files and folders that this user or group (Windows: account name or SID) may
    /// write, besides root / SYSTEM and Administrators (repeatable). Whoever that is can run
    /// any command with pacs-warden's rights: see README, Security.
    #[arg(long, value_name = "NAME")]
    allow_writable_by: Vec<String>,
}

impl ConfigArg {
    fn allowed(&self) -> trust::Allowed {
        trust::Allowed {
            names: self.allow_writable_by.clone(),
        }
    }
}

/// The files and folders whose writers decide what pacs-warden runs or where it writes: the
/// schedule file, its state directory, the daemon's, workers' and queries' log files, the
/// metrics file, and the
/// program file of every command, found the way its runner will find it (a path relative to
/// the command's working directory, a bare name through the `PATH` its `env:` sets or else
/// pacs-warden's own).
fn trust_paths(schedule: &Schedule) -> Vec<(PathBuf, trust::Role)> {
    use trust::Role;
    let mut paths = vec![
        (schedule.path.clone(), Role::Schedule),
        (schedule.state_dir(), Role::StateDir),
    ];
    let mut add = |path: PathBuf, role: Role| {
        if !paths.iter().any(|(p, _)| *p == path) {
            paths.push((path, role));
        }
    };
    let env_path = |env: &[(String, String)]| {
        env.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("PATH"))
            .map(|(_, v)| v.clone())
    };
    // (argv, working directory, the PATH its env sets)
    let mut commands: Vec<(&Vec<String>, PathBuf, Option<String>)> = Vec::new();
    for w in &schedule.workers {
        let dir = schedule.workdir(w);
        let path = env_path(&w.env);
        for argv in [
            w.stop.command.as_ref(),
            w.start().map(|s| &s.command),
            w.ready.as_ref().map(|r| &r.command),
            w.busy.as_ref().map(|b| &b.command),
        ]
        .into_iter()
        .flatten()
        {
            commands.push((argv, dir.clone(), path.clone()));
        }
        if let Some(log) = w.start().and_then(|s| s.log.as_ref()) {
            add(schedule.resolve(log), Role::Log);
        }
    }
    if let Some(a) = &schedule.alert {
        commands.push((&a.command, schedule.base_dir.clone(), None));
    }
    for q in &schedule.queries {
        if let Some(run) = &q.run {
            let dir = schedule.query_workdir(run);
            commands.push((&run.command, dir, env_path(&run.env)));
            add(
                crate::shell::query_run::log_path(schedule, &q.name, run),
                Role::Log,
            );
        }
    }
    if let Some(log) = &schedule.log {
        add(schedule.resolve(&log.file), Role::Log);
    }
    // The daemon replaces it (a temporary file in its folder, renamed): like a log's.
    if let Some(metrics) = &schedule.metrics {
        add(schedule.resolve(&metrics.textfile), Role::Log);
    }
    for (argv, dir, path) in commands {
        let Some(program) = argv.first() else {
            continue;
        };
        if let Some(file) = crate::shell::schedule::locate_program(program, &dir, path.as_deref()) {
            add(file, Role::Program);
        }
    }
    paths
}

/// The trust check's findings for `schedule` when pacs-warden runs privileged (root, or an
/// administrator / LocalSystem); none otherwise: an unprivileged pacs-warden can do nothing
/// its files' writers could not do themselves... beyond its own user's rights (README,
/// Security).
fn untrusted(schedule: &Schedule, allowed: &trust::Allowed) -> Vec<trust::Finding> {
    if !trust::is_privileged() {
        return Vec::new();
    }
    trust::check_all(&trust_paths(schedule), allowed)
}

/// `run` and `restart` refuse a schedule with findings (see `untrusted`).
fn refuse_untrusted(path: &std::path::Path, findings: Vec<trust::Finding>) -> Result<(), Error> {
    if findings.is_empty() {
        return Ok(());
    }
    Err(Error::Untrusted {
        path: path.to_path_buf(),
        findings,
    })
}

#[derive(Debug, Args)]
struct PlanArgs {
    #[command(flatten)]
    config: ConfigArg,
    /// List restarts at or after this instant (RFC 3339, e.g. 2026-03-29T00:00:00+00:00).
    /// Default: now.
    #[arg(long, value_name = "RFC3339", value_parser = parse_instant)]
    from: Option<DateTime<Utc>>,
    /// How many restarts to list.
    #[arg(long, value_name = "N", conflicts_with = "until", default_value_t = 10)]
    count: usize,
    /// List the restarts before this instant (RFC 3339) instead of a count.
    #[arg(long, value_name = "RFC3339", value_parser = parse_instant)]
    until: Option<DateTime<Utc>>,
    /// Print one JSON array instead of a table.
    #[arg(long)]
    json: bool,
    /// Draw the day of --from and the six after it as a grid, a column per half hour, marking
    /// restarts and query runs (colour only on a terminal, and not when NO_COLOR is set).
    #[arg(long, conflicts_with_all = ["count", "until", "json"])]
    week: bool,
}

fn parse_instant(text: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| {
            format!("`{text}` is not an RFC 3339 time ({e}); write e.g. 2026-03-29T06:00:00+01:00")
        })
}

/// Runs pacs-warden with the process's arguments and the system clock.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        // A monitoring system reads a wrong `health` command line as UNKNOWN (3), not as
        // CRITICAL (clap's 2).
        Err(e) if e.use_stderr() && std::env::args_os().nth(1).is_some_and(|a| a == "health") => {
            let _ = e.print();
            return ExitCode::from(crate::core::health::State::Unknown.code());
        }
        Err(e) => e.exit(),
    };
    ExitCode::from(run(cli, &SystemClock))
}

/// Runs a parsed command line; returns the exit status.
pub fn run(cli: Cli, clock: &dyn Clock) -> u8 {
    exit_status(match cli.command {
        // `health`'s exit status is its answer (0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN), not an
        // `Error`: it never fails as a command, a file it cannot read is its UNKNOWN.
        Command::Health(args) => return health_cmd(&args, clock),
        Command::Check(args) => check(&args, clock),
        Command::Plan(args) => plan_cmd(&args, clock),
        Command::Restart(args) => restart_cmd(&args, clock),
        Command::Run(args) => run_cmd(&args),
        Command::Status(args) => status_cmd(&args, clock),
        Command::Import(args) => import_cmd(&args, clock),
        Command::Service(args) => service_cmd(&args),
        Command::ConsoleEvent(args) => return console_event_cmd(&args),
    })
}

/// The one place an error is printed (on stderr; the daemon's also to the Event Log) and
/// turned into the exit status.
fn exit_status(result: Result<(), Error>) -> u8 {
    let Err(e) = result else {
        return exit::OK;
    };
    let text = e.to_string();
    if !text.is_empty() {
        eprintln!("{text}");
    }
    // Started unattended (a service, a scheduled task): why the daemon cannot start, or why
    // it stopped, goes to the Event Log too.
    match &e {
        Error::NotStarted(_)
        | Error::Daemon(
            crate::shell::daemon::DaemonError::Config(_)
            | crate::shell::daemon::DaemonError::Untrusted(_),
        ) => {
            let lines: Vec<&str> = text.lines().collect();
            crate::sys::os::eventlog::lines("start_failed", &lines);
        }
        Error::Daemon(_) => crate::sys::os::eventlog::lines("error", &[&text]),
        _ => {}
    }
    e.code()
}

fn import_cmd(args: &ImportArgs, clock: &dyn Clock) -> Result<(), Error> {
    use crate::core::import;
    let path = &args.file;
    let bytes = std::fs::read(path)
        .map_err(|e| Error::Usage(format!("{}: cannot read: {e}", path.display())))?;
    let opts = import::Options {
        match_text: args.match_text.clone(),
        system: match (args.system, args.user) {
            (true, _) => Some(true),
            (_, true) => Some(false),
            _ => None,
        },
        today: Some(clock.now().date_naive()),
    };
    let imported = match args.kind {
        ImportKind::Crontab => match String::from_utf8(bytes) {
            Ok(text) => import::import_crontab(&text, &opts),
            Err(e) => {
                return Err(Error::Usage(format!(
                    "{}: not UTF-8 text: {e}",
                    path.display()
                )))
            }
        },
        ImportKind::Schtasks => {
            import::decode_xml_bytes(&bytes).and_then(|xml| import::import_schtasks(&xml, &opts))
        }
    };
    let imported = imported.map_err(|source| Error::Import {
        path: path.clone(),
        source,
    })?;
    if imported.queries.is_empty() {
        // No schedule to write: say why.
        // Crontab text is shown escaped: it must not split a line or drive the terminal.
        use crate::core::text::escape;
        for note in &imported.notes {
            eprintln!("note: {}", escape(note));
        }
        for skip in &imported.skipped {
            eprintln!(
                "skipped line {}: {} ({})",
                skip.line,
                escape(&skip.what),
                escape(&skip.reason)
            );
        }
        eprintln!("{}: no query found; nothing written", path.display());
        return Ok(());
    }
    let yaml = import::to_yaml(&imported, &path.display().to_string());
    match &args.output {
        None => {
            print!("{yaml}");
            Ok(())
        }
        Some(out) => {
            let mut options = std::fs::OpenOptions::new();
            options.write(true);
            if args.force {
                options.create(true).truncate(true);
            } else {
                options.create_new(true);
            }
            match options
                .open(out)
                .and_then(|mut f| f.write_all(yaml.as_bytes()))
            {
                Ok(()) => {
                    eprintln!(
                        "{}: {} queries written; check it with `pacs-warden check --config {}`",
                        out.display(),
                        imported.queries.len(),
                        out.display()
                    );
                    Ok(())
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Err(Error::Failed(
                    format!("{} exists; not overwriting it (use --force)", out.display()),
                )),
                Err(e) => Err(Error::io(out.display().to_string())(e)),
            }
        }
    }
}

fn runtime() -> Result<tokio::runtime::Runtime, Error> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(Error::io("cannot start the async runtime"))
}

fn run_cmd(args: &RunArgs) -> Result<(), Error> {
    let Some(name) = args.service.clone() else {
        return run_daemon(args, None);
    };
    let owned = args.clone();
    // The service manager gets the exit status; the error is printed (and logged) as always.
    let code = crate::sys::os::service::run(&name, move |events| {
        exit_status(run_daemon(&owned, Some(events)))
    })
    .map_err(Error::io(format!(
        "cannot run as the Windows service {name}"
    )))?;
    match code {
        exit::OK => Ok(()),
        code => Err(Error::ServiceExit(code)),
    }
}

/// `pacs-warden service install|uninstall`.
fn service_cmd(args: &ServiceArgs) -> Result<(), Error> {
    match &args.action {
        ServiceAction::Install { name, config } => {
            let config_arg = config;
            // The service manager starts us in C:\Windows\System32: register absolute paths,
            // and only a schedule that loads.
            let config = std::path::absolute(&config.config)
                .map_err(|e| Error::Usage(format!("{}: {e}", config.config.display())))?;
            let schedule = crate::shell::schedule::load(&config)?;
            // The service runs as LocalSystem: refuse a schedule that others may change
            // (README, Security). The folder the examples use is created restricted.
            if let Some(ours) = crate::sys::os::program_data_dir() {
                trust::safe_create_dir_all(&ours)
                    .map_err(Error::io(format!("cannot create {}", ours.display())))?;
            }
            if trust::is_privileged() {
                let findings = trust::check_all(&trust_paths(&schedule), &config_arg.allowed());
                refuse_untrusted(&config, findings)?;
            }
            let exe =
                std::env::current_exe().map_err(Error::io("cannot find pacs-warden's own path"))?;
            match crate::sys::os::service::install(
                name,
                &exe,
                &config,
                &config_arg.allow_writable_by,
            ) {
                Ok(recovery) => {
                    let allowed: String = config_arg
                        .allow_writable_by
                        .iter()
                        .map(|a| format!(" --allow-writable-by \"{a}\""))
                        .collect();
                    println!(
                        "Installed the service {name}: {} run --config \"{}\"{allowed}",
                        exe.display(),
                        config.display()
                    );
                    match recovery {
                        crate::sys::os::Recovery::Set => println!(
                            "It starts at boot (automatic, as LocalSystem) and is restarted when it fails. Start it now with: sc start {name}"
                        ),
                        crate::sys::os::Recovery::Unsupported => println!(
                            "It starts at boot (automatic, as LocalSystem). warning: this service manager cannot restart it on failure (no recovery settings). Start it now with: sc start {name}"
                        ),
                    }
                    Ok(())
                }
                Err(e) => Err(Error::Failed(e.to_string())),
            }
        }
        ServiceAction::Uninstall { name } => match crate::sys::os::service::uninstall(name) {
            Ok(()) => {
                println!("Removed the service {name} (the workers it started keep running).");
                Ok(())
            }
            Err(e) => Err(Error::Failed(e.to_string())),
        },
    }
}

/// The daemon, stopped by OS signals and, when `service_events` is given, by the Windows
/// service manager.
fn run_daemon(
    args: &RunArgs,
    service_events: Option<tokio::sync::mpsc::UnboundedReceiver<crate::sys::os::OsEvent>>,
) -> Result<(), Error> {
    use crate::shell::daemon::{self, Options};
    let path = &args.config.config;
    // Started unattended (a service, a scheduled task): why it cannot start goes to the
    // Event Log too (`NotStarted`).
    let not_started = |e: Error| Error::NotStarted(Box::new(e));
    let schedule = crate::shell::schedule::load(path).map_err(|e| not_started(e.into()))?;
    let allowed = args.config.allowed();
    refuse_untrusted(path, untrusted(&schedule, &allowed)).map_err(not_started)?;
    let log_file = schedule
        .log
        .as_ref()
        .map(|l| (schedule.resolve(&l.file), l));
    crate::shell::logging::init_daemon(log_file.as_ref().map(|(p, l)| (p.as_path(), *l)))
        .map_err(|e| not_started(Error::Usage(format!("{}: {e}", path.display()))))?;
    crate::sys::os::eventlog::lines(
        "started",
        &[&format!(
            "pacs-warden started with the schedule {}",
            path.display()
        )],
    );
    let runtime = runtime()?;
    runtime.block_on(async {
        let (tx, rx) = tokio::sync::mpsc::channel(4);
        let mut signals =
            crate::sys::os::Signals::new().map_err(Error::io("cannot listen for stop requests"))?;
        if let Some(mut events) = service_events {
            let tx = tx.clone();
            tokio::spawn(async move {
                while let Some(event) = events.recv().await {
                    tracing::info!(?event, "request from the Windows service manager");
                    if tx.send(event.into()).await.is_err() {
                        break;
                    }
                }
            });
        }
        tokio::spawn(async move {
            loop {
                let event = signals.recv().await;
                tracing::info!(?event, "request from the operating system");
                if tx.send(event.into()).await.is_err() {
                    break;
                }
            }
        });
        let opts = Options {
            config: path.clone(),
            dry_run: args.dry_run,
            vet: Some(std::sync::Arc::new(move |s: &Schedule| {
                untrusted(s, &allowed)
                    .iter()
                    .map(|f| format!("{}: {f}", s.path.display()))
                    .collect()
            })),
        };
        daemon::run(opts, std::sync::Arc::new(SystemClock), rx).await?;
        crate::sys::os::eventlog::lines(
            "stopped",
            &[&format!(
                "pacs-warden stopped (schedule {})",
                path.display()
            )],
        );
        Ok(())
    })
}

/// Exits 2 when the file is wrong, after showing (from the state directory) the last good
/// version the daemon runs.
fn status_cmd(args: &StatusArgs, clock: &dyn Clock) -> Result<(), Error> {
    let path = &args.config.config;
    let (schedule, problems) = match crate::shell::schedule::load(path) {
        Ok(s) => (s, Vec::new()),
        Err(e) => {
            let problems = crate::shell::status::problem_lines(&e);
            match crate::shell::status::last_good(path) {
                Some(s) => {
                    // The problems first, above the status of the version that runs.
                    eprintln!("{}", config_error_text(&e));
                    (s, problems)
                }
                None => return Err(e.into()),
            }
        }
    };
    let mut status = crate::shell::status::gather(&schedule, clock.now());
    status.problems = problems;
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&status).expect("plain data")
        );
    } else {
        print!("{}", crate::shell::status::render(&schedule, &status));
    }
    if status.problems.is_empty() {
        Ok(())
    } else {
        Err(Error::StatusOfWrongSchedule)
    }
}

/// Prints the monitoring line (or `--json`'s object) on stdout; returns the check's state as
/// the exit status.
fn health_cmd(args: &HealthArgs, clock: &dyn Clock) -> u8 {
    let health = crate::shell::health::check(&args.config, clock.now());
    let text = if args.json {
        serde_json::to_string(&health).expect("plain data")
    } else {
        crate::core::health::line(&health)
    };
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{text}").and_then(|()| out.flush());
    health.code
}

/// The workers named on the command line (all when none).
fn select_workers<'s>(
    schedule: &'s Schedule,
    path: &std::path::Path,
    names: &[String],
) -> Result<Vec<&'s config::Worker>, Error> {
    if schedule.workers.is_empty() {
        return Err(Error::Usage(format!(
            "{}: the schedule defines no workers; add a `workers:` section",
            path.display()
        )));
    }
    if names.is_empty() {
        return Ok(schedule.workers.iter().collect());
    }
    let mut out = Vec::new();
    for name in names {
        match schedule.workers.iter().find(|w| &w.name == name) {
            Some(w) => out.push(w),
            None => {
                let known: Vec<&str> = schedule.workers.iter().map(|w| w.name.as_str()).collect();
                return Err(Error::Usage(format!(
                    "{}: no worker named `{name}`; workers defined: {}",
                    path.display(),
                    known.join(", ")
                )));
            }
        }
    }
    Ok(out)
}

fn restart_cmd(args: &RestartArgs, clock: &dyn Clock) -> Result<(), Error> {
    let path = &args.config.config;
    let schedule = crate::shell::schedule::load(path)?;
    let workers = select_workers(&schedule, path, &args.workers)?;
    print_warnings(&schedule);
    refuse_untrusted(path, untrusted(&schedule, &args.config.allowed()))?;
    let store = crate::shell::state::Store::new(schedule.state_dir());
    if args.dry_run {
        println!("Dry run: nothing will be changed.");
        for w in workers {
            print!("{}", crate::shell::sequence::describe(&schedule, w, &store));
        }
        return Ok(());
    }
    // Logged like the daemon: to stderr and the schedule's `log:` file.
    let log_file = schedule
        .log
        .as_ref()
        .map(|l| (schedule.resolve(&l.file), l));
    if let Err(e) =
        crate::shell::logging::init_daemon(log_file.as_ref().map(|(p, l)| (p.as_path(), *l)))
    {
        eprintln!("warning: {}: {e}; logging to stderr only", path.display());
        crate::shell::logging::init();
    }
    let runtime = runtime()?;
    let mut all_ok = true;
    for w in workers {
        let outcome =
            runtime.block_on(crate::shell::sequence::restart(&schedule, w, &store, clock));
        println!(
            "{}: {} ({:.2} s)",
            w.name,
            outcome.summary(),
            outcome.elapsed.as_secs_f64()
        );
        all_ok &= outcome.ok();
    }
    if all_ok {
        Ok(())
    } else {
        Err(Error::RestartFailed)
    }
}

/// Prints a valid schedule's warnings on stderr, one line each.
fn print_warnings(schedule: &Schedule) {
    if !schedule.warnings.is_empty() {
        eprintln!(
            "{}",
            config::Problems {
                path: Some(&schedule.path),
                problems: &schedule.warnings,
            }
        );
    }
}

fn check(args: &ConfigArg, clock: &dyn Clock) -> Result<(), Error> {
    let path = &args.config;
    let schedule = crate::shell::schedule::load(path)?;
    print_warnings(&schedule);
    let now = clock.now();
    let next = plan::restarts(&schedule, now).next();
    print!(
        "{}",
        report::check_summary(path, &schedule, next.as_ref(), now)
    );
    for f in untrusted(&schedule, &args.allowed()) {
        eprintln!(
            "{}: warning: {f} (`run` and `restart` refuse this file until it is fixed)",
            path.display()
        );
    }
    Ok(())
}

fn plan_cmd(args: &PlanArgs, clock: &dyn Clock) -> Result<(), Error> {
    let schedule = crate::shell::schedule::load(&args.config.config)?;
    let from = args.from.unwrap_or_else(|| clock.now());
    let all = plan::restarts(&schedule, from);
    let (until, count) = match args.until {
        Some(until) => (until, usize::MAX),
        None => (DateTime::<Utc>::MAX_UTC, args.count),
    };
    let restarts = all.take_while(|r| r.at < until).take(count);
    let written = if args.week {
        let restarts = crate::core::week::restarts(&schedule, from);
        let colour = wants_colour(
            crate::sys::os::stdout_takes_colour(),
            std::env::var_os("NO_COLOR").as_deref(),
            std::env::var_os("TERM").as_deref(),
        );
        let text = crate::core::week::render(&schedule, &restarts, from, colour);
        let mut out = std::io::stdout().lock();
        out.write_all(text.as_bytes()).and_then(|()| out.flush())
    } else if args.json {
        write_beside(|out| {
            report::write_plan_json(&mut *out, &schedule, restarts).and_then(|()| writeln!(out))
        })
    } else {
        let restarts: Vec<_> = restarts.collect();
        let mut out = std::io::stdout().lock();
        out.write_all(report::plan_table(&schedule, &restarts, from).as_bytes())
            .and_then(|()| out.flush())
    };
    match written {
        Ok(()) => Ok(()),
        // A closed pipe (`plan | head`) is the reader's choice, not a failure.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(Error::io("cannot write the plan")(e)),
    }
}

/// Whether to colour what is drawn for people (`plan --week`): only when stdout is a terminal
/// that shows colour (`takes_colour`), `NO_COLOR` is unset or empty (no-color.org) and `TERM`
/// is not `dumb`.
fn wants_colour(
    takes_colour: bool,
    no_color: Option<&std::ffi::OsStr>,
    term: Option<&std::ffi::OsStr>,
) -> bool {
    takes_colour && no_color.is_none_or(|v| v.is_empty()) && term.is_none_or(|t| t != "dumb")
}

/// Runs `produce` with a writer whose blocks a second thread writes to stdout, so that planning
/// goes on while the previous blocks go out: a year of `plan --json` is some 40 MB, and pushing
/// it through a pipe costs about as much as planning it. The writing thread's error (say a
/// closed pipe) comes first.
fn write_beside(
    produce: impl FnOnce(&mut dyn std::io::Write) -> std::io::Result<()>,
) -> std::io::Result<()> {
    /// Hands each block (of 64 KiB, say) to the writing thread.
    struct Blocks {
        to_writer: std::sync::mpsc::SyncSender<Vec<u8>>,
        block: Vec<u8>,
    }
    impl Blocks {
        fn send(&mut self) -> std::io::Result<()> {
            let block = std::mem::replace(&mut self.block, Vec::with_capacity(1 << 16));
            self.to_writer
                .send(block)
                .map_err(|_| std::io::ErrorKind::BrokenPipe.into())
        }
    }
    impl std::io::Write for Blocks {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.block.extend_from_slice(buf);
            if self.block.len() >= 1 << 16 {
                self.send()?;
            }
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            if self.block.is_empty() {
                Ok(())
            } else {
                self.send()
            }
        }
    }

    let (to_writer, blocks) = std::sync::mpsc::sync_channel::<Vec<u8>>(8);
    std::thread::scope(|scope| {
        let writer = scope.spawn(move || {
            let mut out = std::io::stdout().lock();
            for block in blocks {
                out.write_all(&block)?;
            }
            out.flush()
        });
        let mut out = Blocks {
            to_writer,
            block: Vec::with_capacity(1 << 16),
        };
        let produced = produce(&mut out).and_then(|()| out.flush());
        drop(out);
        let written = writer
            .join()
            .unwrap_or_else(|_| Err(std::io::Error::other("the thread writing the plan failed")));
        written.and(produced)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::os::eventlog::{self, Level};

    #[test]
    fn colour_only_on_a_terminal_without_no_color() {
        use std::ffi::OsStr;
        let none: Option<&OsStr> = None;
        let some = |s: &'static str| Some(OsStr::new(s));
        assert!(wants_colour(true, none, none));
        assert!(wants_colour(true, none, some("xterm-256color")));
        // no-color.org: set to anything but the empty string.
        assert!(wants_colour(true, some(""), none));
        assert!(!wants_colour(true, some("1"), none));
        assert!(!wants_colour(true, some("0"), none));
        assert!(!wants_colour(true, none, some("dumb")));
        assert!(!wants_colour(false, none, some("xterm")));
    }

    /// `run` with a wrong schedule (a service starts it so) writes `check`'s messages to the
    /// Event Log as one `start_failed` event, a line each, before it exits 2.
    #[test]
    fn a_daemon_that_cannot_start_writes_the_check_messages_to_the_event_log() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad schedule.yaml");
        std::fs::write(&path, "timezone: Nowhere/Bad\nworkers: 3\n").unwrap();
        let cli = Cli::try_parse_from(["pacs-warden", "run", "--config", &path.to_string_lossy()])
            .unwrap();
        let mut code = None;
        let events = eventlog::recorded(|| code = Some(run(cli, &SystemClock)));
        assert_eq!(code, Some(exit::CONFIG));
        assert_eq!(events.len(), 1, "{events:?}");
        let (id, level) = eventlog::id_of("start_failed");
        assert_eq!((events[0].id, events[0].level), (id, level));
        assert_eq!(level, Level::Error);
        let lines: Vec<&str> = events[0].text.split("\r\n").collect();
        let Err(config::ConfigError::Invalid { problems, .. }) =
            crate::shell::schedule::load(&path)
        else {
            panic!("the schedule loads")
        };
        assert_eq!(lines.len(), problems.len() + 1, "{lines:?}");
        let shown = path.display().to_string();
        assert!(lines.iter().all(|l| l.contains(&shown)), "{lines:?}");
        assert!(lines[0].starts_with(&format!("{shown}:1:")), "{lines:?}");
        assert!(lines
            .iter()
            .any(|l| l.contains("timezone: unknown time zone `Nowhere/Bad`")));
        assert_eq!(
            lines.last().unwrap(),
            &format!("error: {shown}: {} problems found", problems.len())
        );
    }
}
