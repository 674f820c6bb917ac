//! S3's XML: escaping, `encoding-type=url`, the response documents the simulator writes,
//! and the two request bodies it reads (DeleteObjects, CompleteMultipartUpload).

use crate::listing::{Item, Page};
use crate::object::ETag;
use crate::time::push_iso_ms;

pub const HEAD: &str = r#"<?xml version="1.0" encoding="UTF-8"?>"#;
pub const NS: &str = "http://s3.amazonaws.com/doc/2006-03-01/";

/// XML text escaping.
pub fn push_escaped(out: &mut Vec<u8>, s: &[u8]) {
    for &b in s {
        match b {
            b'&' => out.extend_from_slice(b"&amp;"),
            b'<' => out.extend_from_slice(b"&lt;"),
            b'>' => out.extend_from_slice(b"&gt;"),
            b'"' => out.extend_from_slice(b"&quot;"),
            b'\'' => out.extend_from_slice(b"&apos;"),
            // XML 1.0 cannot carry most control characters; S3 answers with a character
            // reference, which clients that need them avoid with encoding-type=url.
            b if b < 0x20 && b != b'\t' && b != b'\n' && b != b'\r' => {
                out.extend_from_slice(format!("&#x{b:x};").as_bytes());
            }
            b => out.push(b),
        }
    }
}

/// Percent-encoding as S3 applies it with `encoding-type=url` (unreserved characters and
/// `/` kept; a space as `%20`, so that both `unquote` and `unquote_plus` decode it).
pub fn push_url_encoded(out: &mut Vec<u8>, s: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in s {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b'/') {
            out.push(b);
        } else {
            out.extend_from_slice(&[b'%', HEX[usize::from(b >> 4)], HEX[usize::from(b & 15)]]);
        }
    }
}

pub struct Xml {
    pub out: Vec<u8>,
    url: bool,
}

impl Xml {
    pub fn new(root: &str, url_encoding: bool) -> Xml {
        let mut out = Vec::with_capacity(4096);
        out.extend_from_slice(HEAD.as_bytes());
        out.extend_from_slice(format!("<{root} xmlns=\"{NS}\">").as_bytes());
        Xml {
            out,
            url: url_encoding,
        }
    }

    /// A document without the namespace (errors).
    pub fn bare(root: &str) -> Xml {
        let mut out = Vec::with_capacity(512);
        out.extend_from_slice(HEAD.as_bytes());
        out.extend_from_slice(format!("<{root}>").as_bytes());
        Xml { out, url: false }
    }

    pub fn open(&mut self, tag: &str) {
        self.out.push(b'<');
        self.out.extend_from_slice(tag.as_bytes());
        self.out.push(b'>');
    }

    pub fn close(&mut self, tag: &str) {
        self.out.extend_from_slice(b"</");
        self.out.extend_from_slice(tag.as_bytes());
        self.out.push(b'>');
    }

    /// An element with escaped text.
    pub fn text(&mut self, tag: &str, v: &[u8]) {
        self.open(tag);
        push_escaped(&mut self.out, v);
        self.close(tag);
    }

    /// An element holding a key or prefix: url-encoded when the request asked for it.
    pub fn key(&mut self, tag: &str, v: &[u8]) {
        self.open(tag);
        if self.url {
            push_url_encoded(&mut self.out, v);
        } else {
            push_escaped(&mut self.out, v);
        }
        self.close(tag);
    }

    pub fn num(&mut self, tag: &str, v: u64) {
        self.text(tag, v.to_string().as_bytes());
    }

    pub fn date(&mut self, tag: &str, ms: i64) {
        self.open(tag);
        push_iso_ms(&mut self.out, ms);
        self.close(tag);
    }

    pub fn etag(&mut self, tag: &str, e: &ETag) {
        self.open(tag);
        self.out.extend_from_slice(b"&quot;");
        self.out.extend_from_slice(e.hex().as_bytes());
        self.out.extend_from_slice(b"&quot;");
        self.close(tag);
    }

    pub fn finish(mut self, root: &str) -> Vec<u8> {
        self.close(root);
        self.out
    }
}

/// The request parameters echoed in a listing result.
pub struct ListEcho<'a> {
    pub bucket: &'a str,
    pub prefix: &'a [u8],
    pub delimiter: Option<&'a [u8]>,
    pub max_keys: usize,
    pub url: bool,
    /// V2: continuation token and start-after given; V1: the marker.
    pub v2: bool,
    pub token: Option<&'a str>,
    pub start_after: Option<&'a [u8]>,
    pub marker: Option<&'a [u8]>,
}

pub fn list_result(e: &ListEcho<'_>, page: &Page) -> Vec<u8> {
    let mut x = Xml::new("ListBucketResult", e.url);
    x.out.reserve(page.items.len() * 220);
    x.text("Name", e.bucket.as_bytes());
    x.key("Prefix", e.prefix);
    if e.v2 {
        if let Some(s) = e.start_after {
            x.key("StartAfter", s);
        }
        if let Some(t) = e.token {
            x.text("ContinuationToken", t.as_bytes());
        }
    } else {
        x.key("Marker", e.marker.unwrap_or(b""));
    }
    if let Some(d) = e.delimiter {
        x.key("Delimiter", d);
    }
    x.num("MaxKeys", e.max_keys as u64);
    if e.url {
        x.text("EncodingType", b"url");
    }
    if e.v2 {
        x.num("KeyCount", page.items.len() as u64);
    }
    x.text(
        "IsTruncated",
        if page.truncated { b"true" } else { b"false" },
    );
    if let Some(next) = page.next.as_ref().filter(|_| page.truncated) {
        if e.v2 {
            x.text("NextContinuationToken", next.token().as_bytes());
        } else {
            x.key("NextMarker", next.marker());
        }
    }
    for item in &page.items {
        if let Item::Object(o) = item {
            x.open("Contents");
            x.key("Key", &o.key);
            x.date("LastModified", o.last_modified_ms);
            x.etag("ETag", &o.etag);
            x.num("Size", o.size);
            x.text("StorageClass", b"STANDARD");
            x.close("Contents");
        }
    }
    for item in &page.items {
        if let Item::Prefix(p) = item {
            x.open("CommonPrefixes");
            x.key("Prefix", p);
            x.close("CommonPrefixes");
        }
    }
    x.finish("ListBucketResult")
}

/// The text of every `<tag>...</tag>` in a document, unescaped.
pub fn all_texts(doc: &[u8], tag: &str) -> Vec<Vec<u8>> {
    blocks(doc, tag).into_iter().map(unescape).collect()
}

/// The blocks between `<tag>` and `</tag>` (raw).
pub fn blocks<'d>(doc: &'d [u8], tag: &str) -> Vec<&'d [u8]> {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    let mut out = Vec::new();
    let mut rest = doc;
    while let Some(i) = find(rest, open.as_bytes()) {
        let after = &rest[i + open.len()..];
        let Some(j) = find(after, close.as_bytes()) else {
            break;
        };
        out.push(&after[..j]);
        rest = &after[j + close.len()..];
    }
    out
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

pub fn unescape(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        if s[i] == b'&'
            && let Some(end) = s[i..].iter().position(|&b| b == b';')
        {
            let ent = &s[i + 1..i + end];
            let decoded: Option<Vec<u8>> = match ent {
                b"amp" => Some(b"&".to_vec()),
                b"lt" => Some(b"<".to_vec()),
                b"gt" => Some(b">".to_vec()),
                b"quot" => Some(b"\"".to_vec()),
                b"apos" => Some(b"'".to_vec()),
                _ if ent.first() == Some(&b'#') => {
                    let (digits, radix) = match ent.get(1) {
                        Some(b'x') | Some(b'X') => (&ent[2..], 16),
                        _ => (&ent[1..], 10),
                    };
                    std::str::from_utf8(digits)
                        .ok()
                        .and_then(|d| u32::from_str_radix(d, radix).ok())
                        .and_then(char::from_u32)
                        .map(|c| c.to_string().into_bytes())
                }
                _ => None,
            };
            if let Some(d) = decoded {
                out.extend_from_slice(&d);
                i += end + 1;
                continue;
            }
        }
        out.push(s[i]);
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_and_url_encoding() {
        let mut v = Vec::new();
        push_escaped(&mut v, b"a&b<c>\"d'\x01");
        assert_eq!(v, b"a&amp;b&lt;c&gt;&quot;d&apos;&#x1;");
        let mut v = Vec::new();
        push_url_encoded(&mut v, "a b+c/é".as_bytes());
        assert_eq!(v, b"a%20b%2Bc/%C3%A9");
        assert_eq!(unescape(b"a&amp;b&#x41;&#66;&bogus;"), b"a&bAB&bogus;");
    }

    #[test]
    fn parse_delete_and_complete_bodies() {
        let d = br#"<Delete xmlns="x"><Quiet>true</Quiet><Object><Key>a&amp;b</Key></Object><Object><Key>c</Key></Object></Delete>"#;
        assert_eq!(all_texts(d, "Key"), vec![b"a&b".to_vec(), b"c".to_vec()]);
        let c = br#"<CompleteMultipartUpload><Part><ETag>"e1"</ETag><PartNumber>1</PartNumber></Part><Part><PartNumber>2</PartNumber><ETag>&quot;e2&quot;</ETag></Part></CompleteMultipartUpload>"#;
        let parts = blocks(c, "Part");
        assert_eq!(parts.len(), 2);
        assert_eq!(all_texts(parts[1], "ETag"), vec![b"\"e2\"".to_vec()]);
    }
}
