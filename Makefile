# The two commands a new user needs: `make demo` and `make test`. Both set themselves up.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip --disable-pip-version-check
DATA   ?= data/synth
export MALLOC_MMAP_THRESHOLD_ ?= 1073741824
export MALLOC_TRIM_THRESHOLD_ ?= 1073741824

.PHONY: install install-dev demo test lint reproduce benchmarks clean

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

lint: install-dev
	$(VENV)/bin/ruff check audiointerp tests benchmarks

## make reproduce: execute the numbered notebooks in order with papermill
reproduce: install
	$(PY) -m audiointerp reproduce --data $(DATA) $(if $(PRETRAINED),--pretrained $(PRETRAINED),)

benchmarks: install
	for f in benchmarks/bench_*.py; do $(PY) $$f || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache
