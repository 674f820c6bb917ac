//! lakesync: mirror Binance's public market-data archive into your own S3 data lake.
//!
//! The pipeline, one module per stage:
//! `settings` (validated configuration) -> `select` (what part of the archive) ->
//! `list` (streamed s5cmd listings) -> `plan` (incremental merge against the destination) ->
//! `batch` -> `s5cmd` (command files, the child process, its JSON output) -> `execute`
//! (attempts, retries, outcomes) -> `validate` -> `report`.
//! `sync` drives the stages in order.

pub mod archive;
pub mod batch;
pub mod checksum;
pub mod cli;
pub mod config;
pub mod error;
pub mod execute;
pub mod exit_codes;
pub mod folders;
pub mod governor;
pub mod history;
pub mod html;
pub mod list;
pub mod manifest;
pub mod merge;
pub mod metrics;
pub mod plan;
pub mod planview;
pub mod progress;
pub mod report;
pub mod resources;
pub mod s3url;
pub mod s5cmd;
pub mod select;
pub mod settings;
pub mod shard;
pub mod signals;
pub mod sla;
pub mod staged;
pub mod sync;
pub mod validate;
pub mod verify;
