//! Pushing metrics to a Prometheus Pushgateway (`--pushgateway URL`), the Prometheus
//! convention for batch jobs that may end before a scrape.
//!
//! The group is `job/<--pushgateway-job>` plus `shard/<I>` with `--shard I/N`, so the shards
//! of one job keep separate groups and a re-run replaces its own. During the run progress
//! goes with POST (replaces only the families pushed, so the previous run's
//! `lakesync_last_run_*` stay visible until this run ends); the final push is a PUT of
//! everything (the group becomes exactly this run's metrics).
//!
//! A push is best effort: failures are returned for the caller to warn about, never to fail
//! the sync. Plain HTTP only (the Pushgateway usually sits beside the job; put a TLS proxy
//! in front for anything else). The client is hyper's (already in the build for the tests;
//! async on the runtime the sync runs on), with a timeout per push so a hung gateway cannot
//! hold the run.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use crate::error::Error;

/// How long one push may take, connection included.
pub const PUSH_TIMEOUT: Duration = Duration::from_secs(5);

/// The default `--pushgateway-job`.
pub const DEFAULT_JOB: &str = "lakesync";

/// A validated Pushgateway group: where to push.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// `http://host:port` plus any path prefix, no trailing slash.
    pub base: String,
    pub job: String,
    pub shard: Option<u32>,
}

/// How a push replaces what the group held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Replace {
    /// POST: only the metric families in the push.
    Families,
    /// PUT: the whole group.
    Group,
}

#[derive(Debug, thiserror::Error)]
pub enum PushError {
    #[error("cannot push to {url}: {reason}")]
    Transport { url: String, reason: String },
    #[error("the Pushgateway at {url} answered {status}: {body}")]
    Rejected {
        url: String,
        status: u16,
        body: String,
    },
    #[error("no answer from the Pushgateway at {url} within {} s", PUSH_TIMEOUT.as_secs())]
    Timeout { url: String },
}

impl PushError {
    pub fn hint(&self) -> &'static str {
        match self {
            PushError::Transport { .. } | PushError::Timeout { .. } => {
                "check that the Pushgateway runs and --pushgateway names it (http://HOST:9091)"
            }
            PushError::Rejected { .. } => {
                "the Pushgateway refused the metrics: another job may push the same metric names with other help texts"
            }
        }
    }
}

/// A grouping-key value the URL can carry as is (no base64 `@base64` form needed).
fn valid_job(job: &str) -> bool {
    !job.is_empty()
        && job.len() <= 128
        && job
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

impl Target {
    /// Validate `--pushgateway URL` and `--pushgateway-job NAME`.
    pub fn parse(url: &str, job: &str, shard: Option<u32>) -> Result<Self, Error> {
        let bad = |why: &str| {
            Error::usage(
                format!("invalid --pushgateway value {url:?}: {why}"),
                "write it as http://HOST:PORT, e.g. --pushgateway http://127.0.0.1:9091",
            )
        };
        let rest = match url.split_once("://") {
            Some(("http", rest)) => rest,
            Some(("https", _)) => {
                return Err(bad(
                    "https is not supported (plain http to a Pushgateway beside the job)",
                ));
            }
            _ => return Err(bad("the scheme must be http")),
        };
        let authority = rest.split('/').next().unwrap_or_default();
        if authority.is_empty() || authority.contains('@') {
            return Err(bad(
                "no host (or credentials in the URL, which are not allowed)",
            ));
        }
        if rest.contains(['?', '#']) {
            return Err(bad("a query or fragment is not allowed"));
        }
        if let Some((_, port)) = authority.rsplit_once(':')
            && !authority.ends_with(']')
            && port.parse::<u16>().map_or(true, |p| p == 0)
        {
            return Err(bad("the port is not a number 1-65535"));
        }
        if !valid_job(job) {
            return Err(Error::usage(
                format!("invalid --pushgateway-job value {job:?}: not a job name"),
                "use letters, digits, '_', '-' and '.', e.g. --pushgateway-job binance-klines",
            ));
        }
        Ok(Self {
            base: format!("http://{}", rest.trim_end_matches('/')),
            job: job.to_string(),
            shard,
        })
    }

    /// The group's URL: `<base>/metrics/job/<job>[/shard/<I>]`.
    pub fn url(&self) -> String {
        match self.shard {
            Some(i) => format!("{}/metrics/job/{}/shard/{i}", self.base, self.job),
            None => format!("{}/metrics/job/{}", self.base, self.job),
        }
    }
}

/// Pushes to one group. Cheap to clone (the connection pool is shared).
#[derive(Clone)]
pub struct Pusher {
    target: Target,
    client: Client<HttpConnector, Full<Bytes>>,
}

impl Pusher {
    pub fn new(target: Target) -> Self {
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(PUSH_TIMEOUT));
        Self {
            target,
            client: Client::builder(TokioExecutor::new()).build(connector),
        }
    }

    pub fn target(&self) -> &Target {
        &self.target
    }

    /// Push `text` (Prometheus text format) to the group.
    pub async fn push(&self, text: String, replace: Replace) -> Result<(), PushError> {
        let url = self.target.url();
        let request = hyper::Request::builder()
            .method(match replace {
                Replace::Families => hyper::Method::POST,
                Replace::Group => hyper::Method::PUT,
            })
            .uri(&url)
            .header(
                hyper::header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            )
            .body(Full::new(Bytes::from(text)))
            .map_err(|e| PushError::Transport {
                url: url.clone(),
                reason: e.to_string(),
            })?;
        let exchange = async {
            let response =
                self.client
                    .request(request)
                    .await
                    .map_err(|e| PushError::Transport {
                        url: url.clone(),
                        reason: error_chain(&e),
                    })?;
            let status = response.status();
            let body = response
                .into_body()
                .collect()
                .await
                .map(|b| b.to_bytes())
                .unwrap_or_default();
            if status.is_success() {
                Ok(())
            } else {
                Err(PushError::Rejected {
                    url: url.clone(),
                    status: status.as_u16(),
                    body: String::from_utf8_lossy(&body)
                        .trim()
                        .chars()
                        .take(300)
                        .collect(),
                })
            }
        };
        tokio::time::timeout(PUSH_TIMEOUT, exchange)
            .await
            .unwrap_or_else(|_| Err(PushError::Timeout { url: url.clone() }))
    }
}

/// hyper's errors say "client error (Connect)" at the top; the cause is further down.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_by_job_and_shard() {
        let t = Target::parse("http://127.0.0.1:9091/", "lakesync", None).unwrap();
        assert_eq!(t.url(), "http://127.0.0.1:9091/metrics/job/lakesync");
        let t = Target::parse("http://gw:9091/prefix", "klines.daily", Some(3)).unwrap();
        assert_eq!(
            t.url(),
            "http://gw:9091/prefix/metrics/job/klines.daily/shard/3"
        );
        let t = Target::parse("http://[::1]:9091", "j", None).unwrap();
        assert_eq!(t.url(), "http://[::1]:9091/metrics/job/j");
    }

    #[test]
    fn bad_urls_and_jobs_are_refused_naming_the_value() {
        for url in [
            "127.0.0.1:9091",
            "https://gw:9091",
            "ftp://gw",
            "http://",
            "http://user:pw@gw:9091",
            "http://gw:port",
            "http://gw:0",
            "http://gw:9091/?x=1",
        ] {
            let e = Target::parse(url, "lakesync", None).unwrap_err();
            assert!(e.message().contains(&format!("{url:?}")), "{e:?}");
            assert!(e.hint().contains("http://"), "{e:?}");
        }
        for job in ["", "a/b", "with space", "ünï"] {
            let e = Target::parse("http://gw:9091", job, None).unwrap_err();
            assert!(e.message().contains("--pushgateway-job"), "{e:?}");
        }
    }

    #[tokio::test]
    async fn a_dead_gateway_is_an_error_with_a_hint_not_a_hang() {
        // A port nobody listens on: bind, learn the port, close.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let p = Pusher::new(
            Target::parse(&format!("http://127.0.0.1:{port}"), "lakesync", None).unwrap(),
        );
        let started = std::time::Instant::now();
        let e = p.push("x 1\n".into(), Replace::Group).await.unwrap_err();
        assert!(started.elapsed() < PUSH_TIMEOUT + Duration::from_secs(1));
        assert!(matches!(e, PushError::Transport { .. }), "{e:?}");
        assert!(e.to_string().contains(&port.to_string()), "{e}");
        assert!(e.hint().contains("--pushgateway"));
    }
}
