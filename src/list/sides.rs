//! Both sides of a run, made ready before anything is listed: the s5cmd binary resolved
//! once, each side's s5cmd settings (endpoint, signing, profile), and a TCP probe of each
//! endpoint, so that an unreachable server is a clear error in seconds.

use std::path::Path;
use std::time::Duration;

use crate::error::Error;
use crate::list::Lister;
use crate::os::signals::Interrupt;
use crate::s5cmd::{self, Globals};
use crate::settings::access::{Access, Attempts};
use crate::settings::{Endpoint, Settings};

/// The resolved s5cmd binary and each side's s5cmd settings, after probing the endpoints.
pub struct Sides {
    pub binary: s5cmd::S5cmdBinary,
    pub source_globals: Globals,
    pub dest_globals: Globals,
    interrupt: Interrupt,
    timeout: Option<Duration>,
}

impl Sides {
    pub async fn prepare(settings: &Settings, interrupt: &Interrupt) -> Result<Self, Error> {
        Self::prepare_with(
            settings.s5cmd_explicit.as_deref(),
            settings.s5cmd_env.as_deref(),
            &settings.access,
            &settings.attempts,
            interrupt,
        )
        .await
    }

    /// [`Sides::prepare`] from the parts of the settings it reads (sync's and tables').
    pub async fn prepare_with(
        s5cmd_explicit: Option<&Path>,
        s5cmd_env: Option<&Path>,
        access: &Access,
        attempts: &Attempts,
        interrupt: &Interrupt,
    ) -> Result<Self, Error> {
        let binary = s5cmd::locate(s5cmd_explicit, s5cmd_env)?;
        tracing::info!(path = %binary.path.display(), version = %binary.version, via = %binary.found_via, "using s5cmd");
        for ep in [&access.source_endpoint, &access.dest_endpoint]
            .into_iter()
            .flatten()
        {
            probe_endpoint(ep).await?;
        }
        Ok(Self {
            binary,
            source_globals: access.source_globals(attempts.retry_count),
            dest_globals: access.dest_globals(attempts.retry_count),
            interrupt: interrupt.clone(),
            timeout: attempts.batch_timeout,
        })
    }

    /// The interruption every s5cmd of this run watches.
    pub fn interrupt(&self) -> &Interrupt {
        &self.interrupt
    }

    pub fn lister(&self, globals: &Globals) -> Lister {
        Lister {
            binary: self.binary.path.clone(),
            globals: globals.clone(),
            interrupt: self.interrupt.clone(),
            timeout: self.timeout,
        }
    }
}

/// Check that the endpoint accepts TCP connections, so an unreachable server is a clear
/// error in seconds instead of s5cmd retrying for over a minute.
pub async fn probe_endpoint(ep: &Endpoint) -> Result<(), Error> {
    let addr = (ep.host.as_str(), ep.port);
    match tokio::time::timeout(Duration::from_secs(5), tokio::net::TcpStream::connect(addr)).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(Error::env(
            format!("cannot reach the endpoint {}: {e}", ep.url),
            "start the S3 server (make demo starts one), or fix --endpoint-url / S3_ENDPOINT_URL",
        )),
        Err(_) => Err(Error::env(
            format!("cannot reach the endpoint {}: no answer within 5 s", ep.url),
            "check the host and port, and any firewall in between",
        )),
    }
}
