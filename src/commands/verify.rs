//! `lakesync verify`: compare the destination with the selected source
//! ([`crate::validate::verify`]), write the report, print the summary.

use crate::cli::VerifyArgs;
use crate::commands::{Ui, emit, install_signals, runtime, settings};
use crate::error::Error;

pub fn run(args: &VerifyArgs, ui: Ui) -> Result<i32, Error> {
    let settings = settings(&args.sync, ui)?;
    let rt = runtime()?;
    let report = rt.block_on(async {
        crate::validate::verify::run(&settings, args.deep, install_signals()?).await
    })?;
    let Some(code) = emit(&report, settings.output.report.as_ref(), report.exit_code) else {
        return Ok(report.exit_code);
    };
    if !ui.quiet {
        eprint!("{}", report.human_summary());
    }
    Ok(code)
}
