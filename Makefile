# The two commands a new user needs: `make demo` and `make test`. Both set themselves up.
# `make lab` opens the notebooks in JupyterLab; `make explore` serves the explorer app.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip --disable-pip-version-check
DATA   ?= data/synth
WEIGHTS ?= weights/default_mel.pt
PORT   ?= 8866
LAB_ARGS ?=
# JupyterLab refuses to start as root (containers, CI) unless told that is intended.
ROOT_OK := $(if $(filter 0,$(shell id -u)),--allow-root,)
export MALLOC_MMAP_THRESHOLD_ ?= 1073741824
export MALLOC_TRIM_THRESHOLD_ ?= 1073741824

.PHONY: install install-dev demo test lint lab explore reproduce benchmarks clean

$(VENV)/.installed: requirements.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q -r requirements.txt
	$(PIP) install -q --no-deps -e .
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed requirements-dev.txt
	$(PIP) install -q -r requirements-dev.txt
	touch $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

## make demo: install, generate the synthetic benchmark, run the paper's grid, write tables
demo: install
	$(PY) -m audiointerp demo --data $(DATA)

## make test: install with dev extras and run the test suite
test: install-dev
	$(PY) -m pytest -q

## make lab: JupyterLab on 127.0.0.1 at the notebooks (kernels start in notebooks/; the
## notebooks resolve their paths against the repository root)
lab: install
	$(PY) -m jupyter lab --ServerApp.ip=127.0.0.1 --ServerApp.root_dir=$(CURDIR) \
		--ServerApp.default_url=/lab/tree/notebooks $(ROOT_OK) $(LAB_ARGS)

## make explore: the explorer (notebook 07) as a web app with Voila on 127.0.0.1:$(PORT)
explore: install
	$(PY) -m audiointerp explore --weights $(WEIGHTS) --data $(DATA) --port $(PORT)

lint: install-dev
	$(VENV)/bin/ruff check audiointerp tests benchmarks

## make reproduce: execute the numbered notebooks in order with papermill
reproduce: install
	$(PY) -m audiointerp reproduce --data $(DATA) $(if $(PRETRAINED),--pretrained $(PRETRAINED),)

benchmarks: install
	for f in benchmarks/bench_*.py; do $(PY) $$f || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache
