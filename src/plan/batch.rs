//! Cutting the stream of copy decisions into batches of at most `batch_size` objects.

use crate::list::Object;
use crate::plan::Reason;

/// One object to copy. `object.key` is relative to the source/destination folders.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    pub object: Object,
    pub reason: Reason,
}

/// Items `start..start + len` of a batch are every object under a key prefix, copied with
/// one wildcard line (see `folders`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FolderRange {
    /// Key prefix relative to the source folder (a folder, or part of a file name).
    pub prefix: String,
    pub start: usize,
    pub len: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batch {
    /// 0-based, in plan order.
    pub index: usize,
    pub items: Vec<Item>,
    /// Key prefixes copied whole among the items (direct mode), in item order.
    pub folders: Vec<FolderRange>,
}

impl Batch {
    pub fn bytes(&self) -> u64 {
        self.items.iter().map(|i| i.object.size).sum()
    }

    /// Cut off about the first `n` objects as a batch of their own, so that a long batch
    /// runs as pieces the governor can decide between. The piece has this batch's index;
    /// `self` keeps the rest. None when nothing would remain.
    ///
    /// A cut never parts a zip from the `.zip.CHECKSUM` right after it. Inside a wildcard
    /// line's prefix it goes where neighbouring keys share the least (within a quarter of
    /// `n`: between two months or years of daily files rather than two days), and each side
    /// of the cut copies its part of the prefix with wildcard lines of its own
    /// ([`sub_prefixes`]): s5cmd spends half the CPU per object on a wildcard line that it
    /// spends on a line per object, and at WAN latency that CPU is what bounds a run.
    pub fn split_off_front(&mut self, n: usize) -> Option<Batch> {
        let mut cut = self.natural_cut(n.max(1));
        while cut < self.items.len()
            && self.items[cut - 1].object.key.ends_with(".zip")
            && self.items[cut].object.key == format!("{}.CHECKSUM", self.items[cut - 1].object.key)
        {
            cut += 1;
        }
        if cut >= self.items.len() {
            return None;
        }
        let (mut head, mut tail) = (Vec::new(), Vec::new());
        for f in std::mem::take(&mut self.folders) {
            let end = f.start + f.len;
            if end <= cut {
                head.push(f);
            } else if f.start >= cut {
                tail.push(FolderRange {
                    start: f.start - cut,
                    ..f
                });
            } else {
                let keys: Vec<&str> = self.items[f.start..end]
                    .iter()
                    .map(|i| i.object.key.as_str())
                    .collect();
                let at = cut - f.start;
                head.extend(
                    sub_prefixes(&keys[..at], &f.prefix, None, Some(keys[at]))
                        .into_iter()
                        .map(|r| FolderRange {
                            start: f.start + r.start,
                            ..r
                        }),
                );
                tail.extend(
                    sub_prefixes(&keys[at..], &f.prefix, Some(keys[at - 1]), None)
                        .into_iter()
                        .map(|r| FolderRange {
                            start: r.start + f.start + at - cut,
                            ..r
                        }),
                );
            }
        }
        let rest = self.items.split_off(cut);
        let front = std::mem::replace(&mut self.items, rest);
        self.folders = tail;
        Some(Batch {
            index: self.index,
            items: front,
            folders: head,
        })
    }

    /// Where to cut for a piece of about `n` objects: `n`, or, when that falls inside a
    /// wildcard line's prefix, the place within a quarter of `n` where the two keys around
    /// the cut share the shortest beginning (the first such place): the prefix's own
    /// boundaries when they are that close (a batch of many small folders, such as a
    /// backfill's months of every symbol, is cut between folders and keeps one line each),
    /// else between two months or years inside it.
    fn natural_cut(&self, n: usize) -> usize {
        let Some(f) = self
            .folders
            .iter()
            .find(|f| f.start < n && n < f.start + f.len)
        else {
            return n;
        };
        let lo = (n - n / 4).max(f.start).max(1);
        let hi = (n + n / 4).min(f.start + f.len).min(self.items.len() - 1);
        (lo..=hi)
            .min_by_key(|&c| common_len(&self.items[c - 1].object.key, &self.items[c].object.key))
            .unwrap_or(n)
    }
}

/// Objects a wildcard line of a cut prefix must cover at least (each line costs s5cmd a LIST
/// request and a round trip before its first copy); fewer go one line each.
pub const MIN_SUB_PREFIX_OBJECTS: usize = 16;

/// The wildcard lines for `keys` (sorted, consecutive, every key under `prefix` that lies
/// between the keys `left` and `right`, which are under it too but outside this part):
/// each line's prefix is the shortest beginning of a key that neither neighbour shares, so
/// it matches exactly a run of `keys`. Runs under [`MIN_SUB_PREFIX_OBJECTS`] get no line.
/// Ranges are indexes into `keys`.
pub fn sub_prefixes(
    keys: &[&str],
    prefix: &str,
    left: Option<&str>,
    right: Option<&str>,
) -> Vec<FolderRange> {
    let shared = |k: &str| {
        let l = left.map_or(0, |o| common_len(k, o));
        let r = right.map_or(0, |o| common_len(k, o));
        l.max(r).max(prefix.len())
    };
    let mut out = Vec::new();
    let mut i = 0;
    while i < keys.len() {
        let key = keys[i];
        // One character past what a neighbour shares (whole characters only).
        let mut end = shared(key) + 1;
        while end < key.len() && !key.is_char_boundary(end) {
            end += 1;
        }
        if end > key.len() {
            // A neighbour holds the whole key as its beginning: no prefix is this key's alone.
            i += 1;
            continue;
        }
        let p = &key[..end];
        let run = keys[i..].iter().take_while(|k| k.starts_with(p)).count();
        if run >= MIN_SUB_PREFIX_OBJECTS {
            out.push(FolderRange {
                prefix: p.to_owned(),
                start: i,
                len: run,
            });
        }
        i += run;
    }
    out
}

/// Bytes two keys share at their beginning, on a character boundary.
fn common_len(a: &str, b: &str) -> usize {
    a.char_indices()
        .zip(b.chars())
        .take_while(|((_, x), y)| x == y)
        .last()
        .map_or(0, |((i, x), _)| i + x.len_utf8())
}

/// A batch holding wildcard lines may grow to this many objects (one s5cmd process for a
/// few years of daily files instead of one per year; a single wildcard line larger than
/// this is a batch of its own).
pub const FOLDER_BATCH_OBJECTS: usize = 2000;

/// Accumulates items and hands out full batches; `finish` returns the last partial one.
#[derive(Debug)]
pub struct Batcher {
    size: usize,
    folder_size: usize,
    next_index: usize,
    current: Vec<Item>,
    folders: Vec<FolderRange>,
}

impl Batcher {
    pub fn new(size: usize) -> Self {
        let size = size.max(1);
        Self {
            size,
            folder_size: size.max(FOLDER_BATCH_OBJECTS),
            next_index: 0,
            current: Vec::with_capacity(size),
            folders: Vec::new(),
        }
    }

    /// Objects the current batch may hold: more once it holds a wildcard line.
    fn limit(&self) -> usize {
        if self.folders.is_empty() {
            self.size
        } else {
            self.folder_size
        }
    }

    /// Change the size of batches holding wildcard lines (tests).
    pub fn with_folder_size(mut self, n: usize) -> Self {
        self.folder_size = n.max(self.size);
        self
    }

    /// Add the objects of one wildcard line: never split. A batch holding wildcard lines
    /// may grow to `FOLDER_BATCH_OBJECTS`; one line larger than that is a batch of its own.
    /// Returns the batches this completed (at most two).
    pub fn push_folder(&mut self, prefix: String, items: Vec<Item>) -> Vec<Batch> {
        let mut out = Vec::new();
        if items.is_empty() {
            return out;
        }
        let limit = self.folder_size;
        if !self.current.is_empty() && self.current.len() + items.len() > limit {
            out.push(self.take());
        }
        self.folders.push(FolderRange {
            prefix,
            start: self.current.len(),
            len: items.len(),
        });
        self.current.extend(items);
        if self.current.len() >= limit {
            out.push(self.take());
        }
        out
    }

    /// Add an item; returns a batch when this item filled one.
    ///
    /// A `.zip` that would end a full batch is carried into the next one, so that it
    /// travels with its `.zip.CHECKSUM` (which sorts right after it): staged mode verifies
    /// a zip against the CHECKSUM downloaded in the same batch.
    pub fn push(&mut self, item: Item) -> Option<Batch> {
        self.current.push(item);
        if self.current.len() < self.limit() {
            return None;
        }
        if self.size >= 2
            && let Some(last) = self.current.pop_if(|i| i.object.key.ends_with(".zip"))
        {
            let batch = self.take();
            self.current.push(last);
            return Some(batch);
        }
        Some(self.take())
    }

    /// The remaining items, if any.
    pub fn finish(&mut self) -> Option<Batch> {
        (!self.current.is_empty()).then(|| self.take())
    }

    fn take(&mut self) -> Batch {
        let items = std::mem::replace(&mut self.current, Vec::with_capacity(self.size));
        let folders = std::mem::take(&mut self.folders);
        let index = self.next_index;
        self.next_index += 1;
        Batch {
            index,
            items,
            folders,
        }
    }
}

/// How many batches `n` objects make.
pub fn batch_count(n: u64, size: usize) -> u64 {
    n.div_ceil(size.max(1) as u64)
}

#[cfg(test)]
mod tests {

    fn item_at(key: &str) -> Item {
        Item {
            object: Object {
                key: key.into(),
                size: 1,
                etag: None,
                last_modified: None,
            },
            reason: Reason::Missing,
        }
    }

    #[test]
    fn a_long_batch_splits_into_pieces_keeping_pairs_and_whole_folders() {
        let mut keys = vec!["a/1".to_string(), "a/2".to_string()];
        for d in 0..4 {
            keys.push(format!("b/{d}.zip"));
            keys.push(format!("b/{d}.zip.CHECKSUM"));
        }
        keys.extend(["c/1".to_string(), "c/2".to_string()]);
        let mut b = Batch {
            index: 7,
            items: keys.iter().map(|k| item_at(k)).collect(),
            folders: vec![
                FolderRange {
                    prefix: "a/".into(),
                    start: 0,
                    len: 2,
                },
                FolderRange {
                    prefix: "b/".into(),
                    start: 2,
                    len: 8,
                },
                FolderRange {
                    prefix: "c/".into(),
                    start: 10,
                    len: 2,
                },
            ],
        };
        // A cut after b/0.zip moves past its CHECKSUM.
        let p = b.split_off_front(3).unwrap();
        let keys_of = |b: &Batch| {
            b.items
                .iter()
                .map(|i| i.object.key.clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(keys_of(&p), ["a/1", "a/2", "b/0.zip", "b/0.zip.CHECKSUM"]);
        assert_eq!(p.index, 7);
        // Only a/ lies wholly in the piece; b/ is cut, so neither part copies it whole.
        assert_eq!(p.folders.len(), 1);
        assert_eq!(p.folders[0].prefix, "a/");
        assert_eq!(b.items.len(), 8);
        assert_eq!(b.folders.len(), 1);
        assert_eq!(
            (
                b.folders[0].prefix.as_str(),
                b.folders[0].start,
                b.folders[0].len
            ),
            ("c/", 6, 2)
        );
        assert!(b.split_off_front(8).is_none(), "nothing would remain");
        assert_eq!(b.items.len(), 8);
    }

    /// A batch of many small whole folders (a backfill: one month of every symbol) is cut
    /// between two folders when one boundary lies within a quarter of the piece size, so
    /// each folder keeps its one wildcard line instead of three of its days' sub-prefixes.
    #[test]
    fn a_cut_near_a_folder_boundary_goes_there() {
        let mut keys = Vec::new();
        let mut folders = Vec::new();
        for s in 0..3 {
            folders.push(FolderRange {
                prefix: format!("S{s}/S{s}-1m-2026-11-"),
                start: keys.len(),
                len: 60,
            });
            for d in 1..=30 {
                keys.push(format!("S{s}/S{s}-1m-2026-11-{d:02}.zip"));
                keys.push(format!("S{s}/S{s}-1m-2026-11-{d:02}.zip.CHECKSUM"));
            }
        }
        let mut b = Batch {
            index: 0,
            items: keys.iter().map(|k| item_at(k)).collect(),
            folders,
        };
        let p = b.split_off_front(64).unwrap();
        assert_eq!(p.items.len(), 60);
        let prefixes = |b: &Batch| {
            b.folders
                .iter()
                .map(|f| f.prefix.clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(prefixes(&p), ["S0/S0-1m-2026-11-"]);
        assert_eq!(prefixes(&b), ["S1/S1-1m-2026-11-", "S2/S2-1m-2026-11-"]);
        assert_eq!((b.folders[0].start, b.folders[1].start), (0, 60));
    }

    /// A folder of daily files cut into pieces again and again: every piece's wildcard
    /// prefixes match exactly their own members among all the folder's keys, the cuts fall
    /// between months (or years), never between a zip and its CHECKSUM, and most objects
    /// stay on wildcard lines.
    #[test]
    fn pieces_of_a_folder_keep_wildcard_lines_for_whole_months() {
        let mut keys = Vec::new();
        let mut day = jiff::civil::date(2017, 8, 17);
        while day <= jiff::civil::date(2020, 5, 12) {
            let zip = format!("BTCUSDT/1h/BTCUSDT-1h-{day}.zip");
            keys.push(format!("{zip}.CHECKSUM"));
            keys.push(zip);
            day = day.tomorrow().unwrap();
        }
        keys.sort();
        let mut b = Batch {
            index: 0,
            items: keys.iter().map(|k| named(k)).collect(),
            folders: vec![FolderRange {
                prefix: "BTCUSDT/1h/".into(),
                start: 0,
                len: keys.len(),
            }],
        };
        let mut pieces = Vec::new();
        for n in [64, 64, 128, 128, 256, 256, 512].into_iter().cycle() {
            match b.split_off_front(n) {
                Some(p) => pieces.push(p),
                None => break,
            }
        }
        pieces.push(b);
        let mut seen = Vec::new();
        let mut on_wildcards = 0;
        for p in &pieces {
            let first = &p.items[0].object.key;
            assert!(
                !first.ends_with(".CHECKSUM"),
                "a piece starts apart from its zip: {first}"
            );
            for f in &p.folders {
                let members: Vec<&str> = p.items[f.start..f.start + f.len]
                    .iter()
                    .map(|i| i.object.key.as_str())
                    .collect();
                let matching: Vec<&str> = keys
                    .iter()
                    .map(String::as_str)
                    .filter(|k| k.starts_with(f.prefix.as_str()))
                    .collect();
                assert_eq!(members, matching, "prefix {}", f.prefix);
                on_wildcards += f.len;
            }
            seen.extend(p.items.iter().map(|i| i.object.key.clone()));
        }
        assert_eq!(seen, keys, "every object once, in order");
        assert!(
            on_wildcards * 10 >= keys.len() * 9,
            "{on_wildcards} of {} on wildcard lines",
            keys.len()
        );
        // The first cut (64 objects, 48 to 80 allowed) fell after 2017-09-09, where two
        // neighbours share the least in that window: August's 30 files and September's first
        // nine days are a wildcard line each.
        assert_eq!(pieces[0].items.len(), 48);
        let prefixes: Vec<&str> = pieces[0]
            .folders
            .iter()
            .map(|f| f.prefix.as_str())
            .collect();
        assert_eq!(
            prefixes,
            [
                "BTCUSDT/1h/BTCUSDT-1h-2017-08",
                "BTCUSDT/1h/BTCUSDT-1h-2017-09-0"
            ]
        );
    }
    use super::*;

    fn item(i: usize) -> Item {
        Item {
            object: Object {
                key: format!("k{i:04}"),
                size: i as u64,
                etag: None,
                last_modified: None,
            },
            reason: Reason::Missing,
        }
    }

    #[test]
    fn cuts_full_batches_and_a_remainder_in_order() {
        let mut b = Batcher::new(3);
        let mut batches = Vec::new();
        for i in 0..7 {
            batches.extend(b.push(item(i)));
        }
        batches.extend(b.finish());
        assert!(b.finish().is_none());
        let sizes: Vec<_> = batches.iter().map(|b| b.items.len()).collect();
        assert_eq!(sizes, vec![3, 3, 1]);
        let indexes: Vec<_> = batches.iter().map(|b| b.index).collect();
        assert_eq!(indexes, vec![0, 1, 2]);
        let keys: Vec<_> = batches
            .iter()
            .flat_map(|b| b.items.iter().map(|i| i.object.key.clone()))
            .collect();
        assert_eq!(keys, (0..7).map(|i| format!("k{i:04}")).collect::<Vec<_>>());
        assert_eq!(batches[1].bytes(), 3 + 4 + 5);
    }

    fn named(key: &str) -> Item {
        let mut i = item(0);
        i.object.key = key.into();
        i
    }

    #[test]
    fn a_zip_is_not_separated_from_its_checksum() {
        let keys = [
            "a.zip",
            "a.zip.CHECKSUM",
            "b.zip",
            "b.zip.CHECKSUM",
            "c.zip",
            "c.zip.CHECKSUM",
        ];
        let mut b = Batcher::new(3);
        let mut batches = Vec::new();
        for k in keys {
            batches.extend(b.push(named(k)));
        }
        batches.extend(b.finish());
        let got: Vec<Vec<&str>> = batches
            .iter()
            .map(|b| b.items.iter().map(|i| i.object.key.as_str()).collect())
            .collect();
        assert_eq!(
            got,
            vec![
                vec!["a.zip", "a.zip.CHECKSUM"],
                vec!["b.zip", "b.zip.CHECKSUM"],
                vec!["c.zip", "c.zip.CHECKSUM"],
            ]
        );
        // Size 1 cannot pair: one object per batch.
        let mut b = Batcher::new(1);
        assert_eq!(b.push(named("a.zip")).unwrap().items.len(), 1);
    }

    #[test]
    fn wildcard_lines_are_never_split_and_share_bigger_batches() {
        let mut b = Batcher::new(4).with_folder_size(8);
        let folder = |p: &str, n: usize| -> Vec<Item> {
            (0..n).map(|i| named(&format!("{p}{i}"))).collect()
        };
        let mut batches = Vec::new();
        batches.extend(b.push(named("a")));
        batches.extend(b.push(named("b")));
        // Fits beside a, b in a batch that may now hold 8.
        batches.extend(b.push_folder("f/".into(), folder("f/", 3)));
        batches.extend(b.push(named("g")));
        // 6 + 6 > 8: what is there goes first.
        batches.extend(b.push_folder("h/".into(), folder("h/", 6)));
        batches.extend(b.push(named("z")));
        // Larger than any batch: a batch of its own.
        batches.extend(b.push_folder("k/".into(), folder("k/", 10)));
        batches.extend(b.finish());
        let sizes: Vec<_> = batches.iter().map(|b| b.items.len()).collect();
        assert_eq!(sizes, vec![6, 7, 10]);
        assert_eq!(
            batches[0].folders,
            vec![FolderRange {
                prefix: "f/".into(),
                start: 2,
                len: 3
            }]
        );
        assert_eq!(batches[0].items[5].object.key, "g");
        assert_eq!(
            (batches[1].folders[0].start, batches[1].folders[0].len),
            (0, 6)
        );
        assert_eq!(batches[1].items[6].object.key, "z");
        assert_eq!(batches[2].folders[0].len, 10);
        let indexes: Vec<_> = batches.iter().map(|b| b.index).collect();
        assert_eq!(indexes, vec![0, 1, 2]);
        // Plain items keep the batch size.
        let mut b = Batcher::new(4).with_folder_size(8);
        let plain: Vec<Batch> = (0..9)
            .filter_map(|i| b.push(named(&format!("p{i}"))))
            .collect();
        assert!(plain.iter().all(|x| x.items.len() == 4));
    }

    #[test]
    fn counts() {
        assert_eq!(batch_count(0, 150), 0);
        assert_eq!(batch_count(150, 150), 1);
        assert_eq!(batch_count(151, 150), 2);
        assert_eq!(batch_count(1000, 1), 1000);
    }
}
