#!/usr/bin/env python3
"""Check a Binance-archive-shaped tree (generated or real) against the archive's rules.

usage: scripts/check_fixtures.py DIR [DIR...]

For every data/**.zip under DIR: the key matches the archive scheme, a .zip.CHECKSUM
sibling exists and holds `<sha256>  <zip name>` (optionally one trailing newline) that
matches the zip, the zip holds exactly one CSV with the same base name that passes its
CRC, and the CSV rows have the format of their market/type (header or not, column count,
timestamp unit: spot microseconds from 2025-01-01, milliseconds before and for futures).
Exits 1 and lists the problems if any. Python 3 standard library only.
"""

import datetime as dt
import hashlib
import os
import re
import sys
import zipfile
import zlib

KEY_RE = re.compile(
    r"^data/(spot|futures/um|futures/cm|option)/(daily|monthly)/([A-Za-z]+)/([A-Z0-9_]+)"
    r"(?:/([0-9]+[smhdw]|1mo))?/\4-([A-Za-z0-9]+)-(\d{4}-\d{2}(?:-\d{2})?)\.zip$"
)
CHECKSUM_RE = re.compile(r"^([0-9a-f]{64})  (\S+)\n?$")
HEADERS = {
    ("futures", "klines"): "open_time,open,high,low,close,volume,close_time,quote_volume,count,"
    "taker_buy_volume,taker_buy_quote_volume,ignore",
    ("futures", "aggTrades"): "agg_trade_id,price,quantity,first_trade_id,last_trade_id,"
    "transact_time,is_buyer_maker",
    ("futures", "fundingRate"): "calc_time,funding_interval_hours,last_funding_rate",
}
COLUMNS = {"klines": 12, "aggTrades": 8, "trades": 7, "fundingRate": 3}
TIME_COLUMN = {"klines": 0, "aggTrades": 5, "trades": 4, "fundingRate": 0}


def check_zip(root, path, problems):
    key = os.path.relpath(path, root).replace(os.sep, "/")
    m = KEY_RE.match(key)
    if not m:
        problems.append("%s: key does not follow the archive scheme" % key)
        return
    market, period, dtype, symbol, interval, label, date_s = m.groups()
    if label != (interval or dtype):
        problems.append("%s: file name label %s != %s" % (key, label, interval or dtype))
    if (period == "daily") != (len(date_s) == 10):
        problems.append("%s: date %s does not fit period %s" % (key, date_s, period))
    zip_name = os.path.basename(path)
    try:
        with open(path + ".CHECKSUM", "rb") as f:
            ck = f.read().decode("ascii")
    except OSError:
        problems.append("%s: missing .CHECKSUM" % key)
        ck = None
    if ck is not None:
        cm = CHECKSUM_RE.match(ck)
        if not cm:
            problems.append("%s.CHECKSUM: not '<sha256>  <name>': %r" % (key, ck))
        else:
            with open(path, "rb") as f:
                digest = hashlib.sha256(f.read()).hexdigest()
            if cm.group(1) != digest:
                problems.append("%s: sha256 %s != CHECKSUM %s" % (key, digest, cm.group(1)))
            if cm.group(2) != zip_name:
                problems.append("%s.CHECKSUM names %s" % (key, cm.group(2)))
    try:
        with zipfile.ZipFile(path) as z:
            names = z.namelist()
            if names != [zip_name[:-4] + ".csv"]:
                problems.append("%s: members %s" % (key, names))
                return
            data = z.read(names[0])  # checks the CRC
    except (zipfile.BadZipFile, OSError, zlib.error) as e:
        problems.append("%s: bad zip: %s" % (key, e))
        return
    check_csv(key, market, dtype, date_s, data.decode("ascii"), problems)


def check_csv(key, market, dtype, date_s, text, problems):
    if not text.endswith("\n"):
        problems.append("%s: CSV does not end with a newline" % key)
    lines = text.splitlines()
    family = "spot" if market == "spot" else "futures"
    header = HEADERS.get((family, dtype))
    if header is not None:
        if not lines or lines[0] != header:
            problems.append("%s: expected header %r, got %r" % (key, header, lines[:1]))
            return
        lines = lines[1:]
    if not lines:
        problems.append("%s: no rows" % key)
        return
    ncol = COLUMNS.get(dtype)
    if family == "futures" and dtype == "aggTrades":
        ncol = 7
    if ncol is None:
        return
    day = dt.date.fromisoformat(date_s if len(date_s) == 10 else date_s + "-01")
    micros = market == "spot" and day >= dt.date(2025, 1, 1)
    digits = 16 if micros else 13
    bools = ("True", "False") if family == "spot" else ("true", "false")
    for i, line in enumerate(lines):
        cols = line.split(",")
        if len(cols) != ncol:
            problems.append("%s row %d: %d columns, expected %d" % (key, i + 1, len(cols), ncol))
            return
        ts = cols[TIME_COLUMN[dtype]]
        if not (ts.isdigit() and len(ts) == digits):
            problems.append("%s row %d: timestamp %s is not %d digits" % (key, i + 1, ts, digits))
            return
        if dtype in ("trades", "aggTrades") and cols[-1 if family == "futures" else -2] not in bools:
            problems.append("%s row %d: bad boolean in %r" % (key, i + 1, line))
            return
        if dtype == "klines" and cols[11] != "0":
            problems.append("%s row %d: ignore column %r" % (key, i + 1, cols[11]))
            return


def main(argv):
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__.strip())
        return 2
    problems, count = [], 0
    for root in argv:
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames.sort()
            for name in sorted(filenames):
                path = os.path.join(dirpath, name)
                if name.endswith(".zip"):
                    count += 1
                    check_zip(root, path, problems)
                elif name.endswith(".zip.CHECKSUM"):
                    if not os.path.exists(path[: -len(".CHECKSUM")]):
                        problems.append("%s: CHECKSUM without its zip" % path)
    for p in problems:
        print("check_fixtures: " + p, file=sys.stderr)
    print("check_fixtures: %d archives checked, %d problems" % (count, len(problems)), file=sys.stderr)
    return 1 if problems or count == 0 else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
