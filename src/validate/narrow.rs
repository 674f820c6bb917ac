//! What validation lists: the narrowed prefixes of the objects a run copied, not the
//! planning prefixes again.
//!
//! Copied keys are grouped by their (symbol, interval) folder ([`crate::plan::shard::unit_of`]);
//! each folder's prefix is the common beginning of the smallest and largest copied key in
//! it, so one day copied into a folder of eight years lists that day, not the folder. The
//! prefixes are listed with grouped `s5cmd run`s ([`crate::list::multi`]) by
//! [`super::overlap`], batch by batch while the copying goes on.

use std::collections::BTreeMap;

use crate::plan::shard::unit_of;

/// Collects the copied keys' folders and key span; order of arrival does not matter.
#[derive(Debug, Default, Clone)]
pub struct CopiedPrefixes {
    /// unit -> (smallest, largest) copied key in it.
    spans: BTreeMap<String, (String, String)>,
}

impl CopiedPrefixes {
    /// Record one copied key (relative to the folders).
    pub fn push(&mut self, rel_key: &str) {
        let unit = unit_of(rel_key);
        match self.spans.get_mut(unit) {
            Some((lo, hi)) => {
                if rel_key < lo.as_str() {
                    *lo = rel_key.to_owned();
                }
                if rel_key > hi.as_str() {
                    *hi = rel_key.to_owned();
                }
            }
            None => {
                self.spans
                    .insert(unit.to_owned(), (rel_key.to_owned(), rel_key.to_owned()));
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    /// The prefixes to list: sorted, none covering another, every recorded key under one.
    pub fn prefixes(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .spans
            .values()
            .map(|(lo, hi)| {
                let common = lo
                    .char_indices()
                    .zip(hi.chars())
                    .take_while(|((_, a), b)| a == b)
                    .last()
                    .map_or(0, |((i, a), _)| i + a.len_utf8());
                lo.get(..common).unwrap_or_default().to_owned()
            })
            .collect();
        out.sort();
        let mut kept: Vec<String> = Vec::with_capacity(out.len());
        for p in out {
            if kept.last().is_none_or(|last| !p.starts_with(last.as_str())) {
                kept.push(p);
            }
        }
        kept
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prefixes(keys: &[&str]) -> Vec<String> {
        let mut c = CopiedPrefixes::default();
        for k in keys {
            c.push(k);
        }
        c.prefixes()
    }

    #[test]
    fn one_prefix_per_folder_spanning_its_copied_keys() {
        let kl = "data/spot/daily/klines/BTCUSDT/1m/BTCUSDT-1m-";
        assert_eq!(
            prefixes(&[
                &format!("{kl}2026-11-30.zip"),
                &format!("{kl}2026-11-30.zip.CHECKSUM"),
                "data/spot/daily/klines/AAA/1m/AAA-1m-2026-11-01.zip",
                &format!("{kl}2026-11-02.zip"),
                "data/spot/daily/klines/AAA/1m/AAA-1m-2026-11-30.zip.CHECKSUM",
            ]),
            [
                "data/spot/daily/klines/AAA/1m/AAA-1m-2026-11-",
                "data/spot/daily/klines/BTCUSDT/1m/BTCUSDT-1m-2026-11-",
            ]
        );
        // One key: the key itself (a listing of exactly it and what extends it).
        assert_eq!(
            prefixes(&[&format!("{kl}2026-11-30.zip")]),
            [format!("{kl}2026-11-30.zip")]
        );
        assert!(prefixes(&[]).is_empty());
    }

    #[test]
    fn keys_outside_the_layout_never_overlap() {
        // Each is its own unit; one is a prefix of the other, so only the shorter is listed.
        let got = prefixes(&["notes/a.zip", "notes/a.zip.old", "notes/b"]);
        assert_eq!(got, ["notes/a.zip", "notes/b"]);
        for k in ["notes/a.zip", "notes/a.zip.old", "notes/b"] {
            assert!(got.iter().any(|p| k.starts_with(p.as_str())), "{k}");
        }
    }

    #[test]
    fn multibyte_keys_cut_on_char_boundaries() {
        // ü is C3 BC and ý is C3 BD: they share a byte but no character.
        let dir = "data/spot/daily/trades/X/";
        let got = prefixes(&[&format!("{dir}ü.zip"), &format!("{dir}ý.zip")]);
        assert_eq!(got, [dir]);
        let got = prefixes(&[&format!("{dir}ü1.zip"), &format!("{dir}ü2.zip")]);
        assert_eq!(got, [format!("{dir}ü")]);
    }
}
