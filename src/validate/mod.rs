//! Validation after copying: an object counts as in place only when a fresh destination
//! listing shows it with the source's size (and the source's ETag, where both are plain
//! MD5s).
//!
//! The objects a run copied are spilled, in key order, to a private file as they complete,
//! then merged with the destination listing: memory stays flat however many were copied.

pub mod checksum;
pub mod narrow;
pub mod verify;

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use crate::list::Object;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Check {
    Ok,
    Missing,
    SizeMismatch { expected: u64, actual: u64 },
    EtagMismatch { expected: String, actual: String },
}

impl Check {
    pub fn describe(&self) -> String {
        match self {
            Check::Ok => "ok".into(),
            Check::Missing => "validation: not found at the destination after the copy".into(),
            Check::SizeMismatch { expected, actual } => {
                format!("validation: destination size {actual} differs from source size {expected}")
            }
            Check::EtagMismatch { expected, actual } => {
                format!("validation: destination ETag {actual} differs from source ETag {expected}")
            }
        }
    }
}

fn plain_md5(etag: &Option<String>) -> Option<&str> {
    etag.as_deref()
        .filter(|e| !e.is_empty() && !e.contains('-'))
}

/// Compare what we copied with what the destination lists.
pub fn check(expected: &Object, actual: Option<&Object>) -> Check {
    let Some(actual) = actual else {
        return Check::Missing;
    };
    if expected.size != actual.size {
        return Check::SizeMismatch {
            expected: expected.size,
            actual: actual.size,
        };
    }
    if let (Some(e), Some(a)) = (plain_md5(&expected.etag), plain_md5(&actual.etag))
        && e != a
    {
        return Check::EtagMismatch {
            expected: e.into(),
            actual: a.into(),
        };
    }
    Check::Ok
}

/// Merge expected objects (key order) with the destination listing (key order, keys
/// relative to the same folder) and report a check for each expected object.
pub fn merge_checks(
    expected: impl Iterator<Item = Object>,
    dest: impl Iterator<Item = Object>,
    mut on_check: impl FnMut(&Object, Check),
) {
    let mut dest = dest.peekable();
    for e in expected {
        while dest.peek().is_some_and(|d| d.key < e.key) {
            dest.next();
        }
        let hit = dest.next_if(|d| d.key == e.key);
        on_check(&e, check(&e, hit.as_ref()));
    }
}

/// A private append-only file of copied objects (JSON lines).
pub struct Spill {
    path: PathBuf,
    writer: BufWriter<File>,
    count: u64,
}

impl Spill {
    pub fn create(path: &Path) -> std::io::Result<Self> {
        let f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)?;
        Ok(Self {
            path: path.to_path_buf(),
            writer: BufWriter::new(f),
            count: 0,
        })
    }

    pub fn push(&mut self, o: &Object) -> std::io::Result<()> {
        serde_json::to_writer(&mut self.writer, o)?;
        self.writer.write_all(b"\n")?;
        self.count += 1;
        Ok(())
    }

    pub fn count(&self) -> u64 {
        self.count
    }

    /// Finish writing and read the objects back in the order written.
    pub fn into_reader(mut self) -> std::io::Result<impl Iterator<Item = Object>> {
        self.writer.flush()?;
        let f = File::open(&self.path)?;
        Ok(BufReader::new(f)
            .lines()
            .map_while(Result::ok)
            .filter_map(|l| serde_json::from_str(&l).ok()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn o(key: &str, size: u64, etag: Option<&str>) -> Object {
        Object {
            key: key.into(),
            size,
            etag: etag.map(String::from),
            last_modified: None,
        }
    }

    #[test]
    fn checks() {
        let e = o("a", 5, Some("abc"));
        assert_eq!(check(&e, Some(&o("a", 5, Some("abc")))), Check::Ok);
        assert_eq!(check(&e, None), Check::Missing);
        assert_eq!(
            check(&e, Some(&o("a", 4, Some("abc")))),
            Check::SizeMismatch {
                expected: 5,
                actual: 4
            }
        );
        assert!(matches!(
            check(&e, Some(&o("a", 5, Some("abd")))),
            Check::EtagMismatch { .. }
        ));
        assert_eq!(check(&e, Some(&o("a", 5, Some("x-2")))), Check::Ok);
        assert_eq!(check(&e, Some(&o("a", 5, None))), Check::Ok);
    }

    #[test]
    fn merge_finds_each_expected_object_among_others() {
        let expected = vec![o("b", 1, None), o("d", 2, None), o("f", 3, None)];
        let dest = vec![
            o("a", 9, None),
            o("b", 1, None),
            o("c", 9, None),
            o("d", 3, None),
            o("g", 3, None),
        ];
        let mut got = Vec::new();
        merge_checks(expected.into_iter(), dest.into_iter(), |e, c| {
            got.push((e.key.clone(), c))
        });
        assert_eq!(
            got,
            vec![
                ("b".into(), Check::Ok),
                (
                    "d".into(),
                    Check::SizeMismatch {
                        expected: 2,
                        actual: 3
                    }
                ),
                ("f".into(), Check::Missing),
            ]
        );
    }

    #[test]
    fn spill_round_trips_and_is_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("copied.jsonl");
        let mut s = Spill::create(&p).unwrap();
        let objs = vec![o("a b'c\"ü", 1, Some("e")), o("z", 2, None)];
        for x in &objs {
            s.push(x).unwrap();
        }
        assert_eq!(s.count(), 2);
        assert_eq!(
            std::fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let back: Vec<_> = s.into_reader().unwrap().collect();
        assert_eq!(back, objs);
    }
}
