//! Run history: one JSON object per line, appended after every run, and the summary built
//! from it (success over time, SLA compliance per check, the slowest batches).
//!
//! Appending is the only write: a line goes out in a single `write_all` on a file opened
//! with `O_APPEND`, so runs finishing at the same moment add whole lines rather than
//! interleaving. Reading tolerates what a crash or a hand edit leaves behind (a truncated
//! last line, garbage, invalid UTF-8): such lines are counted, never fatal. The summary is
//! built by a pure fold over lines, and unit-tested on strings.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs::OpenOptions;
use std::io::{self, BufRead, BufReader, Write as _};
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::report::sla::{Check, Status};

/// Rows shown by [`render_text`]; the summary itself keeps every run.
pub const TEXT_ROWS: usize = 20;
/// Worst batches kept in the summary.
pub const WORST_BATCHES: usize = 5;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryEntry {
    /// RFC 3339.
    pub finished_at: String,
    pub mode: String,
    pub duration_seconds: f64,
    pub planned: u64,
    pub copied: u64,
    pub skipped: u64,
    pub failed: u64,
    pub bytes_copied: u64,
    pub rss_peak_bytes: u64,
    pub cpu_avg_pct: f64,
    pub sla: Vec<Check>,
    pub worst_batch_seconds: f64,
    pub exit_code: i32,
    /// The job this run belongs to (`sla_history::job_key`); absent in older lines.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job: Option<String>,
    /// Copied and confirmed by the validation listing; absent in older lines.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validated: Option<u64>,
}

impl HistoryEntry {
    /// The figures SLAs over history use; `None` when `finished_at` is not a timestamp.
    pub fn figures(&self) -> Option<crate::report::sla_history::RunFigures> {
        let at: jiff::Timestamp = self.finished_at.parse().ok()?;
        Some(crate::report::sla_history::RunFigures {
            finished_unix: at.as_second(),
            planned: self.planned,
            copied: self.validated.unwrap_or(self.copied).min(self.copied),
            duration_seconds: self.duration_seconds,
        })
    }
}

/// The figures of every run of `job` in the history file at `path` (none when it does not
/// exist yet); unreadable lines are skipped, as in [`summarise`].
pub fn job_runs(path: &Path, job: &str) -> io::Result<Vec<crate::report::sla_history::RunFigures>> {
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut out = Vec::new();
    let mut reader = BufReader::new(file);
    let mut line = Vec::new();
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line)? == 0 {
            return Ok(out);
        }
        let Ok(text) = std::str::from_utf8(&line) else {
            continue;
        };
        if let Ok(e) = serde_json::from_str::<HistoryEntry>(text.trim())
            && e.job.as_deref() == Some(job)
            && let Some(f) = e.figures()
        {
            out.push(f);
        }
    }
}

/// Append `e` as one line.
pub fn append(path: &Path, e: &HistoryEntry) -> io::Result<()> {
    let mut f = OpenOptions::new()
        .create(true)
        .read(true)
        .append(true)
        .open(path)?;
    // A run that died mid-write leaves a last line without its newline: start on a new
    // line, or this record would be glued to the fragment and both lost to the summary.
    let mut line = if ends_mid_line(&mut f)? {
        vec![b'\n']
    } else {
        Vec::new()
    };
    serde_json::to_writer(&mut line, e).map_err(io::Error::other)?;
    line.push(b'\n');
    // One write of the whole record: O_APPEND keeps concurrent appenders' lines whole.
    f.write_all(&line)
}

/// Whether the file is non-empty and its last byte is not a newline.
fn ends_mid_line(f: &mut std::fs::File) -> io::Result<bool> {
    use std::io::{Read as _, Seek as _, SeekFrom};
    if f.metadata()?.len() == 0 {
        return Ok(false);
    }
    f.seek(SeekFrom::End(-1))?;
    let mut last = [0u8; 1];
    f.read_exact(&mut last)?;
    Ok(last[0] != b'\n')
}

/// One run in the summary.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunRow {
    pub finished_at: String,
    pub mode: String,
    pub planned: u64,
    pub copied: u64,
    pub failed: u64,
    /// Percent; `None` when nothing was planned.
    pub success_rate: Option<f64>,
    /// Worst SLA status of the run (`ok` when it recorded no checks).
    pub sla: Status,
    pub exit_code: i32,
}

/// How often one SLA check landed on each status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Compliance {
    pub ok: u64,
    pub warning: u64,
    pub critical: u64,
}

impl Compliance {
    fn add(&mut self, s: Status) {
        match s {
            Status::Ok => self.ok += 1,
            Status::Warning => self.warning += 1,
            Status::Critical => self.critical += 1,
        }
    }

    fn total(&self) -> u64 {
        self.ok + self.warning + self.critical
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WorstBatch {
    pub finished_at: String,
    pub mode: String,
    pub worst_batch_seconds: f64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct HistorySummary {
    pub runs: u64,
    /// Copied over planned across all runs, percent; `None` when nothing was ever planned.
    pub success_rate_overall: Option<f64>,
    pub planned_total: u64,
    pub copied_total: u64,
    pub failed_total: u64,
    /// In file order (oldest first, as appended).
    pub rows: Vec<RunRow>,
    /// Per check name.
    pub sla: BTreeMap<String, Compliance>,
    /// Slowest first, at most [`WORST_BATCHES`].
    pub worst_batches: Vec<WorstBatch>,
    /// Lines that were not a history entry (blank lines are not counted).
    pub unreadable_lines: u64,
    /// SLAs over history per job, judged at each job's last run (entries that name a job).
    pub jobs: Vec<JobSummary>,
    /// Each job's runs, in file order, for `jobs`.
    #[serde(skip)]
    job_runs: BTreeMap<String, Vec<crate::report::sla_history::RunFigures>>,
}

/// One job's last run judged against its earlier runs (`sla_history::judge`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JobSummary {
    pub job: String,
    pub runs: u64,
    pub baseline: crate::report::sla_history::Baseline,
    /// `throughput_vs_history` and `success_rate_24h` of the last run.
    pub checks: Vec<Check>,
}

impl HistorySummary {
    /// Fold one line in.
    fn add_line(&mut self, line: &[u8]) {
        let Ok(text) = std::str::from_utf8(line) else {
            self.unreadable_lines += 1;
            return;
        };
        let text = text.trim();
        if text.is_empty() {
            return;
        }
        match serde_json::from_str::<HistoryEntry>(text) {
            Ok(e) => self.add(e),
            Err(_) => self.unreadable_lines += 1,
        }
    }

    /// The per-job judgements, once every line is in.
    fn finish(mut self) -> Self {
        self.jobs = std::mem::take(&mut self.job_runs)
            .into_iter()
            .filter_map(|(job, mut runs)| {
                let last = runs.pop()?;
                let (checks, baseline) = crate::report::sla_history::judge(&last, &runs);
                Some(JobSummary {
                    job,
                    runs: runs.len() as u64 + 1,
                    baseline,
                    checks,
                })
            })
            .collect();
        self
    }

    fn add(&mut self, e: HistoryEntry) {
        if let Some(job) = &e.job
            && let Some(f) = e.figures()
        {
            self.job_runs.entry(job.clone()).or_default().push(f);
        }
        self.runs += 1;
        self.planned_total += e.planned;
        self.copied_total += e.copied;
        self.failed_total += e.failed;
        self.success_rate_overall = rate(self.copied_total, self.planned_total);
        for c in &e.sla {
            self.sla.entry(c.name.clone()).or_default().add(c.status);
        }
        if e.worst_batch_seconds.is_finite() && e.worst_batch_seconds > 0.0 {
            self.worst_batches.push(WorstBatch {
                finished_at: e.finished_at.clone(),
                mode: e.mode.clone(),
                worst_batch_seconds: e.worst_batch_seconds,
            });
            // Stable sort: among equal times the earlier run stays first.
            self.worst_batches
                .sort_by(|a, b| b.worst_batch_seconds.total_cmp(&a.worst_batch_seconds));
            self.worst_batches.truncate(WORST_BATCHES);
        }
        self.rows.push(RunRow {
            success_rate: rate(e.copied, e.planned),
            sla: crate::report::sla::worst(&e.sla),
            finished_at: e.finished_at,
            mode: e.mode,
            planned: e.planned,
            copied: e.copied,
            failed: e.failed,
            exit_code: e.exit_code,
        });
    }
}

fn rate(copied: u64, planned: u64) -> Option<f64> {
    (planned > 0).then(|| copied as f64 * 100.0 / planned as f64)
}

/// Summarise a history file from any reader; lines that are not entries are counted.
pub fn summarise_reader(reader: impl BufRead) -> io::Result<HistorySummary> {
    let mut s = HistorySummary::default();
    let mut reader = reader;
    let mut line = Vec::new();
    loop {
        line.clear();
        // Bytes, not `lines()`: one line of invalid UTF-8 must not end the summary.
        if reader.read_until(b'\n', &mut line)? == 0 {
            return Ok(s.finish());
        }
        s.add_line(&line);
    }
}

/// Summarise the history file at `path`.
pub fn summarise(path: &Path) -> io::Result<HistorySummary> {
    summarise_reader(BufReader::new(std::fs::File::open(path)?))
}

fn fmt_rate(r: Option<f64>) -> String {
    r.map_or_else(|| "n/a".to_string(), |r| format!("{r:.2}%"))
}

/// The summary for people: overall line, the last [`TEXT_ROWS`] runs, SLA compliance, SLAs
/// over history per job, the slowest batches.
pub fn render_text(s: &HistorySummary) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "lakesync history: {} run(s), {} copied of {} planned ({}), {} failed",
        s.runs,
        s.copied_total,
        s.planned_total,
        fmt_rate(s.success_rate_overall),
        s.failed_total
    );
    if s.unreadable_lines > 0 {
        let _ = writeln!(out, "  {} unreadable line(s) skipped", s.unreadable_lines);
    }
    if !s.rows.is_empty() {
        let skipped = s.rows.len().saturating_sub(TEXT_ROWS);
        let _ = writeln!(out, "\nruns (oldest first):");
        if skipped > 0 {
            let _ = writeln!(out, "  ... {skipped} earlier run(s)");
        }
        let _ = writeln!(
            out,
            "  {:<27} {:<7} {:>9} {:>9} {:>7} {:>9} {:<8} {:>4}",
            "finished_at", "mode", "planned", "copied", "failed", "success", "sla", "exit"
        );
        for r in &s.rows[skipped..] {
            let _ = writeln!(
                out,
                "  {:<27} {:<7} {:>9} {:>9} {:>7} {:>9} {:<8} {:>4}",
                r.finished_at,
                r.mode,
                r.planned,
                r.copied,
                r.failed,
                fmt_rate(r.success_rate),
                r.sla.as_str(),
                r.exit_code
            );
        }
    }
    if !s.sla.is_empty() {
        let _ = writeln!(out, "\nSLA compliance (runs ok / warning / critical):");
        for (name, c) in &s.sla {
            let _ = writeln!(
                out,
                "  {name:<22} {:>5} / {:>5} / {:>5}  ({} ok)",
                c.ok,
                c.warning,
                c.critical,
                fmt_rate(rate(c.ok, c.total()))
            );
        }
    }
    if !s.jobs.is_empty() {
        let _ = writeln!(
            out,
            "\nSLAs over history (each job's last run against its earlier runs):"
        );
        let fps = |v: Option<f64>| v.map_or_else(|| "n/a".to_string(), |v| format!("{v:.1}"));
        for j in &s.jobs {
            let b = &j.baseline;
            let _ = writeln!(out, "  {} ({} run(s))", j.job, j.runs);
            let _ = writeln!(
                out,
                "    files/s {} vs median {} over {} run(s); success over 24 h {} ({} run(s))",
                fps(b.files_per_s),
                fps(b.median_files_per_s),
                b.compared_runs,
                fmt_rate(b.success_rate_24h),
                b.runs_24h
            );
            for c in &j.checks {
                let _ = writeln!(
                    out,
                    "    {:<22} {:<8} {}",
                    c.name,
                    c.status.as_str(),
                    c.actual
                );
            }
        }
    }
    if !s.worst_batches.is_empty() {
        let _ = writeln!(out, "\nslowest batches:");
        for w in &s.worst_batches {
            let _ = writeln!(
                out,
                "  {:>8.2} s  {} ({})",
                w.worst_batch_seconds, w.finished_at, w.mode
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(name: &str, status: Status) -> Check {
        Check {
            name: name.into(),
            target: "t".into(),
            actual: "a".into(),
            status,
            value: 1.0,
        }
    }

    fn entry(at: &str, planned: u64, copied: u64, worst: f64, sla: Vec<Check>) -> HistoryEntry {
        HistoryEntry {
            finished_at: at.into(),
            mode: "direct".into(),
            duration_seconds: 10.0,
            planned,
            copied,
            skipped: 5,
            failed: planned - copied,
            bytes_copied: copied * 1000,
            rss_peak_bytes: 40_000_000,
            cpu_avg_pct: 3.5,
            sla,
            worst_batch_seconds: worst,
            exit_code: i32::from(copied < planned),
            job: None,
            validated: None,
        }
    }

    #[test]
    fn jobs_are_judged_at_their_last_run_against_their_own_history() {
        let mut lines = String::new();
        // Job a: four runs at 10 files/s, then one at 5 (degraded); job b: one run.
        for (i, (job, copied, secs)) in [
            ("a", 100, 10.0),
            ("b", 100, 1.0),
            ("a", 100, 10.0),
            ("a", 100, 10.0),
            ("a", 100, 10.0),
            ("a", 100, 20.0),
        ]
        .into_iter()
        .enumerate()
        {
            let mut e = entry(&format!("2026-11-2{i}T00:00:00Z"), 100, copied, 1.0, vec![]);
            e.duration_seconds = secs;
            e.job = Some(job.into());
            e.validated = Some(copied);
            lines.push_str(&serde_json::to_string(&e).unwrap());
            lines.push('\n');
        }
        // An older line without a job counts as a run but belongs to no job.
        lines.push_str(
            &serde_json::to_string(&entry("2026-11-01T00:00:00Z", 1, 1, 1.0, vec![])).unwrap(),
        );
        lines.push('\n');
        let s = summarise_reader(std::io::Cursor::new(lines)).unwrap();
        assert_eq!(s.runs, 7);
        let jobs: Vec<&str> = s.jobs.iter().map(|j| j.job.as_str()).collect();
        assert_eq!(jobs, ["a", "b"]);
        let a = &s.jobs[0];
        assert_eq!(a.runs, 5);
        assert_eq!(a.baseline.median_files_per_s, Some(10.0));
        assert_eq!(a.baseline.files_per_s, Some(5.0));
        let t = a
            .checks
            .iter()
            .find(|c| c.name == "throughput_vs_history")
            .unwrap();
        assert_eq!((t.status, t.value), (Status::Warning, 50.0));
        // Runs a day apart: the 24 h window holds the last run only.
        assert_eq!(a.baseline.runs_24h, 1);
        let b = &s.jobs[1];
        assert_eq!(b.runs, 1);
        assert!(
            b.checks
                .iter()
                .any(|c| c.name == "throughput_vs_history" && c.actual == "n/a")
        );
        let text = render_text(&s);
        assert!(text.contains("SLAs over history"), "{text}");
        assert!(
            text.contains("files/s 5.0 vs median 10.0 over 4 run(s)"),
            "{text}"
        );
        assert!(text.contains("throughput_vs_history  warning"), "{text}");
    }

    #[test]
    fn append_after_a_cut_line_starts_a_new_line() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("history.jsonl");
        append(&path, &entry("2026-01-01T00:00:00Z", 10, 10, 0.5, vec![])).expect("append");
        // A crash mid-write: half a record, no newline.
        let mut text = std::fs::read_to_string(&path).expect("read");
        text.push_str("{\"finished_at\":\"2026-01-0");
        std::fs::write(&path, &text).expect("write");
        append(&path, &entry("2026-01-03T00:00:00Z", 5, 5, 0.5, vec![])).expect("append");
        let s = summarise(&path).expect("summarise");
        assert_eq!(s.runs, 2, "both whole records count");
        assert_eq!(s.unreadable_lines, 1, "the fragment is skipped alone");
        assert_eq!(s.copied_total, 15);
    }

    #[test]
    fn append_then_summarise() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("history.jsonl");
        let ok = vec![
            check("success_rate", Status::Ok),
            check("memory", Status::Ok),
        ];
        let bad = vec![
            check("success_rate", Status::Critical),
            check("memory", Status::Warning),
        ];
        append(
            &path,
            &entry("2025-01-01T00:00:00Z", 100, 100, 1.2, ok.clone()),
        )
        .expect("a");
        append(&path, &entry("2025-01-02T00:00:00Z", 100, 90, 3.4, bad)).expect("a");
        append(&path, &entry("2025-01-03T00:00:00Z", 0, 0, 0.0, ok)).expect("a");
        let text = std::fs::read_to_string(&path).expect("read");
        assert_eq!(text.lines().count(), 3);
        assert!(text.ends_with('\n'));

        let s = summarise(&path).expect("summarise");
        assert_eq!(s.runs, 3);
        assert_eq!(s.unreadable_lines, 0);
        assert_eq!(
            (s.planned_total, s.copied_total, s.failed_total),
            (200, 190, 10)
        );
        assert_eq!(s.success_rate_overall, Some(95.0));
        assert_eq!(s.rows[1].success_rate, Some(90.0));
        assert_eq!(s.rows[1].sla, Status::Critical);
        assert_eq!(s.rows[2].success_rate, None);
        assert_eq!(
            s.sla["success_rate"],
            Compliance {
                ok: 2,
                warning: 0,
                critical: 1
            }
        );
        assert_eq!(s.sla["memory"].warning, 1);
        // The run with no batch time is not a "worst batch".
        let worst: Vec<f64> = s
            .worst_batches
            .iter()
            .map(|w| w.worst_batch_seconds)
            .collect();
        assert_eq!(worst, vec![3.4, 1.2]);

        let t = render_text(&s);
        assert!(
            t.contains("3 run(s), 190 copied of 200 planned (95.00%), 10 failed"),
            "{t}"
        );
        assert!(t.contains("2025-01-02T00:00:00Z"));
        assert!(t.contains("success_rate"));
        assert!(t.contains("3.40 s"));
        // The summary serializes (for a --json flag).
        let json = serde_json::to_string(&s).expect("json");
        assert!(json.contains(r#""critical":1"#));
    }

    #[test]
    fn malformed_lines_are_counted_not_fatal() {
        let good = serde_json::to_string(&entry("2025-01-01T00:00:00Z", 10, 10, 0.5, vec![]))
            .expect("json");
        let mut raw = Vec::new();
        raw.extend_from_slice(good.as_bytes());
        raw.extend_from_slice(b"\n\nnot json\n{\"finished_at\": 3}\n");
        raw.extend_from_slice(b"\xff\xfe garbage\n");
        raw.extend_from_slice(good.as_bytes());
        raw.push(b'\n');
        // A crash mid-append: the last line is cut short and has no newline.
        raw.extend_from_slice(&good.as_bytes()[..good.len() / 2]);
        let s = summarise_reader(raw.as_slice()).expect("summarise");
        assert_eq!(s.runs, 2);
        assert_eq!(s.unreadable_lines, 4);
        assert!(render_text(&s).contains("4 unreadable line(s) skipped"));
    }

    #[test]
    fn worst_batches_keep_the_top_five() {
        let mut s = HistorySummary::default();
        for (i, secs) in [1.0, 9.0, 3.0, 7.0, 2.0, 8.0, 5.0].into_iter().enumerate() {
            s.add(entry(&format!("run{i}"), 1, 1, secs, vec![]));
        }
        let worst: Vec<f64> = s
            .worst_batches
            .iter()
            .map(|w| w.worst_batch_seconds)
            .collect();
        assert_eq!(worst, vec![9.0, 8.0, 7.0, 5.0, 3.0]);
        assert_eq!(s.worst_batches[0].finished_at, "run1");
    }

    #[test]
    fn long_history_shows_the_last_rows() {
        let mut s = HistorySummary::default();
        for i in 0..(TEXT_ROWS + 3) {
            s.add(entry(&format!("run-{i:03}"), 1, 1, 0.0, vec![]));
        }
        let t = render_text(&s);
        assert!(t.contains("... 3 earlier run(s)"));
        assert!(!t.contains("run-002 "));
        assert!(t.contains("run-003 "));
        assert_eq!(s.rows.len(), TEXT_ROWS + 3);
    }

    #[test]
    fn missing_file_is_an_error_and_empty_file_is_empty() {
        let dir = tempfile::tempdir().expect("tempdir");
        let missing = dir.path().join("none.jsonl");
        assert_eq!(
            summarise(&missing).map_err(|e| e.kind()).err(),
            Some(io::ErrorKind::NotFound)
        );
        let empty = dir.path().join("empty.jsonl");
        std::fs::write(&empty, "").expect("write");
        let s = summarise(&empty).expect("summarise");
        assert_eq!(s, HistorySummary::default());
        assert!(render_text(&s).starts_with("lakesync history: 0 run(s)"));
    }

    #[test]
    fn concurrent_appends_do_not_interleave() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("history.jsonl");
        // Large entries (many checks) make a torn write likely if append were not atomic.
        let sla: Vec<Check> = (0..200)
            .map(|i| check(&format!("check_{i}"), Status::Ok))
            .collect();
        std::thread::scope(|scope| {
            for t in 0..8 {
                let (path, sla) = (&path, &sla);
                scope.spawn(move || {
                    for i in 0..25 {
                        let e = entry(&format!("t{t}-{i}"), 1, 1, 1.0, sla.clone());
                        append(path, &e).expect("append");
                    }
                });
            }
        });
        let s = summarise(&path).expect("summarise");
        assert_eq!((s.runs, s.unreadable_lines), (200, 0));
    }
}
