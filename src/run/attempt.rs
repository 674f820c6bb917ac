//! The attempt loop: run command lines through s5cmd until each is done or failed.
//!
//! Each attempt writes a private command file for the lines still pending, runs
//! `s5cmd --json --numworkers N run FILE`, and maps every output line back to its line
//! through our own tables (never by splitting s5cmd's text on spaces: keys contain spaces).
//! Each line ends with exactly one outcome: done (a success line), or failed (a permanent
//! error, or attempts exhausted). A line with no output at all is "unknown" and retried like
//! a transient error.
//!
//! Both strategies (`execute` for server-side copies, `staged` for download-verify-upload)
//! sit on top of this module; it knows neither.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ffi::OsString;
use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::os::signals::Interrupt;
use crate::run::outcome::Counters;
use crate::run::throttle::{self, SharedTable, Spread};
use crate::s5cmd::cmdfile::{download_line, echoed_command, upload_line};
use crate::s5cmd::process::ChildExit;
use crate::s5cmd::{self, ErrorClass, Event, Globals, Pipe, classify_error};

/// One command-file line and how s5cmd will name it back.
#[derive(Debug, Clone)]
pub struct Line {
    pub text: String,
    /// `cp SRC DST` as s5cmd echoes it in per-object errors.
    pub echo: String,
    /// The destination as s5cmd prints it in success lines.
    pub dst: String,
    pub src: String,
}

impl Line {
    pub fn new(text: String, src: String, dst: String) -> Self {
        Self {
            echo: echoed_command(&src, &dst),
            text,
            dst,
            src,
        }
    }

    /// A staged download of the object at `src` (an S3 URL) to the local path `local`;
    /// None when s5cmd cannot be given the line (see [`download_line`]).
    pub fn download(src: String, local: String) -> Option<Self> {
        let text = download_line(&src, &local).ok()?;
        Some(Self::new(text, src, local))
    }

    /// A staged upload of the local file `local` to `dst` (an S3 URL); None when s5cmd
    /// cannot be given the line (see [`upload_line`]).
    pub fn upload(local: String, dst: String) -> Option<Self> {
        let text = upload_line(&local, &dst).ok()?;
        Some(Self::new(text, local, dst))
    }

    /// The partition prefix the line's request goes to: the destination of a copy or an
    /// upload, the source of a download (see `throttle`).
    pub fn partition(&self) -> &str {
        let url = if self.dst.starts_with("s3://") {
            &self.dst
        } else {
            &self.src
        };
        throttle::partition_of(url)
    }
}

/// A wildcard line that copies a whole key prefix on the first attempt, standing for several
/// lines (`members`, indexes into the lines). Members it did not copy are retried one line
/// each.
#[derive(Debug, Clone)]
pub struct FolderLine {
    pub text: String,
    pub members: Vec<usize>,
}

/// Final state of one line after all attempts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LineState {
    Done { size: Option<u64> },
    Failed { error: String, class: ErrorClass },
}

/// What a run of lines with attempts produced.
#[derive(Debug, Clone, Default)]
pub struct AttemptsOutcome {
    /// One per input line, same order.
    pub states: Vec<Option<LineState>>,
    /// Attempts each line took part in.
    pub tries: Vec<u32>,
    /// Processes, retries, throttling, unparsed and unplanned lines, attempts, flags (its
    /// `ops` stay zero: the caller knows what kind of line it ran).
    pub counts: Counters,
    /// Command lines handed to s5cmd, retries included.
    pub lines_issued: u64,
    /// Wildcard folder lines issued (each one LIST request besides the copies).
    pub folder_lines: u64,
    /// The first few unparsed lines (all are counted in `counts.unparsed`).
    pub unparsed: Vec<String>,
    pub workers_last: u32,
    /// The partition prefixes the lines went to, and which answered throttling.
    pub spread: Spread,
}

impl AttemptsOutcome {
    pub fn is_done(&self, i: usize) -> bool {
        matches!(self.states.get(i), Some(Some(LineState::Done { .. })))
    }
}

pub(crate) const UNPARSED_KEPT: usize = 5;

/// One call's command lines: `tag` names its command files and log lines; `lines` (None: a
/// line that cannot be written, which the caller fails) run at `workers` with `globals`,
/// and on a first attempt each of `folders` (a wildcard line) stands for its members.
#[derive(Clone, Copy)]
pub struct Call<'a> {
    pub tag: &'a str,
    pub globals: &'a Globals,
    pub workers: u32,
    pub lines: &'a [Option<Line>],
    pub folders: &'a [FolderLine],
}

/// Who hears of lines as they land: `live` counts them (progress while a batch runs),
/// `on_done` gets each one's index (a batch releases a zip's CHECKSUM with it).
#[derive(Clone, Copy, Default)]
pub struct Watch<'a> {
    pub live: Option<&'a AtomicU64>,
    pub on_done: Option<&'a (dyn Fn(usize) + Sync)>,
}

impl Watch<'_> {
    fn done(&self, i: usize) {
        if let Some(live) = self.live {
            live.fetch_add(1, Ordering::Relaxed);
        }
        if let Some(f) = self.on_done {
            f(i);
        }
    }
}

/// What a call's attempts so far leave for the next: the worker count after throttling
/// cuts, and the prefixes throttled (never counted as a clean run of theirs).
struct Attempted<'a> {
    workers_now: u32,
    throttled_here: BTreeSet<&'a str>,
}

impl Attempted<'_> {
    fn new(workers: u32) -> Self {
        Self {
            workers_now: workers,
            throttled_here: BTreeSet::new(),
        }
    }
}

/// Writes released command lines into a running `s5cmd run`'s stdin from its own task, so
/// that a full pipe (s5cmd reads a line only when a worker is free) never stalls the
/// reading of its output. Dropping it ends s5cmd's input once what was sent is written;
/// an interruption ends it at once (s5cmd waits for the end of its input before exiting).
struct Feeder {
    tx: tokio::sync::mpsc::UnboundedSender<String>,
}

impl Feeder {
    fn start(stdin: tokio::process::ChildStdin, interrupt: Interrupt) -> Self {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(feed(stdin, rx, interrupt));
        Self { tx }
    }

    /// Queue one line; false when s5cmd's input is already closed.
    fn send(&self, line: &str) -> bool {
        self.tx.send(line.to_owned()).is_ok()
    }
}

async fn feed(
    mut stdin: tokio::process::ChildStdin,
    mut rx: tokio::sync::mpsc::UnboundedReceiver<String>,
    interrupt: Interrupt,
) {
    use tokio::io::AsyncWriteExt as _;
    let mut irx = interrupt.subscribe();
    let mut buf: Vec<u8> = Vec::new();
    loop {
        let first = tokio::select! {
            biased;
            _ = irx.wait_for(|s| s.is_some()) => break,
            m = rx.recv() => match m {
                Some(m) => m,
                None => break,
            },
        };
        buf.clear();
        buf.extend_from_slice(first.as_bytes());
        buf.push(b'\n');
        while let Ok(m) = rx.try_recv() {
            buf.extend_from_slice(m.as_bytes());
            buf.push(b'\n');
        }
        let written = tokio::select! {
            biased;
            _ = irx.wait_for(|s| s.is_some()) => false,
            r = stdin.write_all(&buf) => r.is_ok(),
        };
        if !written {
            break;
        }
    }
    // Dropping stdin here is the end of s5cmd's input.
}

/// Runs command lines through s5cmd with attempts and backoff.
#[derive(Debug, Clone)]
pub struct Runner {
    pub binary: PathBuf,
    /// Private (0700) folder for command files.
    pub workdir: PathBuf,
    pub max_attempts: u32,
    pub backoff_base: Duration,
    pub batch_timeout: Option<Duration>,
    pub grace: Duration,
    pub interrupt: Interrupt,
    /// The run's throttled prefixes, shared by every attempt loop of the run.
    pub throttle: SharedTable,
}

impl Runner {
    /// Backoff before attempt `n` (2, 3, ...): base * 2^(n-2), at most 30 s.
    fn backoff(&self, next_attempt: u32) -> Duration {
        let exp = next_attempt.saturating_sub(2).min(16);
        (self.backoff_base * 2u32.pow(exp)).min(Duration::from_secs(30))
    }

    /// Run `lines` (None = a line that cannot be written; it must already be failed by the
    /// caller) until each is done or failed. `tag` names the command files and log lines.
    pub async fn run_lines(
        &self,
        tag: &str,
        globals: &Globals,
        workers: u32,
        lines: &[Option<Line>],
    ) -> AttemptsOutcome {
        let call = Call {
            tag,
            globals,
            workers,
            lines,
            folders: &[],
        };
        self.run_lines_with_folders(call, Watch::default()).await
    }

    /// `run_lines`, where the first attempt writes each of `folders` instead of its
    /// members' lines; `live` counts lines done as their success lines arrive (progress).
    ///
    /// Each attempt splits its lines by the run's throttle table (`throttle::groups`): the
    /// lines of a prefix under a limit run in their own s5cmd process at that limit (after
    /// the prefix's backoff when they are retries of its throttled lines), everything else
    /// in one process at `workers`, all at once. After an attempt, throttling on a few
    /// prefixes limits those prefixes in the table; throttling on most of them (or owned by
    /// no line) is the endpoint's and halves the count for the retry, as before.
    pub async fn run_lines_with_folders(
        &self,
        call: Call<'_>,
        watch: Watch<'_>,
    ) -> AttemptsOutcome {
        let call = Call {
            workers: call.workers.max(1),
            ..call
        };
        let ledger = Ledger::new(call.lines, call.folders);
        self.attempts_from(1, call, ledger, watch, Attempted::new(call.workers))
            .await
    }

    /// The attempt loop from attempt `from` on, over the ledger's pending lines (the
    /// ledger holds the call's lines).
    async fn attempts_from<'a>(
        &self,
        from: u32,
        call: Call<'_>,
        mut ledger: Ledger<'a>,
        watch: Watch<'_>,
        mut so_far: Attempted<'a>,
    ) -> AttemptsOutcome {
        let Call {
            tag,
            globals,
            workers,
            ..
        } = call;
        for attempt in from..=self.max_attempts.max(1) {
            let pending = ledger.pending();
            if pending.is_empty() {
                break;
            }
            if self.interrupt.signal().is_some() {
                ledger.out.counts.interrupted = true;
                break;
            }
            if attempt > 1 {
                ledger.out.counts.retried += pending.len() as u64;
                if !self.back_off(tag, attempt, pending.len()).await {
                    ledger.out.counts.interrupted = true;
                    break;
                }
            }
            ledger.out.counts.attempts = attempt;
            let first = attempt == 1 && !ledger.folders.is_empty();
            let items = ledger.items(&pending, first);
            let prefixes: Vec<&str> = items.iter().map(|&it| ledger.prefix_of(it)).collect();
            let groups = self
                .throttle
                .with(|t| throttle::groups(&prefixes, t, so_far.workers_now));
            let base_wait = if attempt > 1 {
                self.backoff(attempt)
            } else {
                Duration::ZERO
            };
            let mut plans = Vec::with_capacity(groups.len());
            for (k, g) in groups.iter().enumerate() {
                let its: Vec<Item> = g.items.iter().map(|&j| items[j]).collect();
                let group_lines = ledger.lines_of(&its);
                let file = match &g.prefix {
                    None => self.workdir.join(format!("{tag}-attempt-{attempt}.txt")),
                    Some(_) => self
                        .workdir
                        .join(format!("{tag}-attempt-{attempt}-prefix-{k}.txt")),
                };
                if let Err(e) = write_command_file(
                    &file,
                    ledger
                        .texts_of(&its)
                        .into_iter()
                        .map(|t| globals.with_cp_regions(t)),
                ) {
                    ledger.unwritten(
                        &group_lines,
                        format!("cannot write the command file {}: {e}", file.display()),
                    );
                    continue;
                }
                let wait = match &g.prefix {
                    Some(p) if so_far.throttled_here.contains(p.as_str()) => self
                        .throttle
                        .with(|t| t.backoff(p))
                        .saturating_sub(base_wait),
                    _ => Duration::ZERO,
                };
                let mut per_prefix: BTreeMap<&str, u32> = BTreeMap::new();
                for (&j, &it) in g.items.iter().zip(&its) {
                    *per_prefix.entry(prefixes[j]).or_default() += ledger.weight(it);
                }
                if g.prefix.is_some() {
                    self.throttle.with(|t| {
                        for (p, n) in &per_prefix {
                            t.ran_limited(p, u64::from(*n));
                        }
                    });
                    tracing::info!(
                        tag,
                        attempt,
                        prefix = g.prefix.as_deref().unwrap_or_default(),
                        workers = g.workers,
                        objects = group_lines.len(),
                        wait_ms = wait.as_millis() as u64,
                        "a throttled prefix runs in its own s5cmd at its own worker limit"
                    );
                }
                plans.push(ProcessPlan {
                    file: Some(file),
                    workers: g.workers,
                    wait,
                    lines: group_lines,
                    per_prefix,
                });
            }
            if plans.is_empty() {
                continue;
            }
            let all: Vec<usize> = plans.iter().flat_map(|p| p.lines.clone()).collect();
            ledger.issued(&all, attempt, first, plans.len() as u64);
            let logs = self
                .run_processes(&plans, globals, tag, &mut ledger, watch)
                .await;
            self.settle(tag, &plans, logs, &mut ledger, &mut so_far);
            if ledger.out.counts.interrupted {
                break;
            }
        }
        let clean: Vec<&str> = ledger
            .out
            .spread
            .prefixes
            .iter()
            .map(String::as_str)
            .filter(|p| !so_far.throttled_here.contains(p))
            .collect();
        if !ledger.out.counts.interrupted {
            self.throttle.with(|t| {
                for p in clean {
                    t.clean(p, workers);
                }
            });
        }
        ledger.finish(so_far.workers_now)
    }

    /// After an attempt's processes ended: what its throttling says (before the logs go to
    /// the ledger), then each process's log to the ledger.
    fn settle<'a>(
        &self,
        tag: &str,
        plans: &[ProcessPlan<'a>],
        logs: Vec<AttemptLog>,
        ledger: &mut Ledger<'a>,
        so_far: &mut Attempted<'a>,
    ) {
        let (hit, unattributed) = throttle_hits(plans, &logs, &ledger.prefix);
        let seen: BTreeSet<&str> = plans
            .iter()
            .flat_map(|p| p.per_prefix.keys().copied())
            .collect();
        ledger.spread_attempt(&seen, &hit, unattributed);
        for (plan, log) in plans.iter().zip(logs) {
            ledger.end_attempt(&plan.lines, log);
        }
        // Prefixes that still landed lines in this attempt.
        let landed: BTreeSet<&str> = plans
            .iter()
            .flat_map(|p| p.lines.iter())
            .filter(|&&i| ledger.out.is_done(i))
            .map(|&i| ledger.prefix[i])
            .collect();
        let throttled = hit.values().map(|h| h.0).sum::<u64>() + unattributed;
        if throttled > 0 {
            so_far.throttled_here.extend(hit.keys().copied());
            so_far.workers_now =
                self.after_throttling(tag, &hit, unattributed, &seen, &landed, so_far.workers_now);
        }
    }

    /// `run_lines_with_folders` for lines released while the call runs: each item received
    /// on `release` (a folder's wildcard line, standing for its members, or one line) is
    /// written at once to a running `s5cmd run` that reads its command lines from stdin (no
    /// command file: they are not known when it starts), and its input ends when `release`
    /// closes. That first attempt over, the released lines still without an outcome go
    /// through the attempt loop from attempt 2, one line each. Lines never released keep no
    /// state (the caller knows why they were not).
    ///
    /// This is how a batch's CHECKSUMs follow their zips: each is released when its zip's
    /// success line arrives, in a second process beside the zips' (`execute`).
    pub async fn run_streamed(
        &self,
        call: Call<'_>,
        mut release: tokio::sync::mpsc::UnboundedReceiver<Item>,
        watch: Watch<'_>,
    ) -> AttemptsOutcome {
        let call = Call {
            workers: call.workers.max(1),
            ..call
        };
        let Call {
            tag,
            globals,
            workers,
            lines,
            folders,
        } = call;
        let mut ledger = Ledger::new(lines, folders);
        ledger.held = vec![true; lines.len()];
        let mut so_far = Attempted::new(workers);
        let mut args: Vec<OsString> = globals.args();
        args.push("--numworkers".into());
        args.push(workers.to_string().into());
        args.push("run".into());
        let spawned = if self.interrupt.signal().is_some() {
            Err(std::io::Error::other("interrupted before completion"))
        } else {
            s5cmd::process::spawn(
                &self.binary,
                &args,
                &globals.child_env(),
                self.batch_timeout,
                self.grace,
                &self.interrupt,
                true,
            )
        };
        let mut running = match spawned {
            Ok(r) => r,
            Err(e) => {
                // Nothing ran: what is released goes to the attempt loop's command files.
                while let Some(item) = release.recv().await {
                    ledger.release(item);
                }
                ledger.unwritten(&ledger.pending(), format!("cannot start s5cmd: {e}"));
                return self.attempts_from(1, call, ledger, watch, so_far).await;
            }
        };
        let mut feeder = running
            .stdin
            .take()
            .map(|stdin| Feeder::start(stdin, self.interrupt.clone()));
        let mut log = AttemptLog::new(lines.len());
        let mut issued: Vec<Item> = Vec::new();
        let mut late = Vec::new();
        let mut releasing = true;
        loop {
            tokio::select! {
                item = release.recv(), if releasing => match item {
                    Some(item) => match (ledger.text_of(item), feeder.as_ref()) {
                        (Some(text), Some(f)) if f.send(&globals.with_cp_regions(text)) => {
                            ledger.release(item);
                            issued.push(item);
                        }
                        (Some(_), _) => late.push(item),
                        (None, _) => {}
                    },
                    // The zips' call is over: s5cmd's input ends and it finishes.
                    None => {
                        releasing = false;
                        feeder = None;
                    }
                },
                ev = running.events.recv() => match ev {
                    Some((pipe, event)) => {
                        if let Some(i) = ledger.on_event(&mut log, tag, pipe, event) {
                            watch.done(i);
                        }
                    }
                    None => break,
                },
            }
        }
        // The process ended before the zips' call did (killed, crashed): lines released
        // from now on go to the attempt loop.
        while let Some(item) = release.recv().await {
            late.push(item);
        }
        drop(feeder);
        match running.wait().await {
            Ok(exit) => {
                ledger.out.counts.interrupted |= exit.interrupted;
                ledger.out.counts.timed_out |= exit.timed_out;
                if let Some(why) = self.exit_error(&exit) {
                    log.process_error = Some(why);
                }
            }
            Err(e) => log.process_error = Some(format!("waiting for s5cmd failed: {e}")),
        }
        let issued_lines = ledger.lines_of(&issued);
        ledger.issued(&issued_lines, 1, false, 1);
        ledger.out.folder_lines += issued
            .iter()
            .filter(|it| matches!(it, Item::Folder(_)))
            .count() as u64;
        ledger.out.counts.attempts = 1;
        let mut per_prefix: BTreeMap<&str, u32> = BTreeMap::new();
        for &it in &issued {
            *per_prefix.entry(ledger.prefix_of(it)).or_default() += ledger.weight(it);
        }
        let plan = ProcessPlan {
            file: None,
            workers,
            wait: Duration::ZERO,
            lines: issued_lines,
            per_prefix,
        };
        self.settle(
            tag,
            std::slice::from_ref(&plan),
            vec![log],
            &mut ledger,
            &mut so_far,
        );
        for item in late {
            ledger.release(item);
        }
        if ledger.out.counts.interrupted {
            return ledger.finish(so_far.workers_now);
        }
        self.attempts_from(2, call, ledger, watch, so_far).await
    }

    /// After an attempt that was throttled: throttling across most prefixes (or owned by no
    /// line) is the endpoint's and halves the count for the retry (returned); throttling on
    /// a few prefixes limits those prefixes in the run's table, and the count stays.
    fn after_throttling(
        &self,
        tag: &str,
        hit: &BTreeMap<&str, (u64, u32)>,
        unattributed: u64,
        seen: &BTreeSet<&str>,
        landed: &BTreeSet<&str>,
        workers_now: u32,
    ) -> u32 {
        if unattributed > 0 || throttle::broad(seen.len(), hit.len()) {
            let halved = (workers_now / 2).max(1);
            tracing::warn!(
                tag,
                throttled = hit.values().map(|h| h.0).sum::<u64>() + unattributed,
                prefixes = seen.len(),
                throttled_prefixes = hit.len(),
                workers = halved,
                "throttled across most prefixes: halving workers for the retry"
            );
            return halved;
        }
        self.throttle.with(|t| {
            for (p, (n, ran_with)) in hit {
                t.throttled(p, *ran_with, *n, landed.contains(p));
                tracing::warn!(
                    tag,
                    prefix = p,
                    throttled = n,
                    workers = t.limit(p).unwrap_or(workers_now),
                    backoff_ms = t.backoff(p).as_millis() as u64,
                    "prefix throttled: its lines go on with fewer workers, the others at {workers_now}"
                );
            }
        });
        workers_now
    }

    /// Wait before attempt `attempt`; false when interrupted meanwhile.
    async fn back_off(&self, tag: &str, attempt: u32, objects: usize) -> bool {
        let wait = self.backoff(attempt);
        tracing::info!(
            tag,
            attempt,
            objects,
            wait_ms = wait.as_millis() as u64,
            "retrying lines without a success line"
        );
        let mut irx = self.interrupt.subscribe();
        tokio::select! {
            () = tokio::time::sleep(wait) => true,
            _ = irx.wait_for(|s| s.is_some()) => false,
        }
    }

    /// One attempt's s5cmd processes, all at once (each after its own wait): every output
    /// line goes to the ledger, each process's own fate to its attempt log (one per plan).
    async fn run_processes(
        &self,
        plans: &[ProcessPlan<'_>],
        globals: &Globals,
        tag: &str,
        ledger: &mut Ledger<'_>,
        watch: Watch<'_>,
    ) -> Vec<AttemptLog> {
        let n = ledger.lines.len();
        let mut logs: Vec<AttemptLog> = plans.iter().map(|_| AttemptLog::new(n)).collect();
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Msg>(1024);
        for (g, plan) in plans.iter().enumerate() {
            let mut args: Vec<OsString> = globals.args();
            args.push("--numworkers".into());
            args.push(plan.workers.to_string().into());
            args.push("run".into());
            args.extend(plan.file.clone().map(OsString::from));
            let tx = tx.clone();
            let binary = self.binary.clone();
            let env = globals.child_env();
            let (deadline, grace) = (self.batch_timeout, self.grace);
            let interrupt = self.interrupt.clone();
            let wait = plan.wait;
            tokio::spawn(async move {
                if !wait.is_zero() {
                    let mut irx = interrupt.subscribe();
                    let interrupted = tokio::select! {
                        () = tokio::time::sleep(wait) => false,
                        _ = irx.wait_for(|s| s.is_some()) => true,
                    };
                    if interrupted {
                        let _ = tx.send(Msg::Interrupted(g)).await;
                        return;
                    }
                }
                let mut running = match s5cmd::process::spawn(
                    &binary, &args, &env, deadline, grace, &interrupt, false,
                ) {
                    Ok(r) => r,
                    Err(e) => {
                        let _ = tx
                            .send(Msg::Ended(g, Err(format!("cannot start s5cmd: {e}"))))
                            .await;
                        return;
                    }
                };
                while let Some((pipe, event)) = running.events.recv().await {
                    if tx.send(Msg::Event(g, pipe, event)).await.is_err() {
                        break;
                    }
                }
                let exit = running
                    .wait()
                    .await
                    .map_err(|e| format!("waiting for s5cmd failed: {e}"));
                let _ = tx.send(Msg::Ended(g, exit)).await;
            });
        }
        drop(tx);
        while let Some(msg) = rx.recv().await {
            match msg {
                Msg::Event(g, pipe, event) => {
                    if let Some(i) = ledger.on_event(&mut logs[g], tag, pipe, event) {
                        watch.done(i);
                    }
                }
                Msg::Interrupted(g) => {
                    ledger.out.counts.interrupted = true;
                    logs[g].process_error = Some("interrupted before completion".into());
                }
                Msg::Ended(g, Ok(exit)) => {
                    ledger.out.counts.interrupted |= exit.interrupted;
                    ledger.out.counts.timed_out |= exit.timed_out;
                    if let Some(why) = self.exit_error(&exit) {
                        logs[g].process_error = Some(why);
                    }
                }
                Msg::Ended(g, Err(why)) => logs[g].process_error = Some(why),
            }
        }
        for file in plans.iter().filter_map(|p| p.file.as_ref()) {
            let _ = std::fs::remove_file(file);
        }
        logs
    }

    /// What lines without output are told when a process ended this way (None: it ended
    /// by itself).
    fn exit_error(&self, exit: &ChildExit) -> Option<String> {
        if exit.timed_out {
            Some(format!(
                "batch watchdog: s5cmd ran past --batch-timeout {}s and was killed",
                self.batch_timeout.map_or(0, |d| d.as_secs())
            ))
        } else if exit.interrupted {
            Some("interrupted before completion".into())
        } else {
            exit.signal
                .map(|sig| format!("s5cmd was killed by signal {sig}"))
        }
    }
}

/// Per throttled prefix of an attempt: its throttled lines and the most workers it ran
/// with; and the throttling no line owns.
fn throttle_hits<'a>(
    plans: &[ProcessPlan<'a>],
    logs: &[AttemptLog],
    prefix: &[&'a str],
) -> (BTreeMap<&'a str, (u64, u32)>, u64) {
    let mut hit: BTreeMap<&str, (u64, u32)> = BTreeMap::new();
    let mut unattributed = 0u64;
    for (plan, log) in plans.iter().zip(logs) {
        unattributed += log.throttled - log.throttled_lines.len() as u64;
        for &i in &log.throttled_lines {
            let p = prefix[i];
            let ran_with = plan
                .workers
                .min(plan.per_prefix.get(p).copied().unwrap_or(1));
            let e = hit.entry(p).or_insert((0, ran_with));
            e.0 += 1;
            e.1 = e.1.max(ran_with);
        }
    }
    (hit, unattributed)
}

/// One s5cmd process of an attempt.
#[derive(Debug)]
struct ProcessPlan<'a> {
    /// Its command file (None: its lines come on stdin, `run_streamed`).
    file: Option<PathBuf>,
    workers: u32,
    /// Waited before starting (a throttled prefix's backoff beyond the attempt's own).
    wait: Duration,
    /// The lines it runs (a folder line's members included).
    lines: Vec<usize>,
    /// Its lines per partition prefix.
    per_prefix: BTreeMap<&'a str, u32>,
}

/// What the processes of an attempt send the ledger.
enum Msg {
    Event(usize, Pipe, Event),
    Ended(usize, Result<ChildExit, String>),
    /// Interrupted while waiting to start.
    Interrupted(usize),
}

/// What one attempt's output said besides the lines' own outcomes.
#[derive(Debug)]
struct AttemptLog {
    /// Lines this attempt printed anything about.
    had_line: Vec<bool>,
    throttled: u64,
    /// The lines of `throttled` (the rest named no line of ours).
    throttled_lines: Vec<usize>,
    /// An error naming no line of ours, or the process's own failure: what lines without
    /// any output are told.
    process_error: Option<String>,
}

impl AttemptLog {
    fn new(n: usize) -> Self {
        Self {
            had_line: vec![false; n],
            throttled: 0,
            throttled_lines: Vec::new(),
            process_error: None,
        }
    }
}

/// One entry of an attempt's command file: a folder's wildcard line or one line (indexes
/// into the call's folders and lines).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Item {
    Folder(usize),
    Line(usize),
}

/// The pure ledger of one `run_lines` call: maps every s5cmd output line back to its
/// command line through our own tables (s5cmd's text is never split: keys contain spaces)
/// and keeps each line's state across attempts.
struct Ledger<'a> {
    lines: &'a [Option<Line>],
    folders: &'a [FolderLine],
    in_folder: Vec<bool>,
    /// Each line's partition prefix ("" for a line that cannot be written), and each
    /// folder line's (its first member's).
    prefix: Vec<&'a str>,
    folder_prefix: Vec<&'a str>,
    by_dst: HashMap<&'a str, usize>,
    by_src: HashMap<&'a str, usize>,
    by_echo: HashMap<&'a str, usize>,
    last_error: Vec<Option<(String, ErrorClass)>>,
    /// Lines not released yet (`run_streamed`): never pending, never failed by `finish`.
    held: Vec<bool>,
    out: AttemptsOutcome,
}

impl<'a> Ledger<'a> {
    fn new(lines: &'a [Option<Line>], folders: &'a [FolderLine]) -> Self {
        let n = lines.len();
        let mut in_folder = vec![false; n];
        for f in folders {
            for &m in &f.members {
                if let Some(x) = in_folder.get_mut(m) {
                    *x = true;
                }
            }
        }
        let index = |key: fn(&Line) -> &str| -> HashMap<&'a str, usize> {
            lines
                .iter()
                .enumerate()
                .filter_map(|(i, l)| l.as_ref().map(|l| (key(l), i)))
                .collect()
        };
        let prefix: Vec<&'a str> = lines
            .iter()
            .map(|l| l.as_ref().map_or("", Line::partition))
            .collect();
        let folder_prefix = folders
            .iter()
            .map(|f| {
                f.members
                    .first()
                    .and_then(|&m| prefix.get(m))
                    .copied()
                    .unwrap_or("")
            })
            .collect();
        Self {
            prefix,
            folder_prefix,
            by_dst: index(|l| l.dst.as_str()),
            by_src: index(|l| l.src.as_str()),
            by_echo: index(|l| l.echo.as_str()),
            lines,
            folders,
            in_folder,
            last_error: vec![None; n],
            held: vec![false; n],
            out: AttemptsOutcome {
                states: vec![None; n],
                tries: vec![0; n],
                ..Default::default()
            },
        }
    }

    /// Lines that can be written, are released and have no outcome yet.
    fn pending(&self) -> Vec<usize> {
        (0..self.lines.len())
            .filter(|&i| self.lines[i].is_some() && self.out.states[i].is_none() && !self.held[i])
            .collect()
    }

    /// The lines of `item` may run from now on.
    fn release(&mut self, item: Item) {
        for i in self.lines_of(&[item]) {
            self.held[i] = false;
        }
    }

    /// The command line of `item` (None: a line that cannot be written, or no such item).
    fn text_of(&self, item: Item) -> Option<&'a str> {
        match item {
            Item::Folder(f) => self.folders.get(f).map(|f| f.text.as_str()),
            Item::Line(i) => self.lines.get(i)?.as_ref().map(|l| l.text.as_str()),
        }
    }

    /// What an attempt writes: on the `first`, each folder's wildcard line stands for its
    /// members (a folder with a member not released yet is left out: its line would copy
    /// that member too); then the other pending lines.
    fn items(&self, pending: &[usize], first: bool) -> Vec<Item> {
        let released = |f: &usize| {
            self.folders[*f]
                .members
                .iter()
                .all(|&m| !self.held.get(m).copied().unwrap_or(false))
        };
        let folders = (0..self.folders.len())
            .filter(|_| first)
            .filter(released)
            .map(Item::Folder);
        let lines = pending
            .iter()
            .filter(|&&i| !(first && self.in_folder[i]))
            .map(|&i| Item::Line(i));
        folders.chain(lines).collect()
    }

    fn prefix_of(&self, item: Item) -> &'a str {
        match item {
            Item::Folder(f) => self.folder_prefix[f],
            Item::Line(i) => self.prefix[i],
        }
    }

    /// Lines an item stands for.
    fn weight(&self, item: Item) -> u32 {
        match item {
            Item::Folder(f) => u32::try_from(self.folders[f].members.len()).unwrap_or(u32::MAX),
            Item::Line(_) => 1,
        }
    }

    /// The lines `items` run (folder members included), ascending.
    fn lines_of(&self, items: &[Item]) -> Vec<usize> {
        let mut out: Vec<usize> = items
            .iter()
            .flat_map(|&it| match it {
                Item::Folder(f) => self.folders[f].members.clone(),
                Item::Line(i) => vec![i],
            })
            .filter(|&i| self.lines.get(i).is_some_and(Option::is_some))
            .collect();
        out.sort_unstable();
        out.dedup();
        out
    }

    /// The command file of `items`.
    fn texts_of(&self, items: &[Item]) -> Vec<&'a str> {
        items
            .iter()
            .filter_map(|&it| match it {
                Item::Folder(f) => Some(self.folders[f].text.as_str()),
                Item::Line(i) => self.lines[i].as_ref().map(|l| l.text.as_str()),
            })
            .collect()
    }

    /// The command file of an attempt over all `pending` lines (one process).
    #[cfg(test)]
    fn texts(&self, pending: &[usize], first: bool) -> Vec<&'a str> {
        self.texts_of(&self.items(pending, first))
    }

    /// An attempt sent lines to the prefixes `seen`; `hit` answered throttling (errors,
    /// workers), `unattributed` throttling errors named no line.
    fn spread_attempt(
        &mut self,
        seen: &BTreeSet<&str>,
        hit: &BTreeMap<&str, (u64, u32)>,
        unattributed: u64,
    ) {
        let s = &mut self.out.spread;
        s.prefixes.extend(seen.iter().map(|p| p.to_string()));
        for (p, (n, _)) in hit {
            *s.throttled.entry(p.to_string()).or_default() += n;
        }
        s.unattributed += unattributed;
    }

    /// The command file could not be written: the pending lines stay pending.
    fn unwritten(&mut self, pending: &[usize], why: String) {
        for &i in pending {
            self.last_error[i] = Some((why.clone(), ErrorClass::Transient));
        }
    }

    /// The pending lines went to s5cmd in attempt `attempt`, in `processes` processes.
    fn issued(&mut self, pending: &[usize], attempt: u32, first: bool, processes: u64) {
        for &i in pending {
            self.out.tries[i] = attempt;
        }
        self.out.lines_issued += pending.len() as u64;
        if first {
            self.out.folder_lines += self.folders.len() as u64;
        }
        self.out.counts.processes += processes;
    }

    /// One output line of an attempt. The line it made done, if any.
    fn on_event(
        &mut self,
        log: &mut AttemptLog,
        tag: &str,
        pipe: Pipe,
        event: Event,
    ) -> Option<usize> {
        match event {
            Event::Success {
                destination,
                source,
                size,
                ..
            } => {
                let idx = self
                    .by_dst
                    .get(destination.as_str())
                    .or_else(|| self.by_src.get(source.as_str()))
                    .copied();
                match idx {
                    Some(i) if self.out.states[i].is_none() => {
                        self.out.states[i] = Some(LineState::Done { size });
                        log.had_line[i] = true;
                        return Some(i);
                    }
                    Some(_) => {}
                    None => {
                        self.out.counts.unplanned += 1;
                        tracing::warn!(tag, %source, "s5cmd copied an object that was not planned (it appeared after the listing)");
                    }
                }
            }
            Event::Error { command, error, .. } => {
                let class = classify_error(&error);
                if class == ErrorClass::Throttled {
                    log.throttled += 1;
                }
                match self.by_echo.get(command.as_str()) {
                    Some(&i) => {
                        if class == ErrorClass::Throttled {
                            log.throttled_lines.push(i);
                        }
                        if class == ErrorClass::Permanent && self.out.states[i].is_none() {
                            self.out.states[i] = Some(LineState::Failed {
                                error: error.clone(),
                                class,
                            });
                        }
                        self.last_error[i] = Some((error, class));
                        log.had_line[i] = true;
                    }
                    None => {
                        tracing::warn!(tag, %error, %command, "s5cmd reported an error for no line of ours");
                        log.process_error.get_or_insert(error);
                    }
                }
            }
            Event::Unparsed(line) => {
                if line.trim().is_empty() {
                    return None;
                }
                self.out.counts.unparsed += 1;
                if pipe == Pipe::Stderr {
                    tracing::debug!(tag, line = %line, "s5cmd stderr");
                }
                if self.out.unparsed.len() < UNPARSED_KEPT {
                    self.out.unparsed.push(line);
                }
            }
            Event::Stat { .. } | Event::Listing(_) => {}
        }
        None
    }

    /// After an attempt's process ended: its throttling counts, and pending lines it
    /// printed nothing about are unknown, so retried.
    fn end_attempt(&mut self, pending: &[usize], log: AttemptLog) {
        self.out.counts.throttled += log.throttled;
        for &i in pending {
            if self.out.states[i].is_none() && !log.had_line[i] {
                let why = log
                    .process_error
                    .clone()
                    .unwrap_or_else(|| "s5cmd printed no outcome for this object".into());
                self.last_error[i] = Some((why, ErrorClass::Transient));
            }
        }
    }

    /// Every line still without an outcome failed, with its last error.
    fn finish(mut self, workers_last: u32) -> AttemptsOutcome {
        self.out.workers_last = workers_last;
        let interrupted = self.out.counts.interrupted;
        for i in 0..self.lines.len() {
            if self.out.states[i].is_none() && self.lines[i].is_some() && !self.held[i] {
                let (error, class) = match (self.last_error[i].take(), interrupted) {
                    (_, true) => (
                        "interrupted before completion".into(),
                        ErrorClass::Transient,
                    ),
                    (Some(e), false) => e,
                    (None, false) => ("not attempted".into(), ErrorClass::Transient),
                };
                self.out.states[i] = Some(LineState::Failed { error, class });
            }
        }
        self.out
    }
}

/// Write a command file readable by us only (0600): it names every key of the batch.
pub fn write_command_file(
    path: &Path,
    lines: impl Iterator<Item = impl AsRef<str>>,
) -> std::io::Result<()> {
    let f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    let mut w = std::io::BufWriter::new(f);
    for l in lines {
        w.write_all(l.as_ref().as_bytes())?;
        w.write_all(b"\n")?;
    }
    w.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps() {
        let r = Runner {
            binary: "s5cmd".into(),
            workdir: "/tmp".into(),
            max_attempts: 3,
            backoff_base: Duration::from_millis(500),
            batch_timeout: None,
            grace: Duration::from_secs(1),
            interrupt: Interrupt::never(),
            throttle: SharedTable::default(),
        };
        assert_eq!(r.backoff(2), Duration::from_millis(500));
        assert_eq!(r.backoff(3), Duration::from_millis(1000));
        assert_eq!(r.backoff(4), Duration::from_millis(2000));
        assert_eq!(r.backoff(40), Duration::from_secs(30));
    }

    #[test]
    fn command_files_are_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f.txt");
        write_command_file(&p, ["a", "b"].into_iter()).unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "a\nb\n");
        let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }

    fn line(k: &str) -> Option<Line> {
        let (src, dst) = (format!("s3://src/{k}"), format!("s3://dst/{k}"));
        Some(Line::new(format!("cp '{src}' '{dst}'"), src, dst))
    }

    fn success(k: &str) -> Event {
        Event::Success {
            operation: "cp".into(),
            source: format!("s3://src/{k}"),
            destination: format!("s3://dst/{k}"),
            size: Some(3),
        }
    }

    fn error(k: &str, error: &str) -> Event {
        Event::Error {
            operation: "cp".into(),
            command: echoed_command(&format!("s3://src/{k}"), &format!("s3://dst/{k}")),
            error: error.into(),
        }
    }

    #[test]
    fn the_ledger_maps_output_back_to_lines() {
        let lines = vec![line("a b"), line("c"), None, line("d"), line("e")];
        let mut l = Ledger::new(&lines, &[]);
        assert_eq!(l.pending(), vec![0, 1, 3, 4]);
        l.issued(&l.pending(), 1, false, 1);
        let mut log = AttemptLog::new(lines.len());
        assert_eq!(
            l.on_event(&mut log, "t", Pipe::Stdout, success("a b")),
            Some(0)
        );
        // A second success line for the same object changes nothing.
        assert_eq!(
            l.on_event(&mut log, "t", Pipe::Stdout, success("a b")),
            None
        );
        l.on_event(&mut log, "t", Pipe::Stdout, error("c", "NoSuchKey: gone"));
        l.on_event(&mut log, "t", Pipe::Stdout, error("d", "SlowDown: please"));
        l.on_event(&mut log, "t", Pipe::Stdout, success("not-planned"));
        l.on_event(
            &mut log,
            "t",
            Pipe::Stderr,
            Event::Unparsed("WARNING".into()),
        );
        l.on_event(&mut log, "t", Pipe::Stderr, Event::Unparsed("  ".into()));
        l.end_attempt(&[0, 1, 3, 4], log);
        assert_eq!(l.out.states[0], Some(LineState::Done { size: Some(3) }));
        assert!(matches!(
            l.out.states[1],
            Some(LineState::Failed {
                class: ErrorClass::Permanent,
                ..
            })
        ));
        // Throttled and silent lines stay pending for the next attempt.
        assert_eq!(l.pending(), vec![3, 4]);
        assert_eq!(l.out.counts.throttled, 1);
        assert_eq!(l.out.counts.unplanned, 1);
        assert_eq!(l.out.counts.unparsed, 1);
        assert_eq!(l.out.unparsed, vec!["WARNING".to_string()]);
        assert_eq!((l.out.lines_issued, l.out.counts.processes), (4, 1));
        let out = l.finish(2);
        assert_eq!(out.workers_last, 2);
        assert!(out.is_done(0) && !out.is_done(3));
        match &out.states[4] {
            Some(LineState::Failed { error, class }) => {
                assert_eq!(error, "s5cmd printed no outcome for this object");
                assert_eq!(*class, ErrorClass::Transient);
            }
            other => panic!("{other:?}"),
        }
        // The unwritable line is the caller's to fail.
        assert_eq!(out.states[2], None);
    }

    #[test]
    fn a_folder_line_stands_for_its_members_on_the_first_attempt_only() {
        let lines = vec![line("x/1"), line("x/2"), line("y")];
        let folders = vec![FolderLine {
            text: "cp 's3://src/x/*' 's3://dst/x/'".into(),
            members: vec![0, 1],
        }];
        let mut l = Ledger::new(&lines, &folders);
        let pending = l.pending();
        assert_eq!(
            l.texts(&pending, true),
            vec![
                folders[0].text.as_str(),
                lines[2].as_ref().unwrap().text.as_str()
            ]
        );
        l.issued(&pending, 1, true, 1);
        assert_eq!(l.out.folder_lines, 1);
        let mut log = AttemptLog::new(3);
        l.on_event(&mut log, "t", Pipe::Stdout, success("x/1"));
        log.process_error = Some("s5cmd was killed by signal 9".into());
        l.end_attempt(&pending, log);
        let retry = l.pending();
        assert_eq!(retry, vec![1, 2]);
        assert_eq!(l.texts(&retry, false).len(), 2);
        let out = l.finish(1);
        match &out.states[1] {
            Some(LineState::Failed { error, .. }) => {
                assert_eq!(error, "s5cmd was killed by signal 9")
            }
            other => panic!("{other:?}"),
        }
    }

    /// `run_streamed`: a line not released yet is neither run nor failed; once released it
    /// is pending like any other, and one never released is left to the caller.
    #[test]
    fn held_lines_wait_for_their_release() {
        let lines = vec![line("a.zip.CHECKSUM"), line("b.zip.CHECKSUM")];
        let mut l = Ledger::new(&lines, &[]);
        l.held = vec![true; 2];
        assert!(l.pending().is_empty());
        l.release(Item::Line(1));
        assert_eq!(l.pending(), vec![1]);
        l.issued(&[1], 1, false, 1);
        let mut log = AttemptLog::new(2);
        assert_eq!(
            l.on_event(&mut log, "t", Pipe::Stdout, success("b.zip.CHECKSUM")),
            Some(1)
        );
        l.end_attempt(&[1], log);
        let out = l.finish(1);
        assert_eq!(out.states[0], None);
        assert_eq!(out.states[1], Some(LineState::Done { size: Some(3) }));
        assert_eq!(out.tries, vec![0, 1]);
    }

    /// A wildcard line whose members are not all released is never written: it would copy
    /// a CHECKSUM whose zip has not landed.
    #[test]
    fn a_folder_with_held_members_is_not_written() {
        let lines = vec![line("x/1"), line("x/2"), line("y/1"), line("y/2")];
        let folders = vec![
            FolderLine {
                text: "cp 's3://src/x/*' 's3://dst/x/'".into(),
                members: vec![0, 1],
            },
            FolderLine {
                text: "cp 's3://src/y/*' 's3://dst/y/'".into(),
                members: vec![2, 3],
            },
        ];
        let mut l = Ledger::new(&lines, &folders);
        l.held = vec![true; 4];
        l.release(Item::Folder(0));
        l.release(Item::Line(2));
        let pending = l.pending();
        assert_eq!(pending, vec![0, 1, 2]);
        // x/ goes as its wildcard line; y/ is held (y/2), so only y/1 goes, alone, later.
        assert_eq!(l.items(&pending, true), vec![Item::Folder(0)]);
        assert_eq!(
            l.items(&pending, false),
            vec![Item::Line(0), Item::Line(1), Item::Line(2)]
        );
    }

    #[test]
    fn an_interrupted_run_says_so_for_every_open_line() {
        let lines = vec![line("a")];
        let mut l = Ledger::new(&lines, &[]);
        l.out.counts.interrupted = true;
        match &l.finish(1).states[0] {
            Some(LineState::Failed { error, .. }) => {
                assert_eq!(error, "interrupted before completion")
            }
            other => panic!("{other:?}"),
        }
    }
}
