//! `lakesync report HISTORY`: summarise a history file as text or JSON on stdout; with
//! `--html OUT`, render a run report or a history file as one HTML page.

use std::path::Path;

use crate::cli::{FormatArg, ReportAction, ReportArgs};
use crate::commands::output;
use crate::error::Error;
use crate::exit_codes;
use crate::report::{history, html};

pub fn run(args: &ReportArgs) -> Result<i32, Error> {
    if let Some(ReportAction::Merge(m)) = &args.action {
        return super::merge::run(m);
    }
    let Some(history) = &args.history else {
        return Err(Error::usage(
            "lakesync report needs a history file or `merge REPORT...`",
            "lakesync report HISTORY.jsonl, or lakesync report merge shard-*.json",
        ));
    };
    if let Some(out) = &args.html {
        return render_html(history, out);
    }
    let summary = history::summarise(history).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            Error::usage(
                format!("history file {} does not exist", history.display()),
                "pass the file given to `lakesync sync --history PATH`",
            )
        } else {
            Error::env(
                format!("cannot read history file {}: {e}", history.display()),
                "check the path and its permissions",
            )
        }
    })?;
    let text = match args.format {
        FormatArg::Text => history::render_text(&summary).into_bytes(),
        FormatArg::Json => output::json(&summary)?,
    };
    output::stdout(&text)?;
    Ok(exit_codes::OK)
}

/// `lakesync report --html OUT INPUT`: a run report (JSON) or a history file (JSON lines).
fn render_html(input: &Path, out: &Path) -> Result<i32, Error> {
    let text = std::fs::read_to_string(input).map_err(|e| {
        Error::usage(
            format!("cannot read {}: {e}", input.display()),
            "pass a report (sync --report PATH) or a history file (sync --history PATH)",
        )
    })?;
    let page = match serde_json::from_str::<serde_json::Value>(&text) {
        Ok(report) if report.get("command").is_some() => html::render_run(&report),
        _ => match history::summarise_reader(std::io::Cursor::new(text.as_bytes())) {
            Ok(s) if s.runs > 0 => {
                let v = serde_json::to_value(&s)
                    .map_err(|e| Error::internal(format!("cannot render: {e}")))?;
                html::render_history(&v)
            }
            _ => {
                return Err(Error::usage(
                    format!(
                        "{} is neither a lakesync report nor a history file",
                        input.display()
                    ),
                    "pass the file written by `sync --report PATH`, `report merge`, or `sync --history PATH`",
                ));
            }
        },
    };
    crate::report::metrics::write_atomic(out, &page).map_err(|e| {
        Error::env(
            format!("cannot write {}: {e}", out.display()),
            "check that the folder exists and is writable",
        )
    })?;
    eprintln!("lakesync report: wrote {}", out.display());
    Ok(exit_codes::OK)
}
