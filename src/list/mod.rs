//! Streamed listings with `s5cmd ls --json`.
//!
//! A listing runs as its own child process and sends objects, in key order, into a bounded
//! channel: memory stays flat however many objects there are, and planning starts while the
//! listing is still running. An empty prefix ("no object found") is an empty listing; any
//! other error ends the stream with a [`ListError`].

pub mod discover;
pub mod listing;
pub mod manifest;
pub mod multi;
pub mod paired;
pub mod sides;

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use tokio::sync::mpsc;

use crate::os::signals::Interrupt;
use crate::s5cmd::{self, Event, Globals, Pipe};

/// One listed object. `key` is the full key inside the bucket.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Object {
    pub key: String,
    pub size: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etag: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_modified: Option<jiff::Timestamp>,
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum ListError {
    #[error("listing {url} failed: {error}")]
    Failed { url: String, error: String },
    #[error("listing {url} could not start s5cmd: {error}")]
    Spawn { url: String, error: String },
    #[error("listing {url} was interrupted")]
    Interrupted { url: String },
}

impl ListError {
    /// A hint for the person reading the error.
    pub fn hint(&self) -> &'static str {
        match self {
            ListError::Failed { error, .. }
                if error.contains("NoSuchBucket") || error.contains("NotFound") =>
            {
                "check that the bucket exists (s5cmd mb s3://BUCKET creates it) and that --endpoint-url points at the right server"
            }
            ListError::Failed { error, .. }
                if error.contains("AccessDenied")
                    || error.contains("NoCredentialProviders")
                    || error.contains("InvalidAccessKeyId")
                    || error.contains("SignatureDoesNotMatch") =>
            {
                "check the credentials (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY or --*-profile) and that they may list this bucket"
            }
            ListError::Failed { .. } => {
                "check --endpoint-url, the network and the credentials; run with -v for s5cmd's output"
            }
            ListError::Spawn { .. } => "check the s5cmd binary (--s5cmd or LAKESYNC_S5CMD)",
            ListError::Interrupted { .. } => "run the same command again to finish the job",
        }
    }
}

pub type Listed = Result<Object, ListError>;

/// How to run a listing.
#[derive(Debug, Clone)]
pub struct Lister {
    pub binary: PathBuf,
    pub globals: Globals,
    pub interrupt: Interrupt,
    pub timeout: Option<Duration>,
}

impl Lister {
    /// Start s5cmd with `args` (its global flags first) as every listing does: this side's
    /// environment, the run's timeout, a 2 s grace after a signal.
    pub(crate) fn spawn(&self, args: &[OsString]) -> std::io::Result<s5cmd::process::Running> {
        s5cmd::process::spawn(
            &self.binary,
            args,
            &self.globals.child_env(),
            self.timeout,
            Duration::from_secs(2),
            &self.interrupt,
            false,
        )
    }

    /// Stream every object under `bucket`/`key_prefix` (a folder or any key prefix) into
    /// `tx`, in key order. A failure is sent as the last item. Returns the number of objects
    /// sent.
    pub async fn list_into(&self, bucket: &str, key_prefix: &str, tx: mpsc::Sender<Listed>) -> u64 {
        let url = format!("s3://{bucket}/{key_prefix}");
        let mut args: Vec<OsString> = self.globals.args();
        args.push("ls".into());
        args.push(format!("{url}*").into());
        let strip = format!("s3://{bucket}/");

        let mut running = match self.spawn(&args) {
            Ok(r) => r,
            Err(e) => {
                let _ = tx
                    .send(Err(ListError::Spawn {
                        url,
                        error: e.to_string(),
                    }))
                    .await;
                return 0;
            }
        };
        let mut sent = 0u64;
        let mut error: Option<String> = None;
        let mut consumer_gone = false;
        while let Some((pipe, event)) = running.events.recv().await {
            match event {
                Event::Listing(e) if !e.is_dir && !consumer_gone => {
                    let obj = Object {
                        last_modified: e.last_modified_ts(),
                        key: e.url.strip_prefix(&strip).unwrap_or(&e.url).to_string(),
                        size: e.size,
                        etag: e.etag,
                    };
                    if tx.send(Ok(obj)).await.is_err() {
                        consumer_gone = true;
                    } else {
                        sent += 1;
                    }
                }
                Event::Error { error: e, .. } if e != "no object found" => {
                    error.get_or_insert(e);
                }
                Event::Unparsed(line) if pipe == Pipe::Stderr && !line.trim().is_empty() => {
                    error.get_or_insert(line);
                }
                _ => {}
            }
        }
        let failure = match running.wait().await {
            Err(e) => Some(ListError::Spawn {
                url,
                error: e.to_string(),
            }),
            Ok(exit) if exit.interrupted => Some(ListError::Interrupted { url }),
            Ok(exit) if exit.timed_out => Some(ListError::Failed {
                url,
                error: "timed out".into(),
            }),
            // Exit 1 with only "no object found" is an empty listing, not a failure.
            Ok(_) => error.map(|error| ListError::Failed { url, error }),
        };
        if let Some(e) = failure {
            let _ = tx.send(Err(e)).await;
        }
        sent
    }
}
