"""Lighthouse's four category scores for every public page type of the site under `make serve`.

Goal: every public page scores 100 in accessibility, best practices and SEO under Lighthouse (npm
lighthouse, LIGHTHOUSE_VERSION, the mobile profile it uses by default), the seed story's HTML, CSS and
JavaScript together weigh at most 30 KB on the wire, and the demo's teardown story's (a gallery, figures,
embeds and code) at most 40 KB. What it does:

* installs Lighthouse into .cache/lighthouse/ when it is not there (a package.json of its own, the
  version pinned: 13.x needs node 22), and writes there audit.mjs, a small driver run once per page;
* a throwaway SQLite database and media folder in a temporary folder, migrated and filled by
  ``load_demo``: the seed story and the other demo stories, with their pictures;
* the media folder served by ``python -m http.server`` on 127.0.0.1: under ``make serve`` DEBUG is off
  and Django serves no uploads (a proxy or CDN does in production), so every picture would be a 404 and
  a console error. MEDIA_URL names that server, so pages link their pictures there and the site's CSP
  allows its origin in img-src (media_origins in conclave/settings.py);
* the site started with ``make serve``, as in production (DEBUG off, gunicorn, hashed static files), on
  a free port in 8930-8939 (the media server takes the next free one), through the harness of
  bench/common.py;
* the pages to audit, found in the database (``manage.py shell -c`` in the site's environment): home,
  the seed story, the teardown story, the seed story's section, the most used tag, the tag index, its
  first author, its archive month, a search with results, and the follow form. That form page is the
  answer to a POST (a GET of /tags/<slug>/follow/ redirects to the tag page's follow box), which the
  Lighthouse CLI cannot make: the driver opens the tag page, fills in the box's address and lets
  Lighthouse measure the navigation that submitting it starts. The box carries no CSRF token, so the
  site only asks for one more click: nothing is stored and no email is sent;
* Lighthouse on each page as its CLI does it (chrome-launcher starts Chromium with a fresh profile and
  the flags of CHROME_FLAGS, then a navigation with the default config, or the desktop one with
  --desktop), categories performance, accessibility, best-practices and seo;
* each page's full Lighthouse JSON (what ``--output=json`` writes) saved as
  bench/results/lighthouse/<page>.json (<page>-desktop.json with --desktop), and summary.json (or
  summary-desktop.json) with the scores, the failing audits and the article page's bytes;
* printed: the scores per page (0-100; a category below 1 never shows as 100), the two stories'
  transferred bytes by type against their budgets, and for every category below 100 its failing audits
  with what they point at (elements, URLs, console messages).

Exit status 1 if any page's accessibility, best-practices or SEO score is below 100 (but for the
is-crawlable audit on the search and follow-form pages, which ask not to be indexed: NOT_FOR_INDEXING),
a story's HTML + CSS + JS exceeds its budget (30 or 40 × 1024 bytes), or a page could not be audited
or had requests that failed. Performance is only reported: on a small shared CPU it moves from run to run.

    .venv/bin/python bench/lighthouse.py
    .venv/bin/python bench/lighthouse.py --desktop               # Lighthouse's desktop profile
    .venv/bin/python bench/lighthouse.py --pages article,search  # some of the pages only
    .venv/bin/python bench/lighthouse.py --keep-log              # keep the logs and the site's folder

Needs node (18.16 or later), npm for the first run, make, and Chromium (Debian's package: /usr/bin/
chromium, or CHROME_PATH). About 10 s a page, 1.5 min in all. Sends traffic to 127.0.0.1 only.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (  # noqa: E402
    HOST,
    RESULTS,
    ROOT,
    SEED_SLUG,
    Serve,
    Server,
    exit_on_sigterm,
    free_port,
    get,
    remove_unless,
    require_make,
    run,
    site_env,
    write_json,
)
from bench.node_tools import node_version, npm_install, prepare_demo_site  # noqa: E402

LIGHTHOUSE_VERSION = "12.2.3"
MIN_NODE = (18, 16)  # Lighthouse 12's "engines"
CACHE = ROOT / ".cache" / "lighthouse"  # outside git's view, kept between runs
DRIVER = CACHE / "audit.mjs"
PORTS = range(8930, 8940)  # load_pages.py takes 8910-8919, observatory.py 8920-8929: all may run at once
CHROME = os.environ.get("CHROME_PATH", "/usr/bin/chromium")
# Headless, and nothing of Chromium's own (updates, sync, background fetches) reaches beyond 127.0.0.1.
CHROME_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
CATEGORIES = ["performance", "accessibility", "best-practices", "seo"]
GATED = ["accessibility", "best-practices", "seo"]  # performance is reported, never gated
COLUMNS = {"performance": "perf", "accessibility": "a11y", "best-practices": "best", "seo": "seo"}
# HTML + CSS + JS, transferred, before any picture: the seed story, and a story with every kind of media.
BUDGETS = {"article": 30 * 1024, "teardown": 40 * 1024}
TEARDOWN_SLUG = "quantix-q3-accelerator-teardown"
# The driver stops its own Chromium when a page hangs; this script waits a little longer before it
# gives up on the driver, so that no Chromium outlives it.
DRIVER_TIMEOUT = 180
PAGE_TIMEOUT = DRIVER_TIMEOUT + 30
# Runs again after a runtime error of Lighthouse's own (NO_NAVSTART, NO_FCP: a trace it failed to
# record, which its message says to retry), before the page counts as not audited.
RETRIES = 2
# Tried in this order; the first with published results is the search page. All are words of the demo
# stories, so a database with load_demo alone finds them.
SEARCH_WORDS = ["openai", "foxconn", "data centre"]
FOLLOW_EMAIL = "lighthouse@example.com"  # never written anywhere: the box's POST carries no CSRF token
REPORTS = RESULTS / "lighthouse"
# Pages that tell search engines to stay away, as news sites do for search results (an endless space of
# thin pages: robots.txt disallows /search/ and the page says noindex) and for a form's answer. Their
# one expected SEO failure is Lighthouse's is-crawlable; any other, or is-crawlable passing (the noindex
# gone), is a problem.
NOT_FOR_INDEXING = {"search", "follow"}
ITEMS_SHOWN = 6  # offending items printed per failing audit; the JSON reports hold them all
LINE = 240  # characters of one printed item

# Run by this script as `node audit.mjs '<job as JSON>'`, once per page: the Lighthouse CLI's own steps
# (cli/run.js: chrome-launcher, then a navigation on the port it opened), plus a form to submit first.
DRIVER_SOURCE = """\
// Written by bench/lighthouse.py at every run: edit it there. One page per run: node audit.mjs '<job>'.
import fs from 'node:fs';
import * as ChromeLauncher from 'chrome-launcher';
import puppeteer from 'puppeteer-core';
import {navigation, desktopConfig} from 'lighthouse';

const job = JSON.parse(process.argv[2]);
const chrome = await ChromeLauncher.launch({
  chromePath: job.chromePath,
  chromeFlags: job.chromeFlags,
  logLevel: 'silent',
});
// chrome-launcher stops Chromium on SIGINT itself; SIGTERM and a hung page must not leave it either.
const stop = (code) => {
  chrome.kill();
  process.exit(code);
};
process.on('SIGTERM', () => stop(143));
const watchdog = setTimeout(() => {
  console.error(`no result after ${job.timeoutSeconds} s`);
  stop(3);
}, job.timeoutSeconds * 1000);

const flags = {
  port: chrome.port,
  hostname: '127.0.0.1',
  output: 'json',
  logLevel: 'silent',
  onlyCategories: job.categories,
};
const config = job.desktop ? desktopConfig : undefined;
let browser;
try {
  let result;
  if (job.submit) {
    browser = await puppeteer.connect({browserURL: `http://127.0.0.1:${chrome.port}`, defaultViewport: null});
    const page = await browser.newPage();
    await page.goto(job.url, {waitUntil: 'load'});
    const form = await page.$(job.submit.form);
    if (!form) throw new Error(`${job.url} has no ${job.submit.form}`);
    for (const [name, value] of Object.entries(job.submit.fields)) {
      await form.$eval(`[name="${name}"]`, (field, text) => { field.value = text; }, value);
    }
    // Measured cold, as every other page: nothing of the page the form is on comes from the cache.
    const session = await page.createCDPSession();
    await session.send('Network.clearBrowserCache');
    await session.detach();
    result = await navigation(page, () => form.evaluate((f) => f.requestSubmit()), {config, flags});
  } else {
    result = await navigation(undefined, job.url, {config, flags});
  }
  if (!result) throw new Error('Lighthouse returned no result');
  fs.writeFileSync(job.output, result.report);
} catch (error) {
  console.error(error && error.stack ? error.stack : String(error));
  await browser?.disconnect();
  clearTimeout(watchdog);
  stop(1);
}
await browser?.disconnect();
clearTimeout(watchdog);
stop(0);
"""

# Run in the site's environment with `manage.py shell -c`, after SEED, TEARDOWN and WORDS: the pages, as
# one JSON line. The section, author and archive month are the seed story's, so every page has stories on it.
DISCOVER = """
import json
from urllib.parse import urlencode
from django.db.models import Count, Q
from django.urls import reverse
from django.utils import timezone
from articles.models import Article, Author, Section, Tag
from articles.search import search

published = Article.objects.published()
seed = published.filter(slug=SEED).first()
if seed is None:
    raise SystemExit(f"The seed story {SEED} is not published (load_demo loads it).")
live = Q(tagged_articles__content_object__status=Article.Status.PUBLISHED) & Q(
    tagged_articles__content_object__published_at__lte=timezone.now()
)
tag = Tag.objects.annotate(n=Count("tagged_articles", filter=live)).order_by("-n", "pk").first()
section = seed.section or Section.objects.filter(articles__in=published).order_by("pk").first()
author = seed.authors.order_by("pk").first() or Author.objects.filter(
    articles__in=published).order_by("pk").first()
month = timezone.localtime(seed.published_at)
word = next((w for w in WORDS if search(published, w)[0].exists()), None)
pages = {
    "home": reverse("articles:home"),
    "article": seed.get_absolute_url(),
    "teardown": next((a.get_absolute_url() for a in published.filter(slug=TEARDOWN)), None),
    "section": section and section.get_absolute_url(),
    "tag": tag and tag.get_absolute_url(),
    "tag-index": reverse("articles:tags"),
    "author": author and author.get_absolute_url(),
    "archive": reverse(
        "articles:archive-month", kwargs={"year": f"{month.year:04d}", "month": f"{month.month:02d}"}
    ),
    "search": word and reverse("articles:search") + "?" + urlencode({"q": word}),
    "follow": tag and reverse("articles:follow", kwargs={"slug": tag.slug}),
}
print("PAGES " + json.dumps(pages))
"""
PAGE_NAMES = [
    "home",
    "article",
    "teardown",
    "section",
    "tag",
    "tag-index",
    "author",
    "archive",
    "search",
    "follow",
]


def install_lighthouse():
    """Lighthouse in CACHE at LIGHTHOUSE_VERSION, and the driver next to it."""
    node, version = node_version(MIN_NODE, f"Lighthouse {LIGHTHOUSE_VERSION}")
    npm_install(CACHE, "lighthouse", LIGHTHOUSE_VERSION)
    DRIVER.write_text(DRIVER_SOURCE)
    return node, version


def find_pages(env, wanted):
    """[(name, path)] of the pages to audit, in PAGE_NAMES order."""
    python = str(ROOT / ".venv" / "bin" / "python")
    code = f"SEED, TEARDOWN, WORDS = {SEED_SLUG!r}, {TEARDOWN_SLUG!r}, {SEARCH_WORDS!r}\n{DISCOVER}"
    done = run([python, "manage.py", "shell", "-c", code], cwd=ROOT, env=env, timeout=120)
    found = [line for line in done.stdout.splitlines() if line.startswith("PAGES ")]
    if done.returncode != 0 or not found:
        sys.exit(f"Finding the pages failed:\n{done.stdout}\n{done.stderr}")
    paths = json.loads(found[-1].removeprefix("PAGES "))
    missing = [name for name in wanted if not paths.get(name)]
    if missing:
        sys.exit(f"No page found for {', '.join(missing)} in the demo database.")
    return [(name, paths[name]) for name in PAGE_NAMES if name in wanted], paths


class MediaServer(Server):
    """``python -m http.server`` on the media folder: the proxy or CDN that serves uploads in production."""

    label = "the media server"
    ready_path = "/"

    def __init__(self, folder, port, log_path):
        command = [sys.executable, "-m", "http.server", "--bind", HOST, str(port), "--directory", str(folder)]
        super().__init__(command, dict(os.environ), port, log_path)


def lighthouse(node, job):
    """The Lighthouse report of one page, as the dict of its JSON."""
    process = subprocess.Popen(  # noqa: S603
        [node, str(DRIVER), json.dumps(job)],
        cwd=CACHE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
    )
    try:
        out, err = process.communicate(timeout=PAGE_TIMEOUT)
    finally:
        if process.poll() is None:
            # SIGTERM first: the driver stops its Chromium (started detached, out of our reach) and exits.
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
    if process.returncode != 0:
        raise RuntimeError(f"Lighthouse failed on {job['url']} ({process.returncode}):\n{out}\n{err}")
    return json.loads(Path(job["output"]).read_text())


# --- reading a report -------------------------------------------------------------------------------------


def points(score):
    """A category score as Lighthouse shows it (0-100), except that below 1 never shows as 100."""
    if score is None:
        return "-"
    shown = round(score * 100)
    return str(99 if shown == 100 and score < 1 else shown)


def requests(report):
    return report["audits"].get("network-requests", {}).get("details", {}).get("items", [])


def main_status(report):
    """The HTTP status of the page's own document, or None when Lighthouse saw none."""
    final = report.get("finalDisplayedUrl") or report.get("mainDocumentUrl")
    for item in requests(report):
        if item.get("resourceType") == "Document" and item.get("url", "").split("#")[0] == final:
            return item.get("statusCode")
    return None


def failed_requests(report):
    return [
        f"{item.get('statusCode')} {item.get('url')}"
        for item in requests(report)
        if not 200 <= (item.get("statusCode") or 0) < 400
    ]


def transfer(report):
    """Bytes on the wire by kind: html, css, js, images, other (with what the other requests were)."""
    kinds = {"Document": "html", "Stylesheet": "css", "Script": "js", "Image": "images"}
    sizes = dict.fromkeys(["html", "css", "js", "images", "other"], 0)
    other = []
    for item in requests(report):
        kind = kinds.get(item.get("resourceType"), "other")
        sizes[kind] += item.get("transferSize") or 0
        if kind == "other":
            other.append(f"{item.get('resourceType')} {item.get('url')}")
    sizes["budgeted"] = sizes["html"] + sizes["css"] + sizes["js"]
    return sizes, other


def cell(value, value_type=None):
    """One value of a details item, as short text."""
    if value is None or value == "":
        return ""
    if isinstance(value, dict):
        kind = value.get("type")
        if kind == "node":
            # The selector finds the element; the snippet shows which one it is.
            return " ".join(part for part in (value.get("selector"), value.get("snippet")) if part)
        if kind == "source-location":
            return f"{value.get('url')}:{value.get('line', 0) + 1}:{value.get('column', 0) + 1}"
        if kind == "link":
            return f"{value.get('text')} ({value.get('url')})"
        return str(value.get("value", value.get("text", "")))
    if isinstance(value, bool | str):
        return str(value)
    if isinstance(value, int | float):
        unit = {"bytes": " B", "ms": " ms", "timespanMs": " ms"}.get(value_type, "")
        return f"{value:,.0f}{unit}" if unit or float(value).is_integer() else f"{value:,.3g}"
    return json.dumps(value)


def describe(item, headings):
    """A details item as one line: its columns in the audit's own order, and axe's explanation."""
    parts = []
    columns = [(h.get("key"), h.get("valueType")) for h in headings if h.get("key")]
    for key, value_type in columns or [(key, None) for key in item if key != "subItems"]:
        text = cell(item.get(key), value_type)
        if text:
            parts.append(text)
    node = item.get("node")
    if isinstance(node, dict) and node.get("explanation"):
        parts.append(node["explanation"])
    for sub in (item.get("subItems") or {}).get("items", [])[:2]:
        parts.append("; ".join(cell(value) for value in sub.values() if cell(value)))
    line = " | ".join(" ".join(part.split()) for part in parts)
    return line if len(line) <= LINE else line[: LINE - 1] + "…"


def failing_audits(report, category):
    """The audits of a category that count in its score and did not pass, worst first."""
    found = []
    for ref in report["categories"][category]["auditRefs"]:
        audit = report["audits"][ref["id"]]
        mode = audit.get("scoreDisplayMode")
        if audit.get("score") is None or mode in ("informative", "manual", "notApplicable", "error"):
            continue
        if audit["score"] < 1:
            details = audit.get("details") or {}
            headings = details.get("headings") or []
            items = details.get("items") or []
            found.append(
                {
                    "id": audit["id"],
                    "title": audit.get("title"),
                    "score": audit["score"],
                    "weight": ref.get("weight", 0),
                    "display": audit.get("displayValue") or "",
                    "explanation": audit.get("explanation") or audit.get("errorMessage") or "",
                    "count": len(items),
                    "items": [describe(item, headings) for item in items],
                }
            )
    return sorted(found, key=lambda audit: (audit["score"], -audit["weight"]))


def condense(name, path, report, file):
    """What summary.json keeps of one page's report."""
    scores = {c: (report["categories"].get(c) or {}).get("score") for c in CATEGORIES}
    return {
        "page": name,
        "path": path,
        "url": report.get("finalDisplayedUrl"),
        "status": main_status(report),
        "scores": {c: None if s is None else round(s * 100) for c, s in scores.items()},
        "raw_scores": scores,
        "runtime_error": report.get("runtimeError"),
        "run_warnings": report.get("runWarnings", []),
        "failed_requests": failed_requests(report),
        "failing_audits": {
            c: failing_audits(report, c) for c in CATEGORIES if scores[c] is not None and scores[c] < 1
        },
        "report": str(file.relative_to(ROOT)),
    }


def print_failing(pages):
    """Every category below 100 and its failing audits, page by page."""
    print()
    print("Failing audits (every category below 100; performance is reported, not gated):")
    any_shown = False
    for page in pages:
        categories = {c: audits for c, audits in page["failing_audits"].items() if audits}
        if not categories:
            continue
        any_shown = True
        print(f"\n  {page['page']}  {page['path']}")
        for category, audits in categories.items():
            print(f"    {category} {page['scores'][category]}:")
            for audit in audits:
                extra = f" -- {audit['display']}" if audit["display"] else ""
                print(
                    f"      {audit['id']} (score {audit['score']:g}, weight {audit['weight']:g}): "
                    f"{audit['title']}{extra}"
                )
                if audit["explanation"]:
                    print(f"        {' '.join(audit['explanation'].split())[:LINE]}")
                for item in audit["items"][:ITEMS_SHOWN]:
                    print(f"        - {item}")
                if audit["count"] > ITEMS_SHOWN:
                    print(f"        ... and {audit['count'] - ITEMS_SHOWN} more (in {page['report']})")
    if not any_shown:
        print("  none: every category of every page scores 100")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--desktop", action="store_true", help="Lighthouse's desktop profile (--preset).")
    parser.add_argument(
        "--pages",
        help=f"Comma-separated page names to audit (default all: {','.join(PAGE_NAMES)}).",
    )
    parser.add_argument(
        "--keep-log", action="store_true", help="Keep the site's folder, make serve's and the media log."
    )
    args = parser.parse_args()
    wanted = PAGE_NAMES if not args.pages else [name.strip() for name in args.pages.split(",")]
    unknown = sorted(set(wanted) - set(PAGE_NAMES))
    if unknown:
        parser.error(f"unknown page(s) {', '.join(unknown)}; choose among {', '.join(PAGE_NAMES)}")
    require_make()
    if not os.access(CHROME, os.X_OK):
        sys.exit(f"No Chromium at {CHROME} (apt-get install -y chromium, or set CHROME_PATH).")
    exit_on_sigterm()  # the finally below must stop the servers on a plain `kill` of this script too
    started = time.perf_counter()
    node, node_version = install_lighthouse()
    chromium = run([CHROME, "--version"]).stdout.strip()
    profile = "desktop" if args.desktop else "mobile"
    print(f"Lighthouse {LIGHTHOUSE_VERSION} ({profile}) on node {node_version}, {chromium}", flush=True)

    folder = Path(tempfile.mkdtemp(prefix="conclave-lighthouse-"))
    port = free_port(PORTS)
    media_port = free_port(range(port + 1, PORTS.stop))
    media_url = f"http://{HOST}:{media_port}/"
    media = folder / "media"
    media.mkdir()
    env = site_env(
        port,
        DATABASE_URL=f"sqlite:///{folder / 'db.sqlite3'}",
        MEDIA_ROOT=str(media),
        MEDIA_URL=media_url,
    )
    serve = Serve(env, folder / "make-serve.log")
    media_server = MediaServer(media, media_port, folder / "media-server.log")
    suffix = "-desktop" if args.desktop else ""
    REPORTS.mkdir(parents=True, exist_ok=True)
    reports = {}
    try:
        prepare_demo_site(env)
        pages, all_paths = find_pages(env, wanted)
        media_server.start()
        media_server.wait_ready(timeout=30)
        serve.start()
        serve.wait_ready()
        print(
            f"make serve on {HOST}:{port} (gunicorn master {serve.master}), media on {media_url}, "
            f"SQLite in {folder}",
            flush=True,
        )
        for name, path in pages:
            # The follow form is the answer to the tag page's box: that page must be there.
            check = all_paths["tag"] if name == "follow" else path
            status = get(port, check).status
            if status != 200:
                raise RuntimeError(f"{check} answers {status}, not 200: nothing worth auditing")
        for name, path in pages:
            job = {
                "url": f"http://{HOST}:{port}{path}",
                "output": str(REPORTS / f"{name}{suffix}.json"),
                "chromePath": CHROME,
                "chromeFlags": CHROME_FLAGS,
                "categories": CATEGORIES,
                "desktop": args.desktop,
                "timeoutSeconds": DRIVER_TIMEOUT,
                "submit": None,
            }
            if name == "follow":
                job["url"] = f"http://{HOST}:{port}{all_paths['tag']}"
                job["submit"] = {"form": f'form[action="{path}"]', "fields": {"email": FOLLOW_EMAIL}}
            began = time.perf_counter()
            for attempt in range(1 + RETRIES):
                reports[name] = lighthouse(node, job)
                error = reports[name].get("runtimeError")
                if not error or attempt == RETRIES:
                    break
                print(f"  {name:<10} Lighthouse's {error.get('code')}: once more", flush=True)
            scores = " ".join(
                f"{COLUMNS[c]} {points(reports[name]['categories'][c]['score'])}" for c in CATEGORIES
            )
            print(f"  {name:<10} {time.perf_counter() - began:5.1f} s  {scores}  {path}", flush=True)
    finally:
        serve.stop()
        media_server.stop()
        remove_unless(
            args.keep_log, folder, f"Site folder, make serve's and the media server's logs kept in {folder}"
        )

    summary = [condense(name, path, reports[name], REPORTS / f"{name}{suffix}.json") for name, path in pages]
    print()
    print(f"{'page':<12}  {'perf':>4}  {'a11y':>4}  {'best':>4}  {'seo':>4}  URL")
    for page in summary:
        scores = "  ".join(f"{points(page['raw_scores'][c]):>4}" for c in CATEGORIES)
        print(f"{page['page']:<12}  {scores}  {page['path']}")

    problems = []
    for page in summary:
        if page["runtime_error"]:
            error = page["runtime_error"]
            problems.append(f"{page['page']}: not audited: {error.get('code')}: {error.get('message')}")
            continue
        if page["status"] != 200:
            problems.append(f"{page['page']}: the page answered {page['status']}, not 200")
        if page["failed_requests"]:
            problems.append(f"{page['page']}: requests failed: {', '.join(page['failed_requests'])}")
        for category in GATED:
            score = page["raw_scores"][category]
            if category == "seo" and page["page"] in NOT_FOR_INDEXING:
                failing = {audit["id"] for audit in page["failing_audits"].get("seo", [])}
                if failing != {"is-crawlable"}:
                    problems.append(
                        f"{page['page']}: SEO audits failing {sorted(failing)}; expected is-crawlable alone "
                        "(the page asks not to be indexed)"
                    )
            elif score is None or score < 1:
                problems.append(f"{page['page']}: {category} {points(score)}")
        for warning in page["run_warnings"]:
            print(f"  Lighthouse warning on {page['page']}: {' '.join(warning.split())[:LINE]}")

    budgets = {}
    for name, budget in BUDGETS.items():
        if name not in reports:
            continue
        sizes, other = transfer(reports[name])
        within = sizes["budgeted"] <= budget
        print()
        print(
            f"{name} page transferred: HTML {sizes['html']:,} B, CSS {sizes['css']:,} B, "
            f"JS {sizes['js']:,} B = {sizes['budgeted']:,} B "
            f"(budget {budget:,} B: {'within' if within else 'OVER'}); images {sizes['images']:,} B"
            + (f"; other {sizes['other']:,} B ({', '.join(other)})" if other else "")
        )
        if not within:
            problems.append(f"{name}: HTML + CSS + JS {sizes['budgeted']:,} B > {budget:,} B")
        budgets[name] = {**sizes, "budget": budget, "within_budget": within, "other_requests": other}
    pictures = [
        (item.get("statusCode"), item.get("url"))
        for report in reports.values()
        for item in requests(report)
        if item.get("url", "").startswith(media_url)
    ]
    bad = [f"{status} {url}" for status, url in pictures if status != 200]
    print(
        f"Pictures from the media server: {len(pictures)} request(s) on {len(reports)} page(s), "
        + (f"{len(bad)} not 200: {', '.join(bad)}" if bad else "all 200")
    )

    print_failing(summary)
    verdict = "FAIL" if problems else "PASS"
    out = REPORTS / f"summary{suffix}.json"
    write_json(
        out,
        {
            "lighthouse": LIGHTHOUSE_VERSION,
            "profile": profile,
            "node": node_version,
            "chromium": chromium,
            "verdict": verdict,
            "problems": problems,
            "pages": summary,
            "story_transfer": budgets,
        },
    )
    print()
    if problems:
        print("FAIL:")
        for problem in problems:
            print(f"  {problem}")
    else:
        print(
            "PASS: accessibility, best practices and SEO at 100 on every page, but for SEO's is-crawlable on "
            f"the pages kept out of search engines on purpose ({', '.join(sorted(NOT_FOR_INDEXING))}); "
            "the stories within budget"
        )
    print(f"Reports in {REPORTS.relative_to(ROOT)}/ ({out.name} and one per page)")
    print(f"Took {time.perf_counter() - started:.0f} s")
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
