//! The `lakesync tables` command at the application edge: resolve the settings, run, write
//! the report (atomically, or on stdout), the summary, history and metrics, and map the
//! outcome to an exit code. Also `lakesync tables convert` (local zips, no S3).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::archive::{self, Market};
use crate::error::{EnvError, UsageError};
use crate::exit_codes;
use crate::settings::ReportTarget;
use crate::tables::convert::{self, Job};
use crate::tables::layout::Partition;
use crate::tables::report::TablesReport;
use crate::tables::schema;
use crate::tables::settings::{ConvertArgs, TablesAction, TablesArgs, TablesSettings};

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

/// `lakesync tables ...`; `quiet` is the global `-q`.
pub fn main(args: &TablesArgs, quiet: bool) -> ExitCode {
    match &args.action {
        Some(TablesAction::Convert(c)) => convert_local(c),
        None => run_tables(args, quiet),
    }
}

fn report_folder_ok(target: &Option<ReportTarget>) -> Result<(), UsageError> {
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

fn write_report(report: &TablesReport, target: &ReportTarget) -> std::io::Result<()> {
    let mut json = serde_json::to_string_pretty(report).map_err(std::io::Error::other)?;
    json.push('\n');
    match target {
        ReportTarget::Stdout => {
            let mut out = std::io::stdout().lock();
            out.write_all(json.as_bytes())?;
            out.flush()
        }
        ReportTarget::File(p) => crate::metrics::write_atomic(p, &json),
    }
}

fn run_tables(args: &TablesArgs, quiet: bool) -> ExitCode {
    let s5cmd_env = std::env::var_os("LAKESYNC_S5CMD")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from);
    let mut settings = match TablesSettings::resolve(&args.run, s5cmd_env) {
        Ok(s) => s,
        Err(e) => return usage(&e),
    };
    settings.quiet = quiet;
    if let Err(e) = report_folder_ok(&settings.report) {
        return usage(&e);
    }
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            return fail(
                exit_codes::ENVIRONMENT,
                &format!("cannot start the async runtime: {e}"),
                "",
            );
        }
    };
    let result = rt.block_on(async {
        let interrupt = crate::signals::install()
            .map_err(|e| EnvError::new(format!("cannot install signal handlers: {e}"), ""))?;
        crate::tables::run::run(&settings, interrupt).await
    });
    let report = match result {
        Ok(r) => r,
        Err(e) => return env_error(&e),
    };
    if let Some(e) = &report.error {
        eprintln!("error: {}\nhint: {}", e.message, e.hint);
    }
    let mut code = report.exit_code;
    if let Some(target) = &settings.report
        && let Err(e) = write_report(&report, target)
    {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            return ExitCode::from(code as u8);
        }
        eprintln!(
            "error: cannot write the report: {e}\nhint: check the --report path and free space"
        );
        if code == exit_codes::OK {
            code = exit_codes::ENVIRONMENT;
        }
    }
    if !quiet {
        eprint!("{}", report.human_summary());
    }
    if let Some(path) = &settings.metrics_file
        && !report.dry_run
        && let Err(e) = crate::metrics::write_atomic(
            path,
            &report.metrics_text(jiff::Timestamp::now().as_second()),
        )
    {
        eprintln!(
            "warning: cannot write --metrics-file {}: {e}",
            path.display()
        );
    }
    if let Some(path) = &settings.history
        && !report.dry_run
        && let Err(e) = crate::history::append(path, &report.history_entry())
    {
        eprintln!(
            "warning: cannot append to --history {}: {e}",
            path.display()
        );
    }
    ExitCode::from(code as u8)
}

/// What a local zip is: its schema and date, from the archive path or the flags.
fn local_job(
    zip: &Path,
    out_dir: &Path,
    market: Option<Market>,
    data_type: Option<&str>,
) -> Result<Job, String> {
    let text = zip.to_string_lossy();
    let name = zip
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let stem = name.strip_suffix(".zip").unwrap_or(&name).to_string();
    let from_path = text
        .rfind("data/")
        .and_then(|i| Partition::from_zip_key(&text[i..]));
    let (market, data_type, date) = match (market, data_type, &from_path) {
        (Some(m), Some(d), _) => (m, d.to_string(), archive::file_date(&name)),
        (m, d, Some(p)) => (
            m.unwrap_or(p.market),
            d.map_or_else(|| p.data_type.to_string(), str::to_string),
            Some(p.file_date),
        ),
        _ => {
            return Err(format!(
                "{}: the path does not follow the archive layout (.../data/MARKET/PERIOD/TYPE/...): pass --market and --data-type",
                zip.display()
            ));
        }
    };
    let date = date.ok_or_else(|| {
        format!(
            "{}: the file name carries no date (SYMBOL-...-YYYY-MM-DD.zip or -YYYY-MM.zip)",
            zip.display()
        )
    })?;
    let schema = schema::schema_for(market, &data_type).ok_or_else(|| {
        format!(
            "{}: lakesync does not convert {market} {data_type}",
            zip.display()
        )
    })?;
    Ok(Job {
        key: zip.display().to_string(),
        zip_path: zip.to_path_buf(),
        schema,
        date,
        out_path: out_dir.join(format!("{stem}.parquet")),
        metadata: Vec::new(),
    })
}

/// Verify a local zip against `ZIP.CHECKSUM` when that file exists beside it.
fn local_checksum(zip: &Path) -> Result<&'static str, String> {
    let mut ck = zip.as_os_str().to_owned();
    ck.push(".CHECKSUM");
    let Ok(content) = std::fs::read(PathBuf::from(ck)) else {
        return Ok("absent");
    };
    let name = zip
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    match crate::checksum::verify_file(zip, &name, Some(&content)) {
        Ok(crate::checksum::Verdict::Verified { .. }) => Ok("verified"),
        Ok(crate::checksum::Verdict::Mismatch { expected, actual }) => Err(format!(
            "{}: integrity: SHA-256 {actual} where the .CHECKSUM says {expected}; not converted",
            zip.display()
        )),
        Ok(crate::checksum::Verdict::Unverified { reason }) => Err(format!(
            "{}: integrity: {reason}; not converted",
            zip.display()
        )),
        Err(e) => Err(format!("{}: {e}", zip.display())),
    }
}

fn convert_local(args: &ConvertArgs) -> ExitCode {
    let market = match args.market.as_deref().map(str::parse::<Market>).transpose() {
        Ok(m) => m,
        Err(e) => return usage(&e),
    };
    let threads = match crate::tables::settings::convert_threads(args.threads) {
        Ok(t) => t,
        Err(e) => return usage(&e),
    };
    if !args.out.is_dir() {
        return usage(&UsageError::new(
            format!("--out {} is not a folder", args.out.display()),
            "create it first",
        ));
    }
    let next = AtomicUsize::new(0);
    let failed = AtomicUsize::new(0);
    let stdout = Mutex::new(std::io::stdout());
    let emit = |v: serde_json::Value| {
        if let Ok(mut out) = stdout.lock() {
            let _ = writeln!(out, "{v}");
        }
    };
    std::thread::scope(|scope| {
        for _ in 0..threads.min(args.zips.len()) {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(zip) = args.zips.get(i) else { break };
                    let job = local_job(zip, &args.out, market, args.data_type.as_deref());
                    let result = job.and_then(|job| {
                        let checksum = local_checksum(zip)?;
                        convert::convert(&job)
                            .map(|c| (job, c, checksum))
                            .map_err(|e| format!("{e}\nhint: {}", e.problem.hint()))
                    });
                    match result {
                        Ok((job, c, checksum)) => emit(serde_json::json!({
                            "zip": zip.display().to_string(),
                            "parquet": job.out_path.display().to_string(),
                            "checksum": checksum,
                            "rows": c.rows,
                            "zip_bytes": c.zip_bytes,
                            "csv_bytes": c.csv_bytes,
                            "parquet_bytes": c.parquet_bytes,
                            "header": c.header,
                            "source_time_unit": c.source_unit.as_str(),
                            "time_column": c.time_column,
                            "min_time": c.min_time_us.map(convert::format_us),
                            "max_time": c.max_time_us.map(convert::format_us),
                            "seconds": c.seconds,
                            "csv_mb_per_s": if c.seconds > 0.0 { c.csv_bytes as f64 / 1e6 / c.seconds } else { 0.0 },
                        })),
                        Err(e) => {
                            failed.fetch_add(1, Ordering::Relaxed);
                            eprintln!("error: {e}");
                            emit(serde_json::json!({
                                "zip": zip.display().to_string(),
                                "error": e,
                            }));
                        }
                    }
                }
            });
        }
    });
    if failed.load(Ordering::Relaxed) > 0 {
        ExitCode::from(exit_codes::OBJECTS_FAILED as u8)
    } else {
        ExitCode::SUCCESS
    }
}
