# The two README commands (`make reports`, `make test`), `make lab` and `make present`.
# Every target creates .venv when missing and installs tdxlib into it from the pinned constraints.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: reports test test-fast lint typecheck lab present git-filter bench clean-venv

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

# The fast lane while editing: lint and every test but the notebook and browser ones (no kernels, no chromium).
test-fast: lint
	$(BIN)/python -m pytest -q -m "not notebooks and not browser"

# JupyterLab on notebooks/, on the tdxlib kernel; --allow-root added when run as root; git strips
# notebook outputs on commit (nbstripout as a filter, see .gitattributes).
# Extra options: make lab LAB_ARGS="--ip 0.0.0.0 --port 8890 --no-browser"
LAB_ARGS ?=
lab: $(STAMP) git-filter
	$(BIN)/python -m tdxlib.workbook.launch lab --dir notebooks $(LAB_ARGS)

# nbstripout as the git filter that .gitattributes names (cell ids kept): a notebook saved with outputs
# is committed without them. Outside a git checkout there is nothing to install.
git-filter: $(STAMP)
	@if git rev-parse --git-dir >/dev/null 2>&1; then \
	  git config filter.nbstripout.clean "'$(CURDIR)/$(BIN)/python' -m nbstripout --keep-id"; \
	  git config filter.nbstripout.smudge cat; \
	  git config diff.ipynb.textconv "'$(CURDIR)/$(BIN)/python' -m nbstripout --keep-id -t"; \
	fi

# The notebooks served by Voila for reviewers who do not code: code hidden, the same live panels.
# Extra options: make present PRESENT_ARGS="--port 8867 --no-browser"
PRESENT_ARGS ?=
present: $(STAMP)
	$(BIN)/python -m tdxlib.workbook.launch present --dir notebooks $(PRESENT_ARGS)

bench: $(STAMP)
	for b in benchmarks/bench_*.py; do $(BIN)/python $$b || exit 1; done

clean-venv:
	rm -rf $(VENV)
