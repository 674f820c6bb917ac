#!/usr/bin/env bash
# Build lakesync at a git revision into target/bench-baseline/<rev>/lakesync (make
# bench-baseline REV=...), for "before and after in the same run":
#   scripts/bench/scale.py --lakesync before=target/bench-baseline/<rev>/lakesync \
#                          --lakesync after=target/release/lakesync
# The revision is checked out with `git worktree` at one fixed path (target/bench-baseline/src,
# removed again afterwards) and built with one shared CARGO_TARGET_DIR
# (target/bench-baseline/target, seeded once from target/release): same path, same target
# dir, so only the crates that changed between revisions are rebuilt, never the world.
# Prints the binary's path on stdout (everything else goes to stderr). A binary already
# built for that revision is reused.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
if [ $# -ne 1 ] || [ -z "$1" ]; then
    echo "usage: scripts/bench/build_baseline.sh REV" >&2
    echo "hint: make bench-baseline REV=main (any git revision: a commit, branch or tag)" >&2
    exit 2
fi
if ! rev=$(git -C "$root" rev-parse --verify --quiet "$1^{commit}"); then
    echo "error: '$1' is not a git revision of $root" >&2
    echo "hint: git log --oneline shows the commits; REV=main, REV=HEAD~3, REV=<sha>" >&2
    exit 2
fi
short=$(git -C "$root" rev-parse --short=12 "$rev")
base="$root/target/bench-baseline"
out="$base/$short"
if [ -x "$out/lakesync" ] && [ -f "$out/REV" ]; then
    echo "build_baseline: $short already built" >&2
    echo "$out/lakesync"
    exit 0
fi
mkdir -p "$base"
exec 9>"$base/.lock"
flock 9  # one baseline build at a time (they share the worktree path and target dir)

export CARGO_TARGET_DIR="$base/target"
if [ ! -d "$CARGO_TARGET_DIR/release" ] && [ -d "$root/target/release/deps" ]; then
    # seed the shared target dir with the dependencies already built for this tree's release
    # build: the first baseline build then compiles lakesync's own crates only
    echo "build_baseline: seeding $CARGO_TARGET_DIR from target/release (once)" >&2
    mkdir -p "$CARGO_TARGET_DIR/release"
    for d in deps build .fingerprint; do
        [ -d "$root/target/release/$d" ] && cp -a "$root/target/release/$d" "$CARGO_TARGET_DIR/release/"
    done
fi

src="$base/src"
cleanup() { git -C "$root" worktree remove --force "$src" >/dev/null 2>&1 || rm -rf "$src"; git -C "$root" worktree prune; }
cleanup
trap cleanup EXIT
git -C "$root" worktree add --detach --quiet "$src" "$rev" >&2
echo "build_baseline: building lakesync at $short ($(git -C "$root" log -1 --format='%cI %s' "$rev" | cut -c1-100))" >&2
# --workspace, as `make bench-scale` builds this tree: the same packages, so the same unified
# dependency features and the seeded dependencies are reused (`--bin lakesync` alone would
# rebuild every dependency whose features differ, tokio and the AWS crates among them)
(cd "$src" && cargo build --release --workspace >&2)
mkdir -p "$out"
cp "$CARGO_TARGET_DIR/release/lakesync" "$out/lakesync.tmp"
mv "$out/lakesync.tmp" "$out/lakesync"
git -C "$root" log -1 --format='%H %cI %s' "$rev" >"$out/REV"
echo "$out/lakesync"
