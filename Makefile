# Thin wrappers over the CLI and pytest. `make demo` and `make test` are the README's two commands.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# The stamp records a finished install; it is redone when the project's dependencies change.
STAMP := $(VENV)/.installed

.PHONY: setup demo lint format test test-fast bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# torch first and exactly pinned: it takes the CPU wheel on this machine (a range would pull CUDA).
	$(BIN)/python -m pip install --quiet "torch==2.13.0"
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $(STAMP)

demo: setup
	$(BIN)/clickintent demo

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# Rewrites files: ruff's safe fixes (import order, unused imports, ...), then the formatter.
format: setup
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

test: lint
	$(BIN)/python -m pytest -q

# Everything not marked slow (no dbt build, no Feast repo): a quick check while editing.
test-fast: setup
	$(BIN)/python -m pytest -q -m "not slow"

bench: setup
	$(BIN)/python bench/pipeline.py

clean:
	rm -rf data dbt_project/target dbt_project/logs
