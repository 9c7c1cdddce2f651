# Slotwise: `make run` starts the app (sandbox mode unless Azure settings are present),
# `make test` runs lint, type checks and the whole test suite. Both set everything up first.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: setup run playground chromium haproxy test check lint types pytest bench migrate package clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# The official Teams manifest schemas (bundled by npm @microsoft/app-manifest) for the manifest tests.
TEAMS_SCHEMA := tools/teams-schema/node_modules/.package-lock.json
$(TEAMS_SCHEMA): tools/teams-schema/package-lock.json
	npm ci --prefix tools/teams-schema --no-audit --no-fund --loglevel=error

# axe-core (npm), which the browser tests inject into the pages to check them against WCAG 2.1 A/AA.
AXE := tools/axe/node_modules/.package-lock.json
$(AXE): tools/axe/package-lock.json
	npm ci --prefix tools/axe --no-audit --no-fund --loglevel=error

# Headless Chromium for the browser tests, from Debian; the `playwright` dev dependency drives it through
# executable_path, so no browser is downloaded.
chromium:
	@command -v chromium >/dev/null 2>&1 || { apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

# HAProxy from Debian, the load balancer in front of the replicas in the fleet harness (bench.fleet, tests/fleet).
haproxy:
	@command -v haproxy >/dev/null 2>&1 || test -x /usr/sbin/haproxy || { apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq haproxy >/dev/null; }

setup: $(STAMP)

# The Microsoft 365 Agents Playground (a local Teams-like client), installed when Node.js is present.
PLAYGROUND := tools/playground/node_modules/.package-lock.json
$(PLAYGROUND): tools/playground/package-lock.json
	@if command -v npm >/dev/null 2>&1; then npm ci --prefix tools/playground --no-audit --no-fund --loglevel=error; \
	else echo "npm not found: the Agents Playground will not start (the app still runs)"; fi

playground: $(PLAYGROUND)

run: setup
	@$(MAKE) --no-print-directory playground || echo "could not install the Agents Playground; continuing without it"
	./tools/run.sh

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports

types: setup
	$(VENV)/bin/mypy

pytest: setup $(TEAMS_SCHEMA) $(AXE) chromium haproxy playground
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
