# Two commands a newcomer needs: `make demo` and `make test`. Both set up .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
EXAMPLES := $(wildcard examples/*.yaml)

.PHONY: test lint typecheck unit demo bench clean

$(STAMP): requirements.txt requirements-lambda.txt requirements-agent.txt requirements-dev.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/pytest

test: lint typecheck unit

# Until the embedded mode lands, the demo validates and plans every example offline.
demo: $(STAMP)
	$(BIN)/clusterdrop validate $(EXAMPLES)
	@for f in $(EXAMPLES); do \
		echo; echo "=== clusterdrop plan $$f"; \
		$(BIN)/clusterdrop plan $$f --out clusterdrop-plan/$$(basename $$f .yaml) || exit $$?; \
	done

bench: $(STAMP)
	$(BIN)/python -m benchmarks

clean:
	rm -rf $(VENV) clusterdrop-plan .mypy_cache .pytest_cache .ruff_cache .hypothesis
