# The two commands a newcomer needs: `make run` (the local stack) and `make test` (every tier). `make help`
# lists the others.
SHELL := /bin/bash
# The venv is built with the Python of the Lambda runtime .chalice/config.json pins, when there is one:
# chalice packages for the interpreter it runs on (infra/chalice_hooks.py refuses any other).
LAMBDA_PYTHON := $(shell sed -n 's/.*"lambda_python_version": "\(python[0-9.]*\)".*/\1/p' .chalice/config.json)
PYTHON ?= $(shell command -v $(LAMBDA_PYTHON) || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
STAGE ?= dev
# LocalStack's runtime needs Python 3.13 (pyenv's, else python3.13 on PATH)
LOCALSTACK_PYTHON ?= $(firstword $(wildcard $(HOME)/.pyenv/versions/3.13.*/bin/python) $(shell command -v python3.13))

.PHONY: help run deps test lint unit functional integration coverage bench bench-quick bench-delivery chaos fuzz \
	lock lock-localstack venv infra infra-delete stage package deploy dlq-replay clean

## make help: this list
help:
	@grep -h '^##' $(MAKEFILE_LIST) | sed 's/^## \{0,1\}//'

# requirements-dev.txt is the lock (every package pinned, with its hashes): pip installs exactly it, with the
# pip the interpreter bundles (never upgraded first). --no-deps: the lock already lists every dependency, and
# without it pips before 24 refuse a dependency named with extras in hash-checking mode (pypa/pip#9644);
# pip check then proves the lock is complete and consistent.
$(STAMP): requirements.txt requirements-dev.txt
	@test -x $(BIN)/python || { $(PYTHON) -m venv $(VENV) && $(BIN)/python -m pip --version; }
	$(BIN)/python -m pip install --quiet --no-deps --require-hashes -r requirements-dev.txt
	$(BIN)/python -m pip check
	@touch $(STAMP)

## make venv: create .venv and install the locked requirements (every other target does it first)
venv: $(STAMP)

## make run: the whole gateway on this machine (AWS emulator, Redis, simulators, API, dispatchers)
run: $(STAMP)
	$(BIN)/python -m localdev.stack

## make deps: all of `make run` but the API, and the `chalice local --stage local` line to serve it beside
deps: $(STAMP)
	$(BIN)/python -m localdev.stack --no-api

## make test: lint, then unit, functional and integration tiers with coverage
test: $(STAMP) lint
	bash scripts/ensure-redis.sh
	bash scripts/ensure-chromium.sh
	$(BIN)/python -m pytest --cov --cov-report=term --cov-report=xml --cov-fail-under=90 -p no:cacheprovider
	$(BIN)/python -m coverage report --include='chalicelib/router.py,chalicelib/provider_health.py' --fail-under=100 > /dev/null \
		|| { echo "routing code is not 100% covered:"; $(BIN)/python -m coverage report --include='chalicelib/router.py,chalicelib/provider_health.py'; exit 1; }

## make lint: ruff
lint: $(STAMP)
	$(BIN)/ruff check .

## make unit / functional / integration: one tier
unit: $(STAMP)
	$(BIN)/python -m pytest -m unit

functional: $(STAMP)
	$(BIN)/python -m pytest -m functional

integration: $(STAMP)
	bash scripts/ensure-redis.sh
	$(BIN)/python -m pytest -m integration

## make coverage: the unit and functional tiers with coverage, as an HTML report in htmlcov/ (quick)
coverage: $(STAMP)
	$(BIN)/python -m pytest -m "unit or functional" --cov --cov-report=term --cov-report=html -p no:cacheprovider

## make bench: the full benchmark (scaled profile: 3 providers x 10/s, 40/s offered; a few minutes)
## make bench-quick: the same in under a minute; PROFILE=seed for 3 x 50/s with 200/s offered
bench: $(STAMP)
	bash scripts/ensure-redis.sh
	$(BIN)/python -m bench.run --profile $(or $(PROFILE),scaled)

bench-quick: $(STAMP)
	bash scripts/ensure-redis.sh
	$(BIN)/python -m bench.run --profile quick

## make bench-delivery: delivery receipts and status callbacks on the local stack (vendor simulators, 300
##   requests at 20/s): receipt ingestion rate, callback latency p50/p99, extra AWS calls per message (~2 min)
bench-delivery: $(STAMP)
	$(BIN)/python -m bench.delivery_truth $(ARGS)

## make chaos: faults under load (kill -9 a dispatcher, restart Redis, AWS refusing connections, a hanging
##   provider, a garbage-answering one); fails on any lost or duplicated SMS
chaos: $(STAMP)
	$(BIN)/python -m localdev.chaos

## make fuzz: the validators and the API fuzzed far longer than the test suite does
fuzz: $(STAMP)
	bash scripts/ensure-redis.sh
	FUZZ_MAX_EXAMPLES=5000 $(BIN)/python -m pytest tests/unit/test_validators_fuzz.py -p no:cacheprovider
	SCHEMATHESIS_MAX_EXAMPLES=200 SCHEMATHESIS_SEED= $(BIN)/python -m pytest tests/integration/test_fuzz_api.py -p no:cacheprovider

## make lock: recompile requirements*.txt (pinned, with hashes) from the pins in requirements*.in
lock: $(STAMP)
	$(BIN)/pip-compile --quiet --generate-hashes --no-emit-index-url --no-emit-find-links --strip-extras \
		--output-file requirements.txt requirements.in
	$(BIN)/pip-compile --quiet --generate-hashes --no-emit-index-url --no-emit-find-links --strip-extras \
		--allow-unsafe --output-file requirements-dev.txt requirements-dev.in

## make lock-localstack: recompile localstack/requirements.txt (LocalStack's runtime, Python 3.13) with hashes
lock-localstack:
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
		$(LOCALSTACK_PYTHON) -m venv "$$tmp" && \
		"$$tmp/bin/python" -m pip install --quiet pip-tools==7.6.2 && \
		cd localstack && CUSTOM_COMPILE_COMMAND="make lock-localstack" "$$tmp/bin/pip-compile" --quiet --generate-hashes --no-emit-index-url --no-emit-find-links \
		--strip-extras --allow-unsafe --output-file requirements.txt requirements.in

## make infra STAGE=staging: deploy the stage's infrastructure stack (VPC_ID=..., PRIVATE_SUBNET_IDS=...; any
##   stage name: one config.json lacks gets its entry from FROM_STAGE=dev|prod), then `chalice deploy --stage
##   staging` (docs/deploy.md); make infra-delete STAGE=staging [PURGE_DATA=1] after `chalice delete`
infra: $(STAMP)
	$(BIN)/python -m infra.stack deploy --stage $(STAGE)

infra-delete: $(STAMP)
	$(BIN)/python -m infra.stack delete --stage $(STAGE) $(if $(PURGE_DATA),--purge-data)

## make stage STAGE=staging FROM_STAGE=prod: only write the stage's entry in .chalice/config.json, offline (for
##   make package; make infra writes it itself)
stage: $(STAMP)
	$(BIN)/python -m infra.stack stage --stage $(STAGE)

## make package / make deploy STAGE=prod: the CloudFormation-only path (one template with everything,
##   deployed with the AWS CLI)
package: $(STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" bash infra/package.sh $(STAGE)

deploy: $(STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" bash infra/deploy.sh $(STAGE)

## make dlq-replay ARGS=--dry-run: look at (or replay) the dead-letter queue
dlq-replay: $(STAMP)
	$(BIN)/python -m ops.dlq_replay $(ARGS)

## make clean: remove run state, caches and reports
clean:
	rm -rf .run .pytest_cache .ruff_cache .hypothesis .schemathesis .coverage coverage.xml htmlcov
