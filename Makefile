# keras-rdkl: `make demo` runs the main job, `make test` runs the whole suite on
# TensorFlow, JAX and PyTorch (each backend in its own process).
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

.PHONY: demo test venv lint bench clean

$(VENV)/.installed: pyproject.toml Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q $(BACKEND_PKGS) -e ".[test,examples]"
	$(PY) -m pip install -q --no-deps keras-hub
	$(PY) -m pip install -q $(HUB_DEPS)
	touch $@

venv: $(VENV)/.installed

demo: $(VENV)/.installed
	KERAS_BACKEND=$(DEMO_BACKEND) $(PY) examples/ner_global_pointer.py --dataset cluener --rdrop-alpha 1.0 --output-dir runs/demo

test: $(VENV)/.installed
	@status=0; for b in $(BACKENDS); do \
	  echo "=== KERAS_BACKEND=$$b"; \
	  KERAS_BACKEND=$$b $(PY) -m pytest $(PYTEST_ARGS) || status=1; \
	done; exit $$status

lint: $(VENV)/.installed
	$(PY) -m pip install -q ruff && $(VENV)/bin/ruff check keras_rdkl tests examples bench

clean:
	rm -rf $(VENV) runs .pytest_cache
