# The two commands a new user needs: `make run` and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed-run: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

# The diffusers extra (torch, diffusers) too, so that the tests of real pipelines run.
$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e ".[test,diffusers]"
	touch $@ $(VENV)/.installed-run

# Where it listens and keeps its data come from the environment, as for `genmill serve`:
# GENMILL_HOST (127.0.0.1), GENMILL_PORT (8080), GENMILL_DATA_DIR (./genmill-data), e.g.
# `GENMILL_PORT=8095 make run`. No flags here: a flag would win over the variable.
run: $(VENV)/.installed-run
	$(BIN)/genmill serve

test: $(VENV)/.installed-test
	$(BIN)/lint-imports
	$(BIN)/python -m pytest -n 2 --dist loadfile

lint: $(VENV)/.installed-test
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) .pytest_cache
