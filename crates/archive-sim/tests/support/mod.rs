//! Test support: start archive-sim on a free port (killed when dropped, and by the kernel if
//! the test process dies: [`child`], which lakesync's `tests/it` shares), run the real
//! s5cmd against it, read /_sim/stats.
//!
//! The s5cmd binary is `$LAKESYNC_TOOLS/bin/s5cmd` (LAKESYNC_TOOLS defaults to
//! `<repo>/.tools`, which `make test` fills); a missing one fails the test, never skips it.

#![allow(dead_code)]

mod child;

pub use child::{Sim, success_stdout};

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

pub fn s5cmd_bin() -> PathBuf {
    let tools = std::env::var_os("LAKESYNC_TOOLS")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join(".tools"));
    let p = tools.join("bin/s5cmd");
    assert!(
        p.exists(),
        "{} is missing: run scripts/install.sh (make test does it)",
        p.display()
    );
    p
}

impl Sim {
    pub fn start(args: &[&str]) -> Sim {
        Sim::spawn(
            Path::new(env!("CARGO_BIN_EXE_archive-sim")),
            args,
            Stdio::inherit(),
        )
    }

    /// s5cmd against this server with test credentials and no region in the environment (so
    /// s5cmd detects each bucket's region with HeadBucket), plus `env`.
    pub fn s5cmd_env(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        Command::new(s5cmd_bin())
            .args(["--endpoint-url", &self.url])
            .args(args)
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env_remove("AWS_REGION")
            .env_remove("AWS_DEFAULT_REGION")
            .env_remove("AWS_PROFILE")
            .env("AWS_CONFIG_FILE", "/dev/null")
            .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .output()
            .expect("cannot run s5cmd")
    }

    pub fn s5cmd(&self, args: &[&str]) -> Output {
        self.s5cmd_env(args, &[])
    }

    pub fn s5cmd_ok(&self, args: &[&str]) -> String {
        success_stdout(args, &self.s5cmd(args))
    }

    /// `s5cmd --json ls URL`: (key or prefix, size, etag, is_dir) per line.
    pub fn ls(&self, url: &str, extra: &[&str]) -> Vec<Listed> {
        let mut args = vec!["--json"];
        args.extend_from_slice(extra);
        args.extend_from_slice(&["ls", url]);
        self.s5cmd_ok(&args)
            .lines()
            .map(|l| {
                let v: serde_json::Value =
                    serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"));
                Listed {
                    key: v["key"].as_str().unwrap_or_default().to_string(),
                    size: v["size"].as_u64().unwrap_or(0),
                    etag: v["etag"].as_str().unwrap_or_default().to_string(),
                    dir: v["type"] == "directory",
                    last_modified: v["last_modified"].as_str().unwrap_or_default().to_string(),
                }
            })
            .collect()
    }

    pub fn stats(&self) -> serde_json::Value {
        http_json(&self.url, "GET", "/_sim/stats")
    }

    pub fn reset(&self) {
        http_json(&self.url, "POST", "/_sim/reset");
    }
}

#[derive(Debug, Clone)]
pub struct Listed {
    pub key: String,
    pub size: u64,
    pub etag: String,
    pub dir: bool,
    pub last_modified: String,
}

/// A tiny HTTP/1.0 client for the simulator's own endpoints.
pub fn http_json(url: &str, method: &str, path: &str) -> serde_json::Value {
    use std::io::{Read, Write};
    let addr = url.trim_start_matches("http://");
    let mut s = std::net::TcpStream::connect(addr).expect("connect to archive-sim");
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.0\r\nHost: {addr}\r\nContent-Length: 0\r\n\r\n"
    )
    .unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).unwrap();
    let body = resp.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {resp}"))
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}
