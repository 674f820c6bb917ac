//! `lakesync tables`: turn mirrored archive zips into query-ready Parquet tables,
//! incrementally.
//!
//! The stages, one module each:
//! `settings` (flags -> validated settings) -> `plan` (the source zips joined with the
//! destination tables, streamed; what to build and why) -> `run` (batches: s5cmd downloads,
//! SHA-256 verification, conversion on every core, s5cmd uploads) -> `report`.
//! `layout` maps archive keys to table partitions, `schema` holds each data type's
//! columns, `convert` is the pure converter core (one zip -> one Parquet file, validated),
//! and `command` is the application edge (report files, history, metrics, exit codes).

pub mod command;
pub mod convert;
pub mod layout;
pub mod plan;
pub mod report;
pub mod run;
pub mod schema;
pub mod settings;
