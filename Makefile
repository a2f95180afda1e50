# Fullfield: `make run` and `make test` work from a fresh clone with only Python 3.11+.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint typecheck check browser benchmarks clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Fullfield needs Python 3.11 or newer")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	@touch $(STAMP)

run: $(STAMP)
	$(BIN)/fullfield run

# Browser tests drive Debian's Chromium and fail without it; installed here when missing and we
# may (root with apt-get). Elsewhere install `chromium` yourself (see README).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
	      || echo "could not install chromium; the browser tests will fail (see README)"; \
	  else echo "chromium not found; the browser tests will fail: install chromium (see README)"; fi; }

test: $(STAMP) browser
	$(BIN)/fullfield test

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	DEBUG=1 $(BIN)/mypy platform apps tests benchmarks

check: lint typecheck test

benchmarks: $(STAMP)
	$(BIN)/fullfield benchmark

clean:
	rm -rf $(VENV) .fullfield staticfiles
