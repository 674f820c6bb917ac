//! Validation overlapping the copying: each finished batch's copies are checked against a
//! fresh destination listing of their narrowed prefixes ([`CopiedPrefixes`]) while the
//! next batches copy, so a run ends one check after its last batch, not one whole
//! validation listing after it.
//!
//! One task checks one hand-over at a time. Batches that finish while a check is listing
//! wait in a short queue and are checked together next: a slow destination is listed in
//! larger groups, a fast one keeps up batch by batch. A full queue makes the driver wait
//! before it hands over more (copying never runs far ahead of validation, and memory stays
//! bounded by the queue).

use std::path::PathBuf;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::narrow::CopiedPrefixes;
use super::{Check, merge_checks};
use crate::list::multi::{ListCounts, LsKind};
use crate::list::{ListError, Lister, Object};
use crate::s3url::S3Url;

/// Hand-overs (finished batches' copies) that may wait for the check in progress.
pub const QUEUED: usize = 8;
/// Objects one check takes at most (queued hand-overs are joined up to this).
pub const MAX_PER_CHECK: usize = 50_000;

/// What validation found, once every hand-over was checked (or could not be).
#[derive(Debug, Default)]
pub struct Validation {
    /// Objects the listing showed as copied.
    pub ok: u64,
    /// Objects the listing did not show as copied, with what it showed.
    pub bad: Vec<(Object, Check)>,
    /// What the destination listings cost.
    pub listed: ListCounts,
    /// The listing failure that stopped validation (an interruption is not one: the run
    /// reports that itself).
    pub error: Option<ListError>,
    /// Objects handed over but never checked (a listing failed or the run was
    /// interrupted first).
    pub unchecked: u64,
}

/// Where and how the destination is listed.
#[derive(Debug, Clone)]
pub struct Target {
    pub lister: Lister,
    /// The destination folder; objects' keys are relative to it.
    pub folder: S3Url,
    /// `ls` lines in flight per `s5cmd run`.
    pub in_flight: usize,
    /// `ls` lines per `s5cmd run`.
    pub group_lines: usize,
    /// Where the run files go.
    pub dir: PathBuf,
}

/// The checking task and the way to hand it copies.
pub struct Validator {
    tx: mpsc::Sender<Vec<Object>>,
    task: JoinHandle<Validation>,
}

impl Validator {
    /// Start the checking task on the current runtime.
    pub fn start(target: Target) -> Self {
        let (tx, rx) = mpsc::channel(QUEUED);
        let task = tokio::spawn(run(rx, target));
        Self { tx, task }
    }

    /// Hand over copied objects (keys relative to the destination folder, any order).
    /// Waits while [`QUEUED`] hand-overs are waiting already.
    pub async fn submit(&self, objects: Vec<Object>) {
        if !objects.is_empty() {
            // The task ends only after `finish` drops the sender: it cannot be gone here.
            let _ = self.tx.send(objects).await;
        }
    }

    /// Check what is still queued and return the whole outcome.
    pub async fn finish(self) -> Validation {
        drop(self.tx);
        self.task.await.unwrap_or_else(|e| Validation {
            error: Some(ListError::Failed {
                url: String::new(),
                error: format!("the validation task stopped unexpectedly: {e}"),
            }),
            ..Validation::default()
        })
    }
}

async fn run(mut rx: mpsc::Receiver<Vec<Object>>, target: Target) -> Validation {
    let mut v = Validation::default();
    let mut stopped = false;
    while let Some(mut objects) = rx.recv().await {
        while objects.len() < MAX_PER_CHECK
            && let Ok(more) = rx.try_recv()
        {
            objects.extend(more);
        }
        stopped |= target.lister.interrupt.signal().is_some();
        if stopped {
            v.unchecked += objects.len() as u64;
            continue;
        }
        let n = objects.len();
        let bad_before = v.bad.len();
        let result = check(&target, objects, &mut v).await;
        if result.is_ok() {
            tracing::info!(
                objects = n,
                bad = v.bad.len() - bad_before,
                "validation: copies checked against the destination listing"
            );
        }
        if let Err(e) = result {
            stopped = true;
            if !matches!(e, ListError::Interrupted { .. }) {
                v.error.get_or_insert(e);
            }
        }
    }
    v
}

/// List the narrowed prefixes of `objects` and check each against the listing.
async fn check(t: &Target, mut objects: Vec<Object>, v: &mut Validation) -> Result<(), ListError> {
    objects.sort_unstable_by(|a, b| a.key.cmp(&b.key));
    objects.dedup_by(|a, b| a.key == b.key);
    let mut spans = CopiedPrefixes::default();
    for o in &objects {
        spans.push(&o.key);
    }
    let keys: Vec<String> = spans.prefixes().iter().map(|p| t.folder.key(p)).collect();
    let bucket = t.folder.bucket();
    let mut listed = Vec::new();
    for group in keys.chunks(t.group_lines.max(1)) {
        let listings = match t
            .lister
            .list_group(bucket, group, LsKind::Objects, t.in_flight, &t.dir)
            .await
        {
            Ok(l) => l,
            Err(e) => {
                v.unchecked += objects.len() as u64;
                return Err(ListError::Failed {
                    url: format!("s3://{bucket}/"),
                    error: e.to_string(),
                });
            }
        };
        v.listed += ListCounts::of(&listings);
        for l in listings {
            if let Some(e) = l.error {
                v.unchecked += objects.len() as u64;
                return Err(e);
            }
            // Sorted prefixes, none inside another: the listings follow each other in key
            // order.
            listed.extend(l.objects.into_iter().filter_map(|mut o| {
                o.key = t.folder.relative(&o.key)?.to_owned();
                Some(o)
            }));
        }
    }
    merge_checks(objects.into_iter(), listed.into_iter(), |o, c| match c {
        Check::Ok => v.ok += 1,
        other => v.bad.push((o.clone(), other)),
    });
    Ok(())
}
