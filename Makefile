# Set-up and the two everyday jobs. `make demo` trains the default DCGAN on the embedded digits;
# `make test` installs what the tests need and runs the whole suite.
PYTHON ?= python3
# On this project's CPU machines `torch==2.13.0` is served as a CPU build. Elsewhere, install the torch
# build you want first (see README); an importable torch is never replaced.
TORCH_SPEC ?= torch==2.13.0
PIP := $(PYTHON) -m pip install --quiet --disable-pip-version-check

.PHONY: install dev-install browser demo test lint

install:
	@$(PYTHON) -c "import torch" 2>/dev/null || $(PIP) "$(TORCH_SPEC)"
	$(PIP) -e .

dev-install:
	@$(PYTHON) -c "import torch" 2>/dev/null || $(PIP) "$(TORCH_SPEC)"
	$(PIP) -e ".[dev,web]"

# Headless Chromium for the browser tests (Debian packages; Playwright's own browser download is not used),
# and the PostgreSQL server the tune tests start in a temporary folder (Debian's postgresql package).
browser:
	@command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1 && \
	  ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver \
	    postgresql >/dev/null; }

demo: install
	$(PYTHON) -m ganforge train --run-dir runs/demo --overwrite

test: dev-install browser
	$(PYTHON) -m pytest -q

lint:
	$(PYTHON) -m ruff check src tests benchmarks
