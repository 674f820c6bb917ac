//! A fault-injecting HTTP/1.1 proxy for integration tests: it sits between s5cmd and the
//! local S3 server and, per request, answers `503 SlowDown`, answers `500 InternalError`,
//! resets the connection, delays, or forwards untouched, as a seeded PRNG decides.
//!
//! Include it with `#[path = "support/fault_proxy.rs"] mod fault_proxy;`. It runs on its own
//! thread with its own tokio runtime, so synchronous `#[test]`s can use it, and stops when
//! the [`FaultProxy`] is dropped.
//!
//! Forwarding is faithful enough for SigV4: method, path and query exactly as received (never
//! re-encoded), every request header including the client's `Host` (s5cmd signs it), and the
//! request and response bodies streamed in both directions (multi-hundred-MB uploads are
//! never buffered). Only hop-by-hop response headers are dropped, so that keep-alive
//! between the client and the proxy is the proxy's business, not the upstream's.

use std::convert::Infallible;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::thread::JoinHandle;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{self, HeaderName, HeaderValue};
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode, Version};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// Which requests to fault, and how often.
///
/// One number is drawn per eligible request, uniform in `[0, 1)`, and the probabilities are
/// consecutive slices of that range in the order below: `slowdown: 0.2, reset: 0.1` faults
/// 20% with SlowDown, 10% with a reset, and forwards the other 70%. If they add up to more
/// than 1, the later ones get what is left.
#[derive(Debug, Clone, Default)]
pub struct FaultConfig {
    pub seed: u64,
    /// Answer `503 SlowDown` (S3's throttling answer).
    pub slowdown: f64,
    /// Answer `500 InternalError`.
    pub internal_error: f64,
    /// Close the connection with a TCP RST and no response at all.
    pub reset: f64,
    /// Forward after sleeping `delay_ms`.
    pub delay: f64,
    pub delay_ms: u64,
    /// Only fault requests whose method is in this list (ASCII case-insensitive; empty = all
    /// methods), e.g. `["PUT"]` to fault copies and uploads but not listings. Other requests
    /// are forwarded and draw no number, so the fault pattern over the eligible requests does
    /// not depend on how many others were interleaved.
    pub methods: Vec<String>,
    /// Only fault requests whose path starts with one of these (empty = every path), e.g.
    /// `["/dst/data/spot/daily/klines/BTCUSDT/"]` for one partition prefix of a path-style
    /// bucket. Like `methods`, other requests draw no number.
    pub paths: Vec<String>,
}

impl FaultConfig {
    /// Forward everything untouched.
    pub fn none() -> FaultConfig {
        FaultConfig::default()
    }

    /// `fault` for every eligible request (the seed does not matter; `Fault::Delay` waits
    /// `delay_ms`, 0 unless set).
    pub fn always(fault: Fault) -> FaultConfig {
        let mut config = FaultConfig::none();
        match fault {
            Fault::SlowDown => config.slowdown = 1.0,
            Fault::InternalError => config.internal_error = 1.0,
            Fault::Reset => config.reset = 1.0,
            Fault::Delay => config.delay = 1.0,
            Fault::Forward => {}
        }
        config
    }

    fn validate(&self) {
        for (name, p) in [
            ("slowdown", self.slowdown),
            ("internal_error", self.internal_error),
            ("reset", self.reset),
            ("delay", self.delay),
        ] {
            assert!(
                (0.0..=1.0).contains(&p),
                "fault proxy: {name} = {p} is not a probability in [0, 1]"
            );
        }
    }

    fn applies_to(&self, method: &str, path: &str) -> bool {
        (self.methods.is_empty() || self.methods.iter().any(|m| m.eq_ignore_ascii_case(method)))
            && (self.paths.is_empty() || self.paths.iter().any(|p| path.starts_with(p.as_str())))
    }
}

/// Counters since start. `forwarded` includes delayed requests (they are forwarded after the
/// delay) and requests whose upstream failed (`upstream_errors`, answered `502`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FaultStats {
    pub requests: u64,
    pub forwarded: u64,
    pub slowdown: u64,
    pub internal_error: u64,
    pub reset: u64,
    pub delayed: u64,
    pub upstream_errors: u64,
}

/// What to do with one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    SlowDown,
    InternalError,
    Reset,
    Delay,
    Forward,
}

/// The decision for one draw in `[0, 1)`; see [`FaultConfig`].
pub fn decide(config: &FaultConfig, draw: f64) -> Fault {
    let mut edge = 0.0;
    for (p, fault) in [
        (config.slowdown, Fault::SlowDown),
        (config.internal_error, Fault::InternalError),
        (config.reset, Fault::Reset),
        (config.delay, Fault::Delay),
    ] {
        edge += p;
        if draw < edge {
            return fault;
        }
    }
    Fault::Forward
}

/// splitmix64: tiny, fast, and every seed (0 included) gives a good stream.
#[derive(Debug, Clone)]
struct SplitMix64(u64);

impl SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)` from the top 53 bits.
    fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }
}

struct Rules {
    config: FaultConfig,
    rng: SplitMix64,
}

#[derive(Default)]
struct Counters {
    requests: AtomicU64,
    forwarded: AtomicU64,
    slowdown: AtomicU64,
    internal_error: AtomicU64,
    reset: AtomicU64,
    delayed: AtomicU64,
    upstream_errors: AtomicU64,
}

struct Shared {
    upstream: String,
    rules: Mutex<Rules>,
    counters: Counters,
    client: Client<HttpConnector, Incoming>,
}

impl Shared {
    /// Decide under one lock so the draws follow arrival order exactly. Returns the fault,
    /// the request's number (from 1) and the delay in force.
    fn next_fault(&self, method: &str, path: &str) -> (Fault, u64, Duration) {
        let mut rules = self.rules.lock().unwrap_or_else(|e| e.into_inner());
        let n = self.counters.requests.fetch_add(1, Ordering::SeqCst) + 1;
        let fault = if rules.config.applies_to(method, path) {
            let draw = rules.rng.next_f64();
            decide(&rules.config, draw)
        } else {
            Fault::Forward
        };
        (fault, n, Duration::from_millis(rules.config.delay_ms))
    }
}

pub struct FaultProxy {
    /// `http://127.0.0.1:PORT`
    pub url: String,
    shared: Arc<Shared>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl FaultProxy {
    /// Start on a free 127.0.0.1 port, forwarding to `upstream` (e.g. `http://127.0.0.1:5055`).
    /// Panics if the port cannot be bound or a probability is outside `[0, 1]`: this is test
    /// support, and a proxy that silently did not start would only confuse the test.
    pub fn start(upstream: &str, config: FaultConfig) -> FaultProxy {
        config.validate();
        let upstream = upstream.trim_end_matches('/').to_owned();
        assert!(
            upstream.starts_with("http://"),
            "fault proxy: upstream {upstream:?} must be an http:// URL"
        );
        let listener = std::net::TcpListener::bind("127.0.0.1:0")
            .expect("fault proxy: cannot bind a port on 127.0.0.1");
        listener
            .set_nonblocking(true)
            .expect("fault proxy: cannot make the listener non-blocking");
        let addr = listener
            .local_addr()
            .expect("fault proxy: listener has no address");

        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("fault-proxy")
            .enable_all()
            .build()
            .expect("fault proxy: cannot build a tokio runtime");

        let mut connector = HttpConnector::new();
        // Without it, Nagle's algorithm and delayed ACKs add ~40 ms to small requests.
        connector.set_nodelay(true);
        let client = Client::builder(TokioExecutor::new())
            // The client's Host header is signed (SigV4): forward it, never rewrite it.
            .set_host(false)
            .http1_preserve_header_case(true)
            .build(connector);

        let shared = Arc::new(Shared {
            upstream,
            rules: Mutex::new(Rules {
                rng: SplitMix64(config.seed),
                config,
            }),
            counters: Counters::default(),
            client,
        });
        let (shutdown, shutdown_rx) = tokio::sync::oneshot::channel();
        let thread_shared = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name(format!("fault-proxy-{}", addr.port()))
            .spawn(move || {
                runtime.block_on(accept_loop(listener, thread_shared, shutdown_rx));
                // Cancels in-flight connections: the proxy is gone once dropped.
                runtime.shutdown_timeout(Duration::from_secs(1));
            })
            .expect("fault proxy: cannot spawn its thread");

        FaultProxy {
            url: format!("http://{addr}"),
            shared,
            shutdown: Some(shutdown),
            thread: Some(thread),
        }
    }

    /// [`FaultProxy::start`] faulting only `PUT`s (copies and uploads; listings and reads
    /// go through untouched) as `config` says.
    pub fn on_puts(upstream: &str, config: FaultConfig) -> FaultProxy {
        FaultProxy::start(
            upstream,
            FaultConfig {
                methods: vec!["PUT".into()],
                ..config
            },
        )
    }

    pub fn stats(&self) -> FaultStats {
        let c = &self.shared.counters;
        let get = |a: &AtomicU64| a.load(Ordering::SeqCst);
        FaultStats {
            requests: get(&c.requests),
            forwarded: get(&c.forwarded),
            slowdown: get(&c.slowdown),
            internal_error: get(&c.internal_error),
            reset: get(&c.reset),
            delayed: get(&c.delayed),
            upstream_errors: get(&c.upstream_errors),
        }
    }

    /// Change the fault rates while running (e.g. turn faults off for a verification
    /// listing). The PRNG is re-seeded from `config.seed`, so what follows is the same fault
    /// pattern a fresh proxy started with `config` would produce. Counters are kept.
    pub fn set_config(&self, config: FaultConfig) {
        config.validate();
        let mut rules = self.shared.rules.lock().unwrap_or_else(|e| e.into_inner());
        rules.rng = SplitMix64(config.seed);
        rules.config = config;
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

async fn accept_loop(
    listener: std::net::TcpListener,
    shared: Arc<Shared>,
    mut shutdown: tokio::sync::oneshot::Receiver<()>,
) {
    let listener = match tokio::net::TcpListener::from_std(listener) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("fault proxy: cannot register the listener: {e}");
            return;
        }
    };
    loop {
        let stream = tokio::select! {
            _ = &mut shutdown => return,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // EMFILE and friends: back off instead of spinning.
                    eprintln!("fault proxy: accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        tokio::spawn(serve(stream, Arc::clone(&shared)));
    }
}

async fn serve(stream: TcpStream, shared: Arc<Shared>) {
    let abort = Arc::new(AtomicBool::new(false));
    let io = TokioIo::new(AbortOnDrop {
        inner: stream,
        abort: Arc::clone(&abort),
    });
    let service = service_fn(move |req| handle(Arc::clone(&shared), Arc::clone(&abort), req));
    // A connection error here is either a client going away or an injected reset; neither
    // is the proxy's problem to report.
    let _ = hyper::server::conn::http1::Builder::new()
        .keep_alive(true)
        .preserve_header_case(true)
        .header_read_timeout(None)
        .serve_connection(io, service)
        .await;
}

type ProxyBody = BoxBody<Bytes, hyper::Error>;

/// Returned by the service to make hyper drop the connection without writing a response.
#[derive(Debug)]
struct InjectedReset;

impl std::fmt::Display for InjectedReset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("fault proxy: injected connection reset")
    }
}

impl std::error::Error for InjectedReset {}

async fn handle(
    shared: Arc<Shared>,
    abort: Arc<AtomicBool>,
    req: Request<Incoming>,
) -> Result<Response<ProxyBody>, InjectedReset> {
    let (fault, n, delay) = shared.next_fault(req.method().as_str(), req.uri().path());
    let c = &shared.counters;
    match fault {
        Fault::SlowDown => {
            c.slowdown.fetch_add(1, Ordering::SeqCst);
            Ok(s3_error(req, n, SLOW_DOWN).await)
        }
        Fault::InternalError => {
            c.internal_error.fetch_add(1, Ordering::SeqCst);
            Ok(s3_error(req, n, INTERNAL_ERROR).await)
        }
        Fault::Reset => {
            c.reset.fetch_add(1, Ordering::SeqCst);
            abort.store(true, Ordering::SeqCst);
            Err(InjectedReset)
        }
        Fault::Delay => {
            c.delayed.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(delay).await;
            Ok(forward(&shared, req).await)
        }
        Fault::Forward => Ok(forward(&shared, req).await),
    }
}

/// An S3 error answer: HTTP status, error code, message.
type S3Error = (StatusCode, &'static str, &'static str);

/// S3's throttling answer.
const SLOW_DOWN: S3Error = (
    StatusCode::SERVICE_UNAVAILABLE,
    "SlowDown",
    "Please reduce your request rate.",
);

/// S3's answer to a failure of its own.
const INTERNAL_ERROR: S3Error = (
    StatusCode::INTERNAL_SERVER_ERROR,
    "InternalError",
    "We encountered an internal error. Please try again.",
);

/// An S3-style XML error. The request body is drained first, unless the client sent
/// `Expect: 100-continue` (s5cmd does for larger uploads) and is waiting to be told to send
/// it: a client still writing its body when the server closes can get a reset instead of
/// reading the response, and that would turn a SlowDown into a different fault.
async fn s3_error(
    req: Request<Incoming>,
    n: u64,
    (status, code, message): S3Error,
) -> Response<ProxyBody> {
    let expects_continue = req
        .headers()
        .get(header::EXPECT)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"));
    if !expects_continue {
        let mut body = req.into_body();
        while let Some(frame) = body.frame().await {
            if frame.is_err() {
                break;
            }
        }
    }
    let request_id = format!("FAULTPROXY{n:010}");
    let xml = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code>\
         <Message>{message}</Message><RequestId>{request_id}</RequestId></Error>"
    );
    let mut resp = Response::new(full(xml));
    *resp.status_mut() = status;
    let headers = resp.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/xml"),
    );
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        headers.insert(HeaderName::from_static("x-amz-request-id"), v);
    }
    resp
}

fn full(body: impl Into<Bytes>) -> ProxyBody {
    Full::new(body.into())
        .map_err(|never: Infallible| match never {})
        .boxed()
}

/// Hop-by-hop: they describe the upstream connection, not the client's.
const HOP_BY_HOP: [&str; 7] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

async fn forward(shared: &Shared, req: Request<Incoming>) -> Response<ProxyBody> {
    shared.counters.forwarded.fetch_add(1, Ordering::SeqCst);
    let (mut parts, body) = req.into_parts();
    // `as_str` is the path and query exactly as they arrived; parsing the same characters
    // back does not re-encode them.
    let path_and_query = parts
        .uri
        .path_and_query()
        .map_or("/", |pq| pq.as_str())
        .to_owned();
    parts.uri = match format!("{}{path_and_query}", shared.upstream).parse() {
        Ok(uri) => uri,
        Err(e) => return upstream_error(shared, format!("bad upstream URI: {e}")),
    };
    parts.version = Version::HTTP_11;
    match shared
        .client
        .request(Request::from_parts(parts, body))
        .await
    {
        Ok(resp) => {
            let (mut parts, body) = resp.into_parts();
            for name in HOP_BY_HOP {
                parts.headers.remove(name);
            }
            Response::from_parts(parts, body.boxed())
        }
        Err(e) => upstream_error(shared, format!("{e:?}")),
    }
}

fn upstream_error(shared: &Shared, detail: String) -> Response<ProxyBody> {
    shared
        .counters
        .upstream_errors
        .fetch_add(1, Ordering::SeqCst);
    let mut resp = Response::new(full(format!(
        "fault proxy: upstream {} failed: {detail}\n",
        shared.upstream
    )));
    *resp.status_mut() = StatusCode::BAD_GATEWAY;
    resp
}

/// The client-side TCP stream; when `abort` is set, dropping it sends a RST (SO_LINGER 0)
/// rather than a FIN, which is what a crashed server or a load balancer dropping the
/// connection looks like ("connection reset by peer").
struct AbortOnDrop {
    inner: TcpStream,
    abort: Arc<AtomicBool>,
}

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        if self.abort.load(Ordering::SeqCst) {
            // Deprecated because a non-zero linger blocks the thread in close(); a zero
            // linger never does, it discards the send buffer and resets at once.
            #[expect(deprecated)]
            let _ = self.inner.set_linger(Some(Duration::ZERO));
        }
    }
}

impl AsyncRead for AbortOnDrop {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for AbortOnDrop {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
