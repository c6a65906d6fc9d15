# One entry point for people and CI. `make test` is what .ci/run calls.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint typecheck unit venv font schema clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

# The conclusion letter's CJK font (Debian fonts-wqy-zenhei); says what to do when it cannot.
font:
	sh deploy/install-cjk-font.sh

run: $(STAMP) font
	$(BIN)/python -m infra.devstack

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy .

test: font lint typecheck
	$(BIN)/pytest

schema: $(STAMP)
	$(BIN)/python -m schemas.export

clean:
	rm -rf $(VENV) build *.egg-info
