//! Throttling per partition prefix: which prefixes answered SlowDown / 503, how many
//! workers each may use now, how long to wait before retrying it, and what that cost.
//! Pure data: the attempt loop (`attempt`) feeds it and reads it, the governor asks
//! [`broad`] whether a batch's throttling was the whole endpoint's, the report reads
//! [`ThrottleTable::summary`].
//!
//! S3 throttles per *partitioned prefix* (3,500 writes and 5,500 reads a second each), not
//! per bucket or per client: one hot prefix answering SlowDown says nothing about the
//! others. So a throttle on one prefix lowers that prefix's concurrency and backs off its
//! retries, while the lines of other prefixes go on at the run's full count; only throttling
//! across most of a batch's prefixes (or one no line can be tied to) is the endpoint's, and
//! cuts the run's count ([`broad`]).
//!
//! **The partition prefix of a key** ([`partition_of`]) is the request URL (the
//! destination of a copy or an upload, the source of a download) cut at:
//! - in the archive's layout (`…/data/{market}/{period}/{type}/{SYMBOL}/…`, at the bucket
//!   root or under a destination prefix), the *symbol folder of one data type*:
//!   `data/spot/daily/klines/BTCUSDT/`, `data/futures/um/monthly/trades/ETHUSDT/`. That is
//!   the archive's natural unit of load: a backfill of one symbol hammers exactly that
//!   folder, and S3 splits partitions by key prefix, so the folder's intervals and days sit
//!   in one key range. A data-type folder (the simulator's default depth 4,
//!   `data/spot/daily/klines/`) would make one hot symbol slow every symbol of its type;
//!   the interval folder below would cut one symbol's retries into many processes.
//! - any other key: after [`PARTITION_DEPTH`] `/` (5, the depth of a spot symbol folder
//!   from the bucket root), or its last `/` when it has fewer.
//!
//! **Limits**: a prefix throttled in an attempt gets half the concurrency it ran with (the
//! workers of its process, or fewer when it had fewer lines there: s5cmd's pool works
//! through a prefix's lines, which lie together in key order, with up to that many at
//! once), at least 1, and a backoff (waited before its throttled lines are retried) that
//! starts at [`BACKOFF_BASE`] and doubles per throttled attempt that landed none of the
//! prefix's lines, up to [`BACKOFF_MAX`]. After [`RECOVER_AFTER`] clean runs (a batch's round of lines with
//! lines of the prefix and no throttle there) the limit doubles and the backoff resets;
//! once the limit reaches the run's count the prefix is free again.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Depth of a partition prefix outside the archive's layout: cut after this many `/`.
pub const PARTITION_DEPTH: usize = 5;
/// Clean runs of a limited prefix before its limit doubles.
pub const RECOVER_AFTER: u32 = 2;
/// A throttled prefix's first backoff before its lines are retried; doubles per throttle.
pub const BACKOFF_BASE: Duration = Duration::from_millis(500);
pub const BACKOFF_MAX: Duration = Duration::from_secs(30);
/// At most this many s5cmd processes for limited prefixes in one attempt (beside the one
/// for everything else); further limited prefixes share the last one, at the lowest limit.
pub const MAX_PREFIX_PROCESSES: usize = 8;
/// Prefixes listed in the report, the most throttled first.
pub const REPORT_TOP: usize = 20;

/// The partition prefix of a request URL (`s3://bucket/key`), or of a local path (itself).
pub fn partition_of(url: &str) -> &str {
    let Some(rest) = url.strip_prefix("s3://") else {
        return url;
    };
    let Some(slash) = rest.find('/') else {
        return url;
    };
    let key_at = "s3://".len() + slash + 1;
    let key = &url[key_at..];
    let cut = archive_unit_len(key).unwrap_or_else(|| {
        let mut seen = 0;
        let mut last = 0;
        for (i, b) in key.bytes().enumerate() {
            if b == b'/' {
                seen += 1;
                last = i + 1;
                if seen == PARTITION_DEPTH {
                    break;
                }
            }
        }
        last
    });
    &url[..key_at + cut]
}

/// Length of `…data/{market}/{period}/{type}/{SYMBOL}/` at the start of `key` (after any
/// prefix ending in `/`), when the key lies below such a folder.
fn archive_unit_len(key: &str) -> Option<usize> {
    let at = if key.starts_with("data/") {
        0
    } else {
        key.find("/data/")? + 1
    };
    let below = &key[at + "data/".len()..];
    let segments: Vec<&str> = below.split('/').collect();
    let market = if segments.first() == Some(&"futures") {
        2
    } else {
        1
    };
    // market, period, type, symbol, and a file (or more folders) below.
    let n = market + 3;
    if segments.len() <= n || segments[..n].iter().any(|s| s.is_empty()) {
        return None;
    }
    Some(at + "data/".len() + segments[..n].iter().map(|s| s.len() + 1).sum::<usize>())
}

/// Whether throttling across `throttled` of `prefixes` partition prefixes is the whole
/// endpoint's (cut the run's count) rather than some prefixes' (limit those): an unknown
/// spread (`prefixes == 0`: a throttle no line owns, or a path that does not track
/// prefixes), or at least 2 prefixes throttled and more than half of them. One prefix alone
/// is never broad: its own limit is the remedy, and the others have shown nothing.
pub fn broad(prefixes: usize, throttled: usize) -> bool {
    prefixes == 0 || (throttled >= 2 && throttled * 2 > prefixes)
}

/// Where a batch's lines went and which prefixes answered throttling: folded from its
/// attempt loops (`+=`) and read by the governor ([`Spread::signal`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Spread {
    /// Every partition prefix the lines went to.
    pub prefixes: BTreeSet<String>,
    /// Throttling errors per prefix.
    pub throttled: BTreeMap<String, u64>,
    /// Throttling errors no line of ours owned (a wildcard line's listing, a process-level
    /// error): their prefix is unknown.
    pub unattributed: u64,
}

impl Spread {
    /// `(prefixes, throttled prefixes)` for the governor's [`broad`] rule, given the
    /// batch's throttling errors in all (some may come from paths that do not track
    /// prefixes, e.g. the staged fallback): throttling this spread cannot place makes the
    /// spread unknown, `(0, 0)`.
    pub fn signal(&self, throttled_total: u64) -> (u32, u32) {
        let placed: u64 = self.throttled.values().sum();
        if self.unattributed > 0 || throttled_total > placed {
            return (0, 0);
        }
        let n = |x: usize| u32::try_from(x).unwrap_or(u32::MAX);
        (n(self.prefixes.len()), n(self.throttled.len()))
    }
}

impl std::ops::AddAssign for Spread {
    fn add_assign(&mut self, o: Self) {
        let Spread {
            prefixes,
            throttled,
            unattributed,
        } = o;
        self.prefixes.extend(prefixes);
        for (p, n) in throttled {
            *self.throttled.entry(p).or_default() += n;
        }
        self.unattributed += unattributed;
    }
}

/// One limited prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Limit {
    workers: u32,
    backoff: Duration,
    clean_runs: u32,
}

/// What one prefix's throttling cost over the run (the report's `throttling.prefixes[]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrefixThrottling {
    pub prefix: String,
    /// SlowDown / 503 errors its lines got (after s5cmd's own retries).
    pub throttled: u64,
    /// The lowest worker limit it got.
    pub workers_min: u32,
    /// Lines that ran under its limit (retries included), in its own s5cmd process.
    pub lines_limited: u64,
}

/// The report's `throttling` section.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Throttling {
    /// The most throttled prefixes first, at most [`REPORT_TOP`].
    pub prefixes: Vec<PrefixThrottling>,
    /// Throttled prefixes beyond those listed.
    pub prefixes_omitted: u64,
}

impl Throttling {
    /// Fold another report's section in (for `report merge`): counts add up per prefix,
    /// the lowest limit stays, and the top is taken again.
    pub fn merge(&mut self, o: Throttling) {
        let Throttling {
            prefixes,
            prefixes_omitted,
        } = o;
        let mut all: BTreeMap<String, PrefixThrottling> = std::mem::take(&mut self.prefixes)
            .into_iter()
            .map(|p| (p.prefix.clone(), p))
            .collect();
        for p in prefixes {
            match all.get_mut(&p.prefix) {
                Some(a) => {
                    a.throttled += p.throttled;
                    a.workers_min = a.workers_min.min(p.workers_min);
                    a.lines_limited += p.lines_limited;
                }
                None => {
                    all.insert(p.prefix.clone(), p);
                }
            }
        }
        self.prefixes_omitted += prefixes_omitted;
        let (top, omitted) = top(all.into_values().collect());
        self.prefixes = top;
        self.prefixes_omitted += omitted;
    }
}

/// The most throttled first (ties by prefix), cut at [`REPORT_TOP`]; and how many were cut.
fn top(mut v: Vec<PrefixThrottling>) -> (Vec<PrefixThrottling>, u64) {
    v.sort_by(|a, b| {
        b.throttled
            .cmp(&a.throttled)
            .then_with(|| a.prefix.cmp(&b.prefix))
    });
    let omitted = v.len().saturating_sub(REPORT_TOP) as u64;
    v.truncate(REPORT_TOP);
    (v, omitted)
}

/// The run's throttled prefixes: their limits now and what throttling cost each.
#[derive(Debug, Clone, Default)]
pub struct ThrottleTable {
    limits: BTreeMap<String, Limit>,
    stats: BTreeMap<String, PrefixThrottling>,
}

impl ThrottleTable {
    /// The workers `prefix` may use now (None: not limited).
    pub fn limit(&self, prefix: &str) -> Option<u32> {
        self.limits.get(prefix).map(|l| l.workers)
    }

    /// How long to wait before retrying lines of `prefix` (zero when not limited).
    pub fn backoff(&self, prefix: &str) -> Duration {
        self.limits
            .get(prefix)
            .map_or(Duration::ZERO, |l| l.backoff)
    }

    /// `prefix` answered `errors` throttling errors while `ran_with` workers could work on
    /// it: halve that (at least 1). Its backoff doubles when the attempt `landed` none of
    /// its lines, and stays when some landed (the prefix takes requests at some rate: the
    /// lower concurrency and the wait pace it; doubling then would only idle it, and two
    /// batches in flight throttled at once would double it twice).
    pub fn throttled(&mut self, prefix: &str, ran_with: u32, errors: u64, landed: bool) {
        let workers = (ran_with / 2).max(1);
        let l = self.limits.entry(prefix.to_string()).or_insert(Limit {
            workers,
            backoff: Duration::ZERO,
            clean_runs: 0,
        });
        l.workers = l.workers.min(workers);
        l.backoff = if l.backoff.is_zero() {
            BACKOFF_BASE
        } else if landed {
            l.backoff
        } else {
            (l.backoff * 2).min(BACKOFF_MAX)
        };
        l.clean_runs = 0;
        let s = self.stats(prefix);
        s.throttled += errors;
        s.workers_min = s.workers_min.min(workers);
    }

    /// A run (one attempt loop) sent lines of `prefix` and none was throttled: after
    /// [`RECOVER_AFTER`] of them the limit doubles and the backoff resets; a limit that
    /// reaches `full` (the run's count) is lifted.
    pub fn clean(&mut self, prefix: &str, full: u32) {
        let Some(l) = self.limits.get_mut(prefix) else {
            return;
        };
        l.clean_runs += 1;
        if l.clean_runs < RECOVER_AFTER {
            return;
        }
        l.clean_runs = 0;
        l.backoff = Duration::ZERO;
        l.workers = l.workers.saturating_mul(2);
        if l.workers >= full {
            self.limits.remove(prefix);
        }
    }

    /// `lines` lines of `prefix` ran under its limit.
    pub fn ran_limited(&mut self, prefix: &str, lines: u64) {
        self.stats(prefix).lines_limited += lines;
    }

    fn stats(&mut self, prefix: &str) -> &mut PrefixThrottling {
        self.stats
            .entry(prefix.to_string())
            .or_insert_with(|| PrefixThrottling {
                prefix: prefix.to_string(),
                throttled: 0,
                workers_min: u32::MAX,
                lines_limited: 0,
            })
    }

    /// What throttling cost, per prefix, for the report.
    pub fn summary(&self) -> Throttling {
        let (prefixes, prefixes_omitted) = top(self.stats.values().cloned().collect());
        Throttling {
            prefixes,
            prefixes_omitted,
        }
    }
}

/// The run's table, shared by the batches in flight (the attempt loops of one run).
#[derive(Debug, Clone, Default)]
pub struct SharedTable(Arc<Mutex<ThrottleTable>>);

impl SharedTable {
    /// Work on the table (never held across an await).
    pub fn with<R>(&self, f: impl FnOnce(&mut ThrottleTable) -> R) -> R {
        let mut t = self.0.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut t)
    }
}

/// One s5cmd process of an attempt: the items (indexes into the caller's list) it runs,
/// its worker count, and the prefix whose limit it obeys (None: the run's count).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    pub prefix: Option<String>,
    pub workers: u32,
    pub items: Vec<usize>,
}

/// Split an attempt's items (`prefixes[i]`: item i's partition prefix) into processes: the
/// items of each prefix limited below `workers` in their own process at its limit (at most
/// [`MAX_PREFIX_PROCESSES`]: further ones share the last, at the lowest of their limits),
/// everything else in one process at `workers`. The unlimited group comes first; groups
/// never are empty.
pub fn groups(prefixes: &[&str], table: &ThrottleTable, workers: u32) -> Vec<Group> {
    let mut free = Vec::new();
    let mut limited: BTreeMap<&str, (u32, Vec<usize>)> = BTreeMap::new();
    for (i, p) in prefixes.iter().enumerate() {
        match table.limit(p) {
            Some(w) if w < workers => limited.entry(p).or_insert((w, Vec::new())).1.push(i),
            _ => free.push(i),
        }
    }
    let mut out = Vec::new();
    if !free.is_empty() {
        out.push(Group {
            prefix: None,
            workers,
            items: free,
        });
    }
    for (k, (p, (w, items))) in limited.into_iter().enumerate() {
        if k < MAX_PREFIX_PROCESSES {
            out.push(Group {
                prefix: Some(p.to_string()),
                workers: w,
                items,
            });
        } else if let Some(last) = out.last_mut() {
            last.workers = last.workers.min(w);
            last.items.extend(items);
            last.items.sort_unstable();
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn archive_keys_partition_at_the_symbol_folder_of_a_data_type() {
        let p = |u| partition_of(u);
        assert_eq!(
            p("s3://lake/data/spot/daily/klines/BTCUSDT/1m/BTCUSDT-1m-2024-01-01.zip"),
            "s3://lake/data/spot/daily/klines/BTCUSDT/"
        );
        // Under a destination prefix, and with the two-segment futures markets.
        assert_eq!(
            p(
                "s3://lake/binance/data/futures/um/daily/trades/ETHUSDT/ETHUSDT-trades-2024-01-01.zip.CHECKSUM"
            ),
            "s3://lake/binance/data/futures/um/daily/trades/ETHUSDT/"
        );
        assert_eq!(
            p("s3://lake/a/b/data/spot/monthly/aggTrades/BNBUSDT/x.zip"),
            "s3://lake/a/b/data/spot/monthly/aggTrades/BNBUSDT/"
        );
        // The symbol folder itself with nothing below is not a key under it.
        assert_eq!(
            p("s3://lake/data/spot/daily/klines/BTCUSDT"),
            "s3://lake/data/spot/daily/klines/"
        );
        // An empty segment is not the layout (the archive's `BTCUSDT//` quirk is its own).
        assert_eq!(
            p("s3://b/data/spot//klines/X/y.zip"),
            "s3://b/data/spot//klines/X/"
        );
    }

    #[test]
    fn other_keys_partition_after_five_slashes_or_at_their_folder() {
        let p = |u| partition_of(u);
        assert_eq!(p("s3://b/1/2/3/4/5/6/7.zip"), "s3://b/1/2/3/4/5/");
        assert_eq!(p("s3://b/x/y.zip"), "s3://b/x/");
        assert_eq!(p("s3://b/top.zip"), "s3://b/");
        assert_eq!(p("s3://b"), "s3://b");
        // A local path (a staged line's file) is its own.
        assert_eq!(p("/tmp/w/a.zip"), "/tmp/w/a.zip");
        // Keys with spaces and quotes are cut like any other.
        assert_eq!(p("s3://b/a b/c'd/e.zip"), "s3://b/a b/c'd/");
    }

    #[test]
    fn broad_means_unknown_or_most_of_several_prefixes() {
        assert!(broad(0, 0), "unknown spread: the endpoint");
        assert!(!broad(1, 1), "one prefix alone is its own");
        assert!(!broad(10, 1));
        assert!(!broad(4, 2), "half is not most");
        assert!(broad(3, 2));
        assert!(broad(2, 2));
        assert!(!broad(5, 0));
    }

    #[test]
    fn a_throttled_prefix_halves_backs_off_and_recovers_after_clean_runs() {
        let mut t = ThrottleTable::default();
        let hot = "s3://lake/data/spot/daily/klines/BTCUSDT/";
        assert_eq!((t.limit(hot), t.backoff(hot)), (None, Duration::ZERO));
        t.throttled(hot, 32, 40, false);
        assert_eq!((t.limit(hot), t.backoff(hot)), (Some(16), BACKOFF_BASE));
        t.throttled(hot, 16, 3, false);
        assert_eq!(t.limit(hot), Some(8));
        assert_eq!(t.backoff(hot), BACKOFF_BASE * 2);
        // A throttle measured at a higher count (another batch in flight) never raises it.
        // Some of its lines landed: the backoff stays.
        t.throttled(hot, 32, 1, true);
        assert_eq!(t.limit(hot), Some(8));
        assert_eq!(t.backoff(hot), BACKOFF_BASE * 2);
        for _ in 0..20 {
            t.throttled(hot, 1, 1, false);
        }
        assert_eq!((t.limit(hot), t.backoff(hot)), (Some(1), BACKOFF_MAX));
        // Recovery: doubling after every RECOVER_AFTER clean runs, lifted at the full count.
        let mut seen = Vec::new();
        for _ in 0..12 {
            t.clean(hot, 32);
            seen.push(t.limit(hot));
        }
        assert_eq!(
            seen,
            vec![
                Some(1),
                Some(2),
                Some(2),
                Some(4),
                Some(4),
                Some(8),
                Some(8),
                Some(16),
                Some(16),
                None,
                None,
                None
            ]
        );
        // A throttle during recovery restarts the count of clean runs.
        t.throttled(hot, 8, 1, false);
        t.clean(hot, 32);
        t.throttled(hot, 4, 1, false);
        t.clean(hot, 32);
        assert_eq!(t.limit(hot), Some(2));
        // Other prefixes are never touched; cleaning an unlimited prefix is a no-op.
        t.clean("s3://lake/x/", 32);
        assert_eq!(t.limit("s3://lake/x/"), None);
        let s = t.summary();
        assert_eq!(s.prefixes.len(), 1);
        assert_eq!(s.prefixes[0].throttled, 40 + 3 + 1 + 20 + 2);
        assert_eq!(s.prefixes[0].workers_min, 1);
    }

    #[test]
    fn groups_split_limited_prefixes_into_their_own_processes() {
        let mut t = ThrottleTable::default();
        t.throttled("a/", 8, 1, false); // 4
        t.throttled("c/", 64, 1, false); // 32: not below the run's count
        let g = groups(&["a/", "b/", "a/", "c/", "b/"], &t, 32);
        assert_eq!(
            g,
            vec![
                Group {
                    prefix: None,
                    workers: 32,
                    items: vec![1, 3, 4]
                },
                Group {
                    prefix: Some("a/".into()),
                    workers: 4,
                    items: vec![0, 2]
                },
            ]
        );
        // Only limited prefixes: no empty group for the rest.
        let g = groups(&["a/"], &t, 32);
        assert_eq!(g.len(), 1);
        assert_eq!(g[0].workers, 4);
        // Past MAX_PREFIX_PROCESSES, the rest share the last at the lowest limit.
        let mut t = ThrottleTable::default();
        let names: Vec<String> = (0..MAX_PREFIX_PROCESSES + 3)
            .map(|i| format!("p{i:02}/"))
            .collect();
        for (i, n) in names.iter().enumerate() {
            t.throttled(n, 2 + 2 * i as u32, 1, false);
        }
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        let g = groups(&refs, &t, 64);
        assert_eq!(g.len(), MAX_PREFIX_PROCESSES);
        let last = g.last().unwrap();
        assert_eq!(last.items.len(), 4);
        assert_eq!(last.workers, MAX_PREFIX_PROCESSES as u32);
        let all: usize = g.iter().map(|g| g.items.len()).sum();
        assert_eq!(all, refs.len());
    }

    #[test]
    fn spreads_fold_and_say_when_the_spread_is_unknown() {
        let mut a = Spread::default();
        a.prefixes.extend(["x/".to_string(), "y/".to_string()]);
        a.throttled.insert("x/".into(), 3);
        let mut b = Spread::default();
        b.prefixes.extend(["y/".to_string(), "z/".to_string()]);
        b.throttled.insert("x/".into(), 1);
        a += b;
        assert_eq!(a.prefixes.len(), 3);
        assert_eq!(a.throttled["x/"], 4);
        assert_eq!(a.signal(4), (3, 1));
        // Throttling from elsewhere (the staged path) or owned by no line: unknown.
        assert_eq!(a.signal(5), (0, 0));
        a.unattributed = 1;
        assert_eq!(a.signal(5), (0, 0));
        assert_eq!(Spread::default().signal(0), (0, 0));
    }

    #[test]
    fn summaries_merge_per_prefix_and_keep_the_top() {
        let row = |p: &str, n, w| PrefixThrottling {
            prefix: p.into(),
            throttled: n,
            workers_min: w,
            lines_limited: 1,
        };
        let mut a = Throttling {
            prefixes: vec![row("x/", 5, 8)],
            prefixes_omitted: 0,
        };
        a.merge(Throttling {
            prefixes: vec![row("y/", 9, 16), row("x/", 5, 2)],
            prefixes_omitted: 1,
        });
        let x = PrefixThrottling {
            lines_limited: 2,
            ..row("x/", 10, 2)
        };
        assert_eq!(a.prefixes, vec![x, row("y/", 9, 16)]);
        assert_eq!(a.prefixes_omitted, 1);
        let many = Throttling {
            prefixes: (0..REPORT_TOP + 2)
                .map(|i| row(&format!("{i}/"), 1, 1))
                .collect(),
            prefixes_omitted: 0,
        };
        let mut b = Throttling::default();
        b.merge(many);
        assert_eq!(b.prefixes.len(), REPORT_TOP);
        assert_eq!(b.prefixes_omitted, 2);
    }
}
