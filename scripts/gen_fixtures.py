#!/usr/bin/env python3
"""Generate a deterministic tree shaped like Binance's public market-data archive.

Each archive object is a `.zip` holding one CSV with the same base name, plus its
`.zip.CHECKSUM` companion (`<sha256 hex>  <zip name>`), under the archive's real keys:

    data/{market}/{period}/{type}/{SYMBOL}[/{interval}]/{SYMBOL}-{interval|type}-{date}.zip

The same arguments give byte-identical output on the same machine (per-file RNG
seeded from --seed and the file's index, fixed zip timestamps; the zlib library of the
Python build must not change). File i does not depend on --files, so the first N files
of a bigger run equal a run with --files N.

CSV formats follow the archive (see the shared binance-archive notes):
  spot klines      no header; MICROsecond timestamps for dates >= 2025-01-01, ms before
  futures klines   header open_time,open,high,low,close,volume,close_time,...; ms
  spot trades      no header: id,price,qty,quoteQty,time,isBuyerMaker,isBestMatch
  spot aggTrades   no header: aggId,price,qty,firstId,lastId,time,isBuyerMaker,isBestMatch
  futures aggTrades header agg_trade_id,price,quantity,first_trade_id,last_trade_id,
                   transact_time,is_buyer_maker; ms
  fundingRate      header calc_time,funding_interval_hours,last_funding_rate; ms

Size classes (size of each zip, picked per file from the seed; log-uniform except tiny):
  tiny 1-4 KiB (default), small 1 KiB-1 MiB, medium 1-10 MiB, large 10-100 MiB,
  natural: no size target, one natural period of rows (a day of klines at the
  interval, a month of 8-hourly funding rates, 2,000 trades spread over the day).
To reach a size target the row count follows the target: klines keep their interval and
may run past the file's day; trades and funding rates are packed closer so that their
timestamps stay inside the file's day or month.

Layouts (files cycle over the series, each series on consecutive dates from --start):
  mixed    spot daily klines (BTCUSDT/ETHUSDT/BNBUSDT, 1m and 1h), spot daily aggTrades and
           trades, futures/um daily klines, futures/um monthly fundingRate (ETHUSDT,
           SOLUSDT), futures/cm daily aggTrades BTCUSD_PERP; 12 series
  klines   spot daily klines BTCUSDT 1m only (benchmarks)
  samples  spot daily klines BTCUSDT 1h, futures/um daily klines BTCUSDT 1h,
           futures/um monthly fundingRate BTCUSDT
The CHECKSUM line ends with one newline like the real files (--checksum-eol none drops it).
Compression (--compression auto): deflate level 6 for tiny/small/natural (like the
archive), deflate level 1 for medium (speed), stored for large (speed).

Python 3 standard library only.
"""

import argparse
import calendar
import datetime as dt
import hashlib
import math
import os
import random
import shutil
import struct
import sys
import time
import zlib
from concurrent.futures import ProcessPoolExecutor

KIB = 1024
MIB = 1024 * 1024
SIZE_CLASSES = {
    "tiny": (1 * KIB, 4 * KIB),
    "small": (1 * KIB, 1 * MIB),
    "medium": (1 * MIB, 10 * MIB),
    "large": (10 * MIB, 100 * MIB),
    "natural": None,
}
AUTO_COMPRESSION = {
    "tiny": ("deflate", 6),
    "small": ("deflate", 6),
    "natural": ("deflate", 6),
    "medium": ("deflate", 1),
    "large": ("stored", 0),
}
INTERVAL_SECONDS = {
    "1s": 1, "1m": 60, "3m": 180, "5m": 300, "15m": 900, "30m": 1800,
    "1h": 3600, "2h": 7200, "4h": 14400, "6h": 21600, "8h": 28800, "12h": 43200,
    "1d": 86400, "3d": 259200, "1w": 604800,
}
# (start price, price decimals, quantity decimals) per market/symbol
SYMBOLS = {
    ("spot", "BTCUSDT"): (96000.0, 2, 5),
    ("spot", "ETHUSDT"): (3400.0, 2, 4),
    ("spot", "BNBUSDT"): (700.0, 2, 3),
    ("futures/um", "BTCUSDT"): (96000.0, 1, 3),
    ("futures/um", "ETHUSDT"): (3400.0, 2, 3),
    ("futures/um", "SOLUSDT"): (190.0, 2, 0),
    ("futures/cm", "BTCUSD_PERP"): (96000.0, 1, 0),
}
MICROS_FROM = dt.date(2025, 1, 1)  # spot timestamps switch to microseconds
REAL_FIXTURES_DIRS = ("fixtures/real/data", "../shared/fixtures/binance-real/data")

# Series: (market, period, data type, symbol, interval or None). Files cycle over them.
# The mixed layout's monthly series avoid BTCUSDT so that --with-real never replaces a
# generated file (a daily collision with the real 2026-05 files needs ~6,000 files).
LAYOUTS = {
    "mixed": [
        ("spot", "daily", "klines", "BTCUSDT", "1m"),
        ("spot", "daily", "klines", "ETHUSDT", "1h"),
        ("spot", "daily", "aggTrades", "BTCUSDT", None),
        ("futures/um", "daily", "klines", "BTCUSDT", "1m"),
        ("spot", "daily", "klines", "BNBUSDT", "1m"),
        ("spot", "daily", "trades", "ETHUSDT", None),
        ("futures/um", "monthly", "fundingRate", "SOLUSDT", None),
        ("futures/cm", "daily", "aggTrades", "BTCUSD_PERP", None),
        ("spot", "daily", "klines", "BTCUSDT", "1h"),
        ("futures/um", "daily", "klines", "ETHUSDT", "1h"),
        ("futures/um", "monthly", "fundingRate", "ETHUSDT", None),
        ("spot", "daily", "trades", "BTCUSDT", None),
    ],
    "klines": [("spot", "daily", "klines", "BTCUSDT", "1m")],
    "samples": [
        ("spot", "daily", "klines", "BTCUSDT", "1h"),
        ("futures/um", "daily", "klines", "BTCUSDT", "1h"),
        ("futures/um", "monthly", "fundingRate", "BTCUSDT", None),
    ],
}
FUTURES_KLINES_HEADER = (
    "open_time,open,high,low,close,volume,close_time,quote_volume,count,"
    "taker_buy_volume,taker_buy_quote_volume,ignore\n"
)
FUTURES_AGGTRADES_HEADER = (
    "agg_trade_id,price,quantity,first_trade_id,last_trade_id,transact_time,is_buyer_maker\n"
)
FUNDING_HEADER = "calc_time,funding_interval_hours,last_funding_rate\n"
MAX_CHUNK_ROWS = 50_000


# --------------------------------------------------------------------------- dates


def add_months(d, n):
    m = d.month - 1 + n
    return dt.date(d.year + m // 12, m % 12 + 1, 1)


def epoch_ms(d):
    return calendar.timegm(d.timetuple()) * 1000


# --------------------------------------------------------------------------- rows
#
# Hot loops: prices are integers in ticks (their strings cached), quantities integers in
# lot units, gaussian steps approximated by a sum of three uniforms (cheaper than gauss).


class Rows:
    """Stateful CSV row source for one file. rows(n) returns the next n rows as text."""

    header = ""

    def __init__(self, rng, spec, day, period_ms, est_rows):
        self.rng = rng
        self.market, self.period, self.dtype, self.symbol, self.interval = spec
        base, self.pdec, self.qdec = SYMBOLS[(self.market, self.symbol)]
        self.tick = 10.0 ** -self.pdec
        self.lot = 10.0 ** -self.qdec
        self.p_t = int(base * (1.0 + rng.gauss(0.0, 0.03)) / self.tick)  # price in ticks
        self.start_ms = epoch_ms(day)
        self.period_ms = period_ms
        self.est_rows = max(1, est_rows)
        # spot switched to microseconds on 2025-01-01; futures stay in milliseconds
        self.unit = 1000 if (self.market == "spot" and day >= MICROS_FROM) else 1
        # price strings: spot pads to 8 decimals (80006.00000000), futures do not
        pad = "0" * (8 - self.pdec) if self.market == "spot" else ""
        self._pf = "%%.%df%s" % (self.pdec, pad)
        self._pcache = {}

    def pstr(self, p_t):
        s = self._pcache.get(p_t)
        if s is None:
            if len(self._pcache) > 200_000:
                self._pcache.clear()
            s = self._pcache[p_t] = self._pf % (p_t * self.tick)
        return s


class Klines(Rows):
    def __init__(self, *a):
        super().__init__(*a)
        secs = INTERVAL_SECONDS[self.interval]
        self.step = secs * 1000 * self.unit
        self.t = self.start_ms * self.unit
        self.sigma = 0.0006 * math.sqrt(secs / 60.0)  # relative move per interval
        self.vol_units = max(2, int(8.0 * secs / 60.0 / self.lot))  # mean volume, lots
        if self.market == "spot":
            qf = "%%.%df%s" % (self.qdec, "0" * (8 - self.qdec))
            self.fmt = "%d," + ",".join([self._pf] * 4) + "," + qf + ",%d,%.8f,%d," + qf + ",%.8f,0\n"
        else:
            self.header = FUTURES_KLINES_HEADER
            qf = "%%.%df" % self.qdec
            self.fmt = "%d," + ",".join([self._pf] * 4) + "," + qf + ",%d,%.5f,%d," + qf + ",%.5f,0\n"

    def rows(self, n):
        r, fmt = self.rng.random, self.fmt
        step, lot, tick = self.step, self.lot, self.tick
        half_tick = tick * 0.5
        vol_units, cnt_k = self.vol_units, 40.0 * self.lot
        t, o_t = self.t, self.p_t
        sig = max(1, int(o_t * self.sigma))
        sig2 = 2 * sig
        out = []
        append = out.append
        for _ in range(n):
            c_t = max(10, o_t + int((r() + r() + r() - 1.5) * sig2))
            if c_t >= o_t:
                hi_t, lo_t = c_t + int(r() * sig), o_t - int(r() * sig)
            else:
                hi_t, lo_t = o_t + int(r() * sig), c_t - int(r() * sig)
            vu = int(vol_units * (0.2 + 2.0 * r() * r())) + 1
            tbu = int(vu * (0.3 + 0.4 * r()))
            mid = (o_t + c_t) * half_tick
            v, tb = vu * lot, tbu * lot
            # (prices move many ticks per kline: formatting beats a string cache here)
            append(fmt % (t, o_t * tick, hi_t * tick, max(1, lo_t) * tick, c_t * tick, v, t + step - 1,
                          v * mid, int(vu * cnt_k * (0.5 + r())) + 1, tb, tb * mid))
            t += step
            o_t = c_t
        self.t, self.p_t = t, o_t
        return "".join(out)


class Trades(Rows):
    """spot trades / spot aggTrades / futures aggTrades."""

    def __init__(self, *a):
        super().__init__(*a)
        self.agg = self.dtype == "aggTrades"
        self.futures = self.market != "spot"
        rng = self.rng
        self.trade_id = rng.randrange(1_000_000_000, 4_000_000_000)
        self.agg_id = rng.randrange(400_000_000, 3_000_000_000)
        self.t = self.start_ms * self.unit
        self.t_end = (self.start_ms + self.period_ms) * self.unit - 1
        self.produced = 0
        if self.qdec > 0:
            qf = "%%.%df" % self.qdec
            self.max_units = int(0.5 / self.lot)
        else:
            qf = "%.1f"  # coin-margined quantities are contracts: 542.0
            self.max_units = 600
        if self.futures:
            self.header = FUTURES_AGGTRADES_HEADER if self.agg else ""
            self.fmt = "%d,%s," + qf + ",%d,%d,%d,%s\n"
            self.flags = ("true", "false")
        else:
            qf8 = "%%.%df%s" % (self.qdec, "0" * (8 - self.qdec))
            self.flags = ("True", "False")
            if self.agg:
                self.fmt = "%d,%s," + qf8 + ",%d,%d,%d,%s,True\n"
            else:
                self.fmt = "%d,%s," + qf8 + ",%.8f,%d,%s,True\n"

    def rows(self, n):
        r, fmt, ps = self.rng.random, self.fmt, self.pstr
        t, t_end, est, produced = self.t, self.t_end, self.est_rows, self.produced
        floor = est // 10 + 1
        p_t, tid, aid = self.p_t, self.trade_id, self.agg_id
        lot, tick, max_units = self.lot, self.tick, self.max_units
        buyer, seller = self.flags
        agg = self.agg
        out = []
        append = out.append
        for _ in range(n):
            x = r()
            if x < 0.15:
                p_t += 1 + int(x * 20)
            elif x > 0.85:
                p_t = max(10, p_t - 1 - int((1.0 - x) * 20))
            qu = int(max_units * r() * r()) + 1
            maker = buyer if r() < 0.5 else seller
            if agg:
                k = int(r() * r() * 6)
                append(fmt % (aid, ps(p_t), qu * lot if lot < 1 else float(qu), tid, tid + k, t, maker))
                aid += 1
                tid += k + 1
            else:
                q = qu * lot
                append(fmt % (tid, ps(p_t), q, p_t * tick * q, t, maker))
                tid += 1
            # spread the expected row count over the period; when the estimate is short,
            # later rows get denser instead of running past the end of the period
            produced += 1
            t = min(t_end, t + int(r() * 2.0 * (t_end - t) / max(est - produced, floor)))
        self.t, self.trade_id, self.agg_id, self.produced, self.p_t = t, tid, aid, produced, p_t
        return "".join(out)


class Funding(Rows):
    """Funding every 8 h; a size target needing more rows than the month holds packs
    them closer so that calc_time stays inside the file's month."""

    header = FUNDING_HEADER

    def __init__(self, *a):
        super().__init__(*a)
        self.t = self.start_ms
        self.t_end = self.start_ms + self.period_ms
        self.produced = 0
        self.rate = self.rng.gauss(0.0001, 0.00005)

    def rows(self, n):
        r = self.rng.random
        out = []
        append = out.append
        t, t_end, rate, produced = self.t, self.t_end, self.rate, self.produced
        est = self.est_rows
        floor = est // 10 + 1
        for _ in range(n):
            rate = 0.9 * rate + 0.00001 + (r() + r() + r() - 1.5) * 0.00006
            jitter = int(r() * 20) if r() < 0.3 else 0  # calc_time is a few ms late at times
            append("%d,8,%.8f\n" % (t + jitter, rate))
            produced += 1
            left = est - produced
            t += min(8 * 3600 * 1000, (t_end - t) // (left if left > 0 else floor))
        self.t, self.rate, self.produced = t, rate, produced
        return "".join(out)


def row_source(spec):
    dtype = spec[2]
    if dtype == "klines":
        return Klines
    if dtype in ("trades", "aggTrades"):
        return Trades
    if dtype == "fundingRate":
        return Funding
    raise ValueError("unsupported data type %s" % dtype)


# typical compressed bytes per row (deflate), used for the first guess only
BYTES_PER_ROW_GUESS = {"klines": 55, "trades": 20, "aggTrades": 18, "fundingRate": 8}

# --------------------------------------------------------------------------- zip


def dos_datetime(ts):
    return (
        (ts.hour << 11) | (ts.minute << 5) | (ts.second // 2),
        ((ts.year - 1980) << 9) | (ts.month << 5) | ts.day,
    )


class ZipWriter:
    """Writes a one-member zip like the archive's (Unix, v2.0, no data descriptor)."""

    def __init__(self, path, arcname, method, level, mtime):
        self.f = open(path, "wb")
        self.name = arcname.encode("ascii")
        self.method = method
        self.dtime, self.ddate = dos_datetime(mtime)
        self.crc = 0
        self.usize = 0
        self.csize = 0
        self.comp = zlib.compressobj(level, zlib.DEFLATED, -15) if method == 8 else None
        self.f.write(b"\0" * (30 + len(self.name)))  # local header, patched in close()

    def overhead(self):
        return 30 + 46 + 22 + 2 * len(self.name)

    def write(self, data):
        self.crc = zlib.crc32(data, self.crc)
        self.usize += len(data)
        out = self.comp.compress(data) if self.comp else data
        if out:
            self.f.write(out)
            self.csize += len(out)

    def size_if_closed(self):
        """Exact zip size if closed now (flushes a copy of the compressor)."""
        tail = len(self.comp.copy().flush()) if self.comp else 0
        return self.csize + tail + self.overhead()

    def close(self):
        if self.comp:
            out = self.comp.flush()
            self.f.write(out)
            self.csize += len(out)
        need = 20 if self.method == 8 else 10
        common = struct.pack(
            "<HHHHHIII", need, 0, self.method, self.dtime, self.ddate,
            self.crc & 0xFFFFFFFF, self.csize, self.usize,
        )
        if self.csize >= 0xFFFFFFFF or self.usize >= 0xFFFFFFFF:
            raise ValueError("zip member too large (no zip64 support)")
        cd_offset = 30 + len(self.name) + self.csize
        central = (
            struct.pack("<IH", 0x02014B50, (3 << 8) | 20) + common
            + struct.pack("<HHHHHII", len(self.name), 0, 0, 0, 0, 0o100644 << 16, 0)
            + self.name
        )
        eocd = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 1, 1, len(central), cd_offset, 0)
        self.f.write(central + eocd)
        self.f.seek(0)
        self.f.write(struct.pack("<I", 0x04034B50) + common + struct.pack("<HH", len(self.name), 0) + self.name)
        self.f.close()


# --------------------------------------------------------------------------- files


def plan_file(seed, index, layout, start, size_class):
    """Everything about file `index` that does not need generating rows."""
    series = LAYOUTS[layout]
    spec = series[index % len(series)]
    k = index // len(series)
    market, period, dtype, symbol, interval = spec
    rng = random.Random("lakesync-fixtures:%d:%d" % (seed, index))
    if period == "daily":
        day = start + dt.timedelta(days=k)
        date_s = day.isoformat()
        period_ms = 86_400_000
        published = day + dt.timedelta(days=1)
    else:
        day = add_months(start, k)
        date_s = day.strftime("%Y-%m")
        period_ms = calendar.monthrange(day.year, day.month)[1] * 86_400_000
        published = add_months(day, 1)
    mtime = dt.datetime(published.year, published.month, published.day) + dt.timedelta(
        seconds=rng.randrange(0, 8 * 3600)
    )
    label = interval if interval else dtype
    base = "%s-%s-%s" % (symbol, label, date_s)
    folder = "data/%s/%s/%s/%s" % (market, period, dtype, symbol) + ("/" + interval if interval else "")
    bounds = SIZE_CLASSES[size_class]
    if bounds is None:
        target = None
        if dtype == "klines":
            natural_rows = period_ms // (INTERVAL_SECONDS[interval] * 1000)
        elif dtype == "fundingRate":
            natural_rows = period_ms // (8 * 3600 * 1000)
        else:
            natural_rows = 2000
    else:
        lo, hi = bounds
        lo, hi = lo * 1.05, hi * 0.95  # keep results inside the class despite rounding
        if size_class == "tiny":
            target = int(lo + rng.random() * (hi - lo))
        else:
            target = int(math.exp(math.log(lo) + rng.random() * (math.log(hi) - math.log(lo))))
        natural_rows = None
    return {
        "index": index, "spec": spec, "day": day, "period_ms": period_ms, "mtime": mtime,
        "key": "%s/%s.zip" % (folder, base), "csv": base + ".csv", "target": target,
        "natural_rows": natural_rows, "rng": rng,
    }


def generate_file(job):
    plan, out_dir, compression, level, checksum_eol = job
    spec, rng, target = plan["spec"], plan["rng"], plan["target"]
    dtype = spec[2]
    bpr_guess = BYTES_PER_ROW_GUESS[dtype] * (2.5 if compression == "stored" else 1.0)
    est_rows = plan["natural_rows"] or max(1, int(target / bpr_guess))
    src = row_source(spec)(rng, spec, plan["day"], plan["period_ms"], est_rows)

    zip_path = os.path.join(out_dir, plan["key"])
    os.makedirs(os.path.dirname(zip_path), exist_ok=True)
    tmp = zip_path + ".tmp%d" % os.getpid()
    zw = ZipWriter(tmp, plan["csv"], 8 if compression == "deflate" else 0, level, plan["mtime"])
    if src.header:
        zw.write(src.header.encode("ascii"))
    rows = 0
    if target is None:
        while rows < plan["natural_rows"]:
            n = min(MAX_CHUNK_ROWS, plan["natural_rows"] - rows)
            zw.write(src.rows(n).encode("ascii"))
            rows += n
    else:
        # Grow toward the target: each step aims at 90% of what is left, so the size
        # approaches from below and ends within about one row of the target.
        # A first small probe measures the real bytes per row.
        size = zw.size_if_closed()
        n = max(1, min(2000, int((target - size) / bpr_guess * 0.5)))
        while True:
            zw.write(src.rows(n).encode("ascii"))
            rows += n
            size = zw.size_if_closed()
            left = target - size
            bpr = max(1.0, (size - zw.overhead()) / rows)
            if left < bpr * 0.5:
                break
            n = max(1, min(MAX_CHUNK_ROWS, int(left / bpr * 0.9)))
    zw.close()
    os.replace(tmp, zip_path)

    h = hashlib.sha256()
    with open(zip_path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    zip_name = os.path.basename(zip_path)
    checksum = ("%s  %s%s" % (h.hexdigest(), zip_name, checksum_eol)).encode("ascii")
    ck_path = zip_path + ".CHECKSUM"
    with open(ck_path + ".tmp", "wb") as f:
        f.write(checksum)
    os.replace(ck_path + ".tmp", ck_path)
    return [(plan["key"], os.path.getsize(zip_path)), (plan["key"] + ".CHECKSUM", len(checksum)), rows]


def copy_real(out_dir, repo_root):
    for rel in REAL_FIXTURES_DIRS:
        src_root = os.path.normpath(os.path.join(repo_root, rel))
        if os.path.isdir(src_root):
            break
    else:
        sys.exit("gen_fixtures.py: --with-real: none of %s exists under %s" % (REAL_FIXTURES_DIRS, repo_root))
    copied = []
    for dirpath, dirnames, filenames in os.walk(src_root):
        dirnames.sort()
        for name in sorted(filenames):
            src = os.path.join(dirpath, name)
            key = "data/" + os.path.relpath(src, src_root).replace(os.sep, "/")
            dst = os.path.join(out_dir, key)
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            shutil.copyfile(src, dst)
            copied.append((key, os.path.getsize(dst)))
    return copied


def parse_args(argv):
    ap = argparse.ArgumentParser(
        description="Generate a deterministic Binance-archive-shaped fixture tree.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split("\n\n", 1)[1],
    )
    ap.add_argument("--out", required=True, help="output directory (keys are written below it)")
    ap.add_argument("--seed", type=int, default=1, help="RNG seed (default 1)")
    ap.add_argument("--files", type=int, default=20, help="number of archive objects (default 20); 2x files")
    ap.add_argument("--size-class", choices=list(SIZE_CLASSES), default="tiny")
    ap.add_argument("--layout", choices=list(LAYOUTS), default="mixed")
    ap.add_argument("--start", default="2024-12-20", help="first date, YYYY-MM-DD (default 2024-12-20)")
    ap.add_argument("--compression", choices=["auto", "deflate", "stored"], default="auto")
    ap.add_argument("--level", type=int, default=None, help="deflate level (default: by size class)")
    ap.add_argument("--checksum-eol", choices=["lf", "none"], default="lf",
                    help="end of the CHECKSUM line: lf like the real files (default) or none")
    ap.add_argument("--with-real", action="store_true",
                    help="also copy the four real archive files (fixtures/real, else ../shared)")
    ap.add_argument("--clean", action="store_true", help="delete OUT/data before generating")
    ap.add_argument("--manifest", action="store_true", help="print 'key<TAB>size' per written file on stdout")
    ap.add_argument("--jobs", type=int, default=0, help="worker processes (default: CPUs, max 4)")
    args = ap.parse_args(argv)
    try:
        args.start = dt.date.fromisoformat(args.start)
    except ValueError:
        ap.error("--start must be YYYY-MM-DD")
    if args.files < 0:
        ap.error("--files must be >= 0")
    if args.level is not None and not 0 <= args.level <= 9:
        ap.error("--level must be 0-9")
    return args


def main(argv=None):
    args = parse_args(argv)
    t0 = time.monotonic()
    out_dir = os.path.abspath(args.out)
    if args.clean:
        shutil.rmtree(os.path.join(out_dir, "data"), ignore_errors=True)
    os.makedirs(out_dir, exist_ok=True)
    compression, level = AUTO_COMPRESSION[args.size_class]
    if args.compression != "auto":
        compression = args.compression
        level = 6 if compression == "deflate" else 0
    if args.level is not None and compression == "deflate":
        level = args.level
    eol = "\n" if args.checksum_eol == "lf" else ""

    jobs = [
        (plan_file(args.seed, i, args.layout, args.start, args.size_class), out_dir, compression, level, eol)
        for i in range(args.files)
    ]
    workers = args.jobs or min(4, os.cpu_count() or 1)
    if args.size_class in ("tiny", "natural") or args.files < 4:
        workers = 1  # not worth the process start-up
    if workers > 1:
        with ProcessPoolExecutor(max_workers=workers) as ex:
            results = list(ex.map(generate_file, jobs, chunksize=1))
    else:
        results = [generate_file(j) for j in jobs]

    written = dict(entry for res in results for entry in res[:2])  # key -> size, in order
    real_note = ""
    if args.with_real:
        repo_root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        real = copy_real(out_dir, repo_root)
        replaced = sum(1 for key, _ in real if key in written)
        written.update(real)  # a real file replaces a generated one with the same key
        real_note = " + %d real" % len(real) + (" (replacing %d generated)" % replaced if replaced else "")
    if args.manifest:
        sys.stdout.write("".join("%s\t%d\n" % kv for kv in written.items()))
    total = sum(written.values())
    print(
        "gen_fixtures: %d archives (%d files%s), %d files in all, %d bytes, %d rows, class %s, layout %s, seed %d -> %s in %.1fs"
        % (args.files, 2 * args.files, real_note, len(written), total,
           sum(res[2] for res in results), args.size_class, args.layout, args.seed, out_dir,
           time.monotonic() - t0),
        file=sys.stderr,
    )


if __name__ == "__main__":
    main()
