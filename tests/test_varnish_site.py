"""The site itself behind a real Varnish (deploy/varnish/default.vcl), purged by key as it will be in
production (EDGE_PURGE_URL=varnish://…): a publish purges exactly the pages that show it, a correction
is visible through Varnish at once, staff pass through, and no cookie or CSRF token is ever kept.
"""

import datetime
import time

import pytest
from django.conf import settings
from django.utils import timezone
from pytest_django.live_server_helper import LiveServer

from articles.models import Article
from tests.factories import ArticleFactory, SectionFactory, TagFactory
from tests.support.varnish import running_varnish


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
def site(varnish, settings, transactional_db):
    settings.EDGE_PURGE_URL = f"varnish://127.0.0.1:{varnish.port}"
    # One Varnish for the module: what an earlier test kept must not answer for this one's stories.
    assert varnish.purge(keys="site").status == 200
    chips, phones = SectionFactory(name="Chips", slug="chips"), SectionFactory(name="Phones", slug="phones")
    for title, slug, section, age in [
        ("A chip story", "chip-story", chips, 2),
        ("A phone story", "phone-story", phones, 3),
    ]:
        published_at = timezone.now() - datetime.timedelta(hours=age)
        ArticleFactory(
            title=title, slug=slug, section=section, tags=[TagFactory()], published_at=published_at
        )
    ArticleFactory(
        title="A chip scoop", slug="chip-scoop", section=chips, status="draft", tags=[TagFactory()]
    )
    return varnish


def kept(varnish, *paths):
    for path in paths:
        assert varnish.get(path).status == 200, path
        assert varnish.get(path).cache == "HIT", f"{path} was not kept by Varnish"


def test_a_publish_purges_exactly_the_pages_that_show_it(site):
    pages = [
        "/",
        "/sections/chips/",
        "/news/chip-story/",
        "/news/phone-story/",
        "/sections/phones/",
        "/feed/",
    ]
    kept(site, *pages)
    scoop = Article.objects.get(slug="chip-scoop")
    scoop.status = Article.Status.PUBLISHED
    scoop.save()  # autocommit: purged as the save returns
    for path in ["/", "/sections/chips/", "/feed/"]:
        answer = site.get(path)
        assert answer.cache == "MISS", path
        assert b"A chip scoop" in answer.body, path
    # Pages that do not list it stay where they were: at the edge.
    for path in ["/news/chip-story/", "/news/phone-story/", "/sections/phones/"]:
        assert site.get(path).cache == "HIT", path
    assert site.get("/news/chip-scoop/").status == 200


def test_a_correction_is_visible_through_varnish_within_a_second(site):
    kept(site, "/news/chip-story/", "/")
    story = Article.objects.get(slug="chip-story")
    story.title = "A corrected chip story"
    saved = time.monotonic()
    story.save()
    while b"A corrected chip story" not in site.get("/news/chip-story/").body:
        assert time.monotonic() - saved < 1, "the correction was not visible through Varnish within 1 s"
        time.sleep(0.05)
    assert b"A corrected chip story" in site.get("/").body


def test_staff_with_a_session_pass_through_to_their_own_page(site, client, django_user_model):
    kept(site, "/news/chip-story/")
    editor = django_user_model.objects.create_user("ed", password="pw", is_staff=True, is_superuser=True)
    client.force_login(editor)
    cookie = f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"
    for _ in range(2):
        answer = site.get("/news/chip-scoop/", Cookie=cookie)  # a draft: only staff see it
        assert answer.status == 200 and answer.cache == "PASS"
        assert "private" in answer.headers["Cache-Control"]
    assert site.get("/news/chip-scoop/").status == 404  # and nobody after them gets it


def test_no_cookie_or_csrf_token_is_ever_kept(site):
    tag_page = Article.objects.get(slug="chip-story").tags.get().get_absolute_url()
    for path in ["/", tag_page, "/news/chip-story/"]:  # the tag page has a follow form, and no token
        site.get(path)
        answer = site.get(path)
        assert answer.cache == "HIT", path
        assert answer.headers.get("Set-Cookie") is None, path
        assert b"csrfmiddlewaretoken" not in answer.body, path
    # A follow sent from that cached form gets a page with a token and its cookie: never kept.
    for _ in range(2):
        answer = site.request("POST", tag_page + "follow/", {"Content-Length": "0"})
        assert answer.cache == "PASS"
        assert b"csrfmiddlewaretoken" in answer.body and "csrftoken" in answer.headers["Set-Cookie"]
    assert site.get(tag_page).cache == "HIT"
