//! The CSV inside each zip, in the data type's column format (binance-archive.md), with
//! rows of a fixed width per file so that any byte offset maps to a row without generating
//! the rows before it: a ranged GET in the middle of an 800 MB file costs what it returns.
//!
//! Widths are fixed by construction: every number is a mantissa in a range that never
//! crosses a power of ten, times a power of ten fixed per file. The one field whose width
//! must vary (`True`/`False`, a minus sign, a negative depth level) is the row's *flag*: one
//! extra byte, set from a per-64-row bit mask (or the row's position for bookDepth), so the
//! offset of row `i` is `header + i * width + flags before i`.

use crate::hash;
use crate::model::catalog::{Family, Market, Period};
use crate::time::{SECS_PER_DAY, civil_from_days, push_num};

/// Everything a file's rows depend on.
#[derive(Clone, Debug)]
pub struct FileSpec {
    pub family: Family,
    pub market: Market,
    pub period: Period,
    /// Kline interval in seconds.
    pub interval_secs: Option<i64>,
    /// The unit's first instant and length (a day or a month), milliseconds.
    pub start_ms: i64,
    pub span_ms: i64,
    /// The file's identity (the same for every upload of it): widths and scales.
    pub seed: u64,
    /// Changes with a re-upload: the row values.
    pub version: u8,
    pub symbol: &'static str,
    pub price_exp: i8,
    pub activity: f64,
}

/// A number printed with a fixed width: `mantissa x 10^exp` with `decimals` decimals.
#[derive(Clone, Copy, Debug)]
struct Fixed {
    exp: i32,
    decimals: u32,
}

impl Fixed {
    const fn new(exp: i32, decimals: u32) -> Self {
        Fixed { exp, decimals }
    }

    fn width(self) -> usize {
        let int_digits = if self.exp >= 0 {
            self.exp as usize + 1
        } else {
            1
        };
        int_digits
            + if self.decimals > 0 {
                1 + self.decimals as usize
            } else {
                0
            }
    }

    /// Print `m x 10^exp` for a mantissa m in [1, 9.9).
    fn push(self, out: &mut Vec<u8>, m: f64) {
        let scale = 10f64.powi(self.exp + self.decimals as i32);
        let mut units = (m * scale).round() as u64;
        let unit = 10u64.pow(self.decimals);
        let max_int = if self.exp >= 0 {
            10u64.pow(self.exp as u32 + 1) - 1
        } else {
            0
        };
        // Guard the width against rounding at the edges of the mantissa range.
        units = units.clamp(1, (max_int + 1) * unit - 1);
        if self.exp >= 0 {
            units = units.max(10u64.pow(self.exp as u32) * unit);
        }
        let int = units / unit;
        push_num(
            out,
            int,
            if self.exp >= 0 {
                self.exp as usize + 1
            } else {
                1
            },
        );
        if self.decimals > 0 {
            out.push(b'.');
            push_num(out, units % unit, self.decimals as usize);
        }
    }
}

/// Widths, scales and row count of one file.
#[derive(Clone, Debug)]
pub struct Layout {
    pub spec: FileSpec,
    header: &'static str,
    /// Width of a row without its flag byte, newline included.
    pub width: usize,
    /// Rows the period naturally holds (None: as many as the size allows).
    pub natural: Option<u64>,
    micros: bool,
    price: Fixed,
    price_m0: f64,
    vol: Fixed,
    quote: Fixed,
    count_digits: usize,
    id_digits: usize,
    id_base: u64,
    flags: FlagKind,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum FlagKind {
    None,
    /// A per-64-row mask, bits set with probability 1/2 (True/False).
    Half,
    /// Probability 1/4 (negative funding rates).
    Quarter,
    /// bookDepth: levels -5..-1 carry a minus sign (5 of every 10 rows).
    DepthLevels,
}

/// The widths the columns of a file are drawn at (see [`Layout::new`]).
struct Columns {
    spot: bool,
    time_w: usize,
    price: Fixed,
    vol: Fixed,
    quote: Fixed,
    count_digits: usize,
    id_digits: usize,
    /// Futures files from 2022-05-01 have a header line.
    futures_header: bool,
    days: i64,
}

/// A family's header line, row width (without the flag's extra byte), natural row count
/// (None: from the file's size) and flag kind.
fn row_shape(spec: &FileSpec, c: &Columns) -> (&'static str, usize, Option<u64>, FlagKind) {
    match spec.family {
        Family::Klines | Family::PriceKlines => {
            let w = if spec.family == Family::Klines {
                // ot,o,h,l,c,v,ct,qv,n,tbv,tbq,0
                2 * c.time_w
                    + 4 * c.price.width()
                    + 2 * c.vol.width()
                    + 2 * c.quote.width()
                    + c.count_digits
                    + 1
                    + 11
                    + 1
            } else {
                // ot,o,h,l,c,0,ct,0,n,0,0,0
                2 * c.time_w + 4 * c.price.width() + c.count_digits + 5 + 11 + 1
            };
            let header = if c.futures_header {
                "open_time,open,high,low,close,volume,close_time,quote_volume,count,taker_buy_volume,taker_buy_quote_volume,ignore\n"
            } else {
                ""
            };
            (header, w, Some(kline_rows(spec)), FlagKind::None)
        }
        Family::Trades => {
            // id,p,q,qq,t, then True|False,True on spot (False: +1), true|false on futures
            let w = c.id_digits + c.price.width() + c.vol.width() + c.quote.width() + c.time_w + 4;
            if c.spot {
                ("", w + 4 + 6 + 1, None, FlagKind::Half)
            } else {
                (
                    "id,price,qty,quote_qty,time,is_buyer_maker\n",
                    w + 5 + 1,
                    None,
                    FlagKind::Half,
                )
            }
        }
        Family::AggTrades => {
            if c.spot {
                // aid,p,q,first,last,t,True|False,True
                let w =
                    c.id_digits * 3 + c.price.width() + c.vol.width() + c.time_w + 4 + 4 + 7 + 1;
                ("", w, None, FlagKind::Half)
            } else {
                let w = c.id_digits * 3 + c.price.width() + c.vol.width() + c.time_w + 4 + 6 + 1;
                (
                    "agg_trade_id,price,quantity,first_trade_id,last_trade_id,transact_time,is_buyer_maker\n",
                    w,
                    None,
                    FlagKind::Half,
                )
            }
        }
        Family::FundingRate => {
            // calc_time,8,[-]0.000xxxxx
            let w = 13 + 1 + 1 + 1 + 10 + 1;
            (
                "calc_time,funding_interval_hours,last_funding_rate\n",
                w,
                Some(3 * c.days as u64),
                FlagKind::Quarter,
            )
        }
        Family::BookDepth => {
            // YYYY-MM-DD HH:MM:SS,[-]L,depth,notional
            let w = 19 + 1 + 1 + 1 + c.vol.width() + 1 + c.quote.width() + 1;
            (
                "timestamp,percentage,depth,notional\n",
                w,
                None,
                FlagKind::DepthLevels,
            )
        }
        Family::BookTicker => {
            // uid,bp,bq,ap,aq,tt,et
            let w = 13 + 2 * c.price.width() + 2 * c.vol.width() + 2 * 13 + 6 + 1;
            (
                "update_id,best_bid_price,best_bid_qty,best_ask_price,best_ask_qty,transaction_time,event_time\n",
                w,
                None,
                FlagKind::None,
            )
        }
        Family::Metrics => {
            // ts,SYM,oi,oiv,r1,r2,r3,r4
            let w = 19 + spec.symbol.len() + c.vol.width() + c.quote.width() + 4 * 10 + 7 + 1;
            (
                "create_time,symbol,sum_open_interest,sum_open_interest_value,count_toptrader_long_short_ratio,sum_toptrader_long_short_ratio,count_long_short_ratio,sum_taker_long_short_vol_ratio\n",
                w,
                Some(288 * c.days as u64),
                FlagKind::None,
            )
        }
        Family::BvolIndex => {
            // t,SYM,BASE,QUOTE,xx.xxxx
            let (b, q) = spec.symbol.split_once("BVOL").unwrap_or(("BTC", "USDT"));
            let w = 13 + spec.symbol.len() + b.len() + q.len() + 7 + 4 + 1;
            (
                "calc_time,symbol,base_asset,quote_asset,index_value\n",
                w,
                Some(1440 * c.days as u64),
                FlagKind::None,
            )
        }
        Family::EohSummary => {
            // date,hour,symbol,underlying,type,strike,open,high,low,close,mark_price,mark_iv
            let base = spec.symbol.trim_end_matches("USDT");
            let w =
                10 + 2 + (base.len() + 16) + spec.symbol.len() + 1 + 6 + 4 * 10 + 6 + 11 + 11 + 1;
            (
                "date,hour,symbol,underlying,type,strike,open,high,low,close,mark_price,mark_iv\n",
                w,
                Some(24 * 40 * c.days as u64),
                FlagKind::None,
            )
        }
    }
}

const DEPTH_LEVELS: [i32; 10] = [-5, -4, -3, -2, -1, 1, 2, 3, 4, 5];

impl Layout {
    pub fn new(spec: FileSpec) -> Layout {
        let h = spec.seed;
        let spot = spec.market == Market::Spot;
        let day = spec.start_ms.div_euclid(SECS_PER_DAY * 1000);
        // Spot timestamps are microseconds since 2025-01-01 (binance-archive.md).
        let micros = spot && day >= i64::from(crate::time::days_from_civil(2025, 1, 1));
        let time_w = if micros { 16 } else { 13 };
        let pe = i32::from(spec.price_exp);
        let price = if spot {
            Fixed::new(pe, 8)
        } else {
            Fixed::new(pe, (4 - pe).clamp(1, 8) as u32)
        };
        let price_m0 = 1.5 + 7.0 * hash::unit(hash::mix(h ^ 0x9e1));
        // Volume exponent grows with activity (0 for the quietest, 4 for BTC).
        let ve = (4.0 + spec.activity.log10() * 1.3).clamp(0.0, 4.0) as i32;
        let vol = Fixed::new(ve, if spot { 8 } else { 3 });
        let qe = (ve + pe).max(-6);
        let quote = Fixed::new(qe, if spot { 8 } else { 5 });
        let count_digits = (ve as usize + 1).max(1);
        let id_digits = if spec.activity > 0.05 { 10 } else { 9 };
        let id_lo = 10u64.pow(id_digits as u32 - 1);
        let id_base = id_lo + hash::below(hash::mix(h ^ 0x1d), 4 * id_lo);
        let futures_header = spec.market != Market::Spot
            && day >= i64::from(crate::time::days_from_civil(2022, 5, 1));
        let days = spec.span_ms / (SECS_PER_DAY * 1000);
        let (header, width, natural, flags) = row_shape(
            &spec,
            &Columns {
                spot,
                time_w,
                price,
                vol,
                quote,
                count_digits,
                id_digits,
                futures_header,
                days,
            },
        );
        Layout {
            spec,
            header,
            width,
            natural,
            micros,
            price,
            price_m0,
            vol,
            quote,
            count_digits,
            id_digits,
            id_base,
            flags,
        }
    }

    pub fn header(&self) -> &'static str {
        self.header
    }

    fn mask(&self, block: u64) -> u64 {
        let h = hash::pair(
            self.spec.seed ^ 0xf1a9 ^ u64::from(self.spec.version) << 32,
            block,
        );
        match self.flags {
            FlagKind::None | FlagKind::DepthLevels => 0,
            FlagKind::Half => h,
            FlagKind::Quarter => h & hash::mix(h),
        }
    }

    pub fn flag(&self, i: u64) -> bool {
        match self.flags {
            FlagKind::None => false,
            FlagKind::DepthLevels => DEPTH_LEVELS[(i % 10) as usize] < 0,
            _ => self.mask(i / 64) >> (i % 64) & 1 == 1,
        }
    }

    /// Flag bytes in rows `0..i`.
    pub fn flags_before(&self, i: u64) -> u64 {
        match self.flags {
            FlagKind::None => 0,
            FlagKind::DepthLevels => (i / 10) * 5 + (i % 10).min(5),
            _ => {
                let mut n: u64 = (0..i / 64)
                    .map(|b| u64::from(self.mask(b).count_ones()))
                    .sum();
                if !i.is_multiple_of(64) {
                    n += u64::from((self.mask(i / 64) & ((1u64 << (i % 64)) - 1)).count_ones());
                }
                n
            }
        }
    }

    /// Bytes of the CSV with `rows` rows.
    pub fn csv_len(&self, rows: u64) -> u64 {
        self.header.len() as u64 + rows * self.width as u64 + self.flags_before(rows)
    }

    /// Offset of row `i` in the CSV.
    pub fn row_offset(&self, i: u64) -> u64 {
        self.csv_len(i)
    }

    /// The row holding CSV byte `offset` (>= the header).
    pub fn row_at(&self, offset: u64, rows: u64) -> u64 {
        self.most_rows_within(offset, rows)
    }

    /// The most rows whose CSV fits in `budget` bytes.
    pub fn rows_for(&self, budget: u64) -> u64 {
        if budget < self.header.len() as u64 {
            return 0;
        }
        let above = (budget - self.header.len() as u64) / self.width as u64 + 1;
        self.most_rows_within(budget, above)
    }

    /// Largest i below `above` (0 at the least) with `csv_len(i) <= limit`, by binary search.
    fn most_rows_within(&self, limit: u64, above: u64) -> u64 {
        let (mut lo, mut hi) = (0u64, above);
        while lo + 1 < hi {
            let mid = lo + (hi - lo) / 2;
            if self.csv_len(mid) <= limit {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        lo
    }

    fn time_ms(&self, i: u64, rows: u64) -> i64 {
        let s = &self.spec;
        match s.interval_secs {
            Some(iv) => s.start_ms + i as i64 * iv * 1000,
            None => s.start_ms + ((i as i128 * s.span_ms as i128) / rows.max(1) as i128) as i64,
        }
    }

    /// A price within 0.5% of the file's base price, from a unit value.
    fn price_near(&self, x: f64) -> f64 {
        self.price_m0 * (1.0 + 0.01 * (x - 0.5))
    }

    fn push_time(&self, out: &mut Vec<u8>, ms: i64, extra_us: i64) {
        if self.micros {
            push_num(out, (ms * 1000 + extra_us) as u64, 16);
        } else {
            push_num(out, ms as u64, 13);
        }
    }

    /// Append row `i` of a file of `rows` rows.
    pub fn push_row(&self, out: &mut Vec<u8>, i: u64, rows: u64) {
        let row = Row {
            i,
            rows,
            r: hash::pair(self.spec.seed ^ (u64::from(self.spec.version) << 40), i),
            flag: self.flag(i),
        };
        let start = out.len();
        match self.spec.family {
            Family::Klines | Family::PriceKlines => self.push_kline(out, &row),
            Family::Trades | Family::AggTrades => self.push_trade(out, &row),
            Family::FundingRate => self.push_funding_rate(out, &row),
            Family::BookDepth => self.push_book_depth(out, &row),
            Family::BookTicker => self.push_book_ticker(out, &row),
            Family::Metrics => self.push_metrics(out, &row),
            Family::BvolIndex => self.push_bvol_index(out, &row),
            Family::EohSummary => self.push_eoh_summary(out, &row),
        }
        debug_assert_eq!(
            out.len() - start,
            self.width + usize::from(row.flag),
            "row {i} of {:?}: {:?}",
            self.spec.family,
            String::from_utf8_lossy(&out[start..])
        );
    }

    fn push_kline(&self, out: &mut Vec<u8>, row: &Row) {
        let Row { i, .. } = *row;
        let u = |k: u64| row.unit(k);
        let p = |x: f64| self.price_near(x);
        let iv = self.spec.interval_secs.unwrap_or(60) * 1000;
        let ot = self.spec.start_ms + i as i64 * iv;
        let (o, c) = (p(u(1)), p(u(2)));
        let hi = o.max(c) * (1.0 + 0.004 * u(3));
        let lo = o.min(c) * (1.0 - 0.004 * u(4));
        let klines = self.spec.family == Family::Klines;
        // Price klines have no volume: those columns are 0.
        let volume = |out: &mut Vec<u8>, column: Fixed, m: f64| {
            if klines {
                column.push(out, m);
            } else {
                out.push(b'0');
            }
        };
        self.push_time(out, ot, 0);
        for v in [o, hi, lo, c] {
            out.push(b',');
            self.price.push(out, v);
        }
        out.push(b',');
        volume(out, self.vol, 5.0 + 4.9 * u(5));
        out.push(b',');
        self.push_time(out, ot + iv - 1, if self.micros { 999 } else { 0 });
        out.push(b',');
        volume(out, self.quote, 5.0 + 4.9 * u(6));
        out.push(b',');
        push_num(
            out,
            pow10_mantissa(u(7), self.count_digits),
            self.count_digits,
        );
        if klines {
            out.push(b',');
            self.vol.push(out, 1.0 + 3.9 * u(8));
            out.push(b',');
            self.quote.push(out, 1.0 + 3.9 * u(9));
            out.extend_from_slice(b",0\n");
        } else {
            out.extend_from_slice(b",0,0,0\n");
        }
    }

    fn push_trade(&self, out: &mut Vec<u8>, row: &Row) {
        let Row { i, rows, r, flag } = *row;
        let u = |k: u64| row.unit(k);
        let p = |x: f64| self.price_near(x);
        let spot = self.spec.market == Market::Spot;
        push_num(out, self.id_base + i, self.id_digits);
        out.push(b',');
        self.price.push(out, p(u(1)));
        out.push(b',');
        self.vol.push(out, 1.0 + 8.8 * u(2));
        out.push(b',');
        if self.spec.family == Family::Trades {
            self.quote.push(out, 1.0 + 8.8 * u(3));
        } else {
            let first = self.id_base + 3 * i;
            push_num(out, first, self.id_digits);
            out.push(b',');
            push_num(out, first + hash::below(r, 3), self.id_digits);
        }
        out.push(b',');
        self.push_time(out, self.time_ms(i, rows), (hash::below(r, 1000)) as i64);
        out.extend_from_slice(match (spot, flag) {
            (true, false) => b",True,True\n".as_slice(),
            (true, true) => b",False,True\n",
            (false, false) => b",true\n",
            (false, true) => b",false\n",
        });
    }

    fn push_funding_rate(&self, out: &mut Vec<u8>, row: &Row) {
        let Row { i, flag, .. } = *row;
        let u = |k: u64| row.unit(k);
        push_num(
            out,
            (self.spec.start_ms + i as i64 * 8 * 3600 * 1000) as u64,
            13,
        );
        out.extend_from_slice(b",8,");
        if flag {
            out.push(b'-');
        }
        Fixed::new(-4, 8).push(out, 1.0 + 8.8 * u(1));
        out.push(b'\n');
    }

    fn push_book_depth(&self, out: &mut Vec<u8>, row: &Row) {
        let Row { i, .. } = *row;
        let u = |k: u64| row.unit(k);
        push_datetime(out, self.spec.start_ms / 1000 + (i / 10) as i64 * 30);
        out.push(b',');
        let level = DEPTH_LEVELS[(i % 10) as usize];
        if level < 0 {
            out.push(b'-');
        }
        out.push(b'0' + level.unsigned_abs() as u8);
        out.push(b',');
        self.vol.push(out, 1.0 + 8.8 * u(1));
        out.push(b',');
        self.quote.push(out, 1.0 + 8.8 * u(2));
        out.push(b'\n');
    }

    fn push_book_ticker(&self, out: &mut Vec<u8>, row: &Row) {
        let Row { i, rows, r, .. } = *row;
        let u = |k: u64| row.unit(k);
        let p = |x: f64| self.price_near(x);
        push_num(out, 1_000_000_000_000 + self.id_base + i, 13);
        let mid = p(u(1));
        out.push(b',');
        self.price.push(out, mid * 0.9999);
        out.push(b',');
        self.vol.push(out, 1.0 + 8.8 * u(2));
        out.push(b',');
        self.price.push(out, mid * 1.0001);
        out.push(b',');
        self.vol.push(out, 1.0 + 8.8 * u(3));
        let t = self.time_ms(i, rows);
        out.push(b',');
        push_num(out, t as u64, 13);
        out.push(b',');
        push_num(out, (t + 1 + hash::below(r, 5) as i64) as u64, 13);
        out.push(b'\n');
    }

    fn push_metrics(&self, out: &mut Vec<u8>, row: &Row) {
        let Row { i, .. } = *row;
        let u = |k: u64| row.unit(k);
        push_datetime(out, self.spec.start_ms / 1000 + i as i64 * 300);
        out.push(b',');
        out.extend_from_slice(self.spec.symbol.as_bytes());
        out.push(b',');
        self.vol.push(out, 1.0 + 8.8 * u(1));
        out.push(b',');
        self.quote.push(out, 1.0 + 8.8 * u(2));
        for k in 3..7 {
            out.push(b',');
            Fixed::new(0, 8).push(out, 1.0 + 2.0 * u(k));
        }
        out.push(b'\n');
    }

    fn push_bvol_index(&self, out: &mut Vec<u8>, row: &Row) {
        let Row { i, .. } = *row;
        let u = |k: u64| row.unit(k);
        let (b, q) = self
            .spec
            .symbol
            .split_once("BVOL")
            .unwrap_or(("BTC", "USDT"));
        push_num(out, (self.spec.start_ms + i as i64 * 60_000) as u64, 13);
        out.push(b',');
        out.extend_from_slice(self.spec.symbol.as_bytes());
        out.push(b',');
        out.extend_from_slice(b.as_bytes());
        out.push(b',');
        out.extend_from_slice(q.as_bytes());
        out.push(b',');
        Fixed::new(1, 4).push(out, 3.0 + 6.0 * u(1));
        out.push(b'\n');
    }

    fn push_eoh_summary(&self, out: &mut Vec<u8>, row: &Row) {
        let Row { i, .. } = *row;
        let u = |k: u64| row.unit(k);
        let base = self.spec.symbol.trim_end_matches("USDT");
        let day = self.spec.start_ms.div_euclid(SECS_PER_DAY * 1000) as i32 + (i / 960) as i32;
        let (y, m, d) = civil_from_days(day);
        let mut date = Vec::with_capacity(10);
        crate::time::push_day(&mut date, day);
        out.extend_from_slice(&date);
        out.push(b',');
        push_num(out, (i / 40) % 24, 2);
        out.push(b',');
        out.extend_from_slice(base.as_bytes());
        out.push(b'-');
        push_num(out, (y % 100) as u64, 2);
        push_num(out, u64::from(m), 2);
        push_num(out, u64::from(d), 2);
        out.push(b'-');
        push_num(out, pow10_mantissa(u(1), 6), 6);
        out.extend_from_slice(if u(2) < 0.5 { b"-C" } else { b"-P" });
        out.push(b',');
        out.extend_from_slice(self.spec.symbol.as_bytes());
        out.push(b',');
        out.extend_from_slice(if u(2) < 0.5 { b"C" } else { b"P" });
        out.push(b',');
        push_num(out, pow10_mantissa(u(3), 6), 6);
        for k in 4..8 {
            out.push(b',');
            Fixed::new(3, 5).push(out, 1.0 + 8.8 * u(k));
        }
        out.push(b',');
        Fixed::new(0, 4).push(out, 1.0 + 8.8 * u(9));
        out.push(b',');
        Fixed::new(0, 9).push(out, 1.0 + 8.8 * u(10));
        out.push(b'\n');
    }
}

/// One row being drawn: its index, the file's row count, its hash and its flag.
#[derive(Clone, Copy)]
struct Row {
    i: u64,
    rows: u64,
    r: u64,
    flag: bool,
}

impl Row {
    /// The row's `k`-th unit value in [0, 1).
    fn unit(&self, k: u64) -> f64 {
        hash::unit(hash::mix(self.r ^ k.wrapping_mul(0x9e37_79b9_7f4a_7c15)))
    }
}

/// An integer of exactly `digits` digits from a unit value.
fn pow10_mantissa(u: f64, digits: usize) -> u64 {
    let lo = 10u64.pow(digits as u32 - 1);
    let span = 9 * lo;
    lo + ((u * span as f64) as u64).min(span - 1)
}

/// `YYYY-MM-DD HH:MM:SS`
fn push_datetime(out: &mut Vec<u8>, secs: i64) {
    crate::time::push_day(out, secs.div_euclid(SECS_PER_DAY) as i32);
    let sod = secs.rem_euclid(SECS_PER_DAY);
    out.push(b' ');
    crate::time::push_time_of_day(out, sod);
}

/// Rows of a kline file: the period divided by the interval (at least one).
fn kline_rows(spec: &FileSpec) -> u64 {
    let iv = spec.interval_secs.unwrap_or(60);
    if iv >= 2_592_000 {
        return 1;
    }
    ((spec.span_ms / 1000 + iv - 1) / iv).max(1) as u64
}
