# The two commands a new user needs: `make run` (the demo) and `make test` (every test).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: run test check lint typecheck bench system-deps constraints clean

# The virtual environment, with exactly the versions in constraints.txt (what was tested).
$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[test]'
	touch $(STAMP)

## run: the demo - embedded store, simulated feeds, dashboard on http://127.0.0.1:8050
run: $(STAMP)
	$(BIN)/surge run $(ARGS)

## test: install what the tests need, then run every test (browser tests included)
# Three processes on two cores, a test file each at a time: the exercises (started first)
# and the failover tests mostly wait on their clocks while the rest run beside them (9 min
# with two processes, 7 with three). PYTEST_ARGS="-n 0" runs them one by one.
test: $(STAMP) system-deps
	$(BIN)/pytest -n 3 --dist loadfile $(PYTEST_ARGS)
	$(BIN)/surge rules check surge_rules.yaml
	$(BIN)/surge rules test tests/rules/*.yaml

## check: lint and type-check, then every test
check: lint typecheck test

lint: $(STAMP)
	$(BIN)/ruff check surge feeds dashboard tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

## bench: the benchmarks in bench/ (slow; not part of make test)
bench: $(STAMP)
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/rules.py
	$(BIN)/python bench/pages.py
	$(BIN)/python bench/alert_latency.py
	$(BIN)/python bench/review.py
	$(BIN)/python bench/wall_heap.py

# Debian packages the tests drive for real: chromium and chromium-driver (browser tests),
# prometheus (its promtool checks the rules engine), prometheus-alertmanager (alerts are
# delivered to it) and postgresql (the sql feed reads a real one). Installed with apt when
# missing and running as root; otherwise say what to install.
SYSTEM_DEPS := chromium:chromium chromedriver:chromium-driver promtool:prometheus \
               prometheus-alertmanager:prometheus-alertmanager pg_ctlcluster:postgresql
system-deps:
	@missing=""; for pair in $(SYSTEM_DEPS); do \
	  command -v "$${pair%%:*}" >/dev/null 2>&1 || missing="$$missing $${pair#*:}"; \
	done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing$$missing (apt)"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	      $$missing >/dev/null; \
	  else \
	    echo "The tests need Debian packages:$$missing"; \
	    echo "  sudo apt-get install$$missing"; exit 1; \
	  fi; \
	fi

## constraints: re-pin constraints.txt from a fresh resolution of pyproject.toml
constraints:
	rm -rf /tmp/surge-constraints-venv
	$(PYTHON) -m venv /tmp/surge-constraints-venv
	/tmp/surge-constraints-venv/bin/pip install --quiet --upgrade pip
	/tmp/surge-constraints-venv/bin/pip install --quiet -e '.[test]'
	/tmp/surge-constraints-venv/bin/pip freeze --exclude-editable | grep -v '^-e ' > constraints.txt

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
