PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test check venv dev-venv bench clean

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

# Test processes (pytest-xdist): two per core, since most flow tests wait on servers and subprocesses
# (measured here on 2 cores: 12 min with 2 processes, 9 with 4). Each process starts its own
# throwaway PostgreSQL server and binds free ports, so tests never share state.
TEST_PROCESSES ?= $(shell echo $$(( $$(nproc) * 2 )))

# The whole suite, both databases.
test: $(VENV)/.dev
	$(BIN)/ruff format --check gateway tests bench
	$(BIN)/ruff check gateway tests bench
	$(BIN)/python -m mypy
	$(BIN)/python -m pytest -q -n $(TEST_PROCESSES)

# The inner loop (under two minutes): lint, types, and the tests that need no server process.
check: $(VENV)/.dev
	$(BIN)/ruff format --check gateway tests bench
	$(BIN)/ruff check gateway tests bench
	$(BIN)/python -m mypy
	$(BIN)/python -m pytest -q -n $(TEST_PROCESSES) tests/unit tests/api tests/providers tests/store

bench: $(VENV)/.dev
	$(BIN)/python bench/match.py

clean:
	rm -rf $(VENV) gateway.db
