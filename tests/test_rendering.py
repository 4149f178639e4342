"""Behaviour of articles.rendering: Markdown -> sanitised HTML, limits, reading time and excerpt."""

import html
import multiprocessing
import os
import re
import threading
import time
from pathlib import Path

import html5lib
import pytest

from articles import rendering
from articles.rendering import (
    MAX_BODY_CHARS,
    RenderError,
    clean_html,
    normalise,
    plain_excerpt,
    reading_time_minutes,
    render_body,
    render_markdown,
)

SEED_FILE = Path(__file__).resolve().parent.parent / "articles" / "demo" / "openai-foxconn.md"
NBSP = "\u00a0"
# Lines of the captured seed page (/work/shared/seed/000_3047fe34bd87746c.txt), trailing U+00A0 included.
RAW_SEED_LINES = (
    f"3. Onshoring critical AI data centre{NBSP}\n"
    "\n"
    f"Statements from OpenAI and Foxconn leadership{NBSP}\n"
    "\n"
    "Chairman Young Liu of Foxconn praised the partnership, referring to OpenAI as "
    f'"a pioneer at the forefront of the AI digital era."{NBSP}\n'
)


@pytest.fixture(scope="module")
def seed_body():
    text = SEED_FILE.read_text(encoding="utf-8")
    assert text.startswith("---\n")
    return text.split("\n---\n", 1)[1]  # the Markdown body after the front matter


@pytest.fixture(scope="module")
def seed_html(seed_body):
    return render_markdown(seed_body)


def headings(out):
    return re.findall(r'<(h[1-6])(?: id="([^"]*)")?>(.*?)</\1>', out)


def test_seed_story_headings_in_order_with_stable_ids(seed_html):
    assert headings(seed_html) == [
        ("h2", "three-key-areas-of-collaboration", "Three key areas of collaboration"),
        (
            "h3",
            "1-designing-multi-generation-ai-data-centre-hardware",
            "1. Designing multi-generation AI data centre hardware",
        ),
        ("h3", "2-strengthening-the-us-ai-supply-chain", "2. Strengthening the U.S. AI supply chain"),
        (
            "h3",
            "3-onshoring-critical-ai-data-centre-components-to-the-us",
            "3. Onshoring critical AI data centre components to the US",
        ),
        (
            "h2",
            "statements-from-openai-and-foxconn-leadership",
            "Statements from OpenAI and Foxconn leadership",
        ),
    ]
    assert seed_html.startswith("<p>OpenAI, the parent company of ChatGPT")


def test_seed_story_smart_quotes(seed_html):
    text = html.unescape(seed_html)
    assert "referring to OpenAI as \u201ca pioneer at the forefront of the AI digital era.\u201d" in text
    assert "OpenAI\u2019s deep understanding" in text


def test_seed_story_is_stable_under_clean(seed_html):
    assert clean_html(seed_html) == seed_html


def test_raw_seed_trailing_nbsp_is_stripped():
    assert NBSP not in normalise(RAW_SEED_LINES)
    out = render_markdown(RAW_SEED_LINES)
    assert "<p>Statements from OpenAI and Foxconn leadership</p>" in out
    assert "<li>Onshoring critical AI data centre</li>" in out
    assert "era.&rdquo;</p>" in out


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("a\r\nb\rc", "a\nb\nc"),
        ("\ufeff\u200bTitle", "Title"),
        ("line\u00a0\u2003\t \nnext\u3000", "line\nnext"),
        ("10\u00a0GB of RAM", "10\u00a0GB of RAM"),  # NBSP inside a line is meaningful
        ("a\x00b\x1bc\x7fd\x85e\x02f\x03", "abcdef"),
        ("tab\tkept", "tab\tkept"),
        ("a\n\n\n\n\nb\n\n\nc", "a\n\nb\n\n\nc"),  # 3+ blank lines collapse to one; two stay
        ("a\n   \n \u00a0\n\n\nb", "a\n\nb"),  # whitespace-only lines count as blank
        ("\n\n  \n    code\n\n\n", "    code"),  # leading indentation of the first line is kept
        ("hard break   \nnext", "hard break  \nnext"),  # Markdown's two-space line break survives
        ("no break\u00a0 \nnext", "no break\nnext"),
    ],
)
def test_normalise(raw, expected):
    assert normalise(raw) == expected


def test_body_h1_is_demoted_and_other_levels_kept():
    out = render_markdown("# Top\n\n## Two\n\n### Three\n\n###### Six\n\n<h1>Raw</h1>")
    assert "<h1" not in out
    assert headings(out) == [
        ("h2", "top", "Top"),
        ("h2", "two", "Two"),
        ("h3", "three", "Three"),
        ("h6", "six", "Six"),
        ("h2", "", "Raw"),
    ]


def test_duplicate_heading_ids_are_suffixed():
    out = render_markdown("## Results\n\n## Results\n\n## Results")
    assert [h[1] for h in headings(out)] == ["results", "results_1", "results_2"]


def test_external_links_get_rel_and_internal_links_do_not():
    out = render_markdown(
        "[a](https://openai.com/news) [b](http://foxconn.com) [c](//cdn.evil.test/x) "
        "[d](/news/other/) [e](#three-key-areas-of-collaboration) [f](https://news.example.com/x) "
        "[g](mailto:desk@news.example.com) [h](HTTPS://NEWS.EXAMPLE.COM/y) "
        '<a rel="nofollow" href="https://example.org">i</a>'
    )
    external = 'rel="noopener noreferrer"'
    assert f'<a href="https://openai.com/news" {external}>a</a>' in out
    assert f'<a href="http://foxconn.com" {external}>b</a>' in out
    assert f'<a href="//cdn.evil.test/x" {external}>c</a>' in out
    assert '<a href="/news/other/">d</a>' in out
    assert '<a href="#three-key-areas-of-collaboration">e</a>' in out
    assert '<a href="https://news.example.com/x">f</a>' in out
    assert '<a href="mailto:desk@news.example.com">g</a>' in out
    assert '<a href="HTTPS://NEWS.EXAMPLE.COM/y">h</a>' in out
    assert '<a rel="nofollow noopener noreferrer" href="https://example.org">i</a>' in out


def test_internal_host_follows_site_url(settings):
    settings.SITE_URL = "https://elsewhere.example"
    assert 'rel="noopener noreferrer"' in render_markdown("[x](https://news.example.com/a)")
    assert "rel=" not in render_markdown("[x](https://elsewhere.example/a)")


@pytest.mark.parametrize(
    "body",
    [
        "[x](javascript:123)",  # bleach alone keeps this one (":123" looks like a port)
        '<a href="javascript:123">x</a>',
        "[x](javascript:alert(1))",
        "[x](JaVaScRiPt:alert(1))",
        '<a href="java\tscript:alert(1)">x</a>',
        '<a href=" &#14; javascript:alert(1)">x</a>',
        '<a href="&#106;avascript:alert(1)">x</a>',
        '<a href="&#x6A;&#x61;vascript&colon;alert(1)">x</a>',
        '<a href="&amp;#106;avascript:alert(1)">x</a>',
        "[x](&#106;avascript:alert(1))",
        "[x](vbscript:msgbox(1))",
        "[x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
        "[x](file:///etc/passwd)",
        "<https://example.com/ok> [x](ftp://example.com/f)",
    ],
)
def test_disallowed_link_schemes_lose_href(body):
    out = render_markdown(body)
    for value in re.findall(r'href="([^"]*)"', out):
        assert value.startswith("https://example.com/ok"), out
    assert ">x</a>" in out  # the text stays; only the href goes


@pytest.mark.parametrize(
    "body",
    [
        "![x](javascript:alert(1))",
        "![x](data:image/svg+xml;base64,PHN2Zz48L3N2Zz4=)",
        '<img src="jav&#x09;ascript:alert(1)">',
        "<img src=javascript:123>",
        "<img alt=nosrc>",
    ],
)
def test_images_with_unsafe_or_no_source_are_dropped(body):
    assert "<img" not in render_markdown(body)


def test_image_event_handler_and_inline_style_removed():
    out = render_markdown(
        '<img src=x onerror="alert(1)" style="width:9999px"> ![Rack](/media/rack.jpg "Racks")\n\n'
        '<p style="color:red" onclick="alert(2)">styled</p>'
    )
    assert '<img src="x">' in out
    assert '<img alt="Rack" src="/media/rack.jpg" title="Racks">' in out
    assert "<p>styled</p>" in out
    assert "onerror" not in out and "onclick" not in out and "style=" not in out


def test_script_and_style_contents_are_removed():
    out = render_markdown(
        "Before <script>alert(1)</script> after.\n\n<script>\nalert(2)\n</script>\n\n"
        "<style>body{display:none}</style>\n\n<svg><script>alert(3)</script><text>svg</text></svg>\n\n"
        "<iframe src=https://evil.test>frame</iframe><object>obj</object>\n\nEnd."
    )
    for gone in ("alert", "display:none", "script", "style", "svg", "frame", "obj"):
        assert gone not in out
    assert "Before" in out and "after." in out and "<p>End.</p>" in out


def test_classes_are_allowlisted():
    out = render_markdown(
        '```python\nx = 1\n```\n\nText\n{: .evil #x }\n\n<div class="footnote evil">d</div>'
    )
    code = html5lib.parseFragment(out, namespaceHTMLElements=False).find(".//code")
    assert code.get("class") == "language-python" and "".join(code.itertext()) == "x = 1\n"
    assert "evil" not in out


def test_tables_survive_with_alignment():
    out = render_markdown("| Part | Units |\n|:-----|------:|\n| Racks | 12 |")
    assert '<th align="left">Part</th>' in out
    assert '<td align="right">12</td>' in out
    assert "<thead>" in out and "<tbody>" in out


def test_footnotes_survive():
    out = render_markdown("Claim.[^1]\n\n[^1]: Source: the company's statement.")
    assert '<sup id="fnref:1"><a class="footnote-ref" href="#fn:1">1</a></sup>' in out
    assert '<div class="footnote">' in out
    assert '<li id="fn:1">' in out
    assert 'class="footnote-backref" href="#fnref:1"' in out


def test_ids_only_where_allowed():
    out = render_markdown(
        '<p id="csrftoken">p</p> <a id="x" href="/a">a</a>\n\nPara\n{: #para-id }\n\n## Head {: #custom-id }'
    )
    assert '<h2 id="custom-id">' in out
    assert "<p>Para</p>" in out
    assert "csrftoken" not in out and 'id="x"' not in out


def test_clean_html_is_idempotent_on_awkward_trees():
    for fragment in (
        "<pre>\n\nx</pre>",
        "<table><tr><td><pre>\ny</pre></td></tr></table>",
        "<h1><a><h6>nested</h6></a></h1>",
    ):
        once = clean_html(fragment)
        assert clean_html(once) == once


@pytest.mark.parametrize(("words", "minutes"), [(0, 1), (100, 1), (230, 1), (460, 2), (1000, 4), (2300, 10)])
def test_reading_time(words, minutes):
    assert reading_time_minutes(" ".join(["word"] * words)) == minutes


def test_reading_time_counts_words_not_markup():
    assert reading_time_minutes("## Title\n\n- U.S. isn't well-known\n" + "| --- |\n" * 1000) == 1


def test_excerpt_of_seed(seed_html):
    excerpt = plain_excerpt(seed_html)
    assert excerpt.startswith("OpenAI, the parent company of ChatGPT, has strategically partnered")
    assert excerpt.endswith("\u2026")
    assert len(excerpt) <= 200
    first_paragraph = html.unescape(re.search(r"<p>(.*?)</p>", seed_html).group(1))
    assert first_paragraph.startswith(excerpt[:-1])  # a prefix ...
    assert first_paragraph[len(excerpt) - 1] == " "  # ... cut at a word boundary


def test_excerpt_short_body_and_footnote_markers():
    out = render_markdown("First  paragraph\nwraps.[^1]\n\n## Heading\n\nSecond.\n\n[^1]: Note.")
    assert plain_excerpt(out) == "First paragraph wraps. Second."
    assert plain_excerpt(out, max_chars=16) == "First paragraph\u2026"
    assert plain_excerpt("") == ""
    assert plain_excerpt("<ul><li>Only a list</li></ul>") == "Only a list"


def test_render_body_matches_render_markdown(seed_body, seed_html):
    assert render_body(seed_body) == seed_html


def test_render_body_refuses_too_long_body():
    with pytest.raises(RenderError) as info:
        render_body("a" * (MAX_BODY_CHARS + 1))
    assert str(info.value) == "The body is too long: 200,001 characters; the limit is 200,000."
    assert render_body("a" * MAX_BODY_CHARS).startswith("<p>aaa")


@pytest.mark.parametrize("body", ["[" * 100_000, "[." * 50_000])
def test_render_body_stops_redos_input(body):
    started = time.monotonic()
    with pytest.raises(RenderError) as info:
        render_body(body, time_limit=1.0)
    assert time.monotonic() - started < 3
    assert str(info.value) == (
        "The body took too long to format (over 1 second). "
        "Look for long runs of brackets or other unusual characters."
    )


def test_render_body_reports_errors_in_the_child(monkeypatch):
    monkeypatch.setattr(rendering, "_warmed_up", True)  # the parent's warm-up would call the patched function

    def boom(text, media):
        raise RuntimeError("boom")

    monkeypatch.setattr(rendering, "render_story", boom)
    with pytest.raises(RenderError, match=r"could not be formatted \(RuntimeError: boom\)"):
        render_body("text")
    monkeypatch.setattr(rendering, "render_story", lambda text, media: os._exit(3))
    with pytest.raises(RenderError, match="stopped unexpectedly"):
        render_body("text")


def open_fds():
    return set(os.listdir("/proc/self/fd"))


def zombie_children():
    zombies = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        state, ppid = stat.rsplit(")", 1)[1].split()[:2]
        if int(ppid) == os.getpid() and state == "Z":
            zombies.append(pid)
    return zombies


@pytest.mark.skipif(not Path("/proc/self/fd").exists(), reason="needs Linux /proc")
def test_render_body_leaves_no_processes_or_pipes(monkeypatch):
    render_body("warm up")
    before = open_fds()
    for _ in range(3):
        render_body("*fine*")
        with pytest.raises(RenderError):
            render_body("[" * 100_000, time_limit=0.2)
    monkeypatch.setattr(rendering, "render_story", lambda text, media: os._exit(1))
    with pytest.raises(RenderError):
        render_body("crash")
    assert open_fds() == before
    assert zombie_children() == []  # before active_children(), which would reap them
    assert multiprocessing.active_children() == []


def test_render_body_from_threads(seed_body, seed_html):
    results, errors = [], []

    def work():
        try:
            results.append(render_body(seed_body))
            results.append(render_markdown(seed_body))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert results == [seed_html] * 8


def test_output_parses_to_expected_structure(seed_html):
    root = html5lib.parseFragment(seed_html, namespaceHTMLElements=False)
    assert [el.tag for el in root] == [
        "p",
        "h2",
        "h3",
        "p",
        "p",
        "p",
        "h3",
        "p",
        "p",
        "h3",
        "p",
        "h2",
        "p",
        "p",
        "p",
    ]


def visible_text(fragment):
    return " ".join("".join(html5lib.parseFragment(fragment, namespaceHTMLElements=False).itertext()).split())


# (what the editor typed, what the reader then sees of it)
SWALLOWING_OPENERS = [
    *((f"<{name}>", f"<{name}>") for name in sorted(rendering.RAW_TEXT_ELEMENTS)),
    ("<STYLE type='text/css'>", "<STYLE type='text/css'>"),
    ("<plaintext>", "<plaintext>"),
    ("<template>", "<template>"),
    ("<object data=x>", "<object data=x>"),
    ("<applet>", "<applet>"),
    ("<div><!-- never closed", "never closed"),
]


@pytest.mark.parametrize(("opener", "shown"), SWALLOWING_OPENERS)
@pytest.mark.parametrize("where", ["own block", "inline", "last line"])
def test_text_after_an_unclosed_element_is_kept(opener, shown, where):
    """An element (or comment) opened and never closed would take the rest of the story with it: the
    stray tag is shown as text instead, and every word after it reaches the reader."""
    body = {
        "own block": f"A first paragraph.\n\n{opener}<img src=x>\n\nThe editor's closing words.",
        "inline": f"A first paragraph with {opener} inside.\n\nThe editor's closing words.",
        "last line": f"A first paragraph.\n\nThe editor's closing words.\n\n{opener}",
    }[where]
    text = visible_text(render_markdown(body))
    assert "A first paragraph" in text
    assert "The editor's closing words." in text.replace("’", "'")
    assert shown in text.replace("–", "--")  # the stray tag is shown (smarty may turn "--" into a dash)


@pytest.mark.parametrize(
    "body",
    [
        "A\n\n<script>alert(1)</script>\n\nB",
        "A\n\n<style>p { color: red }</STYLE >\n\nB",
        "A\n\n<object data=x><p>fallback</p></object>\n\nB",
        "A\n\n<div><!-- a note to the desk --></div>\n\nB",
    ],
)
def test_closed_elements_still_go_with_their_content(body):
    out = render_markdown(body)
    assert visible_text(out) == "A B"


def test_tags_in_code_are_untouched_by_the_unclosed_check():
    out = render_markdown("Style it:\n\n```html\n<style>\nbody { margin: 0 }\n```\n\nThen `<script>` runs.")
    block = html5lib.parseFragment(out, namespaceHTMLElements=False).find(".//pre/code")
    assert "".join(block.itertext()) == "<style>\nbody { margin: 0 }\n"
    assert "<code>&lt;script&gt;</code> runs." in out


def test_many_stray_openers_cost_one_search_each_kind():
    """50,000 stray "<style>" (400 kB) are one search to the end, not 50,000: quadratic work would run
    for many minutes, past the suite's per-test timeout."""
    out = rendering.clean_html("<style>x" * 50_000)
    assert out.count("&lt;style&gt;x") == 50_000
    assert rendering.escape_unclosed("<!--x " * 50_000).count("&lt;!--x ") == 50_000


# Highlighted code (Step 10)


def code_blocks(out):
    """[(label or None, code element)] for each <pre><code> of the output, in order."""
    root = html5lib.parseFragment(out, namespaceHTMLElements=False)
    blocks = []
    for pre in root.iter("pre"):
        wrapper = next((div for div in root.iter("div") if pre in list(div)), None)
        label = wrapper.find("span") if wrapper is not None else None
        blocks.append((None if label is None else label.text, pre.find("code")))
    return blocks


def test_a_fenced_block_with_a_known_language_is_highlighted_under_its_label():
    source = 'def total(items):\n    return sum(i for i in items if i < 10)  # "cap" & more\n'
    out = render_markdown(f"```python\n{source}```")
    [(label, code)] = code_blocks(out)
    assert label == "Python"
    assert "".join(code.itertext()) == source  # every character kept, in order
    classes = {span.get("class") for span in code.iter("span")}
    assert {"k", "nf", "mi", "c1"} <= classes  # keyword, function name, number, comment
    assert classes <= rendering.HIGHLIGHT_CLASSES
    assert "style=" not in out  # colours come from the stylesheet only
    assert clean_html(out) == out


@pytest.mark.parametrize(
    "fence",
    ["```\nx < y\n```", "```no-such-language\nx < y\n```", "    x < y"],
    ids=["no language", "unknown language", "indented"],
)
def test_other_code_blocks_stay_plain(fence):
    out = render_markdown(fence)
    [(label, code)] = code_blocks(out)
    assert label is None and list(code.iter("span")) == [] and code.text == "x < y\n"


def test_highlighted_code_cannot_break_out_of_its_block():
    hostile = '</code></pre><script>alert(1)</script><img src=x onerror=alert(2)>"><b>'
    out = render_markdown(f"```html\n{hostile}\n```\n\nAfter.")
    [(label, code)] = code_blocks(out)
    assert label == "HTML" and "".join(code.itertext()) == hostile + "\n"
    root = html5lib.parseFragment(out, namespaceHTMLElements=False)
    assert [el.tag for el in root.iter() if el.tag in ("script", "img", "b")] == []
    assert out.endswith("<p>After.</p>")


def test_highlight_classes_written_by_hand_are_kept_only_on_spans():
    out = render_markdown(
        '<span class="k" onclick="alert(1)">a</span> <span class="evil">b</span> <p class="k">c</p>'
        ' <div class="code" style="color:red">d</div>'
    )
    assert '<span class="k">a</span>' in out and "<span>b</span>" in out
    assert "onclick" not in out and "evil" not in out and '<p class="k">' not in out and "style" not in out


@pytest.mark.parametrize(
    "body",
    [
        "![Rack](https://tracker.example/rack.jpg)",
        '<img src="https://tracker.example/pixel.gif" alt="Rack">',
        '<img src="//tracker.example/pixel.gif" alt="Rack">',
        '<img src="/\\tracker.example/pixel.gif" alt="Rack">',
    ],
)
def test_another_sites_picture_becomes_a_link_and_is_never_fetched(body):
    html = render_markdown(body)
    assert "<img" not in html
    assert 'rel="noopener noreferrer">Rack (picture on another site)</a>' in html
    assert render_markdown("![Rack](/media/rack.jpg)") == '<p><img alt="Rack" src="/media/rack.jpg"></p>'
