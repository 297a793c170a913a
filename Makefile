# Every target sets up .venv on first use, installing with the pinned constraints.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
STAMP := $(VENV)/.installed

.PHONY: install demo test test-fast schemas bench typecheck clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -c constraints.txt -e ".[test]"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(PY) -m swerve.cli.demo

test: $(STAMP)
	$(PY) -m pytest -q

test-fast: $(STAMP)
	$(PY) -m pytest -q -m "not integration and not slow"

schemas: $(STAMP)
	$(PY) -m swerve.streams.schema_export --write

typecheck: $(STAMP)
	$(PIP) install --quiet mypy
	.ci/typecheck

bench: $(STAMP)
	$(PY) benchmarks/stream_throughput.py

clean:
	rm -rf $(VENV) .swerve .pytest_cache
