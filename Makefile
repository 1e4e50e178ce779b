# skillctl developer tasks. On a fresh Debian 12 machine (root or sudo), each target installs what it needs first
# (.ci/install-tools, by tier): `make demo` only Debian packages and the Python package; `make test` also the
# Go-built crane, cosign, containerd and crictl; `make interop` and `make bench` also the Go skillctl
# (skillctl-go); `make e2e-kube` a kubelet; `make lint` only the Python package.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
RUNTIME := $(VENV)/.runtime-installed
STAMP  := $(VENV)/.deps-installed
PYTEST_ARGS ?=
TOOLS  := PYTHON=$(PYTHON) bash .ci/install-tools

.PHONY: setup tools tools-demo tools-interop tools-kubelet install install-runtime demo test interop e2e-kube lint fmt \
	bench fresh-check clean

setup: tools install

tools:
	@$(TOOLS) test

tools-demo:
	@$(TOOLS) demo

tools-interop:
	@$(TOOLS) interop

tools-kubelet:
	@$(TOOLS) kubelet

# A venv with skillctl, the `serve` extra (the demo ends with the catalog), and hatchling to build it: all the demo
# needs.
$(RUNTIME): pyproject.toml
	@$(TOOLS) venv
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q "hatchling>=1.21"
	$(BIN)/pip install -q --no-build-isolation ".[serve]"
	@touch $@

# Plus the test and lint tools, and what `skillctl serve` and `skillctl mcp` load.
$(STAMP): $(RUNTIME)
	$(BIN)/pip install -q --no-build-isolation ".[dev,serve]"
	@touch $@

# The package is installed, not linked: the tests run against what a user gets.
install: $(STAMP)
	@$(BIN)/pip install -q --no-deps --no-build-isolation --force-reinstall .

install-runtime: $(RUNTIME)
	@$(BIN)/pip install -q --no-deps --no-build-isolation --force-reinstall .

demo: tools-demo install-runtime
	@PATH="$(CURDIR)/$(BIN):$$PATH" bash examples/demo.sh

# The project's own suite: pyproject.toml's addopts leave out the tests marked `peer` and `kubelet` (below).
test: tools install
	$(BIN)/pytest $(PYTEST_ARGS)

# The interop suite (tests/peer, marked `peer`): side by side with the Go skillctl, built from its source tarball
# ($$SKILLCTL_PEERS, see .ci/install-tools).
interop: tools-interop install
	$(BIN)/pytest -m peer tests/peer $(PYTEST_ARGS)

# On demand: skill images as image volumes of static Pods on a standalone kubelet (tests marked `kubelet`).
# The first run builds the kubelet with Go (several minutes); root, and it restores the host state it changes.
e2e-kube: tools-kubelet install
	$(BIN)/pytest -m kubelet $(PYTEST_ARGS)

# The layering is checked on the installed package (where backends/ is skillctl.backends), not the source tree.
# Needs no external tool: it works on a fresh clone before anything else has run.
lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	cd $(VENV) && bin/lint-imports ../pyproject.toml

fmt: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# The side-by-side table needs the Go skillctl: the interop tier builds it.
bench: tools-interop install
	$(BIN)/python bench/run.py

# The README's promise checked on a fresh Debian 12 root filesystem (debootstrap; root; see the script's header).
fresh-check:
	bash .ci/fresh-check

clean:
	rm -rf $(VENV) build dist .pytest_cache .ruff_cache
