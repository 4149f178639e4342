"""Hostile searches under `make serve` on PostgreSQL, at 100,000 stories with long bodies: p50/p99/max, 5xx.

Issue 15, finding 1: 20 stories of ~199,000 characters (words from a small vocabulary) on top of
30,000 normal ones made one search take 46 s. Acceptance: "p99 of hostile searches ≤ 1 s with 100,000
stories including long ones, worst single request ≤ 2 s, no 500". What the script does:

* a PostgreSQL database conclave_bench_search (--database), seeded once with ``seed_bulk --articles
  100000`` (--articles), then --long published stories (default 24) of about 199,000 characters each
  (the body limit is 200,000), paragraphs of words drawn from the small VOCABULARY below, newest of
  all so that they lead the results; VACUUM ANALYZE. Reused by later runs while its marker comment says
  so (--reseed rebuilds it); its pictures live in /tmp/conclave-bench-search/media;
* the site started with ``make serve`` as in production (bench/common.py's harness: gunicorn with
  conclave/gunicorn.conf.py, conclave.wsgi, DEBUG off, so web requests get the statement timeout:
  DATABASE_STATEMENT_TIMEOUT unset, 3 s), on a free port in 8920-8929, with the page cache off
  (PAGE_CACHE_SECONDS=0) and a local-memory cache, so every request runs its search;
* each search of HOSTILE_SEARCHES --rounds times (default 5), one request at a time, in turn;
* a table per search (statuses, how many answers were the "took too long" page, median, max) and
  over all requests p50, p99, max, the count of 500s and of every other status, beside the targets.

    .venv/bin/python bench/hostile_search.py             # under a minute; the first run seeds for one more
    .venv/bin/python bench/hostile_search.py --rounds 1  # a quick look

Needs make, PostgreSQL on 127.0.0.1:5432 (BENCH_PG_URL to change); no Redis. Sends traffic to
127.0.0.1 only. A timing benchmark: nothing is asserted.
"""

import argparse
import datetime
import http.client
import math
import random
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (  # noqa: E402
    HOST,
    PG_URL,
    Report,
    Serve,
    exit_on_sigterm,
    free_port,
    machine,
    pg_version,
    seed_once,
    site_env,
    take_site_env,
)

PORTS = range(8920, 8930)
WORK = Path(tempfile.gettempdir()) / "conclave-bench-search"
MEDIA_ROOT = WORK / "media"  # kept with the database: its articles' pictures live here
LONG_BODY_CHARS = 199_000
# The attacker's small vocabulary: every long story holds each word about 900 times and each pair
# of words side by side a few dozen times. Some are also words of seed_bulk's stories.
VOCABULARY = [
    "zebrafish", "network", "data", "cloud", "chips", "security", "model", "latency", "cluster",
    "protocol", "kernel", "memory", "storage", "quantum", "sensor", "battery", "engineers", "company",
    "customers", "market", "analysts", "supply", "research", "software", "hardware", "platform", "privacy",
    "regulators", "startup", "funding", "robots", "satellite", "wireless",
]  # fmt: skip
REQUEST_TIMEOUT = 120  # seconds: a slow answer is measured, never cut short by this client
TARGET_P99, TARGET_MAX = 1.0, 2.0  # seconds


def alternatives(terms):
    return " or ".join(terms)


EIGHT_WORD_PHRASES = ['"' + " ".join(VOCABULARY[i : i + 8]) + '"' for i in (0, 8, 16)]
# (label, query): each as a reader could type it into the search box (the first 200 characters count).
HOSTILE_SEARCHES = [
    ("issue 15: three phrases or-ed", '"zebrafish network" or "data cloud" or "chips security"'),
    ("one phrase of the long stories", '"zebrafish network"'),
    ("one word of the long stories", "zebrafish"),
    ("an eight-word phrase", '"data cloud chips security network zebrafish model latency"'),
    ("phrases of eight words, or-ed", alternatives(EIGHT_WORD_PHRASES)),
    ("eight two-word phrases", " ".join(f'"{VOCABULARY[i]} {VOCABULARY[i + 1]}"' for i in range(0, 16, 2))),
    ("sixteen one-word or-groups", alternatives(VOCABULARY[:16])),
    ("a word and fifteen negations", "data " + " ".join(f"-{w}" for w in VOCABULARY[1:16])),
    ("words in most stories", "engineers company customers said"),
    ("a phrase of words in most stories", '"engineers company customers said"'),
    ("two-word phrases of common words, or-ed", '"company said" or "per cent" or "engineers said"'),
    ("single letters", " ".join("bcdefghjklmnopqrstuvwxyz")),
    ("200 characters of vocabulary words", " ".join(VOCABULARY * 3)[:200]),
]


# --- the database -----------------------------------------------------------------------------------------


def long_story_body(rng):
    """Markdown paragraphs of vocabulary words, just under LONG_BODY_CHARS characters."""
    paragraphs, size = [], 0
    while True:
        paragraph = " ".join(rng.choice(VOCABULARY) for _ in range(rng.randint(60, 140))).capitalize() + "."
        if size + len(paragraph) + 2 > LONG_BODY_CHARS:
            return "\n\n".join(paragraphs)
        paragraphs.append(paragraph)
        size += len(paragraph) + 2


def add_long_stories(count):
    """``count`` published stories with long bodies, the newest of all, inserted with bulk_create."""
    from django.utils import timezone

    from articles import rendering
    from articles.models import Article, Section

    rng = random.Random(15)  # noqa: S311 -- repeatable fake data, not a secret
    section = Section.objects.order_by("position", "pk").first()
    now = timezone.now()
    stories = []
    for i in range(count):
        body = long_story_body(rng)
        body_html = rendering.render_markdown(body)
        stories.append(
            Article(
                title=f"Long read {i + 1}: {' '.join(rng.sample(VOCABULARY, 4))}",
                slug=f"bench-long-read-{i + 1}",
                standfirst=f"A long story about {', '.join(rng.sample(VOCABULARY, 3))}.",
                body=body,
                body_html=body_html,
                renderer_version=rendering.RENDERER_VERSION,
                excerpt=rendering.plain_excerpt(body_html),
                reading_time=rendering.reading_time_minutes(body),
                section=section,
                status=Article.Status.PUBLISHED,
                published_at=now - datetime.timedelta(minutes=i + 1),
            )
        )
    Article.objects.bulk_create(stories)


def prepare_database(name, articles, long, reseed, report):
    """Create and seed the database, or reuse it when an earlier run finished seeding it."""

    def seed():
        from django.core.management import call_command

        print(f"Seeding {name}: seed_bulk --articles {articles} (progress below), {long} long stories")
        call_command("seed_bulk", "--articles", str(articles), stdout=sys.stdout)
        add_long_stories(long)

    seed_once(
        name,
        f"bench/hostile_search.py: seed_bulk --articles {articles}, {long} long stories, VACUUM ANALYZE",
        seed,
        reseed=reseed,
        report=report,
        media_root=MEDIA_ROOT,
        steps=f"seed_bulk, {long} long stories, VACUUM",
    )
    from django.db import connections

    from articles.models import Article

    published = Article.objects.published()
    long_count = published.filter(slug__startswith="bench-long-read-").count()
    report(
        f"{name}: {Article.objects.count():,} articles, {published.count():,} published, "
        f"{long_count} of them with a body of ~{LONG_BODY_CHARS:,} characters"
    )
    connections.close_all()  # nothing of this process stays connected during the run


# --- the requests -----------------------------------------------------------------------------------------


def fetch(port, path):
    """(status or the error's name, seconds, body) of one GET on a fresh connection."""
    conn = http.client.HTTPConnection(HOST, port, timeout=REQUEST_TIMEOUT)
    started = time.perf_counter()
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        body = response.read()
        return response.status, time.perf_counter() - started, body
    except (OSError, http.client.HTTPException) as exc:
        return type(exc).__name__, time.perf_counter() - started, b""
    finally:
        conn.close()


def percentile(sorted_values, fraction):
    """The nearest-rank percentile: the smallest value with at least ``fraction`` of them at or below it."""
    return sorted_values[max(0, math.ceil(len(sorted_values) * fraction) - 1)]


def run_searches(port, rounds):
    """{label: [(status, seconds, said "too long"), …]}: every search once per round, in turn."""
    results = {label: [] for label, _ in HOSTILE_SEARCHES}
    for _ in range(rounds):
        for label, query in HOSTILE_SEARCHES:
            status, seconds, body = fetch(port, "/search/?" + urlencode({"q": query}))
            results[label].append((status, seconds, b"took too long" in body))
    return results


def report_results(results, report):
    rows, every = [], []
    for label, runs in results.items():
        times = sorted(seconds for _, seconds, _ in runs)
        every.extend(times)
        statuses = Counter(str(status) for status, _, _ in runs)
        too_long = sum(said for _, _, said in runs)
        rows.append(
            [
                label,
                " ".join(f"{status}×{n}" for status, n in sorted(statuses.items())),
                str(too_long),
                f"{statistics.median(times):.3f}",
                f"{times[-1]:.3f}",
            ]
        )
    report.table(["search", "statuses", "too long", "median s", "max s"], rows)
    every.sort()
    statuses = Counter(str(status) for runs in results.values() for status, _, _ in runs)
    p50, p99, worst = statistics.median(every), percentile(every, 0.99), every[-1]
    report()
    report(
        f"All {len(every)} requests: p50 {p50:.3f} s, p99 {p99:.3f} s (target ≤ {TARGET_P99:g} s), "
        f"max {worst:.3f} s (target ≤ {TARGET_MAX:g} s)"
    )
    report(
        f"500s: {statuses.get('500', 0)} (target 0); statuses: "
        + ", ".join(f"{status} ×{n}" for status, n in sorted(statuses.items()))
    )
    for label, query in HOSTILE_SEARCHES:
        report(f"  {label}: {query}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="Requests per search (default 5).")
    parser.add_argument("--articles", type=int, default=100_000, help="Articles seed_bulk makes.")
    parser.add_argument("--long", type=int, default=24, help="Stories of ~199,000 characters (default 24).")
    parser.add_argument("--database", default="conclave_bench_search", help="PostgreSQL database.")
    parser.add_argument("--reseed", action="store_true", help="Rebuild the database even if it is seeded.")
    args = parser.parse_args()
    if args.rounds < 1 or args.articles < 1 or args.long < 0:
        parser.error("--rounds and --articles must be at least 1, --long at least 0")
    exit_on_sigterm()  # the stop() of the finally below must run on a plain `kill` of this script too

    report = Report(indent="  ")
    port = free_port(PORTS)
    env = site_env(
        port,
        DATABASE_URL=f"{PG_URL}/{args.database}",
        CACHE_URL="locmemcache://",
        MEDIA_ROOT=str(MEDIA_ROOT),
        PAGE_CACHE_SECONDS="0",
    )
    take_site_env(env)  # this process seeds the database with the server's own settings
    report(f"Hostile searches, {datetime.datetime.now():%Y-%m-%d %H:%M}")
    report(machine(f"PostgreSQL {pg_version()}"))
    prepare_database(args.database, args.articles, args.long, args.reseed, report)

    WORK.mkdir(parents=True, exist_ok=True)
    run_dir = Path(tempfile.mkdtemp(prefix="run-", dir=WORK))
    serve = Serve(env, run_dir / "make-serve.log")
    try:
        serve.start()
        serve.wait_ready()
        report(
            f"make serve on {HOST}:{port}: {len(serve.workers())} workers, page cache off, "
            f"{args.rounds} request(s) per search, one at a time"
        )
        fetch(port, "/search/?q=warm")  # each worker's first request loads the rest of Django
        report_results(run_searches(port, args.rounds), report)
    finally:
        serve.stop()
    print(f"The server's log: {serve.log_path}")


if __name__ == "__main__":
    main()
