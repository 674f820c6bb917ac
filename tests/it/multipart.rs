//! Incomplete multipart uploads (issue 15 item 1), with the real s5cmd against moto: a staged
//! upload of a 100 MiB object (s5cmd's part size is 50 MiB, so it goes multipart) is cut by
//! SIGTERM or kill -9; lakesync aborts what its s5cmd left, at once or on the next run, and
//! never another writer's uploads. Uploads are checked independently with boto3 (moto's
//! venv); lakesync's own client (`lakesync::s3api`) stands for the other writer and watches
//! for the upload to start. The destination goes through the fault proxy, which holds every
//! PUT (UploadPart) for a few seconds so that the cut lands while the upload is open.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use lakesync::s3api::S3Api;
use lakesync::s5cmd::Globals;

use crate::common::cli::command;
use crate::common::{Moto, tools_dir};
use crate::support::fault_proxy::{Fault, FaultConfig, FaultProxy};

const BIG: &str = "data/big.bin";
const BIG_SIZE: usize = 100 * 1024 * 1024;

/// (key, upload id) of every incomplete upload in `bucket`, listed by boto3.
fn boto3_uploads(moto: &Moto, bucket: &str) -> Vec<(String, String)> {
    let script = "import boto3, json, sys\n\
        c = boto3.client('s3', endpoint_url=sys.argv[1], region_name='us-east-1',\n\
            aws_access_key_id='test', aws_secret_access_key='test')\n\
        r = c.list_multipart_uploads(Bucket=sys.argv[2])\n\
        print(json.dumps(sorted([u['Key'], u['UploadId']] for u in r.get('Uploads', []))))\n";
    let out = Command::new(tools_dir().join("venv/bin/python"))
        .args(["-c", script, &moto.url, bucket])
        .output()
        .expect("cannot run the venv's python");
    assert!(
        out.status.success(),
        "boto3: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn api(moto: &Moto) -> S3Api {
    let env: std::collections::HashMap<&str, &str> = [
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
    ]
    .into();
    S3Api::with_env(
        &Globals {
            endpoint_url: Some(moto.url.clone()),
            ..Default::default()
        },
        &env,
    )
    .unwrap()
}

struct Setup {
    moto: Moto,
    proxy: FaultProxy,
    work: tempfile::TempDir,
    report_dir: tempfile::TempDir,
    /// Uploads another writer opened before lakesync ran: they must survive.
    others: Vec<(String, String)>,
}

fn setup() -> Setup {
    let moto = Moto::with_buckets(&["src", "dst"]);
    let dir = tempfile::tempdir().unwrap();
    let local = dir.path().join("big.bin");
    // Not all zeros, so nothing downstream could shortcut it.
    let body: Vec<u8> = (0..BIG_SIZE).map(|i| (i % 251) as u8).collect();
    std::fs::write(&local, &body).unwrap();
    moto.s5cmd_ok(&[
        "cp",
        &local.display().to_string(),
        &format!("s3://src/{BIG}"),
    ]);
    let client = api(&moto);
    let mut others = vec![
        // Same key, opened before the run; another key of the same folder.
        (
            format!("lake/{BIG}"),
            client
                .create_multipart_upload("dst", &format!("lake/{BIG}"))
                .unwrap(),
        ),
        (
            "lake/data/other.bin".to_string(),
            client
                .create_multipart_upload("dst", "lake/data/other.bin")
                .unwrap(),
        ),
    ];
    others.sort();
    assert_eq!(boto3_uploads(&moto, "dst"), others);
    let proxy = FaultProxy::on_puts(
        &moto.url,
        FaultConfig {
            delay_ms: 4000,
            ..FaultConfig::always(Fault::Delay)
        },
    );
    Setup {
        moto,
        proxy,
        work: tempfile::tempdir().unwrap(),
        report_dir: tempfile::tempdir().unwrap(),
        others,
    }
}

impl Setup {
    fn report_path(&self, name: &str) -> String {
        self.report_dir.path().join(name).display().to_string()
    }

    fn args(&self, report: &str) -> Vec<String> {
        [
            "sync",
            "--source-endpoint",
            &self.moto.url,
            "--dest-endpoint",
            &self.proxy.url,
            "--source",
            "s3://src",
            "--dest",
            "s3://dst/lake",
            "--mode",
            "staged",
            "--grace-seconds",
            "5",
            "--temp-dir",
            &self.work.path().display().to_string(),
            "--report",
            report,
            "--no-sampling",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    }

    fn spawn(&self, report: &str) -> Child {
        command()
            .args(self.args(report))
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    }

    /// Wait until s5cmd has opened its upload of the big object (one more than the other
    /// writer's).
    fn wait_for_our_upload(&self, child: &mut Child) {
        let client = api(&self.moto);
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            let open = client
                .list_multipart_uploads("dst", &format!("lake/{BIG}"))
                .unwrap()
                .uploads
                .len();
            if open >= 2 {
                return;
            }
            if let Some(status) = child.try_wait().unwrap() {
                panic!("lakesync ended ({status}) before its upload started");
            }
            assert!(
                Instant::now() < deadline,
                "the multipart upload never started"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

fn wait_exit(child: &mut Child, within: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + within;
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return s;
        }
        assert!(Instant::now() < deadline, "lakesync did not stop");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn read_report(path: &str) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn sigterm_during_a_multipart_upload_leaves_no_upload_of_ours() {
    let s = setup();
    let report = s.report_path("run.json");
    let mut child = s.spawn(&report);
    s.wait_for_our_upload(&mut child);
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let status = wait_exit(&mut child, Duration::from_secs(60));
    assert_eq!(status.code(), Some(143));
    assert_eq!(
        boto3_uploads(&s.moto, "dst"),
        s.others,
        "lakesync's upload was left open, or another writer's was aborted"
    );
    let r = read_report(&report);
    assert_eq!(r["interrupted"], true);
    assert_eq!(r["operations"]["multipart_uploads_aborted"], 1, "{r}");
}

#[test]
fn kill_9_then_a_rerun_aborts_the_leftover_and_lands_the_object() {
    let s = setup();
    let mut child = s.spawn(&s.report_path("killed.json"));
    s.wait_for_our_upload(&mut child);
    child.kill().unwrap(); // SIGKILL: no cleanup at all; s5cmd dies with it (PDEATHSIG)
    child.wait().unwrap();
    // Let the dying s5cmd's connections close.
    std::thread::sleep(Duration::from_millis(500));
    let open = boto3_uploads(&s.moto, "dst");
    assert_eq!(open.len(), 3, "the killed run left its upload: {open:?}");

    s.proxy.set_config(FaultConfig::none());
    let report = s.report_path("rerun.json");
    let mut rerun = s.spawn(&report);
    let status = wait_exit(&mut rerun, Duration::from_secs(120));
    let r = read_report(&report);
    assert_eq!(status.code(), Some(0), "{r}");
    assert_eq!(r["operations"]["multipart_uploads_aborted"], 1, "{r}");
    assert_eq!(r["totals"]["validated"], 1);
    assert_eq!(boto3_uploads(&s.moto, "dst"), s.others);
    let dest = s.moto.list("dst", "lake/");
    assert_eq!(dest[BIG].size, BIG_SIZE as u64);
    // The dead run's folder is gone.
    assert_eq!(std::fs::read_dir(s.work.path()).unwrap().count(), 0);
}

#[test]
fn the_client_lists_by_prefix_and_aborts_keys_with_any_character() {
    let moto = Moto::with_buckets(&["dst"]);
    let client = api(&moto);
    let keys = [
        "p/a b&c+d=.zip",
        "p/日本/ü.zip",
        "p/it's (1).zip",
        "q/other.zip",
    ];
    let ids: Vec<String> = keys
        .iter()
        .map(|k| client.create_multipart_upload("dst", k).unwrap())
        .collect();
    let listed = client.list_multipart_uploads("dst", "p/").unwrap().uploads;
    let mut got: Vec<&str> = listed.iter().map(|u| u.key.as_str()).collect();
    got.sort_unstable();
    assert_eq!(got, ["p/a b&c+d=.zip", "p/it's (1).zip", "p/日本/ü.zip"]);
    for (k, id) in keys.iter().zip(&ids).take(3) {
        assert!(client.abort_multipart_upload("dst", k, id).unwrap());
    }
    // Already gone: not an error, not counted.
    assert!(
        !client
            .abort_multipart_upload("dst", keys[0], &ids[0])
            .unwrap()
    );
    assert_eq!(
        boto3_uploads(&moto, "dst"),
        vec![("q/other.zip".to_string(), ids[3].clone())]
    );
}
