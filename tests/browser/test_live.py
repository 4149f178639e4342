"""Live coverage in Chromium (issue 20): a reader keeps a live story open while an editor posts from the
admin's live desk, in another browser.

The reader's page polls its fragment (static/js/live.js) every ``LIVE_POLL_SECONDS``, one second here:
an update is announced in the status line without moving the page or the reader's focus, shown at the
top of the list when the reader asks, and shown by a reload without JavaScript. axe finds nothing in
either colour scheme before or after; no layout shift happens that the reader did not cause (a
PerformanceObserver installed before the page loads sums them). The script asks conditionally (an
unchanged fragment is a 304), stops asking while its tab is hidden, asks less often after errors and
not before a Retry-After. A video in an update shown without a reload loads on a click, within the
page's policy.
A burst of more updates than the fragment holds is announced without a shift on a phone; an update
deleted before it is shown is no longer offered; coverage ended at the desk is said (the heading loses
its "Live" mark), and polling stops.
"""

import logging
import re
import time
from urllib.parse import urlsplit

import pytest
from axe_playwright_python.sync_playwright import Axe
from django.conf import settings
from django.test import Client

from articles import live
from articles.embeds.models import Embed
from articles.models import Article, LiveEntry
from tests.browser.conftest import BROWSER_DB, assert_clean
from tests.factories import ArticleFactory, AuthorFactory

pytestmark = BROWSER_DB

POLL = 1  # seconds between polls on the reader's page
PLAYER_HOST = "www.youtube-nocookie.com"
VIDEO_ID = "Qx3TeardwnA"
AXE_RULES = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22a", "wcag22aa", "best-practice"]
AXE_OPTIONS = {"runOnly": {"type": "tag", "values": AXE_RULES}, "resultTypes": ["violations"]}

# Every layout shift from before the first paint on, with whether an input just preceded it (a click,
# a key): those are the reader's own doing and do not count.
LAYOUT_SHIFTS = """
window.__shifts = [];
new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
        const nodes = (entry.sources || []).map((s) => !s.node ? "?"
            : `${s.node.nodeName}.${s.node.className || ""} ${(s.node.textContent || "").slice(0, 40)}`);
        window.__shifts.push({value: entry.value, byInput: entry.hadRecentInput, at: entry.startTime, nodes});
    }
}).observe({type: "layout-shift", buffered: true});
"""
UNASKED_SHIFT = "window.__shifts.filter((s) => !s.byInput).reduce((sum, s) => sum + s.value, 0)"

# Count the polls the page sends, at the moment the script calls fetch(): what the browser then does
# with its cache (a conditional request, a 304) is below that, on the network.
COUNT_POLLS = """
window.__polls = [];
const originalFetch = window.fetch;
window.fetch = function (url, options) {
    if (String(url).endsWith("/live/")) window.__polls.push(performance.now());
    return originalFetch.apply(this, arguments);
};
"""


@pytest.fixture(autouse=True)
def quick_polls(settings):
    settings.LIVE_POLL_SECONDS = POLL


@pytest.fixture
def keynote(editor):
    story = ArticleFactory(
        title="The Helix keynote, live",
        slug="helix-keynote-live",
        standfirst="Every announcement as it happens.",
        coverage=Article.Coverage.LIVE,
        authors=[AuthorFactory(name="Ada Brooks", slug="ada-brooks")],
    )
    live.post(story, editor, "Doors open. The hall is full.")
    live.post(story, editor, "The keynote begins: **three** products today.", is_key_point=True)
    return story


@pytest.fixture
def desk(browser, live_server, editor):
    """The editor's own browser, signed in to the admin, on the story's live desk."""
    client = Client()
    client.force_login(editor)
    context = browser.new_context()
    session = client.cookies[settings.SESSION_COOKIE_NAME].value
    context.add_cookies([{"name": settings.SESSION_COOKIE_NAME, "value": session, "url": live_server.url}])
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield page
    context.close()


def open_desk(desk, live_server, story):
    desk.goto(f"{live_server.url}/admin/articles/article/{story.pk}/live/")
    assert desk.get_by_role("button", name="Post update").count() == 1


def post(desk, text):
    desk.get_by_label("New update").fill(text)
    desk.get_by_role("button", name="Post update").click()
    desk.get_by_text("Posted at").wait_for()


def violations_on(page):
    found = Axe().run(page, options=AXE_OPTIONS).response["violations"]
    return [
        f"{v['id']} ({v['impact']}): {v['help']} -- " + "; ".join(str(n["target"]) for n in v["nodes"][:5])
        for v in found
    ]


def axe_in_both_schemes(page):
    found = {}
    for scheme in ("light", "dark"):
        page.emulate_media(color_scheme=scheme)
        assert page.evaluate("matchMedia('(prefers-color-scheme: dark)').matches") == (scheme == "dark")
        found[scheme] = violations_on(page)
    page.emulate_media(color_scheme="light")
    return found


def notice(page):
    return page.locator(".live__notice").inner_text().strip()


def entry_texts(page):
    return [text.strip() for text in page.locator(".live__entries > li .live-entry__body").all_inner_texts()]


def set_hidden(page, hidden):
    """Playwright has no hidden tab: the page is told it is hidden (or visible again) as the browser
    would tell it, through document.hidden, visibilityState and a visibilitychange event."""
    page.evaluate(
        """(hidden) => {
        Object.defineProperty(document, "hidden", {configurable: true, get: () => hidden});
        Object.defineProperty(document, "visibilityState", {configurable: true,
            get: () => hidden ? "hidden" : "visible"});
        document.dispatchEvent(new Event("visibilitychange"));
    }""",
        hidden,
    )


def wait_for_notice(page, pattern, seconds):
    deadline = time.monotonic() + seconds
    while not re.search(pattern, notice(page)):
        assert time.monotonic() < deadline, f"not announced within {seconds} s: {notice(page)!r}"
        page.wait_for_timeout(100)


@pytest.mark.parametrize("width", [375, 1280])
def test_an_update_posted_at_the_desk_is_announced_then_shown_without_moving_the_page(
    reader, desk, live_server, keynote, width
):
    reader.add_init_script(LAYOUT_SHIFTS)
    reader.set_viewport_size({"width": width, "height": 800})
    reader.goto(reader.site + keynote.get_absolute_url(), wait_until="networkidle")
    region = reader.locator(".live__notice")
    assert region.get_attribute("role") == "status" and region.get_attribute("aria-live") == "polite"
    assert entry_texts(reader)[0].startswith("The keynote begins")
    # The reader reads the updates: the notice and the newest ones on screen, the focus on a link there.
    reader.evaluate("document.querySelector('.live__notice').scrollIntoView({block: 'start'})")
    reader.evaluate("document.querySelector('.live-entry__time').focus({preventScroll: true})")
    reader.evaluate("window.__reading = document.activeElement")
    reader.wait_for_timeout(200)
    assert axe_in_both_schemes(reader) == {"light": [], "dark": []}

    open_desk(desk, live_server, keynote)
    posted = time.monotonic()
    post(desk, "Helix Cloud 2 is announced, shipping in May.")
    wait_for_notice(reader, r"^1 new update", seconds=POLL * 2 + 2)
    announced = time.monotonic() - posted
    assert announced < POLL * 2 + 2
    assert notice(reader) == "1 new update: show"
    assert reader.evaluate("document.activeElement === window.__reading"), "the announcement moved the focus"
    assert not entry_texts(reader)[0].startswith("Helix Cloud 2"), "shown before the reader asked"
    assert reader.evaluate(UNASKED_SHIFT) == 0, reader.evaluate("window.__shifts")
    assert axe_in_both_schemes(reader) == {"light": [], "dark": []}

    # A reader on the button when a second update arrives stays on it: the button is not replaced.
    show = reader.get_by_role("button", name=re.compile(r"new update"))
    show.focus()
    post(desk, "Prices: from $9 a month.")
    wait_for_notice(reader, r"^2 new updates", seconds=POLL * 2 + 2)
    assert reader.evaluate("document.activeElement.matches('.live__notice button')"), (
        "the second announcement took the focus off the button"
    )
    assert reader.evaluate(UNASKED_SHIFT) == 0, reader.evaluate("window.__shifts")

    show.click()
    assert entry_texts(reader)[:3] == [
        "Prices: from $9 a month.",
        "Helix Cloud 2 is announced, shipping in May.",
        "The keynote begins: three products today.",
    ]
    assert reader.locator(".live__entries > li").count() == 4
    assert notice(reader).startswith("Up to date")
    # The newest update now has the focus: the reader asked for them.
    assert reader.evaluate("document.activeElement.matches('.live__entries > li:first-child')")
    reader.wait_for_timeout(POLL * 1000 + 500)  # a poll after showing them announces nothing again
    assert notice(reader).startswith("Up to date")
    # Only the shift the reader caused by the click, marked as theirs (and seen: the observer works).
    assert reader.evaluate(UNASKED_SHIFT) == 0, reader.evaluate("window.__shifts")
    assert reader.evaluate("window.__shifts.some((s) => s.byInput && s.value > 0)")
    assert axe_in_both_schemes(reader) == {"light": [], "dark": []}
    assert_clean(reader)


def test_without_javascript_a_reload_shows_the_update(browser, desk, live_server, keynote):
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    page.goto(live_server.url + keynote.get_absolute_url())
    assert page.locator(".live__notice").inner_text().strip() == (
        "New updates appear here. Reload the page to see them."
    )
    open_desk(desk, live_server, keynote)
    post(desk, "Helix Cloud 2 is announced, shipping in May.")
    page.reload()
    assert entry_texts(page)[0] == "Helix Cloud 2 is announced, shipping in May."
    context.close()


def test_an_unchanged_fragment_is_asked_for_conditionally_and_answered_304(reader, keynote, caplog):
    """The browser's cache revalidates what the script fetches; the page sees a 200 of the kept copy,
    so the answers are read where they are sent: the server's log of each request."""
    caplog.set_level(logging.INFO, logger="conclave.requests")
    fragment = f"GET {keynote.get_absolute_url()}live/ "

    def answers():
        return [int(r.getMessage().split()[2]) for r in caplog.records if r.getMessage().startswith(fragment)]

    sent = []
    reader.on("request", lambda r: r.url.endswith("/live/") and sent.append(r.all_headers()))
    reader.goto(reader.site + keynote.get_absolute_url())
    deadline = time.monotonic() + POLL * 4 + 3
    while len(answers()) < 3 or len(sent) < 3:
        assert time.monotonic() < deadline, f"polls answered: {answers()}"
        reader.wait_for_timeout(100)
    assert answers()[:3] == [200, 304, 304]
    # The browser asks with the fragment's ETag: the script's cache mode makes it revalidate every time.
    assert "if-none-match" not in sent[0]
    assert sent[1]["if-none-match"] == sent[2]["if-none-match"] and sent[1]["if-none-match"].startswith('W/"')
    assert_clean(reader)


def test_no_poll_while_the_tab_is_hidden_and_one_at_once_on_return(reader, keynote):
    reader.add_init_script(COUNT_POLLS)
    reader.goto(reader.site + keynote.get_absolute_url())
    reader.wait_for_function("() => window.__polls.length >= 1", timeout=(POLL * 2 + 2) * 1000)
    set_hidden(reader, True)
    reader.wait_for_timeout(500)  # a poll already on its way may land
    hidden_at = reader.evaluate("window.__polls.length")
    reader.wait_for_timeout(POLL * 3000 + 500)
    assert reader.evaluate("window.__polls.length") == hidden_at, "it polled from a hidden tab"
    set_hidden(reader, False)
    reader.wait_for_timeout(300)  # well inside one interval: the poll on return is at once
    assert reader.evaluate("window.__polls.length") == hidden_at + 1
    assert_clean(reader)


def test_after_errors_it_asks_less_and_less_often_then_at_the_usual_pace(reader, keynote):
    asked = []
    failures = 2

    def fragment(route):
        asked.append(time.monotonic())
        if len(asked) <= failures:
            route.fulfill(status=503, body="Busy", headers={"Retry-After": "1"})
        else:
            route.continue_()

    reader.route(re.compile(r"/live/$"), fragment)
    reader.goto(reader.site + keynote.get_absolute_url())
    deadline = time.monotonic() + 20
    while len(asked) < failures + 2:
        assert time.monotonic() < deadline, f"only {len(asked)} polls"
        reader.wait_for_timeout(100)
    gaps = [later - earlier for earlier, later in zip(asked, asked[1:], strict=False)]
    # 1 s, then 2 s after the first 503, 4 s after the second, and 1 s again after a success.
    assert 1.7 * POLL < gaps[0] < 2.6 * POLL, gaps
    assert 3.5 * POLL < gaps[1] < 4.8 * POLL, gaps
    assert 0.7 * POLL < gaps[2] < 1.6 * POLL, gaps
    problems = [p for p in reader.problems.problems if "503" not in p]
    assert problems == []
    assert LiveEntry.objects.count() == 2


def test_a_server_that_says_when_to_come_back_is_not_asked_before_then(reader, keynote):
    asked = []

    def fragment(route):
        asked.append(time.monotonic())
        if len(asked) == 1:
            route.fulfill(status=503, body="Busy", headers={"Retry-After": str(3 * POLL)})
        else:
            route.continue_()

    reader.route(re.compile(r"/live/$"), fragment)
    reader.goto(reader.site + keynote.get_absolute_url())
    deadline = time.monotonic() + 15
    while len(asked) < 3:
        assert time.monotonic() < deadline, f"only {len(asked)} polls"
        reader.wait_for_timeout(100)
    gaps = [later - earlier for earlier, later in zip(asked, asked[1:], strict=False)]
    # Not after the doubled 2 s but after the 3 s the server asked for, then the usual 1 s again.
    assert 2.9 * POLL < gaps[0] < 3.8 * POLL, gaps
    assert 0.7 * POLL < gaps[1] < 1.6 * POLL, gaps
    assert [p for p in reader.problems.problems if "503" not in p] == []


def test_a_player_in_an_update_shown_without_reload_loads_on_a_click(reader, keynote, editor):
    """The page had no player when it was loaded: the new update's video still gets its button, and
    the page's policy lets its player in (no CSP violation; the player's host is then refused here,
    as every host but the live server is)."""
    Embed.objects.create(
        url=f"https://www.youtube.com/watch?v={VIDEO_ID}",
        provider="youtube",
        kind="video",
        title="The keynote stream",
        status="ok",
    )
    ours = urlsplit(reader.site).netloc
    reader.route(lambda url: urlsplit(url).netloc != ours, lambda route: route.abort())
    reader.add_init_script(
        "window.__violations = [];"
        "document.addEventListener('securitypolicyviolation', (e) => window.__violations.push(e.blockedURI));"
    )
    reader.goto(reader.site + keynote.get_absolute_url(), wait_until="networkidle")
    assert reader.locator("figure.embed").count() == 0
    live.post(keynote, editor, f"Watch the stream:\n\nhttps://www.youtube.com/watch?v={VIDEO_ID}")
    wait_for_notice(reader, r"^1 new update: show$", seconds=POLL * 2 + 2)
    reader.get_by_role("button", name=re.compile("new update")).click()

    button = reader.locator(".live__entries > li:first-child").get_by_role(
        "button", name=re.compile("^Load video")
    )
    with reader.expect_request(lambda request: urlsplit(request.url).netloc == PLAYER_HOST):
        button.click()
    frame = reader.locator(".live__entries > li:first-child figure.embed iframe")
    assert urlsplit(frame.get_attribute("src")).path == f"/embed/{VIDEO_ID}"
    reader.wait_for_timeout(300)
    assert reader.evaluate("window.__violations") == []
    assert [p for p in reader.problems.problems if PLAYER_HOST not in p] == []


@pytest.mark.parametrize("width", [320, 375])
def test_more_updates_than_the_fragment_holds_are_announced_without_moving_the_page(
    reader, keynote, editor, width
):
    reader.add_init_script(LAYOUT_SHIFTS)
    reader.set_viewport_size({"width": width, "height": 700})
    reader.goto(reader.site + keynote.get_absolute_url(), wait_until="networkidle")
    reader.evaluate("document.querySelector('.live__notice').scrollIntoView({block: 'start'})")
    wait_for_notice(reader, r"^New updates appear here as", seconds=2)
    live.post(keynote, editor, "One first.")
    wait_for_notice(reader, r"^1 new update: show$", seconds=POLL * 2 + 2)  # one line, then two
    # The reader is on another tab while the desk posts a burst (no poll then, so the burst arrives as
    # one), and comes back to it.
    set_hidden(reader, True)
    reader.wait_for_timeout(500)  # a poll already on its way lands
    for number in range(live.FRAGMENT_ENTRIES + 2):
        live.post(keynote, editor, f"Rapid update {number}.")
    set_hidden(reader, False)
    wait_for_notice(reader, rf"^More than {live.FRAGMENT_ENTRIES} ", seconds=POLL * 2 + 2)
    assert notice(reader) == f"More than {live.FRAGMENT_ENTRIES} new updates: reload the page"
    assert reader.evaluate(UNASKED_SHIFT) == 0, reader.evaluate("window.__shifts")
    assert_clean(reader)


def test_an_update_deleted_before_it_is_shown_is_no_longer_offered(reader, keynote, editor):
    reader.goto(reader.site + keynote.get_absolute_url())
    entry = live.post(keynote, editor, "Posted by mistake.")
    wait_for_notice(reader, r"^1 new update: show$", seconds=POLL * 2 + 2)
    entry.delete()  # autocommit: the page and its fragment are purged as it returns
    wait_for_notice(reader, r"^Up to date", seconds=POLL * 2 + 2)
    assert reader.get_by_role("button", name=re.compile("new update")).count() == 0
    assert "Posted by mistake." not in entry_texts(reader)
    assert_clean(reader)


def test_when_the_desk_ends_the_coverage_the_page_says_so_and_stops_asking(
    reader, desk, live_server, keynote
):
    reader.add_init_script(COUNT_POLLS)
    reader.goto(reader.site + keynote.get_absolute_url())
    open_desk(desk, live_server, keynote)
    desk.get_by_role("button", name="End the coverage").click()
    desk.get_by_text("Coverage ended.").wait_for()
    wait_for_notice(reader, r"^This coverage has ended\.$", seconds=POLL * 2 + 2)
    # The "Live" mark goes with it, as a reload would show the heading.
    assert reader.locator(".live__heading").inner_text().strip() == "Updates"
    assert reader.locator(".live__badge").count() == 0
    polls = reader.evaluate("window.__polls.length")
    reader.wait_for_timeout(POLL * 3000)
    assert reader.evaluate("window.__polls.length") == polls, "it kept asking after the coverage ended"
    assert_clean(reader)
