# The PyFarm master: `make run` to serve it, `make test` to check everything.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: run test venv migrate lint pytest clean

# The virtualenv, rebuilt whenever a requirements file changes.
$(STAMP): requirements/base.txt requirements/test.txt requirements/dev.txt setup.cfg pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements/dev.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $@

venv: $(STAMP)

migrate: venv
	$(BIN)/python manage.py migrate --no-input

# Serve the master on the embedded defaults (SQLite) at http://127.0.0.1:5000/.
run: migrate
	$(BIN)/python manage.py runmaster

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python manage.py makemigrations --check --dry-run
	$(BIN)/python manage.py check
	$(BIN)/mypy .

# Everything CI runs: lint, then the whole suite on a throwaway PostgreSQL 15
# (with coverage) and again on SQLite.
test: lint
	@set -e; \
	pgdir=$$(mktemp -d); \
	trap '.ci/postgres stop "$$pgdir"; rm -rf "$$pgdir"' EXIT; \
	url=$$(.ci/postgres start "$$pgdir"); \
	echo "== test suite on PostgreSQL ($$url)"; \
	PYFARM_DATABASE_URI=$$url $(BIN)/pytest -n 2 --dist=loadscope --cov --cov-report=term $(PYTEST_ARGS); \
	echo "== test suite on SQLite"; \
	PYFARM_DATABASE_URI=sqlite:///$$pgdir/farm.sqlite $(BIN)/pytest -n 2 --dist=loadscope $(PYTEST_ARGS)

# The suite against whatever database the configuration names, keeping the
# test database between runs.
pytest: venv
	$(BIN)/pytest --reuse-db $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) var .coverage htmlcov
