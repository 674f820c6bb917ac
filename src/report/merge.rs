//! `lakesync report merge`: one report from the reports of the shards of a run.
//!
//! A fold over typed reports: each shard's JSON is read into a [`Report`] (same
//! `format_version`), folded field by field into the first, and written as a report again.
//! Every field of `Report` is destructured in `Fold::add`, so a new field does not compile
//! until the merge says what to do with it. Counters add up, extremes keep the extreme, the
//! derived ratios and the SLA are computed again on the whole; batches and failures keep the
//! shard they came from, and `shards[]` lists each shard's own figures.

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use crate::error::Error;
use crate::exit_codes;
use crate::os::resources::ResourceSummary;
use crate::report::sla::{self, Mode, SlaInputs, Status};
use crate::report::{FORMAT_VERSION, Integrity, Report, RunHeader, Timing, Totals};

/// Deserialize one of the report's `&'static str` fields. lakesync writes known words
/// (commands, modes, its name and version); anything else (another version's number) is
/// leaked, a few bytes per report read by this short-lived command.
pub(crate) fn static_str<'de, D: Deserializer<'de>>(d: D) -> Result<&'static str, D::Error> {
    const KNOWN: &[&str] = &[
        "sync",
        "verify",
        "direct",
        "staged",
        "mixed",
        "lakesync",
        env!("CARGO_PKG_VERSION"),
    ];
    let s = String::deserialize(d)?;
    Ok(KNOWN
        .iter()
        .copied()
        .find(|k| *k == s)
        .unwrap_or_else(|| Box::leak(s.into_boxed_str())))
}

/// Read one shard report (`name` labels it in errors).
pub fn parse(name: &str, text: &str) -> Result<Report, Error> {
    let value: Value = serde_json::from_str(text).map_err(|e| {
        Error::usage(
            format!("report {name} is not JSON: {e}"),
            "pass the files written by `lakesync sync --report PATH` (not a --summary-line)",
        )
    })?;
    let not_ours = |why: String| {
        Error::usage(
            format!(
                "{name} is not a lakesync sync report with format_version {FORMAT_VERSION}{why}"
            ),
            "pass files written by `lakesync sync --report PATH`",
        )
    };
    if value.get("format_version") != Some(&Value::from(FORMAT_VERSION))
        || value.get("command") != Some(&Value::from("sync"))
    {
        return Err(not_ours(String::new()));
    }
    serde_json::from_value(value).map_err(|e| not_ours(format!(": {e}")))
}

/// One shard's own figures, as `shards[]` lists them.
#[derive(Debug, Clone, Serialize)]
pub struct ShardEntry {
    pub shard: Option<String>,
    pub report: String,
    pub exit_code: i32,
    pub totals: Totals,
    pub resources: Option<ResourceSummary>,
    pub duration_seconds: f64,
    pub listing_seconds: f64,
}

/// The merged report: a [`Report`], plus where its parts came from.
#[derive(Debug, Clone)]
pub struct Merged {
    pub report: Report,
    /// The shard of each of `report.batches`, in order.
    pub batch_shards: Vec<String>,
    /// The shard of each of `report.failures`, in order.
    pub failure_shards: Vec<String>,
    pub shards: Vec<ShardEntry>,
}

impl Merged {
    /// The merged report as JSON: the report's fields, `shard` on every batch and failure,
    /// `merged_from`, `shards[]`, and a note on what the resource peaks mean.
    pub fn to_json(&self) -> Result<Value, Error> {
        let bug = |e: serde_json::Error| Error::internal(format!("cannot render the merge: {e}"));
        let mut v = serde_json::to_value(&self.report).map_err(bug)?;
        for (key, labels) in [
            ("batches", &self.batch_shards),
            ("failures", &self.failure_shards),
        ] {
            if let Some(items) = v.get_mut(key).and_then(Value::as_array_mut) {
                for (item, label) in items.iter_mut().zip(labels) {
                    item["shard"] = Value::from(label.as_str());
                }
            }
        }
        if let Some(r) = v.get_mut("resources").filter(|r| r.is_object()) {
            r["note"] = Value::from(
                "peaks are the highest of any shard (shards may run on different machines)",
            );
        }
        v["merged_from"] = Value::from(self.shards.len());
        v["shards"] = serde_json::to_value(&self.shards).map_err(bug)?;
        Ok(v)
    }
}

/// Merge shard reports, `(file name, report)` each, in the order given.
pub fn merge(reports: Vec<(String, Report)>, fail_on: Option<Status>) -> Result<Merged, Error> {
    let mut reports = reports.into_iter();
    let Some((name, first)) = reports.next() else {
        return Err(Error::usage(
            "no report to merge",
            "pass the shard reports: lakesync report merge shard-*.json",
        ));
    };
    let mut fold = Fold::new(name, first);
    for (name, r) in reports {
        fold.add(name, r);
    }
    Ok(fold.finish(fail_on))
}

/// How bad a shard's exit code is for the merged one.
fn severity(code: i32) -> u8 {
    match code {
        exit_codes::INTERRUPTED_SIGINT | exit_codes::INTERRUPTED_SIGTERM => 4,
        exit_codes::ENVIRONMENT => 3,
        exit_codes::OBJECTS_FAILED => 2,
        exit_codes::OK => 0,
        _ => 1, // SLA breach, nothing-to-do codes: the merge decides its own SLA.
    }
}

/// The running merge: the first report, with every later one folded in.
struct Fold {
    acc: Report,
    modes: Vec<&'static str>,
    /// Sum of `cpu_avg_pct * samples`, for the sample-weighted average.
    cpu_weighted: f64,
    worst_exit: i32,
    batch_shards: Vec<String>,
    failure_shards: Vec<String>,
    shards: Vec<ShardEntry>,
}

impl Fold {
    fn new(name: String, first: Report) -> Self {
        let mut acc = first.clone();
        // Everything that is folded starts from zero; what is kept from the first report
        // (tool, source, settings, ...) stays.
        acc.totals = Totals::default();
        acc.integrity = Integrity::default();
        acc.plan.reasons.clear();
        acc.plan.listing_seconds = 0.0;
        acc.listing = Default::default();
        acc.operations = Default::default();
        acc.batches.clear();
        acc.failures.clear();
        acc.failures_omitted = 0;
        acc.resources = None;
        acc.sampler_overhead_ms = None;
        acc.lakesync_cpu_seconds = 0.0;
        acc.throttling = Default::default();
        acc.timing.duration_seconds = 0.0;
        acc.throughput = Default::default();
        // Kept: the price table and the regions (one run, one command line).
        acc.cost = crate::report::cost::Estimate {
            prices: first.cost.prices.clone(),
            source_region: first.cost.source_region.clone(),
            dest_region: first.cost.dest_region.clone(),
            bytes_cross_region: Some(0),
            ..Default::default()
        };
        acc.run.interrupted = false;
        acc.error = None;
        acc.exit_code = exit_codes::OK;
        let mut fold = Self {
            acc,
            modes: Vec::new(),
            cpu_weighted: 0.0,
            worst_exit: exit_codes::OK,
            batch_shards: Vec::new(),
            failure_shards: Vec::new(),
            shards: Vec::new(),
        };
        fold.add(name, first);
        fold
    }

    fn add(&mut self, name: String, r: Report) {
        let Report {
            // Kept from the first report (one run, one tool, one command line).
            format_version: _,
            tool: _,
            command: _,
            settings: _,
            // Computed again on the whole in `finish`.
            sla: _,
            sla_status: _,
            // Each shard's own history judgement; the merged whole has none (shards are
            // separate jobs in the history).
            sla_history: _,
            throttling,
            mode,
            run:
                RunHeader {
                    interrupted,
                    // Kept from the first report.
                    dry_run: _,
                    source: _,
                    dest: _,
                    endpoint_url: _,
                    selection: _,
                },
            shard,
            timing:
                Timing {
                    started_at,
                    finished_at,
                    duration_seconds,
                },
            totals,
            integrity,
            plan,
            listing,
            operations,
            throughput,
            cost,
            batches,
            failures,
            failures_omitted,
            error,
            resources,
            sampler_overhead_ms,
            lakesync_cpu_seconds,
            exit_code,
        } = r;
        let acc = &mut self.acc;
        let label = shard.clone().unwrap_or_else(|| name.clone());
        self.shards.push(ShardEntry {
            shard,
            report: name,
            exit_code,
            totals: totals.clone(),
            resources: resources.clone(),
            duration_seconds,
            listing_seconds: plan.listing_seconds,
        });
        self.modes.push(mode);
        acc.run.interrupted |= interrupted;
        if self.shards.len() == 1 || started_at < acc.timing.started_at {
            acc.timing.started_at = started_at;
        }
        if finished_at > acc.timing.finished_at {
            acc.timing.finished_at = finished_at;
        }
        acc.timing.duration_seconds = acc.timing.duration_seconds.max(duration_seconds);
        acc.totals += totals;
        acc.integrity += integrity;
        for (reason, n) in plan.reasons {
            *acc.plan.reasons.entry(reason).or_default() += n;
        }
        acc.plan.listing_seconds = acc.plan.listing_seconds.max(plan.listing_seconds);
        acc.listing += listing;
        acc.operations += operations;
        acc.throughput.copy_seconds = acc.throughput.copy_seconds.max(throughput.copy_seconds);
        acc.cost.merge(&cost);
        self.batch_shards
            .extend(std::iter::repeat_n(label.clone(), batches.len()));
        acc.batches.extend(batches);
        self.failure_shards
            .extend(std::iter::repeat_n(label, failures.len()));
        acc.failures.extend(failures);
        acc.failures_omitted += failures_omitted;
        if acc.error.is_none() {
            acc.error = error;
        }
        if let Some(r) = resources {
            self.cpu_weighted += f64::from(r.cpu_avg_pct) * r.samples as f64;
            acc.resources = Some(match acc.resources.take() {
                None => r,
                Some(a) => peaks(a, r),
            });
        }
        if let Some(ms) = sampler_overhead_ms {
            *acc.sampler_overhead_ms.get_or_insert(0.0) += ms;
        }
        acc.lakesync_cpu_seconds += lakesync_cpu_seconds;
        acc.throttling.merge(throttling);
        if severity(exit_code) > severity(self.worst_exit) {
            self.worst_exit = exit_code;
        }
    }

    fn finish(mut self, fail_on: Option<Status>) -> Merged {
        self.modes.sort_unstable();
        self.modes.dedup();
        let acc = &mut self.acc;
        acc.shard = None;
        acc.mode = match self.modes.as_slice() {
            [one] => one,
            _ => "mixed",
        };
        if let Some(r) = &mut acc.resources {
            r.cpu_avg_pct = if r.samples == 0 {
                0.0
            } else {
                round3(self.cpu_weighted / r.samples as f64) as f32
            };
        }
        acc.timing.duration_seconds = round3(acc.timing.duration_seconds);
        acc.plan.listing_seconds = round3(acc.plan.listing_seconds);
        acc.throughput.copy_seconds = round3(acc.throughput.copy_seconds);
        if let Some(ms) = &mut acc.sampler_overhead_ms {
            *ms = round3(*ms);
        }
        acc.lakesync_cpu_seconds = round3(acc.lakesync_cpu_seconds);
        acc.finish_derived();
        acc.sla = sla::evaluate(&sla_inputs(acc));
        acc.sla_history = None;
        acc.sla_status = sla::worst(&acc.sla);
        acc.exit_code = match self.worst_exit {
            c if severity(c) <= 1 => exit_codes::OK,
            c => c,
        };
        if acc.exit_code == exit_codes::OK
            && let Some(level) = fail_on
            && acc.sla_status >= level
        {
            acc.exit_code = exit_codes::SLA_BREACH;
        }
        Merged {
            report: self.acc,
            batch_shards: self.batch_shards,
            failure_shards: self.failure_shards,
            shards: self.shards,
        }
    }
}

/// The SLA of the whole, as a single run would be judged.
fn sla_inputs(r: &Report) -> SlaInputs {
    let t = &r.totals;
    let mode = match r.mode {
        "staged" => Mode::Staged,
        "mixed" => Mode::Mixed,
        _ => Mode::Direct,
    };
    // As in a single run: batches under half the batch size (each shard's trailing one) are
    // dominated by fixed costs and are not judged against a per-file baseline.
    let batch_size = r.settings.batch_size;
    let batch_seconds = r
        .batches
        .iter()
        .map(|b| (b.files, b.seconds))
        .filter(|(files, _)| batch_size == 0 || *files * 2 >= batch_size)
        .collect();
    let sampled = r.resources.as_ref();
    SlaInputs {
        mode,
        planned: t.planned,
        copied: t.validated.min(t.copied),
        failed: t.failed,
        errors_seen: t.retried + t.failed,
        operations: r.operations.s5cmd_ops,
        batch_seconds,
        baseline_seconds_per_100: mode.default_baseline_seconds_per_100(),
        memory_peak_bytes: sampled.map_or(0, |s| s.total_rss_peak_bytes),
        memory_ceiling_bytes: if sampled.is_some() {
            crate::run::governor::MEMORY_CEILING_BYTES
        } else {
            0
        },
        cpu_avg_pct: sampled.map_or(0.0, |s| s.cpu_avg_pct),
        cpu_ceiling_pct: if sampled.is_some() {
            crate::run::governor::CPU_AVG_CEILING_PCT
        } else {
            0.0
        },
    }
}

/// The resource figures of two shards: peaks are the higher, samples add up (the average
/// is weighted by samples in `Fold::finish`).
fn peaks(a: ResourceSummary, b: ResourceSummary) -> ResourceSummary {
    let ResourceSummary {
        rss_peak_bytes,
        child_rss_peak_bytes,
        total_rss_peak_bytes,
        cpu_avg_pct: _,
        cpu_peak_pct,
        samples,
        interval_ms,
        logical_cpus,
    } = b;
    ResourceSummary {
        rss_peak_bytes: a.rss_peak_bytes.max(rss_peak_bytes),
        child_rss_peak_bytes: a.child_rss_peak_bytes.max(child_rss_peak_bytes),
        total_rss_peak_bytes: a.total_rss_peak_bytes.max(total_rss_peak_bytes),
        cpu_avg_pct: 0.0,
        cpu_peak_pct: a.cpu_peak_pct.max(cpu_peak_pct),
        samples: a.samples + samples,
        interval_ms: a.interval_ms.max(interval_ms),
        logical_cpus: a.logical_cpus.max(logical_cpus),
    }
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A complete shard report, as `lakesync sync --report` writes it.
    fn shard_report(shard: &str, copied: u64, failed: u64, code: i32) -> Report {
        let lc = json!({"requests": 3, "keys": 10, "prefixes": 2, "processes": 1});
        let v = json!({
            "format_version": 1, "command": "sync", "mode": "direct", "shard": shard,
            "tool": {"name": "lakesync", "version": "0.0.9", "s5cmd_version": "v2.3.0", "s5cmd_path": "/bin/s5cmd"},
            "dry_run": false, "interrupted": false, "source": "s3://src", "dest": "s3://dst",
            "endpoint_url": null, "selection": null,
            "started_at": format!("2026-01-01T00:00:0{}Z", copied % 10), "finished_at": "2026-01-01T00:01:00Z",
            "duration_seconds": 2.0 + copied as f64,
            "settings": {"batch_size": 150, "workers": 32, "attempts": 3, "retry_count": 3, "batch_timeout_seconds": 1800},
            "totals": {"selected": copied + failed + 1, "planned": copied + failed, "skipped": 1, "copied": copied,
                       "failed": failed, "validated": copied, "bytes_planned": 0, "bytes_skipped": 0,
                       "bytes_copied": copied * 10, "batches": 1, "retried": 0, "throttled": 0, "fallback": 0},
            "integrity": {"checksums_verified": 0, "unverified": 0},
            "plan": {"reasons": {"missing": copied + failed}, "prefixes": 1, "listing_seconds": 0.5},
            "operations": {"by_kind": {"copy": copied + failed, "list": 0, "download": 0, "stat": 0, "verify": 0, "upload": 0, "cleanup": 0},
                           "s5cmd_ops": copied + failed, "s5cmd_processes": 2, "per_file": 1.0,
                           "network_transfers_per_file": 1.0, "local_bytes_written": 0, "unparsed_lines": 0,
                           "unplanned_copies": 1, "multipart_uploads_aborted": 1},
            "listing": {"discovery": lc, "source": lc, "dest": lc, "validation": lc, "in_flight_max": 2},
            "throughput": {"files_per_s": 1.0, "bytes_per_s": 1.0, "copy_seconds": 1.0},
            "batches": [{"index": 0, "files": copied + failed, "copied": copied, "failed": failed, "bytes": 0,
                         "attempts": 1, "seconds": 0.1, "workers": 32, "rss_peak_bytes": 0, "cpu_avg_pct": 0.0,
                         "cpu_peak_pct": 0.0, "next_workers": 32, "governor": null, "folders": 0}],
            "failures": (0..failed).map(|i| json!({"key": format!("k{i}"), "source": "s3://src/k", "error": "x",
                                                   "class": "transient", "attempts": 3})).collect::<Vec<_>>(),
            "failures_omitted": 0, "error": null,
            "resources": {"rss_peak_bytes": 5, "child_rss_peak_bytes": 7, "total_rss_peak_bytes": 12,
                          "cpu_avg_pct": 10.0, "cpu_peak_pct": 20.0, "samples": 4, "interval_ms": 200, "logical_cpus": 2},
            "sampler_overhead_ms": 1.5, "lakesync_cpu_seconds": 0.25,
            "sla": [], "sla_status": "ok",
            "exit_code": code,
        });
        parse("t.json", &v.to_string()).unwrap()
    }

    fn merged(reports: &[(&str, Report)], fail_on: Option<Status>) -> Value {
        let reports = reports
            .iter()
            .map(|(n, r)| (n.to_string(), r.clone()))
            .collect();
        merge(reports, fail_on).unwrap().to_json().unwrap()
    }

    #[test]
    fn totals_add_up_and_failures_keep_their_shard() {
        let m = merged(
            &[
                ("a.json", shard_report("0/2", 10, 0, 0)),
                ("b.json", shard_report("1/2", 5, 2, 1)),
            ],
            None,
        );
        assert_eq!(m["totals"]["copied"], 15);
        assert_eq!(m["totals"]["failed"], 2);
        assert_eq!(m["totals"]["planned"], 17);
        assert_eq!(m["totals"]["skipped"], 2);
        assert_eq!(m["operations"]["s5cmd_ops"], 17);
        assert_eq!(m["operations"]["unplanned_copies"], 2);
        assert_eq!(m["operations"]["multipart_uploads_aborted"], 2);
        assert_eq!(m["listing"]["source"]["requests"], 6);
        assert_eq!(m["listing"]["validation"]["keys"], 20);
        assert_eq!(m["listing"]["in_flight_max"], 4);
        assert_eq!(m["sampler_overhead_ms"], 3.0);
        assert_eq!(m["lakesync_cpu_seconds"], 0.5);
        assert_eq!(m["plan"]["reasons"]["missing"], 17);
        assert_eq!(m["failures"].as_array().unwrap().len(), 2);
        assert!(
            m["failures"]
                .as_array()
                .unwrap()
                .iter()
                .all(|f| f["shard"] == "1/2")
        );
        assert_eq!(m["batches"][0]["shard"], "0/2");
        assert_eq!(m["batches"][1]["shard"], "1/2");
        assert_eq!(m["shards"].as_array().unwrap().len(), 2);
        assert_eq!(m["merged_from"], 2);
        assert_eq!(m["shard"], Value::Null);
        assert_eq!(m["exit_code"], 1);
        assert_eq!(m["duration_seconds"], 12.0);
        assert_eq!(m["started_at"], "2026-01-01T00:00:00Z");
        assert_eq!(m["resources"]["samples"], 8);
        assert_eq!(m["resources"]["cpu_avg_pct"], 10.0);
        assert_eq!(m["tool"]["version"], "0.0.9");
        let success = m["sla"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == "success_rate")
            .unwrap()
            .clone();
        assert_eq!(success["status"], "critical", "{success}");
    }

    #[test]
    fn cost_adds_up_across_shards() {
        use crate::report::cost::{self, Moved, PriceTable, Requests, Route, SideRequests};
        let with_cost = |shard: &str, copied: u64| {
            let mut r = shard_report(shard, copied, 0, 0);
            r.cost = cost::estimate(
                Requests::new(
                    SideRequests::default(),
                    SideRequests {
                        copy: copied,
                        ..Default::default()
                    },
                ),
                Moved {
                    direct: copied << 30,
                    staged: 0,
                },
                copied,
                &PriceTable::default(),
                &Route {
                    source_region: Some("ap-northeast-1".into()),
                    dest_region: Some("us-east-1".into()),
                    staged_via_internet: false,
                },
            );
            r
        };
        let m = merged(
            &[("a", with_cost("0/2", 10)), ("b", with_cost("1/2", 5))],
            None,
        );
        let c = &m["cost"];
        assert_eq!(c["requests"]["dest"]["copy"], 15, "{c}");
        assert_eq!(c["requests"]["put_class"], 15);
        assert_eq!(c["bytes_cross_region"], 15u64 << 30);
        assert_eq!(c["files"], 15);
        assert_eq!(c["prices"]["name"], cost::DEFAULT_NAME);
        assert_eq!(c["source_region"], "ap-northeast-1");
        // 15 copies at 0.005 per 1,000 and 15 GB at 0.02.
        let total = c["usd_total"].as_f64().unwrap();
        assert!(
            (total - (15.0 * 0.005 / 1000.0 + 15.0 * 0.02)).abs() < 1e-9,
            "{c}"
        );
        let per_file = c["usd_per_file"].as_f64().unwrap();
        assert!((per_file - total / 15.0).abs() < 1e-9, "{c}");
    }

    #[test]
    fn fail_on_turns_a_breach_into_exit_4_and_bad_inputs_are_refused() {
        let ok = merged(
            &[("a", shard_report("0/1", 10, 0, 0))],
            Some(Status::Warning),
        );
        assert_eq!(ok["exit_code"], 0, "{}", ok["sla"]);
        // A nothing-to-do shard (exit 99) does not fail the merge.
        let skipped = merged(
            &[
                ("a", shard_report("0/2", 10, 0, 0)),
                ("b", shard_report("1/2", 0, 0, 99)),
            ],
            None,
        );
        assert_eq!(skipped["exit_code"], 0);
        let bad = merged(
            &[("a", shard_report("0/1", 10, 1, 1))],
            Some(Status::Critical),
        );
        assert_eq!(bad["exit_code"], 1, "object failures stay exit 1");
        let breach = merged(
            &[("a", shard_report("0/1", 97, 2, 0))],
            Some(Status::Warning),
        );
        assert_eq!(
            breach["exit_code"], 4,
            "97 of 99 is below the 98% warning: {}",
            breach["sla"]
        );
        let e = parse("x.json", r#"{"format_version": 9}"#).unwrap_err();
        assert!(e.message().contains("x.json"), "{e:?}");
        let e = parse("y.json", r#"{"format_version": 1, "command": "sync"}"#).unwrap_err();
        assert!(e.message().contains("missing field"), "{e:?}");
        assert!(merge(Vec::new(), None).is_err());
    }
}
