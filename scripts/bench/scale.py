#!/usr/bin/env python3
"""lakesync at archive scale (make bench-scale). Python 3 standard library only.

The jobs of issue 12 against archive-sim (crates/archive-sim: the whole data.binance.vision,
~2.3e8 keys, in ap-northeast-1; destinations in us-east-1) with 50 ms added to every
request, each run stopped at a time limit:

  a1  the daily job, one interval: yesterday's daily 1m klines of every spot symbol into a
      destination mirrored through the day before
  a2  the same, every interval
  b   a backfill: one month of daily 1m klines of every spot symbol into an empty destination
  c   a1 as 16 shards (lakesync --shard i/16), 4 at a time

and the scenarios of issue 13's two targets that other runs never measured (lakesync only,
chosen with --only; each job runs on a simulator of its own, started once for the run):

  history  (jobs h1y, h8y) a1 against an archive of 1 year of history and one of 8 years
           (archive-sim --history-years 1 / 8; the days since are the same archive's);
           target: within 10% in wall time and LIST requests
  s200     (jobs s200, s200-symbols) 200 spot symbols x 1m x 30 days of daily files (12,000
           keys; a model folder written from crates/archive-sim/model), 40 ms a request:
           one day (400 copies) into a destination mirrored through the day before, without
           and with --symbols naming all 200; target: <= 2 s end to end, both

Tools: lakesync (today's build, the baseline the listing rework must beat; or several builds
as separate tools with --lakesync NAME=PATH, e.g. before/after a change), and the peers where
they can do the job: `s5cmd sync` with a wildcard source, `aws s3 sync` and `rclone copy` with
include filters. Every run gets its own destination bucket. The tools of a job run in an
order rotated per repetition and per job (--repeat N: medians and [min-max] in the table).

Per run: wall time; the requests the simulator served by kind, keys listed per bucket
(/_sim/stats, reset before each run); objects wanted and landed (/_sim/count); CPU of the
tool's process tree (os.wait4) split into lakesync (its report) and s5cmd; peak RSS of the
tool and of its largest child (/proc polling, scripts/bench/bench.py's Poller); the
simulator's own CPU; the load average. A run still going at --limit is stopped (SIGTERM to
its process group; lakesync writes its partial report) and its listing extrapolated:
projected time = elapsed x keys the job must list / keys it listed, with the keys to list
counted by the simulator for what the tool lists (lakesync, s5cmd and aws list the whole
data-type folder of both sides; rclone walks folders and lists only the interval folders
its include filter allows; every shard lists the whole selection).

Job definitions are data (JOBS, TOOLS below) and are written into the results: rerun the
same jobs after a change with `make bench-scale` and compare.

Safety: every tool runs with HTTP(S)_PROXY pointing at a closed local port (NO_PROXY for
127.0.0.1), and aws-cli gets AWS_ENDPOINT_URL_S3: aws-cli's `--source-region` client
ignores --endpoint-url and would otherwise try the real ap-northeast-1 endpoint.

usage: scripts/bench/scale.py [--quick] [--limit S] [--repeat N] [--latency-ms N]
                              [--jobs a1,a2,b,c | --only SCENARIO,...]
                              [--tools lakesync,s5cmd-sync,aws-s3-sync,rclone-copy]
                              [--lakesync NAME=PATH]... [--as-of YYYY-MM-DD] [--workers N]
                              [--sim PATH] [--out DIR]
       scripts/bench/scale.py --render RESULTS.json     (rewrite its Markdown)
exit: 0 results written; 1 a run of the driver failed; 2 bad usage (with a hint)
  e.g. scripts/bench/scale.py --quick --lakesync before=target/bench-baseline/REV/lakesync \
           --lakesync after=target/release/lakesync          (a1, both builds, 60 s each)
       scripts/bench/scale.py --only history,s200 --repeat 3   (issue 13's unmeasured targets)
"""

import argparse
import datetime
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402  (the quick benchmark's /proc helpers and Poller)

ROOT = bench.ROOT
SIM = os.path.join(ROOT, "target", "release", "archive-sim")
LAKESYNC = bench.LAKESYNC_BUILT  # the default (and only) lakesync unless --lakesync NAME=PATH
S5CMD = bench.S5CMD
PEER_BIN = bench.PEER_BIN
SRC_BUCKET = "data.binance.vision"
FOLDER = "data/spot/daily/klines/"  # the data-type folder every job selects from

# ------------------------------------------------------------------------------ the jobs
# `days`: "day" = the day before --as-of (published on --as-of), "month" = the calendar month
# before --as-of's month. `dest`: "mirror" = mirrored through the day before `day`, "empty".
# `intervals`: kline intervals selected (None: all). `shards`/`parallel`: lakesync --shard.
# `archive`: the simulator the job runs on, when not the default (the whole archive at
# --latency-ms): `history_years` (archive-sim --history-years N), `model` ("s200": a model
# folder of S200_SYMBOLS spot symbols with S200_DAYS days of 1m klines), `latency_ms`.
# `symbols`: "model" = lakesync --symbols naming every symbol of the job's model folder.
JOBS = {
    "a1": {"title": "daily job, one interval: yesterday's 1m klines of every spot symbol",
           "days": "day", "intervals": ["1m"], "dest": "mirror"},
    "a2": {"title": "daily job, all intervals: yesterday's klines of every spot symbol",
           "days": "day", "intervals": None, "dest": "mirror"},
    "b": {"title": "backfill: one month of 1m klines for every spot symbol",
          "days": "month", "intervals": ["1m"], "dest": "empty"},
    "c": {"title": "a1 as 16 shards (--shard i/16), 4 at a time",
          "days": "day", "intervals": ["1m"], "dest": "mirror", "shards": 16, "parallel": 4,
          "tools": ["lakesync"]},
    "h1y": {"title": "a1 on an archive of 1 year of history (archive-sim --history-years 1)",
            "days": "day", "intervals": ["1m"], "dest": "mirror", "tools": ["lakesync"],
            "archive": {"history_years": 1}},
    "h8y": {"title": "a1 on an archive of 8 years of history (archive-sim --history-years 8)",
            "days": "day", "intervals": ["1m"], "dest": "mirror", "tools": ["lakesync"],
            "archive": {"history_years": 8}},
    "s200": {"title": "200 spot symbols x 1m x 30 days (12,000 keys), 40 ms a request: one day "
                      "(400 copies) into a destination holding the days before, without --symbols",
             "days": "day", "intervals": ["1m"], "dest": "mirror", "tools": ["lakesync"],
             "archive": {"model": "s200", "latency_ms": 40}},
    "s200-symbols": {"title": "the same with --symbols naming all 200 symbols",
                     "days": "day", "intervals": ["1m"], "dest": "mirror", "tools": ["lakesync"],
                     "archive": {"model": "s200", "latency_ms": 40}, "symbols": "model"},
}
# What a run with no --jobs/--only runs (the issue-12 jobs); the others are chosen by name.
DEFAULT_JOBS = ["a1", "a2", "b", "c"]
# --only: scenarios, each a group of jobs whose runs are interleaved (per repetition the
# jobs in an order rotated too), so that the machine's load drifts over both sides of a
# comparison alike. Every job is a scenario of its own as well.
SCENARIOS = {
    "history": {"jobs": ["h1y", "h8y"],
                "target": "issue 13: listing cost does not grow with history: the same job against 1 year "
                          "and 8 years of archive within 10% in wall time and LIST requests"},
    "s200": {"jobs": ["s200", "s200-symbols"],
             "target": "issue 13: the 200-symbol case (200 symbols x 1m x 30 days, 40 ms a request, a "
                       "one-day run): <= 2 s end to end with and without --symbols"},
}
S200_SYMBOLS = 200
S200_DAYS = 30
MODEL_DIR = os.path.join(ROOT, "crates", "archive-sim", "model")
# What each tool lists, for the extrapolation: "folder" = the whole data-type folder on both
# sides; "walk" = only the interval folders the include filter lets a folder walk into.
# "lakesync" stands for every --lakesync build (each a tool of its own in the results).
# "s5cmd-run": raw `s5cmd --numworkers 256 run` on lakesync's own first-attempt lines (its
# `--dry-run --write-commands`, made before the timed run, so no listing is timed): s5cmd at
# its best over exactly the same objects, the issue-14 reference.
TOOLS = {
    "lakesync": {"lists": "folder"},
    "s5cmd-run": {"lists": "none"},
    "s5cmd-sync": {"lists": "folder"},
    "aws-s3-sync": {"lists": "folder"},
    "rclone-copy": {"lists": "walk"},
}


def log(msg):
    print(f"bench-scale: {msg}", file=sys.stderr, flush=True)


# ------------------------------------------------------------------------------ the simulator


class Sim:
    def __init__(self, exe, args):
        self.args = args
        self.p = subprocess.Popen([exe, "--listen", "127.0.0.1:0", *args], stdin=subprocess.DEVNULL,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.url = self.p.stdout.readline().strip()
        if not self.url.startswith("http://127.0.0.1:"):
            raise SystemExit(f"bench-scale: archive-sim did not start: {self.p.stderr.read()[-2000:]}")
        self.pid = self.p.pid
        self.describe = self.p.stderr.readline().strip()
        # keep draining stderr so that the simulator never blocks on it
        threading.Thread(target=lambda: [None for _ in self.p.stderr], daemon=True).start()
        self.opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def call(self, path, method="GET"):
        req = urllib.request.Request(self.url + path, method=method, data=b"" if method == "POST" else None)
        return json.loads(self.opener.open(req, timeout=600).read())

    def stats(self):
        return self.call("/_sim/stats")

    def reset(self):
        self.call("/_sim/reset", "POST")

    def count(self, bucket, prefix, interval=None, days=None):
        q = {"bucket": bucket, "prefix": prefix}
        if interval:
            q["interval"] = interval
        if days:
            q["from"], q["to"] = days
        return self.call("/_sim/count?" + urllib.parse.urlencode(q))["keys"]

    def cpu(self):
        return bench.proc_cpu_seconds(self.pid)

    def rss_kb(self):
        st = bench.status_of(self.pid)
        return st[1] if st else None

    def stop(self):
        self.p.send_signal(signal.SIGTERM)
        try:
            self.p.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.p.kill()


# ------------------------------------------------------------------------------ measuring


class TreePoller(bench.Poller):
    """bench.Poller (peak RSS of the tool and of its largest child) plus the tool's own CPU."""

    root_cpu = None

    def sample(self):
        super().sample()
        c = bench.proc_cpu_seconds(self.pid)
        if c is not None:
            self.root_cpu = c
        # each child's CPU as last seen: os.wait4 counts a child only if its parent reaped it,
        # and a lakesync stopped by SIGTERM may exit before its s5cmd children are reaped
        if not hasattr(self, "child_cpu"):
            self.child_cpu = {}
        for pid in list(self.children):
            c = bench.proc_cpu_seconds(pid)
            if c is not None:
                self.child_cpu[pid] = max(c, self.child_cpu.get(pid, 0.0))


def run_limited(cmd, env, limit, stderr_path):
    """Run `cmd` in its own session; SIGTERM the session at `limit` seconds (SIGKILL 90 s
    later). Returns wall, rc, stopped, tree CPU, the root's CPU and peak RSS figures."""
    err = open(stderr_path, "w")
    t0 = time.monotonic()
    p = subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err,
                         start_new_session=True)
    poller = TreePoller(p.pid)
    poller.start()
    stopped = False
    killed = False

    def stopper():
        nonlocal stopped, killed
        if done.wait(limit):
            return
        stopped = True
        try:
            os.killpg(p.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        if not done.wait(90):
            killed = True
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    done = threading.Event()
    th = threading.Thread(target=stopper, daemon=True)
    th.start()
    _, status, ru = os.wait4(p.pid, 0)
    wall = time.monotonic() - t0
    done.set()
    poller.stop()
    err.close()
    tree_cpu = ru.ru_utime + ru.ru_stime
    return {
        "rc": os.waitstatus_to_exitcode(status), "wall_s": round(wall, 2), "stopped": stopped,
        "killed": killed, "tree_cpu_s": round(tree_cpu, 2),
        "root_cpu_s": round(poller.root_cpu, 2) if poller.root_cpu is not None else None,
        "root_hwm_mb": round(poller.root_hwm_kb / 1024, 1), "child_hwm_mb": round(poller.child_hwm_kb / 1024, 1),
        "tree_rss_sum_mb": round(poller.tree_rss_sum_kb / 1024, 1),
        "children_cpu_polled_s": round(sum(getattr(poller, "child_cpu", {}).values()), 2),
        "children": sorted(set(poller.children.values())),
    }


# ------------------------------------------------------------------------------ the bench


def days_of(as_of):
    d = datetime.date.fromisoformat(as_of)
    day = d - datetime.timedelta(days=1)
    first_of_month = d.replace(day=1)
    last_prev = first_of_month - datetime.timedelta(days=1)
    return {
        "as_of": as_of,
        "day": day.isoformat(),
        "mirrored_through": (day - datetime.timedelta(days=1)).isoformat(),
        "month": (last_prev.replace(day=1).isoformat(), last_prev.isoformat()),
    }


def default_as_of():
    now = datetime.datetime.now(datetime.timezone.utc)
    noon = now.replace(hour=12, minute=0, second=0, microsecond=0)
    return (now.date() if now >= noon else now.date() - datetime.timedelta(days=1)).isoformat()


def kind_of(tool):
    """The tool family: every lakesync build is "lakesync"."""
    return "lakesync" if tool == "lakesync" or tool.startswith("lakesync ") else tool


def slug(text):
    return "".join(c if c.isalnum() else "-" for c in text.lower()).strip("-")


def archive_key(job):
    """The simulator a job runs on: "full" (the whole archive at --latency-ms) or e.g. "1y",
    "s200-40ms"."""
    spec = JOBS[job].get("archive") or {}
    parts = []
    if spec.get("history_years"):
        parts.append(f"{spec['history_years']}y")
    if spec.get("model"):
        parts.append(spec["model"])
    if spec.get("latency_ms") is not None:
        parts.append(f"{spec['latency_ms']}ms")
    return "-".join(parts) or "full"


def write_s200_model(dst, first_day):
    """A model folder for the 200-symbol case: the first S200_SYMBOLS spot symbols (byte
    order) of the embedded active list, each with only the 1m interval folder and its first
    day on `first_day`, in both spot files (so all of them are active: none is delisted);
    um and cm without symbols; the re-upload list as it is. With --no-new-listings and
    --hole-fraction 0 the source's data/spot/daily/klines/ then holds S200_SYMBOLS x days x
    2 keys (zip + CHECKSUM). Returns the symbols."""
    os.makedirs(dst)
    with open(os.path.join(MODEL_DIR, "spot_active_2025-05-03.csv")) as f:
        lines = f.read().splitlines()
    header = lines[0]
    names = sorted({ln.split(",")[1] for ln in lines[1:] if ln.strip() and ln.split(",")[0] == "spot"})
    names = names[:S200_SYMBOLS]
    rows = [f'spot,{n},{first_day},"1m"' for n in names]
    for name in ("spot_daily_klines_2025-04-11.csv", "spot_active_2025-05-03.csv"):
        with open(os.path.join(dst, name), "w") as f:
            f.write("\n".join([header, *rows]) + "\n")
    for name in ("um_daily_klines_2025-04-11.csv", "cm_daily_klines_2025-04-11.csv",
                 "um_active_2025-05-03.csv", "cm_active_2025-05.csv"):
        with open(os.path.join(dst, name), "w") as f:
            f.write(header + "\n")
    shutil.copy(os.path.join(MODEL_DIR, "reuploads_2022-04-21_aggTrades.csv"), dst)
    return names


def sim_args_of(key, job, a, dates, models):
    """archive-sim's flags for the simulator `key` (its destination buckets aside)."""
    spec = JOBS[job].get("archive") or {}
    latency = spec.get("latency_ms", a.latency_ms)
    args = ["--as-of", dates["as_of"], "--latency-ms", str(latency), "--threads", str(a.sim_threads)]
    if spec.get("history_years"):
        # no holes: a series' hole is placed from its first day, which the cut-off moves, so
        # with holes the two archives' day could differ by a symbol or two
        args += ["--history-years", str(spec["history_years"]), "--hole-fraction", "0"]
    if spec.get("model"):
        args += ["--model", models[spec["model"]]["dir"], "--no-new-listings", "--hole-fraction", "0"]
    return args


class Scale:
    def __init__(self, a, sims, tmp, dates, builds, models=None):
        # sims: archive key -> Sim; models: model name -> {"dir", "symbols"}
        self.a, self.sims, self.tmp, self.dates = a, sims, tmp, dates
        self.models = models or {}
        # tool name -> a private copy of the binary (others may rebuild theirs meanwhile)
        self.lakesync = {}
        self.builds = builds
        for i, (tool, path) in enumerate(builds.items()):
            d = os.path.join(tmp, f"lakesync-{i}")
            os.makedirs(d)
            self.lakesync[tool] = os.path.join(d, "lakesync")
            shutil.copy2(path, self.lakesync[tool])
        self.aws = shutil.which("aws", path=PEER_BIN)
        self.rclone = shutil.which("rclone", path=PEER_BIN)
        self.aws_conf = os.path.join(tmp, "aws-config")
        with open(self.aws_conf, "w") as f:
            f.write(f"[default]\nregion = us-east-1\ns3 =\n    max_concurrent_requests = {a.workers}\n")
        self.empty = os.path.join(tmp, "empty")
        open(self.empty, "w").close()

    def sim_of(self, job):
        return self.sims[archive_key(job)]

    def env(self, tool, sim):
        """No inherited AWS/LAKESYNC/RCLONE settings; any key; no region for lakesync and s5cmd
        (s5cmd then asks each bucket's region with HeadBucket); a dead proxy for everything
        that is not 127.0.0.1."""
        e = {k: v for k, v in os.environ.items()
             if not k.startswith(("AWS_", "LAKESYNC_", "RCLONE_", "S3_ENDPOINT")) and k.lower() not in
             ("http_proxy", "https_proxy", "no_proxy", "all_proxy")}
        e.update(AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench", AWS_SHARED_CREDENTIALS_FILE=self.empty,
                 AWS_CONFIG_FILE=self.aws_conf if tool == "aws-s3-sync" else self.empty,
                 LAKESYNC_S5CMD=S5CMD, HTTP_PROXY="http://127.0.0.1:9", HTTPS_PROXY="http://127.0.0.1:9",
                 NO_PROXY="127.0.0.1,localhost", http_proxy="http://127.0.0.1:9",
                 https_proxy="http://127.0.0.1:9", no_proxy="127.0.0.1,localhost")
        if tool == "aws-s3-sync":
            e.update(AWS_ENDPOINT_URL=sim.url, AWS_ENDPOINT_URL_S3=sim.url)
        if tool == "rclone-copy":
            e["RCLONE_CONFIG"] = self.empty
            for name, region in (("SRC", "ap-northeast-1"), ("DST", "us-east-1")):
                e.update({f"RCLONE_CONFIG_{name}_TYPE": "s3", f"RCLONE_CONFIG_{name}_PROVIDER": "Other",
                          f"RCLONE_CONFIG_{name}_ENDPOINT": sim.url,
                          f"RCLONE_CONFIG_{name}_ACCESS_KEY_ID": "bench",
                          f"RCLONE_CONFIG_{name}_SECRET_ACCESS_KEY": "bench",
                          f"RCLONE_CONFIG_{name}_REGION": region})
        return e

    def job_days(self, job):
        if JOBS[job]["days"] == "day":
            return (self.dates["day"], self.dates["day"])
        return self.dates["month"]

    def patterns(self, job):
        """File-name patterns relative to the data-type folder, per tool family."""
        start, end = self.job_days(job)
        iv = JOBS[job]["intervals"]
        if JOBS[job]["days"] == "day":
            date = start
        else:
            date = start[:8] + "*"  # YYYY-MM-*
        if iv:
            return {"s5cmd": f"*/{iv[0]}/*-{iv[0]}-{date}.zip*", "aws": f"*/{iv[0]}/*-{iv[0]}-{date}.zip*",
                    "rclone": f"*/{iv[0]}/*-{iv[0]}-{date}.zip*"}
        return {"s5cmd": f"*/*/*-{date}.zip*", "aws": f"*-{date}.zip*", "rclone": f"*/*/*-{date}.zip*"}

    def command(self, job, tool, bucket, report, shard=None):
        start, end = self.job_days(job)
        url = self.sim_of(job).url
        pat = self.patterns(job)
        if kind_of(tool) == "lakesync":
            cmd = [self.lakesync[tool], "sync", "--endpoint-url", url, "--dest", f"s3://{bucket}", "--market", "spot",
                   "--period", "daily", "--data-type", "klines", "--start", start, "--end", end,
                   "--workers", str(self.a.workers), "--report", report, "--progress-interval", "0", "-q"]
            if JOBS[job]["intervals"]:
                cmd += ["--interval", ",".join(JOBS[job]["intervals"])]
            if JOBS[job].get("symbols") == "model":
                model = JOBS[job]["archive"]["model"]
                cmd += ["--symbols", ",".join(self.models[model]["symbols"])]
            if shard is not None:
                cmd += ["--shard", f"{shard}/{JOBS[job]['shards']}"]
            return cmd + LAKESYNC_ARGS.get(tool, [])
        if tool == "s5cmd-run":
            return [S5CMD, "--endpoint-url", url, "--numworkers", "256", "run", self.lines_file(bucket)]
        if tool == "s5cmd-sync":
            return [S5CMD, "--endpoint-url", url, "--numworkers", str(self.a.workers), "sync",
                    f"s3://{SRC_BUCKET}/{FOLDER}{pat['s5cmd']}", f"s3://{bucket}/{FOLDER}"]
        if tool == "aws-s3-sync":
            return [self.aws, "--endpoint-url", url, "s3", "sync", f"s3://{SRC_BUCKET}/{FOLDER}",
                    f"s3://{bucket}/{FOLDER}", "--exclude", "*", "--include", pat["aws"],
                    "--source-region", "ap-northeast-1", "--region", "us-east-1", "--only-show-errors", "--no-progress"]
        if tool == "rclone-copy":
            return [self.rclone, "copy", f"src:{SRC_BUCKET}/{FOLDER.rstrip('/')}", f"dst:{bucket}/{FOLDER.rstrip('/')}",
                    "--include", pat["rclone"], "--transfers", str(self.a.workers), "--checkers", str(self.a.workers),
                    "--s3-no-check-bucket", "--server-side-across-configs"]
        raise ValueError(tool)

    def lines_file(self, bucket):
        return os.path.join(self.tmp, f"lines-{bucket}.txt")

    def prepare_lines(self, job, bucket):
        """For s5cmd-run: lakesync's first-attempt command lines for this job into `bucket`
        (a dry run, untimed, before the simulator's counters are reset)."""
        path = self.lines_file(bucket)
        build = "lakesync" if "lakesync" in self.lakesync else next(iter(self.lakesync))
        cmd = self.command(job, build, bucket, os.path.join(self.tmp, f"dry-{bucket}.json"))
        cmd += ["--dry-run", "--write-commands", path]
        p = subprocess.run(cmd, env=self.env(build, self.sim_of(job)), stdin=subprocess.DEVNULL,
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        if p.returncode != 0:
            raise SystemExit(f"bench-scale: the dry run for s5cmd-run failed ({p.returncode}): {p.stderr[-1500:]}")
        with open(path) as f:
            log(f"s5cmd-run: {sum(1 for _ in f)} command lines from lakesync's dry run")

    def keys_to_list(self, job, tool, bucket):
        """What the tool must list for this job, on each side (the simulator counts it)."""
        iv = JOBS[job]["intervals"]
        sim = self.sim_of(job)
        if TOOLS[kind_of(tool)]["lists"] == "none":
            return {"source": 0, "dest": 0}
        if TOOLS[kind_of(tool)]["lists"] == "walk" and iv:
            return {"source": sim.count(SRC_BUCKET, FOLDER, iv[0]), "dest": sim.count(bucket, FOLDER, iv[0])}
        return {"source": sim.count(SRC_BUCKET, FOLDER), "dest": sim.count(bucket, FOLDER)}

    def wanted(self, job, bucket):
        """Objects the job must copy: the selection at the source minus what the mirror holds."""
        iv = (JOBS[job]["intervals"] or [None])[0]
        days = self.job_days(job)
        sim = self.sim_of(job)
        return sim.count(SRC_BUCKET, FOLDER, iv, days) - sim.count(bucket, FOLDER, iv, days)

    def landed(self, job, bucket):
        iv = (JOBS[job]["intervals"] or [None])[0]
        return self.sim_of(job).count(bucket, FOLDER, iv, self.job_days(job))

    def run(self, job, tool, bucket, rep=0, order=0):
        spec = JOBS[job]
        log(f"{job} {tool} (repetition {rep + 1}, #{order + 1} in its order): {spec['title']} -> s3://{bucket}")
        to_list = self.keys_to_list(job, tool, bucket)
        wanted = self.wanted(job, bucket)
        before = self.landed(job, bucket)
        sim = self.sim_of(job)
        if tool == "s5cmd-run":
            self.prepare_lines(job, bucket)
        sim.reset()
        sim_cpu0, busy0, me0 = sim.cpu(), bench.machine_busy_seconds(), os.times()
        load0 = bench.loadavg()[0]
        t0 = time.monotonic()
        deadline = t0 + self.a.limit
        shards = spec.get("shards")
        lakesync = kind_of(tool) == "lakesync"

        def one(tag, shard=None):
            rep_path = os.path.join(self.tmp, f"report-{bucket}-{tag}.json")
            errp = os.path.join(self.tmp, f"stderr-{bucket}-{tag}.txt")
            m = run_limited(self.command(job, tool, bucket, rep_path, shard=shard), self.env(tool, sim),
                            max(1.0, deadline - time.monotonic()), errp)
            if lakesync:
                m["report"] = lakesync_report(rep_path)
            if m["rc"] != 0 and not m["stopped"]:
                with open(errp, errors="replace") as f:
                    m["stderr_tail"] = f.read()[-1500:]
            return m

        if shards:
            # `parallel` shards at a time until all are done or the limit is reached; a shard
            # not started by then is counted as not run (the projection covers it)
            todo = list(range(shards))
            lock = threading.Lock()
            procs = []

            def worker():
                while True:
                    with lock:
                        if not todo or time.monotonic() >= deadline:
                            return
                        i = todo.pop(0)
                    m = one(f"shard{i}", shard=i)
                    m["shard"] = f"{i}/{shards}"
                    with lock:
                        procs.append(m)

            threads = [threading.Thread(target=worker) for _ in range(spec["parallel"])]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            procs.sort(key=lambda m: int(m["shard"].split("/")[0]))
            not_run = len(todo)
        else:
            procs = [one("run")]
            not_run = 0
        wall = time.monotonic() - t0
        st = sim.stats()
        sim_cpu = sim.cpu() - sim_cpu0
        busy, me = bench.machine_busy_seconds() - busy0, os.times()
        landed = self.landed(job, bucket) - before
        tree_cpu = sum(p["tree_cpu_s"] for p in procs)
        mine = (me.user - me0.user) + (me.system - me0.system)
        foreign = max(0.0, busy - tree_cpu - sim_cpu - mine)
        stopped = any(p["stopped"] for p in procs) or not_run > 0
        listed = {b: c["keys_listed"] for b, c in st["by_bucket"].items()}
        r = {
            "job": job, "tool": tool, "kind": kind_of(tool), "repetition": rep, "order": order, "bucket": bucket,
            "wall_s": round(wall, 2), "stopped": stopped,
            "limit_s": self.a.limit, "rc": [p["rc"] for p in procs], "processes": procs, "shards_not_run": not_run,
            "wanted": wanted, "landed": landed,
            "done": not stopped and all(p["rc"] == 0 for p in procs) and landed >= wanted,
            "requests": {k: v for k, v in st["requests"].items() if v}, "requests_total": st["requests_total"],
            "keys_listed": st["keys_listed"], "keys_listed_by_bucket": listed,
            "prefixes_listed": st["prefixes_listed"], "throttled": st["throttled"], "errors": st["errors"],
            "keys_to_list": to_list, "sim_cpu_s": round(sim_cpu, 2),
            "sim_cpu_share": round(sim_cpu / max(wall, 1e-9), 3), "sim_rss_peak_mb": round((sim.rss_kb() or 0) / 1024, 1),
            "sim": archive_key(job), "list_requests_by_bucket": {b: c["lists"] for b, c in st["by_bucket"].items()},
            "tree_cpu_s": round(tree_cpu, 2), "foreign_share": round(foreign / max(wall * bench.NCPU, 1e-9), 3),
            "load1_start": load0, "load1_end": bench.loadavg()[0],
        }
        if lakesync:
            own = [p["report"]["lakesync_cpu_seconds"] if p.get("report") and p["report"].get("lakesync_cpu_seconds")
                   is not None else p["root_cpu_s"] for p in procs]
            r["lakesync_cpu_s"] = round(sum(x or 0 for x in own), 2)
            # the tree's CPU minus lakesync's is exact when lakesync reaped its children; a
            # stopped run may not have: then the children's CPU polled from /proc is larger
            reaped = tree_cpu - r["lakesync_cpu_s"]
            polled = sum(p.get("children_cpu_polled_s", 0) for p in procs)
            r["s5cmd_cpu_s"] = round(max(reaped, polled), 2)
            r["s5cmd_cpu_source"] = "wait4" if reaped >= polled else "polled"
        total_to_list = to_list["source"] + to_list["dest"]
        r["keys_per_s"] = round(st["keys_listed"] / max(wall, 1e-9))
        if stopped and st["keys_listed"] > 0:
            # every process (each shard) lists the whole selection; at the measured rate of all
            # the processes that ran at once, listing it `shards` times takes this long
            r["projected_listing_s"] = round(wall * total_to_list * (shards or 1) / st["keys_listed"])
            if shards:
                r["projected_per_shard_s"] = round(r["projected_listing_s"] * spec["parallel"] / shards)
            r["list_requests_needed"] = round(total_to_list / 1000 * (shards or 1))
        elif stopped:
            r["projected_listing_s"] = None
        r["summary"] = outcome(r)
        log(f"  {r['summary']} (load average {load0:.2f})")
        return r


def lakesync_report(path):
    try:
        with open(path) as f:
            rep = json.load(f)
    except (OSError, ValueError):
        return None
    t = rep.get("totals") or {}
    res = rep.get("resources") or {}
    return {
        "interrupted": rep.get("interrupted"), "exit_code": rep.get("exit_code"),
        "selected": t.get("selected"), "planned": t.get("planned"), "skipped": t.get("skipped"),
        "copied": t.get("copied"), "validated": t.get("validated"), "failed": t.get("failed"),
        "listing_seconds": (rep.get("plan") or {}).get("listing_seconds"),
        "duration_seconds": rep.get("duration_seconds"),
        "copy_seconds": (rep.get("throughput") or {}).get("copy_seconds"),
        "batches": len(rep.get("batches") or []),
        "prefixes": (rep.get("plan") or {}).get("prefixes"),
        "lakesync_cpu_seconds": rep.get("lakesync_cpu_seconds"),
        "rss_peak_bytes": res.get("rss_peak_bytes"), "child_rss_peak_bytes": res.get("child_rss_peak_bytes"),
        "by_kind": (rep.get("operations") or {}).get("by_kind"),
        "listing": rep.get("listing"), "s5cmd_processes": (rep.get("operations") or {}).get("s5cmd_processes"),
        "error": (rep.get("error") or {}).get("message"),
    }


def fmt_s(s):
    return bench.fmt_scaled(s, [(3600, 3600, "{:.1f} h"), (120, 60, "{:.0f} min"), (0, 1, "{:.0f} s")])


def outcome(r):
    if r["done"]:
        return f"done in {fmt_s(r['wall_s'])}: {r['landed']:,}/{r['wanted']:,} objects, {r['keys_listed']:,} keys listed"
    if r["stopped"]:
        return (f"stopped at {fmt_s(r['limit_s'])}: {r['keys_listed']:,} keys listed ({r['keys_per_s']:,}/s), "
                f"{r['landed']:,}/{r['wanted']:,} objects; listing projected {fmt_s(r.get('projected_listing_s'))}")
    return f"FAILED rc={r['rc']}: {r['landed']:,}/{r['wanted']:,} objects"


def spread(xs, fmt):
    """median, and [min-max] when there is more than one value."""
    xs = [x for x in xs if x is not None]
    if not xs:
        return "–"
    if min(xs) == max(xs):
        return fmt(xs[0])
    return f"{fmt(bench.median(xs))} [{fmt(min(xs))}–{fmt(max(xs))}]"


def cpu_of(r):
    if r["kind"] == "lakesync":
        return f"{r['lakesync_cpu_s']} / {r['s5cmd_cpu_s']}"
    return f"{r['tree_cpu_s']}"


def rss_of(r):
    p = max(r["processes"], key=lambda p: p["root_hwm_mb"] + p["child_hwm_mb"]) if r["processes"] else None
    if p is None:
        return "–"
    txt = f"{p['root_hwm_mb']} / {p['child_hwm_mb']}"
    if len(r["processes"]) > 1:
        txt += f" (largest of {len(r['processes'])})"
    return txt


def state_of(r):
    return "done" if r["done"] else ("stopped" if r["stopped"] else "**failed**")


def groups(runs):
    """Runs by (job, tool), in the order they first ran."""
    out = {}
    for r in runs:
        out.setdefault((r["job"], r["tool"]), []).append(r)
    return out


def markdown(res):
    m = res["machine"]
    d = res["dates"]
    sims = res.get("sims") or {"full": {"args": res["sim_args"], "describe": res["sim_describe"]}}
    lat = sorted({int(v["args"][v["args"].index("--latency-ms") + 1]) for v in sims.values()
                  if "--latency-ms" in v["args"]} or {res["latency_ms"]})
    L = [f"# lakesync at archive scale, {res['date']} (archive-sim, {' / '.join(map(str, lat))} ms per request)", ""]
    if list(sims) == ["full"]:
        L.append(f"- Server: archive-sim (this repository, release build, {res['sim_threads']} runtime thread): "
                 f"`{res['sim_describe']}`.")
    else:
        L.append(f"- Servers: archive-sim (this repository, release build, {res['sim_threads']} runtime thread), one "
                 f"per archive:")
        for key, v in sims.items():
            L.append(f"  - `{key}` (`{sim_flags(v['args'])}`): `{v['describe']}`")
    L.append(f"- As of {d['as_of']}: the daily jobs copy {d['day']} into destinations mirrored through "
             f"{d['mirrored_through']}; the backfill copies {d['month'][0]}..{d['month'][1]} into an empty one. "
             f"Every request waits {' / '.join(map(str, lat))} ms; S3's rate limits (5,500 reads, 3,500 writes a "
             f"second per prefix) on.")
    L.append(f"- Machine: {m['nproc']} cores ({m['cpu_model']}), {m['mem_total_kib'] / 1024 / 1024:.0f} GiB; "
             f"load average (1 min) {m['loadavg_start'][0]:.2f} at the start, {res['loadavg_end'][0]:.2f} at the "
             f"end (per run in the tables). s5cmd {m['s5cmd']}, {m['aws'] or 'aws: not installed'}, "
             f"{m['rclone'] or 'rclone: not installed'}.")
    for tool, b in m["lakesync"].items():
        rev = f"git {b['git_rev']}{', tree differs' if b.get('tree_dirty') else ''}" if b.get("git_rev") else "git revision unknown"
        L.append(f"- `{tool}`: {b['version']} ({rev}; binary sha256 {b['sha256']}, built {b['mtime']}; {b['path']}).")
    L.append(f"- Each run stopped at {res['limit_s']:.0f} s (SIGTERM to its process group); a stopped run's listing "
             f"is extrapolated (elapsed x keys to list / keys listed). {res['repeat']} repetition(s) of every "
             f"(job, tool), tools in an order rotated per job and repetition"
             f"{'; medians with [min–max]' if res['repeat'] > 1 else ''}. `{res['command']}` took "
             f"{res['total_seconds'] / 60:.1f} min.")
    L.append("")
    if res.get("scenarios"):
        L += scenario_sections(res)
        L += ["## All runs by job and tool", ""]
    L.append("| job | tool | runs | outcome | wall s | objects landed / wanted | keys listed/s | projected listing | "
             "LIST / COPY / HEAD / GET requests | CPU s (lakesync / s5cmd, or tool) | peak RSS MB (tool / largest child) "
             "| load avg |")
    L.append("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for (job, tool), rs in groups(res["runs"]).items():
        states = sorted({state_of(r) for r in rs})
        req = lambda k: spread([r["requests"].get(k, 0) for r in rs], lambda x: f"{x:,.0f}")  # noqa: E731
        proj = [r.get("projected_listing_s") for r in rs if r["stopped"]]
        L.append(f"| {job} | {tool} | {len(rs)} | {', '.join(states)} | {spread([r['wall_s'] for r in rs], lambda x: f'{x:.0f}')} | "
                 f"{spread([r['landed'] for r in rs], lambda x: f'{x:,.0f}')} / {rs[0]['wanted']:,} | "
                 f"{spread([r['keys_per_s'] for r in rs], lambda x: f'{x:,.0f}')} | "
                 f"{spread(proj, fmt_s) if proj else '–'} | "
                 f"{req('list')} / {req('copy')} / {req('head')} / {req('get')} | "
                 f"{'; '.join(cpu_of(r) for r in rs)} | {'; '.join(rss_of(r) for r in rs)} | "
                 f"{', '.join(format(r['load1_start'], '.1f') for r in rs)} |")
    L.append("")
    L.append("## Runs")
    L.append("")
    L.append("In the order they ran (`#`: place in its job's rotated order).")
    L.append("")
    L.append("| job | tool | rep | # | outcome | wall s | landed / wanted | keys listed (src / dst) | keys to list "
             "(src / dst) | keys/s | projected listing | requests (all kinds) | sim CPU | load avg |")
    L.append("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in res["runs"]:
        lb = r["keys_listed_by_bucket"]
        src, dst = lb.get(SRC_BUCKET, 0), lb.get(r["bucket"], 0)
        proj = fmt_s(r.get("projected_listing_s")) if r["stopped"] else "–"
        if r.get("projected_per_shard_s"):
            proj += f" ({fmt_s(r['projected_per_shard_s'])} per shard)"
        reqs = ", ".join(f"{k} {v:,}" for k, v in sorted(r["requests"].items()))
        L.append(f"| {r['job']} | {r['tool']} | {r['repetition'] + 1} | {r['order'] + 1} | {r['summary']} | "
                 f"{r['wall_s']:.0f} | {r['landed']:,} / {r['wanted']:,} | {src:,} / {dst:,} | "
                 f"{r['keys_to_list']['source']:,} / {r['keys_to_list']['dest']:,} | {r['keys_per_s']:,} | {proj} | "
                 f"{reqs} | {r['sim_cpu_share'] * 100:.0f}% | {r['load1_start']:.2f} |")
    L.append("")
    L.append("## Jobs")
    L.append("")
    for j, spec in res["jobs"].items():
        L.append(f"- **{j}**: {spec['title']}.")
    L.append("")
    L.append("Command lines (`URL` = the simulator, `B` = the run's bucket):")
    L.append("")
    for j, cmds in res["commands"].items():
        for tool, cmd in cmds.items():
            L.append(f"- {j} {tool}: `{cmd}`")
    L.append("")
    return bench.finish_markdown(L, res["notes"])


def sim_flags(args):
    """archive-sim's flags without the destination buckets (one per run)."""
    out, skip = [], False
    for x in args:
        if skip:
            skip = False
            continue
        if x == "--dest-bucket":
            skip = True
            continue
        out.append(x)
    return " ".join(out)


def listing_of(r):
    """lakesync's report `listing` summed over the run's processes: stage -> counts."""
    total = {}
    for p in r["processes"]:
        lst = (p.get("report") or {}).get("listing") or {}
        for stage in ("discovery", "source", "dest", "validation"):
            c = lst.get(stage) or {}
            t = total.setdefault(stage, {"requests": 0, "keys": 0, "prefixes": 0, "processes": 0})
            for k in t:
                t[k] += c.get(k) or 0
        if lst:
            total["in_flight_max"] = max(total.get("in_flight_max", 0), lst.get("in_flight_max") or 0)
            total["dest_skipped"] = total.get("dest_skipped", 0) + (lst.get("dest_skipped") or 0)
    return total


def cpu_total(r):
    """lakesync's CPU plus its s5cmd children's (or the tool's)."""
    if r.get("kind", kind_of(r["tool"])) == "lakesync":
        return round((r.get("lakesync_cpu_s") or 0) + (r.get("s5cmd_cpu_s") or 0), 2)
    return r["tree_cpu_s"]


def med(xs):
    xs = [x for x in xs if x is not None]
    return bench.median(xs) if xs else None


def report_cell(rs, field):
    """A figure of lakesync's report (one process per run), median [min-max]."""
    return spread([((r["processes"][0].get("report") or {}).get(field) if len(r["processes"]) == 1 else None)
                   for r in rs], lambda x: f"{x:.2f}")


def stage_cell(rs, stage, what="requests"):
    return spread([listing_of(r).get(stage, {}).get(what) for r in rs], lambda x: f"{x:,.0f}")


def scenario_sections(res):
    """The target sections of the --only scenarios (history, s200)."""
    L = []
    runs = res["runs"]
    for name, sc in (res.get("scenarios") or {}).items():
        L += [f"## Scenario `{name}`", "", f"Target ({sc['target']}).", ""]
        tools = []
        for r in runs:
            if r["job"] in sc["jobs"] and r["tool"] not in tools:
                tools.append(r["tool"])
        L.append("| tool | job | runs | outcome | wall s | lakesync report: run / planning listing / copying s "
                 "| CPU s (lakesync + s5cmd) | LIST requests (simulator: src / dst) "
                 "| lakesync report: LIST requests discovery / source / dest / validation | keys listed (simulator: "
                 "src / dst) | symbol folders seen (delimiter) | objects landed / wanted | load avg |")
        L.append("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
        by = {}
        for t in tools:
            for j in sc["jobs"]:
                rs = [r for r in runs if r["job"] == j and r["tool"] == t]
                by[(t, j)] = rs
                if not rs:
                    continue
                lb = lambda r, side: (r["list_requests_by_bucket"].get(SRC_BUCKET if side == "src" else r["bucket"], 0)  # noqa: E731
                                      if "list_requests_by_bucket" in r else None)
                kb = lambda r, side: r["keys_listed_by_bucket"].get(SRC_BUCKET if side == "src" else r["bucket"], 0)  # noqa: E731
                n0 = lambda x: f"{x:,.0f}"  # noqa: E731
                L.append(f"| {t} | {j} | {len(rs)} | {', '.join(sorted({state_of(r) for r in rs}))} | "
                         f"{spread([r['wall_s'] for r in rs], lambda x: f'{x:.2f}')} | "
                         f"{report_cell(rs, 'duration_seconds')} / {report_cell(rs, 'listing_seconds')} / "
                         f"{report_cell(rs, 'copy_seconds')} | "
                         f"{spread([cpu_total(r) for r in rs], lambda x: f'{x:.2f}')} | "
                         f"{spread([r['requests'].get('list', 0) for r in rs], n0)} "
                         f"({spread([lb(r, 'src') for r in rs], n0)} / {spread([lb(r, 'dst') for r in rs], n0)}) | "
                         f"{stage_cell(rs, 'discovery')} / {stage_cell(rs, 'source')} / {stage_cell(rs, 'dest')} / "
                         f"{stage_cell(rs, 'validation')} | "
                         f"{spread([r['keys_listed'] for r in rs], n0)} ({spread([kb(r, 'src') for r in rs], n0)} / "
                         f"{spread([kb(r, 'dst') for r in rs], n0)}) | "
                         f"{spread([r.get('prefixes_listed') for r in rs], n0)} | "
                         f"{spread([r['landed'] for r in rs], n0)} / {rs[0]['wanted']:,} | "
                         f"{', '.join(format(r['load1_start'], '.1f') for r in rs)} |")
        L.append("")
        if name == "history":
            L += history_verdicts(tools, by)
        elif name == "s200":
            L += s200_verdicts(tools, by)
        L.append("")
    return L


def ratio_line(label, a_rs, b_rs, value, fmt="{:.2f}"):
    """8y/1y of the medians, and of the runs paired by repetition (median [min-max])."""
    ma, mb = med([value(r) for r in a_rs]), med([value(r) for r in b_rs])
    if not ma or mb is None:
        return None, f"{label}: –"
    ratio = mb / ma
    pairs = []
    for rb in b_rs:
        ra = [r for r in a_rs if r["repetition"] == rb["repetition"]]
        if ra and value(ra[0]):
            pairs.append(value(rb) / value(ra[0]))
    txt = f"{label}: {fmt.format(mb)} / {fmt.format(ma)} = **{ratio:.3f}**"
    if len(pairs) > 1:
        txt += f" (per repetition {spread(pairs, lambda x: f'{x:.3f}')})"
    return ratio, txt


def history_verdicts(tools, by):
    L = []
    for t in tools:
        one, eight = by.get((t, "h1y")) or [], by.get((t, "h8y")) or []
        if not one or not eight:
            continue
        comparable = all(r["done"] for r in one + eight)
        rw, tw = ratio_line("wall time (s)", one, eight, lambda r: r["wall_s"])
        rl, tl = ratio_line("LIST requests (simulator)", one, eight, lambda r: r["requests"].get("list", 0), "{:,.0f}")
        _, tk = ratio_line("keys listed (simulator)", one, eight, lambda r: r["keys_listed"], "{:,.0f}")
        _, tc = ratio_line("CPU s (lakesync + s5cmd)", one, eight, cpu_total)
        _, ts = ratio_line("source prefixes listed (report)", one, eight,
                           lambda r: listing_of(r).get("source", {}).get("prefixes"), "{:,.0f}")
        met = comparable and rw is not None and rl is not None and abs(rw - 1) <= 0.10 and abs(rl - 1) <= 0.10
        verdict = ("**met**" if met else "**not met**") if comparable else "**not comparable** (a run did not finish)"
        L.append(f"- `{t}`, 8 years / 1 year (medians): {tw}; {tl}; {tk}; {tc}; {ts}. Within 10% in wall time "
                 f"and LIST requests: {verdict}.")
    return L


def s200_verdicts(tools, by):
    L = []
    for t in tools:
        parts = []
        met = True
        for j, label in (("s200", "without --symbols"), ("s200-symbols", "with --symbols (all 200)")):
            rs = by.get((t, j)) or []
            if not rs:
                met = False
                continue
            w = med([r["wall_s"] for r in rs])
            ok = all(r["done"] for r in rs) and w <= 2.0
            met = met and ok
            parts.append(f"{label} {spread([r['wall_s'] for r in rs], lambda x: f'{x:.2f}')} s "
                         f"({'<=' if ok else '>'} 2 s)")
        L.append(f"- `{t}`: {'; '.join(parts)}: **{'met' if met else 'not met'}** (median wall time, end to end).")
    return L


def notes(res):
    scen_jobs = {j for sc in (res.get("scenarios") or {}).values() for j in sc["jobs"]}
    if scen_jobs and all(r["job"] in scen_jobs for r in res["runs"]):
        return scenario_notes(res) + load_notes(res)
    return base_notes(res) + scenario_notes(res) + load_notes(res) + latency_notes(res)


def base_notes(res):
    out = [
        "Regions: lakesync and s5cmd run with no AWS_REGION/AWS_DEFAULT_REGION and an empty AWS config, so "
        "s5cmd asks each bucket's region with HeadBucket (answered with x-amz-bucket-region: ap-northeast-1 "
        "for the source, us-east-1 for the destinations) and signs each side for its region; one "
        "AuthorizationHeaderMalformed per s5cmd process is that probe, as on AWS. aws-cli gets "
        "`--source-region ap-northeast-1 --region us-east-1` plus AWS_ENDPOINT_URL_S3 (its source-region "
        "client ignores --endpoint-url); rclone gets one remote per side with its region and "
        "`--server-side-across-configs`.",
        "lakesync, s5cmd sync and aws s3 sync list the whole data-type folder data/spot/daily/klines/ on both "
        "sides (lakesync: without --symbols the folder is the narrowest prefix it knows; s5cmd: the part of "
        "the wildcard before the first `*`; aws: the sync root) and filter the keys; rclone walks folders with "
        "delimiter listings and enters only the interval folders its include filter allows, so it lists about "
        "1/13 of the keys for a one-interval job.",
        "Projected listing times assume the listing rate of the measured window holds; they leave out the "
        "copies, which lakesync makes while it lists and s5cmd sync makes after both listings. For the "
        "sharded job each shard lists the whole selection (lakesync filters a streamed listing per shard), so "
        "16 shards 4 at a time list it 16 times in 4 waves.",
        "Objects wanted/landed are counted by the simulator (`/_sim/count`) in the run's destination for the "
        "job's interval and dates; a stopped run may have landed some.",
        "CPU: lakesync's own from its report (getrusage), s5cmd's = the tree's (os.wait4) minus lakesync's, or, "
        "when larger, the sum of its children's CPU polled from /proc every 50 ms (a lakesync stopped by SIGTERM "
        "may exit before reaping its s5cmd children; wait4 then misses them; s5cmd_cpu_source in the JSON); "
        "peak RSS of the tool process (VmHWM) and of its largest child, polled every 50 ms (a sharded run: the "
        "largest shard). `sim CPU` is the simulator's CPU over the run's wall time (100% = one core).",
    ]
    return out


def scenario_notes(res):
    out = []
    scen = res.get("scenarios") or {}
    if scen:
        out.append("Regions: lakesync runs with no AWS_REGION/AWS_DEFAULT_REGION and an empty AWS config, so s5cmd "
                   "asks each bucket's region with HeadBucket (head_bucket requests) and signs each side for it.")
        out.append("Objects wanted/landed are counted by the simulator (`/_sim/count`) in the run's destination for "
                   "the job's interval and day. Wall time is the lakesync process's, from its start to its exit "
                   "(planning, copying, validation, s5cmd starts); `run / planning listing / copying` are its "
                   "report's `duration_seconds`, `plan.listing_seconds` and `throughput.copy_seconds`. CPU: "
                   "lakesync's own (getrusage, its report) plus its s5cmd children's (os.wait4 of the tree, or "
                   "polled from /proc when larger).")
    if "history" in scen:
        out.append("history: h1y and h8y run the same a1 command line against two simulators of the same "
                   "--as-of, started with `--history-years 1` and `--history-years 8` (and `--hole-fraction 0`, since a hole is placed from its series' first day, which the cut-off moves): every series starts on "
                   "--as-of minus N years at the earliest and the symbols that ended before then are gone; "
                   "everything since (symbols, lifetimes, publication, sizes) is the full archive's, so the day "
                   "copied and the destination's mirror of the days before hold the same objects in both (objects "
                   "wanted are equal). What differs is history only: older days in every symbol folder and the "
                   "folders of symbols delisted between the two cut-offs. The target compares medians; "
                   "'per repetition' pairs the two runs of one repetition, which ran next to each other.")
    if "s200" in scen:
        m = (res.get("models") or {}).get("s200") or {}
        out.append(f"s200: a model folder written by the driver from crates/archive-sim/model: the first "
                   f"{len(m.get('symbols', [])) or S200_SYMBOLS} spot symbols (byte order) of "
                   f"spot_active_2025-05-03.csv, only the 1m interval folder, first day {m.get('first_day', '?')} "
                   f"(so {S200_DAYS} days up to the day copied), all active, no um/cm symbols; the simulator with "
                   f"`--model DIR --no-new-listings --hole-fraction 0 --latency-ms 40`. "
                   f"data/spot/daily/klines/ then holds 200 x {S200_DAYS} x 2 = 12,000 keys (a zip 0.3% of days "
                   f"1-4 days late may be missing on the last day: objects wanted says so). s200-symbols passes "
                   f"`--symbols` with the 200 names; s200 leaves symbols open (discovery).")
    if scen:
        out.append("Wall time on this shared machine moves with the other engineers' load (see load avg and "
                   "foreign_share); the LIST requests (counted by the simulator, and by lakesync's report "
                   "`listing`: one per page of up to 1,000 entries per listed prefix) are exact, and CPU-seconds "
                   "depend less on the load than wall time.")
    return out


def load_notes(res):
    out = []
    sims = [r["sim_cpu_share"] for r in res["runs"]]
    if sims:
        out.append(f"The simulator used at most {max(sims) * 100:.0f}% of one core in any run (median "
                   f"{bench.median(sims) * 100:.0f}%), peak RSS {res['sim_rss_peak_mb']} MB: it was not the "
                   f"bottleneck." if max(sims) < 0.5 else
                   f"The simulator used up to {max(sims) * 100:.0f}% of one core in a run: it may have limited "
                   f"that run.")
    shares = [r["foreign_share"] for r in res["runs"]]
    if shares:
        loads = [r["load1_start"] for r in res["runs"]]
        out.append(f"Other load on the machine during the runs (other engineers' builds): median "
                   f"{bench.median(shares) * 100:.0f}% of the machine's CPU, highest {max(shares) * 100:.0f}% "
                   f"(per run: foreign_share in the JSON); 1-minute load average {min(loads):.1f}-{max(loads):.1f} "
                   f"at the runs' starts on {res['machine']['nproc']} cores.")
    if any(r.get("kind", kind_of(r["tool"])) == "lakesync" and "s5cmd_cpu_source" not in r for r in res["runs"]):
        out.append("s5cmd CPU here is the tree's CPU (os.wait4) minus lakesync's only: this run predates the "
                   "driver's /proc polling of the children, and a lakesync stopped by SIGTERM may exit before "
                   "reaping its s5cmd children, whose CPU wait4 then misses (seen in an A/A run of one binary: "
                   "8.1 instead of the 16.7 CPU-s polled, in 25 s). Treat these s5cmd CPU figures as lower bounds.")
    return out


def latency_notes(res):
    out = []
    lake = [r for r in res["runs"] if r.get("kind", kind_of(r["tool"])) == "lakesync" and not r["job"] == "c"]
    if lake:
        r = max(lake, key=lambda r: r["s5cmd_cpu_s"])
        out.append(f"Latency or CPU: one sequential listing at {res['latency_ms']} ms a page cannot pass "
                   f"{1000 // max(res['latency_ms'], 1) * 1000:,} keys/s (lakesync and s5cmd sync list each side as "
                   f"one stream). Parsing costs CPU too: in {r['job']}, lakesync's s5cmd children used "
                   f"{'' if 's5cmd_cpu_source' in r else 'at least '}"
                   f"{r['s5cmd_cpu_s']} CPU-s in {r['wall_s']:.0f} s (lakesync itself {r['lakesync_cpu_s']}), so "
                   f"on a loaded machine the rates are partly CPU-bound and lower than an idle machine's; "
                   f"compare tools and builds within one results file, not across files.")
    return out


def machine(builds):
    first, out = bench.file_field, bench.command_output
    aws = shutil.which("aws", path=PEER_BIN)
    rclone = shutil.which("rclone", path=PEER_BIN)
    lake = {}
    for tool, path in builds.items():
        b = {"path": os.path.relpath(path, ROOT) if path.startswith(ROOT + os.sep) else path,
             "version": (out([path, "--version"]) or "?").splitlines()[0],
             "sha256": bench.sha256_file(path)[:16],
             "mtime": datetime.datetime.fromtimestamp(os.path.getmtime(path), datetime.timezone.utc)
             .isoformat(timespec="seconds")}
        rev_file = os.path.join(os.path.dirname(path), "REV")  # written by build_baseline.sh
        if os.path.realpath(path) == os.path.realpath(LAKESYNC):
            b["git_rev"] = out(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"])
            b["tree_dirty"] = bool(out(["git", "-C", ROOT, "status", "--porcelain", "--", "src", "Cargo.toml",
                                        "Cargo.lock"]))
        elif os.path.exists(rev_file):
            with open(rev_file) as f:
                b["git_rev"] = f.read().split()[0][:12]
        lake[tool] = b
    return {
        "nproc": bench.NCPU, "mem_total_kib": int(first("/proc/meminfo", "MemTotal").split()[0]),
        "cpu_model": first("/proc/cpuinfo", "model name"), "kernel": os.uname().release,
        "python": sys.version.split()[0], "s5cmd": out([S5CMD, "version"]),
        "aws": out([aws, "--version"]) if aws else None,
        "rclone": out([rclone, "version"]).splitlines()[0] if rclone else None,
        "lakesync": lake, "loadavg_start": bench.loadavg(),
    }


def usage_error(msg):
    """Bad usage: the message (with its hint) on stderr, exit 2 (as argparse's own errors)."""
    print(f"bench-scale: {msg}", file=sys.stderr)
    sys.exit(2)


# tool name -> extra lakesync arguments (--lakesync NAME="PATH ARGS...")
LAKESYNC_ARGS = {}


def lakesync_builds(specs):
    """--lakesync NAME="PATH [ARGS]"... -> {tool name: absolute path} (the arguments go to
    LAKESYNC_ARGS); none: today's release build."""
    if not specs:
        return {"lakesync": LAKESYNC}
    builds = {}
    for spec in specs:
        name, sep, value = spec.partition("=")
        path, *args = shlex.split(value) or [""]
        if not sep or not name or not path:
            usage_error(f"--lakesync {spec!r}: expected NAME=PATH\n"
                             "hint: --lakesync before=target/bench-baseline/REV/lakesync "
                             "(make bench-baseline REV=... builds it)")
        path = os.path.abspath(path)
        if not os.access(path, os.X_OK):
            usage_error(f"--lakesync {spec!r}: {path} is not an executable\n"
                             "hint: cargo build --release, or make bench-baseline REV=<git revision>")
        tool = f"lakesync {name}"
        if tool in builds:
            usage_error(f"--lakesync {name!r} given twice\nhint: give each build its own NAME")
        builds[tool] = path
        LAKESYNC_ARGS[tool] = args
    return builds


def plan_runs(units, tools_of, repeat):
    """The runs in order: per unit (a scenario's jobs, or one job), every repetition runs the
    unit's jobs in an order rotated by the repetition, and each job's tools in an order
    rotated by the repetition and the job's place, so that no tool (and no side of a
    scenario's comparison) always goes first. Returns (job, tool, bucket, rep, order)."""
    plan = []
    ji = 0
    for unit in units:
        for rep in range(repeat):
            k = rep % len(unit)
            for uj, j in enumerate(unit[k:] + unit[:k]):
                ts = tools_of(j)
                t0 = (rep + ji + unit.index(j)) % len(ts) if ts else 0
                for order, t in enumerate(ts[t0:] + ts[:t0]):
                    plan.append((j, t, f"{j}-{slug(t)}-{rep + 1}", rep, order))
        ji += len(unit)
    return plan


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true",
                    help="one job to iterate with: a1, lakesync build(s) only, 60 s limit (~1-2 min a build); "
                         "--jobs/--tools/--limit override its parts")
    ap.add_argument("--limit", type=float, default=None, help="seconds before a run is stopped (default 90; 60 --quick)")
    ap.add_argument("--repeat", type=int, default=1, help="runs of every (job, tool) (default 1); medians and [min-max]")
    ap.add_argument("--latency-ms", type=int, default=50,
                    help="added to every request (default 50; the s200 jobs use their own 40)")
    ap.add_argument("--jobs", default=None,
                    help=f"comma list of {', '.join(JOBS)} (default: {','.join(DEFAULT_JOBS)}; a1 --quick)")
    ap.add_argument("--only", default=None, metavar="SCENARIO,...",
                    help=f"comma list of scenarios ({', '.join(SCENARIOS)}) or jobs, instead of --jobs; a "
                         "scenario's jobs run interleaved, and the results get a section on its target")
    ap.add_argument("--tools", default=None,
                    help=f"comma list of {', '.join(TOOLS)} (default: all; lakesync --quick); "
                         "`lakesync` means every --lakesync build")
    ap.add_argument("--lakesync", action="append", default=[], metavar="NAME=\"PATH [ARGS]\"",
                    help="a lakesync binary (and its extra flags) to run as tool `lakesync NAME` (repeatable; default: "
                         "target/release/lakesync as `lakesync`)")
    ap.add_argument("--as-of", default=None, help="archive-sim --as-of (default: the latest past noon UTC)")
    ap.add_argument("--workers", type=int, default=32, help="lakesync --workers, s5cmd --numworkers, aws/rclone concurrency")
    ap.add_argument("--sim", default=SIM, help="the archive-sim binary (default target/release/archive-sim)")
    ap.add_argument("--sim-threads", type=int, default=1)
    ap.add_argument("--out", default=os.path.join(ROOT, "bench", "results"))
    ap.add_argument("--render", metavar="JSON", help="only rewrite the Markdown of a results JSON (notes recomputed)")
    a = ap.parse_args()
    if a.render:
        with open(a.render) as f:
            res = json.load(f)
        res["notes"] = notes(res)
        bench.write_json(a.render, res)
        with open(a.render[:-len(".json")] + ".md" if a.render.endswith(".json") else a.render + ".md", "w") as f:
            f.write(markdown(res))
        return 0
    if a.limit is None:
        a.limit = 60.0 if a.quick else 90.0
    if a.repeat < 1:
        usage_error(f"--repeat {a.repeat}: must be at least 1\nhint: --repeat 3")
    scenarios = []
    if a.only is not None:
        if a.jobs is not None:
            usage_error("--only and --jobs both given\nhint: --only history,s200 (scenarios or jobs), or --jobs a1,a2")
        units = []
        for name in [x for x in a.only.split(",") if x]:
            if name in SCENARIOS:
                scenarios.append(name)
                units.append(list(SCENARIOS[name]["jobs"]))
            elif name in JOBS:
                units.append([name])
            else:
                usage_error(f"no scenario or job {name!r}\nhint: scenarios: {', '.join(SCENARIOS)}; "
                            f"jobs: {', '.join(JOBS)}")
        if not units:
            usage_error("--only names nothing\nhint: --only history,s200")
    else:
        units = [[j] for j in (a.jobs or ("a1" if a.quick else ",".join(DEFAULT_JOBS))).split(",") if j]
        for (j,) in units:
            if j not in JOBS:
                usage_error(f"no job {j!r}\nhint: jobs: {', '.join(JOBS)}; scenarios (--only): {', '.join(SCENARIOS)}")
    jobs = [j for u in units for j in u]
    if len(set(jobs)) != len(jobs):
        usage_error(f"a job is named twice in {a.only or a.jobs!r}\nhint: name each scenario or job once")
    kinds = [t for t in (a.tools or ("lakesync" if a.quick or scenarios else ",".join(TOOLS))).split(",") if t]
    for t in kinds:
        if t not in TOOLS:
            usage_error(f"no tool {t!r}\nhint: tools: {', '.join(TOOLS)} "
                             "(several lakesync builds: --lakesync NAME=PATH)")
    builds = lakesync_builds(a.lakesync)
    sim_exe = os.path.abspath(a.sim)
    for exe, hint in ((sim_exe, "cargo build --release --workspace"), (S5CMD, "make tools"),
                      *((p, "cargo build --release --workspace") for p in builds.values())):
        if not os.path.exists(exe):
            raise SystemExit(f"bench-scale: {exe} missing\nhint: {hint}")
    dates = days_of(a.as_of or default_as_of())
    missing = [t for t in kinds if t in ("aws-s3-sync", "rclone-copy")
               and not shutil.which(t.split("-")[0], path=PEER_BIN)]
    if missing:
        log(f"not installed (scripts/bench/install_bench_tools.sh --peers-only): {', '.join(missing)}; skipped")
        kinds = [t for t in kinds if t not in missing]

    def tools_of(job):
        allowed = JOBS[job].get("tools", kinds)
        out = []
        for k in kinds:
            if k in allowed:
                out += list(builds) if k == "lakesync" else [k]
        return out

    plan = plan_runs(units, tools_of, a.repeat)
    tmp = tempfile.mkdtemp(prefix="lakesync-bench-scale-")
    # the model folders some jobs need, written from crates/archive-sim/model
    models = {}
    for j in jobs:
        model = (JOBS[j].get("archive") or {}).get("model")
        if model == "s200" and model not in models:
            first = (datetime.date.fromisoformat(dates["day"]) - datetime.timedelta(days=S200_DAYS - 1)).isoformat()
            d = os.path.join(tmp, "model-s200")
            models[model] = {"dir": d, "first_day": first, "symbols": write_s200_model(d, first)}
    # one simulator per archive the jobs need, each with the destination buckets of its runs
    sim_specs = {}
    for j, t, bucket, _, _ in plan:
        key = archive_key(j)
        if key not in sim_specs:
            sim_specs[key] = sim_args_of(key, j, a, dates, models)
        mirror = JOBS[j]["dest"] == "mirror"
        sim_specs[key] += ["--dest-bucket", bucket + (f"=mirrored-through:{dates['mirrored_through']}" if mirror else "")]

    bench.exit_on_signals()
    t0 = time.monotonic()
    sims = {}
    res = None
    try:
        for key, args in sim_specs.items():
            sims[key] = Sim(sim_exe, args)
            log(f"archive-sim {key} at {sims[key].url} (pid {sims[key].pid}): {sims[key].describe}")
        log(f"{len(plan)} runs, at most {a.limit:.0f} s each")
        sc = Scale(a, sims, tmp, dates, builds, models)

        def shown(cmd):
            text = " ".join(cmd).replace(S5CMD, "s5cmd").replace(PEER_BIN + "/", "")
            for sim in sims.values():
                text = text.replace(sim.url, "URL")
            for path in sc.lakesync.values():
                text = text.replace(path, "lakesync")
            for name, m in models.items():
                text = text.replace(",".join(m["symbols"]), f"<the {len(m['symbols'])} symbols of the {name} model>")
            return text

        first = next(iter(sims))
        res = {"format": 3, "date": datetime.date.today().isoformat(),
               "started_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
               "command": " ".join(["scripts/bench/scale.py"] + sys.argv[1:]),
               "latency_ms": a.latency_ms, "limit_s": a.limit, "repeat": a.repeat, "workers": a.workers,
               "sim_threads": a.sim_threads, "sim_args": sims[first].args, "sim_describe": sims[first].describe,
               "sims": {k: {"args": [x if not x.startswith(tmp) else "TMP" + x[len(tmp):] for x in s.args],
                            "describe": s.describe} for k, s in sims.items()},
               "models": {k: {"first_day": m["first_day"], "symbols": m["symbols"]} for k, m in models.items()},
               "dates": dates, "scenarios": {n: SCENARIOS[n] for n in scenarios},
               "jobs": {j: JOBS[j] for j in jobs}, "tools": {t: TOOLS[t] for t in kinds},
               "machine": machine(builds),
               "commands": {j: {t: shown(sc.command(j, t, "B", "REPORT", shard=0 if JOBS[j].get("shards") else None))
                                for t in tools_of(j)} for j in jobs},
               "runs": []}
        for i, (j, t, bucket, rep, order) in enumerate(plan):
            log(f"[{i + 1}/{len(plan)}, {(time.monotonic() - t0) / 60:.1f} min]")
            res["runs"].append(sc.run(j, t, bucket, rep, order))
        res["total_seconds"] = round(time.monotonic() - t0, 1)
        res["sim_rss_peak_mb"] = max(round((bench.status_of(s.pid) or (0, 0, ""))[1] / 1024, 1) for s in sims.values())
        res["loadavg_end"] = bench.loadavg()
        res["notes"] = notes(res)
    finally:
        for sim in sims.values():
            sim.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(a.out, exist_ok=True)
    full = set(jobs) == set(DEFAULT_JOBS) and set(kinds) == set(TOOLS) and not a.quick
    if scenarios:
        # named after the scenarios (and the builds), so that a before/after run of the same
        # scenarios does not overwrite the single-build results of the same day
        suffix = "-" + "-".join(scenarios)
        if a.lakesync:
            suffix += "-" + "-".join(slug(t[len("lakesync "):]) for t in builds)
    else:
        suffix = "" if full else ("-quick" if a.quick else "-partial")
    base = os.path.join(a.out, f"{res['date']}-scale{suffix}")
    # A second run of the day with the same name gets its own files (-2, -3, ...): results
    # are records, never overwritten.
    first, n = base, 2
    while os.path.exists(base + ".json") or os.path.exists(base + ".md"):
        base, n = f"{first}-{n}", n + 1
    bench.write_json(base + ".json", res)
    md = markdown(res)
    with open(base + ".md", "w") as f:
        f.write(md)
    print(md)
    log(f"wrote {base}.json, {base}.md in {res['total_seconds'] / 60:.1f} min")
    return 0


if __name__ == "__main__":
    sys.exit(main())
