# One entry point for people and CI. `make test` is what .ci/run calls.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint typecheck unit venv font browser schema glyphs clean bench

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

# The conclusion letter's fonts (Debian fonts-noto-cjk, fonts-wqy-zenhei behind it, and
# fonts-hanazono for rare ideographs); says what to do when it cannot install them.
font:
	sh deploy/install-cjk-font.sh

# Debian's Chromium for the Web UI test (Playwright drives it; nothing downloads a browser).
browser:
	sh deploy/install-browser.sh

run: $(STAMP) font
	$(BIN)/python -m infra.devstack

# Our cases against the bare engine on a stack of its own (bench/run.py; not part of make test).
# BENCH_ARGS: e.g. "-n 40 -c 5 20", "--passes memory", "--idle 5000".
bench: $(STAMP) font
	$(BIN)/python -m bench $(BENCH_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy .

test: font browser lint typecheck
	$(BIN)/pytest

schema: $(STAMP)
	$(BIN)/python -m schemas.export

# What the letter's fonts can print (schemas/printable_table.py), which applications are checked
# against; a unit test fails when it no longer matches the installed fonts.
glyphs: $(STAMP) font
	$(BIN)/python -m schemas.printable --generate

clean:
	rm -rf $(VENV) build *.egg-info
