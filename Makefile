# The two README commands (`make reports`, `make test`) and `make lab`.
# Every target creates .venv when missing and installs tdxlib into it from the pinned constraints.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: reports test test-fast lint typecheck lab bench clean-venv

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Re-install only when the dependency list or the pins change.
$(STAMP): $(BIN)/python pyproject.toml constraints.txt
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	$(BIN)/python -m ipykernel install --sys-prefix --name tdxlib --display-name "tdxlib (.venv)" >/dev/null
	touch $(STAMP)

# Cached: re-executes only runs whose notebook, parameters, tdxlib source or data changed.
# Extra options: make reports REPORT_ARGS="--only 02_vector_budget --force"
REPORT_ARGS ?=
reports: $(STAMP)
	$(BIN)/tdxlib report $(REPORT_ARGS)

# ruff, then the layers (import-linter contracts in pyproject.toml: a layer imports only those below).
lint: $(STAMP)
	$(BIN)/ruff check tdxlib tests benchmarks
	$(BIN)/ruff format --check tdxlib tests benchmarks
	$(BIN)/lint-imports --no-cache

typecheck: $(STAMP)
	$(BIN)/mypy

test: lint typecheck
	$(BIN)/python -m pytest -q

# The fast lane while editing: lint and every test but the notebook, browser and whole-sweep ones (no
# kernels, no chromium, no Dask clusters of their own).
test-fast: lint
	$(BIN)/python -m pytest -q -m "not notebooks and not browser and not cluster"

lab: $(STAMP)
	$(BIN)/jupyter lab --notebook-dir=notebooks

bench: $(STAMP)
	for b in benchmarks/bench_*.py; do $(BIN)/python $$b || exit 1; done

clean-venv:
	rm -rf $(VENV)
