//! The user's selection of the archive: which markets, periods, data types, symbols,
//! intervals and dates to mirror.
//!
//! Owns validating the selection flags into a [`Selection`], turning it into the key prefixes
//! to list (as narrow as the selection allows) and deciding whether a listed key is in it.
//! Knowledge of the archive itself (what exists where) comes from [`crate::select::archive`].

pub mod archive;

use std::collections::BTreeSet;

use jiff::civil::Date;

use crate::error::Error;
use archive::{FileDate, INTERVALS, Market, Period};

/// The command-line flags the selection comes from, named in error messages.
pub mod flag {
    pub const MARKET: &str = "--market";
    pub const PERIOD: &str = "--period";
    pub const DATA_TYPES: &str = "--data-type";
    pub const SYMBOLS: &str = "--symbols";
    pub const INTERVALS: &str = "--interval";
    pub const START: &str = "--start";
    pub const END: &str = "--end";
}

/// Raw selection flags as given on the command line: sync's and tables' `SelectionArgs`
/// (comma lists already split by clap; still trim items and drop empties).
pub type SelectionFlags = crate::cli::SelectionArgs;

/// Symbol folders found by discovery: data-type folder ("data/spot/daily/klines/") ->
/// the symbols found in it, sorted.
pub type Discovered = std::collections::BTreeMap<String, Vec<String>>;

/// A validated selection. `None` in a component means "every value" of it.
#[derive(Clone, Debug)]
pub struct Selection {
    market: Option<Market>,
    period: Option<Period>,
    /// Canonical archive spellings, sorted and deduplicated.
    data_types: Option<Vec<&'static str>>,
    /// Sorted and deduplicated.
    symbols: Option<Vec<String>>,
    /// Canonical archive spellings, in `INTERVALS` order.
    intervals: Option<Vec<&'static str>>,
    start: Option<Date>,
    end: Option<Date>,
}

impl Selection {
    /// None when no selection flag is given at all (then everything under the source URL is
    /// in scope).
    pub fn from_flags(flags: &SelectionFlags) -> Result<Option<Selection>, Error> {
        let nothing_given = flags.market.is_none()
            && flags.period.is_none()
            && flags.data_types.is_empty()
            && flags.symbols.is_empty()
            && flags.intervals.is_empty()
            && flags.start.is_none()
            && flags.end.is_none();
        if nothing_given {
            return Ok(None);
        }

        let market = flags
            .market
            .as_deref()
            .map(|s| parse_single::<Market>(s, flag::MARKET))
            .transpose()?;
        let period = flags
            .period
            .as_deref()
            .map(|s| parse_single::<Period>(s, flag::PERIOD))
            .transpose()?;
        let mut selection = Selection {
            market,
            period,
            data_types: None,
            symbols: None,
            intervals: None,
            start: None,
            end: None,
        };
        if selection
            .market_periods()
            .all(|(m, p)| archive::data_types(m, p).is_empty())
        {
            return Err(Error::usage(
                format!(
                    "the selection is empty: the archive has no {} data",
                    selection.market_period_phrase()
                ),
                selection.empty_market_period_hint(),
            ));
        }

        selection.data_types = list_items(&flags.data_types, flag::DATA_TYPES)?
            .map(|items| selection.parse_data_types(&items))
            .transpose()?;
        selection.intervals = list_items(&flags.intervals, flag::INTERVALS)?
            .map(|items| selection.parse_intervals(&items))
            .transpose()?;
        selection.symbols = list_items(&flags.symbols, flag::SYMBOLS)?
            .map(|items| parse_symbols(&items))
            .transpose()?;
        selection.start = flags
            .start
            .as_deref()
            .map(|s| parse_date(s, flag::START))
            .transpose()?;
        selection.end = flags
            .end
            .as_deref()
            .map(|s| parse_date(s, flag::END))
            .transpose()?;
        if let (Some(start), Some(end)) = (selection.start, selection.end)
            && end < start
        {
            return Err(Error::usage(
                format!(
                    "{} {} is before {} {}",
                    flag::END,
                    fmt_day(end),
                    flag::START,
                    fmt_day(start)
                ),
                format!(
                    "the range is inclusive and {} must be on or after {}; swap the two dates",
                    flag::END,
                    flag::START
                ),
            ));
        }

        // Defensive: the checks above reject every empty product we know of, but an empty
        // selection would silently mirror nothing, so it must never get through.
        if selection.folders().next().is_none() {
            return Err(Error::usage(
                format!("the selection is empty: {}", selection.describe()),
                format!(
                    "the archive publishes none of the selected combinations; widen {}, {}, {} \
                     or {}",
                    flag::MARKET,
                    flag::PERIOD,
                    flag::DATA_TYPES,
                    flag::INTERVALS
                ),
            ));
        }
        Ok(Some(selection))
    }

    /// Key prefixes relative to the archive root to list, e.g.
    /// "data/spot/daily/klines/BTCUSDT/1m/". Sorted (byte order), deduplicated, and no prefix
    /// is a prefix of another (so the concatenation of their sorted listings is sorted
    /// globally).
    pub fn prefixes(&self) -> Vec<String> {
        self.prefixes_with(&Discovered::new())
    }

    /// The data-type folders whose symbols the selection leaves open (no `--symbols`), e.g.
    /// "data/spot/daily/klines/": discovery lists them with a delimiter to find their symbol
    /// folders. Sorted; empty when symbols are given.
    pub fn open_folders(&self) -> Vec<String> {
        if self.symbols.is_some() {
            return Vec::new();
        }
        let set: BTreeSet<String> = self
            .folders()
            .map(|(m, p, t)| format!("data/{m}/{p}/{t}/"))
            .collect();
        set.into_iter().collect()
    }

    /// [`Selection::prefixes`] with the symbols of open folders taken from `discovered`
    /// (folder -> symbols found there): each discovered symbol is narrowed exactly as a
    /// symbol given with `--symbols` would be. An open folder missing from `discovered` is
    /// listed whole.
    pub fn prefixes_with(&self, discovered: &Discovered) -> Vec<String> {
        let bounded = match (self.start, self.end) {
            (Some(start), Some(end)) => Some((start, end)),
            _ => None,
        };
        let mut out = BTreeSet::new();
        for (market, period, data_type) in self.folders() {
            let base = format!("data/{market}/{period}/{data_type}/");
            // Without given or discovered symbols the data-type folder is listed and
            // `matches` filters below it.
            let Some(symbols) = self.symbols.as_ref().or_else(|| discovered.get(&base)) else {
                out.insert(base);
                continue;
            };
            for symbol in symbols {
                if !self.may_hold(symbol, period) {
                    continue;
                }
                let symbol_dir = format!("{base}{symbol}/");
                if !archive::has_interval(data_type) {
                    let stem = format!("{symbol}-{data_type}-");
                    out.insert(narrow(symbol_dir, &stem, period, bounded));
                    continue;
                }
                let intervals: Vec<&str> = match (&self.intervals, bounded) {
                    (Some(given), _) => given.clone(),
                    // With a bounded range, one narrowed listing per interval beats listing
                    // every interval's whole history under the symbol folder.
                    (None, Some(_)) => INTERVALS.to_vec(),
                    (None, None) => {
                        out.insert(symbol_dir);
                        continue;
                    }
                };
                for interval in intervals {
                    if archive::interval_valid_for(market, interval) {
                        let dir = format!("{symbol_dir}{interval}/");
                        let stem = format!("{symbol}-{interval}-");
                        out.insert(narrow(dir, &stem, period, bounded));
                    }
                }
            }
        }
        without_covered(out)
    }

    /// Whether the symbol's folders can hold a file of the range: a delivery contract's
    /// files end on its delivery date, so one delivered before `--start` (by month, for
    /// monthly files) holds nothing in the range and is not listed.
    pub fn may_hold(&self, symbol: &str, period: Period) -> bool {
        let (Some(start), Some(delivered)) = (self.start, archive::delivery_date(symbol)) else {
            return true;
        };
        match period {
            Period::Daily => delivered >= start,
            Period::Monthly => {
                (delivered.year(), delivered.month()) >= (start.year(), start.month())
            }
        }
    }

    /// Whether both ends of the date range are given (only then are prefixes narrowed by
    /// date, and a listing's size does not grow with the archive's history).
    pub fn bounded_range(&self) -> Option<(Date, Date)> {
        self.start.zip(self.end)
    }

    /// How many interval folders a symbol folder of `data_type` holds in the selection for
    /// `market` (1 for types without intervals).
    pub fn interval_folders(&self, market: Market, data_type: &str) -> usize {
        if !archive::has_interval(data_type) {
            return 1;
        }
        INTERVALS
            .iter()
            .filter(|iv| self.interval_selected(market, iv))
            .count()
    }

    /// The (market, period, data type) folders in the selection, e.g. for the listing cost
    /// choice.
    pub fn folder_list(&self) -> Vec<(Market, Period, &'static str)> {
        self.folders().collect()
    }

    /// Whether a key (relative to the archive root, e.g.
    /// "data/spot/daily/klines/BTCUSDT/1m/BTCUSDT-1m-2024-01-01.zip") is in the selection.
    /// Only `.zip` and `.zip.CHECKSUM` files are; a `.zip.CHECKSUM` matches exactly when its
    /// `.zip` would.
    pub fn matches(&self, rel_key: &str) -> bool {
        let zip_key = rel_key.strip_suffix(".CHECKSUM").unwrap_or(rel_key);
        if !zip_key.ends_with(".zip") {
            return false;
        }
        let Some(rest) = zip_key.strip_prefix("data/") else {
            return false;
        };
        for (market, period) in self.market_periods() {
            let Some(below) = rest
                .strip_prefix(market.as_str())
                .and_then(|r| r.strip_prefix('/'))
                .and_then(|r| r.strip_prefix(period.as_str()))
                .and_then(|r| r.strip_prefix('/'))
            else {
                continue;
            };
            return self.matches_below(market, period, below);
        }
        false
    }

    /// One-line human description, e.g. "spot daily klines BTCUSDT 1m 2024-01-01..2024-01-31".
    /// The inclusive date range, when given.
    pub fn date_range(&self) -> (Option<Date>, Option<Date>) {
        (self.start, self.end)
    }

    pub fn describe(&self) -> String {
        let mut parts = vec![
            self.market
                .map_or_else(|| "all markets".to_owned(), |m| m.to_string()),
            self.period
                .map_or_else(|| "all periods".to_owned(), |p| p.to_string()),
            self.data_types
                .as_ref()
                .map_or_else(|| "all data types".to_owned(), |d| d.join(",")),
            self.symbols
                .as_ref()
                .map_or_else(|| "all symbols".to_owned(), |s| s.join(",")),
        ];
        match &self.intervals {
            Some(intervals) => parts.push(intervals.join(",")),
            None if self.folders().any(|(_, _, t)| archive::has_interval(t)) => {
                parts.push("all intervals".to_owned());
            }
            None => {}
        }
        parts.push(match (self.start, self.end) {
            (None, None) => "all dates".to_owned(),
            (start, end) => format!(
                "{}..{}",
                start.map(fmt_day).unwrap_or_default(),
                end.map(fmt_day).unwrap_or_default()
            ),
        });
        parts.join(" ")
    }

    fn markets(&self) -> &[Market] {
        self.market
            .as_ref()
            .map_or(&Market::ALL[..], std::slice::from_ref)
    }

    fn periods(&self) -> &[Period] {
        self.period
            .as_ref()
            .map_or(&Period::ALL[..], std::slice::from_ref)
    }

    /// Allocation-free, since `matches` walks it once per listed key.
    fn market_periods(&self) -> impl Iterator<Item = (Market, Period)> + '_ {
        let periods = self.periods();
        self.markets()
            .iter()
            .flat_map(move |&m| periods.iter().map(move |&p| (m, p)))
    }

    /// "spot daily", "option monthly", "futures/um" (all periods), ...: for messages.
    fn market_period_phrase(&self) -> String {
        match (self.market, self.period) {
            (Some(m), Some(p)) => format!("{m} {p}"),
            (Some(m), None) => m.to_string(),
            (None, Some(p)) => p.to_string(),
            (None, None) => "any market or period".to_owned(),
        }
    }

    fn empty_market_period_hint(&self) -> String {
        let published: Vec<&str> = self
            .market
            .map(|m| {
                Period::ALL
                    .into_iter()
                    .filter(|&p| !archive::data_types(m, p).is_empty())
                    .map(Period::as_str)
                    .collect()
            })
            .unwrap_or_default();
        match (self.market, published.as_slice()) {
            (Some(m), [only]) => format!(
                "{m} data is {only} only: use {} {only}, or choose another {}",
                flag::PERIOD,
                flag::MARKET
            ),
            _ => format!("choose another {} or {}", flag::MARKET, flag::PERIOD),
        }
    }

    /// Whether the data type is selected in this market and period.
    fn type_selected(&self, market: Market, period: Period, data_type: &str) -> bool {
        archive::data_types(market, period).contains(&data_type)
            && self
                .data_types
                .as_ref()
                .is_none_or(|given| given.contains(&data_type))
    }

    /// Whether the interval folder is selected in this market.
    fn interval_selected(&self, market: Market, interval: &str) -> bool {
        archive::interval_valid_for(market, interval)
            && self
                .intervals
                .as_ref()
                .is_none_or(|given| given.contains(&interval))
    }

    /// The (market, period, data type) folders in the selection: every combination the
    /// archive publishes, minus kline families none of whose selected intervals exist in the
    /// market (`--interval 1s` leaves futures klines out entirely).
    fn folders(&self) -> impl Iterator<Item = (Market, Period, &'static str)> + '_ {
        self.market_periods().flat_map(move |(m, p)| {
            archive::data_types(m, p)
                .iter()
                .copied()
                .filter(move |t| self.type_selected(m, p, t))
                .filter(move |t| {
                    !archive::has_interval(t)
                        || INTERVALS.iter().any(|iv| self.interval_selected(m, iv))
                })
                .map(move |t| (m, p, t))
        })
    }

    /// `matches` for the part of the key below `data/{market}/{period}/`.
    fn matches_below(&self, market: Market, period: Period, below: &str) -> bool {
        let mut segments = below.split('/');
        let (Some(data_type), Some(symbol)) = (segments.next(), segments.next()) else {
            return false;
        };
        if archive::has_interval(data_type) {
            let Some(interval) = segments.next() else {
                return false;
            };
            if !self.interval_selected(market, interval) {
                return false;
            }
        }
        let (Some(file), None) = (segments.next(), segments.next()) else {
            return false;
        };
        if symbol.is_empty()
            || !self.type_selected(market, period, data_type)
            || !self.may_hold(symbol, period)
        {
            return false;
        }
        if let Some(symbols) = &self.symbols
            && symbols
                .binary_search_by(|s| s.as_str().cmp(symbol))
                .is_err()
        {
            return false;
        }
        self.date_in_range(file)
    }

    fn date_in_range(&self, file: &str) -> bool {
        if self.start.is_none() && self.end.is_none() {
            return true;
        }
        match archive::file_date(file) {
            None => false,
            Some(FileDate::Day(day)) => {
                self.start.is_none_or(|s| s <= day) && self.end.is_none_or(|e| day <= e)
            }
            // A month overlaps the range when it is neither wholly before the start's month
            // nor wholly after the end's month.
            Some(FileDate::Month { year, month }) => {
                let ym = (year, month);
                self.start.is_none_or(|s| (s.year(), s.month()) <= ym)
                    && self.end.is_none_or(|e| ym <= (e.year(), e.month()))
            }
        }
    }

    fn parse_data_types(&self, items: &[&str]) -> Result<Vec<&'static str>, Error> {
        let all = archive::all_data_types();
        let mut out = BTreeSet::new();
        for &item in items {
            let Some(&canonical) = all.iter().find(|t| **t == item) else {
                let offered = self.offered_data_types();
                let hint = match all.iter().find(|t| t.eq_ignore_ascii_case(item)) {
                    Some(right) => format!(
                        "did you mean {right}? data type names are case-sensitive, as in the \
                         archive; valid here: {offered}"
                    ),
                    None => format!("valid data types here: {offered}"),
                };
                return Err(Error::usage(
                    format!("unknown data type {item:?} in {}", flag::DATA_TYPES),
                    hint,
                ));
            };
            let available = self
                .market_periods()
                .any(|(m, p)| archive::data_types(m, p).contains(&canonical));
            if !available {
                return Err(Error::usage(
                    format!(
                        "data type {canonical} in {} is not published for {}: {canonical} is {}",
                        flag::DATA_TYPES,
                        self.market_period_phrase(),
                        availability(canonical)
                    ),
                    self.where_to_find(canonical),
                ));
            }
            out.insert(canonical);
        }
        Ok(out.into_iter().collect())
    }

    /// The smallest change of market or period that brings the data type into the
    /// selection, for hints.
    fn where_to_find(&self, data_type: &str) -> String {
        let has = |m: Market, p: Period| archive::data_types(m, p).contains(&data_type);
        let (market, period) = (flag::MARKET, flag::PERIOD);
        let periods = names_where(Period::ALL, Period::as_str, |p| {
            self.markets().iter().any(|&m| has(m, p))
        });
        if !periods.is_empty() {
            let periods = periods.join(" or ");
            return format!("use {period} {periods} (or leave {period} out), or drop {data_type}");
        }
        let markets = names_where(Market::ALL, Market::as_str, |m| {
            self.periods().iter().any(|&p| has(m, p))
        });
        if !markets.is_empty() {
            return format!("use {market} {}, or drop {data_type}", markets.join(" or "));
        }
        format!("change both {market} and {period} to where {data_type} is published, or drop it")
    }

    /// Data types that exist in at least one selected market and period, for hints.
    fn offered_data_types(&self) -> String {
        let offered: BTreeSet<&str> = self
            .market_periods()
            .flat_map(|(m, p)| archive::data_types(m, p).iter().copied())
            .collect();
        offered.into_iter().collect::<Vec<_>>().join(", ")
    }

    /// Validates intervals against the data types already parsed into `self`.
    fn parse_intervals(&self, items: &[&str]) -> Result<Vec<&'static str>, Error> {
        let mut given = BTreeSet::new();
        for &item in items {
            let Some(&canonical) = INTERVALS.iter().find(|iv| **iv == item) else {
                let valid = INTERVALS.join(", ");
                let hint = match suggest_interval(item) {
                    Some(right) => format!("did you mean {right}? valid intervals: {valid}"),
                    None => format!("valid intervals: {valid}"),
                };
                return Err(Error::usage(
                    format!("unknown interval {item:?} in {}", flag::INTERVALS),
                    hint,
                ));
            };
            given.insert(canonical);
        }
        let kline_markets: BTreeSet<Market> = self
            .market_periods()
            .filter(|&(m, p)| {
                archive::data_types(m, p)
                    .iter()
                    .any(|t| archive::has_interval(t) && self.type_selected(m, p, t))
            })
            .map(|(m, _)| m)
            .collect();
        let given_list = given.iter().copied().collect::<Vec<_>>().join(",");
        if kline_markets.is_empty() {
            return Err(Error::usage(
                format!(
                    "{} {given_list} given, but none of the selected data types ({}) has \
                     intervals",
                    flag::INTERVALS,
                    self.data_types
                        .as_ref()
                        .map_or_else(|| self.offered_data_types(), |d| d.join(", "))
                ),
                format!(
                    "drop {}, or select a kline type: klines, markPriceKlines, \
                     indexPriceKlines, premiumIndexKlines",
                    flag::INTERVALS
                ),
            ));
        }
        for &interval in &given {
            if !kline_markets
                .iter()
                .any(|&m| archive::interval_valid_for(m, interval))
            {
                let markets = kline_markets
                    .iter()
                    .map(|m| m.as_str())
                    .collect::<Vec<_>>()
                    .join(", ");
                let only: Vec<&str> = Market::ALL
                    .into_iter()
                    .filter(|&m| archive::interval_valid_for(m, interval))
                    .map(Market::as_str)
                    .collect();
                return Err(Error::usage(
                    format!(
                        "interval {interval} in {} does not exist for the selected kline data \
                         ({markets}): {interval} is {} only",
                        flag::INTERVALS,
                        only.join(", ")
                    ),
                    format!(
                        "use a coarser interval such as 1m, or select {} {} with klines",
                        flag::MARKET,
                        only.join(" or ")
                    ),
                ));
            }
        }
        // Keep INTERVALS order (finest first) rather than byte order, which reads oddly.
        Ok(INTERVALS
            .iter()
            .copied()
            .filter(|iv| given.contains(iv))
            .collect())
    }
}

/// `dir` narrowed to the common beginning of the file names of the first and last date of a
/// bounded range, so that listing a month of one symbol never lists its whole history.
/// Dates in names are fixed width, so every name between the two shares that beginning.
fn narrow(dir: String, stem: &str, period: Period, bounded: Option<(Date, Date)>) -> String {
    let Some((start, end)) = bounded else {
        return dir;
    };
    let (first, last) = match period {
        Period::Daily => (fmt_day(start), fmt_day(end)),
        Period::Monthly => (fmt_month(start), fmt_month(end)),
    };
    let common = first
        .bytes()
        .zip(last.bytes())
        .take_while(|(a, b)| a == b)
        .count();
    // The date strings are ASCII, so any byte count is a char boundary.
    format!("{dir}{stem}{}", first.get(..common).unwrap_or_default())
}

/// Sorted prefixes with every prefix that another one covers removed. In byte order a
/// covered prefix sorts right after its coverer or after something the coverer also covers,
/// so comparing with the last kept prefix suffices.
fn without_covered(sorted: BTreeSet<String>) -> Vec<String> {
    let mut kept: Vec<String> = Vec::with_capacity(sorted.len());
    for prefix in sorted {
        if kept
            .last()
            .is_none_or(|last| !prefix.starts_with(last.as_str()))
        {
            kept.push(prefix);
        }
    }
    kept
}

fn parse_single<T: std::str::FromStr<Err = Error>>(value: &str, flag: &str) -> Result<T, Error> {
    value
        .trim()
        .parse()
        .map_err(|e: Error| Error::usage(format!("{} in {flag}", e.message()), e.hint()))
}

/// Trimmed, non-empty items of a list flag; None when the flag was not given. A flag given
/// with only empty items is an error: it usually comes from an unset shell variable, and
/// reading it as "everything" could mirror the whole archive.
fn list_items<'a>(raw: &'a [String], flag: &str) -> Result<Option<Vec<&'a str>>, Error> {
    if raw.is_empty() {
        return Ok(None);
    }
    let items: Vec<&str> = raw
        .iter()
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
        .collect();
    if items.is_empty() {
        return Err(Error::usage(
            format!("{flag} was given an empty value {:?}", raw.join(",")),
            format!("name at least one value, or leave {flag} out to select all"),
        ));
    }
    Ok(Some(items))
}

fn parse_symbols(items: &[&str]) -> Result<Vec<String>, Error> {
    let mut out = BTreeSet::new();
    for &item in items {
        let valid = item
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_');
        if !valid {
            let fixed: String = item
                .chars()
                .filter(|c| !matches!(c, '/' | '-' | ' '))
                .map(|c| c.to_ascii_uppercase())
                .collect();
            let fixable = !fixed.is_empty()
                && fixed
                    .bytes()
                    .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_');
            let rule = "symbols are written as in the archive: upper-case A-Z, digits and _ \
                        only (BTCUSDT, BTCUSDT_240329, BTCUSD_PERP)";
            let hint = if fixable {
                format!("did you mean {fixed}? {rule}")
            } else {
                rule.to_owned()
            };
            return Err(Error::usage(
                format!("invalid symbol {item:?} in {}", flag::SYMBOLS),
                hint,
            ));
        }
        out.insert(item.to_owned());
    }
    Ok(out.into_iter().collect())
}

/// Only `YYYY-MM-DD`: other formats jiff would accept (or a relative word) are too easy to
/// misread in a scheduled job.
fn parse_date(raw: &str, flag: &str) -> Result<Date, Error> {
    let value = raw.trim();
    let hint = "write dates as YYYY-MM-DD, e.g. 2024-01-31; the range is inclusive";
    let bytes = value.as_bytes();
    let shape_ok = bytes.len() == 10
        && bytes.iter().enumerate().all(|(i, b)| match i {
            4 | 7 => *b == b'-',
            _ => b.is_ascii_digit(),
        });
    let parts = shape_ok
        .then(|| {
            Some((
                value.get(0..4)?.parse::<i16>().ok()?,
                value.get(5..7)?.parse::<i8>().ok()?,
                value.get(8..10)?.parse::<i8>().ok()?,
            ))
        })
        .flatten();
    let Some((year, month, day)) = parts else {
        return Err(Error::usage(
            format!("{flag} {value:?} is not a date in YYYY-MM-DD form"),
            hint,
        ));
    };
    Date::new(year, month, day).map_err(|_| {
        let why = match Date::new(year, month, 1) {
            Ok(first) => format!("{year:04}-{month:02} has {} days", first.days_in_month()),
            Err(_) => "months run from 01 to 12".to_owned(),
        };
        Error::usage(format!("{flag} {value} is not a real date: {why}"), hint)
    })
}

fn suggest_interval(item: &str) -> Option<&'static str> {
    if item == "1M" || item.eq_ignore_ascii_case("1month") {
        return Some("1mo");
    }
    INTERVALS
        .iter()
        .copied()
        .find(|iv| iv.eq_ignore_ascii_case(item))
}

/// Where the archive publishes a data type, for messages: "monthly only, in futures/um and
/// futures/cm", or "in spot (daily, monthly), ...".
fn availability(data_type: &str) -> String {
    let pairs: Vec<(Market, Period)> = Market::ALL
        .into_iter()
        .flat_map(|m| Period::ALL.into_iter().map(move |p| (m, p)))
        .filter(|&(m, p)| archive::data_types(m, p).contains(&data_type))
        .collect();
    let markets: BTreeSet<Market> = pairs.iter().map(|&(m, _)| m).collect();
    let periods: BTreeSet<Period> = pairs.iter().map(|&(_, p)| p).collect();
    let market_list = markets
        .iter()
        .map(|m| m.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    match periods.iter().collect::<Vec<_>>().as_slice() {
        [only] => format!("{only} only, in {market_list}"),
        _ => format!("in {market_list}"),
    }
}

/// The names of the values `keep` accepts, in order.
fn names_where<T: Copy>(
    all: impl IntoIterator<Item = T>,
    name: fn(T) -> &'static str,
    keep: impl Fn(T) -> bool,
) -> Vec<&'static str> {
    all.into_iter().filter(|&v| keep(v)).map(name).collect()
}

fn fmt_day(d: Date) -> String {
    format!("{:04}-{:02}-{:02}", d.year(), d.month(), d.day())
}

fn fmt_month(d: Date) -> String {
    format!("{:04}-{:02}", d.year(), d.month())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| (*s).to_owned()).collect()
    }

    /// Builder over `SelectionFlags` so each test states only the flags it cares about.
    #[derive(Default)]
    struct F(SelectionFlags);

    impl F {
        /// Sets one flag as the command line would: a list flag to `items`, a single-value
        /// flag to its one item.
        fn set(mut self, flag: &str, items: &[&str]) -> Self {
            let one = Some(items.concat());
            let flags = &mut self.0;
            match flag {
                "--market" => flags.market = one,
                "--period" => flags.period = one,
                "--data-type" => flags.data_types = strings(items),
                "--symbols" => flags.symbols = strings(items),
                "--interval" => flags.intervals = strings(items),
                "--start" => flags.start = one,
                "--end" => flags.end = one,
                other => panic!("unknown flag {other}"),
            }
            self
        }
        /// The flags written as on the command line (`--symbols A,B --start 2024-01-01`), so
        /// a table row states its selection in one line; `--flag=` gives an empty value.
        fn args(line: &str) -> Self {
            let mut f = Self::default();
            let mut words = line.split_whitespace();
            while let Some(word) = words.next() {
                let (flag, value) = match word.split_once('=') {
                    Some(pair) => pair,
                    None => (word, words.next().expect("a value after the flag")),
                };
                f = f.set(flag, &value.split(',').collect::<Vec<_>>());
            }
            f
        }
        fn ok(self) -> Selection {
            Selection::from_flags(&self.0)
                .expect("valid selection")
                .expect("some flag given")
        }
        /// The error, checked for the house rules: the message names every `needle` (the
        /// offending value and flag) and the hint is not empty.
        fn err(self, needles: &[&str]) -> Error {
            let err = Selection::from_flags(&self.0).expect_err("invalid selection");
            for needle in needles {
                assert!(
                    err.message().contains(needle),
                    "message {:?} lacks {needle:?}",
                    err.message()
                );
            }
            assert!(!err.hint().trim().is_empty(), "empty hint for {err:?}");
            err
        }
    }

    /// The `prefixes` contract: strictly sorted in byte order (so deduplicated) and no prefix
    /// is a prefix of another.
    fn assert_listable(prefixes: &[String]) {
        assert!(!prefixes.is_empty());
        for pair in prefixes.windows(2) {
            assert!(pair[0] < pair[1], "not strictly sorted: {pair:?}");
        }
        for a in prefixes {
            for b in prefixes {
                assert!(
                    a == b || !b.starts_with(a.as_str()),
                    "{a} is a prefix of {b}"
                );
            }
        }
    }

    /// Every key `matches` accepts must be found by listing `prefixes`.
    fn assert_matches_are_listed(sel: &Selection, keys: &[&str]) {
        let prefixes = sel.prefixes();
        for key in keys {
            if sel.matches(key) {
                assert!(
                    prefixes.iter().any(|p| key.starts_with(p.as_str())),
                    "{key} matches but is under none of {prefixes:?}"
                );
            }
        }
    }

    const SAMPLE_KEYS: &[&str] = &[
        "data/spot/daily/klines/BTCUSDT/1m/BTCUSDT-1m-2024-01-01.zip",
        "data/spot/daily/klines/BTCUSDT/1m/BTCUSDT-1m-2024-01-31.zip.CHECKSUM",
        "data/spot/daily/klines/BTCUSDT/1s/BTCUSDT-1s-2024-01-15.zip",
        "data/spot/daily/klines/BTCUSDT/1h/BTCUSDT-1h-2023-12-31.zip",
        "data/spot/daily/klines/ETHUSDT/1m/ETHUSDT-1m-2024-02-01.zip",
        "data/spot/daily/trades/BTCUSDT/BTCUSDT-trades-2024-01-10.zip",
        "data/spot/monthly/klines/BTCUSDT/1d/BTCUSDT-1d-2024-01.zip",
        "data/spot/monthly/aggTrades/BTCUSDT/BTCUSDT-aggTrades-2023-12.zip",
        "data/futures/um/daily/klines/BTCUSDT/1m/BTCUSDT-1m-2024-01-05.zip",
        "data/futures/um/daily/markPriceKlines/BTCUSDT/1h/BTCUSDT-1h-2024-01-05.zip",
        "data/futures/um/daily/metrics/BTCUSDT/BTCUSDT-metrics-2024-01-05.zip",
        "data/futures/um/monthly/fundingRate/BTCUSDT/BTCUSDT-fundingRate-2024-01.zip",
        "data/futures/um/monthly/klines/BTCUSDT_240329/1h/BTCUSDT_240329-1h-2024-02.zip",
        "data/futures/cm/daily/aggTrades/BTCUSD_PERP/BTCUSD_PERP-aggTrades-2024-01-08.zip",
        "data/futures/cm/daily/liquidationSnapshot/BTCUSD_PERP/BTCUSD_PERP-liquidationSnapshot-2024-01-08.zip",
        "data/futures/cm/monthly/fundingRate/BTCUSD_PERP/BTCUSD_PERP-fundingRate-2024-03.zip",
        "data/option/daily/BVOLIndex/BTCBVOLUSDT/BTCBVOLUSDT-BVOLIndex-2024-01-02.zip",
        "data/option/daily/EOHSummary/BTCUSDT/BTCUSDT-EOHSummary-2024-01-02.zip.CHECKSUM",
    ];

    // ---- from_flags: nothing given -------------------------------------------------------

    #[test]
    fn no_flags_selects_nothing_in_particular() {
        let sel = Selection::from_flags(&SelectionFlags::default()).expect("valid");
        assert!(sel.is_none());
    }

    #[test]
    fn list_items_are_trimmed_deduplicated_and_empties_dropped() {
        let sel = F::default()
            .set("--symbols", &[" ETHUSDT ", "", "BTCUSDT", "ETHUSDT"])
            .set("--data-type", &["klines ", " klines"])
            .set("--interval", &["1h", "", " 1m"])
            .set("--market", &[" spot "])
            .ok();
        assert_eq!(
            sel.describe(),
            "spot all periods klines BTCUSDT,ETHUSDT 1m,1h all dates"
        );
    }

    // ---- prefixes ------------------------------------------------------------------------

    /// A selection as its flags on the command line and the prefixes it lists, in byte order.
    const PREFIXES: &[(&str, &[&str])] = &[
        // One month of one symbol lists only that month.
        (
            JANUARY_BTC_1M,
            &["data/spot/daily/klines/BTCUSDT/1m/BTCUSDT-1m-2024-01-"],
        ),
        // Without symbols the data type folder is listed.
        (
            "--market spot --period daily --data-type klines --interval 1m --start 2024-01-01 --end 2024-01-31",
            &["data/spot/daily/klines/"],
        ),
        // Known components are enumerated when missing.
        (
            "--market spot",
            &[
                "data/spot/daily/aggTrades/",
                "data/spot/daily/klines/",
                "data/spot/daily/trades/",
                "data/spot/monthly/aggTrades/",
                "data/spot/monthly/klines/",
                "data/spot/monthly/trades/",
            ],
        ),
        // fundingRate is listed where it exists.
        (
            "--data-type fundingRate",
            &[
                "data/futures/cm/monthly/fundingRate/",
                "data/futures/um/monthly/fundingRate/",
            ],
        ),
        // fundingRate is not daily, but monthly is selected too: daily is simply dropped.
        (
            "--market futures/um --data-type fundingRate",
            &["data/futures/um/monthly/fundingRate/"],
        ),
        // Intervals are dropped where the archive lacks them.
        (
            "--data-type klines,trades --symbols BTCUSDT --interval 1s",
            &[
                "data/futures/cm/daily/trades/BTCUSDT/",
                "data/futures/cm/monthly/trades/BTCUSDT/",
                "data/futures/um/daily/trades/BTCUSDT/",
                "data/futures/um/monthly/trades/BTCUSDT/",
                "data/spot/daily/klines/BTCUSDT/1s/",
                "data/spot/daily/trades/BTCUSDT/",
                "data/spot/monthly/klines/BTCUSDT/1s/",
                "data/spot/monthly/trades/BTCUSDT/",
            ],
        ),
        // A monthly range narrows to the common year digits.
        (
            "--market futures/um --period monthly --data-type trades,klines --symbols ETHUSDT,BTCUSDT --interval 1h,1m --start 2023-11-15 --end 2024-02-10",
            &[
                "data/futures/um/monthly/klines/BTCUSDT/1h/BTCUSDT-1h-202",
                "data/futures/um/monthly/klines/BTCUSDT/1m/BTCUSDT-1m-202",
                "data/futures/um/monthly/klines/ETHUSDT/1h/ETHUSDT-1h-202",
                "data/futures/um/monthly/klines/ETHUSDT/1m/ETHUSDT-1m-202",
                "data/futures/um/monthly/trades/BTCUSDT/BTCUSDT-trades-202",
                "data/futures/um/monthly/trades/ETHUSDT/ETHUSDT-trades-202",
            ],
        ),
        // A single day narrows to the full date.
        (
            "--market spot --period daily --data-type aggTrades --symbols BTCUSDT --start 2024-01-05 --end 2024-01-05",
            &["data/spot/daily/aggTrades/BTCUSDT/BTCUSDT-aggTrades-2024-01-05"],
        ),
        // An open range does not narrow.
        (
            "--market spot --period daily --data-type klines --symbols BTCUSDT --start 2024-01-05",
            &["data/spot/daily/klines/BTCUSDT/"],
        ),
        (
            "--market spot --period daily --data-type klines --symbols BTCUSDT --interval 1m --end 2024-01-05",
            &["data/spot/daily/klines/BTCUSDT/1m/"],
        ),
        // A range across decades still narrows safely.
        (
            "--market spot --period daily --data-type trades --symbols BTCUSDT --start 2019-12-31 --end 2020-01-01",
            &["data/spot/daily/trades/BTCUSDT/BTCUSDT-trades-20"],
        ),
    ];

    #[test]
    fn each_selection_lists_its_prefixes() {
        for (args, expected) in PREFIXES {
            let prefixes = F::args(args).ok().prefixes();
            assert_listable(&prefixes);
            assert_eq!(prefixes, *expected, "{args}");
        }
    }

    #[test]
    fn symbols_alone_cover_every_published_folder() {
        let sel = F::args("--symbols BTCUSDT").ok();
        let prefixes = sel.prefixes();
        assert_listable(&prefixes);
        let folders: usize = Market::ALL
            .into_iter()
            .flat_map(|m| Period::ALL.map(|p| archive::data_types(m, p).len()))
            .sum();
        assert_eq!(prefixes.len(), folders);
        assert!(prefixes.contains(&"data/spot/daily/klines/BTCUSDT/".to_owned()));
        assert!(prefixes.contains(&"data/futures/um/monthly/fundingRate/BTCUSDT/".to_owned()));
        assert!(prefixes.contains(&"data/option/daily/BVOLIndex/BTCUSDT/".to_owned()));
        assert!(!prefixes.iter().any(|p| p.contains("daily/fundingRate")));
    }

    #[test]
    fn bounded_range_without_intervals_lists_each_interval_narrowly() {
        let sel = F::args(
            "--market futures/um --period daily --data-type klines --symbols BTCUSDT --start 2024-01-01 --end 2024-01-31",
        )
        .ok();
        let prefixes = sel.prefixes();
        assert_listable(&prefixes);
        // Every interval but 1s, which futures do not have.
        assert_eq!(prefixes.len(), INTERVALS.len() - 1);
        for p in &prefixes {
            assert!(
                p.starts_with("data/futures/um/daily/klines/BTCUSDT/"),
                "{p}"
            );
            assert!(p.ends_with("-2024-01-"), "{p}");
            assert!(!p.contains("/1s/"), "{p}");
        }
        assert!(
            prefixes.contains(
                &"data/futures/um/daily/klines/BTCUSDT/1mo/BTCUSDT-1mo-2024-01-".to_owned()
            )
        );
    }
    #[test]
    fn many_selections_keep_the_prefix_contract_and_list_every_match() {
        let selections = [
            F::args("--market spot"),
            F::args("--period monthly"),
            F::args("--symbols BTCUSDT,BTCUSDT_240329,BTCUSD_PERP"),
            F::args("--symbols BTC,BTCUSDT --interval 1m,1mo"),
            F::args("--start 2024-01-01"),
            F::args("--symbols BTCUSDT,ETHUSDT --start 2023-12-31 --end 2024-01-31"),
            F::args(
                "--data-type klines,markPriceKlines,metrics --symbols BTCUSDT --interval 1s,1h --start 2024-01-05 --end 2024-01-05",
            ),
            F::args("--market option --symbols BTCBVOLUSDT"),
        ];
        for flags in selections {
            let sel = flags.ok();
            assert_listable(&sel.prefixes());
            assert_matches_are_listed(&sel, SAMPLE_KEYS);
        }
    }

    fn discovered(folder: &str, symbols: &[&str]) -> Discovered {
        Discovered::from([(folder.to_owned(), strings(symbols))])
    }

    #[test]
    fn open_folders_are_the_data_type_folders_without_symbols() {
        let sel = F::args("--market spot --period daily --data-type klines,trades").ok();
        assert_eq!(
            sel.open_folders(),
            ["data/spot/daily/klines/", "data/spot/daily/trades/"]
        );
        assert!(F::args("--symbols BTCUSDT").ok().open_folders().is_empty());
        // Folders the selection drops (1s has no futures klines) are not discovered.
        let sel = F::args("--data-type klines --interval 1s").ok();
        assert_eq!(
            sel.open_folders(),
            ["data/spot/daily/klines/", "data/spot/monthly/klines/"]
        );
    }

    #[test]
    fn discovered_symbols_are_narrowed_like_given_ones() {
        let flags = || {
            F::args(
                "--market spot --period daily --data-type klines --interval 1m --start 2024-01-05 --end 2024-01-05",
            )
        };
        let open = flags().ok();
        let found = discovered("data/spot/daily/klines/", &["AAA", "BTCUSDT"]);
        let given = flags().set("--symbols", &["AAA", "BTCUSDT"]).ok();
        assert_eq!(open.prefixes_with(&found), given.prefixes());
        assert_eq!(
            open.prefixes_with(&found),
            [
                "data/spot/daily/klines/AAA/1m/AAA-1m-2024-01-05",
                "data/spot/daily/klines/BTCUSDT/1m/BTCUSDT-1m-2024-01-05",
            ]
        );
        // Undiscovered: the whole folder, as before.
        assert_eq!(open.prefixes(), ["data/spot/daily/klines/"]);
        // Given symbols win over discovery.
        assert_eq!(given.prefixes_with(&found), given.prefixes());
        // Nothing found: nothing to list in that folder.
        let none = discovered("data/spot/daily/klines/", &[]);
        assert!(open.prefixes_with(&none).is_empty());
    }

    #[test]
    fn discovered_undated_symbols_list_their_interval_folders() {
        let sel = F::args(
            "--market futures/um --period daily --data-type klines,aggTrades --interval 1h",
        )
        .ok();
        let mut found = discovered("data/futures/um/daily/klines/", &["BTCUSDT"]);
        found.insert(
            "data/futures/um/daily/aggTrades/".into(),
            strings(&["ETHUSDT"]),
        );
        let prefixes = sel.prefixes_with(&found);
        assert_listable(&prefixes);
        assert_eq!(
            prefixes,
            [
                "data/futures/um/daily/aggTrades/ETHUSDT/",
                "data/futures/um/daily/klines/BTCUSDT/1h/",
            ]
        );
    }

    #[test]
    fn delivery_contracts_delivered_before_the_start_are_not_listed() {
        let flags = || {
            F::args("--market futures/um --data-type aggTrades --start 2024-03-29 --end 2024-04-02")
        };
        let sel = flags().ok();
        let found = Discovered::from([
            (
                "data/futures/um/daily/aggTrades/".to_owned(),
                strings(&[
                    "BTCUSDT",
                    "BTCUSDT_231229",
                    "BTCUSDT_240328",
                    "BTCUSDT_240329",
                ]),
            ),
            (
                "data/futures/um/monthly/aggTrades/".to_owned(),
                strings(&["BTCUSDT_240229", "BTCUSDT_240301"]),
            ),
        ]);
        assert_eq!(
            sel.prefixes_with(&found),
            [
                "data/futures/um/daily/aggTrades/BTCUSDT/BTCUSDT-aggTrades-2024-0",
                // Delivered on the start day: that day's file is in range.
                "data/futures/um/daily/aggTrades/BTCUSDT_240329/BTCUSDT_240329-aggTrades-2024-0",
                // Monthly goes by month: delivered in March, March's file is in range.
                "data/futures/um/monthly/aggTrades/BTCUSDT_240301/BTCUSDT_240301-aggTrades-2024-0",
            ]
        );
        // Given symbols are skipped the same way, and `matches` agrees with the listing.
        let given = flags().set("--symbols", &["BTCUSDT_240328"]).ok();
        assert_eq!(
            given.prefixes(),
            ["data/futures/um/monthly/aggTrades/BTCUSDT_240328/BTCUSDT_240328-aggTrades-2024-0"]
        );
        assert!(!given.matches(
            "data/futures/um/daily/aggTrades/BTCUSDT_240328/BTCUSDT_240328-aggTrades-2024-03-29.zip"
        ));
        // Without a start nothing is skipped.
        let undated = F::args("--symbols BTCUSDT_231229").ok();
        assert!(undated.prefixes().iter().any(|p| p.contains("_231229")));
    }

    #[test]
    fn covered_prefixes_are_removed() {
        let set = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<BTreeSet<_>>();
        assert_eq!(
            without_covered(set(&["a/", "a/b/", "a/c", "ab/", "b/"])),
            ["a/", "ab/", "b/"]
        );
        assert_eq!(
            without_covered(set(&["x/B-2024-0", "x/B-2024-01-", "x/B-2024-1"])),
            ["x/B-2024-0", "x/B-2024-1"]
        );
    }

    // ---- matches -------------------------------------------------------------------------

    const JANUARY_BTC_1M: &str = "--market spot --period daily --data-type klines --symbols BTCUSDT --interval 1m --start 2024-01-01 --end 2024-01-31";

    fn january_btc_1m() -> Selection {
        F::args(JANUARY_BTC_1M).ok()
    }

    #[test]
    fn daily_files_match_within_the_inclusive_range() {
        let sel = january_btc_1m();
        let dir = "data/spot/daily/klines/BTCUSDT/1m/";
        for (day, expected) in [
            ("2023-12-31", false),
            ("2024-01-01", true),
            ("2024-01-15", true),
            ("2024-01-31", true),
            ("2024-02-01", false),
        ] {
            let key = format!("{dir}BTCUSDT-1m-{day}.zip");
            assert_eq!(sel.matches(&key), expected, "{key}");
        }
    }

    #[test]
    fn open_ended_ranges() {
        let from = F::args("--data-type trades --start 2024-01-10").ok();
        let until = F::args("--data-type trades --end 2024-01-10").ok();
        let key = |d: &str| format!("data/spot/daily/trades/BTCUSDT/BTCUSDT-trades-{d}.zip");
        assert!(!from.matches(&key("2024-01-09")));
        assert!(from.matches(&key("2024-01-10")));
        assert!(from.matches(&key("2030-01-01")));
        assert!(until.matches(&key("2017-08-17")));
        assert!(until.matches(&key("2024-01-10")));
        assert!(!until.matches(&key("2024-01-11")));
    }

    #[test]
    fn monthly_files_match_when_the_month_overlaps_the_range() {
        let sel =
            F::args("--market futures/um --period monthly --start 2024-01-15 --end 2024-03-10")
                .ok();
        let key = |m: &str| {
            format!("data/futures/um/monthly/fundingRate/BTCUSDT/BTCUSDT-fundingRate-{m}.zip")
        };
        for (month, expected) in [
            ("2023-12", false),
            ("2024-01", true),
            ("2024-02", true),
            ("2024-03", true),
            ("2024-04", false),
            ("2025-02", false),
        ] {
            assert_eq!(sel.matches(&key(month)), expected, "{month}");
        }
        let open = F::args("--period monthly --end 2024-01-01").ok();
        assert!(open.matches(&key("2024-01")));
        assert!(!open.matches(&key("2024-02")));
    }

    #[test]
    fn checksum_travels_with_its_zip() {
        let selections = [
            january_btc_1m(),
            F::args("--period monthly --start 2024-01-15").ok(),
            F::args("--symbols BTCUSD_PERP").ok(),
        ];
        for sel in &selections {
            for key in SAMPLE_KEYS {
                let zip = key.strip_suffix(".CHECKSUM").unwrap_or(key);
                let checksum = format!("{zip}.CHECKSUM");
                assert_eq!(sel.matches(zip), sel.matches(&checksum), "{zip}");
            }
        }
        assert!(
            january_btc_1m()
                .matches("data/spot/daily/klines/BTCUSDT/1m/BTCUSDT-1m-2024-01-31.zip.CHECKSUM")
        );
    }

    #[test]
    fn only_zip_and_checksum_files_match() {
        let sel = F::args("--market spot").ok();
        let dir = "data/spot/daily/klines/BTCUSDT/1m/";
        assert!(sel.matches(&format!("{dir}BTCUSDT-1m-2024-01-01.zip")));
        for name in [
            "BTCUSDT-1m-2024-01-01.csv",
            "BTCUSDT-1m-2024-01-01.CHECKSUM",
            "BTCUSDT-1m-2024-01-01.zip.sha256",
            "BTCUSDT-1m-2024-01-01.zip.CHECKSUM.CHECKSUM",
            "BTCUSDT-1m-2024-01-01.zip.checksum",
            "BTCUSDT-1m-2024-01-01.zip/",
            "",
        ] {
            assert!(!sel.matches(&format!("{dir}{name}")), "{name}");
        }
    }

    #[test]
    fn wrong_interval_folder_is_rejected() {
        let sel = january_btc_1m();
        assert!(!sel.matches("data/spot/daily/klines/BTCUSDT/1h/BTCUSDT-1h-2024-01-05.zip"));
        assert!(!sel.matches("data/spot/daily/klines/BTCUSDT/BTCUSDT-1m-2024-01-05.zip"));
        // Without --interval every interval the market has matches, and nothing else.
        let any = F::args("--market futures/um --data-type klines").ok();
        assert!(any.matches("data/futures/um/daily/klines/BTCUSDT/1h/BTCUSDT-1h-2024-01-05.zip"));
        assert!(any.matches("data/futures/um/monthly/klines/BTCUSDT/1mo/BTCUSDT-1mo-2024-01.zip"));
        assert!(!any.matches("data/futures/um/daily/klines/BTCUSDT/1s/BTCUSDT-1s-2024-01-05.zip"));
        assert!(!any.matches("data/futures/um/daily/klines/BTCUSDT/7m/BTCUSDT-7m-2024-01-05.zip"));
    }

    #[test]
    fn intervals_do_not_apply_to_types_without_them() {
        let sel = F::args("--market spot --data-type klines,trades --interval 1m").ok();
        assert!(sel.matches("data/spot/daily/trades/BTCUSDT/BTCUSDT-trades-2024-01-05.zip"));
        assert!(!sel.matches("data/spot/daily/trades/BTCUSDT/1m/BTCUSDT-trades-2024-01-05.zip"));
        assert!(!sel.matches("data/spot/daily/aggTrades/BTCUSDT/BTCUSDT-aggTrades-2024-01-05.zip"));
    }

    #[test]
    fn components_filter_keys() {
        let sel =
            F::args("--market futures/um --period daily --data-type aggTrades --symbols ETHUSDT")
                .ok();
        assert!(
            sel.matches("data/futures/um/daily/aggTrades/ETHUSDT/ETHUSDT-aggTrades-2024-01-01.zip")
        );
        for key in [
            "data/futures/um/daily/aggTrades/BTCUSDT/BTCUSDT-aggTrades-2024-01-01.zip",
            "data/futures/um/daily/aggTrades/ETHUSDT_240329/ETHUSDT_240329-aggTrades-2024-01-01.zip",
            "data/futures/um/daily/trades/ETHUSDT/ETHUSDT-trades-2024-01-01.zip",
            "data/futures/um/monthly/aggTrades/ETHUSDT/ETHUSDT-aggTrades-2024-01.zip",
            "data/futures/cm/daily/aggTrades/ETHUSDT/ETHUSDT-aggTrades-2024-01-01.zip",
            "data/spot/daily/aggTrades/ETHUSDT/ETHUSDT-aggTrades-2024-01-01.zip",
            "data/futures/um/daily/aggTrades/ETHUSDT-aggTrades-2024-01-01.zip",
            "data/futures/um/daily/aggTrades//ETHUSDT-aggTrades-2024-01-01.zip",
            "futures/um/daily/aggTrades/ETHUSDT/ETHUSDT-aggTrades-2024-01-01.zip",
            "/data/futures/um/daily/aggTrades/ETHUSDT/ETHUSDT-aggTrades-2024-01-01.zip",
        ] {
            assert!(!sel.matches(key), "{key}");
        }
    }

    #[test]
    fn folders_the_archive_does_not_publish_do_not_match() {
        let sel = F::args("--symbols BTCUSDT").ok();
        assert!(sel.matches(
            "data/futures/um/monthly/fundingRate/BTCUSDT/BTCUSDT-fundingRate-2024-01.zip"
        ));
        assert!(!sel.matches(
            "data/futures/um/daily/fundingRate/BTCUSDT/BTCUSDT-fundingRate-2024-01-01.zip"
        ));
        assert!(
            !sel.matches("data/spot/daily/bookTicker/BTCUSDT/BTCUSDT-bookTicker-2024-01-01.zip")
        );
        assert!(!sel.matches("data/margin/daily/trades/BTCUSDT/BTCUSDT-trades-2024-01-01.zip"));
    }

    #[test]
    fn undated_files_match_only_without_a_range() {
        let key = "data/spot/daily/trades/BTCUSDT/BTCUSDT-trades-latest.zip";
        assert!(F::args("--market spot").ok().matches(key));
        assert!(
            !F::args("--market spot --start 2024-01-01")
                .ok()
                .matches(key)
        );
        let impossible = "data/spot/daily/trades/BTCUSDT/BTCUSDT-trades-2024-02-30.zip";
        assert!(!F::args("--end 2030-01-01").ok().matches(impossible));
    }

    // ---- describe ------------------------------------------------------------------------

    #[test]
    fn describe_names_unset_components() {
        for (args, expected) in [
            (
                JANUARY_BTC_1M,
                "spot daily klines BTCUSDT 1m 2024-01-01..2024-01-31",
            ),
            (
                "--symbols BTCUSDT",
                "all markets all periods all data types BTCUSDT all intervals all dates",
            ),
            (
                "--market option --start 2024-01-01",
                "option all periods all data types all symbols 2024-01-01..",
            ),
            (
                "--data-type trades,aggTrades --end 2024-01-01",
                "all markets all periods aggTrades,trades all symbols ..2024-01-01",
            ),
        ] {
            assert_eq!(F::args(args).ok().describe(), expected, "{args}");
        }
    }

    // ---- errors --------------------------------------------------------------------------

    /// Invalid selections: the flags, what the message names (see `F::err`) and what the
    /// hint says.
    const REJECTED: &[(&str, &[&str], &[&str])] = &[
        // Unknown market and period.
        ("--market usdm", &["usdm", "--market"], &["futures/um"]),
        ("--market=", &["\"\"", "--market"], &["spot"]),
        (
            "--period weekly",
            &["weekly", "--period"],
            &["daily", "monthly"],
        ),
        // An unknown data type lists the valid ones.
        (
            "--market spot --data-type klines,candles",
            &["candles", "--data-type"],
            &["aggTrades, klines, trades"],
        ),
        // A data type in the wrong case suggests the archive's spelling.
        (
            "--data-type aggtrades",
            &["aggtrades", "--data-type"],
            &["did you mean aggTrades?"],
        ),
        (
            "--data-type FUNDINGRATE",
            &["FUNDINGRATE"],
            &["fundingRate"],
        ),
        // A data type missing from the selected period or market.
        (
            "--period daily --data-type fundingRate",
            &["fundingRate", "monthly only", "--data-type"],
            &["--period monthly"],
        ),
        (
            "--market spot --data-type fundingRate",
            &["fundingRate", "spot"],
            &["--market futures/um or futures/cm"],
        ),
        (
            "--market spot --period daily --data-type fundingRate",
            &["fundingRate", "spot daily"],
            &["--market and --period"],
        ),
        (
            "--period monthly --data-type metrics",
            &["metrics", "daily only"],
            &[],
        ),
        (
            "--market futures/um --data-type liquidationSnapshot",
            &["liquidationSnapshot", "futures/cm"],
            &[],
        ),
        (
            "--market option --data-type klines",
            &["klines", "option"],
            &[],
        ),
        // An unknown interval suggests the archive's spelling.
        (
            "--interval 1M",
            &["1M", "--interval"],
            &["did you mean 1mo?"],
        ),
        ("--interval 1H", &["1H"], &["did you mean 1h?"]),
        ("--interval 7m", &["7m"], &["1s, 1m"]),
        // Intervals without a kline type.
        (
            "--data-type trades,aggTrades --interval 1m",
            &["--interval", "1m", "aggTrades, trades"],
            &[],
        ),
        (
            "--market option --interval 1h",
            &["--interval", "1h", "BVOLIndex"],
            &[],
        ),
        // The one-second interval needs spot.
        (
            "--market futures/um --interval 1m,1s",
            &["1s", "--interval", "spot only"],
            &["spot"],
        ),
        // No market given, but the only kline type selected is futures-only.
        (
            "--data-type markPriceKlines,trades --interval 1s",
            &["1s", "spot only"],
            &[],
        ),
        // Malformed symbols.
        (
            "--symbols BTCUSDT,btcusdt",
            &["btcusdt", "--symbols"],
            &["did you mean BTCUSDT?"],
        ),
        (
            "--symbols BTC/USDT",
            &["BTC/USDT"],
            &["did you mean BTCUSDT?"],
        ),
        (
            "--symbols eth-usdt",
            &["eth-usdt"],
            &["did you mean ETHUSDT?"],
        ),
        // Impossible dates.
        (
            "--start 2024-13-01",
            &["--start", "2024-13-01", "01 to 12"],
            &[],
        ),
        ("--end 2024-02-30", &["--end", "2024-02-30", "29 days"], &[]),
        ("--start 2023-02-29", &["2023-02-29", "28 days"], &[]),
        ("--start 2024-04-00", &["2024-04-00"], &[]),
        // The end before the start.
        (
            "--start 2024-02-01 --end 2024-01-31",
            &["--end 2024-01-31", "--start 2024-02-01"],
            &["swap"],
        ),
        // An empty product of market, period and data type.
        (
            "--market option --period monthly",
            &["empty", "option monthly"],
            &["--period daily"],
        ),
        (
            "--market option --period monthly --data-type BVOLIndex",
            &["empty", "option monthly"],
            &[],
        ),
    ];

    #[test]
    fn invalid_selections_are_rejected_with_a_hint() {
        for (args, needles, hints) in REJECTED {
            let err = F::args(args).err(needles);
            for hint in *hints {
                assert!(err.hint().contains(hint), "{args}: {}", err.hint());
            }
        }
    }

    /// The valid neighbours of rejected selections.
    #[test]
    fn selections_next_to_rejected_ones_are_accepted() {
        for args in [
            // With spot in the selection, 1s is fine and futures klines are dropped.
            "--interval 1s",
            "--start 2024-02-29",
            "--start 2024-02-01 --end 2024-02-01",
        ] {
            F::args(args).ok();
        }
    }

    #[test]
    fn malformed_symbols_are_rejected() {
        for bad in ["BTC*", "BTC.USDT", "ÄBC", "../BTC", "BTC USDT!"] {
            F::default()
                .set("--symbols", &[bad])
                .err(&[bad, "--symbols"]);
        }
    }

    #[test]
    fn list_flags_given_with_only_empty_items_are_rejected() {
        F::default()
            .set("--symbols", &[""])
            .err(&["--symbols", "\"\""]);
        F::default()
            .set("--symbols", &[" ", ""])
            .err(&["--symbols"]);
        F::default().set("--data-type", &[""]).err(&["--data-type"]);
        F::default().set("--interval", &["  "]).err(&["--interval"]);
    }

    #[test]
    fn malformed_dates_are_rejected() {
        for bad in [
            "yesterday",
            "2024-1-01",
            "20240101",
            "2024/01/01",
            "2024-01-01T00:00",
            "24-01-01",
            "",
            "+2024-01-01",
            "2024-01-0１",
        ] {
            F::default().set("--start", &[bad]).err(&["--start", bad]);
            F::default().set("--end", &[bad]).err(&["--end", bad]);
        }
    }
}
