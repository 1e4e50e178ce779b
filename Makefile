# skillctl developer tasks. On a fresh Debian 12 machine (root or sudo), each target installs what it needs first
# (.ci/install-tools, by tier): `make demo` only Debian packages and the Python package; `make test` also the
# Go-built crane and cosign; `make interop` also the Go skillctl (skillctl-go); `make lint` only the Python package.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
RUNTIME := $(VENV)/.runtime-installed
STAMP  := $(VENV)/.deps-installed
PYTEST_ARGS ?=
TOOLS  := PYTHON=$(PYTHON) bash .ci/install-tools
# The project's own suite leaves out the tests that need a peer implementation (`peer`: make interop) or a kubelet
# (`kubelet`: run on demand).
TEST_MARKERS := not peer and not kubelet

.PHONY: setup tools tools-demo tools-interop install install-runtime demo test interop lint fmt bench fresh-check clean

setup: tools install

tools:
	@$(TOOLS) test

tools-demo:
	@$(TOOLS) demo

tools-interop:
	@$(TOOLS) interop

# A venv with skillctl's runtime dependencies, and hatchling to build it: all the demo needs.
$(RUNTIME): pyproject.toml
	@$(TOOLS) venv
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q "hatchling>=1.21"
	$(BIN)/pip install -q --no-build-isolation .
	@touch $@

# Plus the test and lint tools.
$(STAMP): $(RUNTIME)
	$(BIN)/pip install -q --no-build-isolation ".[dev]"
	@touch $@

# The package is installed, not linked: the tests run against what a user gets.
install: $(STAMP)
	@$(BIN)/pip install -q --no-deps --no-build-isolation --force-reinstall .

install-runtime: $(RUNTIME)
	@$(BIN)/pip install -q --no-deps --no-build-isolation --force-reinstall .

demo: tools-demo install-runtime
	@PATH="$(CURDIR)/$(BIN):$$PATH" bash examples/demo.sh

test: tools install
	$(BIN)/pytest -m "$(TEST_MARKERS)" $(PYTEST_ARGS)

# Side by side with the Go skillctl, built from its source tarball ($$SKILLCTL_PEERS, see .ci/install-tools).
interop: tools-interop install
	$(BIN)/pytest -m peer $(PYTEST_ARGS)

# The layering is checked on the installed package (where backends/ is skillctl.backends), not the source tree.
# Needs no external tool: it works on a fresh clone before anything else has run.
lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	cd $(VENV) && bin/lint-imports ../pyproject.toml

fmt: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: setup
	$(BIN)/python bench/run.py

# The README's promise checked on a fresh Debian 12 root filesystem (debootstrap; root; see the script's header).
fresh-check:
	bash .ci/fresh-check

clean:
	rm -rf $(VENV) build dist .pytest_cache .ruff_cache
