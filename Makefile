# Two commands for a fresh machine:
#   make run   set up a virtualenv, build the broker plugin, migrate the SQLite default,
#              seed demo data, then run the web app (:8000), the broker, the realtime
#              worker, the relay and the task worker together (Procfile.dev; Ctrl-C
#              stops them all)
#   make test  install the test tools and run the whole suite
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1:8000
ARGS ?=

.PHONY: run test lint clean system-deps

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

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e '.[test,dev]'
	touch $@

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
bench: $(VENV)/.installed
	$(BIN)/python -m pip install -q -e '.[test,bench]'
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
