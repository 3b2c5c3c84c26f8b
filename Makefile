PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP_RUN := $(VENV)/.installed-run
STAMP_DEV := $(VENV)/.installed-dev

.PHONY: demo test bench lint gpu-check clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP_RUN): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(STAMP_DEV): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[dev,oracle,examples]"
	touch $(STAMP_RUN) $@

demo: $(STAMP_RUN)
	$(BIN)/python examples/mlp_demo.py

test: $(STAMP_DEV)
	$(BIN)/python -m pytest tests

bench: $(STAMP_DEV)
	$(BIN)/python -m pytest benchmarks --benchmark-only --benchmark-columns=min,median,mean

lint: $(STAMP_DEV)
	$(BIN)/ruff check tensorgrad tests benchmarks examples

# On a machine with CuPy and a GPU (run from source: PYTHONPATH=. python3 ...).
gpu-check:
	PYTHONPATH=. python3 -m pytest tests -m cuda -q
	PYTHONPATH=. python3 -m pytest benchmarks --benchmark-only -q

clean:
	rm -rf $(VENV) .pytest_cache .benchmarks build *.egg-info
