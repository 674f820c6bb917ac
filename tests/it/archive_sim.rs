//! lakesync against archive-sim (`crates/archive-sim`): the full-size synthetic
//! data.binance.vision in ap-northeast-1 and a destination in us-east-1 that starts mirrored
//! through a day. `plan`, `sync` (direct and staged) and `verify --deep` work on it unchanged,
//! with s5cmd finding each bucket's region itself (no AWS_REGION).

use std::path::PathBuf;
use std::process::Stdio;

use crate::common::child::Sim;
use crate::common::{batch_counts, batch_governor, lakesync, lakesync_bin, lakesync_with};

/// archive-sim, built next to lakesync by `cargo build --workspace` (`make test` does it).
fn archive_sim_bin() -> PathBuf {
    let p = lakesync_bin().with_file_name("archive-sim");
    assert!(
        p.exists(),
        "{} is missing: run `cargo build --workspace` (make test does it)",
        p.display()
    );
    p
}

/// archive-sim as of `as_of`, without holes (every file the archive would have), plus
/// `extra`.
pub(crate) fn start_sim(as_of: &str, extra: &[&str]) -> Sim {
    let mut args = vec!["--as-of", as_of, "--hole-fraction", "0"];
    args.extend_from_slice(extra);
    Sim::spawn(&archive_sim_bin(), &args, Stdio::null())
}

/// The archive's spot daily klines of `symbols` at `intervals`, into s3://lake/binance.
fn spot_klines<'a>(url: &'a str, symbols: &'a str, intervals: &'a str) -> Vec<&'a str> {
    vec![
        "--endpoint-url",
        url,
        "--dest",
        "s3://lake/binance",
        "--market",
        "spot",
        "--period",
        "daily",
        "--data-type",
        "klines",
        "--symbols",
        symbols,
        "--interval",
        intervals,
    ]
}

/// `lakesync COMMAND` on [`spot_klines`] at 1m and 1h from 2026-11-20 to 2026-11-29, then
/// `extra`.
fn selection<'a>(
    command: &'a str,
    url: &'a str,
    symbols: &'a str,
    extra: &[&'a str],
) -> Vec<&'a str> {
    let mut v = vec![command];
    v.extend(spot_klines(url, symbols, "1m,1h"));
    v.extend_from_slice(&["--start", "2026-11-20", "--end", "2026-11-29"]);
    v.extend_from_slice(extra);
    v
}

#[test]
fn plan_sync_and_verify_against_the_full_size_archive() {
    // Mirrored through the 27th: the 28th and 29th are new (the 30th is not out yet).
    let sim = start_sim(
        "2026-11-30",
        &[
            "--latency-ms",
            "2",
            "--dest-bucket",
            "lake=mirrored-through:2026-11-27,prefix:binance",
        ],
    );
    let url = sim.url.as_str();

    let args = selection("plan", url, "BTCUSDT,ETHUSDT", &["--format", "json"]);
    let plan = lakesync(&args);
    assert_eq!(plan.code, 0, "{}", plan.stderr);
    let p: serde_json::Value = serde_json::from_str(&plan.stdout).expect("plan JSON");
    // 2 symbols x 2 intervals x 2 days x (zip + CHECKSUM) to copy; 8 days in place.
    assert_eq!(p["totals"]["copy"], 16, "{p}");
    assert_eq!(p["totals"]["skip"], 64, "{p}");

    let args = selection("sync", url, "BTCUSDT,ETHUSDT", &["--report", "-", "-q"]);
    let run = lakesync(&args);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let r = run.report();
    assert_eq!(r["totals"]["planned"], 16);
    assert_eq!(r["totals"]["copied"], 16);
    assert_eq!(r["totals"]["validated"], 16);
    assert_eq!(r["mode"], "direct");

    // Staged (download, CHECKSUM, upload): the uploads are the source's bytes.
    let args = selection(
        "sync",
        url,
        "BNBUSDT",
        &["--mode", "staged", "--report", "-", "-q"],
    );
    let run = lakesync(&args);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let r = run.report();
    assert_eq!(r["totals"]["validated"], 8);
    assert_eq!(r["integrity"]["checksums_verified"], 4);

    // Nothing left to copy, and every zip hashes to its CHECKSUM.
    let args = selection(
        "verify",
        url,
        "BTCUSDT,ETHUSDT,BNBUSDT",
        &["--deep", "--report", "-", "-q"],
    );
    let v = lakesync(&args);
    assert_eq!(v.code, 0, "{}\n{}", v.stdout, v.stderr);
    let vr = v.report();
    assert_eq!(vr["totals"]["checked"], 120, "{vr}");
    assert_eq!(vr["totals"]["ok"], 120, "{vr}");
    assert_eq!(vr["totals"]["checksum_ok"], 60, "{vr}");
}

/// AWS_REGION=us-east-1 in lakesync's environment (common on Airflow hosts) and the archive
/// in ap-northeast-1: lakesync gives each s5cmd the region of the bucket it works on, so the
/// listing and the copies work; before, s5cmd signed every request for us-east-1 and the
/// archive refused them. A wrong --dest-region is a named error with the flag to set.
#[test]
fn regions_aws_region_in_the_environment_and_a_wrong_dest_region() {
    for wrong_region in ["malformed", "redirect"] {
        let sim = start_sim(
            "2026-11-30",
            &[
                "--wrong-region",
                wrong_region,
                "--dest-region",
                "eu-west-1",
                "--dest-bucket",
                "lake",
            ],
        );
        let url = sim.url.as_str();
        let env = [
            ("AWS_REGION", "us-east-1"),
            ("AWS_DEFAULT_REGION", "us-east-1"),
        ];

        let sync_with_dest_region = |region: &str| {
            let args = selection(
                "sync",
                url,
                "BTCUSDT",
                &["--dest-region", region, "--report", "-", "-q"],
            );
            lakesync_with(&args, &env)
        };

        // The destination's region given; the source's known (the Binance bucket).
        let run = sync_with_dest_region("eu-west-1");
        assert_eq!(run.code, 0, "{wrong_region}: {}", run.stderr);
        let r = run.report();
        assert_eq!(r["totals"]["copied"], 40, "{r}");
        assert_eq!(r["totals"]["validated"], 40, "{r}");

        // Neither region given for the destination: s5cmd asks the bucket (the environment's
        // us-east-1 is not applied to it).
        let args = selection("plan", url, "ETHUSDT", &["--format", "json"]);
        let plan = lakesync_with(&args, &env);
        assert_eq!(plan.code, 0, "{wrong_region}: {}", plan.stderr);

        // A wrong --dest-region: exit 3, the bucket, its region and the flag named.
        let run = sync_with_dest_region("ap-south-1");
        assert_eq!(
            run.code, 3,
            "{wrong_region}: {}\n{}",
            run.stdout, run.stderr
        );
        assert!(
            run.stderr.contains(
                "the bucket lake is in region eu-west-1, but its requests were signed for ap-south-1"
            ),
            "{wrong_region}: {}",
            run.stderr
        );
        run.assert_stderr_contains("hint: pass --dest-region eu-west-1");
    }
}

/// At 60 ms a request, a whole folder (one wildcard line, ~1,000 objects) runs as pieces and
/// the governor, seeing latency-bound batches, raises the worker count past the spec's 50
/// during the run (it stopped at 50 before, and decided only once the folder was done).
/// Without the raise past 50 this fails (checked: [32, 32, 44, 44, ...] at most).
#[test]
fn governor_raises_workers_past_50_inside_a_latency_bound_run() {
    let sim = start_sim(
        "2019-01-01",
        &["--latency-ms", "60", "--dest-bucket", "lake"],
    );
    let mut args = vec!["sync"];
    args.extend(spot_klines(&sim.url, "BTCUSDT", "1h"));
    args.extend([
        "--dest-region",
        "us-east-1",
        // The spec's 25% of this (2-core, shared) machine caps the count before latency
        // does: this test is about the latency-bound raise.
        "--max-cpu-pct",
        "100",
        "--report",
        "-",
        "-q",
    ]);
    let run = lakesync(&args);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let r = run.report();
    let copied = r["totals"]["copied"].as_u64().unwrap();
    assert!(copied > 900, "{}", r["totals"]);
    assert_eq!(r["totals"]["validated"], copied);
    let (workers, reasons) = (batch_counts(&r, "workers"), batch_governor(&r));
    assert!(
        workers.len() >= 3,
        "one folder, yet pieces: {}",
        r["batches"]
    );
    eprintln!("workers per batch {workers:?}, governor {reasons:?}");
    assert_eq!(workers[0], 32, "{workers:?}");
    assert!(
        workers.iter().any(|&w| w > 50),
        "the governor never went past 50: {workers:?}"
    );
}

/// No `--dest-region`: lakesync asks the destination bucket for its region once (one
/// HeadBucket) and hands it to every s5cmd child, instead of each child asking before its
/// first request (a round trip per process at WAN latency). AWS_REGION in the environment is
/// still never applied.
#[test]
fn the_destination_region_is_asked_once_per_run() {
    let sim = start_sim(
        "2026-11-30",
        &["--dest-region", "eu-west-1", "--dest-bucket", "lake"],
    );
    let url = sim.url.as_str();
    let args = selection(
        "sync",
        url,
        "BTCUSDT,ETHUSDT",
        &["--batch-size", "10", "--report", "-", "-q"],
    );
    let run = lakesync_with(
        &args,
        &[
            ("AWS_REGION", "us-east-1"),
            ("AWS_DEFAULT_REGION", "us-east-1"),
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let r = run.report();
    assert_eq!(r["totals"]["copied"], 80, "{r}");
    assert_eq!(r["totals"]["validated"], 80, "{r}");
    assert_eq!(r["cost"]["dest_region"], "eu-west-1", "{}", r["cost"]);
    // Several batches, each its own s5cmd processes, plus the listings and validation...
    assert!(
        r["batches"].as_array().unwrap().len() >= 8,
        "{}",
        r["batches"]
    );
    // ...and one HeadBucket in all: lakesync's own (the source's region is known).
    let stats: serde_json::Value = {
        let mut resp = ureq::get(&format!("{url}/_sim/stats")).call().unwrap();
        serde_json::from_str(&resp.body_mut().read_to_string().unwrap()).unwrap()
    };
    assert_eq!(stats["requests"]["head_bucket"], 1, "{}", stats["requests"]);
}
