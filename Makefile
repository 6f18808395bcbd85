# Set-up on a fresh machine: `make train` or `make test` create .venv (unless a virtualenv is
# active), install the CPU build of torch when no torch is importable, then the package.
SHELL := /bin/bash
ifdef VIRTUAL_ENV
ENV_DIR := $(VIRTUAL_ENV)
else
ENV_DIR := .venv
endif
PY := $(ENV_DIR)/bin/python
STAMP := $(ENV_DIR)/.recsys_pyg_installed
TORCH_SPEC ?= torch==2.13.0

.PHONY: help install train test test-all lint bench ttq dashboard clean

help: ## List the targets
	@grep -E '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "} {printf "  %-10s %s\n", $$1, $$2}'

$(PY):
	python3 -m venv $(ENV_DIR)

$(STAMP): $(PY) pyproject.toml
	@# Keep a torch the user already has; otherwise take the pinned CPU build (no CUDA download).
	$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install "$(TORCH_SPEC)"
	$(PY) -m pip install -e ".[dev]"
	touch $(STAMP)

install: $(STAMP) ## Create the environment and install the package (editable) with test tools

train: $(STAMP) ## Train LightGCN on the embedded synthetic dataset and print test metrics vs MostPop
	$(PY) -m recsys_pyg.train experiment=lightgcn_synthetic $(ARGS)

test: $(STAMP) ## Run the default test suite (slow tests excluded), on every core (pytest-xdist)
	$(PY) -m pytest -q -n auto $(ARGS)

test-all: $(STAMP) ## Run every test, slow ones included
	$(PY) -m pytest -q -n auto -m "slow or not slow" $(ARGS)

lint: $(STAMP) ## Ruff: lint and formatting
	$(PY) -m ruff check recsys_pyg tests scripts
	$(PY) -m ruff format --check recsys_pyg tests scripts

dashboard: $(STAMP) ## MLflow UI on 127.0.0.1 over outputs/mlflow (runs trained with logger=mlflow; ARGS="--port 0")
	$(PY) -m recsys_pyg.dashboard $(ARGS)

clean: ## Remove run outputs (not the environment)
	rm -rf outputs multirun

ttq: $(STAMP) ## Time to quality: test Recall@20 against training minutes per config (scripts/time_to_quality.py $(ARGS))
	$(PY) scripts/time_to_quality.py $(ARGS)

bench: $(STAMP) ## Speed/memory benchmark on Gowalla-sized synthetic data (a few minutes; writes bench_results/)
	$(PY) scripts/bench.py --scaling $(ARGS)
