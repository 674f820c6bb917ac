//! Where a table's files live: an archive key -> its table, partition and Parquet key.
//!
//! ```text
//! data/{market}/{period}/{dataType}/{SYMBOL}[/{interval}]/{SYMBOL}-{interval|dataType}-{date}.zip
//!   -> {market}/{period}/{dataType}/[{interval}/]symbol={SYMBOL}/date={date}/{SYMBOL}-{...}-{date}.parquet
//! ```
//!
//! One table per archive folder type (and interval), Hive partitions by symbol and date, so
//! DuckDB, Spark and Athena prune by both. Pure string work, no I/O.
//!
//! Ordering matters to the planner: within one table, source keys and table keys sort the
//! same way by (symbol, date), because both spell the symbol followed by `/` and the date as
//! fixed-width text. [`PartitionId`] is that order.

use crate::select::archive::{self, FileDate, Market, Period};

/// One archive file's place in the lake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Partition {
    pub market: Market,
    pub period: Period,
    pub data_type: &'static str,
    pub interval: Option<&'static str>,
    pub symbol: String,
    /// `YYYY-MM-DD` (daily) or `YYYY-MM` (monthly), as in the file name.
    pub date: String,
    pub file_date: FileDate,
    /// The zip's name without `.zip`, e.g. `BTCUSDT-1m-2024-01-01`.
    pub stem: String,
}

/// The order of partitions inside one table (and of their keys on both sides).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct PartitionId {
    /// The symbol followed by `/`, so that `BTCUSDT` sorts before `BTCUSDT_PERP` as
    /// `BTCUSDT/` does before `BTCUSDT_PERP/` in a listing.
    symbol_slash: String,
    date: String,
}

impl PartitionId {
    pub fn new(symbol: &str, date: &str) -> Self {
        Self {
            symbol_slash: format!("{symbol}/"),
            date: date.to_string(),
        }
    }
}

/// Symbols become key segments and Hive partition values: keep to what the archive uses.
fn plain_symbol(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

fn market_of(rest: &str) -> Option<(Market, &str)> {
    Market::ALL.into_iter().find_map(|m| {
        rest.strip_prefix(m.as_str())
            .and_then(|r| r.strip_prefix('/'))
            .map(|r| (m, r))
    })
}

fn period_of(rest: &str) -> Option<(Period, &str)> {
    Period::ALL.into_iter().find_map(|p| {
        rest.strip_prefix(p.as_str())
            .and_then(|r| r.strip_prefix('/'))
            .map(|r| (p, r))
    })
}

fn data_type_of(market: Market, period: Period, rest: &str) -> Option<(&'static str, &str)> {
    let (name, after) = rest.split_once('/')?;
    let dt = archive::data_types(market, period)
        .iter()
        .copied()
        .find(|d| *d == name)?;
    Some((dt, after))
}

impl Partition {
    /// The partition of an archive zip key (relative to the archive root, `data/...`).
    /// None for anything that is not a zip at a well-formed archive key.
    pub fn from_zip_key(rel: &str) -> Option<Partition> {
        let rest = rel.strip_prefix("data/")?;
        let (market, rest) = market_of(rest)?;
        let (period, rest) = period_of(rest)?;
        let (data_type, rest) = data_type_of(market, period, rest)?;
        let (symbol, rest) = rest.split_once('/')?;
        if !plain_symbol(symbol) {
            return None;
        }
        let (interval, file) = if archive::has_interval(data_type) {
            let (iv, file) = rest.split_once('/')?;
            let iv = archive::INTERVALS.iter().copied().find(|i| *i == iv)?;
            (Some(iv), file)
        } else {
            (None, rest)
        };
        let stem = file.strip_suffix(".zip")?;
        let label = interval.unwrap_or(data_type);
        let date = stem
            .strip_prefix(symbol)?
            .strip_prefix('-')?
            .strip_prefix(label)?;
        let date = date.strip_prefix('-')?;
        let file_date = archive::file_date(file)?;
        let date_ok = match (period, file_date) {
            (Period::Daily, FileDate::Day(_)) => date.len() == 10,
            (Period::Monthly, FileDate::Month { .. }) => date.len() == 7,
            _ => false,
        };
        if !date_ok || file.contains('/') {
            return None;
        }
        Some(Partition {
            market,
            period,
            data_type,
            interval,
            symbol: symbol.to_string(),
            date: date.to_string(),
            file_date,
            stem: stem.to_string(),
        })
    }

    /// The table's folder, relative to the destination: `spot/daily/klines/1m/`.
    pub fn table(&self) -> String {
        table_prefix(self.market, self.period, self.data_type, self.interval)
    }

    /// The partition's folder: `spot/daily/klines/1m/symbol=BTCUSDT/date=2024-01-01/`.
    pub fn dir(&self) -> String {
        format!("{}symbol={}/date={}/", self.table(), self.symbol, self.date)
    }

    /// The Parquet file's key relative to the destination.
    pub fn parquet_key(&self) -> String {
        format!("{}{}.parquet", self.dir(), self.stem)
    }

    pub fn id(&self) -> PartitionId {
        PartitionId::new(&self.symbol, &self.date)
    }
}

pub fn table_prefix(
    market: Market,
    period: Period,
    data_type: &str,
    interval: Option<&str>,
) -> String {
    match interval {
        Some(iv) => format!("{market}/{period}/{data_type}/{iv}/"),
        None => format!("{market}/{period}/{data_type}/"),
    }
}

/// A key inside a table folder, split: (partition, file name). None for keys that are not
/// `symbol=S/date=D/FILE`.
pub fn split_table_key(rel_to_table: &str) -> Option<(PartitionId, &str)> {
    let rest = rel_to_table.strip_prefix("symbol=")?;
    let (symbol, rest) = rest.split_once('/')?;
    let rest = rest.strip_prefix("date=")?;
    let (date, file) = rest.split_once('/')?;
    if file.contains('/') {
        return None;
    }
    Some((PartitionId::new(symbol, date), file))
}

/// The destination prefix to list for the partitions of `p` that the source prefix
/// `source_prefix` (a prefix of `p`'s zip key, from the selection) can produce: as narrow
/// as the source listing (a symbol, a month of dates), never wider than `p`'s table.
pub fn dest_scope(source_prefix: &str, p: &Partition) -> String {
    let table = p.table();
    let interval_level = p.interval.map_or(String::new(), |i| format!("{i}/"));
    let symbol_dir = format!(
        "data/{}/{}/{}/{}/{}",
        p.market, p.period, p.data_type, p.symbol, interval_level
    );
    let symbol_only = format!(
        "data/{}/{}/{}/{}/",
        p.market, p.period, p.data_type, p.symbol
    );
    if let Some(stem_prefix) = source_prefix.strip_prefix(&symbol_dir) {
        // Narrowed to dates by a shared file-name prefix: "BTCUSDT-1m-2024-01-".
        let label = p.interval.unwrap_or(p.data_type);
        let date_part = stem_prefix
            .strip_prefix(&format!("{}-{label}-", p.symbol))
            .unwrap_or("");
        return if date_part.is_empty() {
            format!("{table}symbol={}/", p.symbol)
        } else {
            format!("{table}symbol={}/date={date_part}", p.symbol)
        };
    }
    if source_prefix.starts_with(&symbol_only) {
        return format!("{table}symbol={}/", p.symbol);
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kline_keys_map_to_interval_tables() {
        let p =
            Partition::from_zip_key("data/spot/daily/klines/BTCUSDT/1m/BTCUSDT-1m-2024-01-01.zip")
                .unwrap();
        assert_eq!(p.interval, Some("1m"));
        assert_eq!(p.date, "2024-01-01");
        assert_eq!(
            p.parquet_key(),
            "spot/daily/klines/1m/symbol=BTCUSDT/date=2024-01-01/BTCUSDT-1m-2024-01-01.parquet"
        );
        let m = Partition::from_zip_key(
            "data/futures/um/monthly/fundingRate/BTCUSDT/BTCUSDT-fundingRate-2026-04.zip",
        )
        .unwrap();
        assert_eq!(
            m.parquet_key(),
            "futures/um/monthly/fundingRate/symbol=BTCUSDT/date=2026-04/BTCUSDT-fundingRate-2026-04.parquet"
        );
        let cm = Partition::from_zip_key(
            "data/futures/cm/daily/aggTrades/BTCUSD_PERP/BTCUSD_PERP-aggTrades-2026-05-08.zip",
        )
        .unwrap();
        assert_eq!(cm.table(), "futures/cm/daily/aggTrades/");
        assert_eq!(cm.symbol, "BTCUSD_PERP");
    }

    #[test]
    fn malformed_keys_are_not_partitions() {
        for k in [
            "data/spot/daily/klines/BTCUSDT/1m/BTCUSDT-1m-2024-01-01.zip.CHECKSUM",
            "data/spot/daily/klines/BTCUSDT/1m/ETHUSDT-1m-2024-01-01.zip",
            "data/spot/daily/klines/BTCUSDT/1m/BTCUSDT-1h-2024-01-01.zip",
            "data/spot/daily/klines/BTCUSDT/BTCUSDT-1m-2024-01-01.zip",
            "data/spot/daily/klines/BTCUSDT/1m/BTCUSDT-1m-2024-01.zip",
            "data/spot/monthly/klines/BTCUSDT/1m/BTCUSDT-1m-2024-01-01.zip",
            "data/spot/daily/fundingRate/BTCUSDT/BTCUSDT-fundingRate-2024-01-01.zip",
            "data/spot/daily/trades/BTC=USDT/BTC=USDT-trades-2024-01-01.zip",
            "other/spot/daily/trades/BTCUSDT/BTCUSDT-trades-2024-01-01.zip",
            "data/spot/daily/trades/BTCUSDT/x/BTCUSDT-trades-2024-01-01.zip",
        ] {
            assert!(Partition::from_zip_key(k).is_none(), "{k}");
        }
    }

    #[test]
    fn source_and_table_keys_sort_alike() {
        // BTCUSDT/ < BTCUSDT_PERP/ in both spellings (0x2F < 0x5F), dates as text.
        let keys = [
            "data/futures/cm/daily/aggTrades/BTCUSD/BTCUSD-aggTrades-2024-01-02.zip",
            "data/futures/cm/daily/aggTrades/BTCUSD_PERP/BTCUSD_PERP-aggTrades-2024-01-01.zip",
            "data/futures/cm/daily/aggTrades/BTCUSD_PERP/BTCUSD_PERP-aggTrades-2024-01-02.zip",
            "data/futures/cm/daily/aggTrades/ETHUSD_PERP/ETHUSD_PERP-aggTrades-2023-12-31.zip",
        ];
        let mut sorted_src = keys.to_vec();
        sorted_src.sort();
        assert_eq!(sorted_src, keys);
        let parts: Vec<Partition> = keys
            .iter()
            .map(|k| Partition::from_zip_key(k).unwrap())
            .collect();
        let mut table_keys: Vec<String> = parts.iter().map(Partition::parquet_key).collect();
        let original = table_keys.clone();
        table_keys.sort();
        assert_eq!(table_keys, original);
        let ids: Vec<PartitionId> = parts.iter().map(Partition::id).collect();
        let mut sorted_ids = ids.clone();
        sorted_ids.sort();
        assert_eq!(sorted_ids, ids);
        let table = parts[1].table();
        let key = parts[1].parquet_key();
        let (id, file) = split_table_key(key.strip_prefix(&table).unwrap()).unwrap();
        assert_eq!(id, parts[1].id());
        assert_eq!(file, "BTCUSD_PERP-aggTrades-2024-01-01.parquet");
    }

    #[test]
    fn dest_scopes_follow_the_source_prefix() {
        let p =
            Partition::from_zip_key("data/spot/daily/klines/BTCUSDT/1m/BTCUSDT-1m-2024-01-05.zip")
                .unwrap();
        for (prefix, scope) in [
            ("", "spot/daily/klines/1m/"),
            ("data/spot/daily/klines/", "spot/daily/klines/1m/"),
            (
                "data/spot/daily/klines/BTCUSDT/",
                "spot/daily/klines/1m/symbol=BTCUSDT/",
            ),
            (
                "data/spot/daily/klines/BTCUSDT/1m/",
                "spot/daily/klines/1m/symbol=BTCUSDT/",
            ),
            (
                "data/spot/daily/klines/BTCUSDT/1m/BTCUSDT-1m-2024-01-",
                "spot/daily/klines/1m/symbol=BTCUSDT/date=2024-01-",
            ),
        ] {
            assert_eq!(dest_scope(prefix, &p), scope, "{prefix:?}");
        }
        let f = Partition::from_zip_key(
            "data/futures/um/monthly/fundingRate/BTCUSDT/BTCUSDT-fundingRate-2024-03.zip",
        )
        .unwrap();
        assert_eq!(
            dest_scope(
                "data/futures/um/monthly/fundingRate/BTCUSDT/BTCUSDT-fundingRate-2024-",
                &f
            ),
            "futures/um/monthly/fundingRate/symbol=BTCUSDT/date=2024-"
        );
    }
}
