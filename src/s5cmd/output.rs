//! Parsing what s5cmd prints with `--json`, one line at a time.
//!
//! Every line becomes an [`Event`]; a line that is not the JSON we expect is an
//! [`Event::Unparsed`], never a panic. Only success lines are authoritative (s5cmd's exit
//! code says little: see `notes/s5cmd.md`), so callers count objects from events.

use serde::Deserialize;

/// One object from `s5cmd ls --json`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListEntry {
    /// Full URL as printed: `s3://bucket/key`.
    pub url: String,
    pub etag: Option<String>,
    /// RFC 3339 as printed by s5cmd (second resolution), kept as text; compare with
    /// [`ListEntry::last_modified_ts`].
    pub last_modified: Option<String>,
    pub size: u64,
    pub is_dir: bool,
}

impl ListEntry {
    pub fn last_modified_ts(&self) -> Option<jiff::Timestamp> {
        self.last_modified.as_deref()?.parse().ok()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A success line: `{"operation":"cp","success":true,"source":..,"destination":..}`.
    Success {
        operation: String,
        source: String,
        destination: String,
        /// Bytes moved, when s5cmd says (uploads and downloads; never server-side copies;
        /// omitted when 0).
        size: Option<u64>,
    },
    /// A per-object or command-level error: `{"operation":..,"command":..,"error":..}`.
    Error {
        operation: String,
        command: String,
        error: String,
    },
    /// A `--stat` summary line; counts command lines, not objects, so it is informational.
    Stat { operation: String },
    /// A listing line from `ls --json`.
    Listing(ListEntry),
    /// Anything else: usage text, warnings, blank lines, truncated JSON.
    Unparsed(String),
}

#[derive(Deserialize)]
struct Raw {
    operation: Option<String>,
    success: Option<serde_json::Value>,
    source: Option<String>,
    destination: Option<String>,
    command: Option<String>,
    error: Option<serde_json::Value>,
    object: Option<RawObject>,
    // ls fields
    key: Option<String>,
    etag: Option<String>,
    last_modified: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    size: Option<u64>,
}

#[derive(Deserialize)]
struct RawObject {
    size: Option<u64>,
}

/// Parse one line of s5cmd output (stdout or stderr).
pub fn parse_line(line: &str) -> Event {
    let trimmed = line.trim_end_matches(['\r', '\n']);
    let unparsed = || Event::Unparsed(trimmed.to_string());
    if !trimmed.trim_start().starts_with('{') {
        return unparsed();
    }
    let Ok(raw) = serde_json::from_str::<Raw>(trimmed) else {
        return unparsed();
    };
    match raw {
        Raw {
            operation,
            error: Some(serde_json::Value::String(error)),
            command,
            ..
        } => Event::Error {
            operation: operation.unwrap_or_default(),
            command: command.unwrap_or_default(),
            error,
        },
        Raw {
            operation: Some(operation),
            success: Some(serde_json::Value::Bool(true)),
            source: Some(source),
            destination: Some(destination),
            object,
            ..
        } => Event::Success {
            operation,
            source,
            destination,
            size: object.and_then(|o| o.size),
        },
        Raw {
            operation: Some(operation),
            success: Some(serde_json::Value::Number(_)),
            ..
        } => Event::Stat { operation },
        Raw {
            operation: None,
            key: Some(url),
            etag,
            last_modified,
            kind,
            size,
            ..
        } => Event::Listing(ListEntry {
            url,
            etag: etag.map(|e| e.trim_matches('"').to_string()),
            last_modified,
            size: size.unwrap_or(0),
            is_dir: kind.as_deref() == Some("directory"),
        }),
        _ => unparsed(),
    }
}

/// How lakesync treats an error s5cmd reported for one object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorClass {
    /// Retrying cannot help (missing key, access denied, bad credentials).
    Permanent,
    /// Throttling (SlowDown / 503): retry later, with fewer workers.
    Throttled,
    /// Anything else (5xx, resets, timeouts, unknown text): worth another attempt.
    Transient,
    /// The copy reported success but the destination does not hold what the source has.
    Integrity,
}

/// Classify an s5cmd error text by its leading S3 error code or known phrases.
pub fn classify_error(error: &str) -> ErrorClass {
    const PERMANENT: &[&str] = &[
        "NoSuchKey",
        "NoSuchBucket",
        "AccessDenied",
        "InvalidAccessKeyId",
        "SignatureDoesNotMatch",
        "ExpiredToken",
        "InvalidToken",
        "AllAccessDisabled",
        "InvalidObjectState",
        "InvalidRequest",
        "EntityTooLarge",
        "MethodNotAllowed",
        "no object found",
        // The region is wrong for every request of the process: retrying cannot help.
        "AuthorizationHeaderMalformed",
        "BucketRegionError",
        "PermanentRedirect",
    ];
    const THROTTLED: &[&str] = &[
        "SlowDown",
        "ServiceUnavailable",
        "status code: 503",
        "Throttl",
    ];
    if THROTTLED.iter().any(|p| error.contains(p)) {
        ErrorClass::Throttled
    } else if PERMANENT.iter().any(|p| error.contains(p)) {
        ErrorClass::Permanent
    } else {
        ErrorClass::Transient
    }
}

/// A request signed for the wrong region, as s5cmd reports it: `(signed for, the
/// bucket's region)`. S3's global endpoint answers `AuthorizationHeaderMalformed ... the
/// region 'us-east-1' is wrong; expecting 'ap-northeast-1'`; a regional one a 301 that
/// aws-sdk-go turns into `BucketRegionError: incorrect region, the bucket is not in
/// 'us-east-1' region ..., bucket is in 'ap-northeast-1' region`.
pub fn region_mismatch(error: &str) -> Option<(String, String)> {
    fn quoted_after<'a>(s: &'a str, marker: &str) -> Option<(&'a str, &'a str)> {
        let rest = &s[s.find(marker)? + marker.len()..];
        let (value, after) = rest.split_once('\'')?;
        Some((value, after))
    }
    if let Some((wrong, after)) = quoted_after(error, "the region '")
        && let Some((right, _)) = quoted_after(after, "expecting '")
    {
        return Some((wrong.to_string(), right.to_string()));
    }
    if error.contains("BucketRegionError")
        && let Some((wrong, after)) = quoted_after(error, "bucket is not in '")
        && let Some((right, _)) = quoted_after(after, "bucket is in '")
    {
        return Some((wrong.to_string(), right.to_string()));
    }
    None
}

/// The short S3 error code at the start of an s5cmd error (`NoSuchKey: The specified ...`).
pub fn error_code(error: &str) -> Option<&str> {
    let (code, _) = error.split_once(':')?;
    let code = code.trim();
    (!code.is_empty() && code.chars().all(|c| c.is_ascii_alphanumeric())).then_some(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    // Lines recorded from s5cmd v2.3.0 against moto 5.2.
    const COPY_OK: &str = r#"{"operation":"cp","success":true,"source":"s3://src/data/spot/a/b*c.zip","destination":"s3://dst/data/spot/a/b*c.zip","object":{"key":"s3://dst/data/spot/a/b*c.zip","type":"file"}}"#;
    const UPLOAD_OK: &str = r#"{"operation":"cp","success":true,"source":"/tmp/t/data/spot/a/x y.zip","destination":"s3://src/data/spot/a/x y.zip","object":{"type":"file","size":3}}"#;
    const COPY_ERR: &str = r#"{"operation":"cp","command":"cp s3://src/data/spot/a/x y.zip s3://dst/data/spot/a/x y.zip","error":"NoSuchKey: The specified key does not exist. status code: 404, request id: WmaS, host id:"}"#;
    const LS: &str = r#"{"key":"s3://src/data/spot/a/ü.zip","etag":"a8a78d0ff555c931f045b6f448129846","last_modified":"2026-11-26T21:11:37Z","type":"file","size":2,"storage_class":"STANDARD"}"#;
    const LS_ERR: &str =
        r#"{"operation":"ls","command":"ls s3://src/data/nothing/*","error":"no object found"}"#;
    const STAT: &str = r#"{"operation":"cp","success":3,"error":1}"#;

    #[test]
    fn region_errors_name_both_regions() {
        // Printed by s5cmd v2.3.0 against archive-sim (--wrong-region malformed / redirect).
        let malformed = "AuthorizationHeaderMalformed: The authorization header is malformed; the region 'us-east-1' is wrong; expecting 'ap-northeast-1'\n\tstatus code: 400, request id: 1, host id: ";
        let redirect = "BucketRegionError: incorrect region, the bucket is not in 'us-east-1' region at endpoint 'http://127.0.0.1:1', bucket is in 'ap-northeast-1' region\nstatus code: 301";
        for e in [malformed, redirect] {
            assert_eq!(
                region_mismatch(e),
                Some(("us-east-1".into(), "ap-northeast-1".into()))
            );
            assert_eq!(classify_error(e), ErrorClass::Permanent);
        }
        assert_eq!(region_mismatch("NoSuchKey: the region 'x'"), None);
    }

    #[test]
    fn server_side_copy_success_has_no_size() {
        assert_eq!(
            parse_line(COPY_OK),
            Event::Success {
                operation: "cp".into(),
                source: "s3://src/data/spot/a/b*c.zip".into(),
                destination: "s3://dst/data/spot/a/b*c.zip".into(),
                size: None,
            }
        );
    }

    #[test]
    fn upload_success_has_size() {
        match parse_line(UPLOAD_OK) {
            Event::Success { size, source, .. } => {
                assert_eq!(size, Some(3));
                assert_eq!(source, "/tmp/t/data/spot/a/x y.zip");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn per_object_error() {
        match parse_line(COPY_ERR) {
            Event::Error {
                operation,
                command,
                error,
            } => {
                assert_eq!(operation, "cp");
                assert_eq!(
                    command,
                    "cp s3://src/data/spot/a/x y.zip s3://dst/data/spot/a/x y.zip"
                );
                assert_eq!(error_code(&error), Some("NoSuchKey"));
                assert_eq!(classify_error(&error), ErrorClass::Permanent);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn listing_line() {
        match parse_line(LS) {
            Event::Listing(e) => {
                assert_eq!(e.url, "s3://src/data/spot/a/ü.zip");
                assert_eq!(e.size, 2);
                assert_eq!(e.etag.as_deref(), Some("a8a78d0ff555c931f045b6f448129846"));
                assert!(!e.is_dir);
                assert_eq!(
                    e.last_modified_ts().unwrap().to_string(),
                    "2026-11-26T21:11:37Z"
                );
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(parse_line(LS_ERR), Event::Error { .. }));
        // A process-level error has no operation.
        let session = r#"{"error":"session: fetching region failed: RequestError: send request failed\ncaused by: dial tcp 127.0.0.1:1: connect: connection refused"}"#;
        match parse_line(session) {
            Event::Error {
                operation, error, ..
            } => {
                assert_eq!(operation, "");
                assert!(error.contains("connection refused"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn stat_lines_are_not_successes() {
        assert_eq!(
            parse_line(STAT),
            Event::Stat {
                operation: "cp".into()
            }
        );
    }

    #[test]
    fn malformed_and_partial_lines_are_unparsed() {
        for line in [
            "",
            "   ",
            "Incorrect Usage: flag provided but not defined: -bogus",
            "NAME:",
            r#"{"operation":"cp","success":true,"source":"s3://a/b""#, // truncated
            r#"{"operation":"cp","success":false,"source":"s3://a","destination":"s3://b"}"#,
            r#"{"unexpected":1}"#,
            "[1,2,3]",
            "WARNING: open files limit is low",
            "\u{0}\u{1}binary",
        ] {
            assert!(
                matches!(parse_line(line), Event::Unparsed(_)),
                "{line:?} -> {:?}",
                parse_line(line)
            );
        }
    }

    #[test]
    fn error_classes() {
        assert_eq!(
            classify_error("SlowDown: Please reduce your request rate. status code: 503"),
            ErrorClass::Throttled
        );
        assert_eq!(
            classify_error("InternalError: We encountered an internal error. status code: 500"),
            ErrorClass::Transient
        );
        assert_eq!(
            classify_error("AccessDenied: Access Denied status code: 403"),
            ErrorClass::Permanent
        );
        assert_eq!(
            classify_error("read tcp 127.0.0.1:1->127.0.0.1:2: read: connection reset by peer"),
            ErrorClass::Transient
        );
        assert_eq!(error_code("connection reset by peer"), None);
    }
}
