"""The web process's bound on database time, and a statement it cut short told apart from an outage.

Every statement of a web request runs under PostgreSQL's ``statement_timeout``
(``DATABASE_STATEMENT_TIMEOUT`` seconds, README "Configuration"): a request that would keep a worker
and a database backend busy for tens of seconds (issue 15: one search took 46 s, and gunicorn's own
timeout never fired) is cancelled by PostgreSQL instead. Only conclave/wsgi.py applies it, so
management commands (migrate, seed_bulk, send_notifications, rerender_articles, imports) run
unlimited. The limit travels in the libpq ``options`` of each new connection (``-c
statement_timeout=…``): it costs no query at all, not even one per connection.
"""

from django.db import OperationalError

QUERY_CANCELED = "57014"  # PostgreSQL's SQLSTATE for a statement cancelled, by the timeout or by hand


def limit_statement_time(databases, seconds):
    """Put ``statement_timeout`` into the connection options of every PostgreSQL database of
    ``databases`` (the DATABASES setting, changed in place: every connection opened from then on,
    in any thread, carries it). 0 sets no limit."""
    if seconds <= 0:
        return
    timeout = f"-c statement_timeout={round(seconds * 1000)}"
    for database in databases.values():
        if database["ENGINE"] == "django.db.backends.postgresql":
            options = database.setdefault("OPTIONS", {})
            options["options"] = f"{options['options']} {timeout}" if options.get("options") else timeout


def statement_cancelled(exc):
    """Whether ``exc``, as Django raised it, is PostgreSQL cancelling a statement (the statement
    timeout, or pg_cancel_backend): the database is there, the statement asked too much of it."""
    cause = exc.__cause__ if isinstance(exc, OperationalError) else None
    return getattr(cause, "sqlstate", None) == QUERY_CANCELED
