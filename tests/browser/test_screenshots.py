"""Screenshots of the demo site for reviewers, and a check that nothing moves while a page loads.

Each run writes screenshots/<page>-<width>-<scheme>.png (full pages: home, article, teardown, tag, search;
375 and 1280 px wide; light and dark) from the demo stories that ``manage.py load_demo`` loads, so a
reviewer can look at the site, as CI last drew it, without running it. The folder is git-ignored: 20
full-page pictures weigh about 12 MB, too much to add to the history at every change of design.

A page that arrives slowly (a phone on a poor network) is drawn a piece at a time, so a layout that
depends on what comes later moves what the reader already sees. A fast local load rarely shows it: CI
saw it once, when its cores were busy. The last test sends the demo's pages one element at a time,
with a pause after each long enough for it to be drawn, and requires that nothing already drawn moves.
"""

import io
import re
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from django.core.management import call_command
from django.urls import reverse

from articles.models import Article
from tests.browser.conftest import BROWSER_DB, assert_clean
from tests.support.fake_edges import Answer, FakeServer

pytestmark = BROWSER_DB

SCREENSHOTS = Path(__file__).resolve().parents[2] / "screenshots"
PAGES = {
    "home": "/",
    "article": "/news/openai-foxconn-collaboration-ai-supply-chain-us-data-center-components/",
    "teardown": "/news/quantix-q3-accelerator-teardown/",
    "tag": "/tags/ai-infrastructure/",
    "search": "/search/?q=supply+chain",
}

# Layout shifts (the Layout Instability API) since the page started, unless caused by the reader.
LAYOUT_SHIFT = """() => new Promise(resolve => {
    let total = 0;
    new PerformanceObserver(list => {
        for (const entry of list.getEntries()) if (!entry.hadRecentInput) total += entry.value;
    }).observe({type: "layout-shift", buffered: true});
    setTimeout(() => resolve(total), 200);
})"""

# Every picture loaded and decoded, the lazy ones too, so that the screenshot shows what a reader
# scrolls to (a big AVIF loaded but not yet decoded is drawn as an empty box).
ALL_PICTURES = """() => Promise.all([...document.images].map(img => {
    img.loading = "eager";
    return img.decode().catch(() => null);
}))"""


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("width", [375, 1280])
def test_screenshots_of_the_demo_site(reader, width, scheme):
    call_command("load_demo", stdout=io.StringIO())
    SCREENSHOTS.mkdir(exist_ok=True)
    reader.set_viewport_size({"width": width, "height": 800})
    reader.emulate_media(color_scheme=scheme)
    for name, path in PAGES.items():
        reader.goto(reader.site + path, wait_until="networkidle")
        assert reader.evaluate(LAYOUT_SHIFT) == 0, f"{name} moved while loading"
        reader.evaluate(ALL_PICTURES)
        # Every picture has its width and height in the markup: loading them all moves nothing either.
        assert reader.evaluate(LAYOUT_SHIFT) == 0, f"{name} moved while its pictures loaded"
        reader.screenshot(path=SCREENSHOTS / f"{name}-{width}-{scheme}.png", full_page=True)
    assert_clean(reader)


# Where a reader sees one thing end: a paragraph, a heading, an item, a picture, a box.
ELEMENT_END = re.compile(
    rb"</(?:p|h[1-6]|li|figure|picture|div|section|article|aside|header|footer|nav|form|ol|ul|table|tr|pre|blockquote)>"
)


def element_by_element(html):
    start = 0
    for end in ELEMENT_END.finditer(html):
        yield html[start : end.end()]
        start = end.end()
    yield html[start:]


class TricklingProxy(FakeServer):
    """Passes requests to the live server; sends its HTML an element at a time, with a pause after each."""

    def __init__(self, origin):
        super().__init__()
        self.origin = origin

    def answer(self, request):
        if request.method == "POST":  # a story's Most read beacon: counting is not what this is for
            return Answer(status=204)
        url = self.origin + request.path + (f"?{request.query}" if request.query else "")
        try:
            response = urllib.request.urlopen(url, timeout=30)  # noqa: S310 -- the live server
        except urllib.error.HTTPError as error:
            response = error
        with response:
            body, kind = response.read(), response.headers["Content-Type"]
        trickle = 0.03 if kind.startswith("text/html") else 0.0  # two frames at 60 Hz
        return Answer(
            status=response.status, body=body, type=kind, trickle=trickle, pieces=element_by_element
        )


@pytest.fixture
def trickling_site(live_server):
    """The address of a proxy to the live site that delivers its pages slowly."""
    proxy = TricklingProxy(live_server.url)
    yield f"http://{proxy.address}"
    proxy.stop()


@pytest.mark.parametrize("width", [375, 1280])
def test_nothing_drawn_moves_while_a_slow_page_arrives(reader, trickling_site, width):
    call_command("load_demo", stdout=io.StringIO())
    latest = Article.objects.published().latest("published_at").published_at
    pages = {
        **PAGES,
        "live story": "/news/helix-cloud-outage-europe-storage-sign-in/",
        "section": "/sections/industry/",
        "author": "/authors/mira-okafor/",
        "topics": "/tags/",
        "archive": reverse("articles:archive-month", args=[f"{latest:%Y}", f"{latest:%m}"]),
    }
    reader.set_viewport_size({"width": width, "height": 800})
    for name, path in pages.items():
        response = reader.goto(trickling_site + path, wait_until="networkidle", timeout=60_000)
        assert response.status == 200, f"{name}: {response.status}"
        assert reader.evaluate(LAYOUT_SHIFT) == 0, f"{name} moved while it arrived"
    assert_clean(reader)
