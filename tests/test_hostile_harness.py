"""The hostile-input harness on its own: every corpus file feeds some input, and the checker that judges
the answers (tests/support/hostile_checker.py) flags unsafe HTML and leaves safe HTML alone, so that the
hostile-input tests of each surface (tests/test_hostile_*.py) passing means something.
"""

import pytest

from tests.support.hostile_checker import unsafe_parts
from tests.support.hostile_corpora import IMAGES, every_string, text_corpora
from tests.test_images import MANIFEST
from tests.test_rendering_corpus import CORPORA


# Marked for the database only so that pytest-django keeps them in file order with the form tests
# instead of moving them to the end of the run: under -x a failing form test of a later file (public
# forms, uploads, URLs) then still leaves the checks of the corpora and of the checker itself reported.
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
        '<script src="/static/js/other.js"></script>',
        '<script src="/static/js/mostread.js">alert(1)</script>',
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
        '<script type="application/ld+json">{"headline": "\\u003C/script\\u003E"}</script>'
        '<script src="/static/js/mostread.js" defer data-beacon="/beacon/" data-ticket="1:x"></script></head>'
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
    # On public pages, only our own static scripts, empty: no other file, no inline code beside one.
    assert unsafe_parts('<script src="/static/js/live.js" defer></script>') == []
    assert unsafe_parts('<script src="/static/js/live.js">alert(1)</script>')
    assert unsafe_parts('<script src="/media/js/x.js"></script>')
    assert unsafe_parts('<script src="/static/js/../../media/x.js"></script>')
    assert unsafe_parts('<svg><script>alert(1)</script></svg><p style="x:expression(1)">', "admin")
    assert unsafe_parts('<p style="color:#fff">x</p>', "email") == []
