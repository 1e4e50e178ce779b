# skillctl developer tasks. `make demo` and `make test` do all set-up on a fresh Debian machine.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.deps-installed
PYTEST_ARGS ?=

.PHONY: setup tools install demo test lint fmt bench clean

setup: tools install

tools:
	@bash .ci/install-tools

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q ".[dev,serve]"
	@touch $@

# The package is installed, not linked: the tests run against what a user gets.
install: $(STAMP)
	@$(BIN)/pip install -q --no-deps --no-build-isolation --force-reinstall .

demo: setup
	@PATH="$(CURDIR)/$(BIN):$$PATH" bash examples/demo.sh

test: setup
	$(BIN)/pytest $(PYTEST_ARGS)

# The layering is checked on the installed package (where backends/ is skillctl.backends), not the source tree.
lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	cd $(VENV) && bin/lint-imports ../pyproject.toml

fmt: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: setup
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) build dist .pytest_cache .ruff_cache
