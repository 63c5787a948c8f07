# Tessera: every target sets itself up first through the idempotent `setup`.
#   make run    the main job on the embedded defaults
#   make test   all tests
#   make bench  benchmarks -> build/bench/*.json and a table of ratios
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(VENV)/bin/pip
STAMP  := $(VENV)/.tessera-setup
NATIVE := $(wildcard native/*.c native/*.h native/*.py)
FIRMWARE_SRC := $(wildcard firmware/*.py firmware/device/*.py firmware/toolchain/*.py firmware/toolchain/*.h firmware/targets/*.toml)
FIRMWARE_ELF := build/firmware.elf

.PHONY: setup gdb run test bench regmap clean
setup: $(STAMP) $(FIRMWARE_ELF)

# gdb-multiarch for the GDB tests (`make test` only; `make run` never needs it): installed where apt-get exists
# and we are root;
# anywhere else this prints why and goes on (the GDB tests then skip with that reason). Never fails the setup.
gdb:
	@command -v gdb-multiarch >/dev/null 2>&1 || { \
	  if command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
	    (apt-get install -y -qq gdb-multiarch >/dev/null 2>&1 || \
	     (apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq gdb-multiarch >/dev/null 2>&1)) || \
	    echo "gdb-multiarch could not be installed; the GDB tests will skip"; \
	  else echo "gdb-multiarch not installed (needs apt-get and root); the GDB tests will skip"; fi; }

$(STAMP): pyproject.toml setup.py $(NATIVE)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip setuptools wheel
	$(PIP) install -q -e '.[dev]'
	touch $(STAMP)

# The device firmware, compiled from constrained Python; `tessera emu run` boots it by default.
$(FIRMWARE_ELF): $(STAMP) $(FIRMWARE_SRC)
	$(VENV)/bin/tessera fw build firmware/device/main.py -o $(FIRMWARE_ELF) --report

run: setup
	$(VENV)/bin/tessera run

test: setup gdb
	$(PY) -m pytest -n 2 tests

bench: setup
	$(PY) -c "import torch" 2>/dev/null || $(PIP) install -q torch==2.13.0 || echo "torch unavailable: torch anchors will be recorded as null"
	$(VENV)/bin/tessera bench all

regmap: setup
	$(VENV)/bin/tessera regmap generate

clean:
	rm -rf build $(VENV) *.egg-info native/*.so native/_tensorcore*.c
