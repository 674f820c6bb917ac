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

DUCKDB_PIN="duckdb==2.0.1"
POLARS_PIN="polars==2.1.0"

VENV="${LAKESYNC_TABLES_VENV:-$ROOT/.tools-tables/venv}"
PINS=("$DUCKDB_PIN")
if [[ "${1:-}" == "--bench" ]]; then
    PINS+=("$POLARS_PIN")
fi

mkdir -p "$(dirname "$VENV")" || die "cannot create $(dirname "$VENV")"
lock_file "$(dirname "$VENV")/.install.lock"
ensure_venv "$VENV"
STAMP="$VENV/.lakesync-tables-pins"
touch "$STAMP"
missing=()
for pin in "${PINS[@]}"; do
    grep -qxF "$pin" "$STAMP" || missing+=("$pin")
done
if ((${#missing[@]})); then
    log "pip installing ${missing[*]} into $VENV ..."
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "${missing[@]}" \
        || die "pip install of ${missing[*]} failed"
    printf '%s\n' "${missing[@]}" >>"$STAMP"
else
    log "already installed: ${PINS[*]}"
fi
"$VENV/bin/python" -c 'import duckdb; print("duckdb", duckdb.__version__)' >&2 \
    || die "duckdb does not import from $VENV"
echo "$VENV/bin/python"
