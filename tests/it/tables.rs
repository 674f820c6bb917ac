//! `lakesync tables` end to end: the real s5cmd against a moto server, zips of every data
//! type (generated, before and after 2025-01-01, and the four real archive files), and
//! DuckDB reading the tables back (scripts/tables/check_tables.py: row counts, sums and
//! min/max times against values computed from the CSVs with Python's csv module).
//!
//! DuckDB lives in its own venv (`scripts/tables/install.sh`, run by `make test`); a
//! missing venv is a hard failure, never a skip.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::common::{Moto, lakesync, repo_root};

fn tables_python() -> PathBuf {
    let p = std::env::var_os("LAKESYNC_TABLES_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join(".tools-tables/venv/bin/python"));
    assert!(
        p.exists(),
        "{} is missing: run scripts/tables/install.sh (make test does it)",
        p.display()
    );
    p
}

fn gen_tables(out: &Path, args: &[&str]) {
    let status = Command::new("python3")
        .arg(repo_root().join("scripts/tables/gen_tables.py"))
        .arg("--out")
        .arg(out)
        .args(args)
        .stdout(Stdio::null())
        .status()
        .expect("cannot run scripts/tables/gen_tables.py");
    assert!(status.success(), "gen_tables.py {args:?} failed");
}

fn copy_tree(from: &Path, to: &Path) {
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dst = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            std::fs::create_dir_all(&dst).unwrap();
            copy_tree(&e.path(), &dst);
        } else {
            std::fs::copy(e.path(), &dst).unwrap();
        }
    }
}

/// The four real archive files, copied beside generated ones.
fn add_real(dir: &Path) {
    let real = repo_root().join("fixtures/real");
    copy_tree(&real, dir);
    // fixtures/real has a README beside data/.
    let _ = std::fs::remove_file(dir.join("README.md"));
}

fn tables_args<'a>(moto: &'a Moto, extra: &[&'a str]) -> Vec<&'a str> {
    let mut v = vec![
        "tables",
        "--endpoint-url",
        moto.url.as_str(),
        "--source",
        "s3://src",
        "--dest",
        "s3://lake/tables",
        "--report",
        "-",
    ];
    v.extend_from_slice(extra);
    v
}

/// A moto server with `dir` uploaded to bucket `src` and an empty bucket `lake`.
fn serve(dir: &Path) -> Moto {
    let moto = Moto::with_buckets(&["src", "lake"]);
    moto.upload_dir(dir, "src", "");
    // Listings give LastModified to the second and a zip modified in the same second as
    // its Parquet file is rebuilt (on purpose, see tables/plan.rs): let the second pass.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    moto
}

fn download(moto: &Moto, bucket_prefix: &str, to: &Path) {
    moto.s5cmd_ok(&[
        "--numworkers",
        "16",
        "cp",
        &format!("s3://{bucket_prefix}*"),
        &format!("{}/", to.display()),
    ]);
}

fn by_source<'a>(report: &'a serde_json::Value, needle: &str) -> &'a serde_json::Value {
    report["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["source"].as_str().unwrap().contains(needle))
        .unwrap_or_else(|| panic!("no file {needle} in the report"))
}

#[test]
fn every_data_type_converts_and_duckdb_reads_what_the_csvs_hold() {
    let dir = tempfile::tempdir().unwrap();
    gen_tables(dir.path(), &[]);
    add_real(dir.path());
    let moto = serve(dir.path());
    let work = tempfile::tempdir().unwrap();
    let history = work.path().join("history.jsonl");
    let metrics = work.path().join("tables.prom");
    let (h, m) = (history.display().to_string(), metrics.display().to_string());
    let run = lakesync(&tables_args(
        &moto,
        &["--history", &h, "--metrics-file", &m, "--batch-size", "8"],
    ));
    assert_eq!(run.code, 0, "{}", run.stderr);
    let r = run.report();
    assert_eq!(r["command"], "tables");
    assert_eq!(r["format_version"], 1);
    let t = &r["totals"];
    // 35 generated zips of converted types and the 4 real ones; EOHSummary is not converted.
    assert_eq!(t["converted"], 39, "{}", run.stdout);
    assert_eq!(
        (t["failed"].as_u64(), t["unsupported"].as_u64()),
        (Some(0), Some(1))
    );
    assert_eq!(t["planned"], t["converted"]);
    assert!(t["rows"].as_u64().unwrap() > 10_000);
    assert!(r["plan"]["reasons"]["missing"] == 39);
    // The unit rule: spot epoch times in ms before 2025-01-01, us from it; futures in ms.
    let before = by_source(&r, "spot/daily/klines/BTCUSDT/1m/BTCUSDT-1m-2024-12-31.zip");
    let after = by_source(&r, "spot/daily/klines/BTCUSDT/1m/BTCUSDT-1m-2025-01-01.zip");
    let real = by_source(&r, "BTCUSDT-1h-2026-05-08.zip");
    assert_eq!(before["source_time_unit"], "ms");
    assert_eq!(after["source_time_unit"], "us");
    assert_eq!(real["source_time_unit"], "us");
    assert_eq!(real["min_time"], "2026-05-08T00:00:00Z");
    assert_eq!(real["max_time"], "2026-05-08T23:00:00Z");
    assert_eq!(real["rows"], 24);
    assert_eq!(after["min_time"], "2025-01-01T00:00:00Z");
    assert_eq!(after["max_time"], "2025-01-01T23:59:00Z");
    let old = by_source(&r, "BTCUSDT-1h-2021-01-01.zip");
    assert_eq!(
        (old["header"].as_bool(), old["rows"].as_u64()),
        (Some(false), Some(24))
    );
    let fut = by_source(
        &r,
        "futures/um/daily/klines/BTCUSDT/1h/BTCUSDT-1h-2025-01-01.zip",
    );
    assert_eq!(
        (fut["header"].as_bool(), fut["source_time_unit"].as_str()),
        (Some(true), Some("ms"))
    );
    assert_eq!(
        fut["table_file"],
        "s3://lake/tables/futures/um/daily/klines/1h/symbol=BTCUSDT/date=2025-01-01/BTCUSDT-1h-2025-01-01.parquet"
    );

    // Only Parquet files at the destination: no temp files, no leftovers.
    let dest = moto.list("lake", "tables/");
    assert_eq!(dest.len(), 39);
    assert!(dest.keys().all(|k| k.ends_with(".parquet")), "{dest:?}");

    let tables = tempfile::tempdir().unwrap();
    download(&moto, "lake/tables/", tables.path());
    let out = Command::new(tables_python())
        .arg(repo_root().join("scripts/tables/check_tables.py"))
        .arg("--zips")
        .arg(dir.path())
        .arg("--tables")
        .arg(tables.path())
        .args(["--prune", "spot/daily/klines/1m", "BTCUSDT", "2025-01-01"])
        .output()
        .expect("cannot run check_tables.py");
    let summary = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "DuckDB disagrees with the CSVs:\n{summary}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let s: serde_json::Value = serde_json::from_str(&summary).unwrap();
    assert_eq!(s["files"], 39);
    assert_eq!(s["prune"]["files_read"], 1);
    assert_eq!(s["prune"]["files_in_table"], 2);

    // History and metrics like sync's.
    let line = std::fs::read_to_string(&history).unwrap();
    let entry: serde_json::Value = serde_json::from_str(line.trim()).unwrap();
    assert_eq!(
        (entry["mode"].as_str(), entry["copied"].as_u64()),
        (Some("tables"), Some(39))
    );
    let prom = std::fs::read_to_string(&metrics).unwrap();
    assert!(
        prom.contains(&format!(
            "lakesync_last_run_rows{{mode=\"tables\"}} {}",
            t["rows"]
        )),
        "{prom}"
    );
}

#[test]
fn a_reuploaded_zip_rebuilds_its_partition_and_only_that_one() {
    let dir = tempfile::tempdir().unwrap();
    gen_tables(dir.path(), &[]);
    let moto = serve(dir.path());
    let sel = [
        "--market",
        "spot",
        "--data-type",
        "klines,trades",
        "--period",
        "daily",
    ];
    let first = lakesync(&tables_args(&moto, &sel));
    assert_eq!(first.code, 0, "{}", first.stderr);
    assert_eq!(first.report()["totals"]["converted"], 4);
    let before = moto.list("lake", "tables/");
    std::thread::sleep(std::time::Duration::from_millis(1100));

    // Nothing changed: nothing is built, at listing cost only.
    let second = lakesync(&tables_args(&moto, &sel));
    assert_eq!(second.code, 0, "{}", second.stderr);
    let r = second.report();
    assert_eq!(
        (
            r["totals"]["planned"].as_u64(),
            r["totals"]["skipped"].as_u64()
        ),
        (Some(0), Some(4))
    );
    assert_eq!(moto.list("lake", "tables/"), before);

    // Binance re-publishes one day with other content (fewer rows here).
    let key = "data/spot/daily/trades/ETHUSDT/ETHUSDT-trades-2025-01-01.zip";
    let csv: String = (0..10)
        .map(|i| {
            format!(
                "{},3400.5,0.1,340.05,{},True,True\n",
                1 + i,
                1_735_689_600_000_000i64 + i
            )
        })
        .collect();
    let zip = zip_of("ETHUSDT-trades-2025-01-01.csv", csv.as_bytes());
    moto.put("src", key, &zip);
    moto.put(
        "src",
        &format!("{key}.CHECKSUM"),
        checksum_of(&zip, "ETHUSDT-trades-2025-01-01.zip").as_bytes(),
    );

    let third = lakesync(&tables_args(&moto, &sel));
    assert_eq!(third.code, 0, "{}", third.stderr);
    let r = third.report();
    assert_eq!(r["totals"]["planned"], 1, "{}", third.stdout);
    assert_eq!(r["plan"]["reasons"]["source_newer"], 1);
    assert_eq!(r["files"][0]["rows"], 10);
    let after = moto.list("lake", "tables/");
    let rebuilt =
        "spot/daily/trades/symbol=ETHUSDT/date=2025-01-01/ETHUSDT-trades-2025-01-01.parquet";
    for (k, v) in &before {
        if k == rebuilt {
            assert_ne!(after[k].etag, v.etag, "the re-uploaded day was rebuilt");
        } else {
            assert_eq!(&after[k], v, "{k} must not be touched");
        }
    }

    // --rebuild builds every selected partition again.
    let all = lakesync(&tables_args(&moto, &[&sel[..], &["--rebuild"]].concat()));
    assert_eq!(
        all.report()["plan"]["reasons"]["rebuild"],
        4,
        "{}",
        all.stdout
    );
}

fn zip_of(name: &str, body: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut buf = std::io::Cursor::new(Vec::new());
    {
        let mut w = zip::ZipWriter::new(&mut buf);
        w.start_file(name, zip::write::SimpleFileOptions::default())
            .unwrap();
        w.write_all(body).unwrap();
        w.finish().unwrap();
    }
    buf.into_inner()
}

fn checksum_of(data: &[u8], name: &str) -> String {
    use sha2::Digest;
    let d = sha2::Sha256::digest(data);
    let hex: String = d.iter().map(|b| format!("{b:02x}")).collect();
    format!("{hex}  {name}\n")
}

#[test]
fn bad_inputs_fail_alone_naming_the_key_and_line() {
    let dir = tempfile::tempdir().unwrap();
    gen_tables(dir.path(), &["--only-bad"]);
    add_real(dir.path());
    let moto = serve(dir.path());
    let run = lakesync(&tables_args(&moto, &[]));
    assert_eq!(run.code, 1, "{}", run.stderr);
    let r = run.report();
    assert_eq!(r["totals"]["converted"], 4, "the good files still convert");
    assert_eq!(r["totals"]["failed"], 6, "{}", run.stdout);
    let failure = |sym: &str| {
        r["failures"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["source"].as_str().unwrap().contains(&format!("/{sym}/")))
            .unwrap_or_else(|| panic!("no failure for {sym}: {}", run.stdout))
            .clone()
    };
    let key = |sym: &str| {
        format!("s3://src/data/futures/um/daily/klines/{sym}/1h/{sym}-1h-2025-01-02.zip")
    };
    for (sym, stage, text, line) in [
        ("BADNOCSV", "convert", "no .csv", None),
        ("BADCOLS", "convert", "wrong number of columns", Some(5)),
        ("BADVALUE", "convert", "\"4x2.5\"", Some(7)),
        ("BADZIP", "convert", "zip", None),
        ("BADSUM", "verify", "integrity", None),
        ("NOSUM", "verify", "no .CHECKSUM", None),
    ] {
        let f = failure(sym);
        assert_eq!(f["stage"], stage, "{sym}: {f}");
        let error = f["error"].as_str().unwrap();
        assert!(
            error.contains(&key(sym)),
            "{sym}: the error names the key: {error}"
        );
        assert!(error.contains(text), "{sym}: {error}");
        assert_eq!(f["line"].as_u64(), line, "{sym}: {f}");
        if let Some(l) = line {
            assert!(error.contains(&format!("line {l}")), "{sym}: {error}");
        }
        assert!(!f["hint"].as_str().unwrap().is_empty(), "{sym}");
    }
    // Nothing of the failed files at the destination, nothing half-written.
    let dest = moto.list("lake", "tables/");
    assert_eq!(dest.len(), 4, "{dest:?}");
    assert!(
        dest.keys()
            .all(|k| k.ends_with(".parquet") && !k.contains("BAD") && !k.contains("NOSUM"))
    );
    assert!(run.stderr.contains("failed (convert)"), "{}", run.stderr);
}

#[test]
fn usage_environment_and_dry_run() {
    let r = lakesync(&["tables", "--source", "s3://src"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("--dest") && r.stderr.contains("hint:"),
        "{}",
        r.stderr
    );
    let r = lakesync(&[
        "tables",
        "--source",
        "s3://m/b",
        "--dest",
        "s3://m/b/data/t",
    ]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    let r = lakesync(&[
        "tables",
        "--endpoint-url",
        "http://127.0.0.1:1",
        "--source",
        "s3://src",
        "--dest",
        "s3://lake/t",
    ]);
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(
        r.stderr.contains("cannot reach the endpoint"),
        "{}",
        r.stderr
    );

    let dir = tempfile::tempdir().unwrap();
    add_real(dir.path());
    let moto = serve(dir.path());
    let run = lakesync(&tables_args(&moto, &["--dry-run"]));
    assert_eq!(run.code, 0, "{}", run.stderr);
    let r = run.report();
    assert_eq!(
        (r["dry_run"].as_bool(), r["totals"]["planned"].as_u64()),
        (Some(true), Some(4))
    );
    assert_eq!(r["totals"]["converted"], 0);
    assert!(moto.list("lake", "").is_empty());
}

#[test]
fn convert_local_zips_without_s3() {
    let out = tempfile::tempdir().unwrap();
    let zip = repo_root().join(
        "fixtures/real/data/futures/um/monthly/fundingRate/BTCUSDT/BTCUSDT-fundingRate-2026-04.zip",
    );
    let r = lakesync(&[
        "tables",
        "convert",
        "--out",
        &out.path().display().to_string(),
        &zip.display().to_string(),
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v: serde_json::Value = serde_json::from_str(r.stdout.trim()).unwrap();
    assert_eq!(v["checksum"], "verified");
    assert_eq!(v["source_time_unit"], "ms");
    assert!(v["rows"].as_u64().unwrap() >= 90);
    assert!(
        out.path()
            .join("BTCUSDT-fundingRate-2026-04.parquet")
            .exists()
    );
}
