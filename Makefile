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

# On a machine with CuPy and a GPU, with that machine's python3 (run from source). The GPU
# benchmarks need pytest-benchmark; where it is missing they are skipped with a message.
gpu-check:
	PYTHONPATH=. python3 -m pytest tests -m cuda -q -p no:cacheprovider
	if PYTHONPATH=. python3 -c "import pytest_benchmark" 2>/dev/null; then \
		cd benchmarks && PYTHONPATH=.. python3 -m pytest test_bench_gpu.py -q -p no:cacheprovider; \
	else echo "gpu-check: pytest-benchmark is not installed; GPU benchmarks skipped"; fi

clean:
	rm -rf $(VENV) .pytest_cache .benchmarks build *.egg-info
