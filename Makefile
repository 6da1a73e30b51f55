# The README's two commands, make demo and make test, do all set-up on a machine
# with only Python 3 and make: each creates the virtual environment .venv here.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test bench test-data clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

demo: $(STAMP)
	@echo "== sbrt-qa dvh test_data/sbrt_thoracic_spine (SBRT, solitary bone plasmacytoma, 30/35 Gy in 5 fx)"
	$(BIN)/sbrt-qa dvh test_data/sbrt_thoracic_spine --metric "V30Gy[%]" --metric "V35Gy[%]"

test: $(STAMP)
	$(BIN)/python -m pytest -q

bench: $(STAMP)
	$(BIN)/python bench/run_bench.py

test-data: $(STAMP)
	$(BIN)/python scripts/generate_test_data.py test_data

clean:
	rm -rf $(VENV) .pytest_cache bench/out
