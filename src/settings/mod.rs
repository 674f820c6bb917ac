//! Resolving command-line arguments and the environment into validated [`Settings`].
//!
//! One pure function, [`Settings::resolve`], rejects every invalid value with a message that
//! names it and a hint with the fix; everything downstream takes `Settings` and can trust it.

pub mod access;
pub mod config_file;

use std::ffi::OsString;
use std::path::PathBuf;

use crate::cli::{CostArgs, FailOnArg, GovernorArgs, ModeArg, OutputArgs, SyncArgs, TuningArgs};
use crate::error::Error;
use crate::plan::shard::Shard;
use crate::report::sla::Status;
use crate::run::execute::Strategy;
use crate::s3url::S3Url;
use crate::s5cmd::Globals;
use crate::select::Selection;

use access::{Access, Attempts};

/// The public Binance archive bucket.
pub const BINANCE_BUCKET: &str = "data.binance.vision";
/// Its region (AWS Tokyo), known so that no request has to ask for it.
pub const BINANCE_REGION: &str = "ap-northeast-1";

/// Spec 2.2.2 bounds.
pub const BATCH_SIZE_RANGE: std::ops::RangeInclusive<i64> = 1..=1000;
pub const WORKERS_RANGE: std::ops::RangeInclusive<i64> = 1..=50;

/// The environment variables lakesync reads, captured once so resolution stays pure.
#[derive(Debug, Clone, Default)]
pub struct Env {
    pub lakesync_s5cmd: Option<OsString>,
    /// `JOB_COMPLETION_INDEX` (Kubernetes Indexed Jobs) or `LAKESYNC_SHARD_INDEX`.
    pub shard_index: Option<String>,
}

impl Env {
    pub fn from_process() -> Self {
        Self {
            lakesync_s5cmd: std::env::var_os("LAKESYNC_S5CMD").filter(|v| !v.is_empty()),
            shard_index: ["JOB_COMPLETION_INDEX", "LAKESYNC_SHARD_INDEX"]
                .iter()
                .find_map(|k| std::env::var(k).ok().filter(|v| !v.is_empty())),
        }
    }
}

/// Where the report goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReportTarget {
    Stdout,
    File(PathBuf),
}

/// A validated endpoint: the URL for s5cmd and the host:port to probe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub url: String,
    pub host: String,
    pub port: u16,
}

impl Endpoint {
    pub fn parse(flag: &str, value: &str) -> Result<Self, Error> {
        let bad = |why: &str| {
            Error::usage(
                format!("invalid {flag} value {value:?}: {why}"),
                "write it as http://HOST:PORT or https://HOST[:PORT], e.g. http://127.0.0.1:9000",
            )
        };
        let (scheme, rest) = value.split_once("://").ok_or_else(|| bad("no scheme"))?;
        let default_port = match scheme {
            "http" => 80,
            "https" => 443,
            _ => return Err(bad("the scheme must be http or https")),
        };
        let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
        if authority.is_empty() || authority.contains('@') {
            return Err(bad(
                "no host (or credentials in the URL, which are not allowed)",
            ));
        }
        let (host, port) = if let Some(h) = authority.strip_prefix('[') {
            let (h, after) = h
                .split_once(']')
                .ok_or_else(|| bad("unclosed IPv6 bracket"))?;
            let port = match after.strip_prefix(':') {
                Some(p) => p
                    .parse::<u16>()
                    .map_err(|_| bad("the port is not a number 1-65535"))?,
                None => default_port,
            };
            (h.to_string(), port)
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (
                    h.to_string(),
                    p.parse::<u16>()
                        .map_err(|_| bad("the port is not a number 1-65535"))?,
                ),
                None => (authority.to_string(), default_port),
            }
        };
        if host.is_empty() || port == 0 {
            return Err(bad("no host or port"));
        }
        Ok(Self {
            url: value.trim_end_matches('/').to_string(),
            host,
            port,
        })
    }

    /// The source's and the destination's endpoints from `--endpoint-url`,
    /// `--source-endpoint` and `--dest-endpoint`: a side's own flag, else the shared one (an
    /// empty value counts as not given).
    pub fn sides(
        both: &Option<String>,
        source: &Option<String>,
        dest: &Option<String>,
    ) -> Result<(Option<Self>, Option<Self>), Error> {
        let parse = |flag: &str, v: &Option<String>| {
            v.as_deref()
                .filter(|s| !s.is_empty())
                .map(|v| Self::parse(flag, v))
                .transpose()
        };
        let both = parse("--endpoint-url", both)?;
        let source = parse("--source-endpoint", source)?.or(both.clone());
        let dest = parse("--dest-endpoint", dest)?.or(both);
        Ok((source, dest))
    }
}

/// Everything a sync run needs, validated.
#[derive(Debug, Clone)]
pub struct Settings {
    pub source: S3Url,
    pub dest: S3Url,
    /// Endpoints, profiles, regions and signing of the two sides.
    pub access: Access,
    pub strategy: Strategy,
    pub require_checksum: bool,
    pub selection: Option<Selection>,
    pub batch_size: usize,
    pub workers: u32,
    /// Attempts per object, s5cmd's retries, the batch watchdog and the stop grace.
    pub attempts: Attempts,
    /// `ls` lines in flight per side (`--list-concurrency`).
    pub list_concurrency: usize,
    /// Resource ceilings and the SLA.
    pub governor: GovernorSettings,
    /// Where the report, metrics and history go; dry run.
    pub output: OutputSettings,
    /// Whole source folders may be copied with one wildcard line (direct copies only).
    pub folder_copies_allowed: bool,
    /// `--pushgateway` with its group (job, shard).
    pub pushgateway: Option<crate::report::pushgateway::Target>,
    pub source_manifest: Option<PathBuf>,
    pub max_local_bytes: Option<u64>,
    pub shard: Option<Shard>,
    /// No summary or progress on stderr (`-q`); set by the caller.
    pub quiet: bool,
    /// Seconds between progress lines when stderr is not a terminal; set by the caller.
    pub progress_interval: u64,
    pub s5cmd_explicit: Option<PathBuf>,
    pub s5cmd_env: Option<PathBuf>,
    pub temp_dir: Option<PathBuf>,
    /// Prices for the cost estimate (`--price-table`, else AWS's us-east-1 list prices).
    pub prices: crate::report::cost::PriceTable,
}

/// `value` if `range` holds it, else a usage error naming the flag, the value and the range
/// (`why` is appended to the hint).
pub(crate) fn in_range(
    flag: &str,
    value: i64,
    range: std::ops::RangeInclusive<i64>,
    why: &str,
) -> Result<i64, Error> {
    if range.contains(&value) {
        Ok(value)
    } else {
        Err(Error::usage(
            format!(
                "invalid {flag} value {value}: allowed {}..={}",
                range.start(),
                range.end()
            ),
            format!(
                "pass {flag} between {} and {}{why}",
                range.start(),
                range.end()
            ),
        ))
    }
}

/// Refuse a file path whose folder does not exist, before any work is done.
fn folder_exists(flag: &str, path: &std::path::Path, hint: &str) -> Result<(), Error> {
    let parent = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(std::path::Path::new("."));
    if parent.is_dir() {
        Ok(())
    } else {
        Err(Error::usage(
            format!(
                "invalid {flag} value {:?}: the folder {} does not exist",
                path.display().to_string(),
                parent.display()
            ),
            hint,
        ))
    }
}

impl Settings {
    /// Resolve the arguments (and the captured environment) into validated settings. Every
    /// argument group is destructured in full, so a flag added to `cli` without being
    /// resolved here does not compile.
    pub fn resolve(args: &SyncArgs, env: &Env) -> Result<Self, Error> {
        let SyncArgs {
            // Read before clap parses (see `config_file`): their values are defaults by now.
            config: _,
            config_profile: _,
            source,
            dest,
            source_manifest,
            sides,
            selection,
            shard,
            tuning,
            governor,
            output,
            cost,
        } = args;
        let source = S3Url::parse("--source", source)?;
        let dest = S3Url::parse("--dest", dest)?;
        if source.overlaps(&dest) {
            return Err(Error::usage(
                format!(
                    "--dest {dest} and --source {source} overlap: one lies inside the other, so the copy would feed on itself"
                ),
                "choose a destination folder outside the source (another bucket, or a sibling prefix)",
            ));
        }
        if let Some(m) = source_manifest
            && !m.is_file()
        {
            return Err(Error::usage(
                format!(
                    "invalid --source-manifest value {:?}: no such file",
                    m.display().to_string()
                ),
                "pass an `s5cmd ls --json` output or an S3 Inventory CSV file",
            ));
        }
        let access = Access::resolve(&sides.access, &source)?;
        let strategy = strategy(sides.mode, &access)?;
        let selection = Selection::from_flags(selection)?;
        let shard = resolve_shard(shard, env)?;
        let tuning = ResolvedTuning::resolve(tuning)?;
        let governor = GovernorSettings::resolve(governor)?;
        let pushgateway = output
            .pushgateway
            .as_deref()
            .filter(|u| !u.is_empty())
            .map(|u| {
                crate::report::pushgateway::Target::parse(
                    u,
                    &output.pushgateway_job,
                    shard.map(|s| s.index),
                )
            })
            .transpose()?;
        let output = OutputSettings::resolve(output)?;
        let prices = resolve_prices(cost)?;
        Ok(Self {
            source,
            dest,
            access,
            strategy,
            require_checksum: tuning.require_checksum,
            selection,
            batch_size: tuning.batch_size,
            workers: tuning.workers,
            attempts: tuning.attempts,
            list_concurrency: tuning.list_concurrency,
            governor,
            output,
            folder_copies_allowed: tuning.folder_copies_allowed,
            pushgateway,
            source_manifest: source_manifest.clone(),
            max_local_bytes: tuning.max_local_bytes,
            shard,
            quiet: false,
            progress_interval: 30,
            s5cmd_explicit: tuning.s5cmd,
            s5cmd_env: env.lakesync_s5cmd.as_ref().map(PathBuf::from),
            temp_dir: tuning.temp_dir,
            prices,
        })
    }

    /// Where a copy's bytes go, for the cost estimate: each bucket's region as resolved
    /// (None: s5cmd asks the bucket, and lakesync does not know it).
    pub fn cost_route(&self) -> crate::report::cost::Route {
        crate::report::cost::Route {
            source_region: self.access.source_region.clone(),
            dest_region: self.access.dest_region.clone(),
            staged_via_internet: self.prices.staged_via_internet,
        }
    }

    /// s5cmd's settings for a process that reads the source (listing, downloads).
    pub fn source_globals(&self) -> Globals {
        self.access.source_globals(self.attempts.retry_count)
    }

    /// s5cmd's settings for a process that works on the destination (listing, uploads).
    pub fn dest_globals(&self) -> Globals {
        self.access.dest_globals(self.attempts.retry_count)
    }

    /// s5cmd's settings for server-side copies: the destination's endpoint and
    /// credentials, and each line's two regions as `cp` flags (a process-wide region would
    /// sign one of the two buckets for the other's region).
    pub fn copy_globals(&self) -> Globals {
        Globals {
            region: None,
            cp_region_flags: Globals::copy_region_flags(
                self.access.source_region.as_deref(),
                self.access.dest_region.as_deref(),
            ),
            ..self.dest_globals()
        }
    }

    /// Whether whole key prefixes are copied with one wildcard line: server-side copies, the
    /// source listed live (a manifest may be older than the bucket), not turned off.
    pub fn folder_copies(&self) -> bool {
        self.folder_copies_allowed
            && self.strategy != Strategy::Staged
            && self.source_manifest.is_none()
    }

    /// Key prefixes to list, relative to the source and destination folders. Sorted, and
    /// none is a prefix of another, so per-prefix listings concatenate into sorted streams.
    ///
    /// With `--shard`, a prefix inside one (symbol, interval) folder that another shard owns
    /// is left out: each shard lists only its own (see [`crate::plan::shard`]).
    pub fn prefixes(&self) -> Vec<String> {
        self.prefixes_with(&crate::select::Discovered::new())
    }

    /// [`Settings::prefixes`] with the symbols of open folders from discovery
    /// ([`crate::select::Selection::prefixes_with`]): with `--shard`, each shard keeps only
    /// the discovered (symbol, interval) prefixes it owns.
    pub fn prefixes_with(&self, discovered: &crate::select::Discovered) -> Vec<String> {
        let mut prefixes = match &self.selection {
            Some(sel) => sel.prefixes_with(discovered),
            None => vec![String::new()],
        };
        if let Some(sh) = self.shard {
            prefixes.retain(|p| sh.owns_prefix(p) != Some(false));
        }
        prefixes
    }

    /// Whether a source key (relative to the source folder) is in scope: in the selection,
    /// and owned by this run's shard.
    pub fn in_scope(&self, rel: &str) -> bool {
        self.selection.as_ref().is_none_or(|s| s.matches(rel))
            && self.shard.is_none_or(|sh| sh.owns(rel))
    }
}

/// The price table: `--price-table FILE` read and checked, else the defaults.
fn resolve_prices(args: &CostArgs) -> Result<crate::report::cost::PriceTable, Error> {
    let CostArgs { price_table } = args;
    let Some(path) = price_table else {
        return Ok(crate::report::cost::PriceTable::default());
    };
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| {
        Error::usage(
            format!("invalid --price-table value {shown:?}: {e}"),
            "pass a readable TOML file (see \"Cost\" in the README), or leave --price-table out for AWS's us-east-1 list prices",
        )
    })?;
    crate::report::cost::PriceTable::parse(&text, &shown)
}

impl FailOnArg {
    /// The SLA status `--fail-on` fails the run at (sync and report merge).
    pub fn status(self) -> Status {
        match self {
            FailOnArg::Warning => Status::Warning,
            FailOnArg::Critical => Status::Critical,
        }
    }
}

/// The copy strategy `--mode` asks for, given how the sides are reached.
fn strategy(mode: ModeArg, access: &Access) -> Result<Strategy, Error> {
    Ok(match mode {
        ModeArg::Staged => Strategy::Staged,
        ModeArg::Auto if access.same_side() => Strategy::DirectWithFallback,
        ModeArg::Auto => Strategy::Staged,
        ModeArg::Direct if access.same_side() => Strategy::Direct,
        ModeArg::Direct => {
            return Err(Error::usage(
                "--mode direct needs the source and destination on the same endpoint and credentials, \
                 but --source-endpoint/--source-profile and --dest-endpoint/--dest-profile differ",
                "use --mode auto or --mode staged to copy between endpoints",
            ));
        }
    })
}

fn resolve_shard(shard: &Option<String>, env: &Env) -> Result<Option<Shard>, Error> {
    shard
        .as_deref()
        .map(|v| Shard::parse(v, env.shard_index.as_deref()))
        .transpose()
}

/// The tuning flags, range-checked.
struct ResolvedTuning {
    batch_size: usize,
    workers: u32,
    attempts: Attempts,
    list_concurrency: usize,
    folder_copies_allowed: bool,
    require_checksum: bool,
    max_local_bytes: Option<u64>,
    temp_dir: Option<PathBuf>,
    s5cmd: Option<PathBuf>,
}

impl ResolvedTuning {
    fn resolve(args: &TuningArgs) -> Result<Self, Error> {
        let TuningArgs {
            batch_size,
            workers,
            attempts,
            list_concurrency,
            no_folder_copies,
            require_checksum,
            max_local_bytes,
            temp_dir,
            s5cmd,
        } = args;
        let batch_size = in_range(
            "--batch-size",
            *batch_size,
            BATCH_SIZE_RANGE,
            " (spec 2.2.2; 100-200 is the sweet spot)",
        )? as usize;
        let workers = in_range(
            "--workers",
            *workers,
            WORKERS_RANGE,
            " (spec 2.2.2; 8-16 suits most workloads)",
        )? as u32;
        let attempts = Attempts::resolve(attempts)?;
        let list_concurrency = in_range(
            "--list-concurrency",
            *list_concurrency,
            1..=1000,
            " (listings in flight per side)",
        )? as usize;
        if let Some(dir) = temp_dir
            && dir.as_os_str().is_empty()
        {
            return Err(Error::usage(
                "invalid --temp-dir value \"\": empty path",
                "pass an existing writable folder, or leave --temp-dir out",
            ));
        }
        if *max_local_bytes == Some(0) {
            return Err(Error::usage(
                "invalid --max-local-bytes value 0: nothing could be staged",
                "pass a byte count at least as large as the largest object, or leave it out",
            ));
        }
        Ok(Self {
            batch_size,
            workers,
            attempts,
            list_concurrency,
            folder_copies_allowed: !no_folder_copies,
            require_checksum: *require_checksum,
            max_local_bytes: *max_local_bytes,
            temp_dir: temp_dir.clone(),
            s5cmd: s5cmd.clone(),
        })
    }
}

/// The governor's ceilings and the SLA settings.
#[derive(Debug, Clone)]
pub struct GovernorSettings {
    pub max_memory_bytes: u64,
    pub max_cpu_avg_pct: f32,
    /// The governor adapts the worker count (not `--fixed-workers`).
    pub adaptive_workers: bool,
    /// Memory and CPU are sampled (not `--no-sampling`).
    pub sampling: bool,
    pub sla_baseline_seconds_per_100: Option<f64>,
    pub fail_on: Option<Status>,
}

impl GovernorSettings {
    fn resolve(args: &GovernorArgs) -> Result<Self, Error> {
        let GovernorArgs {
            max_memory_mb,
            max_cpu_pct,
            fixed_workers,
            no_sampling,
            sla_baseline_seconds,
            fail_on,
        } = args;
        let max_memory_mb = in_range(
            "--max-memory-mb",
            *max_memory_mb,
            16..=1_000_000,
            " (spec: 500 MB for lakesync plus s5cmd)",
        )?;
        if !(*max_cpu_pct > 0.0 && *max_cpu_pct <= 100.0) {
            return Err(Error::usage(
                format!("invalid --max-cpu-pct value {max_cpu_pct}: allowed above 0 up to 100"),
                "pass a percentage of the whole machine, e.g. --max-cpu-pct 25 (the spec's average ceiling)",
            ));
        }
        if let Some(b) = sla_baseline_seconds
            && !(*b > 0.0 && b.is_finite())
        {
            return Err(Error::usage(
                format!(
                    "invalid --sla-baseline-seconds value {b}: must be a positive number of seconds"
                ),
                "pass the expected seconds per 100-file batch, e.g. --sla-baseline-seconds 1.5",
            ));
        }
        Ok(Self {
            max_memory_bytes: max_memory_mb as u64 * 1_000_000,
            max_cpu_avg_pct: *max_cpu_pct as f32,
            adaptive_workers: !fixed_workers,
            sampling: !no_sampling,
            sla_baseline_seconds_per_100: *sla_baseline_seconds,
            fail_on: fail_on.map(FailOnArg::status),
        })
    }
}

/// Where the run's outputs go; every file path's folder must exist before any work.
#[derive(Debug, Clone)]
pub struct OutputSettings {
    pub dry_run: bool,
    pub write_commands: Option<PathBuf>,
    pub report: Option<ReportTarget>,
    pub metrics_file: Option<PathBuf>,
    pub history: Option<PathBuf>,
    pub summary_line: bool,
    pub exit_code_when_nothing_to_do: Option<i32>,
}

impl OutputSettings {
    fn resolve(args: &OutputArgs) -> Result<Self, Error> {
        let OutputArgs {
            dry_run,
            write_commands,
            report,
            metrics_file,
            history,
            // Resolved in Settings::resolve: the group key needs the shard.
            pushgateway: _,
            pushgateway_job: _,
            summary_line,
            exit_code_when_nothing_to_do,
        } = args;
        for (flag, p) in [("--metrics-file", metrics_file), ("--history", history)] {
            if let Some(p) = p {
                folder_exists(flag, p, "create the folder first")?;
            }
        }
        let report = match report.as_deref() {
            None => None,
            Some("-") => Some(ReportTarget::Stdout),
            Some("") => {
                return Err(Error::usage(
                    "invalid --report value \"\": empty path",
                    "pass --report PATH to write a file, or --report - for stdout",
                ));
            }
            Some(p) => {
                let p = PathBuf::from(p);
                folder_exists(
                    "--report",
                    &p,
                    "create the folder first, or pass --report - to print the report on stdout",
                )?;
                Some(ReportTarget::File(p))
            }
        };
        let exit_code_when_nothing_to_do = exit_code_when_nothing_to_do
            .map(|c| {
                in_range(
                    "--exit-code-when-nothing-to-do",
                    c,
                    1..=255,
                    " (99 pairs with BashOperator skip_on_exit_code=99)",
                )
            })
            .transpose()?
            .map(|c| c as i32);
        Ok(Self {
            dry_run: *dry_run,
            write_commands: write_commands.clone(),
            report,
            metrics_file: metrics_file.clone(),
            history: history.clone(),
            summary_line: *summary_line,
            exit_code_when_nothing_to_do,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn args(extra: &[&str]) -> SyncArgs {
        let mut v = vec![
            "lakesync",
            "sync",
            "--source",
            "s3://src",
            "--dest",
            "s3://dst/lake",
        ];
        v.extend_from_slice(extra);
        match crate::cli::Cli::try_parse_from(v).unwrap().command {
            crate::cli::Command::Sync(a) => a,
            other => panic!("parsed {other:?}"),
        }
    }

    fn resolve(extra: &[&str]) -> Result<Settings, Error> {
        Settings::resolve(&args(extra), &Env::default())
    }

    #[test]
    fn defaults() {
        let s = resolve(&[]).unwrap();
        assert_eq!(s.batch_size, 150);
        assert_eq!(s.workers, 32);
        assert_eq!(s.attempts.attempts, 3);
        assert!(s.selection.is_none());
        assert_eq!(s.prefixes(), vec![String::new()]);
        assert!(!s.access.source_no_sign);
        assert_eq!(
            s.attempts.batch_timeout,
            Some(std::time::Duration::from_secs(1800))
        );
    }

    #[test]
    fn shards_divide_the_narrowed_prefixes() {
        let symbols: Vec<String> = (0..60).map(|i| format!("S{i}USDT")).collect();
        let symbols = symbols.join(",");
        let sel = [
            "--market",
            "spot",
            "--period",
            "daily",
            "--data-type",
            "klines,trades",
            "--interval",
            "1m,1h",
            "--symbols",
            &symbols,
            "--start",
            "2024-01-01",
            "--end",
            "2024-01-31",
        ];
        let all = resolve(&sel).unwrap().prefixes();
        assert_eq!(all.len(), 60 * 3);
        for n in [1, 4, 16] {
            let mut union = Vec::new();
            for i in 0..n {
                let shard = format!("{i}/{n}");
                let mut extra = sel.to_vec();
                extra.extend(["--shard", &shard]);
                let s = resolve(&extra).unwrap();
                let mine = s.prefixes();
                // Every key under an owned prefix is in scope, none under another's.
                for p in &all {
                    let key = format!("{p}15.zip");
                    assert_eq!(mine.contains(p), s.in_scope(&key), "{p} in {shard}");
                }
                union.extend(mine);
            }
            union.sort();
            assert_eq!(union, all, "{n} shards are not disjoint and complete");
        }
        // A prefix wider than one folder is listed by every shard and filtered by key.
        let s = resolve(&["--market", "spot", "--period", "daily", "--shard", "1/4"]).unwrap();
        assert_eq!(
            s.prefixes(),
            [
                "data/spot/daily/aggTrades/",
                "data/spot/daily/klines/",
                "data/spot/daily/trades/"
            ]
        );
    }

    #[test]
    fn binance_source_is_unsigned_by_default() {
        let mut a = args(&[]);
        a.source = "s3://data.binance.vision".into();
        assert!(
            Settings::resolve(&a, &Env::default())
                .unwrap()
                .access
                .source_no_sign
        );
    }

    #[test]
    fn regions() {
        let s = resolve(&[]).unwrap();
        assert_eq!((s.access.source_region, s.access.dest_region), (None, None));
        let s = resolve(&["--source-region", "eu-west-1", "--dest-region", "garage"]).unwrap();
        assert_eq!(s.access.source_region.as_deref(), Some("eu-west-1"));
        assert_eq!(s.access.dest_region.as_deref(), Some("garage"));
        let mut a = args(&[]);
        a.source = "s3://data.binance.vision".into();
        let s = Settings::resolve(&a, &Env::default()).unwrap();
        assert_eq!(s.access.source_region.as_deref(), Some(BINANCE_REGION));
        a.sides.access.source_region = Some("us-west-2".into());
        let s = Settings::resolve(&a, &Env::default()).unwrap();
        assert_eq!(
            s.access.source_region.as_deref(),
            Some("us-west-2"),
            "the flag wins"
        );
        for (flag, bad) in [("--dest-region", "eu west 1"), ("--source-region", "x/y")] {
            let err = resolve(&[flag, bad]).unwrap_err();
            assert!(err.message().contains(flag), "{err:?}");
            assert!(err.message().contains(bad), "{err:?}");
            assert!(err.hint().contains(flag), "{err:?}");
        }
    }

    #[test]
    fn out_of_range_tuning_is_refused_naming_the_value() {
        for (flag, value) in [
            ("--batch-size", "0"),
            ("--batch-size", "1001"),
            ("--batch-size", "-5"),
            ("--workers", "0"),
            ("--workers", "51"),
            ("--attempts", "0"),
            ("--retry-count", "21"),
            ("--grace-seconds", "-1"),
        ] {
            let err = resolve(&[flag, value]).unwrap_err();
            assert!(err.message().contains(flag), "{err:?}");
            assert!(err.message().contains(value), "{err:?}");
            assert!(err.hint().contains(flag), "{err:?}");
        }
        assert_eq!(resolve(&["--batch-size", "1000"]).unwrap().batch_size, 1000);
        assert_eq!(resolve(&["--workers", "50"]).unwrap().workers, 50);
    }

    #[test]
    fn overlapping_scopes_are_refused() {
        let mut a = args(&[]);
        a.dest = "s3://src/mirror".into();
        let err = Settings::resolve(&a, &Env::default()).unwrap_err();
        assert!(err.message().contains("overlap"), "{err:?}");
        a.source = "s3://dst/a/b".into();
        a.dest = "s3://dst/a".into();
        assert!(Settings::resolve(&a, &Env::default()).is_err());
        a.dest = "s3://dst/ab".into();
        assert!(Settings::resolve(&a, &Env::default()).is_ok());
    }

    #[test]
    fn endpoints() {
        let e = Endpoint::parse("--endpoint-url", "http://127.0.0.1:9000/").unwrap();
        assert_eq!((e.host.as_str(), e.port), ("127.0.0.1", 9000));
        assert_eq!(e.url, "http://127.0.0.1:9000");
        let e = Endpoint::parse("--endpoint-url", "https://s3.example.com").unwrap();
        assert_eq!(e.port, 443);
        let e = Endpoint::parse("--endpoint-url", "http://[::1]:9000").unwrap();
        assert_eq!((e.host.as_str(), e.port), ("::1", 9000));
        for bad in [
            "127.0.0.1:9000",
            "ftp://host",
            "http://",
            "http://host:99999",
            "http://user:pw@host:1",
        ] {
            let err = Endpoint::parse("--endpoint-url", bad).unwrap_err();
            assert!(err.message().contains(bad), "{err:?}");
        }
    }

    #[test]
    fn modes_follow_the_sides() {
        assert_eq!(resolve(&[]).unwrap().strategy, Strategy::DirectWithFallback);
        assert_eq!(
            resolve(&["--endpoint-url", "http://127.0.0.1:1"])
                .unwrap()
                .strategy,
            Strategy::DirectWithFallback
        );
        assert_eq!(
            resolve(&["--mode", "staged"]).unwrap().strategy,
            Strategy::Staged
        );
        assert_eq!(
            resolve(&["--mode", "direct"]).unwrap().strategy,
            Strategy::Direct
        );
        let two = [
            "--source-endpoint",
            "http://127.0.0.1:1",
            "--dest-endpoint",
            "http://127.0.0.1:2",
        ];
        assert_eq!(resolve(&two).unwrap().strategy, Strategy::Staged);
        let mut direct = two.to_vec();
        direct.extend(["--mode", "direct"]);
        let err = resolve(&direct).unwrap_err();
        assert!(err.message().contains("--mode direct"), "{err:?}");
        // --dest-endpoint overrides --endpoint-url for one side only.
        let s = resolve(&[
            "--endpoint-url",
            "http://127.0.0.1:1",
            "--dest-endpoint",
            "http://127.0.0.1:2",
        ])
        .unwrap();
        assert_eq!(s.access.source_endpoint.unwrap().port, 1);
        assert_eq!(s.access.dest_endpoint.unwrap().port, 2);
        assert_eq!(s.strategy, Strategy::Staged);
        let s = resolve(&["--source-profile", "a", "--dest-profile", "b"]).unwrap();
        assert_eq!(s.strategy, Strategy::Staged);
        assert!(resolve(&["--dest-profile", "has space"]).is_err());
    }

    #[test]
    fn price_tables() {
        assert_eq!(
            resolve(&[]).unwrap().prices,
            crate::report::cost::PriceTable::default()
        );
        let dir = tempfile::tempdir().unwrap();
        let good = dir.path().join("prices.toml");
        std::fs::write(&good, "name = \"eu\"\nput_per_1000 = 0.0054\n").unwrap();
        let s = resolve(&["--price-table", good.to_str().unwrap()]).unwrap();
        assert_eq!(
            (s.prices.name.as_str(), s.prices.put_per_1000),
            ("eu", 0.0054)
        );
        let bad = dir.path().join("bad.toml");
        std::fs::write(&bad, "get_per_1000 = -0.1\n").unwrap();
        let missing = dir.path().join("missing.toml");
        for (path, needle) in [(&bad, "get_per_1000 = -0.1"), (&missing, "missing.toml")] {
            let err = resolve(&["--price-table", path.to_str().unwrap()]).unwrap_err();
            assert!(err.message().contains("--price-table"), "{err:?}");
            assert!(err.message().contains(needle), "{err:?}");
            assert!(!err.hint().is_empty(), "{err:?}");
        }
        let s = resolve(&["--source-region", "eu-west-1"]).unwrap();
        assert_eq!(
            s.cost_route().crosses(),
            None,
            "the destination's region is not known"
        );
    }

    #[test]
    fn report_targets() {
        assert_eq!(
            resolve(&["--report", "-"]).unwrap().output.report,
            Some(ReportTarget::Stdout)
        );
        assert_eq!(
            resolve(&["--report", "r.json"]).unwrap().output.report,
            Some(ReportTarget::File("r.json".into()))
        );
        assert!(resolve(&["--report", ""]).is_err());
    }

    #[test]
    fn selection_errors_surface() {
        let err = resolve(&["--market", "moon"]).unwrap_err();
        assert!(err.message().contains("moon"), "{err:?}");
    }
}
