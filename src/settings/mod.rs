//! Resolving command-line arguments and the environment into validated [`Settings`].
//!
//! One pure function, [`Settings::resolve`], rejects every invalid value with a message that
//! names it and a hint with the fix; everything downstream takes `Settings` and can trust it.

pub mod config_file;

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use crate::cli::{FailOnArg, ModeArg, SyncArgs};
use crate::error::UsageError;
use crate::run::execute::Strategy;
use crate::s3url::S3Url;
use crate::select::{Selection, SelectionFlags};

/// The public Binance archive bucket.
pub const BINANCE_BUCKET: &str = "data.binance.vision";

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
    pub fn parse(flag: &str, value: &str) -> Result<Self, UsageError> {
        let bad = |why: &str| {
            UsageError::new(
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
}

/// Everything a sync run needs, validated.
#[derive(Debug, Clone)]
pub struct Settings {
    pub source: S3Url,
    pub dest: S3Url,
    /// Endpoint for the source side (None: s5cmd's default, AWS).
    pub source_endpoint: Option<Endpoint>,
    pub dest_endpoint: Option<Endpoint>,
    pub source_profile: Option<String>,
    pub dest_profile: Option<String>,
    pub strategy: Strategy,
    pub require_checksum: bool,
    pub selection: Option<Selection>,
    pub batch_size: usize,
    pub workers: u32,
    pub attempts: u32,
    pub retry_count: u32,
    pub batch_timeout: Option<Duration>,
    pub grace: Duration,
    pub max_memory_bytes: u64,
    pub max_cpu_avg_pct: f32,
    pub adaptive_workers: bool,
    /// Whole source folders may be copied with one wildcard line (direct copies only).
    pub folder_copies_allowed: bool,
    pub sampling: bool,
    pub sla_baseline_seconds_per_100: Option<f64>,
    pub fail_on: Option<crate::report::sla::Status>,
    pub metrics_file: Option<PathBuf>,
    pub history: Option<PathBuf>,
    pub source_manifest: Option<PathBuf>,
    pub max_local_bytes: Option<u64>,
    pub shard: Option<crate::plan::shard::Shard>,
    pub summary_line: bool,
    pub exit_code_when_nothing_to_do: Option<i32>,
    /// No summary or progress on stderr (`-q`); set by the caller.
    pub quiet: bool,
    /// Seconds between progress lines when stderr is not a terminal; set by the caller.
    pub progress_interval: u64,
    pub dry_run: bool,
    pub write_commands: Option<PathBuf>,
    pub report: Option<ReportTarget>,
    pub s5cmd_explicit: Option<PathBuf>,
    pub s5cmd_env: Option<PathBuf>,
    pub source_no_sign: bool,
    pub temp_dir: Option<PathBuf>,
}

fn in_range(
    flag: &str,
    value: i64,
    range: std::ops::RangeInclusive<i64>,
    why: &str,
) -> Result<i64, UsageError> {
    if range.contains(&value) {
        Ok(value)
    } else {
        Err(UsageError::new(
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

impl Settings {
    pub fn resolve(args: &SyncArgs, env: &Env) -> Result<Self, UsageError> {
        let source = S3Url::parse("--source", &args.source)?;
        let dest = S3Url::parse("--dest", &args.dest)?;
        if source.overlaps(&dest) {
            return Err(UsageError::new(
                format!(
                    "--dest {dest} and --source {source} overlap: one lies inside the other, so the copy would feed on itself"
                ),
                "choose a destination folder outside the source (another bucket, or a sibling prefix)",
            ));
        }
        let endpoint_of = |flag: &str, v: &Option<String>| {
            v.as_deref()
                .filter(|s| !s.is_empty())
                .map(|v| Endpoint::parse(flag, v))
                .transpose()
        };
        let both = endpoint_of("--endpoint-url", &args.endpoint_url)?;
        let source_endpoint =
            endpoint_of("--source-endpoint", &args.source_endpoint)?.or(both.clone());
        let dest_endpoint = endpoint_of("--dest-endpoint", &args.dest_endpoint)?.or(both);
        for (flag, p) in [
            ("--source-profile", &args.source_profile),
            ("--dest-profile", &args.dest_profile),
        ] {
            if let Some(p) = p
                && (p.is_empty() || p.chars().any(|c| c.is_whitespace() || c.is_control()))
            {
                return Err(UsageError::new(
                    format!("invalid {flag} value {p:?}: not a profile name"),
                    "name a profile from ~/.aws/credentials, e.g. --dest-profile lake-writer",
                ));
            }
        }
        // A server-side copy is one CopyObject on the destination's endpoint and credentials:
        // only possible when the source is reachable the same way.
        let same_side = source_endpoint == dest_endpoint
            && (args.source_profile.is_none() || args.source_profile == args.dest_profile);
        let strategy = match args.mode {
            ModeArg::Staged => Strategy::Staged,
            ModeArg::Auto if same_side => Strategy::DirectWithFallback,
            ModeArg::Auto => Strategy::Staged,
            ModeArg::Direct if same_side => Strategy::Direct,
            ModeArg::Direct => {
                return Err(UsageError::new(
                    "--mode direct needs the source and destination on the same endpoint and credentials, \
                     but --source-endpoint/--source-profile and --dest-endpoint/--dest-profile differ",
                    "use --mode auto or --mode staged to copy between endpoints",
                ));
            }
        };
        let selection = Selection::from_flags(&SelectionFlags {
            market: args.market.clone(),
            period: args.period.clone(),
            data_types: args.data_types.clone(),
            symbols: args.symbols.clone(),
            intervals: args.intervals.clone(),
            start: args.start.clone(),
            end: args.end.clone(),
        })?;
        let batch_size = in_range(
            "--batch-size",
            args.batch_size,
            BATCH_SIZE_RANGE,
            " (spec 2.2.2; 100-200 is the sweet spot)",
        )? as usize;
        let workers = in_range(
            "--workers",
            args.workers,
            WORKERS_RANGE,
            " (spec 2.2.2; 8-16 suits most workloads)",
        )? as u32;
        let attempts = in_range("--attempts", args.attempts, 1..=10, "")? as u32;
        let retry_count = in_range("--retry-count", args.retry_count, 0..=20, "")? as u32;
        let batch_timeout = in_range(
            "--batch-timeout",
            args.batch_timeout,
            0..=7 * 24 * 3600,
            " seconds (0 turns the watchdog off)",
        )?;
        let grace = in_range("--grace-seconds", args.grace_seconds, 0..=3600, "")?;
        let max_memory_mb = in_range(
            "--max-memory-mb",
            args.max_memory_mb,
            16..=1_000_000,
            " (spec: 500 MB for lakesync plus s5cmd)",
        )?;
        if !(args.max_cpu_pct > 0.0 && args.max_cpu_pct <= 100.0) {
            return Err(UsageError::new(
                format!(
                    "invalid --max-cpu-pct value {}: allowed above 0 up to 100",
                    args.max_cpu_pct
                ),
                "pass a percentage of the whole machine, e.g. --max-cpu-pct 25 (the spec's average ceiling)",
            ));
        }
        if let Some(b) = args.sla_baseline_seconds
            && !(b > 0.0 && b.is_finite())
        {
            return Err(UsageError::new(
                format!(
                    "invalid --sla-baseline-seconds value {b}: must be a positive number of seconds"
                ),
                "pass the expected seconds per 100-file batch, e.g. --sla-baseline-seconds 1.5",
            ));
        }
        for (flag, p) in [
            ("--metrics-file", &args.metrics_file),
            ("--history", &args.history),
        ] {
            if let Some(p) = p {
                let parent = p
                    .parent()
                    .filter(|d| !d.as_os_str().is_empty())
                    .unwrap_or(std::path::Path::new("."));
                if !parent.is_dir() {
                    return Err(UsageError::new(
                        format!(
                            "invalid {flag} value {:?}: the folder {} does not exist",
                            p.display().to_string(),
                            parent.display()
                        ),
                        "create the folder first",
                    ));
                }
            }
        }
        let report = match args.report.as_deref() {
            None => None,
            Some("-") => Some(ReportTarget::Stdout),
            Some("") => {
                return Err(UsageError::new(
                    "invalid --report value \"\": empty path",
                    "pass --report PATH to write a file, or --report - for stdout",
                ));
            }
            Some(p) => Some(ReportTarget::File(PathBuf::from(p))),
        };
        if let Some(dir) = &args.temp_dir
            && dir.as_os_str().is_empty()
        {
            return Err(UsageError::new(
                "invalid --temp-dir value \"\": empty path",
                "pass an existing writable folder, or leave --temp-dir out",
            ));
        }
        if let Some(m) = &args.source_manifest
            && !m.is_file()
        {
            return Err(UsageError::new(
                format!(
                    "invalid --source-manifest value {:?}: no such file",
                    m.display().to_string()
                ),
                "pass an `s5cmd ls --json` output or an S3 Inventory CSV file",
            ));
        }
        if args.max_local_bytes == Some(0) {
            return Err(UsageError::new(
                "invalid --max-local-bytes value 0: nothing could be staged",
                "pass a byte count at least as large as the largest object, or leave it out",
            ));
        }
        let shard = args
            .shard
            .as_deref()
            .map(|v| crate::plan::shard::Shard::parse(v, env.shard_index.as_deref()))
            .transpose()?;
        let exit_code_when_nothing_to_do = args
            .exit_code_when_nothing_to_do
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
        let source_no_sign = args.source_no_sign || source.bucket() == BINANCE_BUCKET;
        Ok(Self {
            source,
            dest,
            source_endpoint,
            dest_endpoint,
            source_profile: args.source_profile.clone(),
            dest_profile: args.dest_profile.clone(),
            strategy,
            require_checksum: args.require_checksum,
            selection,
            batch_size,
            workers,
            attempts,
            retry_count,
            batch_timeout: (batch_timeout > 0).then(|| Duration::from_secs(batch_timeout as u64)),
            grace: Duration::from_secs(grace as u64),
            max_memory_bytes: max_memory_mb as u64 * 1_000_000,
            max_cpu_avg_pct: args.max_cpu_pct as f32,
            adaptive_workers: !args.fixed_workers,
            folder_copies_allowed: !args.no_folder_copies,
            sampling: !args.no_sampling,
            sla_baseline_seconds_per_100: args.sla_baseline_seconds,
            fail_on: args.fail_on.map(|f| match f {
                FailOnArg::Warning => crate::report::sla::Status::Warning,
                FailOnArg::Critical => crate::report::sla::Status::Critical,
            }),
            metrics_file: args.metrics_file.clone(),
            history: args.history.clone(),
            source_manifest: args.source_manifest.clone(),
            max_local_bytes: args.max_local_bytes,
            shard,
            summary_line: args.summary_line,
            exit_code_when_nothing_to_do,
            quiet: false,
            progress_interval: 30,
            dry_run: args.dry_run,
            write_commands: args.write_commands.clone(),
            report,
            s5cmd_explicit: args.s5cmd.clone(),
            s5cmd_env: env.lakesync_s5cmd.as_ref().map(PathBuf::from),
            source_no_sign,
            temp_dir: args.temp_dir.clone(),
        })
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
        let mut prefixes = match &self.selection {
            Some(sel) => sel.prefixes(),
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

    fn resolve(extra: &[&str]) -> Result<Settings, UsageError> {
        Settings::resolve(&args(extra), &Env::default())
    }

    #[test]
    fn defaults() {
        let s = resolve(&[]).unwrap();
        assert_eq!(s.batch_size, 150);
        assert_eq!(s.workers, 32);
        assert_eq!(s.attempts, 3);
        assert!(s.selection.is_none());
        assert_eq!(s.prefixes(), vec![String::new()]);
        assert!(!s.source_no_sign);
        assert_eq!(s.batch_timeout, Some(Duration::from_secs(1800)));
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
                .source_no_sign
        );
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
            assert!(err.message.contains(flag), "{err:?}");
            assert!(err.message.contains(value), "{err:?}");
            assert!(err.hint.contains(flag), "{err:?}");
        }
        assert_eq!(resolve(&["--batch-size", "1000"]).unwrap().batch_size, 1000);
        assert_eq!(resolve(&["--workers", "50"]).unwrap().workers, 50);
    }

    #[test]
    fn overlapping_scopes_are_refused() {
        let mut a = args(&[]);
        a.dest = "s3://src/mirror".into();
        let err = Settings::resolve(&a, &Env::default()).unwrap_err();
        assert!(err.message.contains("overlap"), "{err:?}");
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
            assert!(err.message.contains(bad), "{err:?}");
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
        assert!(err.message.contains("--mode direct"), "{err:?}");
        // --dest-endpoint overrides --endpoint-url for one side only.
        let s = resolve(&[
            "--endpoint-url",
            "http://127.0.0.1:1",
            "--dest-endpoint",
            "http://127.0.0.1:2",
        ])
        .unwrap();
        assert_eq!(s.source_endpoint.unwrap().port, 1);
        assert_eq!(s.dest_endpoint.unwrap().port, 2);
        assert_eq!(s.strategy, Strategy::Staged);
        let s = resolve(&["--source-profile", "a", "--dest-profile", "b"]).unwrap();
        assert_eq!(s.strategy, Strategy::Staged);
        assert!(resolve(&["--dest-profile", "has space"]).is_err());
    }

    #[test]
    fn report_targets() {
        assert_eq!(
            resolve(&["--report", "-"]).unwrap().report,
            Some(ReportTarget::Stdout)
        );
        assert_eq!(
            resolve(&["--report", "r.json"]).unwrap().report,
            Some(ReportTarget::File("r.json".into()))
        );
        assert!(resolve(&["--report", ""]).is_err());
    }

    #[test]
    fn selection_errors_surface() {
        let err = resolve(&["--market", "moon"]).unwrap_err();
        assert!(err.message.contains("moon"), "{err:?}");
    }
}
