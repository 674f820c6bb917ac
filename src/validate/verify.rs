//! `lakesync verify`: is the destination a faithful mirror of the selected source?
//!
//! Shallow: merge the source and destination listings and compare presence, size, ETag
//! (where both are plain MD5s) and age. Deep (`--deep`): also download every destination
//! `.zip` with its destination `.CHECKSUM` in batches to the private working folder, check
//! the SHA-256, and delete the files.

use std::path::PathBuf;
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
use crate::report::now_rfc3339;
use crate::run::attempt::{Line, Runner};
use crate::s5cmd::cmdfile::download_line;
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
    pub started_at: String,
    pub finished_at: String,
    pub duration_seconds: f64,
    pub totals: VerifyTotals,
    pub mismatches: Vec<Mismatch>,
    pub mismatches_omitted: u64,
    pub exit_code: i32,
}

impl VerifyReport {
    pub fn human_summary(&self) -> String {
        let t = &self.totals;
        let bad = t.missing + t.size_mismatch + t.etag_mismatch + t.outdated + t.checksum_mismatch;
        let mut s = format!(
            "lakesync verify {}: {} -> {}\n  {} checked: {} ok, {} missing, {} size, {} etag, {} outdated",
            if bad == 0 { "OK" } else { "MISMATCHES" },
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
                "\n  deep: {} zips hashed, {} match their .CHECKSUM, {} do not, {} unverified",
                t.deep_checked, t.checksum_ok, t.checksum_mismatch, t.checksum_unverified
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
    let prefixes = settings.prefixes();
    let (src_l, dst_l) = (
        sides.lister(&sides.source_globals),
        sides.lister(&sides.dest_globals),
    );
    let (s_src, s_dst) = (settings.source.clone(), settings.dest.clone());
    let scope = settings.clone();
    // Shallow pass on a blocking thread; the zips to hash deeply are collected (keys only).
    let shallow = tokio::task::spawn_blocking(move || {
        let src = Listing::new(handle.clone(), src_l, s_src, &prefixes);
        let dst = Listing::new(handle, dst_l, s_dst, &prefixes);
        let (se, de) = (src.error.clone(), dst.error.clone());
        let mut totals = VerifyTotals::default();
        let mut mismatches = Vec::new();
        let mut omitted = 0u64;
        let mut zips: Vec<Object> = Vec::new();
        let in_scope = src.filter(|o| scope.in_scope(&o.key));
        for d in Merge::new(in_scope, dst) {
            let d = match d {
                Ok(d) => d,
                Err(e) => return Err(Error::env(e.to_string(), e.hint())),
            };
            totals.checked += 1;
            let (object, problem) = match d {
                Decision::Skip { object } => {
                    totals.ok += 1;
                    if deep && object.key.ends_with(".zip") {
                        zips.push(object);
                    }
                    continue;
                }
                Decision::Copy { object, reason } => {
                    // Whatever the listing says, a zip that is there gets hashed too.
                    if deep && reason != Reason::Missing && object.key.ends_with(".zip") {
                        zips.push(object.clone());
                    }
                    let p = match reason {
                        Reason::Missing => {
                            totals.missing += 1;
                            "missing at the destination"
                        }
                        Reason::SizeDiffers => {
                            totals.size_mismatch += 1;
                            "size differs from the source"
                        }
                        Reason::EtagDiffers => {
                            totals.etag_mismatch += 1;
                            "ETag differs from the source"
                        }
                        Reason::SourceNewer => {
                            totals.outdated += 1;
                            "the source changed after this copy was written"
                        }
                    };
                    (object, p)
                }
            };
            if mismatches.len() < MAX_LISTED {
                mismatches.push(Mismatch {
                    key: scope.dest.key(&object.key),
                    problem: problem.into(),
                });
            } else {
                omitted += 1;
            }
        }
        if let Some(e) = se.borrow_mut().take().or_else(|| de.borrow_mut().take()) {
            return Err(Error::env(e.to_string(), e.hint()));
        }
        Ok((totals, mismatches, omitted, zips))
    })
    .await
    .map_err(|e| Error::internal(format!("verification stopped unexpectedly: {e}")))?;
    let (mut totals, mut mismatches, mut omitted, zips) = shallow?;

    if deep {
        let runner = Runner {
            binary: sides.binary.path.clone(),
            workdir: workdir.path().to_path_buf(),
            max_attempts: settings.attempts,
            backoff_base: std::time::Duration::from_millis(500),
            batch_timeout: settings.batch_timeout,
            grace: settings.grace,
            interrupt: interrupt.clone(),
        };
        for (b, chunk) in zips.chunks(DEEP_BATCH).enumerate() {
            if interrupt.signal().is_some() {
                break;
            }
            let mut lines = Vec::with_capacity(chunk.len() * 2);
            let mut locals: Vec<(PathBuf, PathBuf)> = Vec::with_capacity(chunk.len());
            for (j, o) in chunk.iter().enumerate() {
                let zip_local = workdir.path().join(format!("deep-{b:06}-{j:05}.zip"));
                let cs_local = workdir.path().join(format!("deep-{b:06}-{j:05}.CHECKSUM"));
                for (key, local) in [
                    (o.key.clone(), &zip_local),
                    (format!("{}.CHECKSUM", o.key), &cs_local),
                ] {
                    let src = settings.dest.url_of(&key);
                    let l = local.display().to_string();
                    lines.push(download_line(&src, &l).ok().map(|t| Line::new(t, src, l)));
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
                totals.deep_checked += 1;
                let (zip_local, cs_local) = &locals[j];
                let problem = if !r.is_done(2 * j) {
                    totals.checksum_unverified += 1;
                    Some("could not be downloaded for hashing".to_string())
                } else {
                    let cs = r
                        .is_done(2 * j + 1)
                        .then(|| std::fs::read(cs_local).ok())
                        .flatten();
                    let name = o.key.rsplit('/').next().unwrap_or(&o.key);
                    match checksum::verify_file(zip_local, name, cs.as_deref()) {
                        Ok(Verdict::Verified { .. }) => {
                            totals.checksum_ok += 1;
                            None
                        }
                        Ok(Verdict::Mismatch { expected, actual }) => {
                            totals.checksum_mismatch += 1;
                            Some(format!(
                                "SHA-256 {actual} does not match its .CHECKSUM ({expected})"
                            ))
                        }
                        Ok(Verdict::Unverified { reason }) => {
                            totals.checksum_unverified += 1;
                            Some(format!("unverified: {reason}"))
                        }
                        Err(e) => {
                            totals.checksum_unverified += 1;
                            Some(format!("cannot hash the downloaded copy: {e}"))
                        }
                    }
                };
                let _ = std::fs::remove_file(zip_local);
                let _ = std::fs::remove_file(cs_local);
                if let Some(problem) = problem {
                    if mismatches.len() < MAX_LISTED {
                        mismatches.push(Mismatch {
                            key: settings.dest.key(&o.key),
                            problem,
                        });
                    } else {
                        omitted += 1;
                    }
                }
            }
        }
    }
    let bad = totals.missing
        + totals.size_mismatch
        + totals.etag_mismatch
        + totals.outdated
        + totals.checksum_mismatch
        + totals.checksum_unverified * u64::from(settings.require_checksum);
    let exit_code = match interrupt.signal() {
        Some(sig) => 128 + sig,
        None if bad > 0 => exit_codes::OBJECTS_FAILED,
        None => exit_codes::OK,
    };
    Ok(VerifyReport {
        format_version: crate::report::FORMAT_VERSION,
        command: "verify",
        source: settings.source.to_string(),
        dest: settings.dest.to_string(),
        selection: settings.selection.as_ref().map(|s| s.describe()),
        deep,
        started_at,
        finished_at: now_rfc3339(),
        duration_seconds: (t0.elapsed().as_secs_f64() * 1000.0).round() / 1000.0,
        totals,
        mismatches,
        mismatches_omitted: omitted,
        exit_code,
    })
}
