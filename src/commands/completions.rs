//! `lakesync completions SHELL` and `lakesync man`: generated from the clap definition,
//! rendered in memory first so a closed stdout is a quiet end (clap_complete panics on a
//! failed write).

use clap::CommandFactory;

use crate::cli::{Cli, Shell};
use crate::commands::output;
use crate::error::Error;
use crate::exit_codes;

pub fn completions(shell: Shell) -> Result<i32, Error> {
    let shell = match shell {
        Shell::Bash => clap_complete::Shell::Bash,
        Shell::Zsh => clap_complete::Shell::Zsh,
        Shell::Fish => clap_complete::Shell::Fish,
    };
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "lakesync", &mut script);
    output::stdout(&script)?;
    Ok(exit_codes::OK)
}

pub fn man() -> Result<i32, Error> {
    let mut page = Vec::new();
    clap_mangen::Man::new(Cli::command())
        .render(&mut page)
        .map_err(|e| Error::internal(format!("cannot render the man page: {e}")))?;
    output::stdout(&page)?;
    Ok(exit_codes::OK)
}
