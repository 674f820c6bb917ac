//! What the commands write: data on stdout (where a closed pipe is a quiet end, not an
//! error) and report files (atomically, so a reader never sees half of one).

use std::io::{ErrorKind, Write};
use std::path::Path;

use crate::error::Error;
use crate::settings::ReportTarget;

/// How a write to stdout ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wrote {
    All,
    /// The reader went away (`| head`): nothing more is worth writing, or saying.
    ReaderGone,
}

/// Write `bytes` to stdout and flush.
pub fn stdout(bytes: &[u8]) -> Result<Wrote, Error> {
    let mut out = std::io::stdout().lock();
    match out.write_all(bytes).and_then(|()| out.flush()) {
        Ok(()) => Ok(Wrote::All),
        Err(e) if e.kind() == ErrorKind::BrokenPipe => Ok(Wrote::ReaderGone),
        Err(e) => Err(Error::env(
            format!("cannot write to stdout: {e}"),
            "check where stdout is redirected (a full disk?)",
        )),
    }
}

/// Pretty JSON with a final newline.
pub fn json(value: &impl serde::Serialize) -> Result<Vec<u8>, Error> {
    let mut bytes = serde_json::to_vec_pretty(value)
        .map_err(|e| Error::internal(format!("cannot render the JSON: {e}")))?;
    bytes.push(b'\n');
    Ok(bytes)
}

/// Write the JSON report where `--report` says (a file is replaced atomically: temp file in
/// the same folder, fsync, rename).
pub fn report(report: &impl serde::Serialize, target: &ReportTarget) -> Result<Wrote, Error> {
    let json = json(report)?;
    match target {
        ReportTarget::Stdout => stdout(&json),
        ReportTarget::File(p) => {
            write_file_atomic(p, &json).map_err(|e| {
                Error::env(
                    format!("cannot write the report {}: {e}", p.display()),
                    "check the --report path and free space",
                )
            })?;
            Ok(Wrote::All)
        }
    }
}

fn write_file_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}
