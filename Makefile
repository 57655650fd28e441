# diffvox: the whole set-up is `make book` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
TORCH_VERSION ?= 2.13.0
PRESETS_URL ?= https://raw.githubusercontent.com/SonyResearch/diffvox/main/presets
export DIFFVOX_PRESETS ?= $(CURDIR)/data/presets

.PHONY: venv data test pytest nbval book bench gpu-results clean

# Installs in the order that works offline here; the stamp keeps it quick when done.
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

# Fills data/presets from $$DIFFVOX_PRESETS_SRC, else ../shared/presets, else the public release.
data: data/presets/.stamp
data/presets/.stamp:
	$(PYTHON) scripts/fetch_presets.py --out data/presets --url "$(PRESETS_URL)"
	touch $@

test: venv data
	$(PY) -m pytest -q tests
	$(PY) scripts/notebooks.py nbval

pytest: venv data
	$(PY) -m pytest -q tests

book: venv data
	$(PY) scripts/notebooks.py build

bench: venv data
	$(PY) benchmarks/iir.py

gpu-results: venv data
	DIFFVOX_FULL=1 $(PY) -m pytest -q -m cuda tests
	DIFFVOX_FULL=1 $(PY) benchmarks/iir.py --device cuda

clean:
	rm -rf _build .pytest_cache
