#!/usr/bin/env python3
"""Check lakesync's Parquet tables with DuckDB against values computed from the CSVs.

usage: check_tables.py --zips DIR --tables DIR [--prune TABLE SYMBOL DATE]

DIR (--zips) holds archive zips under data/...; DIR (--tables) holds a download of the
tables (the --dest of `lakesync tables`). For every zip of a converted data type the
Parquet file must exist at {market}/{period}/{type}/[{interval}/]symbol=S/date=D/, and,
per table, DuckDB's row count, sums of every numeric column, count of true per boolean
column and min/max of every time column must equal the values computed here from the
CSVs with Python's csv module. The time unit is taken independently of lakesync: by the
archive's documented rule (spot files from 2025-01-01 in microseconds, everything else in
milliseconds), where lakesync decides from the values' magnitude. Column types are
checked too (timestamps with time zone, booleans, doubles, bigints; no `ignore`).

--prune TABLE SYMBOL DATE: EXPLAIN ANALYZE of a query on one symbol and one date of
TABLE must read exactly one file (Hive partition pruning).

Prints a JSON summary; exits 1 listing the problems if any.
"""

import argparse
import calendar
import csv
import datetime as dt
import io
import json
import math
import os
import re
import sys
import zipfile

import duckdb

KLINES = [("open_time", "time"), ("open", "float"), ("high", "float"), ("low", "float"),
          ("close", "float"), ("volume", "float"), ("close_time", "time"),
          ("quote_volume", "float"), ("count", "int"), ("taker_buy_volume", "float"),
          ("taker_buy_quote_volume", "float"), ("ignore", "drop")]
FUT_TRADES = [("id", "int"), ("price", "float"), ("qty", "float"), ("quote_qty", "float"),
              ("time", "time"), ("is_buyer_maker", "bool")]
FUT_AGG = [("agg_trade_id", "int"), ("price", "float"), ("quantity", "float"),
           ("first_trade_id", "int"), ("last_trade_id", "int"), ("transact_time", "time"),
           ("is_buyer_maker", "bool")]
SCHEMAS = {
    "klines": KLINES, "markPriceKlines": KLINES, "indexPriceKlines": KLINES,
    "premiumIndexKlines": KLINES,
    "trades": FUT_TRADES,
    "spot:trades": FUT_TRADES + [("is_best_match", "bool")],
    "aggTrades": FUT_AGG,
    "spot:aggTrades": FUT_AGG + [("is_best_match", "bool")],
    "fundingRate": [("calc_time", "time"), ("funding_interval_hours", "int"),
                    ("last_funding_rate", "float")],
    "bookTicker": [("update_id", "int"), ("best_bid_price", "float"), ("best_bid_qty", "float"),
                   ("best_ask_price", "float"), ("best_ask_qty", "float"),
                   ("transaction_time", "time"), ("event_time", "time")],
    "bookDepth": [("timestamp", "text_time"), ("percentage", "float"), ("depth", "float"),
                  ("notional", "float")],
    "metrics": [("create_time", "text_time"), ("symbol", "drop"), ("sum_open_interest", "float"),
                ("sum_open_interest_value", "float"),
                ("count_toptrader_long_short_ratio", "float"),
                ("sum_toptrader_long_short_ratio", "float"), ("count_long_short_ratio", "float"),
                ("sum_taker_long_short_vol_ratio", "float")],
    "liquidationSnapshot": [("time", "time"), ("side", "text"), ("order_type", "text"),
                            ("time_in_force", "text"), ("original_quantity", "float"),
                            ("price", "float"), ("average_price", "float"),
                            ("order_status", "text"), ("last_fill_quantity", "float"),
                            ("accumulated_fill_quantity", "float")],
    "BVOLIndex": [("calc_time", "time"), ("symbol", "drop"), ("base_asset", "text"),
                  ("quote_asset", "text"), ("index_value", "float")],
}
DUCK_TYPES = {"time": "TIMESTAMP WITH TIME ZONE", "text_time": "TIMESTAMP WITH TIME ZONE",
              "float": "DOUBLE", "int": "BIGINT", "bool": "BOOLEAN", "text": "VARCHAR"}
KEY_RE = re.compile(
    r"^data/(spot|futures/um|futures/cm|option)/(daily|monthly)/([A-Za-z]+)/([A-Za-z0-9_]+)"
    r"(?:/([0-9]+[smhdw]|1mo))?/\4-([A-Za-z0-9]+)-(\d{4}-\d{2}(?:-\d{2})?)\.zip$")
MICROS_FROM = "2025-01-01"


def schema_of(market, dtype):
    return SCHEMAS.get("%s:%s" % (market, dtype)) or SCHEMAS.get(dtype)


def text_us(s):
    d = dt.datetime.strptime(s, "%Y-%m-%d %H:%M:%S").replace(tzinfo=dt.timezone.utc)
    return calendar.timegm(d.timetuple()) * 1_000_000


class Agg:
    def __init__(self, cols):
        self.cols = cols
        self.rows = 0
        self.sums = {n: [] for n, k in cols if k in ("float", "int")}
        self.trues = {n: 0 for n, k in cols if k == "bool"}
        self.tmin = {n: None for n, k in cols if k in ("time", "text_time")}
        self.tmax = dict(self.tmin)

    def add(self, rec, unit):
        self.rows += 1
        for (name, kind), v in zip(self.cols, rec):
            if v == "" or kind in ("drop", "text"):
                continue
            if kind == "float":
                self.sums[name].append(float(v))
            elif kind == "int":
                self.sums[name].append(int(v))
            elif kind == "bool":
                self.trues[name] += v.lower() == "true"
            else:
                us = int(v) * unit if kind == "time" else text_us(v)
                self.tmin[name] = us if self.tmin[name] is None else min(self.tmin[name], us)
                self.tmax[name] = us if self.tmax[name] is None else max(self.tmax[name], us)


def expected(zips_root):
    tables = {}
    files = {}
    for dirpath, _, names in os.walk(os.path.join(zips_root, "data")):
        for name in sorted(names):
            if not name.endswith(".zip"):
                continue
            key = os.path.relpath(os.path.join(dirpath, name), zips_root).replace(os.sep, "/")
            m = KEY_RE.match(key)
            if not m:
                continue
            market, period, dtype, symbol, interval, _, date_s = m.groups()
            cols = schema_of(market, dtype)
            if cols is None:
                continue
            table = "%s/%s/%s/%s" % (market, period, dtype, interval + "/" if interval else "")
            first_day = date_s if len(date_s) == 10 else date_s + "-01"
            unit = 1 if (market == "spot" and first_day >= MICROS_FROM) else 1000
            with zipfile.ZipFile(os.path.join(dirpath, name)) as z:
                text = z.read(z.namelist()[0]).decode()
            recs = list(csv.reader(io.StringIO(text)))
            if recs and recs[0] and recs[0][0][:1].isalpha():
                recs = recs[1:]
            agg = tables.setdefault(table, Agg(cols))
            for rec in recs:
                agg.add(rec, unit)
            files[(table, symbol, date_s)] = (len(recs), "%ssymbol=%s/date=%s/%s.parquet" % (
                table, symbol, date_s, name[:-4]))
    return tables, files


def close(a, b):
    if isinstance(a, int) and isinstance(b, int):
        return a == b
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--zips", required=True)
    ap.add_argument("--tables", required=True)
    ap.add_argument("--prune", nargs=3, metavar=("TABLE", "SYMBOL", "DATE"))
    args = ap.parse_args(argv)
    problems = []
    tables, files = expected(args.zips)
    con = duckdb.connect()
    for (table, symbol, date_s), (rows, rel) in sorted(files.items()):
        if not os.path.exists(os.path.join(args.tables, rel)):
            problems.append("missing table file %s" % rel)
    summary = {"tables": {}, "files": len(files)}
    for table, agg in sorted(tables.items()):
        glob = os.path.join(args.tables, table, "**", "*.parquet")
        src = "read_parquet('%s', hive_partitioning = true)" % glob
        described = {r[0]: r[1] for r in con.execute("DESCRIBE SELECT * FROM %s" % src).fetchall()}
        for name, kind in agg.cols:
            if kind == "drop":
                if name in described and name != "symbol":
                    problems.append("%s: column %s should be dropped" % (table, name))
                continue
            want = DUCK_TYPES[kind]
            if described.get(name) != want:
                problems.append("%s: column %s is %s, expected %s" % (table, name, described.get(name), want))
        exprs = ["count(*)"]
        checks = [("rows", agg.rows)]
        for name, vals in agg.sums.items():
            exprs.append("sum(%s)" % name)
            kinds = dict(agg.cols)
            checks.append(("sum(%s)" % name, math.fsum(vals) if kinds[name] == "float" else sum(vals)))
        for name, n in agg.trues.items():
            exprs.append("count_if(%s)" % name)
            checks.append(("count_if(%s)" % name, n))
        for name in agg.tmin:
            exprs += ["epoch_us(min(%s))" % name, "epoch_us(max(%s))" % name]
            checks += [("min(%s)" % name, agg.tmin[name]), ("max(%s)" % name, agg.tmax[name])]
        got = con.execute("SELECT %s FROM %s" % (", ".join(exprs), src)).fetchone()
        for (label, want), have in zip(checks, got):
            if isinstance(want, float) or isinstance(have, float):
                have = float(have) if have is not None else None
            if have is None or want is None:
                ok = have == want
            else:
                ok = close(want, have)
            if not ok:
                problems.append("%s: %s is %r in DuckDB, %r from the CSVs" % (table, label, have, want))
        per_part = {(s, str(d)): n for s, d, n in con.execute(
            "SELECT symbol, date::VARCHAR, count(*) FROM %s GROUP BY ALL" % src).fetchall()}
        for (t, symbol, date_s), (rows, _) in files.items():
            if t == table and per_part.get((symbol, date_s)) != rows:
                problems.append("%s symbol=%s date=%s: %r rows in DuckDB, %d in the CSV" % (
                    table, symbol, date_s, per_part.get((symbol, date_s)), rows))
        summary["tables"][table] = {"rows": agg.rows, "checks": len(checks)}
    if args.prune:
        table, symbol, date_s = args.prune
        table = table.rstrip("/") + "/"
        glob = os.path.join(args.tables, table, "**", "*.parquet")
        # A query that reads data (count(*) alone is answered from metadata).
        first = next(n for n, k in tables[table].cols if k != "drop")
        plan = con.execute(
            "EXPLAIN ANALYZE SELECT max(%s) FROM read_parquet('%s', hive_partitioning = true) "
            "WHERE symbol = '%s' AND date = '%s'" % (first, glob, symbol, date_s)).fetchall()
        text = "\n".join(str(c) for row in plan for c in row)
        m = re.search(r"Total Files Read:\s*(\d+)", text)
        all_files = sum(1 for (t, _, _) in files if t == table)
        summary["prune"] = {"table": table, "files_in_table": all_files,
                            "files_read": int(m.group(1)) if m else None}
        if not m or int(m.group(1)) != 1:
            problems.append("pruning: the query on %s %s read %s files of %d:\n%s" % (
                symbol, date_s, m.group(1) if m else "?", all_files, text))
        if all_files < 2:
            problems.append("pruning: table %s has %d files; the check needs at least 2" % (table, all_files))
    summary["problems"] = problems
    json.dump(summary, sys.stdout, indent=1, sort_keys=True)
    sys.stdout.write("\n")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
