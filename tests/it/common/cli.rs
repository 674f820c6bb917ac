//! Running the lakesync binary: [`lakesync`] for any command line, and [`Sync`], a builder
//! for the `sync` (and `plan`, `verify`) command line against a test server, so a test
//! states only what differs from the usual run.

use std::path::Path;
use std::process::{Child, Command, Stdio};

use super::{Moto, fake_s5cmd_bin, lakesync_bin, s5cmd_bin, test_env};
use crate::support::fault_proxy::{FaultProxy, FaultStats};

/// The result of one lakesync invocation.
pub struct Run {
    /// The command line, without the program.
    pub args: Vec<String>,
    /// The environment the test added (beyond [`command`]'s).
    pub env: Vec<(String, String)>,
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// The run was refused as a usage error (exit 2) whose message names `needle`.
    pub fn assert_refused(&self, needle: &str) {
        assert_eq!(self.code, 2, "{}", self.stderr);
        assert!(
            self.stderr.contains(needle),
            "no {needle:?} in the message:\n{}",
            self.stderr
        );
    }

    /// The run exited `code`; else fail showing its command line and stderr. Returns the run,
    /// for `run.exited(0).report()`.
    pub fn exited(&self, code: i32) -> &Self {
        assert_eq!(
            self.code,
            code,
            "lakesync {}\nstderr:\n{}",
            self.args.join(" "),
            self.stderr
        );
        self
    }

    /// The run, through `proxy`, exited 0; else fail showing its stderr and the proxy's
    /// counters. Its report, and the counters.
    pub fn report_through(&self, proxy: &FaultProxy) -> (serde_json::Value, FaultStats) {
        let stats = proxy.stats();
        assert_eq!(self.code, 0, "{}\n{stats:?}", self.stderr);
        (self.report(), stats)
    }

    /// The run's stderr says `needle`; else fail showing the stderr.
    pub fn assert_stderr_contains(&self, needle: &str) {
        assert!(
            self.stderr.contains(needle),
            "no {needle:?} in stderr:\n{}",
            self.stderr
        );
    }

    pub fn report(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not a JSON report ({e}):\n{}\nstderr:\n{}",
                self.stdout, self.stderr
            )
        })
    }
}

/// One count of every batch of a report, in batch order: `batch_counts(&r, "workers")`.
pub fn batch_counts(report: &serde_json::Value, field: &str) -> Vec<u64> {
    batches(report)
        .iter()
        .map(|b| {
            b[field]
                .as_u64()
                .unwrap_or_else(|| panic!("batch without {field}: {b}"))
        })
        .collect()
}

/// The report's totals are `expected`, one `(name, value)` each; a mismatch names the total
/// and shows them all.
pub fn assert_totals(report: &serde_json::Value, expected: &[(&str, u64)]) {
    let totals = &report["totals"];
    for &(name, value) in expected {
        assert_eq!(totals[name], value, "totals.{name}: {totals}");
    }
}

/// The report's SLA check `name`.
pub fn sla_check<'a>(report: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    report["sla"]
        .as_array()
        .unwrap_or_else(|| panic!("report without sla: {report}"))
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no check {name}: {}", report["sla"]))
}

/// The governor's decision after every batch of a report (`""` where it made none).
pub fn batch_governor(report: &serde_json::Value) -> Vec<&str> {
    batches(report)
        .iter()
        .map(|b| b["governor"].as_str().unwrap_or(""))
        .collect()
}

fn batches(report: &serde_json::Value) -> &Vec<serde_json::Value> {
    report["batches"]
        .as_array()
        .unwrap_or_else(|| panic!("report without batches: {report}"))
}

/// Run lakesync with the real s5cmd and the test credentials.
pub fn lakesync(args: &[&str]) -> Run {
    lakesync_with(args, &[])
}

pub fn lakesync_with(args: &[&str], env: &[(&str, &str)]) -> Run {
    let out = command()
        .args(args)
        .envs(env.iter().copied())
        .output()
        .expect("cannot run lakesync");
    Run {
        args: args.iter().map(|a| a.to_string()).collect(),
        env: env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// The lakesync command with the test environment: dummy credentials, the real s5cmd, no
/// region, endpoint or terminal width from the caller's environment, stdin null. For tests that spawn
/// it themselves (signals); [`lakesync`] runs it to completion.
pub fn command() -> Command {
    let mut cmd = Command::new(lakesync_bin());
    cmd.envs(test_env())
        .env("LAKESYNC_S5CMD", s5cmd_bin())
        .env_remove("AWS_REGION")
        .env_remove("AWS_DEFAULT_REGION")
        .env_remove("S3_ENDPOINT_URL")
        // clap wraps help to COLUMNS: the same text on every terminal (snapshots).
        .env_remove("COLUMNS")
        .stdin(Stdio::null());
    cmd
}

/// A `lakesync sync` command line. By default: against one server, from `s3://src` to
/// `s3://dst`, the JSON report on stdout (`--report -`). Every setter replaces its default
/// or adds arguments; [`Sync::run`] can be called again for a second run.
///
/// ```ignore
/// let run = Sync::new(&moto).dest("s3://dst/lake").batch_size(40).mode("staged").run();
/// ```
#[derive(Clone)]
pub struct Sync {
    command: &'static str,
    endpoints: Vec<String>,
    source: String,
    dest: String,
    report: Option<String>,
    args: Vec<String>,
    env: Vec<(String, String)>,
}

impl Sync {
    /// Against `moto` (`--endpoint-url`).
    pub fn new(moto: &Moto) -> Self {
        Self::at(&moto.url)
    }

    /// Against the S3 endpoint `url` (a proxy in front of a server, a closed port).
    pub fn at(url: &str) -> Self {
        Self::with_endpoints(vec!["--endpoint-url".into(), url.into()])
    }

    /// Through the fault proxy `proxy` (in front of a server), with s5cmd's own retries off
    /// (`--retry-count 0`): every fault it injects reaches lakesync.
    pub fn through(proxy: &FaultProxy) -> Self {
        Self::at(&proxy.url).args(["--retry-count", "0"])
    }

    /// From a bucket on `source` to one on `dest` (`--source-endpoint`, `--dest-endpoint`).
    pub fn between(source: &Moto, dest: &Moto) -> Self {
        Self::with_endpoints(vec![
            "--source-endpoint".into(),
            source.url.clone(),
            "--dest-endpoint".into(),
            dest.url.clone(),
        ])
    }

    /// No endpoint at all: for input refused before anything is contacted.
    pub fn offline() -> Self {
        Self::with_endpoints(Vec::new())
    }

    fn with_endpoints(endpoints: Vec<String>) -> Self {
        Sync {
            command: "sync",
            endpoints,
            source: "s3://src".into(),
            dest: "s3://dst".into(),
            report: Some("-".into()),
            args: Vec::new(),
            env: Vec::new(),
        }
    }

    /// The same sides and arguments for another command that takes them (`plan`, `verify`).
    pub fn command(mut self, command: &'static str) -> Self {
        self.command = command;
        self
    }

    pub fn source(mut self, url: &str) -> Self {
        self.source = url.into();
        self
    }

    pub fn dest(mut self, url: &str) -> Self {
        self.dest = url.into();
        self
    }

    /// `--report PATH` instead of `--report -`.
    pub fn report(mut self, path: &Path) -> Self {
        self.report = Some(path.display().to_string());
        self
    }

    /// No `--report` at all.
    pub fn no_report(mut self) -> Self {
        self.report = None;
        self
    }

    pub fn mode(self, mode: &str) -> Self {
        self.args(["--mode", mode])
    }

    pub fn batch_size(self, n: u32) -> Self {
        self.args(["--batch-size".to_string(), n.to_string()])
    }

    pub fn workers(self, n: u32) -> Self {
        self.args(["--workers".to_string(), n.to_string()])
    }

    pub fn attempts(self, n: u32) -> Self {
        self.args(["--attempts".to_string(), n.to_string()])
    }

    /// `--market M --period P --data-type T`: the folder a selection starts from.
    pub fn select(self, market: &str, period: &str, data_type: &str) -> Self {
        self.args([
            "--market",
            market,
            "--period",
            period,
            "--data-type",
            data_type,
        ])
    }

    pub fn symbols(self, symbols: &str) -> Self {
        self.args(["--symbols", symbols])
    }

    pub fn interval(self, interval: &str) -> Self {
        self.args(["--interval", interval])
    }

    /// `--start START --end END` (inclusive).
    pub fn dates(self, start: &str, end: &str) -> Self {
        self.args(["--start", start, "--end", end])
    }

    pub fn temp_dir(self, dir: &Path) -> Self {
        self.args(["--temp-dir".to_string(), dir.display().to_string()])
    }

    /// `--history PATH`: the run history (JSON lines) to judge and record the run in.
    pub fn history(self, path: &Path) -> Self {
        self.args(["--history".to_string(), path.display().to_string()])
    }

    /// `--metrics-file PATH`: the Prometheus textfile to write.
    pub fn metrics_file(self, path: &Path) -> Self {
        self.args(["--metrics-file".to_string(), path.display().to_string()])
    }

    /// Run the fake s5cmd (`crates/fake-s5cmd`) in front of the real one; its behaviour is
    /// chosen with `LAKESYNC_FAKE_*` variables ([`Sync::env`]).
    pub fn fake_s5cmd(self) -> Self {
        self.args([
            "--s5cmd".to_string(),
            fake_s5cmd_bin().display().to_string(),
        ])
        .env("LAKESYNC_FAKE_REAL", &s5cmd_bin().display().to_string())
    }

    pub fn arg(mut self, arg: impl Into<String>) -> Self {
        self.args.push(arg.into());
        self
    }

    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    /// The whole command line, without the program.
    pub fn argv(&self) -> Vec<String> {
        let mut v = vec![self.command.to_string()];
        v.extend(self.endpoints.iter().cloned());
        v.extend(["--source".into(), self.source.clone()]);
        v.extend(["--dest".into(), self.dest.clone()]);
        v.extend(self.args.iter().cloned());
        if let Some(report) = &self.report {
            v.extend(["--report".into(), report.clone()]);
        }
        v
    }

    /// [`command`] with this command line and environment, not started.
    pub fn to_command(&self) -> Command {
        let mut cmd = command();
        cmd.args(self.argv())
            .envs(self.env.iter().map(|(k, v)| (k, v)));
        cmd
    }

    /// Start it with these stdout and stderr, without waiting: for tests that signal the run
    /// or watch it while it runs.
    pub fn spawn(&self, stdout: Stdio, stderr: Stdio) -> Child {
        self.to_command()
            .stdout(stdout)
            .stderr(stderr)
            .spawn()
            .expect("cannot start lakesync")
    }

    /// Run it to completion.
    pub fn run(&self) -> Run {
        let argv = self.argv();
        let args: Vec<&str> = argv.iter().map(String::as_str).collect();
        let env: Vec<(&str, &str)> = self
            .env
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        lakesync_with(&args, &env)
    }
}
