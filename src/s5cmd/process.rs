//! Running the s5cmd child process: its own process group, stdin null (or a pipe the caller
//! feeds command lines into, for `run` without a file), stdout and stderr drained concurrently line by line into [`Event`]s, a watchdog deadline, and a graceful
//! stop on interruption (SIGTERM to the group, a grace period, then SIGKILL).

use std::ffi::OsString;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use nix::sys::signal::Signal;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;
use tokio::sync::mpsc;

use super::output::{Event, parse_line};
use crate::os::signals::{self, Interrupt};

/// The environment variables through which s5cmd (aws-sdk-go v1) takes a region. Any of
/// them set switches off s5cmd's per-bucket region detection for every bucket of the
/// process, so lakesync never passes on its own: each child gets exactly the region of the
/// one bucket it serves, or none (s5cmd then asks each bucket, one HeadBucket).
pub const REGION_VARS: [&str; 2] = ["AWS_REGION", "AWS_DEFAULT_REGION"];

/// s5cmd's global settings for one process (they cannot be set per command-file line).
#[derive(Debug, Clone, Default)]
pub struct Globals {
    pub endpoint_url: Option<String>,
    pub no_sign_request: bool,
    pub profile: Option<String>,
    /// Per-request retries inside s5cmd.
    pub retry_count: u32,
    /// The region of the one bucket this process works on (listing one side, downloading
    /// from the source, uploading to the destination), given to the child as `AWS_REGION`;
    /// None: the child gets no region variable and s5cmd detects each bucket's region.
    pub region: Option<String>,
    /// Region flags written into every `cp` line of a command file (server-side copies
    /// touch two buckets, so a process-wide region cannot serve them).
    pub cp_region_flags: Option<String>,
}

impl Globals {
    /// The child's environment changes: the region variables removed, then `AWS_REGION`
    /// set to this side's region when it is known.
    pub fn child_env(&self) -> Vec<(&'static str, Option<String>)> {
        let mut env: Vec<(&'static str, Option<String>)> =
            REGION_VARS.iter().map(|k| (*k, None)).collect();
        if let Some(r) = &self.region {
            env[0].1 = Some(r.clone());
        }
        env
    }

    /// `line` with this process's `cp` region flags inserted after the subcommand.
    pub fn with_cp_regions<'a>(&self, line: &'a str) -> std::borrow::Cow<'a, str> {
        match (&self.cp_region_flags, line.strip_prefix("cp ")) {
            (Some(flags), Some(rest)) => format!("cp {flags} {rest}").into(),
            _ => line.into(),
        }
    }

    /// The `cp` line flags for server-side copies from a bucket in `source` to one in
    /// `dest`. s5cmd v2.3.0's `--source-region` alone also sets the destination's, so it
    /// is given only with `--destination-region`; a region not known is left to s5cmd's
    /// detection.
    pub fn copy_region_flags(source: Option<&str>, dest: Option<&str>) -> Option<String> {
        match (source, dest) {
            (Some(s), Some(d)) => Some(format!("--source-region {s} --destination-region {d}")),
            (_, Some(d)) => Some(format!("--destination-region {d}")),
            _ => None,
        }
    }

    pub fn args(&self) -> Vec<OsString> {
        let mut args: Vec<OsString> = vec!["--json".into()];
        if let Some(url) = &self.endpoint_url {
            args.push("--endpoint-url".into());
            args.push(url.into());
        }
        if self.no_sign_request {
            args.push("--no-sign-request".into());
        }
        if let Some(p) = &self.profile {
            args.push("--profile".into());
            args.push(p.into());
        }
        args.push("--retry-count".into());
        args.push(self.retry_count.to_string().into());
        args
    }
}

/// Which pipe a line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pipe {
    Stdout,
    Stderr,
}

/// How the child ended.
#[derive(Debug, Clone, Default)]
pub struct ChildExit {
    /// Exit code, when it exited normally.
    pub code: Option<i32>,
    /// Signal that ended it, if any.
    pub signal: Option<i32>,
    /// The watchdog deadline passed and the child was killed.
    pub timed_out: bool,
    /// lakesync was interrupted and stopped the child.
    pub interrupted: bool,
    /// Lines read from both pipes.
    pub lines: u64,
}

/// A running s5cmd: its parsed output lines arrive on `events` (bounded, so a slow consumer
/// slows s5cmd down instead of growing memory); `wait` returns how it ended.
pub struct Running {
    pub events: mpsc::Receiver<(Pipe, Event)>,
    /// The child's stdin when spawned with `feed`: `s5cmd run` with no file reads its
    /// command lines from it as they come, and ends when it is closed (drop it on
    /// interruption too: s5cmd waits for its input to end before it exits).
    pub stdin: Option<tokio::process::ChildStdin>,
    supervisor: tokio::task::JoinHandle<std::io::Result<ChildExit>>,
    lines: Vec<tokio::task::JoinHandle<u64>>,
}

impl Running {
    /// Wait for the child to end (drain `events` first, or concurrently).
    pub async fn wait(self) -> std::io::Result<ChildExit> {
        drop(self.events);
        drop(self.stdin);
        let mut exit = self
            .supervisor
            .await
            .map_err(|e| std::io::Error::other(e.to_string()))??;
        for l in self.lines {
            exit.lines += l.await.unwrap_or(0);
        }
        Ok(exit)
    }
}

/// Start `s5cmd ARGS`.
///
/// `deadline`: kill the whole process group when it passes (s5cmd's HTTP client has no
/// timeout of its own). `grace`: how long a child stopped by an interruption may take to
/// exit after SIGTERM before it gets SIGKILL. `feed`: stdin is a pipe (`Running::stdin`)
/// instead of null.
pub fn spawn(
    binary: &Path,
    args: &[OsString],
    env: &[(&str, Option<String>)],
    deadline: Option<Duration>,
    grace: Duration,
    interrupt: &Interrupt,
    feed: bool,
) -> std::io::Result<Running> {
    let mut cmd = Command::new(binary);
    for (k, v) in env {
        match v {
            Some(v) => cmd.env(k, v),
            None => cmd.env_remove(k),
        };
    }
    cmd.args(args)
        .stdin(if feed { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    // If lakesync itself is killed (kill -9, OOM), its s5cmd must not live on: the kernel
    // sends it SIGKILL when the (long-lived runtime worker) thread that spawned it dies.
    // SAFETY: prctl is async-signal-safe and touches no memory of the parent.
    unsafe {
        cmd.pre_exec(|| {
            nix::sys::prctl::set_pdeathsig(Signal::SIGKILL).map_err(std::io::Error::from)
        });
    }
    let mut child = cmd.spawn()?;
    let stdin = child.stdin.take();
    let pid = child.id().map(|p| p as i32);
    let (tx, events) = mpsc::channel::<(Pipe, Event)>(1024);
    let mut lines = Vec::new();
    if let Some(out) = child.stdout.take() {
        lines.push(tokio::spawn(pump(out, Pipe::Stdout, tx.clone())));
    }
    if let Some(err) = child.stderr.take() {
        lines.push(tokio::spawn(pump(err, Pipe::Stderr, tx)));
    }
    let interrupt = interrupt.clone();
    let supervisor = tokio::spawn(async move {
        let _guard = pid.map(signals::ChildGroupGuard::register);
        let mut exit = ChildExit::default();
        let now = tokio::time::Instant::now;
        let far = now() + Duration::from_secs(10 * 365 * 24 * 3600);
        let watchdog = tokio::time::sleep_until(deadline.map_or(far, |d| now() + d));
        tokio::pin!(watchdog);
        let kill_after_grace = tokio::time::sleep_until(far);
        tokio::pin!(kill_after_grace);
        let mut interrupt_rx = interrupt.subscribe();
        let mut interrupt_open = true;
        let mut stopping = false;
        let stop = |exit: &mut ChildExit| {
            exit.interrupted = true;
            if let Some(pid) = pid {
                signals::kill_group(pid, Signal::SIGTERM);
            }
        };
        if interrupt.signal().is_some() {
            stopping = true;
            stop(&mut exit);
            kill_after_grace.as_mut().reset(now() + grace);
        }
        let status = loop {
            tokio::select! {
                status = child.wait() => break status?,
                () = &mut watchdog, if deadline.is_some() && !exit.timed_out => {
                    exit.timed_out = true;
                    if let Some(pid) = pid {
                        signals::kill_group(pid, Signal::SIGKILL);
                    }
                }
                () = &mut kill_after_grace, if stopping => {
                    if let Some(pid) = pid {
                        signals::kill_group(pid, Signal::SIGKILL);
                    }
                    kill_after_grace.as_mut().reset(far);
                }
                changed = interrupt_rx.changed(), if !stopping && interrupt_open => {
                    if changed.is_err() {
                        // No sender left: no signal can arrive any more.
                        interrupt_open = false;
                    } else if interrupt_rx.borrow().is_some() {
                        stopping = true;
                        stop(&mut exit);
                        kill_after_grace.as_mut().reset(now() + grace);
                    }
                }
            }
        };
        exit.code = status.code();
        {
            use std::os::unix::process::ExitStatusExt;
            exit.signal = status.signal();
        }
        Ok(exit)
    });
    Ok(Running {
        events,
        stdin,
        supervisor,
        lines,
    })
}

/// Forward a pipe's lines to the channel. Bytes that are not UTF-8 are replaced, not fatal.
async fn pump(
    pipe: impl tokio::io::AsyncRead + Unpin,
    which: Pipe,
    tx: mpsc::Sender<(Pipe, Event)>,
) -> u64 {
    let mut reader = BufReader::with_capacity(64 * 1024, pipe);
    let mut buf = Vec::with_capacity(1024);
    let mut n = 0;
    loop {
        buf.clear();
        match reader.read_until(b'\n', &mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(_) => {
                n += 1;
                let event = parse_line(&String::from_utf8_lossy(&buf));
                if tx.send((which, event)).await.is_err() {
                    // Nobody listens any more; keep draining so the child never blocks.
                    while matches!(reader.read_until(b'\n', &mut buf).await, Ok(k) if k > 0) {
                        buf.clear();
                    }
                    break;
                }
            }
        }
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn region_variables_never_reach_the_child_unless_the_side_names_one() {
        let g = Globals::default();
        assert_eq!(
            g.child_env(),
            vec![("AWS_REGION", None), ("AWS_DEFAULT_REGION", None)]
        );
        let g = Globals {
            region: Some("ap-northeast-1".into()),
            ..Globals::default()
        };
        assert_eq!(
            g.child_env(),
            vec![
                ("AWS_REGION", Some("ap-northeast-1".into())),
                ("AWS_DEFAULT_REGION", None)
            ]
        );
    }

    #[test]
    fn copy_lines_carry_both_regions_or_only_the_destination() {
        let f = Globals::copy_region_flags;
        assert_eq!(
            f(Some("ap-northeast-1"), Some("eu-west-1")).as_deref(),
            Some("--source-region ap-northeast-1 --destination-region eu-west-1")
        );
        // --source-region alone would also sign the destination for the source's region.
        assert_eq!(f(Some("ap-northeast-1"), None), None);
        assert_eq!(
            f(None, Some("eu-west-1")).as_deref(),
            Some("--destination-region eu-west-1")
        );
        let g = Globals {
            cp_region_flags: f(Some("a"), Some("b")),
            ..Globals::default()
        };
        assert_eq!(
            g.with_cp_regions("cp --raw 's3://x/k' 's3://y/k'"),
            "cp --source-region a --destination-region b --raw 's3://x/k' 's3://y/k'"
        );
        assert_eq!(g.with_cp_regions("rm 's3://y/k'"), "rm 's3://y/k'");
    }
}
