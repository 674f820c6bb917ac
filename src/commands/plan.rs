//! `lakesync plan`: a dry run whose output is the plan view (what would be copied and
//! skipped, and why, by archive folder) as a table or JSON on stdout, with how the
//! selection would be listed: for every data-type folder whose symbols the selection leaves
//! open, the symbols discovery finds and whether one whole listing or narrowed prefixes is
//! cheaper ([`crate::list::discover::choose`]), and what copying the planned objects would
//! cost server-side (direct) and staged, side by side ([`crate::report::cost::of_plan`]).

use std::sync::{Arc, Mutex};

use crate::cli::{FormatArg, PlanArgs};
use crate::commands::{Ui, install_signals, output, runtime, settings};
use crate::error::Error;
use crate::plan::view::PlanGroups;
use crate::report::{Report, cost};

pub fn run(args: &PlanArgs, ui: Ui) -> Result<i32, Error> {
    let mut settings = settings(&args.sync, ui)?;
    let rt = runtime()?;
    settings.output.dry_run = true;
    let groups = Arc::new(Mutex::new(PlanGroups::default()));
    let report = rt.block_on(async {
        super::sync::run_with(&settings, install_signals()?, Some(groups.clone())).await
    })?;
    if let Some(e) = &report.error {
        crate::error::eprint(&e.message, &e.hint);
        return Ok(report.exit_code);
    }
    let (start, end) = settings
        .selection
        .as_ref()
        .map_or((None, None), |s| s.date_range());
    let g = groups
        .lock()
        .map_err(|_| Error::internal("the plan was not readable"))?;
    // How the selection's open folders were listed (discovery + the cost choice), exactly
    // as the run did it.
    let listing = (!g.listing.is_empty()).then(|| (g.listing.clone(), report.listing.discovery));
    // What the planned objects would cost each way, with the listings this dry run made.
    let l = &report.listing;
    let (direct, staged) = cost::of_plan(
        &g.sizes,
        cost::Listed {
            source: l.source.requests + l.discovery.requests,
            dest: l.dest.requests,
        },
        &settings.prices,
        &settings.cost_route(),
    );
    let text = match args.format {
        FormatArg::Text => {
            let mut t = g.render_table(start, end);
            t.push_str(&cost::render_side_by_side(&direct, &staged));
            t.into_bytes()
        }
        FormatArg::Json => {
            let mut j = plan_json(&g, &report, start, end);
            j["cost"] = serde_json::json!({ "direct": direct, "staged": staged });
            if let Some((choices, counts)) = &listing {
                j["listing"] = serde_json::json!({
                    "discovery_requests": counts.requests,
                    "folders": choices,
                });
            }
            output::json(&j)?
        }
    };
    // A closed stdout (`| head`) ends the table quietly; the summary still goes to stderr.
    output::stdout(&text)?;
    if !ui.quiet {
        if let Some((choices, counts)) = &listing {
            eprintln!("listing ({} discovery requests):", counts.requests);
            for c in choices {
                eprintln!("  {c}");
            }
        }
        eprint!("{}", report.human_summary());
    }
    Ok(report.exit_code)
}

/// The plan view as JSON, with what was planned from where.
fn plan_json(
    groups: &PlanGroups,
    report: &Report,
    start: Option<jiff::civil::Date>,
    end: Option<jiff::civil::Date>,
) -> serde_json::Value {
    let mut j = groups.to_json(start, end);
    j["source"] = serde_json::json!(report.run.source);
    j["dest"] = serde_json::json!(report.run.dest);
    j["selection"] = serde_json::json!(report.run.selection);
    j["batches"] = serde_json::json!(report.totals.batches);
    j
}
