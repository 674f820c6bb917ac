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

use std::collections::HashMap;
use std::ffi::OsString;
use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::os::signals::Interrupt;
use crate::run::outcome::Counters;
use crate::s5cmd::cmdfile::echoed_command;
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
}

impl AttemptsOutcome {
    pub fn is_done(&self, i: usize) -> bool {
        matches!(self.states.get(i), Some(Some(LineState::Done { .. })))
    }
}

pub(crate) const UNPARSED_KEPT: usize = 5;

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
        let mut ledger = Ledger::new(lines, folders);
        let mut workers_now = workers.max(1);
        for attempt in 1..=self.max_attempts.max(1) {
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
            let file = self.workdir.join(format!("{tag}-attempt-{attempt}.txt"));
            let first = attempt == 1 && !folders.is_empty();
            if let Err(e) = write_command_file(
                &file,
                ledger
                    .texts(&pending, first)
                    .into_iter()
                    .map(|t| globals.with_cp_regions(t)),
            ) {
                ledger.unwritten(
                    &pending,
                    format!("cannot write the command file {}: {e}", file.display()),
                );
                continue;
            }
            ledger.issued(&pending, attempt, first);
            let mut log = AttemptLog::new(lines.len());
            self.run_attempt(
                &file,
                globals,
                workers_now,
                tag,
                &mut ledger,
                &mut log,
                live,
            )
            .await;
            let _ = std::fs::remove_file(&file);
            let throttled = log.throttled;
            ledger.end_attempt(&pending, log);
            if throttled > 0 && workers_now > 1 {
                workers_now = (workers_now / 2).max(1);
                tracing::warn!(
                    tag,
                    throttled,
                    workers = workers_now,
                    "throttled by the server: halving workers for the retry"
                );
            }
            if ledger.out.counts.interrupted {
                break;
            }
        }
        ledger.finish(workers_now)
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

    /// One s5cmd process over the command file: every output line goes to the ledger, the
    /// process's own fate to the attempt log.
    #[expect(clippy::too_many_arguments, reason = "one attempt's whole context")]
    async fn run_attempt(
        &self,
        file: &Path,
        globals: &Globals,
        workers: u32,
        tag: &str,
        ledger: &mut Ledger<'_>,
        log: &mut AttemptLog,
        live: Option<&AtomicU64>,
    ) {
        let mut args: Vec<OsString> = globals.args();
        args.push("--numworkers".into());
        args.push(workers.to_string().into());
        args.push("run".into());
        args.push(file.into());
        let mut running = match s5cmd::process::spawn(
            &self.binary,
            &args,
            &globals.child_env(),
            self.batch_timeout,
            self.grace,
            &self.interrupt,
        ) {
            Ok(r) => r,
            Err(e) => {
                log.process_error = Some(format!("cannot start s5cmd: {e}"));
                return;
            }
        };
        while let Some((pipe, event)) = running.events.recv().await {
            if ledger.on_event(log, tag, pipe, event)
                && let Some(live) = live
            {
                live.fetch_add(1, Ordering::Relaxed);
            }
        }
        match running.wait().await {
            Ok(exit) => {
                ledger.out.counts.interrupted |= exit.interrupted;
                ledger.out.counts.timed_out |= exit.timed_out;
                if exit.timed_out {
                    log.process_error = Some(format!(
                        "batch watchdog: s5cmd ran past --batch-timeout {}s and was killed",
                        self.batch_timeout.map_or(0, |d| d.as_secs())
                    ));
                } else if exit.interrupted {
                    log.process_error = Some("interrupted before completion".into());
                } else if let Some(sig) = exit.signal {
                    log.process_error = Some(format!("s5cmd was killed by signal {sig}"));
                }
            }
            Err(e) => log.process_error = Some(format!("waiting for s5cmd failed: {e}")),
        }
    }
}

/// What one attempt's output said besides the lines' own outcomes.
#[derive(Debug)]
struct AttemptLog {
    /// Lines this attempt printed anything about.
    had_line: Vec<bool>,
    throttled: u64,
    /// An error naming no line of ours, or the process's own failure: what lines without
    /// any output are told.
    process_error: Option<String>,
}

impl AttemptLog {
    fn new(n: usize) -> Self {
        Self {
            had_line: vec![false; n],
            throttled: 0,
            process_error: None,
        }
    }
}

/// The pure ledger of one `run_lines` call: maps every s5cmd output line back to its
/// command line through our own tables (s5cmd's text is never split: keys contain spaces)
/// and keeps each line's state across attempts.
struct Ledger<'a> {
    lines: &'a [Option<Line>],
    folders: &'a [FolderLine],
    in_folder: Vec<bool>,
    by_dst: HashMap<&'a str, usize>,
    by_src: HashMap<&'a str, usize>,
    by_echo: HashMap<&'a str, usize>,
    last_error: Vec<Option<(String, ErrorClass)>>,
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
        Self {
            by_dst: index(|l| l.dst.as_str()),
            by_src: index(|l| l.src.as_str()),
            by_echo: index(|l| l.echo.as_str()),
            lines,
            folders,
            in_folder,
            last_error: vec![None; n],
            out: AttemptsOutcome {
                states: vec![None; n],
                tries: vec![0; n],
                ..Default::default()
            },
        }
    }

    /// Lines that can be written and have no outcome yet.
    fn pending(&self) -> Vec<usize> {
        (0..self.lines.len())
            .filter(|&i| self.lines[i].is_some() && self.out.states[i].is_none())
            .collect()
    }

    /// The command file of an attempt: on the `first`, each folder's wildcard line stands
    /// for its members.
    fn texts(&self, pending: &[usize], first: bool) -> Vec<&'a str> {
        let folders = self
            .folders
            .iter()
            .filter(|_| first)
            .map(|f| f.text.as_str());
        let lines = pending
            .iter()
            .filter(|&&i| !(first && self.in_folder[i]))
            .filter_map(|&i| self.lines[i].as_ref().map(|l| l.text.as_str()));
        folders.chain(lines).collect()
    }

    /// The command file could not be written: the pending lines stay pending.
    fn unwritten(&mut self, pending: &[usize], why: String) {
        for &i in pending {
            self.last_error[i] = Some((why.clone(), ErrorClass::Transient));
        }
    }

    /// The pending lines went to s5cmd in attempt `attempt`.
    fn issued(&mut self, pending: &[usize], attempt: u32, first: bool) {
        for &i in pending {
            self.out.tries[i] = attempt;
        }
        self.out.lines_issued += pending.len() as u64;
        if first {
            self.out.folder_lines += self.folders.len() as u64;
        }
        self.out.counts.processes += 1;
    }

    /// One output line of an attempt. True when it made a line done.
    fn on_event(&mut self, log: &mut AttemptLog, tag: &str, pipe: Pipe, event: Event) -> bool {
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
                        return true;
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
                    return false;
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
        false
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
            if self.out.states[i].is_none() && self.lines[i].is_some() {
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
        l.issued(&l.pending(), 1, false);
        let mut log = AttemptLog::new(lines.len());
        assert!(l.on_event(&mut log, "t", Pipe::Stdout, success("a b")));
        // A second success line for the same object changes nothing.
        assert!(!l.on_event(&mut log, "t", Pipe::Stdout, success("a b")));
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
        l.issued(&pending, 1, true);
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
