//! The archive's symbols and their lifetimes, loaded from the model CSVs
//! (`crates/archive-sim/model/`, copied from `../shared/archive-model/`; embedded in the
//! binary, `--model DIR` reads another copy).
//!
//! What the files say is kept as it is: every symbol folder of 2025-04-11 with its earliest
//! date and interval folders, and which of them were still active in May 2025. What they do
//! not say is invented deterministically and documented in the README:
//! - a delisted symbol's last day (delivery contracts: the date in their name; others: a day
//!   between their first day and 2025-04-10 chosen by a hash of the name);
//! - after the May 2025 snapshot: new listings (spot about 39 symbols a month in groups of
//!   quote assets, um about 19, and the quarterly delivery contracts of um and cm; tuned to
//!   the ~3,590 spot, ~833 um and ~267 cm symbols public notes count by May 2026), delistings
//!   of active symbols (about 0.4% a month). A symbol's fate never depends on `--as-of`, so
//!   a later `--as-of` only adds days.
//! - per symbol: an activity weight (BTCUSDT and ETHUSDT 1, others spread over three orders
//!   of magnitude) that scales file sizes, and a price magnitude for the CSV rows.

pub mod catalog;

use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use crate::hash;
use crate::time::{Day, days_from_civil, fmt_day, parse_day, weekday};
use catalog::{FUTURES_INTERVALS, IntervalSet, Market, SPOT_INTERVALS, interval_set};

/// The model files, by name.
pub const FILES: [&str; 7] = [
    "spot_daily_klines_2025-04-11.csv",
    "um_daily_klines_2025-04-11.csv",
    "cm_daily_klines_2025-04-11.csv",
    "spot_active_2025-05-03.csv",
    "um_active_2025-05-03.csv",
    "cm_active_2025-05.csv",
    "reuploads_2022-04-21_aggTrades.csv",
];

const EMBEDDED: [&str; 7] = [
    include_str!("../../model/spot_daily_klines_2025-04-11.csv"),
    include_str!("../../model/um_daily_klines_2025-04-11.csv"),
    include_str!("../../model/cm_daily_klines_2025-04-11.csv"),
    include_str!("../../model/spot_active_2025-05-03.csv"),
    include_str!("../../model/um_active_2025-05-03.csv"),
    include_str!("../../model/cm_active_2025-05.csv"),
    include_str!("../../model/reuploads_2022-04-21_aggTrades.csv"),
];

/// The day the symbol-folder listing was taken; delisted symbols end before it.
pub fn listing_day() -> Day {
    days_from_civil(2025, 4, 11)
}

/// The day of the "active" snapshot; invented listings and delistings start after it.
pub fn snapshot_day() -> Day {
    days_from_civil(2025, 5, 3)
}

/// The day the 360 aggTrades files of `reuploads_2022-04-21_aggTrades.csv` were replaced.
pub fn known_reupload_day() -> Day {
    days_from_civil(2022, 4, 21)
}

#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("cannot read model file {path}: {error}")]
    Read { path: String, error: String },
    #[error("model file {file} line {line}: {problem}")]
    Parse {
        file: String,
        line: usize,
        problem: String,
    },
}

impl ModelError {
    pub fn hint(&self) -> String {
        format!(
            "--model DIR must hold {} (as in crates/archive-sim/model/); leave --model out to use the embedded copy",
            FILES.join(", ")
        )
    }
}

/// Where a symbol comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    /// In the 2025-04-11 folder listing (and maybe the May 2025 active list).
    Listed,
    /// Invented after the May 2025 snapshot.
    Invented,
}

#[derive(Clone, Debug)]
pub struct Symbol {
    pub market: Market,
    pub name: Box<str>,
    pub first: Day,
    /// Last day with files; `None`: still published.
    pub last: Option<Day>,
    /// Daily kline interval folders.
    pub intervals: IntervalSet,
    /// (0, 1]: scales file sizes.
    pub activity: f64,
    /// Prices lie in [1.5, 8.5) x 10^price_exp.
    pub price_exp: i8,
    pub origin: Origin,
}

#[derive(Debug, Default)]
pub struct Model {
    pub symbols: Vec<Symbol>,
    /// Keys replaced on 2022-04-21 (`reuploads_2022-04-21_aggTrades.csv`).
    pub known_reuploads: HashSet<Box<str>>,
}

/// Inputs that shape the invented part of the model.
#[derive(Clone, Copy, Debug)]
pub struct ModelOptions {
    /// Invent listings and delistings after the May 2025 snapshot, up to this day.
    pub grow_until: Option<Day>,
}

impl Model {
    pub fn embedded(opts: ModelOptions) -> Result<Model, ModelError> {
        let texts: Vec<(String, String)> = FILES
            .iter()
            .zip(EMBEDDED)
            .map(|(n, t)| ((*n).to_string(), t.to_string()))
            .collect();
        Model::from_texts(&texts, opts)
    }

    pub fn load_dir(dir: &Path, opts: ModelOptions) -> Result<Model, ModelError> {
        let mut texts = Vec::new();
        for name in FILES {
            let path = dir.join(name);
            let text = std::fs::read_to_string(&path).map_err(|e| ModelError::Read {
                path: path.display().to_string(),
                error: e.to_string(),
            })?;
            texts.push((name.to_string(), text));
        }
        Model::from_texts(&texts, opts)
    }

    /// `texts`: (file name, contents) in the order of [`FILES`].
    pub fn from_texts(texts: &[(String, String)], opts: ModelOptions) -> Result<Model, ModelError> {
        let mut by_key: BTreeMap<(Market, Box<str>), Symbol> = BTreeMap::new();
        for (file, text) in &texts[0..3] {
            for row in parse_symbols_csv(file, text)? {
                let last = delisted_last_day(&row.name, row.first);
                by_key.insert(
                    (row.market, row.name.clone()),
                    symbol(row.market, row.name, row.first, Some(last), row.intervals),
                );
            }
        }
        for (file, text) in &texts[3..6] {
            for row in parse_symbols_csv(file, text)? {
                // Active in May 2025: runs on (delivery contracts still end at their date).
                let last = delivery_day(&row.name);
                let s = by_key
                    .entry((row.market, row.name.clone()))
                    .or_insert_with(|| {
                        symbol(row.market, row.name, row.first, last, row.intervals)
                    });
                s.last = last;
                s.intervals |= row.intervals;
                s.first = s.first.min(row.first);
            }
        }
        let mut symbols: Vec<Symbol> = by_key.into_values().collect();
        if let Some(until) = opts.grow_until {
            grow(&mut symbols, until);
        }
        symbols.push(option_symbol("BTCBVOLUSDT"));
        symbols.push(option_symbol("ETHBVOLUSDT"));
        for s in ["BNBUSDT", "BTCUSDT", "DOGEUSDT", "ETHUSDT", "XRPUSDT"] {
            symbols.push(option_symbol(s));
        }
        let (file, text) = &texts[6];
        let mut known_reuploads = HashSet::new();
        for (i, line) in text.lines().enumerate().skip(1) {
            let Some((path, _)) = line.split_once(',') else {
                return Err(parse_err(file, i, "expected `File Path,Original,New`"));
            };
            if !path.starts_with("data/") || !path.ends_with(".zip") {
                return Err(parse_err(file, i, &format!("unexpected path {path:?}")));
            }
            known_reuploads.insert(path.into());
        }
        Ok(Model {
            symbols,
            known_reuploads,
        })
    }

    pub fn count(&self, market: Market) -> usize {
        self.symbols.iter().filter(|s| s.market == market).count()
    }

    /// `--history-years`: keep only the history from `from` on. A symbol that ended before
    /// `from` is dropped; every other symbol starts on `from` at the earliest. Everything
    /// else (lifetimes, activity, names, invented listings) is what the full model says, so
    /// the days from `from` on are the full archive's, symbol for symbol.
    pub fn keep_history_from(&mut self, from: Day) {
        self.symbols
            .retain(|s| s.last.is_none_or(|last| last >= from));
        for s in &mut self.symbols {
            s.first = s.first.max(from);
        }
    }
}

struct Row {
    market: Market,
    name: Box<str>,
    first: Day,
    intervals: IntervalSet,
}

fn parse_err(file: &str, line0: usize, problem: &str) -> ModelError {
    ModelError::Parse {
        file: file.to_string(),
        line: line0 + 1,
        problem: problem.to_string(),
    }
}

/// `market,symbol,earliest_date,available_intervals` with the interval list quoted.
fn parse_symbols_csv(file: &str, text: &str) -> Result<Vec<Row>, ModelError> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if i == 0 {
            if !line.starts_with("market,symbol,earliest_date") {
                return Err(parse_err(
                    file,
                    i,
                    "expected the header market,symbol,earliest_date,available_intervals",
                ));
            }
            continue;
        }
        if line.trim().is_empty() {
            continue;
        }
        let mut parts = line.splitn(4, ',');
        let (Some(m), Some(sym), Some(date), Some(ivs)) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(parse_err(file, i, "expected 4 columns"));
        };
        let market = Market::from_csv(m)
            .ok_or_else(|| parse_err(file, i, &format!("unknown market {m:?}")))?;
        if sym.is_empty()
            || !sym
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
        {
            return Err(parse_err(file, i, &format!("unexpected symbol {sym:?}")));
        }
        let first =
            parse_day(date).ok_or_else(|| parse_err(file, i, &format!("bad date {date:?}")))?;
        let intervals = interval_set(ivs.trim_matches('"')).map_err(|e| parse_err(file, i, &e))?;
        out.push(Row {
            market,
            name: sym.into(),
            first,
            intervals,
        });
    }
    Ok(out)
}

fn symbol(
    market: Market,
    name: Box<str>,
    first: Day,
    last: Option<Day>,
    intervals: IntervalSet,
) -> Symbol {
    let h = hash::bytes(market as u64, name.as_bytes());
    let major = matches!(
        &*name,
        "BTCUSDT" | "ETHUSDT" | "BTCUSD_PERP" | "ETHUSD_PERP"
    );
    let activity = if major {
        1.0
    } else {
        (-7.0 * hash::unit(h)).exp()
    };
    let price_exp = if name.starts_with("BTC") {
        4
    } else if name.starts_with("ETH") {
        3
    } else {
        hash::below(hash::mix(h), 10) as i8 - 6
    };
    Symbol {
        market,
        name,
        first,
        last,
        intervals,
        activity,
        price_exp,
        origin: Origin::Listed,
    }
}

fn option_symbol(name: &str) -> Symbol {
    let mut s = symbol(
        Market::Option,
        name.into(),
        days_from_civil(2023, 6, 1),
        None,
        0,
    );
    s.activity = 0.5;
    s
}

/// `_YYMMDD` at the end of a delivery contract's name.
pub fn delivery_day(name: &str) -> Option<Day> {
    let (_, tail) = name.rsplit_once('_')?;
    if tail.len() != 6 || !tail.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    parse_day(&format!(
        "20{}-{}-{}",
        &tail[0..2],
        &tail[2..4],
        &tail[4..6]
    ))
}

/// The last day of a symbol that had stopped by the May 2025 snapshot.
fn delisted_last_day(name: &str, first: Day) -> Day {
    if let Some(d) = delivery_day(name) {
        return d.min(listing_day() - 1);
    }
    let lo = first + 30;
    let hi = listing_day() - 1;
    if lo >= hi {
        return hi.max(first);
    }
    lo + hash::below(hash::bytes(7, name.as_bytes()), (hi - lo) as u64) as Day
}

/// Days an active symbol keeps trading after `from` (geometric: about 0.4% stop a month).
fn lifetime_days(name: &str, market: Market) -> i64 {
    let u = hash::unit(hash::bytes(11 + market as u64, name.as_bytes()));
    (-(1.0 - u).ln() * 7_500.0) as i64
}

/// Invented listings and delistings between the May 2025 snapshot and `until`.
fn grow(symbols: &mut Vec<Symbol>, until: Day) {
    let start = snapshot_day() + 1;
    for s in symbols.iter_mut() {
        if s.last.is_none() {
            let end = start + lifetime_days(&s.name, s.market) as Day;
            if end <= until {
                s.last = Some(end);
            }
        }
    }
    let mut taken: HashSet<(Market, Box<str>)> =
        symbols.iter().map(|s| (s.market, s.name.clone())).collect();
    let mut add =
        |symbols: &mut Vec<Symbol>, market: Market, name: String, first: Day, last: Option<Day>| {
            if first > until || !taken.insert((market, name.clone().into())) {
                return;
            }
            let ivs = if market == Market::Spot {
                SPOT_INTERVALS
            } else {
                FUTURES_INTERVALS
            };
            let mut s = symbol(market, name.into(), first, last, ivs);
            s.origin = Origin::Invented;
            if last.is_none() {
                let end = first + lifetime_days(&s.name, market) as Day;
                if end <= until {
                    s.last = Some(end);
                }
            }
            symbols.push(s);
        };
    // Spot: a new base asset every ~3.1 days, listed against about 4 quote assets at once.
    let spot_quotes = ["USDT", "USDC", "FDUSD", "TRY", "BNB", "EUR"];
    let mut day = start;
    let mut n = 0u64;
    while day <= until {
        let base = invented_base(n);
        for (k, q) in spot_quotes.iter().enumerate() {
            if k < 3 || hash::below(hash::pair(n, k as u64), 3) == 0 {
                add(symbols, Market::Spot, format!("{base}{q}"), day, None);
            }
        }
        n += 1;
        day = start + (n * 31 / 10) as Day;
    }
    // um perpetuals: 19 a month (cm grows by its delivery contracts only).
    for (market, per_month, quote) in [(Market::Um, 19u64, "USDT")] {
        let mut i = 0u64;
        loop {
            let day = start + (i * 30 / per_month) as Day;
            if day > until {
                break;
            }
            add(
                symbols,
                market,
                format!(
                    "{}{quote}",
                    invented_base(1_000_000 + i * 7 + market as u64)
                ),
                day,
                None,
            );
            i += 1;
        }
    }
    // Quarterly delivery contracts (last Friday of Mar/Jun/Sep/Dec), listed ~182 days before
    // expiry, for the bases that had one in the snapshot.
    let bases = |market: Market, suffix: &str| -> Vec<String> {
        symbols_with_suffix(symbols, market, suffix)
    };
    let um_bases = bases(Market::Um, "_250926");
    let cm_bases = bases(Market::Cm, "_250926");
    for q in 0..12 {
        let (y, m) = (2025 + (q + 3) / 4, 3 * ((q + 3) % 4) as u32 + 3);
        let expiry = last_friday(y, m);
        let listed = expiry - 182;
        if listed <= snapshot_day() {
            continue;
        }
        let tag = fmt_day(expiry).replace('-', "");
        let tag = &tag[2..];
        for b in &um_bases {
            add(
                symbols,
                Market::Um,
                format!("{b}_{tag}"),
                listed,
                Some(expiry),
            );
        }
        for b in &cm_bases {
            add(
                symbols,
                Market::Cm,
                format!("{b}_{tag}"),
                listed,
                Some(expiry),
            );
        }
    }
}

fn symbols_with_suffix(symbols: &[Symbol], market: Market, suffix: &str) -> Vec<String> {
    symbols
        .iter()
        .filter(|s| s.market == market)
        .filter_map(|s| s.name.strip_suffix(suffix).map(str::to_string))
        .collect()
}

fn last_friday(y: i32, m: u32) -> Day {
    let (ny, nm) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
    let mut d = days_from_civil(ny, nm, 1) - 1;
    while weekday(d) != 4 {
        d -= 1;
    }
    d
}

/// An invented base asset name: 3 to 6 capitals, now and then with a `1000` in front.
fn invented_base(n: u64) -> String {
    let h = hash::pair(0xba5e, n);
    let len = 3 + hash::below(h, 4) as usize;
    let mut s = String::new();
    if hash::below(hash::mix(h), 12) == 0 {
        s.push_str("1000");
    }
    let mut x = hash::mix(h ^ 0x77);
    for _ in 0..len {
        s.push((b'A' + hash::below(x, 26) as u8) as char);
        x = hash::mix(x);
    }
    // A trailing 'Z' keeps invented names apart from every real one we were given.
    s.push('Z');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model(grow_until: Option<Day>) -> Model {
        Model::embedded(ModelOptions { grow_until }).expect("embedded model parses")
    }

    #[test]
    fn embedded_counts_match_the_model_readme() {
        let m = model(None);
        // "spot 3,054 symbol folders (1,559 active), um 571 (483 active), cm 247 (65 active)";
        // the May active lists add the symbols listed after 2025-04-11.
        let listed = |mk| {
            m.symbols
                .iter()
                .filter(|s| s.market == mk && s.origin == Origin::Listed)
                .count()
        };
        assert_eq!(listed(Market::Spot), 3054 + 45);
        assert_eq!(listed(Market::Um), 571 + 21);
        assert_eq!(listed(Market::Cm), 247);
        let active = |mk| {
            m.symbols
                .iter()
                .filter(|s| s.market == mk && s.last.is_none())
                .count()
        };
        assert_eq!(active(Market::Spot), 1559);
        assert_eq!(m.known_reuploads.len(), 360);
        let btc = m
            .symbols
            .iter()
            .find(|s| s.market == Market::Spot && &*s.name == "BTCUSDT")
            .unwrap();
        assert_eq!(fmt_day(btc.first), "2017-08-17");
        assert_eq!(btc.last, None);
        assert_eq!(btc.intervals, SPOT_INTERVALS);
    }

    #[test]
    fn delisted_and_delivery_days() {
        assert_eq!(
            delivery_day("BTCUSDT_250926"),
            Some(days_from_civil(2025, 9, 26))
        );
        assert_eq!(delivery_day("BTCUSD_PERP"), None);
        assert_eq!(delivery_day("ICPUSDT_SETTLED"), None);
        let m = model(None);
        for s in &m.symbols {
            if let Some(last) = s.last {
                assert!(last >= s.first, "{} ends before it starts", s.name);
            }
        }
    }

    #[test]
    fn history_from_drops_ended_symbols_and_clamps_first_days() {
        let until = days_from_civil(2026, 12, 1);
        let full = model(Some(until));
        let from = days_from_civil(2025, 12, 1);
        let mut cut = model(Some(until));
        cut.keep_history_from(from);
        assert!(cut.symbols.len() < full.symbols.len());
        for s in &full.symbols {
            let kept = cut
                .symbols
                .iter()
                .find(|t| t.market == s.market && t.name == s.name);
            if s.last.is_some_and(|l| l < from) {
                assert!(kept.is_none(), "{} ended before {from}", s.name);
                continue;
            }
            let t = kept.unwrap_or_else(|| panic!("{} lost", s.name));
            assert_eq!(t.first, s.first.max(from), "{}", s.name);
            assert_eq!(t.last, s.last, "{}", s.name);
            assert_eq!(t.intervals, s.intervals, "{}", s.name);
        }
        let btc = |m: &Model| {
            m.symbols
                .iter()
                .find(|s| s.market == Market::Spot && &*s.name == "BTCUSDT")
                .map(|s| s.first)
        };
        assert_eq!(btc(&cut), Some(from));
        assert_eq!(fmt_day(btc(&full).unwrap()), "2017-08-17");
    }

    #[test]
    fn growth_is_deterministic_and_never_depends_on_the_end() {
        let a = model(Some(days_from_civil(2026, 6, 1)));
        let b = model(Some(days_from_civil(2026, 12, 1)));
        let spot = |m: &Model| m.count(Market::Spot);
        assert!(spot(&a) < spot(&b));
        // ~3,590 spot symbols by May 2026 in the public notes.
        assert!((3_400..3_900).contains(&spot(&a)), "{}", spot(&a));
        for s in &a.symbols {
            let t = b
                .symbols
                .iter()
                .find(|t| t.market == s.market && t.name == s.name)
                .unwrap();
            assert_eq!(t.first, s.first);
            if let Some(l) = s.last {
                assert_eq!(t.last, Some(l), "{}", s.name);
            }
        }
        assert_eq!(last_friday(2025, 12), days_from_civil(2025, 12, 26));
        assert!(b.symbols.iter().any(|s| &*s.name == "BTCUSDT_251226"));
    }
}
