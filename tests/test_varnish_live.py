"""Live coverage behind a real Varnish (deploy/varnish/default.vcl), purged by key as in production
(EDGE_PURGE_URL=varnish://…): between two updates the live page and the fragment its readers poll are
Varnish hits, and Varnish answers a poll with the fragment's ETag with a 304 itself; an update posted
shows on the very next request for either, the story's key having purged both.
"""

import pytest
from pytest_django.live_server_helper import LiveServer

from articles import live
from articles.models import Article
from tests.factories import ArticleFactory
from tests.support.varnish import running_varnish

PAGE, FRAGMENT = "/news/keynote-live/", "/news/keynote-live/live/"


@pytest.fixture(scope="module")
def app_server(django_db_setup):
    server = LiveServer("127.0.0.1")
    yield server
    server.stop()


@pytest.fixture(scope="module")
def varnish(app_server):
    with running_varnish(app_server.thread.port) as server:
        yield server


@pytest.fixture
def keynote(varnish, settings, transactional_db, django_user_model):
    settings.EDGE_PURGE_URL = f"varnish://127.0.0.1:{varnish.port}"
    assert varnish.purge(keys="site").status == 200  # nothing kept by an earlier test answers here
    story = ArticleFactory(title="The keynote, live", slug="keynote-live", coverage=Article.Coverage.LIVE)
    poster = django_user_model.objects.create_user("desk", is_staff=True, is_superuser=True)
    live.post(story, poster, "Doors open.")
    return story, poster


def test_page_and_fragment_are_hits_between_updates_and_a_new_one_shows_at_the_next_request(varnish, keynote):
    story, poster = keynote
    for path in (PAGE, FRAGMENT):
        first = varnish.get(path)
        assert first.status == 200 and b"Doors open." in first.body, path
        for _ in range(2):
            again = varnish.get(path)
            assert again.cache == "HIT", f"{path} was not kept by Varnish"
            assert again.body == first.body

    live.post(story, poster, "The first product: a faster chip.")  # autocommit: purged as it returns
    for path in (PAGE, FRAGMENT):
        answer = varnish.get(path)
        assert answer.cache == "MISS", path
        assert b"The first product: a faster chip." in answer.body, path
        assert varnish.get(path).cache == "HIT", path
    assert b'data-total="2"' in varnish.get(FRAGMENT).body


def test_varnish_answers_a_poll_with_the_fragment_s_etag_with_a_304(varnish, keynote):
    story, poster = keynote
    first = varnish.get(FRAGMENT)
    tag = first.headers["ETag"]
    assert tag
    # As a browser polls: its copy is kept for no time, so each poll asks again, with the tag.
    assert "max-age=0" in first.headers["Cache-Control"]
    unchanged = varnish.get(FRAGMENT, **{"If-None-Match": tag})
    assert unchanged.status == 304 and unchanged.body == b""
    assert unchanged.cache == "HIT"  # answered at the edge: the site was not asked
    assert unchanged.headers["ETag"] == tag

    live.post(story, poster, "The second product.")
    changed = varnish.get(FRAGMENT, **{"If-None-Match": tag})
    assert changed.status == 200 and b"The second product." in changed.body
    assert changed.headers["ETag"] != tag
    assert varnish.get(FRAGMENT, **{"If-None-Match": changed.headers["ETag"]}).status == 304
