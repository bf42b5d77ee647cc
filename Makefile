# Two entry points for a fresh machine: `make demo` (set up + main job on the embedded default) and
# `make test` (set up + the test suite). Both create the virtual environment when it is missing.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# what each target installs (pyproject.toml): the main command needs the dependencies alone; the test suite also
# runs the DVC pipeline, protocol svm and the benchmark files, so it installs those extras too
RUNTIME_STAMP := $(VENV)/.vssl-runtime
STAMP := $(VENV)/.vssl-installed
EXTRAS := pipeline,svm,test,bench

.PHONY: demo test bench venv clean-venv

$(VENV)/.vssl-torch:
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	# torch first, pinned: pip takes it from local disk in about a minute; nothing is downloaded at run time.
	$(PY) -m pip install --quiet torch==2.14.1 torchvision==0.29.1
	touch $@

$(RUNTIME_STAMP): pyproject.toml $(VENV)/.vssl-torch
	$(PY) -m pip install --quiet -e .
	touch $@

$(STAMP): pyproject.toml $(VENV)/.vssl-torch
	$(PY) -m pip install --quiet -e '.[$(EXTRAS)]'
	touch $@ $(RUNTIME_STAMP)

venv: $(STAMP)

demo: $(RUNTIME_STAMP)
	$(PY) protocols/run.py method=tcgl

test: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(PY) -m pytest -q

bench: $(STAMP)
	$(PY) -m pytest benchmarks -q --benchmark-only --benchmark-enable

clean-venv:
	rm -rf $(VENV)
