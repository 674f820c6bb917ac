//! Incremental planning for tables: which partitions to (re)build, decided from the two
//! listings alone.
//!
//! A partition is built when its Parquet file is missing, or when the zip was modified at
//! or after the Parquet file was written (a re-upload: Binance re-publishes files, sometimes
//! with the same size). Comparing LastModified of the two objects needs nothing but the
//! listings that planning makes anyway, so an up-to-date lake costs one LIST per 1,000
//! partitions and not a GET per partition (reading each Parquet footer, or a manifest that
//! concurrent runs would have to merge). The zip's ETag, size, LastModified and SHA-256 are
//! also kept in each Parquet file's key-value metadata, so a partition says which zip it was
//! built from. "At or after" (not "after") because listings give LastModified to the
//! second: a re-upload in the same second as the build must not be missed, and the cost is
//! at most one extra rebuild.
//!
//! The join streams: source keys arrive sorted, and inside one table the Parquet keys sort
//! the same way (see `layout`), so each destination scope (a table, or one symbol of it, as
//! narrow as the source prefix) is one sorted listing consumed once, front to back. A
//! source prefix spanning several tables (all intervals of a symbol) keeps one listing per
//! table open at a time.

use std::collections::HashMap;
use std::iter::Peekable;

use crate::list::Object;
use crate::tables::layout::{self, Partition};
use crate::tables::schema;

/// Why a partition is built.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// No Parquet file for the zip yet.
    Missing,
    /// The zip was modified at or after the Parquet file was written (a re-upload).
    SourceNewer,
    /// A LastModified is missing on one side, so freshness cannot be told.
    UnknownAge,
    /// `--rebuild`.
    Rebuild,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Missing => "missing",
            Reason::SourceNewer => "source_newer",
            Reason::UnknownAge => "unknown_age",
            Reason::Rebuild => "rebuild",
        }
    }
}

/// Whether the partition of `zip` must be built over `parquet`.
pub fn decide(zip: &Object, parquet: Option<&Object>, rebuild: bool) -> Option<Reason> {
    let Some(parquet) = parquet else {
        return Some(Reason::Missing);
    };
    if rebuild {
        return Some(Reason::Rebuild);
    }
    match (zip.last_modified, parquet.last_modified) {
        (Some(z), Some(p)) if z >= p => Some(Reason::SourceNewer),
        (Some(_), Some(_)) => None,
        _ => Some(Reason::UnknownAge),
    }
}

/// A partition to build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Work {
    /// The zip, key relative to the source folder.
    pub zip: Object,
    /// Its `.zip.CHECKSUM`, when the listing has one.
    pub checksum: Option<Object>,
    pub partition: Partition,
    pub reason: Reason,
}

/// What the planner decided for one source zip.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Build(Work),
    /// The Parquet file is up to date.
    Skip {
        zip: Object,
        partition: Partition,
    },
    /// A zip of a data type lakesync does not convert (EOHSummary).
    Unsupported {
        zip: Object,
    },
    /// A zip whose key is not an archive key (`data/{market}/...`).
    Unrecognised {
        zip: Object,
    },
}

/// Opens the sorted destination listing of a key prefix (relative to the destination).
pub trait DestLister {
    type Iter: Iterator<Item = Object>;
    fn open(&mut self, scope: &str) -> Self::Iter;
}

type Scope<I> = Peekable<I>;

/// The streaming join of the source zips with the destination tables.
pub struct Planner<D: DestLister> {
    /// Source prefixes (from the selection), sorted, none a prefix of another.
    prefixes: Vec<String>,
    rebuild: bool,
    dest: D,
    /// The source prefix being planned and its open destination scopes.
    current: Option<String>,
    scopes: HashMap<String, Scope<D::Iter>>,
    /// Destination scopes opened so far (each one LIST stream).
    pub scopes_opened: u64,
}

impl<D: DestLister> Planner<D> {
    pub fn new(prefixes: Vec<String>, rebuild: bool, dest: D) -> Self {
        Self {
            prefixes,
            rebuild,
            dest,
            current: None,
            scopes: HashMap::new(),
            scopes_opened: 0,
        }
    }

    /// The source prefix a key was listed under: the greatest prefix not above it.
    fn prefix_of(&self, key: &str) -> String {
        let i = self.prefixes.partition_point(|p| p.as_str() <= key);
        i.checked_sub(1)
            .map(|i| &self.prefixes[i])
            .filter(|p| key.starts_with(p.as_str()))
            .cloned()
            .unwrap_or_default()
    }

    /// Decide for one zip (keys arrive in source order).
    pub fn decide(&mut self, zip: Object, checksum: Option<Object>) -> Decision {
        let Some(partition) = Partition::from_zip_key(&zip.key) else {
            return Decision::Unrecognised { zip };
        };
        if schema::schema_for(partition.market, partition.data_type).is_none() {
            return Decision::Unsupported { zip };
        }
        let prefix = self.prefix_of(&zip.key);
        if self.current.as_deref() != Some(prefix.as_str()) {
            // A new source prefix: the scopes of the previous one will not be needed again.
            self.scopes.clear();
            self.current = Some(prefix.clone());
        }
        let scope_key = layout::dest_scope(&prefix, &partition);
        let table = partition.table();
        let scope = match self.scopes.entry(scope_key) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(e) => {
                self.scopes_opened += 1;
                let it = self.dest.open(e.key());
                e.insert(it.peekable())
            }
        };
        let want = partition.id();
        let file = format!("{}.parquet", partition.stem);
        let mut found: Option<Object> = None;
        while let Some(o) = scope.peek() {
            let Some((id, name)) = o
                .key
                .strip_prefix(table.as_str())
                .and_then(layout::split_table_key)
            else {
                scope.next();
                continue;
            };
            match id.cmp(&want) {
                std::cmp::Ordering::Less => {
                    scope.next();
                }
                std::cmp::Ordering::Equal => {
                    let is_ours = name == file;
                    let o = scope.next();
                    if is_ours {
                        found = o;
                    }
                }
                std::cmp::Ordering::Greater => break,
            }
        }
        match decide(&zip, found.as_ref(), self.rebuild) {
            Some(reason) => Decision::Build(Work {
                zip,
                checksum,
                partition,
                reason,
            }),
            None => Decision::Skip { zip, partition },
        }
    }
}

/// Pairs each `.zip` of a sorted listing with the `.zip.CHECKSUM` that follows it; other
/// keys are passed through as `(object, None)` only when they are zips.
pub struct Zips<I: Iterator<Item = Object>> {
    inner: Peekable<I>,
}

impl<I: Iterator<Item = Object>> Zips<I> {
    pub fn new(inner: I) -> Self {
        Self {
            inner: inner.peekable(),
        }
    }
}

impl<I: Iterator<Item = Object>> Iterator for Zips<I> {
    type Item = (Object, Option<Object>);

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let o = self.inner.next()?;
            if !o.key.ends_with(".zip") {
                continue;
            }
            let checksum = match self.inner.peek() {
                Some(c)
                    if c.key.len() == o.key.len() + 9
                        && c.key.starts_with(&o.key)
                        && c.key.ends_with(".CHECKSUM") =>
                {
                    self.inner.next()
                }
                _ => None,
            };
            return Some((o, checksum));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(key: &str, lm: &str) -> Object {
        Object {
            key: key.into(),
            size: 100,
            etag: Some("e".into()),
            last_modified: Some(lm.parse().unwrap()),
        }
    }

    const T0: &str = "2024-01-02T00:00:00Z";
    const T1: &str = "2024-01-03T00:00:00Z";

    #[test]
    fn decisions() {
        let z = obj("z", T0);
        assert_eq!(decide(&z, None, false), Some(Reason::Missing));
        assert_eq!(decide(&z, None, true), Some(Reason::Missing));
        assert_eq!(decide(&z, Some(&obj("p", T1)), false), None);
        assert_eq!(decide(&z, Some(&obj("p", T1)), true), Some(Reason::Rebuild));
        // Re-uploaded after the build, or in the same second.
        assert_eq!(
            decide(&obj("z", T1), Some(&obj("p", T0)), false),
            Some(Reason::SourceNewer)
        );
        assert_eq!(
            decide(&z, Some(&obj("p", T0)), false),
            Some(Reason::SourceNewer)
        );
        let mut undated = obj("p", T1);
        undated.last_modified = None;
        assert_eq!(decide(&z, Some(&undated), false), Some(Reason::UnknownAge));
    }

    /// In-memory destination: every open lists the keys under the scope, sorted.
    struct Mem {
        keys: Vec<Object>,
        opened: std::rc::Rc<std::cell::RefCell<Vec<String>>>,
    }

    impl DestLister for Mem {
        type Iter = std::vec::IntoIter<Object>;
        fn open(&mut self, scope: &str) -> Self::Iter {
            self.opened.borrow_mut().push(scope.to_string());
            let mut v: Vec<Object> = self
                .keys
                .iter()
                .filter(|o| o.key.starts_with(scope))
                .cloned()
                .collect();
            v.sort_by(|a, b| a.key.cmp(&b.key));
            v.into_iter()
        }
    }

    fn plan(
        prefixes: &[&str],
        src: &[&str],
        dest: Vec<Object>,
    ) -> (Vec<(String, Option<Reason>)>, Vec<String>) {
        let opened = std::rc::Rc::default();
        let mut p = Planner::new(
            prefixes.iter().map(|s| s.to_string()).collect(),
            false,
            Mem {
                keys: dest,
                opened: std::rc::Rc::clone(&opened),
            },
        );
        let mut src: Vec<Object> = src.iter().map(|k| obj(k, T0)).collect();
        src.sort_by(|a, b| a.key.cmp(&b.key));
        let out = Zips::new(src.into_iter())
            .map(|(z, c)| match p.decide(z, c) {
                Decision::Build(w) => {
                    assert!(w.checksum.is_some(), "{}", w.zip.key);
                    (w.zip.key, Some(w.reason))
                }
                Decision::Skip { zip, .. } => (zip.key, None),
                Decision::Unsupported { zip } | Decision::Unrecognised { zip } => {
                    (format!("?{}", zip.key), None)
                }
            })
            .collect();
        let opened = opened.borrow().clone();
        (out, opened)
    }

    fn with_checksums(zips: &[&str]) -> Vec<String> {
        zips.iter()
            .flat_map(|z| [z.to_string(), format!("{z}.CHECKSUM")])
            .collect()
    }

    #[test]
    fn joins_across_intervals_and_symbols_with_one_listing_per_table() {
        let zips = [
            "data/spot/daily/klines/BTCUSDT/1h/BTCUSDT-1h-2024-01-01.zip",
            "data/spot/daily/klines/BTCUSDT/1h/BTCUSDT-1h-2024-01-02.zip",
            "data/spot/daily/klines/BTCUSDT/1m/BTCUSDT-1m-2024-01-01.zip",
            "data/spot/daily/klines/BTCUSDT/1m/BTCUSDT-1m-2024-01-02.zip",
            "data/spot/daily/klines/ETHUSDT/1h/ETHUSDT-1h-2024-01-01.zip",
            "data/spot/daily/klines/ETHUSDT/1m/ETHUSDT-1m-2024-01-01.zip",
        ];
        let src = with_checksums(&zips);
        let src: Vec<&str> = src.iter().map(String::as_str).collect();
        let dest = vec![
            // Built after the zips: up to date.
            obj(
                "spot/daily/klines/1h/symbol=BTCUSDT/date=2024-01-02/BTCUSDT-1h-2024-01-02.parquet",
                T1,
            ),
            obj(
                "spot/daily/klines/1m/symbol=BTCUSDT/date=2024-01-01/BTCUSDT-1m-2024-01-01.parquet",
                T1,
            ),
            // Built before the zip was re-uploaded.
            obj(
                "spot/daily/klines/1m/symbol=ETHUSDT/date=2024-01-01/ETHUSDT-1m-2024-01-01.parquet",
                "2024-01-01T00:00:00Z",
            ),
            // Other files in a partition and a partition with no zip are passed over.
            obj(
                "spot/daily/klines/1h/symbol=BTCUSDT/date=2024-01-01/other.parquet",
                T1,
            ),
            obj(
                "spot/daily/klines/1h/symbol=BNBUSDT/date=2024-01-01/BNBUSDT-1h-2024-01-01.parquet",
                T1,
            ),
        ];
        let (out, opened) = plan(&["data/spot/daily/klines/"], &src, dest);
        assert_eq!(
            out,
            vec![
                (zips[0].to_string(), Some(Reason::Missing)),
                (zips[1].to_string(), None),
                (zips[2].to_string(), None),
                (zips[3].to_string(), Some(Reason::Missing)),
                (zips[4].to_string(), Some(Reason::Missing)),
                (zips[5].to_string(), Some(Reason::SourceNewer)),
            ]
        );
        assert_eq!(
            opened,
            vec!["spot/daily/klines/1h/", "spot/daily/klines/1m/"],
            "one listing per table, kept open across symbols"
        );
    }

    #[test]
    fn narrow_prefixes_list_narrow_scopes() {
        let zips = [
            "data/futures/um/daily/bookTicker/BTCUSDT/BTCUSDT-bookTicker-2024-01-31.zip",
            "data/futures/um/daily/bookTicker/BTCUSDT/BTCUSDT-bookTicker-2024-02-01.zip",
        ];
        let src = with_checksums(&zips);
        let src: Vec<&str> = src.iter().map(String::as_str).collect();
        let (out, opened) = plan(
            &[
                "data/futures/um/daily/bookTicker/BTCUSDT/BTCUSDT-bookTicker-2024-01-",
                "data/futures/um/daily/bookTicker/BTCUSDT/BTCUSDT-bookTicker-2024-02-",
            ],
            &src,
            vec![],
        );
        assert!(out.iter().all(|(_, r)| *r == Some(Reason::Missing)));
        assert_eq!(
            opened,
            vec![
                "futures/um/daily/bookTicker/symbol=BTCUSDT/date=2024-01-",
                "futures/um/daily/bookTicker/symbol=BTCUSDT/date=2024-02-"
            ]
        );
    }

    #[test]
    fn unsupported_and_unrecognised_zips_are_told_apart() {
        let src = with_checksums(&[
            "data/option/daily/EOHSummary/BTCUSDT/BTCUSDT-EOHSummary-2024-01-01.zip",
            "misc/notes.zip",
        ]);
        let src: Vec<&str> = src.iter().map(String::as_str).collect();
        let (out, _) = plan(&[""], &src, vec![]);
        assert_eq!(out.len(), 2);
        assert!(out.iter().all(|(k, _)| k.starts_with('?')));
    }

    #[test]
    fn zips_pair_with_their_checksum_only() {
        let src = vec![
            obj("a.zip", T0),
            obj("a.zip.CHECKSUM", T0),
            obj("b.zip", T0),
            obj("b.zipx", T0),
            obj("c.txt", T0),
            obj("d.zip", T0),
            obj("d.zip.CHECKSUM", T0),
        ];
        let got: Vec<(String, bool)> = Zips::new(src.into_iter())
            .map(|(z, c)| (z.key, c.is_some()))
            .collect();
        assert_eq!(
            got,
            vec![
                ("a.zip".into(), true),
                ("b.zip".into(), false),
                ("d.zip".into(), true)
            ]
        );
    }
}
