"""lakesync_mirror: mirror (part of) the Binance archive into S3 with N lakesync shards.

An Airflow 3 DAG (tested with apache-airflow 3.3.2 by `make airflow-e2e`).

    plan ──> sync_shard[0..N-1] ──> merge_reports

plan            checks the params, picks this run's report folder
                <report_dir>/<dag_id>/<run_id>/ and builds one command line per shard.
sync_shard      a mapped BashOperator (one task instance per shard; map index = shard index):
                    lakesync sync --shard I/N --report <run folder>/shard-I.json
                                  --summary-line --exit-code-when-nothing-to-do 99 ...
                The last stdout line, a one-line JSON summary, is pushed to XCom. Exit 99
                (nothing needed copying) leaves the task *skipped* (skip_on_exit_code=99);
                any other non-zero exit fails the try and Airflow retries it (a re-run only
                copies what is still missing). Each try starts by deleting its old report,
                so a report on disk is always the one of the shard's last try.
merge_reports   trigger rule all_done: runs when every shard is finished, whatever its state
                (a skipped shard is normal: it had nothing to do). Runs
                    lakesync report merge <run folder>/shard-*.json [--fail-on LEVEL]
                writes <run folder>/merged.json, pushes a compact summary to XCom, and fails
                (no retry) when a shard report is missing, objects failed, a shard hit an
                environment error or was interrupted, or the merged SLA breached LEVEL.
                Because it runs even after failed shards and is the only leaf, the DAG run
                state is its state: failed whenever anything went wrong.

Configuration. Every setting is a DAG param (change it per run with the trigger form or
`airflow dags trigger lakesync_mirror --conf '{"shards": 8}'`); the param defaults come
from these environment variables, read where the DAG file is parsed:

    param         env var               default
    lakesync_bin  LAKESYNC_BIN          lakesync (PATH lookup on the worker)
    source        LAKESYNC_SOURCE       s3://data.binance.vision
    dest          LAKESYNC_DEST         (required)
    endpoint_url  S3_ENDPOINT_URL       (AWS; else passed as --endpoint-url)
    shards        LAKESYNC_SHARDS       4
    report_dir    LAKESYNC_REPORT_DIR   /tmp/lakesync-reports  (must be shared by all workers)
    fail_on       LAKESYNC_FAIL_ON      none  (warning | critical | none: fail the run when the
                                        merged SLA is at that level or worse; as with
                                        `lakesync sync`, an SLA breach alone is not an error
                                        unless asked for; missing or failed objects always are)
    market, period, data_type, symbols, interval, start, end
                  LAKESYNC_MARKET, LAKESYNC_PERIOD, LAKESYNC_DATA_TYPE, LAKESYNC_SYMBOLS,
                  LAKESYNC_INTERVAL, LAKESYNC_START, LAKESYNC_END (empty = lakesync default);
                  start / end also take logical_date, data_interval_start or
                  data_interval_end: that date of the run (for a scheduled DAG, e.g.
                  LAKESYNC_SCHEDULE=@daily with start = end = data_interval_start)
    extra_args    LAKESYNC_EXTRA_ARGS   more `lakesync sync` flags, shell-split
                                        (e.g. "--mode staged --workers 8")

Task settings (read at parse time only):

    LAKESYNC_RETRIES (2), LAKESYNC_RETRY_DELAY_SECONDS (60), LAKESYNC_SHARD_TIMEOUT_MINUTES
    (none; on timeout Airflow sends SIGTERM and lakesync stops s5cmd cleanly, exit 143),
    LAKESYNC_MAX_PARALLEL (shards running at once per run; default: no limit),
    LAKESYNC_SCHEDULE (a cron expression or preset; default: none, triggered runs only),
    LAKESYNC_AWS_CONN_ID (see credentials).

Credentials never appear on a command line, in XCom or in a report. By default lakesync
(through s5cmd) uses the worker's own AWS credentials (AWS_ACCESS_KEY_ID /
AWS_SECRET_ACCESS_KEY, AWS_PROFILE, an instance role...): the shard's env is merged with
the worker's environment (append_env=True). With LAKESYNC_AWS_CONN_ID=<conn id> the
connection's login / password are exported as AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY
to the shard only (Airflow masks the secret in logs and rendered fields), e.g.
AIRFLOW_CONN_LAKESYNC_S3='aws://AKIA...:secret@'. LAKESYNC_S5CMD in the worker environment
names the s5cmd binary. Note that lakesync itself also reads LAKESYNC_* variables from its
environment; the params above are passed as flags, which win. LAKESYNC_FAIL_ON is removed
from the shards' environment: the level applies to the merged report, not to each shard.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
from datetime import timedelta
from pathlib import Path

from airflow.providers.standard.operators.bash import BashOperator
from airflow.sdk import DAG, Param, get_current_context, task
from airflow.sdk.exceptions import AirflowFailException

DAG_ID = "lakesync_mirror"
NOTHING_TO_DO = 99
SELECTION = ("market", "period", "data_type", "symbols", "interval", "start", "end")
# `start` / `end` may name one of these dates of the run instead of giving YYYY-MM-DD.
DATE_TOKENS = ("logical_date", "data_interval_start", "data_interval_end")
FAIL_ON_LEVELS = ("warning", "critical", "none")
# Exit codes of `lakesync report merge` (see the README's exit code table).
EXIT_MEANING = {
    1: "objects failed in at least one shard (see failures[] in merged.json)",
    2: "invalid usage (a shard report is unreadable or not a lakesync sync report)",
    3: "a shard hit an environment error (s5cmd, endpoint, bucket, credentials, listing)",
    4: "the merged SLA breached the --fail-on level",
    130: "a shard was interrupted (SIGINT)",
    143: "a shard was interrupted (SIGTERM, e.g. an Airflow timeout)",
}


def _env(name: str, default: str = "") -> str:
    value = os.environ.get(name, "")
    return value if value.strip() else default


def _env_int(name: str, default: int | None) -> int | None:
    value = _env(name)
    if not value:
        return default
    try:
        return int(value)
    except ValueError as e:
        raise ValueError(f"{name}={value!r} is not an integer") from e


def _shard_env() -> dict[str, str]:
    """The env of every shard, merged into the worker's own environment (append_env)."""
    env: dict[str, str] = {}
    conn_id = _env("LAKESYNC_AWS_CONN_ID")
    if conn_id:
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", conn_id):
            raise ValueError(f"LAKESYNC_AWS_CONN_ID={conn_id!r}: use letters, digits and _")
        # Rendered on the worker at run time (a missing connection fails the task with
        # "The conn_id ... isn't defined"); Airflow masks the secret in logs and in the
        # rendered fields it stores.
        env["AWS_ACCESS_KEY_ID"] = "{{ conn.%s.login }}" % conn_id
        env["AWS_SECRET_ACCESS_KEY"] = "{{ conn.%s.password }}" % conn_id
    return env


def _run_dates(ctx) -> dict[str, str]:
    """The dates `start` / `end` may name instead of a YYYY-MM-DD value."""
    dates = {}
    for name in DATE_TOKENS:
        value = ctx.get(name)
        if value is not None:
            dates[name] = value.strftime("%Y-%m-%d")
    return dates


def _build_plan(params: dict, run_id: str, dates: dict[str, str]) -> dict:
    """Validate the params and build one shell command per shard (all values quoted).

    Nothing here is rendered by Jinja (the commands reach the shards through XCom, which
    Airflow does not template), so a param value cannot inject a template or a shell word.
    """
    bin_ = str(params.get("lakesync_bin") or "lakesync")
    dest = str(params.get("dest") or "").strip()
    if not dest:
        raise AirflowFailException(
            "param 'dest' is empty: set LAKESYNC_DEST where the DAG is parsed, or trigger "
            'with --conf \'{"dest": "s3://my-lake/binance"}\''
        )
    try:
        shards = int(params.get("shards") or 0)
    except (TypeError, ValueError):
        shards = 0
    if not 1 <= shards <= 1024:
        raise AirflowFailException(f"param 'shards' must be 1..1024, got {params.get('shards')!r}")
    fail_on = str(params.get("fail_on") or "none").strip().lower()
    if fail_on not in FAIL_ON_LEVELS:
        raise AirflowFailException(f"param 'fail_on' must be one of {FAIL_ON_LEVELS}, got {fail_on!r}")
    report_dir = str(params.get("report_dir") or "").strip()
    if not report_dir:
        raise AirflowFailException("param 'report_dir' is empty")
    # One folder per run: reports of an earlier run are never merged into this one.
    safe_run = re.sub(r"[^A-Za-z0-9._-]+", "_", run_id).strip("_") or "run"
    run_dir = str(Path(report_dir) / DAG_ID / safe_run)

    args = ["sync", "--source", str(params.get("source") or "s3://data.binance.vision"), "--dest", dest]
    endpoint = str(params.get("endpoint_url") or "").strip()
    if endpoint:
        args += ["--endpoint-url", endpoint]
    for name in SELECTION:
        value = str(params.get(name) or "").strip()
        if name in ("start", "end") and value in DATE_TOKENS:
            if value not in dates:
                raise AirflowFailException(
                    f"param '{name}' is {value!r} but this run has none (a run without a logical "
                    "date): trigger it with a logical date or give YYYY-MM-DD"
                )
            value = dates[value]
        if value:
            args += ["--" + name.replace("_", "-"), value]
    try:
        extra = shlex.split(str(params.get("extra_args") or ""))
    except ValueError as e:
        raise AirflowFailException(f"param 'extra_args' is not valid shell words: {e}") from e
    reserved = {"--shard", "--report", "--summary-line", "--exit-code-when-nothing-to-do", "--dry-run"}
    clash = sorted(a.split("=", 1)[0] for a in extra if a.split("=", 1)[0] in reserved)
    if clash:
        raise AirflowFailException(f"param 'extra_args' may not contain {clash}: the DAG sets them")

    commands, reports = [], []
    for i in range(shards):
        report = f"{run_dir}/shard-{i}.json"
        reports.append(report)
        argv = [bin_, *args, *extra, "--shard", f"{i}/{shards}", "--report", report,
                "--summary-line", "--exit-code-when-nothing-to-do", str(NOTHING_TO_DO)]
        commands.append(
            # The DAG's fail-on level is for the merged report; a shard only reports.
            "unset LAKESYNC_FAIL_ON\n"
            f"mkdir -p {shlex.quote(run_dir)}\n"
            f"rm -f {shlex.quote(report)}\n"
            f"exec {shlex.join(argv)}\n"
        )
    return {
        "run_dir": run_dir,
        "shards": shards,
        "reports": reports,
        "fail_on": fail_on,
        "lakesync_bin": bin_,
        "commands": commands,
    }


with DAG(
    dag_id=DAG_ID,
    description="Mirror the Binance public archive into S3 with N lakesync shards",
    schedule=_env("LAKESYNC_SCHEDULE") or None,
    catchup=False,
    max_active_runs=1,  # two runs on one destination would copy the same objects twice
    tags=["lakesync", "s3", "binance"],
    params={
        "lakesync_bin": Param(_env("LAKESYNC_BIN", "lakesync"), type="string", minLength=1),
        "source": Param(_env("LAKESYNC_SOURCE", "s3://data.binance.vision"), type="string"),
        "dest": Param(_env("LAKESYNC_DEST"), type="string", description="s3://bucket/prefix"),
        "endpoint_url": Param(_env("S3_ENDPOINT_URL"), type="string"),
        "shards": Param(_env_int("LAKESYNC_SHARDS", 4), type="integer", minimum=1, maximum=1024),
        "report_dir": Param(_env("LAKESYNC_REPORT_DIR", "/tmp/lakesync-reports"), type="string"),
        "fail_on": Param(_env("LAKESYNC_FAIL_ON", "none").lower(), type="string", enum=list(FAIL_ON_LEVELS)),
        **{
            name: Param(_env("LAKESYNC_" + name.upper()), type="string", description=f"--{name.replace('_', '-')}")
            for name in SELECTION
        },
        "extra_args": Param(_env("LAKESYNC_EXTRA_ARGS"), type="string"),
    },
    doc_md=__doc__,
) as dag:

    @task
    def plan() -> list[str]:
        """Validate the params; one command line per shard (map index = shard index)."""
        ctx = get_current_context()
        p = _build_plan(dict(ctx["params"]), ctx["run_id"], _run_dates(ctx))
        print(f"{p['shards']} shard(s), reports in {p['run_dir']}, fail_on={p['fail_on']}")
        return p["commands"]

    @task(trigger_rule="all_done", multiple_outputs=False)
    def merge_reports() -> dict:
        ctx = get_current_context()
        # The same (deterministic) plan as the plan task: params and run_id fix the paths.
        p = _build_plan(dict(ctx["params"]), ctx["run_id"], _run_dates(ctx))
        summaries = ctx["ti"].xcom_pull(task_ids="sync_shard", default=None) or []
        summaries = [s for s in summaries if s] if isinstance(summaries, (list, tuple)) else [summaries]
        print(f"summary lines pushed by the shards (skipped shards push none): {len(summaries)}")
        for line in summaries:
            print(f"  {line}")

        present = [r for r in p["reports"] if os.path.isfile(r)]
        missing = [r for r in p["reports"] if r not in present]
        if not present:
            raise AirflowFailException(
                f"no shard report in {p['run_dir']}: every shard failed before writing one "
                "(see the sync_shard logs)"
            )
        cmd = [p["lakesync_bin"], "report", "merge", *present]
        if p["fail_on"] != "none":
            cmd += ["--fail-on", p["fail_on"]]
        print("$ " + shlex.join(cmd))
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if proc.stderr.strip():
            print(proc.stderr.rstrip())
        try:
            merged = json.loads(proc.stdout)
        except ValueError:
            raise AirflowFailException(
                f"`lakesync report merge` exited {proc.returncode} without a report: {proc.stderr.strip()}"
            ) from None
        out = Path(p["run_dir"]) / "merged.json"
        tmp = out.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(merged, indent=2) + "\n")
        tmp.replace(out)

        totals = merged.get("totals") or {}
        result = {
            "merged_report": str(out),
            "exit_code": proc.returncode,
            "shards": p["shards"],
            "reports_merged": len(present),
            "missing_reports": missing,
            "summary_lines": len(summaries),
            "sla_status": merged.get("sla_status"),
            "totals": {k: totals.get(k) for k in ("selected", "planned", "skipped", "copied", "failed", "validated", "bytes_copied")},
            "failures": len(merged.get("failures") or []),
        }
        print("merged: " + json.dumps(result))
        if merged.get("sla_status") not in ("ok", None):
            for check in merged.get("sla") or []:
                if check.get("status") != "ok":
                    print(f"SLA {check.get('status')}: {check.get('name')}: {check.get('actual')} "
                          f"(target {check.get('target')})")
        problems = []
        if missing:
            problems.append(
                f"{len(missing)} of {p['shards']} shard report(s) missing ({', '.join(missing)}): "
                "those shards failed before writing a report (see their sync_shard logs)"
            )
        if proc.returncode != 0:
            problems.append(
                f"`lakesync report merge` exited {proc.returncode}: "
                + EXIT_MEANING.get(proc.returncode, "unexpected exit code")
                + f" (sla_status={merged.get('sla_status')}, fail_on={p['fail_on']}, "
                f"failed={totals.get('failed')})"
            )
        if problems:
            raise AirflowFailException("; ".join(problems) + f"; merged report: {out}")
        return result

    shard_timeout = _env_int("LAKESYNC_SHARD_TIMEOUT_MINUTES", None)
    max_parallel = _env_int("LAKESYNC_MAX_PARALLEL", None)
    planned = plan()
    shards = BashOperator.partial(
        task_id="sync_shard",
        env=_shard_env(),
        append_env=True,
        skip_on_exit_code=NOTHING_TO_DO,
        do_xcom_push=True,  # the last stdout line: lakesync's --summary-line JSON
        retries=_env_int("LAKESYNC_RETRIES", 2),
        retry_delay=timedelta(seconds=_env_int("LAKESYNC_RETRY_DELAY_SECONDS", 60)),
        execution_timeout=timedelta(minutes=shard_timeout) if shard_timeout else None,
        max_active_tis_per_dagrun=max_parallel,
    ).expand(bash_command=planned)
    shards >> merge_reports()
