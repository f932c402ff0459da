# The README's two commands. Both create .venv and install what they need first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test lint install dev

demo: install
	$(BIN)/gridwatch demo $(ARGS)

test: dev lint
	$(BIN)/pytest $(PYTEST_ARGS)

lint: dev
	$(BIN)/ruff check .
	$(BIN)/mypy .

install: $(VENV)/.installed
dev: $(VENV)/.dev-installed

# pip shows what it fetches and installs, with progress bars: a first run takes minutes.
PIP_INSTALL = $(BIN)/pip install --progress-bar on --disable-pip-version-check

$(VENV)/.installed: pyproject.toml
	@echo "make: installing gridwatch and its dependencies into $(VENV)"
	$(PYTHON) -m venv $(VENV)
	$(PIP_INSTALL) --quiet --upgrade pip
	$(PIP_INSTALL) -e .
	touch $@

$(VENV)/.dev-installed: pyproject.toml
	@echo "make: installing gridwatch with its dev tools into $(VENV)"
	$(PYTHON) -m venv $(VENV)
	$(PIP_INSTALL) --quiet --upgrade pip
	$(PIP_INSTALL) -e '.[dev]'
	touch $(VENV)/.installed $@
