//! `lakesync tables`: turn mirrored archive zips into query-ready Parquet tables.
//!
//! `schema` holds each data type's columns, and `convert` is the pure converter core (one
//! zip -> one Parquet file, validated).

pub mod convert;
pub mod schema;
