# Slotwise: `make run` starts the app (sandbox mode unless Azure settings are present),
# `make test` runs lint, type checks and the whole test suite. Both set everything up first.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: setup run test check lint types pytest bench migrate package clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# The official Teams manifest schemas (bundled by npm @microsoft/app-manifest) for the manifest tests.
TEAMS_SCHEMA := tools/teams-schema/node_modules/.package-lock.json
$(TEAMS_SCHEMA): tools/teams-schema/package-lock.json
	npm ci --prefix tools/teams-schema --no-audit --no-fund --loglevel=error

setup: $(STAMP)

run: setup
	$(PY) app.py

lint: setup
	$(VENV)/bin/ruff check .

types: setup
	$(VENV)/bin/mypy

pytest: setup $(TEAMS_SCHEMA)
	$(PY) -m pytest

check: lint types pytest

test: check

bench: setup
	$(PY) -m bench.slots

migrate: setup
	$(PY) -m storage.migrate

package: setup
	$(PY) -m manifest.build

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
