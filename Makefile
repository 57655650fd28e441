# diffvox: the whole set-up is `make book` and `make test` (see README.md).
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
TORCH_VERSION ?= 2.13.0
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
PRESETS_URL ?= https://raw.githubusercontent.com/SonyResearch/diffvox/main/presets
NOTEBOOKS := $(shell grep -l '^kernelspec:' book/*.md)
NB_DIR := book/_nb
REF_DIR := book/reference_outputs
# deterministic chapters whose marked cells (# NBVAL_CHECK_OUTPUT) nbval compares with $(REF_DIR)
REF_CHAPTERS := book/correlations.md book/pca.md

.PHONY: venv data test pytest nbval wheelhouse offline-smoke nbval-refs book check-book chromium bench check-presets exact-vs-fs robustness full-fit-cpu ablations-full gpu-results gpu-chapters clean

## venv: .venv with torch (local CPU wheel when present), torchlpc, torchcomp and the package
venv: $(VENV)/.stamp
$(VENV)/.stamp: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q "torch==$(TORCH_VERSION)"
	$(PIP) install -q numpy numba "setuptools>=77.0.3" "setuptools-git-versioning>=2,<3" wheel
	$(PIP) install -q --no-build-isolation torchlpc==0.7.2
	$(PIP) install -q --no-build-isolation "torchcomp==0.2.1"
	$(PIP) install -q --no-build-isolation -e ".[book,test]"
	touch $@

## data: data/presets from $$DIFFVOX_PRESETS, ../shared/presets or the public release (sha256-checked)
data:
	$(PYTHON) scripts/fetch_presets.py --out data/presets --url "$(PRESETS_URL)"

## test: unit tests, every chapter validated by nbval, then the offline GPU run's smoke test
test: pytest nbval offline-smoke

pytest: venv data
	$(PY) -m pytest -q tests

nbval: venv data
	rm -rf $(NB_DIR) && mkdir -p $(NB_DIR)
	for nb in $(NOTEBOOKS); do \
	  name=$$(basename $${nb%.md}); \
	  if [ -f $(REF_DIR)/$$name.ipynb ]; then cp $(REF_DIR)/$$name.ipynb $(NB_DIR)/$$name.ipynb; \
	    $(VENV)/bin/jupytext --quiet --update --to ipynb -o $(NB_DIR)/$$name.ipynb $$nb || exit 1; \
	  else $(VENV)/bin/jupytext --quiet --to ipynb -o $(NB_DIR)/$$name.ipynb $$nb || exit 1; fi; \
	done
	cd $(NB_DIR) && ../../$(PY) -m pytest -q --nbval-lax -p no:cacheprovider .

## nbval-refs: re-execute the deterministic chapters and store their outputs for nbval
nbval-refs: venv data
	$(PY) scripts/execute_chapters.py --save $(REF_DIR) $(REF_CHAPTERS)

## book: the Jupyter Book, every page rebuilt and every notebook executed (--all: chapters read
## benchmark JSON files and runs that Sphinx does not track), warnings are errors
book: venv data
	$(PY) scripts/fetch_mathjax.py
	$(VENV)/bin/jupyter-book build . --all --warningiserror --keep-going
	$(MAKE) check-book
	@echo "open _build/html/index.html"

## check-book: open every built chapter in headless Chromium (figures, audio, tables, no tracebacks)
check-book: chromium
	DIFFVOX_BOOK_HTML=_build/html $(PY) -m pytest -q -p no:cacheprovider tests/test_rendered_book.py

chromium:
	@command -v chromium >/dev/null || command -v chromium-browser >/dev/null || \
	  { echo "installing Debian's chromium"; $(SUDO) apt-get install -y -q chromium; }

## bench: the IIR, chain, matching (with a profile of one step) and exact-chain benchmarks (CPU); writes benchmarks/results/*_cpu.json
bench: venv data
	$(PY) benchmarks/iir.py
	$(PY) benchmarks/chain.py
	$(PY) benchmarks/matching.py
	$(PY) benchmarks/profile_step.py
	$(PY) benchmarks/realtime.py

## exact-vs-fs: every published preset rendered by the FS and the exact chain (about 8 min)
exact-vs-fs: venv data
	$(PY) scripts/exact_vs_fs.py

## robustness: matching at default settings on 40 published presets (hours on a CPU; resumable)
robustness: venv data
	$(PY) benchmarks/robustness.py

## check-presets: every published preset rendered in float32 and float64 (about 15 min on 2 cores)
check-presets: venv data
	$(PY) scripts/check_all_presets.py

## full-fit-cpu: one fit at the paper's settings on the CPU (about an hour; resumable); writes book/results/full_fit_cpu
full-fit-cpu: venv data
	$(PY) scripts/full_fit_cpu.py

## ablations-full: the paper's ablation at its settings, one batched run on the CPU (hours;
## resumable across sittings: its state is kept in book/results/ablations_full)
ablations-full: venv data
	$(PY) scripts/ablations_full.py

## gpu-results: on a GPU node, offline: CUDA tests, IIR/chain/matching benchmarks, the scan chapter,
## into $$(OUT) (scripts/gpu_results.py; needs the wheelhouse; no venv, no data step, no network)
WHEELS ?= wheelhouse
OUT ?= gpu-results
BUDGET ?= 540
gpu-results:
	$(PY) scripts/gpu_results.py --wheels $(WHEELS) --out $(OUT) --budget $(BUDGET)

## wheelhouse: where PyPI is reachable, every wheel the offline GPU run needs, for CPython $$(PYVER)
## manylinux x86_64, and the presets, into $$(WHEELS) (at most 40 MB; scripts/offline/wheelhouse.py)
PYVER ?= 3.12
HOST_PY ?= $(if $(wildcard $(PY)),$(PY),python3)
wheelhouse:
	$(HOST_PY) scripts/offline/wheelhouse.py --python-version $(PYVER) --out $(WHEELS)

## offline-smoke: the offline GPU run proved on the CPU, in a fresh venv holding only the node's packages
offline-smoke: venv data
	$(PY) scripts/offline/smoke.py --node-python $(PYTHON) --torch-version $(TORCH_VERSION)

## gpu-chapters: the matching chapters at full size on a GPU (fits at the paper's settings; longer)
gpu-chapters: venv data
	$(PY) -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 'no CUDA device: gpu-chapters needs a GPU')"
	DIFFVOX_FULL=1 $(PY) scripts/execute_chapters.py book/sound_matching.md book/ablations.md

clean:
	rm -rf _build $(NB_DIR) .pytest_cache  # _build also holds the cached matching runs
