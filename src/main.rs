//! The `lakesync` binary: parse the command line, call a command, map the result to an
//! exit code. Everything else lives in the library (`lakesync::commands`).

use std::process::ExitCode;

use lakesync::cli::{self, Command, LogFormat};
use lakesync::commands::{self, Ui};
use lakesync::error::Error;

fn init_logging(verbose: u8, format: LogFormat) {
    let default = match verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("LAKESYNC_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(format!("lakesync={default}")));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(
            std::env::var_os("NO_COLOR").is_none()
                && std::io::IsTerminal::is_terminal(&std::io::stderr()),
        )
        .with_target(false);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().flatten_event(true).init(),
    }
}

fn run(argv: &[std::ffi::OsString]) -> Result<i32, Error> {
    if argv.len() == 2 && (argv[1] == "--version" || argv[1] == "-V") {
        return commands::version();
    }
    let cli = cli::parse(argv)?;
    init_logging(cli.verbose, cli.log_format);
    let ui = Ui {
        quiet: cli.quiet,
        progress_interval: cli.progress_interval,
    };
    match &cli.command {
        Command::Sync(args) => commands::run_sync(args, ui),
        Command::Verify(args) => commands::verify::run(args, ui),
        Command::Plan(args) => commands::plan::run(args, ui),
        Command::Tables(args) => lakesync::tables::command::main(args, ui.quiet),
        Command::Doctor(args) => commands::doctor::command(args, ui, argv),
        Command::Report(args) => commands::report::run(args),
        Command::Completions { shell } => commands::completions::completions(*shell),
        Command::Man => commands::completions::man(),
    }
}

fn main() -> ExitCode {
    let argv: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let code = run(&argv).unwrap_or_else(|e| {
        e.eprint();
        e.exit_code()
    });
    ExitCode::from(u8::try_from(code).unwrap_or(u8::MAX))
}
