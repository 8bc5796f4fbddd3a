# The two set-up commands of the README: `make demo` and `make test`. Both work from nothing.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# pytest workers: 2 by default (the CI machine has 2 cores)
JOBS ?= 2

.PHONY: install demo test test-fast clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

# torch/torchvision first and pinned: this machine keeps these two on disk (no multi-GB download).
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q "torch==2.14.1" "torchvision==0.29.1"
	$(BIN)/python -m pip install -q -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(BIN)/orchestrator reproduce quickstart --scale mini
	@echo "Report: results/out/report.md   ·   MLflow UI: $(BIN)/orchestrator ui  (http://127.0.0.1:5000)"

test: install
	$(BIN)/python -m pytest -n $(JOBS) --dist loadgroup -q

test-fast: install
	$(BIN)/python -m pytest -n $(JOBS) --dist loadgroup -q -m "not slow"

clean:
	rm -rf $(VENV) mlruns mlruns.db mlartifacts ray_results results/out
