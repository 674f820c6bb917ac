//! `lakesync report merge REPORT...`: read the shard reports, merge them
//! ([`crate::report::merge`]), print the merged report on stdout and a one-line summary on
//! stderr.

use crate::cli::{FailOnArg, MergeArgs};
use crate::commands::output;
use crate::error::Error;
use crate::report::merge;

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
        let report = merge::parse(&name, &text)?;
        reports.push((name, report));
    }
    let fail_on = args.fail_on.map(FailOnArg::status);
    let merged = merge::merge(reports, fail_on)?;
    let r = &merged.report;
    if output::stdout(&output::json(&merged.to_json()?)?)? == output::Wrote::ReaderGone {
        return Ok(r.exit_code);
    }
    let t = &r.totals;
    eprintln!(
        "lakesync report merge: {} shard report(s): {} planned, {} copied, {} failed, {} validated; SLA {}",
        merged.shards.len(),
        t.planned,
        t.copied,
        t.failed,
        t.validated,
        r.sla_status.as_str()
    );
    Ok(r.exit_code)
}
