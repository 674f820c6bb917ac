#!/usr/bin/env python3
"""lakesync benchmark driver (make bench / make bench-full). Python 3 standard library only.

The same seeded source objects are copied server-side, tool after tool in rotating order,
several repetitions each, and every run is measured from the outside:

  lakesync-direct     lakesync sync --mode direct (list both sides, plan, copy, validate)
  lakesync-staged     lakesync sync --mode staged (download, verify, upload, delete)
  lakesync-direct-lines  (1000-file scenario only) --no-folder-copies: one `cp` line per
                      object even where a prefix planned whole could go as one wildcard line
  s5cmd-run           raw `s5cmd --numworkers N run FILE` on the exact command lines lakesync
                      wrote (`--dry-run --write-commands`), same global flags and workers:
                      lakesync-direct / s5cmd-run is the wrapper's overhead
  s5cmd-cp-256        `s5cmd --numworkers 256 cp 's3://src/*' 's3://dst/p/'` (upper bound)
  aws-s3-sync         `aws s3 sync` (server-side; max_concurrent_requests = workers)
  rclone-copy         `rclone copy --transfers 32 --checkers 32` (server-side)

Per run: wall time; files/s, MB/s; CPU (user+sys of the whole process tree, os.wait4); the
server's CPU (/proc/PID/stat); bytes over loopback (/proc/net/dev `lo` rx+tx, so one byte
sent over loopback counts twice); local disk bytes written by the tree (/proc/self/io
write_bytes delta: the kernel adds a reaped child's I/O to its parent); peak RSS of
lakesync and of its s5cmd children (polling /proc every 50 ms: VmHWM, and the sum of the
children's VmRSS); CPU used by other processes on the machine meanwhile (/proc/stat busy
minus ours, i.e. foreign load); with Garage, the S3 requests the server counted (admin
/metrics, api_s3_request_counter) per object; for lakesync, its JSON report (ops/file,
local bytes, resources, batches) and its batch log lines (batch timeline, gaps).
Every landed destination is listed and checked (count and bytes) before it is deleted.

Also: planning from a manifest (`lakesync sync --dry-run --source-manifest`, 10k/100k/1M
objects, empty destination) and one s5cmd process's `--dry-run run` rate on 100k lines.

Server: Garage (scripts/bench/garage.sh) when .tools/garage/bin/garage exists, else moto
(scripts/s3-server.sh). Figures are only comparable within one server.
Results: bench/results/<date>-<server>-<version>[-full|-partial][-N].{json,md} (-2, -3...: a later run of the day, never over an earlier one); bench/results/LATEST.md
is a copy of the newest complete (not --only / --no-scale) run's tables.

usage: scripts/bench/bench.py [--full] [--server auto|garage|moto] [--reps N]
                              [--only NAME,...] [--no-scale] [--workers N] [--out DIR]
"""

import argparse
import datetime
import hashlib
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TOOLS = os.path.join(ROOT, ".tools")
S5CMD = os.path.join(TOOLS, "bin", "s5cmd")
LAKESYNC_BUILT = os.path.join(ROOT, "target", "release", "lakesync")
GARAGE = os.path.join(TOOLS, "garage", "bin", "garage")
GARAGE_SH = os.path.join(ROOT, "scripts", "bench", "garage.sh")
S3_SERVER_SH = os.path.join(ROOT, "scripts", "s3-server.sh")
GEN = os.path.join(ROOT, "scripts", "gen_fixtures.py")
PEER_BIN = os.path.join(TOOLS, "bench-venv", "bin")
TIME_BIN = "/usr/bin/time" if os.access("/usr/bin/time", os.X_OK) else None  # GNU time: exact peak RSS
CLK = os.sysconf("SC_CLK_TCK")
NCPU = os.cpu_count() or 1

# performance-spec.md figures, shown beside ours
SPEC = {
    "batch_seconds_per_100_direct": 1.3,  # 2.1.2 validated (target <= 1.5)
    "batch_seconds_per_100_staged": 3.3,  # 2.1.1 baseline
    "files_per_s": {  # 2.2.1
        "small": {"direct": 50, "staged": 20},
        "medium": {"direct": 12, "staged": 5},
        "large": {"direct": 3, "staged": 1},
    },
    "memory_mb_direct": 100,  # 2.1.2 "< 100MB regardless of file count"
    "ops_per_file": {"direct": 1, "staged": 5},
    "transfers_per_file": {"direct": 1, "staged": 2},
}

# name, archives (2 objects each; 1 = one zip without its CHECKSUM), size class, reps, spec class
QUICK = [
    ("1-tiny", 1, "tiny", 3, "small"),
    ("10-tiny", 5, "tiny", 3, "small"),
    ("100-tiny", 50, "tiny", 3, "small"),
    ("100-small", 50, "small", 3, "small"),
    ("1000-tiny", 500, "tiny", 5, "small"),
    ("100-medium", 50, "medium", 3, "medium"),
]
FULL = [
    ("10000-tiny", 5000, "tiny", 3, "small"),
    ("8-large", 4, "large", 3, "large"),
]
MANIFEST_SIZES = [10_000, 100_000, 1_000_000]
S5CMD_DRYRUN_LINES = 100_000

CURRENT_CHILD = None  # the Popen being measured, killed on our way out


def log(msg):
    print(f"bench: {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------- /proc readers


def lo_bytes():
    with open("/proc/net/dev") as f:
        for line in f:
            name, _, rest = line.partition(":")
            if name.strip() == "lo":
                v = rest.split()
                return int(v[0]) + int(v[8])
    return 0


def self_io():
    out = {}
    try:
        with open("/proc/self/io") as f:
            for line in f:
                k, _, v = line.partition(":")
                out[k.strip()] = int(v)
    except OSError:
        pass
    return out


def proc_cpu_seconds(pid):
    """utime+stime of PID (all its threads), seconds; None if gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK
    except (OSError, IndexError, ValueError):
        return None


def machine_busy_seconds():
    """CPU seconds the whole machine spent busy (all cores), from /proc/stat."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    idle = v[3] + (v[4] if len(v) > 4 else 0)
    return (sum(v[:8]) - idle) / CLK


def loadavg():
    with open("/proc/loadavg") as f:
        return [float(x) for x in f.read().split()[:3]]


def status_of(pid):
    """(VmRSS kB, VmHWM kB, Name) of PID, or None."""
    rss = hwm = None
    name = "?"
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    rss = int(line.split()[1])
                elif line.startswith("VmHWM:"):
                    hwm = int(line.split()[1])
                elif line.startswith("Name:"):
                    name = line.split(None, 1)[1].strip()
    except OSError:
        return None
    if rss is None:
        return None
    return rss, hwm or rss, name


def children_of(pid):
    out = []
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            try:
                with open(f"/proc/{pid}/task/{tid}/children") as f:
                    out += [int(x) for x in f.read().split()]
            except OSError:
                pass
    except OSError:
        pass
    return out


class Poller(threading.Thread):
    """Samples the RSS of a process tree every `interval` seconds. With `wrapper`, the
    measured process is the wrapper's (GNU time's) child."""

    def __init__(self, pid, interval=0.05, wrapper=False):
        super().__init__(daemon=True)
        self.pid, self.wrapper, self.interval = pid, wrapper, interval
        self.root = None if wrapper else pid
        self.done = threading.Event()
        self.root_hwm_kb = 0
        self.child_hwm_kb = 0  # largest single descendant
        self.child_rss_sum_kb = 0  # largest sum over descendants at one sample
        self.tree_rss_sum_kb = 0
        self.children = {}  # pid -> name
        self.samples = 0

    def sample(self):
        if self.root is None:
            kids = children_of(self.pid)
            if not kids:
                return
            self.root = kids[0]
        tree, todo = [], [self.root]
        while todo:
            p = todo.pop()
            tree.append(p)
            todo += children_of(p)
        csum = tsum = 0
        for p in tree:
            st = status_of(p)
            if st is None:
                continue
            rss, hwm, name = st
            if p == self.root:
                self.root_name = name
                self.root_hwm_kb = max(self.root_hwm_kb, hwm)
                tsum += rss
            elif name == getattr(self, "root_name", None):
                continue  # forked, not yet exec'd: shares the parent's pages
            else:
                tsum += rss
                csum += rss
                self.child_hwm_kb = max(self.child_hwm_kb, hwm)
                self.children[p] = name
        self.child_rss_sum_kb = max(self.child_rss_sum_kb, csum)
        self.tree_rss_sum_kb = max(self.tree_rss_sum_kb, tsum)
        self.samples += 1

    def run(self):
        t0 = time.monotonic()
        while not self.done.is_set():
            self.sample()
            if self.root is None:
                wait = 0.001  # the wrapper has not forked the tool yet
            elif time.monotonic() - t0 < 0.5:
                wait = 0.01  # short runs: sample faster at first
            else:
                wait = self.interval
            self.done.wait(wait)

    def stop(self):
        self.done.set()
        self.join()


# ---------------------------------------------------------------- helpers


def sh(cmd, env=None, check=True, timeout=None):
    r = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                       timeout=timeout)
    if check and r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[:6])} ... exited {r.returncode}: {r.stderr.strip()[-1500:]}")
    return r


def median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def parse_ts(s):
    """RFC 3339 timestamp -> epoch seconds."""
    s = s.replace("Z", "+00:00")
    if "." in s:
        head, frac = s.split(".", 1)
        digits = "".join(c for c in frac if c.isdigit())
        tz = frac[len(digits):]
        s = f"{head}.{digits[:6].ljust(6, '0')}{tz}"
    return datetime.datetime.fromisoformat(s).timestamp()


# ---------------------------------------------------------------- servers


class Server:
    name = version = url = None
    pid = None
    env = {}
    admin = None  # Garage admin endpoint for /metrics

    def label(self):
        return f"{self.name}-{self.version}"

    def cpu(self):
        return proc_cpu_seconds(self.pid) if self.pid else None

    def metrics(self):
        """S3 request counters by endpoint (Garage), else None."""
        if not self.admin:
            return None
        try:
            opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
            text = opener.open(self.admin + "/metrics", timeout=5).read().decode()
        except Exception:
            return None
        out = {}
        for line in text.splitlines():
            if line.startswith("api_s3_request_counter{"):
                labels, _, val = line.rpartition(" ")
                ep = "?"
                for part in labels[labels.index("{") + 1:labels.rindex("}")].split(","):
                    k, _, v = part.partition("=")
                    if k.strip() == "api_endpoint":
                        ep = v.strip().strip('"')
                out[ep] = out.get(ep, 0) + float(val)
        return out


class Garage(Server):
    def __init__(self, tag):
        self.tag = tag
        self.name = "garage"
        v = sh([GARAGE, "--version"], check=False).stdout.strip() or "?"
        found = re.search(r"(\d+\.\d+\.\d+)", v)  # "garage cargo:2.5.0 [features: ...]"
        self.version = found.group(1) if found else "?"
        self.version_line = v

    def start(self):
        self.url = sh([GARAGE_SH, "start", "--name", self.tag], timeout=120).stdout.strip().splitlines()[-1]
        envtext = sh([GARAGE_SH, "env", "--name", self.tag]).stdout
        self.env = dict(line.split("=", 1) for line in envtext.split())
        run = os.path.join(TOOLS, "run", f"garage-{self.tag}")
        with open(os.path.join(run, "garage.pid")) as f:
            self.pid = int(f.read().strip())
        with open(os.path.join(run, "garage.toml")) as f:
            section = None
            for line in f:
                line = line.strip()
                if line.startswith("["):
                    section = line
                elif section == "[admin]" and line.startswith("api_bind_addr"):
                    self.admin = "http://" + line.split("=", 1)[1].strip().strip('"')
        if self.metrics() is None:
            self.admin = None

    def stop(self):
        sh([GARAGE_SH, "stop", "--name", self.tag], check=False, timeout=60)


class Moto(Server):
    def __init__(self, tag):
        self.tag = tag
        self.name = "moto"
        py = os.path.join(TOOLS, "venv", "bin", "python")
        self.version = sh([py, "-c", "from importlib.metadata import version; print(version('moto'))"],
                          check=False).stdout.strip() or "?"
        self.version_line = f"moto {self.version}"
        self.env = {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench"}

    def start(self):
        self.url = sh([S3_SERVER_SH, "start", "--name", self.tag], timeout=60).stdout.strip().splitlines()[-1]
        with open(os.path.join(TOOLS, "run", f"{self.tag}.pid")) as f:
            self.pid = int(f.read().strip())

    def stop(self):
        sh([S3_SERVER_SH, "stop", "--name", self.tag], check=False, timeout=60)
        try:
            os.remove(os.path.join(TOOLS, "run", f"{self.tag}.log"))
        except OSError:
            pass


# ---------------------------------------------------------------- the bench


class Bench:
    def __init__(self, args, server, tmp):
        self.a, self.server, self.tmp = args, server, tmp
        self.url = server.url
        self.lakesync = os.path.join(tmp, "lakesync")  # a private copy: others may rebuild
        shutil.copy2(LAKESYNC_BUILT, self.lakesync)
        self.shm = None
        if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK):
            self.shm = tempfile.mkdtemp(prefix="lakesync-bench-", dir="/dev/shm")
        self.empty_conf = os.path.join(tmp, "empty.conf")
        open(self.empty_conf, "w").close()
        self.aws_conf = os.path.join(tmp, "aws-config")
        with open(self.aws_conf, "w") as f:
            f.write(f"[default]\nregion = us-east-1\ns3 =\n    max_concurrent_requests = {args.workers}\n")
        self.aws = shutil.which("aws", path=PEER_BIN) or shutil.which("aws")
        self.rclone = shutil.which("rclone", path=PEER_BIN) or shutil.which("rclone")

    # environment for every client: no inherited AWS/LAKESYNC settings, the server's key
    def env(self, tool=None):
        e = {k: v for k, v in os.environ.items()
             if not k.startswith(("AWS_", "LAKESYNC_", "RCLONE_", "S3_ENDPOINT"))}
        e.update(self.server.env)
        e["LAKESYNC_S5CMD"] = S5CMD
        e["AWS_CONFIG_FILE"] = self.aws_conf if tool == "aws" else self.empty_conf
        e["AWS_SHARED_CREDENTIALS_FILE"] = self.empty_conf
        if tool == "rclone":
            e.update(RCLONE_CONFIG=self.empty_conf, RCLONE_CONFIG_BENCH_TYPE="s3",
                     RCLONE_CONFIG_BENCH_PROVIDER="Other", RCLONE_CONFIG_BENCH_ENDPOINT=self.url,
                     RCLONE_CONFIG_BENCH_ACCESS_KEY_ID=e["AWS_ACCESS_KEY_ID"],
                     RCLONE_CONFIG_BENCH_SECRET_ACCESS_KEY=e["AWS_SECRET_ACCESS_KEY"],
                     RCLONE_CONFIG_BENCH_REGION="us-east-1")
            e.pop("AWS_CA_BUNDLE", None)
        return e

    def s5(self, *args, check=True):
        return sh([S5CMD, "--endpoint-url", self.url, *args], env=self.env(), check=check)

    def listing(self, url):
        r = self.s5("--json", "ls", url, check=False)
        n = size = 0
        for line in r.stdout.splitlines():
            if line.strip():
                o = json.loads(line)
                if o.get("type") != "directory":
                    n += 1
                    size += o.get("size", 0)
        return n, size

    # -------------------------------------------------- one measured process

    def measure(self, cmd, env, stderr_path=None):
        global CURRENT_CHILD
        err = open(stderr_path or os.devnull, "w")
        m0 = self.server.metrics()
        io0, lo0, srv0, busy0, me0 = self_io(), lo_bytes(), self.server.cpu(), machine_busy_seconds(), os.times()
        load = loadavg()[0]
        epoch0, t0 = time.time(), time.monotonic()
        # on tmpfs when there is one, so that it adds nothing to the disk bytes measured
        time_out = os.path.join(self.shm or self.tmp, "time.out")
        if TIME_BIN:
            # GNU time forks the tool from a small process: its %M is the tool tree's exact peak
            # RSS (our own wait4 ru_maxrss would be floored by this Python's RSS at fork)
            cmd = [TIME_BIN, "-f", "%M", "-o", time_out, *cmd]
        p = subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err)
        CURRENT_CHILD = p
        poller = Poller(p.pid, wrapper=bool(TIME_BIN))
        poller.start()
        _, status, ru = os.wait4(p.pid, 0)
        wall = time.monotonic() - t0
        p.returncode = os.waitstatus_to_exitcode(status)
        CURRENT_CHILD = None
        poller.stop()
        io1, lo1, srv1, busy1, me1 = self_io(), lo_bytes(), self.server.cpu(), machine_busy_seconds(), os.times()
        m1 = self.server.metrics()
        err.close()
        cpu = ru.ru_utime + ru.ru_stime
        exact_kb = None
        if TIME_BIN:
            try:
                with open(time_out) as f:
                    exact_kb = int(f.read().split()[-1])
            except (OSError, ValueError, IndexError):
                pass
        srv = (srv1 - srv0) if srv0 is not None and srv1 is not None else None
        mine = (me1.user - me0.user) + (me1.system - me0.system)
        foreign = max(0.0, (busy1 - busy0) - cpu - (srv or 0) - mine)
        reqs = None
        if m0 is not None and m1 is not None:
            reqs = {k: int(m1.get(k, 0) - m0.get(k, 0)) for k in m1 if m1.get(k, 0) - m0.get(k, 0) > 0}
        return {
            "rc": p.returncode, "wall": round(wall, 4), "epoch_start": epoch0,
            "cpu_user": round(ru.ru_utime, 3), "cpu_sys": round(ru.ru_stime, 3), "cpu_s": round(cpu, 3),
            "maxrss_tree_kb": exact_kb if exact_kb is not None else ru.ru_maxrss,
            "maxrss_source": "GNU time %M" if exact_kb is not None else "wait4 ru_maxrss (floored by the parent)",
            "root_hwm_kb": poller.root_hwm_kb, "child_hwm_kb": poller.child_hwm_kb,
            "child_rss_sum_kb": poller.child_rss_sum_kb, "tree_rss_sum_kb": poller.tree_rss_sum_kb,
            "children_seen": len(poller.children), "child_names": sorted(set(poller.children.values())),
            "poll_samples": poller.samples,
            "lo_bytes": lo1 - lo0,
            "disk_write_bytes": io1.get("write_bytes", 0) - io0.get("write_bytes", 0),
            "disk_cancelled_write_bytes": io1.get("cancelled_write_bytes", 0) - io0.get("cancelled_write_bytes", 0),
            "wchar": io1.get("wchar", 0) - io0.get("wchar", 0),
            "server_cpu_s": round(srv, 3) if srv is not None else None,
            "foreign_cpu_s": round(foreign, 3), "foreign_share": round(foreign / max(wall * NCPU, 1e-9), 3),
            "load1": load, "s3_requests": reqs,
        }

    # -------------------------------------------------- sources

    def seed(self, name, archives, size_class):
        bucket = f"bsrc-{name}"
        d = os.path.join(self.tmp, f"gen-{name}")
        gen = [sys.executable, GEN, "--out", d, "--files", str(archives), "--size-class", size_class,
               "--layout", "klines", "--seed", "1"]
        if size_class in ("medium", "large"):
            gen += ["--compression", "stored"]
        t0 = time.monotonic()
        sh(gen)
        t_gen = time.monotonic() - t0
        if archives == 1:  # the single-file scenario: one zip, no CHECKSUM
            for dp, _, fs in os.walk(d):
                for f in fs:
                    if f.endswith(".CHECKSUM"):
                        os.remove(os.path.join(dp, f))
        self.s5("mb", f"s3://{bucket}", check=False)
        t0 = time.monotonic()
        self.s5("--numworkers", "32", "cp", f"{d}/*", f"s3://{bucket}/")
        t_up = time.monotonic() - t0
        shutil.rmtree(d)
        n, size = self.listing(f"s3://{bucket}/*")
        return bucket, n, size, round(t_gen, 2), round(t_up, 2)

    def drop_bucket(self, bucket):
        self.s5("rm", f"s3://{bucket}/*", check=False)
        self.s5("rb", f"s3://{bucket}", check=False)

    # -------------------------------------------------- tools

    def lakesync_cmd(self, src, dest, mode, report, batch_size=150, extra=()):
        return [self.lakesync, "sync", "--endpoint-url", self.url, "--source", f"s3://{src}",
                "--dest", dest, "--mode", mode, "--workers", str(self.a.workers), "--fixed-workers",
                "--batch-size", str(batch_size), "--temp-dir", self.tmp, "--report", report,
                "--progress-interval", "0", "-q", "-v", "--log-format", "json", *extra]

    def run_tool(self, tool, src, prefix):
        """Run one tool once into s3://bdst/PREFIX; returns the measurement."""
        dest = f"s3://bdst/{prefix}"
        report = os.path.join(self.tmp, "report.json")
        errp = os.path.join(self.tmp, "stderr.txt")
        extra = {}
        if os.path.exists(report):
            os.remove(report)
        if tool.startswith("lakesync-"):
            mode = "staged" if "staged" in tool else "direct"
            extra_args = ("--no-folder-copies",) if tool.endswith("-lines") else ()
            m = self.measure(self.lakesync_cmd(src, dest, mode, report, 150, extra_args), self.env(), errp)
            extra = lakesync_extract(report, errp, m["epoch_start"])
        elif tool == "s5cmd-run":
            cmds = os.path.join(self.tmp, "commands.txt")
            t0 = time.monotonic()
            sh([self.lakesync, "sync", "--endpoint-url", self.url, "--source", f"s3://{src}", "--dest", dest,
                "--dry-run", "--write-commands", cmds, "-q"], env=self.env())
            extra["plan_dry_run_s"] = round(time.monotonic() - t0, 3)
            with open(cmds) as f:
                extra["lines"] = sum(1 for _ in f)
            m = self.measure([S5CMD, "--json", "--endpoint-url", self.url, "--retry-count", "3",
                              "--numworkers", str(self.a.workers), "run", cmds], self.env(), errp)
        elif tool == "s5cmd-cp-256":
            m = self.measure([S5CMD, "--endpoint-url", self.url, "--numworkers", "256", "cp",
                              f"s3://{src}/*", f"{dest}/"], self.env(), errp)
        elif tool == "aws-s3-sync":
            m = self.measure([self.aws, "--endpoint-url", self.url, "s3", "sync", f"s3://{src}/", f"{dest}/",
                              "--only-show-errors", "--no-progress"], self.env("aws"), errp)
        elif tool == "rclone-copy":
            m = self.measure([self.rclone, "copy", "--transfers", "32", "--checkers", "32",
                              "--s3-no-check-bucket", f"bench:{src}", f"bench:bdst/{prefix}"],
                             self.env("rclone"), errp)
        else:
            raise ValueError(tool)
        m.update(extra)
        if m["rc"] != 0:
            with open(errp, errors="replace") as f:
                m["stderr_tail"] = f.read()[-1500:]
        return m

    def tools_for(self, name):
        tools = ["lakesync-direct", "s5cmd-run", "lakesync-staged", "s5cmd-cp-256"]
        if self.aws:
            tools.append("aws-s3-sync")
        if self.rclone:
            tools.append("rclone-copy")
        if name == "1000-tiny":
            tools.append("lakesync-direct-lines")
        return tools

    # -------------------------------------------------- a scenario

    def scenario(self, name, archives, size_class, reps, spec_class):
        t_start = time.monotonic()
        bucket, n, size, t_gen, t_up = self.seed(name, archives, size_class)
        log(f"{name}: {n} objects, {size / 1e6:.1f} MB seeded (generate {t_gen}s, upload {t_up}s)")
        reps = max(reps, self.a.reps or 0)
        tools = self.tools_for(name)
        runs = {t: [] for t in tools}
        idle = self.idle_probe()
        for rep in range(reps):
            k = rep % len(tools)
            order = tools[k:] + tools[:k]
            if rep % 2:
                order = order[::-1]
            for pos, tool in enumerate(order):
                prefix = f"{name}/{tool}/{rep}"
                m = self.run_tool(tool, bucket, prefix)
                m["rep"], m["position"] = rep, pos
                m["landed"], m["landed_bytes"] = self.listing(f"s3://bdst/{prefix}/*")
                m["ok"] = m["rc"] == 0 and m["landed"] == n and m["landed_bytes"] == size
                runs[tool].append(m)
                self.s5("rm", f"s3://bdst/{prefix}/*", check=False)
                if not m["ok"]:
                    log(f"  {tool} rep {rep}: NOT OK rc={m['rc']} landed {m['landed']}/{n} "
                        f"{m.get('stderr_tail', '')[-300:]}")
            log(f"  rep {rep + 1}/{reps}: " + ", ".join(f"{t} {runs[t][-1]['wall']:.2f}s" for t in tools))
        self.drop_bucket(bucket)
        sc = {"name": name, "objects": n, "bytes": size, "size_class": size_class, "spec_class": spec_class,
              "archives": archives, "reps": reps, "generate_s": t_gen, "upload_s": t_up, "tools": tools,
              "idle_probe": idle, "runs": runs,
              "summary": {t: summarize(runs[t], n, size) for t in tools},
              "seconds": round(time.monotonic() - t_start, 1)}
        sc["overhead"] = overhead(sc)
        log(f"{name}: done in {sc['seconds']}s: "
            + ", ".join(f"{t} {s['wall_median']:.2f}s" for t, s in sc["summary"].items()))
        return sc

    def idle_probe(self, seconds=1.0):
        """Background loopback bytes/s and foreign CPU share while we do nothing."""
        lo0, b0, me0 = lo_bytes(), machine_busy_seconds(), os.times()
        time.sleep(seconds)
        lo1, b1, me1 = lo_bytes(), machine_busy_seconds(), os.times()
        mine = (me1.user - me0.user) + (me1.system - me0.system)
        return {"lo_bytes_per_s": round((lo1 - lo0) / seconds),
                "foreign_share": round(max(0.0, b1 - b0 - mine) / (seconds * NCPU), 3),
                "load1": loadavg()[0]}

    # -------------------------------------------------- scale: manifests, s5cmd dry-run rate

    def scale(self):
        out = {"manifest_planning": [], "s5cmd_dry_run": None}
        help_text = sh([self.lakesync, "sync", "--help"], check=False).stdout
        src, empty = "bman-src", "bman-empty"
        self.s5("mb", f"s3://{src}", check=False)
        self.s5("mb", f"s3://{empty}", check=False)
        cmds_for_s5cmd = None
        if "--source-manifest" not in help_text:
            out["skipped"] = "skipped: lakesync has no --source-manifest"
            log(out["skipped"])
        else:
            reps = 3
            for size in MANIFEST_SIZES:
                path = os.path.join(self.tmp, f"manifest-{size}.jsonl")
                t0 = time.monotonic()
                write_manifest(path, size, src)
                t_gen = time.monotonic() - t0
                runs = []
                for rep in range(reps):
                    report = os.path.join(self.tmp, "manifest-report.json")
                    cmd = [self.lakesync, "sync", "--endpoint-url", self.url, "--source", f"s3://{src}",
                           "--source-manifest", path, "--dest", f"s3://{empty}/x", "--dry-run", "-q",
                           "--report", report]
                    m = self.measure(cmd, self.env(), os.path.join(self.tmp, "stderr.txt"))
                    try:
                        with open(report) as f:
                            rep_json = json.load(f)
                        m["planned"] = rep_json["totals"]["planned"]
                        m["listing_seconds"] = rep_json.get("plan", {}).get("listing_seconds")
                    except (OSError, ValueError, KeyError):
                        m["planned"] = None
                    if m["rc"] != 0:
                        with open(os.path.join(self.tmp, "stderr.txt"), errors="replace") as f:
                            m["stderr_tail"] = f.read()[-800:]
                    runs.append(m)
                walls = [r["wall"] for r in runs]
                entry = {"objects": size, "manifest_bytes": os.path.getsize(path), "generate_s": round(t_gen, 2),
                         "runs": runs, "wall_median": median(walls), "wall_min": min(walls), "wall_max": max(walls),
                         "objects_per_s": round(size / median(walls)),
                         "planned_ok": all(r.get("planned") == size for r in runs),
                         "lakesync_hwm_mb": round(median([r["root_hwm_kb"] for r in runs]) / 1024, 1),
                         "tree_maxrss_mb": round(median([r["maxrss_tree_kb"] for r in runs]) / 1024, 1),
                         "cpu_s": median([r["cpu_s"] for r in runs])}
                out["manifest_planning"].append(entry)
                log(f"manifest {size}: {entry['wall_median']:.2f}s, {entry['objects_per_s']} objects/s, "
                    f"lakesync HWM {entry['lakesync_hwm_mb']} MB, planned ok {entry['planned_ok']}")
                if size == S5CMD_DRYRUN_LINES:
                    cmds_for_s5cmd = os.path.join(self.tmp, "dryrun-commands.txt")
                    sh([self.lakesync, "sync", "--endpoint-url", self.url, "--source", f"s3://{src}",
                        "--source-manifest", path, "--dest", f"s3://{empty}/x", "--dry-run", "-q",
                        "--write-commands", cmds_for_s5cmd], env=self.env())
                os.remove(path)
        if cmds_for_s5cmd is None:  # no manifest support: write the lines ourselves
            cmds_for_s5cmd = os.path.join(self.tmp, "dryrun-commands.txt")
            with open(cmds_for_s5cmd, "w") as f:
                for key, _ in synthetic_keys(S5CMD_DRYRUN_LINES):
                    f.write(f"cp --raw --metadata-directive COPY 's3://{src}/{key}' 's3://{empty}/x/{key}'\n")
        with open(cmds_for_s5cmd) as f:
            lines = sum(1 for _ in f)
        runs = []
        for rep in range(3 if self.a.full else 1):
            m = self.measure([S5CMD, "--json", "--dry-run", "--endpoint-url", self.url, "--numworkers", "256",
                              "run", cmds_for_s5cmd], self.env(), os.path.join(self.tmp, "stderr.txt"))
            runs.append(m)
        walls = [r["wall"] for r in runs]
        out["s5cmd_dry_run"] = {"lines": lines, "runs": runs, "wall_median": median(walls),
                                "wall_min": min(walls), "wall_max": max(walls),
                                "lines_per_s": round(lines / median(walls)),
                                "cpu_s": median([r["cpu_s"] for r in runs]),
                                "cpu_ms_per_line": round(median([r["cpu_s"] for r in runs]) * 1000 / lines, 3),
                                "maxrss_mb": round(median([r["maxrss_tree_kb"] for r in runs]) / 1024, 1)}
        log(f"s5cmd --dry-run run: {lines} lines in {out['s5cmd_dry_run']['wall_median']:.1f}s "
            f"({out['s5cmd_dry_run']['lines_per_s']} lines/s, {out['s5cmd_dry_run']['cpu_s']} CPU s)")
        os.remove(cmds_for_s5cmd)
        self.s5("rb", f"s3://{src}", check=False)
        self.s5("rb", f"s3://{empty}", check=False)
        return out


# ---------------------------------------------------------------- manifests


def synthetic_keys(n):
    """n keys (zip + CHECKSUM pairs) in key order, with sizes."""
    pairs = n // 2
    days = 1000
    symbols = (pairs + days - 1) // days
    base = datetime.date(2021, 1, 1)
    dates = [(base + datetime.timedelta(days=i)).isoformat() for i in range(days)]
    made = 0
    for s in range(symbols):
        sym = f"S{s:05d}USDT"
        for d in dates:
            if made >= n:
                return
            key = f"data/spot/daily/klines/{sym}/1m/{sym}-1m-{d}.zip"
            yield key, 60_000 + (made * 7919) % 40_000
            yield key + ".CHECKSUM", 105
            made += 2


def write_manifest(path, n, bucket):
    """`s5cmd ls --json` lines, sorted by key."""
    last = ""
    with open(path, "w") as f:
        for key, size in synthetic_keys(n):
            assert key > last
            last = key
            etag = hashlib.md5(key.encode()).hexdigest()
            f.write(json.dumps({"key": f"s3://{bucket}/{key}", "etag": etag,
                                "last_modified": "2024-01-02T03:04:05Z", "type": "file", "size": size,
                                "storage_class": "STANDARD"}, separators=(",", ":")) + "\n")


# ---------------------------------------------------------------- lakesync reports and logs


def lakesync_extract(report_path, stderr_path, epoch_start):
    out = {}
    try:
        with open(report_path) as f:
            r = json.load(f)
    except (OSError, ValueError):
        return {"report": None}
    ops = r.get("operations") or {}
    res = r.get("resources") or {}
    batches = r.get("batches") or []
    out["report"] = {
        "duration_seconds": r.get("duration_seconds"),
        "copied": (r.get("totals") or {}).get("copied"),
        "validated": (r.get("totals") or {}).get("validated"),
        "bytes_copied": (r.get("totals") or {}).get("bytes_copied"),
        "per_file": ops.get("per_file"),
        "network_transfers_per_file": ops.get("network_transfers_per_file"),
        "local_bytes_written": ops.get("local_bytes_written"),
        "s5cmd_ops": ops.get("s5cmd_ops"),
        "s5cmd_processes": ops.get("s5cmd_processes"),
        "listing_seconds": (r.get("plan") or {}).get("listing_seconds"),
        "copy_seconds": (r.get("throughput") or {}).get("copy_seconds"),
        "rss_peak_bytes": res.get("rss_peak_bytes"),
        "child_rss_peak_bytes": res.get("child_rss_peak_bytes"),
        "total_rss_peak_bytes": res.get("total_rss_peak_bytes"),
        "cpu_avg_pct": res.get("cpu_avg_pct"),
        "lakesync_cpu_seconds": r.get("lakesync_cpu_seconds"),
        "mode": r.get("mode"),
        "checksums_verified": (r.get("integrity") or {}).get("checksums_verified"),
        "batches": [{"files": b.get("files"), "seconds": b.get("seconds"), "workers": b.get("workers")}
                    for b in batches],
    }
    # batch timeline from the "batch done" log lines (-v --log-format json)
    ends = []
    try:
        with open(stderr_path, errors="replace") as f:
            for line in f:
                if '"batch done"' not in line:
                    continue
                try:
                    o = json.loads(line)
                except ValueError:
                    continue
                fields = o.get("fields") or o
                ends.append((parse_ts(o["timestamp"]) - epoch_start, float(fields.get("seconds", "nan"))))
    except (OSError, KeyError, ValueError):
        ends = []
    if ends:
        # lakesync runs up to two batches at once (direct: the workers split between them), so
        # batch intervals overlap: merge them; gaps are times when no batch was running
        spans = sorted((e - s, e) for e, s in ends)
        merged = [list(spans[0])]
        for a, b in spans[1:]:
            if a <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], b)
            else:
                merged.append([a, b])
        gaps = [merged[i][0] - merged[i - 1][1] for i in range(1, len(merged))]
        out["timeline"] = {
            "spans_s": [[round(a, 3), round(b, 3)] for a, b in spans],
            "first_batch_start_s": round(spans[0][0], 3),
            "last_batch_end_s": round(max(b for _, b in spans), 3),
            "batch_seconds_sum": round(sum(s for _, s in ends), 3),
            "busy_s": round(sum(b - a for a, b in merged), 3),  # at least one batch running
            "gaps_s": [round(g, 3) for g in gaps],
            "gap_total_s": round(sum(gaps), 3),
        }
    return out


# ---------------------------------------------------------------- summaries


def summarize(runs, n, size):
    walls = [r["wall"] for r in runs]
    med = median(walls)
    s = {
        "runs": len(runs), "all_ok": all(r["ok"] for r in runs),
        "wall_median": med, "wall_min": min(walls), "wall_max": max(walls),
        "files_per_s": round(n / med, 1) if med else None,
        "mb_per_s": round(size / 1e6 / med, 2) if med else None,
        "cpu_s": median([r["cpu_s"] for r in runs]),
        "server_cpu_s": median([r["server_cpu_s"] for r in runs]),
        "lo_bytes_per_byte": round(median([r["lo_bytes"] for r in runs]) / max(size, 1), 3),
        "lo_bytes": median([r["lo_bytes"] for r in runs]),
        "disk_write_bytes": median([r["disk_write_bytes"] for r in runs]),
        "maxrss_tree_mb": round(median([r["maxrss_tree_kb"] for r in runs]) / 1024, 1),
        "root_hwm_mb": round(median([r["root_hwm_kb"] for r in runs]) / 1024, 1),
        # the largest child: polled, or GNU time's tree maximum when that exceeds the main
        # process's own peak (then it is a child's exact peak; short-lived children escape polling)
        "child_hwm_mb": round(median([max(r["child_hwm_kb"],
                                          r["maxrss_tree_kb"] if r["maxrss_source"].startswith("GNU")
                                          and r["maxrss_tree_kb"] > r["root_hwm_kb"] else 0)
                                      for r in runs]) / 1024, 1),
        "child_rss_sum_mb": round(median([r["child_rss_sum_kb"] for r in runs]) / 1024, 1),
        "foreign_share": median([r["foreign_share"] for r in runs]),
        "foreign_share_max": max(r["foreign_share"] for r in runs),
        "load1": median([r["load1"] for r in runs]),
    }
    reqs = [r["s3_requests"] for r in runs if r.get("s3_requests") is not None]
    if reqs:
        kinds = sorted({k for q in reqs for k in q})
        s["s3_requests_per_file"] = round(median([sum(q.values()) for q in reqs]) / max(n, 1), 2)
        s["s3_requests_by_kind"] = {k: median([q.get(k, 0) for q in reqs]) for k in kinds}
    reps = [r["report"] for r in runs if r.get("report")]
    if reps:
        def med_of(key):
            return median([x.get(key) for x in reps])
        s["report"] = {k: med_of(k) for k in (
            "duration_seconds", "per_file", "network_transfers_per_file", "local_bytes_written",
            "s5cmd_ops", "s5cmd_processes", "listing_seconds", "copy_seconds", "rss_peak_bytes",
            "child_rss_peak_bytes", "total_rss_peak_bytes", "cpu_avg_pct", "lakesync_cpu_seconds",
            "validated", "checksums_verified")}
        per100 = []
        for x in reps:
            full = [b for b in x["batches"] if b["files"] and b["files"] >= 100]
            per100 += [b["seconds"] * 100 / b["files"] for b in full]
        s["report"]["batch_seconds_per_100_files"] = round(median(per100), 3) if per100 else None
        s["report"]["batch_seconds_per_100_files_n"] = len(per100)
        tl = [r["timeline"] for r in runs if r.get("timeline")]
        if tl:
            s["timeline"] = {k: round(median([t[k] for t in tl]), 3) for k in
                             ("first_batch_start_s", "last_batch_end_s", "gap_total_s", "busy_s",
                              "batch_seconds_sum")}
    return s


def overhead(sc):
    """lakesync-direct vs raw s5cmd on the same lines, decomposed (medians)."""
    S = sc["summary"]
    if "lakesync-direct" not in S or "s5cmd-run" not in S:
        return None
    ld, raw = S["lakesync-direct"], S["s5cmd-run"]
    o = {"lakesync_wall": ld["wall_median"], "raw_wall": raw["wall_median"],
         "ratio": round(ld["wall_median"] / raw["wall_median"], 2),
         "extra_s": round(ld["wall_median"] - raw["wall_median"], 3),
         "lakesync_cpu_s": ld.get("report", {}).get("lakesync_cpu_seconds"),
         "raw_tree_cpu_s": raw["cpu_s"], "lakesync_tree_cpu_s": ld["cpu_s"]}
    runs = sc["runs"]["lakesync-direct"]
    parts = []
    for r in runs:
        rep, tl = r.get("report"), r.get("timeline")
        if not rep or not tl:
            continue
        parts.append({
            "before_first_batch_s": tl["first_batch_start_s"],  # start-up, listing, planning
            "listing_s": rep["listing_seconds"],
            "batches_busy_s": tl["busy_s"],
            "batch_seconds_sum": tl["batch_seconds_sum"],
            "gaps_s": tl["gap_total_s"],
            "after_last_batch_s": r["wall"] - tl["last_batch_end_s"],  # validation, report, exit
        })
    if parts:
        o["parts"] = {k: round(median([p[k] for p in parts]), 3) for k in parts[0]}
    if "lakesync-direct-lines" in S:
        o["lines_wall"] = S["lakesync-direct-lines"]["wall_median"]
    return o


# ---------------------------------------------------------------- machine and report


def file_field(path, prefix):
    """The value after the first `prefix...:` line of a file such as /proc/cpuinfo ("?" if none)."""
    try:
        with open(path) as f:
            for line in f:
                if line.startswith(prefix):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "?"


def command_output(cmd):
    """A command's stdout and stderr, stripped; None when it cannot run or takes over 30 s."""
    try:
        return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              timeout=30).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return None


def machine(server, lakesync_copy):
    first, out = file_field, command_output
    rev = out(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"])
    dirty = out(["git", "-C", ROOT, "status", "--porcelain", "--", "src", "Cargo.toml", "Cargo.lock"])
    aws = shutil.which("aws", path=PEER_BIN)
    rclone = shutil.which("rclone", path=PEER_BIN)
    return {
        "nproc": NCPU, "mem_total_kib": int(first("/proc/meminfo", "MemTotal").split()[0]),
        "cpu_model": first("/proc/cpuinfo", "model name"), "kernel": platform.release(),
        "python": platform.python_version(),
        "server": server.name, "server_version": server.version, "server_version_line": server.version_line,
        "s5cmd": out([S5CMD, "version"]),
        "lakesync_version": out([lakesync_copy, "--version"]).splitlines()[0],
        "lakesync_git_rev": rev, "lakesync_tree_dirty": bool(dirty),
        "lakesync_binary_sha256": sha256_file(lakesync_copy)[:16],
        "lakesync_binary_mtime": datetime.datetime.fromtimestamp(
            os.path.getmtime(LAKESYNC_BUILT), datetime.timezone.utc).isoformat(timespec="seconds"),
        "aws": out([aws, "--version"]) if aws else None,
        "rclone": out([rclone, "version"]).splitlines()[0] if rclone else None,
        "loadavg_start": loadavg(),
    }


def exit_on_signals():
    """SIGTERM and SIGHUP end the run with status 128 + the signal, through the caller's
    `finally` (which stops the servers and removes the temp files), as Ctrl-C does."""
    def on_signal(signum, _frame):
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)


def write_json(path, res):
    """The results as indented, newline-terminated JSON."""
    with open(path, "w") as f:
        json.dump(res, f, indent=1)
        f.write("\n")


def fmt_s(s):
    return f"{s['wall_median']:.2f} [{s['wall_min']:.2f}–{s['wall_max']:.2f}]"


def fmt_scaled(v, units):
    """`v` in the first of `units` ((at least, size of the unit, format), largest first, the
    last one's `at least` 0) that it reaches; "–" for None."""
    if v is None:
        return "–"
    for at_least, size, fmt in units:
        if v >= at_least:
            return fmt.format(v / size)
    return fmt.format(v / size)


def fmt_bytes(b):
    return fmt_scaled(b, [(1e9, 1e9, "{:.2f} GB"), (1e6, 1e6, "{:.1f} MB"), (1e3, 1e3, "{:.0f} kB"),
                          (0, 1, "{:.0f} B")])


def markdown(res):
    m = res["machine"]
    srv = f"{m['server']} {m['server_version']}"
    L = [f"# lakesync benchmark, {res['date']}, server: {srv}", ""]
    L.append(f"- Server: **{srv}** on 127.0.0.1 (every figure below comes from this one server; never "
             f"compare figures across servers). {res['server_note']}")
    L.append(f"- Machine: {m['nproc']} cores ({m['cpu_model']}), {m['mem_total_kib'] / 1024 / 1024:.0f} GiB, "
             f"kernel {m['kernel']}; load average at start {m['loadavg_start'][0]:.2f}.")
    L.append(f"- Tools: s5cmd {m['s5cmd']}; {m['lakesync_version']} (git {m['lakesync_git_rev']}"
             f"{', working tree differs from it' if m['lakesync_tree_dirty'] else ''}; release binary built "
             f"{m['lakesync_binary_mtime']}); {m['aws'] or 'aws: not installed'}; {m['rclone'] or 'rclone: not installed'}.")
    L.append(f"- Settings: {res['workers']} s5cmd workers for lakesync (`--fixed-workers`, batch size 150; "
             f"staged is capped at 10 workers by lakesync) and for raw `s5cmd run`; aws "
             f"`max_concurrent_requests = {res['workers']}`; rclone `--transfers 32 --checkers 32`. "
             f"Each scenario: the same source objects, tools in rotating order, medians of the repetitions "
             f"with [min–max]. Run took {res['total_seconds'] / 60:.1f} min (`{res['command']}`).")
    L.append("")
    L.append("Columns: **wall** median seconds [min–max] (process start to exit; lakesync's includes listing "
             "both sides, planning and the validation listing); **files/s**, **MB/s** from the median wall; "
             "**ops/file** from lakesync's report; **S3 req/file**: requests the server counted (Garage "
             "metrics), every tool alike; **lo B/B**: bytes through the loopback interface (rx+tx, so one "
             "byte sent over loopback counts twice) per byte copied; **disk**: bytes the tool's process tree "
             "wrote to local disk; **RSS main / s5cmd**: peak RSS of the tool's own process (lakesync, aws, "
             "rclone, s5cmd) / of its largest s5cmd child; **CPU s**: user+sys of the tool's process tree; "
             "**srv CPU s**: the S3 server's CPU; **other load**: share of the machine's CPU used by other "
             "processes meanwhile (other builds and tests).")
    L.append("")
    L.append("| scenario | tool | wall s [min–max] | files/s | MB/s | ops/file | S3 req/file | lo B/B | disk | "
             "RSS main / s5cmd | CPU s | srv CPU s | other load | ok |")
    L.append("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for sc in res["scenarios"]:
        label = f"{sc['objects']} {sc['size_class']} ({fmt_bytes(sc['bytes'])}, {sc['reps']} reps)"
        for tool in sc["tools"]:
            s = sc["summary"][tool]
            rep = s.get("report") or {}
            if tool.startswith("lakesync"):
                rss = f"{s['root_hwm_mb']} / {s['child_hwm_mb']} MB"
            elif tool.startswith("s5cmd"):
                rss = f"{s['maxrss_tree_mb']} MB (s5cmd)"
            else:
                rss = f"{s['maxrss_tree_mb']} MB"
            ops = rep.get("per_file")
            L.append(
                f"| {label} | {tool} | {fmt_s(s)} | {s['files_per_s']} | {s['mb_per_s']} | "
                f"{ops if ops is not None else '–'} | {s.get('s3_requests_per_file', '–')} | "
                f"{s['lo_bytes_per_byte']} | {fmt_bytes(s['disk_write_bytes'])} | {rss} | {s['cpu_s']} | "
                f"{s['server_cpu_s'] if s['server_cpu_s'] is not None else '–'} | "
                f"{s['foreign_share'] * 100:.0f}% | {'yes' if s['all_ok'] else '**NO**'} |")
            label = ""
    L.append("")

    # spec beside ours
    L.append("## The spec's figures beside ours")
    L.append("")
    L.append("| performance-spec.md | spec | measured (lakesync, this server) |")
    L.append("|---|---|---|")
    by = {sc["name"]: sc for sc in res["scenarios"]}

    def lsum(name, tool):
        return by.get(name, {}).get("summary", {}).get(tool)

    for name in ("1000-tiny", "10000-tiny"):
        for mode in ("direct", "staged"):
            s = lsum(name, f"lakesync-{mode}")
            if s and s.get("report", {}).get("batch_seconds_per_100_files") is not None:
                spec = SPEC[f"batch_seconds_per_100_{mode}"]
                L.append(f"| 2.1 seconds per 100-file batch, {mode} ({name}) | {spec} s"
                         f"{' (target ≤ 1.5 s)' if mode == 'direct' else ' (baseline)'} | "
                         f"{s['report']['batch_seconds_per_100_files']} s (median over "
                         f"{s['report']['batch_seconds_per_100_files_n']} batches of 100 files or more, "
                         f"scaled to 100 files; batches holding wildcard lines run alone and may exceed --batch-size) |")
    for cls, names in (("small", ("1000-tiny", "100-small", "10000-tiny")), ("medium", ("100-medium",)),
                       ("large", ("8-large",))):
        for name in names:
            for mode in ("direct", "staged"):
                s = lsum(name, f"lakesync-{mode}")
                if s:
                    L.append(f"| 2.2.1 {cls} files/s, {mode} ({name}) | {SPEC['files_per_s'][cls][mode]} | "
                             f"{s['files_per_s']} (end to end incl. listing and validation) |")
    peaks = [(sc["name"], t, sc["summary"][t]) for sc in res["scenarios"] for t in sc["tools"]
             if t.startswith("lakesync-direct")]
    if peaks:
        worst = max(peaks, key=lambda p: p[2]["root_hwm_mb"] + p[2]["child_rss_sum_mb"])
        L.append(f"| 2.1.2 memory, direct | < {SPEC['memory_mb_direct']} MB | peak {worst[2]['root_hwm_mb']} MB "
                 f"lakesync + {worst[2]['child_rss_sum_mb']} MB s5cmd = "
                 f"{worst[2]['root_hwm_mb'] + worst[2]['child_rss_sum_mb']:.1f} MB (largest, {worst[0]}) |")
    def by_value(mode, key):
        """'5.0 (6.0 in 1-tiny)': the common value, and the scenarios that differ."""
        vals = {}
        for sc in res["scenarios"]:
            v = sc["summary"].get(f"lakesync-{mode}", {}).get("report", {}).get(key)
            if v is not None:
                vals.setdefault(v, []).append(sc["name"])
        if not vals:
            return "–"
        common = max(vals, key=lambda v: len(vals[v]))
        rest = "; ".join(f"{v} in {', '.join(n)}" for v, n in sorted(vals.items()) if v != common)
        return f"{common}" + (f" ({rest})" if rest else "")

    for mode in ("direct", "staged"):
        lob = [f"{sc['summary'][f'lakesync-{mode}']['lo_bytes_per_byte']} ({sc['name']})" for sc in res["scenarios"]
               if f"lakesync-{mode}" in sc["summary"] and sc["bytes"] > 1e6 * sc["objects"]]
        reqs = [f"{sc['summary'][f'lakesync-{mode}']['s3_requests_per_file']} ({sc['name']})"
                for sc in res["scenarios"] if sc["objects"] >= 1000
                and sc["summary"].get(f"lakesync-{mode}", {}).get("s3_requests_per_file") is not None]
        L.append(f"| 2.1 operations per file, {mode} | {SPEC['ops_per_file'][mode]} | "
                 f"{by_value(mode, 'per_file')} (lakesync's report)"
                 + (f"; S3 requests per file counted by the server: {', '.join(reqs)}" if reqs else "") + " |")
        L.append(f"| 2.1 network transfers per file, {mode} | {SPEC['transfers_per_file'][mode]} | "
                 f"{by_value(mode, 'network_transfers_per_file')} (report); loopback bytes per byte copied, "
                 f"measured: {', '.join(lob) or '–'} (scenarios of objects over 1 MB "
                 f"on average, where headers are negligible; 2 = one transfer over loopback) |")
        if mode == "direct":
            L.append(f"| 2.1 local storage, direct | 0 bytes | report `local_bytes_written` "
                     f"{by_value(mode, 'local_bytes_written')}; measured disk writes of lakesync's process "
                     f"tree: its own small files (command files, spill, report), see the disk column |")
    L.append("")

    # overhead
    L.append("## lakesync's overhead over raw s5cmd (same command lines, same workers)")
    L.append("")
    L.append("Medians over the runs, seconds. *before 1st batch*: process start to the first batch's start "
             "(start-up, listing both sides, planning; *listing* is the report's `plan.listing_seconds`, which "
             "ends when the planner has handed over its last batch, so with several batches it overlaps the "
             "copies); "
             "*batches busy*: time with at least one batch's s5cmd running (lakesync runs two batches at "
             "once, the workers split between them, except that a batch holding a folder copy runs alone "
             "with all of them; *sum* adds each batch's `seconds`); *gaps*: time between "
             "the first batch's start and the last one's end with no batch running; *after last*: the last "
             "batch's end to exit (validation listing, report, exit). Timeline from lakesync's `batch done` "
             "log lines (`-v --log-format json`), wall times from outside.")
    L.append("")
    L.append("| scenario | lakesync-direct | raw s5cmd run | ratio | extra | before 1st batch (listing) | "
             "batches busy (sum) | gaps | after last | lakesync CPU s | raw s5cmd CPU s | --no-folder-copies |")
    L.append("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for sc in res["scenarios"]:
        o = sc.get("overhead")
        if not o:
            continue
        p = o.get("parts", {})
        b1000 = f"{o['lines_wall']:.2f}" if o.get("lines_wall") is not None else "–"
        L.append(f"| {sc['name']} | {o['lakesync_wall']:.2f} | {o['raw_wall']:.2f} | {o['ratio']} | "
                 f"{o['extra_s']:.2f} | {p.get('before_first_batch_s', '–')} ({p.get('listing_s', '–')}) | "
                 f"{p.get('batches_busy_s', '–')} ({p.get('batch_seconds_sum', '–')}) | {p.get('gaps_s', '–')} | "
                 f"{p.get('after_last_batch_s', '–')} | {o.get('lakesync_cpu_s', '–')} | {o['raw_tree_cpu_s']} | "
                 f"{b1000} |")
    L.append("")

    # scale
    sc = res.get("scale")
    if sc:
        L.append("## Scale: planning from a manifest, and s5cmd's command-line rate")
        L.append("")
        if sc.get("skipped"):
            L.append(f"- {sc['skipped']}")
        if sc.get("manifest_planning"):
            L.append("`lakesync sync --dry-run --source-manifest M --dest s3://<empty bucket>/x` (synthetic "
                     "`s5cmd ls --json` manifests under data/spot/daily/klines/SYMBOL/1m/, 3 runs each):")
            L.append("")
            L.append("| objects | manifest | wall s [min–max] | objects/s | lakesync peak RSS | with s5cmd ls child | "
                     "CPU s | all planned |")
            L.append("|---|---|---|---|---|---|---|---|")
            for e in sc["manifest_planning"]:
                L.append(f"| {e['objects']:,} | {fmt_bytes(e['manifest_bytes'])} | {e['wall_median']:.2f} "
                         f"[{e['wall_min']:.2f}–{e['wall_max']:.2f}] | {e['objects_per_s']:,} | "
                         f"{e['lakesync_hwm_mb']} MB | {e['tree_maxrss_mb']} MB | {e['cpu_s']} | "
                         f"{'yes' if e['planned_ok'] else '**NO**'} |")
            L.append("")
        d = sc.get("s5cmd_dry_run")
        if d:
            L.append(f"- One s5cmd process, `s5cmd --dry-run --numworkers 256 run FILE` on {d['lines']:,} cp "
                     f"lines (written by `lakesync --dry-run --write-commands` from the 100k manifest): "
                     f"{d['wall_median']:.1f} s [{d['wall_min']:.1f}–{d['wall_max']:.1f}] = "
                     f"**{d['lines_per_s']:,} lines/s**, {d['cpu_s']} CPU s ({d['cpu_ms_per_line']} ms per "
                     f"line, spread over the cores: CPU-bound, so the rate falls with other load), peak RSS "
                     f"{d['maxrss_mb']} MB ({len(d['runs'])} run(s){'' if res.get('full') else '; 3 with --full'}).")
            L.append("")

    return finish_markdown(L, res["notes"])


def finish_markdown(lines, notes):
    """The report's text: LINES, then a Notes section with a bullet per note."""
    lines += ["## Notes", ""] + [f"- {note}" for note in notes]
    return "\n".join(lines) + "\n"


def sc_by_name(res, name):
    return next(sc for sc in res["scenarios"] if sc["name"] == name)


def notes(res):
    out = []
    m = res["machine"]
    if m["server"] == "garage":
        out.append("Garage copies an object server-side by reference to the same data blocks, so direct "
                   "(CopyObject) copies cost it almost nothing per byte: direct MB/s on Garage says little "
                   "about byte throughput on AWS, where CopyObject also moves no bytes through the client.")
    else:
        out.append("moto serves every request in Python and is the bottleneck for small objects "
                   "(see srv CPU s): the tools differ less than they would on a faster server.")
    shares = [s["foreign_share"] for sc in res["scenarios"] for s in sc["summary"].values()]
    if shares:
        hi = max(shares)
        med = median(shares)
        verdict = ("Other builds/tests were running: expect noise, compare medians and spreads." if med > 0.1
                   else "The machine was mostly quiet; a few runs overlapped other work." if hi > 0.1
                   else "The machine was quiet.")
        out.append(f"Other load: the median share of the machine's CPU used by processes outside the "
                   f"benchmark was {med * 100:.0f}% across tools and scenarios (highest {hi * 100:.0f}%; "
                   f"per run in the JSON as foreign_share). {verdict}")
    out.append("A scenario's files are objects: each zip travels with its .CHECKSUM (the 1-file scenario "
               "is one zip without it), so files/s counts both, like the spec's batches of files.")
    odd = [(sc["name"], sc["summary"]["lakesync-staged"]["report"]["per_file"]) for sc in res["scenarios"]
           if sc["summary"].get("lakesync-staged", {}).get("report", {}).get("per_file") not in (None, 5.0)]
    for name, v in odd:
        reqs = sc_by_name(res, name)["summary"]["lakesync-staged"].get("s3_requests_by_kind")
        out.append(f"lakesync-staged reported {v} operations per file in {name}"
                   + (f" (server-counted requests per run: {reqs})" if reqs else "")
                   + ": a zip without its .CHECKSUM counts an extra download (and transfer).")
    out.append("lo B/B counts everything on the loopback interface during a run, including other processes' "
               "loopback traffic (see `idle_probe` per scenario in the JSON) and HTTP headers: read it for "
               "large objects, where 2 means one transfer and 4 means two.")
    out.append("Disk bytes are the process tree's `write_bytes` (/proc/self/io delta after reaping, "
               "independent of lakesync's `local_bytes_written`, which the JSON also has).")
    out.append("Peak RSS: for s5cmd, aws and rclone GNU time's %M (exact); for lakesync its own process's "
               "VmHWM polled every 10 ms for the first 0.5 s, then every 50 ms, and the largest single s5cmd child seen (the JSON also has "
               "lakesync's own `resources` figures, GNU time's tree maximum, and the largest sum over "
               "concurrently running s5cmd children).")
    return out


# ---------------------------------------------------------------- main


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--full", action="store_true", help="add the 10,000-file and large-file scenarios")
    ap.add_argument("--server", choices=("auto", "garage", "moto"), default="auto")
    ap.add_argument("--reps", type=int, default=0, help="at least N repetitions per scenario")
    ap.add_argument("--only", default="", help="comma list of scenario names (e.g. 10-tiny,1000-tiny)")
    ap.add_argument("--no-scale", action="store_true", help="skip the manifest / s5cmd dry-run part")
    ap.add_argument("--workers", type=int, default=32, help="lakesync --workers and raw s5cmd --numworkers")
    ap.add_argument("--out", default=os.path.join(ROOT, "bench", "results"))
    a = ap.parse_args()

    for exe, hint in ((S5CMD, "make tools"), (LAKESYNC_BUILT, "make setup (cargo build --release)")):
        if not os.path.exists(exe):
            raise SystemExit(f"bench: {exe} missing: run {hint}")
    scenarios = QUICK + (FULL if a.full else [])
    if a.only:
        want = set(a.only.split(","))
        scenarios = [s for s in scenarios + ([] if a.full else FULL) if s[0] in want]
        if not scenarios:
            raise SystemExit(f"bench: no scenario named {a.only}")

    use_garage = a.server == "garage" or (a.server == "auto" and os.access(GARAGE, os.X_OK))
    if a.server == "garage" and not os.access(GARAGE, os.X_OK):
        raise SystemExit("bench: Garage is not built: make bench-tools")
    tag = f"bench{os.getpid()}"
    server = Garage(tag) if use_garage else Moto(f"bench-moto-{os.getpid()}")
    server_note = ("Garage was found in .tools/garage." if use_garage else
                   "Garage is not built (make bench-tools builds it, ~7 min), so moto serves this run; "
                   "Garage is the better server for server-side benchmarks.")
    tmp = tempfile.mkdtemp(prefix="lakesync-bench-")

    exit_on_signals()
    t0 = time.monotonic()
    res = b = None
    try:
        log(f"starting {server.name} {server.version} ...")
        server.start()
        log(f"{server.name} at {server.url} (pid {server.pid}); temp {tmp}")
        b = Bench(a, server, tmp)
        b.s5("mb", "s3://bdst", check=False)
        res = {"format": 1, "date": datetime.date.today().isoformat(),
               "started_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
               "command": " ".join(["scripts/bench/bench.py"] + sys.argv[1:]),
               "server": server.label(), "server_url": server.url, "server_note": server_note,
               "server_metrics": bool(server.admin), "workers": a.workers, "full": a.full,
               "machine": machine(server, b.lakesync), "spec": SPEC, "scenarios": []}
        for name, archives, cls, reps, spec_class in scenarios:
            res["scenarios"].append(b.scenario(name, archives, cls, reps, spec_class))
        if not a.no_scale:
            res["scale"] = b.scale()
        res["total_seconds"] = round(time.monotonic() - t0, 1)
        res["loadavg_end"] = loadavg()
        res["notes"] = notes(res)
    finally:
        if CURRENT_CHILD is not None and CURRENT_CHILD.returncode is None:
            try:
                CURRENT_CHILD.kill()
                CURRENT_CHILD.wait()
            except OSError:
                pass
        server.stop()
        shutil.rmtree(tmp, ignore_errors=True)
        if b is not None and b.shm:
            shutil.rmtree(b.shm, ignore_errors=True)
        log(f"stopped {server.name}, removed {tmp}")

    os.makedirs(a.out, exist_ok=True)
    partial = bool(a.only) or a.no_scale
    suffix = "-partial" if partial else ("-full" if a.full else "")
    base = os.path.join(a.out, f"{res['date']}-{server.label()}{suffix}")
    # A second run of the day with the same name gets its own files (-2, -3, ...): results
    # are records, never overwritten.
    first, n = base, 2
    while os.path.exists(base + ".json") or os.path.exists(base + ".md"):
        base, n = f"{first}-{n}", n + 1
    write_json(base + ".json", res)
    md = markdown(res)
    with open(base + ".md", "w") as f:
        f.write(md)
    wrote = [base + ".json", base + ".md"]
    if not partial:  # LATEST.md is the newest complete run (quick or full)
        with open(os.path.join(a.out, "LATEST.md"), "w") as f:
            f.write(md)
        wrote.append(os.path.join(a.out, "LATEST.md"))
    print(md)
    log(f"wrote {', '.join(wrote)} in {res['total_seconds'] / 60:.1f} min")
    bad = [(sc["name"], t) for sc in res["scenarios"] for t, s in sc["summary"].items() if not s["all_ok"]]
    if bad:
        log(f"some runs did not land every object: {bad}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
