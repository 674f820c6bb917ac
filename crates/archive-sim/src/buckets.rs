//! The buckets: the read-only source (`data.binance.vision`, the archive as of `--as-of`)
//! and destinations. A destination may start "mirrored through" a day: it then holds every
//! source key dated on or before that day (under its key prefix) with the source's size,
//! ETag and LastModified, modelled like the source and never stored. What clients write
//! lands in a compact store (a sorted map of key -> size, ETag, date and a *reference* to
//! the source object whenever the bytes are a source object's) with tombstones for deleted
//! modelled keys; listings merge the two in byte order.

use std::collections::{BTreeMap, HashMap};
use std::ops::Bound;
use std::sync::{Arc, RwLock};

use bytes::Bytes;
use md5::{Digest as _, Md5};
use sha2::Sha256;

use crate::archive::{Archive, ObjRef, View};
use crate::content::{self, DigestCache, Plan};
use crate::cursor::{self, Cursor};
use crate::listing::{Entry, KeySource};
use crate::object::{self, ETag, Meta};
use crate::time::{Day, now_ms};

pub const SOURCE_BUCKET: &str = "data.binance.vision";
pub const SOURCE_REGION: &str = "ap-northeast-1";

/// Where the bytes of a stored object come from.
#[derive(Clone, Debug)]
pub enum Content {
    /// A source object's bytes (a copy, or an upload of exactly those bytes).
    Source {
        obj: ObjRef,
        version: u8,
        /// The source key (its file name names the zip inside a `.CHECKSUM`).
        key: Arc<[u8]>,
    },
    Bytes(Bytes),
    /// Over `--max-kept-mb`: metadata only; a GET answers an error.
    Unkept,
}

#[derive(Clone, Debug)]
pub struct StoredObject {
    pub size: u64,
    pub etag: ETag,
    pub last_modified_ms: i64,
    pub content: Content,
    pub content_type: Option<Arc<str>>,
}

#[derive(Clone, Debug)]
pub enum Stored {
    Object(StoredObject),
    /// Deleted: hides the modelled key of the same name.
    Tombstone,
}

#[derive(Clone, Debug)]
pub enum PartData {
    Bytes(Bytes),
    /// A byte range of a source object (UploadPartCopy).
    Source {
        obj: ObjRef,
        version: u8,
        key: Arc<[u8]>,
        start: u64,
        len: u64,
    },
}

#[derive(Clone, Debug)]
pub struct Part {
    pub etag: [u8; 16],
    pub size: u64,
    pub data: PartData,
}

#[derive(Clone, Debug)]
pub struct Upload {
    pub key: Box<[u8]>,
    pub initiated_ms: i64,
    pub content_type: Option<Arc<str>>,
    pub parts: BTreeMap<u32, Part>,
}

#[derive(Default)]
pub struct Store {
    pub objects: BTreeMap<Box<[u8]>, Stored>,
    /// Bytes held by `Content::Bytes` objects and byte parts.
    pub kept_bytes: u64,
    pub uploads: BTreeMap<String, Upload>,
    pub next_upload: u64,
}

impl Store {
    pub fn live_objects(&self) -> usize {
        self.objects
            .values()
            .filter(|s| matches!(s, Stored::Object(_)))
            .count()
    }
}

/// A destination's modelled mirror.
#[derive(Clone, Debug)]
pub struct Mirror {
    pub prefix: Vec<u8>,
    pub through: Day,
    pub view: View,
}

pub struct DestBucket {
    pub name: String,
    pub region: String,
    pub mirror: Option<Mirror>,
    pub store: RwLock<Store>,
    pub created_ms: i64,
}

pub struct Source {
    pub archive: &'static Archive,
    pub view: View,
    pub region: String,
}

/// Every bucket.
pub struct Buckets {
    pub source: Source,
    pub dests: RwLock<BTreeMap<String, Arc<DestBucket>>>,
    pub digests: DigestCache,
    pub max_kept_bytes: u64,
    pub default_dest_region: String,
}

/// A bucket a request names.
pub enum BucketRef {
    Source,
    Dest(Arc<DestBucket>),
}

impl BucketRef {
    pub fn region<'a>(&'a self, b: &'a Buckets) -> &'a str {
        match self {
            BucketRef::Source => &b.source.region,
            BucketRef::Dest(d) => &d.region,
        }
    }
}

/// An object a GET or HEAD found.
#[derive(Clone, Debug)]
pub struct Found {
    pub meta: Meta,
    pub content: Content,
    pub content_type: Option<Arc<str>>,
}

/// Why a write failed (mapped to S3 errors by the caller).
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("NoSuchUpload")]
    NoSuchUpload,
    #[error("InvalidPart {0}")]
    InvalidPart(u32),
    #[error("InvalidPartOrder")]
    InvalidPartOrder,
    #[error("MalformedXML")]
    NoParts,
}

fn lock_read<T>(l: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(|e| e.into_inner())
}

fn lock_write<T>(l: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(|e| e.into_inner())
}

impl Buckets {
    pub fn bucket(&self, name: &str) -> Option<BucketRef> {
        if name == SOURCE_BUCKET {
            return Some(BucketRef::Source);
        }
        lock_read(&self.dests)
            .get(name)
            .cloned()
            .map(BucketRef::Dest)
    }

    pub fn dest_names(&self) -> Vec<(String, i64)> {
        lock_read(&self.dests)
            .values()
            .map(|d| (d.name.clone(), d.created_ms))
            .collect()
    }

    /// CreateBucket: false when it exists already.
    pub fn create(&self, name: &str, region: Option<&str>) -> bool {
        if name == SOURCE_BUCKET {
            return false;
        }
        let mut dests = lock_write(&self.dests);
        if dests.contains_key(name) {
            return false;
        }
        dests.insert(
            name.to_string(),
            Arc::new(DestBucket {
                name: name.to_string(),
                region: region.unwrap_or(&self.default_dest_region).to_string(),
                mirror: None,
                store: RwLock::new(Store::default()),
                created_ms: now_ms(),
            }),
        );
        true
    }

    pub fn add_dest(&self, d: DestBucket) {
        lock_write(&self.dests).insert(d.name.clone(), Arc::new(d));
    }

    /// HEAD/GET: the object under `key`, if any.
    pub fn find(&self, bucket: &BucketRef, key: &[u8]) -> Option<Found> {
        let a = self.source.archive;
        match bucket {
            BucketRef::Source => {
                let obj = cursor::lookup(a, self.source.view, b"", key)?;
                let meta = object::meta(a, obj, key, &self.source.view);
                Some(Found {
                    meta,
                    content: Content::Source {
                        obj,
                        version: meta.version,
                        key: key.into(),
                    },
                    content_type: None,
                })
            }
            BucketRef::Dest(d) => {
                if let Some(s) = lock_read(&d.store).objects.get(key) {
                    return match s {
                        Stored::Object(o) => Some(Found {
                            meta: Meta {
                                size: o.size,
                                etag: o.etag,
                                last_modified_ms: o.last_modified_ms,
                                version: 0,
                            },
                            content: o.content.clone(),
                            content_type: o.content_type.clone(),
                        }),
                        Stored::Tombstone => None,
                    };
                }
                let m = d.mirror.as_ref()?;
                let obj = cursor::lookup(a, m.view, &m.prefix, key)?;
                let meta = object::meta(a, obj, key, &m.view);
                Some(Found {
                    meta,
                    content: Content::Source {
                        obj,
                        version: meta.version,
                        key: key[m.prefix.len()..].into(),
                    },
                    content_type: None,
                })
            }
        }
    }

    /// Whether a key is "new" to a destination's model (for the delete tombstone).
    fn modelled(&self, d: &DestBucket, key: &[u8]) -> bool {
        d.mirror
            .as_ref()
            .is_some_and(|m| cursor::lookup(self.source.archive, m.view, &m.prefix, key).is_some())
    }

    /// CopyObject (and the result of a completed upload): store an object.
    pub fn put_object(&self, d: &DestBucket, key: &[u8], o: StoredObject) {
        let mut st = lock_write(&d.store);
        if let Content::Bytes(b) = &o.content {
            st.kept_bytes += b.len() as u64;
        }
        if let Some(Stored::Object(StoredObject {
            content: Content::Bytes(old),
            ..
        })) = st.objects.insert(key.into(), Stored::Object(o))
        {
            st.kept_bytes -= old.len() as u64;
        }
    }

    /// DeleteObject: true when something was there.
    pub fn delete(&self, d: &DestBucket, key: &[u8]) -> bool {
        let modelled = self.modelled(d, key);
        let mut st = lock_write(&d.store);
        let old = if modelled {
            st.objects.insert(key.into(), Stored::Tombstone)
        } else {
            st.objects.remove(key)
        };
        if let Some(Stored::Object(StoredObject {
            content: Content::Bytes(b),
            ..
        })) = &old
        {
            st.kept_bytes -= b.len() as u64;
        }
        match old {
            Some(Stored::Object(_)) => true,
            Some(Stored::Tombstone) => false,
            None => modelled,
        }
    }

    /// The stored form of uploaded bytes for `key`: a reference when they are exactly a
    /// source object's bytes (the ETag is then the source's), else the bytes themselves
    /// with their MD5 (or metadata only over the budget).
    pub fn content_for_upload(&self, d: &DestBucket, key: &[u8], body: Bytes) -> (Content, ETag) {
        if let Some((obj, meta, skey)) = self.recognize(d, key, &body) {
            return (
                Content::Source {
                    obj,
                    version: meta.version,
                    key: skey,
                },
                meta.etag,
            );
        }
        let md5: [u8; 16] = Md5::digest(&body).into();
        let kept = lock_read(&d.store).kept_bytes;
        if kept + body.len() as u64 > self.max_kept_bytes {
            return (Content::Unkept, ETag::Md5(md5));
        }
        (Content::Bytes(body), ETag::Md5(md5))
    }

    /// The source object whose bytes `body` is, trying the key under the destination's
    /// mirror prefix and every `data/...` tail of it.
    fn recognize(
        &self,
        d: &DestBucket,
        key: &[u8],
        body: &[u8],
    ) -> Option<(ObjRef, Meta, Arc<[u8]>)> {
        let mut candidates: Vec<&[u8]> = Vec::new();
        if let Some(m) = &d.mirror
            && let Some(rest) = key.strip_prefix(m.prefix.as_slice())
        {
            candidates.push(rest);
        }
        for i in 0..key.len() {
            if (i == 0 || key[i - 1] == b'/') && key[i..].starts_with(b"data/") {
                candidates.push(&key[i..]);
            }
        }
        let a = self.source.archive;
        let view = self.source.view;
        for c in candidates {
            let Some(obj) = cursor::lookup(a, view, b"", c) else {
                continue;
            };
            let meta = object::meta(a, obj, c, &view);
            if meta.size != body.len() as u64 {
                continue;
            }
            let expected = self.source_digest(obj, meta.version, c);
            let got: [u8; 32] = Sha256::digest(body).into();
            if expected == Some(got) {
                return Some((obj, meta, c.into()));
            }
        }
        None
    }

    /// SHA-256 of a source object's bytes.
    fn source_digest(&self, obj: ObjRef, version: u8, key: &[u8]) -> Option<[u8; 32]> {
        match obj {
            ObjRef::Marker => Some(Sha256::digest(b"").into()),
            ObjRef::File { checksum: true, .. } => {
                let text = self.checksum_bytes(obj, version, key)?;
                Some(Sha256::digest(&text).into())
            }
            ObjRef::File { .. } => Some(self.digests.sha256(&self.plan(obj, version, key)?)),
        }
    }

    /// The byte plan of a source zip.
    pub fn plan(&self, obj: ObjRef, version: u8, key: &[u8]) -> Option<Plan> {
        let (series, unit, odd) = obj.zip()?;
        let a = self.source.archive;
        let s = &a.series[series as usize];
        Some(content::plan(
            a,
            s,
            unit,
            odd,
            version,
            object::file_name(key),
        ))
    }

    /// The text of a source `.CHECKSUM`.
    pub fn checksum_bytes(&self, obj: ObjRef, version: u8, key: &[u8]) -> Option<Vec<u8>> {
        let ObjRef::File {
            series,
            unit,
            checksum: true,
            odd,
        } = obj
        else {
            return None;
        };
        let zip_name = object::zip_name(key, true);
        let zip = ObjRef::File {
            series,
            unit,
            checksum: false,
            odd,
        };
        let plan = self.plan(zip, version, zip_name)?;
        Some(content::checksum_text(
            &self.digests.sha256(&plan),
            zip_name,
        ))
    }

    // ---------------------------------------------------------------- multipart

    pub fn create_upload(
        &self,
        d: &DestBucket,
        key: &[u8],
        content_type: Option<Arc<str>>,
    ) -> String {
        let mut st = lock_write(&d.store);
        st.next_upload += 1;
        let id = format!(
            "sim{:016x}{:08x}",
            crate::hash::mix(st.next_upload ^ d.created_ms as u64),
            st.next_upload
        );
        st.uploads.insert(
            id.clone(),
            Upload {
                key: key.into(),
                initiated_ms: now_ms(),
                content_type,
                parts: BTreeMap::new(),
            },
        );
        id
    }

    pub fn upload_key(&self, d: &DestBucket, id: &str) -> Option<Box<[u8]>> {
        lock_read(&d.store).uploads.get(id).map(|u| u.key.clone())
    }

    pub fn put_part(
        &self,
        d: &DestBucket,
        id: &str,
        number: u32,
        part: Part,
    ) -> Result<(), WriteError> {
        let mut st = lock_write(&d.store);
        let add = match &part.data {
            PartData::Bytes(b) => b.len() as u64,
            PartData::Source { .. } => 0,
        };
        let up = st.uploads.get_mut(id).ok_or(WriteError::NoSuchUpload)?;
        let old = up.parts.insert(number, part);
        let sub = match old.map(|p| p.data) {
            Some(PartData::Bytes(b)) => b.len() as u64,
            _ => 0,
        };
        st.kept_bytes = st.kept_bytes + add - sub;
        Ok(())
    }

    pub fn abort_upload(&self, d: &DestBucket, id: &str) -> bool {
        let mut st = lock_write(&d.store);
        let Some(up) = st.uploads.remove(id) else {
            return false;
        };
        for p in up.parts.values() {
            if let PartData::Bytes(b) = &p.data {
                st.kept_bytes -= b.len() as u64;
            }
        }
        true
    }

    /// CompleteMultipartUpload with the client's (part number, ETag hex) list.
    pub fn complete_upload(
        &self,
        d: &DestBucket,
        id: &str,
        list: &[(u32, String)],
    ) -> Result<(Box<[u8]>, StoredObject), WriteError> {
        let up = {
            let mut st = lock_write(&d.store);
            let up = st.uploads.get(id).ok_or(WriteError::NoSuchUpload)?;
            if list.is_empty() {
                return Err(WriteError::NoParts);
            }
            let mut last = 0;
            for (n, etag) in list {
                if *n <= last {
                    return Err(WriteError::InvalidPartOrder);
                }
                last = *n;
                let p = up.parts.get(n).ok_or(WriteError::InvalidPart(*n))?;
                if etag.trim_matches('"') != crate::hash::hex(&p.etag) {
                    return Err(WriteError::InvalidPart(*n));
                }
            }
            let up = st.uploads.remove(id).ok_or(WriteError::NoSuchUpload)?;
            for p in up.parts.values() {
                if let PartData::Bytes(b) = &p.data {
                    st.kept_bytes -= b.len() as u64;
                }
            }
            up
        };
        let parts: Vec<&Part> = list.iter().filter_map(|(n, _)| up.parts.get(n)).collect();
        let size: u64 = parts.iter().map(|p| p.size).sum();
        let mut md5s = Vec::with_capacity(16 * parts.len());
        for p in &parts {
            md5s.extend_from_slice(&p.etag);
        }
        let etag = ETag::Multipart(Md5::digest(&md5s).into(), parts.len() as u32);
        let content = self.assemble(d, &up.key, &parts, size);
        let o = StoredObject {
            size,
            etag,
            last_modified_ms: now_ms(),
            content,
            content_type: up.content_type.clone(),
        };
        Ok((up.key, o))
    }

    fn assemble(&self, d: &DestBucket, key: &[u8], parts: &[&Part], size: u64) -> Content {
        // Contiguous ranges of one source object covering it: a reference.
        if let Some(PartData::Source {
            obj,
            version,
            key: skey,
            ..
        }) = parts.first().map(|p| &p.data)
        {
            let mut at = 0;
            let whole = parts.iter().all(|p| match &p.data {
                PartData::Source {
                    obj: o,
                    version: v,
                    start,
                    len,
                    ..
                } if o == obj && v == version && *start == at => {
                    at += len;
                    true
                }
                _ => false,
            });
            let source_size = object::meta(self.source.archive, *obj, skey, &self.source.view).size;
            if whole && at == source_size {
                return Content::Source {
                    obj: *obj,
                    version: *version,
                    key: skey.clone(),
                };
            }
        }
        let kept = lock_read(&d.store).kept_bytes;
        if kept + size > self.max_kept_bytes {
            return Content::Unkept;
        }
        let mut body = Vec::with_capacity(size as usize);
        for p in parts {
            match &p.data {
                PartData::Bytes(b) => body.extend_from_slice(b),
                PartData::Source {
                    obj,
                    version,
                    key,
                    start,
                    len,
                } => {
                    self.source_range(*obj, *version, key, *start, start + len, &mut body);
                }
            }
        }
        let body = Bytes::from(body);
        if let Some((obj, meta, skey)) = self.recognize(d, key, &body) {
            return Content::Source {
                obj,
                version: meta.version,
                key: skey,
            };
        }
        Content::Bytes(body)
    }

    /// Bytes `start..end` of a source object, appended to `out` (whole; for assembling).
    pub fn source_range(
        &self,
        obj: ObjRef,
        version: u8,
        key: &[u8],
        start: u64,
        end: u64,
        out: &mut Vec<u8>,
    ) {
        match obj {
            ObjRef::Marker => {}
            ObjRef::File { checksum: true, .. } => {
                if let Some(t) = self.checksum_bytes(obj, version, key) {
                    let e = (end as usize).min(t.len());
                    out.extend_from_slice(&t[(start as usize).min(e)..e]);
                }
            }
            ObjRef::File { .. } => match self.plan(obj, version, key) {
                Some(Plan::Zip(p)) => {
                    let crc = self.digests.crc(&p);
                    let mut r = p.reader(crc, start, end);
                    while r.fill(&p, out, 1 << 20) {}
                }
                Some(Plan::Filler { seed, total }) => {
                    content::filler(seed, start, end.min(total), out)
                }
                None => {}
            },
        }
    }

    /// Stored uploads of a destination, for ListMultipartUploads.
    pub fn uploads(&self, d: &DestBucket, prefix: &[u8]) -> Vec<(Box<[u8]>, String, i64)> {
        lock_read(&d.store)
            .uploads
            .iter()
            .filter(|(_, u)| u.key.starts_with(prefix))
            .map(|(id, u)| (u.key.clone(), id.clone(), u.initiated_ms))
            .collect()
    }

    /// Keys a listing of `prefix` would return (quirk objects aside), optionally only of
    /// one kline interval and of dates overlapping `range`: for extrapolating a listing
    /// that was stopped.
    pub fn count(
        &self,
        bucket: &BucketRef,
        prefix: &[u8],
        interval: Option<u8>,
        range: Option<(Day, Day)>,
    ) -> u64 {
        let a = self.source.archive;
        let d = match bucket {
            BucketRef::Source => return a.count_under(&self.source.view, prefix, interval, range),
            BucketRef::Dest(d) => d,
        };
        let mut n: i64 = 0;
        if let Some(m) = &d.mirror {
            let rel: Option<&[u8]> = match prefix.strip_prefix(m.prefix.as_slice()) {
                Some(r) => Some(r),
                None if m.prefix.starts_with(prefix) => Some(b""),
                None => None,
            };
            if let Some(rel) = rel {
                n += a.count_under(&m.view, rel, interval, range) as i64;
            }
        }
        let st = lock_read(&d.store);
        for (k, v) in st
            .objects
            .range::<[u8], _>((Bound::Included(prefix), Bound::Unbounded))
        {
            if !k.starts_with(prefix) {
                break;
            }
            if !key_matches(k, interval, range) {
                continue;
            }
            let modelled = self.modelled(d, k);
            match v {
                Stored::Object(_) if !modelled => n += 1,
                Stored::Tombstone if modelled => n -= 1,
                _ => {}
            }
        }
        n.max(0) as u64
    }

    /// Keys held per destination: (modelled, stored, tombstones, kept bytes).
    pub fn dest_stats(&self) -> HashMap<String, (u64, usize, usize, u64)> {
        let a = self.source.archive;
        lock_read(&self.dests)
            .values()
            .map(|d| {
                let st = lock_read(&d.store);
                let modelled = d.mirror.as_ref().map_or(0, |m| a.count_keys(&m.view));
                let tombs = st.objects.len() - st.live_objects();
                (
                    d.name.clone(),
                    (modelled, st.live_objects(), tombs, st.kept_bytes),
                )
            })
            .collect()
    }
}

/// Whether a stored key is of a kline interval and dated within `range` (by its file name:
/// `...-YYYY-MM-DD.zip` or `...-YYYY-MM.zip`, CHECKSUMs alike).
fn key_matches(key: &[u8], interval: Option<u8>, range: Option<(Day, Day)>) -> bool {
    if let Some(i) = interval {
        let seg = format!("/{}/", crate::model::catalog::interval_name(i));
        if !key.windows(seg.len()).any(|w| w == seg.as_bytes()) {
            return false;
        }
    }
    let Some((from, to)) = range else { return true };
    let name = object::file_name(key);
    let name = name.strip_suffix(b".CHECKSUM").unwrap_or(name);
    let Some(stem) = name.strip_suffix(b".zip") else {
        return false;
    };
    let text = String::from_utf8_lossy(stem);
    if text.len() >= 10
        && let Some(day) = crate::time::parse_day(&text[text.len() - 10..])
    {
        return (from..=to).contains(&day);
    }
    if text.len() >= 7
        && let Some(first) = crate::time::parse_day(&format!("{}-01", &text[text.len() - 7..]))
    {
        let last = crate::time::last_day_of_month(crate::time::month_of_day(first));
        return first <= to && last >= from;
    }
    false
}

// -------------------------------------------------------------------- listing sources

/// The source bucket (or a mirror's model) as a listing key source.
pub struct ModelSource {
    archive: &'static Archive,
    view: View,
    cursor: Cursor<'static>,
}

impl ModelSource {
    pub fn new(archive: &'static Archive, view: View, base: &[u8]) -> ModelSource {
        ModelSource {
            archive,
            view,
            cursor: Cursor::seek(archive, view, base, &[0xff]),
        }
    }
}

impl KeySource for ModelSource {
    fn seek(&mut self, bound: &[u8]) {
        self.cursor.reseek(bound);
    }
    fn key(&self) -> Option<&[u8]> {
        self.cursor.current().map(|(k, _)| k)
    }
    fn entry(&self) -> Entry {
        let Some((k, obj)) = self.cursor.current() else {
            unreachable!("entry() is only called on a current key")
        };
        let m = object::meta(self.archive, obj, k, &self.view);
        Entry {
            key: k.to_vec(),
            size: m.size,
            etag: m.etag,
            last_modified_ms: m.last_modified_ms,
        }
    }
    fn advance(&mut self) {
        self.cursor.next_key();
    }
}

/// A destination: its model merged with its store (the store wins; tombstones hide).
pub struct DestSource<'s> {
    model: Option<ModelSource>,
    store: &'s Store,
    it: std::iter::Peekable<std::collections::btree_map::Range<'s, Box<[u8]>, Stored>>,
}

impl<'s> DestSource<'s> {
    pub fn new(buckets: &Buckets, d: &DestBucket, store: &'s Store) -> DestSource<'s> {
        let model = d
            .mirror
            .as_ref()
            .map(|m| ModelSource::new(buckets.source.archive, m.view, &m.prefix));
        DestSource {
            model,
            store,
            it: store
                .objects
                .range::<[u8], _>((Bound::Unbounded, Bound::Unbounded))
                .peekable(),
        }
    }

    /// Drop tombstones (and the modelled keys they hide) from the front.
    fn normalize(&mut self) {
        loop {
            let Some((sk, Stored::Tombstone)) = self.it.peek() else {
                return;
            };
            let sk: &[u8] = sk;
            if let Some(m) = self.model.as_mut() {
                match m.key() {
                    Some(mk) if mk == sk => m.advance(),
                    Some(mk) if mk < sk => return, // the model's key comes first
                    _ => {}
                }
            }
            self.it.next();
        }
    }

    fn store_first(&mut self) -> Option<bool> {
        let s = self.it.peek().map(|(k, _)| &***k);
        let m = self.model.as_ref().and_then(|m| m.key());
        match (s, m) {
            (None, None) => None,
            (Some(_), None) => Some(true),
            (None, Some(_)) => Some(false),
            (Some(s), Some(m)) => Some(s <= m),
        }
    }
}

impl KeySource for DestSource<'_> {
    fn seek(&mut self, bound: &[u8]) {
        if let Some(m) = self.model.as_mut() {
            m.seek(bound);
        }
        self.it = self
            .store
            .objects
            .range::<[u8], _>((Bound::Included(bound), Bound::Unbounded))
            .peekable();
        self.normalize();
    }
    fn key(&self) -> Option<&[u8]> {
        let s = self.it.clone().next().map(|(k, _)| &**k);
        let m = self.model.as_ref().and_then(|m| m.key());
        match (s, m) {
            (Some(s), Some(m)) => Some(s.min(m)),
            (s, m) => s.or(m),
        }
    }
    fn entry(&self) -> Entry {
        let s = self.it.clone().next();
        let m = self.model.as_ref().and_then(|m| m.key());
        match s {
            Some((k, Stored::Object(o))) if m.is_none_or(|m| &**k <= m) => Entry {
                key: k.to_vec(),
                size: o.size,
                etag: o.etag,
                last_modified_ms: o.last_modified_ms,
            },
            _ => match self.model.as_ref() {
                Some(m) => m.entry(),
                None => unreachable!("entry() is only called on a current key"),
            },
        }
    }
    fn advance(&mut self) {
        match self.store_first() {
            Some(true) => {
                let k = self.it.next().map(|(k, _)| k.clone());
                if let (Some(k), Some(m)) = (k, self.model.as_mut())
                    && m.key() == Some(&k)
                {
                    m.advance();
                }
            }
            Some(false) => {
                if let Some(m) = self.model.as_mut() {
                    m.advance();
                }
            }
            None => {}
        }
        self.normalize();
    }
}

/// Read access to a destination's store for a listing.
pub fn read_store(d: &DestBucket) -> std::sync::RwLockReadGuard<'_, Store> {
    lock_read(&d.store)
}
