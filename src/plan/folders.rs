//! Folder copies: where the plan copies every object under a key prefix, one s5cmd
//! wildcard line (`cp 's3://src/dir/BTCUSDT-1m-2025-*' 's3://dst/dir/'`) does the work of
//! one line per object.
//!
//! Why: s5cmd spends about 1.5 ms of CPU per `run` line on a server-side copy, against about
//! 0.65 ms per object of a wildcard copy (measured with s5cmd v2.3.0 on Garage, 2 cores;
//! see the README's "Folder copies"). On a small machine copying small files that CPU is
//! the wall time.
//!
//! The listing is sorted, so the keys sharing any prefix are consecutive: they form a node
//! of the prefix tree of the listed keys, and a wildcard `P*` copies exactly the keys of
//! node `P` (when the listing covered `P`). A node is copied whole only when that copies
//! exactly the plan:
//! - every listed key in it is in scope (selection, dates, shard) and planned (nothing in
//!   place already, nothing over the server-side copy limit);
//! - its prefix starts with a listing prefix (the listing saw every key under it);
//! - all its keys are in one folder (s5cmd's `*` also matches keys in subfolders, whose
//!   destination paths we do not rely on);
//! - its prefix and both folder URLs hold no wildcard or control character, and the prefix
//!   ends on a character boundary;
//! - it holds at least `min` objects (the wildcard costs one LIST request).
//!
//! Nodes close as the sorted keys move past them. A closed whole node waits for its parent,
//! which supersedes it if the parent turns out whole too (one line for the whole folder),
//! and goes out on its own otherwise. Everything no open node can still take goes out as
//! single items, in key order. Once `pipeline_at` keys are held, the closed whole nodes go
//! out as they are (a year of daily files each), so copying starts while a long listing
//! goes on; at most `max` keys are held.

use crate::plan::batch::Item;

/// Fewest objects worth one wildcard line (the wildcard costs one extra LIST request).
pub const MIN_FOLDER_OBJECTS: usize = 50;
/// Keys held before the closed whole nodes go out without waiting for their parent: a
/// folder of up to this many keys goes as one line; a longer one goes in pieces (a year of
/// daily files with their CHECKSUMs is 730 objects) while the listing goes on.
pub const PIPELINE_FOLDER_OBJECTS: usize = 5_000;
/// Most keys held back while nodes are open.
pub const MAX_FOLDER_OBJECTS: usize = 10_000;

/// What the planner batches next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Planned {
    /// Objects to copy one line each.
    Items(Vec<Item>),
    /// Every object under a key prefix (relative to the source folder), in key order.
    Folder { prefix: String, items: Vec<Item> },
}

/// An open node: its prefix length, the index of its first key, and how many bytes that
/// key shares with the key before it.
#[derive(Debug, Clone, Copy)]
struct Node {
    len: usize,
    start: usize,
    before: usize,
}

/// A closed whole node waiting for its parent: keys `start..end`.
#[derive(Debug, Clone)]
struct Candidate {
    start: usize,
    end: usize,
    prefix: String,
}

#[derive(Debug)]
struct Held {
    key: String,
    item: Option<Item>,
}

/// Groups planned copies into wildcard prefixes; see the module docs.
#[derive(Debug)]
pub struct FolderTracker {
    enabled: bool,
    /// Listing prefixes, relative to the source folder.
    prefixes: Vec<String>,
    /// Both folders as `s3://bucket/prefix` URLs, for the wildcard check.
    urls: [String; 2],
    min: usize,
    pipeline_at: usize,
    max: usize,
    /// Keys from index `base` on, not yet handed out.
    held: std::collections::VecDeque<Held>,
    base: usize,
    /// Index of the next key.
    next: usize,
    stack: Vec<Node>,
    candidates: Vec<Candidate>,
    /// The last key that cannot travel in a wildcard.
    last_bad: Option<usize>,
    /// The last index whose key is in another folder than the key before it.
    last_break: usize,
    prev_key: Option<String>,
}

/// The folder part of a relative key, with its trailing `/` ("" at the root).
pub fn dir_of(key: &str) -> &str {
    key.rfind('/').map_or("", |i| &key[..=i])
}

fn wildcard_safe(s: &str) -> bool {
    !s.chars()
        .any(|c| c.is_control() || matches!(c, '*' | '?' | '[' | ']' | '{' | '}' | '\\'))
}

fn common_prefix_len(a: &str, b: &str) -> usize {
    a.bytes().zip(b.bytes()).take_while(|(x, y)| x == y).count()
}

impl FolderTracker {
    /// `source_url` and `dest_url` are the two folders as `s3://bucket/prefix` URLs.
    pub fn new(enabled: bool, prefixes: Vec<String>, source_url: &str, dest_url: &str) -> Self {
        Self {
            enabled,
            prefixes,
            urls: [source_url.to_string(), dest_url.to_string()],
            min: MIN_FOLDER_OBJECTS,
            pipeline_at: PIPELINE_FOLDER_OBJECTS,
            max: MAX_FOLDER_OBJECTS,
            held: Default::default(),
            base: 0,
            next: 0,
            stack: Vec::new(),
            candidates: Vec::new(),
            last_bad: None,
            last_break: 0,
            prev_key: None,
        }
    }

    /// Change the size bounds (tests).
    pub fn with_bounds(mut self, min: usize, pipeline_at: usize, max: usize) -> Self {
        self.min = min.max(1);
        self.pipeline_at = pipeline_at.max(self.min);
        self.max = max.max(self.pipeline_at);
        self
    }

    fn key(&self, index: usize) -> &str {
        &self.held[index - self.base].key
    }

    /// The node, closing at `end` (the next key shares `after` bytes with its last key), as
    /// a wildcard prefix if it is whole. Any prefix longer than both neighbours' shared
    /// parts selects the same keys: the folder itself when it qualifies (a plain
    /// `dir/*`), else the node's own prefix.
    fn whole(&self, node: Node, end: usize, after: usize) -> Option<String> {
        if node.start < self.base
            || self.last_bad.is_some_and(|b| b >= node.start)
            || self.last_break > node.start
            || end - node.start < self.min
        {
            return None;
        }
        let first = self.key(node.start);
        let dir = dir_of(first);
        let shortest = node.before.max(after) + 1;
        let mut choices = Vec::with_capacity(2);
        if dir.len() >= shortest && dir.len() <= node.len {
            choices.push(dir);
        }
        if first.is_char_boundary(node.len) {
            choices.push(&first[..node.len]);
        }
        if !self.urls.iter().all(|u| wildcard_safe(u)) {
            return None;
        }
        choices
            .into_iter()
            .find(|prefix| {
                wildcard_safe(prefix)
                    && self.prefixes.iter().any(|p| prefix.starts_with(p.as_str()))
            })
            .map(str::to_string)
    }

    fn close(&mut self, node: Node, end: usize, after: usize) {
        let Some(prefix) = self.whole(node, end, after) else {
            return;
        };
        debug_assert!(self.candidates.iter().all(|c| c.end <= end));
        // It supersedes the candidates inside it.
        self.candidates.retain(|c| c.start < node.start);
        self.candidates.push(Candidate {
            start: node.start,
            end,
            prefix,
        });
    }

    /// Hand out everything before index `to`: candidates as folders, the rest as items.
    fn flush_to(&mut self, to: usize, out: &mut Vec<Planned>) {
        if to <= self.base {
            return;
        }
        let cands: Vec<Candidate> = {
            let (before, after): (Vec<_>, Vec<_>) = std::mem::take(&mut self.candidates)
                .into_iter()
                .partition(|c| c.end <= to);
            self.candidates = after;
            before
        };
        for c in cands {
            let singles = self.take_items(c.start);
            if !singles.is_empty() {
                out.push(Planned::Items(singles));
            }
            let items = self.take_items(c.end);
            out.push(Planned::Folder {
                prefix: c.prefix,
                items,
            });
        }
        let singles = self.take_items(to);
        if !singles.is_empty() {
            out.push(Planned::Items(singles));
        }
    }

    /// The planned items of keys `base..to`, dropping those keys.
    fn take_items(&mut self, to: usize) -> Vec<Item> {
        let n = to.saturating_sub(self.base).min(self.held.len());
        self.base += n;
        self.held.drain(..n).filter_map(|h| h.item).collect()
    }

    /// The next source object in key order, planned for copy; `eligible` is false when a
    /// wildcard must not carry it (too large, unwritable key). Returns what is final so far,
    /// in key order.
    pub fn observe_item(&mut self, item: Item, eligible: bool) -> Vec<Planned> {
        if !self.enabled {
            return vec![Planned::Items(vec![item])];
        }
        let key = item.object.key.clone();
        self.observe(&key, Some(item), eligible)
    }

    /// The next source key in key order, not planned (out of scope, or already in place):
    /// no wildcard may carry it.
    pub fn observe_key(&mut self, key: &str) -> Vec<Planned> {
        if !self.enabled {
            return Vec::new();
        }
        self.observe(key, None, false)
    }

    /// The next source key (enabled tracker only).
    fn observe(&mut self, key: &str, item: Option<Item>, eligible: bool) -> Vec<Planned> {
        let mut out = Vec::new();
        let index = self.next;
        self.next += 1;
        let mut shared = 0;
        if let Some(prev) = self.prev_key.take() {
            let d = common_prefix_len(&prev, key);
            shared = d;
            let mut earliest = None;
            while let Some(&node) = self.stack.last() {
                if node.len <= d {
                    break;
                }
                self.stack.pop();
                self.close(node, index, d);
                earliest = Some((node.start, node.before));
            }
            // The common ancestor of the previous key and this one.
            if let Some((start, before)) = earliest
                && self.stack.last().is_none_or(|n| n.len < d)
            {
                self.stack.push(Node {
                    len: d,
                    start,
                    before,
                });
            }
            // Marked after closing: the nodes that closed end before this key.
            if dir_of(&prev) != dir_of(key) {
                self.last_break = index;
            }
        }
        if !eligible {
            self.last_bad = Some(index);
        }
        self.held.push_back(Held {
            key: key.to_string(),
            item,
        });
        self.stack.push(Node {
            len: key.len(),
            start: index,
            before: shared,
        });
        self.prev_key = Some(key.to_string());

        // What no open node can still take is final (candidates before the outermost node
        // that can still be whole have no parent left to join).
        let open_from = self
            .stack
            .iter()
            .find(|n| {
                n.start >= self.base
                    && self.last_bad.is_none_or(|b| b < n.start)
                    && self.last_break <= n.start
            })
            .map_or(self.next, |n| n.start);
        self.flush_to(open_from, &mut out);
        // Long folders: what is decided goes now (its open ancestors can no longer be
        // whole, which is the price of copying while the listing goes on).
        if self.next - self.base > self.pipeline_at
            && let Some(end) = self.candidates.last().map(|c| c.end)
        {
            self.flush_to(end, &mut out);
        }
        if self.next - self.base > self.max {
            let next = self.next;
            self.flush_to(next, &mut out);
        }
        out
    }

    /// Close every open node and hand out the rest.
    pub fn finish(&mut self) -> Vec<Planned> {
        let mut out = Vec::new();
        let end = self.next;
        while let Some(node) = self.stack.pop() {
            self.close(node, end, 0);
        }
        self.flush_to(end, &mut out);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::list::Object;
    use crate::plan::Reason;
    use std::collections::BTreeSet;

    fn item(key: &str) -> Item {
        Item {
            object: Object {
                key: key.into(),
                size: 1,
                last_modified: None,
                etag: None,
            },
            reason: Reason::Missing,
        }
    }

    fn tracker(prefixes: &[&str]) -> FolderTracker {
        FolderTracker::new(
            true,
            prefixes.iter().map(|p| p.to_string()).collect(),
            "s3://src",
            "s3://dst/p",
        )
        .with_bounds(3, 6, 40)
    }

    /// Feed (key, planned, eligible); flatten to readable strings, joining neighbouring
    /// item runs (items come out as they become final).
    fn run(t: &mut FolderTracker, keys: &[(&str, bool, bool)]) -> Vec<String> {
        let mut out = Vec::new();
        for &(k, planned, eligible) in keys {
            out.extend(feed(t, k, planned, eligible));
        }
        out.extend(t.finish());
        let mut joined: Vec<Planned> = Vec::new();
        for p in out {
            match (joined.last_mut(), p) {
                (Some(Planned::Items(a)), Planned::Items(b)) => a.extend(b),
                (_, p) => joined.push(p),
            }
        }
        joined
            .into_iter()
            .map(|p| match p {
                Planned::Items(v) => format!(
                    "items:{}",
                    v.iter()
                        .map(|i| i.object.key.as_str())
                        .collect::<Vec<_>>()
                        .join(",")
                ),
                Planned::Folder { prefix, items } => format!("folder:{prefix}:{}", items.len()),
            })
            .collect()
    }

    /// One key through the public calls the planner makes.
    fn feed(t: &mut FolderTracker, k: &str, planned: bool, eligible: bool) -> Vec<Planned> {
        if planned {
            t.observe_item(item(k), eligible)
        } else {
            t.observe_key(k)
        }
    }

    fn all(keys: &[&'static str]) -> Vec<(&'static str, bool, bool)> {
        keys.iter().map(|k| (*k, true, true)).collect()
    }

    #[test]
    fn a_whole_folder_becomes_one_line() {
        let mut t = tracker(&["data/"]);
        let got = run(
            &mut t,
            &all(&["data/a/1", "data/a/2", "data/a/3", "data/b/1"]),
        );
        assert_eq!(got, vec!["folder:data/a/:3", "items:data/b/1"]);
    }

    #[test]
    fn part_of_a_folder_goes_as_a_name_prefix() {
        // 2024 is partly in place; 2025 is missing whole.
        let mut keys = vec![("d/x-2024-1", true, true), ("d/x-2024-2", false, false)];
        keys.extend(all(&[
            "d/x-2025-1",
            "d/x-2025-2",
            "d/x-2025-3",
            "d/x-2025-4",
        ]));
        let mut t = tracker(&["d/"]);
        assert_eq!(
            run(&mut t, &keys),
            vec!["items:d/x-2024-1", "folder:d/x-2025-:4"]
        );
    }

    #[test]
    fn long_folders_go_in_pieces_while_the_listing_goes_on() {
        let keys: Vec<String> = (0..8)
            .map(|i| format!("d/y1-{i}"))
            .chain((0..8).map(|i| format!("d/y2-{i}")))
            .collect();
        let mut t = tracker(&[""]);
        let mut when = Vec::new();
        for (n, k) in keys.iter().enumerate() {
            for p in t.observe_item(item(k), true) {
                if let Planned::Folder { prefix, items } = p {
                    when.push((n, prefix, items.len()));
                }
            }
        }
        for p in t.finish() {
            if let Planned::Folder { prefix, items } = p {
                when.push((keys.len(), prefix, items.len()));
            }
        }
        // More than 6 keys held: y1 goes when the first y2 key closes it (index 8); y2 when
        // the listing ends.
        assert_eq!(
            when,
            vec![(8, "d/y1-".to_string(), 8), (16, "d/y2-".to_string(), 8)]
        );
        // Below the pipelining size the folder waits and goes as one line.
        let mut t = FolderTracker::new(true, vec![String::new()], "s3://src", "s3://dst")
            .with_bounds(3, 20, 40);
        let keys: Vec<(&str, bool, bool)> = keys.iter().map(|k| (k.as_str(), true, true)).collect();
        assert_eq!(run(&mut t, &keys), vec!["folder:d/:16"]);
    }

    #[test]
    fn small_whole_nodes_wait_for_their_parent() {
        // Two nodes of 3 under "d/a": the parent (6) is whole, so it goes as one line.
        let mut t = tracker(&[""]);
        let got = run(
            &mut t,
            &all(&[
                "d/a1-1", "d/a1-2", "d/a1-3", "d/a2-1", "d/a2-2", "d/a2-3", "d/b",
            ]),
        );
        assert_eq!(got, vec!["folder:d/a:6", "items:d/b"]);
        // The parent is not whole: each child goes as its own line.
        let mut t = tracker(&[""]);
        let mut keys = all(&["d/a1-1", "d/a1-2", "d/a1-3", "d/a2-1", "d/a2-2", "d/a2-3"]);
        keys.push(("d/a3", false, false));
        assert_eq!(run(&mut t, &keys), vec!["folder:d/a1-:3", "folder:d/a2-:3"]);
    }

    #[test]
    fn subfolders_never_travel_in_a_wildcard() {
        let mut t = tracker(&[""]);
        let got = run(&mut t, &all(&["d/a1", "d/a2", "d/a3", "d/a4/x", "d/a5"]));
        assert_eq!(got, vec!["items:d/a1,d/a2,d/a3,d/a4/x,d/a5"]);
        let mut t = tracker(&[""]);
        let got = run(
            &mut t,
            &all(&["d/a1", "d/a2", "d/a3", "d/b/x1", "d/b/x2", "d/b/x3"]),
        );
        assert_eq!(got, vec!["folder:d/a:3", "folder:d/b/:3"]);
    }

    #[test]
    fn uncovered_unsafe_and_disabled_stay_items() {
        let mut t = tracker(&["d/a-2"]);
        assert_eq!(
            run(&mut t, &all(&["d/a-21", "d/a-22", "d/a-23", "d/a-31"][..3])),
            vec!["folder:d/a-2:3"],
            "the listing prefix covers d/a-2"
        );
        let mut t = tracker(&["d/a-2", "d/a-3"]);
        assert_eq!(
            run(&mut t, &all(&["d/a-21", "d/a-22", "d/a-31"])),
            vec!["items:d/a-21,d/a-22,d/a-31"],
            "d/a- reaches beyond the listing prefixes"
        );
        let mut t = tracker(&[""]);
        assert_eq!(
            run(&mut t, &all(&["d*/1", "d*/2", "d*/3"])),
            vec!["items:d*/1,d*/2,d*/3"]
        );
        let mut t = FolderTracker::new(true, vec![String::new()], "s3://src/we?rd", "s3://dst")
            .with_bounds(3, 6, 40);
        assert_eq!(
            run(&mut t, &all(&["d/1", "d/2", "d/3"])),
            vec!["items:d/1,d/2,d/3"]
        );
        let mut t = FolderTracker::new(false, vec![String::new()], "s3://src", "s3://dst")
            .with_bounds(3, 6, 40);
        assert_eq!(
            run(&mut t, &all(&["d/1", "d/2", "d/3"])),
            vec!["items:d/1,d/2,d/3"]
        );
        // Too few.
        let mut t = tracker(&[""]);
        assert_eq!(run(&mut t, &all(&["d/1", "d/2"])), vec!["items:d/1,d/2"]);
    }

    #[test]
    fn a_disabled_tracker_holds_nothing_back() {
        let mut t = FolderTracker::new(false, vec![String::new()], "s3://src", "s3://dst");
        for k in ["d/1", "d/2", "d/3"] {
            assert_eq!(
                t.observe_item(item(k), true),
                vec![Planned::Items(vec![item(k)])]
            );
        }
        assert_eq!(t.observe_key("d/4"), vec![]);
        assert_eq!(t.finish(), vec![]);
    }

    /// A tiny deterministic generator (no dependency for one test).
    struct Lcg(u64);
    impl Lcg {
        fn next(&mut self) -> u64 {
            self.0 = self
                .0
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            self.0 >> 33
        }
        fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
            xs[(self.next() % xs.len() as u64) as usize]
        }
    }

    /// Whatever the keys, prefixes and decisions: every planned item comes out once, in
    /// key order; every wildcard prefix matches exactly its own items among ALL listed
    /// keys, all eligible, in one folder, inside a listing prefix; held keys stay bounded.
    #[test]
    fn property_wildcards_copy_exactly_the_plan() {
        let mut rng = Lcg(7);
        let listing_sets: [&[&str]; 4] = [&[""], &["d/"], &["d/a", "e/"], &["d/", "e/x"]];
        let (mut folders, mut name_prefixes) = (0, 0);
        for round in 0..400 {
            let prefixes = listing_sets[round % listing_sets.len()];
            let mut keys = BTreeSet::new();
            let n = 1 + rng.next() % 120;
            for _ in 0..n {
                let dir = rng.pick(&["", "d/", "d/a/", "d/ab/", "e/", "e/x/"]);
                let len = 1 + rng.next() % 5;
                let name: String = (0..len)
                    .map(|_| rng.pick(&["a", "b", "1", "2", "."]))
                    .collect();
                let key = format!("{dir}{name}");
                if prefixes.iter().any(|p| key.starts_with(p)) {
                    keys.insert(key);
                }
            }
            let keys: Vec<String> = keys.into_iter().collect();
            let decide: Vec<(bool, bool)> = keys
                .iter()
                .map(|_| match rng.next() % 20 {
                    0 => (false, false),
                    1 => (true, false),
                    _ => (true, true),
                })
                .collect();
            let (min, emit, max) = (2 + (round % 3), 4 + (round % 7), 12 + (round % 30));
            let mut t = FolderTracker::new(
                true,
                prefixes.iter().map(|p| p.to_string()).collect(),
                "s3://src",
                "s3://dst",
            )
            .with_bounds(min, emit, max);
            let mut out = Vec::new();
            for (k, &(planned, eligible)) in keys.iter().zip(&decide) {
                out.extend(feed(&mut t, k, planned, eligible));
                assert!(
                    t.held.len() <= max + 1,
                    "round {round}: {} held",
                    t.held.len()
                );
            }
            out.extend(t.finish());
            let mut seen = Vec::new();
            for p in &out {
                match p {
                    Planned::Items(v) => seen.extend(v.iter().map(|i| i.object.key.clone())),
                    Planned::Folder { prefix, items } => {
                        folders += 1;
                        name_prefixes += usize::from(!prefix.ends_with('/'));
                        let members: Vec<&String> = items.iter().map(|i| &i.object.key).collect();
                        let matching: Vec<&String> = keys
                            .iter()
                            .filter(|k| k.starts_with(prefix.as_str()))
                            .collect();
                        assert_eq!(members, matching, "round {round}: prefix {prefix:?}");
                        assert!(items.len() >= min, "round {round}");
                        assert!(
                            prefixes.iter().any(|p| prefix.starts_with(p)),
                            "round {round}"
                        );
                        for m in &members {
                            let i = keys.iter().position(|k| k == *m).unwrap();
                            assert_eq!(decide[i], (true, true), "round {round}: {m}");
                            assert_eq!(dir_of(m), dir_of(prefix), "round {round}: {m} vs {prefix}");
                        }
                        seen.extend(members.into_iter().cloned());
                    }
                }
            }
            let want: Vec<String> = keys
                .iter()
                .zip(&decide)
                .filter(|(_, d)| d.0)
                .map(|(k, _)| k.clone())
                .collect();
            assert_eq!(seen, want, "round {round}");
        }
        // The generator must exercise the interesting cases.
        assert!(
            folders > 200 && name_prefixes > 100,
            "{folders} folders, {name_prefixes} name prefixes"
        );
    }
}
