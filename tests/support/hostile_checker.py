"""What counts as unsafe in a page, and ``Audit``, which judges every response of the hostile-input tests.

"Unsafe" is judged on the page as a browser builds it (html5lib), see ``unsafe_parts``. html5lib is slow:
``Audit`` hands the pages to a forked worker on the second core while the requests go on in the test.
The checker's own tests are in tests/test_hostile_harness.py.
"""

import json
import re
import traceback
import xml.etree.ElementTree as ET
from pathlib import Path
from urllib.parse import urlsplit

import html5lib
import pytest
from django.conf import settings

from tests.test_rendering_corpus import ALLOWED_SCHEMES

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


# The public pages' own scripts, by name (static files, no inline code): the Most read beacon on every
# story, the players' loader on a story with embeds, a live story's updater. Anything else is a script
# someone got in.
PUBLIC_SCRIPTS = {"/static/js/mostread.js", "/static/js/embeds.js", "/static/js/live.js"}


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
    if attrs.get("src") in PUBLIC_SCRIPTS and not text.strip():
        return None
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


# --- judging responses --------------------------------------------------------------------------------


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
