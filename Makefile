# edgekd: `make demo` runs the pipeline, `make test` runs the test suite.
# Both bootstrap what they need: Debian packages (as root) and the .venv (idempotent).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test test-fast system venv bench fuzz clean

demo: system venv
	$(BIN)/edgekd demo

test: system venv
	$(BIN)/python -m pytest -q

# The quick subset to run before every commit: no QEMU boards, no training runs.
test-fast: venv
	$(BIN)/python -m pytest -q -m "not slow"

# Mutants of every importer's input (10,000 each) and 1,000 random graphs verified
# bit-exact on the host; prints a table, exits 1 on any traceback, crash, hang or mismatch.
fuzz: system venv
	nice $(BIN)/python scripts/fuzz.py

bench: system venv
	$(BIN)/python benchmarks/mlperf_tiny.py

system:
	@bash scripts/system-packages.sh

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[train,test]"
	touch $@

clean:
	rm -rf $(VENV) build out .pytest_cache .hypothesis
