//! Incomplete multipart uploads that lakesync's own s5cmd left behind, and aborting them.
//!
//! s5cmd uploads a file larger than its part size as a multipart upload. Cancelled (SIGTERM,
//! the watchdog, lakesync killed), it leaves the upload open, and S3 bills its parts until
//! someone aborts it. s5cmd v2.3.0 cannot list or abort uploads, so lakesync does:
//!
//! - Before a staged upload process starts, the keys of that batch that can go multipart
//!   (larger than s5cmd's minimum part size) and the uploads already open under them (one
//!   ListMultipartUploads) are written to a record file in the run's private working folder.
//! - When the process ended without every line done (interrupted, timed out, killed, failed
//!   lines), the uploads under those keys that were not open before are aborted, and the
//!   record is removed.
//! - A record found in the working folder of a run that died (kill -9, power loss) is
//!   handled the same way by the next run, before that folder is removed.
//!
//! So only uploads of keys this run was uploading, opened while it was uploading them, are
//! touched: another writer's uploads of other keys, or opened before, survive. The rule does
//! not rely on the server's `Initiated` times (some S3 servers report a fixed date there)
//! nor on clocks agreeing.

use std::collections::HashSet;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

use super::{S3Api, S3ApiError, Upload, UploadListing};
use crate::s5cmd::Globals;

/// s5cmd (aws-sdk-go's s3manager) uploads a file of at most one part in one PutObject; its
/// smallest part size is 5 MiB, so nothing at or below that can be a multipart upload.
pub const MULTIPART_MIN_SIZE: u64 = 5 * 1024 * 1024;

const RECORD_PREFIX: &str = "multipart-";

/// The uploads one staged upload process may start: written before it starts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InflightRecord {
    /// The destination side's s5cmd settings (no secret: credentials come from the
    /// environment or the profile, as for s5cmd).
    pub endpoint_url: Option<String>,
    pub profile: Option<String>,
    pub bucket: String,
    /// Local clock just before the upload process started (for people reading it).
    pub started: jiff::Timestamp,
    /// Full destination keys that may go multipart.
    pub keys: Vec<String>,
    /// Upload ids already open under those keys before the process started: not ours.
    pub existing: Vec<String>,
}

impl InflightRecord {
    fn globals(&self) -> Globals {
        Globals {
            endpoint_url: self.endpoint_url.clone(),
            profile: self.profile.clone(),
            ..Default::default()
        }
    }

    /// The listing prefix covering every key: their longest common prefix.
    fn prefix(&self) -> String {
        let mut keys = self.keys.iter();
        let Some(first) = keys.next() else {
            return String::new();
        };
        let mut len = first.len();
        for k in keys {
            len = first
                .bytes()
                .zip(k.bytes())
                .take(len)
                .take_while(|(a, b)| a == b)
                .count();
        }
        while !first.is_char_boundary(len) {
            len -= 1;
        }
        first[..len].to_string()
    }

    /// The uploads of `listing` that this record's process started.
    pub fn ours<'a>(&self, listing: &'a UploadListing) -> Vec<&'a Upload> {
        let keys: HashSet<&str> = self.keys.iter().map(String::as_str).collect();
        let existing: HashSet<&str> = self.existing.iter().map(String::as_str).collect();
        listing
            .uploads
            .iter()
            .filter(|u| keys.contains(u.key.as_str()) && !existing.contains(u.upload_id.as_str()))
            .collect()
    }

    fn api(&self) -> Result<S3Api, S3ApiError> {
        let mut api = S3Api::for_side(&self.globals())?;
        api.detect_region(&self.bucket);
        Ok(api)
    }

    /// The uploads open under the record's keys' common prefix (blocking).
    fn open_uploads(&self) -> Result<UploadListing, S3ApiError> {
        self.api()?
            .list_multipart_uploads(&self.bucket, &self.prefix())
    }

    /// List and abort this record's uploads (blocking). Returns how many were aborted.
    pub fn abort_ours(&self) -> Result<u64, S3ApiError> {
        let api = self.api()?;
        let listing = api.list_multipart_uploads(&self.bucket, &self.prefix())?;
        let mut aborted = 0;
        for u in self.ours(&listing) {
            if api.abort_multipart_upload(&self.bucket, &u.key, &u.upload_id)? {
                tracing::info!(bucket = %self.bucket, key = %u.key, upload_id = %u.upload_id, "aborted an incomplete multipart upload");
                aborted += 1;
            }
        }
        Ok(aborted)
    }
}

/// Records the uploads of one run and aborts what its s5cmd left; counts the aborts.
#[derive(Debug)]
pub struct UploadTracker {
    workdir: PathBuf,
    globals: Globals,
    aborted: AtomicU64,
}

/// An upload process being watched (see [`UploadTracker::begin`]).
#[derive(Debug)]
pub struct Inflight {
    path: PathBuf,
    record: InflightRecord,
}

impl UploadTracker {
    pub fn new(workdir: &Path, dest_globals: &Globals) -> Self {
        Self {
            workdir: workdir.to_path_buf(),
            globals: dest_globals.clone(),
            aborted: AtomicU64::new(0),
        }
    }

    /// Uploads aborted so far (this run's and those of dead runs).
    pub fn aborted(&self) -> u64 {
        self.aborted.load(Ordering::Relaxed)
    }

    pub fn add_aborted(&self, n: u64) {
        self.aborted.fetch_add(n, Ordering::Relaxed);
    }

    /// Before an upload process of `tag` starts: record which of `objects` (full key, size)
    /// can go multipart, and which uploads are already open under them. `None` when none can
    /// (the common case: nothing to watch) or the open uploads cannot be listed (then
    /// nothing could be aborted either: a warning says so).
    pub async fn begin(
        &self,
        tag: &str,
        bucket: &str,
        objects: Vec<(String, u64)>,
    ) -> Option<Inflight> {
        let keys: Vec<String> = objects
            .into_iter()
            .filter(|(_, size)| *size > MULTIPART_MIN_SIZE)
            .map(|(k, _)| k)
            .collect();
        if keys.is_empty() {
            return None;
        }
        let mut record = InflightRecord {
            endpoint_url: self.globals.endpoint_url.clone(),
            profile: self.globals.profile.clone(),
            bucket: bucket.to_string(),
            started: jiff::Timestamp::now(),
            keys,
            existing: Vec::new(),
        };
        let probe = record.clone();
        let listed = tokio::task::spawn_blocking(move || probe.open_uploads()).await;
        match listed {
            Ok(Ok(listing)) => {
                record.existing = record
                    .ours(&listing)
                    .into_iter()
                    .map(|u| u.upload_id.clone())
                    .collect();
            }
            Ok(Err(e)) => {
                tracing::warn!(error = %e, hint = e.hint(), "cannot list open multipart uploads: uploads s5cmd leaves now cannot be aborted");
                return None;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot list open multipart uploads");
                return None;
            }
        }
        let path = self.workdir.join(format!("{RECORD_PREFIX}{tag}.json"));
        if let Err(e) = write_record(&path, &record) {
            // Still watched in this process; only a kill -9 would lose it.
            tracing::warn!(path = %path.display(), error = %e, "cannot record the multipart uploads in flight");
        }
        Some(Inflight { path, record })
    }

    /// After the process ended: when not every line was done, abort the uploads it left,
    /// then remove the record. A failed abort is a warning (the lifecycle rule is the net).
    pub async fn finish(&self, inflight: Inflight, all_done: bool) {
        if !all_done {
            let record = inflight.record.clone();
            match tokio::task::spawn_blocking(move || record.abort_ours()).await {
                Ok(Ok(n)) => self.add_aborted(n),
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, hint = e.hint(), "cannot abort the multipart uploads s5cmd left");
                }
                Err(e) => {
                    tracing::warn!(error = %e, "cannot abort the multipart uploads s5cmd left");
                }
            }
        }
        let _ = std::fs::remove_file(&inflight.path);
    }

    /// Abort what dead runs recorded (their folders are being removed).
    pub async fn abort_stale(&self, records: Vec<InflightRecord>) {
        if records.is_empty() {
            return;
        }
        let n_records = records.len();
        let result = tokio::task::spawn_blocking(move || {
            let mut aborted = 0;
            let mut errors = Vec::new();
            for r in &records {
                match r.abort_ours() {
                    Ok(n) => aborted += n,
                    Err(e) => errors.push(e),
                }
            }
            (aborted, errors)
        })
        .await;
        match result {
            Ok((aborted, errors)) => {
                self.add_aborted(aborted);
                if aborted > 0 {
                    tracing::warn!(
                        aborted,
                        "aborted incomplete multipart uploads left by a lakesync run that died"
                    );
                }
                for e in errors {
                    tracing::warn!(error = %e, hint = e.hint(), "cannot abort the multipart uploads a dead run left");
                    eprintln!(
                        "warning: cannot abort the multipart uploads a dead run left: {e}\nhint: {}",
                        e.hint()
                    );
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, records = n_records, "cannot abort the multipart uploads dead runs left")
            }
        }
    }
}

fn write_record(path: &Path, record: &InflightRecord) -> std::io::Result<()> {
    let tmp = path.with_extension("json.tmp");
    let text = serde_json::to_vec(record).map_err(std::io::Error::other)?;
    {
        use std::io::Write as _;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(&text)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)
}

/// The records in a (dead run's) working folder; unreadable ones are skipped (a record is
/// complete before its process starts, so a cut one had no upload yet).
pub fn read_records(dir: &Path) -> Vec<InflightRecord> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter(|e| {
            let n = e.file_name();
            let n = n.to_string_lossy();
            n.starts_with(RECORD_PREFIX) && n.ends_with(".json")
        })
        .filter_map(|e| std::fs::read(e.path()).ok())
        .filter_map(|b| serde_json::from_slice(&b).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn up(key: &str, id: &str) -> Upload {
        Upload {
            key: key.into(),
            upload_id: id.into(),
            initiated: jiff::Timestamp::UNIX_EPOCH,
        }
    }

    fn record(keys: &[&str]) -> InflightRecord {
        InflightRecord {
            endpoint_url: None,
            profile: None,
            bucket: "b".into(),
            started: jiff::Timestamp::UNIX_EPOCH,
            keys: keys.iter().map(|k| k.to_string()).collect(),
            existing: Vec::new(),
        }
    }

    #[test]
    fn only_our_keys_opened_after_the_snapshot() {
        let mut r = record(&["lake/a.zip", "lake/b.zip"]);
        r.existing = vec!["before".into()];
        let listing = UploadListing {
            uploads: vec![
                up("lake/a.zip", "mine"),
                up("lake/a.zip", "before"),
                up("lake/c.zip", "other-key"),
                up("lake/b.zip", "mine-too"),
                up("lake/a.zip.x", "longer-key"),
            ],
        };
        let ours: Vec<&str> = r
            .ours(&listing)
            .iter()
            .map(|u| u.upload_id.as_str())
            .collect();
        assert_eq!(ours, ["mine", "mine-too"]);
    }

    #[test]
    fn listing_prefix_is_the_common_prefix() {
        assert_eq!(
            record(&["lake/x/a.zip", "lake/x/b.zip"]).prefix(),
            "lake/x/"
        );
        assert_eq!(record(&["lake/日a", "lake/日b"]).prefix(), "lake/日");
        assert_eq!(record(&["lake/é", "lake/è"]).prefix(), "lake/");
        assert_eq!(record(&["a", "b"]).prefix(), "");
        assert_eq!(record(&["only"]).prefix(), "only");
    }

    #[test]
    fn records_round_trip_and_small_objects_are_not_watched() {
        let dir = tempfile::tempdir().unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let t = UploadTracker::new(dir.path(), &Globals::default());
        let small = vec![("small".to_string(), 5 * 1024 * 1024)];
        assert!(rt.block_on(t.begin("x", "b", small)).is_none());
        let mut r = record(&["big"]);
        r.existing = vec!["u1".into()];
        write_record(&dir.path().join("multipart-batch-1.json"), &r).unwrap();
        let read = read_records(dir.path());
        assert_eq!(read, vec![r]);
        std::fs::write(dir.path().join("multipart-cut.json"), b"{\"bucket\":").unwrap();
        assert_eq!(read_records(dir.path()).len(), 1);
    }
}
