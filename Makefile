# Two commands for a fresh machine:
#   make run   set up a virtualenv, build the broker plugin, migrate the SQLite default,
#              seed demo data, then run the web app (:8000), the broker, the realtime
#              worker, the relay and the task worker together (Procfile.dev; Ctrl-C
#              stops them all)
#   make test  install the test tools and run the whole suite
# Both install the pinned versions of requirements/lock.txt; `make lock` regenerates it
# from pyproject.toml (README, "Dependencies").
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1:8000
ARGS ?=

.PHONY: run test lint clean system-deps lock

# Debian packages the broker and its plugin need, and nginx (the serving tests run the
# shipped deploy/nginx site); installed when missing.
SYSTEM_PACKAGES := gcc make mosquitto mosquitto-clients mosquitto-dev libmosquitto-dev libcjson-dev \
	libcurl4-openssl-dev libssl-dev nginx
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
BROKER_PLUGIN := broker/build/chatroom_auth.so

system-deps:
	@missing=$$(for p in $(SYSTEM_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "Installing Debian packages: $$missing"; \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing || \
		{ $(SUDO) apt-get update -qq && \
		  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; }; \
	fi

$(BROKER_PLUGIN): $(wildcard broker/src/*) broker/Makefile | system-deps
	$(MAKE) -C broker

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

# Every extra of pyproject.toml the lock covers; the virtualenv gets them all.
LOCK_EXTRAS := test dev bench s3
LOCK := requirements/lock.txt
# What production installs (README, "Deploy"): the runtime dependencies alone, at the
# lock's versions.
RUNTIME_LOCK := requirements/runtime.txt
UV_VERSION := 0.13.9
# The lock is resolved for every platform from Python 3.11 up (Debian 12's), with the
# hashes of every file; `make lock LOCK_ARGS=--upgrade` moves every pin to the newest
# version pyproject.toml allows, `LOCK_ARGS='--upgrade-package NAME'` one of them.
LOCK_ARGS ?=
UV_COMPILE = $(BIN)/uv pip compile pyproject.toml --quiet --universal --python-version 3.11 \
	--generate-hashes --custom-compile-command 'make lock'

$(VENV)/.installed: pyproject.toml $(LOCK) | $(BIN)/python
	$(BIN)/python -m pip install -q --require-hashes -r $(LOCK)
	$(BIN)/python -m pip install -q --no-deps -e .
	$(BIN)/python requirements/check.py $(LOCK_EXTRAS)
	touch $@

# Regenerate the lock from pyproject.toml. Pins already in it are kept unless
# pyproject.toml no longer allows them (or LOCK_ARGS says otherwise).
lock: | $(BIN)/python
	$(BIN)/python -m pip install -q uv==$(UV_VERSION)
	$(UV_COMPILE) $(addprefix --extra ,$(LOCK_EXTRAS)) $(LOCK_ARGS) -o $(LOCK)
	$(UV_COMPILE) --constraint $(LOCK) -o $(RUNTIME_LOCK)

run: $(VENV)/.installed $(BROKER_PLUGIN)
	DJANGO_DEBUG=1 $(BIN)/python manage.py migrate --noinput
	DJANGO_DEBUG=1 $(BIN)/python manage.py seed_demo --base-url http://$(HOST)
	PATH=$(CURDIR)/$(BIN):$$PATH DJANGO_DEBUG=1 HOST=$(HOST) \
		$(BIN)/honcho -f Procfile.dev start

test: $(VENV)/.installed $(BROKER_PLUGIN)
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
bench: $(VENV)/.installed $(BROKER_PLUGIN)
	$(BIN)/python bench/run.py $(BENCH_ARGS)

# The realtime link (docs/performance.md): ingest through the broker, fan-out over WebSocket.
# BENCH_ARGS='--runs 1 --duration 3 --rate 1000 --subscribers 50' for a quick check.
.PHONY: bench-realtime
bench-realtime: $(VENV)/.installed $(BROKER_PLUGIN)
	$(BIN)/python bench/realtime.py $(BENCH_ARGS)

# The production stack from deploy/ on this machine, checked end to end (README "Deploy";
# bench/prod_check.py): PostgreSQL (a fresh database, dropped after), nginx, gunicorn, the
# broker, the realtime worker and the relay as the systemd units start them. CI runs it.
# PROD_CHECK_ARGS='--keep' keeps the logs and rendered files.
PROD_CHECK_ARGS ?=
.PHONY: prod-check
prod-check: $(VENV)/.installed $(BROKER_PLUGIN)
	$(BIN)/python bench/prod_check.py $(PROD_CHECK_ARGS)
