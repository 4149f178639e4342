"""Browser tests: Playwright driving Debian's Chromium (/usr/bin/chromium) against ``live_server``.

Never a downloaded browser (``playwright install`` is not needed and fails offline): the
``browser_type_launch_args`` fixture points pytest-playwright at the system Chromium. Every test gets
a ``reader`` page that records console errors, uncaught exceptions, failed requests and HTTP errors;
``assert_clean`` checks that none happened.
"""

import os
import shutil

import pytest

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


def assert_clean(page):
    assert page.problems.problems == []


def assert_no_horizontal_scroll(page):
    overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0, f"{page.url} scrolls sideways by {overflow}px"
