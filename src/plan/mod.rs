//! Incremental planning: a merge join of the sorted source listing with the sorted
//! destination listing, one decision per source object, in constant memory.
//!
//! Keys here are relative to each side's folder, so the same relative key names the same
//! object on both sides.

pub mod batch;
pub mod folders;
pub mod shard;
pub mod view;

use std::iter::Peekable;

use crate::list::Object;

/// Why an object is copied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// Not at the destination.
    Missing,
    /// At the destination with another size.
    SizeDiffers,
    /// The source was modified after the destination copy was written (a re-upload, even
    /// with the same size).
    SourceNewer,
    /// Same size and age, but both ETags are plain MD5s and they differ.
    EtagDiffers,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Copy { object: Object, reason: Reason },
    Skip { object: Object },
}

/// A single-part ETag is the MD5 of the content; a multipart one ends in `-N`.
fn single_part(etag: &Option<String>) -> Option<&str> {
    etag.as_deref()
        .filter(|e| !e.is_empty() && !e.contains('-'))
}

/// Whether (and why) the source object must be copied over what the destination holds.
pub fn decide(src: &Object, dst: Option<&Object>) -> Option<Reason> {
    let Some(dst) = dst else {
        return Some(Reason::Missing);
    };
    if src.size != dst.size {
        return Some(Reason::SizeDiffers);
    }
    if let (Some(s), Some(d)) = (src.last_modified, dst.last_modified)
        && s > d
    {
        return Some(Reason::SourceNewer);
    }
    if let (Some(s), Some(d)) = (single_part(&src.etag), single_part(&dst.etag))
        && s != d
    {
        return Some(Reason::EtagDiffers);
    }
    None
}

/// A listing was not in key order, so the merge cannot be trusted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the {side} listing is not sorted by key: {key:?} came after {previous:?}")]
pub struct OrderError {
    pub side: &'static str,
    pub previous: String,
    pub key: String,
}

impl OrderError {
    pub fn hint(&self) -> &'static str {
        "the server returned keys out of order; please report this with the server's name"
    }
}

/// Merge two key-ordered streams into decisions for every source object.
pub struct Merge<S: Iterator<Item = Object>, D: Iterator<Item = Object>> {
    src: Peekable<S>,
    dst: Peekable<D>,
    last_src: Option<String>,
    last_dst: Option<String>,
    failed: bool,
}

impl<S: Iterator<Item = Object>, D: Iterator<Item = Object>> Merge<S, D> {
    pub fn new(src: S, dst: D) -> Self {
        Self {
            src: src.peekable(),
            dst: dst.peekable(),
            last_src: None,
            last_dst: None,
            failed: false,
        }
    }
}

fn check_order(side: &'static str, last: &mut Option<String>, key: &str) -> Result<(), OrderError> {
    if let Some(prev) = last.as_deref()
        && key <= prev
    {
        return Err(OrderError {
            side,
            previous: prev.to_string(),
            key: key.to_string(),
        });
    }
    *last = Some(key.to_string());
    Ok(())
}

impl<S: Iterator<Item = Object>, D: Iterator<Item = Object>> Iterator for Merge<S, D> {
    type Item = Result<Decision, OrderError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        let src = self.src.next()?;
        if let Err(e) = check_order("source", &mut self.last_src, &src.key) {
            self.failed = true;
            return Some(Err(e));
        }
        // Destination objects before this key have no source counterpart: pass them.
        loop {
            match self.dst.peek() {
                Some(d) if d.key < src.key => {
                    let key = d.key.clone();
                    if let Err(e) = check_order("destination", &mut self.last_dst, &key) {
                        self.failed = true;
                        return Some(Err(e));
                    }
                    self.dst.next();
                }
                _ => break,
            }
        }
        let dst = match self.dst.peek() {
            Some(d) if d.key == src.key => {
                let d = self.dst.next();
                if let Some(d) = &d
                    && let Err(e) = check_order("destination", &mut self.last_dst, &d.key)
                {
                    self.failed = true;
                    return Some(Err(e));
                }
                d
            }
            _ => None,
        };
        Some(Ok(match decide(&src, dst.as_ref()) {
            Some(reason) => Decision::Copy {
                object: src,
                reason,
            },
            None => Decision::Skip { object: src },
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Option<jiff::Timestamp> {
        Some(s.parse().unwrap())
    }

    fn obj(key: &str, size: u64, etag: &str, lm: &str) -> Object {
        Object {
            key: key.into(),
            size,
            etag: (!etag.is_empty()).then(|| etag.to_string()),
            last_modified: ts(lm),
        }
    }

    /// Objects where only the keys matter: one byte each, no ETag, modified at `lm`.
    fn keys(keys: &[&str], lm: &str) -> Vec<Object> {
        keys.iter().map(|k| obj(k, 1, "", lm)).collect()
    }

    const T0: &str = "2024-01-01T00:00:00Z";
    const T1: &str = "2024-01-02T00:00:00Z";

    #[test]
    fn decisions() {
        let s = obj("a", 10, "aaa", T0);
        assert_eq!(decide(&s, None), Some(Reason::Missing));
        // Same size, destination written later (the normal state after a copy): skip.
        assert_eq!(decide(&s, Some(&obj("a", 10, "aaa", T1))), None);
        assert_eq!(
            decide(&s, Some(&obj("a", 11, "aaa", T1))),
            Some(Reason::SizeDiffers)
        );
        // Re-uploaded at the source after our copy, same size and even same ETag form.
        let newer = obj("a", 10, "bbb", T1);
        assert_eq!(
            decide(&newer, Some(&obj("a", 10, "aaa", T0))),
            Some(Reason::SourceNewer)
        );
        assert_eq!(
            decide(&s, Some(&obj("a", 10, "zzz", T1))),
            Some(Reason::EtagDiffers)
        );
        // A multipart ETag cannot be compared with an MD5.
        assert_eq!(decide(&s, Some(&obj("a", 10, "abc-3", T1))), None);
        // Unknown dates: fall back to size and ETag.
        let mut undated = s.clone();
        undated.last_modified = None;
        assert_eq!(decide(&undated, Some(&obj("a", 10, "aaa", T0))), None);
    }

    fn run(src: Vec<Object>, dst: Vec<Object>) -> Vec<(String, Option<Reason>)> {
        Merge::new(src.into_iter(), dst.into_iter())
            .map(|d| match d.unwrap() {
                Decision::Copy { object, reason } => (object.key, Some(reason)),
                Decision::Skip { object } => (object.key, None),
            })
            .collect()
    }

    /// `key`'s object on a side it is listed on: (size, ETag, last modified).
    fn listed(key: &str, on_side: Option<(u64, &str, &str)>) -> Option<Object> {
        on_side.map(|(size, etag, lm)| obj(key, size, etag, lm))
    }

    #[test]
    fn merge_covers_missing_same_changed_newer_and_destination_only() {
        // Per key, in order: the source's and the destination's (size, ETag, modified).
        let rows = [
            ("0-dest-only", None, Some((1, "x", T0))),
            ("a", Some((1, "e1", T0)), None),
            ("b", Some((2, "e2", T0)), Some((2, "e2", T1))),
            ("c", Some((3, "e3", T0)), Some((30, "e3", T1))),
            ("d", Some((4, "e4", T1)), Some((4, "e4", T0))),
            ("e-dest-only", None, Some((5, "x", T0))),
            ("f", Some((6, "e6", T0)), None),
            ("z-dest-only", None, Some((5, "x", T0))),
        ];
        let src = rows
            .iter()
            .filter_map(|&(key, s, _)| listed(key, s))
            .collect();
        let dst = rows
            .iter()
            .filter_map(|&(key, _, d)| listed(key, d))
            .collect();
        assert_eq!(
            run(src, dst),
            vec![
                ("a".into(), Some(Reason::Missing)),
                ("b".into(), None),
                ("c".into(), Some(Reason::SizeDiffers)),
                ("d".into(), Some(Reason::SourceNewer)),
                ("f".into(), Some(Reason::Missing)),
            ]
        );
    }

    #[test]
    fn merge_with_empty_sides() {
        assert_eq!(run(vec![], keys(&["a"], T0)), vec![]);
        assert_eq!(
            run(keys(&["a"], T0), vec![]),
            vec![("a".into(), Some(Reason::Missing))]
        );
    }

    #[test]
    fn byte_order_not_locale_order() {
        // S3 lists in UTF-8 byte order: uppercase before lowercase, '/' (0x2F) before '0'.
        let src = keys(&["A/x", "a.zip", "a/b"], T0);
        let dst = keys(&["a.zip", "a/b"], T1);
        assert_eq!(
            run(src, dst),
            vec![
                ("A/x".into(), Some(Reason::Missing)),
                ("a.zip".into(), None),
                ("a/b".into(), None),
            ]
        );
    }

    #[test]
    fn unsorted_input_is_an_error_not_a_wrong_plan() {
        let src = keys(&["b", "a"], T0);
        let mut m = Merge::new(src.into_iter(), std::iter::empty());
        assert!(m.next().unwrap().is_ok());
        let err = m.next().unwrap().unwrap_err();
        assert_eq!(err.side, "source");
        assert!(m.next().is_none());

        let dst = keys(&["c", "b"], T0);
        let src = keys(&["d"], T0);
        let mut m = Merge::new(src.into_iter(), dst.into_iter());
        assert_eq!(m.next().unwrap().unwrap_err().side, "destination");
    }
}
