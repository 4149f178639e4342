"""A load test under `make serve`: 64 connections for 60 s on four public pages; errors, statuses, memory.

Acceptance: "60 s at 64 connections on the article, home, tag and search pages under `make serve`:
0 errors, 0 non-2xx, worker memory before and after." What the script does:

* a PostgreSQL database conclave_load (--database), seeded once with ``seed_bulk --articles 1000``
  (--articles), ``load_demo`` (the seed story) and VACUUM ANALYZE, and reused by later runs while its
  marker comment says so (--reseed rebuilds it); its pictures live in /tmp/conclave-load/media;
* Redis database 5 as CACHE_URL, emptied before the server starts (and again after it stops);
* the site started with ``make serve`` exactly as in production (collectstatic, migrate, gunicorn with
  conclave/gunicorn.conf.py, DEBUG off, its default worker count), on a free port in 8910-8919, with
  DATABASE_URL, CACHE_URL, DJANGO_ALLOWED_HOSTS=127.0.0.1, SITE_URL, MEDIA_ROOT and a random
  DJANGO_SECRET_KEY; the page cache on as in production (PAGE_CACHE_SECONDS unset: 300 s), or off
  with --no-page-cache (PAGE_CACHE_SECONDS=0: every request renders its page);
* once /healthz answers and every worker has booted: the pages (the seed story, the home page, the
  most used tag's page, a search for a word with results), each fetched once and required to be a 200;
* every gunicorn worker's memory (VmRSS in /proc/<pid>/status of the master's children) at start,
  after a warm-up of --warmup seconds of the same load, and after the timed run, with the peak (VmHWM);
* ``wrk -t2 -c64 -d60s --latency --timeout 10s -s pages.lua``: the Lua script sends the four pages in
  turn (with Accept-Encoding: gzip, as browsers do) and counts, per response, its status and its
  X-Cache header, and per page the requests sent; wrk's socket errors (connect, read, write, timeout)
  from its own output; per page and status, the responses the server logged during the run (the
  site's own request log, conclave.requests);
* a table on stdout, and the same figures as JSON in bench/results/load_pages.json
  (load_pages-no-page-cache.json with --no-page-cache; --output to choose).

Exit status 1 if wrk saw any socket error or any response other than a 2xx (or none at all).

    .venv/bin/python bench/load_pages.py                     # 60 s at 64 connections, page cache on
    .venv/bin/python bench/load_pages.py --no-page-cache     # the same with every page rendered
    .venv/bin/python bench/load_pages.py --duration 10 --connections 16 --warmup 2   # a quick look

Needs wrk (apt-get install -y wrk), make, PostgreSQL on 127.0.0.1:5432 (BENCH_PG_URL to change) and
Redis on 127.0.0.1:6379. Sends traffic to 127.0.0.1 only. bench/dogpile.py shares its database
(prepare_database, add_database_arguments, MEDIA_ROOT, REDIS_URL); importing this module has no side effects.
"""

import argparse
import contextlib
import datetime
import json
import re
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from urllib.parse import quote, urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (  # noqa: E402
    HOST,
    PG_URL,
    RESULTS,
    SEED_SLUG,
    WRK_TIMEOUT,
    Report,
    Serve,
    exit_on_sigterm,
    free_port,
    get,
    load_average,
    machine,
    pg_version,
    proc_memory,
    redis_url,
    redis_version,
    remove_unless,
    require_make,
    require_wrk,
    seed_demo_once,
    site_env,
    take_site_env,
    write_json,
    wrk,
    wrk_summary,
    wrk_version,
)

PORTS = range(8910, 8920)
REDIS_URL = redis_url(5)
# Tried in this order; the first with published results is searched. "engineers" is in five of the six
# body templates of seed_bulk; the others come from the seed story, for a database without seed_bulk.
SEARCH_WORDS = ["engineers", "foxconn", "data centre", "openai"]
WORK = Path(tempfile.gettempdir()) / "conclave-load"
MEDIA_ROOT = WORK / "media"  # kept with the database: its articles' pictures live here


def prepare_database(name, articles, reseed, report):
    """Seed the database once (seed_bulk, load_demo), or reuse it; Django set up on the site's settings."""
    seed_demo_once(name, articles, "bench/load_pages.py", reseed=reseed, report=report, media_root=MEDIA_ROOT)


def add_database_arguments(parser):
    """--database and --articles: what prepare_database() makes, for this script and bench/dogpile.py."""
    parser.add_argument(
        "--database", default="conclave_load", help="PostgreSQL database (default conclave_load)."
    )
    parser.add_argument("--articles", type=int, default=1000, help="Articles seed_bulk makes (default 1000).")


def find_pages():
    """The four pages: [(label, path)], and a line describing the archive they come from."""
    from django.db import connections
    from django.db.models import Count

    from articles.models import Article, Tag
    from articles.search import search

    if not Article.objects.published().filter(slug=SEED_SLUG).exists():
        sys.exit(f"The seed story {SEED_SLUG} is not published in this database (load_demo loads it).")
    # Most used among the published stories: the busiest tag page a reader can reach.
    now = datetime.datetime.now(datetime.UTC)
    live = Article.objects.public_at(now, via="tagged_articles__content_object__")
    tag = Tag.objects.annotate(n=Count("tagged_articles", filter=live)).order_by("-n", "pk").first()
    published = Article.objects.published()
    for word in SEARCH_WORDS:
        found = search(published, word)[0].count()
        if found:
            break
    else:
        sys.exit(f"None of {SEARCH_WORDS} finds a published story: no search page with results to load.")
    summary = (
        f"{Article.objects.count():,} articles, {published.count():,} published; most used tag "
        f"{tag.name!r} on {tag.n:,} published stories; search {word!r} finds {found:,}"
    )
    connections.close_all()  # nothing of this process stays connected during the run
    pages = [
        ("article", f"/news/{SEED_SLUG}/"),
        ("home", "/"),
        (f"tag {tag.name}", f"/tags/{quote(tag.slug)}/"),
        (f"search {word}", f"/search/?q={quote(word)}"),
    ]
    return pages, summary


# --- wrk --------------------------------------------------------------------------------------------------


def lua_string(text):
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


# Responses cannot be told apart by page in wrk's Lua (response() does not say which connection or
# request it answers, and a thread's connections answer out of order): statuses and X-Cache are counted
# per response, requests sent per page; the answers per page and status come from the server's log.
LUA = """-- Written by bench/load_pages.py for one run: every connection sends the pages in turn.
local paths = {%(paths)s}
local threads = {}

function setup(thread)
   thread:set("offset", #threads)  -- the threads start at different pages
   table.insert(threads, thread)
end

function init(args)
   wrk.headers["Accept-Encoding"] = "gzip"  -- as every browser sends it
   prepared, sent, statuses, cache = {}, {}, {}, {}
   for i, path in ipairs(paths) do
      prepared[i] = wrk.format("GET", path)
      sent[i] = 0
   end
   turn = offset
end

function request()
   local i = turn %% #paths + 1
   turn = turn + 1
   sent[i] = sent[i] + 1
   return prepared[i]
end

function response(status, headers, body)
   local code = tostring(status)
   statuses[code] = (statuses[code] or 0) + 1
   local outcome = headers["X-Cache"] or "(none)"
   cache[outcome] = (cache[outcome] or 0) + 1
end

-- One line per figure, prefixed, for bench/load_pages.py to read back.
function done(summary, latency, requests)
   for _, thread in ipairs(threads) do
      for code, n in pairs(thread:get("statuses")) do
         io.write(string.format("LOAD status %%s %%d\\n", code, n))
      end
      for outcome, n in pairs(thread:get("cache")) do
         io.write(string.format("LOAD cache %%s %%d\\n", outcome, n))
      end
      for i, n in pairs(thread:get("sent")) do
         io.write(string.format("LOAD sent %%d %%d\\n", i, n))
      end
   end
   for _, p in ipairs({50, 90, 99, 99.9}) do
      io.write(string.format("LOAD latency_us %%g %%d\\n", p, latency:percentile(p)))
   end
   io.write(string.format("LOAD latency_us max %%d\\n", latency.max))
   io.write(string.format("LOAD latency_us mean %%d\\n", latency.mean))
   io.write(string.format("LOAD requests %%d\\n", summary.requests))
   io.write(string.format("LOAD duration_us %%d\\n", summary.duration))
   io.write(string.format("LOAD bytes %%d\\n", summary.bytes))
   for _, kind in ipairs({"connect", "read", "write", "timeout", "status"}) do
      io.write(string.format("LOAD error %%s %%d\\n", kind, summary.errors[kind]))
   end
end
"""


def write_lua(pages, path):
    path.write_text(LUA % {"paths": ", ".join(lua_string(p) for _, p in pages)})


def parse_wrk(out):
    """wrk's own summary lines, and the LOAD lines of the Lua script's done()."""
    statuses, cache, sent, latency, errors = Counter(), Counter(), Counter(), {}, {}
    figures = {}
    for line in out.splitlines():
        words = line.split()
        if not words or words[0] != "LOAD":
            continue
        kind = words[1]
        if kind == "status":
            statuses[int(words[2])] += int(words[3])
        elif kind == "cache":
            cache[words[2]] += int(words[3])
        elif kind == "sent":
            sent[int(words[2])] += int(words[3])
        elif kind == "latency_us":
            latency[words[2]] = int(words[3]) / 1000  # ms
        elif kind == "error":
            errors[words[2]] = int(words[3])
        else:
            figures[kind] = int(words[2])
    summary = wrk_summary(out)
    return {
        "requests": figures.get("requests", 0),
        "seconds": figures.get("duration_us", 0) / 1e6,
        "requests_per_second": summary["requests_per_second"],
        "bytes": figures.get("bytes", 0),
        "latency_ms": latency,
        "socket_errors": summary["socket_errors"],
        "socket_errors_lua": {k: v for k, v in errors.items() if k != "status"},
        "wrk_non_2xx_or_3xx": summary["non_2xx_or_3xx"],
        "statuses": dict(sorted(statuses.items())),
        "x_cache": dict(cache.most_common()),
        "sent": [sent[i + 1] for i in range(len(sent))],
        "wrk_output": "\n".join(line for line in out.splitlines() if not line.startswith("LOAD ")),
    }


def run_pages(port, script, threads, connections, seconds):
    """One wrk run of the Lua script on the server: its figures."""
    return parse_wrk(wrk(f"http://{HOST}:{port}/", seconds, threads, connections, "-s", str(script)))


# The site logs every request itself (conclave/middleware.py: logger conclave.requests, one JSON object a
# line, with path and status; the path without its query string). gunicorn's access log, off in the
# current conclave/gunicorn.conf.py, is read too when a configuration turns it back on.
ACCESS_LINE = re.compile(r'^\S+ "(?:GET|HEAD) (\S+) HTTP/[\d.]+" (\d{3}) ')
PLAIN_LEVEL = re.compile(r"\[(WARNING|ERROR|CRITICAL)\]")


def server_side(serve, start, end, pages):
    """What the server logged between two offsets of its log: per page and status, problems, boots."""
    text = serve.log_text(start, end)
    by_page = {urlsplit(path).path: Counter() for _, path in pages}
    other, levels, problems = Counter(), Counter(), []
    source = set()
    for line in text.splitlines():
        level, request = None, None
        if line.startswith("{"):
            with contextlib.suppress(ValueError):
                record = json.loads(line)
                level = record.get("level")
                if record.get("logger") == "conclave.requests" and "status" in record:
                    request = (record.get("path", ""), record["status"])
                    source.add("the site's request log, conclave.requests")
        else:
            access = ACCESS_LINE.match(line)
            if access:
                request = (urlsplit(access.group(1)).path, access.group(2))
                source.add("gunicorn access log")
            plain = PLAIN_LEVEL.search(line)
            level = plain.group(1) if plain else None
        if request:
            path, status = request[0], int(request[1])
            if path in by_page:
                by_page[path][status] += 1
            else:
                other[f"{path} {status}"] += 1
        if level in ("WARNING", "ERROR", "CRITICAL"):
            levels[level] += 1
        if level in ("ERROR", "CRITICAL") or "WORKER TIMEOUT" in line:
            problems.append(line)
    return {
        "source": " and ".join(sorted(source)) or "(no request lines found)",
        "by_page": {path: dict(sorted(c.items())) for path, c in by_page.items()},
        "other_paths": dict(other.most_common()),
        "warning_lines": levels["WARNING"],
        "error_lines": len(problems),
        "first_error_lines": problems[:5],
        "worker_boots": text.count("Booting worker with pid"),
    }


# --- memory -----------------------------------------------------------------------------------------------


def snapshot(serve):
    return {pid: proc_memory(pid) for pid in serve.workers()}


def settle(serve, timeout=20):
    """Until the workers' memory stops moving (they finish importing the site after their boot line)."""
    last = None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        total = sum((m or {"rss": 0})["rss"] for m in snapshot(serve).values())
        if last is not None and abs(total - last) <= max(1024, total // 200):
            return
        last = total
        time.sleep(1)


def mib(kib):
    return f"{kib / 1024:.1f}"


def memory_table(snaps, report):
    """Per worker: RSS at start, before and after the timed run, its change, and the peak."""
    start, before, after = snaps["start"], snaps["before"], snaps["after"]
    pids = sorted(set(start) | set(before) | set(after))

    def cell(snap, pid, key="rss"):
        m = snap.get(pid)
        return mib(m[key]) if m else "-"

    rows = []
    for pid in pids:
        b, a = before.get(pid), after.get(pid)
        change = f"{(a['rss'] - b['rss']) / 1024:+.1f}" if a and b else "-"
        rows.append(
            (pid, cell(start, pid), cell(before, pid), cell(after, pid), change, cell(after, pid, "peak"))
        )

    def total(snap, key="rss"):
        return sum(m[key] for m in snap.values() if m)

    rows.append(
        (
            "total",
            mib(total(start)),
            mib(total(before)),
            mib(total(after)),
            f"{(total(after) - total(before)) / 1024:+.1f}",
            mib(total(after, "peak")),
        )
    )
    report.table(
        ["worker pid", "start MiB", "before MiB", "after MiB", "change MiB", "peak MiB"],
        rows,
        align=[">"] * 6,
    )
    if set(before) != set(after):
        report(
            f"  WARNING: the workers changed during the run: {sorted(set(before) - set(after))} gone, "
            f"{sorted(set(after) - set(before))} new"
        )


# --- the run ----------------------------------------------------------------------------------------------


def report_run(result, pages, server, snaps, report):
    lat = result["latency_ms"]
    errors = result["socket_errors"]
    non_2xx = sum(n for status, n in result["statuses"].items() if not 200 <= status < 300)
    report.table(
        ["figure", "value"],
        [
            ("requests", f"{result['requests']:,} in {result['seconds']:.1f} s"),
            ("requests/s", f"{result['requests_per_second']:,.1f}"),
            (
                "latency p50 / p90 / p99",
                f"{lat.get('50', 0):.2f} / {lat.get('90', 0):.2f} / {lat.get('99', 0):.2f} ms",
            ),
            ("latency p99.9 / max", f"{lat.get('99.9', 0):.2f} / {lat.get('max', 0):.2f} ms"),
            (
                "socket errors",
                ", ".join(f"{k} {v}" for k, v in errors.items()) + f" (total {sum(errors.values())})",
            ),
            (
                "non-2xx responses",
                f"{non_2xx} (wrk's own 'Non-2xx or 3xx' count, >= 400: {result['wrk_non_2xx_or_3xx']})",
            ),
            ("status codes", ", ".join(f"{s}: {n:,}" for s, n in result["statuses"].items()) or "(none)"),
            ("X-Cache", ", ".join(f"{k}: {n:,}" for k, n in result["x_cache"].items()) or "(none)"),
            ("MiB received", f"{result['bytes'] / 1024**2:,.1f}"),
        ],
        align=["<", "<"],
    )
    report()
    report(f"Per page: requests wrk sent; responses the server logged during the run ({server['source']})")
    rows = []
    for (label, path), sent in zip(pages, result["sent"], strict=True):
        logged = server["by_page"][urlsplit(path).path]
        rows.append(
            (
                label,
                path,
                f"{sent:,}",
                f"{sum(logged.values()):,}",
                ", ".join(f"{s}: {n:,}" for s, n in logged.items()) or "-",
            )
        )
    report.table(
        ["page", "path", "sent (wrk)", "answered (server log)", "statuses (server log)"],
        rows,
        align=["<", "<", ">", ">", "<"],
    )
    report(
        "  sent includes the requests still in flight when wrk stopped (one per connection at most), which"
        " the server may answer after its log is read"
    )
    if server["other_paths"]:
        report(f"  other requests in the server log (path status: count): {server['other_paths']}")
    report(
        f"  server log during the run: {server['error_lines']} ERROR/CRITICAL line(s), "
        f"{server['warning_lines']} WARNING line(s), "
        f"{server['worker_boots']} worker boot(s)"
    )
    for line in server["first_error_lines"]:
        report(f"    {line[:300]}")
    report()
    report("Worker memory (VmRSS of each of the master's children; peak = VmHWM; MiB = 1024 KiB):")
    report("  start: all workers booted, before any load; before: after the warm-up; after: after the run")
    memory_table(snaps, report)
    return non_2xx


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=60, help="Seconds of the timed run (default 60).")
    parser.add_argument("--connections", type=int, default=64, help="wrk connections (default 64).")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads (default 2).")
    parser.add_argument(
        "--warmup", type=int, default=5, help="Seconds of the same load before the timed run (0: none)."
    )
    parser.add_argument(
        "--no-page-cache", action="store_true", help="PAGE_CACHE_SECONDS=0: every request renders its page."
    )
    add_database_arguments(parser)
    parser.add_argument("--reseed", action="store_true", help="Rebuild the database even if it is seeded.")
    parser.add_argument(
        "--workers", type=int, help="WEB_CONCURRENCY (default: unset, gunicorn.conf.py's 2 × cores + 1)."
    )
    parser.add_argument("--output", type=Path, help="The JSON file (default: in bench/results/).")
    parser.add_argument("--keep-log", action="store_true", help="Keep the server's log (a line per request).")
    args = parser.parse_args()
    if args.duration < 1 or args.connections < 1 or args.threads < 1 or args.warmup < 0:
        parser.error("--duration, --connections and --threads must be at least 1, --warmup at least 0")
    if args.connections < args.threads:
        parser.error("wrk needs at least one connection per thread")
    require_wrk()
    require_make()
    exit_on_sigterm()  # the stop() of the finally below must run on a plain `kill` of this script too

    report = Report(indent="  ")
    started = datetime.datetime.now()
    mode = "off" if args.no_page_cache else "on"
    port = free_port(PORTS)
    variables = {
        "DATABASE_URL": f"{PG_URL}/{args.database}",
        "CACHE_URL": REDIS_URL,
        "MEDIA_ROOT": str(MEDIA_ROOT),
    }
    if args.no_page_cache:
        variables["PAGE_CACHE_SECONDS"] = "0"
    if args.workers:
        variables["WEB_CONCURRENCY"] = str(args.workers)
    env = site_env(port, **variables)
    take_site_env(env)  # this process seeds the database and picks the pages with the server's settings

    import redis

    cache = redis.Redis.from_url(REDIS_URL)
    report(f"Conclave load test, {started:%Y-%m-%d %H:%M}")
    report(machine(f"PostgreSQL {pg_version()}", f"Redis {redis_version(REDIS_URL)}", wrk_version()))
    prepare_database(args.database, args.articles, args.reseed, report)
    pages, summary = find_pages()
    report(f"{args.database}: {summary}")

    WORK.mkdir(parents=True, exist_ok=True)
    run_dir = Path(tempfile.mkdtemp(prefix="run-", dir=WORK))
    script = run_dir / "pages.lua"
    write_lua(pages, script)
    serve = Serve(env, run_dir / "make-serve.log")
    cache.flushdb()  # our Redis database: no page of an earlier run is kept there
    result = {}
    try:
        serve.start()
        serve.wait_ready()
        settle(serve)
        report(
            f"make serve on {HOST}:{port}: gunicorn master {serve.master}, {len(serve.workers())} workers, "
            f"page cache {mode}"
            + (" (PAGE_CACHE_SECONDS unset: 300 s)" if mode == "on" else " (PAGE_CACHE_SECONDS=0)")
            + f", Redis {REDIS_URL}"
        )
        checks = []
        for label, path in pages:
            answer = get(port, path)
            checks.append((label, path, answer.status, answer.headers.get("x-cache", "-"), len(answer.body)))
        report.table(
            ["page", "path", "status", "X-Cache", "bytes of HTML"], checks, align=["<", "<", ">", "<", ">"]
        )
        if any(status != 200 for *_, status, _, _ in checks):
            raise RuntimeError("a page does not answer 200: no load run on it")
        snaps = {"start": snapshot(serve)}
        if args.warmup:
            warm = run_pages(port, script, args.threads, args.connections, args.warmup)
            report(
                f"Warm-up: {args.warmup} s, {warm['requests']:,} requests, statuses {warm['statuses']}, "
                f"socket errors {sum(warm['socket_errors'].values())}"
            )
            time.sleep(2)  # the warm-up's last requests, still being answered, stay out of the run's log
        snaps["before"] = snapshot(serve)
        report(f"Load average before the run (1, 5, 15 min): {load_average()}")
        command = (
            f"wrk -t{args.threads} -c{args.connections} -d{args.duration}s --latency --timeout {WRK_TIMEOUT} "
            f"-s pages.lua (Accept-Encoding: gzip; the four pages in turn)"
        )
        print(f"Running {command} ...", flush=True)
        log_start = serve.log_size()
        result = run_pages(port, script, args.threads, args.connections, args.duration)
        load_after = load_average()
        time.sleep(1)  # the log lines of the last requests
        snaps["after"] = snapshot(serve)
        server = server_side(serve, log_start, serve.log_size(), pages)
        report()
        report(f"== {command}, page cache {mode} ==")
        non_2xx = report_run(result, pages, server, snaps, report)
        report(f"Load average at the end of the run: {load_after} (wrk and other work share the machine)")
    except Exception as exc:
        report(f"FAILED: {exc}")
        raise
    finally:
        serve.stop()
        with contextlib.suppress(redis.RedisError):
            cache.flushdb()
        remove_unless(args.keep_log, run_dir, f"Server log kept in {run_dir}")

    socket_errors = sum(result["socket_errors"].values())
    failed = socket_errors or non_2xx or result["wrk_non_2xx_or_3xx"] or not result["requests"]
    verdict = "FAIL" if failed else "PASS"
    report()
    report(
        f"{verdict}: {socket_errors} socket error(s), {non_2xx} non-2xx response(s) "
        f"out of {result['requests']:,} requests (target: 0 and 0)"
    )
    out = args.output or RESULTS / ("load_pages.json" if mode == "on" else "load_pages-no-page-cache.json")
    data = {
        "started": started.isoformat(timespec="seconds"),
        "verdict": verdict,
        "command": command,
        "page_cache": mode,
        "database": args.database,
        "archive": summary,
        "port": port,
        "workers": len(snaps["before"]),
        "pages": [{"label": label, "path": path} for label, path in pages],
        "wrk": result,
        "server_log": server,
        "non_2xx": non_2xx,
        "memory_kib": {moment: {str(pid): m for pid, m in snap.items()} for moment, snap in snaps.items()},
        "report": report.lines,
    }
    print(f"\nWritten to {write_json(out, data)}")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
