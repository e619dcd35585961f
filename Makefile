# Two commands a newcomer needs: `make demo` and `make test`. Both set up .venv first.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
EXAMPLES := $(wildcard examples/*.yaml)

.PHONY: test lint typecheck unit aws kube infra browser-tests e2e build synth demo bench golden clean browser docs docs-serve

$(STAMP): requirements.txt requirements-lambda.txt requirements-agent.txt requirements-dev.txt pyproject.toml
	@test -x $(BIN)/python || { echo "Creating $(VENV) with $$($(PYTHON) --version)"; $(PYTHON) -m venv $(VENV); }
	@echo "Installing the pinned dependencies into $(VENV) (the first time: about 4 minutes, one line per package)"
	@$(BIN)/python -m pip install --disable-pip-version-check --progress-bar off -r requirements-dev.txt \
		| grep --line-buffered -E '^(Collecting|Successfully installed)' | sed -u -e 's/^Collecting /  /' -e 's/ (from .*//'; \
		test $${PIPESTATUS[0]} -eq 0
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports --no-cache

typecheck: $(STAMP)
	$(BIN)/mypy

# Lambda bundles (layer, functions, agent) for the CDK app, built without Docker.
build: $(STAMP)
	$(BIN)/python -m stacks.bundle

# The CloudFormation template of the deployer (cdk-nag runs at every synth).
synth: build
	JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION=20 CDK_OUTDIR=cdk.out $(BIN)/python app.py

# The end-to-end tests run in their own process: the embedded AWS patches moto process-wide, and
# the AWS-side tests start a plain moto server of their own. The two processes run side by side
# (the end-to-end suite mostly waits on its workflows); its output follows the other's, and either
# failing fails the target.
# The status page is tested in a real browser: Debian's chromium and chromedriver.
# Installed here when make runs as root (a CI machine, a container); otherwise it says what to
# install and stops: make never asks for sudo.
browser:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || \
		if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq chromium chromium-driver; \
		else echo "The browser tests need Debian's chromium and chromedriver: sudo apt-get install chromium chromium-driver"; exit 1; fi

# The end-to-end suite is the longest part: it starts first, in the background, as two halves
# side by side (tests/e2e/conftest.py: its time is mostly waiting), and $(1) runs beside it; its
# output follows when all are done.
define BESIDE_E2E
	@mkdir -p build/test-artifacts
	export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION=20; \
	CLUSTERDROP_E2E_SHARD=1 $(BIN)/pytest tests/e2e > build/test-artifacts/e2e.log 2>&1 & e2e=$$!; \
	CLUSTERDROP_E2E_SHARD=2 $(BIN)/pytest tests/e2e > build/test-artifacts/e2e-2.log 2>&1 & e2e2=$$!; \
	$(1); rest=$$?; \
	wait $$e2e; e2e_rc=$$?; wait $$e2e2; e2e2_rc=$$?; \
	echo "--- end-to-end (tests/e2e), first half ---"; cat build/test-artifacts/e2e.log; \
	echo "--- end-to-end (tests/e2e), second half ---"; cat build/test-artifacts/e2e-2.log; \
	test $$rest -eq 0 && test $$e2e_rc -eq 0 && test $$e2e2_rc -eq 0
endef

# One target per test tier (CONTRIBUTING.md's table); `make test` runs them all, as CI does.
unit: $(STAMP)
	$(BIN)/pytest tests/unit

aws: $(STAMP)
	$(BIN)/pytest tests/aws

kube: $(STAMP)
	$(BIN)/pytest tests/kube

infra: $(STAMP) build
	JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION=20 $(BIN)/pytest tests/infra tests/statemachine

browser-tests: $(STAMP) browser
	$(BIN)/pytest tests/browser

e2e: $(STAMP) build
	$(call BESIDE_E2E,true)

# Lint, types and the documentation site first among the rest, while the end-to-end suite runs.
test: $(STAMP) build browser
	$(call BESIDE_E2E,$(MAKE) --no-print-directory lint typecheck docs-check && $(BIN)/pytest --ignore=tests/e2e)

# The documentation site: the reference pages regenerated from the code, the status page's
# screenshot from the browser test, then built with
# --strict (a broken link or a page missing from the nav fails). docs-check builds what is
# checked in (a test holds the generated pages to the code).
docs: $(STAMP) browser
	$(BIN)/python docs/generate.py
	CLUSTERDROP_DOCS_SCREENSHOTS=1 $(BIN)/pytest -q tests/browser -k "shows_every_step and success and 1280"
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet

docs-check: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet

docs-serve: docs
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs serve

# The whole flow on this machine: the embedded AWS, the deployer deployed into it, the quickstart
# submitted, watched to the end, and the notification shown.
demo: build
	JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION=20 $(BIN)/clusterdrop local run examples/quickstart.yaml

# The cluster templates each example renders, as checked in under tests/golden/: after an
# intended template change, regenerate them and review the diff.
golden: $(STAMP)
	$(BIN)/python -m tests.unit.test_golden

bench: build
	$(BIN)/python -m benchmarks

clean:
	rm -rf $(VENV) build cdk.out clusterdrop-plan .mypy_cache .pytest_cache .ruff_cache .hypothesis
