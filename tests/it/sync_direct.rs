//! Direct (server-side copy) sync against a real moto server with the real s5cmd.
//! Every check of what landed uses an independent s5cmd listing, not lakesync's report.

use crate::common::{Moto, Seed, Sync, batch_counts, lakesync};

/// `lakesync sync` from `s3://src` to `s3://dst/lake` on `moto`, the report on stdout.
fn to_lake(moto: &Moto) -> Sync {
    Sync::new(moto).dest("s3://dst/lake")
}

#[test]
fn selection_lands_exactly_then_second_run_copies_nothing() {
    let (moto, _dir) = Seed::archives(300).with_real().start();
    let sync = to_lake(&moto)
        .select("spot", "daily", "klines,aggTrades")
        .batch_size(40);
    let run = sync.run();
    assert_eq!(run.code, 0, "stderr: {}", run.stderr);
    let report = run.report();

    // What should have landed: every spot daily klines/aggTrades key at the source.
    let source = moto.list("src", "");
    let expected: Vec<_> = source
        .iter()
        .filter(|(k, _)| {
            k.starts_with("data/spot/daily/klines/") || k.starts_with("data/spot/daily/aggTrades/")
        })
        .collect();
    assert!(
        expected.len() > 200,
        "fixture too small: {}",
        expected.len()
    );
    let dest = moto.list("dst", "lake/");
    assert_eq!(
        dest.len(),
        expected.len(),
        "destination holds exactly the selection"
    );
    for (k, s) in &expected {
        let d = dest.get(*k).unwrap_or_else(|| panic!("{k} did not land"));
        assert_eq!((d.size, &d.etag), (s.size, &s.etag), "{k}");
    }
    // Every zip travelled with its CHECKSUM.
    for k in dest.keys().filter(|k| k.ends_with(".zip")) {
        assert!(
            dest.contains_key(&format!("{k}.CHECKSUM")),
            "{k} without CHECKSUM"
        );
    }
    let n = expected.len() as u64;
    assert_eq!(report["format_version"], 1);
    assert_eq!(report["mode"], "direct");
    assert_eq!(report["totals"]["planned"], n);
    assert_eq!(report["totals"]["copied"], n);
    assert_eq!(report["totals"]["validated"], n);
    assert_eq!(report["totals"]["failed"], 0);
    assert_eq!(
        report["totals"]["bytes_copied"],
        expected.iter().map(|(_, s)| s.size).sum::<u64>()
    );
    assert_eq!(report["operations"]["s5cmd_ops"], n);
    // One CopyObject per object, plus one LIST per wildcard line: a folder copied whole is
    // one line, or two when it holds zips (the zips, then their CHECKSUMs).
    let ops = &report["operations"];
    assert_eq!(ops["by_kind"]["copy"], n);
    let lists = ops["by_kind"]["list"].as_u64().unwrap();
    let folder_batches: u64 = batch_counts(&report, "folders").iter().sum();
    assert!(
        (folder_batches..=2 * folder_batches).contains(&lists),
        "{lists} lists for {folder_batches} folders"
    );
    let per_file = ops["per_file"].as_f64().unwrap();
    assert!(
        (per_file - (n + lists) as f64 / n as f64).abs() < 0.001,
        "{ops}"
    );
    assert!(per_file <= 1.04, "{ops}");
    assert_eq!(ops["local_bytes_written"], 0);
    let batches = report["batches"].as_array().unwrap();
    // A folder copied whole is never split; every other batch holds at most --batch-size.
    assert!(
        batches
            .iter()
            .filter(|b| b["folders"] == 0)
            .all(|b| b["files"].as_u64().unwrap() <= 40)
    );
    assert_eq!(batch_counts(&report, "files").iter().sum::<u64>(), n);
    assert!(run.stderr.contains("lakesync sync OK"), "{}", run.stderr);

    // Second run: nothing to do, nothing touched.
    let again = sync.run();
    assert_eq!(again.code, 0, "{}", again.stderr);
    let r2 = again.report();
    assert_eq!(r2["totals"]["planned"], 0);
    assert_eq!(r2["totals"]["copied"], 0);
    assert_eq!(r2["totals"]["skipped"], n);
    assert_eq!(r2["operations"]["s5cmd_ops"], 0);
    assert_eq!(
        moto.list("dst", "lake/"),
        dest,
        "second run changed the destination"
    );
}

#[test]
fn same_size_reupload_at_the_source_is_copied_again() {
    let (moto, _dir) = Seed::archives(10).with_real().start();
    let run = to_lake(&moto).run();
    assert_eq!(run.code, 0, "{}", run.stderr);
    let key = "data/spot/daily/klines/BTCUSDT/1h/BTCUSDT-1h-2026-05-08.zip";
    let before = moto.get("dst", &format!("lake/{key}"));
    // LastModified has one-second resolution: make the re-upload visibly newer.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let mut changed = before.clone();
    let last = changed.len() - 1;
    changed[last] ^= 0xff;
    moto.put("src", key, &changed);

    let again = to_lake(&moto).run();
    assert_eq!(again.code, 0, "{}", again.stderr);
    let r = again.report();
    assert_eq!(r["totals"]["copied"], 1, "{}", again.stdout);
    assert_eq!(r["plan"]["reasons"]["source_newer"], 1);
    assert_eq!(moto.get("dst", &format!("lake/{key}")), changed);
}

#[test]
fn selection_leaves_everything_outside_untouched() {
    let (moto, _dir) = Seed::archives(60).with_real().start();
    // Something already at the destination, outside the selection.
    moto.put(
        "dst",
        "lake/data/spot/daily/trades/KEEP/keep.zip",
        b"keep me",
    );
    moto.put("dst", "lake/unrelated.txt", b"mine");
    let before = moto.list("dst", "lake/");
    let run = to_lake(&moto)
        .select("futures/um", "monthly", "fundingRate")
        .symbols("BTCUSDT")
        .run();
    assert_eq!(run.code, 0, "{}", run.stderr);
    let after = moto.list("dst", "lake/");
    for (k, v) in &before {
        assert_eq!(after.get(k), Some(v), "{k} was touched");
    }
    let new: Vec<_> = after.keys().filter(|k| !before.contains_key(*k)).collect();
    assert!(!new.is_empty());
    for k in &new {
        assert!(
            k.starts_with("data/futures/um/monthly/fundingRate/BTCUSDT/"),
            "{k} is outside the selection"
        );
    }
    let source_in_scope = moto
        .list("src", "data/futures/um/monthly/fundingRate/BTCUSDT/")
        .len();
    assert_eq!(new.len(), source_in_scope);
    assert_eq!(run.report()["totals"]["copied"], source_in_scope as u64);
}

#[test]
fn a_source_object_gone_before_the_copy_fails_alone_with_exit_1() {
    gone_object_case("direct");
}

#[test]
fn a_source_object_gone_is_still_a_failure_after_the_staged_fallback() {
    gone_object_case("auto");
}

fn gone_object_case(mode: &str) {
    let (moto, _dir) = Seed::archives(20).with_real().start();
    let gone = "data/futures/um/monthly/fundingRate/BTCUSDT/BTCUSDT-fundingRate-2026-04.zip";
    // The fake s5cmd deletes the object after lakesync listed it, then runs the real s5cmd.
    let run = to_lake(&moto)
        .fake_s5cmd()
        .attempts(2)
        .mode(mode)
        .env("LAKESYNC_FAKE_BEFORE_RUN", &format!("rm s3://src/{gone}"))
        .run();
    assert_eq!(run.code, 1, "stderr: {}", run.stderr);
    let r = run.report();
    let mut failures = r["failures"].as_array().unwrap().clone();
    // Its CHECKSUM is not copied without it (issue 15 item 5).
    let cs = failures
        .iter()
        .position(|f| f["key"] == format!("lake/{gone}.CHECKSUM"))
        .unwrap_or_else(|| panic!("the CHECKSUM of the gone zip did not fail: {failures:?}"));
    let cs = failures.remove(cs);
    let cs_error = cs["error"].as_str().unwrap();
    assert!(cs_error.starts_with("not copied: its zip"), "{cs_error}");
    assert_eq!(failures.len(), 1, "{failures:?}");
    assert_eq!(failures[0]["key"], format!("lake/{gone}"));
    assert!(
        failures[0]["error"].as_str().unwrap().contains("NoSuchKey"),
        "{failures:?}"
    );
    // Permanent: not retried. In auto mode the staged path tried once more, and it could
    // not download the object either: really missing.
    assert_eq!(failures[0]["class"], "permanent");
    if mode == "direct" {
        assert_eq!(failures[0]["attempts"], 1);
        assert_eq!(r["mode"], "direct");
    } else {
        assert_eq!(failures[0]["attempts"], 2);
        let error = failures[0]["error"].as_str().unwrap();
        assert!(error.starts_with("download: NoSuchKey"), "{error}");
        assert!(error.contains("after the direct copy failed"), "{error}");
        assert_eq!(r["totals"]["fallback"], 0);
    }
    let planned = r["totals"]["planned"].as_u64().unwrap();
    assert_eq!(r["totals"]["copied"].as_u64().unwrap(), planned - 2);
    assert_eq!(r["totals"]["failed"], 2);
    // The rest landed.
    let dest = moto.list("dst", "lake/");
    assert_eq!(dest.len() as u64, planned - 2);
    assert!(!dest.contains_key(gone));
    assert!(!dest.contains_key(&format!("{gone}.CHECKSUM")));
    assert!(run.stderr.contains("FAILED"), "{}", run.stderr);
}

#[test]
fn dry_run_copies_nothing_and_says_what_it_would_do() {
    let (moto, _dir) = Seed::archives(30).with_real().start();
    let run = to_lake(&moto).arg("--dry-run").batch_size(7).run();
    assert_eq!(run.code, 0, "{}", run.stderr);
    let r = run.report();
    let n = moto.list("src", "").len() as u64;
    assert_eq!(r["dry_run"], true);
    assert_eq!(r["totals"]["planned"], n);
    assert_eq!(r["totals"]["copied"], 0);
    assert!(r["totals"]["batches"].as_u64().unwrap() >= n.div_ceil(7));
    assert!(moto.list("dst", "").is_empty());
    assert!(run.stderr.contains("dry run"), "{}", run.stderr);
}

#[test]
fn objects_without_an_outcome_line_are_retried_and_land() {
    let (moto, _dir) = Seed::archives(10).with_real().start();
    // The fake drops 3 success lines of the first run and adds garbage: those objects
    // are "unknown" and must be retried.
    let once = tempfile::tempdir().unwrap();
    let marker = once.path().join("ran");
    let run = to_lake(&moto)
        .fake_s5cmd()
        .env("LAKESYNC_FAKE_ONCE", marker.to_str().unwrap())
        .env("LAKESYNC_FAKE_SWALLOW", "3")
        .env("LAKESYNC_FAKE_NOISE", "1")
        .run();
    assert_eq!(run.code, 0, "{}", run.stderr);
    let r = run.report();
    let n = moto.list("src", "").len() as u64;
    assert_eq!(r["totals"]["copied"], n);
    assert_eq!(r["totals"]["validated"], n);
    assert_eq!(r["totals"]["retried"], 3, "{}", run.stdout);
    assert_eq!(r["batches"][0]["attempts"], 2);
    assert!(r["operations"]["unparsed_lines"].as_u64().unwrap() >= 2);
    assert_eq!(moto.list("dst", "lake/").len() as u64, n);
}

#[test]
fn a_hung_batch_is_killed_by_the_watchdog_and_reported() {
    let (moto, _dir) = Seed::archives(3).with_real().start();
    let started = std::time::Instant::now();
    let run = to_lake(&moto)
        .fake_s5cmd()
        .args(["--batch-timeout", "1"])
        .attempts(2)
        .mode("direct")
        .env("LAKESYNC_FAKE_HANG", "1")
        .run();
    assert!(started.elapsed().as_secs() < 30);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let r = run.report();
    assert_eq!(r["totals"]["copied"], 0);
    let f = &r["failures"][0];
    assert!(f["error"].as_str().unwrap().contains("watchdog"), "{f}");
    assert_eq!(f["attempts"], 2);
}

#[test]
fn a_source_manifest_replaces_the_source_listing() {
    let (moto, _dir) = Seed::archives(10).with_real().start();
    let work = tempfile::tempdir().unwrap();
    // An s5cmd ls --json manifest of the source, minus its last line.
    let ls = moto.s5cmd_ok(&["--json", "ls", "s3://src/*"]);
    let lines: Vec<&str> = ls.lines().collect();
    let json = work.path().join("m.jsonl");
    std::fs::write(&json, lines[..lines.len() - 1].join("\n")).unwrap();
    let run = to_lake(&moto)
        .args(["--source-manifest", json.to_str().unwrap()])
        .run();
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.report()["totals"]["copied"], (lines.len() - 1) as u64);
    assert_eq!(moto.list("dst", "lake/").len(), lines.len() - 1);
    // The same objects as S3 Inventory CSV (URL-encoded keys): nothing left to copy.
    let csv: String = moto
        .list("src", "")
        .iter()
        .take(lines.len() - 1)
        .map(|(k, v)| {
            format!(
                "\"src\",\"{}\",\"{}\",\"{}\",\"{}\"\n",
                k.replace(' ', "%20"),
                v.size,
                v.last_modified,
                v.etag
            )
        })
        .collect();
    let csv_path = work.path().join("inventory.csv");
    std::fs::write(&csv_path, csv).unwrap();
    let again = to_lake(&moto)
        .args(["--source-manifest", csv_path.to_str().unwrap()])
        .run();
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert_eq!(again.report()["totals"]["planned"], 0);
    assert_eq!(
        again.report()["totals"]["skipped"],
        (lines.len() - 1) as u64
    );
    let missing = to_lake(&moto)
        .args(["--source-manifest", "/nonexistent.csv"])
        .run();
    missing.assert_refused("/nonexistent.csv");
    crate::common::snapshot::assert_cli("source_manifest_missing", &missing);
}

#[test]
fn plan_groups_by_folder_and_lists_gaps_as_gaps() {
    let (moto, _dir) = Seed::archives(40).with_real().start();
    // Half of one group already in place.
    let first = to_lake(&moto)
        .args([
            "--market",
            "spot",
            "--data-type",
            "trades",
            "--end",
            "2024-12-20",
        ])
        .run();
    assert_eq!(first.code, 0, "{}", first.stderr);
    let run = to_lake(&moto)
        .command("plan")
        .no_report()
        .args([
            "--market",
            "spot",
            "--period",
            "daily",
            "--start",
            "2024-12-15",
            "--format",
            "json",
        ])
        .run();
    assert_eq!(run.code, 0, "{}", run.stderr);
    let p: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(p["command"], "plan");
    let groups = p["groups"].as_array().unwrap();
    let trades = groups
        .iter()
        .find(|g| g["group"] == "spot/daily/trades/BTCUSDT")
        .unwrap();
    assert!(trades["skip"].as_u64().unwrap() > 0, "{trades}");
    assert!(trades["copy"].as_u64().unwrap() > 0, "{trades}");
    // The fixtures start on 2024-12-20: the five days before are gaps, not errors.
    assert_eq!(trades["missing_dates"][0], "2024-12-15");
    assert!(
        moto.list("dst", "lake/").len() < moto.list("src", "").len(),
        "plan copied"
    );
    let copy: u64 = groups.iter().map(|g| g["copy"].as_u64().unwrap()).sum();
    assert_eq!(p["totals"]["copy"], copy);
}

#[test]
fn version_completions_and_man_page() {
    let v = lakesync(&["--version"]);
    assert_eq!(v.code, 0);
    assert!(
        v.stdout.contains("lakesync ") && v.stdout.contains("s5cmd v2.3.0"),
        "{}",
        v.stdout
    );
    for shell in ["bash", "zsh", "fish"] {
        let c = lakesync(&["completions", shell]);
        assert_eq!(c.code, 0);
        assert!(
            c.stdout.contains("sync") && c.stdout.contains("batch-size"),
            "{shell}"
        );
    }
    let m = lakesync(&["man"]);
    assert!(m.stdout.starts_with(".ie") && m.stdout.contains("lakesync"));
}
