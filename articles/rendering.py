"""Article body rendering: pasted Markdown -> sanitised HTML, stored in ``body_html``.

Pipeline: ``normalise`` -> Python-Markdown (with ``MediaBlocks``: library figures and embeds become
placeholders) -> ``highlight_code`` (Pygments, fenced blocks with a language) -> ``clean_html`` (bleach
allowlist + ``_PostFilter``) -> the placeholders replaced by figures and embeds we build ourselves.
``render_markdown`` is the pure pipeline; ``render_body`` and ``render_story`` add the length and time
limits.
"""

import html
import re
import secrets
from dataclasses import dataclass, field
from typing import NamedTuple
from urllib.parse import urlsplit
from xml.etree import ElementTree

import html5lib
import markdown
from bleach import html5lib_shim
from bleach.sanitizer import Cleaner
from django.conf import settings
from markdown.blockprocessors import BlockProcessor
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import get_lexer_by_name
from pygments.token import STANDARD_TYPES
from pygments.util import ClassNotFound

from articles import figures
from articles.timelimit import ChildDied, TimeLimitExceeded, run_with_time_limit

RENDERER_VERSION = 6  # bump when the output changes, so stored body_html can be re-rendered

# A long-read is ~60k characters; 200k leaves room for the longest features while keeping the worst
# legitimate input well inside the time limit (a 200k-char article renders in well under a second).
MAX_BODY_CHARS = 200_000
# Ordinary bodies take milliseconds; 3 s leaves ample headroom on a loaded server and keeps an admin
# save far below the web server's request timeout when Python-Markdown hits a super-linear case.
RENDER_TIME_LIMIT = 3.0
WORDS_PER_MINUTE = 230
# Extra bleach passes until the output is stable; real and hostile inputs settle after one or two.
MAX_CLEAN_PASSES = 3

TOO_LONG = "The body is too long: {n:,} characters; the limit is {limit:,}."
TOO_SLOW = (
    "The body took too long to format (over {limit:g} second{s}). "
    "Look for long runs of brackets or other unusual characters."
)
FAILED = "The body could not be formatted ({detail})."

MARKDOWN_EXTENSIONS = ["extra", "toc", "sane_lists", "smarty"]
# Table alignment as align="", because inline style attributes are stripped.
MARKDOWN_CONFIG = {"extra": {"tables": {"use_align_attribute": True}}}

# h1 is accepted only to be demoted to h2 (the page title is the h1); div only for the footnotes block.
ALLOWED_TAGS = frozenset(
    {"p", "br", "hr", "h1", "h2", "h3", "h4", "h5", "h6", "a", "strong", "em", "b", "i", "s", "del", "ins"}
    | {"mark", "sub", "sup", "abbr", "code", "pre", "kbd", "blockquote", "ul", "ol", "li", "dl", "dt", "dd"}
    | {"table", "thead", "tbody", "tr", "th", "td", "img", "div", "span"}
)
# Passed to bleach as "allowed" so that html5lib parses them as real elements (script/style content as
# raw text), then _PostFilter drops each with everything inside. Plain bleach strip=True would keep
# "alert(1)" of <script>alert(1)</script> as visible text.
DROP_WITH_CONTENT = frozenset(
    {"script", "style", "template", "iframe", "object", "embed", "applet", "noscript", "noembed"}
    | {"noframes", "svg", "math"}
)
ALLOWED_ATTRIBUTES = {
    "a": {"href", "title", "rel"},
    "abbr": {"title"},
    "img": {"src", "alt", "title", "width", "height"},
    "ol": {"start"},
    "th": {"align", "scope"},
    "td": {"align"},
}
# Pygments' short token classes ("k" keyword, "s2" string, …): the stylesheet colours them, in code only.
HIGHLIGHT_CLASSES = frozenset(STANDARD_TYPES.values()) - {""}
ALLOWED_CLASSES = {
    "div": {"footnote", "code"},
    "a": {"footnote-ref", "footnote-backref"},
    "span": HIGHLIGHT_CLASSES | {"code__language"},
}
CODE_CLASS_RE = re.compile(r"language-[\w+#.-]{1,40}\Z")  # fenced_code's ```lang, for highlighting
HEADING_ID_RE = re.compile(r"[\w-][\w:.-]{0,127}\Z")  # toc slugs, "_1", attr_list {#id}
FOOTNOTE_ID_RE = re.compile(r"fn(ref\d*)?:[\w:.-]{1,64}\Z")  # footnotes' fn:1 / fnref:1 / fnref2:1
ALLOWED_PROTOCOLS = frozenset({"http", "https", "mailto"})
EXTERNAL_REL = ("noopener", "noreferrer")
HEADINGS = frozenset({"h1", "h2", "h3", "h4", "h5", "h6"})

_LEADING_INVISIBLE = "\ufeff\u200b\u200c\u200d\u2060"
# Unicode spaces (str.isspace) plus zero-width ones: none of them is meaningful at a line end.
_TRAILING_SPACE = " \t\x0b\x0c\x1c\x1d\x1e\x1f\x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006"
_TRAILING_SPACE += "\u2007\u2008\u2009\u200a\u200b\u2028\u2029\u202f\u205f\u2060\u3000\ufeff"
# C0/C1 controls except \t and \n; this also removes Python-Markdown's own \x02/\x03 placeholders.
_CONTROL_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_BLANK_RUN_RE = re.compile(r"\n{4,}")  # three or more blank lines
_SCHEME_RE = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*):")
_NOT_URL_CHAR_RE = re.compile(r"[^\x21-\x5f\x61-\x7e]+")  # whitespace, controls, backtick, non-ASCII
# What the WHATWG URL parser ignores: C0 controls and spaces at either end, tabs and newlines anywhere.
_URL_EDGE_CHARS = "".join(map(chr, range(0x21)))
_URL_TAB_NEWLINE_RE = re.compile(r"[\t\n\r]")
_EXTRA_SLASHES_RE = re.compile(r"\A([A-Za-z][A-Za-z0-9+.-]*:)?/{2,}")
_WORD_RE = re.compile(r"\w+(?:['’.-]\w+)*")
_SPACE_RUN_RE = re.compile(r"\s+")


class RenderError(ValueError):
    """The body cannot be rendered; the message is meant for the author."""


def strip_controls(text: str) -> str:
    """Remove control characters (but tab and newline): pasted into a headline they break XML feeds."""
    return _CONTROL_RE.sub("", text)


def normalise(text: str) -> str:
    """Undo pasted-text quirks (line ends, trailing NBSP, controls, blank-line runs)."""
    text = text.lstrip(_LEADING_INVISIBLE).replace("\r\n", "\n").replace("\r", "\n")
    text = strip_controls(text)
    lines = []
    for line in text.split("\n"):  # per line, not a regex: "a" + " " * 10**5 + "b" must stay linear
        stripped = line.rstrip(_TRAILING_SPACE)
        trailing = line[len(stripped) :]
        # Two+ plain spaces ending a line are Markdown's hard line break (<br>): keep exactly two.
        lines.append(
            stripped + "  " if stripped and len(trailing) > 1 and not trailing.strip(" ") else stripped
        )
    return _BLANK_RUN_RE.sub("\n\n", "\n".join(lines)).strip("\n")


# A fenced block as Python-Markdown's fenced_code writes it: its language, then the code, escaped (no "<").
_FENCED_CODE_RE = re.compile(r'<pre><code class="language-([\w+#.-]{1,40})">([^<]*)</code></pre>')


def _highlighted(match: re.Match) -> str:
    language, code = match.groups()
    try:
        lexer = get_lexer_by_name(language, stripnl=False)
    except ClassNotFound:
        return match.group(0)  # a language Pygments does not know: plain code, as written
    tokens = highlight(html.unescape(code), lexer, HtmlFormatter(nowrap=True))
    return (
        f'<div class="code"><span class="code__language">{html.escape(lexer.name)}</span>'
        f'<pre><code class="language-{language}">{tokens}</code></pre></div>'
    )


def highlight_code(fragment: str) -> str:
    """Colour the fenced code blocks that name a language Pygments knows, with CSS classes only, under
    a visible label naming the language. Classes, not inline styles: the palette is the stylesheet's
    (light and dark), and the sanitizer still judges every tag the highlighter writes."""
    return _FENCED_CODE_RE.sub(_highlighted, fragment)


def _allow_attribute(tag: str, name: str, value: str) -> bool:
    """bleach attribute policy: fixed names per tag, known class values, ids only where we make them."""
    if name in ALLOWED_ATTRIBUTES.get(tag, ()):
        return True
    if name == "class":
        return value in ALLOWED_CLASSES.get(tag, ()) or (tag == "code" and bool(CODE_CLASS_RE.match(value)))
    if name == "id":
        if tag in HEADINGS:
            return bool(HEADING_ID_RE.match(value))
        return tag in ("sup", "li") and bool(FOOTNOTE_ID_RE.match(value))
    return False


def _url_is_allowed(value: str) -> bool:
    """Own scheme check: bleach reads "javascript:123" as a port and keeps it."""
    for _ in range(3):  # entity-decode up to three levels: stricter than a browser, which decodes once
        value = html.unescape(value)
    scheme = _SCHEME_RE.match(_NOT_URL_CHAR_RE.sub("", value))
    return scheme is None or scheme.group(1).lower() in ALLOWED_PROTOCOLS


def _is_external(value: str, site_host: str | None) -> bool:
    """Absolute (or scheme-/protocol-relative) link to another host than SITE_URL's, read the way a
    browser's URL parser reads it: "///host", "/\\host" and " //host" all lead to host."""
    url = html.unescape(value).strip(_URL_EDGE_CHARS).replace("\\", "/")
    url = _URL_TAB_NEWLINE_RE.sub("", url)
    url = _EXTRA_SLASHES_RE.sub(r"\1//", url)  # any run of slashes before the host counts as two
    try:
        parts = urlsplit(url)
    except ValueError:  # e.g. "http://[::1": unparseable, so treat it as foreign
        return True
    return bool(parts.scheme or parts.netloc) and parts.scheme != "mailto" and parts.hostname != site_host


# Elements whose content the parser reads as text up to their own end tag ("raw text" and "RCDATA"), or
# never ends (plaintext), and dropped elements that hold ordinary content: opened and never closed, each
# would take everything after it, the rest of the story, with it.
RAW_TEXT_ELEMENTS = frozenset(
    {"script", "style", "xmp", "iframe", "noembed", "noframes", "noscript", "textarea", "title"}
)
_SWALLOWING_RE = re.compile(
    r"<!--|<(/?)(script|style|xmp|iframe|noembed|noframes|noscript|textarea|title|plaintext"
    r"|template|object|applet)(?=[\s/>])",
    re.IGNORECASE,
)


def escape_unclosed(fragment: str) -> str:
    """``fragment`` with the "<" of every element (or comment) that is opened and never closed turned into
    "&lt;", so the text after it is kept (showing the stray tag) instead of vanishing with it.

    An editor who pastes "<style>" and nothing to close it should see that on the preview, not lose the
    paragraphs below it. Closed ones are left alone: a whole <script>…</script> still goes, as intended.
    """
    unclosed, open_elements, never_closed = [], {}, set()
    position = 0
    while match := _SWALLOWING_RE.search(fragment, position):
        start, position = match.start(), match.end()
        closing, name = match.group(1), (match.group(2) or "").lower()
        if not name:  # a comment runs to the first "-->" ("<!-->" and "<!--->" close themselves)
            end = -1 if "--" in never_closed else fragment.find("-->", start + 2)
            if end == -1:
                never_closed.add("--")
                unclosed.append(start)
            else:
                position = end + 3
        elif closing:
            if open_elements.get(name):
                open_elements[name].pop()
        elif name == "plaintext":
            unclosed.append(start)
        elif name in RAW_TEXT_ELEMENTS:
            # Its content is text up to the first "</name": nothing inside can open or close anything.
            end = (
                None
                if name in never_closed
                else re.compile(rf"</{name}[\s/>]", re.I).search(fragment, position)
            )
            if end is None:
                never_closed.add(name)  # so a thousand stray openers cost one search, not a thousand
                unclosed.append(start)
            else:
                position = end.end()
        else:
            open_elements.setdefault(name, []).append(start)
    unclosed.extend(start for starts in open_elements.values() for start in starts)
    for start in sorted(unclosed, reverse=True):
        fragment = f"{fragment[:start]}&lt;{fragment[start + 1 :]}"
    return fragment


class _PostFilter(html5lib_shim.Filter):
    """Runs after bleach's sanitizer: drop DROP_WITH_CONTENT subtrees, demote h1, check URLs, add rel."""

    def __iter__(self):
        site_host = urlsplit(settings.SITE_URL).hostname
        dropping = 0  # depth inside a dropped element; the token stream comes from a tree, so it nests
        after_pre = False
        open_headings = []  # per open heading: True if its tags are dropped (nested in another heading)
        for token in super().__iter__():
            kind, name = token["type"], token.get("name")
            # The two fixes below keep clean_html idempotent: both trees survive parsing but not a
            # serialise-and-reparse round trip (<h1><a><h6> nests headings; one newline after <pre> is
            # eaten by the parser, except in html5lib's table cells).
            if after_pre and kind in ("Characters", "SpaceCharacters"):
                token["data"] = token["data"].lstrip("\n")
            after_pre = kind == "StartTag" and name == "pre"
            if name in DROP_WITH_CONTENT and kind in ("StartTag", "EndTag", "EmptyTag"):
                dropping += {"StartTag": 1, "EndTag": -1}.get(kind, 0)
                continue
            if dropping:
                continue
            if name in HEADINGS and kind == "StartTag":
                open_headings.append(bool(open_headings))
                if open_headings[-1]:
                    continue
            elif name in HEADINGS and kind == "EndTag" and open_headings.pop():
                continue
            if name == "h1" and kind in ("StartTag", "EndTag"):
                token["name"] = "h2"
            if kind in ("StartTag", "EmptyTag") and name in ("a", "img"):
                attrs = token["data"]
                for key in [(None, "href"), (None, "src")]:
                    if key in attrs and not _url_is_allowed(attrs[key]):
                        del attrs[key]
                if name == "img" and (None, "src") not in attrs:
                    continue  # an image without a (safe) source shows nothing
                if name == "img" and _is_external(attrs[(None, "src")], site_host):
                    # Another site's picture would tell it who reads what: a link the reader may follow.
                    yield from _link_instead(attrs)
                    continue
                href = attrs.get((None, "href"))
                if href is not None and _is_external(href, site_host):
                    rel = attrs.get((None, "rel"), "").split()
                    attrs[(None, "rel")] = " ".join(rel + [r for r in EXTERNAL_REL if r not in rel])
            yield token


def _link_instead(image_attrs):
    """Tokens of a link to a picture on another site, named by its alt text."""
    text = image_attrs.get((None, "alt"), "").strip() or "Picture"
    yield {
        "type": "StartTag",
        "name": "a",
        "namespace": None,
        "data": {(None, "href"): image_attrs[(None, "src")], (None, "rel"): " ".join(EXTERNAL_REL)},
    }
    yield {"type": "Characters", "data": f"{text} (picture on another site)"}
    yield {"type": "EndTag", "name": "a", "namespace": None}


def clean_html(fragment: str) -> str:
    """The bleach stage alone (idempotent). A new Cleaner per call: Cleaner is not thread-safe.

    Cleaned again until nothing changes: dropping an element (a heading nested in a heading) or the
    parser's own repairs (content moved out of a table) can leave a tree that parses differently the
    next time, and the stored HTML must be what the next clean (a re-render, an edit) would also give.
    """
    cleaner = Cleaner(
        tags=ALLOWED_TAGS | DROP_WITH_CONTENT,
        attributes=_allow_attribute,
        protocols=ALLOWED_PROTOCOLS,
        strip=True,
        strip_comments=True,
        filters=[_PostFilter],
    )
    # Always double quotes: bleach undoes its escaping of "&" only inside double-quoted values, so a
    # value holding a quote (which html5lib would single-quote) gained an "&amp;" on every pass.
    cleaner.serializer.use_best_quote_char = False
    cleaned = cleaner.clean(escape_unclosed(fragment))
    for _ in range(MAX_CLEAN_PASSES):
        again = cleaner.clean(cleaned)
        if again == cleaned:
            break
        cleaned = again
    return cleaned


@dataclass(frozen=True)
class StoryMedia:
    """What a body may show beyond its text, looked up by the caller (the child has no database):
    library images by number (figures.FigureImage) and embed facades by URL (trusted HTML)."""

    images: dict = field(default_factory=dict)
    embeds: dict = field(default_factory=dict)


NO_MEDIA = StoryMedia()


class Rendered(NamedTuple):
    html: str
    image_ids: tuple  # library images shown, in order of first appearance
    embed_urls: tuple
    missing_image_ids: tuple  # named by a figure line, not in the library


class MediaBlocks(BlockProcessor):
    """A paragraph of library figure lines, or a known embed URL alone on its line, becomes a
    placeholder that ``render_story`` replaces after bleach with markup built by our own code.

    The placeholder holds a random word chosen for this render, so no body can write one; and what
    replaces it never passes through the sanitizer, which would strip the <picture> and <source>
    it allows nobody else.
    """

    def __init__(self, parser, media, nonce):
        super().__init__(parser)
        self.media, self.nonce, self.items = media, nonce, []

    def test(self, parent, block):
        return block.strip() in self.media.embeds or figures.figure_lines(block) is not None

    def run(self, parent, blocks):
        block = blocks.pop(0)
        placeholder = ElementTree.SubElement(parent, "p")
        placeholder.text = f"media{self.nonce}x{len(self.items)}"
        url = block.strip()
        if url in self.media.embeds:
            self.items.append(("embed", url))
            return
        # The first picture of a story may be in view at once: it alone is fetched without waiting.
        first_screen = parent is self.parser.root and len(parent) <= 2
        eager = first_screen and not any(kind == "figures" for kind, _ in self.items)
        self.items.append(("figures", (figures.figure_lines(block), eager)))


def render_markdown(text: str) -> str:
    """The whole pipeline for a body without media, in process and without limits."""
    return render_story(text, NO_MEDIA).html


def render_story(text: str, media: StoryMedia) -> Rendered:
    """The whole pipeline, in process and without limits. A new Markdown per call: it is stateful."""
    md = markdown.Markdown(extensions=MARKDOWN_EXTENSIONS, extension_configs=MARKDOWN_CONFIG)
    nonce = secrets.token_hex(8)
    blocks = MediaBlocks(md.parser, media, nonce)
    # After indented code (80), so four spaces still make code; before everything that reads "!" or "[".
    md.parser.blockprocessors.register(blocks, "story_media", 75)
    cleaned = clean_html(highlight_code(md.convert(normalise(text))))
    image_ids, embed_urls, missing = [], [], []

    def replace(match):
        kind, item = blocks.items[int(match.group(1))]
        if kind == "embed":
            embed_urls.append(item)
            return media.embeds[item]
        lines, eager = item
        for line in lines:
            (image_ids if line.image_id in media.images else missing).append(line.image_id)
        return figures.figures_html(lines, media.images, eager=eager)

    final = re.sub(rf"<p>media{nonce}x(\d+)</p>", replace, cleaned)
    return Rendered(final, *(tuple(dict.fromkeys(found)) for found in (image_ids, embed_urls, missing)))


_warmed_up = False


def render_body(text: str, *, time_limit: float = RENDER_TIME_LIMIT) -> str:
    """``render_story`` for text that shows no media (tag descriptions), as HTML."""
    return render_story_limited(text, NO_MEDIA, time_limit=time_limit).html


def render_story_limited(text: str, media: StoryMedia, *, time_limit: float = RENDER_TIME_LIMIT) -> Rendered:
    """Length check, then ``render_story`` in a forked child that is killed after ``time_limit``.

    Python-Markdown has super-linear cases ('[' * 100000 takes >10 s) and a thread cannot be stopped.
    Raises RenderError, with a message for the author, instead of hanging.
    """
    global _warmed_up
    if len(text) > MAX_BODY_CHARS:
        raise RenderError(TOO_LONG.format(n=len(text), limit=MAX_BODY_CHARS))
    if not _warmed_up:
        # Lazy imports (Markdown extensions, html5lib builders) here, in the parent, before any fork.
        render_markdown("# w\n\n*w* [w](/w)\n\n```python\nw = 1\n```")
        _warmed_up = True
    try:
        return run_with_time_limit(render_story, (text, media), time_limit)
    except TimeLimitExceeded:
        raise RenderError(TOO_SLOW.format(limit=time_limit, s="" if time_limit == 1 else "s")) from None
    except ChildDied:
        raise RenderError(FAILED.format(detail="the formatting process stopped unexpectedly")) from None
    except Exception as exc:
        raise RenderError(FAILED.format(detail=f"{type(exc).__name__}: {exc}"[:300])) from None


def count_words(text: str) -> int:
    """Words as reading time counts them: "isn't", "U.S." and "well-known" are one word each."""
    return len(_WORD_RE.findall(text))


def minutes_to_read(words: int) -> int:
    """Whole minutes for ``words`` words at WORDS_PER_MINUTE (rounded, at least 1)."""
    return max(1, round(words / WORDS_PER_MINUTE))


def reading_time_minutes(text: str) -> int:
    """Whole minutes at WORDS_PER_MINUTE (rounded, at least 1)."""
    return minutes_to_read(count_words(text))


def plain_excerpt(html_text: str, max_chars: int = 200) -> str:
    """Plain text of the first paragraph(s), whitespace collapsed, cut on a word boundary with "…"."""
    root = _excerpt_tree(html_text)
    # Without paragraph text (a body that is only a list, say), the whole text is the excerpt.
    return excerpt_of_paragraphs(_paragraph_texts(root), max_chars) or truncate_on_word(
        _SPACE_RUN_RE.sub(" ", "".join(root.itertext())).strip(), max_chars
    )


def paragraph_texts(html_text: str) -> list[str]:
    """The text of each paragraph of ``html_text`` as plain_excerpt reads it: footnotes left out.

    With excerpt_of_paragraphs, for a caller that fills the same paragraphs with different words many
    times (seed_bulk) and must get what plain_excerpt would, without parsing HTML each time.
    """
    return list(_paragraph_texts(_excerpt_tree(html_text)))


def excerpt_of_paragraphs(paragraphs, max_chars: int = 200) -> str:
    """plain_excerpt's cut over paragraph texts (any iterable; read only as far as the excerpt needs)."""
    text = ""
    for para in paragraphs:
        text = _SPACE_RUN_RE.sub(" ", f"{text} {para}").strip()
        if len(text) >= max_chars:
            break
    return truncate_on_word(text, max_chars)


def _excerpt_tree(html_text):
    root = html5lib.parseFragment(html_text, namespaceHTMLElements=False)
    for sup in root.iter("sup"):  # footnote markers would glue digits onto words
        if sup.get("id", "").startswith("fnref"):
            tail = sup.tail
            sup.clear()
            sup.tail = tail
    return root


def _paragraph_texts(root):
    notes = {
        id(p) for div in root.iter("div") if "footnote" in div.get("class", "").split() for p in div.iter("p")
    }
    return ("".join(para.itertext()) for para in root.iter("p") if id(para) not in notes)


def truncate_on_word(text: str, max_chars: int) -> str:
    """``text`` cut on a word boundary to at most ``max_chars``, with "…" when cut."""
    if len(text) <= max_chars:
        return text
    cut = text[: max_chars - 1]
    if not text[max_chars - 1].isspace() and " " in cut:
        cut = cut.rsplit(" ", 1)[0]
    return cut.rstrip(" ,;:-–—") + "…"
