//! archive-sim: parse the flags, run the server, map failures to exit codes
//! (2: bad usage, 3: cannot start).

use clap::Parser;

fn main() {
    let args = archive_sim::cli::Args::parse();
    let settings = match args.resolve() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("archive-sim: error: {}\nhint: {}", e.message, e.hint);
            std::process::exit(2);
        }
    };
    if let Err(e) = archive_sim::server::run(settings) {
        eprintln!("archive-sim: error: {e}\nhint: {}", e.hint());
        std::process::exit(3);
    }
}
