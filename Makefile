# One command to run the system, one to test it; both install what they need.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# The GraphQL clients the e2e tests run against a real server (tests/e2e/test_clients.py).
CLIENTS := tests/clients

# uv installs exactly what uv.lock records (versions and hashes); this pin is the one tool
# version outside the lock (the Dockerfile's UV_VERSION must match; a test checks).
UV_VERSION := 0.13.9
UV_DIR := .tools/uv-$(UV_VERSION)
UV := $(UV_DIR)/bin/uv
# The machine's Python, never one downloaded by uv.
export UV_PYTHON_DOWNLOADS := never

.PHONY: setup run test lint lock relock pytest browser image image-test debian-base clean

setup: $(VENV)/.installed node_modules/.installed $(CLIENTS)/node_modules/.installed

$(UV):
	$(PYTHON) -m pip install -q --disable-pip-version-check --no-warn-script-location \
	  --target $(UV_DIR) uv==$(UV_VERSION)

## The locked versions with the dev and embedded extras; --locked stops if uv.lock no longer
## matches pyproject.toml (run `make relock`). Re-runs only when either file changes.
## --compile-bytecode: uv writes no .pyc by itself (pip did), and with PYTHONDONTWRITEBYTECODE
## set every process would compile its imports again (a `dpo web` start took over 30 s).
$(VENV)/.installed: pyproject.toml uv.lock | $(UV)
	$(UV) sync --locked --extra dev --compile-bytecode --python $(PYTHON) --quiet
	touch $@

## make lock: re-resolve every dependency to the newest versions pyproject.toml allows.
lock: $(UV)
	$(UV) lock --upgrade --python $(PYTHON)

## make relock: record a change to pyproject.toml, keeping every other version as locked.
relock: $(UV)
	$(UV) lock --python $(PYTHON)

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
	$(UV) lock --check --python $(PYTHON)
	$(BIN)/hadolint Dockerfile
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports --no-logo --no-cache

## The suite mostly waits (servers starting, chains mining, clients reconnecting), so it runs
## in parallel workers, one test file per worker at a time (--dist loadfile keeps a module's
## servers in one process). PYTEST_WORKERS=0 runs it in one process.
## --no-loadscope-reorder: files are handed out in collection order (testpaths: the long
## end-to-end files first, the many short unit files last to fill in), not xdist's default of
## the files with the most tests first, which left the slowest one-test files (`dpo up`, the
## payment flow) to start last while the other workers stood idle.
## Coverage ([tool.coverage] in pyproject.toml: the code the test processes run) is measured
## and its total printed after the suite. COVERAGE=full measures the servers the e2e tests
## start too (tests/coverage-servers.toml; about twice as slow); COVERAGE=0 skips it.
## Four workers on two cores: the suite mostly waits for the servers and chains it starts, so a
## fourth keeps the cores busy (a full pass took 8:40 on a quiet 2-core machine; on a loaded one,
## 9:46 with four against 13:40 with three).
PYTEST_WORKERS ?= 4
COVERAGE ?= 1
COVERAGE_RC := $(if $(filter full,$(COVERAGE)),--rcfile=tests/coverage-servers.toml)
pytest: setup browser
	$(BIN)/pytest -q $(if $(filter 0,$(PYTEST_WORKERS)),,-n $(PYTEST_WORKERS) --dist loadfile --no-loadscope-reorder) \
	  $(if $(filter 0,$(COVERAGE)),,--cov --cov-report= \
	    $(if $(COVERAGE_RC),--cov-config=tests/coverage-servers.toml))
	$(if $(filter 0,$(COVERAGE)),,@echo "coverage: $$($(BIN)/coverage report $(COVERAGE_RC) \
	  --format=total)% of the lines of dpo, app, schema, resolvers, listener, jobs, sandbox \
	  $(if $(COVERAGE_RC),(tests and servers),(test processes; COVERAGE=full adds the servers))")

## make browser: headless Chromium and GraphiQL's scripts for the GraphiQL browser test.
GRAPHIQL := tests/e2e/graphiql
browser: $(GRAPHIQL)/node_modules/.installed
	command -v chromium >/dev/null || (apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium)

$(GRAPHIQL)/node_modules/.installed: $(GRAPHIQL)/package.json $(GRAPHIQL)/package-lock.json
	npm ci --prefix $(GRAPHIQL) --no-audit --no-fund --ignore-scripts --loglevel=error
	touch $@

## make image: the production image, tagged $(IMAGE), with any Docker-compatible builder
## (DOCKER=podman works). DEBIAN_IMAGE replaces the Dockerfile's base, e.g. the one
## `make debian-base` makes where Docker Hub is out of reach (docs/DEPLOY.md).
DOCKER ?= docker
IMAGE ?= dpo:local
DEBIAN_IMAGE ?=
image:
	$(DOCKER) build --network host -t $(IMAGE) \
	  $(if $(DEBIAN_IMAGE),--build-arg DEBIAN_IMAGE=$(DEBIAN_IMAGE)) .

## make image-test: build it, then run it (tests/image): its contents, its commands, and
## `dpo web` serving /api/health/ with the test servers. Not part of `make test`: it needs a
## container engine, which `make setup` does not install, and takes minutes.
image-test: setup image
	DPO_IMAGE=$(IMAGE) DOCKER=$(DOCKER) $(BIN)/pytest -q -p no:cacheprovider tests/image

## make debian-base: debian:bookworm-slim's equivalent made from Debian's archive (root,
## debootstrap), for a host that reaches deb.debian.org but not Docker Hub.
debian-base:
	DOCKER=$(DOCKER) ops/debian-base.sh dpo-debian:bookworm-slim

clean:
	rm -rf $(VENV) .tools node_modules $(CLIENTS)/node_modules $(GRAPHIQL)/node_modules .dpo .mypy_cache .ruff_cache .pytest_cache .coverage .coverage.*
