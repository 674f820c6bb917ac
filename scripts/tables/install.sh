#!/usr/bin/env bash
# Install what the tables tests and benchmark need into <repo>/.tools-tables/venv
# (idempotent; its own venv, so that it cannot move the packages of .tools/venv):
#
#   duckdb   reads the tables in tests/tables.rs (scripts/tables/check_tables.py)
#   polars   only with --bench: the benchmark's second peer (scripts/bench/tables.py)
#
# Needs python3 with the venv module and access to PyPI. Re-running is fast: pip is
# skipped while the stamp file matches the pinned set.
set -euo pipefail
PROG=tables/install.sh
# shellcheck source=../lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"

VENV="${LAKESYNC_TABLES_VENV:-$ROOT/.tools-tables/venv}"
PINS=("$DUCKDB_PIN")
if [[ "${1:-}" == "--bench" ]]; then
    PINS+=("$POLARS_PIN")
fi

mkdir -p "$(dirname "$VENV")" || die "cannot create $(dirname "$VENV")"
lock_file "$(dirname "$VENV")/.install.lock"
pip_pinned "$VENV" python "${PINS[@]}"
"$VENV/bin/python" -c 'import duckdb; print("duckdb", duckdb.__version__)' >&2 \
    || die "duckdb does not import from $VENV"
echo "$VENV/bin/python"
