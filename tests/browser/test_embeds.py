"""Embeds in Chromium: nothing of a provider's reaches the reader until the reader asks for it.

The demo teardown story (``load_demo``) holds a YouTube video, a Mastodon post and a gist, with their
metadata stored offline. Every request the page makes is recorded; any to a host other than the live
server is refused here (tests never reach the internet), after its address is recorded.
"""

import io
import re
from urllib.parse import urlsplit

import pytest
from django.core.management import call_command

from articles.models import Article
from tests.browser.conftest import BROWSER_DB

pytestmark = BROWSER_DB

PLAYER_HOST = "www.youtube-nocookie.com"
VIDEO_ID = "Qx3TeardwnA"  # articles/demo/embeds/embeds.json

# Scroll to each picture in turn and wait until it has loaded (or failed): lazy ones are fetched too.
EVERY_PICTURE_SEEN = """async () => {
    for (const img of document.images) {
        img.scrollIntoView();
        if (!img.complete) await new Promise(done => { img.onload = img.onerror = done; });
    }
}"""


@pytest.fixture
def teardown():
    call_command("load_demo", stdout=io.StringIO())
    return Article.objects.get(slug="quantix-q3-accelerator-teardown")


def hosts(urls):
    return {urlsplit(url).netloc for url in urls}


@pytest.mark.parametrize("width", [375, 1280])
def test_only_our_host_is_asked_until_the_reader_loads_the_video_then_its_player(reader, teardown, width):
    ours = urlsplit(reader.site).netloc
    requested = []
    reader.on("request", lambda request: requested.append(request.url))
    reader.route(lambda url: urlsplit(url).netloc != ours, lambda route: route.abort())
    reader.set_viewport_size({"width": width, "height": 800})
    reader.goto(reader.site + teardown.get_absolute_url(), wait_until="networkidle")
    # Down to the end of the page, so that every lazy picture and facade thumbnail is fetched too.
    reader.evaluate(EVERY_PICTURE_SEEN)
    assert reader.locator("figure.embed").count() == 3
    assert any("/media/" in url for url in requested), "the facades' pictures were not fetched"
    assert hosts(requested) == {ours}, f"asked before any click: {sorted(hosts(requested) - {ours})}"

    asked_before_click = len(requested)
    button = reader.get_by_role("button", name=re.compile(r"^Load video"))
    button.scroll_into_view_if_needed()
    with reader.expect_request(lambda request: urlsplit(request.url).netloc != ours):
        button.click()
    frame = reader.locator("figure.embed iframe")
    reader.wait_for_timeout(1000)  # time for anything else the click might have set off

    after_click = [url for url in requested[asked_before_click:] if urlsplit(url).netloc != ours]
    assert hosts(after_click) == {PLAYER_HOST}, f"after the click: {after_click}"
    assert urlsplit(after_click[0]).path == f"/embed/{VIDEO_ID}"
    assert frame.get_attribute("sandbox") and frame.get_attribute("allow") is not None
    # The posts stay our stored text: no button, nothing more asked of Mastodon or GitHub.
    assert reader.get_by_role("button", name=re.compile(r"^Load")).count() == 0
    unexpected = [p for p in reader.problems.problems if PLAYER_HOST not in p]
    assert not unexpected, unexpected


def test_without_javascript_the_facade_is_a_link_to_the_original(browser, live_server, teardown):
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    requested = []
    page.on("request", lambda request: requested.append(request.url))
    page.goto(live_server.url + teardown.get_absolute_url(), wait_until="networkidle")
    assert page.get_by_role("button", name=re.compile(r"^Load")).count() == 0
    link = page.locator("figure.embed--video a[href^='https://www.youtube.com/watch']")
    assert link.count() >= 1
    assert hosts(requested) == {urlsplit(live_server.url).netloc}
    context.close()
