//! Symbol discovery and the listing cost choice.
//!
//! Where a selection leaves symbols open, the data-type folders it covers
//! ([`Selection::open_folders`]) are listed with a delimiter, one `ls` line each in one
//! `s5cmd run`: their subfolders are the symbols (their sets differ per market, period and
//! data type). Each symbol is then narrowed per interval and date range exactly as a symbol
//! given with `--symbols` ([`Selection::prefixes_with`]).
//!
//! Narrowing is not always cheaper: a folder listed whole costs one request per 1,000 keys,
//! narrowed prefixes cost at least one request each. [`choose`] decides per folder from the
//! discovered counts and a model of how many keys a symbol folder holds (below), and
//! [`FolderChoice`] says why, for `plan`.

use std::path::Path;

use crate::list::Lister;
use crate::list::multi::{GroupListError, ListCounts, LsKind, PAGE_KEYS};
use crate::s3url::S3Url;
use crate::select::archive::{Market, Period};
use crate::select::{Discovered, Selection};

/// Keys (zip + CHECKSUM) one (symbol, interval) folder of a daily data type holds over its
/// whole history, for the cost model: spot daily 1m klines of every symbol are 4-6 million
/// keys over ~3,000 symbol folders (`/work/shared/archive-model/README.md`), about 1,700 per
/// folder.
pub const DAILY_FOLDER_KEYS: u64 = 1_700;
/// The same for monthly types: about 30 months of history, two keys a month.
pub const MONTHLY_FOLDER_KEYS: u64 = 60;

/// How one data-type folder is listed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Choice {
    /// One listing of the whole folder, filtered by the selection.
    Whole,
    /// One listing per (symbol, interval, date range) prefix.
    Narrowed,
}

/// The cost choice for one data-type folder, with the counts it was made from.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FolderChoice {
    pub folder: String,
    pub symbols: u64,
    pub narrowed_prefixes: u64,
    /// Estimated LIST requests of each way.
    pub whole_requests: u64,
    pub narrowed_requests: u64,
    pub choice: Choice,
}

impl std::fmt::Display for FolderChoice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let how = match self.choice {
            Choice::Whole => "listed whole",
            Choice::Narrowed => "narrowed",
        };
        write!(
            f,
            "{}: {} symbols, {how} (about {} LIST requests whole, {} narrowed over {} prefixes)",
            self.folder,
            self.symbols,
            self.whole_requests,
            self.narrowed_requests,
            self.narrowed_prefixes
        )
    }
}

/// The symbols among a delimiter listing's subfolders (full keys ending in `/`) under
/// `folder_key`. An empty segment (`klines//`, seen in the real archive) is no symbol.
pub fn symbols_of(folder_key: &str, dirs: &[String]) -> Vec<String> {
    let mut out: Vec<String> = dirs
        .iter()
        .filter_map(|d| d.strip_prefix(folder_key)?.strip_suffix('/'))
        .filter(|s| !s.is_empty() && !s.contains('/'))
        .map(str::to_owned)
        .collect();
    out.sort_unstable();
    out.dedup();
    out
}

/// Keys one narrowed prefix of `period` is expected to hold: the days (or months) of a
/// bounded range, twice (zip + CHECKSUM); a (symbol, interval) folder's whole history
/// otherwise.
pub fn expected_keys(sel: &Selection, period: Period) -> u64 {
    match (sel.bounded_range(), period) {
        (Some((s, e)), Period::Daily) => {
            let days = s
                .until(e)
                .map_or(1, |span| span.get_days().max(0) as u64 + 1);
            2 * days
        }
        (Some((s, e)), Period::Monthly) => {
            let months = (i64::from(e.year()) * 12 + i64::from(e.month()))
                - (i64::from(s.year()) * 12 + i64::from(s.month()))
                + 1;
            2 * months.max(1) as u64
        }
        (None, Period::Daily) => DAILY_FOLDER_KEYS,
        (None, Period::Monthly) => MONTHLY_FOLDER_KEYS,
    }
}

/// Decide, for each discovered folder, whether narrowing beats one whole listing. The
/// estimate counts LIST requests: whole = one per 1,000 keys of every (symbol, interval)
/// folder's history; narrowed = at least one per prefix. A tie goes to the whole listing
/// (one line instead of many).
pub fn choose(sel: &Selection, discovered: &Discovered) -> Vec<FolderChoice> {
    let prefixes = sel.prefixes_with(discovered);
    let mut out = Vec::new();
    for (market, period, data_type) in sel.folder_list() {
        let folder = format!("data/{market}/{period}/{data_type}/");
        let Some(symbols) = discovered.get(&folder) else {
            continue;
        };
        let narrowed = prefixes
            .iter()
            .filter(|p| p.starts_with(folder.as_str()))
            .count() as u64;
        let history = match period {
            Period::Daily => DAILY_FOLDER_KEYS,
            Period::Monthly => MONTHLY_FOLDER_KEYS,
        };
        let intervals = all_interval_folders(market, data_type);
        let whole = (symbols.len() as u64 * intervals * history).div_ceil(PAGE_KEYS);
        let per_prefix = expected_keys(sel, period).div_ceil(PAGE_KEYS).max(1);
        let narrowed_requests = narrowed * per_prefix;
        out.push(FolderChoice {
            folder,
            symbols: symbols.len() as u64,
            narrowed_prefixes: narrowed,
            whole_requests: whole,
            narrowed_requests,
            choice: if narrowed_requests > 0 && whole <= narrowed_requests {
                Choice::Whole
            } else {
                Choice::Narrowed
            },
        });
    }
    out
}

/// Interval folders a symbol folder holds in the archive, whatever the selection takes.
fn all_interval_folders(market: Market, data_type: &str) -> u64 {
    use crate::select::archive::{INTERVALS, has_interval, interval_valid_for};
    if !has_interval(data_type) {
        return 1;
    }
    INTERVALS
        .iter()
        .filter(|iv| interval_valid_for(market, iv))
        .count() as u64
}

/// `discovered` without the folders chosen to be listed whole, so that
/// [`Selection::prefixes_with`] lists those whole.
pub fn apply(mut discovered: Discovered, choices: &[FolderChoice]) -> Discovered {
    for c in choices {
        if c.choice == Choice::Whole {
            discovered.remove(&c.folder);
        }
    }
    discovered
}

/// List the open folders of the selection with a delimiter (one `s5cmd run`) and return the
/// symbols found per folder. A folder that does not exist has no symbols.
pub async fn discover(
    lister: &Lister,
    source: &S3Url,
    sel: &Selection,
    in_flight: usize,
    dir: &Path,
) -> Result<(Discovered, ListCounts), GroupListError> {
    let folders = sel.open_folders();
    let keys: Vec<String> = folders.iter().map(|f| source.key(f)).collect();
    let listings = lister
        .list_group(source.bucket(), &keys, LsKind::Folders, in_flight, dir)
        .await?;
    let counts = ListCounts::of(&listings);
    let mut out = Discovered::new();
    for (folder, l) in folders.into_iter().zip(listings) {
        if let Some(e) = l.error {
            return Err(e.into());
        }
        let symbols = symbols_of(&l.prefix, &l.dirs);
        out.insert(folder, symbols);
    }
    Ok((out, counts))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::select::SelectionFlags;

    fn sel(f: &[(&str, &str)]) -> Selection {
        let mut flags = SelectionFlags::default();
        for (k, v) in f {
            let list = || v.split(',').map(String::from).collect();
            match *k {
                "market" => flags.market = Some((*v).into()),
                "period" => flags.period = Some((*v).into()),
                "type" => flags.data_types = list(),
                "interval" => flags.intervals = list(),
                "start" => flags.start = Some((*v).into()),
                "end" => flags.end = Some((*v).into()),
                _ => unreachable!(),
            }
        }
        Selection::from_flags(&flags).unwrap().unwrap()
    }

    fn found(folder: &str, n: usize) -> Discovered {
        Discovered::from([(
            folder.to_owned(),
            (0..n).map(|i| format!("S{i:04}USDT")).collect(),
        )])
    }

    #[test]
    fn symbols_come_from_directory_entries() {
        let dirs: Vec<String> = [
            "lake/data/spot/daily/klines/BTCUSDT/",
            "lake/data/spot/daily/klines/1000CATUSDT/",
            "lake/data/spot/daily/klines//",
            "lake/data/spot/daily/klines/BTCUSDT/",
            "elsewhere/ETHUSDT/",
        ]
        .map(String::from)
        .into();
        assert_eq!(
            symbols_of("lake/data/spot/daily/klines/", &dirs),
            ["1000CATUSDT", "BTCUSDT"]
        );
    }

    #[test]
    fn a_dated_day_of_a_big_folder_is_narrowed() {
        let s = sel(&[
            ("market", "spot"),
            ("period", "daily"),
            ("type", "klines"),
            ("interval", "1m"),
            ("start", "2026-11-30"),
            ("end", "2026-11-30"),
        ]);
        let d = found("data/spot/daily/klines/", 3000);
        let c = choose(&s, &d);
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].choice, Choice::Narrowed);
        assert_eq!(c[0].narrowed_prefixes, 3000);
        assert_eq!(c[0].narrowed_requests, 3000);
        assert!(c[0].whole_requests > 10 * 3000, "{}", c[0]);
        assert_eq!(
            apply(d.clone(), &c),
            d,
            "a narrowed folder keeps its symbols"
        );
    }

    #[test]
    fn an_undated_selection_of_every_interval_is_listed_whole() {
        let s = sel(&[
            ("market", "spot"),
            ("period", "monthly"),
            ("type", "klines"),
        ]);
        let d = found("data/spot/monthly/klines/", 20);
        let c = choose(&s, &d);
        assert_eq!(c[0].choice, Choice::Whole, "{}", c[0]);
        assert!(apply(d, &c).is_empty());
        assert_eq!(
            s.prefixes_with(&Discovered::new()),
            ["data/spot/monthly/klines/"]
        );
        // Daily: whole history of every interval; narrowing would list the same keys with
        // more page boundaries.
        let s = sel(&[("market", "spot"), ("period", "daily"), ("type", "trades")]);
        let c = choose(&s, &found("data/spot/daily/trades/", 5));
        assert_eq!(c[0].choice, Choice::Whole, "{}", c[0]);
    }

    #[test]
    fn an_undated_single_interval_is_narrowed() {
        // One interval of thirteen: the whole folder holds thirteen times what is wanted.
        let s = sel(&[
            ("market", "spot"),
            ("period", "daily"),
            ("type", "klines"),
            ("interval", "1h"),
        ]);
        let c = choose(&s, &found("data/spot/daily/klines/", 200));
        assert_eq!(c[0].choice, Choice::Narrowed, "{}", c[0]);
        assert_eq!(c[0].narrowed_prefixes, 200);
    }

    #[test]
    fn an_empty_folder_lists_nothing() {
        let s = sel(&[("market", "spot"), ("period", "daily"), ("type", "klines")]);
        let c = choose(&s, &found("data/spot/daily/klines/", 0));
        assert_eq!(c[0].choice, Choice::Narrowed);
        assert_eq!(c[0].narrowed_requests, 0);
        assert!(
            s.prefixes_with(&apply(found("data/spot/daily/klines/", 0), &c))
                .is_empty()
        );
    }

    #[test]
    fn the_choice_reads_well() {
        let s = sel(&[
            ("market", "spot"),
            ("period", "daily"),
            ("type", "klines"),
            ("interval", "1m"),
            ("start", "2026-11-01"),
            ("end", "2026-11-30"),
        ]);
        let c = choose(&s, &found("data/spot/daily/klines/", 2));
        assert_eq!(
            c[0].to_string(),
            "data/spot/daily/klines/: 2 symbols, narrowed (about 55 LIST requests whole, 2 \
             narrowed over 2 prefixes)"
        );
    }
}
