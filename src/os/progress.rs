//! Progress on stderr: a bar (indicatif) when stderr is a terminal, otherwise one concise
//! line every `--progress-interval` seconds (Airflow logs are not terminals). Hidden with
//! `--quiet`.

use std::io::IsTerminal;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// What the planner has found so far, shared with the progress display.
#[derive(Debug, Default)]
pub struct Planned {
    pub objects: AtomicU64,
    pub bytes: AtomicU64,
    pub finished: AtomicBool,
}

/// One snapshot of the run.
#[derive(Debug, Clone, Copy, Default)]
pub struct Snapshot {
    pub done: u64,
    pub done_bytes: u64,
    pub failed: u64,
    pub workers: u32,
}

pub struct Progress {
    bar: Option<indicatif::ProgressBar>,
    interval: Option<Duration>,
    last_line: Instant,
    started: Instant,
    planned: Arc<Planned>,
}

fn human_rate(bytes_per_s: f64) -> String {
    let mb = bytes_per_s / 1e6;
    if mb >= 1.0 {
        format!("{mb:.1} MB/s")
    } else {
        format!("{:.1} kB/s", bytes_per_s / 1e3)
    }
}

/// The plain progress line (also the bar's message), pure for testing.
pub fn line(s: &Snapshot, planned: u64, planning_done: bool, elapsed: Duration) -> String {
    let secs = elapsed.as_secs_f64().max(1e-3);
    let rate = s.done as f64 / secs;
    let eta = if planning_done && rate > 0.0 && planned >= s.done {
        format!("ETA {:.0}s", (planned - s.done) as f64 / rate)
    } else {
        "ETA ?".into()
    };
    format!(
        "progress: {}/{}{} objects, {:.1} files/s, {}, {}, {} workers, {} failed",
        s.done,
        planned,
        if planning_done {
            ""
        } else {
            "+ (still listing)"
        },
        rate,
        human_rate(s.done_bytes as f64 / secs),
        eta,
        s.workers,
        s.failed
    )
}

impl Progress {
    pub fn new(quiet: bool, interval_secs: u64, planned: Arc<Planned>) -> Self {
        let terminal = std::io::stderr().is_terminal();
        let bar = (!quiet && terminal).then(|| {
            let bar = indicatif::ProgressBar::new(0);
            let style = indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} {msg}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
            bar.set_style(style);
            bar.enable_steady_tick(Duration::from_millis(250));
            bar
        });
        let interval =
            (!quiet && !terminal && interval_secs > 0).then(|| Duration::from_secs(interval_secs));
        Self {
            bar,
            interval,
            last_line: Instant::now(),
            started: Instant::now(),
            planned,
        }
    }

    pub fn update(&mut self, s: &Snapshot) {
        let planned = self.planned.objects.load(Ordering::Relaxed);
        let done = self.planned.finished.load(Ordering::Relaxed);
        let text = line(s, planned, done, self.started.elapsed());
        if let Some(bar) = &self.bar {
            bar.set_length(planned);
            bar.set_position(s.done);
            bar.set_message(text.trim_start_matches("progress: ").to_string());
        } else if let Some(every) = self.interval
            && self.last_line.elapsed() >= every
        {
            eprintln!("{text}");
            self.last_line = Instant::now();
        }
    }

    pub fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_read_well() {
        let s = Snapshot {
            done: 50,
            done_bytes: 5_000_000,
            failed: 1,
            workers: 16,
        };
        let l = line(&s, 100, true, Duration::from_secs(10));
        assert_eq!(
            l,
            "progress: 50/100 objects, 5.0 files/s, 500.0 kB/s, ETA 10s, 16 workers, 1 failed"
        );
        let l = line(&s, 60, false, Duration::from_secs(10));
        assert!(
            l.contains("50/60+ (still listing)") && l.contains("ETA ?"),
            "{l}"
        );
    }
}
