//! What touches the operating system: signals, resource sampling, progress output.

pub mod progress;
pub mod resources;
pub mod signals;
