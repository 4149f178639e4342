"""What every hostile-input test sends its requests with: fixtures and address helpers.

A pytest plugin (tests/conftest.py lists it in ``pytest_plugins``), so that the test files of each surface
share one definition. Nothing here is autouse: a hostile-input module asks for ``quiet_request_logs``
itself, and the other test modules are left as they were.
"""

import logging
from multiprocessing import get_context
from urllib.parse import quote, urlsplit

import pytest
from django.test import Client

from tests.factories import ArticleFactory
from tests.support.hostile_checker import Audit, unsafe_parts


@pytest.fixture(scope="module")
def checker_pool():
    """One forked worker that parses pages (html5lib is pure Python) while the requests go on here."""
    unsafe_parts("<p>warm up html5lib's lazy imports before forking</p>")
    with get_context("fork").Pool(1) as pool:
        yield pool


@pytest.fixture
def audit(checker_pool):
    return Audit(checker_pool)


@pytest.fixture
def quiet_request_logs():
    """Thousands of requests: log only what goes wrong (a 500 is still logged), and log it fast."""
    levels = {name: logging.getLogger(name).level for name in ("conclave.requests", "django.request")}
    logging.getLogger("conclave.requests").setLevel(logging.WARNING)
    logging.getLogger("django.request").setLevel(logging.ERROR)
    yield
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)


@pytest.fixture
def visitor():
    """An anonymous browser whose server errors come back as responses, so each one is reported."""
    return Client(raise_request_exception=False)


@pytest.fixture
def editor_browser(editor_client):
    editor_client.raise_request_exception = False
    return editor_client


def ip(n):
    """A distinct client address per request: the follow form's per-IP limit is not what is tested."""
    return f"10.{(n >> 16) & 255}.{(n >> 8) & 255}.{n & 255}"


def in_path(value):
    """A string as one path segment, the way a browser or a crafted link would send it."""
    return quote(value, safe="")


def path_of(url):
    split = urlsplit(url)
    return split.path + (f"?{split.query}" if split.query else "")


@pytest.fixture
def searchable(newsroom):
    """Stories the hostile queries find, so results and <mark> highlighting are rendered too."""
    section, author, tag, _ = newsroom
    for words in [
        "alert script img src onerror javascript",
        "svg onload iframe a href x test xss",
        "\"quotes\" & 'apostrophes' <angle> brackets 1 0 null",
    ]:
        ArticleFactory(
            title=f"Story about {words}",
            standfirst=f"A standfirst: {words}.",
            body=f"A body that mentions {words}.\n\nAnd more about {words}.",
            section=section,
            authors=[author],
            tags=[tag],
        )
    return newsroom
