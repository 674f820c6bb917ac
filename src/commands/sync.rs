//! The `sync` pipeline, stage by stage:
//! locate s5cmd -> probe the endpoint -> list both sides (streamed) -> plan (merge) ->
//! folders (a key prefix planned whole becomes one wildcard line) -> batch -> execute (s5cmd
//! run, attempts) -> validate (fresh listing) -> report.
//!
//! Listing and planning run on a blocking thread and hand batches over a small bounded
//! channel, so the first batch copies while the rest is still being listed, and memory
//! stays flat however many objects there are.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, VecDeque};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::{Duration, Instant};

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use tokio::runtime::Handle;
use tokio::sync::mpsc;

use crate::error::EnvError;
use crate::exit_codes;
use crate::list::manifest::ManifestListing;
use crate::list::{ListError, Listed, Lister, Object};
use crate::os::progress::{Planned, Progress, Snapshot};
use crate::os::resources::Sampler;
use crate::os::signals::Interrupt;
use crate::plan::batch::{Batch, Batcher, Item};
use crate::plan::folders::{FolderTracker, Planned as FolderPlan};
use crate::plan::view::PlanGroups;
use crate::plan::{Decision, Merge, OrderError};
use crate::report::history::HistoryEntry;
use crate::report::metrics::MetricsInput;
use crate::report::sla::{Mode as SlaMode, SlaInputs};
use crate::report::{
    BatchReport, Integrity, MAX_FAILURES_LISTED, Operations, PlanSummary, Report, ReportSettings,
    RunFailure, Throughput, Tool, Totals,
};
use crate::run::execute::{
    BatchOutcome, Executor, Failure, MAX_SERVER_SIDE_COPY, Runner, Strategy,
};
use crate::run::governor::{BatchSignal, Controller, Limits};
use crate::run::staged::StagedConfig;
use crate::s3url::S3Url;
use crate::s5cmd::{self, ErrorClass, Globals};
use crate::settings::{Endpoint, Settings};
use crate::validate::{Check, Spill, merge_checks};

/// A run that could not produce a full report.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Env(#[from] EnvError),
}

/// Listings started ahead of the one being consumed (each is one s5cmd process).
const LISTING_PREFETCH: usize = 2;
const LISTING_CHANNEL: usize = 4096;
/// Spec 2.2.2: at most 10 concurrent operations in the traditional (staged) mode.
pub const STAGED_MAX_WORKERS: u32 = 10;

/// The concatenated listing of several prefixes of one folder, in key order, keys relative
/// to the folder. Runs on a blocking thread; the listings themselves run on the runtime.
pub(crate) struct Listing {
    handle: Handle,
    lister: Lister,
    folder: S3Url,
    todo: VecDeque<String>,
    started: VecDeque<mpsc::Receiver<Listed>>,
    pub(crate) error: Rc<RefCell<Option<ListError>>>,
    listed: Rc<Cell<u64>>,
}

impl Listing {
    pub(crate) fn new(handle: Handle, lister: Lister, folder: S3Url, prefixes: &[String]) -> Self {
        let mut l = Self {
            handle,
            lister,
            folder,
            todo: prefixes.iter().cloned().collect(),
            started: VecDeque::new(),
            error: Rc::default(),
            listed: Rc::default(),
        };
        l.top_up();
        l
    }

    fn top_up(&mut self) {
        while self.started.len() < LISTING_PREFETCH {
            let Some(prefix) = self.todo.pop_front() else {
                break;
            };
            let (tx, rx) = mpsc::channel(LISTING_CHANNEL);
            let lister = self.lister.clone();
            let bucket = self.folder.bucket().to_string();
            let key_prefix = self.folder.key(&prefix);
            self.handle.spawn(async move {
                lister.list_into(&bucket, &key_prefix, tx).await;
            });
            self.started.push_back(rx);
        }
    }
}

impl Iterator for Listing {
    type Item = Object;

    fn next(&mut self) -> Option<Object> {
        loop {
            if self.error.borrow().is_some() {
                return None;
            }
            let rx = self.started.front_mut()?;
            match rx.blocking_recv() {
                Some(Ok(mut o)) => {
                    let Some(rel) = self.folder.relative(&o.key) else {
                        continue;
                    };
                    o.key = rel.to_string();
                    self.listed.set(self.listed.get() + 1);
                    return Some(o);
                }
                Some(Err(e)) => {
                    *self.error.borrow_mut() = Some(e);
                    return None;
                }
                None => {
                    self.started.pop_front();
                    self.top_up();
                }
            }
        }
    }
}

#[derive(Debug, Default)]
struct PlanStats {
    selected: u64,
    planned: u64,
    skipped: u64,
    bytes_planned: u64,
    bytes_skipped: u64,
    batches: u64,
    reasons: BTreeMap<String, u64>,
    listing_seconds: f64,
}

#[derive(Debug, thiserror::Error)]
enum PlanError {
    #[error(transparent)]
    List(#[from] ListError),
    #[error(transparent)]
    Order(#[from] OrderError),
}

/// Marks planning finished however the planner returns.
struct FinishOnDrop(Arc<Planned>);

impl Drop for FinishOnDrop {
    fn drop(&mut self) {
        self.0.finished.store(true, Ordering::Relaxed);
    }
}

struct Planner {
    handle: Handle,
    source_lister: Lister,
    dest_lister: Lister,
    settings: Settings,
    planned: Arc<Planned>,
    groups: Option<Arc<Mutex<PlanGroups>>>,
}

impl Planner {
    /// List, merge, batch; send batches until done or until the receiver goes away.
    fn run(self, tx: mpsc::Sender<Batch>) -> Result<PlanStats, PlanError> {
        let started = Instant::now();
        let prefixes = self.settings.prefixes();
        type Errors = Rc<RefCell<Option<ListError>>>;
        let (src, src_err): (Box<dyn Iterator<Item = Object>>, Errors) =
            match &self.settings.source_manifest {
                Some(path) => {
                    let m =
                        ManifestListing::open(path, self.settings.source.clone()).map_err(|e| {
                            ListError::Failed {
                                url: path.display().to_string(),
                                error: e.to_string(),
                            }
                        })?;
                    let err = m.error.clone();
                    (Box::new(m), err)
                }
                None => {
                    let l = Listing::new(
                        self.handle.clone(),
                        self.source_lister,
                        self.settings.source.clone(),
                        &prefixes,
                    );
                    let err = l.error.clone();
                    (Box::new(l), err)
                }
            };
        let dst = Listing::new(
            self.handle,
            self.dest_lister,
            self.settings.dest.clone(),
            &prefixes,
        );
        let dst_err = dst.error.clone();
        let settings = &self.settings;
        let mut stats = PlanStats::default();
        let mut batcher = Batcher::new(settings.batch_size);
        // Out-of-scope objects go through the merge too, so that the folder tracker knows
        // whether a folder is wholly selected.
        let mut folders = FolderTracker::new(
            settings.folder_copies(),
            prefixes.clone(),
            &settings.source.to_string(),
            &settings.dest.to_string(),
        );
        let planned = self.planned.clone();
        let _finished = FinishOnDrop(planned.clone());
        let send = |b: Batch, stats: &mut PlanStats| -> bool {
            stats.batches += 1;
            planned
                .objects
                .fetch_add(b.items.len() as u64, Ordering::Relaxed);
            planned.bytes.fetch_add(b.bytes(), Ordering::Relaxed);
            tx.blocking_send(b).is_ok()
        };
        let mut batch = |p: FolderPlan, stats: &mut PlanStats| -> bool {
            let full: Vec<Batch> = match p {
                FolderPlan::Items(items) => {
                    items.into_iter().filter_map(|i| batcher.push(i)).collect()
                }
                FolderPlan::Folder { prefix, items } => batcher.push_folder(prefix, items),
            };
            full.into_iter().all(|b| send(b, stats))
        };
        for decision in Merge::new(src, dst) {
            // A failed listing ends its stream early: stop before acting on a decision
            // made against a truncated destination listing.
            if let Some(e) = dst_err
                .borrow_mut()
                .take()
                .or_else(|| src_err.borrow_mut().take())
            {
                return Err(e.into());
            }
            let decision = decision?;
            let key = match &decision {
                Decision::Skip { object } | Decision::Copy { object, .. } => object.key.as_str(),
            };
            if !settings.in_scope(key) {
                for p in folders.observe_key(key) {
                    if !batch(p, &mut stats) {
                        return Ok(stats);
                    }
                }
                continue;
            }
            stats.selected += 1;
            if let Some(g) = &self.groups
                && let Ok(mut g) = g.lock()
            {
                match &decision {
                    Decision::Skip { object } => g.record(&object.key, object.size, None),
                    Decision::Copy { object, reason } => {
                        g.record(&object.key, object.size, Some(*reason))
                    }
                }
            }
            match decision {
                Decision::Skip { object } => {
                    stats.skipped += 1;
                    stats.bytes_skipped += object.size;
                    for p in folders.observe_key(&object.key) {
                        if !batch(p, &mut stats) {
                            return Ok(stats);
                        }
                    }
                }
                Decision::Copy { object, reason } => {
                    stats.planned += 1;
                    stats.bytes_planned += object.size;
                    let name = serde_json::to_value(reason)
                        .ok()
                        .and_then(|v| v.as_str().map(String::from))
                        .unwrap_or_default();
                    *stats.reasons.entry(name).or_default() += 1;
                    let eligible = object.size <= MAX_SERVER_SIDE_COPY
                        && !object.key.chars().any(char::is_control);
                    for p in folders.observe_item(Item { object, reason }, eligible) {
                        if !batch(p, &mut stats) {
                            return Ok(stats);
                        }
                    }
                }
            }
        }
        if let Some(e) = dst_err
            .borrow_mut()
            .take()
            .or_else(|| src_err.borrow_mut().take())
        {
            return Err(e.into());
        }
        for p in folders.finish() {
            if !batch(p, &mut stats) {
                return Ok(stats);
            }
        }
        if let Some(b) = batcher.finish() {
            send(b, &mut stats);
        }
        stats.listing_seconds = started.elapsed().as_secs_f64();
        Ok(stats)
    }
}

/// Check that the endpoint accepts TCP connections, so an unreachable server is a clear
/// error in seconds instead of s5cmd retrying for over a minute.
async fn probe_endpoint(ep: &Endpoint) -> Result<(), EnvError> {
    let addr = (ep.host.as_str(), ep.port);
    match tokio::time::timeout(Duration::from_secs(5), tokio::net::TcpStream::connect(addr)).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(EnvError::new(
            format!("cannot reach the endpoint {}: {e}", ep.url),
            "start the S3 server (make demo starts one), or fix --endpoint-url / S3_ENDPOINT_URL",
        )),
        Err(_) => Err(EnvError::new(
            format!("cannot reach the endpoint {}: no answer within 5 s", ep.url),
            "check the host and port, and any firewall in between",
        )),
    }
}

/// The file in each working folder naming the process that owns it.
const OWNER_FILE: &str = "owner.pid";

/// Remove working folders left behind by lakesync runs that died (kill -9, power loss):
/// a `lakesync-*` folder whose owner pid is no longer alive. Folders without an owner file
/// are left alone: they may not be ours.
fn clean_stale_workdirs(base: &Path) -> u64 {
    let mut removed = 0;
    let Ok(entries) = std::fs::read_dir(base) else {
        return 0;
    };
    for e in entries.flatten() {
        if !e.file_name().to_string_lossy().starts_with("lakesync-") {
            continue;
        }
        let owner = std::fs::read_to_string(e.path().join(OWNER_FILE))
            .ok()
            .and_then(|t| t.trim().parse::<i32>().ok());
        let Some(pid) = owner else { continue };
        let alive = pid == std::process::id() as i32
            || !matches!(
                nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None),
                Err(nix::errno::Errno::ESRCH)
            );
        if !alive && std::fs::remove_dir_all(e.path()).is_ok() {
            tracing::info!(path = %e.path().display(), pid, "removed the working folder of a run that died");
            removed += 1;
        }
    }
    removed
}

/// A private (0700) working folder, removed when dropped (and by a later run if this process
/// is killed before it can remove it).
pub(crate) fn make_workdir(base: Option<&Path>) -> Result<tempfile::TempDir, EnvError> {
    use std::os::unix::fs::PermissionsExt;
    let base: PathBuf = base.map_or_else(std::env::temp_dir, Path::to_path_buf);
    clean_stale_workdirs(&base);
    let unusable = |e: std::io::Error| {
        EnvError::new(
            format!(
                "cannot create a private working folder in {}: {e}",
                base.display()
            ),
            "pass --temp-dir DIR with a writable folder with free space, or fix TMPDIR",
        )
    };
    let dir = tempfile::Builder::new()
        .prefix("lakesync-")
        .permissions(std::fs::Permissions::from_mode(0o700))
        .tempdir_in(&base)
        .map_err(unusable)?;
    std::fs::write(dir.path().join(OWNER_FILE), std::process::id().to_string())
        .map_err(unusable)?;
    Ok(dir)
}

pub(crate) fn now_rfc3339() -> String {
    jiff::Timestamp::now()
        .round(jiff::Unit::Millisecond)
        .map_or_else(|_| jiff::Timestamp::now().to_string(), |t| t.to_string())
}

/// The server-side copy lines of a batch, exactly as a direct run's first attempt would
/// write them (whole prefixes as one wildcard line).
fn write_copy_lines(
    w: &mut impl std::io::Write,
    batch: &Batch,
    settings: &Settings,
) -> std::io::Result<()> {
    let mut in_folder = vec![false; batch.items.len()];
    for f in &batch.folders {
        match crate::run::execute::prefix_copy_line(&settings.source, &settings.dest, f) {
            Ok(line) => {
                writeln!(w, "{line}")?;
                in_folder[f.start..f.start + f.len].fill(true);
            }
            Err(e) => {
                tracing::warn!(prefix = %f.prefix, error = %e, "not writable as a command line")
            }
        }
    }
    for (item, _) in batch.items.iter().zip(&in_folder).filter(|(_, f)| !**f) {
        let key = &item.object.key;
        match crate::s5cmd::cmdfile::copy_line(
            &settings.source.url_of(key),
            &settings.dest.url_of(key),
        ) {
            Ok(line) => writeln!(w, "{line}")?,
            Err(e) => tracing::warn!(key = %key, error = %e, "not writable as a command line"),
        }
    }
    Ok(())
}

/// The resolved s5cmd binary and each side's s5cmd settings, after probing the endpoints.
pub(crate) struct Sides {
    pub binary: s5cmd::S5cmdBinary,
    pub source_globals: Globals,
    pub dest_globals: Globals,
    interrupt: Interrupt,
    timeout: Option<Duration>,
}

impl Sides {
    pub async fn prepare(settings: &Settings, interrupt: &Interrupt) -> Result<Self, EnvError> {
        let binary = s5cmd::locate(
            settings.s5cmd_explicit.as_deref(),
            settings.s5cmd_env.as_deref(),
        )?;
        tracing::info!(path = %binary.path.display(), version = %binary.version, via = %binary.found_via, "using s5cmd");
        for ep in [&settings.source_endpoint, &settings.dest_endpoint]
            .into_iter()
            .flatten()
        {
            probe_endpoint(ep).await?;
        }
        Ok(Self {
            binary,
            source_globals: Globals {
                endpoint_url: settings.source_endpoint.as_ref().map(|e| e.url.clone()),
                no_sign_request: settings.source_no_sign,
                profile: settings.source_profile.clone(),
                retry_count: settings.retry_count,
            },
            dest_globals: Globals {
                endpoint_url: settings.dest_endpoint.as_ref().map(|e| e.url.clone()),
                no_sign_request: false,
                profile: settings.dest_profile.clone(),
                retry_count: settings.retry_count,
            },
            interrupt: interrupt.clone(),
            timeout: settings.batch_timeout,
        })
    }

    pub fn lister(&self, globals: &Globals) -> Lister {
        Lister {
            binary: self.binary.path.clone(),
            globals: globals.clone(),
            interrupt: self.interrupt.clone(),
            timeout: self.timeout,
        }
    }
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
    let sides = Sides::prepare(settings, &interrupt).await?;
    let workdir = make_workdir(settings.temp_dir.as_deref())?;
    let (binary, source_globals, dest_globals) = (
        sides.binary.clone(),
        sides.source_globals.clone(),
        sides.dest_globals.clone(),
    );
    let endpoint_url = dest_globals.endpoint_url.clone();
    let lister = |globals: &Globals| sides.lister(globals);
    let planned = Arc::new(Planned::default());
    let mut progress = Progress::new(settings.quiet, settings.progress_interval, planned.clone());
    let planner = Planner {
        handle: Handle::current(),
        source_lister: lister(&source_globals),
        dest_lister: lister(&dest_globals),
        settings: settings.clone(),
        planned: planned.clone(),
        groups: groups.clone(),
    };
    let (batch_tx, mut batch_rx) = mpsc::channel::<Batch>(2);
    let planning = tokio::task::spawn_blocking(move || planner.run(batch_tx));

    let runner = Runner {
        binary: binary.path.clone(),
        workdir: workdir.path().to_path_buf(),
        max_attempts: settings.attempts,
        backoff_base: Duration::from_millis(500),
        batch_timeout: settings.batch_timeout,
        grace: settings.grace,
        interrupt: interrupt.clone(),
    };
    // Server-side copies run on the destination's endpoint and credentials.
    let executor = Executor {
        runner,
        strategy: settings.strategy,
        copy_globals: dest_globals.clone(),
        source: settings.source.clone(),
        dest: settings.dest.clone(),
        staged: StagedConfig {
            source: settings.source.clone(),
            dest: settings.dest.clone(),
            source_globals: source_globals.clone(),
            dest_globals: dest_globals.clone(),
            require_checksum: settings.require_checksum,
            max_workers: STAGED_MAX_WORKERS,
            workdir: workdir.path().to_path_buf(),
            min_free_bytes: 64 * 1024 * 1024,
            max_local_bytes: settings.max_local_bytes,
        },
        copied_live: Arc::default(),
    };
    let copied_live = executor.copied_live.clone();
    // Server-side copies of finished batches, to tell running batches' progress apart.
    let mut direct_done = 0u64;
    let spill_path = workdir.path().join("copied.jsonl");
    let mut spill = Spill::create(&spill_path).map_err(|e| {
        EnvError::new(
            format!(
                "cannot write in the working folder {}: {e}",
                workdir.path().display()
            ),
            "pass --temp-dir DIR with a writable folder",
        )
    })?;
    let mut totals = Totals::default();
    let mut ops = Operations::default();
    let mut batches = Vec::new();
    let mut failures: Vec<Failure> = Vec::new();
    let mut failures_omitted = 0u64;
    let mut record_failure = |f: Failure, failures: &mut Vec<Failure>| {
        if failures.len() < MAX_FAILURES_LISTED {
            failures.push(f);
        } else {
            failures_omitted += 1;
        }
    };
    let mut run_error: Option<(String, String)> = None;
    let mut commands_out = match &settings.write_commands {
        Some(p) => Some(std::io::BufWriter::new(
            std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(p)
                .map_err(|e| {
                    EnvError::new(
                        format!("cannot create --write-commands file {}: {e}", p.display()),
                        "check that the folder exists and is writable",
                    )
                })?,
        )),
        None => None,
    };
    let mut copy_seconds = 0.0;
    let mut direct_files = 0u64;
    let mut staged_files = 0u64;
    let mut integrity = Integrity::default();
    let mut interrupted = false;
    let mut spill_error: Option<std::io::Error> = None;

    let sampler = if settings.sampling && !settings.dry_run {
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
    let limits = Limits {
        max_memory_bytes: settings.max_memory_bytes,
        max_cpu_avg_pct: settings.max_cpu_avg_pct,
        max_cpu_peak_pct: (settings.max_cpu_avg_pct * 2.0).min(100.0),
        ..if settings.strategy == Strategy::Staged {
            Limits::staged()
        } else {
            Limits::direct()
        }
    };
    let initial_workers = settings
        .workers
        .clamp(limits.min_workers, limits.max_workers);
    let mut controller = Controller::new(limits, initial_workers);
    let mut workers = controller.initial().workers;

    // Two batches run at once. Staged: while batch k uploads, batch k+1 downloads, each
    // with the full worker count (one side each). Server-side copies: the worker count is
    // split between the two s5cmd processes, so the total concurrency stays as chosen while
    // one batch's tail (its last slow objects) overlaps the next batch's start. A batch
    // holding whole folders (wildcard lines, usually hundreds of objects) runs alone with the
    // full worker count: s5cmd copies a folder faster with more workers, and its tail is
    // short beside its length. Results are taken in batch order, so the validation spill
    // stays sorted.
    let depth = 2;
    let split = settings.strategy != Strategy::Staged;
    let mut inflight: VecDeque<(tokio::task::JoinHandle<(Batch, BatchOutcome)>, bool)> =
        VecDeque::new();
    let mut waiting: Option<Batch> = None;
    let mut input_open = true;
    loop {
        while inflight.len() < depth && !interrupted && !inflight.iter().any(|(_, alone)| *alone) {
            let batch = match waiting.take() {
                Some(b) => b,
                None if input_open => match batch_rx.recv().await {
                    Some(b) => b,
                    None => {
                        input_open = false;
                        break;
                    }
                },
                None => break,
            };
            let alone = split && !batch.folders.is_empty();
            if alone && !inflight.is_empty() && !settings.dry_run {
                waiting = Some(batch);
                break;
            }
            if interrupt.signal().is_some() {
                interrupted = true;
                break;
            }
            if settings.dry_run {
                if let Some(w) = commands_out.as_mut()
                    && let Err(e) = write_copy_lines(w, &batch, settings)
                {
                    run_error.get_or_insert((
                        format!("cannot write --write-commands file: {e}"),
                        "check the path and free space".into(),
                    ));
                }
                continue;
            }
            if inflight.is_empty()
                && let Some(s) = &sampler
            {
                s.take_window();
            }
            let exec = executor.clone();
            let total = workers;
            let per_process = if split && !alone {
                total.div_ceil(2)
            } else {
                total
            };
            inflight.push_back((
                tokio::spawn(async move {
                    let mut out = exec.run_batch(&batch, per_process).await;
                    // Report and govern the total, whatever each process got.
                    out.workers = total;
                    (batch, out)
                }),
                alone,
            ));
        }
        let Some((mut next, _)) = inflight.pop_front() else {
            break;
        };
        // While the oldest batch runs, show what s5cmd has reported so far (a folder copy
        // can be a batch of thousands of objects).
        let joined = loop {
            tokio::select! {
                r = &mut next => break r,
                () = tokio::time::sleep(Duration::from_millis(500)) => {
                    let running = copied_live.load(Ordering::Relaxed).saturating_sub(direct_done);
                    progress.update(&Snapshot {
                        done: totals.copied + totals.failed + running,
                        done_bytes: totals.bytes_copied,
                        failed: totals.failed,
                        workers,
                    });
                }
            }
        };
        let (batch, out) = match joined {
            Ok(x) => x,
            Err(e) => {
                run_error.get_or_insert((
                    format!("a batch stopped unexpectedly: {e}"),
                    "this is a bug: please report it".into(),
                ));
                break;
            }
        };
        let window = sampler
            .as_ref()
            .map(Sampler::take_window)
            .unwrap_or_default();
        let decision = controller.next(&BatchSignal {
            workers: out.workers,
            files: out.files,
            seconds: out.seconds,
            throttled: out.throttled,
            rss_peak_bytes: window.rss_peak_bytes,
            cpu_avg_pct: window.cpu_avg_pct,
            cpu_peak_pct: window.cpu_peak_pct,
        });
        if settings.adaptive_workers {
            if decision.workers != workers {
                tracing::info!(batch = out.index, from = workers, to = decision.workers, reason = ?decision.reason, "governor: workers for the next batch");
            }
            workers = decision.workers;
        }
        copy_seconds += out.seconds;
        ops.by_kind += out.ops;
        ops.s5cmd_processes += out.processes;
        ops.local_bytes_written += out.local_bytes_written;
        totals.fallback += out.fallback;
        direct_files += out.direct_files;
        staged_files += out.staged_files;
        integrity.checksums_verified += out.verified;
        integrity.unverified += out.unverified;
        ops.unparsed_lines += out.unparsed_count;
        ops.unplanned_copies += out.unplanned;
        for line in &out.unparsed {
            tracing::warn!(batch = out.index, line = %line, "s5cmd printed a line that is not the expected JSON");
        }
        totals.retried += out.retried;
        totals.throttled += out.throttled;
        let mut bytes = 0;
        for &i in &out.copied {
            let o = &batch.items[i].object;
            bytes += o.size;
            if spill_error.is_none()
                && let Err(e) = spill.push(o)
            {
                spill_error = Some(e);
            }
        }
        totals.copied += out.copied.len() as u64;
        direct_done += out.direct_files;
        totals.bytes_copied += bytes;
        totals.failed += out.failures.len() as u64;
        progress.update(&Snapshot {
            done: totals.copied + totals.failed,
            done_bytes: totals.bytes_copied,
            failed: totals.failed,
            workers,
        });
        tracing::info!(
            batch = out.index,
            files = out.files,
            copied = out.copied.len(),
            failed = out.failures.len(),
            attempts = out.attempts,
            seconds = format!("{:.3}", out.seconds),
            "batch done"
        );
        batches.push(BatchReport {
            index: out.index,
            files: out.files,
            copied: out.copied.len(),
            failed: out.failures.len(),
            bytes,
            attempts: out.attempts,
            seconds: (out.seconds * 1000.0).round() / 1000.0,
            workers: out.workers,
            rss_peak_bytes: window.rss_peak_bytes,
            cpu_avg_pct: window.cpu_avg_pct,
            cpu_peak_pct: window.cpu_peak_pct,
            next_workers: decision.workers,
            governor: settings.adaptive_workers.then_some(decision.reason),
            folders: batch.folders.len(),
        });
        for f in out.failures {
            record_failure(f, &mut failures);
        }
        // Batches already running see the interruption themselves; collect their results.
        interrupted |= out.interrupted;
    }
    drop(batch_rx);
    progress.finish();
    let resources = sampler.map(|s| {
        let overhead = s.sampling_overhead();
        let mut r = s.stop();
        // Keep the report readable: two decimals are plenty for percentages.
        r.cpu_avg_pct = (r.cpu_avg_pct * 100.0).round() / 100.0;
        r.cpu_peak_pct = (r.cpu_peak_pct * 100.0).round() / 100.0;
        (r, overhead)
    });
    let plan_result = planning.await.map_err(|e| {
        EnvError::new(
            format!("the planner stopped unexpectedly: {e}"),
            "this is a bug: please report it",
        )
    })?;
    if let Some(mut w) = commands_out.take()
        && let Err(e) = std::io::Write::flush(&mut w)
    {
        run_error.get_or_insert((
            format!("cannot write --write-commands file: {e}"),
            "check the path and free space".into(),
        ));
    }
    let stats = match plan_result {
        Ok(s) => s,
        Err(PlanError::List(ListError::Interrupted { .. })) => {
            interrupted = true;
            PlanStats::default()
        }
        Err(e) => {
            let hint = match &e {
                PlanError::List(l) => l.hint().to_string(),
                PlanError::Order(_) => "the server returned keys out of order; please report this with the server's name".into(),
            };
            run_error = Some((e.to_string(), hint));
            PlanStats::default()
        }
    };
    interrupted |= interrupt.signal().is_some();
    if let Some(e) = spill_error {
        run_error.get_or_insert((
            format!("cannot record copied objects for validation: {e}"),
            "free space in the temp folder or pass --temp-dir".into(),
        ));
    }

    // Validate what this run copied against a fresh destination listing.
    if !settings.dry_run && spill.count() > 0 && run_error.is_none() {
        let dest_lister = lister(&dest_globals);
        let prefixes = settings.prefixes();
        let dest = settings.dest.clone();
        let source = settings.source.clone();
        let handle = Handle::current();
        let expected = spill.into_reader().map_err(|e| {
            EnvError::new(
                format!("cannot read back the copied-objects file: {e}"),
                "free space in the temp folder or pass --temp-dir",
            )
        })?;
        let checked = tokio::task::spawn_blocking(move || {
            let listing = Listing::new(handle, dest_lister, dest.clone(), &prefixes);
            let err = listing.error.clone();
            let mut ok = 0u64;
            let mut bad = Vec::new();
            merge_checks(expected, listing, |o, c| match c {
                Check::Ok => ok += 1,
                other => bad.push(Failure {
                    key: dest.key(&o.key),
                    source: source.url_of(&o.key),
                    error: other.describe(),
                    class: ErrorClass::Integrity,
                    attempts: 0,
                }),
            });
            let e = err.borrow_mut().take();
            (ok, bad, e)
        })
        .await
        .map_err(|e| {
            EnvError::new(
                format!("validation stopped unexpectedly: {e}"),
                "this is a bug: please report it",
            )
        })?;
        let (ok, bad, list_err) = checked;
        ops.s5cmd_processes += settings.prefixes().len() as u64;
        if let Some(e) = list_err {
            run_error = Some((format!("validation: {e}"), e.hint().to_string()));
        } else {
            totals.validated = ok;
            totals.failed += bad.len() as u64;
            for f in bad {
                record_failure(f, &mut failures);
            }
        }
    }

    totals.selected = stats.selected;
    totals.planned = stats.planned;
    totals.skipped = stats.skipped;
    totals.bytes_planned = stats.bytes_planned;
    totals.bytes_skipped = stats.bytes_skipped;
    totals.batches = stats.batches.max(batches.len() as u64);
    ops.s5cmd_processes += 2 * settings.prefixes().len() as u64;

    let exit_code = if let Some(sig) = interrupt.signal() {
        128 + sig
    } else if interrupted {
        exit_codes::INTERRUPTED_SIGTERM
    } else if run_error.is_some() {
        exit_codes::ENVIRONMENT
    } else if totals.failed > 0 || (!settings.dry_run && totals.validated < totals.copied) {
        exit_codes::OBJECTS_FAILED
    } else {
        exit_codes::OK
    };
    let mut report = Report {
        format_version: crate::report::FORMAT_VERSION,
        tool: Tool {
            name: "lakesync",
            version: env!("CARGO_PKG_VERSION"),
            s5cmd_version: binary.version.clone(),
            s5cmd_path: binary.path.display().to_string(),
        },
        command: "sync",
        mode: match (settings.strategy, direct_files > 0, staged_files > 0) {
            (Strategy::Staged, _, _) => "staged",
            (_, true, true) => "mixed",
            (_, false, true) => "staged",
            _ => "direct",
        },
        integrity,
        dry_run: settings.dry_run,
        interrupted,
        source: settings.source.to_string(),
        dest: settings.dest.to_string(),
        endpoint_url,
        selection: settings.selection.as_ref().map(|s| s.describe()),
        shard: settings.shard.map(|s| s.to_string()),
        started_at,
        finished_at: now_rfc3339(),
        duration_seconds: (t0.elapsed().as_secs_f64() * 1000.0).round() / 1000.0,
        settings: ReportSettings {
            batch_size: settings.batch_size,
            workers: settings.workers,
            attempts: settings.attempts,
            retry_count: settings.retry_count,
            batch_timeout_seconds: settings.batch_timeout.map(|d| d.as_secs()),
        },
        totals,
        plan: PlanSummary {
            reasons: stats.reasons,
            prefixes: settings.prefixes().len() as u64,
            listing_seconds: (stats.listing_seconds * 1000.0).round() / 1000.0,
        },
        operations: ops,
        throughput: Throughput {
            copy_seconds: (copy_seconds * 1000.0).round() / 1000.0,
            ..Default::default()
        },
        batches,
        failures,
        failures_omitted,
        error: run_error.map(|(message, hint)| RunFailure { message, hint }),
        resources: resources.as_ref().map(|(r, _)| r.clone()),
        sampler_overhead_ms: resources
            .as_ref()
            .map(|(_, o)| (o.as_secs_f64() * 1e5).round() / 100.0),
        lakesync_cpu_seconds: own_cpu_seconds(),
        sla: Vec::new(),
        sla_status: crate::report::sla::Status::Ok,
        exit_code,
    };
    report.finish_derived();
    evaluate_sla(&mut report, settings, limits);
    if report.exit_code == exit_codes::OK
        && report.totals.planned == 0
        && let Some(code) = settings.exit_code_when_nothing_to_do
    {
        report.exit_code = code;
    }
    write_side_files(&report, settings);
    Ok(report)
}

/// User + system CPU seconds of this process (threads included, children excluded).
fn own_cpu_seconds() -> f64 {
    use nix::sys::resource::{UsageWho, getrusage};
    getrusage(UsageWho::RUSAGE_SELF).map_or(0.0, |u| {
        let t = |tv: nix::sys::time::TimeVal| tv.tv_sec() as f64 + tv.tv_usec() as f64 / 1e6;
        ((t(u.user_time()) + t(u.system_time())) * 1000.0).round() / 1000.0
    })
}

/// Evaluate the SLA checks into the report and apply `--fail-on`.
fn evaluate_sla(report: &mut Report, settings: &Settings, limits: Limits) {
    if report.dry_run {
        return;
    }
    let mode = match report.mode {
        "staged" => SlaMode::Staged,
        "mixed" => SlaMode::Mixed,
        _ => SlaMode::Direct,
    };
    let mut batch_seconds: Vec<(usize, f64)> = report
        .batches
        .iter()
        .map(|b| (b.files, b.seconds))
        .collect();
    // A small trailing batch is dominated by fixed costs (process start, one round trip):
    // judging it against a per-file baseline would flag every run.
    if batch_seconds.len() > 1
        && batch_seconds
            .last()
            .is_some_and(|(f, _)| *f * 2 < settings.batch_size)
    {
        batch_seconds.pop();
    }
    let (mem, cpu) = report
        .resources
        .as_ref()
        .map_or((0, 0.0), |r| (r.total_rss_peak_bytes, r.cpu_avg_pct));
    let t = &report.totals;
    let checks = crate::report::sla::evaluate(&SlaInputs {
        mode,
        planned: t.planned,
        copied: t.validated.min(t.copied),
        failed: t.failed,
        errors_seen: t.retried + t.failed,
        operations: report.operations.s5cmd_ops,
        batch_seconds,
        baseline_seconds_per_100: settings
            .sla_baseline_seconds_per_100
            .unwrap_or_else(|| mode.default_baseline_seconds_per_100()),
        memory_peak_bytes: mem,
        memory_ceiling_bytes: if report.resources.is_some() {
            limits.max_memory_bytes
        } else {
            0
        },
        cpu_avg_pct: cpu,
        cpu_ceiling_pct: if report.resources.is_some() {
            limits.max_cpu_avg_pct
        } else {
            0.0
        },
    });
    let worst = crate::report::sla::worst(&checks);
    report.sla_status = worst;
    report.sla = checks;
    if report.exit_code == exit_codes::OK
        && let Some(level) = settings.fail_on
        && worst >= level
    {
        report.exit_code = exit_codes::SLA_BREACH;
    }
}

/// `--metrics-file` and `--history`: failures here are warnings, never a lost run.
fn write_side_files(report: &Report, settings: &Settings) {
    let rss = report
        .resources
        .as_ref()
        .map_or(0, |r| r.total_rss_peak_bytes);
    let cpu = report
        .resources
        .as_ref()
        .map_or(0.0, |r| f64::from(r.cpu_avg_pct));
    let t = &report.totals;
    if let Some(path) = &settings.metrics_file {
        let text = crate::report::metrics::render(&MetricsInput {
            mode: report.mode,
            planned: t.planned,
            copied: t.copied,
            skipped: t.skipped,
            failed: t.failed,
            bytes_copied: t.bytes_copied,
            duration_seconds: report.duration_seconds,
            success_ratio: if t.planned == 0 {
                1.0
            } else {
                t.validated as f64 / t.planned as f64
            },
            ops_per_file: report.operations.per_file,
            rss_peak_bytes: rss,
            cpu_avg_pct: cpu,
            sla: &report.sla,
            finished_unix: jiff::Timestamp::now().as_second(),
        });
        if let Err(e) = crate::report::metrics::write_atomic(path, &text) {
            tracing::warn!(path = %path.display(), error = %e, "cannot write the metrics file");
            eprintln!(
                "warning: cannot write --metrics-file {}: {e}",
                path.display()
            );
        }
    }
    if let Some(path) = &settings.history {
        let entry = HistoryEntry {
            finished_at: report.finished_at.clone(),
            mode: report.mode.to_string(),
            duration_seconds: report.duration_seconds,
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
        };
        if let Err(e) = crate::report::history::append(path, &entry) {
            eprintln!(
                "warning: cannot append to --history {}: {e}",
                path.display()
            );
        }
    }
}
