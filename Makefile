# Vigil: `make run` to try it, `make test` to check it. Needs only Python 3.11+ and make.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: run test lint install bench screenshots clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

## run: migrate the SQLite database under .vigil/, seed the demo on first start, serve :8080
run: install
	$(BIN)/vigil db upgrade
	$(BIN)/vigil demo --if-empty
	$(BIN)/vigil serve

## lint: ruff, formatting, and the layer order of DESIGN.md (import-linter)
lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

## test: lint, then the whole suite (PostgreSQL too when VIGIL_TEST_DATABASE_URL is set)
test: lint
	$(BIN)/pytest

## bench: the ingest benchmark against SQLite (see bench/README.md for the rest)
bench: install
	$(BIN)/python bench/ingest.py

## screenshots: save the main pages to docs/screenshots/ (needs Debian's chromium)
screenshots: install
	$(BIN)/python -m tests.web.screenshots docs/screenshots

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
