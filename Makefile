# Two commands a newcomer needs: `make demo` and `make test`. Both set up .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
EXAMPLES := $(wildcard examples/*.yaml)

.PHONY: test lint typecheck unit build synth demo bench clean

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

# Lambda bundles (layer, functions, agent) for the CDK app, built without Docker.
build: $(STAMP)
	$(BIN)/python -m stacks.bundle

# The CloudFormation template of the deployer (cdk-nag runs at every synth).
synth: build
	JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION=20 CDK_OUTDIR=cdk.out $(BIN)/python app.py

unit: $(STAMP) build
	JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION=20 $(BIN)/pytest

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
	rm -rf $(VENV) build cdk.out clusterdrop-plan .mypy_cache .pytest_cache .ruff_cache .hypothesis
