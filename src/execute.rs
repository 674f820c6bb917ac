//! Running one batch of server-side copies through s5cmd, with attempts.
//!
//! Each attempt writes a private command file for the objects still pending, runs
//! `s5cmd --json --numworkers N run FILE`, and maps every output line back to its object
//! through our own tables (never by splitting s5cmd's text on spaces: keys contain
//! spaces). Each object ends with exactly one outcome: copied (a success line), failed (a
//! permanent error, or attempts exhausted), where an object with no line at all is
//! "unknown" and retried like a transient error.

use std::collections::HashMap;
use std::ffi::OsString;
use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::batch::Batch;
use crate::s3url::S3Url;
use crate::s5cmd::cmdfile::{self, copy_line, echoed_command};
use crate::s5cmd::{self, ErrorClass, Event, Globals, Pipe, classify_error};
use crate::signals::Interrupt;

/// Everything needed to run batches.
#[derive(Debug, Clone)]
pub struct Executor {
    pub binary: PathBuf,
    pub globals: Globals,
    pub source: S3Url,
    pub dest: S3Url,
    /// Private (0700) folder for command files.
    pub workdir: PathBuf,
    pub max_attempts: u32,
    pub backoff_base: Duration,
    pub batch_timeout: Option<Duration>,
    pub grace: Duration,
    pub interrupt: Interrupt,
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
    /// Indexes (into the batch's items) of the objects copied, ascending.
    pub copied: Vec<usize>,
    pub failures: Vec<Failure>,
    pub attempts: u32,
    /// Command lines handed to s5cmd, over all attempts.
    pub lines_issued: u64,
    /// Objects tried again after a failed or silent attempt.
    pub retried: u64,
    pub throttled: u64,
    pub seconds: f64,
    pub workers: u32,
    /// Output lines s5cmd printed that were not the JSON we expect (kept: a few).
    pub unparsed: Vec<String>,
    pub unparsed_count: u64,
    pub interrupted: bool,
    pub timed_out: bool,
}

const UNPARSED_KEPT: usize = 5;

enum State {
    Pending,
    Copied,
    Failed,
}

impl Executor {
    /// Backoff before attempt `n` (2, 3, ...): base * 2^(n-2), at most 30 s.
    fn backoff(&self, next_attempt: u32) -> Duration {
        let exp = next_attempt.saturating_sub(2).min(16);
        (self.backoff_base * 2u32.pow(exp)).min(Duration::from_secs(30))
    }

    pub async fn run_batch(&self, batch: &Batch, workers: u32) -> BatchOutcome {
        let started = Instant::now();
        let n = batch.items.len();
        let mut out = BatchOutcome {
            index: batch.index,
            files: n,
            workers,
            ..Default::default()
        };
        let src_urls: Vec<String> = batch
            .items
            .iter()
            .map(|i| self.source.url_of(&i.object.key))
            .collect();
        let dst_urls: Vec<String> = batch
            .items
            .iter()
            .map(|i| self.dest.url_of(&i.object.key))
            .collect();
        let mut state: Vec<State> = (0..n).map(|_| State::Pending).collect();
        let mut last_error: Vec<Option<(String, ErrorClass)>> = vec![None; n];
        let mut tries = vec![0u32; n];

        // Objects whose key cannot be written into a command file fail now, alone.
        let mut lines: Vec<Option<String>> = Vec::with_capacity(n);
        for i in 0..n {
            match copy_line(&src_urls[i], &dst_urls[i]) {
                Ok(l) => lines.push(Some(l)),
                Err(e @ cmdfile::CmdFileError::ControlCharacter(_)) => {
                    state[i] = State::Failed;
                    last_error[i] = Some((e.to_string(), ErrorClass::Permanent));
                    lines.push(None);
                }
            }
        }
        let by_dst: HashMap<&str, usize> = dst_urls
            .iter()
            .enumerate()
            .map(|(i, u)| (u.as_str(), i))
            .collect();
        let by_cmd: HashMap<String, usize> = (0..n)
            .map(|i| (echoed_command(&src_urls[i], &dst_urls[i]), i))
            .collect();

        let mut workers_now = workers.max(1);
        for attempt in 1..=self.max_attempts.max(1) {
            let pending: Vec<usize> = (0..n)
                .filter(|&i| matches!(state[i], State::Pending))
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
                    batch = batch.index,
                    attempt,
                    objects = pending.len(),
                    wait_ms = wait.as_millis() as u64,
                    "retrying objects without a success line"
                );
                let mut irx = self.interrupt.subscribe();
                tokio::select! {
                    () = tokio::time::sleep(wait) => {}
                    _ = irx.wait_for(|s| s.is_some()) => { out.interrupted = true; break; }
                }
            }
            out.attempts = attempt;
            let file = self
                .workdir
                .join(format!("batch-{:06}-attempt-{attempt}.txt", batch.index));
            if let Err(e) =
                write_command_file(&file, pending.iter().filter_map(|&i| lines[i].as_deref()))
            {
                for &i in &pending {
                    last_error[i] = Some((
                        format!("cannot write the command file {}: {e}", file.display()),
                        ErrorClass::Transient,
                    ));
                }
                continue;
            }
            for &i in &pending {
                tries[i] = attempt;
            }
            out.lines_issued += pending.len() as u64;

            let mut args: Vec<OsString> = self.globals.args();
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
                                ..
                            } => {
                                let idx = by_dst
                                    .get(destination.as_str())
                                    .copied()
                                    .or_else(|| src_urls.iter().position(|s| *s == source));
                                if let Some(i) = idx
                                    && matches!(state[i], State::Pending)
                                {
                                    state[i] = State::Copied;
                                    had_line[i] = true;
                                }
                            }
                            Event::Error { command, error, .. } => {
                                match by_cmd.get(command.as_str()) {
                                    Some(&i) => {
                                        let class = classify_error(&error);
                                        if class == ErrorClass::Throttled {
                                            throttled_now += 1;
                                        }
                                        if class == ErrorClass::Permanent
                                            && matches!(state[i], State::Pending)
                                        {
                                            state[i] = State::Failed;
                                        }
                                        last_error[i] = Some((error, class));
                                        had_line[i] = true;
                                    }
                                    None => {
                                        tracing::warn!(batch = batch.index, %error, "s5cmd reported an error for no object of ours");
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
                                    tracing::debug!(batch = batch.index, line = %line, "s5cmd stderr");
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
            // Objects with no line in this attempt: unknown, so retried.
            for &i in &pending {
                if matches!(state[i], State::Pending) && !had_line[i] {
                    let why = process_error
                        .clone()
                        .unwrap_or_else(|| "s5cmd printed no outcome for this object".into());
                    last_error[i] = Some((why, ErrorClass::Transient));
                }
            }
            if throttled_now > 0 && workers_now > 1 {
                workers_now = (workers_now / 2).max(1);
                tracing::warn!(
                    batch = batch.index,
                    throttled = throttled_now,
                    workers = workers_now,
                    "throttled by the server: halving workers for the retry"
                );
            }
            if out.interrupted {
                break;
            }
        }

        for i in 0..n {
            match state[i] {
                State::Copied => out.copied.push(i),
                State::Pending | State::Failed => {
                    let (error, class) = last_error[i]
                        .clone()
                        .unwrap_or_else(|| ("not attempted".into(), ErrorClass::Transient));
                    let error = if out.interrupted && matches!(state[i], State::Pending) {
                        "interrupted before completion".to_string()
                    } else {
                        error
                    };
                    out.failures.push(Failure {
                        key: self.dest.key(&batch.items[i].object.key),
                        source: src_urls[i].clone(),
                        error,
                        class,
                        attempts: tries[i],
                    });
                }
            }
        }
        out.seconds = started.elapsed().as_secs_f64();
        out
    }
}

/// Write a command file readable by us only (0600): it names every key of the batch.
fn write_command_file<'a>(
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
        let e = Executor {
            binary: "s5cmd".into(),
            globals: Globals::default(),
            source: S3Url::parse("--source", "s3://src").unwrap(),
            dest: S3Url::parse("--dest", "s3://dst").unwrap(),
            workdir: "/tmp".into(),
            max_attempts: 3,
            backoff_base: Duration::from_millis(500),
            batch_timeout: None,
            grace: Duration::from_secs(1),
            interrupt: Interrupt::never(),
        };
        assert_eq!(e.backoff(2), Duration::from_millis(500));
        assert_eq!(e.backoff(3), Duration::from_millis(1000));
        assert_eq!(e.backoff(4), Duration::from_millis(2000));
        assert_eq!(e.backoff(40), Duration::from_secs(30));
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
}
