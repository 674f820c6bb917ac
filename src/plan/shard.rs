//! Deterministic sharding of a plan over N workers (e.g. Airflow mapped tasks).
//!
//! An object belongs to shard `fnv1a64(unit) % N`, where `unit` is the archive folder that
//! holds it: `data/{market}/{period}/{type}/{SYMBOL}/{interval}/` for kline types,
//! `data/{market}/{period}/{type}/{SYMBOL}/` for the others (its key relative to the source
//! folder, i.e. the archive root). So a zip and its CHECKSUM always share a shard, and a
//! shard can list only its own (symbol, interval) prefixes: N shards together list about
//! what one unsharded run lists. A key outside the archive's layout is its own unit (its
//! key with a trailing `.CHECKSUM` removed). FNV-1a (64-bit, offset basis
//! 0xcbf29ce484222325, prime 0x100000001b3) over the unit's UTF-8 bytes is fixed by
//! definition: the assignment is stable across versions, machines, destinations and listing
//! orders, and does not depend on which other objects exist.
//!
//! Before 0.2 the unit was each object's destination key (zip and CHECKSUM together): the
//! membership of every object changed with the folder rule.

use crate::error::Error;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: u32,
    pub count: u32,
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

pub fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

impl Shard {
    /// Parse `I/N` (0-based) or `auto/N` (index from `env_index`, read by the caller from
    /// `JOB_COMPLETION_INDEX` or `LAKESYNC_SHARD_INDEX`).
    pub fn parse(value: &str, env_index: Option<&str>) -> Result<Self, Error> {
        let bad = |why: String| {
            Error::usage(
                format!("invalid --shard value {value:?}: {why}"),
                "write --shard I/N with 0 <= I < N (e.g. --shard 0/4), or --shard auto/N with JOB_COMPLETION_INDEX or LAKESYNC_SHARD_INDEX set",
            )
        };
        let (i, n) = value.split_once('/').ok_or_else(|| bad("no '/'".into()))?;
        let count: u32 = n
            .trim()
            .parse()
            .ok()
            .filter(|&n| (1..=100_000).contains(&n))
            .ok_or_else(|| {
                bad(format!(
                    "the shard count {n:?} is not a number from 1 to 100000"
                ))
            })?;
        let index_text = if i.trim() == "auto" {
            env_index.ok_or_else(|| {
                bad(
                    "auto needs JOB_COMPLETION_INDEX or LAKESYNC_SHARD_INDEX in the environment"
                        .into(),
                )
            })?
        } else {
            i
        };
        let index: u32 = index_text
            .trim()
            .parse()
            .map_err(|_| bad(format!("the shard index {index_text:?} is not a number")))?;
        if index >= count {
            return Err(bad(format!(
                "the index {index} is not below the count {count}"
            )));
        }
        Ok(Self { index, count })
    }

    /// Whether this shard owns the object with key `rel_key` (relative to the source
    /// folder, e.g. "data/spot/daily/klines/BTCUSDT/1m/BTCUSDT-1m-2024-01-01.zip").
    pub fn owns(&self, rel_key: &str) -> bool {
        self.owns_unit(unit_of(rel_key))
    }

    fn owns_unit(&self, unit: &str) -> bool {
        fnv1a64(unit.as_bytes()) % u64::from(self.count) == u64::from(self.index)
    }

    /// Whether this shard lists a key prefix (relative to the source folder): `Some(owned)`
    /// when every key under the prefix is in one unit, `None` when the prefix spans several
    /// units (it must be listed and its keys filtered with [`Shard::owns`]).
    pub fn owns_prefix(&self, rel_prefix: &str) -> Option<bool> {
        prefix_unit(rel_prefix).map(|u| self.owns_unit(u))
    }
}

/// Segments of a unit folder below `data/`: market (1 or 2 segments: `futures/um`), period,
/// type, symbol, and the interval for kline types.
fn unit_len(segments: &[&str]) -> Option<usize> {
    let market = match segments.first()? {
        &"futures" => 2,
        _ => 1,
    };
    // period, type, symbol
    let data_type = segments.get(market + 1)?;
    let len = market + 3 + usize::from(crate::select::archive::has_interval(data_type));
    Some(len)
}

/// The unit folder of a key (with its trailing `/`), or the key without `.CHECKSUM` when
/// it is not in the archive's layout.
pub fn unit_of(rel_key: &str) -> &str {
    let base = rel_key.strip_suffix(".CHECKSUM").unwrap_or(rel_key);
    let Some(below) = base.strip_prefix("data/") else {
        return base;
    };
    let segments: Vec<&str> = below.split('/').collect();
    match unit_len(&segments) {
        // The unit must be followed by a file name: more segments than the unit has.
        Some(n) if segments.len() > n && segments[..n].iter().all(|s| !s.is_empty()) => {
            let len = "data/".len() + segments[..n].iter().map(|s| s.len() + 1).sum::<usize>();
            base.get(..len).unwrap_or(base)
        }
        _ => base,
    }
}

/// Whether a key prefix (relative to the source folder) lies inside one symbol folder
/// (`data/{market}/{period}/{type}/{SYMBOL}/...`): what such a prefix holds is bounded by
/// one symbol's history, so it can be listed in a group with others
/// ([`crate::list::paired`]) rather than streamed.
pub fn in_symbol_folder(rel_prefix: &str) -> bool {
    let Some(below) = rel_prefix.strip_prefix("data/") else {
        return false;
    };
    let segments: Vec<&str> = below.split('/').collect();
    let Some(unit) = unit_len(&segments) else {
        return false;
    };
    // The unit without its interval segment (kline types): market, period, type, symbol.
    let n = unit - usize::from(segments.len() > 1 && unit_has_interval(&segments));
    segments.len() > n && segments[..n].iter().all(|s| !s.is_empty())
}

fn unit_has_interval(segments: &[&str]) -> bool {
    let market = if segments.first() == Some(&"futures") {
        2
    } else {
        1
    };
    segments
        .get(market + 1)
        .is_some_and(|t| crate::select::archive::has_interval(t))
}

/// Whether a key prefix lies inside one unit folder (one (symbol, interval) folder).
pub fn within_unit(rel_prefix: &str) -> bool {
    prefix_unit(rel_prefix).is_some()
}

/// The unit a prefix lies in, when it lies in one: the prefix reaches at least the unit
/// folder's closing `/`.
fn prefix_unit(rel_prefix: &str) -> Option<&str> {
    let below = rel_prefix.strip_prefix("data/")?;
    let segments: Vec<&str> = below.split('/').collect();
    let n = unit_len(&segments)?;
    // With n complete segments the split has at least n + 1 parts (the last may be "").
    (segments.len() > n && segments[..n].iter().all(|s| !s.is_empty())).then(|| {
        let len = "data/".len() + segments[..n].iter().map(|s| s.len() + 1).sum::<usize>();
        rel_prefix.get(..len).unwrap_or(rel_prefix)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses() {
        assert_eq!(
            Shard::parse("0/4", None).unwrap(),
            Shard { index: 0, count: 4 }
        );
        assert_eq!(Shard::parse("auto/4", Some("3")).unwrap().index, 3);
        for bad in ["4/4", "x/4", "1", "0/0", "auto/4"] {
            let e = Shard::parse(bad, None).unwrap_err();
            assert!(e.message().contains(bad), "{e:?}");
            assert!(e.hint().contains("--shard"));
        }
    }

    fn owner(key: &str, n: u32) -> u32 {
        (0..n)
            .find(|&i| Shard { index: i, count: n }.owns(key))
            .unwrap()
    }

    #[test]
    fn known_hashes_never_change() {
        // FNV-1a 64 test vectors, and fixed assignments that must stay stable across versions.
        assert_eq!(fnv1a64(b""), 0xcbf29ce484222325);
        assert_eq!(fnv1a64(b"a"), 0xaf63dc4c8601ec8c);
        assert_eq!(fnv1a64(b"foobar"), 0x85944171f73967e8);
        // Fixed assignments (FNV-1a of the unit folder computed independently with Python):
        // if these change, every user's shards move.
        let kl = "data/spot/daily/klines/BTCUSDT/1m/";
        assert_eq!(fnv1a64(kl.as_bytes()), 14_489_520_901_160_584_209);
        let fr = "data/futures/um/monthly/fundingRate/BTCUSDT/";
        for (key, fixed) in [
            (format!("{kl}BTCUSDT-1m-2024-01-01.zip"), FIXED[0]),
            (format!("{kl}BTCUSDT-1m-2024-01-02.zip"), FIXED[0]),
            (format!("{fr}BTCUSDT-fundingRate-2024-01.zip"), FIXED[1]),
            (
                format!("{fr}BTCUSDT-fundingRate-2024-01.zip.CHECKSUM"),
                FIXED[1],
            ),
            ("odd/key.zip".to_owned(), FIXED[2]),
        ] {
            assert_eq!(owner(&key, 11), fixed, "{key}");
        }
    }

    /// fnv1a64(unit) % 11 for the units above, from Python:
    /// `h=0xcbf29ce484222325; for b in s.encode(): h=((h^b)*0x100000001b3)%2**64`.
    const FIXED: [u32; 3] = [7, 5, 2];

    #[test]
    fn units_are_symbol_interval_folders() {
        for (key, unit) in [
            (
                "data/spot/daily/klines/BTCUSDT/1m/BTCUSDT-1m-2024-01-01.zip",
                "data/spot/daily/klines/BTCUSDT/1m/",
            ),
            (
                "data/spot/daily/klines/BTCUSDT/1m/BTCUSDT-1m-2024-01-01.zip.CHECKSUM",
                "data/spot/daily/klines/BTCUSDT/1m/",
            ),
            (
                "data/futures/um/daily/markPriceKlines/BTCUSDT/1h/BTCUSDT-1h-2024-01-01.zip",
                "data/futures/um/daily/markPriceKlines/BTCUSDT/1h/",
            ),
            (
                "data/futures/cm/daily/aggTrades/BTCUSD_PERP/BTCUSD_PERP-aggTrades-2024-01-01.zip",
                "data/futures/cm/daily/aggTrades/BTCUSD_PERP/",
            ),
            (
                "data/option/daily/BVOLIndex/BTCBVOLUSDT/BTCBVOLUSDT-BVOLIndex-2024-01-01.zip",
                "data/option/daily/BVOLIndex/BTCBVOLUSDT/",
            ),
            // Outside the layout: the key itself.
            (
                "data/spot/daily/klines/BTCUSDT/x.zip",
                "data/spot/daily/klines/BTCUSDT/x.zip",
            ),
            (
                "data/futures/um/daily/klines//1m/a.zip",
                "data/futures/um/daily/klines//1m/a.zip",
            ),
            ("notes/readme.zip.CHECKSUM", "notes/readme.zip"),
            ("data/", "data/"),
            ("", ""),
        ] {
            assert_eq!(unit_of(key), unit, "{key}");
        }
        for (p, inside) in [
            ("data/spot/daily/klines/", false),
            ("data/spot/daily/klines/BTC", false),
            ("data/spot/daily/klines/BTCUSDT/", true),
            (
                "data/spot/daily/klines/BTCUSDT/1m/BTCUSDT-1m-2024-01-",
                true,
            ),
            ("data/futures/um/daily/trades/BTCUSDT/", true),
            ("data/futures/um/daily/trades/", false),
            ("data/spot/daily/klines//", false),
            ("", false),
            ("other/", false),
        ] {
            assert_eq!(in_symbol_folder(p), inside, "{p}");
        }
        let s = Shard { index: 0, count: 3 };
        assert_eq!(s.owns_prefix("data/spot/daily/klines/"), None);
        assert_eq!(s.owns_prefix("data/spot/daily/klines/BTCUSDT/"), None);
        assert_eq!(s.owns_prefix("data/spot/daily/klines/BTCUSDT/1m"), None);
        assert_eq!(s.owns_prefix(""), None);
        for p in [
            "data/spot/daily/klines/BTCUSDT/1m/",
            "data/spot/daily/klines/BTCUSDT/1m/BTCUSDT-1m-2024-01-",
            "data/spot/daily/trades/BTCUSDT/BTCUSDT-trades-2024-0",
        ] {
            let unit = unit_of(&format!("{p}X.zip")).to_owned();
            assert_eq!(
                s.owns_prefix(p),
                Some(s.owns(&format!("{unit}Y.zip"))),
                "{p}"
            );
        }
    }

    #[test]
    fn shards_partition_any_plan_by_unit_and_keep_zip_with_checksum() {
        // Property: for several N, every key has exactly one owner (disjoint, complete), a
        // unit's keys all share it, and a prefix inside a unit goes where its keys go.
        let mut units = Vec::new();
        for i in 0..500 {
            for iv in ["1m", "1h", "1d"] {
                units.push(format!("data/spot/daily/klines/S{i}USDT/{iv}/"));
            }
            units.push(format!("data/futures/um/daily/aggTrades/S{i}USDT/"));
        }
        let keys: Vec<(usize, String)> = units
            .iter()
            .enumerate()
            .flat_map(|(u, unit)| {
                (1..=3).flat_map(move |d| {
                    let z = format!("{unit}X-2024-01-{d:02}.zip");
                    [(u, z.clone()), (u, format!("{z}.CHECKSUM"))]
                })
            })
            .chain((0..300).map(|i| (usize::MAX, format!("odd key {i} ü"))))
            .collect();
        for n in [1u32, 2, 3, 4, 7, 16, 100] {
            let shard = |i| Shard { index: i, count: n };
            let mut unit_owner = vec![None; units.len()];
            let mut units_per = vec![0usize; n as usize];
            for (u, k) in &keys {
                let owners: Vec<u32> = (0..n).filter(|&i| shard(i).owns(k)).collect();
                assert_eq!(owners.len(), 1, "{k} in {owners:?} of {n}");
                let o = owners[0];
                if let Some(zip) = k.strip_suffix(".CHECKSUM") {
                    assert!(shard(o).owns(zip));
                }
                if let Some(slot) = unit_owner.get_mut(*u) {
                    match *slot {
                        None => {
                            *slot = Some(o);
                            units_per[o as usize] += 1;
                            let unit = &units[*u];
                            assert_eq!(shard(o).owns_prefix(unit), Some(true));
                            assert_eq!(
                                shard(o).owns_prefix(&format!("{unit}X-2024-01-0")),
                                Some(true)
                            );
                        }
                        Some(prev) => assert_eq!(prev, o, "{k}: unit split over shards"),
                    }
                }
            }
            assert_eq!(units_per.iter().sum::<usize>(), units.len());
            if n > 1 && n < 20 {
                let (min, max) = (
                    units_per.iter().min().unwrap(),
                    units_per.iter().max().unwrap(),
                );
                assert!(*min * 2 > *max, "unbalanced for {n}: {units_per:?}");
            }
        }
    }
}
