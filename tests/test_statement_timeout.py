"""The statement timeout of web requests (conclave/database.py): set for every connection the web
process opens, never for management commands; a statement it cancels is a 504, not an outage.

PostgreSQL only, but for the options test: SQLite has no statement timeout. The cancelled statements
are real: a ``pg_sleep`` that a statement timeout of 10 ms cancels, run just before the statement a
test picks, so the request meets the very error a slow statement would raise.
"""

import contextlib
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection
from django.test import Client

from conclave.database import limit_statement_time

ROOT = Path(__file__).resolve().parent.parent
SHOW = "from django.db import connection\nwith connection.cursor() as c:\n"
SHOW += "    c.execute('SHOW statement_timeout')\n    print(c.fetchone()[0])"

postgres_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="a statement timeout is PostgreSQL's; CI's second run uses it"
)


@contextlib.contextmanager
def statement_cancelled_where(marker):
    """Every statement whose SQL holds ``marker`` is cancelled by PostgreSQL's statement timeout.
    Use in a transactional test: the site runs in autocommit."""

    def cancel(execute, sql, params, many, context):
        if marker in sql:
            execute("SET statement_timeout = 10", None, False, context)
            try:
                execute("SELECT pg_sleep(5)", None, False, context)
            finally:
                if not connection.in_atomic_block:  # in one, its rollback undoes the SET
                    execute("RESET statement_timeout", None, False, context)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(cancel):
        yield


def statement_timeout_seen_by(*argv, **env):
    """SHOW statement_timeout in a fresh interpreter running ``argv`` against the test database, with
    the production settings module and the given environment variables."""
    database = connection.settings_dict
    password = f":{database['PASSWORD']}" if database["PASSWORD"] else ""
    address = f"{database['USER']}{password}@{database['HOST']}:{database['PORT']}/{database['NAME']}"
    clean_env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_"))}
    clean_env.update(
        DJANGO_SETTINGS_MODULE="conclave.settings",
        DJANGO_SECRET_KEY="k" * 50,
        DATABASE_URL=f"postgres://{address}",
        CACHE_URL="locmemcache://",
        **env,
    )
    result = subprocess.run(  # noqa: S603 -- this interpreter, fixed arguments
        [sys.executable, *argv], cwd=ROOT, env=clean_env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.split()[-1]  # the shell may announce its automatic imports first


def web_process(entry_point="conclave.wsgi", **env):
    return statement_timeout_seen_by("-c", f"import {entry_point}\n{SHOW}", **env)


def management_command(**env):
    return statement_timeout_seen_by("manage.py", "shell", "-c", SHOW, **env)


@postgres_only
@pytest.mark.parametrize("entry_point", ["conclave.wsgi", "conclave.asgi"])
def test_the_web_process_limits_each_statement(db, entry_point):
    assert web_process(entry_point) == "3s"  # the default
    assert web_process(entry_point, DATABASE_STATEMENT_TIMEOUT="0.25") == "250ms"
    assert web_process(entry_point, DATABASE_STATEMENT_TIMEOUT="0") == "0"  # no limit


@postgres_only
def test_management_commands_are_not_limited(db):
    # migrate, seed_bulk, send_notifications, rerender_articles: every command starts as this one does.
    assert management_command(DATABASE_STATEMENT_TIMEOUT="0.25") == "0"
    with connection.cursor() as cursor:  # nor is the test run's own connection
        cursor.execute("SHOW statement_timeout")
        assert cursor.fetchone()[0] == "0"


def test_the_limit_joins_the_connection_options_of_postgresql_databases_only():
    databases = {
        "default": {"ENGINE": "django.db.backends.postgresql", "OPTIONS": {"options": "-c search_path=news"}},
        "other": {"ENGINE": "django.db.backends.postgresql"},
        "local": {"ENGINE": "django.db.backends.sqlite3", "OPTIONS": {}},
    }
    limit_statement_time(databases, 1.5)
    assert databases["default"]["OPTIONS"] == {"options": "-c search_path=news -c statement_timeout=1500"}
    assert databases["other"]["OPTIONS"] == {"options": "-c statement_timeout=1500"}
    assert databases["local"]["OPTIONS"] == {}
    unlimited = {"default": {"ENGINE": "django.db.backends.postgresql", "OPTIONS": {}}}
    limit_statement_time(unlimited, 0)
    assert unlimited["default"]["OPTIONS"] == {}


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_a_statement_cancelled_outside_search_is_a_504_not_an_outage(newsroom, caplog):
    reader = Client(raise_request_exception=False)
    with statement_cancelled_where('"articles_article"'):
        response = reader.get("/")
    assert response.status_code == 504
    assert response["Cache-Control"] == "no-store"
    assert not response.has_header("Retry-After")
    page = response.content.decode()
    assert "This page took too long" in page and "We are back in a moment" not in page
    assert "statement timeout" not in page and "Traceback" not in page
    # The log says which of the two it was, and keeps the traceback.
    (error,) = [r for r in caplog.records if r.name == "django.request"]
    assert error.getMessage() == "Gateway Timeout: /" and error.levelno == logging.ERROR
    assert "QueryCanceled" in repr(error.exc_info[1].__cause__)
    assert reader.get("/").status_code == 200  # the connection serves the next request
