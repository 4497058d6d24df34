# Two commands for a fresh machine:
#   make run   set up a virtualenv, migrate the SQLite default, seed demo data, serve :8000
#   make test  install the test tools and run the whole suite
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1:8000
ARGS ?=

.PHONY: run test lint clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $@

run: $(VENV)/.installed
	DJANGO_DEBUG=1 $(BIN)/python manage.py migrate --noinput
	DJANGO_DEBUG=1 $(BIN)/python manage.py seed_demo --base-url http://$(HOST)
	DJANGO_DEBUG=1 $(BIN)/python manage.py runserver $(HOST)

test: $(VENV)/.installed
	DJANGO_SECRET_KEY=$${DJANGO_SECRET_KEY:-insecure-test-only-key} \
		$(BIN)/python -m pytest $(ARGS)

lint: $(VENV)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

clean:
	rm -rf $(VENV) staticfiles .pytest_cache test-results

# Benchmarks (docs/performance.md): a fresh PostgreSQL database, seed, wrk against gunicorn.
# BENCH_ARGS='--scale 0.01 --duration 5' for a quick check.
BENCH_ARGS ?=
.PHONY: bench
bench: $(VENV)/.installed
	$(BIN)/python -m pip install -q -e '.[test,bench]'
	$(BIN)/python bench/run.py $(BENCH_ARGS)
