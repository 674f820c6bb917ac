//! Everything about the s5cmd binary: finding it (`locate`), writing its command files
//! (`cmdfile`), running it (`process`) and reading what it prints (`output`).

pub mod cmdfile;
pub mod locate;
pub mod output;
pub mod process;

pub use locate::{S5cmdBinary, locate};
pub use output::{ErrorClass, Event, ListEntry, classify_error, parse_line};
pub use process::{ChildExit, Globals, Pipe};
