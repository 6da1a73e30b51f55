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
	@echo "== sbrt-qa check test_data/sbrt_thoracic_spine  (SBRT of a thoracic bone plasmacytoma, PTV 30 / PGTV 35 Gy in 5 fx)"
	$(BIN)/sbrt-qa check test_data/sbrt_thoracic_spine --output out/sbrt_thoracic_spine.html --format html
	$(BIN)/sbrt-qa check test_data/sbrt_thoracic_spine
	@echo "== the same plan with the cord run through the PTV: a major deviation, exit code 1"
	@$(BIN)/sbrt-qa check test_data/sbrt_cord_overdose | head -8; $(BIN)/sbrt-qa check test_data/sbrt_cord_overdose --format csv > /dev/null; echo "exit code: $$?"
	@echo "== DVH figures: sbrt-qa dvh test_data/sbrt_thoracic_spine"
	$(BIN)/sbrt-qa dvh test_data/sbrt_thoracic_spine --metric "V30Gy[%]" --metric "V35Gy[%]"

test: $(STAMP)
	$(BIN)/python -m pytest -q

bench: $(STAMP)
	$(BIN)/python bench/run_bench.py

test-data: $(STAMP)
	$(BIN)/python scripts/generate_test_data.py test_data

clean:
	rm -rf $(VENV) .pytest_cache bench/out
