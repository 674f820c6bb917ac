//! The plan stage of a sync, on a blocking thread: find the symbols of open folders
//! ([`discover`]) and choose per folder between one whole listing and narrowed prefixes,
//! list both sides, merge the two sorted listings, group whole folders, cut batches, send
//! them to the run over a small bounded channel (so the first batch copies while the rest
//! is still listed), and count what was decided.
//!
//! The listing prefixes are taken in order, in segments: a run of prefixes inside symbol
//! folders (narrowed, or a `--symbols` folder) is listed in groups, many `ls` lines per
//! `s5cmd run` on both sides at once ([`list_paired`]), and each group is merged as soon as
//! both its sides are in; a prefix above a symbol folder (a data-type folder listed whole,
//! or the whole source) is streamed ([`PlanListings`]), so memory stays flat however much
//! it holds. With `--source-manifest` the source is the manifest and the destination is
//! streamed per prefix.

use std::collections::{BTreeMap, VecDeque};
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::runtime::Handle;
use tokio::sync::mpsc;

use crate::list::discover::{self, FolderChoice};
use crate::list::listing::{LISTING_PREFETCH, ListingErrors, PlanListings, SideListing};
use crate::list::multi::GroupListError;
use crate::list::multi::{GroupError, ListCounts};
use crate::list::paired::{PairedConfig, PairedCounts, PrefixPair, Side, list_paired};
use crate::list::{ListError, Lister, Object};
use crate::os::progress::Planned;
use crate::plan::batch::{Batch, Batcher, Item};
use crate::plan::folders::{FolderTracker, Planned as FolderPlan};
use crate::plan::shard::in_symbol_folder;
use crate::plan::view::PlanGroups;
use crate::plan::{Decision, Merge, OrderError};
use crate::run::execute::MAX_SERVER_SIDE_COPY;
use crate::select::{Discovered, Selection};
use crate::settings::Settings;

/// What planning decided: in full, or up to where it stopped.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PlanStats {
    pub selected: u64,
    pub planned: u64,
    pub skipped: u64,
    pub bytes_planned: u64,
    pub bytes_skipped: u64,
    pub batches: u64,
    pub reasons: BTreeMap<String, u64>,
    pub listing_seconds: f64,
    /// The merge went through both listings to their end and every batch was handed over.
    pub complete: bool,
    /// Time spent waiting for the run to take a batch (not listing nor planning).
    pub send_wait: Duration,
    /// What each side's planning listing cost.
    pub source_list: ListCounts,
    pub dest_list: ListCounts,
    /// What symbol discovery cost (delimiter listings of the open folders).
    pub discovery: ListCounts,
    /// The listing choice per discovered folder (for `plan`).
    pub choices: Vec<FolderChoice>,
    /// Prefixes listed on each side (after discovery and the shard's share).
    pub prefixes: u64,
    /// Prefixes whose destination was not listed because their source was empty.
    pub dest_skipped: u64,
    /// The most `ls` lines in flight at once (both sides).
    pub in_flight_max: u64,
    /// The planned objects' sizes (multipart parts, for the cost estimate).
    pub sizes: crate::report::cost::Sizes,
}

#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error(transparent)]
    List(#[from] ListError),
    #[error(transparent)]
    Order(#[from] OrderError),
    #[error(transparent)]
    Group(#[from] GroupError),
    #[error("symbol discovery: {0}")]
    Discover(GroupListError),
}

impl From<GroupListError> for PlanError {
    fn from(e: GroupListError) -> Self {
        match e {
            GroupListError::List(e) => PlanError::List(e),
            GroupListError::Group(e) => PlanError::Group(e),
        }
    }
}

impl PlanError {
    pub fn hint(&self) -> String {
        match self {
            PlanError::List(l) => l.hint().to_string(),
            PlanError::Order(_) => {
                "the server returned keys out of order; please report this with the server's name"
                    .into()
            }
            PlanError::Group(_) => "this is a bug: please report it with the command line".into(),
            PlanError::Discover(e) => e.hint().into(),
        }
    }
}

/// Marks planning finished however the planner returns.
struct FinishOnDrop(Arc<Planned>);

impl Drop for FinishOnDrop {
    fn drop(&mut self) {
        self.0.finished.store(true, Ordering::Relaxed);
    }
}

pub struct Planner {
    pub handle: Handle,
    pub source_lister: Lister,
    pub dest_lister: Lister,
    pub settings: Settings,
    pub planned: Arc<Planned>,
    pub groups: Option<Arc<Mutex<PlanGroups>>>,
    /// Where grouped listings write their run files.
    pub list_dir: PathBuf,
}

impl Planner {
    /// List, merge, batch; send batches until done or until the receiver goes away. The
    /// stats come back whatever stopped it, so an interrupted run can say how far it got.
    pub fn run(self, tx: mpsc::Sender<Batch>) -> (PlanStats, Option<PlanError>) {
        let started = Instant::now();
        let mut stats = PlanStats::default();
        let error = match self.prefixes(&mut stats) {
            Ok(prefixes) => {
                stats.prefixes = prefixes.len() as u64;
                let mut decisions = Decisions::new(&self, &prefixes);
                let error = self.plan(&tx, &prefixes, &mut decisions, &mut stats).err();
                decisions.close(&mut stats);
                error
            }
            Err(e) => Some(e),
        };
        // Listing and planning, without the time the run kept the planner waiting.
        stats.listing_seconds = started
            .elapsed()
            .saturating_sub(stats.send_wait)
            .as_secs_f64();
        (stats, error)
    }

    /// The prefixes to list: where the selection leaves symbols open (and the source is
    /// listed live), the symbols discovered and the cheaper listing chosen per folder.
    fn prefixes(&self, stats: &mut PlanStats) -> Result<Vec<String>, PlanError> {
        let settings = &self.settings;
        let Some(sel) = settings.selection.as_ref() else {
            return Ok(settings.prefixes());
        };
        if settings.source_manifest.is_some() || sel.open_folders().is_empty() {
            return Ok(settings.prefixes());
        }
        let (found, counts) = self
            .handle
            .block_on(discover::discover(
                &self.source_lister,
                &settings.source,
                sel,
                settings.list_concurrency,
                &self.list_dir,
            ))
            .map_err(PlanError::Discover)?;
        stats.discovery = counts;
        stats.choices = discover::choose(sel, &found);
        for c in &stats.choices {
            tracing::info!(choice = %c, "listing");
        }
        if let Some(g) = &self.groups
            && let Ok(mut g) = g.lock()
        {
            g.listing = stats.choices.clone();
        }
        let narrowed: Discovered = discover::apply(found, &stats.choices);
        Ok(settings.prefixes_with(&narrowed))
    }

    fn plan(
        &self,
        tx: &mpsc::Sender<Batch>,
        prefixes: &[String],
        decisions: &mut Decisions,
        stats: &mut PlanStats,
    ) -> Result<(), PlanError> {
        let settings = &self.settings;
        let mut batcher = Batcher::new(settings.batch_size);
        // Out-of-scope objects go through the merge too, so that the folder tracker knows
        // whether a folder is wholly selected.
        let mut folders = FolderTracker::new(
            settings.folder_copies(),
            prefixes.to_vec(),
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
            let waited = Instant::now();
            let sent = tx.blocking_send(b).is_ok();
            stats.send_wait += waited.elapsed();
            sent
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
        // A failed listing ends with its error: stop before acting on a decision made
        // against a truncated destination listing.
        for decision in decisions.by_ref() {
            let decision = decision?;
            let key = match &decision {
                Decision::Skip { object } | Decision::Copy { object, .. } => object.key.as_str(),
            };
            if !settings.in_scope(key) {
                for p in folders.observe_key(key) {
                    if !batch(p, stats) {
                        return Ok(());
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
                        if !batch(p, stats) {
                            return Ok(());
                        }
                    }
                }
                Decision::Copy { object, reason } => {
                    stats.planned += 1;
                    stats.bytes_planned += object.size;
                    stats.sizes.add(object.size);
                    let name = serde_json::to_value(reason)
                        .ok()
                        .and_then(|v| v.as_str().map(String::from))
                        .unwrap_or_default();
                    *stats.reasons.entry(name).or_default() += 1;
                    let eligible = object.size <= MAX_SERVER_SIDE_COPY
                        && !object.key.chars().any(char::is_control);
                    for p in folders.observe_item(Item { object, reason }, eligible) {
                        if !batch(p, stats) {
                            return Ok(());
                        }
                    }
                }
            }
        }
        for p in folders.finish() {
            if !batch(p, stats) {
                return Ok(());
            }
        }
        if let Some(b) = batcher.finish()
            && !send(b, stats)
        {
            return Ok(());
        }
        stats.complete = true;
        Ok(())
    }
}

/// How a run of consecutive prefixes is listed.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    /// Prefixes inside symbol folders: in groups, both sides together.
    Grouped(Vec<String>),
    /// Prefixes above symbol folders (or every prefix, with a manifest): streamed.
    Streamed(Vec<String>),
}

/// Cut the (sorted) prefixes into segments, in order.
fn segments(prefixes: &[String], manifest: bool) -> VecDeque<Segment> {
    let mut out = VecDeque::new();
    if manifest {
        out.push_back(Segment::Streamed(prefixes.to_vec()));
        return out;
    }
    for p in prefixes {
        let grouped = in_symbol_folder(p);
        match out.back_mut() {
            Some(Segment::Grouped(v)) if grouped => v.push(p.clone()),
            Some(Segment::Streamed(v)) if !grouped => v.push(p.clone()),
            _ => out.push_back(if grouped {
                Segment::Grouped(vec![p.clone()])
            } else {
                Segment::Streamed(vec![p.clone()])
            }),
        }
    }
    out
}

/// Keys one LIST group may hold in memory (both sides hold one or two groups each).
const GROUP_KEYS: u64 = 256 * 1_000;

/// Lines per group for prefixes of `sel`: as many as keep a group's keys within
/// [`GROUP_KEYS`] (one day of a daily type is two keys; an undated symbol folder its whole
/// history), at least the lines in flight.
fn group_lines(sel: Option<&Selection>, prefixes: &[String], in_flight: usize) -> usize {
    let per_prefix = sel.map_or(discover::DAILY_FOLDER_KEYS, |s| {
        discover::expected_keys(s, crate::select::archive::Period::Daily)
    });
    // A symbol folder of a kline type holds every interval's folder.
    let widest = if prefixes.iter().all(|p| crate::plan::shard::within_unit(p)) {
        per_prefix
    } else {
        per_prefix * crate::select::archive::INTERVALS.len() as u64
    };
    let lines = (GROUP_KEYS / widest.max(1)) as usize;
    lines.clamp(
        in_flight.max(1),
        crate::list::paired::DEFAULT_GROUP_LINES.max(in_flight),
    )
}

/// One segment being listed.
enum Current {
    Streamed {
        merge: Merge<SideListing, SideListing>,
        errors: ListingErrors,
    },
    Grouped {
        rx: mpsc::Receiver<Result<Vec<PrefixPair>, GroupListError>>,
        task: Option<tokio::task::JoinHandle<PairedCounts>>,
        merge: Option<Merge<std::vec::IntoIter<Object>, std::vec::IntoIter<Object>>>,
    },
}

/// The plan's decisions over every segment, in key order, with what listing cost.
struct Decisions {
    handle: Handle,
    source: (Lister, crate::s3url::S3Url),
    dest: (Lister, crate::s3url::S3Url),
    manifest: Option<PathBuf>,
    cfg: PairedConfig,
    selection: Option<Selection>,
    list_dir: PathBuf,
    todo: VecDeque<Segment>,
    current: Option<Current>,
    source_list: ListCounts,
    dest_list: ListCounts,
    dest_skipped: u64,
    in_flight_max: u64,
    failed: bool,
}

impl Decisions {
    fn new(p: &Planner, prefixes: &[String]) -> Self {
        let manifest = p.settings.source_manifest.clone();
        Self {
            handle: p.handle.clone(),
            source: (p.source_lister.clone(), p.settings.source.clone()),
            dest: (p.dest_lister.clone(), p.settings.dest.clone()),
            todo: segments(prefixes, manifest.is_some()),
            manifest,
            cfg: PairedConfig {
                in_flight: p.settings.list_concurrency,
                group_lines: 0,
            },
            selection: p.settings.selection.clone(),
            list_dir: p.list_dir.clone(),
            current: None,
            source_list: ListCounts::default(),
            dest_list: ListCounts::default(),
            dest_skipped: 0,
            in_flight_max: 0,
            failed: false,
        }
    }

    fn open(&mut self, segment: Segment) -> Result<Current, PlanError> {
        match segment {
            Segment::Streamed(prefixes) => {
                let (src, dst, errors) = PlanListings::open(
                    &self.handle,
                    (self.source.0.clone(), &self.source.1),
                    (self.dest.0.clone(), &self.dest.1),
                    &prefixes,
                    self.manifest.as_deref(),
                )?
                .split();
                self.in_flight_max = self.in_flight_max.max(2 * LISTING_PREFETCH as u64);
                Ok(Current::Streamed {
                    merge: Merge::new(src, dst),
                    errors,
                })
            }
            Segment::Grouped(prefixes) => {
                let cfg = PairedConfig {
                    group_lines: group_lines(
                        self.selection.as_ref(),
                        &prefixes,
                        self.cfg.in_flight,
                    ),
                    ..self.cfg
                };
                let (tx, rx) = mpsc::channel(2);
                let (source, dest) = (self.source.clone(), self.dest.clone());
                let dir = self.list_dir.clone();
                let task = self.handle.spawn(async move {
                    list_paired(
                        Side {
                            lister: &source.0,
                            folder: &source.1,
                        },
                        Side {
                            lister: &dest.0,
                            folder: &dest.1,
                        },
                        &prefixes,
                        cfg,
                        &dir,
                        tx,
                    )
                    .await
                });
                Ok(Current::Grouped {
                    rx,
                    task: Some(task),
                    merge: None,
                })
            }
        }
    }

    /// Stop the current segment and add up what it cost.
    fn end_current(&mut self) {
        match self.current.take() {
            Some(Current::Streamed { errors, .. }) => {
                let (s, d) = errors.costs().read();
                self.source_list += s;
                self.dest_list += d;
            }
            Some(Current::Grouped { rx, task, .. }) => {
                // The lister stops at its next hand-over once nobody takes its groups.
                drop(rx);
                if let Some(task) = task
                    && let Ok(c) = self.handle.block_on(task)
                {
                    self.source_list += c.source;
                    self.dest_list += c.dest;
                    self.dest_skipped += c.dest_skipped;
                    self.in_flight_max = self.in_flight_max.max(c.in_flight_max);
                }
            }
            None => {}
        }
    }

    /// Stop listing and put what it cost into `stats`.
    fn close(mut self, stats: &mut PlanStats) {
        self.end_current();
        stats.source_list = self.source_list;
        stats.dest_list = self.dest_list;
        stats.dest_skipped = self.dest_skipped;
        stats.in_flight_max = self.in_flight_max;
    }

    fn fail(&mut self, e: PlanError) -> Option<Result<Decision, PlanError>> {
        self.failed = true;
        Some(Err(e))
    }
}

impl Iterator for Decisions {
    type Item = Result<Decision, PlanError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if self.failed {
                return None;
            }
            let Some(current) = self.current.as_mut() else {
                let segment = self.todo.pop_front()?;
                match self.open(segment) {
                    Ok(c) => self.current = Some(c),
                    Err(e) => return self.fail(e),
                }
                continue;
            };
            match current {
                Current::Streamed { merge, errors } => {
                    let d = merge.next();
                    // A failed listing ends its stream early: its error comes first.
                    if let Some(e) = errors.take() {
                        return self.fail(e.into());
                    }
                    match d {
                        Some(Ok(d)) => return Some(Ok(d)),
                        Some(Err(e)) => return self.fail(e.into()),
                        None => self.end_current(),
                    }
                }
                Current::Grouped { rx, merge, .. } => {
                    if let Some(m) = merge {
                        match m.next() {
                            Some(Ok(d)) => return Some(Ok(d)),
                            Some(Err(e)) => return self.fail(e.into()),
                            None => *merge = None,
                        }
                    }
                    match rx.blocking_recv() {
                        Some(Ok(pairs)) => {
                            let (mut src, mut dst) = (Vec::new(), Vec::new());
                            for p in pairs {
                                src.extend(p.source);
                                dst.extend(p.dest);
                            }
                            // Prefixes are sorted and none covers another: the group's
                            // concatenated listings are sorted.
                            *merge = Some(Merge::new(src.into_iter(), dst.into_iter()));
                        }
                        Some(Err(e)) => return self.fail(e.into()),
                        None => self.end_current(),
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(p: &[&str]) -> Vec<String> {
        p.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn prefixes_inside_symbol_folders_are_grouped_the_rest_streamed_in_order() {
        let ps = v(&[
            "data/spot/daily/aggTrades/",
            "data/spot/daily/klines/AAA/1m/AAA-1m-2024-01-0",
            "data/spot/daily/klines/BBB/1m/BBB-1m-2024-01-0",
            "data/spot/daily/trades/",
            "data/spot/monthly/klines/AAA/",
        ]);
        assert_eq!(
            segments(&ps, false),
            [
                Segment::Streamed(v(&["data/spot/daily/aggTrades/"])),
                Segment::Grouped(v(&[
                    "data/spot/daily/klines/AAA/1m/AAA-1m-2024-01-0",
                    "data/spot/daily/klines/BBB/1m/BBB-1m-2024-01-0",
                ])),
                Segment::Streamed(v(&["data/spot/daily/trades/"])),
                Segment::Grouped(v(&["data/spot/monthly/klines/AAA/"])),
            ]
        );
        assert_eq!(segments(&ps, true), [Segment::Streamed(ps.clone())]);
        assert_eq!(segments(&v(&[""]), false), [Segment::Streamed(v(&[""]))]);
    }
}
