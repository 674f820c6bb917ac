//! Staged mode, the automatic fallback and `verify`, against real moto servers and the real
//! s5cmd. What landed is always checked with an independent s5cmd listing or download.

use crate::common::{Moto, Seed, Sync};

#[test]
fn two_servers_auto_goes_staged_and_everything_lands_verified() {
    let a = Moto::start();
    let b = Moto::start();
    let _dir = Seed::archives(40).with_real().upload_to(&a, "src");
    b.make_bucket("dst");
    let temp = tempfile::tempdir().unwrap();
    let run = Sync::between(&a, &b)
        .dest("s3://dst/mirror")
        .batch_size(25)
        .temp_dir(temp.path())
        .run();
    assert_eq!(run.code, 0, "{}", run.stderr);
    let r = run.report();
    let source = a.list("src", "");
    crate::common::assert_mirrors(&a, "src", &b, "dst", "mirror/");
    let n = source.len() as u64;
    let zips = source.keys().filter(|k| k.ends_with(".zip")).count() as u64;
    assert_eq!(r["mode"], "staged");
    assert_eq!(r["totals"]["copied"], n);
    assert_eq!(r["totals"]["validated"], n);
    assert_eq!(r["integrity"]["checksums_verified"], zips);
    assert_eq!(r["integrity"]["unverified"], 0);
    // 5 operations and 2 network transfers per file, counted from what happened.
    assert_eq!(r["operations"]["per_file"], 5.0, "{}", r["operations"]);
    assert_eq!(r["operations"]["network_transfers_per_file"], 2.0);
    assert_eq!(r["operations"]["by_kind"]["download"], n);
    assert_eq!(r["operations"]["by_kind"]["upload"], n);
    assert_eq!(r["operations"]["by_kind"]["cleanup"], n);
    assert_eq!(
        r["operations"]["local_bytes_written"],
        source.values().map(|s| s.size).sum::<u64>()
    );
    // Nothing left behind in the temp folder.
    assert_eq!(std::fs::read_dir(temp.path()).unwrap().count(), 0);
    // The real archive zip arrived byte for byte.
    let real = "data/futures/cm/daily/aggTrades/BTCUSD_PERP/BTCUSD_PERP-aggTrades-2026-05-08.zip";
    assert_eq!(a.get("src", real), b.get("dst", &format!("mirror/{real}")));
}

#[test]
fn a_space_key_fails_direct_and_the_fallback_lands_it() {
    let moto = Moto::start();
    let _dir = Seed::archives(5).with_real().upload_to(&moto, "src");
    moto.make_bucket("dst");
    let odd = "data/spot/daily/klines/BTCUSDT/1m/odd name.zip";
    moto.put("src", odd, b"PK\x05\x06 not really a zip");
    let run = Sync::new(&moto).run();
    assert_eq!(run.code, 0, "{}", run.stderr);
    let r = run.report();
    assert_eq!(r["mode"], "mixed");
    assert_eq!(r["totals"]["fallback"], 1, "{}", r["totals"]);
    assert_eq!(
        r["integrity"]["unverified"], 1,
        "the odd zip has no CHECKSUM"
    );
    assert_eq!(moto.get("dst", odd), b"PK\x05\x06 not really a zip");
    assert_eq!(moto.list("dst", "").len(), moto.list("src", "").len());

    // --mode direct keeps the failure a failure.
    moto.make_bucket("dst2");
    let direct = Sync::new(&moto).dest("s3://dst2").mode("direct").run();
    assert_eq!(direct.code, 1, "{}", direct.stderr);
    let f = &direct.report()["failures"];
    assert_eq!(f.as_array().unwrap().len(), 1, "{f}");
    assert_eq!(f[0]["key"], odd);
}

#[test]
fn a_zip_that_does_not_match_its_checksum_is_never_uploaded() {
    let moto = Moto::start();
    let dir = Seed::archives(12).generate();
    // Corrupt one zip, keep its CHECKSUM.
    let bad = walk(dir.path())
        .into_iter()
        .find(|p| p.extension().is_some_and(|e| e == "zip"))
        .unwrap();
    let mut bytes = std::fs::read(&bad).unwrap();
    bytes[10] ^= 0x01;
    std::fs::write(&bad, &bytes).unwrap();
    let bad_key = bad
        .strip_prefix(dir.path())
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    moto.make_bucket("src");
    moto.make_bucket("dst");
    moto.upload_dir(dir.path(), "src", "");
    let run = Sync::new(&moto).mode("staged").run();
    assert_eq!(run.code, 1, "{}", run.stderr);
    let r = run.report();
    let failures = r["failures"].as_array().unwrap();
    // The zip, and its CHECKSUM (issue 15 item 5: a CHECKSUM never lands without its zip).
    assert_eq!(failures.len(), 2, "{failures:?}");
    let cs_key = format!("{bad_key}.CHECKSUM");
    for (key, why) in [(&bad_key, "not uploaded"), (&cs_key, "its zip")] {
        let f = failures
            .iter()
            .find(|f| f["key"] == key.as_str())
            .unwrap_or_else(|| panic!("no failure for {key}: {failures:?}"));
        assert_eq!(f["class"], "integrity", "{f}");
        assert!(f["error"].as_str().unwrap().contains(why), "{failures:?}");
    }
    // Downloaded twice, then given up.
    assert!(
        r["operations"]["by_kind"]["download"].as_u64().unwrap()
            > r["totals"]["planned"].as_u64().unwrap()
    );
    let dest = moto.list("dst", "");
    assert!(!dest.contains_key(&bad_key), "the corrupt zip was uploaded");
    assert!(
        !dest.contains_key(&cs_key),
        "its CHECKSUM was uploaded alone"
    );
    assert_eq!(
        dest.len(),
        moto.list("src", "").len() - 2,
        "everything else lands"
    );
}

#[test]
fn dot_dot_keys_stay_inside_the_temp_dir_which_is_removed() {
    let moto = Moto::with_buckets(&["src", "dst"]);
    let keys = [
        "x/../../../../tmp/escaped.zip",
        "../../etc/lakesync-test.zip",
        "a//b/./c.zip",
    ];
    for k in keys {
        moto.put("src", k, k.as_bytes());
    }
    let temp = tempfile::tempdir().unwrap();
    let outside = temp.path().parent().unwrap().to_path_buf();
    let run = Sync::new(&moto).mode("staged").temp_dir(temp.path()).run();
    assert_eq!(run.code, 0, "{}", run.stderr);
    for k in keys {
        assert_eq!(moto.get("dst", k), k.as_bytes(), "{k}");
    }
    assert_eq!(std::fs::read_dir(temp.path()).unwrap().count(), 0);
    assert!(!outside.join("escaped.zip").exists());
    assert!(!std::path::Path::new("/etc/lakesync-test.zip").exists());
    assert!(!std::path::Path::new("/tmp/escaped.zip").exists());
}

#[test]
fn verify_deep_catches_a_destination_corrupted_after_the_sync() {
    let moto = Moto::start();
    let _dir = Seed::archives(8).with_real().upload_to(&moto, "src");
    moto.make_bucket("dst");
    let sync = Sync::new(&moto).dest("s3://dst/m");
    assert_eq!(sync.run().code, 0);
    let shallow = sync.clone().command("verify");
    let deep = shallow.clone().arg("--deep");
    let ok = deep.run();
    assert_eq!(ok.code, 0, "{}", ok.stderr);
    let r = ok.report();
    let zips = moto
        .list("src", "")
        .keys()
        .filter(|k| k.ends_with(".zip"))
        .count() as u64;
    assert_eq!(r["totals"]["checksum_ok"], zips);
    assert_eq!(r["totals"]["missing"], 0);

    // Corrupt one destination zip after the sync: same size, other bytes.
    let key = "data/spot/daily/klines/BTCUSDT/1h/BTCUSDT-1h-2026-05-08.zip";
    let mut body = moto.get("dst", &format!("m/{key}"));
    body[20] ^= 0xff;
    moto.put("dst", &format!("m/{key}"), &body);
    let bad = deep.run();
    assert_eq!(bad.code, 1, "{}", bad.stderr);
    let r = bad.report();
    assert_eq!(r["totals"]["checksum_mismatch"], 1, "{}", r["totals"]);
    let listed: Vec<_> = r["mismatches"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["key"].as_str().unwrap().to_string())
        .collect();
    assert!(listed.contains(&format!("m/{key}")), "{listed:?}");
    // A missing object is caught by the shallow pass.
    let out = moto.s5cmd(&["rm", &format!("s3://dst/m/{key}.CHECKSUM")]);
    assert!(out.status.success());
    let r = shallow.run();
    assert_eq!(r.code, 1);
    assert_eq!(r.report()["totals"]["missing"], 1);
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

#[test]
fn a_200_mb_object_staged_keeps_lakesync_memory_flat() {
    use sha2::Digest;
    let moto = Moto::with_buckets(&["src", "dst"]);
    let dir = tempfile::tempdir().unwrap();
    let zip = dir.path().join("BIG-trades-2024-01-01.zip");
    // Incompressible-ish bytes, written in chunks (the test keeps its own memory low too).
    let mut hasher = sha2::Sha256::new();
    {
        use std::io::Write;
        let mut f = std::io::BufWriter::new(std::fs::File::create(&zip).unwrap());
        let mut x: u64 = 0x9e3779b97f4a7c15;
        let mut chunk = vec![0u8; 1 << 20];
        for _ in 0..200 {
            for b in chunk.chunks_mut(8) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                b.copy_from_slice(&x.to_le_bytes()[..b.len()]);
            }
            hasher.update(&chunk);
            f.write_all(&chunk).unwrap();
        }
    }
    let digest: String = hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    std::fs::write(
        dir.path().join("BIG-trades-2024-01-01.zip.CHECKSUM"),
        format!("{digest}  BIG-trades-2024-01-01.zip\n"),
    )
    .unwrap();
    moto.upload_dir(dir.path(), "src", "big/");
    let run = Sync::new(&moto).mode("staged").run();
    assert_eq!(run.code, 0, "{}", run.stderr);
    let r = run.report();
    assert_eq!(r["integrity"]["checksums_verified"], 1);
    assert_eq!(r["totals"]["validated"], 2);
    let rss = r["resources"]["rss_peak_bytes"].as_u64().unwrap();
    assert!(
        rss > 0 && rss < 64_000_000,
        "lakesync RSS {rss} for a 200 MB object"
    );
}
