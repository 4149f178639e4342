"""Median in-process render time and query count of the News Details page.

Builds a throwaway test database, loads the demo stories, then requests the seed story through
Django's test client (the full middleware, view and template stack; no network, no page cache).

    .venv/bin/python bench/article_page.py [--requests 200]
"""

import argparse
import statistics
import sys
import time
from io import StringIO
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import SEED_SLUG, setup_django  # noqa: E402

# The view's own cost: every request reaches it (the site-wide fragments stay cached, as on a live site).
setup_django(defaults={"DJANGO_SETTINGS_MODULE": "tests.settings", "PAGE_CACHE_SECONDS": "0"})

from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext, setup_test_environment  # noqa: E402

SEED_URL = f"/news/{SEED_SLUG}/"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()

    setup_test_environment()
    old_name = connection.creation.create_test_db(verbosity=0)
    try:
        call_command("load_demo", stdout=StringIO())
        client = Client()
        for _ in range(10):  # warm up templates, connections and the URL resolver
            assert client.get(SEED_URL).status_code == 200
        with CaptureQueriesContext(connection) as queries:
            client.get(SEED_URL)
        query_count = len(queries)  # read now: the log is cleared by later requests
        timings = []
        for _ in range(args.requests):
            start = time.perf_counter()
            response = client.get(SEED_URL)
            timings.append((time.perf_counter() - start) * 1000)
            assert response.status_code == 200
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)

    timings.sort()
    print(f"News Details page, {args.requests} requests, {connection.vendor}")
    print(f"{'median ms':>10} {'p90 ms':>8} {'p99 ms':>8} {'queries':>8} {'bytes':>8}")
    print(
        f"{statistics.median(timings):10.2f} {timings[int(len(timings) * 0.9)]:8.2f}"
        f" {timings[int(len(timings) * 0.99)]:8.2f} {query_count:8d} {len(response.content):8d}"
    )


if __name__ == "__main__":
    main()
