//! Command-line arguments as the user types them (clap). Nothing here is validated beyond
//! syntax: `settings` turns these into a checked `Settings`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::error::Error;

/// Parse the command line with the config file's values as defaults (flags > env > config
/// > built-in defaults). clap reports its own usage errors (and `--help`) and exits 2 (0).
pub fn parse(argv: &[std::ffi::OsString]) -> Result<Cli, Error> {
    use crate::settings::config_file;
    use clap::{CommandFactory, FromArgMatches};
    let (path, profile) = config_file::locate(argv);
    let mut cmd = Cli::command();
    if let Some(path) = path {
        let values = config_file::load(&path, profile.as_deref())?;
        cmd = config_file::apply(cmd, &values)?;
    } else if let Some(p) = profile {
        return Err(Error::usage(
            format!("--config-profile {p:?} given without a config file"),
            "pass --config PATH (or set LAKESYNC_CONFIG)",
        ));
    }
    let matches = cmd.get_matches_from(argv);
    Cli::from_arg_matches(&matches).map_err(|e| Error::usage(e.to_string(), "see --help"))
}

#[derive(Debug, Parser)]
#[command(
    name = "lakesync",
    version,
    about = "Mirror Binance's public market-data archive into your own S3 data lake, fast and verifiably, with s5cmd.",
    long_about = None,
    after_help = crate::exit_codes::help_text()
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// More log output on stderr (-v info, -vv debug). LAKESYNC_LOG=filter overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    /// No human summary or progress on stderr; errors are still printed.
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// Log line format on stderr: text, or JSON lines for log aggregators.
    #[arg(long, value_enum, default_value_t = LogFormat::Text, global = true, env = "LAKESYNC_LOG_FORMAT")]
    pub log_format: LogFormat,
    /// Seconds between progress lines when stderr is not a terminal (Airflow logs); 0 = none.
    #[arg(
        long,
        default_value_t = 30,
        global = true,
        env = "LAKESYNC_PROGRESS_INTERVAL"
    )]
    pub progress_interval: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Shell {
    Bash,
    Zsh,
    Fish,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Copy the selected archive objects from the source to the destination.
    Sync(SyncArgs),
    /// Print a shell completion script: lakesync completions bash > /etc/bash_completion.d/lakesync
    Completions {
        #[arg(value_enum)]
        shell: Shell,
    },
    /// Print the man page (roff): lakesync man > lakesync.1
    Man,
    /// Summarise a history file written with --history (runs, success rate, SLA compliance,
    /// worst batches).
    Report(ReportArgs),
    /// Show what a sync would copy and skip, and why, grouped by archive folder, with the
    /// dates missing from each group's range. Copies nothing.
    Plan(PlanArgs),
    /// Check that the destination mirrors the selected source (presence, size, ETag, age;
    /// with --deep also each zip's SHA-256 against its .CHECKSUM). Exit 1 on mismatches.
    Verify(VerifyArgs),
    /// Convert the selected zips into zstd Parquet tables partitioned by symbol and date,
    /// incrementally (new or re-uploaded zips only, each after its SHA-256 matched its
    /// .CHECKSUM).
    Tables(crate::tables::settings::TablesArgs),
    /// Check the environment a sync with these flags needs: s5cmd, each endpoint (and TLS),
    /// credentials (a listing of each side), regions, the temp folder, the config file. One
    /// line per check; exit 3 when one is an error.
    Doctor(DoctorArgs),
}

#[derive(Debug, Clone, Args)]
pub struct DoctorArgs {
    #[command(flatten)]
    pub sync: SyncArgs,
}

#[derive(Debug, Clone, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct ReportArgs {
    #[command(subcommand)]
    pub action: Option<ReportAction>,
    /// A history file (JSON lines, from `sync --history PATH`); with --html also a run report
    /// (JSON, from `sync --report PATH` or `report merge`).
    #[arg(value_name = "HISTORY|REPORT")]
    pub history: Option<PathBuf>,
    /// Write one self-contained HTML page (inline SVG charts) to OUT instead.
    #[arg(long, value_name = "OUT")]
    pub html: Option<PathBuf>,
    /// Output format on stdout.
    #[arg(long, value_enum, default_value_t = FormatArg::Text)]
    pub format: FormatArg,
}

#[derive(Debug, Clone, Subcommand)]
pub enum ReportAction {
    /// Merge the JSON reports of the shards of one run into one report on stdout (totals,
    /// failures with their shard, resources per shard, SLA evaluated on the whole).
    Merge(MergeArgs),
}

#[derive(Debug, Clone, Args)]
pub struct MergeArgs {
    /// Shard reports (`sync --shard I/N --report PATH`).
    #[arg(value_name = "REPORT", required = true)]
    pub reports: Vec<PathBuf>,
    /// Exit 4 when the merged SLA is at this level or worse.
    #[arg(long, value_enum)]
    pub fail_on: Option<FailOnArg>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FormatArg {
    Text,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FailOnArg {
    Warning,
    Critical,
}

#[derive(Debug, Clone, Args)]
pub struct PlanArgs {
    #[command(flatten)]
    pub sync: SyncArgs,
    /// Output on stdout: a table, or JSON.
    #[arg(long, value_enum, default_value_t = FormatArg::Text)]
    pub format: FormatArg,
}

#[derive(Debug, Clone, Args)]
pub struct VerifyArgs {
    #[command(flatten)]
    pub sync: SyncArgs,
    /// Download every destination .zip and check its SHA-256 against the destination .CHECKSUM.
    #[arg(long)]
    pub deep: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ModeArg {
    Auto,
    Direct,
    Staged,
}

#[derive(Debug, Clone, Args)]
pub struct SyncArgs {
    /// TOML config file with any sync flag (see README "Configuration").
    #[arg(
        long,
        value_name = "PATH",
        env = "LAKESYNC_CONFIG",
        help_heading = "Configuration"
    )]
    pub config: Option<PathBuf>,
    /// Profile of the config file to use ([profiles.NAME]).
    #[arg(
        long,
        value_name = "NAME",
        env = "LAKESYNC_CONFIG_PROFILE",
        help_heading = "Configuration"
    )]
    pub config_profile: Option<String>,
    /// Source folder. With selection flags this is the archive root (keys keep `data/...`).
    #[arg(
        long,
        env = "LAKESYNC_SOURCE",
        value_name = "S3URL",
        default_value = "s3://data.binance.vision"
    )]
    pub source: String,
    /// Destination folder; a key lands at DEST + (its path relative to SOURCE).
    #[arg(long, env = "LAKESYNC_DEST", value_name = "S3URL")]
    pub dest: String,
    /// Read the source listing from a file instead of listing the source: `s5cmd ls --json`
    /// lines or S3 Inventory CSV (Bucket, Key, Size, LastModifiedDate, ETag), sorted by key.
    #[arg(long, env = "LAKESYNC_SOURCE_MANIFEST", value_name = "PATH")]
    pub source_manifest: Option<PathBuf>,
    #[command(flatten)]
    pub sides: SidesArgs,
    #[command(flatten)]
    pub selection: SelectionArgs,
    /// Take only shard I of N (0-based) of the plan, by a stable hash of each destination key;
    /// `auto/N` reads I from JOB_COMPLETION_INDEX or LAKESYNC_SHARD_INDEX.
    #[arg(
        long,
        env = "LAKESYNC_SHARD",
        value_name = "I/N",
        help_heading = "Scale-out"
    )]
    pub shard: Option<String>,
    #[command(flatten)]
    pub tuning: TuningArgs,
    #[command(flatten)]
    pub governor: GovernorArgs,
    #[command(flatten)]
    pub output: OutputArgs,
    #[command(flatten)]
    pub cost: CostArgs,
}

/// How the cost estimate in the report and `plan` is priced.
#[derive(Debug, Clone, Args)]
pub struct CostArgs {
    /// Price S3 requests and transfer from this TOML file (put_per_1000, get_per_1000,
    /// inter_region_per_gb, internet_out_per_gb, name, as_of, staged_via_internet; keys left
    /// out keep AWS's us-east-1 list prices). See "Cost" in the README.
    #[arg(
        long,
        env = "LAKESYNC_PRICE_TABLE",
        value_name = "FILE",
        help_heading = "Cost"
    )]
    pub price_table: Option<PathBuf>,
}

/// Where the two sides are and how they are reached, and how objects travel between them.
#[derive(Debug, Clone, Args)]
pub struct SidesArgs {
    #[command(flatten)]
    pub access: AccessArgs,
    /// How objects travel: auto (server-side copy when both sides share an endpoint, with a
    /// staged retry of what it cannot copy; staged otherwise), direct, or staged.
    #[arg(long, env = "LAKESYNC_MODE", value_enum, default_value_t = ModeArg::Auto)]
    pub mode: ModeArg,
}

/// How the two sides are reached: endpoints, profiles, regions, signing (sync and tables).
#[derive(Debug, Clone, Args)]
pub struct AccessArgs {
    /// S3-compatible endpoint for both sides (e.g. http://127.0.0.1:9000).
    #[arg(long, value_name = "URL", env = "S3_ENDPOINT_URL")]
    pub endpoint_url: Option<String>,
    /// Endpoint of the source only (overrides --endpoint-url for the source).
    #[arg(
        long,
        env = "LAKESYNC_SOURCE_ENDPOINT",
        value_name = "URL",
        help_heading = "Sides"
    )]
    pub source_endpoint: Option<String>,
    /// Endpoint of the destination only (overrides --endpoint-url for the destination).
    #[arg(
        long,
        env = "LAKESYNC_DEST_ENDPOINT",
        value_name = "URL",
        help_heading = "Sides"
    )]
    pub dest_endpoint: Option<String>,
    /// AWS profile for reading the source.
    #[arg(
        long,
        env = "LAKESYNC_SOURCE_PROFILE",
        value_name = "NAME",
        help_heading = "Sides"
    )]
    pub source_profile: Option<String>,
    /// AWS profile for writing the destination.
    #[arg(
        long,
        env = "LAKESYNC_DEST_PROFILE",
        value_name = "NAME",
        help_heading = "Sides"
    )]
    pub dest_profile: Option<String>,
    /// Region of the source bucket (default: ap-northeast-1 for s3://data.binance.vision,
    /// else s5cmd asks the bucket). AWS_REGION / AWS_DEFAULT_REGION are never applied.
    #[arg(
        long,
        env = "LAKESYNC_SOURCE_REGION",
        value_name = "REGION",
        help_heading = "Sides"
    )]
    pub source_region: Option<String>,
    /// Region of the destination bucket (default: s5cmd asks the bucket).
    #[arg(
        long,
        env = "LAKESYNC_DEST_REGION",
        value_name = "REGION",
        help_heading = "Sides"
    )]
    pub dest_region: Option<String>,
    /// Read the source without signing requests (default: on for s3://data.binance.vision).
    #[arg(long, env = "LAKESYNC_SOURCE_NO_SIGN", help_heading = "Sides")]
    pub source_no_sign: bool,
}

/// What part of the archive (sync and tables).
#[derive(Debug, Clone, Default, Args)]
pub struct SelectionArgs {
    /// Market: spot, futures/um, futures/cm or option (default: all).
    #[arg(long, env = "LAKESYNC_MARKET", help_heading = "Selection")]
    pub market: Option<String>,
    /// Period: daily or monthly (default: both).
    #[arg(long, env = "LAKESYNC_PERIOD", help_heading = "Selection")]
    pub period: Option<String>,
    /// Data types, comma-separated: klines, trades, aggTrades, fundingRate, ...
    #[arg(
        long = "data-type",
        env = "LAKESYNC_DATA_TYPE",
        value_delimiter = ',',
        help_heading = "Selection"
    )]
    pub data_types: Vec<String>,
    /// Symbols, comma-separated: BTCUSDT,ETHUSDT (default: all).
    #[arg(
        long,
        env = "LAKESYNC_SYMBOLS",
        value_delimiter = ',',
        help_heading = "Selection"
    )]
    pub symbols: Vec<String>,
    /// Kline intervals, comma-separated: 1m,1h (default: all).
    #[arg(
        long = "interval",
        env = "LAKESYNC_INTERVAL",
        value_delimiter = ',',
        help_heading = "Selection"
    )]
    pub intervals: Vec<String>,
    /// First date, inclusive (YYYY-MM-DD; monthly files overlapping the range are included).
    #[arg(
        long,
        env = "LAKESYNC_START",
        value_name = "YYYY-MM-DD",
        help_heading = "Selection"
    )]
    pub start: Option<String>,
    /// Last date, inclusive (YYYY-MM-DD).
    #[arg(
        long,
        env = "LAKESYNC_END",
        value_name = "YYYY-MM-DD",
        help_heading = "Selection"
    )]
    pub end: Option<String>,
}

/// How the copies run: batches, workers, attempts, timeouts, local staging.
#[derive(Debug, Clone, Args)]
pub struct TuningArgs {
    /// Objects per s5cmd run (1-1000).
    #[arg(
        long,
        env = "LAKESYNC_BATCH_SIZE",
        default_value_t = 150,
        allow_negative_numbers = true,
        help_heading = "Tuning"
    )]
    pub batch_size: i64,
    /// s5cmd workers in all (1-50; staged mode uses at most 10). The governor starts here
    /// and adapts it unless --fixed-workers.
    #[arg(
        long,
        env = "LAKESYNC_WORKERS",
        default_value_t = 32,
        allow_negative_numbers = true,
        help_heading = "Tuning"
    )]
    pub workers: i64,
    #[command(flatten)]
    pub attempts: AttemptArgs,
    /// Listings (`ls` lines) in flight per side while planning and validating (1-1000).
    /// Narrowed prefixes are listed many per `s5cmd run`, this many at a time; the default
    /// keeps a WAN round trip of ~50 ms per LIST request busy (see "Listing" in the README).
    #[arg(
        long,
        env = "LAKESYNC_LIST_CONCURRENCY",
        default_value_t = crate::list::paired::DEFAULT_IN_FLIGHT as i64,
        allow_negative_numbers = true,
        help_heading = "Tuning"
    )]
    pub list_concurrency: i64,
    /// Copy every object one command line each, even where every object under a key prefix
    /// is to be copied (by default such a prefix, a folder or a year of daily files, goes as
    /// one s5cmd wildcard line, which costs s5cmd less than half the CPU per object; see
    /// "Folder copies" in the README).
    #[arg(long, env = "LAKESYNC_NO_FOLDER_COPIES")]
    pub no_folder_copies: bool,
    /// Fail a zip whose .CHECKSUM is missing or malformed instead of uploading it unverified
    /// (staged mode).
    #[arg(long, env = "LAKESYNC_REQUIRE_CHECKSUM")]
    pub require_checksum: bool,
    /// Staged mode: download at most this many bytes at once (a batch is staged in parts that
    /// fit; an object larger than this fails). Default: a whole batch.
    #[arg(long, env = "LAKESYNC_MAX_LOCAL_BYTES", value_name = "BYTES")]
    pub max_local_bytes: Option<u64>,
    /// Folder for lakesync's private working files (default: the system temp dir).
    #[arg(long, env = "LAKESYNC_TEMP_DIR", value_name = "DIR")]
    pub temp_dir: Option<PathBuf>,
    /// The s5cmd binary (else LAKESYNC_S5CMD, else PATH).
    #[arg(long, value_name = "PATH")]
    pub s5cmd: Option<PathBuf>,
}

/// Attempts and s5cmd's retries and time limits (sync and tables).
#[derive(Debug, Clone, Args)]
pub struct AttemptArgs {
    /// Attempts per object before it is reported failed (1-10).
    #[arg(
        long,
        env = "LAKESYNC_ATTEMPTS",
        default_value_t = 3,
        allow_negative_numbers = true,
        help_heading = "Tuning"
    )]
    pub attempts: i64,
    /// s5cmd's own retries per HTTP request (0-20).
    #[arg(
        long,
        env = "LAKESYNC_RETRY_COUNT",
        default_value_t = 3,
        allow_negative_numbers = true,
        help_heading = "Tuning"
    )]
    pub retry_count: i64,
    /// Kill a batch's s5cmd after this many seconds and retry what it left (0 = never).
    #[arg(
        long,
        env = "LAKESYNC_BATCH_TIMEOUT",
        default_value_t = 1800,
        allow_negative_numbers = true,
        help_heading = "Tuning"
    )]
    pub batch_timeout: i64,
    /// Seconds s5cmd may take to stop after SIGTERM/SIGINT before it is killed.
    #[arg(
        long,
        env = "LAKESYNC_GRACE_SECONDS",
        default_value_t = 10,
        allow_negative_numbers = true,
        help_heading = "Tuning"
    )]
    pub grace_seconds: i64,
}

/// Resource ceilings for the adaptive governor, and the SLA.
#[derive(Debug, Clone, Args)]
pub struct GovernorArgs {
    /// Memory ceiling for lakesync plus its s5cmd children, in MB (spec: 500).
    #[arg(
        long,
        env = "LAKESYNC_MAX_MEMORY_MB",
        default_value_t = 500,
        allow_negative_numbers = true,
        help_heading = "Governor and SLA"
    )]
    pub max_memory_mb: i64,
    /// Average CPU ceiling in percent of the whole machine (spec: 25); the peak ceiling is twice it.
    #[arg(
        long,
        env = "LAKESYNC_MAX_CPU_PCT",
        default_value_t = 25.0,
        allow_negative_numbers = true,
        help_heading = "Governor and SLA"
    )]
    pub max_cpu_pct: f64,
    /// Keep --workers for every batch instead of adapting it to throughput, throttling,
    /// memory and CPU.
    #[arg(
        long,
        env = "LAKESYNC_FIXED_WORKERS",
        help_heading = "Governor and SLA"
    )]
    pub fixed_workers: bool,
    /// Do not sample memory and CPU (the report's `resources` stay empty).
    #[arg(long, env = "LAKESYNC_NO_SAMPLING", help_heading = "Governor and SLA")]
    pub no_sampling: bool,
    /// SLA baseline: seconds per 100-file batch (default 1.5 direct, 3.3 staged).
    #[arg(
        long,
        env = "LAKESYNC_SLA_BASELINE_SECONDS",
        value_name = "SECONDS",
        help_heading = "Governor and SLA"
    )]
    pub sla_baseline_seconds: Option<f64>,
    /// Exit 4 when an SLA check is at this level or worse (default: breaches are reported only).
    #[arg(
        long,
        env = "LAKESYNC_FAIL_ON",
        value_enum,
        help_heading = "Governor and SLA"
    )]
    pub fail_on: Option<FailOnArg>,
}

/// What the run writes besides the copies: the report, metrics, history, the summary line;
/// or, with `--dry-run`, only the plan.
#[derive(Debug, Clone, Args)]
pub struct OutputArgs {
    /// List and plan, print what would be copied, copy nothing.
    #[arg(long, env = "LAKESYNC_DRY_RUN")]
    pub dry_run: bool,
    /// With --dry-run: write the s5cmd command lines a direct run would use to PATH (0600),
    /// e.g. to time `s5cmd run PATH` on its own.
    #[arg(
        long,
        env = "LAKESYNC_WRITE_COMMANDS",
        value_name = "PATH",
        requires = "dry_run"
    )]
    pub write_commands: Option<PathBuf>,
    /// Write the JSON report to PATH (`-` for stdout).
    #[arg(long, env = "LAKESYNC_REPORT", value_name = "PATH|-")]
    pub report: Option<String>,
    /// Write Prometheus metrics (text format, atomically) for node_exporter's textfile collector.
    #[arg(
        long,
        env = "LAKESYNC_METRICS_FILE",
        value_name = "PATH",
        help_heading = "Governor and SLA"
    )]
    pub metrics_file: Option<PathBuf>,
    /// Append one JSON line per run (totals, SLA, resources) to PATH; see `lakesync report`.
    #[arg(
        long,
        env = "LAKESYNC_HISTORY",
        value_name = "PATH",
        help_heading = "Governor and SLA"
    )]
    pub history: Option<PathBuf>,
    /// Push the run's metrics to this Prometheus Pushgateway (http://HOST:PORT) at the end,
    /// and its progress every --progress-interval seconds; a failed push only warns.
    #[arg(
        long,
        env = "LAKESYNC_PUSHGATEWAY",
        value_name = "URL",
        help_heading = "Governor and SLA"
    )]
    pub pushgateway: Option<String>,
    /// The Pushgateway group's job name (with --shard I/N the group is also keyed by shard I).
    #[arg(
        long,
        env = "LAKESYNC_PUSHGATEWAY_JOB",
        value_name = "NAME",
        default_value = crate::report::pushgateway::DEFAULT_JOB,
        help_heading = "Governor and SLA"
    )]
    pub pushgateway_job: String,
    /// Print a one-line JSON summary as the last line of stdout (Airflow pushes it to XCom).
    #[arg(long, env = "LAKESYNC_SUMMARY_LINE", help_heading = "Scale-out")]
    pub summary_line: bool,
    /// Exit with this code instead of 0 when nothing needed copying (e.g. 99 with
    /// BashOperator skip_on_exit_code=99).
    #[arg(
        long,
        env = "LAKESYNC_EXIT_CODE_WHEN_NOTHING_TO_DO",
        value_name = "N",
        help_heading = "Scale-out"
    )]
    pub exit_code_when_nothing_to_do: Option<i64>,
}
