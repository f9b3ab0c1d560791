SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
# `make run` listens on this machine only; HOST=0.0.0.0 opens it to the network
# (with DEBUG on: debug pages, so only on a network you trust).
HOST ?= 127.0.0.1
# The suite runs once on SQLite, then again on this PostgreSQL when it answers.
PG_TEST_URL ?= postgres://postgres@127.0.0.1:5432/test
# Debian packages the app and its tests need: bubblewrap and libseccomp2 (diff-test
# sandbox and its syscall filter), graphviz (the workflow graph's layout), chromium
# (browser tests), redis-server (tests that kill a Redis of their own).
APT_PACKAGES ?= bubblewrap libseccomp2 graphviz chromium redis-server

.PHONY: run serve worker test check schema install system-deps migrate seed bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@

install: $(VENV)/.installed

system-deps:
	@missing=""; \
	for pkg in $(APT_PACKAGES); do \
	  dpkg -s $$pkg >/dev/null 2>&1 || missing="$$missing $$pkg"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "Installing Debian packages:$$missing"; \
	  SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing; \
	fi

migrate: install
	DEBUG=$${DEBUG:-true} $(BIN)/python manage.py migrate --no-input

seed: migrate
	DEBUG=$${DEBUG:-true} $(BIN)/python manage.py seed

run: APT_PACKAGES = bubblewrap libseccomp2 graphviz
run: system-deps seed
	DEBUG=$${DEBUG:-true} $(BIN)/python manage.py runserver --nostatic $(HOST):$(PORT)

# Several daphne processes on one port (PROCESSES=2 REDIS_URL=redis://…): the way
# production uses the cores. `make run` stays one process.
PROCESSES ?= 2
serve: APT_PACKAGES = bubblewrap libseccomp2
serve: system-deps seed
	DEBUG=$${DEBUG:-true} $(BIN)/python -m vibegrapher.server.serve --processes $(PROCESSES) \
	  -b $(HOST) -p $(PORT) vibegrapher.asgi:application

# A sandbox worker (docs/sandbox.md#workers): for trying the queue on one machine, run it
# beside `make serve` with the same REDIS_URL and SANDBOX_JOBS=queue. `make run` needs
# none: it runs the sandboxes in its own process.
worker: APT_PACKAGES = bubblewrap libseccomp2
worker: system-deps install
	DEBUG=$${DEBUG:-true} $(BIN)/python -m testruns.worker

test: install system-deps
	DEBUG=true $(BIN)/pytest
	@if $(BIN)/python -c "import psycopg,sys; psycopg.connect('$(PG_TEST_URL)', connect_timeout=3).close()" 2>/dev/null; then \
	  echo "--- again on PostgreSQL ($(PG_TEST_URL))"; \
	  DEBUG=true DATABASE_URL=$(PG_TEST_URL) $(BIN)/pytest -m "not live and not browser"; \
	elif [ "$${CI:-}" = "true" ]; then \
	  echo "PostgreSQL at $(PG_TEST_URL) is unreachable, and CI=true makes that a failure."; exit 1; \
	else \
	  echo "PostgreSQL at $(PG_TEST_URL) is unreachable: the PostgreSQL pass is skipped."; \
	fi

# Production variables for `check --deploy`: what fly.toml and the secrets provide.
DEPLOY_ENV = DEBUG=false ALLOWED_HOSTS=vibegrapher.fly.dev \
	CSRF_TRUSTED_ORIGINS=https://vibegrapher.fly.dev \
	SECRET_KEY=$$($(BIN)/python -c 'import secrets; print(secrets.token_urlsafe(50))')

# The OpenAPI document (docs/openapi.yaml) is generated from the code with the default
# settings: no .env and none of this shell's variables, so every checkout writes the
# same bytes. `make schema` rewrites it; `make check` fails when it is not current.
SCHEMA_ENV = env -i PATH="$$PATH" HOME="$$HOME" DEBUG=true VIBEGRAPHER_IGNORE_DOTENV=1
SCHEMA_CMD = $(SCHEMA_ENV) $(BIN)/python manage.py spectacular --validate --fail-on-warn

# docs/api.d.ts: the same contract as TypeScript types (openapi-typescript, from npm),
# rewritten too when Node's npx is here.
OPENAPI_TYPESCRIPT = openapi-typescript@7.13.0

schema: install
	$(SCHEMA_CMD) --file docs/openapi.yaml
	@echo "docs/openapi.yaml regenerated"
	@if command -v npx >/dev/null; then \
	  npx --yes $(OPENAPI_TYPESCRIPT) docs/openapi.yaml -o docs/api.d.ts --silent && \
	  echo "docs/api.d.ts regenerated"; \
	else echo "npx not found: docs/api.d.ts left as it was"; fi

check: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	DEBUG=true $(BIN)/mypy .
	@# Who may import whom: the contracts of pyproject.toml [tool.importlinter].
	$(BIN)/lint-imports
	$(BIN)/actionlint
	$(DEPLOY_ENV) $(BIN)/python manage.py check --deploy --fail-level WARNING
	@generated=$$(mktemp) && $(SCHEMA_CMD) --file $$generated && \
	  if ! diff -u docs/openapi.yaml $$generated > $$generated.diff; then \
	    head -40 $$generated.diff; rm -f $$generated $$generated.diff; \
	    echo "docs/openapi.yaml is not what the code generates: run 'make schema' and commit it."; \
	    exit 1; \
	  fi; rm -f $$generated $$generated.diff; echo "docs/openapi.yaml is current"
	@# The API against its own document: schemathesis, every check and phase (stateful
	@# too), on a real server with a scratch database (tests/system/api_fuzz.py).
	DEBUG=true $(BIN)/python -m tests.system.api_fuzz

bench: install
	@echo "Benchmarks: see bench/README or run a script in bench/ with $(BIN)/python"

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .import_linter_cache
