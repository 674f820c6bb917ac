//! Staged mode for one batch: download to a private folder, check each file, verify every
//! `.zip` against its `.CHECKSUM`, upload only what passed, delete each local file.
//!
//! Local names come from the batch and the item's position (`00042.zip`), never from the
//! key, so no key (`../../etc/x`, absolute-looking, very long) can write outside the folder.
//! Downloads run with the source's s5cmd settings (possibly unsigned, another endpoint),
//! uploads with the destination's: s5cmd's endpoint and signing flags are per process.

use std::collections::HashMap;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use crate::plan::batch::Item;
use crate::run::attempt::{AttemptsOutcome, Line, LineState, Runner};
use crate::run::outcome::{Counters, OpCounts};
use crate::s3url::S3Url;
use crate::s5cmd::{ErrorClass, Globals};
use crate::validate::checksum::{self, Verdict};

/// Spec 2.2.2: at most 10 concurrent operations in the traditional (staged) mode.
pub const STAGED_MAX_WORKERS: u32 = 10;

/// Staged mode settings.
#[derive(Debug, Clone)]
pub struct StagedConfig {
    pub source: S3Url,
    pub dest: S3Url,
    pub source_globals: Globals,
    pub dest_globals: Globals,
    /// A missing or malformed `.CHECKSUM` fails the zip instead of marking it unverified.
    pub require_checksum: bool,
    /// Upper bound on staged workers (spec 2.2.2: 10).
    pub max_workers: u32,
    /// Where batch folders are made (the run's private working folder).
    pub workdir: PathBuf,
    /// Refuse to start a batch whose download would leave less than this free.
    pub min_free_bytes: u64,
    /// At most this many bytes downloaded at once (`--max-local-bytes`): a batch is staged
    /// in parts that fit; an object larger than the limit fails.
    pub max_local_bytes: Option<u64>,
    /// Watches uploads that can go multipart and aborts what an unfinished s5cmd left.
    pub uploads: Option<std::sync::Arc<crate::s3api::leftovers::UploadTracker>>,
}

/// What happened to the items of one staged batch.
#[derive(Debug, Clone, Default)]
pub struct StagedOutcome {
    /// Per item: in place, or the error and its class.
    pub results: Vec<Result<(), (String, ErrorClass)>>,
    pub tries: Vec<u32>,
    pub counts: Counters,
}

impl StagedOutcome {
    /// Fold in an attempt loop whose lines were of the operation kind `kind` picks.
    fn absorb(&mut self, r: &AttemptsOutcome, kind: fn(&mut OpCounts) -> &mut u64) {
        self.counts += r.counts;
        *kind(&mut self.counts.ops) += r.lines_issued;
    }
}

fn local_name(j: usize, key: &str) -> String {
    let ext = if key.ends_with(".zip.CHECKSUM") {
        ".CHECKSUM"
    } else if key.ends_with(".zip") {
        ".zip"
    } else {
        ""
    };
    format!("{j:05}{ext}")
}

fn file_name(key: &str) -> &str {
    key.rsplit('/').next().unwrap_or(key)
}

/// Free and total bytes on the filesystem holding `dir`.
fn free_space(dir: &Path) -> Option<(u64, u64)> {
    let s = nix::sys::statvfs::statvfs(dir).ok()?;
    let f = s.fragment_size() as u64;
    Some((s.blocks_available() as u64 * f, s.blocks() as u64 * f))
}

/// The bytes kept free while staging: `min_free` (64 MiB), or an eighth of a smaller disk
/// (a fixed 64 MiB would leave nothing to stage on a small tmpfs).
pub fn reserve_for(min_free: u64, total: u64) -> u64 {
    min_free.min(total / 8)
}

/// Which objects fit in `budget` bytes, taken in order: what fits goes, a larger object
/// does not stop the smaller ones after it.
pub fn fits_in(sizes: &[u64], budget: u64) -> Vec<bool> {
    let mut used = 0u64;
    sizes
        .iter()
        .map(|&size| {
            let fits = used.saturating_add(size) <= budget;
            if fits {
                used += size;
            }
            fits
        })
        .collect()
}

fn no_room_message(size: u64, free: u64, reserve: u64, dir: &Path) -> String {
    format!(
        "not enough local disk to stage this object: it needs {size} bytes; {free} bytes are free in {} \
         and {reserve} of them are kept in reserve (64 MiB, or an eighth of a smaller disk), the rest \
         went to the objects before it; pass --temp-dir DIR on a larger disk, or --max-local-bytes N \
         to stage each batch in parts of at most N bytes",
        dir.display()
    )
}

/// For each item that is a `.zip.CHECKSUM` whose zip is in the same batch, that zip's index.
/// Such a CHECKSUM is uploaded only after its zip landed, and never when the zip failed.
pub fn zip_of_checksums(keys: &[&str]) -> Vec<Option<usize>> {
    let index: HashMap<&str, usize> = keys.iter().enumerate().map(|(i, k)| (*k, i)).collect();
    keys.iter()
        .map(|k| {
            k.strip_suffix(".CHECKSUM")
                .filter(|z| z.ends_with(".zip"))
                .and_then(|z| index.get(z).copied())
        })
        .collect()
}

/// Cut a batch into parts of at most `limit` bytes, in order; indexes of objects that are
/// larger than the limit on their own come back separately.
pub fn parts_within(sizes: &[u64], limit: Option<u64>) -> (Vec<Vec<usize>>, Vec<usize>) {
    let Some(limit) = limit else {
        return (vec![(0..sizes.len()).collect()], Vec::new());
    };
    let mut parts: Vec<Vec<usize>> = Vec::new();
    let mut too_big = Vec::new();
    let mut cur: Vec<usize> = Vec::new();
    let mut cur_bytes = 0u64;
    for (i, &size) in sizes.iter().enumerate() {
        if size > limit {
            too_big.push(i);
            continue;
        }
        if cur_bytes + size > limit && !cur.is_empty() {
            parts.push(std::mem::take(&mut cur));
            cur_bytes = 0;
        }
        cur.push(i);
        cur_bytes += size;
    }
    if !cur.is_empty() {
        parts.push(cur);
    }
    (parts, too_big)
}

/// Run one staged batch over `items` (keys relative to the source/destination folders),
/// in parts that fit `--max-local-bytes`.
pub async fn run(
    cfg: &StagedConfig,
    runner: &Runner,
    batch_index: usize,
    items: &[&Item],
    workers: u32,
) -> StagedOutcome {
    let sizes: Vec<u64> = items.iter().map(|i| i.object.size).collect();
    let (parts, too_big) = parts_within(&sizes, cfg.max_local_bytes);
    if parts.len() == 1 && too_big.is_empty() {
        return run_part(cfg, runner, &format!("{batch_index:06}"), items, workers).await;
    }
    let mut out = StagedOutcome {
        results: vec![Ok(()); items.len()],
        tries: vec![0; items.len()],
        ..Default::default()
    };
    for &i in &too_big {
        out.results[i] = Err((
            format!(
                "object of {} bytes is larger than --max-local-bytes {}: not staged",
                sizes[i],
                cfg.max_local_bytes.unwrap_or_default()
            ),
            ErrorClass::Permanent,
        ));
    }
    for (p, idx) in parts.iter().enumerate() {
        if out.counts.interrupted {
            for &i in idx {
                out.results[i] = Err((
                    "interrupted before completion".into(),
                    ErrorClass::Transient,
                ));
            }
            continue;
        }
        let part_items: Vec<&Item> = idx.iter().map(|&i| items[i]).collect();
        let r = run_part(
            cfg,
            runner,
            &format!("{batch_index:06}-{p}"),
            &part_items,
            workers,
        )
        .await;
        for (k, &i) in idx.iter().enumerate() {
            out.results[i] = r.results[k].clone();
            out.tries[i] = r.tries[k];
        }
        out.counts += r.counts;
    }
    out
}

async fn run_part(
    cfg: &StagedConfig,
    runner: &Runner,
    batch_index: &str,
    items: &[&Item],
    workers: u32,
) -> StagedOutcome {
    let n = items.len();
    let mut out = StagedOutcome {
        results: vec![Ok(()); n],
        tries: vec![0; n],
        ..Default::default()
    };
    let fail_all = |out: &mut StagedOutcome, msg: String, class: ErrorClass| {
        for r in out.results.iter_mut() {
            *r = Err((msg.clone(), class));
        }
    };
    let workers = workers.clamp(1, cfg.max_workers.max(1));
    let dir = cfg.workdir.join(format!("staged-{batch_index}"));
    if let Err(e) = std::fs::DirBuilder::new().mode(0o700).create(&dir) {
        fail_all(
            &mut out,
            format!("cannot create the staging folder {}: {e}", dir.display()),
            ErrorClass::Transient,
        );
        return out;
    }
    let outcome = run_in(cfg, runner, batch_index, items, workers, &dir, &mut out).await;
    // Whatever happened, nothing of this batch stays on disk.
    let _ = std::fs::remove_dir_all(&dir);
    if let Err(msg) = outcome {
        fail_all(&mut out, msg, ErrorClass::Transient);
    }
    out
}

async fn run_in(
    cfg: &StagedConfig,
    runner: &Runner,
    batch_index: &str,
    items: &[&Item],
    workers: u32,
    dir: &Path,
    out: &mut StagedOutcome,
) -> Result<(), String> {
    let mut st = Staging::new(cfg, items, dir);
    for (j, why) in no_room(cfg, items, dir) {
        st.lines[j] = None;
        out.results[j] = Err((why, ErrorClass::Transient));
    }
    for (j, l) in st.lines.iter().take(items.len()).enumerate() {
        if l.is_none() && out.results[j].is_ok() {
            out.results[j] = Err((
                "the key contains a control character, which an s5cmd command file cannot carry"
                    .into(),
                ErrorClass::Permanent,
            ));
        }
    }
    let tag = format!("batch-{batch_index}-download");
    let dl = runner
        .run_lines(&tag, &cfg.source_globals, workers, &st.lines)
        .await;
    let mut ready = downloaded(&dl, items.len(), out);
    if out.counts.interrupted {
        return Err("interrupted before completion".into());
    }
    let verdicts = st
        .verify(cfg, runner, batch_index, workers, &dl, &mut ready, out)
        .await;
    apply_verdicts(cfg, items, &verdicts, &mut ready, out);
    out.counts.local_bytes_written += (0..items.len())
        .filter(|&j| dl.is_done(j))
        .map(|j| items[j].object.size)
        .sum::<u64>();
    st.upload_in_order(cfg, runner, batch_index, workers, &ready, out)
        .await;
    for l in &st.locals {
        if std::fs::remove_file(l).is_ok() {
            out.counts.ops.cleanup += 1;
        }
    }
    Ok(())
}

/// The items that do not fit the free space less the reserve, with why.
fn no_room(cfg: &StagedConfig, items: &[&Item], dir: &Path) -> Vec<(usize, String)> {
    let Some((free, total)) = free_space(dir) else {
        return Vec::new();
    };
    let reserve = reserve_for(cfg.min_free_bytes, total);
    let sizes: Vec<u64> = items.iter().map(|i| i.object.size).collect();
    let fits = fits_in(&sizes, free.saturating_sub(reserve));
    (0..items.len())
        .filter(|&j| !fits[j])
        .map(|j| (j, no_room_message(sizes[j], free, reserve, dir)))
        .collect()
}

/// Fold the download attempts into the batch: counters, tries, failures. Returns which
/// items are on disk.
fn downloaded(dl: &AttemptsOutcome, n: usize, out: &mut StagedOutcome) -> Vec<bool> {
    out.absorb(dl, |o| &mut o.download);
    out.tries.copy_from_slice(&dl.tries[..n]);
    for (j, state) in dl.states.iter().take(n).enumerate() {
        if let Some(LineState::Failed { error, class }) = state
            && out.results[j].is_ok()
        {
            out.results[j] = Err((format!("download: {error}"), *class));
        }
    }
    (0..n).map(|j| dl.is_done(j)).collect()
}

/// What the checks concluded for each item, decided: a zip still mismatched after its
/// second download, or unverified under `--require-checksum`, is not uploaded.
fn apply_verdicts(
    cfg: &StagedConfig,
    items: &[&Item],
    verdicts: &[Option<Verdict>],
    ready: &mut [bool],
    out: &mut StagedOutcome,
) {
    for j in 0..items.len() {
        if !ready[j] {
            continue;
        }
        match &verdicts[j] {
            Some(Verdict::Mismatch { expected, actual }) => {
                ready[j] = false;
                out.results[j] = Err((
                    format!(
                        "integrity: downloaded twice and still {actual} where {expected} was expected; not uploaded"
                    ),
                    ErrorClass::Integrity,
                ));
            }
            Some(Verdict::Unverified { reason }) => {
                if cfg.require_checksum {
                    ready[j] = false;
                    out.results[j] = Err((
                        format!(
                            "integrity: unverified ({reason}) and --require-checksum is set; not uploaded"
                        ),
                        ErrorClass::Integrity,
                    ));
                } else {
                    out.counts.unverified += 1;
                    tracing::warn!(key = %items[j].object.key, %reason, "uploading without a checksum verification");
                }
            }
            Some(Verdict::Verified { .. }) => out.counts.verified += 1,
            None => {}
        }
    }
}

/// The download lines of a staged part and where each file lands. Local names come from
/// the item's position, never from its key.
struct Staging<'a> {
    items: &'a [&'a Item],
    locals: Vec<PathBuf>,
    index_of: HashMap<&'a str, usize>,
    /// Item of a zip whose CHECKSUM is not in the batch -> its extra download line.
    extra_for: HashMap<usize, usize>,
    /// One per item, then the extra CHECKSUM downloads (None: a key no line can carry).
    lines: Vec<Option<Line>>,
}

impl<'a> Staging<'a> {
    fn new(cfg: &StagedConfig, items: &'a [&'a Item], dir: &Path) -> Self {
        let n = items.len();
        let locals: Vec<PathBuf> = items
            .iter()
            .enumerate()
            .map(|(j, it)| dir.join(local_name(j, &it.object.key)))
            .collect();
        let index_of: HashMap<&str, usize> = items
            .iter()
            .enumerate()
            .map(|(j, it)| (it.object.key.as_str(), j))
            .collect();
        let mut lines: Vec<Option<Line>> = Vec::with_capacity(n + n / 2);
        for (j, it) in items.iter().enumerate() {
            lines.push(Line::download(
                cfg.source.url_of(&it.object.key),
                locals[j].display().to_string(),
            ));
        }
        // Each zip's CHECKSUM: an item of this batch, or an extra download for verification.
        let mut extra_for: HashMap<usize, usize> = HashMap::new();
        for (j, it) in items.iter().enumerate() {
            let key = &it.object.key;
            if key.ends_with(".zip") && !index_of.contains_key(format!("{key}.CHECKSUM").as_str()) {
                extra_for.insert(j, lines.len());
                lines.push(Line::download(
                    cfg.source.url_of(&format!("{key}.CHECKSUM")),
                    dir.join(format!("{j:05}.extra.CHECKSUM"))
                        .display()
                        .to_string(),
                ));
            }
        }
        Self {
            items,
            locals,
            index_of,
            extra_for,
            lines,
        }
    }

    /// Check sizes and checksums of what was downloaded; a bad download gets one more
    /// download and one more check. Returns each item's verdict.
    #[expect(clippy::too_many_arguments, reason = "one staged part's whole context")]
    async fn verify(
        &self,
        cfg: &StagedConfig,
        runner: &Runner,
        batch_index: &str,
        workers: u32,
        dl: &AttemptsOutcome,
        ready: &mut [bool],
        out: &mut StagedOutcome,
    ) -> Vec<Option<Verdict>> {
        let n = self.items.len();
        let mut redo: Vec<usize> = Vec::new();
        let mut verdicts: Vec<Option<Verdict>> = vec![None; n];
        for j in 0..n {
            if !ready[j] {
                continue;
            }
            if let Some(v) = self.check_or_fail(j, ready, dl, out) {
                if matches!(v, Some(Verdict::Mismatch { .. })) {
                    redo.push(j);
                }
                verdicts[j] = v;
            }
        }
        if redo.is_empty() {
            return verdicts;
        }
        tracing::warn!(
            batch = batch_index,
            files = redo.len(),
            "downloaded files failed verification: downloading them once more"
        );
        let again: Vec<Option<Line>> = redo.iter().map(|&j| self.lines[j].clone()).collect();
        for &j in &redo {
            let _ = std::fs::remove_file(&self.locals[j]);
        }
        let tag = format!("batch-{batch_index}-redownload");
        let r = runner
            .run_lines(&tag, &cfg.source_globals, workers, &again)
            .await;
        out.absorb(&r, |o| &mut o.download);
        for (k, &j) in redo.iter().enumerate() {
            out.tries[j] += r.tries[k];
            if !r.is_done(k) {
                ready[j] = false;
                out.results[j] = Err((
                    "download (after a failed verification): failed".into(),
                    ErrorClass::Transient,
                ));
                continue;
            }
            if let Some(v) = self.check_or_fail(j, ready, dl, out) {
                verdicts[j] = v;
            }
        }
        verdicts
    }

    /// `check`, where a check that cannot run fails the item (`None`).
    fn check_or_fail(
        &self,
        j: usize,
        ready: &mut [bool],
        dl: &AttemptsOutcome,
        out: &mut StagedOutcome,
    ) -> Option<Option<Verdict>> {
        match self.check(j, ready, dl, out) {
            Ok(v) => Some(v),
            Err(e) => {
                ready[j] = false;
                out.results[j] = Err((e, ErrorClass::Transient));
                None
            }
        }
    }

    /// Upload what passed: zips (and everything else) first, then the CHECKSUMs whose zip
    /// landed, so that a CHECKSUM at the destination always means its zip is there.
    async fn upload_in_order(
        &self,
        cfg: &StagedConfig,
        runner: &Runner,
        batch_index: &str,
        workers: u32,
        ready: &[bool],
        out: &mut StagedOutcome,
    ) {
        let n = self.items.len();
        let keys: Vec<&str> = self.items.iter().map(|i| i.object.key.as_str()).collect();
        let zip_of = zip_of_checksums(&keys);
        let first: Vec<usize> = (0..n)
            .filter(|&j| ready[j] && zip_of[j].is_none())
            .collect();
        self.upload(cfg, runner, batch_index, "upload", workers, &first, out)
            .await;
        let mut second = Vec::new();
        for j in 0..n {
            let Some(z) = zip_of[j] else { continue };
            if !ready[j] {
                continue;
            }
            match &out.results[z] {
                Ok(()) if ready[z] => second.push(j),
                Ok(()) => {
                    out.results[j] = Err((
                        format!("not uploaded: its zip {} was not uploaded", keys[z]),
                        ErrorClass::Transient,
                    ));
                }
                Err((error, class)) => {
                    out.results[j] = Err((
                        format!("not uploaded: its zip {} failed ({error})", keys[z]),
                        *class,
                    ));
                }
            }
        }
        self.upload(
            cfg,
            runner,
            batch_index,
            "upload-checksums",
            workers,
            &second,
            out,
        )
        .await;
    }

    /// Upload `idx` (indexes into the batch) with the destination's s5cmd settings;
    /// uploads that can go multipart are watched (see `s3api::leftovers`).
    #[expect(clippy::too_many_arguments, reason = "one staged part's whole context")]
    async fn upload(
        &self,
        cfg: &StagedConfig,
        runner: &Runner,
        batch_index: &str,
        what: &str,
        workers: u32,
        idx: &[usize],
        out: &mut StagedOutcome,
    ) {
        if idx.is_empty() {
            return;
        }
        let up_lines: Vec<Option<Line>> = idx
            .iter()
            .map(|&j| {
                Line::upload(
                    self.locals[j].display().to_string(),
                    cfg.dest.url_of(&self.items[j].object.key),
                )
            })
            .collect();
        let tag = format!("batch-{batch_index}-{what}");
        let watched = match &cfg.uploads {
            Some(t) => {
                let objects = idx
                    .iter()
                    .map(|&j| {
                        let o = &self.items[j].object;
                        (cfg.dest.key(&o.key), o.size)
                    })
                    .collect();
                t.begin(&tag, cfg.dest.bucket(), objects).await
            }
            None => None,
        };
        let up = runner
            .run_lines(&tag, &cfg.dest_globals, workers, &up_lines)
            .await;
        if let (Some(t), Some(w)) = (&cfg.uploads, watched) {
            let all_done = (0..up_lines.len()).all(|k| up.is_done(k));
            t.finish(w, all_done).await;
        }
        out.absorb(&up, |o| &mut o.upload);
        for (k, &j) in idx.iter().enumerate() {
            out.tries[j] = out.tries[j].max(up.tries[k]);
            match &up.states[k] {
                Some(LineState::Done { .. }) => {}
                Some(LineState::Failed { error, class }) => {
                    out.results[j] = Err((format!("upload: {error}"), *class));
                }
                None => {
                    out.results[j] = Err(("upload: no outcome".into(), ErrorClass::Transient));
                }
            }
        }
    }

    /// Size against the listing, then (zips) SHA-256 against the CHECKSUM. `None` for files
    /// that have nothing more to verify (a CHECKSUM itself).
    fn check(
        &self,
        j: usize,
        ready: &[bool],
        dl: &AttemptsOutcome,
        out: &mut StagedOutcome,
    ) -> Result<Option<Verdict>, String> {
        let it = self.items[j];
        out.counts.ops.stat += 1;
        let size = std::fs::metadata(&self.locals[j])
            .map(|m| m.len())
            .map_err(|e| format!("stat of the downloaded file: {e}"))?;
        if size != it.object.size {
            return Ok(Some(Verdict::Mismatch {
                expected: format!("{} bytes", it.object.size),
                actual: format!("{size} bytes"),
            }));
        }
        out.counts.ops.verify += 1;
        let key = &it.object.key;
        if !key.ends_with(".zip") {
            return Ok(None);
        }
        let cs_path = match self.index_of.get(format!("{key}.CHECKSUM").as_str()) {
            Some(&k) if ready[k] => Some(self.locals[k].clone()),
            Some(_) => None,
            None => self
                .extra_for
                .get(&j)
                .filter(|&&l| dl.is_done(l))
                .and_then(|&l| self.lines[l].as_ref().map(|line| PathBuf::from(&line.dst))),
        };
        let content = cs_path.and_then(|p| std::fs::read(p).ok());
        checksum::verify_file(&self.locals[j], file_name(key), content.as_deref())
            .map(Some)
            .map_err(|e| format!("reading the downloaded file: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_names_never_come_from_the_key() {
        assert_eq!(local_name(7, "../../etc/passwd"), "00007");
        assert_eq!(local_name(7, "/abs/x.zip"), "00007.zip");
        assert_eq!(local_name(12345, "a/b/c.zip.CHECKSUM"), "12345.CHECKSUM");
        let long = "x/".repeat(600) + ".zip";
        assert_eq!(local_name(1, &long), "00001.zip");
    }

    #[test]
    fn parts_fit_the_local_byte_limit() {
        assert_eq!(
            parts_within(&[5, 5, 5], None),
            (vec![vec![0, 1, 2]], vec![])
        );
        assert_eq!(
            parts_within(&[4, 4, 20, 4, 1], Some(9)),
            (vec![vec![0, 1], vec![3, 4]], vec![2])
        );
        assert_eq!(
            parts_within(&[10, 10], Some(10)),
            (vec![vec![0], vec![1]], vec![])
        );
    }

    #[test]
    fn what_fits_goes_in_order() {
        assert_eq!(fits_in(&[3, 3, 3, 1], 7), [true, true, false, true]);
        assert_eq!(fits_in(&[10, 1], 5), [false, true]);
        assert_eq!(fits_in(&[], 0), Vec::<bool>::new());
        assert_eq!(reserve_for(64 << 20, 8 << 20), 1 << 20);
        assert_eq!(reserve_for(64 << 20, 1 << 40), 64 << 20);
    }

    #[test]
    fn checksums_depend_on_their_zip_in_the_batch() {
        let keys = [
            "a.zip",
            "a.zip.CHECKSUM",
            "b.zip.CHECKSUM",
            "c.csv",
            "c.csv.CHECKSUM",
        ];
        assert_eq!(zip_of_checksums(&keys), [None, Some(0), None, None, None]);
    }

    #[test]
    fn file_names() {
        assert_eq!(
            file_name("data/spot/x/BTCUSDT-1m-2024-01-01.zip"),
            "BTCUSDT-1m-2024-01-01.zip"
        );
        assert_eq!(file_name("top.zip"), "top.zip");
    }
}
