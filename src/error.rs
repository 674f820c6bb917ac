//! The one user-facing error type, and the one place that prints it.
//!
//! Every error a user can see says what failed with the value involved (`message`) and how
//! to fix it (`hint`); its [`Kind`] decides the documented exit code. Library modules with
//! richer errors of their own (listing, checksums, command files) turn them into an
//! [`Error`] where they reach a command. [`Error::eprint`] writes it in the house voice:
//!
//! ```text
//! error: invalid --workers value 0: allowed 1..=50
//! hint: pass --workers between 1 and 50 (spec 2.2.2; 8-16 suits most workloads)
//! ```

use std::fmt;

use crate::exit_codes;

/// What kind of failure, which fixes the exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Invalid flags, values or configuration: nothing was attempted (exit 2).
    Usage,
    /// The environment stops the work: s5cmd missing or unusable, endpoint unreachable,
    /// bucket missing, credentials refused, a file that cannot be read or written (exit 3).
    Environment,
    /// A failure inside lakesync itself, a bug (exit 70).
    Internal,
}

/// A failure the user sees: what failed, the value involved, and the fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Error {
    kind: Kind,
    message: String,
    hint: String,
}

/// The hint of every internal error: there is nothing for the user to fix.
const BUG_HINT: &str =
    "this is a bug in lakesync: please report it with the command line and this message";

impl Error {
    /// Invalid usage or configuration (exit 2).
    pub fn usage(message: impl Into<String>, hint: impl Into<String>) -> Self {
        Self::new(Kind::Usage, message, hint)
    }

    /// The environment stopped the work (exit 3).
    pub fn env(message: impl Into<String>, hint: impl Into<String>) -> Self {
        Self::new(Kind::Environment, message, hint)
    }

    /// A bug in lakesync (exit 70); the hint asks for a report.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(Kind::Internal, message, BUG_HINT)
    }

    pub fn new(kind: Kind, message: impl Into<String>, hint: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            hint: hint.into(),
        }
    }

    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// What failed, with the value involved.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// How to fix it.
    pub fn hint(&self) -> &str {
        &self.hint
    }

    /// The same error with `context: ` in front of the message (the hint stays).
    #[must_use]
    pub fn context(mut self, context: impl fmt::Display) -> Self {
        self.message = format!("{context}: {}", self.message);
        self
    }

    /// The documented exit code for this error.
    pub fn exit_code(&self) -> i32 {
        match self.kind {
            Kind::Usage => exit_codes::USAGE,
            Kind::Environment => exit_codes::ENVIRONMENT,
            Kind::Internal => exit_codes::INTERNAL,
        }
    }

    /// Print on stderr in the house voice (`error: ...` then `hint: ...`).
    pub fn eprint(&self) {
        eprint(&self.message, &self.hint);
    }
}

/// The one printer of user-facing errors: `error: MESSAGE`, then `hint: HINT` when there is
/// one. Also used for the `error` a partial report carries.
pub fn eprint(message: &str, hint: &str) {
    eprintln!("{}", render(message, hint));
}

fn render(message: &str, hint: &str) -> String {
    if hint.is_empty() {
        format!("error: {message}")
    } else {
        format!("error: {message}\nhint: {hint}")
    }
}

impl From<Error> for crate::report::RunFailure {
    fn from(e: Error) -> Self {
        Self {
            message: e.message,
            hint: e.hint,
        }
    }
}

// The sync pipeline still wraps its errors in `RunError`; it is one of these.
impl From<crate::commands::sync::RunError> for Error {
    fn from(e: crate::commands::sync::RunError) -> Self {
        match e {
            crate::commands::sync::RunError::Env(e) => e,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_map_to_the_documented_exit_codes() {
        assert_eq!(Error::usage("m", "h").exit_code(), 2);
        assert_eq!(Error::env("m", "h").exit_code(), 3);
        assert_eq!(Error::internal("m").exit_code(), 70);
    }

    #[test]
    fn printed_in_the_house_voice() {
        let e = Error::usage("invalid --workers value 0: allowed 1..=50", "pass 8");
        assert_eq!(
            render(e.message(), e.hint()),
            "error: invalid --workers value 0: allowed 1..=50\nhint: pass 8"
        );
        assert_eq!(render("m", ""), "error: m", "never an empty hint line");
        assert!(!Error::internal("x").hint().is_empty());
        assert_eq!(e.to_string(), e.message());
        let c = Error::env("no such file", "h").context("report a.json");
        assert_eq!(c.message(), "report a.json: no such file");
        assert_eq!(c.hint(), "h");
    }
}
