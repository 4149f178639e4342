"""Does the follow form's answer tell addresses apart by its timing? (issue 15, finding 8)

The production stack as `make serve` runs it (gunicorn with conclave/gunicorn.conf.py, DEBUG off,
PostgreSQL, Redis), with mail going over SMTP to a local aiosmtpd server in a child process that accepts
and counts everything. Four kinds of address are POSTed to /tags/<slug>/follow/, with a valid CSRF
token, one of each per round in a shuffled order:

* new: never seen before;
* pending: asked for once before (its confirmation mail went out);
* subscribed: a confirmed subscriber (created in the database);
* over its limit: asked for as often as its hourly limit allows (no mail goes).

Each POST goes out on a fresh connection (opened before the clock starts) and is timed from sending the
request to reading the last byte of the answer. On the same connection, a GET /healthz follows at
once: a client that keeps its connection open waits for whatever the server still does for the POST
after answering it. A pause between rounds lets that work finish. Every request carries an
X-Forwarded-For address of its own (the server runs with DJANGO_BEHIND_TLS_PROXY=true), so the
follow form's per-client limit never answers instead of the view.

Prints, for each kind, the median, p10 and p90 of the answer and of the GET after it, and whether the
four medians of the answer lie within 1 ms of each other. A timing benchmark: nothing is asserted.

    .venv/bin/python bench/follow_timing.py [--samples 100]

Needs PostgreSQL on 127.0.0.1:5432 (BENCH_PG_URL to change), where it makes the database
conclave_bench_follows afresh each run, and Redis on 127.0.0.1:6379, database 4, where it leaves only
rate-limit counters that expire within the hour (every run uses addresses of its own). Sends traffic to
127.0.0.1 only.
"""

import argparse
import http.client
import io
import os
import random
import re
import secrets
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (  # noqa: E402
    HOST,
    PG_URL,
    Gunicorn,
    Sink,
    bench_settings_env,
    free_port,
    git_commit,
    recreate_database,
    redis_url,
    setup_django,
)

DATABASE = "conclave_bench_follows"
REDIS_URL = redis_url(4)
WORKERS = 2
PAUSE = 0.1  # seconds between two requests: the work a POST leaves for after its answer is done by then
STATES = ("new", "pending", "subscribed", "over its limit")
ADDRESS_LIMIT = 3  # articles.following.limits.ADDRESS_LIMIT: mails per address and hour
WORK = Path(tempfile.mkdtemp(prefix="conclave-bench-follows-"))

setup_django(
    bench_settings_env(
        WORK / "media",
        WORK / "static",
        DJANGO_BEHIND_TLS_PROXY="true",
        DATABASE_URL=f"{PG_URL}/{DATABASE}",
        CACHE_URL=REDIS_URL,
    )
)

from django.core.management import call_command  # noqa: E402
from django.db.models import Count  # noqa: E402
from django.utils import timezone  # noqa: E402

from articles.models import Subscriber, Tag  # noqa: E402


def prepare_database():
    """A fresh database with a few stories (seed_bulk); the tag on most of them is the one followed."""
    recreate_database(DATABASE)
    call_command("migrate", "--no-input", verbosity=0)
    call_command("seed_bulk", "--articles", "60", "--tags", "10", stdout=io.StringIO())
    call_command("collectstatic", "--no-input", verbosity=0)
    return Tag.objects.annotate(n=Count("tagged_articles")).order_by("-n", "pk").first()


class Visitor:
    """One browser's CSRF cookie and token, and a fresh forwarded address for every request."""

    def __init__(self, port, path):
        self.port, self.path, self.cookie = port, path, None
        # A POST without a token gets the form again, with a token and its cookie.
        status, headers, body = self.send(self.connect(), "POST", path, {"email": "first@example.com"})
        cookie = next(
            value for name, value in headers if name.lower() == "set-cookie" and "csrftoken=" in value
        )
        self.cookie = cookie.split(";", 1)[0]
        self.token = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', body).group(1).decode()

    def connect(self):
        connection = http.client.HTTPConnection(HOST, self.port, timeout=30)
        connection.connect()
        return connection

    def send(self, connection, method, path, fields=None):
        client = ".".join(str(random.randrange(1, 255)) for _ in range(3))
        headers = {"X-Forwarded-For": f"10.{client}"}
        body = None
        if fields is not None:
            body = urlencode(fields)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        if self.cookie:
            headers["Cookie"] = self.cookie
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        return response.status, response.getheaders(), response.read()

    def follow(self, email, connection=None):
        connection = connection or self.connect()
        fields = {"email": email, "frequency": "immediate", "csrfmiddlewaretoken": self.token}
        status, _, body = self.send(connection, "POST", self.path, fields)
        assert status == 200, (status, body[:500])
        return body


def timed(call):
    started = time.perf_counter()
    result = call()
    return (time.perf_counter() - started) * 1000, result


def percentile(values, share):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=100, help="POSTs per kind of address (at least 30).")
    args = parser.parse_args()

    sink = Sink()
    server = None
    try:
        tag = prepare_database()
        env = {**os.environ, "WEB_CONCURRENCY": str(WORKERS), "EMAIL_URL": f"smtp://{HOST}:{sink.port}"}
        server = Gunicorn(free_port(), env, WORK / "gunicorn.log")
        server.start()
        server.wait_ready(timeout=60)
        results = measure(server.port, f"/tags/{tag.slug}/follow/", args.samples, sink)
    finally:
        if server is not None:
            server.stop()
        sink.close()
        shutil.rmtree(WORK, ignore_errors=True)
    report(args.samples, *results)


def measure(port, path, samples, sink):
    """(answer times, next-request times, distinct answer bodies, mails sent) of the timed rounds."""
    visitor = Visitor(port, path)
    run = secrets.token_hex(4)  # addresses of this run's own: the limits' counters of earlier runs stay apart
    addresses = {
        state: [f"{state.split()[0]}-{run}-{n}@example.com" for n in range(samples)] for state in STATES
    }
    now = timezone.now()
    Subscriber.objects.bulk_create(
        Subscriber(email=email, confirmed_at=now) for email in addresses["subscribed"]
    )
    for email in addresses["pending"]:
        visitor.follow(email)
    for email in addresses["over its limit"]:
        for _ in range(ADDRESS_LIMIT):
            visitor.follow(email)
    time.sleep(1)

    answers, next_requests, bodies = {state: [] for state in STATES}, {state: [] for state in STATES}, set()
    mails_before = sink.count
    for n in range(samples):
        for state in random.sample(STATES, len(STATES)):
            connection = visitor.connect()
            elapsed, body = timed(lambda: visitor.follow(addresses[state][n], connection))  # noqa: B023
            answers[state].append(elapsed)
            bodies.add(body)
            elapsed, _ = timed(lambda: visitor.send(connection, "GET", "/healthz"))  # noqa: B023
            next_requests[state].append(elapsed)
            connection.close()
            time.sleep(PAUSE)
    time.sleep(1)
    return answers, next_requests, bodies, sink.count - mails_before


def report(samples, answers, next_requests, bodies, mails):
    print(
        f"\nFollow POST timing, {samples} samples per kind, interleaved; gunicorn "
        f"(conclave/gunicorn.conf.py, WEB_CONCURRENCY={WORKERS}), PostgreSQL, Redis, SMTP to a local sink; "
        f"{os.cpu_count()} CPUs; commit {git_commit()}\n"
    )
    header = ["address", "answer p50", "p10", "p90", "next GET p50", "p10", "p90"]
    print(f"{header[0]:<16}" + "".join(f"{cell:>13}" for cell in header[1:]) + "  (ms)")
    for state in STATES:
        cells = []
        for values in (answers[state], next_requests[state]):
            cells += [statistics.median(values), percentile(values, 0.1), percentile(values, 0.9)]
        print(f"{state:<16}" + "".join(f"{cell:>13.2f}" for cell in cells))
    medians = [statistics.median(answers[state]) for state in STATES]
    spread = max(medians) - min(medians)
    verdict = "within" if spread <= 1 else "NOT within"
    print(f"\nSpread of the answer medians: {spread:.2f} ms ({verdict} 1 ms).")
    print(f"Distinct answer bodies: {len(bodies)}.")
    print(
        f"Mails the sink took during the timed POSTs: {mails} (expected {3 * samples}; none over the limit)."
    )


if __name__ == "__main__":
    main()
