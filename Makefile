# The two commands a new user needs: `make run` (the demo) and `make test` (every test).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: run test check lint typecheck bench browser-deps constraints clean

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
test: $(STAMP) browser-deps
	$(BIN)/pytest $(PYTEST_ARGS)

## check: lint and type-check, then every test
check: lint typecheck test

lint: $(STAMP)
	$(BIN)/ruff check surge feeds dashboard tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

## bench: the benchmarks in bench/ (slow; not part of make test)
bench: $(STAMP)
	$(BIN)/python bench/ingest.py

# Debian's chromium and chromium-driver for the browser tests: installed with apt when
# missing and running as root; otherwise say what to install.
browser-deps:
	@if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing chromium and chromium-driver (apt)"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; \
	  else \
	    echo "The browser tests need Debian's chromium and chromium-driver:"; \
	    echo "  sudo apt-get install chromium chromium-driver"; exit 1; \
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
