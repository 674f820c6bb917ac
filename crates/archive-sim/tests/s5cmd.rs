//! archive-sim against the real s5cmd: the listings, copies, downloads and refusals lakesync
//! meets on the real archive.

mod support;

use std::process::Command;

use sha2::{Digest, Sha256};
use support::{Sim, stderr};

const SRC: &str = "s3://data.binance.vision";
const AS_OF: &str = "2026-11-30";

#[test]
fn delimiter_listing_pages_over_more_than_1000_symbol_prefixes() {
    let sim = Sim::start(&["--as-of", AS_OF]);
    let dirs = sim.ls(
        &format!("{SRC}/data/spot/daily/klines/"),
        &["--no-sign-request"],
    );
    assert!(
        dirs.iter().all(|d| d.dir),
        "only folders under the klines root"
    );
    let names: Vec<&str> = dirs.iter().map(|d| d.key.as_str()).collect();
    // Every spot symbol listed by the day before --as-of has a daily klines folder.
    let model = archive_sim::model::Model::embedded(archive_sim::model::ModelOptions {
        grow_until: archive_sim::time::parse_day(AS_OF),
    })
    .unwrap();
    let last_day = archive_sim::time::parse_day(AS_OF).unwrap() - 1;
    let expected = model
        .symbols
        .iter()
        .filter(|s| s.market == archive_sim::model::catalog::Market::Spot && s.first <= last_day)
        .count();
    assert!(expected > 3_000, "{expected}");
    assert_eq!(names.len(), expected);
    let mut sorted = names.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted, names, "sorted, no duplicates across pages");
    for want in ["1000CATUSDC/", "BTCUSDT/", "ETHUSDT/", "ADABKRW/"] {
        let full = format!("{SRC}/data/spot/daily/klines/{want}");
        assert!(
            names.contains(&full.as_str()),
            "{full} missing from {:?}",
            &names[..3]
        );
    }
    // One ListObjectsV2 page holds 1,000 entries: the folders took several pages.
    let st = sim.stats();
    assert_eq!(
        st["requests"]["list"].as_u64().unwrap(),
        expected.div_ceil(1000) as u64
    );
    assert_eq!(st["prefixes_listed"].as_u64().unwrap(), expected as u64);
    assert_eq!(st["keys_listed"], 0);
}

#[test]
fn wildcard_listing_of_a_symbols_whole_history() {
    let sim = Sim::start(&["--as-of", AS_OF, "--hole-fraction", "0"]);
    let keys = sim.ls(&format!("{SRC}/data/spot/daily/klines/BTCUSDT/1m/*"), &[]);
    assert!(keys.len() > 6_000, "{}", keys.len());
    let first = archive_sim::time::parse_day("2017-08-17").unwrap();
    for (i, k) in keys.iter().enumerate() {
        let day = archive_sim::time::fmt_day(first + (i / 2) as i32);
        let want = format!(
            "{SRC}/data/spot/daily/klines/BTCUSDT/1m/BTCUSDT-1m-{day}.zip{}",
            if i % 2 == 1 { ".CHECKSUM" } else { "" }
        );
        assert_eq!(k.key, want, "key {i}");
        assert!(!k.dir);
        if i % 2 == 1 {
            assert_eq!(k.size, 91, "{}", k.key);
            // "a CHECKSUM can be written ~1 s before its zip"
            assert!(k.last_modified < keys[i - 1].last_modified);
        } else {
            assert!((20_000..100_000).contains(&k.size), "{} {}", k.key, k.size);
            assert_eq!(k.etag.len(), 32);
        }
    }
    // The last day is the day before --as-of, or a few days earlier when it is late.
    let last = &keys[keys.len() - 1].key;
    assert!(last.contains("2026-11-2"), "{last}");
    let st = sim.stats();
    assert_eq!(st["keys_listed"].as_u64().unwrap(), keys.len() as u64);
    assert_eq!(
        st["requests"]["list"].as_u64().unwrap(),
        (keys.len() as u64).div_ceil(1000)
    );
}

#[test]
fn server_side_copy_lands_in_the_destination_with_the_source_etag() {
    let big = "data/spot/monthly/trades/BTCUSDT/BTCUSDT-trades-2024-03.zip";
    let sim = Sim::start(&[
        "--as-of",
        AS_OF,
        "--dest-bucket",
        "lake",
        "--size-override",
        &format!("{big}=6000000000"),
    ]);
    let key = "data/spot/daily/klines/ETHUSDT/1h/ETHUSDT-1h-2026-11-01.zip";
    let src = sim.ls(&format!("{SRC}/{key}"), &[]);
    sim.s5cmd_ok(&[
        "cp",
        "--metadata-directive",
        "COPY",
        &format!("{SRC}/{key}"),
        &format!("s3://lake/mirror/{key}"),
    ]);
    let dst = sim.ls(&format!("s3://lake/mirror/{key}"), &[]);
    assert_eq!(dst.len(), 1);
    assert_eq!((dst[0].size, &dst[0].etag), (src[0].size, &src[0].etag));
    assert_eq!(sim.stats()["requests"]["copy"], 1);
    // Over 5 GiB, CopyObject is refused as S3 refuses it.
    let huge = sim.ls(&format!("{SRC}/{big}"), &[]);
    assert_eq!(huge[0].size, 6_000_000_000);
    let out = sim.s5cmd(&["cp", &format!("{SRC}/{big}"), &format!("s3://lake/{big}")]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("InvalidRequest") && err.contains("5368709120"),
        "{err}"
    );
    // The source is read-only, as the real bucket is to everyone else.
    let out = sim.s5cmd(&[
        "cp",
        &format!("s3://lake/mirror/{key}"),
        &format!("{SRC}/x.zip"),
    ]);
    assert!(stderr(&out).contains("AccessDenied"), "{}", stderr(&out));
}

fn sha256_hex(b: &[u8]) -> String {
    Sha256::digest(b)
        .iter()
        .map(|x| format!("{x:02x}"))
        .collect()
}

#[test]
fn downloads_match_their_checksum_and_are_real_zips() {
    let sim = Sim::start(&["--as-of", AS_OF]);
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display().to_string();
    // A small kline zip, and a trades zip of ~20 MB downloaded in 5 MB ranged parts.
    for (key, extra) in [
        (
            "data/spot/daily/klines/BTCUSDT/1m/BTCUSDT-1m-2026-11-01.zip",
            vec![],
        ),
        (
            "data/futures/um/daily/aggTrades/BTCUSDT/BTCUSDT-aggTrades-2026-11-01.zip",
            vec!["--part-size", "5", "--concurrency", "4"],
        ),
    ] {
        let name = key.rsplit('/').next().unwrap();
        let mut args = vec!["cp"];
        args.extend(extra.iter().copied());
        let src = format!("{SRC}/{key}");
        let dst = format!("{d}/{name}");
        args.extend([src.as_str(), dst.as_str()]);
        sim.s5cmd_ok(&args);
        sim.s5cmd_ok(&["cp", &format!("{src}.CHECKSUM"), &format!("{dst}.CHECKSUM")]);
        let zip = std::fs::read(&dst).unwrap();
        let checksum = std::fs::read_to_string(format!("{dst}.CHECKSUM")).unwrap();
        assert_eq!(
            checksum,
            format!("{}  {name}", sha256_hex(&zip)),
            "sha256sum format, no newline"
        );
        let listed = sim.ls(&src, &[]);
        assert_eq!(listed[0].size, zip.len() as u64);
        // A real zip holding one CSV in the data type's columns.
        let py = "import sys, zipfile\nz = zipfile.ZipFile(sys.argv[1])\nassert z.testzip() is None\n\
                  [n] = z.namelist()\nlines = z.read(n).decode().splitlines()\nprint(n, len(lines), lines[0], lines[1], sep='|')";
        let out = Command::new("python3")
            .args(["-c", py, &dst])
            .output()
            .expect("python3");
        assert!(out.status.success(), "{}", stderr(&out));
        let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
        let parts: Vec<&str> = text.split('|').collect();
        assert_eq!(parts[0], name.replace(".zip", ".csv"));
        if key.contains("klines") {
            // Spot klines: no header, 12 columns, microsecond times since 2025.
            let cols: Vec<&str> = parts[2].split(',').collect();
            assert_eq!(cols.len(), 12, "{text}");
            assert_eq!(cols[0].len(), 16, "{text}");
        } else {
            assert_eq!(
                parts[2],
                "agg_trade_id,price,quantity,first_trade_id,last_trade_id,transact_time,is_buyer_maker"
            );
            assert_eq!(parts[3].split(',').count(), 7);
            assert!(zip.len() > 10_000_000, "{}", zip.len());
        }
    }
    let st = sim.stats();
    assert!(
        st["requests"]["get"].as_u64().unwrap() >= 5,
        "ranged parts: {st}"
    );
}

#[test]
fn a_request_signed_for_another_region_fails_as_s3_does() {
    let url = format!("{SRC}/data/spot/monthly/klines/BTCUSDT/1d/*");
    for (mode, expect) in [
        ("malformed", "AuthorizationHeaderMalformed"),
        ("redirect", "301"),
    ] {
        let sim = Sim::start(&["--as-of", AS_OF, "--wrong-region", mode]);
        // No region in the environment: s5cmd asks HeadBucket, gets ap-northeast-1, works.
        assert!(!sim.ls(&url, &[]).is_empty());
        // AWS_REGION switches auto-detection off: the request is signed for us-east-1.
        let out = sim.s5cmd_env(&["ls", &url], &[("AWS_REGION", "us-east-1")]);
        assert!(
            !out.status.success(),
            "{mode}: a wrongly signed listing succeeded"
        );
        let err = stderr(&out);
        assert!(err.contains(expect), "{mode}: {err}");
        assert!(
            err.contains("ap-northeast-1"),
            "{mode}: the error names the bucket's region: {err}"
        );
        // A destination in us-east-1 is fine with that region.
        let st = sim.stats();
        assert!(
            st["errors"][if mode == "malformed" {
                "AuthorizationHeaderMalformed"
            } else {
                "PermanentRedirect"
            }]
            .as_u64()
            .unwrap()
                >= 1
        );
    }
}

#[test]
fn slow_down_above_the_request_rate() {
    let sim = Sim::start(&[
        "--as-of",
        AS_OF,
        "--read-rate",
        "5",
        "--write-rate",
        "5",
        "--dest-bucket",
        "lake",
    ]);
    let dir = tempfile::tempdir().unwrap();
    let src = format!("{SRC}/data/spot/daily/klines/BTCUSDT/1d/BTCUSDT-1d-2024-0*");
    // No retries: the first SlowDown is what s5cmd reports.
    let cp_once =
        |dest: &str| sim.s5cmd(&["--retry-count", "0", "--numworkers", "32", "cp", &src, dest]);
    let out = cp_once(&format!("{}/", dir.path().display()));
    assert!(!out.status.success());
    assert!(stderr(&out).contains("SlowDown"), "{}", stderr(&out));
    let st = sim.stats();
    assert!(st["throttled"].as_u64().unwrap() > 100, "{st}");
    assert_eq!(st["errors"]["SlowDown"], st["throttled"]);
    // Writes have their own budget: 5 copies a second per partition. (Wait for the listing's
    // read token to come back first.)
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let out = cp_once("s3://lake/x/");
    assert!(stderr(&out).contains("SlowDown"), "{}", stderr(&out));
    let by_prefix = sim.stats()["by_prefix"].to_string();
    assert!(by_prefix.contains("lake/x/"), "{by_prefix}");
}

#[test]
fn destination_mirror_uploads_multipart_and_deletes() {
    let sim = Sim::start(&[
        "--as-of",
        AS_OF,
        "--dest-bucket",
        "lake=mirrored-through:2026-11-27,prefix:binance",
    ]);
    let folder = "data/spot/daily/klines/BTCUSDT/1h";
    let src = sim.ls(&format!("{SRC}/{folder}/*"), &[]);
    let mirror = sim.ls(&format!("s3://lake/binance/{folder}/*"), &[]);
    // Mirrored through the 27th: the source has two or three days more.
    assert!(
        mirror.len() < src.len() && mirror.len() + 6 >= src.len(),
        "{} vs {}",
        mirror.len(),
        src.len()
    );
    assert!(
        mirror
            .last()
            .unwrap()
            .key
            .ends_with("2026-11-27.zip.CHECKSUM")
    );
    for (m, s) in mirror.iter().zip(&src) {
        assert_eq!(
            (m.size, &m.etag, &m.last_modified),
            (s.size, &s.etag, &s.last_modified)
        );
    }
    // Copy the missing days: the listing merges them in order.
    sim.s5cmd_ok(&[
        "cp",
        &format!("{SRC}/{folder}/BTCUSDT-1h-2026-11-2*"),
        &format!("s3://lake/binance/{folder}/"),
    ]);
    let merged = sim.ls(&format!("s3://lake/binance/{folder}/*"), &[]);
    assert_eq!(merged.len(), src.len());
    assert!(
        merged
            .iter()
            .zip(&src)
            .all(|(m, s)| m.key.rsplit('/').next() == s.key.rsplit('/').next() && m.etag == s.etag)
    );
    // An upload of a source object's exact bytes gets the source's ETag (the simulator's
    // ETags stand for the bytes); other bytes get their MD5.
    let dir = tempfile::tempdir().unwrap();
    let zip = format!("{}/a.zip", dir.path().display());
    let key = format!("{folder}/BTCUSDT-1h-2026-11-29.zip");
    sim.s5cmd_ok(&["cp", &format!("{SRC}/{key}"), &zip]);
    sim.s5cmd_ok(&["cp", &zip, &format!("s3://lake/staged/{key}")]);
    let up = sim.ls(&format!("s3://lake/staged/{key}"), &[]);
    assert_eq!(
        up[0].etag,
        src.iter()
            .find(|s| s.key.ends_with("2026-11-29.zip"))
            .unwrap()
            .etag
    );
    let big = format!("{}/big.bin", dir.path().display());
    std::fs::write(&big, vec![7u8; 12 << 20]).unwrap();
    sim.s5cmd_ok(&["cp", "--part-size", "5", &big, "s3://lake/other/big.bin"]);
    let got = format!("{}/big.back", dir.path().display());
    sim.s5cmd_ok(&["cp", "s3://lake/other/big.bin", &got]);
    assert_eq!(std::fs::read(&got).unwrap(), std::fs::read(&big).unwrap());
    let st = sim.stats();
    assert_eq!(st["requests"]["mpu_create"], 1);
    assert_eq!(st["requests"]["mpu_part"], 3);
    assert_eq!(st["requests"]["mpu_complete"], 1);
    assert!(sim.ls("s3://lake/other/*", &[])[0].etag.ends_with("-3"));
    // Deleting modelled keys hides them (tombstones); the rest stays.
    sim.s5cmd_ok(&[
        "rm",
        &format!("s3://lake/binance/{folder}/BTCUSDT-1h-2026-11-0*"),
    ]);
    let after = sim.ls(&format!("s3://lake/binance/{folder}/*"), &[]);
    assert_eq!(after.len(), merged.len() - 18);
    assert!(!after.iter().any(|k| k.key.contains("2026-11-0")));
    assert!(
        sim.s5cmd(&[
            "ls",
            &format!("s3://lake/binance/{folder}/BTCUSDT-1h-2026-11-05.zip")
        ])
        .status
        .code()
            != Some(0)
    );
}

#[test]
fn sigterm_stops_it() {
    let sim = Sim::start(&["--as-of", AS_OF]);
    assert!(sim.stats()["requests"].is_object());
    let t0 = std::time::Instant::now();
    // SAFETY: kill(2) on the child we started.
    unsafe {
        libc::kill(sim.pid() as i32, libc::SIGTERM);
    }
    let mut sim = sim;
    loop {
        let mut status = 0;
        // SAFETY: waitpid on our own child, non-blocking.
        let r = unsafe { libc::waitpid(sim.pid() as i32, &mut status, libc::WNOHANG) };
        if r == sim.pid() as i32 {
            assert!(
                libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
                "status {status}"
            );
            break;
        }
        assert!(
            t0.elapsed().as_secs() < 10,
            "still running 10 s after SIGTERM"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    sim.url.clear();
}

#[test]
fn copy_object_can_answer_200_with_an_error_body() {
    let with_copy_errors = |fraction: &str| {
        Sim::start(&[
            "--as-of",
            AS_OF,
            "--dest-bucket",
            "lake",
            "--copy-error-fraction",
            fraction,
        ])
    };
    let sim = with_copy_errors("0.5");
    let src = format!("{SRC}/data/spot/daily/klines/BTCUSDT/1d/BTCUSDT-1d-2024-01-*");
    // No retries: aws-sdk-go reads the error out of the 200 body and the copy fails.
    let out = sim.s5cmd(&["--retry-count", "0", "cp", &src, "s3://lake/once/"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("InternalError"), "{}", stderr(&out));
    let st = sim.stats();
    let bodies = st["copy_error_bodies"].as_u64().unwrap();
    assert!(bodies > 5, "{st}");
    assert_eq!(sim.ls("s3://lake/once/*", &[]).len() as u64, 62 - bodies);
    // InternalError is retried: with s5cmd's retries every copy lands. A fifth of the copies
    // fail here, not half: s5cmd's backoff doubles per retry, and at 0.5 one object in 62
    // failing ten times in a row (a 6% chance) kept the test waiting for minutes.
    let sim = with_copy_errors("0.2");
    sim.s5cmd_ok(&["--retry-count", "20", "cp", &src, "s3://lake/retried/"]);
    assert_eq!(sim.ls("s3://lake/retried/*", &[]).len(), 62);
    assert!(sim.stats()["copy_error_bodies"].as_u64().unwrap() > 0);
}
