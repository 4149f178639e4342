# Conclave TechMedia: `make run` for the site, `make test` for the checks.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
# The venv is brought up to date when a requirements file changes: the site's own packages for
# run and serve, the development tools (pytest, Playwright, moto, ruff...) only for test.
RUNTIME_STAMP := $(VENV)/.installed-runtime
DEV_STAMP := $(VENV)/.installed-dev

.PHONY: run serve test lint fmt clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(RUNTIME_STAMP): requirements.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	touch $(RUNTIME_STAMP)

$(DEV_STAMP): requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $(DEV_STAMP) $(RUNTIME_STAMP)

.env: | $(RUNTIME_STAMP)
	@echo "Writing .env with a generated DJANGO_SECRET_KEY for local development"
	@$(BIN)/python -c "from django.core.management.utils import get_random_secret_key as g; print('DJANGO_SECRET_KEY=' + g())" > .env

# Absolute links (SITE_URL) follow PORT unless SITE_URL is set (conclave/settings.py).
run: export PORT := $(PORT)
run: $(RUNTIME_STAMP) .env
	DJANGO_DEBUG=true $(BIN)/python manage.py migrate --no-input
	DJANGO_DEBUG=true $(BIN)/python manage.py load_demo
	@echo ""
	@echo "  The seed story:  http://127.0.0.1:$(PORT)/news/openai-foxconn-collaboration-ai-supply-chain-us-data-center-components/"
	@echo "  The front page:  http://127.0.0.1:$(PORT)/"
	@echo "  Admin:           http://127.0.0.1:$(PORT)/admin/"
	@echo "  Create an editor account first:  DJANGO_DEBUG=true $(BIN)/python manage.py createsuperuser"
	@echo ""
	DJANGO_DEBUG=true $(BIN)/python manage.py runserver 127.0.0.1:$(PORT)

# The production stack on this machine: gunicorn, DEBUG off, hashed and compressed static files.
# Plain HTTP on 127.0.0.1, so no redirect to HTTPS unless the environment asks for it (behind a TLS
# proxy: DJANGO_SECURE_SSL_REDIRECT=true DJANGO_BEHIND_TLS_PROXY=true).
serve: export DJANGO_SECURE_SSL_REDIRECT ?= false
serve: export PORT := $(PORT)
serve: $(RUNTIME_STAMP) .env
	$(BIN)/python manage.py collectstatic --no-input --verbosity 0
	$(BIN)/python manage.py migrate --no-input
	GUNICORN_BIND=$${GUNICORN_BIND:-127.0.0.1:$(PORT)} exec $(BIN)/gunicorn --config conclave/gunicorn.conf.py conclave.wsgi

test: $(DEV_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	DJANGO_SETTINGS_MODULE=tests.settings $(BIN)/python manage.py check
	DJANGO_SETTINGS_MODULE=tests.settings $(BIN)/python manage.py makemigrations --check --dry-run
	$(BIN)/pytest --cov --numprocesses=auto --maxprocesses=8

lint: $(DEV_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

fmt: $(DEV_STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf $(VENV) staticfiles
