//! Live metrics: a run's progress as Prometheus gauges (`lakesync_run_*`), while it runs.
//!
//! Every `--progress-interval` seconds (and at the start and the end) the progress goes to
//! the `--metrics-file` (rewritten atomically, so node_exporter's textfile collector never
//! reads half a file) and to the `--pushgateway` (POST: the previous run's
//! `lakesync_last_run_*` stay in the group until the final PUT replaces them). The metrics
//! file keeps the previous run's `lakesync_last_run_*` families too, so a dashboard's
//! last-run panels do not go blank while a new run is under way; the end of the run writes
//! this run's.
//!
//! Rendering ([`render`], [`keep_last_run`]) is pure; [`Live`] is the I/O:
//! file writes on the caller's thread (a few hundred bytes), pushes on the runtime with at
//! most one in flight, so a slow gateway never holds a batch back. A failed write or push
//! warns once and never fails the sync.

use std::future::Future as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crate::os::progress::{Planned, Snapshot};
use crate::report::metrics::{PREFIX as LAST_RUN_PREFIX, Value, gauge_family};
use crate::report::pushgateway::{PushError, Pusher, Replace};

pub const PREFIX: &str = "lakesync_run_";

/// One view of the run in progress.
#[derive(Debug, Clone, PartialEq)]
pub struct LiveInput<'a> {
    /// `direct`, `staged` or `mixed`, as far as the run has gone.
    pub mode: &'a str,
    pub in_progress: bool,
    pub objects_done: u64,
    /// Grows while the listing goes on (`listing_done` false).
    pub objects_planned: u64,
    pub bytes_done: u64,
    pub bytes_planned: u64,
    pub listing_done: bool,
    pub workers: u32,
    pub failures: u64,
    pub throttles: u64,
    pub started_unix: f64,
    pub updated_unix: f64,
}

/// The `lakesync_run_*` families.
pub fn render(l: &LiveInput) -> String {
    let mut out = String::new();
    let mode: &[(&str, &str)] = &[("mode", l.mode)];
    let one = |out: &mut String, name: &str, help: &str, v: Value| {
        gauge_family(out, &format!("{PREFIX}{name}"), help, &[(mode, v)]);
    };
    one(
        &mut out,
        "in_progress",
        "1 while a lakesync run is under way, 0 once it has ended.",
        Value::U(u64::from(l.in_progress)),
    );
    let state = |s| [("mode", l.mode), ("state", s)];
    let (done, planned) = (state("done"), state("planned"));
    gauge_family(
        &mut out,
        &format!("{PREFIX}objects"),
        "Objects of the current run: done (copied or failed) and planned so far.",
        &[
            (&done, Value::U(l.objects_done)),
            (&planned, Value::U(l.objects_planned)),
        ],
    );
    gauge_family(
        &mut out,
        &format!("{PREFIX}bytes"),
        "Bytes of the current run: done (copied) and planned so far.",
        &[
            (&done, Value::U(l.bytes_done)),
            (&planned, Value::U(l.bytes_planned)),
        ],
    );
    one(
        &mut out,
        "listing_done",
        "1 once the listing has ended and the planned counts are final.",
        Value::U(u64::from(l.listing_done)),
    );
    one(
        &mut out,
        "workers",
        "s5cmd workers the current run uses now.",
        Value::U(u64::from(l.workers)),
    );
    one(
        &mut out,
        "failures",
        "Objects the current run has failed so far.",
        Value::U(l.failures),
    );
    one(
        &mut out,
        "throttles",
        "Throttling errors (SlowDown, 503) the current run has met so far.",
        Value::U(l.throttles),
    );
    one(
        &mut out,
        "started_timestamp_seconds",
        "When the current run started, seconds since the Unix epoch.",
        Value::F(l.started_unix),
    );
    one(
        &mut out,
        "updated_timestamp_seconds",
        "When these progress metrics were last updated, seconds since the Unix epoch.",
        Value::F(l.updated_unix),
    );
    out
}

/// The `lakesync_last_run_*` lines (HELP, TYPE and samples) of a metrics file, to carry the
/// previous run's figures while a new run writes its progress.
pub fn keep_last_run(old: &str) -> String {
    let mut out = String::new();
    for line in old.lines() {
        let name = line
            .strip_prefix("# HELP ")
            .or_else(|| line.strip_prefix("# TYPE "))
            .unwrap_or(line);
        if name.starts_with(LAST_RUN_PREFIX) {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

fn unix_now() -> f64 {
    jiff::Timestamp::now().as_millisecond() as f64 / 1000.0
}

/// Where the live metrics go, and when.
pub struct Live {
    file: Option<PathBuf>,
    /// The previous run's last-run families, from the file as this run found it.
    previous: String,
    pusher: Option<Pusher>,
    every: Option<Duration>,
    last: Option<Instant>,
    inflight: Option<tokio::task::JoinHandle<Result<(), PushError>>>,
    planned: Arc<Planned>,
    started_unix: f64,
    warned_file: bool,
    warned_push: bool,
}

impl Live {
    /// `every`: `--progress-interval` (None: only the final write).
    pub fn new(
        file: Option<PathBuf>,
        pusher: Option<Pusher>,
        every: Option<Duration>,
        planned: Arc<Planned>,
    ) -> Self {
        let previous = file
            .as_ref()
            .and_then(|p| std::fs::read_to_string(p).ok())
            .map(|t| keep_last_run(&t))
            .unwrap_or_default();
        Self {
            file,
            previous,
            pusher,
            every,
            last: None,
            inflight: None,
            planned,
            started_unix: unix_now(),
            warned_file: false,
            warned_push: false,
        }
    }

    fn active(&self) -> bool {
        self.file.is_some() || self.pusher.is_some()
    }

    /// Publish progress when the interval has passed (the first call always does).
    pub fn tick(&mut self, s: &Snapshot, throttles: u64, mode: &str) {
        if !self.active() {
            return;
        }
        let due = match (self.last, self.every) {
            (None, _) => true,
            (Some(t), Some(every)) => t.elapsed() >= every,
            (Some(_), None) => false,
        };
        if !due {
            return;
        }
        self.last = Some(Instant::now());
        let text = render(&LiveInput {
            mode,
            in_progress: true,
            objects_done: s.done,
            objects_planned: self.planned.objects.load(Ordering::Relaxed),
            bytes_done: s.done_bytes,
            bytes_planned: self.planned.bytes.load(Ordering::Relaxed),
            listing_done: self.planned.finished.load(Ordering::Relaxed),
            workers: s.workers,
            failures: s.failed,
            throttles,
            started_unix: self.started_unix,
            updated_unix: unix_now(),
        });
        let file_text = format!("{}{text}", self.previous);
        self.write_file(&file_text);
        let Some(pusher) = self.pusher.clone() else {
            return;
        };
        if let Some(h) = &self.inflight {
            if !h.is_finished() {
                return; // the previous push is still going: skip this one
            }
            if let Some(h) = self.inflight.take() {
                self.note_push(h);
            }
        }
        self.inflight = Some(tokio::spawn(async move {
            pusher.push(text, Replace::Families).await
        }));
    }

    /// The end of the run: `last_run` (this run's `lakesync_last_run_*`) and the final
    /// progress go to the file and, replacing the whole group, to the Pushgateway.
    pub async fn finish(&mut self, last_run: &str, end: &LiveInput<'_>) {
        if !self.active() {
            return;
        }
        let end = LiveInput {
            started_unix: self.started_unix,
            updated_unix: unix_now(),
            ..end.clone()
        };
        let text = format!("{last_run}{}", render(&end));
        self.write_file(&text);
        if let Some(h) = self.inflight.take() {
            // A live push still in flight would land after the final one: let it end first.
            if let Ok(r) = h.await {
                self.warn_push(r);
            }
        }
        if let Some(p) = &self.pusher {
            let r = p.push(text, Replace::Group).await;
            self.warn_push(r);
        }
    }

    fn write_file(&mut self, text: &str) {
        let Some(path) = &self.file else { return };
        if let Err(e) = crate::report::metrics::write_atomic(path, text)
            && !self.warned_file
        {
            self.warned_file = true;
            tracing::warn!(path = %path.display(), error = %e, "cannot write the metrics file");
            eprintln!(
                "warning: cannot write --metrics-file {}: {e}",
                path.display()
            );
        }
    }

    fn note_push(&mut self, h: tokio::task::JoinHandle<Result<(), PushError>>) {
        // Finished (checked by the caller), so this does not block.
        if let Some(r) = futures_now(h) {
            self.warn_push(r);
        }
    }

    fn warn_push(&mut self, r: Result<(), PushError>) {
        if let Err(e) = r
            && !self.warned_push
        {
            self.warned_push = true;
            tracing::warn!(error = %e, "cannot push metrics to the Pushgateway");
            eprintln!(
                "warning: cannot push metrics to the Pushgateway: {e}\nhint: {}",
                e.hint()
            );
        }
    }
}

/// The result of a finished task without awaiting (None when it panicked or is not done).
fn futures_now<T>(h: tokio::task::JoinHandle<T>) -> Option<T> {
    let waker = std::task::Waker::noop();
    let mut cx = std::task::Context::from_waker(waker);
    let mut h = std::pin::pin!(h);
    match h.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(Ok(v)) => Some(v),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::metrics::tests::{gauge, parse};

    fn input(in_progress: bool) -> LiveInput<'static> {
        LiveInput {
            mode: "direct",
            in_progress,
            objects_done: 40,
            objects_planned: 100,
            bytes_done: 9_007_199_254_740_993,
            bytes_planned: 10_000_000_000_000_000,
            listing_done: false,
            workers: 32,
            failures: 2,
            throttles: 5,
            started_unix: 1_760_000_000.5,
            updated_unix: 1_760_000_030.25,
        }
    }

    #[test]
    fn progress_round_trips_through_a_parser() {
        let text = render(&input(true));
        let s = parse(&text);
        let m = |n: &str| format!("{PREFIX}{n}");
        let d = [("mode", "direct")];
        assert_eq!(gauge(&s, &m("in_progress"), &d), 1.0);
        assert_eq!(gauge(&s, &m("objects"), &[("state", "done")]), 40.0);
        assert_eq!(gauge(&s, &m("objects"), &[("state", "planned")]), 100.0);
        assert!(
            text.contains("lakesync_run_bytes{mode=\"direct\",state=\"done\"} 9007199254740993\n")
        );
        assert_eq!(gauge(&s, &m("listing_done"), &d), 0.0);
        assert_eq!(gauge(&s, &m("workers"), &d), 32.0);
        assert_eq!(gauge(&s, &m("failures"), &d), 2.0);
        assert_eq!(gauge(&s, &m("throttles"), &d), 5.0);
        assert_eq!(
            gauge(&s, &m("started_timestamp_seconds"), &d),
            1_760_000_000.5
        );
        assert_eq!(
            gauge(&s, &m("updated_timestamp_seconds"), &d),
            1_760_000_030.25
        );
        assert_eq!(s.samples.len(), 11);
        let ended = parse(&render(&input(false)));
        assert_eq!(gauge(&ended, &m("in_progress"), &d), 0.0);
    }

    #[test]
    fn only_last_run_families_are_carried_over() {
        let old = "# HELP lakesync_last_run_files Objects.\n\
                   # TYPE lakesync_last_run_files gauge\n\
                   lakesync_last_run_files{mode=\"direct\",state=\"copied\"} 7\n\
                   # HELP lakesync_run_in_progress 1 while.\n\
                   # TYPE lakesync_run_in_progress gauge\n\
                   lakesync_run_in_progress{mode=\"direct\"} 0\n\
                   # a comment\n\
                   other_metric 1\n";
        assert_eq!(
            keep_last_run(old),
            "# HELP lakesync_last_run_files Objects.\n\
             # TYPE lakesync_last_run_files gauge\n\
             lakesync_last_run_files{mode=\"direct\",state=\"copied\"} 7\n"
        );
        // A previous file plus new progress is still one valid exposition (one TYPE each).
        let text = format!("{}{}", keep_last_run(old), render(&input(true)));
        let s = parse(&text);
        assert_eq!(
            gauge(&s, "lakesync_last_run_files", &[("state", "copied")]),
            7.0
        );
        assert_eq!(text.matches("# TYPE lakesync_run_in_progress").count(), 1);
        assert_eq!(keep_last_run(""), "");
    }

    #[test]
    fn progress_is_written_at_once_then_every_interval() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lakesync.prom");
        std::fs::write(
            &path,
            "# TYPE lakesync_last_run_duration_seconds gauge\nlakesync_last_run_duration_seconds{mode=\"direct\"} 3\n",
        )
        .unwrap();
        let planned = Arc::new(Planned::default());
        planned.objects.store(10, Ordering::Relaxed);
        let mut live = Live::new(
            Some(path.clone()),
            None,
            Some(Duration::from_secs(3600)),
            planned,
        );
        let snap = |done| Snapshot {
            done,
            done_bytes: 0,
            failed: 0,
            workers: 4,
        };
        live.tick(&snap(1), 0, "direct");
        let first = std::fs::read_to_string(&path).unwrap();
        assert!(
            first.contains("lakesync_run_objects{mode=\"direct\",state=\"done\"} 1\n"),
            "{first}"
        );
        assert!(first.contains("lakesync_run_objects{mode=\"direct\",state=\"planned\"} 10\n"));
        assert!(first.contains("lakesync_last_run_duration_seconds{mode=\"direct\"} 3\n"));
        // Within the interval: not rewritten.
        live.tick(&snap(2), 0, "direct");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), first);
    }
}
