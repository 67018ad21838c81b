# LAN equity warehouse. `make run` and `make test` set everything up themselves.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := $(CURDIR)/.venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

LAN_HOME ?= $(CURDIR)/data
export LAN_HOME := $(abspath $(LAN_HOME))
export PYTHONPATH := $(CURDIR)
export DO_NOT_TRACK := 1
export GX_ANALYTICS_ENABLED := False
export DBT_SEND_ANONYMOUS_USAGE_STATS := False
export PATH := $(BIN):$(PATH)

.PHONY: help setup run demo test lint format ui bench lock clean

help: ## list the commands
	@grep -E '^[a-z]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-6s %s\n", $$1, $$2}'

$(STAMP): requirements.lock pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.lock
	@touch $(STAMP)

setup: $(STAMP) ## create .venv with the locked dependencies

run: $(STAMP) ## process LAN_HOME/landing through the run queue and build everything (sample returns in a new ./data)
	$(BIN)/python -m orchestration.run $(if $(FORCE),--force)

demo: $(STAMP) ## `make run` with synthetic sample returns put in a new LAN_HOME (LAN_DEMO=1)
	LAN_DEMO=1 $(BIN)/python -m orchestration.run

test: $(STAMP) ## the whole test suite, in TEST_WORKERS (2) pytest-xdist workers, a file's tests on one worker
	$(BIN)/python -m pytest -n $${TEST_WORKERS:-2} --dist loadfile

lint: $(STAMP) ## ruff (check and format) and sqlfluff (dbt templater, DuckDB dialect)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	@mkdir -p $(CURDIR)/.lint-home/warehouse
	LAN_HOME=$(CURDIR)/.lint-home $(BIN)/sqlfluff lint --disable-progress-bar dbt_project/models dbt_project/tests

format: $(STAMP) ## apply ruff's and sqlfluff's fixes
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .
	@mkdir -p $(CURDIR)/.lint-home/warehouse
	LAN_HOME=$(CURDIR)/.lint-home $(BIN)/sqlfluff fix --disable-progress-bar dbt_project/models dbt_project/tests

ui: $(STAMP) ## the Dagster UI on http://127.0.0.1:3000 with the landing sensor
	$(BIN)/python -m orchestration.ui

bench: $(STAMP) ## national-scale benchmark (SITES=130 MONTHS=60)
	$(BIN)/python scripts/benchmark.py --sites $${SITES:-130} --months $${MONTHS:-60}

lock: ## re-resolve the pinned dependencies into requirements.lock
	rm -rf $(CURDIR)/.venv-lock && $(PYTHON) -m venv $(CURDIR)/.venv-lock
	$(CURDIR)/.venv-lock/bin/pip install --quiet -e '.[dev]'
	$(CURDIR)/.venv-lock/bin/pip freeze --exclude-editable | grep -vE '^(pip|setuptools|wheel)==' > requirements.lock
	rm -rf $(CURDIR)/.venv-lock

clean: ## remove the virtualenv and the default LAN_HOME (./data)
	rm -rf $(VENV) $(CURDIR)/data dbt_project/target
