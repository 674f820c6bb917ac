//! What the archive publishes where: markets, periods, data types and kline intervals, with
//! the dates a data type starts or stops (`../shared/notes/binance-archive.md` and
//! `../shared/archive-model/README.md`; assumptions are marked as such).

use crate::time::{Day, days_from_civil};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Market {
    Spot,
    Um,
    Cm,
    Option,
}

impl Market {
    pub const ALL: [Market; 4] = [Market::Spot, Market::Um, Market::Cm, Market::Option];

    /// The path segment(s) under `data/`.
    pub fn path(self) -> &'static str {
        match self {
            Market::Spot => "spot",
            Market::Um => "futures/um",
            Market::Cm => "futures/cm",
            Market::Option => "option",
        }
    }

    /// The `market` column of the model CSVs.
    pub fn from_csv(s: &str) -> Option<Market> {
        match s {
            "spot" => Some(Market::Spot),
            "um" => Some(Market::Um),
            "cm" => Some(Market::Cm),
            _ => None,
        }
    }

    pub fn is_futures(self) -> bool {
        matches!(self, Market::Um | Market::Cm)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Period {
    Daily,
    Monthly,
}

impl Period {
    pub fn path(self) -> &'static str {
        match self {
            Period::Daily => "daily",
            Period::Monthly => "monthly",
        }
    }
}

/// Row layout families (see `content::csv`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    Klines,
    /// markPriceKlines, indexPriceKlines, premiumIndexKlines: kline rows without volumes.
    PriceKlines,
    Trades,
    AggTrades,
    FundingRate,
    BookDepth,
    BookTicker,
    Metrics,
    BvolIndex,
    EohSummary,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DataType {
    pub name: &'static str,
    pub family: Family,
    /// First day with files (None: the symbol's own first day).
    pub from: Option<(i32, u32, u32)>,
    /// Last day with files (None: still published).
    pub until: Option<(i32, u32, u32)>,
}

impl DataType {
    pub fn has_interval(&self) -> bool {
        matches!(self.family, Family::Klines | Family::PriceKlines)
    }

    pub fn from_day(&self) -> Option<Day> {
        self.from.map(|(y, m, d)| days_from_civil(y, m, d))
    }

    pub fn until_day(&self) -> Option<Day> {
        self.until.map(|(y, m, d)| days_from_civil(y, m, d))
    }
}

const fn dt(name: &'static str, family: Family) -> DataType {
    DataType {
        name,
        family,
        from: None,
        until: None,
    }
}

const KLINES: DataType = dt("klines", Family::Klines);
const TRADES: DataType = dt("trades", Family::Trades);
const AGG_TRADES: DataType = dt("aggTrades", Family::AggTrades);
const MARK: DataType = dt("markPriceKlines", Family::PriceKlines);
const INDEX: DataType = dt("indexPriceKlines", Family::PriceKlines);
const PREMIUM: DataType = dt("premiumIndexKlines", Family::PriceKlines);
const FUNDING: DataType = dt("fundingRate", Family::FundingRate);
/// "bookDepth exists from 2023-01" (archive-model README).
const BOOK_DEPTH: DataType = DataType {
    from: Some((2023, 1, 1)),
    ..dt("bookDepth", Family::BookDepth)
};
/// "um bookTicker daily stopped 2024-03-30" (archive-model README); assumed the same for cm
/// and for the monthly files.
const BOOK_TICKER: DataType = DataType {
    until: Some((2024, 3, 30)),
    ..dt("bookTicker", Family::BookTicker)
};
/// Assumption: metrics start on 2021-12-01 (the README only says data types come and go).
const METRICS: DataType = DataType {
    from: Some((2021, 12, 1)),
    ..dt("metrics", Family::Metrics)
};
/// Assumption: options data from 2023-06-01; EOHSummary stopped 2023-10-23.
const BVOL: DataType = DataType {
    from: Some((2023, 6, 1)),
    ..dt("BVOLIndex", Family::BvolIndex)
};
const EOH: DataType = DataType {
    from: Some((2023, 6, 1)),
    until: Some((2023, 10, 23)),
    ..dt("EOHSummary", Family::EohSummary)
};

/// The data types a market publishes per period, as in binance-archive.md. cm's
/// liquidationSnapshot "ended and was removed from the listing", so it is absent.
pub fn data_types(market: Market, period: Period) -> &'static [DataType] {
    use Market::*;
    use Period::*;
    match (market, period) {
        (Spot, _) => &[AGG_TRADES, KLINES, TRADES],
        (Um | Cm, Daily) => &[
            AGG_TRADES,
            BOOK_DEPTH,
            BOOK_TICKER,
            INDEX,
            KLINES,
            MARK,
            METRICS,
            PREMIUM,
            TRADES,
        ],
        (Um | Cm, Monthly) => &[
            AGG_TRADES,
            BOOK_TICKER,
            FUNDING,
            INDEX,
            KLINES,
            MARK,
            PREMIUM,
            TRADES,
        ],
        (Option, Daily) => &[BVOL, EOH],
        (Option, Monthly) => &[],
    }
}

/// Kline intervals in the archive's spelling, with their length in seconds (`1mo` counted as
/// 30 days where a length is needed).
pub const INTERVALS: [(&str, i64); 16] = [
    ("1s", 1),
    ("1m", 60),
    ("3m", 180),
    ("5m", 300),
    ("15m", 900),
    ("30m", 1_800),
    ("1h", 3_600),
    ("2h", 7_200),
    ("4h", 14_400),
    ("6h", 21_600),
    ("8h", 28_800),
    ("12h", 43_200),
    ("1d", 86_400),
    ("3d", 259_200),
    ("1w", 604_800),
    ("1mo", 2_592_000),
];

pub fn interval_index(name: &str) -> Option<u8> {
    INTERVALS
        .iter()
        .position(|(n, _)| *n == name)
        .map(|i| i as u8)
}

pub fn interval_name(i: u8) -> &'static str {
    INTERVALS[usize::from(i)].0
}

pub fn interval_secs(i: u8) -> i64 {
    INTERVALS[usize::from(i)].1
}

/// A set of intervals as a bit mask over `INTERVALS`.
pub type IntervalSet = u16;

pub fn interval_set(names: &str) -> Result<IntervalSet, String> {
    let mut set = 0;
    for n in names.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        let i = interval_index(n).ok_or_else(|| format!("unknown interval {n:?}"))?;
        set |= 1 << i;
    }
    Ok(set)
}

/// The 13 spot daily intervals (`1s` .. `1d`).
pub const SPOT_INTERVALS: IntervalSet = (1 << 13) - 1;
/// The 12 futures intervals every symbol has (`1m` .. `1d`).
pub const FUTURES_INTERVALS: IntervalSet = ((1 << 13) - 1) & !1;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals() {
        assert_eq!(interval_index("1mo"), Some(15));
        assert_eq!(interval_set("1m,1s").unwrap(), 0b11);
        assert!(interval_set("1M").is_err());
        assert_eq!(FUTURES_INTERVALS.count_ones(), 12);
        assert_eq!(SPOT_INTERVALS.count_ones(), 13);
    }

    #[test]
    fn data_types_sorted_like_s3() {
        // The tree builder sorts anyway; keeping the tables sorted keeps them readable.
        for m in Market::ALL {
            for p in [Period::Daily, Period::Monthly] {
                let names: Vec<_> = data_types(m, p).iter().map(|d| d.name).collect();
                let mut sorted = names.clone();
                sorted.sort_unstable();
                assert_eq!(names, sorted);
            }
        }
    }
}
