# The two commands a newcomer needs: `make run` (the local stack) and `make test` (every tier).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint unit functional integration coverage bench bench-quick chaos fuzz package deploy dlq-replay clean

$(STAMP): requirements.txt requirements-dev.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	@touch $(STAMP)

venv: $(STAMP)

## make run: the whole gateway on this machine (AWS emulator, Redis, simulators, API, dispatchers)
run: $(STAMP)
	$(BIN)/python -m localdev.stack

## make test: lint, then unit, functional and integration tiers with coverage
test: $(STAMP) lint
	bash scripts/ensure-redis.sh
	$(BIN)/python -m pytest --cov --cov-report=term --cov-report=xml --cov-fail-under=90 -p no:cacheprovider
	$(BIN)/python -m coverage report --include='chalicelib/router.py' --fail-under=100 > /dev/null \
		|| { echo "routing code is not 100% covered:"; $(BIN)/python -m coverage report --include='chalicelib/router.py'; exit 1; }

lint: $(STAMP)
	$(BIN)/ruff check .

unit: $(STAMP)
	$(BIN)/python -m pytest -m unit

functional: $(STAMP)
	$(BIN)/python -m pytest -m functional

integration: $(STAMP)
	bash scripts/ensure-redis.sh
	$(BIN)/python -m pytest -m integration

## make bench: the full benchmark (scaled profile: 3 providers x 10/s, 40/s offered; a few minutes)
## make bench-quick: the same in under a minute; PROFILE=seed for 3 x 50/s with 200/s offered
bench: $(STAMP)
	bash scripts/ensure-redis.sh
	$(BIN)/python -m bench.run --profile $(or $(PROFILE),scaled)

bench-quick: $(STAMP)
	bash scripts/ensure-redis.sh
	$(BIN)/python -m bench.run --profile quick

## make chaos: faults under load (kill -9 a dispatcher, restart Redis, AWS refusing connections, a hanging
## provider, a garbage-answering one); fails on any lost or duplicated SMS
chaos: $(STAMP)
	$(BIN)/python -m localdev.chaos

## make fuzz: the validators and the API fuzzed far longer than the test suite does
fuzz: $(STAMP)
	bash scripts/ensure-redis.sh
	FUZZ_MAX_EXAMPLES=5000 $(BIN)/python -m pytest tests/unit/test_validators_fuzz.py -p no:cacheprovider
	SCHEMATHESIS_MAX_EXAMPLES=200 $(BIN)/python -m pytest tests/integration/test_fuzz_api.py -p no:cacheprovider

dlq-replay: $(STAMP)
	$(BIN)/python -m ops.dlq_replay $(ARGS)

clean:
	rm -rf .run .pytest_cache .ruff_cache .hypothesis .coverage coverage.xml htmlcov

## make package / make deploy: the CloudFormation template (offline) and the documented deploy flow
STAGE ?= dev
package: $(STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" bash infra/package.sh $(STAGE)

deploy: $(STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" bash infra/deploy.sh $(STAGE)
