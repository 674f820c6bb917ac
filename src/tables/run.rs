//! The `tables` pipeline: locate s5cmd -> probe the endpoints -> list the source zips and
//! the destination tables (streamed) -> plan (`plan`) -> batches -> per batch: s5cmd
//! downloads zips and CHECKSUMs into a private folder -> verify SHA-256 -> convert on every
//! core (`convert`) -> s5cmd uploads the Parquet files -> local files deleted -> report.
//!
//! Two batches are in flight: while one converts and uploads, the next downloads. Local
//! disk holds at most two batches' zips (`--max-local-bytes` each) and their Parquet files;
//! each zip is deleted as soon as it is converted, each Parquet file once its batch
//! uploaded. Transfers go through the same attempt loop as sync (`execute::Runner`).

use std::cell::RefCell;
use std::collections::{BTreeMap, VecDeque};
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::Arc;
use std::time::Instant;

use tokio::runtime::Handle;
use tokio::sync::{Semaphore, mpsc};

use crate::error::Error;
use crate::exit_codes;
use crate::list::listing::Listing;
use crate::list::sides::Sides;
use crate::list::{ListError, Lister, Object};
use crate::os::signals::Interrupt;
use crate::report::{RunFailure, Tool};
use crate::run::attempt::{AttemptsOutcome, Line, LineState, Runner};
use crate::s3url::S3Url;
use crate::s5cmd::Globals;
use crate::tables::convert::{self, Converted, Job};
use crate::tables::plan::{Decision, DestLister, Planner, Work, Zips};
use crate::tables::report::{
    FileFailure, FileReport, MAX_LISTED, PlanSummary, TablesReport, TablesReportSettings, Totals,
};
use crate::tables::schema;
use crate::tables::settings::TablesSettings;
use crate::validate::checksum::{self, Verdict};

/// Batches in flight (one downloading while the other converts and uploads).
const DEPTH: usize = 2;

/// A destination listing whose error, if it ends in one, lands in a shared cell.
struct Watched {
    listing: Listing,
    errors: Rc<RefCell<Option<ListError>>>,
}

impl Iterator for Watched {
    type Item = Object;
    fn next(&mut self) -> Option<Object> {
        let next = self.listing.next();
        if next.is_none()
            && let Some(e) = self.listing.error.borrow_mut().take()
        {
            self.errors.borrow_mut().get_or_insert(e);
        }
        next
    }
}

struct DestListings {
    handle: Handle,
    lister: Lister,
    dest: S3Url,
    errors: Rc<RefCell<Option<ListError>>>,
}

impl DestLister for DestListings {
    type Iter = Watched;
    fn open(&mut self, scope: &str) -> Watched {
        Watched {
            listing: Listing::new(
                self.handle.clone(),
                self.lister.clone(),
                self.dest.clone(),
                &[scope.to_string()],
            ),
            errors: self.errors.clone(),
        }
    }
}

#[derive(Debug, Default)]
struct PlanStats {
    totals: Totals,
    reasons: BTreeMap<&'static str, u64>,
    dest_scopes: u64,
    listing_seconds: f64,
}

/// List both sides, decide, and send batches; returns when done or the receiver is gone.
fn plan(
    handle: Handle,
    source_lister: Lister,
    dest_lister: Lister,
    settings: &TablesSettings,
    tx: mpsc::Sender<Vec<Work>>,
) -> Result<PlanStats, ListError> {
    let started = Instant::now();
    let prefixes = settings.prefixes();
    let source = Listing::new(
        handle.clone(),
        source_lister,
        settings.source.clone(),
        &prefixes,
    );
    let src_err = source.error.clone();
    let dest_err: Rc<RefCell<Option<ListError>>> = Rc::default();
    let mut planner = Planner::new(
        prefixes,
        settings.rebuild,
        DestListings {
            handle,
            lister: dest_lister,
            dest: settings.dest.clone(),
            errors: dest_err.clone(),
        },
    );
    let mut stats = PlanStats::default();
    let mut batch: Vec<Work> = Vec::new();
    let mut batch_bytes = 0u64;
    let take_error = || {
        src_err
            .borrow_mut()
            .take()
            .or_else(|| dest_err.borrow_mut().take())
    };
    for (zip, checksum) in Zips::new(source) {
        if !settings.in_scope(&zip.key) {
            continue;
        }
        let decision = planner.decide(zip, checksum);
        // A failed listing ends its stream early: never act on a truncated listing.
        if let Some(e) = take_error() {
            return Err(e);
        }
        match decision {
            Decision::Unsupported { zip } => {
                stats.totals.unsupported += 1;
                tracing::debug!(key = %zip.key, "not converted: unsupported data type");
            }
            Decision::Unrecognised { zip } => {
                stats.totals.unrecognised += 1;
                tracing::debug!(key = %zip.key, "not converted: not an archive key");
            }
            Decision::Skip { .. } => {
                stats.totals.selected += 1;
                stats.totals.skipped += 1;
            }
            Decision::Build(work) => {
                stats.totals.selected += 1;
                stats.totals.planned += 1;
                *stats.reasons.entry(work.reason.as_str()).or_default() += 1;
                let size = work.zip.size;
                if !batch.is_empty()
                    && (batch.len() >= settings.batch_size
                        || batch_bytes + size > settings.max_local_bytes)
                {
                    stats.totals.batches += 1;
                    if tx.blocking_send(std::mem::take(&mut batch)).is_err() {
                        return Ok(stats);
                    }
                    batch_bytes = 0;
                }
                batch_bytes += size;
                batch.push(work);
            }
        }
    }
    if let Some(e) = take_error() {
        return Err(e);
    }
    if !batch.is_empty() {
        stats.totals.batches += 1;
        let _ = tx.blocking_send(batch);
    }
    stats.dest_scopes = planner.scopes_opened;
    stats.listing_seconds = started.elapsed().as_secs_f64();
    Ok(stats)
}

/// What every batch needs.
struct BatchCtx {
    runner: Runner,
    source: S3Url,
    dest: S3Url,
    source_globals: Globals,
    dest_globals: Globals,
    workers: u32,
    workdir: PathBuf,
    converters: Arc<Semaphore>,
    interrupt: Interrupt,
}

#[derive(Debug, Default)]
struct BatchResult {
    totals: Totals,
    files: Vec<FileReport>,
    failures: Vec<FileFailure>,
    convert_seconds: f64,
    interrupted: bool,
}

/// A file that did not make it, and where.
#[derive(Debug, Clone)]
struct Failed {
    stage: &'static str,
    error: String,
    hint: String,
    line: Option<u64>,
}

fn failed(stage: &'static str, error: impl Into<String>, hint: impl Into<String>) -> Failed {
    Failed {
        stage,
        error: error.into(),
        hint: hint.into(),
        line: None,
    }
}

fn file_name(key: &str) -> &str {
    key.rsplit('/').next().unwrap_or(key)
}

/// Verify the downloaded zip (size, SHA-256 against its CHECKSUM), then convert it.
/// The zip and its CHECKSUM are deleted whatever happens.
fn verify_and_convert(
    work: &Work,
    zip_path: &Path,
    checksum_path: Option<&Path>,
    out_path: &Path,
    source_url: &str,
) -> Result<Converted, Failed> {
    let result = (|| {
        let size = std::fs::metadata(zip_path)
            .map_err(|e| {
                failed(
                    "verify",
                    format!("{source_url}: stat of the download: {e}"),
                    "",
                )
            })?
            .len();
        if size != work.zip.size {
            return Err(failed(
                "verify",
                format!(
                    "{source_url}: downloaded {size} bytes, the listing says {}",
                    work.zip.size
                ),
                "run again: the object changed during the run, or the download was cut",
            ));
        }
        let content = checksum_path.and_then(|p| std::fs::read(p).ok());
        let sha = match checksum::verify_file(
            zip_path,
            file_name(&work.zip.key),
            content.as_deref(),
        ) {
            Err(e) => {
                return Err(failed(
                    "verify",
                    format!("{source_url}: reading the download: {e}"),
                    "check the temp folder (--temp-dir)",
                ));
            }
            Ok(Verdict::Verified { sha256 }) => sha256,
            Ok(Verdict::Mismatch { expected, actual }) => {
                return Err(failed(
                    "verify",
                    format!(
                        "{source_url}: integrity: SHA-256 {actual} where the .CHECKSUM says {expected}; not converted"
                    ),
                    "the zip or its CHECKSUM is damaged at the source: re-mirror it (lakesync sync) and run again",
                ));
            }
            Ok(Verdict::Unverified { reason }) => {
                return Err(failed(
                    "verify",
                    format!("{source_url}: integrity: {reason}; not converted"),
                    "a zip is converted only after its SHA-256 matched its .CHECKSUM: mirror the CHECKSUM too",
                ));
            }
        };
        let Some(schema) = schema::schema_for(work.partition.market, work.partition.data_type)
        else {
            return Err(failed(
                "convert",
                format!("{source_url}: unsupported data type"),
                "",
            ));
        };
        let mut metadata = vec![
            (
                "lakesync.source_size".to_string(),
                work.zip.size.to_string(),
            ),
            ("lakesync.source_sha256".to_string(), sha),
        ];
        if let Some(e) = &work.zip.etag {
            metadata.push(("lakesync.source_etag".into(), e.clone()));
        }
        if let Some(t) = work.zip.last_modified {
            metadata.push(("lakesync.source_last_modified".into(), t.to_string()));
        }
        let job = Job {
            key: source_url.to_string(),
            zip_path: zip_path.to_path_buf(),
            schema,
            date: work.partition.file_date,
            out_path: out_path.to_path_buf(),
            metadata,
        };
        convert::convert(&job).map_err(|e| Failed {
            stage: "convert",
            hint: e.problem.hint().to_string(),
            line: e.line,
            error: e.to_string(),
        })
    })();
    let _ = std::fs::remove_file(zip_path);
    if let Some(p) = checksum_path {
        let _ = std::fs::remove_file(p);
    }
    result
}

fn state_error(state: Option<&Option<LineState>>) -> String {
    match state {
        Some(Some(LineState::Failed { error, .. })) => error.clone(),
        _ => "no outcome".into(),
    }
}

/// A batch's private folder and the local name of each file in it (from positions, never
/// from keys).
struct BatchDir {
    dir: PathBuf,
    zips: Vec<PathBuf>,
    checksums: Vec<PathBuf>,
    parquets: Vec<PathBuf>,
}

impl BatchDir {
    fn create(workdir: &Path, index: u64, n: usize) -> Result<BatchDir, Failed> {
        let dir = workdir.join(format!("batch-{index:06}"));
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&dir)
            .map_err(|e| {
                failed(
                    "download",
                    format!("cannot create the batch folder {}: {e}", dir.display()),
                    "pass --temp-dir DIR with a writable folder with free space",
                )
            })?;
        let named = |ext: &str| -> Vec<PathBuf> {
            (0..n).map(|j| dir.join(format!("{j:05}.{ext}"))).collect()
        };
        Ok(BatchDir {
            zips: named("zip"),
            checksums: named("CHECKSUM"),
            parquets: named("parquet"),
            dir,
        })
    }
}

impl BatchResult {
    fn fail(&mut self, ctx: &BatchCtx, w: &Work, f: Failed) {
        self.totals.failed += 1;
        self.failures.push(FileFailure {
            source: ctx.source.url_of(&w.zip.key),
            table_file: ctx.dest.url_of(&w.partition.parquet_key()),
            stage: f.stage,
            error: f.error,
            hint: f.hint,
            line: f.line,
        });
    }
}

/// What a batch's download run produced: the command lines (None: a key s5cmd cannot
/// carry), the line of each zip's CHECKSUM, and the outcome of every line.
struct Downloaded {
    lines: Vec<Option<Line>>,
    checksum_line: Vec<Option<usize>>,
    outcome: AttemptsOutcome,
}

async fn run_batch(ctx: Arc<BatchCtx>, index: u64, works: Vec<Work>) -> BatchResult {
    let mut out = BatchResult::default();
    let files = match BatchDir::create(&ctx.workdir, index, works.len()) {
        Ok(files) => files,
        Err(f) => {
            for w in &works {
                out.fail(&ctx, w, f.clone());
            }
            return out;
        }
    };
    let dl = download(&ctx, index, &works, &files).await;
    out.interrupted |= dl.outcome.counts.interrupted;
    let converted = convert_downloaded(&ctx, &works, &files, &dl, &mut out).await;
    upload(&ctx, index, &works, &files, converted, &mut out).await;
    let _ = std::fs::remove_dir_all(&files.dir);
    out
}

/// s5cmd downloads the batch's zips, then their CHECKSUMs, into its folder.
async fn download(ctx: &BatchCtx, index: u64, works: &[Work], files: &BatchDir) -> Downloaded {
    let line = |key: &str, local: &Path| {
        Line::download(ctx.source.url_of(key), local.display().to_string())
    };
    let mut lines: Vec<Option<Line>> = Vec::with_capacity(2 * works.len());
    for (j, w) in works.iter().enumerate() {
        lines.push(line(&w.zip.key, &files.zips[j]));
    }
    let mut checksum_line = vec![None; works.len()];
    for (j, w) in works.iter().enumerate() {
        if let Some(c) = &w.checksum {
            checksum_line[j] = Some(lines.len());
            lines.push(line(&c.key, &files.checksums[j]));
        }
    }
    let outcome = ctx
        .runner
        .run_lines(
            &format!("tables-{index:06}-download"),
            &ctx.source_globals,
            ctx.workers,
            &lines,
        )
        .await;
    Downloaded {
        lines,
        checksum_line,
        outcome,
    }
}

/// Verify and convert what arrived, on every core (`--threads` permits); what did not
/// arrive or did not convert is a failure in `out`.
async fn convert_downloaded(
    ctx: &BatchCtx,
    works: &[Work],
    files: &BatchDir,
    dl: &Downloaded,
    out: &mut BatchResult,
) -> Vec<Option<Converted>> {
    let mut tasks = Vec::with_capacity(works.len());
    for (j, w) in works.iter().enumerate() {
        if dl.lines[j].is_none() || !dl.outcome.is_done(j) {
            tasks.push(None);
            continue;
        }
        let ck = dl.checksum_line[j]
            .filter(|&l| dl.outcome.is_done(l))
            .map(|_| files.checksums[j].clone());
        let Ok(permit) = ctx.converters.clone().acquire_owned().await else {
            tasks.push(None);
            continue;
        };
        let source_url = ctx.source.url_of(&w.zip.key);
        let (w, zip, out_path) = (w.clone(), files.zips[j].clone(), files.parquets[j].clone());
        let interrupt = ctx.interrupt.clone();
        tasks.push(Some(tokio::task::spawn_blocking(move || {
            let _permit = permit;
            if interrupt.signal().is_some() {
                let _ = std::fs::remove_file(&zip);
                return Err(failed(
                    "convert",
                    "interrupted before completion",
                    "run again to finish",
                ));
            }
            verify_and_convert(&w, &zip, ck.as_deref(), &out_path, &source_url)
        })));
    }
    let mut converted: Vec<Option<Converted>> = vec![None; works.len()];
    for (j, (w, task)) in works.iter().zip(tasks).enumerate() {
        let result = match task {
            None if dl.lines[j].is_none() => Err(failed(
                "download",
                "the key contains a control character, which an s5cmd command file cannot carry",
                "rename the object at the source",
            )),
            None => Err(failed(
                "download",
                format!(
                    "{}: {}",
                    ctx.source.url_of(&w.zip.key),
                    state_error(dl.outcome.states.get(j))
                ),
                "check the source, the endpoint and the credentials; run again to retry",
            )),
            Some(t) => t.await.unwrap_or_else(|e| {
                Err(failed(
                    "convert",
                    format!("the conversion stopped unexpectedly: {e}"),
                    "this is a bug: please report it",
                ))
            }),
        };
        match result {
            Ok(c) => {
                out.totals.bytes_in += c.zip_bytes;
                out.convert_seconds += c.seconds;
                converted[j] = Some(c);
            }
            Err(f) => out.fail(ctx, w, f),
        }
    }
    converted
}

/// s5cmd uploads the Parquet files that converted; each uploaded one is a file of the report.
async fn upload(
    ctx: &BatchCtx,
    index: u64,
    works: &[Work],
    files: &BatchDir,
    mut converted: Vec<Option<Converted>>,
    out: &mut BatchResult,
) {
    let up_idx: Vec<usize> = (0..works.len())
        .filter(|&j| converted[j].is_some())
        .collect();
    if up_idx.is_empty() {
        return;
    }
    let up_lines: Vec<Option<Line>> = up_idx
        .iter()
        .map(|&j| {
            Line::upload(
                files.parquets[j].display().to_string(),
                ctx.dest.url_of(&works[j].partition.parquet_key()),
            )
        })
        .collect();
    let up = ctx
        .runner
        .run_lines(
            &format!("tables-{index:06}-upload"),
            &ctx.dest_globals,
            ctx.workers,
            &up_lines,
        )
        .await;
    out.interrupted |= up.counts.interrupted;
    for (k, &j) in up_idx.iter().enumerate() {
        let w = &works[j];
        let Some(c) = converted[j].take() else {
            continue;
        };
        if !up.is_done(k) {
            let error = format!("upload: {}", state_error(up.states.get(k)));
            let hint = "check the destination bucket, the endpoint and the credentials; run again to retry";
            out.fail(ctx, w, failed("upload", error, hint));
            continue;
        }
        out.totals.converted += 1;
        out.totals.rows += c.rows;
        out.totals.csv_bytes += c.csv_bytes;
        out.totals.bytes_out += c.parquet_bytes;
        out.files.push(FileReport {
            source: ctx.source.url_of(&w.zip.key),
            table_file: ctx.dest.url_of(&w.partition.parquet_key()),
            reason: w.reason.as_str(),
            rows: c.rows,
            zip_bytes: c.zip_bytes,
            csv_bytes: c.csv_bytes,
            parquet_bytes: c.parquet_bytes,
            header: c.header,
            source_time_unit: c.source_unit.as_str(),
            time_column: c.time_column,
            min_time: c.min_time_us.map(convert::format_us),
            max_time: c.max_time_us.map(convert::format_us),
            convert_seconds: (c.seconds * 1e4).round() / 1e4,
        });
    }
}

/// What the batches of a run added up to.
#[derive(Default)]
struct Collected {
    totals: Totals,
    files: Vec<FileReport>,
    failures: Vec<FileFailure>,
    files_omitted: u64,
    failures_omitted: u64,
    convert_seconds: f64,
    interrupted: bool,
    run_error: Option<RunFailure>,
}

/// Run the planner's batches, `DEPTH` in flight, until the planner is done, a signal
/// arrives or a batch task dies; fold each batch as it finishes, in order.
async fn collect_batches(
    ctx: &Arc<BatchCtx>,
    rx: &mut mpsc::Receiver<Vec<Work>>,
    dry_run: bool,
    interrupt: &Interrupt,
) -> Collected {
    let mut c = Collected::default();
    let mut inflight: VecDeque<tokio::task::JoinHandle<BatchResult>> = VecDeque::new();
    let mut index = 0u64;
    let mut input_open = true;
    loop {
        while input_open && inflight.len() < DEPTH && !c.interrupted {
            match rx.recv().await {
                Some(works) if dry_run => drop(works),
                Some(works) => {
                    if interrupt.signal().is_some() {
                        c.interrupted = true;
                        break;
                    }
                    index += 1;
                    inflight.push_back(tokio::spawn(run_batch(ctx.clone(), index, works)));
                }
                None => input_open = false,
            }
        }
        let Some(next) = inflight.pop_front() else {
            break;
        };
        match next.await {
            Ok(b) => c.add(b),
            Err(e) => {
                c.run_error.get_or_insert(RunFailure {
                    message: format!("a batch stopped unexpectedly: {e}"),
                    hint: "this is a bug: please report it".into(),
                });
                break;
            }
        }
    }
    c
}

impl Collected {
    fn add(&mut self, b: BatchResult) {
        tracing::info!(
            converted = b.totals.converted,
            failed = b.totals.failed,
            rows = b.totals.rows,
            "tables batch done"
        );
        self.interrupted |= b.interrupted;
        self.convert_seconds += b.convert_seconds;
        self.totals += b.totals;
        for f in b.files {
            if self.files.len() < MAX_LISTED {
                self.files.push(f);
            } else {
                self.files_omitted += 1;
            }
        }
        for f in b.failures {
            if self.failures.len() < MAX_LISTED {
                self.failures.push(f);
            } else {
                self.failures_omitted += 1;
            }
        }
    }

    /// The planner's counts; how it ended (an interruption, a listing error, a panic) goes
    /// into the run's state.
    fn planned(
        &mut self,
        joined: Result<Result<PlanStats, ListError>, tokio::task::JoinError>,
    ) -> PlanStats {
        match joined {
            Ok(Ok(s)) => return s,
            Ok(Err(ListError::Interrupted { .. })) => self.interrupted = true,
            Ok(Err(e)) => {
                self.run_error.get_or_insert(RunFailure {
                    hint: e.hint().to_string(),
                    message: e.to_string(),
                });
            }
            Err(e) => {
                self.run_error.get_or_insert(RunFailure {
                    message: format!("the planner stopped unexpectedly: {e}"),
                    hint: "this is a bug: please report it".into(),
                });
            }
        }
        PlanStats::default()
    }

    fn exit_code(&self, interrupt: &Interrupt) -> i32 {
        if let Some(sig) = interrupt.signal() {
            128 + sig
        } else if self.interrupted {
            exit_codes::INTERRUPTED_SIGTERM
        } else if self.run_error.is_some() {
            exit_codes::ENVIRONMENT
        } else if self.totals.failed > 0 {
            exit_codes::OBJECTS_FAILED
        } else {
            exit_codes::OK
        }
    }
}

/// The listing stage's endpoint check, with this command's own hint for a refused
/// connection: `make demo` starts a server for `sync`, not for `tables`.
/// Run `lakesync tables`. Returns the report (its `exit_code` says how it went); `Err` when
/// the environment stops the run before anything is attempted.
pub async fn run(settings: &TablesSettings, interrupt: Interrupt) -> Result<TablesReport, Error> {
    let started_at = crate::report::now_rfc3339();
    let t0 = Instant::now();
    let sides = Sides::prepare_with(
        settings.s5cmd_explicit.as_deref(),
        settings.s5cmd_env.as_deref(),
        &settings.access,
        &settings.attempts,
        &interrupt,
    )
    .await?;
    let workdir = crate::os::workdir::make_workdir(settings.temp_dir.as_deref())?;
    let sampler = (settings.sampling && !settings.dry_run)
        .then(|| crate::os::resources::Sampler::start(crate::os::resources::DEFAULT_INTERVAL).ok())
        .flatten();

    let (tx, mut rx) = mpsc::channel::<Vec<Work>>(1);
    let planning = {
        let handle = Handle::current();
        let (src, dst) = (
            sides.lister(&sides.source_globals),
            sides.lister(&sides.dest_globals),
        );
        let s = settings.clone();
        tokio::task::spawn_blocking(move || plan(handle, src, dst, &s, tx))
    };
    let ctx = Arc::new(BatchCtx {
        runner: settings.attempts.runner(
            sides.binary.path.clone(),
            workdir.path().to_path_buf(),
            interrupt.clone(),
        ),
        source: settings.source.clone(),
        dest: settings.dest.clone(),
        source_globals: sides.source_globals.clone(),
        dest_globals: sides.dest_globals.clone(),
        workers: settings.workers,
        workdir: workdir.path().to_path_buf(),
        converters: Arc::new(Semaphore::new(settings.threads)),
        interrupt: interrupt.clone(),
    });

    let mut c = collect_batches(&ctx, &mut rx, settings.dry_run, &interrupt).await;
    drop(rx);
    let resources = sampler.map(|s| {
        let mut r = s.stop();
        r.cpu_avg_pct = (r.cpu_avg_pct * 100.0).round() / 100.0;
        r.cpu_peak_pct = (r.cpu_peak_pct * 100.0).round() / 100.0;
        r
    });
    let stats = c.planned(planning.await);
    // The planner counts what was selected and planned, the batches what was built.
    c.totals += stats.totals;
    let exit_code = c.exit_code(&interrupt);
    let Collected {
        totals,
        files,
        failures,
        files_omitted,
        failures_omitted,
        convert_seconds,
        interrupted,
        run_error,
    } = c;
    let mut report = TablesReport {
        format_version: crate::report::FORMAT_VERSION,
        tool: Tool {
            name: "lakesync",
            version: env!("CARGO_PKG_VERSION"),
            s5cmd_version: sides.binary.version.clone(),
            s5cmd_path: sides.binary.path.display().to_string(),
        },
        command: "tables",
        run: crate::report::RunHeader {
            dry_run: settings.dry_run,
            interrupted,
            source: settings.source.to_string(),
            dest: settings.dest.to_string(),
            endpoint_url: sides.dest_globals.endpoint_url.clone(),
            selection: settings.selection.as_ref().map(|s| s.describe()),
        },
        timing: crate::report::Timing::ended_now(started_at, t0),
        settings: TablesReportSettings {
            batch_size: settings.batch_size,
            max_local_bytes: settings.max_local_bytes,
            workers: settings.workers,
            threads: settings.threads,
            attempts: settings.attempts.attempts,
            rebuild: settings.rebuild,
            compression: "zstd(1)",
            row_group_rows: convert::ROW_GROUP_ROWS,
        },
        totals,
        plan: PlanSummary {
            reasons: stats.reasons,
            prefixes: settings.prefixes().len() as u64,
            dest_scopes: stats.dest_scopes,
            listing_seconds: (stats.listing_seconds * 1000.0).round() / 1000.0,
        },
        throughput: Default::default(),
        files,
        files_omitted,
        failures,
        failures_omitted,
        error: run_error,
        resources,
        exit_code,
    };
    report.finish_derived(convert_seconds);
    Ok(report)
}
