//! The listing stage as the planner consumes it: each side's objects under every listing
//! prefix, concatenated in key order, keys relative to the side's folder.
//!
//! [`Listing`] runs on a blocking thread and pulls from `s5cmd ls` processes running on the
//! runtime, a few prefixes ahead. [`PlanListings`] is the seam between listing and planning:
//! the two sorted streams (source from a live listing or a `--source-manifest`, destination
//! live) the planner merges, and the first failure of either, which the planner must check
//! before acting on a decision (a failed listing ends its stream early).

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::Rc;

use tokio::runtime::Handle;
use tokio::sync::mpsc;

use crate::list::manifest::ManifestListing;
use crate::list::multi::{ListCounts, PAGE_KEYS};
use crate::list::{ListError, Listed, Lister, Object};
use crate::s3url::S3Url;

/// Listings started ahead of the one being consumed (each is one s5cmd process).
pub const LISTING_PREFETCH: usize = 2;
const LISTING_CHANNEL: usize = 4096;

/// The concatenated listing of several prefixes of one folder, in key order, keys relative
/// to the folder. Runs on a blocking thread; the listings themselves run on the runtime.
pub struct Listing {
    handle: Handle,
    lister: Lister,
    folder: S3Url,
    todo: VecDeque<String>,
    started: VecDeque<mpsc::Receiver<Listed>>,
    pub error: Rc<RefCell<Option<ListError>>>,
    listed: Rc<Cell<u64>>,
    /// What this listing cost so far (one process and at least one request per prefix).
    pub counts: CountSlot,
    /// Keys listed under the prefix being consumed.
    current_keys: u64,
}

/// Where a listing's costs add up while its stream moves through the merge.
pub type CountSlot = Rc<RefCell<ListCounts>>;

impl Listing {
    pub fn new(handle: Handle, lister: Lister, folder: S3Url, prefixes: &[String]) -> Self {
        let mut l = Self {
            handle,
            lister,
            folder,
            todo: prefixes.iter().cloned().collect(),
            started: VecDeque::new(),
            error: Rc::default(),
            listed: Rc::default(),
            counts: Rc::default(),
            current_keys: 0,
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
                    self.current_keys += 1;
                    return Some(o);
                }
                Some(Err(e)) => {
                    *self.error.borrow_mut() = Some(e);
                    return None;
                }
                None => {
                    self.started.pop_front();
                    let keys = std::mem::take(&mut self.current_keys);
                    *self.counts.borrow_mut() += ListCounts {
                        requests: keys.div_ceil(PAGE_KEYS).max(1),
                        keys,
                        prefixes: 1,
                        processes: 1,
                    };
                    self.top_up();
                }
            }
        }
    }
}

/// Where a listing's failure is kept: the stream ends early, the error waits here.
pub type ErrorSlot = Rc<RefCell<Option<ListError>>>;

/// One side's sorted stream, whatever produces it.
pub struct SideListing {
    objects: Box<dyn Iterator<Item = Object>>,
    error: ErrorSlot,
    /// None for a manifest (nothing is listed).
    counts: Option<CountSlot>,
}

impl SideListing {
    pub fn live(l: Listing) -> Self {
        let error = l.error.clone();
        let counts = Some(l.counts.clone());
        Self {
            objects: Box::new(l),
            error,
            counts,
        }
    }

    pub fn manifest(m: ManifestListing) -> Self {
        let error = m.error.clone();
        Self {
            objects: Box::new(m),
            error,
            counts: None,
        }
    }
}

impl Iterator for SideListing {
    type Item = Object;

    fn next(&mut self) -> Option<Object> {
        self.objects.next()
    }
}

/// The two sorted streams a plan merges, and their failures.
pub struct PlanListings {
    pub source: SideListing,
    pub dest: SideListing,
}

/// The failures of both sides of a [`PlanListings`], kept after the streams move into the
/// merge.
pub struct ListingErrors {
    source: ErrorSlot,
    dest: ErrorSlot,
    source_counts: Option<CountSlot>,
    dest_counts: Option<CountSlot>,
}

/// Where both sides' listing costs add up, readable after the merge is done.
#[derive(Clone, Default)]
pub struct ListingCosts {
    source: Option<CountSlot>,
    dest: Option<CountSlot>,
}

impl ListingCosts {
    /// What each side's listing cost so far: (source, destination).
    pub fn read(&self) -> (ListCounts, ListCounts) {
        let get = |c: &Option<CountSlot>| c.as_ref().map(|c| *c.borrow()).unwrap_or_default();
        (get(&self.source), get(&self.dest))
    }
}

impl ListingErrors {
    pub fn costs(&self) -> ListingCosts {
        ListingCosts {
            source: self.source_counts.clone(),
            dest: self.dest_counts.clone(),
        }
    }

    /// The first failure seen (the destination's first: a decision against a truncated
    /// destination listing would copy what is already there).
    pub fn take(&self) -> Option<ListError> {
        self.dest
            .borrow_mut()
            .take()
            .or_else(|| self.source.borrow_mut().take())
    }
}

impl PlanListings {
    /// List `prefixes` of both folders; the source from `manifest` when given.
    pub fn open(
        handle: &Handle,
        source: (Lister, &S3Url),
        dest: (Lister, &S3Url),
        prefixes: &[String],
        manifest: Option<&std::path::Path>,
    ) -> Result<Self, ListError> {
        let source = match manifest {
            Some(path) => SideListing::manifest(
                ManifestListing::open(path, source.1.clone()).map_err(|e| ListError::Failed {
                    url: path.display().to_string(),
                    error: e.to_string(),
                })?,
            ),
            None => SideListing::live(Listing::new(
                handle.clone(),
                source.0,
                source.1.clone(),
                prefixes,
            )),
        };
        let dest = SideListing::live(Listing::new(
            handle.clone(),
            dest.0,
            dest.1.clone(),
            prefixes,
        ));
        Ok(Self { source, dest })
    }

    /// The streams, and where their failures will be.
    pub fn split(self) -> (SideListing, SideListing, ListingErrors) {
        let errors = ListingErrors {
            source: self.source.error.clone(),
            dest: self.dest.error.clone(),
            source_counts: self.source.counts.clone(),
            dest_counts: self.dest.counts.clone(),
        };
        (self.source, self.dest, errors)
    }
}
