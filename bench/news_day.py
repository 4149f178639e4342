"""A news day: readers over the archive while an editor publishes or corrects a story every 10 s, for the
old page-cache design (one site-wide generation) and the new one (surrogate keys), direct and through
Varnish.

For each archive size (--sizes, default 10,000 and 100,000 articles), on the PostgreSQL databases
bench/http_pages.py seeds and keeps (conclave_bench_http_<size>: ``seed_bulk --articles N``, then
``load_demo``; shared with it, created here when missing), and for each design (--designs) and way in
(--through):

* the design's gunicorn, as ``make serve`` runs it (conclave/gunicorn.conf.py, DEBUG off, WhiteNoise's
  hashed static files collected from that design's checkout), WEB_CONCURRENCY=2, Redis as the cache,
  page cache on (PAGE_CACHE_SECONDS unset: the default). *new* is this checkout; *old* is the checkout
  in --old-checkout (by default a git worktree of commit e9618e2 made in a temporary folder for the
  run, and removed after it: the design where any publish or correction bumps one
  site-wide generation and every kept page misses). The old code runs against the same database: the
  new design's extra tables are there and it ignores them. One server at a time (a 2-core machine);
* ``--through varnish``: varnishd in front of it, running deploy/varnish/default.vcl as shipped but for
  the backend's port (tests/support/varnish.py's rewriting), with xkey. The new design is then started
  with EDGE_PURGE_URL=varnish://127.0.0.1:<port>: it purges Varnish by key after each commit and sends
  its long EDGE_CACHE_SECONDS s-maxage. The old design knows no edge purges: Varnish keeps its pages
  for their s-maxage (PAGE_CACHE_SECONDS, 300 s);
* readers: wrk, ``-t16 -c16`` (16 keep-alive connections, a thread each, so each thread knows which
  request a response answers) with a Lua script written next to the server logs. Each request is
  drawn in the script (LuaJIT's PRNG, seeded from --seed and the thread's number: the same sequence per
  thread every run): --article-share (80 %) story pages, Zipf popularity with exponent --zipf (1.0)
  over every live story, ranked in a random order fixed by --seed; --home-share (10 %) the home page;
  the rest tag pages, Zipf over the tags ranked by how many stories carry them. The script tallies per
  kind of page the status and the X-Cache (our page cache: hit, stale, miss) and X-Varnish-Cache
  (HIT, STALE, MISS, PASS) of every response and prints the sums in done(); latency percentiles are
  wrk's own (--latency). First --warmup seconds (30) of readers alone, then --duration seconds (60)
  measured, with the editor at work;
* the editor, over HTTP straight to gunicorn (the admin, logged in as an Editor; each design's own code
  saves and invalidates): every --interval seconds (10), starting as the measured phase starts, in
  turn *publish* a draft made for the run (the article list's Publish action, as http_pages.py does)
  and *correct* a live story (its change form, as loaded, sent back with a sentence added to the body
  and, where the form has the inline, a correction note; stories drawn with the readers' popularity
  among those the warm-up asked for, so that a cache holds the page the correction replaces).
  After each, another connection polls, through the readers' way in, the home page until the new
  story's link is on it, or the corrected story's page until the new sentence is, every 20 ms, up to
  --visible-cap seconds (15: past it, "> 15 s"). Times count from the admin's answer (the commit is
  done by then) to the end of the first GET showing the change; the number of GETs sent after the
  answer that still showed the old page is counted too (0 for "visible on the next request").

Afterwards the drafts are deleted and the corrected stories are put back as they were (fields,
correction notes and revisions of the run), so the databases stay as seeded for http_pages.py; a run
killed half-way is put right by the next one (the originals are kept in a file until then).

The table per size: for each design and way in, requests/s, p50 and p99 latency (ms), our cache's
share of answers served from it (hit + stale, the stale share beside) over all pages and over story
pages (through Varnish: over the requests Varnish passed on), Varnish's hit share (HIT + STALE), the
*warm* story-page hit share of the cache readers reach first (over the requests that were not the first
for their page in the run: the caches start empty, and a page first asked for in the measured phase
misses in either design; on a short run those cold misses hide what a change every 10 s costs), and
publish- and correction-to-visible (median / max). The issue's target: story-page hit ratio ≥ 95 % with
a publish every 10 s (the old design's figure beside); publish-to-visible ≤ 1 s through Varnish, 0 s
(the next request) through our cache. Every response is checked: non-2xx answers and socket errors are
counted and printed.

    .venv/bin/python bench/news_day.py                     # both sizes, both designs, direct and Varnish
    .venv/bin/python bench/news_day.py --sizes 10000 --warmup 10 --duration 20     # a quick smoke run
    .venv/bin/python bench/news_day.py --designs new --through varnish --zipf 0.8

Needs wrk, varnishd with varnish-modules (xkey), the old design's checkout (--old-checkout), PostgreSQL
on 127.0.0.1:5432 (BENCH_PG_URL to change) and Redis on 127.0.0.1:6379, whose databases 10 (new design)
and 11 (old) it empties and uses. Ports 8901-8999; sends traffic to 127.0.0.1 only. A timing
benchmark: nothing is asserted; the tables are printed and written to bench/results/.
"""

import argparse
import atexit
import contextlib
import datetime
import http.client
import itertools
import os
import pickle
import random
import re
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (  # noqa: E402
    HOST,
    PG_URL,
    ROOT,
    SEED_SLUG,
    WRK_TIMEOUT,
    Gunicorn,
    Report,
    Server,
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
    run,
    seed_demo_once,
    setup_django,
    wrk_path,
    wrk_summary,
    wrk_version,
)
from tests.support.varnish import VARNISHD, vcl_for_backend  # noqa: E402

PORTS = range(8901, 9000)
REDIS_DB = {"new": 10, "old": 11}
WORKERS = 2
WRK_THREADS = WRK_CONNECTIONS = 16  # a connection per thread: responses come in the order of requests
# The last commit of the old design: one site-wide generation, bumped by every publish or correction.
OLD_COMMIT = "e9618e2"
DRAFT_PREFIX = "bench-newsday-"
EDITOR_USERNAME = "bench-newsday-editor"
POLL_PAUSE = 0.02  # seconds between the visibility polls
TARGET_ARTICLE_HIT = 0.95
TARGET_VARNISH_VISIBLE = 1.0  # seconds
HTTP_WORK = Path(tempfile.gettempdir()) / "conclave-bench-http"
MEDIA_ROOT = HTTP_WORK / "media"  # bench/http_pages.py's: the shared databases' pictures live there
WORK = Path(tempfile.gettempdir()) / "conclave-bench-news-day"
VARNISH_STORAGE = "malloc,1g"
KINDS = ("article", "home", "tag")
CACHE_HEADERS = ("x-varnish-cache", "x-cache")  # Varnish's, then ours

BASE_ENV = bench_settings_env(
    MEDIA_ROOT,
    WORK / "static-new",
    DATABASE_URL=f"{PG_URL}/postgres",  # switched to each size's database before any use
    CACHE_URL=redis_url(REDIS_DB["new"]),
)
for name in ("PAGE_CACHE_SECONDS", "EDGE_PURGE_URL", "EDGE_CACHE_SECONDS", "WEB_CONCURRENCY"):
    os.environ.pop(name, None)
setup_django(BASE_ENV)

import redis  # noqa: E402
from django import get_version as django_version  # noqa: E402
from django.db import connections  # noqa: E402
from django.db.models import Count  # noqa: E402
from django.utils import timezone  # noqa: E402

from articles.models import Article, Author, Correction, Revision, Section, Tag  # noqa: E402

# The readers, in wrk's Lua (LuaJIT). Arguments after "--": articles file, tags file (a path a line,
# most popular first), Zipf exponent, seed, article share, home share, threads, and the file where done()
# writes every path asked for (its kind, 1 if it was answered, the path), for the first requests of each
# page to be told apart.
WRK_SCRIPT = r"""
local threads = {}
local counter = 0

function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

local function load_paths(file, s)
  local paths, cumulative, total = {}, {}, 0
  for line in io.lines(file) do
    paths[#paths + 1] = line
    total = total + 1 / ((#paths) ^ s)
    cumulative[#paths] = total
  end
  return paths, cumulative, total
end

local function zipf(paths, cumulative, total)
  local x = math.random() * total
  local lo, hi = 1, #paths
  while lo < hi do
    local mid = math.floor((lo + hi) / 2)
    if cumulative[mid] < x then lo = mid + 1 else hi = mid end
  end
  return paths[lo]
end

function init(args)
  local s = tonumber(args[3])
  articles, article_cum, article_total = load_paths(args[1], s)
  tags, tag_cum, tag_total = load_paths(args[2], s)
  article_share, home_share = tonumber(args[5]), tonumber(args[6])
  math.randomseed(tonumber(args[4]) * 1000 + id + 1)
  seen_file = args[8]
  tallies = {}
  seen = {}  -- every path this thread asked for: its kind
  answered = {}  -- every path it got an answer for
  kind, current = "none", ""
end

function request()
  local r = math.random()
  local path
  if r < article_share then
    kind, path = "article", zipf(articles, article_cum, article_total)
  elseif r < article_share + home_share then
    kind, path = "home", "/"
  else
    kind, path = "tag", zipf(tags, tag_cum, tag_total)
  end
  seen[path] = kind  -- when asked: a request still under way when wrk stops may be kept all the same
  current = path
  return wrk.format(nil, path)
end

function response(status, headers, body)
  local ours = headers["X-Cache"] or headers["x-cache"] or "-"
  local edge = headers["X-Varnish-Cache"] or headers["x-varnish-cache"] or "-"
  local key = kind .. " " .. status .. " " .. ours .. " " .. edge
  tallies[key] = (tallies[key] or 0) + 1
  answered[current] = true
end

function done(summary, latency, requests)
  for _, thread in ipairs(threads) do
    for key, count in pairs(thread:get("tallies")) do
      io.write(string.format("TALLY %s %d\n", key, count))
    end
  end
  local union, got = {}, {}
  for _, thread in ipairs(threads) do
    for path, kind in pairs(thread:get("seen")) do
      union[path] = kind
    end
    for path, _ in pairs(thread:get("answered")) do
      got[path] = true
    end
  end
  local out = io.open(threads[1]:get("seen_file"), "w")
  for path, kind in pairs(union) do
    out:write(kind, " ", got[path] and "1" or "0", " ", path, "\n")
  end
  out:close()
end
"""


def size_label(size):
    return f"{size // 1000}k" if size % 1000 == 0 else str(size)


# --- databases --------------------------------------------------------------------------------------------


def restore_file(database):
    return WORK / f"restore-{database}.pickle"


def prepare_database(size, reseed, report):
    name = f"conclave_bench_http_{size_label(size)}"
    seed_demo_once(
        name,
        size,
        "bench/http_pages.py",  # the same databases as http_pages.py: seeded once for both
        reseed=reseed,
        report=report,
        media_root=MEDIA_ROOT,
        shared_media=True,
    )
    put_back(name, report)  # what an interrupted run left
    return name


def put_back(database, report=None):
    """The run's drafts deleted; the stories it corrected as they were, their notes and revisions gone."""
    Article.objects.filter(slug__startswith=DRAFT_PREFIX).delete()
    path = restore_file(database)
    if not path.exists():
        return
    saved = pickle.loads(path.read_bytes())  # noqa: S301 -- our own file, written below
    notes = revisions = 0
    for pk, original in saved["stories"].items():
        notes += Correction.objects.filter(article_id=pk).exclude(pk__in=original["corrections"]).delete()[0]
        revisions += Revision.objects.filter(article_id=pk).exclude(pk__in=original["revisions"]).delete()[0]
        Article.objects.filter(pk=pk).update(**original["fields"])
    path.unlink()
    if report:
        report(
            f"  Put back {len(saved['stories'])} stories kept for corrections as they were "
            f"({notes} correction note(s) and {revisions} revision(s) of the run removed)"
        )


def keep_originals(database, stories):
    """Before any correction: the stories' fields, notes and revisions, for put_back()."""
    names = [f.attname for f in Article._meta.concrete_fields if not f.primary_key]
    saved = {"stories": {}}
    for article in stories:
        saved["stories"][article.pk] = {
            "fields": Article.objects.filter(pk=article.pk).values(*names)[0],
            "corrections": list(
                Correction.objects.filter(article_id=article.pk).values_list("pk", flat=True)
            ),
            "revisions": list(Revision.objects.filter(article_id=article.pk).values_list("pk", flat=True)),
        }
    WORK.mkdir(parents=True, exist_ok=True)
    restore_file(database).write_bytes(pickle.dumps(saved))


@dataclass
class Archive:
    articles: list  # Article (pk, slug, title), most popular first
    tags: list  # Tag, most used first
    total: int
    next_scheduled: datetime.datetime | None


def read_archive(seed):
    live = list(Article.objects.published().order_by("pk").only("pk", "slug", "title"))
    random.Random(seed).shuffle(live)  # popularity: a random order, the same for a given --seed
    tags = list(
        Tag.objects.annotate(n=Count("tagged_articles")).filter(n__gt=0).order_by("-n", "pk").only("slug")
    )
    upcoming = (
        Article.objects.filter(status=Article.Status.PUBLISHED, published_at__gt=timezone.now())
        .order_by("published_at")
        .values_list("published_at", flat=True)
        .first()
    )
    return Archive(live, tags, Article.objects.count(), upcoming)


def write_path_files(archive, folder):
    articles, tags = folder / "articles.txt", folder / "tags.txt"
    articles.write_text("".join(f"{a.get_absolute_url()}\n" for a in archive.articles))
    tags.write_text("".join(f"{t.get_absolute_url()}\n" for t in archive.tags))
    return articles, tags


# --- servers ----------------------------------------------------------------------------------------------


class DesignGunicorn(Gunicorn):
    """gunicorn from a design's checkout: its code, its gunicorn.conf.py, the same environment."""

    def __init__(self, checkout, port, env, log_path, label):
        super().__init__(port, env, log_path, label)
        self.checkout = checkout

    def start(self):
        self.log = open(self.log_path, "ab")  # noqa: SIM115 -- closed in stop()
        self.process = subprocess.Popen(  # noqa: S603
            self.command,
            cwd=self.checkout,
            env=self.env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )


class Varnishd(Server):
    """varnishd in the foreground, deploy/varnish/default.vcl pointed at the backend's port."""

    label = "varnishd"

    def __init__(self, port, backend_port, folder):
        vcl = folder / f"varnish-{port}.vcl"
        vcl.write_text(vcl_for_backend(backend_port))
        self.workdir = folder / f"varnish-{port}"
        command = [
            VARNISHD,
            "-F",
            "-j",
            "none",
            "-n",
            str(self.workdir),
            "-f",
            str(vcl),
            "-a",
            f"{HOST}:{port}",
            "-s",
            VARNISH_STORAGE,
        ]
        super().__init__(command, dict(os.environ), port, folder / f"varnishd-{port}.log")


def checkout_commit(checkout):
    return run(["git", "rev-parse", "--short", "HEAD"], cwd=checkout).stdout.strip() or "unknown"


def collectstatic(design, checkout, report):
    """The design's own static files (their hashed names are in its manifest), into a folder of ours."""
    folder = WORK / f"static-{design}"
    env = {**os.environ, "BENCH_STATIC_ROOT": str(folder)}
    python = str(Path(sys.executable))
    done = run([python, "manage.py", "collectstatic", "--no-input", "-v0"], cwd=checkout, env=env)
    if done.returncode != 0:
        raise RuntimeError(f"collectstatic in {checkout} failed:\n{done.stderr[-3000:]}")
    report(f"collectstatic for the {design} design ({checkout}) into {folder}")
    return folder


def server_env(design, database, static_root, edge_port):
    env = {k: v for k, v in os.environ.items() if k not in ("PAGE_CACHE_SECONDS", "EDGE_PURGE_URL")}
    env.update(
        BASE_ENV,
        WEB_CONCURRENCY=str(WORKERS),
        DATABASE_URL=f"{PG_URL}/{database}",
        CACHE_URL=redis_url(REDIS_DB[design]),
        BENCH_STATIC_ROOT=str(static_root),
    )
    if edge_port is not None and design == "new":
        env["EDGE_PURGE_URL"] = f"varnish://{HOST}:{edge_port}"
    return env


# --- the readers ------------------------------------------------------------------------------------------


@dataclass
class Readers:
    rps: float
    p50: float
    p99: float
    requests: int
    socket_errors: int
    tallies: dict  # (kind, status, X-Cache, X-Varnish-Cache) -> count
    pages: dict  # kind -> the paths asked for
    answered: dict  # kind -> the paths answered (the requests still under way at the end left out)

    def count(self, kinds=KINDS, status=None, ours=None, edge=None):
        return sum(
            n
            for (k, st, o, e), n in self.tallies.items()
            if k in kinds
            and (status is None or status(st))
            and (ours is None or o in ours)
            and (edge is None or e in edge)
        )

    def errors(self):
        return self.count(status=lambda st: not 200 <= st < 300)


def wrk_command(url, seconds, script, articles, tags, args, seed, seen_file):
    cmd = [wrk_path(), f"-t{WRK_THREADS}", f"-c{WRK_CONNECTIONS}", f"-d{seconds}s", "--latency"]
    cmd += ["--timeout", WRK_TIMEOUT, "-H", "Accept-Encoding: gzip", "-s", str(script), url, "--"]
    cmd += [str(articles), str(tags), str(args.zipf), str(seed)]
    cmd += [str(args.article_share), str(args.home_share), str(WRK_THREADS), str(seen_file)]
    return cmd


def parse_readers(out, seen_file):
    summary = wrk_summary(out)
    pages = {kind: set() for kind in KINDS}
    answered = {kind: set() for kind in KINDS}
    for line in seen_file.read_text().splitlines():
        kind, got, path = line.split(" ", 2)
        pages.setdefault(kind, set()).add(path)
        if got == "1":
            answered.setdefault(kind, set()).add(path)
    tallies = {}
    for kind, status, ours, edge, n in re.findall(r"^TALLY (\S+) (\d+) (\S+) (\S+) (\d+)$", out, re.M):
        key = (kind, int(status), ours, edge)
        tallies[key] = tallies.get(key, 0) + int(n)
    return Readers(
        rps=summary["requests_per_second"],
        p50=summary["latency_ms"].get("50", float("nan")),
        p99=summary["latency_ms"].get("99", float("nan")),
        requests=summary["requests"],
        socket_errors=sum(summary["socket_errors"].values()),
        tallies=tallies,
        pages=pages,
        answered=answered,
    )


def start_readers(cmd):
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # noqa: S603


def finish_readers(process, seconds, seen_file):
    out, err = process.communicate(timeout=seconds + 120)
    if process.returncode != 0:
        raise RuntimeError(f"wrk failed ({process.returncode}): {err or out}")
    return parse_readers(out, seen_file)


# --- the editor -------------------------------------------------------------------------------------------


class ChangeForm(HTMLParser):
    """The fields a browser would send from the admin's change form, as it was loaded."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.fields = []  # (name, value), in order
        self.in_form = False
        self.textarea = None  # [name, text]
        self.select = None  # [name, multiple, options, selected]

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form" and a.get("id", "").endswith("_form") and a.get("method", "").lower() == "post":
            self.in_form = True
        if not self.in_form:
            return
        name = a.get("name")
        if tag == "input" and name:
            kind = (a.get("type") or "text").lower()
            if kind in ("submit", "button", "image", "file", "reset"):
                return
            if kind in ("checkbox", "radio"):
                if "checked" in a:
                    self.fields.append((name, a.get("value") or "on"))
                return
            self.fields.append((name, a.get("value") or ""))
        elif tag == "textarea" and name:
            self.textarea = [name, ""]
        elif tag == "select" and name:
            self.select = [name, "multiple" in a, [], []]
        elif tag == "option" and self.select is not None:
            value = a.get("value", "")
            self.select[2].append(value)
            if "selected" in a:
                self.select[3].append(value)

    def handle_data(self, data):
        if self.textarea is not None:
            self.textarea[1] += data

    def handle_endtag(self, tag):
        if tag == "form":
            self.in_form = False
        elif tag == "textarea" and self.textarea is not None:
            name, text = self.textarea
            self.fields.append((name, text.removeprefix("\r\n").removeprefix("\n")))
            self.textarea = None
        elif tag == "select" and self.select is not None:
            name, multiple, options, selected = self.select
            if not selected and not multiple and options:
                selected = options[:1]
            self.fields.extend((name, value) for value in selected)
            self.select = None


class AdminClient:
    """An editor's browser, in short (cookies kept by hand: with DEBUG off they are marked Secure)."""

    def __init__(self, port):
        self.port = port
        self.cookies = {}
        self.origin = f"http://{HOST}:{port}"

    def request(self, method, path, fields=None):
        conn = http.client.HTTPConnection(HOST, self.port, timeout=60)
        try:
            headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())}
            body = None
            if fields is not None:
                body = urlencode(fields)
                headers.update(
                    {
                        "Content-Type": "application/x-www-form-urlencoded",
                        "Origin": self.origin,
                        "Referer": self.origin + path,
                    }
                )
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
        status, _, page = self.request("GET", "/admin/login/")
        token = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', page)
        if status != 200 or token is None:
            raise RuntimeError(f"admin login page answered {status}")
        fields = {
            "csrfmiddlewaretoken": token.group(1).decode(),
            "username": username,
            "password": password,
            "next": "/admin/",
        }
        status, location, _ = self.request("POST", "/admin/login/?next=/admin/", fields)
        if status != 302 or "sessionid" not in self.cookies:
            raise RuntimeError(f"admin login refused ({status} {location})")

    def publish(self, pk):
        fields = {
            "csrfmiddlewaretoken": self.cookies["csrftoken"],
            "action": "publish",
            "_selected_action": str(pk),
            "index": "0",
            "select_across": "0",
        }
        status, _, _ = self.request("POST", "/admin/articles/article/", fields)
        return status, status == 302

    def correct(self, pk, sentence, note):
        """The change form sent back with ``sentence`` added to the body and, if the form has the inline
        for them, a correction note."""
        path = f"/admin/articles/article/{pk}/change/"
        status, _, page = self.request("GET", path)
        if status != 200:
            return status, False
        form = ChangeForm()
        form.feed(page.decode())
        fields = [(n, v) for n, v in form.fields if "__prefix__" not in n]
        template = [(n, v) for n, v in form.fields if "__prefix__" in n]
        fields = [(n, f"{v.rstrip()}\n\n{sentence}\n" if n == "body" else v) for n, v in fields]
        totals = [n for n, _ in fields if n.endswith("-TOTAL_FORMS")]
        prefix = next((t.removesuffix("-TOTAL_FORMS") for t in totals if t.startswith("correction")), None)
        if prefix is not None and any(n == f"{prefix}-__prefix__-note" for n, _ in template):
            index = int(dict(fields)[f"{prefix}-TOTAL_FORMS"])
            fields = [(n, str(index + 1) if n == f"{prefix}-TOTAL_FORMS" else v) for n, v in fields]
            for n, v in template:
                if n.startswith(f"{prefix}-__prefix__-") or n.startswith(f"initial-{prefix}-__prefix__-"):
                    n = n.replace("__prefix__", str(index))
                    fields.append((n, note if n == f"{prefix}-{index}-note" else v))
        fields.append(("_save", "Save"))
        status, _, page = self.request("POST", path, fields)
        if status != 302:
            errors = re.findall(rb'<ul class="errorlist[^"]*"[^>]*>(.*?)</ul>', page, re.S)
            text = " | ".join(re.sub(rb"<[^>]+>", b"", e).decode(errors="replace") for e in errors)
            raise RuntimeError(f"the change form was refused ({status}): {text[:500] or 'no error shown'}")
        return status, True


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


def make_drafts(count, tags, user, rng):
    """Drafts that pass the publish checklist, each with a title found nowhere else, on popular tags."""
    section = Section.objects.order_by("pk").first()
    author = Author.objects.order_by("pk").first()
    drafts = []
    for _ in range(count):
        token = secrets.token_hex(5)
        article = Article(
            title=f"News day story {token}",
            slug=f"{DRAFT_PREFIX}{token}",
            standfirst="A draft made by bench/news_day.py, published during the run, then deleted.",
            body="A short story for the news-day benchmark.\n\nIt is deleted when the run ends.",
            section=section,
            created_by=user,
            updated_by=user,
        )
        article.save()
        article.tags.add(tags[min(int(rng.paretovariate(1.0)) - 1, len(tags) - 1)])
        article.authors.add(author)
        drafts.append(article)
    return drafts


def pick_corrections(archive, count, s, rng, asked):
    """``count`` distinct live stories among those the readers ``asked`` for (kept in the caches, so the
    correction has something to replace), drawn with the readers' popularity; the seed story left alone
    (http_pages.py measures it)."""
    candidates = [a for a in archive.articles if a.slug != SEED_SLUG]
    if asked:
        candidates = [a for a in candidates if a.get_absolute_url() in asked] or candidates
    weights = list(itertools.accumulate(1 / (rank**s) for rank in range(1, len(candidates) + 1)))
    chosen = {}
    while len(chosen) < min(count, len(candidates)):
        article = rng.choices(candidates, cum_weights=weights)[0]
        chosen[article.pk] = article
    return list(chosen.values())


@dataclass
class Change:
    kind: str  # "publish" or "correct"
    story: str
    admin_status: int = 0
    admin_ms: float = float("nan")
    visible_s: float | None = None  # None: not within the cap
    polls: int = 0
    stale_polls: int = 0
    seen_as: str = "-"
    first_as: str = "-"  # the cache headers of the first GET after the admin's answer
    error: str = ""
    poller: threading.Thread | None = field(default=None, repr=False)


def poll_until(port, path, needle, since, cap, change):
    """GET ``path`` on ``port`` until ``needle`` is in it (or ``cap`` s from ``since`` went by)."""
    conn = http.client.HTTPConnection(HOST, port, timeout=30)
    try:
        while True:
            answer = get(port, path, conn=conn)
            end = time.perf_counter()
            change.polls += 1
            served_as = "/".join(answer.headers[h] for h in CACHE_HEADERS if h in answer.headers)
            if change.polls == 1:
                change.first_as = served_as or "-"
            if needle in answer.body:
                change.visible_s = end - since
                change.seen_as = served_as or "-"
                return
            change.stale_polls += 1
            if end - since > cap:
                return
            time.sleep(POLL_PAUSE)
    except (OSError, http.client.HTTPException) as exc:
        change.error = f"poll: {exc!r}"
    finally:
        conn.close()


def edit(change, action, poll_port, poll_path, needle, cap):
    started = time.perf_counter()
    try:
        change.admin_status, saved = action()
    except Exception as exc:  # noqa: BLE001 -- said in the report; the readers go on
        change.error = repr(exc)
        return
    answered = time.perf_counter()
    change.admin_ms = (answered - started) * 1000
    if not saved:
        change.error = f"admin answered {change.admin_status}"
        return
    change.poller = threading.Thread(
        target=poll_until, args=(poll_port, poll_path, needle, answered, cap, change), daemon=True
    )
    change.poller.start()


def editor_at_work(client, poll_port, drafts, stories, args):
    """Every --interval s from now until --duration s: publish a draft, correct a story, in turn."""
    changes = []
    start = time.perf_counter()
    for n in itertools.count():
        at = start + n * args.interval
        if at >= start + args.duration - 1:
            break
        time.sleep(max(0.0, at - time.perf_counter()))
        if n % 2 == 0 and n // 2 < len(drafts):
            draft = drafts[n // 2]
            change = Change("publish", draft.slug)
            edit(
                change,
                lambda d=draft: client.publish(d.pk),
                poll_port,
                "/",
                f"/news/{draft.slug}/".encode(),
                args.visible_cap,
            )
        elif n // 2 < len(stories):
            story = stories[n // 2]
            token = secrets.token_hex(6)
            sentence = f"Correction {token}: an earlier version of this story gave a wrong figure."
            change = Change("correct", story.slug)
            edit(
                change,
                lambda s=story, t=sentence, k=token: client.correct(s.pk, t, f"Corrected a figure ({k})."),
                poll_port,
                story.get_absolute_url(),
                token.encode(),
                args.visible_cap,
            )
        else:
            continue
        changes.append(change)
    return changes


# --- one run: a design, a way in ------------------------------------------------------------------------


@dataclass
class Outcome:
    design: str
    through: str
    readers: Readers | None = None
    warmup: Readers | None = None
    changes: list = field(default_factory=list)
    boots: int = 0
    error: str = ""
    # Pages of each kind first asked for in the measured phase: their first request cannot be a hit
    # (the caches start empty), whatever the design.
    first: dict = field(default_factory=dict)

    def warm_share(self, kinds=KINDS):
        """The front cache's share of hits (ours direct, Varnish's through it) over the requests that were
        not the first for their page."""
        r = self.readers
        if self.through == "direct":
            hits = r.count(kinds, ours={"hit", "stale"})
        else:
            hits = r.count(kinds, edge={"HIT", "STALE"})
        share = ratio(hits, r.count(kinds) - sum(self.first.get(k, 0) for k in kinds))
        # First requests are counted as the script sent them, which may differ by a handful from what the
        # cache saw (a few more hits than non-first requests have been seen): hence the cap at 1.
        return share if share != share else min(1.0, share)


def run_one(design, through, size, database, archive, files, args, ports, run_dir, report):
    outcome = Outcome(design, through)
    checkout = ROOT if design == "new" else args.old_checkout
    redis.Redis.from_url(redis_url(REDIS_DB[design])).flushdb()
    gunicorn_port, varnish_port = ports
    edge_port = varnish_port if through == "varnish" else None
    label = f"{design}-{through}-{size_label(size)}"
    env = server_env(design, database, WORK / f"static-{design}", edge_port)
    gunicorn = DesignGunicorn(
        checkout, gunicorn_port, env, run_dir / f"gunicorn-{label}.log", f"gunicorn ({label})"
    )
    varnish = Varnishd(varnish_port, gunicorn_port, run_dir) if through == "varnish" else None
    servers = [s for s in (gunicorn, varnish) if s is not None]
    rng = random.Random(f"{args.seed}-{design}-{through}-{size}")
    changes_wanted = int(args.duration // args.interval) + 1
    try:
        for server in servers:
            server.start()
        for server in servers:
            server.wait_ready()
        front = varnish or gunicorn
        check = get(front.port, "/")
        if check.status != 200:
            raise RuntimeError(f"the home page answers {check.status} on {front.label}")
        user, password = make_editor()
        client = AdminClient(gunicorn.port)
        client.login(user.username, password)
        drafts = make_drafts(changes_wanted // 2 + 1, archive.tags, user, rng)
        script = run_dir / "readers.lua"
        url = f"http://{HOST}:{front.port}/"
        print(f"  {label}: warm-up, readers alone, {args.warmup} s (load {load_average()})", flush=True)
        if args.warmup > 0:
            seen = run_dir / f"pages-{label}-warmup.txt"
            cmd = wrk_command(url, args.warmup, script, *files, args, args.seed + 1, seen)
            outcome.warmup = finish_readers(start_readers(cmd), args.warmup, seen)
        asked = outcome.warmup.pages.get("article", set()) if outcome.warmup else set()
        # The same draw for every design and way in of a size, but for what each warm-up asked for.
        story_rng = random.Random(f"{args.seed}-{size}")
        stories = pick_corrections(archive, changes_wanted // 2 + 1, args.zipf, story_rng, asked)
        keep_originals(database, stories)
        before = gunicorn.boots()
        print(f"  {label}: measured, {args.duration} s, a change every {args.interval} s", flush=True)
        seen = run_dir / f"pages-{label}-measured.txt"
        readers = start_readers(wrk_command(url, args.duration, script, *files, args, args.seed, seen))
        try:
            outcome.changes = editor_at_work(client, front.port, drafts, stories, args)
        finally:
            outcome.readers = finish_readers(readers, args.duration, seen)
        for kind in KINDS:
            earlier = outcome.warmup.pages.get(kind, set()) if outcome.warmup else set()
            # Asked for in the warm-up (a page may be kept even if wrk stopped before its answer), and
            # answered in the measured phase (a request under way at the end is in no tally).
            outcome.first[kind] = len(outcome.readers.answered.get(kind, set()) - earlier)
        for change in outcome.changes:
            if change.poller is not None:
                change.poller.join(args.visible_cap + 35)
        outcome.boots = gunicorn.boots() - before
        print_outcome(outcome)
    except Exception as exc:  # noqa: BLE001 -- the other runs go on; the report says what failed
        outcome.error = repr(exc)
        report(f"  {label} FAILED: {exc!r}")
        for server in servers:
            if server.process is not None:
                report("    " + server.log_tail(15).replace("\n", "\n    "))
    finally:
        for server in reversed(servers):
            server.stop()
        with contextlib.suppress(redis.RedisError):
            redis.Redis.from_url(redis_url(REDIS_DB[design])).flushdb()
        put_back(database, report)
    return outcome


def ratio(part, whole):
    return part / whole if whole else float("nan")


def pct(value):
    return "-" if value != value else f"{value * 100:.1f}"  # NaN: nothing to count


def cache_shares(readers, kinds, edge=None):
    """(served from our cache, of which stale) over the responses of ``kinds`` (Varnish's ``edge`` only)."""
    total = readers.count(kinds, edge=edge)
    hit = readers.count(kinds, ours={"hit"}, edge=edge)
    stale = readers.count(kinds, ours={"stale"}, edge=edge)
    return ratio(hit + stale, total), ratio(stale, total)


def edge_shares(readers, kinds=KINDS):
    total = readers.count(kinds)
    return ratio(readers.count(kinds, edge={"HIT", "STALE"}), total), ratio(
        readers.count(kinds, edge={"STALE"}), total
    )


def visible_summary(changes, kind, cap):
    done = [c for c in changes if c.kind == kind and not c.error]
    if not done:
        return "-"
    times = [c.visible_s for c in done]
    if all(t is None for t in times):
        return f"> {cap:g} s ({len(done)})"
    seen = [t for t in times if t is not None]
    median = statistics.median(seen)
    worst = f"> {cap:g} s" if None in times else f"{max(seen) * 1000:.0f}"
    missed = sum(t is None for t in times)
    return f"{median * 1000:.0f} / {worst}" + (f" ({missed} of {len(done)} > cap)" if missed else "")


def print_outcome(outcome):
    r = outcome.readers
    served, _ = cache_shares(r, ("article",), None if outcome.through == "direct" else {"MISS", "PASS"})
    print(
        f"    {r.rps:8.1f} req/s  p50 {r.p50:7.2f} ms  p99 {r.p99:7.2f} ms  story pages from our cache "
        f"{pct(served)} %  errors {r.errors() + r.socket_errors}",
        flush=True,
    )


def report_size(size, archive, outcomes, args, report):
    report()
    report(
        f"{size:,} articles ({len(archive.articles):,} live), measured {args.duration} s after "
        f"{args.warmup} s of readers alone; a publish or a correction every {args.interval:g} s; "
        f"Zipf s = {args.zipf}"
    )
    rows = []
    for o in outcomes:
        if o.readers is None:
            rows.append((o.design, o.through, "failed", *["-"] * 10))
            continue
        r = o.readers
        behind = None if o.through == "direct" else {"MISS", "PASS"}  # what Varnish passed on to us
        served_all, stale_all = cache_shares(r, KINDS, behind)
        served_art, stale_art = cache_shares(r, ("article",), behind)
        edge = (
            "-"
            if o.through == "direct"
            else "{} / {}".format(*(pct(v) for v in (edge_shares(r)[0], edge_shares(r, ("article",))[0])))
        )
        rows.append(
            (
                o.design,
                o.through,
                f"{r.rps:.0f}",
                f"{r.p50:.2f}",
                f"{r.p99:.2f}",
                f"{pct(served_all)} ({pct(stale_all)})",
                f"{pct(served_art)} ({pct(stale_art)})",
                edge,
                pct(o.warm_share(("article",))),
                visible_summary(o.changes, "publish", args.visible_cap),
                visible_summary(o.changes, "correct", args.visible_cap),
                f"{r.errors()} / {r.socket_errors}",
                sum(1 for c in o.changes if c.error),
            )
        )
    report.table(
        [
            "design",
            "through",
            "req/s",
            "p50 ms",
            "p99 ms",
            "our hit% all (stale)",
            "our hit% stories (stale)",
            "varnish hit% all / stories",
            "front hit% stories, warm",
            "publish→visible ms med / max",
            "correction→visible ms med / max",
            "non-2xx / sock err",
            "editor errors",
        ],
        rows,
        align=["<", "<", ">", ">", ">", ">", ">", ">", ">", ">", ">", ">", ">"],
    )
    report(
        "  our hit%: answers served from our page cache (X-Cache hit or stale; the stale share in brackets); "
        "through Varnish, over the requests it passed on to us (its MISS and PASS: mostly a page's first "
        "fetch, which we cannot hold either)."
    )
    report(
        "  varnish hit%: X-Varnish-Cache HIT or STALE. →visible: from the admin's answer to the end of the "
        "first GET (through the same way in as the readers) that shows the change."
    )
    report(
        "  front hit% stories, warm: the hits of the cache readers reach first (ours direct, Varnish's "
        "through it) over the story-page requests that were not the first for their page in the run: a page "
        "first asked for in the measured phase misses in either design (the caches start empty)."
    )
    old = next((o for o in outcomes if o.design == "old" and o.through == "direct" and o.readers), None)
    old_figure = (
        f"old design {pct(cache_shares(old.readers, ('article',))[0])} %, warm "
        f"{pct(old.warm_share(('article',)))} %"
        if old
        else "old design not run"
    )
    for o in outcomes:
        if o.design == "new" and o.through == "direct" and o.readers:
            served, warm = cache_shares(o.readers, ("article",))[0], o.warm_share(("article",))
            verdicts = ["met" if v >= TARGET_ARTICLE_HIT else "NOT met" for v in (served, warm)]
            report(
                f"  Target: story-page hit ratio ≥ {TARGET_ARTICLE_HIT:.0%} with a change every "
                f"{args.interval:g} s: new design {pct(served)} % ({verdicts[0]}), warm {pct(warm)} % "
                f"({verdicts[1]}); {old_figure}."
            )
    verdicts = []
    for o in outcomes:
        publishes = [c for c in o.changes if c.kind == "publish" and not c.error]
        if not publishes:
            continue
        if o.through == "varnish":
            late = [c for c in publishes if c.visible_s is None or c.visible_s > TARGET_VARNISH_VISIBLE]
            verdicts.append(f"{o.design} through Varnish {'NOT met' if late else 'met'}")
        else:
            stale = sum(c.stale_polls for c in publishes)
            verdicts.append(
                f"{o.design} direct {'met' if not stale else 'NOT met'} "
                f"({stale} GET(s) after the answer showed the old home page)"
            )
    report(
        f"  Target: publish-to-visible ≤ {TARGET_VARNISH_VISIBLE:g} s through Varnish, 0 s through our cache "
        "(the first GET after the admin's answer shows the story): " + ("; ".join(verdicts) or "no publish")
    )
    details = []
    for o in outcomes:
        for c in o.changes:
            details.append(
                (
                    o.design,
                    o.through,
                    c.kind,
                    c.story[:40],
                    c.admin_status,
                    f"{c.admin_ms:.0f}",
                    "-" if c.visible_s is None else f"{c.visible_s * 1000:.0f}",
                    c.polls,
                    c.stale_polls,
                    c.first_as,
                    c.seen_as,
                    c.error[:80],
                )
            )
    if details:
        report()
        report("  Editor's changes:")
        report.table(
            [
                "design",
                "through",
                "change",
                "story",
                "admin",
                "admin ms",
                "visible ms",
                "GETs",
                "old page seen",
                "first GET as",
                "seen as",
                "error",
            ],
            details,
            align=["<", "<", "<", "<", ">", ">", ">", ">", ">", "<", "<", "<"],
        )
    kinds_rows = []
    for o in outcomes:
        if o.readers is None:
            continue
        for kind in KINDS:
            r = o.readers
            kinds_rows.append(
                (
                    o.design,
                    o.through,
                    kind,
                    r.count((kind,)),
                    o.first.get(kind, 0),
                    r.count((kind,), ours={"hit"}),
                    r.count((kind,), ours={"stale"}),
                    r.count((kind,), ours={"miss"}),
                    r.count((kind,), ours={"-"}),
                    " ".join(
                        f"{e}:{r.count((kind,), edge={e})}"
                        for e in ("HIT", "STALE", "MISS", "PASS")
                        if r.count((kind,), edge={e})
                    )
                    or "-",
                    r.count((kind,), status=lambda st: not 200 <= st < 300),
                )
            )
    if kinds_rows:
        report()
        report(
            "  Responses by page kind, measured phase (X-Cache as the reader got it, Varnish hits included):"
        )
        report.table(
            [
                "design",
                "through",
                "pages",
                "responses",
                "first asked",
                "hit",
                "stale",
                "miss",
                "no X-Cache",
                "Varnish",
                "non-2xx",
            ],
            kinds_rows,
            align=["<", "<", "<", ">", ">", ">", ">", ">", ">", "<", ">"],
        )
    for o in outcomes:
        if o.readers and (o.readers.errors() or o.readers.socket_errors):
            bad = {k: n for k, n in o.readers.tallies.items() if not 200 <= k[1] < 300}
            report(f"  {o.design}/{o.through}: non-2xx {bad}, socket errors {o.readers.socket_errors}")
        if o.boots:
            report(f"  {o.design}/{o.through}: {o.boots} gunicorn worker(s) booted during the measured phase")


def run_size(size, args, ports, run_dir, report):
    report()
    report(f"== {size:,} articles " + "=" * 80)
    database = prepare_database(size, args.reseed, report)
    archive = read_archive(args.seed)
    upcoming = archive.next_scheduled
    report(
        f"{database}: {archive.total:,} articles, {len(archive.articles):,} live, "
        f"{len(archive.tags)} tags in use; next scheduled story goes live "
        + (f"in {(upcoming - timezone.now()).total_seconds() / 60:.0f} min" if upcoming else "never")
    )
    files = write_path_files(archive, run_dir)
    (run_dir / "readers.lua").write_text(WRK_SCRIPT)
    outcomes = []
    for design in args.designs:
        for through in args.through:
            outcomes.append(
                run_one(design, through, size, database, archive, files, args, ports, run_dir, report)
            )
    report_size(size, archive, outcomes, args, report)
    return outcomes


def old_design_worktree():
    """A worktree of OLD_COMMIT in a temporary folder, removed when the script exits."""
    folder = Path(tempfile.mkdtemp(prefix="conclave-old-design-")) / "checkout"
    made = run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(folder), OLD_COMMIT])
    if made.returncode != 0:
        sys.exit(f"Could not check out the old design ({OLD_COMMIT}): {made.stderr.strip()}")
    (folder / ".venv").symlink_to(ROOT / ".venv")  # its requirements are this checkout's
    atexit.register(
        lambda: (
            run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(folder)])
            and shutil.rmtree(folder.parent, ignore_errors=True)
        )
    )
    return folder


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000], help="Articles to seed.")
    parser.add_argument("--designs", default="old,new", help="old, new or both (comma-separated).")
    parser.add_argument("--through", default="direct,varnish", help="direct, varnish or both.")
    parser.add_argument("--warmup", type=int, default=30, help="Seconds of readers alone before measuring.")
    parser.add_argument("--duration", type=int, default=60, help="Seconds measured, the editor at work.")
    parser.add_argument("--interval", type=float, default=10.0, help="Seconds between the editor's changes.")
    parser.add_argument(
        "--zipf", type=float, default=1.0, help="Zipf exponent of stories' and tags' popularity."
    )
    parser.add_argument("--article-share", type=float, default=0.8, help="Share of requests for story pages.")
    parser.add_argument(
        "--home-share", type=float, default=0.1, help="Share for the home page (the rest: tags)."
    )
    parser.add_argument("--visible-cap", type=float, default=15.0, help="Seconds a change is polled at most.")
    parser.add_argument("--seed", type=int, default=1, help="Seed of the popularity and the readers' draws.")
    parser.add_argument(
        "--old-checkout", type=Path, help=f"The old design's checkout (default: a worktree of {OLD_COMMIT})."
    )
    parser.add_argument(
        "--reseed", action="store_true", help="Rebuild the databases even if they are seeded."
    )
    parser.add_argument("--keep-logs", action="store_true", help="Keep the server logs and the Lua script.")
    args = parser.parse_args()
    args.designs = [d.strip() for d in args.designs.split(",") if d.strip()]
    args.through = [t.strip() for t in args.through.split(",") if t.strip()]
    if not set(args.designs) <= {"old", "new"} or not set(args.through) <= {"direct", "varnish"}:
        parser.error("--designs takes old and/or new, --through direct and/or varnish")
    if args.duration < args.interval or args.interval <= 0 or args.warmup < 0:
        parser.error("--duration must be at least one --interval")
    if not 0 <= args.article_share + args.home_share <= 1:
        parser.error("--article-share plus --home-share must be at most 1")
    require_wrk()
    if "varnish" in args.through and not os.access(VARNISHD, os.X_OK):
        sys.exit(f"varnishd not found at {VARNISHD}: apt-get install -y varnish varnish-modules")
    if "old" in args.designs and args.old_checkout is None:
        args.old_checkout = old_design_worktree()
    if "old" in args.designs and not (args.old_checkout / "conclave" / "pagecache.py").exists():
        sys.exit(f"{args.old_checkout} is not a checkout of the old design (--old-checkout)")

    report = Report()
    started = datetime.datetime.now()
    old = (
        f", old design {checkout_commit(args.old_checkout)} in {args.old_checkout}"
        if "old" in args.designs
        else ""
    )
    report(f"Conclave news-day benchmark, {started:%Y-%m-%d %H:%M}, new design commit {git_commit()}{old}")
    varnish_version = run([VARNISHD, "-V"]).stderr.splitlines()[0] if "varnish" in args.through else ""
    report(
        machine(
            f"Django {django_version()}",
            f"PostgreSQL {pg_version()}",
            f"Redis {redis_version(redis_url(REDIS_DB['new']))}",
            wrk_version(),
            *([varnish_version] if varnish_version else []),
        )
    )
    report(
        f"gunicorn --config conclave/gunicorn.conf.py conclave.wsgi from each design's checkout, "
        f"WEB_CONCURRENCY={WORKERS}, DJANGO_SETTINGS_MODULE=bench.settings, DEBUG off; readers: wrk "
        f"-t{WRK_THREADS} -c{WRK_CONNECTIONS} --latency --timeout {WRK_TIMEOUT} -H 'Accept-Encoding: gzip' "
        f"with a Lua script: {args.article_share:.0%} story pages, {args.home_share:.0%} home, the rest tag "
        f"pages; Zipf s = {args.zipf}, seed {args.seed}; varnishd -s {VARNISH_STORAGE}"
    )
    report(
        f"Load average at the start (1, 5, 15 min): {load_average()} "
        "(other work on the machine skews figures)"
    )
    WORK.mkdir(parents=True, exist_ok=True)
    MEDIA_ROOT.mkdir(parents=True, exist_ok=True)
    for design in args.designs:
        collectstatic(design, ROOT if design == "new" else args.old_checkout, report)
    run_dir = Path(tempfile.mkdtemp(prefix="run-", dir=WORK))
    print(f"Server logs in {run_dir}", flush=True)
    try:
        ports = free_ports(2, PORTS)
        for size in args.sizes:
            run_size(size, args, ports, run_dir, report)
    finally:
        connections.close_all()
        remove_unless(args.keep_logs, run_dir, f"Server logs kept in {run_dir}")
        if report.lines:
            out = report.save(f"news_day-{started:%Y%m%d-%H%M%S}.txt")
            print(f"\nTables written to {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
