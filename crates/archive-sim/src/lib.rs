//! archive-sim: an S3-compatible server that serves a synthetic but faithful
//! `s3://data.binance.vision` at full size (about 1.5 x 10^8 keys) without storing it, plus
//! destination buckets that can start as a mirror of it, with WAN latency, per-prefix
//! throttling and regions. An instrument for lakesync's tests and benchmarks; never
//! installed with lakesync.
//!
//! Pipeline of a request: [`server`] (HTTP, latency, shutdown) -> [`s3`] (routing, auth
//! scope, S3 errors and XML) -> [`buckets`] (source and destination buckets) -> [`listing`]
//! over [`cursor`] (keys in byte order) over [`archive`] (series built from [`model`]) ->
//! [`object`] (per-key size, ETag, dates) and [`content`] (the bytes: a zip with a CSV).

pub mod archive;
pub mod buckets;
pub mod cli;
pub mod content;
pub mod cursor;
pub mod hash;
pub mod limits;
pub mod listing;
pub mod model;
pub mod object;
pub mod s3;
pub mod server;
pub mod stats;
pub mod time;
