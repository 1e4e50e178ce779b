# skillctl developer tasks. `make demo` and `make test` do all set-up on a fresh Debian machine.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.deps-installed
PYTEST_ARGS ?=
# The Go skillctl's source (a skillimage-*.tar.gz), for the interop suite.
SKILLCTL_PEERS ?= /work/shared/peers
PEER_BIN := $(VENV)/peers/skillctl-go

.PHONY: setup tools install demo test interop e2e-kube lint fmt bench clean

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

# The interop suite (tests/peer, marked `peer`, deselected by default): every case side by side with the
# Go skillctl, built from source.
interop: setup $(PEER_BIN)
	SKILLCTL_GO="$(CURDIR)/$(PEER_BIN)" $(BIN)/pytest -m peer tests/peer $(PYTEST_ARGS)

$(PEER_BIN): .ci/build-peer $(wildcard $(SKILLCTL_PEERS)/skillimage-*.tar.gz)
	@bash .ci/build-peer "$(SKILLCTL_PEERS)" "$@"

# On demand: skill images as image volumes of static Pods on a standalone kubelet (tests marked `kubelet`).
# The first run builds the kubelet with Go (several minutes); root, and it restores the host state it changes.
e2e-kube: setup
	@bash .ci/install-runtimes kubelet
	$(BIN)/pytest -m kubelet $(PYTEST_ARGS)

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
