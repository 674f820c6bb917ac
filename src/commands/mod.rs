//! The subcommands: each drives the pipeline's stages for one job.

pub mod plan;
pub mod sync;
