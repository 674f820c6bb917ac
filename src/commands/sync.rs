//! The `sync` pipeline, stage by stage:
//! locate s5cmd -> probe the endpoint -> list both sides (streamed, `list::listing`) -> plan
//! (merge, folders, batches: `planner`) -> execute (s5cmd run, attempts: `run`) -> validate
//! (fresh listing) -> report.
//!
//! This module is the driver: it does the I/O and turns what happens into events that
//! [`state::RunState`] folds; the exit code and the report are pure functions of that state
//! (`state::exit_code`, `Report::from_run` in `report`).
//!
//! Listing and planning run on a blocking thread and hand batches over a small bounded
//! channel, so the first batch copies while the rest is still being listed, and memory
//! stays flat however many objects there are.

mod planner;
mod report;
pub mod state;

use std::collections::VecDeque;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::runtime::Handle;
use tokio::sync::mpsc;

use crate::error::Error;
use crate::list::paired::DEFAULT_GROUP_LINES;
use crate::list::sides::Sides;
use crate::os::progress::{Planned, Progress, Snapshot};
use crate::os::resources::Sampler;
use crate::os::signals::Interrupt;
use crate::os::workdir::make_workdir_taking;
use crate::plan::batch::Batch;
use crate::plan::view::PlanGroups;
use crate::report::history::HistoryEntry;
use crate::report::live_metrics::{Live, LiveInput};
use crate::report::metrics::MetricsInput;
use crate::report::pushgateway::Pusher;
use crate::report::{Report, RunFailure, Tool, now_rfc3339};
use crate::run::execute::{BatchOutcome, Executor, Strategy};
use crate::run::governor::{BatchSignal, Controller, Limits};
use crate::run::outcome::Failure;
use crate::run::staged::{STAGED_MAX_WORKERS, StagedConfig};
use crate::s3api::leftovers::UploadTracker;
use crate::s5cmd::ErrorClass;
use crate::settings::Settings;
use crate::validate::overlap::{Target, Validation, Validator};

use planner::Planner;
use report::RunContext;
use state::{BatchDone, RunEvent, RunState};

/// A run that could not produce a full report.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Env(#[from] Error),
}

/// The server-side copy lines of a batch, exactly as a direct run's first attempts would
/// write them (whole prefixes as wildcard lines, CHECKSUMs after their zips).
fn write_copy_lines(
    w: &mut impl std::io::Write,
    batch: &Batch,
    executor: &Executor,
) -> std::io::Result<()> {
    for line in executor.first_attempt_lines(batch) {
        writeln!(w, "{line}")?;
    }
    Ok(())
}

/// Run a sync as the settings say. Returns the report (whose `exit_code` says how it went).
pub async fn run(settings: &Settings, interrupt: Interrupt) -> Result<Report, RunError> {
    run_with(settings, interrupt, None).await
}

/// Run a sync, also recording every planned decision into `groups` (for `lakesync plan`).
pub async fn run_with(
    settings: &Settings,
    interrupt: Interrupt,
    groups: Option<Arc<Mutex<PlanGroups>>>,
) -> Result<Report, RunError> {
    let started_at = now_rfc3339();
    let t0 = Instant::now();
    let mut sides = Sides::prepare(settings, &interrupt).await?;
    // After the endpoint probe (an unreachable endpoint is said at once, not after a wait).
    let with_regions = with_asked_regions(settings).await;
    let settings = with_regions.as_ref().unwrap_or(settings);
    sides.source_globals = settings.source_globals();
    sides.dest_globals = settings.dest_globals();
    let (workdir, stale_uploads) = make_workdir_taking(settings.temp_dir.as_deref(), true)?;
    let uploads = Arc::new(UploadTracker::new(workdir.path(), &sides.dest_globals));
    if !settings.output.dry_run {
        uploads.abort_stale(stale_uploads).await;
    }
    let planned = Arc::new(Planned::default());
    let planner = Planner {
        handle: Handle::current(),
        source_lister: sides.lister(&sides.source_globals),
        dest_lister: sides.lister(&sides.dest_globals),
        settings: settings.clone(),
        planned: planned.clone(),
        groups,
        list_dir: workdir.path().to_path_buf(),
    };
    let (batch_tx, batch_rx) = mpsc::channel::<Batch>(2);
    let planning = tokio::task::spawn_blocking(move || planner.run(batch_tx));
    let executor = executor(settings, &sides, workdir.path(), &uploads);
    let limits = limits(settings);
    // Validation lists what each batch copied while the next batches copy.
    let validator = (!settings.output.dry_run).then(|| {
        Validator::start(Target {
            lister: sides.lister(&sides.dest_globals),
            folder: settings.dest.clone(),
            in_flight: settings.list_concurrency,
            group_lines: DEFAULT_GROUP_LINES.max(settings.list_concurrency),
            dir: workdir.path().to_path_buf(),
        })
    });
    let mut driver = Driver::new(settings, &interrupt, &executor, planned, limits, validator)?;

    driver.copy_batches(batch_rx).await;
    driver.progress.finish();
    let resources = driver.sampler.take().map(|s| {
        let overhead = s.sampling_overhead();
        let mut r = s.stop();
        // Keep the report readable: two decimals are plenty for percentages.
        r.cpu_avg_pct = (r.cpu_avg_pct * 100.0).round() / 100.0;
        r.cpu_peak_pct = (r.cpu_peak_pct * 100.0).round() / 100.0;
        (r, overhead)
    });
    let (stats, error) = planning.await.map_err(|e| {
        Error::env(
            format!("the planner stopped unexpectedly: {e}"),
            "this is a bug: please report it",
        )
    })?;
    driver.finish_side_outputs();
    driver.state.handle(RunEvent::Planned { stats, error });
    if let Some(f) = driver.state.error.as_mut() {
        explain_region_failure(f, settings);
    }
    if interrupt.signal().is_some() {
        driver.state.handle(RunEvent::Interrupted);
    }
    if let Some(v) = driver.validator.take() {
        for event in validation_events(v.finish().await, settings) {
            driver.state.handle(event);
        }
    }
    let report = Report::from_run(
        &driver.state,
        &RunContext {
            settings,
            limits,
            tool: Tool {
                name: "lakesync",
                version: env!("CARGO_PKG_VERSION"),
                s5cmd_version: sides.binary.version.clone(),
                s5cmd_path: sides.binary.path.display().to_string(),
            },
            endpoint_url: sides.dest_globals.endpoint_url.clone(),
            timing: crate::report::Timing::ended_now(started_at, t0),
            resources: resources.as_ref().map(|(r, _)| r.clone()),
            sampler_overhead_ms: resources
                .as_ref()
                .map(|(_, o)| (o.as_secs_f64() * 1e5).round() / 100.0),
            lakesync_cpu_seconds: own_cpu_seconds(),
            signal: interrupt.signal(),
            multipart_uploads_aborted: uploads.aborted(),
            throttling: executor.runner.throttle.with(|t| t.summary()),
            history: settings.output.history.as_deref().and_then(|path| {
                crate::report::history::job_runs(path, &report::job_of(settings))
                    .map_err(|e| {
                        eprintln!(
                            "warning: cannot read --history {} for SLAs over history: {e}",
                            path.display()
                        );
                    })
                    .ok()
            }),
        },
    );
    let last_run = write_side_files(&report, settings);
    let t = &report.totals;
    driver
        .live
        .finish(
            &last_run,
            &LiveInput {
                mode: report.mode,
                in_progress: false,
                objects_done: t.copied + t.failed,
                objects_planned: t.planned,
                bytes_done: t.bytes_copied,
                bytes_planned: t.bytes_planned,
                listing_done: true,
                workers: report.batches.last().map_or(0, |b| b.next_workers),
                failures: t.failed,
                throttles: t.throttled,
                started_unix: 0.0,
                updated_unix: 0.0,
            },
        )
        .await;
    Ok(report)
}

/// How long the one HeadBucket per side may take before the run goes on without it.
const REGION_ASK_TIMEOUT: Duration = Duration::from_secs(5);

/// Each side whose bucket's region is not known (no `--source-region` / `--dest-region`,
/// not the Binance bucket) is asked once, with one HeadBucket, and every s5cmd child of the
/// run then gets that region: without it, each child would ask the bucket itself before
/// its first request (one round trip per process, hundreds per run at WAN latency). A side
/// whose endpoint does not answer with a region stays unknown and its children ask, as
/// before. None when nothing was learned.
async fn with_asked_regions(settings: &Settings) -> Option<Settings> {
    let ask = |globals: crate::s5cmd::Globals, bucket: String| async move {
        let api = crate::s3api::S3Api::for_side(&globals).ok()?;
        let asked = tokio::task::spawn_blocking(move || api.bucket_region(&bucket));
        tokio::time::timeout(REGION_ASK_TIMEOUT, asked)
            .await
            .ok()?
            .ok()?
    };
    let source = async {
        match settings.access.source_region {
            Some(_) => None,
            None if settings.access.source_no_sign => None,
            None => {
                ask(
                    settings.source_globals(),
                    settings.source.bucket().to_owned(),
                )
                .await
            }
        }
    };
    let dest = async {
        match settings.access.dest_region {
            Some(_) => None,
            None => ask(settings.dest_globals(), settings.dest.bucket().to_owned()).await,
        }
    };
    let (source, dest) = tokio::join!(source, dest);
    if source.is_none() && dest.is_none() {
        return None;
    }
    for (side, bucket, region) in [
        ("source", settings.source.bucket(), &source),
        ("destination", settings.dest.bucket(), &dest),
    ] {
        if let Some(r) = region {
            tracing::info!(side, bucket, region = %r, "bucket region asked once for every s5cmd of the run (pass --{}-region to skip)", if side == "source" { "source" } else { "dest" });
        }
    }
    let mut asked = settings.clone();
    asked.access.source_region = source.or_else(|| settings.access.source_region.clone());
    asked.access.dest_region = dest.or_else(|| settings.access.dest_region.clone());
    Some(asked)
}

/// A listing refused for the wrong region: name the bucket, its region and the flag that
/// sets it (which side's bucket the failed listing's URL is on decides the flag).
fn explain_region_failure(f: &mut RunFailure, settings: &Settings) {
    let Some((wrong, right)) = crate::s5cmd::output::region_mismatch(&f.message) else {
        return;
    };
    let dest = settings.dest.bucket();
    let (bucket, flag, var) = if f.message.contains(&format!("s3://{dest}/")) {
        (dest, "--dest-region", "LAKESYNC_DEST_REGION")
    } else {
        (
            settings.source.bucket(),
            "--source-region",
            "LAKESYNC_SOURCE_REGION",
        )
    };
    f.message = format!(
        "the bucket {bucket} is in region {right}, but its requests were signed for {wrong}: {}",
        f.message
    );
    f.hint = format!(
        "pass {flag} {right} (or set {var}, or the config key {}); with neither, s5cmd asks \
         the bucket for its region (AWS_REGION / AWS_DEFAULT_REGION are never applied)",
        flag.trim_start_matches("--")
    );
}

/// The batch runner, with server-side copies on the destination's endpoint and credentials.
fn executor(
    settings: &Settings,
    sides: &Sides,
    workdir: &Path,
    uploads: &Arc<UploadTracker>,
) -> Executor {
    Executor {
        runner: settings.attempts.runner(
            sides.binary.path.clone(),
            workdir.to_path_buf(),
            sides.interrupt().clone(),
        ),
        strategy: settings.strategy,
        copy_globals: settings.copy_globals(),
        source: settings.source.clone(),
        dest: settings.dest.clone(),
        staged: StagedConfig {
            source: settings.source.clone(),
            dest: settings.dest.clone(),
            source_globals: sides.source_globals.clone(),
            dest_globals: sides.dest_globals.clone(),
            require_checksum: settings.require_checksum,
            max_workers: STAGED_MAX_WORKERS,
            workdir: workdir.to_path_buf(),
            min_free_bytes: 64 * 1024 * 1024,
            max_local_bytes: settings.max_local_bytes,
            uploads: Some(uploads.clone()),
        },
        copied_live: Arc::default(),
    }
}

/// The governor's limits: the settings' ceilings over the strategy's defaults.
fn limits(settings: &Settings) -> Limits {
    Limits {
        max_memory_bytes: settings.governor.max_memory_bytes,
        max_cpu_avg_pct: settings.governor.max_cpu_avg_pct,
        max_cpu_peak_pct: (settings.governor.max_cpu_avg_pct * 2.0).min(100.0),
        ..if settings.strategy == Strategy::Staged {
            Limits::staged()
        } else {
            Limits::direct()
        }
    }
}

/// A server-side batch of at least this many objects runs as pieces (`Driver::cut_piece`);
/// smaller ones keep their wildcard lines whole (one process, one line, per folder).
const PIECES_FROM_OBJECTS: usize = 500;

/// Batches in flight: the join handle, and whether the batch runs alone.
type Inflight = VecDeque<(tokio::task::JoinHandle<(Batch, BatchOutcome)>, bool)>;

/// The I/O around the run state: batches, progress, the sampler, the governor, the
/// overlapping validation and `--write-commands`. Everything that happens becomes an event.
struct Driver<'a> {
    settings: &'a Settings,
    interrupt: &'a Interrupt,
    executor: &'a Executor,
    state: RunState,
    progress: Progress,
    /// Live metrics: the metrics file and the Pushgateway during the run.
    live: Live,
    sampler: Option<Sampler>,
    controller: Controller,
    workers: u32,
    /// Checks each finished batch's copies against the destination (none in a dry run).
    validator: Option<Validator>,
    commands_out: Option<std::io::BufWriter<std::fs::File>>,
    /// Server-side copies of finished batches, to tell running batches' progress apart.
    direct_done: u64,
    /// The index of the next batch started (pieces of a long batch count as batches).
    next_index: usize,
}

impl<'a> Driver<'a> {
    fn new(
        settings: &'a Settings,
        interrupt: &'a Interrupt,
        executor: &'a Executor,
        planned: Arc<Planned>,
        limits: Limits,
        validator: Option<Validator>,
    ) -> Result<Self, Error> {
        let commands_out = match &settings.output.write_commands {
            Some(p) => Some(std::io::BufWriter::new(
                std::fs::OpenOptions::new()
                    .write(true)
                    .create(true)
                    .truncate(true)
                    .mode(0o600)
                    .open(p)
                    .map_err(|e| {
                        Error::env(
                            format!("cannot create --write-commands file {}: {e}", p.display()),
                            "check that the folder exists and is writable",
                        )
                    })?,
            )),
            None => None,
        };
        let sampler = if settings.governor.sampling && !settings.output.dry_run {
            match Sampler::start(crate::os::resources::DEFAULT_INTERVAL) {
                Ok(s) => Some(s),
                Err(e) => {
                    tracing::warn!(error = %e, "resource sampling is unavailable: running without it");
                    None
                }
            }
        } else {
            None
        };
        let initial = settings
            .workers
            .clamp(limits.min_workers, limits.max_workers);
        let controller = Controller::new(limits, initial);
        Ok(Self {
            settings,
            interrupt,
            executor,
            state: RunState::default(),
            progress: Progress::new(settings.quiet, settings.progress_interval, planned.clone()),
            live: Live::new(
                settings.output.metrics_file.clone(),
                settings.pushgateway.clone().map(Pusher::new),
                (settings.progress_interval > 0)
                    .then(|| Duration::from_secs(settings.progress_interval)),
                planned,
            ),
            sampler,
            workers: controller.initial().workers,
            controller,
            validator,
            commands_out,
            direct_done: 0,
            next_index: 0,
        })
    }

    /// Take batches from the planner and run them, two at a time, until the planner is done
    /// or the run is interrupted.
    ///
    /// Staged: while batch k uploads, batch k+1 downloads, each with the full worker count
    /// (one side each). Server-side copies: the worker count is split between the two s5cmd
    /// processes, so the total concurrency stays as chosen while one batch's tail (its last
    /// slow objects) overlaps the next batch's start. A batch holding whole folders
    /// (wildcard lines, usually hundreds of objects) runs alone with the full worker count:
    /// s5cmd copies a folder faster with more workers, and its tail is short beside its
    /// length. Pieces of a cut batch ([`Self::cut_piece`]) overlap like other batches: a
    /// piece is short, and its last CHECKSUMs and tail would otherwise leave the workers
    /// idle (at WAN latency a run of pieces one at a time took twice as long). Results are
    /// taken in batch order.
    async fn copy_batches(&mut self, mut batch_rx: mpsc::Receiver<Batch>) {
        const DEPTH: usize = 2;
        let split = self.settings.strategy != Strategy::Staged;
        let mut inflight: Inflight = VecDeque::new();
        // A batch waiting to start, and whether it is what is left of a cut batch.
        let mut waiting: Option<(Batch, bool)> = None;
        let mut input_open = true;
        // Start of the current stretch with at least one batch copying.
        let mut busy_since: Option<Instant> = None;
        loop {
            while inflight.len() < DEPTH
                && !self.state.interrupted
                && !inflight.iter().any(|(_, alone)| *alone)
            {
                let (batch, rest_of_cut) = match waiting.take() {
                    Some(w) => w,
                    None if input_open => match batch_rx.recv().await {
                        Some(b) => (b, false),
                        None => {
                            input_open = false;
                            break;
                        }
                    },
                    None => break,
                };
                if split
                    && !batch.folders.is_empty()
                    && !rest_of_cut
                    && !inflight.is_empty()
                    && !self.settings.output.dry_run
                {
                    waiting = Some((batch, rest_of_cut));
                    break;
                }
                let mut batch = batch;
                let mut piece = rest_of_cut;
                if let Some(rest) = self.cut_piece(&mut batch) {
                    waiting = Some((rest, true));
                    piece = true;
                }
                if !self.settings.output.dry_run {
                    batch.index = self.next_index;
                    self.next_index += 1;
                }
                // Pieces overlap like any batches: one's last CHECKSUMs and tail run
                // beside the next one's start.
                let alone = split && !batch.folders.is_empty() && !piece;
                if self.interrupt.signal().is_some() {
                    self.state.handle(RunEvent::Interrupted);
                    break;
                }
                if self.settings.output.dry_run {
                    self.write_commands(&batch);
                    continue;
                }
                if inflight.is_empty() {
                    busy_since.get_or_insert_with(Instant::now);
                    if let Some(s) = &self.sampler {
                        s.take_window();
                    }
                }
                let per_process = if split && !alone {
                    self.workers.div_ceil(2)
                } else {
                    self.workers
                };
                inflight.push_back((self.spawn_batch(batch, per_process), alone));
            }
            let Some((next, _)) = inflight.pop_front() else {
                break;
            };
            let joined = self.wait_for(next).await;
            if inflight.is_empty()
                && let Some(t) = busy_since.take()
            {
                self.state.handle(RunEvent::Copying(t.elapsed()));
            }
            match joined {
                Ok((batch, out)) => {
                    let backlog = waiting.as_ref().map_or(0, |(b, _)| b.items.len());
                    self.batch_finished(&batch, out, backlog).await;
                }
                Err(e) => {
                    self.state.handle(RunEvent::Stopped(RunFailure {
                        message: format!("a batch stopped unexpectedly: {e}"),
                        hint: "this is a bug: please report it".into(),
                    }));
                    break;
                }
            }
        }
    }

    /// A long server-side batch (a big wildcard folder line, a big `--batch-size`) runs as
    /// pieces, so that the governor decides between them instead of once at its end: the
    /// piece is `batch` (cut to 2 x workers objects: two rounds of work at the current
    /// count, a quick measurement), the rest is returned. Batches under
    /// [`PIECES_FROM_OBJECTS`], staged batches, `--fixed-workers` and dry runs are not cut.
    fn cut_piece(&self, batch: &mut Batch) -> Option<Batch> {
        if self.settings.strategy == Strategy::Staged
            || !self.settings.governor.adaptive_workers
            || self.settings.output.dry_run
            || batch.items.len() < PIECES_FROM_OBJECTS
        {
            return None;
        }
        let piece = (2 * self.workers as usize).max(32);
        if batch.items.len() <= piece + piece / 2 {
            return None;
        }
        let front = batch.split_off_front(piece)?;
        Some(std::mem::replace(batch, front))
    }

    fn spawn_batch(
        &self,
        batch: Batch,
        per_process: u32,
    ) -> tokio::task::JoinHandle<(Batch, BatchOutcome)> {
        let exec = self.executor.clone();
        let total = self.workers;
        let epoch = self.controller.epoch();
        tokio::spawn(async move {
            let mut out = exec.run_batch(&batch, per_process).await;
            // Report and govern the total, whatever each process got.
            out.workers = total;
            out.epoch = epoch;
            (batch, out)
        })
    }

    /// Wait for the oldest batch, showing meanwhile what s5cmd has reported so far (a
    /// folder copy can be a batch of thousands of objects).
    async fn wait_for(
        &mut self,
        mut next: tokio::task::JoinHandle<(Batch, BatchOutcome)>,
    ) -> Result<(Batch, BatchOutcome), tokio::task::JoinError> {
        loop {
            tokio::select! {
                r = &mut next => return r,
                () = tokio::time::sleep(Duration::from_millis(500)) => {
                    let running = self
                        .executor
                        .copied_live
                        .load(Ordering::Relaxed)
                        .saturating_sub(self.direct_done);
                    self.show_progress(running);
                }
            }
        }
    }

    fn show_progress(&mut self, running: u64) {
        let snapshot = Snapshot {
            done: self.state.done() + running,
            done_bytes: self.state.bytes_copied,
            failed: self.state.failed,
            workers: self.workers,
        };
        self.progress.update(&snapshot);
        let mode = self.state.mode(self.settings.strategy == Strategy::Staged);
        self.live.tick(&snapshot, self.state.counts.throttled, mode);
    }

    /// `backlog`: objects of a cut batch still waiting to start (a raise may go past this
    /// piece's own size).
    async fn batch_finished(&mut self, batch: &Batch, out: BatchOutcome, backlog: usize) {
        let window = self
            .sampler
            .as_ref()
            .map(Sampler::take_window)
            .unwrap_or_default();
        let (prefixes, throttled_prefixes) = out.spread.signal(out.counts.throttled);
        let decision = self.controller.next(&BatchSignal {
            workers: out.workers,
            epoch: out.epoch,
            files: out.files,
            backlog,
            seconds: out.seconds,
            throttled: out.counts.throttled,
            prefixes,
            throttled_prefixes,
            rss_peak_bytes: window.rss_peak_bytes,
            cpu_avg_pct: window.cpu_avg_pct,
            cpu_peak_pct: window.cpu_peak_pct,
        });
        if self.settings.governor.adaptive_workers {
            if decision.workers != self.workers {
                tracing::info!(batch = out.index, from = self.workers, to = decision.workers, reason = ?decision.reason, "governor: workers for the next batch");
            }
            self.workers = decision.workers;
        }
        for line in &out.unparsed {
            tracing::warn!(batch = out.index, line = %line, "s5cmd printed a line that is not the expected JSON");
        }
        if let Some(v) = &self.validator {
            v.submit(
                out.copied
                    .iter()
                    .map(|&i| batch.items[i].object.clone())
                    .collect(),
            )
            .await;
        }
        tracing::info!(
            batch = out.index,
            files = out.files,
            copied = out.copied.len(),
            failed = out.failures.len(),
            attempts = out.counts.attempts,
            seconds = format!("{:.3}", out.seconds),
            "batch done"
        );
        self.direct_done += out.counts.direct_files;
        self.state.handle(RunEvent::BatchFinished(BatchDone {
            batch,
            outcome: out,
            window,
            decision,
            governed: self.settings.governor.adaptive_workers,
        }));
        self.show_progress(0);
    }

    fn write_commands(&mut self, batch: &Batch) {
        if let Some(w) = self.commands_out.as_mut()
            && let Err(e) = write_copy_lines(w, batch, self.executor)
        {
            self.state.handle(RunEvent::Stopped(RunFailure {
                message: format!("cannot write --write-commands file: {e}"),
                hint: "check the path and free space".into(),
            }));
        }
    }

    /// Flush `--write-commands`.
    fn finish_side_outputs(&mut self) {
        if let Some(mut w) = self.commands_out.take()
            && let Err(e) = std::io::Write::flush(&mut w)
        {
            self.state.handle(RunEvent::Stopped(RunFailure {
                message: format!("cannot write --write-commands file: {e}"),
                hint: "check the path and free space".into(),
            }));
        }
    }
}

/// The run events of a finished validation: what its listings cost, then what it found.
fn validation_events(v: Validation, settings: &Settings) -> Vec<RunEvent<'static>> {
    let mut events = vec![
        RunEvent::Listings(v.listed.processes),
        RunEvent::ValidationListed(v.listed),
    ];
    if v.ok > 0 || !v.bad.is_empty() {
        let bad = v
            .bad
            .into_iter()
            .map(|(o, c)| Failure {
                key: settings.dest.key(&o.key),
                source: settings.source.url_of(&o.key),
                error: c.describe(),
                class: ErrorClass::Integrity,
                attempts: 0,
            })
            .collect();
        events.push(RunEvent::Validated { ok: v.ok, bad });
    }
    if let Some(e) = v.error {
        events.push(RunEvent::ValidationFailed(e));
    }
    events
}

/// User + system CPU seconds of this process (threads included, children excluded).
fn own_cpu_seconds() -> f64 {
    use nix::sys::resource::{UsageWho, getrusage};
    getrusage(UsageWho::RUSAGE_SELF).map_or(0.0, |u| {
        let t = |tv: nix::sys::time::TimeVal| tv.tv_sec() as f64 + tv.tv_usec() as f64 / 1e6;
        ((t(u.user_time()) + t(u.system_time())) * 1000.0).round() / 1000.0
    })
}

/// `--history` (failures here are warnings, never a lost run); returns the last-run metrics
/// for `--metrics-file` and `--pushgateway` (empty when neither is set).
fn write_side_files(report: &Report, settings: &Settings) -> String {
    let rss = report
        .resources
        .as_ref()
        .map_or(0, |r| r.total_rss_peak_bytes);
    let cpu = report
        .resources
        .as_ref()
        .map_or(0.0, |r| f64::from(r.cpu_avg_pct));
    let t = &report.totals;
    let mut last_run = String::new();
    if settings.output.metrics_file.is_some() || settings.pushgateway.is_some() {
        last_run = crate::report::metrics::render(&MetricsInput {
            mode: report.mode,
            planned: t.planned,
            copied: t.copied,
            skipped: t.skipped,
            failed: t.failed,
            bytes_copied: t.bytes_copied,
            duration_seconds: report.timing.duration_seconds,
            success_ratio: crate::report::metrics::success_ratio(t.validated, t.planned),
            ops_per_file: report.operations.per_file,
            rss_peak_bytes: rss,
            cpu_avg_pct: cpu,
            sla: &report.sla,
            finished_unix: jiff::Timestamp::now().as_second(),
            files_per_s: report.throughput.files_per_s,
            history_median_files_per_s: report
                .sla_history
                .as_ref()
                .and_then(|h| h.median_files_per_s),
            success_ratio_24h: report
                .sla_history
                .as_ref()
                .and_then(|h| h.success_rate_24h)
                .map(|r| r / 100.0),
        });
    }
    if let Some(path) = &settings.output.history {
        let entry = HistoryEntry {
            finished_at: report.timing.finished_at.clone(),
            mode: report.mode.to_string(),
            duration_seconds: report.timing.duration_seconds,
            planned: t.planned,
            copied: t.copied,
            skipped: t.skipped,
            failed: t.failed,
            bytes_copied: t.bytes_copied,
            rss_peak_bytes: rss,
            cpu_avg_pct: cpu,
            sla: report.sla.clone(),
            worst_batch_seconds: report.batches.iter().map(|b| b.seconds).fold(0.0, f64::max),
            exit_code: report.exit_code,
            // A dry run copies nothing on purpose: never compared with real runs.
            job: (!report.run.dry_run).then(|| report::job_of(settings)),
            validated: Some(t.validated),
        };
        if let Err(e) = crate::report::history::append(path, &entry) {
            eprintln!(
                "warning: cannot append to --history {}: {e}",
                path.display()
            );
        }
    }
    last_run
}
