//! The table schema of each archive data type: which CSV columns a file has, what each one
//! becomes in Parquet, and which column is the file's time axis.
//!
//! Pure data. Column names are the ones the futures CSV headers use (spot files, which have
//! no header, get the same names; spot's extra `isBestMatch` becomes `is_best_match`). Every
//! time column is a UTC timestamp in microseconds, whatever unit the file used; booleans are
//! booleans; the `ignore` column of the kline family is dropped. `../shared/notes/
//! binance-archive.md` is the source of truth for the CSV layouts.

use std::sync::Arc;

use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};

use crate::select::archive::Market;

/// Bumped whenever a table's columns or types change, so that readers (and a future
/// `--rebuild` policy) can tell files written under different schemas apart. Kept in every
/// Parquet file's key-value metadata (`lakesync.schema_version`).
pub const SCHEMA_VERSION: u32 = 1;

/// The timezone every timestamp column carries: the archive's times are UTC.
pub const UTC: &str = "UTC";
/// How text times are read (naive text is taken as this offset, i.e. UTC).
pub const CSV_UTC_OFFSET: &str = "+00:00";

/// What a CSV column is and what it becomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Epoch milliseconds or microseconds (the unit is detected per file) -> timestamp[us, UTC].
    EpochTime,
    /// `YYYY-MM-DD HH:MM:SS` text in UTC (bookDepth, metrics) -> timestamp[us, UTC].
    TextTime,
    Int,
    Float,
    /// `true`/`false` in any case (spot writes `True`/`False`).
    Bool,
    Text,
    /// Read and dropped (the kline family's last column, always 0).
    Ignore,
}

/// One CSV column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Column {
    pub name: &'static str,
    pub kind: Kind,
}

const fn col(name: &'static str, kind: Kind) -> Column {
    Column { name, kind }
}

use Kind::{Bool, EpochTime, Float, Ignore, Int, Text, TextTime};

const KLINES: &[Column] = &[
    col("open_time", EpochTime),
    col("open", Float),
    col("high", Float),
    col("low", Float),
    col("close", Float),
    col("volume", Float),
    col("close_time", EpochTime),
    col("quote_volume", Float),
    col("count", Int),
    col("taker_buy_volume", Float),
    col("taker_buy_quote_volume", Float),
    col("ignore", Ignore),
];

const SPOT_TRADES: &[Column] = &[
    col("id", Int),
    col("price", Float),
    col("qty", Float),
    col("quote_qty", Float),
    col("time", EpochTime),
    col("is_buyer_maker", Bool),
    col("is_best_match", Bool),
];
/// Futures trades are spot's without `is_best_match`.
const FUTURES_TRADES: &[Column] = SPOT_TRADES.split_at(SPOT_TRADES.len() - 1).0;

const SPOT_AGG_TRADES: &[Column] = &[
    col("agg_trade_id", Int),
    col("price", Float),
    col("quantity", Float),
    col("first_trade_id", Int),
    col("last_trade_id", Int),
    col("transact_time", EpochTime),
    col("is_buyer_maker", Bool),
    col("is_best_match", Bool),
];
/// Futures aggTrades are spot's without `is_best_match`.
const FUTURES_AGG_TRADES: &[Column] = SPOT_AGG_TRADES.split_at(SPOT_AGG_TRADES.len() - 1).0;

const FUNDING_RATE: &[Column] = &[
    col("calc_time", EpochTime),
    col("funding_interval_hours", Int),
    col("last_funding_rate", Float),
];

const BOOK_TICKER: &[Column] = &[
    col("update_id", Int),
    col("best_bid_price", Float),
    col("best_bid_qty", Float),
    col("best_ask_price", Float),
    col("best_ask_qty", Float),
    col("transaction_time", EpochTime),
    col("event_time", EpochTime),
];

const BOOK_DEPTH: &[Column] = &[
    col("timestamp", TextTime),
    col("percentage", Float),
    col("depth", Float),
    col("notional", Float),
];

const METRICS: &[Column] = &[
    col("create_time", TextTime),
    // Dropped: it repeats the `symbol` partition (a column of the same name as a partition
    // key is refused by Athena and ambiguous for Spark and DuckDB).
    col("symbol", Ignore),
    col("sum_open_interest", Float),
    col("sum_open_interest_value", Float),
    col("count_toptrader_long_short_ratio", Float),
    col("sum_toptrader_long_short_ratio", Float),
    col("count_long_short_ratio", Float),
    col("sum_taker_long_short_vol_ratio", Float),
];

const LIQUIDATION_SNAPSHOT: &[Column] = &[
    col("time", EpochTime),
    col("side", Text),
    col("order_type", Text),
    col("time_in_force", Text),
    col("original_quantity", Float),
    col("price", Float),
    col("average_price", Float),
    col("order_status", Text),
    col("last_fill_quantity", Float),
    col("accumulated_fill_quantity", Float),
];

const BVOL_INDEX: &[Column] = &[
    col("calc_time", EpochTime),
    // Dropped: it repeats the `symbol` partition (see METRICS).
    col("symbol", Ignore),
    col("base_asset", Text),
    col("quote_asset", Text),
    col("index_value", Float),
];

/// The schema of one table (a data type in a market).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TableSchema {
    /// The CSV's columns, in file order.
    pub columns: &'static [Column],
    /// Index (into `columns`) of the file's time axis: its min and max must fall inside the
    /// file's day or month, and they are reported per file.
    pub time_column: usize,
}

/// The schema of a data type in a market, or `None` for a data type lakesync does not
/// convert. EOHSummary (options, hourly per contract) is not converted yet: its `date`
/// and `symbol` columns collide with the partition keys and its time axis is a date plus
/// an hour column.
pub fn schema_for(market: Market, data_type: &str) -> Option<TableSchema> {
    let spot = market == Market::Spot;
    let (columns, time) = match data_type {
        "klines" | "markPriceKlines" | "indexPriceKlines" | "premiumIndexKlines" => (KLINES, 0),
        "trades" if spot => (SPOT_TRADES, 4),
        "trades" => (FUTURES_TRADES, 4),
        "aggTrades" if spot => (SPOT_AGG_TRADES, 5),
        "aggTrades" => (FUTURES_AGG_TRADES, 5),
        "fundingRate" => (FUNDING_RATE, 0),
        "bookTicker" => (BOOK_TICKER, 5),
        "bookDepth" => (BOOK_DEPTH, 0),
        "metrics" => (METRICS, 0),
        "liquidationSnapshot" => (LIQUIDATION_SNAPSHOT, 0),
        "BVOLIndex" => (BVOL_INDEX, 0),
        _ => return None,
    };
    Some(TableSchema {
        columns,
        time_column: time,
    })
}

fn timestamp_type() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some(UTC.into()))
}

impl TableSchema {
    /// How arrow-csv reads the file: epoch times as integers (scaled afterwards, once the
    /// file's unit is known), text times straight into microsecond UTC timestamps.
    pub fn csv_schema(&self) -> SchemaRef {
        let fields: Vec<Field> = self
            .columns
            .iter()
            .map(|c| {
                let t = match c.kind {
                    Kind::EpochTime | Kind::Int => DataType::Int64,
                    // arrow-csv knows offsets, not zone names, without chrono-tz; the
                    // values are the same instants, relabelled "UTC" afterwards.
                    Kind::TextTime => {
                        DataType::Timestamp(TimeUnit::Microsecond, Some(CSV_UTC_OFFSET.into()))
                    }
                    Kind::Float => DataType::Float64,
                    Kind::Bool => DataType::Boolean,
                    // Read as text and never used: any value is accepted.
                    Kind::Text | Kind::Ignore => DataType::Utf8,
                };
                Field::new(c.name, t, true)
            })
            .collect();
        Arc::new(Schema::new(fields))
    }

    /// The Parquet table's schema: `ignore` dropped, every time a microsecond UTC timestamp.
    /// The time axis is never null (a file whose time column has a gap fails).
    pub fn table_schema(&self) -> SchemaRef {
        let fields: Vec<Field> = self
            .columns
            .iter()
            .enumerate()
            .filter(|(_, c)| c.kind != Kind::Ignore)
            .map(|(i, c)| {
                let t = match c.kind {
                    Kind::EpochTime | Kind::TextTime => timestamp_type(),
                    Kind::Int => DataType::Int64,
                    Kind::Float => DataType::Float64,
                    Kind::Bool => DataType::Boolean,
                    Kind::Text | Kind::Ignore => DataType::Utf8,
                };
                Field::new(c.name, t, i != self.time_column)
            })
            .collect();
        Arc::new(Schema::new(fields))
    }

    pub fn time_column_name(&self) -> &'static str {
        self.columns[self.time_column].name
    }

    /// Whether `header` (the fields of a first line) names this schema's columns. Names are
    /// compared without case and underscores, so `quoteQty` matches `quote_qty`.
    pub fn header_matches(&self, header: &[&str]) -> bool {
        header.len() == self.columns.len()
            && header
                .iter()
                .zip(self.columns)
                .all(|(h, c)| squash(h) == squash(c.name))
    }

    pub fn column_names(&self) -> Vec<&'static str> {
        self.columns.iter().map(|c| c.name).collect()
    }
}

fn squash(s: &str) -> String {
    s.trim()
        .chars()
        .filter(|c| *c != '_')
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_archive_data_type_has_a_schema() {
        for market in Market::ALL {
            for period in crate::select::archive::Period::ALL {
                for dt in crate::select::archive::data_types(market, period) {
                    if *dt == "EOHSummary" {
                        assert!(schema_for(market, dt).is_none());
                        continue;
                    }
                    let s = schema_for(market, dt).unwrap_or_else(|| panic!("{market} {dt}"));
                    let k = s.columns[s.time_column].kind;
                    assert!(
                        matches!(k, Kind::EpochTime | Kind::TextTime),
                        "{dt}: the time axis must be a time column"
                    );
                }
            }
        }
        assert!(schema_for(Market::Spot, "nonsense").is_none());
    }

    #[test]
    fn no_column_is_named_like_a_partition_key() {
        for dt in crate::select::archive::all_data_types() {
            for market in Market::ALL {
                if let Some(s) = schema_for(market, dt) {
                    let t = s.table_schema();
                    assert!(t.field_with_name("symbol").is_err(), "{dt}");
                    assert!(t.field_with_name("date").is_err(), "{dt}");
                }
            }
        }
    }

    #[test]
    fn spot_gets_the_futures_names_plus_is_best_match() {
        let spot = schema_for(Market::Spot, "aggTrades").unwrap();
        let fut = schema_for(Market::FuturesUm, "aggTrades").unwrap();
        assert_eq!(spot.column_names()[..7], fut.column_names()[..]);
        assert_eq!(spot.column_names()[7], "is_best_match");
    }

    #[test]
    fn table_schema_drops_ignore_and_types_times_as_utc_micros() {
        let s = schema_for(Market::FuturesUm, "klines")
            .unwrap()
            .table_schema();
        assert_eq!(s.fields().len(), 11);
        assert!(s.field_with_name("ignore").is_err());
        let t = s.field_with_name("open_time").unwrap();
        assert_eq!(t.data_type(), &timestamp_type());
        assert!(!t.is_nullable());
        assert_eq!(
            s.field_with_name("close_time").unwrap().data_type(),
            &timestamp_type()
        );
        assert_eq!(
            s.field_with_name("count").unwrap().data_type(),
            &DataType::Int64
        );
        let d = schema_for(Market::FuturesUm, "bookDepth")
            .unwrap()
            .table_schema();
        assert_eq!(d.field(0).data_type(), &timestamp_type());
    }

    #[test]
    fn headers_match_with_case_and_underscores_ignored() {
        let s = schema_for(Market::FuturesUm, "fundingRate").unwrap();
        assert!(s.header_matches(&["calc_time", "funding_interval_hours", "last_funding_rate"]));
        assert!(s.header_matches(&["calcTime", "FUNDING_INTERVAL_HOURS", "lastFundingRate"]));
        assert!(!s.header_matches(&["calc_time", "last_funding_rate", "funding_interval_hours"]));
        assert!(!s.header_matches(&["calc_time", "funding_interval_hours"]));
    }
}
