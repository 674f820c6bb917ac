#!/usr/bin/env bash
# Open lakesync HTML reports in a real browser (headless Chromium) and check they render.
#
# usage: scripts/report_check.sh [--out DIR] [--self-test] HTML...
#
#   For each HTML file: a screenshot (1280x2000) to DIR/NAME.png and one in dark mode to
#   DIR/NAME-dark.png, the DOM after rendering to DIR/NAME.dom.html, Chromium's log to
#   DIR/NAME.log; then checks that
#     - the page rendered charts: the DOM has an <svg and a non-empty <path d="M...">,
#     - the browser logged no console message (the pages run no script, so any console
#       line is an error: a script the page's Content-Security-Policy blocked, ...),
#     - the page loads no external asset (src/href/url() to http(s)://); Chromium logs no
#       console line for a failed image load, hence the DOM check,
#     - the screenshots are PNGs.
#   Host names resolve to nowhere (--host-resolver-rules): the check never fetches.
#   --self-test first feeds a page that logs a console error, one with no chart and one
#   with an external image, and expects each to be rejected (proves the checks work with
#   this Chromium build).
#   DIR defaults to target/report-check. Installs Debian's chromium with apt-get when
#   no chromium is found (CHROMIUM=PATH picks a binary) and prints how long that took.
#   Exit 0 when every page passes, 1 when one fails, 2 on usage errors.
set -euo pipefail
# shellcheck source=lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

OUT="$ROOT/target/report-check"
SELF_TEST=0
# One page should render in well under a second; this bounds a hung browser.
BROWSER_TIMEOUT=120

usage() { usage_from_header; }

FILES=()
while [[ $# -gt 0 ]]; do
    TAKEN=1
    case "$1" in
        --out | --out=*) option_value OUT "$@" ;;
        --self-test) SELF_TEST=1 ;;
        -h | --help) usage ;;
        -*)
            echo "report_check.sh: unknown option: $1" >&2
            usage
            ;;
        *) FILES+=("$1") ;;
    esac
    shift "$TAKEN"
done
[[ ${#FILES[@]} -gt 0 || $SELF_TEST -eq 1 ]] || usage
for f in "${FILES[@]}"; do
    if [[ ! -f "$f" ]]; then
        echo "report_check.sh: error: no such HTML file: $f" >&2
        exit 2
    fi
done
mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd -P)"

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

find_chromium() {
    if [[ -n "${CHROMIUM:-}" ]]; then
        [[ -x "$CHROMIUM" ]] || die "CHROMIUM=$CHROMIUM is not an executable"
        echo "$CHROMIUM"
        return
    fi
    local c
    for c in chromium chromium-browser; do
        if command -v "$c" >/dev/null 2>&1; then
            command -v "$c"
            return
        fi
    done
}

BROWSER="$(find_chromium)"
if [[ -z "$BROWSER" ]]; then
    echo "== chromium not found: installing Debian's chromium (apt-get)" >&2
    SUDO=()
    if [[ $(id -u) -ne 0 ]]; then
        command -v sudo >/dev/null 2>&1 || die "chromium is missing and this is not root (hint: apt-get install chromium, or set CHROMIUM=PATH)"
        SUDO=(sudo)
    fi
    t0="$(now)"
    "${SUDO[@]}" apt-get update -qq </dev/null
    DEBIAN_FRONTEND=noninteractive "${SUDO[@]}" apt-get install -y -qq chromium </dev/null >/dev/null
    echo "== chromium installed in $(elapsed "$t0") s" >&2
    BROWSER="$(find_chromium)"
    [[ -n "$BROWSER" ]] || die "apt-get installed chromium but no chromium binary is on PATH"
fi
echo "== browser: $BROWSER ($("$BROWSER" --version 2>/dev/null || echo "version unknown"))" >&2

PROFILES=()
cleanup() {
    local p
    for p in "${PROFILES[@]}"; do rm -rf "$p"; done
}
trap cleanup EXIT

# Run the browser on one page with the flags every run shares; the rest are extra flags.
# stdout: whatever Chromium prints there (the DOM for --dump-dom); stderr: its log.
browse() {
    local url="$1"
    shift
    local profile
    profile="$(mktemp -d)"
    PROFILES+=("$profile")
    timeout "$BROWSER_TIMEOUT" "$BROWSER" --headless --no-sandbox --disable-gpu \
        --disable-background-networking --disable-component-update --disable-sync \
        --no-first-run --disable-dev-shm-usage --hide-scrollbars \
        --host-resolver-rules='MAP * ~NOTFOUND' \
        --enable-logging=stderr --v=0 \
        --user-data-dir="$profile" "$@" "$url" </dev/null
}

# Check one page; prints what failed and returns 1, or 0 when it passes.
check_page() {
    local file="$1" name url png dom log problems=()
    name="$(basename "$file" .html)"
    url="file://$(cd "$(dirname "$file")" && pwd -P)/$(basename "$file")"
    png="$OUT/$name.png"
    dark="$OUT/$name-dark.png"
    dom="$OUT/$name.dom.html"
    log="$OUT/$name.log"
    rm -f "$png" "$dark" "$dom" "$log"
    local t0
    t0="$(now)"
    if ! browse "$url" --screenshot="$png" --window-size=1280,2000 >/dev/null 2>"$log"; then
        problems+=("chromium --screenshot failed (log: $log)")
    fi
    # The same page as a dark-mode reader sees it (prefers-color-scheme: dark).
    if ! browse "$url" --force-dark-mode --screenshot="$dark" --window-size=1280,2000 \
        >/dev/null 2>>"$log"; then
        problems+=("chromium --screenshot --force-dark-mode failed (log: $log)")
    fi
    if ! browse "$url" --dump-dom >"$dom" 2>>"$log"; then
        problems+=("chromium --dump-dom failed (log: $log)")
    fi
    local shot
    for shot in "$png" "$dark"; do
        if [[ ! -s "$shot" ]] || [[ "$(head -c 8 "$shot" | od -An -tx1 | tr -d ' \n')" != "89504e470d0a1a0a" ]]; then
            problems+=("no PNG screenshot at $shot")
        fi
    done
    if ! grep -q '<svg' "$dom"; then
        problems+=("the rendered DOM has no <svg> (no chart)")
    fi
    if ! grep -Eq '<path[^>]* d="M[^"]' "$dom"; then
        problems+=("the rendered DOM has no <path d=\"M...\"> (charts drew nothing)")
    fi
    if grep -Eiq '(src|srcset)="(https?:)?//|<link[^>]+href="(https?:)?//|url\(["'"'"']?(https?:)?//' "$dom"; then
        problems+=("the page loads an external asset (src/href/url() to http(s)://): it must be self-contained")
    fi
    local console
    console="$(grep -E 'CONSOLE' "$log" || true)"
    if [[ -n "$console" ]]; then
        problems+=("console messages in $log:"$'\n'"$console")
    fi
    if [[ ${#problems[@]} -gt 0 ]]; then
        echo "FAIL $file ($(elapsed "$t0") s)" >&2
        printf '  - %s\n' "${problems[@]}" >&2
        return 1
    fi
    echo "ok   $file -> $png ($(elapsed "$t0") s, DOM $(wc -c <"$dom") bytes)" >&2
    return 0
}

if [[ $SELF_TEST -eq 1 ]]; then
    st="$OUT/self-test"
    mkdir -p "$st"
    cat >"$st/console-error.html" <<'EOF'
<!DOCTYPE html><html><body><svg><path d="M0 0L10 10"/></svg>
<script>console.error("report_check self-test: this error must be caught")</script></body></html>
EOF
    cat >"$st/no-chart.html" <<'EOF'
<!DOCTYPE html><html><body><svg></svg><p>no data</p></body></html>
EOF
    cat >"$st/external-asset.html" <<'EOF'
<!DOCTYPE html><html><body><svg><path d="M0 0L10 10"/></svg><img src="https://example.com/x.png"></body></html>
EOF
    for f in "$st/console-error.html" "$st/no-chart.html" "$st/external-asset.html"; do
        if OUT="$st" check_page "$f" 2>/dev/null; then
            die "self-test: $f passed but must fail: the checks do not work with this browser"
        fi
        echo "ok   self-test: $(basename "$f") is rejected" >&2
    done
fi

[[ ${#FILES[@]} -gt 0 ]] || exit 0
t_all="$(now)"
failed=0
for f in "${FILES[@]}"; do
    check_page "$f" || failed=$((failed + 1))
done
if [[ $failed -gt 0 ]]; then
    echo "report_check.sh: $failed of ${#FILES[@]} page(s) failed the browser check" >&2
    exit 1
fi
echo "== ${#FILES[@]} page(s) passed in $(elapsed "$t_all") s; screenshots in $OUT" >&2
