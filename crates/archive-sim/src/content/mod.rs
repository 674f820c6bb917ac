//! The bytes of every source object, and their sizes, from the key alone.
//!
//! A zip's size is a realistic *compressed* size for its data type, interval, symbol
//! activity and date (binance-archive.md "Typical sizes"), chosen before any byte exists
//! because listings report it; the zip is then laid out to exactly that size ([`zip`]) with
//! a CSV in the data type's format ([`csv`]). A `.CHECKSUM` holds the SHA-256 of its zip in
//! the archive's format (`<64 hex>  <name>.zip`, no newline). Objects too large for a plain
//! zip (only through `--size-override`) are deterministic filler bytes.
//!
//! CRC-32s and SHA-256s cost a pass over the rows, so they are cached per file version.

pub mod csv;
pub mod zip;

use std::collections::HashMap;
use std::sync::Mutex;

use sha2::{Digest, Sha256};

use crate::archive::{Archive, Series};
use crate::hash;
use crate::model::catalog::{self, Family, Period};
use crate::time::{SECS_PER_DAY, days_in_month};
use csv::{FileSpec, Layout};
use zip::{FIXED_OVERHEAD, ZipPlan};

/// A series file's content identity: the same for every upload of the file.
pub fn file_seed(s: &Series, unit: i32, odd: bool) -> u64 {
    hash::pair(s.seed ^ if odd { 0x0dd } else { 0 }, unit as u64)
}

pub fn file_spec(
    archive: &'static Archive,
    s: &Series,
    unit: i32,
    odd: bool,
    version: u8,
) -> FileSpec {
    let sym = &archive.model.symbols[s.symbol as usize];
    let start_day = Archive::unit_day(s, unit);
    let span_days = match s.period {
        Period::Daily => 1,
        Period::Monthly => days_in_month(unit),
    };
    FileSpec {
        family: s.dtype.family,
        market: s.market,
        period: s.period,
        interval_secs: s.interval.map(catalog::interval_secs),
        start_ms: i64::from(start_day) * SECS_PER_DAY * 1000,
        span_ms: span_days * SECS_PER_DAY * 1000,
        seed: file_seed(s, unit, odd),
        version,
        symbol: &sym.name,
        price_exp: sym.price_exp,
        activity: sym.activity,
    }
}

/// Compressed size the archive would have for this file, before clamping to the layout.
fn realistic_size(archive: &Archive, s: &Series, unit: i32, seed: u64) -> f64 {
    let sym = &archive.model.symbols[s.symbol as usize];
    let a = sym.activity;
    let jitter = 0.75 + 0.55 * hash::unit(hash::mix(seed ^ 0x512e));
    let days = match s.period {
        Period::Daily => 1.0,
        Period::Monthly => days_in_month(unit) as f64,
    };
    // Monthly files compress better than days side by side.
    let monthly = if s.period == Period::Monthly {
        0.45
    } else {
        1.0
    };
    let base = match s.dtype.family {
        Family::Klines | Family::PriceKlines => {
            let iv = s.interval.map_or(60, catalog::interval_secs);
            let rows = if iv >= 2_592_000 {
                1.0
            } else {
                (days * 86_400.0 / iv as f64).ceil().max(1.0)
            };
            let per_row = (14.0 + 26.0 * a.powf(0.3))
                * match iv {
                    1 => 0.85,
                    60 => 1.0,
                    i if i < 3_600 => 1.2,
                    _ => 1.5,
                };
            let price_only = if s.dtype.family == Family::PriceKlines {
                0.6
            } else {
                1.0
            };
            150.0 + rows * per_row * price_only
        }
        Family::Trades => 3_000.0 + 55e6 * a * days * monthly,
        Family::AggTrades => 2_000.0 + 25e6 * a * days * monthly,
        Family::FundingRate => 150.0 + 3.0 * days * 9.0,
        Family::BookDepth => (40e3 + 160e3 * a.powf(0.3)) * days,
        Family::BookTicker => 20e3 + 80e6 * a * days * monthly,
        Family::Metrics => 150.0 + 288.0 * 30.0 * days,
        Family::BvolIndex => 150.0 + 1440.0 * 12.0 * days,
        Family::EohSummary => 150.0 + 24.0 * 40.0 * 25.0 * days,
    };
    base * jitter
}

/// The size of a series zip named `zip_name` (the file name, `.zip` included).
pub fn zip_size(
    archive: &'static Archive,
    s: &Series,
    unit: i32,
    odd: bool,
    zip_name_len: usize,
) -> u64 {
    let seed = file_seed(s, unit, odd);
    if let Some(size) = archive_override(archive, s, unit) {
        return size;
    }
    let target = realistic_size(archive, s, unit, seed) as u64;
    let layout = Layout::new(file_spec(archive, s, unit, odd, 0));
    let entry_len = zip_name_len as u64; // `.csv` is as long as `.zip`
    let overhead = FIXED_OVERHEAD + 2 * entry_len;
    let min = overhead + layout.csv_len(1);
    let max = layout
        .natural
        .map_or(u64::MAX, |n| overhead + layout.csv_len(n) + 65_535);
    target.clamp(min, max)
}

fn archive_override(archive: &Archive, s: &Series, unit: i32) -> Option<u64> {
    if archive.size_overrides.is_empty() {
        return None;
    }
    let key = crate::cursor::file_key(archive, s, unit, false);
    archive.size_overrides.get(key.as_str()).copied()
}

/// The CSV's name for a zip's file name.
pub fn entry_name(zip_name: &[u8]) -> Vec<u8> {
    let stem = zip_name.strip_suffix(b".zip").unwrap_or(zip_name);
    let mut v = stem.to_vec();
    v.extend_from_slice(b".csv");
    v
}

/// How to produce a source zip's bytes.
#[derive(Clone, Debug)]
pub enum Plan {
    Zip(Box<ZipPlan>),
    /// Deterministic filler (objects a plain zip cannot describe).
    Filler {
        seed: u64,
        total: u64,
    },
}

impl Plan {
    pub fn total(&self) -> u64 {
        match self {
            Plan::Zip(p) => p.total,
            Plan::Filler { total, .. } => *total,
        }
    }
}

pub fn plan(
    archive: &'static Archive,
    s: &Series,
    unit: i32,
    odd: bool,
    version: u8,
    zip_name: &[u8],
) -> Plan {
    let total = zip_size(archive, s, unit, odd, zip_name.len());
    let spec = file_spec(archive, s, unit, odd, version);
    let seed = spec.seed ^ u64::from(version);
    match ZipPlan::new(Layout::new(spec), entry_name(zip_name), total) {
        Some(p) => Plan::Zip(Box::new(p)),
        None => Plan::Filler { seed, total },
    }
}

/// Fills `out` with filler bytes `start..end`.
pub fn filler(seed: u64, start: u64, end: u64, out: &mut Vec<u8>) {
    let mut pos = start;
    while pos < end {
        let word = hash::pair(seed, pos / 8).to_le_bytes();
        let from = (pos % 8) as usize;
        let to = (8usize).min(from + (end - pos) as usize);
        out.extend_from_slice(&word[from..to]);
        pos += (to - from) as u64;
    }
}

/// A bounded memo of per-file digests (cleared when full: a few MB at most).
pub struct DigestCache {
    crc: Mutex<HashMap<(u64, u8), u32>>,
    sha: Mutex<HashMap<(u64, u8), [u8; 32]>>,
}

const CACHE_MAX: usize = 200_000;

impl Default for DigestCache {
    fn default() -> Self {
        DigestCache {
            crc: Mutex::new(HashMap::new()),
            sha: Mutex::new(HashMap::new()),
        }
    }
}

impl DigestCache {
    pub fn crc(&self, plan: &ZipPlan) -> u32 {
        let key = (plan.layout.spec.seed, plan.layout.spec.version);
        if let Some(c) = lock(&self.crc).get(&key) {
            return *c;
        }
        let c = plan.crc();
        let mut m = lock(&self.crc);
        if m.len() >= CACHE_MAX {
            m.clear();
        }
        m.insert(key, c);
        c
    }

    /// SHA-256 of a whole zip.
    pub fn sha256(&self, plan: &Plan) -> [u8; 32] {
        let key = match plan {
            Plan::Zip(p) => (p.layout.spec.seed, p.layout.spec.version),
            Plan::Filler { seed, .. } => (*seed, 0xff),
        };
        if let Some(s) = lock(&self.sha).get(&key) {
            return *s;
        }
        let mut h = Sha256::new();
        let mut buf = Vec::with_capacity(1 << 16);
        match plan {
            Plan::Zip(p) => {
                let crc = self.crc(p);
                let mut r = p.reader(crc, 0, p.total);
                while r.fill(p, &mut buf, 1 << 16) {
                    h.update(&buf);
                    buf.clear();
                }
            }
            Plan::Filler { seed, total } => {
                let mut pos = 0;
                while pos < *total {
                    let end = (*total).min(pos + (1 << 16));
                    filler(*seed, pos, end, &mut buf);
                    h.update(&buf);
                    buf.clear();
                    pos = end;
                }
            }
        }
        let digest: [u8; 32] = h.finalize().into();
        let mut m = lock(&self.sha);
        if m.len() >= CACHE_MAX {
            m.clear();
        }
        m.insert(key, digest);
        digest
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic while holding a cache lock leaves a usable map: take it anyway.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// `<64 hex>  <name>.zip`, no trailing newline.
pub fn checksum_text(sha: &[u8; 32], zip_name: &[u8]) -> Vec<u8> {
    let mut s = hash::hex(sha).into_bytes();
    s.extend_from_slice(b"  ");
    s.extend_from_slice(zip_name);
    s
}

/// Size of a `.CHECKSUM` for a zip named `zip_name_len` bytes.
pub fn checksum_size(zip_name_len: usize) -> u64 {
    64 + 2 + zip_name_len as u64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cursor::Cursor;
    use crate::cursor::tests::{small_archive, view};

    fn full(p: &ZipPlan) -> Vec<u8> {
        let crc = p.crc();
        let mut r = p.reader(crc, 0, p.total);
        let mut out = Vec::new();
        while r.fill(p, &mut out, 7_777) {}
        out
    }

    fn le16(b: &[u8], at: usize) -> usize {
        usize::from(u16::from_le_bytes([b[at], b[at + 1]]))
    }
    fn le32(b: &[u8], at: usize) -> u32 {
        u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
    }

    #[test]
    fn every_family_makes_a_valid_zip_of_the_listed_size() {
        let a: &'static Archive = Box::leak(Box::new(small_archive(0)));
        let v = view((2025, 5, 10));
        let mut c = Cursor::seek(a, v, b"", b"");
        let mut seen = std::collections::HashSet::new();
        let mut checked = 0;
        while let Some((key, obj)) = c.current() {
            if let Some((series, unit, odd)) = obj.zip() {
                let s = &a.series[series as usize];
                // A few files of every series (first and last), every family.
                if seen.insert((series, unit == s.first)) {
                    let name = crate::object::file_name(key).to_vec();
                    let size = zip_size(a, s, unit, odd, name.len());
                    if size > 3_000_000 {
                        // Big trades files: the same code paths, too slow to generate in a
                        // debug test build. `sizes_are_realistic` covers their sizes.
                        c.next_key();
                        continue;
                    }
                    for version in [0u8, 1] {
                        let Plan::Zip(p) = plan(a, s, unit, odd, version, &name) else {
                            panic!("{} is not a zip", String::from_utf8_lossy(key))
                        };
                        assert_eq!(p.total, size, "{}", String::from_utf8_lossy(key));
                        let bytes = full(&p);
                        assert_eq!(bytes.len() as u64, size);
                        // Local header, CSV, central directory, end record.
                        assert_eq!(le32(&bytes, 0), 0x0403_4b50);
                        let n = le16(&bytes, 26);
                        let csv_len = le32(&bytes, 18) as usize;
                        let csv = &bytes[30 + n..30 + n + csv_len];
                        assert_eq!(crc32fast::hash(csv), le32(&bytes, 14));
                        let eocd = bytes.len()
                            - 22
                            - le16(&bytes, bytes.len() - p.comment_len as usize - 2);
                        assert_eq!(
                            le32(&bytes, eocd),
                            0x0605_4b50,
                            "{}",
                            String::from_utf8_lossy(key)
                        );
                        let text = std::str::from_utf8(csv).unwrap();
                        assert!(text.is_empty() || text.ends_with('\n'));
                        let header = p.layout.header();
                        let rows: Vec<&str> = text[header.len()..].lines().collect();
                        assert_eq!(rows.len() as u64, p.rows);
                        assert!(p.rows >= 1, "{} has no rows", String::from_utf8_lossy(key));
                        let cols = rows[0].split(',').count();
                        assert!(rows.iter().all(|r| r.split(',').count() == cols));
                        if !header.is_empty() {
                            assert_eq!(header.trim_end().split(',').count(), cols, "{header}");
                        }
                        // Ranged reads are slices of the whole.
                        let crc = p.crc();
                        for (s0, e0) in [
                            (0, 10),
                            (29, 31 + n as u64),
                            (size / 3, size / 2),
                            (size - 30, size),
                            (size / 2, size / 2 + 1),
                        ] {
                            let (s0, e0) = (s0.min(size), e0.min(size));
                            let mut r = p.reader(crc, s0, e0);
                            let mut part = Vec::new();
                            while r.fill(&p, &mut part, 100) {}
                            assert_eq!(
                                part,
                                &bytes[s0 as usize..e0 as usize],
                                "{s0}..{e0} of {}",
                                String::from_utf8_lossy(key)
                            );
                        }
                    }
                    checked += 1;
                }
            }
            c.next_key();
        }
        assert!(checked > 100, "{checked}");
    }

    #[test]
    fn sizes_are_realistic() {
        let a: &'static Archive = Box::leak(Box::new(small_archive(0)));
        let find = |path: &str| {
            a.series
                .iter()
                .position(|s| a.folder(s) == path)
                .unwrap_or_else(|| panic!("no series {path}"))
        };
        let day = crate::time::days_from_civil(2025, 1, 15);
        let btc_1m = &a.series[find("data/spot/daily/klines/BTCUSDT/1m/")];
        let size = zip_size(a, btc_1m, day, false, 29);
        assert!(
            (40_000..=80_000).contains(&size),
            "BTCUSDT 1m daily: {size}"
        );
        let btc_agg = &a.series[find("data/spot/daily/aggTrades/BTCUSDT/")];
        let size = zip_size(a, btc_agg, day, false, 34);
        assert!(
            (12_000_000..=47_000_000).contains(&size),
            "BTCUSDT aggTrades daily: {size}"
        );
        let btc_1d = &a.series[find("data/spot/daily/klines/BTCUSDT/1d/")];
        assert!(zip_size(a, btc_1d, day, false, 29) < 2_000);
    }

    #[test]
    fn checksum_text_format() {
        let t = checksum_text(&[0xab; 32], b"X-1m-2024-01-01.zip");
        assert_eq!(t.len() as u64, checksum_size(19));
        assert!(t.starts_with(b"abab"));
        assert!(t.ends_with(b"  X-1m-2024-01-01.zip"));
    }
}
