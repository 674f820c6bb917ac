//! Sharded runs against a real moto server: N shards copy disjoint parts whose union is the
//! whole selection; their reports merge; a finished shard can say "nothing to do".

use crate::common::{Seed, Sync, lakesync};

#[test]
fn four_shards_partition_the_plan_and_their_reports_merge() {
    let (moto, _dir) = Seed::archives(60).with_real().start();
    let out = tempfile::tempdir().unwrap();
    let mut paths = Vec::new();
    let mut copied_total = 0;
    for i in 0..4 {
        let report = out.path().join(format!("shard-{i}.json"));
        // Shard 3 takes its index from the environment, as a Kubernetes Indexed Job does.
        let shard = if i == 3 {
            "auto/4".to_string()
        } else {
            format!("{i}/4")
        };
        let run = Sync::new(&moto)
            .args(["--shard", &shard])
            .report(&report)
            .arg("--summary-line")
            .env("JOB_COMPLETION_INDEX", "3")
            .run();
        assert_eq!(run.code, 0, "{}", run.stderr);
        // The last stdout line is the one-line summary Airflow pushes to XCom.
        let last = run.stdout.lines().last().unwrap();
        let summary: serde_json::Value = serde_json::from_str(last).unwrap();
        assert_eq!(summary["shard"], format!("{i}/4"));
        let copied = summary["copied"].as_u64().unwrap();
        assert!(copied > 0, "shard {i} got nothing");
        copied_total += copied;
        paths.push(report);
    }
    let source = moto.list("src", "");
    assert_eq!(
        copied_total,
        source.len() as u64,
        "shards overlap or miss objects"
    );
    crate::common::assert_mirrors(&moto, "src", &moto, "dst", "");
    // Every zip landed with its CHECKSUM in the same shard (staged verification needs it).
    for p in &paths {
        let r: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap();
        assert_eq!(
            r["totals"]["copied"].as_u64().unwrap() % 2,
            0,
            "{}",
            p.display()
        );
    }
    let mut args = vec!["report", "merge"];
    let names: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
    args.extend(names.iter().map(String::as_str));
    let merged = lakesync(&args);
    assert_eq!(merged.code, 0, "{}", merged.stderr);
    let m = merged.report();
    assert_eq!(m["totals"]["copied"], source.len() as u64);
    assert_eq!(m["totals"]["validated"], source.len() as u64);
    assert_eq!(m["shards"].as_array().unwrap().len(), 4);
    assert_eq!(m["merged_from"], 4);
    // The merge keeps every field the README documents, in the shards' reports and its own.
    let shard0: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&paths[0]).unwrap()).unwrap();
    crate::report_fields::assert_documented_fields(&shard0, false);
    crate::report_fields::assert_documented_fields(&m, true);

    // Run shard 0 again: nothing to do, and it can say so with its own exit code.
    let again = Sync::new(&moto)
        .no_report()
        .args(["--shard", "0/4", "--exit-code-when-nothing-to-do", "99"])
        .run();
    assert_eq!(again.code, 99, "{}", again.stderr);
    let bad = lakesync(&["sync", "--dest", "s3://dst", "--shard", "4/4"]);
    assert_eq!(bad.code, 2);
    assert!(bad.stderr.contains("4/4") && bad.stderr.contains("hint:"));
    crate::common::snapshot::assert_cli("shard_out_of_range", &bad);
}
