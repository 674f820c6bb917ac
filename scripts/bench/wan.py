#!/usr/bin/env python3
"""Copies at WAN latency (issue 14; make bench-wan). Python 3 standard library only.

About 2,000 tiny objects (BTCUSDT spot daily 1h klines and their CHECKSUMs, 1-2 kB each: the
whole folder as the archive stood on --as-of) copied server-side from archive-sim's
data.binance.vision (ap-northeast-1) into an empty destination (us-east-1) with --latency-ms
added to every request (60 by default):

  lakesync        lakesync sync of that folder (its default --workers 32: the governor decides
                  the rest), with --dest-region us-east-1 (the source's region is known)
  lakesync-NAME   the same with extra arguments (--variant NAME="ARGS", e.g.
                  cpu100="--max-cpu-pct 100": the spec's 25% CPU ceiling lifted), or another
                  build (--build NAME="PATH [ARGS]", e.g. before=target/bench-baseline/REV/lakesync)
  s5cmd-cp-256    s5cmd --numworkers 256 cp 's3://data.binance.vision/<folder>/*' 's3://<dest>/'
  aws-s3-cp       aws s3 cp --recursive (max_concurrent_requests 256, --source-region), when
                  .tools/bench-venv has aws (scripts/bench/install_bench_tools.sh --peers-only)
  rclone-copy     rclone copy --transfers 256 --checkers 256 --server-side-across-configs,
                  one remote per side with its region, when .tools/bench-venv has rclone

Tools run in rotating order, --runs rounds, each run into its own destination prefix. Per
run: wall time, CPU seconds of the tool's process tree (getrusage of the reaped children;
for lakesync split into its own, from its report, and s5cmd's), the 1-minute load average
before it, and for lakesync the worker counts the governor chose (its report's batches).
Results: bench/results/<date>-wan.{json,md} (--tag TAG: <date>-wan-TAG.*).

usage: scripts/bench/wan.py [--runs N] [--latency-ms N] [--as-of YYYY-MM-DD] [--out DIR]
                            [--variant NAME="ARGS"]... [--build NAME="PATH [ARGS]"]... [--no-peers] [--tag TAG]
"""

import argparse
import datetime
import json
import os
import resource
import shlex
import shutil
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


def env(tmp, tool, url):
    """No inherited AWS/LAKESYNC/RCLONE settings, any key, a dead proxy for anything that is
    not 127.0.0.1; aws-cli gets the endpoint in the environment too (its --source-region
    client ignores --endpoint-url), rclone one remote per side with the side's region."""
    e = {k: v for k, v in os.environ.items()
         if not k.startswith(("AWS_", "LAKESYNC_", "RCLONE_", "S3_ENDPOINT")) and k.lower() not in
         ("http_proxy", "https_proxy", "no_proxy", "all_proxy")}
    empty = os.path.join(tmp, "empty")
    open(empty, "w").close()
    aws_conf = os.path.join(tmp, "aws-config")
    with open(aws_conf, "w") as f:
        f.write("[default]\nregion = us-east-1\ns3 =\n    max_concurrent_requests = 256\n")
    e.update(AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench", AWS_SHARED_CREDENTIALS_FILE=empty,
             AWS_CONFIG_FILE=aws_conf if tool == "aws-s3-cp" else empty, LAKESYNC_S5CMD=bench.S5CMD,
             HTTP_PROXY="http://127.0.0.1:9", HTTPS_PROXY="http://127.0.0.1:9", NO_PROXY="127.0.0.1,localhost")
    if tool == "aws-s3-cp":
        e.update(AWS_ENDPOINT_URL=url, AWS_ENDPOINT_URL_S3=url)
    if tool == "rclone-copy":
        e["RCLONE_CONFIG"] = empty
        for name, region in (("SRC", "ap-northeast-1"), ("DST", "us-east-1")):
            e.update({f"RCLONE_CONFIG_{name}_TYPE": "s3", f"RCLONE_CONFIG_{name}_PROVIDER": "Other",
                      f"RCLONE_CONFIG_{name}_ENDPOINT": url, f"RCLONE_CONFIG_{name}_ACCESS_KEY_ID": "bench",
                      f"RCLONE_CONFIG_{name}_SECRET_ACCESS_KEY": "bench", f"RCLONE_CONFIG_{name}_REGION": region})
    return e


def command(tool, url, dest, report, variants):
    if tool.startswith("lakesync"):
        exe, extra = variants.get(tool[len("lakesync-"):], (bench.LAKESYNC_BUILT, []))
        return [exe, "sync", "--endpoint-url", url, "--dest", dest, "--market", "spot",
                "--period", "daily", "--data-type", "klines", "--symbols", "BTCUSDT", "--interval", "1h",
                "--dest-region", "us-east-1", "-q", "--report", report, *extra]
    bucket, prefix = dest[len("s3://"):].split("/", 1)
    if tool == "aws-s3-cp":
        return [shutil.which("aws", path=bench.PEER_BIN), "--endpoint-url", url, "s3", "cp", "--recursive",
                f"s3://data.binance.vision/{FOLDER}", f"{dest}/{FOLDER}", "--source-region", "ap-northeast-1",
                "--region", "us-east-1", "--only-show-errors", "--no-progress"]
    if tool == "rclone-copy":
        return [shutil.which("rclone", path=bench.PEER_BIN), "copy", f"src:data.binance.vision/{FOLDER.rstrip('/')}",
                f"dst:{bucket}/{prefix}/{FOLDER.rstrip('/')}", "--transfers", "256", "--checkers", "256",
                "--s3-no-check-bucket", "--server-side-across-configs"]
    return [bench.S5CMD, "--endpoint-url", url, "--numworkers", "256", "cp",
            f"s3://data.binance.vision/{FOLDER}*", f"{dest}/{FOLDER}"]


def children_cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--latency-ms", type=int, default=60)
    ap.add_argument("--as-of", default="2020-05-13", help="the folder as of this day (2020-05-13: ~2,000 keys)")
    ap.add_argument("--out", default=os.path.join(ROOT, "bench", "results"))
    ap.add_argument("--profile", default="release", choices=["release", "debug"],
                    help="which build of lakesync and archive-sim (target/PROFILE/)")
    ap.add_argument("--variant", action="append", default=[], metavar='NAME="ARGS"',
                    help="also run lakesync with these extra arguments, as tool lakesync-NAME")
    ap.add_argument("--build", action="append", default=[], metavar="NAME=PATH",
                    help="also run this lakesync binary, as tool lakesync-NAME")
    ap.add_argument("--no-peers", action="store_true", help="leave out aws and rclone")
    ap.add_argument("--tag", default="", help="results as <date>-wan-TAG.{json,md} (a second run of the day)")
    a = ap.parse_args()
    variants = {}  # name -> (binary, extra arguments)
    for v in a.variant + a.build:
        name, sep, value = v.partition("=")
        if not sep or not name or name in variants:
            raise SystemExit(f"bench-wan: {v!r}: expected a new NAME=..., e.g. --variant cpu100=\"--max-cpu-pct 100\" "
                             "or --build before=target/bench-baseline/REV/lakesync")
        if v in a.build:
            exe, *args = shlex.split(value) or [""]
            path = os.path.abspath(exe)
            if not os.access(path, os.X_OK):
                raise SystemExit(f"bench-wan: --build {v!r}: {path} is not an executable (make bench-baseline REV=...)")
            variants[name] = (path, args)
        else:
            variants[name] = (None, shlex.split(value))
    bench.LAKESYNC_BUILT = os.path.join(ROOT, "target", a.profile, "lakesync")
    variants = {n: (exe or bench.LAKESYNC_BUILT, args) for n, (exe, args) in variants.items()}
    scale.SIM = os.path.join(ROOT, "target", a.profile, "archive-sim")
    for b in (bench.LAKESYNC_BUILT, scale.SIM):
        if not os.path.exists(b):
            raise SystemExit(f"bench-wan: {b} is missing: run `cargo build --release --workspace`")
    tools = ["lakesync", *[f"lakesync-{n}" for n in variants], "s5cmd-cp-256"]
    if not a.no_peers:
        tools += [t for t, exe in (("aws-s3-cp", "aws"), ("rclone-copy", "rclone"))
                  if shutil.which(exe, path=bench.PEER_BIN)]
    sim = scale.Sim(scale.SIM, ["--latency-ms", str(a.latency_ms), "--as-of", a.as_of, "--hole-fraction", "0",
                     "--dest-bucket", "lake", "--threads", "2"])
    runs = []
    try:
        objects = sim.count("data.binance.vision", FOLDER)
        log(f"{sim.url}: {objects} objects under {FOLDER}, {a.latency_ms} ms per request")
        with tempfile.TemporaryDirectory() as tmp:
            for r in range(a.runs):
                order = tools[r % len(tools):] + tools[:r % len(tools)]
                for tool in order:
                    dest = f"s3://lake/{tool}-{r}"
                    report = os.path.join(tmp, f"{tool}-{r}.json")
                    load = bench.loadavg()
                    cpu0 = children_cpu()
                    t0 = time.monotonic()
                    p = subprocess.run(command(tool, sim.url, dest, report, variants), env=env(tmp, tool, sim.url),
                                       stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                       text=True)
                    wall = time.monotonic() - t0
                    cpu = children_cpu() - cpu0
                    landed = sim.count("lake", f"{tool}-{r}/{FOLDER}")
                    row = {"tool": tool, "round": r, "seconds": round(wall, 3), "exit": p.returncode,
                           "landed": landed, "loadavg_1m": load[0], "cpu_s": round(cpu, 3)}
                    if tool.startswith("lakesync") and os.path.exists(report):
                        with open(report) as f:
                            rep = json.load(f)
                        row["workers"] = [b.get("workers") for b in rep.get("batches", [])]
                        row["batches"] = len(rep.get("batches", []))
                        own = rep.get("lakesync_cpu_seconds") or 0.0
                        row["lakesync_cpu_s"] = own
                        row["s5cmd_cpu_s"] = round(cpu - own, 3)
                    if p.returncode != 0 or landed != objects:
                        row["stderr"] = p.stderr[-2000:]
                    log(json.dumps(row))
                    runs.append(row)
    finally:
        sim.stop()
    summary = {}
    for tool in tools:
        s = [x["seconds"] for x in runs if x["tool"] == tool]
        c = [x["cpu_s"] for x in runs if x["tool"] == tool]
        summary[tool] = {"median": statistics.median(s), "min": min(s), "max": max(s), "runs": len(s),
                         "cpu_s_median": statistics.median(c)}
        own = [x["lakesync_cpu_s"] / x["s5cmd_cpu_s"] for x in runs
               if x["tool"] == tool and x.get("s5cmd_cpu_s", 0) > 0]
        if own:
            summary[tool]["own_cpu_share_of_s5cmd_median"] = round(statistics.median(own), 4)
    ratio = summary["lakesync"]["median"] / summary["s5cmd-cp-256"]["median"]
    ratios = {t: round(summary[t]["median"] / summary["s5cmd-cp-256"]["median"], 3) for t in tools}
    meta = {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "latency_ms": a.latency_ms, "as_of": a.as_of, "objects": objects, "folder": FOLDER,
            "lakesync_git": subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"],
                                           capture_output=True, text=True).stdout.strip(),
            "machine": f"{os.cpu_count()} cores", "build": a.profile,
            "ratio_lakesync_to_s5cmd_cp_256": round(ratio, 3), "ratios_to_s5cmd_cp_256": ratios,
            "variants": {n: shlex.join([exe, *args]) for n, (exe, args) in variants.items()}}
    os.makedirs(a.out, exist_ok=True)
    day = meta["date"][:10]
    name = f"{day}-wan{'-' + a.tag if a.tag else ''}"
    # A second run of the day with the same name gets its own files: results are records.
    n, first = 2, name
    while os.path.exists(os.path.join(a.out, f"{name}.json")) or os.path.exists(os.path.join(a.out, f"{name}.md")):
        name, n = f"{first}-{n}", n + 1
    with open(os.path.join(a.out, f"{name}.json"), "w") as f:
        json.dump({"meta": meta, "summary": summary, "runs": runs}, f, indent=2)
    lines = [f"# WAN latency: {objects} tiny objects, {a.latency_ms} ms per request ({meta['date']})", "",
             f"archive-sim (`--latency-ms {a.latency_ms} --as-of {a.as_of}`), {FOLDER} server-side into an "
             f"empty us-east-1 bucket; lakesync {meta['lakesync_git']} ({a.profile} build); {meta['machine']}, shared.", "",
             "| tool | median s | min | max | runs | / s5cmd cp 256 | CPU s (tree, median) | lakesync CPU / s5cmd CPU |",
             "|---|---|---|---|---|---|---|---|"]
    for tool in tools:
        m = summary[tool]
        share = m.get("own_cpu_share_of_s5cmd_median")
        lines.append(f"| {tool} | {m['median']:.2f} | {m['min']:.2f} | {m['max']:.2f} | {m['runs']} | "
                     f"{ratios[tool]:.2f} | {m['cpu_s_median']:.2f} | {'' if share is None else f'{share:.1%}'} |")
    if variants:
        lines += [""] + [f"lakesync-{n}: `{shlex.join([os.path.relpath(exe, ROOT), *args])}`"
                         for n, (exe, args) in variants.items()]
    lines += ["", f"lakesync / s5cmd cp 256 (medians): **{ratio:.2f}**", "",
              "| round | tool | s | CPU s | load 1m | exit | landed | lakesync workers per batch |",
              "|---|---|---|---|---|---|---|---|"]
    for x in runs:
        lines.append(f"| {x['round']} | {x['tool']} | {x['seconds']:.2f} | {x['cpu_s']:.2f} | {x['loadavg_1m']:.2f} | "
                     f"{x['exit']} | {x['landed']} | {x.get('workers', '')} |")
    with open(os.path.join(a.out, f"{name}.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
