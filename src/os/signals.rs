//! SIGINT/SIGTERM handling and the process groups of running s5cmd children.
//!
//! The first signal sets the shared [`Interrupt`]: no new batch starts, running children get
//! SIGTERM, a grace period, then SIGKILL, and a partial report is written. A second SIGINT
//! kills every child group at once and exits immediately. SIGTERM is what Airflow sends.

use std::collections::HashSet;
use std::sync::Mutex;

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use tokio::sync::watch;

use crate::exit_codes;

static GROUPS: Mutex<Option<HashSet<i32>>> = Mutex::new(None);

/// Shared interruption state: `Some(signal number)` once lakesync was asked to stop.
#[derive(Clone, Debug)]
pub struct Interrupt {
    rx: watch::Receiver<Option<i32>>,
    // Keeps the channel open for interrupts that never fire (tests, library use).
    _tx: Option<std::sync::Arc<watch::Sender<Option<i32>>>>,
}

impl Interrupt {
    /// An interrupt that never fires.
    pub fn never() -> Self {
        let (tx, rx) = watch::channel(None);
        Self {
            rx,
            _tx: Some(std::sync::Arc::new(tx)),
        }
    }

    pub fn subscribe(&self) -> watch::Receiver<Option<i32>> {
        self.rx.clone()
    }

    /// The signal received, if any.
    pub fn signal(&self) -> Option<i32> {
        *self.rx.borrow()
    }
}

/// Install the handlers (call once, inside the tokio runtime).
pub fn install() -> std::io::Result<Interrupt> {
    use tokio::signal::unix::{SignalKind, signal};
    let (tx, rx) = watch::channel(None);
    let mut sigint = signal(SignalKind::interrupt())?;
    let mut sigterm = signal(SignalKind::terminate())?;
    tokio::spawn(async move {
        loop {
            let sig = tokio::select! {
                _ = sigint.recv() => Signal::SIGINT,
                _ = sigterm.recv() => Signal::SIGTERM,
            };
            if tx.borrow().is_some() {
                if sig == Signal::SIGINT {
                    // Second Ctrl-C: no more waiting.
                    kill_all(Signal::SIGKILL);
                    eprintln!("lakesync: second interrupt, killed s5cmd and exiting now");
                    std::process::exit(exit_codes::INTERRUPTED_SIGINT);
                }
                continue;
            }
            tracing::warn!(
                signal = sig.as_str(),
                "interrupted: finishing nothing new, stopping s5cmd"
            );
            let _ = tx.send(Some(sig as i32));
        }
    });
    Ok(Interrupt { rx, _tx: None })
}

/// Registers a child's process group while it runs, so that signals reach it.
pub struct ChildGroupGuard(i32);

impl ChildGroupGuard {
    pub fn register(pgid: i32) -> Self {
        if let Ok(mut g) = GROUPS.lock() {
            g.get_or_insert_with(HashSet::new).insert(pgid);
        }
        Self(pgid)
    }
}

impl Drop for ChildGroupGuard {
    fn drop(&mut self) {
        if let Ok(mut g) = GROUPS.lock()
            && let Some(set) = g.as_mut()
        {
            set.remove(&self.0);
        }
    }
}

pub fn kill_group(pgid: i32, sig: Signal) {
    let _ = killpg(Pid::from_raw(pgid), sig);
}

fn kill_all(sig: Signal) {
    if let Ok(g) = GROUPS.lock()
        && let Some(set) = g.as_ref()
    {
        for &pgid in set {
            kill_group(pgid, sig);
        }
    }
}
