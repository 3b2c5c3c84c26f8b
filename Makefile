PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP_RUN := $(VENV)/.installed-run
STAMP_DEV := $(VENV)/.installed-dev

.PHONY: demo test fuzz bench lint gpu-check clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP_RUN): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(STAMP_DEV): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[dev,oracle,examples]"
	touch $(STAMP_RUN) $@

# the main job: digits from scikit-learn (shipped with it, nothing downloaded), see README
demo: $(STAMP_RUN)
	@$(BIN)/python -c "import sklearn, tqdm, matplotlib" 2>/dev/null || \
		$(BIN)/python -m pip install --quiet -e ".[examples]"
	$(BIN)/python examples/train_digits.py

test: $(STAMP_DEV)
	$(BIN)/python -m pytest tests

# the long randomized profile of tests/test_fuzz.py (many examples, random seed)
fuzz: $(STAMP_DEV)
	TENSORGRAD_FUZZ=fuzz $(BIN)/python -m pytest tests/test_fuzz.py -q -o addopts=""

# The benchmark set W1-W6 against NumPy by hand, PyTorch, HIPS autograd (and JAX when
# installed), each checked first, timed in alternation; writes benchmarks/RESULTS.md,
# results.png, scaling.png and results.json (a few minutes). BENCH_ARGS=--quick checks the
# machinery fast; see benchmarks/README.md.
bench: $(STAMP_DEV)
	$(BIN)/python benchmarks/run.py $(BENCH_ARGS)

lint: $(STAMP_DEV)
	$(BIN)/ruff check tensorgrad tests benchmarks examples

# On a machine with an NVIDIA GPU, CuPy, PyTorch, pytest and pytest-benchmark, and no network:
# installs nothing, runs from source with that machine's python3. Four steps, each run even
# when an earlier one fails: (1) the `cuda`-marked tests on real CuPy, tests/test_kernels_gpu.py
# (every kernel against its NumPy reference) among them; (2) the GPU benchmarks
# (benchmarks/test_bench_gpu.py), one pytest process per workload, so that a GPU fault in one
# cannot take the others down; (3) where the MLP step's time goes (benchmarks/gpu_profile.py:
# host time per phase against GPU time, for tensorgrad, hand-written CuPy and PyTorch);
# (4) the report, written to gpu-report.md (and to
# $OUT/gpu-report.md when OUT is set, with the raw results in $OUT/gpu-check/) and printed.
# Time limits per step keep the whole under 8 minutes (normally about 4). Raw results (junit
# XML, benchmark JSON, logs) stay in build/gpu-check/. Exits non-zero at the end if any step
# failed.
# The cuda tests run these files first (the kernels on the GPU, the op table, the device API,
# training; tests/conftest.py orders by TENSORGRAD_TESTS_FIRST), then the others: if the
# 300 s limit cuts the run, what is cut is the newer surface, and the report says how far it
# got (run the files it did not reach in a second call).
GPU_FIRST = test_kernels_gpu.py test_device.py test_op_torch.py test_op_grads.py \
	test_training_equivalence.py test_cuda_api.py test_amp.py test_rnn_fused.py \
	test_rnn_sequence.py test_nn_functional.py test_optim.py test_sparse_embedding_grad.py \
	test_io.py test_functional.py test_vmap_batched.py

gpu-check:
	@d=build/gpu-check; mkdir -p $$d; rm -f $$d/*; export PYTHONPATH=. TENSORGRAD_CUPY_STANDIN=0; \
	limit() { s=$$1; shift; \
		if command -v timeout >/dev/null 2>&1; then timeout -s INT -k 20 $$s "$$@"; \
		else "$$@"; fi; }; \
	start=$$(date +%s); status=0; steps=""; jsons=""; \
	echo "== gpu-check 1/4: cuda tests on real CuPy (limit 300 s)"; \
	{ TENSORGRAD_TESTS_FIRST="$(GPU_FIRST)" limit 300 python3 -m pytest tests -m cuda -q \
		-p no:cacheprovider -o addopts="" --junitxml=$$d/tests.xml 2>&1; \
		echo $$? > $$d/tests.rc; } | tee $$d/tests.log; \
	rc=$$(cat $$d/tests.rc); [ "$$rc" = 0 ] || status=1; steps="--step cuda-tests=$$rc"; \
	for w in mlp chain xent adam; do \
		left=$$((start + 420 - $$(date +%s))); [ $$left -le 100 ] || left=100; \
		if [ $$left -lt 20 ]; then echo "== gpu-check: no time left for benchmark $$w"; \
			status=1; steps="$$steps --step bench-$$w=not-run"; continue; fi; \
		echo "== gpu-check 2/4: GPU benchmark $$w (limit $$left s)"; \
		{ limit $$left python3 -m pytest benchmarks/test_bench_gpu.py -k gpu_$$w -q -rs \
			-p no:cacheprovider -o addopts="" --junitxml=$$d/bench-$$w.xml \
			--benchmark-json=$$d/bench-$$w.json --benchmark-columns=min,median,rounds 2>&1; \
			echo $$? > $$d/bench-$$w.rc; } | tee -a $$d/bench.log; \
		rc=$$(cat $$d/bench-$$w.rc); [ "$$rc" = 0 ] || status=1; \
		steps="$$steps --step bench-$$w=$$rc"; jsons="$$jsons $$d/bench-$$w.json"; \
	done; \
	echo "== gpu-check 3/4: where the MLP step's time goes (limit 50 s)"; \
	{ limit 50 python3 benchmarks/gpu_profile.py $$d/profile.md 2>&1; \
		echo $$? > $$d/profile.rc; } | tee $$d/profile.log; \
	rc=$$(cat $$d/profile.rc); [ "$$rc" = 0 ] || status=1; steps="$$steps --step profile=$$rc"; \
	echo "== gpu-check 4/4: report"; \
	limit 60 python3 benchmarks/gpu_report.py gpu-report.md --tests-junit $$d/tests.xml \
		--tests-log $$d/tests.log --bench-json $$jsons \
		--bench-junit $$d/bench-*.xml --append $$d/profile.md $$steps || status=1; \
	if [ -n "$$OUT" ]; then mkdir -p "$$OUT/gpu-check" && cp gpu-report.md "$$OUT/" && \
		cp $$d/* "$$OUT/gpu-check/" || status=1; fi; \
	exit $$status

clean:
	rm -rf $(VENV) .pytest_cache .benchmarks build *.egg-info
