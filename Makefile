# lakesync developer entry points (GNU make). `make` alone prints the targets.
SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

CARGO ?= cargo
PYTHON ?= python3
TOOLS := $(CURDIR)/.tools

# The Rust integration tests find .tools/bin/s5cmd and .tools/bin/moto_server through
# this variable and start/stop their own moto servers.
export LAKESYNC_TOOLS := $(TOOLS)

# The command that regenerates fixtures/samples (documented in fixtures/README.md).
SAMPLES_CMD := $(PYTHON) scripts/gen_fixtures.py --out fixtures/samples --clean \
	--layout samples --size-class natural --start 2025-01-01 --files 3 --seed 1

.PHONY: help tools setup build test lint demo check-fixtures regen-samples clean distclean wheel

help: ## show this help
	@echo "lakesync make targets:"
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/^([a-z0-9-]+):.*## (.*)/  \1\t\2/' | expand -t 18

tools: ## install s5cmd + moto into .tools (scripts/install.sh; fast when done)
	scripts/install.sh

setup: tools ## tools + cargo build --release
	$(CARGO) build --release

build: ## cargo build --release
	$(CARGO) build --release

wheel: ## Python wheel with maturin (release) -> target/wheels/lakesync-*.whl (scripts/wheel.sh)
	scripts/wheel.sh

test: tools tables-tools check-fixtures ## tools, check fixtures, cargo test --workspace (LAKESYNC_TOOLS=.tools)
	$(CARGO) build --workspace
	$(CARGO) test --workspace --no-fail-fast

# Every shell script and every Python file the project keeps (git's view, so that a new
# script is linted without editing this list; .shellcheckrc holds shellcheck's settings).
SHELL_SCRIPTS = $(shell git ls-files -co --exclude-standard '*.sh' .ci/run 2>/dev/null \
	|| { find scripts -name '*.sh'; echo .ci/run; })
PYTHON_FILES = $(shell git ls-files -co --exclude-standard '*.py' 2>/dev/null || find scripts -name '*.py')

lint: ## cargo fmt --check, clippy --workspace -D warnings, shellcheck over every script, Python syntax
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	@command -v shellcheck >/dev/null || { echo "shellcheck is missing: apt-get install shellcheck (.ci/run does it)" >&2; exit 1; }
	shellcheck $(SHELL_SCRIPTS)
	$(PYTHON) -c 'import ast, sys; [ast.parse(open(f).read(), f) for f in sys.argv[1:]]' $(PYTHON_FILES)

demo: setup ## local S3 + seeded archive + lakesync sync twice (scripts/demo.sh)
	scripts/demo.sh

check-fixtures: ## verify committed fixtures and a fresh generated tree
	@for c in $$(find fixtures -name '*.CHECKSUM' | sort); do \
		(cd "$$(dirname "$$c")" && sha256sum --quiet -c "$$(basename "$$c")") || exit 1; \
	done
	$(PYTHON) scripts/check_fixtures.py fixtures/real fixtures/samples
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
		$(PYTHON) scripts/gen_fixtures.py --out "$$tmp" --files 200 --with-real && \
		$(PYTHON) scripts/check_fixtures.py "$$tmp"

regen-samples: ## regenerate fixtures/samples (deterministic)
	$(SAMPLES_CMD)

clean: ## stop servers started by scripts/s3-server.sh, cargo clean, drop run files + fixture cache
	@for p in .tools/run/*.pid; do [[ -e "$$p" ]] || continue; \
		scripts/s3-server.sh stop --name "$$(basename "$$p" .pid)"; done
	$(CARGO) clean
	rm -rf .tools/run .tools/fixtures-cache

distclean: clean ## clean + remove .tools entirely (venv, s5cmd, moto)
	rm -rf .tools

.PHONY: airflow-e2e
airflow-e2e: tools ## real Apache Airflow runs the sharded DAG against moto (scripts/airflow/e2e.sh)
	scripts/airflow/e2e.sh

# The HTML report in a real browser: a real sync against moto, `lakesync report --html` on
# its report and history, then headless Chromium (scripts/report_check.sh; installs Debian's
# chromium on first use, about 80 s) screenshots each page and checks the charts rendered
# and the console stayed empty. Also checks the pages tests/it/html_report.rs writes.
REPORT_DIR := target/report-check
LAKESYNC_DEBUG ?= target/debug/lakesync

.PHONY: report-check
report-check: tools ## real sync on moto -> lakesync report --html -> headless Chromium check
	$(CARGO) build
	$(CARGO) build --workspace
	$(CARGO) test --test it html_report
	@mkdir -p $(REPORT_DIR) && rm -f $(REPORT_DIR)/run.json $(REPORT_DIR)/rerun.json $(REPORT_DIR)/history.jsonl
	@export AWS_ACCESS_KEY_ID="$${AWS_ACCESS_KEY_ID:-test}" AWS_SECRET_ACCESS_KEY="$${AWS_SECRET_ACCESS_KEY:-test}" \
		LAKESYNC_S5CMD="$(TOOLS)/bin/s5cmd"; \
	unset AWS_REGION AWS_DEFAULT_REGION; \
	url="$$(scripts/s3-server.sh start --name report)"; \
	trap 'scripts/s3-server.sh stop --name report' EXIT; \
	scripts/seed.sh --endpoint-url "$$url" --bucket rsrc --files 50 --with-real >/dev/null; \
	$(TOOLS)/bin/s5cmd --endpoint-url "$$url" mb s3://rdst >/dev/null; \
	$(LAKESYNC_DEBUG) sync --endpoint-url "$$url" --source s3://rsrc --dest s3://rdst \
		--report $(REPORT_DIR)/run.json --batch-size 20 --history $(REPORT_DIR)/history.jsonl; \
	echo "== second run (nothing to copy: a second history line)"; \
	$(LAKESYNC_DEBUG) sync --endpoint-url "$$url" --source s3://rsrc --dest s3://rdst -q \
		--report $(REPORT_DIR)/rerun.json --batch-size 20 --history $(REPORT_DIR)/history.jsonl
	$(LAKESYNC_DEBUG) report --html $(REPORT_DIR)/run.html $(REPORT_DIR)/run.json
	$(LAKESYNC_DEBUG) report --html $(REPORT_DIR)/history.html $(REPORT_DIR)/history.jsonl
	scripts/report_check.sh --out $(REPORT_DIR) --self-test $(REPORT_DIR)/run.html \
		$(REPORT_DIR)/history.html $(REPORT_DIR)/fixture.html $(REPORT_DIR)/fixture-history.html

.PHONY: bench bench-full bench-tools bench-scale bench-scale-13 bench-baseline bench-wan sim-capacity
# Benchmarks (bench/README.md): scripts/bench/bench.py runs lakesync (direct, staged), raw s5cmd on
# lakesync's own command lines, s5cmd cp, aws s3 sync and rclone copy on the same objects,
# alternating, measured from outside. Server: Garage, built once into .tools/garage (7+ min the
# first time); BENCH_SERVER=moto skips the build and benchmarks on moto (figures not comparable).
# The peers live in their own venv (.tools/bench-venv) so that they cannot move moto's botocore.
BENCH_SERVER ?= auto
bench-tools: tools ## benchmark tools: awscli + rclone (pip), Garage 2.5.0 (cargo install, once)
	scripts/bench/install_bench_tools.sh $(if $(filter moto,$(BENCH_SERVER)),--peers-only,)

bench: setup bench-tools ## quick benchmark (~6-10 min on Garage) -> bench/results/<date>-<server>.{json,md}
	$(PYTHON) scripts/bench/bench.py --server $(BENCH_SERVER)

bench-full: setup bench-tools ## bench + 10,000 small files and 8 large (10-100 MB) files (~20 min)
	$(PYTHON) scripts/bench/bench.py --full --server $(BENCH_SERVER)

# lakesync at archive scale (scripts/bench/scale.py): the issue-12 jobs (daily job one interval
# and all intervals into a mirrored destination, a one-month backfill, the daily job as 16
# shards 4 at a time) against archive-sim with 50 ms per request, lakesync vs s5cmd sync,
# aws s3 sync and rclone copy; each run stopped at 90 s and its listing extrapolated
# (19.8 min measured, 2026-12-02) -> bench/results/<date>-scale.{json,md}. SCALE_ARGS passes options
# (--quick, --limit, --jobs, --only, --repeat, --lakesync NAME=PATH...; scale.py --help).
# bench-scale-13: issue 13's history (a1 on 1 vs 8 years of archive) and 200-symbol targets
# only, lakesync only, 3 repetitions -> bench/results/<date>-scale-history-s200[-<builds>].{json,md}
# (before/after: make bench-scale-13 SCALE_ARGS="--lakesync before=... --lakesync after=...").
SCALE_ARGS ?=
bench-wan: tools ## issue 14: ~2,000 tiny objects at 60 ms/request, lakesync vs s5cmd cp 256 on archive-sim -> bench/results/<date>-wan.{json,md}
	$(CARGO) build --release --workspace
	$(PYTHON) scripts/bench/wan.py $(WAN_ARGS)

bench-scale: tools ## lakesync vs peers at archive scale on archive-sim, 50 ms/request (~20 min)
	$(CARGO) build --release --workspace
	scripts/bench/install_bench_tools.sh --peers-only
	$(PYTHON) scripts/bench/scale.py $(SCALE_ARGS)

bench-scale-13: tools ## issue 13's history (1y vs 8y) and 200-symbol targets on archive-sim (~3-6 min)
	$(CARGO) build --release --workspace
	$(PYTHON) scripts/bench/scale.py --only history,s200 --repeat 3 $(SCALE_ARGS)

# lakesync at a git revision, for before/after runs in one bench-scale:
#   make bench-baseline REV=main
#   make bench-scale SCALE_ARGS="--quick --lakesync before=target/bench-baseline/<rev>/lakesync --lakesync after=target/release/lakesync"
REV ?=
bench-baseline: ## build lakesync at REV into target/bench-baseline/<rev>/lakesync (shared target dir)
	@test -n "$(REV)" || { echo "error: REV is not set" >&2; echo "hint: make bench-baseline REV=main" >&2; exit 2; }
	scripts/bench/build_baseline.sh $(REV)

sim-capacity: tools ## archive-sim's own capacity (listed keys/s, copies/s, memory; ~2 min)
	$(CARGO) build --release --workspace
	$(PYTHON) scripts/bench/sim_capacity.py

# Lake tables (lakesync tables): DuckDB reads the tables in tests/tables.rs; the benchmark
# compares the conversion with DuckDB and polars on the same local files. Both live in
# their own venv, .tools-tables/venv (scripts/tables/install.sh).
.PHONY: tables-tools bench-tables
tables-tools: ## duckdb for the tables tests, into .tools-tables/venv
	scripts/tables/install.sh >/dev/null

bench-tables: ## tables conversion vs DuckDB and polars; RSS at 1/100/700 MB CSV -> bench/results/<date>-tables.*
	scripts/tables/install.sh --bench >/dev/null
	$(CARGO) build --release
	$(PYTHON) scripts/bench/tables.py
