//! Counters: requests by kind, keys listed, throttled requests, bytes in and out, errors by
//! code, and per partition prefix. Served as JSON at `GET /_sim/stats`; `POST /_sim/reset`
//! zeroes them (benchmarks read them before and after a run).

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Request kinds, as named in the stats JSON.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    List,
    Head,
    HeadBucket,
    Get,
    Copy,
    Put,
    Delete,
    DeleteMulti,
    MpuCreate,
    MpuPart,
    MpuPartCopy,
    MpuComplete,
    MpuAbort,
    MpuList,
    Bucket,
    Other,
}

impl Kind {
    pub const ALL: [Kind; 16] = [
        Kind::List,
        Kind::Head,
        Kind::HeadBucket,
        Kind::Get,
        Kind::Copy,
        Kind::Put,
        Kind::Delete,
        Kind::DeleteMulti,
        Kind::MpuCreate,
        Kind::MpuPart,
        Kind::MpuPartCopy,
        Kind::MpuComplete,
        Kind::MpuAbort,
        Kind::MpuList,
        Kind::Bucket,
        Kind::Other,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Kind::List => "list",
            Kind::Head => "head",
            Kind::HeadBucket => "head_bucket",
            Kind::Get => "get",
            Kind::Copy => "copy",
            Kind::Put => "put",
            Kind::Delete => "delete",
            Kind::DeleteMulti => "delete_multi",
            Kind::MpuCreate => "mpu_create",
            Kind::MpuPart => "mpu_part",
            Kind::MpuPartCopy => "mpu_part_copy",
            Kind::MpuComplete => "mpu_complete",
            Kind::MpuAbort => "mpu_abort",
            Kind::MpuList => "mpu_list",
            Kind::Bucket => "bucket",
            Kind::Other => "other",
        }
    }

    /// S3's request-rate classes: GET/HEAD (reads) or PUT/COPY/POST/DELETE (writes).
    pub fn is_write(self) -> bool {
        matches!(
            self,
            Kind::Copy
                | Kind::Put
                | Kind::Delete
                | Kind::DeleteMulti
                | Kind::MpuCreate
                | Kind::MpuPart
                | Kind::MpuPartCopy
                | Kind::MpuComplete
                | Kind::MpuAbort
        )
    }
}

#[derive(Default, Clone, serde::Serialize)]
pub struct PrefixCounts {
    pub requests: u64,
    pub reads: u64,
    pub writes: u64,
    pub keys_listed: u64,
    pub throttled: u64,
}

#[derive(Default, Clone, serde::Serialize)]
pub struct BucketCounts {
    pub requests: u64,
    pub lists: u64,
    pub keys_listed: u64,
    pub copies: u64,
}

#[derive(Default)]
pub struct Stats {
    by_kind: [AtomicU64; 16],
    keys_listed: AtomicU64,
    prefixes_listed: AtomicU64,
    throttled: AtomicU64,
    bytes_out: AtomicU64,
    bytes_in: AtomicU64,
    copy_error_bodies: AtomicU64,
    errors: Mutex<BTreeMap<String, u64>>,
    by_bucket: Mutex<BTreeMap<String, BucketCounts>>,
    by_prefix: Mutex<HashMap<String, PrefixCounts>>,
}

impl Stats {
    pub fn request(&self, kind: Kind, bucket: &str, prefix: &str) {
        self.by_kind[Kind::ALL.iter().position(|k| *k == kind).unwrap_or(15)].fetch_add(1, Relaxed);
        if !bucket.is_empty() {
            let mut m = lock(&self.by_bucket);
            let b = match m.get_mut(bucket) {
                Some(b) => b,
                None => m.entry(bucket.to_string()).or_default(),
            };
            b.requests += 1;
            b.lists += u64::from(kind == Kind::List);
            b.copies += u64::from(kind == Kind::Copy);
        }
        let mut m = lock(&self.by_prefix);
        let key = format!("{bucket}/{prefix}");
        let e = match m.get_mut(&key) {
            Some(e) => e,
            None => m.entry(key).or_default(),
        };
        e.requests += 1;
        if kind.is_write() {
            e.writes += 1;
        } else {
            e.reads += 1;
        }
    }

    pub fn listed(&self, bucket: &str, prefix: &str, keys: u64, prefixes: u64) {
        self.keys_listed.fetch_add(keys, Relaxed);
        self.prefixes_listed.fetch_add(prefixes, Relaxed);
        if let Some(b) = lock(&self.by_bucket).get_mut(bucket) {
            b.keys_listed += keys;
        }
        if let Some(e) = lock(&self.by_prefix).get_mut(&format!("{bucket}/{prefix}")) {
            e.keys_listed += keys;
        }
    }

    pub fn throttled(&self, bucket: &str, prefix: &str) {
        self.throttled.fetch_add(1, Relaxed);
        if let Some(e) = lock(&self.by_prefix).get_mut(&format!("{bucket}/{prefix}")) {
            e.throttled += 1;
        }
    }

    pub fn error(&self, code: &str) {
        *lock(&self.errors).entry(code.to_string()).or_default() += 1;
    }

    pub fn bytes_out(&self, n: u64) {
        self.bytes_out.fetch_add(n, Relaxed);
    }

    pub fn bytes_in(&self, n: u64) {
        self.bytes_in.fetch_add(n, Relaxed);
    }

    pub fn copy_error_body(&self) {
        self.copy_error_bodies.fetch_add(1, Relaxed);
    }

    pub fn reset(&self) {
        for c in &self.by_kind {
            c.store(0, Relaxed);
        }
        for c in [
            &self.keys_listed,
            &self.prefixes_listed,
            &self.throttled,
            &self.bytes_out,
            &self.bytes_in,
            &self.copy_error_bodies,
        ] {
            c.store(0, Relaxed);
        }
        lock(&self.errors).clear();
        lock(&self.by_bucket).clear();
        lock(&self.by_prefix).clear();
    }

    /// The counters as JSON (`top`: how many prefixes to show, busiest first).
    pub fn to_json(&self, top: usize) -> serde_json::Value {
        let mut requests = serde_json::Map::new();
        let mut total = 0;
        for (k, c) in Kind::ALL.iter().zip(&self.by_kind) {
            let v = c.load(Relaxed);
            total += v;
            requests.insert(k.name().to_string(), v.into());
        }
        let mut prefixes: Vec<(String, PrefixCounts)> = lock(&self.by_prefix)
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        prefixes.sort_by(|a, b| b.1.requests.cmp(&a.1.requests).then(a.0.cmp(&b.0)));
        let n_prefixes = prefixes.len();
        prefixes.truncate(top);
        serde_json::json!({
            "requests": requests,
            "requests_total": total,
            "keys_listed": self.keys_listed.load(Relaxed),
            "prefixes_listed": self.prefixes_listed.load(Relaxed),
            "throttled": self.throttled.load(Relaxed),
            "bytes_out": self.bytes_out.load(Relaxed),
            "bytes_in": self.bytes_in.load(Relaxed),
            "copy_error_bodies": self.copy_error_bodies.load(Relaxed),
            "errors": *lock(&self.errors),
            "by_bucket": *lock(&self.by_bucket),
            "prefixes_seen": n_prefixes,
            "by_prefix": prefixes.into_iter().map(|(p, c)| serde_json::json!({
                "prefix": p, "requests": c.requests, "reads": c.reads, "writes": c.writes,
                "keys_listed": c.keys_listed, "throttled": c.throttled,
            })).collect::<Vec<_>>(),
        })
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
