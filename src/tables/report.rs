//! The `tables` run report (`format_version` 1, `command: "tables"`), its human summary,
//! and the history line and Prometheus metrics written from it.
//!
//! Counters fold with `AddAssign` (per batch into the run), so no total is added up by hand
//! in two places.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use crate::os::resources::ResourceSummary;
use crate::report::{RunFailure, RunHeader, Timing, Tool};

/// Entries of `files[]` and `failures[]` kept in the report; the rest are counted.
pub const MAX_LISTED: usize = 10_000;

#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Totals {
    /// Zips in the selection.
    pub selected: u64,
    /// Partitions to build (missing, re-uploaded, --rebuild).
    pub planned: u64,
    /// Up to date: left alone.
    pub skipped: u64,
    /// Zips of a data type lakesync does not convert (EOHSummary).
    pub unsupported: u64,
    /// Zips at keys that are not archive keys.
    pub unrecognised: u64,
    /// Built and uploaded.
    pub converted: u64,
    pub failed: u64,
    /// Rows written (== CSV data rows) over the converted files.
    pub rows: u64,
    /// Zip bytes downloaded.
    pub bytes_in: u64,
    /// CSV bytes inflated and parsed.
    pub csv_bytes: u64,
    /// Parquet bytes uploaded.
    pub bytes_out: u64,
    pub batches: u64,
}

add_assign_fields!(Totals {
    selected,
    planned,
    skipped,
    unsupported,
    unrecognised,
    converted,
    failed,
    rows,
    bytes_in,
    csv_bytes,
    bytes_out,
    batches,
});

/// One converted file.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FileReport {
    /// The zip, as a source URL.
    pub source: String,
    /// The Parquet file, as a destination URL.
    pub table_file: String,
    pub reason: &'static str,
    pub rows: u64,
    pub zip_bytes: u64,
    pub csv_bytes: u64,
    pub parquet_bytes: u64,
    pub header: bool,
    /// `ms` or `us` (epoch times in the CSV), `text`, or `none` (no rows).
    pub source_time_unit: &'static str,
    pub time_column: &'static str,
    /// RFC 3339 UTC; null for a file without rows.
    pub min_time: Option<String>,
    pub max_time: Option<String>,
    pub convert_seconds: f64,
}

/// One failed file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileFailure {
    /// The zip, as a source URL.
    pub source: String,
    pub table_file: String,
    /// `download`, `verify`, `convert` or `upload`.
    pub stage: &'static str,
    pub error: String,
    pub hint: String,
    /// The CSV line (1-based, the header counted) where the conversion failed.
    pub line: Option<u64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct PlanSummary {
    pub reasons: BTreeMap<&'static str, u64>,
    /// Source prefixes listed.
    pub prefixes: u64,
    /// Destination scopes listed (a table, a symbol of it, or a month of it).
    pub dest_scopes: u64,
    pub listing_seconds: f64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Throughput {
    /// CSV MB (10^6 bytes) per second of conversion on one core: the sum of the files'
    /// CSV bytes over the sum of their conversion times (inflate + parse + encode + zstd).
    pub csv_mb_per_s_per_core: f64,
    /// CSV MB per second of wall time over the whole run (transfers included).
    pub csv_mb_per_s: f64,
    pub files_per_s: f64,
    /// Sum of the files' conversion times.
    pub convert_seconds: f64,
    /// Parquet bytes per zip byte over the converted files.
    pub parquet_to_zip_ratio: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TablesReportSettings {
    pub batch_size: usize,
    pub max_local_bytes: u64,
    pub workers: u32,
    pub threads: usize,
    pub attempts: u32,
    pub rebuild: bool,
    pub compression: &'static str,
    pub row_group_rows: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct TablesReport {
    pub format_version: u32,
    pub tool: Tool,
    pub command: &'static str,
    #[serde(flatten)]
    pub run: RunHeader,
    #[serde(flatten)]
    pub timing: Timing,
    pub settings: TablesReportSettings,
    pub totals: Totals,
    pub plan: PlanSummary,
    pub throughput: Throughput,
    pub files: Vec<FileReport>,
    pub files_omitted: u64,
    pub failures: Vec<FileFailure>,
    pub failures_omitted: u64,
    pub error: Option<RunFailure>,
    pub resources: Option<ResourceSummary>,
    pub exit_code: i32,
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

impl TablesReport {
    /// Fill the derived throughput figures from the totals and the files.
    pub fn finish_derived(&mut self, convert_seconds: f64) {
        let t = &self.totals;
        let mb = t.csv_bytes as f64 / 1e6;
        self.throughput = Throughput {
            csv_mb_per_s_per_core: if convert_seconds > 0.0 {
                round3(mb / convert_seconds)
            } else {
                0.0
            },
            csv_mb_per_s: if self.timing.duration_seconds > 0.0 {
                round3(mb / self.timing.duration_seconds)
            } else {
                0.0
            },
            files_per_s: if self.timing.duration_seconds > 0.0 {
                round3(t.converted as f64 / self.timing.duration_seconds)
            } else {
                0.0
            },
            convert_seconds: round3(convert_seconds),
            parquet_to_zip_ratio: if t.bytes_in > 0 {
                round3(t.bytes_out as f64 / t.bytes_in as f64)
            } else {
                0.0
            },
        };
    }

    /// The summary on stderr.
    pub fn human_summary(&self) -> String {
        let t = &self.totals;
        let mut s = String::new();
        let _ = writeln!(
            s,
            "lakesync tables{}: {} selected, {} to build, {} up to date; {} converted, {} failed; {} rows; {:.1} MB zip -> {:.1} MB CSV -> {:.1} MB Parquet in {:.1}s ({:.1} MB/s of CSV per core)",
            if self.run.dry_run { " (dry run)" } else { "" },
            t.selected,
            t.planned,
            t.skipped,
            t.converted,
            t.failed,
            t.rows,
            t.bytes_in as f64 / 1e6,
            t.csv_bytes as f64 / 1e6,
            t.bytes_out as f64 / 1e6,
            self.timing.duration_seconds,
            self.throughput.csv_mb_per_s_per_core,
        );
        if t.unsupported + t.unrecognised > 0 {
            let _ = writeln!(
                s,
                "  not converted: {} zips of an unsupported data type (EOHSummary), {} at non-archive keys",
                t.unsupported, t.unrecognised
            );
        }
        for f in self.failures.iter().take(10) {
            let _ = writeln!(s, "  failed ({}): {}", f.stage, f.error);
        }
        if self.failures.len() > 10 || self.failures_omitted > 0 {
            let _ = writeln!(
                s,
                "  ... {} more failures in the report",
                self.failures.len().saturating_sub(10) as u64 + self.failures_omitted
            );
        }
        if let Some(e) = &self.error {
            let _ = writeln!(s, "  stopped: {}", e.message);
        }
        s
    }

    /// The history line (`lakesync report HISTORY` reads it like sync's).
    pub fn history_entry(&self) -> crate::report::history::HistoryEntry {
        let r = self.resources.as_ref();
        crate::report::history::HistoryEntry {
            finished_at: self.timing.finished_at.clone(),
            mode: "tables".into(),
            duration_seconds: self.timing.duration_seconds,
            planned: self.totals.planned,
            copied: self.totals.converted,
            skipped: self.totals.skipped,
            failed: self.totals.failed,
            bytes_copied: self.totals.bytes_out,
            rss_peak_bytes: r.map_or(0, |r| r.total_rss_peak_bytes),
            cpu_avg_pct: r.map_or(0.0, |r| f64::from(r.cpu_avg_pct)),
            sla: Vec::new(),
            worst_batch_seconds: 0.0,
            exit_code: self.exit_code,
            // SLAs over history judge sync jobs; tables runs are not one of them.
            job: None,
            validated: None,
        }
    }

    /// Prometheus text: sync's families (mode="tables"; `copied` counts converted files,
    /// `bytes_copied` Parquet bytes) plus rows and CSV bytes.
    pub fn metrics_text(&self, finished_unix: i64) -> String {
        let t = &self.totals;
        let r = self.resources.as_ref();
        let mut text = crate::report::metrics::render(&crate::report::metrics::MetricsInput {
            mode: "tables",
            planned: t.planned,
            copied: t.converted,
            skipped: t.skipped,
            failed: t.failed,
            bytes_copied: t.bytes_out,
            duration_seconds: self.timing.duration_seconds,
            success_ratio: crate::report::metrics::success_ratio(t.converted, t.planned),
            ops_per_file: 0.0,
            rss_peak_bytes: r.map_or(0, |r| r.total_rss_peak_bytes),
            cpu_avg_pct: r.map_or(0.0, |r| f64::from(r.cpu_avg_pct)),
            sla: &[],
            finished_unix,
            files_per_s: if self.timing.duration_seconds > 0.0 {
                t.converted as f64 / self.timing.duration_seconds
            } else {
                0.0
            },
            history_median_files_per_s: None,
            success_ratio_24h: None,
        });
        let p = crate::report::metrics::PREFIX;
        for (name, help, v) in [
            (
                "rows",
                "Rows written to Parquet by the last tables run.",
                t.rows,
            ),
            (
                "csv_bytes",
                "CSV bytes converted by the last tables run.",
                t.csv_bytes,
            ),
            (
                "zip_bytes",
                "Zip bytes downloaded by the last tables run.",
                t.bytes_in,
            ),
        ] {
            let _ = writeln!(text, "# HELP {p}{name} {help}");
            let _ = writeln!(text, "# TYPE {p}{name} gauge");
            let _ = writeln!(text, "{p}{name}{{mode=\"tables\"}} {v}");
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Totals with these counts, the others zero.
    fn totals(converted: u64, rows: u64, failed: u64) -> Totals {
        Totals {
            converted,
            rows,
            failed,
            ..Default::default()
        }
    }

    #[test]
    fn totals_fold() {
        let mut a = totals(1, 10, 0);
        a += totals(2, 5, 1);
        assert_eq!(a, totals(3, 15, 1));
    }
}
