"""Renders per publish under `make serve`: 64 readers on the home page the moment a story goes out.

Issue 15, finding 12: a publish makes every kept page stale at once, and every reader of a busy page
used to render it at the same time (a dogpile). Now one request makes it again while the others get
the previous copy for a few seconds. What the script does:

* the PostgreSQL database of bench/load_pages.py (conclave_load: ``seed_bulk --articles 1000``,
  ``load_demo``; seeded on first use, --database to choose), Redis database 5 as CACHE_URL, emptied
  before the server starts and after it stops;
* the site started with ``make serve`` as in production (gunicorn, conclave/gunicorn.conf.py, DEBUG off,
  its default worker count), on a free port in 8930-8939, with GUNICORN_THREADS=16 (--gunicorn-threads):
  enough request slots that all 64 readers are in flight at once, as under a real crowd, rather than
  queued behind the default 4 threads a worker;
* each round: the home page is fetched until it is a hit (kept); a draft is published from this process
  through the ORM, exactly as the admin saves it (its pages are purged on commit, in the same Redis);
  then --readers threads, released together by a barrier, each GET / once. Every answer's X-Cache says
  whether its request rendered the page (``miss``), got the previous copy (``stale``) or the new one
  (``hit``): the misses are the renders of that publish. The draft is then put back (a takedown, which
  no reader may ever get stale), so the database ends as it began;
* then HEAD requests on pages kept and not (home, a story, a 404, the admin's login, the health check,
  the follow form), and the count of gunicorn's "WSGI app sent body bytes on a no-body response"
  warnings in the server's log (0 expected);
* a table on stdout, and the figures as JSON in bench/results/dogpile.json (--output to choose).

    .venv/bin/python bench/dogpile.py                  # 10 publishes, 64 readers each
    .venv/bin/python bench/dogpile.py --rounds 3       # a quick look

Needs make, PostgreSQL on 127.0.0.1:5432 (BENCH_PG_URL to change) and Redis on 127.0.0.1:6379.
Sends traffic to 127.0.0.1 only.
"""

import argparse
import contextlib
import datetime
import http.client
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (  # noqa: E402
    HOST,
    PG_URL,
    RESULTS,
    SEED_SLUG,
    Report,
    Serve,
    exit_on_sigterm,
    free_port,
    machine,
    pg_version,
    redis_version,
    require_make,
    site_env,
    take_site_env,
    write_json,
)
from bench.load_pages import MEDIA_ROOT, REDIS_URL, WORK, add_database_arguments, prepare_database  # noqa: E402

PORTS = range(8930, 8940)  # load_pages.py takes 8910-8919, observatory.py 8920-8929
HEAD_PATHS = ["/", f"/news/{SEED_SLUG}/", "/news/no-such-story/", "/admin/login/", "/healthz", "/tags/"]
HEAD_WARNING = "WSGI app sent body bytes on a no-body response"


def request(port, method, path):
    """(status, X-Cache, milliseconds) of one request on a connection of its own."""
    started = time.perf_counter()
    conn = http.client.HTTPConnection(HOST, port, timeout=60)
    try:
        conn.request(method, path, headers={"Accept-Encoding": "gzip"})
        response = conn.getresponse()
        response.read()
        return response.status, response.getheader("X-Cache", "-"), (time.perf_counter() - started) * 1000
    finally:
        conn.close()


def kept(port, path="/", timeout=30):
    """Until the page is a hit: kept, as a busy page is before a publish."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if request(port, "GET", path)[1] == "hit":
            return
        time.sleep(0.05)
    raise RuntimeError(f"{path} never became a hit")


def crowd(port, readers):
    """``readers`` GETs of the home page, released together: [(status, X-Cache, ms)]."""
    barrier = threading.Barrier(readers)
    answers = [None] * readers

    def reader(n):
        barrier.wait()
        answers[n] = request(port, "GET", "/")

    threads = [threading.Thread(target=reader, args=(n,)) for n in range(readers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return answers


def publish_round(port, readers):
    """Publish a draft, let the crowd in, put the draft back: the crowd's answers."""
    from django.utils import timezone

    from articles.models import Article

    draft = Article.objects.filter(status=Article.Status.DRAFT).order_by("pk").first()
    if draft is None:
        sys.exit("No draft in this database to publish (seed_bulk makes one in every 50 articles).")
    kept(port)
    draft.status, draft.published_at = Article.Status.PUBLISHED, timezone.now()
    draft.save()  # autocommit: its pages are purged as the save returns
    answers = crowd(port, readers)
    draft.status, draft.published_at = Article.Status.DRAFT, None
    draft.save()
    return answers


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10, help="Publishes (default 10).")
    parser.add_argument("--readers", type=int, default=64, help="Readers let in after each (default 64).")
    parser.add_argument(
        "--gunicorn-threads", type=int, default=16, help="GUNICORN_THREADS of the server (default 16)."
    )
    add_database_arguments(parser)
    parser.add_argument("--output", type=Path, help="The JSON file (default: bench/results/dogpile.json).")
    args = parser.parse_args()
    if args.rounds < 1 or args.readers < 1 or args.gunicorn_threads < 1:
        parser.error("--rounds, --readers and --gunicorn-threads must be at least 1")
    require_make()
    exit_on_sigterm()

    report = Report(indent="  ")
    started = datetime.datetime.now()
    port = free_port(PORTS)
    env = site_env(
        port,
        DATABASE_URL=f"{PG_URL}/{args.database}",
        CACHE_URL=REDIS_URL,
        MEDIA_ROOT=str(MEDIA_ROOT),
        GUNICORN_THREADS=str(args.gunicorn_threads),
    )
    take_site_env(env)  # this process publishes with the server's own settings (the same database and Redis)

    import redis

    cache = redis.Redis.from_url(REDIS_URL)
    report(f"Conclave renders per publish, {started:%Y-%m-%d %H:%M}")
    report(machine(f"PostgreSQL {pg_version()}", f"Redis {redis_version(REDIS_URL)}"))
    prepare_database(args.database, args.articles, False, report)

    WORK.mkdir(parents=True, exist_ok=True)
    run_dir = Path(tempfile.mkdtemp(prefix="dogpile-", dir=WORK))
    serve = Serve(env, run_dir / "make-serve.log")
    cache.flushdb()
    rounds, heads = [], []
    try:
        serve.start()
        serve.wait_ready()
        report(
            f"make serve on {HOST}:{port}: {len(serve.workers())} workers x {args.gunicorn_threads} threads, "
            f"page cache on, Redis {REDIS_URL}; {args.readers} readers after each of {args.rounds} publishes"
        )
        for _ in range(args.rounds):
            answers = publish_round(port, args.readers)
            rounds.append(
                {
                    "x_cache": dict(Counter(x_cache for _, x_cache, _ in answers)),
                    "statuses": dict(Counter(status for status, _, _ in answers)),
                    "ms": sorted(round(ms, 1) for _, _, ms in answers),
                }
            )
        log_start = serve.log_size()
        for path in HEAD_PATHS:
            request(port, "GET", path)  # kept, where it is kept at all
            for _ in range(2):  # the hit, and (for a page not kept) the view's answer again
                status, x_cache, _ = request(port, "HEAD", path)
                heads.append((path, status, x_cache))
        time.sleep(1)  # the log lines of the last requests
        head_warnings = serve.log_text(log_start).count(HEAD_WARNING)
        whole_log_warnings = serve.log_text().count(HEAD_WARNING)
    finally:
        serve.stop()
        with contextlib.suppress(redis.RedisError):
            cache.flushdb()
        shutil.rmtree(run_dir, ignore_errors=True)

    rows = []
    for n, found in enumerate(rounds, 1):
        x_cache = found["x_cache"]
        rows.append(
            (
                n,
                x_cache.get("miss", 0),
                x_cache.get("stale", 0),
                x_cache.get("hit", 0),
                ", ".join(f"{s}: {c}" for s, c in sorted(found["statuses"].items())),
                f"{statistics.median(found['ms']):.1f}",
                f"{found['ms'][-1]:.1f}",
            )
        )
    report()
    report(f"== {args.readers} readers on / right after each publish ==")
    report.table(
        ["publish", "renders (miss)", "old copy (stale)", "new copy (hit)", "statuses", "p50 ms", "max ms"],
        rows,
    )
    renders = [found["x_cache"].get("miss", 0) for found in rounds]
    report(f"Renders per publish: median {statistics.median(renders)}, max {max(renders)} (target: 1)")
    report()
    report("== HEAD ==")
    report.table(["path", "status", "X-Cache"], heads, align=["<", ">", "<"])
    report(
        f'gunicorn\'s "{HEAD_WARNING}": {head_warnings} during the HEAD requests, '
        f"{whole_log_warnings} in the whole run"
    )

    out = args.output or RESULTS / "dogpile.json"
    data = {
        "started": started.isoformat(timespec="seconds"),
        "database": args.database,
        "readers": args.readers,
        "gunicorn_threads": args.gunicorn_threads,
        "rounds": rounds,
        "renders_per_publish": renders,
        "head": heads,
        "head_body_warnings": whole_log_warnings,
        "report": report.lines,
    }
    print(f"\nWritten to {write_json(out, data)}")


if __name__ == "__main__":
    main()
