//! `lakesync tables` arguments (clap) and their resolution into validated [`TablesSettings`].
//!
//! The selection, access (endpoints, profiles, regions, signing) and attempt flags are
//! sync's own argument groups, resolved by the same code; URLs go through the same parser.
//! Everything downstream takes `TablesSettings` and can trust it.

use std::path::PathBuf;

use clap::{Args, Subcommand};

use crate::cli::{AccessArgs, AttemptArgs, SelectionArgs};
use crate::error::Error;
use crate::s3url::S3Url;
use crate::select::Selection;
use crate::settings::access::{Access, Attempts};
use crate::settings::{ReportTarget, in_range};

/// `lakesync tables ...`
#[derive(Debug, Clone, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct TablesArgs {
    #[command(subcommand)]
    pub action: Option<TablesAction>,
    #[command(flatten)]
    pub run: TablesRunArgs,
}

#[derive(Debug, Clone, Subcommand)]
pub enum TablesAction {
    /// Convert local archive zips to Parquet files (no S3): one JSON line per file on
    /// stdout. The data type, market and date come from each path (the archive's layout,
    /// `.../data/{market}/{period}/{dataType}/...`) unless --market and --data-type say.
    Convert(ConvertArgs),
}

#[derive(Debug, Clone, Args)]
pub struct ConvertArgs {
    /// Archive zips (their file names carry the date: SYMBOL-...-YYYY-MM-DD.zip).
    #[arg(value_name = "ZIP", required = true)]
    pub zips: Vec<PathBuf>,
    /// Folder for the Parquet files (one per zip, named like the zip).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Market of every zip, when the paths do not follow the archive layout.
    #[arg(long)]
    pub market: Option<String>,
    /// Data type of every zip, when the paths do not follow the archive layout.
    #[arg(long = "data-type")]
    pub data_type: Option<String>,
    /// Conversion threads (default: every core).
    #[arg(long)]
    pub threads: Option<usize>,
}

#[derive(Debug, Clone, Args)]
pub struct TablesRunArgs {
    /// Source folder: the archive or a mirror of it (keys `data/...` below it).
    #[arg(long, value_name = "S3URL", default_value = "s3://data.binance.vision")]
    pub source: String,
    /// Destination folder of the tables: DEST/{market}/{period}/{dataType}/[{interval}/]
    /// symbol=S/date=D/*.parquet.
    #[arg(long, value_name = "S3URL")]
    pub dest: Option<String>,
    #[command(flatten)]
    pub access: AccessArgs,

    #[command(flatten)]
    pub selection: SelectionArgs,

    /// Rebuild every selected partition, even those whose Parquet file is up to date.
    #[arg(long)]
    pub rebuild: bool,
    /// Zips per batch (downloaded, converted and uploaded together), 1-1000.
    #[arg(
        long,
        default_value_t = 32,
        allow_negative_numbers = true,
        help_heading = "Tuning"
    )]
    pub batch_size: i64,
    /// At most this many zip bytes on local disk per batch (two batches run at once).
    #[arg(
        long,
        value_name = "BYTES",
        default_value_t = 2 * 1024 * 1024 * 1024,
        help_heading = "Tuning"
    )]
    pub max_local_bytes: u64,
    /// s5cmd workers for downloads and uploads, 1-50.
    #[arg(
        long,
        default_value_t = 16,
        allow_negative_numbers = true,
        help_heading = "Tuning"
    )]
    pub workers: i64,
    /// Conversion threads (default: every core).
    #[arg(long, help_heading = "Tuning")]
    pub threads: Option<usize>,
    #[command(flatten)]
    pub attempts: AttemptArgs,

    /// List and plan only: print what would be built, build nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Write the JSON report to PATH (`-` for stdout).
    #[arg(long, value_name = "PATH|-")]
    pub report: Option<String>,
    /// Append one JSON line per run to PATH (read with `lakesync report PATH`).
    #[arg(long, value_name = "PATH")]
    pub history: Option<PathBuf>,
    /// Write Prometheus metrics (text format, atomically).
    #[arg(long, value_name = "PATH")]
    pub metrics_file: Option<PathBuf>,
    /// Do not sample memory and CPU.
    #[arg(long)]
    pub no_sampling: bool,
    /// The s5cmd binary (else LAKESYNC_S5CMD, else PATH).
    #[arg(long, value_name = "PATH")]
    pub s5cmd: Option<PathBuf>,
    /// Folder for lakesync's private working files (default: the system temp dir).
    #[arg(long, value_name = "DIR")]
    pub temp_dir: Option<PathBuf>,
}

/// Everything a tables run needs, validated.
#[derive(Debug, Clone)]
pub struct TablesSettings {
    pub source: S3Url,
    pub dest: S3Url,
    pub access: Access,
    pub selection: Option<Selection>,
    pub rebuild: bool,
    pub batch_size: usize,
    pub max_local_bytes: u64,
    pub workers: u32,
    pub threads: usize,
    pub attempts: Attempts,
    pub dry_run: bool,
    pub report: Option<ReportTarget>,
    pub history: Option<PathBuf>,
    pub metrics_file: Option<PathBuf>,
    pub sampling: bool,
    pub s5cmd_explicit: Option<PathBuf>,
    pub s5cmd_env: Option<PathBuf>,
    pub temp_dir: Option<PathBuf>,
    /// Set by the caller (`-q`).
    pub quiet: bool,
}

/// `v` if it is in `lo..=hi`, else sync's usage error for the flag.
fn bounded(flag: &str, v: i64, lo: i64, hi: i64) -> Result<i64, Error> {
    in_range(flag, v, lo..=hi, "")
}

/// Logical CPUs (the default number of conversion threads).
pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
}

fn threads(flag_value: Option<usize>) -> Result<usize, Error> {
    match flag_value {
        None => Ok(cores()),
        Some(n) if (1..=256).contains(&n) => Ok(n),
        Some(n) => Err(Error::usage(
            format!("invalid --threads value {n}: allowed 1..=256"),
            "leave --threads out to use every core",
        )),
    }
}

impl TablesSettings {
    pub fn resolve(args: &TablesRunArgs, s5cmd_env: Option<PathBuf>) -> Result<Self, Error> {
        let source = S3Url::parse("--source", &args.source)?;
        let dest_value = args.dest.as_deref().ok_or_else(|| {
            Error::usage(
                "lakesync tables needs --dest",
                "name the tables' folder, e.g. --dest s3://my-lake/binance-tables",
            )
        })?;
        let dest = S3Url::parse("--dest", dest_value)?;
        // The tables may live beside the mirror (s3://lake/binance/tables next to
        // s3://lake/binance/data), but not inside the zips' folder nor above the source.
        let source_data = S3Url::parse("--source", &source.url_of("data/"))?;
        if source == dest || source_data.contains(&dest) || dest.contains(&source) {
            return Err(Error::usage(
                format!(
                    "--dest {dest} overlaps the zips under --source {source}: the tables would be listed as source data"
                ),
                "put the tables in another folder, e.g. a sibling of the source's data/ folder",
            ));
        }
        let access = Access::resolve(&args.access, &source)?;
        let selection = Selection::from_flags(&args.selection)?;
        let report = match args.report.as_deref() {
            None => None,
            Some("-") => Some(ReportTarget::Stdout),
            Some("") => {
                return Err(Error::usage(
                    "--report is empty",
                    "pass --report PATH, or --report - for stdout",
                ));
            }
            Some(p) => Some(ReportTarget::File(PathBuf::from(p))),
        };
        if args.max_local_bytes < 1024 * 1024 {
            return Err(Error::usage(
                format!(
                    "invalid --max-local-bytes value {}: at least 1 MiB",
                    args.max_local_bytes
                ),
                "pass a byte count such as 2147483648 (2 GiB)",
            ));
        }
        Ok(Self {
            source,
            dest,
            access,
            selection,
            rebuild: args.rebuild,
            batch_size: bounded("--batch-size", args.batch_size, 1, 1000)? as usize,
            max_local_bytes: args.max_local_bytes,
            workers: bounded("--workers", args.workers, 1, 50)? as u32,
            threads: threads(args.threads)?,
            attempts: Attempts::resolve(&args.attempts)?,
            dry_run: args.dry_run,
            report,
            history: args.history.clone(),
            metrics_file: args.metrics_file.clone(),
            sampling: !args.no_sampling,
            s5cmd_explicit: args.s5cmd.clone(),
            s5cmd_env,
            temp_dir: args.temp_dir.clone(),
            quiet: false,
        })
    }

    /// Source prefixes to list (relative to the source folder), as sync lists them.
    pub fn prefixes(&self) -> Vec<String> {
        match &self.selection {
            Some(sel) => sel.prefixes(),
            None => vec![String::new()],
        }
    }

    pub fn in_scope(&self, rel: &str) -> bool {
        self.selection.as_ref().is_none_or(|s| s.matches(rel))
    }
}

/// Validated `--threads` for `tables convert`.
pub fn convert_threads(flag_value: Option<usize>) -> Result<usize, Error> {
    threads(flag_value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn resolve(extra: &[&str]) -> Result<TablesSettings, Error> {
        let mut v = vec!["lakesync", "tables", "--source", "s3://mirror/binance"];
        v.extend_from_slice(extra);
        match crate::cli::Cli::try_parse_from(v).unwrap().command {
            crate::cli::Command::Tables(a) => TablesSettings::resolve(&a.run, None),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn dest_beside_the_mirror_is_fine_inside_its_data_folder_is_not() {
        let s = resolve(&["--dest", "s3://mirror/binance/tables"]).unwrap();
        assert_eq!(s.dest.prefix(), "binance/tables/");
        assert!(!s.access.source_no_sign);
        for bad in [
            "s3://mirror/binance/data/tables",
            "s3://mirror/binance",
            "s3://mirror",
        ] {
            let e = resolve(&["--dest", bad]).unwrap_err();
            assert!(e.message().contains("overlaps"), "{bad}: {e:?}");
        }
        let e = resolve(&[]).unwrap_err();
        assert!(e.message().contains("--dest"), "{e:?}");
    }

    #[test]
    fn selection_and_bounds_are_validated_like_sync() {
        let s = resolve(&[
            "--dest",
            "s3://lake/t",
            "--market",
            "spot",
            "--data-type",
            "klines",
            "--symbols",
            "BTCUSDT",
            "--interval",
            "1m",
            "--start",
            "2024-01-01",
            "--end",
            "2024-01-31",
        ])
        .unwrap();
        assert_eq!(
            s.prefixes(),
            vec![
                "data/spot/daily/klines/BTCUSDT/1m/BTCUSDT-1m-2024-01-",
                "data/spot/monthly/klines/BTCUSDT/1m/BTCUSDT-1m-2024-01"
            ]
        );
        assert!(resolve(&["--dest", "s3://lake/t", "--market", "SPOT"]).is_err());
        let e = resolve(&["--dest", "s3://lake/t", "--workers", "0"]).unwrap_err();
        assert!(e.hint().contains("between 1 and 50"), "{e:?}");
        assert!(resolve(&["--dest", "s3://lake/t", "--threads", "0"]).is_err());
        assert!(resolve(&["--dest", "s3://lake/t", "--max-local-bytes", "10"]).is_err());
    }
}
