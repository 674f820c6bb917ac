//! The fault-injecting proxy in `support/fault_proxy.rs`, checked against a tiny echo server:
//! faithful forwarding (method, raw path and query, Host and every other header, streamed
//! bodies both ways, keep-alive), each fault, determinism per seed, and the methods filter.
//!
//! The client is a raw `TcpStream` speaking HTTP/1.1, so what goes on the wire is exactly
//! what the test wrote and nothing a client library might normalise.

use std::convert::Infallible;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use crate::support::fault_proxy::{Fault, FaultConfig, FaultProxy, FaultStats, decide};
use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::{Frame, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::sync::Notify;

const MB: usize = 1024 * 1024;
const TIMEOUT: Duration = Duration::from_secs(20);

// ---------------------------------------------------------------------------------------
// The upstream: echoes what it received.

/// What the upstream saw, as `key=value` lines in the response body:
/// `method`, `path`, `len`, and one `h:name=value` per header (in arrival order).
struct Upstream {
    url: String,
    connections: Arc<AtomicU64>,
    /// Fires once per `/stream-request` when the first body bytes arrive.
    first_request_bytes: Mutex<mpsc::Receiver<()>>,
    /// Lets a `/stream-response` send the rest of its body.
    release_response: Arc<Notify>,
    _runtime: tokio::runtime::Runtime,
}

struct ChannelBody(tokio::sync::mpsc::Receiver<Bytes>);

impl hyper::body::Body for ChannelBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.0
            .poll_recv(cx)
            .map(|chunk| chunk.map(|b| Ok(Frame::data(b))))
    }
}

type UpBody = BoxBody<Bytes, Infallible>;

impl Upstream {
    fn start() -> Upstream {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let connections = Arc::new(AtomicU64::new(0));
        let (first_tx, first_rx) = mpsc::channel();
        let release_response = Arc::new(Notify::new());

        let conns = Arc::clone(&connections);
        let release = Arc::clone(&release_response);
        runtime.spawn(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            loop {
                let (stream, _) = listener.accept().await.unwrap();
                conns.fetch_add(1, Ordering::SeqCst);
                let first_tx = first_tx.clone();
                let release = Arc::clone(&release);
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req| {
                        echo(req, first_tx.clone(), Arc::clone(&release))
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Upstream {
            url,
            connections,
            first_request_bytes: Mutex::new(first_rx),
            release_response,
            _runtime: runtime,
        }
    }
}

async fn echo(
    req: Request<Incoming>,
    first_bytes: mpsc::Sender<()>,
    release: Arc<Notify>,
) -> Result<Response<UpBody>, Infallible> {
    let path = req.uri().path_and_query().unwrap().as_str().to_owned();
    let mut text = format!("method={}\npath={path}\n", req.method());
    for (name, value) in req.headers() {
        text.push_str(&format!("h:{name}={}\n", value.to_str().unwrap()));
    }

    if req.uri().path() == "/stream-response" {
        // Half now, the rest only once the test has seen the first half arrive.
        let (tx, rx) = tokio::sync::mpsc::channel(4);
        tokio::spawn(async move {
            tx.send(Bytes::from(vec![b'a'; 2 * MB])).await.unwrap();
            release.notified().await;
            tx.send(Bytes::from(vec![b'b'; 2 * MB])).await.unwrap();
        });
        let mut resp = Response::new(ChannelBody(rx).boxed());
        resp.headers_mut()
            .insert("content-length", (4 * MB).to_string().parse().unwrap());
        return Ok(resp);
    }

    let streaming = req.uri().path() == "/stream-request";
    let close = req.uri().path() == "/close";
    let mut body = req.into_body();
    let mut len = 0usize;
    while let Some(frame) = body.frame().await {
        let Ok(frame) = frame else { break };
        if let Some(data) = frame.data_ref() {
            if len == 0 && !data.is_empty() && streaming {
                let _ = first_bytes.send(());
            }
            len += data.len();
        }
    }
    text.push_str(&format!("len={len}\n"));
    let mut resp = Response::new(Full::new(Bytes::from(text)).boxed());
    resp.headers_mut().insert("x-echo", "yes".parse().unwrap());
    if close {
        // A hop-by-hop header the proxy must not pass on to its client.
        resp.headers_mut()
            .insert("connection", "close".parse().unwrap());
    }
    Ok(resp)
}

// ---------------------------------------------------------------------------------------
// A raw HTTP/1.1 client.

#[derive(Debug)]
struct RawResponse {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl RawResponse {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The upstream's echo: the values for `key`, in order.
    fn echoed(&self, key: &str) -> Vec<String> {
        self.text()
            .lines()
            .filter_map(|l| l.strip_prefix(key)?.strip_prefix('='))
            .map(str::to_owned)
            .collect()
    }
}

struct Conn {
    reader: BufReader<TcpStream>,
}

impl Conn {
    fn open(url: &str) -> Conn {
        let addr = url.strip_prefix("http://").unwrap();
        let stream = TcpStream::connect(addr).unwrap();
        stream.set_read_timeout(Some(TIMEOUT)).unwrap();
        stream.set_write_timeout(Some(TIMEOUT)).unwrap();
        Conn {
            reader: BufReader::new(stream),
        }
    }

    fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.reader.get_mut().write_all(bytes)
    }

    fn write_head(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body_len: usize,
    ) -> io::Result<()> {
        let mut head = format!("{method} {path} HTTP/1.1\r\n");
        for (n, v) in headers {
            head.push_str(&format!("{n}: {v}\r\n"));
        }
        if body_len > 0 || method == "PUT" {
            head.push_str(&format!("Content-Length: {body_len}\r\n"));
        }
        head.push_str("\r\n");
        self.write(head.as_bytes())
    }

    fn request(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> io::Result<RawResponse> {
        self.write_head(method, path, headers, body.len())?;
        self.write(body)?;
        self.read_response(method == "HEAD")
    }

    fn read_head(&mut self) -> io::Result<(u16, Vec<(String, String)>)> {
        let mut line = String::new();
        if self.reader.read_line(&mut line)? == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "connection closed before any response",
            ));
        }
        let status = line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("bad status line {line:?}"));
        let mut headers = Vec::new();
        loop {
            line.clear();
            self.reader.read_line(&mut line)?;
            let l = line.trim_end();
            if l.is_empty() {
                return Ok((status, headers));
            }
            let (n, v) = l.split_once(':').unwrap();
            headers.push((n.trim().to_owned(), v.trim().to_owned()));
        }
    }

    fn read_response(&mut self, head_request: bool) -> io::Result<RawResponse> {
        let (status, headers) = self.read_head()?;
        let mut resp = RawResponse {
            status,
            headers,
            body: Vec::new(),
        };
        if head_request {
            return Ok(resp);
        }
        if let Some(len) = resp.header("content-length") {
            let mut body = vec![0; len.parse().unwrap()];
            self.reader.read_exact(&mut body)?;
            resp.body = body;
        } else if resp
            .header("transfer-encoding")
            .is_some_and(|te| te.contains("chunked"))
        {
            loop {
                let mut size = String::new();
                self.reader.read_line(&mut size)?;
                let size = usize::from_str_radix(size.trim(), 16).unwrap();
                let mut chunk = vec![0; size + 2];
                self.reader.read_exact(&mut chunk)?;
                if size == 0 {
                    break;
                }
                resp.body.extend_from_slice(&chunk[..size]);
            }
        } else {
            self.reader.read_to_end(&mut resp.body)?;
        }
        Ok(resp)
    }
}

fn get(url: &str, path: &str) -> io::Result<RawResponse> {
    Conn::open(url).request("GET", path, &[("Host", "s3.test")], b"")
}

/// Counters side by side: `every(Fault::SlowDown, 1) + every(Fault::Forward, 2)`.
impl std::ops::Add for FaultStats {
    type Output = FaultStats;

    fn add(self, other: FaultStats) -> FaultStats {
        FaultStats {
            requests: self.requests + other.requests,
            forwarded: self.forwarded + other.forwarded,
            slowdown: self.slowdown + other.slowdown,
            internal_error: self.internal_error + other.internal_error,
            reset: self.reset + other.reset,
            delayed: self.delayed + other.delayed,
            upstream_errors: self.upstream_errors + other.upstream_errors,
        }
    }
}

/// An echo upstream, and a fault proxy in front of it with `config`.
fn proxied(config: FaultConfig) -> (Upstream, FaultProxy) {
    let upstream = Upstream::start();
    let proxy = FaultProxy::start(&upstream.url, config);
    (upstream, proxy)
}

/// The counters after `n` requests, each answered with `fault` (a delayed request is
/// forwarded too).
fn every(fault: Fault, n: u64) -> FaultStats {
    let mut stats = FaultStats {
        requests: n,
        ..FaultStats::default()
    };
    match fault {
        Fault::SlowDown => stats.slowdown = n,
        Fault::InternalError => stats.internal_error = n,
        Fault::Reset => stats.reset = n,
        Fault::Delay => (stats.delayed, stats.forwarded) = (n, n),
        Fault::Forward => stats.forwarded = n,
    }
    stats
}

// ---------------------------------------------------------------------------------------

#[test]
fn forwards_faithfully_with_rates_zero() {
    let (_upstream, proxy) = proxied(FaultConfig::none());
    let mut conn = Conn::open(&proxy.url);

    let path = "/bucket/key%20with%2Bplus?list-type=2&prefix=a%20b&delimiter=%2F&x=~*+";
    let headers = [
        ("Host", "bucket.s3.example.com:9000"),
        ("X-Amz-Date", "20260508T000000Z"),
        ("X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD"),
        (
            "Authorization",
            "AWS4-HMAC-SHA256 Credential=test/20260508/us-east-1/s3/aws4_request, \
             SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature=abc",
        ),
        ("X-Custom", "  padded value"),
    ];
    let resp = conn.request("GET", path, &headers, b"").unwrap();
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert_eq!(resp.echoed("method"), ["GET"]);
    assert_eq!(
        resp.echoed("path"),
        [path],
        "path and query must not be re-encoded"
    );
    assert_eq!(resp.echoed("h:host"), ["bucket.s3.example.com:9000"]);
    for (name, value) in headers {
        let key = format!("h:{}", name.to_ascii_lowercase());
        assert_eq!(resp.echoed(&key), [value.trim()], "{name}");
    }
    assert_eq!(resp.echoed("len"), ["0"]);
    assert_eq!(
        resp.header("x-echo"),
        Some("yes"),
        "upstream headers come back"
    );

    // Same connection (keep-alive): a 5 MB upload arrives whole.
    let body: Vec<u8> = (0..5 * MB).map(|i| (i % 253) as u8).collect();
    let resp = conn
        .request("PUT", "/bucket/big", &[("Host", "s3.test")], &body)
        .unwrap();
    assert_eq!(resp.status, 200);
    assert_eq!(resp.echoed("method"), ["PUT"]);
    assert_eq!(resp.echoed("len"), [(5 * MB).to_string()]);
    assert_eq!(resp.echoed("h:content-length"), [(5 * MB).to_string()]);

    // HEAD keeps its Content-Length.
    let resp = conn
        .request("HEAD", "/bucket/big", &[("Host", "s3.test")], b"")
        .unwrap();
    assert_eq!(resp.status, 200);
    assert!(resp.header("content-length").is_some(), "{resp:?}");

    // The upstream closing its side is not passed on: the client keeps its connection.
    let resp = conn
        .request("GET", "/close", &[("Host", "s3.test")], b"")
        .unwrap();
    assert_eq!(resp.status, 200);
    assert_eq!(resp.header("connection"), None, "{resp:?}");
    let resp = conn
        .request("DELETE", "/bucket/big", &[("Host", "s3.test")], b"")
        .unwrap();
    assert_eq!(resp.echoed("method"), ["DELETE"]);

    assert_eq!(proxy.stats(), every(Fault::Forward, 5));
}

#[test]
fn request_body_is_streamed_not_buffered() {
    let (upstream, proxy) = proxied(FaultConfig::none());
    let mut conn = Conn::open(&proxy.url);
    let total = 5 * MB;
    conn.write_head("PUT", "/stream-request", &[("Host", "s3.test")], total)
        .unwrap();
    conn.write(&vec![1; MB]).unwrap();
    // A proxy that buffered the body would not forward anything before the last byte.
    upstream
        .first_request_bytes
        .lock()
        .unwrap()
        .recv_timeout(TIMEOUT)
        .expect("the upstream got no body bytes before the client finished sending");
    conn.write(&vec![2; total - MB]).unwrap();
    let resp = conn.read_response(false).unwrap();
    assert_eq!(resp.echoed("len"), [total.to_string()]);
}

#[test]
fn response_body_is_streamed_not_buffered() {
    let (upstream, proxy) = proxied(FaultConfig::none());
    let mut conn = Conn::open(&proxy.url);
    conn.write_head("GET", "/stream-response", &[("Host", "s3.test")], 0)
        .unwrap();
    // The upstream sends the second half only when released, so the head and the first
    // body bytes must reach us before the response is complete.
    let (status, headers) = conn.read_head().unwrap();
    assert_eq!(status, 200);
    assert!(
        headers
            .iter()
            .any(|(n, v)| n.eq_ignore_ascii_case("content-length") && *v == (4 * MB).to_string()),
        "{headers:?}"
    );
    let mut first = vec![0; 1024];
    conn.reader.read_exact(&mut first).unwrap();
    assert!(first.iter().all(|&b| b == b'a'));
    upstream.release_response.notify_one();
    let mut rest = Vec::new();
    conn.reader
        .by_ref()
        .take((4 * MB - 1024) as u64)
        .read_to_end(&mut rest)
        .unwrap();
    assert_eq!(rest.len(), 4 * MB - 1024);
    assert!(rest[2 * MB..].iter().all(|&b| b == b'b'));
}

#[test]
fn expect_continue_is_honoured_when_forwarding() {
    let (_upstream, proxy) = proxied(FaultConfig::none());
    let mut conn = Conn::open(&proxy.url);
    let headers = [("Host", "s3.test"), ("Expect", "100-continue")];
    conn.write_head("PUT", "/bucket/k", &headers, 3 * MB)
        .unwrap();
    let (status, _) = conn.read_head().unwrap();
    assert_eq!(status, 100, "the client is told to send its body");
    conn.write(&vec![7; 3 * MB]).unwrap();
    let resp = conn.read_response(false).unwrap();
    assert_eq!(resp.status, 200);
    assert_eq!(resp.echoed("len"), [(3 * MB).to_string()]);
    assert_eq!(resp.echoed("h:expect"), ["100-continue"]);
}

#[test]
fn slowdown_answers_503_with_s3_xml() {
    let (upstream, proxy) = proxied(FaultConfig::always(Fault::SlowDown));
    let mut conn = Conn::open(&proxy.url);
    for (method, body) in [("GET", &b""[..]), ("PUT", &[9u8; MB][..]), ("HEAD", b"")] {
        let resp = conn
            .request(method, "/bucket/k?x=1", &[("Host", "s3.test")], body)
            .unwrap();
        assert_eq!(resp.status, 503, "{method}");
        assert_eq!(resp.header("content-type"), Some("application/xml"));
        assert!(resp.header("x-amz-request-id").is_some());
        if method != "HEAD" {
            let xml = resp.text();
            assert!(xml.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>"));
            assert!(xml.contains("<Code>SlowDown</Code>"), "{xml}");
            assert!(
                xml.contains("<Message>Please reduce your request rate.</Message>"),
                "{xml}"
            );
            assert!(xml.contains("<RequestId>"), "{xml}");
        }
    }
    // Expect: 100-continue: the client learns of the SlowDown without sending its body.
    let mut conn = Conn::open(&proxy.url);
    let headers = [("Host", "s3.test"), ("Expect", "100-continue")];
    conn.write_head("PUT", "/bucket/k", &headers, 50 * MB)
        .unwrap();
    assert_eq!(conn.read_response(false).unwrap().status, 503);

    assert_eq!(proxy.stats(), every(Fault::SlowDown, 4));
    assert_eq!(upstream.connections.load(Ordering::SeqCst), 0);
}

#[test]
fn paths_limit_faults_to_one_prefix() {
    let (_upstream, proxy) = proxied(FaultConfig {
        paths: vec!["/bucket/hot/".into()],
        ..FaultConfig::always(Fault::SlowDown)
    });
    assert_eq!(get(&proxy.url, "/bucket/hot/k").unwrap().status, 503);
    assert_eq!(get(&proxy.url, "/bucket/cold/k").unwrap().status, 200);
    assert_eq!(get(&proxy.url, "/bucket/hotter").unwrap().status, 200);
    assert_eq!(
        proxy.stats(),
        every(Fault::SlowDown, 1) + every(Fault::Forward, 2)
    );
}

#[test]
fn internal_error_answers_500_with_s3_xml() {
    let (_upstream, proxy) = proxied(FaultConfig::always(Fault::InternalError));
    let resp = get(&proxy.url, "/bucket").unwrap();
    assert_eq!(resp.status, 500);
    assert!(resp.text().contains("<Code>InternalError</Code>"));
    assert!(
        resp.text()
            .contains("<Message>We encountered an internal error. Please try again.</Message>")
    );
    assert_eq!(proxy.stats(), every(Fault::InternalError, 1));
}

#[test]
fn reset_closes_the_connection_without_a_response() {
    let (_upstream, proxy) = proxied(FaultConfig::always(Fault::Reset));
    for _ in 0..3 {
        let err = get(&proxy.url, "/bucket").unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::ConnectionReset, "{err}");
    }
    // An upload fails too, on the write or on the read, never with a response.
    let mut conn = Conn::open(&proxy.url);
    let result = conn.request("PUT", "/bucket/k", &[("Host", "s3.test")], &vec![0; 8 * MB]);
    assert!(result.is_err(), "{result:?}");
    assert_eq!(proxy.stats(), every(Fault::Reset, 4));
}

#[test]
fn delay_forwards_late() {
    let (_upstream, proxy) = proxied(FaultConfig {
        delay_ms: 150,
        ..FaultConfig::always(Fault::Delay)
    });
    let start = Instant::now();
    let resp = get(&proxy.url, "/bucket").unwrap();
    assert!(start.elapsed() >= Duration::from_millis(150));
    assert_eq!(resp.status, 200);
    assert_eq!(proxy.stats(), every(Fault::Delay, 1));
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Seen {
    Ok,
    SlowDown,
    InternalError,
    Reset,
}

/// Sequential requests, each on its own connection (a reset kills the connection).
fn pattern(url: &str, n: usize) -> Vec<Seen> {
    (0..n)
        .map(|_| match get(url, "/bucket?list-type=2") {
            Ok(r) if r.status == 200 => Seen::Ok,
            Ok(r) if r.status == 503 => Seen::SlowDown,
            Ok(r) if r.status == 500 => Seen::InternalError,
            Ok(r) => panic!("unexpected {r:?}"),
            Err(e) => {
                assert_eq!(e.kind(), io::ErrorKind::ConnectionReset, "{e}");
                Seen::Reset
            }
        })
        .collect()
}

fn mixed(seed: u64) -> FaultConfig {
    FaultConfig {
        seed,
        slowdown: 0.25,
        internal_error: 0.15,
        reset: 0.15,
        delay: 0.15,
        delay_ms: 1,
        methods: Vec::new(),
        paths: Vec::new(),
    }
}

#[test]
fn same_seed_same_faults() {
    let upstream = Upstream::start();
    let first = {
        let proxy = FaultProxy::start(&upstream.url, mixed(42));
        (pattern(&proxy.url, 80), proxy.stats())
    };
    let proxy = FaultProxy::start(&upstream.url, mixed(42));
    let second = (pattern(&proxy.url, 80), proxy.stats());
    assert_eq!(first, second);

    let (seen, stats) = first;
    for kind in [Seen::Ok, Seen::SlowDown, Seen::InternalError, Seen::Reset] {
        assert!(seen.contains(&kind), "{kind:?} never happened: {seen:?}");
    }
    assert!(stats.delayed > 0, "{stats:?}");
    assert_eq!(stats.requests, 80);
    assert_eq!(
        stats.forwarded + stats.slowdown + stats.internal_error + stats.reset,
        80
    );

    // set_config re-seeds: the same config replays the same pattern.
    proxy.set_config(mixed(42));
    assert_eq!(pattern(&proxy.url, 80), seen);
    // Another seed, another pattern.
    proxy.set_config(mixed(43));
    assert_ne!(pattern(&proxy.url, 80), seen);
    // Faults off, e.g. for a verification listing.
    proxy.set_config(FaultConfig::none());
    assert!(pattern(&proxy.url, 20).iter().all(|s| *s == Seen::Ok));
}

#[test]
fn methods_filter_limits_faults_to_the_listed_methods() {
    let (_upstream, proxy) = proxied(FaultConfig {
        methods: vec!["put".into()],
        ..FaultConfig::always(Fault::SlowDown)
    });
    let mut conn = Conn::open(&proxy.url);
    let h = [("Host", "s3.test")];
    assert_eq!(
        conn.request("GET", "/b?list-type=2", &h, b"")
            .unwrap()
            .status,
        200
    );
    assert_eq!(conn.request("HEAD", "/b/k", &h, b"").unwrap().status, 200);
    assert_eq!(
        conn.request("PUT", "/b/k", &h, b"data").unwrap().status,
        503
    );
    // The drained upload left the connection usable.
    assert_eq!(
        conn.request("POST", "/b?delete", &h, b"<x/>")
            .unwrap()
            .status,
        200
    );
    assert_eq!(
        proxy.stats(),
        every(Fault::SlowDown, 1) + every(Fault::Forward, 3)
    );
}

#[test]
fn unreachable_upstream_is_a_502() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let proxy = FaultProxy::start(&format!("http://127.0.0.1:{port}"), FaultConfig::none());
    let resp = get(&proxy.url, "/bucket").unwrap();
    assert_eq!(resp.status, 502);
    assert_eq!(
        proxy.stats(),
        FaultStats {
            upstream_errors: 1,
            ..every(Fault::Forward, 1)
        }
    );
}

#[test]
fn stops_when_dropped() {
    let (_upstream, proxy) = proxied(FaultConfig::none());
    let url = proxy.url.clone();
    assert_eq!(get(&url, "/").unwrap().status, 200);
    drop(proxy);
    let addr = url.strip_prefix("http://").unwrap();
    assert!(
        TcpStream::connect(addr).is_err(),
        "still listening on {addr}"
    );
}

#[test]
fn decide_slices_the_unit_interval_in_order() {
    let c = FaultConfig {
        slowdown: 0.1,
        internal_error: 0.2,
        reset: 0.3,
        delay: 0.1,
        ..FaultConfig::none()
    };
    assert_eq!(decide(&c, 0.0), Fault::SlowDown);
    assert_eq!(decide(&c, 0.099), Fault::SlowDown);
    assert_eq!(decide(&c, 0.1), Fault::InternalError);
    assert_eq!(decide(&c, 0.35), Fault::Reset);
    assert_eq!(decide(&c, 0.65), Fault::Delay);
    assert_eq!(decide(&c, 0.71), Fault::Forward);
    assert_eq!(decide(&FaultConfig::none(), 0.0), Fault::Forward);
    let all = FaultConfig {
        slowdown: 1.0,
        ..FaultConfig::none()
    };
    assert_eq!(decide(&all, 0.999_999), Fault::SlowDown);
}

#[test]
#[should_panic(expected = "not a probability")]
fn rejects_rates_outside_zero_one() {
    let _ = FaultProxy::start(
        "http://127.0.0.1:1",
        FaultConfig {
            reset: 1.5,
            ..FaultConfig::none()
        },
    );
}
