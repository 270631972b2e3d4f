# coldstream: `make demo` runs the pipeline end to end; `make test` runs lint and every test.
# Both set up everything themselves: the virtualenv, the Kafka jars, the broker.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install lint test test-fast demo bench kafka-start kafka-stop schema clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# The session fixture starts a local broker (or uses KAFKA_BOOTSTRAP_SERVERS / Docker).
test: lint
	$(BIN)/pytest -q -ra

test-fast: install
	$(BIN)/pytest -q -m "not slow and not integration"

demo: install
	$(BIN)/coldstream demo

# Benchmarks (figures go into BENCHMARKS.md). The day takes ~1.5 min, the others ~1 min.
bench: install
	$(BIN)/python bench/overhead.py
	$(BIN)/python bench/pipe.py
	$(BIN)/python bench/day.py --runs 3
	$(BIN)/python bench/faust_delivery.py

kafka-start: install
	$(BIN)/coldstream kafka start

kafka-stop: install
	$(BIN)/coldstream kafka stop

schema: install
	$(BIN)/coldstream schema --out schemas

clean:
	-$(BIN)/coldstream kafka stop
	rm -rf .coldstream $(VENV) *.egg-info .pytest_cache .mypy_cache .ruff_cache
