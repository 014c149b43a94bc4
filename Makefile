# Two entry points, each installing what it needs first (Python venv, buf from npm):
#   make serve   serve the bot on the default model (trained first when there is none)
#   make test    lint, type-check and run every test
# Everything else here is a step of those two.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
BUF := node_modules/.bin/buf
PORT ?= 50051
HOST ?= 127.0.0.1

.PHONY: serve test lint

$(INSTALLED): setup.cfg pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip==26.3
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[server,report,dev]'
	touch $@

$(BUF): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

serve: $(INSTALLED)
	$(BIN)/hatbot serve --host $(HOST) --port $(PORT)

lint: $(INSTALLED) $(BUF)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy client server models tools tests benchmarks
	$(BUF) lint
	$(BUF) format --exit-code --diff

test: lint
	$(BIN)/python -m pytest
