//! Both sides of many narrowed prefixes, listed in groups with few processes.
//!
//! Prefixes (sorted, none covering another) are cut into groups of `group_lines`; each
//! group is one `s5cmd run` per side ([`crate::list::multi`]) with `in_flight` lines at a
//! time. The destination of group k is listed while the source of group k+1 is, so both
//! sides are in flight together, and only for the prefixes whose source listing is not
//! empty: sync never deletes, so a prefix with nothing at the source needs no destination
//! listing. Each group's pairs are handed over as soon as both its sides are in: a planner
//! merging pair by pair never waits on unrelated prefixes.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::mpsc;

use crate::list::multi::{GroupError, GroupListError, ListCounts, LsKind, PrefixListing};
use crate::list::{ListError, Lister, Object};
use crate::s3url::S3Url;

/// `ls` lines in flight per process by default: at 50 ms per request (a WAN round trip)
/// 64 lines keep about 1,300 LIST requests a second going.
pub const DEFAULT_IN_FLIGHT: usize = 64;
/// Lines per process: several times the lines in flight, so one process start (and its
/// bucket HEAD) serves many listings, and a group still hands work over early.
pub const DEFAULT_GROUP_LINES: usize = 4 * DEFAULT_IN_FLIGHT;

#[derive(Debug, Clone, Copy)]
pub struct PairedConfig {
    pub in_flight: usize,
    pub group_lines: usize,
}

impl Default for PairedConfig {
    fn default() -> Self {
        Self {
            in_flight: DEFAULT_IN_FLIGHT,
            group_lines: DEFAULT_GROUP_LINES,
        }
    }
}

/// One prefix listed on both sides, keys relative to each side's folder, in key order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PrefixPair {
    pub prefix: String,
    pub source: Vec<Object>,
    pub dest: Vec<Object>,
}

/// What listing both sides cost.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct PairedCounts {
    pub source: ListCounts,
    pub dest: ListCounts,
    /// Prefixes whose destination was not listed because their source was empty.
    pub dest_skipped: u64,
    /// The most `ls` lines in flight at once (over both sides' processes).
    pub in_flight_max: u64,
}

/// The destination prefixes of a group worth listing: those whose source is not empty.
pub fn dest_wanted(source: &[PrefixListing], prefixes: &[String]) -> Vec<String> {
    source
        .iter()
        .zip(prefixes)
        .filter(|(l, _)| !l.objects.is_empty())
        .map(|(_, p)| p.clone())
        .collect()
}

/// Pair a group's source listings with the destination listings of the prefixes in
/// `wanted` (a subsequence of the group's prefixes, in order). Keys become relative.
fn assemble(
    prefixes: &[String],
    source: Vec<PrefixListing>,
    dest: Vec<PrefixListing>,
    src_folder: &S3Url,
    dst_folder: &S3Url,
) -> Vec<PrefixPair> {
    let relative = |folder: &S3Url, objects: Vec<Object>| -> Vec<Object> {
        objects
            .into_iter()
            .filter_map(|mut o| {
                let rel = folder.relative(&o.key)?.to_owned();
                o.key = rel;
                Some(o)
            })
            .collect()
    };
    let mut dest = dest.into_iter().peekable();
    prefixes
        .iter()
        .zip(source)
        .map(|(p, s)| {
            let key = dst_folder.key(p);
            let d = dest.next_if(|d| d.prefix == key).map(|d| d.objects);
            PrefixPair {
                prefix: p.clone(),
                source: relative(src_folder, s.objects),
                dest: relative(dst_folder, d.unwrap_or_default()),
            }
        })
        .collect()
}

fn first_error(listings: &[PrefixListing]) -> Option<ListError> {
    listings.iter().find_map(|l| l.error.clone())
}

/// Both sides of one side's listing request.
pub struct Side<'a> {
    pub lister: &'a Lister,
    pub folder: &'a S3Url,
}

async fn list_side(
    side: &Side<'_>,
    prefixes: &[String],
    cfg: PairedConfig,
    dir: &Path,
) -> Result<Vec<PrefixListing>, GroupError> {
    if prefixes.is_empty() {
        return Ok(Vec::new());
    }
    let keys: Vec<String> = prefixes.iter().map(|p| side.folder.key(p)).collect();
    side.lister
        .list_group(
            side.folder.bucket(),
            &keys,
            LsKind::Objects,
            cfg.in_flight,
            dir,
        )
        .await
}

/// Lines in flight on both sides now, and the most seen.
#[derive(Default)]
struct InFlight {
    now: AtomicU64,
    max: AtomicU64,
}

impl InFlight {
    fn start(&self, n: u64) {
        let now = self.now.fetch_add(n, Ordering::Relaxed) + n;
        self.max.fetch_max(now, Ordering::Relaxed);
    }

    fn end(&self, n: u64) {
        self.now.fetch_sub(n, Ordering::Relaxed);
    }
}

/// List `prefixes` (relative to both folders) on both sides and send each group's pairs
/// into `tx`, in prefix order. Stops at the first failure, which is sent as the last item,
/// or when the receiver goes away.
///
/// The two sides are two pipelines: the source lists group after group (one group ahead at
/// most), the destination lists each group's wanted prefixes as soon as that group's source
/// is in, and the group's pairs go out as soon as its destination is in: a consumer never
/// waits on a later group's listing.
pub async fn list_paired(
    source: Side<'_>,
    dest: Side<'_>,
    prefixes: &[String],
    cfg: PairedConfig,
    dir: &Path,
    tx: mpsc::Sender<Result<Vec<PrefixPair>, GroupListError>>,
) -> PairedCounts {
    let lines = |n: usize| n.min(cfg.in_flight.max(1)) as u64;
    let flight = InFlight::default();
    let (stx, mut srx) =
        mpsc::channel::<Result<(&[String], Vec<PrefixListing>), GroupListError>>(1);
    let sources = async {
        let mut counts = ListCounts::default();
        for g in prefixes.chunks(cfg.group_lines.max(1)) {
            flight.start(lines(g.len()));
            let s = list_side(&source, g, cfg, dir).await;
            flight.end(lines(g.len()));
            let item = match s {
                Ok(s) => {
                    counts += ListCounts::of(&s);
                    match first_error(&s) {
                        Some(e) => Err(e.into()),
                        None => Ok((g, s)),
                    }
                }
                Err(e) => Err(e.into()),
            };
            let failed = item.is_err();
            if stx.send(item).await.is_err() || failed {
                break;
            }
        }
        drop(stx);
        counts
    };
    let dests = async {
        let mut counts = ListCounts::default();
        let mut skipped = 0u64;
        while let Some(item) = srx.recv().await {
            let (g, src) = match item {
                Ok(x) => x,
                Err(e) => {
                    let _ = tx.send(Err(e)).await;
                    break;
                }
            };
            let wanted = dest_wanted(&src, g);
            flight.start(lines(wanted.len()));
            let d = list_side(&dest, &wanted, cfg, dir).await;
            flight.end(lines(wanted.len()));
            let d = match d {
                Ok(d) => d,
                Err(e) => {
                    let _ = tx.send(Err(e.into())).await;
                    break;
                }
            };
            if !d.is_empty() {
                counts += ListCounts::of(&d);
            }
            if let Some(e) = first_error(&d) {
                let _ = tx.send(Err(e.into())).await;
                break;
            }
            skipped += (g.len() - wanted.len()) as u64;
            let pairs = assemble(g, src, d, source.folder, dest.folder);
            if tx.send(Ok(pairs)).await.is_err() {
                break;
            }
        }
        // Stop the source side too: nobody takes its groups any more.
        drop(srx);
        (counts, skipped)
    };
    let (source_counts, (dest_counts, dest_skipped)) = tokio::join!(sources, dests);
    PairedCounts {
        source: source_counts,
        dest: dest_counts,
        dest_skipped,
        in_flight_max: flight.max.load(Ordering::Relaxed),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listing(prefix: &str, keys: &[&str]) -> PrefixListing {
        PrefixListing {
            prefix: prefix.into(),
            objects: keys
                .iter()
                .map(|k| Object {
                    key: (*k).into(),
                    size: 1,
                    etag: None,
                    last_modified: None,
                })
                .collect(),
            ..PrefixListing::default()
        }
    }

    #[test]
    fn only_prefixes_with_a_source_are_listed_at_the_destination() {
        let ps: Vec<String> = ["a/", "b/", "c/"].map(String::from).into();
        let src = [
            listing("src/a/", &["src/a/1"]),
            listing("src/b/", &[]),
            listing("src/c/", &["src/c/1"]),
        ];
        assert_eq!(dest_wanted(&src, &ps), ["a/", "c/"]);
    }

    #[test]
    fn pairs_keep_prefix_order_and_relative_keys() {
        let src_folder = S3Url::parse("--source", "s3://src/mirror/").unwrap();
        let dst_folder = S3Url::parse("--dest", "s3://dst/lake/").unwrap();
        let ps: Vec<String> = ["a/", "b/", "c/"].map(String::from).into();
        let src = vec![
            listing("mirror/a/", &["mirror/a/1", "mirror/a/2"]),
            listing("mirror/b/", &[]),
            listing("mirror/c/", &["mirror/c/1"]),
        ];
        let dst = vec![listing("lake/c/", &["lake/c/1", "lake/c/9"])];
        let pairs = assemble(&ps, src, dst, &src_folder, &dst_folder);
        let keys = |o: &[Object]| o.iter().map(|o| o.key.clone()).collect::<Vec<_>>();
        assert_eq!(pairs.len(), 3);
        assert_eq!(keys(&pairs[0].source), ["a/1", "a/2"]);
        assert!(pairs[0].dest.is_empty());
        assert!(pairs[1].source.is_empty() && pairs[1].dest.is_empty());
        assert_eq!(keys(&pairs[2].source), ["c/1"]);
        assert_eq!(keys(&pairs[2].dest), ["c/1", "c/9"]);
    }
}
