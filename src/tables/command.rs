//! The `lakesync tables` command at the application edge: resolve the settings, run, write
//! the report (atomically, or on stdout), the summary, history and metrics, and map the
//! outcome to an exit code. Also `lakesync tables convert` (local zips, no S3).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::error::Error;
use crate::exit_codes;
use crate::select::archive::{self, Market};
use crate::settings::ReportTarget;
use crate::tables::convert::{self, Job};
use crate::tables::layout::Partition;
use crate::tables::schema;
use crate::tables::settings::{ConvertArgs, TablesAction, TablesArgs, TablesSettings};

/// `lakesync tables ...`; `quiet` is the global `-q`. Returns the exit code.
pub fn main(args: &TablesArgs, quiet: bool) -> Result<i32, Error> {
    match &args.action {
        Some(TablesAction::Convert(c)) => convert_local(c),
        None => run_tables(args, quiet),
    }
}

fn report_folder_ok(target: &Option<ReportTarget>) -> Result<(), Error> {
    if let Some(ReportTarget::File(p)) = target {
        let parent = p
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        if !parent.is_dir() {
            return Err(Error::usage(
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

fn run_tables(args: &TablesArgs, quiet: bool) -> Result<i32, Error> {
    let s5cmd_env = std::env::var_os("LAKESYNC_S5CMD")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from);
    let mut settings = TablesSettings::resolve(&args.run, s5cmd_env)?;
    settings.quiet = quiet;
    report_folder_ok(&settings.report)?;
    let rt = crate::commands::runtime()?;
    let report = rt.block_on(async {
        crate::tables::run::run(&settings, crate::commands::install_signals()?).await
    })?;
    if let Some(e) = &report.error {
        crate::error::eprint(&e.message, &e.hint);
    }
    let Some(code) = crate::commands::emit(&report, settings.report.as_ref(), report.exit_code)
    else {
        return Ok(report.exit_code);
    };
    if !quiet {
        eprint!("{}", report.human_summary());
    }
    if let Some(path) = &settings.metrics_file
        && !report.run.dry_run
        && let Err(e) = crate::report::metrics::write_atomic(
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
        && !report.run.dry_run
        && let Err(e) = crate::report::history::append(path, &report.history_entry())
    {
        eprintln!(
            "warning: cannot append to --history {}: {e}",
            path.display()
        );
    }
    Ok(code)
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
    match crate::validate::checksum::verify_file(zip, &name, Some(&content)) {
        Ok(crate::validate::checksum::Verdict::Verified { .. }) => Ok("verified"),
        Ok(crate::validate::checksum::Verdict::Mismatch { expected, actual }) => Err(format!(
            "{}: integrity: SHA-256 {actual} where the .CHECKSUM says {expected}; not converted",
            zip.display()
        )),
        Ok(crate::validate::checksum::Verdict::Unverified { reason }) => Err(format!(
            "{}: integrity: {reason}; not converted",
            zip.display()
        )),
        Err(e) => Err(format!("{}: {e}", zip.display())),
    }
}

fn convert_local(args: &ConvertArgs) -> Result<i32, Error> {
    let market = args
        .market
        .as_deref()
        .map(str::parse::<Market>)
        .transpose()?;
    let threads = crate::tables::settings::convert_threads(args.threads)?;
    if !args.out.is_dir() {
        return Err(Error::usage(
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
    Ok(if failed.load(Ordering::Relaxed) > 0 {
        exit_codes::OBJECTS_FAILED
    } else {
        exit_codes::OK
    })
}
