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
                out.counts.interrupted = true;
                break;
            }
            if attempt > 1 {
                out.counts.retried += pending.len() as u64;
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
                    _ = irx.wait_for(|s| s.is_some()) => { out.counts.interrupted = true; break; }
                }
            }
            out.counts.attempts = attempt;
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
            out.counts.processes += 1;

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
                                        out.counts.unplanned += 1;
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
                                out.counts.unparsed += 1;
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
                            out.counts.interrupted |= exit.interrupted;
                            out.counts.timed_out |= exit.timed_out;
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
            out.counts.throttled += throttled_now;
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
            if out.counts.interrupted {
                break;
            }
        }
        out.workers_last = workers_now;
        for i in 0..n {
            if out.states[i].is_none() && lines[i].is_some() {
                let (error, class) = match (&last_error[i], out.counts.interrupted) {
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
}
