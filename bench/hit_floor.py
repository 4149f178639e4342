"""Requests/s of a page-cache hit end to end, beside a bare Django floor, side by side in one run.

The acceptance text: a page-cache hit at ≥ 0.6 × a bare Django floor (wrk, 16 connections, PostgreSQL and
Redis, the same gunicorn worker count). Two gunicorn servers at once, both
``gunicorn --config conclave/gunicorn.conf.py`` with WEB_CONCURRENCY=2 (gthread, its 4 threads a
worker; GUNICORN_THREADS and GUNICORN_TIMEOUT from the terminal are dropped, so both get the file's
values):

* the site: conclave/wsgi.py on the site's settings as ``make serve`` runs them (bench.settings:
  conclave/settings.py plus the /bench/floor/ URL of http_pages.py, which no request here asks for;
  DEBUG off, WhiteNoise, the request log to a temporary file), PostgreSQL database
  conclave_bench_http_1k (1,000 articles and load_demo's stories: the database of
  ``bench/http_pages.py --sizes 1000``, seeded once by whichever script runs first and shared), Redis
  database 12 as the cache, page cache on (PAGE_CACHE_SECONDS unset: 300 s). Measured page: the seed
  story's article page, /news/<SEED_SLUG>/, every request a hit;
* the floor: bench/floor.py, a bare Django (that file is its settings and its URLconf: SecurityMiddleware,
  CommonMiddleware, one view returning 60,000 fixed bytes at /floor/), served as
  ``django.core.wsgi:get_wsgi_application()`` with DJANGO_SETTINGS_MODULE=bench.floor. Not
  conclave.wsgi: that module reads settings the bare Django does not have (DATABASE_STATEMENT_TIMEOUT)
  and would default the settings module to the site's. That the floor server runs bench.floor is
  checked before the runs: its /floor/ answers bench/floor.py's exact 60,000 bytes with no X-Cache,
  its /healthz is a 404, and the site's /floor/ is a 404.

What each side puts on the wire, both asked with Accept-Encoding: gzip: the hit sends the seed story's
page as the page cache keeps it, gzipped (18,227 bytes of HTML in 4,565 on this database) with the
site's headers (Cache-Control, ETag, Surrogate-Key, the security headers...): about 5,900 bytes a
response; the floor sends its 60,000 bytes uncompressed (the bare Django has no GZipMiddleware: the
acceptance text's two middleware) with a few headers: about 60,270 bytes a response, ten times the
hit's. (bench/floor.py's size is "an article page" before gzip, and a longer one than this story's.)
The table gives wrk's bytes per response (headers included) for both, and the one-GET check the body
sizes, so a reader can judge what the difference in bytes is worth.

Each round runs ``wrk -t2 -c16 -d<duration>s --latency`` on the floor and on the hit, the order reversed
every other round (floor, hit / hit, floor). Before each hit run Redis database 12 is emptied and the
page warmed until it answers X-Cache: hit, so the kept copy is fresh (a copy lives 300 s at most);
before and after each run one GET checks each side (the hit: 200 and X-Cache: hit, and the same kept
copy throughout: its Age grew by the run's length, so no request of the run remade it; the floor: 200
and its 60,000 bytes), and a run with any non-2xx answer or socket error stops the script with an
error. The table gives the medians over --rounds rounds of requests/s, p50 and p99 per side, and the
ratio hit / floor of each round and its median, beside the target 0.6.

    .venv/bin/python bench/hit_floor.py [--duration 20] [--rounds 3] [--reseed] [--keep-logs]
    .venv/bin/python bench/hit_floor.py --duration 5 --rounds 1     # a quick smoke run

Needs wrk, PostgreSQL on 127.0.0.1:5432 (BENCH_PG_URL to change) and Redis on 127.0.0.1:6379, whose
database 12 it empties and uses. Ports 9001-9099 of 127.0.0.1; sends traffic to 127.0.0.1 only.
A timing benchmark: nothing is asserted about the figures; the tables are printed and written to
bench/results/.
"""

import argparse
import contextlib
import datetime
import os
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (  # noqa: E402
    HOST,
    LEFTOVER_SITE_VARIABLES,
    PASSED_ENV,
    PG_URL,
    ROOT,
    SEED_SLUG,
    WRK_TIMEOUT,
    Gunicorn,
    Report,
    bench_settings_env,
    exit_on_sigterm,
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
from bench.floor import BODY as FLOOR_BODY  # noqa: E402

PORTS = range(9001, 9100)
REDIS_DB = 12
WORKERS = 2
WRK_THREADS, WRK_CONNECTIONS = 2, 16
TARGET = 0.6  # the acceptance text: hit requests/s over the floor's
ARTICLES = 1000
# bench/http_pages.py's 1,000-article database, under its marker: both scripts find it seeded.
DATABASE = "conclave_bench_http_1k"
DATABASE_SCRIPT = "bench/http_pages.py"
HIT_PATH = f"/news/{SEED_SLUG}/"
FLOOR_PATH = "/floor/"
FLOOR_APP = "django.core.wsgi:get_wsgi_application()"  # gunicorn calls it once, in each worker
PAGE_CACHE_SECONDS = 300  # conclave/settings.py's default: how long a kept copy lives
WARM_TRIES = 50
# Variables of the terminal that gunicorn.conf.py reads: both servers run on the file's own values.
GUNICORN_VARIABLES = ("GUNICORN_THREADS", "GUNICORN_TIMEOUT", "GUNICORN_BIND")
HTTP_WORK = Path(tempfile.gettempdir()) / "conclave-bench-http"
MEDIA_ROOT = HTTP_WORK / "media"  # http_pages.py's: the shared database's hero images live there
WORK = Path(tempfile.gettempdir()) / "conclave-bench-hit-floor"
STATIC_ROOT = WORK / "static"  # our own: never collected under a running http_pages.py

BASE_ENV = bench_settings_env(
    MEDIA_ROOT,
    STATIC_ROOT,
    DATABASE_URL=f"{PG_URL}/{DATABASE}",
    CACHE_URL=redis_url(REDIS_DB),
)
for _name in LEFTOVER_SITE_VARIABLES:
    os.environ.pop(_name, None)
setup_django(BASE_ENV)

import redis  # noqa: E402
from django import get_version as django_version  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connections  # noqa: E402

# --- servers ------------------------------------------------------------------------------------------


def gunicorn_env():
    """This process's environment without the site's and gunicorn's leftovers, WEB_CONCURRENCY set."""
    dropped = {*LEFTOVER_SITE_VARIABLES, *GUNICORN_VARIABLES}
    env = {k: v for k, v in os.environ.items() if k not in dropped}
    env["WEB_CONCURRENCY"] = str(WORKERS)
    return env


class FloorGunicorn(Gunicorn):
    """The same gunicorn and config file, serving bench/floor.py's bare Django instead of conclave.wsgi."""

    ready_path = FLOOR_PATH

    def __init__(self, port, log_path):
        # A shell's basics only: the bare Django reads nothing else, gunicorn.conf.py WEB_CONCURRENCY.
        env = {name: os.environ[name] for name in PASSED_ENV if name in os.environ}
        env.update(DJANGO_SETTINGS_MODULE="bench.floor", WEB_CONCURRENCY=str(WORKERS))
        super().__init__(port, env, log_path, label="gunicorn (bench.floor)")
        assert self.command[-1] == "conclave.wsgi"
        self.command[-1] = FLOOR_APP


def site_server(port, log_path):
    return Gunicorn(port, {**gunicorn_env(), **BASE_ENV}, log_path, label="gunicorn (site, page cache on)")


def check_identity(servers, report):
    """Each server is what it should be: the floor bench.floor's bare Django, the site the site."""
    floor, site = servers["floor"], servers["hit"]
    rows = [
        ("floor", FLOOR_PATH, get(floor.port, FLOOR_PATH)),
        ("floor", "/healthz", get(floor.port, "/healthz")),
        ("site", FLOOR_PATH, get(site.port, FLOOR_PATH)),
        ("site", HIT_PATH, get(site.port, HIT_PATH)),
    ]
    report("One GET each (Accept-Encoding: gzip), before the runs:")
    report.table(
        ["server", "path", "status", "X-Cache", "Content-Encoding", "body bytes sent", "bytes of HTML"],
        [
            (
                name,
                path,
                a.status,
                a.headers.get("x-cache", "(absent)"),
                a.headers.get("content-encoding", "(none)"),
                a.wire_bytes,
                len(a.body),
            )
            for name, path, a in rows
        ],
        align=["<", "<", ">", "<", "<", ">", ">"],
    )
    floor_page, floor_health, site_floor, site_page = (a for _, _, a in rows)
    problems = []
    if floor_page.status != 200 or floor_page.body != FLOOR_BODY or "x-cache" in floor_page.headers:
        problems.append("the floor's /floor/ is not bench/floor.py's 60,000 bytes without X-Cache")
    if floor_health.status != 404:
        problems.append(f"the floor answers /healthz with {floor_health.status}: not bench.floor's URLconf")
    if site_floor.status != 404:
        problems.append(f"the site answers /floor/ with {site_floor.status}")
    if site_page.status != 200:
        problems.append(f"the site's article page answers {site_page.status}")
    if problems:
        raise RuntimeError("Servers not as expected: " + "; ".join(problems))
    report(
        "The floor server runs bench.floor (its exact body, no /healthz); the site has no /floor/. "
        f"Floor: {len(FLOOR_BODY):,} bytes uncompressed; site: {len(site_page.body):,} bytes of HTML, "
        f"sent {site_page.headers.get('content-encoding', 'uncompressed')} in {site_page.wire_bytes:,}."
    )


# --- the kept page --------------------------------------------------------------------------------------


@dataclass
class Check:
    status: int
    x_cache: str
    age: int | None
    body_bytes: int
    at: float  # time.monotonic()


def check(server, path):
    answer = get(server.port, path)
    age = answer.headers.get("age")
    return Check(
        answer.status,
        answer.headers.get("x-cache", "(absent)"),
        int(age) if age is not None and age.isdigit() else None,
        len(answer.body),
        time.monotonic(),
    )


def fresh_hit(server):
    """Empty the cache, then GET the page until it comes back as a hit: a copy with its whole life ahead."""
    redis.Redis.from_url(redis_url(REDIS_DB)).flushdb()
    for _ in range(WARM_TRIES):
        found = check(server, HIT_PATH)
        if found.status == 200 and found.x_cache == "hit":
            return found
        time.sleep(0.05)
    raise RuntimeError(
        f"the article page is no hit after {WARM_TRIES} GETs ({found.x_cache}, {found.status})"
    )


def problems_of(side, before, after):
    """What the GETs around a run say is wrong with it (empty: nothing)."""
    problems = []
    for when, found in (("before", before), ("after", after)):
        if found.status != 200:
            problems.append(f"{when}: status {found.status}")
        if side == "hit" and found.x_cache != "hit":
            problems.append(f"{when}: X-Cache: {found.x_cache}")
        if side == "floor" and found.body_bytes != len(FLOOR_BODY):
            problems.append(f"{when}: {found.body_bytes} bytes")
    if side == "hit" and before.age is not None and after.age is not None:
        # Age counts whole seconds from when the copy was made: the same copy throughout has aged by the
        # run's length (give or take rounding); a copy remade during the run is younger.
        if after.age - before.age < (after.at - before.at) - 2:
            problems.append(
                f"the kept copy was remade during the run (Age {before.age} s, then {after.age} s "
                f"{after.at - before.at:.0f} s later): not every request was a hit"
            )
    elif side == "hit":
        problems.append("no Age header on the hit")
    return problems


# --- wrk ----------------------------------------------------------------------------------------------


@dataclass
class WrkRun:
    rps: float
    p50: float  # ms
    p99: float  # ms
    requests: int
    non_2xx: int
    socket_errors: int
    bytes_per_response: float
    boots: int = 0


def run_wrk(url, seconds):
    summary = wrk_summary(wrk(url, seconds, WRK_THREADS, WRK_CONNECTIONS, "-H", "Accept-Encoding: gzip"))
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


def measure(servers, side, seconds):
    """One wrk run on one side, checked before and after; an error of any kind stops the script."""
    server = servers[side]
    path = HIT_PATH if side == "hit" else FLOOR_PATH
    before = fresh_hit(server) if side == "hit" else check(server, path)
    boots = server.boots()
    result = run_wrk(f"http://{HOST}:{server.port}{path}", seconds)
    result.boots = server.boots() - boots
    after = check(server, path)
    print(
        f"    {side:<5} {result.rps:9.1f} req/s  p50 {result.p50:7.2f} ms  p99 {result.p99:7.2f} ms  "
        f"{result.bytes_per_response:8.0f} B/resp  non-2xx {result.non_2xx}  socket errors "
        f"{result.socket_errors}  (before/after: {before.status} {before.x_cache}, {after.status} "
        f"{after.x_cache}, Age {before.age} -> {after.age})",
        flush=True,
    )
    problems = problems_of(side, before, after)
    if result.non_2xx or result.socket_errors:
        problems.append(f"wrk: {result.non_2xx} non-2xx answers, {result.socket_errors} socket errors")
    if not result.requests:
        problems.append("wrk made no request")
    if problems:
        raise RuntimeError(f"{side} run failed its checks: " + "; ".join(problems))
    return result


# --- the run ------------------------------------------------------------------------------------------


def median(values):
    return statistics.median(values) if values else float("nan")


def report_runs(runs, args, report):
    report()
    report(
        f"wrk -t{WRK_THREADS} -c{WRK_CONNECTIONS} -d{args.duration}s --latency, {args.rounds} round(s), "
        "medians; every run checked: no non-2xx, no socket error, every hit request a page-cache hit"
    )
    report.table(
        ["side", "req/s", "req/s by round", "p50 ms", "p99 ms", "B/resp", "requests", "wkr boots"],
        [
            (
                side,
                f"{median([r.rps for r in done]):.1f}",
                " / ".join(f"{r.rps:.0f}" for r in done),
                f"{median([r.p50 for r in done]):.2f}",
                f"{median([r.p99 for r in done]):.2f}",
                f"{median([r.bytes_per_response for r in done]):,.0f}",
                f"{sum(r.requests for r in done):,}",
                sum(r.boots for r in done),
            )
            for side, done in (("floor", runs["floor"]), ("hit", runs["hit"]))
        ],
    )
    ratios = [h.rps / f.rps for h, f in zip(runs["hit"], runs["floor"], strict=True) if f.rps]
    ratio = median(ratios)
    report()
    report(
        f"hit / floor: {ratio:.2f} (median of the rounds' {' / '.join(f'{r:.2f}' for r in ratios)}); "
        f"target ≥ {TARGET:.2f}: {'met' if ratio >= TARGET else 'NOT met'}"
    )
    report(
        "  B/resp: wrk's bytes on the wire per response, headers included (the hit gzipped, the floor "
        "not). Each round's ratio is of runs seconds apart: the steadier figure on a machine whose speed "
        "drifts. wkr boots: gunicorn workers started during the timed runs (max_requests recycles them)."
    )
    return ratio


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=20, help="Seconds of each wrk run.")
    parser.add_argument("--rounds", type=int, default=3, help="Rounds of runs; the table gives the medians.")
    parser.add_argument(
        "--reseed", action="store_true", help=f"Rebuild {DATABASE} (shared with http_pages.py) first."
    )
    parser.add_argument(
        "--keep-logs", action="store_true", help="Keep the gunicorn logs (a line per site request included)."
    )
    args = parser.parse_args()
    if args.duration < 1 or args.rounds < 1:
        parser.error("--duration and --rounds must be at least 1")
    if args.duration > PAGE_CACHE_SECONDS - 30:
        parser.error(f"--duration must leave the kept copy time to live: at most {PAGE_CACHE_SECONDS - 30}")
    require_wrk()
    exit_on_sigterm()

    report = Report()
    started = datetime.datetime.now()
    report(f"Conclave page-cache hit vs bare Django floor, {started:%Y-%m-%d %H:%M}, commit {git_commit()}")
    report(
        machine(
            f"Django {django_version()}",
            f"PostgreSQL {pg_version()}",
            f"Redis {redis_version(redis_url(REDIS_DB))}",
            wrk_version(),
        )
    )
    report(
        f"Both: gunicorn --config conclave/gunicorn.conf.py, WEB_CONCURRENCY={WORKERS}; site: conclave.wsgi, "
        f"bench.settings, DEBUG off, {DATABASE}, Redis db {REDIS_DB}; floor: {FLOOR_APP}, bench.floor. "
        f"wrk -t{WRK_THREADS} -c{WRK_CONNECTIONS} -d{args.duration}s --latency --timeout {WRK_TIMEOUT} "
        f"-H 'Accept-Encoding: gzip'; {args.rounds} round(s)"
    )
    seed_demo_once(
        DATABASE,
        ARTICLES,
        DATABASE_SCRIPT,
        reseed=args.reseed,
        report=report,
        media_root=MEDIA_ROOT,
        shared_media=True,
    )
    STATIC_ROOT.mkdir(parents=True, exist_ok=True)
    call_command("collectstatic", "--no-input", verbosity=0)
    connections.close_all()  # nothing more of this process's own: the servers do the rest

    run_dir = Path(tempfile.mkdtemp(prefix="run-", dir=WORK))
    print(f"Server logs in {run_dir}", flush=True)
    servers = {}
    try:
        floor_port, site_port = free_ports(2, PORTS)
        servers["floor"] = FloorGunicorn(floor_port, run_dir / "gunicorn-floor.log")
        servers["hit"] = site_server(site_port, run_dir / "gunicorn-site.log")
        for server in servers.values():
            server.start()
        for server in servers.values():
            server.wait_ready()
        report(f"Floor at :{floor_port}, site at :{site_port}, {WORKERS} workers each")
        fresh_hit(servers["hit"])
        check_identity(servers, report)
        report(f"Load average before the runs (1, 5, 15 min): {load_average()} (other work skews figures)")

        warm = min(2, args.duration)
        print(f"  warm-up, {warm} s a side", flush=True)
        for side in ("floor", "hit"):
            measure(servers, side, warm)
        runs = {"floor": [], "hit": []}
        for round_ in range(args.rounds):
            order = ("floor", "hit") if round_ % 2 == 0 else ("hit", "floor")
            print(f"  round {round_ + 1}/{args.rounds}: {' then '.join(order)}, {args.duration} s each")
            for side in order:
                runs[side].append(measure(servers, side, args.duration))
        report(f"Load average after the runs: {load_average()}")
        report_runs(runs, args, report)
    finally:
        for server in servers.values():
            server.stop()
        with contextlib.suppress(redis.RedisError):
            redis.Redis.from_url(redis_url(REDIS_DB)).flushdb()
        remove_unless(args.keep_logs, run_dir, f"Server logs kept in {run_dir}")
        if report.lines:
            out = report.save(f"hit_floor-{started:%Y%m%d-%H%M%S}.txt")
            print(f"\nTables written to {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
