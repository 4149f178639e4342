"""Hostile third-party input (tests/corpora, see its README) through every public form and the admin.

Acceptance: every XSS vector, naughty string, Markdown attack, hostile file name and hostile image of the
corpora, fed to the site's public inputs and to the admin article form, gives 0 server errors and 0 unsafe
outputs. "Unsafe" is judged on the page as a browser builds it (html5lib), see ``unsafe_parts``.

The inputs: the search box (most corpus strings), listing ``?page=`` numbers, ``?preview=`` tokens, the
follow form (email, frequency, tag address), the signed confirm/manage/unsubscribe addresses, the manage
and confirm forms, the admin article form (every text field, tags, a correction note, bad values in the
structured fields), its Markdown preview endpoint, and hero image uploads (every corpus image, each under
a hostile file name). What is checked: every page they answer with, the public pages an accepted article
then appears on, the admin pages that show it again, the feeds and sitemaps, and the emails sent.

Every test loops over its inputs and reports each failing one (address, field, input, and the traceback or
the unsafe fragment) rather than stopping at the first. html5lib is slow: pages are checked in a forked
worker on the second core while the requests go on here (``audit``).
"""

import datetime
import json
import logging
import re
import traceback
import xml.etree.ElementTree as ET
from functools import cache
from multiprocessing import get_context
from pathlib import Path
from urllib.parse import quote, urlsplit

import html5lib
import pytest
from django import forms
from django.conf import settings
from django.core import mail
from django.core.exceptions import ValidationError
from django.test import Client
from django.test.client import BOUNDARY, encode_multipart
from django.urls import reverse
from django.utils import timezone

from articles import preview
from articles.following import tokens
from articles.following.addresses import is_mailable, normalise_email
from articles.following.sending import send_due_notifications
from articles.models import Article, Follow, FollowRequest, Subscriber, Tag
from tests.factories import ArticleFactory, TagFactory, jpeg_upload
from tests.test_admin import ADD_URL, article_form
from tests.test_images import MANIFEST, expected_code
from tests.test_rendering_corpus import (
    ALLOWED_SCHEMES,
    CORPORA,
    JSON_CORPORA,
    LINE_CORPORA,
    REDOS_CORPORA,
    inputs_of,
)

IMAGES = CORPORA / "images"
PREVIEW_URL = reverse("admin:articles_article_markdown_preview")

# How many strings of each corpus file each input takes, spread evenly over the file (see per_file): the
# whole file when it is shorter. The search box, the cheapest input, takes the most; each request costs
# 10-15 ms, an admin submission 100-200 ms, and the whole module should stay near a minute.
SEARCH_SAMPLE = 120  # 1,936 strings: the whole of 21 of the 31 files
PAGE_SAMPLE = 8  # ?page= on the listings, ?p= on a sitemap
TOKEN_SAMPLE = 8  # ?preview= and the signed subscriber addresses
FOLLOW_SAMPLE = 15  # the follow form
ADDRESS_SAMPLE = 4  # a tag's address (tag page and follow form)
FORM_SAMPLE = 4  # the manage and confirm forms
VALID_ADDRESS_LIMIT = 30  # hostile but valid addresses followed all the way
ADMIN_SAMPLE = 12  # the admin article form's text fields
ADMIN_BAD_VALUE_SAMPLE = 3  # the admin form's structured fields, which must refuse them
PREVIEW_SAMPLE = 2  # the admin's Markdown preview endpoint (each render is a forked process)

# --- the corpora --------------------------------------------------------------------------------------


def _lines(path):
    """Non-blank lines, '#' comment lines left out (blns.txt headers, fuzzdb comments)."""
    lines = path.read_text(encoding="utf-8").split("\n")
    return [line for line in lines if line.strip() and not line.startswith("#")]


@cache
def text_corpora():
    """{corpus file: [its distinct strings]} for every text corpus file (checked by the coverage test)."""
    corpora = {name: inputs_of(name) for name in [*JSON_CORPORA, *LINE_CORPORA]}
    corpora["xss/blns.txt"] = list(dict.fromkeys(_lines(CORPORA / "xss/blns.txt")))
    for name in REDOS_CORPORA:
        entries = json.loads((CORPORA / name).read_text())
        corpora[name] = list(dict.fromkeys(entry["markdown"] for entry in entries))
    for path in sorted((CORPORA / "upload_filenames").glob("*.txt")):
        corpora[str(path.relative_to(CORPORA))] = list(dict.fromkeys(_lines(path)))
    return corpora


def every_string():
    """[(corpus file, string)]: every distinct string of every text corpus, once."""
    seen, out = set(), []
    for name, values in text_corpora().items():
        for value in values:
            if value not in seen:
                seen.add(value)
                out.append((name, value))
    return out


def sample(values, k):
    """k values spread evenly over the list (all of them if there are no more than k): deterministic."""
    if len(values) <= k:
        return list(values)
    return [values[i * len(values) // k] for i in range(k)]


def per_file(k):
    """[(corpus file, string)]: up to k strings from every text corpus file, so each file takes part."""
    seen, out = set(), []
    for name, values in text_corpora().items():
        for value in sample(values, k):
            if value not in seen:
                seen.add(value)
                out.append((name, value))
    return out


def hostile_file_names():
    """Every upload file name of the fuzzdb lists, with their {EXT}/{PHPSCRIPT} placeholders filled in."""
    names = []
    for name, values in text_corpora().items():
        if name.startswith("upload_filenames/"):
            names += [v.replace("{EXT}", "jpg").replace("{PHPSCRIPT}", "shell") for v in values]
    return names


# Marked for the database only so that pytest-django runs them with (before) the form tests: under -x a
# failing form test then still leaves the checks of the corpora and of the checker itself reported.
@pytest.mark.django_db
def test_every_corpus_file_is_used():
    """Each text file of xss/, markdown/ and upload_filenames/ feeds the forms, and every image the admin
    (headers/ holds scoring tables for the header tests, not input)."""
    data_files = {
        str(p.relative_to(CORPORA))
        for folder in ("xss", "markdown", "upload_filenames")
        for p in (CORPORA / folder).rglob("*")
        if p.suffix in (".json", ".txt")
    }
    assert data_files == set(text_corpora())
    image_files = {str(p.relative_to(IMAGES)) for p in IMAGES.rglob("*") if p.is_file()} - {"manifest.json"}
    assert image_files == {entry["file"] for entry in MANIFEST}
    assert all(text_corpora().values())
    assert len(every_string()) > 3500


# --- what counts as unsafe ----------------------------------------------------------------------------

# Never on any page of ours: a browser would load, run or frame something through them.
FORBIDDEN_ELEMENTS = {
    *("iframe", "frame", "frameset", "object", "embed", "applet", "base", "portal"),
    *("style", "svg", "math", "template", "noscript", "xmp", "plaintext"),
}
URL_ATTRIBUTES = {
    *("href", "src", "action", "formaction", "srcset", "imagesrcset", "poster", "data", "background"),
    *("cite", "longdesc", "ping", "codebase", "archive", "manifest", "icon", "lowsrc", "dynsrc", "usemap"),
}
LIST_ATTRIBUTES = {"srcset", "imagesrcset", "ping", "archive"}
# Removed before looking for a scheme: browsers skip leading blanks and controls, and drop tabs and
# newlines anywhere; zero-width and bidi characters are removed too, to be strict.
INVISIBLE_RE = re.compile(r"[\x00-\x20\x7f-\x9f\u00ad\u200b-\u200f\u202a-\u202e\u2028\u2029\u2060\ufeff]+")
SCHEME_RE = re.compile(r"([A-Za-z][A-Za-z0-9+.\-]*):")
DANGEROUS_CSS_RE = re.compile(r"expression|javascript|vbscript|behavior|binding|url\s*\(|@import", re.I)
SAME_SITE_PATH_RE = re.compile(r"/(?![/\\])")  # "/static/…", "/admin/jsi18n/"; not "//host" or "/\\host"


def _describe(element, tag, attrs):
    shown = " ".join(f'{name}="{value[:100]}"' for name, value in attrs.items())
    text = (element.text or "")[:160]
    return f"<{tag}{' ' if shown else ''}{shown}>{text}"


def _urls(name, value):
    if name in LIST_ATTRIBUTES:  # "url 480w, url 800w" (a data: URL's own comma still leaves "data:…")
        return [candidate.split()[0] for candidate in value.split(",") if candidate.split()]
    return [value]


def _script_problem(element, attrs, mode):
    kind = attrs.get("type", "").strip().lower()
    text = element.text or ""
    if kind in ("application/ld+json", "application/json") and "src" not in attrs:
        if kind == "application/json" and mode != "admin":
            return "a JSON <script> data block outside the admin"
        if "</script" in text.lower() or "<!--" in text:
            return "a JSON data block holding '</script' or '<!--'"
        try:
            json.loads(text)
        except ValueError as exc:
            return f"a JSON data block that is not JSON ({exc})"
        return None
    if mode == "admin" and SAME_SITE_PATH_RE.match(attrs.get("src", "")) and not text.strip():
        return None  # the admin's own scripts: static files and its JavaScript catalogue
    return "a <script> element"


def unsafe_parts(markup, mode="page"):
    """What in this HTML could run script, frame, redirect or restyle the page: [] when it is safe.

    mode: "page" (a public page: no style attributes at all, scripts only as JSON-LD data blocks),
    "admin" (also the admin's own static scripts and JSON data, harmless inline styles), "email" (inline
    styles are how mail is styled), "fragment" (a piece of HTML, judged like a public page).
    """
    if mode == "fragment":
        root = html5lib.parseFragment(markup, namespaceHTMLElements=False)
    else:
        root = html5lib.parse(markup, namespaceHTMLElements=False)
    problems = []
    for element in root.iter():
        if not isinstance(element.tag, str):  # comments
            continue
        tag = element.tag.rsplit("}", 1)[-1].lower()  # foreign elements come as {namespace}name
        attrs = {name.rsplit("}", 1)[-1].lower(): value for name, value in element.attrib.items()}
        found = []
        if tag == "script":
            if problem := _script_problem(element, attrs, mode):
                found.append(problem)
        elif tag in FORBIDDEN_ELEMENTS and not (mode == "admin" and tag == "svg"):  # the admin's icons
            found.append(f"a <{tag}> element")
        if tag == "meta" and "http-equiv" in attrs:
            found.append("a <meta http-equiv>")
        for name, value in attrs.items():
            if name.startswith("on"):
                found.append(f"an event handler {name}=")
            elif name == "style" and (mode in ("page", "fragment") or DANGEROUS_CSS_RE.search(value)):
                found.append("a style= attribute")
            elif name in ("action", "formaction") and SCHEME_RE.match(INVISIBLE_RE.sub("", value)):
                found.append(f"{name}= to another site")
            if name in URL_ATTRIBUTES:
                for url in _urls(name, value):
                    scheme = SCHEME_RE.match(INVISIBLE_RE.sub("", url))
                    if scheme and scheme.group(1).lower() not in ALLOWED_SCHEMES:
                        found.append(f"{name}= with a {scheme.group(1)}: URL")
        problems += [f"{problem} in {_describe(element, tag, attrs)!r}" for problem in found]
    return problems


def check_many(items):
    """Worker side: [(markup, mode)] -> [problems]; an exception is a problem too, not a lost batch."""
    out = []
    for markup, mode in items:
        try:
            out.append(unsafe_parts(markup, mode))
        except Exception as exc:  # reported with the input that caused it
            out.append([f"the checker raised {exc!r}"])
    return out


@pytest.mark.parametrize(
    "markup",
    [
        "<img src=x onerror=alert(1)>",
        '<a href=" javascript:alert(1)">x</a>',
        '<a href="java\tscript:alert(1)">x</a>',
        '<a href="&#106;avascript:alert(1)">x</a>',
        "<script>alert(1)</script>",
        '<script src="/static/x.js"></script>',
        '<script type="application/ld+json">{"a": "</script><script>alert(1)</script>"}</script>',
        '<script type="application/ld+json">{"a": 1}; alert(1)</script>',
        '<svg><a xlink:href="javascript:alert(1)"><text>x</text></a></svg>',
        '<iframe src="https://example.com/"></iframe>',
        '<object data="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg=="></object>',
        '<embed src="https://example.com/x.swf">',
        '<base href="https://evil.example/">',
        '<meta http-equiv="refresh" content="0;url=javascript:alert(1)">',
        '<form action="https://evil.example/"><button>x</button></form>',
        "<button formaction=javascript:alert(1)>x</button>",
        '<img srcset="/a.jpg 1x, data:image/svg+xml;base64,PHN2Zz4= 2x">',
        '<video poster="vbscript:msgbox(1)"></video>',
        '<p style="background:url(javascript:alert(1))">x</p>',
        "<style>*{color:red}</style>",
        "<body onload=alert(1)>",
        "<details open ontoggle=alert(1)>",
    ],
)
@pytest.mark.django_db
def test_the_checker_flags_unsafe_html(markup):
    assert unsafe_parts(f"<!doctype html><title>t</title>{markup}")
    if not markup.startswith("<body"):  # inside a fragment, as innerHTML, <body> is ignored
        assert unsafe_parts(markup, "fragment")


@pytest.mark.django_db
def test_the_checker_leaves_safe_html_alone():
    page = (
        '<!doctype html><html><head><title>&lt;script&gt;</title><link rel="canonical" href="https://a.b/">'
        '<meta name="description" content="&quot;><script>alert(1)</script>">'
        '<script type="application/ld+json">{"headline": "\\u003C/script\\u003E"}</script></head>'
        '<body><a href="/tags/x/">x</a><a href="?q=javascript:alert(1)&amp;page=2">next</a>'
        '<a href="mailto:?subject=x">m</a><img src="/media/a.jpg" srcset="/a.jpg 480w, /b.jpg 800w" alt="">'
        '<input value="&quot; onfocus=alert(1) autofocus x=&quot;"><form action="/search/"></form>'
        "</body></html>"
    )
    assert unsafe_parts(page) == []
    admin = (
        '<script src="/static/admin/js/core.js"></script><svg><use href="#i"></use></svg><p style="top: 0">'
    )
    assert unsafe_parts(admin, "admin") == []
    assert unsafe_parts('<script src="//evil.example/x.js"></script>', "admin")
    assert unsafe_parts('<svg><script>alert(1)</script></svg><p style="x:expression(1)">', "admin")
    assert unsafe_parts('<p style="color:#fff">x</p>', "email") == []


# --- sending and checking -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def checker_pool():
    """One forked worker that parses pages (html5lib is pure Python) while the requests go on here."""
    unsafe_parts("<p>warm up html5lib's lazy imports before forking</p>")
    with get_context("fork").Pool(1) as pool:
        yield pool


def short_traceback(exc):
    """The exception and the last frames of our own code; if it has none, the last frames outside the
    ORM and the template engine (the admin's widgets, say)."""
    frames = traceback.extract_tb(exc.__traceback__)
    ours = [f for f in frames if "site-packages" not in f.filename]
    frames = (
        ours or [f for f in frames if not re.search(r"django/(db|template|utils)/", f.filename)] or frames
    )
    where = " <- ".join(f"{Path(f.filename).name}:{f.lineno} {f.line}" for f in reversed(frames[-3:]))
    return f"{type(exc).__name__}: {exc}\n  at {where}"


FEED_HTML_ELEMENTS = {"description", "encoded", "summary", "content"}


def _local_name(tag):
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def _shorten(value, limit=300):
    text = repr(value)
    if len(text) <= limit:
        return text
    return f"{text[:limit]}…" + (f" ({len(value)} chars)" if isinstance(value, str) else "")


class Audit:
    """Checks every response (status, redirect target, HTML/JSON/XML body) and keeps what failed.

    HTML is parsed in the worker, a batch at a time; ``assert_clean`` waits for the last batch.
    """

    BATCH = 25

    def __init__(self, pool):
        self.pool = pool
        self.batch, self.pending, self.failures = [], [], []
        self.responses = 0
        self.checked_html = 0

    def fail(self, where, value, detail):
        self.failures.append((where, value, detail))

    def response(self, response, where, value=None, *, mode="page", statuses=None):
        """Check one response to ``where`` (method, address and field) sent ``value``."""
        self.responses += 1
        exc_info = getattr(response, "exc_info", None)
        if exc_info:
            self.fail(where, value, f"status {response.status_code}: {short_traceback(exc_info[1])}")
        elif response.status_code >= 500:
            self.fail(where, value, f"status {response.status_code}")
        elif statuses is not None and response.status_code not in statuses:
            self.fail(where, value, f"status {response.status_code}, expected one of {sorted(statuses)}")
        if response.status_code in (301, 302, 303, 307, 308):
            location = response["Location"]
            split = urlsplit(location)
            ours = {"", "testserver", urlsplit(settings.SITE_URL).hostname}
            if split.netloc not in ours or split.scheme not in ("", "http", "https") or "\\" in location:
                self.fail(where, value, f"redirects off the site: Location {location!r}")
        if getattr(response, "streaming", False) or response.request.get("REQUEST_METHOD") == "HEAD":
            return  # no body to judge
        kind = response.get("Content-Type", "")
        if "html" in kind:
            self.html(response.content, where, value, mode)
        elif "json" in kind:
            data = response.json()
            if isinstance(data, dict) and isinstance(data.get("html"), str):
                self.html(data["html"], where, value, "fragment")
        elif "xml" in kind:
            self.xml(response.content, where, value)

    def html(self, markup, where, value, mode="page"):
        self.checked_html += 1
        self.batch.append(((markup, mode), (where, value)))
        if len(self.batch) >= self.BATCH:
            self.flush()

    def xml(self, content, where, value):
        """Well formed; and in a feed, the HTML that readers render (item description, content:encoded,
        Atom summary and content) is judged like a piece of a public page."""
        try:
            root = ET.fromstring(content)  # noqa: S314 - our own feed or sitemap, parsed to see it is well formed
        except ET.ParseError as exc:
            self.fail(where, value, f"not well-formed XML: {exc}")
            return
        for item in root.iter():
            if _local_name(item.tag) not in ("item", "entry"):
                continue
            for child in item:
                name = _local_name(child.tag)
                if name in FEED_HTML_ELEMENTS and child.text:
                    self.html(child.text, f"{where} <{name}>", value, "fragment")

    def emails(self, messages, where):
        """Every HTML part of these mails, judged as mail (inline styles allowed); plain parts are text."""
        for message in messages:
            for content, mimetype in getattr(message, "alternatives", []):
                if mimetype == "text/html":
                    self.html(content, f"{where}: mail {message.subject!r} to {message.to}", None, "email")

    def flush(self):
        if self.batch:
            items, labels = zip(*self.batch, strict=True)
            self.pending.append((labels, self.pool.apply_async(check_many, (list(items),))))
            self.batch = []

    def assert_clean(self, minimum_responses=1):
        self.flush()
        for labels, result in self.pending:
            for (where, value), problems in zip(labels, result.get(timeout=120), strict=True):
                if problems:
                    self.fail(where, value, "unsafe output: " + "; ".join(dict.fromkeys(problems))[:1500])
        self.pending = []
        assert self.responses >= minimum_responses, f"only {self.responses} responses were checked"
        assert self.checked_html, "no HTML was checked"
        if self.failures:
            lines = [f"{len(self.failures)} failures in {self.responses} responses:"]
            for where, value, detail in self.failures[:30]:
                shown = (
                    ""
                    if value is None
                    else f" with {_shorten(value, 900 if isinstance(value, dict) else 300)}"
                )
                lines.append(f"- {where}{shown}")
                lines.append("    " + detail.replace("\n", "\n    "))
            if len(self.failures) > 30:
                lines.append(f"… and {len(self.failures) - 30} more")
            pytest.fail("\n".join(lines), pytrace=False)


@pytest.fixture
def audit(checker_pool):
    return Audit(checker_pool)


@pytest.fixture(autouse=True)
def quiet_request_logs():
    """Thousands of requests: log only what goes wrong (a 500 is still logged), and log it fast."""
    levels = {name: logging.getLogger(name).level for name in ("conclave.requests", "django.request")}
    logging.getLogger("conclave.requests").setLevel(logging.WARNING)
    logging.getLogger("django.request").setLevel(logging.ERROR)
    yield
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)


@pytest.fixture
def visitor():
    """An anonymous browser whose server errors come back as responses, so each one is reported."""
    return Client(raise_request_exception=False)


@pytest.fixture
def editor_browser(editor_client):
    editor_client.raise_request_exception = False
    return editor_client


def ip(n):
    """A distinct client address per request: the follow form's per-IP limit is not what is tested."""
    return f"10.{(n >> 16) & 255}.{(n >> 8) & 255}.{n & 255}"


def in_path(value):
    """A string as one path segment, the way a browser or a crafted link would send it."""
    return quote(value, safe="")


# --- public inputs ------------------------------------------------------------------------------------


@pytest.fixture
def searchable(newsroom):
    """Stories the hostile queries find, so results and <mark> highlighting are rendered too."""
    section, author, tag, _ = newsroom
    for words in [
        "alert script img src onerror javascript",
        "svg onload iframe a href x test xss",
        "\"quotes\" & 'apostrophes' <angle> brackets 1 0 null",
    ]:
        ArticleFactory(
            title=f"Story about {words}",
            standfirst=f"A standfirst: {words}.",
            body=f"A body that mentions {words}.\n\nAnd more about {words}.",
            section=section,
            authors=[author],
            tags=[tag],
        )
    return newsroom


@pytest.mark.timeout(240)
def test_search_box(searchable, no_page_cache, visitor, audit):
    values = per_file(SEARCH_SAMPLE)
    for name, value in values:
        response = visitor.get("/search/", {"q": value})
        # NUL in an address is a 404 anywhere (conclave.middleware.UnstorableInputMiddleware).
        audit.response(
            response, f"GET /search/?q= ({name})", value, statuses={404 if "\x00" in value else 200}
        )
    audit.assert_clean(minimum_responses=len(values))


def test_listing_page_numbers(searchable, no_page_cache, visitor, audit):
    live = searchable[3]
    month = timezone.localtime(live[0].published_at)
    listings = [
        ("/", {}, "page"),
        ("/sections/chips/", {}, "page"),
        ("/authors/ada-reporter/", {}, "page"),
        ("/tags/semiconductors/", {}, "page"),
        ("/tags/", {}, "page"),
        (f"/archive/{month:%Y}/{month:%m}/", {}, "page"),
        ("/search/", {"q": "story"}, "page"),
        ("/sitemap-articles.xml", {}, "p"),
    ]
    values = per_file(PAGE_SAMPLE)
    for i, (name, value) in enumerate(values):
        path, query, param = listings[i % len(listings)]
        response = visitor.get(path, {**query, param: value})
        audit.response(response, f"GET {path}?{param}= ({name})", value, statuses={200, 404})
    audit.assert_clean(minimum_responses=len(values))


def test_preview_tokens(searchable, no_page_cache, visitor, audit):
    draft = Article.objects.get(title="Draft story")
    live = searchable[3][0]
    genuine = preview.make_token(draft)
    values = per_file(TOKEN_SAMPLE)
    for i, (name, value) in enumerate(values):
        article = (draft, live)[i % 2]
        token = value if i % 4 < 2 else genuine + value  # alone, and after a genuine token
        url = article.get_absolute_url()
        response = visitor.get(url, {"preview": token})
        audit.response(response, f"GET {url}?preview= ({name})", token, statuses={200, 404, 410})
        if article is draft and token != genuine and response.status_code == 200:
            audit.fail(f"GET {url}?preview= ({name})", token, "a forged preview token showed the draft")
    audit.assert_clean(minimum_responses=len(values))


def is_valid_address(value):
    try:
        forms.EmailField(max_length=254).clean(value)
    except ValidationError:
        return False
    return True


def test_follow_form_fields(searchable, no_page_cache, visitor, audit):
    """Every field of the follow form at once: the email field (shown again on the form) and the frequency."""
    values = per_file(FOLLOW_SAMPLE)
    for i, (name, value) in enumerate(values):
        data = {"email": value, "frequency": value}
        response = visitor.post("/tags/semiconductors/follow/", data, REMOTE_ADDR=ip(i))
        where = f"POST /tags/semiconductors/follow/ email=, frequency= ({name})"
        audit.response(response, where, value, statuses={200, 400, 429})
    audit.emails(mail.outbox, "follow form")
    # Nothing is recorded for an address the form refuses.
    valid = {normalise_email(value) for _, value in values if is_valid_address(value)}
    stored = set(Subscriber.objects.values_list("email", flat=True))
    for email in stored - valid:
        audit.fail(
            "POST /tags/semiconductors/follow/", email, "a subscriber was stored for a refused address"
        )
    audit.assert_clean(minimum_responses=len(values))


def test_follow_and_tag_addresses(searchable, no_page_cache, visitor, audit):
    values = per_file(ADDRESS_SAMPLE)
    for i, (name, value) in enumerate(values):
        segment = in_path(value)
        response = visitor.get(f"/tags/{segment}/")
        audit.response(response, f"GET /tags/<slug>/ ({name})", value)
        data = {"email": f"reader{i}@example.com"}
        response = visitor.post(f"/tags/{segment}/follow/", data, REMOTE_ADDR=ip(i))
        audit.response(response, f"POST /tags/<slug>/follow/ ({name})", value)
    assert not Subscriber.objects.exists()
    audit.assert_clean(minimum_responses=2 * len(values))


MALFORMED_ADDRESSES = [
    "",
    "   ",
    "reader",
    "reader@",
    "@example.com",
    "reader@@example.com",
    "reader@example..com",
    "reader example@example.com",
    "reader@exa mple.com",
    "reader@-example.com",
    "<script>alert(1)</script>@example.com",
    "reader@example.com<script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>',
    '"unclosed@example.com',
    "reader@example.com\r\nBcc: victim@example.com",
    "reader@example.com,other@example.com",
    "javascript:alert(1)//@example.com",
    "x" * 300 + "@example.com",
]
CLEAR_MESSAGES = ("Enter a valid email address.", "This field is required.", "Ensure this value has at most")


def test_a_malformed_email_gets_a_clear_error_and_creates_nothing(tag_page_ready, visitor, audit):
    problems = []
    for i, address in enumerate(MALFORMED_ADDRESSES):
        response = visitor.post(
            "/tags/semiconductors/follow/", {"email": address, "frequency": "immediate"}, REMOTE_ADDR=ip(i)
        )
        audit.response(response, "POST /tags/semiconductors/follow/ email=", address, statuses={400})
        doc = html5lib.parse(response.content, namespaceHTMLElements=False)
        error = doc.find(".//span[@class='follow-form__error']")
        message = " ".join("".join(error.itertext()).split()) if error is not None else ""
        field = doc.find(".//input[@name='email']")
        alert = doc.find(".//*[@role='alert']")
        if not any(clear in message for clear in CLEAR_MESSAGES):
            problems.append(f"{address!r}: error message {message!r}")
        if field is None or field.get("aria-invalid") != "true":
            problems.append(f"{address!r}: the email field is not marked invalid")
        if alert is None or "check the form" not in "".join(alert.itertext()):
            problems.append(f"{address!r}: no alert above the form")
    assert not problems, "\n".join(problems)
    assert not Subscriber.objects.exists() and not Follow.objects.exists()
    assert mail.outbox == []
    audit.assert_clean(minimum_responses=len(MALFORMED_ADDRESSES))


@pytest.fixture
def tag_page_ready(db, no_page_cache):
    return TagFactory(name="Semiconductors", slug="semiconductors", show_early=True)  # no story yet


def quoted_address(value):
    """value as the quoted local part of an address Django accepts ("<script>…"@example.com), or None."""
    address = f'"{value}"@example.com'
    return address if len(address) <= 254 and is_valid_address(address) else None


def path_of(url):
    split = urlsplit(url)
    return split.path + (f"?{split.query}" if split.query else "")


def test_hostile_but_valid_addresses_all_the_way(searchable, no_page_cache, visitor, editor_browser, audit):
    """Quoted local parts are valid addresses: stored, mailed, and shown (masked) on the subscriber pages;
    those no mail header can carry as written (control or format characters) are refused on the form."""
    addresses = [(name, v, a) for name, v in per_file(FOLLOW_SAMPLE) if (a := quoted_address(v))]
    addresses = addresses[:VALID_ADDRESS_LIMIT]
    assert len(addresses) > 20
    for i, (name, value, address) in enumerate(addresses):
        where = f"hostile address ({name})"
        sent_before = len(mail.outbox)
        mailable = is_mailable(normalise_email(address))
        response = visitor.post(
            "/tags/semiconductors/follow/", {"email": address, "frequency": "daily"}, REMOTE_ADDR=ip(i)
        )
        where_posted = f"POST /tags/semiconductors/follow/ [{where}]"
        audit.response(response, where_posted, address, statuses={200} if mailable else {400})
        audit.emails(mail.outbox[sent_before:], where)
        if response.status_code != 200 or len(mail.outbox) == sent_before:
            continue  # refused, which the status check above has reported
        confirm = re.search(r"https?://[^/\s]+(/follow/confirm/[^/\s]+/)", mail.outbox[-1].body).group(1)
        for method, path, data in [
            ("GET", confirm, None),
            ("POST", confirm, {"frequency": value}),
            ("POST", confirm, {"frequency": "weekly"}),
        ]:
            response = visitor.get(path, data) if method == "GET" else visitor.post(path, data)
            audit.response(response, f"{method} confirm page [{where}]", value)
        manage = path_of(tokens.follow_url(Subscriber.objects.get(email=normalise_email(address)), "manage"))
        for method, path, data in [
            ("GET", manage, {"add": value}),
            ("POST", manage, {"frequency": value, "add": value}),
        ]:
            response = visitor.get(path, data) if method == "GET" else visitor.post(path, data)
            audit.response(response, f"{method} manage page [{where}]", value)
    response = editor_browser.get(reverse("admin:articles_subscriber_changelist"))
    audit.response(response, "GET admin subscriber list", None, mode="admin", statuses={200})
    person = Subscriber.objects.order_by("pk").first()
    response = editor_browser.get(reverse("admin:articles_subscriber_change", args=[person.pk]))
    audit.response(response, "GET admin subscriber page", person.email, mode="admin", statuses={200})
    audit.assert_clean(minimum_responses=len(addresses))


def test_signed_link_addresses(searchable, no_page_cache, visitor, audit):
    tag = searchable[2]
    person = Subscriber.objects.create(email="reader@example.com", confirmed_at=timezone.now())
    Follow.objects.create(subscriber=person, tag=tag)
    purposes = ("confirm", *tokens.LINK_PURPOSES)
    genuine = {purpose: tokens.make_token(person, purpose) for purpose in tokens.LINK_PURPOSES}
    genuine["confirm"] = tokens.new_request(tag, "new@example.com", "daily")[1]
    values = per_file(TOKEN_SAMPLE)
    for i, (name, value) in enumerate(values):
        purpose = purposes[i % 3]
        token = in_path(value) if i % 6 < 3 or not value else genuine[purpose] + in_path(value)
        method = ("GET", "POST")[i % 2]
        path = f"/follow/{purpose}/{token}/"
        response = visitor.get(path) if method == "GET" else visitor.post(path, {"frequency": "daily"})
        audit.response(response, f"{method} /follow/{purpose}/<token>/ ({name})", token, statuses={400, 404})
    assert Subscriber.objects.filter(pk=person.pk, follows__tag=tag).exists(), "a forged link acted"
    audit.assert_clean(minimum_responses=len(values))


def test_manage_and_confirm_forms(searchable, no_page_cache, visitor, audit):
    tag = searchable[2]
    person = Subscriber.objects.create(email="reader@example.com", confirmed_at=timezone.now())
    Follow.objects.create(subscriber=person, tag=tag)
    _, token = tokens.new_request(tag, "new@example.com", "daily")
    manage = path_of(tokens.follow_url(person, "manage"))
    confirm = path_of(tokens.confirm_url(token))
    values = per_file(FORM_SAMPLE)
    for i, (name, value) in enumerate(values):
        field = ("frequency", "unfollow", "add")[i % 3]
        data = {"frequency": "daily", field: value}
        response = visitor.post(manage, data)
        audit.response(response, f"POST /follow/manage/ {field}= ({name})", value, statuses={302, 400})
        response = visitor.get(manage, {"add": value})
        status = 404 if "\x00" in value else 200
        audit.response(response, f"GET /follow/manage/?add= ({name})", value, statuses={status})
        response = visitor.post(confirm, {"frequency": value})
        audit.response(response, f"POST /follow/confirm/ frequency= ({name})", value, statuses={400})
    assert not Subscriber.objects.filter(email="new@example.com").exists()
    assert not FollowRequest.objects.filter(confirmed_at__isnull=False).exists()
    assert Subscriber.objects.filter(pk=person.pk).exists()
    audit.assert_clean(minimum_responses=3 * len(values))


# --- the admin article form ---------------------------------------------------------------------------

# The plain-text fields of the article form, with their lengths: each gets a corpus string of its own.
ADMIN_TEXT_FIELDS = {
    "title": 200,
    "standfirst": 400,
    "hero_alt": 250,
    "hero_caption": 300,
    "hero_credit": 200,
    "seo_title": 70,
    "seo_description": 160,
}
# Beyond the text fields, each submission carries one more string as a tag and one as a correction note.
PER_SUBMISSION = len(ADMIN_TEXT_FIELDS) + 2
BODY_PIECE_CHARS = 3000  # the ReDoS corpus is the renderer's business (test_rendering_corpus.py)


def _fits(value, limit):
    """The string cut to the field's length, made non-blank (blank would fail "required", not the test)."""
    value = value[:limit]
    return value if value.strip() else f"{value[: limit - 1]}x"


def local_form_datetime(moment, prefix):
    moment = timezone.localtime(moment)
    return {f"{prefix}_0": moment.strftime("%Y-%m-%d"), f"{prefix}_1": moment.strftime("%H:%M:%S")}


def hostile_submissions(base, strings):
    """(form data, [(field, corpus file, string)]): the strings PER_SUBMISSION at a time, every text field
    holding one, the tag field and a correction note one more each, the body all of them as Markdown."""
    published = local_form_datetime(timezone.now() - datetime.timedelta(days=1), "published_at")
    noted = local_form_datetime(timezone.now(), "corrections-0-noted_at")
    for n in range(0, len(strings), PER_SUBMISSION):
        chunk = strings[n : n + PER_SUBMISSION]
        chunk += strings[: PER_SUBMISSION - len(chunk)]  # the last one is topped up from the start
        fields = [*ADMIN_TEXT_FIELDS, "tags", "corrections-0-note"]
        data = {
            **base,
            **published,
            **noted,
            "slug": f"hostile-{n}",
            "status": "published",
            "corrections-TOTAL_FORMS": "1",
            "corrections-0-kind": "correction",
            "body": "\n\n".join(value[:BODY_PIECE_CHARS] for _, value in chunk),
            "hero_image": jpeg_upload(f"hero-{n}.jpg", size=(320, 180)),
        }
        for field, (_, value) in zip(fields, chunk, strict=True):
            if field == "tags":
                data["tags"] = f"Hostile, {value[:100]}"  # parsed by taggit, as an editor's input is
            elif field == "corrections-0-note":
                data[field] = _fits(value, 1000)
            else:
                data[field] = _fits(value, ADMIN_TEXT_FIELDS[field])
        yield data, [(field, name, value) for field, (name, value) in zip(fields, chunk, strict=True)]


def tag_url(tag):
    try:
        return tag.get_absolute_url()
    except Exception as exc:  # an address the tag cannot have is a failure of its own, reported by the caller
        return exc


@pytest.mark.timeout(240)
def test_admin_article_form_text_fields(no_page_cache, editor_browser, visitor, audit):
    """Every text field, the tags and a correction note: the admin pages, then every public page the
    article appears on, its feeds, the follow form of its new tags and the emails it causes."""
    base = article_form()
    strings = [item for item in per_file(ADMIN_SAMPLE) if "\x00" not in item[1]]  # NUL: the next test
    # Followers, since before the stories: a digest of them all, and a single-story alert.
    hostile, solo = TagFactory(name="Hostile", slug="hostile"), TagFactory(name="Solo", slug="solo")
    long_ago = timezone.now() - datetime.timedelta(days=3)
    followers = [("all@example.com", "daily", hostile), ("one@example.com", "immediate", solo)]
    for email, frequency, tag in followers:
        person = Subscriber.objects.create(email=email, frequency=frequency, confirmed_at=long_ago)
        Follow.objects.create(subscriber=person, tag=tag)
    Follow.objects.update(created_at=long_ago)

    saved, refused, seen_tags = [], [], {hostile.pk, solo.pk}
    for number, (data, placed) in enumerate(hostile_submissions(base, strings)):
        if number == 0:
            data["tags"] += ", Solo"
        where = f"POST {ADD_URL} (submission {number}, from {sorted({name for _, name, _ in placed})})"
        values = {field: value for field, _, value in placed}
        response = editor_browser.post(ADD_URL, data)
        audit.response(response, where, values, mode="admin", statuses={200, 302})
        tag_errors = response.status_code == 200 and response.context["adminform"].form.errors.get("tags")
        if tag_errors and "needs a letter or a digit" in tag_errors[0]:
            # A tag of symbols alone is refused with a message; the other fields still go through.
            if hasattr(data.get("hero_image"), "seek"):
                data["hero_image"].seek(0)  # read by the first post
            response = editor_browser.post(ADD_URL, {**data, "tags": base["tags"]})
            audit.response(response, where, values, mode="admin", statuses={200, 302})
        if response.status_code != 302:
            form = response.context and response.context.get("adminform")
            refused.append((values, form.form.errors.as_json() if form else response.status_code))
            continue
        article = Article.objects.get(slug=data["slug"])
        saved.append(article)
        pages = [(visitor, article.get_absolute_url(), "page")]
        pages.append((editor_browser, reverse("admin:articles_article_change", args=[article.pk]), "admin"))
        for tag in article.tags.all():
            if tag.pk in seen_tags:
                continue
            seen_tags.add(tag.pk)
            url = tag_url(tag)
            if isinstance(url, Exception):
                audit.fail(f"tag {tag.name!r} (slug {tag.slug!r}) of {where}", values, f"no address: {url!r}")
                continue
            pages += [(visitor, url, "page"), (visitor, f"{url}feed/", "page")]
            sent_before = len(mail.outbox)
            address = f"t{tag.pk}@example.com"
            response = visitor.post(f"{url}follow/", {"email": address}, REMOTE_ADDR=ip(tag.pk))
            audit.response(response, f"POST follow form of tag {tag.name!r}", values, statuses={200})
            audit.emails(mail.outbox[sent_before:], f"follow mail of tag {tag.name!r}")
        for browser, url, mode in pages:
            audit.response(browser.get(url), f"GET {url} after {where}", values, mode=mode, statuses={200})

    assert len(saved) >= 0.9 * (len(saved) + len(refused)), f"the form refused too many: {refused[:5]}"
    # Every listing the stories appear on, with and without a search, the feeds and the sitemaps.
    month = timezone.localtime(saved[0].published_at)
    listings = ["/", "/?page=2", "/sections/industry/", "/tags/", "/tags/?page=2", f"/archive/{month:%Y/%m}/"]
    listings += [saved[0].authors.first().get_absolute_url(), "/tags/hostile/", "/tags/hostile/?page=2"]
    listings += [f"/search/?q={word}" for word in ("alert", "script", "img", "javascript", "a", "x", "1")]
    listings += ["/feed/", "/feed/atom/", "/sections/industry/feed/"]
    listings += ["/tags/hostile/feed/", "/tags/hostile/feed/atom/"]
    listings += ["/sitemap.xml", "/sitemap-articles.xml", "/sitemap-tags.xml", "/news-sitemap.xml"]
    for url in listings:
        audit.response(visitor.get(url), f"GET {url} (hostile stories)", None, statuses={200})
    admin_pages = [
        reverse("admin:articles_article_changelist"),
        reverse("admin:articles_article_changelist") + "?q=alert",
        reverse("admin:articles_tag_changelist"),
        reverse("admin:articles_article_revisions", args=[saved[0].pk]),
    ]
    for url in admin_pages:
        response = editor_browser.get(url)
        audit.response(response, f"GET {url} (hostile stories)", None, mode="admin", statuses={200})
    sent_before = len(mail.outbox)
    try:
        send_due_notifications()
    except Exception as exc:  # reported with the other failures
        audit.fail("send_due_notifications() after the hostile stories", None, short_traceback(exc))
    else:
        expected = 1 + any(solo in article.tags.all() for article in saved)  # the digest, the alert
        if len(mail.outbox) - sent_before != expected:
            audit.fail(
                "send_due_notifications()", None, f"{len(mail.outbox) - sent_before} mails, not {expected}"
            )
    audit.emails(mail.outbox[sent_before:], "notifications of the hostile stories")
    # On PostgreSQL a value longer than its column is a DataError (a 500); SQLite stores it anyway.
    for tag in Tag.objects.all():
        if not tag.slug or len(tag.slug) > 100 or len(tag.name) > 100:
            detail = f"tag stored with slug {tag.slug!r} (name {len(tag.name)} chars, slug {len(tag.slug)})"
            audit.fail("admin article form, tags field", tag.name, detail)
    audit.assert_clean(minimum_responses=len(strings) // PER_SUBMISSION)


def test_admin_article_form_refuses_bad_structured_values(no_page_cache, editor_browser, audit):
    """Corpus strings where the form expects a slug, a date, a choice, an id or a count, and strings with a
    NUL in the text fields: a form error each time, nothing saved."""
    base = article_form()
    fields = [
        "slug",
        "published_at_0",
        "published_at_1",
        "status",
        "section",
        "authors",
        "corrections-0-kind",
        "corrections-0-noted_at_0",
        "corrections-INITIAL_FORMS",
    ]
    strings = per_file(ADMIN_BAD_VALUE_SAMPLE)
    submissions = []
    # One hostile value in every structured field at once, then each field alone (to name the culprit).
    for n in range(0, len(strings), len(fields)):
        submissions.append({field: value for field, (_, value) in zip(fields, strings[n:], strict=False)})
    submissions += [{field: strings[i][1]} for i, field in enumerate(fields)]
    for _, value in every_string():
        if "\x00" in value:  # Django refuses NUL in text; every text field and the body at once
            submissions.append(dict.fromkeys([*ADMIN_TEXT_FIELDS, "body", "tags"], value))
    for values in submissions:
        data = {**base, "corrections-TOTAL_FORMS": "1", "corrections-0-note": "A note.", **values}
        response = editor_browser.post(ADD_URL, data)
        where = f"POST {ADD_URL} ({', '.join(values)})"
        audit.response(response, where, values, mode="admin", statuses={200})
    assert not Article.objects.exists()
    audit.assert_clean(minimum_responses=len(submissions))


def test_admin_markdown_preview(editor_browser, audit):
    values = per_file(PREVIEW_SAMPLE)
    for name, value in values:
        response = editor_browser.post(PREVIEW_URL, {"body": value})
        audit.response(response, f"POST {PREVIEW_URL} body= ({name})", value, statuses={200, 400})
    audit.assert_clean(minimum_responses=len(values))


# --- hero images --------------------------------------------------------------------------------------


def multipart_with_file(data, field, filename, content):
    """A multipart body whose file part carries ``filename`` exactly: Django's test client would send only
    its basename. Quotes and line breaks are escaped as browsers do (%22, %0D, %0A)."""
    body = encode_multipart(BOUNDARY, data)
    closing = f"--{BOUNDARY}--\r\n".encode()
    assert body.endswith(closing)
    escaped = filename.replace('"', "%22").replace("\r", "%0D").replace("\n", "%0A")
    part = b"\r\n".join(
        [
            f"--{BOUNDARY}".encode(),
            f'Content-Disposition: form-data; name="{field}"; filename="{escaped}"'.encode(),
            b"Content-Type: application/octet-stream",
            b"",
            content,
            b"",
        ]
    )
    return body[: -len(closing)] + part + closing


def stored_inside_media_root(name):
    root = Path(settings.MEDIA_ROOT).resolve()
    return ".." not in name and (root / name).resolve().is_relative_to(root)


@pytest.mark.timeout(240)
def test_hero_images_under_hostile_names(no_page_cache, editor_browser, visitor, audit):
    """Every corpus image through the admin form, each under a hostile file name from the fuzzdb lists."""
    base = article_form()
    names = hostile_file_names()
    content_type = "multipart/form-data; boundary=" + BOUNDARY  # not the test client's own constant
    for i, entry in enumerate(MANIFEST):
        content = (IMAGES / entry["file"]).read_bytes()
        refused = expected_code(entry) is not None
        slug = f"image-{i}"
        for filename in (names[i % len(names)], names[i % len(names)] + Path(entry["file"]).suffix):
            where = f"POST admin article form hero_image={entry['file']} as {filename!r}"
            fields = {**base, "slug": slug, "title": f"Image {i}"}
            body = multipart_with_file(fields, "hero_image", filename, content)
            response = editor_browser.post(ADD_URL, body, content_type=content_type)
            # 400: Django's multipart parser drops a part whose name is empty once sanitised ("/", ".."),
            # and with a binary body it then fails on the rest of the request (MultiPartParserError).
            audit.response(response, where, filename, mode="admin", statuses={200, 302, 400})
            article = Article.objects.filter(slug=slug).first()
            if response.status_code == 400 or (article is not None and not article.hero_image):
                if article is not None:
                    article.delete()  # the file never reached the form: try again with an extension
                continue
            if refused:
                errors = response.context["adminform"].form.errors if response.status_code == 200 else {}
                if article is not None or "hero_image" not in errors:
                    audit.fail(where, filename, f"a {expected_code(entry)} image was let through: {errors}")
            elif article is None:
                audit.fail(where, filename, "an acceptable image was refused")
            else:
                if not stored_inside_media_root(article.hero_image.name):
                    audit.fail(where, filename, f"stored as {article.hero_image.name!r}")
                url = article.get_absolute_url()
                audit.response(visitor.get(url), f"GET {url} after {where}", filename, statuses={200})
            break
        else:
            audit.fail(f"hero_image={entry['file']}", names[i % len(names)], "never reached the form")
    audit.assert_clean(minimum_responses=len(MANIFEST))


# --- the whole URL space ------------------------------------------------------------------------------

# Path segments and query values as they arrive on the wire (already percent-encoded): NUL (PostgreSQL
# refuses it in any text), overlong and invalid UTF-8, encoded lone surrogates and code points past
# U+10FFFF, broken percent-escapes, controls, numbers past any integer column, and a very long one.
HOSTILE_SEGMENTS = [
    "%00",
    "a%00b",
    "%00%00%00",
    "%C0%80",
    "%E0%80%80",
    "%ED%A0%80",
    "%ED%BF%BF%ED%A0%80",
    "%F4%90%80%80",
    "%EF%BF%BE",
    "%FF",
    "%FE%FF%00",
    "%E9t%E9",
    "%",
    "%zz",
    "%2",
    "%%00",
    "%01%1B%7F",
    "%E2%80%AE%E2%80%8B",
    "99999999999999999999999999999",
    "-9223372036854775809",
    "9223372036854775808",
    "1e309",
    "0x7fffffff",
    "a" * 5000,
]
# Every parameter a page reads, and one it does not.
QUERY_NAMES = ["page", "q", "preview", "p", "add", "saved", "utm_source"]


def public_routes():
    """Every URL pattern outside the admin, as (route, its converters' names), from the URLconf itself: a
    page added later is fuzzed without anyone remembering to list it."""
    from django.urls import URLPattern, URLResolver, get_resolver

    admin_prefix = settings.ADMIN_URL

    def walk(patterns, prefix):
        for entry in patterns:
            route = prefix + str(entry.pattern)
            if isinstance(entry, URLResolver):
                if str(entry.pattern) != admin_prefix:
                    yield from walk(entry.url_patterns, route)
            elif isinstance(entry, URLPattern):
                yield route

    return sorted(set(walk(get_resolver().url_patterns, "")))


ROUTE_PARAMETER_RE = re.compile(r"<(?:\w+:)?\w+>|\(\?P<\w+>[^)]*\)")


def fuzzed_paths(route, segment):
    """The route's address with each of its parameters, one at a time, replaced by ``segment`` (the
    others by a real value), and the whole route at once."""
    route = route.lstrip("^").rstrip("$")
    route = re.sub(
        r"\[0-9\]\{(\d)\}", lambda m: "2024"[: int(m.group(1))] if m.group(1) == "4" else "06", route
    )
    parameters = ROUTE_PARAMETER_RE.findall(route)
    real = {"<slug:section>": "articles"}
    if not parameters:
        return ["/" + route]
    paths = []
    for hostile in parameters:
        path = route
        for parameter in parameters:
            path = path.replace(parameter, segment if parameter == hostile else real.get(parameter, "x"), 1)
        paths.append("/" + path)
    return paths


def test_public_routes_are_all_found():
    """The walk above sees the pages it should (a broken walk would fuzz nothing)."""
    routes = public_routes()
    for expected in (
        "tags/<str:slug>/follow/",
        "follow/manage/<str:token>/",
        "news/<slug:slug>/",
        "robots.txt",
    ):
        assert expected in routes
    assert not any(route.startswith(settings.ADMIN_URL) for route in routes)


@pytest.mark.timeout(600)
def test_the_url_space_answers_hostile_segments_and_values_without_a_server_error(
    searchable, no_page_cache, visitor, audit
):
    """Every public route with each hostile segment in each of its parameters (GET, HEAD and POST), and
    every page with each hostile value in each query parameter a page reads, plus a hostile name."""
    tag = searchable[2]
    person = Subscriber.objects.create(email="reader@example.com", confirmed_at=timezone.now())
    Follow.objects.create(subscriber=person, tag=tag)
    signed_pages = [path_of(tokens.follow_url(person, purpose)) for purpose in ("manage", "unsubscribe")]
    pages = [
        "/",
        "/search/",
        "/tags/",
        f"/tags/{tag.slug}/",
        "/sitemap-articles.xml",
        "/feed/",
        *signed_pages,
    ]
    pages.append(searchable[3][0].get_absolute_url())
    requests = 0
    for route in public_routes():
        for segment in HOSTILE_SEGMENTS:
            for path in fuzzed_paths(route, segment):
                for method in ("get", "head", "post"):
                    response = getattr(visitor, method)(path, REMOTE_ADDR=ip(requests))
                    requests += 1
                    audit.response(response, f"{method.upper()} {path[:120]}", segment)
    for page in pages:
        for name in QUERY_NAMES:
            for segment in HOSTILE_SEGMENTS:
                response = visitor.get(f"{page}?{name}={segment}")
                requests += 1
                audit.response(response, f"GET {page}?{name}=", segment)
        for segment in HOSTILE_SEGMENTS[:8]:
            response = visitor.get(f"{page}?{segment}={segment}&page={segment}")
            requests += 1
            audit.response(response, f"GET {page}?<name>=", segment)
    assert Subscriber.objects.count() == 1 and Follow.objects.count() == 1, (
        "a hostile request changed something"
    )
    audit.assert_clean(minimum_responses=requests)


def admin_routes():
    from django.contrib import admin

    for model, model_admin in admin.site._registry.items():
        for pattern in model_admin.urls:
            route = str(pattern.pattern)
            if "<" in route:
                yield f"{settings.ADMIN_URL}{model._meta.app_label}/{model._meta.model_name}/{route}"


@pytest.mark.timeout(600)
def test_the_admin_answers_hostile_ids_and_values_without_a_server_error(searchable, editor_browser, audit):
    """Staff make typos too: every admin address that takes an id, and every changelist's search and
    filters, with each hostile segment."""
    from django.contrib import admin

    requests = 0
    for route in sorted(set(admin_routes())):
        for segment in HOSTILE_SEGMENTS:
            for path in fuzzed_paths(route, segment):
                response = editor_browser.get(path)
                requests += 1
                audit.response(response, f"GET {path[:120]}", segment, mode="admin")
    for model in admin.site._registry:
        changelist = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
        for segment in HOSTILE_SEGMENTS:
            for name in ("q", "o", "p", "status__exact", "section__id__exact", "tags__slug", "all"):
                response = editor_browser.get(f"{changelist}?{name}={segment}")
                requests += 1
                audit.response(response, f"GET {changelist}?{name}=", segment, mode="admin")
    audit.assert_clean(minimum_responses=requests)


def test_nul_anywhere_in_an_address_is_not_found(searchable, visitor):
    """The issue's examples (500s on PostgreSQL) and their kind: NUL in a path segment or in any query
    name or value is a plain 404 on every database, and changes nothing."""
    tag = searchable[2]
    person = Subscriber.objects.create(email="reader@example.com", confirmed_at=timezone.now())
    manage = path_of(tokens.follow_url(person, "manage"))
    for path in ["/tags/%00/", "/tags/%00/feed/", "/tags/%00/feed/atom/", "/news/a%00b/", "/sitemap-%00.xml"]:
        assert visitor.get(path).status_code == 404, path
    assert visitor.post("/tags/%00/follow/", {"email": "nul@example.com"}).status_code == 404
    for address in [f"{manage}?add=%00", f"{manage}?add={tag.slug}%00", f"/tags/{tag.slug}/?page=1%00"]:
        assert visitor.get(address).status_code == 404, address
    assert visitor.get("/search/?q=chips&%00=1").status_code == 404
    assert not Follow.objects.filter(subscriber=person).exists()
    assert Subscriber.objects.count() == 1
