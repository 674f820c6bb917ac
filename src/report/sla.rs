//! SLA evaluation: turns a run's counts, batch times and resource peaks into named checks
//! with a status each (spec 5.2.1 alert thresholds, 8.1.1 SLAs). Pure.
//!
//! Every check carries `value`, the number its thresholds apply to, in percent:
//! - `success_rate`: copied / planned. Interrupted runs count what was not attempted as not
//!   copied: the SLA is about the run delivering its plan.
//! - `batch_time_p95`: each batch's seconds as a percentage of the baseline scaled to its
//!   file count, then the 95th percentile (nearest rank) over batches.
//! - `memory`: peak (lakesync plus children) as a percentage of the ceiling.
//! - `error_rate`: error lines (retried ones included) per s5cmd operation.
//! - `cpu_avg`: average CPU as a percentage of the CPU ceiling.
//!
//! A check with nothing to measure (no objects planned, no batches, no ceiling) is `ok`
//! with `actual` "n/a". Values are rounded to 6 decimals before comparison so a boundary
//! case (exactly 95%, exactly 150%) lands on the side the spec says, not on float noise.

use serde::{Deserialize, Serialize};

/// Below this success rate: critical (spec 5.2.1).
pub const SUCCESS_CRITICAL_BELOW_PCT: f64 = 95.0;
/// Below this success rate: warning (spec 5.2.1; also the general target, 8.1.1).
pub const SUCCESS_WARNING_BELOW_PCT: f64 = 98.0;
/// The direct-mode target (8.1.1); shown in the check's target, not a status threshold.
pub const SUCCESS_TARGET_DIRECT_PCT: f64 = 99.0;
/// Batch time above this percentage of baseline: warning.
pub const BATCH_TIME_WARNING_ABOVE_PCT: f64 = 150.0;
/// Batch time above this percentage of baseline: critical.
pub const BATCH_TIME_CRITICAL_ABOVE_PCT: f64 = 200.0;
/// The percentile of batch times the SLA is measured on (8.1.1).
pub const BATCH_TIME_PERCENTILE: f64 = 95.0;
/// Memory above this percentage of the ceiling: warning.
pub const MEMORY_WARNING_ABOVE_PCT: f64 = 60.0;
/// Memory above this percentage of the ceiling: critical.
pub const MEMORY_CRITICAL_ABOVE_PCT: f64 = 80.0;
/// Error lines above this percentage of operations: warning.
pub const ERROR_RATE_WARNING_ABOVE_PCT: f64 = 2.0;
/// Error lines above this percentage of operations: critical.
pub const ERROR_RATE_CRITICAL_ABOVE_PCT: f64 = 5.0;
/// Average CPU above this percentage of the CPU ceiling: warning (approaching it).
pub const CPU_WARNING_ABOVE_PCT_OF_CEILING: f64 = 80.0;
/// Average CPU above the ceiling itself: critical (the SLA is broken).
pub const CPU_CRITICAL_ABOVE_PCT_OF_CEILING: f64 = 100.0;
/// Direct mode: 1.5 s per batch of 100 files (spec 2.1.2, 8.1.1).
pub const DIRECT_BASELINE_SECONDS_PER_100: f64 = 1.5;
/// Staged (traditional) mode: 3.3 s per batch of 100 files (spec 2.1.1).
pub const STAGED_BASELINE_SECONDS_PER_100: f64 = 3.3;

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Ok,
    Warning,
    Critical,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Warning => "warning",
            Status::Critical => "critical",
        }
    }

    /// 0, 1, 2: for metrics and exit-code style comparisons.
    pub fn level(self) -> u8 {
        match self {
            Status::Ok => 0,
            Status::Warning => 1,
            Status::Critical => 2,
        }
    }
}

/// How the run moved objects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Server-side copies only.
    Direct,
    /// Download then upload.
    Staged,
    /// Some batches of each.
    Mixed,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Direct => "direct",
            Mode::Staged => "staged",
            Mode::Mixed => "mixed",
        }
    }

    /// The spec's baseline for this mode. A mixed run is held to the staged baseline: the
    /// slower path bounds it.
    pub fn default_baseline_seconds_per_100(self) -> f64 {
        match self {
            Mode::Direct => DIRECT_BASELINE_SECONDS_PER_100,
            Mode::Staged | Mode::Mixed => STAGED_BASELINE_SECONDS_PER_100,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Check {
    pub name: String,
    pub target: String,
    pub actual: String,
    pub status: Status,
    /// The number the thresholds apply to (percent; see the module docs).
    pub value: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SlaInputs {
    pub mode: Mode,
    pub planned: u64,
    pub copied: u64,
    pub failed: u64,
    /// Error lines, retried ones included.
    pub errors_seen: u64,
    /// s5cmd operations issued, retries included.
    pub operations: u64,
    /// (files, seconds) per batch.
    pub batch_seconds: Vec<(usize, f64)>,
    /// Usually `mode.default_baseline_seconds_per_100()`.
    pub baseline_seconds_per_100: f64,
    /// lakesync plus children.
    pub memory_peak_bytes: u64,
    pub memory_ceiling_bytes: u64,
    /// Per machine.
    pub cpu_avg_pct: f32,
    pub cpu_ceiling_pct: f32,
}

/// All checks, in a fixed order: success_rate, batch_time_p95, memory, error_rate, cpu_avg,
/// complete_failure.
pub fn evaluate(inputs: &SlaInputs) -> Vec<Check> {
    vec![
        success_rate(inputs),
        batch_time_p95(inputs),
        memory(inputs),
        error_rate(inputs),
        cpu_avg(inputs),
        complete_failure(inputs),
    ]
}

/// "Complete operation failure" (spec 5.2.1): nothing copied of a non-empty plan is
/// critical, whatever else the run did.
fn complete_failure(i: &SlaInputs) -> Check {
    let target = "at least one object copied of a non-empty plan (none: critical)".to_string();
    if i.planned == 0 {
        return not_applicable("complete_failure", target, 100.0);
    }
    let value = pct(i.copied as f64, i.planned as f64);
    Check {
        name: "complete_failure".into(),
        target,
        actual: if i.copied == 0 {
            format!("nothing copied of {} planned", i.planned)
        } else {
            format!("{} of {} copied", i.copied, i.planned)
        },
        status: if i.copied == 0 {
            Status::Critical
        } else {
            Status::Ok
        },
        value,
    }
}

/// The most severe status; `Ok` for no checks.
pub fn worst(checks: &[Check]) -> Status {
    checks.iter().map(|c| c.status).max().unwrap_or(Status::Ok)
}

fn round6(x: f64) -> f64 {
    (x * 1e6).round() / 1e6
}

/// `numerator / denominator` in percent, multiplied first so exact ratios stay exact.
fn pct(numerator: f64, denominator: f64) -> f64 {
    round6(numerator * 100.0 / denominator)
}

/// Status for a value where lower is worse.
fn below(value: f64, critical_below: f64, warning_below: f64) -> Status {
    if value < critical_below {
        Status::Critical
    } else if value < warning_below {
        Status::Warning
    } else {
        Status::Ok
    }
}

/// Status for a value where higher is worse.
fn above(value: f64, warning_above: f64, critical_above: f64) -> Status {
    if value > critical_above {
        Status::Critical
    } else if value > warning_above {
        Status::Warning
    } else {
        Status::Ok
    }
}

fn not_applicable(name: &str, target: String, value: f64) -> Check {
    Check {
        name: name.into(),
        target,
        actual: "n/a".into(),
        status: Status::Ok,
        value,
    }
}

fn success_rate(i: &SlaInputs) -> Check {
    let target = match i.mode {
        Mode::Direct => format!(
            ">= {SUCCESS_TARGET_DIRECT_PCT}% (warning < {SUCCESS_WARNING_BELOW_PCT}%, critical < {SUCCESS_CRITICAL_BELOW_PCT}%)"
        ),
        Mode::Staged | Mode::Mixed => {
            format!(">= {SUCCESS_WARNING_BELOW_PCT}% (critical < {SUCCESS_CRITICAL_BELOW_PCT}%)")
        }
    };
    if i.planned == 0 {
        return not_applicable("success_rate", target, 100.0);
    }
    let value = pct(i.copied as f64, i.planned as f64);
    Check {
        name: "success_rate".into(),
        target,
        actual: format!(
            "{value:.2}% ({} of {} copied, {} failed)",
            i.copied, i.planned, i.failed
        ),
        status: below(value, SUCCESS_CRITICAL_BELOW_PCT, SUCCESS_WARNING_BELOW_PCT),
        value,
    }
}

/// Nearest-rank percentile of `values` (sorted in place); `None` when empty.
fn percentile(values: &mut [f64], p: f64) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let rank = (p / 100.0 * values.len() as f64).ceil() as usize;
    Some(values[rank.clamp(1, values.len()) - 1])
}

fn batch_time_p95(i: &SlaInputs) -> Check {
    let base = i.baseline_seconds_per_100;
    let target = format!(
        "p{BATCH_TIME_PERCENTILE} <= {BATCH_TIME_WARNING_ABOVE_PCT}% of {base} s per 100 files (critical > {BATCH_TIME_CRITICAL_ABOVE_PCT}%)"
    );
    if base <= 0.0 || !base.is_finite() {
        return not_applicable("batch_time_p95", target, 0.0);
    }
    // Each batch against the baseline for its own size: a 50-file batch gets 0.75 s.
    let mut normalised: Vec<f64> = i
        .batch_seconds
        .iter()
        .filter(|(files, secs)| *files > 0 && secs.is_finite())
        .map(|&(files, secs)| pct(secs, base * files as f64 / 100.0))
        .collect();
    let n = normalised.len();
    let Some(value) = percentile(&mut normalised, BATCH_TIME_PERCENTILE) else {
        return not_applicable("batch_time_p95", target, 0.0);
    };
    Check {
        name: "batch_time_p95".into(),
        target,
        actual: format!(
            "{value:.1}% of baseline ({:.2} s per 100 files, p{BATCH_TIME_PERCENTILE} over {n} batches)",
            value / 100.0 * base
        ),
        status: above(
            value,
            BATCH_TIME_WARNING_ABOVE_PCT,
            BATCH_TIME_CRITICAL_ABOVE_PCT,
        ),
        value,
    }
}

fn mb(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1e6)
}

fn memory(i: &SlaInputs) -> Check {
    let target = format!(
        "<= {MEMORY_WARNING_ABOVE_PCT}% of {} (critical > {MEMORY_CRITICAL_ABOVE_PCT}%)",
        mb(i.memory_ceiling_bytes)
    );
    if i.memory_ceiling_bytes == 0 {
        return not_applicable("memory", target, 0.0);
    }
    let value = pct(i.memory_peak_bytes as f64, i.memory_ceiling_bytes as f64);
    Check {
        name: "memory".into(),
        target,
        actual: format!(
            "{} peak = {value:.1}% of the ceiling",
            mb(i.memory_peak_bytes)
        ),
        status: above(value, MEMORY_WARNING_ABOVE_PCT, MEMORY_CRITICAL_ABOVE_PCT),
        value,
    }
}

fn error_rate(i: &SlaInputs) -> Check {
    let target = format!(
        "<= {ERROR_RATE_WARNING_ABOVE_PCT}% of operations (critical > {ERROR_RATE_CRITICAL_ABOVE_PCT}%)"
    );
    if i.operations == 0 {
        return not_applicable("error_rate", target, 0.0);
    }
    let value = pct(i.errors_seen as f64, i.operations as f64);
    Check {
        name: "error_rate".into(),
        target,
        actual: format!(
            "{value:.2}% ({} errors in {} operations)",
            i.errors_seen, i.operations
        ),
        status: above(
            value,
            ERROR_RATE_WARNING_ABOVE_PCT,
            ERROR_RATE_CRITICAL_ABOVE_PCT,
        ),
        value,
    }
}

fn cpu_avg(i: &SlaInputs) -> Check {
    let ceiling = f64::from(i.cpu_ceiling_pct);
    let target =
        format!("< {ceiling}% average (warning > {CPU_WARNING_ABOVE_PCT_OF_CEILING}% of it)");
    if ceiling <= 0.0 || !ceiling.is_finite() {
        return not_applicable("cpu_avg", target, 0.0);
    }
    let avg = f64::from(i.cpu_avg_pct);
    let value = pct(avg, ceiling);
    Check {
        name: "cpu_avg".into(),
        target,
        actual: format!("{avg:.1}% average = {value:.1}% of the ceiling"),
        status: above(
            value,
            CPU_WARNING_ABOVE_PCT_OF_CEILING,
            CPU_CRITICAL_ABOVE_PCT_OF_CEILING,
        ),
        value,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MB: u64 = 1_000_000;

    fn healthy() -> SlaInputs {
        SlaInputs {
            mode: Mode::Direct,
            planned: 100,
            copied: 100,
            failed: 0,
            errors_seen: 0,
            operations: 100,
            batch_seconds: vec![(100, 1.0)],
            baseline_seconds_per_100: DIRECT_BASELINE_SECONDS_PER_100,
            memory_peak_bytes: 100 * MB,
            memory_ceiling_bytes: 500 * MB,
            cpu_avg_pct: 5.0,
            cpu_ceiling_pct: 25.0,
        }
    }

    /// A healthy run that copied `copied` of `planned` files, the rest failed.
    fn copied_of(copied: u64, planned: u64) -> SlaInputs {
        SlaInputs {
            planned,
            copied,
            failed: planned - copied,
            ..healthy()
        }
    }

    fn check(inputs: &SlaInputs, name: &str) -> Check {
        evaluate(inputs)
            .into_iter()
            .find(|c| c.name == name)
            .unwrap_or_else(|| panic!("no check {name}"))
    }

    fn status(inputs: &SlaInputs, name: &str) -> Status {
        check(inputs, name).status
    }

    /// Asserts check `name`'s three bands: the inputs `at(case)` are Ok for
    /// each case of `ok`, Warning for `warning`, Critical for `critical`; a
    /// failure names the check and the case.
    fn assert_bands<T: Copy + std::fmt::Debug>(
        name: &str,
        at: impl Fn(T) -> SlaInputs,
        ok: &[T],
        warning: &[T],
        critical: &[T],
    ) {
        let bands = [
            (Status::Ok, ok),
            (Status::Warning, warning),
            (Status::Critical, critical),
        ];
        for (expected, cases) in bands {
            for &case in cases {
                assert_eq!(status(&at(case), name), expected, "{name} at {case:?}");
            }
        }
    }

    #[test]
    fn healthy_run_is_all_ok_in_order() {
        let checks = evaluate(&healthy());
        let names: Vec<&str> = checks.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "success_rate",
                "batch_time_p95",
                "memory",
                "error_rate",
                "cpu_avg",
                "complete_failure"
            ]
        );
        assert!(checks.iter().all(|c| c.status == Status::Ok), "{checks:?}");
        assert_eq!(worst(&checks), Status::Ok);
    }

    #[test]
    fn success_rate_boundaries() {
        let at = |(copied, planned)| copied_of(copied, planned);
        // Critical below 95% (94.95% too), Ok from 98%.
        assert_bands(
            "success_rate",
            at,
            &[(98, 100), (49, 50)],
            &[(95, 100), (19, 20), (97, 100)],
            &[(94, 100), (1899, 2000)],
        );
        assert_eq!(check(&at((95, 100)), "success_rate").value, 95.0);
    }

    #[test]
    fn nothing_planned_is_not_applicable() {
        let nothing = SlaInputs {
            planned: 0,
            copied: 0,
            operations: 0,
            batch_seconds: vec![],
            ..healthy()
        };
        let c = check(&nothing, "success_rate");
        assert_eq!((c.status, c.actual.as_str()), (Status::Ok, "n/a"));
        let all = evaluate(&nothing);
        assert_eq!(worst(&all), Status::Ok);
        assert_eq!(all[1].actual, "n/a");
        assert_eq!(all[3].actual, "n/a");
    }

    #[test]
    fn direct_target_is_shown_but_98_is_ok() {
        let i = copied_of(98, 100);
        let c = check(&i, "success_rate");
        assert!(c.target.starts_with(">= 99%"), "{}", c.target);
        assert_eq!(c.status, Status::Ok);
        let staged = SlaInputs {
            mode: Mode::Staged,
            ..i
        };
        assert!(check(&staged, "success_rate").target.starts_with(">= 98%"));
    }

    #[test]
    fn batch_time_boundaries() {
        let one = |secs| SlaInputs {
            batch_seconds: vec![(100, secs)],
            ..healthy()
        };
        // 1.5 s baseline: 150% = 2.25 s, 200% = 3.0 s.
        assert_bands("batch_time_p95", one, &[2.25], &[2.26, 3.0], &[3.01]);
        assert_eq!(check(&one(2.25), "batch_time_p95").value, 150.0);
        // A decimal that is not exact in binary, exactly at 150% of a 0.1 s baseline.
        let inexact = SlaInputs {
            batch_seconds: vec![(100, 0.15)],
            baseline_seconds_per_100: 0.1,
            ..healthy()
        };
        assert_eq!(status(&inexact, "batch_time_p95"), Status::Ok);
    }

    #[test]
    fn batch_time_scales_with_file_count_and_mode() {
        // 50 files: baseline 0.75 s, so 1.2 s is 160%.
        let half = SlaInputs {
            batch_seconds: vec![(50, 1.2)],
            ..healthy()
        };
        let c = check(&half, "batch_time_p95");
        assert_eq!((c.value, c.status), (160.0, Status::Warning));
        // The same batch against the staged baseline (3.3 s / 100) is fine.
        let staged = SlaInputs {
            mode: Mode::Staged,
            baseline_seconds_per_100: Mode::Staged.default_baseline_seconds_per_100(),
            batch_seconds: vec![(100, 3.3)],
            ..healthy()
        };
        assert_eq!(check(&staged, "batch_time_p95").value, 100.0);
        assert_eq!(Mode::Mixed.default_baseline_seconds_per_100(), 3.3);
    }

    #[test]
    fn batch_time_uses_the_95th_percentile() {
        // 20 batches, one slow: nearest rank 19 of 20 is a fast one.
        let mut b = vec![(100, 1.5); 19];
        b.push((100, 10.0));
        let i = SlaInputs {
            batch_seconds: b.clone(),
            ..healthy()
        };
        assert_eq!(check(&i, "batch_time_p95").value, 100.0);
        // Two slow ones out of 20 reach the 95th percentile.
        b[0] = (100, 4.5);
        let i = SlaInputs {
            batch_seconds: b,
            ..healthy()
        };
        let c = check(&i, "batch_time_p95");
        assert_eq!((c.value, c.status), (300.0, Status::Critical));
        // Empty batches are ignored.
        let i = SlaInputs {
            batch_seconds: vec![(0, 9.0), (100, 1.5)],
            ..healthy()
        };
        assert_eq!(check(&i, "batch_time_p95").value, 100.0);
    }

    #[test]
    fn percentile_nearest_rank() {
        assert_eq!(percentile(&mut [], 95.0), None);
        assert_eq!(percentile(&mut [3.0], 95.0), Some(3.0));
        assert_eq!(percentile(&mut [5.0, 1.0, 3.0, 2.0, 4.0], 50.0), Some(3.0));
        assert_eq!(percentile(&mut [5.0, 1.0, 3.0, 2.0, 4.0], 95.0), Some(5.0));
    }

    #[test]
    fn memory_boundaries() {
        let at = |mb_used| SlaInputs {
            memory_peak_bytes: mb_used * MB,
            ..healthy()
        };
        // Of the 500 MB ceiling: Ok up to 60%, Warning up to 80%.
        assert_bands("memory", at, &[300], &[301, 400], &[401]);
        let none = SlaInputs {
            memory_ceiling_bytes: 0,
            ..healthy()
        };
        assert_eq!(check(&none, "memory").actual, "n/a");
    }

    #[test]
    fn error_rate_boundaries() {
        let at = |(errors, ops): (u64, u64)| SlaInputs {
            errors_seen: errors,
            operations: ops,
            ..healthy()
        };
        // 7 in 350 is exactly 2%: not above.
        assert_bands(
            "error_rate",
            at,
            &[(2, 100), (7, 350)],
            &[(3, 100), (5, 100)],
            &[(6, 100)],
        );
        assert_eq!(check(&at((7, 350)), "error_rate").value, 2.0);
    }

    #[test]
    fn cpu_boundaries() {
        let at = |avg| SlaInputs {
            cpu_avg_pct: avg,
            ..healthy()
        };
        // Of the 25% ceiling: Ok up to 80%, Warning up to 100%.
        assert_bands("cpu_avg", at, &[20.0], &[21.0, 25.0], &[25.5]);
    }

    #[test]
    fn copying_nothing_of_a_plan_is_a_complete_failure() {
        let none = copied_of(0, 100);
        let c = check(&none, "complete_failure");
        assert_eq!((c.status, c.value), (Status::Critical, 0.0));
        assert!(c.actual.contains("nothing copied of 100"), "{c:?}");
        let one = copied_of(1, 100);
        assert_eq!(status(&one, "complete_failure"), Status::Ok);
        let empty = copied_of(0, 0);
        assert_eq!(check(&empty, "complete_failure").actual, "n/a");
    }

    #[test]
    fn worst_is_the_most_severe() {
        let mut checks = evaluate(&healthy());
        assert_eq!(worst(&checks), Status::Ok);
        checks[2].status = Status::Warning;
        assert_eq!(worst(&checks), Status::Warning);
        checks[4].status = Status::Critical;
        assert_eq!(worst(&checks), Status::Critical);
        assert_eq!(worst(&[]), Status::Ok);
    }

    #[test]
    fn checks_round_trip_through_json() {
        let checks = evaluate(&healthy());
        let json = serde_json::to_string(&checks).expect("serialize");
        assert!(json.contains(r#""status":"ok""#));
        let back: Vec<Check> = serde_json::from_str(&json).expect("deserialize");
        assert_eq!(back, checks);
    }
}
