# The PyFarm master: `make run` to serve it, `make test` to check everything.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: run test e2e fuzz faults venv migrate setup lint pytest clean system-deps browser vendor

# The virtualenv, rebuilt whenever a requirements file changes.
$(STAMP): requirements/base.txt requirements/test.txt requirements/dev.txt setup.cfg pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements/dev.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $@

venv: $(STAMP)

# What the tests need from the system's packages (Debian, as root): Redis for
# the broker tests, chromium for the browser tests (tests/browser; Playwright
# drives it, no browser is downloaded), wrk for the benchmarks' load
# (benchmarks/heartbeat_ab.py, api_load.py).
system-deps:
	@missing=""; \
	command -v redis-server >/dev/null 2>&1 || missing="$$missing redis-server"; \
	command -v wrk >/dev/null 2>&1 || missing="$$missing wrk"; \
	test -x "$${PYFARM_CHROMIUM:-/usr/bin/chromium}" || missing="$$missing chromium"; \
	if [ -n "$$missing" ]; then \
		echo "== installing$$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi

# The front-end libraries in static/vendor/, fetched again from the npm
# registry at the versions and checksums of static/vendor/MANIFEST.
vendor:
	.ci/vendor

# Only the browser tests (Playwright + Debian chromium), on SQLite.
browser: venv system-deps
	$(BIN)/pytest tests/browser -p no:xdist $(PYTEST_ARGS)

migrate: venv
	$(BIN)/python manage.py migrate --no-input

# The tables, then the periodic tasks missing from the database.
setup: migrate
	$(BIN)/python manage.py setup_periodic_tasks

# Serve the master on the embedded defaults (SQLite database, filesystem
# broker) at http://127.0.0.1:5000/: web server, Celery worker and beat.
run: setup
	$(BIN)/python manage.py runmaster

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python manage.py makemigrations --check --dry-run
	$(BIN)/python manage.py check
	$(BIN)/mypy .
	.ci/vendor --check

# Everything CI runs: lint, then the whole suite on a throwaway PostgreSQL 15
# (with coverage, the browser tests included) and again on SQLite (without
# them), then Schemathesis (`fuzz`); the
# suites with a throwaway Redis for the
# broker tests (PYFARM_TEST_REDIS_URL) and an embedded-broker folder of their
# own, never the one of a master running on this machine.
test: lint system-deps
	@set -e; \
	pgdir=$$(mktemp -d); \
	redisdir=$$(mktemp -d); \
	trap '.ci/redis stop "$$redisdir"; rm -rf "$$redisdir"; .ci/postgres stop "$$pgdir"; rm -rf "$$pgdir"' EXIT; \
	url=$$(.ci/postgres start "$$pgdir"); \
	PYFARM_TEST_REDIS_URL=$$(.ci/redis start "$$redisdir"); \
	PYFARM_SCHEDULER_BROKER_DIR=$$redisdir/broker; \
	export PYFARM_TEST_REDIS_URL PYFARM_SCHEDULER_BROKER_DIR; \
	echo "== Redis for the broker tests: $$PYFARM_TEST_REDIS_URL"; \
	echo "== test suite on PostgreSQL ($$url)"; \
	PYFARM_DATABASE_URI=$$url $(BIN)/pytest -n 2 --dist=loadscope --cov --cov-report=term $(PYTEST_ARGS); \
	echo "== test suite on SQLite"; \
	PYFARM_DATABASE_URI=sqlite:///$$pgdir/farm.sqlite $(BIN)/pytest -n 2 --dist=loadscope -m "not browser" $(PYTEST_ARGS)
	$(MAKE) --no-print-directory fuzz

# End to end with the real agent (pyfarm-agent 0.8.6 on Python 2.7, from
# PyPI; the virtualenv is built once and cached in ~/.cache/pyfarm-e2e): our
# master (web, worker, beat) on a throwaway PostgreSQL and Redis, two agents
# on 127.0.0.1, a job that succeeds and one that fails (tests/e2e/).
e2e: venv
	@set -e; \
	pgdir=$$(mktemp -d); \
	redisdir=$$(mktemp -d); \
	trap '.ci/redis stop "$$redisdir"; rm -rf "$$redisdir"; .ci/postgres stop "$$pgdir"; rm -rf "$$pgdir"' EXIT; \
	PYFARM_E2E_DATABASE_URI=$$(.ci/postgres start "$$pgdir"); \
	PYFARM_E2E_REDIS_URL=$$(.ci/redis start "$$redisdir"); \
	export PYFARM_E2E_DATABASE_URI PYFARM_E2E_REDIS_URL; \
	echo "== end to end with pyfarm-agent 0.8.6 ($$PYFARM_E2E_DATABASE_URI, $$PYFARM_E2E_REDIS_URL)"; \
	$(BIN)/pytest tests/e2e/test_real_agent.py -p no:xdist -v $(PYTEST_ARGS)

# The API against its OpenAPI schema: Schemathesis (seeded, a bounded number
# of examples per operation) on a throwaway master (gunicorn on a free port
# of 127.0.0.1, SQLite in a temporary folder or PYFARM_FUZZ_DATABASE_URI,
# some data and an admin's token),
# checking for 5xx answers and for status codes, content types and bodies the
# schema does not document (tests/schema/run_schemathesis.py).
fuzz: venv
	$(BIN)/python tests/schema/run_schemathesis.py

# Fault injection (tests/faults/): our master (web, worker, beat) on a
# throwaway PostgreSQL and a Redis of its own, with stand-in agents; the
# broker stopped and started, Redis frozen, PostgreSQL stopped and started.
# Work must resume within seconds and nothing run twice. About two minutes.
faults: venv
	$(BIN)/pytest tests/faults/test_fault_injection.py -p no:xdist -v -s $(PYTEST_ARGS)

# The suite against whatever database the configuration names, keeping the
# test database between runs.
pytest: venv
	$(BIN)/pytest --reuse-db $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) var .coverage htmlcov
