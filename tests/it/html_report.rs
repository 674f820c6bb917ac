//! The HTML pages on realistic input: a 12-batch run report written by hand (failures with
//! a hostile key, SLA checks at every status) and a history summary built from history
//! lines by the real summariser. Checks the page's structure, and leaves the pages in
//! `target/report-check/` as fixtures for the browser check (`scripts/report_check.sh`,
//! run by `make report-check`; not part of `cargo test` because it needs Chromium).

use std::path::PathBuf;

use serde_json::{Value, json};

const HOSTILE_KEY: &str = r#"data/<script>alert(1)</script> & "q".zip"#;
const HOSTILE_ESCAPED: &str = "data/&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;q&quot;.zip";

fn fixture_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/report-check");
    std::fs::create_dir_all(&dir).expect("create target/report-check");
    dir
}

/// A direct run of 1,687 objects in 12 batches of up to 150: the governor probes up,
/// halves on throttling at batch 5, then settles; five objects fail.
fn run_report() -> Value {
    let workers = [16, 24, 36, 36, 18, 18, 18, 27, 27, 27, 27, 27];
    let seconds = [1.9, 1.5, 1.2, 1.3, 3.8, 1.9, 1.8, 1.4, 1.3, 1.4, 1.3, 0.4];
    let governor = [
        "probe",
        "throughput_improved",
        "throughput_flat",
        "throttled",
        "hold",
        "hold",
        "probe",
        "throughput_flat",
        "hold",
        "hold",
        "hold",
        "hold",
    ];
    let batches: Vec<Value> = (0..12)
        .map(|i| {
            let files = if i == 11 { 37 } else { 150 };
            let failed = match i {
                4 => 3,
                8 => 2,
                _ => 0,
            };
            json!({
                "index": i,
                "files": files,
                "copied": files - failed,
                "failed": failed,
                "bytes": files as u64 * 1_250_000,
                "attempts": if i == 4 { 3 } else { 1 },
                "seconds": seconds[i],
                "workers": workers[i],
                "rss_peak_bytes": 31_000_000 + (workers[i] as u64) * 650_000 + (i as u64 % 3) * 400_000,
                "cpu_avg_pct": 6.0 + workers[i] as f64 * 0.35,
                "cpu_peak_pct": 11.0 + workers[i] as f64 * 0.6,
                "next_workers": workers.get(i + 1).copied().unwrap_or(27),
                "governor": governor[i],
            })
        })
        .collect();
    let failure = |key: &str, error: &str, class: &str, attempts: u32| json!({"key": key, "source": format!("s3://data.binance.vision/{key}"), "error": error, "class": class, "attempts": attempts});
    json!({
        "format_version": 1,
        "tool": {"name": "lakesync", "version": "0.1.0", "s5cmd_version": "v2.3.0-991c9fb", "s5cmd_path": "/opt/s5cmd/bin/s5cmd"},
        "command": "sync",
        "mode": "direct",
        "dry_run": false,
        "interrupted": false,
        "source": "s3://data.binance.vision/",
        "dest": "s3://my-lake/binance/",
        "endpoint_url": null,
        "selection": "market=spot period=daily data-type=klines symbols=BTCUSDT,ETHUSDT interval=1m start=2024-01-01 end=2024-12-31",
        "shard": "2/4",
        "started_at": "2025-03-01T02:00:00.120Z",
        "finished_at": "2025-03-01T02:00:24.830Z",
        "duration_seconds": 24.71,
        "settings": {"batch_size": 150, "workers": 16, "attempts": 3, "retry_count": 3, "batch_timeout_seconds": 1800},
        "totals": {
            "selected": 1800, "planned": 1687, "skipped": 113, "copied": 1682, "failed": 5,
            "validated": 1682, "bytes_planned": 2_108_750_000, "bytes_skipped": 141_250_000,
            "bytes_copied": 2_102_500_000, "batches": 12, "retried": 9, "throttled": 6, "fallback": 0
        },
        "integrity": {"checksums_verified": 0, "unverified": 0},
        "plan": {"reasons": {"missing": 1650, "size_differs": 25, "etag_differs": 12}, "prefixes": 4, "listing_seconds": 2.41},
        "operations": {
            "by_kind": {"copy": 1696, "download": 0, "stat": 0, "verify": 0, "upload": 0, "cleanup": 0},
            "s5cmd_ops": 1696, "s5cmd_processes": 20, "per_file": 1.005,
            "network_transfers_per_file": 1.005, "local_bytes_written": 0, "unparsed_lines": 1
        },
        "throughput": {"files_per_s": 68.07, "bytes_per_s": 85_087_009.0, "copy_seconds": 19.7},
        "batches": batches,
        "failures": [
            failure(HOSTILE_KEY, "NoSuchKey: The specified key does not exist.", "permanent", 1),
            failure("data/spot/daily/klines/BTCUSDT/1m/BTCUSDT-1m-2024-03-07.zip", "SlowDown: Please reduce your request rate. status code: 503", "throttled", 3),
            failure("data/spot/daily/klines/BTCUSDT/1m/BTCUSDT-1m-2024-03-08.zip", "SlowDown: Please reduce your request rate. status code: 503", "throttled", 3),
            failure("data/spot/daily/klines/ETHUSDT/1m/ETHUSDT 1m 2024-06-01.zip", "AccessDenied: Access Denied", "permanent", 1),
            failure("data/spot/daily/klines/ETHUSDT/1m/ETHUSDT-1m-2024-06-02.zip", "RequestError: send request failed: read: connection reset by peer", "transient", 3),
        ],
        "failures_omitted": 0,
        "error": null,
        "resources": {
            "rss_peak_bytes": 14_200_000, "child_rss_peak_bytes": 41_900_000,
            "total_rss_peak_bytes": 55_300_000, "cpu_avg_pct": 14.2, "cpu_peak_pct": 33.1,
            "samples": 98, "interval_ms": 250, "logical_cpus": 2
        },
        "sampler_overhead_ms": 21.4,
        "lakesync_cpu_seconds": 0.42,
        "sla": [
            {"name": "success_rate", "target": ">= 99% (warning < 98%, critical < 95%)", "actual": "99.70% (1682 of 1687 copied, 5 failed)", "status": "ok", "value": 99.7036},
            {"name": "batch_time_p95", "target": "p95 <= 150% of 1.5 s per 100 files (critical > 200%)", "actual": "168.9% of baseline (2.53 s per 100 files, p95 over 11 batches)", "status": "warning", "value": 168.9},
            {"name": "memory", "target": "<= 60% of 500.0 MB (critical > 80%)", "actual": "55.3 MB peak = 11.1% of the ceiling", "status": "ok", "value": 11.06},
            {"name": "error_rate", "target": "<= 2% of operations (critical > 5%)", "actual": "0.83% (14 errors in 1696 operations)", "status": "ok", "value": 0.83},
            {"name": "cpu_avg", "target": "< 25% average (warning > 80% of it)", "actual": "14.2% average = 56.8% of the ceiling", "status": "ok", "value": 56.8},
            {"name": HOSTILE_KEY, "target": "a check name from a hostile source", "actual": HOSTILE_KEY, "status": "critical", "value": 250.0}
        ],
        "sla_status": "critical",
        "exit_code": 1
    })
}

/// Every `d` attribute of every `<path>`.
fn path_data(html: &str) -> Vec<String> {
    html.split("<path")
        .skip(1)
        .map(|tag| {
            let tag = tag.split('>').next().unwrap_or_default();
            tag.split(" d=\"")
                .nth(1)
                .and_then(|rest| rest.split('"').next())
                .unwrap_or_default()
                .to_string()
        })
        .collect()
}

fn assert_self_contained(html: &str) {
    let lower = html.to_ascii_lowercase();
    assert!(!lower.contains("<script"), "a <script> tag in the page");
    for asset in ["src=", "<link", "url(", "@import", "http://", "https://"] {
        assert!(!lower.contains(asset), "the page references {asset}");
    }
    assert!(html.contains("Content-Security-Policy\" content=\"default-src 'none'"));
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(html.trim_end().ends_with("</html>"));
}

#[test]
fn run_page_from_a_realistic_report() {
    let html = lakesync::report::html::render_run(&run_report());

    // Through a file, as `lakesync report --html` writes it.
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("run.html");
    std::fs::write(&file, &html).expect("write");
    let html = std::fs::read_to_string(&file).expect("read");

    assert_self_contained(&html);
    let paths = path_data(&html);
    assert!(
        paths.iter().all(|d| d.starts_with('M') && d.len() > 8),
        "a <path> without data: {paths:?}"
    );
    // Four batch charts (grid, data, axis each; CPU has two lines) at least.
    assert!(paths.len() >= 13, "{} paths", paths.len());
    // Throughput: 12 bars in one path.
    assert!(paths.iter().any(|d| d.matches('Z').count() == 12));
    assert_eq!(html.matches("<svg").count(), 5);
    assert!(!html.contains("no data"));

    assert!(html.contains(HOSTILE_ESCAPED), "escaped key missing");
    assert!(!html.contains("alert(1)</script>"));
    for word in ["OK", "WARNING", "CRITICAL", "FAILED"] {
        assert!(
            html.contains(&format!(">{word}</span>")),
            "status word {word}"
        );
    }
    assert!(html.contains("1: some objects failed"));
    assert!(html.contains("Failures (5)"));
    assert!(html.contains("2/4"));
    assert!(html.contains("1,687"));
    assert!(html.contains("2.1 GB"));

    std::fs::write(fixture_dir().join("fixture.html"), &html).expect("write fixture.html");
}

#[test]
fn history_page_from_history_lines() {
    let line = |day: u32, planned: u64, copied: u64, status: &str, worst: f64| {
        json!({
            "finished_at": format!("2025-03-{day:02}T02:00:24Z"), "mode": "direct",
            "duration_seconds": 24.7, "planned": planned, "copied": copied, "skipped": 100,
            "failed": planned - copied, "bytes_copied": copied * 1_250_000,
            "rss_peak_bytes": 55_300_000, "cpu_avg_pct": 14.2,
            "sla": [
                {"name": "success_rate", "target": "t", "actual": "a", "status": status, "value": 99.0},
                {"name": "memory", "target": "t", "actual": "a", "status": "ok", "value": 11.0},
            ],
            "worst_batch_seconds": worst, "exit_code": i32::from(copied < planned)
        })
        .to_string()
    };
    let mut text = String::new();
    for day in 1..=20u32 {
        let planned = 1500 + u64::from(day) * 10;
        let (copied, status) = match day {
            7 => (planned - 40, "warning"),
            13 => (planned - 200, "critical"),
            _ => (planned, "ok"),
        };
        text.push_str(&line(
            day,
            planned,
            copied,
            status,
            1.0 + f64::from(day % 5),
        ));
        text.push('\n');
    }
    text.push_str("not json\n");
    let summary = lakesync::report::history::summarise_reader(text.as_bytes()).expect("summary");
    let html =
        lakesync::report::html::render_history(&serde_json::to_value(&summary).expect("to_value"));

    assert_self_contained(&html);
    assert!(path_data(&html).iter().all(|d| d.starts_with('M')));
    assert!(html.contains("20 runs"));
    assert!(html.contains("2025-03-20T02:00:24Z"));
    assert!(html.contains(">CRITICAL</span>"));
    assert!(html.contains("success_rate"));
    assert!(!html.contains("no data"));
    std::fs::write(fixture_dir().join("fixture-history.html"), &html)
        .expect("write fixture-history.html");
}
