//! A minimal S3 client for the requests s5cmd v2.3.0 cannot make: listing and aborting
//! incomplete multipart uploads (ListMultipartUploads, AbortMultipartUpload; and
//! CreateMultipartUpload, which tests use to stand for another writer).
//!
//! Requests are signed with SigV4 by `aws-sigv4` (AWS's own signer: canonical URI, query and
//! header rules are its business, not ours) with the identity s5cmd would use for the same
//! side (see [`credentials`]), sent with `ureq` (blocking, small, rustls for https), and the
//! XML answers are read with `quick-xml`'s serde support. Endpoints follow s5cmd: a custom
//! `--endpoint-url` is addressed path-style, AWS virtual-host style.
//!
//! Everything here blocks: call it from `spawn_blocking`. [`leftovers`] decides which
//! uploads are lakesync's own to abort.

pub mod credentials;
pub mod leftovers;

use std::time::{Duration, SystemTime};

use serde::Deserialize;

use crate::s5cmd::Globals;
use credentials::{Env, Identity, ProcessEnv};

/// Why a request of lakesync's own S3 client failed.
#[derive(Debug, thiserror::Error)]
pub enum S3ApiError {
    #[error("no credentials for lakesync's own S3 requests: {what}")]
    Credentials { what: String },
    #[error("{operation} on {url}: HTTP {status} {code}: {message}")]
    Status {
        operation: &'static str,
        url: String,
        status: u16,
        code: String,
        message: String,
    },
    #[error("{operation} on {url}: {error}")]
    Transport {
        operation: &'static str,
        url: String,
        error: String,
    },
    #[error("{operation} on {url}: unreadable answer: {error}")]
    Answer {
        operation: &'static str,
        url: String,
        error: String,
    },
}

impl S3ApiError {
    pub fn hint(&self) -> &'static str {
        match self {
            S3ApiError::Credentials { .. } => {
                "set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or a profile with static keys; \
                 an AbortIncompleteMultipartUpload lifecycle rule on the bucket cleans up meanwhile"
            }
            S3ApiError::Status { status: 403, .. } => {
                "the destination credentials need s3:ListBucketMultipartUploads and s3:AbortMultipartUpload"
            }
            _ => {
                "check the endpoint; an AbortIncompleteMultipartUpload lifecycle rule on the bucket cleans up meanwhile"
            }
        }
    }
}

/// One incomplete multipart upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upload {
    pub key: String,
    pub upload_id: String,
    /// When the server says it was initiated (server clock; moto reports a fixed date).
    pub initiated: jiff::Timestamp,
}

/// A listing of incomplete uploads.
#[derive(Debug, Clone, Default)]
pub struct UploadListing {
    pub uploads: Vec<Upload>,
}

/// Signs and sends S3 requests for one endpoint and identity.
pub struct S3Api {
    agent: ureq::Agent,
    /// `None`: AWS itself.
    endpoint: Option<String>,
    identity: Identity,
    /// Region used for signing (resolved or detected per bucket).
    region: String,
    /// The settings named `region` for this side: no detection.
    region_given: bool,
}

impl std::fmt::Debug for S3Api {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Api")
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .finish_non_exhaustive()
    }
}

/// Per-request timeout: these requests are small; a hung server must not hold a run.
const TIMEOUT: Duration = Duration::from_secs(30);
/// Pages followed at most (1,000 uploads each) before giving up on a listing.
const MAX_PAGES: usize = 1000;

/// Percent-encode for a URI path (`/` kept) or a query value (`/` encoded): every byte but
/// the unreserved ones, as SigV4 wants.
fn encode(s: &str, keep_slash: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric()
            || matches!(b, b'-' | b'.' | b'_' | b'~')
            || (keep_slash && b == b'/')
        {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListMultipartUploadsResult {
    #[serde(default)]
    is_truncated: bool,
    #[serde(default)]
    next_key_marker: Option<String>,
    #[serde(default)]
    next_upload_id_marker: Option<String>,
    #[serde(default, rename = "Upload")]
    uploads: Vec<XmlUpload>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct XmlUpload {
    key: String,
    upload_id: String,
    initiated: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct InitiateMultipartUploadResult {
    upload_id: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct XmlError {
    #[serde(default)]
    code: String,
    #[serde(default)]
    message: String,
}

/// The key and upload-id markers of the next page.
type Markers = (String, String);

/// One page of a ListMultipartUploads answer: uploads, and the markers of the next page.
fn parse_uploads_page(xml: &str) -> Result<(Vec<Upload>, Option<Markers>), String> {
    let r: ListMultipartUploadsResult = quick_xml::de::from_str(xml).map_err(|e| e.to_string())?;
    let mut uploads = Vec::with_capacity(r.uploads.len());
    for u in r.uploads {
        let initiated = u
            .initiated
            .parse::<jiff::Timestamp>()
            .map_err(|e| format!("Initiated {:?}: {e}", u.initiated))?;
        uploads.push(Upload {
            key: u.key,
            upload_id: u.upload_id,
            initiated,
        });
    }
    let next = match (r.is_truncated, r.next_key_marker, r.next_upload_id_marker) {
        (true, Some(k), u) => Some((k, u.unwrap_or_default())),
        (true, None, _) => return Err("IsTruncated without NextKeyMarker".into()),
        _ => None,
    };
    Ok((uploads, next))
}

impl S3Api {
    /// A client with the identity s5cmd would use for `globals` (endpoint, profile).
    pub fn for_side(globals: &Globals) -> Result<Self, S3ApiError> {
        Self::with_env(globals, &ProcessEnv)
    }

    pub fn with_env(globals: &Globals, env: &dyn Env) -> Result<Self, S3ApiError> {
        let identity = credentials::resolve(globals.profile.as_deref(), env)?;
        let endpoint = globals
            .endpoint_url
            .as_ref()
            .map(|e| e.trim_end_matches('/').to_string());
        // The side's own region (flag, or the Binance bucket's) before the environment's.
        let region = globals
            .region
            .clone()
            .or_else(|| identity.region.clone())
            .unwrap_or_else(|| "us-east-1".into());
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(TIMEOUT))
            .http_status_as_error(false)
            .user_agent(concat!("lakesync/", env!("CARGO_PKG_VERSION")))
            .build()
            .into();
        Ok(Self {
            agent,
            endpoint,
            identity,
            region_given: globals.region.is_some(),
            region,
        })
    }

    /// On AWS without a configured region, ask the bucket for its own (HeadBucket answers
    /// `x-amz-bucket-region` even when it refuses), as s5cmd's region detection does.
    pub fn detect_region(&mut self, bucket: &str) {
        if self.endpoint.is_some() || self.identity.region.is_some() || self.region_given {
            return;
        }
        let url = format!("https://s3.amazonaws.com/{}", encode(bucket, false));
        if let Ok(resp) = self.agent.head(&url).call()
            && let Some(r) = resp
                .headers()
                .get("x-amz-bucket-region")
                .and_then(|v| v.to_str().ok())
        {
            self.region = r.to_string();
        }
    }

    /// The bucket's region as the endpoint states it: one signed HeadBucket, whose answer
    /// carries `x-amz-bucket-region` even when it refuses (403, 301). None when the request
    /// fails or the endpoint does not say (some S3-compatible servers).
    pub fn bucket_region(&self, bucket: &str) -> Option<String> {
        let url = self.url(bucket, "", "");
        let headers = self.signed_headers("HEAD", &url).ok()?;
        let mut r = self.agent.head(&url);
        for (k, v) in &headers {
            r = r.header(k, v);
        }
        let resp = r.call().ok()?;
        resp.headers()
            .get("x-amz-bucket-region")
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(String::from)
    }

    /// The URL of `key` (empty: the bucket) with `query` (already encoded, no `?`).
    fn url(&self, bucket: &str, key: &str, query: &str) -> String {
        let path = encode(key, true);
        let base = match &self.endpoint {
            Some(ep) => format!("{ep}/{}/{path}", encode(bucket, false)),
            // Virtual-host style where the bucket name allows it (no dots: TLS wildcard).
            None if !bucket.contains('.') => {
                format!("https://{bucket}.s3.{}.amazonaws.com/{path}", self.region)
            }
            None => format!(
                "https://s3.{}.amazonaws.com/{}/{path}",
                self.region,
                encode(bucket, false)
            ),
        };
        if query.is_empty() {
            base
        } else {
            format!("{base}?{query}")
        }
    }

    fn signed_headers(&self, method: &str, url: &str) -> Result<Vec<(String, String)>, String> {
        use aws_sigv4::http_request::{
            PayloadChecksumKind, PercentEncodingMode, SignableBody, SignableRequest,
            SigningSettings, UriPathNormalizationMode, sign,
        };
        let k = &self.identity.keys;
        let identity = aws_credential_types::Credentials::new(
            &k.access_key_id,
            &k.secret_access_key,
            k.session_token.clone(),
            None,
            "lakesync",
        )
        .into();
        let mut settings = SigningSettings::default();
        // S3 signs the path as sent: single encoding, no normalisation of `//` or `.`.
        settings.percent_encoding_mode = PercentEncodingMode::Single;
        settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
        settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
        let params = aws_sigv4::sign::v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name("s3")
            .time(SystemTime::now())
            .settings(settings)
            .build()
            .map_err(|e| e.to_string())?
            .into();
        let request =
            SignableRequest::new(method, url, std::iter::empty(), SignableBody::Bytes(&[]))
                .map_err(|e| e.to_string())?;
        let (instructions, _) = sign(request, &params)
            .map_err(|e| e.to_string())?
            .into_parts();
        let (headers, _) = instructions.into_parts();
        Ok(headers
            .into_iter()
            .map(|h| (h.name().to_string(), h.value().to_string()))
            .collect())
    }

    /// Send a signed request with an empty body; returns the status and the body.
    fn send(
        &self,
        operation: &'static str,
        method: &str,
        url: &str,
    ) -> Result<(u16, String), S3ApiError> {
        let transport = |error: String| S3ApiError::Transport {
            operation,
            url: url.to_string(),
            error,
        };
        let headers = self.signed_headers(method, url).map_err(transport)?;
        let result = match method {
            "GET" => {
                let mut r = self.agent.get(url);
                for (k, v) in &headers {
                    r = r.header(k, v);
                }
                r.call()
            }
            "DELETE" => {
                let mut r = self.agent.delete(url);
                for (k, v) in &headers {
                    r = r.header(k, v);
                }
                r.call()
            }
            _ => {
                let mut r = self.agent.post(url);
                for (k, v) in &headers {
                    r = r.header(k, v);
                }
                r.send_empty()
            }
        };
        let mut resp = result.map_err(|e| transport(e.to_string()))?;
        let status = resp.status().as_u16();
        let body = resp
            .body_mut()
            .read_to_string()
            .map_err(|e| transport(e.to_string()))?;
        if !(200..300).contains(&status) {
            let e: XmlError = quick_xml::de::from_str(&body).unwrap_or_default();
            return Err(S3ApiError::Status {
                operation,
                url: url.to_string(),
                status,
                code: e.code,
                message: e.message,
            });
        }
        Ok((status, body))
    }

    /// Every incomplete upload in `bucket` whose key starts with `prefix`, all pages.
    pub fn list_multipart_uploads(
        &self,
        bucket: &str,
        prefix: &str,
    ) -> Result<UploadListing, S3ApiError> {
        let mut out = UploadListing::default();
        let mut marker: Option<Markers> = None;
        for _ in 0..MAX_PAGES {
            let mut query = format!("uploads&prefix={}", encode(prefix, false));
            if let Some((k, u)) = &marker {
                query.push_str(&format!("&key-marker={}", encode(k, false)));
                if !u.is_empty() {
                    query.push_str(&format!("&upload-id-marker={}", encode(u, false)));
                }
            }
            let url = self.url(bucket, "", &query);
            let (_, body) = self.send("ListMultipartUploads", "GET", &url)?;
            let (uploads, next) =
                parse_uploads_page(&body).map_err(|error| S3ApiError::Answer {
                    operation: "ListMultipartUploads",
                    url: url.clone(),
                    error,
                })?;
            out.uploads.extend(uploads);
            match next {
                Some(n) if Some(&n) != marker.as_ref() => marker = Some(n),
                _ => return Ok(out),
            }
        }
        Ok(out)
    }

    /// Abort one upload. `Ok(false)`: it was already gone (NoSuchUpload).
    pub fn abort_multipart_upload(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
    ) -> Result<bool, S3ApiError> {
        let url = self.url(
            bucket,
            key,
            &format!("uploadId={}", encode(upload_id, false)),
        );
        match self.send("AbortMultipartUpload", "DELETE", &url) {
            Ok(_) => Ok(true),
            Err(S3ApiError::Status { status: 404, .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Start a multipart upload (another writer, in tests); returns its upload id.
    pub fn create_multipart_upload(&self, bucket: &str, key: &str) -> Result<String, S3ApiError> {
        let url = self.url(bucket, key, "uploads");
        let (_, body) = self.send("CreateMultipartUpload", "POST", &url)?;
        quick_xml::de::from_str::<InitiateMultipartUploadResult>(&body)
            .map(|r| r.upload_id)
            .map_err(|e| S3ApiError::Answer {
                operation: "CreateMultipartUpload",
                url,
                error: e.to_string(),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoding_keeps_only_unreserved_bytes() {
        assert_eq!(encode("a b/c+d&e=f", true), "a%20b/c%2Bd%26e%3Df");
        assert_eq!(encode("a/b", false), "a%2Fb");
        assert_eq!(encode("日", true), "%E6%97%A5");
        assert_eq!(encode("x-y_z.~", false), "x-y_z.~");
    }

    #[test]
    fn urls_follow_s5cmd_addressing() {
        let g = Globals {
            endpoint_url: Some("http://127.0.0.1:9000/".into()),
            ..Default::default()
        };
        let env: std::collections::HashMap<&str, &str> =
            [("AWS_ACCESS_KEY_ID", "a"), ("AWS_SECRET_ACCESS_KEY", "b")].into();
        let api = S3Api::with_env(&g, &env).unwrap();
        assert_eq!(
            api.url("b", "k y.zip", "uploads"),
            "http://127.0.0.1:9000/b/k%20y.zip?uploads"
        );
        let aws = S3Api::with_env(&Globals::default(), &env).unwrap();
        assert_eq!(
            aws.url("lake", "x", ""),
            "https://lake.s3.us-east-1.amazonaws.com/x"
        );
        assert_eq!(
            aws.url("my.lake", "x", ""),
            "https://s3.us-east-1.amazonaws.com/my.lake/x"
        );
    }

    #[test]
    fn pages_of_uploads_parse() {
        let xml = r#"<?xml version="1.0" encoding="UTF-8"?>
<ListMultipartUploadsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
  <Bucket>dst</Bucket><KeyMarker></KeyMarker><UploadIdMarker></UploadIdMarker>
  <NextKeyMarker>b &amp; c.zip</NextKeyMarker><NextUploadIdMarker>U2</NextUploadIdMarker>
  <MaxUploads>2</MaxUploads><IsTruncated>true</IsTruncated>
  <Upload><Key>a.zip</Key><UploadId>U1</UploadId><Initiated>2026-12-01T10:00:00.000Z</Initiated></Upload>
  <Upload><Key>b &amp; c.zip</Key><UploadId>U2</UploadId><Initiated>2026-12-01T10:00:01Z</Initiated>
    <StorageClass>STANDARD</StorageClass></Upload>
</ListMultipartUploadsResult>"#;
        let (uploads, next) = parse_uploads_page(xml).unwrap();
        assert_eq!(uploads.len(), 2);
        assert_eq!(uploads[1].key, "b & c.zip");
        assert_eq!(next, Some(("b & c.zip".into(), "U2".into())));
        let last = r#"<ListMultipartUploadsResult><IsTruncated>false</IsTruncated></ListMultipartUploadsResult>"#;
        assert_eq!(parse_uploads_page(last).unwrap(), (vec![], None));
        let one = r#"<ListMultipartUploadsResult><IsTruncated>false</IsTruncated>
            <Upload><Key>k</Key><UploadId>U</UploadId><Initiated>2026-12-01T10:00:00Z</Initiated></Upload>
            </ListMultipartUploadsResult>"#;
        assert_eq!(parse_uploads_page(one).unwrap().0.len(), 1);
    }
}
