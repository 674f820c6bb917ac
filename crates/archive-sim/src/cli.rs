//! Command-line flags, resolved by one function into validated [`Settings`] (every bad
//! value named, with a hint).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;

use crate::archive::{ArchiveOptions, as_of_ms};
use crate::s3::{Latency, WrongRegion};
use crate::time::{
    Day, SECS_PER_DAY, civil_from_days, days_from_civil, fmt_day, now_ms, parse_day,
};

#[derive(Parser, Debug)]
#[command(
    name = "archive-sim",
    version,
    about = "An S3-compatible simulator of s3://data.binance.vision at full scale (~1.5e8 keys, nothing stored), \
             with destination buckets, WAN latency, per-prefix throttling and regions.",
    after_help = "The first line on stdout is http://127.0.0.1:PORT once the server accepts connections. \
                  GET /_sim/stats answers counters as JSON; POST /_sim/reset zeroes them. SIGTERM stops it."
)]
pub struct Args {
    /// Address to listen on (port 0: any free port).
    #[arg(long, default_value = "127.0.0.1:0")]
    pub listen: String,
    /// The day the archive is seen on (at 12:00 UTC): day D's files exist from D+1 ~07:00.
    /// Default: the latest day whose 12:00 UTC has passed.
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub as_of: Option<String>,
    /// A destination bucket; `=mirrored-through:DAY` makes it start with every source key
    /// dated on or before DAY (modelled, not stored); `,prefix:P` puts those keys under P.
    #[arg(
        long = "dest-bucket",
        value_name = "NAME[=mirrored-through:YYYY-MM-DD[,prefix:P]]"
    )]
    pub dest_buckets: Vec<String>,
    /// Region of destination buckets.
    #[arg(long, default_value = "us-east-1")]
    pub dest_region: String,
    /// Region of the source bucket.
    #[arg(long, default_value = crate::buckets::SOURCE_REGION)]
    pub source_region: String,
    /// A folder holding the model CSVs (default: the copy embedded in the binary).
    #[arg(long, value_name = "DIR")]
    pub model: Option<PathBuf>,
    /// Added latency per request, milliseconds (the median with --latency-p99-ms).
    #[arg(long, default_value_t = 0)]
    pub latency_ms: u64,
    /// With --latency-ms: a log-normal latency with this 99th percentile.
    #[arg(long)]
    pub latency_p99_ms: Option<u64>,
    /// Extra latency of a CopyObject whose source is in another region.
    #[arg(long, default_value_t = 0)]
    pub cross_region_copy_ms: u64,
    /// GET/HEAD/LIST requests per second per partition prefix before 503 SlowDown (0: no limit).
    #[arg(long, default_value_t = 5500.0)]
    pub read_rate: f64,
    /// PUT/COPY/POST/DELETE requests per second per partition prefix (0: no limit).
    #[arg(long, default_value_t = 3500.0)]
    pub write_rate: f64,
    /// A partition prefix is the key cut after this many `/` (4: data/spot/daily/klines/).
    #[arg(long, default_value_t = 4)]
    pub partition_depth: usize,
    /// Answer to a request signed for another region than the bucket's.
    #[arg(long, value_enum, default_value = "malformed")]
    pub wrong_region: WrongRegionArg,
    /// Fraction of CopyObject calls answered 200 with an InternalError body.
    #[arg(long, default_value_t = 0.0)]
    pub copy_error_fraction: f64,
    /// Fraction of zips re-uploaded later (same size, new ETag and content).
    #[arg(long, default_value_t = 0.001)]
    pub reupload_fraction: f64,
    /// Fraction of daily series with a hole of 1 to 4 weeks.
    #[arg(long, default_value_t = 0.01)]
    pub hole_fraction: f64,
    /// Only the symbols of the model files (no invented listings after May 2025).
    #[arg(long)]
    pub no_new_listings: bool,
    /// Only the last N years of history: every series starts on --as-of minus N years
    /// (same month and day; 29 Feb: 28 Feb) at the earliest, and symbols that ended before
    /// then are gone. The days after that are the full archive's.
    #[arg(long, value_name = "N")]
    pub history_years: Option<u32>,
    /// Give one source zip another size (e.g. above 5 GiB, to meet CopyObject's limit).
    #[arg(long = "size-override", value_name = "KEY=BYTES")]
    pub size_overrides: Vec<String>,
    /// Bytes of uploads that match no source object kept in memory, MB.
    #[arg(long, default_value_t = 256)]
    pub max_kept_mb: u64,
    /// Prefixes shown in /_sim/stats.
    #[arg(long, default_value_t = 20)]
    pub stats_top: usize,
    /// Runtime worker threads.
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub enum WrongRegionArg {
    /// 400 AuthorizationHeaderMalformed with <Region> (S3's global endpoint).
    Malformed,
    /// 301 PermanentRedirect with x-amz-bucket-region (a regional endpoint).
    Redirect,
}

#[derive(Clone, Debug)]
pub struct DestSpec {
    pub name: String,
    pub mirrored_through: Option<Day>,
    pub prefix: String,
}

#[derive(Clone, Debug)]
pub struct Settings {
    pub listen: SocketAddr,
    pub as_of: Day,
    pub snapshot_ms: i64,
    pub dests: Vec<DestSpec>,
    pub dest_region: String,
    pub source_region: String,
    pub model: Option<PathBuf>,
    pub latency: Latency,
    pub cross_region_copy: Duration,
    pub read_rate: f64,
    pub write_rate: f64,
    pub partition_depth: usize,
    pub wrong_region: WrongRegion,
    pub copy_error_fraction: f64,
    pub archive: ArchiveOptions,
    pub new_listings: bool,
    /// `--history-years`: the first day of the history kept (`None`: all of it).
    pub history_from: Option<Day>,
    pub size_overrides: Vec<(String, u64)>,
    pub max_kept_bytes: u64,
    pub stats_top: usize,
    pub threads: usize,
}

#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct UsageError {
    pub message: String,
    pub hint: String,
}

fn usage(message: impl Into<String>, hint: impl Into<String>) -> UsageError {
    UsageError {
        message: message.into(),
        hint: hint.into(),
    }
}

fn fraction(flag: &str, v: f64) -> Result<f64, UsageError> {
    if (0.0..=1.0).contains(&v) {
        Ok(v)
    } else {
        Err(usage(
            format!("{flag} {v} is not a fraction"),
            format!("give {flag} a value from 0 to 1"),
        ))
    }
}

fn bucket_name_ok(n: &str) -> bool {
    (3..=63).contains(&n.len())
        && n.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
        && !n.starts_with(['-', '.'])
}

/// `NAME[=mirrored-through:YYYY-MM-DD[,prefix:P]]`
fn dest_spec(s: &str) -> Result<DestSpec, UsageError> {
    let (name, rest) = s.split_once('=').map_or((s, None), |(n, r)| (n, Some(r)));
    if !bucket_name_ok(name) || name == crate::buckets::SOURCE_BUCKET {
        return Err(usage(
            format!("--dest-bucket {s:?}: {name:?} is not a usable bucket name"),
            "use 3-63 lower-case letters, digits, '-' or '.', not data.binance.vision (the source)",
        ));
    }
    let mut spec = DestSpec {
        name: name.to_string(),
        mirrored_through: None,
        prefix: String::new(),
    };
    for part in rest
        .map(|r| r.split(',').collect::<Vec<_>>())
        .unwrap_or_default()
    {
        if let Some(d) = part.strip_prefix("mirrored-through:") {
            spec.mirrored_through = Some(parse_day(d).ok_or_else(|| {
                usage(
                    format!("--dest-bucket {s:?}: {d:?} is not a date"),
                    "write the day as YYYY-MM-DD, e.g. mirrored-through:2026-11-30",
                )
            })?);
        } else if let Some(p) = part.strip_prefix("prefix:") {
            spec.prefix = if p.is_empty() || p.ends_with('/') {
                p.to_string()
            } else {
                format!("{p}/")
            };
        } else {
            return Err(usage(
                format!("--dest-bucket {s:?}: unknown option {part:?}"),
                "the forms are NAME, NAME=mirrored-through:YYYY-MM-DD and NAME=mirrored-through:YYYY-MM-DD,prefix:P",
            ));
        }
    }
    if !spec.prefix.is_empty() && spec.mirrored_through.is_none() {
        return Err(usage(
            format!("--dest-bucket {s:?}: prefix: without mirrored-through:"),
            "the prefix only places the modelled mirror; give mirrored-through:DAY too",
        ));
    }
    Ok(spec)
}

/// The same month and day `years` years before `day` (29 Feb: 28 Feb).
pub fn years_before(day: Day, years: u32) -> Day {
    let (y, m, d) = civil_from_days(day);
    let y = y - years as i32;
    let d = if (m, d) == (2, 29) && civil_from_days(days_from_civil(y, 2, 29)).1 != 2 {
        28
    } else {
        d
    };
    days_from_civil(y, m, d)
}

/// The default `--as-of`: the latest day whose 12:00 UTC has passed.
pub fn default_as_of(now: i64) -> Day {
    let day = now.div_euclid(SECS_PER_DAY * 1000) as Day;
    if as_of_ms(day) <= now { day } else { day - 1 }
}

impl Args {
    pub fn resolve(self) -> Result<Settings, UsageError> {
        let listen: SocketAddr = self.listen.parse().map_err(|_| {
            usage(
                format!("--listen {:?} is not an address", self.listen),
                "give IP:PORT, e.g. 127.0.0.1:0 for any free port",
            )
        })?;
        let now = now_ms();
        let as_of = match &self.as_of {
            None => default_as_of(now),
            Some(s) => parse_day(s).ok_or_else(|| {
                usage(
                    format!("--as-of {s:?} is not a date"),
                    "write it as YYYY-MM-DD",
                )
            })?,
        };
        if as_of_ms(as_of) > now {
            return Err(usage(
                format!(
                    "--as-of {} is in the future (its 12:00 UTC has not passed)",
                    fmt_day(as_of)
                ),
                format!(
                    "clients such as s5cmd skip objects dated in the future; use {} or earlier",
                    fmt_day(default_as_of(now))
                ),
            ));
        }
        if as_of < crate::archive::archive_first_day() {
            return Err(usage(
                format!(
                    "--as-of {} is before the archive's first day",
                    fmt_day(as_of)
                ),
                "use 2017-07-15 or later",
            ));
        }
        let mut dests: Vec<DestSpec> = Vec::new();
        for d in &self.dest_buckets {
            let spec = dest_spec(d)?;
            if dests.iter().any(|x| x.name == spec.name) {
                return Err(usage(
                    format!("--dest-bucket {} is given twice", spec.name),
                    "give each destination bucket once",
                ));
            }
            dests.push(spec);
        }
        let latency = match (self.latency_ms, self.latency_p99_ms) {
            (0, None) => Latency::None,
            (0, Some(_)) => {
                return Err(usage(
                    "--latency-p99-ms without --latency-ms",
                    "give the median with --latency-ms N",
                ));
            }
            (m, None) => Latency::Fixed(Duration::from_millis(m)),
            (m, Some(p)) if p > m => Latency::LogNormal {
                median_ms: m as f64,
                p99_ms: p as f64,
            },
            (m, Some(p)) => {
                return Err(usage(
                    format!("--latency-p99-ms {p} is not above --latency-ms {m}"),
                    "the 99th percentile must exceed the median",
                ));
            }
        };
        for (flag, v) in [
            ("--read-rate", self.read_rate),
            ("--write-rate", self.write_rate),
        ] {
            if !(v >= 0.0 && v.is_finite()) {
                return Err(usage(
                    format!("{flag} {v} is not a rate"),
                    format!("give {flag} requests per second (0: no limit)"),
                ));
            }
        }
        let mut size_overrides = Vec::new();
        for o in &self.size_overrides {
            let parsed = o
                .rsplit_once('=')
                .and_then(|(k, v)| Some((k.to_string(), v.parse::<u64>().ok()?)));
            match parsed {
                Some((k, v)) if k.starts_with("data/") && k.ends_with(".zip") => {
                    size_overrides.push((k, v))
                }
                _ => {
                    return Err(usage(
                        format!("--size-override {o:?} is not KEY=BYTES"),
                        "name a source zip, e.g. data/spot/monthly/trades/BTCUSDT/BTCUSDT-trades-2024-03.zip=6000000000",
                    ));
                }
            }
        }
        let history_from = match self.history_years {
            None => None,
            Some(n @ 1..=20) => Some(years_before(as_of, n)),
            Some(n) => {
                return Err(usage(
                    format!("--history-years {n} is out of range"),
                    "use 1 to 20 (the archive starts in 2017; leave the flag out for all of it)",
                ));
            }
        };
        if self.threads == 0 || self.threads > 64 {
            return Err(usage(
                format!("--threads {} is out of range", self.threads),
                "use 1 to 64",
            ));
        }
        Ok(Settings {
            listen,
            as_of,
            snapshot_ms: as_of_ms(as_of),
            dests,
            dest_region: self.dest_region,
            source_region: self.source_region,
            model: self.model,
            latency,
            cross_region_copy: Duration::from_millis(self.cross_region_copy_ms),
            read_rate: self.read_rate,
            write_rate: self.write_rate,
            partition_depth: self.partition_depth,
            wrong_region: match self.wrong_region {
                WrongRegionArg::Malformed => WrongRegion::Malformed,
                WrongRegionArg::Redirect => WrongRegion::Redirect,
            },
            copy_error_fraction: fraction("--copy-error-fraction", self.copy_error_fraction)?,
            archive: ArchiveOptions {
                reupload_fraction: fraction("--reupload-fraction", self.reupload_fraction)?,
                hole_fraction: fraction("--hole-fraction", self.hole_fraction)?,
            },
            new_listings: !self.no_new_listings,
            history_from,
            size_overrides,
            max_kept_bytes: self.max_kept_mb.saturating_mul(1 << 20),
            stats_top: self.stats_top,
            threads: self.threads,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(extra: &[&str]) -> Args {
        let mut v = vec!["archive-sim"];
        v.extend_from_slice(extra);
        Args::parse_from(v)
    }

    #[test]
    fn dest_specs() {
        let d = dest_spec("lake=mirrored-through:2026-11-30,prefix:binance").unwrap();
        assert_eq!(d.prefix, "binance/");
        assert!(d.mirrored_through.is_some());
        assert!(dest_spec("lake").unwrap().mirrored_through.is_none());
        for bad in [
            "Lake",
            "ab",
            "lake=through:2026-01-01",
            "lake=mirrored-through:2026-13-01",
            "lake=prefix:x",
            "data.binance.vision",
        ] {
            let e = dest_spec(bad).unwrap_err();
            assert!(!e.hint.is_empty(), "{bad}");
        }
    }

    #[test]
    fn resolve_checks_values() {
        assert!(args(&["--as-of", "2025-05-01"]).resolve().is_ok());
        let e = args(&["--as-of", "2999-01-01"]).resolve().unwrap_err();
        assert!(e.message.contains("future"), "{e}");
        assert!(
            args(&["--latency-ms", "50", "--latency-p99-ms", "20"])
                .resolve()
                .is_err()
        );
        assert!(args(&["--copy-error-fraction", "2"]).resolve().is_err());
        assert!(args(&["--size-override", "x=1"]).resolve().is_err());
        let s = args(&[
            "--latency-ms",
            "50",
            "--latency-p99-ms",
            "200",
            "--dest-bucket",
            "a-b",
            "--dest-bucket",
            "c-d=mirrored-through:2025-01-01",
        ])
        .resolve()
        .unwrap();
        assert_eq!(s.dests.len(), 2);
        assert!(matches!(s.latency, Latency::LogNormal { .. }));
        assert!(
            args(&["--dest-bucket", "a-b", "--dest-bucket", "a-b"])
                .resolve()
                .is_err()
        );
    }

    #[test]
    fn history_years() {
        let s = args(&["--as-of", "2026-12-01", "--history-years", "8"])
            .resolve()
            .unwrap();
        assert_eq!(s.history_from.map(fmt_day).as_deref(), Some("2018-12-01"));
        let s = args(&["--as-of", "2026-12-01"]).resolve().unwrap();
        assert_eq!(s.history_from, None);
        for bad in ["0", "21"] {
            let e = args(&["--as-of", "2026-12-01", "--history-years", bad])
                .resolve()
                .unwrap_err();
            assert!(e.message.contains("--history-years"), "{e}");
            assert!(!e.hint.is_empty());
        }
        let leap = crate::time::days_from_civil(2024, 2, 29);
        assert_eq!(fmt_day(years_before(leap, 1)), "2023-02-28");
        assert_eq!(fmt_day(years_before(leap, 4)), "2020-02-29");
    }

    #[test]
    fn default_as_of_is_a_past_noon() {
        let day = crate::time::days_from_civil(2026, 12, 1);
        let at = |h: i64| (i64::from(day) * SECS_PER_DAY + h * 3600) * 1000;
        assert_eq!(default_as_of(at(13)), day);
        assert_eq!(default_as_of(at(11)), day - 1);
    }
}
