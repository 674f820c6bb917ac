//! The plan stage of a sync, on a blocking thread: merge the two sorted listings
//! ([`PlanListings`]), group whole folders, cut batches, send them to the run over a small
//! bounded channel (so the first batch copies while the rest is still listed), and count
//! what was decided.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::runtime::Handle;
use tokio::sync::mpsc;

use crate::list::listing::{ListingCosts, PlanListings};
use crate::list::multi::ListCounts;
use crate::list::{ListError, Lister};
use crate::os::progress::Planned;
use crate::plan::batch::{Batch, Batcher, Item};
use crate::plan::folders::{FolderTracker, Planned as FolderPlan};
use crate::plan::view::PlanGroups;
use crate::plan::{Decision, Merge, OrderError};
use crate::run::execute::MAX_SERVER_SIDE_COPY;
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
}

#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error(transparent)]
    List(#[from] ListError),
    #[error(transparent)]
    Order(#[from] OrderError),
}

impl PlanError {
    pub fn hint(&self) -> String {
        match self {
            PlanError::List(l) => l.hint().to_string(),
            PlanError::Order(_) => {
                "the server returned keys out of order; please report this with the server's name"
                    .into()
            }
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
}

impl Planner {
    /// List, merge, batch; send batches until done or until the receiver goes away. The
    /// stats come back whatever stopped it, so an interrupted run can say how far it got.
    pub fn run(self, tx: mpsc::Sender<Batch>) -> (PlanStats, Option<PlanError>) {
        let started = Instant::now();
        let mut stats = PlanStats::default();
        let mut costs = ListingCosts::default();
        let error = self.plan(&tx, &mut stats, &mut costs).err();
        // Listing and planning, without the time the run kept the planner waiting.
        stats.listing_seconds = started
            .elapsed()
            .saturating_sub(stats.send_wait)
            .as_secs_f64();
        (stats.source_list, stats.dest_list) = costs.read();
        (stats, error)
    }

    fn plan(
        self,
        tx: &mpsc::Sender<Batch>,
        stats: &mut PlanStats,
        costs: &mut ListingCosts,
    ) -> Result<(), PlanError> {
        let prefixes = self.settings.prefixes();
        let (src, dst, list_errors) = PlanListings::open(
            &self.handle,
            (self.source_lister, &self.settings.source),
            (self.dest_lister, &self.settings.dest),
            &prefixes,
            self.settings.source_manifest.as_deref(),
        )?
        .split();
        *costs = list_errors.costs();
        let settings = &self.settings;
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
        for decision in Merge::new(src, dst) {
            // A failed listing ends its stream early: stop before acting on a decision
            // made against a truncated destination listing.
            if let Some(e) = list_errors.take() {
                return Err(e.into());
            }
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
        if let Some(e) = list_errors.take() {
            return Err(e.into());
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
