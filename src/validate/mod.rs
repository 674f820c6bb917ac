//! Validation after copying: an object counts as in place only when a fresh destination
//! listing shows it with the source's size (and the source's ETag, where both are plain
//! MD5s).
//!
//! The objects each batch copied are checked against a listing of their narrowed prefixes
//! while the next batches copy ([`overlap`]): memory is bounded by the hand-overs waiting
//! for a check, however many objects the run copies.

pub mod checksum;
pub mod narrow;
pub mod overlap;
pub mod verify;

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
}
