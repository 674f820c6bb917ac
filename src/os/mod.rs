//! What touches the operating system: signals, resource sampling, progress output, the
//! private working folder.

pub mod progress;
pub mod resources;
pub mod signals;
pub mod workdir;
