PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test venv dev-venv bench clean

$(BIN)/gateway: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e .
	touch $(BIN)/gateway

$(VENV)/.dev: $(BIN)/gateway
	$(BIN)/pip install -q -e '.[dev]'
	touch $(VENV)/.dev

venv: $(BIN)/gateway
dev-venv: $(VENV)/.dev

run: $(BIN)/gateway
	$(BIN)/gateway serve --demo

test: $(VENV)/.dev
	$(BIN)/python -m mypy
	$(BIN)/python -m pytest -q

bench: $(VENV)/.dev
	$(BIN)/python bench/match.py

clean:
	rm -rf $(VENV) gateway.db
