//! `lakesync doctor` against moto with the real s5cmd: a healthy setup (every line ok, in
//! the documented order, exit 0), a dead endpoint, a missing bucket and a bad temp folder
//! (an error line with a hint each, exit 3), and warnings (region variables) that do not
//! change the exit code.

use crate::common::{self, Moto, temp_file};

fn doctor(moto_url: &str, extra: &[&str], env: &[(&str, &str)]) -> common::Run {
    let mut args = vec![
        "doctor",
        "--endpoint-url",
        moto_url,
        "--source",
        "s3://src",
        "--dest",
        "s3://dst/lake",
    ];
    args.extend_from_slice(extra);
    common::lakesync_with(&args, env)
}

/// (level, check) of every check line, in order.
fn shape(stdout: &str) -> Vec<(String, String)> {
    stdout
        .lines()
        .filter(|l| !l.starts_with("doctor:"))
        .map(|l| {
            let mut w = l.split_whitespace();
            (
                w.next().unwrap_or_default().to_string(),
                w.next().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

fn line_of<'a>(stdout: &'a str, check: &str, needle: &str) -> &'a str {
    stdout
        .lines()
        .find(|l| l.split_whitespace().nth(1) == Some(check) && l.contains(needle))
        .unwrap_or_else(|| panic!("no {check} line with {needle:?}:\n{stdout}"))
}

/// The `check` line naming `needle` starts with `status` and says each of `says`.
fn assert_line(stdout: &str, check: &str, needle: &str, status: &str, says: &[&str]) {
    let l = line_of(stdout, check, needle);
    assert!(l.starts_with(status), "{l}");
    for s in says {
        assert!(l.contains(s), "{l}");
    }
}

fn moto_with_buckets() -> Moto {
    let moto = Moto::with_buckets(&["src", "dst"]);
    moto.put(
        "src",
        "data/spot/daily/klines/BTCUSDT/1m/BTCUSDT-1m-2025-01-01.zip",
        b"zip",
    );
    moto
}

#[test]
fn a_healthy_setup_is_all_ok_in_order() {
    let moto = moto_with_buckets();
    let (temp, config) = temp_file(
        "lakesync.toml",
        "workers = 8\n[profiles.p]\nbatch-size = 50\n",
    );
    let t = temp.path().display().to_string();
    let c = config.display().to_string();
    let run = doctor(
        &moto.url,
        &["--temp-dir", &t, "--config", &c, "--config-profile", "p"],
        &[],
    );
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let names: Vec<String> = shape(&run.stdout)
        .into_iter()
        .map(|(l, c)| format!("{l} {c}"))
        .collect();
    assert_eq!(
        names,
        [
            "ok s5cmd",
            "ok endpoint",
            "ok credentials",
            "ok credentials",
            "ok regions",
            "ok temp",
            "ok config"
        ],
        "{}",
        run.stdout
    );
    assert!(
        line_of(&run.stdout, "s5cmd", "v2.3.0").contains(&*common::s5cmd_bin().to_string_lossy())
    );
    line_of(&run.stdout, "endpoint", "source and dest");
    line_of(
        &run.stdout,
        "credentials",
        "source s3://src: listed (1 entries",
    );
    line_of(
        &run.stdout,
        "credentials",
        "dest s3://dst/lake/: listed (empty so far)",
    );
    line_of(&run.stdout, "temp", "writable");
    line_of(&run.stdout, "config", "(profile p): read, 2 key(s)");
    assert!(
        run.stdout
            .ends_with("doctor: 7 check(s): 7 ok, 0 warning(s), 0 error(s)\n"),
        "{}",
        run.stdout
    );
    // Doctor made no working folder it did not remove.
    assert_eq!(
        std::fs::read_dir(temp.path()).unwrap().count(),
        1,
        "only the config file"
    );
}

#[test]
fn a_dead_endpoint_a_missing_bucket_and_a_bad_temp_dir_are_errors_with_hints() {
    let moto = moto_with_buckets();

    // Dead endpoint: nothing listens there; the listings are not attempted.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dead = format!("http://127.0.0.1:{port}");
    let run = doctor(&dead, &[], &[]);
    assert_eq!(run.code, 3, "{}", run.stdout);
    assert_line(
        &run.stdout,
        "endpoint",
        &dead,
        "error",
        &["unreachable", "hint:"],
    );
    assert_line(&run.stdout, "credentials", "source", "", &["not checked"]);

    // Missing bucket on the destination side only.
    let run = common::lakesync(&[
        "doctor",
        "--endpoint-url",
        &moto.url,
        "--source",
        "s3://src",
        "--dest",
        "s3://no-such-bucket/lake",
    ]);
    assert_eq!(run.code, 3, "{}", run.stdout);
    let says = ["does not exist", "hint: create it"];
    assert_line(&run.stdout, "credentials", "no-such-bucket", "error", &says);
    assert_line(&run.stdout, "credentials", "source s3://src", "ok", &[]);

    // A temp folder that does not exist.
    let run = doctor(&moto.url, &["--temp-dir", "/nonexistent/lakesync-tmp"], &[]);
    assert_eq!(run.code, 3, "{}", run.stdout);
    let temp = "/nonexistent/lakesync-tmp";
    assert_line(&run.stdout, "temp", temp, "error", &["--temp-dir"]);
    // Every other check is still run and shown.
    assert_eq!(shape(&run.stdout).len(), 7, "{}", run.stdout);
}

#[test]
fn region_variables_are_a_warning_not_an_error() {
    let moto = moto_with_buckets();
    let run = doctor(&moto.url, &[], &[("AWS_REGION", "eu-west-1")]);
    // s5cmd with a region set still lists moto; the line warns about detection.
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert_line(
        &run.stdout,
        "regions",
        "AWS_REGION=eu-west-1",
        "warning",
        &["hint:"],
    );
}
