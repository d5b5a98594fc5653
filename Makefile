# One entry point per job. `make test` installs what is missing, then runs the whole suite.
PYTHON ?= python3
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
PYTEST := $(PYTHON) -m pytest

.PHONY: install tesseract lint test test-fast test-exhaustive bench demo

tesseract:
	@command -v tesseract >/dev/null 2>&1 || { $(SUDO) apt-get update && $(SUDO) apt-get install -y tesseract-ocr; }

install: tesseract
	$(PYTHON) -m pip install -e '.[dev]'

# The subpackages import only downward (the layers contract in pyproject.toml).
lint:
	lint-imports

# Everything, slow full-size parity included (what CI runs).
test: install
	$(PYTEST) -q --durations=25

# The quick loop while developing: no full-size (ResNeXt-101) models, no long runs.
test-fast:
	$(PYTEST) -q -m "not slow"

# Also the very long checks (OCR parity with transformers on all 274 FUNSD + SROIE pages).
test-exhaustive: install
	$(PYTEST) -q --exhaustive

bench: install
	$(PYTHON) benchmarks/run.py

demo: install
	$(PYTHON) examples/demo.py
