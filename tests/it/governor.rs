//! The governor, SLA checks, metrics and history on real runs (real s5cmd, moto).

use crate::common::{Seed, Sync, lakesync, sla_check};

#[test]
fn a_tiny_memory_ceiling_is_reported_as_a_breach_and_lowers_workers() {
    let (moto, _dir) = Seed::archives(60).start();
    let run = Sync::new(&moto)
        .mode("direct")
        .batch_size(30)
        .workers(16)
        .args(["--max-memory-mb", "16", "--fail-on", "critical"])
        .run();
    // Everything landed, but the SLA breach is its own exit code with --fail-on.
    assert_eq!(run.code, 4, "{}", run.stderr);
    let r = run.report();
    assert_eq!(r["totals"]["validated"], 120);
    let res = &r["resources"];
    assert!(res["samples"].as_u64().unwrap() > 0, "{res}");
    assert!(res["rss_peak_bytes"].as_u64().unwrap() > 1_000_000, "{res}");
    assert!(
        res["child_rss_peak_bytes"].as_u64().unwrap() > 1_000_000,
        "{res}"
    );
    let memory = sla_check(&r, "memory");
    assert_eq!(memory["status"], "critical", "{memory}");
    assert_eq!(r["sla_status"], "critical");
    // The governor cut workers because of memory.
    let batches = r["batches"].as_array().unwrap();
    let cut = batches
        .iter()
        .find(|b| b["governor"] == "memory_ceiling")
        .unwrap_or_else(|| panic!("no memory cut: {batches:?}"));
    assert!(cut["next_workers"].as_u64().unwrap() < cut["workers"].as_u64().unwrap());
    let last = batches.last().unwrap()["workers"].as_u64().unwrap();
    assert!(last < 16, "workers never went down: {batches:?}");
    run.assert_stderr_contains("SLA CRITICAL: memory");
}

#[test]
fn metrics_parse_and_history_grows_one_line_per_run() {
    let (moto, _dir) = Seed::archives(10).start();
    let out = tempfile::tempdir().unwrap();
    let metrics = out.path().join("lakesync.prom");
    let history = out.path().join("history.jsonl");
    for dest in ["s3://dst/a", "s3://dst/b", "s3://dst/a"] {
        let run = Sync::new(&moto)
            .dest(dest)
            .no_report()
            .metrics_file(&metrics)
            .history(&history)
            .run();
        run.exited(0);
    }
    // Prometheus text format, checked with a real parser.
    let text = std::fs::read_to_string(&metrics).unwrap();
    let scrape = prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_string()))).unwrap();
    let names: Vec<&str> = scrape.samples.iter().map(|s| s.metric.as_str()).collect();
    for want in [
        "lakesync_last_run_files",
        "lakesync_last_run_bytes_copied",
        "lakesync_last_run_duration_seconds",
        "lakesync_last_run_success_ratio",
        "lakesync_last_run_sla_status",
    ] {
        assert!(names.contains(&want), "{want} missing from {names:?}");
    }
    // The last run (into a, already complete) copied nothing.
    let copied = scrape
        .samples
        .iter()
        .find(|s| s.metric == "lakesync_last_run_files" && s.labels.get("state") == Some("copied"))
        .unwrap();
    assert!(
        matches!(copied.value, prometheus_parse::Value::Gauge(v) if v == 0.0),
        "{copied:?}"
    );
    assert!(
        !out.path().read_dir().unwrap().any(|e| e
            .unwrap()
            .file_name()
            .to_string_lossy()
            .starts_with(".tmp"))
    );

    let lines = std::fs::read_to_string(&history).unwrap();
    assert_eq!(lines.lines().count(), 3);
    let text = lakesync(&["report", history.to_str().unwrap()]);
    assert_eq!(text.code, 0, "{}", text.stderr);
    assert!(text.stdout.contains("3"), "{}", text.stdout);
    let json = lakesync(&["report", history.to_str().unwrap(), "--format", "json"]);
    assert_eq!(json.code, 0);
    let summary: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(summary["runs"], 3);
    let missing = lakesync(&["report", "/nonexistent/history.jsonl"]);
    missing.assert_refused("hint:");
    crate::common::snapshot::assert_cli("report_history_missing", &missing);
}
