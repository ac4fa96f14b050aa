# Two commands: `make demo` (embedded default, no services) and `make test`.
# Each creates its own virtualenv in .venv on first use, with the dev extra (which pulls
# every other extra: demo's amqtt included).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint typecheck pytest bench lock clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/vitals demo

# lint first (a second), then mypy beside pytest: mypy's cold run (~1 min, one core) would
# otherwise come on top of the suite's time.
test: lint
	$(MAKE) --no-print-directory -j 2 typecheck pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

typecheck: $(STAMP)
	$(BIN)/mypy

# Two pytest-xdist workers; tests/conftest.py groups what must not run side by side.
PYTEST_WORKERS ?= 2

pytest: $(STAMP)
	$(BIN)/pytest -n $(PYTEST_WORKERS) --dist loadgroup $(PYTEST_ARGS)

bench: $(STAMP)
	$(BIN)/python -m bench

# The Docker image's pinned, hash-checked dependencies: runtime + scaleout, for Python 3.11
# on Linux. Run after changing dependencies in pyproject.toml.
lock: $(STAMP)
	$(BIN)/pip install --quiet 'uv>=0.9,<1'
	$(BIN)/uv pip compile pyproject.toml --extra scaleout --generate-hashes \
		--python-version 3.11 --python-platform linux --custom-compile-command "make lock" \
		--quiet -o requirements.lock

clean:
	rm -rf $(VENV) build *.egg-info .mypy_cache .ruff_cache .pytest_cache
