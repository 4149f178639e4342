"""Screenshots of the demo site for reviewers, and a check that nothing moves while a page loads.

Each run writes screenshots/<page>-<width>-<scheme>.png (full pages: home, article, teardown, tag, search;
375 and 1280 px wide; light and dark) from the demo stories that ``manage.py load_demo`` loads, so a
reviewer can look at the site, as CI last drew it, without running it. The folder is git-ignored: 20
full-page pictures weigh about 12 MB, too much to add to the history at every change of design.
"""

import io
from pathlib import Path

import pytest
from django.core.management import call_command

from tests.browser.conftest import BROWSER_DB, assert_clean

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
