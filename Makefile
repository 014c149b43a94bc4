# Two entry points, each installing what it needs first (Python venv, buf from npm):
#   make serve   serve the bot on the default model (trained first when there is none)
#   make test    lint, type-check and run every test
# Everything else here is a step of those two.
#
# make serve CORPUS=path/to/20news-bydate.tar.gz trains a model from that corpus into
# var/models/NAME, unless one is there, and serves it. NAME is the corpus's file name up to
# its first "-" or "." (20news); MODEL=DIR puts the model elsewhere (or, without CORPUS,
# serves DIR), TRAIN_ARGS adds hatbot train options. To retrain, delete the directory.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
BUF := node_modules/.bin/buf
PORT ?= 50051
HOST ?= 127.0.0.1
CORPUS ?=
TRAIN_ARGS ?=
ifneq ($(CORPUS),)
MODEL_NAME ?= $(firstword $(subst -, ,$(subst ., ,$(notdir $(patsubst %/,%,$(CORPUS))))))
MODEL ?= var/models/$(MODEL_NAME)
endif

.PHONY: serve test lint

$(INSTALLED): setup.cfg setup.py pyproject.toml constraints.txt server/hatbot/server/_ranking.c
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip==26.3
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[server,report,dev]'
	touch $@

$(BUF): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

ifeq ($(CORPUS),)
serve: $(INSTALLED)
	$(BIN)/hatbot serve --host $(HOST) --port $(PORT)$(if $(MODEL), --model $(MODEL))
else
serve: $(INSTALLED) $(MODEL)/manifest.json
	$(BIN)/hatbot serve --host $(HOST) --port $(PORT) --model $(MODEL)

# Only when there is no model yet: a newer corpus or install does not retrain.
$(MODEL)/manifest.json: | $(INSTALLED)
	$(BIN)/hatbot train --corpus $(CORPUS) --out $(MODEL) --name $(MODEL_NAME) $(TRAIN_ARGS)
endif

lint: $(INSTALLED) $(BUF)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy client server models tools tests benchmarks deploy
	$(BUF) lint
	$(BUF) format --exit-code --diff

test: lint
	$(BIN)/python -m pytest
