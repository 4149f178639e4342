"""A scheduled story appears everywhere at its time, with the page cache on and nothing saved meanwhile.

Time is frozen and moved with time_machine; the cache server (Redis on CI) keeps its own, real clock,
so these tests also prove the cache does not rely on the server's expiry.
"""

import datetime

import pytest
import time_machine

from conclave import pagecache
from tests.factories import ArticleFactory, AuthorFactory, SectionFactory, TagFactory

START = datetime.datetime(2026, 3, 31, 23, 59, tzinfo=datetime.UTC)  # the story is the first of April
MOMENT = START + datetime.timedelta(minutes=2)  # well inside PAGE_CACHE_SECONDS
SCOOP = "/news/quantum-scoop/"

PAGES = [
    "/",
    "/tags/semiconductors/",
    "/tags/semiconductors/feed/",
    "/feed/",
    "/feed/atom/",
    "/sitemap-articles.xml",
    "/news-sitemap.xml",
]


@pytest.fixture(params=["server clock runs", "server clock stopped"])
def frozen(request, db, settings, monkeypatch):
    settings.PAGE_CACHE_SECONDS = 300
    if request.param == "server clock stopped":
        # As Redis under time_machine: the server keeps entries by its own clock, which does not move
        # with ours (here: a day, whatever it is asked). Only each entry's "valid until" time decides.
        monkeypatch.setattr(pagecache, "_timeout", lambda delta: 24 * 3600)
    with time_machine.travel(START, tick=False) as traveller:
        yield traveller


@pytest.fixture
def scheduled(frozen):
    section, author = SectionFactory(name="Chips", slug="chips"), AuthorFactory(slug="ada")
    semiconductors, quantum = (
        TagFactory(name="Semiconductors", slug="semiconductors"),
        TagFactory(name="Quantum", slug="quantum"),
    )
    ArticleFactory(
        title="Older news",
        slug="older-news",
        section=section,
        authors=[author],
        tags=[semiconductors],
        published_at=START - datetime.timedelta(hours=1),
    )
    return ArticleFactory(
        title="Quantum scoop",
        slug="quantum-scoop",
        section=section,
        authors=[author],
        tags=[semiconductors, quantum],  # its own tag: "Trending topics" and the tag sitemap gain one
        published_at=MOMENT,
    )


def shows(client, url, path=SCOOP):
    response = client.get(url)
    assert response.status_code == 200, url
    return path in response.content.decode()


def test_a_scheduled_story_appears_everywhere_at_its_time(client, scheduled, frozen, monkeypatch):
    purges = []
    monkeypatch.setattr(pagecache, "purge", lambda keys, hard=False: purges.append(keys))

    # Before: absent everywhere, and every page is in the cache (the second request is a hit).
    assert client.get(SCOOP).status_code == 404
    for url in PAGES:
        assert not shows(client, url), url
        assert client.get(url)["X-Cache"] == "hit", url
    assert not shows(client, "/sitemap-tags.xml", "/tags/quantum/")
    assert not shows(client, "/", 'href="/tags/quantum/"')  # trending topics: a cache of its own
    assert shows(client, "/", 'href="/archive/2026/03/"')  # the footer's archive link: another

    frozen.move_to(MOMENT - datetime.timedelta(seconds=1))
    assert client.get(SCOOP).status_code == 404
    assert not any(shows(client, url) for url in PAGES)

    # At the moment itself: there, on every page, with nothing saved in between.
    frozen.move_to(MOMENT)
    assert client.get(SCOOP).status_code == 200
    for url in PAGES:
        assert shows(client, url), url
    assert shows(client, "/sitemap-tags.xml", "/tags/quantum/")
    assert shows(client, "/", 'href="/tags/quantum/"')
    assert shows(client, "/", 'href="/archive/2026/04/"')
    assert purges == []  # no save, no purge: the clock alone did it

    # And the cache is back at work for the new state of the site.
    for url in PAGES:
        assert client.get(url)["X-Cache"] == "hit", url


def test_stories_scheduled_one_after_another_each_appear_at_their_time(client, scheduled, frozen):
    later = ArticleFactory(
        title="Second scoop",
        slug="second-scoop",
        section=scheduled.section,
        tags=list(scheduled.tags.all()),
        published_at=MOMENT + datetime.timedelta(minutes=2),
    )
    for url in PAGES:
        client.get(url)

    frozen.move_to(MOMENT)
    for url in PAGES:
        assert shows(client, url) and not shows(client, url, later.get_absolute_url()), url
        assert client.get(url)["X-Cache"] == "hit", url  # kept again, until the next story's time

    frozen.move_to(later.published_at)
    for url in PAGES:
        assert shows(client, url, later.get_absolute_url()), url
