"""Requests/s and latency of the public pages under the production server, next to a floor, on PostgreSQL.

For each archive size (--sizes, default 1,000 and 100,000 articles):

* a PostgreSQL database conclave_bench_http_<size> (``seed_bulk --articles N``, then ``load_demo`` for
  the seed story, then VACUUM ANALYZE), kept for the next run when it holds what it should
  (--reseed rebuilds it);
* two gunicorn servers side by side, as ``make serve`` runs it (conclave/gunicorn.conf.py, DEBUG off,
  WhiteNoise's hashed static files, the site's request log sent to a temporary file), WEB_CONCURRENCY=2,
  Redis as the cache: one with the page cache on (PAGE_CACHE_SECONDS unset: the default), one with it
  off (PAGE_CACHE_SECONDS=0). Their settings module is bench.settings: the site's, plus /bench/floor/;
* ``wrk -t2 -c16 -d<duration>s --latency`` with Accept-Encoding: gzip on the article page (the seed
  story of load_demo), the home page, the most used tag's page and /search/?q=engineers, on each
  server, and on the floor: /bench/floor/ (bench/urls.py), a view returning a fixed response from the
  cache, the size of the article page: the most this stack can serve. Each round runs the floor and
  every page off and on, the order reversed every other round; the tables give the medians over
  --rounds rounds, each page's requests/s over the floor's, and the p50 of the uncached pages at the
  largest size over the smallest (the scaling);
* publish-to-visible: an editor publishes a draft through the admin over HTTP (the article list's
  *Publish* action, on the cache-on server) while another connection polls GET / on that server until
  the story's link appears. Median and max over --publish-trials trials.

    .venv/bin/python bench/http_pages.py [--sizes 1000 100000] [--duration 20] [--rounds 3] [--reseed]
    .venv/bin/python bench/http_pages.py --sizes 1000 --duration 3 --rounds 1     # a quick smoke run

Needs wrk, PostgreSQL on 127.0.0.1:5432 (BENCH_PG_URL to change) and Redis on 127.0.0.1:6379, whose
databases 3 (cache on) and 4 (cache off) it empties and uses. Sends traffic to 127.0.0.1 only.
A timing benchmark: nothing is asserted; the tables are printed and written to bench/results/.
"""

import argparse
import contextlib
import datetime
import http.client
import os
import re
import runpy
import secrets
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlencode

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (  # noqa: E402
    HOST,
    PG_URL,
    ROOT,
    SEED_SLUG,
    WRK_TIMEOUT,
    Gunicorn,
    Report,
    bench_settings_env,
    free_ports,
    get,
    git_commit,
    load_average,
    machine,
    pg_version,
    redis_url,
    redis_version,
    remove_unless,
    require_wrk,
    seed_demo_once,
    setup_django,
    wrk,
    wrk_summary,
    wrk_version,
)

PORTS = range(8801, 8900)
REDIS_DB = {"on": 3, "off": 4}
WORKERS = 2
WRK_THREADS, WRK_CONNECTIONS = 2, 16
GUNICORN_CONFIG = runpy.run_path(str(ROOT / "conclave" / "gunicorn.conf.py"))
SEARCH_WORD = "engineers"  # in five of the six body templates of seed_bulk: ~80 % of the articles
PUBLISH_PREFIX = "bench-publish-"
EDITOR_USERNAME = "bench-editor"
VISIBLE_TIMEOUT = 30.0  # seconds a publish trial waits for the story to appear
# Targets of the acceptance text: requests/s over the floor's, and p50 at the largest size over the smallest.
TARGET_RATIO = {"on": 0.80, "off": 0.25}
TARGET_SCALING = 1.5
# The requests to the floor carry this header: PageCacheMiddleware treats a request with an
# Authorization header as not anonymous and hands it straight to the view (conclave/pagecache.py,
# _is_anonymous). Without it, the cache-on server would keep the floor's response after the first
# request and answer from its own store; with it, the floor view runs on every request. Nothing else in
# the stack looks at the header (no authentication backend reads it).
FLOOR_HEADERS = ["Authorization: Bearer floor"]
WORK = Path(tempfile.gettempdir()) / "conclave-bench-http"
MEDIA_ROOT = WORK / "media"  # kept with the databases: their articles' hero images live here
STATIC_ROOT = WORK / "static"

# The environment of this process and of the servers: what `make serve` runs with, plus ours.
BASE_ENV = bench_settings_env(
    MEDIA_ROOT,
    STATIC_ROOT,
    DATABASE_URL=f"{PG_URL}/postgres",  # switched to each size's database before any use
    CACHE_URL=redis_url(REDIS_DB["on"]),  # this process's saves must reach the cache-on server
)
os.environ.pop("PAGE_CACHE_SECONDS", None)
setup_django(BASE_ENV)

import redis  # noqa: E402
from django import get_version as django_version  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connections  # noqa: E402
from django.db.models import Count  # noqa: E402
from django.utils import timezone  # noqa: E402

from articles.models import Article, Author, Section, Tag  # noqa: E402


def size_label(size):
    if size % 1000 == 0:
        return f"{size // 1000}k"
    return str(size)


# --- databases ----------------------------------------------------------------------------------------


def prepare_database(size, reseed, report):
    """Create and seed the size's database, or reuse it when an earlier run finished seeding it."""
    name = f"conclave_bench_http_{size_label(size)}"
    # Every size's pictures in one folder: load_demo's, and seed_bulk's one hero image.
    seed_demo_once(
        name,
        size,
        "bench/http_pages.py",
        reseed=reseed,
        report=report,
        media_root=MEDIA_ROOT,
        shared_media=True,
    )
    # Leftovers of an interrupted publish trial: the database stays as seeded.
    Article.objects.filter(slug__startswith=PUBLISH_PREFIX).delete()
    return name


def database_summary():
    now = timezone.now()
    total = Article.objects.count()
    published = Article.objects.published().count()
    upcoming = (
        Article.objects.filter(status=Article.Status.PUBLISHED, published_at__gt=now)
        .order_by("published_at")
        .values_list("published_at", flat=True)
        .first()
    )
    tag = Tag.objects.annotate(n=Count("tagged_articles")).order_by("-n", "pk").first()
    assert Article.objects.filter(slug=SEED_SLUG).exists(), "load_demo's seed story is missing"
    return {
        "total": total,
        "published": published,
        "next_scheduled": upcoming,
        "tag": tag,
        "tag_count": tag.n,
    }


# --- servers ------------------------------------------------------------------------------------------


def new_server(mode, port, database, log_path, floor_file):
    """One gunicorn, page cache on or off, on the size's database; its floor's body in ``floor_file``."""
    env = {k: v for k, v in os.environ.items() if k != "PAGE_CACHE_SECONDS"}
    env.update(
        BASE_ENV,
        WEB_CONCURRENCY=str(WORKERS),
        DATABASE_URL=f"{PG_URL}/{database}",
        CACHE_URL=redis_url(REDIS_DB[mode]),
        BENCH_FLOOR_FILE=str(floor_file),
    )
    if mode == "off":
        env["PAGE_CACHE_SECONDS"] = "0"
    return Gunicorn(port, env, log_path, label=f"gunicorn ({mode})")


# --- wrk ----------------------------------------------------------------------------------------------


@dataclass
class WrkRun:
    rps: float
    p50: float  # ms
    p99: float  # ms
    requests: int
    non_2xx: int  # wrk's "Non-2xx or 3xx responses"
    socket_errors: int  # connect + read + write + timeout
    bytes_per_response: float
    boots: int = 0  # gunicorn workers booted during the run


def run_wrk(url, seconds, headers=()):
    options = ["-H", "Accept-Encoding: gzip"]
    for header in headers:
        options += ["-H", header]
    summary = wrk_summary(wrk(url, seconds, WRK_THREADS, WRK_CONNECTIONS, *options))
    rps = summary["requests_per_second"]
    return WrkRun(
        rps=rps,
        p50=summary["latency_ms"].get("50", float("nan")),
        p99=summary["latency_ms"].get("99", float("nan")),
        requests=summary["requests"],
        non_2xx=summary["non_2xx_or_3xx"],
        socket_errors=sum(summary["socket_errors"].values()),
        bytes_per_response=summary["bytes_per_second"] / rps if rps else 0.0,
    )


# --- one size -----------------------------------------------------------------------------------------


def targets(summary):
    tag = summary["tag"]
    return [
        ("article", f"/news/{SEED_SLUG}/"),
        ("home", "/"),
        (f"tag ({tag.name})", f"/tags/{quote(tag.slug)}/"),
        (f"search ({SEARCH_WORD})", f"/search/?q={SEARCH_WORD}"),
    ]


def measure(servers, label, path, mode, seconds):
    """One wrk run: the floor on the cache-on server with the bypass header, a page on its server."""
    server = servers["on" if mode == "floor" else mode]
    headers = FLOOR_HEADERS if mode == "floor" else ()
    before = server.boots()
    result = run_wrk(f"http://{HOST}:{server.port}{path}", seconds, headers)
    result.boots = server.boots() - before
    print(
        f"    {label:<28} {mode:<5} {result.rps:9.1f} req/s  p50 {result.p50:8.2f} ms  "
        f"p99 {result.p99:8.2f} ms  errors {result.non_2xx + result.socket_errors}",
        flush=True,
    )
    return result


def check_headers(servers, pages, report):
    """One request each, after the warm-up: the floor must bypass the page cache, the pages must not."""
    report("Responses after the warm-up (one GET each, Accept-Encoding: gzip):")
    rows = []
    floor = get(servers["on"].port, "/bench/floor/", {"Authorization": "Bearer floor"})
    rows.append(("floor, Authorization header", "on", floor))
    for label, path in pages:
        for mode in ("off", "on"):
            rows.append((label, mode, get(servers[mode].port, path)))
    report.table(
        ["page", "server", "status", "X-Cache", "Content-Encoding", "bytes sent", "bytes of HTML"],
        [
            (
                label,
                mode,
                a.status,
                a.headers.get("x-cache", "(absent)"),
                a.headers.get("content-encoding", "(none)"),
                a.wire_bytes,
                len(a.body),
            )
            for label, mode, a in rows
        ],
        align=["<", "<", ">", "<", "<", ">", ">"],
    )
    bypassed = "x-cache" not in floor.headers
    report(
        "The floor's responses carry no X-Cache header: the page cache lets them through to the view."
        if bypassed
        else "WARNING: the floor's response carries X-Cache: the page cache did not let it through."
    )
    return bypassed


def run_size(size, args, ports, run_dir, report):
    report()
    report(f"== {size:,} articles " + "=" * 80)
    name = prepare_database(size, args.reseed, report)
    summary = database_summary()
    upcoming = summary["next_scheduled"]
    report(
        f"{name}: {summary['total']:,} articles, {summary['published']:,} published and live; "
        f"most used tag {summary['tag'].name!r} on {summary['tag_count']:,}; next scheduled story goes live "
        + (f"in {(upcoming - timezone.now()).total_seconds() / 60:.0f} min" if upcoming else "never")
    )
    pages = targets(summary)
    for db in REDIS_DB.values():  # our own Redis databases: no page of another size or run is kept there
        redis.Redis.from_url(redis_url(db)).flushdb()

    floor_file = run_dir / f"floor-{size}.html"
    floor_file.write_bytes(b"")  # filled from the article page before the floor's first request
    label = size_label(size)
    servers = {
        mode: new_server(mode, port, name, run_dir / f"gunicorn-{label}-cache-{mode}.log", floor_file)
        for mode, port in zip(("on", "off"), ports, strict=True)
    }
    try:
        for server in servers.values():
            server.start()
        for server in servers.values():
            server.wait_ready()
        report(
            f"gunicorn: page cache on at :{servers['on'].port} (Redis db {REDIS_DB['on']}), "
            f"off at :{servers['off'].port} (Redis db {REDIS_DB['off']}); {WORKERS} workers each"
        )
        article = get(servers["off"].port, pages[0][1])
        if article.status != 200:
            raise RuntimeError(f"the article page answers {article.status}")
        floor_file.write_bytes(article.body)
        report(f"Floor body: the article page's HTML, {len(article.body):,} bytes")
        report(
            f"Load average before the runs (1, 5, 15 min): {load_average()} "
            "(other work on the machine skews figures)"
        )

        warm = min(2, args.duration)
        print(f"  warm-up, {warm} s a URL", flush=True)
        measure(servers, "floor", "/bench/floor/", "floor", warm)
        for label_, path in pages:
            for mode in ("off", "on"):
                measure(servers, label_, path, mode, warm)
        bypassed = check_headers(servers, pages, report)

        runs = {}  # (label, mode) -> [WrkRun]
        sequence = [("floor", "/bench/floor/", "floor")]
        sequence += [(label_, path, mode) for label_, path in pages for mode in ("off", "on")]
        for round_ in range(args.rounds):
            print(f"  round {round_ + 1}/{args.rounds}, {args.duration} s a run", flush=True)
            for label_, path, mode in sequence if round_ % 2 == 0 else reversed(sequence):
                runs.setdefault((label_, mode), []).append(
                    measure(servers, label_, path, mode, args.duration)
                )
        results = report_size(size, pages, runs, args, report)
        results["bypassed"] = bypassed
        try:
            results["publish"] = publish_to_visible(
                servers["on"], summary["tag"], args.publish_trials, report
            )
        except Exception as exc:  # the throughput tables above stand; say what failed and go on
            report(f"Publish-to-visible failed: {exc!r}")
        return results
    finally:
        for server in servers.values():
            server.stop()
        for db in REDIS_DB.values():  # leave our Redis databases empty
            with contextlib.suppress(redis.RedisError):
                redis.Redis.from_url(redis_url(db)).flushdb()
        total_boots = {mode: server.boots() for mode, server in servers.items()}
        report(
            f"Servers stopped. Worker boots over the whole size: on {total_boots['on']}, "
            f"off {total_boots['off']} (2 at start; gunicorn's max_requests recycles workers)."
        )


def median(values):
    return statistics.median(values) if values else float("nan")


def report_size(size, pages, runs, args, report):
    floor_rps = median([r.rps for r in runs[("floor", "floor")]])
    report()
    report(
        f"{size:,} articles: wrk -t{WRK_THREADS} -c{WRK_CONNECTIONS} -d{args.duration}s, medians of "
        f"{args.rounds} round(s); × floor = median over the rounds of requests/s over the same round's floor"
    )
    rows = []
    results = {"floor_rps": floor_rps, "pages": {}}
    for label, mode in [("floor", "floor")] + [(label, mode) for label, _ in pages for mode in ("off", "on")]:
        done = runs[(label, mode)]
        rps = median([r.rps for r in done])
        # Each round's floor ran minutes from the page, the other rounds' much further apart: on a
        # machine whose speed drifts, the ratio within a round is the steadier figure.
        floors = runs[("floor", "floor")]
        ratio = median([r.rps / f.rps for r, f in zip(done, floors, strict=True) if f.rps])
        target = TARGET_RATIO.get(mode)
        verdict = "-" if target is None else f"≥ {target:.2f} {'met' if ratio >= target else 'NOT met'}"
        row = {
            "rps": rps,
            "p50": median([r.p50 for r in done]),
            "p99": median([r.p99 for r in done]),
            "ratio": ratio,
        }
        results["pages"][(label, mode)] = row
        rows.append(
            (
                label,
                "-" if mode == "floor" else mode,
                f"{rps:.1f}",
                " / ".join(f"{r.rps:.0f}" for r in done),
                f"{row['p50']:.2f}",
                f"{row['p99']:.2f}",
                f"{ratio:.2f}",
                verdict,
                sum(r.non_2xx for r in done),
                sum(r.socket_errors for r in done),
                f"{median([r.bytes_per_response for r in done]) / 1024:.1f}",
                sum(r.boots for r in done),
            )
        )
    report.table(
        [
            "page",
            "cache",
            "req/s",
            "req/s by round",
            "p50 ms",
            "p99 ms",
            "× floor",
            "target",
            "non-2xx",
            "sock err",
            "KiB/resp",
            "wkr boots",
        ],
        rows,
        align=["<", "<", ">", ">", ">", ">", ">", "<", ">", ">", ">", ">"],
    )
    report(
        "  target: the acceptance text's ratios (article: cached ≥ 0.80, uncached ≥ 0.25 × floor), "
        "shown for every page. KiB/resp: bytes on the wire per response (headers included);"
    )
    report(
        "  wkr boots: gunicorn workers started during the timed runs, summed over the rounds "
        f"(max_requests = {GUNICORN_CONFIG['max_requests']:,} ± {GUNICORN_CONFIG['max_requests_jitter']:,})."
    )
    return results


# --- publish-to-visible ---------------------------------------------------------------------------------


class AdminClient:
    """An editor's browser, in short: the admin login form, then the article list's Publish action.

    Cookies are kept by hand: with DEBUG off they are marked Secure, and http.cookiejar would not send
    them back over plain HTTP (a browser does, to 127.0.0.1).
    """

    def __init__(self, port):
        self.port = port
        self.cookies = {}
        self.origin = f"http://{HOST}:{port}"

    def _request(self, method, path, fields=None):
        conn = http.client.HTTPConnection(HOST, self.port, timeout=60)
        try:
            headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())}
            body = None
            if fields is not None:
                body = urlencode(fields)
                headers.update({"Content-Type": "application/x-www-form-urlencoded", "Origin": self.origin})
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            content = response.read()
            for header in response.headers.get_all("Set-Cookie") or []:
                name, _, rest = header.partition("=")
                self.cookies[name.strip()] = rest.split(";", 1)[0]
            return response.status, response.getheader("Location", ""), content
        finally:
            conn.close()

    def login(self, username, password):
        status, _, page = self._request("GET", "/admin/login/")
        token = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', page)
        if status != 200 or token is None:
            raise RuntimeError(f"admin login page answered {status}")
        fields = {
            "csrfmiddlewaretoken": token.group(1).decode(),
            "username": username,
            "password": password,
            "next": "/admin/",
        }
        status, location, _ = self._request("POST", "/admin/login/?next=/admin/", fields)
        if status != 302 or "sessionid" not in self.cookies:
            raise RuntimeError(f"admin login refused ({status} {location})")

    def publish(self, pk):
        """The Publish action on one selected article; the 302 back to the list is not followed."""
        fields = {
            "csrfmiddlewaretoken": self.cookies["csrftoken"],
            "action": "publish",
            "_selected_action": str(pk),
            "index": "0",
            "select_across": "0",
        }
        status, _, _ = self._request("POST", "/admin/articles/article/", fields)
        return status


def make_editor():
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    password = secrets.token_urlsafe(18)
    user, _ = get_user_model().objects.get_or_create(username=EDITOR_USERNAME)
    user.is_staff = True
    user.set_password(password)
    user.save()
    user.groups.add(Group.objects.get(name="Editor"))
    return user, password


def make_drafts(count, tag, user):
    """Drafts that pass the publish checklist, each with a title found nowhere else."""
    section = Section.objects.order_by("pk").first()
    author = Author.objects.order_by("pk").first()
    drafts = []
    for _ in range(count):
        token = secrets.token_hex(5)
        article = Article(
            title=f"Bench publish trial {token}",
            slug=f"{PUBLISH_PREFIX}{token}",
            standfirst="A draft made by bench/http_pages.py to time how soon a published story shows.",
            body="A short story for the publish-to-visible benchmark.\n\nIt is deleted when the trial ends.",
            section=section,
            created_by=user,
            updated_by=user,
        )
        article.save()
        article.tags.add(tag)
        article.authors.add(author)
        drafts.append(article)
    return drafts


def wait_until_cached(port, path, tries=200):
    for _ in range(tries):
        if get(port, path).headers.get("x-cache") == "hit":
            return True
        time.sleep(0.02)
    return False


def one_trial(server, client, draft):
    needle = f"/news/{draft.slug}/".encode()
    polls = []  # (start, end, found, X-Cache)
    polling = threading.Event()

    def poll():
        conn = http.client.HTTPConnection(HOST, server.port, timeout=30)
        deadline = time.perf_counter() + VISIBLE_TIMEOUT
        try:
            while True:
                start = time.perf_counter()
                answer = get(server.port, "/", conn=conn)
                end = time.perf_counter()
                polls.append((start, end, needle in answer.body, answer.headers.get("x-cache", "-")))
                polling.set()
                if polls[-1][2] or end > deadline:
                    return
        finally:
            polling.set()
            conn.close()

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    polling.wait(10)
    clicked = time.perf_counter()
    status = client.publish(draft.pk)
    answered = time.perf_counter()
    poller.join(VISIBLE_TIMEOUT + 30)
    seen = next((p for p in polls if p[2]), None)
    return {
        "status": status,
        "admin_ms": (answered - clicked) * 1000,
        "visible_ms": (seen[1] - clicked) * 1000 if seen else float("nan"),
        "polls": sum(1 for p in polls if p[0] >= clicked),
        # GETs sent after the admin had answered that still showed the old page: should be none.
        "stale": sum(1 for p in polls if p[0] > answered and not p[2]),
        "served": seen[3] if seen else "never",
    }


def publish_to_visible(server, tag, trials, report):
    report()
    if trials < 1:
        return []
    user, password = make_editor()
    client = AdminClient(server.port)
    client.login(user.username, password)
    drafts = make_drafts(trials, tag, user)
    rows = []
    try:
        for draft in drafts:
            if not wait_until_cached(server.port, "/"):
                report("  (the home page did not come back from the page cache before this trial)")
            rows.append(one_trial(server, client, draft))
            time.sleep(0.5)
    finally:
        Article.objects.filter(slug__startswith=PUBLISH_PREFIX).delete()
    report(
        "Publish-to-visible, page cache on: the editor's Publish action (admin over HTTP) until GET / "
        "on the same server shows the story"
    )
    report.table(
        [
            "trial",
            "admin status",
            "admin answer ms",
            "visible after ms",
            "GETs polled",
            "stale after answer",
            "seen as",
        ],
        [
            (
                n + 1,
                r["status"],
                f"{r['admin_ms']:.1f}",
                f"{r['visible_ms']:.1f}",
                r["polls"],
                r["stale"],
                f"X-Cache: {r['served']}",
            )
            for n, r in enumerate(rows)
        ],
        align=[">", ">", ">", ">", ">", ">", "<"],
    )
    visible = [r["visible_ms"] for r in rows]
    report(
        f"  visible after: median {median(visible):.1f} ms, max {max(visible):.1f} ms "
        f"(from sending the action to the end of the first GET / showing the story); "
        f"admin answer median {median([r['admin_ms'] for r in rows]):.1f} ms"
    )
    return rows


# --- the run ------------------------------------------------------------------------------------------


def collectstatic(report):
    started = time.perf_counter()
    call_command("collectstatic", "--no-input", verbosity=0)
    report(f"collectstatic into {STATIC_ROOT} in {time.perf_counter() - started:.1f} s")


def report_scaling(sizes, all_results, report):
    small, large = min(sizes), max(sizes)
    if small == large:
        return
    report()
    report(
        f"Scaling: p50 at {large:,} over p50 at {small:,} articles (the uncached runs show it; target ≤ 1.5)"
    )
    rows = []
    labels = [label for label, mode in all_results[small]["pages"] if mode == "off"]
    labels_large = [label for label, mode in all_results[large]["pages"] if mode == "off"]
    for label, label_large in zip(labels, labels_large, strict=True):
        off_small = all_results[small]["pages"][(label, "off")]["p50"]
        off_large = all_results[large]["pages"][(label_large, "off")]["p50"]
        on_small = all_results[small]["pages"][(label, "on")]["p50"]
        on_large = all_results[large]["pages"][(label_large, "on")]["p50"]
        ratio = off_large / off_small
        verdict = "-" if label == "article" else f"{'met' if ratio <= TARGET_SCALING else 'NOT met'}"
        rows.append(
            (
                label if label == label_large else f"{label} / {label_large}",
                f"{off_small:.2f}",
                f"{off_large:.2f}",
                f"{ratio:.2f}",
                verdict,
                f"{on_small:.2f}",
                f"{on_large:.2f}",
                f"{on_large / on_small:.2f}",
            )
        )
    s, lg = size_label(small), size_label(large)
    report.table(
        [
            "page",
            f"off p50 ms {s}",
            f"off p50 ms {lg}",
            "off ratio",
            "≤ 1.5",
            f"on p50 ms {s}",
            f"on p50 ms {lg}",
            "on ratio",
        ],
        rows,
        align=["<", ">", ">", ">", "<", ">", ">", ">"],
    )
    report("  (the target is for home, tag and search; the article row is for information)")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 100_000], help="Articles to seed.")
    parser.add_argument("--duration", type=int, default=20, help="Seconds of each wrk run.")
    parser.add_argument("--rounds", type=int, default=3, help="Rounds of runs; the tables give the medians.")
    parser.add_argument("--publish-trials", type=int, default=5, help="Publish-to-visible trials per size.")
    parser.add_argument(
        "--reseed", action="store_true", help="Rebuild the databases even if they are seeded."
    )
    parser.add_argument(
        "--keep-logs", action="store_true", help="Keep the gunicorn logs (a line per request included)."
    )
    args = parser.parse_args()
    if args.duration < 1 or args.rounds < 1:
        parser.error("--duration and --rounds must be at least 1")
    require_wrk()

    report = Report()
    started = datetime.datetime.now()
    report(f"Conclave HTTP benchmark, {started:%Y-%m-%d %H:%M}, commit {git_commit()}")
    redis_server = redis_version(redis_url(REDIS_DB["on"]))
    report(
        machine(
            f"Django {django_version()}", f"PostgreSQL {pg_version()}", f"Redis {redis_server}", wrk_version()
        )
    )
    report(
        f"gunicorn --config conclave/gunicorn.conf.py conclave.wsgi, WEB_CONCURRENCY={WORKERS}, "
        f"DJANGO_SETTINGS_MODULE=bench.settings, DEBUG off; wrk -t{WRK_THREADS} -c{WRK_CONNECTIONS} "
        f"-d{args.duration}s --latency --timeout {WRK_TIMEOUT} -H 'Accept-Encoding: gzip'; "
        f"{args.rounds} round(s)"
    )
    MEDIA_ROOT.mkdir(parents=True, exist_ok=True)
    collectstatic(report)
    run_dir = Path(tempfile.mkdtemp(prefix="run-", dir=WORK))
    print(f"Server logs in {run_dir}", flush=True)
    all_results = {}
    try:
        ports = free_ports(2, PORTS)
        for size in args.sizes:
            all_results[size] = run_size(size, args, ports, run_dir, report)
        report_scaling(args.sizes, all_results, report)
    finally:
        connections.close_all()
        remove_unless(args.keep_logs, run_dir, f"Server logs kept in {run_dir}")
        if report.lines:
            out = report.save(f"http_pages-{started:%Y%m%d-%H%M%S}.txt")
            print(f"\nTables written to {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
