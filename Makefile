# The two commands of the README: `make serve` and `make test`. Everything else is a helper of those.
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin

.PHONY: install serve test check lint format openapi bench clean

install: $(VENV)/.installed

# `serve` needs only the runtime dependencies (.runtime); `test` and the helpers add the dev tools (.installed).
$(VENV)/.runtime: pyproject.toml
	@echo "Installing codeyard and its runtime dependencies into $(VENV) (about a minute the first time)..."
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --disable-pip-version-check --progress-bar on --upgrade pip==25.3
	$(BIN)/python -m pip install --disable-pip-version-check --progress-bar on -e .
	touch $@

$(VENV)/.installed: $(VENV)/.runtime
	@echo "Installing the test and lint tools into $(VENV)..."
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $@

serve: $(VENV)/.runtime  ## install the runtime dependencies, then run the server (SQLite in ~/.local/share/codeyard)
	$(BIN)/codeyard serve

test: install  ## install the test dependencies, lint, type-check and run the whole test suite
	BIN=$(BIN) scripts/test

check: install
	BIN=$(BIN) scripts/check

format: install
	$(BIN)/ruff format src tests benchmarks
	$(BIN)/ruff check --fix src tests benchmarks

openapi: install  ## regenerate the committed OpenAPI document
	$(BIN)/python scripts/openapi.py --write

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
