# Two commands do all set-up: `make run` and `make test`. Both create .venv
# and install cxloop from this checkout's own files.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: run test test-prerequisites install reconcile bench-updates bench-read-model bench-intake bench-closed-loop record-histories clean

$(STAMP): pyproject.toml
	$(PYTHON) -c 'import sys; sys.exit("cxloop needs Python 3.11+") if sys.version_info < (3, 11) else None'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/python run.py

# The suite runs on two pytest-xdist processes, whole test files to each
# (their module fixtures serve the file's tests), the longest files first in
# the order tests/conftest.py gives them (README, "Tests"). PYTEST_ARGS
# adds to it or overrides it: PYTEST_ARGS="-k timers", PYTEST_ARGS="-n 0" (one
# process), PYTEST_ARGS="-n 3".
PYTEST_PARALLEL ?= -n 2 --dist loadfile --no-loadscope-reorder

test: test-prerequisites $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_PARALLEL) $(PYTEST_ARGS)

# The tests need two programs from Debian's packages (package and command have
# the same name): Chromium, which the dashboard's browser tests drive, and
# docker-compose, which validates docker-compose.yml. Installed here when make
# runs as root with apt-get (CI, a fresh machine); otherwise make stops at once
# and says which command installs them.
TEST_SYSTEM_PACKAGES := chromium docker-compose

test-prerequisites:
	@missing=""; \
	for package in $(TEST_SYSTEM_PACKAGES); do command -v $$package >/dev/null || missing="$$missing $$package"; done; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "installing$$missing (Debian packages the tests need)"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq$$missing; \
	else \
		echo "make test needs$$missing from Debian's packages; install with:" >&2; \
		echo "    sudo apt-get install -y$$missing" >&2; \
		exit 1; \
	fi

# Compare every ticket workflow with the read model and repair the read model
# from the workflows: `make reconcile RECONCILE_ARGS="--dry-run --workspace W"`.
reconcile: $(STAMP)
	$(BIN)/python reconcile.py $(RECONCILE_ARGS)

# Benchmarks (on demand, never part of `make test`); each prints its figures
# beside a raw Temporal or raw SQL baseline measured in the same run.
bench-updates: $(STAMP)
	$(BIN)/python -m bench.updates

bench-read-model: $(STAMP)
	$(BIN)/python -m bench.read_model

bench-intake: $(STAMP)
	$(BIN)/python -m bench.intake

bench-closed-loop: $(STAMP)
	$(BIN)/python -m bench.closed_loop

bench-soak: $(STAMP)
	$(BIN)/python -m bench.soak

# Re-record the workflow histories under tests/histories/ (see README).
record-histories: $(STAMP)
	$(BIN)/python -m tests.record_histories

clean:
	rm -rf $(VENV) .data
