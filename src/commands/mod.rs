//! The subcommands: each drives the pipeline's stages for one job and returns its exit code,
//! or the [`Error`] that stopped it before it had anything to show. `main` only parses the
//! command line, calls one of these, and prints the error.

pub mod completions;
pub mod doctor;
pub mod merge;
pub mod output;
pub mod plan;
pub mod report;
pub mod sync;
pub mod verify;

use crate::cli::SyncArgs;
use crate::error::Error;
use crate::exit_codes;
use crate::os::signals::Interrupt;
use crate::settings::{Env, ReportTarget, Settings};
use output::Wrote;

/// Output options from the global flags.
#[derive(Debug, Clone, Copy)]
pub struct Ui {
    pub quiet: bool,
    pub progress_interval: u64,
}

/// The validated settings of a sync-like command (sync, plan, verify).
pub(crate) fn settings(args: &SyncArgs, ui: Ui) -> Result<Settings, Error> {
    let mut settings = Settings::resolve(args, &Env::from_process())?;
    settings.quiet = ui.quiet;
    settings.progress_interval = ui.progress_interval;
    Ok(settings)
}

/// The async runtime the pipeline runs on (two workers: s5cmd does the heavy lifting).
pub(crate) fn runtime() -> Result<tokio::runtime::Runtime, Error> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| {
            Error::env(
                format!("cannot start the async runtime: {e}"),
                "free memory or raise the process and thread limits (ulimit -u)",
            )
        })
}

pub(crate) fn install_signals() -> Result<Interrupt, Error> {
    crate::os::signals::install()
        .map_err(|e| Error::internal(format!("cannot install signal handlers: {e}")))
}

/// Write the report where asked and return the exit code to use: a report that cannot be
/// written is reported and turns a success into exit 3. `None`: the reader of stdout went
/// away, so end quietly with `code`.
pub(crate) fn emit(
    report: &impl serde::Serialize,
    target: Option<&ReportTarget>,
    code: i32,
) -> Option<i32> {
    let Some(target) = target else {
        return Some(code);
    };
    match output::report(report, target) {
        Ok(Wrote::All) => Some(code),
        Ok(Wrote::ReaderGone) => None,
        Err(e) => {
            e.eprint();
            Some(if code == exit_codes::OK {
                e.exit_code()
            } else {
                code
            })
        }
    }
}

/// `lakesync sync`: the pipeline ([`sync::run`]), then the report, the summary on stderr
/// and the `--summary-line` on stdout.
pub fn run_sync(args: &SyncArgs, ui: Ui) -> Result<i32, Error> {
    let settings = settings(args, ui)?;
    let rt = runtime()?;
    let report = rt.block_on(async { sync::run(&settings, install_signals()?).await })?;
    if let Some(e) = &report.error {
        crate::error::eprint(&e.message, &e.hint);
    }
    let Some(code) = emit(&report, settings.output.report.as_ref(), report.exit_code) else {
        return Ok(report.exit_code);
    };
    if !ui.quiet {
        eprint!("{}", report.human_summary());
    }
    if settings.output.summary_line {
        // A closed pipe is not worth a message; the exit code still says how it went.
        output::stdout(format!("{}\n", report.summary_line()).as_bytes())?;
    }
    Ok(code)
}

/// `lakesync --version`: our version, and the s5cmd that a run would use, and where.
pub fn version() -> Result<i32, Error> {
    let env = Env::from_process();
    let from_env = env.lakesync_s5cmd.as_ref().map(std::path::PathBuf::from);
    let s5cmd = match crate::s5cmd::locate(None, from_env.as_deref()) {
        Ok(b) => format!(
            "s5cmd {} at {} (via {})",
            b.version,
            b.path.display(),
            b.found_via
        ),
        Err(e) => format!("s5cmd not usable: {} (hint: {})", e.message(), e.hint()),
    };
    let text = format!("lakesync {}\n{s5cmd}\n", env!("CARGO_PKG_VERSION"));
    output::stdout(text.as_bytes())?;
    Ok(exit_codes::OK)
}
