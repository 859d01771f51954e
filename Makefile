# Atlas: `make run` serves the app with demo data; `make test` runs every check.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
BUN := .tools/node_modules/.bin/bun

export REFLEX_USE_SYSTEM_BUN := 1
export REFLEX_TELEMETRY_ENABLED := false
export REFLEX_CHECK_LATEST_VERSION := false
export PATH := $(CURDIR)/.tools/node_modules/.bin:$(PATH)

PYTEST := $(BIN)/python -m pytest -n 2

.PHONY: run test lint typecheck test-unit test-integration test-e2e test-faults bench install clean

run: install
	$(BIN)/atlas run

# One pytest run for all four test kinds: xdist then overlaps the browser tests' frontend build with the
# other tests, and the per-run start-up (a migrated database per worker) is paid once.
test: lint typecheck
	$(PYTEST) tests/unit tests/integration tests/e2e tests/faults

lint: install
	$(BIN)/ruff check .
	$(BIN)/lint-imports

typecheck: install
	$(BIN)/mypy atlas_services atlas_jobs atlas_cli atlas_sim atlas_app

test-unit: install
	$(PYTEST) tests/unit

test-integration: install
	$(PYTEST) tests/integration

test-e2e: install
	$(PYTEST) tests/e2e

# Private PostgreSQL, redis-server and simulator processes per test, stopped, restarted, flushed and killed.
test-faults: install
	$(PYTEST) tests/faults

bench: install
	$(BIN)/python -m bench

install: $(STAMP) $(BUN)

$(STAMP): pyproject.toml constraints.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Atlas needs Python 3.11 or newer")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

$(BUN):
	scripts/setup_web.sh

clean:
	rm -rf $(VENV) .tools/node_modules .web .atlas
