# The README's commands. `make demo` is the main job, `make test` the test suite; both set up .venv first.
# `make docs` builds the documentation site (warnings are errors), `make lint` runs ruff and mypy.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# A fresh run directory each time (runs are never overwritten), fixed once per make invocation.
ifndef RUN
RUN := runs/demo-$(shell date +%Y%m%d-%H%M%S)
endif
# torch is pinned so that pip takes the CPU build on disk instead of a multi-GB CUDA build.
TORCH := torch==2.13.0

.PHONY: setup setup-dev setup-docs demo test lint ruff types docs bench bench-family bench-before-after clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

setup: $(BIN)/python
	$(BIN)/pip install --quiet $(TORCH) -e .

setup-dev: $(BIN)/python
	$(BIN)/pip install --quiet $(TORCH) -e '.[dev,tensorboard,mlflow]'

setup-docs: $(BIN)/python
	$(BIN)/pip install --quiet $(TORCH) -e '.[docs]'

demo: setup
	$(BIN)/vaekit train --out $(RUN)
	$(BIN)/vaekit evaluate $(RUN)
	$(BIN)/vaekit sample $(RUN)
	$(BIN)/vaekit reconstruct $(RUN)
	$(BIN)/vaekit report $(RUN)
	@echo "outputs in $(RUN)/: config.json, model.safetensors, metrics.jsonl, evaluation.json, samples.png, reconstructions.png"
	@echo "report: $(abspath $(RUN))/report.html"

# The browser tests need Debian's chromium: installed when this machine can (root, apt-get); otherwise those
# tests are skipped, with the reason in pytest's summary.
test: setup-dev
	@if bash .ci/install-browser; then skip=0; else skip=1; fi; \
	VAEKIT_SKIP_BROWSER=$${VAEKIT_SKIP_BROWSER:-$$skip} $(BIN)/python -m pytest -q

lint: ruff types

ruff: setup-dev
	$(BIN)/ruff check src tests

types: setup-dev
	$(BIN)/mypy

docs: setup-docs
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet

# Speed benchmarks (BENCHMARKS.md); they read binarized MNIST from $$VAEKIT_DATA and pythae from its own venv.
bench: setup-dev
	bash benchmarks/setup_pythae.sh
	$(BIN)/python benchmarks/train_speed.py --data fashion-mnist --epochs 5
	$(BIN)/python benchmarks/eval_speed.py --data binarized-mnist --full --k5000
	$(BIN)/python benchmarks/scaling.py --data fashion-mnist --impl both

# Issue 9, section 8: the model family against pythae, one interleaved run (about 40 minutes on a quiet machine).
bench-family: setup-dev
	bash benchmarks/setup_pythae.sh
	$(BIN)/python benchmarks/family_speed.py --data binarized-mnist --epochs 3 --repeats 4 --json benchmarks/results/family_speed.json

# Issue 9, section 5: the plain VAE with vaekit before the refactor (5703c69) and now, one interleaved run.
BEFORE := /tmp/vaekit-before
bench-before-after: setup-dev
	rm -rf $(BEFORE) && mkdir -p $(BEFORE) && git archive 5703c69 src | tar -x -C $(BEFORE)
	$(BIN)/python benchmarks/train_speed.py --data fashion-mnist --epochs 5 --repeats 4 --arms d,f --before-src $(BEFORE)/src --json benchmarks/results/train_speed_before_after.json

clean:
	rm -rf $(VENV) runs site
