//! The archive as a tree of folders over *series*: one series is the run of files of one
//! (market, period, data type, symbol[, interval]) folder, described by its first and last
//! day (or month), never by its keys. About 2 x 10^5 series stand for the ~1.5 x 10^8 keys.
//!
//! Owns building that tree from the [`Model`] (with the quirks of real keys placed as
//! *extras*) and the facts every view shares: which date units a series holds, when each
//! file was published, whether a date falls in a hole. Listing order and seeking live in
//! [`crate::cursor`]; per-key metadata in [`crate::object`].

use std::collections::{BTreeMap, HashSet};

use crate::hash;
use crate::model::catalog::{self, DataType, Family, Market, Period};
use crate::model::{Model, known_reupload_day};
use crate::time::{Day, SECS_PER_DAY, days_from_civil, first_day_of_month, month_of_day};

/// What a view of the archive shows: the source as of an instant, or a destination mirrored
/// through a day.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct View {
    /// Files published after this instant (ms since the epoch) do not exist yet.
    pub snapshot_ms: i64,
    /// Only files dated on or before this day (a monthly file: its month's last day).
    pub cap_day: Option<Day>,
}

/// One source object, identified without its key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ObjRef {
    /// A zip (or its `.CHECKSUM`) of a series at a date unit. `odd`: an extra with a name
    /// that breaks the pattern (it gets its own ETag and content).
    File {
        series: u32,
        unit: i32,
        checksum: bool,
        odd: bool,
    },
    /// A zero-byte object (the `BTCUSDT//` empty path segment).
    Marker,
}

impl ObjRef {
    /// `(series, unit, odd)` of a zip; `None` for a `.CHECKSUM` or a marker.
    pub fn zip(self) -> Option<(u32, i32, bool)> {
        match self {
            ObjRef::File {
                series,
                unit,
                checksum: false,
                odd,
            } => Some((series, unit, odd)),
            _ => None,
        }
    }
}

pub struct Series {
    pub symbol: u32,
    pub market: Market,
    pub period: Period,
    pub dtype: &'static DataType,
    pub interval: Option<u8>,
    /// First and last date unit (day or month number), inclusive; `last` is `i32::MAX` while
    /// the series is still published.
    pub first: i32,
    pub last: i32,
    /// File name stem, e.g. `BTCUSDT-1m-`.
    pub stem: Box<str>,
    /// Hash of the folder path and stem: every per-file fact is derived from it.
    pub seed: u64,
    /// Units without files, inclusive.
    pub hole: Option<(i32, i32)>,
    /// Some of its files are in `reuploads_2022-04-21_aggTrades.csv`.
    pub known_reuploads: bool,
}

pub struct Extra {
    pub name: Box<[u8]>,
    pub obj: ObjRef,
}

pub struct Dir {
    pub names: Vec<Box<[u8]>>,
    pub kids: Vec<Kid>,
}

pub enum Kid {
    Dir(Box<Dir>),
    Leaf(Leaf),
    /// One object whose name is the segment.
    Extra(u32),
}

/// A folder of files: a series, extras with odd names, or both.
pub struct Leaf {
    pub series: Option<u32>,
    /// Sorted by name.
    pub extras: Vec<u32>,
}

#[derive(Clone, Copy, Debug)]
pub struct ArchiveOptions {
    /// Fraction of zips re-uploaded later (same size, new ETag and content).
    pub reupload_fraction: f64,
    /// Fraction of series with a hole of 1 to 4 weeks.
    pub hole_fraction: f64,
}

impl Default for ArchiveOptions {
    fn default() -> Self {
        ArchiveOptions {
            reupload_fraction: 0.001,
            hole_fraction: 0.01,
        }
    }
}

pub struct Archive {
    pub model: Model,
    pub series: Vec<Series>,
    pub extras: Vec<Extra>,
    pub root: Dir,
    pub opts: ArchiveOptions,
    /// `--size-override KEY=BYTES`: sizes for chosen zips (tests of the 5 GB copy limit).
    pub size_overrides: std::collections::HashMap<Box<str>, u64>,
}

enum BNode {
    Dir(BTreeMap<Vec<u8>, BNode>),
    Leaf(Option<u32>, Vec<u32>),
    Extra(u32),
}

impl BNode {
    fn dir(&mut self) -> &mut BTreeMap<Vec<u8>, BNode> {
        match self {
            BNode::Dir(m) => m,
            _ => unreachable!("the builder only descends through folders"),
        }
    }
}

impl Archive {
    pub fn build(model: Model, opts: ArchiveOptions) -> Archive {
        let mut series = Vec::new();
        let mut root = BNode::Dir(BTreeMap::new());
        let reupload_folders: HashSet<&str> = model
            .known_reuploads
            .iter()
            .filter_map(|k| k.rsplit_once('/').map(|(dir, _)| dir))
            .collect();
        for (si, sym) in model.symbols.iter().enumerate() {
            for period in [Period::Daily, Period::Monthly] {
                for dtype in catalog::data_types(sym.market, period) {
                    if sym.market == Market::Option
                        && (dtype.family == Family::BvolIndex) != sym.name.contains("BVOL")
                    {
                        continue;
                    }
                    let first_day = dtype.from_day().map_or(sym.first, |f| f.max(sym.first));
                    let last_day = match (sym.last, dtype.until_day()) {
                        (Some(a), Some(b)) => a.min(b),
                        (Some(a), None) | (None, Some(a)) => a,
                        (None, None) => i32::MAX,
                    };
                    if first_day > last_day {
                        continue;
                    }
                    let (first, last) = match period {
                        Period::Daily => (first_day, last_day),
                        Period::Monthly => (
                            month_of_day(first_day),
                            if last_day == i32::MAX {
                                i32::MAX
                            } else {
                                month_of_day(last_day)
                            },
                        ),
                    };
                    let mut intervals: Vec<Option<u8>> = vec![None];
                    if dtype.has_interval() {
                        let mut set = sym.intervals;
                        if dtype.family == Family::PriceKlines {
                            set &= !1; // no 1s outside spot klines
                        }
                        intervals = (0..catalog::INTERVALS.len() as u8)
                            .filter(|i| set & (1 << i) != 0)
                            .map(Some)
                            .collect();
                    }
                    for interval in intervals {
                        let folder =
                            folder_path(sym.market, period, dtype.name, &sym.name, interval);
                        let stem = match interval {
                            Some(i) => format!("{}-{}-", sym.name, catalog::interval_name(i)),
                            None => format!("{}-{}-", sym.name, dtype.name),
                        };
                        let seed = hash::bytes(0x5e75, format!("{folder}{stem}").as_bytes());
                        let hole = (period == Period::Daily
                            && hash::unit(hash::mix(seed ^ 0x401e)) < opts.hole_fraction)
                            .then(|| {
                                let span = if last == i32::MAX {
                                    3_000
                                } else {
                                    i64::from(last - first).max(1)
                                };
                                let start = first
                                    + hash::below(hash::mix(seed ^ 0x402), span as u64) as i32;
                                (
                                    start,
                                    start + 6 + hash::below(hash::mix(seed ^ 0x403), 22) as i32,
                                )
                            });
                        let id = series.len() as u32;
                        series.push(Series {
                            symbol: si as u32,
                            market: sym.market,
                            period,
                            dtype,
                            interval,
                            first,
                            last,
                            stem: stem.into(),
                            seed,
                            hole,
                            known_reuploads: reupload_folders
                                .contains(folder.trim_end_matches('/')),
                        });
                        insert(&mut root, &folder, |leaf| match leaf {
                            BNode::Leaf(s, _) => *s = Some(id),
                            _ => unreachable!(),
                        });
                    }
                }
            }
        }
        let mut archive = Archive {
            model,
            series,
            extras: Vec::new(),
            root: Dir {
                names: Vec::new(),
                kids: Vec::new(),
            },
            opts,
            size_overrides: Default::default(),
        };
        archive.add_quirks(&mut root);
        archive.root = freeze(root);
        archive
    }

    /// The keys of real listings that break the pattern (archive-model README).
    fn add_quirks(&mut self, root: &mut BNode) {
        let find = |a: &Archive,
                    market: Market,
                    period: Period,
                    dtype: &str,
                    sym: &str,
                    iv: Option<&str>| {
            a.series.iter().position(|s| {
                s.market == market
                    && s.period == period
                    && s.dtype.name == dtype
                    && &*a.model.symbols[s.symbol as usize].name == sym
                    && s.interval.map(catalog::interval_name) == iv
            })
        };
        // An empty path segment: a zero-byte object `.../klines/BTCUSDT//`.
        if find(
            self,
            Market::Um,
            Period::Daily,
            "klines",
            "BTCUSDT",
            Some("1m"),
        )
        .is_some()
        {
            let id = self.push_extra(b"/", ObjRef::Marker);
            let dir = folder_path(Market::Um, Period::Daily, "klines", "BTCUSDT", None);
            insert_dir_object(root, &dir, b"/", id);
        }
        // An unpadded month without its CHECKSUM.
        if let Some(s) = find(
            self,
            Market::Spot,
            Period::Monthly,
            "klines",
            "ADABKRW",
            Some("1d"),
        ) {
            let unit = 2020 * 12 + 7;
            if (self.series[s].first..=self.series[s].last).contains(&unit) {
                let obj = ObjRef::File {
                    series: s as u32,
                    unit,
                    checksum: false,
                    odd: true,
                };
                let id = self.push_extra(b"ADABKRW-1d-2020-8.zip", obj);
                self.add_leaf_extra(root, s, id);
            }
        }
        // A year for a date.
        if let Some(s) = find(
            self,
            Market::Um,
            Period::Daily,
            "metrics",
            "MATICUSDT",
            None,
        ) {
            let unit = self.series[s].first;
            for (name, checksum) in [
                (&b"MATICUSDT-metrics-1993.zip"[..], false),
                (b"MATICUSDT-metrics-1993.zip.CHECKSUM", true),
            ] {
                let obj = ObjRef::File {
                    series: s as u32,
                    unit,
                    checksum,
                    odd: true,
                };
                let id = self.push_extra(name, obj);
                self.add_leaf_extra(root, s, id);
            }
        }
    }

    fn push_extra(&mut self, name: &[u8], obj: ObjRef) -> u32 {
        self.extras.push(Extra {
            name: name.into(),
            obj,
        });
        (self.extras.len() - 1) as u32
    }

    fn add_leaf_extra(&self, root: &mut BNode, series: usize, id: u32) {
        let s = &self.series[series];
        let sym = &self.model.symbols[s.symbol as usize];
        let folder = folder_path(s.market, s.period, s.dtype.name, &sym.name, s.interval);
        let extras = &self.extras;
        insert(root, &folder, |leaf| {
            if let BNode::Leaf(_, xs) = leaf {
                xs.push(id);
                xs.sort_by(|a, b| extras[*a as usize].name.cmp(&extras[*b as usize].name));
            }
        });
    }

    pub fn symbol_name(&self, s: &Series) -> &str {
        &self.model.symbols[s.symbol as usize].name
    }

    /// The folder path of a series, e.g. `data/spot/daily/klines/BTCUSDT/1m/`.
    pub fn folder(&self, s: &Series) -> String {
        folder_path(
            s.market,
            s.period,
            s.dtype.name,
            self.symbol_name(s),
            s.interval,
        )
    }

    /// The date units a series may hold under `view`, inclusive (None: none). Dates inside it
    /// may still be missing: see [`Archive::exists`].
    pub fn span(&self, s: &Series, view: &View) -> Option<(i32, i32)> {
        let snap_day = view.snapshot_ms.div_euclid(SECS_PER_DAY * 1000) as Day;
        let mut last = s.last;
        match s.period {
            // Day D's files appear on D+1 at the earliest.
            Period::Daily => {
                last = last.min(snap_day - 1);
                if let Some(cap) = view.cap_day {
                    last = last.min(cap);
                }
            }
            // A month's files appear in the next month at the earliest.
            Period::Monthly => {
                last = last.min(month_of_day(snap_day) - 1);
                if let Some(cap) = view.cap_day {
                    last = last.min(month_of_day(cap + 1) - 1);
                }
            }
        }
        (s.first <= last).then_some((s.first, last))
    }

    /// Whether the files of `unit` exist under `view` (inside [`Archive::span`]).
    pub fn exists(&self, s: &Series, unit: i32, view: &View) -> bool {
        if let Some((a, b)) = s.hole
            && (a..=b).contains(&unit)
        {
            return false;
        }
        // Only the last few units can still be unpublished (late by up to 4 days).
        let snap_day = view.snapshot_ms.div_euclid(SECS_PER_DAY * 1000) as Day;
        let recent = match s.period {
            Period::Daily => unit >= snap_day - 7,
            Period::Monthly => unit >= month_of_day(snap_day) - 1,
        };
        !recent || self.published_ms(s, unit) <= view.snapshot_ms
    }

    /// When a unit's zip was first published (its CHECKSUM one second earlier).
    pub fn published_ms(&self, s: &Series, unit: i32) -> i64 {
        let h = hash::pair(s.seed, unit as u64);
        let secs = match s.period {
            Period::Daily => {
                // D+1 from 06:30 UTC within 90 minutes; 0.3% of days 1 to 4 days late.
                let mut t = i64::from(unit + 1) * SECS_PER_DAY
                    + 6 * 3600
                    + 1800
                    + hash::below(h, 5400) as i64;
                if hash::below(hash::mix(h ^ 0x1a7e), 1000) < 3 {
                    t += (1 + hash::below(hash::mix(h ^ 0x1a7f), 4) as i64) * SECS_PER_DAY;
                }
                t
            }
            // Between the 1st and mid-month of the next month.
            Period::Monthly => {
                i64::from(first_day_of_month(unit + 1)) * SECS_PER_DAY
                    + hash::below(h, 14 * SECS_PER_DAY as u64) as i64
                    + 3600
            }
        };
        secs * 1000 + hash::below(hash::mix(h), 1000) as i64
    }

    /// The first day a unit stands for (a month: its first day).
    pub fn unit_day(s: &Series, unit: i32) -> Day {
        match s.period {
            Period::Daily => unit,
            Period::Monthly => first_day_of_month(unit),
        }
    }

    /// When a zip was replaced, if it was (before `snapshot_ms` or not).
    pub fn reuploaded_ms(
        &self,
        s: &Series,
        unit: i32,
        key_for_known: impl FnOnce() -> String,
    ) -> Option<i64> {
        let h = hash::pair(s.seed ^ 0x4e0, unit as u64);
        if hash::unit(h) < self.opts.reupload_fraction {
            let published = self.published_ms(s, unit);
            let later = (30 + hash::below(hash::mix(h), 1_500) as i64) * SECS_PER_DAY * 1000;
            return Some(published + later + hash::below(hash::mix(h ^ 1), 86_400_000) as i64);
        }
        if s.known_reuploads
            && self
                .model
                .known_reuploads
                .contains(key_for_known().as_str())
        {
            let day = i64::from(known_reupload_day());
            let at = (day * SECS_PER_DAY + 8 * 3600) * 1000 + hash::below(h, 3_600_000) as i64;
            // A file the model publishes after that day is replaced an hour after it appears.
            return Some(at.max(self.published_ms(s, unit) + 3_600_000));
        }
        None
    }

    /// Every key a view holds, counted without listing them.
    pub fn count_keys(&self, view: &View) -> u64 {
        let n: u64 = self
            .series
            .iter()
            .map(|s| self.series_keys(s, view, None))
            .sum();
        n + self.extras.len() as u64
    }

    /// Keys (zips and CHECKSUMs) of one series in a view, optionally only of the date units
    /// overlapping the days `range` (inclusive).
    pub fn series_keys(&self, s: &Series, view: &View, range: Option<(Day, Day)>) -> u64 {
        let Some((mut a, mut b)) = self.span(s, view) else {
            return 0;
        };
        if let Some((from, to)) = range {
            let (lo, hi) = match s.period {
                Period::Daily => (from, to),
                Period::Monthly => (month_of_day(from), month_of_day(to)),
            };
            a = a.max(lo);
            b = b.min(hi);
            if a > b {
                return 0;
            }
        }
        let mut units = i64::from(b - a) + 1;
        if let Some((h0, h1)) = s.hole {
            let (lo, hi) = (h0.max(a), h1.min(b));
            if lo <= hi {
                units -= i64::from(hi - lo) + 1;
            }
        }
        // The recent units that are not out yet.
        let tail_from = b.saturating_sub(8).max(a);
        for u in tail_from..=b {
            if !s.hole.is_some_and(|(h0, h1)| (h0..=h1).contains(&u)) && !self.exists(s, u, view) {
                units -= 1;
            }
        }
        2 * units as u64
    }

    /// Keys under `prefix` (relative to the archive root) in a view, counted from the series
    /// (quirk objects aside), optionally only kline-family series of one interval and dates
    /// overlapping `range`. A prefix inside a folder (`.../BTCUSDT-1m-2024-`) is counted by
    /// walking that folder.
    pub fn count_under(
        &self,
        view: &View,
        prefix: &[u8],
        interval: Option<u8>,
        range: Option<(Day, Day)>,
    ) -> u64 {
        let mut n = 0;
        for (i, s) in self.series.iter().enumerate() {
            if interval.is_some() && s.interval != interval {
                continue;
            }
            let folder = self.folder(s);
            let folder = folder.as_bytes();
            if folder.starts_with(prefix) {
                n += self.series_keys(s, view, range);
            } else if prefix.starts_with(folder) {
                let mut c = crate::cursor::Cursor::seek(self, *view, b"", prefix);
                while let Some((k, obj)) = c.current() {
                    if !k.starts_with(prefix) {
                        break;
                    }
                    let in_range = match (obj, range) {
                        (ObjRef::File { series, unit, .. }, Some((from, to)))
                            if series as usize == i =>
                        {
                            let d = Archive::unit_day(s, unit);
                            d <= to && (s.period == Period::Monthly && d + 31 > from || d >= from)
                        }
                        _ => true,
                    };
                    n += u64::from(in_range);
                    c.next_key();
                }
            }
        }
        n
    }
}

/// `data/{market}/{period}/{dataType}/{SYMBOL}/[{interval}/]`
pub fn folder_path(
    market: Market,
    period: Period,
    dtype: &str,
    symbol: &str,
    interval: Option<u8>,
) -> String {
    let mut p = format!(
        "data/{}/{}/{}/{}/",
        market.path(),
        period.path(),
        dtype,
        symbol
    );
    if let Some(i) = interval {
        p.push_str(catalog::interval_name(i));
        p.push('/');
    }
    p
}

/// Segments of a folder path, each with its trailing `/`.
fn segments(path: &str) -> impl Iterator<Item = &str> {
    path.split_inclusive('/')
}

fn insert(root: &mut BNode, folder: &str, f: impl FnOnce(&mut BNode)) {
    let mut node = root;
    let segs: Vec<&str> = segments(folder).collect();
    for (i, seg) in segs.iter().enumerate() {
        let last = i + 1 == segs.len();
        let map = node.dir();
        node = map.entry(seg.as_bytes().to_vec()).or_insert_with(|| {
            if last {
                BNode::Leaf(None, Vec::new())
            } else {
                BNode::Dir(BTreeMap::new())
            }
        });
    }
    f(node);
}

fn insert_dir_object(root: &mut BNode, folder: &str, name: &[u8], id: u32) {
    let mut node = root;
    for seg in segments(folder) {
        node = node
            .dir()
            .entry(seg.as_bytes().to_vec())
            .or_insert_with(|| BNode::Dir(BTreeMap::new()));
    }
    node.dir().insert(name.to_vec(), BNode::Extra(id));
}

fn freeze(node: BNode) -> Dir {
    let BNode::Dir(map) = node else {
        unreachable!("the root is a folder")
    };
    let mut names = Vec::with_capacity(map.len());
    let mut kids = Vec::with_capacity(map.len());
    for (name, child) in map {
        names.push(name.into_boxed_slice());
        kids.push(match child {
            BNode::Dir(_) => Kid::Dir(Box::new(freeze(child))),
            BNode::Leaf(series, extras) => Kid::Leaf(Leaf { series, extras }),
            BNode::Extra(id) => Kid::Extra(id),
        });
    }
    Dir { names, kids }
}

/// The default snapshot instant of `--as-of DAY`: 12:00 UTC that day.
pub fn as_of_ms(day: Day) -> i64 {
    (i64::from(day) * SECS_PER_DAY + 12 * 3600) * 1000
}

/// `YYYY-MM-DD` of 2017-07-14, the archive's first day (for tests and docs).
pub fn archive_first_day() -> Day {
    days_from_civil(2017, 7, 14)
}
