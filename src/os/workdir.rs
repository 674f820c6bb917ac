//! The run's private working folder (command files, staged downloads, the copied-objects
//! spill) and the removal of folders that runs killed before they could clean up left
//! behind.

use std::path::{Path, PathBuf};

use crate::error::Error;
use crate::s3api::leftovers::{InflightRecord, read_records};

/// The file in each working folder naming the process that owns it.
const OWNER_FILE: &str = "owner.pid";

/// What the stale-folder cleanup did.
#[derive(Debug, Default)]
pub struct Cleaned {
    /// Folders removed.
    pub removed: u64,
    /// Multipart uploads the dead runs had in flight (see `s3api::leftovers`), for the
    /// caller to abort.
    pub uploads: Vec<InflightRecord>,
}

/// Remove working folders left behind by lakesync runs that died (kill -9, power loss):
/// a `lakesync-*` folder whose owner pid is no longer alive. Folders without an owner file
/// are left alone: they may not be ours. A dead folder that recorded multipart uploads in
/// flight is removed only with `take_uploads` (a sync, which aborts them); otherwise
/// (`verify`) it stays for the next sync.
pub fn clean_stale_workdirs(base: &Path, take_uploads: bool) -> Cleaned {
    let mut cleaned = Cleaned::default();
    let Ok(entries) = std::fs::read_dir(base) else {
        return cleaned;
    };
    for e in entries.flatten() {
        if !e.file_name().to_string_lossy().starts_with("lakesync-") {
            continue;
        }
        let owner = std::fs::read_to_string(e.path().join(OWNER_FILE))
            .ok()
            .and_then(|t| t.trim().parse::<i32>().ok());
        let Some(pid) = owner else { continue };
        let alive = pid == std::process::id() as i32
            || !matches!(
                nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None),
                Err(nix::errno::Errno::ESRCH)
            );
        if alive {
            continue;
        }
        let uploads = read_records(&e.path());
        if !uploads.is_empty() && !take_uploads {
            continue;
        }
        // Said at the default level: a folder of staged downloads can be gigabytes, and
        // whoever watches the disk should learn where they went.
        let bytes = tree_bytes(&e.path());
        if std::fs::remove_dir_all(e.path()).is_ok() {
            tracing::warn!(
                path = %e.path().display(),
                pid,
                bytes,
                "removed the working folder of a lakesync run that died ({})",
                crate::report::human_bytes(bytes)
            );
            cleaned.removed += 1;
            cleaned.uploads.extend(uploads);
        }
    }
    cleaned
}

/// Bytes of the regular files under `dir` (symlinks not followed; unreadable parts count 0).
fn tree_bytes(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => tree_bytes(&e.path()),
            Ok(t) if t.is_file() => e.metadata().map_or(0, |m| m.len()),
            _ => 0,
        })
        .sum()
}

/// A private (0700) working folder, removed when dropped (and by a later run if this process
/// is killed before it can remove it).
pub fn make_workdir(base: Option<&Path>) -> Result<tempfile::TempDir, Error> {
    make_workdir_taking(base, false).map(|(dir, _)| dir)
}

/// [`make_workdir`] for a sync: also takes over the multipart uploads dead runs recorded.
pub fn make_workdir_taking(
    base: Option<&Path>,
    take_uploads: bool,
) -> Result<(tempfile::TempDir, Vec<InflightRecord>), Error> {
    use std::os::unix::fs::PermissionsExt;
    let base: PathBuf = base.map_or_else(std::env::temp_dir, Path::to_path_buf);
    let cleaned = clean_stale_workdirs(&base, take_uploads);
    let unusable = |e: std::io::Error| {
        Error::env(
            format!(
                "cannot create a private working folder in {}: {e}",
                base.display()
            ),
            "pass --temp-dir DIR with a writable folder with free space, or fix TMPDIR",
        )
    };
    let dir = tempfile::Builder::new()
        .prefix("lakesync-")
        .permissions(std::fs::Permissions::from_mode(0o700))
        .tempdir_in(&base)
        .map_err(unusable)?;
    std::fs::write(dir.path().join(OWNER_FILE), std::process::id().to_string())
        .map_err(unusable)?;
    Ok((dir, cleaned.uploads))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A pid that is not alive: a child that has been waited for.
    fn dead_pid() -> u32 {
        let mut c = std::process::Command::new("true").spawn().unwrap();
        let pid = c.id();
        c.wait().unwrap();
        pid
    }

    #[test]
    fn stale_folders_of_dead_runs_go_others_stay() {
        let base = tempfile::tempdir().unwrap();
        let dead = base.path().join("lakesync-dead");
        std::fs::create_dir_all(dead.join("staged-000001")).unwrap();
        std::fs::write(dead.join(OWNER_FILE), dead_pid().to_string()).unwrap();
        std::fs::write(dead.join("staged-000001/00000.zip"), vec![0u8; 3000]).unwrap();
        let owner_len = std::fs::metadata(dead.join(OWNER_FILE)).unwrap().len();
        assert_eq!(tree_bytes(&dead), 3000 + owner_len);
        let alive = base.path().join("lakesync-alive");
        std::fs::create_dir(&alive).unwrap();
        std::fs::write(alive.join(OWNER_FILE), std::process::id().to_string()).unwrap();
        let unowned = base.path().join("lakesync-unowned");
        std::fs::create_dir(&unowned).unwrap();
        assert_eq!(clean_stale_workdirs(base.path(), false).removed, 1);
        assert!(!dead.exists());
        assert!(alive.exists() && unowned.exists());
    }

    #[test]
    fn workdirs_are_private_and_owned() {
        use std::os::unix::fs::PermissionsExt;
        let base = tempfile::tempdir().unwrap();
        let dir = make_workdir(Some(base.path())).unwrap();
        let mode = std::fs::metadata(dir.path()).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);
        let owner = std::fs::read_to_string(dir.path().join(OWNER_FILE)).unwrap();
        assert_eq!(owner, std::process::id().to_string());
    }
}
