//! Integrity of downloaded archive files against Binance's `.CHECKSUM` companions.
//!
//! Every `.zip` in the archive has a sibling `.zip.CHECKSUM` holding one `sha256sum` line.
//! This module owns parsing that line, hashing a local file with bounded memory, and the
//! resulting [`Verdict`]. A missing or malformed CHECKSUM, or one naming another file, is
//! [`Verdict::Unverified`] rather than an error: the file may well be fine, but we cannot
//! vouch for it, and the report must be able to say so per file.

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

use sha2::{Digest, Sha256};

/// How much is read per call when hashing. Large enough that syscall overhead is noise next
/// to SHA-256 itself, small enough that many concurrent verifications stay cheap.
const READ_CHUNK: usize = 256 * 1024;

/// Parsed `.CHECKSUM` content: 64 hex digits, two spaces (sha256sum's binary mode writes
/// `" *"` instead), then the file name. A trailing `"\n"` or `"\r\n"` and leading or trailing
/// whitespace are tolerated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChecksumLine {
    pub sha256: [u8; 32],
    pub file_name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChecksumParseError {
    #[error("the CHECKSUM file is empty")]
    Empty,
    #[error("the CHECKSUM file is not UTF-8 text")]
    NotUtf8,
    #[error("the CHECKSUM file has {lines} lines; expected one `<sha256>  <file name>` line")]
    MultipleLines { lines: usize },
    #[error("the CHECKSUM digest has a non-hex character {found:?} at position {position}")]
    NotHex { found: char, position: usize },
    #[error("the CHECKSUM digest has {found} hex digits; a SHA-256 has 64")]
    WrongLength { found: usize },
    #[error(
        "the CHECKSUM digest is followed by {found:?}; expected two spaces (or \" *\") then the file name"
    )]
    BadSeparator { found: String },
    #[error("the CHECKSUM line has a digest but no file name")]
    NoFileName,
}

/// Parse the content of a `.CHECKSUM` object.
pub fn parse_checksum(content: &[u8]) -> Result<ChecksumLine, ChecksumParseError> {
    let text = std::str::from_utf8(content).map_err(|_| ChecksumParseError::NotUtf8)?;
    // `trim` also removes the "\r" of a CRLF ending, so "\r\n" needs no special case.
    let line = text.trim();
    if line.is_empty() {
        return Err(ChecksumParseError::Empty);
    }
    let lines = line.lines().count();
    if lines > 1 {
        return Err(ChecksumParseError::MultipleLines { lines });
    }

    let digest_len = line
        .find(|c: char| c.is_ascii_whitespace())
        .unwrap_or(line.len());
    let (digest, rest) = line.split_at(digest_len);
    if let Some((position, found)) = digest.char_indices().find(|(_, c)| !c.is_ascii_hexdigit()) {
        return Err(ChecksumParseError::NotHex { found, position });
    }
    let sha256 = decode_hex(digest).ok_or(ChecksumParseError::WrongLength {
        found: digest.len(),
    })?;

    if rest.is_empty() {
        return Err(ChecksumParseError::NoFileName);
    }
    // sha256sum writes " " (text mode) or "*" (binary mode) after the separating space; the
    // digest is the same either way.
    let file_name = rest
        .strip_prefix("  ")
        .or_else(|| rest.strip_prefix(" *"))
        .ok_or_else(|| ChecksumParseError::BadSeparator {
            found: rest.chars().take(2).collect(),
        })?;
    if file_name.is_empty() {
        return Err(ChecksumParseError::NoFileName);
    }
    Ok(ChecksumLine {
        sha256,
        file_name: file_name.to_owned(),
    })
}

/// 64 hex digits (either case) into 32 bytes; `None` for any other length. The caller has
/// already rejected non-hex characters.
fn decode_hex(digits: &str) -> Option<[u8; 32]> {
    let digits = digits.as_bytes();
    if digits.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (byte, pair) in out.iter_mut().zip(digits.chunks_exact(2)) {
        *byte = (hex_value(pair[0])? << 4) | hex_value(pair[1])?;
    }
    Some(out)
}

fn hex_value(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// Lowercase hex, as `sha256sum` prints it.
pub fn to_hex(d: &[u8; 32]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(64);
    for b in d {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    s
}

/// SHA-256 of everything `r` yields, read in fixed 256 KiB chunks so memory stays bounded
/// whatever the size (monthly trade files reach 800 MB).
pub fn sha256_reader(mut r: impl Read) -> io::Result<[u8; 32]> {
    // On the heap: callers may run on threads with small stacks.
    let mut buf = vec![0u8; READ_CHUNK];
    let mut hasher = Sha256::new();
    loop {
        match r.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => hasher.update(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(hasher.finalize().into())
}

/// Streaming SHA-256 of a file; see [`sha256_reader`].
pub fn sha256_file(path: &Path) -> io::Result<[u8; 32]> {
    // No BufReader: reads are already large, and buffering would only add a copy.
    sha256_reader(File::open(path)?)
}

/// The verdict for one downloaded zip.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Verdict {
    /// The file's SHA-256 (lowercase hex) matches its CHECKSUM.
    Verified { sha256: String },
    /// The file's SHA-256 differs from its CHECKSUM: the copy is corrupt or the archive
    /// re-published the file without updating one of the two.
    Mismatch { expected: String, actual: String },
    /// Nothing trustworthy to compare against; `reason` says why.
    Unverified { reason: String },
}

/// Verify the local file at `path` against the content of its `.CHECKSUM` object (`None`
/// when no CHECKSUM object exists). `expected_name` is the zip's file name; a CHECKSUM that
/// names another file is [`Verdict::Unverified`], since it vouches for something else.
///
/// The file is only read when there is a well-formed CHECKSUM to compare it with: hashing
/// a large file just to report "unverified" would be wasted I/O. I/O errors reading it are
/// returned as errors, not verdicts, because they say nothing about the file's integrity.
pub fn verify_file(
    path: &Path,
    expected_name: &str,
    checksum: Option<&[u8]>,
) -> io::Result<Verdict> {
    let Some(content) = checksum else {
        return Ok(Verdict::Unverified {
            reason: format!("no .CHECKSUM object exists for {expected_name}"),
        });
    };
    let line = match parse_checksum(content) {
        Ok(line) => line,
        Err(e) => {
            return Ok(Verdict::Unverified {
                reason: format!("malformed .CHECKSUM for {expected_name}: {e}"),
            });
        }
    };
    if line.file_name != expected_name {
        return Ok(Verdict::Unverified {
            reason: format!(
                "the .CHECKSUM for {expected_name} names another file: {:?}",
                line.file_name
            ),
        });
    }
    let actual = sha256_file(path)?;
    Ok(if actual == line.sha256 {
        Verdict::Verified {
            sha256: to_hex(&actual),
        }
    } else {
        Verdict::Mismatch {
            expected: to_hex(&line.sha256),
            actual: to_hex(&actual),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::path::PathBuf;

    /// The real archive files live in the shared fixtures; a colleague may also copy them
    /// into the crate's own `fixtures/real`. Use whichever exists.
    fn real_fixture(key: &str) -> PathBuf {
        let shared = PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../shared/fixtures/binance-real"
        ))
        .join(key);
        if shared.exists() {
            return shared;
        }
        let local = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/real")).join(key);
        assert!(
            local.exists(),
            "real fixture {key} found neither at {} nor at {}",
            shared.display(),
            local.display()
        );
        local
    }

    const REAL_ZIPS: [&str; 4] = [
        "data/spot/daily/klines/BTCUSDT/1h/BTCUSDT-1h-2026-05-08.zip",
        "data/spot/daily/klines/BTCUSDT/1h/BTCUSDT-1h-2026-05-09.zip",
        "data/futures/um/monthly/fundingRate/BTCUSDT/BTCUSDT-fundingRate-2026-04.zip",
        "data/futures/cm/daily/aggTrades/BTCUSD_PERP/BTCUSD_PERP-aggTrades-2026-05-08.zip",
    ];

    fn file_name(key: &str) -> &str {
        key.rsplit('/').next().unwrap()
    }

    fn real_checksum(key: &str) -> Vec<u8> {
        std::fs::read(real_fixture(&format!("{key}.CHECKSUM"))).unwrap()
    }

    const FUNDING_HEX: &str = "51cdeb4de7d5ef1d4eece80b6115e391bdf7a2d0803bf9ad8371ab23340b22d3";

    #[test]
    fn real_archive_files_verify() {
        for key in REAL_ZIPS {
            let checksum = real_checksum(key);
            let parsed = parse_checksum(&checksum).unwrap();
            assert_eq!(parsed.file_name, file_name(key));
            let verdict = verify_file(&real_fixture(key), file_name(key), Some(&checksum)).unwrap();
            assert_eq!(
                verdict,
                Verdict::Verified {
                    sha256: to_hex(&parsed.sha256)
                },
                "{key}"
            );
        }
    }

    #[test]
    fn one_byte_change_is_a_mismatch() {
        let dir = tempfile::tempdir().unwrap();
        for key in REAL_ZIPS {
            let mut bytes = std::fs::read(real_fixture(key)).unwrap();
            let middle = bytes.len() / 2;
            bytes[middle] ^= 0x01;
            let copy = dir.path().join(file_name(key));
            std::fs::write(&copy, &bytes).unwrap();

            let checksum = real_checksum(key);
            let expected = to_hex(&parse_checksum(&checksum).unwrap().sha256);
            let verdict = verify_file(&copy, file_name(key), Some(&checksum)).unwrap();
            match verdict {
                Verdict::Mismatch {
                    expected: e,
                    actual,
                } => {
                    assert_eq!(e, expected);
                    assert_eq!(actual, to_hex(&Sha256::digest(&bytes).into()));
                }
                other => panic!("{key}: expected a mismatch, got {other:?}"),
            }
        }
    }

    #[test]
    fn truncated_file_is_a_mismatch() {
        let key = REAL_ZIPS[3];
        let bytes = std::fs::read(real_fixture(key)).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let copy = dir.path().join(file_name(key));
        std::fs::write(&copy, &bytes[..bytes.len() - 1]).unwrap();
        let verdict = verify_file(&copy, file_name(key), Some(&real_checksum(key))).unwrap();
        assert!(matches!(verdict, Verdict::Mismatch { .. }), "{verdict:?}");
    }

    /// `verdict` is Unverified, for a reason that mentions each of `mentions`.
    fn assert_unverified(verdict: Verdict, mentions: &[&str]) {
        let Verdict::Unverified { reason } = verdict else {
            panic!("expected unverified, got {verdict:?}")
        };
        for m in mentions {
            assert!(reason.contains(m), "{m:?} not in the reason: {reason}");
        }
    }

    #[test]
    fn missing_checksum_is_unverified_without_reading_the_file() {
        let verdict = verify_file(Path::new("/nonexistent/x.zip"), "x.zip", None).unwrap();
        assert_unverified(verdict, &["no .CHECKSUM"]);
    }

    #[test]
    fn checksum_naming_another_file_is_unverified() {
        let key = REAL_ZIPS[0];
        let checksum = real_checksum(key);
        let verdict = verify_file(
            &real_fixture(key),
            "BTCUSDT-1h-2026-05-10.zip",
            Some(&checksum),
        )
        .unwrap();
        assert_unverified(
            verdict,
            &["BTCUSDT-1h-2026-05-08.zip", "names another file"],
        );
    }

    #[test]
    fn malformed_checksum_is_unverified_with_the_parse_error() {
        let key = REAL_ZIPS[0];
        let verdict = verify_file(&real_fixture(key), file_name(key), Some(b"<html>oops")).unwrap();
        assert_unverified(verdict, &["malformed", "non-hex"]);
    }

    #[test]
    fn missing_file_with_a_checksum_is_an_io_error() {
        let content = format!("{FUNDING_HEX}  x.zip");
        let err = verify_file(
            Path::new("/nonexistent/x.zip"),
            "x.zip",
            Some(content.as_bytes()),
        )
        .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
    }

    #[test]
    fn verdict_serializes_with_a_status_tag() {
        let v = Verdict::Mismatch {
            expected: "aa".into(),
            actual: "bb".into(),
        };
        assert_eq!(
            serde_json::to_string(&v).unwrap(),
            r#"{"status":"mismatch","expected":"aa","actual":"bb"}"#
        );
        let v = Verdict::Verified {
            sha256: "aa".into(),
        };
        assert_eq!(
            serde_json::to_string(&v).unwrap(),
            r#"{"status":"verified","sha256":"aa"}"#
        );
        let v = Verdict::Unverified { reason: "r".into() };
        assert_eq!(
            serde_json::to_string(&v).unwrap(),
            r#"{"status":"unverified","reason":"r"}"#
        );
    }

    fn parsed(content: &str) -> ChecksumLine {
        parse_checksum(content.as_bytes()).unwrap()
    }

    #[test]
    fn parses_the_archive_format_with_and_without_newlines() {
        let name = "BTCUSDT-fundingRate-2026-04.zip";
        let expected = parsed(&format!("{FUNDING_HEX}  {name}"));
        assert_eq!(expected.file_name, name);
        assert_eq!(to_hex(&expected.sha256), FUNDING_HEX);
        for content in [
            format!("{FUNDING_HEX}  {name}\n"),
            format!("{FUNDING_HEX}  {name}\r\n"),
            format!("  \t{FUNDING_HEX}  {name} \r\n\n"),
            format!("{FUNDING_HEX} *{name}"),
            format!("{}  {name}", FUNDING_HEX.to_uppercase()),
        ] {
            assert_eq!(parsed(&content), expected, "{content:?}");
        }
    }

    #[test]
    fn keeps_spaces_inside_the_file_name() {
        assert_eq!(
            parsed(&format!("{FUNDING_HEX}  a b.zip")).file_name,
            "a b.zip"
        );
    }

    fn parse_err(content: &[u8]) -> ChecksumParseError {
        parse_checksum(content).unwrap_err()
    }

    #[test]
    fn rejects_malformed_content() {
        use ChecksumParseError::*;
        assert_eq!(parse_err(b""), Empty);
        assert_eq!(parse_err(b" \r\n\t"), Empty);
        assert_eq!(parse_err(b"\xff\xfe"), NotUtf8);
        assert_eq!(
            parse_err(b"<?xml version=\"1.0\"?><Error><Code>NoSuchKey</Code></Error>"),
            NotHex {
                found: '<',
                position: 0
            }
        );
        assert_eq!(
            parse_err(b"abc123  x.zip"),
            WrongLength { found: 6 },
            "short hex"
        );
        assert_eq!(
            parse_err(format!("{FUNDING_HEX}00  x.zip").as_bytes()),
            WrongLength { found: 66 }
        );
        assert_eq!(
            parse_err(format!("{}g  x.zip", &FUNDING_HEX[..63]).as_bytes()),
            NotHex {
                found: 'g',
                position: 63
            }
        );
        assert_eq!(parse_err(FUNDING_HEX.as_bytes()), NoFileName);
        assert_eq!(
            parse_err(format!("{FUNDING_HEX}  \n").as_bytes()),
            NoFileName
        );
        assert_eq!(
            parse_err(format!("{FUNDING_HEX} x.zip").as_bytes()),
            BadSeparator { found: " x".into() }
        );
        assert_eq!(
            parse_err(format!("{FUNDING_HEX}\tx.zip").as_bytes()),
            BadSeparator {
                found: "\tx".into()
            }
        );
        assert_eq!(
            parse_err(format!("{FUNDING_HEX}  a.zip\n{FUNDING_HEX}  b.zip\n").as_bytes()),
            MultipleLines { lines: 2 }
        );
    }

    #[test]
    fn parse_errors_read_well() {
        assert_eq!(
            ChecksumParseError::WrongLength { found: 6 }.to_string(),
            "the CHECKSUM digest has 6 hex digits; a SHA-256 has 64"
        );
    }

    #[test]
    fn hex_round_trips() {
        let mut d = [0u8; 32];
        for (i, b) in d.iter_mut().enumerate() {
            *b = (i as u8).wrapping_mul(37);
        }
        assert_eq!(decode_hex(&to_hex(&d)), Some(d));
        assert_eq!(to_hex(&[0xab; 32]), "ab".repeat(32));
    }

    #[test]
    fn empty_input_hashes_to_the_known_digest() {
        assert_eq!(
            to_hex(&sha256_reader(io::empty()).unwrap()),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    /// A reader that hands out data in awkward pieces, interrupts itself, and records the
    /// largest buffer it was offered.
    struct Awkward<'a> {
        data: &'a [u8],
        calls: usize,
        max_buf: usize,
    }

    impl Read for Awkward<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            self.calls += 1;
            self.max_buf = self.max_buf.max(buf.len());
            if self.calls.is_multiple_of(3) {
                return Err(io::Error::from(io::ErrorKind::Interrupted));
            }
            let n = buf.len().min(self.data.len()).min(7 + self.calls % 1000);
            buf[..n].copy_from_slice(&self.data[..n]);
            self.data = &self.data[n..];
            Ok(n)
        }
    }

    #[test]
    fn reader_tolerates_short_reads_and_interrupts_and_bounds_its_buffer() {
        let data: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        let mut r = Awkward {
            data: &data,
            calls: 0,
            max_buf: 0,
        };
        let got = sha256_reader(&mut r).unwrap();
        let want: [u8; 32] = Sha256::digest(&data).into();
        assert_eq!(got, want);
        assert_eq!(r.max_buf, READ_CHUNK);
    }

    #[test]
    fn reader_propagates_errors() {
        struct Broken;
        impl Read for Broken {
            fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
                Err(io::Error::other("disk on fire"))
            }
        }
        assert_eq!(
            sha256_reader(Broken).unwrap_err().to_string(),
            "disk on fire"
        );
    }

    #[test]
    fn large_file_hashes_like_the_one_shot_api() {
        // 50 MiB plus an odd tail so the last read is short. A pseudo-random block of prime
        // length, repeated: no two 256 KiB reads see the same bytes, and building it is
        // memcpy-fast even unoptimized (SHA-256 itself dominates the test's time).
        const LEN: usize = 50 * 1024 * 1024 + 12_345;
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        let block: Vec<u8> = (0..65_521)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state as u8
            })
            .collect();
        let mut data = Vec::with_capacity(LEN + block.len());
        while data.len() < LEN {
            data.extend_from_slice(&block);
        }
        data.truncate(LEN);
        let want: [u8; 32] = Sha256::digest(&data).into();

        let mut file = tempfile::NamedTempFile::new().unwrap();
        file.write_all(&data).unwrap();
        file.flush().unwrap();
        assert_eq!(sha256_file(file.path()).unwrap(), want);
    }
}
