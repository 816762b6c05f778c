# Forge developer commands. `make run` and `make test` set everything up from a fresh clone.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: run test lint tools bench package clean

# The LoRA trainer's pinned source: a user's machine downloads it from GitHub; tests and CI
# (no GitHub there) use the trimmed copy beside the checkout. Verified the same way either
# way (docs/training.md).
LORA_VENDOR := $(firstword $(wildcard ../shared/vendor/qvac-fabric-llm.cpp-*-trimmed.tar.gz))
ifneq ($(LORA_VENDOR),)
export FORGE_LORA_SOURCE ?= $(abspath $(LORA_VENDOR))
endif

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip
	$(PY) -m pip install -e ".[test,package]"
	touch $(STAMP)

# Build the llama.cpp tools from the pinned, hash-checked source (cached; seconds once built).
tools: $(STAMP)
	$(VENV)/bin/forge-cli setup-llama-cpp

# Qt's xcb libraries first (installed when root, else the command to run): docs/packaging.md
run: $(STAMP)
	$(PYTHON) installer/linux/qt_libs.py
	$(VENV)/bin/forge-cli setup-llama-cpp
	$(VENV)/bin/forge-gui

# ruff and mypy, configured in pyproject.toml (docs/architecture.md, "Checks").
lint: $(STAMP)
	$(VENV)/bin/ruff check forge_gui tests installer
	$(VENV)/bin/mypy

test: tools
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest $(PYTEST_ARGS)

# Benchmarks print their figures; they are scripts, not part of the pass/fail test run.
bench: tools
	for script in tests/bench/bench_*.py; do \
	  echo "== $$script"; QT_QPA_PLATFORM=offscreen $(PY) $$script || exit 1; \
	done

# The Linux bundle (dist/forge), the .deb and the portable .tar.gz (docs/packaging.md).
package: tools
	$(PY) installer/build.py package

clean:
	rm -rf build dist $(VENV)
