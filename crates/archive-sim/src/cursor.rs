//! Walking the archive's keys in S3 byte order from any bound, lazily.
//!
//! A [`Cursor`] seeks to the first key at or after a bound (binary search at each folder
//! level, then inside a series by date) and steps forward one key at a time, writing the
//! current key into one reusable buffer. This is all a ListObjects page needs: seek to
//! `max(prefix, start-after)`, take keys until the page is full, and for a delimiter listing
//! seek past each common prefix instead of walking through it (see [`crate::listing`]).
//!
//! Ordering argument: every folder name ends in `/` and holds no other `/`, and object names
//! hold no `/` except the one-character marker name `/`, so no folder name is a proper prefix
//! of a sibling's name and the order of the names is the order of the subtrees' key ranges.
//! Inside a series, names share the stem and a fixed-width date, and `X.zip` sorts right
//! before `X.zip.CHECKSUM`, so file index order is byte order.

use crate::archive::{Archive, Dir, Kid, Leaf, ObjRef, Series, View};
use crate::model::catalog::Period;
use crate::time::{push_day, push_month};

struct Frame<'a> {
    dir: &'a Dir,
    next: usize,
    /// Length of the key buffer where this folder's child names start.
    path_len: usize,
}

struct LeafPos<'a> {
    leaf: &'a Leaf,
    /// The series (index, data, first and last unit in the view).
    series: Option<(u32, &'a Series, i32, i32)>,
    /// Next file index of the series (2 per date unit: zip, CHECKSUM).
    j: i64,
    /// Number of file indexes.
    n: i64,
    /// Next extra.
    x: usize,
    path_len: usize,
}

pub struct Cursor<'a> {
    archive: &'a Archive,
    view: View,
    /// Keys are written after this prefix (a destination's key prefix; empty for the source).
    base: Vec<u8>,
    key: Vec<u8>,
    stack: Vec<Frame<'a>>,
    leaf: Option<LeafPos<'a>>,
    cur: Option<ObjRef>,
}

impl<'a> Cursor<'a> {
    /// A cursor over `view` of the archive, every key prefixed with `base`, positioned at
    /// the first key `>= bound` (bytes of the whole key, prefix included).
    pub fn seek(archive: &'a Archive, view: View, base: &[u8], bound: &[u8]) -> Cursor<'a> {
        let mut c = Cursor {
            archive,
            view,
            base: base.to_vec(),
            key: Vec::with_capacity(160),
            stack: Vec::with_capacity(10),
            leaf: None,
            cur: None,
        };
        c.reseek(bound);
        c
    }

    /// Reposition at the first key `>= bound`.
    pub fn reseek(&mut self, bound: &[u8]) {
        self.stack.clear();
        self.leaf = None;
        self.cur = None;
        self.key.clear();
        self.key.extend_from_slice(&self.base);
        let rest: &[u8] = if let Some(r) = bound.strip_prefix(self.base.as_slice()) {
            r
        } else if bound < self.base.as_slice() {
            b""
        } else {
            return; // every key starts with the base and is smaller than the bound
        };
        let base_len = self.key.len();
        self.stack.push(Frame {
            dir: &self.archive.root,
            next: 0,
            path_len: base_len,
        });
        let mut rest = rest;
        while let Some(top) = self.stack.last_mut() {
            let dir = top.dir;
            let p = dir.names.partition_point(|n| n.as_ref() < rest);
            top.next = p;
            if p == 0 || !rest.starts_with(&dir.names[p - 1]) {
                break;
            }
            let name = &dir.names[p - 1];
            let path_len = top.path_len;
            match &dir.kids[p - 1] {
                // An object named with a proper prefix of the bound is below it.
                Kid::Extra(_) => break,
                Kid::Dir(d) => {
                    self.key.truncate(path_len);
                    self.key.extend_from_slice(name);
                    rest = &rest[name.len()..];
                    let path_len = self.key.len();
                    self.stack.push(Frame {
                        dir: d,
                        next: 0,
                        path_len,
                    });
                }
                Kid::Leaf(l) => {
                    self.key.truncate(path_len);
                    self.key.extend_from_slice(name);
                    rest = &rest[name.len()..];
                    let path_len = self.key.len();
                    self.leaf = Some(leaf_at(self.archive, &self.view, l, rest, path_len));
                    break;
                }
            }
        }
        self.advance();
    }

    /// Move to the next existing key from the current position (sets `cur`).
    fn advance(&mut self) {
        loop {
            if let Some(pos) = self.leaf.as_mut() {
                if let Some(obj) = leaf_next(self.archive, &self.view, pos, &mut self.key) {
                    self.cur = Some(obj);
                    return;
                }
                self.leaf = None;
            }
            let Some(top) = self.stack.last_mut() else {
                self.cur = None;
                return;
            };
            if top.next >= top.dir.names.len() {
                self.stack.pop();
                continue;
            }
            let i = top.next;
            top.next += 1;
            let dir = top.dir;
            self.key.truncate(top.path_len);
            self.key.extend_from_slice(&dir.names[i]);
            let path_len = self.key.len();
            match &dir.kids[i] {
                Kid::Extra(x) => {
                    let obj = self.archive.extras[*x as usize].obj;
                    if extra_exists(self.archive, obj, &self.view) {
                        self.cur = Some(obj);
                        return;
                    }
                }
                Kid::Dir(d) => self.stack.push(Frame {
                    dir: d,
                    next: 0,
                    path_len,
                }),
                Kid::Leaf(l) => {
                    self.leaf = Some(leaf_at(self.archive, &self.view, l, b"", path_len));
                }
            }
        }
    }

    /// The current key and object, or None when the cursor has run off the end.
    pub fn current(&self) -> Option<(&[u8], ObjRef)> {
        self.cur.map(|o| (self.key.as_slice(), o))
    }

    /// Step to the next key.
    pub fn next_key(&mut self) {
        if self.cur.is_some() {
            self.advance();
        }
    }
}

/// A position in a leaf folder at the first file whose name is `>= rest`.
fn leaf_at<'a>(
    archive: &'a Archive,
    view: &View,
    leaf: &'a Leaf,
    rest: &[u8],
    path_len: usize,
) -> LeafPos<'a> {
    let series = leaf.series.and_then(|i| {
        let s = &archive.series[i as usize];
        archive.span(s, view).map(|(a, b)| (i, s, a, b))
    });
    let n = series.map_or(0, |(_, _, a, b)| 2 * (i64::from(b) - i64::from(a) + 1));
    let mut pos = LeafPos {
        leaf,
        series,
        j: 0,
        n,
        x: 0,
        path_len,
    };
    if !rest.is_empty() {
        if let Some((_, s, a, _)) = series {
            let (mut lo, mut hi) = (0i64, n);
            let mut buf = Vec::with_capacity(64);
            while lo < hi {
                let mid = lo + (hi - lo) / 2;
                buf.clear();
                push_file_name(&mut buf, s, a, mid);
                if buf.as_slice() < rest {
                    lo = mid + 1;
                } else {
                    hi = mid;
                }
            }
            pos.j = lo;
        }
        let extras = &archive.extras;
        pos.x = leaf
            .extras
            .partition_point(|&e| extras[e as usize].name.as_ref() < rest);
    }
    pos
}

/// The next existing file of a leaf folder (series files merged with extras).
fn leaf_next(
    archive: &Archive,
    view: &View,
    pos: &mut LeafPos<'_>,
    key: &mut Vec<u8>,
) -> Option<ObjRef> {
    // Skip series dates that do not exist in this view.
    if let Some((_, s, a, _)) = pos.series {
        while pos.j < pos.n {
            let unit = a + (pos.j / 2) as i32;
            if archive.exists(s, unit, view) {
                break;
            }
            pos.j = (pos.j / 2 + 1) * 2;
        }
    }
    loop {
        let extra = pos
            .leaf
            .extras
            .get(pos.x)
            .map(|&e| &archive.extras[e as usize]);
        if let Some(e) = extra
            && !extra_exists(archive, e.obj, view)
        {
            pos.x += 1;
            continue;
        }
        let have_series = pos.series.is_some() && pos.j < pos.n;
        key.truncate(pos.path_len);
        return match (have_series, extra) {
            (false, None) => None,
            (false, Some(e)) => {
                pos.x += 1;
                key.extend_from_slice(&e.name);
                Some(e.obj)
            }
            (true, e) => {
                let (si, s, a, _) = pos.series?;
                push_file_name(key, s, a, pos.j);
                if let Some(e) = e
                    && e.name.as_ref() < &key[pos.path_len..]
                {
                    key.truncate(pos.path_len);
                    key.extend_from_slice(&e.name);
                    pos.x += 1;
                    return Some(e.obj);
                }
                let obj = ObjRef::File {
                    series: si,
                    unit: a + (pos.j / 2) as i32,
                    checksum: pos.j % 2 == 1,
                    odd: false,
                };
                pos.j += 1;
                Some(obj)
            }
        };
    }
}

/// Whether an extra exists in a view (published and, for a mirror, dated within the cap).
pub fn extra_exists(archive: &Archive, obj: ObjRef, view: &View) -> bool {
    match obj {
        ObjRef::Marker => true,
        ObjRef::File { series, unit, .. } => {
            let s = &archive.series[series as usize];
            archive
                .span(s, view)
                .is_some_and(|(a, b)| (a..=b).contains(&unit))
                && archive.exists(s, unit, view)
        }
    }
}

/// `{stem}{date}.zip` or `{stem}{date}.zip.CHECKSUM` for file index `j` of a series whose
/// span starts at unit `a`.
pub fn push_file_name(out: &mut Vec<u8>, s: &Series, a: i32, j: i64) {
    let unit = a + (j / 2) as i32;
    out.extend_from_slice(s.stem.as_bytes());
    match s.period {
        Period::Daily => push_day(out, unit),
        Period::Monthly => push_month(out, unit),
    }
    out.extend_from_slice(if j % 2 == 0 {
        b".zip"
    } else {
        b".zip.CHECKSUM"
    });
}

/// The key of a series file (for lookups and tests).
pub fn file_key(archive: &Archive, s: &Series, unit: i32, checksum: bool) -> String {
    let mut v = archive.folder(s).into_bytes();
    push_file_name(&mut v, s, unit, i64::from(checksum));
    String::from_utf8(v).unwrap_or_default()
}

/// Find one key: the object it names in `view` (keys prefixed with `base`), if it exists.
pub fn lookup(archive: &Archive, view: View, base: &[u8], key: &[u8]) -> Option<ObjRef> {
    let c = Cursor::seek(archive, view, base, key);
    match c.current() {
        Some((k, obj)) if k == key => Some(obj),
        _ => None,
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::archive::{ArchiveOptions, as_of_ms};
    use crate::model::{FILES, Model, ModelOptions};
    use crate::time::days_from_civil;

    /// A small archive: a few symbols per market, the quirks included.
    pub fn small_archive(as_of: crate::time::Day) -> Archive {
        let spot = "market,symbol,earliest_date,available_intervals\n\
            spot,ADABKRW,2020-07-30,\"1d,1h\"\n\
            spot,BTCUSDT,2024-11-20,\"1m,1d\"\n\
            spot,ETHUSDT,2024-12-30,\"1d\"\n\
            spot,OLDUSDT,2019-01-01,\"1d\"\n";
        let spot_active = "market,symbol,earliest_date,available_intervals\n\
            spot,BTCUSDT,2024-11-20,\"1m,1d\"\n\
            spot,ETHUSDT,2024-12-30,\"1d\"\n";
        let um = "market,symbol,earliest_date,available_intervals\n\
            um,BTCUSDT,2025-03-01,\"1m,1mo\"\n\
            um,BTCUSDT_250328,2024-12-27,\"1d\"\n\
            um,MATICUSDT,2025-02-20,\"1d\"\n";
        let um_active =
            "market,symbol,earliest_date,available_intervals\num,BTCUSDT,2025-03-01,\"1m,1mo\"\n";
        let cm =
            "market,symbol,earliest_date,available_intervals\ncm,BTCUSD_PERP,2025-04-01,\"1h\"\n";
        let re = "File Path,Original File Checksum,New File Checksum\n\
            data/spot/monthly/aggTrades/BTCUSDT/BTCUSDT-aggTrades-2024-12.zip,a,b\n";
        let texts: Vec<(String, String)> = FILES
            .iter()
            .zip([spot, um, cm, spot_active, um_active, cm, re])
            .map(|(n, t)| (n.to_string(), t.to_string()))
            .collect();
        let model = Model::from_texts(&texts, ModelOptions { grow_until: None }).unwrap();
        let _ = as_of;
        Archive::build(
            model,
            ArchiveOptions {
                reupload_fraction: 0.05,
                hole_fraction: 0.3,
            },
        )
    }

    pub fn view(day: (i32, u32, u32)) -> View {
        View {
            snapshot_ms: as_of_ms(days_from_civil(day.0, day.1, day.2)),
            cap_day: None,
        }
    }

    fn all_keys(a: &Archive, v: View, base: &[u8]) -> Vec<Vec<u8>> {
        let mut c = Cursor::seek(a, v, base, b"");
        let mut out = Vec::new();
        while let Some((k, _)) = c.current() {
            out.push(k.to_vec());
            c.next_key();
        }
        out
    }

    fn check_seeks(a: &Archive, v: View, base: &[u8], keys: &[Vec<u8>]) {
        let mut bounds: Vec<Vec<u8>> =
            vec![b"".to_vec(), b"a".to_vec(), b"zzz".to_vec(), base.to_vec()];
        for (i, k) in keys.iter().enumerate() {
            if i % 3 != 0 && i + 1 != keys.len() {
                continue;
            }
            bounds.push(k.clone());
            let mut after = k.clone();
            after.push(0);
            bounds.push(after);
            for cut in [1, 5, 9, 14] {
                if k.len() > cut {
                    bounds.push(k[..k.len() - cut].to_vec());
                    let mut inc = k[..k.len() - cut].to_vec();
                    if let Some(l) = inc.last_mut() {
                        *l += 1;
                    }
                    bounds.push(inc);
                }
            }
        }
        for b in &bounds {
            let want = keys.get(keys.partition_point(|k| k.as_slice() < b.as_slice()));
            let c = Cursor::seek(a, v, base, b);
            let got = c.current().map(|(k, _)| k.to_vec());
            assert_eq!(got.as_ref(), want, "seek {:?}", String::from_utf8_lossy(b));
        }
    }

    #[test]
    fn full_walk_is_sorted_unique_and_counted() {
        let a = small_archive(0);
        let v = view((2025, 5, 10));
        let keys = all_keys(&a, v, b"");
        assert!(keys.len() > 2_000, "{}", keys.len());
        for w in keys.windows(2) {
            assert!(
                w[0] < w[1],
                "{:?} !< {:?}",
                String::from_utf8_lossy(&w[0]),
                String::from_utf8_lossy(&w[1])
            );
        }
        assert_eq!(keys.len() as u64, a.count_keys(&v));
        let text: Vec<String> = keys
            .iter()
            .map(|k| String::from_utf8(k.clone()).unwrap())
            .collect();
        let has = |k: &str| text.iter().any(|t| t == k);
        assert!(has("data/futures/um/daily/klines/BTCUSDT//"));
        assert!(has(
            "data/spot/monthly/klines/ADABKRW/1d/ADABKRW-1d-2020-8.zip"
        ));
        assert!(!has(
            "data/spot/monthly/klines/ADABKRW/1d/ADABKRW-1d-2020-8.zip.CHECKSUM"
        ));
        assert!(has(
            "data/futures/um/daily/metrics/MATICUSDT/MATICUSDT-metrics-1993.zip"
        ));
        assert!(has(
            "data/spot/daily/klines/BTCUSDT/1m/BTCUSDT-1m-2025-01-01.zip"
        ));
        assert!(has(
            "data/spot/daily/klines/BTCUSDT/1m/BTCUSDT-1m-2025-01-01.zip.CHECKSUM"
        ));
        // Day D appears on D+1 at the earliest; the snapshot is 2025-05-10 12:00.
        assert!(!text.iter().any(|t| t.contains("2025-05-10")));
        // A delivery contract ends at its date.
        assert!(
            !text
                .iter()
                .any(|t| t.contains("BTCUSDT_250328-1d-2025-03-29"))
        );
        // bookTicker stopped 2024-03-30: um BTCUSDT starts 2025-03, so none at all.
        assert!(!text.iter().any(|t| t.contains("/bookTicker/BTCUSDT/")));
        // Every zip but the odd one has its CHECKSUM right after it.
        for (i, t) in text.iter().enumerate() {
            if t.ends_with(".zip") && !t.contains("-2020-8.") {
                assert_eq!(text[i + 1], format!("{t}.CHECKSUM"));
            }
        }
    }

    #[test]
    fn seek_finds_the_first_key_at_or_after_any_bound() {
        let a = small_archive(0);
        let v = view((2025, 5, 10));
        let keys = all_keys(&a, v, b"");
        check_seeks(&a, v, b"", &keys);
    }

    #[test]
    fn a_base_prefix_and_a_cap_make_a_mirror() {
        let a = small_archive(0);
        let mut v = view((2025, 5, 10));
        let src = all_keys(&a, v, b"");
        v.cap_day = Some(days_from_civil(2025, 4, 30));
        let keys = all_keys(&a, v, b"lake/");
        assert!(keys.len() < src.len());
        assert!(keys.iter().all(|k| k.starts_with(b"lake/data/")));
        assert!(
            !keys
                .iter()
                .any(|k| String::from_utf8_lossy(k).contains("2025-05-0"))
        );
        // Monthly files of April are dated April 30: in; May's are not out yet anyway.
        check_seeks(&a, v, b"lake/", &keys);
        assert_eq!(keys.len() as u64, a.count_keys(&v));
    }

    #[test]
    fn counts_match_a_walk() {
        let a = small_archive(0);
        let v = view((2025, 5, 10));
        let keys: Vec<String> = all_keys(&a, v, b"")
            .into_iter()
            .map(|k| String::from_utf8(k).unwrap())
            .collect();
        let quirk = |k: &str| k.ends_with("//") || k.contains("-2020-8.") || k.contains("-1993.");
        for prefix in [
            "",
            "data/",
            "data/spot/daily/klines/",
            "data/spot/daily/klines/BTCUSDT/1m/",
            "data/spot/daily/klines/BTCUSDT/1m/BTCUSDT-1m-2025-0",
            "data/futures/",
        ] {
            let want = keys
                .iter()
                .filter(|k| k.starts_with(prefix) && !quirk(k))
                .count() as u64;
            assert_eq!(
                a.count_under(&v, prefix.as_bytes(), None, None),
                want,
                "{prefix}"
            );
        }
        let day = |y, m, d| days_from_civil(y, m, d);
        let range = Some((day(2025, 1, 1), day(2025, 1, 31)));
        let one_m = crate::model::catalog::interval_index("1m");
        let want = keys
            .iter()
            .filter(|k| {
                k.starts_with("data/spot/")
                    && k.contains("/1m/")
                    && k.contains("-2025-01")
                    && !quirk(k)
            })
            .count() as u64;
        assert!(want > 0);
        assert_eq!(a.count_under(&v, b"data/spot/", one_m, range), want);
    }

    #[test]
    fn lookup_finds_exactly_the_listed_keys() {
        let a = small_archive(0);
        let v = view((2025, 5, 10));
        for k in all_keys(&a, v, b"").iter().step_by(13) {
            assert!(lookup(&a, v, b"", k).is_some());
            let mut missing = k.clone();
            missing.push(b'x');
            assert!(lookup(&a, v, b"", &missing).is_none());
        }
    }
}
