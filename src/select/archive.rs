//! Knowledge of the Binance public archive's layout: markets, periods, which data types each
//! (market, period) publishes, kline intervals, and the date encoded in a file name.
//!
//! Pure data and parsing, no I/O. `/work/shared/notes/binance-archive.md` is the source of
//! truth; when Binance publishes a new data type or interval, this module is the one place to
//! teach it.

use std::fmt;
use std::str::FromStr;

use jiff::civil::Date;

use crate::error::Error;

/// [`FolderName`] from the type's `ALL`, `as_str` and `near_miss`; `Display` as the archive's
/// spelling and `FromStr` through [`parse_folder_name`].
macro_rules! folder_name {
    ($name:ty, $kind:literal) => {
        impl FolderName for $name {
            const KIND: &'static str = $kind;
            const ALL: &'static [Self] = &<$name>::ALL;

            fn as_str(self) -> &'static str {
                <$name>::as_str(self)
            }

            fn near_miss(s: &str) -> Option<Self> {
                <$name>::near_miss(s)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = Error;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                parse_folder_name(s)
            }
        }
    };
}

/// A top-level market folder under `data/`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Market {
    Spot,
    FuturesUm,
    FuturesCm,
    Option,
}

impl Market {
    pub const ALL: [Market; 4] = [
        Market::Spot,
        Market::FuturesUm,
        Market::FuturesCm,
        Market::Option,
    ];

    /// The folder path under `data/`, which is also the name users type.
    pub fn as_str(self) -> &'static str {
        match self {
            Market::Spot => "spot",
            Market::FuturesUm => "futures/um",
            Market::FuturesCm => "futures/cm",
            Market::Option => "option",
        }
    }

    /// Exactly the archive's folder names are accepted, so what the user types is what
    /// appears in keys; near misses (`SPOT`, `um`, `futures-um`) get a suggestion instead of
    /// a guess.
    fn near_miss(s: &str) -> Option<Self> {
        let squashed: String = s
            .chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .map(|c| c.to_ascii_lowercase())
            .collect();
        match squashed.as_str() {
            "spot" => Some(Market::Spot),
            "um" | "futuresum" | "usdm" | "usdsm" | "usdtm" => Some(Market::FuturesUm),
            "cm" | "futurescm" | "coinm" => Some(Market::FuturesCm),
            "option" | "options" => Some(Market::Option),
            _ => None,
        }
    }
}

folder_name!(Market, "market");

/// How much time one archive file covers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Period {
    Daily,
    Monthly,
}

impl Period {
    pub const ALL: [Period; 2] = [Period::Daily, Period::Monthly];

    pub fn as_str(self) -> &'static str {
        match self {
            Period::Daily => "daily",
            Period::Monthly => "monthly",
        }
    }

    fn near_miss(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "daily" | "day" | "days" | "1d" => Some(Period::Daily),
            "monthly" | "month" | "months" | "1mo" => Some(Period::Monthly),
            _ => None,
        }
    }
}

folder_name!(Period, "period");

/// A name the archive spells exactly one way (a market or period folder): parsed as spelled,
/// with a suggestion for a near miss.
trait FolderName: Copy + fmt::Display + 'static {
    /// What the name names, for messages.
    const KIND: &'static str;
    const ALL: &'static [Self];
    fn as_str(self) -> &'static str;
    /// The name a near miss most likely meant.
    fn near_miss(s: &str) -> Option<Self>;
}

fn parse_folder_name<T: FolderName>(s: &str) -> Result<T, Error> {
    if let Some(&found) = T::ALL.iter().find(|v| v.as_str() == s) {
        return Ok(found);
    }
    let kind = T::KIND;
    let valid = join(T::ALL.iter().map(|v| v.as_str()));
    let hint = match T::near_miss(s) {
        Some(v) => format!("did you mean {v}? valid {kind}s: {valid}"),
        None => format!("valid {kind}s: {valid}"),
    };
    Err(Error::usage(format!("unknown {kind} {s:?}"), hint))
}

const SPOT: &[&str] = &["klines", "aggTrades", "trades"];
const UM_MONTHLY: &[&str] = &[
    "klines",
    "aggTrades",
    "trades",
    "fundingRate",
    "bookTicker",
    "indexPriceKlines",
    "markPriceKlines",
    "premiumIndexKlines",
];
const CM_DAILY: &[&str] = &[
    "klines",
    "aggTrades",
    "trades",
    "bookDepth",
    "bookTicker",
    "indexPriceKlines",
    "markPriceKlines",
    "premiumIndexKlines",
    "metrics",
    "liquidationSnapshot",
];
// um daily publishes cm daily's types but liquidationSnapshot, in the same order.
const UM_DAILY: &[&str] = CM_DAILY.split_at(CM_DAILY.len() - 1).0;
const OPTION_DAILY: &[&str] = &["BVOLIndex", "EOHSummary"];

/// The data-type folders the archive publishes for a market and period, in the order of the
/// archive notes' table.
pub fn data_types(market: Market, period: Period) -> &'static [&'static str] {
    match (market, period) {
        (Market::Spot, _) => SPOT,
        (Market::FuturesUm, Period::Daily) => UM_DAILY,
        (Market::FuturesUm, Period::Monthly) => UM_MONTHLY,
        (Market::FuturesCm, Period::Daily) => CM_DAILY,
        // cm monthly has exactly um's monthly types.
        (Market::FuturesCm, Period::Monthly) => UM_MONTHLY,
        (Market::Option, Period::Daily) => OPTION_DAILY,
        (Market::Option, Period::Monthly) => &[],
    }
}

/// Every data type of any market and period, sorted in byte order and deduplicated.
pub fn all_data_types() -> Vec<&'static str> {
    let mut all: Vec<&'static str> = Market::ALL
        .into_iter()
        .flat_map(|m| Period::ALL.into_iter().map(move |p| (m, p)))
        .flat_map(|(m, p)| data_types(m, p).iter().copied())
        .collect();
    all.sort_unstable();
    all.dedup();
    all
}

/// Whether the data type's folders have an interval level (`{SYMBOL}/{interval}/`).
pub fn has_interval(data_type: &str) -> bool {
    matches!(
        data_type,
        "klines" | "markPriceKlines" | "indexPriceKlines" | "premiumIndexKlines"
    )
}

/// Kline intervals as spelled in the archive's folder and file names (`1mo`, never `1M`).
pub const INTERVALS: &[&str] = &[
    "1s", "1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "8h", "12h", "1d", "3d", "1w",
    "1mo",
];

/// Whether the archive has this interval's folders in the market (`1s` exists for spot only).
pub fn interval_valid_for(market: Market, interval: &str) -> bool {
    INTERVALS.contains(&interval) && (interval != "1s" || market == Market::Spot)
}

/// The delivery date of a delivery contract, from its `_YYMMDD` suffix (`BTCUSDT_240329`,
/// `BTCUSD_240628`): its daily files end on that day. None for perpetuals and spot symbols
/// (`BTCUSDT`, `BTCUSD_PERP`) and for suffixes that are not a real date
/// (`ICPUSDT_SETTLED`, `X_999999`).
pub fn delivery_date(symbol: &str) -> Option<Date> {
    let (_, tail) = symbol.rsplit_once('_')?;
    if tail.len() != 6 || !tail.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let yy: i16 = tail.get(0..2)?.parse().ok()?;
    let mm: i8 = tail.get(2..4)?.parse().ok()?;
    let dd: i8 = tail.get(4..6)?.parse().ok()?;
    Date::new(2000 + yy, mm, dd).ok()
}

/// The date at the end of an archive file name: a day for daily files, a month for monthly.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileDate {
    Day(Date),
    Month { year: i16, month: i8 },
}

/// Date encoded at the end of an archive file name: "BTCUSDT-1m-2024-01-01.zip",
/// "...-2024-01.zip", also with ".CHECKSUM" suffix. None when the name has no valid date
/// (impossible dates like 2024-02-30 -> None).
pub fn file_date(file_name: &str) -> Option<FileDate> {
    let zip = file_name
        .strip_suffix(".CHECKSUM")
        .unwrap_or(file_name)
        .strip_suffix(".zip")?;
    // The daily shape is tried first: a monthly stem can never pass it, because the byte
    // before its year is `-`, not a digit.
    if let Some(day) = dated_tail(zip, 10) {
        let (year, month, d) = (day.get(0..4)?, day.get(5..7)?, day.get(8..10)?);
        let date = Date::new(year.parse().ok()?, month.parse().ok()?, d.parse().ok()?).ok()?;
        return Some(FileDate::Day(date));
    }
    let month_str = dated_tail(zip, 7)?;
    let year: i16 = month_str.get(0..4)?.parse().ok()?;
    let month: i8 = month_str.get(5..7)?.parse().ok()?;
    (1..=12)
        .contains(&month)
        .then_some(FileDate::Month { year, month })
}

/// The last `len` bytes of `stem` when they have the digit/dash shape of `YYYY-MM-DD` (len 10)
/// or `YYYY-MM` (len 7) and are preceded by the `-` that separates them from the rest of the
/// name.
fn dated_tail(stem: &str, len: usize) -> Option<&str> {
    let bytes = stem.as_bytes();
    let start = bytes.len().checked_sub(len + 1)?;
    if bytes[start] != b'-' {
        return None;
    }
    let tail = &bytes[start + 1..];
    let shape_ok = tail.iter().enumerate().all(|(i, b)| match i {
        4 | 7 => *b == b'-',
        _ => b.is_ascii_digit(),
    });
    // Every byte is ASCII once the shape matches, so the slice is on a char boundary.
    if shape_ok {
        stem.get(start + 1..)
    } else {
        None
    }
}

fn join<'a>(items: impl Iterator<Item = &'a str>) -> String {
    items.collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(y: i16, m: i8, d: i8) -> FileDate {
        FileDate::Day(Date::new(y, m, d).expect("valid test date"))
    }

    #[test]
    fn market_round_trips_through_its_name() {
        for m in Market::ALL {
            assert_eq!(m.as_str().parse::<Market>(), Ok(m));
            assert_eq!(m.to_string(), m.as_str());
        }
        assert_eq!(
            Market::ALL.map(Market::as_str),
            ["spot", "futures/um", "futures/cm", "option"]
        );
    }

    #[test]
    fn market_rejects_aliases_and_suggests_the_real_name() {
        for (given, suggested) in [
            ("um", "futures/um"),
            ("futures-um", "futures/um"),
            ("cm", "futures/cm"),
            ("SPOT", "spot"),
            ("options", "option"),
        ] {
            let err = given.parse::<Market>().expect_err(given);
            assert!(err.message().contains(given), "{err:?}");
            assert!(
                err.hint().contains(&format!("did you mean {suggested}?")),
                "{err:?}"
            );
        }
        let err = "perp".parse::<Market>().expect_err("perp");
        assert!(err.message().contains("\"perp\""));
        assert_eq!(
            err.hint(),
            "valid markets: spot, futures/um, futures/cm, option"
        );
    }

    #[test]
    fn period_round_trips_and_rejects_others() {
        for p in Period::ALL {
            assert_eq!(p.as_str().parse::<Period>(), Ok(p));
        }
        let err = "Daily".parse::<Period>().expect_err("case matters");
        assert!(err.message().contains("Daily"));
        assert!(err.hint().contains("did you mean daily?"));
        let err = "weekly".parse::<Period>().expect_err("weekly");
        assert!(err.message().contains("weekly"));
        assert_eq!(err.hint(), "valid periods: daily, monthly");
    }

    #[test]
    fn data_type_table_matches_the_archive_notes() {
        use Market::*;
        use Period::*;
        let sorted = |m, p| {
            let mut v = data_types(m, p).to_vec();
            v.sort_unstable();
            v
        };
        assert_eq!(sorted(Spot, Daily), ["aggTrades", "klines", "trades"]);
        assert_eq!(sorted(Spot, Monthly), ["aggTrades", "klines", "trades"]);
        let um_daily = [
            "aggTrades",
            "bookDepth",
            "bookTicker",
            "indexPriceKlines",
            "klines",
            "markPriceKlines",
            "metrics",
            "premiumIndexKlines",
            "trades",
        ];
        let um_monthly = [
            "aggTrades",
            "bookTicker",
            "fundingRate",
            "indexPriceKlines",
            "klines",
            "markPriceKlines",
            "premiumIndexKlines",
            "trades",
        ];
        assert_eq!(sorted(FuturesUm, Daily), um_daily);
        assert_eq!(sorted(FuturesUm, Monthly), um_monthly);
        let mut cm_daily = um_daily.to_vec();
        cm_daily.push("liquidationSnapshot");
        cm_daily.sort_unstable();
        assert_eq!(sorted(FuturesCm, Daily), cm_daily);
        assert_eq!(sorted(FuturesCm, Monthly), um_monthly);
        assert_eq!(sorted(Option, Daily), ["BVOLIndex", "EOHSummary"]);
        assert!(data_types(Option, Monthly).is_empty());
    }

    #[test]
    fn funding_rate_is_monthly_only_and_futures_only() {
        for m in Market::ALL {
            assert!(!data_types(m, Period::Daily).contains(&"fundingRate"));
            let monthly = data_types(m, Period::Monthly).contains(&"fundingRate");
            assert_eq!(monthly, matches!(m, Market::FuturesUm | Market::FuturesCm));
        }
    }

    #[test]
    fn tables_have_no_duplicates() {
        for m in Market::ALL {
            for p in Period::ALL {
                let mut v = data_types(m, p).to_vec();
                v.sort_unstable();
                v.dedup();
                assert_eq!(v.len(), data_types(m, p).len(), "{m} {p}");
            }
        }
    }

    #[test]
    fn all_data_types_is_the_sorted_union() {
        let all = all_data_types();
        assert_eq!(
            all,
            [
                "BVOLIndex",
                "EOHSummary",
                "aggTrades",
                "bookDepth",
                "bookTicker",
                "fundingRate",
                "indexPriceKlines",
                "klines",
                "liquidationSnapshot",
                "markPriceKlines",
                "metrics",
                "premiumIndexKlines",
                "trades",
            ]
        );
        assert!(all.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn only_kline_families_have_an_interval_level() {
        let with: Vec<_> = all_data_types()
            .into_iter()
            .filter(|t| has_interval(t))
            .collect();
        assert_eq!(
            with,
            [
                "indexPriceKlines",
                "klines",
                "markPriceKlines",
                "premiumIndexKlines"
            ]
        );
        assert!(!has_interval("Klines"));
    }

    #[test]
    fn intervals_and_their_markets() {
        assert_eq!(INTERVALS.len(), 16);
        assert!(INTERVALS.contains(&"1mo"));
        assert!(!INTERVALS.contains(&"1M"));
        assert!(interval_valid_for(Market::Spot, "1s"));
        for m in [Market::FuturesUm, Market::FuturesCm, Market::Option] {
            assert!(!interval_valid_for(m, "1s"), "{m}");
            assert!(interval_valid_for(m, "1m"), "{m}");
        }
        for iv in INTERVALS {
            assert!(interval_valid_for(Market::Spot, iv), "{iv}");
        }
        assert!(!interval_valid_for(Market::Spot, "2m"));
        assert!(!interval_valid_for(Market::Spot, "1M"));
    }

    #[test]
    fn file_date_reads_daily_names() {
        assert_eq!(
            file_date("BTCUSDT-1m-2024-01-01.zip"),
            Some(day(2024, 1, 1))
        );
        assert_eq!(
            file_date("BTCUSD_PERP-aggTrades-2026-05-08.zip"),
            Some(day(2026, 5, 8))
        );
        assert_eq!(
            file_date("BTCUSDT-1h-2024-02-29.zip.CHECKSUM"),
            Some(day(2024, 2, 29))
        );
    }

    #[test]
    fn file_date_reads_monthly_names() {
        assert_eq!(
            file_date("BTCUSDT-fundingRate-2024-01.zip"),
            Some(FileDate::Month {
                year: 2024,
                month: 1
            })
        );
        assert_eq!(
            file_date("BTCUSDT-1mo-2023-12.zip.CHECKSUM"),
            Some(FileDate::Month {
                year: 2023,
                month: 12
            })
        );
        // A delivery contract's `_YYMMDD` suffix is part of the symbol, not the date.
        assert_eq!(
            file_date("BTCUSDT_240329-1d-2024-03.zip"),
            Some(FileDate::Month {
                year: 2024,
                month: 3
            })
        );
    }

    #[test]
    fn file_date_rejects_impossible_dates() {
        for name in [
            "BTCUSDT-1m-2024-02-30.zip",
            "BTCUSDT-1m-2023-02-29.zip",
            "BTCUSDT-1m-2024-13-01.zip",
            "BTCUSDT-1m-2024-00-10.zip",
            "BTCUSDT-1m-2024-01-00.zip",
            "BTCUSDT-1m-2024-04-31.zip.CHECKSUM",
            "BTCUSDT-fundingRate-2024-13.zip",
            "BTCUSDT-fundingRate-2024-00.zip",
        ] {
            assert_eq!(file_date(name), None, "{name}");
        }
    }

    #[test]
    fn file_date_rejects_garbage() {
        for name in [
            "",
            ".zip",
            "-2024-01-01.zip.CHECKSUM.CHECKSUM",
            "BTCUSDT-1m-2024-01-01",
            "BTCUSDT-1m-2024-01-01.csv",
            "BTCUSDT-1m-2024-01-01.zip.sha256",
            "BTCUSDT-1m-2024-1-01.zip",
            "BTCUSDT-1m-24-01-01.zip",
            "BTCUSDT-1m-20240101.zip",
            "BTCUSDT-1m-12024-01-01.zip",
            "BTCUSDT-1m-2024_01_01.zip",
            "BTCUSDT-1m-2024-01-0a.zip",
            "BTCUSDT-1m-yesterday.zip",
            "2024-01-01.zip",
            "BTCUSDT-1m-+2024-01.zip",
            "BTCUSDT-1m-2024-01-01.zip/",
            "BTCUSDT-1m-２０２４-01-01.zip",
        ] {
            assert_eq!(file_date(name), None, "{name:?}");
        }
    }

    #[test]
    fn delivery_dates_come_from_the_yymmdd_suffix() {
        let d = |y, m, day| Some(Date::new(y, m, day).unwrap());
        assert_eq!(delivery_date("BTCUSDT_240329"), d(2024, 3, 29));
        assert_eq!(delivery_date("BTCUSD_201225"), d(2020, 12, 25));
        for none in [
            "BTCUSDT",
            "BTCUSD_PERP",
            "ICPUSDT_SETTLED",
            "CVCUSDTSETTLED",
            "X_999999",
            "X_240230",
            "X_24032",
            "X_2403290",
            "_",
            "",
        ] {
            assert_eq!(delivery_date(none), None, "{none}");
        }
    }
}
