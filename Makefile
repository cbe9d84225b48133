# Kantine: `make demo` starts a seeded demo (two departments and a directory), `make test` runs the whole suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: demo test lint format bench clean translations

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/kantine demo

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test: $(STAMP)
	$(BIN)/pytest -n 2 --dist loadfile

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: $(STAMP)
	$(BIN)/python -m bench.ingest
	$(BIN)/python -m bench.fanout
	$(BIN)/python -m bench.startup
	$(BIN)/python -m bench.timeline
	$(BIN)/python -m bench.startpage --seeded
	$(BIN)/python -m bench.media
	$(BIN)/python -m bench.directory --people 100000

# The web pages' gettext catalogues: extract, merge into each language, compile (.mo is committed).
translations: $(STAMP)
	$(BIN)/pybabel extract -F web/babel.cfg -o web/locale/messages.pot --no-location --sort-output --project Kantine .
	$(BIN)/pybabel update -i web/locale/messages.pot -d web/locale -D messages --no-fuzzy-matching
	$(BIN)/pybabel compile -d web/locale -D messages --statistics

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache demo-data
