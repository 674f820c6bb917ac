//! Building the simulator from [`Settings`] and serving it: the HTTP/1.1 accept loop (one
//! task per connection, TCP_NODELAY), the first stdout line once the socket accepts, and a
//! clean stop on SIGTERM/SIGINT.

use std::convert::Infallible;
use std::io::Write as _;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Instant;

use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

use crate::archive::{Archive, View};
use crate::buckets::{Buckets, DestBucket, Mirror, Source, Store};
use crate::cli::Settings;
use crate::content::DigestCache;
use crate::limits::Limiter;
use crate::model::catalog::Market;
use crate::model::{Model, ModelError, ModelOptions};
use crate::s3::{Knobs, MAX_COPY_BYTES, State};
use crate::stats::Stats;
use crate::time::{fmt_day, now_ms};

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Model(#[from] ModelError),
    #[error("cannot listen on {addr}: {error}")]
    Listen { addr: String, error: String },
}

impl StartError {
    pub fn hint(&self) -> String {
        match self {
            StartError::Model(e) => e.hint(),
            StartError::Listen { .. } => {
                "pick another --listen address, or port 0 for any free port".into()
            }
        }
    }
}

/// The archive and buckets the settings describe (the archive lives as long as the process).
pub fn build_state(s: &Settings) -> Result<State, StartError> {
    let opts = ModelOptions {
        grow_until: s.new_listings.then_some(s.as_of),
    };
    let mut model = match &s.model {
        Some(dir) => Model::load_dir(dir, opts)?,
        None => Model::embedded(opts)?,
    };
    if let Some(from) = s.history_from {
        model.keep_history_from(from);
    }
    let mut archive = Archive::build(model, s.archive);
    archive.size_overrides = s
        .size_overrides
        .iter()
        .map(|(k, v)| (k.as_str().into(), *v))
        .collect();
    let archive: &'static Archive = Box::leak(Box::new(archive));
    let view = View {
        snapshot_ms: s.snapshot_ms,
        cap_day: None,
    };
    let buckets = Buckets {
        source: Source {
            archive,
            view,
            region: s.source_region.clone(),
        },
        dests: Default::default(),
        digests: DigestCache::default(),
        max_kept_bytes: s.max_kept_bytes,
        default_dest_region: s.dest_region.clone(),
    };
    for d in &s.dests {
        let mirror = d.mirrored_through.map(|through| Mirror {
            prefix: d.prefix.clone().into_bytes(),
            through,
            view: View {
                snapshot_ms: s.snapshot_ms,
                cap_day: Some(through),
            },
        });
        buckets.add_dest(DestBucket {
            name: d.name.clone(),
            region: s.dest_region.clone(),
            mirror,
            store: std::sync::RwLock::new(Store::default()),
            created_ms: now_ms(),
        });
    }
    Ok(State {
        buckets,
        stats: Arc::new(Stats::default()),
        limiter: Limiter::new(s.read_rate, s.write_rate),
        knobs: Knobs {
            latency: s.latency,
            cross_region_copy: s.cross_region_copy,
            partition_depth: s.partition_depth,
            wrong_region: s.wrong_region,
            copy_error_fraction: s.copy_error_fraction,
            max_copy_bytes: MAX_COPY_BYTES,
            stats_top: s.stats_top,
        },
        requests: AtomicU64::new(0),
        copies: AtomicU64::new(0),
        started: Instant::now(),
        as_of: fmt_day(s.as_of),
    })
}

/// A one-line description of the model for the log.
pub fn describe(state: &State) -> String {
    let a = state.buckets.source.archive;
    let m = &a.model;
    let keys = a.count_keys(&state.buckets.source.view);
    let mirrors: Vec<String> = state
        .buckets
        .dest_stats()
        .into_iter()
        .map(|(n, (modelled, ..))| format!("{n} ({modelled} modelled keys)"))
        .collect();
    format!(
        "archive-sim: as of {}: {} spot, {} um, {} cm, {} option symbols; {} series; {} source keys; destinations: {}",
        state.as_of,
        m.count(Market::Spot),
        m.count(Market::Um),
        m.count(Market::Cm),
        m.count(Market::Option),
        a.series.len(),
        keys,
        if mirrors.is_empty() {
            "none (CreateBucket makes them)".to_string()
        } else {
            mirrors.join(", ")
        }
    )
}

pub async fn serve(state: Arc<State>, listener: TcpListener) {
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(c) => c,
            Err(e) => {
                // EMFILE and the like: back off instead of spinning.
                eprintln!("archive-sim: accept failed: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let st = state.clone();
        tokio::spawn(async move {
            let svc = service_fn(move |req| {
                let st = st.clone();
                async move { Ok::<_, Infallible>(crate::s3::handle(st, req).await) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .keep_alive(true)
                .serve_connection(TokioIo::new(stream), svc)
                .await;
        });
    }
}

/// Bind, print the URL, serve until SIGTERM/SIGINT.
pub fn run(settings: Settings) -> Result<(), StartError> {
    let state = Arc::new(build_state(&settings)?);
    eprintln!("{}", describe(&state));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(settings.threads)
        .enable_all()
        .build()
        .map_err(|e| StartError::Listen {
            addr: settings.listen.to_string(),
            error: e.to_string(),
        })?;
    rt.block_on(async move {
        let listener =
            TcpListener::bind(settings.listen)
                .await
                .map_err(|e| StartError::Listen {
                    addr: settings.listen.to_string(),
                    error: e.to_string(),
                })?;
        let addr = listener.local_addr().map_err(|e| StartError::Listen {
            addr: settings.listen.to_string(),
            error: e.to_string(),
        })?;
        // The contract with scripts: this first stdout line means "accepting connections".
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "http://{addr}");
        let _ = out.flush();
        drop(out);
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .map_err(|e| StartError::Listen {
                addr: addr.to_string(),
                error: e.to_string(),
            })?;
        tokio::select! {
            _ = serve(state.clone(), listener) => {}
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
        eprintln!(
            "archive-sim: stopping after {} requests",
            state.requests.load(std::sync::atomic::Ordering::Relaxed)
        );
        Ok(())
    })
}
