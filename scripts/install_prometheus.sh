#!/usr/bin/env bash
# Debian's Prometheus stack for the metrics tests (tests/prometheus.rs): prometheus,
# prometheus-node-exporter and prometheus-pushgateway.
#
# usage: scripts/install_prometheus.sh
#
#   exit 0  all three are installed (their paths on stdout, one per line);
#   exit 3  they cannot be installed here (not root, no apt-get, or apt-get failed): the
#           reason on stderr, and the tests that need them skip with it.
#
# Installs with apt-get (as root, no recommends) when one is missing. The packages' services
# must not start (they would listen on every interface, on fixed ports): when the machine has
# no /usr/sbin/policy-rc.d, one that denies service starts is put there for the install and
# removed afterwards; the tests run their own daemons on 127.0.0.1 and free ports.
set -euo pipefail

PACKAGES=(prometheus prometheus-node-exporter prometheus-pushgateway)
BINARIES=(prometheus prometheus-node-exporter prometheus-pushgateway)

log() { echo "install_prometheus.sh: $*" >&2; }
cannot() {
    log "cannot install ${PACKAGES[*]}: $*"
    exit 3
}

missing() {
    local b
    for b in "${BINARIES[@]}"; do
        command -v "$b" >/dev/null 2>&1 || return 0
    done
    return 1
}

if missing; then
    [[ "$(id -u)" -eq 0 ]] || cannot "not root (run: sudo apt-get install ${PACKAGES[*]})"
    command -v apt-get >/dev/null 2>&1 || cannot "no apt-get on this machine"
    ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
    mkdir -p "$ROOT/.tools"
    # One install at a time (several test binaries may ask at once); apt also waits for dpkg.
    if command -v flock >/dev/null 2>&1; then
        exec 9>"$ROOT/.tools/.prometheus-install.lock"
        flock 9 || cannot "cannot lock $ROOT/.tools/.prometheus-install.lock"
    fi
    if missing; then
        policy=/usr/sbin/policy-rc.d
        if [[ ! -e "$policy" ]]; then
            printf '#!/bin/sh\n# lakesync scripts/install_prometheus.sh: no service starts during the install\nexit 101\n' >"$policy"
            chmod 755 "$policy"
            trap 'rm -f "$policy"' EXIT
        fi
        log "apt-get installing ${PACKAGES[*]} (about 30 s) ..."
        apt_install() {
            DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
                -o DPkg::Lock::Timeout=300 "${PACKAGES[@]}" </dev/null >&2
        }
        if ! apt_install; then
            log "retrying after apt-get update"
            apt-get update -qq -o DPkg::Lock::Timeout=300 </dev/null >&2 || cannot "apt-get update failed"
            apt_install || cannot "apt-get install failed"
        fi
    fi
    missing && cannot "installed, but not all of ${BINARIES[*]} are on PATH"
fi
for b in "${BINARIES[@]}"; do command -v "$b"; done
