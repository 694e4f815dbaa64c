PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: venv demo test lint bench bench-splink clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(BIN)/cme-gateway demo

test: $(STAMP)
	$(BIN)/pytest -q

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
	$(COMPARE)/bin/python -m bench.splink_compare --population england
	$(COMPARE)/bin/python -m bench.splink_compare --population concentrated

clean:
	rm -rf $(VENV) $(COMPARE) .pytest_cache build *.egg-info
