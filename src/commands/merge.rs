//! `lakesync report merge REPORT...`: read the shard reports, merge them
//! ([`crate::report::merge`]), print the merged report on stdout and a one-line summary on
//! stderr.

use crate::cli::{FailOnArg, MergeArgs};
use crate::commands::output;
use crate::error::Error;
use crate::report::sla::Status;

pub fn run(args: &MergeArgs) -> Result<i32, Error> {
    let mut reports = Vec::with_capacity(args.reports.len());
    for p in &args.reports {
        let name = p.display().to_string();
        let text = std::fs::read_to_string(p).map_err(|e| {
            Error::usage(
                format!("cannot read report {name}: {e}"),
                "pass the files written by `lakesync sync --report PATH`",
            )
        })?;
        let value = serde_json::from_str::<serde_json::Value>(&text).map_err(|e| {
            Error::usage(
                format!("report {name} is not JSON: {e}"),
                "pass the files written by `lakesync sync --report PATH` (not a --summary-line)",
            )
        })?;
        reports.push((name, value));
    }
    let fail_on = args.fail_on.map(|f| match f {
        FailOnArg::Warning => Status::Warning,
        FailOnArg::Critical => Status::Critical,
    });
    let merged = crate::report::merge::merge(&reports, fail_on)?;
    let code = merged["exit_code"].as_i64().unwrap_or(0) as i32;
    if output::stdout(&output::json(&merged)?)? == output::Wrote::ReaderGone {
        return Ok(code);
    }
    let t = &merged["totals"];
    eprintln!(
        "lakesync report merge: {} shard report(s): {} planned, {} copied, {} failed, {} validated; SLA {}",
        reports.len(),
        t["planned"],
        t["copied"],
        t["failed"],
        t["validated"],
        merged["sla_status"].as_str().unwrap_or("?")
    );
    Ok(code)
}
