//! lakesync: mirror Binance's public market-data archive into your own S3 data lake.
//!
//! The folders follow the pipeline of a `sync` run, in order:
//!
//! | stage | module | owns |
//! |---|---|---|
//! | configure | [`cli`], [`settings`] | clap arguments, config file, environment -> one validated `Settings` |
//! | select | [`select`] | what part of the archive: narrowest listing prefixes, key filter, date ranges |
//! | list | [`list`] | streamed `s5cmd ls` listings, source manifests |
//! | plan | [`plan`] | the incremental merge against the destination, folder copies, batches, shards, the plan view |
//! | run | [`run`] | the attempt loop and its ledger, counters, direct and staged strategies, the governor, throttling per prefix |
//! | s5cmd | [`s5cmd`] | locating the binary, command files, the child process, its JSON output |
//! | validate | [`validate`] | the destination listing of each batch's copies while the next batches copy, SHA-256 against `.CHECKSUM`, `verify` |
//! | report | [`report`] | the JSON report, SLAs (also over the run history), history, metrics (last run, live, Pushgateway), merge, HTML, the cost estimate |
//!
//! [`commands`] drives the stages for each subcommand (`commands::sync`: a driver folding
//! events into one run state); [`os`] holds what touches the operating system (signals,
//! resource sampling, progress on the terminal, the private working folder); [`s3api`] is
//! lakesync's own small S3 client, for what s5cmd cannot do (incomplete multipart uploads).

/// `impl AddAssign` for a struct of counters that add up field by field. The struct is
/// destructured, so a field added to it and left out here does not compile (and is not
/// silently dropped when counts are folded together). After the summed fields, optional
/// groups: `max { .. }` fields keep the larger value, `or { .. }` flags are or-ed, and
/// `skip { .. }` fields (derived from the others, recomputed by the caller) are left as
/// they are.
macro_rules! add_assign_fields {
    ($ty:ident { $($field:ident),+ $(,)? }
     $(max { $($max:ident),+ $(,)? })?
     $(or { $($or:ident),+ $(,)? })?
     $(skip { $($skip:ident),+ $(,)? })?) => {
        impl std::ops::AddAssign for $ty {
            fn add_assign(&mut self, o: Self) {
                let $ty {
                    $($field,)+
                    $($($max,)+)?
                    $($($or,)+)?
                    $($($skip: _,)+)?
                } = o;
                $(self.$field += $field;)+
                $($(self.$max = self.$max.max($max);)+)?
                $($(self.$or |= $or;)+)?
            }
        }
    };
}

pub mod cli;
pub mod commands;
pub mod error;
pub mod exit_codes;
pub mod list;
pub mod os;
pub mod plan;
pub mod report;
pub mod run;
pub mod s3api;
pub mod s3url;
pub mod s5cmd;
pub mod select;
pub mod settings;
pub mod tables;
pub mod validate;
