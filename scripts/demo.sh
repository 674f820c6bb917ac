#!/usr/bin/env bash
# End-to-end demo (run by `make demo` after `make setup`):
#   1. start a local moto S3 server (scripts/s3-server.sh start --name demo)
#   2. seed s3://binance-mirror-src with the real archive files (fixtures/real) and
#      200 generated tiny fixtures (layout mixed)
#   3. create s3://my-lake
#   4. run `lakesync sync` for spot daily klines into s3://my-lake/binance, twice: the
#      second run shows that an incremental run copies nothing
#   5. print where the report is; the server is stopped on exit, whatever happens.
# Environment: LAKESYNC_BIN (default target/release/lakesync), DEMO_FILES (default 200).
set -euo pipefail
PROG=demo
# shellcheck source=lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

cd "$ROOT"
LAKESYNC="${LAKESYNC_BIN:-$ROOT/target/release/lakesync}"
REPORT=".tools/run/demo-report.json"
SRC_BUCKET="binance-mirror-src"
DEST_BUCKET="my-lake"
DEMO_FILES="${DEMO_FILES:-200}"

step() { printf '\n== %s\n' "$*" >&2; }

[[ -x "$S5CMD" ]] || die "$S5CMD not found: run 'make setup' (scripts/install.sh) first"

export LAKESYNC_S5CMD="$S5CMD"
export AWS_ACCESS_KEY_ID="${AWS_ACCESS_KEY_ID:-test}"
export AWS_SECRET_ACCESS_KEY="${AWS_SECRET_ACCESS_KEY:-test}"
unset AWS_REGION AWS_DEFAULT_REGION

CHILD=""
cleanup() {
    if [[ -n "$CHILD" ]] && kill -0 "$CHILD" 2>/dev/null; then
        kill -TERM "$CHILD" 2>/dev/null || true
        wait "$CHILD" 2>/dev/null || true
    fi
    scripts/s3-server.sh stop --name demo || true
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
# Run a long command in the background and wait for it, so that a signal to this script
# is handled at once (bash delays traps while a foreground child runs).
run() {
    local rc=0
    "$@" &
    CHILD=$!
    wait "$CHILD" || rc=$?
    CHILD=""
    return "$rc"
}

step "starting the local S3 server (moto)"
URL="$(scripts/s3-server.sh start --name demo)"
echo "endpoint: $URL" >&2

step "seeding s3://$SRC_BUCKET: real archive files + $DEMO_FILES generated tiny fixtures"
scripts/seed.sh --endpoint-url "$URL" --bucket "$SRC_BUCKET" \
    --files "$DEMO_FILES" --size-class tiny --layout mixed --with-real >/dev/null
S5=("$S5CMD" --endpoint-url "$URL")
count() { { "${S5[@]}" ls "$1" 2>/dev/null || true; } | wc -l; }
WANT="$(count "s3://$SRC_BUCKET/data/spot/daily/klines/*")"
echo "source holds $WANT spot daily klines objects (.zip + .CHECKSUM)" >&2

step "creating s3://$DEST_BUCKET"
"${S5[@]}" mb "s3://$DEST_BUCKET" >/dev/null

[[ -x "$LAKESYNC" ]] || die "$LAKESYNC not found: build it with 'cargo build --release' (make build)"
SYNC=("$LAKESYNC" sync --endpoint-url "$URL" --source "s3://$SRC_BUCKET" --dest "s3://$DEST_BUCKET/binance"
    --market spot --period daily --data-type klines --report "$REPORT")

step "first sync: ${SYNC[*]}"
run "${SYNC[@]}"
cp "$REPORT" "${REPORT%.json}-first.json"
GOT="$(count "s3://$DEST_BUCKET/binance/*")"
echo "destination now holds $GOT objects under s3://$DEST_BUCKET/binance/" >&2

step "second sync (incremental: expect nothing to copy)"
run "${SYNC[@]}"

step "done"
echo "reports: $ROOT/$REPORT (second run), $ROOT/${REPORT%.json}-first.json (first run)" >&2
