#!/usr/bin/env python3
"""Copies at WAN latency (issue 14; make bench-wan). Python 3 standard library only.

About 2,000 tiny objects (BTCUSDT spot daily 1h klines and their CHECKSUMs, 1-2 kB each: the
whole folder as the archive stood on --as-of) copied server-side from archive-sim's
data.binance.vision (ap-northeast-1) into an empty destination (us-east-1) with --latency-ms
added to every request (60 by default):

  lakesync     lakesync sync of that folder (its default --workers 32: the governor decides
               the rest), with --dest-region us-east-1 (the source's region is known)
  s5cmd-cp-256 s5cmd --numworkers 256 cp 's3://data.binance.vision/<folder>/*' 's3://<dest>/'

Tools run in rotating order, --runs rounds, each run into its own destination prefix. Per
run: wall time, the 1-minute load average before it, and for lakesync the worker counts
the governor chose (its report's batches). Results: bench/results/<date>-wan.{json,md}.

usage: scripts/bench/wan.py [--runs N] [--latency-ms N] [--as-of YYYY-MM-DD] [--out DIR]
"""

import argparse
import datetime
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402
import scale  # noqa: E402  (Sim)

ROOT = bench.ROOT
FOLDER = "data/spot/daily/klines/BTCUSDT/1h/"


def log(msg):
    print(f"bench-wan: {msg}", file=sys.stderr, flush=True)


def env(tmp):
    e = {k: v for k, v in os.environ.items()
         if not k.startswith(("AWS_", "LAKESYNC_", "S3_ENDPOINT")) and k.lower() not in
         ("http_proxy", "https_proxy", "no_proxy", "all_proxy")}
    empty = os.path.join(tmp, "empty")
    open(empty, "w").close()
    e.update(AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench", AWS_SHARED_CREDENTIALS_FILE=empty,
             AWS_CONFIG_FILE=empty, LAKESYNC_S5CMD=bench.S5CMD, HTTP_PROXY="http://127.0.0.1:9",
             HTTPS_PROXY="http://127.0.0.1:9", NO_PROXY="127.0.0.1,localhost")
    return e


def command(tool, url, dest, report):
    if tool == "lakesync":
        return [bench.LAKESYNC_BUILT, "sync", "--endpoint-url", url, "--dest", dest, "--market", "spot",
                "--period", "daily", "--data-type", "klines", "--symbols", "BTCUSDT", "--interval", "1h",
                "--dest-region", "us-east-1", "-q", "--report", report]
    return [bench.S5CMD, "--endpoint-url", url, "--numworkers", "256", "cp",
            f"s3://data.binance.vision/{FOLDER}*", f"{dest}/{FOLDER}"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--latency-ms", type=int, default=60)
    ap.add_argument("--as-of", default="2020-05-13", help="the folder as of this day (2020-05-13: ~2,000 keys)")
    ap.add_argument("--out", default=os.path.join(ROOT, "bench", "results"))
    ap.add_argument("--profile", default="release", choices=["release", "debug"],
                    help="which build of lakesync and archive-sim (target/PROFILE/)")
    a = ap.parse_args()
    bench.LAKESYNC_BUILT = os.path.join(ROOT, "target", a.profile, "lakesync")
    scale.SIM = os.path.join(ROOT, "target", a.profile, "archive-sim")
    for b in (bench.LAKESYNC_BUILT, scale.SIM):
        if not os.path.exists(b):
            raise SystemExit(f"bench-wan: {b} is missing: run `cargo build --release --workspace`")
    tools = ["lakesync", "s5cmd-cp-256"]
    sim = scale.Sim(scale.SIM, ["--latency-ms", str(a.latency_ms), "--as-of", a.as_of, "--hole-fraction", "0",
                     "--dest-bucket", "lake", "--threads", "2"])
    runs = []
    try:
        objects = sim.count("data.binance.vision", FOLDER)
        log(f"{sim.url}: {objects} objects under {FOLDER}, {a.latency_ms} ms per request")
        with tempfile.TemporaryDirectory() as tmp:
            e = env(tmp)
            for r in range(a.runs):
                order = tools[r % len(tools):] + tools[:r % len(tools)]
                for tool in order:
                    dest = f"s3://lake/{tool}-{r}"
                    report = os.path.join(tmp, f"{tool}-{r}.json")
                    load = bench.loadavg()
                    t0 = time.monotonic()
                    p = subprocess.run(command(tool, sim.url, dest, report), env=e, stdin=subprocess.DEVNULL,
                                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
                    wall = time.monotonic() - t0
                    landed = sim.count("lake", f"{tool}-{r}/{FOLDER}")
                    row = {"tool": tool, "round": r, "seconds": round(wall, 3), "exit": p.returncode,
                           "landed": landed, "loadavg_1m": load[0]}
                    if tool == "lakesync" and os.path.exists(report):
                        with open(report) as f:
                            rep = json.load(f)
                        row["workers"] = [b.get("workers") for b in rep.get("batches", [])]
                        row["batches"] = len(rep.get("batches", []))
                    if p.returncode != 0 or landed != objects:
                        row["stderr"] = p.stderr[-2000:]
                    log(json.dumps(row))
                    runs.append(row)
    finally:
        sim.stop()
    summary = {}
    for tool in tools:
        s = [x["seconds"] for x in runs if x["tool"] == tool]
        summary[tool] = {"median": statistics.median(s), "min": min(s), "max": max(s), "runs": len(s)}
    ratio = summary["lakesync"]["median"] / summary["s5cmd-cp-256"]["median"]
    meta = {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "latency_ms": a.latency_ms, "as_of": a.as_of, "objects": objects, "folder": FOLDER,
            "lakesync_git": subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"],
                                           capture_output=True, text=True).stdout.strip(),
            "machine": f"{os.cpu_count()} cores", "build": a.profile,
            "ratio_lakesync_to_s5cmd_cp_256": round(ratio, 3)}
    os.makedirs(a.out, exist_ok=True)
    day = meta["date"][:10]
    with open(os.path.join(a.out, f"{day}-wan.json"), "w") as f:
        json.dump({"meta": meta, "summary": summary, "runs": runs}, f, indent=2)
    lines = [f"# WAN latency: {objects} tiny objects, {a.latency_ms} ms per request ({meta['date']})", "",
             f"archive-sim (`--latency-ms {a.latency_ms} --as-of {a.as_of}`), {FOLDER} server-side into an "
             f"empty us-east-1 bucket; lakesync {meta['lakesync_git']} ({a.profile} build); {meta['machine']}, shared.", "",
             "| tool | median s | min | max | runs |", "|---|---|---|---|---|"]
    for tool in tools:
        m = summary[tool]
        lines.append(f"| {tool} | {m['median']:.2f} | {m['min']:.2f} | {m['max']:.2f} | {m['runs']} |")
    lines += ["", f"lakesync / s5cmd cp 256 (medians): **{ratio:.2f}**", "",
              "| round | tool | s | load 1m | exit | landed | lakesync workers per batch |", "|---|---|---|---|---|---|---|"]
    for x in runs:
        lines.append(f"| {x['round']} | {x['tool']} | {x['seconds']:.2f} | {x['loadavg_1m']:.2f} | {x['exit']} | "
                     f"{x['landed']} | {x.get('workers', '')} |")
    with open(os.path.join(a.out, f"{day}-wan.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
