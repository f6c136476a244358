# keras-rdkl: `make demo` installs the package and one backend and runs the main
# job; `make test` installs everything and runs the whole suite on TensorFlow,
# JAX and PyTorch (each backend in its own process).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
BACKENDS ?= tensorflow jax torch
DEMO_BACKEND ?= jax
# torch==2.13.0 is the CPU build; an unpinned torch pulls a multi-GB CUDA build.
BACKEND_PKGS ?= torch==2.13.0 tensorflow-cpu jax
# keras-hub (BERT checkpoints in keras_rdkl.compat.bert4keras) declares
# tensorflow-text, which pulls full TensorFlow: it goes in without its declared
# dependencies, then the ones it imports.
HUB_DEPS ?= tokenizers regex rich kagglehub kagglesdk==0.1.28 sentencepiece absl-py packaging
# The real corpora of this repository's own runs (demo, tests) live beside the
# checkout; keras_rdkl.datasets finds them through this variable.
export KERAS_RDKL_DATA ?= $(abspath ../shared/data)

.PHONY: demo test test-floor venv lint format-check bench clean

$(VENV)/.installed: pyproject.toml Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q $(BACKEND_PKGS) -e ".[test,examples]"
	$(PY) -m pip install -q --no-deps keras-hub
	$(PY) -m pip install -q $(HUB_DEPS)
	touch $@

venv: $(VENV)/.installed

# The demo needs the package and its one backend only (jax: about 150 MB of
# wheels, under a minute to install); `make test` adds everything else to the
# same venv. Training is capped at 540 s (about 6 minutes on 2 CPU cores).
DEMO_PKGS ?= $(filter $(DEMO_BACKEND)%,$(BACKEND_PKGS))

$(VENV)/.demo-installed: pyproject.toml Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q $(DEMO_PKGS) -e .
	touch $@

demo: $(VENV)/.demo-installed
	@echo "=== Training on $(DEMO_BACKEND) for at most 540 s (about 6 min on 2 CPU cores)"
	KERAS_BACKEND=$(DEMO_BACKEND) $(PY) examples/ner_global_pointer.py --dataset cluener --encoder bilstm --rdrop-alpha 0.5 --learning-rate 5e-3 --epochs 5 --time-budget 540 --output-dir runs/demo

# Two test processes per backend run (pytest-xdist, one per core on the 2-core
# CI machine), each test file in one process so its compiled shapes are reused.
PYTEST_ARGS ?= -n auto --dist loadfile

# The tests compile many small programs once each: XLA's CPU optimization
# passes cost more compile time there than they save (JAX and TensorFlow's
# jit_compile tests; about 40% of a JAX test file's time).
TEST_XLA_FLAGS ?= --xla_backend_optimization_level=0 --xla_llvm_disable_expensive_passes=true

test: $(VENV)/.installed
	@status=0; for b in $(BACKENDS); do \
	  echo "=== KERAS_BACKEND=$$b"; \
	  XLA_FLAGS="$(TEST_XLA_FLAGS)" KERAS_BACKEND=$$b $(PY) -m pytest $(PYTEST_ARGS) || status=1; \
	done; exit $$status

# The lowest Keras pyproject.toml allows, in a venv of its own, on one backend
# (torch: the fastest suite). Keeps the declared floor honest.
FLOOR_VENV ?= .venv-floor
FLOOR_BACKEND ?= torch
KERAS_FLOOR := $(shell sed -n 's/.*"keras>=\([0-9.]*\)".*/\1/p' pyproject.toml)

$(FLOOR_VENV)/.installed: pyproject.toml Makefile
	test -x $(FLOOR_VENV)/bin/python || $(PYTHON) -m venv $(FLOOR_VENV)
	$(FLOOR_VENV)/bin/python -m pip install -q "keras==$(KERAS_FLOOR)" torch==2.13.0 -e ".[test]"
	touch $@

test-floor: $(FLOOR_VENV)/.installed
	@echo "=== Keras $(KERAS_FLOOR), KERAS_BACKEND=$(FLOOR_BACKEND)"
	KERAS_BACKEND=$(FLOOR_BACKEND) $(FLOOR_VENV)/bin/python -m pytest $(PYTEST_ARGS)

LINT_PATHS ?= keras_rdkl tests examples bench tools conftest.py

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check $(LINT_PATHS)

format-check: $(VENV)/.installed
	$(VENV)/bin/ruff format --check $(LINT_PATHS)

# Quick (smoke) modes of the benchmarks; full runs and their results are in
# BENCHMARKS.md. Tables go to runs/bench, not over the committed results.
BENCH_OUT ?= runs/bench

bench: $(VENV)/.installed
	mkdir -p $(BENCH_OUT)
	$(PY) bench/losses.py --quick --out $(BENCH_OUT)/losses.md
	$(PY) bench/global_pointer.py --quick --output $(BENCH_OUT)/global_pointer.md
	$(PY) bench/rdrop.py --quick
	$(PY) bench/ner_heads.py --quick --output $(BENCH_OUT)/ner_heads.md
	$(PY) bench/bert.py --quick --output $(BENCH_OUT)/bert.md
	$(PY) bench/ner_encoders.py --quick --output $(BENCH_OUT)/ner_encoders.md
	$(PY) bench/adversarial.py --quick --output $(BENCH_OUT)/adversarial.md
	$(PY) bench/serving.py --quick --output $(BENCH_OUT)/serving.md

clean:
	rm -rf $(VENV) $(FLOOR_VENV) runs .pytest_cache
