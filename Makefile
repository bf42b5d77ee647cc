# Two entry points for a fresh machine: `make demo` (set up + main job on the embedded default) and
# `make test` (set up + the test suite). Both create the virtual environment when it is missing.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.vssl-installed

.PHONY: demo test bench venv clean-venv

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	# torch first, pinned: pip takes it from local disk in about a minute; nothing is downloaded at run time.
	$(PY) -m pip install --quiet torch==2.14.1 torchvision==0.29.1
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(PY) protocols/run.py method=tcgl

test: $(STAMP)
	$(PY) -m pytest -q

bench: $(STAMP)
	$(PY) -m pytest benchmarks -q --benchmark-only --benchmark-enable

clean-venv:
	rm -rf $(VENV)
