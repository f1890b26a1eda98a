# gwmon: the two commands a newcomer needs are `make demo` and `make test`.
# Both install what is missing first (Debian packages, a virtualenv with gwmon).

SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
DEB_PACKAGES := mosquitto mosquitto-clients influxdb influxdb-client
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
RUN_DIR ?= run
# The dashboards are type-checked against Grafana's published schema (@grafana/schema)
# with the TypeScript compiler: the pinned npm packages go into a git-ignored cache.
SCHEMA_DIR := tests/dashboards/schema
SCHEMA_CACHE := .cache/grafana-schema

.PHONY: help install system-packages demo test lint format bench clean

help:
	@echo "make demo   - run the WERTvoll demo end to end (servers, probes, ingest, alerts, dashboards)"
	@echo "make test   - run the test suite against real Mosquitto and InfluxDB"
	@echo "make lint   - ruff and mypy --strict"
	@echo "make bench  - benchmarks (ratios against a baseline measured in the same run;"
	@echo "              BENCH_ARGS=--quick for a small check; results in docs/performance.md)"

system-packages:
	@missing=""; for p in $(DEB_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	$(PYTHON) -c "import ensurepip, venv" 2>/dev/null || missing="$$missing python3-venv"; \
	command -v node >/dev/null 2>&1 || missing="$$missing nodejs"; \
	command -v npm >/dev/null 2>&1 || missing="$$missing npm"; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $@

# npm ci: exactly the versions of the lock file; no install scripts; no network afterwards.
$(SCHEMA_CACHE)/.installed: $(SCHEMA_DIR)/package.json $(SCHEMA_DIR)/package-lock.json
	mkdir -p $(SCHEMA_CACHE)
	cp $(SCHEMA_DIR)/package.json $(SCHEMA_DIR)/package-lock.json $(SCHEMA_CACHE)/
	cd $(SCHEMA_CACHE) && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error \
	  --cache "$(CURDIR)/.cache/npm"
	touch $@

install: system-packages $(VENV)/.installed $(SCHEMA_CACHE)/.installed

demo: install
	$(PY) -m gwmon.cli demo --run-dir $(RUN_DIR)

test: install
	$(PY) -m pytest

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

format: install
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

# make bench: the side-by-side bench (writes docs/performance.md) and the stage benchmarks,
# ~13 min here; make bench BENCH_ARGS=--quick: everything small, no doc (~1-2 min).
bench: install
	$(PY) bench/run_all.py $(BENCH_ARGS)

clean:
	rm -rf $(RUN_DIR) .pytest_cache .mypy_cache .ruff_cache .hypothesis
