#!/usr/bin/env python3
"""lakesync benchmark (make bench): the same server-side job, side by side, measured.

For each scenario the same seeded source objects are copied, in alternating order and
several repetitions, by:
  lakesync-direct   lakesync sync --mode direct (lists, plans, copies, validates)
  lakesync-staged   lakesync sync --mode staged (download, verify, upload)
  s5cmd-run         raw `s5cmd --numworkers N run` on the command lines lakesync generated
                    (`--dry-run --write-commands`): the wrapper's overhead is the ratio
  aws-s3-cp         `aws s3 cp --recursive` (server-side), if awscli is installed
  rclone-copy       `rclone copy --transfers 32 --checkers 32` (server-side), if installed
Per run: wall time, files/s, MB/s, bytes over loopback (/proc/net/dev, independent of
lakesync's accounting) per byte copied, and lakesync's own report (ops/file, local bytes,
peak RSS of lakesync and s5cmd). Medians with min-max; the server, its version and the
machine are recorded. Results: bench/results/<date>-<server>.{json,md} and LATEST.md.

Python 3 standard library only. Usage: scripts/bench.py [--full] [--reps N]
"""

import argparse
import datetime
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOOLS = os.path.join(ROOT, ".tools")
S5CMD = os.path.join(TOOLS, "bin", "s5cmd")
LAKESYNC = os.path.join(ROOT, "target", "release", "lakesync")
WORKERS = 16


def env():
    e = dict(os.environ)
    e.update(AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench", LAKESYNC_S5CMD=S5CMD)
    for k in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_CA_BUNDLE"):
        e.pop(k, None)
    return e


def lo_bytes():
    with open("/proc/net/dev") as f:
        for line in f:
            if line.strip().startswith("lo:"):
                v = line.split(":", 1)[1].split()
                return int(v[0]) + int(v[8])
    return 0


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def s5(url, *args, check=True):
    return subprocess.run([S5CMD, "--endpoint-url", url, *args], env=env(), check=check,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def start_moto():
    port = free_port()
    log = open(os.path.join(tempfile.gettempdir(), f"bench-moto-{port}.log"), "w")
    p = subprocess.Popen([os.path.join(TOOLS, "bin", "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
                         stdout=log, stderr=log)
    url = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return p, url
        except OSError:
            time.sleep(0.1)
    raise SystemExit("moto did not start")


def moto_version():
    py = os.path.join(TOOLS, "venv", "bin", "python")
    r = subprocess.run([py, "-c", "import moto;print(moto.__version__)"], stdout=subprocess.PIPE, text=True)
    return r.stdout.strip() or "?"


def timed(cmd, extra_env=None):
    e = env()
    e.update(extra_env or {})
    lo0, t0 = lo_bytes(), time.monotonic()
    r = subprocess.run(cmd, env=e, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wall = time.monotonic() - t0
    return r, wall, lo_bytes() - lo0


def lakesync_run(url, mode, dest, report):
    r, wall, lo = timed([LAKESYNC, "sync", "--endpoint-url", url, "--source", "s3://bsrc", "--dest", dest,
                         "--mode", mode, "--workers", str(WORKERS), "--fixed-workers", "--report", report, "-q"])
    if r.returncode != 0:
        raise SystemExit(f"lakesync {mode} failed: {r.stderr[-2000:]}")
    with open(report) as f:
        rep = json.load(f)
    res = rep.get("resources") or {}
    return {"wall": wall, "lo_bytes": lo, "ops_per_file": rep["operations"]["per_file"],
            "local_bytes": rep["operations"]["local_bytes_written"],
            "rss_lakesync": res.get("rss_peak_bytes"), "rss_s5cmd": res.get("child_rss_peak_bytes"),
            "copied": rep["totals"]["copied"], "validated": rep["totals"]["validated"],
            "lakesync_cpu_s": rep.get("lakesync_cpu_seconds")}


def scenario(url, name, files, size_class, reps, tools, tmp):
    src_dir = os.path.join(tmp, f"src-{name}")
    gen = [sys.executable, os.path.join(ROOT, "scripts", "gen_fixtures.py"), "--out", src_dir,
           "--files", str(max(1, files // 2)), "--size-class", size_class, "--layout", "klines"]
    if size_class in ("medium", "large"):
        gen += ["--compression", "stored"]
    if files == 1:
        gen[gen.index("--files") + 1] = "1"
    subprocess.run(gen, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if files == 1:  # one object: drop the CHECKSUM
        for d, _, fs in os.walk(src_dir):
            for f in fs:
                if f.endswith(".CHECKSUM"):
                    os.remove(os.path.join(d, f))
    # Scenarios reuse key names: empty the bucket so each scenario has only its own objects.
    s5(url, "rm", "s3://bsrc/*", check=False)
    s5(url, "mb", "s3://bsrc", check=False)
    s5(url, "--numworkers", "32", "cp", f"{src_dir}/*", "s3://bsrc/")
    shutil.rmtree(src_dir)
    listing = s5(url, "--json", "ls", "s3://bsrc/*").stdout.splitlines()
    n = len(listing)
    total = sum(json.loads(l).get("size", 0) for l in listing)
    s5(url, "mb", "s3://bdst", check=False)
    cmds = os.path.join(tmp, "cmds.txt")
    runs = {t: [] for t in tools}
    for rep in range(reps):
        order = tools if rep % 2 == 0 else list(reversed(tools))
        for tool in order:
            prefix = f"{name}-{tool}-{rep}"
            if tool.startswith("lakesync-"):
                m = lakesync_run(url, tool.split("-")[1], f"s3://bdst/{prefix}", os.path.join(tmp, "r.json"))
            elif tool == "s5cmd-run":
                subprocess.run([LAKESYNC, "sync", "--endpoint-url", url, "--source", "s3://bsrc", "--dest",
                                f"s3://bdst/{prefix}", "--dry-run", "--write-commands", cmds, "-q"],
                               env=env(), check=True)
                r, wall, lo = timed([S5CMD, "--endpoint-url", url, "--json", "--numworkers", str(WORKERS), "run", cmds])
                m = {"wall": wall, "lo_bytes": lo}
            elif tool == "aws-s3-cp":
                r, wall, lo = timed(["aws", "--endpoint-url", url, "s3", "cp", "--recursive", "--only-show-errors",
                                     "s3://bsrc/", f"s3://bdst/{prefix}/"], {"AWS_DEFAULT_REGION": "us-east-1"})
                m = {"wall": wall, "lo_bytes": lo}
            elif tool == "rclone-copy":
                r, wall, lo = timed(["rclone", "copy", "--transfers", "32", "--checkers", "32", "--s3-no-check-bucket",
                                     "bench:bsrc", f"bench:bdst/{prefix}"],
                                    {"RCLONE_CONFIG_BENCH_TYPE": "s3", "RCLONE_CONFIG_BENCH_PROVIDER": "Other",
                                     "RCLONE_CONFIG_BENCH_ENDPOINT": url, "RCLONE_CONFIG_BENCH_ACCESS_KEY_ID": "bench",
                                     "RCLONE_CONFIG_BENCH_SECRET_ACCESS_KEY": "bench"})
                m = {"wall": wall, "lo_bytes": lo}
            got = [l for l in s5(url, "--json", "ls", f"s3://bdst/{prefix}/*", check=False).stdout.splitlines() if l.strip()]
            m["landed"] = len(got)
            runs[tool].append(m)
            s5(url, "rm", f"s3://bdst/{prefix}/*", check=False)
    summary = {}
    for tool, rs in runs.items():
        walls = [r["wall"] for r in rs]
        med = statistics.median(walls)
        summary[tool] = {
            "wall_median": round(med, 3), "wall_min": round(min(walls), 3), "wall_max": round(max(walls), 3),
            "files_per_s": round(n / med, 1), "mb_per_s": round(total / 1e6 / med, 2),
            "lo_bytes_per_byte": round(statistics.median(r["lo_bytes"] for r in rs) / max(total, 1), 2),
            "landed_all": all(r["landed"] == n for r in rs),
        }
        for k in ("ops_per_file", "local_bytes", "rss_lakesync", "rss_s5cmd", "lakesync_cpu_s"):
            vals = [r[k] for r in rs if r.get(k) is not None]
            if vals:
                summary[tool][k] = statistics.median(vals)
    return {"name": name, "objects": n, "bytes": total, "size_class": size_class, "runs": runs, "summary": summary}


def machine():
    mem = next((l.split()[1] for l in open("/proc/meminfo") if l.startswith("MemTotal")), "?")
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    rev = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], stdout=subprocess.PIPE, text=True).stdout.strip()
    s5v = subprocess.run([S5CMD, "version"], stdout=subprocess.PIPE, text=True).stdout.strip()
    return {"nproc": os.cpu_count(), "mem_kib": int(mem), "cpu": cpu, "kernel": platform.release(),
            "s5cmd": s5v, "lakesync_rev": rev, "loadavg_start": os.getloadavg()[0]}


def markdown(res):
    m = res["machine"]
    out = [f"# lakesync benchmark {res['date']} on {res['server']}", "",
           f"Machine: {m['nproc']} cores, {m['mem_kib'] // 1024 // 1024} GiB, {m['cpu']}; s5cmd {m['s5cmd']}; "
           f"lakesync {m['lakesync_rev']}; load average at start {m['loadavg_start']:.1f}. "
           f"Server: {res['server']} (all figures from this one server; never compare across servers). "
           f"{WORKERS} workers, medians of {res['reps']} alternating runs [min-max].", "",
           "| scenario | tool | wall s | files/s | MB/s | lo bytes / byte | ops/file | local bytes | RSS lakesync | RSS s5cmd | all landed |",
           "|---|---|---|---|---|---|---|---|---|---|---|"]
    for sc in res["scenarios"]:
        for tool, s in sc["summary"].items():
            mb = lambda v: f"{v / 1e6:.1f} MB" if v else ""
            out.append(f"| {sc['objects']} {sc['size_class']} ({sc['bytes'] / 1e6:.1f} MB) | {tool} | "
                       f"{s['wall_median']} [{s['wall_min']}-{s['wall_max']}] | {s['files_per_s']} | {s['mb_per_s']} | "
                       f"{s['lo_bytes_per_byte']} | {s.get('ops_per_file', '')} | {s.get('local_bytes', '')} | "
                       f"{mb(s.get('rss_lakesync'))} | {mb(s.get('rss_s5cmd'))} | {s['landed_all']} |")
    out += ["", "Spec (performance-spec.md) beside ours: 1.3 s per 100-file batch; 50 files/s small direct, "
            "12 files/s medium direct; < 100 MB memory; 1 op/file direct, 5 staged. lakesync-direct's and -staged's "
            "times include listing both sides, planning and the validation listing; s5cmd-run is only the copies."]
    return "\n".join(out) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--full", action="store_true", help="add 10,000 small and large-file scenarios")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--only", help="run only the scenarios whose name contains this")
    a = ap.parse_args()
    for exe in (S5CMD, LAKESYNC):
        if not os.path.exists(exe):
            raise SystemExit(f"{exe} missing: run make setup")
    tools = ["lakesync-direct", "s5cmd-run", "lakesync-staged"]
    tools += [t for t, exe in (("aws-s3-cp", "aws"), ("rclone-copy", "rclone")) if shutil.which(exe)]
    scenarios = [("1-small", 1, "tiny"), ("10-small", 10, "tiny"), ("100-small", 100, "tiny"),
                 ("100-small-1MB", 100, "small"), ("1000-small", 1000, "tiny"), ("100-medium", 100, "medium")]
    if a.full:
        scenarios += [("10000-small", 10000, "tiny"), ("10-large", 10, "large")]
    if a.only:
        scenarios = [sc for sc in scenarios if a.only in sc[0]]
    proc, url = start_moto()
    server = f"moto-{moto_version()}"
    res = {"date": datetime.date.today().isoformat(), "server": server, "reps": a.reps, "machine": machine(),
           "note": "Garage (recommended for server-side benchmarks) is not built by make bench: moto is the server here.",
           "scenarios": []}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for name, files, cls in scenarios:
                t0 = time.monotonic()
                sc = scenario(url, name, files, cls, a.reps, tools, tmp)
                res["scenarios"].append(sc)
                print(f"bench: {name}: " + ", ".join(f"{t} {s['wall_median']}s" for t, s in sc["summary"].items())
                      + f" ({time.monotonic() - t0:.0f}s)", file=sys.stderr)
    finally:
        proc.terminate()
        proc.wait()
    out_dir = os.path.join(ROOT, "bench", "results")
    os.makedirs(out_dir, exist_ok=True)
    base = os.path.join(out_dir, f"{res['date']}-{server}" + (f"-{a.only}" if a.only else ""))
    with open(base + ".json", "w") as f:
        json.dump(res, f, indent=1)
    md = markdown(res)
    for p in [base + ".md"] + ([] if a.only else [os.path.join(out_dir, "LATEST.md")]):
        with open(p, "w") as f:
            f.write(md)
    print(md)


if __name__ == "__main__":
    main()
