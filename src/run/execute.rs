//! The per-batch strategies: direct (server-side copy), staged (see `staged`), and auto
//! (direct, then staged for whatever direct could not copy), all on the attempt loop in
//! `attempt`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Instant;

use crate::plan::batch::Batch;
use crate::run::attempt::{
    AttemptsOutcome, Call, FolderLine, Item, Line, LineState, Runner, UNPARSED_KEPT, Watch,
};
use crate::run::outcome::{Counters, Failure};
use crate::run::staged::{self, StagedConfig};
use crate::run::throttle::Spread;
use crate::s3url::S3Url;
use crate::s5cmd::cmdfile::{copy_line, folder_copy_line, folder_copy_line_with};
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
    /// The governor's epoch when the batch started (set by the caller).
    pub epoch: u64,
    /// The first few unparsed lines (all are counted in `counts.unparsed`).
    pub unparsed: Vec<String>,
    pub counts: Counters,
    /// The partition prefixes its server-side lines went to, and which were throttled.
    pub spread: Spread,
}

/// Which server-side copy round of a batch: everything but the CHECKSUMs whose zip is in
/// the batch, then those CHECKSUMs once their zip is in place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Round {
    First,
    Checksums,
}

/// Per item of a batch: `None` = still to do, `Some(Ok)` = in place, `Some(Err)` = failed.
type Results = Vec<Option<Result<(), Failure>>>;

/// A batch's state through its rounds.
struct Progress<'a> {
    out: &'a mut BatchOutcome,
    result: &'a mut Results,
    tries: &'a mut [u32],
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
        let mut result: Results = vec![None; n];
        let mut tries = vec![0u32; n];

        let (to_direct, mut to_stage): (Vec<usize>, Vec<usize>) = match self.strategy {
            Strategy::Staged => (Vec::new(), (0..n).collect()),
            Strategy::Direct => ((0..n).collect(), Vec::new()),
            Strategy::DirectWithFallback => {
                (0..n).partition(|&i| batch.items[i].object.size <= MAX_SERVER_SIDE_COPY)
            }
        };
        // A CHECKSUM at the destination must mean its zip is there: a CHECKSUM whose zip is
        // in this batch is copied only after the zip landed. Those whose zip goes
        // server-side here follow it in a second s5cmd, each released by its zip's success
        // line; the rest (zips staged, or landed only on a retry round) go in a CHECKSUM
        // round at the end (the staged path orders its own uploads the same way).
        let keys: Vec<&str> = batch.items.iter().map(|i| i.object.key.as_str()).collect();
        let zip_of = staged::zip_of_checksums(&keys);
        let (deferred, first): (Vec<usize>, Vec<usize>) =
            to_direct.iter().partition(|&&i| zip_of[i].is_some());
        let state = &mut Progress {
            out: &mut out,
            result: &mut result,
            tries: &mut tries,
        };

        if !first.is_empty() {
            let fallback = self
                .first_round(
                    batch, &first, &deferred, &zip_of, &to_direct, workers, state,
                )
                .await;
            to_stage.extend(fallback);
            to_stage.sort_unstable();
            to_stage.dedup();
        }
        if !to_stage.is_empty() && !state.out.counts.interrupted {
            self.staged_round(batch, &to_stage, workers, state).await;
        }
        let mut ready = Vec::new();
        for &i in &deferred {
            let Some(z) = zip_of[i] else { continue };
            if state.result[i].is_some() {
                continue;
            }
            match &state.result[z] {
                Some(Ok(())) => ready.push(i),
                Some(Err(f)) => {
                    let error = format!("not copied: its zip {} failed ({})", f.key, f.error);
                    state.result[i] = Some(Err(self.failure(batch, i, error, f.class, 0)));
                }
                None => {}
            }
        }
        if !ready.is_empty() && !state.out.counts.interrupted {
            let lines = self.lines_of(batch, &ready);
            let folders = self.folder_lines(batch, &ready, &to_direct, Round::Checksums);
            let tag = format!("batch-{:06}-copy-checksums", batch.index);
            let r = self
                .runner
                .run_lines_with_folders(self.call(&tag, workers, &lines, &folders), self.watch())
                .await;
            let fallback = self.record(batch, &ready, &lines, &r, state);
            if !fallback.is_empty() && !state.out.counts.interrupted {
                self.staged_round(batch, &fallback, workers, state).await;
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

    /// The first server-side round: `first` (ascending; whole prefixes as wildcard lines
    /// without their zips' CHECKSUMs), and beside it, in a second s5cmd fed as the zips
    /// land, the `deferred` CHECKSUMs whose zip is in `first`. Returns the items worth a
    /// staged try (auto mode: whatever failed).
    #[expect(
        clippy::too_many_arguments,
        reason = "the batch's state, threaded through its rounds"
    )]
    async fn first_round(
        &self,
        batch: &Batch,
        first: &[usize],
        deferred: &[usize],
        zip_of: &[Option<usize>],
        to_direct: &[usize],
        workers: u32,
        state: &mut Progress<'_>,
    ) -> Vec<usize> {
        let lines = self.lines_of(batch, first);
        let folders = self.folder_lines(batch, first, to_direct, Round::First);
        // Per line of `first`: the index (into `followers`) of its CHECKSUM.
        let followers: Vec<usize> = deferred
            .iter()
            .copied()
            .filter(|&c| zip_of[c].is_some_and(|z| first.binary_search(&z).is_ok()))
            .collect();
        let mut follower_of: Vec<Option<usize>> = vec![None; first.len()];
        for (k, &c) in followers.iter().enumerate() {
            if let Some(j) = zip_of[c].and_then(|z| first.binary_search(&z).ok()) {
                follower_of[j] = Some(k);
            }
        }
        let follower_lines = self.lines_of(batch, &followers);
        // A whole prefix's CHECKSUMs go as one wildcard line (one LIST, and s5cmd spends
        // about a third of the CPU of a line per object on a wildcard's objects), released
        // when the last of their zips lands; the others one line each, with their zip.
        let cs_folders = self.folder_lines(batch, &followers, to_direct, Round::Checksums);
        let mut cs_folder_of: Vec<Option<usize>> = vec![None; followers.len()];
        for (f, folder) in cs_folders.iter().enumerate() {
            for &k in &folder.members {
                cs_folder_of[k] = Some(f);
            }
        }
        let zips_to_land: Vec<AtomicUsize> = cs_folders
            .iter()
            .map(|f| AtomicUsize::new(f.members.len()))
            .collect();
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<Item>();
        let tag = format!("batch-{:06}-copy", batch.index);
        let tag_cs = format!("batch-{:06}-copy-checksums", batch.index);
        let (lines_ref, folders_ref) = (&lines, &folders);
        let (follower_of, cs_folder_of, zips_to_land) =
            (&follower_of, &cs_folder_of, &zips_to_land);
        let lead = async move {
            let release = move |j: usize| {
                let Some(k) = follower_of[j] else { return };
                let item = match cs_folder_of[k] {
                    Some(f) if zips_to_land[f].fetch_sub(1, Ordering::Relaxed) == 1 => {
                        Item::Folder(f)
                    }
                    Some(_) => return,
                    None => Item::Line(k),
                };
                let _ = tx.send(item);
            };
            let watch = Watch {
                on_done: Some(&release),
                ..self.watch()
            };
            // `release` (and with it the channel's sender) ends with this call: the
            // CHECKSUMs' s5cmd then reads the end of its input.
            self.runner
                .run_lines_with_folders(self.call(&tag, workers, lines_ref, folders_ref), watch)
                .await
        };
        let (r, rc) = if followers.is_empty() {
            drop(rx);
            (lead.await, AttemptsOutcome::default())
        } else {
            let follow = self.runner.run_streamed(
                self.call(&tag_cs, workers, &follower_lines, &cs_folders),
                rx,
                self.watch(),
            );
            tokio::join!(lead, follow)
        };
        let mut fallback = self.record(batch, first, &lines, &r, state);
        if !followers.is_empty() {
            fallback.extend(self.record(batch, &followers, &follower_lines, &rc, state));
        }
        fallback
    }

    /// One line per item of `idx` (None: the key cannot be written as a command line).
    fn lines_of(&self, batch: &Batch, idx: &[usize]) -> Vec<Option<Line>> {
        idx.iter()
            .map(|&i| {
                let key = &batch.items[i].object.key;
                let (src, dst) = (self.source.url_of(key), self.dest.url_of(key));
                copy_line(&src, &dst).ok().map(|t| Line::new(t, src, dst))
            })
            .collect()
    }

    /// A server-side call: the destination's credentials, the copy lines' region flags.
    fn call<'a>(
        &'a self,
        tag: &'a str,
        workers: u32,
        lines: &'a [Option<Line>],
        folders: &'a [FolderLine],
    ) -> Call<'a> {
        Call {
            tag,
            globals: &self.copy_globals,
            workers,
            lines,
            folders,
        }
    }

    fn watch(&self) -> Watch<'_> {
        Watch {
            live: Some(&self.copied_live),
            on_done: None,
        }
    }

    /// Record a server-side call over `idx` (its `lines`); returns the items worth a staged
    /// try (auto mode: whatever failed). Lines without a state (never released) stay open.
    fn record(
        &self,
        batch: &Batch,
        idx: &[usize],
        lines: &[Option<Line>],
        r: &AttemptsOutcome,
        state: &mut Progress<'_>,
    ) -> Vec<usize> {
        let Progress { out, result, tries } = state;
        self.absorb(out, r);
        out.counts.ops.copy += r.lines_issued;
        out.counts.ops.list += r.folder_lines;
        let mut fallback = Vec::new();
        for (j, &i) in idx.iter().enumerate() {
            tries[i] += r.tries.get(j).copied().unwrap_or(0);
            match (&lines[j], r.states.get(j).and_then(Option::as_ref)) {
                (None, _) => {
                    let key = &batch.items[i].object.key;
                    let err = copy_line(&self.source.url_of(key), &self.dest.url_of(key))
                        .err()
                        .map_or_else(|| "cannot be written".into(), |e| e.to_string());
                    result[i] = Some(Err(self.failure(batch, i, err, ErrorClass::Permanent, 0)));
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
                    if self.strategy == Strategy::DirectWithFallback && !out.counts.interrupted {
                        fallback.push(i);
                    }
                }
                (Some(_), None) => {}
            }
        }
        fallback
    }

    /// Stage `idx` (ascending), recording the outcomes.
    async fn staged_round(
        &self,
        batch: &Batch,
        idx: &[usize],
        workers: u32,
        state: &mut Progress<'_>,
    ) {
        let Progress { out, result, tries } = state;
        let fallback = self.strategy == Strategy::DirectWithFallback;
        let items: Vec<&crate::plan::batch::Item> = idx.iter().map(|&i| &batch.items[i]).collect();
        let s = staged::run(&self.staged, &self.runner, batch.index, &items, workers).await;
        out.counts += s.counts;
        out.counts.staged_files += idx.len() as u64;
        for (j, &i) in idx.iter().enumerate() {
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

    /// The batch's whole prefixes as wildcard lines for one round, members as indexes into
    /// `idx` (the items of the round, ascending). First round: everything under the prefix
    /// but its zips' CHECKSUMs (`--exclude '*.zip.CHECKSUM'`); CHECKSUM round: only those
    /// (`PREFIX*.zip.CHECKSUM`). A prefix goes whole only when the round copies exactly the
    /// objects its line would (else a wildcard would copy one twice, or too early).
    fn folder_lines(
        &self,
        batch: &Batch,
        idx: &[usize],
        to_direct: &[usize],
        round: Round,
    ) -> Vec<FolderLine> {
        let is_cs = |i: usize| batch.items[i].object.key.ends_with(".zip.CHECKSUM");
        let mut out = Vec::new();
        for f in &batch.folders {
            let range = f.start..f.start + f.len;
            // Every object under the prefix goes server-side.
            if !range.clone().all(|i| to_direct.binary_search(&i).is_ok()) {
                continue;
            }
            let wanted: Vec<usize> = match round {
                Round::First => range.clone().filter(|&i| !is_cs(i)).collect(),
                Round::Checksums => range.clone().filter(|&i| is_cs(i)).collect(),
            };
            let members: Vec<usize> = wanted
                .iter()
                .filter_map(|i| idx.binary_search(i).ok())
                .collect();
            // Every wanted object is in this round (first round: a CHECKSUM without its zip
            // would be excluded by the pattern; CHECKSUM round: one whose zip failed).
            if members.is_empty() || members.len() != wanted.len() {
                continue;
            }
            let any_cs = range.clone().any(is_cs);
            let src = self.source.url_of(&f.prefix);
            let dst = self.dest.url_of(crate::plan::folders::dir_of(&f.prefix));
            let text = match round {
                Round::First if any_cs => {
                    folder_copy_line_with(&src, "", Some("*.zip.CHECKSUM"), &dst)
                }
                Round::First => folder_copy_line(&src, &dst),
                Round::Checksums => folder_copy_line_with(&src, ".zip.CHECKSUM", None, &dst),
            };
            if let Ok(text) = text {
                out.push(FolderLine { text, members });
            }
        }
        out
    }

    /// The command lines a direct run writes for `batch` when every first attempt succeeds:
    /// the first round (whole prefixes as wildcard lines without their zips' CHECKSUMs, the
    /// rest one line each), then the CHECKSUMs (fed to a second s5cmd as their zips land:
    /// a whole prefix's as one wildcard line once all its zips are in place, the others
    /// one line each). For `--dry-run --write-commands`.
    pub fn first_attempt_lines(&self, batch: &Batch) -> Vec<String> {
        let all: Vec<usize> = (0..batch.items.len()).collect();
        let keys: Vec<&str> = batch.items.iter().map(|i| i.object.key.as_str()).collect();
        let zip_of = staged::zip_of_checksums(&keys);
        let (deferred, first): (Vec<usize>, Vec<usize>) =
            all.iter().partition(|&&i| zip_of[i].is_some());
        let mut out = Vec::new();
        for (round, idx) in [(Round::First, first), (Round::Checksums, deferred)] {
            let folders = self.folder_lines(batch, &idx, &all, round);
            let mut in_folder = vec![false; idx.len()];
            for f in &folders {
                out.push(f.text.clone());
                for &m in &f.members {
                    in_folder[m] = true;
                }
            }
            for (j, &i) in idx.iter().enumerate() {
                let key = &batch.items[i].object.key;
                match copy_line(&self.source.url_of(key), &self.dest.url_of(key)) {
                    Ok(line) if !in_folder[j] => out.push(line),
                    Ok(_) => {}
                    Err(e) => {
                        tracing::warn!(key = %key, error = %e, "not writable as a command line")
                    }
                }
            }
        }
        out
    }

    fn absorb(&self, out: &mut BatchOutcome, r: &AttemptsOutcome) {
        out.counts += r.counts;
        out.spread += r.spread.clone();
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
