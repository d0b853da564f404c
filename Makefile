# The two commands of the README: `make run` and `make test`. Everything else is a helper.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test lint format install clean clients

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --editable ".[dev]"
	test -f .env || printf '# Development checkout (see .env.example for production)\nDEBUG=1\n' > .env
	touch $(STAMP)

install: $(STAMP)

## Run the gateway with embedded defaults (SQLite, in-process counters, a Celery worker with a
## file-system broker, the demo upstream). DEBUG defaults to on here; production sets DEBUG=0.
run: $(STAMP)
	DEBUG=$${DEBUG:-1} $(BIN)/python manage.py serve

## The whole test suite. Set DATABASE_URL / REDIS_URL to include the PostgreSQL and Redis tests.
test: $(STAMP)
	DEBUG=1 $(BIN)/python -m pytest -q

## The real clients that tests/clients runs (Claude Code, Codex, the Node SDKs), pinned by
## tests/clients/node/package-lock.json; installed again only when that file changes.
CLIENTS := tests/clients/node
$(CLIENTS)/node_modules/.installed: $(CLIENTS)/package.json $(CLIENTS)/package-lock.json
	npm ci --prefix $(CLIENTS) --no-audit --no-fund
	touch $@

clients: $(CLIENTS)/node_modules/.installed

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	DEBUG=1 $(BIN)/python manage.py makemigrations --check --dry-run

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf var/ $(VENV)
