# Fullfield: `make run` and `make test` work from a fresh clone with only Python 3.11-3.13.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Exact versions of every dependency, dev tools included; `make lock` regenerates it.
LOCK := requirements.lock
# Supported: CPython 3.11-3.13 on Linux (x86_64, aarch64; glibc 2.28+) and macOS 12+ on arm64.
SUPPORTED_PYTHONS := 3.11 3.12 3.13
WHEEL_PLATFORMS := x86_64-manylinux_2_28 aarch64-manylinux_2_28 aarch64-apple-darwin

.PHONY: run test lint typecheck wheelcheck check lock browser bench benchmarks clean

$(STAMP): pyproject.toml $(LOCK)
	@$(PYTHON) -c 'import sys; sys.exit(0 if (3, 11) <= sys.version_info[:2] <= (3, 13) else "Fullfield supports Python 3.11 to 3.13")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r $(LOCK)
	$(BIN)/pip install --quiet --no-deps -e .
	@$(BIN)/pip check >/dev/null || { $(BIN)/pip check; \
	  echo "$(LOCK) does not satisfy pyproject.toml: run 'make lock'"; exit 1; }
	@touch $(STAMP)

# Re-resolve the lock for every supported Python (one file, markers where they differ), keeping
# the pinned versions that still fit; `make lock LOCK_FLAGS=--upgrade` takes the newest instead.
lock:
	@test -x $(BIN)/uv || { $(PYTHON) -m venv $(VENV) && \
	  $(BIN)/pip install --quiet "uv==$$(sed -n 's/^uv==//p' $(LOCK))"; }
	$(BIN)/uv pip compile pyproject.toml --extra dev --extra embedded --universal --python-version 3.11 \
	  --custom-compile-command "make lock" --quiet $(LOCK_FLAGS) -o $(LOCK)

run: $(STAMP)
	$(BIN)/fullfield run $(if $(PORT),--port $(PORT))

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

# Every locked dependency must install from a wheel on every supported Python and platform, so
# that no user ever needs a compiler. uv re-resolves the exact pins with building from source
# disabled, for each interpreter and platform in turn: it reads only the index and the wheels'
# metadata (a few seconds once cached), evaluates markers for that target, and names every
# package that lacks a wheel.
wheelcheck: $(STAMP)
	@$(foreach platform,$(WHEEL_PLATFORMS),$(foreach version,$(SUPPORTED_PYTHONS),\
	  echo "binary wheels of $(LOCK) for CPython $(version) on $(platform)" && \
	  $(BIN)/uv pip compile --quiet --no-header --no-deps --only-binary :all: \
	    --python-version $(version) --python-platform $(platform) -o /dev/null $(LOCK) && )) true

check: lint typecheck wheelcheck test

# Every benchmark in benchmarks/, then one table (also in bench-results/); BENCH_SCALE=0.1 is a
# quick check, the default the sizes the goals are stated for.
bench: $(STAMP)
	$(BIN)/fullfield benchmark

benchmarks: bench

clean:
	rm -rf $(VENV) .fullfield staticfiles
