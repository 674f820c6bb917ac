#!/usr/bin/env bash
# Generate Binance-shaped fixtures and upload them to a bucket of a local S3 server.
#
# usage: scripts/seed.sh --endpoint-url URL --bucket NAME [--prefix P] [--no-cache]
#                        [gen_fixtures.py args...]
#
#   Creates the bucket if missing, generates the tree with scripts/gen_fixtures.py (the
#   remaining args, e.g. --files 200 --size-class tiny --with-real; not --out), caches it
#   under .tools/fixtures-cache/<hash of args and generator> (skip with --no-cache), and
#   uploads it with `.tools/bin/s5cmd --endpoint-url URL cp 'DIR/*' s3://NAME/P/`.
#   Keys are P + data/... . Prints the number of uploaded objects on stdout, a summary
#   on stderr. Credentials: AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, else test/test;
#   AWS_REGION/AWS_DEFAULT_REGION are unset for s5cmd.
#
# example: scripts/seed.sh --endpoint-url "$(scripts/s3-server.sh url)" --bucket src \
#              --files 200 --with-real
set -euo pipefail
# shellcheck source=lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

GEN="$ROOT/scripts/gen_fixtures.py"
CACHE_ROOT="$TOOLS/fixtures-cache"

usage() { usage_from_header; }

ENDPOINT=""
BUCKET=""
PREFIX=""
USE_CACHE=1
GEN_ARGS=()
while [[ $# -gt 0 ]]; do
    TAKEN=1
    case "$1" in
        --endpoint-url | --endpoint-url=*) option_value ENDPOINT "$@" ;;
        --bucket | --bucket=*) option_value BUCKET "$@" ;;
        --prefix | --prefix=*) option_value PREFIX "$@" ;;
        --no-cache) USE_CACHE=0 ;;
        --out | --out=* | --manifest) die "$1 is chosen by seed.sh; do not pass it" ;;
        -h | --help) usage ;;
        *) GEN_ARGS+=("$1") ;;
    esac
    shift "$TAKEN"
done
[[ -n "$ENDPOINT" ]] || die "--endpoint-url is required"
[[ -n "$BUCKET" ]] || die "--bucket is required"
[[ -x "$S5CMD" ]] || die "$S5CMD not found: run scripts/install.sh first"

PY="$TOOLS/venv/bin/python"
[[ -x "$PY" ]] || PY="python3"

export AWS_ACCESS_KEY_ID="${AWS_ACCESS_KEY_ID:-test}"
export AWS_SECRET_ACCESS_KEY="${AWS_SECRET_ACCESS_KEY:-test}"
unset AWS_REGION AWS_DEFAULT_REGION

TMP_DIRS=()
cleanup() {
    local d
    for d in "${TMP_DIRS[@]+"${TMP_DIRS[@]}"}"; do rm -rf "$d"; done
}
trap cleanup EXIT

# 1. the fixture tree (cached by generator content + args)
if [[ $USE_CACHE -eq 1 ]]; then
    KEY="$({
        sha256sum "$GEN" | cut -d' ' -f1
        printf '%s\0' "${GEN_ARGS[@]+"${GEN_ARGS[@]}"}"
    } | sha256sum | cut -c1-16)"
    DIR="$CACHE_ROOT/$KEY"
    if [[ -f "$DIR/.complete" ]]; then
        echo "seed.sh: reusing cached fixtures $DIR" >&2
    else
        mkdir -p "$CACHE_ROOT"
        WORK="$(mktemp -d "$CACHE_ROOT/$KEY.tmp.XXXXXX")"
        TMP_DIRS+=("$WORK")
        "$PY" "$GEN" --out "$WORK" "${GEN_ARGS[@]+"${GEN_ARGS[@]}"}" || die "gen_fixtures.py failed"
        printf '%s\n' "${GEN_ARGS[@]+"${GEN_ARGS[@]}"}" >"$WORK/.complete"
        if [[ ! -f "$DIR/.complete" ]]; then # else a concurrent run finished first
            [[ ! -e "$DIR" ]] || rm -rf "$DIR" # an unfinished leftover
            mv -T "$WORK" "$DIR" 2>/dev/null || [[ -f "$DIR/.complete" ]] || die "cannot move $WORK to $DIR"
        fi
    fi
else
    DIR="$(mktemp -d "${TMPDIR:-/tmp}/lakesync-seed.XXXXXX")"
    TMP_DIRS+=("$DIR")
    "$PY" "$GEN" --out "$DIR" "${GEN_ARGS[@]+"${GEN_ARGS[@]}"}" || die "gen_fixtures.py failed"
fi

# 2. the bucket (an existing one is fine)
if ! MB_OUT="$("$S5CMD" --endpoint-url "$ENDPOINT" mb "s3://$BUCKET" 2>&1)"; then
    case "$MB_OUT" in
        *BucketAlreadyOwnedByYou* | *BucketAlreadyExists* | *"already exists"*) ;;
        *) die "s5cmd mb s3://$BUCKET failed: $MB_OUT" ;;
    esac
fi

# 3. upload
DEST="s3://$BUCKET/"
PREFIX="${PREFIX#/}"
[[ -z "$PREFIX" ]] || DEST="s3://$BUCKET/${PREFIX%/}/"
WANT="$(find "$DIR/data" -type f 2>/dev/null | wc -l)"
if [[ "$WANT" -eq 0 ]]; then
    echo "seed.sh: nothing to upload (no files generated)" >&2
    echo 0
    exit 0
fi
BYTES="$(find "$DIR/data" -type f -printf '%s\n' | awk '{s += $1} END {print s + 0}')"
START=$(date +%s.%N)
OUT_LOG="$(mktemp "${TMPDIR:-/tmp}/lakesync-seed-log.XXXXXX")"
TMP_DIRS+=("$OUT_LOG")
if ! (cd "$DIR" && "$S5CMD" --endpoint-url "$ENDPOINT" --json cp 'data/*' "${DEST}data/") >"$OUT_LOG"; then
    die "s5cmd cp to $DEST failed (see the errors above)"
fi
GOT="$(grep -c '"success":true' "$OUT_LOG" || true)"
[[ "$GOT" -eq "$WANT" ]] || die "uploaded $GOT of $WANT files to $DEST"
ELAPSED="$(awk -v a="$START" -v b="$(date +%s.%N)" 'BEGIN {printf "%.1f", b - a}')"
echo "seed.sh: uploaded $GOT objects ($BYTES bytes) to $DEST in ${ELAPSED}s" >&2
echo "$GOT"
