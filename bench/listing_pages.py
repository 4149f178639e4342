"""In-process render time and query count of the listing pages at several archive sizes, on PostgreSQL.

For each size: a throwaway test database, ``seed_bulk --articles N``, VACUUM ANALYZE (as autovacuum
would have done on a live site), then the home page, the most popular tag's page, page 50 of the
latest list, its last page, and searches for a word in most bodies and for a rarer one; each is
warmed up, then requested R times through Django's test client (the full middleware, view and
template stack; no network, no page cache). Prints p50/p90, the query count and the slowest query
of one request; --verbose prints every query, --explain the EXPLAIN ANALYZE of each slowest one.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/conclave_bench \\
        .venv/bin/python bench/listing_pages.py [--sizes 1000 100000] [--requests 30] [--explain]

A timing benchmark: nothing is asserted; a page that fails prints its status and the run goes on.
"""

import argparse
import logging
import re
import shutil
import statistics
import sys
import time
from io import StringIO
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import setup_django  # noqa: E402

# Before django.setup(): the settings read these from the environment. The page cache is off: this
# bench measures what a miss costs (bench/http_pages.py measures the cache).
setup_django(
    environment={"PAGE_CACHE_SECONDS": "0"},
    defaults={
        "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/conclave_bench",
        "DJANGO_SETTINGS_MODULE": "tests.settings",
    },
)

from django.conf import settings  # noqa: E402
from django.core.cache import cache  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.db.models import Count  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import setup_test_environment  # noqa: E402

from articles.models import Article, Tag  # noqa: E402

_SELECT_LIST_RE = re.compile(r"SELECT\s.*?\sFROM\s", re.S)
SEARCH_WORD = "engineers"  # in five of the six body templates of seed_bulk: ~80 % of the articles
RARE_WORD = "lidar"  # one of 30 technologies, two drawn per article: ~7 % of the articles
WARM_UP = 3


def pages():
    """(label, url) of the pages to time, for the database as seeded."""
    tag = Tag.objects.annotate(n=Count("tagged_articles")).order_by("-n").first()
    last = max(1, -(-Article.objects.published().count() // 20))
    return [
        ("home", "/"),
        (f"tag ({tag.name})", f"/tags/{tag.slug}/"),
        ("latest, page 50", "/?page=50"),
        (f"latest, last page ({last})", f"/?page={last}"),
        (f"search ({SEARCH_WORD})", f"/search/?q={SEARCH_WORD}"),
        (f"search, rarer word ({RARE_WORD})", f"/search/?q={RARE_WORD}"),
    ]


def percentile(sorted_values, fraction):
    return sorted_values[min(len(sorted_values) - 1, int(len(sorted_values) * fraction))]


class QueryTimer:
    """Every query of a block with its time in ms (perf_counter: Django's own log rounds to 1 ms)."""

    def __init__(self):
        self.queries = []  # (ms, sql with its parameters)

    def __call__(self, execute, sql, params, many, context):
        start = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            elapsed = (time.perf_counter() - start) * 1000
            cursor = context["cursor"]
            self.queries.append((elapsed, connection.ops.last_executed_query(cursor, sql, params)))


def short_sql(sql, limit):
    """The SQL with each long SELECT list shown as "…" (a COUNT(*) stays), cut to ``limit`` characters."""
    return _SELECT_LIST_RE.sub(lambda m: "SELECT … FROM " if len(m.group()) > 60 else m.group(), sql)[:limit]


def measure(client, url, requests):
    """{status, p50, p90, queries, slowest (ms, sql)}; timings only when the page answers 200."""
    for _ in range(WARM_UP):
        response = client.get(url)
    result = {"status": response.status_code}
    if response.status_code != 200:
        return result
    timer = QueryTimer()
    with connection.execute_wrapper(timer):
        client.get(url)
    queries = timer.queries
    slowest = max(queries, default=(0.0, ""))
    timings = []
    for _ in range(requests):
        start = time.perf_counter()
        client.get(url)
        timings.append((time.perf_counter() - start) * 1000)
    timings.sort()
    result.update(
        p50=statistics.median(timings),
        p90=percentile(timings, 0.9),
        queries=len(queries),
        slowest=slowest,
        all_queries=queries,
    )
    return result


def explain(sql):
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS) {sql}")
        return "\n".join(row[0] for row in cursor.fetchall())


def run_size(size, args):
    out = StringIO()
    start = time.perf_counter()
    call_command("seed_bulk", "--articles", str(size), stdout=out)
    seed_seconds = time.perf_counter() - start
    summary = out.getvalue().strip().splitlines()[-1]
    start = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE" if args.no_vacuum else "VACUUM (ANALYZE)")
    analyze_seconds = time.perf_counter() - start
    if settings.CACHES["default"]["BACKEND"].endswith("LocMemCache"):
        cache.clear()  # nothing cached from the previous size's database (e.g. the footer's archive link)

    client = Client()
    rows = [(label, url, measure(client, url, args.requests)) for label, url in pages()]

    analyze = "ANALYZE" if args.no_vacuum else "VACUUM ANALYZE"
    print(
        f"\n== {size:,} articles: seed_bulk {seed_seconds:.1f} s, {analyze} {analyze_seconds:.1f} s, "
        f"{args.requests} requests a page"
    )
    print(f"   {summary}")
    print(f"{'page':<34} {'status':>6} {'p50 ms':>8} {'p90 ms':>8} {'queries':>8} {'slowest q ms':>13}")
    for label, _, r in rows:
        if r["status"] != 200:
            print(f"{label:<34} {r['status']:>6} {'-':>8} {'-':>8} {'-':>8} {'-':>13}")
            continue
        print(
            f"{label:<34} {r['status']:>6} {r['p50']:8.1f} {r['p90']:8.1f} {r['queries']:8d}"
            f" {r['slowest'][0]:13.1f}"
        )
    print("Slowest query of each page (one request):")
    for _label, url, r in rows:
        if r["status"] == 200:
            print(f"  {url}  {r['slowest'][0]:.1f} ms: {short_sql(r['slowest'][1], args.sql_chars)}")
    if args.verbose:
        for _label, url, r in rows:
            print(f"\n-- all queries of {url}")
            for ms, sql in r.get("all_queries", []):
                print(f"  {ms:7.1f} ms  {short_sql(sql, args.sql_chars)}")
    if args.explain:
        for _label, url, r in rows:
            if r["status"] == 200 and r["slowest"][1]:
                print(f"\n-- EXPLAIN ANALYZE, slowest query of {url}\n{explain(r['slowest'][1])}")
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 100_000])
    parser.add_argument("--requests", type=int, default=30, help="Timed requests per page.")
    parser.add_argument("--explain", action="store_true", help="EXPLAIN ANALYZE each page's slowest query.")
    parser.add_argument("--verbose", action="store_true", help="Print every query of each page.")
    parser.add_argument("--no-vacuum", action="store_true", help="Plain ANALYZE after seeding, no VACUUM.")
    parser.add_argument("--sql-chars", type=int, default=400, help="How much of each SQL text to print.")
    args = parser.parse_args()
    if connection.vendor != "postgresql":
        sys.exit(f"DATABASE_URL must point to PostgreSQL; it gives {connection.vendor}.")

    setup_test_environment()
    logging.getLogger("django.request").setLevel(logging.ERROR)  # a 404 is reported in the table
    try:
        for size in args.sizes:
            old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True)
            try:
                if size == args.sizes[0]:
                    with connection.cursor() as cursor:
                        cursor.execute("SHOW server_version")
                        version = cursor.fetchone()[0]
                    print(f"Listing pages on PostgreSQL {version}, in process through django.test.Client")
                run_size(size, args)
            finally:
                connection.creation.destroy_test_db(old_name, verbosity=0)
    finally:
        media = Path(settings.MEDIA_ROOT)
        if media.name.startswith("conclave-test-media-"):  # the temporary folder tests.settings made
            shutil.rmtree(media, ignore_errors=True)


if __name__ == "__main__":
    main()
