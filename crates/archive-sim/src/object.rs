//! Per-key metadata of source objects: size, ETag, LastModified and which upload of the
//! file a view sees, all pure functions of the key and the view's snapshot.
//!
//! ETags are MD5-*shaped* (16 bytes from a hash), not the MD5 of the bytes served: a true MD5
//! would cost a pass over every file a listing shows (50 MB a page for 1m klines). They act
//! as the content's fingerprint instead: a copy keeps its source's ETag as S3's CopyObject
//! does, and an upload whose bytes are exactly a source object's gets that object's ETag
//! (see [`crate::buckets`]), so "same ETag" still means "same bytes" for every client.

use crate::archive::{Archive, ObjRef, View};
use crate::content;
use crate::cursor;
use crate::hash;
use crate::time::days_from_civil;

/// An S3 ETag.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ETag {
    /// A single-part object's (MD5-shaped) ETag.
    Md5([u8; 16]),
    /// A multipart object's: MD5 of the part MD5s, and the part count.
    Multipart([u8; 16], u32),
}

impl ETag {
    /// The value without quotes, as s5cmd and lakesync show it.
    pub fn hex(&self) -> String {
        match self {
            ETag::Md5(d) => hash::hex(d),
            ETag::Multipart(d, n) => format!("{}-{n}", hash::hex(d)),
        }
    }

    /// The header value, quoted.
    pub fn quoted(&self) -> String {
        format!("\"{}\"", self.hex())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Meta {
    pub size: u64,
    pub etag: ETag,
    pub last_modified_ms: i64,
    /// 0: the first upload; 1: the re-upload.
    pub version: u8,
}

/// MD5 of no bytes (the marker object is really empty).
pub const EMPTY_MD5: [u8; 16] = [
    0xd4, 0x1d, 0x8c, 0xd9, 0x8f, 0x00, 0xb2, 0x04, 0xe9, 0x80, 0x09, 0x98, 0xec, 0xf8, 0x42, 0x7e,
];

/// The file name of a key (its last segment).
pub fn file_name(key: &[u8]) -> &[u8] {
    match key.iter().rposition(|&b| b == b'/') {
        Some(i) => &key[i + 1..],
        None => key,
    }
}

/// The zip's file name for a zip or `.CHECKSUM` key.
pub fn zip_name(key: &[u8], checksum: bool) -> &[u8] {
    let name = file_name(key);
    if checksum {
        name.strip_suffix(b".CHECKSUM").unwrap_or(name)
    } else {
        name
    }
}

pub fn meta(archive: &'static Archive, obj: ObjRef, key: &[u8], view: &View) -> Meta {
    match obj {
        ObjRef::Marker => Meta {
            size: 0,
            etag: ETag::Md5(EMPTY_MD5),
            last_modified_ms: i64::from(days_from_civil(2021, 6, 1)) * 86_400_000 + 3_600_000,
            version: 0,
        },
        ObjRef::File {
            series,
            unit,
            checksum,
            odd,
        } => {
            let s = &archive.series[series as usize];
            let published = archive.published_ms(s, unit);
            let reupload =
                archive.reuploaded_ms(s, unit, || cursor::file_key(archive, s, unit, false));
            let (version, uploaded) = match reupload {
                Some(r) if r <= view.snapshot_ms => (1u8, r),
                _ => (0u8, published),
            };
            let name_len = zip_name(key, checksum).len();
            let size = if checksum {
                content::checksum_size(name_len)
            } else {
                content::zip_size(archive, s, unit, odd, name_len)
            };
            let seed = content::file_seed(s, unit, odd);
            Meta {
                size,
                etag: ETag::Md5(hash::digest16(hash::pair(
                    seed,
                    u64::from(version) * 2 + u64::from(checksum),
                ))),
                // "a CHECKSUM can be written ~1 s before its zip"
                last_modified_ms: uploaded - if checksum { 1000 } else { 0 },
                version,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cursor::Cursor;
    use crate::cursor::tests::{small_archive, view};

    #[test]
    fn a_reupload_keeps_the_size_and_changes_etag_date_and_bytes() {
        let a: &'static Archive = Box::leak(Box::new(small_archive(0)));
        let late = view((2030, 1, 1));
        let mut early = late;
        let mut c = Cursor::seek(a, late, b"", b"");
        let mut seen = 0;
        while let Some((key, obj)) = c.current() {
            let m = meta(a, obj, key, &late);
            if m.version == 1 {
                // The same file before its re-upload.
                early.snapshot_ms = m.last_modified_ms - 5_000;
                let old = meta(a, obj, key, &early);
                assert_eq!(old.version, 0);
                assert_eq!(old.size, m.size);
                assert_ne!(old.etag, m.etag);
                assert!(old.last_modified_ms < m.last_modified_ms);
                if let Some((series, unit, odd)) = obj.zip() {
                    let s = &a.series[series as usize];
                    let name = file_name(key);
                    let p0 = content::plan(a, s, unit, odd, 0, name);
                    let p1 = content::plan(a, s, unit, odd, 1, name);
                    let cache = content::DigestCache::default();
                    assert_eq!(p0.total(), p1.total());
                    assert_ne!(cache.sha256(&p0), cache.sha256(&p1), "new bytes");
                }
                seen += 1;
                if seen == 25 {
                    break;
                }
            }
            c.next_key();
        }
        // --reupload-fraction 0.05 in the small archive: 25 re-uploads are found long
        // before the end (hashing every re-uploaded zip would take minutes).
        assert_eq!(seen, 25);
    }
}
