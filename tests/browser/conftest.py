"""Browser tests: Playwright driving Debian's Chromium (/usr/bin/chromium) against ``live_server``.

Never a downloaded browser (``playwright install`` is not needed and fails offline): the
``browser_type_launch_args`` fixture points pytest-playwright at the system Chromium. Every test gets
a ``reader`` page that records console errors, uncaught exceptions, failed requests and HTTP errors;
``assert_clean`` checks that none happened.
"""

import datetime
import os
import shutil

import pytest
from django.utils import timezone

from tests.factories import ArticleFactory, AuthorFactory, SectionFactory, TagFactory, library_image

# Playwright's sync API runs an event loop in the test thread, and Django then refuses ORM calls from
# it (factories, the database flush between tests). Nothing in this project is async; set for the
# whole run because the flush happens outside any one fixture's reach.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

# The live server needs committed data, so each test runs in a real transaction and the database is
# flushed after it, migration data (the Writer and Editor groups) included: these tests run last.
BROWSER_DB = pytest.mark.django_db(transaction=True)

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config, items):
    """Browser tests go last (after pytest-django's own ordering): the flush after each one would
    take from later tests what the migrations put in the database.

    Without Chromium they cannot run: CI installs it and must fail without it; elsewhere they are
    skipped with the command that installs it."""
    browser_items = [item for item in items if "tests/browser/" in str(item.fspath)]
    items[:] = [item for item in items if item not in browser_items] + browser_items
    if shutil.which(CHROMIUM):
        return
    if os.environ.get("CI"):
        raise pytest.UsageError(f"CI: Chromium not found at {CHROMIUM} (.ci/run installs Debian's chromium)")
    skip = pytest.mark.skip(reason=f"no Chromium at {CHROMIUM}: apt-get install -y chromium")
    for item in browser_items:
        item.add_marker(skip)


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "args": CHROMIUM_ARGS}


@pytest.fixture(autouse=True)
def browser_site(settings, live_server):
    """The live server serves uploads too, as the proxy does in production; links in emails point to it."""
    settings.ROOT_URLCONF = "tests.browser.urls"
    settings.SITE_URL = live_server.url


@pytest.fixture
def newsroom():
    """A lead story with a hero image, and 25 more under one tag: two pages of it."""
    section = SectionFactory(name="Chips", slug="chips")
    author = AuthorFactory(name="Ada Reporter", slug="ada-reporter")
    tag = TagFactory(name="Semiconductors", slug="semiconductors")
    now = timezone.now()
    for i in range(25):
        ArticleFactory(
            title=f"Foundry update {i}",
            section=section,
            authors=[author],
            tags=[tag],
            published_at=now - datetime.timedelta(hours=i + 2),
        )
    lead = ArticleFactory(
        title="Quantum foundry opens in Ohio",
        standfirst="The plant will make chips for data centres.",
        body="The plant opened today.\n\n## Why it matters\n\nIt makes **chips**.",
        section=section,
        authors=[author],
        tags=[tag, TagFactory(name="Manufacturing", slug="manufacturing")],
        published_at=now - datetime.timedelta(minutes=30),
        is_featured=True,
        hero=library_image(alt="The foundry at dawn", credit="Agency photo"),
    )
    return lead, tag


class PageProblems:
    def __init__(self, page):
        self.problems = []
        page.on("console", lambda message: message.type == "error" and self.problems.append(message.text))
        page.on("pageerror", lambda error: self.problems.append(f"uncaught: {error}"))
        page.on("requestfailed", self._failed)
        page.on("response", lambda r: r.status >= 400 and self.problems.append(f"HTTP {r.status} {r.url}"))

    def _failed(self, request):
        # A navigation that replaces the page aborts its pending requests: not a failure of the site.
        if request.failure != "net::ERR_ABORTED":
            self.problems.append(f"failed {request.url}: {request.failure}")


@pytest.fixture
def reader(page, live_server):
    """A Playwright page on the live site, recording problems; ``reader.site`` is its address."""
    page.problems = PageProblems(page)
    page.site = live_server.url
    page.set_default_timeout(10_000)
    return page


# What the focused element shows: an outline of at least 2px, or a box shadow (a ring) instead, on
# itself or on one of the three boxes round it.
FOCUSED_ELEMENT = """(target) => {
    const el = document.activeElement;
    if (!el || el === document.body) return null;
    const box = el.getBoundingClientRect();
    // The ring may be drawn round a box holding the element (a search field inside a widget).
    const ringed = (node) => {
        const style = getComputedStyle(node);
        return (style.outlineStyle !== "none" && parseFloat(style.outlineWidth) >= 2)
            || (style.boxShadow !== "none" && style.boxShadow !== "");
    };
    const holders = [el];
    while (holders.length < 4 && holders.at(-1).parentElement) holders.push(holders.at(-1).parentElement);
    const ringHolder = holders.find(ringed);
    // A box that scrolls or hides its overflow cuts off whatever of the ring lies outside it.
    let clippedBy = null;
    if (ringHolder) {
        const style = getComputedStyle(ringHolder);
        // How far the ring reaches outside the element: a negative offset draws it inside.
        const reach = Math.max(0, parseFloat(style.outlineWidth) + parseFloat(style.outlineOffset)) - 0.5;
        const ring = ringHolder.getBoundingClientRect();
        for (let box = ringHolder.parentElement; box && box !== document.body; box = box.parentElement) {
            const boxStyle = getComputedStyle(box);
            if (boxStyle.overflowX === "visible" && boxStyle.overflowY === "visible") continue;
            const edge = box.getBoundingClientRect();
            if (ring.top - reach < edge.top || ring.left - reach < edge.left
                || ring.bottom + reach > edge.bottom || ring.right + reach > edge.right) {
                clippedBy = `<${box.tagName.toLowerCase()} class=${box.className}>`;
                break;
            }
        }
    }
    const text = (el.getAttribute("aria-label") || el.innerText || el.value || el.name || "").trim();
    return {
        description: `<${el.tagName.toLowerCase()}${el.id ? "#" + el.id : ""}`
            + `${el.type ? " type=" + el.type : ""}${el.className ? " class=" + el.className : ""}>`
            + ` ${text.slice(0, 60)}`,
        ringed: Boolean(ringHolder),
        clippedBy,
        onScreen: box.width >= 2 && box.height >= 2 && box.bottom > 0 && box.right > 0
            && box.top < innerHeight && box.left < innerWidth,
        isTarget: el.matches(target.selector)
            && (!target.text || text.replace(/\\s+/g, " ") === target.text),
    };
}"""


def assert_focus_seen(page, focused):
    where = f"{page.url}: {focused['description']}"
    assert focused["ringed"], f"{where}: no visible focus"
    assert focused["onScreen"], f"{where}: the focus is off screen"
    assert focused["clippedBy"] is None, f"{where}: its focus ring is cut off by {focused['clippedBy']}"


def tab_to(page, selector, text=None, limit=80):
    """Press Tab until the focused element matches ``selector`` (and has ``text``, if given), checking
    at every stop that the focus can be seen: a ring around an element on the screen. Where the page
    put the focus on the target itself (autofocus), no key is pressed."""
    if (page.evaluate(FOCUSED_ELEMENT, {"selector": selector, "text": text}) or {}).get("isTarget"):
        return page.locator(":focus")
    for _ in range(limit):
        page.keyboard.press("Tab")
        focused = page.evaluate(FOCUSED_ELEMENT, {"selector": selector, "text": text})
        assert focused is not None, f"{page.url}: Tab left the page before reaching {selector} {text or ''}"
        assert_focus_seen(page, focused)
        if focused["isTarget"]:
            return page.locator(":focus")
    raise AssertionError(f"{page.url}: {selector} {text or ''} not reached in {limit} presses of Tab")


def tab_through(page, limit=400):
    """Press Tab from the top of the page until the focus leaves it, checking every stop as tab_to
    does; the number of stops."""
    for stop in range(limit):
        page.keyboard.press("Tab")
        focused = page.evaluate(FOCUSED_ELEMENT, {"selector": "*", "text": None})
        if focused is None:
            return stop
        assert_focus_seen(page, focused)
    raise AssertionError(f"{page.url}: still on the page after {limit} presses of Tab")


def assert_clean(page):
    assert page.problems.problems == []


def assert_no_horizontal_scroll(page):
    overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0, f"{page.url} scrolls sideways by {overflow}px"


@pytest.fixture
def editor(django_user_model):
    return django_user_model.objects.create_user(
        "editor", "editor@example.com", "correct horse battery", is_staff=True, is_superuser=True
    )


def sign_in_with_keyboard(page):
    """Into the admin as ``editor``, with Tab, typing and Enter only."""
    keys = page.keyboard
    page.goto(page.site + "/admin/login/?next=/admin/")
    tab_to(page, "#id_username")
    keys.type("editor")
    tab_to(page, "#id_password", limit=1)
    keys.type("correct horse battery")
    keys.press("Enter")
    page.wait_for_url(page.site + "/admin/")
