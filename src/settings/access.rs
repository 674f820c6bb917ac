//! How the two sides are reached (endpoints, profiles, regions, signing) and how often a
//! transfer is tried: the settings `sync` and `tables` share, resolved once for both from
//! the same flags ([`crate::cli::AccessArgs`], [`crate::cli::AttemptArgs`]).

use std::path::PathBuf;
use std::time::Duration;

use crate::cli::{AccessArgs, AttemptArgs};
use crate::error::Error;
use crate::os::signals::Interrupt;
use crate::run::attempt::Runner;
use crate::s3url::S3Url;
use crate::s5cmd::Globals;

use super::{BINANCE_BUCKET, BINANCE_REGION, Endpoint, in_range};

/// The two sides' endpoints, profiles, regions and signing, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Access {
    /// Endpoint for the source side (None: s5cmd's default, AWS).
    pub source_endpoint: Option<Endpoint>,
    pub dest_endpoint: Option<Endpoint>,
    pub source_profile: Option<String>,
    pub dest_profile: Option<String>,
    /// The source bucket's region: `--source-region`, else the Binance bucket's own, else
    /// None (s5cmd asks the bucket). AWS_REGION / AWS_DEFAULT_REGION never count.
    pub source_region: Option<String>,
    /// The destination bucket's region: `--dest-region`, else None (s5cmd asks the bucket).
    pub dest_region: Option<String>,
    /// Read the source unsigned: `--source-no-sign`, or the public Binance bucket.
    pub source_no_sign: bool,
}

impl Access {
    pub fn resolve(args: &AccessArgs, source: &S3Url) -> Result<Self, Error> {
        let AccessArgs {
            endpoint_url,
            source_endpoint,
            dest_endpoint,
            source_profile,
            dest_profile,
            source_region,
            dest_region,
            source_no_sign,
        } = args;
        let (source_endpoint, dest_endpoint) =
            Endpoint::sides(endpoint_url, source_endpoint, dest_endpoint)?;
        for (flag, p) in [
            ("--source-profile", source_profile),
            ("--dest-profile", dest_profile),
        ] {
            if let Some(p) = p
                && (p.is_empty() || p.chars().any(|c| c.is_whitespace() || c.is_control()))
            {
                return Err(Error::usage(
                    format!("invalid {flag} value {p:?}: not a profile name"),
                    "name a profile from ~/.aws/credentials, e.g. --dest-profile lake-writer",
                ));
            }
        }
        let binance = source.bucket() == BINANCE_BUCKET;
        Ok(Self {
            source_endpoint,
            dest_endpoint,
            source_profile: source_profile.clone(),
            dest_profile: dest_profile.clone(),
            source_region: region_of("--source-region", source_region)?
                .or_else(|| binance.then(|| BINANCE_REGION.to_string())),
            dest_region: region_of("--dest-region", dest_region)?,
            source_no_sign: *source_no_sign || binance,
        })
    }

    /// Whether one process can reach both sides the same way (endpoint and credentials): a
    /// server-side copy is one CopyObject on the destination's.
    pub fn same_side(&self) -> bool {
        self.source_endpoint == self.dest_endpoint
            && (self.source_profile.is_none() || self.source_profile == self.dest_profile)
    }

    /// s5cmd's settings for a process that reads the source (listing, downloads).
    pub fn source_globals(&self, retry_count: u32) -> Globals {
        Globals {
            endpoint_url: self.source_endpoint.as_ref().map(|e| e.url.clone()),
            no_sign_request: self.source_no_sign,
            profile: self.source_profile.clone(),
            retry_count,
            region: self.source_region.clone(),
            cp_region_flags: None,
        }
    }

    /// s5cmd's settings for a process that works on the destination (listing, uploads).
    pub fn dest_globals(&self, retry_count: u32) -> Globals {
        Globals {
            endpoint_url: self.dest_endpoint.as_ref().map(|e| e.url.clone()),
            no_sign_request: false,
            profile: self.dest_profile.clone(),
            retry_count,
            region: self.dest_region.clone(),
            cp_region_flags: None,
        }
    }
}

/// A region name as given, checked for shape only (custom servers name theirs freely,
/// e.g. Garage's `garage`): 1-64 ASCII letters, digits, `-` or `_`. Empty: not given.
fn region_of(flag: &str, value: &Option<String>) -> Result<Option<String>, Error> {
    let Some(v) = value.as_deref().map(str::trim).filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    if v.len() > 64
        || !v
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(Error::usage(
            format!("invalid {flag} value {v:?}: not a region name"),
            format!("pass the bucket's region as AWS writes it, e.g. {flag} eu-west-1"),
        ));
    }
    Ok(Some(v.to_string()))
}

/// Attempts per object and s5cmd's retries and time limits, range-checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attempts {
    pub attempts: u32,
    pub retry_count: u32,
    /// None: no watchdog (`--batch-timeout 0`).
    pub batch_timeout: Option<Duration>,
    pub grace: Duration,
}

impl Attempts {
    /// The attempt loop for s5cmd runs of `binary`, with command files in `workdir`.
    pub fn runner(&self, binary: PathBuf, workdir: PathBuf, interrupt: Interrupt) -> Runner {
        Runner {
            binary,
            workdir,
            max_attempts: self.attempts,
            backoff_base: Duration::from_millis(500),
            batch_timeout: self.batch_timeout,
            grace: self.grace,
            interrupt,
            throttle: Default::default(),
        }
    }

    pub fn resolve(args: &AttemptArgs) -> Result<Self, Error> {
        let AttemptArgs {
            attempts,
            retry_count,
            batch_timeout,
            grace_seconds,
        } = args;
        let batch_timeout = in_range(
            "--batch-timeout",
            *batch_timeout,
            0..=7 * 24 * 3600,
            " seconds (0 turns the watchdog off)",
        )?;
        Ok(Self {
            attempts: in_range("--attempts", *attempts, 1..=10, "")? as u32,
            retry_count: in_range("--retry-count", *retry_count, 0..=20, "")? as u32,
            batch_timeout: (batch_timeout > 0).then(|| Duration::from_secs(batch_timeout as u64)),
            grace: Duration::from_secs(
                in_range("--grace-seconds", *grace_seconds, 0..=3600, "")? as u64
            ),
        })
    }
}
