//! SLAs over history (spec 5.2.1, 8.1.1): with `--history`, a run is also judged against
//! the recent runs of the same job, read from the history file before this run's line is
//! appended. Pure: [`judge`] takes figures, not files.
//!
//! - `throughput_vs_history`: the run's files/s as a percentage of the median files/s of
//!   the last [`RECENT_RUNS`] runs of the job that copied something. "Performance
//!   degradation > 10%" (below 90%) is a warning. Not applicable (ok, "n/a") while the job
//!   has fewer than [`MIN_RUNS`] such runs, or when this run had nothing to copy.
//! - `success_rate_24h`: copied over planned across the job's runs that finished in the 24
//!   hours up to this run, this run included, held to the success-rate thresholds (warning
//!   below 98%, critical below 95%): the rolling window beside the run's own rate.
//!
//! The job is the same source, destination, selection, shard and configured mode
//! ([`job_key`]); runs of other jobs in the same file are not compared. "Complete operation
//! failure" (nothing copied of a non-empty plan) needs no history: it is
//! `sla::evaluate`'s `complete_failure` check.

use serde::{Deserialize, Serialize};

use super::sla::{Check, SUCCESS_CRITICAL_BELOW_PCT, SUCCESS_WARNING_BELOW_PCT, Status};

/// Below this percentage of the median files/s: warning (degradation > 10%).
pub const DEGRADATION_WARNING_BELOW_PCT: f64 = 90.0;
/// The median is taken over at most this many recent runs that copied something.
pub const RECENT_RUNS: usize = 20;
/// Fewer earlier runs than this: no throughput judgement.
pub const MIN_RUNS: usize = 3;
/// The rolling window of `success_rate_24h`.
pub const WINDOW_SECONDS: i64 = 24 * 3600;

/// What one run contributes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RunFigures {
    pub finished_unix: i64,
    pub planned: u64,
    /// Copied and validated.
    pub copied: u64,
    pub duration_seconds: f64,
}

impl RunFigures {
    /// Files per second over the whole run; `None` when it copied nothing.
    pub fn files_per_s(&self) -> Option<f64> {
        (self.copied > 0 && self.duration_seconds > 0.0 && self.duration_seconds.is_finite())
            .then(|| self.copied as f64 / self.duration_seconds)
    }
}

/// What the run was compared with (in the report as `sla_history`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Baseline {
    /// Earlier runs of the same job in the history file.
    pub earlier_runs: u64,
    /// Runs the median was taken over.
    pub compared_runs: u64,
    pub median_files_per_s: Option<f64>,
    /// This run's files/s.
    pub files_per_s: Option<f64>,
    /// Runs of the job in the 24 h window, this one included.
    pub runs_24h: u64,
    /// Percent; `None` when nothing was planned in the window.
    pub success_rate_24h: Option<f64>,
}

/// The identity of a job: same source, destination, selection, shard and configured mode.
pub fn job_key(
    source: &str,
    dest: &str,
    selection: Option<&str>,
    shard: Option<&str>,
    mode: &str,
) -> String {
    format!(
        "{source} -> {dest}; selection: {}; shard: {}; mode: {mode}",
        selection.unwrap_or("all"),
        shard.unwrap_or("all")
    )
}

fn round6(x: f64) -> f64 {
    (x * 1e6).round() / 1e6
}

/// Median of non-empty `v` (sorted in place): the middle value, or the mean of the two.
fn median(v: &mut [f64]) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    })
}

/// Judge `current` against `earlier` runs of the same job (any order).
pub fn judge(current: &RunFigures, earlier: &[RunFigures]) -> (Vec<Check>, Baseline) {
    let mut runs: Vec<&RunFigures> = earlier.iter().collect();
    runs.sort_by_key(|r| r.finished_unix);
    let mut recent: Vec<f64> = runs
        .iter()
        .rev()
        .filter_map(|r| r.files_per_s())
        .take(RECENT_RUNS)
        .collect();
    let compared = recent.len();
    let median_fps = median(&mut recent);
    let fps = current
        .files_per_s()
        .or((current.planned > 0).then_some(0.0));

    let target = format!(
        ">= {DEGRADATION_WARNING_BELOW_PCT}% of the median files/s of the job's last {RECENT_RUNS} runs (degradation > 10%: warning)"
    );
    let throughput = match (fps, median_fps) {
        (Some(f), Some(m)) if compared >= MIN_RUNS && m > 0.0 => {
            let value = round6(f * 100.0 / m);
            Check {
                name: "throughput_vs_history".into(),
                target,
                actual: format!(
                    "{f:.1} files/s = {value:.1}% of the median {m:.1} files/s over {compared} runs"
                ),
                status: if value < DEGRADATION_WARNING_BELOW_PCT {
                    Status::Warning
                } else {
                    Status::Ok
                },
                value,
            }
        }
        _ => Check {
            name: "throughput_vs_history".into(),
            target,
            actual: "n/a".into(),
            status: Status::Ok,
            value: 100.0,
        },
    };

    let since = current.finished_unix - WINDOW_SECONDS;
    let window: Vec<&RunFigures> = runs
        .iter()
        .copied()
        .filter(|r| r.finished_unix > since && r.finished_unix <= current.finished_unix)
        .chain(std::iter::once(current))
        .collect();
    let planned: u64 = window.iter().map(|r| r.planned).sum();
    let copied: u64 = window.iter().map(|r| r.copied.min(r.planned)).sum();
    let target = format!(
        ">= {SUCCESS_WARNING_BELOW_PCT}% over the job's runs of the last 24 h (critical < {SUCCESS_CRITICAL_BELOW_PCT}%)"
    );
    let rate_24h = (planned > 0).then(|| round6(copied as f64 * 100.0 / planned as f64));
    let success_24h = match rate_24h {
        Some(value) => Check {
            name: "success_rate_24h".into(),
            target,
            actual: format!(
                "{value:.2}% ({copied} of {planned} copied in {} run(s))",
                window.len()
            ),
            status: if value < SUCCESS_CRITICAL_BELOW_PCT {
                Status::Critical
            } else if value < SUCCESS_WARNING_BELOW_PCT {
                Status::Warning
            } else {
                Status::Ok
            },
            value,
        },
        None => Check {
            name: "success_rate_24h".into(),
            target,
            actual: "n/a".into(),
            status: Status::Ok,
            value: 100.0,
        },
    };
    let baseline = Baseline {
        earlier_runs: earlier.len() as u64,
        compared_runs: compared as u64,
        median_files_per_s: median_fps.map(|m| (m * 1000.0).round() / 1000.0),
        files_per_s: fps.map(|f| (f * 1000.0).round() / 1000.0),
        runs_24h: window.len() as u64,
        success_rate_24h: rate_24h,
    };
    (vec![throughput, success_24h], baseline)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_760_000_000;

    fn run(ago_s: i64, planned: u64, copied: u64, secs: f64) -> RunFigures {
        RunFigures {
            finished_unix: NOW - ago_s,
            planned,
            copied,
            duration_seconds: secs,
        }
    }

    fn by_name<'a>(c: &'a [Check], n: &str) -> &'a Check {
        c.iter().find(|c| c.name == n).unwrap()
    }

    /// Five earlier daily runs at 100 files/s (one at 80, one at 120: median 100).
    fn daily() -> Vec<RunFigures> {
        [(1, 100.0), (2, 80.0), (3, 120.0), (4, 100.0), (5, 100.0)]
            .into_iter()
            .map(|(days, fps)| run(days * 86_400, 1000, 1000, 1000.0 / fps))
            .collect()
    }

    #[test]
    fn a_run_more_than_10_percent_slower_than_the_median_is_a_warning() {
        let (c, b) = judge(&run(0, 1000, 1000, 1000.0 / 89.0), &daily());
        let t = by_name(&c, "throughput_vs_history");
        assert_eq!(t.status, Status::Warning, "{t:?}");
        assert_eq!(t.value, 89.0);
        assert_eq!(b.median_files_per_s, Some(100.0));
        assert_eq!((b.earlier_runs, b.compared_runs), (5, 5));
        // Exactly 10% slower: not "more than 10%".
        let (c, _) = judge(&run(0, 1000, 1000, 1000.0 / 90.0), &daily());
        assert_eq!(by_name(&c, "throughput_vs_history").status, Status::Ok);
        // Faster: ok.
        let (c, _) = judge(&run(0, 1000, 1000, 5.0), &daily());
        assert_eq!(by_name(&c, "throughput_vs_history").value, 200.0);
        assert_eq!(by_name(&c, "throughput_vs_history").status, Status::Ok);
    }

    #[test]
    fn the_median_uses_the_last_runs_that_copied_something() {
        let mut h: Vec<RunFigures> = (0..30)
            .map(|i| run(86_400 * (40 - i), 10, 10, 1.0)) // 10 files/s, older
            .collect();
        h.extend((0..RECENT_RUNS as i64).map(|i| run(3600 * (i + 1), 10, 10, 0.1))); // 100 files/s, recent
        h.push(run(60, 0, 0, 0.5)); // nothing to copy: not compared
        let (c, b) = judge(&run(0, 10, 10, 0.1), &h);
        assert_eq!(b.compared_runs, RECENT_RUNS as u64);
        assert_eq!(b.median_files_per_s, Some(100.0));
        assert_eq!(by_name(&c, "throughput_vs_history").status, Status::Ok);
        // An even count takes the mean of the middle two.
        let (_, b) = judge(
            &run(0, 10, 10, 1.0),
            &[
                run(3, 10, 10, 1.0),
                run(2, 10, 10, 0.5),
                run(1, 10, 10, 0.25),
                run(4, 10, 10, 0.2),
            ],
        );
        assert_eq!(b.median_files_per_s, Some(30.0));
    }

    #[test]
    fn too_little_history_or_nothing_to_copy_is_not_applicable() {
        let (c, b) = judge(&run(0, 1000, 1000, 100.0), &daily()[..2]);
        let t = by_name(&c, "throughput_vs_history");
        assert_eq!((t.status, t.actual.as_str()), (Status::Ok, "n/a"));
        assert_eq!(b.compared_runs, 2);
        let (c, b) = judge(&run(0, 0, 0, 0.3), &daily());
        assert_eq!(by_name(&c, "throughput_vs_history").actual, "n/a");
        assert_eq!(b.files_per_s, None);
        let (c, _) = judge(&run(0, 0, 0, 0.3), &[]);
        assert!(
            c.iter()
                .all(|c| c.status == Status::Ok && c.actual == "n/a"),
            "{c:?}"
        );
    }

    #[test]
    fn a_run_that_copied_nothing_of_its_plan_is_at_zero_percent() {
        let (c, b) = judge(&run(0, 1000, 0, 30.0), &daily());
        let t = by_name(&c, "throughput_vs_history");
        assert_eq!((t.status, t.value), (Status::Warning, 0.0));
        assert_eq!(b.files_per_s, Some(0.0));
    }

    #[test]
    fn success_over_the_last_24_hours_includes_this_run_and_nothing_older() {
        let h = vec![
            run(25 * 3600, 1000, 0, 10.0), // outside the window
            run(23 * 3600, 100, 100, 1.0),
            run(3600, 100, 96, 1.0),
        ];
        let (c, b) = judge(&run(0, 100, 100, 1.0), &h);
        let s = by_name(&c, "success_rate_24h");
        assert_eq!(s.value, 98.666667);
        assert_eq!(s.status, Status::Ok);
        assert_eq!(b.runs_24h, 3);
        assert_eq!(b.success_rate_24h, Some(98.666667));
        // A bad run today pulls the window under 98% (warning) and 95% (critical).
        let (c, _) = judge(&run(0, 100, 90, 1.0), &h);
        assert_eq!(by_name(&c, "success_rate_24h").status, Status::Warning); // 286/300
        let (c, _) = judge(&run(0, 100, 50, 1.0), &h);
        assert_eq!(by_name(&c, "success_rate_24h").status, Status::Critical);
        // Nothing planned in the window: n/a.
        let (c, b) = judge(&run(0, 0, 0, 1.0), &[run(3600, 0, 0, 1.0)]);
        assert_eq!(by_name(&c, "success_rate_24h").actual, "n/a");
        assert_eq!(b.success_rate_24h, None);
    }

    #[test]
    fn jobs_are_told_apart_by_everything_that_makes_them() {
        let a = job_key("s3://a", "s3://l", Some("spot klines"), None, "auto");
        assert_eq!(
            a,
            job_key("s3://a", "s3://l", Some("spot klines"), None, "auto")
        );
        for other in [
            job_key("s3://b", "s3://l", Some("spot klines"), None, "auto"),
            job_key("s3://a", "s3://m", Some("spot klines"), None, "auto"),
            job_key("s3://a", "s3://l", Some("spot trades"), None, "auto"),
            job_key("s3://a", "s3://l", None, None, "auto"),
            job_key("s3://a", "s3://l", Some("spot klines"), Some("0/2"), "auto"),
            job_key("s3://a", "s3://l", Some("spot klines"), None, "staged"),
        ] {
            assert_ne!(a, other);
        }
    }
}
