//! Folder copies: a source folder planned whole travels as one s5cmd wildcard line, against
//! a real moto server with the real s5cmd. What landed is checked with independent listings.

mod common;

use common::{
    Moto, assert_mirrors, fake_s5cmd_bin, gen_fixtures, lakesync, lakesync_with, s5cmd_bin,
};

const WHOLE: &str = "data/spot/daily/klines/BTCUSDT/1m/";
const PARTLY_THERE: &str = "data/spot/daily/klines/ETHUSDT/1m/";
const WITH_SUBFOLDER: &str = "data/spot/daily/klines/BNBUSDT/1m/";

/// Source: WHOLE with 120 objects, PARTLY_THERE with 60 (one already at the destination),
/// WITH_SUBFOLDER with 60 plus one object in a subfolder. Destination: bucket `dst`, folder
/// `lake/`.
fn setup() -> (Moto, tempfile::TempDir) {
    let moto = Moto::start();
    let dir = tempfile::tempdir().unwrap();
    gen_fixtures(
        dir.path(),
        &[
            "--files",
            "60",
            "--size-class",
            "tiny",
            "--layout",
            "klines",
        ],
    );
    moto.make_bucket("src");
    moto.make_bucket("dst");
    moto.upload_dir(dir.path(), "src", "");
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

fn args<'a>(moto: &'a Moto, extra: &[&'a str]) -> Vec<&'a str> {
    let mut v = common::sync_to_lake(moto, &["--batch-size", "40"]);
    v.extend_from_slice(extra);
    v
}

#[test]
fn a_whole_folder_goes_as_one_wildcard_line_and_lands_exactly() {
    let (moto, dir) = setup();

    // The dry run's command file shows what the first attempt runs.
    let cmds = dir.path().join("commands.txt");
    let cmds_s = cmds.to_str().unwrap();
    let dry = lakesync(&args(&moto, &["--dry-run", "--write-commands", cmds_s]));
    assert_eq!(dry.code, 0, "{}", dry.stderr);
    let text = std::fs::read_to_string(&cmds).unwrap();
    let wildcard: Vec<&str> = text.lines().filter(|l| l.contains("/*'")).collect();
    assert_eq!(
        wildcard,
        vec![format!(
            "cp --metadata-directive COPY 's3://src/{WHOLE}*' 's3://dst/lake/{WHOLE}'"
        )],
        "only the folder planned whole is a wildcard line"
    );
    // 59 + 61 objects one line each: the partly present folder and the one with a subfolder.
    assert_eq!(text.lines().count(), 1 + 59 + 61, "{text}");

    let run = lakesync(&args(&moto, &[]));
    assert_eq!(run.code, 0, "{}", run.stderr);
    let r = run.report();
    assert_mirrors(&moto, "src", &moto, "dst", "lake/");
    assert_eq!(r["totals"]["planned"], 240);
    assert_eq!(r["totals"]["copied"], 240);
    assert_eq!(r["totals"]["validated"], 240);
    assert_eq!(r["totals"]["skipped"], 1);
    assert_eq!(r["operations"]["by_kind"]["copy"], 240);
    assert_eq!(r["operations"]["by_kind"]["list"], 1);
    assert_eq!(r["operations"]["per_file"], 1.004, "{}", r["operations"]);
    assert_eq!(r["operations"]["unplanned_copies"], 0);
    let batches = r["batches"].as_array().unwrap();
    let with_folder: Vec<_> = batches.iter().filter(|b| b["folders"] == 1).collect();
    assert_eq!(with_folder.len(), 1, "{batches:?}");
    assert_eq!(
        with_folder[0]["files"], 120,
        "a folder is never split, whatever --batch-size"
    );
    assert!(
        batches
            .iter()
            .filter(|b| b["folders"] == 0)
            .all(|b| b["files"].as_u64().unwrap() <= 40)
    );

    // Nothing left to do.
    let again = lakesync(&args(&moto, &[]));
    assert_eq!(again.code, 0, "{}", again.stderr);
    let r2 = again.report();
    assert_eq!(r2["totals"]["planned"], 0);
    assert_eq!(r2["totals"]["skipped"], 241);
    assert_eq!(r2["operations"]["by_kind"]["list"], 0);
}

#[test]
fn no_folder_copies_writes_one_line_per_object() {
    let (moto, _dir) = setup();
    let run = lakesync(&args(&moto, &["--no-folder-copies"]));
    assert_eq!(run.code, 0, "{}", run.stderr);
    let r = run.report();
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

/// Sync only the WHOLE folder through the fake s5cmd (its first `run` is the folder copy).
fn sync_whole_folder_through_fake(
    moto: &Moto,
    dir: &tempfile::TempDir,
    env: &[(&str, &str)],
) -> serde_json::Value {
    let once = dir.path().join("once");
    let real = s5cmd_bin();
    let fake = fake_s5cmd_bin();
    let extra = vec![
        "--s5cmd",
        fake.to_str().unwrap(),
        "--mode",
        "direct",
        "--market",
        "spot",
        "--period",
        "daily",
        "--data-type",
        "klines",
        "--symbols",
        "BTCUSDT",
        "--interval",
        "1m",
    ];
    let mut all_env = vec![
        ("LAKESYNC_FAKE_REAL", real.to_str().unwrap()),
        ("LAKESYNC_FAKE_ONCE", once.to_str().unwrap()),
    ];
    all_env.extend_from_slice(env);
    let run = lakesync_with(&args(moto, &extra), &all_env);
    assert_eq!(run.code, 0, "{}", run.stderr);
    run.report()
}

/// Objects a folder copy did not report (here: success lines dropped) are retried one line
/// each, and land.
#[test]
fn folder_members_without_outcome_are_retried_one_line_each() {
    let (moto, dir) = setup();
    let r = sync_whole_folder_through_fake(&moto, &dir, &[("LAKESYNC_FAKE_SWALLOW", "30")]);
    assert_eq!(r["totals"]["copied"], 120, "{}", r["totals"]);
    assert_eq!(r["totals"]["validated"], 120);
    assert_eq!(r["totals"]["failed"], 0);
    assert_eq!(r["totals"]["retried"], 30, "{}", r["totals"]);
    assert_eq!(r["operations"]["by_kind"]["list"], 1);
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
    let r = sync_whole_folder_through_fake(
        &moto,
        &dir,
        &[("LAKESYNC_FAKE_BEFORE_RUN", before.as_str())],
    );
    assert_eq!(r["totals"]["copied"], 120, "{}", r["totals"]);
    assert_eq!(r["totals"]["validated"], 120);
    assert_eq!(r["totals"]["failed"], 0);
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

/// In auto mode, a folder member the server-side copy cannot do (moto refuses a copy
/// source with a space) fails alone inside the wildcard copy and lands staged.
#[test]
fn a_folder_member_direct_cannot_copy_lands_staged_in_auto_mode() {
    let moto = Moto::start();
    moto.make_bucket("src");
    moto.make_bucket("dst");
    for i in 0..59 {
        moto.put(
            "src",
            &format!("{WHOLE}o{i:02}.bin"),
            format!("{i}").as_bytes(),
        );
    }
    moto.put("src", &format!("{WHOLE}with space.bin"), b"space");
    let run = lakesync(&args(&moto, &[]));
    assert_eq!(run.code, 0, "{}", run.stderr);
    let r = run.report();
    assert_eq!(r["mode"], "mixed");
    assert_eq!(r["totals"]["copied"], 60, "{}", r["totals"]);
    assert_eq!(r["totals"]["validated"], 60);
    assert_eq!(r["totals"]["fallback"], 1);
    assert_eq!(r["operations"]["by_kind"]["list"], 1);
    assert_eq!(r["operations"]["by_kind"]["upload"], 1);
    assert_mirrors(&moto, "src", &moto, "dst", "lake/");
}
