"""Property-based tests of articles.rendering: for arbitrary input, the output is allowlisted and stable.

The corpus tests (test_rendering_corpus.py) replay known attacks; these generate new inputs from Markdown
and HTML fragments and from arbitrary Unicode, and check the output against what the allowlist is for:
every element, attribute, class, id and URL scheme, plus rel on external links. ``violations`` is the
checker; the plain tests at the top show that it flags known-bad HTML, so a passing property means
something. The checker's allowlist is written out here from the purpose of each entry (README, "Body";
the comments of articles/rendering.py), not imported or copied from the module: a rule loosened there by
mistake is then caught here instead of being agreed with.
"""

import html
import re
import unicodedata
from urllib.parse import urlsplit

import html5lib
import pytest
from django.conf import settings as django_settings
from hypothesis import example, given, settings
from hypothesis import strategies as st

from articles.rendering import clean_html, render_markdown

# derandomize: CI runs are reproducible and a failure seen once is seen again; database=None: no
# example database (its caches in .hypothesis/ are git-ignored). deadline=None: Python-Markdown is
# super-linear on some bracket runs.
PROPERTY_SETTINGS = settings(
    max_examples=500,
    deadline=None,
    derandomize=True,
    database=None,
)

# Text structure and nothing else: what Markdown (with extra, toc, sane_lists and smarty) makes, and the
# same elements written as raw HTML. No h1: the page title is the h1, so a body's h1 becomes an h2. div
# is there for the footnotes block and a highlighted code block, span for the highlighter's tokens and
# the block's language label: bare, both are plain structure, and only their classes are checked.
OUTPUT_TAGS = {
    *("p", "br", "hr", "h2", "h3", "h4", "h5", "h6", "blockquote", "pre", "div", "span"),
    *("a", "strong", "em", "b", "i", "s", "del", "ins", "mark", "sub", "sup", "abbr", "code", "kbd", "img"),
    *("ul", "ol", "li", "dl", "dt", "dd", "table", "thead", "tbody", "tr", "th", "td"),
}
# Listed again on their own, so that a dangerous tag slipping into either allowlist is still named.
NEVER_TAGS = {
    *("script", "style", "iframe", "frame", "frameset", "object", "embed", "applet", "svg", "math"),
    *("form", "input", "button", "textarea", "select", "base", "link", "meta", "template", "noscript"),
}
# A link to another site must not hand it our page (window.opener) nor the address the reader came from.
REQUIRED_REL = ("noopener", "noreferrer")
NEVER_ATTRIBUTES = {"style", "srcset", "formaction", "action", "background", "dynsrc", "lowsrc"}
URL_ATTRIBUTES = {"href", "src"}
# Web pages and mail, or an address on this site (no scheme at all): nothing a browser runs or renders
# in place, so no javascript:, vbscript:, data:, file: and the like.
SAFE_SCHEMES = {"http", "https", "mailto"}
# Matched against the parsed attribute value, i.e. after entity decoding, as the browser sees it.
SCHEME_RE = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*):")
C0_OR_SPACE = "".join(map(chr, range(0x21)))
TAB_OR_NEWLINE_RE = re.compile(r"[\t\n\r]")


def url_readings(value):
    """The ways a URL attribute (already entity-decoded by the parser) can be read for its scheme.

    The first is the WHATWG URL parser's: C0 controls and spaces trimmed at the ends, tab and newline
    removed anywhere. The second removes every whitespace, control and format (zero-width, bidi)
    character, so that an engine more lenient than the spec is covered too.
    """
    browser = TAB_OR_NEWLINE_RE.sub("", value.strip(C0_OR_SPACE))
    lenient = "".join(
        c for c in value if not (c.isspace() or unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp"))
    )
    return browser, lenient


def is_external(href, site_host):
    """Could this link, on one of our https pages, take the reader to another host? mailto is exempt.

    Follows the WHATWG URL parser for http(s) pages: "\\" counts as "/", and any run of slashes before
    the host is skipped, so "///evil.test" and "/\\/evil.test" are https://evil.test/. A URL with a scheme
    counts as leaving unless its host is ours, even "https:path", which a browser resolves on our host:
    erring that way can only ask for a rel that does no harm.
    """
    url = TAB_OR_NEWLINE_RE.sub("", href.strip(C0_OR_SPACE)).replace("\\", "/")
    scheme = SCHEME_RE.match(url)
    if scheme is None and not url.startswith("//"):
        return False  # a path, query or fragment on this site
    if scheme is not None and scheme.group(1).lower() == "mailto":
        return False
    authority = url[scheme.end() if scheme else 0 :].lstrip("/")
    try:
        host = urlsplit(f"//{authority}").hostname
    except ValueError:  # unparseable host, e.g. "http://[::1": assume the worst
        return True
    return bool(host) and host != site_host  # no host at all: an invalid URL, which goes nowhere


def any_value(value):
    """Text a browser only shows or reads as a hint (a tooltip, a width, a list's first number)."""
    return True


def one_of(*allowed):
    """Exactly one of these values: a class the site's stylesheet gives a meaning to."""
    return lambda value: value in allowed


def matches(pattern):
    """A name of exactly this shape, the whole value: no space, quote or anything else around it."""
    return lambda value: re.fullmatch(pattern, value) is not None


# The target a heading can be linked to, up to 128 characters: toc's slug of its text ("_1" after a
# repeat) or attr_list's {#id} ("custom-id", "x:y").
HEADING_ID = matches(r"[\w-][\w:.-]{0,127}")
# Footnotes: the note's li is fn:<label>, its marker's sup fnref:<label>, a second marker fnref2:<label>;
# the label is the author's [^label], up to 64 characters.
FOOTNOTE_ID = matches(r"fn(ref[0-9]*)?:[\w:.-]{1,64}")
# A fenced block's language (```python, ```c++, ```c#), a hook for highlighting: one class, no spaces.
CODE_LANGUAGE = matches(r"language-[\w+#.-]{1,40}")
# A highlighter's token name, which only colours text: Pygments' short names ("k", "s2", "cpf"), one to
# three lower-case letters and digits; or the label naming the block's language.
CODE_TOKEN_OR_LABEL = matches(r"[a-z][a-z0-9]{0,2}|code__language")

# Per element, the attributes it may carry and what each may hold. href and src take any value here:
# their scheme is judged for every element below, with the ways a browser may read it.
ATTRIBUTES_BY_ELEMENT = {
    "a": {
        "href": any_value,
        "title": any_value,
        "rel": any_value,  # an author's own rel is kept; external links must also have REQUIRED_REL
        "class": one_of("footnote-ref", "footnote-backref"),  # the footnote marker and its way back
    },
    "img": {"src": any_value, "alt": any_value, "title": any_value, "width": any_value, "height": any_value},
    "abbr": {"title": any_value},  # the expansion, from Markdown's *[HTML]: definitions
    "ol": {"start": any_value},  # a list that starts at 3
    "th": {"align": any_value, "scope": any_value},  # tables align by attribute: style is never kept
    "td": {"align": any_value},
    "div": {"class": one_of("footnote", "code")},  # the footnotes block, a highlighted code block
    "span": {"class": CODE_TOKEN_OR_LABEL},
    "code": {"class": CODE_LANGUAGE},
    "sup": {"id": FOOTNOTE_ID},
    "li": {"id": FOOTNOTE_ID},
    **{heading: {"id": HEADING_ID} for heading in ("h2", "h3", "h4", "h5", "h6")},
}


def attribute_allowed(tag, name, value):
    """Whether this attribute, with this value, has a purpose on this element (see ATTRIBUTES_BY_ELEMENT)."""
    rule = ATTRIBUTES_BY_ELEMENT.get(tag, {}).get(name)
    return rule is not None and rule(value)


def violations(out):
    """What in this HTML, parsed as the article page's <div> does, breaks the allowlist; empty if nothing."""
    site_host = urlsplit(django_settings.SITE_URL).hostname
    found = []
    root = html5lib.parseFragment(out, container="div", namespaceHTMLElements=False)
    for element in root.iter():
        if element is root:
            continue
        if not isinstance(element.tag, str):  # etree marks comments with a function as the tag
            found.append("comment")
            continue
        tag = element.tag  # foreign (svg/math) elements keep a "{namespace}" prefix, so fail the allowlist
        local_tag = tag.rsplit("}", 1)[-1].lower()
        if tag not in OUTPUT_TAGS or local_tag in NEVER_TAGS:
            found.append(f"<{tag}> element")
        for name, value in element.attrib.items():
            local = name.rsplit("}", 1)[-1].lower()  # xlink:href comes as "{xlink namespace}href"
            if local.startswith("on") or local in NEVER_ATTRIBUTES:
                found.append(f"{name}={value!r} on <{tag}>")
            elif not attribute_allowed(tag, name, value):
                found.append(f"{name}={value!r} not allowed on <{tag}>")
            if local in URL_ATTRIBUTES:
                for reading in url_readings(value):
                    scheme = SCHEME_RE.match(reading)
                    if scheme and scheme.group(1).lower() not in SAFE_SCHEMES:
                        found.append(f"{name}={value!r} on <{tag}>: scheme {scheme.group(1)!r}")
                        break
        href = element.get("href")
        if local_tag == "a" and href is not None and is_external(href, site_host):
            rel = element.get("rel", "").split()
            if not all(token in rel for token in REQUIRED_REL):
                found.append(f"external href={href!r} with rel={element.get('rel')!r}")
    return found


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        ('<a href="javascript:alert(1)">x</a>', "scheme 'javascript'"),
        ('<a href=" java&#9;script:alert(1)">x</a>', "scheme 'javascript'"),
        ('<a href="&#1;JAVASCRIPT&colon;alert(1)">x</a>', "scheme 'JAVASCRIPT'"),
        ('<a href="java\u200bscript:alert(1)">x</a>', "scheme 'javascript'"),
        ('<img src="data:image/svg+xml;base64,PHN2Zz4=">', "scheme 'data'"),
        ('<svg><a xlink:href="javascript:alert(1)">x</a></svg>', "scheme 'javascript'"),
        ("<img src=x onerror=alert(1)>", "onerror='alert(1)' on <img>"),
        ('<p style="color:red">x</p>', "style='color:red' on <p>"),
        ("<script>alert(1)</script>", "<script> element"),
        ("<table><tr><td><style>p{}</style></td></tr></table>", "<style> element"),
        ("<h1>Title</h1>", "<h1> element"),
        ("<section>x</section>", "<section> element"),
        ('<span class="evil">x</span>', "class='evil' not allowed on <span>"),
        ("<!-- note -->", "comment"),
        ('<div class="evil">x</div>', "class='evil' not allowed on <div>"),
        ('<div class="footnote evil">x</div>', "class='footnote evil' not allowed on <div>"),
        ('<code class="language-x y">x</code>', "not allowed on <code>"),
        ('<p id="csrftoken">x</p>', "id='csrftoken' not allowed on <p>"),
        ('<h2 id="a b">x</h2>', "id='a b' not allowed on <h2>"),
        ('<li id="x">x</li>', "id='x' not allowed on <li>"),
        ('<a href="/x" target="_blank">x</a>', "target='_blank' not allowed on <a>"),
        ('<a href="https://evil.test/">x</a>', "external href='https://evil.test/'"),
        ('<a href=" //evil.test/" rel="noopener">x</a>', "external href=' //evil.test/'"),
        ('<a href="/\\evil.test/">x</a>', "external href='/\\\\evil.test/'"),
        ('<a href="///evil.test/">x</a>', "external href='///evil.test/'"),
        ('<a href="https:///evil.test/">x</a>', "external href='https:///evil.test/'"),
        ('<a href="&#1;//evil.test/">x</a>', "external href='\\x01//evil.test/'"),
        ('<a href="https://news.example.com@evil.test/">x</a>', "external href="),
    ],
)
def test_checker_flags_bad_html(bad, reason):
    found = violations(bad)
    assert any(reason in problem for problem in found), found


@pytest.mark.parametrize(
    "href",
    [
        *("/news/", "news/x", "?page=2", "#fn:1", "", "mailto:desk@evil.test", "https://news.example.com/a"),
        *("//NEWS.example.com/a", "HTTPS://news.example.com:443/a", "/\\", "//", "https://"),
    ],
)
def test_checker_accepts_links_that_need_no_rel(href):
    assert violations(f'<a href="{href}">x</a>') == []


def test_checker_accepts_every_feature_the_renderer_produces():
    out = render_markdown(
        '# Title\n\n## Two {#custom-id}\n\nA claim.[^1] See [docs](https://example.org "Docs"), '
        "[home](/news/), [top](#title), [desk](mailto:desk@news.example.com), "
        '[same](https://news.example.com/a) and ![Rack](/media/rack.jpg "Racks").\n\n'
        "*[HTML]: Hyper Text\n\nHTML <kbd>K</kbd> <mark>m</mark> ~~no~~ <del>d</del>\n\n"
        "3. three\n4. four\n\n| L | R |\n|:--|--:|\n| a | b |\n\n```python\nx = 1\n```\n\n"
        "> quote\n\n---\n\nTerm\n:   Definition\n\n[^1]: Source."
    )
    for feature in (
        '<h2 id="title">',
        '<h2 id="custom-id">',
        'class="footnote-ref"',
        'class="footnote-backref"',
        '<div class="footnote">',
        '<li id="fn:1">',
        '<sup id="fnref:1">',
        'rel="noopener noreferrer"',
        '<a href="https://news.example.com/a">',
        '<abbr title="Hyper Text">',
        '<ol start="3">',
        '<th align="left">',
        '<td align="right">',
        'class="language-python"',
        "<img ",
        "<dl>",
    ):
        assert feature in out, feature
    assert violations(out) == []


# Pieces that steer generated text into each branch of the pipeline: Markdown syntax, raw HTML the
# sanitizer must take apart, entity and whitespace tricks in URLs, and characters normalise() handles.
TOKENS = [
    *("\n", "\n\n", "\n\n\n\n", "\r\n", "\r", "\t", "    ", "  \n", " ", "\u00a0", "\u3000"),
    *("<", ">", "&", '"', "'", "`", "``", "```", "~~~", "\\", "/", "=", ";", ":", "!"),
    *("*", "**", "_", "__", "~~", "#", "# ", "## ", "###### ", "|", "| --- |", "|:--|--:|", "-", "- "),
    *("1. ", "3) ", "> ", "---", "***", "===", "+", "[", "]", "(", ")", "[x]", "(y)", "[^1]", "[^1]: "),
    *("[^a b]", "{#id}", "{: #x .y }", " {#x:y}", "{: .footnote }", "*[HTML]: ", "HTML", "Term\n:   "),
    *("<script>", "</script>", "<style>", "</style>", "<svg>", "<math>", "<template>", "<noscript>"),
    *("<iframe src=x>", "<textarea>", "<title>", "<xmp>", "<plaintext>", "<select>", "<table>", "<tr>"),
    *("<td>", "</td>", "<pre>", "</pre>", "<pre>\n\n", "<code>", "<h1>", "</h1>", "<h6>", "<a>", "</a>"),
    *("<p>", "<div>", "</div>", '<div markdown="1">', "<!--", "-->", "<![CDATA[", "]]>", "<?x ?>"),
    *('<img src=x onerror="alert(1)">', '<a href="javascript:alert(1)">', "<base href=//evil.test>"),
    *("&#106;", "&#x6A;", "&#0;", "&#1;", "&#9;", "&#x80;", "&#65279;", "&amp;", "&lt;", "&colon;"),
    *("&Tab;", "&NewLine;", "&nbsp;", "&", "\u200b", "\u200d", "\u200e", "\u202e", "\u2066", "\ufeff"),
    *("\u2028", "\x00", "\x01", "\x02", "\x03", "\x1b", "\x85", "\u0301", "\U0001f600", "ß", "İ"),
    *("http://", "https://", "//", "mailto:", "javascript:", "news.example.com", "evil.test", "@"),
]
URL_PARTS = [
    *("javascript", "JaVaScRiPt", "java\tscript", "java\nscript", "java&#x09;script", "&#106;avascript"),
    *("jav&Tab;ascript", "java\u200bscript", " \x01javascript", "vbscript", "data", "file", "ftp"),
    *("http", "https", "HTTPS", "mailto", ":", "&colon;", "&#58;", "&#x3A;", "//", "/", "\\", "/\\"),
    *("news.example.com", "evil.test", "news.example.com@evil.test", "[::1", "#", "?", "%0a", "%"),
    *("alert(1)", "(", ")", " ", "\t", "\x01", "&#1;", "&amp;", "&amp;#106;", '"', "'", "<", ">", "x"),
    *("javascript:123", "JAVASCRIPT:0", "data:80", "evil.test:443"),
]
TAGS = [
    *("a", "img", "p", "h1", "h2", "h6", "div", "span", "code", "pre", "sup", "li", "ol", "td", "th"),
    *("table", "abbr", "script", "style", "svg", "math", "iframe", "object", "embed", "form", "input"),
    *("base", "template", "noscript", "textarea", "title", "select", "xmp", "A", "IMG", "sCrIpT"),
]
ATTRIBUTES = [
    *("href", "src", "HREF", "onerror", "onclick", "ONLOAD", "style", "class", "id", "rel", "title"),
    *("alt", "width", "start", "align", "scope", "srcset", "formaction", "xlink:href", "target", "x"),
]
ATTRIBUTE_VALUES = [
    *("footnote", "footnote-ref", "footnote-backref", "footnote evil", "language-python", "language-x y"),
    *("fn:1", "fnref:1", "fnref2:1", "fn:", "_1", "a b", "toc", "noopener", "nofollow", "1", "left"),
]

# Trees the HTML parser rearranges (misnesting, the newline it eats after <pre>): a sanitized tree that
# does not survive serialising and re-parsing makes clean_html unstable.
AWKWARD_HTML = [
    *("<pre>\n\n", "<pre>\n", "<table><tr><td><pre>\n\n", "<h1><a><h6>", "<h2><h3>", "</h6></a></h1>"),
    *("<p><div>", "<a><a>", "<table><td>", "<li><ol><li>", "<sup><sup>", "<code><pre>", "<dl><dt><dd>"),
]
text_anything = st.text(max_size=200)  # any code point but surrogates: controls, bidi, zero-width
# Whole URLs, so that links to other hosts (which need rel) and disguised schemes are common; and loose
# concatenations of parts for everything in between.
structured_urls = st.builds(
    "".join,
    st.tuples(
        st.sampled_from(["", " ", "\t", "\x01", "&#1;", "&#x20;", "\u200b", "\n"]),
        st.sampled_from(["", "http", "https", "HtTpS", "mailto", "javascript", "java\tscript", "data", "x"]),
        st.sampled_from([":", "&colon;", "&#58;", "&#x3A;", ""]),
        st.sampled_from(["//", "", "/", "/\\", "\\\\", "///", "/\t/", "#", "?"]),
        # bleach reads "javascript:123" as host and port and keeps it; only our own check removes it
        st.sampled_from(
            ["news.example.com", "NEWS.example.com", "evil.test", "news.example.com@evil.test", "123"]
        ),
        st.sampled_from(["", "/", "/a?b#c", "alert(1)", ":80", "/x y", "/<x>"]),
    ),
)
# Scheme tricks bleach's own protocol check lets through ("javascript:123" reads as host and port).
TRICKY_URLS = [
    *("javascript:123", "JAVASCRIPT:0", "javascript:alert(1)", "data:80", "vbscript:1", "evil.test:443"),
    *("&#106;avascript:0", "java&#x09;script:1", "jav&Tab;ascript:1", " &#1;javascript:1", "///evil.test"),
    *("javascript&colon;1", "&amp;#106;avascript:0", "\x01javascript:1", "java\u200bscript:1", "/\\/x.test"),
]
urls = st.one_of(
    st.sampled_from(TRICKY_URLS),
    structured_urls,
    st.lists(st.sampled_from(URL_PARTS), max_size=6).map("".join),
)
attribute_values = st.one_of(urls, st.sampled_from(ATTRIBUTE_VALUES), st.text(max_size=8))


@st.composite
def html_tags(draw):
    tag = draw(st.sampled_from(TAGS))
    if draw(st.integers(0, 3)) == 0:
        return f"</{tag}>"
    attributes = ""
    for _ in range(draw(st.integers(0, 3))):
        name, value = draw(st.sampled_from(ATTRIBUTES)), draw(attribute_values)
        quote = draw(st.sampled_from(['"', "'", ""]))
        attributes += f" {name}={quote}{value}{quote}"
    return f"<{tag}{attributes}{draw(st.sampled_from(['>', '>', '>', '/>', ' >', '']))}"


@st.composite
def html_links(draw):
    url, quote = draw(urls), draw(st.sampled_from(['"', "'", ""]))
    rel = draw(st.sampled_from(["", ' rel="nofollow"', " rel=noopener", ' rel=""', " REL=x"]))
    if draw(st.booleans()):
        return f"<a{rel} href={quote}{url}{quote}>x</a>"
    return f"<img src={quote}{url}{quote} alt=a>"


@st.composite
def markdown_links(draw):
    bang = draw(st.sampled_from(["", "!"]))
    label = draw(st.sampled_from(["x", "", "a b", "`c`", "*e*", "[n]", "<b>"]))
    url = draw(urls)
    title = draw(st.sampled_from(["", ' "t"', " 't'", ' "a\\"b"']))
    form = draw(st.sampled_from(["inline", "angle", "reference", "autolink"]))
    if form == "inline":
        return f"{bang}[{label}]({url}{title})"
    if form == "angle":
        return f"{bang}[{label}](<{url}>{title})"
    if form == "reference":
        return f"{bang}[{label}][r]\n\n[r]: {url}{title}\n"
    return f"<{url}>"


words = st.one_of(
    st.sampled_from(["a", "Hi", "x y", "_1", "a:b", "<b>", "&amp;", "\u05d0", "`c`"]), st.text(max_size=5)
)


@st.composite
def markdown_blocks(draw):
    """Constructs that produce ids, classes and attributes, which loose fragments rarely complete."""
    word, other = draw(words), draw(words)
    align = draw(st.sampled_from(["-:", ":-:", "-"]))
    return "\n\n" + draw(
        st.sampled_from(
            [
                f"{'#' * draw(st.integers(1, 7))} {word} {{#{other}}}",
                f"{word}\n{{: #{other} .{word} }}",
                f"```{other}\n{word}\n```",
                f"~~~ {{.{other} #{word}}}\n{word}\n~~~",
                f"{word}[^{other}]\n\n[^{other}]: {word}",
                f"| {word} | {other} |\n|:-|{align}|\n| {other} | {word} |",
                f"*[{word}]: {other}\n\n{word}",
                f"{draw(st.integers(0, 10**12))}. {word}\n1. {other}",
                f'<div markdown="1">\n{word} {other}\n</div>',
                f"{word}\n:   {other}",
            ]
        )
    )


fragments = st.one_of(
    st.sampled_from(TOKENS),
    st.sampled_from(AWKWARD_HTML),
    html_tags(),
    html_links(),
    markdown_links(),
    markdown_blocks(),
    urls,
    st.text(max_size=6),
    st.just("word "),
)
markdown_ish = st.lists(fragments, max_size=40).map("".join)
bodies = st.one_of(markdown_ish, text_anything)
# Raw HTML for clean_html alone: Markdown would escape or re-wrap much of it before bleach sees it.
html_ish = st.lists(
    st.one_of(
        html_tags(),
        html_links(),
        st.sampled_from(AWKWARD_HTML),
        st.sampled_from(TOKENS),
        urls,
        st.text(max_size=6),
    ),
    max_size=40,
).map("".join)


# The @example inputs are counterexamples found by longer random runs, pinned so that every run tries them.
@PROPERTY_SETTINGS
@given(bodies)
@example("[x](///evil.test)")  # a browser reads "///host" as "//host": external, so it needs rel
@example('<a href="&#1;/\\/evil.test">x</a>')
def test_rendered_markdown_is_allowlisted(body):
    out = render_markdown(body)
    assert violations(out) == [], out


@PROPERTY_SETTINGS
@given(bodies)
@example("<a title='\"&'>x</a>")  # single-quoted attribute values are escaped once more on every pass
@example("<h2><li><h3><li>x")  # dropping the nested <h3> leaves <li> in <li>, which a re-parse splits
@example("1. <table>\n1. b")  # the parser moves the second <li> out of the table, into the first <li>
def test_rendered_markdown_is_stable(body):
    # render_markdown(render_markdown(x)) is not asserted: the output's text keeps Markdown syntax that
    # the input escaped (r"\*a\*" gives <p>*a*</p>, which a second pass turns into <em>), so a second
    # pass is a different document by design. What must hold is that the stored HTML is a fixed point of
    # the sanitizer, so re-cleaning stored bodies changes nothing, and that rendering is deterministic.
    out = render_markdown(body)
    again = clean_html(out)
    assert again == out, f"clean_html changed the output:\n{out!r}\n{again!r}"
    assert render_markdown(body) == out


@PROPERTY_SETTINGS
@given(html_ish)
@example("<a title='\"&'>x</a>")
@example("<a href='////evil.test'>x</a>")
@example("<h6><li><h6><li>")
@example("<a><table><a>")  # the inner <a> is moved before the table, into the outer <a>
def test_clean_html_output_is_allowlisted_and_idempotent(fragment):
    once = clean_html(fragment)
    assert violations(once) == [], once
    twice = clean_html(once)
    assert twice == once, f"clean_html is not idempotent:\n{once!r}\n{twice!r}"


def in_context(tag, element):
    """The element where the parser keeps it: a table's parts inside a table."""
    if tag in ("td", "th"):
        return f"<table><tr>{element}</tr></table>"
    if tag in ("tr", "thead", "tbody"):
        return f"<table>{element}</table>"
    return element


def test_clean_html_keeps_only_attributes_with_a_purpose():
    """Every attribute name of the generators on every element, with every value: in random fragments a
    given element and attribute name meet in well under 1 in 100 generated tags, too rarely to be sure
    of catching one loosened rule."""
    found = []
    for tag in sorted({*OUTPUT_TAGS, "h1", *(name.lower() for name in TAGS)}):
        for value in [*ATTRIBUTE_VALUES, *TRICKY_URLS, "_blank", "https://evil.test/"]:
            attributes = " ".join(f'{name}="{html.escape(value)}"' for name in ATTRIBUTES)
            out = clean_html(in_context(tag, f"<{tag} {attributes}>x</{tag}>"))
            found += [f"<{tag}> with {value!r}: {problem}" for problem in violations(out)]
    assert found == []
