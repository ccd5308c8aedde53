# The two commands of the README: `make demo` (main job) and `make test` (whole suite).
# Both create .venv on a fresh machine. torch is pinned to 2.13.0 here: on the project's
# machines that version installs a CPU build from local disk (see README for CUDA).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

# cect and wormneuroatlas: the real-data examples and tests read their data files and
# never import them; --no-deps because cect pins numpy < 2.4 (the same pins as the
# `realdata` extra in pyproject.toml; tests/test_packaging.py checks they agree).
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e '.[test,docs]'
	$(PY) -m pip install --quiet --no-deps cect==0.3.5 wormneuroatlas==0.0.7.3
	touch $(STAMP)

.PHONY: venv demo test bench docs docs-serve
venv: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/synaptica run stdp-digits --out runs/stdp-digits

test: $(STAMP)
	$(PY) -m ruff check src tests bench examples
	$(PY) -m pytest -q

bench: $(STAMP)
	$(PY) bench/cuba.py

# The documentation site: strict build into site/ (any warning fails); docs-serve previews it live.
docs: $(STAMP)
	$(VENV)/bin/mkdocs build --strict --site-dir site

docs-serve: $(STAMP)
	$(VENV)/bin/mkdocs serve
