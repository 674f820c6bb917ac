//! Throttling per partition prefix (issue 14), with the real s5cmd: a hot prefix answering
//! 503 SlowDown runs with fewer workers and backs off, the other prefixes go on at the run's
//! count, and the governor does not cut the run's count for it. Against the archive
//! simulator's per-prefix rate limits, and against moto behind the fault proxy.
//!
//! Both fail on the code before per-prefix throttling (checked): the governor halved the
//! run's count after the first throttled batch (`batches[].governor == "throttled"`).

use serde_json::Value;

use crate::archive_sim::start_sim;
use crate::common::{
    Seed, Sync, assert_mirrors, assert_totals, batch_counts, batch_governor, lakesync,
};
use crate::support::fault_proxy::{FaultConfig, FaultProxy};

/// The run's count is never cut: no batch's decision is a throttling cut, and no batch
/// ran with fewer workers than the first.
fn assert_count_not_cut(r: &Value) {
    let workers = batch_counts(r, "workers");
    let next = batch_counts(r, "next_workers");
    let reasons = batch_governor(r);
    eprintln!("workers {workers:?}, next {next:?}, governor {reasons:?}");
    assert!(
        !reasons.contains(&"throttled"),
        "the run's count was cut for one hot prefix: {reasons:?} {next:?}"
    );
    let start = workers[0];
    assert!(
        workers.iter().chain(&next).all(|&w| w >= start),
        "the run's count went below {start}: {workers:?} {next:?}"
    );
    assert!(
        reasons.contains(&"throttled_prefix"),
        "no batch saw the hot prefix's throttling: {reasons:?}"
    );
}

/// The report's throttled prefixes: exactly `hot`, limited below `below` workers, with
/// lines that ran under the limit.
fn assert_only_hot_prefix_limited(r: &Value, hot: &str, below: u64) {
    let t = &r["throttling"];
    let prefixes = t["prefixes"].as_array().unwrap_or_else(|| panic!("{t}"));
    assert_eq!(prefixes.len(), 1, "{t}");
    let p = &prefixes[0];
    assert_eq!(p["prefix"], hot, "{t}");
    assert!(p["throttled"].as_u64().unwrap() > 0, "{t}");
    assert!(p["workers_min"].as_u64().unwrap() < below, "{t}");
    assert!(p["lines_limited"].as_u64().unwrap() > 0, "{t}");
    assert_eq!(t["prefixes_omitted"], 0, "{t}");
    assert!(
        r["totals"]["throttled"].as_u64().unwrap() >= p["throttled"].as_u64().unwrap(),
        "{}",
        r["totals"]
    );
}

/// archive-sim throttles writes per partition prefix (`--partition-depth 6` under the
/// destination's `binance/`: one symbol folder of one data type, as lakesync partitions).
/// BTCUSDT's klines folder gets 6 intervals x 5 days (60 copies), its aggTrades and trades
/// folders 10 copies each, at 12 writes a second per prefix with one second of burst: only
/// the klines folder is throttled (the simulator's own counts say so).
#[test]
fn a_hot_prefix_on_the_simulator_is_limited_and_the_run_keeps_its_count() {
    let sim = start_sim(
        "2026-11-30",
        &[
            "--write-rate",
            "12",
            "--partition-depth",
            "6",
            "--stats-top",
            "100",
            "--dest-bucket",
            "lake",
        ],
    );
    let run = lakesync(&[
        "sync",
        "--endpoint-url",
        &sim.url,
        "--dest",
        "s3://lake/binance",
        "--dest-region",
        "us-east-1",
        "--market",
        "spot",
        "--period",
        "daily",
        "--data-type",
        "aggTrades,klines,trades",
        "--symbols",
        "BTCUSDT",
        "--interval",
        "1m,5m,15m,1h,4h,1d",
        "--start",
        "2026-11-20",
        "--end",
        "2026-11-24",
        // Throttling reaches lakesync at once instead of after s5cmd's own retries.
        "--retry-count",
        "0",
        "--attempts",
        "10",
        "--batch-size",
        "30",
        "--max-cpu-pct",
        "100",
        "--report",
        "-",
        "-q",
    ]);
    let stats: Value = {
        let mut resp = ureq::get(&format!("{}/_sim/stats", sim.url))
            .call()
            .unwrap();
        serde_json::from_str(&resp.body_mut().read_to_string().unwrap()).unwrap()
    };
    assert_eq!(run.code, 0, "{}", run.stderr);
    let r = run.report();
    assert_eq!(r["totals"]["planned"], 80, "{}", r["totals"]);
    assert_eq!(r["totals"]["copied"], 80, "{}", r["totals"]);
    assert_eq!(r["totals"]["validated"], 80, "{}", r["totals"]);

    // The setup: the simulator throttled the klines folder and nothing else.
    let throttled_by_sim: Vec<(String, u64)> = stats["by_prefix"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["throttled"].as_u64().unwrap() > 0)
        .map(|p| {
            (
                p["prefix"].as_str().unwrap().to_string(),
                p["throttled"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(throttled_by_sim.len(), 1, "{throttled_by_sim:?}");
    assert!(
        throttled_by_sim[0]
            .0
            .ends_with("binance/data/spot/daily/klines/BTCUSDT/"),
        "{throttled_by_sim:?}"
    );

    assert_count_not_cut(&r);
    // Two batches in flight share the count: each process had half of it.
    let per_process = r["batches"][0]["workers"].as_u64().unwrap().div_ceil(2);
    assert_only_hot_prefix_limited(
        &r,
        "s3://lake/binance/data/spot/daily/klines/BTCUSDT/",
        per_process,
    );
    assert!(
        r["throttling"]["prefixes"][0]["throttled"]
            .as_u64()
            .unwrap()
            <= throttled_by_sim[0].1,
        "{} vs the simulator's {throttled_by_sim:?}",
        r["throttling"]
    );
}

/// The fault proxy answers 503 SlowDown to a quarter of the copies into one prefix (spot
/// BTCUSDT klines, 40 of 240 objects over 11 prefixes): every object lands, that prefix
/// alone is limited, and the run's count holds.
#[test]
fn slowdown_on_one_prefix_through_the_fault_proxy_limits_that_prefix_only() {
    let (moto, _dir) = Seed::archives(120).size_class("tiny").start(); // 240 objects
    let hot = "data/spot/daily/klines/BTCUSDT/";
    let proxy = FaultProxy::on_puts(
        &moto.url,
        FaultConfig {
            seed: 14,
            slowdown: 0.25,
            paths: vec![format!("/dst/{hot}")],
            ..FaultConfig::none()
        },
    );
    let run = Sync::through(&proxy)
        .mode("direct")
        .args(["--max-cpu-pct", "100"])
        .attempts(10)
        .batch_size(60)
        .workers(32)
        .run();
    let (r, stats) = run.report_through(&proxy);
    assert!(stats.slowdown > 0, "{stats:?}");
    // Every SlowDown the proxy answered is counted as throttled.
    assert_totals(
        &r,
        &[
            ("copied", 240),
            ("validated", 240),
            ("throttled", stats.slowdown),
        ],
    );

    assert_count_not_cut(&r);
    let per_process = r["batches"][0]["workers"].as_u64().unwrap().div_ceil(2);
    assert_only_hot_prefix_limited(&r, &format!("s3://dst/{hot}"), per_process);
    run.assert_stderr_contains("throttled prefixes: s3://dst/data/spot/daily/klines/BTCUSDT/");
    assert_mirrors(&moto, "src", &moto, "dst", "");
}
