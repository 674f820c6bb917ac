//! Listing at archive scale against a real moto server with the real s5cmd: symbol
//! discovery with delimiter listings (past 1,000 prefixes, per folder, missing folders),
//! many `ls` lines in one `s5cmd run` demultiplexed per prefix (empty and failing
//! prefixes), and both sides listed in groups where symbols appear or vanish between them.

use std::path::Path;
use std::time::Duration;

use lakesync::list::Lister;
use lakesync::list::discover::{self, Choice};
use lakesync::list::multi::LsKind;
use lakesync::list::paired::{PairedConfig, Side, list_paired};
use lakesync::os::signals::Interrupt;
use lakesync::plan::{Decision, Merge, Reason};
use lakesync::s3url::S3Url;
use lakesync::s5cmd::Globals;
use lakesync::select::{Selection, SelectionFlags};

use crate::common::{Moto, Sync, assert_totals, s5cmd_bin};

fn lister(moto: &Moto) -> Lister {
    Lister {
        binary: s5cmd_bin(),
        // moto answers unsigned requests: no credentials in this process's environment.
        globals: Globals {
            endpoint_url: Some(moto.url.clone()),
            no_sign_request: true,
            profile: None,
            retry_count: 1,
            ..Globals::default()
        },
        interrupt: Interrupt::never(),
        timeout: Some(Duration::from_secs(120)),
    }
}

fn selection(market: Option<&str>, symbols: &[&str], start: &str, end: &str) -> Selection {
    Selection::from_flags(&SelectionFlags {
        market: market.map(String::from),
        period: Some("daily".into()),
        data_types: vec!["klines".into()],
        intervals: vec!["1m".into()],
        symbols: symbols.iter().map(|s| (*s).to_owned()).collect(),
        start: Some(start.into()),
        end: Some(end.into()),
    })
    .expect("valid")
    .expect("given")
}

/// Write one small file per key under `dir`, for `Moto::upload_dir`.
fn write_tree(dir: &Path, keys: &[String]) {
    for k in keys {
        let p = dir.join(k);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, k.as_bytes()).unwrap();
    }
}

fn kline(market: &str, symbol: &str, day: &str) -> String {
    format!("data/{market}/daily/klines/{symbol}/1m/{symbol}-1m-{day}.zip")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovery_pages_past_1000_symbols_and_keeps_folders_apart() {
    let moto = Moto::with_buckets(&["src"]);
    let tree = tempfile::tempdir().unwrap();
    let mut keys: Vec<String> = (0..1100)
        .map(|i| kline("spot", &format!("S{i:04}USDT"), "2024-01-01"))
        .collect();
    for s in ["BTCUSDT", "ETHUSDT", "BTCUSDT_240329"] {
        keys.push(kline("futures/um", s, "2024-01-01"));
    }
    // A file directly in the folder is no symbol.
    keys.push("data/spot/daily/klines/README.zip".into());
    write_tree(tree.path(), &keys);
    moto.upload_dir(tree.path(), "src", "");

    let source = S3Url::parse("--source", "s3://src").unwrap();
    // No market: spot, um and cm daily klines; cm's folder does not exist here.
    let sel = selection(None, &[], "2024-01-01", "2024-01-01");
    let work = tempfile::tempdir().unwrap();
    let (found, counts) = discover::discover(&lister(&moto), &source, &sel, 64, work.path())
        .await
        .expect("discovery");
    let spot = &found["data/spot/daily/klines/"];
    assert_eq!(
        spot.len(),
        1100,
        "a delimiter listing pages past 1,000 prefixes"
    );
    assert_eq!(spot[0], "S0000USDT");
    assert_eq!(spot[1099], "S1099USDT");
    assert_eq!(
        found["data/futures/um/daily/klines/"],
        ["BTCUSDT", "BTCUSDT_240329", "ETHUSDT"]
    );
    assert!(found["data/futures/cm/daily/klines/"].is_empty());
    // One process; spot's 1,101 entries take two pages, um and cm one each.
    assert_eq!(
        (counts.processes, counts.requests, counts.prefixes),
        (1, 4, 3)
    );

    // Narrowed: a day of a big folder is one prefix per symbol, listed in one run.
    let choices = discover::choose(&sel, &found);
    assert!(
        choices.iter().all(|c| c.choice == Choice::Narrowed),
        "{choices:?}"
    );
    let prefixes = sel.prefixes_with(&discover::apply(found, &choices));
    assert_eq!(prefixes.len(), 1103);
    let full: Vec<String> = prefixes.iter().map(|p| source.key(p)).collect();
    let listed = lister(&moto)
        .list_group("src", &full, LsKind::Objects, 64, work.path())
        .await
        .unwrap();
    assert!(
        listed
            .iter()
            .all(|l| l.error.is_none() && l.objects.len() == 1)
    );
    assert_eq!(
        listed.iter().map(|l| l.objects.len()).sum::<usize>(),
        1103,
        "every prefix got exactly its own key back"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_run_lists_many_prefixes_with_empty_missing_and_failing_ones() {
    let moto = Moto::with_buckets(&["src"]);
    let tree = tempfile::tempdir().unwrap();
    let keys: Vec<String> = ["2024-01-01", "2024-01-02", "2024-02-01"]
        .iter()
        .flat_map(|d| [kline("spot", "AAA", d), kline("spot", "BBB", d)])
        .collect();
    write_tree(tree.path(), &keys);
    moto.upload_dir(tree.path(), "src", "");
    let work = tempfile::tempdir().unwrap();
    let prefixes: Vec<String> = [
        "data/spot/daily/klines/AAA/1m/AAA-1m-2024-01-0",
        "data/spot/daily/klines/AAA/1m/AAA-1m-2025-",
        "data/spot/daily/klines/BBB/1m/",
        "data/spot/daily/klines/NOPE/1m/",
    ]
    .map(String::from)
    .into();
    let got = lister(&moto)
        .list_group("src", &prefixes, LsKind::Objects, 2, work.path())
        .await
        .unwrap();
    let names = |i: usize| -> Vec<String> {
        got[i]
            .objects
            .iter()
            .map(|o| o.key.rsplit('/').next().unwrap().to_owned())
            .collect()
    };
    assert_eq!(names(0), ["AAA-1m-2024-01-01.zip", "AAA-1m-2024-01-02.zip"]);
    assert!(
        names(1).is_empty() && got[1].error.is_none(),
        "empty prefix"
    );
    assert_eq!(
        names(2),
        [
            "BBB-1m-2024-01-01.zip",
            "BBB-1m-2024-01-02.zip",
            "BBB-1m-2024-02-01.zip"
        ]
    );
    assert!(
        names(3).is_empty() && got[3].error.is_none(),
        "missing folder"
    );
    // Sizes and dates come through as a plain `s5cmd ls` shows them.
    let independent = moto.list("src", "data/spot/daily/klines/BBB/1m/");
    for o in &got[2].objects {
        let rel = o
            .key
            .strip_prefix("data/spot/daily/klines/BBB/1m/")
            .unwrap();
        assert_eq!(independent[rel].size, o.size);
    }
    // The run file is gone.
    assert_eq!(std::fs::read_dir(work.path()).unwrap().count(), 0);

    // A missing bucket fails every line, with the bucket hint.
    let failed = lister(&moto)
        .list_group(
            "no-such-bucket",
            &prefixes[..2],
            LsKind::Objects,
            2,
            work.path(),
        )
        .await
        .unwrap();
    for l in &failed {
        let e = l.error.as_ref().expect("failed");
        assert!(e.to_string().contains("s3://no-such-bucket/"), "{e}");
        assert!(e.hint().contains("bucket exists"), "{}", e.hint());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_sides_in_groups_where_symbols_appear_or_vanish() {
    let moto = Moto::with_buckets(&["src", "dst"]);
    let src_tree = tempfile::tempdir().unwrap();
    let dst_tree = tempfile::tempdir().unwrap();
    let days = ["2024-01-01", "2024-01-02"];
    // AAA is new (not at the destination yet), BBB half mirrored, CCC gone from the
    // source (the destination keeps it: sync never deletes), DDD in both, ZZZ nowhere.
    let src: Vec<String> = days
        .iter()
        .flat_map(|d| ["AAA", "BBB", "DDD"].map(|s| kline("spot", s, d)))
        .collect();
    let dst: Vec<String> = days
        .iter()
        .flat_map(|d| ["CCC", "DDD"].map(|s| kline("spot", s, d)))
        .chain([kline("spot", "BBB", "2024-01-01")])
        .collect();
    write_tree(src_tree.path(), &src);
    write_tree(dst_tree.path(), &dst);
    moto.upload_dir(src_tree.path(), "src", "");
    moto.upload_dir(dst_tree.path(), "dst", "lake/");

    let source = S3Url::parse("--source", "s3://src").unwrap();
    let dest = S3Url::parse("--dest", "s3://dst/lake").unwrap();
    let work = tempfile::tempdir().unwrap();
    let l = lister(&moto);
    let sel = selection(
        Some("spot"),
        &["AAA", "BBB", "CCC", "DDD", "ZZZ"],
        "2024-01-01",
        "2024-01-31",
    );
    let prefixes = sel.prefixes();
    assert_eq!(prefixes.len(), 5);
    let (tx, mut rx) = tokio::sync::mpsc::channel(4);
    // Two lines per group: three groups, so the destination of one group is listed while
    // the source of the next one is.
    let cfg = PairedConfig {
        in_flight: 2,
        group_lines: 2,
    };
    let counts = list_paired(
        Side {
            lister: &l,
            folder: &source,
        },
        Side {
            lister: &l,
            folder: &dest,
        },
        &prefixes,
        cfg,
        work.path(),
        tx,
    )
    .await;
    let mut pairs = Vec::new();
    while let Some(group) = rx.recv().await {
        pairs.extend(group.expect("listed"));
    }
    let symbols: Vec<&str> = pairs
        .iter()
        .map(|p| p.prefix.split('/').nth(4).unwrap())
        .collect();
    assert_eq!(symbols, ["AAA", "BBB", "CCC", "DDD", "ZZZ"]);
    let sizes: Vec<(usize, usize)> = pairs
        .iter()
        .map(|p| (p.source.len(), p.dest.len()))
        .collect();
    // CCC and ZZZ have no source: their destinations are not listed at all.
    assert_eq!(sizes, [(2, 0), (2, 1), (0, 0), (2, 2), (0, 0)]);
    assert_eq!(counts.dest_skipped, 2);
    assert_eq!(counts.source.prefixes, 5);
    assert_eq!(counts.source.processes, 3);
    assert_eq!(counts.dest.prefixes, 3);
    assert_eq!(counts.source.keys, 6);
    assert_eq!(counts.dest.keys, 3);
    assert_eq!(
        counts.in_flight_max, 4,
        "source and destination lines together"
    );

    // Merged pair by pair, the decisions are the whole-listing ones.
    let mut decisions = Vec::new();
    for p in pairs {
        for d in Merge::new(p.source.into_iter(), p.dest.into_iter()) {
            decisions.push(match d.unwrap() {
                Decision::Copy { object, reason } => (object.key, Some(reason)),
                Decision::Skip { object } => (object.key, None),
            });
        }
    }
    let copied: Vec<&str> = decisions
        .iter()
        .filter(|(_, r)| *r == Some(Reason::Missing))
        .map(|(k, _)| k.rsplit('/').next().unwrap())
        .collect();
    assert_eq!(
        copied,
        [
            "AAA-1m-2024-01-01.zip",
            "AAA-1m-2024-01-02.zip",
            "BBB-1m-2024-01-02.zip"
        ]
    );
    assert_eq!(decisions.len(), 6);

    // Discovery finds the source's symbols only: the vanished CCC is not even listed.
    let open = selection(Some("spot"), &[], "2024-01-01", "2024-01-31");
    let (found, _) = discover::discover(&l, &source, &open, 8, work.path())
        .await
        .unwrap();
    assert_eq!(found["data/spot/daily/klines/"], ["AAA", "BBB", "DDD"]);

    // `lakesync plan` shows the choice made from those counts.
    let plan = Sync::new(&moto)
        .command("plan")
        .dest("s3://dst/lake")
        .select("spot", "daily", "klines")
        .interval("1m")
        .dates("2024-01-01", "2024-01-31")
        .no_report()
        .args(["--format", "json"]);
    let run = tokio::task::spawn_blocking(move || plan.run())
        .await
        .unwrap();
    assert_eq!(run.code, 0, "{}", run.stderr);
    let j: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let folder = &j["listing"]["folders"][0];
    assert_eq!(folder["folder"], "data/spot/daily/klines/");
    assert_eq!(folder["symbols"], 3);
    assert_eq!(folder["narrowed_prefixes"], 3);
    assert_eq!(folder["choice"], "narrowed");
    assert_eq!(j["listing"]["discovery_requests"], 1);
    assert!(
        run.stderr
            .contains("data/spot/daily/klines/: 3 symbols, narrowed"),
        "{}",
        run.stderr
    );
}

/// The report says what listing cost per side, and validation lists only the span of what
/// was copied: two new days in a folder of forty lists two keys, not forty-two.
#[test]
fn the_report_counts_listing_per_side_and_validation_lists_only_what_was_copied() {
    let moto = Moto::with_buckets(&["src", "dst"]);
    let old: Vec<String> = (1..=40)
        .map(|d| {
            let day = jiff::civil::date(2023, 1, 1) + jiff::Span::new().days(d);
            kline("spot", "AAA", &day.to_string())
        })
        .collect();
    let new: Vec<String> = ["2024-01-01", "2024-01-02"]
        .iter()
        .map(|d| kline("spot", "AAA", d))
        .collect();
    let src_tree = tempfile::tempdir().unwrap();
    let dst_tree = tempfile::tempdir().unwrap();
    write_tree(src_tree.path(), &[old.clone(), new.clone()].concat());
    write_tree(dst_tree.path(), &old);
    moto.upload_dir(src_tree.path(), "src", "");
    moto.upload_dir(dst_tree.path(), "dst", "");
    let r = Sync::new(&moto)
        .select("spot", "daily", "klines")
        .interval("1m")
        .symbols("AAA")
        .run()
        .exited(0)
        .report();
    assert_totals(&r, &[("copied", 2), ("validated", 2)]);
    let l = &r["listing"];
    assert_eq!(l["source"]["prefixes"], 1, "{l}");
    assert_eq!(l["source"]["keys"], 42);
    assert_eq!(l["source"]["requests"], 1);
    assert_eq!(l["dest"]["keys"], 40);
    assert_eq!(l["validation"]["keys"], 2, "only the copied span: {l}");
    assert_eq!(l["validation"]["prefixes"], 1);
    assert_eq!(l["validation"]["processes"], 1);
    // One prefix: its destination is listed once its source is in (paired listing).
    assert!(l["in_flight_max"].as_u64().unwrap() >= 1);
    let copy = r["throughput"]["copy_seconds"].as_f64().unwrap();
    assert!(copy > 0.0 && copy <= r["duration_seconds"].as_f64().unwrap());
}

/// The fixture of the sync-level tests: 30 spot symbols with 1m and 1h klines. S00-S19
/// hold 2024-01-01..03, S20-S24 stop after 01-02 (their day-3 prefix is empty), S25-S29
/// are new (nothing of them at the destination); the destination is mirrored through
/// 01-02 and also holds OLD0-OLD2, gone from the source.
fn many_symbols(moto: &Moto) -> usize {
    moto.make_bucket("src");
    moto.make_bucket("dst");
    let key = |s: &str, iv: &str, d: &str| {
        format!("data/spot/daily/klines/{s}/{iv}/{s}-{iv}-2024-01-{d}.zip")
    };
    let mut src = Vec::new();
    let mut dst = Vec::new();
    for i in 0..30 {
        let s = format!("S{i:02}USDT");
        let days: &[&str] = if (20..25).contains(&i) {
            &["01", "02"]
        } else {
            &["01", "02", "03"]
        };
        for iv in ["1m", "1h"] {
            for d in days {
                src.push(key(&s, iv, d));
                if i < 25 && *d != "03" {
                    dst.push(key(&s, iv, d));
                }
            }
        }
    }
    for i in 0..3 {
        dst.push(key(&format!("OLD{i}"), "1m", "03"));
    }
    let src_tree = tempfile::tempdir().unwrap();
    let dst_tree = tempfile::tempdir().unwrap();
    write_tree(src_tree.path(), &src);
    write_tree(dst_tree.path(), &dst);
    moto.upload_dir(src_tree.path(), "src", "");
    moto.upload_dir(dst_tree.path(), "dst", "");
    src.len()
}

/// The daily job's selection: day 3, 1m klines of every spot symbol (no `--symbols`).
fn day_three(moto: &Moto, dest: &str) -> Sync {
    Sync::new(moto)
        .dest(dest)
        .select("spot", "daily", "klines")
        .interval("1m")
        .dates("2024-01-03", "2024-01-03")
}
/// Without `--symbols`, a one-day sync discovers the symbols and lists only their day-3
/// prefixes, both sides in grouped s5cmd runs: the source's day (25 keys of 170), the
/// destination only where the source has something (not for the 5 symbols that stopped,
/// nor for OLD*, gone from the source). On the code before this change the whole
/// data-type folder was listed on both sides.
#[test]
fn a_sync_without_symbols_lists_only_the_narrowed_prefixes_of_the_day() {
    let moto = Moto::start();
    let all = many_symbols(&moto);
    assert_eq!(all, 170);
    let sync = day_three(&moto, "s3://dst").args(["--list-concurrency", "8"]);
    let run = sync.run();
    assert_eq!(run.code, 0, "{}", run.stderr);
    let r = run.report();
    assert_eq!(r["totals"]["copied"], 25, "{}", r["totals"]);
    assert_eq!(r["totals"]["validated"], 25);
    assert_eq!(r["totals"]["skipped"], 0);
    let l = &r["listing"];
    assert_eq!(l["discovery"]["prefixes"], 1, "{l}");
    assert_eq!(l["discovery"]["requests"], 1, "{l}");
    assert_eq!(
        l["source"]["prefixes"], 30,
        "one per discovered symbol: {l}"
    );
    assert_eq!(l["source"]["keys"], 25, "the day's objects only: {l}");
    assert_eq!(l["dest"]["prefixes"], 25, "{l}");
    assert_eq!(l["dest"]["keys"], 0, "{l}");
    assert_eq!(l["dest_skipped"], 5, "{l}");
    // 30 prefixes in groups: a handful of processes, not one per prefix.
    assert!(l["source"]["processes"].as_u64().unwrap() <= 2, "{l}");
    assert!(l["in_flight_max"].as_u64().unwrap() <= 16, "{l}");
    assert_eq!(r["plan"]["prefixes"], 30);

    // Run again: everything is there now, nothing to copy, the same listing.
    let run = sync.run();
    assert_eq!(run.code, 0, "{}", run.stderr);
    let r = run.report();
    assert_eq!(r["totals"]["copied"], 0, "{}", r["totals"]);
    assert_eq!(r["totals"]["skipped"], 25);
    assert_eq!(r["listing"]["dest"]["keys"], 25, "{}", r["listing"]);

    // With --symbols (two given, one of them missing): grouped as well.
    let run = day_three(&moto, "s3://dst/again")
        .symbols("S03USDT,NOPEUSDT")
        .run();
    assert_eq!(run.code, 0, "{}", run.stderr);
    let r = run.report();
    assert_eq!(r["totals"]["copied"], 1, "{}", r["totals"]);
    let l = &r["listing"];
    assert_eq!(l["source"]["prefixes"], 2, "{l}");
    assert_eq!(
        l["source"]["processes"], 1,
        "both prefixes in one s5cmd run: {l}"
    );
    assert_eq!(l["dest_skipped"], 1, "{l}");
    assert_eq!(l["discovery"]["requests"], 0, "{l}");
}

/// Shards after discovery: each lists only the (symbol, interval) prefixes it owns, so
/// together they list what one run lists (plus one discovery each), and their plans are
/// disjoint and complete.
#[test]
fn shards_divide_the_discovered_prefixes_disjoint_and_complete() {
    let moto = Moto::start();
    many_symbols(&moto);
    let work = tempfile::tempdir().unwrap();
    let plan = |shard: Option<String>| {
        let cmds = work.path().join(format!(
            "{}.txt",
            shard.as_deref().unwrap_or("all").replace('/', "-")
        ));
        let cmds_arg = cmds.display().to_string();
        let mut sync =
            day_three(&moto, "s3://dst/fresh").args(["--dry-run", "--write-commands", &cmds_arg]);
        if let Some(s) = &shard {
            sync = sync.args(["--shard", s]);
        }
        let run = sync.run();
        assert_eq!(run.code, 0, "{}", run.stderr);
        let keys: Vec<String> = std::fs::read_to_string(&cmds)
            .unwrap()
            .lines()
            .map(str::to_owned)
            .collect();
        (run.report(), keys)
    };
    let (whole, all_lines) = plan(None);
    assert_eq!(whole["totals"]["planned"], 25, "{}", whole["totals"]);
    let requests = |r: &serde_json::Value| {
        r["listing"]["source"]["requests"].as_u64().unwrap()
            + r["listing"]["dest"]["requests"].as_u64().unwrap()
    };
    let (mut planned, mut prefixes, mut list_requests) = (0, 0, 0);
    let mut lines = Vec::new();
    for i in 0..3 {
        let (r, l) = plan(Some(format!("{i}/3")));
        planned += r["totals"]["planned"].as_u64().unwrap();
        prefixes += r["listing"]["source"]["prefixes"].as_u64().unwrap();
        list_requests += requests(&r);
        assert!(
            r["listing"]["source"]["prefixes"].as_u64().unwrap() < 30,
            "a shard lists only its own: {}",
            r["listing"]
        );
        lines.extend(l);
    }
    assert_eq!(planned, 25);
    assert_eq!(prefixes, 30, "the shards' prefixes add up to one run's");
    assert!(
        list_requests * 10 <= requests(&whole) * 12,
        "{list_requests} LIST requests over the shards, {} unsharded",
        requests(&whole)
    );
    let n = lines.len();
    lines.sort();
    lines.dedup();
    assert_eq!(lines.len(), n, "no object in two shards");
    let mut all_lines = all_lines;
    all_lines.sort();
    assert_eq!(
        lines, all_lines,
        "the shards together copy what one run copies"
    );
}
