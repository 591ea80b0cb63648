# One entry point for people and CI. `make help` lists the targets.
# Everything runs from a clean clone with only python3.11 and make: `setup` builds the tools.

SHELL := /bin/bash
PYTHON ?= python3.11
UV_VERSION ?= 0.13.9
TOOLS := .tools
VENV := .venv
UV := $(TOOLS)/bin/uv
BIN := $(VENV)/bin
RECSYS := $(BIN)/recsys
STAMP := $(VENV)/.synced

# Demo scale: small enough to finish in a few minutes on 2 cores.
DEMO_EVENTS ?= 300000
DEMO_SEED ?= 7
PORT ?= 8000
# Two pytest workers: the trained-world tests in one, dbt and the rest in the other.
TEST_WORKERS ?= 2
HOST ?= 127.0.0.1
# make soak / make contract: traffic seconds, generated API cases, and the world they share
# (built once into this folder, reused by later runs).
SOAK_SECONDS ?= 300
CONTRACT_CASES ?= 5000
SOAK_WORLD ?= data/bench/soak-world

.DEFAULT_GOAL := help
.PHONY: help setup redis stop data features train batch-score serve demo test lint audit \
        monitor bench bench-offline bench-serve bench-batch bench-train bench-memory bench-candidates browser wrk docs docs-serve \
        clean contract soak

help: ## List the targets and the variables they take
	@echo "Targets:"
	@grep -E '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | \
	  awk -v host='$(HOST)' -v port='$(PORT)' 'BEGIN {FS = ":.*?## "}; \
	    {gsub(/\$$\(HOST\)/, host, $$2); gsub(/\$$\(PORT\)/, port, $$2); \
	     printf "  \033[36m%-14s\033[0m %s\n", $$1, $$2}'
	@echo ""
	@echo "Variables (make <target> NAME=value):"
	@printf "  %-19s %s\n" \
	  "PORT=$(PORT)" "port of make serve" \
	  "HOST=$(HOST)" "interface of make serve (0.0.0.0 to listen on all)" \
	  "DEMO_EVENTS=$(DEMO_EVENTS)" "events make demo / make data generate" \
	  "DEMO_SEED=$(DEMO_SEED)" "seed of the generated data" \
	  "TEST_WORKERS=$(TEST_WORKERS)" "pytest workers of make test" \
	  "REDIS_URL" "environment: the Redis to use (unset: the project starts its own)" \
	  "RECSYS_DATA_DIR" "environment: where data, warehouse and models live (default ./data)"

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/python -m pip install --quiet "uv==$(UV_VERSION)"

# --compile-bytecode: every command imports Feast, DuckDB, LightGBM and pandas; without
# .pyc files (PYTHONDONTWRITEBYTECODE, common in containers) each import compiles them again,
# about 5 s of CPU per `recsys` command on 2 cores.
# --extra spark: dbt-spark and pyspark for `recsys build --target spark`, which `make test`
# builds too (tests/dbt/test_spark.py); about 490 MB of the venv (pyspark ships Spark's jars).
$(STAMP): $(UV) pyproject.toml uv.lock
	$(UV) sync --frozen --extra spark --compile-bytecode --python $(PYTHON)
	@$(BIN)/python -m ops.warm
	@touch $@

setup: $(STAMP) ## Create .venv, install the locked dependencies (uv) and compile the kernels

redis: setup ## Start the project's own Redis (loopback, no persistence); used when REDIS_URL is unset
	@$(RECSYS) redis up

stop: ## Stop what the project started (server, our own Redis); never anything else
	@if [ -x $(RECSYS) ]; then $(RECSYS) stop; else echo "nothing to stop (not set up)"; fi

data: setup ## Generate the built-in demo events into data/landing (deterministic)
	$(RECSYS) ingest generate --events $(DEMO_EVENTS) --seed $(DEMO_SEED)

features: setup ## dbt build (tested marts) + feast apply + materialize into Redis
	$(RECSYS) features

train: setup ## Build a point-in-time training set via Feast, train the ranker, evaluate, register
	$(RECSYS) train

batch-score: setup ## Score every active user; write batch_recommendations to DuckDB and Redis
	$(RECSYS) batch-score

monitor: setup ## Online outcomes, drift, freshness, skew: data/reports/monitor/report.html; exit 1 on a breach
	$(RECSYS) monitor

.PHONY: tradeoffs
tradeoffs: setup ## Batch, online or both? Quality vs freshness vs cost: data/reports/tradeoffs/report.html
	$(RECSYS) tradeoffs

serve: setup ## Start the API and the try-it page on http://$(HOST):$(PORT)
	$(RECSYS) serve --host $(HOST) --port $(PORT)

demo: setup ## Everything on built-in data, ending with a served recommendation
	$(RECSYS) demo --events $(DEMO_EVENTS) --seed $(DEMO_SEED)

browser: ## Install Debian's chromium for the page test if it is missing
	@if [ ! -x /usr/bin/chromium ]; then \
	  echo "Installing Debian chromium for the browser test..."; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium chromium-driver >/dev/null; \
	fi

wrk: ## Install Debian's wrk (the load generator of bench-serve) if it is missing
	@if ! command -v wrk >/dev/null && [ ! -x /usr/bin/wrk ]; then \
	  echo "Installing Debian wrk for the serving benchmark..."; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq wrk >/dev/null; \
	fi

test: setup browser ## Run the whole test suite (starts its own Redis on a free port)
	$(BIN)/pytest -n $(TEST_WORKERS)

contract: setup ## Schemathesis: >= CONTRACT_CASES generated requests on a live server, 0 failures
	@mkdir -p $(dir $(SOAK_WORLD))
	$(BIN)/python -m bench.contract --cases $(CONTRACT_CASES) --world $(SOAK_WORLD)

soak: setup ## SOAK_SECONDS of mixed traffic; Redis killed, a model promoted midway; then contract
	@mkdir -p $(dir $(SOAK_WORLD))
	$(BIN)/python -m bench.soak --seconds $(SOAK_SECONDS) --world $(SOAK_WORLD)
	$(BIN)/python -m bench.contract --cases $(CONTRACT_CASES) --world $(SOAK_WORLD)

lint: setup ## ruff + mypy
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy recsys training serving ops bench feature_repo orchestration tests

audit: setup ## pip-audit the locked set; says NOT AUDITED (exit 2) when no vulnerability data is reachable
	$(BIN)/python -m ops.audit $(AUDIT_ARGS)

docs: setup ## dbt docs of the built warehouse (no rebuild): one HTML file that opens offline
	$(RECSYS) docs

docs-serve: setup ## Serve the dbt docs on http://127.0.0.1:8080 (dbt docs serve)
	$(RECSYS) docs --serve

bench: bench-offline bench-batch bench-train bench-serve bench-memory ## All benchmarks; results in benchmarks.json and BENCHMARKS.md

bench-offline: setup ## dbt build on 1M/5M events, one new day incremental vs full; materialize rows/s
	$(BIN)/python -m bench.offline
	$(BIN)/python -m bench.incremental

bench-batch: setup ## Batch scoring users/s with 300 candidates each
	$(BIN)/python -m bench.batch

bench-train: setup ## recsys train on the demo world vs LightGBM's own fit, same runs
	$(BIN)/python -m bench.train

bench-candidates: setup ## Candidate generation p50/p99 with vs without the SR-rule and embedding generators
	$(BIN)/python -m bench.candidates

bench-serve: setup wrk ## Load test the API next to `feast serve` in the same run
	$(BIN)/python -m bench.serve

bench-memory: setup wrk ## RSS and PSS per worker (1, 2, 4 workers; 15k, 200k items), shared catalog off vs on
	$(BIN)/python -m bench.memory

clean: stop ## Remove generated data, models and caches (keeps .venv)
	rm -rf data feature_repo/data dbt/target dbt/logs .pytest_cache .mypy_cache .ruff_cache
