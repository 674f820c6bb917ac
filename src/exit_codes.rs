//! The documented exit codes: the constants the code uses, and [`TABLE`], the one
//! description of them that `--help`, the HTML report and the README's table are made from
//! (a test checks the README against it). Airflow and Makefiles act on these.

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

/// One documented exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Documented {
    /// The code; `None` for the one the user chooses (`--exit-code-when-nothing-to-do N`).
    pub code: Option<i32>,
    /// A short headline word, as the HTML report shows it.
    pub name: &'static str,
    /// What it means (Markdown: `backticks` mark flags and fields).
    pub meaning: &'static str,
}

impl Documented {
    /// The code as the tables show it: the number, or `N`.
    pub fn label(&self) -> String {
        self.code.map_or_else(|| "N".to_string(), |c| c.to_string())
    }
}

const fn row(code: i32, name: &'static str, meaning: &'static str) -> Documented {
    Documented {
        code: Some(code),
        name,
        meaning,
    }
}

/// Every documented exit code, in the order the README lists them.
pub const TABLE: &[Documented] = &[
    row(
        OK,
        "OK",
        "every planned object is in place and validated (or nothing needed copying)",
    ),
    row(
        OBJECTS_FAILED,
        "FAILED",
        "some objects failed: listed in the report's `failures` (for `verify`: mismatches found)",
    ),
    row(
        USAGE,
        "USAGE ERROR",
        "invalid usage or configuration; nothing was attempted",
    ),
    row(
        ENVIRONMENT,
        "STOPPED",
        "environment error: s5cmd missing or unusable, endpoint unreachable, bucket missing, \
         credentials refused, a bucket in another region than its requests were signed for, \
         temp dir unusable, listing failed",
    ),
    row(
        SLA_BREACH,
        "SLA BREACH",
        "every object is in place, but an SLA check breached the `--fail-on` level",
    ),
    Documented {
        code: None,
        name: "NOTHING TO DO",
        meaning: "`--exit-code-when-nothing-to-do N`: nothing needed copying",
    },
    row(
        INTERNAL,
        "INTERNAL ERROR",
        "internal error in lakesync (a bug): please report it",
    ),
    row(
        INTERRUPTED_SIGINT,
        "INTERRUPTED",
        "interrupted by SIGINT; the partial report says `\"interrupted\": true`",
    ),
    row(
        INTERRUPTED_SIGTERM,
        "INTERRUPTED",
        "interrupted by SIGTERM (e.g. Airflow stopping the task); the partial report says \
         `\"interrupted\": true`",
    ),
];

/// The documented entry for a fixed code, if there is one.
pub fn describe(code: i32) -> Option<&'static Documented> {
    TABLE.iter().find(|d| d.code == Some(code))
}

/// The `Exit codes:` section of `--help`.
pub fn help_text() -> String {
    let mut s = String::from("Exit codes:\n");
    for d in TABLE {
        s.push_str(&format!(
            "  {:>4}  {}\n",
            d.label(),
            d.meaning.replace('`', "")
        ));
    }
    s.pop();
    s
}

/// The README's table (`| code | name | meaning |`), as Markdown lines.
pub fn markdown_table() -> String {
    let mut s = String::from("| code | name | meaning |\n|---|---|---|\n");
    for d in TABLE {
        s.push_str(&format!("| {} | {} | {} |\n", d.label(), d.name, d.meaning));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_constant_is_documented_once() {
        for c in [
            OK,
            OBJECTS_FAILED,
            USAGE,
            ENVIRONMENT,
            SLA_BREACH,
            INTERNAL,
            INTERRUPTED_SIGINT,
            INTERRUPTED_SIGTERM,
        ] {
            assert_eq!(TABLE.iter().filter(|d| d.code == Some(c)).count(), 1, "{c}");
        }
        assert_eq!(TABLE.len(), 9, "8 constants and N");
    }

    /// The README's "Exit codes" table is this table, row for row.
    #[test]
    fn the_readme_table_matches() {
        let readme = include_str!("../README.md");
        let section = readme
            .split("\n## Exit codes\n")
            .nth(1)
            .expect("README has an Exit codes section");
        let table: String = section
            .lines()
            .skip_while(|l| !l.starts_with('|'))
            .take_while(|l| l.starts_with('|'))
            .map(|l| format!("{l}\n"))
            .collect();
        assert_eq!(
            table,
            markdown_table(),
            "README.md's exit-code table differs from exit_codes::TABLE"
        );
    }

    #[test]
    fn help_lists_every_code() {
        let help = help_text();
        for d in TABLE {
            assert!(help.contains(&format!(" {}  ", d.label())), "{help}");
        }
    }
}
