//! A closed stdout is a quiet end (issue 15 item 3): every command that writes data on
//! stdout exits as it would have, with nothing on stderr about the pipe and no panic, when
//! the reader is gone (`lakesync completions bash | head -c 20`).

use std::process::Stdio;

use crate::common::cli::command;
use crate::common::{Seed, Sync};

/// Run lakesync with stdout a pipe whose reading end is already closed, so its first write
/// fails with EPIPE (Rust ignores SIGPIPE: the write returns BrokenPipe).
fn with_closed_stdout(args: &[&str]) -> (i32, String) {
    let (reader, writer) = std::io::pipe().expect("pipe");
    drop(reader);
    let out = command()
        .args(args)
        .stdout(writer)
        .stderr(Stdio::piped())
        .output()
        .expect("cannot run lakesync");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn every_stdout_writer_ends_quietly_on_a_closed_pipe() {
    let (moto, _dir) = Seed::archives(3).start();
    let state = tempfile::tempdir().unwrap();
    let history_file = state.path().join("history.jsonl");
    let sync_argv = Sync::new(&moto)
        .history(&history_file)
        .args(["--summary-line", "-q"])
        .argv();
    let history = history_file.to_str().unwrap();
    let plan_argv = Sync::new(&moto)
        .command("plan")
        .args(["--format", "json", "-q"])
        .argv();
    let sync: Vec<&str> = sync_argv.iter().map(String::as_str).collect();
    let plan: Vec<&str> = plan_argv.iter().map(String::as_str).collect();
    // The sync first: it writes the history the report commands read.
    let cases: Vec<Vec<&str>> = vec![
        sync,
        vec!["--version"],
        vec!["man"],
        vec!["completions", "bash"],
        vec!["completions", "zsh"],
        vec!["completions", "fish"],
        plan,
        vec!["report", history],
        vec!["report", history, "--format", "json"],
    ];
    for args in cases {
        let (code, stderr) = with_closed_stdout(&args);
        assert_eq!(code, 0, "lakesync {args:?} exited {code}:\n{stderr}");
        assert!(
            !stderr.contains("panicked") && !stderr.contains("error:"),
            "lakesync {args:?} complained about the closed pipe:\n{stderr}"
        );
    }
}
