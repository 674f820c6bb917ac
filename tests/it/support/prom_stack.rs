//! Debian's Prometheus stack for integration tests: `prometheus-node-exporter` (textfile
//! collector only), `prometheus-pushgateway` and `prometheus`, each on 127.0.0.1 and a free
//! port, killed by PID when dropped (and by the kernel through PR_SET_PDEATHSIG should the
//! test die). Plus a tiny HTTP/1.0 client and Prometheus's query API.
//!
//! [`packages`] runs
//! `scripts/install_prometheus.sh`, which installs the three with apt-get when it can; when
//! it cannot, the test skips with the reason (the "else skipped with a message").

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::child::die_with_parent;

/// Ok when the three packages are installed (installing them if this machine can), else the
/// reason they are not.
pub fn packages() -> Result<(), String> {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scripts/install_prometheus.sh");
    let out = Command::new("bash")
        .arg(&script)
        .stdin(Stdio::null())
        .output()
        .expect("cannot run scripts/install_prometheus.sh");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    match out.status.code() {
        Some(0) => Ok(()),
        Some(3) => Err(stderr.trim().to_string()),
        _ => panic!(
            "scripts/install_prometheus.sh failed ({}):\n{stderr}",
            out.status
        ),
    }
}

/// Skip the calling test (return early) with the reason when the packages are missing.
#[macro_export]
macro_rules! require_prometheus_stack {
    () => {
        if let Err(why) = $crate::support::prom_stack::packages() {
            eprintln!("SKIPPED: Debian's Prometheus packages are not available: {why}");
            return;
        }
    };
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("no free port on 127.0.0.1")
}

/// One daemon of the stack.
pub struct Daemon {
    pub name: &'static str,
    pub port: u16,
    child: Child,
    log: tempfile::NamedTempFile,
}

impl Daemon {
    /// Start `cmd` (which must listen on 127.0.0.1:`port`) and wait until `ready_path`
    /// answers 200.
    fn start(name: &'static str, mut cmd: Command, port: u16, ready_path: &str) -> Self {
        let log = tempfile::NamedTempFile::new().unwrap();
        cmd.stdin(Stdio::null())
            .stdout(log.reopen().unwrap())
            .stderr(log.reopen().unwrap());
        let mut child = die_with_parent(&mut cmd)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                panic!(
                    "{name} exited ({status}) before it was ready:\n{}",
                    std::fs::read_to_string(log.path()).unwrap_or_default()
                );
            }
            if matches!(http(port, "GET", ready_path, None), Ok((200, _))) {
                return Self {
                    name,
                    port,
                    child,
                    log,
                };
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "{name} was not ready on 127.0.0.1:{port} within 30 s:\n{}",
                    std::fs::read_to_string(log.path()).unwrap_or_default()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log.path()).unwrap_or_default()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// node_exporter with only the textfile collector, reading `dir`.
pub fn node_exporter(dir: &Path) -> Daemon {
    let port = free_port();
    let mut cmd = Command::new("prometheus-node-exporter");
    cmd.arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--collector.disable-defaults")
        .arg("--collector.textfile")
        .arg(format!("--collector.textfile.directory={}", dir.display()));
    Daemon::start("node_exporter", cmd, port, "/metrics")
}

/// A Pushgateway keeping its groups in memory.
pub fn pushgateway() -> Daemon {
    let port = free_port();
    let mut cmd = Command::new("prometheus-pushgateway");
    cmd.arg(format!("--web.listen-address=127.0.0.1:{port}"));
    Daemon::start("pushgateway", cmd, port, "/-/ready")
}

/// Prometheus scraping `targets` (job name, daemon) every second; the Pushgateway job keeps
/// the pushed `job` label (honor_labels, as the Pushgateway's docs prescribe).
pub fn prometheus(dir: &Path, targets: &[(&str, &Daemon)]) -> Daemon {
    let port = free_port();
    let mut config =
        String::from("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n");
    for (job, d) in targets {
        config.push_str(&format!(
            "  - job_name: {job}\n    honor_labels: {}\n    static_configs:\n      - targets: ['{}']\n",
            d.name == "pushgateway",
            d.addr()
        ));
    }
    let file = dir.join("prometheus.yml");
    std::fs::write(&file, config).unwrap();
    let data = dir.join("prometheus-data");
    let mut cmd = Command::new("prometheus");
    cmd.arg(format!("--config.file={}", file.display()))
        .arg(format!("--storage.tsdb.path={}", data.display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"));
    Daemon::start("prometheus", cmd, port, "/-/ready")
}

/// One HTTP/1.0 exchange with 127.0.0.1:`port` (1.0: the answer is never chunked and the
/// connection closes after it). Returns the status and the body.
pub fn http(
    port: u16,
    method: &str,
    path: &str,
    body: Option<&str>,
) -> std::io::Result<(u16, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    let body = body.unwrap_or("");
    write!(
        s,
        "{method} {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, rest) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    Ok((status, rest.to_string()))
}

/// Percent-encode a query parameter value.
pub fn encode(v: &str) -> String {
    let mut out = String::new();
    for b in v.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// One series of an instant query's answer.
#[derive(Debug, Clone)]
pub struct Series {
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

/// An instant query through Prometheus's HTTP API (`/api/v1/query`).
pub fn query(prom: &Daemon, expr: &str) -> Result<Vec<Series>, String> {
    let (status, body) = http(
        prom.port,
        "GET",
        &format!("/api/v1/query?query={}", encode(expr)),
        None,
    )
    .map_err(|e| format!("query {expr}: {e}"))?;
    let v: serde_json::Value =
        serde_json::from_str(&body).map_err(|e| format!("query {expr}: {e}: {body}"))?;
    if status != 200 || v["status"] != "success" {
        return Err(format!("query {expr}: HTTP {status}: {body}"));
    }
    let data = &v["data"];
    let one = |labels: &serde_json::Value, value: &serde_json::Value| Series {
        labels: labels
            .as_object()
            .map(|m| {
                m.iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                    .collect()
            })
            .unwrap_or_default(),
        value: value[1]
            .as_str()
            .and_then(|s| s.parse().ok())
            .unwrap_or(f64::NAN),
    };
    Ok(match data["resultType"].as_str() {
        Some("vector") => data["result"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|r| one(&r["metric"], &r["value"]))
            .collect(),
        Some("scalar") => vec![one(&serde_json::Value::Null, &data["result"])],
        other => return Err(format!("query {expr}: unexpected result type {other:?}")),
    })
}

/// Query until the answer is non-empty (scrapes come every second), at most `timeout`.
pub fn wait_for(prom: &Daemon, expr: &str, timeout: Duration) -> Vec<Series> {
    let deadline = Instant::now() + timeout;
    loop {
        match query(prom, expr) {
            Ok(r) if !r.is_empty() => return r,
            Ok(_) => {}
            Err(e) => eprintln!("{e}"),
        }
        if Instant::now() > deadline {
            panic!(
                "Prometheus returned nothing for {expr} within {timeout:?}; its log:\n{}",
                prom.log()
            );
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}
