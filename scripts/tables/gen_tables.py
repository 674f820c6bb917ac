#!/usr/bin/env python3
"""Generate archive zips of every data type `lakesync tables` converts, before and after
2025-01-01 (spot epoch times switch from milliseconds to microseconds that day), plus
optional bad inputs. Python 3 standard library only; deterministic for a given --seed.

usage: gen_tables.py --out DIR [--seed N] [--bad] [--only-bad]

Writes DIR/data/{market}/{period}/{type}/{SYMBOL}[/{interval}]/{SYMBOL}-{label}-{date}.zip
with its .zip.CHECKSUM, in the archive's CSV formats (see shared/notes/binance-archive.md):
spot files have no header, futures files have one (except the old 2021 klines file, as
the archive's files before ~2022-05), spot booleans are True/False, futures true/false.
bookDepth and metrics write their times as `YYYY-MM-DD HH:MM:SS`.

--bad adds files that must fail, one problem each (symbol names say which):
  BADNOCSV   a zip with no .csv inside
  BADCOLS    line 5 has 11 columns instead of 12
  BADZIP     damaged deflate data (its CHECKSUM matches the damaged bytes)
  BADVALUE   line 7 has the price `4x2.5`
  BADSUM     the CHECKSUM names another digest
  NOSUM      no CHECKSUM at all
Prints a JSON summary (files written, rows per zip key) on stdout.
"""

import argparse
import calendar
import datetime as dt
import hashlib
import io
import json
import os
import random
import sys
import zipfile

MICROS_FROM = dt.date(2025, 1, 1)
KLINES_HEADER = ("open_time,open,high,low,close,volume,close_time,quote_volume,count,"
                 "taker_buy_volume,taker_buy_quote_volume,ignore")
HEADERS = {
    "klines": KLINES_HEADER,
    "markPriceKlines": KLINES_HEADER,
    "indexPriceKlines": KLINES_HEADER,
    "premiumIndexKlines": KLINES_HEADER,
    "trades": "id,price,qty,quote_qty,time,is_buyer_maker",
    "aggTrades": "agg_trade_id,price,quantity,first_trade_id,last_trade_id,transact_time,is_buyer_maker",
    "fundingRate": "calc_time,funding_interval_hours,last_funding_rate",
    "bookTicker": "update_id,best_bid_price,best_bid_qty,best_ask_price,best_ask_qty,transaction_time,event_time",
    "bookDepth": "timestamp,percentage,depth,notional",
    "metrics": ("create_time,symbol,sum_open_interest,sum_open_interest_value,"
                "count_toptrader_long_short_ratio,sum_toptrader_long_short_ratio,"
                "count_long_short_ratio,sum_taker_long_short_vol_ratio"),
    "liquidationSnapshot": ("time,side,order_type,time_in_force,original_quantity,price,"
                            "average_price,order_status,last_fill_quantity,accumulated_fill_quantity"),
    "BVOLIndex": "calc_time,symbol,base_asset,quote_asset,index_value",
    "EOHSummary": ("date,hour,symbol,underlying,type,strike,open,high,low,close,volume_contracts,"
                   "volume_usdt,best_bid_price,best_ask_price,best_bid_qty,best_ask_qty,best_buy_iv,"
                   "best_sell_iv,mark_price,mark_iv,delta,gamma,vega,theta,openinterest_contracts,"
                   "openinterest_usdt"),
}
INTERVAL_MS = {"1m": 60_000, "1h": 3_600_000, "1d": 86_400_000}
KLINE_FAMILY = ("klines", "markPriceKlines", "indexPriceKlines", "premiumIndexKlines")

# (market, period, data type, symbol, interval, date)
SPECS = []
for _d in ("2024-12-31", "2025-01-01"):
    SPECS += [
        ("spot", "daily", "klines", "BTCUSDT", "1m", _d),
        ("spot", "daily", "trades", "ETHUSDT", None, _d),
        ("spot", "daily", "aggTrades", "BTCUSDT", None, _d),
        ("futures/um", "daily", "klines", "BTCUSDT", "1h", _d),
        ("futures/um", "daily", "markPriceKlines", "BTCUSDT", "1h", _d),
        ("futures/um", "daily", "indexPriceKlines", "BTCUSDT", "1h", _d),
        ("futures/um", "daily", "premiumIndexKlines", "BTCUSDT", "1h", _d),
        ("futures/um", "daily", "trades", "BTCUSDT", None, _d),
        ("futures/um", "daily", "aggTrades", "ETHUSDT", None, _d),
        ("futures/um", "daily", "bookTicker", "BTCUSDT", None, _d),
        ("futures/um", "daily", "bookDepth", "BTCUSDT", None, _d),
        ("futures/um", "daily", "metrics", "BTCUSDT", None, _d),
        ("futures/cm", "daily", "aggTrades", "ETHUSD_PERP", None, _d),
        ("futures/cm", "daily", "liquidationSnapshot", "BTCUSD_PERP", None, _d),
        ("option", "daily", "BVOLIndex", "BTCBVOLUSDT", None, _d),
    ]
SPECS += [
    ("spot", "monthly", "klines", "BTCUSDT", "1d", "2024-12"),
    ("spot", "monthly", "klines", "BTCUSDT", "1d", "2025-01"),
    ("futures/um", "monthly", "fundingRate", "ETHUSDT", None, "2024-12"),
    ("futures/um", "monthly", "fundingRate", "ETHUSDT", None, "2025-01"),
    # An old futures file: no header row.
    ("futures/um", "daily", "klines", "BTCUSDT", "1h", "2021-01-01"),
    # Not converted (yet): counted as unsupported.
    ("option", "daily", "EOHSummary", "BTCUSDT", None, "2025-01-01"),
]


def period_of(date_s):
    if len(date_s) == 10:
        d = dt.date.fromisoformat(date_s)
        return d, 86_400_000
    y, m = map(int, date_s.split("-"))
    return dt.date(y, m, 1), calendar.monthrange(y, m)[1] * 86_400_000


def epoch_ms(d):
    return calendar.timegm(d.timetuple()) * 1000


def text_time(ms):
    return dt.datetime.fromtimestamp(ms / 1000, dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def price(r, base, dec=2):
    return "%.*f" % (dec, base * (1 + r.uniform(-0.01, 0.01)))


def rows_for(spec, r):
    market, period, dtype, symbol, interval, date_s = spec
    day, span = period_of(date_s)
    start = epoch_ms(day)
    spot = market == "spot"
    unit = 1000 if spot and day >= MICROS_FROM else 1
    t_bool = ("True", "False") if spot else ("true", "false")
    out = []
    if dtype in KLINE_FAMILY:
        step = INTERVAL_MS[interval]
        n = span // step
        for i in range(n):
            o = start + i * step
            p = [float(price(r, 42000.0)) for _ in range(4)]
            vol = 0.0 if dtype != "klines" else r.uniform(1, 100)
            out.append("%d,%.2f,%.2f,%.2f,%.2f,%.5f,%d,%.5f,%d,%.5f,%.5f,0" % (
                o * unit, p[0], max(p), min(p), p[3], vol, (o + step) * unit - 1,
                vol * p[3], r.randint(0, 5000) if dtype == "klines" else 0, vol / 2, vol * p[3] / 2))
    elif dtype == "trades":
        n = 300
        for i in range(n):
            t = start + int(i * span / n) + r.randint(0, 50)
            q = r.randint(1, 100000) / 100000
            p = float(price(r, 3400.0))
            if spot:
                out.append("%d,%.8f,%.8f,%.8f,%d,%s,True" % (
                    100000 + i, p, q, p * q, t * unit, t_bool[r.randint(0, 1)]))
            else:
                out.append("%d,%.2f,%.3f,%.5f,%d,%s" % (100000 + i, p, q, p * q, t, t_bool[r.randint(0, 1)]))
    elif dtype == "aggTrades":
        n = 300
        first = 5000
        for i in range(n):
            t = start + int(i * span / n) + r.randint(0, 50)
            k = r.randint(0, 3)
            q = r.randint(1, 100000) / 1000
            maker = t_bool[r.randint(0, 1)]
            line = "%d,%s,%.3f,%d,%d,%d,%s" % (900 + i, price(r, 2500.0), q, first, first + k, t * unit, maker)
            out.append(line + (",True" if spot else ""))
            first += k + 1
    elif dtype == "fundingRate":
        t = start
        while t < start + span:
            out.append("%d,8,%.8f" % (t + r.randint(0, 9), r.uniform(-0.0005, 0.0005)))
            t += 8 * 3_600_000
    elif dtype == "bookTicker":
        n = 400
        for i in range(n):
            t = start + int(i * span / n)
            b = float(price(r, 42000.0, 1))
            out.append("%d,%.1f,%.3f,%.1f,%.3f,%d,%d" % (
                7_000_000_000 + i, b, r.uniform(0, 5), b + 0.1, r.uniform(0, 5), t, t + r.randint(1, 9)))
    elif dtype == "bookDepth":
        for k in range(48):
            t = start + k * 1_800_000 + r.randint(0, 20_000)
            for pct in (-5, -4, -3, -2, -1, 1, 2, 3, 4, 5):
                d = r.uniform(100, 10000) * abs(pct)
                out.append("%s,%d,%.8f,%.8f" % (text_time(t), pct, d, d * 42000))
    elif dtype == "metrics":
        for k in range(288):
            t = start + k * 300_000
            blank = k % 50 == 7  # the archive leaves ratios empty at times
            ratios = ",," if blank else "%.8f,%.8f,%.8f" % (r.uniform(0.5, 3), r.uniform(0.5, 3), r.uniform(0.5, 3))
            out.append("%s,%s,%.8f,%.8f,%s,%.8f" % (
                text_time(t), symbol, r.uniform(7e4, 8e4), r.uniform(3e9, 4e9), ratios, r.uniform(0.5, 2)))
    elif dtype == "liquidationSnapshot":
        for i in range(60):
            t = start + int(i * span / 60) + r.randint(0, 999)
            q = r.randint(1, 500)
            p = price(r, 42000.0, 1)
            out.append("%d,%s,LIMIT,IOC,%d,%s,%s,FILLED,%d,%d" % (
                t, ("BUY", "SELL")[r.randint(0, 1)], q, p, p, q, q))
    elif dtype == "BVOLIndex":
        for i in range(1440):
            out.append("%d,%s,BTC,USDT,%.2f" % (start + i * 60_000 + r.randint(0, 999), symbol, r.uniform(40, 70)))
    elif dtype == "EOHSummary":
        for h in range(24):
            out.append("%s,%d,BTC-250103-100000-C,BTCUSDT,C,250103-100000,%s" % (
                date_s, h, ",".join("%.4f" % r.uniform(0, 10) for _ in range(20))))
    else:
        raise ValueError(dtype)
    header = None
    if not spot and not (dtype == "klines" and date_s < "2022"):
        header = HEADERS[dtype]
    return header, out


def key_of(spec):
    market, period, dtype, symbol, interval, date_s = spec
    label = interval or dtype
    folder = "data/%s/%s/%s/%s%s" % (market, period, dtype, symbol, "/" + interval if interval else "")
    return "%s/%s-%s-%s.zip" % (folder, symbol, label, date_s)


def zip_bytes(name, body):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        info = zipfile.ZipInfo(name, date_time=(2025, 1, 2, 0, 0, 0))
        info.compress_type = zipfile.ZIP_DEFLATED
        info.external_attr = 0o100644 << 16
        z.writestr(info, body)
    return buf.getvalue()


def write(out, key, data, checksum="auto"):
    path = os.path.join(out, key)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)
    if checksum is None:
        return
    digest = hashlib.sha256(data).hexdigest() if checksum == "auto" else checksum
    with open(path + ".CHECKSUM", "w") as f:
        f.write("%s  %s\n" % (digest, os.path.basename(key)))


def csv_text(header, rows):
    return ((header + "\n") if header else "") + "".join(r + "\n" for r in rows)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--bad", action="store_true", help="also write the bad inputs")
    ap.add_argument("--only-bad", action="store_true", help="write only the bad inputs")
    args = ap.parse_args(argv)
    summary = {"files": 0, "rows": {}}
    specs = [] if args.only_bad else SPECS
    for i, spec in enumerate(specs):
        r = random.Random("tables:%d:%d" % (args.seed, i))
        header, rows = rows_for(spec, r)
        key = key_of(spec)
        name = os.path.basename(key)[:-4] + ".csv"
        write(args.out, key, zip_bytes(name, csv_text(header, rows).encode()))
        summary["files"] += 1
        summary["rows"][key] = len(rows)
    if args.bad or args.only_bad:
        r = random.Random("tables-bad:%d" % args.seed)
        day = ("futures/um", "daily", "klines", "X", "1h", "2025-01-02")

        def kl(symbol):
            spec = day[:3] + (symbol,) + day[4:]
            header, rows = rows_for(spec, r)
            return key_of(spec), header, rows

        key, header, rows = kl("BADNOCSV")
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as z:
            z.writestr("readme.txt", "no csv here\n")
        write(args.out, key, buf.getvalue())
        key, header, rows = kl("BADCOLS")
        rows[3] = rows[3].rsplit(",", 1)[0]  # line 5: header + 4th row
        write(args.out, key, zip_bytes(os.path.basename(key)[:-4] + ".csv", csv_text(header, rows).encode()))
        key, header, rows = kl("BADVALUE")
        f = rows[5].split(",")
        f[1] = "4x2.5"  # line 7
        rows[5] = ",".join(f)
        write(args.out, key, zip_bytes(os.path.basename(key)[:-4] + ".csv", csv_text(header, rows).encode()))
        key, header, rows = kl("BADZIP")
        data = bytearray(zip_bytes(os.path.basename(key)[:-4] + ".csv", csv_text(header, rows).encode()))
        for j in range(len(data) // 2, len(data) // 2 + 24):
            data[j] ^= 0x5A
        write(args.out, key, bytes(data))
        key, header, rows = kl("BADSUM")
        write(args.out, key, zip_bytes(os.path.basename(key)[:-4] + ".csv", csv_text(header, rows).encode()),
              checksum="0" * 64)
        key, header, rows = kl("NOSUM")
        write(args.out, key, zip_bytes(os.path.basename(key)[:-4] + ".csv", csv_text(header, rows).encode()),
              checksum=None)
        summary["files"] += 6
    json.dump(summary, sys.stdout, indent=1, sort_keys=True)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
