//! lakesync's metrics in a real Prometheus stack (Debian's packages, installed by
//! scripts/install_prometheus.sh when this machine can; else these tests skip with the
//! reason): node_exporter's textfile collector reads `--metrics-file`, a Pushgateway takes
//! `--pushgateway`, Prometheus scrapes both, and its HTTP API must return the run's values
//! and data for every panel query of the Grafana dashboard (docs/grafana/lakesync.json).
//! Also: progress reaches the Pushgateway while a run is under way, grouped by job and
//! shard, and a dead Pushgateway only warns (that test needs no package).

use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::common::{self, Moto, Seed, Sync};
use crate::require_prometheus_stack;
use crate::support::prom_stack::{self, Series, http, query, wait_for};

/// `lakesync sync` from `s3://src` to `s3://dst/lake` on `moto`, the report on stdout, plus
/// `extra`.
fn to_lake(moto: &Moto, extra: &[&str]) -> Sync {
    Sync::new(moto)
        .dest("s3://dst/lake")
        .args(extra.iter().copied())
}

/// The one series matching `labels` among `series`.
fn one<'a>(series: &'a [Series], what: &str, labels: &[(&str, &str)]) -> &'a Series {
    let found: Vec<&Series> = series
        .iter()
        .filter(|s| {
            labels
                .iter()
                .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
        })
        .collect();
    assert_eq!(found.len(), 1, "{what} {labels:?}: {series:?}");
    found[0]
}

/// Every `expr` of every panel (rows included) with the dashboard variables as Grafana
/// substitutes them for "All".
fn dashboard_queries() -> Vec<(String, String)> {
    let path = common::repo_root().join("docs/grafana/lakesync.json");
    let d: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).expect("dashboard JSON");
    let mut panels: Vec<serde_json::Value> = d["panels"].as_array().unwrap().clone();
    let mut i = 0;
    while i < panels.len() {
        if let Some(inner) = panels[i]["panels"].as_array() {
            panels.extend(inner.clone());
        }
        i += 1;
    }
    let mut out = Vec::new();
    for p in &panels {
        if p["type"] == "row" {
            continue;
        }
        let title = p["title"].as_str().unwrap().to_string();
        let targets = p["targets"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default();
        assert!(!targets.is_empty(), "panel {title:?} has no query");
        for t in targets {
            let expr = t["expr"]
                .as_str()
                .unwrap()
                .replace("$__rate_interval", "1m")
                .replace("${job}", ".*")
                .replace("$job", ".*");
            assert!(
                !expr.contains('$'),
                "panel {title:?}: unknown variable in {expr}"
            );
            out.push((title.clone(), expr));
        }
    }
    assert!(out.len() >= 10, "{out:?}");
    out
}

#[test]
fn prometheus_scrapes_the_textfile_and_the_pushgateway_and_every_dashboard_panel_has_data() {
    require_prometheus_stack!();
    let (moto, _fixtures) = Seed::archives(12).with_real().start();
    let work = tempfile::tempdir().unwrap();
    let textfile = work.path().join("textfile");
    std::fs::create_dir(&textfile).unwrap();
    let gateway = prom_stack::pushgateway();
    let node = prom_stack::node_exporter(&textfile);
    let prom = prom_stack::prometheus(work.path(), &[("node", &node), ("pushgateway", &gateway)]);

    // A first run of the same job, so the second has history to be judged against; then
    // the destination is emptied so that the second copies everything again.
    let history = work.path().join("history.jsonl");
    let history_arg = history.display().to_string();
    let first = to_lake(&moto, &["--history", &history_arg, "-q"]).run();
    assert_eq!(first.code, 0, "{}", first.stderr);
    moto.s5cmd_ok(&["rm", "s3://dst/*"]);

    let metrics_file = textfile.join("lakesync.prom");
    let metrics_arg = metrics_file.display().to_string();
    let gateway_url = gateway.url();
    let run = to_lake(
        &moto,
        &[
            "--history",
            &history_arg,
            "--metrics-file",
            &metrics_arg,
            "--pushgateway",
            &gateway_url,
            "--pushgateway-job",
            "binance-e2e",
            "--progress-interval",
            "1",
            "-q",
        ],
    )
    .run();
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(!run.stderr.contains("warning"), "{}", run.stderr);
    let report = run.report();
    let t = &report["totals"];
    let copied = t["copied"].as_f64().unwrap();
    assert!(copied >= 28.0, "{t}");

    // The same values through node_exporter (job "node") and the Pushgateway (job as pushed).
    for job in ["node", "binance-e2e"] {
        let sel = format!("{{job=\"{job}\"}}");
        let files = wait_for(
            &prom,
            &format!("lakesync_last_run_files{sel}"),
            Duration::from_secs(30),
        );
        for state in ["planned", "copied", "skipped", "failed"] {
            assert_eq!(
                one(&files, "files", &[("state", state), ("mode", "direct")]).value,
                t[state].as_f64().unwrap(),
                "{job} {state}"
            );
        }
        let v = |m: &str| {
            let r = query(&prom, &format!("{m}{sel}")).unwrap();
            one(&r, m, &[("mode", "direct")]).value
        };
        assert_eq!(
            v("lakesync_last_run_bytes_copied"),
            t["bytes_copied"].as_f64().unwrap(),
            "{job}"
        );
        assert_eq!(v("lakesync_last_run_success_ratio"), 1.0, "{job}");
        let duration = v("lakesync_last_run_duration_seconds");
        assert!(
            (duration - report["duration_seconds"].as_f64().unwrap()).abs() < 1e-9,
            "{job}"
        );
        // SLAs over history: the median of the first run, the 24 h success of both.
        let h = &report["sla_history"];
        assert_eq!(
            v("lakesync_last_run_history_median_files_per_second"),
            h["median_files_per_s"].as_f64().unwrap(),
            "{job}"
        );
        assert_eq!(v("lakesync_last_run_success_ratio_24h"), 1.0, "{job}");
        assert_eq!(
            v("lakesync_last_run_files_per_second"),
            report["throughput"]["files_per_s"].as_f64().unwrap(),
            "{job}"
        );
        // The run is over: live progress says so, with the final counts.
        assert_eq!(v("lakesync_run_in_progress"), 0.0, "{job}");
        let objects = query(&prom, &format!("lakesync_run_objects{sel}")).unwrap();
        assert_eq!(
            one(&objects, "objects", &[("state", "done")]).value,
            copied,
            "{job}"
        );
        assert_eq!(
            one(&objects, "objects", &[("state", "planned")]).value,
            copied,
            "{job}"
        );
        let sla = query(&prom, &format!("lakesync_last_run_sla_status{sel}")).unwrap();
        for c in report["sla"].as_array().unwrap() {
            let name = c["name"].as_str().unwrap();
            let level = match c["status"].as_str().unwrap() {
                "ok" => 0.0,
                "warning" => 1.0,
                _ => 2.0,
            };
            assert_eq!(
                one(&sla, "sla_status", &[("check", name)]).value,
                level,
                "{job} {name}"
            );
        }
    }
    let pushed = query(
        &prom,
        "lakesync_last_run_timestamp_seconds{job=\"binance-e2e\"}",
    )
    .unwrap();
    assert_eq!(
        pushed.len(),
        1,
        "one group, no shard label without --shard: {pushed:?}"
    );
    assert!(!pushed[0].labels.contains_key("shard"), "{pushed:?}");

    // Every panel of the dashboard shows data. deriv() needs two samples in its window:
    // wait for a second scrape of the final values.
    std::thread::sleep(Duration::from_secs(2));
    let mut empty = Vec::new();
    for (title, expr) in dashboard_queries() {
        match query(&prom, &expr) {
            Ok(r) if !r.is_empty() && r.iter().all(|s| s.value.is_finite()) => {}
            Ok(r) => empty.push(format!("{title}: {expr} -> {r:?}")),
            Err(e) => empty.push(format!("{title}: {e}")),
        }
    }
    assert!(
        empty.is_empty(),
        "panels without data:\n{}",
        empty.join("\n")
    );
}

/// Pushgateway groups in its own text exposition: (metric, labels, value) lines.
fn gateway_samples(port: u16) -> Vec<prometheus_parse::Sample> {
    let (status, body) = http(port, "GET", "/metrics", None).expect("Pushgateway /metrics");
    assert_eq!(status, 200, "{body}");
    prometheus_parse::Scrape::parse(body.lines().map(|l| Ok(l.to_string())))
        .expect("the Pushgateway's exposition parses")
        .samples
}

fn gauge(s: &prometheus_parse::Sample) -> f64 {
    match s.value {
        prometheus_parse::Value::Gauge(v) | prometheus_parse::Value::Untyped(v) => v,
        ref o => panic!("{}: {o:?}", s.metric),
    }
}

#[test]
fn the_pushgateway_gets_progress_during_the_run_grouped_by_job_and_shard() {
    require_prometheus_stack!();
    let (moto, _fixtures) = Seed::archives(20).start();
    let gateway = prom_stack::pushgateway();
    let url = gateway.url();
    // The first s5cmd run hands its success lines on slowly (the test helper), so the run
    // lasts a few seconds and its progress can be watched.
    let once = tempfile::tempdir().unwrap();
    let metrics = once.path().join("lakesync.prom");
    let metrics_arg = metrics.display().to_string();
    let mut child = to_lake(
        &moto,
        &[
            "--metrics-file",
            &metrics_arg,
            "--pushgateway",
            &url,
            "--shard",
            "1/2",
            "--progress-interval",
            "1",
            "--no-folder-copies",
            "-q",
        ],
    )
    .fake_s5cmd()
    .env("LAKESYNC_FAKE_PACE_MS", "200")
    .env(
        "LAKESYNC_FAKE_ONCE",
        &once.path().join("once").display().to_string(),
    )
    .to_command();
    let mut child = child
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cannot start lakesync");
    let mut seen_running = None;
    let mut file_running = false;
    let deadline = Instant::now() + Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() && Instant::now() < deadline {
        let samples = gateway_samples(gateway.port);
        let running = samples.iter().find(|s| {
            s.metric == "lakesync_run_in_progress"
                && s.labels.get("job") == Some("lakesync")
                && s.labels.get("shard") == Some("1")
        });
        if let Some(r) = running
            && gauge(r) == 1.0
        {
            let done = samples
                .iter()
                .find(|s| {
                    s.metric == "lakesync_run_objects" && s.labels.get("state") == Some("done")
                })
                .map(gauge);
            seen_running = Some(done);
        }
        // The metrics file is rewritten (atomically) with the same progress.
        file_running |= std::fs::read_to_string(&metrics)
            .is_ok_and(|t| t.contains("lakesync_run_in_progress{mode=\"direct\"} 1\n"));
        std::thread::sleep(Duration::from_millis(200));
    }
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        matches!(seen_running, Some(Some(_))),
        "no progress with in_progress 1 reached the Pushgateway during the run ({seen_running:?})"
    );
    assert!(
        file_running,
        "the metrics file never showed the run in progress"
    );
    let ended = std::fs::read_to_string(&metrics).unwrap();
    assert!(
        ended.contains("lakesync_run_in_progress{mode=\"direct\"} 0\n"),
        "{ended}"
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("report");
    let copied = report["totals"]["copied"].as_f64().unwrap();
    assert!(copied > 0.0, "{report}");

    // After the run the group holds this run's metrics only, keyed job=lakesync, shard=1.
    let samples = gateway_samples(gateway.port);
    let ours: Vec<&prometheus_parse::Sample> = samples
        .iter()
        .filter(|s| s.metric.starts_with("lakesync_"))
        .collect();
    assert!(!ours.is_empty());
    assert!(
        ours.iter()
            .all(|s| s.labels.get("job") == Some("lakesync") && s.labels.get("shard") == Some("1")),
        "{ours:?}"
    );
    let find = |m: &str, state: Option<&str>| {
        ours.iter()
            .find(|s| s.metric == m && state.is_none_or(|st| s.labels.get("state") == Some(st)))
            .map(|s| gauge(s))
            .unwrap_or_else(|| panic!("{m} {state:?} not in the group"))
    };
    assert_eq!(find("lakesync_run_in_progress", None), 0.0);
    assert_eq!(find("lakesync_last_run_files", Some("copied")), copied);
    assert_eq!(find("lakesync_run_objects", Some("done")), copied);
}

#[test]
fn a_dead_pushgateway_warns_and_the_sync_still_succeeds() {
    let (moto, _fixtures) = Seed::archives(3).start();
    let dead = format!("http://127.0.0.1:{}", prom_stack::free_port());
    let run = to_lake(&moto, &["--pushgateway", &dead, "--progress-interval", "1"]).run();
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.report()["totals"]["copied"], 6, "{}", run.stderr);
    assert_eq!(
        run.stderr
            .matches("warning: cannot push metrics to the Pushgateway")
            .count(),
        1,
        "one warning, not one per push:\n{}",
        run.stderr
    );
    assert!(
        run.stderr.contains(&dead) && run.stderr.contains("hint:"),
        "{}",
        run.stderr
    );

    // A bad URL is a usage error naming it, before anything runs.
    let bad = to_lake(&moto, &["--pushgateway", "https://gw:9091"]).run();
    assert_eq!(bad.code, 2, "{}", bad.stderr);
    assert!(
        bad.stderr.contains("https://gw:9091") && bad.stderr.contains("hint:"),
        "{}",
        bad.stderr
    );
}
