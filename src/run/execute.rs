//! Running command lines through s5cmd with attempts, and the per-batch strategies built on
//! it: direct (server-side copy), staged (see `staged`), and auto (direct, then staged for
//! whatever direct could not copy).
//!
//! Each attempt writes a private command file for the lines still pending, runs
//! `s5cmd --json --numworkers N run FILE`, and maps every output line back to its line
//! through our own tables (never by splitting s5cmd's text on spaces: keys contain spaces).
//! Each line ends with exactly one outcome: done (a success line), or failed (a permanent
//! error, or attempts exhausted). A line with no output at all is "unknown" and retried like
//! a transient error.

use std::collections::HashMap;
use std::ffi::OsString;
use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::os::signals::Interrupt;
use crate::plan::batch::{Batch, FolderRange};
use crate::run::staged::{self, StagedConfig};
use crate::s3url::S3Url;
use crate::s5cmd::cmdfile::{copy_line, echoed_command, folder_copy_line};
use crate::s5cmd::{self, ErrorClass, Event, Globals, Pipe, classify_error};

/// s5cmd cannot server-side copy objects over 5 GiB (no multipart copy).
pub const MAX_SERVER_SIDE_COPY: u64 = 5 * 1024 * 1024 * 1024;

/// How objects travel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    /// Server-side copy only; failures stay failures.
    Direct,
    /// Download, verify, upload, clean up.
    Staged,
    /// Direct, and every object direct could not copy is re-run staged in the same batch.
    DirectWithFallback,
}

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
    pub attempts: u32,
    pub lines_issued: u64,
    pub retried: u64,
    pub throttled: u64,
    pub processes: u64,
    /// Wildcard folder lines issued (each one LIST request besides the copies).
    pub folder_lines: u64,
    /// Success lines for objects that were not planned (a folder copy met objects that
    /// appeared after the listing).
    pub unplanned: u64,
    pub unparsed: Vec<String>,
    pub unparsed_count: u64,
    pub interrupted: bool,
    pub timed_out: bool,
    pub workers_last: u32,
}

impl AttemptsOutcome {
    pub fn is_done(&self, i: usize) -> bool {
        matches!(self.states.get(i), Some(Some(LineState::Done { .. })))
    }
}

const UNPARSED_KEPT: usize = 5;

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
        self.run_lines_with_folders(tag, globals, workers, lines, &[], None)
            .await
    }

    /// `run_lines`, where the first attempt writes each of `folders` instead of its
    /// members' lines; `live` counts lines done as their success lines arrive (progress).
    pub async fn run_lines_with_folders(
        &self,
        tag: &str,
        globals: &Globals,
        workers: u32,
        lines: &[Option<Line>],
        folders: &[FolderLine],
        live: Option<&AtomicU64>,
    ) -> AttemptsOutcome {
        let n = lines.len();
        let mut in_folder = vec![false; n];
        for f in folders {
            for &m in &f.members {
                if let Some(x) = in_folder.get_mut(m) {
                    *x = true;
                }
            }
        }
        let mut out = AttemptsOutcome {
            states: vec![None; n],
            tries: vec![0; n],
            workers_last: workers.max(1),
            ..Default::default()
        };
        let mut last_error: Vec<Option<(String, ErrorClass)>> = vec![None; n];
        let by_dst: HashMap<&str, usize> = lines
            .iter()
            .enumerate()
            .filter_map(|(i, l)| l.as_ref().map(|l| (l.dst.as_str(), i)))
            .collect();
        let by_src: HashMap<&str, usize> = lines
            .iter()
            .enumerate()
            .filter_map(|(i, l)| l.as_ref().map(|l| (l.src.as_str(), i)))
            .collect();
        let by_echo: HashMap<&str, usize> = lines
            .iter()
            .enumerate()
            .filter_map(|(i, l)| l.as_ref().map(|l| (l.echo.as_str(), i)))
            .collect();
        let mut workers_now = workers.max(1);

        for attempt in 1..=self.max_attempts.max(1) {
            let pending: Vec<usize> = (0..n)
                .filter(|&i| lines[i].is_some() && out.states[i].is_none())
                .collect();
            if pending.is_empty() {
                break;
            }
            if self.interrupt.signal().is_some() {
                out.interrupted = true;
                break;
            }
            if attempt > 1 {
                out.retried += pending.len() as u64;
                let wait = self.backoff(attempt);
                tracing::info!(
                    tag,
                    attempt,
                    objects = pending.len(),
                    wait_ms = wait.as_millis() as u64,
                    "retrying lines without a success line"
                );
                let mut irx = self.interrupt.subscribe();
                tokio::select! {
                    () = tokio::time::sleep(wait) => {}
                    _ = irx.wait_for(|s| s.is_some()) => { out.interrupted = true; break; }
                }
            }
            out.attempts = attempt;
            let file = self.workdir.join(format!("{tag}-attempt-{attempt}.txt"));
            let first = attempt == 1 && !folders.is_empty();
            let folder_texts = folders.iter().filter(|_| first).map(|f| f.text.as_str());
            let line_texts = pending
                .iter()
                .filter(|&&i| !(first && in_folder[i]))
                .filter_map(|&i| lines[i].as_ref().map(|l| l.text.as_str()));
            if let Err(e) = write_command_file(&file, folder_texts.chain(line_texts)) {
                for &i in &pending {
                    last_error[i] = Some((
                        format!("cannot write the command file {}: {e}", file.display()),
                        ErrorClass::Transient,
                    ));
                }
                continue;
            }
            for &i in &pending {
                out.tries[i] = attempt;
            }
            out.lines_issued += pending.len() as u64;
            if first {
                out.folder_lines += folders.len() as u64;
            }
            out.processes += 1;

            let mut args: Vec<OsString> = globals.args();
            args.push("--numworkers".into());
            args.push(workers_now.to_string().into());
            args.push("run".into());
            args.push(file.clone().into());
            let mut throttled_now = 0u64;
            let mut had_line = vec![false; n];
            let mut process_error: Option<String> = None;
            match s5cmd::process::spawn(
                &self.binary,
                &args,
                self.batch_timeout,
                self.grace,
                &self.interrupt,
            ) {
                Err(e) => process_error = Some(format!("cannot start s5cmd: {e}")),
                Ok(mut running) => {
                    while let Some((pipe, event)) = running.events.recv().await {
                        match event {
                            Event::Success {
                                destination,
                                source,
                                size,
                                ..
                            } => {
                                let idx = by_dst
                                    .get(destination.as_str())
                                    .or_else(|| by_src.get(source.as_str()))
                                    .copied();
                                match idx {
                                    Some(i) if out.states[i].is_none() => {
                                        out.states[i] = Some(LineState::Done { size });
                                        had_line[i] = true;
                                        if let Some(live) = live {
                                            live.fetch_add(1, Ordering::Relaxed);
                                        }
                                    }
                                    Some(_) => {}
                                    None => {
                                        out.unplanned += 1;
                                        tracing::warn!(tag, %source, "s5cmd copied an object that was not planned (it appeared after the listing)");
                                    }
                                }
                            }
                            Event::Error { command, error, .. } => {
                                match by_echo.get(command.as_str()) {
                                    Some(&i) => {
                                        let class = classify_error(&error);
                                        if class == ErrorClass::Throttled {
                                            throttled_now += 1;
                                        }
                                        if class == ErrorClass::Permanent && out.states[i].is_none()
                                        {
                                            out.states[i] = Some(LineState::Failed {
                                                error: error.clone(),
                                                class,
                                            });
                                        }
                                        last_error[i] = Some((error, class));
                                        had_line[i] = true;
                                    }
                                    None => {
                                        tracing::warn!(tag, %error, %command, "s5cmd reported an error for no line of ours");
                                        if classify_error(&error) == ErrorClass::Throttled {
                                            throttled_now += 1;
                                        }
                                        process_error.get_or_insert(error);
                                    }
                                }
                            }
                            Event::Unparsed(line) => {
                                if line.trim().is_empty() {
                                    continue;
                                }
                                out.unparsed_count += 1;
                                if out.unparsed.len() < UNPARSED_KEPT {
                                    out.unparsed.push(line.clone());
                                }
                                if pipe == Pipe::Stderr {
                                    tracing::debug!(tag, line = %line, "s5cmd stderr");
                                }
                            }
                            Event::Stat { .. } | Event::Listing(_) => {}
                        }
                    }
                    match running.wait().await {
                        Ok(exit) => {
                            out.interrupted |= exit.interrupted;
                            out.timed_out |= exit.timed_out;
                            if exit.timed_out {
                                process_error = Some(format!(
                                    "batch watchdog: s5cmd ran past --batch-timeout {}s and was killed",
                                    self.batch_timeout.map_or(0, |d| d.as_secs())
                                ));
                            } else if exit.interrupted {
                                process_error = Some("interrupted before completion".into());
                            } else if let Some(sig) = exit.signal {
                                process_error = Some(format!("s5cmd was killed by signal {sig}"));
                            }
                        }
                        Err(e) => process_error = Some(format!("waiting for s5cmd failed: {e}")),
                    }
                }
            }
            let _ = std::fs::remove_file(&file);
            out.throttled += throttled_now;
            // Lines with no output in this attempt: unknown, so retried.
            for &i in &pending {
                if out.states[i].is_none() && !had_line[i] {
                    let why = process_error
                        .clone()
                        .unwrap_or_else(|| "s5cmd printed no outcome for this object".into());
                    last_error[i] = Some((why, ErrorClass::Transient));
                }
            }
            if throttled_now > 0 && workers_now > 1 {
                workers_now = (workers_now / 2).max(1);
                tracing::warn!(
                    tag,
                    throttled = throttled_now,
                    workers = workers_now,
                    "throttled by the server: halving workers for the retry"
                );
            }
            if out.interrupted {
                break;
            }
        }
        out.workers_last = workers_now;
        for i in 0..n {
            if out.states[i].is_none() && lines[i].is_some() {
                let (error, class) = match (&last_error[i], out.interrupted) {
                    (_, true) => (
                        "interrupted before completion".into(),
                        ErrorClass::Transient,
                    ),
                    (Some(e), false) => e.clone(),
                    (None, false) => ("not attempted".into(), ErrorClass::Transient),
                };
                out.states[i] = Some(LineState::Failed { error, class });
            }
        }
        out
    }
}

/// Everything needed to run batches.
#[derive(Debug, Clone)]
pub struct Executor {
    pub runner: Runner,
    pub strategy: Strategy,
    /// Globals for server-side copies (the destination's credentials).
    pub copy_globals: Globals,
    pub source: S3Url,
    pub dest: S3Url,
    pub staged: StagedConfig,
    /// Objects copied server-side so far, counted as s5cmd reports them (for progress
    /// while a large batch runs).
    pub copied_live: Arc<AtomicU64>,
}

/// The final state of one object that did not make it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Failure {
    /// Destination key.
    pub key: String,
    pub source: String,
    pub error: String,
    pub class: ErrorClass,
    pub attempts: u32,
}

/// What happened to one batch.
#[derive(Debug, Clone, Default)]
pub struct BatchOutcome {
    pub index: usize,
    pub files: usize,
    /// Indexes (into the batch's items) of the objects in place, ascending.
    pub copied: Vec<usize>,
    pub failures: Vec<Failure>,
    pub attempts: u32,
    /// Objects copied by the staged path after a direct failure (auto mode).
    pub fallback: u64,
    /// Objects that went the staged way.
    pub staged_files: u64,
    /// Objects copied server-side.
    pub direct_files: u64,
    pub ops: OpCounts,
    pub retried: u64,
    pub throttled: u64,
    pub processes: u64,
    /// Objects a folder copy met that were not planned (see `AttemptsOutcome::unplanned`).
    pub unplanned: u64,
    pub seconds: f64,
    pub workers: u32,
    pub unparsed: Vec<String>,
    pub unparsed_count: u64,
    pub interrupted: bool,
    pub timed_out: bool,
    /// Zips verified against their .CHECKSUM / uploaded without one.
    pub verified: u64,
    pub unverified: u64,
    pub local_bytes_written: u64,
}

/// Object-level operations, by kind (listings for planning are counted elsewhere).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct OpCounts {
    /// Server-side CopyObject requests issued (one per object, retries included).
    pub copy: u64,
    /// Folder listings done by wildcard folder copies (one LIST request per folder line).
    pub list: u64,
    /// Download lines issued (staged).
    pub download: u64,
    /// Local size checks of downloaded files against the listing (staged).
    pub stat: u64,
    /// SHA-256 verifications against .CHECKSUM (staged).
    pub verify: u64,
    /// Upload lines issued (staged).
    pub upload: u64,
    /// Local files removed after upload (staged).
    pub cleanup: u64,
}

impl OpCounts {
    pub fn total(&self) -> u64 {
        self.copy + self.list + self.download + self.stat + self.verify + self.upload + self.cleanup
    }

    /// Times object bytes crossed the network.
    pub fn transfers(&self) -> u64 {
        self.copy + self.download + self.upload
    }
}

impl std::ops::AddAssign for OpCounts {
    fn add_assign(&mut self, o: Self) {
        self.copy += o.copy;
        self.list += o.list;
        self.download += o.download;
        self.stat += o.stat;
        self.verify += o.verify;
        self.upload += o.upload;
        self.cleanup += o.cleanup;
    }
}

impl Executor {
    pub async fn run_batch(&self, batch: &Batch, workers: u32) -> BatchOutcome {
        let started = Instant::now();
        let n = batch.items.len();
        let mut out = BatchOutcome {
            index: batch.index,
            files: n,
            workers,
            ..Default::default()
        };
        // Per item: None = still to do, Some(Ok) = in place, Some(Err) = failed.
        let mut result: Vec<Option<Result<(), Failure>>> = vec![None; n];
        let mut tries = vec![0u32; n];

        let (to_direct, mut to_stage): (Vec<usize>, Vec<usize>) = match self.strategy {
            Strategy::Staged => (Vec::new(), (0..n).collect()),
            Strategy::Direct => ((0..n).collect(), Vec::new()),
            Strategy::DirectWithFallback => {
                (0..n).partition(|&i| batch.items[i].object.size <= MAX_SERVER_SIDE_COPY)
            }
        };

        if !to_direct.is_empty() {
            let lines: Vec<Option<Line>> = to_direct
                .iter()
                .map(|&i| {
                    let key = &batch.items[i].object.key;
                    let (src, dst) = (self.source.url_of(key), self.dest.url_of(key));
                    copy_line(&src, &dst).ok().map(|t| Line::new(t, src, dst))
                })
                .collect();
            let folders = self.folder_lines(batch, &to_direct);
            let tag = format!("batch-{:06}-copy", batch.index);
            let r = self
                .runner
                .run_lines_with_folders(
                    &tag,
                    &self.copy_globals,
                    workers,
                    &lines,
                    &folders,
                    Some(&self.copied_live),
                )
                .await;
            self.absorb(&mut out, &r);
            out.ops.copy += r.lines_issued;
            out.ops.list += r.folder_lines;
            out.unplanned += r.unplanned;
            for (j, &i) in to_direct.iter().enumerate() {
                tries[i] = r.tries[j];
                match (&lines[j], &r.states[j]) {
                    (None, _) => {
                        let key = &batch.items[i].object.key;
                        let err = copy_line(&self.source.url_of(key), &self.dest.url_of(key))
                            .err()
                            .map_or_else(|| "cannot be written".into(), |e| e.to_string());
                        result[i] =
                            Some(Err(self.failure(batch, i, err, ErrorClass::Permanent, 0)));
                    }
                    (Some(_), Some(LineState::Done { .. })) => {
                        result[i] = Some(Ok(()));
                        out.direct_files += 1;
                    }
                    (Some(_), Some(LineState::Failed { error, class })) => {
                        result[i] = Some(Err(self.failure(
                            batch,
                            i,
                            error.clone(),
                            *class,
                            r.tries[j],
                        )));
                        // The listing shows the object exists, so a failed server-side copy is
                        // worth a staged try whatever s5cmd said (it answers NoSuchKey for keys
                        // it cannot encode as a copy source).
                        if self.strategy == Strategy::DirectWithFallback && !out.interrupted {
                            to_stage.push(i);
                        }
                    }
                    (Some(_), None) => {}
                }
            }
            to_stage.sort_unstable();
        }

        if !to_stage.is_empty() && !out.interrupted {
            let fallback = self.strategy == Strategy::DirectWithFallback;
            let items: Vec<&crate::plan::batch::Item> =
                to_stage.iter().map(|&i| &batch.items[i]).collect();
            let s = staged::run(&self.staged, &self.runner, batch.index, &items, workers).await;
            out.staged_files += to_stage.len() as u64;
            out.ops += s.ops;
            out.verified += s.verified;
            out.unverified += s.unverified;
            out.local_bytes_written += s.local_bytes_written;
            out.retried += s.retried;
            out.throttled += s.throttled;
            out.processes += s.processes;
            out.unparsed_count += s.unparsed_count;
            out.interrupted |= s.interrupted;
            out.timed_out |= s.timed_out;
            out.attempts = out.attempts.max(s.attempts);
            for (j, &i) in to_stage.iter().enumerate() {
                tries[i] += s.tries[j];
                match &s.results[j] {
                    Ok(()) => {
                        result[i] = Some(Ok(()));
                        if fallback {
                            out.fallback += 1;
                        }
                    }
                    Err((error, class)) => {
                        let error = match (&result[i], fallback) {
                            (Some(Err(direct)), true) => {
                                format!("{error} (after the direct copy failed: {})", direct.error)
                            }
                            _ => error.clone(),
                        };
                        result[i] = Some(Err(self.failure(batch, i, error, *class, tries[i])));
                    }
                }
            }
        }

        for (i, r) in result.into_iter().enumerate() {
            match r {
                Some(Ok(())) => out.copied.push(i),
                Some(Err(f)) => out.failures.push(f),
                None => out.failures.push(self.failure(
                    batch,
                    i,
                    "interrupted before completion".into(),
                    ErrorClass::Transient,
                    tries[i],
                )),
            }
        }
        out.seconds = started.elapsed().as_secs_f64();
        out
    }

    /// The batch's whole prefixes as wildcard lines, members as indexes into `to_direct`
    /// (the items that go server-side, ascending).
    fn folder_lines(&self, batch: &Batch, to_direct: &[usize]) -> Vec<FolderLine> {
        let mut out = Vec::new();
        for f in &batch.folders {
            let members: Vec<usize> = (f.start..f.start + f.len)
                .filter_map(|i| to_direct.binary_search(&i).ok())
                .collect();
            // Every member must go server-side, or the wildcard would copy one twice.
            if members.len() != f.len {
                continue;
            }
            if let Ok(text) = prefix_copy_line(&self.source, &self.dest, f) {
                out.push(FolderLine { text, members });
            }
        }
        out
    }

    fn absorb(&self, out: &mut BatchOutcome, r: &AttemptsOutcome) {
        out.attempts = out.attempts.max(r.attempts);
        out.retried += r.retried;
        out.throttled += r.throttled;
        out.processes += r.processes;
        out.unparsed_count += r.unparsed_count;
        out.unparsed
            .extend(r.unparsed.iter().take(UNPARSED_KEPT).cloned());
        out.interrupted |= r.interrupted;
        out.timed_out |= r.timed_out;
    }

    fn failure(
        &self,
        batch: &Batch,
        i: usize,
        error: String,
        class: ErrorClass,
        attempts: u32,
    ) -> Failure {
        let key = &batch.items[i].object.key;
        Failure {
            key: self.dest.key(key),
            source: self.source.url_of(key),
            error,
            class,
            attempts,
        }
    }
}

/// The wildcard line copying every object under `f.prefix` into the same folder at `dest`
/// (used by runs and by `--dry-run --write-commands`, so both write the same line).
pub fn prefix_copy_line(
    source: &S3Url,
    dest: &S3Url,
    f: &FolderRange,
) -> Result<String, crate::s5cmd::cmdfile::CmdFileError> {
    folder_copy_line(
        &source.url_of(&f.prefix),
        &dest.url_of(crate::plan::folders::dir_of(&f.prefix)),
    )
}

/// Write a command file readable by us only (0600): it names every key of the batch.
pub fn write_command_file<'a>(
    path: &Path,
    lines: impl Iterator<Item = &'a str>,
) -> std::io::Result<()> {
    let f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    let mut w = std::io::BufWriter::new(f);
    for l in lines {
        w.write_all(l.as_bytes())?;
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

    #[test]
    fn op_counts_add_up() {
        let mut a = OpCounts {
            copy: 1,
            ..Default::default()
        };
        a += OpCounts {
            download: 1,
            stat: 1,
            verify: 1,
            upload: 1,
            cleanup: 1,
            copy: 0,
            list: 0,
        };
        assert_eq!(a.total(), 6);
        assert_eq!(a.transfers(), 3);
    }
}
