//! The per-batch strategies: direct (server-side copy), staged (see `staged`), and auto
//! (direct, then staged for whatever direct could not copy), all on the attempt loop in
//! `attempt`.

use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Instant;

use crate::plan::batch::{Batch, FolderRange};
use crate::run::attempt::{AttemptsOutcome, FolderLine, Line, LineState, Runner, UNPARSED_KEPT};
use crate::run::outcome::{Counters, Failure};
use crate::run::staged::{self, StagedConfig};
use crate::s3url::S3Url;
use crate::s5cmd::cmdfile::{copy_line, folder_copy_line};
use crate::s5cmd::{ErrorClass, Globals};

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

/// What happened to one batch.
#[derive(Debug, Clone, Default)]
pub struct BatchOutcome {
    pub index: usize,
    pub files: usize,
    /// Indexes (into the batch's items) of the objects in place, ascending.
    pub copied: Vec<usize>,
    pub failures: Vec<Failure>,
    pub seconds: f64,
    pub workers: u32,
    /// The first few unparsed lines (all are counted in `counts.unparsed`).
    pub unparsed: Vec<String>,
    pub counts: Counters,
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
            out.counts.ops.copy += r.lines_issued;
            out.counts.ops.list += r.folder_lines;
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
                        out.counts.direct_files += 1;
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
                        if self.strategy == Strategy::DirectWithFallback && !out.counts.interrupted
                        {
                            to_stage.push(i);
                        }
                    }
                    (Some(_), None) => {}
                }
            }
            to_stage.sort_unstable();
        }

        if !to_stage.is_empty() && !out.counts.interrupted {
            let fallback = self.strategy == Strategy::DirectWithFallback;
            let items: Vec<&crate::plan::batch::Item> =
                to_stage.iter().map(|&i| &batch.items[i]).collect();
            let s = staged::run(&self.staged, &self.runner, batch.index, &items, workers).await;
            out.counts += s.counts;
            out.counts.staged_files += to_stage.len() as u64;
            for (j, &i) in to_stage.iter().enumerate() {
                tries[i] += s.tries[j];
                match &s.results[j] {
                    Ok(()) => {
                        result[i] = Some(Ok(()));
                        if fallback {
                            out.counts.fallback += 1;
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
        out.counts += r.counts;
        out.unparsed
            .extend(r.unparsed.iter().take(UNPARSED_KEPT).cloned());
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
