"""gunicorn settings for `make serve` and production (DESIGN.md, topologies 2 and 3).

    gunicorn --config conclave/gunicorn.conf.py conclave.wsgi

Read by gunicorn, not by Django. Each value below comes from the environment when set there.
"""

import os

bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")

# A page is mostly Python work, with short waits on PostgreSQL and Redis: the classic two processes
# per core, plus one, keeps the cores busy while some wait. sched_getaffinity counts the cores this
# process may use (a container's share), not the host's.
workers = int(os.environ.get("WEB_CONCURRENCY", 2 * len(os.sched_getaffinity(0)) + 1))
# Threads let a worker keep idle keep-alive connections open and overlap those waits.
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS", 4))

# A worker silent for this many seconds (its main loop stuck) is killed and replaced. With threads, one
# slow request does not silence it: DATABASE_STATEMENT_TIMEOUT (conclave/database.py) bounds the
# database time of each request instead.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", 30))
graceful_timeout = 30
keepalive = 5
# Recycle workers now and then, staggered, so slow memory growth never accumulates; rarely enough
# (minutes apart even at a thousand requests a second) that reloading Django never shows in latency.
max_requests = 100_000
max_requests_jitter = 10_000

# Whether a request came over HTTPS is Django's call alone (DJANGO_BEHIND_TLS_PROXY decides whether the
# proxy's X-Forwarded-Proto counts: SECURE_PROXY_SSL_HEADER). gunicorn's defaults would believe
# X-Forwarded-Proto, -Ssl and -Protocol from 127.0.0.1, and from anyone on a unix socket, whatever that
# setting says: a client could then turn on HSTS and HTTPS cache keys for itself.
forwarded_allow_ips = ""
secure_scheme_headers = {}
forwarder_headers = ""

# No access log of gunicorn's own: the site logs every request itself, as JSON with its request id,
# status and duration (conclave/middleware.py). gunicorn's messages (start, workers, timeouts) go to
# stdout as JSON too, one stream for the process manager or container runtime to collect.
accesslog = None
errorlog = "-"
logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(levelname)s %(name)s %(message)s",
            "rename_fields": {"levelname": "level", "name": "logger"},
            "timestamp": "time",
        }
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stdout"}
    },
    "loggers": {"gunicorn.error": {"handlers": ["console"], "level": "INFO", "propagate": False}},
    "root": {"handlers": [], "level": "WARNING"},
}

# gunicorn's runtime control socket lives at one path per user: two servers on one machine (the
# benchmarks run two side by side) would fight over it, and nothing here uses it.
control_socket_disable = True
