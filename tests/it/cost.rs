//! The cost estimate (report `cost`, `plan`'s direct and staged side by side) on real runs
//! against moto with the real s5cmd: its requests are the run's own operation and listing
//! counts, and its dollars are those counts times the price table.

use serde_json::Value;

use crate::common::snapshot::assert_cli;
use crate::common::{Moto, Seed, Sync, closed_port_url, lakesync_with, temp_file};

const GB: f64 = (1u64 << 30) as f64;

fn u(v: &Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("not a count: {v}"))
}

fn f(v: &Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"))
}

fn close(a: f64, b: f64, what: &str) {
    assert!((a - b).abs() < 1e-8, "{what}: {a} != {b}");
}

/// The report's requests are its operation and listing counts, by bucket; the dollars are
/// the counts times `prices` (put, get per 1,000; inter-region per GB).
fn assert_cost_matches_counts(r: &Value, prices: (f64, f64, f64)) {
    let c = &r["cost"];
    let ops = &r["operations"]["by_kind"];
    let l = &r["listing"];
    let (src, dst) = (&c["requests"]["source"], &c["requests"]["dest"]);
    // Each CopyObject is one PUT-class request on the destination, each upload line a PUT.
    assert_eq!(u(&dst["copy"]), u(&ops["copy"]), "{c}");
    assert!(u(&dst["put"]) >= u(&ops["upload"]), "{c}");
    assert!(u(&src["get"]) >= u(&ops["download"]), "{c}");
    // Every LIST page of each side, and a folder copy's LISTs of the source.
    assert_eq!(
        u(&src["list"]),
        u(&l["source"]["requests"]) + u(&l["discovery"]["requests"]) + u(&ops["list"]),
        "{c}"
    );
    assert_eq!(
        u(&dst["list"]),
        u(&l["dest"]["requests"]) + u(&l["validation"]["requests"]),
        "{c}"
    );
    let side = |s: &Value, kinds: &[&str]| kinds.iter().map(|k| u(&s[*k])).sum::<u64>();
    let put_class = side(src, &["copy", "put", "list"]) + side(dst, &["copy", "put", "list"]);
    let get_class = side(src, &["get", "head"]) + side(dst, &["get", "head"]);
    assert_eq!(u(&c["requests"]["put_class"]), put_class, "{c}");
    assert_eq!(u(&c["requests"]["get_class"]), get_class, "{c}");
    let (put, get, inter) = prices;
    let cross = c["bytes_cross_region"].as_u64().unwrap_or(0) as f64;
    let requests = put_class as f64 / 1000.0 * put + get_class as f64 / 1000.0 * get;
    close(f(&c["usd_requests"]), requests, "usd_requests");
    close(f(&c["usd_transfer"]), cross / GB * inter, "usd_transfer");
    close(
        f(&c["usd_total"]),
        requests + cross / GB * inter,
        "usd_total",
    );
    close(
        f(&c["usd_source_owner"]) + f(&c["usd_dest_owner"]),
        f(&c["usd_total"]),
        "the two owners' shares",
    );
    let files = u(&r["totals"]["copied"]) + u(&r["totals"]["failed"]);
    assert_eq!(u(&c["files"]), files);
    assert!(files > 0);
    close(
        f(&c["usd_per_file"]),
        f(&c["usd_total"]) / files as f64,
        "usd_per_file",
    );
}

fn sync(moto: &Moto) -> Sync {
    Sync::new(moto)
        .dest("s3://dst/lake")
        .args(["--market", "spot", "--period", "daily"])
}

#[test]
fn a_direct_run_across_regions_is_priced_from_its_own_counts() {
    let (moto, _dir) = Seed::archives(60).start();
    let run = sync(&moto)
        .args(["--source-region", "us-east-1", "--dest-region", "eu-west-1"])
        .mode("direct")
        .run();
    assert_eq!(run.code, 0, "{}", run.stderr);
    let r = run.report();
    crate::report_fields::assert_documented_fields(&r, false);
    let c = &r["cost"];
    assert!(
        run.stderr.contains(&format!(
            "cost estimate: ${:.6} (${:.9}/file) at aws-us-east-1-list prices",
            f(&c["usd_total"]),
            f(&c["usd_per_file"])
        )),
        "{}",
        run.stderr
    );
    assert_eq!(c["prices"]["name"], "aws-us-east-1-list", "{c}");
    assert!(!c["prices"]["as_of"].as_str().unwrap().is_empty());
    assert!(u(&c["requests"]["dest"]["copy"]) >= u(&r["totals"]["copied"]));
    // Two regions, both known: every copied byte crossed, billed to the source's owner.
    assert_eq!(c["bytes_cross_region"], r["totals"]["bytes_copied"], "{c}");
    assert!(u(&c["bytes_cross_region"]) > 0);
    assert_eq!(c["note"], Value::Null);
    // Both regions known: s5cmd asks no bucket its region.
    assert_eq!(u(&c["requests"]["source"]["head"]), 0, "{c}");
    assert_eq!(u(&c["requests"]["dest"]["get"]), 0, "{c}");
    assert_cost_matches_counts(&r, (0.005, 0.0004, 0.02));
    // The destination's owner pays the copies and its listings; the source's owner its
    // listings and the bytes leaving its region.
    close(
        f(&c["usd_source_owner"]),
        u(&c["requests"]["source"]["list"]) as f64 / 1000.0 * 0.005
            + u(&c["bytes_cross_region"]) as f64 / GB * 0.02,
        "usd_source_owner",
    );
    close(
        f(&c["usd_dest_owner"]),
        (u(&c["requests"]["dest"]["copy"]) + u(&c["requests"]["dest"]["list"])) as f64 / 1000.0
            * 0.005,
        "usd_dest_owner",
    );
}

#[test]
fn a_staged_run_with_a_price_table_and_regions_asked_once() {
    let (moto, _dir) = Seed::archives(30).start();
    let (_prices_dir, prices) = temp_file(
        "prices.toml",
        "name = \"test\"\nas_of = \"2026-01-01\"\nput_per_1000 = 1.0\nget_per_1000 = 0.5\n\
         inter_region_per_gb = 1000.0\n",
    );
    let run = sync(&moto)
        .mode("staged")
        .args(["--price-table", prices.to_str().unwrap()])
        .run();
    assert_eq!(run.code, 0, "{}", run.stderr);
    let r = run.report();
    let c = &r["cost"];
    assert_eq!(
        (&c["prices"]["name"], &c["prices"]["as_of"]),
        (&Value::from("test"), &Value::from("2026-01-01"))
    );
    let ops = &r["operations"]["by_kind"];
    assert!(u(&ops["download"]) > 0 && u(&ops["copy"]) == 0, "{ops}");
    // Small objects: one GET on the source and one PUT on the destination each.
    assert_eq!(
        u(&c["requests"]["source"]["get"]),
        u(&ops["download"]),
        "{c}"
    );
    assert_eq!(u(&c["requests"]["dest"]["put"]), u(&ops["upload"]), "{c}");
    assert_eq!(u(&c["requests"]["dest"]["copy"]), 0);
    // No region given: lakesync asked each bucket once (moto answers us-east-1), so no
    // s5cmd child asks again (no HeadBucket in the estimate), and the bytes stay in one
    // region. (A region nobody states is never guessed: unit tests in report::cost.)
    assert_eq!(u(&c["requests"]["source"]["head"]), 0, "{c}");
    assert_eq!(u(&c["requests"]["dest"]["head"]), 0, "{c}");
    assert_eq!(
        (&c["source_region"], &c["dest_region"]),
        (&Value::from("us-east-1"), &Value::from("us-east-1")),
        "{c}"
    );
    assert_eq!(c["bytes_cross_region"], 0, "{c}");
    assert_cost_matches_counts(&r, (1.0, 0.5, 1000.0));
}

#[test]
fn plan_shows_direct_and_staged_side_by_side() {
    let (moto, _dir) = Seed::archives(40).start();
    let plan = sync(&moto).command("plan").no_report().args([
        "--source-region",
        "ap-northeast-1",
        "--dest-region",
        "us-east-1",
    ]);
    let run = plan.clone().args(["--format", "json"]).run();
    assert_eq!(run.code, 0, "{}", run.stderr);
    let p: Value = serde_json::from_str(&run.stdout).unwrap();
    let copy = u(&p["totals"]["copy"]);
    let bytes = u(&p["totals"]["copy_bytes"]);
    assert!(copy > 0, "{p}");
    let (d, s) = (&p["cost"]["direct"], &p["cost"]["staged"]);
    assert_eq!(u(&d["files"]), copy);
    // Direct: one CopyObject per object; staged: a GET and a PUT each (small objects).
    assert_eq!(u(&d["requests"]["dest"]["copy"]), copy, "{d}");
    assert_eq!(u(&d["requests"]["source"]["get"]), 0, "{d}");
    assert_eq!(u(&s["requests"]["dest"]["copy"]), 0, "{s}");
    assert_eq!(u(&s["requests"]["source"]["get"]), copy, "{s}");
    assert_eq!(u(&s["requests"]["dest"]["put"]), copy, "{s}");
    // Tokyo to Virginia: every byte crosses, whichever way.
    assert_eq!(u(&d["bytes_cross_region"]), bytes);
    assert_eq!(u(&s["bytes_cross_region"]), bytes);
    // The same copies as PUTs, plus the GETs: staged costs more.
    assert!(f(&s["usd_total"]) > f(&d["usd_total"]), "{d}\n{s}");
    let transfer = bytes as f64 / GB * 0.02;
    close(
        f(&d["usd_total"]),
        u(&d["requests"]["put_class"]) as f64 / 1000.0 * 0.005 + transfer,
        "direct usd_total",
    );

    let text = plan.run();
    assert_eq!(text.code, 0, "{}", text.stderr);
    let head = text
        .stdout
        .lines()
        .find(|l| l.trim_start().starts_with("direct"))
        .unwrap_or_else(|| panic!("no cost table:\n{}", text.stdout));
    assert!(head.contains("staged"), "{head}");
    assert!(
        text.stdout
            .contains(&format!("cost of the {copy} planned object(s)")),
        "{}",
        text.stdout
    );
    let row = text
        .stdout
        .lines()
        .find(|l| l.trim_start().starts_with("GET/HEAD requests"))
        .unwrap_or_else(|| panic!("no GET row:\n{}", text.stdout));
    assert!(row.trim_end().ends_with(&copy.to_string()), "{row}");
}

#[test]
fn a_bad_price_table_is_refused_naming_the_value() {
    let (dir, prices) = temp_file("prices.toml", "put_per_1000 = -0.005\n");
    let url = closed_port_url();
    let p = prices.to_str().unwrap();
    // `sync` against a closed port with `extra`: refused before anything is contacted.
    let sync = |extra: [&str; 2]| {
        let mut args = vec!["sync", "--endpoint-url", &url, "--dest", "s3://dst"];
        args.extend(extra);
        lakesync_with(&args, &[])
    };
    let run = sync(["--price-table", p]);
    run.assert_refused("put_per_1000 = -0.005");
    assert_cli("bad_price_table", &run);
    // The config key says the same.
    let cfg = dir.path().join("lakesync.toml");
    std::fs::write(&cfg, format!("price-table = {p:?}\n")).unwrap();
    let run = sync(["--config", cfg.to_str().unwrap()]);
    run.assert_refused("--price-table");
    std::fs::write(&prices, "put_per_1000 = 0.005\nwhat = 1\n").unwrap();
    let run = sync(["--price-table", p]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert_cli("unknown_price_key", &run);
}
