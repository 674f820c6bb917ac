//! The `lakesync` binary: parse arguments, run the library, map the result to an exit code.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use lakesync::cli::{
    Cli, Command, FailOnArg, FormatArg, LogFormat, MergeArgs, PlanArgs, ReportAction, ReportArgs,
    Shell, SyncArgs, VerifyArgs,
};
use lakesync::commands::sync::RunError;
use lakesync::error::{EnvError, UsageError};
use lakesync::exit_codes;
use lakesync::settings::{Env, ReportTarget, Settings};

fn init_logging(verbose: u8, format: LogFormat) {
    let default = match verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("LAKESYNC_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(format!("lakesync={default}")));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(
            std::env::var_os("NO_COLOR").is_none()
                && std::io::IsTerminal::is_terminal(&std::io::stderr()),
        )
        .with_target(false);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().flatten_event(true).init(),
    }
}

fn fail(code: i32, message: &str, hint: &str) -> ExitCode {
    eprintln!("error: {message}");
    if !hint.is_empty() {
        eprintln!("hint: {hint}");
    }
    ExitCode::from(code as u8)
}

fn usage(e: &UsageError) -> ExitCode {
    fail(exit_codes::USAGE, &e.message, &e.hint)
}

fn env_error(e: &EnvError) -> ExitCode {
    fail(exit_codes::ENVIRONMENT, &e.message, &e.hint)
}

/// Refuse a report path whose folder does not exist before doing any work.
fn check_report_target(target: &Option<ReportTarget>) -> Result<(), UsageError> {
    if let Some(ReportTarget::File(p)) = target {
        let parent = p
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        if !parent.is_dir() {
            return Err(UsageError::new(
                format!(
                    "invalid --report value {:?}: the folder {} does not exist",
                    p.display().to_string(),
                    parent.display()
                ),
                "create the folder first, or pass --report - to print the report on stdout",
            ));
        }
    }
    Ok(())
}

/// Write the report atomically (temp file + rename), so a reader never sees half of it.
fn write_report(report: &impl serde::Serialize, target: &ReportTarget) -> std::io::Result<()> {
    let mut json = serde_json::to_vec_pretty(report).map_err(std::io::Error::other)?;
    json.push(b'\n');
    match target {
        ReportTarget::Stdout => {
            let mut out = std::io::stdout().lock();
            out.write_all(&json)?;
            out.flush()
        }
        ReportTarget::File(p) => {
            let dir = p
                .parent()
                .filter(|d| !d.as_os_str().is_empty())
                .unwrap_or(Path::new("."));
            let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
            tmp.write_all(&json)?;
            tmp.as_file().sync_all()?;
            tmp.persist(p).map_err(|e| e.error)?;
            Ok(())
        }
    }
}

/// Output options from the global flags.
#[derive(Clone, Copy)]
struct Ui {
    quiet: bool,
    progress_interval: u64,
}

fn run_plan(args: &PlanArgs, ui: Ui) -> ExitCode {
    let (mut settings, rt) = match resolve(&args.sync, ui).and_then(|s| runtime().map(|r| (s, r))) {
        Ok(x) => x,
        Err(code) => return code,
    };
    settings.dry_run = true;
    let groups = std::sync::Arc::new(std::sync::Mutex::new(
        lakesync::plan::view::PlanGroups::default(),
    ));
    let result = rt.block_on(async {
        lakesync::commands::sync::run_with(
            &settings,
            install_signals().map_err(RunError::Env)?,
            Some(groups.clone()),
        )
        .await
    });
    let report = match result {
        Ok(r) => r,
        Err(RunError::Env(e)) => return env_error(&e),
    };
    if let Some(e) = &report.error {
        eprintln!("error: {}\nhint: {}", e.message, e.hint);
        return ExitCode::from(report.exit_code as u8);
    }
    let (start, end) = settings
        .selection
        .as_ref()
        .map_or((None, None), |s| s.date_range());
    // How the selection's open folders would be listed (discovery + the cost choice).
    let listing = rt.block_on(async {
        let interrupt = lakesync::os::signals::Interrupt::never();
        lakesync::commands::plan::listing_choices(&settings, &interrupt).await
    });
    let listing = match listing {
        Ok(l) => Some(l),
        Err(e) => {
            eprintln!("warning: {}\nhint: {}", e.message, e.hint);
            None
        }
    };
    let Ok(g) = groups.lock() else {
        return fail(exit_codes::INTERNAL, "the plan was not readable", "");
    };
    let text = match args.format {
        FormatArg::Text => g.render_table(start, end),
        FormatArg::Json => {
            let mut j = g.to_json(start, end);
            j["source"] = serde_json::json!(report.source);
            j["dest"] = serde_json::json!(report.dest);
            j["selection"] = serde_json::json!(report.selection);
            j["batches"] = serde_json::json!(report.totals.batches);
            if let Some((choices, counts)) = &listing
                && !choices.is_empty()
            {
                j["listing"] = serde_json::json!({
                    "discovery_requests": counts.requests,
                    "folders": choices,
                });
            }
            serde_json::to_string_pretty(&j).unwrap_or_default() + "\n"
        }
    };
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
    if !ui.quiet {
        if let Some((choices, counts)) = &listing
            && !choices.is_empty()
        {
            eprintln!("listing ({} discovery requests):", counts.requests);
            for c in choices {
                eprintln!("  {c}");
            }
        }
        eprint!("{}", report.human_summary());
    }
    ExitCode::from(report.exit_code as u8)
}

fn runtime() -> Result<tokio::runtime::Runtime, ExitCode> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| {
            fail(
                exit_codes::ENVIRONMENT,
                &format!("cannot start the async runtime: {e}"),
                "",
            )
        })
}

fn resolve(args: &SyncArgs, ui: Ui) -> Result<Settings, ExitCode> {
    let mut settings = Settings::resolve(args, &Env::from_process()).map_err(|e| usage(&e))?;
    settings.quiet = ui.quiet;
    settings.progress_interval = ui.progress_interval;
    check_report_target(&settings.report).map_err(|e| usage(&e))?;
    Ok(settings)
}

/// Write the report where asked; returns the exit code to use (Err: exit now, quietly).
fn emit(
    report: &impl serde::Serialize,
    target: Option<&ReportTarget>,
    code: i32,
) -> Result<i32, ExitCode> {
    if let Some(target) = target
        && let Err(e) = write_report(report, target)
    {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            // The reader went away (`| head`): nothing more to say.
            return Err(ExitCode::from(code as u8));
        }
        eprintln!(
            "error: cannot write the report: {e}\nhint: check the --report path and free space"
        );
        if code == exit_codes::OK {
            return Ok(exit_codes::ENVIRONMENT);
        }
    }
    Ok(code)
}

fn install_signals() -> Result<lakesync::os::signals::Interrupt, EnvError> {
    lakesync::os::signals::install()
        .map_err(|e| EnvError::new(format!("cannot install signal handlers: {e}"), ""))
}

fn run_verify(args: &VerifyArgs, ui: Ui) -> ExitCode {
    let quiet = ui.quiet;
    let (settings, rt) = match resolve(&args.sync, ui).and_then(|s| runtime().map(|r| (s, r))) {
        Ok(x) => x,
        Err(code) => return code,
    };
    let result = rt.block_on(async {
        lakesync::validate::verify::run(&settings, args.deep, install_signals()?).await
    });
    let report = match result {
        Ok(r) => r,
        Err(e) => return env_error(&e),
    };
    let code = match emit(&report, settings.report.as_ref(), report.exit_code) {
        Ok(c) => c,
        Err(code) => return code,
    };
    if !quiet {
        eprint!("{}", report.human_summary());
    }
    ExitCode::from(code as u8)
}

fn run_sync(args: &SyncArgs, ui: Ui) -> ExitCode {
    let quiet = ui.quiet;
    let (settings, rt) = match resolve(args, ui).and_then(|s| runtime().map(|r| (s, r))) {
        Ok(x) => x,
        Err(code) => return code,
    };
    let result = rt.block_on(async {
        lakesync::commands::sync::run(&settings, install_signals().map_err(RunError::Env)?).await
    });
    let report = match result {
        Ok(r) => r,
        Err(RunError::Env(e)) => return env_error(&e),
    };
    if let Some(e) = &report.error {
        eprintln!("error: {}\nhint: {}", e.message, e.hint);
    }
    let code = match emit(&report, settings.report.as_ref(), report.exit_code) {
        Ok(c) => c,
        Err(code) => return code,
    };
    if !quiet {
        eprint!("{}", report.human_summary());
    }
    if settings.summary_line {
        let mut out = std::io::stdout().lock();
        // A closed pipe is not worth a message; the exit code still says how it went.
        let _ = writeln!(out, "{}", report.summary_line()).and_then(|()| out.flush());
    }
    ExitCode::from(code as u8)
}

fn run_merge(args: &MergeArgs) -> ExitCode {
    let mut reports = Vec::with_capacity(args.reports.len());
    for p in &args.reports {
        let name = p.display().to_string();
        let text = match std::fs::read_to_string(p) {
            Ok(t) => t,
            Err(e) => {
                return usage(&UsageError::new(
                    format!("cannot read report {name}: {e}"),
                    "pass the files written by `lakesync sync --report PATH`",
                ));
            }
        };
        match serde_json::from_str::<serde_json::Value>(&text) {
            Ok(v) => reports.push((name, v)),
            Err(e) => {
                return usage(&UsageError::new(
                    format!("report {name} is not JSON: {e}"),
                    "pass the files written by `lakesync sync --report PATH` (not a --summary-line)",
                ));
            }
        }
    }
    let fail_on = args.fail_on.map(|f| match f {
        FailOnArg::Warning => lakesync::report::sla::Status::Warning,
        FailOnArg::Critical => lakesync::report::sla::Status::Critical,
    });
    let merged = match lakesync::report::merge::merge(&reports, fail_on) {
        Ok(m) => m,
        Err(e) => return usage(&e),
    };
    let code = merged["exit_code"].as_i64().unwrap_or(0) as u8;
    if write_report(&merged, &ReportTarget::Stdout).is_err() {
        return ExitCode::from(code);
    }
    let t = &merged["totals"];
    eprintln!(
        "lakesync report merge: {} shard report(s): {} planned, {} copied, {} failed, {} validated; SLA {}",
        reports.len(),
        t["planned"],
        t["copied"],
        t["failed"],
        t["validated"],
        merged["sla_status"].as_str().unwrap_or("?")
    );
    ExitCode::from(code)
}

/// `lakesync report --html OUT INPUT`: a run report (JSON) or a history file (JSON lines).
fn run_html(input: &std::path::Path, out: &std::path::Path) -> ExitCode {
    let text = match std::fs::read_to_string(input) {
        Ok(t) => t,
        Err(e) => {
            return usage(&UsageError::new(
                format!("cannot read {}: {e}", input.display()),
                "pass a report (sync --report PATH) or a history file (sync --history PATH)",
            ));
        }
    };
    let page = match serde_json::from_str::<serde_json::Value>(&text) {
        Ok(report) if report.get("command").is_some() => {
            lakesync::report::html::render_run(&report)
        }
        _ => {
            match lakesync::report::history::summarise_reader(std::io::Cursor::new(text.as_bytes()))
            {
                Ok(s) if s.runs > 0 => match serde_json::to_value(&s) {
                    Ok(v) => lakesync::report::html::render_history(&v),
                    Err(e) => {
                        return fail(exit_codes::INTERNAL, &format!("cannot render: {e}"), "");
                    }
                },
                _ => {
                    return usage(&UsageError::new(
                        format!(
                            "{} is neither a lakesync report nor a history file",
                            input.display()
                        ),
                        "pass the file written by `sync --report PATH`, `report merge`, or `sync --history PATH`",
                    ));
                }
            }
        }
    };
    if let Err(e) = lakesync::report::metrics::write_atomic(out, &page) {
        return fail(
            exit_codes::ENVIRONMENT,
            &format!("cannot write {}: {e}", out.display()),
            "check that the folder exists and is writable",
        );
    }
    eprintln!("lakesync report: wrote {}", out.display());
    ExitCode::SUCCESS
}

fn run_report(args: &ReportArgs) -> ExitCode {
    if let Some(ReportAction::Merge(m)) = &args.action {
        return run_merge(m);
    }
    let Some(history) = &args.history else {
        return usage(&UsageError::new(
            "lakesync report needs a history file or `merge REPORT...`",
            "lakesync report HISTORY.jsonl, or lakesync report merge shard-*.json",
        ));
    };
    if let Some(out) = &args.html {
        return run_html(history, out);
    }
    let summary = match lakesync::report::history::summarise(history) {
        Ok(s) => s,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return usage(&UsageError::new(
                format!("history file {} does not exist", history.display()),
                "pass the file given to `lakesync sync --history PATH`",
            ));
        }
        Err(e) => {
            return fail(
                exit_codes::ENVIRONMENT,
                &format!("cannot read history file {}: {e}", history.display()),
                "check the path and its permissions",
            );
        }
    };
    let text = match args.format {
        FormatArg::Text => lakesync::report::history::render_text(&summary),
        FormatArg::Json => match serde_json::to_string_pretty(&summary) {
            Ok(j) => j + "\n",
            Err(e) => {
                return fail(
                    exit_codes::INTERNAL,
                    &format!("cannot render JSON: {e}"),
                    "",
                );
            }
        },
    };
    let mut out = std::io::stdout().lock();
    if out
        .write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .is_err()
    {
        // A closed pipe (`| head`) is not an error worth a message.
        return ExitCode::SUCCESS;
    }
    ExitCode::SUCCESS
}

/// Parse the command line with the config file's values as defaults (flags > env > config
/// > built-in defaults). clap reports its own usage errors and exits 2.
fn parse_cli(argv: &[std::ffi::OsString]) -> Result<Cli, UsageError> {
    use clap::{CommandFactory, FromArgMatches};
    let (path, profile) = lakesync::settings::config_file::locate(argv);
    let mut cmd = Cli::command();
    if let Some(path) = path {
        let values = lakesync::settings::config_file::load(&path, profile.as_deref())?;
        cmd = lakesync::settings::config_file::apply(cmd, &values)?;
    } else if let Some(p) = profile {
        return Err(UsageError::new(
            format!("--config-profile {p:?} given without a config file"),
            "pass --config PATH (or set LAKESYNC_CONFIG)",
        ));
    }
    let matches = cmd.get_matches_from(argv);
    Cli::from_arg_matches(&matches).map_err(|e| UsageError::new(e.to_string(), "see --help"))
}

/// `lakesync --version`: our version, and the s5cmd that a run would use, and where.
fn print_version() -> ExitCode {
    println!("lakesync {}", env!("CARGO_PKG_VERSION"));
    let env = Env::from_process();
    let from_env = env.lakesync_s5cmd.as_ref().map(std::path::PathBuf::from);
    match lakesync::s5cmd::locate(None, from_env.as_deref()) {
        Ok(b) => println!(
            "s5cmd {} at {} (via {})",
            b.version,
            b.path.display(),
            b.found_via
        ),
        Err(e) => println!("s5cmd not usable: {} (hint: {})", e.message, e.hint),
    }
    ExitCode::SUCCESS
}

fn main() -> ExitCode {
    let argv: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if argv.len() == 2 && (argv[1] == "--version" || argv[1] == "-V") {
        return print_version();
    }
    let cli = match parse_cli(&argv) {
        Ok(c) => c,
        Err(e) => return usage(&e),
    };
    init_logging(cli.verbose, cli.log_format);
    let ui = Ui {
        quiet: cli.quiet,
        progress_interval: cli.progress_interval,
    };
    match &cli.command {
        Command::Sync(args) => run_sync(args, ui),
        Command::Verify(args) => run_verify(args, ui),
        Command::Plan(args) => run_plan(args, ui),
        Command::Report(args) => run_report(args),
        Command::Completions { shell } => {
            use clap::CommandFactory;
            let shell = match shell {
                Shell::Bash => clap_complete::Shell::Bash,
                Shell::Zsh => clap_complete::Shell::Zsh,
                Shell::Fish => clap_complete::Shell::Fish,
            };
            clap_complete::generate(
                shell,
                &mut Cli::command(),
                "lakesync",
                &mut std::io::stdout(),
            );
            ExitCode::SUCCESS
        }
        Command::Man => {
            use clap::CommandFactory;
            match clap_mangen::Man::new(Cli::command()).render(&mut std::io::stdout()) {
                Ok(()) => ExitCode::SUCCESS,
                Err(_) => ExitCode::SUCCESS, // closed pipe
            }
        }
    }
}
