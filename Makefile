# Two commands do all set-up on a fresh machine:
#   make demo   the whole job end to end against a local Pebble and the Alibaba Cloud emulator
#   make test   the test suite (Pebble, challtestsrv and the emulator on loopback)
PYTHON ?= python3
VENV   ?= .venv
PY      = $(VENV)/bin/python
PYTEST_ARGS ?=
# pytest-xdist workers. Most of the suite waits (on Pebble, on the tool run as a subprocess, on the
# emulator) rather than computes, so more workers than the 2 cores pay; WORKERS=0 runs in one process.
# --dist loadscope: a module's tests run in one worker, in order, its module-scoped fixtures set up
# once (loadgroup would be finer, but pytest 9.2's node ids break its xdist_group marks). Modules go
# out in collection order, where tests/conftest.py puts the slow-marked ones first. Bytecode is
# cached (tests/conftest.py says why).
WORKERS ?= 4

.PHONY: test typecheck demo bench setup pebble clean mutate

$(VENV)/.installed: setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip setuptools wheel
	$(PY) -m pip install -q -e '.[test]'
	touch $@

setup: $(VENV)/.installed pebble

pebble:
	@if ! command -v pebble >/dev/null 2>&1 || ! command -v pebble-challtestsrv >/dev/null 2>&1; then \
	  echo "installing pebble from Debian"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq pebble) >/dev/null; \
	fi

test: setup typecheck
	PYTHONDONTWRITEBYTECODE= $(PY) -m pytest -q -n $(WORKERS) --dist loadscope --no-loadscope-reorder $(PYTEST_ARGS)

# mypy first: the whole package, then protocol/ and targets/ with every function annotated
typecheck: setup
	$(PY) -m mypy acme_aliyun
	$(PY) -m mypy --disallow-untyped-defs --disallow-incomplete-defs acme_aliyun/protocol acme_aliyun/targets

demo: setup
	$(PY) -m tests.demo

bench: setup
	@if ! command -v certbot >/dev/null 2>&1; then \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq certbot) >/dev/null; fi
	$(PY) -m bench.issue
	$(PY) -m bench.deploy
	$(PY) -m bench.fleet
	$(PY) -m bench.footprint

# Mutation testing (not part of CI): mutmut over the modules and fast tests listed in setup.cfg [mutmut].
# A subset: make mutate MUTANTS='acme_aliyun.renewal*'. Results stay in mutants/ (mutmut results, mutmut show NAME).
MUTANTS ?=
MUTATE_CHILDREN ?= 2
mutate: setup
	$(PY) -m pip install -q -e '.[test,mutate]'
	$(VENV)/bin/mutmut run --max-children $(MUTATE_CHILDREN) $(MUTANTS)
	$(VENV)/bin/mutmut results

clean:
	rm -rf $(VENV) .demo mutants
