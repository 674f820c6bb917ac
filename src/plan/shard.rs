//! Deterministic sharding of a plan over N workers (e.g. Airflow mapped tasks).
//!
//! An object belongs to shard `fnv1a64(key) % N`, where `key` is its destination key with a
//! trailing `.CHECKSUM` removed, so a zip and its CHECKSUM always share a shard. FNV-1a
//! (64-bit, offset basis 0xcbf29ce484222325, prime 0x100000001b3) over the key's UTF-8
//! bytes is fixed by definition: the assignment is stable across versions, machines and
//! listing orders, and does not depend on which other objects exist.

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

    /// Whether this shard owns the object with destination key `dest_key`.
    pub fn owns(&self, dest_key: &str) -> bool {
        let base = dest_key.strip_suffix(".CHECKSUM").unwrap_or(dest_key);
        fnv1a64(base.as_bytes()) % u64::from(self.count) == u64::from(self.index)
    }
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

    #[test]
    fn known_hashes_never_change() {
        // FNV-1a 64 test vectors, and fixed assignments that must stay stable across versions.
        assert_eq!(fnv1a64(b""), 0xcbf29ce484222325);
        assert_eq!(fnv1a64(b"a"), 0xaf63dc4c8601ec8c);
        assert_eq!(fnv1a64(b"foobar"), 0x85944171f73967e8);
        // Fixed assignments (computed independently with a Python FNV-1a): if these change,
        // every user's shards move.
        let owner = |key: &str, n: u32| {
            (0..n)
                .find(|&i| Shard { index: i, count: n }.owns(key))
                .unwrap()
        };
        assert_eq!(
            owner(
                "lake/data/spot/daily/klines/BTCUSDT/1m/BTCUSDT-1m-2024-01-01.zip",
                4
            ),
            3
        );
        assert_eq!(
            owner(
                "data/spot/daily/klines/BTCUSDT/1m/BTCUSDT-1m-2024-01-01.zip",
                7
            ),
            6
        );
        assert_eq!(
            owner(
                "data/spot/daily/klines/BTCUSDT/1m/BTCUSDT-1m-2024-01-02.zip",
                7
            ),
            1
        );
        assert_eq!(
            owner(
                "data/futures/um/monthly/fundingRate/BTCUSDT/BTCUSDT-fundingRate-2024-01.zip",
                7
            ),
            0
        );
        assert_eq!(
            owner(
                "data/futures/um/monthly/fundingRate/BTCUSDT/BTCUSDT-fundingRate-2024-01.zip.CHECKSUM",
                7
            ),
            0
        );
    }

    #[test]
    fn shards_partition_any_plan_and_keep_zip_with_checksum() {
        // Property: for several N, every key has exactly one owner (disjoint, complete).
        let keys: Vec<String> = (0..2000)
            .flat_map(|i| {
                let z = format!(
                    "data/spot/daily/trades/S{}/S-trades-2024-01-{:02}.zip",
                    i % 37,
                    i % 28 + 1
                );
                [z.clone(), format!("{z}.CHECKSUM"), format!("odd key {i} ü")]
            })
            .collect();
        for n in [1u32, 2, 3, 4, 7, 16, 100] {
            let mut per = vec![0usize; n as usize];
            for k in &keys {
                let owners: Vec<u32> = (0..n)
                    .filter(|&i| Shard { index: i, count: n }.owns(k))
                    .collect();
                assert_eq!(owners.len(), 1, "{k} in {owners:?} of {n}");
                per[owners[0] as usize] += 1;
                if let Some(zip) = k.strip_suffix(".CHECKSUM") {
                    assert!(
                        Shard {
                            index: owners[0],
                            count: n
                        }
                        .owns(zip)
                    );
                }
            }
            assert_eq!(per.iter().sum::<usize>(), keys.len());
            if n > 1 && n < 20 {
                let (min, max) = (per.iter().min().unwrap(), per.iter().max().unwrap());
                assert!(*min * 2 > *max, "unbalanced for {n}: {per:?}");
            }
        }
    }
}
