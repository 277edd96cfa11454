# Set-up and the everyday jobs. `make demo` trains the default recipe on the embedded digits;
# `make test` installs what the tests need and runs the whole suite (the README's test command);
# `make lint` runs ruff and the type checker (mypy, configured in pyproject.toml, cache in .mypy_cache/);
# `make ci` is what CI runs (.ci/run): `make test` with `make lint` before the suite, so a lint or type
# error fails in a minute instead of after the tests.
PYTHON ?= python3
# On this project's CPU machines `torch==2.13.0` is served as a CPU build. Elsewhere, install the torch
# build you want first (see README); an importable torch is never replaced.
TORCH_SPEC ?= torch==2.13.0
PIP := $(PYTHON) -m pip install --quiet --disable-pip-version-check
PYTEST := $(PYTHON) -m pytest -q

.PHONY: install dev-install browser demo test lint ci

install:
	@$(PYTHON) -c "import torch" 2>/dev/null || $(PIP) "$(TORCH_SPEC)"
	$(PIP) -e .

# constraints/dev.txt holds the test and lint tools at the versions the suite passed with.
dev-install:
	@$(PYTHON) -c "import torch" 2>/dev/null || $(PIP) "$(TORCH_SPEC)"
	$(PIP) -c constraints/dev.txt -e ".[dev,web]"

# Headless Chromium for the browser tests (Debian packages; Playwright's own browser download is not used),
# node + npm (the web-export tests run the page's sampler under node and fetch ONNX Runtime Web with npm),
# and the PostgreSQL server the tune tests start in a temporary folder (Debian's postgresql package).
browser:
	@command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1 || \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; }
	@command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 || \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null; }
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; }

demo: install
	$(PYTHON) -m ganforge train --run-dir runs/demo --overwrite

test: dev-install browser
	$(PYTEST)

# Needs the dev extra (`make dev-install`): ruff, mypy and the stub packages.
lint:
	$(PYTHON) -m ruff check src tests benchmarks
	$(PYTHON) -c "from importlinter.cli import lint_imports_command; lint_imports_command()" --config pyproject.toml
	$(PYTHON) -m mypy

# lint through a sub-make: it runs after the install even under `make -j`.
ci: dev-install browser
	@$(MAKE) --no-print-directory lint
	$(PYTEST)
