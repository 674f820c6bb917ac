//! ListObjects (V1 and V2) pages over any sorted key source: prefix, delimiter with common
//! prefixes, start-after / marker, continuation tokens and max-keys, in S3's byte order.
//!
//! A delimiter listing never walks through a common prefix: after emitting `p/` it seeks to
//! the first key after every key starting with `p/`. So listing the ~4,000 symbol folders of
//! `data/spot/daily/klines/` costs ~4,000 seeks, not 10^7 keys.

use crate::object::ETag;

/// One listed object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub key: Vec<u8>,
    pub size: u64,
    pub etag: ETag,
    pub last_modified_ms: i64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Item {
    Object(Entry),
    Prefix(Vec<u8>),
}

/// Keys in byte order, seekable.
pub trait KeySource {
    /// Position at the first key `>= bound`.
    fn seek(&mut self, bound: &[u8]);
    fn key(&self) -> Option<&[u8]>;
    /// The current object's metadata (only called when `key()` is Some).
    fn entry(&self) -> Entry;
    fn advance(&mut self);
}

#[derive(Clone, Debug, Default)]
pub struct Request {
    pub prefix: Vec<u8>,
    pub delimiter: Option<Vec<u8>>,
    /// List keys `>= start` (from start-after, a marker or a continuation token).
    pub start: Vec<u8>,
    pub max_keys: usize,
}

#[derive(Clone, Debug, Default)]
pub struct Page {
    pub items: Vec<Item>,
    pub truncated: bool,
    /// Where the next page starts (a continuation token / NextMarker), when truncated.
    pub next: Option<Resume>,
}

impl Page {
    pub fn keys(&self) -> usize {
        self.items
            .iter()
            .filter(|i| matches!(i, Item::Object(_)))
            .count()
    }
}

/// Where a listing resumes: after a key, or after every key under a common prefix.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Resume {
    AfterKey(Vec<u8>),
    AfterPrefix(Vec<u8>),
}

impl Resume {
    /// The bound for the next page's `start`.
    pub fn bound(&self) -> Vec<u8> {
        match self {
            Resume::AfterKey(k) => after(k),
            Resume::AfterPrefix(p) => past_prefix(p),
        }
    }

    /// The last key or prefix of the page (S3's NextMarker).
    pub fn marker(&self) -> &[u8] {
        match self {
            Resume::AfterKey(k) | Resume::AfterPrefix(k) => k,
        }
    }

    /// An opaque continuation token (hex, so it needs no escaping anywhere).
    pub fn token(&self) -> String {
        let (tag, v) = match self {
            Resume::AfterKey(k) => ('k', k),
            Resume::AfterPrefix(p) => ('p', p),
        };
        let mut s = String::with_capacity(1 + 2 * v.len());
        s.push(tag);
        crate::hash::hex_into(v, &mut s);
        s
    }

    pub fn from_token(t: &str) -> Option<Resume> {
        let mut chars = t.chars();
        let tag = chars.next()?;
        let hex = chars.as_str().as_bytes();
        if !hex.len().is_multiple_of(2) {
            return None;
        }
        let nib = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
        let mut v = Vec::with_capacity(hex.len() / 2);
        for pair in hex.chunks(2) {
            v.push(nib(pair[0])? << 4 | nib(pair[1])?);
        }
        match tag {
            'k' => Some(Resume::AfterKey(v)),
            'p' => Some(Resume::AfterPrefix(v)),
            _ => None,
        }
    }
}

/// The smallest string greater than `k`.
pub fn after(k: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(k.len() + 1);
    v.extend_from_slice(k);
    v.push(0);
    v
}

/// The smallest string greater than every string starting with `p`.
pub fn past_prefix(p: &[u8]) -> Vec<u8> {
    let mut v = p.to_vec();
    while let Some(last) = v.pop() {
        if last < 0xff {
            v.push(last + 1);
            return v;
        }
    }
    // Every string starts with the empty prefix: nothing is past it. 0xff never occurs in
    // UTF-8, so a bound of one 0xff byte is past every key.
    vec![0xff]
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || hay.len() < needle.len() {
        return None;
    }
    if needle.len() == 1 {
        return hay.iter().position(|&b| b == needle[0]);
    }
    hay.windows(needle.len()).position(|w| w == needle)
}

/// One page of a listing.
pub fn page<S: KeySource>(src: &mut S, req: &Request) -> Page {
    let mut out = Page::default();
    let bound = if req.start.as_slice() > req.prefix.as_slice() {
        req.start.clone()
    } else {
        req.prefix.clone()
    };
    src.seek(&bound);
    let delim = req.delimiter.as_deref().filter(|d| !d.is_empty());
    while let Some(k) = src.key() {
        if !k.starts_with(&req.prefix) {
            break;
        }
        if out.items.len() >= req.max_keys {
            out.truncated = true;
            break;
        }
        let common = delim
            .and_then(|d| find(&k[req.prefix.len()..], d).map(|i| req.prefix.len() + i + d.len()));
        if let Some(end) = common {
            let p = k[..end].to_vec();
            src.seek(&past_prefix(&p));
            out.next = Some(Resume::AfterPrefix(p.clone()));
            out.items.push(Item::Prefix(p));
        } else {
            let e = src.entry();
            out.next = Some(Resume::AfterKey(e.key.clone()));
            out.items.push(Item::Object(e));
            src.advance();
        }
    }
    if !out.truncated {
        out.next = None;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A sorted Vec as a key source.
    struct VecSource {
        keys: Vec<Vec<u8>>,
        i: usize,
        seeks: usize,
    }

    impl KeySource for VecSource {
        fn seek(&mut self, bound: &[u8]) {
            self.seeks += 1;
            self.i = self.keys.partition_point(|k| k.as_slice() < bound);
        }
        fn key(&self) -> Option<&[u8]> {
            self.keys.get(self.i).map(|k| k.as_slice())
        }
        fn entry(&self) -> Entry {
            Entry {
                key: self.keys[self.i].clone(),
                size: 1,
                etag: ETag::Md5([0; 16]),
                last_modified_ms: 0,
            }
        }
        fn advance(&mut self) {
            self.i += 1;
        }
    }

    fn src(keys: &[&str]) -> VecSource {
        let mut keys: Vec<Vec<u8>> = keys.iter().map(|k| k.as_bytes().to_vec()).collect();
        keys.sort();
        VecSource {
            keys,
            i: 0,
            seeks: 0,
        }
    }

    /// Every page of a listing, following the resume points.
    fn all(
        s: &mut VecSource,
        prefix: &str,
        delim: Option<&str>,
        max: usize,
    ) -> (Vec<String>, usize) {
        let mut req = Request {
            prefix: prefix.as_bytes().to_vec(),
            delimiter: delim.map(|d| d.as_bytes().to_vec()),
            start: Vec::new(),
            max_keys: max,
        };
        let mut out = Vec::new();
        let mut pages = 0;
        loop {
            let p = page(s, &req);
            pages += 1;
            for it in &p.items {
                out.push(match it {
                    Item::Object(e) => String::from_utf8(e.key.clone()).unwrap(),
                    Item::Prefix(p) => format!("P:{}", String::from_utf8(p.clone()).unwrap()),
                });
            }
            match p.next {
                Some(r) if p.truncated => {
                    let tok = Resume::from_token(&r.token()).unwrap();
                    assert_eq!(tok, r);
                    req.start = tok.bound();
                }
                _ => break,
            }
        }
        (out, pages)
    }

    #[test]
    fn delimiter_groups_and_pages_past_prefixes() {
        let mut keys = vec!["a/x", "a/y/1", "a/y/2", "a/z", "b", "a/y/", "a//"];
        let many: Vec<String> = (0..2500).map(|i| format!("a/s{i:05}/f")).collect();
        keys.extend(many.iter().map(String::as_str));
        let mut s = src(&keys);
        let (items, pages) = all(&mut s, "a/", Some("/"), 1000);
        assert_eq!(pages, 3);
        assert_eq!(items.len(), 2500 + 4); // a//, s*, x, y/, z
        assert_eq!(items[0], "P:a//");
        assert!(items.contains(&"P:a/y/".to_string()));
        assert!(items.contains(&"a/x".to_string()));
        assert!(!items.contains(&"b".to_string()));
        // One seek per common prefix, not a walk through the keys under it.
        assert!(s.seeks <= 2504 + pages);
    }

    #[test]
    fn no_delimiter_lists_every_key_under_the_prefix_in_order() {
        let keys: Vec<String> = (0..2345).map(|i| format!("p/{i:06}")).collect();
        let mut all_keys: Vec<&str> = keys.iter().map(String::as_str).collect();
        all_keys.push("q");
        all_keys.push("p");
        let mut s = src(&all_keys);
        let (items, pages) = all(&mut s, "p/", None, 1000);
        assert_eq!(pages, 3);
        assert_eq!(items.len(), 2345);
        let mut sorted = items.clone();
        sorted.sort();
        assert_eq!(items, sorted);
    }

    #[test]
    fn exact_multiple_of_the_page_size_is_not_truncated() {
        let keys: Vec<String> = (0..2000).map(|i| format!("k{i:05}")).collect();
        let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
        let mut s = src(&refs);
        let (items, pages) = all(&mut s, "", None, 1000);
        assert_eq!((items.len(), pages), (2000, 2));
    }

    #[test]
    fn bounds_and_tokens() {
        assert_eq!(past_prefix(b"a/"), b"a0");
        assert_eq!(past_prefix(&[b'a', 0xff]), b"b");
        assert_eq!(after(b"a"), b"a\0");
        assert_eq!(Resume::from_token("zz"), None);
        assert_eq!(Resume::from_token("k6"), None);
        assert_eq!(
            Resume::from_token("k61"),
            Some(Resume::AfterKey(b"a".to_vec()))
        );
        assert_eq!(
            Resume::from_token("k6162"),
            Some(Resume::AfterKey(b"ab".to_vec()))
        );
    }

    #[test]
    fn start_after_and_max_keys_zero() {
        let mut s = src(&["a", "b", "c"]);
        let p = page(
            &mut s,
            &Request {
                start: after(b"a"),
                max_keys: 10,
                ..Default::default()
            },
        );
        assert_eq!(p.items.len(), 2);
        let p = page(
            &mut s,
            &Request {
                max_keys: 0,
                ..Default::default()
            },
        );
        assert!(p.items.is_empty() && p.truncated);
    }
}
