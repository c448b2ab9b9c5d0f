# Aether: `make run` starts the monolith, `make test` runs every check. Both install into .venv first.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install run run-distributed build-services test lint fmt typecheck bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

run: install
	$(BIN)/aether serve

# One container per role (podman-compose / docker compose, when an engine works), else the four
# roles as local processes on 8000-8003. Ctrl-C stops them all. See docs/deployment.md.
run-distributed: install
	$(BIN)/python -m aether.deploy up

# One image per role from Containerfile.service (aether-<role>:latest), with podman or docker.
build-services: install
	$(BIN)/python -m aether.deploy build

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

fmt: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

test: lint
	$(BIN)/pytest -q -ra

# Each benchmark prints its figures next to a baseline from the same run; docs/benchmarks.md
# records them. analysis_large needs ~4 GB and a few minutes; tracing_cost starts an MLflow server;
# distributed_load creates (and drops) a database on TEST_DATABASE_URL's PostgreSQL server.
bench: install
	$(BIN)/python bench/gateway_overhead.py
	$(BIN)/python bench/a2a_hop.py
	$(BIN)/python bench/sandbox_jobs.py
	$(BIN)/python bench/tracing_cost.py
	$(BIN)/python bench/span_cost.py
	$(BIN)/python bench/analysis_large.py
	TEST_DATABASE_URL=$${TEST_DATABASE_URL:-postgresql+asyncpg://postgres@127.0.0.1:5432/test} \
	  $(BIN)/python bench/distributed_load.py

clean:
	rm -rf $(VENV) var .mypy_cache .ruff_cache .pytest_cache
