//! Prometheus metrics for the last run, as a textfile for node_exporter's textfile collector
//! (text exposition format 0.0.4).
//!
//! Every metric is a gauge describing the last run (a counter would need a process that
//! lives across runs), named `lakesync_last_run_*` with its unit in the name, and labelled
//! with the run's `mode` so direct and staged runs writing separate files stay apart.
//! Rendering is pure; [`write_atomic`] is the only I/O: the collector must never read a
//! half-written file, so the content goes to a temp file in the same directory (not named
//! `*.prom`, which the collector would pick up) and is renamed over the target.

use std::fmt::Write as _;
use std::fs::{File, Permissions};
use std::io::{self, Write as _};
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;

use crate::report::sla::Check;

pub const PREFIX: &str = "lakesync_last_run_";

/// Everything the metrics describe.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricsInput<'a> {
    pub mode: &'a str,
    pub planned: u64,
    pub copied: u64,
    pub skipped: u64,
    pub failed: u64,
    pub bytes_copied: u64,
    pub duration_seconds: f64,
    /// 0..=1.
    pub success_ratio: f64,
    pub ops_per_file: f64,
    /// lakesync plus children.
    pub rss_peak_bytes: u64,
    /// Per machine.
    pub cpu_avg_pct: f64,
    pub sla: &'a [Check],
    /// When the run finished, seconds since the Unix epoch.
    pub finished_unix: i64,
    /// Copied objects per second over the whole run.
    pub files_per_s: f64,
    /// With `--history`: the median files/s of the job's recent runs (SLAs over history).
    pub history_median_files_per_s: Option<f64>,
    /// With `--history`: copied over planned across the job's runs of the last 24 h, 0..=1.
    pub success_ratio_24h: Option<f64>,
}

/// `done` over `planned` for `MetricsInput::success_ratio`, 0..=1; an empty plan is 1
/// (nothing to do is no failure).
pub fn success_ratio(done: u64, planned: u64) -> f64 {
    if planned == 0 {
        1.0
    } else {
        done as f64 / planned as f64
    }
}

/// A sample value: integers are printed exactly (a u64 byte count does not fit an f64).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Value {
    U(u64),
    I(i64),
    F(f64),
}

impl std::fmt::Display for Value {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {
            Value::U(v) => write!(f, "{v}"),
            Value::I(v) => write!(f, "{v}"),
            // Rust spells these "NaN", "inf", "-inf"; the format wants "NaN", "+Inf", "-Inf".
            Value::F(v) if v.is_nan() => f.write_str("NaN"),
            Value::F(v) if v == f64::INFINITY => f.write_str("+Inf"),
            Value::F(v) if v == f64::NEG_INFINITY => f.write_str("-Inf"),
            Value::F(v) => write!(f, "{v}"),
        }
    }
}

/// Escape a label value: backslash, double quote and newline (the format's three escapes).
fn escape_label(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => out.push_str(r"\\"),
            '"' => out.push_str(r#"\""#),
            '\n' => out.push_str(r"\n"),
            c => out.push(c),
        }
    }
    out
}

/// One metric family: HELP and TYPE once, then its samples.
fn family(out: &mut String, name: &str, help: &str, samples: &[(&[(&str, &str)], Value)]) {
    gauge_family(out, &format!("{PREFIX}{name}"), help, samples);
}

/// One gauge family under its full name (the live metrics have their own prefix).
pub(crate) fn gauge_family(
    out: &mut String,
    name: &str,
    help: &str,
    samples: &[(&[(&str, &str)], Value)],
) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} gauge");
    for (labels, value) in samples {
        let _ = write!(out, "{name}");
        if !labels.is_empty() {
            out.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                let _ = write!(out, "{k}=\"{}\"", escape_label(v));
            }
            out.push('}');
        }
        let _ = writeln!(out, " {value}");
    }
}

/// The textfile content.
pub fn render(m: &MetricsInput) -> String {
    let mut out = String::new();
    let mode: &[(&str, &str)] = &[("mode", m.mode)];
    let state = |s| [("mode", m.mode), ("state", s)];
    let (planned, copied, skipped, failed) = (
        state("planned"),
        state("copied"),
        state("skipped"),
        state("failed"),
    );
    family(
        &mut out,
        "files",
        "Objects in the last run by state: planned (needed copying), copied, skipped (already in place), failed.",
        &[
            (&planned, Value::U(m.planned)),
            (&copied, Value::U(m.copied)),
            (&skipped, Value::U(m.skipped)),
            (&failed, Value::U(m.failed)),
        ],
    );
    // The run's single-sample families.
    for (name, help, value) in [
        (
            "bytes_copied",
            "Bytes copied by the last run.",
            Value::U(m.bytes_copied),
        ),
        (
            "duration_seconds",
            "Wall-clock duration of the last run.",
            Value::F(m.duration_seconds),
        ),
        (
            "success_ratio",
            "Copied over planned objects in the last run (1 when nothing was planned).",
            Value::F(m.success_ratio),
        ),
        (
            "operations_per_file",
            "s5cmd operations per copied object in the last run, retries included.",
            Value::F(m.ops_per_file),
        ),
        (
            "rss_peak_bytes",
            "Peak resident memory of lakesync plus its s5cmd children in the last run.",
            Value::U(m.rss_peak_bytes),
        ),
        (
            "cpu_avg_percent",
            "Average CPU of lakesync plus its children in the last run, percent of the whole machine.",
            Value::F(m.cpu_avg_pct),
        ),
    ] {
        family(&mut out, name, help, &[(mode, value)]);
    }
    let check_labels: Vec<[(&str, &str); 2]> = m
        .sla
        .iter()
        .map(|c| [("mode", m.mode), ("check", c.name.as_str())])
        .collect();
    let statuses: Vec<(&[(&str, &str)], Value)> = check_labels
        .iter()
        .zip(m.sla)
        .map(|(l, c)| (l.as_slice(), Value::U(u64::from(c.status.level()))))
        .collect();
    family(
        &mut out,
        "sla_status",
        "SLA check status in the last run: 0 ok, 1 warning, 2 critical.",
        &statuses,
    );
    let values: Vec<(&[(&str, &str)], Value)> = check_labels
        .iter()
        .zip(m.sla)
        .map(|(l, c)| (l.as_slice(), Value::F(c.value)))
        .collect();
    family(
        &mut out,
        "sla_value_percent",
        "The value each SLA check compared against its thresholds, in percent.",
        &values,
    );
    family(
        &mut out,
        "files_per_second",
        "Copied objects per second over the whole last run.",
        &[(mode, Value::F(m.files_per_s))],
    );
    let optional = |v: Option<f64>| -> Vec<(&[(&str, &str)], Value)> {
        v.map(|v| (mode, Value::F(v))).into_iter().collect()
    };
    family(
        &mut out,
        "history_median_files_per_second",
        "Median files per second of the job's recent runs before the last run (with --history).",
        &optional(m.history_median_files_per_s),
    );
    family(
        &mut out,
        "success_ratio_24h",
        "Copied over planned across the job's runs of the 24 hours up to the last run (with --history).",
        &optional(m.success_ratio_24h),
    );
    family(
        &mut out,
        "timestamp_seconds",
        "When the last run finished, seconds since the Unix epoch.",
        &[(mode, Value::I(m.finished_unix))],
    );
    out
}

/// Replace `path` with `content` so a reader sees the old file or the new one, never a part.
pub fn write_atomic(path: &Path, content: &str) -> io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let mut tmp = tempfile::Builder::new()
        .prefix(".lakesync-metrics-")
        .suffix(".tmp")
        .tempfile_in(dir)?;
    tmp.write_all(content.as_bytes())?;
    // Temp files are created 0600; node_exporter usually runs as another user.
    tmp.as_file()
        .set_permissions(Permissions::from_mode(0o644))?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    // Make the rename itself durable. The new content is already in place and complete, so a
    // directory that refuses fsync is not worth failing the run over.
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::report::sla::Status;

    fn checks() -> Vec<Check> {
        [
            ("success_rate", Status::Ok, 99.5),
            ("batch_time_p95", Status::Warning, 160.0),
            ("memory", Status::Critical, 85.25),
        ]
        .into_iter()
        .map(|(name, status, value)| Check {
            name: name.into(),
            target: String::new(),
            actual: String::new(),
            status,
            value,
        })
        .collect()
    }

    fn input<'a>(mode: &'a str, sla: &'a [Check]) -> MetricsInput<'a> {
        MetricsInput {
            mode,
            planned: 200,
            copied: 199,
            skipped: 1_000,
            failed: 1,
            // Above 2^53: must not pass through an f64.
            bytes_copied: 9_007_199_254_740_993,
            duration_seconds: 12.345,
            success_ratio: 0.995,
            ops_per_file: 1.005,
            rss_peak_bytes: 123_456_789,
            cpu_avg_pct: 7.5,
            sla,
            finished_unix: 1_760_000_000,
            files_per_s: 16.25,
            history_median_files_per_s: Some(20.5),
            success_ratio_24h: None,
        }
    }

    /// Parse Prometheus text as Prometheus would (shared with the live metrics' tests).
    pub(crate) fn parse(text: &str) -> prometheus_parse::Scrape {
        prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_string()))).expect("parses")
    }

    /// The one gauge sample of `metric` with these labels.
    pub(crate) fn gauge(
        s: &prometheus_parse::Scrape,
        metric: &str,
        labels: &[(&str, &str)],
    ) -> f64 {
        let found: Vec<f64> = s
            .samples
            .iter()
            .filter(|x| x.metric == metric)
            .filter(|x| labels.iter().all(|(k, v)| x.labels.get(k) == Some(v)))
            .map(|x| match x.value {
                prometheus_parse::Value::Gauge(v) => v,
                ref other => panic!("{metric} is not a gauge: {other:?}"),
            })
            .collect();
        assert_eq!(found.len(), 1, "{metric} {labels:?}: {found:?}");
        found[0]
    }

    #[test]
    fn every_metric_round_trips() {
        let sla = checks();
        let text = render(&input("direct", &sla));
        let s = parse(&text);
        let d = [("mode", "direct")];
        let g = |m: &str, l: &[(&str, &str)]| gauge(&s, &format!("{PREFIX}{m}"), l);
        for (state, v) in [
            ("planned", 200.0),
            ("copied", 199.0),
            ("skipped", 1000.0),
            ("failed", 1.0),
        ] {
            assert_eq!(g("files", &[("mode", "direct"), ("state", state)]), v);
        }
        assert_eq!(g("bytes_copied", &d), 9_007_199_254_740_993_f64);
        assert!(
            text.contains("lakesync_last_run_bytes_copied{mode=\"direct\"} 9007199254740993\n")
        );
        assert_eq!(g("duration_seconds", &d), 12.345);
        assert_eq!(g("success_ratio", &d), 0.995);
        assert_eq!(g("operations_per_file", &d), 1.005);
        assert_eq!(g("rss_peak_bytes", &d), 123_456_789.0);
        assert_eq!(g("cpu_avg_percent", &d), 7.5);
        assert_eq!(g("timestamp_seconds", &d), 1_760_000_000.0);
        for (check, level, value) in [
            ("success_rate", 0.0, 99.5),
            ("batch_time_p95", 1.0, 160.0),
            ("memory", 2.0, 85.25),
        ] {
            let l = [("mode", "direct"), ("check", check)];
            assert_eq!(g("sla_status", &l), level);
            assert_eq!(g("sla_value_percent", &l), value);
        }
        assert_eq!(g("files_per_second", &d), 16.25);
        assert_eq!(g("history_median_files_per_second", &d), 20.5);
        // No 24 h figure (no --history): the family is announced without a sample.
        assert!(text.contains("# TYPE lakesync_last_run_success_ratio_24h gauge\n"));
        assert!(
            !s.samples
                .iter()
                .any(|x| x.metric.ends_with("success_ratio_24h"))
        );
        // 4 files + 9 single gauges + 3 + 3 SLA samples.
        assert_eq!(s.samples.len(), 19);
        for family in [
            "files",
            "bytes_copied",
            "duration_seconds",
            "success_ratio",
            "operations_per_file",
            "rss_peak_bytes",
            "cpu_avg_percent",
            "sla_status",
            "sla_value_percent",
            "timestamp_seconds",
        ] {
            let name = format!("{PREFIX}{family}");
            assert!(s.docs.contains_key(&name), "HELP for {name}");
            assert_eq!(
                text.matches(&format!("# TYPE {name} gauge\n")).count(),
                1,
                "one TYPE for {name}"
            );
        }
    }

    #[test]
    fn no_sla_checks_still_renders_headers() {
        let text = render(&input("staged", &[]));
        let s = parse(&text);
        assert!(s.samples.iter().all(|x| !x.metric.ends_with("sla_status")));
        assert!(text.contains("# TYPE lakesync_last_run_sla_status gauge\n"));
        assert_eq!(
            gauge(&s, "lakesync_last_run_files", &[("state", "copied")]),
            199.0
        );
    }

    /// Undo the format's label escapes (prometheus-parse does not; it also splits on `,` and
    /// `=` inside values, so the escaping is checked here directly).
    fn unescape(v: &str) -> String {
        let mut out = String::new();
        let mut chars = v.chars();
        while let Some(c) = chars.next() {
            if c == '\\' {
                match chars.next() {
                    Some('n') => out.push('\n'),
                    Some(other) => out.push(other),
                    None => out.push('\\'),
                }
            } else {
                out.push(c);
            }
        }
        out
    }

    #[test]
    fn label_values_are_escaped() {
        let nasty = "a\\b\"c\nd";
        let text = render(&input(nasty, &[]));
        let line = text
            .lines()
            .find(|l| l.starts_with("lakesync_last_run_bytes_copied{"))
            .expect("sample line");
        assert_eq!(
            line,
            r#"lakesync_last_run_bytes_copied{mode="a\\b\"c\nd"} 9007199254740993"#
        );
        let raw = line
            .strip_prefix("lakesync_last_run_bytes_copied{mode=\"")
            .and_then(|r| r.strip_suffix("\"} 9007199254740993"))
            .expect("label value");
        assert_eq!(unescape(raw), nasty);
        // No raw newline escaped into the exposition: every line is a comment or a sample.
        assert!(
            text.lines()
                .all(|l| l.starts_with('#') || l.starts_with(PREFIX))
        );
    }

    #[test]
    fn special_floats_use_prometheus_spelling() {
        assert_eq!(Value::F(f64::NAN).to_string(), "NaN");
        assert_eq!(Value::F(f64::INFINITY).to_string(), "+Inf");
        assert_eq!(Value::F(f64::NEG_INFINITY).to_string(), "-Inf");
        assert_eq!(Value::F(0.5).to_string(), "0.5");
        assert_eq!(Value::I(-3).to_string(), "-3");
    }

    #[test]
    fn atomic_write_replaces_and_leaves_nothing_behind() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("lakesync.prom");
        std::fs::write(&path, "old content\n").expect("seed");
        write_atomic(&path, "new content\n").expect("write");
        assert_eq!(
            std::fs::read_to_string(&path).expect("read"),
            "new content\n"
        );
        let names: Vec<String> = std::fs::read_dir(dir.path())
            .expect("list")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, vec!["lakesync.prom".to_string()]);
        let mode = std::fs::metadata(&path).expect("stat").permissions().mode();
        assert_eq!(mode & 0o777, 0o644);
        // Creating a file that did not exist works too.
        let fresh = dir.path().join("other.prom");
        write_atomic(&fresh, "x 1\n").expect("write");
        assert_eq!(std::fs::read_to_string(&fresh).expect("read"), "x 1\n");
    }

    #[test]
    fn atomic_write_into_a_missing_directory_fails() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("nope").join("lakesync.prom");
        assert!(write_atomic(&path, "x 1\n").is_err());
    }
}
