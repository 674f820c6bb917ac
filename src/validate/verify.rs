//! `lakesync verify`: is the destination a faithful mirror of the selected source?
//!
//! Shallow: merge the source and destination listings and compare presence, size, ETag
//! (where both are plain MD5s) and age. Deep (`--deep`): also download every destination
//! `.zip` with its destination `.CHECKSUM` in batches to the private working folder, check
//! the SHA-256, and delete the files.

use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::Serialize;
use tokio::runtime::Handle;

use crate::error::Error;
use crate::exit_codes;
use crate::list::Object;
use crate::list::listing::Listing;
use crate::list::sides::Sides;
use crate::os::signals::Interrupt;
use crate::os::workdir::make_workdir;
use crate::plan::{Decision, Merge, Reason};
use crate::report::{Timing, now_rfc3339};
use crate::run::attempt::Line;
use crate::settings::Settings;
use crate::validate::checksum::{self, Verdict};

#[derive(Debug, Clone, Default, Serialize)]
pub struct VerifyTotals {
    /// Source objects in the selection.
    pub checked: u64,
    pub ok: u64,
    pub missing: u64,
    pub size_mismatch: u64,
    pub etag_mismatch: u64,
    /// The source changed after the destination copy was written.
    pub outdated: u64,
    /// Destination zips whose SHA-256 was checked (--deep).
    pub deep_checked: u64,
    pub checksum_ok: u64,
    pub checksum_mismatch: u64,
    /// Zips without a usable destination .CHECKSUM, or that could not be downloaded.
    pub checksum_unverified: u64,
}

impl VerifyTotals {
    /// What makes the destination not a faithful mirror: the exit code (1) and the summary
    /// ("MISMATCHES") both come from this count.
    pub fn problems(&self, require_checksum: bool) -> u64 {
        self.missing
            + self.size_mismatch
            + self.etag_mismatch
            + self.outdated
            + self.checksum_mismatch
            + if require_checksum {
                self.checksum_unverified
            } else {
                0
            }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Mismatch {
    pub key: String,
    pub problem: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct VerifyReport {
    pub format_version: u32,
    pub command: &'static str,
    pub source: String,
    pub dest: String,
    pub selection: Option<String>,
    pub deep: bool,
    #[serde(flatten)]
    pub timing: Timing,
    pub totals: VerifyTotals,
    pub mismatches: Vec<Mismatch>,
    pub mismatches_omitted: u64,
    /// `--require-checksum`: zips that could not be verified count as problems.
    pub require_checksum: bool,
    pub exit_code: i32,
}

impl VerifyReport {
    pub fn human_summary(&self) -> String {
        let t = &self.totals;
        let head = match self.exit_code {
            exit_codes::OK => "OK",
            exit_codes::OBJECTS_FAILED => "MISMATCHES",
            _ => "INTERRUPTED",
        };
        let mut s = format!(
            "lakesync verify {head}: {} -> {}\n  {} checked: {} ok, {} missing, {} size, {} etag, {} outdated",
            self.source,
            self.dest,
            t.checked,
            t.ok,
            t.missing,
            t.size_mismatch,
            t.etag_mismatch,
            t.outdated
        );
        if self.deep {
            s.push_str(&format!(
                "\n  deep: {} zips hashed, {} match their .CHECKSUM, {} do not, {} unverified{}",
                t.deep_checked,
                t.checksum_ok,
                t.checksum_mismatch,
                t.checksum_unverified,
                if self.require_checksum && t.checksum_unverified > 0 {
                    " (problems with --require-checksum)"
                } else {
                    ""
                }
            ));
        }
        for m in self.mismatches.iter().take(10) {
            s.push_str(&format!("\n    {}: {}", m.key, m.problem));
        }
        s.push('\n');
        s
    }
}

const MAX_LISTED: usize = 10_000;
const DEEP_BATCH: usize = 100;

/// What verification found so far: counts, and the first [`MAX_LISTED`] problems.
#[derive(Debug, Default)]
struct Findings {
    totals: VerifyTotals,
    mismatches: Vec<Mismatch>,
    omitted: u64,
}

impl Findings {
    fn note(&mut self, key: String, problem: String) {
        if self.mismatches.len() < MAX_LISTED {
            self.mismatches.push(Mismatch { key, problem });
        } else {
            self.omitted += 1;
        }
    }
}

/// The exit code of a verification: interrupted, problems found, or a faithful mirror.
fn exit_code(totals: &VerifyTotals, require_checksum: bool, signal: Option<i32>) -> i32 {
    match signal {
        Some(sig) => 128 + sig,
        None if totals.problems(require_checksum) > 0 => exit_codes::OBJECTS_FAILED,
        None => exit_codes::OK,
    }
}

/// Compare the destination with the source listing (and, deep, with the checksums).
pub async fn run(
    settings: &Settings,
    deep: bool,
    interrupt: Interrupt,
) -> Result<VerifyReport, Error> {
    let started_at = now_rfc3339();
    let t0 = Instant::now();
    let sides = Sides::prepare(settings, &interrupt).await?;
    let workdir = make_workdir(settings.temp_dir.as_deref())?;
    let handle = Handle::current();
    let (src_l, dst_l) = (
        sides.lister(&sides.source_globals),
        sides.lister(&sides.dest_globals),
    );
    let scope = settings.clone();
    // Shallow pass on a blocking thread; the zips to hash deeply are collected (keys only).
    let (mut findings, zips) = tokio::task::spawn_blocking(move || {
        let prefixes = scope.prefixes();
        let src = Listing::new(handle.clone(), src_l, scope.source.clone(), &prefixes);
        let dst = Listing::new(handle, dst_l, scope.dest.clone(), &prefixes);
        shallow_pass(src, dst, &scope, deep)
    })
    .await
    .map_err(|e| Error::internal(format!("verification stopped unexpectedly: {e}")))??;
    if deep {
        deep_pass(
            settings,
            &sides,
            workdir.path(),
            &interrupt,
            &zips,
            &mut findings,
        )
        .await;
    }
    let Findings {
        totals,
        mismatches,
        omitted,
    } = findings;
    Ok(VerifyReport {
        format_version: crate::report::FORMAT_VERSION,
        command: "verify",
        source: settings.source.to_string(),
        dest: settings.dest.to_string(),
        selection: settings.selection.as_ref().map(|s| s.describe()),
        deep,
        timing: Timing::ended_now(started_at, t0),
        exit_code: exit_code(&totals, settings.require_checksum, interrupt.signal()),
        totals,
        mismatches,
        mismatches_omitted: omitted,
        require_checksum: settings.require_checksum,
    })
}

/// Merge the two listings: count what is in place and what is not; with `deep`, collect
/// the zips to hash (every zip present at the destination).
fn shallow_pass(
    src: Listing,
    dst: Listing,
    scope: &Settings,
    deep: bool,
) -> Result<(Findings, Vec<Object>), Error> {
    let (se, de) = (src.error.clone(), dst.error.clone());
    let mut f = Findings::default();
    let mut zips: Vec<Object> = Vec::new();
    let in_scope = src.filter(|o| scope.in_scope(&o.key));
    for d in Merge::new(in_scope, dst) {
        let d = d.map_err(|e| Error::env(e.to_string(), e.hint()))?;
        f.totals.checked += 1;
        let (object, reason) = match d {
            Decision::Skip { object } => {
                f.totals.ok += 1;
                if deep && object.key.ends_with(".zip") {
                    zips.push(object);
                }
                continue;
            }
            Decision::Copy { object, reason } => (object, reason),
        };
        // Whatever the listing says, a zip that is there gets hashed too.
        if deep && reason != Reason::Missing && object.key.ends_with(".zip") {
            zips.push(object.clone());
        }
        let t = &mut f.totals;
        let (counter, problem) = match reason {
            Reason::Missing => (&mut t.missing, "missing at the destination"),
            Reason::SizeDiffers => (&mut t.size_mismatch, "size differs from the source"),
            Reason::EtagDiffers => (&mut t.etag_mismatch, "ETag differs from the source"),
            Reason::SourceNewer => (
                &mut t.outdated,
                "the source changed after this copy was written",
            ),
        };
        *counter += 1;
        f.note(scope.dest.key(&object.key), problem.into());
    }
    if let Some(e) = se.borrow_mut().take().or_else(|| de.borrow_mut().take()) {
        return Err(Error::env(e.to_string(), e.hint()));
    }
    Ok((f, zips))
}

/// Download every zip with its destination `.CHECKSUM`, in batches, and check the SHA-256.
async fn deep_pass(
    settings: &Settings,
    sides: &Sides,
    workdir: &Path,
    interrupt: &Interrupt,
    zips: &[Object],
    f: &mut Findings,
) {
    let runner = settings.attempts.runner(
        sides.binary.path.clone(),
        workdir.to_path_buf(),
        interrupt.clone(),
    );
    for (b, chunk) in zips.chunks(DEEP_BATCH).enumerate() {
        if interrupt.signal().is_some() {
            break;
        }
        let mut lines = Vec::with_capacity(chunk.len() * 2);
        let mut locals: Vec<(PathBuf, PathBuf)> = Vec::with_capacity(chunk.len());
        for (j, o) in chunk.iter().enumerate() {
            let zip_local = workdir.join(format!("deep-{b:06}-{j:05}.zip"));
            let cs_local = workdir.join(format!("deep-{b:06}-{j:05}.CHECKSUM"));
            for (key, local) in [
                (o.key.clone(), &zip_local),
                (format!("{}.CHECKSUM", o.key), &cs_local),
            ] {
                lines.push(Line::download(
                    settings.dest.url_of(&key),
                    local.display().to_string(),
                ));
            }
            locals.push((zip_local, cs_local));
        }
        let r = runner
            .run_lines(
                &format!("deep-{b:06}"),
                &sides.dest_globals,
                settings.workers.min(crate::run::staged::STAGED_MAX_WORKERS),
                &lines,
            )
            .await;
        for (j, o) in chunk.iter().enumerate() {
            let (zip_local, cs_local) = &locals[j];
            let cs = r
                .is_done(2 * j + 1)
                .then(|| std::fs::read(cs_local).ok())
                .flatten();
            let problem = hash_one(&mut f.totals, o, r.is_done(2 * j), zip_local, cs.as_deref());
            let _ = std::fs::remove_file(zip_local);
            let _ = std::fs::remove_file(cs_local);
            if let Some(problem) = problem {
                f.note(settings.dest.key(&o.key), problem);
            }
        }
    }
}

/// Check one downloaded zip against its `.CHECKSUM`; the problem, if any.
fn hash_one(
    t: &mut VerifyTotals,
    o: &Object,
    downloaded: bool,
    zip_local: &Path,
    checksum: Option<&[u8]>,
) -> Option<String> {
    t.deep_checked += 1;
    if !downloaded {
        t.checksum_unverified += 1;
        return Some("could not be downloaded for hashing".to_string());
    }
    let name = o.key.rsplit('/').next().unwrap_or(&o.key);
    match checksum::verify_file(zip_local, name, checksum) {
        Ok(Verdict::Verified { .. }) => {
            t.checksum_ok += 1;
            None
        }
        Ok(Verdict::Mismatch { expected, actual }) => {
            t.checksum_mismatch += 1;
            Some(format!(
                "SHA-256 {actual} does not match its .CHECKSUM ({expected})"
            ))
        }
        Ok(Verdict::Unverified { reason }) => {
            t.checksum_unverified += 1;
            Some(format!("unverified: {reason}"))
        }
        Err(e) => {
            t.checksum_unverified += 1;
            Some(format!("cannot hash the downloaded copy: {e}"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(totals: VerifyTotals, require_checksum: bool) -> VerifyReport {
        VerifyReport {
            format_version: 1,
            command: "verify",
            source: "s3://src".into(),
            dest: "s3://dst".into(),
            selection: None,
            deep: true,
            timing: Timing::default(),
            exit_code: exit_code(&totals, require_checksum, None),
            totals,
            mismatches: Vec::new(),
            mismatches_omitted: 0,
            require_checksum,
        }
    }

    /// Issue 15 item 8: with --require-checksum an unverified zip is a problem in the
    /// summary as in the exit code.
    #[test]
    fn summary_and_exit_code_agree() {
        let unverified = VerifyTotals {
            checked: 2,
            ok: 2,
            deep_checked: 2,
            checksum_ok: 1,
            checksum_unverified: 1,
            ..VerifyTotals::default()
        };
        let strict = report(unverified.clone(), true);
        assert_eq!(strict.exit_code, exit_codes::OBJECTS_FAILED);
        let summary = strict.human_summary();
        assert!(
            summary.starts_with("lakesync verify MISMATCHES"),
            "{summary}"
        );
        assert!(summary.contains("--require-checksum"), "{summary}");
        let lenient = report(unverified, false);
        assert_eq!(lenient.exit_code, exit_codes::OK);
        assert!(lenient.human_summary().starts_with("lakesync verify OK"));
        let missing = VerifyTotals {
            checked: 1,
            missing: 1,
            ..VerifyTotals::default()
        };
        let r = report(missing, false);
        assert_eq!(r.exit_code, exit_codes::OBJECTS_FAILED);
        assert!(r.human_summary().starts_with("lakesync verify MISMATCHES"));
        let mut interrupted = report(VerifyTotals::default(), false);
        interrupted.exit_code = exit_code(&interrupted.totals, false, Some(15));
        assert_eq!(interrupted.exit_code, exit_codes::INTERRUPTED_SIGTERM);
        assert!(
            interrupted
                .human_summary()
                .starts_with("lakesync verify INTERRUPTED")
        );
    }
}
