//! lakesync's integration tests, one binary (one link of the crate, one set of helpers).
//!
//! Each module runs the real lakesync binary against the real s5cmd and a real local S3
//! server (moto, started per test on a free 127.0.0.1 port by [`common`]). The fake s5cmd
//! (`crates/fake-s5cmd`) adds failures a real server cannot produce on demand.

mod common;
mod support;

mod airflow_e2e;
mod archive_sim;
mod chaos;
mod closed_pipe;
mod config;
mod cost;
mod doctor;
mod fault_proxy_selftest;
mod faults;
mod folder_copies;
mod governor;
mod hostile_keys;
mod html_report;
mod listing_scale;
mod multipart;
mod prometheus;
mod reliability;
mod report_fields;
mod shards;
mod sla_history;
mod staging_space;
mod sync_direct;
mod sync_staged;
mod tables;
mod throttling;
mod validation;
mod wheel;
