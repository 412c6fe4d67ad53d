# Quorum — the two commands: `make run` (the console with demo data, embedded) and `make test` (the suite).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PORT ?= 8000
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: run test lint bench install install-dev chromium redis sso-test-deps clean-embedded

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# The agents' Python SDK (sdk/python, its own package): the suite imports the installed copy,
# reinstalled whenever its sources change.
SDK_SOURCES := $(wildcard sdk/python/pyproject.toml sdk/python/src/*/*.py)
# The MCP gateway (sdk/mcp, package quorum-mcp, on top of the SDK): installed the same way.
MCP_SOURCES := $(wildcard sdk/mcp/pyproject.toml sdk/mcp/src/*/*.py)

# Runtime dependencies only: what `make run` needs (the demo's sample MCP server and the
# quorum-mcp gateway the README calls it through come with sdk/mcp).
$(VENV)/.installed: pyproject.toml $(SDK_SOURCES) $(MCP_SOURCES) | $(BIN)/python
	$(BIN)/pip install -q . ./sdk/python ./sdk/mcp
	@touch $@

# Plus the test and lint tools: what `make test` needs.
$(VENV)/.installed-dev: pyproject.toml $(VENV)/.installed $(SDK_SOURCES) $(MCP_SOURCES)
	$(BIN)/pip install -q ".[dev]"
	$(BIN)/pip install -q "./sdk/python[otel]"
	$(BIN)/pip install -q ./sdk/mcp
	@touch $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

# The console with demo data: embedded PostgreSQL under var/, filesystem broker, DEBUG off.
# Ctrl-C stops web, worker, beat and PostgreSQL, and exits 0.
run: install
	@$(BIN)/python -m config.run_embedded --port $(PORT)

chromium:
	@command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1 || \
		($(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq chromium chromium-driver)

redis:
	@command -v redis-server >/dev/null 2>&1 || \
		($(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq redis-server)

# The single sign-on tests' identity providers: a real OpenID provider (npm oidc-provider, pinned by
# tests/sso/oidc_provider/package-lock.json, run with Node) and xmlsec1 for SAML signatures.
sso-test-deps:
	@command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 || \
		($(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq nodejs npm)
	@command -v xmlsec1 >/dev/null 2>&1 || \
		($(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq xmlsec1)
	@test -d tests/sso/oidc_provider/node_modules/oidc-provider || \
		npm ci --prefix tests/sso/oidc_provider --no-audit --no-fund --loglevel=error

# The whole suite against real PostgreSQL (the embedded server when none answers and DATABASE_URL is
# unset) and real Redis (started if installed and stopped), plus ruff, import-linter and real Chromium.
test: install-dev chromium redis sso-test-deps
	$(BIN)/python scripts/check_services.py
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

bench: install-dev
	$(BIN)/python -m bench $(BENCH_ARGS)

clean-embedded:
	-$(BIN)/python -c "from pathlib import Path; from config import embedded_postgres as e; e.stop(Path('var/postgres').resolve())"
	rm -rf var/
