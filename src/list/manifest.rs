//! Source listings from a manifest file instead of a live listing (`--source-manifest`):
//! how large users list buckets (S3 Inventory), and how to plan a million objects without a
//! server holding them.
//!
//! Two formats, detected per line: `s5cmd ls --json` lines (`{"key":"s3://b/k",...}`), and
//! S3 Inventory CSV in the default field order `Bucket, Key, Size, LastModifiedDate, ETag`
//! (quoted fields; the key URL-encoded, as Inventory writes it). Lines must be sorted by key,
//! as both `s5cmd ls` and a sorted Inventory are; the planner refuses unsorted input.
//! The file is streamed: memory does not grow with its size.

use std::cell::RefCell;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::rc::Rc;

use crate::list::{ListError, Object};
use crate::s3url::S3Url;
use crate::s5cmd::{Event, parse_line};

/// Split one CSV line (RFC 4180 quoting) into fields.
fn csv_fields(line: &str) -> Option<Vec<String>> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut chars = line.chars().peekable();
    let mut quoted = false;
    let mut was_quoted = false;
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                chars.next();
                cur.push('"');
            }
            ('"', true) => quoted = false,
            ('"', false) if cur.is_empty() && !was_quoted => {
                quoted = true;
                was_quoted = true;
            }
            (',', false) => {
                out.push(std::mem::take(&mut cur));
                was_quoted = false;
            }
            (c, _) => cur.push(c),
        }
    }
    if quoted {
        return None;
    }
    out.push(cur);
    Some(out)
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Parse one manifest line into an object with its full key (None: blank line).
pub fn parse_manifest_line(line: &str) -> Result<Option<Object>, String> {
    let line = line.trim_end_matches(['\r', '\n']);
    if line.trim().is_empty() {
        return Ok(None);
    }
    if line.trim_start().starts_with('{') {
        return match parse_line(line) {
            Event::Listing(e) if e.is_dir => Ok(None),
            Event::Listing(e) => {
                let key = match e.url.strip_prefix("s3://") {
                    Some(rest) => rest.split_once('/').map_or("", |(_, k)| k).to_string(),
                    None => e.url.clone(),
                };
                Ok(Some(Object {
                    last_modified: e.last_modified_ts(),
                    key,
                    size: e.size,
                    etag: e.etag,
                }))
            }
            _ => Err("not an `s5cmd ls --json` line".into()),
        };
    }
    let f = csv_fields(line).ok_or("unterminated quote")?;
    if f.len() < 3 {
        return Err("an Inventory CSV line needs at least Bucket, Key, Size".into());
    }
    let key = percent_decode(&f[1]).ok_or("the key is not valid URL encoding")?;
    let size = f[2]
        .trim()
        .parse()
        .map_err(|_| format!("size {:?} is not a number", f[2]))?;
    Ok(Some(Object {
        key,
        size,
        last_modified: f.get(3).and_then(|t| t.trim().parse().ok()),
        etag: f
            .get(4)
            .map(|e| e.trim().trim_matches('"').to_string())
            .filter(|e| !e.is_empty()),
    }))
}

/// Objects of a manifest under `folder`, keys relative to it, in file order.
pub struct ManifestListing {
    lines: std::io::Lines<BufReader<File>>,
    folder: S3Url,
    origin: String,
    line_no: u64,
    pub error: Rc<RefCell<Option<ListError>>>,
}

impl ManifestListing {
    pub fn open(path: &Path, folder: S3Url) -> std::io::Result<Self> {
        let f = File::open(path)?;
        Ok(Self {
            lines: BufReader::with_capacity(256 * 1024, f).lines(),
            folder,
            origin: path.display().to_string(),
            line_no: 0,
            error: Rc::default(),
        })
    }
}

impl Iterator for ManifestListing {
    type Item = Object;

    fn next(&mut self) -> Option<Object> {
        loop {
            if self.error.borrow().is_some() {
                return None;
            }
            let line = match self.lines.next()? {
                Ok(l) => l,
                Err(e) => {
                    *self.error.borrow_mut() = Some(ListError::Failed {
                        url: self.origin.clone(),
                        error: e.to_string(),
                    });
                    return None;
                }
            };
            self.line_no += 1;
            match parse_manifest_line(&line) {
                Ok(None) => {}
                Ok(Some(mut o)) => {
                    let Some(rel) = self.folder.relative(&o.key) else {
                        continue;
                    };
                    o.key = rel.to_string();
                    return Some(o);
                }
                Err(why) => {
                    *self.error.borrow_mut() = Some(ListError::Failed {
                        url: format!("{} line {}", self.origin, self.line_no),
                        error: why,
                    });
                    return None;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `line` parses to an object with this key, size and ETag, and a date.
    fn assert_parses_to(line: &str, key: &str, size: u64, etag: &str) {
        let o = parse_manifest_line(line)
            .unwrap_or_else(|e| panic!("{line}: {e}"))
            .unwrap_or_else(|| panic!("{line}: no object"));
        assert_eq!(o.key, key, "{line}");
        assert_eq!(o.size, size, "{line}");
        assert_eq!(o.etag.as_deref(), Some(etag), "{line}");
        assert!(o.last_modified.is_some(), "{line}");
    }

    #[test]
    fn s5cmd_json_lines() {
        assert_parses_to(
            r#"{"key":"s3://src/data/a b.zip","etag":"abc","last_modified":"2024-01-01T00:00:00Z","type":"file","size":12}"#,
            "data/a b.zip",
            12,
            "abc",
        );
        assert!(parse_manifest_line("  ").unwrap().is_none());
        assert!(parse_manifest_line(r#"{"operation":"ls","error":"x"}"#).is_err());
    }

    #[test]
    fn inventory_csv_lines() {
        assert_parses_to(
            r#""src","data/spot/a%20b%2Bc.zip","1613","2024-01-01T00:00:00.000Z","0123abcd""#,
            "data/spot/a b+c.zip",
            1613,
            "0123abcd",
        );
        let o = parse_manifest_line("src,k.zip,5").unwrap().unwrap();
        assert_eq!((o.key.as_str(), o.size), ("k.zip", 5));
        assert!(
            parse_manifest_line("src,k.zip,five")
                .unwrap_err()
                .contains("five")
        );
        assert!(parse_manifest_line(r#""src,"k"#).is_err());
        assert!(parse_manifest_line("src,%zz,1").is_err());
        assert_eq!(
            csv_fields(r#""a ""q"" b",c"#).unwrap(),
            vec![r#"a "q" b"#, "c"]
        );
    }

    #[test]
    fn streams_a_file_under_the_folder() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("m.csv");
        std::fs::write(&p, "b,other/x.zip,1\nb,p/a.zip,2\nb,p/b.zip,3\n").unwrap();
        let folder = S3Url::parse("--source", "s3://bkt/p").unwrap();
        let got: Vec<_> = ManifestListing::open(&p, folder)
            .unwrap()
            .map(|o| (o.key, o.size))
            .collect();
        assert_eq!(
            got,
            vec![("a.zip".to_string(), 2), ("b.zip".to_string(), 3)]
        );
        std::fs::write(&p, "b,p/a.zip,2\nb,p/b.zip,oops\n").unwrap();
        let folder = S3Url::parse("--source", "s3://bkt/p").unwrap();
        let mut m = ManifestListing::open(&p, folder).unwrap();
        assert_eq!(m.by_ref().count(), 1);
        let err = m.error.borrow().clone().unwrap();
        assert!(err.to_string().contains("line 2"), "{err}");
    }
}
