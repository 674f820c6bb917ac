//! The S3 API over HTTP (path-style): routing a request to an operation, the checks S3
//! makes before it (bucket, signature region, access, request rate), the WAN latency, and
//! the operations themselves over [`crate::buckets`].
//!
//! Order of a request: parse -> bucket -> region and access -> rate limit -> latency ->
//! operation. Errors go through the latency too (a refused request still costs a round
//! trip).

pub mod auth;
pub mod body;
pub mod error;
pub mod xml;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::header::{HeaderMap, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use md5::{Digest as _, Md5};

use crate::archive::ObjRef;
use crate::buckets::{
    BucketRef, Buckets, Content, DestSource, Found, ModelSource, Part, PartData, SOURCE_BUCKET,
    StoredObject, WriteError, read_store,
};
use crate::content::Plan;
use crate::hash;
use crate::limits::{Limiter, partition};
use crate::listing::{self, Resume};
use crate::object::ETag;
use crate::stats::{Kind, Stats};
use crate::time::{http_date, now_ms};
use auth::Auth;
use body::SimBody;
use error::S3Error;

/// S3's CopyObject limit: 5 GiB.
pub const MAX_COPY_BYTES: u64 = 5 * 1024 * 1024 * 1024;

/// Added latency per request.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Latency {
    None,
    Fixed(Duration),
    /// Log-normal with this median and 99th percentile (milliseconds).
    LogNormal {
        median_ms: f64,
        p99_ms: f64,
    },
}

impl Latency {
    pub fn sample(&self, n: u64) -> Duration {
        match *self {
            Latency::None => Duration::ZERO,
            Latency::Fixed(d) => d,
            Latency::LogNormal { median_ms, p99_ms } => {
                let sigma = (p99_ms / median_ms).ln() / 2.326;
                let u1 = hash::unit(hash::mix(n ^ 0xa11)).max(1e-12);
                let u2 = hash::unit(hash::mix(n ^ 0xa12));
                let z = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
                Duration::from_secs_f64((median_ms * (sigma * z).exp()).min(60_000.0) / 1000.0)
            }
        }
    }
}

/// How a request signed for the wrong region is answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WrongRegion {
    /// 400 AuthorizationHeaderMalformed naming the right region (S3's global endpoint).
    Malformed,
    /// 301 PermanentRedirect with x-amz-bucket-region (a regional endpoint).
    Redirect,
}

#[derive(Clone, Debug)]
pub struct Knobs {
    pub latency: Latency,
    /// Extra latency of a CopyObject whose source bucket is in another region.
    pub cross_region_copy: Duration,
    pub partition_depth: usize,
    pub wrong_region: WrongRegion,
    /// Fraction of CopyObject calls answered 200 with an InternalError body.
    pub copy_error_fraction: f64,
    pub max_copy_bytes: u64,
    pub stats_top: usize,
}

pub struct State {
    pub buckets: Buckets,
    pub stats: Arc<Stats>,
    pub limiter: Limiter,
    pub knobs: Knobs,
    pub requests: AtomicU64,
    pub copies: AtomicU64,
    pub started: Instant,
    pub as_of: String,
}

/// What a request asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    ListBuckets,
    Location,
    ListV1,
    ListV2,
    ListUploads,
    HeadBucket,
    CreateBucket,
    DeleteBucket,
    DeleteObjects,
    HeadObject,
    GetObject,
    PutObject,
    CopyObject,
    UploadPart,
    UploadPartCopy,
    CreateUpload,
    CompleteUpload,
    AbortUpload,
    DeleteObject,
    BucketConfig,
    Unsupported,
}

impl Op {
    fn kind(self) -> Kind {
        match self {
            Op::ListV1 | Op::ListV2 => Kind::List,
            Op::ListUploads => Kind::MpuList,
            Op::HeadBucket => Kind::HeadBucket,
            Op::HeadObject => Kind::Head,
            Op::GetObject => Kind::Get,
            Op::PutObject => Kind::Put,
            Op::CopyObject => Kind::Copy,
            Op::UploadPart => Kind::MpuPart,
            Op::UploadPartCopy => Kind::MpuPartCopy,
            Op::CreateUpload => Kind::MpuCreate,
            Op::CompleteUpload => Kind::MpuComplete,
            Op::AbortUpload => Kind::MpuAbort,
            Op::DeleteObject => Kind::Delete,
            Op::DeleteObjects => Kind::DeleteMulti,
            Op::ListBuckets
            | Op::Location
            | Op::CreateBucket
            | Op::DeleteBucket
            | Op::BucketConfig => Kind::Bucket,
            Op::Unsupported => Kind::Other,
        }
    }

    fn writes(self) -> bool {
        self.kind().is_write() || matches!(self, Op::CreateBucket | Op::DeleteBucket)
    }
}

fn classify(method: &Method, bucket: &str, key: &[u8], q: &Query, h: &HeaderMap) -> Op {
    let copy = h.contains_key("x-amz-copy-source");
    match (method.as_str(), bucket.is_empty(), key.is_empty()) {
        ("GET", true, _) => Op::ListBuckets,
        ("GET", false, true) if q.has("location") => Op::Location,
        ("GET", false, true) if q.has("uploads") => Op::ListUploads,
        ("GET", false, true) if q.get("list-type") == Some("2") => Op::ListV2,
        ("GET", false, true)
            if q.has_any(&[
                "versioning",
                "acl",
                "policy",
                "lifecycle",
                "cors",
                "tagging",
                "object-lock",
                "encryption",
            ]) =>
        {
            Op::BucketConfig
        }
        ("GET", false, true)
            if q.has_any(&[
                "versions",
                "inventory",
                "analytics",
                "metrics",
                "replication",
                "website",
            ]) =>
        {
            Op::Unsupported
        }
        ("GET", false, true) => Op::ListV1,
        ("GET", false, false)
            if q.has("uploadId") || q.has_any(&["acl", "tagging", "attributes"]) =>
        {
            Op::Unsupported
        }
        ("GET", false, false) => Op::GetObject,
        ("HEAD", false, true) => Op::HeadBucket,
        ("HEAD", false, false) => Op::HeadObject,
        ("PUT", false, true) if q.is_empty() => Op::CreateBucket,
        ("PUT", false, true) => Op::BucketConfig,
        ("PUT", false, false) if q.has("partNumber") && q.has("uploadId") => {
            if copy {
                Op::UploadPartCopy
            } else {
                Op::UploadPart
            }
        }
        ("PUT", false, false) if q.has_any(&["acl", "tagging", "retention", "legal-hold"]) => {
            Op::Unsupported
        }
        ("PUT", false, false) if copy => Op::CopyObject,
        ("PUT", false, false) => Op::PutObject,
        ("POST", false, true) if q.has("delete") => Op::DeleteObjects,
        ("POST", false, false) if q.has("uploads") => Op::CreateUpload,
        ("POST", false, false) if q.has("uploadId") => Op::CompleteUpload,
        ("DELETE", false, true) if q.is_empty() => Op::DeleteBucket,
        ("DELETE", false, false) if q.has("uploadId") => Op::AbortUpload,
        ("DELETE", false, false) => Op::DeleteObject,
        _ => Op::Unsupported,
    }
}

/// Decoded query parameters.
#[derive(Default, Debug)]
pub struct Query(Vec<(String, Vec<u8>)>);

impl Query {
    pub fn parse(q: Option<&str>) -> Query {
        let mut out = Vec::new();
        for pair in q.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let k = String::from_utf8_lossy(&percent_decode(k.as_bytes(), true)).into_owned();
            out.push((k, percent_decode(v.as_bytes(), true)));
        }
        Query(out)
    }

    fn raw(&self, k: &str) -> Option<&[u8]> {
        self.0
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.as_slice())
    }

    pub fn get(&self, k: &str) -> Option<&str> {
        self.raw(k).and_then(|v| std::str::from_utf8(v).ok())
    }

    pub fn has(&self, k: &str) -> bool {
        self.0.iter().any(|(n, _)| n == k)
    }

    fn has_any(&self, ks: &[&str]) -> bool {
        ks.iter().any(|k| self.has(k))
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// `%XX` decoding; `plus` turns `+` into a space (query strings).
pub fn percent_decode(s: &[u8], plus: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        match s[i] {
            b'%' if i + 2 < s.len() => {
                let h = |c: u8| (c as char).to_digit(16);
                match (h(s[i + 1]), h(s[i + 2])) {
                    (Some(a), Some(b)) => {
                        out.push((a * 16 + b) as u8);
                        i += 3;
                        continue;
                    }
                    _ => out.push(b'%'),
                }
            }
            b'+' if plus => out.push(b' '),
            c => out.push(c),
        }
        i += 1;
    }
    out
}

type Reply = Response<SimBody>;

impl State {
    fn request_id(&self) -> String {
        format!(
            "{:016X}",
            hash::mix(self.requests.fetch_add(1, Relaxed) ^ 0x5eed)
        )
    }

    fn error_reply(&self, e: &S3Error, head: bool, rid: &str) -> Reply {
        self.stats.error(e.code);
        let mut b = Response::builder().status(e.status);
        for (n, v) in &e.headers {
            b = b.header(*n, v.as_str());
        }
        b = b
            .header("x-amz-request-id", rid)
            .header("x-amz-id-2", format!("archive-sim/{rid}"));
        let resp = if head {
            b.header("content-length", "0").body(SimBody::Empty)
        } else {
            b.header("content-type", "application/xml")
                .body(SimBody::bytes(e.body(rid)))
        };
        resp.unwrap_or_else(|_| Response::new(SimBody::Empty))
    }
}

fn xml_reply(status: StatusCode, doc: Vec<u8>) -> Result<Reply, S3Error> {
    Response::builder()
        .status(status)
        .header("content-type", "application/xml")
        .body(SimBody::bytes(doc))
        .map_err(|e| S3Error::internal(e.to_string()))
}

fn empty_reply(status: StatusCode) -> Result<Reply, S3Error> {
    Response::builder()
        .status(status)
        .body(SimBody::Empty)
        .map_err(|e| S3Error::internal(e.to_string()))
}

/// Entry point for every request.
pub async fn handle(state: Arc<State>, req: Request<hyper::body::Incoming>) -> Reply {
    let (parts, body) = req.into_parts();
    let rid = state.request_id();
    let head = parts.method == Method::HEAD;
    if parts.uri.path().starts_with("/_sim/") {
        return sim_endpoint(&state, &parts.method, parts.uri.path(), parts.uri.query());
    }
    let path = percent_decode(parts.uri.path().as_bytes(), false);
    let path = path.strip_prefix(b"/").unwrap_or(&path);
    let (bucket_b, key): (&[u8], &[u8]) = match path.iter().position(|&b| b == b'/') {
        Some(i) => (&path[..i], &path[i + 1..]),
        None => (path, b""),
    };
    let bucket = String::from_utf8_lossy(bucket_b).into_owned();
    let q = Query::parse(parts.uri.query());
    let op = classify(&parts.method, &bucket, key, &q, &parts.headers);

    let t0 = Instant::now();
    let result = dispatch(&state, op, &bucket, key, &q, &parts.headers, body, t0).await;
    let mut resp = match result {
        Ok(r) => r,
        Err(e) => state.error_reply(&e, head, &rid),
    };
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&rid) {
        h.insert("x-amz-request-id", v);
    }
    h.entry("x-amz-id-2")
        .or_insert(HeaderValue::from_static("archive-sim"));
    h.insert("server", HeaderValue::from_static("archive-sim"));
    resp
}

#[expect(clippy::too_many_arguments)]
async fn dispatch(
    state: &Arc<State>,
    op: Op,
    bucket: &str,
    key: &[u8],
    q: &Query,
    headers: &HeaderMap,
    body: hyper::body::Incoming,
    t0: Instant,
) -> Result<Reply, S3Error> {
    // The request body first (uploads), so the latency below is the response's.
    let payload = match op {
        Op::PutObject
        | Op::UploadPart
        | Op::DeleteObjects
        | Op::CompleteUpload
        | Op::CreateBucket => {
            let b = body
                .collect()
                .await
                .map_err(|e| S3Error::internal(format!("reading the body: {e}")))?
                .to_bytes();
            state.stats.bytes_in(b.len() as u64);
            decode_payload(headers, b)?
        }
        _ => Bytes::new(),
    };
    let auth = auth::parse(
        headers.get("authorization").and_then(|v| v.to_str().ok()),
        q.get("X-Amz-Credential"),
    );
    let kind = op.kind();
    let part_prefix = {
        let subject: &[u8] = match op {
            Op::ListV1 | Op::ListV2 | Op::ListUploads => q.raw("prefix").unwrap_or(b""),
            _ => key,
        };
        String::from_utf8_lossy(partition(subject, state.knobs.partition_depth)).into_owned()
    };
    state.stats.request(kind, bucket, &part_prefix);

    let checked = precheck(state, op, bucket, &auth, &part_prefix);
    let mut delay = state.knobs.latency.sample(state.requests.load(Relaxed));
    if op == Op::CopyObject
        && let Ok(Some(BucketRef::Dest(d))) = &checked
        && let Some((src, _)) = copy_source(headers)
        && region_of(state, &src).is_some_and(|r| r != d.region)
    {
        delay += state.knobs.cross_region_copy;
    }
    let spent = t0.elapsed();
    if delay > spent {
        tokio::time::sleep(delay - spent).await;
    }
    let b = checked?;
    match op {
        Op::ListBuckets => list_buckets(state),
        Op::Location => {
            let b = b.ok_or_else(|| S3Error::no_such_bucket(bucket))?;
            let region = b.region(&state.buckets);
            let mut doc = xml::HEAD.as_bytes().to_vec();
            doc.extend_from_slice(format!("<LocationConstraint xmlns=\"{}\">", xml::NS).as_bytes());
            if region != "us-east-1" {
                doc.extend_from_slice(region.as_bytes());
            }
            doc.extend_from_slice(b"</LocationConstraint>");
            xml_reply(StatusCode::OK, doc)
        }
        Op::HeadBucket => {
            let b = b.ok_or_else(|| S3Error::no_such_bucket(bucket))?;
            Response::builder()
                .status(StatusCode::OK)
                .header("x-amz-bucket-region", b.region(&state.buckets))
                .header("content-length", "0")
                .body(SimBody::Empty)
                .map_err(|e| S3Error::internal(e.to_string()))
        }
        Op::ListV1 | Op::ListV2 => list(state, op == Op::ListV2, bucket, b, q, &part_prefix),
        Op::ListUploads => list_uploads(state, bucket, b, q),
        Op::CreateBucket => {
            let constraint = xml::all_texts(&payload, "LocationConstraint")
                .into_iter()
                .next();
            let region = constraint
                .map(|c| String::from_utf8_lossy(&c).into_owned())
                .filter(|c| !c.is_empty())
                .or(match &auth {
                    Auth::Signed { region } => region.clone(),
                    Auth::Anonymous => None,
                });
            if state.buckets.create(bucket, region.as_deref()) {
                Response::builder()
                    .status(StatusCode::OK)
                    .header("location", format!("/{bucket}"))
                    .body(SimBody::Empty)
                    .map_err(|e| S3Error::internal(e.to_string()))
            } else {
                Err(S3Error::new(
                    StatusCode::CONFLICT,
                    "BucketAlreadyOwnedByYou",
                    "Your previous request to create the named bucket succeeded and you already own it.",
                )
                .with("BucketName", bucket))
            }
        }
        Op::DeleteBucket => {
            let Some(BucketRef::Dest(d)) = b else {
                return Err(S3Error::access_denied());
            };
            let st = read_store(&d);
            if d.mirror.is_some() || st.live_objects() > 0 {
                return Err(S3Error::new(
                    StatusCode::CONFLICT,
                    "BucketNotEmpty",
                    "The bucket you tried to delete is not empty",
                ));
            }
            drop(st);
            state
                .buckets
                .dests
                .write()
                .unwrap_or_else(|e| e.into_inner())
                .remove(bucket);
            empty_reply(StatusCode::NO_CONTENT)
        }
        Op::BucketConfig => Err(S3Error::not_implemented("bucket configuration")),
        Op::Unsupported => Err(S3Error::not_implemented("this operation")),
        Op::HeadObject | Op::GetObject => {
            let b = b.ok_or_else(|| S3Error::no_such_bucket(bucket))?;
            let found = state
                .buckets
                .find(&b, key)
                .ok_or_else(|| S3Error::no_such_key(key))?;
            object_reply(state, op == Op::HeadObject, key, found, headers).await
        }
        _ => {
            let Some(BucketRef::Dest(d)) = b else {
                return Err(S3Error::access_denied());
            };
            write_op(state, op, &d, bucket, key, q, headers, payload).await
        }
    }
}

fn region_of(state: &State, bucket: &str) -> Option<String> {
    state
        .buckets
        .bucket(bucket)
        .map(|b| b.region(&state.buckets).to_string())
}

/// The bucket must exist, the signature's region must be the bucket's, anonymous requests
/// may only read the source, and the partition must have a token left.
fn precheck(
    state: &State,
    op: Op,
    bucket: &str,
    auth: &Auth,
    part_prefix: &str,
) -> Result<Option<BucketRef>, S3Error> {
    if matches!(op, Op::ListBuckets) {
        return Ok(None);
    }
    let b = state.buckets.bucket(bucket);
    if op == Op::CreateBucket {
        if b.is_some() {
            // Let the operation answer BucketAlreadyOwnedByYou.
        }
        if matches!(auth, Auth::Anonymous) {
            return Err(S3Error::access_denied());
        }
        return Ok(b);
    }
    let Some(b) = b else {
        return Err(S3Error::no_such_bucket(bucket));
    };
    let region = b.region(&state.buckets).to_string();
    if let Auth::Signed {
        region: Some(signed),
    } = auth
        && *signed != region
    {
        return Err(region_error(state, op, bucket, signed, &region));
    }
    match (&b, auth) {
        (BucketRef::Dest(_), Auth::Anonymous) => return Err(S3Error::access_denied()),
        (BucketRef::Source, _) if op.writes() => return Err(S3Error::access_denied()),
        _ => {}
    }
    if !state.limiter.admit(
        op.kind().is_write(),
        &format!("{bucket}/{part_prefix}"),
        Instant::now(),
    ) {
        state.stats.throttled(bucket, part_prefix);
        return Err(S3Error::slow_down());
    }
    Ok(Some(b))
}

fn region_error(state: &State, op: Op, bucket: &str, signed: &str, right: &str) -> S3Error {
    let e = match state.knobs.wrong_region {
        WrongRegion::Malformed => S3Error::new(
            StatusCode::BAD_REQUEST,
            "AuthorizationHeaderMalformed",
            format!("The authorization header is malformed; the region '{signed}' is wrong; expecting '{right}'"),
        )
        .with("Region", right),
        WrongRegion::Redirect => S3Error::new(
            StatusCode::MOVED_PERMANENTLY,
            "PermanentRedirect",
            "The bucket you are attempting to access must be addressed using the specified endpoint. Please send all future requests to this endpoint.",
        )
        .with("Endpoint", format!("{bucket}.s3.{right}.amazonaws.com"))
        .with("Bucket", bucket),
    };
    let _ = op;
    e.header("x-amz-bucket-region", right)
}

/// `/_sim/stats` (GET) and `/_sim/reset` (POST).
fn sim_endpoint(state: &State, method: &Method, path: &str, query: Option<&str>) -> Reply {
    let reply = |status: StatusCode, v: serde_json::Value| {
        Response::builder()
            .status(status)
            .header("content-type", "application/json")
            .body(SimBody::bytes(v.to_string()))
            .unwrap_or_else(|_| Response::new(SimBody::Empty))
    };
    match (method.as_str(), path) {
        ("GET", "/_sim/stats") => {
            let mut v = state.stats.to_json(state.knobs.stats_top);
            let dests: serde_json::Map<String, serde_json::Value> = state
                .buckets
                .dest_stats()
                .into_iter()
                .map(|(n, (modelled, stored, tombs, kept))| {
                    (n, serde_json::json!({"modelled_keys": modelled, "stored_objects": stored, "tombstones": tombs, "kept_bytes": kept}))
                })
                .collect();
            v["destinations"] = dests.into();
            v["uptime_s"] = state.started.elapsed().as_secs_f64().into();
            v["as_of"] = state.as_of.clone().into();
            reply(StatusCode::OK, v)
        }
        ("GET", "/_sim/count") => {
            let q = Query::parse(query);
            let bucket = q.get("bucket").unwrap_or(SOURCE_BUCKET);
            let Some(b) = state.buckets.bucket(bucket) else {
                return reply(
                    StatusCode::NOT_FOUND,
                    serde_json::json!({"error": format!("no bucket {bucket}")}),
                );
            };
            let interval = match q.get("interval") {
                None => None,
                Some(i) => match crate::model::catalog::interval_index(i) {
                    Some(i) => Some(i),
                    None => {
                        return reply(
                            StatusCode::BAD_REQUEST,
                            serde_json::json!({"error": format!("unknown interval {i}")}),
                        );
                    }
                },
            };
            let day = |k: &str| q.get(k).map(|d| crate::time::parse_day(d).ok_or(d));
            let range = match (day("from"), day("to")) {
                (None, None) => None,
                (Some(Ok(f)), Some(Ok(t))) => Some((f, t)),
                (Some(Ok(f)), None) => Some((f, i32::MAX)),
                (None, Some(Ok(t))) => Some((i32::MIN, t)),
                _ => {
                    return reply(
                        StatusCode::BAD_REQUEST,
                        serde_json::json!({"error": "from and to are YYYY-MM-DD"}),
                    );
                }
            };
            let prefix = q.raw("prefix").unwrap_or(b"");
            let keys = state.buckets.count(&b, prefix, interval, range);
            reply(
                StatusCode::OK,
                serde_json::json!({"bucket": bucket, "prefix": String::from_utf8_lossy(prefix), "keys": keys}),
            )
        }
        ("POST", "/_sim/reset") => {
            state.stats.reset();
            reply(StatusCode::OK, serde_json::json!({"reset": true}))
        }
        _ => reply(
            StatusCode::NOT_FOUND,
            serde_json::json!({"error": "unknown simulator endpoint", "endpoints": ["GET /_sim/stats", "GET /_sim/count?bucket=B&prefix=P[&interval=I][&from=DAY][&to=DAY]", "POST /_sim/reset"]}),
        ),
    }
}

fn list_buckets(state: &State) -> Result<Reply, S3Error> {
    let mut x = xml::Xml::new("ListAllMyBucketsResult", false);
    x.open("Owner");
    x.text("ID", b"archive-sim");
    x.text("DisplayName", b"archive-sim");
    x.close("Owner");
    x.open("Buckets");
    let mut names = vec![(
        SOURCE_BUCKET.to_string(),
        crate::archive::as_of_ms(crate::model::listing_day()),
    )];
    names.extend(state.buckets.dest_names());
    for (n, created) in names {
        x.open("Bucket");
        x.text("Name", n.as_bytes());
        x.date("CreationDate", created);
        x.close("Bucket");
    }
    x.close("Buckets");
    xml_reply(StatusCode::OK, x.finish("ListAllMyBucketsResult"))
}

fn list(
    state: &State,
    v2: bool,
    bucket: &str,
    b: Option<BucketRef>,
    q: &Query,
    part_prefix: &str,
) -> Result<Reply, S3Error> {
    let b = b.ok_or_else(|| S3Error::no_such_bucket(bucket))?;
    let max_keys = match q.get("max-keys") {
        None => 1000,
        Some(s) => s
            .parse::<usize>()
            .map_err(|_| {
                S3Error::invalid_argument(
                    "Provided max-keys not an integer or within integer range",
                )
            })?
            .min(1000),
    };
    let url = match q.get("encoding-type") {
        None => false,
        Some("url") => true,
        Some(_) => {
            return Err(S3Error::invalid_argument(
                "Invalid Encoding Method specified in Request",
            ));
        }
    };
    let prefix = q.raw("prefix").unwrap_or(b"").to_vec();
    let delimiter = q
        .raw("delimiter")
        .filter(|d| !d.is_empty())
        .map(<[u8]>::to_vec);
    let token = q.get("continuation-token").filter(|_| v2);
    let start_after = q.raw("start-after").filter(|_| v2);
    let marker = q.raw("marker").filter(|_| !v2);
    let start = if let Some(t) = token {
        Resume::from_token(t)
            .ok_or_else(|| {
                S3Error::invalid_argument("The continuation token provided is incorrect")
            })?
            .bound()
    } else if let Some(s) = start_after.or(marker) {
        listing::after(s)
    } else {
        Vec::new()
    };
    let req = listing::Request {
        prefix: prefix.clone(),
        delimiter: delimiter.clone(),
        start,
        max_keys,
    };
    let page = match &b {
        BucketRef::Source => {
            let mut src =
                ModelSource::new(state.buckets.source.archive, state.buckets.source.view, b"");
            listing::page(&mut src, &req)
        }
        BucketRef::Dest(d) => {
            let store = read_store(d);
            let mut src = DestSource::new(&state.buckets, d, &store);
            listing::page(&mut src, &req)
        }
    };
    let keys = page.keys() as u64;
    state
        .stats
        .listed(bucket, part_prefix, keys, page.items.len() as u64 - keys);
    let echo = xml::ListEcho {
        bucket,
        prefix: &prefix,
        delimiter: delimiter.as_deref(),
        max_keys,
        url,
        v2,
        token,
        start_after,
        marker,
    };
    let doc = xml::list_result(&echo, &page);
    state.stats.bytes_out(doc.len() as u64);
    xml_reply(StatusCode::OK, doc)
}

fn list_uploads(
    state: &State,
    bucket: &str,
    b: Option<BucketRef>,
    q: &Query,
) -> Result<Reply, S3Error> {
    let b = b.ok_or_else(|| S3Error::no_such_bucket(bucket))?;
    let prefix = q.raw("prefix").unwrap_or(b"");
    let ups = match &b {
        BucketRef::Source => Vec::new(),
        BucketRef::Dest(d) => state.buckets.uploads(d, prefix),
    };
    let mut x = xml::Xml::new("ListMultipartUploadsResult", false);
    x.text("Bucket", bucket.as_bytes());
    x.text("KeyMarker", b"");
    x.text("UploadIdMarker", b"");
    x.key("Prefix", prefix);
    x.num("MaxUploads", 1000);
    x.text("IsTruncated", b"false");
    for (k, id, at) in ups.iter().take(1000) {
        x.open("Upload");
        x.key("Key", k);
        x.text("UploadId", id.as_bytes());
        x.open("Initiator");
        x.text("ID", b"archive-sim");
        x.text("DisplayName", b"archive-sim");
        x.close("Initiator");
        x.open("Owner");
        x.text("ID", b"archive-sim");
        x.text("DisplayName", b"archive-sim");
        x.close("Owner");
        x.text("StorageClass", b"STANDARD");
        x.date("Initiated", *at);
        x.close("Upload");
    }
    xml_reply(StatusCode::OK, x.finish("ListMultipartUploadsResult"))
}

fn content_type_of(key: &[u8], found: &Found) -> String {
    if let Some(t) = &found.content_type {
        return t.to_string();
    }
    if key.ends_with(b".zip") {
        "application/zip".into()
    } else {
        "binary/octet-stream".into()
    }
}

/// `Range: bytes=a-b` against a size: Ok(None) for the whole object.
fn parse_range(h: Option<&str>, size: u64) -> Result<Option<(u64, u64)>, ()> {
    let Some(spec) = h.and_then(|h| h.trim().strip_prefix("bytes=")) else {
        return Ok(None);
    };
    if spec.contains(',') {
        return Ok(None); // S3 serves the whole object for multiple ranges
    }
    let (a, b) = spec.split_once('-').ok_or(())?;
    let (a, b) = (a.trim(), b.trim());
    let (start, end) = if a.is_empty() {
        let n: u64 = b.parse().map_err(|_| ())?;
        if n == 0 {
            return Err(());
        }
        (size.saturating_sub(n), size)
    } else {
        let start: u64 = a.parse().map_err(|_| ())?;
        let end = if b.is_empty() {
            size
        } else {
            b.parse::<u64>()
                .map_err(|_| ())?
                .saturating_add(1)
                .min(size)
        };
        (start, end)
    };
    if start >= size || start >= end {
        return Err(());
    }
    Ok(Some((start, end)))
}

async fn object_reply(
    state: &Arc<State>,
    head: bool,
    key: &[u8],
    found: Found,
    headers: &HeaderMap,
) -> Result<Reply, S3Error> {
    let size = found.meta.size;
    let range =
        parse_range(headers.get("range").and_then(|v| v.to_str().ok()), size).map_err(|_| {
            S3Error::new(
                StatusCode::RANGE_NOT_SATISFIABLE,
                "InvalidRange",
                "The requested range is not satisfiable",
            )
            .with("ActualObjectSize", size.to_string())
            .header("content-range", format!("bytes */{size}"))
        })?;
    let (start, end) = range.unwrap_or((0, size));
    let mut b = Response::builder()
        .status(if range.is_some() {
            StatusCode::PARTIAL_CONTENT
        } else {
            StatusCode::OK
        })
        .header("etag", found.meta.etag.quoted())
        .header("last-modified", http_date(found.meta.last_modified_ms))
        .header("content-type", content_type_of(key, &found))
        .header("accept-ranges", "bytes")
        .header("content-length", (end - start).to_string());
    if range.is_some() {
        b = b.header("content-range", format!("bytes {start}-{}/{size}", end - 1));
    }
    if head {
        return b
            .body(SimBody::Empty)
            .map_err(|e| S3Error::internal(e.to_string()));
    }
    let body = body_of(state, &found, start, end).await?;
    b.body(body).map_err(|e| S3Error::internal(e.to_string()))
}

/// Files above this are hashed off the runtime's threads.
const BLOCKING_BYTES: u64 = 4 << 20;

async fn body_of(
    state: &Arc<State>,
    found: &Found,
    start: u64,
    end: u64,
) -> Result<SimBody, S3Error> {
    let stats = state.stats.clone();
    match &found.content {
        Content::Bytes(b) => {
            stats.bytes_out(end - start);
            Ok(SimBody::bytes(b.slice(start as usize..end as usize)))
        }
        Content::Unkept => Err(S3Error::internal(
            "archive-sim did not keep this object's bytes (over --max-kept-mb); its metadata is kept",
        )),
        Content::Source {
            obj: ObjRef::Marker,
            ..
        } => Ok(SimBody::Empty),
        Content::Source {
            obj: obj @ ObjRef::File { checksum: true, .. },
            version,
            key,
        } => {
            let (st, obj, version, key) = (state.clone(), *obj, *version, key.clone());
            let text = run_maybe_blocking(found.meta.size > 0, move || {
                st.buckets.checksum_bytes(obj, version, &key)
            })
            .await
            .ok_or_else(|| S3Error::internal("no checksum for this object"))?;
            stats.bytes_out(end - start);
            Ok(SimBody::bytes(
                Bytes::from(text).slice(start as usize..end as usize),
            ))
        }
        Content::Source { obj, version, key } => {
            let plan = state
                .buckets
                .plan(*obj, *version, key)
                .ok_or_else(|| S3Error::internal("no content plan"))?;
            match plan {
                Plan::Zip(p) => {
                    let big = p.total > BLOCKING_BYTES;
                    let st = state.clone();
                    let p2 = p.clone();
                    let crc = run_maybe_blocking(big, move || st.buckets.digests.crc(&p2)).await;
                    let reader = p.reader(crc, start, end);
                    Ok(SimBody::Zip {
                        plan: p,
                        reader,
                        left: end - start,
                        stats,
                    })
                }
                Plan::Filler { seed, .. } => Ok(SimBody::Filler {
                    seed,
                    pos: start,
                    end,
                    stats,
                }),
            }
        }
    }
}

async fn run_maybe_blocking<T: Send + 'static>(
    blocking: bool,
    f: impl FnOnce() -> T + Send + 'static,
) -> T {
    if blocking {
        match tokio::task::spawn_blocking(f).await {
            Ok(v) => v,
            Err(e) => std::panic::resume_unwind(e.into_panic()),
        }
    } else {
        f()
    }
}

/// `x-amz-copy-source`: (bucket, key).
fn copy_source(h: &HeaderMap) -> Option<(String, Vec<u8>)> {
    let raw = h.get("x-amz-copy-source")?.as_bytes();
    let raw = raw.split(|&b| b == b'?').next().unwrap_or(raw);
    let decoded = percent_decode(raw, false);
    let s = decoded.strip_prefix(b"/").unwrap_or(&decoded);
    let i = s.iter().position(|&b| b == b'/')?;
    Some((
        String::from_utf8_lossy(&s[..i]).into_owned(),
        s[i + 1..].to_vec(),
    ))
}

/// Request bodies in aws-chunked encoding (streaming SigV4) are unwrapped; a Content-MD5
/// is checked.
fn decode_payload(h: &HeaderMap, b: Bytes) -> Result<Bytes, S3Error> {
    let streaming = h
        .get("x-amz-content-sha256")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("STREAMING-"))
        || h.get("content-encoding")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("aws-chunked"));
    let b = if streaming {
        decode_aws_chunked(&b)
            .ok_or_else(|| S3Error::invalid_argument("malformed aws-chunked body"))?
    } else {
        b
    };
    if let Some(want) = h.get("content-md5").and_then(|v| v.to_str().ok()) {
        let got: [u8; 16] = Md5::digest(&b).into();
        if base64_decode(want.trim()).as_deref() != Some(&got[..]) {
            return Err(S3Error::new(
                StatusCode::BAD_REQUEST,
                "BadDigest",
                "The Content-MD5 you specified did not match what we received.",
            ));
        }
    }
    Ok(b)
}

fn decode_aws_chunked(b: &[u8]) -> Option<Bytes> {
    let mut out = Vec::with_capacity(b.len());
    let mut rest = b;
    loop {
        let eol = rest.windows(2).position(|w| w == b"\r\n")?;
        let line = std::str::from_utf8(&rest[..eol]).ok()?;
        let size = usize::from_str_radix(line.split(';').next()?.trim(), 16).ok()?;
        rest = &rest[eol + 2..];
        if size == 0 {
            return Some(Bytes::from(out));
        }
        out.extend_from_slice(rest.get(..size)?);
        rest = rest.get(size..)?;
        rest = rest.strip_prefix(b"\r\n")?;
    }
}

fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let val = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    };
    let s = s.trim_end_matches('=').as_bytes();
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0);
    for &c in s {
        acc = acc << 6 | val(c)?;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    Some(out)
}

fn part_number(q: &Query) -> Result<u32, S3Error> {
    q.get("partNumber")
        .and_then(|n| n.parse::<u32>().ok())
        .filter(|n| (1..=10_000).contains(n))
        .ok_or_else(|| {
            S3Error::invalid_argument(
                "Part number must be an integer between 1 and 10000, inclusive",
            )
        })
}

#[expect(clippy::too_many_arguments)]
async fn write_op(
    state: &Arc<State>,
    op: Op,
    d: &Arc<crate::buckets::DestBucket>,
    bucket: &str,
    key: &[u8],
    q: &Query,
    headers: &HeaderMap,
    payload: Bytes,
) -> Result<Reply, S3Error> {
    let bk = &state.buckets;
    let content_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .map(Arc::<str>::from);
    match op {
        Op::PutObject => put_object(state, d, key, payload, content_type).await,
        Op::CopyObject => copy_object(state, d, key, headers, content_type),
        Op::UploadPart => {
            let id = q.get("uploadId").unwrap_or("");
            let n = part_number(q)?;
            let md5: [u8; 16] = Md5::digest(&payload).into();
            let part = Part {
                etag: md5,
                size: payload.len() as u64,
                data: PartData::Bytes(payload),
            };
            bk.put_part(d, id, n, part)
                .map_err(|e| write_error(e, key))?;
            Response::builder()
                .status(StatusCode::OK)
                .header("etag", ETag::Md5(md5).quoted())
                .body(SimBody::Empty)
                .map_err(|e| S3Error::internal(e.to_string()))
        }
        Op::UploadPartCopy => upload_part_copy(state, d, key, q, headers),
        Op::CreateUpload => {
            let id = bk.create_upload(d, key, content_type);
            let mut x = xml::Xml::new("InitiateMultipartUploadResult", false);
            x.text("Bucket", bucket.as_bytes());
            x.text("Key", key);
            x.text("UploadId", id.as_bytes());
            xml_reply(StatusCode::OK, x.finish("InitiateMultipartUploadResult"))
        }
        Op::CompleteUpload => complete_upload(state, d, bucket, key, q, &payload).await,
        Op::AbortUpload => {
            if bk.abort_upload(d, q.get("uploadId").unwrap_or("")) {
                empty_reply(StatusCode::NO_CONTENT)
            } else {
                Err(write_error(WriteError::NoSuchUpload, key))
            }
        }
        Op::DeleteObject => {
            bk.delete(d, key);
            empty_reply(StatusCode::NO_CONTENT)
        }
        Op::DeleteObjects => delete_objects(bk, d, &payload),
        _ => Err(S3Error::not_implemented("this operation")),
    }
}

async fn put_object(
    state: &Arc<State>,
    d: &Arc<crate::buckets::DestBucket>,
    key: &[u8],
    payload: Bytes,
    content_type: Option<Arc<str>>,
) -> Result<Reply, S3Error> {
    let bk = &state.buckets;
    let size = payload.len() as u64;
    let (st, d2, k2) = (state.clone(), d.clone(), key.to_vec());
    let (content, etag) = run_maybe_blocking(size > BLOCKING_BYTES, move || {
        st.buckets.content_for_upload(&d2, &k2, payload)
    })
    .await;
    bk.put_object(
        d,
        key,
        StoredObject {
            size,
            etag,
            last_modified_ms: now_ms(),
            content,
            content_type,
        },
    );
    Response::builder()
        .status(StatusCode::OK)
        .header("etag", etag.quoted())
        .body(SimBody::Empty)
        .map_err(|e| S3Error::internal(e.to_string()))
}

fn upload_part_copy(
    state: &State,
    d: &Arc<crate::buckets::DestBucket>,
    key: &[u8],
    q: &Query,
    headers: &HeaderMap,
) -> Result<Reply, S3Error> {
    let bk = &state.buckets;
    let id = q.get("uploadId").unwrap_or("");
    let n = part_number(q)?;
    if bk.upload_key(d, id).is_none() {
        return Err(write_error(WriteError::NoSuchUpload, key));
    }
    let (sb, sk) = copy_source(headers).ok_or_else(|| {
        S3Error::invalid_argument("Copy Source must mention the source bucket and key")
    })?;
    let src = bk.bucket(&sb).ok_or_else(|| S3Error::no_such_bucket(&sb))?;
    let found = bk
        .find(&src, &sk)
        .ok_or_else(|| S3Error::no_such_key(&sk))?;
    let size = found.meta.size;
    let (start, end) = match headers
        .get("x-amz-copy-source-range")
        .and_then(|v| v.to_str().ok())
    {
        None => (0, size),
        Some(r) => match parse_range(Some(r), size) {
            Ok(Some(r)) => r,
            _ => {
                return Err(S3Error::new(
                    StatusCode::BAD_REQUEST,
                    "InvalidRange",
                    "The requested range is not satisfiable",
                ));
            }
        },
    };
    if end - start > state.knobs.max_copy_bytes {
        return Err(too_large_copy(state.knobs.max_copy_bytes));
    }
    let data = match &found.content {
        Content::Source {
            obj,
            version,
            key: skey,
        } => PartData::Source {
            obj: *obj,
            version: *version,
            key: skey.clone(),
            start,
            len: end - start,
        },
        Content::Bytes(b) => PartData::Bytes(b.slice(start as usize..end as usize)),
        Content::Unkept => {
            return Err(S3Error::internal("the copy source's bytes were not kept"));
        }
    };
    let etag = hash::digest16(hash::pair(
        hash::bytes(0, found.meta.etag.hex().as_bytes()),
        start << 20 ^ (end - start),
    ));
    bk.put_part(
        d,
        id,
        n,
        Part {
            etag,
            size: end - start,
            data,
        },
    )
    .map_err(|e| write_error(e, key))?;
    let mut x = xml::Xml::new("CopyPartResult", false);
    x.date("LastModified", now_ms());
    x.etag("ETag", &ETag::Md5(etag));
    xml_reply(StatusCode::OK, x.finish("CopyPartResult"))
}

async fn complete_upload(
    state: &Arc<State>,
    d: &Arc<crate::buckets::DestBucket>,
    bucket: &str,
    key: &[u8],
    q: &Query,
    payload: &[u8],
) -> Result<Reply, S3Error> {
    let bk = &state.buckets;
    let id = q.get("uploadId").unwrap_or("").to_string();
    let mut list = Vec::new();
    for p in xml::blocks(payload, "Part") {
        let n = xml::all_texts(p, "PartNumber")
            .first()
            .and_then(|n| std::str::from_utf8(n).ok()?.trim().parse::<u32>().ok());
        let e = xml::all_texts(p, "ETag")
            .first()
            .map(|e| String::from_utf8_lossy(e).into_owned());
        match (n, e) {
            (Some(n), Some(e)) => list.push((n, e)),
            _ => return Err(S3Error::malformed_xml()),
        }
    }
    let (st, d2) = (state.clone(), d.clone());
    let (k, o) = run_maybe_blocking(true, move || st.buckets.complete_upload(&d2, &id, &list))
        .await
        .map_err(|e| write_error(e, key))?;
    let etag = o.etag;
    bk.put_object(d, &k, o);
    let mut x = xml::Xml::new("CompleteMultipartUploadResult", false);
    x.text(
        "Location",
        format!("/{bucket}/{}", String::from_utf8_lossy(&k)).as_bytes(),
    );
    x.text("Bucket", bucket.as_bytes());
    x.text("Key", &k);
    x.etag("ETag", &etag);
    xml_reply(StatusCode::OK, x.finish("CompleteMultipartUploadResult"))
}

/// DeleteObjects: every listed key (at most 1000), each named in the reply unless quiet.
fn delete_objects(
    bk: &Buckets,
    d: &Arc<crate::buckets::DestBucket>,
    payload: &[u8],
) -> Result<Reply, S3Error> {
    let quiet = xml::all_texts(payload, "Quiet")
        .first()
        .is_some_and(|q| q == b"true");
    let keys = xml::all_texts(payload, "Key");
    if keys.len() > 1000 {
        return Err(S3Error::malformed_xml());
    }
    let mut x = xml::Xml::new("DeleteResult", false);
    for k in &keys {
        bk.delete(d, k);
        if !quiet {
            x.open("Deleted");
            x.text("Key", k);
            x.close("Deleted");
        }
    }
    xml_reply(StatusCode::OK, x.finish("DeleteResult"))
}

fn too_large_copy(limit: u64) -> S3Error {
    S3Error::new(
        StatusCode::BAD_REQUEST,
        "InvalidRequest",
        format!(
            "The specified copy source is larger than the maximum allowable size for a copy source: {limit}"
        ),
    )
}

fn write_error(e: WriteError, key: &[u8]) -> S3Error {
    match e {
        WriteError::NoSuchUpload => S3Error::new(
            StatusCode::NOT_FOUND,
            "NoSuchUpload",
            "The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.",
        )
        .with("Key", String::from_utf8_lossy(key)),
        WriteError::InvalidPart(n) => S3Error::new(
            StatusCode::BAD_REQUEST,
            "InvalidPart",
            format!("One or more of the specified parts could not be found (part {n})."),
        ),
        WriteError::InvalidPartOrder => {
            S3Error::new(StatusCode::BAD_REQUEST, "InvalidPartOrder", "The list of parts was not in ascending order.")
        }
        WriteError::NoParts => S3Error::malformed_xml(),
    }
}

fn copy_object(
    state: &State,
    d: &Arc<crate::buckets::DestBucket>,
    key: &[u8],
    headers: &HeaderMap,
    content_type: Option<Arc<str>>,
) -> Result<Reply, S3Error> {
    let bk = &state.buckets;
    let (sb, sk) = copy_source(headers).ok_or_else(|| {
        S3Error::invalid_argument(
            "Copy Source must mention the source bucket and key: sourcebucket/sourcekey",
        )
    })?;
    let src = bk.bucket(&sb).ok_or_else(|| S3Error::no_such_bucket(&sb))?;
    let found = bk
        .find(&src, &sk)
        .ok_or_else(|| S3Error::no_such_key(&sk))?;
    if found.meta.size > state.knobs.max_copy_bytes {
        return Err(too_large_copy(state.knobs.max_copy_bytes));
    }
    let replace = headers
        .get("x-amz-metadata-directive")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("REPLACE"));
    if sb == d.name && sk == key && !replace {
        return Err(S3Error::new(
            StatusCode::BAD_REQUEST,
            "InvalidRequest",
            "This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata, storage class, website redirect location or encryption attributes.",
        ));
    }
    let n = state.copies.fetch_add(1, Relaxed);
    if state.knobs.copy_error_fraction > 0.0
        && hash::unit(hash::pair(hash::bytes(n, key), n)) < state.knobs.copy_error_fraction
    {
        // S3 may answer 200 and put the error in the body (the copy did not happen).
        state.stats.copy_error_body();
        let e = S3Error::internal("We encountered an internal error. Please try again.");
        return xml_reply(StatusCode::OK, e.body(&format!("copy{n:x}")));
    }
    let now = now_ms();
    let content_type = if replace {
        content_type
    } else {
        found.content_type.clone()
    };
    bk.put_object(
        d,
        key,
        StoredObject {
            size: found.meta.size,
            etag: found.meta.etag,
            last_modified_ms: now,
            content: found.content,
            content_type,
        },
    );
    let mut x = xml::Xml::new("CopyObjectResult", false);
    x.date("LastModified", now);
    x.etag("ETag", &found.meta.etag);
    xml_reply(StatusCode::OK, x.finish("CopyObjectResult"))
}

/// Counts per request kind so far (for the startup log and tests).
pub fn summary(state: &State) -> HashMap<&'static str, u64> {
    let v = state.stats.to_json(0);
    Kind::ALL
        .iter()
        .map(|k| (k.name(), v["requests"][k.name()].as_u64().unwrap_or(0)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert_eq!(parse_range(None, 10), Ok(None));
        assert_eq!(parse_range(Some("bytes=0-4"), 10), Ok(Some((0, 5))));
        assert_eq!(parse_range(Some("bytes=5-"), 10), Ok(Some((5, 10))));
        assert_eq!(parse_range(Some("bytes=-3"), 10), Ok(Some((7, 10))));
        assert_eq!(parse_range(Some("bytes=0-100"), 10), Ok(Some((0, 10))));
        assert_eq!(parse_range(Some("bytes=10-"), 10), Err(()));
        assert_eq!(parse_range(Some("bytes=x-"), 10), Err(()));
    }

    #[test]
    fn decoding() {
        assert_eq!(percent_decode(b"a%20b+c%2F%zz", true), b"a b c/%zz");
        assert_eq!(percent_decode(b"a+b%", false), b"a+b%");
        assert_eq!(
            base64_decode("1B2M2Y8AsgTpgAmY7PhCfg==").unwrap(),
            crate::object::EMPTY_MD5
        );
        let chunked = b"5;chunk-signature=ab\r\nhello\r\n0;chunk-signature=cd\r\n\r\n";
        assert_eq!(&decode_aws_chunked(chunked).unwrap()[..], b"hello");
        assert!(decode_aws_chunked(b"5\r\nhel").is_none());
        let q = Query::parse(Some(
            "list-type=2&prefix=data%2Fspot%2F&delimiter=%2F&uploads",
        ));
        assert_eq!(q.get("prefix"), Some("data/spot/"));
        assert!(q.has("uploads"));
    }

    #[test]
    fn latency_distribution() {
        let l = Latency::LogNormal {
            median_ms: 50.0,
            p99_ms: 200.0,
        };
        let mut v: Vec<f64> = (0..20_000)
            .map(|i| l.sample(i).as_secs_f64() * 1000.0)
            .collect();
        v.sort_by(f64::total_cmp);
        let (p50, p99) = (v[10_000], v[19_800]);
        assert!((45.0..55.0).contains(&p50), "p50 {p50}");
        assert!((170.0..235.0).contains(&p99), "p99 {p99}");
        assert_eq!(
            Latency::Fixed(Duration::from_millis(5)).sample(3),
            Duration::from_millis(5)
        );
    }
}
