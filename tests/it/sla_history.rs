//! SLAs over history end to end: a real run judged against the earlier runs of its job in
//! the `--history` file (spec 5.2.1, 8.1.1), seen in the report, the summary, the metrics
//! file and `lakesync report`. The earlier runs are the first real run's history line,
//! copied with a much shorter duration (a synthetic fast past), so the real run is
//! certain to be "more than 10% slower than the median".

use std::path::Path;

use crate::common::{self, Moto, Seed, Sync, sla_check};

/// `lakesync sync` from `s3://src` to `s3://dst/lake` on `moto`, with the history file
/// `history`.
fn to_lake(moto: &Moto, history: &Path) -> Sync {
    Sync::new(moto).dest("s3://dst/lake").history(history)
}

#[test]
fn a_run_slower_than_its_jobs_history_warns_in_report_summary_metrics_and_report_command() {
    let (moto, _fixtures) = Seed::archives(10).start();
    let work = tempfile::tempdir().unwrap();
    let history = work.path().join("history.jsonl");

    // Without earlier runs: nothing to compare, so n/a; the run is recorded under its job.
    let r1 = to_lake(&moto, &history).arg("-q").run().exited(0).report();
    assert_eq!(sla_check(&r1, "throughput_vs_history")["actual"], "n/a");
    assert_eq!(sla_check(&r1, "success_rate_24h")["status"], "ok");
    assert_eq!(sla_check(&r1, "complete_failure")["status"], "ok");
    assert_eq!(r1["sla_history"]["earlier_runs"], 0);
    let line = std::fs::read_to_string(&history).unwrap();
    let mut past: serde_json::Value = serde_json::from_str(line.trim()).unwrap();
    assert!(past["job"].as_str().unwrap().contains("s3://src"), "{past}");

    // Three earlier runs of the same job, each 1000x faster than the real one.
    past["duration_seconds"] = serde_json::json!(r1["duration_seconds"].as_f64().unwrap() / 1000.0);
    let mut text = line.clone();
    for _ in 0..3 {
        text.push_str(&serde_json::to_string(&past).unwrap());
        text.push('\n');
    }
    // And a run of another job (other destination), which must not be compared.
    let mut other = past.clone();
    other["job"] = serde_json::json!("another job");
    other["duration_seconds"] = serde_json::json!(1e6);
    text.push_str(&serde_json::to_string(&other).unwrap());
    text.push('\n');
    std::fs::write(&history, text).unwrap();

    moto.s5cmd_ok(&["rm", "s3://dst/*"]);
    let metrics = work.path().join("lakesync.prom");
    let run = to_lake(&moto, &history)
        .metrics_file(&metrics)
        .args(["--fail-on", "warning"])
        .run();
    assert_eq!(
        run.code, 4,
        "a warning with --fail-on warning exits 4:\n{}",
        run.stderr
    );
    let r = run.report();
    let t = sla_check(&r, "throughput_vs_history");
    assert_eq!(t["status"], "warning", "{t}");
    assert!(t["value"].as_f64().unwrap() < 1.0, "{t}");
    assert_eq!(sla_check(&r, "success_rate_24h")["status"], "ok");
    let b = &r["sla_history"];
    assert_eq!(b["earlier_runs"], 4, "{b}");
    assert_eq!(b["compared_runs"], 4, "{b}");
    assert_eq!(b["runs_24h"], 5, "{b}");
    assert_eq!(b["success_rate_24h"], 100.0, "{b}");
    for needle in [
        "history: 4 earlier run(s) of this job",
        "SLA WARNING: throughput_vs_history",
    ] {
        run.assert_stderr_contains(needle);
    }

    let prom = std::fs::read_to_string(&metrics).unwrap();
    for needle in [
        "lakesync_last_run_sla_status{mode=\"direct\",check=\"throughput_vs_history\"} 1\n",
        "lakesync_last_run_success_ratio_24h{mode=\"direct\"} 1\n",
        "lakesync_last_run_history_median_files_per_second{mode=\"direct\"} ",
    ] {
        assert!(prom.contains(needle), "{needle} not in {prom}");
    }

    let h = history.to_str().unwrap();
    let summary = common::lakesync(&["report", h]);
    assert_eq!(summary.code, 0, "{}", summary.stderr);
    for needle in ["SLAs over history", "throughput_vs_history  warning"] {
        assert!(summary.stdout.contains(needle), "{}", summary.stdout);
    }
    let json = common::lakesync(&["report", h, "--format", "json"]);
    let j: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(j["jobs"].as_array().unwrap().len(), 2, "{}", j["jobs"]);
}
