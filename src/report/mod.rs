//! The run report: a versioned JSON document (stdout or a file) and a human summary
//! (stderr). Building both is pure; the README documents every field.

pub mod cost;
pub mod history;
pub mod html;
pub mod live_metrics;
pub mod merge;
pub mod metrics;
pub mod pushgateway;
pub mod sla;
pub mod sla_history;
pub mod units;

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::run::outcome::Failure;
pub use units::human_bytes;

/// Bumped on any incompatible change to the JSON shape.
pub const FORMAT_VERSION: u32 = 1;

/// A fixed word of the report (command, mode, tool name and version). Spelled through an
/// alias so that serde reads it with `merge::static_str` instead of borrowing it from the
/// input, which would tie a read report to its text.
pub type Word = &'static str;

/// At most this many failures are listed; `failures_omitted` counts the rest.
pub const MAX_FAILURES_LISTED: usize = 10_000;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    pub format_version: u32,
    pub tool: Tool,
    #[serde(deserialize_with = "merge::static_str")]
    pub command: Word,
    /// `direct` for server-side copies.
    #[serde(deserialize_with = "merge::static_str")]
    pub mode: Word,
    #[serde(flatten)]
    pub run: RunHeader,
    /// `I/N` when the run took one shard of the plan.
    pub shard: Option<String>,
    #[serde(flatten)]
    pub timing: Timing,
    pub settings: ReportSettings,
    pub totals: Totals,
    pub integrity: Integrity,
    pub plan: PlanSummary,
    pub listing: ListingReport,
    pub operations: Operations,
    pub throughput: Throughput,
    /// S3 requests by class, bytes across regions and their estimated price (spec 5.1.1).
    /// Absent from reports of earlier versions (read as zeros).
    #[serde(default)]
    pub cost: cost::Estimate,
    pub batches: Vec<BatchReport>,
    pub failures: Vec<Failure>,
    pub failures_omitted: u64,
    /// Why the run stopped early (listing failed, ...), when it did.
    pub error: Option<RunFailure>,
    /// Memory and CPU of lakesync and its s5cmd children (None with --no-sampling or --dry-run).
    pub resources: Option<crate::os::resources::ResourceSummary>,
    /// Time the sampler spent taking samples.
    pub sampler_overhead_ms: Option<f64>,
    /// CPU time (user + system) of the lakesync process itself, from getrusage.
    pub lakesync_cpu_seconds: f64,
    /// SLA checks (spec 5.2.1 and 8.1.1), evaluated at the end of the run.
    pub sla: Vec<crate::report::sla::Check>,
    /// The worst SLA status.
    pub sla_status: crate::report::sla::Status,
    /// With `--history`: what the run was compared with (SLAs over history).
    #[serde(default)]
    pub sla_history: Option<crate::report::sla_history::Baseline>,
    /// The partition prefixes that answered SlowDown/503 and what it cost each.
    #[serde(default)]
    pub throttling: crate::run::throttle::Throttling,
    pub exit_code: i32,
}

/// An error that stopped the run before every object was attempted.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunFailure {
    pub message: String,
    pub hint: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Tool {
    #[serde(deserialize_with = "merge::static_str")]
    pub name: Word,
    #[serde(deserialize_with = "merge::static_str")]
    pub version: Word,
    pub s5cmd_version: String,
    pub s5cmd_path: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReportSettings {
    pub batch_size: usize,
    pub workers: u32,
    pub attempts: u32,
    pub retry_count: u32,
    pub batch_timeout_seconds: Option<u64>,
}

/// Object counts. `planned = copied + failed` once a run completes; `selected = planned + skipped`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Totals {
    /// Source objects in the selection.
    pub selected: u64,
    /// Objects that needed copying.
    pub planned: u64,
    /// Objects already in place at the destination (same size, not older, same ETag).
    pub skipped: u64,
    /// Objects s5cmd reported copied.
    pub copied: u64,
    /// Objects that did not end up in place (copy failed, or validation failed).
    pub failed: u64,
    /// Copied objects a fresh destination listing confirmed (size, and ETag where comparable).
    pub validated: u64,
    pub bytes_planned: u64,
    pub bytes_skipped: u64,
    pub bytes_copied: u64,
    pub batches: u64,
    /// Object attempts after the first.
    pub retried: u64,
    /// Errors that were throttling (SlowDown / 503).
    pub throttled: u64,
    /// Objects whose direct copy failed and that the staged path then landed (auto mode).
    pub fallback: u64,
}

add_assign_fields!(Totals {
    selected,
    planned,
    skipped,
    copied,
    failed,
    validated,
    bytes_planned,
    bytes_skipped,
    bytes_copied,
    batches,
    retried,
    throttled,
    fallback,
});

/// Checksum verification in staged mode.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Integrity {
    /// Zips whose SHA-256 matched their .CHECKSUM before upload.
    pub checksums_verified: u64,
    /// Zips uploaded without a usable .CHECKSUM (missing or malformed).
    pub unverified: u64,
}

add_assign_fields!(Integrity {
    checksums_verified,
    unverified,
});

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct PlanSummary {
    /// Why objects were planned: missing, size_differs, source_newer, etag_differs.
    pub reasons: BTreeMap<String, u64>,
    /// Prefixes listed on each side.
    pub prefixes: u64,
    pub listing_seconds: f64,
}

/// What listing cost, per stage and side. LIST requests count one per page of up to 1,000
/// entries of each listed prefix (at least one), as S3 bills them.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ListingReport {
    /// Delimiter listings that found the symbol folders.
    pub discovery: crate::list::multi::ListCounts,
    /// The planning listings of the source and the destination.
    pub source: crate::list::multi::ListCounts,
    pub dest: crate::list::multi::ListCounts,
    /// The destination listing that validated the copies.
    pub validation: crate::list::multi::ListCounts,
    /// The most listings (`ls` lines) in flight at once while planning.
    pub in_flight_max: u64,
    /// Prefixes whose destination was not listed because the source had nothing there
    /// (sync never deletes).
    #[serde(default)]
    pub dest_skipped: u64,
}

// Listing costs add up; shards list at the same time, so their in-flight peaks add up too.
add_assign_fields!(ListingReport {
    discovery,
    source,
    dest,
    validation,
    in_flight_max,
    dest_skipped,
});

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Operations {
    /// Object operations by kind: copy (server-side), download, stat, verify, upload, cleanup.
    pub by_kind: crate::run::outcome::OpCounts,
    /// Command lines handed to s5cmd (each one S3 operation on one object), retries included.
    pub s5cmd_ops: u64,
    /// s5cmd processes started (listings and batch runs).
    pub s5cmd_processes: u64,
    /// Object operations (all kinds) per object attempted: 1 direct, 5 staged.
    pub per_file: f64,
    /// Times each object's bytes crossed the network: 1 server-side, 2 staged.
    pub network_transfers_per_file: f64,
    /// Bytes lakesync downloaded to local disk: 0 in direct mode.
    pub local_bytes_written: u64,
    /// Lines s5cmd printed that were not the JSON expected (a few are kept in the log).
    pub unparsed_lines: u64,
    /// Objects a folder copy copied that the plan did not hold (they appeared at the
    /// source after the listing); they are not in the totals.
    pub unplanned_copies: u64,
    /// Incomplete multipart uploads lakesync aborted: those its s5cmd left when a staged
    /// upload did not finish (interrupted, timed out, failed), and those a dead earlier run
    /// left (found in its working folder).
    pub multipart_uploads_aborted: u64,
}

add_assign_fields!(Operations {
    by_kind,
    s5cmd_processes,
    local_bytes_written,
    unparsed_lines,
    unplanned_copies,
    multipart_uploads_aborted,
} skip {
    // Derived: `report merge` recomputes them from the sums.
    s5cmd_ops,
    per_file,
    network_transfers_per_file,
});

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Throughput {
    pub files_per_s: f64,
    pub bytes_per_s: f64,
    /// Wall seconds during which at least one batch was copying (batches overlap, so this
    /// is not their sum; listing before the first batch is not in it).
    pub copy_seconds: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BatchReport {
    pub index: usize,
    pub files: usize,
    pub copied: usize,
    pub failed: usize,
    pub bytes: u64,
    pub attempts: u32,
    pub seconds: f64,
    pub workers: u32,
    /// Peak RSS of lakesync plus s5cmd during the batch.
    pub rss_peak_bytes: u64,
    pub cpu_avg_pct: f32,
    pub cpu_peak_pct: f32,
    /// Workers the governor chose for the next batch, and why.
    pub next_workers: u32,
    pub governor: Option<crate::run::governor::Reason>,
    /// Key prefixes this batch copied whole, one wildcard line each (0: one line per object).
    pub folders: usize,
}

/// What a run copied (or built) from where to where, and whether it was a dry run or was
/// interrupted: the head of sync's and tables' reports, flattened into their top level.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RunHeader {
    pub dry_run: bool,
    pub interrupted: bool,
    pub source: String,
    pub dest: String,
    /// The destination's endpoint (None: AWS).
    pub endpoint_url: Option<String>,
    /// The selection flags, described (None: the whole source).
    pub selection: Option<String>,
}

/// When a run started and ended (RFC 3339 UTC, milliseconds) and how long it took: the
/// clock of every report (sync's, tables', verify's), flattened into its top level.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Timing {
    pub started_at: String,
    pub finished_at: String,
    pub duration_seconds: f64,
}

impl Timing {
    /// A run that started at `started_at`, when the monotonic clock read `t0`, and ends
    /// now; the duration to the millisecond.
    pub fn ended_now(started_at: String, t0: std::time::Instant) -> Self {
        Self {
            started_at,
            finished_at: now_rfc3339(),
            duration_seconds: round3(t0.elapsed().as_secs_f64()),
        }
    }
}

/// Now, as RFC 3339 UTC with milliseconds (the report's timestamps).
pub fn now_rfc3339() -> String {
    jiff::Timestamp::now()
        .round(jiff::Unit::Millisecond)
        .map_or_else(|_| jiff::Timestamp::now().to_string(), |t| t.to_string())
}

impl Report {
    /// The one-line JSON summary (`--summary-line`), for Airflow's XCom.
    pub fn summary_line(&self) -> String {
        let t = &self.totals;
        serde_json::json!({
            "format_version": self.format_version,
            "command": self.command,
            "exit_code": self.exit_code,
            "mode": self.mode,
            "shard": self.shard,
            "selected": t.selected,
            "planned": t.planned,
            "skipped": t.skipped,
            "copied": t.copied,
            "failed": t.failed,
            "validated": t.validated,
            "bytes_copied": t.bytes_copied,
            "duration_seconds": self.timing.duration_seconds,
            "sla_status": self.sla_status,
            "interrupted": self.run.interrupted,
        })
        .to_string()
    }

    /// Fill the derived fields (per-file ratios, throughput) from the counts.
    pub fn finish_derived(&mut self) {
        let t = &self.totals;
        let attempted = t.copied + t.failed;
        let k = self.operations.by_kind;
        self.operations.s5cmd_ops = k.copy + k.download + k.upload;
        self.operations.per_file = ratio(k.total(), attempted);
        self.operations.network_transfers_per_file = ratio(k.transfers(), attempted);
        let secs = self.timing.duration_seconds.max(1e-9);
        self.throughput.files_per_s = round3(t.copied as f64 / secs);
        self.throughput.bytes_per_s = (t.bytes_copied as f64 / secs).round();
    }
    /// The summary's cost line (none for a dry run or a run that processed nothing).
    fn cost_line(&self) -> Option<String> {
        let c = &self.cost;
        if self.run.dry_run || c.files == 0 {
            return None;
        }
        let crossed = c
            .bytes_cross_region
            .map_or_else(|| "unknown".to_string(), human_bytes);
        Some(format!(
            "cost estimate: ${:.6} (${:.9}/file) at {} prices as of {}: {} PUT-class and {} GET-class requests, {crossed} across regions",
            c.usd_total,
            c.usd_per_file,
            c.prices.name,
            c.prices.as_of,
            c.requests.put_class,
            c.requests.get_class,
        ))
    }

    /// The summary's line of throttled prefixes, the three most throttled named.
    fn throttling_line(&self) -> Option<String> {
        let t = &self.throttling;
        if t.prefixes.is_empty() {
            return None;
        }
        let top: Vec<String> = t
            .prefixes
            .iter()
            .take(3)
            .map(|p| {
                format!(
                    "{} ({} throttled, down to {} workers)",
                    p.prefix, p.throttled, p.workers_min
                )
            })
            .collect();
        let more = t.prefixes.len().saturating_sub(3) as u64 + t.prefixes_omitted;
        let more = if more > 0 {
            format!(" and {more} more")
        } else {
            String::new()
        };
        Some(format!("throttled prefixes: {}{more}", top.join(", ")))
    }

    /// The summary printed on stderr.
    pub fn human_summary(&self) -> String {
        let t = &self.totals;
        let mut s = String::new();
        let verb = if self.run.dry_run {
            "would copy"
        } else {
            "copied"
        };
        let head = if self.run.interrupted {
            "lakesync sync INTERRUPTED"
        } else if self.error.is_some() {
            "lakesync sync STOPPED"
        } else if self.run.dry_run {
            "lakesync sync (dry run)"
        } else if t.failed == 0 {
            "lakesync sync OK"
        } else {
            "lakesync sync FAILED"
        };
        let _ = writeln!(s, "{head}: {} -> {}", self.run.source, self.run.dest);
        if let Some(sel) = &self.run.selection {
            let _ = writeln!(s, "  selection: {sel}");
        }
        if self.run.dry_run {
            let _ = writeln!(
                s,
                "  {} selected, {} already in place, {verb} {} ({}) in {} batch(es) of up to {}",
                t.selected,
                t.skipped,
                t.planned,
                human_bytes(t.bytes_planned),
                t.batches,
                self.settings.batch_size
            );
        } else {
            let _ = writeln!(
                s,
                "  {} selected: {} already in place, {} planned, {verb} {} ({}), {} failed, {} validated",
                t.selected,
                t.skipped,
                t.planned,
                t.copied,
                human_bytes(t.bytes_copied),
                t.failed,
                t.validated
            );
            let _ = writeln!(
                s,
                "  {:.2} s, {:.1} files/s, {}/s; {} batch(es), {} workers, {:.2} s5cmd ops/file, {} retried",
                self.timing.duration_seconds,
                self.throughput.files_per_s,
                human_bytes(self.throughput.bytes_per_s as u64),
                t.batches,
                self.settings.workers,
                self.operations.per_file,
                t.retried
            );
        }
        for line in [self.cost_line(), self.throttling_line()]
            .into_iter()
            .flatten()
        {
            let _ = writeln!(s, "  {line}");
        }
        if !self.plan.reasons.is_empty() {
            let reasons: Vec<String> = self
                .plan
                .reasons
                .iter()
                .map(|(k, v)| format!("{k} {v}"))
                .collect();
            let _ = writeln!(s, "  planned because: {}", reasons.join(", "));
        }
        if let Some(r) = &self.resources {
            let _ = writeln!(
                s,
                "  memory peak {} (lakesync {}, s5cmd {}), CPU avg {:.1}% peak {:.1}% of the machine",
                human_bytes(r.total_rss_peak_bytes),
                human_bytes(r.rss_peak_bytes),
                human_bytes(r.child_rss_peak_bytes),
                r.cpu_avg_pct,
                r.cpu_peak_pct
            );
        }
        if let Some(h) = &self.sla_history {
            let fps = |v: Option<f64>| v.map_or_else(|| "n/a".to_string(), |v| format!("{v:.1}"));
            let _ = writeln!(
                s,
                "  history: {} earlier run(s) of this job; {} files/s against a median of {} over {} run(s); success over 24 h {} ({} run(s))",
                h.earlier_runs,
                fps(h.files_per_s),
                fps(h.median_files_per_s),
                h.compared_runs,
                h.success_rate_24h
                    .map_or_else(|| "n/a".to_string(), |r| format!("{r:.2}%")),
                h.runs_24h
            );
        }
        for c in self
            .sla
            .iter()
            .filter(|c| c.status != crate::report::sla::Status::Ok)
        {
            let _ = writeln!(
                s,
                "  SLA {}: {} is {} (target {})",
                c.status.as_str().to_uppercase(),
                c.name,
                c.actual,
                c.target
            );
        }
        if let Some(e) = &self.error {
            let _ = writeln!(s, "  stopped: {}", e.message);
        }
        if !self.failures.is_empty() {
            let _ = writeln!(s, "  failures ({}):", t.failed);
            for f in self.failures.iter().take(10) {
                let _ = writeln!(s, "    {} ({} attempt(s)): {}", f.key, f.attempts, f.error);
            }
            if t.failed > 10 {
                let _ = writeln!(s, "    ... and {} more in the report", t.failed - 10);
            }
        }
        s
    }
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 {
        0.0
    } else {
        round3(a as f64 / b as f64)
    }
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timing_ends_now_to_the_millisecond() {
        let t0 = std::time::Instant::now() - std::time::Duration::from_micros(1_234_567);
        let t = Timing::ended_now("2026-01-01T00:00:00Z".into(), t0);
        assert_eq!(t.started_at, "2026-01-01T00:00:00Z");
        assert!(t.finished_at > t.started_at, "{t:?}");
        assert!(t.duration_seconds >= 1.235, "{t:?}");
        assert_eq!(t.duration_seconds, round3(t.duration_seconds), "{t:?}");
        // Written in this order where a report flattens it.
        let text = serde_json::to_string(&t).unwrap();
        let at = |k: &str| text.find(k).unwrap_or_else(|| panic!("{k} in {text}"));
        assert!(at("started_at") < at("finished_at") && at("finished_at") < at("duration_seconds"));
    }

    #[test]
    fn ratios() {
        assert_eq!(ratio(3, 0), 0.0);
        assert_eq!(ratio(2, 3), 0.667);
    }
}
