#!/usr/bin/env python3
"""Split the rows of the `duplicates` tool (the workplace's duplicate-code finder) into pairs whose
two sides are both mostly struct field declarations (`pub name: Type,`: alike only in the
pattern of plain and generic types) and the rest.

Usage: duplicates --most 200 | scripts/dev/duplicate_classes.py . [-v]
(-v lists the rows that are not field lists)."""
import re, sys, os
repo = sys.argv[1]
field = re.compile(r"^\s*(pub(\([a-z]+\))? )?[a-z_][a-z0-9_]*: [^=]+,\s*$")
skip = re.compile(r"^\s*(//.*|#\[.*\]|[{}()\[\];,]*)\s*$")
def side(spec):
    path, rng = spec.rsplit(":", 1)
    a, b = map(int, rng.split("-"))
    with open(os.path.join(repo, path), errors="replace") as f:
        lines = f.read().split("\n")[a-1:b]
    code = [l for l in lines if l.strip() and not skip.match(l)]
    n = sum(1 for l in code if field.match(l))
    return n / max(1, len(code))
rows = [l for l in sys.stdin if re.match(r"^D\d+ ", l)]
fl, other = [], []
for r in rows:
    parts = r.split()
    l, rr = parts[1], parts[3]
    (fl if side(l) >= 0.6 and side(rr) >= 0.6 else other).append(r.rstrip())
print(f"rows {len(rows)}: field-list pairs {len(fl)}, other {len(other)} "
      f"(other boilerplate {sum('boilerplate' in r for r in other)})")
if "-v" in sys.argv:
    print("\n".join(other))
