//! Documented exit codes (also in the README). Airflow and Makefiles act on these.

/// Every planned object is in place and validated (or nothing needed copying).
pub const OK: i32 = 0;
/// Some objects failed; they are listed in the report's `failures`.
pub const OBJECTS_FAILED: i32 = 1;
/// Invalid usage or configuration: nothing was attempted.
pub const USAGE: i32 = 2;
/// The environment stopped the run: s5cmd missing/unusable, endpoint unreachable, bucket
/// missing, credentials refused, temp dir unusable. Nothing was copied by this run unless
/// the report says otherwise.
pub const ENVIRONMENT: i32 = 3;
/// Every object is in place, but an SLA check breached the `--fail-on` level.
pub const SLA_BREACH: i32 = 4;
/// A failure inside lakesync itself (a bug): please report it.
pub const INTERNAL: i32 = 70;
/// Interrupted by SIGINT (128 + 2); a partial report was written.
pub const INTERRUPTED_SIGINT: i32 = 130;
/// Interrupted by SIGTERM (128 + 15), e.g. Airflow killing the task; a partial report was written.
pub const INTERRUPTED_SIGTERM: i32 = 143;
