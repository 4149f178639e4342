"""Instructions per request, counted by valgrind's callgrind: figures that do not move with the machine.

Times move with whatever else the machine does (other processes, CPU frequency, caches); the number of
instructions a request executes does not. Each scenario runs the stack in-process, in a child Python
under ``valgrind --tool=callgrind`` (Debian's /usr/bin/valgrind): the site's own WSGI application
(conclave/wsgi.py), called with a WSGI environ as gunicorn would call it, without a socket or HTTP
parsing. The child runs twice, with N and with M measured requests after the same start-up and
warm-up (five requests of the same kind): everything but the extra M - N requests is the same in
both, so (I_M - I_N) / (M - N), the difference of callgrind's totals, is what one request costs.

The site is conclave/settings.py as `make serve` runs it (bench.settings, DEBUG off, WhiteNoise and the
collected static files), on SQLite in a temporary folder holding the demo stories (``load_demo``), with
the local-memory cache and the page cache on (PAGE_CACHE_SECONDS unset: 300 s). The scenarios
(``--scenarios``):

* article-miss: the seed story's page, made after an unrelated publish. Before each request, a live
  story sharing no tag, section or author with the seed story (Aster AI's) is saved as the admin saves
  it (on commit, the keys of what changed are purged: the seed story's page shows none of them); then
  the page is asked for at an address no earlier request used: the same path, with another port of
  127.0.0.1 in the Host header (the page cache keys a page by scheme, host and path; the page itself
  shows nothing of the host). So every request is a miss, made from whatever parts of the page the
  publish left kept (the story's rendered parts, the header and footer, teasers, the related box within
  its lag), as when a story page expires or its navigation changes on a live site. (Clearing the cache
  instead would drop those parts too: a page made from nothing.) The publishes cost instructions of
  their own: two more runs do the same publishes without the requests, and their difference is taken
  off.
* article-hit: the seed story's page at one address, kept by the warm-up: a page cache hit.
* home-miss, tag-miss: the home page, and the page of the tag most stories carry, each request at an
  address of its own (as above): a miss, with the fragments (popular tags, navigation, the schedule)
  as the warm-up left them, no publish in between.
* floor: bench/floor.py, a bare Django (SecurityMiddleware, CommonMiddleware, one view returning 60,000
  fixed bytes), measured the same way: the least any request through Django costs.

Every measured answer must be a 200 carrying the X-Cache its scenario names, or the run stops with an
error: a figure is printed only for the requests it says it counts.

The same figures every run, to a few hundred instructions a request (the M column is identical; the
floor's count to the instruction): PYTHONHASHSEED=0 in the children; the demo stories loaded with the
clock stopped at DEMO_DAY (time_machine, while loading only), so every run's data is the same to the
microsecond; a fixed secret key and a fixed folder (WORK, emptied first: one run at a time), since
paths of other lengths or letters change what Python hashes and allocates; one database copy per run;
the bytecode of every module written before any counted run (by a quick run of every scenario outside
valgrind, which also checks the scenarios) and never during one; in the children, a fixed random
stream behind os.urandom and a stepping perf_counter (same_every_run). What still differs is the wall
clock's time (log timestamps, the Age header). Connections are kept a day (DATABASE_CONN_MAX_AGE):
under valgrind a run lasts a minute or two, and the site's reconnection once a minute would land at a
different request each run. The garbage collector stays on, as in production, after one collection
once the warm-up is done: its collections fall where the allocations put them, the same every run,
so a figure depends a little (about 1 %) on N and M: compare figures taken with the same ones.

    .venv/bin/python bench/instructions.py                        # every scenario: about 5 minutes
    .venv/bin/python bench/instructions.py --scenarios article-hit,floor --n 5 --m 25 --keep

Needs valgrind (apt-get install -y valgrind); no server, no network. Runs --jobs callgrind runs at once
(one per CPU): the counts do not depend on it. A table on stdout, also written to bench/results/;
--keep leaves WORK and its callgrind.out files (callgrind_annotate). Nothing is asserted about the figures.
"""

import argparse
import concurrent.futures
import datetime
import gc
import io
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (  # noqa: E402
    HOST,
    ROOT,
    SEED_SLUG,
    Report,
    bench_settings_env,
    git_commit,
    machine,
    remove_unless,
    run,
)

SCRIPT = Path(__file__).resolve()
# Always this folder (emptied first): its paths reach the children (the database, media and static
# files), and paths that differ, even in length alone, change what Python hashes and allocates.
WORK = Path(tempfile.gettempdir()) / "conclave-bench-instructions"
VALGRIND = "/usr/bin/valgrind"
# Instructions by function only: no per-instruction or per-line counts, no jumps (a smaller, quicker run).
CALLGRIND = ["--tool=callgrind", "--dump-instr=no", "--dump-line=no", "--collect-jumps=no"]
# A story sharing no tag, section or author with the seed story: its publish changes nothing on that page.
UNRELATED_SLUG = "aster-ai-open-licence-language-model"
# The demo stories are dated up to a day before the day load_demo runs: always this one, here.
DEMO_DAY = datetime.datetime(2026, 6, 1, 12, tzinfo=datetime.UTC)
WARMUP = 5
CHECK_REQUESTS = 2  # measured requests of the quick run outside valgrind
SITE_PORT = 8000
# Ports in the Host header of requests that must miss: the warm-up's from the first, the measured ones'
# from the second; as many digits in all, so that every address costs the same.
FRESH_PORTS = (20000, 30000)
BROWSER_HEADERS = {
    "HTTP_USER_AGENT": "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
    "HTTP_ACCEPT": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
    "HTTP_ACCEPT_LANGUAGE": "en-GB,en;q=0.5",
    "HTTP_ACCEPT_ENCODING": "gzip, deflate, br, zstd",
    "HTTP_CONNECTION": "keep-alive",
}


@dataclass(frozen=True)
class Scenario:
    label: str
    path: str  # "{tag}": the slug of the tag most stories carry
    outcome: str | None  # the X-Cache of every measured answer; None: no page cache (the floor)
    fresh: bool = False  # each request at an address no other request used: a miss
    publish: bool = False  # an unrelated publish before each request, its own cost taken off
    site: bool = True  # the site, or the bare Django of bench/floor.py


SCENARIOS = {
    "article-miss": Scenario(
        "article miss after an unrelated publish", f"/news/{SEED_SLUG}/", "miss", fresh=True, publish=True
    ),
    "article-hit": Scenario("article hit", f"/news/{SEED_SLUG}/", "hit"),
    "home-miss": Scenario("home miss", "/", "miss", fresh=True),
    "tag-miss": Scenario("tag page miss", "/tags/{tag}/", "miss", fresh=True),
    "floor": Scenario("floor: fixed bytes, bare Django", "/floor/", None, site=False),
}
# What a run does each time: the requests (after a publish, where the scenario has one), or the
# publishes alone.
REQUESTS, PUBLISHES = "requests", "publishes"


def site_env(work, database):
    return bench_settings_env(
        work / "media",
        work / "static",
        DJANGO_SECRET_KEY="bench-instructions-signs-nothing-served",  # noqa: S106 -- the same every run
        DJANGO_LOG_LEVEL="INFO",
        DATABASE_URL=f"sqlite:///{database}",
        DATABASE_CONN_MAX_AGE="86400",
        SITE_URL=f"http://{HOST}:{SITE_PORT}",
    )


def child_env(variables):
    """A shell's basics and ``variables``; nothing else from this process's environment."""
    env = {name: os.environ[name] for name in ("PATH", "HOME") if name in os.environ}
    return {**env, "LANG": "C.UTF-8", "TZ": "UTC", "PYTHONHASHSEED": "0", **variables}


# --- in the children -----------------------------------------------------------------------------------


def prepare():
    """The database every run copies: migrated, the demo stories loaded; the static files collected."""
    import time_machine
    from django.core.management import call_command

    from bench.common import setup_django

    setup_django()
    call_command("migrate", "--no-input", verbosity=0)
    # Time stands still: every timestamp of the data is the same in every run, to the microsecond.
    with time_machine.travel(DEMO_DAY, tick=False):
        call_command("load_demo", stdout=io.StringIO())
    call_command("collectstatic", "--no-input", verbosity=0)


def request(application, path, port):
    """GET ``path`` through ``application`` as a browser would send it: (status, X-Cache)."""
    environ = {
        "REQUEST_METHOD": "GET",
        "SCRIPT_NAME": "",
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "SERVER_NAME": HOST,
        "SERVER_PORT": str(SITE_PORT),
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": HOST,
        "HTTP_HOST": f"{HOST}:{port}",
        **BROWSER_HEADERS,
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }
    started = []

    def start_response(status, headers, exc_info=None):
        started.append((status, headers))

    body = application(environ, start_response)
    try:
        for _chunk in body:
            pass
    finally:
        body.close()
    status, headers = started[-1]
    return int(status.split()[0]), dict(headers).get("X-Cache")


def same_every_run():
    """The child's entropy and stopwatch, made the same in every run: a fixed random stream for
    os.urandom (request ids, the page cache's first generation number) and a perf_counter stepping
    by 12.3 ms (the durations the request log writes). Real ones give other bytes and other floats each
    run, which cost a few hundred instructions more or less to turn into text. Both replacements cost
    about what the originals do; the wall clock (time.time) stays real."""
    import itertools
    import random

    random._urandom = os.urandom = random.Random(0).randbytes  # random read it at import: both
    time.perf_counter = itertools.count(0.0, 0.0123).__next__


def measure(name, kind, count):
    """Start the stack, warm it up, then do ``count`` measured requests (or publishes)."""
    same_every_run()
    scenario = SCENARIOS[name]
    path, publish = scenario.path, None
    if scenario.site:
        import conclave.wsgi  # sets Django up, as gunicorn's import of it does: before any model

        application = conclave.wsgi.application
        from django.db.models import Count

        from articles.models import Article, Tag

        tag = Tag.objects.annotate(stories=Count("tagged_articles")).order_by("-stories", "name").first()
        path = path.format(tag=tag.slug)

        def publish():
            Article.objects.get(slug=UNRELATED_SLUG).save()  # autocommit: bumped as it returns

    else:
        from django.core.wsgi import get_wsgi_application

        application = get_wsgi_application()

    def once(port, get=True):
        if scenario.publish:
            publish()
        if get:
            return request(application, path, port if scenario.fresh else SITE_PORT)
        return None

    for n in range(WARMUP):
        once(FRESH_PORTS[0] + n)
    gc.collect()
    answers = [once(FRESH_PORTS[1] + n, get=kind == REQUESTS) for n in range(count)]
    if kind == REQUESTS:
        wrong = [answer for answer in answers if answer != (200, scenario.outcome)]
        if wrong:
            sys.exit(
                f"{name}: {len(wrong)} of {count} answers not (200, X-Cache {scenario.outcome}): {wrong}"
            )


# --- in this process -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Run:
    name: str
    kind: str
    count: int

    @property
    def label(self):
        return f"{self.name}-{self.kind}-{self.count}"


def say(line):
    print(line, file=sys.stderr, flush=True)


def child_command(run_):
    return [sys.executable, str(SCRIPT), "--child", run_.name, run_.kind, str(run_.count)]


def start_child(run_, work, callgrind):
    """One child: natively (a quick check, writing the bytecode) or under callgrind (its total)."""
    folder = work / ("callgrind" if callgrind else "check") / run_.label
    folder.mkdir(parents=True)
    if SCENARIOS[run_.name].site:
        database = folder / "site.sqlite3"
        shutil.copyfile(work / "site.sqlite3", database)
        env = child_env(site_env(work, database))
    else:
        env = child_env({"DJANGO_SETTINGS_MODULE": "bench.floor"})
    command = child_command(run_)
    out = folder / "callgrind.out"
    if callgrind:
        # No bytecode written by a counted run: its neighbours would find it and count less.
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        valgrind = [
            VALGRIND,
            *CALLGRIND,
            f"--callgrind-out-file={out}",
            f"--log-file={folder / 'valgrind.log'}",
        ]
        command = valgrind + command
    started = time.monotonic()
    with open(folder / "child.log", "wb") as log:
        done = subprocess.run(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, check=False)  # noqa: S603
    seconds = time.monotonic() - started
    if done.returncode != 0:
        tail = "\n".join((folder / "child.log").read_text(errors="replace").splitlines()[-20:])
        raise RuntimeError(f"{run_.label} exited {done.returncode}:\n{tail}")
    return (total_instructions(out) if callgrind else None), seconds


def total_instructions(out):
    """The total of the run's only event, Ir, from its callgrind.out file."""
    found = re.search(r"^(?:totals|summary):\s+(\d+)", out.read_text(), re.M)
    if not found:
        raise RuntimeError(f"No total in {out}")
    return int(found.group(1))


def run_all(runs, work, jobs, callgrind):
    """Every run, ``jobs`` at a time, biggest first: {run: total instructions}."""
    totals = {}
    order = sorted(runs, key=lambda r: -r.count)
    with concurrent.futures.ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = {pool.submit(start_child, r, work, callgrind): r for r in order}
        for done, future in enumerate(concurrent.futures.as_completed(futures), 1):
            r = futures[future]
            total, seconds = future.result()
            totals[r] = total
            counted = f", {total:,} instructions" if callgrind else ""
            say(f"  [{done}/{len(runs)}] {r.label}: {seconds:.0f} s{counted}")
    return totals


def plan(names, n, m):
    runs = []
    for name in names:
        kinds = [REQUESTS, PUBLISHES] if SCENARIOS[name].publish else [REQUESTS]
        runs += [Run(name, kind, count) for kind in kinds for count in (n, m)]
    return runs


def per_request(totals, name, kind, n, m):
    return (totals[Run(name, kind, m)] - totals[Run(name, kind, n)]) / (m - n)


def valgrind_version():
    return run([VALGRIND, "--version"]).stdout.strip()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--scenarios",
        default=",".join(SCENARIOS),
        help=f"Comma-separated, of: {', '.join(SCENARIOS)} (default: all).",
    )
    parser.add_argument("--n", type=int, default=5, help="Measured requests of the first run (default 5).")
    parser.add_argument("--m", type=int, default=25, help="Measured requests of the second run (default 25).")
    parser.add_argument(
        "--jobs", type=int, default=len(os.sched_getaffinity(0)), help="Runs at once (default: one per CPU)."
    )
    parser.add_argument("--keep", action="store_true", help="Keep the runs' folders (callgrind.out files).")
    parser.add_argument("--child", nargs=3, metavar=("SCENARIO", "KIND", "COUNT"), help=argparse.SUPPRESS)
    parser.add_argument("--prepare", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.prepare:
        return prepare()
    if args.child:
        name, kind, count = args.child
        return measure(name, kind, int(count))

    names = [name.strip() for name in args.scenarios.split(",") if name.strip()]
    if unknown := [name for name in names if name not in SCENARIOS]:
        parser.error(f"unknown scenario(s) {', '.join(unknown)}; known: {', '.join(SCENARIOS)}")
    if not 0 <= args.n < args.m:
        parser.error("--n must be at least 0 and less than --m")
    if not Path(VALGRIND).exists():
        sys.exit(
            f"{VALGRIND} is missing: it comes from Debian's valgrind package (apt-get install -y valgrind)."
        )
    import django

    report = Report()
    started, clock = datetime.datetime.now(), time.monotonic()
    report(f"Instructions per request (callgrind), {started:%Y-%m-%d %H:%M}, commit {git_commit()}")
    report(
        machine(valgrind_version(), f"Django {django.get_version()}", f"{platform.python_implementation()}")
    )
    report(
        f"In-process WSGI, PYTHONHASHSEED=0; the site on SQLite with the demo stories (dated as on "
        f"{DEMO_DAY:%Y-%m-%d}), local-memory cache, page cache on; {WARMUP} warm-up requests, then "
        f"(I_M - I_N) / (M - N)"
    )
    work = WORK
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    runs = plan(names, args.n, args.m)
    try:
        if any(SCENARIOS[name].site for name in names):
            say("Preparing the site: migrate, load_demo, collectstatic")
            env = child_env(site_env(work, work / "site.sqlite3"))
            done = run([sys.executable, str(SCRIPT), "--prepare"], cwd=ROOT, env=env)
            if done.returncode != 0:
                sys.exit(f"Preparing the site failed:\n{done.stdout}{done.stderr}")
        say("Checking every scenario outside valgrind (and writing the bytecode)")
        checks = {Run(r.name, r.kind, CHECK_REQUESTS) for r in runs}
        run_all(checks, work, args.jobs, callgrind=False)
        say(f"Counting: {len(runs)} runs under callgrind, {args.jobs} at once")
        totals = run_all(runs, work, args.jobs, callgrind=True)
    finally:
        remove_unless(args.keep, work, f"Runs kept in {work}")

    rows, notes = [], []
    for name in names:
        figure = per_request(totals, name, REQUESTS, args.n, args.m)
        if SCENARIOS[name].publish:
            publish = per_request(totals, name, PUBLISHES, args.n, args.m)
            figure -= publish
            notes.append(
                f"{name}: the publish before each request, {publish / 1e6:.1f} M ({publish:,.0f}), taken off"
            )
        rows.append((name, SCENARIOS[name].label, f"{figure / 1e6:.1f} M", f"{figure:,.0f}", args.n, args.m))
    report()
    report.table(["scenario", "what", "per request", "instructions", "N", "M"], rows, align=list("<<>>>>"))
    for note in notes:
        report(note)
    minutes, seconds = divmod(round(time.monotonic() - clock), 60)
    report(f"Took {minutes} min {seconds} s")
    out = report.save(f"instructions-{started:%Y%m%d-%H%M%S}.txt")
    print(f"\nTable written to {out.relative_to(ROOT)}")
    return None


if __name__ == "__main__":
    main()
