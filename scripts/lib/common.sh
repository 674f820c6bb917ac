# shellcheck shell=bash
# shellcheck disable=SC2034 # ROOT, TOOLS, PROG, PYTHON and S5CMD are for the scripts that source this
# The preamble lakesync's shell scripts share: source it, never run it.
#
#   source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"     # from scripts/
#   source "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"  # from scripts/bench, scripts/airflow
#
# Sets ROOT (the repository, physical path), TOOLS ($ROOT/.tools), S5CMD (the real s5cmd
# that scripts/install.sh links into $TOOLS/bin) and PYTHON (the interpreter that creates
# venvs: $PYTHON from the environment, else python3), and defines:
#   die MSG...              "PROG: error: MSG" on stderr, exit 1
#   log MSG...              "PROG: MSG" on stderr
#   usage_from_header       print the calling script's header comment (the comment lines
#                           after the #! line: its usage text, "# " stripped) on stderr,
#                           exit 2
#   option_value VAR "$@"  in an argument loop, for `--opt VALUE` or `--opt=VALUE` in $1:
#                           set VAR to the value and TAKEN to the arguments it used (the
#                           loop ends with `shift "$TAKEN"` and sets TAKEN=1 on each turn);
#                           calls the script's usage when the value is missing
#   command_word VAR ARG WORD...  in an argument loop's last arm, for a script that takes
#                           one command (start, stop, ...): ARG is one of the WORDs: set
#                           VAR to it (usage if VAR is set already); -h/--help: usage;
#                           anything else: "unknown argument" and usage
#   check_name NAME         die unless NAME is a safe file-name part ([A-Za-z0-9._-]+)
#   free_port               a free TCP port on 127.0.0.1
#   pid_alive PID [NEEDLE]  PID is a live process (and its command line contains NEEDLE:
#                           a guard against a recycled PID)
#   pid_from_file FILE [NEEDLE]  print the PID stored in FILE if pid_alive
#   url_if_running PIDFILE URLFILE NEEDLE  print the URL of a server a script of ours
#                           started, if its PID (in PIDFILE) is alive; else return 1
#   stop_pid PID SECONDS [LABEL] TERM, wait up to SECONDS, then KILL; return 1 if the
#                           process outlives KILL by 2 s
#   ensure_venv DIR [PYTHON]     (re)create a python venv in DIR unless it runs
#   lock_file FILE          hold an exclusive flock on FILE (when flock exists) until
#                           unlock_file or exit: one installer at a time
#   pip_pinned VENV PROBE PIN...  (re)create VENV and pip install the PINs into it, skipped
#                           while VENV's stamp file lists exactly these PINs and its python
#                           version and VENV/bin/PROBE is executable
# and sources pins.sh: every pinned version (S5CMD_PIN, MOTO_PIN, ...).
# PROG (the name in messages) defaults to the calling script's file name.
#
# The caller has already set `set -euo pipefail`; nothing here changes shell options.

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd -P)"
TOOLS="$ROOT/.tools"
S5CMD="$TOOLS/bin/s5cmd"
PYTHON="${PYTHON:-python3}"
PROG="${PROG:-$(basename "${BASH_SOURCE[-1]}")}"
# shellcheck source=pins.sh
source "$(dirname "${BASH_SOURCE[0]}")/pins.sh"

die() {
    echo "$PROG: error: $*" >&2
    exit 1
}

log() { echo "$PROG: $*" >&2; }

usage_from_header() {
    awk 'NR == 1 { next } /^#/ { sub(/^# ?/, ""); print; next } { exit }' "${BASH_SOURCE[-1]}" >&2
    exit 2
}

option_value() {
    local var="$1"
    shift
    if [[ "$1" == *=* ]]; then
        printf -v "$var" '%s' "${1#*=}"
        TAKEN=1
    else
        [[ $# -ge 2 ]] || usage
        printf -v "$var" '%s' "$2"
        TAKEN=2
    fi
}

command_word() {
    local var="$1" arg="$2" word
    shift 2
    for word in "$@"; do
        if [[ "$arg" == "$word" ]]; then
            [[ -z "${!var}" ]] || usage
            printf -v "$var" '%s' "$arg"
            return 0
        fi
    done
    [[ "$arg" == -h || "$arg" == --help ]] || echo "$PROG: unknown argument: $arg" >&2
    usage
}

check_name() {
    [[ "$1" =~ ^[A-Za-z0-9._-]+$ ]] || die "--name must match [A-Za-z0-9._-]+ (got '$1')"
}

free_port() {
    python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()'
}

pid_alive() {
    local pid="$1" needle="${2:-}" cmdline
    [[ "$pid" =~ ^[0-9]+$ ]] || return 1
    kill -0 "$pid" 2>/dev/null || return 1
    [[ -n "$needle" ]] || return 0
    cmdline="$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null)" || return 1
    [[ "$cmdline" == *"$needle"* ]]
}

pid_from_file() {
    local pid
    [[ -f "$1" ]] || return 1
    pid="$(cat "$1" 2>/dev/null)" || return 1
    pid_alive "$pid" "${2:-}" || return 1
    echo "$pid"
}

url_if_running() {
    pid_from_file "$1" "$3" >/dev/null || return 1
    cat "$2"
}

stop_pid() {
    local pid="$1" seconds="$2" label="${3:-pid $1}" i
    kill -TERM "$pid" 2>/dev/null || return 0
    for ((i = 0; i < seconds * 20; i++)); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.05
    done
    echo "$PROG: $label ignored TERM for ${seconds}s, sending KILL" >&2
    kill -KILL "$pid" 2>/dev/null || true
    for ((i = 0; i < 40; i++)); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.05
    done
    return 1
}

ensure_venv() {
    local dir="$1" python="${2:-$PYTHON}"
    "$dir/bin/python" -c 'import sys' >/dev/null 2>&1 && return 0
    log "creating venv $dir"
    rm -rf "$dir"
    "$python" -m venv "$dir" || die "'$python -m venv $dir' failed (on Debian: apt-get install python3-venv)"
}

LOCK_FD=""
lock_file() {
    command -v flock >/dev/null 2>&1 || return 0
    exec {LOCK_FD}>"$1"
    flock "$LOCK_FD" || die "cannot lock $1"
}

unlock_file() {
    [[ -n "$LOCK_FD" ]] || return 0
    exec {LOCK_FD}>&-
    LOCK_FD=""
}

pip_pinned() {
    local venv="$1" probe="$2" stamp="$1/.lakesync-pins" want
    shift 2
    ensure_venv "$venv"
    want="$(printf '%s\n' "$@" "python $("$venv/bin/python" -c 'import sys; print(sys.version.split()[0])')")" \
        || die "the python of $venv does not run"
    if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" && -x "$venv/bin/$probe" ]]; then
        log "already installed in $venv: $*"
        return 0
    fi
    rm -f "$stamp"
    log "pip installing $* into $venv ..."
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "$@" \
        || die "pip install of $* into $venv failed"
    [[ -x "$venv/bin/$probe" ]] || die "$venv/bin/$probe missing after pip install of $*"
    printf '%s\n' "$want" >"$stamp"
}
