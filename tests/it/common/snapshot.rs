//! Whole-CLI snapshots (uv's `uv_snapshot!`): one run as one text (the command line, the
//! exit code, stdout, stderr) with what changes from run to run or machine to machine
//! filtered out (this checkout's path, temp folders, ports, durations, times), compared
//! with a file under `tests/it/snapshots/` by insta.
//!
//! Reviewing a change of messages: `INSTA_UPDATE=always cargo test --test it` rewrites the
//! files that differ, then `git diff tests/it/snapshots` shows every message that moved.
//! Without it a differing run fails and leaves `NAME.snap.new` beside the file (not in CI).

use std::path::Path;

use super::{Run, repo_root, s5cmd_bin, tools_dir};

/// Assert that `run` matches the snapshot `<test file>__<name>` in tests/it/snapshots/
/// (`reliability__market_moon.snap` for `assert_cli("market_moon", ..)` in reliability.rs).
#[track_caller]
pub fn assert_cli(name: &str, run: &Run) {
    let file = std::panic::Location::caller().file();
    let stem = Path::new(file)
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("it");
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path(repo_root().join("tests/it/snapshots"));
    settings.set_prepend_module_to_snapshot(false);
    settings.set_omit_expression(true);
    for (pattern, replacement) in filters() {
        settings.add_filter(&pattern, replacement);
    }
    let text = cli_text(run);
    settings.bind(|| insta::assert_snapshot!(format!("{stem}__{name}"), text));
}

/// The run as the snapshot shows it, before filtering. A JSON report on stdout is shown
/// as one line: its numbers are other tests' business, and change every run.
fn cli_text(run: &Run) -> String {
    let mut text = String::from("$ lakesync");
    for arg in &run.args {
        text.push(' ');
        text.push_str(&shell_word(arg));
    }
    for (key, value) in &run.env {
        text.push_str(&format!("\n  env {key}={}", shell_word(value)));
    }
    let stdout = match serde_json::from_str::<serde_json::Value>(&run.stdout) {
        Ok(v) if v.get("format_version").is_some() => "[a JSON report]\n".to_string(),
        _ => run.stdout.clone(),
    };
    text.push_str(&format!(
        "\nexit code: {}\n----- stdout -----\n{stdout}----- stderr -----\n{}",
        run.code, run.stderr
    ));
    text
}

fn shell_word(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=,@+[]".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// (regex, replacement), applied in order: specific paths before general shapes.
fn filters() -> Vec<(String, &'static str)> {
    let mut paths: Vec<(String, &'static str)> = Vec::new();
    let mut path = |p: &Path, name: &'static str| {
        for p in [p.to_path_buf(), p.canonicalize().unwrap_or(p.to_path_buf())] {
            let s = p.display().to_string();
            if !paths.iter().any(|(q, _)| *q == regex_escape(&s)) {
                paths.push((regex_escape(&s), name));
            }
        }
    };
    // The real s5cmd's resolved path first: it lies inside the tools folder.
    path(&s5cmd_bin(), "[S5CMD]");
    path(&tools_dir(), "[TOOLS]");
    path(&repo_root(), "[REPO]");
    path(&std::env::temp_dir(), "[TMP]");
    // Longest first, so that a path inside another is replaced whole.
    paths.sort_by_key(|(p, _)| std::cmp::Reverse(p.len()));
    paths.extend([
        // tempfile's folders and files, lakesync's own working folders.
        (r"\.tmp[A-Za-z0-9]{6,}".to_string(), "[TEMP]"),
        (r"lakesync-[A-Za-z0-9]{6,}".to_string(), "lakesync-[RANDOM]"),
        (r"127\.0\.0\.1:\d+".to_string(), "127.0.0.1:[PORT]"),
        (
            r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:?\d\d)?".to_string(),
            "[TIMESTAMP]",
        ),
        (r"\b\d+(\.\d+)?\s?(ms|µs|s)\b".to_string(), "[TIME]"),
        (r"\bpid \d+".to_string(), "pid [PID]"),
        // S3 error ids, and the summary's resource figures (measured, never the same).
        (
            r"(request id|host id): [A-Za-z0-9+/=]+".to_string(),
            "$1: [ID]",
        ),
        (r"memory peak [^\n]*".to_string(), "memory peak [RESOURCES]"),
    ]);
    paths
}

fn regex_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if "\\.+*?()|[]{}^$".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}
