//! Typed errors shared by the library modules.
//!
//! Every user-facing error says what failed and the value involved, and carries a `hint`
//! with the fix. `main` prints `error: {message}` then `hint: {hint}` and maps the kind to an
//! exit code (see `exit_codes`).

use std::fmt;

/// Invalid flags, values or configuration: exit code 2.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageError {
    pub message: String,
    pub hint: String,
}

impl UsageError {
    pub fn new(message: impl Into<String>, hint: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            hint: hint.into(),
        }
    }
}

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for UsageError {}

/// The environment stops the run before any object is attempted (s5cmd missing or unusable,
/// endpoint unreachable, bucket missing, credentials refused, temp dir unusable): exit code 3.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvError {
    pub message: String,
    pub hint: String,
}

impl EnvError {
    pub fn new(message: impl Into<String>, hint: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            hint: hint.into(),
        }
    }
}

impl fmt::Display for EnvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for EnvError {}
