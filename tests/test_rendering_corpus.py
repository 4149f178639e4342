"""Third-party hostile inputs (tests/corpora, see its README) through the real rendering pipeline.

Only properties of our own output are asserted, never other tools' expected HTML: no dangerous element,
no event handler or style attribute, only allowlisted URL schemes, and a stable bleach stage.
One test per corpus file; each loops over its entries and names every failing vector.
"""

import html
import json
import re
from pathlib import Path

import html5lib
import pytest

from articles.rendering import RENDER_TIME_LIMIT, RenderError, clean_html, render_body, render_markdown

CORPORA = Path(__file__).resolve().parent / "corpora"
# file -> the fields of each JSON entry that hold an input (None: the entry itself is the string)
JSON_CORPORA = {
    "xss/dompurify_expect.json": ("payload",),
    "xss/html5lib_sanitizer_tests1.json": ("input",),
    "xss/bleach_regression_cases.json": ("input",),
    "xss/html5sec_items.json": ("data", "data_expanded"),
    "xss/owasp_xss_filter_evasion.json": ("vector",),
    "xss/blns.json": (None,),
    "markdown/markdown_it_xss.json": ("markdown",),
    "markdown/markdown2_security_cases.json": ("markdown",),
    "markdown/commonmark_spec_examples.json": ("markdown",),
}
LINE_CORPORA = [
    *sorted(str(p.relative_to(CORPORA)) for p in (CORPORA / "xss" / "payloadsallthethings").glob("*.txt")),
    "markdown/payloadsallthethings_markdown_xss.txt",
]
REDOS_CORPORA = {"markdown/marked_redos.json": "name", "markdown/markdown_it_fatal.json": "title"}

FORBIDDEN_ELEMENTS = {
    *("script", "style", "iframe", "object", "embed", "svg", "math"),
    *("form", "base", "link", "meta", "input"),
}
ALLOWED_SCHEMES = {"http", "https", "mailto"}
SCHEME_RE = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*):")
INVISIBLE_RE = re.compile(r"[\s\x00-\x1f\x7f-\x9f]+")


def inputs_of(name):
    """Distinct input strings of one corpus file."""
    path = CORPORA / name
    if name.endswith(".txt"):
        values = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    else:
        fields = JSON_CORPORA[name]
        values = [
            entry if field is None else entry[field]
            for entry in json.loads(path.read_text())
            for field in fields
        ]
    assert values and all(isinstance(value, str) for value in values)
    return list(dict.fromkeys(values))


def problems_in(out):
    """Why this rendered HTML is unsafe or unstable; empty when it is fine."""
    problems = []
    for element in html5lib.parse(out, namespaceHTMLElements=False).iter():
        if not isinstance(element.tag, str):  # comments
            continue
        tag = element.tag.rsplit("}", 1)[-1].lower()  # foreign elements come as {namespace}name
        if tag in FORBIDDEN_ELEMENTS:
            problems.append(f"<{tag}> element")
        for name, value in element.attrib.items():
            name = name.rsplit("}", 1)[-1].lower()
            if name.startswith("on") or name == "style":
                problems.append(f"{name}= attribute on <{tag}>")
            if name in ("href", "src"):
                scheme = SCHEME_RE.match(INVISIBLE_RE.sub("", html.unescape(value)))
                if scheme and scheme.group(1).lower() not in ALLOWED_SCHEMES:
                    problems.append(f"{name}={value!r} on <{tag}>")
    if clean_html(out) != out:
        problems.append("clean_html(output) differs from output")
    return problems


def report(name, failures, total):
    lines = [f"{len(failures)} of {total} inputs from {name} failed:"]
    for value, detail in failures[:20]:
        lines.append(f"  input {value[:120]!r}: {detail}")
    return "\n".join(lines)


@pytest.mark.parametrize("name", [*JSON_CORPORA, *LINE_CORPORA])
def test_corpus_renders_safely(name):
    values = inputs_of(name)
    failures = []
    for value in values:
        try:
            out = render_markdown(value)
        except Exception as exc:  # an exception is a failure of this vector, reported below
            failures.append((value, f"raised {exc!r}"))
            continue
        if problems := problems_in(out):
            failures.append((value, f"{'; '.join(problems)} in output {out[:200]!r}"))
    assert not failures, report(name, failures, len(values))


@pytest.mark.timeout(240)  # each input is bounded by RENDER_TIME_LIMIT; without the limit some take >10 s
@pytest.mark.parametrize("name", list(REDOS_CORPORA))
def test_redos_corpus_is_bounded(name):
    entries = json.loads((CORPORA / name).read_text())
    failures = []
    for entry in entries:
        label = entry[REDOS_CORPORA[name]]
        try:
            out = render_body(entry["markdown"], time_limit=RENDER_TIME_LIMIT)
        except RenderError as exc:
            if "too long" not in str(exc) and "took too long" not in str(exc):
                failures.append((label, f"unexpected RenderError {exc}"))
            continue
        except Exception as exc:  # reported below
            failures.append((label, f"raised {exc!r}"))
            continue
        if problems := problems_in(out):
            failures.append((label, "; ".join(problems)))
    assert not failures, report(name, failures, len(entries))
