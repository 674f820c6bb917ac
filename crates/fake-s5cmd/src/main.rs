//! Test helper, not for production use: a stand-in for s5cmd that runs the REAL s5cmd
//! (`LAKESYNC_FAKE_REAL`) and adds, on demand, the failures a real server cannot produce
//! at will. lakesync's integration tests point `--s5cmd` at it.
//!
//! Behaviours, chosen by environment variables, applied only to `run` invocations with a
//! command file of anything but `ls` lines (a run file of `ls` lines only, and a `run` fed
//! on stdin, as a batch's CHECKSUMs are while their zips copy, are passed through):
//! - `LAKESYNC_FAKE_BEFORE_RUN="rm s3://b/k"`: run this s5cmd subcommand (with the same
//!   global flags) first, e.g. to delete a source object between listing and copying.
//! - `LAKESYNC_FAKE_AFTER_RUN="rm s3://b/k"`: run this s5cmd subcommand after the real run
//!   ended (its output already handed on), e.g. to delete an object s5cmd reported copied,
//!   as a destination that acknowledged a copy and lost it would.
//! - `LAKESYNC_FAKE_NOISE=1`: print non-JSON lines (usage text, a truncated JSON line) on
//!   stdout and stderr around the real output.
//! - `LAKESYNC_FAKE_HANG=1`: never finish (sleep), to exercise the batch watchdog.
//! - `LAKESYNC_FAKE_EXIT=N`: print nothing and exit with code N.
//! - `LAKESYNC_FAKE_SWALLOW=N`: run for real but drop the first N success lines, so those
//!   objects have no outcome line ("unknown").
//! - `LAKESYNC_FAKE_PACE_MS=N`: run for real but hand each success line on N ms after the
//!   one before, like a slow server, so a run's progress can be watched.
//! - `LAKESYNC_FAKE_LS_PACE_MS=N` (for `ls` invocations, the only behaviour that is): hand
//!   each listing line on N ms after the one before, like a slow listing of a large
//!   bucket, so that batches copy while the listing goes on.
//! - `LAKESYNC_FAKE_ONCE=PATH`: apply the behaviours above to the first `run` only (the
//!   helper creates PATH to remember it ran); later runs pass straight through.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, ExitCode, Stdio};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(real) = std::env::var_os("LAKESYNC_FAKE_REAL") else {
        eprintln!("lakesync-test-s5cmd: set LAKESYNC_FAKE_REAL to the real s5cmd binary");
        return ExitCode::from(64);
    };
    let run_at = args.iter().position(|a| a == "run");
    let Some(run_at) = run_at else {
        let ls_pace = std::env::var("LAKESYNC_FAKE_LS_PACE_MS")
            .ok()
            .and_then(|v| v.parse().ok())
            .map(std::time::Duration::from_millis);
        if let (Some(pace), true) = (ls_pace, args.iter().any(|a| a == "ls")) {
            return paced(Command::new(&real).args(&args), pace);
        }
        // Listings, `version`, ...: pass straight through.
        return passthrough(Command::new(&real).args(&args));
    };
    // A run file of `ls` lines only is a grouped listing, not a copy: pass it through too.
    let listing_only = args
        .get(run_at + 1)
        .and_then(|f| std::fs::read_to_string(f).ok())
        .is_some_and(|text| {
            let mut lines = text.lines().filter(|l| !l.trim().is_empty()).peekable();
            lines.peek().is_some() && lines.all(|l| l.starts_with("ls "))
        });
    // A `run` fed on stdin (no file): passed through, its stdin inherited.
    let fed = args.get(run_at + 1).is_none();
    if listing_only || fed {
        return passthrough(Command::new(&real).args(&args));
    }
    let globals: Vec<&String> = {
        let mut g = Vec::new();
        let mut i = 0;
        while i < run_at {
            if args[i] == "--numworkers" {
                i += 2;
                continue;
            }
            g.push(&args[i]);
            i += 1;
        }
        g
    };
    if let Some(marker) = std::env::var_os("LAKESYNC_FAKE_ONCE") {
        if std::path::Path::new(&marker).exists() {
            return passthrough(Command::new(&real).args(&args));
        }
        let _ = std::fs::write(&marker, b"ran");
    }
    if let Ok(code) = std::env::var("LAKESYNC_FAKE_EXIT") {
        return ExitCode::from(code.parse::<u8>().unwrap_or(1));
    }
    if std::env::var_os("LAKESYNC_FAKE_HANG").is_some() {
        loop {
            std::thread::sleep(std::time::Duration::from_secs(3600));
        }
    }
    side_command(&real, &globals, "LAKESYNC_FAKE_BEFORE_RUN");
    let noise = std::env::var_os("LAKESYNC_FAKE_NOISE").is_some();
    let mut swallow: usize = std::env::var("LAKESYNC_FAKE_SWALLOW")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    if noise {
        println!("NAME:\n   s5cmd - Blazing fast S3 and local filesystem execution tool");
        eprintln!("WARNING: this is not JSON");
    }
    let child = Command::new(&real)
        .args(&args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) => {
            eprintln!("lakesync-test-s5cmd: cannot start the real s5cmd: {e}");
            return ExitCode::from(1);
        }
    };
    let pace = std::env::var("LAKESYNC_FAKE_PACE_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .map(std::time::Duration::from_millis);
    let stdout = std::io::stdout();
    if let Some(out) = child.stdout.take() {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            let success = line.contains("\"success\":true");
            if swallow > 0 && success {
                swallow -= 1;
                continue;
            }
            if let (Some(p), true) = (pace, success) {
                std::thread::sleep(p);
            }
            let mut lock = stdout.lock();
            let _ = writeln!(lock, "{line}");
            let _ = lock.flush();
        }
    }
    if noise {
        println!("{{\"operation\":\"cp\",\"success\":true,\"source\":\"s3://trunc");
    }
    let code = child.wait().map(|s| s.code().unwrap_or(1)).unwrap_or(1);
    side_command(&real, &globals, "LAKESYNC_FAKE_AFTER_RUN");
    ExitCode::from(code as u8)
}

/// Run the s5cmd subcommand in the environment variable `var`, if set, with the run's
/// global flags; its output is dropped, a failure is said on stderr.
fn side_command(real: &std::ffi::OsStr, globals: &[&String], var: &str) {
    let Ok(command) = std::env::var(var) else {
        return;
    };
    let status = Command::new(real)
        .args(globals)
        .args(command.split_whitespace())
        .stdout(Stdio::null())
        .status();
    if !matches!(status, Ok(s) if s.success()) {
        eprintln!("lakesync-test-s5cmd: the {var} command failed: {status:?}");
    }
}

fn passthrough(cmd: &mut Command) -> ExitCode {
    match cmd.status() {
        Ok(s) => ExitCode::from(s.code().unwrap_or(1) as u8),
        Err(e) => {
            eprintln!("lakesync-test-s5cmd: cannot start the real s5cmd: {e}");
            ExitCode::from(1)
        }
    }
}

/// Run `cmd`, handing each stdout line on `pace` after the one before.
fn paced(cmd: &mut Command, pace: std::time::Duration) -> ExitCode {
    let mut child = match cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
    {
        Ok(c) => c,
        Err(e) => {
            eprintln!("lakesync-test-s5cmd: cannot start the real s5cmd: {e}");
            return ExitCode::from(1);
        }
    };
    let stdout = std::io::stdout();
    if let Some(out) = child.stdout.take() {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            std::thread::sleep(pace);
            let mut lock = stdout.lock();
            let _ = writeln!(lock, "{line}");
            let _ = lock.flush();
        }
    }
    let code = child.wait().map(|s| s.code().unwrap_or(1)).unwrap_or(1);
    ExitCode::from(code as u8)
}
