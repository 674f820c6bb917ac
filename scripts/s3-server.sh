#!/usr/bin/env bash
# Run a local moto S3 server on 127.0.0.1 for tests and the demo.
#
# usage: scripts/s3-server.sh start|stop|status|url [--port N] [--name NAME]
#
#   start   start .tools/bin/moto_server in the background on 127.0.0.1 (a free port
#           unless --port), wait until it answers HTTP on / (20 s at most), print its URL
#           (http://127.0.0.1:PORT) on stdout. Already running: just print the URL.
#   stop    stop it by PID (TERM, up to 5 s, then KILL) and remove its pid/url files.
#   status  exit 0 if it is running (prints "running PID URL"), 1 if not.
#   url     print its URL (exit 1 if it is not running).
#
# Files: .tools/run/NAME.pid, .tools/run/NAME.url, .tools/run/NAME.log (NAME defaults
# to "moto"). Run scripts/install.sh first. Data lives in memory: every start is empty.
set -euo pipefail
# shellcheck source=lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

RUN_DIR="$TOOLS/run"
MOTO="$TOOLS/bin/moto_server"
START_TIMEOUT=20
STOP_TIMEOUT=5

usage() { usage_from_header; }

CMD=""
PORT=""
NAME="moto"
while [[ $# -gt 0 ]]; do
    TAKEN=1
    case "$1" in
        --port | --port=*) option_value PORT "$@" ;;
        --name | --name=*) option_value NAME "$@" ;;
        *) command_word CMD "$1" start stop status url ;;
    esac
    shift "$TAKEN"
done
[[ -n "$CMD" ]] || usage
check_name "$NAME"
if [[ -n "$PORT" ]] && ! [[ "$PORT" =~ ^[0-9]+$ && "$PORT" -ge 1 && "$PORT" -le 65535 ]]; then
    die "--port must be a number in 1-65535 (got '$PORT')"
fi

PID_FILE="$RUN_DIR/$NAME.pid"
URL_FILE="$RUN_DIR/$NAME.url"
LOG_FILE="$RUN_DIR/$NAME.log"

# Python used for helpers: the project's venv, else python3.
PY="$TOOLS/venv/bin/python"
[[ -x "$PY" ]] || PY="python3"

running_pid() { pid_from_file "$PID_FILE" moto_server; }

# Exit 0 when nothing listens on 127.0.0.1:PORT and it can be bound.
port_is_free() {
    "$PY" - "$1" <<'PYEOF'
import socket, sys
port = int(sys.argv[1])
c = socket.socket()
c.settimeout(1)
try:
    c.connect(("127.0.0.1", port))
    sys.exit(1)  # something answers there
except OSError:
    pass
finally:
    c.close()
s = socket.socket()
try:
    s.bind(("127.0.0.1", port))
except OSError:
    sys.exit(1)
finally:
    s.close()
PYEOF
}

# Poll URL until any HTTP reply; fail early if PID dies. Exit 0 ready, 1 timeout, 2 died.
wait_ready() {
    "$PY" - "$1" "$2" "$START_TIMEOUT" <<'PYEOF'
import os, sys, time, urllib.error, urllib.request
url, pid, timeout = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
deadline = time.monotonic() + timeout
while time.monotonic() < deadline:
    try:
        opener.open(url + "/", timeout=1).close()
        sys.exit(0)
    except urllib.error.HTTPError:
        sys.exit(0)  # any HTTP reply means it is serving
    except Exception:
        pass
    try:
        os.kill(pid, 0)
    except OSError:
        sys.exit(2)
    try:  # a dead but unreaped child still answers kill(0): check its state
        with open(f"/proc/{pid}/stat") as f:
            if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                sys.exit(2)
    except OSError:
        pass
    time.sleep(0.05)
sys.exit(1)
PYEOF
}

stop_server() {
    stop_pid "$1" "$STOP_TIMEOUT" "$NAME (pid $1)" || die "could not stop $NAME (pid $1)"
}

cmd_start() {
    local pid url attempt rc port
    url_if_running "$PID_FILE" "$URL_FILE" moto_server && return 0
    [[ -x "$MOTO" ]] || die "$MOTO not found: run scripts/install.sh first"
    mkdir -p "$RUN_DIR"
    rm -f "$PID_FILE" "$URL_FILE"
    : >"$LOG_FILE"
    # A picked free port can be taken before moto binds it: retry with a new one.
    for attempt in 1 2 3; do
        port="$PORT"
        [[ -n "$port" ]] || port="$(free_port)" || die "cannot pick a free port"
        if ! port_is_free "$port"; then
            [[ -z "$PORT" ]] || die "port $port on 127.0.0.1 is already in use"
            continue
        fi
        url="http://127.0.0.1:$port"
        echo "=== $(date -u +%FT%TZ) start $NAME on $url (attempt $attempt)" >>"$LOG_FILE"
        "$MOTO" -H 127.0.0.1 -p "$port" >>"$LOG_FILE" 2>&1 </dev/null &
        pid=$!
        echo "$pid" >"$PID_FILE"
        rc=0
        wait_ready "$url" "$pid" || rc=$?
        if [[ $rc -eq 0 ]]; then
            echo "$url" >"$URL_FILE"
            echo "$url"
            return 0
        fi
        if [[ $rc -eq 1 ]]; then
            stop_server "$pid" || true
            rm -f "$PID_FILE"
            echo "s3-server.sh: $NAME did not answer on $url within ${START_TIMEOUT}s; log tail ($LOG_FILE):" >&2
            tail -n 30 "$LOG_FILE" >&2
            exit 1
        fi
        # rc 2: the process died (port taken?)
        wait "$pid" 2>/dev/null || true
        rm -f "$PID_FILE"
        [[ -z "$PORT" ]] || break
    done
    echo "s3-server.sh: $NAME exited during startup; log tail ($LOG_FILE):" >&2
    tail -n 30 "$LOG_FILE" >&2
    exit 1
}

cmd_stop() {
    local pid
    if pid="$(running_pid)"; then
        stop_server "$pid"
        echo "s3-server.sh: stopped $NAME (pid $pid)" >&2
    else
        echo "s3-server.sh: $NAME is not running" >&2
    fi
    rm -f "$PID_FILE" "$URL_FILE"
}

cmd_status() {
    local pid
    if pid="$(running_pid)"; then
        echo "running $pid $(cat "$URL_FILE" 2>/dev/null || echo '?')"
        return 0
    fi
    echo "not running"
    return 1
}

cmd_url() {
    running_pid >/dev/null || die "$NAME is not running (scripts/s3-server.sh start --name $NAME)"
    [[ -s "$URL_FILE" ]] || die "$URL_FILE missing"
    cat "$URL_FILE"
}

case "$CMD" in
    start) cmd_start ;;
    stop) cmd_stop ;;
    status) cmd_status ;;
    url) cmd_url ;;
esac
