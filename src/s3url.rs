//! `s3://BUCKET[/PREFIX]` URLs: parsing, the folder they name, and key joining.
//!
//! A URL names a folder: `s3://b/p` and `s3://b/p/` mean the same, and the prefix is kept
//! with a trailing `/` (or empty for a whole bucket).

use std::fmt;

use crate::error::Error;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct S3Url {
    bucket: String,
    /// Empty, or ends with `/`.
    prefix: String,
}

impl S3Url {
    /// Parse a folder URL. `flag` names the flag in error messages.
    pub fn parse(flag: &str, value: &str) -> Result<Self, Error> {
        let bad = |why: &str, hint: &str| {
            Error::usage(format!("invalid {flag} value {value:?}: {why}"), hint)
        };
        let rest = value.strip_prefix("s3://").ok_or_else(|| {
            bad(
                "not an S3 URL",
                "write it as s3://BUCKET or s3://BUCKET/PREFIX",
            )
        })?;
        let (bucket, prefix) = match rest.split_once('/') {
            Some((b, p)) => (b, p),
            None => (rest, ""),
        };
        if bucket.is_empty() {
            return Err(bad("the bucket name is empty", "write s3://BUCKET/PREFIX"));
        }
        if bucket.len() < 3
            || bucket.len() > 63
            || !bucket
                .bytes()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'.' || c == b'-')
        {
            return Err(bad(
                "not a valid bucket name",
                "bucket names have 3-63 characters: lowercase letters, digits, '.' and '-'",
            ));
        }
        if prefix.chars().any(|c| c.is_control()) {
            return Err(bad(
                "the prefix contains a control character",
                "remove newlines and other control characters from the prefix",
            ));
        }
        // s5cmd treats these as wildcards in a listing pattern; a prefix must be literal.
        if prefix.contains(['*', '?', '[', ']']) {
            return Err(bad(
                "the prefix contains a wildcard character (* ? [ ])",
                "name a literal folder; narrow the selection with --market, --symbols, --start ...",
            ));
        }
        let mut prefix = prefix.trim_start_matches('/').to_string();
        while prefix.ends_with("//") {
            prefix.pop();
        }
        if !prefix.is_empty() && !prefix.ends_with('/') {
            prefix.push('/');
        }
        Ok(Self {
            bucket: bucket.to_string(),
            prefix,
        })
    }

    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// The folder's key prefix: empty or ending with `/`.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The key under this folder for a path relative to it.
    pub fn key(&self, rel: &str) -> String {
        format!("{}{}", self.prefix, rel)
    }

    /// The full `s3://` URL of a path relative to this folder.
    pub fn url_of(&self, rel: &str) -> String {
        format!("s3://{}/{}{}", self.bucket, self.prefix, rel)
    }

    /// The path of a full key relative to this folder, if the key lies inside it.
    pub fn relative<'a>(&self, key: &'a str) -> Option<&'a str> {
        key.strip_prefix(self.prefix.as_str())
    }

    /// Whether `other`'s scope lies inside this URL's scope (or is the same).
    pub fn contains(&self, other: &S3Url) -> bool {
        self.bucket == other.bucket && other.prefix.starts_with(&self.prefix)
    }

    /// Whether the two scopes overlap (one contains the other).
    pub fn overlaps(&self, other: &S3Url) -> bool {
        self.contains(other) || other.contains(self)
    }
}

impl fmt::Display for S3Url {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "s3://{}/{}", self.bucket, self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> S3Url {
        S3Url::parse("--dest", s).unwrap()
    }

    #[test]
    fn trailing_slash_is_the_same_folder() {
        assert_eq!(url("s3://bucket/a/b"), url("s3://bucket/a/b/"));
        assert_eq!(url("s3://bucket/a/b").prefix(), "a/b/");
        assert_eq!(url("s3://bucket").prefix(), "");
        assert_eq!(url("s3://bucket/").prefix(), "");
    }

    #[test]
    fn joins_keys_like_aws_s3_sync() {
        let u = url("s3://lake/binance");
        assert_eq!(u.key("data/x.zip"), "binance/data/x.zip");
        assert_eq!(u.url_of("data/x.zip"), "s3://lake/binance/data/x.zip");
        assert_eq!(u.relative("binance/data/x.zip"), Some("data/x.zip"));
        assert_eq!(u.relative("other/x.zip"), None);
        assert_eq!(url("s3://lake").url_of("a b.zip"), "s3://lake/a b.zip");
    }

    #[test]
    fn scopes() {
        assert!(url("s3://bkt/a/").contains(&url("s3://bkt/a/c")));
        assert!(!url("s3://bkt/a/c").contains(&url("s3://bkt/a")));
        assert!(url("s3://bkt/a/c").overlaps(&url("s3://bkt/a")));
        assert!(!url("s3://bkt/ab").overlaps(&url("s3://bkt/a")));
        assert!(!url("s3://bkt/a").overlaps(&url("s3://other/a")));
        assert!(url("s3://bbb").overlaps(&url("s3://bbb/x")));
    }

    #[test]
    fn rejects_bad_urls_naming_the_value() {
        for bad in [
            "bucket/x",
            "s3://",
            "s3:///x",
            "s3://Bucket",
            "s3://ab",
            "s3://b_b/x",
            "s3://bkt/a*",
            "s3://bkt/a\nb",
            "https://bkt/x",
        ] {
            let err = S3Url::parse("--source", bad).unwrap_err();
            assert!(err.message().contains("--source"), "{err:?}");
            assert!(
                err.message().contains(&format!("{bad:?}")),
                "message should name {bad:?}: {err:?}"
            );
            assert!(!err.hint().is_empty());
        }
    }
}
