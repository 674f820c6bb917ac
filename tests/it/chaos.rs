//! The chaos test (issue 15 item 10), with the real s5cmd against moto through the fault
//! proxy: 5% of all requests fail (503 SlowDown, 500, connection resets), one run gets
//! SIGTERM at a random moment, the next kill -9 at another, then runs are repeated until one
//! exits 0. Then the destination equals the source, no multipart upload is left, the
//! history holds every run that could write it (all but the killed one), and no object in
//! place at the destination after a run was copied again by a later one.
//!
//! Seeded: `LAKESYNC_CHAOS_SEED` replays a run (the seed is printed). Bounded: at most 8
//! re-runs, each under a minute, with small batches of tiny objects.

use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{Listed, Seed, Sync, assert_mirrors};
use crate::support::fault_proxy::{FaultConfig, FaultProxy};

/// splitmix64, as the proxy uses: the moments of the signals.
fn next(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

enum Cut {
    None,
    Term(Duration),
    Kill(Duration),
}

/// One run; returns its exit code (None: killed) and its report, when it wrote one.
fn run_once(
    proxy: &FaultProxy,
    work: &std::path::Path,
    history: &std::path::Path,
    report: &std::path::Path,
    cut: Cut,
) -> (Option<i32>, Option<serde_json::Value>) {
    let _ = std::fs::remove_file(report);
    let mut child = Sync::at(&proxy.url)
        .dest("s3://dst/lake")
        .batch_size(10)
        .args(["--grace-seconds", "3"])
        .temp_dir(work)
        .history(history)
        .args(["--no-sampling", "-q"])
        .report(report)
        .spawn(Stdio::null(), Stdio::null());
    let started = Instant::now();
    let (at, signal) = match cut {
        Cut::None => (None, None),
        Cut::Term(d) => (Some(d), Some(nix::sys::signal::Signal::SIGTERM)),
        Cut::Kill(d) => (Some(d), Some(nix::sys::signal::Signal::SIGKILL)),
    };
    let mut sent = false;
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if let (Some(at), Some(sig), false) = (at, signal, sent)
            && started.elapsed() >= at
        {
            nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), sig).unwrap();
            sent = true;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "a chaos run took over a minute"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    let report = std::fs::read_to_string(report)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok());
    (status.code(), report)
}

#[test]
fn chaos_faults_a_sigterm_and_a_kill_then_reruns_converge_exactly() {
    let seed: u64 = std::env::var("LAKESYNC_CHAOS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(15);
    eprintln!("chaos seed {seed} (LAKESYNC_CHAOS_SEED replays it)");
    let mut rng = seed;
    let (moto, _dir) = Seed::archives(60).start(); // 120 objects
    let proxy = FaultProxy::start(
        &moto.url,
        FaultConfig {
            seed,
            slowdown: 0.02,
            internal_error: 0.02,
            reset: 0.01,
            ..FaultConfig::none()
        },
    );
    let work = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let history = out.path().join("history.jsonl");
    let report = out.path().join("report.json");
    let source: BTreeMap<String, Listed> = moto.list("src", "");

    let mut codes = Vec::new();
    let mut snapshots: Vec<BTreeMap<String, Listed>> = Vec::new();
    let moment = |rng: &mut u64| Duration::from_millis(300 + next(rng) % 2500);
    let mut cuts = vec![Cut::Term(moment(&mut rng)), Cut::Kill(moment(&mut rng))];
    cuts.reverse();
    for _ in 0..10 {
        let cut = cuts.pop().unwrap_or(Cut::None);
        let (code, _) = run_once(&proxy, work.path(), &history, &report, cut);
        codes.push(code);
        snapshots.push(moto.list("dst", "lake/"));
        if code == Some(0) && cuts.is_empty() {
            break;
        }
    }
    eprintln!("exit codes: {codes:?}");
    assert_eq!(codes.last(), Some(&Some(0)), "no run succeeded: {codes:?}");

    assert_mirrors(&moto, "src", &moto, "dst", "lake/");
    // Nothing in place after a run (source size and ETag) was copied again later: a copy
    // would give it a new LastModified.
    for (k, pair) in snapshots.windows(2).enumerate() {
        for (key, before) in &pair[0] {
            let Some(s) = source.get(key) else { continue };
            if (before.size, &before.etag) != (s.size, &s.etag) {
                continue;
            }
            let after = &pair[1][key];
            assert_eq!(
                after.last_modified,
                before.last_modified,
                "{key} was in place after run {} and copied again by run {}",
                k + 1,
                k + 2
            );
        }
    }
    // The history holds every run but the one killed with -9.
    let lines = std::fs::read_to_string(&history).unwrap();
    let recorded = lines.lines().filter(|l| !l.trim().is_empty()).count();
    let reported = codes.iter().filter(|c| c.is_some()).count();
    assert_eq!(
        recorded, reported,
        "history lines vs runs: {codes:?}\n{lines}"
    );
    let summary =
        crate::common::lakesync(&["report", history.to_str().unwrap(), "--format", "json"]);
    assert_eq!(summary.code, 0, "{}", summary.stderr);
    // No multipart upload left (tiny objects never start one; the check guards the rule).
    let script = "import boto3, sys\n\
        c = boto3.client('s3', endpoint_url=sys.argv[1], region_name='us-east-1',\n\
            aws_access_key_id='test', aws_secret_access_key='test')\n\
        print(len(c.list_multipart_uploads(Bucket='dst').get('Uploads', [])))\n";
    let out = Command::new(crate::common::tools_dir().join("venv/bin/python"))
        .args(["-c", script, &moto.url])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "0");
    // The killed run's working folder went with the next run.
    assert_eq!(std::fs::read_dir(work.path()).unwrap().count(), 0);
}
