//! `lakesync report merge`: one report from the reports of the shards of a run.
//!
//! Works on the JSON documents (same `format_version`), so reports written by any lakesync
//! version with this format merge: counters add up, failures and batches keep their shard,
//! per-shard resources are listed, and the SLA is evaluated again on the whole.

use serde_json::{Map, Value, json};

use crate::error::UsageError;
use crate::exit_codes;
use crate::report::sla::{self, Mode, SlaInputs, Status};

fn num(v: &Value, path: &[&str]) -> f64 {
    let mut cur = v;
    for p in path {
        match cur.get(p) {
            Some(x) => cur = x,
            None => return 0.0,
        }
    }
    cur.as_f64().unwrap_or(0.0)
}

/// Add every numeric field of `from` into `into` (objects recursively).
fn add_numbers(into: &mut Map<String, Value>, from: &Map<String, Value>) {
    for (k, v) in from {
        match (into.get_mut(k), v) {
            (Some(Value::Number(a)), Value::Number(b)) => {
                let sum = if let (Some(x), Some(y)) = (a.as_u64(), b.as_u64()) {
                    json!(x + y)
                } else {
                    json!(a.as_f64().unwrap_or(0.0) + b.as_f64().unwrap_or(0.0))
                };
                into.insert(k.clone(), sum);
            }
            (Some(Value::Object(a)), Value::Object(b)) => add_numbers(a, b),
            (None, v) => {
                into.insert(k.clone(), v.clone());
            }
            _ => {}
        }
    }
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// Merge shard reports. `names` label each report (its file name) in errors.
pub fn merge(reports: &[(String, Value)], fail_on: Option<Status>) -> Result<Value, UsageError> {
    let Some((_, first)) = reports.first() else {
        return Err(UsageError::new(
            "no report to merge",
            "pass the shard reports: lakesync report merge shard-*.json",
        ));
    };
    for (name, r) in reports {
        if r.get("format_version") != Some(&json!(crate::report::FORMAT_VERSION))
            || r.get("command") != Some(&json!("sync"))
        {
            return Err(UsageError::new(
                format!(
                    "{name} is not a lakesync sync report with format_version {}",
                    crate::report::FORMAT_VERSION
                ),
                "pass files written by `lakesync sync --report PATH`",
            ));
        }
    }
    let mut totals = Map::new();
    let mut integrity = Map::new();
    let mut by_kind = Map::new();
    let mut reasons = Map::new();
    let mut batches = Vec::new();
    let mut failures = Vec::new();
    let mut shards = Vec::new();
    let mut modes: Vec<&str> = Vec::new();
    let (mut started, mut finished) = (String::new(), String::new());
    let (mut duration, mut listing, mut copy_seconds) = (0.0f64, 0.0f64, 0.0f64);
    let (mut s5cmd_ops, mut processes, mut local_bytes, mut unparsed, mut failures_omitted) =
        (0u64, 0u64, 0u64, 0u64, 0u64);
    let (mut rss, mut child_rss, mut total_rss, mut cpu_peak) = (0u64, 0u64, 0u64, 0.0f64);
    let (mut cpu_weighted, mut samples) = (0.0f64, 0u64);
    let mut interrupted = false;
    let mut mpu_aborted = 0u64;
    let mut worst_exit = exit_codes::OK;
    let severity = |c: i64| match c as i32 {
        exit_codes::INTERRUPTED_SIGINT | exit_codes::INTERRUPTED_SIGTERM => 4,
        exit_codes::ENVIRONMENT => 3,
        exit_codes::OBJECTS_FAILED => 2,
        exit_codes::OK => 0,
        _ => 1, // SLA breach, nothing-to-do codes: the merge decides its own SLA.
    };
    for (name, r) in reports {
        let shard = r.get("shard").cloned().unwrap_or(Value::Null);
        let label = shard.as_str().map_or_else(|| name.clone(), String::from);
        if let Some(t) = r.get("totals").and_then(Value::as_object) {
            add_numbers(&mut totals, t);
        }
        if let Some(t) = r.get("integrity").and_then(Value::as_object) {
            add_numbers(&mut integrity, t);
        }
        if let Some(t) = r.pointer("/operations/by_kind").and_then(Value::as_object) {
            add_numbers(&mut by_kind, t);
        }
        if let Some(t) = r.pointer("/plan/reasons").and_then(Value::as_object) {
            add_numbers(&mut reasons, t);
        }
        for b in r
            .get("batches")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let mut b = b.clone();
            if let Some(o) = b.as_object_mut() {
                o.insert("shard".into(), json!(label));
            }
            batches.push(b);
        }
        for f in r
            .get("failures")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let mut f = f.clone();
            if let Some(o) = f.as_object_mut() {
                o.insert("shard".into(), json!(label));
            }
            failures.push(f);
        }
        let s = |k: &str| {
            r.get(k)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        if started.is_empty() || s("started_at") < started {
            started = s("started_at");
        }
        if s("finished_at") > finished {
            finished = s("finished_at");
        }
        duration = duration.max(num(r, &["duration_seconds"]));
        listing = listing.max(num(r, &["plan", "listing_seconds"]));
        copy_seconds = copy_seconds.max(num(r, &["throughput", "copy_seconds"]));
        s5cmd_ops += num(r, &["operations", "s5cmd_ops"]) as u64;
        processes += num(r, &["operations", "s5cmd_processes"]) as u64;
        local_bytes += num(r, &["operations", "local_bytes_written"]) as u64;
        unparsed += num(r, &["operations", "unparsed_lines"]) as u64;
        mpu_aborted += num(r, &["operations", "multipart_uploads_aborted"]) as u64;
        failures_omitted += num(r, &["failures_omitted"]) as u64;
        if let Some(res) = r.get("resources").filter(|v| v.is_object()) {
            rss = rss.max(num(res, &["rss_peak_bytes"]) as u64);
            child_rss = child_rss.max(num(res, &["child_rss_peak_bytes"]) as u64);
            total_rss = total_rss.max(num(res, &["total_rss_peak_bytes"]) as u64);
            cpu_peak = cpu_peak.max(num(res, &["cpu_peak_pct"]));
            let n = num(res, &["samples"]) as u64;
            cpu_weighted += num(res, &["cpu_avg_pct"]) * n as f64;
            samples += n;
        }
        interrupted |= r.get("interrupted") == Some(&json!(true));
        let code = r.get("exit_code").and_then(Value::as_i64).unwrap_or(0);
        if severity(code) > severity(i64::from(worst_exit)) {
            worst_exit = code as i32;
        }
        modes.push(r.get("mode").and_then(Value::as_str).unwrap_or("direct"));
        shards.push(json!({
            "shard": shard,
            "report": name,
            "exit_code": code,
            "totals": r.get("totals"),
            "resources": r.get("resources"),
            "duration_seconds": r.get("duration_seconds"),
            "listing_seconds": r.pointer("/plan/listing_seconds"),
        }));
    }
    modes.sort_unstable();
    modes.dedup();
    let mode = match modes.as_slice() {
        [one] => *one,
        _ => "mixed",
    };
    let t = |k: &str| totals.get(k).and_then(Value::as_u64).unwrap_or(0);
    let attempted = t("copied") + t("failed");
    let ops_total: u64 = by_kind.values().filter_map(Value::as_u64).sum();
    let transfers: u64 = ["copy", "download", "upload"]
        .iter()
        .filter_map(|k| by_kind.get(*k).and_then(Value::as_u64))
        .sum();
    let ratio = |a: u64, b: u64| {
        if b == 0 {
            0.0
        } else {
            round3(a as f64 / b as f64)
        }
    };
    let cpu_avg = if samples == 0 {
        0.0
    } else {
        cpu_weighted / samples as f64
    };
    let resources = (samples > 0).then(|| {
        json!({
            "rss_peak_bytes": rss,
            "child_rss_peak_bytes": child_rss,
            "total_rss_peak_bytes": total_rss,
            "cpu_avg_pct": round3(cpu_avg),
            "cpu_peak_pct": round3(cpu_peak),
            "samples": samples,
            "note": "peaks are the highest of any shard (shards may run on different machines)",
        })
    });
    let sla_mode = match mode {
        "staged" => Mode::Staged,
        "mixed" => Mode::Mixed,
        _ => Mode::Direct,
    };
    let settings = first.get("settings").cloned().unwrap_or(Value::Null);
    // As in a single run: batches under half the batch size (each shard's trailing one) are
    // dominated by fixed costs and are not judged against a per-file baseline.
    let batch_size = num(&settings, &["batch_size"]) as usize;
    let batch_seconds: Vec<(usize, f64)> = batches
        .iter()
        .map(|b| (num(b, &["files"]) as usize, num(b, &["seconds"])))
        .filter(|(files, _)| batch_size == 0 || *files * 2 >= batch_size)
        .collect();
    let checks = sla::evaluate(&SlaInputs {
        mode: sla_mode,
        planned: t("planned"),
        copied: t("validated").min(t("copied")),
        failed: t("failed"),
        errors_seen: t("retried") + t("failed"),
        operations: s5cmd_ops,
        batch_seconds,
        baseline_seconds_per_100: sla_mode.default_baseline_seconds_per_100(),
        memory_peak_bytes: total_rss,
        memory_ceiling_bytes: if resources.is_some() {
            crate::run::governor::MEMORY_CEILING_BYTES
        } else {
            0
        },
        cpu_avg_pct: cpu_avg as f32,
        cpu_ceiling_pct: if resources.is_some() {
            crate::run::governor::CPU_AVG_CEILING_PCT
        } else {
            0.0
        },
    });
    let worst = sla::worst(&checks);
    let mut exit_code = match worst_exit {
        exit_codes::SLA_BREACH => exit_codes::OK,
        c if severity(i64::from(c)) == 1 => exit_codes::OK,
        c => c,
    };
    if exit_code == exit_codes::OK
        && let Some(level) = fail_on
        && worst >= level
    {
        exit_code = exit_codes::SLA_BREACH;
    }
    let secs = duration.max(1e-9);
    Ok(json!({
        "format_version": crate::report::FORMAT_VERSION,
        "tool": first.get("tool"),
        "command": "sync",
        "mode": mode,
        "dry_run": first.get("dry_run"),
        "interrupted": interrupted,
        "source": first.get("source"),
        "dest": first.get("dest"),
        "endpoint_url": first.get("endpoint_url"),
        "selection": first.get("selection"),
        "shard": Value::Null,
        "merged_from": reports.len(),
        "started_at": started,
        "finished_at": finished,
        "duration_seconds": round3(duration),
        "settings": settings,
        "totals": totals,
        "integrity": integrity,
        "plan": { "reasons": reasons, "prefixes": first.pointer("/plan/prefixes"), "listing_seconds": round3(listing) },
        "operations": {
            "by_kind": by_kind,
            "s5cmd_ops": s5cmd_ops,
            "s5cmd_processes": processes,
            "per_file": ratio(ops_total, attempted),
            "network_transfers_per_file": ratio(transfers, attempted),
            "local_bytes_written": local_bytes,
            "unparsed_lines": unparsed,
            "multipart_uploads_aborted": mpu_aborted,
        },
        "throughput": {
            "files_per_s": round3(t("copied") as f64 / secs),
            "bytes_per_s": (t("bytes_copied") as f64 / secs).round(),
            "copy_seconds": round3(copy_seconds),
        },
        "batches": batches,
        "failures": failures,
        "failures_omitted": failures_omitted,
        "error": reports.iter().find_map(|(_, r)| r.get("error").filter(|e| !e.is_null())),
        "resources": resources,
        "sla": checks,
        "sla_status": worst,
        "shards": shards,
        "exit_code": exit_code,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shard_report(shard: &str, copied: u64, failed: u64, code: i32) -> Value {
        json!({
            "format_version": 1, "command": "sync", "mode": "direct", "shard": shard,
            "started_at": format!("2026-01-01T00:00:0{}Z", copied % 10), "finished_at": "2026-01-01T00:01:00Z",
            "duration_seconds": 2.0 + copied as f64,
            "totals": {"selected": copied + failed + 1, "planned": copied + failed, "skipped": 1, "copied": copied,
                       "failed": failed, "validated": copied, "bytes_copied": copied * 10, "retried": 0},
            "operations": {"by_kind": {"copy": copied + failed}, "s5cmd_ops": copied + failed},
            "plan": {"reasons": {"missing": copied + failed}, "listing_seconds": 0.5},
            "batches": [{"index": 0, "files": copied + failed, "seconds": 0.1}],
            "failures": (0..failed).map(|i| json!({"key": format!("k{i}"), "error": "x"})).collect::<Vec<_>>(),
            "resources": {"rss_peak_bytes": 5, "child_rss_peak_bytes": 7, "total_rss_peak_bytes": 12, "cpu_avg_pct": 10.0, "cpu_peak_pct": 20.0, "samples": 4},
            "exit_code": code,
        })
    }

    #[test]
    fn totals_add_up_and_failures_keep_their_shard() {
        let m = merge(
            &[
                ("a.json".into(), shard_report("0/2", 10, 0, 0)),
                ("b.json".into(), shard_report("1/2", 5, 2, 1)),
            ],
            None,
        )
        .unwrap();
        assert_eq!(m["totals"]["copied"], 15);
        assert_eq!(m["totals"]["failed"], 2);
        assert_eq!(m["totals"]["planned"], 17);
        assert_eq!(m["totals"]["skipped"], 2);
        assert_eq!(m["operations"]["s5cmd_ops"], 17);
        assert_eq!(m["plan"]["reasons"]["missing"], 17);
        assert_eq!(m["failures"].as_array().unwrap().len(), 2);
        assert!(
            m["failures"]
                .as_array()
                .unwrap()
                .iter()
                .all(|f| f["shard"] == "1/2")
        );
        assert_eq!(m["batches"].as_array().unwrap().len(), 2);
        assert_eq!(m["shards"].as_array().unwrap().len(), 2);
        assert_eq!(m["exit_code"], 1);
        assert_eq!(m["duration_seconds"], 12.0);
        assert_eq!(m["started_at"], "2026-01-01T00:00:00Z");
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
    fn fail_on_turns_a_breach_into_exit_4_and_bad_inputs_are_refused() {
        let ok = merge(
            &[("a".into(), shard_report("0/1", 10, 0, 0))],
            Some(Status::Warning),
        )
        .unwrap();
        assert_eq!(ok["exit_code"], 0, "{}", ok["sla"]);
        // A nothing-to-do shard (exit 99) does not fail the merge.
        let skipped = merge(
            &[
                ("a".into(), shard_report("0/2", 10, 0, 0)),
                ("b".into(), shard_report("1/2", 0, 0, 99)),
            ],
            None,
        )
        .unwrap();
        assert_eq!(skipped["exit_code"], 0);
        let bad = merge(
            &[("a".into(), shard_report("0/1", 10, 1, 1))],
            Some(Status::Critical),
        )
        .unwrap();
        assert_eq!(bad["exit_code"], 1, "object failures stay exit 1");
        let breach = merge(
            &[("a".into(), shard_report("0/1", 97, 2, 0))],
            Some(Status::Warning),
        )
        .unwrap();
        assert_eq!(
            breach["exit_code"], 4,
            "97 of 99 is below the 98% warning: {}",
            breach["sla"]
        );
        assert!(
            merge(&[("x.json".into(), json!({"format_version": 9}))], None)
                .unwrap_err()
                .message
                .contains("x.json")
        );
        assert!(merge(&[], None).is_err());
    }
}
