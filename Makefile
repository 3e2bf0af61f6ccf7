# One command to run the system, one to test it; both install what they need.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# The GraphQL clients the e2e tests run against a real server (tests/e2e/test_clients.py).
CLIENTS := tests/clients

.PHONY: setup run test lint pytest browser clean

setup: $(VENV)/.installed node_modules/.installed $(CLIENTS)/node_modules/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install -q --disable-pip-version-check -e '.[dev]'
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

$(CLIENTS)/node_modules/.installed: $(CLIENTS)/package.json $(CLIENTS)/package-lock.json
	npm ci --prefix $(CLIENTS) --no-audit --no-fund --ignore-scripts --loglevel=error
	touch $@

## make run: embedded PostgreSQL + Redis + anvil, web (GraphiQL), listener, scheduler.
run: setup
	$(BIN)/dpo up --demo

## make test: lint, type-check, then the whole suite on real servers.
test: setup lint pytest

lint: setup
	$(BIN)/ruff check .
	$(BIN)/mypy

pytest: setup browser
	$(BIN)/pytest -q

## make browser: headless Chromium and GraphiQL's scripts for the GraphiQL browser test.
GRAPHIQL := tests/e2e/graphiql
browser: $(GRAPHIQL)/node_modules/.installed
	command -v chromium >/dev/null || (apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium)

$(GRAPHIQL)/node_modules/.installed: $(GRAPHIQL)/package.json $(GRAPHIQL)/package-lock.json
	npm ci --prefix $(GRAPHIQL) --no-audit --no-fund --ignore-scripts --loglevel=error
	touch $@

clean:
	rm -rf $(VENV) node_modules $(CLIENTS)/node_modules $(GRAPHIQL)/node_modules .dpo .mypy_cache .ruff_cache .pytest_cache
